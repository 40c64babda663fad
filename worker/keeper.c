/*  keeper.c - the keeper thread: the socket's owner while a block runs long

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

    The caller's side of the hand-over is here too: worker_enter_busy()
    and worker_leave_busy() bracket every check and process function.
*/
#include "worker_internal.h"

#include <signal.h>
#include <zmq.h>

#define WORKER_TAKEOVER_MS 20        //  a block this long: the keeper takes the socket

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
            if (worker_stopped(self)) {
                io->stopping = true;    //  no more credits; the caller leaves next
                io_stop_held(self);
            }
            io_tell_running(self, now);
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
int
keeper_start(daisy_worker_t *self)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&self->keeper, NULL, keeper_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void
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
void
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
void
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
