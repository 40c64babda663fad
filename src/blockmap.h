/*  blockmap.h - a hash map from block references to a 32-bit value

    The resolver counts, per waiting block, the upstream blocks still
    unresolved; the scheduler remembers, per running block, its attempt.
    Both maps hold only the active frontier, so they grow and shrink with
    it. Open addressing with linear probing and backward-shift deletion:
    one 16-byte slot per entry, no allocation per insert, no tombstones.
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
size_t blockmap_size(const blockmap_t *self);
//  Visit every entry (in no particular order); the map must not change.
void blockmap_each(const blockmap_t *self,
                   void (*fn)(void *arg, uint32_t task, uint64_t index, uint32_t value),
                   void *arg);

#endif
