/*  bars.c - progress bars and progress lines

    One renderer for both outputs: a line per task with counts, rate and
    ETA. On a terminal the block of lines is redrawn in place (cursor up,
    clear line) a few times a second; elsewhere each redraw appends plain
    lines, so it is rate-limited much harder.
*/
#include "bars.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _bars_t {
    FILE *out;
    bool terminal;
    int interval_ms;
    int64_t last;
    size_t drawn;        //  lines currently on screen (terminal)
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
    return self;
}

void
bars_destroy(bars_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

static void
format_eta(double seconds, char *buf, size_t size)
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

static void
draw_line(bars_t *self, const daisy_wire_task_state_t *st)
{
    const daisy_task_counts_t *c = &st->counts;
    uint64_t finished = c->completed + c->failed + c->orphaned;
    double frac = c->total ? (double)finished / (double)c->total : 1.0;
    double eta = st->blocks_per_s > 0 ? (double)(c->total - finished) / st->blocks_per_s : -1;
    char eta_text[32], extra[128] = "";
    format_eta(finished == c->total ? 0 : eta, eta_text, sizeof eta_text);
    if (c->failed || c->orphaned || c->skipped)
        snprintf(extra, sizeof extra, " (%llu skipped, %llu failed, %llu orphaned)",
                 (unsigned long long)c->skipped, (unsigned long long)c->failed,
                 (unsigned long long)c->orphaned);
    if (self->terminal) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(self->out, "\033[2K%s [%s] %llu/%llu %3.0f%% %.1f blocks/s ETA %s%s\n",
                st->task_id, bar, (unsigned long long)finished, (unsigned long long)c->total,
                frac * 100, st->blocks_per_s, eta_text, extra);
    } else
        fprintf(self->out, "%s: %llu/%llu blocks (%.0f%%), %llu processing, %.1f blocks/s, "
                "ETA %s%s\n", st->task_id, (unsigned long long)finished,
                (unsigned long long)c->total, frac * 100, (unsigned long long)c->processing,
                st->blocks_per_s, eta_text, extra);
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
