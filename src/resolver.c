/*  resolver.c - the dependency resolver: counting down to ready

    When a block is resolved, each of its downstream blocks gets an entry
    (created on first contact with its full upstream count from the graph)
    that is counted down; the block whose count reaches zero is ready, or
    orphaned when a failure reached it, and leaves the map. Orphaning
    resolves the orphan in turn, through a work list rather than recursion,
    so a long chain of tasks cannot overflow the stack.

    The entries are the run's frontier, and the only memory that grows
    with a run: a task whose blocks have at most COUNTMAP_MAX upstream
    blocks (every usual one: 2^dims conflicts and a few upstream blocks
    per dimension) keeps them in its own countmap_t, a byte per block and
    eight neighbouring blocks per slot; other tasks share one blockmap_t
    of 32-bit counts. Small tasks, up to DENSE_BUDGET bytes for the whole
    pipeline and with at most COUNTMAP_DENSE_MAX upstream blocks per
    block, keep them as a byte per block instead (no hashing, and
    neighbours share cache lines): the frontier of a small task is a
    sizeable part of it anyway, and memory stays bounded by the budget.
    Those arrays get every block's full count when the resolver is made
    (prefill), so counting down there is one byte operation per block
    with nothing to ask the graph on the way.

    A task beyond that budget whose blocks wait only for blocks of their
    own task (conflicts, no upstream task with work left: a 10^12-block
    task) counts nothing: it keeps a done map (donemap.h), which says of
    each block near the border of the region done whether it is resolved,
    at about 2 bytes per waiting block where counts took 17. When a block
    is resolved its bit is set first; then each block of the next level
    that conflicts with it is ready (or orphaned) if every block it waits
    for is resolved now, which only the last of them finds, so each is
    reported once. Blocks start and stop waiting as those questions say,
    so daisy_resolver_waiting stays exact. Blocks of downstream tasks
    still count the blocks of such a task as they are resolved.

    A block's full count is asked for once: when it is first reached in a
    hashed map, at prefill in a dense array. Away from the edges of its
    grid it is the same for every block of a level:
    the level's conflicts (cached with the graph) plus, per upstream task
    with work left, the product of the lengths of its uniform ranges
    (graph_cross_uniform), summed into a per-task interior_t when the
    resolver is made; only blocks outside that box are counted the long
    way (graph_upstream_count_at).

    A downstream task's blocks that read a resolved block form a box; in a
    dense array each row of it (up to 8 blocks along the last dimension)
    is counted down as one 64-bit word, and where the box is whole its
    rows are at offsets the graph fixed (graph_readers_t), so nothing is
    worked out per box but its first block's index.

    Blocks made ready go straight onto their task's ready queue
    (ready_queue.h) when the owner gave the task one (resolver_set_queue):
    an inline append, where a callback per block cost two calls and a
    copy.

    The usual block (the scheduler's release of a success, position and
    level at hand, in a task of one level or of a dense array with cached
    combinations of conflict offsets) is resolved by resolver_resolve_done
    in a loop that calls nothing: until some block fails no count carries
    the failed flag, so no block it reaches is orphaned and each block
    whose count reaches zero is written straight into the room at its
    queue's tail. Its other calls are tail calls, so that its frame saves
    few registers. Every other block, and all of them once one has failed
    (any_failed), takes resolve_rest, the general path.

    Roots come from one root cursor per task over its level-0 lattice: the
    lattice points no upstream task covers (all of them for tasks without
    upstream tasks).
*/
#include "daisy/resolver.h"

#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "donemap.h"
#include "graph_internal.h"
#include "resolver_internal.h"
#include "root_cursor.h"

#define FAILED_BIT 0x80000000u
//  Bytes of dense count arrays per resolver (blockmap.h): 8 MiB, a
//  16-million-block pipeline's worth, small next to what such a run maps.
#define DENSE_BUDGET ((uint64_t)1 << 23)
#define COUNT_MASK 0x7fffffffu

typedef struct {
    daisy_block_ref_t ref;
    bool ok;
} work_t;

//  Where a task's blocks have as many blocks of upstream tasks as can be
//  (graph_cross_uniform in every dimension, for every upstream task that
//  still has work): the box [lo, hi), and that number of blocks. For a
//  task without upstream tasks the box is the grid and the number 0.
typedef struct {
    int64_t lo[D], hi[D];
    uint64_t up;
    //  For a task with a done map: where the blocks of every level that
    //  conflict with a block, and the blocks those wait for, all lie in
    //  the grid (k[d] - deep_lo[d] < deep_span[d], unsigned).
    int64_t deep_lo[D];
    uint64_t deep_span[D];
} interior_t;

struct _daisy_resolver_t {
    const daisy_graph_t *graph;
    countmap_t **counts;  //  per task: its waiting blocks, or NULL: in `waiting` or `done`
    donemap_t **done;     //  per task: its resolved blocks, or NULL: it counts
    size_t done_waiting;  //  blocks of tasks with a done map that wait
    blockmap_t *waiting;
    root_cursor_t **roots;
    work_t *work;
    size_t nwork, capwork;
    bool *complete;       //  per task: done before the run began
    interior_t *interior; //  per task
    ready_queue_t **queue;   //  per task, or NULL: its ready blocks go to fn too
    //  Per task: its queue when its blocks may take the usual path of
    //  resolver_resolve_done (one level, or a dense array and cached
    //  combinations of conflict offsets), else NULL: one test there.
    ready_queue_t **usual;
    resolver_fn *fn;
    void *arg;
    bool current_ok;      //  how the block being propagated was resolved
    bool any_failed;      //  a block was resolved as failed: counts may carry the flag
    uint8_t fail_flag;    //  COUNTMAP_FLAG when it failed, else 0
    bool oom;
};

//  Interval of level-0 lattice points j (k = o + j m) along dimension d that
//  task u covers: from the first j whose range of u blocks starts (b > 0)
//  to the first j past u's last block (a >= n).
static void
covered_interval(const graph_task_t *v, const graph_task_t *u, int d,
                 const int64_t *o, int64_t extent, int64_t *lo, int64_t *hi)
{
    for (int pass = 0; pass < 2; pass++) {
        int64_t l = 0, h = extent;
        while (l < h) {
            int64_t mid = l + (h - l) / 2, a, b;
            graph_cross_range(v, u, d, o[d] + mid * v->m[d], &a, &b);
            if (pass == 0 ? b > 0 : a >= u->n[d])
                h = mid;
            else
                l = mid + 1;
        }
        *(pass == 0 ? lo : hi) = l;
    }
}

//  Most upstream blocks any block of v can have, to keep counts in 31 bits.
static uint64_t
max_upstream(const graph_task_t *v, const daisy_graph_t *g)
{
    uint64_t total = 1ull << v->dims;
    for (uint32_t i = 0; i < v->n_up; i++) {
        const graph_task_t *u = &g->tasks[v->up[i]];
        uint64_t c = 1;
        for (int d = 0; d < v->dims; d++) {
            uint64_t per = (uint64_t)(v->rs[d] / u->ws[d] + 2);
            if (__builtin_mul_overflow(c, per, &c))
                return UINT64_MAX;
        }
        total += c;
    }
    return total;
}

//  The cost, per dimension, of the border of the region whose roots were
//  handed out (root_cursor.h): a cell across dimension d from it keeps
//  blocks waiting for the level steps that reach across d (conflict
//  offsets on both sides of d), so count those steps; 1 where none does
//  (no conflicts: the blocks of downstream tasks wait alike in every
//  dimension). Measured on a 3D task with 2^3 levels, weights (1, 3, 7):
//  the most blocks waiting 1.16x fewer than with equal weights over 10^7
//  and 10^8 blocks of a 10^4-cube grid, 1.8x fewer on a 67^3 grid;
//  adding 1 to every weight did worse on both.
static void
border_weights(const graph_task_t *v, double *w)
{
    for (int d = 0; d < v->dims; d++) {
        uint64_t steps = 0;
        for (uint64_t level = 1; v->conflicts && level < v->levels; level++)
            steps += v->conflicts[level].ncand[d] == 2;
        w[d] = steps > 0 ? (double)steps : 1;
    }
}

//  The task's interior_t: the boxes of uniform ranges of its upstream
//  tasks intersected, their counts summed.
static void
make_interior(const daisy_graph_t *g, uint32_t task, const bool *complete, interior_t *in)
{
    const graph_task_t *v = &g->tasks[task];
    for (int d = 0; d < D; d++) {
        in->lo[d] = 0;
        in->hi[d] = d < v->dims ? v->n[d] : 0;
    }
    in->up = 0;
    for (uint32_t i = 0; i < v->n_up; i++) {
        if (complete[v->up[i]])
            continue;
        uint64_t product = 1;
        for (int d = 0; d < v->dims; d++) {
            int64_t lo, hi;
            uint64_t count;
            graph_cross_uniform(v, &g->tasks[v->up[i]], d, &lo, &hi, &count);
            in->lo[d] = max64(in->lo[d], lo);
            in->hi[d] = min64(in->hi[d], hi);
            product *= count;
        }
        in->up += product;
    }
}

//  A block's full count (below); prefill needs it before it is defined.
static inline uint8_t first_count(const daisy_resolver_t *self, const graph_task_t *v,
                                  uint32_t task, const int64_t *k, uint64_t level);

//  The box of blocks whose full count depends on their level alone: inside
//  the interior, with the conflicting blocks of every level in the grid
//  (first_count's fast case for all levels). false when there is none of
//  that kind (too many levels for cached conflicts).
static bool
level_box(const daisy_resolver_t *self, uint32_t task, int64_t *lo, int64_t *hi)
{
    const graph_task_t *v = &self->graph->tasks[task];
    const interior_t *in = &self->interior[task];
    if (v->levels > 1 && !v->conflicts)
        return false;
    for (int d = 0; d < v->dims; d++) {
        lo[d] = in->lo[d];
        hi[d] = in->hi[d];
        for (uint64_t level = 1; level < v->levels; level++) {
            lo[d] = max64(lo[d], -v->conflicts[level].reach_lo[d]);
            hi[d] = min64(hi[d], v->n[d] - v->conflicts[level].reach_hi[d]);
        }
    }
    return true;
}

//  Every block's full count into a task's dense array, row by row along
//  the last dimension. Inside level_box a count repeats with the level,
//  every m[last] blocks along a row, so most of a large task is copied
//  rather than worked out (about 1 ns a block; 7 ns where it is not).
static void
prefill(const daisy_resolver_t *self, uint32_t task, uint8_t *count)
{
    const graph_task_t *v = &self->graph->tasks[task];
    int64_t k[D] = {0}, lo[D], hi[D];
    if (v->n_up == 0 && v->levels == 1)
        return;   //  every block a root: the array stays 0
    bool any = level_box(self, task, lo, hi);
    int last = v->dims - 1;
    int64_t n = v->n[last], period = v->m[last];
    for (uint64_t row = 0; row < v->total; row += (uint64_t)n) {
        bool inside = any;
        for (int d = 0; d < last; d++)
            inside &= lo[d] <= k[d] && k[d] < hi[d];
        for (int64_t x = 0; x < n; x++) {
            k[last] = x;
            count[row + (uint64_t)x] = inside && x >= lo[last] + period && x < hi[last]
                                     ? count[row + (uint64_t)(x - period)]
                                     : first_count(self, v, task, k, UINT64_MAX);
        }
        k[last] = 0;
        for (int d = last - 1; d >= 0 && ++k[d] == v->n[d]; d--)
            k[d] = 0;
    }
}

//  Whether a task beyond the dense budget keeps a done map (donemap.h)
//  instead of counts: one whose blocks wait only for blocks of their own
//  task (conflicts, and no upstream task with work left).
static bool
wants_donemap(const daisy_graph_t *g, uint32_t task, const bool *complete)
{
    const graph_task_t *v = &g->tasks[task];
    bool alone = v->levels > 1 && !complete[task];
    for (uint32_t i = 0; alone && i < v->n_up; i++)
        alone = complete[v->up[i]];
    return alone;
}

//  A task's done map: its blocks wait for blocks less than a level
//  stride away (conflict offsets lie in (-m, m)); and the box where the
//  blocks two such steps away from a block all lie in the grid. Its
//  cells are the boxes of a level stride (one block of each level) when
//  the grid is made of whole ones, with at most 15 levels (donemap.h);
//  a tile holds about as many cells as it would hold blocks without,
//  and more where the grid has too many tiles to number. *fits is false
//  (and the result NULL) when even those are too many.
static donemap_t *
make_donemap(const graph_task_t *v, interior_t *in, bool *fits)
{
    int64_t reach[D] = {0};
    unsigned side = donemap_side_log2(v->dims), cell = 0;
    bool cells = v->m_pow2 && v->levels <= 15;
    for (int d = 0; d < v->dims; d++) {
        reach[d] = v->m[d] - 1;
        in->deep_lo[d] = 2 * reach[d];
        in->deep_span[d] = (uint64_t)max64(v->n[d] - 4 * reach[d], 0);
        cells &= v->n[d] % v->m[d] == 0;
        cell = v->m[d] > (int64_t)1 << cell ? (unsigned)__builtin_ctzll((uint64_t)v->m[d]) : cell;
    }
    side += cells ? cell : 0;
    for (unsigned more = 0; more < 4 && !donemap_fits(v->dims, v->n, reach, side); more++)
        side++;
    *fits = donemap_fits(v->dims, v->n, reach, side);
    return *fits ? donemap_new(v->dims, v->n, reach, cells ? v->m : NULL, side) : NULL;
}

//  Each task's counts or done map: dense arrays while the budget lasts,
//  then done maps where they do, then hashed counts (none for a task
//  whose counts would not fit a byte: it counts in `waiting`).
static bool
make_maps(daisy_resolver_t *self)
{
    const daisy_graph_t *graph = self->graph;
    uint64_t budget = DENSE_BUDGET;
    bool ok = true;
    for (uint32_t t = 0; ok && t < graph->ntasks; t++) {
        uint64_t total = graph->tasks[t].total, most = max_upstream(&graph->tasks[t], graph);
        if (most > COUNTMAP_MAX)
            continue;
        if (total <= budget && most <= COUNTMAP_DENSE_MAX) {
            budget -= total;
            ok = (self->counts[t] = countmap_new_dense(total)) != NULL;
            continue;
        }
        bool fits = false;
        if (wants_donemap(graph, t, self->complete))
            self->done[t] = make_donemap(&graph->tasks[t], &self->interior[t], &fits);
        if (fits)
            ok = self->done[t] != NULL;
        else
            ok = (self->counts[t] = countmap_new()) != NULL;
    }
    return ok;
}

//  Roots of a task: its level-0 blocks not covered by an upstream task that
//  still has work; none for a task that is complete already.
static root_cursor_t *
make_roots(const daisy_graph_t *g, uint32_t task, const bool *complete)
{
    const graph_task_t *v = &g->tasks[task];
    int64_t o[D], extent[D];
    double weight[D];
    border_weights(v, weight);
    int64_t lo[ROOT_CURSOR_MAX_UPSTREAM * D], hi[ROOT_CURSOR_MAX_UPSTREAM * D];
    graph_level_offset(v, 0, o);
    for (int d = 0; d < v->dims; d++)
        extent[d] = complete[task] ? 0 : (v->n[d] - o[d] + v->m[d] - 1) / v->m[d];
    int n = 0;
    for (uint32_t i = 0; i < v->n_up; i++) {
        if (complete[v->up[i]])
            continue;
        for (int d = 0; d < v->dims; d++)
            covered_interval(v, &g->tasks[v->up[i]], d, o, extent[d],
                             &lo[n * v->dims + d], &hi[n * v->dims + d]);
        n++;
    }
    return root_cursor_new(v->dims, extent, weight, n, lo, hi);
}

daisy_resolver_t *
daisy_resolver_new(const daisy_graph_t *graph, daisy_error_t *err)
{
    return daisy_resolver_new_resumed(graph, NULL, err);
}

daisy_resolver_t *
daisy_resolver_new_resumed(const daisy_graph_t *graph, const bool *complete,
                           daisy_error_t *err)
{
    for (uint32_t t = 0; t < graph->ntasks; t++) {
        const graph_task_t *v = &graph->tasks[t];
        if (v->n_up > ROOT_CURSOR_MAX_UPSTREAM) {
            daisy_error_set(err, "task '%s': more than %d upstream tasks", v->id,
                            ROOT_CURSOR_MAX_UPSTREAM);
            return NULL;
        }
        if (max_upstream(v, graph) > COUNT_MASK) {
            daisy_error_set(err, "task '%s': a block would read more than 2^31 upstream blocks",
                            v->id);
            return NULL;
        }
    }
    daisy_resolver_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->graph = graph;
    self->waiting = blockmap_new();
    self->counts = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->counts);
    self->roots = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->roots);
    self->complete = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->complete);
    self->interior = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->interior);
    self->queue = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->queue);
    self->usual = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->usual);
    self->done = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->done);
    bool ok = self->waiting && self->counts && self->roots && self->complete && self->interior
           && self->queue && self->usual && self->done;
    for (uint32_t t = 0; ok && complete && t < graph->ntasks; t++)
        self->complete[t] = complete[t];
    ok = ok && make_maps(self);
    for (uint32_t t = 0; ok && t < graph->ntasks; t++)
        make_interior(graph, t, self->complete, &self->interior[t]);
    for (uint32_t t = 0; ok && t < graph->ntasks; t++)
        if (self->counts[t] && self->counts[t]->dense)
            prefill(self, t, self->counts[t]->dense);
    for (uint32_t t = 0; ok && t < graph->ntasks; t++)
        ok = (self->roots[t] = make_roots(graph, t, self->complete)) != NULL;
    if (!ok) {
        daisy_error_set(err, "out of memory");
        daisy_resolver_destroy(&self);
    }
    return self;
}

void
daisy_resolver_destroy(daisy_resolver_t **self_p)
{
    daisy_resolver_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (uint32_t t = 0; self->roots && t < self->graph->ntasks; t++)
        root_cursor_destroy(&self->roots[t]);
    for (uint32_t t = 0; self->counts && t < self->graph->ntasks; t++)
        countmap_destroy(&self->counts[t]);
    for (uint32_t t = 0; self->done && t < self->graph->ntasks; t++)
        donemap_destroy(&self->done[t]);
    free(self->counts);
    free(self->done);
    free(self->roots);
    free(self->complete);
    free(self->interior);
    free(self->queue);
    free(self->usual);
    blockmap_destroy(&self->waiting);
    free(self->work);
    free(self);
    *self_p = NULL;
}

bool
resolver_next_root(daisy_resolver_t *self, uint32_t task, uint64_t *index, int64_t *k)
{
    const graph_task_t *v = &self->graph->tasks[task];
    int64_t j[D];
    if (!root_cursor_next(self->roots[task], j))
        return false;
    for (int d = 0; d < D; d++)   //  zero past dims: positions travel whole
        k[d] = d < v->dims ? v->level0[d] + j[d] * v->m[d] : 0;
    *index = graph_flatten(v, k);
    return true;
}

bool
daisy_resolver_next_root(daisy_resolver_t *self, uint32_t task, daisy_block_ref_t *ref)
{
    int64_t k[D];
    if (task >= self->graph->ntasks || !resolver_next_root(self, task, &ref->index, k))
        return false;
    ref->task = task;
    return true;
}

uint64_t
daisy_resolver_roots_left(const daisy_resolver_t *self, uint32_t task)
{
    return task < self->graph->ntasks ? root_cursor_left(self->roots[task]) : 0;
}

static void
push_work(daisy_resolver_t *self, daisy_block_ref_t ref, bool ok)
{
    if (self->nwork == self->capwork) {
        size_t cap = self->capwork ? self->capwork * 2 : 64;
        work_t *w = realloc(self->work, cap * sizeof *w);
        if (!w) {
            self->oom = true;
            return;
        }
        self->work = w;
        self->capwork = cap;
    }
    self->work[self->nwork++] = (work_t){.ref = ref, .ok = ok};
}

//  The count of (task, index) reached zero: it is ready, or orphaned when
//  one of its upstream blocks failed (and then its downstream blocks
//  learn that in turn). `level` is its level or READY_LEVEL_UNKNOWN.
static inline void
report(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k,
       uint32_t level, bool failed)
{
    ready_queue_t *queue = self->queue[task];
    if (!failed && queue) {
        if (ready_queue_push_at(queue, index, level, k) != 0)
            self->oom = true;
        return;
    }
    if (failed)
        push_work(self, (daisy_block_ref_t){.task = task, .index = index}, false);
    self->fn(self->arg, task, index, k, level, !failed);
}

//  The full count of a block first reached: its upstream blocks. `level`
//  is its level when the caller knows it, or UINT64_MAX. A block inside
//  its task's interior whose conflicting blocks all lie in the grid has
//  them all: the interior's count and the count cached with the level's
//  table.
static inline uint8_t
first_count(const daisy_resolver_t *self, const graph_task_t *v, uint32_t task,
            const int64_t *k, uint64_t level)
{
    if (level == UINT64_MAX)
        level = graph_level_of(v, k);
    const interior_t *in = &self->interior[task];
    bool inside = level == 0 || v->conflicts;
    uint64_t count = in->up;
    for (int d = 0; inside && d < v->dims; d++)
        inside = k[d] >= in->lo[d] && k[d] < in->hi[d];
    if (inside && level > 0) {
        const graph_conflict_t *c = &v->conflicts[level];
        for (int d = 0; d < v->dims; d++)
            inside &= k[d] + c->reach_lo[d] >= 0 && k[d] + c->reach_hi[d] < v->n[d];
        count += c->all;
    }
    //  At most COUNTMAP_MAX: checked for the task.
    return (uint8_t)(inside ? count
                     : graph_upstream_count_at(self->graph, task, k, level, self->complete));
}

//  One count-down of the byte `c` of a dense array (blockmap.h): the byte
//  after it, whose count bits are 0 when the block is resolved. Nothing
//  keeps count of the blocks waiting there: countmap_size counts the
//  touched bytes when asked, so the hot loops do not.
static inline uint8_t
dense_down(uint8_t c, uint8_t flag)
{
    return (uint8_t)((c | flag | COUNTMAP_TOUCHED) - 1);   //  the count is at least 1 here
}

//  A dense array's block whose count reached zero: out of the map, and
//  reported.
static void
dense_resolved(daisy_resolver_t *self, countmap_t *map, uint32_t task, uint64_t index,
               const int64_t *k, uint32_t level, uint8_t c)
{
    map->dense[index] = 0;
    report(self, task, index, k, level, c & COUNTMAP_FLAG);
}

//  count_down for a task whose counts are bytes in a countmap_t (`level`
//  as for first_count). The byte is worked on in a register and stored
//  once.
static inline void
count_down_byte(daisy_resolver_t *self, countmap_t *map, uint32_t task, uint64_t index,
                const int64_t *k, uint64_t level)
{
    if (map->dense) {
        uint8_t c = dense_down(map->dense[index], self->fail_flag);
        if ((c & COUNTMAP_DENSE_MAX) == 0)
            return dense_resolved(self, map, task, index, k, (uint32_t)level, c);
        map->dense[index] = c;
        return;
    }
    bool created;
    uint8_t *entry = countmap_put(map, index, &created);
    if (!entry) {
        self->oom = true;
        return;
    }
    uint8_t count = *entry;
    if (created)
        count = first_count(self, &self->graph->tasks[task], task, k, level);
    count = (uint8_t)((count | self->fail_flag) - 1);   //  the count is at least 1 here
    if ((count & COUNTMAP_MAX) != 0) {
        *entry = count;
        return;
    }
    countmap_del(map, entry);
    report(self, task, index, k, (uint32_t)level, count & COUNTMAP_FLAG);
}

//  The same with a 32-bit count in the shared blockmap_t.
static void
count_down_wide(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k)
{
    bool created;
    uint32_t *entry = blockmap_put(self->waiting, task, index, &created);
    if (!entry) {
        self->oom = true;
        return;
    }
    if (created)
        *entry = (uint32_t)graph_upstream_count(self->graph, task, k, self->complete);
    if (!self->current_ok)
        *entry |= FAILED_BIT;
    *entry -= 1;
    if ((*entry & COUNT_MASK) != 0)
        return;
    bool failed = *entry & FAILED_BIT;
    blockmap_del_value(self->waiting, entry);
    report(self, task, index, k, READY_LEVEL_UNKNOWN, failed);
}

//  One upstream block of (task, index) was resolved; current_ok says how.
static inline void
count_down(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k)
{
    countmap_t *map = self->counts[task];
    if (map)
        count_down_byte(self, map, task, index, k, UINT64_MAX);
    else
        count_down_wide(self, task, index, k);
}

//  Bytes of a 64-bit word, each set to b.
#define BYTES(b) (0x0101010101010101ull * (uint8_t)(b))

//  The next row of v's box [lo, hi) along the last dimension: q (its
//  first block) and its index `row` step on like an odometer, the index
//  by strides rather than by flattening again. false past the last row.
static inline bool
next_row(const graph_task_t *v, const int64_t *lo, const int64_t *hi, int last, int64_t *q,
         uint64_t *row)
{
    int d = last - 1;
    while (d >= 0 && ++q[d] == hi[d]) {
        *row -= (uint64_t)(hi[d] - 1 - lo[d]) * v->stride[d];
        q[d] = lo[d];
        d--;
    }
    if (d < 0)
        return false;
    *row += v->stride[d];
    return true;
}

//  Count down the bytes `in` of a word of a dense array at once: each
//  of those counts is at least 1 (each of those blocks waits for the one
//  being resolved), so subtracting 1 from each byte never borrows across
//  bytes, and the other bytes are written back unchanged. The word after
//  it; *live gets COUNTMAP_TOUCHED of each byte of `in` whose count is
//  not zero yet.
static inline uint64_t
word_down(uint64_t w, uint64_t in, uint8_t flag, uint64_t *live)
{
    uint64_t fresh = BYTES(COUNTMAP_TOUCHED) & in;
    uint64_t after = (w | (BYTES(flag) & in) | fresh) - (BYTES(1) & in);
    //  Count bits are at most 0x3f: adding 0x3f carries into bit 6 unless 0.
    *live = ((after & BYTES(COUNTMAP_DENSE_MAX)) + BYTES(COUNTMAP_DENSE_MAX)) & fresh;
    return after;
}

//  Count down the blocks `in` of the row at `row` of a dense array as a
//  word (word_down), and store it when none of them reached zero; true
//  when some did, with the word in *after and bit 6 of each such byte in
//  *zero (resolve_row_word's arguments).
static inline bool
row_down(uint8_t *dense, uint64_t row, uint64_t in, uint8_t flag, uint64_t *after,
         uint64_t *zero)
{
    uint64_t fresh = BYTES(COUNTMAP_TOUCHED) & in, w, live;
    memcpy(&w, dense + row, sizeof w);
    *after = word_down(w, in, flag, &live);
    if (live == fresh) {
        memcpy(dense + row, after, sizeof *after);
        return false;
    }
    *zero = live ^ fresh;
    return true;
}

//  The blocks of a row whose count word `after` has zero counts (`zero`:
//  bit 6 of each such byte): taken out of the array and reported.
static void
resolve_row_word(daisy_resolver_t *self, countmap_t *map, uint32_t task, uint64_t row,
                 uint64_t after, uint64_t zero, int64_t *q, int last)
{
    uint64_t left = after;
    for (uint64_t z = zero; z; z &= z - 1)
        left &= ~(0xffull << (__builtin_ctzll(z) & ~7));
    memcpy(map->dense + row, &left, sizeof left);
    int64_t x0 = q[last];
    for (; zero; zero &= zero - 1) {
        int i = __builtin_ctzll(zero) >> 3;
        q[last] = x0 + i;
        report(self, task, row + (uint64_t)i, q, READY_LEVEL_UNKNOWN,
               (after >> (8 * i)) & COUNTMAP_FLAG);
    }
    q[last] = x0;
}

//  count_down_box for a dense array and rows of at most 8 blocks, a row
//  as one word (word_down; past the array: COUNTMAP_DENSE_PAD). Blocks
//  whose count reaches zero (one per resolved block, on average) are
//  taken out one by one.
static void
count_down_box_words(daisy_resolver_t *self, countmap_t *map, uint32_t task,
                     const int64_t *lo, const int64_t *hi)
{
    const graph_task_t *v = &self->graph->tasks[task];
    int last = v->dims - 1;
    int64_t n = hi[last] - lo[last];
    uint64_t in = n == 8 ? ~0ull : (1ull << (8 * n)) - 1;
    int64_t q[D];
    for (int d = 0; d < D; d++)   //  all D (lo has them), a copy the compiler inlines
        q[d] = lo[d];
    uint64_t row = graph_flatten(v, q);
    //  In locals: a store to the array may alias anything.
    uint8_t *dense = map->dense, flag = self->fail_flag;
    for (;;) {
        uint64_t after, zero;
        if (row_down(dense, row, in, flag, &after, &zero))
            resolve_row_word(self, map, task, row, after, zero, q, last);
        if (!next_row(v, lo, hi, last, q, &row))
            break;
    }
}

//  count_down_box_words for the whole box of readers `r` of the block at
//  k (graph_readers_t): its rows at cached offsets from its first block,
//  no box worked out and no odometer; a position only for a row where a
//  block is resolved.
static void
count_down_whole_box(daisy_resolver_t *self, countmap_t *map, uint32_t task,
                     const graph_readers_t *r, const int64_t *k, int dims)
{
    const graph_task_t *v = &self->graph->tasks[task];
    uint64_t row0 = r->row_base;
    for (int d = 0; d < dims; d++)
        row0 += (uint64_t)k[d] * r->row_step[d];
    uint64_t in = r->width == 8 ? ~0ull : (1ull << (8 * r->width)) - 1;
    //  In locals: a store to the array may alias anything.
    uint8_t *dense = map->dense, flag = self->fail_flag;
    const uint64_t *delta = r->row_delta;
    uint32_t rows = r->rows;
    for (uint32_t i = 0; i < rows; i++) {
        uint64_t row = row0 + delta[i], after, zero;
        if (!row_down(dense, row, in, flag, &after, &zero))
            continue;
        int64_t q[D] = {0};
        graph_unflatten(v, row, q);
        resolve_row_word(self, map, task, row, after, zero, q, dims - 1);
    }
}

//  Whether the readers `r` of the block at k form a whole box.
static inline bool
whole_box(const graph_readers_t *r, const int64_t *k, int dims)
{
    bool whole = r->rows != 0;
    for (int d = 0; d < dims; d++)
        whole &= (uint64_t)(k[d] - r->in_lo[d]) < r->in_span[d];
    return whole;
}

//  One row of a box in a dense count array: blocks row[0..n) at positions
//  q with q[last] running from x0. Everything the loop reads is in locals
//  (stores to count bytes may alias anything, so fields would be reloaded
//  at every block).
static void
count_down_row_dense(daisy_resolver_t *self, countmap_t *map, uint32_t task,
                     uint64_t row, int64_t n, int64_t *q, int last)
{
    uint8_t *count = map->dense + row;
    uint8_t flag = self->fail_flag;
    int64_t x0 = q[last];
    for (int64_t i = 0; i < n; i++) {
        uint8_t c = dense_down(count[i], flag);
        if ((c & COUNTMAP_DENSE_MAX) != 0) {
            count[i] = c;
            continue;
        }
        q[last] = x0 + i;
        dense_resolved(self, map, task, row + (uint64_t)i, q, READY_LEVEL_UNKNOWN, c);
    }
    q[last] = x0;
}

//  Count down every block of v's box [lo, hi), row by row along the last
//  dimension (consecutive indices: consecutive count bytes).
static void
count_down_box(daisy_resolver_t *self, uint32_t task, const int64_t *lo, const int64_t *hi)
{
    const graph_task_t *v = &self->graph->tasks[task];
    countmap_t *map = self->counts[task];
    bool dense = map && map->dense;
    int last = v->dims - 1;
    if (dense && hi[last] - lo[last] <= 8)
        return count_down_box_words(self, map, task, lo, hi);
    int64_t q[D];
    for (int d = 0; d < D; d++)   //  all D (lo has them), a copy the compiler inlines
        q[d] = lo[d];
    uint64_t row = graph_flatten(v, q);
    int64_t x0 = lo[last], n = hi[last] - lo[last];
    for (;;) {
        if (dense) {
            count_down_row_dense(self, map, task, row, n, q, last);
        } else {
            for (int64_t i = 0; i < n; i++) {
                q[last] = x0 + i;
                count_down(self, task, row + (uint64_t)i, q);
            }
            q[last] = x0;
        }
        if (!next_row(v, lo, hi, last, q, &row))
            return;
    }
}

//  The cached combinations of conflict offsets `off`, index offsets
//  `delta`, counted down in a dense count array, with everything the
//  loop reads in locals (as count_down_row_dense); a position is worked
//  out only for a block that is resolved.
static void
count_down_conflicts_dense(daisy_resolver_t *self, countmap_t *map, uint32_t task,
                           const int64_t *k, uint64_t at, uint64_t later,
                           const int64_t (*off)[D], const uint64_t *delta, uint64_t all)
{
    uint8_t *count = map->dense;
    uint8_t flag = self->fail_flag;
    for (uint64_t i = 0; i < all; i++) {
        uint64_t index = at - delta[i];
        uint8_t c = dense_down(count[index], flag);
        if ((c & COUNTMAP_DENSE_MAX) != 0) {
            count[index] = c;
            continue;
        }
        int64_t q[D];
        for (int d = 0; d < D; d++)   //  past dims both are 0
            q[d] = k[d] - off[i][d];
        dense_resolved(self, map, task, index, q, (uint32_t)later, c);
    }
}

//  count_down_conflicts for a block near the edges of the grid, or of a
//  task without cached combinations: the conflicting blocks are listed,
//  into arrays too large for the usual case's stack frame.
static __attribute__((noinline)) void
count_down_conflicts_listed(daisy_resolver_t *self, uint32_t task, const int64_t *k,
                            uint64_t at, uint64_t later)
{
    int64_t q[GRAPH_MAX_CONFLICTS][D];
    uint64_t index[GRAPH_MAX_CONFLICTS];
    int n = graph_conflict_blocks(&self->graph->tasks[task], k, at, later, -1, q, index);
    for (int i = 0; i < n; i++)
        count_down(self, task, index[i], q[i]);
}

//  Count down the blocks of level `later` that conflict with the block at
//  k (index `at`). Away from the edges of the grid they are the task's
//  cached combinations: index offsets subtracted, no listing in between.
static void
count_down_conflicts(daisy_resolver_t *self, uint32_t task, const int64_t *k, uint64_t at,
                     uint64_t later)
{
    const graph_task_t *u = &self->graph->tasks[task];
    const graph_conflict_t *c = u->conflicts ? &u->conflicts[later] : NULL;
    countmap_t *map = self->counts[task];
    bool inside = c && c->first != UINT32_MAX && map;
    if (inside) {   //  every dimension tested, without a branch per test
        for (int d = 0; d < u->dims; d++)
            inside &= (uint64_t)(k[d] - c->down_lo[d]) < c->down_span[d];
    }
    if (!inside)
        return count_down_conflicts_listed(self, task, k, at, later);
    const int64_t (*off)[D] = (const int64_t (*)[D])&u->combo[c->first];
    const uint64_t *delta = &u->combo_delta[c->first];
    if (map->dense)
        return count_down_conflicts_dense(self, map, task, k, at, later, off, delta, c->all);
    for (uint64_t i = 0; i < c->all; i++) {
        int64_t q[D];
        for (int d = 0; d < D; d++)   //  past dims both are 0
            q[d] = k[d] - off[i][d];
        count_down_byte(self, map, task, at - delta[i], q, later);
    }
}

//  Whether the block at k - off lies in u's grid (`dims` dimensions).
static inline __attribute__((always_inline)) bool
in_grid(const graph_task_t *u, const int64_t *k, const int64_t *off, int dims)
{
    bool in = true;
    for (int d = 0; d < dims; d++)
        in &= (uint64_t)(k[d] - off[d]) < (uint64_t)u->n[d];
    return in;
}

//  resolver_resolve_done's loop: the blocks of level `later` at the
//  cached combinations of offsets from k (index `at`) counted down, and
//  those whose count reaches zero written straight into the room at the
//  queue's tail. The loop calls nothing and keeps what it needs in
//  registers (a store to a count byte may alias anything). `inside`, a
//  constant, says whether every combination lies in the grid; near its
//  edges the blocks are the combinations that do (as
//  graph_conflict_blocks lists them: the candidates in the grid, per
//  dimension, combined), so each is tested there.
static inline __attribute__((always_inline)) void
combos_down(daisy_resolver_t *self, uint32_t task, const graph_task_t *u, ready_queue_t *queue,
            const int64_t *k, uint64_t at, uint64_t later, int dims, bool inside)
{
    const graph_conflict_t *c = &u->conflicts[later];
    //  In locals: a store to the array may alias anything.
    uint8_t *count = self->counts[task]->dense;
    const int64_t (*off)[D] = (const int64_t (*)[D])&u->combo[c->first];
    const uint64_t *delta = &u->combo_delta[c->first];
    uint64_t all = c->all;
    ready_block_t *items = queue->items;
    size_t mask = queue->mask, head = queue->head, tail = head + queue->len;
    for (uint64_t i = 0; i < all; i++) {
        if (!inside && !in_grid(u, k, off[i], dims))
            continue;
        uint64_t index = at - delta[i];
        uint8_t b = dense_down(count[index], 0);
        if ((b & COUNTMAP_DENSE_MAX) != 0) {
            count[index] = b;
            continue;
        }
        count[index] = 0;
        ready_queue_fill(&items[tail++ & mask], index, (uint32_t)later, k, off[i], dims);
    }
    queue->len = tail - head;
}

//  Done maps ---------------------------------------------------------------

//  How the upstream blocks of a block of a task with a done map stand,
//  once the block at k (one of them) is resolved: whether another one is
//  resolved (then the block waited already), one is not (it waits now),
//  and one failed.
typedef struct {
    bool others, open, failed;
} upstream_t;

static inline void
look_up(donemap_t *done, const int64_t *p, uint64_t level, upstream_t *s)
{
    int state = donemap_get(done, p, level);
    s->open |= state == DONEMAP_WAITING;
    s->others |= state != DONEMAP_WAITING;
    s->failed |= state == DONEMAP_FAILED;
}

//  Block (task, index) at q, of level `later`, as its upstream blocks
//  stand (s): ready, or orphaned, when none is open, else waiting; the
//  tally of waiting blocks follows.
static inline void
settle(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *q,
       uint64_t later, const upstream_t *s)
{
    if (s->open) {
        self->done_waiting += !s->others;
        return;
    }
    self->done_waiting -= s->others;
    report(self, task, index, q, (uint32_t)later, s->failed || !self->current_ok);
}

//  release_conflicts_done near the edges of the grid, or for a task
//  without cached combinations: downstream and upstream blocks listed.
static __attribute__((noinline)) void
release_conflicts_listed(daisy_resolver_t *self, uint32_t task, const int64_t *k,
                         uint64_t at, uint64_t later)
{
    const graph_task_t *u = &self->graph->tasks[task];
    int64_t q[GRAPH_MAX_CONFLICTS][D], up[GRAPH_MAX_CONFLICTS][D];
    uint64_t index[GRAPH_MAX_CONFLICTS], upindex[GRAPH_MAX_CONFLICTS];
    int n = graph_conflict_blocks(u, k, at, later, -1, q, index);
    for (int i = 0; i < n; i++) {
        upstream_t s = {false, false, false};
        int m = graph_conflict_blocks(u, q[i], index[i], later, 1, up, upindex);
        for (int j = 0; j < m && !(s.open && s.others); j++)
            if (upindex[j] != at)
                look_up(self->done[task], up[j], later - 1, &s);
        settle(self, task, index[i], q[i], later, &s);
    }
}

//  release_conflicts_done away from the edges: the blocks of level
//  `later` at the task's cached combinations of offsets from k, and the
//  blocks each waits for at the same offsets from it; for `dims`
//  dimensions (with a constant, the loops unroll).
static inline __attribute__((always_inline)) void
release_combos(daisy_resolver_t *self, uint32_t task, const int64_t *k, uint64_t at,
               uint64_t later, const graph_conflict_t *c, int dims)
{
    const graph_task_t *u = &self->graph->tasks[task];
    const int64_t (*off)[D] = (const int64_t (*)[D])&u->combo[c->first];
    const uint64_t *delta = &u->combo_delta[c->first];
    donemap_t *done = self->done[task];
    for (uint64_t i = 0; i < c->all; i++) {
        int64_t q[D] = {0}, p[D] = {0};   //  zero past dims: positions travel whole
        upstream_t s = {false, false, false};
        for (int d = 0; d < dims; d++)
            q[d] = k[d] - off[i][d];
        for (uint64_t j = 0; j < c->all && !(s.open && s.others); j++) {
            if (j == i)
                continue;   //  the block at k
            for (int d = 0; d < dims; d++)
                p[d] = q[d] + off[j][d];
            look_up(done, p, later - 1, &s);
        }
        settle(self, task, at - delta[i], q, later, &s);
    }
}

//  The block at k (index `at`) of a task with a done map was resolved
//  (its bit set): each block of level `later` that conflicts with it is
//  ready, or orphaned, if the blocks it waits for are all resolved now.
//  Only this resolution, its last, finds them so: each is reported once.
//  Away from the edges, the task's cached combinations of offsets. Not
//  inlined into propagate: counting tasks do not carry its code.
static __attribute__((noinline)) void
release_conflicts_done(daisy_resolver_t *self, uint32_t task, const int64_t *k, uint64_t at,
                       uint64_t later)
{
    const graph_task_t *u = &self->graph->tasks[task];
    const graph_conflict_t *c = u->conflicts ? &u->conflicts[later] : NULL;
    const interior_t *in = &self->interior[task];
    bool inside = c && c->first != UINT32_MAX;
    for (int d = 0; inside && d < u->dims; d++)
        inside = (uint64_t)(k[d] - in->deep_lo[d]) < in->deep_span[d];
    if (!inside)
        return release_conflicts_listed(self, task, k, at, later);
    if (u->dims == 3)
        return release_combos(self, task, k, at, later, c, 3);
    release_combos(self, task, k, at, later, c, u->dims);
}

static void count_down_readers(daisy_resolver_t *self, const graph_task_t *u,
                               const int64_t *k);

//  The block at k of `task` was resolved: count down the blocks of its
//  task's next level that conflict with it, then the blocks of
//  downstream tasks that read it (graph_each_downstream's order).
static void
propagate(daisy_resolver_t *self, uint32_t task, uint64_t at, const int64_t *k, uint64_t level)
{
    const graph_task_t *u = &self->graph->tasks[task];
    if (level == UINT64_MAX)
        level = graph_level_of(u, k);
    if (__builtin_expect(self->done[task] != NULL, 0)) {
        //  Out of the way of counting tasks: one test for them.
        if (donemap_set(self->done[task], k, level, !self->current_ok) != 0)
            self->oom = true;
        if (level + 1 < u->levels)
            release_conflicts_done(self, task, k, at, level + 1);
    } else if (level + 1 < u->levels) {
        count_down_conflicts(self, task, k, at, level + 1);
    }
    if (u->n_down > 0)
        count_down_readers(self, u, k);
}

//  The blocks of downstream tasks that read the block at k of u, task by
//  task (graph_each_downstream's order). Out of line: usual_readers calls
//  it too.
static __attribute__((noinline)) void
count_down_readers(daisy_resolver_t *self, const graph_task_t *u, const int64_t *k)
{
    for (uint32_t i = 0; i < u->n_down; i++) {
        const graph_readers_t *r = &u->readers[i];
        countmap_t *map = self->counts[u->down[i]];
        if (map && map->dense && r->width <= 8 && whole_box(r, k, u->dims)) {
            count_down_whole_box(self, map, u->down[i], r, k, u->dims);
            continue;
        }
        int64_t lo[D] = {0}, hi[D] = {0};
        if (graph_reader_box(self->graph, u, i, k, lo, hi))
            count_down_box(self, u->down[i], lo, hi);
    }
}

void
resolver_set_queue(daisy_resolver_t *self, uint32_t task, ready_queue_t *queue)
{
    const graph_task_t *v = &self->graph->tasks[task];
    bool dense = self->counts[task] && self->counts[task]->dense;
    self->queue[task] = queue;
    self->usual[task] = v->levels == 1 || (dense && v->combo) ? queue : NULL;
}

void
resolver_set_output(daisy_resolver_t *self, resolver_fn *fn, void *arg)
{
    self->fn = fn;
    self->arg = arg;
}

//  resolver_resolve for any block: at k (NULL: worked out here), then
//  the orphans found on the way, in turn (rare: only after a failure).
//  Out of line, away from the usual case's small frame.
static __attribute__((noinline)) int
resolve_rest(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k,
             uint64_t level, bool ok)
{
    self->nwork = 0;
    int64_t pos[D];   //  zeroed where used: positions are zero past dims
    if (!k) {
        memset(pos, 0, sizeof pos);
        graph_unflatten(&self->graph->tasks[task], index, pos);
        k = pos;
        level = UINT64_MAX;
    }
    //  One call of propagate, which is then inlined.
    for (;;) {
        self->current_ok = ok;
        self->fail_flag = ok ? 0 : COUNTMAP_FLAG;
        propagate(self, task, index, k, level);
        if (self->nwork == 0 || self->oom)
            break;
        work_t item = self->work[--self->nwork];
        task = item.ref.task;
        index = item.ref.index;
        ok = item.ok;
        memset(pos, 0, sizeof pos);
        graph_unflatten(&self->graph->tasks[task], index, pos);
        k = pos;
        level = UINT64_MAX;
    }
    return self->oom ? -1 : 0;
}

//  Whether every combination of offsets of level `later` (c) from k lies
//  in the grid, in `dims` dimensions: one test per dimension.
static inline __attribute__((always_inline)) bool
combos_inside(const graph_conflict_t *c, const int64_t *k, int dims)
{
    bool inside = true;
    for (int d = 0; d < dims; d++)   //  without a branch per test
        inside &= (uint64_t)(k[d] - c->down_lo[d]) < c->down_span[d];
    return inside;
}

//  The usual block's readers in downstream tasks, after its conflict step
//  (none is orphaned: no block has failed); resolver_resolve_done's
//  result. Out of line and called last, so that resolver_resolve_done
//  keeps nothing across a call.
static __attribute__((noinline)) int
usual_readers(daisy_resolver_t *self, const graph_task_t *u, const int64_t *k)
{
    if (u->n_down > 0) {
        self->current_ok = true;
        self->fail_flag = 0;
        count_down_readers(self, u, k);
    }
    return self->oom ? -1 : 0;
}

//  The usual block near an edge of the grid (a few per cent of them):
//  combos_down with each combination tested, then usual_readers. Out of
//  line, away from the usual loop.
static __attribute__((noinline)) int
usual_edge(daisy_resolver_t *self, uint32_t task, const graph_task_t *u, ready_queue_t *queue,
           const int64_t *k, uint64_t at, uint64_t later)
{
    if (u->dims == 3)
        combos_down(self, task, u, queue, k, at, later, 3, false);
    else
        combos_down(self, task, u, queue, k, at, later, u->dims, false);
    return usual_readers(self, u, k);
}

//  The usual block: resolved successfully, position and level at hand, of
//  a task whose blocks may take the usual path (usual[task]), when no
//  block has failed yet (so no count carries the failed flag, and no
//  block it reaches is orphaned) and its queue has room for every block
//  its conflict step may make ready. Its conflict step is combos_down,
//  and every call is a tail call, so that this frame saves little; the
//  others in resolve_rest.
int
resolver_resolve_done(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k,
                      uint64_t level)
{
    ready_queue_t *queue = self->usual[task];
    if (__builtin_expect(self->any_failed || !queue, 0))
        return resolve_rest(self, task, index, k, level, true);
    const graph_task_t *u = &self->graph->tasks[task];
    if (level + 1 < u->levels) {   //  not the last level: a conflict step
        const graph_conflict_t *c = &u->conflicts[level + 1];
        if (!queue->items || queue->mask + 1 - queue->len < c->all)
            return resolve_rest(self, task, index, k, level, true);
        if (u->dims == 3 ? !combos_inside(c, k, 3) : !combos_inside(c, k, u->dims))
            return usual_edge(self, task, u, queue, k, index, level + 1);
        if (u->dims == 3)
            combos_down(self, task, u, queue, k, index, level + 1, 3, true);
        else
            combos_down(self, task, u, queue, k, index, level + 1, u->dims, true);
    }
    return u->n_down == 0 ? 0 : usual_readers(self, u, k);
}

int
resolver_resolve(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k,
                 uint64_t level, bool ok)
{
    self->any_failed |= !ok;
    if (!k || level == UINT64_MAX || !ok)
        return resolve_rest(self, task, index, k, level, ok);
    return resolver_resolve_done(self, task, index, k, level);
}

typedef struct {
    daisy_resolver_fn *fn;
    void *arg;
} public_fn_t;

static void
call_public(void *arg, uint32_t task, uint64_t index, const int64_t *k, uint32_t level,
            bool ready)
{
    public_fn_t *p = arg;
    (void)k;
    (void)level;
    p->fn(p->arg, (daisy_block_ref_t){.task = task, .index = index}, ready);
}

int
daisy_resolver_resolve(daisy_resolver_t *self, daisy_block_ref_t ref, bool ok,
                       daisy_resolver_fn *fn, void *arg)
{
    public_fn_t p = {fn, arg};
    resolver_set_output(self, call_public, &p);
    int rc = resolver_resolve(self, ref.task, ref.index, NULL, UINT64_MAX, ok);
    resolver_set_output(self, NULL, NULL);   //  `p` ends here
    return rc;
}

size_t
daisy_resolver_waiting(const daisy_resolver_t *self)
{
    size_t n = blockmap_size(self->waiting) + self->done_waiting;
    for (uint32_t t = 0; t < self->graph->ntasks; t++)
        n += self->counts[t] ? countmap_size(self->counts[t]) : 0;
    return n;
}
