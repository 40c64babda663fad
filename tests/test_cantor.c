/*  test_cantor.c - daisy's block ids */
#include <criterion/criterion.h>

#include "daisy/daisy.h"

//  The definition, in the slowest possible way: count the indices of the
//  same dimension that come before this one in daisy's order.
static uint64_t
reference_id(int dims, const int64_t *x)
{
    if (dims == 1)
        return (uint64_t)x[0];
    int64_t sum = 0;
    for (int d = 0; d < dims; d++)
        sum += x[d];
    //  P(n, e) = binomial(e + n - 1, n)
    uint64_t p = 1;
    for (int i = 0; i < dims; i++)
        p = p * (uint64_t)(sum + i) / (uint64_t)(i + 1);
    return p + reference_id(dims - 1, x);
}

Test(cantor, known_values)
{
    uint64_t id;
    int64_t a[] = {1, 1};
    cr_assert_eq(daisy_cantor_number(2, a, &id), 0);
    cr_assert_eq(id, 4);   //  P(2, 2) + C(1) = 3 + 1
    int64_t b[] = {0, 0, 0};
    cr_assert_eq(daisy_cantor_number(3, b, &id), 0);
    cr_assert_eq(id, 0);
    int64_t c[] = {7};
    cr_assert_eq(daisy_cantor_number(1, c, &id), 0);
    cr_assert_eq(id, 7);
    int64_t d[] = {0, 1};
    cr_assert_eq(daisy_cantor_number(2, d, &id), 0);
    cr_assert_eq(id, 1);
    int64_t e[] = {1, 0};
    cr_assert_eq(daisy_cantor_number(2, e, &id), 0);
    cr_assert_eq(id, 2);
}

Test(cantor, matches_definition_and_inverts)
{
    for (int dims = 1; dims <= 4; dims++) {
        int64_t x[4] = {0};
        for (int n = 0; n < 2000; n++) {
            int64_t rest = n;
            for (int d = 0; d < dims; d++) {
                x[d] = rest % 7;
                rest /= 7;
            }
            uint64_t id;
            cr_assert_eq(daisy_cantor_number(dims, x, &id), 0);
            cr_assert_eq(id, reference_id(dims, x), "dims %d index %d", dims, n);
            int64_t back[4];
            cr_assert_eq(daisy_cantor_index(dims, id, back), 0);
            for (int d = 0; d < dims; d++)
                cr_assert_eq(back[d], x[d], "dims %d id %llu", dims, (unsigned long long)id);
        }
    }
}

Test(cantor, ids_are_a_bijection_on_small_boxes)
{
    //  Every id below P(3, 12) belongs to exactly one index with sum < 12.
    uint64_t limit = 12 * 13 * 14 / 6;
    char *seen = calloc(limit, 1);
    for (int64_t i = 0; i < 12; i++)
        for (int64_t j = 0; i + j < 12; j++)
            for (int64_t k = 0; i + j + k < 12; k++) {
                int64_t x[] = {i, j, k};
                uint64_t id;
                cr_assert_eq(daisy_cantor_number(3, x, &id), 0);
                cr_assert_lt(id, limit);
                cr_assert_eq(seen[id], 0, "id %llu twice", (unsigned long long)id);
                seen[id] = 1;
            }
    for (uint64_t id = 0; id < limit; id++)
        cr_assert_eq(seen[id], 1, "id %llu never produced", (unsigned long long)id);
    free(seen);
}

Test(cantor, large_indices_and_overflow)
{
    int64_t big[] = {10000, 10000, 10000};
    uint64_t id;
    cr_assert_eq(daisy_cantor_number(3, big, &id), 0);
    int64_t back[3];
    cr_assert_eq(daisy_cantor_index(3, id, back), 0);
    cr_assert_eq(back[0], 10000);
    cr_assert_eq(back[1], 10000);
    cr_assert_eq(back[2], 10000);
    int64_t huge[] = {INT64_MAX / 2, INT64_MAX / 2, 5};
    cr_assert_eq(daisy_cantor_number(3, huge, &id), -1);
    int64_t negative[] = {-1, 0};
    cr_assert_eq(daisy_cantor_number(2, negative, &id), -1);
}

//  The implementation before ids were computed in 64 bits (128-bit
//  products and divisions throughout), kept as the oracle: the fast one
//  must agree with it bit for bit, overflow included.
typedef unsigned __int128 u128;

static u128
old_pyramid_volume(int n, uint64_t e)
{
    u128 v = 1;
    for (int i = 0; i < n; i++) {
        v = v * ((u128)e + (u128)i) / (u128)(i + 1);
        if (v > (u128)INT64_MAX)
            return (u128)INT64_MAX + 1;
    }
    return v;
}

static int
old_cantor_number(int dims, const int64_t *index, uint64_t *out)
{
    u128 id = 0, sum = 0;
    for (int d = 0; d < dims; d++) {
        if (index[d] < 0)
            return -1;
        sum += (u128)index[d];
        if (sum > (u128)INT64_MAX)
            return -1;
        id += d == 0 ? sum : old_pyramid_volume(d + 1, (uint64_t)sum);
        if (id > (u128)INT64_MAX)
            return -1;
    }
    *out = (uint64_t)id;
    return 0;
}

static uint64_t
xorshift(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

//  A coordinate of one of several magnitudes: small, around the limits of
//  the 64-bit fast paths (2^10, 2^12, 2^16, 2^21, 2^32), around the largest
//  sums whose ids still fit, and up to 2^63 - 1.
static int64_t
random_coordinate(uint64_t *s, int dims)
{
    static const int bits[] = {3, 10, 12, 16, 21, 22, 31, 32, 33, 40, 62, 63};
    uint64_t r = xorshift(s);
    int b = bits[r % (sizeof bits / sizeof bits[0])];
    uint64_t around = b >= 63 ? (uint64_t)INT64_MAX : 1ull << b;
    int64_t x;
    switch ((r >> 8) % 4) {
    case 0:     //  just below or above a power of two
        x = (int64_t)(around - 8 + (r >> 16) % 16);
        break;
    case 1:     //  below it, divided among the dimensions
        x = (int64_t)((r >> 16) % (around / (uint64_t)dims + 1));
        break;
    case 2:
        x = (int64_t)((r >> 16) % 64);
        break;
    default:
        x = (int64_t)((r >> 16) % (around + 1));
        break;
    }
    return x < 0 ? INT64_MAX : x;
}

Test(cantor, agrees_with_the_128_bit_implementation)
{
    uint64_t s = 0x1234567u;
    for (int round = 0; round < 3000000; round++) {
        int dims = 1 + round % 8;
        int64_t x[8];
        for (int d = 0; d < dims; d++)
            x[d] = random_coordinate(&s, dims);
        uint64_t got = 0, want = 0;
        int rc = daisy_cantor_number(dims, x, &got);
        cr_assert_eq(rc, old_cantor_number(dims, x, &want), "round %d dims %d", round, dims);
        if (rc == 0)
            cr_assert_eq(got, want, "round %d dims %d", round, dims);
    }
}

//  Around the largest sum e whose P(n, e) still fits 63 bits, where the
//  result changes from an id to an overflow.
Test(cantor, agrees_at_the_edge_of_overflow)
{
    for (int n = 2; n <= 6; n++) {
        //  The largest e with P(n, e) <= 2^63 - 1, by bisection on the oracle.
        uint64_t lo = 0, hi = 1ull << 62;
        while (hi - lo > 1) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (old_pyramid_volume(n, mid) <= (u128)INT64_MAX)
                lo = mid;
            else
                hi = mid;
        }
        for (int64_t e = (int64_t)lo - 40; e <= (int64_t)lo + 40; e++)
            for (int64_t first = 0; first <= 3; first++) {
                int64_t x[6] = {0};
                x[0] = first;
                x[n - 1] = e - first;
                uint64_t got = 0, want = 0;
                int rc = daisy_cantor_number(n, x, &got);
                cr_assert_eq(rc, old_cantor_number(n, x, &want), "n %d e %lld", n, (long long)e);
                if (rc == 0)
                    cr_assert_eq(got, want, "n %d e %lld", n, (long long)e);
            }
    }
}

//  The inverse over ids of every magnitude, including those of the
//  slow path.
Test(cantor, inverts_large_ids)
{
    uint64_t s = 99;
    for (int round = 0; round < 20000; round++) {
        int dims = 1 + round % 6;
        int64_t x[6];
        for (int d = 0; d < dims; d++)
            x[d] = random_coordinate(&s, dims);
        uint64_t id;
        if (daisy_cantor_number(dims, x, &id) != 0)
            continue;
        int64_t back[6];
        cr_assert_eq(daisy_cantor_index(dims, id, back), 0);
        for (int d = 0; d < dims; d++)
            cr_assert_eq(back[d], x[d], "round %d dims %d", round, dims);
    }
}
