/*  pace.c - heartbeat pacing: the interval grows with the roster

    Heartbeats go both ways at `heartbeat_ms` (1 s by default). With ten
    thousand idle workers that is 20,000 messages a second, a quarter of a
    core on a 2-core VM spent saying nothing (libzmq's I/O thread pays most
    of it, about 13 us a message). So the interval workers are told grows
    with the roster: at least heartbeat_ms, and at least the roster size /
    heartbeat_rate seconds, which keeps heartbeats near heartbeat_rate
    (1,000 by default) each way however many workers join (at 10,000
    workers: 10 s, so a lost worker is found within 30 s instead of 3). Up
    to 1,000 workers nothing changes. The interval only grows during a run
    (raised by a quarter or more at a time, so a join does not re-tell
    everybody).

    Workers learn a new interval from a WELCOME sent again while they are
    connected (PROTOCOL.md section 8): each one gets it in place of its
    next heartbeat. Until every worker has it, the broker keeps sending at
    the smallest interval any worker knows (`sweep_ms`), so nobody thinks
    the broker lost; its own patience (liveness times the largest
    interval) errs on the side of keeping a worker.

    The lists by_heard and by_sent stay ordered by time: the sweeps walk
    them with one interval for everybody.
*/
#include "broker_internal.h"

void
pace_init(daisy_broker_t *self)
{
    self->hb_ms = self->sweep_ms = self->opt.heartbeat_ms;
    self->hb_stale = 0;
}

//  A worker is welcomed: raise the interval when the roster has outgrown
//  it, and return what the worker is told.
uint32_t
pace_welcome(daisy_broker_t *self, worker_t *w)
{
    uint64_t want = (uint64_t)zhashx_size(self->workers) * 1000 / self->opt.heartbeat_rate;
    if (want > (uint64_t)self->hb_ms + self->hb_ms / 4 && want <= UINT32_MAX) {
        //  Everybody else in the roster has an older one now.
        self->hb_stale = (uint32_t)zhashx_size(self->workers) - 1;
        self->hb_ms = (uint32_t)want;
        if (self->hb_stale == 0)
            self->sweep_ms = self->hb_ms;
    }
    else if (w->hb_ms && w->hb_ms < self->hb_ms)
        pace_told(self, w);
    w->hb_ms = self->hb_ms;
    return self->hb_ms;
}

//  The worker has been told the current interval (or left): once all
//  have, the sweep may slow down to it.
void
pace_told(daisy_broker_t *self, worker_t *w)
{
    if (w->hb_ms && w->hb_ms < self->hb_ms && self->hb_stale > 0 && --self->hb_stale == 0)
        self->sweep_ms = self->hb_ms;
    w->hb_ms = self->hb_ms;
}

//  Whether the worker's next heartbeat should be a WELCOME that tells it
//  the current interval.
bool
pace_stale(const daisy_broker_t *self, const worker_t *w)
{
    return w->hb_ms < self->hb_ms;
}
