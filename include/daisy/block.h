/*  daisy/block.h - one unit of work: a write ROI and the read ROI around it

    A block is a value. `block_id` is daisy's id (the generalised Cantor
    number of the block's grid index), unique within its task and identical
    to what Python daisy computes, so logs and stored progress compare across
    tools. `index` is the block's row-major position in its task's grid of
    blocks (last dimension fastest): dense, which suits bitmaps and arrays.
    `task` is the task's position in its pipeline.
*/
#ifndef DAISY_BLOCK_H
#define DAISY_BLOCK_H

#include "daisy/export.h"
#include "daisy/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t task;         //  position of the task in the pipeline
    uint64_t index;        //  row-major position in the task's block grid
} daisy_block_ref_t;

typedef struct {
    uint32_t task;         //  position of the task in the pipeline
    const char *task_id;   //  the task's id (owned by the pipeline)
    uint64_t block_id;     //  daisy's Cantor id
    uint64_t index;        //  row-major position in the task's block grid
    uint32_t level;        //  level 0 runs first
    uint32_t attempt;      //  0 on the first try, then 1, 2, ...
    daisy_roi_t read_roi;  //  world units, fitted to the task's fit mode
    daisy_roi_t write_roi;
    //  Where a process function says why the block failed, with
    //  daisy_block_set_error(): set by the runners for the call (the worker
    //  loop, daisy_run_serial, daisy_run_blockwise), NULL elsewhere.
    char *error;
    size_t error_size;
} daisy_block_t;

//  From inside a process function: why the block failed, for the summary,
//  the progress feed and the logs, in place of "process function returned
//  N". Takes effect when the function returns non-zero; cut to the
//  runner's room; nothing where no runner listens (block->error NULL).
DAISY_EXPORT void daisy_block_set_error(const daisy_block_t *block, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Generalised Cantor number of a non-negative index of `dims` entries:
//  C(x) = x; C(x1..xn) = P(n, x1+..+xn) + C(x1..x(n-1)), with
//  P(n, e) = e(e+1)..(e+n-1)/n!. Returns -1 on overflow of 63 bits.
DAISY_EXPORT int daisy_cantor_number(int dims, const int64_t *index, uint64_t *out);
//  The inverse: the index whose Cantor number is `id`.
DAISY_EXPORT int daisy_cantor_index(int dims, uint64_t id, int64_t *index);

#ifdef __cplusplus
}
#endif
#endif
