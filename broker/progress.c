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
    single interval still shows one.
*/
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
    state->blocks_per_s = bt->rate;
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
        bt->rate = (double)c.completed * 1000.0 / (double)(bt->finished_at - bt->started_at);
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
            double instant = (double)(c.completed - bt->rate_completed) * 1000.0
                           / (double)(now - bt->rate_at);
            bt->rate = bt->rate == 0 ? instant : 0.5 * bt->rate + 0.5 * instant;
        }
        bt->rate_completed = c.completed;
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
