/*  daisy/geometry.h - nD coordinates and regions of interest in world units

    A coordinate is a short vector of signed 64-bit integers; a ROI is an
    offset and a shape (begin = offset, end = offset + shape). Both are plain
    values (no allocation), 1 to DAISY_MAX_DIMS dimensions, so they can be
    copied, compared and put in messages freely. The operations are those of
    funlib.geometry, which daisy users know: begin/end/center/size, empty,
    contains, intersects, intersect, union (bounding box), shift, grow,
    snap to a grid, multiply/divide by a voxel size, equality, and a
    printable form such as `[0:10, 5:15] (10, 10)`.

    Functions that combine two values expect equal dimensions; the caller
    (pipeline validation) guarantees it. Division is floor division, as in
    funlib's Coordinate for integers.
*/
#ifndef DAISY_GEOMETRY_H
#define DAISY_GEOMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daisy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAISY_MAX_DIMS 6

typedef struct {
    int dims;
    int64_t v[DAISY_MAX_DIMS];
} daisy_coord_t;

typedef struct {
    int dims;
    int64_t offset[DAISY_MAX_DIMS];
    int64_t shape[DAISY_MAX_DIMS];
} daisy_roi_t;

typedef enum {
    DAISY_SNAP_GROW,      //  begin down, end up
    DAISY_SNAP_SHRINK,    //  begin up, end down
    DAISY_SNAP_CLOSEST    //  both to the nearest grid line (halves round up)
} daisy_snap_t;

//  Coordinates ------------------------------------------------------------

//  A coordinate of `dims` values from an array.
DAISY_EXPORT daisy_coord_t daisy_coord_make(int dims, const int64_t *v);
//  A coordinate with every one of `dims` entries equal to `value`.
DAISY_EXPORT daisy_coord_t daisy_coord_fill(int dims, int64_t value);
DAISY_EXPORT bool daisy_coord_equal(daisy_coord_t a, daisy_coord_t b);
DAISY_EXPORT daisy_coord_t daisy_coord_add(daisy_coord_t a, daisy_coord_t b);
DAISY_EXPORT daisy_coord_t daisy_coord_sub(daisy_coord_t a, daisy_coord_t b);
DAISY_EXPORT daisy_coord_t daisy_coord_mul(daisy_coord_t a, daisy_coord_t b);
//  Floor division and the matching non-negative modulo (for b > 0).
DAISY_EXPORT daisy_coord_t daisy_coord_div(daisy_coord_t a, daisy_coord_t b);
DAISY_EXPORT daisy_coord_t daisy_coord_mod(daisy_coord_t a, daisy_coord_t b);
//  Product of the entries (saturates at INT64_MAX on overflow).
DAISY_EXPORT int64_t daisy_coord_product(daisy_coord_t a);
//  "(1, 2, 3)"; returns the length snprintf would have written.
DAISY_EXPORT int daisy_coord_format(daisy_coord_t a, char *buf, size_t len);

//  ROIs -------------------------------------------------------------------

DAISY_EXPORT daisy_roi_t daisy_roi_make(int dims, const int64_t *offset, const int64_t *shape);
DAISY_EXPORT daisy_roi_t daisy_roi_from(daisy_coord_t offset, daisy_coord_t shape);
DAISY_EXPORT daisy_coord_t daisy_roi_begin(const daisy_roi_t *r);
DAISY_EXPORT daisy_coord_t daisy_roi_end(const daisy_roi_t *r);
DAISY_EXPORT daisy_coord_t daisy_roi_offset(const daisy_roi_t *r);
DAISY_EXPORT daisy_coord_t daisy_roi_shape(const daisy_roi_t *r);
//  offset + shape / 2 (floor).
DAISY_EXPORT daisy_coord_t daisy_roi_center(const daisy_roi_t *r);
//  Number of points (product of the shape; 0 when empty).
DAISY_EXPORT int64_t daisy_roi_size(const daisy_roi_t *r);
//  True when some dimension has a shape <= 0.
DAISY_EXPORT bool daisy_roi_empty(const daisy_roi_t *r);
//  Two empty ROIs are equal whatever their offsets (as in funlib).
DAISY_EXPORT bool daisy_roi_equal(const daisy_roi_t *a, const daisy_roi_t *b);
//  True when `p` lies in [begin, end).
DAISY_EXPORT bool daisy_roi_contains_coord(const daisy_roi_t *r, daisy_coord_t p);
//  True when `other` lies inside r; an empty `other` is inside when its
//  begin is (funlib's rule).
DAISY_EXPORT bool daisy_roi_contains(const daisy_roi_t *r, const daisy_roi_t *other);
//  True when the two share at least one point: ROIs that only touch do not
//  intersect, and an empty ROI intersects nothing.
DAISY_EXPORT bool daisy_roi_intersects(const daisy_roi_t *a, const daisy_roi_t *b);
//  The common part; an empty ROI (shape all zero, offset a's begin) when the
//  two do not intersect.
DAISY_EXPORT daisy_roi_t daisy_roi_intersect(const daisy_roi_t *a, const daisy_roi_t *b);
//  The bounding box of both; an empty operand is ignored.
DAISY_EXPORT daisy_roi_t daisy_roi_union(const daisy_roi_t *a, const daisy_roi_t *b);
DAISY_EXPORT daisy_roi_t daisy_roi_shift(const daisy_roi_t *r, daisy_coord_t by);
//  Grow by `neg` before begin and `pos` after end (negative values shrink).
DAISY_EXPORT daisy_roi_t daisy_roi_grow(const daisy_roi_t *r, daisy_coord_t neg, daisy_coord_t pos);
//  Align begin and end to multiples of `grid` (entries > 0).
DAISY_EXPORT daisy_roi_t daisy_roi_snap(const daisy_roi_t *r, daisy_coord_t grid,
                                        daisy_snap_t mode);
//  Voxels to world units: offset and shape times the voxel size.
DAISY_EXPORT daisy_roi_t daisy_roi_mul(const daisy_roi_t *r, daisy_coord_t voxel_size);
//  World units to voxels. Returns -1 (and leaves *out alone) when offset or
//  shape is not a multiple of the voxel size.
DAISY_EXPORT int daisy_roi_div(const daisy_roi_t *r, daisy_coord_t voxel_size, daisy_roi_t *out);
//  "[0:10, 5:15] (10, 10)", or "[empty ROI]"; returns what snprintf returns.
DAISY_EXPORT int daisy_roi_format(const daisy_roi_t *r, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
