/*  cantor.c - daisy's block ids: generalised Cantor numbers of grid indices

    Python daisy numbers a block by the Cantor pairing of its grid index,
    extended to n dimensions: C(x) = x, C(x1..xn) = P(n, x1+..+xn) +
    C(x1..x(n-1)), where P(n, e) = e(e+1)..(e+n-1)/n! counts the indices of
    n entries summing to less than e. Users compare ids across tools, so
    they are computed exactly, with an explicit overflow check instead of
    the floating point daisy uses.

    The scheduler computes an id for every block it hands out, so the
    common case is fast: when the product e(e+1)..(e+n-1) fits in 64 bits
    (in 3D while the index sums to less than 2^21: grids of up to about
    700,000 blocks per dimension), P is that product divided by the
    constant n!, which the compiler turns into a multiplication. Otherwise P is built up as binomial(e+i, i+1) =
    binomial(e+i-1, i) (e+i) / (i+1), cancelling the common factor of the
    running value and i+1 first so that every step is exact in 64 bits
    and an overflow is caught by the multiplication itself. Ids above
    2^63 - 1 are refused, as before; no step needs 128-bit arithmetic.

    The inverse peels one dimension at a time: the largest e with
    P(n, e) <= id is the sum of the entries, and the rest of the id is the
    number of the first n-1 entries.
*/
#include "daisy/block.h"

#include <stdbool.h>

#define ID_LIMIT ((uint64_t)INT64_MAX)
#define SATURATED (ID_LIMIT + 1)

static uint64_t
gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

//  P(n, e) for n <= DAISY_MAX_DIMS when e(e+1)..(e+n-1) < 2^64; false
//  otherwise. The limits keep (e + n - 1)^n below 2^64.
static bool
pyramid_small(int n, uint64_t e, uint64_t *out)
{
    static const uint64_t below[] = {0, UINT64_MAX, (1ull << 32) - 1, 1ull << 21,
                                     (1ull << 16) - 3, 1ull << 12, 1ull << 10};
    if (n < 1 || n > 6 || e >= below[n])
        return false;
    switch (n) {
    case 1:
        *out = e;
        break;
    case 2:
        *out = e * (e + 1) / 2;
        break;
    case 3:
        *out = e * (e + 1) * (e + 2) / 6;
        break;
    case 4:
        *out = e * (e + 1) * (e + 2) * (e + 3) / 24;
        break;
    case 5:
        *out = e * (e + 1) * (e + 2) * (e + 3) * (e + 4) / 120;
        break;
    default:
        *out = e * (e + 1) * (e + 2) * (e + 3) * (e + 4) * (e + 5) / 720;
        break;
    }
    return true;
}

//  P(n, e) = binomial(e + n - 1, n), or SATURATED when larger than ID_LIMIT.
static uint64_t
pyramid_volume(int n, uint64_t e)
{
    uint64_t v;
    if (pyramid_small(n, e, &v))
        return v > ID_LIMIT ? SATURATED : v;
    v = 1;
    for (int i = 0; i < n; i++) {
        //  v = binomial(e+i-1, i) and (i+1) divides v (e+i): what of i+1
        //  is not in v divides e+i.
        uint64_t a = (uint64_t)i + 1;
        uint64_t g = gcd(a, v);
        if (__builtin_mul_overflow(v / g, (e + (uint64_t)i) / (a / g), &v) || v > ID_LIMIT)
            return SATURATED;
    }
    return v;
}

//  Called for every block the scheduler hands out: inside the library
//  it is reached directly, not through the exported symbol.
int cantor_number(int dims, const int64_t *index, uint64_t *out);

int
cantor_number(int dims, const int64_t *index, uint64_t *out)
{
    uint64_t id = 0;
    uint64_t sum = 0;
    for (int d = 0; d < dims; d++) {
        if (index[d] < 0)
            return -1;
        sum += (uint64_t)index[d];   //  both below 2^63: no wrap
        if (sum > ID_LIMIT)
            return -1;
        //  C(x1..xn) adds P(n, sum) on top of C(x1..x(n-1)).
        id += d == 0 ? sum : pyramid_volume(d + 1, sum);
        if (id > ID_LIMIT)
            return -1;
    }
    *out = id;
    return 0;
}

int
daisy_cantor_number(int dims, const int64_t *index, uint64_t *out)
{
    return cantor_number(dims, index, out);
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
        id -= pyramid_volume(d + 1, sum);
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
