/*  stats.c - run statistics: block times per task, work per worker

    What daisy 2.0's "Resource Utilization" table shows and more, in
    constant memory per task: block times go into a histogram of
    logarithmic buckets (16 per doubling, so a quantile read from it is
    within 2.2 % of the true one, from a microsecond to twelve days), their
    sum, maximum, and the sums of each tenth of the task's blocks in the
    order results came (the trend: do blocks get slower as the run goes
    on?). Peak concurrency is the most blocks the task's workers held at
    once. Per worker: its results, and the CPU time and peak memory it
    reports itself (STATS; the broker cannot see other hosts' processes).
    Entries outlive their workers, so the report covers everyone who took
    part, including workers lost or replaced.
*/
#include "broker_internal.h"

#include <math.h>

#define PER_DOUBLING 16
#define LOW_EXP (-20)            //  2^-20 s, about a microsecond
#define HIGH_EXP 20              //  2^20 s, about twelve days
#define BUCKETS ((HIGH_EXP - LOW_EXP) * PER_DOUBLING + 2)

struct tstats {
    uint64_t count;
    double sum, max;
    double tenth_sum[DAISY_TREND_POINTS];
    uint64_t tenth_n[DAISY_TREND_POINTS];
    uint32_t peak;
    uint32_t hist[BUCKETS];
};

static int
bucket_of(double s)
{
    if (!(s > 0) || s < ldexp(1, LOW_EXP))
        return 0;
    int b = 1 + (int)floor((log2(s) - LOW_EXP) * PER_DOUBLING);
    return b < BUCKETS - 1 ? b : BUCKETS - 1;
}

//  The geometric middle of bucket b (its lower edge for the outer two).
static double
bucket_value(int b)
{
    if (b == 0)
        return 0;
    double exp = LOW_EXP + (b - 1 + (b < BUCKETS - 1 ? 0.5 : 0)) / (double)PER_DOUBLING;
    return exp2(exp);
}

int
stats_init(daisy_broker_t *self)
{
    self->tstats = calloc(self->ntasks ? self->ntasks : 1, sizeof *self->tstats);
    self->wstats_by_id = zhashx_new();
    return self->tstats && self->wstats_by_id ? 0 : -1;
}

void
stats_destroy(daisy_broker_t *self)
{
    for (size_t i = 0; i < self->nwstats; i++) {
        free(self->wstats[i].worker_id);
        free(self->wstats[i].host);
    }
    free(self->wstats);
    zhashx_destroy(&self->wstats_by_id);
    free(self->tstats);
    free(self->report_tasks);
    free(self->report_workers);
}

void
stats_block(daisy_broker_t *self, worker_t *w, double seconds)
{
    tstats_t *ts = &self->tstats[w->task];
    uint64_t total = daisy_graph_block_count(self->graph, w->task);
    size_t tenth = total ? (size_t)(ts->count * DAISY_TREND_POINTS / total) : 0;
    if (tenth >= DAISY_TREND_POINTS)
        tenth = DAISY_TREND_POINTS - 1;   //  retries run past the total
    ts->count++;
    ts->sum += seconds;
    ts->max = seconds > ts->max ? seconds : ts->max;
    ts->tenth_sum[tenth] += seconds;
    ts->tenth_n[tenth]++;
    ts->hist[bucket_of(seconds)]++;
    if (w->stats < self->nwstats)
        self->wstats[w->stats].blocks++;
}

void
stats_held(daisy_broker_t *self, uint32_t task, uint64_t processing)
{
    tstats_t *ts = &self->tstats[task];
    if (processing > ts->peak)
        ts->peak = processing > UINT32_MAX ? UINT32_MAX : (uint32_t)processing;
}

//  A worker joined: its entry, kept after it leaves. A worker that joins
//  again (lost, then back with the same id) keeps its entry: counted once
//  in the statistics, where each join used to add one.
void
stats_worker(daisy_broker_t *self, worker_t *w)
{
    w->stats = SIZE_MAX;
    const char *id = w->worker_id ? w->worker_id : "";
    uintptr_t known = (uintptr_t)zhashx_lookup(self->wstats_by_id, id);
    if (known && self->wstats[known - 1].task == w->task) {
        w->stats = known - 1;
        return;
    }
    if (self->nwstats == self->capwstats) {
        size_t cap = self->capwstats ? 2 * self->capwstats : 64;
        wstats_t *more = realloc(self->wstats, cap * sizeof *more);
        if (!more)
            return;
        self->wstats = more;
        self->capwstats = cap;
    }
    wstats_t *s = &self->wstats[self->nwstats];
    *s = (wstats_t){strdup(w->worker_id ? w->worker_id : ""), strdup(w->host ? w->host : ""),
                    w->task, 0, 0, 0};
    if (!s->worker_id || !s->host) {
        free(s->worker_id);
        free(s->host);
        return;
    }
    w->stats = self->nwstats++;
    zhashx_update(self->wstats_by_id, id, (void *)(uintptr_t)self->nwstats);
}

void
stats_report(daisy_broker_t *self, worker_t *w, double cpu_s, uint64_t peak_rss_kb)
{
    if (w->stats >= self->nwstats)
        return;
    wstats_t *s = &self->wstats[w->stats];
    s->cpu_s = cpu_s;       //  a running total: the latest is the largest
    s->peak_rss_kb = peak_rss_kb > s->peak_rss_kb ? peak_rss_kb : s->peak_rss_kb;
}

//  The q-quantile (0 < q <= 1) from the histogram.
static double
quantile(const tstats_t *ts, double q)
{
    uint64_t rank = (uint64_t)ceil(q * (double)ts->count), seen = 0;
    for (int b = 0; b < BUCKETS; b++) {
        seen += ts->hist[b];
        if (seen >= rank && seen > 0)
            return fmin(bucket_value(b), ts->max);
    }
    return ts->max;
}

static void
task_report(const daisy_broker_t *self, uint32_t t, daisy_wire_task_stats_t *out)
{
    const tstats_t *ts = &self->tstats[t];
    *out = (daisy_wire_task_stats_t){.task_id = daisy_task_id(
        daisy_pipeline_task(daisy_graph_pipeline(self->graph), t))};
    out->blocks = ts->count;
    out->peak_concurrency = ts->peak;
    if (ts->count == 0)
        return;
    out->mean_s = ts->sum / (double)ts->count;
    out->p50_s = quantile(ts, 0.5);
    out->p95_s = quantile(ts, 0.95);
    out->max_s = ts->max;
    for (int i = 0; i < DAISY_TREND_POINTS; i++)
        if (ts->tenth_n[i])
            out->trend_s[out->trend_points++] = ts->tenth_sum[i] / (double)ts->tenth_n[i];
}

int
daisy_broker_run_stats(daisy_broker_t *self, daisy_wire_run_stats_t *out)
{
    size_t nw = self->nwstats < DAISY_MAX_STATS_WORKERS ? self->nwstats
                                                        : DAISY_MAX_STATS_WORKERS;
    free(self->report_tasks);
    free(self->report_workers);
    self->report_tasks = calloc(self->ntasks ? self->ntasks : 1, sizeof *self->report_tasks);
    self->report_workers = calloc(nw ? nw : 1, sizeof *self->report_workers);
    if (!self->report_tasks || !self->report_workers)
        return -1;
    for (uint32_t t = 0; t < self->ntasks; t++)
        task_report(self, t, &self->report_tasks[t]);
    for (size_t i = 0; i < nw; i++) {
        const wstats_t *s = &self->wstats[i];
        self->report_workers[i] = (daisy_wire_worker_stats_t){
            s->worker_id, s->host, self->report_tasks[s->task].task_id, s->blocks, s->cpu_s,
            s->peak_rss_kb};
    }
    *out = (daisy_wire_run_stats_t){self->ntasks, self->report_tasks, (uint32_t)nw,
                                    self->report_workers};
    return 0;
}
