/*  v3_metadata.c - a Zarr v3 array's zarr.json: reading, checking, writing

    zarr.json holds what .zarray and .zattrs hold in v2, spelled anew:
    "data_type" by name ("uint16"), a "regular" chunk grid, a chunk key
    encoding ("default": keys c/0/1/2; "v2": 0.1.2), the fill value (a
    number, or "NaN", "Infinity", "-Infinity", or a float's bits as
    "0x..."), the codec chain (v3_codecs.c) and "attributes", where the
    voxel size and offset live as funlib users store them ("resolution" or
    "voxel_size", and "offset", as in v2's .zattrs). A sharding_indexed
    codec makes the grid's chunks shards: its own "chunk_shape" gives the
    inner chunks (which become the handle's `chunks`), its "codecs" their
    chain, and its "index_codecs" and "index_location" the shard index.

    Why strict: an array read with a feature ignored would be read wrong
    without a word. So everything outside the supported subset is refused
    when the array is opened: irregular grids, unknown codecs, storage
    transformers, and unknown fields unless they are objects saying
    "must_understand": false, as the v3 specification asks. Each error
    names zarr.json, the field and the value at fault. What is written
    is what zarr-python 3 writes for the same array.
*/
#include "array_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_known[] = {"zarr_format", "node_type", "shape", "data_type",
                                "chunk_grid", "chunk_key_encoding", "fill_value", "codecs",
                                "attributes", "dimension_names", "storage_transformers", NULL};

//  Reading ----------------------------------------------------------------

//  zarr_format, node_type, unknown fields and storage transformers.
static int
s_parse_node(const json_t *root, daisy_error_t *err)
{
    int64_t v;
    const json_t *fmt = json_object_get(root, "zarr_format");
    if (!fmt || zarr_json_int(fmt, &v))
        return daisy_error_set(err, "'zarr_format' is missing or not an integer");
    if (v != 3)
        return daisy_error_set(err, "zarr_format %lld is not 3", (long long)v);
    const char *type = json_string_value(json_object_get(root, "node_type"));
    if (!type)
        return daisy_error_set(err, "'node_type' is missing or not a string");
    if (strcmp(type, "array") != 0)
        return daisy_error_set(err, "node_type '%s': a Zarr %s, not an array", type, type);
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)root, key, value) {
        bool known = false;
        for (int i = 0; s_known[i]; i++)
            known = known || strcmp(key, s_known[i]) == 0;
        const json_t *mu = json_object_get(value, "must_understand");
        if (!known && !(json_is_object(value) && json_is_false(mu)))
            return daisy_error_set(err, "unknown field '%s' (not marked \"must_understand\": "
                                   "false)", key);
    }
    const json_t *st = json_object_get(root, "storage_transformers");
    if (st && !(json_is_array(st) && json_array_size(st) == 0))
        return daisy_error_set(err, "storage_transformers are not supported");
    return 0;
}

//  shape, data_type, chunk_grid.
static int
s_parse_grid(daisy_array_t *self, const json_t *root, daisy_error_t *err)
{
    int n;
    if (zarr_json_ints(json_object_get(root, "shape"), self->shape, &n) || n < 1)
        return daisy_error_set(err, "'shape' is not a list of 1 to %d integers",
                               DAISY_MAX_DIMS);
    self->dims = n;
    const char *dt = json_string_value(json_object_get(root, "data_type"));
    if (!dt)
        return daisy_error_set(err, "'data_type' is missing or not a string");
    bool big;
    if (zarr_dtype_parse(dt, &self->dtype, &big) || strcmp(dt, daisy_dtype_name(self->dtype)))
        return daisy_error_set(err, "data_type '%s' is not supported (only uint8..uint64, "
                               "int8..int64, float32, float64)", dt);
    self->itemsize = daisy_dtype_size(self->dtype);
    const json_t *grid = json_object_get(root, "chunk_grid");
    const char *gname = json_string_value(json_object_get(grid, "name"));
    if (!gname)
        return daisy_error_set(err, "'chunk_grid' is not an object with a 'name'");
    if (strcmp(gname, "regular") != 0)
        return daisy_error_set(err, "chunk_grid '%s' is not supported (only regular)", gname);
    const json_t *cs = json_object_get(json_object_get(grid, "configuration"), "chunk_shape");
    if (zarr_json_ints(cs, self->shard, &n) || n != self->dims)
        return daisy_error_set(err, "chunk_grid: 'chunk_shape' is not a list of %d integers",
                               self->dims);
    for (int d = 0; d < self->dims; d++) {
        if (self->shape[d] < 0)
            return daisy_error_set(err, "'shape' has a negative entry");
        if (self->shard[d] < 1)
            return daisy_error_set(err, "chunk_grid: 'chunk_shape' has an entry below 1");
        self->chunks[d] = self->shard[d];
    }
    return 0;
}

//  chunk_key_encoding: "default" (c/0/1) or "v2" (0.1).
static int
s_parse_keys(daisy_array_t *self, const json_t *root, daisy_error_t *err)
{
    const json_t *e = json_object_get(root, "chunk_key_encoding");
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!name)
        return daisy_error_set(err, "'chunk_key_encoding' is not an object with a 'name'");
    bool v2 = strcmp(name, "v2") == 0;
    if (!v2 && strcmp(name, "default") != 0)
        return daisy_error_set(err, "chunk_key_encoding '%s' is not supported (only default "
                               "and v2)", name);
    self->key_prefix = !v2;
    self->sep = v2 ? '.' : '/';
    const json_t *sep = json_object_get(json_object_get(e, "configuration"), "separator");
    if (sep) {
        const char *s = json_string_value(sep);
        if (!s || (strcmp(s, ".") != 0 && strcmp(s, "/") != 0))
            return daisy_error_set(err, "chunk_key_encoding: separator is neither \".\" nor "
                                   "\"/\"");
        self->sep = s[0];
    }
    return 0;
}

//  fill_value: as v2's, plus a float's bits in hex ("0x7fc00000").
static int
s_parse_fill(daisy_array_t *self, const zarr_json_file_t *f, daisy_error_t *err)
{
    const json_t *v = json_object_get(f->root, "fill_value");
    if (!v)
        return daisy_error_set(err, "'fill_value' is missing");
    const char *s = json_string_value(v);
    if (s && strncmp(s, "0x", 2) == 0 && zarr_dtype_kind(self->dtype) == 'f') {
        char *end;
        unsigned long long bits = strtoull(s + 2, &end, 16);
        if (*end || strlen(s + 2) != 2 * self->itemsize)
            return daisy_error_set(err, "fill_value \"%s\" is not %zu hex digits", s,
                                   2 * self->itemsize);
        memset(self->fill_item, 0, sizeof self->fill_item);
        memcpy(self->fill_item, &bits, self->itemsize);
        if (self->itemsize == 4) {
            float x;
            memcpy(&x, &bits, 4);
            self->fill = x;
        } else
            memcpy(&self->fill, &bits, 8);
        return 0;
    }
    return zarr_meta_parse_fill(self, v, f->ints_as_real, f->text, err);
}

//  index_codecs: bytes (either endian), then an optional crc32c.
static int
s_parse_index_codecs(daisy_array_t *self, const json_t *ic, daisy_error_t *err)
{
    v3_chain_t c;
    int64_t one[DAISY_MAX_DIMS];
    for (int d = 0; d < DAISY_MAX_DIMS; d++)
        one[d] = 1;
    daisy_array_t probe = {.dims = self->dims, .itemsize = 8};
    memcpy(probe.chunks, one, sizeof one);
    if (!ic)
        return daisy_error_set(err, "'index_codecs' is missing");
    if (v3_chain_parse(&c, ic, &probe, "index_codecs", NULL, err))
        return -1;
    if (c.transpose || c.comp.id != DAISY_COMPRESSOR_NONE || c.nb2b > 1)
        return daisy_error_set(err, "index_codecs: only bytes and an optional crc32c are "
                               "supported");
    self->index_big = c.big;
    self->index_crc = c.nb2b == 1;
    return 0;
}

//  The configuration of a sharding_indexed codec: inner chunks, their
//  chain, the index's codecs and place.
static int
s_parse_sharding(daisy_array_t *self, const json_t *entry, daisy_error_t *err)
{
    const json_t *cfg = json_object_get(entry, "configuration");
    int n;
    self->sharded = true;
    if (zarr_json_ints(json_object_get(cfg, "chunk_shape"), self->chunks, &n)
        || n != self->dims)
        return daisy_error_set(err, "'chunk_shape' is not a list of %d integers", self->dims);
    for (int d = 0; d < self->dims; d++)
        if (self->chunks[d] < 1 || self->shard[d] % self->chunks[d] != 0)
            return daisy_error_set(err, "chunk_shape %lld in dimension %d does not divide the "
                                   "shard shape %lld", (long long)self->chunks[d], d,
                                   (long long)self->shard[d]);
    if (v3_chain_parse(&self->chain, json_object_get(cfg, "codecs"), self, "codecs", NULL, err)
        || s_parse_index_codecs(self, json_object_get(cfg, "index_codecs"), err))
        return -1;
    const json_t *loc = json_object_get(cfg, "index_location");
    const char *l = loc ? json_string_value(loc) : "end";
    if (!l || (strcmp(l, "end") != 0 && strcmp(l, "start") != 0))
        return daisy_error_set(err, "index_location is neither \"start\" nor \"end\"");
    self->index_start = strcmp(l, "start") == 0;
    return 0;
}

//  dimension_names: a list of strings or nulls, one per dimension.
static int
s_parse_names(daisy_array_t *self, const json_t *root, daisy_error_t *err)
{
    const json_t *names = json_object_get(root, "dimension_names");
    if (!names || json_is_null(names))
        return 0;
    if (!json_is_array(names) || json_array_size(names) != (size_t)self->dims)
        return daisy_error_set(err, "'dimension_names' is not a list of %d names", self->dims);
    for (int d = 0; d < self->dims; d++) {
        const json_t *v = json_array_get(names, (size_t)d);
        if (json_is_null(v))
            continue;
        if (!json_is_string(v))
            return daisy_error_set(err, "dimension_names[%d] is neither a string nor null", d);
        if (!(self->dim_names[d] = strdup(json_string_value(v))))
            return daisy_error_set(err, "out of memory");
    }
    return 0;
}

static int
s_parse(daisy_array_t *self, const zarr_json_file_t *f, daisy_error_t *err)
{
    const json_t *root = f->root;
    if (s_parse_node(root, err) || s_parse_grid(self, root, err) || s_parse_keys(self, root, err)
        || s_parse_fill(self, f, err) || s_parse_names(self, root, err))
        return -1;
    const json_t *sharding;
    if (v3_chain_parse(&self->chain, json_object_get(root, "codecs"), self, "codecs",
                       &sharding, err))
        return -1;
    if (sharding && s_parse_sharding(self, sharding, err))
        return daisy_error_prefix(err, "codecs[0]: sharding_indexed");
    for (int d = 0; d < self->dims; d++) {
        self->voxel[d] = 1;
        self->offset[d] = 0;
    }
    const json_t *attrs = json_object_get(root, "attributes");
    if (attrs && !json_is_object(attrs))
        return daisy_error_set(err, "'attributes' is not an object");
    return attrs ? zarr_meta_parse_funlib(self, attrs, "attributes", err) : 0;
}

//  Parse DIR/zarr.json into self; err names zarr.json, the field and the
//  value (the caller adds the array's name).
int
zarr_v3_read(daisy_array_t *self, daisy_error_t *err)
{
    zarr_json_file_t f;
    int rc = zarr_json_load(self, "zarr.json", JSON_REJECT_DUPLICATES, &f, err);
    if (rc > 0)
        return daisy_error_set(err, "no zarr.json");
    if (rc < 0)
        return -1;
    self->format = 3;
    self->swap = false;
    if (s_parse(self, &f, err))
        rc = daisy_error_prefix(err, "zarr.json");
    self->codec_config = self->chain.comp;
    zarr_json_free(&f);
    return rc;
}

//  Writing ----------------------------------------------------------------

//  The v3 parts of a spec that zarr_meta_check_spec() does not check (a
//  v2 spec must not ask for v3 features).
int
zarr_v3_check_spec(const daisy_array_spec_t *spec, int format, daisy_error_t *err)
{
    bool any = false;
    for (int d = 0; d < spec->dims; d++)
        any = any || spec->shard_shape[d] != 0;
    if (format != 3)
        return any || spec->checksum ? daisy_error_set(err, "shard shape and checksum need "
                                                       "zarr_format 3") : 0;
    if (spec->order == 'F')
        return daisy_error_set(err, "order 'F' needs zarr_format 2 (v3 spells it as a "
                               "transpose codec, which is read but not written)");
    v3_chain_t chain;
    if (v3_chain_from_spec(&chain, spec, err))
        return -1;
    for (int d = 0; any && d < spec->dims; d++)
        if (spec->shard_shape[d] < 1 || spec->shard_shape[d] % spec->chunks[d] != 0)
            return daisy_error_set(err, "shard shape %lld in dimension %d is not a positive "
                                   "multiple of the chunk shape %lld",
                                   (long long)spec->shard_shape[d], d,
                                   (long long)spec->chunks[d]);
    return 0;
}

static bool
s_sharded(const daisy_array_spec_t *spec)
{
    for (int d = 0; d < spec->dims; d++)
        if (spec->shard_shape[d] != 0)
            return true;
    return false;
}

//  The "codecs" list: the chain, or sharding_indexed holding it.
static json_t *
s_codecs_json(const daisy_array_spec_t *spec, const v3_chain_t *chain)
{
    json_t *inner = v3_chain_json(chain);
    if (!s_sharded(spec))
        return inner;
    json_t *index = json_pack("[{s:s, s:{s:s}}, {s:s}]", "name", "bytes", "configuration",
                              "endian", "little", "name", "crc32c");
    json_t *cfg = json_pack("{s:o, s:o, s:o, s:s}", "chunk_shape",
                            zarr_json_list(spec->dims, spec->chunks), "codecs", inner,
                            "index_codecs", index, "index_location", "end");
    return json_pack("[{s:s, s:o}]", "name", "sharding_indexed", "configuration", cfg);
}

static json_t *
s_names_json(const daisy_array_spec_t *spec)
{
    bool any = false;
    for (int d = 0; d < spec->dims; d++)
        any = any || spec->dimension_names[d];
    if (!any)
        return NULL;
    json_t *names = json_array();
    for (int d = 0; d < spec->dims; d++)
        json_array_append_new(names, spec->dimension_names[d]
                                         ? json_string(spec->dimension_names[d]) : json_null());
    return names;
}

//  zarr.json for `spec`; the fill value is spliced in as text (jansson has
//  no uint64 and no NaN). NULL when out of memory.
static char *
s_text(const daisy_array_spec_t *spec, const v3_chain_t *chain, const unsigned char item[8])
{
    const int64_t *grid = s_sharded(spec) ? spec->shard_shape : spec->chunks;
    json_t *meta = json_object();
    json_object_set_new(meta, "zarr_format", json_integer(3));
    json_object_set_new(meta, "node_type", json_string("array"));
    json_object_set_new(meta, "shape", zarr_json_list(spec->dims, spec->shape));
    json_object_set_new(meta, "data_type", json_string(daisy_dtype_name(spec->dtype)));
    json_object_set_new(meta, "chunk_grid",
                        json_pack("{s:s, s:{s:o}}", "name", "regular", "configuration",
                                  "chunk_shape", zarr_json_list(spec->dims, grid)));
    json_object_set_new(meta, "chunk_key_encoding",
                        json_pack("{s:s, s:{s:s}}", "name", "default", "configuration",
                                  "separator", "/"));
    json_object_set_new(meta, "fill_value", json_string("@FILL@"));
    json_object_set_new(meta, "codecs", s_codecs_json(spec, chain));
    json_object_set_new(meta, "attributes",
                        json_pack("{s:o, s:o}", "resolution",
                                  zarr_json_list(spec->dims, spec->voxel_size), "offset",
                                  zarr_json_list(spec->dims, spec->offset)));
    json_t *names = s_names_json(spec);
    if (names)
        json_object_set_new(meta, "dimension_names", names);
    return zarr_dumps_with_fill(meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER, spec->dtype, item,
                                "\n");
}

//  Write DIR/zarr.json for `spec` (checked by zarr_meta_check_spec() and
//  zarr_v3_check_spec(); `item` is its fill value).
int
zarr_v3_write(const char *dir, const daisy_array_spec_t *spec, const unsigned char item[8],
              daisy_error_t *err)
{
    v3_chain_t chain;
    if (v3_chain_from_spec(&chain, spec, err))
        return -1;
    char *text = s_text(spec, &chain, item);
    if (!text)
        return daisy_error_set(err, "out of memory");
    int rc = zarr_write_file(dir, "zarr.json", text, strlen(text), true, err);
    free(text);
    return rc;
}
