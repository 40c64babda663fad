/*  donemap.c - resolved units over tiles of a grid, in a hash of tiles

    See donemap.h for what and why. Tiles are keyed by their index in the
    grid of tiles and held in an open-addressing hash with linear probing
    and backward-shift deletion (as blockmap.c, kept between 1/8 and 1/2
    full). A slot is one 64-bit word, since the hash holds every tile
    along the border and its slots were a quarter of the map: the key
    (plus one, so that 0 is a free slot), whether the tile is complete,
    and either its directory or, for a complete tile without one, its
    count of neighbours not complete (a directory keeps that count in
    its header). donemap_fits says whether a grid's keys fit.

    Inside a tile only a thin layer is being worked on: the region done
    has a border about one cell thick, and a tile across it is mostly
    complete or untouched (measured on the 10^12-block task after 10^8
    blocks: in the tiles being worked on, 11 % of the cells partly
    resolved, 51 % complete, 37 % untouched). So a tile is cut in halves
    along every dimension into 2^dims parts, and its directory holds, per
    part, "untouched", "complete" or the record of its units; only the
    parts being worked on have one. Directories, parts and failures are
    records of three pools of equal records, so that nothing is allocated
    per tile and records freed by complete parts are reused by the next
    ones. A part is complete when every unit holds its final value, which
    units outside the grid (parts at its far edges) and the padding past
    the last unit hold from the start, so that one comparison per word
    tells.

    Cells (donemap_new's `cell`): a cell is the box of one block of each
    level, and inside a whole cell each level waits for the level before
    it in the same cell, so its blocks are resolved in level order and
    the number resolved says which (4 bits for up to 15 levels, where a
    bit per block takes 8 for the usual 8 levels). A unit is then a cell
    holding that number; without cells a unit is a block holding 0 or 1,
    as if every block were a cell of one level.

    Failures are rare, so a tile's failures are a record of their own over
    the whole tile, made by its first failure: per unit, the first failed
    level plus one (every later level of the cell waits for it, so it
    fails too). A complete tile keeps its directory only when it has one
    (its blocks answer one by one); else the slot alone says "complete".
*/
#include "donemap.h"

#include <stdlib.h>
#include <string.h>

#include "daisy/geometry.h"

#define D DAISY_MAX_DIMS
#define MIN_LOG2 6
#define NO_TILE UINT64_MAX
#define NO_REC UINT32_MAX
//  In a directory, for a part without a record.
#define PART_UNTOUCHED UINT32_MAX
#define PART_COMPLETE (UINT32_MAX - 1)
//  A slot: key + 1 in bits 33.., then COMPLETE, HAS_DIR and the payload
//  (the directory with HAS_DIR, else the count of neighbours not
//  complete). 0 is a free slot.
typedef uint64_t slot_t;
#define KEY_SHIFT 33
#define COMPLETE ((uint64_t)1 << 32)
#define HAS_DIR ((uint64_t)1 << 31)
#define PAYLOAD 0x7fffffffu
#define MAX_TILES (((uint64_t)1 << (64 - KEY_SHIFT)) - 1)
//  In a directory's header: parts complete (bits 0-15), neighbours not
//  complete (16-31), the failures' record (32-63).
#define UNFULL_SHIFT 16
#define MAX_NEIGHBOURS 0xffffu

//  Equal records of `size` words; free ones chained through word 0.
typedef struct {
    uint64_t *words;
    size_t size;
    uint32_t n, cap, free;
} pool_t;

//  Where a block is: its part of the tile, and its unit's first bit in
//  the part's record and in the tile's failures.
typedef struct {
    unsigned part;
    uint64_t at, tile_at;
} place_t;

struct _donemap_t {
    donemap_fast_t fast;         //  first: donemap_get reads it (donemap.h)
    int dims;
    unsigned s;                  //  tile side log2
    unsigned cell_log2[D];       //  cell side log2 (0 without cells)
    unsigned unit_bits[D];       //  log2 of units along d in a tile (s - cell_log2)
    unsigned width;              //  bits per unit: 1 (a block) or 4 (a cell)
    unsigned final;              //  a unit's value once resolved: 1, or its cell's levels
    uint64_t pattern;            //  `final` in every unit of a word
    unsigned nparts;             //  2^dims
    int64_t n[D];                //  grid shape in blocks
    int64_t nt[D];               //  grid shape in tiles
    int64_t r[D];                //  neighbourhood radius in tiles
    uint64_t tstride[D];         //  index distance of neighbouring tiles
    slot_t *slots;
    unsigned log2;
    size_t size;
    //  Directories: word 0 holds the parts complete (low 32 bits) and
    //  the failures' record (high 32, or NO_REC), then a 32-bit entry
    //  per part.
    pool_t dirs, parts, fails;
    size_t with_dir;
    //  The slot of the tile found last: consecutive questions mostly
    //  fall in one tile. Forgotten whenever slots move.
    uint64_t last_key;
    size_t last_slot;
};

unsigned
donemap_side_log2(int dims)
{
    return dims >= 5 ? 1 : 9 / (unsigned)dims;
}

//  Pools ------------------------------------------------------------------

static uint64_t *
pool_at(const pool_t *pool, uint32_t i)
{
    return pool->words + (size_t)i * pool->size;
}

//  A zeroed record, or NO_REC when memory runs out. Pointers into the
//  pool are invalid after it.
static uint32_t
pool_new(pool_t *pool)
{
    uint32_t i = pool->free;
    if (i != NO_REC) {
        pool->free = (uint32_t)pool_at(pool, i)[0];
    } else {
        if (pool->n == pool->cap) {
            if (pool->cap >= PAYLOAD / 2)
                return NO_REC;
            uint32_t cap = pool->cap ? pool->cap * 2 : 64;
            uint64_t *words = realloc(pool->words, (size_t)cap * pool->size * sizeof *words);
            if (!words)
                return NO_REC;
            pool->words = words;
            pool->cap = cap;
        }
        i = pool->n++;
    }
    memset(pool_at(pool, i), 0, pool->size * sizeof(uint64_t));
    return i;
}

static void
pool_free(pool_t *pool, uint32_t i)
{
    pool_at(pool, i)[0] = pool->free;
    pool->free = i;
}

//  Units and directories ---------------------------------------------------

//  The unit at `bit` of a record.
static unsigned
unit_get(const donemap_t *self, const uint64_t *r, uint64_t bit)
{
    return (unsigned)(r[bit / 64] >> (bit % 64)) & ((1u << self->width) - 1);
}

static void
unit_put(const donemap_t *self, uint64_t *r, uint64_t bit, unsigned value)
{
    uint64_t mask = ((uint64_t)1 << self->width) - 1;
    r[bit / 64] = (r[bit / 64] & ~(mask << (bit % 64))) | (uint64_t)value << (bit % 64);
}

static uint32_t
dir_part(const uint64_t *dir, unsigned part)
{
    uint32_t entry;
    memcpy(&entry, (const char *)(dir + 1) + 4 * part, sizeof entry);
    return entry;
}

static void
dir_set_part(uint64_t *dir, unsigned part, uint32_t entry)
{
    memcpy((char *)(dir + 1) + 4 * part, &entry, sizeof entry);
}

static uint32_t
dir_fails(const uint64_t *dir)
{
    return (uint32_t)(dir[0] >> 32);
}

//  Where block k is in its tile.
static void
place_of(const donemap_t *self, const int64_t *k, place_t *pl)
{
    uint64_t tmask = ((uint64_t)1 << self->s) - 1;
    pl->part = 0;
    pl->at = pl->tile_at = 0;
    for (int d = 0; d < self->dims; d++) {
        unsigned b = self->unit_bits[d];
        uint64_t u = ((uint64_t)k[d] & tmask) >> self->cell_log2[d];
        pl->part = (pl->part << 1) | (unsigned)(u >> (b - 1));
        pl->at = (pl->at << (b - 1)) | (u & (((uint64_t)1 << (b - 1)) - 1));
        pl->tile_at = (pl->tile_at << b) | u;
    }
    pl->at *= self->width;
    pl->tile_at *= self->width;
}

//  The first block of part `part` of tile t, per dimension.
static void
part_origin(const donemap_t *self, const int64_t *t, unsigned part, int64_t *o)
{
    for (int d = self->dims - 1; d >= 0; d--, part >>= 1)
        o[d] = (t[d] << self->s) + ((int64_t)(part & 1) << (self->s - 1));
}

//  Whether the part starting at o lies outside the grid (true) or is cut
//  by its far edges (*cut).
static bool
part_outside(const donemap_t *self, const int64_t *o, bool *cut)
{
    bool outside = false;
    *cut = false;
    for (int d = 0; d < self->dims; d++) {
        outside |= o[d] >= self->n[d];
        *cut |= o[d] + ((int64_t)1 << (self->s - 1)) > self->n[d];
    }
    return outside;
}

//  Units of a part outside the grid (it starts at o) hold their final
//  value from the start.
static void
fill_outside(const donemap_t *self, uint64_t *r, const int64_t *o)
{
    int64_t q[D] = {0};
    for (;;) {
        bool outside = false;
        uint64_t at = 0;
        for (int d = 0; d < self->dims; d++) {
            outside |= o[d] + (q[d] << self->cell_log2[d]) >= self->n[d];
            at = (at << (self->unit_bits[d] - 1)) | (uint64_t)q[d];
        }
        if (outside)
            unit_put(self, r, at * self->width, self->final);
        int d = self->dims - 1;
        while (d >= 0 && ++q[d] == (int64_t)1 << (self->unit_bits[d] - 1))
            q[d--] = 0;
        if (d < 0)
            return;
    }
}

//  A record for part `part` of tile t: its padding and the units outside
//  the grid final. NO_REC when memory runs out.
static uint32_t
part_new(donemap_t *self, const int64_t *t, unsigned part)
{
    uint32_t rec = pool_new(&self->parts);
    if (rec == NO_REC)
        return NO_REC;
    uint64_t *r = pool_at(&self->parts, rec), used = 1;
    for (int d = 0; d < self->dims; d++)
        used <<= self->unit_bits[d] - 1;
    used *= self->width;
    if (used % 64)
        r[used / 64] = self->pattern & ~(((uint64_t)1 << (used % 64)) - 1);
    int64_t o[D];
    bool cut;
    part_origin(self, t, part, o);
    part_outside(self, o, &cut);
    if (cut)
        fill_outside(self, r, o);
    return rec;
}

//  Whether every unit of a part's record is final.
static bool
part_complete(const donemap_t *self, const uint64_t *r)
{
    for (size_t i = 0; i < self->parts.size; i++)
        if (r[i] != self->pattern)
            return false;
    return true;
}

//  A directory for tile t, with `unfull` neighbours not complete: parts
//  outside the grid complete, the others untouched. NO_REC when memory
//  runs out.
static uint32_t
dir_new(donemap_t *self, const int64_t *t, uint32_t unfull)
{
    uint32_t rec = pool_new(&self->dirs);
    if (rec == NO_REC)
        return NO_REC;
    uint64_t *dir = pool_at(&self->dirs, rec);
    dir[0] = (uint64_t)NO_REC << 32 | (uint64_t)unfull << UNFULL_SHIFT;
    for (unsigned part = 0; part < self->nparts; part++) {
        int64_t o[D];
        bool cut;
        part_origin(self, t, part, o);
        bool outside = part_outside(self, o, &cut);
        dir_set_part(dir, part, outside ? PART_COMPLETE : PART_UNTOUCHED);
        dir[0] += outside;
    }
    return rec;
}

//  A directory's records, and itself, back to their pools.
static void
dir_free(donemap_t *self, uint32_t rec)
{
    uint64_t *dir = pool_at(&self->dirs, rec);
    for (unsigned part = 0; part < self->nparts; part++) {
        uint32_t entry = dir_part(dir, part);
        if (entry != PART_UNTOUCHED && entry != PART_COMPLETE)
            pool_free(&self->parts, entry);
    }
    if (dir_fails(dir) != NO_REC)
        pool_free(&self->fails, dir_fails(dir));
    pool_free(&self->dirs, rec);
    self->with_dir--;
}

//  Construction -------------------------------------------------------------

static slot_t *
slots_new(size_t n)
{
    return calloc(n, sizeof(slot_t));
}

static uint64_t
slot_key(slot_t slot)
{
    return (slot >> KEY_SHIFT) - 1;
}

static slot_t
slot_make(uint64_t key, uint64_t flags, uint32_t payload)
{
    return (key + 1) << KEY_SHIFT | flags | payload;
}

//  Units, their width and final value, and the pools' record sizes.
static void
set_units(donemap_t *self, const int64_t *cell)
{
    uint64_t units = 1;
    self->width = cell ? 4 : 1;
    self->final = 1;
    for (int d = 0; d < self->dims; d++) {
        self->cell_log2[d] = cell ? (unsigned)__builtin_ctzll((uint64_t)cell[d]) : 0;
        self->unit_bits[d] = self->s - self->cell_log2[d];
        self->final *= cell ? (unsigned)cell[d] : 1;
        units <<= self->unit_bits[d];
    }
    self->pattern = 0;
    for (unsigned i = 0; i < 64; i += self->width)
        self->pattern |= (uint64_t)self->final << i;
    self->nparts = 1u << self->dims;
    donemap_fast_t *f = &self->fast;
    f->dims = self->dims;
    f->part_log2 = self->s - 1;
    f->width = self->width;
    f->gen = 1;
    unsigned shift = 0;
    for (int d = self->dims - 1; d >= 0; d--) {
        f->cell_log2[d] = self->cell_log2[d];
        f->bit_shift[d] = shift + (self->width == 4 ? 2 : 0);
        shift += self->unit_bits[d] - 1;
    }
    self->dirs.size = 1 + (self->nparts + 1) / 2;
    self->parts.size = (units / self->nparts * self->width + 63) / 64;
    self->fails.size = (units * self->width + 63) / 64;
    self->dirs.free = self->parts.free = self->fails.free = NO_REC;
}

bool
donemap_fits(int dims, const int64_t *n, const int64_t *reach, unsigned side_log2)
{
    uint64_t tiles = 1, neighbours = 1;
    int64_t side = (int64_t)1 << side_log2;
    for (int d = 0; d < dims; d++) {
        uint64_t across = (uint64_t)((n[d] + side - 1) >> side_log2);
        uint64_t r = (uint64_t)((reach[d] + side - 1) >> side_log2);
        if (__builtin_mul_overflow(tiles, across, &tiles)
            || __builtin_mul_overflow(neighbours, 2 * r + 1, &neighbours))
            return false;
    }
    return tiles <= MAX_TILES && neighbours <= MAX_NEIGHBOURS;
}

donemap_t *
donemap_new(int dims, const int64_t *n, const int64_t *reach, const int64_t *cell,
            unsigned side_log2)
{
    if (!donemap_fits(dims, n, reach, side_log2))
        return NULL;
    donemap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dims = dims;
    self->s = side_log2;
    uint64_t stride = 1;
    for (int d = dims - 1; d >= 0; d--) {
        int64_t side = (int64_t)1 << side_log2;
        self->n[d] = n[d];
        self->nt[d] = (n[d] + side - 1) >> side_log2;
        self->r[d] = (reach[d] + side - 1) >> side_log2;
        self->tstride[d] = stride;
        stride *= (uint64_t)self->nt[d];
    }
    set_units(self, cell);
    self->last_key = NO_TILE;
    self->log2 = MIN_LOG2;
    self->slots = slots_new((size_t)1 << MIN_LOG2);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void
donemap_destroy(donemap_t **self_p)
{
    donemap_t *self = *self_p;
    if (!self)
        return;
    free(self->slots);
    free(self->dirs.words);
    free(self->parts.words);
    free(self->fails.words);
    free(self);
    *self_p = NULL;
}

//  The hash of tiles --------------------------------------------------------

static size_t
home(uint64_t key, unsigned log2)
{
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - log2));
}

static size_t
find_slot(const donemap_t *self, uint64_t key)
{
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t i = home(key, self->log2);
    while (self->slots[i] != 0 && slot_key(self->slots[i]) != key)
        i = (i + 1) & mask;
    return i;
}

//  The slot of tile `key`, or NULL when it has none.
static slot_t *
lookup(donemap_t *self, uint64_t key)
{
    if (key == self->last_key)
        return &self->slots[self->last_slot];
    size_t i = find_slot(self, key);
    if (self->slots[i] == 0)
        return NULL;
    self->last_key = key;
    self->last_slot = i;
    return &self->slots[i];
}

static int
resize(donemap_t *self, unsigned log2)
{
    slot_t *old = self->slots;
    size_t old_capacity = (size_t)1 << self->log2;
    slot_t *slots = slots_new((size_t)1 << log2);
    if (!slots)
        return -1;
    self->slots = slots;
    self->log2 = log2;
    self->last_key = NO_TILE;
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i] != 0)
            self->slots[find_slot(self, slot_key(old[i]))] = old[i];
    free(old);
    return 0;
}

//  Empty slot i (backward shift, as blockmap.c's remove_at), freeing its
//  records.
static void
remove_at(donemap_t *self, size_t i)
{
    if (self->slots[i] & HAS_DIR)
        dir_free(self, self->slots[i] & PAYLOAD);
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t j = i;
    self->last_key = NO_TILE;
    for (;;) {
        j = (j + 1) & mask;
        if (self->slots[j] == 0)
            break;
        size_t h = home(slot_key(self->slots[j]), self->log2);
        bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = 0;
    self->size--;
    if (self->log2 > MIN_LOG2 && self->size * 8 < (size_t)1 << self->log2)
        resize(self, self->log2 - 1);   //  on failure the map just stays large
}

//  Tiles --------------------------------------------------------------------

//  The tile of block k: its position in the grid of tiles and its key.
static uint64_t
tile_of(const donemap_t *self, const int64_t *k, int64_t *t)
{
    uint64_t key = 0;
    for (int d = 0; d < self->dims; d++) {
        t[d] = k[d] >> self->s;
        key += (uint64_t)t[d] * self->tstride[d];
    }
    return key;
}

static uint64_t
key_of(const donemap_t *self, const int64_t *t)
{
    uint64_t key = 0;
    for (int d = 0; d < self->dims; d++)
        key += (uint64_t)t[d] * self->tstride[d];
    return key;
}

//  The neighbourhood of tile t: the box lo..hi of tiles within r of it,
//  cut to the grid; q starts at lo.
static void
neighbourhood(const donemap_t *self, const int64_t *t, int64_t *lo, int64_t *hi, int64_t *q)
{
    for (int d = 0; d < self->dims; d++) {
        lo[d] = t[d] - self->r[d] > 0 ? t[d] - self->r[d] : 0;
        hi[d] = t[d] + self->r[d] < self->nt[d] - 1 ? t[d] + self->r[d] : self->nt[d] - 1;
        q[d] = lo[d];
    }
}

//  The next tile of the box lo..hi (inclusive) after q; false past the
//  last.
static bool
next_tile(const donemap_t *self, const int64_t *lo, const int64_t *hi, int64_t *q)
{
    for (int d = self->dims - 1; d >= 0; d--) {
        if (q[d] < hi[d]) {
            q[d]++;
            return true;
        }
        q[d] = lo[d];
    }
    return false;
}

//  A new entry for tile t (key): a directory, and its count of
//  neighbours not complete (one without an entry is not: see donemap.h).
//  NULL when memory runs out.
static slot_t *
tile_new(donemap_t *self, uint64_t key, const int64_t *t)
{
    int64_t lo[D], hi[D], q[D];
    uint32_t unfull = 0;
    neighbourhood(self, t, lo, hi, q);
    do {
        uint64_t other = key_of(self, q);
        slot_t *slot = other == key ? NULL : lookup(self, other);
        unfull += other != key && !(slot && *slot & COMPLETE);
    } while (next_tile(self, lo, hi, q));
    if ((self->size + 1) * 2 > (size_t)1 << self->log2 && resize(self, self->log2 + 1) != 0)
        return NULL;
    uint32_t dir = dir_new(self, t, unfull);
    if (dir == NO_REC)
        return NULL;
    size_t i = find_slot(self, key);
    self->slots[i] = slot_make(key, HAS_DIR, dir);
    self->size++;
    self->with_dir++;
    self->last_key = NO_TILE;
    return &self->slots[i];
}

//  A tile's count of neighbours not complete, where its slot keeps it.
static uint32_t
unfull_of(const donemap_t *self, slot_t slot)
{
    if (!(slot & HAS_DIR))
        return (uint32_t)(slot & PAYLOAD);
    return (uint32_t)(pool_at(&self->dirs, slot & PAYLOAD)[0] >> UNFULL_SHIFT) & MAX_NEIGHBOURS;
}

//  One more neighbour of the tile is complete: true when the tile is
//  complete and waits for no neighbour any more.
static bool
unfull_down(donemap_t *self, slot_t *slot)
{
    if (*slot & HAS_DIR)
        pool_at(&self->dirs, *slot & PAYLOAD)[0] -= (uint64_t)1 << UNFULL_SHIFT;
    else
        *slot -= 1;
    return *slot & COMPLETE && unfull_of(self, *slot) == 0;
}

//  Remove tile `key` when it is complete and so are all its neighbours.
static void
drop_if_done(donemap_t *self, uint64_t key)
{
    size_t i = find_slot(self, key);
    slot_t slot = self->slots[i];
    if (slot != 0 && slot & COMPLETE && unfull_of(self, slot) == 0)
        remove_at(self, i);
}

//  Tile t (key) is complete: its directory goes unless a block failed,
//  its neighbours count it, and those that wait for nothing more go, as
//  it does itself when its neighbours are all complete already.
static void
tile_complete(donemap_t *self, uint64_t key, const int64_t *t)
{
    slot_t *slot = lookup(self, key);
    uint32_t dir = *slot & PAYLOAD;
    *slot |= COMPLETE;
    if (dir_fails(pool_at(&self->dirs, dir)) == NO_REC) {
        uint32_t unfull = unfull_of(self, *slot);
        dir_free(self, dir);
        *slot = slot_make(key, COMPLETE, unfull);
    }
    int64_t lo[D], hi[D], q[D];
    neighbourhood(self, t, lo, hi, q);
    do {
        uint64_t other = key_of(self, q);
        slot_t *n = other == key ? NULL : lookup(self, other);
        if (n && unfull_down(self, n))
            drop_if_done(self, other);
    } while (next_tile(self, lo, hi, q));
    drop_if_done(self, key);
}

//  Part `part` of tile t (key), directory `dir`, record `rec`, is
//  complete: its record goes, and the tile is complete with its last.
static void
part_done(donemap_t *self, uint64_t key, const int64_t *t, uint32_t dir, unsigned part,
          uint32_t rec)
{
    uint64_t *d = pool_at(&self->dirs, dir);
    pool_free(&self->parts, rec);
    dir_set_part(d, part, PART_COMPLETE);
    if ((++d[0] & ((1u << UNFULL_SHIFT) - 1)) == self->nparts)
        tile_complete(self, key, t);
}

//  The first failed level of the block's unit, in the tile's failures
//  (made when absent). -1 when memory runs out.
static int
mark_failed(donemap_t *self, uint32_t dir, uint64_t tile_at, unsigned level)
{
    uint32_t f = dir_fails(pool_at(&self->dirs, dir));
    if (f == NO_REC) {
        if ((f = pool_new(&self->fails)) == NO_REC)
            return -1;
        uint64_t *d = pool_at(&self->dirs, dir);
        d[0] = (d[0] & 0xffffffffu) | (uint64_t)f << 32;
    }
    uint64_t *r = pool_at(&self->fails, f);
    if (unit_get(self, r, tile_at) == 0)
        unit_put(self, r, tile_at, level + 1);
    return 0;
}

//  The calls --------------------------------------------------------------

//  donemap_set's usual case, from the part seen (donemap.h) last: a
//  level of a cell but its last resolved, without failure, in a part with
//  a record. false when not that case.
static bool
set_seen(donemap_t *self, const int64_t *k, unsigned lv)
{
    donemap_fast_t *f = &self->fast;
    uint64_t local[D];
    const donemap_seen_t *seen = donemap_seen_find(f, k, local, f->dims);
    if (!seen || !seen->units || lv + 1 >= self->final)
        return false;
    uint64_t at = donemap_seen_bit(f, local, f->dims);
    //  The record is the pool's, writable; seen keeps it as const.
    uint64_t *units = (uint64_t *)(uintptr_t)seen->units;
    if (unit_get(self, units, at) != lv)
        return false;
    unit_put(self, units, at, lv + 1);
    return true;
}

int
donemap_set(donemap_t *self, const int64_t *k, uint64_t level, bool failed)
{
    if (!failed && set_seen(self, k, self->width == 1 ? 0 : (unsigned)level))
        return 0;
    int64_t t[D];
    uint64_t key = tile_of(self, k, t);
    unsigned lv = self->width == 1 ? 0 : (unsigned)level;
    slot_t *slot = lookup(self, key);
    //  The parts donemap_get has seen stay valid while records are only
    //  written: any record made or freed, or slot moved, forgets them.
    if (!slot)
        self->fast.gen++;
    if (!slot && !(slot = tile_new(self, key, t)))
        return -1;
    if (!(*slot & HAS_DIR))
        return 0;   //  complete already: never happens when each block comes once
    uint32_t dir = *slot & PAYLOAD;
    place_t pl;
    place_of(self, k, &pl);
    uint32_t rec = dir_part(pool_at(&self->dirs, dir), pl.part);
    if (rec == PART_COMPLETE)
        return 0;
    if (rec == PART_UNTOUCHED) {
        self->fast.gen++;
        if ((rec = part_new(self, t, pl.part)) == NO_REC)
            return -1;
        dir_set_part(pool_at(&self->dirs, dir), pl.part, rec);
    }
    uint64_t *r = pool_at(&self->parts, rec);
    unsigned value = unit_get(self, r, pl.at);
    if (value > lv)
        return 0;   //  resolved already: the same
    if (value < lv)
        return -1;  //  a level of a cell before the one below it: cannot happen
    unit_put(self, r, pl.at, lv + 1);
    self->fast.gen += failed;   //  a tile with failures is not seen
    if (failed && mark_failed(self, dir, pl.tile_at, lv) != 0)
        return -1;
    if (lv + 1 == self->final && part_complete(self, pool_at(&self->parts, rec))) {
        self->fast.gen++;
        part_done(self, key, t, dir, pl.part, rec);
    }
    return 0;
}

//  Remember the part of block k for donemap_get: its units, or the value
//  of all of them.
static void
seen_part(donemap_t *self, const int64_t *k, const uint64_t *units, unsigned value)
{
    donemap_fast_t *f = &self->fast;
    unsigned parity = 0;
    for (int d = 0; d < f->dims; d++)
        parity |= (unsigned)((k[d] >> f->part_log2) & 1) << d;
    donemap_seen_t *seen = &f->seen[parity];
    for (int d = 0; d < f->dims; d++)
        seen->origin[d] = k[d] >> f->part_log2 << f->part_log2;
    seen->units = units;
    seen->value = value;
    seen->gen = f->gen;
    f->last = parity;
}

int
donemap_get_slow(donemap_t *self, const int64_t *k, uint64_t level)
{
    int64_t t[D];
    slot_t *slot = lookup(self, tile_of(self, k, t));
    if (!slot || !(*slot & HAS_DIR)) {
        seen_part(self, k, NULL, slot ? self->final : 0);
        return slot ? DONEMAP_OK : DONEMAP_WAITING;
    }
    place_t pl;
    place_of(self, k, &pl);
    unsigned lv = self->width == 1 ? 0 : (unsigned)level;
    const uint64_t *dir = pool_at(&self->dirs, *slot & PAYLOAD);
    uint32_t rec = dir_part(dir, pl.part), f = dir_fails(dir);
    const uint64_t *units = rec < PART_COMPLETE ? pool_at(&self->parts, rec) : NULL;
    if (f == NO_REC)   //  failures are answered here only
        seen_part(self, k, units, rec == PART_COMPLETE ? self->final : 0);
    if (rec == PART_UNTOUCHED || (units && unit_get(self, units, pl.at) <= lv))
        return DONEMAP_WAITING;
    unsigned first = f == NO_REC ? 0 : unit_get(self, pool_at(&self->fails, f), pl.tile_at);
    return first != 0 && lv + 1 >= first ? DONEMAP_FAILED : DONEMAP_OK;
}

size_t
donemap_tiles(const donemap_t *self)
{
    return self->size;
}

size_t
donemap_tiles_with_bits(const donemap_t *self)
{
    return self->with_dir;
}

size_t
donemap_bytes(const donemap_t *self)
{
    return ((size_t)1 << self->log2) * sizeof(slot_t)
         + ((size_t)self->dirs.n * self->dirs.size + (size_t)self->parts.n * self->parts.size
            + (size_t)self->fails.n * self->fails.size) * sizeof(uint64_t);
}
