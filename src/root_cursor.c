/*  root_cursor.c - roots of a task without visiting what is covered

    Along each dimension the interval ends of all upstream tasks cut the
    lattice into segments; inside a segment the set of tasks a coordinate
    escapes is fixed. A point is a root when every task is escaped in at
    least one dimension. count(d, open) - the number of ways to finish
    dimensions d.. when the tasks in `open` are not escaped yet - is a sum
    over the segments of dimension d, memoised per (d, open). It gives the
    exact total, and it tells the search for the next root which segments
    lead anywhere, so finding the next root costs O(dims * segments)
    whatever lies between two roots.
*/
#include "root_cursor.h"

#include <stdlib.h>
#include <string.h>

#define D DAISY_MAX_DIMS
#define MAX_SEGMENTS (2 * ROOT_CURSOR_MAX_UPSTREAM + 1)

typedef struct {
    int64_t begin, end;
    uint32_t escaped;     //  tasks whose interval does not hold this segment
} segment_t;

typedef struct {
    uint32_t open;
    uint64_t count;
} memo_t;

struct _root_cursor_t {
    int dims;
    int64_t extent[D];
    segment_t seg[D][MAX_SEGMENTS];
    int nseg[D];
    memo_t *memo[D];
    size_t nmemo[D], capmemo[D];
    int64_t j[D];         //  next candidate point
    uint32_t all;         //  one bit per upstream task
    bool exhausted;
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

static uint64_t count_from(root_cursor_t *self, int d, uint32_t open);

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
        uint64_t rest = count_from(self, d + 1, open & ~s->escaped);
        count += rest * (uint64_t)(s->end - s->begin);
    }
    memo_store(self, d, open, count);
    return count;
}

root_cursor_t *
root_cursor_new(int dims, const int64_t *extent, int n_up, const int64_t *lo,
                const int64_t *hi)
{
    if (n_up < 0 || n_up > ROOT_CURSOR_MAX_UPSTREAM || dims < 1 || dims > D)
        return NULL;
    root_cursor_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dims = dims;
    for (int d = 0; d < dims; d++)
        self->extent[d] = extent[d] > 0 ? extent[d] : 0;
    for (int d = 0; d < dims; d++)
        build_segments(self, d, n_up, lo, hi);
    self->all = n_up == 32 ? UINT32_MAX : (1u << n_up) - 1;
    self->left = count_from(self, 0, self->all);
    self->exhausted = self->left == 0;
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

//  Move j to the first root at or after it in dimensions d.. (with the
//  earlier dimensions fixed, `tight` while they equal the old j).
static bool
seek(root_cursor_t *self, int d, uint32_t open, bool tight)
{
    if (d >= self->dims || d >= D)
        return open == 0;
    int64_t start = tight ? self->j[d] : 0;
    for (int i = 0; i < self->nseg[d]; i++) {
        const segment_t *s = &self->seg[d][i];
        if (s->end <= start)
            continue;
        uint32_t rest = open & ~s->escaped;
        if (count_from(self, d + 1, rest) == 0)
            continue;
        for (int64_t x = s->begin > start ? s->begin : start; x < s->end; x++) {
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

bool
root_cursor_next(root_cursor_t *self, int64_t *j)
{
    if (self->exhausted || self->left == 0)
        return false;
    if (!seek(self, 0, self->all, true)) {
        self->exhausted = true;
        return false;
    }
    memcpy(j, self->j, (size_t)self->dims * sizeof *j);
    self->left--;
    //  Step past the root just returned.
    int d = self->dims - 1;
    while (d >= 0 && ++self->j[d] == self->extent[d])
        self->j[d--] = 0;
    if (d < 0)
        self->exhausted = true;
    return true;
}

uint64_t
root_cursor_left(const root_cursor_t *self)
{
    return self->left;
}
