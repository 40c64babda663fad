/*  bench_broker.c - how many blocks per second the broker serves to real
    worker processes, against what the transport alone allows

    Each case runs a one-task pipeline of no-op blocks (1D, no read/write
    conflicts, so every block is ready at once and the scheduler is never
    the limit) through daisy_run_blockwise(): the embedded broker binds a
    Unix socket (ipc://) in a private directory and forks `workers` worker processes that run the
    worker loop (daisy_worker_run) with a C process function that does
    nothing but note the time. Every block therefore costs exactly what the
    distributed runtime costs: encode, send, receive and decode a BLOCKS
    and a RELEASE message, the broker's bookkeeping (roster, leases,
    scheduler), and the worker's hand-over between its I/O thread and the
    thread that runs the process function.

    In the same case, a bare ZeroMQ probe measures the transport limit: as
    many processes, each with a DEALER on a Unix socket keeping `window`
    requests in flight against one ROUTER that answers every request at
    once. Requests and replies are real encoded RELEASE (one result) and
    BLOCKS (one 1D block) messages, so the bytes on the wire match the
    protocol; nothing is decoded and nothing is scheduled. `ratio` =
    broker blocks/s / probe round trips/s says how close the runtime comes
    to the transport it is built on (with a window, the broker may batch
    several blocks into one message and exceed 1).

    Processes. Every case runs in its own forked child, the "case child",
    which is the broker process: its peak RSS (getrusage(RUSAGE_SELF)
    just before it exits) is the broker's own and no other case's. The
    broker's workers are its children. The probe runs first, in a
    separate child of the case child that forks its DEALER processes
    before creating any ZeroMQ context and then binds the ROUTER; that
    keeps the probe's memory out of the broker's figure and keeps the case
    child free of any ZeroMQ state until the broker run.

    Timing. `seconds` runs from the call of daisy_run_blockwise() to its
    return, start-up (binding, forking, HELLO/WELCOME) and shutdown
    (SHUTDOWN, reaping the workers) included; nothing is subtracted. The
    process function records, per worker, the monotonic time of its first
    and last block in shared memory (one clock read and two stores per
    block), from which `steady_blocks_per_s` (first block anywhere to last
    block anywhere), `startup_seconds` and `shutdown_seconds` are derived.
    That no-op process function, the command line, the case loop and the
    forked children are bench_util's, shared with bench_resume.

    CPU. `broker_cpu_us_per_block` is the broker process's CPU time
    (getrusage, every thread: its loop's and libzmq's I/O thread) per
    block, `broker_thread_cpu_us_per_block` its loop thread's alone.
    The probe's ROUTER is measured alike: `transport_cpu_us_per_round_trip`
    (the process) and `transport_thread_cpu_us_per_round_trip` (the thread
    that calls zmq_poll, zmq_recv and zmq_send, i.e. libzmq's share on the
    caller's side). The loop thread against the probe's thread is what
    daisy's decoding, scheduling and encoding add to a bare ROUTER.

    Output is one JSON object per case per line on stdout; errors go to
    stderr. The exit status is 1 when a run did not complete every block
    or a process failed; a missed target does not change it (read
    `meets_target`).
*/
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <pthread.h>
#include <czmq.h>

#include "bench_util.h"
#include "daisy/daisy.h"

typedef enum {
    TARGET_NONE,
    TARGET_RATIO,       //  blocks_per_s >= value * transport_limit_per_s
    TARGET_RATE,        //  blocks_per_s >= value
    TARGET_RSS_FLAT     //  peak RSS (large) / peak RSS (small) <= value
} target_kind_t;

typedef struct {
    const char *name;
    const char *what;           //  one line for --help
    uint32_t workers;
    uint32_t window;            //  the workers' prefetch
    uint64_t blocks;            //  full run
    uint64_t blocks_quick;
    uint64_t small;             //  rss_flat: the smaller run (0: not rss_flat)
    uint64_t small_quick;
    target_kind_t target;
    double target_value;
    bool feed;                  //  publish the progress feed, a subscriber reading it all
} bench_case_t;

static const bench_case_t cases[] = {
    {"lockstep_2", "2 workers, prefetch 1", 2, 1, 40000, 2000, 0, 0, TARGET_RATIO, 0.7, false},
    {"lockstep_8", "8 workers, prefetch 1", 8, 1, 40000, 2000, 0, 0, TARGET_RATIO, 0.7, false},
    {"lockstep_256", "256 worker processes, prefetch 1", 256, 1, 40000, 4000, 0, 0,
     TARGET_RATIO, 0.85, false},
    {"window16_2", "2 workers, prefetch 16", 2, 16, 400000, 20000, 0, 0, TARGET_RATE, 2e5, false},
    {"window16_8", "8 workers, prefetch 16 (no target)", 8, 16, 400000, 20000, 0, 0,
     TARGET_NONE, 0, false},
    {"rss_flat", "window16_2 at two sizes: broker peak RSS must not grow", 2, 16, 2000000,
     200000, 200000, 20000, TARGET_RSS_FLAT, 1.2, false},
    //  The same with the progress feed (block states included) published and
    //  read whole by a subscriber, as a live view does: compare the broker's
    //  thread CPU per block with the case without (target: within 5 %).
    {"lockstep_8_feed", "lockstep_8, feed on, a subscriber reading it", 8, 1, 40000, 2000, 0, 0,
     TARGET_RATIO, 0.7, true},
    {"window16_2_feed", "window16_2, feed on, a subscriber reading it", 2, 16, 400000, 20000, 0,
     0, TARGET_RATE, 2e5, true},
};
#define NCASES (sizeof cases / sizeof cases[0])

//  The probe sends this many round trips per broker block: enough for a
//  stable rate, short enough to keep the run brief.
#define PROBE_FRACTION 2
//  DEALER processes of the probe, at most.
#define MAX_PROBE 256
//  How long any process waits on a peer before it gives up (ms).
#define PEER_TIMEOUT_MS 60000

//  What a case child sends back. Fixed size and well under PIPE_BUF.
typedef struct {
    int ok;
    char msg[DAISY_ERROR_MAX + 64];
    uint64_t blocks;            //  blocks in the pipeline (all completed when ok)
    double seconds;             //  daisy_run_blockwise(), call to return
    double startup_seconds;     //  call to the first block processed
    double steady_seconds;      //  first block to last block
    double shutdown_seconds;    //  last block to return
    uint32_t worker_slots;      //  worker processes that processed blocks
    uint64_t probe_round_trips; //  0 when no probe ran
    double probe_seconds;
    double probe_cpu_seconds;   //  the probe's ROUTER process
    double probe_thread_cpu_seconds;    //  its thread that calls libzmq
    long rss_kib;               //  the case child's (broker's) peak RSS
    double cpu_seconds;         //  the broker process's CPU time (all its threads) in the run
    double thread_cpu_seconds;  //  its loop's thread alone
} result_t;

//  Representative messages -------------------------------------------------

//  One 1D block of a task of `blocks` blocks, near its end (so that the
//  ids and coordinates take as many bytes as the run's largest).
static daisy_block_t
sample_block(uint64_t blocks)
{
    int64_t off = (int64_t)blocks - 1, one = 1;
    daisy_block_t b = {
        .task = 0,
        .task_id = "noop",
        .block_id = blocks - 1,
        .index = blocks - 1,
        .read_roi = daisy_roi_make(1, &off, &one),
        .write_roi = daisy_roi_make(1, &off, &one),
    };
    return b;
}

//  The probe's request (a RELEASE of one result asking for one more block)
//  and reply (a BLOCKS of one block), encoded as the runtime encodes them.
static int
sample_messages(uint64_t blocks, daisy_buffer_t *request, daisy_buffer_t *reply)
{
    daisy_block_t b = sample_block(blocks);
    daisy_wire_block_t wb;
    daisy_wire_block_from(&wb, &b);
    daisy_msg_t m = {.type = DAISY_MSG_BLOCKS};
    m.u.blocks.task_id = "noop";
    m.u.blocks.count = 1;
    m.u.blocks.blocks = &wb;
    if (daisy_encode(&m, reply) != 0)
        return -1;
    daisy_wire_result_t wr = {.block_id = b.block_id, .attempt = 0,
                              .status = DAISY_RESULT_SUCCESS, .seconds = 1.5e-7,
                              .error = ""};
    m = (daisy_msg_t){.type = DAISY_MSG_RELEASE};
    m.u.release.credits = 1;
    m.u.release.count = 1;
    m.u.release.results = &wr;
    return daisy_encode(&m, request);
}

//  The transport probe -------------------------------------------------------

//  One DEALER process: say hello, wait for "go", then keep `window`
//  requests in flight until `share` replies came back.
static void
probe_worker(int port_fd, uint32_t window, uint64_t share, const daisy_buffer_t *request)
{
    int port;
    if (!bench_read_full(port_fd, &port, sizeof port) || port <= 0)
        _exit(3);
    close(port_fd);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    if (!s)
        _exit(4);
    int linger = 0, timeout = PEER_TIMEOUT_MS;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    char endpoint[64], buf[512];
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/daisy-probe-%d", port);
    if (zmq_connect(s, endpoint) != 0 || zmq_send(s, "hello", 5, 0) != 5
        || zmq_recv(s, buf, sizeof buf, 0) < 0)
        _exit(5);
    uint64_t sent = 0, got = 0;
    for (; sent < window && sent < share; sent++)
        if (zmq_send(s, request->data, request->size, 0) < 0)
            _exit(6);
    while (got < share) {
        if (zmq_recv(s, buf, sizeof buf, 0) < 0)
            _exit(7);
        got++;
        if (sent < share) {
            if (zmq_send(s, request->data, request->size, 0) < 0)
                _exit(6);
            sent++;
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

typedef struct {
    int ok;
    char msg[256];
    double seconds;
    double cpu_seconds;         //  the ROUTER process, its I/O thread too
    double thread_cpu_seconds;  //  the thread that calls zmq_poll/recv/send
} probe_result_t;

//  The ROUTER side, in the probe process (after the DEALERs were forked).
//  Waits for every hello, says go, then answers every request at once
//  until `total` requests were answered.
static int
probe_router(const pid_t *pids, int port_fd, uint32_t workers, uint64_t total,
             const daisy_buffer_t *reply, probe_result_t *pr)
{
    void *ctx = zmq_ctx_new();
    void *r = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    if (!r)
        return snprintf(pr->msg, sizeof pr->msg, "probe: no ROUTER socket"), -1;
    int zero = 0, one = 1, linger = 200;
    zmq_setsockopt(r, ZMQ_SNDHWM, &zero, sizeof zero);      //  as the broker's
    zmq_setsockopt(r, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof linger);
    //  A Unix socket, as daisy_run_blockwise() gives its broker: the same
    //  transport on both sides of the ratio. Peers are told the number in
    //  its name.
    char endpoint[256];
    int port = (int)getpid();
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/daisy-probe-%d", port);
    if (zmq_bind(r, endpoint) != 0)
        return snprintf(pr->msg, sizeof pr->msg, "probe: bind: %s",
                        zmq_strerror(zmq_errno())), -1;
    for (uint32_t i = 0; i < workers; i++)
        if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
            return snprintf(pr->msg, sizeof pr->msg, "probe: pipe write failed"), -1;
    static uint8_t ids[MAX_PROBE][256];
    static size_t idlen[MAX_PROBE];
    char body[512];
    zmq_pollitem_t item = {.socket = r, .events = ZMQ_POLLIN};
    for (uint32_t i = 0; i < workers; i++) {
        if (zmq_poll(&item, 1, PEER_TIMEOUT_MS) <= 0)
            return snprintf(pr->msg, sizeof pr->msg, "probe: %u of %u DEALERs said hello",
                            i, workers), -1;
        int n = zmq_recv(r, ids[i], sizeof ids[i], 0);
        if (n < 0 || zmq_recv(r, body, sizeof body, 0) < 0)
            return snprintf(pr->msg, sizeof pr->msg, "probe: recv failed"), -1;
        idlen[i] = (size_t)n;
    }
    double t0 = bench_now(), cpu0 = bench_cpu_seconds(RUSAGE_SELF);
    double thread0 = bench_cpu_seconds(RUSAGE_THREAD);
    for (uint32_t i = 0; i < workers; i++)
        if (zmq_send(r, ids[i], idlen[i], ZMQ_SNDMORE) < 0 || zmq_send(r, "go", 2, 0) < 0)
            return snprintf(pr->msg, sizeof pr->msg, "probe: send go failed"), -1;
    uint64_t answered = 0;
    uint8_t id[256];
    while (answered < total) {
        int rc = zmq_poll(&item, 1, PEER_TIMEOUT_MS);
        if (rc <= 0)
            return snprintf(pr->msg, sizeof pr->msg, "probe: stalled after %llu of %llu",
                            (unsigned long long)answered, (unsigned long long)total), -1;
        //  Answer every waiting request, as the broker drains its socket.
        while (answered < total) {
            int n = zmq_recv(r, id, sizeof id, ZMQ_DONTWAIT);
            if (n < 0)
                break;
            if (zmq_recv(r, body, sizeof body, 0) < 0
                || zmq_send(r, id, (size_t)n, ZMQ_SNDMORE) < 0
                || zmq_send(r, reply->data, reply->size, 0) < 0)
                return snprintf(pr->msg, sizeof pr->msg, "probe: echo failed"), -1;
            answered++;
        }
    }
    pr->seconds = bench_now() - t0;
    pr->cpu_seconds = bench_cpu_seconds(RUSAGE_SELF) - cpu0;
    pr->thread_cpu_seconds = bench_cpu_seconds(RUSAGE_THREAD) - thread0;
    for (uint32_t i = 0; i < workers; i++) {
        int status;
        if (bench_wait(pids[i], &status, NULL) != 0 || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            return snprintf(pr->msg, sizeof pr->msg, "probe: DEALER %u failed (status %d)",
                            i, status), -1;
    }
    zmq_close(r);
    zmq_ctx_term(ctx);
    unlink(endpoint + strlen("ipc://"));    //  libzmq leaves the socket file
    return 0;
}

//  The probe process: fork the DEALERs first, then become the ROUTER.
static void
probe_process(uint32_t workers, uint32_t window, uint64_t total, uint64_t blocks,
              int result_fd)
{
    probe_result_t pr;
    memset(&pr, 0, sizeof pr);
    daisy_buffer_t request = {0}, reply = {0};
    int ports[2];
    pid_t pids[MAX_PROBE];
    if (workers > MAX_PROBE)
        snprintf(pr.msg, sizeof pr.msg, "probe: at most %d processes", MAX_PROBE);
    else if (sample_messages(blocks, &request, &reply) != 0)
        snprintf(pr.msg, sizeof pr.msg, "probe: cannot encode sample messages");
    else if (pipe(ports) != 0)
        snprintf(pr.msg, sizeof pr.msg, "probe: pipe: %s", strerror(errno));
    else {
        uint32_t forked = 0;
        for (; forked < workers; forked++) {
            uint64_t share = total / workers + (forked < total % workers ? 1 : 0);
            pid_t pid = fork();
            if (pid < 0)
                break;
            if (pid == 0) {
                close(ports[1]);
                close(result_fd);
                probe_worker(ports[0], window, share, &request);
            }
            pids[forked] = pid;
        }
        close(ports[0]);
        if (forked < workers) {
            snprintf(pr.msg, sizeof pr.msg, "probe: fork: %s", strerror(errno));
            for (uint32_t i = 0; i < forked; i++)
                kill(pids[i], SIGKILL);
        } else
            pr.ok = probe_router(pids, ports[1], workers, total, &reply, &pr) == 0;
        if (!pr.ok)
            for (uint32_t i = 0; i < forked; i++)
                kill(pids[i], SIGKILL);
    }
    bench_child_exit(result_fd, &pr, sizeof pr, pr.ok);
}

//  Run the probe in a child of the case child; round trips per second go
//  into r. 0 on success.
static int
run_probe(uint32_t workers, uint32_t window, uint64_t total, uint64_t blocks, result_t *r)
{
    int fd;
    pid_t pid = bench_fork(&fd, r->msg, sizeof r->msg);
    if (pid == 0)
        probe_process(workers, window, total, blocks, fd);
    probe_result_t pr;
    if (pid < 0
        || bench_collect(pid, fd, &pr, sizeof pr, "probe process", NULL, r->msg,
                         sizeof r->msg) != 0)
        return -1;
    if (!pr.ok)
        return snprintf(r->msg, sizeof r->msg, "%s", pr.msg), -1;
    r->probe_round_trips = total;
    r->probe_seconds = pr.seconds;
    r->probe_cpu_seconds = pr.cpu_seconds;
    r->probe_thread_cpu_seconds = pr.thread_cpu_seconds;
    return 0;
}

//  The broker run ------------------------------------------------------------


//  The subscriber of a _feed case: a process of its own that reads every
//  event until it is killed (it keeps nothing). Not a thread:
//  daisy_run_blockwise() forks its workers from a copy of the caller made
//  at the call, which must have no threads (daisy/blockwise.h); a reader
//  thread there made 1 run in 15 hang under ASan (workers forked while it
//  held the allocator's lock never connected).
static pid_t
feed_reader_start(const char *endpoint)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);   //  never outlives a case process that died
    if (getppid() == 1)
        _exit(0);
    zsock_t *sub = zsock_new_sub(endpoint, "");
    zpoller_t *poller = sub ? zpoller_new(sub, NULL) : NULL;
    for (;;) {
        if (poller && zpoller_wait(poller, 100)) {
            zmsg_t *msg = zmsg_recv(sub);
            zmsg_destroy(&msg);
        }
        else if (!poller)
            pause();
    }
}

static int
run_broker(uint32_t workers, uint32_t window, uint64_t blocks, bool feed, result_t *r)
{
    char log_dir[256];
    if (bench_tmpdir(log_dir, sizeof log_dir, "bench_broker") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    if (bench_noop_reset(r->msg, sizeof r->msg) != 0)
        return -1;
    daisy_pipeline_t *p = bench_noop_pipeline(blocks, workers);
    daisy_blockwise_options_t o = {.log_dir = log_dir, .prefetch = window};
    char endpoint[512];
    pid_t reader = -1;
    if (feed) {
        snprintf(endpoint, sizeof endpoint, "ipc://%s/feed", log_dir);
        o.publish = endpoint;
        reader = feed_reader_start(endpoint);
    }
    daisy_error_t err;
    double cpu0 = bench_cpu_seconds(RUSAGE_SELF), thread0 = bench_cpu_seconds(RUSAGE_THREAD);
    int64_t t0 = bench_now_ns();
    daisy_summary_t *summary = daisy_run_blockwise(p, &o, &err);
    int64_t t1 = bench_now_ns();
    r->cpu_seconds = bench_cpu_seconds(RUSAGE_SELF) - cpu0;
    r->thread_cpu_seconds = bench_cpu_seconds(RUSAGE_THREAD) - thread0;
    if (reader > 0) {
        kill(reader, SIGKILL);
        waitpid(reader, NULL, 0);
    }
    if (!summary)
        return snprintf(r->msg, sizeof r->msg, "run_blockwise: %s", err.msg), -1;
    const daisy_task_counts_t *c = daisy_summary_counts(summary, 0);
    r->blocks = c->total;
    bench_span_t span;
    if (bench_noop_check(c, blocks, log_dir, &span, r->msg, sizeof r->msg) != 0)
        return -1;
    r->worker_slots = span.workers;
    r->seconds = (double)(t1 - t0) * 1e-9;
    r->startup_seconds = (double)(span.first_ns - t0) * 1e-9;
    r->steady_seconds = (double)(span.last_ns - span.first_ns) * 1e-9;
    r->shutdown_seconds = (double)(t1 - span.last_ns) * 1e-9;
    bench_remove_tree(log_dir);
    //  No other cleanup: this process ends here.
    return 0;
}

//  Children and parent -----------------------------------------------------------

//  The case child: probe (unless `probe` is false), then the broker run.
static void
case_child(const bench_case_t *c, uint64_t blocks, bool probe, int fd)
{
    result_t r;
    memset(&r, 0, sizeof r);
    r.ok = (!probe || run_probe(c->workers, c->window, blocks / PROBE_FRACTION, blocks,
                                &r) == 0)
        && run_broker(c->workers, c->window, blocks, c->feed, &r) == 0;
    r.rss_kib = bench_peak_rss_kib();
    bench_child_exit(fd, &r, sizeof r, r.ok);
}

static int
run_case(const bench_case_t *c, uint64_t blocks, bool probe, result_t *r)
{
    char err[256];
    int fd;
    pid_t pid = bench_fork(&fd, err, sizeof err);
    if (pid == 0)
        case_child(c, blocks, probe, fd);
    if (pid < 0
        || bench_collect(pid, fd, r, sizeof *r, "case process", NULL, err, sizeof err) != 0)
        return fprintf(stderr, "bench_broker: %s: %s\n", c->name, err), -1;
    if (!r->ok)
        return fprintf(stderr, "bench_broker: %s: %s\n", c->name, r->msg), -1;
    return 0;
}

static void
print_common(const bench_case_t *c, bool quick, const result_t *r)
{
    printf("{\"case\": \"%s\", \"quick\": %s, \"workers\": %u, \"window\": %u, "
           "\"blocks\": %llu, \"seconds\": %.4f, \"blocks_per_s\": %.0f, "
           "\"steady_blocks_per_s\": %.0f, \"startup_seconds\": %.4f, "
           "\"shutdown_seconds\": %.4f, ",
           c->name, bench_bool(quick), c->workers, c->window,
           (unsigned long long)r->blocks, r->seconds, bench_rate(r->blocks, r->seconds),
           bench_rate(r->blocks, r->steady_seconds), r->startup_seconds, r->shutdown_seconds);
}

//  Microseconds of `seconds` per probe round trip, 0 when no probe ran.
static double
per_round_trip(const result_t *r, double seconds)
{
    return r->probe_round_trips ? seconds * 1e6 / (double)r->probe_round_trips : 0;
}

static void
print_case(const bench_case_t *c, bool quick, const result_t *r)
{
    double bps = bench_rate(r->blocks, r->seconds);
    double limit = bench_rate(r->probe_round_trips, r->probe_seconds);
    double ratio = limit > 0 ? bps / limit : 0;
    print_common(c, quick, r);
    printf("\"transport_round_trips\": %llu, \"transport_seconds\": %.4f, "
           "\"transport_limit_per_s\": %.0f, \"ratio\": %.4f, \"steady_ratio\": %.4f, "
           "\"broker_peak_rss_kib\": %ld, \"broker_cpu_us_per_block\": %.2f, "
           "\"broker_thread_cpu_us_per_block\": %.2f, "
           "\"transport_cpu_us_per_round_trip\": %.2f, "
           "\"transport_thread_cpu_us_per_round_trip\": %.2f, ",
           (unsigned long long)r->probe_round_trips, r->probe_seconds, limit, ratio,
           limit > 0 ? bench_rate(r->blocks, r->steady_seconds) / limit : 0, r->rss_kib,
           r->blocks ? r->cpu_seconds * 1e6 / (double)r->blocks : 0,
           r->blocks ? r->thread_cpu_seconds * 1e6 / (double)r->blocks : 0,
           per_round_trip(r, r->probe_cpu_seconds),
           per_round_trip(r, r->probe_thread_cpu_seconds));
    if (c->target == TARGET_RATIO)
        printf("\"target\": \"ratio >= %.2f\", \"meets_target\": %s}\n", c->target_value,
               bench_bool(ratio >= c->target_value));
    else if (c->target == TARGET_RATE)
        printf("\"target\": \"blocks_per_s >= %.0f\", \"meets_target\": %s}\n",
               c->target_value, bench_bool(bps >= c->target_value));
    else
        printf("\"target\": \"none\", \"meets_target\": null}\n");
    fflush(stdout);
}

static void
print_rss_flat(const bench_case_t *c, bool quick, const result_t *small, const result_t *r)
{
    double ratio = small->rss_kib > 0 ? (double)r->rss_kib / (double)small->rss_kib : 0;
    print_common(c, quick, r);
    printf("\"transport_limit_per_s\": null, \"ratio\": null, \"blocks_small\": %llu, "
           "\"blocks_per_s_small\": %.0f, \"broker_peak_rss_kib_small\": %ld, "
           "\"broker_peak_rss_kib\": %ld, \"rss_ratio\": %.4f, "
           "\"target\": \"rss_ratio <= %.2f\", \"meets_target\": %s}\n",
           (unsigned long long)small->blocks, bench_rate(small->blocks, small->seconds),
           small->rss_kib, r->rss_kib, ratio, c->target_value,
           bench_bool(ratio <= c->target_value));
    fflush(stdout);
}

static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    bool quick = args->quick;
    uint64_t blocks = quick ? c->blocks_quick : c->blocks;
    result_t r;
    if (c->target != TARGET_RSS_FLAT) {
        if (run_case(c, blocks, true, &r) != 0)
            return -1;
        print_case(c, quick, &r);
        return 0;
    }
    result_t small;
    if (run_case(c, quick ? c->small_quick : c->small, false, &small) != 0
        || run_case(c, blocks, false, &r) != 0)
        return -1;
    print_rss_flat(c, quick, &small, &r);
    return 0;
}

int
main(int argc, char **argv)
{
    static const bench_prog_t prog = {
        .name = "bench_broker",
        .usage = "usage: bench_broker [--case NAME] [--quick] [--help]\n"
                 "No-op blocks through the broker and forked workers over a Unix socket,\n"
                 "against a bare ZeroMQ ROUTER/DEALER probe; one JSON line per case.\n"
                 "  --case NAME  run only this case\n"
                 "  --quick      20x fewer blocks per case (smoke test)\n"
                 "cases:\n",
        .cases = cases, .ncases = NCASES, .case_size = sizeof cases[0],
        .what_offset = offsetof(bench_case_t, what), .name_width = 12,
        .run = bench,
    };
    return bench_main(&prog, argc, argv);
}
