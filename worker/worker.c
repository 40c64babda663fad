/*  worker.c - the worker loop: blocks in, results out, heartbeats between

    One socket, two threads, and the socket changes hands.

    The calling thread (the one in daisy_worker_run) owns the DEALER socket
    whenever it is not inside the user's check or process function: it
    sends the RELEASE, waits for the next BLOCKS and decodes it itself, answers the broker's silence with heartbeats, and handles
    SHUTDOWN, ERROR, reconnects and the back-off. So the hot path of a
    lockstep worker is one round trip and nothing more: no thread
    hand-over, one send, and one poll() on the socket's ZMQ_FD and the
    doorbell eventfd between two non-blocking receives (see io_wait).

    A second thread, the keeper, covers for the caller while a block runs
    long. It sleeps on a condition variable, wakes when the caller has been
    inside a check or process function for WORKER_TAKEOVER_MS (20 ms, or a
    quarter of the heartbeat interval if that is shorter), and then takes the socket and everything that
    goes with it under the mutex: it sends heartbeats (so a block of an
    hour is not mistaken for a dead worker), notices a silent broker and
    reconnects, queues prefetched BLOCKS, flushes results held for
    batching, and notes SHUTDOWN and fatal errors. When the function
    returns, the caller asks for the socket back through the eventfd and
    waits until the keeper hands it over: a hand-over costs two thread
    wake-ups, paid only by blocks longer than the take-over time. Shorter
    blocks never meet the keeper: it looks at the caller once per take-over
    interval while blocks flow, and parks without a timeout when no block
    started in a whole interval (the next block start signals it).
    A ZeroMQ socket may change threads when the uses are separated by a
    full memory barrier; the mutex around every change of hands is that
    barrier.

    Credits. The worker keeps `prefetch` blocks in its hands: each RELEASE
    asks for as many new blocks as the window is short, counted as
    prefetch - (credits the broker owes us) - (blocks held: queued, running
    or finished with the result not yet sent). After a reconnect the broker
    owes nothing (credits start again from zero) but the blocks held stay
    held: they are processed and their results sent as usual. The broker
    keeps the leases of a worker that says hello again, so dropping them
    here would strand them there; and a broker that did give up on us
    ignores the stale results, which still return their credits, so the
    window stays exact either way.

    Resending. The socket keeps its ZMQ_ROUTING_ID (the worker id, and
    the run id: see worker_routing_id) across
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

    Completion checks. With daisy_worker_set_check(), every block is first
    offered to the check (inside the same "busy" window as the process
    function, so a slow check is covered by the keeper too); a block found
    done is released as skipped without being processed.

    With CurveZMQ a socket monitor watches the handshake, so that a broker
    refusing our key ends the run with that reason instead of looking like
    a broker that never answers.

    libzmq rather than czmq, with a context of our own: the worker may live
    in a process forked from a czmq broker, whose context must not be
    touched after the fork. Library code: nothing is printed; the CLI and
    embedding programs report errors.
*/
#include "daisy/worker.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "daisy/protocol.h"

#define WORKER_HEARTBEAT_MS 1000     //  until WELCOME says otherwise
#define WORKER_LIVENESS 3
#define WORKER_RECONNECT_MAX_MS 30000
#define WORKER_BACKOFF_MIN_MS 1000
#define WORKER_BATCH_DELAY_MS 20     //  longest a result waits for company
#define WORKER_BATCH_BYTES (DAISY_MAX_FRAME / 2) //  RELEASE size budget
#define WORKER_LINGER_MS 1000        //  to deliver the last RELEASE and BYE
#define WORKER_RESEND_MAX 16384      //  results remembered for a resend
#define WORKER_TAKEOVER_MS 20        //  a block this long: the keeper takes the socket

//  A result not yet sent; `error` is owned (NULL: none).
typedef struct {
    uint64_t block_id;
    uint32_t attempt;
    daisy_result_status_t status;
    double seconds;
    char *error;
    int64_t sent_at;        //  when it went out (for the resend memory)
    bool resend;            //  sent before: its credit was counted then
} result_t;

typedef struct {
    result_t *items;
    size_t count, cap;
} results_t;

//  The resend memory: a ring, oldest first, the oldest evicted when full.
typedef struct {
    result_t *items;
    size_t head, count;
} sent_t;

typedef enum {
    LINK_IDLE,      //  no socket; reconnect at retry_at
    LINK_HELLO,     //  HELLO sent, waiting for WELCOME
    LINK_READY      //  welcomed: blocks and results flow
} link_t;

//  The socket and all that goes with it. Only the thread that owns the
//  socket touches this: the caller outside its check and process
//  functions, the keeper while it has taken over (see the top of the file).
typedef struct {
    void *ctx;
    void *sock;
    void *monitor;          //  CurveZMQ only: handshake events of sock
    uint32_t monitors;      //  monitors made, for unique inproc names
    link_t link;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    uint32_t credits_out;   //  asked for, not yet received (this connection)
    uint32_t held;          //  received, result not yet sent
    uint32_t backoff_ms;
    int64_t last_send;
    int64_t last_recv;      //  liveness clock (restarted by each HELLO)
    int64_t last_answer;    //  last time any broker said anything
    int64_t last_drain;     //  last look at the socket while blocks were queued
    int64_t retry_at;       //  LINK_IDLE: when to reconnect
    int64_t flush_at;       //  results held: when they must go
    daisy_wire_block_t *queue;  //  ring of blocks received, not yet started
    size_t qhead, qcount, qcap;
    results_t pending;      //  results not yet sent
    sent_t sent;            //  recently sent (see Resending)
    daisy_wire_result_t *wire;
    daisy_decoder_t *decoder;
    daisy_buffer_t out;
    bool start_pending;     //  `start` begins now: tell the broker (STARTED)
    daisy_wire_lease_t start;
    bool stopping;          //  no more credits: we are leaving
    bool finished;          //  SHUTDOWN, or a fatal error: the run is over
    int rc;                 //  the run's result once finished
    daisy_error_t err;      //  its message when rc < 0
} io_t;

struct _daisy_worker_t {
    char *endpoint;
    char *task_id;
    char *worker_id;
    char *run_id;
    char routing_id[256];       //  worker_id, then "/" and the run id if any
    size_t routing_size;
    char host[256];
    uint32_t prefetch;
    uint32_t reconnect_max_ms;
    uint32_t give_up_ms;
    bool curve;
    uint8_t server_key[32];
    uint8_t public_key[32];
    uint8_t secret_key[32];
    daisy_check_fn *check;
    void *check_arg;

    io_t io;

    //  Who has the socket, under `lock`.
    pthread_mutex_t lock;
    pthread_cond_t keeper_cond; //  the keeper waits here
    pthread_cond_t caller_cond; //  the caller waits here for the socket back
    bool busy;                  //  the caller is in a check or process function
    int64_t busy_since;
    uint32_t takeover_ms;       //  busy this long: the keeper takes the socket
    uint64_t starts;            //  busy periods begun (the keeper's sign of life)
    bool parked;                //  the keeper waits without a timeout
    bool keeper_has_socket;
    bool quit;                  //  the keeper leaves
    int give_back;              //  the caller wants the socket (atomic)
    pthread_t keeper;

    //  daisy_worker_stop() was called. Lock-free atomics rather than a
    //  volatile sig_atomic_t: it is set from a signal handler and read by
    //  both threads.
    int stop;
    int wake_fd;                //  eventfd: stop, and "give the socket back"

    //  Caller's thread only.
    bool error_set;
    char error_text[DAISY_MAX_TEXT + 1];
    uint64_t processed;         //  read with atomics from other threads
    uint64_t skipped;
};

//  Helpers -----------------------------------------------------------------

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool
worker_stopped(daisy_worker_t *self)
{
    return __atomic_load_n(&self->stop, __ATOMIC_ACQUIRE) != 0;
}

static uint32_t
worker_backoff_min(const daisy_worker_t *self)
{
    return WORKER_BACKOFF_MIN_MS < self->reconnect_max_ms ? WORKER_BACKOFF_MIN_MS
                                                          : self->reconnect_max_ms;
}

static const char *
env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

//  Ring the doorbell of whoever has the socket. Async-signal-safe.
static void
wake_owner(daisy_worker_t *self)
{
    uint64_t one = 1;
    ssize_t n = write(self->wake_fd, &one, sizeof one);
    (void)n;    //  EAGAIN means the counter is already non-zero: rung
}

static void
wake_clear(daisy_worker_t *self)
{
    uint64_t count;
    ssize_t n = read(self->wake_fd, &count, sizeof count);
    (void)n;
}

static void
results_clear(results_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i].error);
    r->count = 0;
}

static void
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

//  Keys for CurveZMQ -------------------------------------------------------

//  Find `name = "Z85"` in a czmq certificate file and decode it.
static int
cert_key(const char *path, const char *name, uint8_t key[32], daisy_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return daisy_error_set(err, "cannot read key file %s: %s", path, strerror(errno));
    char line[512];
    size_t len = strlen(name);
    int rc = daisy_error_set(err, "key file %s has no valid %s", path, name);
    while (fgets(line, sizeof line, f)) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, name, len) != 0)
            continue;
        p += len;
        p += strspn(p, " \t");
        if (*p++ != '=')
            continue;
        p += strspn(p, " \t\"");
        char z85[41];
        size_t n = strcspn(p, "\" \t\r\n");
        if (n != 40)
            continue;
        memcpy(z85, p, 40);
        z85[40] = '\0';
        if (zmq_z85_decode(key, z85)) {
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int
worker_load_keys(daisy_worker_t *self, const char *secret, const char *broker,
                 daisy_error_t *err)
{
    if (!secret && !broker)
        return 0;
    if (!secret || !broker)
        return daisy_error_set(err, "CurveZMQ needs both this worker's secret key "
                                    "file and the broker's public key file");
    if (!zmq_has("curve"))
        return daisy_error_set(err, "this libzmq was built without CurveZMQ");
    if (cert_key(secret, "secret-key", self->secret_key, err) < 0
        || cert_key(broker, "public-key", self->server_key, err) < 0)
        return -1;
    //  The public key is derived rather than read: one less thing to mismatch.
    char z85_secret[41], z85_public[41];
    zmq_z85_encode(z85_secret, self->secret_key, 32);
    if (zmq_curve_public(z85_public, z85_secret) != 0
        || !zmq_z85_decode(self->public_key, z85_public))
        return daisy_error_set(err, "cannot derive the public key from %s", secret);
    self->curve = true;
    return 0;
}

daisy_worker_options_t
daisy_worker_options_default(void)
{
    daisy_worker_options_t o = {
        .endpoint = env_or_null("DAISY_BROKER"),
        .task_id = env_or_null("DAISY_TASK_ID"),
        .worker_id = env_or_null("DAISY_WORKER_ID"),
        .run_id = env_or_null("DAISY_RUN_ID"),
        .prefetch = 1,
        .reconnect_max_ms = WORKER_RECONNECT_MAX_MS,
        .give_up_ms = 0,
    };
    return o;
}

//  "<host>:<pid>:<4 hex>": unique enough to tell restarts apart in logs.
static char *
worker_default_id(const char *host)
{
    uint16_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint16_t)(now_ms() ^ getpid());
    char buf[300];
    snprintf(buf, sizeof buf, "%s:%ld:%04x", host, (long)getpid(), r);
    return strdup(buf);
}

static int
worker_check_options(const daisy_worker_options_t *o, daisy_error_t *err)
{
    if (!o->endpoint || !*o->endpoint)
        return daisy_error_set(err, "no broker endpoint (set DAISY_BROKER)");
    if (!strstr(o->endpoint, "://"))
        return daisy_error_set(err, "broker endpoint '%s' is not a ZeroMQ endpoint "
                                    "(e.g. tcp://host:5555)", o->endpoint);
    if (!o->task_id || !*o->task_id)
        return daisy_error_set(err, "no task id (set DAISY_TASK_ID)");
    if (o->worker_id && (!*o->worker_id || strlen(o->worker_id) > 255))
        return daisy_error_set(err, "worker id must be 1 to 255 bytes long");
    if (o->run_id && strlen(o->run_id) > 64)
        return daisy_error_set(err, "run id '%.64s...' is longer than 64 bytes", o->run_id);
    if (o->prefetch > DAISY_MAX_BATCH)
        return daisy_error_set(err, "prefetch %u out of range 1..%d", o->prefetch,
                               DAISY_MAX_BATCH);
    return 0;
}

//  The routing id carries the run id too: libzmq reconnects a DEALER by
//  itself, without a new HELLO, so a worker of a killed run whose address
//  a new broker took would otherwise be taken for the new run's worker of
//  the same id (ROUTER_HANDOVER) and be sent its blocks. With the run id
//  in it, the new broker does not know the id, answers not_ready, and
//  the HELLO that follows is refused as wrong_run.
static void
worker_routing_id(daisy_worker_t *self)
{
    size_t run = strlen(self->run_id);
    size_t room = sizeof self->routing_id - 1 - (run ? run + 1 : 0);
    int n = snprintf(self->routing_id, sizeof self->routing_id, "%.*s%s%s", (int)room,
                     self->worker_id, run ? "/" : "", self->run_id);
    self->routing_size = (size_t)n < sizeof self->routing_id ? (size_t)n
                                                             : sizeof self->routing_id - 1;
}

daisy_worker_t *
daisy_worker_new(const daisy_worker_options_t *options, daisy_error_t *err)
{
    daisy_worker_options_t o = options ? *options : daisy_worker_options_default();
    if (worker_check_options(&o, err) < 0)
        return NULL;
    daisy_worker_t *self = calloc(1, sizeof *self);
    if (!self) {
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    self->wake_fd = -1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);    //  the keeper's timed waits
    pthread_cond_init(&self->keeper_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&self->caller_cond, NULL);
    if (gethostname(self->host, sizeof self->host - 1) != 0)
        strcpy(self->host, "localhost");
    self->endpoint = strdup(o.endpoint);
    self->task_id = strdup(o.task_id);
    self->worker_id = o.worker_id ? strdup(o.worker_id) : worker_default_id(self->host);
    self->run_id = strdup(o.run_id ? o.run_id : "");
    self->prefetch = o.prefetch ? o.prefetch : 1;
    self->reconnect_max_ms = o.reconnect_max_ms ? o.reconnect_max_ms : WORKER_RECONNECT_MAX_MS;
    self->give_up_ms = o.give_up_ms;
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->endpoint || !self->task_id || !self->worker_id || !self->run_id
        || self->wake_fd < 0) {
        daisy_error_set(err, "cannot create worker: %s", strerror(errno ? errno : ENOMEM));
        daisy_worker_destroy(&self);
        return NULL;
    }
    worker_routing_id(self);
    if (worker_load_keys(self, o.curve_secret, o.broker_key, err) < 0) {
        daisy_worker_destroy(&self);
        return NULL;
    }
    return self;
}

void
daisy_worker_destroy(daisy_worker_t **self_p)
{
    daisy_worker_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->wake_fd >= 0)
        close(self->wake_fd);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->keeper_cond);
    pthread_cond_destroy(&self->caller_cond);
    free(self->endpoint);
    free(self->task_id);
    free(self->worker_id);
    free(self->run_id);
    explicit_bzero(self->secret_key, sizeof self->secret_key);
    free(self);
    *self_p = NULL;
}

void
daisy_worker_set_check(daisy_worker_t *self, daisy_check_fn *fn, void *arg)
{
    if (!self)
        return;
    self->check = fn;
    self->check_arg = fn ? arg : NULL;
}

//  The socket ----------------------------------------------------------------
//
//  Everything from here to "The keeper" runs in the thread that owns the
//  socket at the time, and touches only `self->io` and read-only fields.

static void io_fatal(daisy_worker_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

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
io_close(daisy_worker_t *self, int linger)
{
    io_t *io = &self->io;
    if (!io->sock)
        return;
    if (io->monitor) {
        zmq_socket_monitor(io->sock, NULL, 0);
        zmq_close(io->monitor);
        io->monitor = NULL;
    }
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

//  With CurveZMQ, a broker that refuses our key just drops the connection;
//  only a socket monitor tells "refused" from "unreachable".
static int
io_monitor(daisy_worker_t *self)
{
    io_t *io = &self->io;
    char name[64];
    int linger = 0;
    snprintf(name, sizeof name, "inproc://daisy-worker-monitor-%u", ++io->monitors);
    if (zmq_socket_monitor(io->sock, name, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) < 0
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
    }
}

static void
io_connect(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io->sock = zmq_socket(io->ctx, ZMQ_DEALER);
    if (!io->sock || io_socket_options(self, io->sock) < 0) {
        io_fatal(self, "cannot create a socket: %s", zmq_strerror(zmq_errno()));
        io_close(self, 0);
        return;
    }
    if (self->curve && io_monitor(self) < 0) {
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
    io->retry_at = now + io->backoff_ms;
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
sent_at(sent_t *ring, size_t i)
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

static void
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
    uint32_t credits = io_deficit(self);
    daisy_msg_t msg = {.type = DAISY_MSG_RELEASE};
    msg.u.release.credits = credits;
    msg.u.release.count = (uint32_t)n;
    msg.u.release.results = io->wire;
    //  The block starting now rides along (see io_started).
    msg.u.release.has_started = io->start_pending;
    msg.u.release.started = io->start;
    io->start_pending = false;
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
static void
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
static void
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

//  A block starts: the broker must know, so that losing us costs this
//  block an attempt and no other (the blocks we hold but have not started
//  go back free). The start rides on a RELEASE when results go out now
//  anyway, else it goes alone as STARTED: one small message that the
//  broker never answers, sent before the block runs (a block that crashes
//  its worker at once is charged too, so it cannot kill workers forever).
static void
io_started(daisy_worker_t *self, const daisy_wire_block_t *block, int64_t now)
{
    io_t *io = &self->io;
    io->start_pending = true;
    io->start = (daisy_wire_lease_t){block->block_id, block->attempt};
    io_maybe_flush(self, now);
    if (io->start_pending && io->link == LINK_READY) {
        daisy_msg_t msg = {.type = DAISY_MSG_STARTED};
        msg.u.started = io->start;
        io_send(self, &msg, now);
    }
    io->start_pending = false;
}

//  Messages from the broker ----------------------------------------------------

static void
io_on_welcome(daisy_worker_t *self, const daisy_msg_t *msg, int64_t now)
{
    io_t *io = &self->io;
    if (io->link != LINK_HELLO)
        return;
    io->heartbeat_ms = msg->u.welcome.heartbeat_ms ? msg->u.welcome.heartbeat_ms
                                                   : WORKER_HEARTBEAT_MS;
    io->liveness = msg->u.welcome.liveness ? msg->u.welcome.liveness : WORKER_LIVENESS;
    io->link = LINK_READY;
    io->backoff_ms = worker_backoff_min(self);
    io_flush(self, now);    //  results from before a reconnect, then credits
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
    for (uint32_t i = 0; i < n; i++)
        io->queue[(io->qhead + io->qcount++) % io->qcap] = msg->u.blocks.blocks[i];
    io->credits_out = n > io->credits_out ? 0 : io->credits_out - n;
    io->held += n;
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
        //  blocks are not ours to run. Leave at once, no reconnecting.
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
        io_on_welcome(self, msg, now);
        break;
    case DAISY_MSG_BLOCKS:
        io_on_blocks(self, msg);
        break;
    case DAISY_MSG_SHUTDOWN:
        io->rc = 0;
        io->finished = true;
        break;
    case DAISY_MSG_ERROR:
        io_on_error(self, msg, now);
        break;
    default:
        break;
    }
}

//  Read every waiting frame: one wake-up, many messages.
static void
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
static long
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
    }
    if (self->give_up_ms)
        due = earliest(due, io->last_answer + self->give_up_ms);
    if (due < 0)
        return -1;
    return due <= now ? 0 : (long)(due - now);
}

static void
io_timers(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
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
static void
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
static bool
io_wait(daisy_worker_t *self, long timeout)
{
    io_t *io = &self->io;
    if (!io->sock || io->monitor)
        return io_wait_poll(self, timeout);
    int64_t deadline = timeout < 0 ? -1 : now_ms() + timeout;
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
static void
io_leave(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    io->stopping = true;
    if (io->link == LINK_READY)
        io_flush(self, now);
    if (io->sock) {     //  also after a bare HELLO: the broker may know us
        daisy_msg_t msg = {.type = DAISY_MSG_BYE};
        io_send(self, &msg, now);
        io_close(self, WORKER_LINGER_MS);
    }
    io->rc = 1;
    io->finished = true;
}

//  The keeper ------------------------------------------------------------------

static void
timespec_at(struct timespec *ts, int64_t ms)
{
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

//  The socket is ours until the caller wants it back: the I/O loop of a
//  worker whose caller is busy. Entered and left with the lock held.
static void
keeper_session(daisy_worker_t *self)
{
    io_t *io = &self->io;
    self->keeper_has_socket = true;
    pthread_mutex_unlock(&self->lock);
    int64_t now = now_ms();
    while (!__atomic_load_n(&self->give_back, __ATOMIC_ACQUIRE)) {
        if (!io->finished) {
            if (worker_stopped(self))
                io->stopping = true;    //  no more credits; the caller leaves next
            io_maybe_flush(self, now);
            io_timers(self, now);
        }
        //  Once finished (SHUTDOWN, fatal) the socket stays untouched: only
        //  the doorbell matters.
        if (io->finished) {
            zmq_pollitem_t bell = {NULL, self->wake_fd, ZMQ_POLLIN, 0};
            if (zmq_poll(&bell, 1, -1) > 0)
                wake_clear(self);
        } else if (!io_wait(self, io_timeout(self, now)))
            break;
        now = now_ms();
    }
    pthread_mutex_lock(&self->lock);
    self->keeper_has_socket = false;
    pthread_cond_signal(&self->caller_cond);
}

static void *
keeper_main(void *arg)
{
    daisy_worker_t *self = arg;
    uint64_t seen = 0;      //  busy periods begun, at the last look
    pthread_mutex_lock(&self->lock);
    while (!self->quit) {
        int64_t now = now_ms();
        if (self->busy && now >= self->busy_since + self->takeover_ms) {
            keeper_session(self);
            continue;
        }
        struct timespec ts;
        if (self->busy)         //  until this block runs long
            timespec_at(&ts, self->busy_since + self->takeover_ms);
        else if (self->starts != seen)  //  blocks flow: look again in a while
            timespec_at(&ts, now + self->takeover_ms);
        else {                  //  nothing started since the last look: park
            self->parked = true;
            while (self->parked && !self->quit)
                pthread_cond_wait(&self->keeper_cond, &self->lock);
            continue;
        }
        seen = self->starts;
        pthread_cond_timedwait(&self->keeper_cond, &self->lock, &ts);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

//  The keeper blocks every signal, so handlers run in the caller's threads
//  and never interrupt its socket work.
static int
keeper_start(daisy_worker_t *self)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->keeper, NULL, keeper_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static void
keeper_stop(daisy_worker_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->quit = true;
    pthread_cond_signal(&self->keeper_cond);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->keeper, NULL);
}

//  The caller enters a check or process function: the socket may change
//  hands from here on.
static void
worker_enter_busy(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    uint32_t takeover = io->heartbeat_ms / 4;
    if (takeover > WORKER_TAKEOVER_MS)
        takeover = WORKER_TAKEOVER_MS;
    pthread_mutex_lock(&self->lock);
    self->busy = true;
    self->busy_since = now;
    self->takeover_ms = takeover ? takeover : 1;
    self->starts++;
    if (self->parked) {
        self->parked = false;
        pthread_cond_signal(&self->keeper_cond);
    }
    pthread_mutex_unlock(&self->lock);
}

//  Back from the function: take the socket back if the keeper has it.
static void
worker_leave_busy(daisy_worker_t *self)
{
    pthread_mutex_lock(&self->lock);
    self->busy = false;
    if (self->keeper_has_socket) {
        __atomic_store_n(&self->give_back, 1, __ATOMIC_RELEASE);
        wake_owner(self);
        while (self->keeper_has_socket)
            pthread_cond_wait(&self->caller_cond, &self->lock);
        __atomic_store_n(&self->give_back, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&self->lock);
}

//  The caller ------------------------------------------------------------------

static void
worker_block(const daisy_worker_t *self, const daisy_wire_block_t *w, daisy_block_t *block)
{
    *block = (daisy_block_t){
        .task = 0,
        .task_id = self->task_id,
        .block_id = w->block_id,
        .index = 0,     //  not on the wire: the broker's business
        .level = w->level,
        .attempt = w->attempt,
        .read_roi = w->read_roi,
        .write_roi = w->write_roi,
    };
}

//  Check and run one block and describe its outcome. The keeper may have
//  the socket meanwhile. -1 when the block failed because the worker was
//  told to stop (SIGTERM from a batch system, the broker's death): there
//  is no result then, and the goodbye gives the block back unharmed.
static int
worker_process(daisy_worker_t *self, const daisy_wire_block_t *q, daisy_process_fn *fn, void *arg,
               result_t *result)
{
    daisy_block_t block;
    worker_block(self, q, &block);
    self->error_set = false;
    double start = now_s();
    worker_enter_busy(self, (int64_t)(start * 1000));
    bool done = self->check && self->check(&block, self->check_arg);
    int rc = done ? 0 : fn(&block, arg);
    double seconds = now_s() - start;
    worker_leave_busy(self);
    if (rc != 0 && !done && worker_stopped(self))
        return -1;
    char text[64];
    const char *error = NULL;
    if (rc != 0 && self->error_set)
        error = self->error_text;
    else if (rc != 0) {
        snprintf(text, sizeof text, "process function returned %d", rc);
        error = text;
    }
    *result = (result_t){
        .block_id = q->block_id,
        .attempt = q->attempt,
        .status = done ? DAISY_RESULT_SKIPPED
                       : rc == 0 ? DAISY_RESULT_SUCCESS : DAISY_RESULT_FAILED,
        .seconds = seconds,
        .error = error ? strdup(error) : NULL,
    };
    if (done)
        __atomic_add_fetch(&self->skipped, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&self->processed, 1, __ATOMIC_RELAXED);
    return 0;
}

//  The loop: the socket is the caller's except inside worker_process().
static void
worker_loop(daisy_worker_t *self, daisy_process_fn *fn, void *arg)
{
    io_t *io = &self->io;
    int64_t now = now_ms();
    io->last_answer = now;
    io_connect(self, now);
    for (;;) {
        if (io->finished)
            break;
        if (worker_stopped(self)) {
            io_leave(self, now);
            break;
        }
        //  Blocks queued: look at the socket now and then all the same, for
        //  SHUTDOWN and the broker's heartbeats.
        if (io->qcount && io->sock && now != io->last_drain) {
            io_drain(self, now);
            if (io->finished)
                break;
        }
        io_timers(self, now);
        if (io->finished)
            break;
        io_refill(self, now);
        if (io->qcount) {
            daisy_wire_block_t block = io->queue[io->qhead];
            io->qhead = (io->qhead + 1) % io->qcap;
            io->qcount--;
            //  Results held for company go before the last queued block runs.
            io_refill(self, now);
            io_started(self, &block, now);
            result_t result;
            if (worker_process(self, &block, fn, arg, &result) == 0) {
                now = now_ms();
                io_add_result(self, &result, now);
            } else
                now = now_ms();
            continue;
        }
        io_maybe_flush(self, now);
        if (!io_wait(self, io_timeout(self, now)))
            break;
        now = now_ms();
    }
}

static void
worker_reset(daisy_worker_t *self)
{
    memset(&self->io, 0, sizeof self->io);
    self->io.heartbeat_ms = WORKER_HEARTBEAT_MS;
    self->io.liveness = WORKER_LIVENESS;
    self->io.backoff_ms = worker_backoff_min(self);
    self->io.rc = -1;
    self->busy = self->parked = self->keeper_has_socket = self->quit = false;
    self->give_back = 0;
    self->starts = 0;
}

static void
worker_cleanup(daisy_worker_t *self)
{
    io_t *io = &self->io;
    io_close(self, 0);
    if (io->ctx)
        zmq_ctx_term(io->ctx);
    io->ctx = NULL;
    daisy_decoder_destroy(&io->decoder);
    daisy_buffer_free(&io->out);
    results_free(&io->pending);
    sent_free(&io->sent);
    free(io->wire);
    free(io->queue);
    io->wire = NULL;
    io->queue = NULL;
    io->qcount = io->qcap = io->qhead = 0;
}

int
daisy_worker_run(daisy_worker_t *self, daisy_process_fn *fn, void *arg, daisy_error_t *err)
{
    if (!self || !fn)
        return daisy_error_set(err, "daisy_worker_run: no worker or no process function");
    worker_reset(self);
    io_t *io = &self->io;
    io->ctx = zmq_ctx_new();
    io->decoder = daisy_decoder_new();
    io->wire = malloc(DAISY_MAX_BATCH * sizeof *io->wire);
    if (!io->ctx || !io->decoder || !io->wire) {
        daisy_error_set(err, "cannot start the worker's I/O: %s", strerror(errno ? errno : ENOMEM));
        worker_cleanup(self);
        return -1;
    }
    int rc = keeper_start(self);
    if (rc != 0) {
        daisy_error_set(err, "cannot start the worker's keeper thread: %s", strerror(rc));
        worker_cleanup(self);
        return -1;
    }
    worker_loop(self, fn, arg);
    keeper_stop(self);
    rc = io->rc;
    if (rc < 0)
        daisy_error_set(err, "%s", io->err.msg);
    worker_cleanup(self);
    return rc;
}

void
daisy_worker_set_error(daisy_worker_t *self, const char *text)
{
    if (!self)
        return;
    snprintf(self->error_text, sizeof self->error_text, "%s", text ? text : "");
    self->error_set = true;
}

void
daisy_worker_stop(daisy_worker_t *self)
{
    if (!self)
        return;
    int saved = errno;      //  we may be inside a signal handler
    __atomic_store_n(&self->stop, 1, __ATOMIC_RELEASE);
    wake_owner(self);
    errno = saved;
}

uint64_t
daisy_worker_processed(const daisy_worker_t *self)
{
    return self ? __atomic_load_n(&self->processed, __ATOMIC_RELAXED) : 0;
}

uint64_t
daisy_worker_skipped(const daisy_worker_t *self)
{
    return self ? __atomic_load_n(&self->skipped, __ATOMIC_RELAXED) : 0;
}

const char *
daisy_worker_id(const daisy_worker_t *self)
{
    return self ? self->worker_id : NULL;
}
