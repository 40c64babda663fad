/*  worker_internal.h - the worker's state, shared by its files

    One socket, two threads, and the socket changes hands: the thread in
    daisy_worker_run() (the caller) owns the DEALER socket whenever it is
    not inside the user's check or process function (worker.c), and the
    keeper thread takes it over while a block runs long (keeper.c). `io`
    is touched only by the thread that owns the socket at the time; who
    owns it is decided under `lock`.

        worker.c    the API and the caller's loop (worker_loop, worker_process)
        io.c        the socket: connect, HELLO, send and receive, credits,
                    batching, the resend memory, STARTED, timers, waiting
        keeper.c    the keeper thread and the busy hand-over
        keys.c      CurveZMQ keys from czmq certificate files

    Internal names carry no daisy_ prefix: that is the public API's.
*/
#ifndef DAISY_WORKER_INTERNAL_H
#define DAISY_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "daisy/protocol.h"
#include "daisy/worker.h"

#define WORKER_HEARTBEAT_MS 1000     //  until WELCOME says otherwise
#define WORKER_LIVENESS 3
#define WORKER_BACKOFF_MIN_MS 1000

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
//  functions, the keeper while it has taken over (see above).
typedef struct {
    void *ctx;
    void *sock;
    void *monitor;          //  handshake events of sock (see io_monitor)
    uint32_t monitors;      //  monitors made, for unique inproc names
    link_t link;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    uint32_t credits_out;   //  asked for, not yet received (this connection)
    uint32_t held;          //  received, result not yet sent
    uint32_t resend_left;   //  blocks the broker sends again after WELCOME (its `held`)
    uint32_t backoff_ms;
    int64_t last_send;
    int64_t last_recv;      //  liveness clock (restarted by each HELLO)
    int64_t last_answer;    //  last time any broker said anything
    int64_t awake_until;    //  the loop ran, or chose to sleep, until then (0: not yet)
    int64_t last_drain;     //  last look at the socket while blocks were queued
    int64_t retry_at;       //  LINK_IDLE: when to reconnect
    int64_t flush_at;       //  results held: when they must go
    int64_t last_stats;     //  STATS last sent (0: never)
    daisy_wire_block_t *queue;  //  ring of blocks received, not yet started
    size_t qhead, qcount, qcap;
    results_t pending;      //  results not yet sent
    sent_t sent;            //  recently sent (see Resending)
    daisy_wire_result_t *wire;
    daisy_decoder_t *decoder;
    daisy_buffer_t out;
    //  The block being processed, and what the broker knows of it (see
    //  io_started in io.c).
    bool running;           //  `current` runs now
    bool void_running;      //  ... but the broker gave it to another (io_void_leases)
    bool holding;           //  ... and is held until a WELCOME (io_doubt)
    daisy_wire_lease_t current;
    bool tell;              //  its start is to be told with the next message
    bool told;              //  its start was told on this connection
    bool marked;            //  the broker believes a block of ours runs
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
    char routing_id[256];       //  worker_id "/" run id "/" 16 random hex digits
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
    void (*abort)(void *arg);   //  daisy_worker_set_abort
    void *abort_arg;
    void (*hold)(void *arg, bool hold);     //  daisy_worker_set_hold
    void *hold_arg;

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
    int continued;              //  daisy_worker_continued() was called (atomic)
    int wake_fd;                //  eventfd: stop, and "give the socket back"

    //  Caller's thread only.
    bool error_set;
    char error_text[DAISY_MAX_TEXT + 1];
    uint64_t processed;         //  read with atomics from other threads
    uint64_t skipped;
    uint32_t timeout_ms;        //  the task's, from WELCOME; atomics (the keeper writes it)
};

//  Helpers used by several files ---------------------------------------------

static inline int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline bool
worker_stopped(daisy_worker_t *self)
{
    return __atomic_load_n(&self->stop, __ATOMIC_ACQUIRE) != 0;
}

static inline uint32_t
worker_backoff_min(const daisy_worker_t *self)
{
    return WORKER_BACKOFF_MIN_MS < self->reconnect_max_ms ? WORKER_BACKOFF_MIN_MS
                                                          : self->reconnect_max_ms;
}

//  Ring the doorbell of whoever has the socket. Async-signal-safe.
static inline void
wake_owner(daisy_worker_t *self)
{
    uint64_t one = 1;
    ssize_t n = write(self->wake_fd, &one, sizeof one);
    (void)n;    //  EAGAIN means the counter is already non-zero: rung
}

static inline void
wake_clear(daisy_worker_t *self)
{
    uint64_t count;
    ssize_t n = read(self->wake_fd, &count, sizeof count);
    (void)n;
}
//  io.c: the socket. Each runs in the thread that owns the socket.
void io_close(daisy_worker_t *self, int linger);
void io_connect(daisy_worker_t *self, int64_t now);
void io_add_result(daisy_worker_t *self, result_t *r, int64_t now);
void io_maybe_flush(daisy_worker_t *self, int64_t now);
void io_started(daisy_worker_t *self, const daisy_wire_block_t *block, int64_t now);
void io_tell_running(daisy_worker_t *self, int64_t now);
void io_unhold(daisy_worker_t *self);
void io_stop_held(daisy_worker_t *self);
void io_drain(daisy_worker_t *self, int64_t now);
long io_timeout(const daisy_worker_t *self, int64_t now);
void io_timers(daisy_worker_t *self, int64_t now);
void io_refill(daisy_worker_t *self, int64_t now);
bool io_wait(daisy_worker_t *self, long timeout);
void io_leave(daisy_worker_t *self, int64_t now);
void results_free(results_t *r);
void sent_free(sent_t *ring);

//  keeper.c: the keeper thread, and the caller's side of the hand-over.
int keeper_start(daisy_worker_t *self);
void keeper_stop(daisy_worker_t *self);
void worker_enter_busy(daisy_worker_t *self, int64_t now);
void worker_leave_busy(daisy_worker_t *self);

//  keys.c
int worker_load_keys(daisy_worker_t *self, const char *secret, const char *broker,
                     daisy_error_t *err);

#endif
