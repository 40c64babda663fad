/*  geometry.c - nD coordinates and regions of interest in world units

    Coordinates and ROIs are small plain structs passed and returned by
    value: nothing to allocate or free, so the scheduler can keep millions
    of block ROIs in arrays, copy them into messages and compare them with
    no ownership rules. Entries past `dims` are always zero, which keeps
    memcmp and hashing of whole structs meaningful.

    The semantics follow funlib.geometry (Roi, Coordinate) because daisy
    users already think in those terms:

    - Division is floor division with a non-negative remainder for positive
      divisors, like Python's `//` and `%`. C's truncating `/` would snap
      negative offsets the wrong way (-7 / 2 must be -4, not -3).
    - A ROI is half-open, [begin, end). ROIs that only touch do not
      intersect, and an empty ROI (some shape <= 0) intersects nothing.
    - Two empty ROIs are equal whatever their offsets; the union ignores an
      empty operand.
    - Snapping to a grid works in grid units: begin and end are divided by
      the grid (floor, ceil or round-half-up depending on the mode) and
      multiplied back. A SHRINK snap of a ROI smaller than one grid cell
      can therefore give a negative shape, which is simply an empty ROI.

    Functions that combine two values use the first operand's `dims`; the
    caller guarantees that dimensions agree (pipeline validation does).
    Overflow of int64 world coordinates is outside the contract, except in
    daisy_coord_product, which saturates because sizes of huge volumes are
    legitimately computed there.
*/
#include "daisy/geometry.h"

#include <stdio.h>
#include <string.h>

//  Keep dims inside the arrays whatever a caller passes.
static int
s_clamp_dims(int dims)
{
    if (dims < 0)
        return 0;
    if (dims > DAISY_MAX_DIMS)
        return DAISY_MAX_DIMS;
    return dims;
}

//  Python's a // b. Written with C's truncating division plus a correction
//  so it cannot overflow where the plain quotient does not.
static int64_t
s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0)))
        q--;
    return q;
}

//  Python's a % b: same sign as b, so in [0, b) for b > 0.
static int64_t
s_floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

static int64_t
s_ceil_div(int64_t a, int64_t b)
{
    return s_floor_div(a, b) + (s_floor_mod(a, b) != 0);
}

//  Nearest multiple, exact halves up: floor(a / b + 1/2). Done with the
//  remainder instead of floor((a + b/2) / b) to avoid overflow near the
//  int64 limits; for odd b there are no exact halves and both agree.
static int64_t
s_round_div(int64_t a, int64_t b)
{
    int64_t r = s_floor_mod(a, b);
    return s_floor_div(a, b) + (r >= b - r);
}

//  Coordinates ------------------------------------------------------------

daisy_coord_t
daisy_coord_make(int dims, const int64_t *v)
{
    daisy_coord_t c;
    memset(&c, 0, sizeof c);
    c.dims = s_clamp_dims(dims);
    for (int i = 0; i < c.dims; i++)
        c.v[i] = v[i];
    return c;
}

daisy_coord_t
daisy_coord_fill(int dims, int64_t value)
{
    daisy_coord_t c;
    memset(&c, 0, sizeof c);
    c.dims = s_clamp_dims(dims);
    for (int i = 0; i < c.dims; i++)
        c.v[i] = value;
    return c;
}

bool
daisy_coord_equal(daisy_coord_t a, daisy_coord_t b)
{
    if (a.dims != b.dims)
        return false;
    for (int i = 0; i < a.dims; i++)
        if (a.v[i] != b.v[i])
            return false;
    return true;
}

//  One body for the element-wise operators; only the first `dims` entries
//  are touched so unused (zero) divisors never divide.
#define S_ELEMENTWISE(name, expr)                       \
    daisy_coord_t                                       \
    name(daisy_coord_t a, daisy_coord_t b)              \
    {                                                   \
        daisy_coord_t c = daisy_coord_fill(a.dims, 0);  \
        for (int i = 0; i < c.dims; i++) {              \
            int64_t x = a.v[i], y = b.v[i];             \
            c.v[i] = (expr);                            \
        }                                               \
        return c;                                       \
    }

S_ELEMENTWISE(daisy_coord_add, x + y)
S_ELEMENTWISE(daisy_coord_sub, x - y)
S_ELEMENTWISE(daisy_coord_mul, x * y)
S_ELEMENTWISE(daisy_coord_div, s_floor_div(x, y))
S_ELEMENTWISE(daisy_coord_mod, s_floor_mod(x, y))

#undef S_ELEMENTWISE

int64_t
daisy_coord_product(daisy_coord_t a)
{
    //  A zero anywhere wins even if the other entries would overflow.
    for (int i = 0; i < a.dims; i++)
        if (a.v[i] == 0)
            return 0;
    int64_t p = 1;
    for (int i = 0; i < a.dims; i++)
        if (__builtin_mul_overflow(p, a.v[i], &p))
            return INT64_MAX;
    return p;
}

//  Large enough for six entries of 20 characters and all separators.
#define S_FORMAT_MAX 512

int
daisy_coord_format(daisy_coord_t a, char *buf, size_t len)
{
    char tmp[S_FORMAT_MAX];
    size_t pos = 0;
    tmp[pos++] = '(';
    for (int i = 0; i < a.dims; i++)
        pos += snprintf(tmp + pos, sizeof tmp - pos, "%s%lld",
                        i ? ", " : "", (long long) a.v[i]);
    snprintf(tmp + pos, sizeof tmp - pos, ")");
    return snprintf(buf, len, "%s", tmp);
}

//  ROIs -------------------------------------------------------------------

daisy_roi_t
daisy_roi_make(int dims, const int64_t *offset, const int64_t *shape)
{
    daisy_roi_t r;
    memset(&r, 0, sizeof r);
    r.dims = s_clamp_dims(dims);
    for (int i = 0; i < r.dims; i++) {
        r.offset[i] = offset[i];
        r.shape[i] = shape[i];
    }
    return r;
}

daisy_roi_t
daisy_roi_from(daisy_coord_t offset, daisy_coord_t shape)
{
    return daisy_roi_make(offset.dims, offset.v, shape.v);
}

daisy_coord_t
daisy_roi_begin(const daisy_roi_t *r)
{
    return daisy_coord_make(r->dims, r->offset);
}

daisy_coord_t
daisy_roi_end(const daisy_roi_t *r)
{
    return daisy_coord_add(daisy_roi_offset(r), daisy_roi_shape(r));
}

daisy_coord_t
daisy_roi_offset(const daisy_roi_t *r)
{
    return daisy_coord_make(r->dims, r->offset);
}

daisy_coord_t
daisy_roi_shape(const daisy_roi_t *r)
{
    return daisy_coord_make(r->dims, r->shape);
}

daisy_coord_t
daisy_roi_center(const daisy_roi_t *r)
{
    daisy_coord_t c = daisy_roi_offset(r);
    for (int i = 0; i < c.dims; i++)
        c.v[i] += s_floor_div(r->shape[i], 2);
    return c;
}

int64_t
daisy_roi_size(const daisy_roi_t *r)
{
    if (daisy_roi_empty(r))
        return 0;
    return daisy_coord_product(daisy_roi_shape(r));
}

bool
daisy_roi_empty(const daisy_roi_t *r)
{
    for (int i = 0; i < r->dims; i++)
        if (r->shape[i] <= 0)
            return true;
    return false;
}

bool
daisy_roi_equal(const daisy_roi_t *a, const daisy_roi_t *b)
{
    if (a->dims != b->dims)
        return false;
    bool a_empty = daisy_roi_empty(a);
    bool b_empty = daisy_roi_empty(b);
    if (a_empty || b_empty)
        return a_empty && b_empty;
    for (int i = 0; i < a->dims; i++)
        if (a->offset[i] != b->offset[i] || a->shape[i] != b->shape[i])
            return false;
    return true;
}

bool
daisy_roi_contains_coord(const daisy_roi_t *r, daisy_coord_t p)
{
    for (int i = 0; i < r->dims; i++)
        if (p.v[i] < r->offset[i] || p.v[i] >= r->offset[i] + r->shape[i])
            return false;
    return true;
}

bool
daisy_roi_contains(const daisy_roi_t *r, const daisy_roi_t *other)
{
    daisy_coord_t begin = daisy_roi_begin(other);
    if (daisy_roi_empty(other))
        return daisy_roi_contains_coord(r, begin);
    //  Half-open: the last point of `other` is end - 1.
    daisy_coord_t last = daisy_coord_sub(daisy_roi_end(other),
                                         daisy_coord_fill(other->dims, 1));
    return daisy_roi_contains_coord(r, begin)
        && daisy_roi_contains_coord(r, last);
}

bool
daisy_roi_intersects(const daisy_roi_t *a, const daisy_roi_t *b)
{
    if (daisy_roi_empty(a) || daisy_roi_empty(b))
        return false;
    for (int i = 0; i < a->dims; i++) {
        if (a->offset[i] >= b->offset[i] + b->shape[i]
        ||  b->offset[i] >= a->offset[i] + a->shape[i])
            return false;
    }
    return true;
}

daisy_roi_t
daisy_roi_intersect(const daisy_roi_t *a, const daisy_roi_t *b)
{
    daisy_roi_t r = *a;
    if (!daisy_roi_intersects(a, b)) {
        for (int i = 0; i < r.dims; i++)
            r.shape[i] = 0;
        return r;
    }
    for (int i = 0; i < r.dims; i++) {
        int64_t a_end = a->offset[i] + a->shape[i];
        int64_t b_end = b->offset[i] + b->shape[i];
        int64_t begin = a->offset[i] > b->offset[i] ? a->offset[i] : b->offset[i];
        int64_t end = a_end < b_end ? a_end : b_end;
        r.offset[i] = begin;
        r.shape[i] = end - begin;
    }
    return r;
}

daisy_roi_t
daisy_roi_union(const daisy_roi_t *a, const daisy_roi_t *b)
{
    if (daisy_roi_empty(a))
        return *b;
    if (daisy_roi_empty(b))
        return *a;
    daisy_roi_t r = *a;
    for (int i = 0; i < r.dims; i++) {
        int64_t a_end = a->offset[i] + a->shape[i];
        int64_t b_end = b->offset[i] + b->shape[i];
        int64_t begin = a->offset[i] < b->offset[i] ? a->offset[i] : b->offset[i];
        int64_t end = a_end > b_end ? a_end : b_end;
        r.offset[i] = begin;
        r.shape[i] = end - begin;
    }
    return r;
}

daisy_roi_t
daisy_roi_shift(const daisy_roi_t *r, daisy_coord_t by)
{
    daisy_roi_t s = *r;
    for (int i = 0; i < s.dims; i++)
        s.offset[i] += by.v[i];
    return s;
}

daisy_roi_t
daisy_roi_grow(const daisy_roi_t *r, daisy_coord_t neg, daisy_coord_t pos)
{
    daisy_roi_t g = *r;
    for (int i = 0; i < g.dims; i++) {
        g.offset[i] -= neg.v[i];
        g.shape[i] += neg.v[i] + pos.v[i];
    }
    return g;
}

daisy_roi_t
daisy_roi_snap(const daisy_roi_t *r, daisy_coord_t grid, daisy_snap_t mode)
{
    daisy_roi_t s = *r;
    for (int i = 0; i < s.dims; i++) {
        int64_t g = grid.v[i];
        int64_t begin = r->offset[i];
        int64_t end = r->offset[i] + r->shape[i];
        switch (mode) {
            case DAISY_SNAP_GROW:
                begin = s_floor_div(begin, g);
                end = s_ceil_div(end, g);
                break;
            case DAISY_SNAP_SHRINK:
                begin = s_ceil_div(begin, g);
                end = s_floor_div(end, g);
                break;
            case DAISY_SNAP_CLOSEST:
            default:
                begin = s_round_div(begin, g);
                end = s_round_div(end, g);
                break;
        }
        s.offset[i] = begin * g;
        s.shape[i] = (end - begin) * g;
    }
    return s;
}

daisy_roi_t
daisy_roi_mul(const daisy_roi_t *r, daisy_coord_t voxel_size)
{
    daisy_roi_t m = *r;
    for (int i = 0; i < m.dims; i++) {
        m.offset[i] *= voxel_size.v[i];
        m.shape[i] *= voxel_size.v[i];
    }
    return m;
}

int
daisy_roi_div(const daisy_roi_t *r, daisy_coord_t voxel_size, daisy_roi_t *out)
{
    //  Check everything first so a failure leaves *out untouched.
    for (int i = 0; i < r->dims; i++)
        if (s_floor_mod(r->offset[i], voxel_size.v[i]) != 0
        ||  s_floor_mod(r->shape[i], voxel_size.v[i]) != 0)
            return -1;
    daisy_roi_t d = *r;
    for (int i = 0; i < d.dims; i++) {
        d.offset[i] = s_floor_div(r->offset[i], voxel_size.v[i]);
        d.shape[i] = s_floor_div(r->shape[i], voxel_size.v[i]);
    }
    *out = d;
    return 0;
}

int
daisy_roi_format(const daisy_roi_t *r, char *buf, size_t len)
{
    if (daisy_roi_empty(r))
        return snprintf(buf, len, "[empty ROI]");
    char tmp[S_FORMAT_MAX];
    size_t pos = 0;
    tmp[pos++] = '[';
    for (int i = 0; i < r->dims; i++)
        pos += snprintf(tmp + pos, sizeof tmp - pos, "%s%lld:%lld",
                        i ? ", " : "", (long long) r->offset[i],
                        (long long) (r->offset[i] + r->shape[i]));
    pos += snprintf(tmp + pos, sizeof tmp - pos, "] (");
    for (int i = 0; i < r->dims; i++)
        pos += snprintf(tmp + pos, sizeof tmp - pos, "%s%lld",
                        i ? ", " : "", (long long) r->shape[i]);
    snprintf(tmp + pos, sizeof tmp - pos, ")");
    return snprintf(buf, len, "%s", tmp);
}
