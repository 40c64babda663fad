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
