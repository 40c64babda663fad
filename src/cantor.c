/*  cantor.c - daisy's block ids: generalised Cantor numbers of grid indices

    Python daisy numbers a block by the Cantor pairing of its grid index,
    extended to n dimensions: C(x) = x, C(x1..xn) = P(n, x1+..+xn) +
    C(x1..x(n-1)), where P(n, e) = e(e+1)..(e+n-1)/n! counts the indices of
    n entries summing to less than e. Users compare ids across tools, so
    they are computed exactly, with 128-bit intermediates and an explicit
    overflow check instead of the floating point daisy uses.

    The inverse peels one dimension at a time: the largest e with
    P(n, e) <= id is the sum of the entries, and the rest of the id is the
    number of the first n-1 entries.
*/
#include "daisy/block.h"

typedef unsigned __int128 u128;

#define ID_LIMIT ((u128)INT64_MAX)

//  P(n, e) = binomial(e + n - 1, n), or ID_LIMIT + 1 when larger than that.
static u128
pyramid_volume(int n, uint64_t e)
{
    u128 v = 1;
    for (int i = 0; i < n; i++) {
        //  v * (e + i) / (i + 1) stays an integer: v is binomial(e+i-1, i).
        //  Both factors stay below 2^64, so the product fits 128 bits.
        u128 f = (u128)e + (u128)i;
        v = v * f / (u128)(i + 1);
        if (v > ID_LIMIT)
            return ID_LIMIT + 1;
    }
    return v;
}

int
daisy_cantor_number(int dims, const int64_t *index, uint64_t *out)
{
    u128 id = 0;
    u128 sum = 0;
    for (int d = 0; d < dims; d++) {
        if (index[d] < 0)
            return -1;
        sum += (u128)index[d];
        if (sum > ID_LIMIT)
            return -1;
        u128 part = d == 0 ? sum : pyramid_volume(d + 1, (uint64_t)sum);
        //  C(x1..xn) adds P(n, sum) on top of C(x1..x(n-1)).
        id = d == 0 ? part : id + part;
        if (id > ID_LIMIT)
            return -1;
    }
    *out = (uint64_t)id;
    return 0;
}

//  Largest e with P(n, e) <= id (P grows with e, so bisect).
static uint64_t
pyramid_floor(int n, uint64_t id)
{
    uint64_t lo = 0, hi = id + 1;   //  P(n, id + 1) > id for n >= 1
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (pyramid_volume(n, mid) <= id)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int
daisy_cantor_index(int dims, uint64_t id, int64_t *index)
{
    if (dims < 1 || dims > DAISY_MAX_DIMS || id > (uint64_t)INT64_MAX)
        return -1;
    for (int d = dims - 1; d > 0; d--) {
        uint64_t sum = pyramid_floor(d + 1, id);
        id -= (uint64_t)pyramid_volume(d + 1, sum);
        //  The remaining id numbers the first d entries, whose sum is at
        //  most `sum`; index[d] takes up the difference once they are known.
        index[d] = (int64_t)sum;
    }
    index[0] = (int64_t)id;
    for (int d = 1; d < dims; d++) {
        int64_t prefix = 0;
        for (int e = 0; e < d; e++)
            prefix += index[e];
        index[d] -= prefix;
        if (index[d] < 0)
            return -1;
    }
    return 0;
}
