/*  broker.c - the broker's loop and message handlers

    One thread, one ROUTER socket. Each wake-up drains every waiting
    message (results first make blocks ready, then requests take them),
    then runs what is due: heartbeats out, silent workers and overrun
    blocks back, snapshots. The hot path receives and sends zmq_msg_t
    frames on the raw socket handle; czmq serves for setup only.

    Everything a worker says is checked against what the broker knows
    before it touches the scheduler: the message must decode, come from a
    worker that said HELLO, and a result must match a lease the worker
    holds (block id and attempt). Anything else is refused with an ERROR
    reply and counted, and changes nothing.
*/
#include "broker_internal.h"
#include "daisy/block_exec.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

#define DRAIN_LIMIT 4096    //  messages per wake-up before timers get a turn
#define LOG_PER_SECOND 10   //  refusal lines logged per second at most
#define REJOIN_MAX_MS 30000 //  a worker's longest reconnect back-off (PROTOCOL.md s. 8)
#define PAUSE_LOG_MS 1000   //  shorter pauses are accounted for, not said

daisy_broker_options_t
daisy_broker_options_default(void)
{
    return (daisy_broker_options_t){
        .bind = "tcp://127.0.0.1:5555",
        .heartbeat_ms = 1000,
        .liveness = 3,
        .heartbeat_rate = 1000,
        .snapshot_ms = 1000,
        .max_held = 64,
    };
}

//  Sending ------------------------------------------------------------------

//  Send an encoded message to a routing id; -1 when the peer is gone.
static int
send_to(daisy_broker_t *self, const uint8_t *identity, size_t size, const daisy_msg_t *msg)
{
    //  A send may take the router's pending commands, and with them the
    //  signal on its descriptor: a receive must follow before a wait.
    self->armed = false;
    if (daisy_encode(msg, &self->out) != 0)
        return -1;
    if (zmq_send(self->router_handle, identity, size, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(self->router_handle, self->out.data, self->out.size, ZMQ_DONTWAIT) < 0
         ? -1 : 0;
}

static int
send_worker(daisy_broker_t *self, worker_t *w, const daisy_msg_t *msg, int64_t now)
{
    int rc = send_to(self, w->identity, w->identity_size, msg);
    if (rc == 0)
        roster_sent(self, w, now);
    return rc;
}

//  One line per refusal, at most LOG_PER_SECOND a second: a hostile or
//  broken client must not flood the operator's terminal, but the first
//  refusals, which say what is wrong, are always seen.
//  A new second of refusal lines, after saying how many the last one hid.
//  Also called from the timers, so that the count is told even when the
//  refusals stop.
static void
log_window_roll(daisy_broker_t *self, int64_t now)
{
    if (now - self->log_window < 1000)
        return;
    if (self->log_dropped)
        broker_log(self, "refused %llu more messages in the last second (not shown)",
                   (unsigned long long)self->log_dropped);
    self->log_window = now;
    self->log_lines = 0;
    self->log_dropped = 0;
}

static void
log_refusal(daisy_broker_t *self, const uint8_t *identity, size_t size,
            daisy_proto_error_t code, const char *text)
{
    log_window_roll(self, zclock_mono());
    if (self->log_lines >= LOG_PER_SECOND) {
        self->log_dropped++;
        return;
    }
    self->log_lines++;
    worker_t *w = roster_find(self, identity, size);
    if (w)
        broker_log(self, "refused a message from worker %s (host %s, pid %lld, task %s): %s: %s",
                   w->worker_id, w->host, (long long)w->pid,
                   daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(self->graph), w->task)),
                   daisy_proto_error_name(code), text);
    else
        broker_log(self, "refused a message from an unknown peer (%zu-byte routing id): %s: %s",
                   size, daisy_proto_error_name(code), text);
}

//  Answer a refused message with ERROR. A message counts as refused once,
//  under the code of its first refusal (a RELEASE may carry several stale
//  results), so that "refused N of M messages" compares like with like.
static void
reject(daisy_broker_t *self, const uint8_t *identity, size_t size,
       daisy_proto_error_t code, const char *text)
{
    if (!self->refused_this) {
        self->refused_this = true;
        self->stats.rejected++;
        if ((unsigned)code < 16)
            self->stats.rejected_by_code[code]++;
    }
    log_refusal(self, identity, size, code, text);
    daisy_msg_t msg = {.type = DAISY_MSG_ERROR};
    msg.u.error.code = code;
    msg.u.error.text = text;
    send_to(self, identity, size, &msg);
}

//  Blocks going back ----------------------------------------------------------

static const char *
task_id_of(daisy_broker_t *self, uint32_t task)
{
    return daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(self->graph), task));
}

//  A failed attempt on a leased block: retry or fail for good, and tell.
static void
block_failed(daisy_broker_t *self, worker_t *w, uint32_t task, uint64_t index,
             uint64_t block_id, uint32_t attempt, const char *error)
{
    int outcome = daisy_scheduler_release(self->scheduler, (daisy_block_ref_t){task, index},
                                          false, NULL);
    if (outcome < 0)
        return;
    bool final = outcome == DAISY_RELEASE_FAILED;
    progress_block_failed(self, task, block_id, attempt, final, error, w);
    if (!final)
        return;
    //  The worker's log, where one was made for it: a worker started by
    //  hand writes to its own terminal, and the summary must not send
    //  the user to a file that is not there.
    char log[1024] = "", tname[256], wname[320];
    if (self->log_dir && w && w->worker_id) {
        daisy_file_name(task_id_of(self, task), tname, sizeof tname);
        daisy_file_name(w->worker_id, wname, sizeof wname);
        int n = snprintf(log, sizeof log, "%s/%s/%s.err", self->log_dir, tname, wname);
        if (n > 0 && (size_t)n < sizeof log - 8 && access(log, F_OK) == 0)
            strcat(log, " / .out");
        else
            log[0] = '\0';
    }
    daisy_summary_add_failure(self->summary, task, block_id, attempt, error,
                              w ? w->worker_id : "", log);
}

//  Take every block a worker holds back: the one it runs (it said STARTED)
//  through the retry path as a failed attempt with `reason`, the others,
//  and all of them when `reason` is NULL (a clean leave), straight back to
//  the head of the queue with their attempt unchanged. So a lost worker
//  costs at most one retry, and one that never started anything (a stray
//  client asking for many blocks, then silent) costs none.
static void
take_back(daisy_broker_t *self, worker_t *w, const char *reason)
{
    lease_t *running = w->running;
    w->running = NULL;
    while (w->leases) {
        lease_t *l = w->leases;
        w->leases = l->next_in_worker;
        w->nleases--;
        uint64_t index = l->index, block_id = l->block_id;
        uint32_t attempt = l->attempt;
        bool charged = reason && l == running;
        roster_free_lease(self, l);
        if (charged)
            block_failed(self, w, w->task, index, block_id, attempt, reason);
        else
            daisy_scheduler_give_back(self->scheduler, (daisy_block_ref_t){w->task, index}, NULL);
    }
}

//  A worker gone, its blocks taken back (see take_back).
static void settle_late(daisy_broker_t *self, worker_t *w, const daisy_wire_result_t *r);

static void
drop_worker(daisy_broker_t *self, worker_t *w, const char *reason, bool clean)
{
    settle_late(self, w, NULL);     //  a block it overran fails, even on a clean leave
    take_back(self, w, clean ? NULL : reason);
    self->stats.workers_lost++;
    progress_worker(self, w, DAISY_EVT_WORKER_LOST, reason);
    roster_remove(self, w);
}

static void
lose_worker(daisy_broker_t *self, worker_t *w, const char *reason)
{
    drop_worker(self, w, reason, false);
}

//  Handing out blocks ---------------------------------------------------------

static void set_running(daisy_broker_t *self, worker_t *w, const daisy_wire_lease_t *s,
                        int64_t now);

static void
tell_shutdown(daisy_broker_t *self, worker_t *w, const char *reason, int64_t now)
{
    daisy_msg_t msg = {.type = DAISY_MSG_SHUTDOWN};
    msg.u.shutdown.reason = reason;
    send_worker(self, w, &msg, now);
}

//  BLOCKS that could not be sent: the worker's connection is gone for now
//  (it gave up on us and is saying hello again on a new one, or it died).
//  Its n newest leases, these blocks, go back unstarted, and its credits
//  stay owed: it is served again when next heard from (a HELLO starts
//  afresh), and silence ends it if it is not. Losing it at once gave back
//  the block it was running too, and that block ran twice.
static void
unsend(daisy_broker_t *self, worker_t *w, uint32_t n)
{
    for (uint32_t i = 0; i < n && w->leases; i++) {
        lease_t *l = w->leases;
        w->leases = l->next_in_worker;
        w->nleases--;
        if (w->running == l)
            w->running = NULL;
        uint64_t index = l->index;
        roster_free_lease(self, l);
        daisy_scheduler_give_back(self->scheduler, (daisy_block_ref_t){w->task, index}, NULL);
    }
    self->stats.blocks_sent -= n;
    w->credits += n;
    w->unsent = true;
    roster_unpark(self, w);
}

//  Give the worker as many ready blocks as it has credits for, in one
//  message, but never more than max_held at once (credits beyond that wait
//  until it releases some); park it while it still wants more and has room.
static void
serve(daisy_broker_t *self, worker_t *w, int64_t now)
{
    btask_t *bt = &self->tasks[w->task];
    w->unsent = false;
    uint32_t room = w->nleases < self->opt.max_held ? self->opt.max_held - w->nleases : 0;
    if (self->draining || room == 0) {
        roster_unpark(self, w);
        return;
    }
    if (now < self->serve_from) {   //  served when the grace is over (dispatch)
        roster_park(self, w);
        return;
    }
    uint32_t want = w->credits < room ? w->credits : room;
    if (want > DAISY_MAX_BATCH)
        want = DAISY_MAX_BATCH;
    uint32_t n = 0;
    while (n < want
           && daisy_scheduler_acquire(self->scheduler, w->task, &self->scratch[n]) == 1)
        n++;
    if (n > 0) {
        for (uint32_t i = 0; i < n; i++) {
            roster_lease(self, w, &self->scratch[i], now);
            daisy_wire_block_from(&self->wire[i], &self->scratch[i]);
        }
        //  A worker of window 1 runs a block the moment it has it, when it
        //  holds no other: the hand-out is its start (PROTOCOL.md section
        //  6, rule 4), which saves lockstep workers a STARTED per block.
        if (w->runs_at_once && n == 1 && w->nleases == 1)
            set_running(self, w, &(daisy_wire_lease_t){self->wire[0].block_id,
                                                       self->wire[0].attempt}, now);
        daisy_msg_t msg = {.type = DAISY_MSG_BLOCKS};
        msg.u.blocks.task_id = task_id_of(self, w->task);
        msg.u.blocks.count = n;
        msg.u.blocks.blocks = self->wire;
        w->credits -= n;
        self->stats.blocks_sent += n;
        daisy_task_counts_t c;
        daisy_scheduler_counts(self->scheduler, w->task, &c);
        stats_held(self, w->task, c.processing);
        if (!bt->started) {
            bt->started = true;
            bt->started_at = now;
            progress_task_state(self, w->task, DAISY_EVT_TASK_STARTED);
        }
        if (send_worker(self, w, &msg, now) != 0) {
            unsend(self, w, n);
            return;
        }
    }
    if (w->credits > 0 && w->nleases < self->opt.max_held)
        roster_park(self, w);
    else
        roster_unpark(self, w);
}

//  Serve parked workers of every task that has ready blocks.
static void
dispatch(daisy_broker_t *self, int64_t now)
{
    if (now < self->serve_from)
        return;
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        while (!dlist_empty(&bt->parked)) {
            daisy_task_counts_t c;
            daisy_scheduler_counts(self->scheduler, t, &c);
            if (c.ready == 0)
                break;
            worker_t *w = dlist_entry(bt->parked.next, worker_t, parked);
            //  Rotate, so that parked workers take turns.
            roster_unpark(self, w);
            serve(self, w, now);
        }
    }
}

//  Tell the workers of finished tasks to exit.
static void
finish_tasks(daisy_broker_t *self, int64_t now)
{
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        if (bt->finished || !daisy_scheduler_task_done(self->scheduler, t))
            continue;
        bt->finished = true;
        bt->finished_at = now;
        progress_task_done(self, t);
        dnode_t *n = self->by_heard.next;
        while (n != &self->by_heard) {
            worker_t *w = dlist_entry(n, worker_t, by_heard);
            n = n->next;
            if (w->task == t) {
                tell_shutdown(self, w, "task done", now);
                roster_remove(self, w);
            }
        }
    }
}

//  Messages ---------------------------------------------------------------------

//  The task's block timeout, for WELCOME: a worker that knows it stops a
//  command that overruns (the broker's own time_out() below covers those
//  that cannot be stopped, such as functions running in a worker).
static uint32_t
welcome_timeout(const daisy_broker_t *self, uint32_t task)
{
    int64_t ms = self->tasks[task].timeout_ms;
    return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

//  A worker that says hello again while it holds blocks may have lost
//  some: BLOCKS sent to its old connection after it had closed it (it gave
//  up on a broker that stalled or was stopped past liveness, and the
//  broker, running again, answered its last RELEASE there). Such a lease
//  would stay with it for good, and the run would never end. So every
//  block it holds goes again, right after WELCOME; the worker keeps one
//  copy of each block and attempt (PROTOCOL.md section 6).
static void
resend_leases(daisy_broker_t *self, worker_t *w, int64_t now)
{
    uint32_t n = 0;
    for (lease_t *l = w->leases; l; l = l->next_in_worker) {
        daisy_block_t b;
        if (daisy_graph_block(self->graph, (daisy_block_ref_t){w->task, l->index}, &b) != 0)
            continue;
        b.attempt = l->attempt;
        daisy_wire_block_from(&self->wire[n++], &b);
        if (n < DAISY_MAX_BATCH && l->next_in_worker)
            continue;
        daisy_msg_t msg = {.type = DAISY_MSG_BLOCKS};
        msg.u.blocks.task_id = task_id_of(self, w->task);
        msg.u.blocks.count = n;
        msg.u.blocks.blocks = self->wire;
        self->stats.blocks_resent += n;
        if (send_worker(self, w, &msg, now) != 0)
            return;
        n = 0;
    }
}

static void
on_hello(daisy_broker_t *self, const uint8_t *id, size_t idsize, worker_t *w,
         const daisy_msg_t *msg, int64_t now)
{
    const char *run_id = msg->u.hello.run_id;
    if (*run_id && strcmp(run_id, self->run_id) != 0) {
        char text[512];
        snprintf(text, sizeof text, "hello: worker %s (host %s, pid %lld) was started for run "
                 "%s, this broker serves run %s", msg->u.hello.worker_id, msg->u.hello.host,
                 (long long)msg->u.hello.pid, run_id, self->run_id);
        reject(self, id, idsize, DAISY_PROTO_WRONG_RUN, text);
        return;
    }
    int task = daisy_pipeline_find(daisy_graph_pipeline(self->graph), msg->u.hello.task_id);
    if (task < 0) {
        char text[512];
        snprintf(text, sizeof text, "hello: worker %s (host %s, pid %lld) asked for unknown "
                 "task '%s'", msg->u.hello.worker_id, msg->u.hello.host,
                 (long long)msg->u.hello.pid, msg->u.hello.task_id);
        reject(self, id, idsize, DAISY_PROTO_UNKNOWN_TASK, text);
        return;
    }
    bool known = w != NULL;
    if (known && w->task != (uint32_t)task) {
        lose_worker(self, w, "changed task");
        w = NULL;
        known = false;
    }
    if (!w && !(w = roster_add(self, id, idsize)))
        return;
    if (!known) {
        w->task = (uint32_t)task;
        roster_name(self, w, msg->u.hello.worker_id);
        w->host = strdup(msg->u.hello.host);
        w->pid = msg->u.hello.pid;
        self->tasks[task].nworkers++;
        //  One of the workers the launcher said were starting, most likely:
        //  its next report (a few times a second) says for sure, and until
        //  then the bars must not count a worker twice.
        if (self->tasks[task].jobs_starting > 0)
            self->tasks[task].jobs_starting--;
        self->stats.workers_joined++;
        stats_worker(self, w);
        progress_worker(self, w, DAISY_EVT_WORKER_JOINED, "");
    }
    //  A worker saying hello again (after a reconnect) keeps its leases:
    //  it may still finish them. It asks for credits anew.
    w->credits = 0;
    w->runs_at_once = msg->u.hello.prefetch == 1;
    roster_unpark(self, w);
    roster_heard(self, w, now);
    if (self->tasks[task].finished) {
        tell_shutdown(self, w, "task done", now);
        roster_remove(self, w);
        return;
    }
    daisy_msg_t reply = {.type = DAISY_MSG_WELCOME};
    reply.u.welcome.task_id = msg->u.hello.task_id;
    reply.u.welcome.heartbeat_ms = pace_welcome(self, w);
    reply.u.welcome.liveness = self->opt.liveness;
    reply.u.welcome.dims = (uint32_t)daisy_graph_grid_shape(self->graph, (uint32_t)task).dims;
    reply.u.welcome.timeout_ms = welcome_timeout(self, (uint32_t)task);
    reply.u.welcome.held = w->nleases;      //  0: whatever it holds is not its own
    if (send_worker(self, w, &reply, now) == 0 && known && w->nleases > 0)
        resend_leases(self, w, now);
}

//  The outcome of a block that timed out here, once its worker is done
//  with it (time_out): its own report, r (a success counts: the block was
//  not handed out again), or, when it moved on without one, left or was
//  lost (r NULL), a failed attempt. Only then is the block retried, so
//  that its retry never runs beside it.
static void
settle_late(daisy_broker_t *self, worker_t *w, const daisy_wire_result_t *r)
{
    if (!w->is_late)
        return;
    daisy_block_ref_t ref = {w->task, w->late_index};
    uint64_t block_id = w->late_block;
    uint32_t attempt = w->late_attempt;
    roster_late_clear(self, w);
    if (r && r->status == DAISY_RESULT_SUCCESS) {
        daisy_scheduler_release(self->scheduler, ref, true, NULL);
        return;
    }
    if (r && r->status == DAISY_RESULT_SKIPPED) {
        daisy_scheduler_release_skipped(self->scheduler, ref, NULL);
        return;
    }
    char text[128];
    snprintf(text, sizeof text, "timeout: still running after %.3g s",
             (double)self->tasks[ref.task].timeout_ms / 1000.0);
    block_failed(self, w, ref.task, ref.index, block_id, attempt, text);
}

//  A result for the block that timed out: whether r was it.
static bool
late_result(daisy_broker_t *self, worker_t *w, const daisy_wire_result_t *r)
{
    if (!w->is_late || w->late_block != r->block_id || w->late_attempt != r->attempt)
        return false;
    self->stats.late_results++;
    self->stats.results++;
    settle_late(self, w, r);
    return true;
}

static void
on_result(daisy_broker_t *self, worker_t *w, const daisy_wire_result_t *r)
{
    lease_t *l = roster_take_lease(self, w, r->block_id, r->attempt);
    if (!l && late_result(self, w, r))
        return;
    if (!l) {
        char text[256];
        snprintf(text, sizeof text, "release: block %llu attempt %u is not held by this worker",
                 (unsigned long long)r->block_id, r->attempt);
        reject(self, w->identity, w->identity_size, DAISY_PROTO_UNKNOWN_BLOCK, text);
        return;
    }
    daisy_block_ref_t ref = {w->task, l->index};
    roster_free_lease(self, l);
    self->stats.results++;
    if (r->status != DAISY_RESULT_SKIPPED)
        stats_block(self, w, r->seconds);
    if (r->status == DAISY_RESULT_SUCCESS)
        daisy_scheduler_release(self->scheduler, ref, true, NULL);
    else if (r->status == DAISY_RESULT_SKIPPED)
        daisy_scheduler_release_skipped(self->scheduler, ref, NULL);
    else
        block_failed(self, w, w->task, ref.index, r->block_id, r->attempt,
                     *r->error ? r->error : "failed");
}

//  What the worker says runs now: the block `s` (STARTED, or a RELEASE's
//  `started`), or none (a RELEASE without: every block it told of has
//  ended, its results here or held for batching). Losing the worker costs
//  the running block an attempt and no other; workers run one block at a
//  time. A start for a block not held (a stale lease) is harmless and
//  ignored.
static void
set_running(daisy_broker_t *self, worker_t *w, const daisy_wire_lease_t *s, int64_t now)
{
    lease_t *was = w->running;
    if (was && s && was->block_id == s->block_id && was->attempt == s->attempt)
        return;
    if (was) {
        dlist_remove(&was->by_start);       //  ended: no timeout any more
        w->running = NULL;
    }
    if (!s)
        return;
    settle_late(self, w, NULL);         //  it moved on without a word of it
    for (lease_t *l = w->leases; l; l = l->next_in_worker)
        if (l->block_id == s->block_id && l->attempt == s->attempt) {
            //  A task's timeout counts from the start, not from the hand-out:
            //  time in a worker's queue is no fault of the block.
            l->started = now;
            dlist_push_tail(&self->tasks[w->task].leases, &l->by_start);
            w->running = l;
            return;
        }
}

static uint32_t
add_credits(uint32_t have, uint32_t more)
{
    uint64_t sum = (uint64_t)have + more;
    return sum > DAISY_MAX_BATCH ? DAISY_MAX_BATCH : (uint32_t)sum;
}

static void
on_message(daisy_broker_t *self, const uint8_t *id, size_t idsize, const void *data,
           size_t size, int64_t now)
{
    daisy_msg_t msg;
    daisy_error_t err;
    self->stats.messages++;
    self->refused_this = false;
    daisy_proto_error_t code = daisy_decode(self->decoder, data, size, &msg, &err);
    if (code != DAISY_PROTO_OK) {
        reject(self, id, idsize, code, err.msg);
        return;
    }
    worker_t *w = roster_find(self, id, idsize);
    if (msg.type == DAISY_MSG_HELLO) {
        on_hello(self, id, idsize, w, &msg, now);
        return;
    }
    if (!w) {
        reject(self, id, idsize, DAISY_PROTO_NOT_READY, "say hello first");
        return;
    }
    roster_heard(self, w, now);
    if (w->unsent && msg.type != DAISY_MSG_REQUEST && msg.type != DAISY_MSG_RELEASE)
        serve(self, w, now);    //  reachable again: what it is owed
    switch (msg.type) {
    case DAISY_MSG_REQUEST:
        w->credits = add_credits(w->credits, msg.u.request.credits);
        serve(self, w, now);
        break;
    case DAISY_MSG_RELEASE:
        for (uint32_t i = 0; i < msg.u.release.count; i++)
            on_result(self, w, &msg.u.release.results[i]);
        set_running(self, w, msg.u.release.has_started ? &msg.u.release.started : NULL, now);
        w->credits = add_credits(w->credits, msg.u.release.credits);
        serve(self, w, now);
        break;
    case DAISY_MSG_STARTED:
        set_running(self, w, &msg.u.started, now);
        break;
    case DAISY_MSG_HEARTBEAT:
        break;
    case DAISY_MSG_STATS:
        stats_report(self, w, msg.u.stats.cpu_s, msg.u.stats.peak_rss_kb);
        break;
    case DAISY_MSG_BYE:
        drop_worker(self, w, "worker left", true);
        break;
    default: {
        char text[128];
        snprintf(text, sizeof text, "the broker does not accept '%s' messages",
                 daisy_msg_name(msg.type));
        reject(self, id, idsize, DAISY_PROTO_UNKNOWN_TYPE, text);
    }
    }
}

//  Receive one [identity, body] message; false when none is waiting.
static bool
receive_one(daisy_broker_t *self, int64_t now)
{
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    if (zmq_msg_recv(&id, self->router_handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&id);
        return false;
    }
    zmq_msg_init(&body);
    bool have_body = zmq_msg_more(&id) && zmq_msg_recv(&body, self->router_handle, 0) >= 0;
    bool extra = have_body && zmq_msg_more(&body);
    while (extra) {   //  a message of more than one frame: drop the rest
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        extra = zmq_msg_recv(&rest, self->router_handle, 0) >= 0 && zmq_msg_more(&rest);
        zmq_msg_close(&rest);
        have_body = false;
    }
    const uint8_t *identity = zmq_msg_data(&id);
    size_t idsize = zmq_msg_size(&id);
    if (have_body)
        on_message(self, identity, idsize, zmq_msg_data(&body), zmq_msg_size(&body), now);
    else {
        self->stats.messages++;
        self->refused_this = false;
        reject(self, identity, idsize, DAISY_PROTO_MALFORMED,
               "a message is exactly one frame");
    }
    zmq_msg_close(&body);
    zmq_msg_close(&id);
    return true;
}

//  Timers -------------------------------------------------------------------

//  Marked blocks already survive a killed broker (the pages belong to the
//  kernel); flushing once a second bounds what a machine crash can cost.
static void
flush_markers(daisy_broker_t *self)
{
    for (uint32_t t = 0; self->markers && t < self->ntasks; t++)
        if (self->markers[t])
            daisy_markers_flush(self->markers[t]);
}

//  Markers that can no longer record (a full or failing disk): nothing
//  more is handed out, the serving loop is asked to stop (blocks in
//  flight may still come back), and the reason is kept for the program,
//  which exits 4. What was recorded stays; a run with space resumes.
static void
check_markers(daisy_broker_t *self)
{
    for (uint32_t t = 0; self->markers && !self->failed && t < self->ntasks; t++)
        if (self->markers[t] && daisy_markers_failure(self->markers[t], &self->failure) != 0) {
            self->failed = true;
            self->draining = true;
            daisy_broker_stop(self);
        }
}

//  A running block overran its task's timeout. Told the timeout in
//  WELCOME, its worker stops it (a command: SIGTERM, SIGKILL
//  DAISY_EXEC_GRACE_MS later) and reports it: that report settles the
//  attempt (settle_late), and only then does the block go out again, so
//  its retry never runs beside it (retrying at once overlapped them).
//  The blocks queued behind it stay with the worker, which goes on with
//  them: taking them back had them run twice. A worker that has not
//  reported the block by late_until cannot stop it (a function that does
//  not return): it is lost, the block fails, and its queue goes back.
//  How long a worker has to report a block past its timeout: a command's
//  time between SIGTERM and SIGKILL, and the broker's patience.
static int64_t
late_grace(const daisy_broker_t *self)
{
    return DAISY_EXEC_GRACE_MS + (int64_t)self->hb_ms * self->opt.liveness;
}

static void
time_out(daisy_broker_t *self, lease_t *l, int64_t now)
{
    worker_t *w = l->worker;
    roster_take_lease(self, w, l->block_id, l->attempt);
    uint64_t index = l->index, block_id = l->block_id;
    uint32_t attempt = l->attempt;
    if (w->running == l)
        w->running = NULL;
    roster_free_lease(self, l);
    self->stats.timeouts++;
    roster_unpark(self, w);     //  no more blocks until it shows life
    w->credits = 0;
    roster_late(self, w, index, block_id, attempt, now + late_grace(self));
}

//  Workers that did not report a timed-out block within the grace.
static void
expire_late(daisy_broker_t *self, int64_t now)
{
    while (!dlist_empty(&self->late)) {
        worker_t *w = dlist_entry(self->late.next, worker_t, by_late);
        if (w->late_until > now)
            break;
        char text[160];
        snprintf(text, sizeof text, "stuck in block %llu %.3g s past its timeout",
                 (unsigned long long)w->late_block, (double)late_grace(self) / 1e3);
        lose_worker(self, w, text);
    }
}

//  Workers silent for `liveness` heartbeats are lost. Called only when the
//  router was just found empty: a heartbeat waiting unread in its queue
//  (a busy broker, 10^4 workers) must not count as silence. Whether any
//  was lost.
static bool
expire_workers(daisy_broker_t *self, int64_t now)
{
    int64_t dead = (int64_t)self->hb_ms * self->opt.liveness;
    bool lost = false;
    while (!dlist_empty(&self->by_heard)) {
        worker_t *w = dlist_entry(self->by_heard.next, worker_t, by_heard);
        if (w->last_heard + dead > now)
            break;
        lose_worker(self, w, "heartbeat timeout");
        lost = true;
    }
    return lost;
}

static void
run_timers(daisy_broker_t *self, int64_t now)
{
    int64_t hb = self->sweep_ms;
    while (!dlist_empty(&self->by_sent)) {
        worker_t *w = dlist_entry(self->by_sent.next, worker_t, by_sent);
        if (w->last_sent + hb > now)
            break;
        daisy_msg_t msg = {.type = DAISY_MSG_HEARTBEAT};
        if (pace_stale(self, w) && w->worker_id) {
            //  In place of a heartbeat: the interval, grown since it joined.
            msg.type = DAISY_MSG_WELCOME;
            msg.u.welcome.task_id = daisy_task_id(
                daisy_pipeline_task(daisy_graph_pipeline(self->graph), w->task));
            msg.u.welcome.heartbeat_ms = self->hb_ms;
            msg.u.welcome.liveness = self->opt.liveness;
            msg.u.welcome.dims = (uint32_t)daisy_graph_grid_shape(self->graph, w->task).dims;
            msg.u.welcome.timeout_ms = welcome_timeout(self, w->task);
            msg.u.welcome.held = w->nleases;
            pace_told(self, w);
        }
        if (send_worker(self, w, &msg, now) != 0)
            roster_sent(self, w, now);   //  gone: expiry will tell
    }
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        while (bt->timeout_ms > 0 && !dlist_empty(&bt->leases)) {
            lease_t *l = dlist_entry(bt->leases.next, lease_t, by_start);
            if (l->started + bt->timeout_ms > now)
                break;
            time_out(self, l, now);
        }
    }
    expire_late(self, now);
    if (self->finished)         //  the feed has said its last (daisy_broker_finish)
        return;
    if (self->changes_pending > 0 && now - self->last_changes >= CHANGES_MS)
        progress_flush_changes(self, now);
    if (now - self->last_snapshot >= (int64_t)self->opt.snapshot_ms) {
        progress_snapshot(self, now);
        progress_block_snapshots(self, SNAPSHOT_BUDGET);
        flush_markers(self);
        check_markers(self);
        log_window_roll(self, now);
    }
}

//  Milliseconds until the next timer is due (at least 0).
static int64_t
next_timer(daisy_broker_t *self, int64_t now)
{
    int64_t next = self->last_snapshot + self->opt.snapshot_ms;
    int64_t dead = (int64_t)self->hb_ms * self->opt.liveness, sweep = self->sweep_ms;
    if (self->changes_pending > 0 && self->last_changes + CHANGES_MS < next)
        next = self->last_changes + CHANGES_MS;
    if (!dlist_empty(&self->by_heard)) {
        worker_t *w = dlist_entry(self->by_heard.next, worker_t, by_heard);
        next = w->last_heard + dead < next ? w->last_heard + dead : next;
    }
    if (!dlist_empty(&self->by_sent)) {
        worker_t *w = dlist_entry(self->by_sent.next, worker_t, by_sent);
        next = w->last_sent + sweep < next ? w->last_sent + sweep : next;
    }
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        if (bt->timeout_ms > 0 && !dlist_empty(&bt->leases)) {
            lease_t *l = dlist_entry(bt->leases.next, lease_t, by_start);
            next = l->started + bt->timeout_ms < next ? l->started + bt->timeout_ms : next;
        }
    }
    if (!dlist_empty(&self->late)) {
        worker_t *w = dlist_entry(self->late.next, worker_t, by_late);
        next = w->late_until < next ? w->late_until : next;
    }
    if (self->serve_from > now && self->serve_from < next)
        next = self->serve_from;
    return next > now ? next - now : 0;
}

//  Time the loop neither ran nor chose to sleep, beyond a heartbeat
//  interval, is time the broker was not there: the process was stopped
//  (Ctrl-Z stops a run's broker and workers together), its host paused,
//  or its caller did not call. Its workers could not be heard then, and
//  when all resume, the router is empty before their next heartbeat:
//  without this they were all lost at once, and their blocks done twice.
static void
account_pause(daisy_broker_t *self, int64_t now)
{
    int64_t gap = self->awake_until ? now - self->awake_until : 0;
    if (gap > (int64_t)self->hb_ms) {
        //  Workers that gave up on us meanwhile come back after a back-off
        //  that grew with the silence, up to 30 s (PROTOCOL.md section 8):
        //  they have that long again, or they would be lost, and their
        //  blocks retried, just as they reconnect.
        roster_pause(self, gap, gap < REJOIN_MAX_MS ? gap : REJOIN_MAX_MS);
        //  With a heartbeat of a few ms, the loop late by that much on a
        //  loaded machine is no stop worth a line ("did not run for 0.0 s",
        //  dozens of times a run).
        if (gap >= PAUSE_LOG_MS)
            broker_log(self, "the broker did not run for %.1f s (stopped, or its host "
                       "paused): workers' silence and blocks' timeouts do not count it",
                       gap / 1000.0);
    }
    self->awake_until = now;
}

//  One round: what is due, then every message waiting, each followed by
//  what it made ready, then (the router empty) the workers that fell
//  silent. It ends on an empty receive that comes after the round's last
//  send, which leaves the router's descriptor armed (libzmq signals it on
//  the next command only, edge-triggered, and a send may consume one):
//  daisy_broker_poll() may then sleep on it.
static void
work(daisy_broker_t *self)
{
    while (self->zap && (zsock_events(self->zap) & ZMQ_POLLIN))
        auth_handle(self);
    while (self->handshakes && (zsock_events(self->handshakes) & ZMQ_POLLIN))
        auth_handshake(self);
    int64_t now = zclock_mono();
    account_pause(self, now);
    run_timers(self, now);
    dispatch(self, now);
    finish_tasks(self, now);
    for (int i = 0; i < DRAIN_LIMIT; i++) {
        if (receive_one(self, now)) {
            now = zclock_mono();
            check_markers(self);
        } else if (!expire_workers(self, now = zclock_mono())) {
            self->armed = true;
            self->awake_until = now;
            return;
        }
        dispatch(self, now);
        finish_tasks(self, now);
    }
    self->awake_until = now;    //  busy all along, more to read
}

//  One wake-up: unless the last round left the router armed, a round
//  first (something may have been sent since); then one poll(2) on the
//  sockets' descriptors until a message or the next timer; then a round.
//  About one blocking poll and two non-blocking command checks of
//  libzmq per wake-up, where zmq_poll() adds two more.
int
daisy_broker_poll(daisy_broker_t *self, int timeout_ms)
{
    if (self->armed)    //  the caller's time counts too (a round of work counts it)
        account_pause(self, zclock_mono());
    else
        work(self);
    int64_t now = zclock_mono();
    int64_t wait = self->armed ? next_timer(self, now) : 0;
    if (timeout_ms >= 0 && wait > timeout_ms)
        wait = timeout_ms;
    self->awake_until = now + wait;
    struct pollfd fds[3] = {
        {.fd = self->router_fd, .events = POLLIN},
        {.fd = self->zap ? zsock_fd(self->zap) : -1, .events = POLLIN},
        {.fd = self->handshakes ? zsock_fd(self->handshakes) : -1, .events = POLLIN},
    };
    if (wait > 0 && poll(fds, self->zap ? 3 : 1, (int)wait) < 0 && errno == EINTR)
        return -1;
    work(self);
    return 0;
}

//  Life cycle ---------------------------------------------------------------

//  A port of * or ! is left to the kernel (libzmq binds port 0), not to
//  czmq, whose * takes the first free port from 49152 and whose ! draws
//  from a generator seeded with the time: two runs started in the same
//  second would get the same port, and a dying run's workers, which libzmq
//  reconnects by itself, would find the new run there.
//  ipc://* : a Unix socket in a directory of this broker's own (rundir.c).
//  Not libzmq's own ipc://*, which removes its directory later, when its
//  I/O thread gets to it.
static int
bind_private(daisy_broker_t *self)
{
    if (rundir_make(self->private_dir, sizeof self->private_dir) != 0)
        return -1;
    return zsock_bind(self->router, "ipc://%s/broker", self->private_dir) < 0 ? -1 : 0;
}

static int
bind_router(daisy_broker_t *self)
{
    const char *ep = self->opt.bind;
    if (!strcmp(ep, "ipc://*"))
        return bind_private(self);
    size_t n = strlen(ep);
    bool any = n > 2 && !strncmp(ep, "tcp://", 6) && ep[n - 2] == ':'
               && (ep[n - 1] == '*' || ep[n - 1] == '!');
    if (!any)
        return zsock_bind(self->router, "%s", ep) < 0 ? -1 : 0;
    char kernel[512];
    snprintf(kernel, sizeof kernel, "%.*s*", (int)(n - 1), ep);
    return zmq_bind(self->router_handle, kernel);
}

static int
bind_sockets(daisy_broker_t *self, daisy_error_t *err)
{
    self->router = zsock_new(ZMQ_ROUTER);
    self->pub = self->opt.publish ? zsock_new(ZMQ_PUB) : NULL;
    if (!self->router || (self->opt.publish && !self->pub))
        return daisy_error_set(err, "cannot create the broker's sockets");
    zsock_set_maxmsgsize(self->router, DAISY_MAX_FRAME);
    zsock_set_router_handover(self->router, 1);
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_sndhwm(self->router, 0);
    zsock_set_rcvhwm(self->router, 0);
    zsock_set_linger(self->router, 200);
    //  Thousands of workers may connect at once (a SLURM array starting):
    //  libzmq's listen backlog of 100 overflows, and they retry for 30 s.
    zsock_set_backlog(self->router, 4096);
    if (self->pub) {
        zsock_set_sndhwm(self->pub, 10000);
        zsock_set_linger(self->pub, 1000);
    }
    //  Security options apply to connections accepted after bind.
    if (auth_setup(self, err) != 0)
        return -1;
    self->router_handle = zsock_resolve(self->router);
    size_t fd_size = sizeof self->router_fd;
    zmq_getsockopt(self->router_handle, ZMQ_FD, &self->router_fd, &fd_size);
    if (bind_router(self) < 0)
        return daisy_error_set(err, "cannot bind workers' endpoint '%s': %s", self->opt.bind,
                               zmq_strerror(zmq_errno()));
    self->endpoint = zsock_last_endpoint(self->router);
    self->advertised = self->endpoint ? advertise_endpoint(self->endpoint, self->opt.advertise)
                                      : NULL;
    if (self->pub && zsock_bind(self->pub, "%s", self->opt.publish) < 0)
        return daisy_error_set(err, "cannot bind progress endpoint '%s': %s",
                               self->opt.publish, zmq_strerror(zmq_errno()));
    if (self->pub)
        self->pub_endpoint = zsock_last_endpoint(self->pub);
    return 0;
}

static int
init_tasks(daisy_broker_t *self)
{
    self->ntasks = daisy_graph_task_count(self->graph);
    self->tasks = calloc(self->ntasks ? self->ntasks : 1, sizeof *self->tasks);
    if (!self->tasks)
        return -1;
    const daisy_pipeline_t *p = daisy_graph_pipeline(self->graph);
    for (uint32_t t = 0; t < self->ntasks; t++) {
        dlist_init(&self->tasks[t].parked);
        dlist_init(&self->tasks[t].leases);
        self->tasks[t].timeout_ms = daisy_task_timeout_ms(daisy_pipeline_task(p, t));
    }
    return 0;
}

static int
open_markers(daisy_broker_t *self, daisy_error_t *err)
{
    if (!self->opt.markers_dir)
        return 0;
    uint32_t n = daisy_graph_task_count(self->graph);
    self->markers = calloc(n ? n : 1, sizeof *self->markers);
    if (!self->markers)
        return daisy_error_set(err, "out of memory");
    for (uint32_t t = 0; t < n; t++)
        if (!(self->markers[t] = daisy_markers_open(self->opt.markers_dir, self->graph, t,
                                                    self->opt.reset_markers, err)))
            return -1;
    return 0;
}

//  A resume (markers recorded before, with or without marks) may follow a
//  broker killed while
//  workers ran blocks, and those workers, launched apart from it, may live
//  on: they reconnect within liveness x heartbeat and learn that their
//  blocks are no longer theirs (WELCOME's `held`, or `wrong_run`), and only
//  then are their commands stopped. Until then no block is handed out, so
//  that none runs twice at once. Not on a private socket (ipc://*, daisy
//  run): it is new, no worker of another run can reach it, and that run's
//  own workers died with it, their commands too.
static void
resume_grace(daisy_broker_t *self)
{
    if (self->private_dir[0])
        return;
    uint64_t marked = 0;
    bool resumed = false;
    for (uint32_t t = 0; self->markers && t < daisy_graph_task_count(self->graph); t++) {
        marked += self->markers[t] ? daisy_markers_count(self->markers[t]) : 0;
        resumed |= daisy_markers_resumed(self->markers[t]);
    }
    if (!resumed)       //  new markers: no run of this pipeline was here
        return;
    int64_t grace = (int64_t)self->opt.liveness * self->opt.heartbeat_ms;
    self->serve_from = zclock_mono() + grace;
    broker_log(self, "resuming from %llu done blocks: the first blocks go out in %.1f s, once "
               "workers of the stopped run have reconnected and stopped theirs",
               (unsigned long long)marked, grace / 1000.0);
}

static void
close_markers(daisy_broker_t *self)
{
    for (uint32_t t = 0; self->markers && t < daisy_graph_task_count(self->graph); t++)
        daisy_markers_close(&self->markers[t]);
    free(self->markers);
    self->markers = NULL;
}

//  The caller's run id, or 16 random hex digits: two runs on one host
//  (even one after the other, on the same port, with the same task and
//  worker ids) never take each other's workers.
static int
set_run_id(daisy_broker_t *self, daisy_error_t *err)
{
    const char *given = self->opt.run_id;
    if (given && *given) {
        if (!daisy_run_id_valid(given))
            return daisy_error_set(err, "run id '%.64s': expected 1 to %d letters, digits, "
                                   "'-', '_' or '.'", given, DAISY_MAX_RUN_ID);
        memcpy(self->run_id, given, strlen(given) + 1);
        return 0;
    }
    uint8_t bytes[8];
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes)
        return daisy_error_set(err, "cannot draw a run id: %s", strerror(errno));
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf(self->run_id + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

//  czmq's first use (zsys_init) installs its own SIGINT and SIGTERM
//  handlers, which outlive the broker: a library leaves the caller's
//  signal dispositions as it found them. A program that wants czmq's
//  handlers still has zsys_catch_interrupts().
static void
czmq_init_leaving_signals(void)
{
    struct sigaction sigint, sigterm;
    sigaction(SIGINT, NULL, &sigint);
    sigaction(SIGTERM, NULL, &sigterm);
    zsys_init();
    sigaction(SIGINT, &sigint, NULL);
    sigaction(SIGTERM, &sigterm, NULL);
}

daisy_broker_t *
daisy_broker_new(const daisy_graph_t *graph, const daisy_broker_options_t *options,
                 daisy_error_t *err)
{
    static pthread_once_t czmq_once = PTHREAD_ONCE_INIT;
    pthread_once(&czmq_once, czmq_init_leaving_signals);
    daisy_broker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->graph = graph;
    self->opt = options ? *options : daisy_broker_options_default();
    if (self->opt.heartbeat_ms == 0)
        self->opt.heartbeat_ms = 1000;
    if (self->opt.liveness == 0)
        self->opt.liveness = 3;
    if (self->opt.heartbeat_rate == 0)
        self->opt.heartbeat_rate = 1000;
    pace_init(self);
    if (self->opt.snapshot_ms == 0)
        self->opt.snapshot_ms = 1000;
    if (self->opt.max_held == 0)
        self->opt.max_held = 64;
    gethostname(self->hostname, sizeof self->hostname - 1);
    daisy_broker_set_log_dir(self, self->opt.log_dir);
    self->opt.log_dir = NULL;   //  the caller's string; self->log_dir is ours
    if (set_run_id(self, err) != 0) {
        free(self->log_dir);
        free(self);
        return NULL;
    }
    dlist_init(&self->by_heard);
    dlist_init(&self->by_sent);
    dlist_init(&self->late);
    int rc = open_markers(self, err);
    if (rc == 0 && !(self->scheduler = daisy_scheduler_new_resumed(graph, self->markers, err)))
        rc = -1;
    //  Completion checks run on the workers, in parallel, never here: the
    //  broker's loop must not wait on a task's check function.
    for (uint32_t t = 0; rc == 0 && t < daisy_graph_task_count(graph); t++)
        daisy_scheduler_set_check(self->scheduler, t, NULL, NULL);
    self->summary = rc == 0 ? daisy_summary_new(graph) : NULL;
    self->workers = zhashx_new();
    if (self->workers) {    //  keys are the workers' own idkey_t: not copied, not freed
        zhashx_set_key_hasher(self->workers, roster_key_hash);
        zhashx_set_key_comparator(self->workers, roster_key_compare);
        zhashx_set_key_duplicator(self->workers, NULL);
        zhashx_set_key_destructor(self->workers, NULL);
    }
    self->by_id = zhashx_new();
    self->decoder = daisy_decoder_new();
    self->scratch = calloc(DAISY_MAX_BATCH, sizeof *self->scratch);
    self->wire = calloc(DAISY_MAX_BATCH, sizeof *self->wire);
    if (rc == 0 && (!self->summary || !self->workers || !self->by_id || !self->decoder
                    || !self->scratch || !self->wire || init_tasks(self) != 0
                    || stats_init(self) != 0))
        rc = daisy_error_set(err, "out of memory");
    if (rc == 0)
        rc = bind_sockets(self, err);
    if (rc == 0 && progress_track_blocks(self) != 0)
        rc = daisy_error_set(err, "out of memory (block states for the progress feed: one "
                             "byte per block)");
    if (rc != 0) {
        daisy_broker_destroy(&self);
        return NULL;
    }
    self->last_snapshot = self->last_changes = zclock_mono();
    resume_grace(self);
    return self;
}

void
daisy_broker_destroy(daisy_broker_t **self_p)
{
    daisy_broker_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->workers && self->by_id)
        roster_destroy_all(self);
    zhashx_destroy(&self->workers);
    zhashx_destroy(&self->by_id);
    stats_destroy(self);
    progress_free_blocks(self);
    auth_teardown(self);    //  before the router: it stops the router's monitor
    zsock_destroy(&self->router);
    rundir_remove(self->private_dir);     //  after the router is closed
    zsock_destroy(&self->pub);
    zstr_free(&self->endpoint);
    free(self->advertised);
    free(self->log_dir);
    zstr_free(&self->pub_endpoint);
    daisy_decoder_destroy(&self->decoder);
    daisy_buffer_free(&self->out);
    daisy_buffer_free(&self->evt);
    daisy_summary_destroy(&self->summary);
    daisy_scheduler_destroy(&self->scheduler);
    close_markers(self);
    free(self->scratch);
    free(self->wire);
    free(self->tasks);
    free(self);
    *self_p = NULL;
}

bool
daisy_broker_done(const daisy_broker_t *self)
{
    return daisy_scheduler_done(self->scheduler);
}

void
daisy_broker_finish(daisy_broker_t *self, bool interrupted)
{
    if (self->finished)
        return;
    self->finished = true;
    int64_t now = zclock_mono();
    //  Blocks still held (an interrupted run) stay counted as processing:
    //  they did not fail, and a rerun with markers runs them again.
    for (dnode_t *n = self->by_heard.next; n != &self->by_heard; n = n->next)
        tell_shutdown(self, dlist_entry(n, worker_t, by_heard),
                      interrupted ? "interrupted" : "run finished", now);
    progress_snapshot(self, now);
    progress_flush_changes(self, now);
    progress_block_snapshots(self, UINT64_MAX);
    flush_markers(self);
    log_window_roll(self, self->log_window + 1000);   //  the last hidden count
    daisy_summary_update(self->summary, self->scheduler);
    progress_run_stats(self);
    progress_run_finished(self, interrupted);
}

void
daisy_broker_stop(daisy_broker_t *self)
{
    int saved = errno;      //  we may be inside a signal handler
    __atomic_add_fetch(&self->stops, 1, __ATOMIC_RELEASE);
    errno = saved;
}

unsigned
daisy_broker_stop_requests(const daisy_broker_t *self)
{
    return __atomic_load_n(&self->stops, __ATOMIC_ACQUIRE);
}

const char *
daisy_broker_failure(const daisy_broker_t *self)
{
    return self->failed ? self->failure.msg : NULL;
}

void
daisy_broker_drain(daisy_broker_t *self)
{
    self->draining = true;
}

uint64_t
daisy_broker_held(const daisy_broker_t *self)
{
    return self->held;
}

void
daisy_broker_process_died(daisy_broker_t *self, pid_t pid)
{
    dnode_t *n = self->by_heard.next;
    while (n != &self->by_heard) {
        worker_t *w = dlist_entry(n, worker_t, by_heard);
        n = n->next;
        if (w->pid == pid && w->host && strcmp(w->host, self->hostname) == 0) {
            lose_worker(self, w, "process died");
            n = self->by_heard.next;   //  losing may have changed the list
        }
    }
}

void
daisy_broker_worker_gone(daisy_broker_t *self, const char *worker_id, const char *reason)
{
    worker_t *w = roster_by_id(self, worker_id);
    if (w)
        lose_worker(self, w, reason);
}

bool
daisy_broker_has_worker(const daisy_broker_t *self, const char *worker_id)
{
    return roster_by_id(self, worker_id) != NULL;
}

uint64_t
daisy_broker_abandon(daisy_broker_t *self, uint32_t task, const char *reason)
{
    if (task >= self->ntasks)
        return 0;
    //  Leases of the task are void: the scheduler takes its blocks back.
    int64_t now = zclock_mono();
    dnode_t *n = self->by_heard.next;
    while (n != &self->by_heard) {
        worker_t *w = dlist_entry(n, worker_t, by_heard);
        n = n->next;
        if (w->task != task)
            continue;
        tell_shutdown(self, w, reason, now);
        progress_worker(self, w, DAISY_EVT_WORKER_LOST, reason);
        roster_remove(self, w);
    }
    uint64_t orphaned = daisy_scheduler_abandon(self->scheduler, task);
    char note[512];
    snprintf(note, sizeof note, "abandoned: %s", reason);
    daisy_summary_set_note(self->summary, task, note);
    finish_tasks(self, now);
    return orphaned;
}

const char *
daisy_broker_endpoint(const daisy_broker_t *self)
{
    return self->endpoint;
}

void
daisy_broker_set_log_dir(daisy_broker_t *self, const char *dir)
{
    char *copy = dir ? strdup(dir) : NULL;
    free(self->log_dir);
    self->log_dir = copy;
}

const char *
daisy_broker_run_id(const daisy_broker_t *self)
{
    return self->run_id;
}

const char *
daisy_broker_advertised(const daisy_broker_t *self)
{
    return self->advertised;
}

const char *
daisy_broker_publish_endpoint(const daisy_broker_t *self)
{
    return self->pub_endpoint;
}

const daisy_scheduler_t *
daisy_broker_scheduler(const daisy_broker_t *self)
{
    return self->scheduler;
}

const daisy_summary_t *
daisy_broker_summary(daisy_broker_t *self)
{
    daisy_summary_update(self->summary, self->scheduler);
    return self->summary;
}

void
daisy_broker_stats(const daisy_broker_t *self, daisy_broker_stats_t *stats)
{
    *stats = self->stats;
}

uint32_t
daisy_broker_worker_count(const daisy_broker_t *self, uint32_t task)
{
    return task < self->ntasks ? self->tasks[task].nworkers : 0;
}
