/*  test_protocol.c - the wire codec: round trips, hostile input, interop

    Every message type goes through encode and decode with realistic and
    extreme values. Hostile input comes in three kinds: systematic (every
    prefix of every sample, trailing bytes, huge declared lengths, deep
    nests), hand-written (a table of mistyped fields, each of which must
    be refused with a message naming the field) and random (fixed seeds,
    random bytes and mutated samples: never a crash, never OK for bytes
    that are not a message). Interop packs and unpacks with Python's
    msgpack exactly as PROTOCOL.md describes.

    Set DAISY_PROTOCOL_CORPUS=dir to write the small samples into dir as
    fuzzing seeds (protocol/corpus was made that way).
*/
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daisy/protocol.h"

static daisy_decoder_t *dec;
static daisy_buffer_t buf;
static daisy_error_t err;

static void
setup(void)
{
    dec = daisy_decoder_new();
    cr_assert_not_null(dec);
    memset(&buf, 0, sizeof buf);
    memset(&err, 0, sizeof err);
}

static void
teardown(void)
{
    daisy_decoder_destroy(&dec);
    daisy_buffer_free(&buf);
}

TestSuite(protocol, .init = setup, .fini = teardown);

static uint64_t
rnd(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

//  Samples -----------------------------------------------------------------

#define BIG 1024
static daisy_wire_result_t s_results[BIG];
static daisy_wire_block_t s_blocks[BIG];
static daisy_wire_task_state_t s_tasks[4096];
static daisy_wire_task_stats_t s_task_stats[4];
static daisy_wire_worker_stats_t s_worker_stats[4];
static char s_names[4096][16];
static uint64_t s_indices[DAISY_MAX_CHANGES];
static uint8_t s_states[DAISY_MAX_SNAPSHOT_BLOCKS];

static daisy_roi_t
roi(int dims, const int64_t *offset, const int64_t *shape)
{
    return daisy_roi_make(dims, offset, shape);
}

static daisy_task_counts_t
counts(uint64_t base)
{
    daisy_task_counts_t c = {base, base + 1, base + 2, base + 3, base + 4,
                             base + 5, base + 6, base + 7, base + 8};
    return c;
}

//  Sample i (0 <= i < NSAMPLES) in *m; arrays point to static storage.
#define NSAMPLES 47
static void
sample(int i, daisy_msg_t *m)
{
    static const int64_t o3[] = {-10, 0, 5}, s3[] = {30, 20, 10};
    static const int64_t wo3[] = {0, 0, 5}, ws3[] = {10, 20, 10};
    static const int64_t o6min[] = {INT64_MIN, -1, 0, 1, -1000000000000, INT64_MAX};
    static const int64_t s6max[] = {INT64_MAX, 0, -1, 1, 123456789012, INT64_MIN};
    memset(m, 0, sizeof *m);
    switch (i) {
    case 0:
        m->type = DAISY_MSG_HELLO;
        m->u.hello.task_id = "predict";
        m->u.hello.worker_id = "predict-node07-31337-0";
        m->u.hello.host = "node07.cluster";
        m->u.hello.pid = 31337;
        m->u.hello.prefetch = 2;
        m->u.hello.run_id = "3f2a9c0d4e5b6a71";
        break;
    case 1:
        m->type = DAISY_MSG_HELLO;
        m->u.hello.task_id = m->u.hello.worker_id = m->u.hello.host = "";
        m->u.hello.run_id = "";        //  a hand-started worker
        m->u.hello.pid = INT64_MIN;
        m->u.hello.prefetch = DAISY_MAX_BATCH;
        break;
    case 2:
        m->type = DAISY_MSG_HELLO;
        m->u.hello.task_id = "t\xc3\xa4sk \xe2\x9c\x93";   //  UTF-8
        m->u.hello.worker_id = "w";
        m->u.hello.host = "h";
        m->u.hello.pid = INT64_MAX;
        m->u.hello.prefetch = 1;
        m->u.hello.run_id = "nightly-2026.12_03";
        break;
    case 3:
        m->type = DAISY_MSG_REQUEST;
        break;
    case 4:
        m->type = DAISY_MSG_REQUEST;
        m->u.request.credits = DAISY_MAX_BATCH;
        break;
    case 5:
        m->type = DAISY_MSG_RELEASE;
        m->u.release.credits = 3;
        m->u.release.count = 3;
        m->u.release.results = s_results;
        s_results[0] = (daisy_wire_result_t) {17, 0, DAISY_RESULT_SUCCESS, 0.25, ""};
        s_results[1] = (daisy_wire_result_t) {18, 2, DAISY_RESULT_FAILED, 3.0,
                                              "process exited with status 1: out of memory"};
        s_results[2] = (daisy_wire_result_t) {19, 0, DAISY_RESULT_SKIPPED, 0.0, ""};
        break;
    case 6:
        m->type = DAISY_MSG_RELEASE;    //  nothing to release, no credits
        break;
    case 7:
        m->type = DAISY_MSG_RELEASE;
        m->u.release.credits = DAISY_MAX_BATCH;
        m->u.release.count = DAISY_MAX_BATCH;
        m->u.release.results = s_results;
        for (int k = 0; k < BIG; k++)
            s_results[k] = (daisy_wire_result_t) {UINT64_MAX - (uint64_t)k, UINT32_MAX - (uint32_t)k,
                                                  (daisy_result_status_t)(k % 3), k * 1e5, k % 2 ? "e" : ""};
        m->u.release.has_started = true;
        m->u.release.started = (daisy_wire_lease_t) {UINT64_MAX, UINT32_MAX};
        break;
    case 8:
        m->type = DAISY_MSG_HEARTBEAT;
        break;
    case 9:
        m->type = DAISY_MSG_BYE;
        break;
    case 10:
        m->type = DAISY_MSG_WELCOME;
        m->u.welcome.task_id = "predict";
        m->u.welcome.heartbeat_ms = 1000;
        m->u.welcome.liveness = 3;
        m->u.welcome.dims = 3;
        break;
    case 11:
        m->type = DAISY_MSG_WELCOME;
        m->u.welcome.task_id = "";
        m->u.welcome.heartbeat_ms = UINT32_MAX;
        m->u.welcome.liveness = UINT32_MAX;
        m->u.welcome.dims = DAISY_MAX_DIMS;
        break;
    case 12:
        m->type = DAISY_MSG_BLOCKS;
        m->u.blocks.task_id = "predict";
        m->u.blocks.count = 2;
        m->u.blocks.blocks = s_blocks;
        memset(s_blocks, 0, 2 * sizeof s_blocks[0]);
        s_blocks[0] = (daisy_wire_block_t) {5, 1, 2, roi(3, o3, s3), roi(3, wo3, ws3)};
        s_blocks[1] = (daisy_wire_block_t) {0, 0, 0, roi(3, wo3, ws3), roi(3, o3, s3)};
        break;
    case 13:
        m->type = DAISY_MSG_BLOCKS;
        m->u.blocks.task_id = "";
        break;
    case 14:
        m->type = DAISY_MSG_BLOCKS;
        m->u.blocks.task_id = "six";
        m->u.blocks.count = DAISY_MAX_BATCH;
        m->u.blocks.blocks = s_blocks;
        for (int k = 0; k < BIG; k++)
            s_blocks[k] = (daisy_wire_block_t) {UINT64_MAX - (uint64_t)k, UINT32_MAX, (uint32_t)k,
                                                roi(6, o6min, s6max), roi(6, s6max, o6min)};
        break;
    case 15:
        m->type = DAISY_MSG_BLOCKS;
        m->u.blocks.task_id = "one";
        m->u.blocks.count = 1;
        m->u.blocks.blocks = s_blocks;
        s_blocks[0] = (daisy_wire_block_t) {1, 0, 0, roi(1, &o3[0], &s3[0]), roi(1, &wo3[0], &ws3[0])};
        break;
    case 16:
        m->type = DAISY_MSG_SHUTDOWN;
        m->u.shutdown.reason = "task predict is done";
        break;
    case 17:
        m->type = DAISY_MSG_SHUTDOWN;
        m->u.shutdown.reason = "";
        break;
    case 18:
        m->type = DAISY_MSG_ERROR;
        m->u.error.code = DAISY_PROTO_UNKNOWN_BLOCK;
        m->u.error.text = "release: block 12 attempt 0 is not held by this worker";
        break;
    case 19:
        m->type = DAISY_MSG_ERROR;
        m->u.error.code = UINT32_MAX;
        m->u.error.text = "";
        break;
    case 20:
        m->type = DAISY_EVT_TASK_STATE;
        m->u.task_state = (daisy_wire_task_state_t) {"predict", counts(10), 12.5, 30.25, 4, 2, 1};
        break;
    case 21:
        m->type = DAISY_EVT_TASK_STARTED;
        m->u.task_state = (daisy_wire_task_state_t) {"predict", counts(0), 0.0, 0.0, 0, 0, 0};
        break;
    case 22:
        m->type = DAISY_EVT_TASK_DONE;
        m->u.task_state = (daisy_wire_task_state_t) {"", counts(UINT64_MAX - 8), 1e9, 1e9, UINT32_MAX, UINT32_MAX, UINT32_MAX};
        break;
    case 23:
        m->type = DAISY_EVT_BLOCK_FAILED;
        m->u.block_failed.task_id = "predict";
        m->u.block_failed.block_id = 42;
        m->u.block_failed.attempt = 2;
        m->u.block_failed.final = true;
        m->u.block_failed.error = "exit status 3";
        m->u.block_failed.worker_id = "predict-node07-31337-0";
        m->u.block_failed.log = "/logs/predict/worker-0.err";
        break;
    case 24:
        m->type = DAISY_EVT_BLOCK_FAILED;
        m->u.block_failed.task_id = m->u.block_failed.error = m->u.block_failed.worker_id =
            m->u.block_failed.log = "";
        m->u.block_failed.block_id = UINT64_MAX;
        m->u.block_failed.attempt = UINT32_MAX;
        break;
    case 25:
        m->type = DAISY_EVT_WORKER_JOINED;
        m->u.worker.worker_id = "predict-node07-31337-0";
        m->u.worker.task_id = "predict";
        m->u.worker.host = "node07";
        m->u.worker.pid = 31337;
        m->u.worker.reason = "";
        break;
    case 26:
        m->type = DAISY_EVT_WORKER_LOST;
        m->u.worker.worker_id = "w";
        m->u.worker.task_id = "t";
        m->u.worker.host = "";
        m->u.worker.pid = -1;
        m->u.worker.reason = "no heartbeat for 3000 ms";
        break;
    case 27:
        m->type = DAISY_EVT_RUN_FINISHED;
        m->u.run_finished.success = true;
        m->u.run_finished.count = 3;
        m->u.run_finished.tasks = s_tasks;
        s_tasks[0] = (daisy_wire_task_state_t) {"fetch", counts(100), 3.5, 28.5, 8, 0, 0};
        s_tasks[1] = (daisy_wire_task_state_t) {"predict", counts(200), 0.0, 0.0, 0, 16, 3};
        s_tasks[2] = (daisy_wire_task_state_t) {"", counts(0), 1.0, 1.0, 1, 1, 1};
        break;
    case 28:
        m->type = DAISY_EVT_RUN_FINISHED;
        m->u.run_finished.interrupted = true;
        break;
    case 29:
        m->type = DAISY_EVT_RUN_FINISHED;
        m->u.run_finished.success = true;
        m->u.run_finished.count = 4096;
        m->u.run_finished.tasks = s_tasks;
        for (int k = 0; k < 4096; k++) {
            snprintf(s_names[k], sizeof s_names[k], "t%d", k);
            s_tasks[k] = (daisy_wire_task_state_t) {s_names[k], counts((uint64_t)k), k / 7.0, k / 3.0,
                                                    (uint32_t)k, 0, (uint32_t)k % 5};
        }
        break;
    case 30:
        m->type = DAISY_MSG_BLOCKS;
        m->u.blocks.task_id = "neg";
        m->u.blocks.count = 1;
        m->u.blocks.blocks = s_blocks;
        s_blocks[0] = (daisy_wire_block_t) {7, 0, 1, roi(2, o6min, o6min), roi(2, o6min, o6min)};
        break;
    case 31:
        m->type = DAISY_MSG_STARTED;
        m->u.started = (daisy_wire_lease_t) {17, 1};
        break;
    case 32:
        m->type = DAISY_MSG_STARTED;
        m->u.started = (daisy_wire_lease_t) {UINT64_MAX, UINT32_MAX};
        break;
    case 33:
        m->type = DAISY_MSG_RELEASE;    //  a result, and the next block begins
        m->u.release.credits = 1;
        m->u.release.count = 1;
        m->u.release.results = s_results;
        s_results[0] = (daisy_wire_result_t) {17, 1, DAISY_RESULT_SUCCESS, 0.5, ""};
        m->u.release.has_started = true;
        m->u.release.started = (daisy_wire_lease_t) {18, 0};
        break;
    case 34:
        m->type = DAISY_MSG_RELEASE;    //  started only; block 0, attempt 0
        m->u.release.has_started = true;
        break;
    case 35:
        m->type = DAISY_MSG_ERROR;
        m->u.error.code = DAISY_PROTO_WRONG_RUN;
        m->u.error.text = "hello: worker t-h-1-0 (host h, pid 1) was started for run 0123456789abcdef, "
                          "this broker serves run fedcba9876543210";
        break;
    case 36:
        m->type = DAISY_MSG_STATS;
        m->u.stats.cpu_s = 12.75;
        m->u.stats.peak_rss_kb = 1u << 20;
        break;
    case 37:
        m->type = DAISY_MSG_STATS;      //  a worker that has done nothing yet
        break;
    case 38:
        m->type = DAISY_EVT_RUN_STATS;
        m->u.run_stats.ntasks = 2;
        m->u.run_stats.tasks = s_task_stats;
        m->u.run_stats.nworkers = 3;
        m->u.run_stats.workers = s_worker_stats;
        s_task_stats[0] = (daisy_wire_task_stats_t) {"predict", 250, 0.5, 0.45, 1.25, 3.0, 10,
            {0.4, 0.4, 0.45, 0.5, 0.5, 0.5, 0.55, 0.6, 0.6, 0.7}, 8};
        s_task_stats[1] = (daisy_wire_task_stats_t) {"reduce", 1, 2.0, 2.0, 2.0, 2.0, 1, {2.0}, 1};
        s_worker_stats[0] = (daisy_wire_worker_stats_t) {"predict-0", "node07", "predict", 125,
                                                         61.5, 204800};
        s_worker_stats[1] = (daisy_wire_worker_stats_t) {"predict-1", "node08", "predict", 125,
                                                         60.25, 198000};
        s_worker_stats[2] = (daisy_wire_worker_stats_t) {"reduce-0", "", "reduce", 0, 0, 0};
        break;
    case 39:
        m->type = DAISY_EVT_RUN_STATS;  //  nothing ran
        break;
    case 40:
        m->type = DAISY_EVT_BLOCK_CHANGES;
        m->u.block_changes.task_id = "predict";
        m->u.block_changes.count = 3;
        s_indices[0] = 0, s_indices[1] = 70000, s_indices[2] = UINT64_MAX;
        s_states[0] = DAISY_BLOCK_PROCESSING, s_states[1] = DAISY_BLOCK_COMPLETED;
        s_states[2] = DAISY_BLOCK_ORPHANED;
        m->u.block_changes.indices = s_indices;
        m->u.block_changes.states = s_states;
        break;
    case 41:
        m->type = DAISY_EVT_BLOCK_CHANGES;  //  the largest batch
        m->u.block_changes.task_id = "t";
        m->u.block_changes.count = DAISY_MAX_CHANGES;
        for (uint32_t k = 0; k < DAISY_MAX_CHANGES; k++)
            s_indices[k] = (uint64_t)k * 977, s_states[k] = (uint8_t)(k % DAISY_BLOCK_STATES);
        m->u.block_changes.indices = s_indices;
        m->u.block_changes.states = s_states;
        break;
    case 42:
        m->type = DAISY_EVT_BLOCK_SNAPSHOT;
        m->u.block_snapshot.task_id = "predict";
        m->u.block_snapshot.dims = 3;
        m->u.block_snapshot.grid[0] = 4, m->u.block_snapshot.grid[1] = 5;
        m->u.block_snapshot.grid[2] = 6;
        m->u.block_snapshot.first = 20;
        m->u.block_snapshot.count = 100;
        for (uint32_t k = 0; k < 100; k++)
            s_states[k] = (uint8_t)(k < 40 ? DAISY_BLOCK_COMPLETED : k % DAISY_BLOCK_STATES);
        m->u.block_snapshot.states = s_states;
        break;
    case 43:
        m->type = DAISY_EVT_BLOCK_SNAPSHOT;  //  the largest chunk, random states
        m->u.block_snapshot.task_id = "big";
        m->u.block_snapshot.dims = 1;
        m->u.block_snapshot.grid[0] = UINT64_MAX;
        m->u.block_snapshot.first = UINT64_MAX - DAISY_MAX_SNAPSHOT_BLOCKS;
        m->u.block_snapshot.count = DAISY_MAX_SNAPSHOT_BLOCKS;
        for (uint32_t k = 0, x = 1; k < DAISY_MAX_SNAPSHOT_BLOCKS; k++) {
            x = x * 1103515245u + 12345u;
            s_states[k] = (uint8_t)((x >> 16) % DAISY_BLOCK_STATES);
        }
        m->u.block_snapshot.states = s_states;
        break;
    case 44:
        m->type = DAISY_MSG_WELCOME;    //  a task with a timeout: 7 fields
        m->u.welcome.task_id = "predict";
        m->u.welcome.heartbeat_ms = 1000;
        m->u.welcome.liveness = 3;
        m->u.welcome.dims = 3;
        m->u.welcome.timeout_ms = 600000;
        break;
    case 45:
        m->type = DAISY_MSG_WELCOME;    //  a reconnect holding blocks: 8 fields
        m->u.welcome.task_id = "predict";
        m->u.welcome.heartbeat_ms = 1000;
        m->u.welcome.liveness = 3;
        m->u.welcome.dims = 3;
        m->u.welcome.timeout_ms = 600000;
        m->u.welcome.held = 12;
        break;
    case 46:
        m->type = DAISY_MSG_WELCOME;    //  ... of a task without a timeout (sent as 0)
        m->u.welcome.task_id = "predict";
        m->u.welcome.heartbeat_ms = 1000;
        m->u.welcome.liveness = 3;
        m->u.welcome.dims = 3;
        m->u.welcome.held = 1;
        break;
    }
}

//  Comparison --------------------------------------------------------------

static void
assert_roi_eq(const daisy_roi_t *a, const daisy_roi_t *b)
{
    cr_assert_eq(a->dims, b->dims);
    for (int d = 0; d < DAISY_MAX_DIMS; d++) {
        cr_assert_eq(a->offset[d], d < b->dims ? b->offset[d] : 0);
        cr_assert_eq(a->shape[d], d < b->dims ? b->shape[d] : 0);
    }
}

static void
assert_task_eq(const daisy_wire_task_state_t *a, const daisy_wire_task_state_t *b)
{
    cr_assert_str_eq(a->task_id, b->task_id);
    cr_assert(memcmp(&a->counts, &b->counts, sizeof a->counts) == 0);
    cr_assert_eq(a->blocks_per_s, b->blocks_per_s);
    cr_assert_eq(a->elapsed_s, b->elapsed_s);
    cr_assert_eq(a->workers, b->workers);
    cr_assert_eq(a->jobs_pending, b->jobs_pending);
    cr_assert_eq(a->jobs_starting, b->jobs_starting);
}

//  `got` (decoded) equals `want` (what was encoded).
static void
assert_msg_eq(const daisy_msg_t *got, const daisy_msg_t *want)
{
    cr_assert_eq(got->type, want->type);
    switch (want->type) {
    case DAISY_MSG_HELLO:
        cr_assert_str_eq(got->u.hello.task_id, want->u.hello.task_id);
        cr_assert_str_eq(got->u.hello.worker_id, want->u.hello.worker_id);
        cr_assert_str_eq(got->u.hello.host, want->u.hello.host);
        cr_assert_eq(got->u.hello.pid, want->u.hello.pid);
        cr_assert_eq(got->u.hello.prefetch, want->u.hello.prefetch);
        cr_assert_str_eq(got->u.hello.run_id, want->u.hello.run_id);
        break;
    case DAISY_MSG_REQUEST:
        cr_assert_eq(got->u.request.credits, want->u.request.credits);
        break;
    case DAISY_MSG_RELEASE:
        cr_assert_eq(got->u.release.credits, want->u.release.credits);
        cr_assert_eq(got->u.release.count, want->u.release.count);
        for (uint32_t i = 0; i < want->u.release.count; i++) {
            const daisy_wire_result_t *a = &got->u.release.results[i], *b = &want->u.release.results[i];
            cr_assert_eq(a->block_id, b->block_id);
            cr_assert_eq(a->attempt, b->attempt);
            cr_assert_eq(a->status, b->status);
            cr_assert_eq(a->seconds, b->seconds);
            cr_assert_str_eq(a->error, b->error);
        }
        cr_assert_eq(got->u.release.has_started, want->u.release.has_started);
        if (want->u.release.has_started) {
            cr_assert_eq(got->u.release.started.block_id, want->u.release.started.block_id);
            cr_assert_eq(got->u.release.started.attempt, want->u.release.started.attempt);
        }
        break;
    case DAISY_MSG_STARTED:
        cr_assert_eq(got->u.started.block_id, want->u.started.block_id);
        cr_assert_eq(got->u.started.attempt, want->u.started.attempt);
        break;
    case DAISY_MSG_WELCOME:
        cr_assert_str_eq(got->u.welcome.task_id, want->u.welcome.task_id);
        cr_assert_eq(got->u.welcome.heartbeat_ms, want->u.welcome.heartbeat_ms);
        cr_assert_eq(got->u.welcome.liveness, want->u.welcome.liveness);
        cr_assert_eq(got->u.welcome.dims, want->u.welcome.dims);
        cr_assert_eq(got->u.welcome.timeout_ms, want->u.welcome.timeout_ms);
        cr_assert_eq(got->u.welcome.held, want->u.welcome.held);
        break;
    case DAISY_MSG_BLOCKS:
        cr_assert_str_eq(got->u.blocks.task_id, want->u.blocks.task_id);
        cr_assert_eq(got->u.blocks.count, want->u.blocks.count);
        for (uint32_t i = 0; i < want->u.blocks.count; i++) {
            const daisy_wire_block_t *a = &got->u.blocks.blocks[i], *b = &want->u.blocks.blocks[i];
            cr_assert_eq(a->block_id, b->block_id);
            cr_assert_eq(a->attempt, b->attempt);
            cr_assert_eq(a->level, b->level);
            assert_roi_eq(&a->read_roi, &b->read_roi);
            assert_roi_eq(&a->write_roi, &b->write_roi);
        }
        break;
    case DAISY_MSG_SHUTDOWN:
        cr_assert_str_eq(got->u.shutdown.reason, want->u.shutdown.reason);
        break;
    case DAISY_MSG_ERROR:
        cr_assert_eq(got->u.error.code, want->u.error.code);
        cr_assert_str_eq(got->u.error.text, want->u.error.text);
        break;
    case DAISY_EVT_TASK_STATE:
    case DAISY_EVT_TASK_STARTED:
    case DAISY_EVT_TASK_DONE:
        assert_task_eq(&got->u.task_state, &want->u.task_state);
        break;
    case DAISY_EVT_BLOCK_FAILED:
        cr_assert_str_eq(got->u.block_failed.task_id, want->u.block_failed.task_id);
        cr_assert_eq(got->u.block_failed.block_id, want->u.block_failed.block_id);
        cr_assert_eq(got->u.block_failed.attempt, want->u.block_failed.attempt);
        cr_assert_eq(got->u.block_failed.final, want->u.block_failed.final);
        cr_assert_str_eq(got->u.block_failed.error, want->u.block_failed.error);
        cr_assert_str_eq(got->u.block_failed.worker_id, want->u.block_failed.worker_id);
        cr_assert_str_eq(got->u.block_failed.log, want->u.block_failed.log);
        break;
    case DAISY_EVT_WORKER_JOINED:
    case DAISY_EVT_WORKER_LOST:
        cr_assert_str_eq(got->u.worker.worker_id, want->u.worker.worker_id);
        cr_assert_str_eq(got->u.worker.task_id, want->u.worker.task_id);
        cr_assert_str_eq(got->u.worker.host, want->u.worker.host);
        cr_assert_eq(got->u.worker.pid, want->u.worker.pid);
        cr_assert_str_eq(got->u.worker.reason, want->u.worker.reason);
        break;
    case DAISY_EVT_RUN_FINISHED:
        cr_assert_eq(got->u.run_finished.success, want->u.run_finished.success);
        cr_assert_eq(got->u.run_finished.interrupted, want->u.run_finished.interrupted);
        cr_assert_eq(got->u.run_finished.count, want->u.run_finished.count);
        for (uint32_t i = 0; i < want->u.run_finished.count; i++)
            assert_task_eq(&got->u.run_finished.tasks[i], &want->u.run_finished.tasks[i]);
        break;
    case DAISY_MSG_STATS:
        cr_assert_eq(got->u.stats.cpu_s, want->u.stats.cpu_s);
        cr_assert_eq(got->u.stats.peak_rss_kb, want->u.stats.peak_rss_kb);
        break;
    case DAISY_EVT_RUN_STATS:
        cr_assert_eq(got->u.run_stats.ntasks, want->u.run_stats.ntasks);
        cr_assert_eq(got->u.run_stats.nworkers, want->u.run_stats.nworkers);
        for (uint32_t i = 0; i < want->u.run_stats.ntasks; i++) {
            const daisy_wire_task_stats_t *a = &got->u.run_stats.tasks[i],
                                          *b = &want->u.run_stats.tasks[i];
            cr_assert_str_eq(a->task_id, b->task_id);
            cr_assert_eq(a->blocks, b->blocks);
            cr_assert(a->mean_s == b->mean_s && a->p50_s == b->p50_s && a->p95_s == b->p95_s
                      && a->max_s == b->max_s);
            cr_assert_eq(a->trend_points, b->trend_points);
            for (uint32_t k = 0; k < b->trend_points; k++)
                cr_assert_eq(a->trend_s[k], b->trend_s[k]);
            cr_assert_eq(a->peak_concurrency, b->peak_concurrency);
        }
        for (uint32_t i = 0; i < want->u.run_stats.nworkers; i++) {
            const daisy_wire_worker_stats_t *a = &got->u.run_stats.workers[i],
                                            *b = &want->u.run_stats.workers[i];
            cr_assert_str_eq(a->worker_id, b->worker_id);
            cr_assert_str_eq(a->host, b->host);
            cr_assert_str_eq(a->task_id, b->task_id);
            cr_assert_eq(a->blocks, b->blocks);
            cr_assert_eq(a->cpu_s, b->cpu_s);
            cr_assert_eq(a->peak_rss_kb, b->peak_rss_kb);
        }
        break;
    case DAISY_EVT_BLOCK_CHANGES:
        cr_assert_str_eq(got->u.block_changes.task_id, want->u.block_changes.task_id);
        cr_assert_eq(got->u.block_changes.count, want->u.block_changes.count);
        for (uint32_t i = 0; i < want->u.block_changes.count; i++) {
            cr_assert_eq(got->u.block_changes.indices[i], want->u.block_changes.indices[i]);
            cr_assert_eq(got->u.block_changes.states[i], want->u.block_changes.states[i]);
        }
        break;
    case DAISY_EVT_BLOCK_SNAPSHOT:
        cr_assert_str_eq(got->u.block_snapshot.task_id, want->u.block_snapshot.task_id);
        cr_assert_eq(got->u.block_snapshot.dims, want->u.block_snapshot.dims);
        for (uint32_t d = 0; d < want->u.block_snapshot.dims; d++)
            cr_assert_eq(got->u.block_snapshot.grid[d], want->u.block_snapshot.grid[d]);
        cr_assert_eq(got->u.block_snapshot.first, want->u.block_snapshot.first);
        cr_assert_eq(got->u.block_snapshot.count, want->u.block_snapshot.count);
        cr_assert(memcmp(got->u.block_snapshot.states, want->u.block_snapshot.states,
                         want->u.block_snapshot.count) == 0);
        break;
    default:
        break;
    }
}

static daisy_proto_error_t
decode(const void *data, size_t size, daisy_msg_t *m)
{
    memset(&err, 0, sizeof err);
    return daisy_decode(dec, data, size, m, &err);
}

//  Decode, and require code `want` with `text` in the error message.
static void
expect(const void *data, size_t size, daisy_proto_error_t want, const char *text, const char *what)
{
    daisy_msg_t m;
    daisy_proto_error_t rc = decode(data, size, &m);
    cr_assert_eq(rc, want, "%s: got %s (%s), want %s", what, daisy_proto_error_name(rc), err.msg,
                 daisy_proto_error_name(want));
    if (text)
        cr_assert(strstr(err.msg, text), "%s: error \"%s\" does not contain \"%s\"", what, err.msg, text);
}

//  Round trips ---------------------------------------------------------------

static void
write_seed(int i, const daisy_msg_t *m)
{
    const char *dir = getenv("DAISY_PROTOCOL_CORPUS");
    if (!dir || buf.size > 4096)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%02d-%s.msgpack", dir, i, daisy_msg_name(m->type));
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(buf.data, 1, buf.size, f), buf.size);
    fclose(f);
}

Test(protocol, round_trip_every_type)
{
    bool seen[256] = {false};
    for (int i = 0; i < NSAMPLES; i++) {
        daisy_msg_t m, got;
        sample(i, &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0, "sample %d (%s)", i, daisy_msg_name(m.type));
        cr_assert_leq(buf.size, (size_t)DAISY_MAX_FRAME);
        write_seed(i, &m);
        daisy_proto_error_t rc = decode(buf.data, buf.size, &got);
        cr_assert_eq(rc, DAISY_PROTO_OK, "sample %d: %s", i, err.msg);
        assert_msg_eq(&got, &m);
        seen[m.type % 256] = true;
    }
    static const int types[] = {1, 2, 3, 4, 5, 6, 101, 102, 103, 105, 201, 202, 203, 204, 205, 206, 207,
                                208, 209, 210};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        cr_assert(seen[types[i]], "no sample of type %d", types[i]);
}

Test(protocol, encoding_is_compact_and_canonical)
{
    daisy_msg_t m = {.type = DAISY_MSG_HEARTBEAT};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(buf.size, 3);
    cr_assert(memcmp(buf.data, "\x92\x02\x04", 3) == 0);
    m = (daisy_msg_t) {.type = DAISY_MSG_REQUEST, .u.request.credits = 4};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(buf.size, 4);
    cr_assert(memcmp(buf.data, "\x93\x02\x02\x04", 4) == 0);
    //  The bytes msgpack-python gives for the same lists (PROTOCOL.md 13).
    static const struct {
        daisy_msg_t m;
        const char *bytes;
        size_t size;
        const char *what;
    } cases[] = {
        {{.type = DAISY_MSG_STARTED, .u.started = {5, 1}}, "\x94\x02\x06\x05\x01", 5,
         "[2, 6, 5, 1]"},
        {{.type = DAISY_MSG_RELEASE, .u.release = {.credits = 1, .has_started = true, .started = {17, 0}}},
         "\x95\x02\x03\x01\x90\x91\x92\x11\x00", 9, "[2, 3, 1, [], [[17, 0]]]"},
        //  has_started false: `started` is not sent, whatever it holds.
        {{.type = DAISY_MSG_RELEASE, .u.release = {.started = {17, 3}}}, "\x95\x02\x03\x00\x90\x90", 6,
         "[2, 3, 0, [], []]"},
        {{.type = DAISY_MSG_HELLO, .u.hello = {"t", "w", "h", 7, 1, "r1"}},
         "\x98\x02\x01\xa1t\xa1w\xa1h\x07\x01\xa2r1", 14, "[2, 1, \"t\", \"w\", \"h\", 7, 1, \"r1\"]"},
        //  A NULL run_id goes out as "" (a worker that knows no run).
        {{.type = DAISY_MSG_HELLO, .u.hello = {"t", "w", "h", 7, 1, NULL}},
         "\x98\x02\x01\xa1t\xa1w\xa1h\x07\x01\xa0", 12, "[2, 1, \"t\", \"w\", \"h\", 7, 1, \"\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(daisy_encode(&cases[i].m, &buf), 0, "%s", cases[i].what);
        cr_assert(buf.size == cases[i].size && memcmp(buf.data, cases[i].bytes, buf.size) == 0,
                  "%s: %zu bytes, not as msgpack-python packs it", cases[i].what, buf.size);
    }
    //  What has_started false encodes decodes without a start.
    daisy_msg_t got;
    cr_assert_eq(daisy_encode(&cases[2].m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_not(got.u.release.has_started);
    cr_assert_eq(got.u.release.started.block_id, 0);
    cr_assert_eq(got.u.release.started.attempt, 0);
    //  Re-encoding a decoded message gives the same bytes.
    for (int i = 0; i < NSAMPLES; i++) {
        daisy_buffer_t again = {0};
        sample(i, &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0);
        cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
        cr_assert_eq(daisy_encode(&got, &again), 0);
        cr_assert_eq(again.size, buf.size);
        cr_assert(memcmp(again.data, buf.data, buf.size) == 0, "sample %d", i);
        daisy_buffer_free(&again);
    }
}

Test(protocol, long_texts_are_cut_on_character_boundaries)
{
    static char text[6000];
    daisy_msg_t m = {.type = DAISY_MSG_SHUTDOWN}, got;
    m.u.shutdown.reason = text;
    memset(text, 'x', 5000);
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(strlen(got.u.shutdown.reason), DAISY_MAX_TEXT);
    //  Exactly DAISY_MAX_TEXT is kept whole.
    text[DAISY_MAX_TEXT] = '\0';
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_eq(strlen(got.u.shutdown.reason), DAISY_MAX_TEXT);
    //  A 2-byte character across the limit goes entirely.
    memset(text, 'a', 5000);
    memcpy(text + DAISY_MAX_TEXT - 1, "\xc3\xa9", 2);
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_eq(strlen(got.u.shutdown.reason), DAISY_MAX_TEXT - 1);
    //  So does a 4-byte one starting 2 bytes before it.
    memset(text, 'a', 5000);
    memcpy(text + DAISY_MAX_TEXT - 2, "\xf0\x9f\x8c\xbc", 4);
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_eq(strlen(got.u.shutdown.reason), DAISY_MAX_TEXT - 2);
    //  Stray continuation bytes (no character at all) are not all backed
    //  over: the text keeps its length, each byte a '?'.
    memset(text, 0x80, 5000);
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_eq(strlen(got.u.shutdown.reason), DAISY_MAX_TEXT - 3);
    cr_assert_eq(strspn(got.u.shutdown.reason, "?"), DAISY_MAX_TEXT - 3);
    //  NULL strings go out as "".
    m.u.shutdown.reason = NULL;
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_str_eq(got.u.shutdown.reason, "");
    //  Every text of a RELEASE is cut too.
    daisy_wire_result_t r = {1, 0, DAISY_RESULT_FAILED, 1.0, text};
    memset(text, 'y', 5999);
    m = (daisy_msg_t) {.type = DAISY_MSG_RELEASE, .u.release = {1, 1, &r}};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
    cr_assert_eq(strlen(got.u.release.results[0].error), DAISY_MAX_TEXT);
    //  And a HELLO's run_id.
    m = (daisy_msg_t) {.type = DAISY_MSG_HELLO, .u.hello = {"t", "w", "h", 1, 1, text}};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(strlen(got.u.hello.run_id), DAISY_MAX_TEXT);
}

//  A text that is not UTF-8 (a command's stderr) goes out with '?' for
//  each such byte: a peer refuses a str that is not UTF-8, and would drop
//  the whole RELEASE.
Test(protocol, texts_that_are_not_utf8_are_cleaned)
{
    daisy_msg_t m, got;
    daisy_wire_result_t r = {1, 0, DAISY_RESULT_FAILED, 1.0, "bad \xff\xfe, caf\xc3\xa9 \xe2\x82"};
    m = (daisy_msg_t) {.type = DAISY_MSG_RELEASE, .u.release = {1, 1, &r}};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_str_eq(got.u.release.results[0].error, "bad ??, caf\xc3\xa9 ??");
}

Test(protocol, encode_refuses_out_of_range)
{
    daisy_msg_t m;
    daisy_wire_result_t r = {1, 0, DAISY_RESULT_SUCCESS, 1.0, ""};
    static const int64_t z[DAISY_MAX_DIMS + 1] = {0};
    daisy_wire_block_t b = {1, 0, 0, roi(2, z, z), roi(2, z, z)};
    struct {
        daisy_msg_t m;
        const char *what;
    } cases[] = {
        {{.type = (daisy_msg_type_t)8}, "unknown type"},
        {{.type = DAISY_MSG_STATS, .u.stats = {INFINITY, 0}}, "infinite cpu"},
        {{.type = DAISY_EVT_RUN_STATS, .u.run_stats = {1, NULL, 0, NULL}}, "stats tasks NULL"},
        {{.type = DAISY_EVT_RUN_STATS, .u.run_stats = {0, NULL, DAISY_MAX_STATS_WORKERS + 1,
                                                       s_worker_stats}}, "stats workers"},
        {{.type = (daisy_msg_type_t)0}, "type 0"},
        {{.type = DAISY_MSG_REQUEST, .u.request.credits = DAISY_MAX_BATCH + 1}, "credits"},
        {{.type = DAISY_MSG_HELLO, .u.hello.prefetch = 0}, "prefetch 0"},
        {{.type = DAISY_MSG_HELLO, .u.hello.prefetch = DAISY_MAX_BATCH + 1}, "prefetch"},
        {{.type = DAISY_MSG_RELEASE, .u.release = {0, DAISY_MAX_BATCH + 1, s_results}}, "results"},
        {{.type = DAISY_MSG_RELEASE, .u.release = {0, 1, NULL}}, "NULL results"},
        {{.type = DAISY_MSG_RELEASE, .u.release = {0, DAISY_MAX_BATCH + 1, s_results, true, {1, 0}}},
         "results, with a start"},
        {{.type = DAISY_MSG_RELEASE, .u.release = {DAISY_MAX_BATCH + 1, 0, NULL, true, {1, 0}}},
         "credits, with a start"},
        {{.type = DAISY_MSG_BLOCKS, .u.blocks = {"t", DAISY_MAX_BATCH + 1, s_blocks}}, "blocks"},
        {{.type = DAISY_MSG_WELCOME, .u.welcome = {"t", 1000, 3, 0}}, "dims 0"},
        {{.type = DAISY_MSG_WELCOME, .u.welcome = {"t", 1000, 3, DAISY_MAX_DIMS + 1}}, "dims 7"},
        {{.type = DAISY_MSG_WELCOME, .u.welcome = {"t", 0, 3, 3}}, "heartbeat 0"},
        {{.type = DAISY_MSG_WELCOME, .u.welcome = {"t", 1000, 0, 3}}, "liveness 0"},
        {{.type = DAISY_EVT_RUN_FINISHED, .u.run_finished = {true, false, 4097, s_tasks}}, "tasks"},
        {{.type = DAISY_EVT_TASK_STATE, .u.task_state = {"t", {0}, NAN, 0, 0, 0, 0}}, "NaN rate"},
        {{.type = DAISY_EVT_TASK_STATE, .u.task_state = {"t", {0}, 1, -2, 0, 0, 0}},
         "negative elapsed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf.size = 7;
        cr_assert_eq(daisy_encode(&cases[i].m, &buf), -1, "%s", cases[i].what);
        cr_assert_eq(buf.size, 0, "%s", cases[i].what);
    }
    //  Result and block defects.
    m = (daisy_msg_t) {.type = DAISY_MSG_RELEASE, .u.release = {0, 1, &r}};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    r.status = (daisy_result_status_t)3;
    cr_assert_eq(daisy_encode(&m, &buf), -1);
    r.status = DAISY_RESULT_SUCCESS, r.seconds = NAN;
    cr_assert_eq(daisy_encode(&m, &buf), -1);
    r.seconds = -1.0;
    cr_assert_eq(daisy_encode(&m, &buf), -1);
    r.seconds = INFINITY;
    cr_assert_eq(daisy_encode(&m, &buf), -1);
    m = (daisy_msg_t) {.type = DAISY_MSG_BLOCKS, .u.blocks = {"t", 1, &b}};
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    b.write_roi.dims = 3;
    cr_assert_eq(daisy_encode(&m, &buf), -1, "read and write dims differ");
    b.read_roi.dims = b.write_roi.dims = 0;
    cr_assert_eq(daisy_encode(&m, &buf), -1, "dims 0");
    b.read_roi.dims = b.write_roi.dims = DAISY_MAX_DIMS + 1;
    cr_assert_eq(daisy_encode(&m, &buf), -1, "dims 7");
    cr_assert_eq(daisy_encode(NULL, &buf), -1);
    cr_assert_eq(daisy_encode(&m, NULL), -1);
}

Test(protocol, encode_refuses_frames_over_the_limit)
{
    static char text[DAISY_MAX_TEXT + 1];
    memset(text, 'e', DAISY_MAX_TEXT);
    for (int k = 0; k < BIG; k++)
        s_results[k] = (daisy_wire_result_t) {(uint64_t)k, 0, DAISY_RESULT_FAILED, 1.0, text};
    daisy_msg_t m = {.type = DAISY_MSG_RELEASE, .u.release = {0, BIG, s_results}};
    cr_assert_eq(daisy_encode(&m, &buf), -1);
    cr_assert_eq(buf.size, 0);
    //  200 such results fit, and the buffer is reused.
    m.u.release.count = 200;
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    daisy_msg_t got;
    cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(got.u.release.count, 200);
    daisy_buffer_reset(&buf);
    cr_assert_eq(buf.size, 0);
    cr_assert_not_null(buf.data);
}

//  Hostile input: systematic -------------------------------------------------

Test(protocol, every_prefix_is_truncated)
{
    for (int i = 0; i < NSAMPLES; i++) {
        daisy_msg_t m;
        sample(i, &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0);
        //  Every prefix of small samples; about 3000 spread over big ones.
        size_t step = buf.size < 8192 ? 1 : buf.size / 3000;
        for (size_t n = 0; n < buf.size; n += (n < 200 || buf.size - n < 200) ? 1 : step) {
            daisy_msg_t got;
            daisy_proto_error_t rc = decode(buf.data, n, &got);
            cr_assert_eq(rc, DAISY_PROTO_TRUNCATED, "sample %d (%s), %zu of %zu bytes: %s (%s)", i,
                         daisy_msg_name(m.type), n, buf.size, daisy_proto_error_name(rc), err.msg);
        }
    }
}

Test(protocol, trailing_bytes_are_malformed)
{
    for (int i = 0; i < NSAMPLES; i++) {
        daisy_msg_t m;
        sample(i, &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0);
        size_t n = buf.size;
        char *copy = malloc(2 * n + 1);
        memcpy(copy, buf.data, n);
        copy[n] = 0;
        expect(copy, n + 1, DAISY_PROTO_MALFORMED, "after the end", "one trailing byte");
        memcpy(copy + n, buf.data, n);
        expect(copy, 2 * n, DAISY_PROTO_MALFORMED, "after the end", "two messages in one frame");
        copy[n] = (char)0xc1;
        expect(copy, n + 1, DAISY_PROTO_MALFORMED, NULL, "a trailing 0xc1");
        free(copy);
    }
}

Test(protocol, not_a_message_is_malformed)
{
    expect("\x01", 1, DAISY_PROTO_MALFORMED, "not a msgpack array", "an integer");
    expect("\xa3" "abc", 4, DAISY_PROTO_MALFORMED, "not a msgpack array", "a string");
    expect("\x81\x01\x02", 3, DAISY_PROTO_MALFORMED, "not a msgpack array", "a map");
    expect("\xc1", 1, DAISY_PROTO_MALFORMED, NULL, "the unused byte");
    expect("\x93\x02\x02\xc1", 4, DAISY_PROTO_MALFORMED, "0xc1", "0xc1 inside");
    expect("", 0, DAISY_PROTO_TRUNCATED, NULL, "nothing");
    expect(NULL, 0, DAISY_PROTO_TRUNCATED, NULL, "NULL, 0");
    daisy_msg_t m;
    cr_assert_eq(daisy_decode(NULL, "\x92\x02\x04", 3, &m, NULL), DAISY_PROTO_MALFORMED);
    cr_assert_eq(daisy_decode(dec, "\x92\x02\x04", 3, NULL, NULL), DAISY_PROTO_MALFORMED);
    //  err may be NULL.
    cr_assert_eq(daisy_decode(dec, "\x92\x02\x04", 3, &m, NULL), DAISY_PROTO_OK);
    cr_assert_eq(daisy_decode(dec, "\x92\x02", 2, &m, NULL), DAISY_PROTO_TRUNCATED);
    cr_assert_eq(daisy_decode(dec, "\x93\x02\x02\x04\x05", 5, &m, NULL), DAISY_PROTO_MALFORMED);
    cr_assert_eq(daisy_decode(dec, "\x93\x02\x02\xff", 4, &m, NULL), DAISY_PROTO_BAD_FIELD);
    cr_assert_eq(daisy_decode(dec, "\x92\x01\x04", 3, &m, NULL), DAISY_PROTO_BAD_VERSION);
}

Test(protocol, oversized_input)
{
    size_t n = (size_t)DAISY_MAX_FRAME + 1;
    char *big = calloc(1, n);
    big[0] = (char)0x92, big[1] = 2, big[2] = 4;
    expect(big, n, DAISY_PROTO_OVERSIZED, "more than", "one byte over the limit");
    big[0] = 0x02;      //  not even msgpack: the size is checked first
    expect(big, n, DAISY_PROTO_OVERSIZED, NULL, "garbage over the limit");
    free(big);
}

//  Huge declared lengths cost nothing: the bytes are not there.
Test(protocol, huge_declared_lengths_are_truncated)
{
    expect("\xdd\xff\xff\xff\xff", 5, DAISY_PROTO_TRUNCATED, NULL, "array32 of 4G");
    expect("\xdd\xff\xff\xff\xff\x02\x03", 7, DAISY_PROTO_TRUNCATED, NULL, "array32 of 4G, started");
    expect("\x95\x02\x03\x00\xdd\xff\xff\xff\xff", 9, DAISY_PROTO_TRUNCATED, NULL, "results of 4G");
    expect("\x95\x02\x03\x00\x90\xdd\xff\xff\xff\xff", 10, DAISY_PROTO_TRUNCATED, NULL,
           "started of 4G");
    expect("\x95\x02\x03\x00\xdf\xff\xff\xff\xff", 9, DAISY_PROTO_TRUNCATED, NULL, "map32 of 4G");
    expect("\x98\x02\x01\xa1t\xa1w\xa1h\x01\x01\xdb\xff\xff\xff\xff", 16, DAISY_PROTO_TRUNCATED, NULL,
           "run_id of 4G");
    expect("\x93\x02\x67\xdb\xff\xff\xff\xff", 8, DAISY_PROTO_TRUNCATED, NULL, "str32 of 4G");
    expect("\x93\x02\x67\xc6\xff\xff\xff\xff", 8, DAISY_PROTO_TRUNCATED, NULL, "bin32 of 4G");
    expect("\x93\x02\x67\xc9\xff\xff\xff\xff\x01", 9, DAISY_PROTO_TRUNCATED, NULL, "ext32 of 4G");
}

Test(protocol, deep_nesting_is_refused)
{
    //  [2, 3, 0, [[[[[...]]]]]] 1000 levels deep.
    size_t n = 4 + 1000;
    char *deep = malloc(n);
    memcpy(deep, "\x95\x02\x03\x00", 4);
    memset(deep + 4, 0x91, 1000);
    deep[n - 1] = (char)0x90;
    expect(deep, n, DAISY_PROTO_MALFORMED, "nested deeper", "1000 levels");
    free(deep);
    //  One level deeper than BLOCKS needs.
    const char five[] = "\x94\x02\x66\xa1t\x91\x97\x00\x00\x00\x91\x91\x00\x91\x01\x91\x00\x91\x01";
    expect(five, sizeof five - 1, DAISY_PROTO_MALFORMED, "nested deeper", "5 levels");
    //  Exactly as deep as BLOCKS needs is fine.
    const char four[] = "\x94\x02\x66\xa1t\x91\x97\x00\x00\x00\x91\x00\x91\x01\x91\x00\x91\x01";
    expect(four, sizeof four - 1, DAISY_PROTO_OK, NULL, "4 levels");
    //  RELEASE's started needs 3: [2, 3, 0, [], [[1, 0]]]; one more is refused
    //  by the walk (the scan allows 4), not accepted.
    expect("\x95\x02\x03\x00\x90\x91\x92\x01\x00", 9, DAISY_PROTO_OK, NULL, "started, 3 levels");
    expect("\x95\x02\x03\x00\x90\x91\x92\x91\x01\x00", 10, DAISY_PROTO_BAD_FIELD,
           "release: started[0].block_id: expected an unsigned integer, got an array", "started, 4 levels");
    expect("\x95\x02\x03\x00\x90\x91\x92\x91\x91\x01\x00", 11, DAISY_PROTO_MALFORMED, "nested deeper",
           "started, 5 levels");
}

//  Hostile input: hand-written ----------------------------------------------

//  A tiny text form of msgpack values for the tables below:
//  [a, b], "str" (with \0), b"bin", 12, -3, 1.5, f32:1.5, nan, inf, -inf,
//  true, false, nil, {} (empty map), s:N (a string of N 'x').
typedef struct {
    const char *p;
    msgpack_packer pk;
} mp_t;

static void
mp_skip(mp_t *m)
{
    while (*m->p == ' ')
        m->p++;
}

static size_t
mp_count(const char *p)
{
    int depth = 0;
    size_t commas = 0;
    bool any = false, in_str = false;
    for (; *p; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = false;
            continue;
        }
        if (*p == '"')
            in_str = any = true;
        else if (*p == '[' || *p == '{')
            depth++, any = true;
        else if (*p == ']' || *p == '}') {
            if (depth-- == 0)
                break;
        } else if (*p == ',' && depth == 0)
            commas++;
        else if (*p != ' ')
            any = true;
    }
    return any ? commas + 1 : 0;
}

static bool
mp_word(mp_t *m, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(m->p, word, n) != 0)
        return false;
    m->p += n;
    return true;
}

static void
mp_value(mp_t *m)
{
    mp_skip(m);
    char c = *m->p;
    if (c == '[') {
        m->p++;
        size_t n = mp_count(m->p);
        msgpack_pack_array(&m->pk, n);
        for (size_t i = 0; i < n; i++) {
            mp_value(m);
            mp_skip(m);
            if (*m->p == ',')
                m->p++;
        }
        mp_skip(m);
        cr_assert_eq(*m->p, ']', "bad test input at \"%s\"", m->p);
        m->p++;
    } else if (c == '"' || (c == 'b' && m->p[1] == '"')) {
        bool bin = c == 'b';
        char s[256];
        size_t n = 0;
        m->p += bin ? 2 : 1;
        while (*m->p != '"') {
            char ch = *m->p++;
            if (ch == '\\')
                ch = *m->p++ == '0' ? '\0' : m->p[-1];
            s[n++] = ch;
        }
        m->p++;
        if (bin)
            msgpack_pack_bin_with_body(&m->pk, s, n);
        else
            msgpack_pack_str_with_body(&m->pk, s, n);
    } else if (mp_word(m, "{}")) {
        msgpack_pack_map(&m->pk, 0);
    } else if (mp_word(m, "true")) {
        msgpack_pack_true(&m->pk);
    } else if (mp_word(m, "false")) {
        msgpack_pack_false(&m->pk);
    } else if (mp_word(m, "nil")) {
        msgpack_pack_nil(&m->pk);
    } else if (mp_word(m, "nan")) {
        msgpack_pack_double(&m->pk, NAN);
    } else if (mp_word(m, "inf")) {
        msgpack_pack_double(&m->pk, INFINITY);
    } else if (mp_word(m, "-inf")) {
        msgpack_pack_double(&m->pk, -INFINITY);
    } else if (mp_word(m, "f32:")) {
        char *end;
        msgpack_pack_float(&m->pk, strtof(m->p, &end));
        m->p = end;
    } else if (mp_word(m, "s:")) {
        char *end;
        size_t n = strtoul(m->p, &end, 10);
        char *s = malloc(n);
        memset(s, 'x', n);
        msgpack_pack_str_with_body(&m->pk, s, n);
        free(s);
        m->p = end;
    } else {
        size_t len = strspn(m->p, "0123456789+-.e");
        cr_assert_gt(len, 0, "bad test input at \"%s\"", m->p);
        char *end;
        if (memchr(m->p, '.', len) || memchr(m->p, 'e', len))
            msgpack_pack_double(&m->pk, strtod(m->p, &end));
        else if (c == '-')
            msgpack_pack_int64(&m->pk, strtoll(m->p, &end, 10));
        else
            msgpack_pack_uint64(&m->pk, strtoull(m->p, &end, 10));
        m->p = end;
    }
}

//  Pack the text form into sb (which the caller destroys).
static void
mp_pack(const char *text, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    mp_t m = {text, {0}};
    msgpack_packer_init(&m.pk, sb, msgpack_sbuffer_write);
    mp_value(&m);
    mp_skip(&m);
    cr_assert_eq(*m.p, '\0', "bad test input at \"%s\"", m.p);
}

static void
expect_text(const char *text, daisy_proto_error_t want, const char *msg_text)
{
    msgpack_sbuffer sb;
    mp_pack(text, &sb);
    expect(sb.data, sb.size, want, msg_text, text);
    msgpack_sbuffer_destroy(&sb);
}

Test(protocol, mistyped_fields_are_named)
{
    static const struct {
        const char *in;
        const char *err;
    } cases[] = {
        {"[\"2\", 1]", "message: version: expected an integer, got a string"},
        {"[]", "message: version: missing"},
        {"[2]", "message: type: missing"},
        {"[2, \"hello\"]", "message: type: expected an integer, got a string"},
        {"[2, 1.0]", "message: type: expected an integer, got a float"},
        {"[2, 1, 5, \"w\", \"h\", 1, 1, \"\"]", "hello: task_id: expected a string, got an integer"},
        {"[2, 1, b\"t\", \"w\", \"h\", 1, 1, \"\"]", "hello: task_id: expected a string, got binary data"},
        {"[2, 1, \"t\\0x\", \"w\", \"h\", 1, 1, \"\"]", "hello: task_id: contains a NUL byte"},
        {"[2, 1, s:4097, \"w\", \"h\", 1, 1, \"\"]", "hello: task_id: 4097 bytes, more than 4096"},
        {"[2, 1, \"t\", nil, \"h\", 1, 1, \"\"]", "hello: worker_id: expected a string, got nil"},
        {"[2, 1, \"t\", \"w\", [], 1, 1, \"\"]", "hello: host: expected a string, got an array"},
        {"[2, 1, \"t\", \"w\", \"h\", \"1\", 1, \"\"]", "hello: pid: expected an integer, got a string"},
        {"[2, 1, \"t\", \"w\", \"h\", 9223372036854775808, 1, \"\"]", "hello: pid: 9223372036854775808 does not fit"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 0, \"\"]", "hello: prefetch: 0 is not in 1..1024"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1025, \"\"]", "hello: prefetch: 1025 is not in 1..1024"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, -1, \"\"]", "hello: prefetch: -1 is negative"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, nil]", "hello: run_id: expected a string, got nil"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, 7]", "hello: run_id: expected a string, got an integer"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, b\"r\"]", "hello: run_id: expected a string, got binary data"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, [\"r\"]]", "hello: run_id: expected a string, got an array"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, \"run\0\"]", "hello: run_id: contains a NUL byte"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, s:4097]", "hello: run_id: 4097 bytes, more than 4096"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1]", "hello: 7 fields, expected 8"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, \"\", \"\"]", "hello: 9 fields, expected 8"},
        {"[2, 2, -1]", "request: credits: -1 is negative"},
        {"[2, 2, 1025]", "request: credits: 1025 is not in 0..1024"},
        {"[2, 2, 1.0]", "request: credits: expected an unsigned integer, got a float"},
        {"[2, 2, true]", "request: credits: expected an unsigned integer, got a boolean"},
        {"[2, 2]", "request: 2 fields, expected 3"},
        {"[2, 3, 1, {}, []]", "release: results: expected an array, got a map"},
        {"[2, 3, 1, [[5, 0, 7, 0.5, \"\"]], []]", "release: results[0].status: 7 is not 0, 1 or 2"},
        {"[2, 3, 1, [[5, 0, 0, 0.5, \"\"], [5, 0, 0, 0.5, \"\"], [5, 0, 0, 0.5, \"\"], [6, 0, 7, 1, \"\"]], []]",
         "release: results[3].status: 7 is not 0, 1 or 2"},
        {"[2, 3, 1, [[5, 0, 0, 0.5, \"\"], [6, 0, 0, nan, \"\"]], []]", "release: results[1].seconds: nan is not"},
        {"[2, 3, 1, [[5, 0, 0, inf, \"\"]], []]", "release: results[0].seconds: inf is not"},
        {"[2, 3, 1, [[5, 0, 0, -0.5, \"\"]], []]", "release: results[0].seconds: -0.5 is not"},
        {"[2, 3, 1, [[5, 0, 0, 1.7e308, \"\"]], []]",
         "release: results[0].seconds: 1.7e+308 is not a number from 0 to 1e+09"},
        {"[2, 7, 1e10, 5]", "stats: cpu_s: 1e+10 is not a number from 0 to 1e+09"},
        {"[2, 7, 1.5, 18446744073709551615]",
         "stats: peak_rss_kb: 18446744073709551615 is not in 0..1099511627776"},
        {"[2, 1, \"t\xff\", \"w\", \"h\", 1, 1, \"\"]", "hello: task_id: not UTF-8 (byte 0xff at 1)"},
        {"[2, 1, \"t\", \"w\xc3\", \"h\", 1, 1, \"\"]", "hello: worker_id: not UTF-8 (byte 0xc3 at 1)"},
        {"[2, 1, \"t\", \"w\", \"\xed\xa0\x80\", 1, 1, \"\"]", "hello: host: not UTF-8 (byte 0xed at 0)"},
        {"[2, 1, \"t\", \"w\", \"\xc0\xaf\", 1, 1, \"\"]", "hello: host: not UTF-8 (byte 0xc0 at 0)"},
        {"[2, 3, 1, [[5, 0, 0, -2, \"\"]], []]", "release: results[0].seconds: -2 is not"},
        {"[2, 3, 1, [[5, 0, 0, \"1\", \"\"]], []]", "release: results[0].seconds: expected a number, got a string"},
        {"[2, 3, 1, [[5, 0, 0, 0.5]], []]", "release: results[0]: 4 fields, expected 5"},
        {"[2, 3, 1, [5], []]", "release: results[0]: expected an array of 5 fields, got an integer"},
        {"[2, 3, 1, [[-5, 0, 0, 0.5, \"\"]], []]", "release: results[0].block_id: -5 is negative"},
        {"[2, 3, 1, [[5, 4294967296, 0, 0.5, \"\"]], []]",
         "release: results[0].attempt: 4294967296 is not in 0..4294967295"},
        {"[2, 3, 1, [[5, 0, 0, 0.5, 7]], []]", "release: results[0].error: expected a string, got an integer"},
        {"[2, 3, 1, [[5, 0, 0, 0.5, \"a\\0\"]], []]", "release: results[0].error: contains a NUL byte"},
        {"[2, 3, 1]", "release: 3 fields, expected 5"},
        {"[2, 3, 1, []]", "release: 4 fields, expected 5"},
        {"[2, 3, 1, [], [], []]", "release: 6 fields, expected 5"},
        {"[2, 3, 1, [], nil]", "release: started: expected an array, got nil"},
        {"[2, 3, 1, [], {}]", "release: started: expected an array, got a map"},
        {"[2, 3, 1, [], 0]", "release: started: expected an array, got an integer"},
        {"[2, 3, 1, [], [5]]", "release: started[0]: expected an array of 2 fields, got an integer"},
        {"[2, 3, 1, [], [nil]]", "release: started[0]: expected an array of 2 fields, got nil"},
        {"[2, 3, 1, [], [[]]]", "release: started[0]: 0 fields, expected 2"},
        {"[2, 3, 1, [], [[5]]]", "release: started[0]: 1 fields, expected 2"},
        {"[2, 3, 1, [], [[5, 0, 0]]]", "release: started[0]: 3 fields, expected 2"},
        {"[2, 3, 1, [], [[-5, 0]]]", "release: started[0].block_id: -5 is negative"},
        {"[2, 3, 1, [], [[1.5, 0]]]", "release: started[0].block_id: expected an unsigned integer, got a float"},
        {"[2, 3, 1, [], [[\"5\", 0]]]", "release: started[0].block_id: expected an unsigned integer, got a string"},
        {"[2, 3, 1, [], [[5, -1]]]", "release: started[0].attempt: -1 is negative"},
        {"[2, 3, 1, [], [[5, 4294967296]]]", "release: started[0].attempt: 4294967296 is not in 0..4294967295"},
        {"[2, 3, 1, [], [[5, nil]]]", "release: started[0].attempt: expected an unsigned integer, got nil"},
        //  Fields are checked in order: credits, results, then started.
        {"[2, 3, 1, [[5, 0, 0, 0.5, \"\"]], [[5, true]]]",
         "release: started[0].attempt: expected an unsigned integer, got a boolean"},
        {"[2, 3, 1, [[5, 0, 7, 0.5, \"\"]], [[-1, 0]]]", "release: results[0].status: 7 is not 0, 1 or 2"},
        {"[2, 3, -1, [[5, 0, 7, 0.5, \"\"]], [[-1, 0]]]", "release: credits: -1 is negative"},
        {"[2, 3, 1025, [], []]", "release: credits: 1025 is not in 0..1024"},
        {"[2, 4, 0]", "heartbeat: 3 fields, expected 2"},
        {"[2, 5, nil]", "bye: 3 fields, expected 2"},
        {"[2, 6]", "started: 2 fields, expected 4"},
        {"[2, 6, 5]", "started: 3 fields, expected 4"},
        {"[2, 6, 5, 0, 0]", "started: 5 fields, expected 4"},
        {"[2, 6, [5, 0]]", "started: 3 fields, expected 4"},
        {"[2, 6, -5, 0]", "started: block_id: -5 is negative"},
        {"[2, 6, \"5\", 0]", "started: block_id: expected an unsigned integer, got a string"},
        {"[2, 6, 5.0, 0]", "started: block_id: expected an unsigned integer, got a float"},
        {"[2, 6, [5, 0], 0]", "started: block_id: expected an unsigned integer, got an array"},
        {"[2, 6, 5, -1]", "started: attempt: -1 is negative"},
        {"[2, 6, 5, nil]", "started: attempt: expected an unsigned integer, got nil"},
        {"[2, 6, 18446744073709551615, 4294967296]", "started: attempt: 4294967296 is not in 0..4294967295"},
        {"[2, 101, \"t\", 0, 3, 3]", "welcome: heartbeat_ms: 0 is not in 1..4294967295"},
        {"[2, 101, \"t\", 1000, 0, 3]", "welcome: liveness: 0 is not in 1..4294967295"},
        {"[2, 101, \"t\", 1000, 3, 0]", "welcome: dims: 0 is not in 1..6"},
        {"[2, 101, \"t\", 1000, 3]", "welcome: 5 fields, expected 6 to 8"},
        {"[2, 101, \"t\", 1000, 3, 3, 5, 1, 0]", "welcome: 9 fields, expected 6 to 8"},
        {"[2, 101, \"t\", 1000, 3, 3, -1]", "welcome: timeout_ms: -1 is negative"},
        {"[2, 101, \"t\", 1000, 3, 3, 4294967296]", "welcome: timeout_ms: 4294967296 is not in 0..4294967295"},
        {"[2, 101, \"t\", 1000, 3, 7]", "welcome: dims: 7 is not in 1..6"},
        {"[2, 101, 1, 1000, 3, 3]", "welcome: task_id: expected a string"},
        {"[2, 102, \"t\", [[1, 0, 0, [0], [1], [0], [1, 2]]]]",
         "blocks: blocks[0].write_shape: 2 entries, read_offset has 1"},
        {"[2, 102, \"t\", [[1, 0, 0, [], [], [], []]]]", "blocks: blocks[0].read_offset: 0 entries, expected 1 to 6"},
        {"[2, 102, \"t\", [[1, 0, 0, [1, 2, 3, 4, 5, 6, 7], [1], [0], [1]]]]",
         "blocks: blocks[0].read_offset: 7 entries, expected 1 to 6"},
        {"[2, 102, \"t\", [[1, 0, 0, [0, 1.5], [1, 1], [0, 0], [1, 1]]]]",
         "blocks: blocks[0].read_offset[1]: expected an integer, got a float"},
        {"[2, 102, \"t\", [[1, 0, 0, [0], [18446744073709551615], [0], [1]]]]",
         "blocks: blocks[0].read_shape[0]: 18446744073709551615 does not fit"},
        {"[2, 102, \"t\", [[1, 0, 0, [0], [1], nil, [1]]]]",
         "blocks: blocks[0].write_offset: expected an array of 1 to 6 integers, got nil"},
        {"[2, 102, \"t\", [[1, 0, -1, [0], [1], [0], [1]]]]", "blocks: blocks[0].level: -1 is negative"},
        {"[2, 102, \"t\", [[1, 0, 0, [0], [1], [0], [1]], [1, 0, 0, [0], [1], [0]]]]",
         "blocks: blocks[1]: 6 fields, expected 7"},
        {"[2, 102, \"t\", \"blocks\"]", "blocks: blocks: expected an array, got a string"},
        {"[2, 103, nil]", "shutdown: reason: expected a string, got nil"},
        {"[2, 105, -3, \"x\"]", "error: code: -3 is negative"},
        {"[2, 105, 8, 8]", "error: text: expected a string"},
        {"[2, 105, 10]", "error: 3 fields, expected 4"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, \"x\", 0.0, 0, 0, 0]",
         "task_state: blocks_per_s: expected a number, got a string"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, -1.0, 0.0, 0, 0, 0]",
         "task_state: blocks_per_s: -1 is not"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, nil, 0, 0, 0]",
         "task_state: elapsed_s: expected a number, got nil"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, 2.0, 4294967296, 0, 0]",
         "task_state: workers: 4294967296 is not in"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, 2.0, 0, -1, 0]",
         "task_state: jobs_pending: -1 is negative"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, 2.0, 0, 0, 0.5]",
         "task_state: jobs_starting: expected an unsigned integer, got a float"},
        {"[2, 202, \"t\", 1, 2, 3, 4.5, 5, 6, 7, 8, 9, 0.0, 0.0, 0, 0, 0]",
         "task_started: pending: expected an unsigned integer, got a float"},
        {"[2, 203, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 0.0, 0.0, 0, 0]",
         "task_done: 16 fields, expected 17"},
        {"[2, 203, \"t\", -1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 0, 0]",
         "task_done: total: -1 is negative"},
        {"[2, 204, \"t\", 1, 0, 1, \"e\", \"w\", \"l\"]", "block_failed: final: expected a boolean, got an integer"},
        {"[2, 204, \"t\", 1, 0, true, \"e\", \"w\", 0]", "block_failed: log: expected a string"},
        {"[2, 205, \"w\", \"t\", \"h\", nil, \"\"]", "worker_joined: pid: expected an integer, got nil"},
        {"[2, 206, \"w\", \"t\", \"h\", 1]", "worker_lost: 6 fields, expected 7"},
        {"[2, 207, 1, false, []]", "run_finished: success: expected a boolean"},
        {"[2, 207, true, nil, []]", "run_finished: interrupted: expected a boolean"},
        {"[2, 207, true, false, [[\"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0]]]",
         "run_finished: tasks[0]: 11 fields, expected 15"},
        {"[2, 207, true, false, [[\"t\", 1, 2, 3, 4, 5, 6, 7, 8, -9, 1.0, 0, 0, 0, 0]]]",
         "run_finished: tasks[0].retries: -9 is negative"},
        {"[2, 207, true, false, [[\"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, 0, 0, 0, 0],"
         " [\"\\0\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 1.0, 0, 0, 0, 0]]]",
         "run_finished: tasks[1].task_id: contains a NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text(cases[i].in, DAISY_PROTO_BAD_FIELD, cases[i].err);
}

Test(protocol, any_integer_width_and_float_is_accepted)
{
    static const struct {
        const char *in;
    } cases[] = {
        {"[2, 3, 1, [[5, 0, 0, f32:0.5, \"\"]], []]"},
        {"[2, 3, 1, [[5, 0, 0, 3, \"\"]], []]"},
        {"[2, 3, 1, [[5, 0, 0, 0.0, \"\"]], []]"},
        {"[2, 3, 0, [], [[18446744073709551615, 4294967295]]]"},
        {"[2, 6, 0, 0]"},
        {"[2, 6, 18446744073709551615, 4294967295]"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 7, 1, 2, 3]"},
        {"[2, 201, \"t\", 1, 2, 3, 4, 5, 6, 7, 8, 9, f32:0.5, f32:0.25, 1, 2, 3]"},
        {"[2, 1, \"t\", \"w\", \"h\", -9223372036854775808, 1, \"\"]"},
        {"[2, 1, \"t\", \"w\", \"h\", 1, 1, s:4096]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text(cases[i].in, DAISY_PROTO_OK, NULL);
    //  Wide encodings of small numbers: [2, 2, 3] as uint16, int32, uint64.
    expect("\x93\xcd\x00\x02\xd2\x00\x00\x00\x02\xcf\x00\x00\x00\x00\x00\x00\x00\x03", 18, DAISY_PROTO_OK,
           NULL, "wide integers");
    daisy_msg_t m;
    cr_assert_eq(decode("\x93\xcd\x00\x02\xd2\x00\x00\x00\x02\xcf\x00\x00\x00\x00\x00\x00\x00\x03", 18, &m),
                 DAISY_PROTO_OK);
    cr_assert_eq(m.type, DAISY_MSG_REQUEST);
    cr_assert_eq(m.u.request.credits, 3);
    //  STARTED [2, 6, 5, 1] as int8, uint32, uint64, int16.
    cr_assert_eq(decode("\x94\xd0\x02\xce\x00\x00\x00\x06\xcf\x00\x00\x00\x00\x00\x00\x00\x05\xd1\x00\x01",
                        20, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(m.type, DAISY_MSG_STARTED);
    cr_assert_eq(m.u.started.block_id, 5);
    cr_assert_eq(m.u.started.attempt, 1);
    //  Array16 and array32 headers at the top, and inside RELEASE's started.
    expect("\xdc\x00\x02\x02\x04", 5, DAISY_PROTO_OK, NULL, "array16");
    expect("\xdd\x00\x00\x00\x02\x02\x05", 7, DAISY_PROTO_OK, NULL, "array32");
    cr_assert_eq(decode("\x95\x02\x03\x00\xdc\x00\x00\xdd\x00\x00\x00\x01\xdc\x00\x02\x07\x03", 17, &m),
                 DAISY_PROTO_OK, "%s", err.msg);
    cr_assert(m.u.release.has_started);
    cr_assert_eq(m.u.release.started.block_id, 7);
    cr_assert_eq(m.u.release.started.attempt, 3);
}

Test(protocol, embedded_nul_is_bad_field)
{
    expect_text("[2, 103, \"done\\0 really\"]", DAISY_PROTO_BAD_FIELD, "shutdown: reason: contains a NUL byte");
    expect_text("[2, 103, \"\\0\"]", DAISY_PROTO_BAD_FIELD, "shutdown: reason: contains a NUL byte");
}

Test(protocol, uint_field_negative_is_bad_field)
{
    expect_text("[2, 2, -5]", DAISY_PROTO_BAD_FIELD, "request: credits: -5 is negative");
    expect_text("[2, 102, \"t\", [[-1, 0, 0, [0], [1], [0], [1]]]]", DAISY_PROTO_BAD_FIELD,
                "blocks: blocks[0].block_id: -1 is negative");
    expect_text("[2, 6, 1, -1]", DAISY_PROTO_BAD_FIELD, "started: attempt: -1 is negative");
}

Test(protocol, nan_seconds_is_bad_field)
{
    expect_text("[2, 3, 0, [[1, 0, 1, nan, \"boom\"]], []]", DAISY_PROTO_BAD_FIELD,
                "release: results[0].seconds: nan is not a number from 0 to 1e+09");
}

Test(protocol, bad_version_comes_first)
{
    //  Version 1 messages, well formed as such, are now foreign.
    expect_text("[1, 1, \"t\", \"w\", \"h\", 1, 1]", DAISY_PROTO_BAD_VERSION, "protocol version 1");
    expect_text("[1, 3, 1, [[17, 0, 0, 0.25, \"\"]]]", DAISY_PROTO_BAD_VERSION, "protocol version 1");
    expect("\x92\x01\x04", 3, DAISY_PROTO_BAD_VERSION, "protocol version 1, this peer speaks version 2",
           "a version 1 HEARTBEAT");
    //  So is a version 1 peer's message that has the shape of a version 2 one.
    expect_text("[1, 1, \"t\", \"w\", \"h\", 1, 1, \"\"]", DAISY_PROTO_BAD_VERSION, "protocol version 1");
    expect_text("[1, 6, 5, 0]", DAISY_PROTO_BAD_VERSION, "protocol version 1");
    expect_text("[3, 1, \"t\", \"w\", \"h\", 1, 1, \"\"]", DAISY_PROTO_BAD_VERSION, "protocol version 3");
    expect_text("[0, 2, 1]", DAISY_PROTO_BAD_VERSION, "protocol version 0");
    expect_text("[-1]", DAISY_PROTO_BAD_VERSION, "protocol version -1");
    expect_text("[-2, 4]", DAISY_PROTO_BAD_VERSION, "protocol version -2");
    expect_text("[1, \"whatever\", {}, nil]", DAISY_PROTO_BAD_VERSION, "this peer speaks version 2");
    expect_text("[18446744073709551615, 1]", DAISY_PROTO_BAD_VERSION, "18446744073709551615");
    expect_text("[-9223372036854775808, 1]", DAISY_PROTO_BAD_VERSION, "-9223372036854775808");
    expect_text("[258, 1]", DAISY_PROTO_BAD_VERSION, "protocol version 258");
    //  Even when the rest is cut short or is garbage.
    expect("\x97\x01\x01\xa5pre", 7, DAISY_PROTO_BAD_VERSION, "protocol version 1", "version 1 HELLO, cut");
    expect("\x98\x03\x01\xa5pre", 7, DAISY_PROTO_BAD_VERSION, "protocol version 3", "version 3 HELLO, cut");
    expect("\x93\x01\xc1\xc1", 4, DAISY_PROTO_BAD_VERSION, NULL, "version 1, garbage");
    expect("\x93\xd0\xfe", 3, DAISY_PROTO_BAD_VERSION, "protocol version -2", "int8 -2");
    expect("\x93\xd1\x00\x01", 4, DAISY_PROTO_BAD_VERSION, "protocol version 1", "int16 1");
    expect("\x93\xcd\x01\x02", 4, DAISY_PROTO_BAD_VERSION, "protocol version 258", "uint16 258");
    expect("\xdc\x00\x03\x01\x02\x01", 6, DAISY_PROTO_BAD_VERSION, "protocol version 1", "array16, version 1");
    //  The same cut message of version 2 is only truncated.
    expect("\x98\x02\x01\xa5pre", 7, DAISY_PROTO_TRUNCATED, NULL, "version 2 HELLO, cut");
    //  Version 2 in any width is version 2.
    expect("\x92\xd3\x00\x00\x00\x00\x00\x00\x00\x02\x04", 11, DAISY_PROTO_OK, NULL, "int64 2");
    expect("\x92\xcc\x02\x04", 4, DAISY_PROTO_OK, NULL, "uint8 2");
    expect("\x92\xd0\x02\x04", 4, DAISY_PROTO_OK, NULL, "int8 2");
    expect("\x92\xce\x00\x00\x00\x02\x04", 7, DAISY_PROTO_OK, NULL, "uint32 2");
}

Test(protocol, unknown_type)
{
    static const char *cases[] = {"[2, 0]", "[2, 8]", "[2, 100]", "[2, 104]", "[2, 106]", "[2, 200]",
                                  "[2, 211]", "[2, 4294967296]", "[2, -1, 2, 3]",
                                  "[2, 18446744073709551615]"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_text(cases[i], DAISY_PROTO_UNKNOWN_TYPE, "is not a type of protocol version 2");
    expect_text("[2, 104]", DAISY_PROTO_UNKNOWN_TYPE, "message: type: 104 is not");
    expect_text("[2, 8, 5, 0]", DAISY_PROTO_UNKNOWN_TYPE, "message: type: 8 is not");
    expect_text("[2, -1]", DAISY_PROTO_UNKNOWN_TYPE, "message: type: -1 is not");
}

static void
expect_batch_over(daisy_msg_type_t type, uint32_t n, const char *text)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, type == DAISY_MSG_BLOCKS ? 4 : 5);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_int(&pk, type);
    if (type == DAISY_MSG_RELEASE)
        msgpack_pack_int(&pk, 0);
    else if (type == DAISY_MSG_BLOCKS)
        msgpack_pack_str_with_body(&pk, "t", 1);
    else
        msgpack_pack_true(&pk), msgpack_pack_false(&pk);
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++)
        msgpack_pack_nil(&pk);      //  entries are not even looked at
    if (type == DAISY_MSG_RELEASE)
        msgpack_pack_array(&pk, 0); //  started
    expect(sb.data, sb.size, DAISY_PROTO_OVERSIZED, text, daisy_msg_name(type));
    msgpack_sbuffer_destroy(&sb);
}

Test(protocol, batch_over_limit_is_oversized)
{
    expect_batch_over(DAISY_MSG_RELEASE, DAISY_MAX_BATCH + 1, "release: results: 1025 entries, more than 1024");
    expect_batch_over(DAISY_MSG_BLOCKS, DAISY_MAX_BATCH + 1, "blocks: blocks: 1025 entries, more than 1024");
    expect_batch_over(DAISY_EVT_RUN_FINISHED, 4097, "run_finished: tasks: 4097 entries, more than 4096");
    expect_batch_over(DAISY_MSG_RELEASE, 100000, "release: results: 100000 entries");
    //  RELEASE's started holds 0 or 1 entries: more is a batch over its
    //  limit, whatever the entries are.
    expect_text("[2, 3, 0, [], [[1, 0], [2, 0]]]", DAISY_PROTO_OVERSIZED, "release: started: 2 entries, more than 1");
    expect_text("[2, 3, 0, [], [nil, nil, nil]]", DAISY_PROTO_OVERSIZED, "release: started: 3 entries, more than 1");
    expect_text("[2, 3, 1, [[5, 0, 0, 0.5, \"\"]], [[5, 0], [6, 0]]]", DAISY_PROTO_OVERSIZED,
                "release: started: 2 entries, more than 1");
}

//  Hostile input: random ---------------------------------------------------

//  A decode that says OK must have read a real message: it re-encodes, and
//  the re-encoding decodes to the same type and encodes identically.
static void
check_decoded(daisy_proto_error_t rc, const daisy_msg_t *m, const char *what, size_t i)
{
    cr_assert((int)rc >= 0 && (int)rc <= (int)DAISY_PROTO_BAD_FIELD, "%s %zu: code %d", what, i, rc);
    if (rc != DAISY_PROTO_OK)
        return;
    daisy_buffer_t b1 = {0}, b2 = {0};
    daisy_decoder_t *d2 = daisy_decoder_new();
    daisy_msg_t again;
    cr_assert_eq(daisy_encode(m, &b1), 0, "%s %zu: decoded %s does not encode", what, i,
                 daisy_msg_name(m->type));
    cr_assert_eq(daisy_decode(d2, b1.data, b1.size, &again, NULL), DAISY_PROTO_OK, "%s %zu", what, i);
    cr_assert_eq(again.type, m->type);
    cr_assert_eq(daisy_encode(&again, &b2), 0);
    cr_assert(b1.size == b2.size && memcmp(b1.data, b2.data, b1.size) == 0, "%s %zu", what, i);
    daisy_buffer_free(&b1);
    daisy_buffer_free(&b2);
    daisy_decoder_destroy(&d2);
}

Test(protocol, random_bytes_never_crash)
{
    uint64_t rng = 0x5eed0001;
    unsigned char data[64];
    size_t ok = 0;
    for (size_t i = 0; i < 100000; i++) {
        size_t n = rnd(&rng) % sizeof data;
        for (size_t k = 0; k < n; k++)
            data[k] = (unsigned char)rnd(&rng);
        //  Half of them start like a message, so the walk is reached too.
        if (n >= 3 && i % 2) {
            data[0] = (unsigned char)(0x90 | (rnd(&rng) % 14));
            data[1] = DAISY_PROTOCOL_VERSION;
            static const unsigned char types[] = {1, 2, 3, 4, 5, 6, 101, 102, 103, 105, 201, 204, 205, 207};
            data[2] = types[rnd(&rng) % sizeof types];
            for (size_t k = 3; k < n; k++)      //  mostly small values and headers
                if (rnd(&rng) % 2)
                    data[k] = (unsigned char)(rnd(&rng) % 2 ? rnd(&rng) % 0x20 : 0x90 | rnd(&rng) % 8);
        }
        daisy_msg_t m;
        daisy_proto_error_t rc = decode(data, n, &m);
        check_decoded(rc, &m, "random input", i);
        ok += rc == DAISY_PROTO_OK;
    }
    cr_log_info("random bytes: %zu of 100000 decoded as messages", ok);
}

Test(protocol, mutated_messages_never_crash)
{
    uint64_t rng = 0x5eed0002;
    static unsigned char data[8192];
    size_t ok = 0;
    for (size_t i = 0; i < 100000; i++) {
        daisy_msg_t m;
        do {        //  the big samples (limits of each batch) are left out
            sample((int)(rnd(&rng) % NSAMPLES), &m);
            cr_assert_eq(daisy_encode(&m, &buf), 0);
        } while (buf.size >= sizeof data);
        size_t n = buf.size;
        memcpy(data, buf.data, n);
        int edits = 1 + (int)(rnd(&rng) % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = rnd(&rng) % n;
            switch (rnd(&rng) % 4) {
            case 0: data[at] = (unsigned char)rnd(&rng); break;
            case 1: data[at] ^= (unsigned char)(1u << (rnd(&rng) % 8)); break;
            case 2: n = at + 1; break;                                     //  cut
            default:                                                       //  insert
                if (n < sizeof data) {
                    memmove(data + at + 1, data + at, n - at);
                    data[at] = (unsigned char)rnd(&rng);
                    n++;
                }
            }
        }
        daisy_proto_error_t rc = decode(data, n, &m);
        check_decoded(rc, &m, "mutation", i);
        ok += rc == DAISY_PROTO_OK;
    }
    cr_log_info("mutations: %zu of 100000 still decoded", ok);
}

//  Lifecycle and helpers -------------------------------------------------------

Test(protocol, many_decodes_reuse_the_decoder)
{
    //  Pointers stay valid until the next decode; nothing accumulates
    //  (the sanitizer build checks for leaks).
    daisy_msg_t m, got;
    sample(14, &m);
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    for (int k = 0; k < 200; k++) {
        cr_assert_eq(decode(buf.data, buf.size, &got), DAISY_PROTO_OK);
        cr_assert_eq(got.u.blocks.count, DAISY_MAX_BATCH);
        cr_assert_eq(decode(buf.data, 5, &got), DAISY_PROTO_TRUNCATED);
        cr_assert_eq(got.type, 0, "a failed decode leaves an empty message");
    }
    daisy_decoder_destroy(&dec);
    cr_assert_null(dec);
    daisy_decoder_destroy(&dec);
    daisy_decoder_destroy(NULL);
    dec = daisy_decoder_new();
}

Test(protocol, names)
{
    static const struct {
        daisy_msg_type_t type;
        const char *name;
    } names[] = {
        {DAISY_MSG_HELLO, "hello"}, {DAISY_MSG_REQUEST, "request"}, {DAISY_MSG_RELEASE, "release"},
        {DAISY_MSG_HEARTBEAT, "heartbeat"}, {DAISY_MSG_BYE, "bye"}, {DAISY_MSG_STARTED, "started"},
        {DAISY_MSG_WELCOME, "welcome"},
        {DAISY_MSG_BLOCKS, "blocks"}, {DAISY_MSG_SHUTDOWN, "shutdown"}, {DAISY_MSG_ERROR, "error"},
        {DAISY_EVT_TASK_STATE, "task_state"}, {DAISY_EVT_TASK_STARTED, "task_started"},
        {DAISY_EVT_TASK_DONE, "task_done"}, {DAISY_EVT_BLOCK_FAILED, "block_failed"},
        {DAISY_EVT_WORKER_JOINED, "worker_joined"}, {DAISY_EVT_WORKER_LOST, "worker_lost"},
        {DAISY_EVT_RUN_FINISHED, "run_finished"}, {DAISY_MSG_STATS, "stats"},
        {DAISY_EVT_RUN_STATS, "run_stats"}, {DAISY_EVT_BLOCK_CHANGES, "block_changes"},
        {DAISY_EVT_BLOCK_SNAPSHOT, "block_snapshot"}, {(daisy_msg_type_t)0, "unknown"},
        {(daisy_msg_type_t)104, "unknown"}, {(daisy_msg_type_t)8, "unknown"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert_str_eq(daisy_msg_name(names[i].type), names[i].name);
    static const char *codes[] = {"ok", "truncated", "oversized", "malformed", "bad_version",
                                  "unknown_type", "bad_field", "unknown_task", "unknown_block",
                                  "not_ready", "wrong_run"};
    for (int i = 0; i < 11; i++)
        cr_assert_str_eq(daisy_proto_error_name((daisy_proto_error_t)i), codes[i]);
    cr_assert_eq(DAISY_PROTO_WRONG_RUN, 10);
    cr_assert_eq(DAISY_MSG_STARTED, 6);
    cr_assert_eq(DAISY_PROTOCOL_VERSION, 2);
    cr_assert_str_eq(daisy_proto_error_name((daisy_proto_error_t)11), "unknown");
    cr_assert_str_eq(daisy_proto_error_name((daisy_proto_error_t)-1), "unknown");
}

Test(protocol, wire_block_from_block)
{
    static const int64_t o[] = {-4, 8}, s[] = {12, 16}, wo[] = {0, 10}, ws[] = {4, 12};
    daisy_block_t b = {.task = 3, .task_id = "t", .block_id = 99, .index = 7, .level = 2,
                       .attempt = 1, .read_roi = roi(2, o, s), .write_roi = roi(2, wo, ws)};
    daisy_wire_block_t w;
    memset(&w, 0xab, sizeof w);
    daisy_wire_block_from(&w, &b);
    cr_assert_eq(w.block_id, 99);
    cr_assert_eq(w.attempt, 1);
    cr_assert_eq(w.level, 2);
    assert_roi_eq(&w.read_roi, &b.read_roi);
    assert_roi_eq(&w.write_roi, &b.write_roi);
}

//  Interop with Python's msgpack --------------------------------------------

#define PYTHON "/usr/bin/python3"

static bool
python_ok(void)
{
    return system(PYTHON " -c 'import msgpack' >/dev/null 2>&1") == 0;
}

//  Run a Python script with `arg`; its stdout goes into out (up to cap).
static size_t
run_python(const char *script, const char *arg, char *out, size_t cap)
{
    char path[] = "/tmp/daisy-test-protocol-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    size_t size = strlen(path) + strlen(arg) + 64;
    char *cmd = malloc(size);
    cr_assert_not_null(cmd);
    snprintf(cmd, size, PYTHON " %s %s", path, arg);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap, p);
    int status = pclose(p);
    unlink(path);
    free(cmd);
    cr_assert_eq(status, 0, "python failed: %s %s", script, arg);
    return n;
}

//  The encoding of *m in hex, into hex (2 * size + 1 chars).
static void
to_hex(const daisy_buffer_t *b, char *hex)
{
    for (size_t k = 0; k < b->size; k++)
        snprintf(hex + 2 * k, 3, "%02x", (unsigned char)b->data[k]);
    hex[2 * b->size] = '\0';
}

Test(protocol, python_packs_worker_messages)
{
    if (!python_ok())
        cr_skip_test("python3 with msgpack is not available");
    //  Written from PROTOCOL.md, as a worker author would.
    static const char script[] =
        "import sys, msgpack\n"
        "VERSION, HELLO, RELEASE, STARTED = 2, 1, 3, 6\n"
        "SUCCESS, FAILED, SKIPPED = 0, 1, 2\n"
        "msgs = {\n"
        "  'hello': [VERSION, HELLO, 'predict', 'py-worker-0', 'node07', 4242, 4, '0123456789abcdef'],\n"
        "  'hello_no_run': [VERSION, HELLO, 'predict', 'py-worker-1', 'node07', 4243, 1, ''],\n"
        "  'release': [VERSION, RELEASE, 2, [[17, 0, SUCCESS, 0.25, ''],\n"
        "                                    [18, 1, FAILED, 3, 'boom: exit 1 \\u00e9'],\n"
        "                                    [2**64 - 1, 2**32 - 1, SKIPPED, 0.0, '']], [[19, 2]]],\n"
        "  'release_no_start': [VERSION, RELEASE, 1, [[20, 0, SUCCESS, 1.5, '']], []],\n"
        "  'started': [VERSION, STARTED, 2**64 - 1, 2**32 - 1],\n"
        "}\n"
        "sys.stdout.buffer.write(msgpack.packb(msgs[sys.argv[1]]))\n";
    static char out[4096];
    daisy_msg_t m;
    size_t n = run_python(script, "hello", out, sizeof out);
    cr_assert_eq(decode(out, n, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(m.type, DAISY_MSG_HELLO);
    cr_assert_str_eq(m.u.hello.task_id, "predict");
    cr_assert_str_eq(m.u.hello.worker_id, "py-worker-0");
    cr_assert_str_eq(m.u.hello.host, "node07");
    cr_assert_eq(m.u.hello.pid, 4242);
    cr_assert_eq(m.u.hello.prefetch, 4);
    cr_assert_str_eq(m.u.hello.run_id, "0123456789abcdef");
    n = run_python(script, "hello_no_run", out, sizeof out);
    cr_assert_eq(decode(out, n, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_str_eq(m.u.hello.worker_id, "py-worker-1");
    cr_assert_str_eq(m.u.hello.run_id, "");
    n = run_python(script, "release", out, sizeof out);
    cr_assert_eq(decode(out, n, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(m.type, DAISY_MSG_RELEASE);
    cr_assert_eq(m.u.release.credits, 2);
    cr_assert_eq(m.u.release.count, 3);
    const daisy_wire_result_t *r = m.u.release.results;
    cr_assert_eq(r[0].block_id, 17);
    cr_assert_eq(r[0].status, DAISY_RESULT_SUCCESS);
    cr_assert_eq(r[0].seconds, 0.25);
    cr_assert_str_eq(r[0].error, "");
    cr_assert_eq(r[1].attempt, 1);
    cr_assert_eq(r[1].status, DAISY_RESULT_FAILED);
    cr_assert_eq(r[1].seconds, 3.0);
    cr_assert_str_eq(r[1].error, "boom: exit 1 \xc3\xa9");
    cr_assert_eq(r[2].block_id, UINT64_MAX);
    cr_assert_eq(r[2].attempt, UINT32_MAX);
    cr_assert_eq(r[2].status, DAISY_RESULT_SKIPPED);
    cr_assert(m.u.release.has_started);
    cr_assert_eq(m.u.release.started.block_id, 19);
    cr_assert_eq(m.u.release.started.attempt, 2);
    n = run_python(script, "release_no_start", out, sizeof out);
    cr_assert_eq(decode(out, n, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(m.u.release.count, 1);
    cr_assert_eq(m.u.release.results[0].seconds, 1.5);
    cr_assert_not(m.u.release.has_started);
    n = run_python(script, "started", out, sizeof out);
    cr_assert_eq(decode(out, n, &m), DAISY_PROTO_OK, "%s", err.msg);
    cr_assert_eq(m.type, DAISY_MSG_STARTED);
    cr_assert_eq(m.u.started.block_id, UINT64_MAX);
    cr_assert_eq(m.u.started.attempt, UINT32_MAX);
}

Test(protocol, python_unpacks_what_c_packs)
{
    if (!python_ok())
        cr_skip_test("python3 with msgpack is not available");
    static const char script[] =
        "import sys, msgpack\n"
        "data = bytes.fromhex(sys.argv[1])\n"
        "want = {\n"
        "  1: [2, 1, 'predict', 'predict-node07-31337-0', 'node07.cluster', 31337, 2, '3f2a9c0d4e5b6a71'],\n"
        "  3: [2, 3, 1, [[17, 1, 0, 0.5, '']], [[18, 0]]],\n"
        "  6: [2, 6, 17, 1],\n"
        "  101: [2, 101, 'predict', 1000, 3, 3],\n"
        "  102: [2, 102, 'predict', [[5, 1, 2, [-10, 0, 5], [30, 20, 10], [0, 0, 5], [10, 20, 10]],\n"
        "                            [0, 0, 0, [0, 0, 5], [10, 20, 10], [-10, 0, 5], [30, 20, 10]]]],\n"
        "}\n"
        "got = msgpack.unpackb(data, raw=False)\n"
        "assert got == want[got[1]], got\n";
    static const int samples[] = {0, 33, 31, 10, 12};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        daisy_msg_t m;
        sample(samples[i], &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0);
        char hex[2 * 4096 + 1];
        cr_assert_lt(buf.size, 4096);
        to_hex(&buf, hex);
        char out[16];
        run_python(script, hex, out, sizeof out);
    }
}

//  msgpack-python packs what it unpacked from any sample into the very
//  bytes the C encoder wrote: both use the shortest forms, floats as
//  float 64 (PROTOCOL.md section 2), so section 13's bytes hold for both.
Test(protocol, python_repacks_every_sample_identically)
{
    if (!python_ok())
        cr_skip_test("python3 with msgpack is not available");
    static const char script[] =
        "import sys, msgpack\n"
        "data = bytes.fromhex(sys.argv[1])\n"
        "again = msgpack.packb(msgpack.unpackb(data, raw=False))\n"
        "assert again == data, (data.hex(' '), again.hex(' '))\n";
    static char hex[2 * 4096 + 1];
    int checked = 0;
    for (int i = 0; i < NSAMPLES; i++) {
        daisy_msg_t m;
        sample(i, &m);
        cr_assert_eq(daisy_encode(&m, &buf), 0);
        if (buf.size > 4096)
            continue;
        to_hex(&buf, hex);
        char out[16];
        run_python(script, hex, out, sizeof out);
        checked++;
    }
    cr_assert_geq(checked, NSAMPLES - 5);
}

//  Block states: what the decoder refuses, naming the field.
static void
pack_raw(const char *hex)
{
    daisy_buffer_reset(&buf);
    for (const char *p = hex; p[0] && p[1]; p += 2) {
        if (*p == ' ') {
            p--;
            continue;
        }
        unsigned v;
        sscanf(p, "%2x", &v);
        char c = (char)v;
        if (buf.size == buf.cap) {
            buf.cap = buf.cap ? 2 * buf.cap : 64;
            buf.data = realloc(buf.data, buf.cap);
        }
        buf.data[buf.size++] = c;
    }
}

Test(protocol, block_states_refused)
{
    //  [2, 209, "t", bin(index 1), bin(3, 3)]: lengths differ
    pack_raw("95 02 cc d1 a1 74 c4 08 01 00 00 00 00 00 00 00 c4 02 03 03");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "block_changes: states: 2 entries, indices has 1",
           "lengths");
    //  [2, 209, "t", bin(index 1), bin(7)]: no such state
    pack_raw("95 02 cc d1 a1 74 c4 08 01 00 00 00 00 00 00 00 c4 01 07");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "7 is not a block state", "state 7");
    //  [2, 209, "t", bin of 3 bytes, bin()]: not 8-byte indices
    pack_raw("95 02 cc d1 a1 74 c4 03 01 02 03 c4 00");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "not 8-byte entries", "ragged indices");
    //  [2, 209, "t", [1], [3]]: arrays, not binary strings
    pack_raw("95 02 cc d1 a1 74 91 01 91 03");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "indices: expected binary data", "arrays");
    //  [2, 210, "t", [3], 0, 3, bin "xx"]: not zlib
    pack_raw("97 02 cc d2 a1 74 91 03 00 03 c4 02 78 78");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "block_snapshot: states: not a zlib stream",
           "not zlib");
    //  [2, 210, "t", [3], 0, 3, "x"]: a string, not bin
    pack_raw("97 02 cc d2 a1 74 91 03 00 03 a1 78");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "expected binary data", "str");
    //  [2, 210, "t", [2], 1, 3, ...]: beyond the grid
    pack_raw("97 02 cc d2 a1 74 91 02 01 03 c4 00");
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "count: blocks 1..4 are not in the grid of 2",
           "beyond");
    //  A stream of 3 blocks with a state 9, and one of 4 declared as 3.
    uint8_t raw[4] = {0, 9, 1, 1};
    daisy_msg_t m = {.type = DAISY_EVT_BLOCK_SNAPSHOT};
    m.u.block_snapshot = (typeof(m.u.block_snapshot)){"t", 1, {3}, 0, 3, raw};
    cr_assert_eq(daisy_encode(&m, &buf), -1, "the encoder refuses state 9");
    raw[1] = 1;
    m.u.block_snapshot.grid[0] = 4;
    m.u.block_snapshot.count = 4;
    cr_assert_eq(daisy_encode(&m, &buf), 0);
    //  count is element 5 (a fixint 4 here): declare 3 instead
    char *count = memchr(buf.data + 4, 0x04, buf.size - 4);
    cr_assert_not_null(count);
    count = memchr(count + 1, 0x04, buf.size - (size_t)(count + 1 - buf.data));
    cr_assert_not_null(count);
    *count = 3;
    expect(buf.data, buf.size, DAISY_PROTO_BAD_FIELD, "not a zlib stream of exactly 3 bytes", "length");
}
