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

static int
by_low(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

size_t
zgrid_ranges(const zgrid_t *g, const daisy_roi_t *roi, uint64_t (*out)[2], size_t max)
{
    int64_t lo[DAISY_MAX_DIMS], hi[DAISY_MAX_DIMS];
    for (uint32_t d = 0; d < g->dims; d++) {
        lo[d] = cell_of(g, d, (double)roi->offset[d]);
        hi[d] = cell_of(g, d, (double)(roi->offset[d] + roi->shape[d]));
    }
    //  The finest level at which the ROI covers at most `max` cells.
    uint32_t level = 0;
    for (;; level++) {
        double cells = 1;
        for (uint32_t d = 0; d < g->dims; d++)
            cells *= (double)((hi[d] >> level) - (lo[d] >> level) + 1);
        if (cells <= (double)max || level == g->bits)
            break;
    }
    int64_t c[DAISY_MAX_DIMS];
    for (uint32_t d = 0; d < g->dims; d++)
        c[d] = lo[d] >> level;
    size_t n = 0;
    for (;;) {
        int64_t fine[DAISY_MAX_DIMS];
        for (uint32_t d = 0; d < g->dims; d++)
            fine[d] = c[d] << level;
        uint64_t first = interleave(g, fine), span = (uint64_t)1 << (level * g->dims);
        if (n < max) {
            out[n][0] = first;
            out[n][1] = first + (span - 1);
            n++;
        }
        uint32_t d = 0;     //  next coarse cell, odometer order
        for (; d < g->dims && ++c[d] > hi[d] >> level; d++)
            c[d] = lo[d] >> level;
        if (d == g->dims)
            break;
    }
    qsort(out, n, sizeof out[0], by_low);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && out[i][0] <= out[m - 1][1] + 1) {
            if (out[i][1] > out[m - 1][1])
                out[m - 1][1] = out[i][1];
        } else {
            out[m][0] = out[i][0];
            out[m][1] = out[i][1];
            m++;
        }
    }
    return m;
}
