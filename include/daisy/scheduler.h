/*  daisy/scheduler.h - hands out ready blocks per task and takes them back

    The scheduler keeps, per task, a first-in first-out queue of ready
    blocks, the blocks being processed (with their attempt), and daisy's
    counters. acquire(task) gives the next ready block of a task: blocks
    released by finished upstream blocks and retries first, then the blocks
    that waited for nothing, tile by tile over the grid (see
    daisy_resolver_next_root). Both keep the frontier, and so memory, small
    on huge tasks; Python daisy serves the blocks that waited for nothing
    first, in plan order, instead.
    If the task has a completion check and the block is already done, the
    block is skipped (counted as completed and skipped) and the next one is
    tried.

    release(block, status) ends an attempt: success releases downstream
    blocks; a failure puts the block back at the end of the queue until it
    has failed max_retries + 1 times, then fails it for good and its
    downstream blocks are orphaned. A release of a block that is not being
    processed is refused and changes nothing.
*/
#ifndef DAISY_SCHEDULER_H
#define DAISY_SCHEDULER_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/scheduler.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/counts.h"
#include "daisy/export.h"
#include "daisy/graph.h"
#include "daisy/markers.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_scheduler_t daisy_scheduler_t;


typedef enum {
    DAISY_RELEASE_SUCCESS,  //  counted as completed, downstream released
    DAISY_RELEASE_RETRY,    //  failed, queued again
    DAISY_RELEASE_FAILED    //  failed for good, downstream orphaned
} daisy_release_t;


//  A scheduler over the graph (which must outlive it). Completion checks
//  are taken from the tasks' C check functions.
DAISY_EXPORT daisy_scheduler_t *daisy_scheduler_new(const daisy_graph_t *graph, daisy_error_t *err);
//  A scheduler that resumes from done markers: markers[t] (NULL, or an
//  entry NULL, for none) holds task t's done blocks. Marked blocks are
//  skipped (counted as completed and skipped); a task whose blocks are all
//  marked is complete from the start without touching them one by one;
//  every block that completes from now on is marked. The markers must
//  outlive the scheduler.
DAISY_EXPORT daisy_scheduler_t *daisy_scheduler_new_resumed(const daisy_graph_t *graph,
                                                            daisy_markers_t *const *markers,
                                                            daisy_error_t *err);
DAISY_EXPORT void daisy_scheduler_destroy(daisy_scheduler_t **self_p);

DAISY_EXPORT const daisy_graph_t *daisy_scheduler_graph(const daisy_scheduler_t *self);

//  Replace a task's completion check (NULL: none; checks may also run on
//  workers instead, who then release the block as skipped).
DAISY_EXPORT void daisy_scheduler_set_check(daisy_scheduler_t *self, uint32_t task,
                                            daisy_check_fn *fn, void *arg);

//  The next block of `task` to process: 1 with *block filled, 0 when none
//  is ready now, -1 on an unknown task or when memory runs out.
DAISY_EXPORT int daisy_scheduler_acquire(daisy_scheduler_t *self, uint32_t task,
                                         daisy_block_t *block);

//  End the attempt on `ref`: success or failure. Returns the outcome, or
//  -1 (with a message) when the block is not being processed.
DAISY_EXPORT int daisy_scheduler_release(daisy_scheduler_t *self, daisy_block_ref_t ref,
                                         bool success, daisy_error_t *err);
//  End the attempt on `ref` without a result (its worker left cleanly):
//  the block is ready again, first in its queue, with the same attempt
//  number, so no retry is used up. -1 when not being processed.
DAISY_EXPORT int daisy_scheduler_give_back(daisy_scheduler_t *self, daisy_block_ref_t ref,
                                           daisy_error_t *err);
//  End the attempt on `ref` as already done (a check that ran elsewhere):
//  counted as completed and skipped. -1 when not being processed.
DAISY_EXPORT int daisy_scheduler_release_skipped(daisy_scheduler_t *self, daisy_block_ref_t ref,
                                                 daisy_error_t *err);

//  Give up on a task (its workers keep dying): every block of it not yet
//  completed or failed is orphaned - blocks being processed included, whose
//  later release is then refused - and so is everything downstream of
//  them. Blocks of it that become ready later are orphaned at once.
//  Returns how many blocks of the task this orphaned.
DAISY_EXPORT uint64_t daisy_scheduler_abandon(daisy_scheduler_t *self, uint32_t task);
DAISY_EXPORT bool daisy_scheduler_abandoned(const daisy_scheduler_t *self, uint32_t task);

//  The attempt number of a block being processed, or -1.
DAISY_EXPORT int daisy_scheduler_attempt(const daisy_scheduler_t *self, daisy_block_ref_t ref);
//  Blocks of the task counted completed whose done marker could not be
//  written (a full or failing disk): a resumed run does them again.
DAISY_EXPORT uint64_t daisy_scheduler_unrecorded(const daisy_scheduler_t *self, uint32_t task);

DAISY_EXPORT void daisy_scheduler_counts(const daisy_scheduler_t *self, uint32_t task,
                                         daisy_task_counts_t *counts);
//  Every block of the task is completed, failed or orphaned.
DAISY_EXPORT bool daisy_scheduler_task_done(const daisy_scheduler_t *self, uint32_t task);
//  Every task is done.
DAISY_EXPORT bool daisy_scheduler_done(const daisy_scheduler_t *self);

//  Told of each change of a block's state (a daisy_block_state_t), in the
//  order they happen, from inside the scheduler's calls: do not call back
//  into the scheduler.
typedef void (daisy_block_state_fn)(void *arg, uint32_t task, uint64_t index,
                                    daisy_block_state_t state);
//  Keep every block's state from now on (one byte per block) for the
//  tasks of at most `max_blocks` blocks (larger ones, 10^12 blocks, are
//  left untracked: no memory, no walk over their grid), and tell `fn`
//  (may be NULL) of each change of a tracked task. Call it before the
//  first acquire: blocks start ready (waiting for nothing), pending, or
//  skipped (a task complete before the run). -1 when memory runs out.
DAISY_EXPORT int daisy_scheduler_track_states(daisy_scheduler_t *self, uint64_t max_blocks,
                                              daisy_block_state_fn *fn, void *arg);
//  Task `task`'s block states in row-major grid order (index), or NULL
//  when not tracked.
DAISY_EXPORT const uint8_t *daisy_scheduler_block_states(const daisy_scheduler_t *self,
                                                         uint32_t task);

#ifdef __cplusplus
}
#endif
#endif
