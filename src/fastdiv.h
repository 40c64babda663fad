/*  fastdiv.h - division by a number fixed when a graph is built

    The scheduler turns row-major grid indices into grid positions and
    positions into levels for every block it touches, always dividing by
    the same few numbers of a task (blocks per dimension, level stride).
    A 64-bit divide instruction costs tens of cycles; a multiplication by a
    precomputed reciprocal costs a few, and gives the same quotient.

    Granlund and Montgomery (1994, theorem 4.2): for numerators below 2^N
    and a divisor d with l = ceil(log2 d), the magic m = ceil(2^(N+l) / d)
    satisfies 2^(N+l) <= m d <= 2^(N+l) + 2^l, and then n / d is exactly
    (m n) >> (N + l). Here N = 63: every numerator is a grid index or a
    coordinate of a grid counted in 63 bits, and with N = 63 the magic
    fits in 64 bits (m <= 2^64 - 2 unless d is a power of two, where
    m = 2^63), so the product fits in 128 bits and the quotient is one
    multiplication and a shift. Header-only, so that the tests check it
    against the divide instruction directly.
*/
#ifndef DAISY_FASTDIV_H
#define DAISY_FASTDIV_H

#include <stdint.h>

typedef struct {
    uint64_t magic;
    unsigned shift;     //  N + l
} fastdiv_t;

//  A divider for 1 <= d < 2^63.
static inline fastdiv_t
fastdiv_make(uint64_t d)
{
    unsigned l = 0;
    while (l < 63 && (1ull << l) < d)
        l++;
    unsigned __int128 num = (unsigned __int128)1 << (63 + l);
    unsigned __int128 magic = (num + d - 1) / d;
    return (fastdiv_t){.magic = (uint64_t)magic, .shift = 63 + l};
}

//  n / d for 0 <= n < 2^63.
static inline uint64_t
fastdiv_div(fastdiv_t f, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)f.magic * n) >> f.shift);
}

#endif
