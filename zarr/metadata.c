/*  metadata.c - an array's .zarray and .zattrs: reading, checking, writing

    Metadata follows Python zarr 2.13 to the byte: .zarray is written with
    sorted keys and four-space indents, one-byte types as "|u1", float fill
    values as numbers or "NaN"/"Infinity"/"-Infinity", and
    "dimension_separator" only when it is "/". Voxel size and offset are
    funlib's .zattrs keys "resolution" and "offset" (world units); when
    they have fewer entries than the array has dimensions, the leading
    dimensions are channels (voxel size 1, offset 0), as funlib reads them.
    jansson parses the JSON; integers above INT64_MAX (a uint64 fill value)
    make jansson fail, so the file is then parsed again with integers as
    reals and the fill value's digits are read from the text directly.

    .zarray is checked as it is read, field by field, and a spec for a new
    array before anything is written; each error names the field. The
    compressor names are here too, as .zarray spells them.
*/
#include "array_internal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Compressor names -------------------------------------------------------

static const char *s_compressor_names[] = {"none", "zlib", "gzip", "zstd", "blosc"};

const char *
daisy_compressor_name(daisy_compressor_t compressor)
{
    if ((unsigned)compressor > DAISY_COMPRESSOR_BLOSC)
        return "unknown";
    return s_compressor_names[compressor];
}

int
daisy_compressor_parse(const char *name, daisy_compressor_t *compressor)
{
    for (int c = 0; c <= DAISY_COMPRESSOR_BLOSC; c++)
        if (name && strcmp(name, s_compressor_names[c]) == 0) {
            *compressor = (daisy_compressor_t)c;
            return 0;
        }
    return -1;
}

//  JSON -------------------------------------------------------------------

int
zarr_json_int(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9.2233720368547758e18 || d >= 9.2233720368547758e18)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

//  A JSON list of at most DAISY_MAX_DIMS whole numbers; its length in *n_out.
int
zarr_json_ints(const json_t *v, int64_t *out, int *n_out)
{
    if (!json_is_array(v) || json_array_size(v) > DAISY_MAX_DIMS)
        return -1;
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++)
        if (zarr_json_int(json_array_get(v, i), &out[i]))
            return -1;
    *n_out = (int)n;
    return 0;
}

json_t *
zarr_json_list(int dims, const int64_t *v)
{
    json_t *a = json_array();
    for (int d = 0; d < dims; d++)
        json_array_append_new(a, json_integer((json_int_t)v[d]));
    return a;
}

//  Reading ----------------------------------------------------------------

//  After the key "fill_value" in raw JSON text: the unsigned integer there.
static int
s_raw_fill_u64(const char *text, uint64_t *out)
{
    const char *p = strstr(text, "\"fill_value\"");
    if (!p)
        return -1;
    p += strlen("\"fill_value\"");
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p++ != ':')
        return -1;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long u = strtoull(p, &end, 10);
    if (errno || (*end >= '0' && *end <= '9') || *end == '.' || *end == 'e' || *end == 'E')
        return -1;
    *out = u;
    return 0;
}

static int
s_parse_compressor(daisy_array_t *self, const json_t *c, daisy_error_t *err)
{
    codec_config_t *cfg = &self->codec_config;
    memset(cfg, 0, sizeof *cfg);
    if (!c || json_is_null(c)) {
        cfg->id = DAISY_COMPRESSOR_NONE;
        return 0;
    }
    const char *id = json_string_value(json_object_get(c, "id"));
    if (!json_is_object(c) || !id)
        return daisy_error_set(err, "'compressor' is neither null nor an object with an 'id'");
    if (daisy_compressor_parse(id, &cfg->id) || cfg->id == DAISY_COMPRESSOR_NONE)
        return daisy_error_set(err, "compressor '%s' is not supported (only zlib, gzip, zstd, "
                               "blosc or null)", id);
    const json_t *level = json_object_get(c, cfg->id == DAISY_COMPRESSOR_BLOSC ? "clevel"
                                                                                : "level");
    int64_t v = cfg->id == DAISY_COMPRESSOR_BLOSC ? 5 : 1;
    if (level && !json_is_null(level) && (zarr_json_int(level, &v) || v < INT_MIN || v > INT_MAX))
        return daisy_error_set(err, "compressor '%s': the level is not an integer", id);
    cfg->level = (int)v;
    if (cfg->id == DAISY_COMPRESSOR_BLOSC) {
        const json_t *cname = json_object_get(c, "cname");
        const char *name = cname ? json_string_value(cname) : "lz4";
        if (!name || strlen(name) >= sizeof cfg->cname)
            return daisy_error_set(err, "compressor 'blosc': 'cname' is not a compressor name");
        strcpy(cfg->cname, name);
        int64_t shuffle = 1, blocksize = 0;
        const json_t *s = json_object_get(c, "shuffle");
        if (s && zarr_json_int(s, &shuffle))
            return daisy_error_set(err, "compressor 'blosc': 'shuffle' is not an integer");
        const json_t *b = json_object_get(c, "blocksize");
        if (b && !json_is_null(b) && (zarr_json_int(b, &blocksize) || blocksize > INT_MAX))
            return daisy_error_set(err, "compressor 'blosc': 'blocksize' is not an integer");
        if (shuffle < -1 || shuffle > 2)
            return daisy_error_set(err, "compressor 'blosc': shuffle %lld is not -1, 0, 1 or 2",
                                   (long long)shuffle);
        cfg->shuffle = (int)shuffle;
        cfg->blocksize = (int)blocksize;
    }
    return 0;
}

int
zarr_meta_parse_fill(daisy_array_t *self, const json_t *f, bool ints_as_real, const char *text,
             daisy_error_t *err)
{
    daisy_dtype_t t = self->dtype;
    char kind = zarr_dtype_kind(t);
    if (!f || json_is_null(f)) {
        memset(self->fill_item, 0, sizeof self->fill_item);
        self->fill = 0;
        return 0;
    }
    if (json_is_string(f)) {
        const char *s = json_string_value(f);
        double v;
        if (strcmp(s, "NaN") == 0)
            v = NAN;
        else if (strcmp(s, "Infinity") == 0)
            v = INFINITY;
        else if (strcmp(s, "-Infinity") == 0)
            v = -INFINITY;
        else
            return daisy_error_set(err, "fill_value \"%s\" is not supported", s);
        if (kind != 'f')
            return daisy_error_set(err, "fill_value \"%s\" for integer type %s", s,
                                   daisy_dtype_name(t));
        return zarr_fill_from_double(t, v, self->fill_item, &self->fill);
    }
    if (json_is_integer(f)) {
        if (zarr_fill_from_int(t, (int64_t)json_integer_value(f), self->fill_item, &self->fill))
            return daisy_error_set(err, "fill_value %lld does not fit %s",
                                   (long long)json_integer_value(f), daisy_dtype_name(t));
        return 0;
    }
    if (json_is_real(f)) {
        double v = json_real_value(f);
        if (ints_as_real && t == DAISY_DTYPE_UINT64) {
            uint64_t u;
            if (s_raw_fill_u64(text, &u) == 0) {
                memcpy(self->fill_item, &u, 8);
                self->fill = (double)u;
                return 0;
            }
        }
        if (ints_as_real && kind != 'f' && fabs(v) > 9007199254740992.0)
            return daisy_error_set(err, "fill_value does not fit %s", daisy_dtype_name(t));
        if (zarr_fill_from_double(t, v, self->fill_item, &self->fill))
            return daisy_error_set(err, "fill_value %g does not fit %s", v, daisy_dtype_name(t));
        return 0;
    }
    return daisy_error_set(err, "fill_value is neither a number, null nor \"NaN\"/\"Infinity\"");
}

//  Why DIR/.zarray could not be read (errno says, from reading it).
static int
s_zarray_missing(const daisy_array_t *self, daisy_error_t *err)
{
    if (errno == ENOENT && zarr_exists(self->path, ".zgroup"))
        return daisy_error_set(err, "a Zarr group, not an array");
    if (errno == ENOENT)
        return daisy_error_set(err, "no .zarray or zarr.json (not a Zarr array)");
    return daisy_error_set(err, "cannot read .zarray: %s", strerror(errno));
}

//  .zarray's 'zarr_format', 'shape' and 'chunks'.
static int
s_parse_grid(daisy_array_t *self, const json_t *root, daisy_error_t *err)
{
    int64_t v;
    int n;
    const json_t *fmt = json_object_get(root, "zarr_format");
    if (!fmt || zarr_json_int(fmt, &v))
        return daisy_error_set(err, ".zarray: 'zarr_format' is missing");
    if (v != 2)
        return daisy_error_set(err, ".zarray: zarr_format %lld is not supported (only 2)",
                               (long long)v);
    if (zarr_json_ints(json_object_get(root, "shape"), self->shape, &n) || n < 1)
        return daisy_error_set(err, ".zarray: 'shape' is not a list of 1 to %d integers",
                               DAISY_MAX_DIMS);
    self->dims = n;
    if (zarr_json_ints(json_object_get(root, "chunks"), self->chunks, &n) || n != self->dims)
        return daisy_error_set(err, ".zarray: 'chunks' is not a list of %d integers",
                               self->dims);
    for (int d = 0; d < self->dims; d++)
        if (self->shape[d] < 0 || self->chunks[d] < 1)
            return daisy_error_set(err, ".zarray: negative shape or chunk shape below 1");
    return 0;
}

//  .zarray's 'dtype', 'order', 'filters' and 'dimension_separator'.
static int
s_parse_layout(daisy_array_t *self, const json_t *root, daisy_error_t *err)
{
    const char *dtype = json_string_value(json_object_get(root, "dtype"));
    if (!dtype)
        return daisy_error_set(err, ".zarray: 'dtype' is missing or not a string");
    if (zarr_dtype_parse(dtype, &self->dtype, &self->swap))
        return daisy_error_set(err, ".zarray: dtype '%s' is not supported (only integers of "
                               "1, 2, 4 or 8 bytes, float32 and float64)", dtype);
    self->itemsize = daisy_dtype_size(self->dtype);
    const json_t *order = json_object_get(root, "order");
    const char *o = json_string_value(order);
    if (order && (!o || (strcmp(o, "C") != 0 && strcmp(o, "F") != 0)))
        return daisy_error_set(err, ".zarray: order %s%s%s is neither \"C\" nor \"F\"",
                               o ? "'" : "", o ? o : "(not a string)", o ? "'" : "");
    self->order_f = o && o[0] == 'F' && self->dims > 1;
    const json_t *filters = json_object_get(root, "filters");
    if (filters && !json_is_null(filters)
        && !(json_is_array(filters) && json_array_size(filters) == 0)) {
        char *f = json_dumps(filters, JSON_COMPACT);
        daisy_error_set(err, ".zarray: filters %s are not supported (only null)", f ? f : "");
        free(f);
        return -1;
    }
    self->sep = '.';
    const json_t *sep = json_object_get(root, "dimension_separator");
    if (sep && !json_is_null(sep)) {
        const char *s = json_string_value(sep);
        if (!s || (strcmp(s, ".") != 0 && strcmp(s, "/") != 0))
            return daisy_error_set(err, ".zarray: dimension_separator is neither \".\" nor \"/\"");
        self->sep = s[0];
    }
    return 0;
}

//  DIR/NAME read and parsed by jansson with `flags` into a JSON object,
//  released by zarr_json_free(). Integers too big for jansson (a uint64
//  fill value) make it parse the text again with integers as reals. 1 when
//  there is no such file (errno is ENOENT).
int
zarr_json_load(const daisy_array_t *self, const char *name, size_t flags, zarr_json_file_t *f,
                 daisy_error_t *err)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/%s", self->path, name) >= (int)sizeof file)
        return daisy_error_set(err, "path too long");
    size_t len = 0;
    if (!(f->text = zarr_slurp(file, &len)))
        return errno == ENOENT ? 1
                               : daisy_error_set(err, "cannot read %s: %s", name,
                                                 errno == EINVAL ? "not a regular file"
                                                                 : strerror(errno));
    json_error_t jerr;
    f->ints_as_real = false;
    f->root = json_loadb(f->text, len, flags, &jerr);
    if (!f->root && !(flags & JSON_DECODE_INT_AS_REAL) && strstr(jerr.text, "too big")) {
        f->ints_as_real = true;
        f->root = json_loadb(f->text, len, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    }
    if (!f->root) {
        free(f->text);
        return daisy_error_set(err, "%s is not valid JSON: line %d: %s", name, jerr.line,
                               jerr.text);
    }
    if (!json_is_object(f->root)) {
        json_decref(f->root);
        free(f->text);
        return daisy_error_set(err, "%s is not a JSON object", name);
    }
    return 0;
}

void
zarr_json_free(zarr_json_file_t *f)
{
    json_decref(f->root);
    free(f->text);
}

//  Parse DIR/.zarray into self; err says what is wrong (the caller adds the
//  array's name).
int
zarr_meta_read_zarray(daisy_array_t *self, daisy_error_t *err)
{
    zarr_json_file_t f;
    int rc = zarr_json_load(self, ".zarray", JSON_REJECT_DUPLICATES, &f, err);
    if (rc)
        return rc > 0 ? s_zarray_missing(self, err) : -1;
    if (s_parse_grid(self, f.root, err) || s_parse_layout(self, f.root, err))
        rc = -1;
    else if (s_parse_compressor(self, json_object_get(f.root, "compressor"), err)
             || zarr_meta_parse_fill(self, json_object_get(f.root, "fill_value"), f.ints_as_real,
                             f.text, err))
        rc = daisy_error_prefix(err, ".zarray");
    zarr_json_free(&f);
    return rc;
}

//  funlib's "resolution" (or "voxel_size") and "offset" in .zattrs (or
//  zarr.json's attributes); `where` names the file in errors.
int
zarr_meta_parse_funlib(daisy_array_t *self, const json_t *root, const char *where,
                       daisy_error_t *err)
{
    const char *keys[2] = {"resolution", "offset"};
    const json_t *res = json_object_get(root, "resolution");
    if (!res || json_is_null(res)) {
        res = json_object_get(root, "voxel_size");
        keys[0] = "voxel_size";
    }
    const json_t *values[2] = {res, json_object_get(root, "offset")};
    int64_t *into[2] = {self->voxel, self->offset};
    for (int k = 0; k < 2; k++) {
        if (!values[k] || json_is_null(values[k]))
            continue;
        int64_t tmp[DAISY_MAX_DIMS];
        int n;
        if (zarr_json_ints(values[k], tmp, &n) || n > self->dims || n < 1)
            return daisy_error_set(err, "%s: '%s' is not a list of at most %d whole "
                                   "numbers", where, keys[k], self->dims);
        //  Fewer entries than dimensions: the leading ones are channels.
        int lead = self->dims - n;
        for (int d = 0; d < n; d++) {
            if (k == 0 && tmp[d] < 1)
                return daisy_error_set(err, "%s: '%s' has an entry below 1", where, keys[k]);
            into[k][lead + d] = tmp[d];
        }
    }
    return 0;
}

//  DIR/.zattrs (optional): funlib's resolution/voxel_size and offset.
int
zarr_meta_read_zattrs(daisy_array_t *self, daisy_error_t *err)
{
    for (int d = 0; d < self->dims; d++) {
        self->voxel[d] = 1;
        self->offset[d] = 0;
    }
    zarr_json_file_t f;
    int rc = zarr_json_load(self, ".zattrs", JSON_DECODE_INT_AS_REAL, &f, err);
    if (rc)
        return rc > 0 ? 0 : -1;
    rc = zarr_meta_parse_funlib(self, f.root, ".zattrs", err);
    zarr_json_free(&f);
    return rc;
}

//  Writing ----------------------------------------------------------------

//  Checks a spec; fills the codec config and the fill item.
int
zarr_meta_check_spec(const daisy_array_spec_t *spec, codec_config_t *cfg,
                     unsigned char item[8], daisy_error_t *err)
{
    if (spec->dims < 1 || spec->dims > DAISY_MAX_DIMS)
        return daisy_error_set(err, "%d dimensions (1 to %d are supported)", spec->dims,
                               DAISY_MAX_DIMS);
    if (!zarr_dtype_valid(spec->dtype))
        return daisy_error_set(err, "unknown dtype %d", (int)spec->dtype);
    for (int d = 0; d < spec->dims; d++) {
        if (spec->shape[d] < 0)
            return daisy_error_set(err, "negative shape in dimension %d", d);
        if (spec->chunks[d] < 1)
            return daisy_error_set(err, "chunk shape below 1 in dimension %d", d);
        if (spec->voxel_size[d] < 1)
            return daisy_error_set(err, "voxel size below 1 in dimension %d", d);
    }
    double exact;
    if (zarr_fill_from_double(spec->dtype, spec->fill_value, item, &exact))
        return daisy_error_set(err, "fill value %g does not fit %s", spec->fill_value,
                               daisy_dtype_name(spec->dtype));
    if (spec->dimension_separator != '.' && spec->dimension_separator != '/'
        && spec->dimension_separator != 0)
        return daisy_error_set(err, "dimension separator '%c' is neither '.' nor '/'",
                               spec->dimension_separator);
    if (spec->order != 'C' && spec->order != 'F' && spec->order != 0)
        return daisy_error_set(err, "order '%c' is neither 'C' nor 'F'", spec->order);
    memset(cfg, 0, sizeof *cfg);
    cfg->id = spec->compressor;
    if ((unsigned)spec->compressor > DAISY_COMPRESSOR_BLOSC)
        return daisy_error_set(err, "unknown compressor %d", (int)spec->compressor);
    cfg->level = spec->level;
    if (cfg->level == -1)
        cfg->level = spec->compressor == DAISY_COMPRESSOR_BLOSC ? 5 : 1;
    if (spec->compressor == DAISY_COMPRESSOR_BLOSC) {
        const char *cname = spec->blosc_cname ? spec->blosc_cname : "lz4";
        if (strlen(cname) >= sizeof cfg->cname)
            return daisy_error_set(err, "blosc compressor '%s' is unknown", cname);
        strcpy(cfg->cname, cname);
        cfg->shuffle = spec->blosc_shuffle;
    }
    size_t itemsize = daisy_dtype_size(spec->dtype);
    codec_t *probe = codec_new(cfg, itemsize, err);
    if (!probe)
        return -1;
    codec_destroy(&probe);
    return 0;
}

//  .zarray's "compressor": null, or numcodecs' settings of the codec.
static json_t *
s_compressor_json(const codec_config_t *cfg)
{
    if (cfg->id == DAISY_COMPRESSOR_NONE)
        return json_null();
    if (cfg->id == DAISY_COMPRESSOR_BLOSC)
        return json_pack("{s:s, s:i, s:s, s:i, s:i}", "id", "blosc", "clevel", cfg->level,
                         "cname", cfg->cname, "shuffle", cfg->shuffle, "blocksize", 0);
    return json_pack("{s:s, s:i}", "id", daisy_compressor_name(cfg->id), "level", cfg->level);
}

//  .zarray as Python zarr writes it; the fill value is spliced in as
//  text because jansson has no uint64 and no NaN. NULL when out of memory.
static char *
s_zarray_text(const daisy_array_spec_t *spec, const codec_config_t *cfg,
              const unsigned char item[8])
{
    char dtype[4];
    zarr_dtype_zarr(spec->dtype, dtype);
    json_t *meta = json_object();
    json_object_set_new(meta, "zarr_format", json_integer(2));
    json_object_set_new(meta, "shape", zarr_json_list(spec->dims, spec->shape));
    json_object_set_new(meta, "chunks", zarr_json_list(spec->dims, spec->chunks));
    json_object_set_new(meta, "dtype", json_string(dtype));
    json_object_set_new(meta, "order", json_string(spec->order == 'F' ? "F" : "C"));
    json_object_set_new(meta, "filters", json_null());
    json_object_set_new(meta, "fill_value", json_string("@FILL@"));
    if (spec->dimension_separator == '/')
        json_object_set_new(meta, "dimension_separator", json_string("/"));
    json_object_set_new(meta, "compressor", s_compressor_json(cfg));
    return zarr_dumps_with_fill(meta, JSON_INDENT(4) | JSON_SORT_KEYS, spec->dtype, item, "");
}

char *
zarr_dumps_with_fill(json_t *meta, size_t flags, daisy_dtype_t t, const unsigned char item[8],
                     const char *tail)
{
    char *text = json_dumps(meta, flags);
    json_decref(meta);
    char fill[64], *full = NULL;
    zarr_fill_format(t, item, fill, sizeof fill);
    char *at = text ? strstr(text, "\"@FILL@\"") : NULL;
    if (!at || asprintf(&full, "%.*s%s%s%s", (int)(at - text), text, fill,
                        at + strlen("\"@FILL@\""), tail) < 0)
        full = NULL;
    free(text);
    return full;
}

//  .zattrs: funlib's resolution and offset. NULL when out of memory.
static char *
s_zattrs_text(const daisy_array_spec_t *spec)
{
    json_t *attrs = json_pack("{s:o, s:o}",
                              "resolution", zarr_json_list(spec->dims, spec->voxel_size),
                              "offset", zarr_json_list(spec->dims, spec->offset));
    char *text = json_dumps(attrs, JSON_INDENT(4) | JSON_SORT_KEYS);
    json_decref(attrs);
    return text;
}

//  Write DIR/.zattrs and DIR/.zarray for `spec`, with the codec config and
//  fill item that zarr_meta_check_spec() made from it. .zattrs first: an
//  opener that sees .zarray sees the right attributes.
int
zarr_meta_write(const char *dir, const daisy_array_spec_t *spec, const codec_config_t *cfg,
                const unsigned char item[8], daisy_error_t *err)
{
    char *zarray = s_zarray_text(spec, cfg, item);
    char *zattrs = zarray ? s_zattrs_text(spec) : NULL;
    int rc = 0;
    if (!zarray || !zattrs)
        rc = daisy_error_set(err, "out of memory");
    //  .zarray first, and only if none is there: it makes the array, and
    //  whoever put it there owns it; .zattrs then, and if that fails
    //  (a full disk) the .zarray goes again, so that a retry finds nothing
    //  of this attempt in its way.
    else if (zarr_write_file(dir, ".zarray", zarray, strlen(zarray), true, err))
        rc = -1;
    else if (zarr_write_atomic(dir, ".zattrs", zattrs, strlen(zattrs), err)) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/.zarray", dir);
        unlink(path);
        rc = -1;
    }
    free(zarray);
    free(zattrs);
    return rc;
}
