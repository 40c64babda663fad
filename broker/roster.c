/*  roster.c - who is connected, and which blocks each one holds

    Workers are found by their ZeroMQ routing id, its bytes the hash key
    (hashed with FNV-1a and compared with memcmp: at 10^4 workers the hex
    strings this replaced cost a fifth of the broker loop's time). A worker's leases form a short
    list (at most its prefetch window), so a result is matched by scanning
    it: cheaper than inverting a Cantor id on every release. Leases are
    recycled through a free list because one is made per block handed out.
*/
#include "broker_internal.h"

void
dlist_init(dnode_t *head)
{
    head->prev = head->next = head;
}

bool
dlist_empty(const dnode_t *head)
{
    return head->next == head;
}

void
dlist_push_tail(dnode_t *head, dnode_t *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

void
dlist_remove(dnode_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

size_t
roster_key_hash(const void *key)
{
    const idkey_t *k = key;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < k->size; i++)
        h = (h ^ k->bytes[i]) * 0x100000001b3ull;
    return (size_t)h;
}

int
roster_key_compare(const void *a, const void *b)
{
    const idkey_t *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return memcmp(x->bytes, y->bytes, x->size);
}

worker_t *
roster_find(daisy_broker_t *self, const uint8_t *identity, size_t size)
{
    idkey_t key = {identity, size};
    return zhashx_lookup(self->workers, &key);
}

worker_t *
roster_add(daisy_broker_t *self, const uint8_t *identity, size_t size)
{
    if (size > 255)
        return NULL;
    worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    memcpy(w->identity, identity, size);
    w->identity_size = size;
    w->key = (idkey_t){w->identity, size};
    dlist_init(&w->by_heard);
    dlist_init(&w->by_sent);
    dlist_init(&w->parked);
    dlist_push_tail(&self->by_heard, &w->by_heard);
    dlist_push_tail(&self->by_sent, &w->by_sent);
    zhashx_insert(self->workers, &w->key, w);
    return w;
}

void
roster_free_lease(daisy_broker_t *self, lease_t *l)
{
    self->held--;
    dlist_remove(&l->by_start);
    l->next_in_worker = self->free_leases;
    self->free_leases = l;
}

//  The caller has already given the worker's leases back to the scheduler.
void
roster_remove(daisy_broker_t *self, worker_t *w)
{
    while (w->leases) {
        lease_t *l = w->leases;
        w->leases = l->next_in_worker;
        roster_free_lease(self, l);
    }
    roster_unpark(self, w);
    roster_late_clear(self, w);
    pace_told(self, w);         //  no longer waits for a new interval
    dlist_remove(&w->by_heard);
    dlist_remove(&w->by_sent);
    if (w->worker_id && w->task < self->ntasks)
        self->tasks[w->task].nworkers--;
    if (w->worker_id && zhashx_lookup(self->by_id, w->worker_id) == w)
        zhashx_delete(self->by_id, w->worker_id);
    zhashx_delete(self->workers, &w->key);
    free(w->worker_id);
    free(w->host);
    free(w);
}

int
roster_name(daisy_broker_t *self, worker_t *w, const char *worker_id)
{
    w->worker_id = strdup(worker_id);
    if (!w->worker_id)
        return -1;
    //  Two workers started by hand under one id: the first keeps the name.
    zhashx_insert(self->by_id, w->worker_id, w);
    return 0;
}

worker_t *
roster_by_id(const daisy_broker_t *self, const char *worker_id)
{
    return zhashx_lookup(self->by_id, worker_id);
}

void
roster_heard(daisy_broker_t *self, worker_t *w, int64_t now)
{
    w->last_heard = now;
    dlist_remove(&w->by_heard);
    dlist_push_tail(&self->by_heard, &w->by_heard);
}

void
roster_pause(daisy_broker_t *self, int64_t gap, int64_t rejoin)
{
    for (dnode_t *n = self->by_heard.next; n != &self->by_heard; n = n->next) {
        worker_t *w = dlist_entry(n, worker_t, by_heard);
        w->last_heard += gap + rejoin;
        for (lease_t *l = w->leases; l; l = l->next_in_worker)
            l->started += gap;
    }
    for (dnode_t *n = self->late.next; n != &self->late; n = n->next)
        dlist_entry(n, worker_t, by_late)->late_until += gap;
}

//  The worker's running block timed out here; it has until `until` to
//  say so. The grace changes only with the heartbeat interval, so the list
//  is in order, near enough: a worker behind one due later waits for it.
void
roster_late(daisy_broker_t *self, worker_t *w, uint64_t index, uint64_t block_id,
            uint32_t attempt, int64_t until)
{
    roster_late_clear(self, w);
    w->is_late = true;
    w->late_index = index;
    w->late_block = block_id;
    w->late_attempt = attempt;
    w->late_until = until;
    dlist_push_tail(&self->late, &w->by_late);
}

void
roster_late_clear(daisy_broker_t *self, worker_t *w)
{
    (void)self;
    if (!w->is_late)
        return;
    dlist_remove(&w->by_late);
    w->is_late = false;
}

void
roster_sent(daisy_broker_t *self, worker_t *w, int64_t now)
{
    w->last_sent = now;
    dlist_remove(&w->by_sent);
    dlist_push_tail(&self->by_sent, &w->by_sent);
}

void
roster_park(daisy_broker_t *self, worker_t *w)
{
    if (w->is_parked)
        return;
    dlist_push_tail(&self->tasks[w->task].parked, &w->parked);
    w->is_parked = true;
}

void
roster_unpark(daisy_broker_t *self, worker_t *w)
{
    (void)self;
    if (!w->is_parked)
        return;
    dlist_remove(&w->parked);
    w->is_parked = false;
}

lease_t *
roster_lease(daisy_broker_t *self, worker_t *w, const daisy_block_t *b, int64_t now)
{
    lease_t *l = self->free_leases;
    if (l)
        self->free_leases = l->next_in_worker;
    else if (!(l = malloc(sizeof *l)))
        return NULL;
    self->held++;
    l->worker = w;
    l->index = b->index;
    l->block_id = b->block_id;
    l->attempt = b->attempt;
    l->started = now;
    l->next_in_worker = w->leases;
    w->leases = l;
    w->nleases++;
    dlist_init(&l->by_start);   //  joins the task's timeout list when started
    return l;
}

lease_t *
roster_take_lease(daisy_broker_t *self, worker_t *w, uint64_t block_id, uint32_t attempt)
{
    (void)self;
    for (lease_t **p = &w->leases; *p; p = &(*p)->next_in_worker) {
        lease_t *l = *p;
        if (l->block_id == block_id && l->attempt == attempt) {
            *p = l->next_in_worker;
            w->nleases--;
            if (w->running == l)
                w->running = NULL;
            return l;
        }
    }
    return NULL;
}

void
roster_destroy_all(daisy_broker_t *self)
{
    while (!dlist_empty(&self->by_heard))
        roster_remove(self, dlist_entry(self->by_heard.next, worker_t, by_heard));
    while (self->free_leases) {
        lease_t *l = self->free_leases;
        self->free_leases = l->next_in_worker;
        free(l);
    }
}
