/*  bench_loadgen.c - the broker under thousands of workers: a load
    generator of simulated workers on real ZeroMQ connections

    A real daisy worker is a process; ten thousand of them do not fit on a
    2-core machine. Each simulated worker here is instead one DEALER socket
    with its own routing id and its own TCP loopback connection to the
    broker, speaking the protocol exactly as daisy-worker does with a no-op
    block function (protocol/PROTOCOL.md, worker/io.c):

      - routing id `loadgen-HOST-PID-I/RUN_ID`, ZMQ_MAXMSGSIZE 1 MiB,
        ZMQ_LINGER 0, set before connecting;
      - HELLO (task, worker id, host, pid, prefetch 1, run id); on WELCOME
        it keeps the broker's heartbeat_ms and liveness (defaults 1000 ms
        and 3: daisy_broker_options_default()) and asks for its prefetch
        with REQUEST(1);
      - on BLOCKS: no STARTED (a window of one holding one block: the
        broker counts it started as it hands it out, and the C worker
        knows it), the no-op, a STATS when a second (and heartbeat_ms)
        has passed since its last one (as the C worker does ahead of a
        RELEASE), then
        RELEASE(credits 1, [the result], started []);
      - HEARTBEAT when it has sent nothing for heartbeat_ms (only once
        welcomed, as the C worker); any message from the broker counts as
        a sign of life, and one silent for liveness * heartbeat_ms is
        counted (`silent`: a real worker would reconnect);
      - ERROR not_ready: HELLO again (rule 1); unknown_block: ignored; any
        other ERROR fails the case. SHUTDOWN: done.

    Processes. Every case runs in its own forked child, the "case child",
    which is the broker process: it forks P generator processes first
    (before any ZeroMQ context exists), then builds the pipeline, creates
    the library's broker (daisy_broker_new, bound to tcp://127.0.0.1:*)
    and drives it with daisy_broker_poll(broker, 50) as daisy_serve() does
    (no launcher: the workers are external). Its getrusage(RUSAGE_SELF) is
    therefore the broker's own, both of its threads (the loop and libzmq's
    I/O thread) and nothing else. Each generator drives N/P simulated
    workers from one thread: one ZeroMQ context (ZMQ_MAX_SOCKETS raised to
    its share, libzmq's default is 1023), one epoll set over the sockets'
    ZMQ_FD descriptors, no thread per worker. (zmq_poll() would rebuild a
    pollfd array and query ZMQ_EVENTS of thousands of sockets on every
    wake-up; epoll costs per ready socket.) Socket events are read the way
    libzmq asks for ZMQ_FD: after a wake-up, and after every send on a
    socket, ZMQ_EVENTS is read and messages received until it shows none.
    The generator starts its workers in a ramp, at most `ramp` connected
    and not yet welcomed at a time, as thousands of real workers started
    by a batch system come up over a while instead of in one instant (the
    listen backlog of the broker's ROUTER is libzmq's default 100).

    Socket limits. libzmq refuses sockets beyond a context's
    ZMQ_MAX_SOCKETS, but a ROUTER's connections are not sockets: the
    broker's context (czmq's, made by its first zsock_new(), at czmq's
    default of 1024 sockets) needs one ROUTER, and a PUB and ZAP socket at
    most, for any number of workers. Only the generators raise it.

    Start barrier. Workers say HELLO as they start, but the broker process
    lets them ask for blocks (REQUEST) only once all N have joined
    (daisy_broker_worker_count() == N, within 60 s + 10 ms per worker): it
    then writes a "go" byte to each generator. So a lockstep case measures
    N workers at work, not a ramp.

    Reference. Before the broker, each case runs the same generators
    against a bare ZeroMQ ROUTER in a case child of its own (the "probe",
    see below): what libzmq and TCP alone cost for the same connections
    and messages, measured in the same run (`probe_*`, `ratio_to_probe`).

    Cases.
      idle_N     N workers joined, asking for blocks of a task that has
                 none ready (its every block waits on an upstream task that
                 no worker serves), so they sit parked and heartbeat. After
                 the REQUESTs and a settling time, the broker's CPU time is
                 measured over a window (10 s; 2 s with --quick) as a
                 fraction of one core, with its peak RSS. Target (issue
                 13, at N = 10,000): <= 5 % of a core, <= 100 MiB.
      lockstep_N N workers with prefetch 1 on a one-task pipeline of
                 no-op 1D blocks (no conflicts, all ready): blocks/s from
                 "go" to the last result, and `ratio` to lockstep_16 of
                 the same run: with --pairs K, K pairs of lockstep_16 and
                 lockstep_N back to back (alternating which goes first),
                 `ratio` the median of the pair ratios.
                 Target (issue 13): ratio >= 0.8 at N = 10,000, broker
                 RSS <= 100 MiB. The generators also record each
                 worker's wait from REQUEST/RELEASE to BLOCKS
                 (`wait_p50_ms`, `wait_p99_ms`, `wait_max_ms`): by Little's
                 law about N / (blocks/s) when the broker is the limit,
                 and a wait near liveness * heartbeat_ms costs workers.
    With --quick, N = 1000 becomes 200, the 10,000 cases are skipped,
    blocks and windows are small: a smoke run that checks correctness.
    --workers N runs the selected cases with N workers instead, and
    --heartbeat-ms MS the broker (and the probe) with another interval.

    Checks (exit status 1 when one fails; targets never change it):
    every generator ended cleanly, every simulated worker was welcomed and
    told SHUTDOWN at the end, no ERROR other than not_ready/unknown_block;
    idle: no block handed out; lockstep: every block completed, none
    failed, and when no worker was lost the generators ran exactly the
    task's blocks.

    Descriptors. Each simulated worker costs two descriptors in its
    generator (the TCP socket, the DEALER's mailbox eventfd) and one in
    the broker (the accepted TCP socket). The program raises its soft
    RLIMIT_NOFILE to the hard limit at start (inherited by all its
    processes) and refuses a case that cannot fit instead of failing
    half-way. --broker-nofile N lowers the broker process's soft limit,
    to see what the broker does when it runs out.

    Output: one JSON object per case per line on stdout; errors on stderr.
*/
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_util.h"
#include "daisy/daisy.h"

typedef enum { MODE_IDLE, MODE_LOCKSTEP } gen_mode_t;

typedef struct {
    const char *name;
    const char *what;           //  one line for --help
    gen_mode_t mode;
    uint32_t workers;
    uint32_t workers_quick;     //  0: not run with --quick
    uint64_t blocks;            //  lockstep: blocks of the task
    uint64_t blocks_quick;
} bench_case_t;

static const bench_case_t cases[] = {
    {"lockstep_16", "16 workers, prefetch 1, no-op blocks: blocks/s (the reference)",
     MODE_LOCKSTEP, 16, 16, 200000, 4000},
    {"lockstep_1000", "1,000 workers (200 with --quick), ratio to lockstep_16",
     MODE_LOCKSTEP, 1000, 200, 200000, 4000},
    {"lockstep_10000", "10,000 workers (not with --quick), ratio to lockstep_16",
     MODE_LOCKSTEP, 10000, 0, 300000, 0},
    {"idle_16", "16 workers parked and heartbeating: broker CPU and RSS",
     MODE_IDLE, 16, 16, 0, 0},
    {"idle_1000", "1,000 workers (200 with --quick) idle", MODE_IDLE, 1000, 200, 0, 0},
    {"idle_10000", "10,000 workers idle (not with --quick)", MODE_IDLE, 10000, 0, 0, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

#define TARGET_CPU 0.05                 //  idle broker, fraction of a core
#define TARGET_RSS_KIB (100 * 1024)     //  broker peak RSS
#define TARGET_RATIO 0.8                //  lockstep_N / lockstep_16
#define REFERENCE_WORKERS 16
#define MAX_PROCS 16
#define MAX_PAIRS 9
#define PEER_TIMEOUT_MS 120000          //  longest silence before a case gives up
#define FDS_SPARE 64                    //  descriptors a process needs besides sockets

//  Command-line settings.
static uint32_t opt_procs = 4;          //  generator processes (at most per case: N)
static uint32_t opt_ramp = 16;          //  workers per generator connecting at once (0: all)
static double opt_seconds = 0;          //  idle window (0: 10 s, 2 s quick)
static long opt_broker_nofile = 0;      //  soft RLIMIT_NOFILE of the broker process
static uint32_t opt_heartbeat_ms = 0;   //  the broker's heartbeat_ms (0: its default)
static uint32_t opt_workers = 0;        //  N of every case run (0: the case's)
static bool opt_probe = true;           //  measure the bare-ZeroMQ reference too
static uint32_t opt_pairs = 1;          //  lockstep_N: pairs of runs with lockstep_16
static bool opt_verbose = false;


//  Clocks and small helpers ------------------------------------------------------

static int64_t
now_ms(void)
{
    return bench_now_ns() / 1000000;
}

static double
self_cpu(void)
{
    return bench_cpu_seconds(RUSAGE_SELF);
}

//  CPU seconds of this process's threads: the calling one (the broker's
//  loop), and libzmq's I/O threads ("ZMQbg/IO/..."), from /proc (clock
//  ticks, 10 ms).
static void
thread_cpu(double *main_s, double *io_s)
{
    *main_s = *io_s = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    double tick = (double)sysconf(_SC_CLK_TCK);
    pid_t me = (pid_t)syscall(SYS_gettid);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        //  pid (comm) state ppid ... utime stime: fields 14 and 15.
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close)
            continue;
        unsigned long long ut = 0, st = 0;
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &ut, &st) != 2)
            continue;
        double cpu = (double)(ut + st) / tick;
        if (atoi(e->d_name) == me)
            *main_s += cpu;
        else if (!strncmp(open + 1, "ZMQbg/IO", 8))
            *io_s += cpu;
    }
    closedir(d);
}

//  Intrusive circular lists, the head a sentinel.
typedef struct dnode {
    struct dnode *prev, *next;
} dnode_t;

static void
dl_init(dnode_t *n)
{
    n->prev = n->next = n;
}

static void
dl_remove(dnode_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

static void
dl_push_tail(dnode_t *head, dnode_t *n)
{
    dl_remove(n);
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

#define dl_empty(head) ((head)->next == (head))
#define dl_entry(node, type, member) ((type *)((char *)(node) - offsetof(type, member)))

//  The generator's report --------------------------------------------------------

//  Waits of a worker for its blocks (REQUEST or RELEASE sent to BLOCKS
//  received), in buckets of a quarter octave from 1 us: bucket b holds
//  waits below 2^((b + 1) / 4) us.
#define WAIT_BUCKETS 100

static int
wait_bucket(int64_t ns)
{
    double us = (double)ns / 1000.0;
    if (us < 1)
        return 0;
    int b = (int)(4.0 * log2(us));
    return b < 0 ? 0 : b >= WAIT_BUCKETS ? WAIT_BUCKETS - 1 : b;
}

//  The upper edge of bucket b, in ms.
static double
wait_edge_ms(int b)
{
    return exp2((b + 1) / 4.0) / 1000.0;
}

typedef struct {
    int ok;
    char msg[512];
    uint32_t sims;
    uint32_t welcomed;          //  simulated workers welcomed at least once
    uint32_t shut_down;         //  told SHUTDOWN
    uint64_t blocks;            //  blocks run (results released)
    uint64_t sent[8];           //  by type: HELLO .. STATS (index = type)
    uint64_t got_blocks_msgs, got_heartbeats, got_errors;
    uint64_t errors_by_code[16];
    uint64_t silent;            //  a worker heard nothing for liveness * heartbeat_ms
    uint64_t send_failed;       //  zmq_send refused (EAGAIN: high-water mark)
    int64_t max_gap_ms;         //  longest silence of the broker towards one worker, once welcomed
    int64_t max_wait_ns;        //  longest wait for blocks
    uint32_t waits[WAIT_BUCKETS];   //  waits for blocks, by bucket
    double join_seconds;        //  setup to its last worker welcomed
    double cpu_run_s;           //  CPU from "go" to the first SHUTDOWN
} gen_result_t;

//  What the broker process writes to a generator first.
typedef struct {
    int port;
    char run_id[40];
} gen_setup_t;

//  One simulated worker.
typedef enum { SIM_NEW, SIM_HELLO, SIM_READY, SIM_DONE } sim_state_t;

typedef struct {
    void *sock;
    sim_state_t state;
    bool welcomed_once;
    int64_t last_sent, last_heard, last_stats;
    int64_t asked_ns;           //  when it last asked for blocks (0: not waiting)
    dnode_t by_sent;            //  welcomed workers, least recently sent first
    dnode_t by_heard;           //  live workers, least recently heard first
} sim_t;

typedef struct {
    gen_mode_t mode;
    uint32_t index;             //  generator number
    uint32_t nsims;
    uint32_t first;             //  global number of its first worker
    const char *task;
    sim_t *sims;
    void *ctx;
    int ep;
    int ctrl;                   //  from the broker process: setup, then "go"
    char endpoint[64];
    char run_id[40];
    char host[256];
    char idprefix[300];
    uint32_t started, hello_out;    //  sockets made; HELLOs not answered yet
    uint32_t live;              //  not yet SHUTDOWN
    bool go;
    int64_t heartbeat_ms, liveness;
    dnode_t by_sent, by_heard;
    daisy_decoder_t *decoder;
    daisy_buffer_t out;
    daisy_wire_result_t result;
    double stats_cpu;           //  cached for STATS
    uint64_t stats_rss;
    int64_t stats_at;
    double t_setup;
    double cpu_go;
    bool cpu_end_set;
    gen_result_t r;
} gen_t;

static int gen_fail(gen_t *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
gen_fail(gen_t *g, const char *fmt, ...)
{
    if (g->r.msg[0])
        return -1;
    int n = snprintf(g->r.msg, sizeof g->r.msg, "generator %u: ", g->index);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->r.msg + n, sizeof g->r.msg - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void sim_drain(gen_t *g, sim_t *s, int64_t now);

static void
sim_send(gen_t *g, sim_t *s, const daisy_msg_t *msg, int64_t now)
{
    if (daisy_encode(msg, &g->out) != 0) {
        gen_fail(g, "cannot encode a %s", daisy_msg_name(msg->type));
        return;
    }
    if (zmq_send(s->sock, g->out.data, g->out.size, ZMQ_DONTWAIT) < 0)
        g->r.send_failed++;
    if ((unsigned)msg->type < 8)
        g->r.sent[msg->type]++;
    s->last_sent = now;
    if (s->state == SIM_READY)
        dl_push_tail(&g->by_sent, &s->by_sent);
}

static void
sim_hello(gen_t *g, sim_t *s, int64_t now)
{
    char wid[320];
    snprintf(wid, sizeof wid, "%s%u", g->idprefix, (unsigned)(s - g->sims) + g->first);
    daisy_msg_t m = {.type = DAISY_MSG_HELLO};
    m.u.hello.task_id = g->task;
    m.u.hello.worker_id = wid;
    m.u.hello.host = g->host;
    m.u.hello.pid = (int64_t)getpid();
    m.u.hello.prefetch = 1;
    m.u.hello.run_id = g->run_id;
    if (s->state == SIM_READY)
        dl_remove(&s->by_sent);     //  no heartbeats until welcomed again
    s->state = SIM_HELLO;
    s->asked_ns = 0;
    g->hello_out++;
    s->last_heard = now;            //  the broker has liveness intervals to answer
    dl_push_tail(&g->by_heard, &s->by_heard);
    sim_send(g, s, &m, now);
}

static void
sim_request(gen_t *g, sim_t *s, int64_t now)
{
    daisy_msg_t m = {.type = DAISY_MSG_REQUEST};
    m.u.request.credits = 1;
    s->asked_ns = bench_now_ns();
    sim_send(g, s, &m, now);
}

//  Make the socket of the next worker, connect it and say HELLO.
static int
sim_start(gen_t *g, int64_t now)
{
    sim_t *s = &g->sims[g->started];
    uint32_t global = g->started + g->first;
    char rid[400];
    int n = snprintf(rid, sizeof rid, "%s%u/%s", g->idprefix, global, g->run_id);
    int linger = 0;
    int64_t maxsize = DAISY_MAX_FRAME;
    s->sock = zmq_socket(g->ctx, ZMQ_DEALER);
    if (!s->sock)
        return gen_fail(g, "worker %u: zmq_socket: %s", global, zmq_strerror(zmq_errno()));
    int fd;
    size_t fdlen = sizeof fd;
    if (zmq_setsockopt(s->sock, ZMQ_ROUTING_ID, rid, (size_t)n) != 0
        || zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize) != 0
        || zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_connect(s->sock, g->endpoint) != 0
        || zmq_getsockopt(s->sock, ZMQ_FD, &fd, &fdlen) != 0)
        return gen_fail(g, "worker %u: socket set-up: %s", global, zmq_strerror(zmq_errno()));
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = g->started};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
        return gen_fail(g, "worker %u: epoll_ctl: %s", global, strerror(errno));
    g->started++;
    sim_hello(g, s, now);
    sim_drain(g, s, now);
    return 0;
}

static void
gen_stats_refresh(gen_t *g, int64_t now)
{
    if (g->stats_at && now - g->stats_at < 100)
        return;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    g->stats_cpu = bench_rusage_cpu(&ru);
    g->stats_rss = (uint64_t)ru.ru_maxrss;
    g->stats_at = now;
}

static void
sim_on_blocks(gen_t *g, sim_t *s, const daisy_msg_t *msg, int64_t now)
{
    uint32_t n = msg->u.blocks.count;
    if (n == 0)
        return;
    g->r.got_blocks_msgs++;
    if (s->asked_ns) {
        int64_t wait = bench_now_ns() - s->asked_ns;
        g->r.waits[wait_bucket(wait)]++;
        g->r.max_wait_ns = wait > g->r.max_wait_ns ? wait : g->r.max_wait_ns;
    }
    for (uint32_t i = 0; i < n; i++) {
        const daisy_wire_block_t *b = &msg->u.blocks.blocks[i];
        //  Nothing queued behind the last block: its start is told alone,
        //  unless it is all the worker holds (window 1: the broker counted
        //  it started as it handed it out, as the C worker knows).
        if (i + 1 == n && n > 1) {
            daisy_msg_t m = {.type = DAISY_MSG_STARTED};
            m.u.started = (daisy_wire_lease_t){b->block_id, b->attempt};
            sim_send(g, s, &m, now);
        }
        //  The block function: nothing.
        int64_t every = g->heartbeat_ms > 1000 ? g->heartbeat_ms : 1000;   //  as the C worker
        if (s->last_stats == 0 || now - s->last_stats >= every) {
            gen_stats_refresh(g, now);
            daisy_msg_t m = {.type = DAISY_MSG_STATS};
            m.u.stats.cpu_s = g->stats_cpu;
            m.u.stats.peak_rss_kb = g->stats_rss;
            sim_send(g, s, &m, now);
            s->last_stats = now;
        }
        g->result = (daisy_wire_result_t){.block_id = b->block_id, .attempt = b->attempt,
                                          .status = DAISY_RESULT_SUCCESS, .seconds = 0,
                                          .error = ""};
        daisy_msg_t m = {.type = DAISY_MSG_RELEASE};
        m.u.release.credits = 1;
        m.u.release.count = 1;
        m.u.release.results = &g->result;
        m.u.release.has_started = false;
        s->asked_ns = bench_now_ns();
        sim_send(g, s, &m, now);
        g->r.blocks++;
    }
}

static void
sim_on_message(gen_t *g, sim_t *s, const daisy_msg_t *msg, int64_t now)
{
    if (s->state == SIM_READY && now - s->last_heard > g->r.max_gap_ms)
        g->r.max_gap_ms = now - s->last_heard;
    s->last_heard = now;
    dl_push_tail(&g->by_heard, &s->by_heard);
    switch (msg->type) {
    case DAISY_MSG_WELCOME:
        if (s->state == SIM_READY) {    //  the broker paces heartbeats anew
            g->heartbeat_ms = msg->u.welcome.heartbeat_ms;
            g->liveness = msg->u.welcome.liveness;
        }
        if (s->state != SIM_HELLO)
            break;
        s->state = SIM_READY;
        g->hello_out--;
        if (!s->welcomed_once) {
            s->welcomed_once = true;
            if (++g->r.welcomed == g->nsims)
                g->r.join_seconds = bench_now() - g->t_setup;
        }
        g->heartbeat_ms = msg->u.welcome.heartbeat_ms;
        g->liveness = msg->u.welcome.liveness;
        dl_push_tail(&g->by_sent, &s->by_sent);
        if (g->go)
            sim_request(g, s, now);
        break;
    case DAISY_MSG_BLOCKS:
        if (s->state == SIM_READY)
            sim_on_blocks(g, s, msg, now);
        break;
    case DAISY_MSG_HEARTBEAT:
        g->r.got_heartbeats++;
        break;
    case DAISY_MSG_SHUTDOWN:
        if (s->state == SIM_HELLO)
            g->hello_out--;
        s->state = SIM_DONE;
        dl_remove(&s->by_sent);
        dl_remove(&s->by_heard);
        g->r.shut_down++;
        g->live--;
        if (!g->cpu_end_set) {
            g->cpu_end_set = true;
            g->r.cpu_run_s = self_cpu() - g->cpu_go;
        }
        break;
    case DAISY_MSG_ERROR:
        g->r.got_errors++;
        if (msg->u.error.code < 16)
            g->r.errors_by_code[msg->u.error.code]++;
        if (msg->u.error.code == DAISY_PROTO_NOT_READY) {
            if (s->state == SIM_READY)
                sim_hello(g, s, now);
        } else if (msg->u.error.code != DAISY_PROTO_UNKNOWN_BLOCK)
            gen_fail(g, "worker %u: ERROR %s: %s", (unsigned)(s - g->sims) + g->first,
                     daisy_proto_error_name(msg->u.error.code), msg->u.error.text);
        break;
    default:
        gen_fail(g, "worker %u: unexpected %s", (unsigned)(s - g->sims) + g->first,
                 daisy_msg_name(msg->type));
    }
}

//  Everything waiting on this socket (ZMQ_FD semantics: read ZMQ_EVENTS
//  after a wake-up and after every send).
static void
sim_drain(gen_t *g, sim_t *s, int64_t now)
{
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    while (s->state != SIM_DONE && s->sock) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(s->sock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
            break;
        if (zmq_msg_recv(&frame, s->sock, ZMQ_DONTWAIT) < 0)
            break;
        daisy_msg_t msg;
        daisy_error_t err;
        if (zmq_msg_more(&frame))
            gen_fail(g, "a message of more than one frame");
        else if (daisy_decode(g->decoder, zmq_msg_data(&frame), zmq_msg_size(&frame), &msg,
                              &err) != DAISY_PROTO_OK)
            gen_fail(g, "undecodable message from the broker: %s", err.msg);
        else
            sim_on_message(g, s, &msg, now);
    }
    zmq_msg_close(&frame);
}

//  Heartbeats due, and workers the broker left silent.
static void
gen_timers(gen_t *g, int64_t now)
{
    while (!dl_empty(&g->by_sent)) {
        sim_t *s = dl_entry(g->by_sent.next, sim_t, by_sent);
        if (s->last_sent + g->heartbeat_ms > now)
            break;
        daisy_msg_t m = {.type = DAISY_MSG_HEARTBEAT};
        sim_send(g, s, &m, now);
        sim_drain(g, s, now);
    }
    int64_t expiry = g->heartbeat_ms * g->liveness;
    while (!dl_empty(&g->by_heard)) {
        sim_t *s = dl_entry(g->by_heard.next, sim_t, by_heard);
        if (s->last_heard + expiry > now)
            break;
        sim_drain(g, s, now);       //  a message may be waiting unread
        if (s->state == SIM_DONE || s->last_heard + expiry > now)
            continue;
        //  A real worker would reconnect; we count it and wait on.
        g->r.silent++;
        s->last_heard = now;
        dl_push_tail(&g->by_heard, &s->by_heard);
    }
}

static int64_t
gen_timeout(gen_t *g, int64_t now)
{
    int64_t due = now + 1000;
    if (!dl_empty(&g->by_sent)) {
        sim_t *s = dl_entry(g->by_sent.next, sim_t, by_sent);
        due = s->last_sent + g->heartbeat_ms < due ? s->last_sent + g->heartbeat_ms : due;
    }
    if (!dl_empty(&g->by_heard)) {
        sim_t *s = dl_entry(g->by_heard.next, sim_t, by_heard);
        int64_t t = s->last_heard + g->heartbeat_ms * g->liveness;
        due = t < due ? t : due;
    }
    return due > now ? due - now : 0;
}

static void
gen_on_go(gen_t *g, int64_t now)
{
    char c;
    ssize_t n = read(g->ctrl, &c, 1);
    if (n != 1) {
        gen_fail(g, "the broker process is gone");
        return;
    }
    epoll_ctl(g->ep, EPOLL_CTL_DEL, g->ctrl, NULL);
    g->go = true;
    g->cpu_go = self_cpu();
    for (uint32_t i = 0; i < g->started; i++) {
        sim_t *s = &g->sims[i];
        if (s->state == SIM_READY) {
            sim_request(g, s, now);
            sim_drain(g, s, now);
        }
    }
}

static int
gen_loop(gen_t *g)
{
    struct epoll_event evs[256];
    int64_t last_event = now_ms();
    while (g->live > 0 && !g->r.msg[0]) {
        int64_t now = now_ms();
        while (g->started < g->nsims && (opt_ramp == 0 || g->hello_out < opt_ramp)
               && !g->r.msg[0])
            sim_start(g, now);
        int n = epoll_wait(g->ep, evs, sizeof evs / sizeof evs[0], (int)gen_timeout(g, now));
        if (n < 0 && errno != EINTR)
            return gen_fail(g, "epoll_wait: %s", strerror(errno));
        now = now_ms();
        if (n > 0)
            last_event = now;
        else if (now - last_event > PEER_TIMEOUT_MS)
            return gen_fail(g, "nothing heard for %d s (%u of %u workers shut down)",
                            PEER_TIMEOUT_MS / 1000, g->r.shut_down, g->nsims);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == UINT32_MAX)
                gen_on_go(g, now);
            else
                sim_drain(g, &g->sims[evs[i].data.u32], now);
        }
        gen_timers(g, now);
    }
    return g->r.msg[0] ? -1 : 0;
}

//  A generator process: wait for the broker's address, then run its share.
static _Noreturn void
gen_main(uint32_t index, gen_mode_t mode, const char *task, uint32_t nsims, uint32_t first,
         int ctrl, int result_fd)
{
    char name[32];   //  the kernel keeps 15 characters
    snprintf(name, sizeof name, "lg-gen-%u", index);
    name[15] = '\0';
    prctl(PR_SET_NAME, name);
    prctl(PR_SET_PDEATHSIG, SIGKILL);   //  the broker process gone: so are we
    static gen_t g;
    memset(&g, 0, sizeof g);
    g.mode = mode;
    g.index = index;
    g.nsims = nsims;
    g.first = first;
    g.task = task;
    g.ctrl = ctrl;
    g.ep = -1;
    g.heartbeat_ms = 1000;      //  until WELCOME, as the protocol says
    g.liveness = 3;
    g.r.sims = nsims;
    g.live = nsims;
    dl_init(&g.by_sent);
    dl_init(&g.by_heard);
    gen_setup_t setup;
    if (!bench_read_full(ctrl, &setup, sizeof setup)) {
        gen_fail(&g, "no set-up from the broker process");
        bench_child_exit(result_fd, &g.r, sizeof g.r, false);
    }
    g.t_setup = bench_now();
    snprintf(g.endpoint, sizeof g.endpoint, "tcp://127.0.0.1:%d", setup.port);
    snprintf(g.run_id, sizeof g.run_id, "%s", setup.run_id);
    if (gethostname(g.host, sizeof g.host - 1) != 0)
        snprintf(g.host, sizeof g.host, "localhost");
    snprintf(g.idprefix, sizeof g.idprefix, "loadgen-%.200s-%d-", g.host, (int)getpid());
    g.sims = calloc(nsims ? nsims : 1, sizeof *g.sims);
    g.decoder = daisy_decoder_new();
    g.ctx = zmq_ctx_new();
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!g.sims || !g.decoder || !g.ctx || g.ep < 0)
        gen_fail(&g, "set-up failed (memory, context or epoll)");
    //  libzmq refuses sockets beyond ZMQ_MAX_SOCKETS (1023 by default).
    else if (zmq_ctx_set(g.ctx, ZMQ_MAX_SOCKETS, (int)nsims + 16) != 0)
        gen_fail(&g, "ZMQ_MAX_SOCKETS %u: %s", nsims + 16, zmq_strerror(zmq_errno()));
    else {
        for (uint32_t i = 0; i < nsims; i++) {
            dl_init(&g.sims[i].by_sent);
            dl_init(&g.sims[i].by_heard);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
        if (epoll_ctl(g.ep, EPOLL_CTL_ADD, ctrl, &ev) != 0)
            gen_fail(&g, "epoll_ctl: %s", strerror(errno));
        else
            gen_loop(&g);
    }
    g.r.ok = !g.r.msg[0];
    for (uint32_t i = 0; i < g.started; i++)
        zmq_close(g.sims[i].sock);
    if (g.ctx)
        zmq_ctx_term(g.ctx);
    daisy_decoder_destroy(&g.decoder);
    daisy_buffer_free(&g.out);
    free(g.sims);
    bench_child_exit(result_fd, &g.r, sizeof g.r, g.r.ok);
}

//  The broker process ---------------------------------------------------------------

//  What a case child sends back (well under PIPE_BUF).
typedef struct {
    int ok;
    char msg[DAISY_ERROR_MAX + 600];
    bool probe;                 //  the bare-ZeroMQ reference, not the broker
    uint32_t workers, procs;
    long nofile_soft, nofile_hard;
    double join_seconds;        //  server up to every worker joined
    double seconds;             //  idle: the window; lockstep: "go" to done
    double cpu_s;               //  the server process's CPU over `seconds`
    double main_cpu_s, io_cpu_s;    //  of which its loop's thread, libzmq's I/O thread
    uint64_t messages;          //  messages it received over `seconds`
    uint64_t blocks;            //  lockstep: blocks of the task
    uint64_t workers_joined, workers_lost, rejected;
    long rss_kib;               //  the server process's peak RSS
    //  generators, summed
    uint64_t gen_blocks, gen_silent, gen_errors, gen_heartbeats_in, gen_heartbeats_out;
    uint64_t gen_send_failed, gen_stats_msgs, gen_hellos;
    int64_t gen_max_gap_ms;
    double wait_p50_ms, wait_p99_ms, wait_max_ms;   //  workers' waits for blocks
    double gen_cpu_s;           //  whole life, all generators
    double gen_cpu_run_s;       //  "go" to first SHUTDOWN, all generators
    long gen_rss_kib;           //  largest generator peak RSS
} result_t;

static void
broker_log(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "bench_loadgen: broker: %s\n", line);
}

static int fail(result_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(result_t *r, const char *fmt, ...)
{
    if (r->msg[0])
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return -1;
}

//  1D task of `blocks` blocks of 1, no conflicts.
static daisy_task_t *
line_task(const char *id, uint64_t blocks)
{
    int64_t zero = 0, one = 1, total = (int64_t)blocks;
    daisy_task_t *t = daisy_task_new(id, daisy_roi_make(1, &zero, &total),
                                     daisy_roi_make(1, &zero, &one),
                                     daisy_roi_make(1, &zero, &one));
    daisy_task_set_read_write_conflict(t, false);
    return t;
}

//  lockstep: one task "noop". idle: "idle", whose every block waits on the
//  block of "gate" at its place; no worker serves "gate", so "idle" never
//  has a block ready.
static daisy_pipeline_t *
make_pipeline(gen_mode_t mode, uint64_t blocks)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    if (mode == MODE_LOCKSTEP) {
        daisy_task_t *t = line_task("noop", blocks);
        daisy_pipeline_add(p, &t);
    } else {
        daisy_task_t *gate = line_task("gate", 1000);
        daisy_task_t *idle = line_task("idle", 1000);
        daisy_task_add_upstream(idle, "gate");
        daisy_pipeline_add(p, &gate);
        daisy_pipeline_add(p, &idle);
    }
    return p;
}

//  The bare-ZeroMQ reference ---------------------------------------------------------
//
//  A ROUTER with the broker's socket options, in a process of its own,
//  serving the same simulated workers the least a broker can: WELCOME to
//  a HELLO, a BLOCKS of one block to each REQUEST and RELEASE until the
//  task's count is handed out (none when idle), a HEARTBEAT to a worker it
//  sent nothing to for heartbeat_ms, SHUTDOWN to all at the end. Replies
//  are encoded once, beforehand; a message is told by its type byte and
//  its sender by the number in its routing id, nothing is decoded or
//  scheduled. What it costs is what libzmq and TCP cost for this traffic.

typedef struct {
    uint8_t id[256];
    size_t idlen;
    bool known;
    int64_t last_sent;
    dnode_t by_sent;
} peer_t;

typedef struct {
    void *ctx, *router;
    char endpoint[256];
    peer_t *peers;
    uint32_t npeers;
    uint32_t joined;
    dnode_t by_sent;
    daisy_buffer_t welcome, blocks, heartbeat, shutdown;
    uint64_t total, handed, results, messages;
    int64_t heartbeat_ms;
    bool finished;
} probe_t;

//  The worker's number in a routing id "loadgen-HOST-PID-I/RUN"; -1 if none.
static int64_t
peer_index(const uint8_t *id, size_t n)
{
    size_t end = 0;
    while (end < n && id[end] != '/')
        end++;
    size_t start = end;
    while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9' && end - start < 9)
        start--;
    if (start == end)
        return -1;
    int64_t v = 0;
    for (size_t i = start; i < end; i++)
        v = v * 10 + (id[i] - '0');
    return v;
}

static void
probe_send(probe_t *p, peer_t *peer, const daisy_buffer_t *body, int64_t now)
{
    if (zmq_send(p->router, peer->id, peer->idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(p->router, body->data, body->size, ZMQ_DONTWAIT);
    peer->last_sent = now;
    dl_push_tail(&p->by_sent, &peer->by_sent);
}

static void
probe_finish(probe_t *p, int64_t now)
{
    if (p->finished)
        return;
    p->finished = true;
    for (uint32_t i = 0; i < p->npeers; i++)
        if (p->peers[i].known) {
            probe_send(p, &p->peers[i], &p->shutdown, now);
            dl_remove(&p->peers[i].by_sent);
        }
}

//  One message: 1, none waiting: 0, a message it cannot place: -1.
static int
probe_receive_one(probe_t *p, int64_t now, result_t *r)
{
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, p->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        return 0;
    }
    zmq_msg_init(&body);
    int rc = 1;
    const uint8_t *b = NULL;
    int64_t i = peer_index(zmq_msg_data(&id), zmq_msg_size(&id));
    if (!zmq_msg_more(&id) || zmq_msg_recv(&body, p->router, 0) < 0 || zmq_msg_more(&body)
        || zmq_msg_size(&body) < 3 || zmq_msg_size(&id) > 255)
        rc = fail(r, "probe: a message not of two frames");
    else if (b = zmq_msg_data(&body), (b[0] & 0xf0) != 0x90 || b[1] != DAISY_PROTOCOL_VERSION
             || i < 0 || i >= p->npeers)
        rc = fail(r, "probe: a message it cannot place");
    else {
        p->messages++;
        peer_t *peer = &p->peers[i];
        switch (b[2]) {
        case DAISY_MSG_HELLO:
            if (!peer->known) {
                peer->idlen = zmq_msg_size(&id);
                memcpy(peer->id, zmq_msg_data(&id), peer->idlen);
                peer->known = true;
                p->joined++;
            }
            probe_send(p, peer, &p->welcome, now);
            break;
        case DAISY_MSG_RELEASE:
            p->results++;
            //  fall through
        case DAISY_MSG_REQUEST:
            if (p->handed < p->total && peer->known) {
                p->handed++;
                probe_send(p, peer, &p->blocks, now);
            }
            break;
        default:        //  STARTED, STATS, HEARTBEAT
            break;
        }
    }
    zmq_msg_close(&body);
    zmq_msg_close(&id);
    return rc;
}

static int
probe_work(probe_t *p, result_t *r)
{
    int64_t now = now_ms();
    for (int i = 0; i < 4096; i++) {
        int rc = probe_receive_one(p, now, r);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
    }
    now = now_ms();
    while (!dl_empty(&p->by_sent)) {
        peer_t *peer = dl_entry(p->by_sent.next, peer_t, by_sent);
        if (peer->last_sent + p->heartbeat_ms > now)
            break;
        probe_send(p, peer, &p->heartbeat, now);
    }
    if (p->total && p->results >= p->total)
        probe_finish(p, now);
    return 0;
}

static void
probe_poll(probe_t *p, int timeout_ms, result_t *r)
{
    if (probe_work(p, r) != 0 || p->finished)
        return;
    int64_t wait = timeout_ms;
    if (!dl_empty(&p->by_sent)) {
        peer_t *peer = dl_entry(p->by_sent.next, peer_t, by_sent);
        int64_t due = peer->last_sent + p->heartbeat_ms - now_ms();
        wait = due < 0 ? 0 : due < wait ? due : wait;
    }
    zmq_pollitem_t item = {.socket = p->router, .events = ZMQ_POLLIN};
    if (zmq_poll(&item, 1, (long)wait) > 0)
        probe_work(p, r);
}

static int
probe_new(probe_t *p, uint32_t workers, uint64_t total, result_t *r)
{
    memset(p, 0, sizeof *p);
    dl_init(&p->by_sent);
    p->npeers = workers;
    p->total = total;
    p->heartbeat_ms = opt_heartbeat_ms ? opt_heartbeat_ms : 1000;
    p->peers = calloc(workers, sizeof *p->peers);
    if (!p->peers)
        return fail(r, "probe: out of memory");
    for (uint32_t i = 0; i < workers; i++)
        dl_init(&p->peers[i].by_sent);
    //  The replies, encoded once: what the broker would send.
    int64_t off = total ? (int64_t)total - 1 : 0, one = 1;
    daisy_block_t blk = {.task_id = "noop", .block_id = (uint64_t)off, .index = (uint64_t)off,
                         .read_roi = daisy_roi_make(1, &off, &one),
                         .write_roi = daisy_roi_make(1, &off, &one)};
    daisy_wire_block_t wb;
    daisy_wire_block_from(&wb, &blk);
    const char *task = total ? "noop" : "idle";
    daisy_msg_t m = {.type = DAISY_MSG_WELCOME};
    m.u.welcome.task_id = task;
    m.u.welcome.heartbeat_ms = (uint32_t)p->heartbeat_ms;
    m.u.welcome.liveness = 3;
    m.u.welcome.dims = 1;
    daisy_msg_t bl = {.type = DAISY_MSG_BLOCKS};
    bl.u.blocks.task_id = task;
    bl.u.blocks.count = 1;
    bl.u.blocks.blocks = &wb;
    daisy_msg_t hb = {.type = DAISY_MSG_HEARTBEAT};
    daisy_msg_t sd = {.type = DAISY_MSG_SHUTDOWN};
    sd.u.shutdown.reason = "run finished";
    if (daisy_encode(&m, &p->welcome) != 0 || daisy_encode(&bl, &p->blocks) != 0
        || daisy_encode(&hb, &p->heartbeat) != 0 || daisy_encode(&sd, &p->shutdown) != 0)
        return fail(r, "probe: cannot encode its replies");
    p->ctx = zmq_ctx_new();
    p->router = p->ctx ? zmq_socket(p->ctx, ZMQ_ROUTER) : NULL;
    if (!p->router)
        return fail(r, "probe: no ROUTER socket");
    int zero = 0, on = 1, linger = 200;
    int64_t maxsize = DAISY_MAX_FRAME;
    zmq_setsockopt(p->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    zmq_setsockopt(p->router, ZMQ_ROUTER_HANDOVER, &on, sizeof on);
    zmq_setsockopt(p->router, ZMQ_ROUTER_MANDATORY, &on, sizeof on);
    zmq_setsockopt(p->router, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(p->router, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(p->router, ZMQ_LINGER, &linger, sizeof linger);
    size_t len = sizeof p->endpoint;
    if (zmq_bind(p->router, "tcp://127.0.0.1:*") != 0
        || zmq_getsockopt(p->router, ZMQ_LAST_ENDPOINT, p->endpoint, &len) != 0)
        return fail(r, "probe: bind: %s", zmq_strerror(zmq_errno()));
    return 0;
}

static void
probe_destroy(probe_t *p)
{
    if (p->router)
        zmq_close(p->router);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    free(p->peers);
    daisy_buffer_free(&p->welcome);
    daisy_buffer_free(&p->blocks);
    daisy_buffer_free(&p->heartbeat);
    daisy_buffer_free(&p->shutdown);
}

//  The server under load: the broker, or the probe ------------------------------------

typedef struct {
    daisy_broker_t *broker;     //  NULL: the probe
    probe_t *probe;
    result_t *r;
} server_t;

static void
server_poll(server_t *s, int timeout_ms)
{
    if (s->broker)
        daisy_broker_poll(s->broker, timeout_ms);
    else
        probe_poll(s->probe, timeout_ms, s->r);
}

static uint64_t
server_messages(const server_t *s)
{
    if (!s->broker)
        return s->probe->messages;
    daisy_broker_stats_t st;
    daisy_broker_stats(s->broker, &st);
    return st.messages;
}

typedef struct {
    pid_t pid[MAX_PROCS];
    int ctrl[MAX_PROCS];        //  write end: setup, go
    int result[MAX_PROCS];      //  read end
    bool collected[MAX_PROCS];
    gen_result_t r[MAX_PROCS];
    struct rusage ru[MAX_PROCS];
    uint32_t n;
} gens_t;

static void
gens_kill(gens_t *gs)
{
    for (uint32_t i = 0; i < gs->n; i++)
        if (!gs->collected[i] && gs->pid[i] > 0) {
            kill(gs->pid[i], SIGKILL);
            bench_wait(gs->pid[i], &(int){0}, NULL);
            gs->collected[i] = true;
        }
}

//  A generator that reported early (it failed) or died: its message.
static int
gens_check(gens_t *gs, result_t *r)
{
    struct pollfd pfd[MAX_PROCS];
    for (uint32_t i = 0; i < gs->n; i++)
        pfd[i] = (struct pollfd){.fd = gs->result[i], .events = POLLIN};
    if (poll(pfd, gs->n, 0) <= 0)
        return 0;
    for (uint32_t i = 0; i < gs->n; i++) {
        if (!(pfd[i].revents & (POLLIN | POLLHUP)))
            continue;
        char err[256];
        gs->collected[i] = true;
        if (bench_collect(gs->pid[i], gs->result[i], &gs->r[i], sizeof gs->r[i], "generator",
                          &gs->ru[i], err, sizeof err) != 0)
            return fail(r, "generator %u: %s", i, err);
        return fail(r, "%s", gs->r[i].ok ? "a generator ended early" : gs->r[i].msg);
    }
    return 0;
}

//  Fork the generators before anything of ZeroMQ exists in this process.
static int
gens_fork(gens_t *gs, const bench_case_t *c, uint32_t workers, result_t *r)
{
    const char *task = c->mode == MODE_LOCKSTEP ? "noop" : "idle";
    uint32_t first = 0;
    for (uint32_t i = 0; i < gs->n; i++) {
        uint32_t share = workers / gs->n + (i < workers % gs->n ? 1 : 0);
        int ctl[2];
        if (pipe(ctl) != 0)
            return fail(r, "pipe: %s", strerror(errno));
        char err[256];
        int fd;
        pid_t pid = bench_fork(&fd, err, sizeof err);
        if (pid < 0) {
            close(ctl[0]);
            close(ctl[1]);
            return fail(r, "%s", err);
        }
        if (pid == 0) {
            //  Only our own pipes: a parent gone must look gone.
            for (uint32_t j = 0; j < i; j++) {
                close(gs->ctrl[j]);
                close(gs->result[j]);
            }
            close(ctl[1]);
            gen_main(i, c->mode, task, share, first, ctl[0], fd);
        }
        close(ctl[0]);
        gs->pid[i] = pid;
        gs->ctrl[i] = ctl[1];
        gs->result[i] = fd;
        first += share;
    }
    return 0;
}

//  Poll the server as daisy_serve() polls the broker (50 ms at most)
//  until `until` is true; generators are checked every 100 ms, and a
//  server that hears nothing for PEER_TIMEOUT_MS gives up.
typedef bool (until_fn)(const server_t *s, const void *arg);

static uint32_t joined(const server_t *s);

static bool
all_joined(const server_t *s, const void *arg)
{
    return joined(s) >= *(const uint32_t *)arg;
}

static bool
past(const server_t *s, const void *arg)
{
    (void)s;
    return bench_now() >= *(const double *)arg;
}

static bool
all_done(const server_t *s, const void *arg)
{
    (void)arg;
    return s->broker ? daisy_broker_done(s->broker) : s->probe->finished;
}

static uint32_t
joined(const server_t *s)
{
    return s->broker ? daisy_broker_worker_count(s->broker, 0)
                       + daisy_broker_worker_count(s->broker, 1)
                     : s->probe->joined;
}

//  `deadline` (0: none) ends the wait with a failure.
static int
serve_until(server_t *s, gens_t *gs, until_fn *until, const void *arg, const char *what,
            double deadline)
{
    double start = bench_now(), last_check = start, last_progress = start, last_note = start;
    uint64_t messages = server_messages(s);
    while (!until(s, arg) && !s->r->msg[0]) {
        server_poll(s, 50);
        //  Done within this poll: the generators may already have seen
        //  their SHUTDOWN and ended while it waited, which is not early.
        if (until(s, arg))
            break;
        double now = bench_now();
        if (now - last_check < 0.1)
            continue;
        last_check = now;
        if (gens_check(gs, s->r) != 0)
            return -1;
        if (opt_verbose && now - last_note >= 5) {
            last_note = now;
            fprintf(stderr, "bench_loadgen: %s: %.0f s, %u workers joined, %llu messages\n",
                    what, now - start, joined(s), (unsigned long long)server_messages(s));
        }
        if (deadline > 0 && now > deadline)
            return fail(s->r, "%s: %u workers joined after %.0f s", what, joined(s),
                        now - start);
        uint64_t m = server_messages(s);
        if (m != messages) {
            messages = m;
            last_progress = now;
        } else if (now - last_progress > PEER_TIMEOUT_MS / 1000.0)
            return fail(s->r, "%s: no message for %d s", what, PEER_TIMEOUT_MS / 1000);
    }
    return s->r->msg[0] ? -1 : 0;
}

static int
write_all(int fd, const void *buf, size_t size)
{
    return write(fd, buf, size) == (ssize_t)size ? 0 : -1;
}

//  Join, go, measure, finish: the same for the broker and the probe.
static int
drive(server_t *s, const bench_case_t *c, uint32_t workers, double window, double t0,
      const char *endpoint, const char *run_id, gens_t *gs)
{
    result_t *r = s->r;
    const char *colon = endpoint ? strrchr(endpoint, ':') : NULL;
    gen_setup_t setup = {.port = colon ? atoi(colon + 1) : 0};
    snprintf(setup.run_id, sizeof setup.run_id, "%s", run_id);
    for (uint32_t i = 0; i < gs->n; i++)
        if (write_all(gs->ctrl[i], &setup, sizeof setup) != 0)
            return fail(r, "cannot reach generator %u", i);
    //  A server that cannot take them all (descriptors) keeps the others.
    if (serve_until(s, gs, all_joined, &workers, "joining",
                    bench_now() + 60 + workers * 0.01) != 0)
        return -1;
    r->join_seconds = bench_now() - t0;
    if (opt_verbose)
        fprintf(stderr, "bench_loadgen: %s%s: %u workers joined in %.2f s\n", c->name,
                s->broker ? "" : " (probe)", workers, r->join_seconds);
    for (uint32_t i = 0; i < gs->n; i++)
        if (write_all(gs->ctrl[i], "g", 1) != 0)
            return fail(r, "cannot reach generator %u", i);
    uint64_t m0;
    double cpu0, w0, main0, io0;
    if (c->mode == MODE_IDLE) {
        //  Let the REQUESTs park and the heartbeats settle, then measure.
        double settle = bench_now() + (window >= 5 ? 2.5 : 1.5);
        if (serve_until(s, gs, past, &settle, "settling", 0) != 0)
            return -1;
        m0 = server_messages(s);
        cpu0 = self_cpu();
        thread_cpu(&main0, &io0);
        w0 = bench_now();
        double end = w0 + window;
        if (serve_until(s, gs, past, &end, "idle", 0) != 0)
            return -1;
    } else {
        m0 = server_messages(s);
        cpu0 = self_cpu();
        thread_cpu(&main0, &io0);
        w0 = bench_now();
        if (serve_until(s, gs, all_done, NULL, "lockstep", 0) != 0)
            return -1;
    }
    r->seconds = bench_now() - w0;
    r->cpu_s = self_cpu() - cpu0;
    thread_cpu(&r->main_cpu_s, &r->io_cpu_s);
    r->main_cpu_s -= main0;
    r->io_cpu_s -= io0;
    r->messages = server_messages(s) - m0;
    if (c->mode == MODE_IDLE && !all_joined(s, &workers))
        fail(r, "not every worker still connected after the window");
    return r->msg[0] ? -1 : 0;
}

//  The generators end when every worker got SHUTDOWN; libzmq's I/O thread
//  sends those while we wait.
static void
gens_collect(gens_t *gs, result_t *r)
{
    for (uint32_t i = 0; i < gs->n; i++) {
        char e[256];
        gs->collected[i] = true;
        if (bench_collect(gs->pid[i], gs->result[i], &gs->r[i], sizeof gs->r[i], "generator",
                          &gs->ru[i], e, sizeof e) != 0)
            fail(r, "generator %u: %s", i, e);
        else if (!gs->r[i].ok)
            fail(r, "%s", gs->r[i].msg);
    }
}

static int
run_broker(const bench_case_t *c, uint32_t workers, uint64_t blocks, double window,
           gens_t *gs, result_t *r)
{
    daisy_error_t err;
    daisy_pipeline_t *p = make_pipeline(c->mode, blocks);
    daisy_graph_t *graph = daisy_graph_new(p, &err);
    if (!graph)
        return daisy_pipeline_destroy(&p), fail(r, "graph: %s", err.msg);
    daisy_broker_options_t o = daisy_broker_options_default();
    o.bind = "tcp://127.0.0.1:*";
    o.log = broker_log;
    if (opt_heartbeat_ms)
        o.heartbeat_ms = opt_heartbeat_ms;
    double t0 = bench_now();
    daisy_broker_t *b = daisy_broker_new(graph, &o, &err);
    server_t s = {.broker = b, .r = r};
    if (!b)
        fail(r, "broker: %s", err.msg);
    else if (drive(&s, c, workers, window, t0, daisy_broker_endpoint(b),
                   daisy_broker_run_id(b), gs) == 0) {
        daisy_broker_stats_t st;
        daisy_broker_stats(b, &st);
        daisy_broker_finish(b, c->mode == MODE_IDLE);   //  SHUTDOWN to whoever is left
        r->workers_joined = st.workers_joined;
        r->workers_lost = st.workers_lost;
        r->rejected = st.rejected;
        if (c->mode == MODE_IDLE && st.blocks_sent != 0)
            fail(r, "the idle task handed out %llu blocks", (unsigned long long)st.blocks_sent);
        if (c->mode == MODE_LOCKSTEP) {
            const daisy_task_counts_t *cnt = daisy_summary_counts(daisy_broker_summary(b), 0);
            r->blocks = cnt->total;
            if (cnt->total != blocks || cnt->completed != cnt->total || cnt->failed)
                fail(r, "%llu of %llu blocks completed, %llu failed",
                     (unsigned long long)cnt->completed, (unsigned long long)blocks,
                     (unsigned long long)cnt->failed);
        }
        gens_collect(gs, r);
    }
    r->rss_kib = bench_peak_rss_kib();
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&graph);
    daisy_pipeline_destroy(&p);
    return r->msg[0] ? -1 : 0;
}

static int
run_probe(const bench_case_t *c, uint32_t workers, uint64_t blocks, double window,
          gens_t *gs, result_t *r)
{
    static probe_t p;
    double t0 = bench_now();
    server_t s = {.probe = &p, .r = r};
    if (probe_new(&p, workers, c->mode == MODE_LOCKSTEP ? blocks : 0, r) == 0
        && drive(&s, c, workers, window, t0, p.endpoint, "probe", gs) == 0) {
        probe_finish(&p, now_ms());
        r->workers_joined = p.joined;
        r->blocks = c->mode == MODE_LOCKSTEP ? blocks : 0;
        gens_collect(gs, r);
    }
    r->rss_kib = bench_peak_rss_kib();
    probe_destroy(&p);
    return r->msg[0] ? -1 : 0;
}

//  Sum the generators' reports and check them.
static int
gens_sum(const gens_t *gs, const bench_case_t *c, uint32_t workers, result_t *r)
{
    uint32_t welcomed = 0, shut = 0;
    uint64_t waits[WAIT_BUCKETS] = {0}, nwaits = 0;
    for (uint32_t i = 0; i < gs->n; i++) {
        for (int b = 0; b < WAIT_BUCKETS; b++) {
            waits[b] += gs->r[i].waits[b];
            nwaits += gs->r[i].waits[b];
        }
        double max = (double)gs->r[i].max_wait_ns / 1e6;
        r->wait_max_ms = max > r->wait_max_ms ? max : r->wait_max_ms;
        r->gen_hellos += gs->r[i].sent[DAISY_MSG_HELLO];
        const gen_result_t *g = &gs->r[i];
        welcomed += g->welcomed;
        shut += g->shut_down;
        r->gen_blocks += g->blocks;
        r->gen_silent += g->silent;
        r->gen_errors += g->got_errors;
        r->gen_heartbeats_in += g->got_heartbeats;
        r->gen_heartbeats_out += g->sent[DAISY_MSG_HEARTBEAT];
        r->gen_stats_msgs += g->sent[DAISY_MSG_STATS];
        r->gen_send_failed += g->send_failed;
        r->gen_max_gap_ms = g->max_gap_ms > r->gen_max_gap_ms ? g->max_gap_ms : r->gen_max_gap_ms;
        r->gen_cpu_s += bench_rusage_cpu(&gs->ru[i]);
        r->gen_cpu_run_s += g->cpu_run_s;
        r->gen_rss_kib = gs->ru[i].ru_maxrss > r->gen_rss_kib ? gs->ru[i].ru_maxrss
                                                              : r->gen_rss_kib;
    }
    uint64_t seen = 0;
    for (int b = 0; b < WAIT_BUCKETS && nwaits; b++) {
        seen += waits[b];
        if (r->wait_p50_ms == 0 && seen * 2 >= nwaits)
            r->wait_p50_ms = wait_edge_ms(b);
        if (seen * 100 >= nwaits * 99) {
            r->wait_p99_ms = wait_edge_ms(b);
            break;
        }
    }
    if (welcomed != workers || shut != workers)
        return fail(r, "%u of %u workers welcomed, %u told to shut down", welcomed, workers,
                    shut);
    if (c->mode == MODE_LOCKSTEP
        && (r->gen_blocks < r->blocks
            || (r->workers_lost == 0 && r->gen_errors == 0 && r->gen_blocks != r->blocks)))
        return fail(r, "the workers ran %llu blocks of %llu", (unsigned long long)r->gen_blocks,
                    (unsigned long long)r->blocks);
    return 0;
}

static _Noreturn void
case_child(const bench_case_t *c, bool probe, uint32_t workers, uint32_t procs,
           uint64_t blocks, double window, int fd)
{
    prctl(PR_SET_NAME, probe ? "lg-probe" : "lg-broker");
    result_t r;
    memset(&r, 0, sizeof r);
    r.probe = probe;
    r.workers = workers;
    r.procs = procs;
    static gens_t gs;
    memset(&gs, 0, sizeof gs);
    gs.n = procs;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    r.nofile_soft = (long)rl.rlim_cur;
    r.nofile_hard = (long)rl.rlim_max;
    if (gens_fork(&gs, c, workers, &r) == 0) {
        if (opt_broker_nofile > 0) {
            rl.rlim_cur = (rlim_t)opt_broker_nofile;
            if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
                r.nofile_soft = opt_broker_nofile;
        }
        if (opt_verbose) {
            fprintf(stderr, "bench_loadgen: %s: %s pid %d, generators", c->name,
                    probe ? "probe" : "broker", (int)getpid());
            for (uint32_t i = 0; i < gs.n; i++)
                fprintf(stderr, " %d", (int)gs.pid[i]);
            fprintf(stderr, "\n");
        }
        if ((probe ? run_probe : run_broker)(c, workers, blocks, window, &gs, &r) == 0)
            gens_sum(&gs, c, workers, &r);
    }
    gens_kill(&gs);
    r.ok = !r.msg[0];
    bench_child_exit(fd, &r, sizeof r, r.ok);
}

//  Parent ---------------------------------------------------------------------

static int
run_case(const bench_case_t *c, bool probe, uint32_t workers, uint64_t blocks, double window,
         const char *name, result_t *r)
{
    uint32_t procs = opt_procs < workers ? opt_procs : workers;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    //  Descriptors: the server one per worker, a generator two per worker.
    if (rl.rlim_cur != RLIM_INFINITY && opt_broker_nofile <= 0
        && (uint64_t)workers + FDS_SPARE > rl.rlim_cur)
        return fprintf(stderr, "bench_loadgen: %s: %u workers need %u descriptors in the "
                       "broker, RLIMIT_NOFILE is %llu\n", name, workers, workers + FDS_SPARE,
                       (unsigned long long)rl.rlim_cur), -1;
    while (rl.rlim_cur != RLIM_INFINITY && procs < MAX_PROCS && procs < workers
           && 2ull * ((workers + procs - 1) / procs) + FDS_SPARE > rl.rlim_cur)
        procs++;
    if (rl.rlim_cur != RLIM_INFINITY
        && 2ull * ((workers + procs - 1) / procs) + FDS_SPARE > rl.rlim_cur)
        return fprintf(stderr, "bench_loadgen: %s: RLIMIT_NOFILE %llu too small for %u "
                       "workers in %u generators\n", name, (unsigned long long)rl.rlim_cur,
                       workers, procs), -1;
    char err[256];
    int fd;
    pid_t pid = bench_fork(&fd, err, sizeof err);
    if (pid == 0)
        case_child(c, probe, workers, procs, blocks, window, fd);
    if (pid < 0
        || bench_collect(pid, fd, r, sizeof *r, "case process", NULL, err, sizeof err) != 0)
        return fprintf(stderr, "bench_loadgen: %s: %s\n", name, err), -1;
    if (!r->ok)
        return fprintf(stderr, "bench_loadgen: %s%s: %s\n", name, probe ? " (probe)" : "",
                       r->msg), -1;
    return 0;
}

static double
fraction(const result_t *r)
{
    return r->seconds > 0 ? r->cpu_s / r->seconds : 0;
}

static void
print_common(const char *name, bool quick, const result_t *r, const result_t *probe)
{
    printf("{\"case\": \"%s\", \"quick\": %s, \"workers\": %u, \"procs\": %u, \"ramp\": %u, "
           "\"nofile_soft\": %ld, \"join_seconds\": %.3f, \"seconds\": %.3f, "
           "\"broker_cpu_s\": %.4f, \"broker_cpu_fraction\": %.4f, "
           "\"broker_loop_cpu_fraction\": %.4f, \"broker_io_cpu_fraction\": %.4f, "
           "\"broker_messages_in\": %llu, \"broker_peak_rss_kib\": %ld, "
           "\"workers_joined\": %llu, \"workers_lost\": %llu, \"rejected\": %llu, "
           "\"silent\": %llu, \"max_broker_gap_ms\": %lld, "
           "\"generator_cpu_s\": %.3f, \"generator_peak_rss_kib\": %ld, ",
           name, bench_bool(quick), r->workers, r->procs, opt_ramp, r->nofile_soft,
           r->join_seconds, r->seconds, r->cpu_s, fraction(r),
           r->seconds > 0 ? r->main_cpu_s / r->seconds : 0,
           r->seconds > 0 ? r->io_cpu_s / r->seconds : 0, (unsigned long long)r->messages,
           r->rss_kib, (unsigned long long)r->workers_joined,
           (unsigned long long)r->workers_lost, (unsigned long long)r->rejected,
           (unsigned long long)r->gen_silent, (long long)r->gen_max_gap_ms, r->gen_cpu_s,
           r->gen_rss_kib);
    if (probe)
        printf("\"probe_join_seconds\": %.3f, \"probe_cpu_fraction\": %.4f, "
               "\"probe_peak_rss_kib\": %ld, ", probe->join_seconds, fraction(probe),
               probe->rss_kib);
    else
        printf("\"probe_join_seconds\": null, \"probe_cpu_fraction\": null, "
               "\"probe_peak_rss_kib\": null, ");
}

static void
print_idle(const char *name, bool quick, const result_t *r, const result_t *probe)
{
    print_common(name, quick, r, probe);
    printf("\"broker_messages_per_s\": %.0f, \"heartbeats_to_workers\": %llu, "
           "\"heartbeats_from_workers\": %llu, "
           "\"target\": \"broker_cpu_fraction <= %.2f and broker_peak_rss_kib <= %d "
           "(issue 13, at 10,000 workers)\", \"meets_target\": %s}\n",
           bench_rate(r->messages, r->seconds), (unsigned long long)r->gen_heartbeats_in,
           (unsigned long long)r->gen_heartbeats_out, TARGET_CPU, TARGET_RSS_KIB,
           bench_bool(fraction(r) <= TARGET_CPU && r->rss_kib <= TARGET_RSS_KIB));
    fflush(stdout);
}

//  The pairs of a lockstep case: rates and ratios, medians.
typedef struct {
    uint32_t n;
    double rate[MAX_PAIRS], ref[MAX_PAIRS], ratio[MAX_PAIRS];
} pairs_t;

static double
median(const double *v, uint32_t n)
{
    double tmp[MAX_PAIRS];
    memcpy(tmp, v, n * sizeof *v);
    return bench_median(tmp, n);
}

static void
print_lockstep(const char *name, bool quick, const result_t *r, const result_t *probe,
               const pairs_t *pr)
{
    double rate = median(pr->rate, pr->n), ref = median(pr->ref, pr->n);
    double ratio = median(pr->ratio, pr->n);
    double limit = probe ? bench_rate(probe->blocks, probe->seconds) : 0;
    print_common(name, quick, r, probe);
    printf("\"blocks\": %llu, \"blocks_per_s\": %.0f, \"reference_blocks_per_s\": %.0f, "
           "\"ratio\": %.4f, ", (unsigned long long)r->blocks, rate, ref, ratio);
    bench_json_numbers("runs_per_s", pr->rate, pr->n, 0);
    bench_json_numbers("reference_runs_per_s", pr->ref, pr->n, 0);
    bench_json_numbers("pair_ratios", pr->ratio, pr->n, 4);
    printf("\"broker_cpu_us_per_block\": %.2f, "
           "\"generator_cpu_us_per_block\": %.2f, \"broker_messages_per_block\": %.3f, "
           "\"stats_messages\": %llu, \"hellos_again\": %llu, \"wait_p50_ms\": %.3f, "
           "\"wait_p99_ms\": %.3f, \"wait_max_ms\": %.1f, ",
           r->blocks ? r->cpu_s * 1e6 / (double)r->blocks : 0,
           r->blocks ? r->gen_cpu_run_s * 1e6 / (double)r->blocks : 0,
           r->blocks ? (double)r->messages / (double)r->blocks : 0,
           (unsigned long long)r->gen_stats_msgs,
           (unsigned long long)(r->gen_hellos - r->workers), r->wait_p50_ms, r->wait_p99_ms,
           r->wait_max_ms);
    if (probe)
        printf("\"probe_blocks_per_s\": %.0f, \"probe_cpu_us_per_block\": %.2f, "
               "\"ratio_to_probe\": %.4f, ", limit,
               probe->blocks ? probe->cpu_s * 1e6 / (double)probe->blocks : 0,
               limit > 0 ? rate / limit : 0);
    else
        printf("\"probe_blocks_per_s\": null, \"probe_cpu_us_per_block\": null, "
               "\"ratio_to_probe\": null, ");
    if (r->workers == REFERENCE_WORKERS)
        printf("\"target\": \"none (the reference); broker_peak_rss_kib <= %d\", "
               "\"meets_target\": %s}\n", TARGET_RSS_KIB,
               bench_bool(r->rss_kib <= TARGET_RSS_KIB));
    else
        printf("\"target\": \"ratio >= %.2f and broker_peak_rss_kib <= %d (issue 13, at "
               "10,000 workers)\", \"meets_target\": %s}\n", TARGET_RATIO, TARGET_RSS_KIB,
               bench_bool(ratio >= TARGET_RATIO && r->rss_kib <= TARGET_RSS_KIB));
    fflush(stdout);
}

//  An idle case, or lockstep_16: the probe (unless --no-probe), then the
//  broker; one line.
static int
measure(const bench_case_t *c, bool quick, uint32_t workers, uint64_t blocks, double window,
        const char *name)
{
    result_t probe, r;
    if (opt_probe && run_case(c, true, workers, blocks, window, name, &probe) != 0)
        return -1;
    if (run_case(c, false, workers, blocks, window, name, &r) != 0)
        return -1;
    if (c->mode == MODE_IDLE)
        print_idle(name, quick, &r, opt_probe ? &probe : NULL);
    else {
        double rate = bench_rate(r.blocks, r.seconds);
        pairs_t one = {.n = 1, .rate = {rate}, .ref = {rate}, .ratio = {1}};
        print_lockstep(name, quick, &r, opt_probe ? &probe : NULL, &one);
    }
    return 0;
}

//  lockstep_N: the probe, then `opt_pairs` pairs of lockstep_16 and
//  lockstep_N run back to back, in alternating order (16 first, then N
//  first, ...): a pair shares the machine's slow or fast spell, so the
//  median of the pair ratios is steadier than a ratio of two runs apart.
//  The line's other figures are those of the run with the median rate.
static int
measure_pairs(const bench_case_t *c, bool quick, uint32_t workers, uint64_t blocks,
              const char *name)
{
    const bench_case_t *ref = &cases[0];
    uint64_t ref_blocks = quick ? ref->blocks_quick : ref->blocks;
    result_t probe, runs[MAX_PAIRS], r16;
    pairs_t pr = {.n = opt_pairs};
    if (opt_probe && run_case(c, true, workers, blocks, 0, name, &probe) != 0)
        return -1;
    for (uint32_t k = 0; k < opt_pairs; k++) {
        bool ref_first = k % 2 == 0;
        if ((ref_first && run_case(ref, false, REFERENCE_WORKERS, ref_blocks, 0, ref->name,
                                   &r16) != 0)
            || run_case(c, false, workers, blocks, 0, name, &runs[k]) != 0
            || (!ref_first && run_case(ref, false, REFERENCE_WORKERS, ref_blocks, 0,
                                       ref->name, &r16) != 0))
            return -1;
        pr.rate[k] = bench_rate(runs[k].blocks, runs[k].seconds);
        pr.ref[k] = bench_rate(r16.blocks, r16.seconds);
        pr.ratio[k] = pr.ref[k] > 0 ? pr.rate[k] / pr.ref[k] : 0;
    }
    //  The run of median rate (the lower middle one for an even count).
    uint32_t order[MAX_PAIRS];
    for (uint32_t k = 0; k < pr.n; k++)
        order[k] = k;
    for (uint32_t i = 1; i < pr.n; i++)
        for (uint32_t j = i; j > 0 && pr.rate[order[j]] < pr.rate[order[j - 1]]; j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    print_lockstep(name, quick, &runs[order[(pr.n - 1) / 2]], opt_probe ? &probe : NULL, &pr);
    return 0;
}

static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    bool quick = args->quick;
    uint32_t workers = quick ? c->workers_quick : c->workers;
    if (workers == 0 && !opt_workers)
        return 0;       //  not part of the quick run
    if (opt_workers)
        workers = opt_workers;
    char name[64];
    snprintf(name, sizeof name, "%s", c->name);
    if (workers != c->workers)
        snprintf(name, sizeof name, "%s_%u", c->mode == MODE_IDLE ? "idle" : "lockstep",
                 workers);
    if (c->mode == MODE_IDLE) {
        double window = opt_seconds > 0 ? opt_seconds : quick ? 2.0 : 10.0;
        return measure(c, quick, workers, 0, window, name);
    }
    uint64_t blocks = quick ? (c->blocks_quick ? c->blocks_quick : 4000) : c->blocks;
    if (workers == REFERENCE_WORKERS)
        return measure(c, quick, workers, blocks, 0, name);
    return measure_pairs(c, quick, workers, blocks, name);
}

static int
option(int opt, const char *arg)
{
    char *end;
    errno = 0;
    switch (opt) {
    case 'p': {
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v < 1 || v > MAX_PROCS)
            return -1;
        opt_procs = (uint32_t)v;
        return 0;
    }
    case 'r': {
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v > 1000000)
            return -1;
        opt_ramp = (uint32_t)v;
        return 0;
    }
    case 's': {
        double v = strtod(arg, &end);
        if (errno || *end || !(v > 0) || v > 3600)
            return -1;
        opt_seconds = v;
        return 0;
    }
    case 'n': {
        long v = strtol(arg, &end, 10);
        if (errno || *end || v < 16)
            return -1;
        opt_broker_nofile = v;
        return 0;
    }
    case 'b': {
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v < 1 || v > 3600000)
            return -1;
        opt_heartbeat_ms = (uint32_t)v;
        return 0;
    }
    case 'w': {
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v < 1 || v > 100000)
            return -1;
        opt_workers = (uint32_t)v;
        return 0;
    }
    case 'P':
        opt_probe = false;
        return 0;
    case 'k': {
        unsigned long v = strtoul(arg, &end, 10);
        if (errno || *end || v < 1 || v > MAX_PAIRS)
            return -1;
        opt_pairs = (uint32_t)v;
        return 0;
    }
    case 'v':
        opt_verbose = true;
        return 0;
    default:
        return -1;
    }
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"procs", required_argument, NULL, 'p'},
        {"ramp", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"broker-nofile", required_argument, NULL, 'n'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"workers", required_argument, NULL, 'w'},
        {"no-probe", no_argument, NULL, 'P'},
        {"pairs", required_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    static const bench_prog_t prog = {
        .name = "bench_loadgen",
        .usage = "usage: bench_loadgen [--case NAME] [--quick] [--workers N] [--procs P]\n"
                 "                     [--ramp K] [--seconds S] [--heartbeat-ms MS]\n"
                 "                     [--broker-nofile N] [--no-probe] [--pairs K]\n"
                 "                     [--verbose] [--help]\n"
                 "The library's broker against N simulated workers (one DEALER and one TCP\n"
                 "connection each) driven by P generator processes, against a bare ZeroMQ\n"
                 "ROUTER serving the same workers; one JSON line per case.\n"
                 "  --case NAME         run only this case\n"
                 "  --quick             small N, few blocks, short windows (smoke test)\n"
                 "  --workers N         N workers instead of the case's\n"
                 "  --procs P           generator processes (default 4, at most 16)\n"
                 "  --ramp K            workers per generator connecting at once (default\n"
                 "                      16; 0: all at once)\n"
                 "  --seconds S         idle measuring window (default 10, 2 with --quick)\n"
                 "  --heartbeat-ms MS   the broker's heartbeat interval (default 1000)\n"
                 "  --broker-nofile N   soft RLIMIT_NOFILE of the broker (or probe) process\n"
                 "  --no-probe          skip the bare ZeroMQ reference\n"
                 "  --pairs K           lockstep_N: K pairs of runs with lockstep_16, ratio\n"
                 "                      the median of the pair ratios (default 1, at most 9)\n"
                 "  --verbose           pids and join times on stderr\n"
                 "cases:\n",
        .cases = cases, .ncases = NCASES, .case_size = sizeof cases[0],
        .what_offset = offsetof(bench_case_t, what), .name_width = 15,
        .run = bench,
        .extra_short = "p:r:s:n:b:w:Pk:v", .extra_long = opts, .extra = option,
    };
    //  Thousands of sockets: as many descriptors as we may have.
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    return bench_main(&prog, argc, argv);
}
