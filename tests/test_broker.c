/*  test_broker.c - the broker's rules, checked at the wire

    A real broker runs in this process, bound to loopback TCP; each test
    plays one or two workers by hand through raw DEALER sockets, encodes
    every message with the codec, and polls the broker between sends. So
    the rules are checked where a worker written in another language
    meets them: who may join (task, run id, HELLO first), how many blocks
    one worker may hold, what a result for a block not held changes
    (nothing), and what leaving costs a block: a clean BYE nothing, a
    silent worker one attempt on the block it last said it started and
    nothing on the others, a block running past its task's timeout
    (counted from its reported start) one attempt. Where a worker is to
    expire, heartbeats are short (100 ms, liveness 5) so that expiry comes
    quickly; elsewhere they are long, so that a hand-played worker may stay
    quiet for a while. Every wait is bounded by a generous deadline; no
    assertion depends on how fast anything happens, only on what does or
    does not happen.
*/
#include <criterion/criterion.h>
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <czmq.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <zmq.h>

#include "daisy/block_exec.h"
#include "daisy/broker.h"
#include "testutil.h"

#define RUN "run-a"
#define DEADLINE_MS 5000    //  for anything that must happen
#define QUIET_MS 300        //  to see that something does not

//  A task of 4 blocks whose workers expire after 5 x 100 ms of silence:
//  soon, yet not while a loaded machine delays a hand-played worker's
//  next message.
#define SHORT_HEARTBEATS \
    ((cfg_t){.blocks = 4, .heartbeat_ms = 100, .liveness = 5, .run_id = RUN})

typedef struct {
    uint64_t blocks;        //  blocks of the one 1D task "a"
    double timeout;         //  the task's timeout in seconds (0: none)
    uint32_t heartbeat_ms;  //  0: 1000 (workers that stay quiet a while)
    uint32_t liveness;      //  0: 3
    uint32_t heartbeat_rate;    //  0: 1000
    uint32_t max_held;      //  0: 8
    const char *markers;    //  done markers directory, or NULL
    const char *run_id;
} cfg_t;

static struct {
    daisy_pipeline_t *pipeline;
    daisy_graph_t *graph;
    daisy_broker_t *broker;
    void *ctx;
    void *socks[8];
    int nsocks;
    daisy_decoder_t *dec;
    daisy_buffer_t buf;
    char log[8192];         //  the broker's log lines, each ending in '\n'
} fx;

static void
on_log(void *arg, const char *line)
{
    (void)arg;
    size_t used = strlen(fx.log);
    snprintf(fx.log + used, sizeof fx.log - used, "%s\n", line);
}

static char frame[DAISY_MAX_FRAME];

static void
teardown(void)
{
    for (int i = 0; i < fx.nsocks; i++)
        zmq_close(fx.socks[i]);
    if (fx.ctx)
        zmq_ctx_term(fx.ctx);
    daisy_broker_destroy(&fx.broker);
    daisy_graph_destroy(&fx.graph);
    daisy_pipeline_destroy(&fx.pipeline);
    daisy_decoder_destroy(&fx.dec);
    daisy_buffer_free(&fx.buf);
    memset(&fx, 0, sizeof fx);
}

TestSuite(broker, .fini = teardown, .timeout = 60);

//  A broker for one task "a" of cfg.blocks independent 1D blocks.
static void
start(cfg_t cfg)
{
    daisy_error_t err;
    daisy_task_t *task = tu_task_1d("a", 0, 10 * (int64_t)cfg.blocks, 10, 0, 10);
    cr_assert_not_null(task);
    if (cfg.timeout > 0)
        daisy_task_set_timeout(task, cfg.timeout);
    fx.pipeline = daisy_pipeline_new();
    daisy_pipeline_add(fx.pipeline, &task);
    fx.graph = daisy_graph_new(fx.pipeline, &err);
    cr_assert_not_null(fx.graph, "%s", err.msg);
    cr_assert_eq(daisy_graph_block_count(fx.graph, 0), cfg.blocks);
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "tcp://127.0.0.1:*";
    opt.heartbeat_ms = cfg.heartbeat_ms ? cfg.heartbeat_ms : 1000;
    opt.liveness = cfg.liveness ? cfg.liveness : 3;
    opt.heartbeat_rate = cfg.heartbeat_rate;
    opt.max_held = cfg.max_held ? cfg.max_held : 8;
    opt.run_id = cfg.run_id;
    opt.markers_dir = cfg.markers;
    opt.log = on_log;
    fx.broker = daisy_broker_new(fx.graph, &opt, &err);
    cr_assert_not_null(fx.broker, "%s", err.msg);
    fx.ctx = zmq_ctx_new();
    fx.dec = daisy_decoder_new();
    cr_assert_not_null(fx.ctx);
    cr_assert_not_null(fx.dec);
}

//  A DEALER with routing id `id`, connected to the broker.
static void *
dealer(const char *id)
{
    cr_assert_lt(fx.nsocks, 8);
    void *s = zmq_socket(fx.ctx, ZMQ_DEALER);
    cr_assert_not_null(s);
    int linger = 0;
    cr_assert_eq(zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id)), 0);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger), 0);
    cr_assert_eq(zmq_connect(s, daisy_broker_endpoint(fx.broker)), 0, "%s",
                 zmq_strerror(zmq_errno()));
    fx.socks[fx.nsocks++] = s;
    return s;
}

static void
send_msg(void *s, const daisy_msg_t *msg)
{
    cr_assert_eq(daisy_encode(msg, &fx.buf), 0);
    cr_assert_eq(zmq_send(s, fx.buf.data, fx.buf.size, 0), (int)fx.buf.size);
}

//  Poll the broker and read the socket in turn until a message other than
//  HEARTBEAT comes (true) or `ms` pass (false).
static bool
next_msg(void *s, int ms, daisy_msg_t *msg)
{
    int64_t deadline = tu_now_ms() + ms;
    do {
        daisy_broker_poll(fx.broker, 10);
        int n;
        while ((n = zmq_recv(s, frame, sizeof frame, ZMQ_DONTWAIT)) >= 0) {
            cr_assert_leq((size_t)n, sizeof frame);
            daisy_error_t err;
            cr_assert_eq(daisy_decode(fx.dec, frame, (size_t)n, msg, &err), DAISY_PROTO_OK,
                         "the broker sent an undecodable message: %s", err.msg);
            if (msg->type != DAISY_MSG_HEARTBEAT)
                return true;
        }
    } while (tu_now_ms() < deadline);
    return false;
}

//  The next message (heartbeats aside) must be of this type. Its strings
//  and arrays stay valid until the next message is read.
static daisy_msg_t
expect(void *s, daisy_msg_type_t type)
{
    daisy_msg_t msg;
    cr_assert(next_msg(s, DEADLINE_MS, &msg), "no %s came", daisy_msg_name(type));
    cr_assert_eq(msg.type, type, "expected %s, got %s%s%s", daisy_msg_name(type),
                 daisy_msg_name(msg.type), msg.type == DAISY_MSG_ERROR ? ": " : "",
                 msg.type == DAISY_MSG_ERROR ? msg.u.error.text : "");
    return msg;
}

//  Send, then wait for the reply of this type.
static daisy_msg_t
exchange(void *s, const daisy_msg_t *msg, daisy_msg_type_t reply)
{
    send_msg(s, msg);
    return expect(s, reply);
}

//  Nothing but heartbeats comes for a while.
static void
quiet(void *s)
{
    daisy_msg_t msg;
    bool got = next_msg(s, QUIET_MS, &msg);
    cr_assert_not(got, "unexpected %s", daisy_msg_name(msg.type));
}

//  Poll the broker until `cond` holds; fail after the deadline.
#define POLL_UNTIL(cond)                                                   \
    do {                                                                   \
        int64_t until_ = tu_now_ms() + DEADLINE_MS;                           \
        while (!(cond) && tu_now_ms() < until_)                               \
            daisy_broker_poll(fx.broker, 10);                              \
        cr_assert(cond, "timed out waiting for " #cond);                   \
    } while (0)

static daisy_msg_t
hello_msg(const char *task, const char *worker_id, const char *run_id)
{
    daisy_msg_t msg = {.type = DAISY_MSG_HELLO};
    msg.u.hello.task_id = task;
    msg.u.hello.worker_id = worker_id;
    msg.u.hello.host = "testhost";
    msg.u.hello.pid = 4242;
    msg.u.hello.prefetch = 8;
    msg.u.hello.run_id = run_id;
    return msg;
}

//  A worker of task "a" of this run, welcomed.
static void *
join(const char *id)
{
    void *s = dealer(id);
    daisy_msg_t hello = hello_msg("a", id, RUN);
    exchange(s, &hello, DAISY_MSG_WELCOME);
    return s;
}

static void
request(void *s, uint32_t credits)
{
    daisy_msg_t msg = {.type = DAISY_MSG_REQUEST};
    msg.u.request.credits = credits;
    send_msg(s, &msg);
}

//  Read BLOCKS messages until n blocks came (copied into out).
static void
receive_blocks(void *s, daisy_wire_block_t *out, uint32_t n)
{
    uint32_t got = 0;
    while (got < n) {
        daisy_msg_t msg = expect(s, DAISY_MSG_BLOCKS);
        cr_assert_str_eq(msg.u.blocks.task_id, "a");
        cr_assert_leq(got + msg.u.blocks.count, n, "%u blocks came, %u expected",
                      got + msg.u.blocks.count, n);
        memcpy(out + got, msg.u.blocks.blocks, msg.u.blocks.count * sizeof *out);
        got += msg.u.blocks.count;
    }
}

static void
take(void *s, uint32_t credits, daisy_wire_block_t *out, uint32_t n)
{
    request(s, credits);
    receive_blocks(s, out, n);
}

static daisy_wire_result_t
ok(const daisy_wire_block_t *b)
{
    return (daisy_wire_result_t){.block_id = b->block_id, .attempt = b->attempt,
                                 .status = DAISY_RESULT_SUCCESS, .seconds = 0.01,
                                 .error = ""};
}

static void
release(void *s, daisy_wire_result_t *results, uint32_t n, uint32_t credits,
        const daisy_wire_block_t *started)
{
    daisy_msg_t msg = {.type = DAISY_MSG_RELEASE};
    msg.u.release.credits = credits;
    msg.u.release.count = n;
    msg.u.release.results = results;
    if (started) {
        msg.u.release.has_started = true;
        msg.u.release.started = (daisy_wire_lease_t){started->block_id, started->attempt};
    }
    send_msg(s, &msg);
}

static void
started(void *s, const daisy_wire_block_t *b)
{
    daisy_msg_t msg = {.type = DAISY_MSG_STARTED};
    msg.u.started = (daisy_wire_lease_t){b->block_id, b->attempt};
    send_msg(s, &msg);
}

static daisy_task_counts_t
counts(void)
{
    daisy_task_counts_t c;
    daisy_scheduler_counts(daisy_broker_scheduler(fx.broker), 0, &c);
    return c;
}

static daisy_broker_stats_t
stats(void)
{
    daisy_broker_stats_t st;
    daisy_broker_stats(fx.broker, &st);
    return st;
}

//  The block with this id among n, or NULL.
static const daisy_wire_block_t *
find(const daisy_wire_block_t *blocks, uint32_t n, uint64_t block_id)
{
    for (uint32_t i = 0; i < n; i++)
        if (blocks[i].block_id == block_id)
            return &blocks[i];
    return NULL;
}

//  Joining ------------------------------------------------------------------

Test(broker, hello_is_welcomed_with_the_heartbeat_settings)
{
    start((cfg_t){.blocks = 4, .heartbeat_ms = 100, .liveness = 2, .run_id = RUN});
    void *s = dealer("w1");
    daisy_msg_t hello = hello_msg("a", "w1", RUN);
    daisy_msg_t w = exchange(s, &hello, DAISY_MSG_WELCOME);
    cr_assert_str_eq(w.u.welcome.task_id, "a");
    cr_assert_eq(w.u.welcome.heartbeat_ms, 100);
    cr_assert_eq(w.u.welcome.liveness, 2);
    cr_assert_eq(w.u.welcome.dims, 1);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 1);
    cr_assert_eq(stats().workers_joined, 1);
    cr_assert_eq(stats().rejected, 0);
}

//  At 20 heartbeats a second and 100 ms, a third worker makes 150 ms (3 x
//  1000 / 20), a fourth 200; those welcomed before are told again, in
//  place of a heartbeat, and the last one is not.
Test(broker, the_heartbeat_interval_grows_with_the_workers)
{
    start((cfg_t){.blocks = 4, .heartbeat_ms = 100, .liveness = 50, .heartbeat_rate = 20,
                  .run_id = RUN});
    static const uint32_t told[4] = {100, 100, 150, 200};
    void *s[4];
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "w%d", i);
        s[i] = dealer(id);
        daisy_msg_t hello = hello_msg("a", id, RUN);
        daisy_msg_t w = exchange(s[i], &hello, DAISY_MSG_WELCOME);
        cr_assert_eq(w.u.welcome.heartbeat_ms, told[i], "worker %d told %u ms", i,
                     w.u.welcome.heartbeat_ms);
    }
    for (int i = 0; i < 3; i++) {
        daisy_msg_t m;
        cr_assert(next_msg(s[i], 2000, &m), "worker %d was not told the new interval", i);
        cr_assert_eq(m.type, DAISY_MSG_WELCOME);
        cr_assert_eq(m.u.welcome.heartbeat_ms, 200);
        cr_assert_eq(m.u.welcome.liveness, 50);
        cr_assert_str_eq(m.u.welcome.task_id, "a");
    }
    daisy_msg_t m;
    cr_assert_not(next_msg(s[3], 500, &m), "worker 3 got message type %d", m.type);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 4);
    cr_assert_eq(stats().workers_lost, 0);
}

Test(broker, hello_for_an_unknown_task_is_refused)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *s = dealer("w1");
    daisy_msg_t hello = hello_msg("nope", "w1", RUN);
    daisy_msg_t e = exchange(s, &hello, DAISY_MSG_ERROR);
    cr_assert_eq(e.u.error.code, DAISY_PROTO_UNKNOWN_TASK);
    cr_assert(strstr(e.u.error.text, "nope"), "%s", e.u.error.text);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 0);
    cr_assert_eq(stats().workers_joined, 0);
    cr_assert_eq(stats().rejected_by_code[DAISY_PROTO_UNKNOWN_TASK], 1);
}

Test(broker, a_message_before_hello_is_refused)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *s = dealer("w1");
    daisy_msg_t req = {.type = DAISY_MSG_REQUEST};
    req.u.request.credits = 4;
    daisy_msg_t e = exchange(s, &req, DAISY_MSG_ERROR);
    cr_assert_eq(e.u.error.code, DAISY_PROTO_NOT_READY);
    //  No block went anywhere.
    cr_assert_eq(counts().processing, 0);
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    cr_assert_eq(stats().rejected, 1);
    cr_assert_eq(stats().rejected_by_code[DAISY_PROTO_NOT_READY], 1);
}

//  Run ids ------------------------------------------------------------------

Test(broker, hello_from_another_run_is_refused_as_wrong_run)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *s = dealer("w1");
    daisy_msg_t hello = hello_msg("a", "w1", "run-b");
    daisy_msg_t e = exchange(s, &hello, DAISY_MSG_ERROR);
    cr_assert_eq(e.u.error.code, 10);
    cr_assert_eq(e.u.error.code, DAISY_PROTO_WRONG_RUN);
    cr_assert(strstr(e.u.error.text, "run-b") && strstr(e.u.error.text, RUN),
              "the text names both runs: %s", e.u.error.text);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 0);
    cr_assert_eq(stats().workers_joined, 0);
    cr_assert_eq(stats().rejected_by_code[DAISY_PROTO_WRONG_RUN], 1);
    //  Refused, not joined: asking for blocks is still out of order.
    request(s, 4);
    cr_assert_eq(expect(s, DAISY_MSG_ERROR).u.error.code, DAISY_PROTO_NOT_READY);
    cr_assert_eq(counts().processing, 0);
}

Test(broker, hello_with_no_run_or_this_run_is_welcomed)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *any = dealer("w-any");
    daisy_msg_t hello = hello_msg("a", "w-any", "");
    exchange(any, &hello, DAISY_MSG_WELCOME);
    void *ours = dealer("w-ours");
    hello = hello_msg("a", "w-ours", RUN);
    exchange(ours, &hello, DAISY_MSG_WELCOME);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 2);
    cr_assert_eq(stats().rejected, 0);
}

Test(broker, run_id_is_the_configured_one)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    cr_assert_str_eq(daisy_broker_run_id(fx.broker), RUN);
}

static bool
is_hex16(const char *s)
{
    if (strlen(s) != 16)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

Test(broker, without_a_run_id_each_broker_draws_its_own)
{
    start((cfg_t){.blocks = 4, .run_id = NULL});
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "tcp://127.0.0.1:*";
    opt.run_id = "";
    daisy_error_t err;
    daisy_broker_t *other = daisy_broker_new(fx.graph, &opt, &err);
    cr_assert_not_null(other, "%s", err.msg);
    const char *a = daisy_broker_run_id(fx.broker), *b = daisy_broker_run_id(other);
    bool hex_a = is_hex16(a), hex_b = is_hex16(b), same = strcmp(a, b) == 0;
    char copy_a[40], copy_b[40];
    snprintf(copy_a, sizeof copy_a, "%s", a);
    snprintf(copy_b, sizeof copy_b, "%s", b);
    daisy_broker_destroy(&other);
    cr_assert(hex_a, "run id '%s' is not 16 hex digits", copy_a);
    cr_assert(hex_b, "run id '%s' is not 16 hex digits", copy_b);
    cr_assert_not(same, "two brokers drew the same run id %s", copy_a);
}

Test(broker, a_run_id_with_other_characters_is_refused)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "tcp://127.0.0.1:*";
    opt.run_id = "run a";
    daisy_error_t err = {0};
    daisy_broker_t *other = daisy_broker_new(fx.graph, &opt, &err);
    cr_assert_null(other);
    cr_assert(strstr(err.msg, "run a"), "%s", err.msg);
}

//  Credits and the cap --------------------------------------------------------

Test(broker, a_worker_holds_at_most_max_held_blocks)
{
    start((cfg_t){.blocks = 32, .max_held = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[8];
    take(s, 1024, b, 8);
    quiet(s);
    cr_assert_eq(daisy_broker_held(fx.broker), 8);
    cr_assert_eq(counts().processing, 8);
    cr_assert_eq(stats().blocks_sent, 8);
    //  Asking again does not lift the cap either.
    request(s, 1024);
    quiet(s);
    cr_assert_eq(daisy_broker_held(fx.broker), 8);
}

Test(broker, released_results_make_room_for_as_many_blocks)
{
    start((cfg_t){.blocks = 32, .max_held = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[16];
    take(s, 1024, b, 8);
    //  Release 3: the credits still owed bring exactly 3 more.
    daisy_wire_result_t r[3] = {ok(&b[0]), ok(&b[1]), ok(&b[2])};
    release(s, r, 3, 0, NULL);
    receive_blocks(s, b + 8, 3);
    quiet(s);
    cr_assert_eq(daisy_broker_held(fx.broker), 8);
    cr_assert_eq(counts().completed, 3);
    //  The new blocks are new: none of them was handed out before.
    for (int i = 8; i < 11; i++)
        cr_assert_null(find(b, 8, b[i].block_id), "block %llu handed out twice",
                       (unsigned long long)b[i].block_id);
    //  One more result, one more block.
    daisy_wire_result_t r1 = ok(&b[3]);
    release(s, &r1, 1, 0, NULL);
    receive_blocks(s, b + 11, 1);
    quiet(s);
    cr_assert_eq(daisy_broker_held(fx.broker), 8);
}

Test(broker, with_nothing_owed_a_release_brings_only_its_credits)
{
    start((cfg_t){.blocks = 32, .max_held = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[8];
    take(s, 4, b, 4);
    daisy_wire_result_t r[2] = {ok(&b[0]), ok(&b[1])};
    release(s, r, 2, 1, NULL);
    receive_blocks(s, b + 4, 1);
    quiet(s);
    cr_assert_eq(daisy_broker_held(fx.broker), 3);
}

//  Bad results ------------------------------------------------------------------

Test(broker, a_result_for_a_block_not_held_is_refused_and_changes_nothing)
{
    start((cfg_t){.blocks = 8, .max_held = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    daisy_task_counts_t before = counts();
    cr_assert_eq(before.processing, 2);
    cr_assert_eq(before.ready, 6);
    //  Three results in one RELEASE: a good one, one for a block this
    //  worker was never given, one for a held block but another attempt.
    daisy_wire_result_t r[3] = {ok(&b[0]), ok(&b[1]), ok(&b[1])};
    r[1].block_id = 1000000;
    r[2].attempt = b[1].attempt + 5;
    release(s, r, 3, 0, NULL);
    daisy_msg_t e = expect(s, DAISY_MSG_ERROR);
    cr_assert_eq(e.u.error.code, DAISY_PROTO_UNKNOWN_BLOCK, "%s", e.u.error.text);
    //  Any further answers to the same RELEASE say the same.
    daisy_msg_t more;
    while (next_msg(s, QUIET_MS, &more)) {
        cr_assert_eq(more.type, DAISY_MSG_ERROR, "unexpected %s", daisy_msg_name(more.type));
        cr_assert_eq(more.u.error.code, DAISY_PROTO_UNKNOWN_BLOCK);
    }
    daisy_task_counts_t after = counts();
    cr_assert_eq(after.completed, before.completed + 1, "the good result counts");
    cr_assert_eq(after.processing, 1, "b[1] is still held");
    cr_assert_eq(after.ready, before.ready);
    cr_assert_eq(after.failed, 0);
    cr_assert_eq(after.retries, 0);
    cr_assert_eq(daisy_broker_held(fx.broker), 1);
    daisy_broker_stats_t st = stats();
    cr_assert_eq(st.results, 1);
    cr_assert_eq(st.rejected, 1, "one RELEASE refused once, not per result");
    cr_assert_eq(st.rejected_by_code[DAISY_PROTO_UNKNOWN_BLOCK], 1);
    //  The lease on b[1] is intact: its real result is taken.
    daisy_wire_result_t good = ok(&b[1]);
    release(s, &good, 1, 0, NULL);
    POLL_UNTIL(counts().completed == before.completed + 2);
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    cr_assert_eq(stats().rejected, 1);
}

Test(broker, a_result_given_twice_counts_once)
{
    start((cfg_t){.blocks = 8, .max_held = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[1];
    take(s, 1, b, 1);
    daisy_wire_result_t r = ok(&b[0]);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 1);
    release(s, &r, 1, 0, NULL);
    cr_assert_eq(expect(s, DAISY_MSG_ERROR).u.error.code, DAISY_PROTO_UNKNOWN_BLOCK);
    cr_assert_eq(counts().completed, 1);
    cr_assert_eq(stats().results, 1);
}

//  Leaving ------------------------------------------------------------------------

Test(broker, bye_gives_blocks_back_with_their_attempt)
{
    start((cfg_t){.blocks = 10, .max_held = 8, .run_id = RUN});
    void *s1 = join("w1");
    daisy_wire_block_t b1[3], b2[3];
    take(s1, 3, b1, 3);
    //  Even the block it said it started costs nothing on a clean exit.
    started(s1, &b1[0]);
    daisy_msg_t bye = {.type = DAISY_MSG_BYE};
    send_msg(s1, &bye);
    POLL_UNTIL(daisy_broker_worker_count(fx.broker, 0) == 0);
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.processing, 0);
    cr_assert_eq(c.ready, 10);
    cr_assert_eq(c.retries, 0);
    cr_assert_eq(c.failed, 0);
    //  The next worker gets the same blocks first, with the same attempts.
    void *s2 = join("w2");
    take(s2, 3, b2, 3);
    for (int i = 0; i < 3; i++) {
        const daisy_wire_block_t *was = find(b1, 3, b2[i].block_id);
        cr_assert_not_null(was, "block %llu was not among those given back",
                           (unsigned long long)b2[i].block_id);
        cr_assert_eq(b2[i].attempt, was->attempt);
        cr_assert_eq(b2[i].attempt, 0);
    }
    cr_assert_eq(counts().retries, 0);
}

//  The worker that held the blocks went silent (it neither reads nor sends
//  any more): once it has expired, a second worker on s2 takes the n blocks
//  left into `again`.
static void
expire(void *s2, daisy_wire_block_t *again, uint32_t n)
{
    POLL_UNTIL(daisy_broker_worker_count(fx.broker, 0) == 0);
    cr_assert_eq(stats().workers_lost, 1);
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    daisy_msg_t hello = hello_msg("a", "w2", RUN);
    exchange(s2, &hello, DAISY_MSG_WELCOME);
    take(s2, 1024, again, n);
}

Test(broker, a_silent_worker_costs_its_started_block_one_attempt)
{
    start(SHORT_HEARTBEATS);
    void *s1 = join("w1");
    daisy_wire_block_t b[4], again[4];
    take(s1, 4, b, 4);
    started(s1, &b[2]);
    expire(dealer("w2"), again, 4);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.retries, 1);
    cr_assert_eq(c.failed, 0);
    for (int i = 0; i < 4; i++) {
        const daisy_wire_block_t *now = find(again, 4, b[i].block_id);
        cr_assert_not_null(now);
        cr_assert_eq(now->attempt, b[i].attempt + (i == 2 ? 1 : 0),
                     "block %d: attempt %u, was %u", i, now->attempt, b[i].attempt);
    }
}

Test(broker, a_silent_worker_that_started_nothing_costs_no_retry)
{
    start(SHORT_HEARTBEATS);
    void *s1 = join("w1");
    daisy_wire_block_t b[4], again[4];
    take(s1, 4, b, 4);
    expire(dealer("w2"), again, 4);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.retries, 0);
    cr_assert_eq(c.failed, 0);
    for (int i = 0; i < 4; i++) {
        const daisy_wire_block_t *now = find(again, 4, b[i].block_id);
        cr_assert_not_null(now);
        cr_assert_eq(now->attempt, b[i].attempt);
    }
}

//  A worker of window 1 runs a block the moment it gets it: handed out
//  alone, the block counts as started with no STARTED, and losing the
//  worker costs it an attempt.
Test(broker, a_window_of_one_starts_a_block_as_it_is_handed_out)
{
    start(SHORT_HEARTBEATS);
    void *s1 = dealer("w1");
    daisy_msg_t hello = hello_msg("a", "w1", RUN);
    hello.u.hello.prefetch = 1;
    exchange(s1, &hello, DAISY_MSG_WELCOME);
    daisy_wire_block_t b[1], again[4];
    take(s1, 1, b, 1);
    expire(dealer("w2"), again, 4);
    cr_assert_eq(counts().retries, 1);
    const daisy_wire_block_t *now = find(again, 4, b[0].block_id);
    cr_assert_not_null(now);
    cr_assert_eq(now->attempt, b[0].attempt + 1);
}

Test(broker, release_started_marks_a_block_like_started)
{
    start(SHORT_HEARTBEATS);
    void *s1 = join("w1");
    daisy_wire_block_t b[4], again[3];
    take(s1, 4, b, 4);
    //  Block 0 done, block 1 starting next, both in one message.
    daisy_wire_result_t r = ok(&b[0]);
    release(s1, &r, 1, 0, &b[1]);
    POLL_UNTIL(counts().completed == 1);
    expire(dealer("w2"), again, 3);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.retries, 1);
    cr_assert_eq(c.completed, 1);
    for (int i = 1; i < 4; i++) {
        const daisy_wire_block_t *now = find(again, 3, b[i].block_id);
        cr_assert_not_null(now);
        cr_assert_eq(now->attempt, b[i].attempt + (i == 1 ? 1 : 0),
                     "block %d: attempt %u, was %u", i, now->attempt, b[i].attempt);
    }
}

Test(broker, a_later_started_moves_the_mark)
{
    start(SHORT_HEARTBEATS);
    void *s1 = join("w1");
    daisy_wire_block_t b[4], again[4];
    take(s1, 4, b, 4);
    //  Block 0 ran (its result held back for batching), then block 3.
    started(s1, &b[0]);
    started(s1, &b[3]);
    expire(dealer("w2"), again, 4);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.retries, 1, "only the last started block is charged");
    for (int i = 0; i < 4; i++) {
        const daisy_wire_block_t *now = find(again, 4, b[i].block_id);
        cr_assert_not_null(now);
        cr_assert_eq(now->attempt, b[i].attempt + (i == 3 ? 1 : 0),
                     "block %d: attempt %u, was %u", i, now->attempt, b[i].attempt);
    }
}

Test(broker, a_started_for_a_block_not_held_is_not_refused)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    daisy_task_counts_t before = counts();
    daisy_wire_block_t stale = b[1];
    stale.attempt += 3;
    started(s, &stale);     //  a lease the broker took back: no answer, no change
    quiet(s);
    daisy_task_counts_t after = counts();
    cr_assert_eq(stats().rejected, 0);
    cr_assert_eq(after.processing, before.processing);
    cr_assert_eq(after.retries, 0);
    cr_assert_eq(daisy_broker_held(fx.broker), 2);
}

//  Timeouts ------------------------------------------------------------------------

//  A block past its timeout is not handed out again until its worker,
//  which stops it, reports it: the report settles the attempt, so the
//  retry never runs beside it. Its worker is not lost.
Test(broker, a_block_past_its_timeout_comes_back_once_its_worker_reports_it)
{
    //  Long heartbeats: the worker stays alive, only the lease runs out.
    start((cfg_t){.blocks = 1, .timeout = 0.2, .heartbeat_ms = 1000, .liveness = 3,
                  .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[1], again[1];
    take(s, 1, b, 1);
    cr_assert_eq(b[0].attempt, 0);
    started(s, &b[0]);      //  it runs, and runs too long
    POLL_UNTIL(stats().timeouts == 1);
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    cr_assert_eq(counts().retries, 0, "not retried while it may still run");
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 1, "the worker is not lost");
    //  The worker stopped it and says so: a failed attempt, then the retry.
    daisy_wire_result_t late = ok(&b[0]);
    late.status = DAISY_RESULT_FAILED;
    late.error = "timeout: still running after 0.2 s, stopped with SIGTERM";
    release(s, &late, 1, 1, NULL);
    take(s, 0, again, 1);
    cr_assert_eq(again[0].block_id, b[0].block_id);
    cr_assert_eq(again[0].attempt, 1);
    daisy_task_counts_t c = counts();
    cr_assert_eq(c.retries, 1);
    cr_assert_eq(c.completed, 0);
    cr_assert_eq(stats().late_results, 1);
    cr_assert_eq(stats().rejected, 0, "the late report is no refusal");
}

//  A block that finished just past its timeout, before the worker saw it:
//  it was not handed out again, so its success counts.
Test(broker, a_success_reported_just_past_the_timeout_counts)
{
    start((cfg_t){.blocks = 1, .timeout = 0.2, .heartbeat_ms = 1000, .liveness = 3,
                  .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[1];
    take(s, 1, b, 1);
    started(s, &b[0]);
    POLL_UNTIL(stats().timeouts == 1);
    daisy_wire_result_t r = ok(&b[0]);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 1);
    cr_assert_eq(counts().retries, 0);
    cr_assert_eq(counts().failed, 0);
}

//  Time in a worker's queue is no fault of the block: a task's timeout
//  counts from the block's reported start (PROTOCOL.md section 6, rule 5).
//  The block queued behind the one that overran stays with the worker,
//  which stops the stuck block and goes on: taking it back had it run
//  twice, beside its new holder.
Test(broker, a_timeout_counts_from_the_start_not_from_the_hand_out)
{
    start((cfg_t){.blocks = 2, .timeout = 0.2, .heartbeat_ms = 1000, .liveness = 3,
                  .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    //  Both wait, unstarted, for 3 timeouts: neither is taken back.
    int64_t until = tu_now_ms() + 600;
    while (tu_now_ms() < until)
        daisy_broker_poll(fx.broker, 10);
    cr_assert_eq(stats().timeouts, 0);
    cr_assert_eq(daisy_broker_held(fx.broker), 2);
    //  Started, b[1] runs past its timeout: b[0] stays with its worker.
    started(s, &b[1]);
    POLL_UNTIL(stats().timeouts == 1);
    cr_assert_eq(daisy_broker_held(fx.broker), 1, "b[0] stays with its worker");
    //  The worker's own report of b[1]'s timeout, then b[0] done.
    daisy_wire_result_t late = ok(&b[1]);
    late.status = DAISY_RESULT_FAILED;
    late.error = "timeout: still running after 0.2 s, stopped with SIGTERM";
    daisy_wire_result_t r = ok(&b[0]);
    release(s, &late, 1, 0, NULL);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 1);
    cr_assert_eq(counts().retries, 1, "only b[1] was charged");
    //  Its credits were cleared: it asks again and gets b[1]'s retry.
    daisy_wire_block_t again[1];
    take(s, 1, again, 1);
    cr_assert_eq(again[0].block_id, b[1].block_id);
    cr_assert_eq(again[0].attempt, b[1].attempt + 1);
}

//  A worker that cannot stop a block (a function that never returns)
//  keeps heartbeating but never reports it: once the grace for stopping a
//  command and hearing of it has passed, it is lost, and the block queued
//  behind goes back at no cost.
Test(broker, a_worker_stuck_past_its_timeout_and_the_grace_is_lost)
{
    start((cfg_t){.blocks = 2, .timeout = 0.2, .heartbeat_ms = 100, .liveness = 3,
                  .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    started(s, &b[1]);
    POLL_UNTIL(stats().timeouts == 1);
    int64_t timed_out = tu_now_ms();
    cr_assert_eq(daisy_broker_held(fx.broker), 1);
    //  Alive all along (heartbeats), but silent about the block.
    daisy_msg_t hb = {.type = DAISY_MSG_HEARTBEAT};
    while (stats().workers_lost == 0 && tu_now_ms() < timed_out + 20000) {
        send_msg(s, &hb);
        int64_t until = tu_now_ms() + 50;
        while (tu_now_ms() < until)
            daisy_broker_poll(fx.broker, 10);
    }
    cr_assert_eq(stats().workers_lost, 1);
    cr_assert_geq(tu_now_ms() - timed_out, DAISY_EXEC_GRACE_MS - 100,
                  "lost only after the grace for stopping a command");
    cr_assert_eq(daisy_broker_held(fx.broker), 0);
    cr_assert_eq(counts().retries, 1, "the stuck block failed, the queued one cost nothing");
    //  Its late report is refused as from a worker that must say hello.
    daisy_wire_result_t late = ok(&b[1]);
    release(s, &late, 1, 0, NULL);
    daisy_msg_t m;
    bool refused = false;
    while (!refused && next_msg(s, DEADLINE_MS, &m))
        refused = m.type == DAISY_MSG_ERROR && m.u.error.code == DAISY_PROTO_NOT_READY;
    cr_assert(refused, "a lost worker's report is refused: say hello first");
    cr_assert_eq(stats().late_results, 0);
}

//  The end --------------------------------------------------------------------------

Test(broker, the_workers_of_a_finished_task_are_told_to_shut_down)
{
    start((cfg_t){.blocks = 2, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    cr_assert_not(daisy_broker_done(fx.broker));
    daisy_wire_result_t r[2] = {ok(&b[0]), ok(&b[1])};
    release(s, r, 2, 2, NULL);
    daisy_msg_t m = expect(s, DAISY_MSG_SHUTDOWN);
    cr_assert_str_eq(m.u.shutdown.reason, "task done");
    cr_assert(daisy_broker_done(fx.broker));
    cr_assert_eq(counts().completed, 2);
    cr_assert_eq(daisy_broker_worker_count(fx.broker, 0), 0);
    //  A worker arriving late is sent home at once.
    void *late = dealer("w2");
    daisy_msg_t hello = hello_msg("a", "w2", RUN);
    m = exchange(late, &hello, DAISY_MSG_SHUTDOWN);
    cr_assert_str_eq(m.u.shutdown.reason, "task done");
}

//  Reconnects -----------------------------------------------------------------

//  A worker that says hello again (on a new connection, as after it gave up
//  on a broker that was stopped) is told how many blocks it holds, and
//  gets them all again: those sent to its old connection were lost.
Test(broker, a_worker_saying_hello_again_gets_the_blocks_it_holds_again)
{
    start((cfg_t){.blocks = 8, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[3];
    take(s, 3, b, 3);
    zmq_close(s);                   //  its old connection, and all that was on it
    fx.socks[--fx.nsocks] = NULL;
    void *again = dealer("w1");
    daisy_msg_t hello = hello_msg("a", "w1", RUN);
    daisy_msg_t m = exchange(again, &hello, DAISY_MSG_WELCOME);
    cr_assert_eq(m.u.welcome.held, 3);
    daisy_wire_block_t resent[3];
    receive_blocks(again, resent, 3);
    for (int i = 0; i < 3; i++) {
        const daisy_wire_block_t *r = find(resent, 3, b[i].block_id);
        cr_assert_not_null(r, "block %llu came again", (unsigned long long)b[i].block_id);
        cr_assert_eq(r->attempt, b[i].attempt);
        cr_assert(daisy_roi_equal(&r->write_roi, &b[i].write_roi));
    }
    cr_assert_eq(stats().blocks_resent, 3);
    cr_assert_eq(daisy_broker_held(fx.broker), 3, "nothing handed out twice");
    daisy_wire_result_t r[3] = {ok(&b[0]), ok(&b[1]), ok(&b[2])};
    release(again, r, 3, 0, NULL);
    POLL_UNTIL(counts().completed == 3);
    cr_assert_eq(stats().rejected, 0);
}

//  Time the broker was not running (stopped with its run by Ctrl-Z, its
//  host paused) does not count as its workers' silence: when all resume,
//  none is lost, and its blocks' results are taken.
//  Worker w1 holds block *b, then the broker is not polled for 10
//  heartbeats (a second); returns w1's socket.
static void *
stop_broker_holding(daisy_wire_block_t *b)
{
    start((cfg_t){.blocks = 4, .heartbeat_ms = 100, .liveness = 3, .run_id = RUN});
    void *s = join("w1");
    take(s, 1, b, 1);
    struct timespec stopped = {1, 0};
    nanosleep(&stopped, NULL);
    return s;
}

Test(broker, time_the_broker_was_stopped_is_not_its_workers_silence)
{
    daisy_wire_block_t b;
    void *s = stop_broker_holding(&b);
    daisy_broker_poll(fx.broker, 0);    //  resumed: finds nothing from the worker yet
    daisy_wire_result_t r = ok(&b);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 1);
    cr_assert_eq(stats().workers_lost, 0);
    cr_assert_eq(stats().rejected, 0);
}

//  A loop late by a few heartbeats of a few ms (a loaded machine) is
//  accounted as a pause but not said: with --heartbeat 1 the run's stderr
//  filled with "the broker did not run for 0.0 s". A real stop is said.
Test(broker, only_a_pause_of_a_second_or_more_is_said)
{
    start((cfg_t){.blocks = 4, .heartbeat_ms = 100, .liveness = 3, .run_id = RUN});
    daisy_broker_poll(fx.broker, 0);
    struct timespec late = {0, 300 * 1000 * 1000}, stopped = {1, 200 * 1000 * 1000};
    nanosleep(&late, NULL);
    daisy_broker_poll(fx.broker, 0);
    cr_assert_null(strstr(fx.log, "did not run"), "%s", fx.log);
    nanosleep(&stopped, NULL);
    daisy_broker_poll(fx.broker, 0);
    cr_assert_not_null(strstr(fx.log, "the broker did not run for 1."), "%s", fx.log);
}

//  A worker that gave up on a broker stopped for a second reconnects after
//  a back-off grown with that silence (1 s, then 2 s, ...): the broker,
//  continued, waits that long again before it takes the worker for lost,
//  or the worker would be lost, and its running block retried, just as it
//  came back.
Test(broker, a_broker_back_from_a_stop_waits_for_its_workers_to_reconnect)
{
    daisy_wire_block_t b;
    void *s = stop_broker_holding(&b);
    int64_t until = tu_now_ms() + 600;  //  twice its liveness, the worker backing off
    while (tu_now_ms() < until)
        daisy_broker_poll(fx.broker, 20);
    cr_assert_eq(stats().workers_lost, 0, "lost while it was backing off");
    zmq_close(s);
    fx.socks[--fx.nsocks] = NULL;
    void *again = dealer("w1");
    daisy_msg_t hello = hello_msg("a", "w1", RUN);
    daisy_msg_t m = exchange(again, &hello, DAISY_MSG_WELCOME);
    cr_assert_eq(m.u.welcome.held, 1, "its block is still its own");
}

//  Task state ---------------------------------------------------------------

static daisy_wire_task_state_t
state(void)
{
    daisy_wire_task_state_t st;
    daisy_broker_task_state(fx.broker, 0, &st);
    return st;
}

Test(broker, the_task_state_counts_workers_and_the_launchers_jobs)
{
    start((cfg_t){.blocks = 2, .run_id = RUN});
    daisy_broker_set_launches(fx.broker, 0, 3, 1);
    daisy_broker_set_launches(fx.broker, 7, 9, 9);     //  no such task: ignored
    daisy_wire_task_state_t st = state();
    cr_assert_eq(st.workers, 0);
    cr_assert_eq(st.jobs_pending, 3);
    cr_assert_eq(st.jobs_starting, 1);
    cr_assert_eq(st.elapsed_s, 0, "no block handed out yet");
    join("w1");
    join("w2");
    cr_assert_eq(state().workers, 2);
}

Test(broker, a_finished_tasks_elapsed_time_and_rate_stop_changing)
{
    start((cfg_t){.blocks = 2, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 2, b, 2);
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL);
    cr_assert_gt(state().elapsed_s, 0, "elapsed counts from the first hand-out");
    daisy_broker_set_launches(fx.broker, 0, 1, 1);
    daisy_wire_result_t r[2] = {ok(&b[0]), ok(&b[1])};
    release(s, r, 2, 2, NULL);
    expect(s, DAISY_MSG_SHUTDOWN);
    daisy_wire_task_state_t done = state();
    cr_assert_gt(done.blocks_per_s, 0, "a task done within one interval still has a rate");
    cr_assert_float_eq(done.blocks_per_s, 2.0 / done.elapsed_s, 1e-6 * done.blocks_per_s);
    cr_assert_eq(done.jobs_pending + done.jobs_starting, 0, "a done task waits for no job");
    //  Snapshots go on (one a second): nothing of the finished task moves.
    int64_t until = tu_now_ms() + 1300;
    while (tu_now_ms() < until)
        daisy_broker_poll(fx.broker, 50);
    daisy_wire_task_state_t later = state();
    cr_assert_eq(later.elapsed_s, done.elapsed_s);
    cr_assert_eq(later.blocks_per_s, done.blocks_per_s);
}

Test(broker, a_done_task_takes_no_launch_counts)
{
    start((cfg_t){.blocks = 1, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b;
    take(s, 1, &b, 1);
    daisy_wire_result_t r = ok(&b);
    release(s, &r, 1, 1, NULL);
    expect(s, DAISY_MSG_SHUTDOWN);
    daisy_broker_set_launches(fx.broker, 0, 2, 2);
    cr_assert_eq(state().jobs_pending + state().jobs_starting, 0);
}

//  Run statistics -----------------------------------------------------------

static daisy_wire_result_t
took(const daisy_wire_block_t *b, double seconds)
{
    daisy_wire_result_t r = ok(b);
    r.seconds = seconds;
    return r;
}

Test(broker, run_statistics_count_block_times_workers_and_their_reports)
{
    start((cfg_t){.blocks = 20, .run_id = RUN, .max_held = 8});
    void *s1 = join("w1"), *s2 = join("w2");
    daisy_wire_block_t b[20];
    take(s1, 8, b, 8);
    take(s2, 4, b + 8, 4);
    //  12 held at once: the peak, whatever comes after.
    daisy_msg_t st = {.type = DAISY_MSG_STATS, .u.stats = {3.5, 2048}};
    send_msg(s1, &st);
    daisy_wire_result_t r[20];
    for (int i = 0; i < 8; i++)
        r[i] = took(&b[i], i < 4 ? 1.0 : 2.0);      //  first blocks fast, later slow
    release(s1, r, 8, 0, NULL);
    POLL_UNTIL(counts().completed == 8);    //  two sockets: no order between them
    for (int i = 8; i < 12; i++)
        r[i] = took(&b[i], 4.0);
    release(s2, r + 8, 4, 0, NULL);
    POLL_UNTIL(counts().completed == 12);
    st.u.stats = (daisy_wire_stats_msg_t){5.0, 1024};  //  RSS never goes down in a report
    send_msg(s1, &st);
    daisy_msg_t bye = {.type = DAISY_MSG_BYE};
    send_msg(s1, &bye);     //  after its STATS on the same socket: read after it
    send_msg(s2, &bye);
    POLL_UNTIL(daisy_broker_worker_count(fx.broker, 0) == 0);
    daisy_wire_run_stats_t rs;
    cr_assert_eq(daisy_broker_run_stats(fx.broker, &rs), 0);
    cr_assert_eq(rs.ntasks, 1);
    const daisy_wire_task_stats_t *t = &rs.tasks[0];
    cr_assert_eq(t->blocks, 12);
    cr_assert_float_eq(t->mean_s, (4 * 1.0 + 4 * 2.0 + 4 * 4.0) / 12, 1e-9);
    cr_assert_float_eq(t->p50_s, 2.0, 2.0 * 0.025, "p50 %g", t->p50_s);
    cr_assert_float_eq(t->p95_s, 4.0, 4.0 * 0.025, "p95 %g", t->p95_s);
    cr_assert_eq(t->max_s, 4.0);
    cr_assert_eq(t->peak_concurrency, 12);
    cr_assert_eq(t->trend_points, 6, "12 of 20 blocks: tenths 0..5");
    cr_assert_lt(t->trend_s[0], t->trend_s[5], "blocks got slower: %g %g", t->trend_s[0],
                 t->trend_s[5]);
    cr_assert_eq(rs.nworkers, 2, "workers that left stay in the report");
    for (uint32_t i = 0; i < 2; i++) {
        const daisy_wire_worker_stats_t *w = &rs.workers[i];
        cr_assert_str_eq(w->task_id, "a");
        cr_assert_str_eq(w->host, "testhost");
        if (strcmp(w->worker_id, "w1") == 0) {
            cr_assert_eq(w->blocks, 8);
            cr_assert_eq(w->cpu_s, 5.0);
            cr_assert_eq(w->peak_rss_kb, 2048);
        } else {
            cr_assert_str_eq(w->worker_id, "w2");
            cr_assert_eq(w->blocks, 4);
            cr_assert_eq(w->cpu_s, 0, "w2 never reported");
        }
    }
}

//  CurveZMQ -----------------------------------------------------------------

//  A CurveZMQ broker made, freed and made again in one process (a program
//  that runs pipelines one after the other): each one starts, though
//  libzmq frees the last one's sockets in the background.
Test(broker, a_curve_broker_can_be_made_again_and_again)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    char dir[] = "/tmp/daisy-test-curve-XXXXXX", secret[64], allow[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(secret, sizeof secret, "%s/broker", dir);
    snprintf(allow, sizeof allow, "%s/allow", dir);
    cr_assert_eq(mkdir(allow, 0700), 0);
    zcert_t *cert = zcert_new();
    cr_assert_eq(zcert_save_secret(cert, secret), 0);
    zcert_destroy(&cert);
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "tcp://127.0.0.1:*";
    opt.run_id = RUN;
    opt.curve_secret = secret;
    opt.curve_allow = allow;
    int made = 0;
    daisy_error_t err = {0};
    for (int i = 0; i < 20; i++) {
        daisy_broker_t *b = daisy_broker_new(fx.graph, &opt, &err);
        if (!b)
            break;
        made++;
        daisy_broker_destroy(&b);
    }
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
    cr_assert_eq(made, 20, "broker %d: %s", made + 1, err.msg);
}

//  Signals --------------------------------------------------------------------

static void
callers_handler(int sig)
{
    (void)sig;
}

static bool
handled_by(int sig, void (*handler)(int))
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    return sa.sa_handler == handler;
}

//  The library installs no signal handler: czmq's own, which its first
//  socket would install for good, is not left behind (a program's Ctrl-C
//  did nothing after its first run).
Test(broker, a_broker_leaves_the_callers_signal_handlers)
{
    signal(SIGINT, callers_handler);
    signal(SIGTERM, SIG_DFL);
    start((cfg_t){.blocks = 4, .run_id = RUN});
    cr_assert(handled_by(SIGINT, callers_handler), "SIGINT's handler changed");
    cr_assert(handled_by(SIGTERM, SIG_DFL), "SIGTERM's disposition changed");
    daisy_broker_destroy(&fx.broker);
    cr_assert(handled_by(SIGINT, callers_handler), "SIGINT's handler changed");
    cr_assert(handled_by(SIGTERM, SIG_DFL), "SIGTERM's disposition changed");
}

//  Resume ---------------------------------------------------------------------

//  A resume (markers holding marks) hands out no block for liveness x
//  heartbeat: workers of the stopped run, launched apart from it, first
//  reconnect and learn that what they run is not theirs (WELCOME's held),
//  so that no block runs twice at once.
//  The markers of an earlier run of the 4-block task "a" in `dir`, with
//  `done` blocks marked; then a broker of it, and w1 asking for 8 blocks,
//  which it is not given for 600 ms. Returns w1's socket.
static void *
resume_with(char *dir, uint64_t done)
{
    cr_assert_not_null(mkdtemp(dir));
    daisy_error_t err = {0};
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("a", 0, 40, 10, 0, 10);
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    for (uint64_t i = 0; i < done; i++)
        daisy_markers_set(m, i);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    start((cfg_t){.blocks = 4, .heartbeat_ms = 200, .liveness = 5, .run_id = RUN,
                  .markers = dir});
    void *s = join("w1");
    request(s, 8);
    daisy_msg_t beat = {.type = DAISY_MSG_HEARTBEAT};
    for (int i = 0; i < 2; i++) {   //  600 ms without a block, heartbeating
        quiet(s);
        send_msg(s, &beat);
    }
    return s;
}

//  A broker killed before any block was done, and started again: its
//  workers may still run their first blocks, so it waits as any resume
//  does. Before, with no mark yet, it handed the blocks out at once, beside
//  the old workers' commands (a chaos review saw 20-687 ms overlaps).
Test(broker, a_restart_with_nothing_done_yet_waits_as_a_resume_does)
{
    char dir[] = "/tmp/daisy-test-resume-XXXXXX";
    void *s = resume_with(dir, 0);
    daisy_wire_block_t b[4];
    receive_blocks(s, b, 4);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

Test(broker, a_resume_hands_out_no_block_before_liveness_heartbeats)
{
    char dir[] = "/tmp/daisy-test-resume-XXXXXX";
    void *s = resume_with(dir, 1);  //  block 0 of the 4 done in an earlier run
    daisy_wire_block_t b[3];
    receive_blocks(s, b, 3);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
    cr_assert_null(find(b, 3, 0), "block 0 was done before");
    //  The rate is of the blocks this run processed: the skipped block,
    //  done before, would have the rate promise a pace it cannot keep.
    daisy_wire_result_t r[3] = {ok(&b[0]), ok(&b[1]), ok(&b[2])};
    release(s, r, 3, 3, NULL);
    expect(s, DAISY_MSG_SHUTDOWN);
    daisy_wire_task_state_t done = state();
    cr_assert_eq(done.counts.skipped, 1);
    cr_assert_eq(done.counts.completed, 4);
    cr_assert_float_eq(done.blocks_per_s, 3.0 / done.elapsed_s, 1e-6 * done.blocks_per_s);
}

//  A worker that leaves and joins again under its id (a reconnect after it
//  was lost) is one worker of the statistics, its blocks together.
Test(broker, a_worker_joining_again_is_one_worker_of_the_statistics)
{
    start((cfg_t){.blocks = 4, .run_id = RUN});
    void *s = join("w1");
    daisy_wire_block_t b[2];
    take(s, 1, b, 1);
    daisy_wire_result_t r = ok(&b[0]);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 1);
    daisy_msg_t bye = {.type = DAISY_MSG_BYE};
    send_msg(s, &bye);
    POLL_UNTIL(daisy_broker_worker_count(fx.broker, 0) == 0);
    daisy_msg_t hello = hello_msg("a", "w1", RUN);
    exchange(s, &hello, DAISY_MSG_WELCOME);
    take(s, 1, b + 1, 1);
    r = ok(&b[1]);
    release(s, &r, 1, 0, NULL);
    POLL_UNTIL(counts().completed == 2);
    daisy_wire_run_stats_t rs;
    cr_assert_eq(daisy_broker_run_stats(fx.broker, &rs), 0);
    cr_assert_eq(rs.nworkers, 1, "one worker, joined twice");
    cr_assert_eq(rs.workers[0].blocks, 2);
}

//  The feed's block snapshots send each grid at most once an interval: a
//  small grid went round and round, 64 compressed copies a second (5 % of
//  a core for an idle broker). Counted against the task_state events of
//  the same intervals (one per task each), so no clock is asserted on.
Test(broker, block_snapshots_send_a_small_grid_once_an_interval)
{
    daisy_error_t err;
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *task = tu_task_1d("a", 0, 320, 10, 0, 10);
    daisy_pipeline_add(p, &task);
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "tcp://127.0.0.1:*";
    opt.publish = "tcp://127.0.0.1:*";
    opt.snapshot_ms = 50;
    opt.run_id = RUN;
    daisy_broker_t *b = daisy_broker_new(g, &opt, &err);
    cr_assert_not_null(b, "%s", err.msg);
    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    cr_assert_eq(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "block_snapshot", 14), 0);
    cr_assert_eq(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "task_state", 10), 0);
    cr_assert_eq(zmq_connect(sub, daisy_broker_publish_endpoint(b)), 0);
    int snapshots = 0, states = 0;
    while (states < 10) {
        daisy_broker_poll(b, 10);
        char topic[64];
        int n;
        while ((n = zmq_recv(sub, topic, sizeof topic - 1, ZMQ_DONTWAIT)) >= 0) {
            topic[n < 63 ? n : 63] = '\0';
            snapshots += !strcmp(topic, "block_snapshot");
            states += !strcmp(topic, "task_state");
            char body[4096];
            while (zmq_recv(sub, body, sizeof body, ZMQ_DONTWAIT) >= 0) {
                int more = 0;
                size_t len = sizeof more;
                zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &len);
                if (!more)
                    break;
            }
        }
    }
    cr_assert_leq(snapshots, states + 1, "%d snapshots of a 32-block grid in %d intervals",
                  snapshots, states);
    cr_assert_geq(snapshots, states - 1, "and one each interval");
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Private directories ---------------------------------------------------------

//  A socket file at dir/broker, as a broker leaves it: listening (alive) or
//  closed without unlinking (killed). Its times are set `age` seconds back.
//  Returns the listening descriptor, or -1 for a dead one.
static int
fake_broker(const char *dir, bool alive, time_t age)
{
    cr_assert_eq(mkdir(dir, 0700), 0, "%s", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/broker", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    struct timespec t[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, sa.sun_path, t, AT_SYMLINK_NOFOLLOW), 0);
    if (alive)
        return fd;
    close(fd);
    return -1;
}

static bool
exists(const char *base, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", base, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

//  A broker on ipc://* removes the directories of brokers that were killed
//  before they could (their socket refuses connections), and nothing else:
//  not a live broker's, not one bound a moment ago, not one holding more
//  than its socket, not an empty one (a run between mkdtemp and bind).
Test(broker, a_private_broker_sweeps_killed_brokers_directories_only)
{
    char tmp[] = "/tmp/daisy-test-sweep-XXXXXX", d[256];
    cr_assert_not_null(mkdtemp(tmp));
    const char *names[] = {"daisy-run-dead01", "daisy-run-live01", "daisy-run-young1",
                           "daisy-run-extra1", "daisy-run-empty1", "other-run-dead01"};
    snprintf(d, sizeof d, "%s/%s", tmp, names[0]);
    fake_broker(d, false, 3600);
    snprintf(d, sizeof d, "%s/%s", tmp, names[1]);
    int live = fake_broker(d, true, 3600);
    snprintf(d, sizeof d, "%s/%s", tmp, names[2]);
    fake_broker(d, false, 0);
    snprintf(d, sizeof d, "%s/%s", tmp, names[3]);
    fake_broker(d, false, 3600);
    snprintf(d, sizeof d, "%s/%s/notes", tmp, names[3]);
    FILE *f = fopen(d, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(d, sizeof d, "%s/%s", tmp, names[4]);
    cr_assert_eq(mkdir(d, 0700), 0);
    snprintf(d, sizeof d, "%s/%s", tmp, names[5]);
    fake_broker(d, false, 3600);

    setenv("TMPDIR", tmp, 1);
    daisy_error_t err;
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *task = tu_task_1d("a", 0, 20, 10, 0, 10);
    daisy_pipeline_add(p, &task);
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_broker_options_t opt = daisy_broker_options_default();
    opt.bind = "ipc://*";
    opt.run_id = RUN;
    daisy_broker_t *b = daisy_broker_new(g, &opt, &err);
    unsetenv("TMPDIR");
    cr_assert_not_null(b, "%s", err.msg);
    cr_assert_not(exists(tmp, names[0]), "the killed broker's directory is gone");
    for (int i = 1; i < 6; i++)
        cr_assert(exists(tmp, names[i]), "%s is kept", names[i]);
    const char *ep = daisy_broker_endpoint(b);
    cr_assert(!strncmp(ep, "ipc://", 6) && strstr(ep, tmp) == ep + 6, "%s", ep);
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    close(live);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", tmp);
    cr_assert_eq(system(rm), 0);
}
