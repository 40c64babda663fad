/*  daisy/array.h - nD arrays in Zarr v2 and v3 directory stores, addressed by world-unit ROIs

    An array is a Zarr v2 array in a directory (DIR/.zarray, DIR/.zattrs,
    one file per chunk), so what is written here opens in Python zarr and
    funlib.persistence, and the reverse; or a Zarr v3 array (DIR/zarr.json,
    chunks under DIR/c/, spec.zarr_format = 3), which zarr-python 3,
    tensorstore, neuroglancer and zarrita read, optionally sharded
    (sharding_indexed: spec.shard_shape, in voxels, a multiple of the chunk
    shape; each shard is one file holding its chunks, the "inner chunks",
    and an index, and inner chunks that are all fill value are not stored).
    daisy_array_open() tells the two apart (zarr.json or .zarray); reads
    and writes are the same for both, and for v2 arrays whose chunks are
    stored in Fortran order ("order": "F"). Voxel size and offset live in .zattrs
    (v2) or zarr.json's "attributes" (v3) as funlib users store them
    ({"resolution": [...], "offset": [...]}, world units; "voxel_size" is
    read when "resolution" is absent). The array's ROI, in world units, is
    offset .. offset + shape * voxel_size.

    Reads and writes take a ROI in world units that lies inside the array's
    ROI and on its voxel grid (offset and shape multiples of the voxel size,
    counted from the array's offset), and a caller's buffer in C order of
    roi.shape / voxel_size elements. Missing chunks read as the fill value.
    An empty ROI within the array's bounds (at its end too, and the whole
    ROI of an array with a 0 in its shape, which Python zarr makes) reads
    and writes nothing; a ROI with voxels outside the array is an error.

    Concurrency: every chunk (or shard) is written to a temporary file in
    the array's directory and renamed into place, so readers never see half
    a chunk and writes whose ROIs are aligned to the chunk grid (the shard
    grid, for sharded arrays) or end at the array's end are safe from many
    processes at once with no lock. Unaligned writes read, modify and write
    the chunks (shards) they touch partially; two processes doing that to
    one chunk (shard) at once may lose one's update, which is the caller's
    responsibility (as in Zarr). A handle keeps reusable
    buffers, so one handle must not be used by two threads at once; open
    one per thread (handles are cheap). A handle inherited through fork()
    is fine to use in the child. After overwriting chunks a handle may keep
    one replaced chunk file (hidden, named *.partial) to write the next
    chunk into; daisy_array_destroy() removes it, so destroy handles before
    a process exits. Nothing is fsync'ed (as in Python zarr).

    Chunks that are entirely the fill value are written like any other
    (Python zarr 2.13 does the same by default), so a block that was
    processed is visible on disk whatever its contents; inner chunks of a
    shard are the exception (not stored, as zarr-python 3 does, and a shard
    with no chunk stored is not written, or is removed).
*/
#ifndef DAISY_ARRAY_H
#define DAISY_ARRAY_H

//  A zarr-layer header: not for core, protocol, broker, worker or runtime code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_GRAPHDB) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER) \
    || defined(DAISY_LAYER_WORKER) \
    || defined(DAISY_LAYER_RUNTIME)
#error "daisy/array.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daisy/error.h"
#include "daisy/export.h"
#include "daisy/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_array_t daisy_array_t;

//  Element types (stored little endian; big-endian arrays written
//  elsewhere are read and written with byte swapping).
typedef enum {
    DAISY_DTYPE_UINT8,
    DAISY_DTYPE_UINT16,
    DAISY_DTYPE_UINT32,
    DAISY_DTYPE_UINT64,
    DAISY_DTYPE_INT8,
    DAISY_DTYPE_INT16,
    DAISY_DTYPE_INT32,
    DAISY_DTYPE_INT64,
    DAISY_DTYPE_FLOAT32,
    DAISY_DTYPE_FLOAT64
} daisy_dtype_t;

#define DAISY_DTYPE_COUNT 10

typedef enum {
    DAISY_COMPRESSOR_NONE,
    DAISY_COMPRESSOR_ZLIB,
    DAISY_COMPRESSOR_GZIP,
    DAISY_COMPRESSOR_ZSTD,
    DAISY_COMPRESSOR_BLOSC
} daisy_compressor_t;

//  What to create. Start from daisy_array_spec_init(), then change fields.
typedef struct {
    daisy_dtype_t dtype;
    int dims;                              //  1 .. DAISY_MAX_DIMS
    int64_t shape[DAISY_MAX_DIMS];         //  voxels, >= 0
    int64_t chunks[DAISY_MAX_DIMS];        //  voxels, >= 1
    int64_t voxel_size[DAISY_MAX_DIMS];    //  world units, >= 1 (default 1)
    int64_t offset[DAISY_MAX_DIMS];        //  world units (default 0)
    //  Integers must be whole and in the dtype's range (exact up to 2^53);
    //  floats may be NaN or infinite. Default 0.
    double fill_value;
    daisy_compressor_t compressor;         //  default none
    //  zlib/gzip 0-9, zstd -131072..22, blosc 0-9; -1 (the default) takes
    //  numcodecs' default (1 for zlib, gzip and zstd; 5 for blosc).
    int level;
    const char *blosc_cname;               //  "lz4" (default), "zstd", "blosclz", "zlib", "lz4hc"
    int blosc_shuffle;                     //  0 none, 1 byte (default), 2 bit, -1 auto
    char dimension_separator;              //  v2: '.' (default) or '/' (nested chunk keys)
    bool overwrite;                        //  replace an existing Zarr array at the path
    //  v2: 'C' (default) or 'F': chunks stored in Fortran order (first axis
    //  fastest), as Python zarr's order='F'. Buffers are C order either way.
    //  After `overwrite`, where the struct had padding: no field moved.
    char order;
    //  Zarr v3 (zarr_format 3) ------------------------------------------
    int zarr_format;                       //  2 (default) or 3
    //  Voxels, each a multiple of chunks[d]; all 0 (the default): unsharded.
    //  Sharded, the chunks are the shards' inner chunks.
    int64_t shard_shape[DAISY_MAX_DIMS];
    bool checksum;                         //  a crc32c codec after the compressor
    const char *dimension_names[DAISY_MAX_DIMS];   //  optional (NULL: unnamed)
} daisy_array_spec_t;

//  Defaults for an array of `dims` dimensions: Zarr v2, voxel size 1,
//  offset 0, fill 0, no compression, C order. `shape` and `chunks` are
//  copied. Zarr v3 arrays take the same fields, with these differences:
//  chunk keys are always c/I/J/K ('/' separated), compressor zlib is
//  refused (v3 has gzip), blosc's automatic shuffle (-1) is resolved when
//  written, order 'F' is refused (v3 spells it as a transpose codec, which
//  is read but not written).
DAISY_EXPORT void daisy_array_spec_init(daisy_array_spec_t *spec, daisy_dtype_t dtype, int dims,
                                        const int64_t *shape, const int64_t *chunks);

//  Create an array at `path` (a directory, created with its parents; parents
//  from the first one named *.zarr down become groups, .zgroup for v2 and
//  zarr.json for v3, so Python sees a hierarchy). Fails if something exists
//  at `path`, unless spec->overwrite and it is a Zarr array (v2 or v3) or
//  an empty directory, whose contents are then removed. The handle is
//  writable.
DAISY_EXPORT daisy_array_t *daisy_array_create(const char *path, const daisy_array_spec_t *spec,
                                               daisy_error_t *err);
//  Open an existing array; writes fail on a handle opened read-only.
DAISY_EXPORT daisy_array_t *daisy_array_open(const char *path, bool writable, daisy_error_t *err);
DAISY_EXPORT void daisy_array_destroy(daisy_array_t **self_p);

//  Read `roi` (world units) into `buf` (C order, roi.shape / voxel_size).
DAISY_EXPORT int daisy_array_read(daisy_array_t *self, const daisy_roi_t *roi, void *buf,
                                  daisy_error_t *err);
//  Write `buf` (C order, roi.shape / voxel_size) to `roi` (world units).
DAISY_EXPORT int daisy_array_write(daisy_array_t *self, const daisy_roi_t *roi, const void *buf,
                                   daisy_error_t *err);

DAISY_EXPORT const char *daisy_array_path(const daisy_array_t *self);
DAISY_EXPORT int daisy_array_dims(const daisy_array_t *self);
DAISY_EXPORT daisy_dtype_t daisy_array_dtype(const daisy_array_t *self);
DAISY_EXPORT size_t daisy_array_itemsize(const daisy_array_t *self);
//  Shape and chunk shape in voxels.
DAISY_EXPORT daisy_coord_t daisy_array_shape(const daisy_array_t *self);
DAISY_EXPORT daisy_coord_t daisy_array_chunks(const daisy_array_t *self);
//  World units.
DAISY_EXPORT daisy_coord_t daisy_array_voxel_size(const daisy_array_t *self);
DAISY_EXPORT daisy_coord_t daisy_array_offset(const daisy_array_t *self);
DAISY_EXPORT daisy_roi_t daisy_array_roi(const daisy_array_t *self);
//  The fill value as a double, and exactly: one element's bytes (native
//  byte order) copied to `item`. A null fill value reads as 0.
DAISY_EXPORT double daisy_array_fill_value(const daisy_array_t *self);
DAISY_EXPORT void daisy_array_fill_item(const daisy_array_t *self, void *item);
DAISY_EXPORT daisy_compressor_t daisy_array_compressor(const daisy_array_t *self);
//  2 or 3.
DAISY_EXPORT int daisy_array_format(const daisy_array_t *self);
//  Shard shape in voxels: the grid of files, whose cells independent
//  writers must not share. The chunk shape when the array is unsharded.
DAISY_EXPORT daisy_coord_t daisy_array_shards(const daisy_array_t *self);
//  Zarr v3 dimension_names[d], or NULL (none, or v2).
DAISY_EXPORT const char *daisy_array_dimension_name(const daisy_array_t *self, int d);
//  Bytes of a buffer for `roi`, or 0 when its shape is not a multiple of
//  the voxel size, its dimensions are not the array's, or the bytes do not
//  fit in a ptrdiff_t (an array may be far larger than any one buffer:
//  read it by blocks; reads and writes of such a ROI are refused).
DAISY_EXPORT size_t daisy_array_buffer_size(const daisy_array_t *self, const daisy_roi_t *roi);

//  numpy names: "uint8", ..., "float64".
DAISY_EXPORT const char *daisy_dtype_name(daisy_dtype_t dtype);
DAISY_EXPORT size_t daisy_dtype_size(daisy_dtype_t dtype);
//  Accepts numpy names ("uint16") and Zarr type strings ("<u2", "|u1").
DAISY_EXPORT int daisy_dtype_parse(const char *name, daisy_dtype_t *dtype);
//  numcodecs ids: "none" (null), "zlib", "gzip", "zstd", "blosc".
DAISY_EXPORT const char *daisy_compressor_name(daisy_compressor_t compressor);
DAISY_EXPORT int daisy_compressor_parse(const char *name, daisy_compressor_t *compressor);

#ifdef __cplusplus
}
#endif
#endif
