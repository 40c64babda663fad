/*  test_scheduler.c - what the scheduler promises, on random pipelines

    Each test drives acquire/release in a random order with up to K blocks
    in flight and checks the promises against the graph: upstream first, no
    conflicting blocks together, every block exactly once, retries and
    orphans counted exactly, counters that always add up, and a run that
    ends.
*/
#include <criterion/criterion.h>
#include <string.h>

#include "testutil.h"

typedef struct {
    daisy_pipeline_t *p;
    daisy_graph_t *g;
    daisy_scheduler_t *s;
    uint32_t ntasks;
    char *state[8];          //  per task, per block: 0 new, 1 running, 2 done, 3 failed
    daisy_block_t inflight[64];
    int ninflight;
} run_t;

enum { NEW, RUNNING, DONE, FAILED };

static void
run_init(run_t *r, daisy_pipeline_t *p)
{
    memset(r, 0, sizeof *r);
    r->p = p;
    daisy_error_t err;
    r->g = daisy_graph_new(p, &err);
    cr_assert_not_null(r->g, "%s", err.msg);
    r->s = daisy_scheduler_new(r->g, &err);
    cr_assert_not_null(r->s, "%s", err.msg);
    r->ntasks = daisy_graph_task_count(r->g);
    cr_assert_leq(r->ntasks, 8);
    for (uint32_t t = 0; t < r->ntasks; t++)
        r->state[t] = calloc(daisy_graph_block_count(r->g, t) + 1, 1);
}

static void
run_fini(run_t *r)
{
    for (uint32_t t = 0; t < r->ntasks; t++)
        free(r->state[t]);
    daisy_scheduler_destroy(&r->s);
    cr_assert_null(r->s);
    daisy_graph_destroy(&r->g);
    daisy_pipeline_destroy(&r->p);
}

static void
check_counts_add_up(run_t *r)
{
    for (uint32_t t = 0; t < r->ntasks; t++) {
        daisy_task_counts_t c;
        daisy_scheduler_counts(r->s, t, &c);
        cr_assert_eq(c.ready + c.processing + c.pending + c.completed + c.failed + c.orphaned,
                     c.total);
        cr_assert_leq(c.skipped, c.completed);
        cr_assert_leq(c.pending, c.total);
    }
}

static int64_t
cell_of(int64_t x, int64_t o, int64_t g)
{
    int64_t q = (x - o) / g;
    return (x - o) % g != 0 && x < o ? q - 1 : q;
}

//  Whether two write ROIs meet a common cell of the write grid: in every
//  dimension the cells under one overlap the cells under the other.
static bool
share_a_cell(const daisy_roi_t *a, const daisy_roi_t *b, const daisy_roi_t *grid)
{
    for (int d = 0; d < grid->dims; d++) {
        int64_t o = grid->offset[d], g = grid->shape[d];
        int64_t a0 = cell_of(a->offset[d], o, g), a1 = cell_of(a->offset[d] + a->shape[d] - 1, o, g);
        int64_t b0 = cell_of(b->offset[d], o, g), b1 = cell_of(b->offset[d] + b->shape[d] - 1, o, g);
        if (a1 < b0 || b1 < a0)
            return false;
    }
    return true;
}

//  No running block of the task writes into a cell of its write grid
//  that the block just handed out writes into.
static void
check_write_grid(run_t *r, const daisy_block_t *b)
{
    daisy_roi_t grid = daisy_task_write_grid(daisy_pipeline_task(r->p, b->task));
    for (int i = 0; grid.dims > 0 && i < r->ninflight; i++) {
        const daisy_block_t *o = &r->inflight[i];
        cr_assert(o->task != b->task || !share_a_cell(&o->write_roi, &b->write_roi, &grid),
                  "blocks %llu and %llu of task %u write into one write-grid cell at once",
                  (unsigned long long)o->index, (unsigned long long)b->index, b->task);
    }
}

//  The block just handed out may run: its upstream blocks all succeeded
//  and no running block of its task conflicts with it.
static void
check_may_run(run_t *r, const daisy_block_t *b)
{
    check_write_grid(r, b);
    daisy_block_ref_t up[4096];
    size_t n = daisy_graph_upstream(r->g, (daisy_block_ref_t){b->task, b->index}, up, 4096);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->state[up[i].task][up[i].index], DONE,
                     "block %u/%llu handed out before upstream %u/%llu", b->task,
                     (unsigned long long)b->index, up[i].task,
                     (unsigned long long)up[i].index);
    const daisy_task_t *task = daisy_pipeline_task(r->p, b->task);
    if (!daisy_task_read_write_conflict(task))
        return;
    for (int i = 0; i < r->ninflight; i++) {
        const daisy_block_t *o = &r->inflight[i];
        if (o->task != b->task)
            continue;
        cr_assert(!daisy_roi_intersects(&o->write_roi, &b->read_roi));
        cr_assert(!daisy_roi_intersects(&b->write_roi, &o->read_roi));
    }
}

//  The block handed out is the graph's block of that index: the
//  scheduler fills blocks from the position and level it carried, the
//  graph from the index alone.
static void
check_as_listed(const run_t *r, const daisy_block_t *b)
{
    daisy_block_t want;
    cr_assert_eq(daisy_graph_block(r->g, (daisy_block_ref_t){b->task, b->index}, &want), 0);
    cr_assert_eq(b->block_id, want.block_id, "block %u/%llu", b->task,
                 (unsigned long long)b->index);
    cr_assert_eq(b->level, want.level, "block %u/%llu: level %u, graph says %u", b->task,
                 (unsigned long long)b->index, b->level, want.level);
    cr_assert_str_eq(b->task_id, want.task_id);
    cr_assert(daisy_roi_equal(&b->read_roi, &want.read_roi));
    cr_assert(daisy_roi_equal(&b->write_roi, &want.write_roi));
}

//  Acquire from a random task; false when none had a block.
static bool
try_acquire(run_t *r, uint64_t *rng)
{
    uint32_t first = (uint32_t)tu_range(rng, 0, r->ntasks - 1);
    for (uint32_t i = 0; i < r->ntasks; i++) {
        uint32_t t = (first + i) % r->ntasks;
        daisy_block_t b;
        int got = daisy_scheduler_acquire(r->s, t, &b);
        cr_assert_geq(got, 0);
        if (!got)
            continue;
        cr_assert_eq(b.task, t);
        check_as_listed(r, &b);
        check_may_run(r, &b);
        cr_assert_neq(r->state[t][b.index], DONE, "block handed out again after success");
        cr_assert_neq(r->state[t][b.index], RUNNING, "block handed out twice at once");
        r->state[t][b.index] = RUNNING;
        r->inflight[r->ninflight++] = b;
        return true;
    }
    return false;
}

//  Release a random running block; `fails` says which blocks fail always.
static int
release_one(run_t *r, uint64_t *rng, bool (*fails)(const daisy_block_t *))
{
    int i = (int)tu_range(rng, 0, r->ninflight - 1);
    daisy_block_t b = r->inflight[i];
    r->inflight[i] = r->inflight[--r->ninflight];
    bool ok = !fails || !fails(&b);
    daisy_error_t err;
    int outcome = daisy_scheduler_release(r->s, (daisy_block_ref_t){b.task, b.index}, ok, &err);
    cr_assert_geq(outcome, 0, "%s", err.msg);
    r->state[b.task][b.index] = outcome == DAISY_RELEASE_SUCCESS ? DONE
                              : outcome == DAISY_RELEASE_FAILED ? FAILED : NEW;
    return outcome;
}

//  Run to the end with up to k blocks in flight; returns the steps taken.
static long
run_to_end(run_t *r, uint64_t *rng, int k, bool (*fails)(const daisy_block_t *))
{
    long steps = 0;
    for (;;) {
        bool acquired = false;
        if (r->ninflight < k && tu_range(rng, 0, 2) != 0)
            acquired = try_acquire(r, rng);
        if (!acquired) {
            if (r->ninflight == 0 && !try_acquire(r, rng))
                break;
            if (r->ninflight > 0 && (r->ninflight >= k || tu_range(rng, 0, 1)))
                release_one(r, rng, fails);
        }
        check_counts_add_up(r);
        steps++;
    }
    cr_assert(daisy_scheduler_done(r->s), "nothing ready, nothing running, run not done");
    return steps;
}

//  Every block of tasks `first`.. ran to success.
static void
check_all_done(const run_t *r, uint32_t first, int round)
{
    for (uint32_t t = first; t < r->ntasks; t++)
        for (uint64_t i = 0; i < daisy_graph_block_count(r->g, t); i++)
            cr_assert_eq(r->state[t][i], DONE, "round %d: block %u/%llu never ran", round, t,
                         (unsigned long long)i);
}

Test(scheduler, every_block_once_in_dependency_order_without_conflicts)
{
    uint64_t rng = 2024;
    for (int round = 0; round < 120; round++) {
        int dims = 1 + round % 4;
        run_t r;
        run_init(&r, tu_random_pipeline(&rng, dims, 4, dims >= 3 ? 3 : 6));
        run_to_end(&r, &rng, (int)tu_range(&rng, 1, 16), NULL);
        for (uint32_t t = 0; t < r.ntasks; t++) {
            daisy_task_counts_t c;
            daisy_scheduler_counts(r.s, t, &c);
            cr_assert_eq(c.completed, c.total);
            cr_assert_eq(c.failed + c.orphaned + c.ready + c.processing + c.pending, 0);
            for (uint64_t i = 0; i < c.total; i++)
                cr_assert_eq(r.state[t][i], DONE, "round %d: block %u/%llu never ran", round,
                             t, (unsigned long long)i);
        }
        run_fini(&r);
    }
}

//  Write grids of random cells and offsets, on tasks with and without
//  read/write conflicts: no two blocks writing into one cell run at once
//  (check_may_run), and every block still runs exactly once.
Test(scheduler, write_grid_keeps_blocks_of_one_cell_apart)
{
    uint64_t rng = 77;
    for (int round = 0; round < 150; round++) {
        int dims = 1 + round % 3;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, dims, 3, dims >= 3 ? 5 : 9);
        for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
            daisy_task_t *task = daisy_pipeline_task(p, t);
            daisy_roi_t w = daisy_task_write_roi(task);
            int64_t offset[DAISY_MAX_DIMS], shape[DAISY_MAX_DIMS];
            for (int d = 0; d < dims; d++) {
                shape[d] = (int64_t)tu_range(&rng, 1, 3 * w.shape[d]);
                offset[d] = (int64_t)tu_range(&rng, 0, 2 * shape[d]) - shape[d];
            }
            daisy_roi_t grid = daisy_roi_make(dims, offset, shape);
            daisy_task_set_write_grid(task, &grid);
            daisy_task_set_read_write_conflict(task, tu_range(&rng, 0, 1));
        }
        run_t r;
        run_init(&r, p);
        run_to_end(&r, &rng, (int)tu_range(&rng, 2, 24), NULL);
        check_all_done(&r, 0, round);
        run_fini(&r);
    }
}

//  Blocks the size of the cells and on the grid need no extra level; two
//  blocks to a cell along one dimension double the stride there.
Test(scheduler, write_grid_costs_levels_only_where_blocks_share_cells)
{
    int64_t z[2] = {0, 0}, total[2] = {640, 640}, blk[2] = {32, 32}, cell[2] = {32, 64};
    daisy_task_t *task = daisy_task_new("a", daisy_roi_make(2, z, total), daisy_roi_make(2, z, blk),
                                        daisy_roi_make(2, z, blk));
    daisy_task_set_read_write_conflict(task, false);
    daisy_roi_t grid = daisy_roi_make(2, z, cell);
    daisy_task_set_write_grid(task, &grid);
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &task);
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    daisy_coord_t stride = daisy_graph_level_stride(g, 0);
    cr_assert_eq(stride.v[0], 32);
    cr_assert_eq(stride.v[1], 64);
    cr_assert_eq(daisy_graph_level_count(g, 0), 2);
    daisy_graph_destroy(&g);
    //  Cells offset by half a block: every block meets two cells along
    //  dimension 0, so neighbours there must differ in level too.
    int64_t half[2] = {16, 0};
    grid = daisy_roi_make(2, half, cell);
    daisy_task_set_write_grid(daisy_pipeline_task(p, 0), &grid);
    g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_assert_eq(daisy_graph_level_stride(g, 0).v[0], 64);
    cr_assert_eq(daisy_graph_level_count(g, 0), 4);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

static bool
fails_block_id_mod_7(const daisy_block_t *b)
{
    return b->block_id % 7 == 3;
}

//  Mark every block downstream of a failed block, transitively.
static void
mark_orphans(run_t *r, char **orphan, daisy_block_ref_t ref)
{
    daisy_block_ref_t down[4096];
    size_t n = daisy_graph_downstream(r->g, ref, down, 4096);
    for (size_t i = 0; i < n; i++)
        if (!orphan[down[i].task][down[i].index]) {
            orphan[down[i].task][down[i].index] = 1;
            mark_orphans(r, orphan, down[i]);
        }
}

//  After a run in which the blocks of fails_block_id_mod_7 always fail:
//  they failed, everything downstream of them was orphaned and never ran,
//  the rest completed, and the counters say so.
static void
check_outcomes(run_t *r, int max_retries, int round)
{
    char *orphan[8];
    for (uint32_t t = 0; t < r->ntasks; t++)
        orphan[t] = calloc(daisy_graph_block_count(r->g, t) + 1, 1);
    for (uint32_t t = 0; t < r->ntasks; t++)
        for (uint64_t i = 0; i < daisy_graph_block_count(r->g, t); i++)
            if (r->state[t][i] == FAILED)
                mark_orphans(r, orphan, (daisy_block_ref_t){t, i});
    for (uint32_t t = 0; t < r->ntasks; t++) {
        daisy_task_counts_t c;
        daisy_scheduler_counts(r->s, t, &c);
        uint64_t failed = 0, orphans = 0, done = 0;
        for (uint64_t i = 0; i < c.total; i++) {
            daisy_block_t b;
            daisy_graph_block(r->g, (daisy_block_ref_t){t, i}, &b);
            bool fails = fails_block_id_mod_7(&b);
            if (orphan[t][i]) {
                orphans++;
                cr_assert_eq(r->state[t][i], NEW, "orphan %u/%llu ran", t,
                             (unsigned long long)i);
            } else if (fails) {
                failed++;
                cr_assert_eq(r->state[t][i], FAILED);
            } else {
                done++;
                cr_assert_eq(r->state[t][i], DONE);
            }
        }
        cr_assert_eq(c.failed, failed, "round %d task %u", round, t);
        cr_assert_eq(c.orphaned, orphans, "round %d task %u", round, t);
        cr_assert_eq(c.completed, done);
        cr_assert_eq(c.retries, failed * (uint64_t)max_retries);
    }
    for (uint32_t t = 0; t < r->ntasks; t++)
        free(orphan[t]);
}

Test(scheduler, permanent_failures_orphan_exactly_the_downstream_blocks)
{
    uint64_t rng = 77;
    for (int round = 0; round < 80; round++) {
        int dims = 1 + round % 3;
        run_t r;
        run_init(&r, tu_random_pipeline(&rng, dims, 4, 5));
        int max_retries = (int)tu_range(&rng, 0, 3);
        for (uint32_t t = 0; t < r.ntasks; t++)
            daisy_task_set_max_retries(daisy_pipeline_task(r.p, t), max_retries);
        //  The scheduler read max_retries when it was made; make it again.
        daisy_scheduler_destroy(&r.s);
        r.s = daisy_scheduler_new(r.g, NULL);
        run_to_end(&r, &rng, (int)tu_range(&rng, 1, 8), fails_block_id_mod_7);
        check_outcomes(&r, max_retries, round);
        run_fini(&r);
    }
}

//  Blocks whose read ROI covers more upstream blocks than a count byte
//  holds (here 8^3 = 512) are counted in the resolver's wide map, the
//  others in its byte map; failures, retries and orphans come out the
//  same through both, and through a chain that mixes them.
Test(scheduler, wide_and_narrow_counts_orphan_alike)
{
    uint64_t rng = 31;
    for (int round = 0; round < 6; round++) {
        int64_t to[3] = {0, 0, 0}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
        int64_t ts[3] = {16, 16, 16}, big[3] = {8, 8, 8}, ctx[3] = {1, 1, 1};
        int64_t rs[3] = {3, 3, 3};
        daisy_task_t *a = daisy_task_new("a", tu_roi(3, to, ts), tu_roi(3, zero, rs),
                                         tu_roi(3, ctx, one));
        daisy_task_t *b = daisy_task_new("b", tu_roi(3, to, ts), tu_roi(3, zero, big),
                                         tu_roi(3, zero, big));
        daisy_task_t *c = daisy_task_new("c", tu_roi(3, to, ts), tu_roi(3, zero, rs),
                                         tu_roi(3, ctx, one));
        daisy_task_set_read_write_conflict(a, round % 2 == 0);
        daisy_task_set_read_write_conflict(c, true);
        daisy_task_add_upstream(b, "a");
        daisy_task_add_upstream(c, "b");
        daisy_pipeline_t *p = daisy_pipeline_new();
        daisy_pipeline_add(p, &a);
        daisy_pipeline_add(p, &b);
        daisy_pipeline_add(p, &c);
        int max_retries = round % 3;
        for (uint32_t t = 0; t < 3; t++)
            daisy_task_set_max_retries(daisy_pipeline_task(p, t), max_retries);
        run_t r;
        run_init(&r, p);
        run_to_end(&r, &rng, (int)tu_range(&rng, 1, 8), fails_block_id_mod_7);
        check_outcomes(&r, max_retries, round);
        run_fini(&r);
    }
}

Test(scheduler, retries_go_to_the_back_of_the_queue)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 4, 1, 0, 1);
    daisy_task_set_read_write_conflict(t, false);
    daisy_task_set_max_retries(t, 1);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new(g, NULL);
    daisy_block_t a, b;
    cr_assert_eq(daisy_scheduler_attempt(s, (daisy_block_ref_t){0, 0}), -1, "not held yet");
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &a), 1);
    cr_assert_eq(a.index, 0);
    cr_assert_eq(daisy_scheduler_attempt(s, (daisy_block_ref_t){0, 0}), 0);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, 0}, false, NULL),
                 DAISY_RELEASE_RETRY);
    cr_assert_eq(daisy_scheduler_attempt(s, (daisy_block_ref_t){0, 0}), -1, "queued again");
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 1);
    cr_assert_eq(b.index, 0, "a retry is ready again at once (it is first in the queue)");
    cr_assert_eq(b.attempt, 1);
    cr_assert_eq(daisy_scheduler_attempt(s, (daisy_block_ref_t){0, 0}), 1);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, 0}, false, NULL),
                 DAISY_RELEASE_FAILED);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, 0, &c);
    cr_assert_eq(c.failed, 1);
    cr_assert_eq(c.retries, 1);
    cr_assert_eq(c.ready, 3);
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(scheduler, release_of_a_block_not_held_changes_nothing)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 10, 3, 1, 1);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new(g, NULL);
    daisy_task_counts_t before, after;
    daisy_scheduler_counts(s, 0, &before);
    daisy_error_t err;
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, 2}, true, &err), -1);
    cr_assert(strstr(err.msg, "not being processed"));
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){5, 0}, true, &err), -1);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, 999}, false, &err), -1);
    daisy_scheduler_counts(s, 0, &after);
    cr_assert_eq(memcmp(&before, &after, sizeof before), 0);
    daisy_block_t b;
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 1);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, b.index}, true, NULL),
                 DAISY_RELEASE_SUCCESS);
    daisy_scheduler_counts(s, 0, &before);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, b.index}, true, &err), -1,
                 "a second release of the same attempt is refused");
    daisy_scheduler_counts(s, 0, &after);
    cr_assert_eq(memcmp(&before, &after, sizeof before), 0);
    cr_assert_eq(daisy_scheduler_acquire(s, 7, &b), -1);
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Skips even ids; with a run as arg, records the skip as done, since a
//  skipped block counts as succeeded for its downstream blocks.
static bool
even_ids_done(const daisy_block_t *b, void *arg)
{
    run_t *r = arg;
    bool done = b->block_id % 2 == 0;
    if (done && r) {
        cr_assert_eq(r->state[b->task][b->index], NEW);
        r->state[b->task][b->index] = DONE;
    }
    return done;
}

Test(scheduler, completion_check_skips_blocks)
{
    uint64_t rng = 3;
    for (int round = 0; round < 30; round++) {
        run_t r;
        run_init(&r, tu_random_pipeline(&rng, 2, 3, 5));
        for (uint32_t t = 0; t < r.ntasks; t++)
            daisy_scheduler_set_check(r.s, t, even_ids_done, &r);
        run_to_end(&r, &rng, 4, NULL);
        for (uint32_t t = 0; t < r.ntasks; t++) {
            daisy_task_counts_t c;
            daisy_scheduler_counts(r.s, t, &c);
            uint64_t even = 0;
            for (uint64_t i = 0; i < c.total; i++) {
                daisy_block_t b;
                daisy_graph_block(r.g, (daisy_block_ref_t){t, i}, &b);
                even += b.block_id % 2 == 0;
                cr_assert_eq(r.state[t][i], DONE);
            }
            cr_assert_eq(c.skipped, even);
            cr_assert_eq(c.completed, c.total);
        }
        run_fini(&r);
    }
}

Test(scheduler, task_check_function_is_used)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 10, 1, 0, 1);
    daisy_task_set_check(t, even_ids_done, NULL);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new(g, NULL);
    daisy_block_t b;
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 1);
    cr_assert_eq(b.block_id % 2, 1);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, 0, &c);
    cr_assert_eq(c.skipped, 1);
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A downstream block whose read ROI meets no upstream block is ready at
//  the start instead of waiting forever.
Test(scheduler, downstream_blocks_without_upstream_blocks_are_ready)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *a = tu_task_1d("a", 0, 10, 1, 0, 1);
    daisy_task_t *b = tu_task_1d("b", 0, 30, 1, 0, 1);
    daisy_task_set_read_write_conflict(b, false);
    daisy_task_add_upstream(b, "a");
    daisy_pipeline_add(p, &a);
    daisy_pipeline_add(p, &b);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new(g, NULL);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, 1, &c);
    cr_assert_eq(c.ready, 20);
    daisy_block_t blk;
    cr_assert_eq(daisy_scheduler_acquire(s, 1, &blk), 1);
    cr_assert_eq(blk.write_roi.offset[0], 10);
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Abandoning a task (its workers keep dying) orphans what is left of it
//  and everything downstream of that, takes back its running blocks, and
//  lets the run end; independent work still completes.
Test(scheduler, abandoning_a_task_orphans_what_is_left)
{
    uint64_t rng = 555;
    for (int round = 0; round < 60; round++) {
        run_t r;
        run_init(&r, tu_random_pipeline(&rng, 1 + round % 3, 4, 5));
        //  Run a little, then give up on task 0 with blocks in flight.
        for (int i = 0; i < 6; i++)
            try_acquire(&r, &rng);
        uint64_t orphaned = daisy_scheduler_abandon(r.s, 0);
        cr_assert_eq(daisy_scheduler_abandon(r.s, 0), 0, "abandoning twice does nothing more");
        cr_assert(daisy_scheduler_abandoned(r.s, 0));
        //  Releases of task 0's blocks are refused from now on.
        for (int i = 0; i < r.ninflight; i++) {
            daisy_block_t *b = &r.inflight[i];
            if (b->task != 0)
                continue;
            cr_assert_eq(daisy_scheduler_release(r.s, (daisy_block_ref_t){0, b->index}, true, NULL), -1);
            r.state[0][b->index] = NEW;
            r.inflight[i--] = r.inflight[--r.ninflight];
        }
        run_to_end(&r, &rng, 4, NULL);
        daisy_task_counts_t c;
        daisy_scheduler_counts(r.s, 0, &c);
        cr_assert_eq(c.orphaned, orphaned);
        cr_assert_eq(c.completed + c.orphaned, c.total);
        //  Everything downstream of an unfinished block of task 0 is orphaned.
        for (uint32_t t = 0; t < r.ntasks; t++) {
            daisy_scheduler_counts(r.s, t, &c);
            uint64_t never_ran = 0;
            for (uint64_t i = 0; i < c.total; i++)
                never_ran += r.state[t][i] != DONE;
            cr_assert_eq(never_ran, c.orphaned, "round %d task %u", round, t);
            cr_assert_eq(c.processing + c.ready + c.pending, 0);
        }
        run_fini(&r);
    }
}

//  A block given back (its worker left cleanly) is ready again at once,
//  first, with its attempt unchanged: no retry is used up.
Test(scheduler, a_block_given_back_keeps_its_attempt)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 5, 1, 0, 1);
    daisy_task_set_read_write_conflict(t, false);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new(g, NULL);
    daisy_block_t a, b, c;
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &a), 1);
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 1);
    cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, a.index}, false, NULL),
                 DAISY_RELEASE_RETRY);
    cr_assert_eq(daisy_scheduler_give_back(s, (daisy_block_ref_t){0, b.index}, NULL), 0);
    cr_assert_eq(daisy_scheduler_give_back(s, (daisy_block_ref_t){0, b.index}, NULL), -1,
                 "only a block being processed can be given back");
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &c), 1);
    cr_assert_eq(c.index, b.index, "the given-back block goes out first");
    cr_assert_eq(c.attempt, 0);
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &c), 1);
    cr_assert_eq(c.index, a.index, "then the retry");
    cr_assert_eq(c.attempt, 1);
    daisy_task_counts_t counts;
    daisy_scheduler_counts(s, 0, &counts);
    cr_assert_eq(counts.retries, 1);
    cr_assert_eq(counts.processing, 2);
    daisy_scheduler_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Block states, as the progress feed's map keeps them ---------------------

static struct {
    uint8_t *last[8];       //  per task, per block: the last state told
    uint64_t told;
} seen;

//  In a run without failures or checks a block goes pending, ready,
//  processing, completed (ready from the start when it waits for nothing):
//  no step may be missing, whichever tasks are tracked.
static void
on_state(void *arg, uint32_t task, uint64_t index, daisy_block_state_t state)
{
    (void)arg;
    uint8_t last = seen.last[task][index];
    uint8_t before = state == DAISY_BLOCK_READY ? DAISY_BLOCK_PENDING
                   : state == DAISY_BLOCK_PROCESSING ? DAISY_BLOCK_READY
                   : DAISY_BLOCK_PROCESSING;
    cr_assert_eq(last, before, "block %u/%llu: state %d after %d", task,
                 (unsigned long long)index, (int)state, (int)last);
    seen.last[task][index] = (uint8_t)state;
    seen.told++;
}

//  The map follows every block through the run (what the observer was
//  told is what the map holds), ends with every block completed, and
//  skips tasks larger than the limit.
Test(scheduler, block_states_follow_the_run_and_skip_large_tasks)
{
    uint64_t rng = 99;
    for (int round = 0; round < 40; round++) {
        run_t r;
        run_init(&r, tu_random_pipeline(&rng, 1 + round % 3, 4, 5));
        uint64_t limit = round % 2 ? UINT64_MAX : daisy_graph_block_count(r.g, 0) - 1;
        for (uint32_t t = 0; t < r.ntasks; t++)
            seen.last[t] = calloc(daisy_graph_block_count(r.g, t) + 1, 1);
        seen.told = 0;
        cr_assert_eq(daisy_scheduler_track_states(r.s, limit, on_state, NULL), 0);
        for (uint32_t t = 0; t < r.ntasks; t++) {
            const uint8_t *map = daisy_scheduler_block_states(r.s, t);
            uint64_t n = daisy_graph_block_count(r.g, t);
            cr_assert_eq(map == NULL, n > limit, "round %d task %u: %llu blocks, limit %llu",
                         round, t, (unsigned long long)n, (unsigned long long)limit);
            for (uint64_t i = 0; map && i < n; i++) {
                cr_assert(map[i] == DAISY_BLOCK_READY || map[i] == DAISY_BLOCK_PENDING);
                seen.last[t][i] = map[i];
            }
        }
        run_to_end(&r, &rng, 6, NULL);
        for (uint32_t t = 0; t < r.ntasks; t++) {
            const uint8_t *map = daisy_scheduler_block_states(r.s, t);
            for (uint64_t i = 0; map && i < daisy_graph_block_count(r.g, t); i++) {
                cr_assert_eq(map[i], DAISY_BLOCK_COMPLETED);
                cr_assert_eq(seen.last[t][i], DAISY_BLOCK_COMPLETED);
            }
            free(seen.last[t]);
        }
        bool tracked = false;
        for (uint32_t t = 0; t < r.ntasks; t++)
            tracked |= daisy_scheduler_block_states(r.s, t) != NULL;
        cr_assert(!tracked || seen.told > 0);
        run_fini(&r);
    }
}

//  A 3D task with read/write conflicts (2^3 levels), n blocks a side.
static daisy_pipeline_t *
conflicting_cube(int64_t n)
{
    int64_t zero[3] = {0, 0, 0}, total[3], read[3] = {14, 14, 14};
    int64_t woff[3] = {2, 2, 2}, wshape[3] = {10, 10, 10};
    for (int d = 0; d < 3; d++)
        total[d] = n * 10 + 4;
    daisy_task_t *t = daisy_task_new("cube", tu_roi(3, zero, total), tu_roi(3, zero, read),
                                     tu_roi(3, woff, wshape));
    daisy_task_set_read_write_conflict(t, true);
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    return p;
}

//  Whether b, of conflicting_cube, is every other block of level 0 in
//  each dimension: no two such blocks conflict with one block of level 1.
static bool
every_other_root(const daisy_block_t *b)
{
    bool other = b->level == 0;
    for (int d = 0; d < 3; d++)
        other &= (b->write_roi.offset[d] - 2) / 10 / 2 % 2 == 0;
    return other;
}

//  Acquire a block, checked as try_acquire does; false when none is ready.
static bool
acquire_checked(run_t *r, daisy_block_t *b)
{
    if (daisy_scheduler_acquire(r->s, 0, b) != 1)
        return false;
    check_as_listed(r, b);
    check_may_run(r, b);
    cr_assert_eq(r->state[0][b->index], NEW, "block %llu handed out again",
                 (unsigned long long)b->index);
    r->state[0][b->index] = RUNNING;
    return true;
}

static void
release_checked(run_t *r, const daisy_block_t *b, bool ok, int outcome)
{
    daisy_error_t err;
    cr_assert_eq(daisy_scheduler_release(r->s, (daisy_block_ref_t){b->task, b->index}, ok,
                                         &err), outcome, "%s", err.msg);
    r->state[0][b->index] = ok ? DONE : NEW;
}

//  The resolver's usual path writes ready blocks straight into the room
//  at their queue's tail, and must leave a queue without room for all of
//  them to the path that grows it. Here a block is released (its
//  position known, nothing else held) while its queue is one entry short
//  of full and two blocks wait for it alone: every other root is held
//  back while the rest of the grid runs, then retried (its 512 blocks
//  fill a queue of 512 entries), and then they run one at a time. Each
//  block is still handed out once, after its upstream blocks, as the
//  graph's.
Test(scheduler, ready_blocks_beyond_the_queue_s_room_grow_it)
{
    run_t r;
    run_init(&r, conflicting_cube(32));
    daisy_task_set_max_retries(daisy_pipeline_task(r.p, 0), 1);
    daisy_scheduler_destroy(&r.s);
    daisy_error_t err;
    r.s = daisy_scheduler_new(r.g, &err);   //  with the retry
    cr_assert_not_null(r.s, "%s", err.msg);
    static daisy_block_t held[512];
    uint64_t nheld = 0;
    daisy_block_t b;
    while (acquire_checked(&r, &b)) {
        if (every_other_root(&b)) {
            cr_assert_lt(nheld, 512);
            held[nheld++] = b;
        } else {
            release_checked(&r, &b, true, DAISY_RELEASE_SUCCESS);
        }
    }
    cr_assert_eq(nheld, 512);
    for (uint64_t i = 0; i < nheld; i++)
        release_checked(&r, &held[i], false, DAISY_RELEASE_RETRY);
    daisy_task_counts_t c;
    daisy_scheduler_counts(r.s, 0, &c);
    cr_assert_eq(c.ready, 512);
    while (acquire_checked(&r, &b))
        release_checked(&r, &b, true, DAISY_RELEASE_SUCCESS);
    cr_assert(daisy_scheduler_done(r.s));
    check_all_done(&r, 0, 0);
    run_fini(&r);
}

//  Small tasks' waiting counts are a byte per block within a budget of the
//  resolver's (8 MiB); past it they go to the hashed count map, the one
//  every task of 10^12 blocks uses. A resumed task of 2^23 blocks, all
//  done, takes the whole budget here, so the random tasks after it run on
//  the hashed map, with every promise checked as above.
#include <stdlib.h>
#include <unistd.h>

Test(scheduler, tasks_past_the_dense_budget_keep_every_promise, .timeout = 120)
{
    uint64_t rng = 4242;
    char dir[] = "/tmp/daisy-test-sched-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    for (int round = 0; round < 12; round++) {
        daisy_pipeline_t *p = daisy_pipeline_new();
        daisy_task_t *big = tu_task_1d("big", 0, (int64_t)1 << 23, 1, 0, 1);
        daisy_task_set_read_write_conflict(big, false);
        daisy_pipeline_add(p, &big);
        int dims = 1 + round % 3, n = (int)tu_range(&rng, 1, 3);
        for (int i = 0; i < n; i++) {
            char id[16], up[16];
            snprintf(id, sizeof id, "t%d", i);
            daisy_task_t *t = tu_random_task(&rng, id, dims, dims >= 3 ? 4 : 8);
            if (i > 0 && tu_range(&rng, 0, 1)) {
                snprintf(up, sizeof up, "t%d", i - 1);
                daisy_task_add_upstream(t, up);
            }
            daisy_pipeline_add(p, &t);
        }
        run_t r;
        memset(&r, 0, sizeof r);
        r.p = p;
        daisy_error_t err;
        r.g = daisy_graph_new(p, &err);
        cr_assert_not_null(r.g, "%s", err.msg);
        r.ntasks = daisy_graph_task_count(r.g);
        daisy_markers_t *markers[8] = {NULL};
        markers[0] = daisy_markers_open(dir, r.g, 0, true, &err);
        cr_assert_not_null(markers[0], "%s", err.msg);
        for (uint64_t i = 0; i < daisy_graph_block_count(r.g, 0); i++)
            daisy_markers_set(markers[0], i);
        r.s = daisy_scheduler_new_resumed(r.g, markers, &err);
        cr_assert_not_null(r.s, "%s", err.msg);
        for (uint32_t t = 0; t < r.ntasks; t++)
            r.state[t] = calloc(daisy_graph_block_count(r.g, t) + 1, 1);
        memset(r.state[0], DONE, daisy_graph_block_count(r.g, 0));
        run_to_end(&r, &rng, (int)tu_range(&rng, 1, 12), NULL);
        check_all_done(&r, 1, round);
        run_fini(&r);
        daisy_markers_close(&markers[0]);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
