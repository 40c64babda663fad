/*  progress.c - the PUB feed: what monitors and dashboards see

    Events go out as two frames, the topic (the event's name, so that a
    subscriber can filter with ZeroMQ's prefix match) and the msgpack body.
    Task-state snapshots go out for every task at a fixed interval rather
    than on every change: the rate stays bounded however fast blocks
    complete, and a subscriber that joins late is current within one
    interval. Sends never block the broker: a slow subscriber loses
    messages at its high-water mark instead.

    A task's rate is smoothed while it runs and frozen when it is done (its
    completions over its elapsed time): a finished task keeps the rate it
    had instead of decaying towards zero, and one that finished within a
    single interval still shows one. Skipped blocks (done before, found by
    the check or the markers) are not counted: a resumed run skips
    thousands a second, and its rate and ETA would promise that pace for
    the blocks it still has to process.

    Block states (a map of each task's grid for the browser view) come from
    the scheduler, which keeps one byte per block while there is a feed
    (for tasks of at most PROGRESS_MAP_MAX blocks: a larger task gets
    counters only) and tells us of every change. A change costs an append to its task's
    buffer (an index and a state, no allocation, no encoding); the buffers
    go out as BLOCK_CHANGES every CHANGES_MS, or at once when one holds
    DAISY_MAX_CHANGES, so the message rate is bounded whatever the block
    rate. A subscriber that joins late (or lost messages at its high-water
    mark) catches up from BLOCK_SNAPSHOT: every snapshot interval, up to
    SNAPSHOT_BUDGET blocks' states, compressed, in chunks of
    DAISY_MAX_SNAPSHOT_BLOCKS, continuing where the last interval stopped
    and wrapping around over every task's grid. Grids up to 2^20 blocks
    in all are thus sent whole every interval; 10^7 blocks every 10
    intervals, at the same cost per interval. A task's buffered changes
    go out before a snapshot of it, so that in the feed's order every
    change precedes the snapshots that include it.
*/
#include <math.h>

#include "broker_internal.h"

void
progress_publish(daisy_broker_t *self, const daisy_msg_t *msg)
{
    if (!self->pub || daisy_encode(msg, &self->evt) != 0)
        return;
    void *pub = zsock_resolve(self->pub);
    const char *topic = daisy_msg_name(msg->type);
    if (zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send(pub, self->evt.data, self->evt.size, ZMQ_DONTWAIT);
}

void
daisy_broker_task_state(const daisy_broker_t *self, uint32_t task,
                        daisy_wire_task_state_t *state)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(self->graph);
    state->task_id = daisy_task_id(daisy_pipeline_task(p, task));
    daisy_scheduler_counts(self->scheduler, task, &state->counts);
    const btask_t *bt = &self->tasks[task];
    //  The wire carries at most 10^9 (a peer refuses more): a task whose
    //  last block ends within a millisecond of its first would drop out.
    state->blocks_per_s = fmin(bt->rate, 1e9);
    int64_t end = bt->finished ? bt->finished_at : zclock_mono();
    state->elapsed_s = bt->started && end > bt->started_at
                     ? (double)(end - bt->started_at) / 1000.0 : 0;
    state->workers = bt->nworkers;
    state->jobs_pending = bt->jobs_pending;
    state->jobs_starting = bt->jobs_starting;
}

void
daisy_broker_set_launches(daisy_broker_t *self, uint32_t task, uint32_t pending,
                          uint32_t starting)
{
    //  A done task's stragglers (exiting, being cancelled) are not news.
    if (task >= self->ntasks || self->tasks[task].finished)
        return;
    self->tasks[task].jobs_pending = pending;
    self->tasks[task].jobs_starting = starting;
}

void
progress_task_done(daisy_broker_t *self, uint32_t task)
{
    btask_t *bt = &self->tasks[task];
    daisy_task_counts_t c;
    daisy_scheduler_counts(self->scheduler, task, &c);
    bt->jobs_pending = bt->jobs_starting = 0;
    if (bt->started && bt->finished_at > bt->started_at)
        bt->rate = (double)(c.completed - c.skipped) * 1000.0
                 / (double)(bt->finished_at - bt->started_at);
    progress_task_state(self, task, DAISY_EVT_TASK_DONE);
}

void
progress_task_state(daisy_broker_t *self, uint32_t task, daisy_msg_type_t type)
{
    daisy_msg_t msg = {.type = type};
    daisy_broker_task_state(self, task, &msg.u.task_state);
    progress_publish(self, &msg);
}

//  Update each task's completion rate (smoothed over a few intervals) and
//  publish every task's state.
void
progress_snapshot(daisy_broker_t *self, int64_t now)
{
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        daisy_task_counts_t c;
        daisy_scheduler_counts(self->scheduler, t, &c);
        if (!bt->finished && bt->rate_at > 0 && now > bt->rate_at) {
            double instant = (double)(c.completed - c.skipped - bt->rate_completed) * 1000.0
                           / (double)(now - bt->rate_at);
            bt->rate = bt->rate == 0 ? instant : 0.5 * bt->rate + 0.5 * instant;
        }
        bt->rate_completed = c.completed - c.skipped;
        bt->rate_at = now;
        progress_task_state(self, t, DAISY_EVT_TASK_STATE);
    }
    self->last_snapshot = now;
}

void
progress_block_failed(daisy_broker_t *self, uint32_t task, uint64_t block_id,
                      uint32_t attempt, bool final, const char *error, const worker_t *w)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(self->graph);
    daisy_msg_t msg = {.type = DAISY_EVT_BLOCK_FAILED};
    msg.u.block_failed.task_id = daisy_task_id(daisy_pipeline_task(p, task));
    msg.u.block_failed.block_id = block_id;
    msg.u.block_failed.attempt = attempt;
    msg.u.block_failed.final = final;
    msg.u.block_failed.error = error;
    msg.u.block_failed.worker_id = w && w->worker_id ? w->worker_id : "";
    msg.u.block_failed.log = "";
    progress_publish(self, &msg);
}

void
progress_worker(daisy_broker_t *self, const worker_t *w, daisy_msg_type_t type,
                const char *reason)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(self->graph);
    daisy_msg_t msg = {.type = type};
    msg.u.worker.worker_id = w->worker_id ? w->worker_id : "";
    msg.u.worker.task_id = w->task < self->ntasks
                         ? daisy_task_id(daisy_pipeline_task(p, w->task)) : "";
    msg.u.worker.host = w->host ? w->host : "";
    msg.u.worker.pid = w->pid;
    msg.u.worker.reason = reason ? reason : "";
    progress_publish(self, &msg);
}

void
progress_run_finished(daisy_broker_t *self, bool interrupted)
{
    daisy_wire_task_state_t *states = calloc(self->ntasks + 1, sizeof *states);
    if (!states)
        return;
    for (uint32_t t = 0; t < self->ntasks; t++)
        daisy_broker_task_state(self, t, &states[t]);
    daisy_msg_t msg = {.type = DAISY_EVT_RUN_FINISHED};
    msg.u.run_finished.success = daisy_summary_success(self->summary);
    msg.u.run_finished.interrupted = interrupted;
    msg.u.run_finished.count = self->ntasks;
    msg.u.run_finished.tasks = states;
    progress_publish(self, &msg);
    free(states);
}

//  Before RUN_FINISHED, which stays the last event.
void
progress_run_stats(daisy_broker_t *self)
{
    daisy_msg_t msg = {.type = DAISY_EVT_RUN_STATS};
    if (daisy_broker_run_stats(self, &msg.u.run_stats) == 0)
        progress_publish(self, &msg);
}

static void
flush_task_changes(daisy_broker_t *self, uint32_t task)
{
    btask_t *bt = &self->tasks[task];
    if (bt->nchanged == 0)
        return;
    daisy_msg_t msg = {.type = DAISY_EVT_BLOCK_CHANGES};
    msg.u.block_changes.task_id = daisy_task_id(daisy_pipeline_task(
        daisy_graph_pipeline(self->graph), task));
    msg.u.block_changes.count = bt->nchanged;
    msg.u.block_changes.indices = bt->changed;
    msg.u.block_changes.states = bt->changed_to;
    progress_publish(self, &msg);
    self->changes_pending -= bt->nchanged;
    bt->nchanged = 0;
}

//  The scheduler's observer: one append per change.
static void
on_block_state(void *arg, uint32_t task, uint64_t index, daisy_block_state_t state)
{
    daisy_broker_t *self = arg;
    btask_t *bt = &self->tasks[task];
    bt->changed[bt->nchanged] = index;
    bt->changed_to[bt->nchanged++] = (uint8_t)state;
    self->changes_pending++;
    if (bt->nchanged == DAISY_MAX_CHANGES)
        flush_task_changes(self, task);
}

int
progress_track_blocks(daisy_broker_t *self)
{
    if (!self->pub)
        return 0;
    for (uint32_t t = 0; t < self->ntasks; t++) {
        btask_t *bt = &self->tasks[t];
        bt->changed = malloc(DAISY_MAX_CHANGES * sizeof *bt->changed);
        bt->changed_to = malloc(DAISY_MAX_CHANGES);
        if (!bt->changed || !bt->changed_to)
            return -1;
    }
    return daisy_scheduler_track_states(self->scheduler, PROGRESS_MAP_MAX, on_block_state, self);
}

void
progress_free_blocks(daisy_broker_t *self)
{
    for (uint32_t t = 0; self->tasks && t < self->ntasks; t++) {
        free(self->tasks[t].changed);
        free(self->tasks[t].changed_to);
    }
}

void
progress_flush_changes(daisy_broker_t *self, int64_t now)
{
    for (uint32_t t = 0; self->changes_pending > 0 && t < self->ntasks; t++)
        flush_task_changes(self, t);
    self->last_changes = now;
}

//  One chunk of a task's states from `first`; returns the blocks covered.
static uint64_t
snapshot_chunk(daisy_broker_t *self, uint32_t task, uint64_t first)
{
    const uint8_t *states = daisy_scheduler_block_states(self->scheduler, task);
    uint64_t total = daisy_graph_block_count(self->graph, task);
    if (!states)
        return 0;
    flush_task_changes(self, task);
    daisy_coord_t grid = daisy_graph_grid_shape(self->graph, task);
    daisy_msg_t msg = {.type = DAISY_EVT_BLOCK_SNAPSHOT};
    __auto_type m = &msg.u.block_snapshot;
    m->task_id = daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(self->graph), task));
    m->dims = (uint32_t)grid.dims;
    for (int d = 0; d < grid.dims; d++)
        m->grid[d] = (uint64_t)grid.v[d];
    m->first = first;
    m->count = (uint32_t)(total - first < DAISY_MAX_SNAPSHOT_BLOCKS
                          ? total - first : DAISY_MAX_SNAPSHOT_BLOCKS);
    m->states = states + first;
    progress_publish(self, &msg);
    return m->count;
}

//  Messages one snapshot interval sends at most (many small tasks).
#define SNAPSHOT_MESSAGES 64

void
progress_block_snapshots(daisy_broker_t *self, uint64_t budget)
{
    if (!self->pub || self->ntasks == 0)
        return;
    if (budget == UINT64_MAX) {     //  everything, from the start
        for (uint32_t t = 0; t < self->ntasks; t++) {
            uint64_t first = 0, total = daisy_graph_block_count(self->graph, t), n;
            do
                first += n = snapshot_chunk(self, t, first);
            while (n > 0 && first < total);
        }
        return;
    }
    //  Every grid at most once an interval: small ones used to go round
    //  and round until the budget or the message cap ran out (64
    //  compressed copies of a 32-block grid a second, 5 % of a core for
    //  an idle broker).
    uint64_t all = 0;
    for (uint32_t t = 0; t < self->ntasks; t++)
        if (daisy_scheduler_block_states(self->scheduler, t))
            all += daisy_graph_block_count(self->graph, t);
    if (budget > all)
        budget = all;
    for (int sent = 0; budget > 0 && sent < SNAPSHOT_MESSAGES; sent++) {
        uint64_t total = daisy_graph_block_count(self->graph, self->map_task);
        uint64_t n = snapshot_chunk(self, self->map_task, self->map_first);
        budget -= n < budget ? n : budget;
        self->map_first += n;
        if (n == 0 || self->map_first >= total) {     //  no map (too large), or done
            self->map_task = (self->map_task + 1) % self->ntasks;
            self->map_first = 0;
        }
    }
}
