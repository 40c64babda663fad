/*  permute.c - transposing a chunk between C order and a stored axis order

    Decoding and encoding are the same strided copy, src to dst: every
    element of a box, each axis with a byte stride in each buffer. Moved
    element by element, with a loop step per element and one buffer walked
    a cache line per element, order "F" read 116 MiB/s of uint8 where
    order "C" read 10 GiB/s (bench/README.md, "Fortran order"). So the box
    is first simplified, then copied in pieces that use cache lines whole:

    - Axes of 1 element are dropped, and an axis merged into the one
      outside it when they are contiguous together in both buffers (a
      transpose that keeps axes side by side has fewer, longer axes; one
      that changes nothing is a single memcpy).
    - When one axis is contiguous in both buffers (the innermost stays
      innermost, as in v3 transposes such as [1, 0, 2]), its runs are
      copied with memcpy.
    - Otherwise the axis contiguous in src and the one contiguous in dst
      span planes, each a 2D transposition (v2's order "F": the first and
      last axes), done in square tiles of 64-byte rows through a buffer on
      the stack (s_plane says why), in blocks that fill a 64-bit word a
      row (8 x 8 bytes, 4 x 4 of 2 bytes, 2 x 2 of 4) transposed in
      registers, and for 8-byte elements and the ends of each axis one
      element at a time. The tile code is inlined for each element size
      of Zarr dtypes (1, 2, 4, 8 bytes), so that every memcpy of an
      element or a row has a constant size and compiles to loads and
      stores; other sizes take the same code with a variable one.

    The axes left over are walked around those pieces, last fastest.
*/
#include "permute.h"

#include <string.h>

#include "daisy/geometry.h"

//  A tile row in bytes: one cache line, so a tile (4 KiB on the stack) is
//  a line of each of its rows in dst. 32 and 128 measured no faster
//  overall on 64^3 chunks (a micro-benchmark, each element size).
#define TILE_BYTES 64

//  The copy: axes outermost first, each with its length and its byte
//  strides in src and in dst.
typedef struct {
    int n;
    int64_t len[DAISY_MAX_DIMS];
    size_t ss[DAISY_MAX_DIMS], ds[DAISY_MAX_DIMS];
} s_box_t;

//  The box of a permutation, in encoded axis order, simplified: axes of 1
//  element dropped, neighbours contiguous together in both buffers merged.
static void
s_box_make(s_box_t *box, int dims, const int64_t *shape, const int *order, size_t item,
           bool encode)
{
    size_t dstride[DAISY_MAX_DIMS], estride[DAISY_MAX_DIMS];
    dstride[dims - 1] = estride[dims - 1] = item;
    for (int d = dims - 2; d >= 0; d--) {
        dstride[d] = dstride[d + 1] * (size_t)shape[d + 1];
        estride[d] = estride[d + 1] * (size_t)shape[order[d + 1]];
    }
    box->n = 0;
    for (int i = 0; i < dims; i++) {
        int64_t len = shape[order[i]];
        size_t ss = encode ? dstride[order[i]] : estride[i];
        size_t ds = encode ? estride[i] : dstride[order[i]];
        if (len == 1)
            continue;
        int k = box->n - 1;
        if (k >= 0 && box->ss[k] == ss * (size_t)len && box->ds[k] == ds * (size_t)len)
            box->len[k] *= len;         //  a step of the outer axis is a whole inner one
        else
            box->len[k = box->n++] = len;
        box->ss[k] = ss;
        box->ds[k] = ds;
    }
}

//  The axis of the box whose stride is `item`: the one contiguous in that
//  buffer. Every box has one, since a dense buffer's innermost axis longer
//  than 1 has that stride (or the box has no axes: one element).
static int
s_contiguous(const s_box_t *box, const size_t *stride, size_t item)
{
    for (int k = 0; k < box->n; k++)
        if (stride[k] == item)
            return k;
    return -1;
}

//  Elements a side of the square block s_block() moves at once: as many as
//  fill a 64-bit word, for elements of 1, 2 and 4 bytes on little-endian
//  hosts (the shifts below take the first byte in memory as the lowest).
static inline __attribute__((always_inline)) int64_t
s_block_side(size_t item)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (item == 1 || item == 2 || item == 4)
        return (int64_t)(8 / item);
#endif
    (void)item;
    return 1;
}

//  A square block of s_block_side(item) elements a side: row j of src
//  (ssb bytes apart) becomes column j of dst (rows dsa bytes apart). With
//  n > 1, the rows are loaded as 64-bit words and transposed in registers
//  (each round swaps the off-diagonal halves of blocks of 2 x step
//  elements, Hacker's Delight 7-3), so 8 loads and 8 stores move 64 bytes
//  instead of 64 loads and 64 stores.
static inline __attribute__((always_inline)) void
s_block(const unsigned char *src, unsigned char *dst, size_t dsa, size_t ssb, size_t item)
{
    int n = (int)s_block_side(item);
    if (n == 1) {
        memcpy(dst, src, item);
        return;
    }
    uint64_t r[8];
#pragma GCC unroll 8
    for (int j = 0; j < n; j++)
        memcpy(&r[j], src + (size_t)j * ssb, 8);
#pragma GCC unroll 3
    for (int step = 1; step < n; step *= 2) {
        int w = 8 * (int)item * step;
        uint64_t mask = ~0ull / ((1ull << w) + 1);      //  the low w bits of every 2w
#pragma GCC unroll 8
        for (int j = 0; j < n; j++)
            if (!(j & step)) {
                uint64_t t = ((r[j] >> w) ^ r[j + step]) & mask;
                r[j + step] ^= t;
                r[j] ^= t << w;
            }
    }
#pragma GCC unroll 8
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * dsa, &r[i], 8);
}

//  Elements [i0, i1) along a by [j0, j1) along b of a plane (see s_plane),
//  one at a time.
static inline __attribute__((always_inline)) void
s_elements(const unsigned char *src, unsigned char *dst, int64_t i0, int64_t i1, int64_t j0,
           int64_t j1, size_t dsa, size_t ssb, size_t item)
{
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++)
            memcpy(dst + (size_t)i * dsa + (size_t)j * item, src + (size_t)i * item
                   + (size_t)j * ssb, item);
}

//  Up to t x t elements of a plane (see s_plane) at `src` into `tile`, a
//  dense buffer in dst's layout (rows of t elements): ni along a by nj
//  along b. The whole blocks go first, each block row after the other
//  (the lines of src they read are used whole before the next rows), the
//  rest, fewer than a block's side at the ends of each axis, element by
//  element.
static inline __attribute__((always_inline)) void
s_tile_in(const unsigned char *src, unsigned char *tile, int64_t ni, int64_t nj, int64_t t,
          size_t ssb, size_t item)
{
    size_t row = (size_t)t * item;
    int64_t n = s_block_side(item);
    int64_t fi = ni - ni % n, fj = nj - nj % n;
    for (int64_t j = 0; j < fj; j += n)
        for (int64_t i = 0; i < fi; i += n)
            s_block(src + (size_t)i * item + (size_t)j * ssb, tile + (size_t)i * row
                    + (size_t)j * item, row, ssb, item);
    s_elements(src, tile, fi, ni, 0, nj, row, ssb, item);
    s_elements(src, tile, 0, fi, fj, nj, row, ssb, item);
}

//  The tile's ni rows of nj elements to dst, rows dsa apart. A whole row
//  is a memcpy of a constant size where `item` is one, which the compiler
//  inlines (a call per 64 bytes halved the throughput of 8-byte elements).
static inline __attribute__((always_inline)) void
s_tile_out(const unsigned char *tile, unsigned char *dst, int64_t ni, int64_t nj, int64_t t,
           size_t dsa, size_t item)
{
    size_t row = (size_t)t * item;
    for (int64_t i = 0; i < ni; i++) {
        if (nj == t)
            memcpy(dst + (size_t)i * dsa, tile + (size_t)i * row, row);
        else
            memcpy(dst + (size_t)i * dsa, tile + (size_t)i * row, (size_t)nj * item);
    }
}

//  One plane: na elements along an axis contiguous in src (stride `item`
//  there, dsa in dst) by nb along one contiguous in dst (ssb in src), in
//  tiles of TILE_BYTES a side, each transposed into a buffer on the stack
//  and copied from there to dst a row at a time. Why the detour: chunks
//  are mostly powers of two, and then the rows of a plane lie a power of
//  two apart in both buffers (4 KiB for 64^3 bytes), all in the same set
//  of L1, whose 8 ways cannot hold the 16 lines of one block: transposed
//  straight into dst, every access missed L1 (in a micro-benchmark, about
//  2,000 MiB/s for bytes at 64^3, against 6,000 at 63^3; through the tile
//  4,500 at both). Through the tile, a block row's 8 lines of
//  src stay in L1 until they are used whole, and each line of dst is
//  written whole, once. Inlined where `item` is a constant, so that each
//  memcpy of an element is one load or store. item <= TILE_BYTES.
static inline __attribute__((always_inline)) void
s_plane(const unsigned char *src, unsigned char *dst, int64_t na, int64_t nb, size_t dsa,
        size_t ssb, size_t item)
{
    unsigned char tile[TILE_BYTES * TILE_BYTES];
    int64_t t = (int64_t)(TILE_BYTES / item);
    for (int64_t i0 = 0; i0 < na; i0 += t) {
        int64_t ni = na - i0 < t ? na - i0 : t;
        for (int64_t j0 = 0; j0 < nb; j0 += t) {
            int64_t nj = nb - j0 < t ? nb - j0 : t;
            s_tile_in(src + (size_t)i0 * item + (size_t)j0 * ssb, tile, ni, nj, t, ssb, item);
            s_tile_out(tile, dst + (size_t)i0 * dsa + (size_t)j0 * item, ni, nj, t, dsa, item);
        }
    }
}

//  s_plane for the element sizes of Zarr dtypes, any other as it comes,
//  and elements larger than a tile's row one at a time.
static void
s_plane_sized(const unsigned char *src, unsigned char *dst, int64_t na, int64_t nb,
              size_t dsa, size_t ssb, size_t item)
{
    switch (item) {
    case 1:
        s_plane(src, dst, na, nb, dsa, ssb, 1);
        break;
    case 2:
        s_plane(src, dst, na, nb, dsa, ssb, 2);
        break;
    case 4:
        s_plane(src, dst, na, nb, dsa, ssb, 4);
        break;
    case 8:
        s_plane(src, dst, na, nb, dsa, ssb, 8);
        break;
    default:
        if (item <= TILE_BYTES)
            s_plane(src, dst, na, nb, dsa, ssb, item);
        else
            s_elements(src, dst, 0, na, 0, nb, dsa, ssb, item);
    }
}

void
zarr_permute(int dims, const int64_t *shape, const int *order, size_t item,
             const unsigned char *src, unsigned char *dst, bool encode)
{
    s_box_t box;
    s_box_make(&box, dims, shape, order, item, encode);
    if (box.n == 0) {
        memcpy(dst, src, item);
        return;
    }
    int a = s_contiguous(&box, box.ss, item), b = s_contiguous(&box, box.ds, item);
    int outer[DAISY_MAX_DIMS], m = 0;
    for (int k = 0; k < box.n; k++)
        if (k != a && k != b)
            outer[m++] = k;
    int64_t idx[DAISY_MAX_DIMS] = {0};
    size_t so = 0, dof = 0;
    for (;;) {
        if (a == b)
            memcpy(dst + dof, src + so, (size_t)box.len[a] * item);
        else
            s_plane_sized(src + so, dst + dof, box.len[a], box.len[b], box.ds[a], box.ss[b],
                          item);
        int d = m - 1;
        for (; d >= 0; d--) {
            int k = outer[d];
            so += box.ss[k];
            dof += box.ds[k];
            if (++idx[d] < box.len[k])
                break;
            so -= (size_t)box.len[k] * box.ss[k];
            dof -= (size_t)box.len[k] * box.ds[k];
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}
