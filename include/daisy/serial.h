/*  daisy/serial.h - run a whole pipeline in this process, one block at a time

    The debugging mode daisy users rely on, and the reference the
    distributed runtime is tested against: the same scheduler, the same
    order of dependencies, no sockets and no other processes (except the
    shell for tasks that have a `command`). Tasks with a C process function
    call it; tasks with a command run it per block (daisy/block_exec.h),
    stopped at the task's timeout like a worker's.
*/
#ifndef DAISY_SERIAL_H
#define DAISY_SERIAL_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/serial.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <signal.h>
#include <sys/types.h>

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
    //  When not NULL: each command (and check command) runs in a process
    //  group of its own under a guard (daisy/block_exec.h), its id stored
    //  here while it runs, for a signal handler to pass a signal on with
    //  kill(-*group, sig); a task's timeout then stops the command with
    //  all it started. NULL: commands run in this process's group, and a
    //  timeout stops /bin/sh alone.
    volatile pid_t *group;
    //  When not NULL and non-zero after a block: the run stops there, as a
    //  worker stopped by a signal does. A block that completed counts (and
    //  is marked); one that did not is given back, not failed (no retry
    //  used), and a resumed run does it. daisy_run_serial() then returns
    //  the summary as it stands.
    volatile sig_atomic_t *stop;
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
