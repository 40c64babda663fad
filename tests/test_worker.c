/*  test_worker.c - the worker loop against a broker played by hand

    The real worker loop (daisy_worker_run) runs in a thread of this
    process; the test thread plays its broker on a raw ROUTER socket,
    reading every message the worker sends and answering with hand-made
    ones. So what the worker says, and when, is checked message by
    message: the HELLO it introduces itself with; a prefetch window that
    asks exactly as many credits as it released and never more than the
    window; each block reported as started before it runs, in order; a
    refusal for another run that ends the run at once, with no reconnect;
    SHUTDOWN; a reconnect after the broker's silence that says HELLO with
    the same id and sends its results again; heartbeats that go on while a
    long block runs (the keeper thread); daisy_worker_stop() during a
    block that fails because of the stop: BYE, no failure reported, 1; and
    a block that starts while the worker reconnects, whose start must still
    reach the broker once it is welcomed again.

    Process functions never sleep to make a point: where a test needs a
    block to run until something happened at the broker (its start was
    seen, heartbeats came, stop was called) the function waits for exactly
    that, with a generous deadline, and a wait that ran out is a failure.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daisy/protocol.h"
#include "daisy/worker.h"
#include "testutil.h"

#define RUN "run-a"
#define WORKER_ID "w-1"
#define DEADLINE_MS 5000    //  for anything that must happen
#define QUIET_MS 300        //  to see that something does not
#define MAX_ID 256          //  block ids handed out stay below this

//  Shared by the test thread (the broker) and the process function.
static struct {
    bool wait_started;          //  run a block only once its start was seen
    bool wait_heartbeats;       //  run until the broker read two heartbeats
    bool wait_stop;             //  run until stop was called, then fail
    bool wait_rejoin;           //  block 1 runs until the worker said HELLO again,
                                //  block 2 until the broker saw its start
    bool wait_abort;            //  block 1 runs until the abort hook was called
    bool wait_unhold;           //  block 1 runs until the hold hook said go on
    bool wait_go;               //  block 1 runs until the test says `go`
    atomic_int go;
    atomic_int aborted;         //  abort hook calls
    atomic_int held, unheld;    //  hold hook calls with true, false
    atomic_int events;          //  abort and hold hook calls, counted together
    atomic_int aborted_at, unheld_at;   //  `events` when each was last called
    atomic_int hellos;          //  HELLOs the broker read (wait_rejoin)
    atomic_int running2;        //  block 2 runs (wait_rejoin)
    atomic_int seen_start[MAX_ID];  //  the broker read the block's start
    atomic_int heartbeats;      //  HEARTBEATs the broker read
    atomic_int stats;           //  STATS the broker read
    uint64_t last_rss_kb;       //  in the last of them (test thread only)
    atomic_int stop_called;
    atomic_int calls;           //  process function calls
    atomic_ullong order[MAX_ID];    //  block ids in the order they ran
    atomic_int missed;          //  waits that ran out
    atomic_int quit;            //  teardown: stop waiting
} sh;

static struct {
    void *ctx;
    void *router;
    char endpoint[256];
    daisy_decoder_t *dec;
    daisy_buffer_t buf;
    daisy_worker_t *worker;
    pthread_t thread;
    bool running;               //  the thread was started and not joined
    int rc;
    daisy_error_t err;
    bool echo;                  //  answer each heartbeat with one
    uint8_t peer[256];          //  the worker's routing id, from its first message
    size_t peer_size;
} fx;

static void
nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000};
    nanosleep(&ts, NULL);
}

//  In the worker's thread: wait until *flag >= value; false after the
//  deadline (counted as missed).
static bool
wait_for(atomic_int *flag, int value)
{
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (atomic_load(flag) < value) {
        if (tu_now_ms() >= deadline || atomic_load(&sh.quit)) {
            atomic_fetch_add(&sh.missed, 1);
            return false;
        }
        nap_ms(1);
    }
    return true;
}

static int
process(const daisy_block_t *block, void *arg)
{
    (void)arg;
    int k = atomic_fetch_add(&sh.calls, 1);
    if (k < MAX_ID)
        atomic_store(&sh.order[k], block->block_id);
    if (sh.wait_started && block->block_id < MAX_ID)
        wait_for(&sh.seen_start[block->block_id], 1);
    if (sh.wait_heartbeats)
        wait_for(&sh.heartbeats, atomic_load(&sh.heartbeats) + 2);
    if (sh.wait_rejoin && block->block_id == 1)
        wait_for(&sh.hellos, 2);
    if (sh.wait_rejoin && block->block_id == 2) {
        atomic_store(&sh.running2, 1);
        wait_for(&sh.seen_start[2], 1);
    }
    if (sh.wait_abort && block->block_id == 1)
        wait_for(&sh.aborted, 1);
    if (sh.wait_unhold && block->block_id == 1)
        wait_for(&sh.unheld, 1);
    if (sh.wait_go && block->block_id == 1)
        wait_for(&sh.go, 1);
    if (sh.wait_stop) {
        wait_for(&sh.stop_called, 1);
        return 1;   //  as a command killed by the same SIGTERM would
    }
    return 0;
}

static void
teardown(void)
{
    atomic_store(&sh.quit, 1);
    if (fx.running) {
        daisy_worker_stop(fx.worker);
        pthread_join(fx.thread, NULL);
    }
    daisy_worker_destroy(&fx.worker);
    if (fx.router)
        zmq_close(fx.router);
    if (fx.ctx)
        zmq_ctx_term(fx.ctx);
    daisy_decoder_destroy(&fx.dec);
    daisy_buffer_free(&fx.buf);
    memset(&fx, 0, sizeof fx);
    memset(&sh, 0, sizeof sh);  //  the worker's thread is gone
}

TestSuite(worker, .fini = teardown, .timeout = 60);

static void *
worker_main(void *arg)
{
    (void)arg;
    fx.rc = daisy_worker_run(fx.worker, process, NULL, &fx.err);
    return NULL;
}

typedef struct {
    uint32_t prefetch;
    const char *run_id;
    uint32_t reconnect_max_ms;
    void (*abort)(void *arg);
    void (*hold)(void *arg, bool hold);
} cfg_t;

//  Bind the fake broker, then start a worker of task "a" against it.
static void
start(cfg_t cfg)
{
    fx.ctx = zmq_ctx_new();
    fx.dec = daisy_decoder_new();
    cr_assert_not_null(fx.ctx);
    cr_assert_not_null(fx.dec);
    fx.router = zmq_socket(fx.ctx, ZMQ_ROUTER);
    cr_assert_not_null(fx.router);
    int one = 1, linger = 0;
    //  As the real broker: a reconnecting worker takes its id over.
    cr_assert_eq(zmq_setsockopt(fx.router, ZMQ_ROUTER_HANDOVER, &one, sizeof one), 0);
    cr_assert_eq(zmq_setsockopt(fx.router, ZMQ_LINGER, &linger, sizeof linger), 0);
    cr_assert_eq(zmq_bind(fx.router, "tcp://127.0.0.1:*"), 0, "%s", zmq_strerror(zmq_errno()));
    size_t len = sizeof fx.endpoint;
    cr_assert_eq(zmq_getsockopt(fx.router, ZMQ_LAST_ENDPOINT, fx.endpoint, &len), 0);

    daisy_worker_options_t opt = daisy_worker_options_default();
    opt.endpoint = fx.endpoint;
    opt.task_id = "a";
    opt.worker_id = WORKER_ID;
    opt.run_id = cfg.run_id;
    opt.prefetch = cfg.prefetch;
    if (cfg.reconnect_max_ms)
        opt.reconnect_max_ms = cfg.reconnect_max_ms;
    daisy_error_t err;
    fx.worker = daisy_worker_new(&opt, &err);
    cr_assert_not_null(fx.worker, "%s", err.msg);
    daisy_worker_set_abort(fx.worker, cfg.abort, NULL);
    daisy_worker_set_hold(fx.worker, cfg.hold, NULL);
    cr_assert_eq(pthread_create(&fx.thread, NULL, worker_main, NULL), 0);
    fx.running = true;
}

//  Wait for daisy_worker_run to return; its result is fx.rc.
static void
join_worker(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += DEADLINE_MS / 1000;
    int rc = pthread_timedjoin_np(fx.thread, NULL, &ts);
    cr_assert_eq(rc, 0, "daisy_worker_run did not return");
    fx.running = false;
}

//  The broker's side ----------------------------------------------------------

static void
send_msg(const daisy_msg_t *msg)
{
    cr_assert_eq(daisy_encode(msg, &fx.buf), 0);
    cr_assert_gt(fx.peer_size, 0, "nothing to answer yet");
    cr_assert_eq(zmq_send(fx.router, fx.peer, fx.peer_size, ZMQ_SNDMORE), (int)fx.peer_size);
    cr_assert_eq(zmq_send(fx.router, fx.buf.data, fx.buf.size, 0), (int)fx.buf.size);
}

//  The next message from the worker, heartbeats included; false after ms.
static bool
recv_any(int ms, daisy_msg_t *msg)
{
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        int64_t left = deadline - tu_now_ms();
        if (left < 0)
            left = 0;
        zmq_pollitem_t item = {fx.router, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long)left);
        cr_assert_geq(rc, 0, "%s", zmq_strerror(zmq_errno()));
        if (rc == 0)
            return false;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        cr_assert_geq(zmq_msg_recv(&id, fx.router, 0), 0);
        cr_assert(zmq_msg_more(&id));
        cr_assert_geq(zmq_msg_recv(&body, fx.router, 0), 0);
        cr_assert_not(zmq_msg_more(&body), "a message is one frame");
        //  Replies go to the routing id the worker uses; it keeps one id
        //  for the whole run (the broker hands it over on a reconnect).
        size_t idsize = zmq_msg_size(&id);
        cr_assert(idsize > 0 && idsize <= sizeof fx.peer);
        if (fx.peer_size == 0) {
            memcpy(fx.peer, zmq_msg_data(&id), idsize);
            fx.peer_size = idsize;
        }
        cr_assert(idsize == fx.peer_size && memcmp(zmq_msg_data(&id), fx.peer, idsize) == 0,
                  "the worker changed its routing id to %.*s", (int)idsize,
                  (const char *)zmq_msg_data(&id));
        daisy_error_t err;
        daisy_proto_error_t code = daisy_decode(fx.dec, zmq_msg_data(&body),
                                                zmq_msg_size(&body), msg, &err);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        cr_assert_eq(code, DAISY_PROTO_OK, "the worker sent an undecodable message: %s",
                     err.msg);
        return true;
    }
}

//  The next message other than HEARTBEAT (counted, and answered when
//  fx.echo) and STATS (counted); false after ms.
static bool
recv_msg(int ms, daisy_msg_t *msg)
{
    int64_t deadline = tu_now_ms() + ms;
    for (;;) {
        int64_t left = deadline - tu_now_ms();
        if (!recv_any(left > 0 ? (int)left : 0, msg))
            return false;
        if (msg->type == DAISY_MSG_STATS) {
            atomic_fetch_add(&sh.stats, 1);
            sh.last_rss_kb = msg->u.stats.peak_rss_kb;
            continue;
        }
        if (msg->type != DAISY_MSG_HEARTBEAT)
            return true;
        atomic_fetch_add(&sh.heartbeats, 1);
        if (fx.echo) {
            daisy_msg_t hb = {.type = DAISY_MSG_HEARTBEAT};
            send_msg(&hb);
        }
    }
}

static daisy_msg_t
expect(daisy_msg_type_t type)
{
    daisy_msg_t msg;
    cr_assert(recv_msg(DEADLINE_MS, &msg), "no %s came", daisy_msg_name(type));
    cr_assert_eq(msg.type, type, "expected %s, got %s", daisy_msg_name(type),
                 daisy_msg_name(msg.type));
    return msg;
}

//  WELCOME, saying the broker holds `held` of the worker's blocks (a
//  reconnect it did not give up on; 0 for a new session).
static void
welcome_holding(uint32_t heartbeat_ms, uint32_t liveness, uint32_t held)
{
    daisy_msg_t msg = {.type = DAISY_MSG_WELCOME};
    msg.u.welcome.task_id = "a";
    msg.u.welcome.heartbeat_ms = heartbeat_ms;
    msg.u.welcome.liveness = liveness;
    msg.u.welcome.dims = 1;
    msg.u.welcome.held = held;
    send_msg(&msg);
}

static void
welcome(uint32_t heartbeat_ms, uint32_t liveness)
{
    welcome_holding(heartbeat_ms, liveness, 0);
}

//  Blocks first, first + 1, ... (attempt 0).
static void
send_blocks(uint64_t first, uint32_t n)
{
    daisy_wire_block_t blocks[MAX_ID];
    cr_assert_leq(n, MAX_ID);
    for (uint32_t i = 0; i < n; i++) {
        int64_t off = 10 * (int64_t)(first + i), shape = 10;
        blocks[i] = (daisy_wire_block_t){.block_id = first + i, .attempt = 0, .level = 0,
                                         .read_roi = daisy_roi_make(1, &off, &shape),
                                         .write_roi = daisy_roi_make(1, &off, &shape)};
    }
    daisy_msg_t msg = {.type = DAISY_MSG_BLOCKS};
    msg.u.blocks.task_id = "a";
    msg.u.blocks.count = n;
    msg.u.blocks.blocks = blocks;
    send_msg(&msg);
}

static void
shutdown_worker(void)
{
    daisy_msg_t msg = {.type = DAISY_MSG_SHUTDOWN};
    msg.u.shutdown.reason = "task done";
    send_msg(&msg);
}

//  HELLO (checked) and WELCOME.
static void
greet(uint32_t prefetch, uint32_t heartbeat_ms, uint32_t liveness)
{
    daisy_msg_t h = expect(DAISY_MSG_HELLO);
    cr_assert_str_eq(h.u.hello.task_id, "a");
    cr_assert_str_eq(h.u.hello.worker_id, WORKER_ID);
    cr_assert_str_eq(h.u.hello.run_id, RUN);
    cr_assert_eq(h.u.hello.prefetch, prefetch);
    welcome(heartbeat_ms, liveness);
}

//  Tests --------------------------------------------------------------------------

Test(worker, hello_introduces_the_worker_and_shutdown_ends_the_run_with_0)
{
    start((cfg_t){.prefetch = 3, .run_id = RUN});
    daisy_msg_t h = expect(DAISY_MSG_HELLO);
    cr_assert_str_eq(h.u.hello.task_id, "a");
    cr_assert_str_eq(h.u.hello.worker_id, WORKER_ID);
    cr_assert_str_eq(h.u.hello.run_id, RUN);
    cr_assert_eq(h.u.hello.prefetch, 3);
    cr_assert_eq(h.u.hello.pid, (int64_t)getpid());
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    cr_assert_str_eq(h.u.hello.host, host);
    welcome(1000, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 3);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
    cr_assert_eq(atomic_load(&sh.calls), 0);
    cr_assert_eq(daisy_worker_processed(fx.worker), 0);
}

//  A block's start, from STARTED or RELEASE.started: in the order blocks
//  were handed out, for a block handed out and not yet released.
static void
note_start(const daisy_wire_lease_t *s, uint64_t *next_start, uint64_t next_id,
           const bool *released)
{
    cr_assert_eq(s->block_id, *next_start, "start of block %llu, expected %llu",
                 (unsigned long long)s->block_id, (unsigned long long)*next_start);
    cr_assert_lt(s->block_id, next_id, "start of a block not handed out");
    cr_assert_not(released[s->block_id], "start of a block already released");
    cr_assert_eq(s->attempt, 0);
    atomic_store(&sh.seen_start[s->block_id], 1);
    (*next_start)++;
}

Test(worker, the_prefetch_window_asks_what_was_released_and_starts_are_reported_first)
{
    const uint32_t prefetch = 4, total = 60;
    sh.wait_started = true;
    start((cfg_t){.prefetch = prefetch, .run_id = RUN});
    greet(prefetch, 1000, 3);
    daisy_msg_t m = expect(DAISY_MSG_REQUEST);
    cr_assert_eq(m.u.request.credits, prefetch, "the first REQUEST asks the whole window");
    uint64_t asked = prefetch, sent = 0, results = 0, next_id = 1, next_start = 1;
    bool released[MAX_ID] = {false};
    uint32_t batch = 1;     //  hand blocks out in varying batches
    for (;;) {
        //  Serve what is owed, as a broker would, in batches of 1, 2, 3, ...
        uint64_t owed = asked - sent;
        while (owed > 0 && sent < total) {
            uint32_t n = batch < owed ? batch : (uint32_t)owed;
            if (n > total - sent)
                n = (uint32_t)(total - sent);
            send_blocks(next_id, n);
            next_id += n;
            sent += n;
            owed -= n;
            batch = batch % 3 + 1;
        }
        if (results == total && asked == prefetch + results)
            break;
        cr_assert(recv_msg(DEADLINE_MS, &m), "the worker stopped talking: %llu of %u results",
                  (unsigned long long)results, total);
        switch (m.type) {
        case DAISY_MSG_REQUEST:
            asked += m.u.request.credits;
            break;
        case DAISY_MSG_STARTED:
            note_start(&m.u.started, &next_start, next_id, released);
            break;
        case DAISY_MSG_RELEASE:
            for (uint32_t i = 0; i < m.u.release.count; i++) {
                const daisy_wire_result_t *r = &m.u.release.results[i];
                cr_assert_lt(r->block_id, next_id, "result for a block not handed out");
                cr_assert_not(released[r->block_id], "block %llu released twice",
                              (unsigned long long)r->block_id);
                cr_assert(atomic_load(&sh.seen_start[r->block_id]),
                          "result for block %llu before its start",
                          (unsigned long long)r->block_id);
                cr_assert_eq(r->status, DAISY_RESULT_SUCCESS, "%s", r->error);
                cr_assert_eq(r->attempt, 0);
                released[r->block_id] = true;
                results++;
            }
            if (m.u.release.has_started)
                note_start(&m.u.release.started, &next_start, next_id, released);
            asked += m.u.release.credits;
            break;
        default:
            cr_assert_fail("unexpected %s", daisy_msg_name(m.type));
        }
        //  Credits owed plus blocks held never exceed the window.
        cr_assert_leq(asked - results, prefetch,
                      "asked %llu credits with %llu results released (window %u)",
                      (unsigned long long)asked, (unsigned long long)results, prefetch);
    }
    cr_assert_eq(asked - prefetch, results, "credits asked back = blocks released");
    cr_assert_eq(next_start, total + 1, "every block's start was reported");
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
    cr_assert_eq(atomic_load(&sh.missed), 0, "a block ran before the broker saw its start");
    cr_assert_eq(atomic_load(&sh.calls), (int)total);
    for (uint32_t i = 0; i < total; i++)
        cr_assert_eq(atomic_load(&sh.order[i]), i + 1, "blocks run in the order received");
    cr_assert_eq(daisy_worker_processed(fx.worker), total);
}

Test(worker, wrong_run_ends_the_run_at_once_without_reconnecting)
{
    start((cfg_t){.prefetch = 1, .run_id = "run-z", .reconnect_max_ms = 100});
    daisy_msg_t h = expect(DAISY_MSG_HELLO);
    cr_assert_str_eq(h.u.hello.run_id, "run-z");
    daisy_msg_t e = {.type = DAISY_MSG_ERROR};
    e.u.error.code = DAISY_PROTO_WRONG_RUN;
    e.u.error.text = "hello: worker w-1 was started for run run-z, this broker serves run run-q";
    send_msg(&e);
    join_worker();
    cr_assert_eq(fx.rc, -1);
    cr_assert(strstr(fx.err.msg, "run-z"), "the message names the run: %s", fx.err.msg);
    //  No second HELLO (a reconnect would come after 100 ms of back-off).
    daisy_msg_t m;
    while (recv_msg(QUIET_MS, &m))
        cr_assert_neq(m.type, DAISY_MSG_HELLO, "the worker said hello again");
    cr_assert_eq(atomic_load(&sh.calls), 0);
}

Test(worker, after_the_broker_went_silent_it_says_hello_again_and_resends_results)
{
    start((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100});
    //  Short liveness: 5 x 100 ms of silence and the broker counts as lost.
    greet(1, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    send_blocks(7, 1);
    daisy_msg_t m;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no result for block 7");
        if (m.type == DAISY_MSG_STARTED)
            continue;
        cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
        if (m.u.release.count > 0)
            break;
    }
    cr_assert_eq(m.u.release.count, 1);
    cr_assert_eq(m.u.release.results[0].block_id, 7);
    //  Silence now: no answers, no heartbeats. The worker comes back.
    fx.echo = false;
    daisy_msg_t h = expect(DAISY_MSG_HELLO);
    cr_assert_str_eq(h.u.hello.worker_id, WORKER_ID);
    cr_assert_str_eq(h.u.hello.run_id, RUN);
    welcome_holding(1000, 3, 1);     //  the broker still holds block 7
    //  The result may never have been read: it goes again, and returns no
    //  credit twice: the window (1) is asked for once on the new connection.
    bool resent = false;
    uint32_t credits = 0;
    while (!resent) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "the result of block 7 was not sent again");
        if (m.type == DAISY_MSG_REQUEST) {
            credits += m.u.request.credits;
            continue;
        }
        cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
        credits += m.u.release.credits;
        for (uint32_t i = 0; i < m.u.release.count; i++)
            if (m.u.release.results[i].block_id == 7) {
                cr_assert_eq(m.u.release.results[i].attempt, 0);
                cr_assert_eq(m.u.release.results[i].status, DAISY_RESULT_SUCCESS);
                resent = true;
            }
    }
    cr_assert_eq(credits, 1, "credits asked after the reconnect: %u", credits);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
    cr_assert_eq(atomic_load(&sh.calls), 1, "the block ran once");
}

//  A WELCOME while connected changes the heartbeat settings only: with a
//  liveness of 3 x 100 ms the worker would give up on a silent broker
//  within a second; told 50 it waits, asks for nothing again, and says no
//  HELLO.
Test(worker, a_second_welcome_changes_only_the_heartbeat_settings)
{
    start((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100});
    greet(1, 100, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    welcome(100, 50);
    fx.echo = false;
    daisy_msg_t m;
    bool other = recv_msg(1500, &m);
    cr_assert_not(other, "after a second WELCOME and 1.5 s of silence the worker sent %s",
                  daisy_msg_name(m.type));
    cr_assert_gt(atomic_load(&sh.heartbeats), 3, "the worker stopped heartbeating");
    fx.echo = true;
    send_blocks(3, 1);
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no result for block 3");
        if (m.type == DAISY_MSG_RELEASE && m.u.release.count > 0)
            break;
    }
    cr_assert_eq(m.u.release.results[0].block_id, 3);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

Test(worker, heartbeats_go_on_while_a_long_block_runs)
{
    //  Heartbeat 40 ms: the keeper takes the socket over after 10 ms. The
    //  block runs until the broker has read two heartbeats sent during it;
    //  liveness 25 gives the broker's echoes a whole second to arrive.
    //  A window of 2, so that the start is told (STARTED) and marks when
    //  the block began.
    sh.wait_heartbeats = true;
    fx.echo = true;
    start((cfg_t){.prefetch = 2, .run_id = RUN});
    greet(2, 40, 25);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 2);
    send_blocks(1, 1);
    daisy_msg_t m;
    int at_start = -1;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no result for block 1");
        if (m.type == DAISY_MSG_STARTED) {
            at_start = atomic_load(&sh.heartbeats);
            continue;
        }
        cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
        if (m.u.release.count > 0)
            break;
    }
    cr_assert_geq(at_start, 0, "no STARTED before the result");
    cr_assert_eq(m.u.release.results[0].block_id, 1);
    cr_assert_eq(m.u.release.results[0].status, DAISY_RESULT_SUCCESS);
    cr_assert_eq(atomic_load(&sh.missed), 0, "no heartbeats came while the block ran");
    cr_assert_geq(atomic_load(&sh.heartbeats) - at_start, 2);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  With a window of one, a block that is all the worker holds counts as
//  started when the broker hands it out: no STARTED goes, and the RELEASE
//  with its result says nothing runs.
Test(worker, a_window_of_one_reports_no_starts)
{
    start((cfg_t){.prefetch = 1, .run_id = RUN});
    greet(1, 1000, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    for (uint64_t id = 1; id <= 3; id++) {
        send_blocks(id, 1);
        daisy_msg_t m = expect(DAISY_MSG_RELEASE);
        cr_assert_eq(m.u.release.count, 1, "block %llu", (unsigned long long)id);
        cr_assert_eq(m.u.release.results[0].block_id, id);
        cr_assert_not(m.u.release.has_started);
        cr_assert_eq(m.u.release.credits, 1);
    }
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
    cr_assert_eq(atomic_load(&sh.calls), 3);
}

Test(worker, stop_during_a_block_says_bye_and_reports_no_failure)
{
    sh.wait_stop = true;
    start((cfg_t){.prefetch = 2, .run_id = RUN});
    greet(2, 1000, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 2);
    send_blocks(1, 2);
    //  Block 1 starts; stop comes while it runs (as a SIGTERM handler would).
    daisy_msg_t m;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "block 1 was not started");
        if (m.type == DAISY_MSG_STARTED) {
            cr_assert_eq(m.u.started.block_id, 1);
            break;
        }
        cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
        cr_assert_eq(m.u.release.count, 0);
        if (m.u.release.has_started) {
            cr_assert_eq(m.u.release.started.block_id, 1);
            break;
        }
    }
    daisy_worker_stop(fx.worker);
    atomic_store(&sh.stop_called, 1);
    //  Then BYE, and no result: neither block 1 failed nor block 2 run.
    int stats_before = atomic_load(&sh.stats);
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no BYE came");
        if (m.type == DAISY_MSG_BYE)
            break;
        cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
        for (uint32_t i = 0; i < m.u.release.count; i++)
            cr_assert_fail("block %llu reported (status %d: %s) after the stop",
                           (unsigned long long)m.u.release.results[i].block_id,
                           (int)m.u.release.results[i].status,
                           m.u.release.results[i].error);
        cr_assert_not(m.u.release.has_started, "a block started after the stop");
        cr_assert_eq(m.u.release.credits, 0, "credits asked while leaving");
    }
    join_worker();
    cr_assert_gt(atomic_load(&sh.stats), stats_before, "no STATS before BYE");
    cr_assert_gt(sh.last_rss_kb, 0, "a process uses some memory");
    cr_assert_eq(fx.rc, 1, "%s", fx.err.msg);
    cr_assert_eq(atomic_load(&sh.missed), 0, "the block never saw the stop");
    cr_assert_eq(atomic_load(&sh.calls), 1, "block 2 was not run");
    cr_assert_eq(daisy_worker_processed(fx.worker), 0);
}

//  A worker reconnecting (HELLO sent, no WELCOME yet) starts none of its
//  queued blocks: the broker may have lost it and given them to others,
//  which the WELCOME says (held 0). Welcomed holding them, it runs them,
//  and the start of each is told (PROTOCOL.md section 6, rules 4 and 5;
//  an earlier version of this test found a start dropped).
Test(worker, a_reconnecting_worker_starts_no_queued_block_until_welcomed)
{
    sh.wait_rejoin = true;
    start((cfg_t){.prefetch = 3, .run_id = RUN, .reconnect_max_ms = 100});
    greet(3, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 3);
    send_blocks(1, 3);
    daisy_msg_t m;
    //  Block 1 starts; the broker falls silent until the worker says HELLO
    //  again, which lets block 1 end.
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no HELLO came again");
        if (m.type == DAISY_MSG_HELLO)
            break;
        if (m.type == DAISY_MSG_STARTED)
            atomic_store(&sh.seen_start[m.u.started.block_id], 1);
        else
            cr_assert_eq(m.type, DAISY_MSG_RELEASE, "unexpected %s", daisy_msg_name(m.type));
    }
    cr_assert(atomic_load(&sh.seen_start[1]));
    atomic_store(&sh.hellos, 2);
    //  Block 1 ends; block 2 waits for the WELCOME (the worker may say
    //  HELLO again meanwhile; nothing else is expected).
    int64_t until = tu_now_ms() + 500;
    while (tu_now_ms() < until)
        if (recv_msg(10, &m))
            cr_assert_eq(m.type, DAISY_MSG_HELLO, "unexpected %s", daisy_msg_name(m.type));
    cr_assert_eq(atomic_load(&sh.running2), 0, "block 2 started before the WELCOME");
    welcome_holding(1000, 3, 3);     //  the broker still holds blocks 1 to 3
    fx.echo = true;
    bool result2 = false;
    while (!result2) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no result for block 2");
        if (m.type == DAISY_MSG_HELLO) {    //  a reconnect on a loaded machine
            welcome_holding(1000, 3, 3);
            continue;
        }
        const daisy_wire_lease_t *s = m.type == DAISY_MSG_STARTED ? &m.u.started
                                    : m.type == DAISY_MSG_RELEASE && m.u.release.has_started
                                    ? &m.u.release.started : NULL;
        if (m.type == DAISY_MSG_RELEASE)
            for (uint32_t i = 0; i < m.u.release.count; i++)
                if (m.u.release.results[i].block_id == 2) {
                    cr_assert(atomic_load(&sh.seen_start[2]),
                              "block 2 ran and was released, its start never reported");
                    result2 = true;
                }
        if (s)
            atomic_store(&sh.seen_start[s->block_id], 1);
    }
    cr_assert_eq(atomic_load(&sh.missed), 0);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  A run id no broker takes is refused when the worker is made, naming it,
//  rather than sent and refused as wrong_run.
Test(worker, a_run_id_no_broker_takes_is_refused_at_once)
{
    const char *bad[] = {"bad run id!", "a/b", "123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        daisy_worker_options_t opt = daisy_worker_options_default();
        opt.endpoint = "tcp://127.0.0.1:9";
        opt.task_id = "a";
        opt.run_id = bad[i];
        daisy_error_t err = {0};
        daisy_worker_t *w = daisy_worker_new(&opt, &err);
        daisy_worker_destroy(&w);
        cr_assert(strstr(err.msg, bad[i]) && strstr(err.msg, "expected 1 to 32 letters"),
                  "%s", err.msg);
    }
    daisy_worker_options_t opt = daisy_worker_options_default();
    opt.endpoint = "tcp://127.0.0.1:9";
    opt.task_id = "a";
    opt.run_id = "run-1.b_2";
    daisy_error_t err = {0};
    daisy_worker_t *w = daisy_worker_new(&opt, &err);
    cr_assert_not_null(w, "%s", err.msg);
    daisy_worker_destroy(&w);
}

//  The broker lost this worker (it fell silent) or was restarted: its
//  WELCOME says it holds none of the worker's blocks. The one running is
//  stopped through the hook and its result dropped, the queued ones are
//  dropped unrun, and the window is asked for anew: the blocks are
//  another worker's now, and running them on would run them twice at once.
static void
on_abort(void *arg)
{
    (void)arg;
    atomic_fetch_add(&sh.aborted, 1);
    atomic_store(&sh.aborted_at, atomic_fetch_add(&sh.events, 1) + 1);
}

Test(worker, a_broker_holding_none_of_its_blocks_voids_them)
{
    sh.wait_abort = true;
    start((cfg_t){.prefetch = 3, .run_id = RUN, .reconnect_max_ms = 100, .abort = on_abort});
    greet(3, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 3);
    fx.echo = true;
    send_blocks(1, 3);
    daisy_msg_t m;
    for (;;) {     //  block 1 runs (its start is told), then silence
        cr_assert(recv_msg(DEADLINE_MS, &m), "block 1 did not start");
        if ((m.type == DAISY_MSG_STARTED && m.u.started.block_id == 1)
            || (m.type == DAISY_MSG_RELEASE && m.u.release.has_started))
            break;
    }
    fx.echo = false;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no HELLO came again");
        if (m.type == DAISY_MSG_HELLO)
            break;
    }
    welcome(1000, 3);       //  a new session: nothing of the worker's is held
    uint32_t credits = 0;
    int64_t quiet_until = tu_now_ms() + QUIET_MS;
    while (tu_now_ms() < quiet_until || credits < 3) {
        if (!recv_msg(50, &m))
            continue;
        cr_assert(m.type != DAISY_MSG_STARTED, "a dropped block was started: %llu",
                  (unsigned long long)m.u.started.block_id);
        if (m.type == DAISY_MSG_REQUEST)
            credits += m.u.request.credits;
        if (m.type == DAISY_MSG_RELEASE) {
            cr_assert_eq(m.u.release.count, 0, "a result of a dropped block was sent");
            credits += m.u.release.credits;
        }
        cr_assert_lt(tu_now_ms(), quiet_until + DEADLINE_MS, "credits asked: %u", credits);
    }
    cr_assert_eq(credits, 3, "the whole window is asked for again");
    cr_assert_eq(atomic_load(&sh.aborted), 1, "the running block was stopped");
    cr_assert_eq(atomic_load(&sh.calls), 1, "blocks 2 and 3 never ran");
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  A new run at our broker's address refuses us while a block runs: the
//  block is stopped (ours will never be counted, and the new run may do it
//  now), and the worker leaves.
Test(worker, wrong_run_stops_the_running_block)
{
    sh.wait_abort = true;
    start((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100, .abort = on_abort});
    greet(1, 1000, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    send_blocks(1, 1);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (atomic_load(&sh.calls) == 0)
        cr_assert_lt(tu_now_ms(), deadline, "block 1 did not start");
    nap_ms(50);     //  long enough for the keeper to hold the socket
    daisy_msg_t e = {.type = DAISY_MSG_ERROR};
    e.u.error.code = DAISY_PROTO_WRONG_RUN;
    e.u.error.text = "hello: worker w-1 was started for run run-a, this broker serves run run-q";
    send_msg(&e);
    join_worker();
    cr_assert_eq(fx.rc, -1);
    cr_assert_eq(atomic_load(&sh.aborted), 1, "the running block was stopped");
}

//  Results in RELEASE messages until `n` came (or the deadline).
static uint32_t
results_until(uint32_t n, int ms)
{
    uint32_t got = 0;
    int64_t deadline = tu_now_ms() + ms;
    daisy_msg_t m;
    while (got < n && recv_msg((int)(deadline > tu_now_ms() ? deadline - tu_now_ms() : 0), &m))
        if (m.type == DAISY_MSG_RELEASE)
            got += m.u.release.count;
    return got;
}

//  Until the worker says HELLO again (the broker silent), heartbeats aside.
static void
await_hello(void)
{
    daisy_msg_t m;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no HELLO came again");
        if (m.type == DAISY_MSG_HELLO)
            return;
    }
}

//  Calls of the process function once the worker has been quiet a while.
static int
calls_settled(void)
{
    int n;
    do {
        n = atomic_load(&sh.calls);
        daisy_msg_t m;
        while (recv_msg(QUIET_MS, &m))
            ;
    } while (n != atomic_load(&sh.calls));
    return n;
}

//  A broker the worker said hello to again sends, after its WELCOME, every
//  block it holds for it (some may have been lost on the way): those the
//  worker has (here done, their results sent) run once all the same. A new
//  broker (WELCOME holding none) may hand out the same blocks and attempts:
//  those run.
Test(worker, blocks_sent_again_after_welcome_run_once_and_a_new_brokers_run)
{
    start((cfg_t){.prefetch = 3, .run_id = RUN, .reconnect_max_ms = 100});
    greet(3, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 3);
    fx.echo = true;
    send_blocks(1, 3);
    cr_assert_eq(results_until(3, DEADLINE_MS), 3);
    fx.echo = false;                //  silence: the worker comes back
    await_hello();
    fx.echo = true;
    welcome_holding(100, 5, 3);     //  their results unread: still held
    send_blocks(1, 3);
    cr_assert_eq(calls_settled(), 3, "a block sent again ran again");
    fx.echo = false;
    await_hello();
    fx.echo = true;
    welcome_holding(100, 5, 0);     //  a new broker of the run
    send_blocks(1, 3);
    cr_assert_eq(calls_settled(), 6, "the new broker's blocks did not all run");
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  The hold hook ----------------------------------------------------------------

static void
on_hold(void *arg, bool hold)
{
    (void)arg;
    atomic_fetch_add(hold ? &sh.held : &sh.unheld, 1);
    if (!hold)
        atomic_store(&sh.unheld_at, atomic_fetch_add(&sh.events, 1) + 1);
}

//  Block 1 is running: the next HELLO, with the hold hook's calls at the
//  moment it came (the hold must come first: the block is paused before
//  the worker asks whether it is still its own).
static void
expect_hello_while_held(void)
{
    daisy_msg_t m;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no HELLO came again");
        if (m.type == DAISY_MSG_HELLO)
            break;
        cr_assert(m.type == DAISY_MSG_STARTED || m.type == DAISY_MSG_RELEASE,
                  "unexpected %s", daisy_msg_name(m.type));
        cr_assert(m.type != DAISY_MSG_RELEASE || m.u.release.count == 0,
                  "block 1 ended while held");
    }
    cr_assert_eq(atomic_load(&sh.held), 1, "the block was not held before the HELLO");
    cr_assert_eq(atomic_load(&sh.unheld), 0);
}

//  The result of block 1, answering a HELLO that a loaded machine may
//  add (a reconnect) with another WELCOME holding the block.
static void
expect_result_of_block_1(void)
{
    daisy_msg_t m;
    for (;;) {
        cr_assert(recv_msg(DEADLINE_MS, &m), "no result for block 1");
        if (m.type == DAISY_MSG_HELLO) {
            welcome_holding(100, 5, 1);
            continue;
        }
        if (m.type == DAISY_MSG_RELEASE && m.u.release.count > 0) {
            cr_assert_eq(m.u.release.results[0].block_id, 1);
            return;
        }
    }
}

//  A broker silent for liveness - 1.5 heartbeats (here 350 ms of 500) may
//  be about to lose the worker: the running block is held and the worker
//  says hello again; the WELCOME says the broker still holds it, and it
//  goes on. Before, it ran on through a partition while the broker gave
//  it to another worker.
Test(worker, a_silent_broker_holds_the_running_block_until_it_says_it_is_still_ours)
{
    sh.wait_unhold = true;
    start((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100, .hold = on_hold});
    greet(1, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    send_blocks(1, 1);      //  then silence: no heartbeats from the broker
    expect_hello_while_held();
    welcome_holding(100, 5, 1);
    fx.echo = true;
    expect_result_of_block_1();
    cr_assert_eq(atomic_load(&sh.held), 1);
    cr_assert_eq(atomic_load(&sh.unheld), 1);
    cr_assert_eq(atomic_load(&sh.aborted), 0);
    cr_assert_eq(atomic_load(&sh.missed), 0);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  A worker of window 1 runs block 1 (the broker answering its heartbeats),
//  and is told it was continued after a stop while the block runs.
static void
continue_while_block_1_runs(cfg_t cfg)
{
    start(cfg);
    greet(1, 1000, 3);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    fx.echo = true;
    send_blocks(1, 1);
    int64_t deadline = tu_now_ms() + DEADLINE_MS;
    while (atomic_load(&sh.calls) == 0)
        cr_assert_lt(tu_now_ms(), deadline, "block 1 did not start");
    nap_ms(50);     //  the keeper holds the socket
    daisy_worker_continued(fx.worker);
}

//  A worker continued after a stop, however short, cannot know whether its
//  broker gave its block away meanwhile: daisy_worker_continued() holds the
//  block and the worker says hello again, though its broker never fell
//  silent.
Test(worker, a_worker_continued_holds_its_block_until_welcomed)
{
    sh.wait_unhold = true;
    continue_while_block_1_runs(
        (cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100, .hold = on_hold});
    expect_hello_while_held();
    welcome_holding(100, 5, 1);
    expect_result_of_block_1();
    cr_assert_eq(atomic_load(&sh.unheld), 1);
    cr_assert_eq(atomic_load(&sh.aborted), 0);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  Two WELCOMEs, each followed by the running block sent again, as when
//  a WELCOME answering a hello made on a connection given up since comes
//  before the one answering the hello made on the new one: the first took
//  the count of blocks sent again, and the second resend looked like new
//  blocks. Block 1 ran again once it had ended (daisy run after Ctrl-Z and
//  fg, 3 runs in 30 under load). It runs once.
Test(worker, a_second_resend_of_the_running_block_does_not_run_it_again)
{
    sh.wait_go = true;
    continue_while_block_1_runs((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100});
    await_hello();
    for (int i = 0; i < 2; i++) {
        welcome_holding(1000, 3, 1);
        send_blocks(1, 1);
    }
    nap_ms(200);    //  both read while block 1 runs
    atomic_store(&sh.go, 1);
    int calls = calls_settled();
    cr_assert_eq(calls, 1, "block 1 ran %d times", calls);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  Block 1 runs until the abort hook is called; the broker falls silent
//  and the worker holds it and says hello again.
static void
hold_block_1_until_aborted(void)
{
    sh.wait_abort = true;
    start((cfg_t){.prefetch = 1, .run_id = RUN, .reconnect_max_ms = 100, .abort = on_abort,
                  .hold = on_hold});
    greet(1, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    send_blocks(1, 1);
    expect_hello_while_held();
}

//  Held, then told the block is another's: the abort hook runs before the
//  hold ends, so that a paused command is killed before it could go on.
Test(worker, a_held_block_given_away_is_aborted_before_it_goes_on)
{
    hold_block_1_until_aborted();
    welcome(1000, 3);       //  a new session: nothing of the worker's is held
    daisy_msg_t m;
    for (int64_t until = tu_now_ms() + QUIET_MS; tu_now_ms() < until;)
        if (recv_msg(50, &m))
            cr_assert(m.type != DAISY_MSG_RELEASE || m.u.release.count == 0,
                      "a result of the block given away was sent");
    cr_assert_eq(atomic_load(&sh.aborted), 1, "the held block was not stopped");
    cr_assert_eq(atomic_load(&sh.unheld), 1, "the hold did not end");
    cr_assert_lt(atomic_load(&sh.aborted_at), atomic_load(&sh.unheld_at),
                 "the hold ended before the block was stopped");
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  While its block is held the worker does not back off past a heartbeat
//  interval: the block waits for every moment it is away, and a broker
//  back from a stop waits for it only so long. Backing off, its next
//  four HELLOs would take 1 + 2 + 4 + 8 s and more (the default ceiling
//  is 30 s); held, it says hello again every liveness + 1 heartbeats
//  (600 ms here), and they all come within the suite's deadline.
Test(worker, a_worker_holding_a_block_reconnects_without_backing_off)
{
    sh.wait_unhold = true;
    start((cfg_t){.prefetch = 1, .run_id = RUN, .hold = on_hold});
    greet(1, 100, 5);
    cr_assert_eq(expect(DAISY_MSG_REQUEST).u.request.credits, 1);
    send_blocks(1, 1);      //  then silence
    expect_hello_while_held();
    int hellos = 0;
    daisy_msg_t m;
    for (int64_t until = tu_now_ms() + DEADLINE_MS; hellos < 4 && tu_now_ms() < until;)
        if (recv_msg(50, &m) && m.type == DAISY_MSG_HELLO)
            hellos++;
    cr_assert_eq(hellos, 4, "%d HELLOs in %d ms of silence", hellos, DEADLINE_MS);
    welcome_holding(100, 5, 1);
    fx.echo = true;
    expect_result_of_block_1();
    cr_assert_eq(atomic_load(&sh.unheld), 1);
    shutdown_worker();
    join_worker();
    cr_assert_eq(fx.rc, 0, "%s", fx.err.msg);
}

//  Asked to stop (SIGTERM, preemption) while its block is held, the worker
//  stops the block instead of letting it go on to take the signal: the
//  broker may have given it to another worker meanwhile.
Test(worker, a_held_block_is_aborted_when_the_worker_is_stopped)
{
    hold_block_1_until_aborted();
    daisy_worker_stop(fx.worker);
    join_worker();
    cr_assert_eq(atomic_load(&sh.aborted), 1, "the held block was not stopped");
    cr_assert_eq(atomic_load(&sh.unheld), 1, "the hold did not end");
    cr_assert_lt(atomic_load(&sh.aborted_at), atomic_load(&sh.unheld_at),
                 "the hold ended before the block was stopped");
    cr_assert_eq(atomic_load(&sh.missed), 0);
}
