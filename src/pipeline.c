/*  pipeline.c - the task container, and the checks a pipeline must pass

    A pipeline is an ordered list of tasks it owns, plus a few pipeline-wide
    settings (the markers directory). Order is the order of addition, which
    is the order of the pipeline file: plans, progress and summaries list
    tasks that way, so users find them where they wrote them. The order
    carries no meaning for dependencies: a task may name an upstream task
    that comes later in the list.

    Validation is the one gate between what users write and the code that
    schedules blocks. Everything downstream (block graph, resolver,
    scheduler) assumes what it guarantees and checks nothing again:

      - every ROI has 1..DAISY_MAX_DIMS dimensions, the three ROIs of a task
        and those of its upstream tasks agree;
      - offsets and shapes lie within +-DAISY_COORD_LIMIT, so ends, contexts
        and block offsets can be computed in int64 without overflow;
      - shapes are not empty and the write ROI lies in the read ROI;
      - options are in range; ids are unique and non-empty; upstream ids
        name other tasks of the pipeline, each once, without cycles.

    A task with no block is accepted, not refused, as Python daisy does:
    one whose total write ROI (the total ROI shrunk by the block context)
    is smaller than one write ROI under fit valid (case_027 of the
    reference plans), and one whose total write ROI is empty because the
    total ROI is smaller than the context (case_040). The blocks of its
    downstream tasks then simply have no upstream blocks. The second kind
    is almost always a mistake in the file, so daisy_pipeline_warning()
    describes it for the programs to print.

    Checks run task by task, then across tasks, and stop at the first
    refusal: one precise message ("task 'relabel': write_roi [..] is not
    inside read_roi [..]") helps more than a list of consequences of one
    mistake. Tasks are labelled by id, or by position when the id is empty.

    Ids are looked up through a sorted index built per validation (the
    pipeline itself keeps no map): pipelines are small, validation runs
    once, and a plain array keeps the container trivial to reason about.
*/
#include "daisy/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _daisy_pipeline_t {
    daisy_task_t **tasks;   //  owned, in the order added
    size_t size;
    size_t cap;
    char *markers;          //  markers directory, or NULL
};

//  As in czmq, running out of memory is fatal: see task.c.
static void *
s_alloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        abort();
    return p;
}

daisy_pipeline_t *
daisy_pipeline_new(void)
{
    daisy_pipeline_t *self = s_alloc(NULL, sizeof *self);
    *self = (daisy_pipeline_t) {0};
    return self;
}

void
daisy_pipeline_destroy(daisy_pipeline_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    daisy_pipeline_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        daisy_task_destroy(&self->tasks[i]);
    free(self->tasks);
    free(self->markers);
    free(self);
    *self_p = NULL;
}

void
daisy_pipeline_add(daisy_pipeline_t *self, daisy_task_t **task_p)
{
    if (!task_p || !*task_p)
        return;
    if (self->size == self->cap) {
        self->cap = self->cap ? 2 * self->cap : 8;
        self->tasks = s_alloc(self->tasks, self->cap * sizeof *self->tasks);
    }
    self->tasks[self->size++] = *task_p;
    *task_p = NULL;
}

size_t
daisy_pipeline_size(const daisy_pipeline_t *self)
{
    return self->size;
}

daisy_task_t *
daisy_pipeline_task(const daisy_pipeline_t *self, size_t i)
{
    return i < self->size ? self->tasks[i] : NULL;
}

int
daisy_pipeline_find(const daisy_pipeline_t *self, const char *task_id)
{
    for (size_t i = 0; task_id && i < self->size; i++)
        if (strcmp(daisy_task_id(self->tasks[i]), task_id) == 0)
            return (int) i;
    return -1;
}

void
daisy_pipeline_set_markers(daisy_pipeline_t *self, const char *dir)
{
    char *copy = NULL;
    if (dir) {
        size_t len = strlen(dir) + 1;
        copy = memcpy(s_alloc(NULL, len), dir, len);
    }
    free(self->markers);
    self->markers = copy;
}

const char *
daisy_pipeline_markers(const daisy_pipeline_t *self)
{
    return self->markers;
}

//  --------------------------------------------------------------------------
//  Validation of one task

//  Room for a formatted ROI or coordinate of DAISY_MAX_DIMS entries.
#define TEXT_MAX 256
//  "task 'id'" (id cut short if need be) or "tasks[12]".
#define LABEL_MAX 96

typedef struct {
    const daisy_task_t *task;
    const char *who;            //  the task's label in messages
    daisy_roi_t roi[3];         //  total, read, write
} s_check_t;

static const char *const s_roi_key[3] = {"total_roi", "read_roi", "write_roi"};

static const char *
s_roi_text(const daisy_roi_t *roi, char *buf)
{
    daisy_roi_format(roi, buf, TEXT_MAX);
    return buf;
}

static const char *
s_coord_text(daisy_coord_t c, char *buf)
{
    daisy_coord_format(c, buf, TEXT_MAX);
    return buf;
}

static int
s_check_dims(const s_check_t *c, daisy_error_t *err)
{
    for (int k = 0; k < 3; k++) {
        int dims = c->roi[k].dims;
        if (dims < 1 || dims > DAISY_MAX_DIMS)
            return daisy_error_set(err,
                "%s: %s has %d dimensions (expected 1 to %d)",
                c->who, s_roi_key[k], dims, DAISY_MAX_DIMS);
    }
    for (int k = 1; k < 3; k++)
        if (c->roi[k].dims != c->roi[0].dims)
            return daisy_error_set(err,
                "%s: %s has %d dimensions but total_roi has %d",
                c->who, s_roi_key[k], c->roi[k].dims, c->roi[0].dims);
    return 0;
}

//  Bounds first, so that formatting and arithmetic below cannot overflow.
static int
s_check_range(const s_check_t *c, daisy_error_t *err)
{
    for (int k = 0; k < 3; k++) {
        const daisy_roi_t *r = &c->roi[k];
        for (int d = 0; d < r->dims; d++) {
            bool bad_offset = r->offset[d] > DAISY_COORD_LIMIT
                           || r->offset[d] < -DAISY_COORD_LIMIT;
            if (bad_offset || r->shape[d] > DAISY_COORD_LIMIT)
                return daisy_error_set(err,
                    "%s: %s %s %lld in dimension %d is out of range "
                    "(magnitude at most 2^60)", c->who, s_roi_key[k],
                    bad_offset ? "offset" : "shape",
                    (long long) (bad_offset ? r->offset[d] : r->shape[d]), d);
        }
    }
    return 0;
}

static int
s_check_shapes(const s_check_t *c, daisy_error_t *err)
{
    char text[TEXT_MAX];
    for (int k = 0; k < 3; k++) {
        const daisy_roi_t *r = &c->roi[k];
        for (int d = 0; d < r->dims; d++)
            if (r->shape[d] <= 0)
                return daisy_error_set(err,
                    "%s: %s shape %s is empty in dimension %d "
                    "(every entry must be > 0)", c->who, s_roi_key[k],
                    s_coord_text(daisy_roi_shape(r), text), d);
    }
    return 0;
}

static int
s_check_write_in_read(const s_check_t *c, daisy_error_t *err)
{
    char rtext[TEXT_MAX], wtext[TEXT_MAX];
    if (daisy_roi_contains(&c->roi[1], &c->roi[2]))
        return 0;
    return daisy_error_set(err, "%s: write_roi %s is not inside read_roi %s",
                           c->who, s_roi_text(&c->roi[2], wtext),
                           s_roi_text(&c->roi[1], rtext));
}

//  The total ROI shrunk by the block context (read ROI around write ROI).
static daisy_roi_t
s_total_write(const s_check_t *c, daisy_coord_t *lo, daisy_coord_t *hi)
{
    const daisy_roi_t *read = &c->roi[1], *write = &c->roi[2];
    *lo = daisy_coord_sub(daisy_roi_begin(write), daisy_roi_begin(read));
    *hi = daisy_coord_sub(daisy_roi_end(read), daisy_roi_end(write));
    daisy_coord_t zero = daisy_coord_fill(read->dims, 0);
    return daisy_roi_grow(&c->roi[0], daisy_coord_sub(zero, *lo),
                          daisy_coord_sub(zero, *hi));
}

//  1 with a message when the total write ROI is empty in some dimension.
static int
s_total_write_empty(const s_check_t *c, daisy_error_t *msg)
{
    char ttext[TEXT_MAX], lotext[TEXT_MAX], hitext[TEXT_MAX], stext[TEXT_MAX];
    daisy_coord_t lo, hi;
    daisy_roi_t total_write = s_total_write(c, &lo, &hi);
    for (int d = 0; d < total_write.dims; d++)
        if (total_write.shape[d] <= 0) {
            daisy_error_set(msg,
                "%s: total write ROI is empty, the task has no block: "
                "total_roi %s shrunk by the block context %s before and %s "
                "after leaves shape %s", c->who, s_roi_text(&c->roi[0], ttext),
                s_coord_text(lo, lotext), s_coord_text(hi, hitext),
                s_coord_text(daisy_roi_shape(&total_write), stext));
            return 1;
        }
    return 0;
}

//  A write grid has the task's dimensions and cells of positive size.
static int
s_check_write_grid(const s_check_t *c, daisy_error_t *err)
{
    char text[TEXT_MAX];
    daisy_roi_t g = daisy_task_write_grid(c->task);
    if (g.dims == 0)
        return 0;
    if (g.dims != c->roi[0].dims)
        return daisy_error_set(err, "%s: write_grid has %d dimensions but total_roi has %d",
                               c->who, g.dims, c->roi[0].dims);
    for (int d = 0; d < g.dims; d++) {
        bool bad_offset = g.offset[d] > DAISY_COORD_LIMIT || g.offset[d] < -DAISY_COORD_LIMIT;
        if (bad_offset || g.shape[d] <= 0 || g.shape[d] > DAISY_COORD_LIMIT)
            return daisy_error_set(err,
                "%s: write_grid %s %s in dimension %d is out of range (a cell shape > 0, "
                "magnitudes at most 2^60)", c->who, bad_offset ? "offset" : "shape",
                s_coord_text(bad_offset ? daisy_roi_begin(&g) : daisy_roi_shape(&g), text), d);
    }
    return 0;
}

static int
s_check_options(const s_check_t *c, daisy_error_t *err)
{
    const daisy_task_t *t = c->task;
    daisy_fit_t fit = daisy_task_fit(t);
    if (fit != DAISY_FIT_VALID && fit != DAISY_FIT_OVERHANG
        && fit != DAISY_FIT_SHRINK)
        return daisy_error_set(err, "%s: fit %d is not a fit mode",
                               c->who, (int) fit);
    if (daisy_task_max_retries(t) < 0)
        return daisy_error_set(err, "%s: max_retries %d is negative",
                               c->who, daisy_task_max_retries(t));
    if (daisy_task_workers(t) < 1)
        return daisy_error_set(err, "%s: workers %d is less than 1",
                               c->who, daisy_task_workers(t));
    double timeout = daisy_task_timeout(t);
    if (!isfinite(timeout) || timeout < 0)
        return daisy_error_set(err,
            "%s: timeout %g is not a number of seconds >= 0 "
            "(0 means no limit)", c->who, timeout);
    //  The protocol carries a timeout in 32-bit milliseconds: a longer one
    //  would quietly become 49.7 days.
    if (timeout > (double)UINT32_MAX / 1000)
        return daisy_error_set(err,
            "%s: timeout %g is more than %u seconds, the longest a block "
            "can be given (0 means no limit)", c->who, timeout, UINT32_MAX / 1000);
    if (daisy_task_command(t) && daisy_task_worker(t))
        return daisy_error_set(err,
            "%s: command and worker are both set (a task runs one or the "
            "other)", c->who);
    return 0;
}

//  Resources go into a batch script: a form sbatch takes, and nothing a
//  shell or SLURM would read as something else.
static bool
s_matches(const char *s, const char *allowed)
{
    return s && *s && strspn(s, allowed) == strlen(s);
}

static bool
s_mem_ok(const char *mem)
{
    size_t digits = strspn(mem, "0123456789");
    return digits > 0 && (mem[digits] == '\0' || (strchr("KMGT", mem[digits])
                                                   && mem[digits + 1] == '\0'));
}

static int
s_check_resources(const s_check_t *c, daisy_error_t *err)
{
    const daisy_resources_t *r = daisy_task_resources(c->task);
    if (r->mem && !s_mem_ok(r->mem))
        return daisy_error_set(err, "%s: resources.mem '%s' is not a memory size (digits, "
                               "then K, M, G or T: e.g. 16G)", c->who, r->mem);
    if (r->time && !s_matches(r->time, "0123456789:-"))
        return daisy_error_set(err, "%s: resources.time '%s' is not a time limit (e.g. 90, "
                               "2:00:00, 1-12:00:00)", c->who, r->time);
    if (r->partition && !s_matches(r->partition, "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-,"))
        return daisy_error_set(err, "%s: resources.partition '%s' is not a partition name",
                               c->who, r->partition);
    for (const char *p = r->extra; p && *p; p += strcspn(p, " ")) {
        p += strspn(p, " ");
        if (*p && strncmp(p, "--", 2) != 0)
            return daisy_error_set(err, "%s: resources.extra '%s': each entry is an sbatch "
                                   "option starting with --", c->who, r->extra);
    }
    if (r->extra && strpbrk(r->extra, "\n'\"`$\\;&|<>"))
        return daisy_error_set(err, "%s: resources.extra '%s': quotes, newlines and shell "
                               "characters are not allowed", c->who, r->extra);
    return 0;
}

static void
s_label(const daisy_pipeline_t *self, size_t i, char *buf)
{
    const char *id = daisy_task_id(self->tasks[i]);
    if (*id)
        snprintf(buf, LABEL_MAX, "task '%.80s'", id);
    else
        snprintf(buf, LABEL_MAX, "tasks[%zu]", i);
}

//  Bytes of a task id as a file name, room left for "-N.out" and more.
#define ID_FILE_MAX 200

static int
s_check_task(const daisy_pipeline_t *self, size_t i, daisy_error_t *err)
{
    char who[LABEL_MAX];
    s_label(self, i, who);
    const daisy_task_t *t = self->tasks[i];
    if (!*daisy_task_id(t))
        return daisy_error_set(err, "%s: id is empty", who);
    //  Ids name files (daisy_file_name): the workers' logs, ID-N.err,
    //  must fit a file system's 255 bytes.
    char name[ID_FILE_MAX + 2];
    daisy_file_name(daisy_task_id(t), name, sizeof name);
    if (strlen(name) > ID_FILE_MAX)
        return daisy_error_set(err, "%s: id is too long: as a file name it takes more than "
                               "%d bytes (every byte but letters, digits, '-', '_' and '.' "
                               "takes 3)", who, ID_FILE_MAX);
    s_check_t c = {
        .task = t, .who = who,
        .roi = {daisy_task_total_roi(t), daisy_task_read_roi(t),
                daisy_task_write_roi(t)},
    };
    if (s_check_dims(&c, err) || s_check_range(&c, err)
        || s_check_shapes(&c, err) || s_check_write_in_read(&c, err)
        || s_check_options(&c, err) || s_check_write_grid(&c, err)
        || s_check_resources(&c, err))
        return -1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Validation across tasks

typedef struct {
    const char *id;
    size_t pos;
} s_entry_t;

static int
s_entry_compare(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

//  The ids sorted (ties by position); the caller frees it.
static s_entry_t *
s_index_new(const daisy_pipeline_t *self)
{
    s_entry_t *index = s_alloc(NULL, self->size * sizeof *index);
    for (size_t i = 0; i < self->size; i++)
        index[i] = (s_entry_t) {daisy_task_id(self->tasks[i]), i};
    qsort(index, self->size, sizeof *index, s_entry_compare);
    return index;
}

//  Position of the task with this id through the index, or -1.
static long
s_index_find(const s_entry_t *index, size_t size, const char *id)
{
    size_t lo = 0, hi = size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(index[mid].id, id);
        if (c == 0)
            return (long) index[mid].pos;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int
s_check_unique(const s_entry_t *index, size_t size, daisy_error_t *err)
{
    for (size_t i = 1; i < size; i++)
        if (strcmp(index[i - 1].id, index[i].id) == 0)
            return daisy_error_set(err,
                "task '%s': id '%s' is used twice (tasks[%zu] and tasks[%zu])",
                index[i].id, index[i].id, index[i - 1].pos, index[i].pos);
    return 0;
}

static int
s_check_upstream(const daisy_pipeline_t *self, const s_entry_t *index,
                 size_t i, daisy_error_t *err)
{
    const daisy_task_t *t = self->tasks[i];
    const char *id = daisy_task_id(t);
    int dims = daisy_task_total_roi(t).dims;
    for (size_t j = 0; j < daisy_task_upstream_count(t); j++) {
        const char *up = daisy_task_upstream(t, j);
        long pos = s_index_find(index, self->size, up);
        if (pos < 0)
            return daisy_error_set(err,
                "task '%s': upstream '%s' names no task in the pipeline",
                id, up);
        if ((size_t) pos == i)
            return daisy_error_set(err,
                "task '%s': upstream '%s' is the task itself", id, up);
        for (size_t k = 0; k < j; k++)
            if (strcmp(daisy_task_upstream(t, k), up) == 0)
                return daisy_error_set(err,
                    "task '%s': upstream '%s' is named twice", id, up);
        int up_dims = daisy_task_total_roi(self->tasks[pos]).dims;
        if (up_dims != dims)
            return daisy_error_set(err,
                "task '%s': upstream '%s' has %d dimensions but total_roi "
                "has %d", id, up, up_dims, dims);
    }
    return 0;
}

//  Report the cycle that the depth-first path stack[from..top] closes.
static int
s_cycle_error(const daisy_pipeline_t *self, const size_t *stack,
              size_t from, size_t top, daisy_error_t *err)
{
    char path[DAISY_ERROR_MAX] = "";
    size_t len = 0;
    for (size_t k = from; k <= top + 1 && len < sizeof path; k++) {
        size_t pos = k <= top ? stack[k] : stack[from];
        len += snprintf(path + len, sizeof path - len, "%s'%s'",
                        k > from ? " -> " : "",
                        daisy_task_id(self->tasks[pos]));
    }
    return daisy_error_set(err,
        "task '%s': upstream cycle: %s (each names the next as upstream)",
        daisy_task_id(self->tasks[stack[from]]), path);
}

//  Depth-first search along upstream edges with an explicit stack (no
//  recursion depth to worry about); reaching a task that is still on the
//  stack closes a cycle. Upstream ids are known to exist by now.
static int
s_check_cycles(const daisy_pipeline_t *self, const s_entry_t *index,
               daisy_error_t *err)
{
    enum { UNSEEN, ON_STACK, DONE };
    size_t n = self->size;
    unsigned char *state = s_alloc(NULL, n);
    size_t *stack = s_alloc(NULL, n * sizeof *stack);
    size_t *next = s_alloc(NULL, n * sizeof *next);
    memset(state, UNSEEN, n);
    int rc = 0;
    for (size_t root = 0; root < n && rc == 0; root++) {
        if (state[root] != UNSEEN)
            continue;
        size_t top = 0;
        stack[0] = root, next[0] = 0, state[root] = ON_STACK;
        while (rc == 0) {
            const daisy_task_t *t = self->tasks[stack[top]];
            if (next[top] == daisy_task_upstream_count(t)) {
                state[stack[top]] = DONE;
                if (top-- == 0)
                    break;
                continue;
            }
            const char *up = daisy_task_upstream(t, next[top]++);
            size_t pos = (size_t) s_index_find(index, n, up);
            if (state[pos] == ON_STACK) {
                size_t from = 0;
                while (stack[from] != pos)
                    from++;
                rc = s_cycle_error(self, stack, from, top, err);
            }
            else if (state[pos] == UNSEEN) {
                stack[++top] = pos, next[top] = 0, state[pos] = ON_STACK;
            }
        }
    }
    free(state);
    free(stack);
    free(next);
    return rc;
}

static int
s_check_graph(const daisy_pipeline_t *self, daisy_error_t *err)
{
    s_entry_t *index = s_index_new(self);
    int rc = s_check_unique(index, self->size, err);
    for (size_t i = 0; rc == 0 && i < self->size; i++)
        rc = s_check_upstream(self, index, i, err);
    if (rc == 0)
        rc = s_check_cycles(self, index, err);
    free(index);
    return rc;
}

int
daisy_pipeline_validate(const daisy_pipeline_t *self, daisy_error_t *err)
{
    if (self->size == 0)
        return daisy_error_set(err, "tasks: the pipeline has no task");
    for (size_t i = 0; i < self->size; i++)
        if (s_check_task(self, i, err))
            return -1;
    return s_check_graph(self, err);
}

int
daisy_pipeline_warning(const daisy_pipeline_t *self, size_t i,
                       daisy_error_t *msg)
{
    if (i >= self->size)
        return 0;
    char who[LABEL_MAX];
    s_label(self, i, who);
    const daisy_task_t *t = self->tasks[i];
    s_check_t c = {
        .task = t, .who = who,
        .roi = {daisy_task_total_roi(t), daisy_task_read_roi(t),
                daisy_task_write_roi(t)},
    };
    return s_total_write_empty(&c, msg);
}
