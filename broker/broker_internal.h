/*  broker_internal.h - the broker's state, shared by its files

    broker.c runs the loop and the message handlers, roster.c keeps the
    workers and the blocks they hold, progress.c publishes events. Workers
    and leases sit on intrusive, time-ordered lists (moved to the tail when
    touched), so finding who is due for a heartbeat, who went silent and
    which block overran its timeout costs O(1) per expiry instead of a scan
    or a timer per worker.
*/
#ifndef DAISY_BROKER_INTERNAL_H
#define DAISY_BROKER_INTERNAL_H

#include <czmq.h>

#include "daisy/broker.h"

typedef struct dnode {
    struct dnode *prev, *next;
} dnode_t;

typedef struct worker worker_t;

//  One block held by a worker: the lease its result must match.
typedef struct lease {
    struct lease *next_in_worker;
    dnode_t by_start;           //  in the task's running leases, oldest start first
    worker_t *worker;
    uint64_t index;
    uint64_t block_id;
    uint32_t attempt;
    int64_t started;            //  ms, monotonic: handed out, then started
} lease_t;

//  A routing id as the roster's hash key: its bytes, hashed and compared
//  as they are (no hex, no strings).
typedef struct {
    const uint8_t *bytes;
    size_t size;
} idkey_t;

struct worker {
    idkey_t key;                //  the roster's hash key: identity, identity_size
    uint8_t identity[256];      //  routing id as sent by ZeroMQ
    size_t identity_size;
    char *worker_id;
    char *host;
    int64_t pid;
    uint32_t task;
    uint32_t credits;           //  blocks it asked for and did not get yet
    lease_t *leases;
    uint32_t nleases;
    lease_t *running;           //  the lease it said it runs (STARTED), or NULL
    bool runs_at_once;          //  HELLO said prefetch 1: a block handed out alone starts
    bool unsent;                //  its last BLOCKS could not be sent: try again when heard
    int64_t last_heard;
    int64_t last_sent;
    uint32_t hb_ms;             //  heartbeat interval it was told (0: not welcomed yet)
    dnode_t by_heard;           //  roster list, least recently heard first
    dnode_t by_sent;            //  roster list, least recently sent to first
    dnode_t parked;             //  in its task's waiting list while credits > 0
    bool is_parked;
    //  Its running block passed the task's timeout: not retried until the
    //  worker reports it or late_until passes; it keeps what it holds
    //  behind it (see time_out and settle_late in broker.c).
    bool is_late;
    uint64_t late_index;        //  the block in its task's grid
    uint64_t late_block;
    uint32_t late_attempt;
    int64_t late_until;
    dnode_t by_late;            //  in the broker's late list, while is_late
    size_t stats;               //  its entry in the run statistics (SIZE_MAX: none)
};

//  stats.c: a task's block times; a worker's share of the run.
typedef struct tstats tstats_t;
typedef struct {
    char *worker_id;
    char *host;
    uint32_t task;
    uint64_t blocks;
    double cpu_s;
    uint64_t peak_rss_kb;
} wstats_t;

typedef struct {
    dnode_t parked;             //  workers waiting for blocks of this task
    dnode_t leases;             //  running blocks (STARTED), oldest start first
    uint32_t nworkers;
    int64_t timeout_ms;         //  0: none
    bool started;               //  TASK_STARTED published
    bool finished;              //  TASK_DONE published, workers told to exit
    int64_t started_at;         //  ms, monotonic: its first block handed out
    int64_t finished_at;        //  ms: when it was done (elapsed stops)
    uint32_t jobs_pending;      //  as the launcher last said
    uint32_t jobs_starting;
    uint64_t rate_completed;    //  completed less skipped at the last rate sample
    int64_t rate_at;
    double rate;                //  blocks per second, smoothed
    uint64_t *changed;          //  block states changed since the last BLOCK_CHANGES
    uint8_t *changed_to;        //  (DAISY_MAX_CHANGES each, with a feed; else NULL)
    uint32_t nchanged;
} btask_t;

struct _daisy_broker_t {
    const daisy_graph_t *graph;
    daisy_scheduler_t *scheduler;
    daisy_markers_t **markers;  //  per task, or NULL without markers
    daisy_summary_t *summary;
    daisy_broker_options_t opt;
    zsock_t *router;
    zsock_t *pub;
    zsock_t *zap;               //  our ZAP handler (CurveZMQ), or NULL
    zsock_t *handshakes;        //  the router's failed handshakes (CurveZMQ), or NULL
    int64_t clear_logged_at;    //  when a clear-text peer was last logged
    uint64_t clear_hidden;      //  clear-text attempts since, not logged
    zcertstore_t *allowed;      //  allowed worker keys
    void *router_handle;        //  zsock_resolve(router): the hot path uses libzmq
    int router_fd;              //  its ZMQ_FD, which libzmq signals (edge-triggered)
    bool failed;                //  recording failed (markers): `failure` says why
    daisy_error_t failure;
    bool armed;                 //  the router was last touched by an empty receive, after
                                //  every send: its descriptor will signal what comes next
    char *endpoint;
    char private_dir[128];      //  ipc://* : the directory of our socket ("" otherwise)
    char *advertised;           //  what workers are told (NULL: no routable address)
    char *pub_endpoint;
    char *log_dir;              //  workers' logs of this run, or NULL
    char hostname[256];
    char run_id[DAISY_MAX_RUN_ID + 1];            //  this run's id: workers started for another are refused
    int64_t log_window;         //  refusal log lines: start of the current second
    uint32_t log_lines;         //  lines logged in it
    uint64_t log_dropped;       //  refusals not logged in it
    btask_t *tasks;
    uint32_t ntasks;
    zhashx_t *workers;          //  key -> worker_t
    zhashx_t *by_id;            //  worker_id -> worker_t (the first of that id)
    dnode_t by_heard;
    dnode_t by_sent;
    dnode_t late;               //  workers stuck past a timeout, earliest late_until first
    uint32_t hb_ms;             //  heartbeat interval workers are told now (pace.c)
    uint32_t sweep_ms;          //  the smallest any worker knows: heartbeats go out at it
    uint32_t hb_stale;          //  workers told an older interval
    daisy_decoder_t *decoder;
    daisy_buffer_t out;         //  encoding buffer, reused
    daisy_buffer_t evt;         //  event encoding buffer, reused
    daisy_block_t *scratch;     //  acquired blocks waiting to be sent
    daisy_wire_block_t *wire;
    lease_t *free_leases;       //  recycled leases
    tstats_t *tstats;           //  per task
    wstats_t *wstats;           //  per worker that ever joined
    size_t nwstats, capwstats;
    zhashx_t *wstats_by_id;     //  worker id -> its index in wstats, plus 1
    daisy_wire_task_stats_t *report_tasks;      //  daisy_broker_run_stats()
    daisy_wire_worker_stats_t *report_workers;
    int64_t last_snapshot;
    int64_t last_changes;       //  the last BLOCK_CHANGES round
    uint64_t changes_pending;   //  block state changes not published yet
    uint32_t map_task;          //  where the next BLOCK_SNAPSHOT starts
    uint64_t map_first;
    daisy_broker_stats_t stats;
    uint64_t held;              //  leases outstanding
    unsigned stops;             //  daisy_broker_stop() calls (atomic)
    bool refused_this;          //  the message being handled was refused
    bool draining;              //  no more blocks handed out
    int64_t serve_from;         //  no block handed out before (a resume: see resume_grace)
    int64_t awake_until;        //  the loop ran, or chose to sleep, until then (0: not yet)
    bool finished;
};

//  Intrusive lists (circular, with the list head as sentinel).
void dlist_init(dnode_t *head);
bool dlist_empty(const dnode_t *head);
void dlist_push_tail(dnode_t *head, dnode_t *node);
void dlist_remove(dnode_t *node);
#define dlist_entry(node, type, member) \
    ((type *)((char *)(node) - offsetof(type, member)))

//  pace.c: the heartbeat interval grows with the roster.
void pace_init(daisy_broker_t *self);
uint32_t pace_welcome(daisy_broker_t *self, worker_t *w);
void pace_told(daisy_broker_t *self, worker_t *w);
bool pace_stale(const daisy_broker_t *self, const worker_t *w);

//  roster.c
worker_t *roster_find(daisy_broker_t *self, const uint8_t *identity, size_t size);
//  The hash and comparison of the roster's keys (idkey_t).
size_t roster_key_hash(const void *key);
int roster_key_compare(const void *a, const void *b);
worker_t *roster_add(daisy_broker_t *self, const uint8_t *identity, size_t size);
void roster_remove(daisy_broker_t *self, worker_t *w);
//  The worker said who it is (HELLO): indexed by worker id from now on.
int roster_name(daisy_broker_t *self, worker_t *w, const char *worker_id);
worker_t *roster_by_id(const daisy_broker_t *self, const char *worker_id);
void roster_heard(daisy_broker_t *self, worker_t *w, int64_t now);
void roster_sent(daisy_broker_t *self, worker_t *w, int64_t now);
void roster_park(daisy_broker_t *self, worker_t *w);
void roster_unpark(daisy_broker_t *self, worker_t *w);
lease_t *roster_lease(daisy_broker_t *self, worker_t *w, const daisy_block_t *b, int64_t now);
//  The worker's lease on block_id for `attempt`, unlinked; NULL if none.
lease_t *roster_take_lease(daisy_broker_t *self, worker_t *w, uint64_t block_id,
                           uint32_t attempt);
void roster_free_lease(daisy_broker_t *self, lease_t *l);
void roster_destroy_all(daisy_broker_t *self);
//  The broker did not run for `gap` ms (stopped, suspended with its run by
//  Ctrl-Z, starved): that time counts neither as a worker's silence nor
//  towards a block's timeout. Shifts every worker's last_heard (by `gap`
//  and `rejoin` more) and every lease's start, which keeps the
//  time-ordered lists in order.
void roster_pause(daisy_broker_t *self, int64_t gap, int64_t rejoin);
//  A worker whose running block timed out first here (broker.c time_out),
//  until it reports the block or moves on (roster_late_clear).
void roster_late(daisy_broker_t *self, worker_t *w, uint64_t index, uint64_t block_id,
                 uint32_t attempt, int64_t until);
void roster_late_clear(daisy_broker_t *self, worker_t *w);

//  advertise.c: the endpoint to tell workers for the `bound` one: `given`
//  if set, else `bound` with a wildcard host made this host's routable
//  address; NULL when there is none. The caller frees it.
char *advertise_endpoint(const char *bound, const char *given);

//  auth.c
int auth_setup(daisy_broker_t *self, daisy_error_t *err);
void auth_handle(daisy_broker_t *self);
void auth_handshake(daisy_broker_t *self);
void auth_teardown(daisy_broker_t *self);
void broker_log(daisy_broker_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  stats.c
int stats_init(daisy_broker_t *self);
void stats_destroy(daisy_broker_t *self);
void stats_block(daisy_broker_t *self, worker_t *w, double seconds);
void stats_held(daisy_broker_t *self, uint32_t task, uint64_t processing);
void stats_worker(daisy_broker_t *self, worker_t *w);
void stats_report(daisy_broker_t *self, worker_t *w, double cpu_s, uint64_t peak_rss_kb);

//  progress.c
void progress_publish(daisy_broker_t *self, const daisy_msg_t *msg);
void progress_task_state(daisy_broker_t *self, uint32_t task, daisy_msg_type_t type);
void progress_snapshot(daisy_broker_t *self, int64_t now);
//  The task is done: its rate and elapsed time freeze, TASK_DONE goes out.
void progress_task_done(daisy_broker_t *self, uint32_t task);
void progress_run_stats(daisy_broker_t *self);
void progress_block_failed(daisy_broker_t *self, uint32_t task, uint64_t block_id,
                           uint32_t attempt, bool final, const char *error,
                           const worker_t *w);
void progress_worker(daisy_broker_t *self, const worker_t *w, daisy_msg_type_t type,
                     const char *reason);
void progress_run_finished(daisy_broker_t *self, bool interrupted);
//  Block states on the feed (BLOCK_CHANGES every CHANGES_MS, BLOCK_SNAPSHOT
//  rotating over the grids): set up with the feed, before any block moves.
#define CHANGES_MS 200
//  Tasks of more blocks get no map (their counters only): a byte per block
//  and a walk over the grid at the start are fine for 16 M blocks, not for
//  a task of 10^12.
#define PROGRESS_MAP_MAX ((uint64_t)1 << 24)
//  Blocks whose states one snapshot interval sends (4 chunks).
#define SNAPSHOT_BUDGET (4 * (uint64_t)DAISY_MAX_SNAPSHOT_BLOCKS)
int progress_track_blocks(daisy_broker_t *self);
void progress_flush_changes(daisy_broker_t *self, int64_t now);
//  Snapshots of up to `budget` blocks, where the last left off; all of
//  every grid with budget UINT64_MAX.
void progress_block_snapshots(daisy_broker_t *self, uint64_t budget);
void progress_free_blocks(daisy_broker_t *self);

//  rundir.c: the private directory of ipc://* (mode 0700 under $TMPDIR or
//  /tmp). rundir_make first removes those of brokers that died without
//  removing theirs; rundir_remove empties `dir` and clears
//  it, after the router is closed.
int rundir_make(char *dir, size_t size);
void rundir_remove(char *dir);

#endif
