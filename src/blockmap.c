/*  blockmap.c - open-addressing hash map of block references

    See blockmap.h for why. The capacity is a power of two kept between 1/8
    and 1/2 full, so a probe sequence stays short and memory follows the
    frontier down again after a burst. Deletion shifts later entries of the
    same probe run back instead of leaving tombstones, which keeps lookups
    for absent keys (the common case when a block is first reached) short.
*/
#include "blockmap.h"

#include <stdlib.h>

#define EMPTY UINT32_MAX
#define MIN_CAPACITY 64

typedef struct {
    uint64_t index;
    uint32_t task;     //  EMPTY marks a free slot
    uint32_t value;
} slot_t;

struct _blockmap_t {
    slot_t *slots;
    size_t mask;       //  capacity - 1
    size_t size;
};

static uint64_t
hash(uint32_t task, uint64_t index)
{
    //  splitmix64's finaliser: neighbouring indices land far apart.
    uint64_t x = index ^ ((uint64_t)task << 48) ^ ((uint64_t)task * 0x9e3779b97f4a7c15ull);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static slot_t *
slots_new(size_t capacity)
{
    slot_t *slots = malloc(capacity * sizeof *slots);
    for (size_t i = 0; slots && i < capacity; i++)
        slots[i].task = EMPTY;
    return slots;
}

blockmap_t *
blockmap_new(void)
{
    blockmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = slots_new(MIN_CAPACITY);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    self->mask = MIN_CAPACITY - 1;
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
    size_t i = hash(task, index) & self->mask;
    while (self->slots[i].task != EMPTY
           && (self->slots[i].task != task || self->slots[i].index != index))
        i = (i + 1) & self->mask;
    return i;
}

static int
resize(blockmap_t *self, size_t capacity)
{
    slot_t *old = self->slots;
    size_t old_capacity = self->mask + 1;
    slot_t *slots = slots_new(capacity);
    if (!slots)
        return -1;
    self->slots = slots;
    self->mask = capacity - 1;
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
    if ((self->size + 1) * 2 > self->mask + 1) {
        if (resize(self, (self->mask + 1) * 2) != 0)
            return NULL;
        i = find_slot(self, task, index);
    }
    self->slots[i] = (slot_t){.index = index, .task = task, .value = 0};
    self->size++;
    return &self->slots[i].value;
}

bool
blockmap_del(blockmap_t *self, uint32_t task, uint64_t index)
{
    size_t i = find_slot(self, task, index);
    if (self->slots[i].task == EMPTY)
        return false;
    //  Pull back every later entry of the run that may sit at or before
    //  the hole, so that no probe run is broken by a free slot.
    size_t j = i;
    for (;;) {
        j = (j + 1) & self->mask;
        if (self->slots[j].task == EMPTY)
            break;
        size_t home = hash(self->slots[j].task, self->slots[j].index) & self->mask;
        bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i].task = EMPTY;
    self->size--;
    size_t capacity = self->mask + 1;
    if (capacity > MIN_CAPACITY && self->size * 8 < capacity)
        resize(self, capacity / 2);   //  on failure the map just stays large
    return true;
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
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].task != EMPTY)
            fn(arg, self->slots[i].task, self->slots[i].index, self->slots[i].value);
}
