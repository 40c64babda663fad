/*  array.c - nD arrays in Zarr v2 and v3 directory stores, addressed by world-unit ROIs

    Why Zarr v2 in a directory: it is what daisy's Python users already
    write (zarr + funlib.persistence), every chunk is an independent file,
    and a file can be replaced atomically by renaming another over it. That
    is the whole concurrency story: a chunk is encoded, written to a
    uniquely named temporary file beside its final name and renamed into
    place. Readers see the old chunk or the new one, never half of one, and
    writers of different chunks never touch the same file, so blocks
    aligned to the chunk grid can be written by any number of processes
    (on any hosts sharing the file system) with no lock. Only a write that
    covers part of a chunk reads the chunk first; two of those on one chunk
    at once can lose an update, as in Zarr, and that is documented as the
    caller's business.

    This file holds the public functions, daisy_array_*, which tie the
    pieces together; each piece is a file of its own, and they share the
    handle through array_internal.h:

        dtype.c      element types: names, sizes, byte order, fill values
                     (and daisy_dtype_*)
        metadata.c   .zarray and .zattrs: reading, checking, writing (and
                     daisy_compressor_*)
        files.c      whole metadata files, atomic replacement by rename,
                     an array's directory and its parent groups
        chunk.c      the chunk store: chunk files, encoding through
                     codec.c, atomic replacement
        roi_copy.c   copying between a ROI in world units and the chunks

    Zarr v3 (zarr.json) came later, beside v2 behind the same calls: the
    same handle, with these files for what differs:

        v3_metadata.c  zarr.json: reading, checking, writing
        v3_codecs.c    the v3 codec chain (transpose, bytes, compressors
                       from codec.c, crc32c)
        crc32c.c       the CRC-32C checksum
        shard.c        sharding_indexed: shards of inner chunks, with an
                       index, read by range and replaced whole
*/
#include "array_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  Handles ----------------------------------------------------------------

static char *
s_clean_path(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    char *p = strndup(path, len);
    return p;
}

daisy_array_t *
daisy_array_open(const char *path, bool writable, daisy_error_t *err)
{
    if (!path || !*path)
        return daisy_error_set(err, "array: no path given"), NULL;
    daisy_array_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = s_clean_path(path))) {
        free(self);
        return daisy_error_set(err, "array '%s': out of memory", path), NULL;
    }
    self->writable = writable;
    self->format = 2;
    bool v3 = zarr_exists(self->path, "zarr.json") && !zarr_exists(self->path, ".zarray");
    if ((v3 ? zarr_v3_read(self, err)
            : zarr_meta_read_zarray(self, err) || zarr_meta_read_zattrs(self, err))
        || chunk_setup(self, err) || shard_setup(self, err)) {
        daisy_error_prefix(err, "array '%s'", self->path);
        daisy_array_destroy(&self);
    }
    return self;
}

void
daisy_array_destroy(daisy_array_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    daisy_array_t *self = *self_p;
    chunk_teardown(self);
    shard_teardown(self);
    free(self->path);
    free(self);
    *self_p = NULL;
}

void
daisy_array_spec_init(daisy_array_spec_t *spec, daisy_dtype_t dtype, int dims,
                      const int64_t *shape, const int64_t *chunks)
{
    memset(spec, 0, sizeof *spec);
    spec->dtype = dtype;
    spec->dims = dims;
    for (int d = 0; d < dims && d < DAISY_MAX_DIMS; d++) {
        spec->shape[d] = shape ? shape[d] : 0;
        spec->chunks[d] = chunks ? chunks[d] : 1;
        spec->voxel_size[d] = 1;
    }
    spec->compressor = DAISY_COMPRESSOR_NONE;
    spec->level = -1;
    spec->blosc_cname = "lz4";
    spec->blosc_shuffle = 1;
    spec->dimension_separator = '.';
    spec->order = 'C';
    spec->zarr_format = 2;
}

//  Check the spec, make room at `path` and its parents, write the metadata
//  and open what was written.
daisy_array_t *
daisy_array_create(const char *path, const daisy_array_spec_t *spec, daisy_error_t *err)
{
    if (!path || !*path)
        return daisy_error_set(err, "array: no path given"), NULL;
    if (!spec)
        return daisy_error_set(err, "array '%s': no spec given", path), NULL;
    char *clean = s_clean_path(path);
    if (!clean)
        return daisy_error_set(err, "array '%s': out of memory", path), NULL;
    codec_config_t cfg;
    unsigned char item[8];
    daisy_array_t *self = NULL;
    int format = spec->zarr_format ? spec->zarr_format : 2;
    if (format != 2 && format != 3)
        daisy_error_set(err, "array '%s': zarr_format %d is neither 2 nor 3", clean, format);
    else if (zarr_meta_check_spec(spec, &cfg, item, err) || zarr_v3_check_spec(spec, format, err)
             || zarr_prepare_dir(clean, spec->overwrite, err)
             || zarr_make_parents(clean, format, err)
             || (format == 2 ? zarr_meta_write(clean, spec, &cfg, item, err)
                             : zarr_v3_write(clean, spec, item, err)))
        daisy_error_prefix(err, "array '%s'", clean);
    else
        self = daisy_array_open(clean, true, err);
    free(clean);
    return self;
}

//  Getters ----------------------------------------------------------------

const char *
daisy_array_path(const daisy_array_t *self)
{
    return self->path;
}

int
daisy_array_dims(const daisy_array_t *self)
{
    return self->dims;
}

daisy_dtype_t
daisy_array_dtype(const daisy_array_t *self)
{
    return self->dtype;
}

size_t
daisy_array_itemsize(const daisy_array_t *self)
{
    return self->itemsize;
}

daisy_coord_t
daisy_array_shape(const daisy_array_t *self)
{
    return daisy_coord_make(self->dims, self->shape);
}

daisy_coord_t
daisy_array_chunks(const daisy_array_t *self)
{
    return daisy_coord_make(self->dims, self->chunks);
}

daisy_coord_t
daisy_array_voxel_size(const daisy_array_t *self)
{
    return daisy_coord_make(self->dims, self->voxel);
}

daisy_coord_t
daisy_array_offset(const daisy_array_t *self)
{
    return daisy_coord_make(self->dims, self->offset);
}

daisy_roi_t
daisy_array_roi(const daisy_array_t *self)
{
    int64_t shape[DAISY_MAX_DIMS];
    for (int d = 0; d < self->dims; d++)
        shape[d] = self->shape[d] * self->voxel[d];
    return daisy_roi_make(self->dims, self->offset, shape);
}

double
daisy_array_fill_value(const daisy_array_t *self)
{
    return self->fill;
}

void
daisy_array_fill_item(const daisy_array_t *self, void *item)
{
    memcpy(item, self->fill_item, self->itemsize);
}

daisy_compressor_t
daisy_array_compressor(const daisy_array_t *self)
{
    return self->codec_config.id;
}

int
daisy_array_format(const daisy_array_t *self)
{
    return self->format;
}

daisy_coord_t
daisy_array_shards(const daisy_array_t *self)
{
    return daisy_coord_make(self->dims, self->sharded ? self->shard : self->chunks);
}

const char *
daisy_array_dimension_name(const daisy_array_t *self, int d)
{
    return d >= 0 && d < self->dims ? self->dim_names[d] : NULL;
}

//  Reading and writing ----------------------------------------------------

size_t
daisy_array_buffer_size(const daisy_array_t *self, const daisy_roi_t *roi)
{
    if (!roi || roi->dims != self->dims)
        return 0;
    size_t bytes = self->itemsize;
    for (int d = 0; d < self->dims; d++) {
        if (roi->shape[d] < 0 || roi->shape[d] % self->voxel[d] != 0)
            return 0;
        uint64_t n = (uint64_t)(roi->shape[d] / self->voxel[d]);
        if (n && bytes > PTRDIFF_MAX / n)     //  offsets into it are signed
            return 0;
        bytes *= n;
    }
    return bytes;
}

int
daisy_array_read(daisy_array_t *self, const daisy_roi_t *roi, void *buf, daisy_error_t *err)
{
    int64_t b[DAISY_MAX_DIMS], n[DAISY_MAX_DIMS];
    int rc = roi_copy_check(self, roi, b, n, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!buf)
        return daisy_error_set(err, "array '%s': no buffer to read into", self->path);
    return roi_copy_read(self, roi, b, n, buf, err);
}

int
daisy_array_write(daisy_array_t *self, const daisy_roi_t *roi, const void *buf,
                  daisy_error_t *err)
{
    int64_t b[DAISY_MAX_DIMS], n[DAISY_MAX_DIMS];
    int rc = roi_copy_check(self, roi, b, n, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!self->writable) {
        char rtext[160];
        daisy_roi_format(roi, rtext, sizeof rtext);
        return daisy_error_set(err, "array '%s': cannot write ROI %s: opened read-only",
                               self->path, rtext);
    }
    if (!buf)
        return daisy_error_set(err, "array '%s': no buffer to write from", self->path);
    return roi_copy_write(self, roi, b, n, buf, err);
}
