/*  daisy/worker.h - the worker loop that C programs embed

    A worker joins one task of a broker and processes blocks until the
    broker says there is no more work:

        daisy_worker_options_t opt = daisy_worker_options_default();
        opt.endpoint = "tcp://broker-host:5555";
        opt.task_id = "extract";
        daisy_worker_t *w = daisy_worker_new(&opt, &err);
        int rc = daisy_worker_run(w, process_block, my_state, &err);
        daisy_worker_destroy(&w);

    The thread that calls daisy_worker_run() uses the socket itself
    between blocks (no thread hand-off on the hot path) and runs the
    process function; a background thread takes the socket over only while
    a block runs longer than a few milliseconds, to keep heartbeats going
    (so long blocks are not mistaken for dead workers), to prefetch and to
    notice a lost broker. The worker prefetches up to `prefetch` blocks so
    short blocks do not wait on the round trip, batches results, and
    reconnects with back-off (1 s doubling to 30 s) when the broker goes
    away. The worker uses libzmq directly and its own context, so it may
    run in a process forked from one that uses czmq.

    Completion checks run here, on the workers, in parallel: with
    daisy_worker_set_check(), each block is first given to the check, and
    a block it finds already done is released as skipped without calling
    the process function.

    Endpoint, task and worker id default to the environment variables
    DAISY_BROKER, DAISY_TASK_ID and DAISY_WORKER_ID, which `daisy run` and
    `daisy-broker` set for the workers they start.
*/
#ifndef DAISY_WORKER_H
#define DAISY_WORKER_H

//  A worker-layer header: not for core, zarr, protocol or broker code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_GRAPHDB) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER)
#error "daisy/worker.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *endpoint;      //  broker ROUTER endpoint (DAISY_BROKER)
    const char *task_id;       //  task to join (DAISY_TASK_ID)
    const char *worker_id;     //  unique id (DAISY_WORKER_ID, else host:pid:random)
    //  The broker run this worker was started for (DAISY_RUN_ID; the broker
    //  prints it): a broker serving another run refuses the worker, which
    //  then returns -1 at once. NULL or "": any run (a hand-started worker).
    const char *run_id;
    uint32_t prefetch;         //  blocks held at once (default 1, daisy's behaviour)
    uint32_t reconnect_max_ms; //  back-off ceiling (default 30000)
    //  Give up after this long without reaching a broker (0: never).
    uint32_t give_up_ms;
    //  CurveZMQ (NULL: clear text): this worker's secret key file and the
    //  broker's public key file, as written by `daisy keygen`.
    const char *curve_secret;
    const char *broker_key;
} daisy_worker_options_t;

typedef struct _daisy_worker_t daisy_worker_t;

//  Defaults, with endpoint/task/worker id taken from the environment.
DAISY_EXPORT daisy_worker_options_t daisy_worker_options_default(void);

DAISY_EXPORT daisy_worker_t *daisy_worker_new(const daisy_worker_options_t *options,
                                              daisy_error_t *err);
DAISY_EXPORT void daisy_worker_destroy(daisy_worker_t **self_p);

//  Process blocks until the broker sends SHUTDOWN (returns 0), the broker
//  refuses this worker (unknown task, another run: -1 with a message), the
//  broker stays unreachable past give_up_ms (-1), or daisy_worker_stop()
//  is called (returns 1). `fn` returns 0 for success; the error text of a
//  failure is "process function returned N" unless the function set one
//  with daisy_block_set_error() (or daisy_worker_set_error()).
DAISY_EXPORT int daisy_worker_run(daisy_worker_t *self, daisy_process_fn *fn, void *arg,
                                  daisy_error_t *err);

//  A completion check, called before each block's process function (in
//  the same thread, with the same block): when it returns true the block
//  is not processed and is released with status skipped, its seconds being
//  the time the check took. Otherwise the block is processed, and its
//  seconds include the check. NULL removes the check. Set it before
//  daisy_worker_run().
DAISY_EXPORT void daisy_worker_set_check(daisy_worker_t *self, daisy_check_fn *fn, void *arg);

//  From inside a process function: the error text to report for the block
//  being processed (copied).
DAISY_EXPORT void daisy_worker_set_error(daisy_worker_t *self, const char *text);

//  Called, from the worker's I/O thread, when the broker no longer holds
//  the block being processed: it lost this worker (silent past its
//  liveness: a stopped process, a frozen host, a long network partition)
//  or it was restarted, and runs the block elsewhere, perhaps already.
//  Stop the block at once (daisy-worker kills its command): its result is
//  not sent, and the blocks held but not started are dropped. NULL: none
//  (the block runs to its end, and its result is dropped). Set it before
//  daisy_worker_run().
DAISY_EXPORT void daisy_worker_set_abort(daisy_worker_t *self, void (*fn)(void *arg),
                                         void *arg);

//  Called, from the worker's I/O thread, with hold true when the worker
//  can no longer vouch that the block being processed is still its own,
//  and with false once it can again. That is when its broker has been
//  silent for liveness - 1.5 heartbeats (a broker loses a worker silent
//  for liveness heartbeats: a partition, a stopped broker), or when this
//  process was stopped and continued (daisy_worker_continued). The worker
//  then says HELLO again, and the WELCOME tells: if the broker gave the
//  block to another worker, the abort hook runs first; so it does when
//  the run ends (SHUTDOWN, a fatal error) before any WELCOME came. Pause
//  the block meanwhile, or it may run beside its next attempt
//  (daisy-worker stops its command's process group with SIGSTOP and
//  continues it with SIGCONT). Every call with true is followed by one
//  with false (daisy_worker_stop() ends a hold too, after the abort hook:
//  the block may be another's). NULL: none. Set it before
//  daisy_worker_run().
DAISY_EXPORT void daisy_worker_set_hold(daisy_worker_t *self,
                                        void (*fn)(void *arg, bool hold), void *arg);

//  Tell the worker that this process was stopped and has been continued:
//  call it from a SIGCONT handler (it is async-signal-safe). However short
//  the stop, the broker may have given its blocks to others meanwhile:
//  the worker holds the block being processed (daisy_worker_set_hold),
//  says HELLO again and starts no queued block until the WELCOME.
DAISY_EXPORT void daisy_worker_continued(daisy_worker_t *self);

//  Ask a running worker to finish the current block, release what it
//  holds and return (safe from a signal handler). A block that fails after
//  the stop (its command killed by the same SIGTERM) is not reported as a
//  failure: the goodbye gives it back with its other unstarted blocks, so
//  preemption costs no retry.
DAISY_EXPORT void daisy_worker_stop(daisy_worker_t *self);

//  Blocks processed so far, and blocks the completion check found done
//  (skipped, not processed), for tests and logs.
DAISY_EXPORT uint64_t daisy_worker_processed(const daisy_worker_t *self);
DAISY_EXPORT uint64_t daisy_worker_skipped(const daisy_worker_t *self);
//  The id this worker uses.
DAISY_EXPORT const char *daisy_worker_id(const daisy_worker_t *self);
//  The task's block timeout in milliseconds as the broker's WELCOME said
//  (0: none, or not welcomed yet). A block running longer is a failed
//  attempt for the broker, which hands it out again: a process function
//  that can stop its work (daisy-worker --exec stops its command) should.
DAISY_EXPORT uint32_t daisy_worker_timeout_ms(const daisy_worker_t *self);

#ifdef __cplusplus
}
#endif
#endif
