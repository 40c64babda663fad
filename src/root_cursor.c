/*  root_cursor.c - roots of a task, tile by tile along a Z-order curve

    Coverage: along each dimension the interval ends of all upstream tasks
    cut the lattice into segments; inside a segment the set of tasks a
    coordinate escapes is fixed. A point is a root when every task is
    escaped in at least one dimension. count(d, open) - the number of ways
    to finish dimensions d.. inside a box when the tasks in `open` are not
    escaped yet - is a sum over the segments of dimension d cut to the box,
    memoised per (d, open) for that box. It gives the exact total (the box
    is the whole lattice), tells the walk below which boxes hold no root at
    all, and tells the search for the next root inside a tile which
    segments lead anywhere, so finding the next root costs O(dims *
    segments) whatever lies between two roots.

    Order (why: root_cursor.h): a depth-first walk over boxes, from the
    whole lattice down, keeping the boxes still to visit on a stack. A box
    without a root is dropped (one count); a box of at most TILE_POINTS
    points is a tile; any other box is halved in the dimension longest for
    its weight, and the lower half is visited first. Inside a tile, points
    go in lexicographic order: the tile is small, so that order costs
    nothing in frontier, and a tile whose points are all roots is walked
    with plain increments.
*/
#include "root_cursor.h"

#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

#define D DAISY_MAX_DIMS
#define MAX_SEGMENTS (2 * ROOT_CURSOR_MAX_UPSTREAM + 1)
#define TILE_POINTS 512
//  Pending boxes of the walk: one per level of splitting, and a box of a
//  lattice of fewer than 2^63 points is split at most ~110 times (each
//  split leaves at most 2/3 of the points on either side).
#define MAX_PENDING 160

typedef struct {
    int64_t begin, end;
    uint32_t escaped;     //  tasks whose interval does not hold this segment
} segment_t;

typedef struct {
    uint32_t open;
    uint64_t count;
} memo_t;

//  A box of lattice points [lo, hi).
typedef struct {
    int64_t lo[D], hi[D];
} box_t;

struct _root_cursor_t {
    int dims;
    int n_up;
    int64_t extent[D];
    segment_t seg[D][MAX_SEGMENTS];
    int nseg[D];
    uint32_t all;         //  one bit per upstream task
    //  The box being counted or searched, with its memo.
    int64_t box_lo[D], box_hi[D];
    memo_t *memo[D];
    size_t nmemo[D], capmemo[D];
    //  The walk over tiles: boxes still to visit, the next on top.
    double weight[D];
    box_t pending[MAX_PENDING];
    int npending;
    //  The tile being handed out: its box is box_lo..box_hi.
    bool in_tile;
    bool full;            //  every point of it is a root
    int64_t j[D];         //  next candidate point in it
    uint64_t left;
};

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t
clamp(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static void
build_segments(root_cursor_t *self, int d, int n_up, const int64_t *lo, const int64_t *hi)
{
    int64_t cuts[MAX_SEGMENTS + 1];
    int ncuts = 0;
    cuts[ncuts++] = 0;
    cuts[ncuts++] = self->extent[d];
    for (int u = 0; u < n_up; u++) {
        cuts[ncuts++] = clamp(lo[u * self->dims + d], 0, self->extent[d]);
        cuts[ncuts++] = clamp(hi[u * self->dims + d], 0, self->extent[d]);
    }
    qsort(cuts, (size_t)ncuts, sizeof cuts[0], cmp_i64);
    int n = 0;
    for (int i = 0; i + 1 < ncuts; i++) {
        if (cuts[i] == cuts[i + 1])
            continue;
        segment_t *s = &self->seg[d][n++];
        s->begin = cuts[i];
        s->end = cuts[i + 1];
        s->escaped = 0;
        for (int u = 0; u < n_up; u++) {
            int64_t a = lo[u * self->dims + d], b = hi[u * self->dims + d];
            if (s->begin >= b || s->end <= a || a >= b)
                s->escaped |= 1u << u;
        }
    }
    self->nseg[d] = n;
}

//  Counting inside a box --------------------------------------------------

static void
set_box(root_cursor_t *self, const int64_t *lo, const int64_t *hi)
{
    for (int d = 0; d < self->dims; d++) {
        self->box_lo[d] = lo[d];
        self->box_hi[d] = hi[d];
        self->nmemo[d] = 0;
    }
}

static uint64_t
memo_lookup(root_cursor_t *self, int d, uint32_t open, bool *found)
{
    for (size_t i = 0; i < self->nmemo[d]; i++)
        if (self->memo[d][i].open == open) {
            *found = true;
            return self->memo[d][i].count;
        }
    *found = false;
    return 0;
}

static void
memo_store(root_cursor_t *self, int d, uint32_t open, uint64_t count)
{
    if (self->nmemo[d] == self->capmemo[d]) {
        size_t cap = self->capmemo[d] ? self->capmemo[d] * 2 : 8;
        memo_t *m = realloc(self->memo[d], cap * sizeof *m);
        if (!m)
            return;   //  without memory the count is recomputed, not lost
        self->memo[d] = m;
        self->capmemo[d] = cap;
    }
    self->memo[d][self->nmemo[d]++] = (memo_t){.open = open, .count = count};
}

//  Roots of the box with dimensions ..d-1 fixed and `open` not escaped yet.
static uint64_t
count_from(root_cursor_t *self, int d, uint32_t open)
{
    //  d < D as well, for the compiler's bounds analysis.
    if (d >= self->dims || d >= D)
        return open == 0;
    bool found;
    uint64_t count = memo_lookup(self, d, open, &found);
    if (found)
        return count;
    for (int i = 0; i < self->nseg[d]; i++) {
        const segment_t *s = &self->seg[d][i];
        int64_t b = max64(s->begin, self->box_lo[d]), e = min64(s->end, self->box_hi[d]);
        if (b >= e)
            continue;
        uint64_t rest = count_from(self, d + 1, open & ~s->escaped);
        count += rest * (uint64_t)(e - b);
    }
    memo_store(self, d, open, count);
    return count;
}

//  Move j to the first root at or after it in dimensions d.. of the box
//  (with the earlier dimensions fixed, `tight` while they equal the old j).
static bool
seek(root_cursor_t *self, int d, uint32_t open, bool tight)
{
    if (d >= self->dims || d >= D)
        return open == 0;
    int64_t start = tight ? self->j[d] : self->box_lo[d];
    for (int i = 0; i < self->nseg[d]; i++) {
        const segment_t *s = &self->seg[d][i];
        int64_t b = max64(s->begin, start), e = min64(s->end, self->box_hi[d]);
        if (b >= e)
            continue;
        uint32_t rest = open & ~s->escaped;
        if (count_from(self, d + 1, rest) == 0)
            continue;
        for (int64_t x = b; x < e; x++) {
            bool still_tight = tight && x == start;
            self->j[d] = x;
            if (seek(self, d + 1, rest, still_tight))
                return true;
            //  Only a tight prefix can fail: past it every point of a
            //  segment with a non-zero count leads to a root.
            if (!still_tight)
                return false;
        }
    }
    return false;
}

//  The walk over tiles -----------------------------------------------------

static uint64_t
volume(const box_t *b, int dims)
{
    uint64_t v = 1;
    for (int d = 0; d < dims; d++)
        v *= (uint64_t)(b->hi[d] - b->lo[d]);
    return v;
}

//  The dimension to halve: the longest for its weight (see the header).
static int
split_dim(const root_cursor_t *self, const box_t *b)
{
    int best = -1;
    double longest = 0;
    for (int d = 0; d < self->dims; d++) {
        double size = (double)(b->hi[d] - b->lo[d]) / self->weight[d];
        if (b->hi[d] - b->lo[d] > 1 && size > longest) {
            best = d;
            longest = size;
        }
    }
    return best;
}

//  Make the next tile holding a root current; false when none is left.
static bool
next_tile(root_cursor_t *self)
{
    while (self->npending > 0) {
        box_t b = self->pending[--self->npending];
        set_box(self, b.lo, b.hi);
        uint64_t roots = self->n_up ? count_from(self, 0, self->all) : 1;
        if (roots == 0)
            continue;
        uint64_t points = volume(&b, self->dims);
        int d = split_dim(self, &b);
        if (points <= TILE_POINTS || d < 0 || self->npending + 2 > MAX_PENDING) {
            memcpy(self->j, b.lo, sizeof b.lo);
            self->full = self->n_up == 0 || roots == points;
            return true;
        }
        //  The upper half first onto the stack, so the lower half comes next.
        int64_t mid = b.lo[d] + (b.hi[d] - b.lo[d]) / 2;
        box_t *upper = &self->pending[self->npending++];
        *upper = b;
        upper->lo[d] = mid;
        box_t *lower = &self->pending[self->npending++];
        *lower = b;
        lower->hi[d] = mid;
    }
    return false;
}

//  Public -----------------------------------------------------------------

root_cursor_t *
root_cursor_new(int dims, const int64_t *extent, const double *weight, int n_up,
                const int64_t *lo, const int64_t *hi)
{
    if (n_up < 0 || n_up > ROOT_CURSOR_MAX_UPSTREAM || dims < 1 || dims > D)
        return NULL;
    root_cursor_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dims = dims;
    self->n_up = n_up;
    for (int d = 0; d < dims; d++)
        self->extent[d] = extent[d] > 0 ? extent[d] : 0;
    for (int d = 0; d < dims; d++)
        build_segments(self, d, n_up, lo, hi);
    self->all = n_up == 32 ? UINT32_MAX : (1u << n_up) - 1;
    box_t *all = &self->pending[self->npending++];
    for (int d = 0; d < dims; d++) {
        all->lo[d] = 0;
        all->hi[d] = self->extent[d];
        self->weight[d] = weight && weight[d] > 0 ? weight[d] : 1;
    }
    set_box(self, all->lo, all->hi);
    self->left = count_from(self, 0, self->all);
    return self;
}

void
root_cursor_destroy(root_cursor_t **self_p)
{
    root_cursor_t *self = *self_p;
    if (!self)
        return;
    for (int d = 0; d < D; d++)
        free(self->memo[d]);
    free(self);
    *self_p = NULL;
}

bool
root_cursor_next(root_cursor_t *self, int64_t *j)
{
    if (self->left == 0)
        return false;
    for (;;) {
        if (!self->in_tile) {
            if (!next_tile(self)) {
                self->left = 0;   //  cannot happen while the count is right
                return false;
            }
            self->in_tile = true;
        }
        if (self->full || seek(self, 0, self->all, true))
            break;
        self->in_tile = false;
    }
    for (int d = 0; d < self->dims; d++)
        j[d] = self->j[d];
    self->left--;
    //  Step past the root just returned, inside the tile.
    int d = self->dims - 1;
    while (d >= 0 && ++self->j[d] == self->box_hi[d]) {
        self->j[d] = self->box_lo[d];
        d--;
    }
    if (d < 0)
        self->in_tile = false;
    return true;
}

uint64_t
root_cursor_left(const root_cursor_t *self)
{
    return self->left;
}
