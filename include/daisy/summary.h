/*  daisy/summary.h - the execution summary at the end of a run

    What daisy prints when a run ends, per task: the number of blocks,
    completed (with skipped), failed, orphaned, the first failed blocks with
    their error, worker and log file, and "all blocks processed
    successfully" when so. Runners feed it failures as they happen and the
    final counters at the end; skipped blocks are counted and shown even
    when every block was skipped.
*/
#ifndef DAISY_SUMMARY_H
#define DAISY_SUMMARY_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/summary.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Failed blocks kept per task for the report; more are only counted.
#define DAISY_SUMMARY_MAX_FAILURES 100

typedef struct _daisy_summary_t daisy_summary_t;

typedef struct {
    uint64_t block_id;
    uint32_t attempt;      //  0-based, as daisy_block_t's (the printed summary counts from 1)
    const char *error;     //  the error text (owned by the summary)
    const char *worker;    //  who ran it, or ""
    //  Where its output went, as printed: a file, "PATH.err / .out" for a
    //  pair of files, or "" when none is known (a terminal).
    const char *log;
} daisy_failure_t;

DAISY_EXPORT daisy_summary_t *daisy_summary_new(const daisy_graph_t *graph);
DAISY_EXPORT void daisy_summary_destroy(daisy_summary_t **self_p);
//  A copy that outlives the original (NULL when memory runs out).
DAISY_EXPORT daisy_summary_t *daisy_summary_dup(const daisy_summary_t *self);

//  Record an attempt that failed for good (strings copied, NULL allowed).
DAISY_EXPORT void daisy_summary_add_failure(daisy_summary_t *self, uint32_t task, uint64_t block_id,
                                            uint32_t attempt, const char *error, const char *worker,
                                            const char *log);
//  A note for a task's section, e.g. why it was abandoned (copied; the
//  last one is kept).
DAISY_EXPORT void daisy_summary_set_note(daisy_summary_t *self, uint32_t task, const char *note);
//  Take the counters of every task from the scheduler.
DAISY_EXPORT void daisy_summary_update(daisy_summary_t *self, const daisy_scheduler_t *scheduler);

DAISY_EXPORT const daisy_task_counts_t *daisy_summary_counts(const daisy_summary_t *self,
                                                             uint32_t task);
DAISY_EXPORT size_t daisy_summary_failure_count(const daisy_summary_t *self, uint32_t task);
//  The i-th recorded failure of a task (i < DAISY_SUMMARY_MAX_FAILURES).
DAISY_EXPORT const daisy_failure_t *daisy_summary_failure(const daisy_summary_t *self,
                                                          uint32_t task, size_t i);
//  True when every block of every task completed.
DAISY_EXPORT bool daisy_summary_success(const daisy_summary_t *self);
//  The report as text (caller frees); NULL when memory runs out.
DAISY_EXPORT char *daisy_summary_format(const daisy_summary_t *self);

#ifdef __cplusplus
}
#endif
#endif
