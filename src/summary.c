/*  summary.c - daisy's execution summary

    The layout follows Python daisy's closing report, which users grep and
    paste into issues, so it stays recognisable: one section per task, the
    four counters, failed blocks (the first hundred), where to find logs,
    and the success line.
*/
#include "daisy/summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph_internal.h"

typedef struct {
    char *id;
    char *note;
    daisy_task_counts_t counts;
    uint64_t unrecorded;  //  completed, but not in the done markers
    daisy_failure_t failures[DAISY_SUMMARY_MAX_FAILURES];
    size_t nfailures;     //  all failures seen, recorded or not
} summary_task_t;

//  Self-contained (task ids copied) so it outlives the run's graph.
struct _daisy_summary_t {
    uint32_t ntasks;
    summary_task_t *tasks;
};

daisy_summary_t *
daisy_summary_new(const daisy_graph_t *graph)
{
    daisy_summary_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ntasks = graph->ntasks;
    self->tasks = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->tasks);
    bool ok = self->tasks != NULL;
    for (uint32_t t = 0; ok && t < graph->ntasks; t++) {
        self->tasks[t].counts.total = graph->tasks[t].total;
        ok = (self->tasks[t].id = strdup(graph->tasks[t].id)) != NULL;
    }
    if (!ok)
        daisy_summary_destroy(&self);
    return self;
}

static void
failure_free(daisy_failure_t *f)
{
    free((char *)f->error);
    free((char *)f->worker);
    free((char *)f->log);
}

void
daisy_summary_destroy(daisy_summary_t **self_p)
{
    daisy_summary_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (uint32_t t = 0; self->tasks && t < self->ntasks; t++) {
        summary_task_t *st = &self->tasks[t];
        free(st->id);
        free(st->note);
        size_t kept = st->nfailures < DAISY_SUMMARY_MAX_FAILURES
                    ? st->nfailures : DAISY_SUMMARY_MAX_FAILURES;
        for (size_t i = 0; i < kept; i++)
            failure_free(&st->failures[i]);
    }
    free(self->tasks);
    free(self);
    *self_p = NULL;
}

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

daisy_summary_t *
daisy_summary_dup(const daisy_summary_t *self)
{
    daisy_summary_t *copy = calloc(1, sizeof *copy);
    if (!copy)
        return NULL;
    copy->ntasks = self->ntasks;
    copy->tasks = calloc(self->ntasks ? self->ntasks : 1, sizeof *copy->tasks);
    if (!copy->tasks) {
        free(copy);
        return NULL;
    }
    for (uint32_t t = 0; t < self->ntasks; t++) {
        const summary_task_t *from = &self->tasks[t];
        summary_task_t *to = &copy->tasks[t];
        *to = *from;
        to->id = dup_or_null(from->id);
        to->note = dup_or_null(from->note);
        size_t kept = from->nfailures < DAISY_SUMMARY_MAX_FAILURES
                    ? from->nfailures : DAISY_SUMMARY_MAX_FAILURES;
        for (size_t i = 0; i < kept; i++) {
            to->failures[i].error = dup_or_null(from->failures[i].error);
            to->failures[i].worker = dup_or_null(from->failures[i].worker);
            to->failures[i].log = dup_or_null(from->failures[i].log);
        }
    }
    return copy;
}

void
daisy_summary_add_failure(daisy_summary_t *self, uint32_t task, uint64_t block_id,
                          uint32_t attempt, const char *error, const char *worker,
                          const char *log)
{
    if (task >= self->ntasks)
        return;
    summary_task_t *st = &self->tasks[task];
    if (st->nfailures < DAISY_SUMMARY_MAX_FAILURES) {
        daisy_failure_t *f = &st->failures[st->nfailures];
        f->block_id = block_id;
        f->attempt = attempt;
        f->error = strdup(error ? error : "");
        f->worker = strdup(worker ? worker : "");
        f->log = strdup(log ? log : "");
    }
    st->nfailures++;
}

void
daisy_summary_set_note(daisy_summary_t *self, uint32_t task, const char *note)
{
    if (task >= self->ntasks)
        return;
    free(self->tasks[task].note);
    self->tasks[task].note = note ? strdup(note) : NULL;
}

void
daisy_summary_update(daisy_summary_t *self, const daisy_scheduler_t *scheduler)
{
    for (uint32_t t = 0; t < self->ntasks; t++) {
        daisy_scheduler_counts(scheduler, t, &self->tasks[t].counts);
        self->tasks[t].unrecorded = daisy_scheduler_unrecorded(scheduler, t);
    }
}

const daisy_task_counts_t *
daisy_summary_counts(const daisy_summary_t *self, uint32_t task)
{
    return task < self->ntasks ? &self->tasks[task].counts : NULL;
}

size_t
daisy_summary_failure_count(const daisy_summary_t *self, uint32_t task)
{
    return task < self->ntasks ? self->tasks[task].nfailures : 0;
}

const daisy_failure_t *
daisy_summary_failure(const daisy_summary_t *self, uint32_t task, size_t i)
{
    if (task >= self->ntasks || i >= self->tasks[task].nfailures
        || i >= DAISY_SUMMARY_MAX_FAILURES)
        return NULL;
    return &self->tasks[task].failures[i];
}

bool
daisy_summary_success(const daisy_summary_t *self)
{
    for (uint32_t t = 0; t < self->ntasks; t++)
        if (self->tasks[t].counts.completed != self->tasks[t].counts.total)
            return false;
    return true;
}

//  Each worker log that holds a failure, once (a worker that failed 50
//  blocks is one file to read), the first ten of them.
#define MAX_LOGS_SHOWN 10

static void
format_logs(FILE *out, const summary_task_t *st, size_t kept)
{
    const char *shown[MAX_LOGS_SHOWN];
    size_t nshown = 0;
    bool more = false;
    for (size_t i = 0; i < kept; i++) {
        const char *log = st->failures[i].log;
        bool seen = !*log;
        for (size_t j = 0; j < nshown && !seen; j++)
            seen = strcmp(shown[j], log) == 0;
        if (seen)
            continue;
        if (nshown == MAX_LOGS_SHOWN) {
            more = true;
            break;
        }
        shown[nshown++] = log;
    }
    if (nshown == 0)
        return;
    fputs("\n    See worker logs for details:\n\n", out);
    for (size_t i = 0; i < nshown; i++)
        fprintf(out, "      %s\n", shown[i]);
    if (more)
        fputs("      ...\n", out);
}

static void
format_failures(FILE *out, const summary_task_t *st)
{
    size_t kept = st->nfailures < DAISY_SUMMARY_MAX_FAILURES
                ? st->nfailures : DAISY_SUMMARY_MAX_FAILURES;
    fputs("    Failed Blocks:\n\n", out);
    for (size_t i = 0; i < kept; i++) {
        const daisy_failure_t *f = &st->failures[i];
        fprintf(out, "      block %llu (attempt %u): %s", (unsigned long long)f->block_id,
                f->attempt + 1, *f->error ? f->error : "failed");
        if (*f->worker)
            fprintf(out, " [worker %s]", f->worker);
        fputc('\n', out);
    }
    if (st->nfailures > kept)
        fprintf(out, "      (and %zu more)\n", st->nfailures - kept);
    format_logs(out, st, kept);
}

char *
daisy_summary_format(const daisy_summary_t *self)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    fputs("\nExecution Summary\n-----------------\n", out);
    for (uint32_t t = 0; t < self->ntasks; t++) {
        const summary_task_t *st = &self->tasks[t];
        const daisy_task_counts_t *c = &st->counts;
        fprintf(out, "\n  Task %s:\n\n", st->id);
        fprintf(out, "    num blocks : %llu\n", (unsigned long long)c->total);
        fprintf(out, "    completed \u2714: %llu (skipped %llu)\n",
                (unsigned long long)c->completed, (unsigned long long)c->skipped);
        fprintf(out, "    failed    \u2717: %llu\n", (unsigned long long)c->failed);
        fprintf(out, "    orphaned  \u2205: %llu\n\n", (unsigned long long)c->orphaned);
        if (st->unrecorded)
            fprintf(out, "    %llu of the completed blocks are not in the done markers (they "
                    "could not be written): a resumed run does them again\n\n",
                    (unsigned long long)st->unrecorded);
        if (st->note)
            fprintf(out, "    %s\n\n", st->note);
        if (st->nfailures > 0) {
            format_failures(out, st);
            fputc('\n', out);
        }
        if (c->completed == c->total)
            fputs("    all blocks processed successfully\n", out);
    }
    fclose(out);
    return text;
}
