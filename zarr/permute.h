/*  permute.h - transposing a chunk between C order and a stored axis order

    v2's order "F" (the axes reversed) and v3's transpose codec store a
    chunk with its axes in another order; chunk.c and v3_codecs.c transpose
    through this one function, so that everything above the store sees C
    order. It needs nothing else of the zarr layer (tests/test_permute.c
    compiles it in alone).
*/
#ifndef DAISY_ZARR_PERMUTE_H
#define DAISY_ZARR_PERMUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Between a chunk (C order, shape `shape`, `dims` axes, 1 ..
//  DAISY_MAX_DIMS) and its transpose by `order` (encoded axis i is decoded
//  axis order[i]), `item` bytes an element: encode copies decoded `src`
//  into encoded `dst`, decode the reverse. The buffers must not overlap.
void zarr_permute(int dims, const int64_t *shape, const int *order, size_t item,
                  const unsigned char *src, unsigned char *dst, bool encode);

#endif
