/*  test_resolver.c - roots, readiness and orphans from the resolver */
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    char **ready;      //  per task, per block: times reported ready
    char **orphaned;
    long reports;
} seen_t;

static void
on_resolved(void *arg, daisy_block_ref_t ref, bool ready)
{
    seen_t *s = arg;
    (ready ? s->ready : s->orphaned)[ref.task][ref.index]++;
    s->reports++;
}

//  The roots are exactly the blocks without upstream blocks, handed out in
//  plan order (level 0 first, by position).
Test(resolver, roots_are_the_blocks_without_upstream)
{
    uint64_t rng = 11;
    for (int round = 0; round < 100; round++) {
        int dims = 1 + round % 4;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 4, dims >= 3 ? 3 : 6);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        daisy_error_t err;
        daisy_resolver_t *r = daisy_resolver_new(g, &err);
        cr_assert_not_null(r, "%s", err.msg);
        for (uint32_t t = 0; t < daisy_graph_task_count(g); t++) {
            uint64_t expected = 0;
            for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++)
                expected += daisy_graph_upstream_count(g, (daisy_block_ref_t){t, i}) == 0;
            cr_assert_eq(daisy_resolver_roots_left(r, t), expected, "round %d task %u", round, t);
            uint64_t got = 0, last_level_pos = 0;
            daisy_block_ref_t ref;
            while (daisy_resolver_next_root(r, t, &ref)) {
                cr_assert_eq(ref.task, t);
                cr_assert_eq(daisy_graph_upstream_count(g, ref), 0);
                daisy_block_t b;
                daisy_graph_block(g, ref, &b);
                cr_assert_eq(b.level, 0);
                //  Plan order within level 0 is row-major order of the grid.
                cr_assert(got == 0 || ref.index > last_level_pos);
                last_level_pos = ref.index;
                got++;
            }
            cr_assert_eq(got, expected);
            cr_assert_eq(daisy_resolver_roots_left(r, t), 0);
        }
        daisy_resolver_destroy(&r);
        cr_assert_null(r);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  Resolving every block in a valid order reports each non-root block
//  ready exactly once, and the frontier empties.
Test(resolver, every_block_becomes_ready_once)
{
    uint64_t rng = 12;
    for (int round = 0; round < 60; round++) {
        int dims = 1 + round % 3;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 4, 5);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        daisy_resolver_t *r = daisy_resolver_new(g, NULL);
        uint32_t nt = daisy_graph_task_count(g);
        seen_t s = {calloc(nt, sizeof(char *)), calloc(nt, sizeof(char *)), 0};
        daisy_block_ref_t *queue = NULL;
        size_t nq = 0, cap = 0, head = 0;
        for (uint32_t t = 0; t < nt; t++) {
            s.ready[t] = calloc(daisy_graph_block_count(g, t) + 1, 1);
            s.orphaned[t] = calloc(daisy_graph_block_count(g, t) + 1, 1);
            cap += daisy_graph_block_count(g, t);
        }
        queue = calloc(cap + 1, sizeof *queue);
        for (uint32_t t = 0; t < nt; t++) {
            daisy_block_ref_t ref;
            while (daisy_resolver_next_root(r, t, &ref))
                queue[nq++] = ref;
        }
        while (head < nq) {
            daisy_block_ref_t ref = queue[head++];
            long before = s.reports;
            cr_assert_eq(daisy_resolver_resolve(r, ref, true, on_resolved, &s), 0);
            //  Newly ready blocks join the queue.
            for (uint32_t t = 0; t < nt && s.reports > before; t++)
                for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++)
                    if (s.ready[t][i] == 1) {
                        s.ready[t][i] = 2;
                        queue[nq++] = (daisy_block_ref_t){t, i};
                    }
        }
        cr_assert_eq(nq, cap, "round %d: %zu of %zu blocks ran", round, nq, cap);
        cr_assert_eq(daisy_resolver_waiting(r), 0);
        for (uint32_t t = 0; t < nt; t++) {
            for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++)
                cr_assert_eq(s.orphaned[t][i], 0);
            free(s.ready[t]);
            free(s.orphaned[t]);
        }
        free(s.ready);
        free(s.orphaned);
        free(queue);
        daisy_resolver_destroy(&r);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  Roots of a task that covers a bigger region than its upstream task are
//  a thin shell: counted exactly and found without walking the core.
Test(resolver, thin_shell_of_roots_in_a_large_grid, .timeout = 30)
{
    int64_t zero[3] = {0, 0, 0}, big[3] = {1000, 1000, 1000}, one[3] = {1, 1, 1};
    int64_t lo[3] = {-1, -1, -1}, wider[3] = {1002, 1002, 1002};
    daisy_task_t *a = daisy_task_new("a", daisy_roi_make(3, zero, big),
                                     daisy_roi_make(3, zero, one), daisy_roi_make(3, zero, one));
    daisy_task_t *b = daisy_task_new("b", daisy_roi_make(3, lo, wider),
                                     daisy_roi_make(3, zero, one), daisy_roi_make(3, zero, one));
    daisy_task_add_upstream(b, "a");
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &a);
    daisy_pipeline_add(p, &b);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_resolver_t *r = daisy_resolver_new(g, NULL);
    cr_assert_eq(daisy_resolver_roots_left(r, 1), 1002ull * 1002 * 1002 - 1000ull * 1000 * 1000);
    //  Walk all of them: a few million steps, none of them in the core.
    daisy_block_ref_t ref;
    uint64_t n = 0;
    while (daisy_resolver_next_root(r, 1, &ref)) {
        if (n % 9973 == 0) {
            daisy_block_t blk;
            daisy_graph_block(g, ref, &blk);
            bool shell = false;
            for (int d = 0; d < 3; d++)
                shell |= blk.write_roi.offset[d] == -1 || blk.write_roi.offset[d] == 1000;
            cr_assert(shell);
        }
        n++;
    }
    cr_assert_eq(n, 1002ull * 1002 * 1002 - 1000ull * 1000 * 1000);
    daisy_resolver_destroy(&r);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}
