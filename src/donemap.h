/*  donemap.h - which blocks of a huge task are resolved, over tiles

    A count per waiting block (countmap_t) costs about 17 bytes per
    waiting block, and a run's frontier grows like the surface of the
    region done (bench/README.md, "Why rss_growth cannot reach 1.2"). A
    task whose blocks wait only for blocks of their own task (read/write
    conflicts, no upstream task with work left) can do without counts:
    a block is ready when every block it waits for is resolved, which a
    bit per block answers (or 4 bits per cell of one block of each level:
    donemap.c). So this map keeps whether blocks are resolved (and, only
    where some block failed, which failed) over tiles of the grid,
    2^side_log2 blocks a side, and of a tile only the parts being worked
    on: a tile is made when a first block of it is resolved, and a tile
    whose blocks are all resolved keeps no units, only its entry (its
    blocks answer "resolved"). That entry goes too once no block may ask
    about the tile any more: when the tiles within `reach` of it are all
    complete as well. Then the map holds the tiles along the border of
    the region done, and memory follows that border: after 10^8 blocks
    of a 10^12-block task, 0.84 MB for 500,000 waiting blocks (1.7 bytes
    each, where counts took 17).

    Why a tile that is gone is never asked about again: a block asks
    about the blocks it waits for, which lie within `reach` of it along
    each dimension, and only while it is not resolved itself. A tile goes
    only when every tile within `reach` of it is complete, so no block
    that could ask about it is left. And a tile never made answers "not
    resolved", truthfully: a tile that went was complete, so nothing in
    it is resolved again, and it is never made again.

    To know when a complete tile may go without looking at its
    neighbours again, every entry counts its neighbours (tiles within
    `reach`, in the grid) that are not complete yet: set when the entry
    is made (a neighbour without an entry is not complete: a complete
    tile goes only after all its neighbours are complete, and the new
    tile was not), and counted down by each neighbour as it completes.
*/
#ifndef DAISY_DONEMAP_H
#define DAISY_DONEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daisy/geometry.h"

typedef struct _donemap_t donemap_t;

//  What donemap_get says of a block.
#define DONEMAP_WAITING 0     //  not resolved
#define DONEMAP_OK 1          //  resolved, succeeded
#define DONEMAP_FAILED 2      //  resolved, failed or orphaned

//  The tile side by default: 2^side_log2 with about 512 blocks a tile.
unsigned donemap_side_log2(int dims);

//  A map over a grid of n[0..dims) blocks whose blocks wait for blocks at
//  most reach[d] away along dimension d. With `cell` (NULL: none), the
//  grid is made of whole cells of cell[d] blocks (powers of two, at most
//  2^side_log2, dividing n[d]), one block of each level (at most 15), in
//  which every level but the first waits for the level before it (see
//  donemap.c). NULL when memory runs out.
donemap_t *donemap_new(int dims, const int64_t *n, const int64_t *reach, const int64_t *cell,
                       unsigned side_log2);
//  Whether such a map can be made with tiles of that side (its tiles
//  are numbered in 31 bits, its tiles' neighbours in 16); donemap_new
//  returns NULL when not.
bool donemap_fits(int dims, const int64_t *n, const int64_t *reach, unsigned side_log2);
void donemap_destroy(donemap_t **self_p);
//  The block at k, of level `level` (within its cell; any without cells),
//  is resolved (failed or not); each block once. -1 when memory runs out.
int donemap_set(donemap_t *self, const int64_t *k, uint64_t level, bool failed);
//  DONEMAP_WAITING, DONEMAP_OK or DONEMAP_FAILED for the block at k, of
//  level `level`, which must be a block that some unresolved block waits
//  for (see the opening comment). Below.
static inline int donemap_get(donemap_t *self, const int64_t *k, uint64_t level);
//  The same, the long way (donemap.c), remembering the block's part.
int donemap_get_slow(donemap_t *self, const int64_t *k, uint64_t level);
//  Tiles held, and of those the ones with bits (not complete, or with a
//  failure); for tests and statistics.
size_t donemap_tiles(const donemap_t *self);
size_t donemap_tiles_with_bits(const donemap_t *self);
//  Bytes of its hash and the records it used at most.
size_t donemap_bytes(const donemap_t *self);

//  The resolver asks about the blocks around each block it resolves,
//  several times a block, so the answer comes inline from the parts
//  (donemap.c) seen since records were last made or freed: one per parity of the
//  part's position, so that the 2^dims parts around a block (questions
//  reach less than a part's side away) stay apart. The layout is here,
//  the rest in donemap.c; a donemap_t begins with a donemap_fast_t.
typedef struct {
    int64_t origin[DAISY_MAX_DIMS];  //  the part's first block
    const uint64_t *units;           //  its units, or NULL: `value` in each
    unsigned value;                  //  0 (nothing resolved) or final
    uint64_t gen;                    //  valid while it is the map's
} donemap_seen_t;

typedef struct {
    int dims;
    unsigned part_log2;                   //  part side log2
    unsigned cell_log2[DAISY_MAX_DIMS];   //  unit side log2
    unsigned bit_shift[DAISY_MAX_DIMS];   //  a unit's first bit: sum of unit << bit_shift
    unsigned width;                       //  bits per unit
    uint64_t gen;                         //  one more when records are made or freed
    unsigned last;                        //  the entry that answered last
    donemap_seen_t seen[1 << DAISY_MAX_DIMS];
} donemap_fast_t;

//  The part seen that holds block k, and k's place in it (local), or
//  NULL. The entry that answered last first: questions come in runs
//  about one part. A block is in a part when its offsets from the part's
//  first block are all below the side, a power of two: when their bits
//  or'ed are (a negative offset has the top bit).
static inline __attribute__((always_inline)) const donemap_seen_t *
donemap_seen_find(donemap_fast_t *f, const int64_t *k, uint64_t *local, int dims)
{
    const donemap_seen_t *seen = &f->seen[f->last];
    uint64_t out = 0;
    for (int d = 0; d < dims; d++)
        out |= local[d] = (uint64_t)(k[d] - seen->origin[d]);
    if (__builtin_expect((out >> f->part_log2) == 0 && seen->gen == f->gen, 1))
        return seen;
    unsigned parity = 0;
    for (int d = 0; d < dims; d++)
        parity |= (unsigned)((k[d] >> f->part_log2) & 1) << d;
    seen = &f->seen[parity];
    out = 0;
    for (int d = 0; d < dims; d++)
        out |= local[d] = (uint64_t)(k[d] - seen->origin[d]);
    if ((out >> f->part_log2) != 0 || seen->gen != f->gen)
        return NULL;
    f->last = parity;
    return seen;
}

//  The first bit of the unit at `local` in its part's record.
static inline __attribute__((always_inline)) uint64_t
donemap_seen_bit(const donemap_fast_t *f, const uint64_t *local, int dims)
{
    uint64_t bit = 0;
    for (int d = 0; d < dims; d++)
        bit |= (local[d] >> f->cell_log2[d]) << f->bit_shift[d];
    return bit;
}

//  donemap_get for `dims` dimensions: with a constant, the loops unroll.
static inline __attribute__((always_inline)) int
donemap_get_dims(donemap_t *self, const int64_t *k, uint64_t level, int dims)
{
    donemap_fast_t *f = (donemap_fast_t *)self;
    uint64_t local[DAISY_MAX_DIMS];
    const donemap_seen_t *seen = donemap_seen_find(f, k, local, dims);
    if (__builtin_expect(!seen, 0))
        return donemap_get_slow(self, k, level);
    unsigned lv = f->width == 1 ? 0 : (unsigned)level, value = seen->value;
    if (seen->units) {
        uint64_t bit = donemap_seen_bit(f, local, dims);
        value = (unsigned)(seen->units[bit / 64] >> (bit % 64)) & ((1u << f->width) - 1);
    }
    return value > lv ? DONEMAP_OK : DONEMAP_WAITING;
}

static inline int
donemap_get(donemap_t *self, const int64_t *k, uint64_t level)
{
    int dims = ((donemap_fast_t *)self)->dims;
    return dims == 3 ? donemap_get_dims(self, k, level, 3)
                     : donemap_get_dims(self, k, level, dims);
}

#endif
