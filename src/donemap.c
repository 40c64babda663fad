/*  donemap.c - resolved bits over tiles of a grid, in a hash of tiles

    See donemap.h for what and why. Tiles are keyed by their index in the
    grid of tiles and held in an open-addressing hash with linear probing
    and backward-shift deletion (as blockmap.c, kept between 1/8 and 1/2
    full), a 16-byte slot each. A tile's bits live in a record of a pool
    of equal records (one header word, then the bits), so that a tile
    costs no allocation of its own and records freed by complete tiles
    are reused by the next ones: the pool follows the tiles being worked
    on, the hash the border of the region done.

    Failures are rare, so a tile's failed bits are a second record, made
    by its first failure; a complete tile keeps its records only when it
    has one (its blocks answer one by one), else it keeps no record.

    Cells (donemap_new's `cell`): a cell is the box of one block of each
    level, and inside a whole cell each level waits for the level before
    it in the same cell, so its blocks are resolved in level order and
    the number resolved says which (4 bits for up to 15 levels, where a
    bit per block takes 8 for the usual 8 levels). A unit of a record is
    then a cell holding that number (and in the failed record, the first
    failed level plus one: every later level of the cell waits for it,
    so it fails too); without cells a unit is a block holding 0 or 1, as
    if every block were a cell of one level.
*/
#include "donemap.h"

#include <stdlib.h>
#include <string.h>

#include "daisy/geometry.h"

#define D DAISY_MAX_DIMS
#define MIN_LOG2 6
#define NO_TILE UINT64_MAX
#define NO_REC UINT32_MAX
//  In a slot's `unfull`: the tile itself is complete.
#define COMPLETE 0x80000000u

typedef struct {
    uint64_t key;        //  tile index, or NO_TILE: a free slot
    uint32_t rec;        //  its record, or NO_REC: complete, without failures
    uint32_t unfull;     //  neighbours not complete, and COMPLETE
} slot_t;

struct _donemap_t {
    int dims;
    unsigned s;                  //  tile side log2
    unsigned cell_log2[D];       //  cell side log2 (0 without cells)
    unsigned width;              //  bits per unit: 1 (a block) or 4 (a cell)
    int64_t n[D];                //  grid shape in blocks
    int64_t nt[D];               //  grid shape in tiles
    int64_t r[D];                //  neighbourhood radius in tiles
    uint64_t tstride[D];         //  index distance of neighbouring tiles
    slot_t *slots;
    unsigned log2;
    size_t size;
    //  Records: header (low 32 bits: blocks resolved, or the next free
    //  record; high 32: the failed bits' record or NO_REC), then bits.
    uint64_t *pool;
    size_t words;                //  per record
    uint32_t nrec, caprec, free_rec;
    size_t with_bits;            //  slots with a record
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

static slot_t *
slots_new(size_t n)
{
    slot_t *slots = malloc(n * sizeof *slots);
    for (size_t i = 0; slots && i < n; i++)
        slots[i] = (slot_t){.key = NO_TILE};
    return slots;
}

donemap_t *
donemap_new(int dims, const int64_t *n, const int64_t *reach, const int64_t *cell,
            unsigned side_log2)
{
    donemap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dims = dims;
    self->s = side_log2;
    self->width = cell ? 4 : 1;
    uint64_t units = 1, stride = 1;
    for (int d = dims - 1; d >= 0; d--) {
        int64_t side = (int64_t)1 << side_log2;
        self->n[d] = n[d];
        self->nt[d] = (n[d] + side - 1) >> side_log2;
        self->r[d] = (reach[d] + side - 1) >> side_log2;
        self->tstride[d] = stride;
        stride *= (uint64_t)self->nt[d];
        self->cell_log2[d] = cell ? (unsigned)__builtin_ctzll((uint64_t)cell[d]) : 0;
        units <<= side_log2 - self->cell_log2[d];
    }
    self->words = 1 + (units * self->width + 63) / 64;
    self->free_rec = NO_REC;
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
    if (!*self_p)
        return;
    free((*self_p)->slots);
    free((*self_p)->pool);
    free(*self_p);
    *self_p = NULL;
}

//  Records ----------------------------------------------------------------

static uint64_t *
record(const donemap_t *self, uint32_t rec)
{
    return self->pool + (size_t)rec * self->words;
}

//  A zeroed record (its failed record NO_REC), or NO_REC when memory runs
//  out. Pointers into the pool are invalid after it.
static uint32_t
record_new(donemap_t *self)
{
    uint32_t rec = self->free_rec;
    if (rec != NO_REC) {
        self->free_rec = (uint32_t)record(self, rec)[0];
    } else {
        if (self->nrec == self->caprec) {
            if (self->caprec >= NO_REC / 2)
                return NO_REC;
            uint32_t cap = self->caprec ? self->caprec * 2 : 64;
            uint64_t *pool = realloc(self->pool, (size_t)cap * self->words * sizeof *pool);
            if (!pool)
                return NO_REC;
            self->pool = pool;
            self->caprec = cap;
        }
        rec = self->nrec++;
    }
    uint64_t *r = record(self, rec);
    memset(r, 0, self->words * sizeof *r);
    r[0] = (uint64_t)NO_REC << 32;
    return rec;
}

static void
record_free(donemap_t *self, uint32_t rec)
{
    record(self, rec)[0] = self->free_rec;
    self->free_rec = rec;
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
    while (self->slots[i].key != NO_TILE && self->slots[i].key != key)
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
    if (self->slots[i].key == NO_TILE)
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
        if (old[i].key != NO_TILE)
            self->slots[find_slot(self, old[i].key)] = old[i];
    free(old);
    return 0;
}

//  Empty slot i (backward shift, as blockmap.c's remove_at), freeing its
//  records.
static void
remove_at(donemap_t *self, size_t i)
{
    uint32_t rec = self->slots[i].rec;
    if (rec != NO_REC) {
        uint32_t failed = (uint32_t)(record(self, rec)[0] >> 32);
        if (failed != NO_REC)
            record_free(self, failed);
        record_free(self, rec);
        self->with_bits--;
    }
    size_t mask = ((size_t)1 << self->log2) - 1;
    size_t j = i;
    self->last_key = NO_TILE;
    for (;;) {
        j = (j + 1) & mask;
        if (self->slots[j].key == NO_TILE)
            break;
        size_t h = home(self->slots[j].key, self->log2);
        bool between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (!between) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = (slot_t){.key = NO_TILE};
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

//  The first bit of block k's unit in its tile's record (after the
//  header word).
static uint64_t
bit_of(const donemap_t *self, const int64_t *k)
{
    uint64_t mask = ((uint64_t)1 << self->s) - 1, unit = 0;
    for (int d = 0; d < self->dims; d++) {
        unsigned c = self->cell_log2[d];
        unit = (unit << (self->s - c)) | (((uint64_t)k[d] & mask) >> c);
    }
    return unit * self->width;
}

//  The unit at `bit` of a record (bits after its header word).
static unsigned
unit_get(const donemap_t *self, const uint64_t *r, uint64_t bit)
{
    return (unsigned)(r[1 + bit / 64] >> (bit % 64)) & ((1u << self->width) - 1);
}

static void
unit_put(const donemap_t *self, uint64_t *r, uint64_t bit, unsigned value)
{
    uint64_t mask = ((uint64_t)1 << self->width) - 1;
    r[1 + bit / 64] = (r[1 + bit / 64] & ~(mask << (bit % 64))) | (uint64_t)value << (bit % 64);
}

//  Blocks of the grid in tile t (tiles at the grid's far edges are cut).
static uint64_t
tile_blocks(const donemap_t *self, const int64_t *t)
{
    uint64_t blocks = 1;
    int64_t side = (int64_t)1 << self->s;
    for (int d = 0; d < self->dims; d++) {
        int64_t left = self->n[d] - (t[d] << self->s);
        blocks *= (uint64_t)(left < side ? left : side);
    }
    return blocks;
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

//  The next tile of the box lo..hi (inclusive) after q, and its key; false
//  past the last.
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

static uint64_t
key_of(const donemap_t *self, const int64_t *t)
{
    uint64_t key = 0;
    for (int d = 0; d < self->dims; d++)
        key += (uint64_t)t[d] * self->tstride[d];
    return key;
}

//  A new entry for tile t (key): a zeroed record, and its count of
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
        unfull += other != key && !(slot && slot->unfull & COMPLETE);
    } while (next_tile(self, lo, hi, q));
    if ((self->size + 1) * 2 > (size_t)1 << self->log2 && resize(self, self->log2 + 1) != 0)
        return NULL;
    uint32_t rec = record_new(self);
    if (rec == NO_REC)
        return NULL;
    size_t i = find_slot(self, key);
    self->slots[i] = (slot_t){.key = key, .rec = rec, .unfull = unfull};
    self->size++;
    self->with_bits++;
    self->last_key = NO_TILE;
    return &self->slots[i];
}

//  Remove tile `key` when it is complete and so are all its neighbours.
static void
drop_if_done(donemap_t *self, uint64_t key)
{
    size_t i = find_slot(self, key);
    if (self->slots[i].key == key && self->slots[i].unfull == COMPLETE)
        remove_at(self, i);
}

//  Tile t (key) is complete: its bits go unless a block failed, its
//  neighbours count it, and those that wait for nothing more go, as it
//  does itself when its neighbours are all complete already.
static void
tile_complete(donemap_t *self, uint64_t key, const int64_t *t)
{
    slot_t *slot = lookup(self, key);
    slot->unfull |= COMPLETE;
    uint32_t rec = slot->rec;
    if ((uint32_t)(record(self, rec)[0] >> 32) == NO_REC) {
        record_free(self, rec);
        slot->rec = NO_REC;
        self->with_bits--;
    }
    int64_t lo[D], hi[D], q[D];
    neighbourhood(self, t, lo, hi, q);
    do {
        uint64_t other = key_of(self, q);
        slot_t *n = other == key ? NULL : lookup(self, other);
        if (!n)
            continue;
        n->unfull--;
        if (n->unfull == COMPLETE)
            drop_if_done(self, other);
    } while (next_tile(self, lo, hi, q));
    drop_if_done(self, key);
}

//  The calls --------------------------------------------------------------

//  The record holding the tile's failures, made when absent; NO_REC when
//  memory runs out.
static uint32_t
failed_record(donemap_t *self, uint32_t rec)
{
    uint32_t f = (uint32_t)(record(self, rec)[0] >> 32);
    if (f != NO_REC || (f = record_new(self)) == NO_REC)
        return f;
    uint64_t *r = record(self, rec);   //  the pool may have moved
    r[0] = (r[0] & 0xffffffffu) | (uint64_t)f << 32;
    return f;
}

int
donemap_set(donemap_t *self, const int64_t *k, uint64_t level, bool failed)
{
    int64_t t[D];
    uint64_t key = tile_of(self, k, t), bit = bit_of(self, k);
    unsigned lv = self->width == 1 ? 0 : (unsigned)level;
    slot_t *slot = lookup(self, key);
    if (!slot && !(slot = tile_new(self, key, t)))
        return -1;
    if (slot->rec == NO_REC)
        return 0;   //  complete already: never happens when each block comes once
    uint32_t rec = slot->rec;
    unsigned value = unit_get(self, record(self, rec), bit);
    if (value > lv)
        return 0;   //  resolved already: the same
    if (value < lv)
        return -1;  //  a level of a cell before the one below it: cannot happen
    unit_put(self, record(self, rec), bit, lv + 1);
    if (failed) {
        uint32_t f = failed_record(self, rec);
        if (f == NO_REC)
            return -1;
        if (unit_get(self, record(self, f), bit) == 0)
            unit_put(self, record(self, f), bit, lv + 1);
    }
    uint64_t *r = record(self, rec);
    r[0]++;
    if ((r[0] & 0xffffffffu) == tile_blocks(self, t))
        tile_complete(self, key, t);
    return 0;
}

int
donemap_get(donemap_t *self, const int64_t *k, uint64_t level)
{
    int64_t t[D];
    slot_t *slot = lookup(self, tile_of(self, k, t));
    if (!slot)
        return DONEMAP_WAITING;
    if (slot->rec == NO_REC)
        return DONEMAP_OK;
    uint64_t bit = bit_of(self, k);
    unsigned lv = self->width == 1 ? 0 : (unsigned)level;
    const uint64_t *r = record(self, slot->rec);
    if (unit_get(self, r, bit) <= lv)
        return DONEMAP_WAITING;
    uint32_t f = (uint32_t)(r[0] >> 32);
    unsigned first = f == NO_REC ? 0 : unit_get(self, record(self, f), bit);
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
    return self->with_bits;
}
