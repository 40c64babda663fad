/*  stats.c - the run statistics as people and programs read them

    Hosts are summed here from the workers' entries: the broker keeps one
    entry per worker, and which grouping a reader wants (host, task) is a
    question of presentation. The table shows the trend as the mean block
    time of the first and last tenth of a task's blocks, which is what
    answers "do blocks slow down as the run goes on?" at a glance; the JSON
    has every tenth.
*/
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS_SHOWN 16

typedef struct {
    const char *host;
    uint32_t workers;
    uint64_t blocks;
    double cpu_s;
    uint64_t peak_rss_kb;
} host_t;

//  Hosts in order of first appearance; the caller frees.
static host_t *
group_hosts(const daisy_wire_run_stats_t *s, size_t *n)
{
    host_t *hosts = calloc(s->nworkers ? s->nworkers : 1, sizeof *hosts);
    *n = 0;
    for (uint32_t i = 0; hosts && i < s->nworkers; i++) {
        const daisy_wire_worker_stats_t *w = &s->workers[i];
        size_t h = 0;
        while (h < *n && strcmp(hosts[h].host, w->host) != 0)
            h++;
        if (h == *n)
            hosts[(*n)++] = (host_t){.host = w->host};
        hosts[h].workers++;
        hosts[h].blocks += w->blocks;
        hosts[h].cpu_s += w->cpu_s;
        if (w->peak_rss_kb > hosts[h].peak_rss_kb)
            hosts[h].peak_rss_kb = w->peak_rss_kb;
    }
    return hosts;
}

static void
format_seconds(double s, char *buf, size_t size)
{
    if (s < 1e-3)
        snprintf(buf, size, "%.0f us", s * 1e6);
    else if (s < 1)
        snprintf(buf, size, "%.1f ms", s * 1e3);
    else if (s < 600)
        snprintf(buf, size, "%.2f s", s);
    else
        snprintf(buf, size, "%.1f min", s / 60);
}

static void
format_kb(uint64_t kb, char *buf, size_t size)
{
    if (kb == 0)
        snprintf(buf, size, "-");
    else if (kb < 1024 * 1024)
        snprintf(buf, size, "%.1f MiB", (double)kb / 1024);
    else
        snprintf(buf, size, "%.2f GiB", (double)kb / (1024 * 1024));
}

static void
print_tasks(FILE *out, const daisy_wire_run_stats_t *s)
{
    fprintf(out, "  %-16s %8s %10s %10s %10s %10s %6s  %s\n", "task", "blocks", "mean", "p50",
            "p95", "max", "peak", "first -> last tenth");
    for (uint32_t i = 0; i < s->ntasks; i++) {
        const daisy_wire_task_stats_t *t = &s->tasks[i];
        char mean[32], p50[32], p95[32], max[32], first[32], last[32], trend[96] = "";
        format_seconds(t->mean_s, mean, sizeof mean);
        format_seconds(t->p50_s, p50, sizeof p50);
        format_seconds(t->p95_s, p95, sizeof p95);
        format_seconds(t->max_s, max, sizeof max);
        if (t->trend_points >= 2) {
            double a = t->trend_s[0], b = t->trend_s[t->trend_points - 1];
            format_seconds(a, first, sizeof first);
            format_seconds(b, last, sizeof last);
            snprintf(trend, sizeof trend, "%s -> %s (%+.0f%%)", first, last,
                     a > 0 ? (b - a) / a * 100 : 0.0);
        }
        fprintf(out, "  %-16s %8llu %10s %10s %10s %10s %6u  %s\n", t->task_id,
                (unsigned long long)t->blocks, t->blocks ? mean : "-", t->blocks ? p50 : "-",
                t->blocks ? p95 : "-", t->blocks ? max : "-", t->peak_concurrency, trend);
    }
}

static void
print_hosts(FILE *out, const daisy_wire_run_stats_t *s)
{
    size_t n;
    host_t *hosts = group_hosts(s, &n);
    if (!hosts || n == 0) {
        free(hosts);
        return;
    }
    fprintf(out, "\n  %-24s %8s %8s %12s %12s\n", "host", "workers", "blocks", "CPU time",
            "peak RSS");
    for (size_t h = 0; h < n; h++) {
        char cpu[32], rss[32];
        format_seconds(hosts[h].cpu_s, cpu, sizeof cpu);
        format_kb(hosts[h].peak_rss_kb, rss, sizeof rss);
        fprintf(out, "  %-24s %8u %8llu %12s %12s\n", *hosts[h].host ? hosts[h].host : "?",
                hosts[h].workers, (unsigned long long)hosts[h].blocks, cpu, rss);
    }
    free(hosts);
}

static int
by_blocks(const void *a, const void *b)
{
    const daisy_wire_worker_stats_t *x = *(const daisy_wire_worker_stats_t *const *)a,
                                    *y = *(const daisy_wire_worker_stats_t *const *)b;
    return x->blocks < y->blocks ? 1 : x->blocks > y->blocks ? -1 : strcmp(x->worker_id,
                                                                          y->worker_id);
}

static void
print_workers(FILE *out, const daisy_wire_run_stats_t *s)
{
    if (s->nworkers == 0)
        return;
    const daisy_wire_worker_stats_t **order = calloc(s->nworkers, sizeof *order);
    if (!order)
        return;
    for (uint32_t i = 0; i < s->nworkers; i++)
        order[i] = &s->workers[i];
    qsort(order, s->nworkers, sizeof *order, by_blocks);
    fprintf(out, "\n  %-24s %-16s %8s %12s %12s\n", "worker", "task", "blocks", "CPU time",
            "peak RSS");
    for (uint32_t i = 0; i < s->nworkers && i < WORKERS_SHOWN; i++) {
        char cpu[32], rss[32];
        format_seconds(order[i]->cpu_s, cpu, sizeof cpu);
        format_kb(order[i]->peak_rss_kb, rss, sizeof rss);
        fprintf(out, "  %-24s %-16s %8llu %12s %12s\n", order[i]->worker_id, order[i]->task_id,
                (unsigned long long)order[i]->blocks, cpu, rss);
    }
    if (s->nworkers > WORKERS_SHOWN)
        fprintf(out, "  (%u more workers)\n", s->nworkers - WORKERS_SHOWN);
    free(order);
}

void
stats_print(FILE *out, const daisy_wire_run_stats_t *s)
{
    fputs("\nRun Statistics\n--------------\n\n", out);
    print_tasks(out, s);
    print_hosts(out, s);
    print_workers(out, s);
}

json_t *
stats_json(const daisy_wire_run_stats_t *s)
{
    json_t *tasks = json_array(), *hosts = json_array(), *workers = json_array();
    for (uint32_t i = 0; i < s->ntasks; i++) {
        const daisy_wire_task_stats_t *t = &s->tasks[i];
        json_t *trend = json_array();
        for (uint32_t k = 0; k < t->trend_points; k++)
            json_array_append_new(trend, json_real(t->trend_s[k]));
        json_array_append_new(tasks, json_pack(
            "{s:s, s:I, s:f, s:f, s:f, s:f, s:o, s:I}", "task", t->task_id, "blocks",
            (json_int_t)t->blocks, "mean_s", t->mean_s, "p50_s", t->p50_s, "p95_s", t->p95_s,
            "max_s", t->max_s, "trend_s", trend, "peak_concurrency",
            (json_int_t)t->peak_concurrency));
    }
    size_t n;
    host_t *grouped = group_hosts(s, &n);
    for (size_t h = 0; grouped && h < n; h++)
        json_array_append_new(hosts, json_pack(
            "{s:s, s:I, s:I, s:f, s:I}", "host", grouped[h].host, "workers",
            (json_int_t)grouped[h].workers, "blocks", (json_int_t)grouped[h].blocks, "cpu_s",
            grouped[h].cpu_s, "peak_rss_kb", (json_int_t)grouped[h].peak_rss_kb));
    free(grouped);
    for (uint32_t i = 0; i < s->nworkers; i++) {
        const daisy_wire_worker_stats_t *w = &s->workers[i];
        json_array_append_new(workers, json_pack(
            "{s:s, s:s, s:s, s:I, s:f, s:I}", "worker", w->worker_id, "host", w->host, "task",
            w->task_id, "blocks", (json_int_t)w->blocks, "cpu_s", w->cpu_s, "peak_rss_kb",
            (json_int_t)w->peak_rss_kb));
    }
    return json_pack("{s:o, s:o, s:o}", "tasks", tasks, "hosts", hosts, "workers", workers);
}

int
stats_write(const char *path, const daisy_wire_run_stats_t *s)
{
    json_t *o = stats_json(s);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = o && json_dump_file(o, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 ? 0 : -1;
    json_decref(o);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        int e = errno;      //  the caller says why
        remove(tmp);
        errno = e;
    }
    return rc;
}

//  A task's counters as the feed carries them (TASK_STATE), for the JSON
//  of `daisy monitor --json` and of the live view alike.
json_t *
stats_task_state_json(const daisy_wire_task_state_t *st)
{
    const daisy_task_counts_t *c = &st->counts;
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I}",
                     "task", st->task_id, "total", (json_int_t)c->total,
                     "ready", (json_int_t)c->ready, "processing", (json_int_t)c->processing,
                     "pending", (json_int_t)c->pending, "completed", (json_int_t)c->completed,
                     "skipped", (json_int_t)c->skipped, "failed", (json_int_t)c->failed,
                     "orphaned", (json_int_t)c->orphaned, "retries", (json_int_t)c->retries,
                     "blocks_per_s", st->blocks_per_s, "elapsed_s", st->elapsed_s,
                     "workers", (json_int_t)st->workers,
                     "jobs_pending", (json_int_t)st->jobs_pending,
                     "jobs_starting", (json_int_t)st->jobs_starting);
}
