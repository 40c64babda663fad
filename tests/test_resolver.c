/*  test_resolver.c - roots, readiness and orphans from the resolver */
#include <criterion/criterion.h>
#include <math.h>
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

//  The roots are exactly the blocks without upstream blocks, each once.
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
            uint64_t got = 0;
            char *seen = calloc(daisy_graph_block_count(g, t) + 1, 1);
            daisy_block_ref_t ref;
            while (daisy_resolver_next_root(r, t, &ref)) {
                cr_assert_eq(ref.task, t);
                cr_assert_eq(daisy_graph_upstream_count(g, ref), 0);
                daisy_block_t b;
                daisy_graph_block(g, ref, &b);
                cr_assert_eq(b.level, 0);
                cr_assert_eq(seen[ref.index], 0, "root %llu twice", (unsigned long long)ref.index);
                seen[ref.index] = 1;
                got++;
            }
            free(seen);
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

//  A 3D task of 10^9 blocks: blocks of a given size and the 8 roots around
//  one cell of its level-0 lattice.
static daisy_pipeline_t *
cube_pipeline(int64_t blocks_per_dim, bool conflict, int ntasks)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    for (int i = 0; i < ntasks; i++) {
        int64_t to[3] = {0, 0, 0}, ro[3] = {0, 0, 0}, wo[3] = {2, 2, 2};
        int64_t ts[3], rs[3] = {14, 14, 14}, ws[3] = {10, 10, 10};
        for (int d = 0; d < 3; d++)
            ts[d] = blocks_per_dim * 10 + 4;
        char id[16], up[16];
        snprintf(id, sizeof id, "t%d", i);
        daisy_task_t *t = daisy_task_new(id, tu_roi(3, to, ts), tu_roi(3, ro, rs),
                                         tu_roi(3, wo, ws));
        daisy_task_set_read_write_conflict(t, conflict);
        if (i > 0) {
            snprintf(up, sizeof up, "t%d", i - 1);
            daisy_task_add_upstream(t, up);
        }
        daisy_pipeline_add(p, &t);
    }
    return p;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

//  Roots come out tile by tile, and the region handed out stays compact:
//  after any number n of roots of a 1000^3 grid, the box around them is at
//  most 4 n^(1/3) long in every dimension (plus a tile). In lexicographic
//  order it would be a whole row of 1000 after 1000 roots.
Test(resolver, roots_come_out_in_compact_tiles)
{
    daisy_pipeline_t *p = cube_pipeline(1000, false, 1);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_resolver_t *r = daisy_resolver_new(g, NULL);
    cr_assert_eq(daisy_resolver_roots_left(r, 0), 1000000000ull);
    enum { N = 100000 };
    uint64_t *index = malloc(N * sizeof *index);
    int64_t lo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, hi[3] = {-1, -1, -1};
    for (int i = 0; i < N; i++) {
        daisy_block_ref_t ref;
        cr_assert(daisy_resolver_next_root(r, 0, &ref));
        index[i] = ref.index;
        int64_t k[3] = {(int64_t)(ref.index / 1000000), (int64_t)(ref.index / 1000 % 1000),
                        (int64_t)(ref.index % 1000)};
        double side = 4 * cbrt(i + 512.0);
        for (int d = 0; d < 3; d++) {
            lo[d] = k[d] < lo[d] ? k[d] : lo[d];
            hi[d] = k[d] > hi[d] ? k[d] : hi[d];
            cr_assert_leq(hi[d] - lo[d] + 1, side, "root %d: %lld long along %d", i,
                          (long long)(hi[d] - lo[d] + 1), d);
        }
    }
    cr_assert_eq(daisy_resolver_roots_left(r, 0), 1000000000ull - N);
    qsort(index, N, sizeof *index, cmp_u64);
    for (int i = 1; i < N; i++)
        cr_assert_neq(index[i], index[i - 1], "root %llu twice", (unsigned long long)index[i]);
    free(index);
    daisy_resolver_destroy(&r);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

typedef struct {
    daisy_block_ref_t *q;
    size_t head, len, cap;
} fifo_t;

static void
fifo_push(void *arg, daisy_block_ref_t ref, bool ready)
{
    fifo_t *f = arg;
    cr_assert(ready);
    cr_assert_lt(f->len, f->cap);
    f->q[(f->head + f->len++) % f->cap] = ref;
}

//  The waiting set of a 10^12-block task with conflicts stays a thin band:
//  2 x 10^5 blocks handed out the way a runner does (released blocks
//  first) leave at most about 7,500 blocks waiting, where the lexicographic
//  order of roots left 42,508 (and 10 bytes per block processed: the whole
//  slab in front of them).
Test(resolver, frontier_of_a_huge_task_stays_small)
{
    daisy_pipeline_t *p = cube_pipeline(10000, true, 1);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_resolver_t *r = daisy_resolver_new(g, NULL);
    fifo_t f = {calloc(1 << 16, sizeof(daisy_block_ref_t)), 0, 0, 1 << 16};
    size_t most = 0;
    for (int i = 0; i < 200000; i++) {
        daisy_block_ref_t ref;
        if (f.len > 0) {
            ref = f.q[f.head];
            f.head = (f.head + 1) % f.cap;
            f.len--;
        } else {
            cr_assert(daisy_resolver_next_root(r, 0, &ref));
        }
        cr_assert_eq(daisy_resolver_resolve(r, ref, true, fifo_push, &f), 0);
        size_t waiting = daisy_resolver_waiting(r);
        most = waiting > most ? waiting : most;
    }
    cr_assert_leq(most, 12000, "%zu blocks waiting", most);
    free(f.q);
    daisy_resolver_destroy(&r);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  The resolver against the graph's own dependency lists, block by block.
//  Blocks are resolved in a random valid order, some of them as failures;
//  after every step the frontier (daisy_resolver_waiting) must be exactly
//  the blocks with some but not all of their upstream blocks resolved,
//  and a block is reported once, when its last upstream block is
//  resolved: ready if none of them failed or was orphaned, else
//  orphaned. Small random pipelines: their tasks count in the dense
//  arrays (rows counted down as words, conflicts byte by byte), or, in
//  the second test, in hashed maps.
typedef struct {
    char **state;      //  per task, per block: 0 waiting, 1 ready, 2 resolved ok, 3 failed or orphaned
    daisy_block_ref_t *ready;
    size_t nready;
    const daisy_graph_t *g;
    const bool *complete;   //  per task: done before the run (nothing of it waits)
} oracle_t;

static void
oracle_report(void *arg, daisy_block_ref_t ref, bool ready)
{
    oracle_t *o = arg;
    daisy_block_ref_t up[512];
    size_t n = daisy_graph_upstream(o->g, ref, up, 512);
    cr_assert_leq(n, 512);
    bool failed = false;
    for (size_t i = 0; i < n; i++) {
        char s = o->state[up[i].task][up[i].index];
        cr_assert(s >= 2, "block %u/%llu reported before its upstream %u/%llu", ref.task,
                  (unsigned long long)ref.index, up[i].task, (unsigned long long)up[i].index);
        failed |= s == 3;
    }
    cr_assert_eq(o->state[ref.task][ref.index], 0, "block reported twice");
    cr_assert_eq(ready, !failed, "block %u/%llu: ready %d, an upstream block failed %d",
                 ref.task, (unsigned long long)ref.index, ready, failed);
    if (ready) {
        o->state[ref.task][ref.index] = 1;
        o->ready[o->nready++] = ref;
    } else {
        o->state[ref.task][ref.index] = 3;   //  orphaned: resolved as failed by the resolver
    }
}

//  Blocks with some but not all of their upstream blocks resolved.
static size_t
oracle_waiting(const oracle_t *o)
{
    size_t waiting = 0;
    daisy_block_ref_t up[512];
    for (uint32_t t = 0; t < daisy_graph_task_count(o->g); t++)
        for (uint64_t i = 0; !o->complete[t] && i < daisy_graph_block_count(o->g, t); i++) {
            if (o->state[t][i] != 0)
                continue;
            size_t n = daisy_graph_upstream(o->g, (daisy_block_ref_t){t, i}, up, 512), done = 0;
            for (size_t j = 0; j < n; j++)
                done += o->state[up[j].task][up[j].index] >= 2;
            waiting += done > 0 && done < n;
        }
    return waiting;
}

//  One round: a random pipeline, after a complete task of 2^23 blocks
//  when `hashed` (it takes the resolver's whole budget of dense arrays,
//  so that the others count in hashed groups, as tasks of 10^12 blocks
//  do).
static void frontier_run(uint64_t *rng, int round, daisy_pipeline_t *p, bool hashed);

static void
frontier_round(uint64_t *rng, int round, bool hashed)
{
    int dims = 1 + round % 3;
    daisy_pipeline_t *p = daisy_pipeline_new();
    if (hashed) {
        daisy_task_t *big = tu_task_1d("big", 0, (int64_t)1 << 23, 1, 0, 1);
        daisy_task_set_read_write_conflict(big, false);
        daisy_pipeline_add(p, &big);
    }
    tu_random_tasks(p, rng, dims, 4, dims >= 3 ? 4 : 7);
    frontier_run(rng, round, p, hashed);
}

//  A round on a chain of 2-3 tasks of one write shape, each reading the
//  one before with context, on grids of 5-8 blocks a side: away from the
//  edges, the blocks that read a block form one whole box (the
//  resolver's cached rows, graph_readers_t), which the small random
//  grids of frontier_round seldom have.
static void
frontier_chain_round(uint64_t *rng, int round)
{
    int dims = 1 + round % 3;
    int64_t ws[DAISY_MAX_DIMS], wo[DAISY_MAX_DIMS], rs[DAISY_MAX_DIMS], ro[DAISY_MAX_DIMS];
    int64_t to[DAISY_MAX_DIMS], ts[DAISY_MAX_DIMS];
    for (int d = 0; d < dims; d++) {
        ws[d] = tu_range(rng, 1, 4);
        ro[d] = 0;
        wo[d] = tu_range(rng, 0, 2 * ws[d]);
        rs[d] = wo[d] + ws[d] + tu_range(rng, 0, 2 * ws[d]);
        to[d] = tu_range(rng, -10, 10);
        ts[d] = rs[d] + ws[d] * tu_range(rng, 4, dims >= 3 ? 7 : 10);
    }
    daisy_pipeline_t *p = daisy_pipeline_new();
    int ntasks = (int)tu_range(rng, 2, 3);
    for (int i = 0; i < ntasks; i++) {
        char id[16], up[16];
        snprintf(id, sizeof id, "t%d", i);
        daisy_task_t *t = daisy_task_new(id, tu_roi(dims, to, ts), tu_roi(dims, ro, rs),
                                         tu_roi(dims, wo, ws));
        daisy_task_set_read_write_conflict(t, tu_range(rng, 0, 2) != 0);
        if (i > 0) {
            snprintf(up, sizeof up, "t%d", i - 1);
            daisy_task_add_upstream(t, up);
        }
        daisy_pipeline_add(p, &t);
    }
    frontier_run(rng, round, p, false);
}

//  A round on a task with conflicts large enough for several tiles of
//  the done map the resolver gives it (src/donemap.h: tasks beyond the
//  dense budget whose blocks wait only within the task), in one to three
//  dimensions, its grid sometimes made of whole cells (then a unit is a
//  cell), with a task reading it (hashed counts) half the time.
static void
frontier_large_round(uint64_t *rng, int round)
{
    int dims = 1 + round % 3;
    //  Whole cells: a level stride of two blocks (context at most the
    //  write shape), an even number of blocks, fit valid.
    bool cells = round / 3 % 2 == 0;
    int64_t ws[DAISY_MAX_DIMS], wo[DAISY_MAX_DIMS], rs[DAISY_MAX_DIMS], ro[DAISY_MAX_DIMS];
    int64_t to[DAISY_MAX_DIMS], ts[DAISY_MAX_DIMS];
    for (int d = 0; d < dims; d++) {
        int64_t blocks = dims == 1 ? tu_range(rng, 600, 1500)
                       : dims == 2 ? tu_range(rng, 34, 70) : tu_range(rng, 17, 20);
        ws[d] = tu_range(rng, 1, 3);
        ro[d] = 0;
        wo[d] = cells ? tu_range(rng, 1, ws[d]) : tu_range(rng, 0, 2 * ws[d]);
        rs[d] = wo[d] + ws[d] + (cells ? tu_range(rng, 1, ws[d]) : tu_range(rng, 0, 2 * ws[d]));
        to[d] = tu_range(rng, -10, 10);
        ts[d] = rs[d] + ws[d] * ((blocks & ~(int64_t)cells) - 1)
              + (cells ? 0 : tu_range(rng, 0, ws[d] - 1));
    }
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *big = tu_task_1d("big", 0, (int64_t)1 << 23, 1, 0, 1);
    daisy_task_set_read_write_conflict(big, false);
    daisy_pipeline_add(p, &big);
    daisy_task_t *t = daisy_task_new("t0", tu_roi(dims, to, ts), tu_roi(dims, ro, rs),
                                     tu_roi(dims, wo, ws));
    daisy_task_set_fit(t, cells ? DAISY_FIT_VALID : (daisy_fit_t)tu_range(rng, 0, 2));
    daisy_pipeline_add(p, &t);
    if (tu_range(rng, 0, 1)) {
        t = tu_random_task(rng, "t1", dims, 4);
        daisy_task_add_upstream(t, "t0");
        daisy_pipeline_add(p, &t);
    }
    frontier_run(rng, round, p, true);
}

//  Resolve every block of p in a random valid order, one in ten failing,
//  and check the resolver against the oracle after every step.
static void
frontier_run(uint64_t *rng, int round, daisy_pipeline_t *p, bool hashed)
{
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    uint32_t nt = daisy_graph_task_count(g);
    bool complete[8] = {hashed};
    daisy_resolver_t *r = daisy_resolver_new_resumed(g, complete, NULL);
    cr_assert_not_null(r);
    size_t total = 0;
    oracle_t o = {calloc(nt, sizeof(char *)), NULL, 0, g, complete};
    for (uint32_t t = 0; t < nt; t++) {
        o.state[t] = calloc(daisy_graph_block_count(g, t) + 1, 1);
        total += complete[t] ? 0 : daisy_graph_block_count(g, t);
        if (complete[t])   //  done before the run: resolved, never counted
            memset(o.state[t], 2, daisy_graph_block_count(g, t));
    }
    o.ready = calloc(total + 1, sizeof *o.ready);
    for (uint32_t t = 0; t < nt; t++) {
        daisy_block_ref_t ref;
        while (daisy_resolver_next_root(r, t, &ref)) {
            o.state[t][ref.index] = 1;
            o.ready[o.nready++] = ref;
        }
    }
    size_t resolved = 0;
    while (o.nready > 0) {
        size_t pick = (size_t)tu_range(rng, 0, (int64_t)o.nready - 1);
        daisy_block_ref_t ref = o.ready[pick];
        o.ready[pick] = o.ready[--o.nready];
        bool ok = tu_range(rng, 0, 9) > 0;   //  one in ten fails
        o.state[ref.task][ref.index] = ok ? 2 : 3;
        cr_assert_eq(daisy_resolver_resolve(r, ref, ok, oracle_report, &o), 0);
        resolved++;
        cr_assert_eq(daisy_resolver_waiting(r), oracle_waiting(&o),
                     "round %d, after %zu blocks", round, resolved);
    }
    for (uint32_t t = 0; t < nt; t++) {
        for (uint64_t i = 0; i < daisy_graph_block_count(g, t); i++)
            cr_assert_geq(o.state[t][i], 2, "round %d: block %u/%llu never reported", round,
                          t, (unsigned long long)i);
        free(o.state[t]);
    }
    cr_assert_eq(daisy_resolver_waiting(r), 0);
    free(o.state);
    free(o.ready);
    daisy_resolver_destroy(&r);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(resolver, frontier_and_outcomes_follow_the_dependency_lists, .timeout = 120)
{
    uint64_t rng = 13;
    for (int round = 0; round < 24; round++)
        frontier_round(&rng, round, false);
}

Test(resolver, frontier_and_outcomes_follow_the_dependency_lists_in_chains, .timeout = 120)
{
    uint64_t rng = 15;
    for (int round = 0; round < 24; round++)
        frontier_chain_round(&rng, round);
}

Test(resolver, frontier_and_outcomes_follow_the_dependency_lists_hashed, .timeout = 120)
{
    uint64_t rng = 14;
    for (int round = 0; round < 24; round++)
        frontier_round(&rng, round, true);
}

Test(resolver, frontier_and_outcomes_follow_the_dependency_lists_in_done_maps, .timeout = 240)
{
    uint64_t rng = 16;
    for (int round = 0; round < 12; round++)
        frontier_large_round(&rng, round);
}
