/*  daisy/serial.h - run a whole pipeline in this process, one block at a time

    The debugging mode daisy users rely on, and the reference the
    distributed runtime is tested against: the same scheduler, the same
    order of dependencies, no sockets and no other processes (except the
    shell for tasks that have a `command`). Tasks with a C process function
    call it; tasks with a command run it per block (daisy/block_exec.h).
*/
#ifndef DAISY_SERIAL_H
#define DAISY_SERIAL_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/serial.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/summary.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    //  Directory for per-task command logs (DIR/TASK.out, DIR/TASK.err);
    //  NULL lets commands write to this process's stdout and stderr.
    const char *log_dir;
    //  Called after every released block (may be NULL), e.g. for progress.
    void (*progress)(void *arg, const daisy_scheduler_t *scheduler, uint32_t task);
    void *progress_arg;
    //  Done markers directory (daisy/markers.h), or NULL.
    const char *markers_dir;
    bool reset_markers;
} daisy_serial_options_t;

//  Run every block of the pipeline. Returns the summary (caller destroys;
//  daisy_summary_success() tells whether every block completed), or NULL
//  with a message when the run could not be carried out at all (invalid
//  pipeline, a task with nothing to run, out of memory).
DAISY_EXPORT daisy_summary_t *daisy_run_serial(const daisy_pipeline_t *pipeline,
                                               const daisy_serial_options_t *options,
                                               daisy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
