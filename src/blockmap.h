/*  blockmap.h - hash maps of blocks: a 32-bit value per block, and a small
    count per block packed eight to a slot

    The scheduler remembers, per running block, its attempt (blockmap_t);
    the resolver counts, per waiting block, the upstream blocks still
    unresolved (countmap_t). Both maps hold only the active frontier, so
    they grow and shrink with it. Both use open addressing with linear
    probing and backward-shift deletion: no allocation per insert, no
    tombstones, so lookups of absent keys (the common case when a block
    is first reached) stay short.

    The waiting blocks of a run are its frontier, a band of blocks along
    the border of the region done so far, where neighbours along the last
    dimension (consecutive indices) wait together. So countmap_t keys a
    slot by index / 8 and keeps the eight counts of that group in it: 16
    bytes hold up to eight waiting blocks instead of one, and a block's
    neighbours along the last dimension sit in the same cache line. A
    count is 1..127 with a flag bit; a task whose blocks can have more
    upstream blocks than that uses a blockmap_t instead (the resolver
    decides per task).

    A small task's counts may instead be a plain array of one byte per
    block (countmap_new_dense): no hashing and no probing, and the
    blocks waiting together share cache lines, where the hash scatters
    each group of eight to its own line. Measured on three chained 67^3
    tasks, where most count-downs missed the cache on the first probe of
    the hash; the resolver gives such arrays to tasks within a fixed
    budget of bytes, so memory stays bounded for any pipeline. Their
    owner stores every block's full count when the array is made, so a
    count-down there never has to tell a block first reached from one
    already waiting (a branch the processor cannot predict, and a count
    worked out in the middle of the hot loop): the byte has the count in
    its low six bits, COUNTMAP_TOUCHED once it was counted down (so that
    the map still knows how many blocks wait) and COUNTMAP_FLAG.
*/
#ifndef DAISY_BLOCKMAP_H
#define DAISY_BLOCKMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _blockmap_t blockmap_t;

blockmap_t *blockmap_new(void);
void blockmap_destroy(blockmap_t **self_p);
//  The value stored for the block, or NULL.
uint32_t *blockmap_get(blockmap_t *self, uint32_t task, uint64_t index);
//  The value for the block, inserted as 0 (and *created set) when absent.
//  NULL only when memory runs out. The pointer is valid until the next
//  put or del.
uint32_t *blockmap_put(blockmap_t *self, uint32_t task, uint64_t index, bool *created);
//  Remove the block; false when it was not there.
bool blockmap_del(blockmap_t *self, uint32_t task, uint64_t index);
//  Remove the entry whose value pointer get or put just returned.
void blockmap_del_value(blockmap_t *self, uint32_t *value);
size_t blockmap_size(const blockmap_t *self);
//  Visit every entry (in no particular order); the map must not change.
void blockmap_each(const blockmap_t *self,
                   void (*fn)(void *arg, uint32_t task, uint64_t index, uint32_t value),
                   void *arg);

//  Counts of one task's blocks: a count byte is 0 for a block not in the
//  map, else 1..COUNTMAP_MAX in its low bits with COUNTMAP_FLAG free for
//  the caller.
#define COUNTMAP_MAX 0x7f
#define COUNTMAP_FLAG 0x80
//  In a dense map: the count (at most COUNTMAP_DENSE_MAX, 0 for a block
//  that waits for nothing) and whether it was counted down yet.
#define COUNTMAP_DENSE_MAX 0x3f
#define COUNTMAP_TOUCHED 0x40
//  Zero bytes after a dense map's last block, so that up to 8 counts may
//  be read and written back as one word anywhere in it.
#define COUNTMAP_DENSE_PAD 8

//  The count map is used for every downstream block of every block
//  resolved (27 times per block in a chain of 3D tasks), so its lookup
//  is inline: the layout is here, the rest in blockmap.c.
#define COUNTMAP_GROUP_LOG2 3
#define COUNTMAP_GROUP (1u << COUNTMAP_GROUP_LOG2)
#define COUNTMAP_NO_GROUP UINT64_MAX    //  index / 8 never reaches it

typedef struct {
    uint64_t group;                     //  index / 8, or COUNTMAP_NO_GROUP: a free slot
    uint8_t count[COUNTMAP_GROUP];      //  by index % 8
} countmap_group_t;

typedef struct {
    uint8_t *dense;             //  a byte per block, filled by the owner, or NULL: the hashed slots below
    uint64_t dense_blocks;      //  its length
    countmap_group_t *slots;
    unsigned log2;              //  capacity = 2^log2
    size_t groups;              //  occupied slots
    size_t blocks;              //  non-zero counts (hashed slots only)
    //  The slot of the group found last: the resolver counts down rows of
    //  consecutive blocks, so the next block is most often in the same
    //  group. Forgotten whenever slots move (a deletion or a resize).
    uint64_t last_group;
    size_t last_slot;
} countmap_t;

countmap_t *countmap_new(void);
//  A count map over blocks 0..blocks-1 as one byte per block, all 0: the
//  caller stores each block's full count (see the opening comment) and
//  counts down in `dense` itself; countmap_put and countmap_del are for
//  hashed maps only.
countmap_t *countmap_new_dense(uint64_t blocks);
void countmap_destroy(countmap_t **self_p);
//  Take the block whose count byte put returned out of the map.
void countmap_del(countmap_t *self, uint8_t *count);
//  Blocks in the map; in a dense map, the bytes with COUNTMAP_TOUCHED,
//  counted when asked (the owner's loops keep no count).
size_t countmap_size(const countmap_t *self);

//  The slot for a group that is not in the map yet (blockmap.c); growing
//  the map when needed. SIZE_MAX when memory runs out.
size_t countmap_insert(countmap_t *self, uint64_t group);

//  Fibonacci hashing (blockmap.c says why): the top log2 bits of
//  key * 2^64 / golden ratio.
static inline size_t
blockmap_home(uint64_t key, unsigned log2)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - log2));
}

//  The count byte of the block, its group inserted when absent (then the
//  byte is 0 and *created is set: store a non-zero count). NULL only when
//  memory runs out. The pointer is valid until the next put or del.
static inline uint8_t *
countmap_put(countmap_t *self, uint64_t index, bool *created)
{
    uint64_t group = index >> COUNTMAP_GROUP_LOG2;
    size_t i = self->last_slot;
    if (group != self->last_group) {
        size_t mask = ((size_t)1 << self->log2) - 1;
        i = blockmap_home(group, self->log2);
        while (self->slots[i].group != group && self->slots[i].group != COUNTMAP_NO_GROUP)
            i = (i + 1) & mask;
        if (self->slots[i].group == COUNTMAP_NO_GROUP && (i = countmap_insert(self, group)) == SIZE_MAX)
            return NULL;
        self->last_group = group;
        self->last_slot = i;
    }
    uint8_t *count = &self->slots[i].count[index & (COUNTMAP_GROUP - 1)];
    *created = *count == 0;
    self->blocks += *created;
    return count;
}

#endif
