/*  bars.c - progress bars and progress lines

    One renderer for both outputs: a line per task with counts, elapsed
    time, rate and ETA, the counts per state daisy's users know from its
    tqdm bars (ready, processing, completed, failed, orphaned), and the
    task's workers with jobs still queued or starting. On a terminal the
    block of lines is redrawn in place (cursor up, clear line) a few times
    a second; elsewhere each redraw appends plain lines, each with a
    timestamp, so it is rate-limited much harder.
*/
#include "bars.h"

#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _bars_t {
    FILE *out;
    bool terminal;
    int interval_ms;
    int64_t last;
    size_t drawn;        //  lines currently on screen (terminal)
    const char *sym[5];  //  ready, processing, completed, failed, orphaned
    const char *runner;  //  shown instead of the workers (NULL: workers)
};

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bars_t *
bars_new(FILE *out, bool terminal, int interval_ms)
{
    bars_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->out = out;
    self->terminal = terminal;
    self->interval_ms = terminal ? 200 : interval_ms;
    //  daisy's symbols where the terminal can show them, letters elsewhere.
    static const char *const utf8[5] = {"\u29d7", "\u25b6", "\u2714", "\u2717", "\u2205"};
    static const char *const ascii[5] = {"ready", "run", "done", "failed", "orphaned"};
    setlocale(LC_CTYPE, "");
    bool wide = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    memcpy(self->sym, wide ? utf8 : ascii, sizeof self->sym);
    return self;
}

void
bars_set_runner(bars_t *self, const char *runner)
{
    self->runner = runner;
}

void
bars_destroy(bars_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

//  H:MM:SS or M:SS; "--:--" when unknown.
static void
format_time(double seconds, char *buf, size_t size)
{
    if (seconds < 0 || seconds > 1e9) {
        snprintf(buf, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

//  Workers of the task and, while some are not connected yet, why the bar
//  may not move: jobs waiting in the queue, workers starting.
static void
format_workers(const daisy_wire_task_state_t *st, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%u worker%s", st->workers, st->workers == 1 ? "" : "s");
    if (st->jobs_pending && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ", %u job%s pending", st->jobs_pending,
                      st->jobs_pending == 1 ? "" : "s");
    if (st->jobs_starting && n >= 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %u starting", st->jobs_starting);
}

//  One task: done/total, percent, elapsed<ETA, rate, then per state counts
//  as daisy shows them (ready, processing, completed, failed, orphaned);
//  a finished task's ETA is 0:00 and its rate is the broker's frozen one.
static void
draw_line(bars_t *self, const daisy_wire_task_state_t *st)
{
    const daisy_task_counts_t *c = &st->counts;
    uint64_t finished = c->completed + c->failed + c->orphaned;
    double frac = c->total ? (double)finished / (double)c->total : 1.0;
    double eta = finished == c->total ? 0
               : st->blocks_per_s > 0 ? (double)(c->total - finished) / st->blocks_per_s : -1;
    char eta_text[32], elapsed[32], skipped[48] = "", workers[96];
    format_time(eta, eta_text, sizeof eta_text);
    format_time(st->elapsed_s, elapsed, sizeof elapsed);
    if (self->runner)
        snprintf(workers, sizeof workers, "%s", self->runner);
    else
        format_workers(st, workers, sizeof workers);
    if (c->skipped)
        snprintf(skipped, sizeof skipped, " (%llu skipped)", (unsigned long long)c->skipped);
    unsigned long long total = c->total, done = finished, ready = c->ready,
                       processing = c->processing, completed = c->completed,
                       failed = c->failed, orphaned = c->orphaned;
    if (self->terminal) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(self->out, "\033[2K%s [%s] %llu/%llu %3.0f%% %s<%s %.1f blocks/s "
                "%s %llu %s %llu %s %llu %s %llu %s %llu%s | %s\n", st->task_id, bar, done, total,
                frac * 100, elapsed, eta_text, st->blocks_per_s, self->sym[0], ready,
                self->sym[1], processing, self->sym[2], completed, self->sym[3], failed,
                self->sym[4], orphaned, skipped, workers);
        return;
    }
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    fprintf(self->out, "%s %s: %llu/%llu blocks (%.0f%%), elapsed %s, ETA %s, %.1f blocks/s, "
            "ready %llu, processing %llu, completed %llu%s, failed %llu, orphaned %llu; %s\n",
            stamp, st->task_id, done, total, frac * 100, elapsed, eta_text, st->blocks_per_s,
            ready, processing, completed, skipped, failed, orphaned, workers);
}

void
bars_update(bars_t *self, const daisy_wire_task_state_t *states, size_t n, bool force)
{
    int64_t now = now_ms();
    if (!force && self->last && now - self->last < self->interval_ms)
        return;
    self->last = now;
    if (self->terminal && self->drawn)
        fprintf(self->out, "\033[%zuA", self->drawn);
    for (size_t i = 0; i < n; i++)
        draw_line(self, &states[i]);
    self->drawn = self->terminal ? n : 0;
    fflush(self->out);
}

void
bars_finish(bars_t *self)
{
    self->drawn = 0;
    fflush(self->out);
}
