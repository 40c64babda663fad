/*  graph.c - daisy's block graph as arithmetic on grid positions

    Python daisy enumerates blocks and asks, block by block, which exist and
    which conflict. Here every question is answered from a task's handful of
    numbers: the grid shape under its fit, the level stride, the context.
    Nothing is stored per block, so a graph of 10^12 blocks is built in
    constant time and memory, and the resolver asks for the neighbours of
    one block at a time.

    The rules are daisy 1.x's (checked against its plans in
    shared/reference): levels are the offsets inside one level stride in
    descending lexicographic order; a block of level L waits for the blocks
    of level L-1 at the conflict offsets; a block of a downstream task waits
    for the upstream blocks whose grid cells meet its (fitted) read ROI
    inside the upstream total write ROI. Downstream is derived from the same
    two rules run backwards, so the two relations are exact inverses.
    A task's write grid (this project's addition) only widens the level
    stride, so that blocks of one level never write into one cell of it.

    The scheduler asks these questions for every block, so they are cheap:
    grid positions are handed to every visitor along with the index, the
    divisions by a task's grid shape and level stride are multiplications
    by reciprocals fixed here (fastdiv.h), the conflict offsets between
    consecutive levels are a table built with the graph, and the blocks of
    a downstream task that read a block are found in closed form (the
    inverse of graph_cross_range, solved for the position); when the
    upstream write shape is a multiple of the downstream one, that form is
    a multiplication and two constants fixed here (graph_readers_t), and
    away from the edges, where that box is never cut, its first block's
    index is a dot product and its rows lie at offsets fixed here too.
*/
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t
ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

//  floor(a / b) and ceil(a / b) for b > 0 through f, the divider of b: a
//  multiplication for a >= 0 (the usual case), a division otherwise.
static int64_t
floor_by(int64_t a, int64_t b, fastdiv_t f)
{
    return a >= 0 ? (int64_t)fastdiv_div(f, (uint64_t)a) : floor_div(a, b);
}

static int64_t
ceil_by(int64_t a, int64_t b, fastdiv_t f)
{
    return a > 0 ? (int64_t)fastdiv_div(f, (uint64_t)a - 1) + 1 : -floor_div(-a, b);
}

static void conflict_table(const graph_task_t *t, uint64_t later, graph_conflict_t *c);
static int combinations(const graph_task_t *t, int64_t (*c)[2], const int *nc, int64_t (*q)[D],
                        uint64_t *index);

//  Every level's combinations of conflict offsets with their index
//  offsets, for blocks away from the edges of the grid, when they are few.
static int
combo_cache(graph_task_t *t, daisy_error_t *err)
{
    uint64_t total = 0;
    for (uint64_t level = 1; level < t->levels; level++) {
        t->conflicts[level].first = UINT32_MAX;
        total += t->conflicts[level].all;
    }
    if (total == 0 || total > GRAPH_COMBO_CACHE)
        return 0;
    t->combo = calloc(total, sizeof *t->combo);
    t->combo_delta = calloc(total, sizeof *t->combo_delta);
    if (!t->combo || !t->combo_delta)
        return daisy_error_set(err, "out of memory");
    uint32_t first = 0;
    for (uint64_t level = 1; level < t->levels; level++) {
        graph_conflict_t *c = &t->conflicts[level];
        //  The offsets as positions: combinations of them from a zero
        //  index, so the "indices" are the index offsets (mod 2^64).
        int n = combinations(t, c->cand, c->ncand, &t->combo[first], &t->combo_delta[first]);
        c->first = first;
        first += (uint32_t)n;
    }
    return 0;
}

//  What every block needs and depends only on the task: reciprocals of
//  the grid shape and level stride, the level-0 offset, and the conflict
//  offsets of every level when there are not too many levels.
static int
task_cache(graph_task_t *t, daisy_error_t *err)
{
    for (int d = 0; d < t->dims; d++) {
        t->div_n[d] = fastdiv_make(t->n[d] > 0 ? (uint64_t)t->n[d] : 1);
        t->div_m[d] = fastdiv_make((uint64_t)t->m[d]);
        t->div_ws[d] = fastdiv_make((uint64_t)t->ws[d]);
    }
    for (int d = t->dims - 1; d >= 0; d--)
        t->stride[d] = d == t->dims - 1 ? 1 : t->stride[d + 1] * (uint64_t)t->n[d + 1];
    t->m_pow2 = true;
    for (int d = 0; d < t->dims; d++)
        t->m_pow2 &= (t->m[d] & (t->m[d] - 1)) == 0;
    for (int d = t->dims - 1, shift = 0; t->m_pow2 && d >= 0; d--) {
        t->m_shift[d] = (unsigned)shift;
        shift += __builtin_ctzll((uint64_t)t->m[d]);
    }
    graph_level_offset(t, 0, t->level0);
    if (t->levels > GRAPH_LEVEL_CACHE)
        return 0;
    t->conflicts = calloc(t->levels, sizeof *t->conflicts);
    if (!t->conflicts)
        return daisy_error_set(err, "out of memory");
    for (uint64_t level = 1; level < t->levels; level++)
        conflict_table(t, level, &t->conflicts[level]);
    return combo_cache(t, err);
}

//  Along one dimension, whether some pair of blocks j apart (write ROIs of
//  width ws from tw, n of them) meets a common cell of the write grid
//  (cells of width g from o). Block k covers the points [a, a + ws), a =
//  tw + k * ws; the pair shares a cell when the cell of its last point is
//  not before the cell of the first point of block k + j. The pattern
//  repeats every g / gcd(g, ws) blocks.
static bool
cells_shared(int64_t tw, int64_t ws, int64_t n, int64_t o, int64_t g, int64_t j, int64_t period)
{
    for (int64_t k = 0; k < period && k + j < n; k++) {
        int64_t a = tw + k * ws;
        if (floor_div(a + ws - 1 - o, g) >= floor_div(a + j * ws - o, g))
            return true;
    }
    return false;
}

static int64_t
gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

//  The least level stride along dimension d at which blocks of one level
//  (j >= stride apart) never share a write-grid cell. Sharing at distance
//  j implies sharing at j - 1 (the cell spans the block between), so the
//  first j without sharing is the answer; (j - 1) * ws >= g - 1 never
//  shares, which bounds the search (and is the answer when the pattern is
//  too long to walk).
static int64_t
write_grid_stride(const graph_task_t *t, const daisy_roi_t *grid, int d)
{
    int64_t ws = t->ws[d], g = grid->shape[d], o = grid->offset[d];
    int64_t bound = 1 + ceil_div(g - 1, ws);
    int64_t period = g / gcd64(g, ws);
    if (period > (1 << 16) || bound > (1 << 16) || ws > ((int64_t)1 << 40))
        return bound;
    for (int64_t j = 1; j < bound; j++)
        if (!cells_shared(t->tw_begin[d], ws, t->n[d], o, g, j, period))
            return j;
    return bound;
}

//  Set up one task's numbers; -1 when its grid cannot be counted in 63 bits.
static int
task_init(graph_task_t *t, const daisy_task_t *task, daisy_error_t *err)
{
    daisy_roi_t total = daisy_task_total_roi(task);
    daisy_roi_t read = daisy_task_read_roi(task);
    daisy_roi_t write = daisy_task_write_roi(task);
    t->id = daisy_task_id(task);
    t->dims = total.dims;
    t->fit = daisy_task_fit(task);
    t->conflict = daisy_task_read_write_conflict(task);
    daisy_roi_t grid = daisy_task_write_grid(task);
    t->total = 1;
    t->levels = 1;
    for (int d = 0; d < t->dims; d++) {
        int64_t ctx_lo = write.offset[d] - read.offset[d];
        int64_t ctx_hi = (read.offset[d] + read.shape[d]) - (write.offset[d] + write.shape[d]);
        int64_t ws = write.shape[d];
        t->ws[d] = ws;
        t->rs[d] = read.shape[d];
        t->ctx_lo[d] = ctx_lo;
        t->tr_begin[d] = total.offset[d];
        t->tr_end[d] = total.offset[d] + total.shape[d];
        t->tw_begin[d] = t->tr_begin[d] + ctx_lo;
        //  A total ROI smaller than the context leaves an empty total write
        //  ROI and no block (daisy 1.x plans such a task with 0 blocks).
        t->tw_end[d] = max64(t->tr_end[d] - ctx_hi, t->tw_begin[d]);
        int64_t extent = t->tw_end[d] - t->tw_begin[d];
        t->n[d] = t->fit == DAISY_FIT_VALID ? extent / ws : ceil_div(extent, ws);
        //  daisy's id counts from the total (read) ROI, not the write ROI.
        t->id_shift[d] = floor_div(ctx_lo, ws);
        //  A task may have no block at all (a write ROI larger than the
        //  total write ROI under `valid`); daisy accepts it, and so do we.
        //  The level stride: blocks of one level must neither read what
        //  another writes (read/write conflicts) nor write into a cell of
        //  the write grid that another writes into.
        int64_t m = 1;
        if (t->conflict)
            m = ceil_div(max64(ctx_lo, ctx_hi) + ws, ws);
        if (grid.dims == t->dims)
            m = max64(m, write_grid_stride(t, &grid, d));
        m = max64(1, min64(m, t->n[d]));
        t->m[d] = m;
        if (__builtin_mul_overflow(t->total, (uint64_t)t->n[d], &t->total)
            || t->total > (uint64_t)INT64_MAX)
            return daisy_error_set(err, "task '%s': more than 2^63 blocks", t->id);
        if (__builtin_mul_overflow(t->levels, (uint64_t)m, &t->levels))
            return daisy_error_set(err, "task '%s': more than 2^64 levels", t->id);
    }
    return task_cache(t, err);
}

static void readers_of(const graph_task_t *v, const graph_task_t *u, graph_readers_t *r);
static void whole_boxes(const graph_task_t *v, const graph_task_t *u, graph_readers_t *r);

//  The closed forms of the readers of u's blocks, per downstream task.
static int
reader_cache(daisy_graph_t *g, graph_task_t *u, daisy_error_t *err)
{
    u->readers = calloc(u->n_down ? u->n_down : 1, sizeof *u->readers);
    if (!u->readers)
        return daisy_error_set(err, "out of memory");
    for (uint32_t i = 0; i < u->n_down; i++) {
        readers_of(&g->tasks[u->down[i]], u, &u->readers[i]);
        whole_boxes(&g->tasks[u->down[i]], u, &u->readers[i]);
    }
    return 0;
}

//  Record upstream and downstream task positions by id.
static int
link_tasks(daisy_graph_t *g, daisy_error_t *err)
{
    const daisy_pipeline_t *p = g->pipeline;
    for (uint32_t v = 0; v < g->ntasks; v++) {
        const daisy_task_t *task = daisy_pipeline_task(p, v);
        size_t n_up = daisy_task_upstream_count(task);
        g->tasks[v].up = calloc(n_up + 1, sizeof(uint32_t));
        g->tasks[v].down = calloc(g->ntasks + 1, sizeof(uint32_t));
        if (!g->tasks[v].up || !g->tasks[v].down)
            return daisy_error_set(err, "out of memory");
    }
    for (uint32_t v = 0; v < g->ntasks; v++) {
        const daisy_task_t *task = daisy_pipeline_task(p, v);
        for (size_t i = 0; i < daisy_task_upstream_count(task); i++) {
            int u = daisy_pipeline_find(p, daisy_task_upstream(task, i));
            if (u < 0)
                return daisy_error_set(err, "task '%s': unknown upstream task '%s'",
                                       daisy_task_id(task), daisy_task_upstream(task, i));
            graph_task_t *up = &g->tasks[u];
            g->tasks[v].up[g->tasks[v].n_up++] = (uint32_t)u;
            up->down[up->n_down++] = v;
        }
    }
    return 0;
}

daisy_graph_t *
daisy_graph_new(const daisy_pipeline_t *pipeline, daisy_error_t *err)
{
    if (daisy_pipeline_validate(pipeline, err) != 0)
        return NULL;
    daisy_graph_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pipeline = pipeline;
    self->ntasks = (uint32_t)daisy_pipeline_size(pipeline);
    self->tasks = calloc(self->ntasks ? self->ntasks : 1, sizeof(graph_task_t));
    int rc = self->tasks ? 0 : daisy_error_set(err, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < self->ntasks; i++)
        rc = task_init(&self->tasks[i], daisy_pipeline_task(pipeline, i), err);
    if (rc == 0)
        rc = link_tasks(self, err);
    for (uint32_t i = 0; rc == 0 && i < self->ntasks; i++)
        rc = reader_cache(self, &self->tasks[i], err);
    if (rc != 0)
        daisy_graph_destroy(&self);
    return self;
}

void
daisy_graph_destroy(daisy_graph_t **self_p)
{
    daisy_graph_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (uint32_t i = 0; self->tasks && i < self->ntasks; i++) {
        free(self->tasks[i].up);
        free(self->tasks[i].down);
        free(self->tasks[i].readers);
        free(self->tasks[i].conflicts);
        free(self->tasks[i].combo);
        free(self->tasks[i].combo_delta);
    }
    free(self->tasks);
    free(self);
    *self_p = NULL;
}

//  Grid positions ---------------------------------------------------------

//  `index` must lie in the grid (below total): what is left after the
//  other dimensions is the first coordinate, without a division.
void
graph_unflatten(const graph_task_t *t, uint64_t index, int64_t *k)
{
    for (int d = t->dims - 1; d > 0; d--) {
        uint64_t q = fastdiv_div(t->div_n[d], index);
        k[d] = (int64_t)(index - q * (uint64_t)t->n[d]);
        index = q;
    }
    k[0] = (int64_t)index;
}

uint64_t
graph_flatten(const graph_task_t *t, const int64_t *k)
{
    uint64_t index = 0;
    for (int d = 0; d < t->dims; d++)
        index = index * (uint64_t)t->n[d] + (uint64_t)k[d];
    return index;
}

//  Levels: the lexicographic rank of a block's offset inside one stride,
//  counted from the largest offset down.
uint64_t
graph_level_of(const graph_task_t *t, const int64_t *k)
{
    uint64_t rank = 0;
    if (t->m_pow2) {
        for (int d = 0; d < t->dims; d++)
            rank |= ((uint64_t)k[d] & (uint64_t)(t->m[d] - 1)) << t->m_shift[d];
        return t->levels - 1 - rank;
    }
    for (int d = 0; d < t->dims; d++) {
        uint64_t q = fastdiv_div(t->div_m[d], (uint64_t)k[d]);
        rank = rank * (uint64_t)t->m[d] + ((uint64_t)k[d] - q * (uint64_t)t->m[d]);
    }
    return t->levels - 1 - rank;
}

void
graph_level_offset(const graph_task_t *t, uint64_t level, int64_t *o)
{
    uint64_t rank = t->levels - 1 - level;
    for (int d = t->dims - 1; d >= 0; d--) {
        o[d] = (int64_t)(rank % (uint64_t)t->m[d]);
        rank /= (uint64_t)t->m[d];
    }
}

//  Blocks of a level along dimension d: positions o, o + m, ... below n.
static int64_t
level_extent(const graph_task_t *t, const int64_t *o, int d)
{
    return ceil_div(t->n[d] - o[d], t->m[d]);
}

//  Conflicts inside a task ----------------------------------------------

//  Candidate offsets (in blocks) along one dimension from a block of one
//  level to the conflicting blocks of the level before it, daisy's rule.
static int
conflict_candidates(int64_t delta, int64_t m, int64_t *c)
{
    if (delta == 0) {
        c[0] = 0;
        return 1;
    }
    c[0] = delta < 0 ? delta : delta - m;
    c[1] = delta < 0 ? delta + m : delta;
    return 2;
}

//  The offsets from a block of level `later` (>= 1) to the blocks of
//  level later - 1 it conflicts with.
static void
conflict_table(const graph_task_t *t, uint64_t later, graph_conflict_t *c)
{
    int64_t o_later[D], o_earlier[D];
    graph_level_offset(t, later, o_later);
    graph_level_offset(t, later - 1, o_earlier);
    c->all = 1;
    c->first = UINT32_MAX;
    for (int d = 0; d < t->dims; d++) {
        c->ncand[d] = conflict_candidates(o_earlier[d] - o_later[d], t->m[d], c->cand[d]);
        c->reach_lo[d] = c->cand[d][0];
        c->reach_hi[d] = c->cand[d][c->ncand[d] - 1];
        c->down_lo[d] = c->reach_hi[d];
        c->down_span[d] = (uint64_t)max64(0, t->n[d] + c->reach_lo[d] - c->reach_hi[d]);
        c->all *= (uint64_t)c->ncand[d];
    }
}

//  The cached table, or `scratch` filled in when levels are not cached.
static const graph_conflict_t *
conflicts_of(const graph_task_t *t, uint64_t later, graph_conflict_t *scratch)
{
    if (t->conflicts)
        return &t->conflicts[later];
    conflict_table(t, later, scratch);
    return scratch;
}

//  Every combination of the per-dimension coordinates c[d][0..nc[d]), the
//  first dimension changing fastest (the order daisy_graph_upstream has
//  always listed conflicts in), into q and index. Indices follow by
//  adding strides.
static int
combinations(const graph_task_t *t, int64_t (*c)[2], const int *nc, int64_t (*q)[D],
             uint64_t *index)
{
    int pick[D] = {0};
    int64_t k[D] = {0};
    for (int d = 0; d < t->dims; d++)
        k[d] = c[d][0];
    uint64_t at = graph_flatten(t, k);
    for (int n = 0;; n++) {
        for (int d = 0; d < D; d++)   //  all D, a fixed copy the compiler inlines
            q[n][d] = k[d];
        index[n] = at;
        int d = 0;
        while (d < t->dims && ++pick[d] == nc[d]) {
            pick[d] = 0;
            at -= (uint64_t)(k[d] - c[d][0]) * t->stride[d];
            k[d] = c[d][0];
            d++;
        }
        if (d == t->dims)
            return n + 1;
        at += (uint64_t)(c[d][pick[d]] - k[d]) * t->stride[d];
        k[d] = c[d][pick[d]];
    }
}

//  The cached combinations when every one of them lies in the grid.
static int
conflict_blocks_inside(const graph_task_t *t, const graph_conflict_t *c, const int64_t *k,
                       uint64_t at, int sign, int64_t (*q)[D], uint64_t *index)
{
    for (int d = 0; d < t->dims; d++) {
        int64_t a = sign > 0 ? k[d] + c->reach_lo[d] : k[d] - c->reach_hi[d];
        int64_t b = sign > 0 ? k[d] + c->reach_hi[d] : k[d] - c->reach_lo[d];
        if (a < 0 || b >= t->n[d])
            return -1;
    }
    const int64_t (*off)[D] = (const int64_t (*)[D])&t->combo[c->first];
    const uint64_t *delta = &t->combo_delta[c->first];
    for (uint64_t i = 0; i < c->all; i++) {
        for (int d = 0; d < D; d++)   //  positions are whole, zero past dims
            q[i][d] = d < t->dims ? k[d] + sign * off[i][d] : 0;
        index[i] = sign > 0 ? at + delta[i] : at - delta[i];
    }
    return (int)c->all;
}

int
graph_conflict_blocks(const graph_task_t *t, const int64_t *k, uint64_t at, uint64_t later,
                      int sign, int64_t (*q)[D], uint64_t *index)
{
    graph_conflict_t scratch;
    const graph_conflict_t *c = conflicts_of(t, later, &scratch);
    int n = c->first != UINT32_MAX ? conflict_blocks_inside(t, c, k, at, sign, q, index) : -1;
    if (n >= 0)
        return n;
    //  Near an edge: the candidates inside the grid, per dimension.
    int64_t coord[D][2];
    int ncoord[D];
    for (int d = 0; d < t->dims; d++) {
        ncoord[d] = 0;
        for (int i = 0; i < c->ncand[d]; i++) {
            int64_t x = k[d] + sign * c->cand[d][i];
            if (x >= 0 && x < t->n[d])
                coord[d][ncoord[d]++] = x;
        }
        if (ncoord[d] == 0)
            return 0;
    }
    return combinations(t, coord, ncoord, q, index);
}

//  Visit the blocks graph_conflict_blocks lists.
static void
each_conflict(const daisy_graph_t *g, uint32_t task, const int64_t *k,
              uint64_t later, int sign, graph_visit_fn *fn, void *arg)
{
    int64_t q[GRAPH_MAX_CONFLICTS][D];
    uint64_t index[GRAPH_MAX_CONFLICTS];
    int n = graph_conflict_blocks(&g->tasks[task], k, graph_flatten(&g->tasks[task], k), later,
                                  sign, q, index);
    for (int i = 0; i < n; i++)
        fn(arg, task, index[i], q[i]);
}

//  Blocks of level `level - 1` that the block at k conflicts with.
static uint64_t
conflict_count(const graph_task_t *t, const int64_t *k, uint64_t level)
{
    graph_conflict_t scratch;
    const graph_conflict_t *c = conflicts_of(t, level, &scratch);
    bool inside = true;
    for (int d = 0; d < t->dims; d++)
        inside &= k[d] + c->reach_lo[d] >= 0 && k[d] + c->reach_hi[d] < t->n[d];
    if (inside)
        return c->all;
    uint64_t n = 1;
    for (int d = 0; d < t->dims; d++) {
        int exist = 0;
        for (int i = 0; i < c->ncand[d]; i++)
            exist += k[d] + c->cand[d][i] >= 0 && k[d] + c->cand[d][i] < t->n[d];
        n *= (uint64_t)exist;
    }
    return n;
}

//  Dependencies between tasks ---------------------------------------------

void
graph_cross_range(const graph_task_t *v, const graph_task_t *u, int d,
                  int64_t kd, int64_t *a, int64_t *b)
{
    int64_t rb = v->tr_begin[d] + kd * v->ws[d];
    int64_t re = rb + v->rs[d];
    if (v->fit == DAISY_FIT_SHRINK)
        re = min64(re, v->tr_end[d]);
    if (rb >= u->tw_end[d]) {
        *a = *b = u->n[d];
        return;
    }
    if (re <= u->tw_begin[d]) {
        *a = *b = 0;
        return;
    }
    int64_t lo = max64(rb, u->tw_begin[d]) - u->tw_begin[d];
    int64_t hi = min64(re, u->tw_end[d]) - u->tw_begin[d];
    *b = min64(ceil_by(hi, u->ws[d], u->div_ws[d]), u->n[d]);
    *a = min64(floor_by(lo, u->ws[d], u->div_ws[d]), *b);
}

static int64_t
clamp64(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

//  The inverse of graph_cross_range along dimension d: the positions
//  [*lo, *hi) of v whose range of u holds position p of u. With rb and re
//  the read ROI of v's block at kd (re cut to v's total ROI under shrink,
//  and rb < re always), graph_cross_range gives b > p exactly when
//  re > X = u.tw_begin + p u.ws, and a > p exactly when rb >= Y =
//  min(u.tw_end, u.tw_begin + (p + 1) u.ws); both grow with kd, so the
//  first kd of each is a division.
static void
cross_inverse(const graph_task_t *v, const graph_task_t *u, int d, int64_t p,
              int64_t *lo, int64_t *hi)
{
    int64_t x = u->tw_begin[d] + p * u->ws[d];
    if (v->fit == DAISY_FIT_SHRINK && v->tr_end[d] <= x)
        *lo = v->n[d];
    else
        *lo = clamp64(floor_by(x - v->tr_begin[d] - v->rs[d], v->ws[d], v->div_ws[d]) + 1, 0,
                      v->n[d]);
    int64_t y = min64(u->tw_end[d], x + u->ws[d]);
    *hi = clamp64(ceil_by(y - v->tr_begin[d], v->ws[d], v->div_ws[d]), 0, v->n[d]);
}

//  Visit every position of the box [lo, hi) of task `task`.
static void
each_in_box(const daisy_graph_t *g, uint32_t task, const int64_t *lo,
            const int64_t *hi, graph_visit_fn *fn, void *arg)
{
    const graph_task_t *t = &g->tasks[task];
    int64_t q[D];
    for (int d = 0; d < t->dims; d++) {
        if (lo[d] >= hi[d])
            return;
        q[d] = lo[d];
    }
    uint64_t row = graph_flatten(t, q);   //  index of q with the last dimension at lo
    int last = t->dims - 1;
    for (;;) {
        for (q[last] = lo[last]; q[last] < hi[last]; q[last]++)
            fn(arg, task, row + (uint64_t)(q[last] - lo[last]), q);
        q[last] = lo[last];
        int d = last - 1;
        while (d >= 0 && ++q[d] == hi[d]) {
            q[d] = lo[d];
            d--;
        }
        if (d < 0)
            return;
        row = graph_flatten(t, q);
    }
}

void
graph_each_upstream(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                    graph_visit_fn *fn, void *arg)
{
    const graph_task_t *v = &g->tasks[task];
    uint64_t level = graph_level_of(v, k);
    if (level > 0)
        each_conflict(g, task, k, level, 1, fn, arg);
    for (uint32_t i = 0; i < v->n_up; i++) {
        const graph_task_t *u = &g->tasks[v->up[i]];
        int64_t lo[D], hi[D];
        for (int d = 0; d < v->dims; d++)
            graph_cross_range(v, u, d, k[d], &lo[d], &hi[d]);
        each_in_box(g, v->up[i], lo, hi, fn, arg);
    }
}

//  cross_inverse in closed form (graph_readers_t). With x = u.tw_begin +
//  p u.ws and u.ws = ratio v.ws, the floor and ceiling cross_inverse
//  takes are p ratio plus the floor and ceiling of a constant, as long as
//  x + u.ws <= u.tw_end (y = x + u.ws) and, under shrink, x < v.tr_end.
static void
readers_of(const graph_task_t *v, const graph_task_t *u, graph_readers_t *r)
{
    r->fast = v->dims == u->dims;
    for (int d = 0; r->fast && d < u->dims; d++) {
        r->fast = u->ws[d] % v->ws[d] == 0;
        r->ratio[d] = u->ws[d] / v->ws[d];
        r->lo0[d] = floor_div(u->tw_begin[d] - v->tr_begin[d] - v->rs[d], v->ws[d]) + 1;
        r->hi0[d] = ceil_div(u->tw_begin[d] + u->ws[d] - v->tr_begin[d], v->ws[d]);
        r->pmax[d] = floor_div(u->tw_end[d] - u->tw_begin[d], u->ws[d]);
        if (v->fit == DAISY_FIT_SHRINK)
            r->pmax[d] = min64(r->pmax[d], ceil_div(v->tr_end[d] - u->tw_begin[d], u->ws[d]));
    }
}

//  Where the closed form's box is whole (graph_readers_t): p with
//  p ratio + lo0 >= 0, p ratio + hi0 <= v.n and p < pmax in every
//  dimension, and the offsets of its rows from its first block.
static void
whole_boxes(const graph_task_t *v, const graph_task_t *u, graph_readers_t *r)
{
    r->rows = 0;
    if (!r->fast)
        return;
    uint64_t rows = 1;
    int64_t shape[D] = {0};
    r->row_base = 0;
    for (int d = 0; d < u->dims; d++) {
        shape[d] = r->hi0[d] - r->lo0[d];
        int64_t lo = r->lo0[d] < 0 ? ceil_div(-r->lo0[d], r->ratio[d]) : 0;
        int64_t hi = min64(r->pmax[d], floor_div(v->n[d] - r->hi0[d], r->ratio[d]) + 1);
        if (shape[d] <= 0 || hi <= lo)
            return;
        r->in_lo[d] = lo;
        r->in_span[d] = (uint64_t)(hi - lo);
        r->row_step[d] = (uint64_t)r->ratio[d] * v->stride[d];
        r->row_base += (uint64_t)r->lo0[d] * v->stride[d];
        if (d < u->dims - 1)
            rows *= (uint64_t)shape[d];
        if (rows > GRAPH_BOX_ROWS)
            return;
    }
    int last = u->dims - 1;
    r->width = shape[last];
    //  The rows in odometer order over the dimensions before the last.
    int64_t i[D] = {0};
    for (uint64_t n = 0; n < rows; n++) {
        uint64_t delta = 0;
        for (int d = 0; d < last; d++)
            delta += (uint64_t)i[d] * v->stride[d];
        r->row_delta[n] = delta;
        for (int d = last - 1; d >= 0 && ++i[d] == shape[d]; d--)
            i[d] = 0;
    }
    r->rows = (uint32_t)rows;
}

bool
graph_reader_box(const daisy_graph_t *g, const graph_task_t *u, uint32_t edge,
                 const int64_t *k, int64_t *lo, int64_t *hi)
{
    const graph_task_t *v = &g->tasks[u->down[edge]];
    const graph_readers_t *r = &u->readers[edge];
    bool fast = r->fast;
    for (int d = 0; fast && d < u->dims; d++)
        fast = k[d] < r->pmax[d];
    if (fast) {
        bool any = true;
        for (int d = 0; d < u->dims; d++) {
            lo[d] = clamp64(k[d] * r->ratio[d] + r->lo0[d], 0, v->n[d]);
            hi[d] = clamp64(k[d] * r->ratio[d] + r->hi0[d], 0, v->n[d]);
            any &= lo[d] < hi[d];
        }
        return any;
    }
    for (int d = 0; d < u->dims; d++) {
        cross_inverse(v, u, d, k[d], &lo[d], &hi[d]);
        if (lo[d] >= hi[d])
            return false;
    }
    return true;
}

void
graph_each_downstream(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                      graph_visit_fn *fn, void *arg)
{
    const graph_task_t *u = &g->tasks[task];
    uint64_t level = graph_level_of(u, k);
    if (level + 1 < u->levels)
        each_conflict(g, task, k, level + 1, -1, fn, arg);
    for (uint32_t i = 0; i < u->n_down; i++) {
        int64_t lo[D], hi[D];
        if (graph_reader_box(g, u, i, k, lo, hi))
            each_in_box(g, u->down[i], lo, hi, fn, arg);
    }
}

void
graph_cross_uniform(const graph_task_t *v, const graph_task_t *u, int d, int64_t *lo,
                    int64_t *hi, uint64_t *count)
{
    //  The range is [floor((rb - u.tw_begin) / u.ws), ceil((re - u.tw_begin)
    //  / u.ws)) while rb >= u.tw_begin, re <= min(u.tw_end, u.tw_begin +
    //  u.n u.ws) and (shrink) re is not cut; rb moves by v.ws, a multiple
    //  of u.ws, so both ends move alike.
    int64_t end = min64(u->tw_end[d], u->tw_begin[d] + u->n[d] * u->ws[d]);
    if (v->fit == DAISY_FIT_SHRINK)
        end = min64(end, v->tr_end[d]);
    *lo = max64(0, ceil_div(u->tw_begin[d] - v->tr_begin[d], v->ws[d]));
    *hi = min64(v->n[d], floor_div(end - v->rs[d] - v->tr_begin[d], v->ws[d]) + 1);
    *count = 0;
    if (v->ws[d] % u->ws[d] != 0 || *lo >= *hi) {
        *lo = *hi = 0;
        return;
    }
    int64_t a, b;
    graph_cross_range(v, u, d, *lo, &a, &b);
    *count = (uint64_t)(b - a);
}

uint64_t
graph_upstream_count(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                     const bool *skip)
{
    return graph_upstream_count_at(g, task, k, graph_level_of(&g->tasks[task], k), skip);
}

uint64_t
graph_upstream_count_at(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                        uint64_t level, const bool *skip)
{
    const graph_task_t *v = &g->tasks[task];
    uint64_t count = 0;
    if (level > 0)
        count += conflict_count(v, k, level);
    for (uint32_t i = 0; i < v->n_up; i++) {
        if (skip && skip[v->up[i]])
            continue;
        const graph_task_t *u = &g->tasks[v->up[i]];
        uint64_t n = 1;
        for (int d = 0; d < v->dims && n; d++) {
            int64_t a, b;
            graph_cross_range(v, u, d, k[d], &a, &b);
            n *= (uint64_t)(b - a);
        }
        count += n;
    }
    return count;
}

//  Blocks -----------------------------------------------------------------

void
graph_fill_block(const daisy_graph_t *g, uint32_t task, const int64_t *k, uint64_t index,
                 uint32_t level, daisy_block_t *b)
{
    const graph_task_t *t = &g->tasks[task];
    int64_t id_index[D];
    b->task = task;
    b->task_id = t->id;
    b->index = index;
    b->level = level != UINT32_MAX ? level : (uint32_t)graph_level_of(t, k);
    b->attempt = 0;
    b->error = NULL;
    b->error_size = 0;
    //  Every one of the D entries written once, those past dims as 0: a
    //  fixed trip count the compiler unrolls, where zeroing the rest
    //  separately costs a memset call or a rep stos.
    daisy_roi_t *w = &b->write_roi, *r = &b->read_roi;
    w->dims = r->dims = t->dims;
    for (int d = 0; d < D; d++) {
        if (d >= t->dims) {
            w->offset[d] = w->shape[d] = r->offset[d] = r->shape[d] = 0;
            continue;
        }
        int64_t wb = t->tw_begin[d] + k[d] * t->ws[d];
        int64_t we = wb + t->ws[d];
        int64_t rb = wb - t->ctx_lo[d];
        int64_t re = rb + t->rs[d];
        if (t->fit == DAISY_FIT_SHRINK) {
            we = min64(we, t->tw_end[d]);
            re = min64(re, t->tr_end[d]);
        }
        w->offset[d] = wb;
        w->shape[d] = we - wb;
        r->offset[d] = rb;
        r->shape[d] = re - rb;
        id_index[d] = k[d] + t->id_shift[d];
    }
    //  Grids are checked to count in 63 bits; ids of such grids fit too
    //  except in extreme shapes, where the id saturates.
    if (cantor_number(t->dims, id_index, &b->block_id) != 0)
        b->block_id = UINT64_MAX;
}

//  Public API -------------------------------------------------------------

const daisy_pipeline_t *
daisy_graph_pipeline(const daisy_graph_t *self)
{
    return self->pipeline;
}

uint32_t
daisy_graph_task_count(const daisy_graph_t *self)
{
    return self->ntasks;
}

uint64_t
daisy_graph_block_count(const daisy_graph_t *self, uint32_t task)
{
    return task < self->ntasks ? self->tasks[task].total : 0;
}

daisy_coord_t
daisy_graph_grid_shape(const daisy_graph_t *self, uint32_t task)
{
    const graph_task_t *t = &self->tasks[task];
    return daisy_coord_make(t->dims, t->n);
}

daisy_roi_t
daisy_graph_total_write_roi(const daisy_graph_t *self, uint32_t task)
{
    const graph_task_t *t = &self->tasks[task];
    int64_t shape[D];
    for (int d = 0; d < t->dims; d++)
        shape[d] = t->tw_end[d] - t->tw_begin[d];
    return daisy_roi_make(t->dims, t->tw_begin, shape);
}

daisy_coord_t
daisy_graph_level_stride(const daisy_graph_t *self, uint32_t task)
{
    const graph_task_t *t = &self->tasks[task];
    int64_t stride[D];
    for (int d = 0; d < t->dims; d++)
        stride[d] = t->m[d] * t->ws[d];
    return daisy_coord_make(t->dims, stride);
}

uint64_t
daisy_graph_level_count(const daisy_graph_t *self, uint32_t task)
{
    return self->tasks[task].levels;
}

uint64_t
daisy_graph_level_block_count(const daisy_graph_t *self, uint32_t task, uint64_t level)
{
    const graph_task_t *t = &self->tasks[task];
    if (level >= t->levels)
        return 0;
    int64_t o[D];
    graph_level_offset(t, level, o);
    uint64_t count = 1;
    for (int d = 0; d < t->dims; d++)
        count *= (uint64_t)level_extent(t, o, d);
    return count;
}

int
daisy_graph_level_block(const daisy_graph_t *self, uint32_t task, uint64_t level,
                        uint64_t i, daisy_block_ref_t *ref)
{
    const graph_task_t *t = &self->tasks[task];
    if (i >= daisy_graph_level_block_count(self, task, level))
        return -1;
    int64_t o[D], k[D];
    graph_level_offset(t, level, o);
    for (int d = t->dims - 1; d >= 0; d--) {
        uint64_t extent = (uint64_t)level_extent(t, o, d);
        k[d] = o[d] + (int64_t)(i % extent) * t->m[d];
        i /= extent;
    }
    ref->task = task;
    ref->index = graph_flatten(t, k);
    return 0;
}

int
daisy_graph_block(const daisy_graph_t *self, daisy_block_ref_t ref, daisy_block_t *block)
{
    if (ref.task >= self->ntasks || ref.index >= self->tasks[ref.task].total)
        return -1;
    int64_t k[D];
    graph_unflatten(&self->tasks[ref.task], ref.index, k);
    graph_fill_block(self, ref.task, k, ref.index, UINT32_MAX, block);
    return 0;
}

int
daisy_graph_find(const daisy_graph_t *self, uint32_t task, uint64_t block_id,
                 daisy_block_ref_t *ref)
{
    if (task >= self->ntasks)
        return -1;
    const graph_task_t *t = &self->tasks[task];
    int64_t k[D];
    if (daisy_cantor_index(t->dims, block_id, k) != 0)
        return -1;
    for (int d = 0; d < t->dims; d++) {
        k[d] -= t->id_shift[d];
        if (k[d] < 0 || k[d] >= t->n[d])
            return -1;
    }
    ref->task = task;
    ref->index = graph_flatten(t, k);
    return 0;
}

typedef struct {
    daisy_block_ref_t *out;
    size_t cap;
    size_t count;
} collect_t;

static void
collect(void *arg, uint32_t task, uint64_t index, const int64_t *k)
{
    (void)k;
    collect_t *c = arg;
    if (c->count < c->cap)
        c->out[c->count] = (daisy_block_ref_t){.task = task, .index = index};
    c->count++;
}

static size_t
list_neighbours(const daisy_graph_t *self, daisy_block_ref_t ref,
                daisy_block_ref_t *out, size_t cap, bool upstream)
{
    if (ref.task >= self->ntasks || ref.index >= self->tasks[ref.task].total)
        return 0;
    int64_t k[D];
    graph_unflatten(&self->tasks[ref.task], ref.index, k);
    collect_t c = {.out = out, .cap = cap, .count = 0};
    if (upstream)
        graph_each_upstream(self, ref.task, k, collect, &c);
    else
        graph_each_downstream(self, ref.task, k, collect, &c);
    return c.count;
}

size_t
daisy_graph_upstream(const daisy_graph_t *self, daisy_block_ref_t ref,
                     daisy_block_ref_t *out, size_t cap)
{
    return list_neighbours(self, ref, out, cap, true);
}

size_t
daisy_graph_downstream(const daisy_graph_t *self, daisy_block_ref_t ref,
                       daisy_block_ref_t *out, size_t cap)
{
    return list_neighbours(self, ref, out, cap, false);
}

uint64_t
daisy_graph_upstream_count(const daisy_graph_t *self, daisy_block_ref_t ref)
{
    if (ref.task >= self->ntasks || ref.index >= self->tasks[ref.task].total)
        return 0;
    int64_t k[D];
    graph_unflatten(&self->tasks[ref.task], ref.index, k);
    return graph_upstream_count(self, ref.task, k, NULL);
}
