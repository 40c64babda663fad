/*  daisy/broker.h - serves blocks to workers anywhere, streams progress

    The broker binds a ROUTER socket for workers and, optionally, a PUB
    socket for progress, and drives a scheduler over them: it hands blocks
    to workers that asked for them (holding requests while nothing is
    ready), takes results back, tracks which worker holds which block and
    which one it runs, and takes blocks back from a worker that went
    silent, died, or ran a block past its task's timeout: the block it was
    running as a failed attempt (retry path), the others unchanged. Any bad
    message is refused, counted and answered, and changes nothing.

    Embedding: create it, then call daisy_broker_poll() in a loop (or
    daisy_serve(), daisy/launcher.h) until daisy_broker_done();
    daisy_broker_finish() tells remaining workers to exit and publishes the
    final summary. The library installs no signal handler: a program that
    wants Ctrl-C to drain the run calls daisy_broker_stop() from its own.
*/
#ifndef DAISY_BROKER_H
#define DAISY_BROKER_H

//  A broker-layer header: not for core, zarr, protocol or worker code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_GRAPHDB) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_WORKER)
#error "daisy/broker.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <sys/types.h>

#include "daisy/export.h"
#include "daisy/protocol.h"
#include "daisy/summary.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *bind;          //  ROUTER endpoint (default tcp://127.0.0.1:5555; a
                               //  port of * picks a free one; ipc://* a Unix socket
                               //  in a new directory of mode 0700 under $TMPDIR or
                               //  /tmp, removed by daisy_broker_destroy(): workers
                               //  of this host only, and no other user's)
    const char *publish;       //  PUB endpoint for progress, or NULL for none
    //  The endpoint workers are told to connect to. NULL: the bound one,
    //  a wildcard host (0.0.0.0, *) replaced by this host's routable
    //  address (from its host name, else its first interface up).
    const char *advertise;
    uint32_t heartbeat_ms;     //  heartbeat interval (default 1000)
    uint32_t liveness;         //  missed intervals before a worker is lost (default 3)
    //  Heartbeats per second aimed at each way (default 1000): with more
    //  workers than heartbeat_rate * heartbeat_ms / 1000, the interval
    //  workers are told grows to workers / heartbeat_rate seconds, and
    //  workers already connected are told again (PROTOCOL.md section 8).
    uint32_t heartbeat_rate;
    uint32_t snapshot_ms;      //  task-state snapshots at most this often (default 1000)
    //  CurveZMQ: the broker's secret key file (`daisy keygen NAME` writes
    //  NAME and NAME_secret) and a directory of allowed worker public keys.
    //  Both or neither; with them the worker and progress sockets are
    //  encrypted, workers whose key is not in the directory never get a
    //  message through, and monitors need the broker's public key.
    const char *curve_secret;
    const char *curve_allow;
    //  Where workers' logs are (LOG_DIR/TASK/WORKER.out and .err), for the
    //  summary's pointers to them; NULL when unknown.
    const char *log_dir;
    //  Done markers (daisy/markers.h): a run pointed at the same directory
    //  skips the blocks already done. NULL: none. With reset_markers,
    //  markers recorded for another block layout are discarded instead of
    //  refused.
    const char *markers_dir;
    bool reset_markers;
    //  This run's id, carried by the workers started for it (HELLO run_id);
    //  a worker started for another run is refused (ERROR wrong_run) and
    //  exits. NULL or "": 16 random hex digits. At most 32 characters of
    //  [A-Za-z0-9._-].
    const char *run_id;
    //  Most blocks one worker may hold at once (default 64); larger
    //  requests are served as the worker releases blocks.
    uint32_t max_held;
    //  Lines worth telling the operator (refused worker keys, binding a
    //  public address in the clear, refused messages, at most 10 a second);
    //  NULL: dropped. The library never prints.
    void (*log)(void *arg, const char *line);
    void *log_arg;
} daisy_broker_options_t;

typedef struct {
    uint64_t messages;         //  frames received from workers
    uint64_t rejected;         //  messages refused (any reason), each once
    uint64_t rejected_by_code[16]; //  the same by the code of its first refusal
    uint64_t workers_joined;
    uint64_t workers_lost;
    uint64_t blocks_sent;
    uint64_t results;          //  results accepted
    uint64_t timeouts;         //  blocks taken back after their task's timeout
    uint64_t auth_refused;     //  connections refused by CurveZMQ authentication
    uint64_t blocks_resent;    //  blocks sent again to a worker that said hello
                               //  while holding them (it may have lost them)
    uint64_t late_results;     //  results of blocks past their timeout, reported
                               //  by the worker that stopped them (in results)
} daisy_broker_stats_t;

typedef struct _daisy_broker_t daisy_broker_t;

DAISY_EXPORT daisy_broker_options_t daisy_broker_options_default(void);

//  A broker for the graph (which must outlive it), bound and ready. NULL
//  with a message when an endpoint cannot be bound or a key not read.
DAISY_EXPORT daisy_broker_t *daisy_broker_new(const daisy_graph_t *graph,
                                              const daisy_broker_options_t *options,
                                              daisy_error_t *err);
DAISY_EXPORT void daisy_broker_destroy(daisy_broker_t **self_p);

//  The endpoint workers are told: see daisy_broker_options_t.advertise.
//  NULL when bound to a wildcard and this host has no routable address.
DAISY_EXPORT const char *daisy_broker_advertised(const daisy_broker_t *self);
//  The endpoints actually bound (a tcp port of * resolved).
DAISY_EXPORT const char *daisy_broker_endpoint(const daisy_broker_t *self);
DAISY_EXPORT const char *daisy_broker_publish_endpoint(const daisy_broker_t *self);

//  The run id workers must carry (see daisy_broker_options_t.run_id).
DAISY_EXPORT const char *daisy_broker_run_id(const daisy_broker_t *self);

//  Handle every waiting message and due timer, then wait up to timeout_ms
//  for more (0: do not wait). Returns 0, or -1 when the wait was
//  interrupted by a signal.
DAISY_EXPORT int daisy_broker_poll(daisy_broker_t *self, int timeout_ms);
//  Every block of every task is completed, failed or orphaned.
DAISY_EXPORT bool daisy_broker_done(const daisy_broker_t *self);
//  Tell every connected worker to exit and publish the final summary.
DAISY_EXPORT void daisy_broker_finish(daisy_broker_t *self, bool interrupted);

//  Ask the serving loop (daisy_serve) to stop: the first request drains
//  (nothing more is handed out, blocks in flight may come back), the
//  second ends the wait. Only an atomic increment: safe from a signal
//  handler and from another thread.
DAISY_EXPORT void daisy_broker_stop(daisy_broker_t *self);
//  How many stops were requested so far.
DAISY_EXPORT unsigned daisy_broker_stop_requests(const daisy_broker_t *self);

//  Why the broker stopped on its own, or NULL: recording completions
//  failed (markers on a full or failing disk; the message names the file).
//  It then hands out nothing more and asks its serving loop to stop, as
//  a first Ctrl-C would; programs exit 4.
DAISY_EXPORT const char *daisy_broker_failure(const daisy_broker_t *self);

//  Stop handing out blocks (the first Ctrl-C): results of blocks in
//  flight are still taken.
DAISY_EXPORT void daisy_broker_drain(daisy_broker_t *self);
//  Blocks currently held by workers.
DAISY_EXPORT uint64_t daisy_broker_held(const daisy_broker_t *self);

//  A worker process with this pid on this host died: its blocks go back
//  now instead of after the heartbeat timeout.
DAISY_EXPORT void daisy_broker_process_died(daisy_broker_t *self, pid_t pid);
//  The worker with this id is gone (its batch job ended): it is lost now,
//  not after the heartbeat timeout; nothing when it already left.
DAISY_EXPORT void daisy_broker_worker_gone(daisy_broker_t *self, const char *worker_id,
                                           const char *reason);
//  A worker with this id is connected (said HELLO and was not lost).
DAISY_EXPORT bool daisy_broker_has_worker(const daisy_broker_t *self, const char *worker_id);
//  Give up on a task (its workers keep dying); see daisy_scheduler_abandon.
DAISY_EXPORT uint64_t daisy_broker_abandon(daisy_broker_t *self, uint32_t task, const char *reason);

DAISY_EXPORT const daisy_scheduler_t *daisy_broker_scheduler(const daisy_broker_t *self);
//  The summary so far (counters current); owned by the broker.
DAISY_EXPORT const daisy_summary_t *daisy_broker_summary(daisy_broker_t *self);
DAISY_EXPORT void daisy_broker_stats(const daisy_broker_t *self, daisy_broker_stats_t *stats);
//  A task's counters and recent completion rate, as the feed publishes them.
DAISY_EXPORT void daisy_broker_task_state(const daisy_broker_t *self, uint32_t task,
                                          daisy_wire_task_state_t *state);
//  What the launcher knows of a task's workers that have not connected:
//  `pending` wait in a batch queue, `starting` run but said no HELLO yet.
//  Carried in the task's state (the feed, the progress bars); ignored once
//  the task is done.
DAISY_EXPORT void daisy_broker_set_launches(daisy_broker_t *self, uint32_t task,
                                            uint32_t pending, uint32_t starting);
//  Where this run's worker logs are (DIR/TASK/WORKER.err), named in the
//  summary's failures; replaces the log_dir option (the launcher sets it
//  to the run's own folder).
DAISY_EXPORT void daisy_broker_set_log_dir(daisy_broker_t *self, const char *dir);
//  The run's statistics so far (block times per task, work per worker;
//  see daisy_wire_run_stats_t). The arrays belong to the broker and stay
//  valid until the next call or daisy_broker_destroy(). 0, or -1 when
//  memory runs out.
DAISY_EXPORT int daisy_broker_run_stats(daisy_broker_t *self, daisy_wire_run_stats_t *out);
//  Workers currently connected to a task.
DAISY_EXPORT uint32_t daisy_broker_worker_count(const daisy_broker_t *self, uint32_t task);

#ifdef __cplusplus
}
#endif
#endif
