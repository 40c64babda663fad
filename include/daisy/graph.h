/*  daisy/graph.h - the block graph of a pipeline, computed, never stored

    For every task the graph knows its grid of blocks (how many per
    dimension under the task's fit), the levels that keep conflicting blocks
    apart, and daisy's block ids; between tasks it knows which blocks of an
    upstream task a block reads. All of it is arithmetic on the grid index,
    so a task of 10^12 blocks costs the same to set up as one of ten, and
    upstream and downstream are computed on demand from one rule each way
    (they are exact inverses of each other).

    Blocks are named by reference (task position, row-major grid index);
    daisy_graph_block() turns a reference into the full block with its ROIs,
    id and level.
*/
#ifndef DAISY_GRAPH_H
#define DAISY_GRAPH_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/graph.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/block.h"
#include "daisy/export.h"
#include "daisy/pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_graph_t daisy_graph_t;

//  Validate the pipeline and build its graph. The pipeline must outlive
//  the graph and stay unchanged. NULL with a message on error.
DAISY_EXPORT daisy_graph_t *daisy_graph_new(const daisy_pipeline_t *pipeline, daisy_error_t *err);
DAISY_EXPORT void daisy_graph_destroy(daisy_graph_t **self_p);

DAISY_EXPORT const daisy_pipeline_t *daisy_graph_pipeline(const daisy_graph_t *self);
DAISY_EXPORT uint32_t daisy_graph_task_count(const daisy_graph_t *self);
DAISY_EXPORT uint64_t daisy_graph_block_count(const daisy_graph_t *self, uint32_t task);
//  Blocks per dimension of the task's grid.
DAISY_EXPORT daisy_coord_t daisy_graph_grid_shape(const daisy_graph_t *self, uint32_t task);
//  The region the task's write ROIs tile (total ROI shrunk by the context).
DAISY_EXPORT daisy_roi_t daisy_graph_total_write_roi(const daisy_graph_t *self, uint32_t task);
//  Level stride in world units.
DAISY_EXPORT daisy_coord_t daisy_graph_level_stride(const daisy_graph_t *self, uint32_t task);
DAISY_EXPORT uint64_t daisy_graph_level_count(const daisy_graph_t *self, uint32_t task);
DAISY_EXPORT uint64_t daisy_graph_level_block_count(const daisy_graph_t *self, uint32_t task,
                                                    uint64_t level);
//  The i-th block of a level, in position order (last dimension fastest).
DAISY_EXPORT int daisy_graph_level_block(const daisy_graph_t *self, uint32_t task,
                                         uint64_t level, uint64_t i, daisy_block_ref_t *ref);

//  The full block for a reference (attempt 0); -1 when there is no such block.
DAISY_EXPORT int daisy_graph_block(const daisy_graph_t *self, daisy_block_ref_t ref,
                                   daisy_block_t *block);
//  The reference of the block with daisy id `block_id` in `task`; -1 when
//  the task has no such block.
DAISY_EXPORT int daisy_graph_find(const daisy_graph_t *self, uint32_t task, uint64_t block_id,
                                  daisy_block_ref_t *ref);

//  Blocks that must succeed before `ref` may run: blocks of the previous
//  level of its task that conflict with it, and blocks of directly upstream
//  tasks whose write ROI meets its read ROI. Writes up to `cap` references
//  and returns how many there are.
DAISY_EXPORT size_t daisy_graph_upstream(const daisy_graph_t *self, daisy_block_ref_t ref,
                                         daisy_block_ref_t *out, size_t cap);
//  The inverse relation: blocks that list `ref` among their upstream.
DAISY_EXPORT size_t daisy_graph_downstream(const daisy_graph_t *self, daisy_block_ref_t ref,
                                           daisy_block_ref_t *out, size_t cap);
//  How many upstream blocks `ref` has, without listing them.
DAISY_EXPORT uint64_t daisy_graph_upstream_count(const daisy_graph_t *self, daisy_block_ref_t ref);

#ifdef __cplusplus
}
#endif
#endif
