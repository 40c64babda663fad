/*  array_internal.h - the Zarr array handle, shared by the files of the zarr layer

    daisy_array_t is one struct that every piece reads and fills: the
    metadata sets its shape, type and codec settings, the chunk store keeps
    its buffers and file names in it, the ROI copy walks its chunk grid.
    Zarr v3 arrays (format 3) use the same handle: their codec chain
    (v3_codecs.c) replaces the v2 codec, and a sharded array keeps its
    shard geometry and index here too, with `chunks` the inner chunks.
    Below it, what each piece offers the others; each function is described
    where it is defined. None of this is exported from libdaisy.
*/
#ifndef DAISY_ARRAY_INTERNAL_H
#define DAISY_ARRAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "daisy/array.h"
#include "codec.h"
#include "permute.h"       //  zarr_permute: chunk.c and v3_codecs.c transpose chunks

//  A Zarr v3 codec chain for one chunk: optional transpose, bytes (with
//  its endianness), then bytes-to-bytes codecs: at most one compressor and
//  any crc32c, in order (v3_codecs.c).
#define V3_MAX_B2B 4
typedef struct {
    bool transpose;
    int order[DAISY_MAX_DIMS];          //  encoded axis i is decoded axis order[i]
    bool big;                           //  bytes: big endian
    int nb2b;
    char b2b[V3_MAX_B2B];               //  'z' the compressor, 'c' crc32c
    codec_config_t comp;                //  id NONE when there is no compressor
    size_t typesize;                    //  blosc typesize (the dtype's size by default)
    codec_t *codec;
    unsigned char *scratch[2];
    size_t scratch_cap[2];
} v3_chain_t;

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
    //  v2 "order": "F": chunks are stored with the first axis fastest and
    //  are transposed to C order as they are decoded (back as they are
    //  encoded). Only with 2 or more dimensions: in 1 the two are the same.
    bool order_f;
    unsigned char *order_buf;           //  a chunk in F order (made on first use)
    size_t order_cap;
    int format;                         //  2 or 3
    bool key_prefix;                    //  v3 "default" keys: "c" + sep first
    char *dim_names[DAISY_MAX_DIMS];    //  v3 dimension_names (NULL: none)
    v3_chain_t chain;                   //  v3: the (inner) chunks' codecs
    bool sharded;                       //  v3 sharding_indexed
    int64_t shard[DAISY_MAX_DIMS];      //  shard shape, voxels (= chunks unsharded)
    size_t n_inner;                     //  inner chunks in a shard
    bool index_start;                   //  index_location "start"
    bool index_big, index_crc;          //  index_codecs: bytes endian, crc32c
    size_t index_bytes;                 //  the encoded index
    uint64_t *index;                    //  2 * n_inner: (offset, nbytes) per inner chunk
    unsigned char *shard_buf;           //  a shard being assembled
    size_t shard_cap;
    unsigned char *old_buf;             //  a shard being rewritten
    size_t old_cap;
    size_t *slot_off, *slot_len;        //  n_inner: where each new inner chunk went
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
    char key[DAISY_MAX_DIMS * 21 + 3];  //  the current chunk's key
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
//  `meta` (taken) as text, its "fill_value" set to the string "@FILL@"
//  replaced by the fill value as zarr_fill_format writes it (jansson
//  cannot write NaN or a 64-bit integer beyond 2^63), then `tail`. NULL
//  when out of memory.
char *zarr_dumps_with_fill(json_t *meta, size_t flags, daisy_dtype_t t,
                           const unsigned char item[8], const char *tail);

//  crc32c.c
uint32_t zarr_crc32c(const void *data, size_t len);

//  files.c: whole files, directories
int zarr_read_full(int fd, void *buf, size_t len);
int zarr_write_full(int fd, const void *buf, size_t len);
char *zarr_slurp(const char *file, size_t *len_out);
bool zarr_exists(const char *dir, const char *name);
//  The largest chunk (decoded) an array may have: 4 GiB. A read allocates
//  and fills a whole chunk, so a hostile .zarray with chunks of 2^40
//  voxels took the machine's memory for a read of 4 bytes.
#define ZARR_MAX_CHUNK_BYTES ((uint64_t)1 << 32)

int zarr_write_atomic(const char *dir, const char *name, const char *data, size_t len,
                      daisy_error_t *err);
//  The same, put in place with link(2) when `exclusive`: fails ("already
//  exists") rather than replace a file another process put there.
int zarr_write_file(const char *dir, const char *name, const char *data, size_t len,
                    bool exclusive, daisy_error_t *err);
int zarr_prepare_dir(const char *path, bool overwrite, daisy_error_t *err);
int zarr_make_parents(const char *path, int format, daisy_error_t *err);
int zarr_v3_node_type(const char *dir, char *out, size_t len);

//  metadata.c: .zarray and .zattrs, and JSON helpers shared with v3_metadata.c
typedef struct {
    char *text;
    json_t *root;
    bool ints_as_real;  //  parsed again with integers as reals
} zarr_json_file_t;
int zarr_json_int(const json_t *v, int64_t *out);
int zarr_json_ints(const json_t *v, int64_t *out, int *n_out);
json_t *zarr_json_list(int dims, const int64_t *v);
int zarr_json_load(const daisy_array_t *self, const char *name, size_t flags,
                   zarr_json_file_t *f, daisy_error_t *err);
void zarr_json_free(zarr_json_file_t *f);
int zarr_meta_parse_fill(daisy_array_t *self, const json_t *f, bool ints_as_real,
                         const char *text, daisy_error_t *err);
int zarr_meta_parse_funlib(daisy_array_t *self, const json_t *root, const char *where,
                           daisy_error_t *err);
int zarr_meta_read_zarray(daisy_array_t *self, daisy_error_t *err);
int zarr_meta_read_zattrs(daisy_array_t *self, daisy_error_t *err);
int zarr_meta_check_spec(const daisy_array_spec_t *spec, codec_config_t *cfg,
                         unsigned char item[8], daisy_error_t *err);
int zarr_meta_write(const char *dir, const daisy_array_spec_t *spec, const codec_config_t *cfg,
                    const unsigned char item[8], daisy_error_t *err);

//  v3_codecs.c: the v3 codec chain
int v3_chain_parse(v3_chain_t *chain, const json_t *codecs, const daisy_array_t *self,
                   const char *where, const json_t **sharding, daisy_error_t *err);
int v3_chain_from_spec(v3_chain_t *chain, const daisy_array_spec_t *spec, daisy_error_t *err);
json_t *v3_chain_json(const v3_chain_t *chain);
int v3_chain_open(v3_chain_t *chain, daisy_error_t *err);
void v3_chain_close(v3_chain_t *chain);
int v3_chain_encode(v3_chain_t *chain, const daisy_array_t *self, const unsigned char *src,
                    const void **out, size_t *out_len, daisy_error_t *err);
int v3_chain_decode(v3_chain_t *chain, const daisy_array_t *self, const unsigned char *src,
                    size_t src_len, unsigned char *dst, daisy_error_t *err);

//  v3_metadata.c: zarr.json
int zarr_v3_read(daisy_array_t *self, daisy_error_t *err);
int zarr_v3_check_spec(const daisy_array_spec_t *spec, int format, daisy_error_t *err);
int zarr_v3_write(const char *dir, const daisy_array_spec_t *spec, const unsigned char item[8],
                  daisy_error_t *err);

//  chunk.c: the chunk store
int chunk_setup(daisy_array_t *self, daisy_error_t *err);
void chunk_teardown(daisy_array_t *self);
void chunk_name(daisy_array_t *self, const int64_t *c);
unsigned char *chunk_buf(daisy_array_t *self, daisy_error_t *err);
unsigned char *chunk_fill_buf(daisy_array_t *self, daisy_error_t *err);
int chunk_load(daisy_array_t *self, unsigned char *dst, daisy_error_t *err);
int chunk_store(daisy_array_t *self, unsigned char *data, daisy_error_t *err);
int chunk_put(daisy_array_t *self, const void *data, size_t len, daisy_error_t *err);
int chunk_reserve(unsigned char **buf, size_t *cap, size_t size, daisy_error_t *err);

//  shard.c: v3 shards (sharding_indexed)
int shard_setup(daisy_array_t *self, daisy_error_t *err);
void shard_teardown(daisy_array_t *self);
int shard_copy(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b, const int64_t *n,
               unsigned char *out, const unsigned char *in, daisy_error_t *err);

//  roi_copy.c: ROIs to and from chunks, and the walk over a chunk grid that
//  shard.c shares. zarr_walk_t iterates over the chunks (of shape
//  `chunks`, in an array of `shape`) that the box [b, b + n) touches. For
//  each: the chunk's grid index c, the box's count, its start in the chunk
//  and in the box.
typedef struct {
    int dims;
    const int64_t *chunks, *shape;
    int64_t lo[DAISY_MAX_DIMS], hi[DAISY_MAX_DIMS];   //  chunk index range, inclusive
    int64_t c[DAISY_MAX_DIMS];
    int64_t cnt[DAISY_MAX_DIMS], cstart[DAISY_MAX_DIMS], rstart[DAISY_MAX_DIMS];
    bool whole;         //  the box is the whole chunk
    bool in_array;      //  the box is the whole part of the chunk inside the array
} zarr_walk_t;
void zarr_walk_start(zarr_walk_t *w, int dims, const int64_t *chunks, const int64_t *shape,
                     const int64_t *b, const int64_t *n);
bool zarr_walk_next(zarr_walk_t *w, const int64_t *b, const int64_t *n);
void zarr_copy_box(int dims, size_t item, const int64_t *cnt, const unsigned char *src,
                   const int64_t *sshape, const int64_t *sstart, unsigned char *dst,
                   const int64_t *dshape, const int64_t *dstart);
int roi_copy_check(const daisy_array_t *self, const daisy_roi_t *roi, int64_t *b, int64_t *n,
                   daisy_error_t *err);
int roi_copy_read(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
                  const int64_t *n, unsigned char *out, daisy_error_t *err);
int roi_copy_write(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
                   const int64_t *n, const unsigned char *in, daisy_error_t *err);

#endif
