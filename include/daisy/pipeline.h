/*  daisy/pipeline.h - a DAG of tasks, and pipeline files

    A pipeline owns its tasks, keeps them in the order they were added, and
    validates them as a whole: dimensions agree (within a task and with its
    upstream tasks), write ROIs lie in read ROIs, shapes are not empty, the
    total write ROI is not empty, ids are unique, upstream tasks exist and
    form no cycle. (A task with no block under fit valid is accepted, as
    Python daisy does.) Every refusal names the task and the field.

    Pipeline files are JSON: {"tasks": [{...}, ...]} with the keys of the
    design notes (id, upstream, total_roi, read_roi, write_roi,
    read_write_conflict, fit, max_retries, timeout, workers, command, worker,
    check) and an optional top-level "markers" directory. Unknown keys are
    errors (they are usually typos). Load errors name the file, the task
    and the key.
*/
#ifndef DAISY_PIPELINE_H
#define DAISY_PIPELINE_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/pipeline.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_pipeline_t daisy_pipeline_t;

//  Validation refuses ROI offsets and shapes beyond +-2^60 (in world units),
//  so that sums and differences of a few of them (ends, contexts, block
//  offsets) never overflow int64 in the code downstream of validation.
#define DAISY_COORD_LIMIT ((int64_t)1 << 60)

DAISY_EXPORT daisy_pipeline_t *daisy_pipeline_new(void);
DAISY_EXPORT void daisy_pipeline_destroy(daisy_pipeline_t **self_p);

//  Append a task; the pipeline takes ownership and nulls *task_p.
DAISY_EXPORT void daisy_pipeline_add(daisy_pipeline_t *self, daisy_task_t **task_p);
DAISY_EXPORT size_t daisy_pipeline_size(const daisy_pipeline_t *self);
DAISY_EXPORT daisy_task_t *daisy_pipeline_task(const daisy_pipeline_t *self, size_t i);
//  Position of the task with this id, or -1.
DAISY_EXPORT int daisy_pipeline_find(const daisy_pipeline_t *self, const char *task_id);

//  Directory where completion markers are kept (copied; NULL clears), the
//  top-level "markers" key of a pipeline file. NULL when not set.
DAISY_EXPORT void daisy_pipeline_set_markers(daisy_pipeline_t *self, const char *dir);
DAISY_EXPORT const char *daisy_pipeline_markers(const daisy_pipeline_t *self);

//  0 when the pipeline can be scheduled, else -1 with a message naming the
//  task and field at fault.
DAISY_EXPORT int daisy_pipeline_validate(const daisy_pipeline_t *self, daisy_error_t *err);

//  1 when task i of a valid pipeline deserves a warning, with the message
//  in msg (naming the task and the sizes at fault); 0 otherwise. Today: a
//  total ROI smaller than the block context, so the task has no block
//  (accepted, as Python daisy plans it with 0 blocks, but rarely meant).
DAISY_EXPORT int daisy_pipeline_warning(const daisy_pipeline_t *self, size_t i,
                                        daisy_error_t *msg);

//  Load and validate a pipeline file; NULL with a message naming the file,
//  task and key on any error.
DAISY_EXPORT daisy_pipeline_t *daisy_pipeline_load(const char *path, daisy_error_t *err);
//  The same from a JSON text; `name` stands for the file in messages.
DAISY_EXPORT daisy_pipeline_t *daisy_pipeline_parse(const char *json, const char *name,
                                                    daisy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
