/*  daisy/protocol.h - the wire format between broker, workers and monitors

    Every message is one msgpack array: [version, type, fields...]. The
    version comes first so that any peer can refuse a message from another
    protocol generation before reading anything else. Field positions and
    types are fixed per message type (see protocol/PROTOCOL.md, which is
    the normative description: a worker in another language is written
    from it alone).

    Workers talk to the broker over DEALER -> ROUTER, one frame per message.
    Progress events go out on PUB as two frames, [topic, body], the topic
    being the event's name so that subscribers can filter.

    Decoding never trusts its input: every length, type, count and range is
    checked, nothing is read out of bounds, and any defect gives an explicit
    error code with a one-line text. Decoded strings and arrays point into
    the decoder's own storage (a daisy_msg_t), valid until the next decode
    into it or its destruction.
*/
#ifndef DAISY_PROTOCOL_H
#define DAISY_PROTOCOL_H

//  A protocol-layer header: not for core or zarr code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_GRAPHDB)
#error "daisy/protocol.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daisy/block.h"
#include "daisy/counts.h"
#include "daisy/error.h"
#include "daisy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAISY_PROTOCOL_VERSION 2
//  No frame larger than this is accepted (sockets refuse it with
//  ZMQ_MAXMSGSIZE before allocating; decoders check it again).
#define DAISY_MAX_FRAME (1 << 20)
//  Blocks in one BLOCKS message and results in one RELEASE message.
#define DAISY_MAX_BATCH 1024
//  Longest error text carried in a RELEASE or an event (longer is cut).
#define DAISY_MAX_TEXT 4096
//  Longest run id (HELLO's run_id, a broker's --run-id).
#define DAISY_MAX_RUN_ID 32
//  Entries in one BLOCK_CHANGES event.
#define DAISY_MAX_CHANGES 32768
//  Blocks covered by one BLOCK_SNAPSHOT event (2^18: compressed, always
//  well under DAISY_MAX_FRAME).
#define DAISY_MAX_SNAPSHOT_BLOCKS 262144

typedef enum {
    //  worker -> broker
    DAISY_MSG_HELLO = 1,        //  join a task
    DAISY_MSG_REQUEST = 2,      //  ask for more blocks (credits)
    DAISY_MSG_RELEASE = 3,      //  results of blocks, and more credits
    DAISY_MSG_HEARTBEAT = 4,    //  still alive (either direction)
    DAISY_MSG_BYE = 5,          //  leaving; blocks held go back
    DAISY_MSG_STARTED = 6,      //  a held block is being processed now
    DAISY_MSG_STATS = 7,        //  the worker's CPU time and peak memory so far
    //  broker -> worker
    DAISY_MSG_WELCOME = 101,    //  accepted; heartbeat settings
    DAISY_MSG_BLOCKS = 102,     //  blocks to process
    DAISY_MSG_SHUTDOWN = 103,   //  no more work for this task: exit
    DAISY_MSG_ERROR = 105,      //  the last message was refused
    //  broker -> monitors (PUB)
    DAISY_EVT_TASK_STATE = 201, //  counters of a task (rate-limited snapshots)
    DAISY_EVT_TASK_STARTED = 202,
    DAISY_EVT_TASK_DONE = 203,
    DAISY_EVT_BLOCK_FAILED = 204,
    DAISY_EVT_WORKER_JOINED = 205,
    DAISY_EVT_WORKER_LOST = 206,
    DAISY_EVT_RUN_FINISHED = 207,
    DAISY_EVT_RUN_STATS = 208,  //  block times per task, work per worker
    DAISY_EVT_BLOCK_CHANGES = 209,  //  blocks whose state changed (batched)
    DAISY_EVT_BLOCK_SNAPSHOT = 210  //  every block's state over a part of a task's grid
} daisy_msg_type_t;

typedef enum {
    DAISY_PROTO_OK = 0,
    DAISY_PROTO_TRUNCATED = 1,      //  the bytes end inside a value
    DAISY_PROTO_OVERSIZED = 2,      //  larger than DAISY_MAX_FRAME or a limit
    DAISY_PROTO_MALFORMED = 3,      //  not msgpack, or trailing bytes
    DAISY_PROTO_BAD_VERSION = 4,    //  another protocol version
    DAISY_PROTO_UNKNOWN_TYPE = 5,   //  a type this version does not define
    DAISY_PROTO_BAD_FIELD = 6,      //  wrong field count, type or range
    DAISY_PROTO_UNKNOWN_TASK = 7,   //  (broker) names no task of the pipeline
    DAISY_PROTO_UNKNOWN_BLOCK = 8,  //  (broker) names no block, or one not held
    DAISY_PROTO_NOT_READY = 9,      //  (broker) message out of order (no HELLO)
    DAISY_PROTO_WRONG_RUN = 10      //  (broker) HELLO names another run: exit
} daisy_proto_error_t;

typedef enum {
    DAISY_RESULT_SUCCESS = 0,
    DAISY_RESULT_FAILED = 1,
    DAISY_RESULT_SKIPPED = 2        //  the completion check found it done
} daisy_result_status_t;

//  One block as sent to a worker.
typedef struct {
    uint64_t block_id;
    uint32_t attempt;
    uint32_t level;
    daisy_roi_t read_roi;
    daisy_roi_t write_roi;
} daisy_wire_block_t;

//  One block's result as sent to the broker.
typedef struct {
    uint64_t block_id;
    uint32_t attempt;               //  the attempt this result is for
    daisy_result_status_t status;
    double seconds;                 //  time spent on it
    const char *error;              //  "" on success
} daisy_wire_result_t;

//  A block a worker holds, by id and attempt (STARTED, RELEASE.started).
typedef struct {
    uint64_t block_id;
    uint32_t attempt;
} daisy_wire_lease_t;

//  Task counters as carried by TASK_STATE, TASK_DONE and RUN_FINISHED.
typedef struct {
    const char *task_id;
    daisy_task_counts_t counts;
    double blocks_per_s;            //  recent rate of blocks processed (skipped
                                    //  ones not counted); once the task is done,
                                    //  those completions over elapsed_s
    double elapsed_s;               //  since its first block was handed out
                                    //  (0 before), frozen when it is done
    uint32_t workers;               //  workers connected to it
    uint32_t jobs_pending;          //  workers launched and waiting in a batch
                                    //  queue (SLURM PENDING)
    uint32_t jobs_starting;         //  workers launched (a process, a running
                                    //  job) that have not connected yet
} daisy_wire_task_state_t;

//  Points of a task's block-time trend: the mean block time of each tenth
//  of its blocks, in the order they completed.
#define DAISY_TREND_POINTS 10
//  Workers in one RUN_STATS message (more are left out).
#define DAISY_MAX_STATS_WORKERS 8192

//  A task's block times, as RUN_STATS carries them (seconds as workers
//  measured them; quantiles within 3 %).
typedef struct {
    const char *task_id;
    uint64_t blocks;                //  results received (completed or failed)
    double mean_s, p50_s, p95_s, max_s;
    uint32_t trend_points;          //  0..DAISY_TREND_POINTS
    double trend_s[DAISY_TREND_POINTS];
    uint32_t peak_concurrency;      //  most blocks held by workers at once
} daisy_wire_task_stats_t;

//  One worker's share of the run.
typedef struct {
    const char *worker_id;
    const char *host;
    const char *task_id;
    uint64_t blocks;                //  results it returned
    double cpu_s;                   //  user + system, its block commands included
    uint64_t peak_rss_kb;           //  largest resident set (it or a command)
} daisy_wire_worker_stats_t;

//  A worker's own figures so far (STATS).
typedef struct {
    double cpu_s;                   //  user + system, waited-for children included
    uint64_t peak_rss_kb;           //  largest resident set, its own or a child's
} daisy_wire_stats_msg_t;

//  The run's statistics (RUN_STATS).
typedef struct {
    uint32_t ntasks;
    daisy_wire_task_stats_t *tasks;
    uint32_t nworkers;
    daisy_wire_worker_stats_t *workers;
} daisy_wire_run_stats_t;

//  A decoded (or to-be-encoded) message: `type` says which part is valid.
typedef struct {
    daisy_msg_type_t type;
    union {
        struct {                    //  HELLO
            const char *task_id;
            const char *worker_id;  //  unique per worker process
            const char *host;
            int64_t pid;
            uint32_t prefetch;      //  blocks the worker wants to hold at once
            const char *run_id;     //  the broker run it was started for, or ""
        } hello;
        struct {                    //  REQUEST
            uint32_t credits;
        } request;
        struct {                    //  RELEASE
            uint32_t credits;       //  further blocks wanted
            uint32_t count;
            daisy_wire_result_t *results;
            bool has_started;       //  the worker started `started` next
            daisy_wire_lease_t started;
        } release;
        daisy_wire_lease_t started; //  STARTED
        daisy_wire_stats_msg_t stats;         //  STATS
        struct {                    //  WELCOME
            const char *task_id;
            uint32_t heartbeat_ms;  //  interval both sides keep
            uint32_t liveness;      //  missed intervals before a peer is lost
            uint32_t dims;
            uint32_t timeout_ms;    //  the task's block timeout; 0: none (left off the wire)
            //  Blocks of this worker the broker holds (a reconnect it did
            //  not give up on); 0: none, left off the wire. A worker that
            //  holds blocks and is told 0 has lost them (PROTOCOL.md 4).
            uint32_t held;
        } welcome;
        struct {                    //  BLOCKS
            const char *task_id;
            uint32_t count;
            daisy_wire_block_t *blocks;
        } blocks;
        struct {                    //  SHUTDOWN
            const char *reason;
        } shutdown;
        struct {                    //  ERROR
            uint32_t code;          //  a daisy_proto_error_t
            const char *text;
        } error;
        daisy_wire_task_state_t task_state;   //  TASK_STATE, TASK_STARTED, TASK_DONE
        struct {                    //  BLOCK_FAILED
            const char *task_id;
            uint64_t block_id;
            uint32_t attempt;
            bool final;             //  failed for good (no retry left)
            const char *error;
            const char *worker_id;
            const char *log;
        } block_failed;
        struct {                    //  WORKER_JOINED, WORKER_LOST
            const char *worker_id;
            const char *task_id;
            const char *host;
            int64_t pid;
            const char *reason;     //  "" when joined
        } worker;
        struct {                    //  RUN_FINISHED
            bool success;
            bool interrupted;
            uint32_t count;
            daisy_wire_task_state_t *tasks;
        } run_finished;
        daisy_wire_run_stats_t run_stats;    //  RUN_STATS
        struct {                    //  BLOCK_CHANGES
            const char *task_id;
            uint32_t count;
            const uint64_t *indices;    //  row-major grid indices
            const uint8_t *states;      //  each a daisy_block_state_t
        } block_changes;
        struct {                    //  BLOCK_SNAPSHOT
            const char *task_id;
            uint32_t dims;              //  1..DAISY_MAX_DIMS
            uint64_t grid[DAISY_MAX_DIMS];  //  blocks per dimension
            uint64_t first;             //  index of the first block covered
            uint32_t count;             //  blocks covered, 0..DAISY_MAX_SNAPSHOT_BLOCKS
            const uint8_t *states;      //  `count` states (zlib-compressed on the wire)
        } block_snapshot;
    } u;
} daisy_msg_t;

//  Decoder storage ---------------------------------------------------------

typedef struct _daisy_decoder_t daisy_decoder_t;

DAISY_EXPORT daisy_decoder_t *daisy_decoder_new(void);
DAISY_EXPORT void daisy_decoder_destroy(daisy_decoder_t **self_p);

//  Decode `size` bytes into *msg. Returns DAISY_PROTO_OK, or an error code
//  with a one-line description in err. *msg's pointers stay valid until
//  the next call on the same decoder.
DAISY_EXPORT daisy_proto_error_t daisy_decode(daisy_decoder_t *self, const void *data, size_t size,
                                              daisy_msg_t *msg, daisy_error_t *err);

//  Encoding ----------------------------------------------------------------

//  A growable output buffer; reuse one across messages to avoid allocation.
typedef struct {
    char *data;
    size_t size;
    size_t cap;
} daisy_buffer_t;

DAISY_EXPORT void daisy_buffer_reset(daisy_buffer_t *buf);
DAISY_EXPORT void daisy_buffer_free(daisy_buffer_t *buf);

//  Encode *msg into buf (replacing its contents). Returns 0, or -1 when a
//  field is out of range (a batch over DAISY_MAX_BATCH, dims over
//  DAISY_MAX_DIMS) or memory runs out. Texts longer than DAISY_MAX_TEXT are
//  cut.
DAISY_EXPORT int daisy_encode(const daisy_msg_t *msg, daisy_buffer_t *buf);

//  Helpers -----------------------------------------------------------------

//  The name of a message type ("hello", "task_state", ...) used as the
//  PUB topic for events; "unknown" otherwise.
DAISY_EXPORT const char *daisy_msg_name(daisy_msg_type_t type);
//  Whether `id` is a run id: 1 to DAISY_MAX_RUN_ID letters, digits, '-',
//  '_' or '.' (what a broker takes, and so what a worker may name).
DAISY_EXPORT bool daisy_run_id_valid(const char *id);
//  The name of an error code ("truncated", ...).
DAISY_EXPORT const char *daisy_proto_error_name(daisy_proto_error_t code);
//  Fill a wire block from a scheduler block.
DAISY_EXPORT void daisy_wire_block_from(daisy_wire_block_t *wire, const daisy_block_t *block);

#ifdef __cplusplus
}
#endif
#endif
