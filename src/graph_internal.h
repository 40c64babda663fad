/*  graph_internal.h - the block graph's arithmetic, shared inside libdaisy

    The resolver and the scheduler run on every block, so they use the
    graph's per-task numbers and grid positions directly instead of going
    through daisy_block_t. A grid position `k` is the block's index per
    dimension (0 <= k[d] < n[d]); the block's write ROI begins at
    tw_begin + k * ws.
*/
#ifndef DAISY_GRAPH_INTERNAL_H
#define DAISY_GRAPH_INTERNAL_H

#include "daisy/graph.h"

#define D DAISY_MAX_DIMS

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
    uint32_t *up;           //  positions of directly upstream tasks
    uint32_t n_up;
    uint32_t *down;         //  positions of directly downstream tasks
    uint32_t n_down;
} graph_task_t;

struct _daisy_graph_t {
    const daisy_pipeline_t *pipeline;
    uint32_t ntasks;
    graph_task_t *tasks;
};

//  Called once per block found; `k` is its grid position.
typedef void (graph_visit_fn)(void *arg, uint32_t task, uint64_t index);

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
//  Fill a block (ROIs, id, level) from a grid position.
void graph_fill_block(const daisy_graph_t *g, uint32_t task, const int64_t *k,
                      daisy_block_t *b);

#endif
