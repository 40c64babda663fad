/*  worker.c - the worker loop: blocks in, results out, heartbeats between

    The public API (daisy/worker.h) and the caller's loop. The socket is in
    io.c, the keeper thread that covers for long blocks in keeper.c, the
    CurveZMQ keys in keys.c; worker_internal.h holds what they share.

    One socket, two threads, and the socket changes hands.

    The calling thread (the one in daisy_worker_run) owns the DEALER socket
    whenever it is not inside the user's check or process function: it
    sends the RELEASE, waits for the next BLOCKS and decodes it itself, answers the broker's silence with heartbeats, and handles
    SHUTDOWN, ERROR, reconnects and the back-off. So the hot path of a
    lockstep worker is one round trip and nothing more: no thread
    hand-over, one send, and one poll() on the socket's ZMQ_FD and the
    doorbell eventfd between two non-blocking receives (see io_wait in io.c).

    The keeper (keeper.c) has the socket only while a block runs long.

    Completion checks. With daisy_worker_set_check(), every block is first
    offered to the check (inside the same "busy" window as the process
    function, so a slow check is covered by the keeper too); a block found
    done is released as skipped without being processed.

    libzmq rather than czmq, with a context of our own: the worker may live
    in a process forked from a czmq broker, whose context must not be
    touched after the fork. Library code: nothing is printed; the CLI and
    embedding programs report errors.
*/
#include "worker_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <zmq.h>

#define WORKER_RECONNECT_MAX_MS 30000

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *
env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
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
    if (o->run_id && *o->run_id && !daisy_run_id_valid(o->run_id))
        return daisy_error_set(err, "run id '%.64s': expected 1 to %d letters, digits, '-', "
                               "'_' or '.' (as the broker's --run-id)", o->run_id,
                               DAISY_MAX_RUN_ID);
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
//  the HELLO that follows is refused as wrong_run. And it ends with random
//  bytes of this process: two processes under one worker id (a broker
//  restarted with the same run id starts its workers anew while the old
//  ones live) are two workers to the broker, and one's result never
//  passes for the other's. Reconnects of this process keep it.
static void
worker_routing_id(daisy_worker_t *self)
{
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != (ssize_t)sizeof nonce)
        nonce = (uint64_t)now_ms() * 1000003u ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)self;
    char tail[64];
    int t = snprintf(tail, sizeof tail, "/%s/%016llx", self->run_id, (unsigned long long)nonce);
    int room = (int)sizeof self->routing_id - 1 - t;
    int n = snprintf(self->routing_id, sizeof self->routing_id, "%.*s%s", room, self->worker_id,
                     tail);
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
    block.error = self->error_text;     //  daisy_block_set_error() writes here
    block.error_size = sizeof self->error_text;
    self->error_text[0] = '\0';
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
    if (rc != 0 && (self->error_set || self->error_text[0]))
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
        //  Not welcomed (saying hello again): the queued blocks may have
        //  gone to other workers, which the WELCOME will tell.
        if (io->qcount && io->link == LINK_READY) {
            daisy_wire_block_t block = io->queue[io->qhead];
            io->qhead = (io->qhead + 1) % io->qcap;
            io->qcount--;
            //  Results held for company go before the last queued block runs.
            io_refill(self, now);
            io_started(self, &block, now);
            result_t result;
            int rc = worker_process(self, &block, fn, arg, &result);
            io->running = false;
            now = now_ms();
            if (rc == 0 && io->void_running)
                free(result.error);     //  another worker has the block now
            else if (rc == 0)
                io_add_result(self, &result, now);
            io->void_running = false;
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
    io_unhold(self);
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
daisy_worker_set_abort(daisy_worker_t *self, void (*fn)(void *arg), void *arg)
{
    if (!self)
        return;
    self->abort = fn;
    self->abort_arg = arg;
}

void
daisy_worker_set_hold(daisy_worker_t *self, void (*fn)(void *arg, bool hold), void *arg)
{
    if (!self)
        return;
    self->hold = fn;
    self->hold_arg = arg;
}

void
daisy_worker_continued(daisy_worker_t *self)
{
    if (!self)
        return;
    int saved = errno;      //  inside a signal handler
    __atomic_store_n(&self->continued, 1, __ATOMIC_RELEASE);
    wake_owner(self);
    errno = saved;
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

uint32_t
daisy_worker_timeout_ms(const daisy_worker_t *self)
{
    return self ? __atomic_load_n(&self->timeout_ms, __ATOMIC_RELAXED) : 0;
}

const char *
daisy_worker_id(const daisy_worker_t *self)
{
    return self ? self->worker_id : NULL;
}
