/*  test_permute.c - zarr_permute against an element-by-element reference

    The transposition is internal to the zarr layer (zarr/permute.c is
    compiled into this test). Its fast paths (axes dropped and merged,
    memcpy runs, tiles of 64-byte rows, 64-bit register blocks for 1-, 2-
    and 4-byte elements) each have edges: axes of 1 element, sizes that
    are not multiples of a block or a tile, exact multiples, element sizes
    other than Zarr's. So shapes are drawn from sizes around those edges,
    for 1 to DAISY_MAX_DIMS axes, every element size Zarr has and some it
    has not, every order up to 4 axes and random ones beyond, and each
    result is compared with the reference below, which walks the decoded
    chunk in C order and computes each element's encoded offset from
    scratch. Decoding must give back the chunk. Buffers start at odd
    addresses, so nothing may rely on alignment.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "permute.h"
#include "testutil.h"

#define D DAISY_MAX_DIMS

//  The encoded chunk of decoded `src`, element by element: the decoded
//  index idx goes to encoded index e (e[i] = idx[order[i]]), C order in
//  the encoded shape.
static void
reference_encode(int dims, const int64_t *shape, const int *order, size_t item,
                 const unsigned char *src, unsigned char *dst)
{
    int64_t idx[D] = {0}, total = 1;
    for (int d = 0; d < dims; d++)
        total *= shape[d];
    for (int64_t n = 0; n < total; n++) {
        int64_t eoff = 0;
        for (int i = 0; i < dims; i++)
            eoff = eoff * shape[order[i]] + idx[order[i]];
        memcpy(dst + (size_t)eoff * item, src + (size_t)n * item, item);
        for (int d = dims - 1; d >= 0 && ++idx[d] == shape[d]; d--)
            idx[d] = 0;
    }
}

//  Encode and decode a random chunk of `shape` by `order` in buffers
//  starting 1 byte past malloc's alignment; both must match the reference.
static void
check(int dims, const int64_t *shape, const int *order, size_t item, uint64_t seed)
{
    size_t bytes = item;
    for (int d = 0; d < dims; d++)
        bytes *= (size_t)shape[d];
    unsigned char *mem = malloc(4 * (bytes + 1));
    cr_assert(mem);
    unsigned char *src = mem + 1, *want = src + bytes + 1, *enc = want + bytes + 1,
                  *dec = enc + bytes + 1;
    for (size_t i = 0; i < bytes; i++)
        src[i] = (unsigned char)tu_rand(&seed);
    reference_encode(dims, shape, order, item, src, want);
    memset(enc, 0xa5, bytes);
    zarr_permute(dims, shape, order, item, src, enc, true);
    char text[160];
    int n = snprintf(text, sizeof text, "item %zu, shape", item);
    for (int d = 0; d < dims; d++)
        n += snprintf(text + n, sizeof text - (size_t)n, " %lld", (long long)shape[d]);
    n += snprintf(text + n, sizeof text - (size_t)n, ", order");
    for (int d = 0; d < dims; d++)
        n += snprintf(text + n, sizeof text - (size_t)n, " %d", order[d]);
    cr_assert(memcmp(enc, want, bytes) == 0, "encode differs: %s", text);
    memset(dec, 0x5a, bytes);
    zarr_permute(dims, shape, order, item, want, dec, false);
    cr_assert(memcmp(dec, src, bytes) == 0, "decode differs: %s", text);
    free(mem);
}

//  Sizes around the edges: 1 (dropped), below, at and above a register
//  block (8 / item elements) and a tile (64 / item elements).
static const int64_t edge_sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65};
#define NEDGE (sizeof edge_sizes / sizeof edge_sizes[0])

//  Zarr's element sizes, then others (the generic tile path; larger than
//  a tile's row: element by element).
static const size_t items[] = {1, 2, 4, 8, 3, 16, 72};
#define NITEMS (sizeof items / sizeof items[0])

//  A random shape of `dims` edge sizes, at most `budget` elements.
static void
random_shape(int dims, int64_t budget, uint64_t *seed, int64_t *shape)
{
    for (;;) {
        int64_t total = 1;
        for (int d = 0; d < dims; d++) {
            shape[d] = edge_sizes[tu_range(seed, 0, NEDGE - 1)];
            total *= shape[d];
        }
        if (total <= budget)
            return;
    }
}

static void
reversed(int dims, int *order)
{
    for (int d = 0; d < dims; d++)
        order[d] = dims - 1 - d;
}

//  Next permutation in lexicographic order; false after the last.
static bool
next_order(int dims, int *order)
{
    int i = dims - 2;
    while (i >= 0 && order[i] > order[i + 1])
        i--;
    if (i < 0)
        return false;
    int j = dims - 1;
    while (order[j] < order[i])
        j--;
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
    for (int a = i + 1, b = dims - 1; a < b; a++, b--) {
        t = order[a];
        order[a] = order[b];
        order[b] = t;
    }
    return true;
}

//  v2's order "F": every pair of edge sizes in 2D, each element size.
Test(permute, reversal_2d_every_pair_of_edge_sizes)
{
    int order[2] = {1, 0};
    for (size_t k = 0; k < NITEMS; k++)
        for (size_t a = 0; a < NEDGE; a++)
            for (size_t b = 0; b < NEDGE; b++) {
                int64_t shape[2] = {edge_sizes[a], edge_sizes[b]};
                check(2, shape, order, items[k], a * 100 + b);
            }
}

//  Order "F" in 1 to 6 dimensions, random edge shapes.
Test(permute, reversal_1_to_6_dims)
{
    uint64_t seed = 11;
    for (int dims = 1; dims <= D; dims++)
        for (size_t k = 0; k < NITEMS; k++)
            for (int r = 0; r < 12; r++) {
                int64_t shape[D];
                int order[D];
                random_shape(dims, 200000, &seed, shape);
                reversed(dims, order);
                check(dims, shape, order, items[k], seed);
            }
}

//  Every order of 1 to 4 axes (the identity, the innermost kept innermost,
//  merged neighbours), random edge shapes.
Test(permute, every_order_up_to_4_dims)
{
    uint64_t seed = 23;
    for (int dims = 1; dims <= 4; dims++)
        for (size_t k = 0; k < NITEMS; k++) {
            int order[D];
            for (int d = 0; d < dims; d++)
                order[d] = d;
            do
                for (int r = 0; r < 3; r++) {
                    int64_t shape[D];
                    random_shape(dims, 100000, &seed, shape);
                    check(dims, shape, order, items[k], seed);
                }
            while (next_order(dims, order));
        }
}

//  Random orders of 5 and 6 axes.
Test(permute, random_orders_5_and_6_dims)
{
    uint64_t seed = 37;
    for (int dims = 5; dims <= D; dims++)
        for (size_t k = 0; k < NITEMS; k++)
            for (int r = 0; r < 40; r++) {
                int64_t shape[D];
                int order[D];
                random_shape(dims, 100000, &seed, shape);
                for (int d = 0; d < dims; d++)
                    order[d] = d;
                for (int d = dims - 1; d > 0; d--) {
                    int j = (int)tu_range(&seed, 0, d), t = order[d];
                    order[d] = order[j];
                    order[j] = t;
                }
                check(dims, shape, order, items[k], seed);
            }
}

//  Shapes of 1-element axes only, or all but one: no plane, one run.
Test(permute, one_element_axes)
{
    int64_t ones[D] = {1, 1, 1, 1, 1, 1};
    int order[D];
    for (int dims = 1; dims <= D; dims++)
        for (size_t k = 0; k < NITEMS; k++) {
            reversed(dims, order);
            check(dims, ones, order, items[k], 1);
            for (int d = 0; d < dims; d++) {
                int64_t shape[D] = {1, 1, 1, 1, 1, 1};
                shape[d] = 67;
                check(dims, shape, order, items[k], 2);
            }
        }
}

//  Chunks as daisy writes them: 64^3 in order "F", and v3 transposes
//  that keep the innermost axis or move it.
Test(permute, chunk_shapes)
{
    int64_t cube[3] = {64, 64, 64}, flat[3] = {2, 128, 96};
    int orders[4][3] = {{2, 1, 0}, {1, 0, 2}, {0, 2, 1}, {2, 0, 1}};
    for (size_t k = 0; k < 4; k++)
        for (int o = 0; o < 4; o++) {
            check(3, cube, orders[o], items[k], 3);
            check(3, flat, orders[o], items[k], 4);
        }
}
