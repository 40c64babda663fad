/*  scheduler.c - per-task ready queues, attempts and counters

    The scheduler sits between whoever runs blocks (the serial runner, the
    broker) and the resolver. It owns the only mutable per-block state
    outside the resolver: the ready queues (a ring per task) and the map of
    blocks being processed with their attempt number, which is also what
    makes a release of a block nobody holds harmless.

    Ready counts include the roots the resolver has not handed out yet, so
    the counters are daisy's from the first moment, although those blocks
    are produced one at a time as they are acquired.

    A ready block carries its grid position (and its level, where the
    resolver knew it) from the resolver, which found it by position and
    appends it to the task's queue itself (ready_queue.h), to acquire,
    which fills the block from it: the index is turned back into a
    position only for blocks that come back from outside (a release, a
    retry, a block given back), and not even then when the block was
    handed out lately: acquire leaves the position and level in a small
    direct-mapped table by index, where its release usually finds it (a
    position depends on the index alone, so an entry never goes stale; it
    is only overwritten).

    The same table is the front of the map of blocks being processed: a
    block whose slot is free is held there with its attempt, and only a
    block whose slot another held block occupies goes to the hash map.
    A runner that holds a few blocks at a time (the serial runner, a
    broker with few workers) then never hashes, and one with many still
    finds a share of its blocks in the table; a block is in one of the
    two places, never both.

    Acquire and release have a usual case each, which the benchmark and
    most runs take for almost every block: acquire of a first attempt at
    a queued block of known level whose slot is free, release of a
    success of a block held in its slot, in tasks without done markers,
    completion checks or block states. Each is a short function that
    calls only the graph (acquire holds the block before filling it, so
    nothing is left after the fill) or the resolver; every other case
    goes out of line to acquire_any or release_any, which handle all
    blocks. A call in the middle of a function makes it save registers
    for whatever lives across it, and that prologue and epilogue was a
    sixth of the scheduler's instructions per block.

    While a task's block states are tracked the resolver hands its ready
    blocks to on_resolved instead, which queues them and records their
    state; tasks too large for a map of states keep the inline append.

    Block states (daisy_scheduler_track_states, for the progress feed's map
    of a task's grid) are off unless asked for: one byte per block, written
    where the counters change, and an observer told of each change. The
    scheduler is the only place that sees every change (a block becomes
    ready when its last upstream block completes, orphaned when one fails),
    so the map is kept here rather than guessed at from outside.
*/
#include "daisy/scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "blockmap.h"
#include "graph_internal.h"
#include "ready_queue.h"
#include "resolver_internal.h"

typedef struct {
    daisy_task_counts_t counts;   //  ready and pending are derived on read
    daisy_check_fn *check;
    void *check_arg;
    uint32_t max_retries;
    bool abandoned;
    daisy_markers_t *markers;
    uint8_t *states;              //  per block, a daisy_block_state_t; NULL: not tracked
    uint64_t unrecorded;          //  completed, but the marker could not be written
} sched_task_t;

//  Blocks handed out lately, at index % POSITION_CACHE (see the opening
//  comment): 5 KiB, enough for a release to find the block while a few
//  dozen blocks are out at once.
#define POSITION_CACHE 64

typedef struct {
    uint64_t index;
    uint32_t task;               //  UINT32_MAX: empty
    uint32_t level;
    bool held;                   //  being processed, with this attempt
    uint32_t attempt;
    int64_t k[D];
} position_t;

struct _daisy_scheduler_t {
    const daisy_graph_t *graph;
    daisy_resolver_t *resolver;
    blockmap_t *processing;       //  block -> attempt, for blocks not held in `positions`
    sched_task_t *tasks;
    ready_queue_t *ready;         //  per task
    bool any_abandoned;
    bool oom;
    daisy_block_state_fn *observer;
    void *observer_arg;
    position_t positions[POSITION_CACHE];
};

//  The table entry of a block handed out lately, or NULL.
static const position_t *
known_position(const daisy_scheduler_t *self, daisy_block_ref_t ref)
{
    const position_t *p = &self->positions[ref.index % POSITION_CACHE];
    return p->task == ref.task && p->index == ref.index ? p : NULL;
}

//  The table slot of a block about to be handed out, its index, task and
//  position copied in, when no other block is held there (a slot not
//  held is only a cache: a position depends on the index alone); else
//  NULL. Acquire fills the block from the slot, and release finds it
//  there.
static position_t *
stage(daisy_scheduler_t *self, uint32_t task, const ready_block_t *e)
{
    position_t *p = &self->positions[e->index % POSITION_CACHE];
    if (p->held)
        return NULL;
    p->index = e->index;
    p->task = task;
    memcpy(p->k, e->k, sizeof p->k);   //  queued positions are zero past dims: a fixed copy
    return p;
}

//  Hold block `index` (of `level`, at this attempt) being processed: in
//  its staged table slot p, or when there is none, in the hash map. -1
//  when memory runs out.
static inline int
hold(daisy_scheduler_t *self, position_t *p, uint32_t task, uint64_t index, uint32_t level,
     uint32_t attempt)
{
    if (!p) {
        bool created;
        uint32_t *value = blockmap_put(self->processing, task, index, &created);
        if (!value)
            return -1;
        *value = attempt;
        return 0;
    }
    p->level = level;
    p->held = true;
    p->attempt = attempt;
    return 0;
}

//  The table slot of a block held there, or NULL.
static inline position_t *
held_slot(daisy_scheduler_t *self, daisy_block_ref_t ref)
{
    position_t *p = &self->positions[ref.index % POSITION_CACHE];
    return p->held && p->task == ref.task && p->index == ref.index ? p : NULL;
}

//  Take a block out of processing; its attempt, or -1 when not held.
//  *at: its table slot when it was held there (its position and level
//  at hand), else NULL.
static int64_t
unhold(daisy_scheduler_t *self, daisy_block_ref_t ref, const position_t **at)
{
    position_t *p = held_slot(self, ref);
    *at = NULL;
    if (p) {
        p->held = false;
        *at = p;
        return p->attempt;
    }
    uint32_t *attempt = blockmap_get(self->processing, ref.task, ref.index);
    if (!attempt)
        return -1;
    int64_t value = *attempt;
    blockmap_del_value(self->processing, attempt);
    return value;
}

//  A completed block's done marker, when the task keeps them; counted when
//  it could not be written.
static inline void
record(sched_task_t *st, uint64_t index)
{
    if (st->markers && daisy_markers_set(st->markers, index) != 0)
        st->unrecorded++;
}

//  A block's state changed: the map and the observer, when tracked.
static inline void
set_state(daisy_scheduler_t *self, uint32_t task, uint64_t index, daisy_block_state_t state)
{
    uint8_t *states = self->tasks[task].states;
    if (!states)
        return;
    states[index] = (uint8_t)state;
    if (self->observer)
        self->observer(self->observer_arg, task, index, state);
}

static resolver_fn on_resolved;

daisy_scheduler_t *
daisy_scheduler_new(const daisy_graph_t *graph, daisy_error_t *err)
{
    return daisy_scheduler_new_resumed(graph, NULL, err);
}

daisy_scheduler_t *
daisy_scheduler_new_resumed(const daisy_graph_t *graph, daisy_markers_t *const *markers,
                            daisy_error_t *err)
{
    daisy_scheduler_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->graph = graph;
    for (int i = 0; i < POSITION_CACHE; i++)
        self->positions[i].task = UINT32_MAX;
    bool complete[graph->ntasks ? graph->ntasks : 1];
    for (uint32_t t = 0; t < graph->ntasks; t++)
        complete[t] = markers && markers[t]
                   && daisy_markers_count(markers[t]) == graph->tasks[t].total;
    self->resolver = daisy_resolver_new_resumed(graph, complete, err);
    self->processing = blockmap_new();
    self->tasks = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->tasks);
    self->ready = calloc(graph->ntasks ? graph->ntasks : 1, sizeof *self->ready);
    if (!self->resolver || !self->processing || !self->tasks || !self->ready) {
        if (self->resolver)
            daisy_error_set(err, "out of memory");
        daisy_scheduler_destroy(&self);
        return NULL;
    }
    resolver_set_output(self->resolver, on_resolved, self);
    for (uint32_t t = 0; t < graph->ntasks; t++)
        resolver_set_queue(self->resolver, t, &self->ready[t]);
    for (uint32_t t = 0; t < graph->ntasks; t++) {
        daisy_task_t *task = daisy_pipeline_task(graph->pipeline, t);
        sched_task_t *st = &self->tasks[t];
        st->counts.total = graph->tasks[t].total;
        st->max_retries = (uint32_t)daisy_task_max_retries(task);
        st->markers = markers ? markers[t] : NULL;
        if (complete[t])
            st->counts.completed = st->counts.skipped = st->counts.total;
        st->check = daisy_task_check(task, &st->check_arg);
    }
    return self;
}

void
daisy_scheduler_destroy(daisy_scheduler_t **self_p)
{
    daisy_scheduler_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    for (uint32_t t = 0; self->tasks && t < self->graph->ntasks; t++)
        free(self->tasks[t].states);
    for (uint32_t t = 0; self->ready && t < self->graph->ntasks; t++)
        ready_queue_free(&self->ready[t]);
    free(self->tasks);
    free(self->ready);
    blockmap_destroy(&self->processing);
    daisy_resolver_destroy(&self->resolver);
    free(self);
    *self_p = NULL;
}

const daisy_graph_t *
daisy_scheduler_graph(const daisy_scheduler_t *self)
{
    return self->graph;
}

void
daisy_scheduler_set_check(daisy_scheduler_t *self, uint32_t task,
                          daisy_check_fn *fn, void *arg)
{
    if (task >= self->graph->ntasks)
        return;
    self->tasks[task].check = fn;
    self->tasks[task].check_arg = arg;
}

//  Ready queues -----------------------------------------------------------

//  At the tail, a block that comes back from outside (a retry, a block
//  given back): its position worked out again, its level when filled.
static int
queue_push(const daisy_scheduler_t *self, uint32_t task, uint64_t index, uint32_t attempt)
{
    ready_block_t *e = ready_queue_push(&self->ready[task]);
    if (!e)
        return -1;
    e->index = index;
    e->attempt = attempt;
    e->level = READY_LEVEL_UNKNOWN;
    memset(e->k, 0, sizeof e->k);   //  zero past dims, as every queued position
    graph_unflatten(&self->graph->tasks[task], index, e->k);
    return 0;
}

//  At the head: a block given back goes out again first.
static int
queue_push_front(const daisy_scheduler_t *self, uint32_t task, uint64_t index,
                 uint32_t attempt)
{
    ready_queue_t *r = &self->ready[task];
    if (queue_push(self, task, index, attempt) != 0)
        return -1;
    //  Move the pushed entry from the tail to the head.
    ready_block_t item = *ready_queue_at(r, r->len - 1);
    r->head = (r->head + r->mask) & r->mask;
    *ready_queue_at(r, 0) = item;
    return 0;
}

//  Resolution -------------------------------------------------------------

//  A block orphaned, or made ready in a task whose block states are
//  tracked (the resolver queues the others' ready blocks itself).
static void
on_resolved(void *arg, uint32_t task, uint64_t index, const int64_t *k, uint32_t level,
            bool ready)
{
    daisy_scheduler_t *self = arg;
    if (!ready)
        self->tasks[task].counts.orphaned++;
    else if (ready_queue_push_at(&self->ready[task], index, level, k) != 0)
        self->oom = true;
    set_state(self, task, index, ready ? DAISY_BLOCK_READY : DAISY_BLOCK_ORPHANED);
}


static const ready_block_t *next_ready(daisy_scheduler_t *self, uint32_t task,
                                       ready_block_t *root);
static void drain_abandoned(daisy_scheduler_t *self);

//  Resolve a block; `k` is its position, or NULL when not at hand, and
//  `level` its level, or UINT64_MAX.
static int
resolve(daisy_scheduler_t *self, daisy_block_ref_t ref, const int64_t *k, uint64_t level,
        bool ok)
{
    int rc = k && level != UINT64_MAX && ok
           ? resolver_resolve_done(self->resolver, ref.task, ref.index, k, level)
           : resolver_resolve(self->resolver, ref.task, ref.index, k, level, ok);
    if (rc != 0)
        self->oom = true;
    if (self->any_abandoned)
        drain_abandoned(self);
    return self->oom ? -1 : 0;
}

//  Orphan every ready block of abandoned tasks; orphaning may make more
//  blocks ready (downstream of them, in other abandoned tasks too), so
//  repeat until none is left.
static void
drain_abandoned(daisy_scheduler_t *self)
{
    bool again = true;
    while (again && !self->oom) {
        again = false;
        for (uint32_t t = 0; t < self->graph->ntasks; t++) {
            ready_block_t next;
            const ready_block_t *e;
            while (self->tasks[t].abandoned && (e = next_ready(self, t, &next)) != NULL) {
                next = *e;   //  resolving may push to its queue
                self->tasks[t].counts.orphaned++;
                set_state(self, t, next.index, DAISY_BLOCK_ORPHANED);
                if (resolver_resolve(self->resolver, t, next.index, next.k, UINT64_MAX, false) != 0)
                    self->oom = true;
                again = true;
            }
        }
    }
}

typedef struct {
    uint32_t task;
    daisy_block_ref_t *refs;
    size_t count;
} held_t;

static void
collect_held(void *arg, uint32_t task, uint64_t index, uint32_t value)
{
    held_t *h = arg;
    (void)value;
    if (task == h->task)
        h->refs[h->count++] = (daisy_block_ref_t){task, index};
}

uint64_t
daisy_scheduler_abandon(daisy_scheduler_t *self, uint32_t task)
{
    if (task >= self->graph->ntasks || self->tasks[task].abandoned)
        return 0;
    sched_task_t *st = &self->tasks[task];
    uint64_t before = st->counts.orphaned;
    st->abandoned = true;
    self->any_abandoned = true;
    //  Blocks being processed: taken back and orphaned.
    held_t held = {task, calloc(st->counts.processing + 1, sizeof(daisy_block_ref_t)), 0};
    if (!held.refs) {
        self->oom = true;
        return 0;
    }
    blockmap_each(self->processing, collect_held, &held);
    for (int i = 0; i < POSITION_CACHE; i++)
        if (self->positions[i].held && self->positions[i].task == task)
            held.refs[held.count++] = (daisy_block_ref_t){task, self->positions[i].index};
    for (size_t i = 0; i < held.count; i++) {
        const position_t *at;
        unhold(self, held.refs[i], &at);
        st->counts.processing--;
        st->counts.orphaned++;
        set_state(self, task, held.refs[i].index, DAISY_BLOCK_ORPHANED);
        if (resolver_resolve(self->resolver, task, held.refs[i].index, NULL, UINT64_MAX,
                             false) != 0)
            self->oom = true;
    }
    free(held.refs);
    drain_abandoned(self);
    return st->counts.orphaned - before;
}

bool
daisy_scheduler_abandoned(const daisy_scheduler_t *self, uint32_t task)
{
    return task < self->graph->ntasks && self->tasks[task].abandoned;
}

//  Acquire and release ----------------------------------------------------

//  The task's next root into *root; false when none is left.
static inline bool
next_root(daisy_scheduler_t *self, uint32_t task, ready_block_t *root)
{
    if (!resolver_next_root(self->resolver, task, &root->index, root->k))
        return false;
    root->attempt = 0;
    root->level = 0;   //  roots are of level 0
    return true;
}

//  The next ready block of the task and its position, retries and
//  released blocks first: its queue entry (valid until the queue is
//  pushed to), or a root in *root; NULL when there is none.
static const ready_block_t *
next_ready(daisy_scheduler_t *self, uint32_t task, ready_block_t *root)
{
    const ready_block_t *e = ready_queue_pop(&self->ready[task]);
    if (e)
        return e;
    return next_root(self, task, root) ? root : NULL;
}

//  daisy_scheduler_acquire for any block.
static __attribute__((noinline)) int
acquire_any(daisy_scheduler_t *self, uint32_t task, daisy_block_t *block)
{
    sched_task_t *st = &self->tasks[task];
    ready_block_t spare;
    const ready_block_t *next;
    while ((next = next_ready(self, task, &spare)) != NULL) {
        //  The position from the table slot, or from a copy of the entry
        //  (resolving a skipped block may push to its queue).
        position_t *p = stage(self, task, next);
        if (!p && next != &spare)
            spare = *next;
        uint64_t index = next->index;
        const int64_t *k = p ? p->k : spare.k;
        graph_fill_block(self->graph, task, k, index, next->level, block);
        block->attempt = next->attempt;
        bool marked = st->markers && daisy_markers_done(st->markers, index);
        if (marked || (st->check && st->check(block, st->check_arg))) {
            record(st, index);
            st->counts.completed++;
            st->counts.skipped++;
            set_state(self, task, index, DAISY_BLOCK_SKIPPED);
            if (resolve(self, (daisy_block_ref_t){task, index}, k, block->level, true) != 0)
                return -1;
            continue;
        }
        if (hold(self, p, task, index, block->level, block->attempt) != 0)
            return -1;
        st->counts.processing++;
        set_state(self, task, index, DAISY_BLOCK_PROCESSING);
        return 1;
    }
    return 0;
}

//  Hand out the first attempt at block e, staged in slot p (NULL: none
//  was free): held before it is filled, so that nothing is left to do
//  after the fill. 1, or -1 when memory runs out.
static inline __attribute__((always_inline)) int
hand_out(daisy_scheduler_t *self, uint32_t task, position_t *p, const ready_block_t *e,
         daisy_block_t *block)
{
    if (hold(self, p, task, e->index, e->level, 0) != 0)
        return -1;
    self->tasks[task].counts.processing++;
    graph_fill_block(self->graph, task, e->k, e->index, e->level, block);
    return 1;
}

//  The usual acquire of a root (its task's queue is empty); 0 when there
//  is none left.
static __attribute__((noinline)) int
acquire_root(daisy_scheduler_t *self, uint32_t task, daisy_block_t *block)
{
    ready_block_t root;
    if (!next_root(self, task, &root))
        return 0;
    return hand_out(self, task, stage(self, task, &root), &root, block);
}

//  The usual acquire, in a task that keeps no done markers, completion
//  check or block states: a first attempt at a block off the task's queue
//  of a known level whose table slot is free, or at a root when the queue
//  is empty (acquire_root), held before it is filled (hand_out) in a
//  small frame; any other in acquire_any.
int
daisy_scheduler_acquire(daisy_scheduler_t *self, uint32_t task, daisy_block_t *block)
{
    if (task >= self->graph->ntasks || self->oom)
        return -1;
    sched_task_t *st = &self->tasks[task];
    ready_queue_t *queue = &self->ready[task];
    if (st->markers || st->check || st->states)
        return acquire_any(self, task, block);
    if (queue->len == 0)
        return acquire_root(self, task, block);
    //  Popped and staged first, and put back when it is not the usual
    //  block (a slot not held is only a cache): fewer values held at once.
    const ready_block_t *e = ready_queue_pop(queue);
    position_t *p = stage(self, task, e);
    if (!p || e->attempt != 0 || e->level == READY_LEVEL_UNKNOWN) {
        ready_queue_unpop(queue);
        return acquire_any(self, task, block);
    }
    return hand_out(self, task, p, e, block);
}

//  Take the block out of processing; its attempt, or -1 when not there.
//  *at as unhold says.
static inline __attribute__((always_inline)) int64_t
end_attempt(daisy_scheduler_t *self, daisy_block_ref_t ref, const position_t **at,
            daisy_error_t *err)
{
    *at = NULL;
    int64_t attempt = ref.task < self->graph->ntasks ? unhold(self, ref, at) : -1;
    if (attempt < 0) {
        daisy_error_set(err, "block %llu of task %u is not being processed",
                        (unsigned long long)ref.index, ref.task);
        return -1;
    }
    self->tasks[ref.task].counts.processing--;
    return attempt;
}

//  Resolve a block that came back, with its position and level when it
//  was held in the table (at).
static inline __attribute__((always_inline)) int
resolve_known(daisy_scheduler_t *self, daisy_block_ref_t ref, const position_t *at, bool ok)
{
    return at ? resolve(self, ref, at->k, at->level, ok) : resolve(self, ref, NULL, UINT64_MAX, ok);
}

//  daisy_scheduler_release for any block.
static __attribute__((noinline)) int
release_any(daisy_scheduler_t *self, daisy_block_ref_t ref, bool success, daisy_error_t *err)
{
    const position_t *at;
    int64_t attempt = end_attempt(self, ref, &at, err);
    if (attempt < 0)
        return -1;
    sched_task_t *st = &self->tasks[ref.task];
    if (success) {
        st->counts.completed++;
        set_state(self, ref.task, ref.index, DAISY_BLOCK_COMPLETED);
        record(st, ref.index);
        return resolve_known(self, ref, at, true) == 0
             ? DAISY_RELEASE_SUCCESS : daisy_error_set(err, "out of memory");
    }
    if ((uint32_t)attempt < st->max_retries) {
        st->counts.retries++;
        if (queue_push(self, ref.task, ref.index, (uint32_t)attempt + 1) != 0)
            return daisy_error_set(err, "out of memory");
        set_state(self, ref.task, ref.index, DAISY_BLOCK_READY);
        return DAISY_RELEASE_RETRY;
    }
    st->counts.failed++;
    set_state(self, ref.task, ref.index, DAISY_BLOCK_FAILED);
    return resolve_known(self, ref, at, false) == 0
         ? DAISY_RELEASE_FAILED : daisy_error_set(err, "out of memory");
}

//  The usual release, a success of a block held in the table by a task
//  that keeps no block states or markers, in a small frame (only the
//  resolver is called on the way); any other in release_any.
int
daisy_scheduler_release(daisy_scheduler_t *self, daisy_block_ref_t ref, bool success,
                        daisy_error_t *err)
{
    position_t *p = success && ref.task < self->graph->ntasks ? held_slot(self, ref) : NULL;
    if (!p || self->tasks[ref.task].states || self->tasks[ref.task].markers)
        return release_any(self, ref, success, err);
    sched_task_t *st = &self->tasks[ref.task];
    p->held = false;
    st->counts.processing--;
    st->counts.completed++;
    return resolve(self, ref, p->k, p->level, true) == 0
         ? DAISY_RELEASE_SUCCESS : daisy_error_set(err, "out of memory");
}

int
daisy_scheduler_give_back(daisy_scheduler_t *self, daisy_block_ref_t ref, daisy_error_t *err)
{
    const position_t *at;
    int64_t attempt = end_attempt(self, ref, &at, err);
    if (attempt < 0)
        return -1;
    if (queue_push_front(self, ref.task, ref.index, (uint32_t)attempt) != 0)
        return daisy_error_set(err, "out of memory");
    set_state(self, ref.task, ref.index, DAISY_BLOCK_READY);
    return 0;
}

int
daisy_scheduler_release_skipped(daisy_scheduler_t *self, daisy_block_ref_t ref,
                                daisy_error_t *err)
{
    const position_t *at;
    if (end_attempt(self, ref, &at, err) < 0)
        return -1;
    sched_task_t *st = &self->tasks[ref.task];
    st->counts.completed++;
    st->counts.skipped++;
    set_state(self, ref.task, ref.index, DAISY_BLOCK_SKIPPED);
    record(st, ref.index);
    return resolve_known(self, ref, at, true) == 0
         ? DAISY_RELEASE_SUCCESS : daisy_error_set(err, "out of memory");
}

uint64_t
daisy_scheduler_unrecorded(const daisy_scheduler_t *self, uint32_t task)
{
    return task < self->graph->ntasks ? self->tasks[task].unrecorded : 0;
}

int
daisy_scheduler_attempt(const daisy_scheduler_t *self, daisy_block_ref_t ref)
{
    if (ref.task >= self->graph->ntasks)
        return -1;
    const position_t *p = known_position(self, ref);
    if (p && p->held)
        return (int)p->attempt;
    uint32_t *attempt = blockmap_get(self->processing, ref.task, ref.index);
    return attempt ? (int)*attempt : -1;
}

//  Counters ---------------------------------------------------------------

void
daisy_scheduler_counts(const daisy_scheduler_t *self, uint32_t task,
                       daisy_task_counts_t *counts)
{
    if (task >= self->graph->ntasks) {
        *counts = (daisy_task_counts_t){0};
        return;
    }
    const sched_task_t *st = &self->tasks[task];
    *counts = st->counts;
    counts->ready = self->ready[task].len + daisy_resolver_roots_left(self->resolver, task);
    counts->pending = counts->total - counts->ready - counts->processing
                    - counts->completed - counts->failed - counts->orphaned;
}

bool
daisy_scheduler_task_done(const daisy_scheduler_t *self, uint32_t task)
{
    const daisy_task_counts_t *c = &self->tasks[task].counts;
    return c->completed + c->failed + c->orphaned == c->total;
}

bool
daisy_scheduler_done(const daisy_scheduler_t *self)
{
    for (uint32_t t = 0; t < self->graph->ntasks; t++)
        if (!daisy_scheduler_task_done(self, t))
            return false;
    return true;
}

//  Block states -----------------------------------------------------------

//  A task's first states: skipped when it was complete before the run
//  (done markers), otherwise ready for blocks that wait for nothing (as
//  the resolver counts, complete upstream tasks left out) and pending for
//  the others.
static void
initial_states(const daisy_scheduler_t *self, uint32_t task, const bool *complete)
{
    const graph_task_t *t = &self->graph->tasks[task];
    uint8_t *states = self->tasks[task].states;
    int64_t k[D];
    for (uint64_t i = 0; i < t->total; i++) {
        if (complete[task]) {
            states[i] = DAISY_BLOCK_SKIPPED;
            continue;
        }
        graph_unflatten(t, i, k);
        states[i] = graph_upstream_count(self->graph, task, k, complete) == 0
                  ? DAISY_BLOCK_READY : DAISY_BLOCK_PENDING;
    }
}

int
daisy_scheduler_track_states(daisy_scheduler_t *self, uint64_t max_blocks,
                             daisy_block_state_fn *fn, void *arg)
{
    uint32_t n = self->graph->ntasks;
    bool complete[n ? n : 1];
    for (uint32_t t = 0; t < n; t++) {
        const daisy_task_counts_t *c = &self->tasks[t].counts;
        complete[t] = c->total > 0 && c->skipped == c->total;
    }
    for (uint32_t t = 0; t < n; t++) {
        if (self->tasks[t].states || self->graph->tasks[t].total > max_blocks)
            continue;
        self->tasks[t].states = malloc(self->graph->tasks[t].total ? self->graph->tasks[t].total : 1);
        if (!self->tasks[t].states)
            return -1;
        initial_states(self, t, complete);
        //  Its ready blocks through on_resolved from now on, which records them.
        resolver_set_queue(self->resolver, t, NULL);
    }
    self->observer = fn;
    self->observer_arg = arg;
    return 0;
}

const uint8_t *
daisy_scheduler_block_states(const daisy_scheduler_t *self, uint32_t task)
{
    return task < self->graph->ntasks ? self->tasks[task].states : NULL;
}
