/*  task.c - a task: its ROIs, daisy's options, and what runs per block

    A task is a plain record behind an opaque type, so the fields can grow
    (and their representation change) without breaking programs built
    against libdaisy. It stores what it is given and judges nothing:
    whether the ROIs and options make sense depends on the other tasks of
    the pipeline (dimensions of upstream tasks, which ids exist), so all
    checking lives in pipeline.c, which can name the task and field at
    fault in one place.

    Every string is copied, so callers may pass temporaries (a JSON
    document about to be freed, a stack buffer). Upstream ids are kept in
    the order given: plans and logs list them that way.

    As in czmq, running out of memory is fatal (abort) rather than an error
    to report: setters return nothing, and a scheduler that cannot allocate
    a few bytes for a task id cannot do anything useful either.
*/
#include "daisy/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _daisy_task_t {
    char *id;
    daisy_roi_t total_roi;
    daisy_roi_t read_roi;
    daisy_roi_t write_roi;
    bool read_write_conflict;
    daisy_roi_t write_grid;     //  dims 0: none
    daisy_fit_t fit;
    int max_retries;
    double timeout;             //  seconds; 0 means no limit
    int workers;
    char **upstream;            //  task ids, in the order given
    size_t upstream_count;
    size_t upstream_cap;
    char *command;              //  shell command run once per block
    char *worker;               //  long-lived worker program
    char *check_command;        //  exits 0 when a block is already done
    daisy_resources_t resources;    //  strings owned
    daisy_process_fn *process;
    void *process_arg;
    daisy_check_fn *check;
    void *check_arg;
};

//  Allocation failure is fatal (see above); these keep that in one place.
static void *
s_alloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size);
    if (!p)
        abort();
    return p;
}

static char *
s_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    return memcpy(s_alloc(NULL, len), s, len);
}

//  Replace an owned string with a copy of `value` (NULL clears).
static void
s_clear_resources(daisy_resources_t *r)
{
    free((char *) r->mem);
    free((char *) r->time);
    free((char *) r->partition);
    free((char *) r->extra);
    *r = (daisy_resources_t) {0};
}

static void
s_replace(char **field, const char *value)
{
    char *copy = s_strdup(value);
    free(*field);
    *field = copy;
}

daisy_task_t *
daisy_task_new(const char *id, daisy_roi_t total_roi,
               daisy_roi_t read_roi, daisy_roi_t write_roi)
{
    daisy_task_t *self = s_alloc(NULL, sizeof *self);
    *self = (daisy_task_t) {
        //  A NULL id becomes "", which validation refuses with a message.
        .id = s_strdup(id ? id : ""),
        .total_roi = total_roi,
        .read_roi = read_roi,
        .write_roi = write_roi,
        .read_write_conflict = true,
        .fit = DAISY_FIT_VALID,
        .max_retries = 2,
        .timeout = 0,
        .workers = 1,
    };
    return self;
}

void
daisy_task_destroy(daisy_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    daisy_task_t *self = *self_p;
    for (size_t i = 0; i < self->upstream_count; i++)
        free(self->upstream[i]);
    free(self->upstream);
    free(self->id);
    free(self->command);
    free(self->worker);
    free(self->check_command);
    s_clear_resources(&self->resources);
    free(self);
    *self_p = NULL;
}

const char *
daisy_task_id(const daisy_task_t *self)
{
    return self->id;
}

void
daisy_file_name(const char *id, char *out, size_t size)
{
    bool dots = strspn(id, ".") == strlen(id);
    size_t used = 0;
    out[0] = '\0';
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        bool safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                 || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || (*p == '.' && !dots);
        char piece[4];
        int n = snprintf(piece, sizeof piece, safe ? "%c" : "%%%02X", *p);
        if (used + (size_t)n >= size)
            break;
        memcpy(out + used, piece, (size_t)n + 1);
        used += (size_t)n;
    }
}

daisy_roi_t
daisy_task_total_roi(const daisy_task_t *self)
{
    return self->total_roi;
}

daisy_roi_t
daisy_task_read_roi(const daisy_task_t *self)
{
    return self->read_roi;
}

daisy_roi_t
daisy_task_write_roi(const daisy_task_t *self)
{
    return self->write_roi;
}

void
daisy_task_set_read_write_conflict(daisy_task_t *self, bool conflict)
{
    self->read_write_conflict = conflict;
}

bool
daisy_task_read_write_conflict(const daisy_task_t *self)
{
    return self->read_write_conflict;
}

void
daisy_task_set_write_grid(daisy_task_t *self, const daisy_roi_t *grid)
{
    self->write_grid = grid ? *grid : (daisy_roi_t) {0};
}

daisy_roi_t
daisy_task_write_grid(const daisy_task_t *self)
{
    return self->write_grid;
}

void
daisy_task_set_fit(daisy_task_t *self, daisy_fit_t fit)
{
    self->fit = fit;
}

daisy_fit_t
daisy_task_fit(const daisy_task_t *self)
{
    return self->fit;
}

void
daisy_task_set_max_retries(daisy_task_t *self, int max_retries)
{
    self->max_retries = max_retries;
}

int
daisy_task_max_retries(const daisy_task_t *self)
{
    return self->max_retries;
}

void
daisy_task_set_timeout(daisy_task_t *self, double seconds)
{
    self->timeout = seconds;
}

double
daisy_task_timeout(const daisy_task_t *self)
{
    return self->timeout;
}

//  One conversion for the broker and the serial runner, which used to
//  round a fraction of a millisecond differently.
uint32_t
daisy_task_timeout_ms(const daisy_task_t *self)
{
    double ms = ceil(self->timeout * 1000);
    if (!(ms > 0))
        return 0;
    return ms >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void
daisy_task_set_workers(daisy_task_t *self, int workers)
{
    self->workers = workers;
}

int
daisy_task_workers(const daisy_task_t *self)
{
    return self->workers;
}

void
daisy_task_add_upstream(daisy_task_t *self, const char *task_id)
{
    if (!task_id)
        return;
    if (self->upstream_count == self->upstream_cap) {
        self->upstream_cap = self->upstream_cap ? 2 * self->upstream_cap : 4;
        self->upstream = s_alloc(self->upstream,
                                 self->upstream_cap * sizeof *self->upstream);
    }
    self->upstream[self->upstream_count++] = s_strdup(task_id);
}

size_t
daisy_task_upstream_count(const daisy_task_t *self)
{
    return self->upstream_count;
}

const char *
daisy_task_upstream(const daisy_task_t *self, size_t i)
{
    return i < self->upstream_count ? self->upstream[i] : NULL;
}

void
daisy_task_set_command(daisy_task_t *self, const char *command)
{
    s_replace(&self->command, command);
}

const char *
daisy_task_command(const daisy_task_t *self)
{
    return self->command;
}

void
daisy_task_set_worker(daisy_task_t *self, const char *worker)
{
    s_replace(&self->worker, worker);
}

const char *
daisy_task_worker(const daisy_task_t *self)
{
    return self->worker;
}

void
daisy_task_set_resources(daisy_task_t *self, const daisy_resources_t *r)
{
    daisy_resources_t copy = {0};
    if (r)
        copy = (daisy_resources_t) {r->cpus, r->gpus, s_strdup(r->mem), s_strdup(r->time),
                                    s_strdup(r->partition), s_strdup(r->extra)};
    s_clear_resources(&self->resources);
    self->resources = copy;
}

const daisy_resources_t *
daisy_task_resources(const daisy_task_t *self)
{
    return &self->resources;
}

void
daisy_task_set_check_command(daisy_task_t *self, const char *command)
{
    s_replace(&self->check_command, command);
}

const char *
daisy_task_check_command(const daisy_task_t *self)
{
    return self->check_command;
}

void
daisy_task_set_process(daisy_task_t *self, daisy_process_fn *fn, void *arg)
{
    self->process = fn;
    self->process_arg = arg;
}

daisy_process_fn *
daisy_task_process(const daisy_task_t *self, void **arg)
{
    if (arg)
        *arg = self->process_arg;
    return self->process;
}

void
daisy_task_set_check(daisy_task_t *self, daisy_check_fn *fn, void *arg)
{
    self->check = fn;
    self->check_arg = arg;
}

daisy_check_fn *
daisy_task_check(const daisy_task_t *self, void **arg)
{
    if (arg)
        *arg = self->check_arg;
    return self->check;
}

//  Names as they appear in pipeline files and messages, indexed by fit.
static const char *const s_fit_names[] = {"valid", "overhang", "shrink"};
#define FIT_COUNT (sizeof s_fit_names / sizeof s_fit_names[0])

const char *
daisy_fit_name(daisy_fit_t fit)
{
    return (unsigned) fit < FIT_COUNT ? s_fit_names[fit] : "unknown";
}

int
daisy_fit_parse(const char *name, daisy_fit_t *fit)
{
    for (size_t i = 0; name && i < FIT_COUNT; i++) {
        if (strcmp(name, s_fit_names[i]) == 0) {
            *fit = (daisy_fit_t) i;
            return 0;
        }
    }
    return -1;
}
