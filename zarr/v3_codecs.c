/*  v3_codecs.c - the Zarr v3 codec chain of a chunk: transpose, bytes, compressors, crc32c

    Zarr v3 spells a chunk's encoding as a list of codecs: array-to-array
    codecs (here: transpose), exactly one array-to-bytes codec (bytes, with
    the byte order; sharding_indexed is handled by v3_metadata.c and
    shard.c), then bytes-to-bytes codecs (gzip, zstd, blosc, crc32c).
    Why a fixed shape rather than a general pipeline: every chain met in
    practice (zarr-python 3, tensorstore, zarrita, neuroglancer) is at most
    one transpose, bytes, one compressor and a crc32c, and a fixed shape
    lets the sizes of every stage be known when decoding (the compressors
    of codec.c decode into a buffer of exactly the expected size). Chains
    outside that shape (two compressors, unknown codecs) are refused when
    the metadata is read, with the codec's position and name.

    The compressors are codec.c's (the same contexts and formats as v2's
    numcodecs compressors: v3's gzip, zstd and blosc are those formats);
    only the configuration is spelled differently (blosc's shuffle by name,
    zstd's checksum). Encoding never modifies the caller's chunk: a
    transpose or a byte swap works in one of two scratch buffers kept by
    the chain, which also hold data with a crc32c appended, so the steady
    state allocates nothing.
*/
#include "array_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static const char *s_shuffles[] = {"noshuffle", "shuffle", "bitshuffle"};

//  Parsing ----------------------------------------------------------------

//  A codec entry's name and configuration (NULL when it has none).
static int
s_entry(const json_t *c, const char **name, const json_t **cfg)
{
    *cfg = NULL;
    if (json_is_string(c)) {
        *name = json_string_value(c);
        return 0;
    }
    *name = json_string_value(json_object_get(c, "name"));
    if (!json_is_object(c) || !*name)
        return -1;
    *cfg = json_object_get(c, "configuration");
    return *cfg && !json_is_object(*cfg) ? -1 : 0;
}

//  An integer field of a configuration, `def` when absent (or -1 error when
//  required and absent, or not an integer in [lo, hi]).
static int
s_cfg_int(const json_t *cfg, const char *key, bool required, int64_t lo, int64_t hi,
          int64_t *out)
{
    const json_t *v = cfg ? json_object_get(cfg, key) : NULL;
    if (!v)
        return required ? -1 : 0;
    int64_t x;
    if (!json_is_integer(v) || zarr_json_int(v, &x) || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int
s_parse_transpose(v3_chain_t *chain, const json_t *cfg, int dims, daisy_error_t *err)
{
    const json_t *o = cfg ? json_object_get(cfg, "order") : NULL;
    const char *s = json_string_value(o);
    bool seen[DAISY_MAX_DIMS] = {false};
    chain->transpose = true;
    if (s && (strcmp(s, "C") == 0 || strcmp(s, "F") == 0)) {
        for (int d = 0; d < dims; d++)
            chain->order[d] = s[0] == 'C' ? d : dims - 1 - d;
        return 0;
    }
    int64_t v[DAISY_MAX_DIMS];
    int n;
    if (!o || zarr_json_ints(o, v, &n) || n != dims)
        return daisy_error_set(err, "transpose: 'order' is not a list of %d axes", dims);
    for (int d = 0; d < dims; d++) {
        if (v[d] < 0 || v[d] >= dims || seen[v[d]])
            return daisy_error_set(err, "transpose: 'order' is not a permutation of 0..%d",
                                   dims - 1);
        seen[v[d]] = true;
        chain->order[d] = (int)v[d];
    }
    return 0;
}

static int
s_parse_bytes(v3_chain_t *chain, const json_t *cfg, daisy_error_t *err)
{
    const json_t *e = cfg ? json_object_get(cfg, "endian") : NULL;
    if (!e || json_is_null(e))
        return 0;
    const char *s = json_string_value(e);
    if (!s || (strcmp(s, "little") != 0 && strcmp(s, "big") != 0))
        return daisy_error_set(err, "bytes: endian is neither \"little\" nor \"big\"");
    chain->big = strcmp(s, "big") == 0;
    return 0;
}

static int
s_parse_blosc(v3_chain_t *chain, const json_t *cfg, daisy_error_t *err)
{
    codec_config_t *c = &chain->comp;
    const char *cname = json_string_value(cfg ? json_object_get(cfg, "cname") : NULL);
    if (!cname || strlen(cname) >= sizeof c->cname)
        return daisy_error_set(err, "blosc: 'cname' is missing or not a compressor name");
    strcpy(c->cname, cname);
    int64_t clevel = 5, typesize = (int64_t)chain->typesize, blocksize = 0;
    if (s_cfg_int(cfg, "clevel", false, 0, 9, &clevel))
        return daisy_error_set(err, "blosc: 'clevel' is not an integer in 0..9");
    if (s_cfg_int(cfg, "typesize", false, 1, 255, &typesize))
        return daisy_error_set(err, "blosc: 'typesize' is not an integer in 1..255");
    if (s_cfg_int(cfg, "blocksize", false, 0, 1 << 30, &blocksize))
        return daisy_error_set(err, "blosc: 'blocksize' is not a non-negative integer");
    const json_t *sh = json_object_get(cfg, "shuffle");
    c->shuffle = 0;
    if (sh) {
        const char *s = json_string_value(sh);
        c->shuffle = -1;
        for (int i = 0; s && i < 3; i++)
            if (strcmp(s, s_shuffles[i]) == 0)
                c->shuffle = i;
        if (c->shuffle < 0)
            return daisy_error_set(err, "blosc: shuffle is not \"noshuffle\", \"shuffle\" or "
                                   "\"bitshuffle\"");
    }
    c->id = DAISY_COMPRESSOR_BLOSC;
    c->level = (int)clevel;
    c->blocksize = (int)blocksize;
    chain->typesize = (size_t)typesize;
    return 0;
}

//  A bytes-to-bytes codec: a compressor (at most one) or crc32c.
static int
s_parse_b2b(v3_chain_t *chain, const char *name, const json_t *cfg, daisy_error_t *err)
{
    if (chain->nb2b == V3_MAX_B2B)
        return daisy_error_set(err, "more than %d bytes-to-bytes codecs", V3_MAX_B2B);
    if (strcmp(name, "crc32c") == 0) {
        chain->b2b[chain->nb2b++] = 'c';
        return 0;
    }
    if (chain->comp.id != DAISY_COMPRESSOR_NONE)
        return daisy_error_set(err, "%s: a second compressor in one chain is not supported",
                               name);
    int64_t level = 0;
    if (strcmp(name, "gzip") == 0) {
        if (s_cfg_int(cfg, "level", true, 0, 9, &level))
            return daisy_error_set(err, "gzip: 'level' is missing or not an integer in 0..9");
        chain->comp.id = DAISY_COMPRESSOR_GZIP;
        chain->comp.level = (int)level;
    } else if (strcmp(name, "zstd") == 0) {
        if (s_cfg_int(cfg, "level", false, ZSTD_minCLevel(), ZSTD_maxCLevel(), &level))
            return daisy_error_set(err, "zstd: 'level' is not an integer in %d..%d",
                                   ZSTD_minCLevel(), ZSTD_maxCLevel());
        const json_t *ck = cfg ? json_object_get(cfg, "checksum") : NULL;
        if (ck && !json_is_boolean(ck))
            return daisy_error_set(err, "zstd: 'checksum' is not true or false");
        chain->comp.id = DAISY_COMPRESSOR_ZSTD;
        chain->comp.level = (int)level;
        chain->comp.checksum = ck && json_is_true(ck);
    } else if (strcmp(name, "blosc") == 0) {
        if (s_parse_blosc(chain, cfg, err))
            return -1;
    } else
        return daisy_error_set(err, "unknown codec '%s'", name);
    chain->b2b[chain->nb2b++] = 'z';
    return 0;
}

//  One codec of a chain; *phase is 0 before the array-to-bytes codec, 1
//  after it.
static int
s_parse_one(v3_chain_t *chain, const json_t *c, size_t i, const daisy_array_t *self,
            int *phase, const json_t **sharding, daisy_error_t *err)
{
    const char *name;
    const json_t *cfg;
    if (s_entry(c, &name, &cfg))
        return daisy_error_set(err, "not a codec (an object with a 'name' and an optional "
                               "'configuration' object)");
    bool a2a = strcmp(name, "transpose") == 0;
    bool a2b = strcmp(name, "bytes") == 0 || strcmp(name, "sharding_indexed") == 0;
    if (a2a && *phase)
        return daisy_error_set(err, "transpose after the array-to-bytes codec");
    if (a2b && *phase)
        return daisy_error_set(err, "a second array-to-bytes codec '%s'", name);
    if (!a2a && !a2b && !*phase && (strcmp(name, "crc32c") == 0 || strcmp(name, "gzip") == 0
                                    || strcmp(name, "zstd") == 0 || strcmp(name, "blosc") == 0))
        return daisy_error_set(err, "'%s' before the array-to-bytes codec (bytes)", name);
    if (a2a) {
        if (chain->transpose)
            return daisy_error_set(err, "a second transpose is not supported");
        return s_parse_transpose(chain, cfg, self->dims, err);
    }
    if (a2b) {
        *phase = 1;
        if (strcmp(name, "bytes") == 0)
            return s_parse_bytes(chain, cfg, err);
        if (!sharding)
            return daisy_error_set(err, "sharding_indexed inside a shard is not supported");
        if (i != 0 || chain->transpose)
            return daisy_error_set(err, "sharding_indexed after other codecs is not supported");
        *sharding = c;
        return 0;
    }
    if (!*phase)
        return daisy_error_set(err, "unknown codec '%s'", name);
    if (sharding && *sharding)
        return daisy_error_set(err, "codec '%s' after sharding_indexed is not supported",
                               name);
    return s_parse_b2b(chain, name, cfg, err);
}

//  Parse a "codecs" list into `chain` for chunks of self's dtype and dims.
//  With `sharding` non-NULL, a sharding_indexed codec may be the whole
//  chain: *sharding is then set to its entry (and the chain is left
//  empty). `where` names the list in errors ("zarr.json: codecs").
int
v3_chain_parse(v3_chain_t *chain, const json_t *codecs, const daisy_array_t *self,
               const char *where, const json_t **sharding, daisy_error_t *err)
{
    memset(chain, 0, sizeof *chain);
    chain->typesize = self->itemsize;
    if (sharding)
        *sharding = NULL;
    if (!json_is_array(codecs) || json_array_size(codecs) == 0)
        return daisy_error_set(err, "%s: not a non-empty list of codecs", where);
    int phase = 0;
    for (size_t i = 0; i < json_array_size(codecs); i++)
        if (s_parse_one(chain, json_array_get(codecs, i), i, self, &phase, sharding, err))
            return daisy_error_prefix(err, "%s[%zu]", where, i);
    if (!phase)
        return daisy_error_set(err, "%s: no array-to-bytes codec (bytes)", where);
    return 0;
}

//  A chain for a new array: bytes (little endian), the spec's compressor,
//  crc32c when spec->checksum. Checks the compressor's settings.
int
v3_chain_from_spec(v3_chain_t *chain, const daisy_array_spec_t *spec, daisy_error_t *err)
{
    memset(chain, 0, sizeof *chain);
    size_t itemsize = daisy_dtype_size(spec->dtype);
    chain->typesize = itemsize;
    codec_config_t *c = &chain->comp;
    c->id = spec->compressor;
    if (c->id == DAISY_COMPRESSOR_ZLIB)
        return daisy_error_set(err, "compressor zlib has no Zarr v3 codec (use gzip)");
    if ((unsigned)c->id > DAISY_COMPRESSOR_BLOSC)
        return daisy_error_set(err, "unknown compressor %d", (int)c->id);
    c->level = spec->level;
    if (c->level == -1)
        c->level = c->id == DAISY_COMPRESSOR_BLOSC ? 5 : 1;
    if (c->id == DAISY_COMPRESSOR_BLOSC) {
        const char *cname = spec->blosc_cname ? spec->blosc_cname : "lz4";
        if (strlen(cname) >= sizeof c->cname)
            return daisy_error_set(err, "blosc compressor '%s' is unknown", cname);
        strcpy(c->cname, cname);
        c->shuffle = spec->blosc_shuffle;
        if (c->shuffle == -1)       //  v3 names no automatic shuffle: resolve it
            c->shuffle = itemsize == 1 ? 2 : 1;
    }
    if (c->id != DAISY_COMPRESSOR_NONE)
        chain->b2b[chain->nb2b++] = 'z';
    if (spec->checksum)
        chain->b2b[chain->nb2b++] = 'c';
    codec_t *probe = c->id == DAISY_COMPRESSOR_NONE ? NULL : codec_new(c, itemsize, err);
    if (c->id != DAISY_COMPRESSOR_NONE && !probe)
        return -1;
    codec_destroy(&probe);
    return 0;
}

//  The chain as a "codecs" list for zarr.json, as zarr-python 3 spells it.
json_t *
v3_chain_json(const v3_chain_t *chain)
{
    json_t *list = json_array();
    json_array_append_new(list, json_pack("{s:s, s:{s:s}}", "name", "bytes", "configuration",
                                          "endian", chain->big ? "big" : "little"));
    const codec_config_t *c = &chain->comp;
    for (int i = 0; i < chain->nb2b; i++) {
        json_t *e = NULL;
        if (chain->b2b[i] == 'c')
            e = json_pack("{s:s}", "name", "crc32c");
        else if (c->id == DAISY_COMPRESSOR_GZIP)
            e = json_pack("{s:s, s:{s:i}}", "name", "gzip", "configuration", "level", c->level);
        else if (c->id == DAISY_COMPRESSOR_ZSTD)
            e = json_pack("{s:s, s:{s:i, s:b}}", "name", "zstd", "configuration", "level",
                          c->level, "checksum", c->checksum);
        else if (c->id == DAISY_COMPRESSOR_BLOSC)
            e = json_pack("{s:s, s:{s:s, s:i, s:s, s:i, s:i}}", "name", "blosc",
                          "configuration", "cname", c->cname, "clevel", c->level, "shuffle",
                          s_shuffles[c->shuffle], "typesize", (int)chain->typesize,
                          "blocksize", c->blocksize);
        json_array_append_new(list, e);
    }
    return list;
}

//  Using a chain ----------------------------------------------------------

//  Make the chain's compressor (its contexts come on first use).
int
v3_chain_open(v3_chain_t *chain, daisy_error_t *err)
{
    if (chain->comp.id == DAISY_COMPRESSOR_NONE || chain->codec)
        return 0;
    chain->codec = codec_new(&chain->comp, chain->typesize, err);
    return chain->codec ? 0 : -1;
}

void
v3_chain_close(v3_chain_t *chain)
{
    codec_destroy(&chain->codec);
    for (int i = 0; i < 2; i++) {
        free(chain->scratch[i]);
        chain->scratch[i] = NULL;
        chain->scratch_cap[i] = 0;
    }
}

//  Scratch buffer k, at least `size` bytes.
static unsigned char *
s_scratch(v3_chain_t *chain, int k, size_t size, daisy_error_t *err)
{
    if (chunk_reserve(&chain->scratch[k], &chain->scratch_cap[k], size, err))
        return NULL;
    return chain->scratch[k];
}

//  Encode one chunk (self->chunk_bytes, native order, C order) at `src`,
//  which is left as it is. *out points into the chain's or the codec's
//  buffers (valid until the next call) or at `src` itself.
int
v3_chain_encode(v3_chain_t *chain, const daisy_array_t *self, const unsigned char *src,
                const void **out, size_t *out_len, daisy_error_t *err)
{
    const unsigned char *p = src;
    size_t len = self->chunk_bytes, item = self->itemsize;
    if (chain->transpose || (chain->big && item > 1)) {
        unsigned char *t = s_scratch(chain, 0, len, err);
        if (!t)
            return -1;
        if (chain->transpose)
            zarr_permute(self->dims, self->chunks, chain->order, item, src, t, true);
        else
            memcpy(t, src, len);
        if (chain->big && item > 1)
            zarr_dtype_swap(t, len / item, item);
        p = t;
    }
    for (int i = 0; i < chain->nb2b; i++) {
        if (chain->b2b[i] == 'z') {
            const void *o;
            if (codec_encode(chain->codec, p, len, &o, &len, err))
                return -1;
            p = o;
            continue;
        }
        int k = p == chain->scratch[1] ? 0 : 1;
        unsigned char *t = s_scratch(chain, k, len + 4, err);
        if (!t)
            return -1;
        uint32_t crc = zarr_crc32c(p, len);
        memmove(t, p, len);
        memcpy(t + len, &crc, 4);          //  little endian
        p = t;
        len += 4;
    }
    *out = p;
    *out_len = len;
    return 0;
}

//  The size of the data after b2b codec i decoded it (before codec i).
static size_t
s_size_before(const v3_chain_t *chain, int i, size_t chunk_bytes)
{
    size_t size = chunk_bytes;
    for (int j = 0; j < i; j++)
        if (chain->b2b[j] == 'c')
            size += 4;
    return size;
}

//  Decode `src_len` bytes at `src` into one chunk at `dst` (chunk_bytes,
//  native order). Data that does not decode, has the wrong size or fails
//  its checksum is an error saying so.
int
v3_chain_decode(v3_chain_t *chain, const daisy_array_t *self, const unsigned char *src,
                size_t src_len, unsigned char *dst, daisy_error_t *err)
{
    const unsigned char *p = src;
    size_t len = src_len, chunk = self->chunk_bytes, item = self->itemsize;
    for (int i = chain->nb2b - 1; i >= 0; i--) {
        if (chain->b2b[i] == 'c') {
            if (len < 4)
                return daisy_error_set(err, "crc32c: %zu bytes, too short for a checksum", len);
            uint32_t stored, crc = zarr_crc32c(p, len - 4);
            memcpy(&stored, p + len - 4, 4);
            if (stored != crc)
                return daisy_error_set(err, "crc32c: checksum mismatch (stored %08x, data has "
                                       "%08x)", stored, crc);
            len -= 4;
            continue;
        }
        size_t want = s_size_before(chain, i, chunk);
        bool last = i == 0 && !chain->transpose;
        unsigned char *t = last ? dst : s_scratch(chain, p == chain->scratch[0] ? 1 : 0,
                                                  want, err);
        if (!t || codec_decode(chain->codec, p, len, t, want, err))
            return -1;
        p = t;
        len = want;
    }
    if (len != chunk)
        return daisy_error_set(err, "chunk has %zu bytes, expected %zu", len, chunk);
    if (chain->transpose) {
        unsigned char *t = (unsigned char *)p;
        if (p == src && !(t = s_scratch(chain, 0, len, err)))
            return -1;
        if (p == src)
            memcpy(t, src, len);
        if (chain->big && item > 1)
            zarr_dtype_swap(t, len / item, item);
        zarr_permute(self->dims, self->chunks, chain->order, item, t, dst, false);
        return 0;
    }
    if (p != dst)
        memcpy(dst, p, len);
    if (chain->big && item > 1)
        zarr_dtype_swap(dst, len / item, item);
    return 0;
}
