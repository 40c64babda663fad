/*  test_graph.c - blocks, levels, ids and dependencies of the block graph */
#include <criterion/criterion.h>
#include <string.h>

#include "fastdiv.h"   //  header-only, from src/
#include "testutil.h"

static uint64_t
count_1d(int64_t write_begin, int64_t write_size, daisy_fit_t fit)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 12, 5, write_begin, write_size);
    daisy_task_set_fit(t, fit);
    daisy_pipeline_add(p, &t);
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    uint64_t n = daisy_graph_block_count(g, 0);
    daisy_graph_destroy(&g);
    cr_assert_null(g);
    daisy_pipeline_destroy(&p);
    return n;
}

Test(graph, fit_table_of_the_design_notes)
{
    for (int fit = 0; fit < 3; fit++)
        cr_assert_eq(count_1d(2, 1, (daisy_fit_t)fit), 8, "fit %d", fit);
    cr_assert_eq(count_1d(1, 3, DAISY_FIT_VALID), 3);
    cr_assert_eq(count_1d(1, 3, DAISY_FIT_OVERHANG), 4);
    cr_assert_eq(count_1d(1, 3, DAISY_FIT_SHRINK), 4);
}

Test(graph, shrink_cuts_the_last_block)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 12, 5, 1, 3);
    daisy_task_set_fit(t, DAISY_FIT_SHRINK);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_block_t b;
    cr_assert_eq(daisy_graph_block(g, (daisy_block_ref_t){0, 3}, &b), 0);
    //  Write [10, 13) cut to the total write ROI [1, 11); read [9, 14) to [0, 12).
    cr_assert_eq(b.write_roi.offset[0], 10);
    cr_assert_eq(b.write_roi.shape[0], 1);
    cr_assert_eq(b.read_roi.offset[0], 9);
    cr_assert_eq(b.read_roi.shape[0], 3);
    cr_assert_eq(daisy_graph_block(g, (daisy_block_ref_t){0, 4}, &b), -1);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Block ids are the Cantor number of (write offset - total offset) / write
//  shape, with floor division; find() inverts them.
Test(graph, ids_are_cantor_numbers_of_the_block_index)
{
    uint64_t rng = 42;
    for (int round = 0; round < 60; round++) {
        int dims = 1 + round % 4;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 1, 5);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        cr_assert_not_null(g);
        daisy_task_t *task = daisy_pipeline_task(p, 0);
        daisy_roi_t total = daisy_task_total_roi(task);
        daisy_roi_t write = daisy_task_write_roi(task);
        for (uint64_t i = 0; i < daisy_graph_block_count(g, 0); i++) {
            daisy_block_t b;
            cr_assert_eq(daisy_graph_block(g, (daisy_block_ref_t){0, i}, &b), 0);
            int64_t index[DAISY_MAX_DIMS];
            for (int d = 0; d < dims; d++) {
                int64_t rel = b.write_roi.offset[d] - total.offset[d];
                index[d] = rel / write.shape[d] - (rel % write.shape[d] < 0);
            }
            uint64_t id;
            cr_assert_eq(daisy_cantor_number(dims, index, &id), 0);
            cr_assert_eq(b.block_id, id);
            daisy_block_ref_t ref;
            cr_assert_eq(daisy_graph_find(g, 0, b.block_id, &ref), 0);
            cr_assert_eq(ref.index, i);
        }
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  Levels partition the blocks, and enumerating them visits each once.
Test(graph, levels_partition_the_blocks)
{
    uint64_t rng = 7;
    for (int round = 0; round < 60; round++) {
        int dims = 1 + round % 4;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 1, 6);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        uint64_t n = daisy_graph_block_count(g, 0);
        char *seen = calloc(n + 1, 1);
        uint64_t visited = 0;
        for (uint64_t l = 0; l < daisy_graph_level_count(g, 0); l++)
            for (uint64_t i = 0; i < daisy_graph_level_block_count(g, 0, l); i++) {
                daisy_block_ref_t ref;
                daisy_block_t b;
                cr_assert_eq(daisy_graph_level_block(g, 0, l, i, &ref), 0);
                cr_assert_lt(ref.index, n);
                cr_assert_eq(seen[ref.index], 0);
                seen[ref.index] = 1;
                daisy_graph_block(g, ref, &b);
                cr_assert_eq(b.level, l);
                visited++;
            }
        cr_assert_eq(visited, n);
        free(seen);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  Blocks of one level never conflict: no block's write ROI meets another's
//  read ROI in the same level of a task with conflicts.
Test(graph, blocks_of_a_level_do_not_conflict)
{
    uint64_t rng = 99;
    for (int round = 0; round < 40; round++) {
        int dims = 1 + round % 3;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 1, 5);
        daisy_task_set_read_write_conflict(daisy_pipeline_task(p, 0), true);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        uint64_t n = daisy_graph_block_count(g, 0);
        for (uint64_t i = 0; i < n; i++)
            for (uint64_t j = 0; j < n; j++) {
                daisy_block_t a, b;
                daisy_graph_block(g, (daisy_block_ref_t){0, i}, &a);
                daisy_graph_block(g, (daisy_block_ref_t){0, j}, &b);
                if (i == j || a.level != b.level)
                    continue;
                cr_assert(!daisy_roi_intersects(&a.write_roi, &b.read_roi),
                          "round %d: blocks %llu and %llu of level %u conflict", round,
                          (unsigned long long)i, (unsigned long long)j, a.level);
            }
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  Write ROIs tile the total write ROI without overlap: inside it for
//  valid and shrink, beginning inside it for overhang, covering it except
//  for the rest that no whole block fits under valid.
Test(graph, write_rois_tile_the_total_write_roi)
{
    uint64_t rng = 5;
    for (int round = 0; round < 60; round++) {
        int dims = 1 + round % 3;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 1, 5);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        daisy_fit_t fit = daisy_task_fit(daisy_pipeline_task(p, 0));
        daisy_roi_t tw = daisy_graph_total_write_roi(g, 0);
        uint64_t n = daisy_graph_block_count(g, 0);
        int64_t covered = 0;
        for (uint64_t i = 0; i < n; i++) {
            daisy_block_t a;
            daisy_graph_block(g, (daisy_block_ref_t){0, i}, &a);
            daisy_coord_t begin = daisy_roi_begin(&a.write_roi);
            cr_assert(daisy_roi_contains_coord(&tw, begin));
            if (fit != DAISY_FIT_OVERHANG)
                cr_assert(daisy_roi_contains(&tw, &a.write_roi));
            daisy_roi_t inside = daisy_roi_intersect(&a.write_roi, &tw);
            covered += daisy_roi_size(&inside);
            for (uint64_t j = i + 1; j < n; j++) {
                daisy_block_t b;
                daisy_graph_block(g, (daisy_block_ref_t){0, j}, &b);
                cr_assert(!daisy_roi_intersects(&a.write_roi, &b.write_roi));
            }
        }
        if (fit != DAISY_FIT_VALID)
            cr_assert_eq(covered, daisy_roi_size(&tw), "round %d", round);
        else
            cr_assert_leq(covered, daisy_roi_size(&tw));
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

static bool
contains_ref(const daisy_block_ref_t *refs, size_t n, daisy_block_ref_t ref)
{
    for (size_t i = 0; i < n; i++)
        if (refs[i].task == ref.task && refs[i].index == ref.index)
            return true;
    return false;
}

//  Upstream and downstream are inverse relations, the count matches the
//  list, and the cross-task rule holds: a block depends on exactly the
//  upstream-task blocks whose write ROI (inside that task's total write
//  ROI) meets its read ROI.
Test(graph, upstream_and_downstream_are_inverse)
{
    uint64_t rng = 1234;
    daisy_block_ref_t up[4096], down[4096];
    for (int round = 0; round < 80; round++) {
        int dims = 1 + round % 4;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 3, dims >= 3 ? 3 : 5);
        daisy_error_t err;
        daisy_graph_t *g = daisy_graph_new(p, &err);
        cr_assert_not_null(g, "%s", err.msg);
        for (uint32_t t = 0; t < daisy_graph_task_count(g); t++)
            for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++) {
                daisy_block_ref_t ref = {t, i};
                size_t nup = daisy_graph_upstream(g, ref, up, 4096);
                cr_assert_leq(nup, 4096);
                cr_assert_eq(daisy_graph_upstream_count(g, ref), nup);
                for (size_t k = 0; k < nup; k++) {
                    size_t nd = daisy_graph_downstream(g, up[k], down, 4096);
                    cr_assert_leq(nd, 4096);
                    cr_assert(contains_ref(down, nd, ref), "round %d", round);
                }
                size_t nd = daisy_graph_downstream(g, ref, down, 4096);
                for (size_t k = 0; k < nd; k++) {
                    size_t nu = daisy_graph_upstream(g, down[k], up, 4096);
                    cr_assert(contains_ref(up, nu, ref), "round %d", round);
                }
            }
        //  The cross-task rule, by brute force over all pairs.
        for (uint32_t v = 0; v < daisy_graph_task_count(g); v++) {
            const daisy_task_t *task = daisy_pipeline_task(p, v);
            for (size_t k = 0; k < daisy_task_upstream_count(task); k++) {
                uint32_t u = (uint32_t)daisy_pipeline_find(p, daisy_task_upstream(task, k));
                daisy_roi_t tw = daisy_graph_total_write_roi(g, u);
                for (uint64_t i = 0; i < daisy_graph_block_count(g, v); i++) {
                    daisy_block_t b;
                    daisy_graph_block(g, (daisy_block_ref_t){v, i}, &b);
                    size_t nup = daisy_graph_upstream(g, (daisy_block_ref_t){v, i}, up, 4096);
                    for (uint64_t j = 0; j < daisy_graph_block_count(g, u); j++) {
                        daisy_block_t a;
                        daisy_graph_block(g, (daisy_block_ref_t){u, j}, &a);
                        daisy_roi_t w = daisy_roi_intersect(&a.write_roi, &tw);
                        bool expect = daisy_roi_intersects(&w, &b.read_roi);
                        cr_assert_eq(contains_ref(up, nup, (daisy_block_ref_t){u, j}), expect,
                                     "round %d task %u block %llu upstream %u/%llu", round, v,
                                     (unsigned long long)i, u, (unsigned long long)j);
                    }
                }
            }
        }
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  A task of 10^12 blocks is set up from its numbers alone: this test would
//  not finish if anything walked the blocks.
Test(graph, huge_task_is_constant_time, .timeout = 20)
{
    int64_t zero[3] = {0, 0, 0}, total[3] = {10000, 10000, 10000}, one[3] = {1, 1, 1};
    int64_t ro[3] = {-1, -1, -1}, rs[3] = {3, 3, 3};
    daisy_task_t *t = daisy_task_new("huge", daisy_roi_make(3, zero, total),
                                     daisy_roi_make(3, ro, rs), daisy_roi_make(3, zero, one));
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(daisy_graph_block_count(g, 0), 9998ull * 9998 * 9998);
    daisy_block_t last;
    cr_assert_eq(daisy_graph_block(g, (daisy_block_ref_t){0, daisy_graph_block_count(g, 0) - 1}, &last), 0);
    daisy_block_ref_t back;
    cr_assert_eq(daisy_graph_find(g, 0, last.block_id, &back), 0);
    cr_assert_eq(back.index, daisy_graph_block_count(g, 0) - 1);
    daisy_scheduler_t *s = daisy_scheduler_new(g, &err);
    cr_assert_not_null(s, "%s", err.msg);
    daisy_block_t b;
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 1);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, 0, &c);
    cr_assert_eq(c.processing, 1);
    cr_assert_eq(c.total, daisy_graph_block_count(g, 0));
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A total ROI smaller than the block context leaves an empty total write
//  ROI: 0 blocks under every fit (daisy 1.x; reference case_040), and the
//  downstream task's blocks read no upstream block.
Test(graph, empty_total_write_roi_has_no_block)
{
    for (int fit = 0; fit < 3; fit++) {
        daisy_pipeline_t *p = daisy_pipeline_new();
        daisy_task_t *up = tu_task_1d("up", 0, 1, 5, 1, 3);
        daisy_task_set_fit(up, (daisy_fit_t)fit);
        daisy_task_set_read_write_conflict(up, true);
        daisy_task_t *down = tu_task_1d("down", 0, 12, 5, 1, 3);
        daisy_task_add_upstream(down, "up");
        daisy_task_set_read_write_conflict(down, false);
        daisy_pipeline_add(p, &up);
        daisy_pipeline_add(p, &down);
        daisy_error_t err;
        daisy_graph_t *g = daisy_graph_new(p, &err);
        cr_assert_not_null(g, "%s", err.msg);
        cr_assert_eq(daisy_graph_block_count(g, 0), 0, "fit %d", fit);
        cr_assert_eq(daisy_graph_total_write_roi(g, 0).shape[0], 0);
        cr_assert_eq(daisy_graph_level_block_count(g, 0, 0), 0);
        uint64_t n = daisy_graph_block_count(g, 1);
        cr_assert_gt(n, 0);
        for (uint64_t i = 0; i < n; i++)
            cr_assert_eq(daisy_graph_upstream_count(g, (daisy_block_ref_t){1, i}), 0);
        daisy_block_t b;
        cr_assert_eq(daisy_graph_block(g, (daisy_block_ref_t){0, 0}, &b), -1);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  The reciprocal division of fastdiv.h against the divide instruction:
//  divisors and numerators of every size below 2^63, powers of two and
//  their neighbours, and random ones.
Test(graph, fast_division_matches_the_divide_instruction)
{
    uint64_t rng = 5;
    uint64_t special[200];
    int ns = 0;
    for (int b = 0; b < 63; b++) {
        special[ns++] = 1ull << b;
        special[ns++] = (1ull << b) + 1;
        special[ns++] = (1ull << b) - 1;
    }
    special[ns++] = (uint64_t)INT64_MAX;
    special[ns++] = (uint64_t)INT64_MAX - 1;
    special[ns++] = 3;
    special[ns++] = 10000;
    special[ns++] = 1000000007;
    for (int round = 0; round < 400000; round++) {
        uint64_t d, n;
        switch (round % 4) {
        case 0:
            d = special[tu_rand(&rng) % (uint64_t)ns];
            n = special[tu_rand(&rng) % (uint64_t)ns];
            break;
        case 1:
            d = 1 + tu_rand(&rng) % 100;
            n = tu_rand(&rng) >> 1;
            break;
        case 2:
            d = 1 + (tu_rand(&rng) >> (1 + tu_rand(&rng) % 63));
            n = tu_rand(&rng) >> (1 + tu_rand(&rng) % 63);
            break;
        default:
            d = 1 + (tu_rand(&rng) >> 1) % (uint64_t)INT64_MAX;
            n = (tu_rand(&rng) >> 1);
            break;
        }
        if (d == 0 || d > (uint64_t)INT64_MAX)
            d = 1;
        n &= (uint64_t)INT64_MAX;
        fastdiv_t f = fastdiv_make(d);
        cr_assert_eq(fastdiv_div(f, n), n / d, "%llu / %llu", (unsigned long long)n,
                     (unsigned long long)d);
        //  Next to a multiple, where a reciprocal a little off shows.
        uint64_t m = n / d * d;
        if (m > 0)
            cr_assert_eq(fastdiv_div(f, m - 1), (m - 1) / d);
        cr_assert_eq(fastdiv_div(f, m), m / d);
    }
}

static int
cmp_ref(const void *a, const void *b)
{
    const daisy_block_ref_t *x = a, *y = b;
    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

typedef struct {
    daisy_block_ref_t from, to;   //  to is downstream of from
} edge_t;

static int
cmp_edge(const void *a, const void *b)
{
    const edge_t *x = a, *y = b;
    int c = cmp_ref(&x->from, &y->from);
    return c ? c : cmp_ref(&x->to, &y->to);
}

//  On grids large enough to have an inside (where the graph takes its
//  shortcuts: cached conflict offsets, the closed-form inverse of the
//  cross-task rule) and with up to 3^dims levels: the downstream lists are
//  exactly the upstream lists turned around, in the same order as the
//  listing of every edge sorted.
Test(graph, downstream_inverts_upstream_on_larger_grids)
{
    uint64_t rng = 99;
    for (int round = 0; round < 30; round++) {
        int dims = 1 + round % 3;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 3, dims == 3 ? 9 : 24);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        cr_assert_not_null(g);
        size_t nedges = 0, cap = 1 << 16;
        edge_t *edges = malloc(cap * sizeof *edges);
        daisy_block_ref_t buf[4096];
        for (uint32_t t = 0; t < daisy_graph_task_count(g); t++)
            for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++) {
                daisy_block_ref_t ref = {t, i};
                size_t n = daisy_graph_upstream(g, ref, buf, 4096);
                cr_assert_leq(n, 4096);
                cr_assert_eq(daisy_graph_upstream_count(g, ref), n);
                for (size_t k = 0; k < n; k++) {
                    if (nedges == cap)
                        edges = realloc(edges, (cap *= 2) * sizeof *edges);
                    edges[nedges++] = (edge_t){buf[k], ref};
                }
            }
        qsort(edges, nedges, sizeof *edges, cmp_edge);
        size_t e = 0;
        for (uint32_t t = 0; t < daisy_graph_task_count(g); t++)
            for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++) {
                daisy_block_ref_t ref = {t, i};
                size_t n = daisy_graph_downstream(g, ref, buf, 4096);
                cr_assert_leq(n, 4096);
                qsort(buf, n, sizeof *buf, cmp_ref);
                for (size_t k = 0; k < n; k++, e++) {
                    cr_assert_lt(e, nedges, "round %d: more downstream than upstream", round);
                    cr_assert_eq(cmp_ref(&edges[e].from, &ref), 0, "round %d", round);
                    cr_assert_eq(cmp_ref(&edges[e].to, &buf[k]), 0, "round %d block %u/%llu",
                                 round, t, (unsigned long long)i);
                }
                cr_assert(e == nedges || cmp_ref(&edges[e].from, &ref) != 0,
                          "round %d: block %u/%llu misses downstream blocks", round, t,
                          (unsigned long long)i);
            }
        cr_assert_eq(e, nedges);
        free(edges);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}
