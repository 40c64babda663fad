/*  codec.c - Zarr v2 chunk compressors through the Debian libraries

    Why this shape: an array reads and writes chunk after chunk, so every
    codec keeps its state between chunks. zlib and gzip keep one z_stream
    for inflate and one for deflate and reset them (deflateInit allocates
    about 256 KiB, far more than a small chunk); zstd keeps a ZSTD_CCtx and
    a ZSTD_DCtx; blosc uses the _ctx calls, which need no global state, no
    blosc_init() and are safe next to other threads using blosc. The output
    buffer grows to the largest chunk seen and stays.

    Decoding never trusts the data: every path checks that the output is
    exactly the chunk's size (a chunk that decodes short or long is
    corrupt), blosc headers are validated before decompression, and errors
    carry the library's own text. The formats are what numcodecs writes:
    zlib.compress (zlib header), a single gzip member (concatenated members
    are accepted when reading, as Python's gzip does), ZSTD_compress frames
    (content size recorded, which numcodecs needs to decode), and blosc 1
    buffers with the element size as typesize.
*/
#include "codec.h"

#include <blosc.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

struct _codec_t {
    codec_config_t config;
    size_t itemsize;
    int blosc_shuffle;      //  resolved (auto -> byte or bit)
    z_stream inflater;
    bool inflater_ready;
    z_stream deflater;
    bool deflater_ready;
    ZSTD_CCtx *zcctx;
    ZSTD_DCtx *zdctx;
    unsigned char *out;
    size_t out_cap;
};

static int
s_reserve(codec_t *self, size_t size, daisy_error_t *err)
{
    if (size <= self->out_cap)
        return 0;
    unsigned char *out = realloc(self->out, size);
    if (!out)
        return daisy_error_set(err, "out of memory for a %zu-byte compression buffer", size);
    self->out = out;
    self->out_cap = size;
    return 0;
}

codec_t *
codec_new(const codec_config_t *config, size_t itemsize, daisy_error_t *err)
{
    const char *name = daisy_compressor_name(config->id);
    switch (config->id) {
    case DAISY_COMPRESSOR_NONE:
        break;
    case DAISY_COMPRESSOR_ZLIB:
    case DAISY_COMPRESSOR_GZIP:
        if (config->level < 0 || config->level > 9)
            return daisy_error_set(err, "%s level %d is outside 0..9", name, config->level),
                   NULL;
        break;
    case DAISY_COMPRESSOR_ZSTD:
        if (config->level < ZSTD_minCLevel() || config->level > ZSTD_maxCLevel())
            return daisy_error_set(err, "zstd level %d is outside %d..%d", config->level,
                                   ZSTD_minCLevel(), ZSTD_maxCLevel()),
                   NULL;
        break;
    case DAISY_COMPRESSOR_BLOSC:
        if (config->level < 0 || config->level > 9)
            return daisy_error_set(err, "blosc clevel %d is outside 0..9", config->level),
                   NULL;
        if (blosc_compname_to_compcode(config->cname) < 0)
            return daisy_error_set(err, "blosc compressor '%s' is not available (this blosc has %s)",
                                   config->cname, blosc_list_compressors()),
                   NULL;
        if (config->shuffle < -1 || config->shuffle > 2)
            return daisy_error_set(err, "blosc shuffle %d is not -1, 0, 1 or 2", config->shuffle),
                   NULL;
        if (config->blocksize < 0)
            return daisy_error_set(err, "blosc blocksize %d is negative", config->blocksize),
                   NULL;
        break;
    default:
        return daisy_error_set(err, "unknown compressor %d", (int)config->id), NULL;
    }
    codec_t *self = calloc(1, sizeof *self);
    if (!self)
        return daisy_error_set(err, "out of memory"), NULL;
    self->config = *config;
    self->itemsize = itemsize;
    self->blosc_shuffle = config->shuffle;
    if (config->shuffle == -1)      //  numcodecs' AUTOSHUFFLE
        self->blosc_shuffle = itemsize == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE;
    return self;
}

void
codec_destroy(codec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    codec_t *self = *self_p;
    if (self->inflater_ready)
        inflateEnd(&self->inflater);
    if (self->deflater_ready)
        deflateEnd(&self->deflater);
    ZSTD_freeCCtx(self->zcctx);
    ZSTD_freeDCtx(self->zdctx);
    free(self->out);
    free(self);
    *self_p = NULL;
}

//  zlib (windowBits 15) and gzip (15 + 16) --------------------------------

static int
s_zlib_decode(codec_t *self, const void *src, size_t src_len, void *dst,
              size_t dst_len, daisy_error_t *err)
{
    const char *name = daisy_compressor_name(self->config.id);
    bool gzip = self->config.id == DAISY_COMPRESSOR_GZIP;
    if (src_len > UINT_MAX || dst_len > UINT_MAX)
        return daisy_error_set(err, "%s: chunks of 4 GiB or more are not supported", name);
    z_stream *z = &self->inflater;
    if (!self->inflater_ready) {
        memset(z, 0, sizeof *z);
        if (inflateInit2(z, gzip ? 15 + 16 : 15) != Z_OK)
            return daisy_error_set(err, "%s: cannot start inflate", name);
        self->inflater_ready = true;
    } else if (inflateReset(z) != Z_OK)
        return daisy_error_set(err, "%s: cannot reset inflate", name);
    z->next_in = (Bytef *)src;
    z->avail_in = (uInt)src_len;
    z->next_out = dst;
    z->avail_out = (uInt)dst_len;
    for (;;) {
        int rc = inflate(z, Z_FINISH);
        if (rc == Z_STREAM_END) {
            //  Python's gzip reads concatenated members; so do we.
            if (gzip && z->avail_in > 0 && z->avail_out > 0) {
                if (inflateReset(z) != Z_OK)
                    return daisy_error_set(err, "%s: cannot reset inflate", name);
                continue;
            }
            if (z->avail_in > 0)
                return daisy_error_set(err, "%s: data continues past the end of the stream "
                                       "(more than the chunk's %zu bytes)", name, dst_len);
            break;
        }
        if (rc == Z_BUF_ERROR && z->avail_out == 0 && z->avail_in > 0)
            return daisy_error_set(err, "%s: data decompresses to more than the chunk's %zu bytes",
                                   name, dst_len);
        if (rc == Z_BUF_ERROR || (rc == Z_OK && z->avail_in == 0))
            return daisy_error_set(err, "%s: data is truncated (decompressed %zu of %zu bytes)",
                                   name, dst_len - z->avail_out, dst_len);
        if (rc != Z_OK)
            return daisy_error_set(err, "%s: %s", name, z->msg ? z->msg : zError(rc));
    }
    if (z->avail_out != 0)
        return daisy_error_set(err, "%s: data decompresses to %zu bytes, the chunk has %zu",
                               name, dst_len - z->avail_out, dst_len);
    return 0;
}

static int
s_zlib_encode(codec_t *self, const void *src, size_t src_len, size_t *out_len,
              daisy_error_t *err)
{
    const char *name = daisy_compressor_name(self->config.id);
    bool gzip = self->config.id == DAISY_COMPRESSOR_GZIP;
    z_stream *z = &self->deflater;
    if (!self->deflater_ready) {
        memset(z, 0, sizeof *z);
        if (deflateInit2(z, self->config.level, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return daisy_error_set(err, "%s: cannot start deflate at level %d", name,
                                   self->config.level);
        self->deflater_ready = true;
    } else if (deflateReset(z) != Z_OK)
        return daisy_error_set(err, "%s: cannot reset deflate", name);
    size_t bound = deflateBound(z, (uLong)src_len);
    if (src_len > UINT_MAX || bound > UINT_MAX)
        return daisy_error_set(err, "%s: chunks of 4 GiB or more are not supported", name);
    if (s_reserve(self, bound, err))
        return -1;
    z->next_in = (Bytef *)src;
    z->avail_in = (uInt)src_len;
    z->next_out = self->out;
    z->avail_out = (uInt)bound;
    int rc = deflate(z, Z_FINISH);
    if (rc != Z_STREAM_END)
        return daisy_error_set(err, "%s: compression failed: %s", name,
                               z->msg ? z->msg : zError(rc));
    *out_len = bound - z->avail_out;
    return 0;
}

//  zstd -------------------------------------------------------------------

static int
s_zstd_decode(codec_t *self, const void *src, size_t src_len, void *dst,
              size_t dst_len, daisy_error_t *err)
{
    if (!self->zdctx && !(self->zdctx = ZSTD_createDCtx()))
        return daisy_error_set(err, "zstd: out of memory for a decompression context");
    unsigned long long content = ZSTD_getFrameContentSize(src, src_len);
    if (content == ZSTD_CONTENTSIZE_ERROR)
        return daisy_error_set(err, "zstd: not a zstd frame");
    if (content != ZSTD_CONTENTSIZE_UNKNOWN && content > dst_len)
        return daisy_error_set(err, "zstd: frame holds %llu bytes, the chunk has %zu",
                               content, dst_len);
    size_t n = ZSTD_decompressDCtx(self->zdctx, dst, dst_len, src, src_len);
    if (ZSTD_isError(n))
        return daisy_error_set(err, "zstd: %s", ZSTD_getErrorName(n));
    if (n != dst_len)
        return daisy_error_set(err, "zstd: data decompresses to %zu bytes, the chunk has %zu",
                               n, dst_len);
    return 0;
}

static int
s_zstd_encode(codec_t *self, const void *src, size_t src_len, size_t *out_len,
              daisy_error_t *err)
{
    if (!self->zcctx && !(self->zcctx = ZSTD_createCCtx()))
        return daisy_error_set(err, "zstd: out of memory for a compression context");
    size_t bound = ZSTD_compressBound(src_len);
    if (s_reserve(self, bound, err))
        return -1;
    size_t n;
    if (self->config.checksum) {
        //  ZSTD_compressCCtx ignores advanced parameters: set them instead.
        ZSTD_CCtx_reset(self->zcctx, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(self->zcctx, ZSTD_c_compressionLevel, self->config.level);
        ZSTD_CCtx_setParameter(self->zcctx, ZSTD_c_checksumFlag, 1);
        n = ZSTD_compress2(self->zcctx, self->out, bound, src, src_len);
    } else
        n = ZSTD_compressCCtx(self->zcctx, self->out, bound, src, src_len, self->config.level);
    if (ZSTD_isError(n))
        return daisy_error_set(err, "zstd: compression failed: %s", ZSTD_getErrorName(n));
    *out_len = n;
    return 0;
}

//  blosc ------------------------------------------------------------------

static int
s_blosc_decode(const void *src, size_t src_len, void *dst, size_t dst_len,
               daisy_error_t *err)
{
    size_t nbytes = 0;
    if (blosc_cbuffer_validate(src, src_len, &nbytes) < 0)
        return daisy_error_set(err, "blosc: invalid or truncated blosc buffer (%zu bytes)",
                               src_len);
    if (nbytes != dst_len)
        return daisy_error_set(err, "blosc: buffer holds %zu bytes, the chunk has %zu",
                               nbytes, dst_len);
    int n = blosc_decompress_ctx(src, dst, dst_len, 1);
    if (n < 0)
        return daisy_error_set(err, "blosc: decompression failed (code %d)", n);
    if ((size_t)n != dst_len)
        return daisy_error_set(err, "blosc: data decompresses to %d bytes, the chunk has %zu",
                               n, dst_len);
    return 0;
}

static int
s_blosc_encode(codec_t *self, const void *src, size_t src_len, size_t *out_len,
               daisy_error_t *err)
{
    if (src_len > BLOSC_MAX_BUFFERSIZE)
        return daisy_error_set(err, "blosc: a chunk of %zu bytes is larger than blosc's "
                               "limit of %d", src_len, BLOSC_MAX_BUFFERSIZE);
    size_t cap = src_len + BLOSC_MAX_OVERHEAD;
    if (s_reserve(self, cap, err))
        return -1;
    size_t typesize = self->itemsize <= BLOSC_MAX_TYPESIZE ? self->itemsize : 1;
    int n = blosc_compress_ctx(self->config.level, self->blosc_shuffle, typesize, src_len,
                               src, self->out, cap, self->config.cname,
                               (size_t)self->config.blocksize, 1);
    if (n <= 0)
        return daisy_error_set(err, "blosc: compression with '%s' failed (code %d)",
                               self->config.cname, n);
    *out_len = (size_t)n;
    return 0;
}

//  Dispatch ---------------------------------------------------------------

int
codec_decode(codec_t *self, const void *src, size_t src_len, void *dst,
             size_t dst_len, daisy_error_t *err)
{
    switch (self->config.id) {
    case DAISY_COMPRESSOR_NONE:
        if (src_len != dst_len)
            return daisy_error_set(err, "uncompressed chunk has %zu bytes, expected %zu",
                                   src_len, dst_len);
        memcpy(dst, src, dst_len);
        return 0;
    case DAISY_COMPRESSOR_ZLIB:
    case DAISY_COMPRESSOR_GZIP:
        return s_zlib_decode(self, src, src_len, dst, dst_len, err);
    case DAISY_COMPRESSOR_ZSTD:
        return s_zstd_decode(self, src, src_len, dst, dst_len, err);
    case DAISY_COMPRESSOR_BLOSC:
        return s_blosc_decode(src, src_len, dst, dst_len, err);
    }
    return daisy_error_set(err, "unknown compressor %d", (int)self->config.id);
}

int
codec_encode(codec_t *self, const void *src, size_t src_len, const void **out,
             size_t *out_len, daisy_error_t *err)
{
    int rc = -1;
    switch (self->config.id) {
    case DAISY_COMPRESSOR_NONE:
        *out = src;
        *out_len = src_len;
        return 0;
    case DAISY_COMPRESSOR_ZLIB:
    case DAISY_COMPRESSOR_GZIP:
        rc = s_zlib_encode(self, src, src_len, out_len, err);
        break;
    case DAISY_COMPRESSOR_ZSTD:
        rc = s_zstd_encode(self, src, src_len, out_len, err);
        break;
    case DAISY_COMPRESSOR_BLOSC:
        rc = s_blosc_encode(self, src, src_len, out_len, err);
        break;
    default:
        return daisy_error_set(err, "unknown compressor %d", (int)self->config.id);
    }
    if (rc == 0)
        *out = self->out;
    return rc;
}
