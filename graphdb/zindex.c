/*  zindex.c - a spatial key for the nodes: their cell's Morton code

    SQLite's R*Tree inserts a row at a time (30-50,000 rows/s) and a read
    through it looks each node up by rowid. Instead, each node's cell on a
    grid (cell size and origin chosen when the graph is made) is given a
    Morton (Z-order) code, and a WITHOUT ROWID table keyed by (code, id)
    that also holds the position is the index: nodes near each other in
    space are near each other in it, a ROI is a few ranges of codes, and
    the positions are read from the index itself. The code is computed in
    plain SQL in the trigger that keeps the table current (shifts, masks,
    min and max: no function of ours), so rows funlib writes are indexed
    too. Cells outside the grid are clamped to its border: a query then
    reads more rows than it needs, never fewer.
*/
#include "graphdb_internal.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
zgrid_default(zgrid_t *g, const daisy_graph_schema_t *s)
{
    memset(g, 0, sizeof *g);
    g->dims = s->dims;
    g->bits = 63 / s->dims;
    if (g->bits > 31)
        g->bits = 31;
    //  The total ROI, when known, spans the grid; else cells of one world
    //  unit centred on 0 (with 21 bits a side of 2,097,152 units in 3D).
    double span = 0;
    for (uint32_t d = 0; s->has_total_roi && d < s->dims; d++)
        span = fmax(span, (double)s->total_roi.shape[d]);
    g->cell = span > 0 ? fmax(1.0, exp2(ceil(log2(span / exp2(g->bits))))) : 1.0;
    for (uint32_t d = 0; d < s->dims; d++)
        g->origin[d] = s->has_total_roi ? (double)s->total_roi.offset[d]
                                        : -exp2(g->bits - 1) * g->cell;
}

static int64_t
cell_of(const zgrid_t *g, uint32_t d, double p)
{
    double c = (p - g->origin[d]) / g->cell;
    int64_t max = ((int64_t)1 << g->bits) - 1;
    int64_t i = isfinite(c) ? (c >= (double)max ? max : c <= 0 ? 0 : (int64_t)c) : 0;
    return i;
}

static uint64_t
interleave(const zgrid_t *g, const int64_t *c)
{
    uint64_t key = 0;
    for (uint32_t b = 0; b < g->bits; b++)
        for (uint32_t d = 0; d < g->dims; d++)
            key |= (uint64_t)((c[d] >> b) & 1) << (b * g->dims + d);
    return key;
}

uint64_t
zgrid_key(const zgrid_t *g, const double *p)
{
    int64_t c[DAISY_MAX_DIMS];
    for (uint32_t d = 0; d < g->dims; d++)
        c[d] = cell_of(g, d, p[d]);
    return interleave(g, c);
}

void
zgrid_sql_cells(const zgrid_t *g, const char *prefix, const char *position, char *buf,
                size_t size)
{
    size_t used = 0;
    long long max = (1LL << g->bits) - 1;
    buf[0] = '\0';
    for (uint32_t d = 0; d < g->dims && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used,
                                 "%smax(0, min(%lld, CAST((%s\"%s_%u\" - %.17e) / %.17e AS "
                                 "INTEGER))) AS c%u", d ? ", " : "", max, prefix, position, d,
                                 g->origin[d], g->cell, d);
}

void
zgrid_sql_interleave(const zgrid_t *g, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(0");
    for (uint32_t b = 0; b < g->bits && used < size; b++)
        for (uint32_t d = 0; d < g->dims && used < size; d++)
            used += (size_t)snprintf(buf + used, size - used, " | (((c%u >> %u) & 1) << %u)", d, b,
                                     b * g->dims + d);
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

//  A cell of the Morton tree: coords at `level` (level 0: the grid's
//  cells), and the key of its first grid cell. Its children's keys follow
//  from it: child i (bit d: the upper half in dimension d) starts at
//  key + (i << (level - 1) * dims), in increasing order of i.
typedef struct {
    int64_t c[DAISY_MAX_DIMS];
    uint32_t level;
    uint64_t key;
    bool inside;        //  within the ROI's interior (no position test)
} zcell_t;

static int
by_key(const void *a, const void *b)
{
    const zcell_t *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static bool
cell_inside(const zgrid_t *g, const zcell_t *z, const int64_t *lo, const int64_t *hi)
{
    for (uint32_t d = 0; d < g->dims; d++)
        if (z->c[d] << z->level < lo[d] || ((z->c[d] + 1) << z->level) - 1 > hi[d])
            return false;
    return true;
}

//  The key ranges of cells sorted by key, adjacent ones of a kind merged,
//  into out (room for n): their number.
static size_t
cells_to_ranges(const zgrid_t *g, const zcell_t *cells, size_t n, zrange_t *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t first = cells[i].key;
        uint64_t last = first + (((uint64_t)1 << (cells[i].level * g->dims)) - 1);
        if (m > 0 && first <= out[m - 1].hi + 1 && out[m - 1].inside == cells[i].inside)
            out[m - 1].hi = last > out[m - 1].hi ? last : out[m - 1].hi;
        else
            out[m++] = (zrange_t){first, last, cells[i].inside};
    }
    return m;
}

//  The cells of `in` (sorted by key) with partial cells of `level` split
//  into their children that meet the ROI, in key order, as long as the
//  cells stay within `cap`; cells inside the ROI are kept whole. The number written;
//  *split: whether any cell was.
static size_t
refine(const zgrid_t *g, const zcell_t *in, size_t n, zcell_t *out, size_t cap, uint32_t level,
       const int64_t (*bounds)[DAISY_MAX_DIMS], bool *split)
{
    size_t m = 0;
    *split = false;
    for (size_t i = 0; i < n; i++) {
        zcell_t kids[1u << DAISY_MAX_DIMS];
        size_t k = 0;
        const int64_t *lo = bounds[0], *hi = bounds[1];
        if (in[i].level == level && level > 0 && !cell_inside(g, &in[i], lo, hi))
            for (uint32_t child = 0; child < (1u << g->dims); child++) {
                zcell_t z = {.level = in[i].level - 1};
                z.key = in[i].key + ((uint64_t)child << (z.level * g->dims));
                bool meets = true;
                for (uint32_t d = 0; d < g->dims; d++) {
                    z.c[d] = 2 * in[i].c[d] + ((child >> d) & 1);
                    meets = meets && (z.c[d] + 1) << z.level > lo[d]
                         && z.c[d] << z.level <= hi[d];
                }
                z.inside = cell_inside(g, &z, bounds[2], bounds[3]);
                if (meets)
                    kids[k++] = z;
            }
        if (k == 0 || m + k + (n - i - 1) > cap)
            out[m++] = in[i];
        else {
            memcpy(out + m, kids, k * sizeof *kids);
            m += k;
            *split = true;
        }
    }
    return m;
}

//  Start from the coarsest level at which the ROI meets at most 2^dims
//  cells, then split the cells it only partly covers, the largest first,
//  a level at a time, while they stay within `max`: a ROI is read as
//  ranges that hug its border, not as a few big cells around it.
size_t
zgrid_ranges(const zgrid_t *g, const daisy_roi_t *roi, zrange_t *out, size_t max)
{
    //  The cells the ROI meets, lo..hi, and its interior in_lo..in_hi: the
    //  cells all of whose points lie in it, less one cell on each side (a
    //  position's cell is computed in floating point) and never a border
    //  cell of the grid (it holds the positions clamped onto it).
    int64_t bounds[4][DAISY_MAX_DIMS];
    int64_t *lo = bounds[0], *hi = bounds[1], *in_lo = bounds[2], *in_hi = bounds[3];
    int64_t top = ((int64_t)1 << g->bits) - 1;
    for (uint32_t d = 0; d < g->dims; d++) {
        double begin = (double)roi->offset[d], end = (double)(roi->offset[d] + roi->shape[d]);
        lo[d] = cell_of(g, d, begin);
        hi[d] = cell_of(g, d, end);
        double a = ceil((begin - g->origin[d]) / g->cell) + 1;
        double b = floor((end - g->origin[d]) / g->cell) - 2;
        in_lo[d] = a >= (double)top ? top : a <= 1 ? 1 : (int64_t)a;
        in_hi[d] = b >= (double)(top - 1) ? top - 1 : b <= 0 ? 0 : (int64_t)b;
    }
    uint32_t level = 0;
    for (;; level++) {
        double cells = 1;
        for (uint32_t d = 0; d < g->dims; d++)
            cells *= (double)((hi[d] >> level) - (lo[d] >> level) + 1);
        if (cells <= (double)(1u << g->dims) || level == g->bits)
            break;
    }
    size_t cap = max > (1u << g->dims) ? max : (1u << g->dims);
    zcell_t *cur = malloc(cap * sizeof *cur), *next = malloc(cap * sizeof *next);
    size_t n = 0;
    if (cur && next) {
        zcell_t z = {.level = level};
        for (uint32_t d = 0; d < g->dims; d++)
            z.c[d] = lo[d] >> level;
        for (;;) {      //  the cells of the start level, odometer order
            int64_t fine[DAISY_MAX_DIMS];
            for (uint32_t d = 0; d < g->dims; d++)
                fine[d] = z.c[d] << level;
            z.key = interleave(g, fine);
            z.inside = cell_inside(g, &z, in_lo, in_hi);
            cur[n++] = z;
            uint32_t d = 0;
            for (; d < g->dims && ++z.c[d] > hi[d] >> level; d++)
                z.c[d] = lo[d] >> level;
            if (d == g->dims)
                break;
        }
        qsort(cur, n, sizeof *cur, by_key);
        for (bool split = true; split && level > 0; level--) {
            n = refine(g, cur, n, next, cap, level, (const int64_t (*)[DAISY_MAX_DIMS])bounds,
                       &split);
            zcell_t *swap = cur;
            cur = next;
            next = swap;
        }
    }
    size_t m = n && n <= max ? cells_to_ranges(g, cur, n, out) : 0;
    if (m == 0) {       //  out of memory: the whole grid, read and filtered
        out[0] = (zrange_t){0, UINT64_MAX, false};
        m = 1;
    }
    free(cur);
    free(next);
    return m;
}
