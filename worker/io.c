/*  io.c - the worker's socket: messages in and out, credits, batching

    Everything here runs in the thread that owns the socket at the time
    (the caller between blocks, the keeper while a block runs long: see
    keeper.c), and touches only `self->io` and read-only fields.

    Credits. The worker keeps `prefetch` blocks in its hands: each RELEASE
    asks for as many new blocks as the window is short, counted as
    prefetch - (credits the broker owes us) - (blocks held: queued, running
    or finished with the result not yet sent). After a reconnect the broker
    owes nothing (credits start again from zero) but the blocks held stay
    held: they are processed and their results sent as usual. The broker
    keeps the leases of a worker that says hello again, so dropping them
    here would strand them there. A broker that gave up on us (or a new
    one of our run) says so: its WELCOME holds none of ours (`held`), and
    then everything we hold is another worker's (io_void_leases).

    Resending. The socket keeps its ZMQ_ROUTING_ID (the worker id, and
    the run id: see worker_routing_id in worker.c) across
    reconnects, and the broker's ROUTER hands the id over to the new
    connection; messages of the old connection it had not read yet (say,
    results sent while it stalled) then arrive under an anonymous id and
    are refused, and their blocks would stay leased for good. So results
    stay remembered until the broker has been heard from a heartbeat
    interval after they went out, and after a reconnect caused by silence
    they are sent again. A duplicate is refused as "not held" and changes
    nothing; it returns no credit twice.

    Batching. Results ready together go out in one RELEASE. While blocks
    are still queued locally a result may be held back, up to half the
    window or WORKER_BATCH_DELAY_MS, to send fewer messages; it is never
    held when the local queue is empty (also not while the last queued
    block runs), which is what keeps lockstep fast. Before the queue counts
    as empty, BLOCKS the broker already sent are read (io_refill): with a
    window, this keeps results and blocks in batches instead of letting
    the window crumble into messages of one or two blocks.

    With CurveZMQ a socket monitor watches the handshake, so that a broker
    refusing our key ends the run with that reason instead of looking like
    a broker that never answers.
*/
#include "worker_internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#define WORKER_BATCH_DELAY_MS 20     //  longest a result waits for company
#define WORKER_BATCH_BYTES (DAISY_MAX_FRAME / 2) //  RELEASE size budget
#define WORKER_LINGER_MS 1000        //  to deliver the last RELEASE and BYE
#define WORKER_RESEND_MAX 16384      //  results remembered for a resend

//  Result lists ---------------------------------------------------------------

static void
results_clear(results_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i].error);
    r->count = 0;
}

void
results_free(results_t *r)
{
    results_clear(r);
    free(r->items);
    r->items = NULL;
    r->cap = 0;
}

static int
results_reserve(results_t *r, size_t want)
{
    if (want <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 16;
    while (cap < want)
        cap *= 2;
    result_t *items = realloc(r->items, cap * sizeof *items);
    if (!items)
        return -1;
    r->items = items;
    r->cap = cap;
    return 0;
}

//  The socket ----------------------------------------------------------------

static void io_fatal(daisy_worker_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  Holding the running block ---------------------------------------------------

//  How long the broker may be silent before the running block is held. It
//  loses us after `liveness` heartbeats of silence on its side, which may
//  have begun a heartbeat before ours (our last heartbeat went out just
//  before a partition); half a heartbeat is left for the hold to take
//  effect. With liveness under 3 there is no room between the broker's
//  heartbeat interval and its patience: a hold after 1.25 heartbeats only
//  narrows the window.
static int64_t
io_hold_after(const io_t *io)
{
    int64_t hb = io->heartbeat_ms;
    return io->liveness >= 3 ? hb * io->liveness - hb * 3 / 2 : hb + hb / 4;
}

//  Held blocks go on.
void
io_unhold(daisy_worker_t *self)
{
    io_t *io = &self->io;
    if (!io->holding)
        return;
    io->holding = false;
    if (self->hold)
        self->hold(self->hold_arg, false);
}

static void io_void_leases(daisy_worker_t *self);
static void io_abandon_running(daisy_worker_t *self);

//  The run ends (SHUTDOWN, a fatal error) with a block held: no WELCOME
//  will say whether it is ours, and its result could not be sent. It is
//  stopped, not continued: the broker may have given it to another.
static void
io_end_hold(daisy_worker_t *self)
{
    if (self->io.holding)
        io_void_leases(self);
    io_unhold(self);
}

//  The run ends with -1 and this message.
static void
io_fatal(daisy_worker_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->io.err.msg, sizeof self->io.err.msg, fmt, ap);
    va_end(ap);
    self->io.rc = -1;
    self->io.finished = true;
    io_end_hold(self);
}

static int
io_send(daisy_worker_t *self, const daisy_msg_t *msg, int64_t now)
{
    io_t *io = &self->io;
    io->last_send = now;    //  even when dropped: the heartbeat timer must move on
    if (!io->sock || daisy_encode(msg, &io->out) != 0)
        return -1;
    //  Never block: with the broker gone and the pipe full, a message is
    //  dropped and the liveness check deals with the broker.
    return zmq_send(io->sock, io->out.data, io->out.size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static void
io_monitor_stop(io_t *io)
{
    if (!io->monitor)
        return;
    zmq_socket_monitor(io->sock, NULL, 0);
    zmq_close(io->monitor);
    io->monitor = NULL;
}

void
io_close(daisy_worker_t *self, int linger)
{
    io_t *io = &self->io;
    if (!io->sock)
        return;
    io_monitor_stop(io);
    zmq_setsockopt(io->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(io->sock);
    io->sock = NULL;
    io->link = LINK_IDLE;
}

//  Join (again). A broker that welcomes us owes us no blocks yet; the
//  blocks we hold stay held (see the top of this file).
static void
io_hello(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io->credits_out = 0;
    io->resend_left = 0;
    io->told = io->marked = false;      //  a new session knows nothing yet
    daisy_msg_t msg = {.type = DAISY_MSG_HELLO};
    msg.u.hello.task_id = self->task_id;
    msg.u.hello.worker_id = self->worker_id;
    msg.u.hello.host = self->host;
    msg.u.hello.pid = (int64_t)getpid();
    msg.u.hello.prefetch = self->prefetch;
    msg.u.hello.run_id = self->run_id;
    io_send(self, &msg, now);
    io->link = LINK_HELLO;
    io->last_recv = now;    //  the broker has liveness intervals to answer
}

//  We cannot vouch for our blocks any more (the broker fell silent, or we
//  were stopped): the running block is held, and we say hello again; the
//  WELCOME tells whether the blocks are still ours, and until then no
//  queued block starts. After a silence the liveness clock runs on, so
//  that a broker that stays silent is given up at the usual time; after
//  a stop (`restart_clock`) the broker is given its full liveness.
static void
io_doubt(daisy_worker_t *self, int64_t now, bool restart_clock)
{
    io_t *io = &self->io;
    if (io->running && !io->void_running && !io->holding) {
        io->holding = true;
        if (self->hold)
            self->hold(self->hold_arg, true);
    }
    if (io->link == LINK_READY && io->sock) {
        int64_t last_recv = io->last_recv;
        io_hello(self, now);
        if (!restart_clock)
            io->last_recv = last_recv;
    }
}

static int
io_socket_options(daisy_worker_t *self, void *sock)
{
    int linger = 0;
    int64_t maxsize = DAISY_MAX_FRAME;
    if (zmq_setsockopt(sock, ZMQ_ROUTING_ID, self->routing_id, self->routing_size) < 0
        || zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize) < 0
        || zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0)
        return -1;
    if (!self->curve)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, self->server_key, 32) < 0
        || zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, self->public_key, 32) < 0
        || zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, self->secret_key, 32) < 0)
        return -1;
    return 0;
}

//  A broker that refuses our CurveZMQ key, or that speaks CurveZMQ to a
//  clear-text worker (or clear text to a CurveZMQ one), just drops the
//  connection; only a socket monitor tells those from "unreachable". A
//  clear-text worker stops watching once welcomed (one poll item less on
//  every wait); a CurveZMQ one keeps watching, since a restarted broker
//  may refuse its key on a reconnect.
static int
io_monitor(daisy_worker_t *self)
{
    io_t *io = &self->io;
    char name[64];
    int linger = 0;
    snprintf(name, sizeof name, "inproc://daisy-worker-monitor-%u", ++io->monitors);
    if (zmq_socket_monitor(io->sock, name, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                           | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) < 0
        || !(io->monitor = zmq_socket(io->ctx, ZMQ_PAIR)))
        return -1;
    zmq_setsockopt(io->monitor, ZMQ_LINGER, &linger, sizeof linger);
    return zmq_connect(io->monitor, name);
}

//  A monitor event: [u16 event, u32 value] then the endpoint.
static void
io_on_monitor(daisy_worker_t *self)
{
    io_t *io = &self->io;
    uint8_t head[6];
    char endpoint[256];
    while (io->monitor) {
        int n = zmq_recv(io->monitor, head, sizeof head, ZMQ_DONTWAIT);
        if (n < 0)
            break;
        zmq_recv(io->monitor, endpoint, sizeof endpoint, 0);
        uint16_t event;
        uint32_t value;
        memcpy(&event, head, 2);
        memcpy(&value, head + 2, 4);
        //  ZAP status 400 is a refusal; 300 and 500 are the broker's trouble.
        if (n == 6 && event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400) {
            io_fatal(self, "broker at %s refused this worker's CurveZMQ key "
                           "(is its public key in the broker's allow list?)", self->endpoint);
            return;
        }
        if (n == 6 && event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            && value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
            io_fatal(self, self->curve
                     ? "broker at %s speaks clear text and this worker CurveZMQ (drop "
                       "--curve-secret and --broker-key, or start the broker with its keys)"
                     : "broker at %s speaks CurveZMQ and this worker clear text (pass "
                       "--curve-secret and --broker-key, as written by `daisy keygen`)",
                     self->endpoint);
            return;
        }
    }
}

void
io_connect(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io->sock = zmq_socket(io->ctx, ZMQ_DEALER);
    if (!io->sock || io_socket_options(self, io->sock) < 0) {
        io_fatal(self, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        io_close(self, 0);
        return;
    }
    if (io_monitor(self) < 0) {
        io_fatal(self, "cannot monitor a socket: %s", zmq_strerror(zmq_errno()));
        io_close(self, 0);
        return;
    }
    if (zmq_connect(io->sock, self->endpoint) < 0) {
        io_fatal(self, "cannot connect to %s: %s", self->endpoint, zmq_strerror(zmq_errno()));
        io_close(self, 0);
        return;
    }
    io_hello(self, now);
}

static void io_requeue_sent(io_t *io);

//  The broker went silent: close, and come back after the back-off.
static void
io_lost(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io_close(self, 0);
    io_requeue_sent(io);
    //  A held block waits for every moment we are away, and a broker back
    //  from a stop waits for us only so long (see roster_pause): no
    //  backing off past a heartbeat interval then.
    uint32_t wait = io->holding && io->backoff_ms > io->heartbeat_ms ? io->heartbeat_ms
                                                                      : io->backoff_ms;
    io->retry_at = now + wait;
    io->backoff_ms = io->backoff_ms * 2 > self->reconnect_max_ms ? self->reconnect_max_ms
                                                                  : io->backoff_ms * 2;
}

//  Credits and results -------------------------------------------------------

static uint32_t
io_deficit(daisy_worker_t *self)
{
    const io_t *io = &self->io;
    uint64_t have = (uint64_t)io->credits_out + io->held;
    if (io->stopping || worker_stopped(self) || have >= self->prefetch)
        return 0;
    return self->prefetch - (uint32_t)have;
}

//  How many pending results fit in one RELEASE.
static size_t
io_batch_size(const io_t *io)
{
    size_t n = 0, bytes = 64;
    while (n < io->pending.count && n < DAISY_MAX_BATCH) {
        const char *e = io->pending.items[n].error;
        size_t len = e ? strlen(e) : 0;
        bytes += 48 + (len > DAISY_MAX_TEXT ? DAISY_MAX_TEXT : len);
        if (n > 0 && bytes > WORKER_BATCH_BYTES)
            break;
        n++;
    }
    return n;
}

static result_t *
sent_at(const sent_t *ring, size_t i)
{
    return &ring->items[(ring->head + i) % WORKER_RESEND_MAX];
}

static void
sent_pop(sent_t *ring)
{
    free(sent_at(ring, 0)->error);
    ring->head = (ring->head + 1) % WORKER_RESEND_MAX;
    ring->count--;
}

void
sent_free(sent_t *ring)
{
    while (ring->count)
        sent_pop(ring);
    free(ring->items);
    ring->items = NULL;
}

//  Move the first n pending results (just sent) into the resend memory,
//  forgetting those the broker has surely read: it has spoken a heartbeat
//  interval after they went out.
static void
io_remember(daisy_worker_t *self, size_t n, int64_t now)
{
    io_t *io = &self->io;
    sent_t *ring = &io->sent;
    int64_t read_before = io->last_recv - (int64_t)io->heartbeat_ms;
    while (ring->count && sent_at(ring, 0)->sent_at < read_before)
        sent_pop(ring);
    if (!ring->items && !(ring->items = malloc(WORKER_RESEND_MAX * sizeof(result_t)))) {
        for (size_t i = 0; i < n; i++)
            free(io->pending.items[i].error);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (ring->count == WORKER_RESEND_MAX)
            sent_pop(ring);
        result_t *r = sent_at(ring, ring->count++);
        *r = io->pending.items[i];
        r->sent_at = now;
        r->resend = true;
    }
}

//  After silence: what the broker may not have read goes out again first.
static void
io_requeue_sent(io_t *io)
{
    sent_t *ring = &io->sent;
    size_t n = ring->count;
    if (n == 0 || results_reserve(&io->pending, io->pending.count + n) < 0)
        return;
    memmove(io->pending.items + n, io->pending.items, io->pending.count * sizeof(result_t));
    for (size_t i = 0; i < n; i++)
        io->pending.items[i] = *sent_at(ring, i);
    io->pending.count += n;
    ring->count = 0;
    ring->head = 0;
}

//  What this process (with the block commands it waited for) has used:
//  CPU time and peak memory, for the run statistics. Sent ahead of a
//  RELEASE at most once a heartbeat interval (and a second), and before
//  BYE, so the broker's figures include every block but those of the last
//  interval. With the interval paced to the roster (10 s at 10,000
//  workers) a big run's STATS cost what its heartbeats cost, not 10,000
//  messages a second.
#define STATS_INTERVAL_MS 1000

static void
io_stats(daisy_worker_t *self, int64_t now, bool force)
{
    io_t *io = &self->io;
    int64_t every = io->heartbeat_ms > STATS_INTERVAL_MS ? io->heartbeat_ms : STATS_INTERVAL_MS;
    if (!force && io->last_stats && now - io->last_stats < every)
        return;
    io->last_stats = now;
    struct rusage me, children;
    if (getrusage(RUSAGE_SELF, &me) != 0 || getrusage(RUSAGE_CHILDREN, &children) != 0)
        return;
    double cpu = 0;
    const struct timeval *tv[] = {&me.ru_utime, &me.ru_stime, &children.ru_utime,
                                  &children.ru_stime};
    for (int i = 0; i < 4; i++)
        cpu += (double)tv[i]->tv_sec + (double)tv[i]->tv_usec / 1e6;
    daisy_msg_t msg = {.type = DAISY_MSG_STATS};
    msg.u.stats.cpu_s = cpu;
    msg.u.stats.peak_rss_kb = (uint64_t)(me.ru_maxrss > children.ru_maxrss ? me.ru_maxrss
                                                                           : children.ru_maxrss);
    io_send(self, &msg, now);
}

//  Send one RELEASE with as many pending results as fit, plus credits.
static void
io_release(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    size_t n = io_batch_size(io);
    uint32_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        const result_t *r = &io->pending.items[i];
        io->wire[i] = (daisy_wire_result_t){
            .block_id = r->block_id, .attempt = r->attempt, .status = r->status,
            .seconds = r->seconds, .error = r->error ? r->error : ""};
        fresh += !r->resend;
    }
    io->held = io->held > fresh ? io->held - fresh : 0;
    io_stats(self, now, false);
    uint32_t credits = io_deficit(self);
    daisy_msg_t msg = {.type = DAISY_MSG_RELEASE};
    msg.u.release.credits = credits;
    msg.u.release.count = (uint32_t)n;
    msg.u.release.results = io->wire;
    //  Every RELEASE says which block runs, if the broker is to know: the
    //  one starting now (see io_started), or the one the keeper covers.
    //  One without says none does (the broker then charges nothing).
    bool carry = io->running && (io->tell || io->told);
    msg.u.release.has_started = carry;
    msg.u.release.started = io->current;
    io->told = io->told || carry;
    io->tell = false;
    io->marked = carry;
    if (io_send(self, &msg, now) == 0)
        io->credits_out += credits;
    io_remember(self, n, now);
    io->pending.count -= n;
    memmove(io->pending.items, io->pending.items + n, io->pending.count * sizeof(result_t));
}

//  Send every pending result, then ask for whatever the window still lacks.
static void
io_flush(daisy_worker_t *self, int64_t now)
{
    while (self->io.pending.count > 0)
        io_release(self, now);
    uint32_t credits = io_deficit(self);
    if (credits == 0)
        return;
    daisy_msg_t msg = {.type = DAISY_MSG_REQUEST};
    msg.u.request.credits = credits;
    if (io_send(self, &msg, now) == 0)
        self->io.credits_out += credits;
}

//  A finished block's result joins the pending ones (taking `r->error`).
void
io_add_result(daisy_worker_t *self, result_t *r, int64_t now)
{
    io_t *io = &self->io;
    if (results_reserve(&io->pending, io->pending.count + 1) < 0) {
        free(r->error);     //  the broker takes the block back when we are lost
        return;
    }
    if (io->pending.count == 0)
        io->flush_at = now + WORKER_BATCH_DELAY_MS;
    io->pending.items[io->pending.count++] = *r;
}

//  Results go now unless blocks are still queued here and the batch is
//  young and small: then waiting a little saves messages.
void
io_maybe_flush(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    if (io->link != LINK_READY || io->pending.count == 0)
        return;
    uint32_t threshold = self->prefetch / 2 ? self->prefetch / 2 : 1;
    if (io->stopping || io->qcount == 0 || io->pending.count >= threshold
        || now >= io->flush_at)
        io_flush(self, now);
}

//  A start no RELEASE carried goes alone; none goes to a broker that has
//  not welcomed us (the WELCOME tells it again).
static void
io_tell_start(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    if (io->tell && io->link == LINK_READY) {
        daisy_msg_t msg = {.type = DAISY_MSG_STARTED};
        msg.u.started = io->current;
        io_send(self, &msg, now);
        io->told = io->marked = true;
    }
    io->tell = false;
}

//  A block starts. Losing us should cost this block an attempt, and no
//  other: the blocks we hold but have not started go back free, and a
//  block we finished must never be charged. So the broker's belief about
//  which block runs (the mark) is exact whenever it names a block, and is
//  told cheaply:
//    - when nothing is queued behind this block (lockstep, or the window
//      ran dry), it is told now: on the RELEASE that goes out anyway, or
//      alone as STARTED, before the block runs, so that a block that
//      crashes its worker at once is charged too;
//    - otherwise (a window of short blocks, results held for batching)
//      it is told only if it runs past the keeper's take-over time (see
//      io_tell_running): a STARTED per block would cost a fifth of the
//      broker's throughput in windows of short blocks;
//    - a block that was told and has ended is untold before the next one
//      runs: by the RELEASE with its result, or an empty one.
//  A worker lost during a short block with others queued behind it thus
//  costs no attempt at all, the block included. With a window of one, a
//  block that is all we hold was marked by the broker as it handed it out
//  (PROTOCOL.md section 6, rule 4): nothing to tell, one message less per
//  block in lockstep.
void
io_started(daisy_worker_t *self, const daisy_wire_block_t *block, int64_t now)
{
    io_t *io = &self->io;
    io->running = true;
    io->current = (daisy_wire_lease_t){block->block_id, block->attempt};
    io->told = false;
    io->tell = io->qcount == 0;
    if (io->tell && self->prefetch == 1 && io->held == 1 && io->pending.count == 0
        && io->link == LINK_READY) {
        io->tell = false;
        io->told = io->marked = true;
        return;
    }
    if (io->tell)
        io_maybe_flush(self, now);      //  nothing queued: results go now, with it
    else if (io->marked && io->link == LINK_READY)
        io_release(self, now);          //  the block that ended is no longer running
    io_tell_start(self, now);
}

//  The keeper covers a block past the take-over time: now it is worth a
//  message, so the broker learns it runs (with any results held).
void
io_tell_running(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    if (!io->running || io->void_running || io->told || io->link != LINK_READY)
        return;
    io->tell = true;
    if (io->pending.count)
        io_flush(self, now);
    io_tell_start(self, now);
}

//  Messages from the broker ----------------------------------------------------

//  The WELCOME that answers our HELLO says the broker holds none of our
//  blocks while we hold some: it lost us (silent past its liveness: a
//  stopped process, a frozen host, a long partition) or it is a new broker
//  of our run, and runs them elsewhere, perhaps now. Running them on would
//  run a block twice at once, next to the neighbours it conflicts with:
//  the queued ones are dropped, the results not acknowledged forgotten
//  (they would be refused), and the block being processed is stopped
//  through the caller's hook; its result will not be sent.
static void
io_void_leases(daisy_worker_t *self)
{
    io_t *io = &self->io;
    io->qhead = io->qcount = 0;
    results_clear(&io->pending);
    while (io->sent.count)
        sent_pop(&io->sent);
    io->held = 0;
    io->marked = false;
    io_abandon_running(self);
}

//  The block being processed is stopped through the caller's hook; its
//  result will not be sent.
static void
io_abandon_running(daisy_worker_t *self)
{
    io_t *io = &self->io;
    if (!io->running || io->void_running)
        return;
    io->void_running = true;
    io->tell = io->told = false;
    if (self->abort)
        self->abort(self->abort_arg);
}

//  Asked to stop (SIGTERM, preemption) while the running block is held:
//  it may be another worker's by now, so it is stopped, not continued to
//  take the signal. The blocks we hold go back when we say BYE.
void
io_stop_held(daisy_worker_t *self)
{
    if (!self->io.holding)
        return;
    io_abandon_running(self);
    io_unhold(self);
}

static void
io_on_welcome(daisy_worker_t *self, const daisy_msg_t *msg, int64_t now)
{
    io_t *io = &self->io;
    if (io->link != LINK_HELLO && io->link != LINK_READY)
        return;
    if (io->link == LINK_HELLO && msg->u.welcome.held == 0
        && (io->held || io->running || io->sent.count))
        io_void_leases(self);
    if (io->link == LINK_HELLO) {
        io->resend_left = msg->u.welcome.held;
        io_unhold(self);    //  still ours, or aborted just above
    }
    io->heartbeat_ms = msg->u.welcome.heartbeat_ms ? msg->u.welcome.heartbeat_ms
                                                   : WORKER_HEARTBEAT_MS;
    io->liveness = msg->u.welcome.liveness ? msg->u.welcome.liveness : WORKER_LIVENESS;
    __atomic_store_n(&self->timeout_ms, msg->u.welcome.timeout_ms, __ATOMIC_RELAXED);
    if (io->link == LINK_READY)
        return;     //  the broker paces heartbeats anew (PROTOCOL.md section 8)
    io->link = LINK_READY;
    io->backoff_ms = worker_backoff_min(self);
    //  A block that runs while we reconnect (or a broker restarts) is told
    //  now, riding on the results if there are any.
    io->tell = io->running && !io->void_running;
    io_flush(self, now);    //  results from before a reconnect, then credits
    io_tell_start(self, now);
}

//  Whether we hold this block and attempt already: queued, running, its
//  result waiting, or among the `recent` newest results sent. The blocks
//  a broker we said hello to again sends after its WELCOME (every block it
//  holds for us: some may have been lost on the way) are checked against
//  every result remembered, so that those we have are not taken twice.
//  Other BLOCKS only against those in our hands (`recent` 0): a new
//  broker of the run may hand out a block and attempt whose result we
//  sent to the old one, and it must run; but no broker hands out one we
//  hold. That catches a resend taken for new blocks: a WELCOME that
//  answers an earlier hello (sent on a connection given up since) can
//  come first and take the count, and the resend that follows the later
//  one then looks new (after Ctrl-Z and fg, the running block ran again
//  once it had ended, 3 runs in 30 under load).
static bool
io_holds(const io_t *io, const daisy_wire_block_t *b, size_t recent)
{
    for (size_t i = 0; i < io->qcount; i++) {
        const daisy_wire_block_t *q = &io->queue[(io->qhead + i) % io->qcap];
        if (q->block_id == b->block_id && q->attempt == b->attempt)
            return true;
    }
    if (io->running && io->current.block_id == b->block_id
        && io->current.attempt == b->attempt)
        return true;
    for (size_t i = 0; i < io->pending.count; i++)
        if (io->pending.items[i].block_id == b->block_id
            && io->pending.items[i].attempt == b->attempt)
            return true;
    size_t from = recent < io->sent.count ? io->sent.count - recent : 0;
    for (size_t i = from; i < io->sent.count; i++) {
        const result_t *r = sent_at(&io->sent, i);
        if (r->block_id == b->block_id && r->attempt == b->attempt)
            return true;
    }
    return false;
}

static void
io_on_blocks(daisy_worker_t *self, const daisy_msg_t *msg)
{
    io_t *io = &self->io;
    uint32_t n = msg->u.blocks.count;
    if (n == 0 || strcmp(msg->u.blocks.task_id, self->task_id) != 0)
        return;
    if (io->qcount + n > io->qcap) {
        size_t cap = io->qcap ? io->qcap : 16;
        while (cap < io->qcount + n)
            cap *= 2;
        daisy_wire_block_t *q = malloc(cap * sizeof *q);
        if (!q)
            return;     //  the broker takes them back when we are lost
        for (size_t i = 0; i < io->qcount; i++)
            q[i] = io->queue[(io->qhead + i) % io->qcap];
        free(io->queue);
        io->queue = q;
        io->qcap = cap;
        io->qhead = 0;
    }
    bool resent = io->resend_left > 0;
    io->resend_left = resent && n < io->resend_left ? io->resend_left - n : 0;
    uint32_t fresh = 0;
    size_t recent = resent ? io->sent.count : 0;
    for (uint32_t i = 0; i < n; i++)
        if (!io_holds(io, &msg->u.blocks.blocks[i], recent)) {
            io->queue[(io->qhead + io->qcount++) % io->qcap] = msg->u.blocks.blocks[i];
            fresh++;
        }
    if (!resent)    //  blocks sent again answer no credit
        io->credits_out = fresh > io->credits_out ? 0 : io->credits_out - fresh;
    io->held += fresh;
}

static void
io_on_error(daisy_worker_t *self, const daisy_msg_t *msg, int64_t now)
{
    io_t *io = &self->io;
    switch (msg->u.error.code) {
    case DAISY_PROTO_UNKNOWN_TASK:
    case DAISY_PROTO_BAD_VERSION:
        io_fatal(self, "broker at %s refused this worker: %s", self->endpoint,
                 msg->u.error.text);
        break;
    case DAISY_PROTO_WRONG_RUN:
        //  Another run took our broker's address (ours is gone): its
        //  blocks are not ours to run, and ours will never be counted
        //  (the new run may do them now). Stop, leave, no reconnecting.
        io_void_leases(self);
        io_fatal(self, "broker at %s serves another run, this worker was started for run "
                 "%s: exiting (%s)", self->endpoint, self->run_id, msg->u.error.text);
        break;
    case DAISY_PROTO_NOT_READY:
        //  A restarted broker that does not know us yet: introduce ourselves.
        if (io->link == LINK_READY)
            io_hello(self, now);
        break;
    case DAISY_PROTO_UNKNOWN_BLOCK:
        break;  //  a stale result after a reconnect: harmless
    default:
        //  Our HELLO itself refused: trying again would be refused again.
        if (io->link == LINK_HELLO)
            io_fatal(self, "broker at %s refused this worker: %s", self->endpoint,
                     msg->u.error.text);
        break;
    }
}

static void
io_on_message(daisy_worker_t *self, const daisy_msg_t *msg, int64_t now)
{
    io_t *io = &self->io;
    io->last_recv = io->last_answer = now;  //  any message is a heartbeat
    switch (msg->type) {
    case DAISY_MSG_WELCOME:
        if (!self->curve)
            io_monitor_stop(io);
        io_on_welcome(self, msg, now);
        break;
    case DAISY_MSG_BLOCKS:
        io_on_blocks(self, msg);
        break;
    case DAISY_MSG_SHUTDOWN:
        io->rc = 0;
        io->finished = true;
        io_end_hold(self);
        break;
    case DAISY_MSG_ERROR:
        io_on_error(self, msg, now);
        break;
    default:
        break;
    }
}

//  Read every waiting frame: one wake-up, many messages.
void
io_drain(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    while (io->sock && !io->finished) {
        if (zmq_msg_recv(&frame, io->sock, ZMQ_DONTWAIT) < 0)
            break;
        if (zmq_msg_more(&frame))
            continue;   //  not ours: one frame per message
        daisy_msg_t msg;
        if (daisy_decode(io->decoder, zmq_msg_data(&frame), zmq_msg_size(&frame), &msg,
                         NULL) == DAISY_PROTO_OK)
            io_on_message(self, &msg, now);
    }
    zmq_msg_close(&frame);
    io->last_drain = now;
}

//  Timers ----------------------------------------------------------------------

static int64_t
earliest(int64_t a, int64_t b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

//  Milliseconds until the next thing to do (-1: nothing but messages).
long
io_timeout(const daisy_worker_t *self, int64_t now)
{
    const io_t *io = &self->io;
    int64_t due = -1;
    int64_t expiry = (int64_t)io->heartbeat_ms * io->liveness;
    if (io->link == LINK_IDLE)
        due = io->retry_at;
    else
        due = io->last_recv + expiry;
    if (io->link == LINK_READY) {
        due = earliest(due, io->last_send + io->heartbeat_ms);
        if (io->pending.count)
            due = earliest(due, io->flush_at);
        if (io->running || io->qcount)
            due = earliest(due, io->last_recv + io_hold_after(io));
    }
    if (self->give_up_ms)
        due = earliest(due, io->last_answer + self->give_up_ms);
    if (due < 0)
        return -1;
    return due <= now ? 0 : (long)(due - now);
}

//  Time this process did not run (stopped by Ctrl-Z with its run, a paused
//  host), beyond a heartbeat interval, is not the broker's silence: it
//  could not be heard then. Without this a worker continued after its
//  broker gave up on the broker at once, and was a reconnect's back-off
//  away from its next word: long enough for the broker to lose it.
//  But the broker may have lost us meanwhile (SIGSTOP of this worker
//  alone) and given our blocks to others: we doubt them (io_doubt). Before,
//  a worker continued started its next queued block within milliseconds,
//  beside its new holder. A stop that fell inside a sleep leaves no gap:
//  daisy_worker_continued() tells of every stop.
static void
io_account_pause(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    int64_t gap = io->awake_until ? now - io->awake_until : 0;
    io->awake_until = now;
    bool continued = __atomic_load_n(&self->continued, __ATOMIC_RELAXED)
                     && __atomic_exchange_n(&self->continued, 0, __ATOMIC_ACQ_REL);
    if (gap > (int64_t)io->heartbeat_ms) {
        io->last_recv += gap;
        io->last_answer += gap;
    }
    if (gap > (int64_t)io->heartbeat_ms || (continued && (io->running || io->qcount)))
        io_doubt(self, now, true);
}

//  The broker has been silent long enough that it may be about to lose us
//  (io_hold_after): while blocks are in our hands, doubt them. A heartbeat
//  may be waiting unread.
static void
io_watch_silence(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    if (io->link != LINK_READY || !(io->running || io->qcount)
        || now - io->last_recv < io_hold_after(io))
        return;
    io_drain(self, now);
    if (!io->finished && io->link == LINK_READY && now - io->last_recv >= io_hold_after(io))
        io_doubt(self, now, false);
}

void
io_timers(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io_account_pause(self, now);
    io_watch_silence(self, now);
    if (io->finished)
        return;
    int64_t expiry = (int64_t)io->heartbeat_ms * io->liveness;
    if (self->give_up_ms && now - io->last_answer >= self->give_up_ms) {
        io_fatal(self, "broker unreachable at %s (no answer for %g s)", self->endpoint,
                 self->give_up_ms / 1000.0);
        return;
    }
    if (io->link != LINK_IDLE && now - io->last_recv >= expiry) {
        io_drain(self, now);    //  a heartbeat may be waiting unread
        if (io->finished)
            return;
    }
    if (io->link != LINK_IDLE && now - io->last_recv >= expiry)
        io_lost(self, now);
    if (io->link == LINK_IDLE && now >= io->retry_at)
        io_connect(self, now);
    if (io->link == LINK_READY && now - io->last_send >= io->heartbeat_ms) {
        daisy_msg_t msg = {.type = DAISY_MSG_HEARTBEAT};
        io_send(self, &msg, now);
    }
}

//  One message if there is one: false when there is none, with its reason
//  in *err (EAGAIN, EINTR, ...).
static bool
io_recv_one(daisy_worker_t *self, int64_t now, int *err)
{
    io_t *io = &self->io;
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    bool got = zmq_msg_recv(&frame, io->sock, ZMQ_DONTWAIT) >= 0;
    if (!got && err)
        *err = zmq_errno();
    daisy_msg_t msg;
    if (got && !zmq_msg_more(&frame)
        && daisy_decode(io->decoder, zmq_msg_data(&frame), zmq_msg_size(&frame), &msg,
                        NULL) == DAISY_PROTO_OK)
        io_on_message(self, &msg, now);
    zmq_msg_close(&frame);
    return got;
}

//  The local queue is empty but the broker owes us blocks: take those that
//  came already. Then results wait for company only when there is some,
//  and the window does not crumble into messages of a block or two.
void
io_refill(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    while (io->qcount == 0 && io->credits_out > 0 && io->sock && !io->finished
           && io_recv_one(self, now, NULL))
        ;
}

//  The general wait: zmq_poll over the doorbell, the socket and the
//  CurveZMQ monitor, then read all that came.
static bool
io_wait_poll(daisy_worker_t *self, long timeout)
{
    io_t *io = &self->io;
    io->awake_until = timeout < 0 ? INT64_MAX : now_ms() + timeout;
    zmq_pollitem_t items[3] = {{NULL, self->wake_fd, ZMQ_POLLIN, 0},
                               {io->sock, 0, ZMQ_POLLIN, 0},
                               {io->monitor, 0, ZMQ_POLLIN, 0}};
    int count = io->sock ? (io->monitor ? 3 : 2) : 1;
    if (zmq_poll(items, count, timeout) < 0) {
        if (zmq_errno() == EINTR)
            return true;
        io_fatal(self, "zmq_poll: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    int64_t now = now_ms();
    if (items[0].revents & ZMQ_POLLIN)
        wake_clear(self);
    if (count > 1 && (items[1].revents & ZMQ_POLLIN))
        io_drain(self, now);
    if (count > 2 && (items[2].revents & ZMQ_POLLIN))
        io_on_monitor(self);
    return true;
}

//  Wait until a message comes (and read it), the doorbell rings, or the
//  next timer is due. Returns false on a failure that ends the run.
//
//  For the plain socket, the cheapest wait libzmq allows, as this is the
//  hot path of a lockstep worker: try to receive; when nothing is there,
//  that attempt has processed the socket's pending commands (so its
//  ZMQ_FD will signal anything new), and poll() waits on that descriptor
//  and the doorbell; then receive again. zmq_poll would add a poll pass
//  and a ZMQ_EVENTS round per call, and draining to EAGAIN another.
bool
io_wait(daisy_worker_t *self, long timeout)
{
    io_t *io = &self->io;
    if (!io->sock || io->monitor)
        return io_wait_poll(self, timeout);
    int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
    io->awake_until = timeout < 0 ? INT64_MAX : deadline;
    for (;;) {
        int64_t now = now_ms();
        int err = 0;
        if (io_recv_one(self, now, &err))
            return true;
        if (err == EINTR)
            return true;
        if (err != EAGAIN) {
            io_fatal(self, "cannot receive: %s", zmq_strerror(err));
            return false;
        }
        long left = deadline < 0 ? -1 : deadline > now ? (long)(deadline - now) : 0;
        if (left == 0)
            return true;
        int fd;
        size_t len = sizeof fd;
        if (zmq_getsockopt(io->sock, ZMQ_FD, &fd, &len) < 0)
            return io_wait_poll(self, left);
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = self->wake_fd, .events = POLLIN}};
        int rc = poll(fds, 2, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0 && errno != EINTR) {
            io_fatal(self, "poll: %s", strerror(errno));
            return false;
        }
        if (rc <= 0)
            return true;    //  interrupted, or the timer is due
        if (fds[1].revents) {
            wake_clear(self);
            return true;
        }
    }
}

//  We are leaving: send what is finished, say goodbye.
void
io_leave(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io->stopping = true;
    if (io->link == LINK_READY)
        io_flush(self, now);
    if (io->sock) {     //  also after a bare HELLO: the broker may know us
        if (io->link == LINK_READY)
            io_stats(self, now, true);
        daisy_msg_t msg = {.type = DAISY_MSG_BYE};
        io_send(self, &msg, now);
        io_close(self, WORKER_LINGER_MS);
    }
    io->rc = 1;
    io->finished = true;
}
