/*  worker.c - the worker loop: blocks in, results out, heartbeats between

    Two threads. The calling thread runs the user's process function and
    nothing else; a background I/O thread owns the DEALER socket and does
    everything that must go on while a block runs: heartbeats (so a block
    of an hour is not mistaken for a dead worker), noticing a silent broker
    and reconnecting with back-off, prefetching, and batching results.

    The two meet in a small mutex-guarded exchange: a ring of blocks (I/O
    thread -> caller, woken by a condition variable) and a list of results
    (caller -> I/O thread, woken through an eventfd that sits in the I/O
    thread's zmq_poll next to the socket). A condvar and an eventfd cost one
    futex and one write per hand-over, less than an inproc socket pair,
    and the eventfd doubles as the async-signal-safe doorbell for
    daisy_worker_stop(). Neither thread ever sleeps on a timer in the hot
    path: the I/O thread blocks in zmq_poll with its next deadline
    (heartbeat, liveness, batch flush, reconnect) as the timeout, so a
    lockstep worker (prefetch 1) pays two thread hand-overs per block over a
    bare round trip and nothing more.

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

    Resending. The socket keeps ZMQ_ROUTING_ID = worker id across
    reconnects, and the broker's ROUTER hands the id over to the new
    connection; messages of the old connection it had not read yet (say,
    results sent while it stalled) then arrive under an anonymous id and
    are refused, and their blocks would stay leased for good. So results
    stay remembered until the broker has been heard from a heartbeat
    interval after they went out, and after a reconnect caused by silence
    they are sent again. A duplicate is refused as "not held" and changes
    nothing; it returns no credit twice.

    Batching. Results ready together go out in one RELEASE. While blocks
    are still queued locally the I/O thread may hold results back, up to
    half the window or WORKER_BATCH_DELAY_MS, to send fewer messages; it
    never holds one when the local queue is empty, which is what keeps
    lockstep fast.

    libzmq rather than czmq, with a context of our own: the worker may live
    in a process forked from a czmq broker, whose context must not be
    touched after the fork. Library code: nothing is printed; the CLI and
    embedding programs report errors.
*/
#include "daisy/worker.h"

#include <errno.h>
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

//  A result waiting for the I/O thread; `error` is owned (NULL: none).
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

//  State only the I/O thread touches.
typedef struct {
    void *ctx;
    void *sock;
    link_t link;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    uint32_t credits_out;   //  asked for, not yet received (this connection)
    uint32_t held;          //  received, result not yet sent
    uint32_t backoff_ms;
    int64_t last_send;
    int64_t last_recv;      //  liveness clock (restarted by each HELLO)
    int64_t last_answer;    //  last time any broker said anything
    int64_t retry_at;       //  LINK_IDLE: when to reconnect
    int64_t flush_at;       //  results held: when they must go
    size_t queue_len;       //  blocks queued for the caller, as last seen
    results_t pending;      //  results taken over, not yet sent
    sent_t sent;            //  recently sent (see Resending)
    daisy_wire_result_t *wire;
    daisy_decoder_t *decoder;
    daisy_buffer_t out;
    bool stopping;          //  no more credits; leave once the caller has
    bool finished;
} io_t;

struct _daisy_worker_t {
    char *endpoint;
    char *task_id;
    char *worker_id;
    char host[256];
    uint32_t prefetch;
    uint32_t reconnect_max_ms;
    uint32_t give_up_ms;
    bool curve;
    uint8_t server_key[32];
    uint8_t public_key[32];
    uint8_t secret_key[32];

    //  The exchange between the two threads, under `lock`.
    pthread_mutex_t lock;
    pthread_cond_t cond;        //  caller waits here for blocks or the end
    daisy_wire_block_t *queue;  //  ring of blocks for the caller
    size_t qhead, qcount, qcap;
    results_t results;          //  finished blocks for the I/O thread
    bool notified;              //  eventfd written since the last take
    bool main_exiting;          //  the caller takes no more blocks
    bool io_done;               //  the I/O thread has finished
    int rc;                     //  run's result, set by the I/O thread
    daisy_error_t io_err;

    //  daisy_worker_stop() was called. Lock-free atomics rather than a
    //  volatile sig_atomic_t: it is set from a signal handler and read by
    //  both threads.
    int stop;
    int wake_fd;                //  eventfd: results, stop, exit

    io_t io;
    pthread_t thread;

    //  Caller's thread only.
    bool error_set;
    char error_text[DAISY_MAX_TEXT + 1];
    uint64_t processed;         //  read with atomics from other threads
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

//  Ring the I/O thread's doorbell. Async-signal-safe (one write).
static void
wake_io(daisy_worker_t *self)
{
    uint64_t one = 1;
    ssize_t n = write(self->wake_fd, &one, sizeof one);
    (void)n;    //  EAGAIN means the counter is already non-zero: rung
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

//  Options and lifetime ------------------------------------------------------

daisy_worker_options_t
daisy_worker_options_default(void)
{
    daisy_worker_options_t o = {
        .endpoint = env_or_null("DAISY_BROKER"),
        .task_id = env_or_null("DAISY_TASK_ID"),
        .worker_id = env_or_null("DAISY_WORKER_ID"),
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
    if (o->prefetch > DAISY_MAX_BATCH)
        return daisy_error_set(err, "prefetch %u out of range 1..%d", o->prefetch,
                               DAISY_MAX_BATCH);
    return 0;
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
    pthread_cond_init(&self->cond, NULL);
    if (gethostname(self->host, sizeof self->host - 1) != 0)
        strcpy(self->host, "localhost");
    self->endpoint = strdup(o.endpoint);
    self->task_id = strdup(o.task_id);
    self->worker_id = o.worker_id ? strdup(o.worker_id) : worker_default_id(self->host);
    self->prefetch = o.prefetch ? o.prefetch : 1;
    self->reconnect_max_ms = o.reconnect_max_ms ? o.reconnect_max_ms : WORKER_RECONNECT_MAX_MS;
    self->give_up_ms = o.give_up_ms;
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->endpoint || !self->task_id || !self->worker_id || self->wake_fd < 0) {
        daisy_error_set(err, "cannot create worker: %s", strerror(errno ? errno : ENOMEM));
        daisy_worker_destroy(&self);
        return NULL;
    }
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
    pthread_cond_destroy(&self->cond);
    results_free(&self->results);
    free(self->queue);
    free(self->endpoint);
    free(self->task_id);
    free(self->worker_id);
    explicit_bzero(self->secret_key, sizeof self->secret_key);
    free(self);
    *self_p = NULL;
}

//  The I/O thread: socket --------------------------------------------------

static void io_fatal(daisy_worker_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  The run ends with -1 and this message (read by the caller after join).
static void
io_fatal(daisy_worker_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->io_err.msg, sizeof self->io_err.msg, fmt, ap);
    va_end(ap);
    self->rc = -1;
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
    io_send(self, &msg, now);
    io->link = LINK_HELLO;
    io->last_recv = now;    //  the broker has liveness intervals to answer
}

static int
io_socket_options(daisy_worker_t *self, void *sock)
{
    int linger = 0;
    int64_t maxsize = DAISY_MAX_FRAME;
    if (zmq_setsockopt(sock, ZMQ_ROUTING_ID, self->worker_id, strlen(self->worker_id)) < 0
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

//  The I/O thread: credits and results -------------------------------------

static uint32_t
io_deficit(const daisy_worker_t *self)
{
    const io_t *io = &self->io;
    uint64_t have = (uint64_t)io->credits_out + io->held;
    if (io->stopping || have >= self->prefetch)
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

//  Take the caller's results and its view of the queue.
static bool
io_take(daisy_worker_t *self, int64_t now)
{
    io_t *io = &self->io;
    bool exiting;
    pthread_mutex_lock(&self->lock);
    size_t had = io->pending.count;
    size_t n = self->results.count;
    if (n && results_reserve(&io->pending, had + n) == 0) {
        memcpy(io->pending.items + had, self->results.items, n * sizeof(result_t));
        io->pending.count += n;
        self->results.count = 0;
    }
    self->notified = false;
    io->queue_len = self->qcount;
    exiting = self->main_exiting;
    pthread_mutex_unlock(&self->lock);
    if (had == 0 && io->pending.count > 0)
        io->flush_at = now + WORKER_BATCH_DELAY_MS;
    return exiting;
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
    if (io->stopping || io->queue_len == 0 || io->pending.count >= threshold
        || now >= io->flush_at)
        io_flush(self, now);
}

//  The I/O thread: messages from the broker ---------------------------------

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
    pthread_mutex_lock(&self->lock);
    if (self->qcount + n > self->qcap) {
        size_t cap = self->qcap ? self->qcap : 16;
        while (cap < self->qcount + n)
            cap *= 2;
        daisy_wire_block_t *q = malloc(cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&self->lock);
            return;     //  the broker takes them back when we are lost
        }
        for (size_t i = 0; i < self->qcount; i++)
            q[i] = self->queue[(self->qhead + i) % self->qcap];
        free(self->queue);
        self->queue = q;
        self->qcap = cap;
        self->qhead = 0;
    }
    for (uint32_t i = 0; i < n; i++)
        self->queue[(self->qhead + self->qcount++) % self->qcap] = msg->u.blocks.blocks[i];
    io->queue_len = self->qcount;
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->lock);
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
        self->rc = 0;
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
}

//  The I/O thread: timers ---------------------------------------------------

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
    if (io->link != LINK_IDLE && now - io->last_recv >= expiry)
        io_lost(self, now);
    if (io->link == LINK_IDLE && now >= io->retry_at)
        io_connect(self, now);
    if (io->link == LINK_READY && now - io->last_send >= io->heartbeat_ms) {
        daisy_msg_t msg = {.type = DAISY_MSG_HEARTBEAT};
        io_send(self, &msg, now);
    }
}

//  The caller takes no more blocks: send what it finished, say goodbye.
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
    self->rc = 1;
    io->finished = true;
}

static void
io_loop(daisy_worker_t *self)
{
    io_t *io = &self->io;
    int64_t now = now_ms();
    io->last_answer = now;
    io_connect(self, now);
    while (!io->finished) {
        zmq_pollitem_t items[2] = {{NULL, self->wake_fd, ZMQ_POLLIN, 0},
                                   {io->sock, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, io->sock ? 2 : 1, io_timeout(self, now)) < 0
            && zmq_errno() != EINTR) {
            io_fatal(self, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            break;
        }
        now = now_ms();
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t count;
            ssize_t n = read(self->wake_fd, &count, sizeof count);
            (void)n;
        }
        bool exiting = io_take(self, now);
        if (io->sock && (items[1].revents & ZMQ_POLLIN))
            io_drain(self, now);
        if (io->finished)
            break;
        if (exiting) {
            io_leave(self, now);
            break;
        }
        if (worker_stopped(self) && !io->stopping) {
            io->stopping = true;    //  wake the caller if it waits for a block
            pthread_mutex_lock(&self->lock);
            pthread_cond_signal(&self->cond);
            pthread_mutex_unlock(&self->lock);
        }
        io_maybe_flush(self, now);
        io_timers(self, now);
    }
}

static void *
io_main(void *arg)
{
    daisy_worker_t *self = arg;
    io_t *io = &self->io;
    io->ctx = zmq_ctx_new();
    io->decoder = daisy_decoder_new();
    io->wire = malloc(DAISY_MAX_BATCH * sizeof *io->wire);
    if (!io->ctx || !io->decoder || !io->wire)
        io_fatal(self, "cannot start the worker's I/O: %s", strerror(errno ? errno : ENOMEM));
    else
        io_loop(self);
    io_close(self, 0);
    if (io->ctx)
        zmq_ctx_term(io->ctx);
    daisy_decoder_destroy(&io->decoder);
    daisy_buffer_free(&io->out);
    results_free(&io->pending);
    sent_free(&io->sent);
    free(io->wire);
    pthread_mutex_lock(&self->lock);
    self->io_done = true;
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

//  The calling thread ------------------------------------------------------

//  Hand over the last result (if any) and wait for the next block. False
//  when the run is over: the broker said so, or stop was asked.
static bool
worker_next(daisy_worker_t *self, result_t *result, daisy_wire_block_t *next)
{
    pthread_mutex_lock(&self->lock);
    bool ring = false;
    if (result && results_reserve(&self->results, self->results.count + 1) == 0)
        self->results.items[self->results.count++] = *result;
    else if (result)
        free(result->error);
    if (result && !self->notified)
        ring = self->notified = true;
    while (!worker_stopped(self) && !self->io_done && self->qcount == 0) {
        if (ring) {     //  the I/O thread must see the result before we sleep
            pthread_mutex_unlock(&self->lock);
            wake_io(self);
            ring = false;
            pthread_mutex_lock(&self->lock);
            continue;
        }
        pthread_cond_wait(&self->cond, &self->lock);
    }
    bool more = !worker_stopped(self) && !self->io_done;
    if (more) {
        *next = self->queue[self->qhead];
        self->qhead = (self->qhead + 1) % self->qcap;
        self->qcount--;
    } else {
        self->main_exiting = true;
        ring = true;
    }
    pthread_mutex_unlock(&self->lock);
    if (ring)
        wake_io(self);
    return more;
}

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

//  Run one block and describe its outcome.
static void
worker_process(daisy_worker_t *self, const daisy_wire_block_t *q, daisy_process_fn *fn, void *arg,
               result_t *result)
{
    daisy_block_t block;
    worker_block(self, q, &block);
    self->error_set = false;
    double start = now_s();
    int rc = fn(&block, arg);
    double seconds = now_s() - start;
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
        .status = rc == 0 ? DAISY_RESULT_SUCCESS : DAISY_RESULT_FAILED,
        .seconds = seconds,
        .error = error ? strdup(error) : NULL,
    };
    __atomic_add_fetch(&self->processed, 1, __ATOMIC_RELAXED);
}

static void
worker_reset(daisy_worker_t *self)
{
    results_clear(&self->results);
    self->qcount = self->qhead = 0;
    self->notified = self->main_exiting = self->io_done = false;
    self->rc = -1;
    self->io_err.msg[0] = '\0';
    memset(&self->io, 0, sizeof self->io);
    self->io.heartbeat_ms = WORKER_HEARTBEAT_MS;
    self->io.liveness = WORKER_LIVENESS;
    self->io.backoff_ms = worker_backoff_min(self);
}

//  The I/O thread blocks every signal, so handlers run in the caller's
//  threads and never interrupt the socket work.
static int
worker_start_io(daisy_worker_t *self)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->thread, NULL, io_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

int
daisy_worker_run(daisy_worker_t *self, daisy_process_fn *fn, void *arg, daisy_error_t *err)
{
    if (!self || !fn)
        return daisy_error_set(err, "daisy_worker_run: no worker or no process function");
    worker_reset(self);
    int rc = worker_start_io(self);
    if (rc != 0)
        return daisy_error_set(err, "cannot start the worker's I/O thread: %s", strerror(rc));
    daisy_wire_block_t block;
    result_t result;
    bool have_result = false;
    while (worker_next(self, have_result ? &result : NULL, &block)) {
        worker_process(self, &block, fn, arg, &result);
        have_result = true;
    }
    pthread_join(self->thread, NULL);
    results_clear(&self->results);
    if (self->rc < 0)
        daisy_error_set(err, "%s", self->io_err.msg);
    return self->rc;
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
    wake_io(self);
    errno = saved;
}

uint64_t
daisy_worker_processed(const daisy_worker_t *self)
{
    return self ? __atomic_load_n(&self->processed, __ATOMIC_RELAXED) : 0;
}

const char *
daisy_worker_id(const daisy_worker_t *self)
{
    return self ? self->worker_id : NULL;
}
