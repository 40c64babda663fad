/*  ready_queue.h - a task's blocks ready to be handed out, in order

    A ring whose capacity is a power of two, of one cache line per block:
    its index, attempt, level and grid position. The position is zero past
    the task's dims in every entry, and the resolver's usual path writes
    only the task's dims, so a ring is zeroed when it is made. The resolver appends the
    blocks it makes ready straight onto their task's queue (one inline
    store of a position it has in hand, where a callback per block cost
    a call, a second call and a copy), and the scheduler pops them to fill
    blocks without working the position or the level out again.

    Pushes are inline because they sit in the resolver's hottest loop;
    growing is not.
*/
#ifndef DAISY_READY_QUEUE_H
#define DAISY_READY_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "daisy/geometry.h"

//  A level not known where the block was queued: worked out when it is filled.
#define READY_LEVEL_UNKNOWN UINT32_MAX

//  A ready block; its position is zero past the task's dims. One cache line.
typedef struct {
    uint64_t index;
    uint32_t attempt;
    uint32_t level;              //  or READY_LEVEL_UNKNOWN
    int64_t k[DAISY_MAX_DIMS];
} ready_block_t;

typedef struct {
    ready_block_t *items;
    size_t head, len, mask;      //  mask = capacity - 1
} ready_queue_t;

//  Double the capacity (256 at first); -1 when memory runs out.
int ready_queue_grow(ready_queue_t *self);
void ready_queue_free(ready_queue_t *self);

//  The entry i places from the head.
static inline ready_block_t *
ready_queue_at(const ready_queue_t *self, size_t i)
{
    return &self->items[(self->head + i) & self->mask];
}

//  A new entry at the tail, for the caller to fill; NULL when memory runs out.
static inline ready_block_t *
ready_queue_push(ready_queue_t *self)
{
    if ((!self->items || self->len == self->mask + 1) && ready_queue_grow(self) != 0)
        return NULL;
    return ready_queue_at(self, self->len++);
}

//  Fill the entry e: a block made ready at position k - off of `dims`
//  dimensions, the task's (with a constant, the copy unrolls). Past them
//  the entry's position stays zero: rings are zeroed when made, and
//  every entry is written with a position zero past its task's dims.
static inline __attribute__((always_inline)) void
ready_queue_fill(ready_block_t *e, uint64_t index, uint32_t level, const int64_t *k,
                 const int64_t *off, int dims)
{
    e->index = index;
    e->attempt = 0;
    e->level = level;
    for (int d = 0; d < dims; d++)
        e->k[d] = k[d] - off[d];
}

//  At the tail: a block made ready at position k (whole, zero past dims).
static inline int
ready_queue_push_at(ready_queue_t *self, uint64_t index, uint32_t level, const int64_t *k)
{
    static const int64_t none[DAISY_MAX_DIMS];
    ready_block_t *e = ready_queue_push(self);
    if (!e)
        return -1;
    ready_queue_fill(e, index, level, k, none, DAISY_MAX_DIMS);
    return 0;
}

//  Take the head off: the entry, valid until the queue is pushed to (no
//  copy for a caller that reads it at once); NULL when the queue is empty.
static inline const ready_block_t *
ready_queue_pop(ready_queue_t *self)
{
    if (self->len == 0)
        return NULL;
    const ready_block_t *e = ready_queue_at(self, 0);
    self->head = (self->head + 1) & self->mask;
    self->len--;
    return e;
}

//  Put back the entry just popped, unchanged, at the head.
static inline void
ready_queue_unpop(ready_queue_t *self)
{
    self->head = (self->head + self->mask) & self->mask;
    self->len++;
}

#endif
