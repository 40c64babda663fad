/*  codec.h - Zarr v2 chunk compressors (private to libdaisy)

    One codec per array handle: it owns the compression contexts and the
    output buffer, which are made on first use and reused for every chunk,
    so the hot path allocates nothing. The formats are numcodecs' (what
    Python zarr writes): raw bytes (compressor null), a zlib stream
    ("zlib"), a gzip member ("gzip"), a zstd frame ("zstd") and a blosc 1
    buffer ("blosc"), each made and read by its Debian library. Zarr v3's
    gzip, zstd and blosc codecs are the same formats (v3_codecs.c uses
    this file for them).
*/
#ifndef DAISY_CODEC_H
#define DAISY_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "daisy/array.h"
#include "daisy/error.h"

typedef struct {
    daisy_compressor_t id;
    int level;          //  zlib/gzip/zstd level, blosc clevel (never -1 here)
    char cname[16];     //  blosc: compressor inside blosc
    int shuffle;        //  blosc: -1 auto, 0 none, 1 byte, 2 bit
    int blocksize;      //  blosc: 0 automatic
    bool checksum;      //  zstd: frames carry a content checksum (Zarr v3's zstd codec)
} codec_config_t;

typedef struct _codec_t codec_t;

//  A codec for chunks of elements of `itemsize` bytes. Checks the
//  configuration (levels, blosc compressor names) against the libraries.
codec_t *codec_new(const codec_config_t *config, size_t itemsize, daisy_error_t *err);
void codec_destroy(codec_t **self_p);

//  Decode `src_len` bytes into exactly `dst_len` bytes at `dst`. Data that
//  does not decode, or decodes to another size, is an error naming the
//  codec and what was wrong.
int codec_decode(codec_t *self, const void *src, size_t src_len, void *dst,
                 size_t dst_len, daisy_error_t *err);

//  Encode `src_len` bytes. *out points into the codec's buffer (valid until
//  the next call) or, without compression, at `src` itself.
int codec_encode(codec_t *self, const void *src, size_t src_len,
                 const void **out, size_t *out_len, daisy_error_t *err);

#endif
