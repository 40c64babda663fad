/*  daisy/blockwise.h - run_blockwise: the seed's quickstart, in C

    Define tasks with C process functions and run them on local worker
    processes forked from this one, with an embedded broker, just as
    daisy.run_blockwise([task]) does in Python:

        daisy_summary_t *summary = daisy_run_blockwise(pipeline, NULL, &err);

    Each task gets `workers` processes (daisy_task_set_workers). Workers
    are forked, so they see this process's memory as it was at the call;
    results must go to storage they share (files, Zarr arrays, shared
    memory). A worker that dies is replaced up to the restart cap, and
    workers end when this process dies, however it dies.

    What the calling program must not have done before the call: start a
    thread (its own, or a library's that starts threads: czmq or libzmq
    sockets, OpenMP, a GPU runtime, ...). Workers are forked from a copy of
    this process made at the start of the call, and a fork of a process
    with threads may deadlock in the child. Open such things inside the
    process function (once per worker, e.g. on its first block) instead.
    Memory, open files and descriptors as they are at the call are what
    every worker starts with.
*/
#ifndef DAISY_BLOCKWISE_H
#define DAISY_BLOCKWISE_H

//  A runtime-layer header: not for core, zarr, protocol, broker or worker code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_GRAPHDB) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER) \
    || defined(DAISY_LAYER_WORKER)
#error "daisy/blockwise.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/launcher.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *log_dir;        //  workers' logs (default "daisy_logs")
    uint32_t prefetch;          //  blocks each worker holds at once (default 1)
    uint32_t restart_cap;       //  worker deaths per task before it is abandoned
    daisy_serve_fn *progress;   //  called every 100 ms or so (may be NULL)
    void *progress_arg;
    const char *markers_dir;    //  done markers (daisy/markers.h), or NULL
    bool reset_markers;
    const char *publish;        //  progress feed endpoint (PUB), or NULL for none
} daisy_blockwise_options_t;

//  Run every block of the pipeline with its tasks' process functions.
//  Returns the summary (caller destroys; daisy_summary_success() tells
//  whether every block completed), or NULL with a message when the run
//  could not be set up (invalid pipeline, a task without a process
//  function, an endpoint that cannot be bound).
DAISY_EXPORT daisy_summary_t *daisy_run_blockwise(const daisy_pipeline_t *pipeline,
                                                  const daisy_blockwise_options_t *options,
                                                  daisy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
