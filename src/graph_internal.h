/*  graph_internal.h - the block graph's arithmetic, shared inside libdaisy

    The resolver and the scheduler run on every block, so they use the
    graph's per-task numbers and grid positions directly instead of going
    through daisy_block_t. A grid position `k` is the block's index per
    dimension (0 <= k[d] < n[d]); the block's write ROI begins at
    tw_begin + k * ws.

    Positions travel with the blocks: the visitors below receive the
    position of every block they are given, so callers never turn an index
    back into a position they had a moment before. Where an index has to
    be turned into a position after all (a block released by a worker),
    the divisions by the grid shape are multiplications by reciprocals
    fixed when the graph is built (fastdiv.h), and so is the level of a
    position. The conflict offsets between consecutive levels are a table
    built once per task, since every block asks for them.
*/
#ifndef DAISY_GRAPH_INTERNAL_H
#define DAISY_GRAPH_INTERNAL_H

#include "daisy/graph.h"
#include "fastdiv.h"

#define D DAISY_MAX_DIMS

//  Levels are cached up to this many per task (2^dims is the usual count),
//  and their combinations of conflict offsets up to this many in all.
#define GRAPH_LEVEL_CACHE 1024
#define GRAPH_COMBO_CACHE 4096

//  From a block of one level to the blocks of the level before it that it
//  conflicts with: per dimension, one or two offsets (in blocks).
typedef struct {
    int64_t cand[D][2];
    int ncand[D];
    int64_t reach_lo[D], reach_hi[D];   //  least and greatest offset per dimension
    //  The blocks of level `later` at k - offset (the downstream blocks
    //  of a block of level later - 1 at k) all lie in the grid when
    //  k[d] - down_lo[d] < down_span[d] (unsigned) in every dimension:
    //  one test per dimension.
    int64_t down_lo[D];
    uint64_t down_span[D];
    uint64_t all;                       //  product of ncand: the count away from the edges
    //  Away from the edges every combination of candidates is a block:
    //  the `all` combinations, in listing order, are the task's
    //  combo[first..] (offsets) and combo_delta[first..] (index offsets).
    //  first is UINT32_MAX when the combinations are not cached.
    uint32_t first;
} graph_conflict_t;

//  The blocks of a downstream task v that read block p of u, along each
//  dimension, in closed form: when u's write shape is a multiple of v's,
//  they are [p ratio + lo0, p ratio + hi0) cut to v's grid for every p
//  below pmax (past it, u's or v's total ROI cuts the ranges).
//
//  Away from the edges, for p[d] - in_lo[d] < in_span[d] (unsigned) in
//  every dimension, the box is never cut: its first block's index is
//  row_base + the sum of p[d] row_step[d] (mod 2^64), and its `rows` rows
//  of `width` blocks along the last dimension start row_delta[0..rows)
//  after it. rows is 0 where that is not cached (no closed form, more
//  than GRAPH_BOX_ROWS rows, or no whole box anywhere).
#define GRAPH_BOX_ROWS 64
typedef struct {
    bool fast;                          //  the closed form holds (every dimension)
    int64_t ratio[D], lo0[D], hi0[D], pmax[D];
    int64_t in_lo[D];
    uint64_t in_span[D];
    uint64_t row_step[D], row_base;
    int64_t width;
    uint32_t rows;
    uint64_t row_delta[GRAPH_BOX_ROWS];
} graph_readers_t;

typedef struct {
    const char *id;
    int dims;
    daisy_fit_t fit;
    bool conflict;
    int64_t ws[D];          //  block write shape
    int64_t rs[D];          //  block read shape
    int64_t ctx_lo[D];      //  write begin - read begin
    int64_t tr_begin[D];    //  total read ROI
    int64_t tr_end[D];
    int64_t tw_begin[D];    //  total write ROI
    int64_t tw_end[D];
    int64_t n[D];           //  blocks per dimension
    int64_t m[D];           //  level stride in blocks
    int64_t id_shift[D];    //  block index = k + id_shift (daisy's offset from the total ROI)
    uint64_t total;         //  product of n
    uint64_t levels;        //  product of m
    int64_t level0[D];      //  grid offset of the level-0 blocks
    uint64_t stride[D];     //  index distance of neighbours along d
    fastdiv_t div_n[D];     //  division by n[d]
    fastdiv_t div_m[D];     //  division by m[d]
    fastdiv_t div_ws[D];    //  division by ws[d]
    bool m_pow2;            //  every m[d] a power of two (the usual 1 or 2): then
    unsigned m_shift[D];    //  a position's rank is the sum of (k[d] & (m[d] - 1)) << m_shift[d]
    graph_conflict_t *conflicts;   //  [level] for level >= 1, or NULL: too many levels
    int64_t (*combo)[D];           //  see graph_conflict_t
    uint64_t *combo_delta;
    uint32_t *up;           //  positions of directly upstream tasks
    uint32_t n_up;
    uint32_t *down;         //  positions of directly downstream tasks
    uint32_t n_down;
    graph_readers_t *readers;   //  [i]: readers in down[i]
} graph_task_t;

struct _daisy_graph_t {
    const daisy_pipeline_t *pipeline;
    uint32_t ntasks;
    graph_task_t *tasks;
};

//  Called once per block found; `k` is its grid position.
typedef void (graph_visit_fn)(void *arg, uint32_t task, uint64_t index, const int64_t *k);

void graph_unflatten(const graph_task_t *t, uint64_t index, int64_t *k);
uint64_t graph_flatten(const graph_task_t *t, const int64_t *k);
uint64_t graph_level_of(const graph_task_t *t, const int64_t *k);
//  Grid offsets (0 <= o[d] < m[d]) of the blocks of a level.
void graph_level_offset(const graph_task_t *t, uint64_t level, int64_t *o);
//  Range [*a, *b) per dimension of upstream task `u`'s grid whose write
//  ROIs meet the read ROI of `v`'s blocks at position kd in dimension d.
//  Both ends grow with kd, which makes the inverse a contiguous range too.
void graph_cross_range(const graph_task_t *v, const graph_task_t *u, int d,
                       int64_t kd, int64_t *a, int64_t *b);
//  Most conflicting blocks one block can have: two per dimension.
#define GRAPH_MAX_CONFLICTS (1 << D)

//  The blocks at k + sign * c (k at index `at`) for the conflict offsets
//  c between `later` and the level before it, inside the grid, into q and
//  index; how many. Sign 1: the upstream blocks of k, a block of level
//  `later`; sign -1: the downstream blocks of k, of level later - 1. The
//  resolver runs its own loop over these (and over graph_reader_box), so
//  that counting down is inlined there.
int graph_conflict_blocks(const graph_task_t *t, const int64_t *k, uint64_t at, uint64_t later,
                          int sign, int64_t (*q)[D], uint64_t *index);
//  The box [lo, hi) of the blocks of v = u's downstream task down[edge]
//  that read u's block at k; false when no block does.
bool graph_reader_box(const daisy_graph_t *g, const graph_task_t *u, uint32_t edge,
                      const int64_t *k, int64_t *lo, int64_t *hi);
//  Where along dimension d the range graph_cross_range gives has one
//  length for every kd: [*lo, *hi) of v's positions (empty when the
//  length varies, as it may when v's write shape is not a multiple of
//  u's), with that length in *count.
void graph_cross_uniform(const graph_task_t *v, const graph_task_t *u, int d, int64_t *lo,
                         int64_t *hi, uint64_t *count);
//  Visit the blocks downstream of (task, k): the next level of the task,
//  then the blocks of downstream tasks that read it.
void graph_each_downstream(const daisy_graph_t *g, uint32_t task,
                           const int64_t *k, graph_visit_fn *fn, void *arg);
//  The same upstream.
void graph_each_upstream(const daisy_graph_t *g, uint32_t task,
                         const int64_t *k, graph_visit_fn *fn, void *arg);
//  `skip` (may be NULL) marks upstream tasks not to count (already complete).
uint64_t graph_upstream_count(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                              const bool *skip);
//  The same for a block whose level the caller knows already.
uint64_t graph_upstream_count_at(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                                 uint64_t level, const bool *skip);
//  Fill a block (ROIs, id, level) from its grid position k and index;
//  `level` is its level when the caller knows it, else UINT32_MAX.
void graph_fill_block(const daisy_graph_t *g, uint32_t task, const int64_t *k, uint64_t index,
                      uint32_t level, daisy_block_t *b);

//  daisy_cantor_number without the exported symbol's indirection (cantor.c).
int cantor_number(int dims, const int64_t *index, uint64_t *out);

static inline int64_t
max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static inline int64_t
min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

#endif
