/*  resolver.c - the dependency resolver: counting down to ready

    When a block is resolved, each of its downstream blocks gets an entry
    (created on first contact with its full upstream count from the graph)
    that is counted down; the block whose count reaches zero is ready, or
    orphaned when a failure reached it, and leaves the map. Orphaning
    resolves the orphan in turn, through a work list rather than recursion,
    so a long chain of tasks cannot overflow the stack.

    Roots come from one root cursor per task over its level-0 lattice: the
    lattice points no upstream task covers (all of them for tasks without
    upstream tasks).
*/
#include "daisy/resolver.h"

#include <stdlib.h>

#include "blockmap.h"
#include "graph_internal.h"
#include "root_cursor.h"

#define FAILED_BIT 0x80000000u
#define COUNT_MASK 0x7fffffffu

typedef struct {
    daisy_block_ref_t ref;
    bool ok;
} work_t;

struct _daisy_resolver_t {
    const daisy_graph_t *graph;
    blockmap_t *waiting;
    root_cursor_t **roots;
    work_t *work;
    size_t nwork, capwork;
    bool *complete;       //  per task: done before the run began
    daisy_resolver_fn *fn;
    void *arg;
    bool current_ok;      //  how the block being propagated was resolved
    bool oom;
};

//  Interval of level-0 lattice points j (k = o + j m) along dimension d that
//  task u covers: from the first j whose range of u blocks starts (b > 0)
//  to the first j past u's last block (a >= n).
static void
covered_interval(const graph_task_t *v, const graph_task_t *u, int d,
                 const int64_t *o, int64_t extent, int64_t *lo, int64_t *hi)
{
    for (int pass = 0; pass < 2; pass++) {
        int64_t l = 0, h = extent;
        while (l < h) {
            int64_t mid = l + (h - l) / 2, a, b;
            graph_cross_range(v, u, d, o[d] + mid * v->m[d], &a, &b);
            if (pass == 0 ? b > 0 : a >= u->n[d])
                h = mid;
            else
                l = mid + 1;
        }
        *(pass == 0 ? lo : hi) = l;
    }
}

//  Most upstream blocks any block of v can have, to keep counts in 31 bits.
static uint64_t
max_upstream(const graph_task_t *v, const daisy_graph_t *g)
{
    uint64_t total = 1ull << v->dims;
    for (uint32_t i = 0; i < v->n_up; i++) {
        const graph_task_t *u = &g->tasks[v->up[i]];
        uint64_t c = 1;
        for (int d = 0; d < v->dims; d++) {
            uint64_t per = (uint64_t)(v->rs[d] / u->ws[d] + 2);
            if (__builtin_mul_overflow(c, per, &c))
                return UINT64_MAX;
        }
        total += c;
    }
    return total;
}

//  Roots of a task: its level-0 blocks not covered by an upstream task that
//  still has work; none for a task that is complete already.
static root_cursor_t *
make_roots(const daisy_graph_t *g, uint32_t task, const bool *complete)
{
    const graph_task_t *v = &g->tasks[task];
    int64_t o[D], extent[D];
    int64_t lo[ROOT_CURSOR_MAX_UPSTREAM * D], hi[ROOT_CURSOR_MAX_UPSTREAM * D];
    graph_level_offset(v, 0, o);
    for (int d = 0; d < v->dims; d++)
        extent[d] = complete[task] ? 0 : (v->n[d] - o[d] + v->m[d] - 1) / v->m[d];
    int n = 0;
    for (uint32_t i = 0; i < v->n_up; i++) {
        if (complete[v->up[i]])
            continue;
        for (int d = 0; d < v->dims; d++)
            covered_interval(v, &g->tasks[v->up[i]], d, o, extent[d],
                             &lo[n * v->dims + d], &hi[n * v->dims + d]);
        n++;
    }
    return root_cursor_new(v->dims, extent, n, lo, hi);
}

daisy_resolver_t *
daisy_resolver_new(const daisy_graph_t *graph, daisy_error_t *err)
{
    return daisy_resolver_new_resumed(graph, NULL, err);
}

daisy_resolver_t *
daisy_resolver_new_resumed(const daisy_graph_t *graph, const bool *complete,
                           daisy_error_t *err)
{
    for (uint32_t t = 0; t < graph->ntasks; t++) {
        const graph_task_t *v = &graph->tasks[t];
        if (v->n_up > ROOT_CURSOR_MAX_UPSTREAM) {
            daisy_error_set(err, "task '%s': more than %d upstream tasks", v->id,
                            ROOT_CURSOR_MAX_UPSTREAM);
            return NULL;
        }
        if (max_upstream(v, graph) > COUNT_MASK) {
            daisy_error_set(err, "task '%s': a block would read more than 2^31 upstream blocks",
                            v->id);
            return NULL;
        }
    }
    daisy_resolver_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->graph = graph;
    self->waiting = blockmap_new();
    self->roots = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->roots);
    self->complete = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->complete);
    bool ok = self->waiting && self->roots && self->complete;
    for (uint32_t t = 0; ok && complete && t < graph->ntasks; t++)
        self->complete[t] = complete[t];
    for (uint32_t t = 0; ok && t < graph->ntasks; t++)
        ok = (self->roots[t] = make_roots(graph, t, self->complete)) != NULL;
    if (!ok) {
        daisy_error_set(err, "out of memory");
        daisy_resolver_destroy(&self);
    }
    return self;
}

void
daisy_resolver_destroy(daisy_resolver_t **self_p)
{
    daisy_resolver_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t t = 0; self->roots && t < self->graph->ntasks; t++)
        root_cursor_destroy(&self->roots[t]);
    free(self->roots);
    free(self->complete);
    blockmap_destroy(&self->waiting);
    free(self->work);
    free(self);
    *self_p = NULL;
}

bool
daisy_resolver_next_root(daisy_resolver_t *self, uint32_t task, daisy_block_ref_t *ref)
{
    if (task >= self->graph->ntasks)
        return false;
    const graph_task_t *v = &self->graph->tasks[task];
    int64_t j[D], k[D];
    if (!root_cursor_next(self->roots[task], j))
        return false;
    graph_level_offset(v, 0, k);
    for (int d = 0; d < v->dims; d++)
        k[d] += j[d] * v->m[d];
    ref->task = task;
    ref->index = graph_flatten(v, k);
    return true;
}

uint64_t
daisy_resolver_roots_left(const daisy_resolver_t *self, uint32_t task)
{
    return task < self->graph->ntasks ? root_cursor_left(self->roots[task]) : 0;
}

static void
push_work(daisy_resolver_t *self, daisy_block_ref_t ref, bool ok)
{
    if (self->nwork == self->capwork) {
        size_t cap = self->capwork ? self->capwork * 2 : 64;
        work_t *w = realloc(self->work, cap * sizeof *w);
        if (!w) {
            self->oom = true;
            return;
        }
        self->work = w;
        self->capwork = cap;
    }
    self->work[self->nwork++] = (work_t){.ref = ref, .ok = ok};
}

//  One upstream block of (task, index) was resolved; current_ok says how.
//  Runs inside graph_each_downstream.
static void
count_down(void *arg, uint32_t task, uint64_t index)
{
    daisy_resolver_t *self = arg;
    bool created;
    uint32_t *entry = blockmap_put(self->waiting, task, index, &created);
    if (!entry) {
        self->oom = true;
        return;
    }
    if (created) {
        int64_t k[D];
        graph_unflatten(&self->graph->tasks[task], index, k);
        *entry = (uint32_t)graph_upstream_count(self->graph, task, k, self->complete);
    }
    if (!self->current_ok)
        *entry |= FAILED_BIT;
    *entry -= 1;   //  the count sits in the low bits and is at least 1 here
    if ((*entry & COUNT_MASK) != 0)
        return;
    bool failed = *entry & FAILED_BIT;
    blockmap_del(self->waiting, task, index);
    daisy_block_ref_t ref = {.task = task, .index = index};
    if (failed)
        push_work(self, ref, false);
    self->fn(self->arg, ref, !failed);
}

int
daisy_resolver_resolve(daisy_resolver_t *self, daisy_block_ref_t ref, bool ok,
                       daisy_resolver_fn *fn, void *arg)
{
    self->fn = fn;
    self->arg = arg;
    self->nwork = 0;
    push_work(self, ref, ok);
    while (self->nwork > 0 && !self->oom) {
        work_t item = self->work[--self->nwork];
        const graph_task_t *t = &self->graph->tasks[item.ref.task];
        int64_t k[D];
        graph_unflatten(t, item.ref.index, k);
        self->current_ok = item.ok;
        graph_each_downstream(self->graph, item.ref.task, k, count_down, self);
    }
    return self->oom ? -1 : 0;
}

size_t
daisy_resolver_waiting(const daisy_resolver_t *self)
{
    return blockmap_size(self->waiting);
}
