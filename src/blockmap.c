/*  blockmap.c - open-addressing hash maps of blocks

    See blockmap.h for why. Capacities are powers of two kept between 1/8
    and 1/2 full, so a probe sequence stays short and memory follows the
    frontier down again after a burst. Deletion shifts later entries of the
    same probe run back instead of leaving tombstones.

    The hash is one multiplication (Fibonacci hashing: the key times 2^64
    divided by the golden ratio, its top bits the slot). It spreads the
    regular strides of grid indices well, and it is cheap enough to
    recompute for every entry a deletion shifts back.
*/
#include "blockmap.h"

#include <stdlib.h>
#include <string.h>

#define MIN_LOG2 6

//  The value map -----------------------------------------------------------

#define EMPTY UINT32_MAX

typedef struct {
    uint64_t index;
    uint32_t task;     //  EMPTY marks a free slot
    uint32_t value;
} slot_t;

struct _blockmap_t {
    slot_t *slots;
    unsigned log2;
    size_t size;
};

//  Tasks apart by a large odd multiple, so that the same index of two
//  tasks lands in unrelated slots.
static uint64_t
block_key(uint32_t task, uint64_t index)
{
    return index + (uint64_t)task * 0xbf58476d1ce4e5b9ull;
}

static slot_t *
slots_new(size_t n)
{
    slot_t *slots = malloc(n * sizeof *slots);
    for (size_t i = 0; slots && i < n; i++)
        slots[i].task = EMPTY;
    return slots;
}

blockmap_t *
blockmap_new(void)
{
    blockmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->log2 = MIN_LOG2;
    self->slots = slots_new((size_t)1 << MIN_LOG2);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void
blockmap_destroy(blockmap_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static size_t
find_slot(const blockmap_t *self, uint32_t task, uint64_t index)
{
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t i = blockmap_home(block_key(task, index), self->log2);
    while (self->slots[i].task != EMPTY
           && (self->slots[i].task != task || self->slots[i].index != index))
        i = (i + 1) & mask;
    return i;
}

static int
resize(blockmap_t *self, unsigned log2)
{
    slot_t *old = self->slots;
    size_t old_capacity = (size_t)1 << self->log2;
    slot_t *slots = slots_new((size_t)1 << log2);
    if (!slots)
        return -1;
    self->slots = slots;
    self->log2 = log2;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].task != EMPTY)
            self->slots[find_slot(self, old[i].task, old[i].index)] = old[i];
    free(old);
    return 0;
}

uint32_t *
blockmap_get(blockmap_t *self, uint32_t task, uint64_t index)
{
    size_t i = find_slot(self, task, index);
    return self->slots[i].task == EMPTY ? NULL : &self->slots[i].value;
}

uint32_t *
blockmap_put(blockmap_t *self, uint32_t task, uint64_t index, bool *created)
{
    size_t i = find_slot(self, task, index);
    *created = self->slots[i].task == EMPTY;
    if (!*created)
        return &self->slots[i].value;
    if ((self->size + 1) * 2 > (size_t)1 << self->log2) {
        if (resize(self, self->log2 + 1) != 0)
            return NULL;
        i = find_slot(self, task, index);
    }
    self->slots[i] = (slot_t){.index = index, .task = task, .value = 0};
    self->size++;
    return &self->slots[i].value;
}

//  Empty slot i, pulling back every later entry of its run that may sit at
//  or before the hole, so that no probe run is broken by a free slot.
static void
remove_at(blockmap_t *self, size_t i)
{
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (self->slots[j].task == EMPTY)
            break;
        size_t h = blockmap_home(block_key(self->slots[j].task, self->slots[j].index), self->log2);
        bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i].task = EMPTY;
    self->size--;
    if (self->log2 > MIN_LOG2 && self->size * 8 < (size_t)1 << self->log2)
        resize(self, self->log2 - 1);   //  on failure the map just stays large
}

bool
blockmap_del(blockmap_t *self, uint32_t task, uint64_t index)
{
    size_t i = find_slot(self, task, index);
    if (self->slots[i].task == EMPTY)
        return false;
    remove_at(self, i);
    return true;
}

void
blockmap_del_value(blockmap_t *self, uint32_t *value)
{
    slot_t *slot = (slot_t *)((char *)value - offsetof(slot_t, value));
    remove_at(self, (size_t)(slot - self->slots));
}

size_t
blockmap_size(const blockmap_t *self)
{
    return self->size;
}

void
blockmap_each(const blockmap_t *self,
              void (*fn)(void *arg, uint32_t task, uint64_t index, uint32_t value),
              void *arg)
{
    for (size_t i = 0; i < (size_t)1 << self->log2; i++)
        if (self->slots[i].task != EMPTY)
            fn(arg, self->slots[i].task, self->slots[i].index, self->slots[i].value);
}

//  The count map -----------------------------------------------------------

#define GROUP_LOG2 COUNTMAP_GROUP_LOG2
#define GROUP COUNTMAP_GROUP
#define NO_GROUP COUNTMAP_NO_GROUP

typedef countmap_group_t group_t;

static group_t *
groups_new(size_t n)
{
    group_t *slots = calloc(n, sizeof *slots);
    for (size_t i = 0; slots && i < n; i++)
        slots[i].group = NO_GROUP;
    return slots;
}

countmap_t *
countmap_new(void)
{
    countmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->log2 = MIN_LOG2;
    self->last_group = NO_GROUP;
    self->slots = groups_new((size_t)1 << MIN_LOG2);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

countmap_t *
countmap_new_dense(uint64_t blocks)
{
    countmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    //  COUNTMAP_DENSE_PAD bytes past the last block: a row of counts is
    //  loaded and stored as one word (blocks past it unchanged).
    self->dense = calloc(blocks + COUNTMAP_DENSE_PAD, 1);
    if (!self->dense) {
        free(self);
        return NULL;
    }
    self->dense_blocks = blocks;
    return self;
}

void
countmap_destroy(countmap_t **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->dense);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static size_t
find_group(const countmap_t *self, uint64_t group)
{
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t i = blockmap_home(group, self->log2);
    while (self->slots[i].group != NO_GROUP && self->slots[i].group != group)
        i = (i + 1) & mask;
    return i;
}

static int
regroup(countmap_t *self, unsigned log2)
{
    group_t *old = self->slots;
    size_t old_capacity = (size_t)1 << self->log2;
    group_t *slots = groups_new((size_t)1 << log2);
    if (!slots)
        return -1;
    self->slots = slots;
    self->log2 = log2;
    self->last_group = NO_GROUP;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i].group != NO_GROUP)
            self->slots[find_group(self, old[i].group)] = old[i];
    free(old);
    return 0;
}

size_t
countmap_insert(countmap_t *self, uint64_t group)
{
    if ((self->groups + 1) * 2 > (size_t)1 << self->log2 && regroup(self, self->log2 + 1) != 0)
        return SIZE_MAX;
    size_t i = find_group(self, group);
    self->slots[i].group = group;
    self->groups++;
    return i;
}

//  Empty slot i, as remove_at does for the value map.
static void
remove_group(countmap_t *self, size_t i)
{
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t j = i;
    self->last_group = NO_GROUP;
    for (;;) {
        j = (j + 1) & mask;
        if (self->slots[j].group == NO_GROUP)
            break;
        size_t h = blockmap_home(self->slots[j].group, self->log2);
        bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = (group_t){.group = NO_GROUP};
    self->groups--;
    if (self->log2 > MIN_LOG2 && self->groups * 8 < (size_t)1 << self->log2)
        regroup(self, self->log2 - 1);   //  on failure the map just stays large
}

void
countmap_del(countmap_t *self, uint8_t *count)
{
    size_t i = (size_t)(count - (uint8_t *)self->slots) / sizeof(group_t);
    *count = 0;
    self->blocks--;
    uint64_t any;
    memcpy(&any, self->slots[i].count, sizeof any);
    if (any == 0)
        remove_group(self, i);
}

size_t
countmap_size(const countmap_t *self)
{
    if (!self->dense)
        return self->blocks;
    //  COUNTMAP_TOUCHED of eight bytes at a time, summed by a
    //  multiplication (no popcnt in the baseline x86-64 built for). The
    //  padding bytes past the last block are zero.
    const uint64_t ones = 0x0101010101010101ull;
    size_t n = 0;
    for (uint64_t i = 0; i < self->dense_blocks; i += 8) {
        uint64_t w;
        memcpy(&w, self->dense + i, sizeof w);
        n += (size_t)((((w >> 6) & ones) * ones) >> 56);
    }
    return n;
}
