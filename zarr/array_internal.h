/*  array_internal.h - the Zarr array handle, shared by the files of the zarr layer

    daisy_array_t is one struct that every piece reads and fills: the
    metadata sets its shape, type and codec settings, the chunk store keeps
    its buffers and file names in it, the ROI copy walks its chunk grid.
    Below it, what each piece offers the others; each function is described
    where it is defined. None of this is exported from libdaisy.
*/
#ifndef DAISY_ARRAY_INTERNAL_H
#define DAISY_ARRAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daisy/array.h"
#include "codec.h"

struct _daisy_array_t {
    char *path;
    bool writable;
    int dims;
    daisy_dtype_t dtype;
    size_t itemsize;
    bool swap;                          //  stored big endian
    int64_t shape[DAISY_MAX_DIMS];      //  voxels
    int64_t chunks[DAISY_MAX_DIMS];     //  voxels
    int64_t voxel[DAISY_MAX_DIMS];      //  world units
    int64_t offset[DAISY_MAX_DIMS];     //  world units
    char sep;                           //  '.' or '/'
    double fill;
    unsigned char fill_item[8];         //  native byte order
    codec_config_t codec_config;
    codec_t *codec;
    size_t chunk_bytes;
    unsigned char *chunk_buf;           //  one decoded chunk (made on first use)
    unsigned char *fill_buf;            //  one chunk of fill value (made on first use)
    unsigned char *file_buf;            //  raw contents of a chunk file
    size_t file_cap;
    char *file;                         //  path of the current chunk
    char *tmp;                          //  path of its temporary file
    size_t path_cap;
    char key[DAISY_MAX_DIMS * 21 + 1];  //  the current chunk's key
    uint32_t tmp_nonce;
    uint64_t tmp_count;
    bool plain_rename;                  //  renameat2 flags unsupported here
    char *spare;                        //  an old chunk's file, reused for the next write
    bool have_spare;
    bool no_spare;                      //  leases unsupported: never keep a spare
    pid_t spare_pid;                    //  the process the spare belongs to
};

//  dtype.c: element types and fill values
bool zarr_dtype_valid(daisy_dtype_t t);
char zarr_dtype_kind(daisy_dtype_t t);
int zarr_dtype_parse(const char *name, daisy_dtype_t *dtype, bool *big);
void zarr_dtype_zarr(daisy_dtype_t t, char out[4]);
void zarr_dtype_swap(void *buf, size_t items, size_t itemsize);
int zarr_fill_from_double(daisy_dtype_t t, double v, unsigned char item[8], double *exact);
int zarr_fill_from_int(daisy_dtype_t t, int64_t i, unsigned char item[8], double *exact);
void zarr_fill_format(daisy_dtype_t t, const unsigned char item[8], char *out, size_t len);

//  files.c: whole files, directories
int zarr_read_full(int fd, void *buf, size_t len);
int zarr_write_full(int fd, const void *buf, size_t len);
char *zarr_slurp(const char *file, size_t *len_out);
bool zarr_exists(const char *dir, const char *name);
int zarr_write_atomic(const char *dir, const char *name, const char *data, size_t len,
                      daisy_error_t *err);
int zarr_prepare_dir(const char *path, bool overwrite, daisy_error_t *err);
int zarr_make_parents(const char *path, daisy_error_t *err);

//  metadata.c: .zarray and .zattrs
int zarr_meta_read_zarray(daisy_array_t *self, daisy_error_t *err);
int zarr_meta_read_zattrs(daisy_array_t *self, daisy_error_t *err);
int zarr_meta_check_spec(const daisy_array_spec_t *spec, codec_config_t *cfg,
                         unsigned char item[8], daisy_error_t *err);
int zarr_meta_write(const char *dir, const daisy_array_spec_t *spec, const codec_config_t *cfg,
                    const unsigned char item[8], daisy_error_t *err);

//  chunk.c: the chunk store
int chunk_setup(daisy_array_t *self, daisy_error_t *err);
void chunk_teardown(daisy_array_t *self);
void chunk_name(daisy_array_t *self, const int64_t *c);
unsigned char *chunk_buf(daisy_array_t *self, daisy_error_t *err);
unsigned char *chunk_fill_buf(daisy_array_t *self, daisy_error_t *err);
int chunk_load(daisy_array_t *self, unsigned char *dst, daisy_error_t *err);
int chunk_store(daisy_array_t *self, unsigned char *data, daisy_error_t *err);

//  roi_copy.c: ROIs to and from chunks
int roi_copy_check(const daisy_array_t *self, const daisy_roi_t *roi, int64_t *b, int64_t *n,
                   daisy_error_t *err);
int roi_copy_read(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
                  const int64_t *n, unsigned char *out, daisy_error_t *err);
int roi_copy_write(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
                   const int64_t *n, const unsigned char *in, daisy_error_t *err);

#endif
