/*  array.c - nD arrays in Zarr v2 directory stores, addressed by world-unit ROIs

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

    Replacing, precisely: renameat2(RENAME_NOREPLACE) for a new chunk, and
    RENAME_EXCHANGE for an existing one, which leaves the old chunk under
    the temporary name. rename() over an existing file would be as atomic,
    but ext4 then allocates and starts writing the new file's blocks inside
    the call (auto_da_alloc). The old file is kept as the handle's "spare"
    and the next chunk is written into it, because creating and deleting a
    file per chunk makes ext4 scan past every recently deleted inode on each
    create, hundreds of microseconds per chunk when a volume is rewritten.
    A spare is reused only when a write lease proves that no reader still
    has the old chunk open (one that opened it just before the exchange
    must go on reading the old bytes), and only on local file systems,
    where a lease sees every reader; elsewhere it is unlinked. Nothing is
    fsync'ed, as in Python zarr: after a machine crash, recent chunks may
    be lost or empty, and an empty chunk reads as an error naming it.

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

    Speed: reads and writes go chunk by chunk over the chunks the ROI
    touches. The copy between a chunk and the caller's buffer moves whole
    contiguous runs with memcpy: trailing dimensions that span both
    buffers fully are merged into one run, so a chunk-shaped ROI is a
    single memcpy. When a chunk lies entirely inside the ROI and is one
    contiguous range of the caller's buffer, the chunk is decoded straight
    into the caller's memory (read() directly, without compression) and
    encoded straight from it, with no intermediate copy. Each chunk file is
    read with one read() into a buffer kept by the handle, and the decoded
    chunk, the fill chunk and the codec's contexts are kept too, so the
    steady state allocates nothing.

    Chunks that are entirely the fill value are still written, like Python
    zarr 2.13's default: simpler, and a processed block always leaves its
    chunks on disk. Big-endian arrays written elsewhere (">u2") are read and
    written by swapping bytes after decoding and before encoding.
*/
#include "daisy/array.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

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

//  Types ------------------------------------------------------------------

static const struct {
    const char *name;
    char kind;
    size_t size;
} s_dtypes[DAISY_DTYPE_COUNT] = {
    [DAISY_DTYPE_UINT8] = {"uint8", 'u', 1},   [DAISY_DTYPE_UINT16] = {"uint16", 'u', 2},
    [DAISY_DTYPE_UINT32] = {"uint32", 'u', 4}, [DAISY_DTYPE_UINT64] = {"uint64", 'u', 8},
    [DAISY_DTYPE_INT8] = {"int8", 'i', 1},     [DAISY_DTYPE_INT16] = {"int16", 'i', 2},
    [DAISY_DTYPE_INT32] = {"int32", 'i', 4},   [DAISY_DTYPE_INT64] = {"int64", 'i', 8},
    [DAISY_DTYPE_FLOAT32] = {"float32", 'f', 4}, [DAISY_DTYPE_FLOAT64] = {"float64", 'f', 8},
};

static bool
s_dtype_valid(daisy_dtype_t t)
{
    return (unsigned)t < DAISY_DTYPE_COUNT;
}

const char *
daisy_dtype_name(daisy_dtype_t dtype)
{
    return s_dtype_valid(dtype) ? s_dtypes[dtype].name : "unknown";
}

size_t
daisy_dtype_size(daisy_dtype_t dtype)
{
    return s_dtype_valid(dtype) ? s_dtypes[dtype].size : 0;
}

static int
s_dtype_lookup(char kind, size_t size, daisy_dtype_t *dtype)
{
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        if (s_dtypes[t].kind == kind && s_dtypes[t].size == size) {
            *dtype = (daisy_dtype_t)t;
            return 0;
        }
    return -1;
}

//  "<u2" / "|u1" / ">i4" / "uint16"; *big is set for '>'.
static int
s_dtype_parse(const char *name, daisy_dtype_t *dtype, bool *big)
{
    *big = false;
    if (!name)
        return -1;
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        if (strcmp(name, s_dtypes[t].name) == 0) {
            *dtype = (daisy_dtype_t)t;
            return 0;
        }
    if (strlen(name) != 3 || name[2] < '1' || name[2] > '8')
        return -1;
    size_t size = (size_t)(name[2] - '0');
    if (name[0] == '>')
        *big = size > 1;
    else if (name[0] == '|') {
        if (size != 1)
            return -1;      //  numpy writes '|' only where order does not matter
    } else if (name[0] != '<')
        return -1;
    return s_dtype_lookup(name[1], size, dtype);
}

int
daisy_dtype_parse(const char *name, daisy_dtype_t *dtype)
{
    bool big;
    daisy_dtype_t t;
    if (s_dtype_parse(name, &t, &big) || big)
        return -1;
    *dtype = t;
    return 0;
}

//  The .zarray type string Python zarr writes for a little-endian type.
static void
s_dtype_zarr(daisy_dtype_t t, char out[4])
{
    out[0] = s_dtypes[t].size == 1 ? '|' : '<';
    out[1] = s_dtypes[t].kind;
    out[2] = (char)('0' + s_dtypes[t].size);
    out[3] = '\0';
}

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

//  Fill values ------------------------------------------------------------

//  Store `v` as one element of type t in `item`; -1 when it does not fit.
static int
s_fill_from_double(daisy_dtype_t t, double v, unsigned char item[8], double *exact)
{
    memset(item, 0, 8);
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'f') {
        if (size == 4) {
            float f = (float)v;
            memcpy(item, &f, 4);
            *exact = (double)f;
        } else {
            memcpy(item, &v, 8);
            *exact = v;
        }
        return 0;
    }
    if (!isfinite(v) || v != floor(v))
        return -1;
    if (kind == 'u') {
        double max = size == 8 ? 18446744073709551616.0 : ldexp(1.0, (int)(8 * size));
        if (v < 0 || v >= max)
            return -1;
        uint64_t u = (uint64_t)v;
        memcpy(item, &u, size);     //  little-endian host: low bytes first
    } else {
        double lim = ldexp(1.0, (int)(8 * size) - 1);
        if (v < -lim || v >= lim)
            return -1;
        int64_t i = (int64_t)v;
        memcpy(item, &i, size);
    }
    *exact = v;
    return 0;
}

static int
s_fill_from_int(daisy_dtype_t t, int64_t i, unsigned char item[8], double *exact)
{
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'f')
        return s_fill_from_double(t, (double)i, item, exact);
    memset(item, 0, 8);
    if (kind == 'u') {
        if (i < 0 || (size < 8 && (uint64_t)i >> (8 * size)))
            return -1;
    } else if (size < 8) {
        int64_t lim = (int64_t)1 << (8 * size - 1);
        if (i < -lim || i >= lim)
            return -1;
    }
    memcpy(item, &i, size);
    *exact = (double)i;
    return 0;
}

//  Python's spelling of a fill value, as .zarray holds it.
static void
s_fill_format(daisy_dtype_t t, const unsigned char item[8], char *out, size_t len)
{
    char kind = s_dtypes[t].kind;
    size_t size = s_dtypes[t].size;
    if (kind == 'u') {
        uint64_t u = 0;
        memcpy(&u, item, size);
        snprintf(out, len, "%llu", (unsigned long long)u);
        return;
    }
    if (kind == 'i') {
        int64_t i = 0;
        memcpy(&i, item, size);
        if (size < 8) {     //  sign-extend
            int shift = 64 - 8 * (int)size;
            i = (int64_t)((uint64_t)i << shift) >> shift;
        }
        snprintf(out, len, "%lld", (long long)i);
        return;
    }
    double v;
    if (size == 4) {
        float f;
        memcpy(&f, item, 4);
        v = f;
    } else
        memcpy(&v, item, 8);
    if (isnan(v))
        snprintf(out, len, "\"NaN\"");
    else if (isinf(v))
        snprintf(out, len, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else {
        //  The shortest text that reads back as the same double, with ".0"
        //  for whole numbers as Python's repr has.
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, len, "%.*g", prec, v);
            if (strtod(out, NULL) == v)
                break;
        }
        if (!strpbrk(out, ".en"))
            strncat(out, ".0", len - strlen(out) - 1);
    }
}

//  Small helpers ----------------------------------------------------------

static void
s_swap(void *buf, size_t items, size_t itemsize)
{
    if (itemsize == 2) {
        uint16_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap16(p[i]);
    } else if (itemsize == 4) {
        uint32_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap32(p[i]);
    } else if (itemsize == 8) {
        uint64_t *p = buf;
        for (size_t i = 0; i < items; i++)
            p[i] = __builtin_bswap64(p[i]);
    }
}

static int
s_read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;    //  the file shrank under us
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
s_write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

//  A whole small file (metadata) as a NUL-terminated string; NULL with
//  errno set on failure.
static char *
s_slurp(const char *file, size_t *len_out)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    if (!text || s_read_full(fd, text, len) < 0) {
        int e = text ? errno : ENOMEM;
        free(text);
        close(fd);
        errno = e;
        return NULL;
    }
    close(fd);
    text[len] = '\0';
    if (len_out)
        *len_out = len;
    return text;
}

static bool
s_exists(const char *dir, const char *name)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file)
        return false;
    return access(file, F_OK) == 0;
}

//  Write `dir/name` through a temporary file and rename(), so readers in
//  other processes see the old file or the new one.
static int
s_write_atomic(const char *dir, const char *name, const char *data, size_t len,
               daisy_error_t *err)
{
    char file[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file
        || snprintf(tmp, sizeof tmp, "%s/%s.%d.partial", dir, name, (int)getpid())
               >= (int)sizeof tmp)
        return daisy_error_set(err, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return daisy_error_set(err, "cannot create '%s': %s", tmp, strerror(errno));
    if (s_write_full(fd, data, len) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return daisy_error_set(err, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (rename(tmp, file) < 0) {
        int e = errno;
        unlink(tmp);
        return daisy_error_set(err, "cannot rename '%s' to '%s': %s", tmp, file, strerror(e));
    }
    return 0;
}

//  mkdir -p; -1 with errno set.
static int
s_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return -1;
        struct stat st;
        if (stat(buf, &st) < 0)
            return -1;
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        buf[i] = c;
    }
    return 0;
}

static int
s_json_int(const json_t *v, int64_t *out)
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
static int
s_json_ints(const json_t *v, int64_t *out, int *n_out)
{
    if (!json_is_array(v) || json_array_size(v) > DAISY_MAX_DIMS)
        return -1;
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++)
        if (s_json_int(json_array_get(v, i), &out[i]))
            return -1;
    *n_out = (int)n;
    return 0;
}

static json_t *
s_json_list(int dims, const int64_t *v)
{
    json_t *a = json_array();
    for (int d = 0; d < dims; d++)
        json_array_append_new(a, json_integer((json_int_t)v[d]));
    return a;
}

static void
s_coord_text(int dims, const int64_t *v, char *out, size_t len)
{
    daisy_coord_format(daisy_coord_make(dims, v), out, len);
}

//  Metadata ---------------------------------------------------------------

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
    if (level && !json_is_null(level) && (s_json_int(level, &v) || v < INT_MIN || v > INT_MAX))
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
        if (s && s_json_int(s, &shuffle))
            return daisy_error_set(err, "compressor 'blosc': 'shuffle' is not an integer");
        const json_t *b = json_object_get(c, "blocksize");
        if (b && !json_is_null(b) && (s_json_int(b, &blocksize) || blocksize > INT_MAX))
            return daisy_error_set(err, "compressor 'blosc': 'blocksize' is not an integer");
        if (shuffle < -1 || shuffle > 2)
            return daisy_error_set(err, "compressor 'blosc': shuffle %lld is not -1, 0, 1 or 2",
                                   (long long)shuffle);
        cfg->shuffle = (int)shuffle;
        cfg->blocksize = (int)blocksize;
    }
    return 0;
}

static int
s_parse_fill(daisy_array_t *self, const json_t *f, bool ints_as_real, const char *text,
             daisy_error_t *err)
{
    daisy_dtype_t t = self->dtype;
    char kind = s_dtypes[t].kind;
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
                                   s_dtypes[t].name);
        return s_fill_from_double(t, v, self->fill_item, &self->fill);
    }
    if (json_is_integer(f)) {
        if (s_fill_from_int(t, (int64_t)json_integer_value(f), self->fill_item, &self->fill))
            return daisy_error_set(err, "fill_value %lld does not fit %s",
                                   (long long)json_integer_value(f), s_dtypes[t].name);
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
            return daisy_error_set(err, "fill_value does not fit %s", s_dtypes[t].name);
        if (s_fill_from_double(t, v, self->fill_item, &self->fill))
            return daisy_error_set(err, "fill_value %g does not fit %s", v, s_dtypes[t].name);
        return 0;
    }
    return daisy_error_set(err, "fill_value is neither a number, null nor \"NaN\"/\"Infinity\"");
}

//  Parse DIR/.zarray into self; err says what is wrong (the caller adds the
//  array's name).
static int
s_parse_zarray(daisy_array_t *self, daisy_error_t *err)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/.zarray", self->path) >= (int)sizeof file)
        return daisy_error_set(err, "path too long");
    size_t len = 0;
    char *text = s_slurp(file, &len);
    if (!text) {
        if (errno == ENOENT && s_exists(self->path, "zarr.json"))
            return daisy_error_set(err, "a Zarr v3 array (zarr.json); only Zarr v2 is supported");
        if (errno == ENOENT && s_exists(self->path, ".zgroup"))
            return daisy_error_set(err, "a Zarr group, not an array");
        if (errno == ENOENT)
            return daisy_error_set(err, "no .zarray (not a Zarr v2 array)");
        return daisy_error_set(err, "cannot read .zarray: %s", strerror(errno));
    }
    json_error_t jerr;
    bool ints_as_real = false;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root && strstr(jerr.text, "too big")) {
        ints_as_real = true;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    }
    if (!root) {
        free(text);
        return daisy_error_set(err, ".zarray is not valid JSON: line %d: %s", jerr.line,
                               jerr.text);
    }
    int rc = -1;
    int64_t v;
    int n;
    if (!json_is_object(root)) {
        daisy_error_set(err, ".zarray is not a JSON object");
        goto done;
    }
    const json_t *fmt = json_object_get(root, "zarr_format");
    if (!fmt || s_json_int(fmt, &v)) {
        daisy_error_set(err, ".zarray: 'zarr_format' is missing");
        goto done;
    }
    if (v != 2) {
        daisy_error_set(err, ".zarray: zarr_format %lld is not supported (only 2)", (long long)v);
        goto done;
    }
    if (s_json_ints(json_object_get(root, "shape"), self->shape, &n) || n < 1) {
        daisy_error_set(err, ".zarray: 'shape' is not a list of 1 to %d integers", DAISY_MAX_DIMS);
        goto done;
    }
    self->dims = n;
    if (s_json_ints(json_object_get(root, "chunks"), self->chunks, &n) || n != self->dims) {
        daisy_error_set(err, ".zarray: 'chunks' is not a list of %d integers", self->dims);
        goto done;
    }
    for (int d = 0; d < self->dims; d++)
        if (self->shape[d] < 0 || self->chunks[d] < 1) {
            daisy_error_set(err, ".zarray: negative shape or chunk shape below 1");
            goto done;
        }
    const char *dtype = json_string_value(json_object_get(root, "dtype"));
    if (!dtype) {
        daisy_error_set(err, ".zarray: 'dtype' is missing or not a string");
        goto done;
    }
    if (s_dtype_parse(dtype, &self->dtype, &self->swap)) {
        daisy_error_set(err, ".zarray: dtype '%s' is not supported (only integers of 1, 2, 4 "
                        "or 8 bytes, float32 and float64)", dtype);
        goto done;
    }
    self->itemsize = s_dtypes[self->dtype].size;
    const char *order = json_string_value(json_object_get(root, "order"));
    if (order && strcmp(order, "C") != 0) {
        daisy_error_set(err, ".zarray: order '%s' is not supported (only C)", order);
        goto done;
    }
    const json_t *filters = json_object_get(root, "filters");
    if (filters && !json_is_null(filters)
        && !(json_is_array(filters) && json_array_size(filters) == 0)) {
        char *f = json_dumps(filters, JSON_COMPACT);
        daisy_error_set(err, ".zarray: filters %s are not supported (only null)", f ? f : "");
        free(f);
        goto done;
    }
    self->sep = '.';
    const json_t *sep = json_object_get(root, "dimension_separator");
    if (sep && !json_is_null(sep)) {
        const char *s = json_string_value(sep);
        if (!s || (strcmp(s, ".") != 0 && strcmp(s, "/") != 0)) {
            daisy_error_set(err, ".zarray: dimension_separator is neither \".\" nor \"/\"");
            goto done;
        }
        self->sep = s[0];
    }
    if (s_parse_compressor(self, json_object_get(root, "compressor"), err)
        || s_parse_fill(self, json_object_get(root, "fill_value"), ints_as_real, text, err)) {
        daisy_error_prefix(err, ".zarray");
        goto done;
    }
    rc = 0;
done:
    json_decref(root);
    free(text);
    return rc;
}

//  DIR/.zattrs (optional): funlib's resolution/voxel_size and offset.
static int
s_parse_zattrs(daisy_array_t *self, daisy_error_t *err)
{
    for (int d = 0; d < self->dims; d++) {
        self->voxel[d] = 1;
        self->offset[d] = 0;
    }
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/.zattrs", self->path) >= (int)sizeof file)
        return daisy_error_set(err, "path too long");
    size_t len = 0;
    char *text = s_slurp(file, &len);
    if (!text)
        return errno == ENOENT ? 0
                               : daisy_error_set(err, "cannot read .zattrs: %s", strerror(errno));
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr);
    free(text);
    if (!root)
        return daisy_error_set(err, ".zattrs is not valid JSON: line %d: %s", jerr.line,
                               jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        daisy_error_set(err, ".zattrs is not a JSON object");
        goto done;
    }
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
        if (s_json_ints(values[k], tmp, &n) || n > self->dims || n < 1) {
            daisy_error_set(err, ".zattrs: '%s' is not a list of at most %d whole numbers",
                            keys[k], self->dims);
            goto done;
        }
        //  Fewer entries than dimensions: the leading ones are channels.
        int lead = self->dims - n;
        for (int d = 0; d < n; d++) {
            if (k == 0 && tmp[d] < 1) {
                daisy_error_set(err, ".zattrs: '%s' has an entry below 1", keys[k]);
                goto done;
            }
            into[k][lead + d] = tmp[d];
        }
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

//  Handles ----------------------------------------------------------------

//  File systems whose readers are all on this host, where a write lease
//  proves that nobody has a file open.
static bool
s_local_fs(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53:        //  ext2, ext3, ext4
    case 0x58465342:    //  xfs
    case 0x9123683E:    //  btrfs
    case 0x01021994:    //  tmpfs
    case 0xF2F52010:    //  f2fs
        return true;
    default:
        return false;
    }
}

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
    if (s_parse_zarray(self, err) || s_parse_zattrs(self, err))
        goto fail;
    //  Chunk size in bytes, guarding against overflow.
    size_t bytes = self->itemsize;
    for (int d = 0; d < self->dims; d++) {
        if ((uint64_t)self->chunks[d] > SIZE_MAX / 2 / bytes) {
            daisy_error_set(err, "chunks of %lld voxels in dimension %d are too large",
                            (long long)self->chunks[d], d);
            goto fail;
        }
        bytes *= (size_t)self->chunks[d];
    }
    self->chunk_bytes = bytes;
    if (!(self->codec = codec_new(&self->codec_config, self->itemsize, err))) {
        daisy_error_prefix(err, ".zarray");
        goto fail;
    }
    self->path_cap = strlen(self->path) + sizeof self->key + 64;
    self->file = malloc(self->path_cap);
    self->tmp = malloc(self->path_cap);
    self->spare = malloc(self->path_cap);
    if (!self->file || !self->tmp || !self->spare) {
        daisy_error_set(err, "out of memory");
        goto fail;
    }
    //  Reusing replaced chunk files (s_chunk_store) relies on a write lease
    //  seeing every reader of the file, which only holds where all readers
    //  are on this host: local file systems. Elsewhere (NFS, Lustre, GPFS,
    //  ...) replaced files are unlinked.
    struct statfs fs;
    self->no_spare = statfs(self->path, &fs) != 0 || !s_local_fs(fs.f_type);
    if (getrandom(&self->tmp_nonce, sizeof self->tmp_nonce, GRND_NONBLOCK) != sizeof self->tmp_nonce)
        self->tmp_nonce = (uint32_t)((uintptr_t)self ^ (uint64_t)time(NULL));
    return self;
fail:
    daisy_error_prefix(err, "array '%s'", self->path);
    daisy_array_destroy(&self);
    return NULL;
}

void
daisy_array_destroy(daisy_array_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    daisy_array_t *self = *self_p;
    if (self->have_spare && self->spare_pid == getpid())
        unlink(self->spare);
    codec_destroy(&self->codec);
    free(self->chunk_buf);
    free(self->fill_buf);
    free(self->file_buf);
    free(self->file);
    free(self->tmp);
    free(self->spare);
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
}

//  Checks a spec; fills the codec config and the fill item.
static int
s_check_spec(const daisy_array_spec_t *spec, codec_config_t *cfg,
             unsigned char item[8], daisy_error_t *err)
{
    if (spec->dims < 1 || spec->dims > DAISY_MAX_DIMS)
        return daisy_error_set(err, "%d dimensions (1 to %d are supported)", spec->dims,
                               DAISY_MAX_DIMS);
    if (!s_dtype_valid(spec->dtype))
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
    if (s_fill_from_double(spec->dtype, spec->fill_value, item, &exact))
        return daisy_error_set(err, "fill value %g does not fit %s", spec->fill_value,
                               s_dtypes[spec->dtype].name);
    if (spec->dimension_separator != '.' && spec->dimension_separator != '/'
        && spec->dimension_separator != 0)
        return daisy_error_set(err, "dimension separator '%c' is neither '.' nor '/'",
                               spec->dimension_separator);
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
    size_t itemsize = s_dtypes[spec->dtype].size;
    codec_t *probe = codec_new(cfg, itemsize, err);
    if (!probe)
        return -1;
    codec_destroy(&probe);
    return 0;
}

static int
s_rm_entry(const char *file, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0)
        return 0;
    int rc = (flag == FTW_DP) ? rmdir(file) : unlink(file);
    return rc < 0 ? -1 : 0;
}

//  Make room for a new array at path: nothing there, an empty directory,
//  or (with overwrite) a Zarr array whose contents are removed.
static int
s_prepare_dir(const char *path, bool overwrite, daisy_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return daisy_error_set(err, "cannot stat: %s", strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return daisy_error_set(err, "exists and is not a directory");
    if (s_exists(path, ".zarray")) {
        if (!overwrite)
            return daisy_error_set(err, "already exists (set overwrite to replace it)");
        if (nftw(path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
            return daisy_error_set(err, "cannot remove the old array: %s", strerror(errno));
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return daisy_error_set(err, "cannot list: %s", strerror(errno));
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(dir);
    if (!empty)
        return daisy_error_set(err, "exists, is not empty and is not a Zarr array (left alone)");
    return 0;
}

//  mkdir -p the parents; from the first one named *.zarr down, each parent
//  is (or becomes) a Zarr group so that Python can walk to the array.
static int
s_make_parents(const char *path, daisy_error_t *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return daisy_error_set(err, "path too long");
    memcpy(buf, path, len + 1);
    if (s_mkdirs(path) < 0)
        return daisy_error_set(err, "cannot create the directory: %s", strerror(errno));
    bool in_zarr = false;
    for (size_t i = 1; i < len; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        const char *base = strrchr(buf, '/');
        base = base ? base + 1 : buf;
        size_t bl = strlen(base);
        if (bl > 5 && strcmp(base + bl - 5, ".zarr") == 0)
            in_zarr = true;
        if (in_zarr) {
            if (s_exists(buf, ".zarray")) {
                daisy_error_set(err, "parent '%s' is a Zarr array", buf);
                return -1;
            }
            static const char group[] = "{\n    \"zarr_format\": 2\n}";
            if (!s_exists(buf, ".zgroup")
                && s_write_atomic(buf, ".zgroup", group, sizeof group - 1, err))
                return -1;
        }
        buf[i] = '/';
    }
    return 0;
}

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
    json_t *meta = NULL, *attrs = NULL;
    char *text = NULL, *attrs_text = NULL, *full = NULL;
    daisy_array_t *self = NULL;
    if (s_check_spec(spec, &cfg, item, err) || s_prepare_dir(clean, spec->overwrite, err)
        || s_make_parents(clean, err))
        goto done;
    //  .zarray as Python zarr writes it; the fill value is spliced in as
    //  text because jansson has no uint64 and no NaN.
    char dtype[4];
    s_dtype_zarr(spec->dtype, dtype);
    meta = json_object();
    json_object_set_new(meta, "zarr_format", json_integer(2));
    json_object_set_new(meta, "shape", s_json_list(spec->dims, spec->shape));
    json_object_set_new(meta, "chunks", s_json_list(spec->dims, spec->chunks));
    json_object_set_new(meta, "dtype", json_string(dtype));
    json_object_set_new(meta, "order", json_string("C"));
    json_object_set_new(meta, "filters", json_null());
    json_object_set_new(meta, "fill_value", json_string("@FILL@"));
    if (spec->dimension_separator == '/')
        json_object_set_new(meta, "dimension_separator", json_string("/"));
    json_t *comp;
    if (cfg.id == DAISY_COMPRESSOR_NONE)
        comp = json_null();
    else if (cfg.id == DAISY_COMPRESSOR_BLOSC)
        comp = json_pack("{s:s, s:i, s:s, s:i, s:i}", "id", "blosc", "clevel", cfg.level,
                         "cname", cfg.cname, "shuffle", cfg.shuffle, "blocksize", 0);
    else
        comp = json_pack("{s:s, s:i}", "id", daisy_compressor_name(cfg.id), "level", cfg.level);
    json_object_set_new(meta, "compressor", comp);
    text = json_dumps(meta, JSON_INDENT(4) | JSON_SORT_KEYS);
    char fill[64];
    s_fill_format(spec->dtype, item, fill, sizeof fill);
    char *at = text ? strstr(text, "\"@FILL@\"") : NULL;
    if (!at || asprintf(&full, "%.*s%s%s", (int)(at - text), text, fill,
                        at + strlen("\"@FILL@\"")) < 0) {
        full = NULL;
        daisy_error_set(err, "out of memory");
        goto done;
    }
    attrs = json_pack("{s:o, s:o}", "resolution", s_json_list(spec->dims, spec->voxel_size),
                      "offset", s_json_list(spec->dims, spec->offset));
    attrs_text = json_dumps(attrs, JSON_INDENT(4) | JSON_SORT_KEYS);
    if (!attrs_text) {
        daisy_error_set(err, "out of memory");
        goto done;
    }
    //  .zattrs first: an opener that sees .zarray sees the right attributes.
    if (s_write_atomic(clean, ".zattrs", attrs_text, strlen(attrs_text), err)
        || s_write_atomic(clean, ".zarray", full, strlen(full), err))
        goto done;
    self = daisy_array_open(clean, true, err);
    free(clean);
    clean = NULL;
done:
    if (!self && clean)
        daisy_error_prefix(err, "array '%s'", clean);
    json_decref(meta);
    json_decref(attrs);
    free(text);
    free(full);
    free(attrs_text);
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

//  ROIs -------------------------------------------------------------------

//  Checks `roi` against the array and converts it to voxels relative to the
//  array's origin: begin in b, shape in n. Returns 1 when the ROI is empty.
static int
s_check_roi(const daisy_array_t *self, const daisy_roi_t *roi, int64_t *b, int64_t *n,
            daisy_error_t *err)
{
    char rtext[160], atext[160];
    if (!roi)
        return daisy_error_set(err, "array '%s': no ROI given", self->path);
    daisy_roi_format(roi, rtext, sizeof rtext);
    if (roi->dims != self->dims)
        return daisy_error_set(err, "array '%s': ROI %s has %d dimensions, the array has %d",
                               self->path, rtext, roi->dims, self->dims);
    for (int d = 0; d < self->dims; d++)
        if (roi->shape[d] < 0)
            return daisy_error_set(err, "array '%s': ROI %s has a negative shape", self->path,
                                   rtext);
    daisy_roi_t aroi = daisy_array_roi(self);
    if (!daisy_roi_contains(&aroi, roi)) {
        daisy_roi_format(&aroi, atext, sizeof atext);
        return daisy_error_set(err, "array '%s': ROI %s is outside the array's ROI %s",
                               self->path, rtext, atext);
    }
    bool empty = false;
    for (int d = 0; d < self->dims; d++) {
        int64_t rel = roi->offset[d] - self->offset[d];
        if (rel % self->voxel[d] != 0 || roi->shape[d] % self->voxel[d] != 0) {
            char vs[160], off[160];
            s_coord_text(self->dims, self->voxel, vs, sizeof vs);
            s_coord_text(self->dims, self->offset, off, sizeof off);
            return daisy_error_set(err, "array '%s': ROI %s is not a multiple of the voxel "
                                   "size %s (from the array's offset %s)",
                                   self->path, rtext, vs, off);
        }
        b[d] = rel / self->voxel[d];
        n[d] = roi->shape[d] / self->voxel[d];
        if (n[d] == 0)
            empty = true;
    }
    return empty ? 1 : 0;
}

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
        if (n && bytes > SIZE_MAX / n)
            return 0;
        bytes *= n;
    }
    return bytes;
}

//  Copying boxes ----------------------------------------------------------

//  The contiguous run of a box of `cnt` items inside buffers of shapes
//  `sshape` and `dshape`: trailing dimensions that span both buffers fully
//  merge into one run. *outer is the number of leading dimensions left to
//  iterate over.
static size_t
s_box_run(int dims, size_t item, const int64_t *cnt, const int64_t *sshape,
          const int64_t *dshape, int *outer)
{
    int k = dims - 1;
    size_t run = (size_t)cnt[k] * item;
    while (k > 0 && cnt[k] == sshape[k] && cnt[k] == dshape[k]) {
        k--;
        run *= (size_t)cnt[k];
    }
    *outer = k;
    return run;
}

//  Copy a box of cnt[] items from src (C order, shape sshape, box at
//  sstart) to dst (shape dshape, box at dstart).
static void
s_copy_box(int dims, size_t item, const int64_t *cnt, const unsigned char *src,
           const int64_t *sshape, const int64_t *sstart, unsigned char *dst,
           const int64_t *dshape, const int64_t *dstart)
{
    size_t sstride[DAISY_MAX_DIMS], dstride[DAISY_MAX_DIMS];
    sstride[dims - 1] = dstride[dims - 1] = item;
    for (int d = dims - 2; d >= 0; d--) {
        sstride[d] = sstride[d + 1] * (size_t)sshape[d + 1];
        dstride[d] = dstride[d + 1] * (size_t)dshape[d + 1];
    }
    size_t so = 0, dof = 0;
    for (int d = 0; d < dims; d++) {
        so += (size_t)sstart[d] * sstride[d];
        dof += (size_t)dstart[d] * dstride[d];
    }
    int k;
    size_t run = s_box_run(dims, item, cnt, sshape, dshape, &k);
    int64_t idx[DAISY_MAX_DIMS] = {0};
    for (;;) {
        memcpy(dst + dof, src + so, run);
        int d = k - 1;
        for (; d >= 0; d--) {
            so += sstride[d];
            dof += dstride[d];
            if (++idx[d] < cnt[d])
                break;
            so -= (size_t)cnt[d] * sstride[d];
            dof -= (size_t)cnt[d] * dstride[d];
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}

//  Byte offset of `start` in a C-order buffer of `shape`.
static size_t
s_offset_of(int dims, size_t item, const int64_t *shape, const int64_t *start)
{
    size_t off = 0;
    for (int d = 0; d < dims; d++)
        off = off * (size_t)shape[d] + (size_t)start[d];
    return off * item;
}

//  Chunks -----------------------------------------------------------------

//  Key and file name of chunk `c` (grid index) into self->key and self->file.
static void
s_chunk_name(daisy_array_t *self, const int64_t *c)
{
    char *k = self->key;
    for (int d = 0; d < self->dims; d++) {
        if (d)
            *k++ = self->sep;
        k += sprintf(k, "%lld", (long long)c[d]);
    }
    snprintf(self->file, self->path_cap, "%s/%s", self->path, self->key);
}

static int
s_reserve(unsigned char **buf, size_t *cap, size_t size, daisy_error_t *err)
{
    if (size <= *cap && *buf)
        return 0;
    unsigned char *p = realloc(*buf, size ? size : 1);
    if (!p)
        return daisy_error_set(err, "out of memory for %zu bytes", size);
    *buf = p;
    *cap = size;
    return 0;
}

static unsigned char *
s_chunk_buf(daisy_array_t *self, daisy_error_t *err)
{
    if (!self->chunk_buf && !(self->chunk_buf = malloc(self->chunk_bytes)))
        daisy_error_set(err, "out of memory for a chunk of %zu bytes", self->chunk_bytes);
    return self->chunk_buf;
}

static unsigned char *
s_fill_buf(daisy_array_t *self, daisy_error_t *err)
{
    if (self->fill_buf)
        return self->fill_buf;
    if (!(self->fill_buf = malloc(self->chunk_bytes))) {
        daisy_error_set(err, "out of memory for a chunk of %zu bytes", self->chunk_bytes);
        return NULL;
    }
    bool same = true;
    for (size_t i = 1; i < self->itemsize; i++)
        same = same && self->fill_item[i] == self->fill_item[0];
    if (same)
        memset(self->fill_buf, self->fill_item[0], self->chunk_bytes);
    else {
        //  Double the filled prefix until the chunk is full.
        memcpy(self->fill_buf, self->fill_item, self->itemsize);
        size_t done = self->itemsize;
        while (done < self->chunk_bytes) {
            size_t n = done < self->chunk_bytes - done ? done : self->chunk_bytes - done;
            memcpy(self->fill_buf + done, self->fill_buf, n);
            done += n;
        }
    }
    return self->fill_buf;
}

//  Decode the chunk in self->file into dst (chunk_bytes, native order).
//  1 when loaded, 0 when the chunk does not exist, -1 on error.
static int
s_chunk_load(daisy_array_t *self, unsigned char *dst, daisy_error_t *err)
{
    int fd = open(self->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return daisy_error_set(err, "cannot open: %s", strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return daisy_error_set(err, "cannot stat: %s", strerror(e));
    }
    size_t size = (size_t)st.st_size;
    int rc = 0;
    if (self->codec_config.id == DAISY_COMPRESSOR_NONE) {
        if (size != self->chunk_bytes)
            rc = daisy_error_set(err, "uncompressed chunk file has %zu bytes, expected %zu",
                                 size, self->chunk_bytes);
        else if (s_read_full(fd, dst, size) < 0)
            rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
    } else {
        if (s_reserve(&self->file_buf, &self->file_cap, size, err))
            rc = -1;
        else if (s_read_full(fd, self->file_buf, size) < 0)
            rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
        else
            rc = codec_decode(self->codec, self->file_buf, size, dst, self->chunk_bytes, err);
    }
    close(fd);
    if (rc < 0)
        return -1;
    if (self->swap)
        s_swap(dst, self->chunk_bytes / self->itemsize, self->itemsize);
    return 1;
}

//  Put self->tmp in place of self->file atomically. A new chunk is renamed
//  with RENAME_NOREPLACE (returns 0: the temporary name is gone); an
//  existing one is swapped with RENAME_EXCHANGE (returns 1: the temporary
//  name now holds the old chunk). Both are as atomic as rename() for
//  readers and writers. rename() over an existing file would make ext4
//  (auto_da_alloc) allocate and start writing the new blocks inside the
//  call. Where renameat2 flags are not supported (EINVAL), plain rename().
static int
s_replace(daisy_array_t *self)
{
    for (int tries = 0; !self->plain_rename && tries < 16; tries++) {
        if (renameat2(AT_FDCWD, self->tmp, AT_FDCWD, self->file, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST) {
            if (renameat2(AT_FDCWD, self->tmp, AT_FDCWD, self->file, RENAME_EXCHANGE) == 0)
                return 1;
            if (errno == ENOENT)
                continue;               //  removed in between: try again
        }
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
        self->plain_rename = true;
    }
    return rename(self->tmp, self->file) < 0 ? -1 : 0;
}

//  A new temporary file beside self->file, named in self->tmp. Its name
//  starts with '.' and ends with '.partial', as Python zarr's
//  DirectoryStore names its own; pid, a random nonce and a counter make it
//  unique across processes and hosts.
static int
s_tmp_create(daisy_array_t *self, daisy_error_t *err)
{
    const char *slash = strrchr(self->file, '/');
    int dirlen = (int)(slash - self->file);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(self->tmp, self->path_cap, "%.*s/.%s.%d.%08x%llx.partial", dirlen, self->file,
                 slash + 1, (int)getpid(), self->tmp_nonce,
                 (unsigned long long)self->tmp_count++);
        int fd = open(self->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == ENOENT && self->sep == '/') {
            //  Nested keys: make the chunk's directories on first use.
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%.*s", dirlen, self->file);
            if (s_mkdirs(dir) < 0)
                return daisy_error_set(err, "cannot create directory '%s': %s", dir,
                                       strerror(errno));
            fd = open(self->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        }
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return daisy_error_set(err, "cannot create '%s': %s", self->tmp, strerror(errno));
    }
    return daisy_error_set(err, "cannot find a free temporary name near '%s'", self->file);
}

//  The spare (see s_chunk_store) opened for writing and emptied, or -1
//  when it cannot be reused. It may be reused only when no other process
//  has it open: a reader that opened the old chunk just before it was
//  swapped out must go on reading the old bytes. A write lease is granted
//  only when no other descriptor of the file is open anywhere, and no new
//  one can appear, as no chunk name leads to the file any more.
static int
s_spare_take(daisy_array_t *self)
{
    self->have_spare = false;
    memcpy(self->tmp, self->spare, strlen(self->spare) + 1);
    int fd = open(self->tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        if (ftruncate(fd, 0) == 0)
            return fd;
    } else if (errno != EAGAIN && errno != EBUSY)
        self->no_spare = true;          //  no leases here (NFS, ...): never reuse
    close(fd);
    unlink(self->tmp);
    return -1;
}

//  Encode `data` (one chunk, native order; swapped in place when the array
//  is big endian, so it must then be the handle's buffer) and put it in
//  place of self->file atomically.
//
//  Overwriting a chunk leaves the old chunk's file under the temporary
//  name. Instead of unlinking it, the handle keeps it as its spare and
//  writes the next chunk into it when nobody has it open (s_spare_take):
//  creating and deleting a file per chunk makes ext4 scan past every
//  recently deleted inode on each create (find_inode_bit/recently_deleted),
//  which grows to hundreds of microseconds per chunk when a volume is
//  rewritten. The spare belongs to the process that made it (a forked child
//  makes its own) and is unlinked by daisy_array_destroy(); a process that
//  dies leaves at most one hidden *.partial file per handle behind.
static int
s_chunk_store(daisy_array_t *self, unsigned char *data, daisy_error_t *err)
{
    if (self->swap)
        s_swap(data, self->chunk_bytes / self->itemsize, self->itemsize);
    const void *out;
    size_t out_len;
    if (codec_encode(self->codec, data, self->chunk_bytes, &out, &out_len, err))
        return -1;
    int fd = -1;
    pid_t pid = getpid();
    if (self->have_spare && self->spare_pid == pid)
        fd = s_spare_take(self);
    if (fd < 0 && (fd = s_tmp_create(self, err)) < 0)
        return -1;
    if (s_write_full(fd, out, out_len) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(self->tmp);
        return daisy_error_set(err, "cannot write '%s': %s", self->tmp, strerror(e));
    }
    int rc = s_replace(self);
    if (rc < 0) {
        int e = errno;
        unlink(self->tmp);
        return daisy_error_set(err, "cannot rename '%s' into place: %s", self->tmp,
                               strerror(e));
    }
    if (rc == 1) {
        //  self->tmp holds the old chunk now: the next spare, or gone.
        if (self->no_spare)
            unlink(self->tmp);
        else {
            memcpy(self->spare, self->tmp, strlen(self->tmp) + 1);
            self->have_spare = true;
            self->spare_pid = pid;
        }
    }
    return 0;
}

//  Reading and writing ----------------------------------------------------

//  Iterates over the chunks that [b, b + n) touches. For each: the chunk's
//  grid index c, the box's count, its start in the chunk and in the ROI.
typedef struct {
    int dims;
    int64_t lo[DAISY_MAX_DIMS], hi[DAISY_MAX_DIMS];   //  chunk index range, inclusive
    int64_t c[DAISY_MAX_DIMS];
    int64_t cnt[DAISY_MAX_DIMS], cstart[DAISY_MAX_DIMS], rstart[DAISY_MAX_DIMS];
    bool whole;         //  the box is the whole chunk
    bool in_array;      //  the box is the whole part of the chunk inside the array
} s_walk_t;

static void
s_walk_box(const daisy_array_t *self, s_walk_t *w, const int64_t *b, const int64_t *n)
{
    w->whole = w->in_array = true;
    for (int d = 0; d < w->dims; d++) {
        int64_t cb = w->c[d] * self->chunks[d], ce = cb + self->chunks[d];
        int64_t lo = b[d] > cb ? b[d] : cb;
        int64_t hi = b[d] + n[d] < ce ? b[d] + n[d] : ce;
        int64_t ae = ce < self->shape[d] ? ce : self->shape[d];
        w->cnt[d] = hi - lo;
        w->cstart[d] = lo - cb;
        w->rstart[d] = lo - b[d];
        if (w->cnt[d] != self->chunks[d])
            w->whole = false;
        if (lo != cb || hi != ae)
            w->in_array = false;
    }
}

static void
s_walk_start(const daisy_array_t *self, s_walk_t *w, const int64_t *b, const int64_t *n)
{
    w->dims = self->dims;
    for (int d = 0; d < self->dims; d++) {
        w->lo[d] = b[d] / self->chunks[d];
        w->hi[d] = (b[d] + n[d] - 1) / self->chunks[d];
        w->c[d] = w->lo[d];
    }
    s_walk_box(self, w, b, n);
}

static bool
s_walk_next(const daisy_array_t *self, s_walk_t *w, const int64_t *b, const int64_t *n)
{
    for (int d = w->dims - 1; d >= 0; d--) {
        if (++w->c[d] <= w->hi[d]) {
            s_walk_box(self, w, b, n);
            return true;
        }
        w->c[d] = w->lo[d];
    }
    return false;
}

//  True when the box is one contiguous range of a buffer of shape `shape`.
static bool
s_contiguous(int dims, const int64_t *cnt, const int64_t *shape)
{
    int k;
    s_box_run(dims, 1, cnt, shape, shape, &k);
    for (int d = 0; d < k; d++)
        if (cnt[d] != 1)
            return false;
    return true;
}

static int
s_chunk_error(const daisy_array_t *self, const daisy_roi_t *roi, const char *verb,
              daisy_error_t *err)
{
    char rtext[160];
    daisy_roi_format(roi, rtext, sizeof rtext);
    return daisy_error_prefix(err, "array '%s': %s ROI %s: chunk '%s'", self->path, verb,
                              rtext, self->key);
}

int
daisy_array_read(daisy_array_t *self, const daisy_roi_t *roi, void *buf, daisy_error_t *err)
{
    int64_t b[DAISY_MAX_DIMS], n[DAISY_MAX_DIMS];
    int rc = s_check_roi(self, roi, b, n, err);
    if (rc)
        return rc < 0 ? -1 : 0;
    if (!buf)
        return daisy_error_set(err, "array '%s': no buffer to read into", self->path);
    unsigned char *out = buf;
    int dims = self->dims;
    s_walk_t w;
    s_walk_start(self, &w, b, n);
    do {
        s_chunk_name(self, w.c);
        if (w.whole && !self->swap && s_contiguous(dims, w.cnt, n)) {
            //  Straight into the caller's buffer.
            unsigned char *dst = out + s_offset_of(dims, self->itemsize, n, w.rstart);
            rc = s_chunk_load(self, dst, err);
            if (rc < 0)
                return s_chunk_error(self, roi, "reading", err);
            if (rc == 0) {
                const unsigned char *fill = s_fill_buf(self, err);
                if (!fill)
                    return -1;
                memcpy(dst, fill, self->chunk_bytes);
            }
            continue;
        }
        unsigned char *chunk = s_chunk_buf(self, err);
        if (!chunk)
            return -1;
        rc = s_chunk_load(self, chunk, err);
        if (rc < 0)
            return s_chunk_error(self, roi, "reading", err);
        const unsigned char *src = rc ? chunk : s_fill_buf(self, err);
        if (!src)
            return -1;
        s_copy_box(dims, self->itemsize, w.cnt, src, self->chunks, w.cstart, out, n, w.rstart);
    } while (s_walk_next(self, &w, b, n));
    return 0;
}

int
daisy_array_write(daisy_array_t *self, const daisy_roi_t *roi, const void *buf,
                  daisy_error_t *err)
{
    int64_t b[DAISY_MAX_DIMS], n[DAISY_MAX_DIMS];
    int rc = s_check_roi(self, roi, b, n, err);
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
    const unsigned char *in = buf;
    int dims = self->dims;
    s_walk_t w;
    s_walk_start(self, &w, b, n);
    do {
        s_chunk_name(self, w.c);
        if (w.whole && !self->swap && s_contiguous(dims, w.cnt, n)) {
            //  Encoded straight from the caller's buffer (never modified:
            //  only big-endian stores swap in place, and they take the
            //  other path).
            unsigned char *src = (unsigned char *)in + s_offset_of(dims, self->itemsize, n,
                                                                  w.rstart);
            if (s_chunk_store(self, src, err))
                return s_chunk_error(self, roi, "writing", err);
            continue;
        }
        unsigned char *chunk = s_chunk_buf(self, err);
        if (!chunk)
            return -1;
        if (!w.whole) {
            //  Start from what is there (read-modify-write), or from the
            //  fill value where the chunk is new or the box covers all of
            //  it that lies inside the array (the rest is padding).
            rc = w.in_array ? 0 : s_chunk_load(self, chunk, err);
            if (rc < 0)
                return s_chunk_error(self, roi, "writing", err);
            if (rc == 0) {
                const unsigned char *fill = s_fill_buf(self, err);
                if (!fill)
                    return -1;
                memcpy(chunk, fill, self->chunk_bytes);
            }
        }
        s_copy_box(dims, self->itemsize, w.cnt, in, n, w.rstart, chunk, self->chunks, w.cstart);
        if (s_chunk_store(self, chunk, err))
            return s_chunk_error(self, roi, "writing", err);
    } while (s_walk_next(self, &w, b, n));
    return 0;
}
