/*  test_array.c - Zarr v2 arrays: round trips, partial writes, fill values,
    world units, errors, byte order, nested keys and concurrent writers.

    Every test works in its own mkdtemp directory under /tmp, removed
    afterwards. Expected contents come from a plain in-memory model that is
    updated element by element (no shared code with the library's copy
    paths), so a wrong stride or offset in the library shows up as a
    difference from the model.
*/
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daisy/array.h"
#include "testutil.h"

static char dir[64];

static void
setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/daisy-array-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
    tu_rmtree(dir);
}

TestSuite(array, .init = setup, .fini = teardown, .timeout = 120);

//  Helpers ----------------------------------------------------------------

static uint64_t
rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int64_t
rnd_range(uint64_t *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rnd(s) % (uint64_t)(hi - lo + 1));
}

//  Random bytes with some runs, so that compressors have something to do.
static void
fill_random(void *buf, size_t bytes, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    unsigned char *p = buf;
    for (size_t i = 0; i < bytes;) {
        uint64_t r = rnd(&s);
        size_t run = (r >> 60) < 4 ? (size_t)(r >> 56 & 15) + 1 : 1;
        for (size_t j = 0; j < run && i < bytes; j++)
            p[i++] = (unsigned char)r;
    }
}

static char *
path_of(const char *name)
{
    static char p[4][256];
    static int next;
    char *out = p[next++ % 4];
    snprintf(out, 256, "%s/%s", dir, name);
    return out;
}

static void
write_text(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f, "cannot write %s", file);
    fputs(text, f);
    fclose(f);
}

//  A directory `name` holding a .zarray of `text`; its path.
static const char *
zarray_at(const char *name, const char *text)
{
    const char *p = path_of(name);
    cr_assert_eq(mkdir(p, 0777), 0);
    char file[256];
    snprintf(file, sizeof file, "%s/.zarray", p);
    write_text(file, text);
    return p;
}

static char *
read_text(const char *file)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "cannot read %s", file);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool
file_exists(const char *file)
{
    return access(file, F_OK) == 0;
}

//  Files in a directory whose names contain `part`.
static int
count_files(const char *d, const char *part)
{
    DIR *dp = opendir(d);
    cr_assert_not_null(dp);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strstr(e->d_name, part))
            n++;
    closedir(dp);
    return n;
}

//  The model: a whole array in voxels, C order. Element-wise box copies.
typedef struct {
    int dims;
    int64_t shape[DAISY_MAX_DIMS];
    size_t item;
    unsigned char *data;
} model_t;

static size_t
box_index(int dims, const int64_t *shape, const int64_t *idx)
{
    size_t off = 0;
    for (int d = 0; d < dims; d++)
        off = off * (size_t)shape[d] + (size_t)idx[d];
    return off;
}

//  to_model: copy buf (shape cnt) into the model at begin; else the reverse.
static void
model_box(model_t *m, const int64_t *begin, const int64_t *cnt, void *buf, bool to_model)
{
    int64_t idx[DAISY_MAX_DIMS] = {0}, at[DAISY_MAX_DIMS];
    size_t total = 1;
    for (int d = 0; d < m->dims; d++)
        total *= (size_t)cnt[d];
    for (size_t i = 0; i < total; i++) {
        size_t rem = i;
        for (int d = m->dims - 1; d >= 0; d--) {
            idx[d] = (int64_t)(rem % (size_t)cnt[d]);
            rem /= (size_t)cnt[d];
            at[d] = begin[d] + idx[d];
        }
        unsigned char *mp = m->data + box_index(m->dims, m->shape, at) * m->item;
        unsigned char *bp = (unsigned char *)buf + i * m->item;
        if (to_model)
            memcpy(mp, bp, m->item);
        else
            memcpy(bp, mp, m->item);
    }
}

static model_t
model_new(const daisy_array_t *a)
{
    model_t m = {.dims = daisy_array_dims(a), .item = daisy_array_itemsize(a)};
    daisy_coord_t s = daisy_array_shape(a);
    size_t n = 1;
    for (int d = 0; d < m.dims; d++) {
        m.shape[d] = s.v[d];
        n *= (size_t)s.v[d];
    }
    m.data = malloc(n * m.item + 1);
    unsigned char fill[8];
    daisy_array_fill_item(a, fill);
    for (size_t i = 0; i < n; i++)
        memcpy(m.data + i * m.item, fill, m.item);
    return m;
}

//  A ROI in world units from a voxel box.
static daisy_roi_t
world_roi(const daisy_array_t *a, const int64_t *begin, const int64_t *cnt)
{
    daisy_coord_t vs = daisy_array_voxel_size(a), off = daisy_array_offset(a);
    int64_t o[DAISY_MAX_DIMS], s[DAISY_MAX_DIMS];
    for (int d = 0; d < vs.dims; d++) {
        o[d] = off.v[d] + begin[d] * vs.v[d];
        s[d] = cnt[d] * vs.v[d];
    }
    return daisy_roi_make(vs.dims, o, s);
}

static size_t
box_bytes(int dims, const int64_t *cnt, size_t item)
{
    size_t n = item;
    for (int d = 0; d < dims; d++)
        n *= (size_t)cnt[d];
    return n;
}

//  Read the voxel box [begin, begin + cnt) and compare it with the model.
static void
check_box(daisy_array_t *a, model_t *m, const int64_t *begin, const int64_t *cnt)
{
    size_t bytes = box_bytes(m->dims, cnt, m->item);
    unsigned char *got = malloc(bytes + 1), *want = malloc(bytes + 1);
    daisy_roi_t roi = world_roi(a, begin, cnt);
    daisy_error_t err;
    cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
    model_box(m, begin, cnt, want, false);
    char text[160];
    daisy_roi_format(&roi, text, sizeof text);
    cr_assert(memcmp(got, want, bytes) == 0, "%s: read of %s differs from the model",
              daisy_array_path(a), text);
    free(got);
    free(want);
}

static void
check_all(daisy_array_t *a, model_t *m)
{
    int64_t zero[DAISY_MAX_DIMS] = {0};
    check_box(a, m, zero, m->shape);
}

typedef struct {
    daisy_compressor_t compressor;
    const char *cname;
    const char *name;
} comp_t;

static const comp_t comps[] = {
    {DAISY_COMPRESSOR_NONE, NULL, "none"},       {DAISY_COMPRESSOR_ZLIB, NULL, "zlib"},
    {DAISY_COMPRESSOR_GZIP, NULL, "gzip"},       {DAISY_COMPRESSOR_ZSTD, NULL, "zstd"},
    {DAISY_COMPRESSOR_BLOSC, "lz4", "blosc-lz4"}, {DAISY_COMPRESSOR_BLOSC, "zstd", "blosc-zstd"},
};
#define NCOMPS (int)(sizeof comps / sizeof comps[0])

//  An array in `order` ('C' or 'F', v2's "order").
static daisy_array_t *
make_array_in(char order, const char *name, daisy_dtype_t dtype, const comp_t *c, int dims,
              const int64_t *shape, const int64_t *chunks, const int64_t *voxel,
              const int64_t *offset, double fill)
{
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, dtype, dims, shape, chunks);
    spec.order = order;
    for (int d = 0; d < dims; d++) {
        if (voxel)
            spec.voxel_size[d] = voxel[d];
        if (offset)
            spec.offset[d] = offset[d];
    }
    spec.fill_value = fill;
    spec.compressor = c->compressor;
    if (c->cname)
        spec.blosc_cname = c->cname;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of(name), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    return a;
}

static daisy_array_t *
make_array(const char *name, daisy_dtype_t dtype, const comp_t *c, int dims,
           const int64_t *shape, const int64_t *chunks, const int64_t *voxel,
           const int64_t *offset, double fill)
{
    return make_array_in('C', name, dtype, c, dims, shape, chunks, voxel, offset, fill);
}

//  Round trips: every dtype x every compressor --------------------------

typedef struct {
    int dtype;
    int comp;
} rt_param_t;

ParameterizedTestParameters(array, round_trip)
{
    static rt_param_t params[DAISY_DTYPE_COUNT * NCOMPS];
    int n = 0;
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        for (int c = 0; c < NCOMPS; c++)
            params[n++] = (rt_param_t){t, c};
    return cr_make_param_array(rt_param_t, params, n);
}

ParameterizedTest(rt_param_t *p, array, round_trip)
{
    daisy_dtype_t t = (daisy_dtype_t)p->dtype;
    const comp_t *c = &comps[p->comp];
    int64_t shape[3] = {13, 10, 7}, chunks[3] = {4, 3, 5}, voxel[3] = {2, 3, 1},
            offset[3] = {-6, 9, -2};
    bool is_float = t == DAISY_DTYPE_FLOAT32 || t == DAISY_DTYPE_FLOAT64;
    double fill = is_float ? NAN : 7;
    char name[64];
    snprintf(name, sizeof name, "rt_%s_%s.zarr", daisy_dtype_name(t), c->name);
    daisy_array_t *a = make_array(name, t, c, 3, shape, chunks, voxel, offset, fill);
    cr_assert_eq(daisy_array_dtype(a), t);
    cr_assert_eq(daisy_array_itemsize(a), daisy_dtype_size(t));
    cr_assert_eq(daisy_array_compressor(a), c->compressor);
    model_t m = model_new(a);
    size_t bytes = box_bytes(3, shape, m.item);
    fill_random(m.data, bytes, (uint64_t)(p->dtype * 16 + p->comp));
    daisy_roi_t roi = daisy_array_roi(a);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &roi, m.data, &err), 0, "%s", err.msg);
    check_all(a, &m);
    daisy_array_destroy(&a);
    cr_assert_null(a);
    //  Reopened read-only: same metadata, same contents, reads across
    //  chunk borders.
    a = daisy_array_open(path_of(name), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_eq(daisy_array_dtype(a), t);
    cr_assert(daisy_coord_equal(daisy_array_shape(a), daisy_coord_make(3, shape)));
    cr_assert(daisy_coord_equal(daisy_array_chunks(a), daisy_coord_make(3, chunks)));
    cr_assert(daisy_coord_equal(daisy_array_voxel_size(a), daisy_coord_make(3, voxel)));
    cr_assert(daisy_coord_equal(daisy_array_offset(a), daisy_coord_make(3, offset)));
    cr_assert_eq(daisy_array_compressor(a), c->compressor);
    if (is_float)
        cr_assert(isnan(daisy_array_fill_value(a)));
    else
        cr_assert_eq(daisy_array_fill_value(a), 7);
    check_all(a, &m);
    int64_t b1[3] = {3, 2, 4}, n1[3] = {6, 5, 3};
    check_box(a, &m, b1, n1);
    int64_t b2[3] = {12, 9, 6}, n2[3] = {1, 1, 1};
    check_box(a, &m, b2, n2);
    daisy_array_destroy(&a);
    free(m.data);
}

//  Partial writes and reads across chunk borders ---------------------------

static void
random_writes(char order, int dims, const comp_t *c, daisy_dtype_t t, uint64_t seed)
{
    uint64_t s = seed;
    int64_t shape[DAISY_MAX_DIMS] = {0}, chunks[DAISY_MAX_DIMS] = {0},
            voxel[DAISY_MAX_DIMS] = {0}, offset[DAISY_MAX_DIMS] = {0};
    for (int d = 0; d < dims; d++) {
        shape[d] = rnd_range(&s, 1, dims > 3 ? 7 : 17);
        chunks[d] = rnd_range(&s, 1, 6);
        voxel[d] = rnd_range(&s, 1, 4);
        offset[d] = rnd_range(&s, -20, 20);
    }
    char name[64];
    snprintf(name, sizeof name, "rw_%c_%d_%s_%llu", order, dims, c->name,
             (unsigned long long)seed);
    daisy_array_t *a = make_array_in(order, name, t, c, dims, shape, chunks, voxel, offset, 3);
    model_t m = model_new(a);
    unsigned char *buf = malloc(box_bytes(dims, shape, m.item) + 1);
    daisy_error_t err;
    for (int round = 0; round < 25; round++) {
        int64_t b[DAISY_MAX_DIMS], n[DAISY_MAX_DIMS];
        for (int d = 0; d < dims; d++) {
            b[d] = rnd_range(&s, 0, shape[d] - 1);
            n[d] = rnd_range(&s, 1, shape[d] - b[d]);
        }
        fill_random(buf, box_bytes(dims, n, m.item), rnd(&s));
        daisy_roi_t roi = world_roi(a, b, n);
        cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
        model_box(&m, b, n, buf, true);
        //  A random read, then (every few rounds) the whole array.
        for (int d = 0; d < dims; d++) {
            b[d] = rnd_range(&s, 0, shape[d] - 1);
            n[d] = rnd_range(&s, 1, shape[d] - b[d]);
        }
        check_box(a, &m, b, n);
        if (round % 5 == 4)
            check_all(a, &m);
    }
    check_all(a, &m);
    daisy_array_destroy(&a);
    free(buf);
    free(m.data);
}

Test(array, partial_writes_and_reads_across_chunk_borders)
{
    for (int dims = 1; dims <= DAISY_MAX_DIMS; dims++)
        for (int c = 0; c < NCOMPS; c++)
            random_writes('C', dims, &comps[c],
                          dims % 2 ? DAISY_DTYPE_UINT16 : DAISY_DTYPE_FLOAT32,
                          (uint64_t)(dims * 100 + c + 1));
}

//  Fortran order (v2 "order": "F") -----------------------------------------

Test(array, order_f_partial_writes_and_reads_across_chunk_borders)
{
    for (int dims = 1; dims <= DAISY_MAX_DIMS; dims++)
        for (int c = 0; c < NCOMPS; c += 3)
            random_writes('F', dims, &comps[c],
                          dims % 2 ? DAISY_DTYPE_INT32 : DAISY_DTYPE_FLOAT64,
                          (uint64_t)(dims * 100 + c + 7));
}

//  Writes `bytes` over chunk `key` of array `a`.
static void
clobber_chunk(daisy_array_t *a, const char *key, const void *bytes, size_t len)
{
    char file[256];
    snprintf(file, sizeof file, "%s/%s", daisy_array_path(a), key);
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f);
    if (len)
        fwrite(bytes, 1, len, f);
    fclose(f);
}

//  Chunk `key` of array `a` as its file holds it (uncompressed), into buf.
static void
read_chunk_file(const daisy_array_t *a, const char *key, void *buf, size_t len)
{
    char file[256];
    snprintf(file, sizeof file, "%s/%s", daisy_array_path(a), key);
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f, "no chunk file %s", file);
    cr_assert_eq(fread(buf, 1, len, f), len, "%s is short", file);
    cr_assert_eq(fgetc(f), EOF, "%s is longer than %zu bytes", file, len);
    fclose(f);
}

//  What Python zarr 2.13 stores for order='F' (tests/integration/
//  zarr_interop.py checks the same against it): each chunk, its padding
//  included, with the first axis fastest.
Test(array, order_f_chunks_are_stored_first_axis_fastest)
{
    int64_t shape[2] = {5, 7}, chunks[2] = {2, 3};
    daisy_array_t *a = make_array_in('F', "f2.zarr", DAISY_DTYPE_INT16, &comps[0], 2, shape,
                                     chunks, NULL, NULL, -1);
    int16_t all[35];
    for (int i = 0; i < 35; i++)
        all[i] = (int16_t)i;
    daisy_roi_t whole = daisy_array_roi(a);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &whole, all, &err), 0, "%s", err.msg);
    int16_t got[6];
    read_chunk_file(a, "0.0", got, sizeof got);
    int16_t want00[6] = {0, 7, 1, 8, 2, 9};
    cr_assert_arr_eq(got, want00, sizeof got);
    read_chunk_file(a, "1.1", got, sizeof got);
    int16_t want11[6] = {17, 24, 18, 25, 19, 26};
    cr_assert_arr_eq(got, want11, sizeof got);
    read_chunk_file(a, "2.2", got, sizeof got);
    int16_t want22[6] = {34, -1, -1, -1, -1, -1};      //  the edge chunk's padding: fill
    cr_assert_arr_eq(got, want22, sizeof got);
    cr_assert(strstr(read_text(path_of("f2.zarr/.zarray")), "\"order\": \"F\""), "%s",
              read_text(path_of("f2.zarr/.zarray")));
    daisy_array_destroy(&a);
    //  Reopened: C order in the caller's buffer, whole and across chunks.
    a = daisy_array_open(path_of("f2.zarr"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    int16_t back[35];
    cr_assert_eq(daisy_array_read(a, &whole, back, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(back, all, sizeof all);
    int64_t o[2] = {1, 2}, sz[2] = {3, 4};
    daisy_roi_t part = daisy_roi_make(2, o, sz);
    int16_t p[12], wantp[12] = {9, 10, 11, 12, 16, 17, 18, 19, 23, 24, 25, 26};
    cr_assert_eq(daisy_array_read(a, &part, p, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(p, wantp, sizeof p);
    daisy_array_destroy(&a);
}

//  A chunk written by another program in F order (here by hand: 3D, big
//  endian, uncompressed) reads as the transpose of its bytes; written
//  back, the file holds the same bytes.
Test(array, order_f_chunk_written_elsewhere_is_transposed)
{
    const char *p = zarray_at("f3.zarr", "{\"chunks\": [2, 3, 4], \"compressor\": null, "
                              "\"dtype\": \">u2\", \"fill_value\": 0, \"filters\": null, "
                              "\"order\": \"F\", \"shape\": [2, 3, 4], \"zarr_format\": 2}");
    //  Element (i, j, k) holds 100 i + 10 j + k and is stored at
    //  i + 2 j + 6 k, big endian.
    unsigned char raw[48];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) {
                int v = 100 * i + 10 * j + k, at = i + 2 * j + 6 * k;
                raw[2 * at] = (unsigned char)(v >> 8);
                raw[2 * at + 1] = (unsigned char)v;
            }
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    clobber_chunk(a, "0.0.0", raw, sizeof raw);
    uint16_t got[24];
    daisy_roi_t whole = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &whole, got, &err), 0, "%s", err.msg);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(got[i], 100 * (i / 12) + 10 * (i / 4 % 3) + i % 4, "element %d: %u", i,
                     got[i]);
    cr_assert_eq(daisy_array_write(a, &whole, got, &err), 0, "%s", err.msg);
    cr_assert_eq(got[23], 123, "the caller's buffer is not touched");
    unsigned char back[48];
    read_chunk_file(a, "0.0.0", back, sizeof back);
    cr_assert_arr_eq(back, raw, sizeof raw);
    daisy_array_destroy(&a);
}

Test(array, partial_write_into_one_chunk_keeps_the_rest)
{
    int64_t shape[2] = {4, 4}, chunks[2] = {4, 4};
    daisy_array_t *a = make_array("p.zarr", DAISY_DTYPE_UINT8, &comps[3], 2, shape, chunks,
                                  NULL, NULL, 0);
    unsigned char all[16];
    for (int i = 0; i < 16; i++)
        all[i] = (unsigned char)(i + 1);
    daisy_roi_t whole = daisy_array_roi(a);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &whole, all, &err), 0, "%s", err.msg);
    int64_t o[2] = {1, 1}, s[2] = {2, 2};
    daisy_roi_t mid = daisy_roi_make(2, o, s);
    unsigned char four[4] = {100, 101, 102, 103};
    cr_assert_eq(daisy_array_write(a, &mid, four, &err), 0, "%s", err.msg);
    unsigned char got[16];
    cr_assert_eq(daisy_array_read(a, &whole, got, &err), 0, "%s", err.msg);
    unsigned char want[16] = {1, 2, 3, 4, 5, 100, 101, 8, 9, 102, 103, 12, 13, 14, 15, 16};
    cr_assert_arr_eq(got, want, 16);
    daisy_array_destroy(&a);
}

//  Fill values ------------------------------------------------------------

Test(array, missing_chunks_read_as_fill_value)
{
    struct {
        daisy_dtype_t t;
        double fill;
    } cases[] = {
        {DAISY_DTYPE_UINT8, 0},         {DAISY_DTYPE_UINT8, 255},
        {DAISY_DTYPE_UINT16, 0x1234},   {DAISY_DTYPE_INT32, -2},
        {DAISY_DTYPE_INT64, -123456789012345.0}, {DAISY_DTYPE_UINT64, 9007199254740992.0},
        {DAISY_DTYPE_FLOAT32, NAN},     {DAISY_DTYPE_FLOAT64, NAN},
        {DAISY_DTYPE_FLOAT64, 1.5},     {DAISY_DTYPE_FLOAT32, -INFINITY},
        {DAISY_DTYPE_INT8, -128},       {DAISY_DTYPE_INT16, 32767},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int c = 0; c < NCOMPS; c += 3) {
            int64_t shape[2] = {10, 9}, chunks[2] = {4, 4};
            char name[64];
            snprintf(name, sizeof name, "fill_%zu_%d", i, c);
            daisy_array_t *a = make_array(name, cases[i].t, &comps[c], 2, shape, chunks,
                                          NULL, NULL, cases[i].fill);
            model_t m = model_new(a);
            //  Fresh: everything is fill.
            size_t item = m.item;
            unsigned char *got = malloc(90 * item);
            daisy_roi_t whole = daisy_array_roi(a);
            daisy_error_t err;
            cr_assert_eq(daisy_array_read(a, &whole, got, &err), 0, "%s", err.msg);
            for (int k = 0; k < 90; k++) {
                double v;
                switch (cases[i].t) {
                case DAISY_DTYPE_FLOAT32: {
                    float f;
                    memcpy(&f, got + k * item, 4);
                    v = f;
                    break;
                }
                case DAISY_DTYPE_FLOAT64:
                    memcpy(&v, got + k * item, 8);
                    break;
                case DAISY_DTYPE_UINT8: v = got[k]; break;
                case DAISY_DTYPE_UINT16: { uint16_t x; memcpy(&x, got + k * item, 2); v = x; break; }
                case DAISY_DTYPE_INT8: { int8_t x; memcpy(&x, got + k * item, 1); v = x; break; }
                case DAISY_DTYPE_INT16: { int16_t x; memcpy(&x, got + k * item, 2); v = x; break; }
                case DAISY_DTYPE_INT32: { int32_t x; memcpy(&x, got + k * item, 4); v = x; break; }
                case DAISY_DTYPE_INT64: { int64_t x; memcpy(&x, got + k * item, 8); v = (double)x; break; }
                case DAISY_DTYPE_UINT64: { uint64_t x; memcpy(&x, got + k * item, 8); v = (double)x; break; }
                default: v = 0; break;
                }
                if (isnan(cases[i].fill))
                    cr_assert(isnan(v), "case %zu element %d is %g, not NaN", i, k, v);
                else
                    cr_assert_eq(v, cases[i].fill, "case %zu element %d is %g, not %g", i, k, v,
                                 cases[i].fill);
            }
            //  One chunk written (the middle one): the others still read
            //  as fill, and no other chunk file appears.
            int64_t b[2] = {4, 4}, n[2] = {4, 4};
            unsigned char *buf = malloc(16 * item);
            fill_random(buf, 16 * item, i);
            daisy_roi_t roi = world_roi(a, b, n);
            cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
            model_box(&m, b, n, buf, true);
            check_all(a, &m);
            char chunk[256];
            snprintf(chunk, sizeof chunk, "%s/1.1", daisy_array_path(a));
            cr_assert(file_exists(chunk));
            cr_assert_eq(count_files(daisy_array_path(a), "."), 2 + 2 + 1,
                         ".zarray, .zattrs, '.', '..' and one chunk");
            daisy_array_destroy(&a);
            free(buf);
            free(got);
            free(m.data);
        }
    }
}

Test(array, fill_values_in_zarray_as_python_writes_them)
{
    int64_t shape[1] = {3}, chunks[1] = {2};
    struct {
        daisy_dtype_t t;
        double fill;
        const char *text;
    } cases[] = {
        {DAISY_DTYPE_FLOAT64, NAN, "\"fill_value\": \"NaN\""},
        {DAISY_DTYPE_FLOAT32, INFINITY, "\"fill_value\": \"Infinity\""},
        {DAISY_DTYPE_FLOAT64, -INFINITY, "\"fill_value\": \"-Infinity\""},
        {DAISY_DTYPE_FLOAT64, 0, "\"fill_value\": 0.0"},
        {DAISY_DTYPE_FLOAT64, 0.1, "\"fill_value\": 0.1"},
        {DAISY_DTYPE_FLOAT32, 0.1, "\"fill_value\": 0.10000000149011612"},
        {DAISY_DTYPE_INT16, -5, "\"fill_value\": -5"},
        {DAISY_DTYPE_UINT8, 0, "\"dtype\": \"|u1\""},
        {DAISY_DTYPE_INT8, 0, "\"dtype\": \"|i1\""},
        {DAISY_DTYPE_UINT64, 0, "\"dtype\": \"<u8\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "fv%zu", i);
        daisy_array_t *a = make_array(name, cases[i].t, &comps[0], 1, shape, chunks, NULL, NULL,
                                      cases[i].fill);
        char file[256];
        snprintf(file, sizeof file, "%s/.zarray", daisy_array_path(a));
        const char *text = read_text(file);
        cr_assert(strstr(text, cases[i].text), "case %zu: no '%s' in %s", i, cases[i].text, text);
        daisy_array_destroy(&a);
    }
}

Test(array, uint64_fill_above_int64_is_exact)
{
    const char *p = path_of("big_fill");
    mkdir(p, 0777);
    char file[256];
    snprintf(file, sizeof file, "%s/.zarray", p);
    write_text(file, "{\"chunks\": [2], \"compressor\": null, \"dtype\": \"<u8\", "
                     "\"fill_value\": 18446744073709551615, \"filters\": null, "
                     "\"order\": \"C\", \"shape\": [3], \"zarr_format\": 2}");
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    uint64_t item = 0, got[3];
    daisy_array_fill_item(a, &item);
    cr_assert_eq(item, UINT64_MAX);
    daisy_roi_t roi = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(got[i], UINT64_MAX);
    daisy_array_destroy(&a);
}

//  World units ------------------------------------------------------------

Test(array, world_units_with_voxel_sizes_and_negative_offsets)
{
    //  Voxel size (4, 7), offset (-12, -7): the array covers
    //  [-12:20, -7:49] in world units.
    int64_t shape[2] = {8, 8}, chunks[2] = {3, 3}, voxel[2] = {4, 7}, offset[2] = {-12, -7};
    daisy_array_t *a = make_array("w.zarr", DAISY_DTYPE_INT32, &comps[1], 2, shape, chunks,
                                  voxel, offset, -1);
    daisy_roi_t aroi = daisy_array_roi(a);
    int64_t ro[2] = {-12, -7}, rs[2] = {32, 56};
    daisy_roi_t want = daisy_roi_make(2, ro, rs);
    cr_assert(daisy_roi_equal(&aroi, &want));
    int32_t all[64];
    for (int i = 0; i < 64; i++)
        all[i] = i;
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &aroi, all, &err), 0, "%s", err.msg);
    //  World [-8:0, 0:14] is voxels [1:3, 1:3].
    int64_t o[2] = {-8, 0}, s[2] = {8, 14};
    daisy_roi_t roi = daisy_roi_make(2, o, s);
    int32_t got[4];
    cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
    int32_t expect[4] = {9, 10, 17, 18};
    cr_assert_arr_eq(got, expect, sizeof expect);
    cr_assert_eq(daisy_array_buffer_size(a, &roi), 16);
    //  Writing in world units, read back through another handle.
    int32_t four[4] = {-5, -6, -7, -8};
    cr_assert_eq(daisy_array_write(a, &roi, four, &err), 0, "%s", err.msg);
    daisy_array_t *b = daisy_array_open(daisy_array_path(a), false, &err);
    cr_assert_not_null(b, "%s", err.msg);
    cr_assert_eq(daisy_array_read(b, &roi, got, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(got, four, sizeof four);
    //  .zattrs holds funlib's keys.
    char file[256];
    snprintf(file, sizeof file, "%s/.zattrs", daisy_array_path(a));
    json_t *attrs = json_load_file(file, 0, NULL);
    cr_assert_not_null(attrs);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(attrs, "resolution"), 1)), 7);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(attrs, "offset"), 0)), -12);
    json_decref(attrs);
    daisy_array_destroy(&a);
    daisy_array_destroy(&b);
}

Test(array, zattrs_voxel_size_key_and_channel_dimensions)
{
    const char *p = path_of("chan");
    mkdir(p, 0777);
    char file[256];
    snprintf(file, sizeof file, "%s/.zarray", p);
    write_text(file, "{\"chunks\": [1, 4, 4], \"compressor\": null, \"dtype\": \"|u1\", "
                     "\"fill_value\": 0, \"filters\": null, \"order\": \"C\", "
                     "\"shape\": [2, 8, 8], \"zarr_format\": 2}");
    snprintf(file, sizeof file, "%s/.zattrs", p);
    write_text(file, "{\"voxel_size\": [5.0, 2], \"offset\": [10, -4], \"axis_names\": [\"c^\", \"y\", \"x\"]}");
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    int64_t vs[3] = {1, 5, 2}, off[3] = {0, 10, -4};
    cr_assert(daisy_coord_equal(daisy_array_voxel_size(a), daisy_coord_make(3, vs)));
    cr_assert(daisy_coord_equal(daisy_array_offset(a), daisy_coord_make(3, off)));
    daisy_array_destroy(&a);
}

Test(array, empty_roi_reads_and_writes_nothing)
{
    int64_t shape[2] = {4, 4}, chunks[2] = {2, 2};
    daisy_array_t *a = make_array("e", DAISY_DTYPE_UINT8, &comps[0], 2, shape, chunks, NULL,
                                  NULL, 0);
    int64_t o[2] = {1, 1}, s[2] = {0, 2};
    daisy_roi_t roi = daisy_roi_make(2, o, s);
    daisy_error_t err;
    cr_assert_eq(daisy_array_read(a, &roi, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_write(a, &roi, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(count_files(daisy_array_path(a), "."), 4);
    daisy_array_destroy(&a);
}

//  An empty ROI is inside the array when it lies within its bounds, at
//  its end too; one that reaches past them is still refused.
Test(array, empty_roi_at_the_array_end_reads_nothing_past_it_is_refused)
{
    int64_t shape[2] = {4, 4}, chunks[2] = {2, 2};
    daisy_array_t *a = make_array("end", DAISY_DTYPE_UINT8, &comps[0], 2, shape, chunks, NULL,
                                  NULL, 0);
    daisy_error_t err;
    int64_t o[2] = {4, 0}, sz[2] = {0, 4};
    daisy_roi_t roi = daisy_roi_make(2, o, sz);
    cr_assert_eq(daisy_array_read(a, &roi, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_write(a, &roi, NULL, &err), 0, "%s", err.msg);
    int64_t o2[2] = {5, 0};
    roi = daisy_roi_make(2, o2, sz);
    cr_assert_eq(daisy_array_read(a, &roi, NULL, &err), -1);
    cr_assert(strstr(err.msg, "ROI [empty ROI] at (5, 0), shape (0, 4) is outside the "
                              "array's ROI [0:4, 0:4] (4, 4)"), "%s", err.msg);
    int64_t o3[2] = {0, 1};
    roi = daisy_roi_make(2, o3, sz);
    cr_assert_eq(daisy_array_write(a, &roi, NULL, &err), -1);
    cr_assert(strstr(err.msg, "is outside the array's ROI"), "%s", err.msg);
    cr_assert_eq(count_files(daisy_array_path(a), "."), 4);
    daisy_array_destroy(&a);
}

//  Arrays with a 0 in their shape, as Python zarr makes them
//  (zarr.open(..., shape=(0, 5))): they open, their (empty) ROI reads and
//  writes nothing, and any ROI with voxels is outside them.
Test(array, arrays_with_a_0_in_their_shape)
{
    const char *p = zarray_at("py0.zarr", "{\"chunks\": [2, 3], \"compressor\": {\"blocksize\": "
                              "0, \"clevel\": 5, \"cname\": \"lz4\", \"id\": \"blosc\", "
                              "\"shuffle\": 1}, \"dtype\": \"|u1\", \"fill_value\": 0, "
                              "\"filters\": null, \"order\": \"C\", \"shape\": [0, 5], "
                              "\"zarr_format\": 2}");
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    int64_t want[2] = {0, 5};
    cr_assert(daisy_coord_equal(daisy_array_shape(a), daisy_coord_make(2, want)));
    daisy_roi_t roi = daisy_array_roi(a);
    cr_assert(daisy_roi_empty(&roi));
    cr_assert_eq(daisy_array_buffer_size(a, &roi), 0);
    unsigned char buf[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(buf[0], 9, "nothing read");
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(count_files(p, "."), 3, "nothing written");    //  ., .., .zarray
    int64_t o[2] = {0, 0}, sz[2] = {1, 1};
    roi = daisy_roi_make(2, o, sz);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    char msg[512];
    snprintf(msg, sizeof msg, "array '%s': ROI [0:1, 0:1] (1, 1) is outside the array's ROI "
             "[empty ROI] at (0, 0), shape (0, 5)", p);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), -1);
    cr_assert_str_eq(err.msg, msg);
    daisy_array_destroy(&a);
    //  Made here, with a voxel size and an offset, the 0 in the middle.
    int64_t shape[3] = {3, 0, 4}, chunks[3] = {2, 2, 2}, voxel[3] = {2, 3, 1},
            offset[3] = {-4, 6, 0};
    a = make_array("c0.zarr", DAISY_DTYPE_FLOAT32, &comps[3], 3, shape, chunks, voxel, offset,
                   NAN);
    roi = daisy_array_roi(a);
    cr_assert_eq(daisy_roi_offset(&roi).v[1], 6);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
    int64_t o2[3] = {-4, 6, 0}, s2[3] = {2, 3, 1};
    roi = daisy_roi_make(3, o2, s2);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "ROI [-4:-2, 6:9, 0:1] (2, 3, 1) is outside the array's ROI "
                              "[empty ROI] at (-4, 6, 0), shape (6, 0, 4)"), "%s", err.msg);
    daisy_array_destroy(&a);
}

//  Errors -----------------------------------------------------------------

static daisy_array_t *
small_array(const char *name, const comp_t *c)
{
    int64_t shape[2] = {8, 8}, chunks[2] = {4, 4}, voxel[2] = {2, 2}, offset[2] = {0, 0};
    return make_array(name, DAISY_DTYPE_UINT16, c, 2, shape, chunks, voxel, offset, 0);
}

Test(array, roi_outside_the_array_names_array_and_rois)
{
    daisy_array_t *a = small_array("out.zarr", &comps[0]);
    int64_t o[2] = {0, 10}, s[2] = {10, 10};
    daisy_roi_t roi = daisy_roi_make(2, o, s);
    uint16_t buf[100];
    daisy_error_t err;
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    char want[512];
    snprintf(want, sizeof want, "array '%s': ROI [0:10, 10:20] (10, 10) is outside the "
             "array's ROI [0:16, 0:16] (16, 16)", daisy_array_path(a));
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), -1);
    cr_assert_str_eq(err.msg, want);
    //  Negative side, too.
    int64_t o2[2] = {-2, 0}, s2[2] = {2, 2};
    roi = daisy_roi_make(2, o2, s2);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "is outside the array's ROI"), "%s", err.msg);
    daisy_array_destroy(&a);
}

Test(array, roi_not_a_multiple_of_the_voxel_size)
{
    daisy_array_t *a = small_array("vs.zarr", &comps[0]);
    uint16_t buf[64];
    daisy_error_t err;
    int64_t o[2] = {1, 0}, s[2] = {2, 2};
    daisy_roi_t roi = daisy_roi_make(2, o, s);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, daisy_array_path(a)), "%s", err.msg);
    cr_assert(strstr(err.msg, "ROI [1:3, 0:2] (2, 2) is not a multiple of the voxel size (2, 2)"),
              "%s", err.msg);
    int64_t o2[2] = {0, 0}, s2[2] = {2, 3};
    roi = daisy_roi_make(2, o2, s2);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "is not a multiple of the voxel size"), "%s", err.msg);
    //  Dimensions must agree.
    int64_t o3[3] = {0, 0, 0}, s3[3] = {2, 2, 2};
    roi = daisy_roi_make(3, o3, s3);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "has 3 dimensions, the array has 2"), "%s", err.msg);
    daisy_array_destroy(&a);
}

//  A ROI of more bytes than any buffer (metadata of 2^62 x 2^62 x 4
//  voxels, as a hostile .zarray can claim) is refused: its byte count
//  wrapped around, and a read wrote past the caller's buffer.
Test(array, a_roi_larger_than_any_buffer_is_refused)
{
    const char *p = path_of("huge.zarr");
    cr_assert_eq(mkdir(p, 0777), 0);
    char file[256];
    snprintf(file, sizeof file, "%s/.zarray", p);
    write_text(file, "{\"chunks\": [2, 2, 2], \"compressor\": null, \"fill_value\": 0, "
               "\"shape\": [4611686018427387904, 4611686018427387904, 4], "
               "\"zarr_format\": 2, \"dtype\": \"|u1\", \"order\": \"C\", "
               "\"filters\": null}");
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    daisy_roi_t roi = daisy_array_roi(a);
    cr_assert_eq(daisy_array_buffer_size(a, &roi), 0, "no buffer holds it");
    uint8_t buf[64] = {0};
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, p) && strstr(err.msg, "more bytes than a buffer can"),
              "%s", err.msg);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "more bytes than a buffer can"), "%s", err.msg);
    //  A block of it is read as usual.
    int64_t o[3] = {0, 0, 0}, sh[3] = {4, 4, 4};
    roi = daisy_roi_make(3, o, sh);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
    daisy_array_destroy(&a);
}

Test(array, write_to_read_only_handle_fails)
{
    daisy_array_t *a = small_array("ro.zarr", &comps[0]);
    daisy_error_t err;
    daisy_array_t *r = daisy_array_open(daisy_array_path(a), false, &err);
    cr_assert_not_null(r, "%s", err.msg);
    uint16_t buf[64] = {0};
    daisy_roi_t roi = daisy_array_roi(r);
    cr_assert_eq(daisy_array_write(r, &roi, buf, &err), -1);
    cr_assert(strstr(err.msg, "read-only"), "%s", err.msg);
    daisy_array_destroy(&r);
    daisy_array_destroy(&a);
}

static void
expect_open_error(const char *name, const char *zarray, const char *zattrs, const char *part)
{
    const char *p = path_of(name);
    cr_assert_eq(mkdir(p, 0777), 0);
    char file[256];
    if (zarray) {
        snprintf(file, sizeof file, "%s/.zarray", p);
        write_text(file, zarray);
    }
    if (zattrs) {
        snprintf(file, sizeof file, "%s/.zattrs", p);
        write_text(file, zattrs);
    }
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, false, &err);
    cr_assert_null(a, "%s opened", name);
    cr_assert(strstr(err.msg, p), "no path in: %s", err.msg);
    cr_assert(strstr(err.msg, part), "no '%s' in: %s", part, err.msg);
}

#define ZA(fields)                                                                  \
    "{\"chunks\": [2, 2], \"compressor\": null, \"fill_value\": 0, \"shape\": [4, 4], " \
    "\"zarr_format\": 2, " fields "}"

Test(array, corrupt_or_unsupported_metadata)
{
    expect_open_error("missing", NULL, NULL, "no .zarray");
    expect_open_error("notjson", "{\"chunks\": [2, 2], ", NULL, ".zarray is not valid JSON");
    expect_open_error("notobj", "[1, 2]", NULL, "not a JSON object");
    expect_open_error("order", ZA("\"dtype\": \"<u2\", \"order\": \"A\", \"filters\": null"), NULL,
                      ".zarray: order 'A' is neither \"C\" nor \"F\"");
    expect_open_error("order2", ZA("\"dtype\": \"<u2\", \"order\": 1, \"filters\": null"), NULL,
                      ".zarray: order (not a string) is neither");
    expect_open_error("filters",
                      ZA("\"dtype\": \"<u2\", \"order\": \"C\", \"filters\": [{\"id\": \"delta\", \"dtype\": \"<u2\"}]"),
                      NULL, "filters [{");
    expect_open_error("f2", ZA("\"dtype\": \"<f2\", \"order\": \"C\", \"filters\": null"), NULL,
                      "dtype '<f2' is not supported");
    expect_open_error("b1", ZA("\"dtype\": \"|b1\", \"order\": \"C\", \"filters\": null"), NULL,
                      "dtype '|b1' is not supported");
    expect_open_error("c8", ZA("\"dtype\": \"<c8\", \"order\": \"C\", \"filters\": null"), NULL,
                      "dtype '<c8' is not supported");
    expect_open_error("str", ZA("\"dtype\": \"<U4\", \"order\": \"C\", \"filters\": null"), NULL,
                      "dtype '<U4' is not supported");
    expect_open_error("v3", "{\"chunks\": [2], \"compressor\": null, \"fill_value\": 0, "
                      "\"shape\": [4], \"zarr_format\": 3, \"dtype\": \"<u2\"}", NULL,
                      "zarr_format 3 is not supported");
    expect_open_error("lz4", "{\"chunks\": [2], \"compressor\": {\"id\": \"lz4\"}, "
                      "\"fill_value\": 0, \"shape\": [4], \"zarr_format\": 2, \"dtype\": \"<u2\"}",
                      NULL, "compressor 'lz4' is not supported");
    expect_open_error("snappy?", "{\"chunks\": [2], \"compressor\": {\"id\": \"blosc\", "
                      "\"cname\": \"nope\", \"clevel\": 5, \"shuffle\": 1}, \"fill_value\": 0, "
                      "\"shape\": [4], \"zarr_format\": 2, \"dtype\": \"<u2\"}",
                      NULL, "blosc compressor 'nope' is not available");
    expect_open_error("chunks", "{\"chunks\": [2], \"compressor\": null, \"fill_value\": 0, "
                      "\"shape\": [4, 4], \"zarr_format\": 2, \"dtype\": \"<u2\"}", NULL,
                      "'chunks' is not a list of 2 integers");
    expect_open_error("fill", "{\"chunks\": [2], \"compressor\": null, \"fill_value\": 300, "
                      "\"shape\": [4], \"zarr_format\": 2, \"dtype\": \"|u1\"}", NULL,
                      "fill_value 300 does not fit uint8");
    expect_open_error("fillnan", "{\"chunks\": [2], \"compressor\": null, \"fill_value\": \"NaN\", "
                      "\"shape\": [4], \"zarr_format\": 2, \"dtype\": \"<i4\"}", NULL,
                      "for integer type int32");
    expect_open_error("sep", ZA("\"dtype\": \"<u2\", \"dimension_separator\": \"-\""), NULL,
                      "dimension_separator");
    expect_open_error("attrs", ZA("\"dtype\": \"<u2\""), "{\"resolution\": [1, 2, 3]}",
                      "'resolution' is not a list of at most 2");
    expect_open_error("attrs2", ZA("\"dtype\": \"<u2\""), "{\"resolution\": [1.5, 2]}",
                      "'resolution' is not a list");
    expect_open_error("attrs3", ZA("\"dtype\": \"<u2\""), "{\"resolution\": [0, 2]}",
                      "has an entry below 1");
    expect_open_error("attrs4", ZA("\"dtype\": \"<u2\""), "{\"offset\": ", ".zattrs is not valid JSON");
    //  Hostile sizes: a chunk a read would allocate whole, an extent past
    //  64 bits (every ROI computation overflowed).
    expect_open_error("hugechunk", "{\"chunks\": [8589934592], \"compressor\": null, "
                      "\"fill_value\": 0, \"shape\": [10], \"zarr_format\": 2, "
                      "\"dtype\": \"|u1\"}", NULL, "make chunks of more than 4294967296 bytes");
    expect_open_error("hugeextent", "{\"chunks\": [2], \"compressor\": null, \"fill_value\": 0, "
                      "\"shape\": [4611686018427387904], \"zarr_format\": 2, \"dtype\": \"|u1\"}",
                      "{\"resolution\": [4]}", "does not fit 64 bits");
    //  A directory with a zarr.json is read as Zarr v3 (test_zarr_v3.c).
    const char *p = path_of("v3dir");
    mkdir(p, 0777);
    char file[256];
    snprintf(file, sizeof file, "%s/zarr.json", p);
    write_text(file, "{}");
    daisy_error_t err;
    cr_assert_null(daisy_array_open(p, false, &err));
    cr_assert(strstr(err.msg, "zarr.json: 'zarr_format' is missing"), "%s", err.msg);
}

static void
truncate_chunk(daisy_array_t *a, const char *key)
{
    char file[256];
    snprintf(file, sizeof file, "%s/%s", daisy_array_path(a), key);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    cr_assert_eq(truncate(file, st.st_size / 2), 0);
}

//  A FIFO or a directory in a chunk's place, or in .zarray's: an error
//  naming it, never a reader waiting for a writer that does not come.
Test(array, a_chunk_or_metadata_that_is_not_a_file_is_refused, .timeout = 30)
{
    daisy_array_t *a = small_array("fifo.zarr", &comps[0]);
    daisy_roi_t whole = daisy_array_roi(a);
    uint16_t got[64];
    daisy_error_t err;
    cr_assert_eq(mkfifo(path_of("fifo.zarr/0.1"), 0600), 0);
    cr_assert_eq(mkdir(path_of("fifo.zarr/1.0"), 0700), 0);
    int64_t o[2] = {0, 8}, sh[2] = {8, 8};
    daisy_roi_t right = daisy_roi_make(2, o, sh);
    cr_assert_eq(daisy_array_read(a, &right, got, &err), -1);
    cr_assert(strstr(err.msg, "chunk '0.1'") && strstr(err.msg, "not a regular file"), "%s",
              err.msg);
    int64_t o2[2] = {8, 0};
    daisy_roi_t lower = daisy_roi_make(2, o2, sh);
    cr_assert_eq(daisy_array_read(a, &lower, got, &err), -1);
    cr_assert(strstr(err.msg, "chunk '1.0'") && strstr(err.msg, "not a regular file"), "%s",
              err.msg);
    (void)whole;
    daisy_array_destroy(&a);
    cr_assert_eq(rename(path_of("fifo.zarr/.zarray"), path_of("fifo.zarr/zarray.txt")), 0);
    cr_assert_eq(mkfifo(path_of("fifo.zarr/.zarray"), 0600), 0);
    cr_assert_null(daisy_array_open(path_of("fifo.zarr"), false, &err));
    cr_assert(strstr(err.msg, ".zarray") && strstr(err.msg, "not a regular file"), "%s",
              err.msg);
}

Test(array, corrupt_chunks_name_the_chunk_and_roi)
{
    for (int c = 0; c < NCOMPS; c++) {
        char name[64];
        snprintf(name, sizeof name, "corrupt_%s.zarr", comps[c].name);
        daisy_array_t *a = small_array(name, &comps[c]);
        uint16_t data[64];
        fill_random(data, sizeof data, 99);
        daisy_roi_t whole = daisy_array_roi(a);
        daisy_error_t err;
        cr_assert_eq(daisy_array_write(a, &whole, data, &err), 0, "%s", err.msg);
        //  Truncated chunk 0.1.
        truncate_chunk(a, "0.1");
        uint16_t got[64];
        cr_assert_eq(daisy_array_read(a, &whole, got, &err), -1, "%s: truncated chunk read",
                     comps[c].name);
        cr_assert(strstr(err.msg, daisy_array_path(a)), "%s", err.msg);
        cr_assert(strstr(err.msg, "ROI [0:16, 0:16] (16, 16)"), "%s", err.msg);
        cr_assert(strstr(err.msg, "chunk '0.1'"), "%s", err.msg);
        //  The same through a partial write (read-modify-write).
        int64_t o[2] = {0, 8}, s[2] = {2, 2};
        daisy_roi_t part = daisy_roi_make(2, o, s);
        cr_assert_eq(daisy_array_write(a, &part, data, &err), -1);
        cr_assert(strstr(err.msg, "chunk '0.1'"), "%s", err.msg);
        //  Garbage bytes in chunk 1.0.
        char garbage[40];
        memset(garbage, 0x5a, sizeof garbage);
        clobber_chunk(a, "1.0", garbage, sizeof garbage);
        int64_t o2[2] = {8, 0}, s2[2] = {8, 8};
        daisy_roi_t lower = daisy_roi_make(2, o2, s2);
        cr_assert_eq(daisy_array_read(a, &lower, got, &err), -1, "%s: garbage read",
                     comps[c].name);
        cr_assert(strstr(err.msg, "chunk '1.0'"), "%s", err.msg);
        if (comps[c].compressor != DAISY_COMPRESSOR_NONE)
            cr_assert(strstr(err.msg, comps[c].compressor == DAISY_COMPRESSOR_BLOSC ? "blosc"
                                                                                    : comps[c].name),
                      "%s", err.msg);
        //  An empty file.
        clobber_chunk(a, "1.1", NULL, 0);
        int64_t o3[2] = {8, 8}, s3[2] = {8, 8};
        daisy_roi_t corner = daisy_roi_make(2, o3, s3);
        cr_assert_eq(daisy_array_read(a, &corner, got, &err), -1);
        cr_assert(strstr(err.msg, "chunk '1.1'"), "%s", err.msg);
        daisy_array_destroy(&a);
    }
}

Test(array, chunk_that_decodes_to_the_wrong_size)
{
    //  A valid zstd frame of another array's chunk size.
    int64_t shape[1] = {8}, small[1] = {4}, big[1] = {8};
    daisy_array_t *a = make_array("a4", DAISY_DTYPE_UINT8, &comps[3], 1, shape, small, NULL,
                                  NULL, 0);
    daisy_array_t *b = make_array("b8", DAISY_DTYPE_UINT8, &comps[3], 1, shape, big, NULL,
                                  NULL, 0);
    unsigned char data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    daisy_roi_t roi = daisy_array_roi(b);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(b, &roi, data, &err), 0, "%s", err.msg);
    char from[256], to[256];
    snprintf(from, sizeof from, "%s/0", daisy_array_path(b));
    snprintf(to, sizeof to, "%s/0", daisy_array_path(a));
    cr_assert_eq(rename(from, to), 0);
    cr_assert_eq(daisy_array_read(a, &roi, data, &err), -1);
    cr_assert(strstr(err.msg, "chunk '0'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "zstd"), "%s", err.msg);
    daisy_array_destroy(&a);
    daisy_array_destroy(&b);
}

Test(array, create_refuses_to_clobber_and_overwrite_replaces)
{
    daisy_array_t *a = small_array("c.zarr", &comps[3]);
    uint16_t data[64];
    fill_random(data, sizeof data, 1);
    daisy_roi_t whole = daisy_array_roi(a);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &whole, data, &err), 0, "%s", err.msg);
    daisy_array_destroy(&a);
    daisy_array_spec_t spec;
    int64_t shape[1] = {5}, chunks[1] = {5};
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 1, shape, chunks);
    cr_assert_null(daisy_array_create(path_of("c.zarr"), &spec, &err));
    cr_assert(strstr(err.msg, "already exists"), "%s", err.msg);
    cr_assert(strstr(err.msg, path_of("c.zarr")), "%s", err.msg);
    spec.overwrite = true;
    a = daisy_array_create(path_of("c.zarr"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_eq(daisy_array_dims(a), 1);
    cr_assert(!file_exists(path_of("c.zarr/0.0")), "old chunks are gone");
    daisy_array_destroy(&a);
    //  A non-empty directory that is not an array is left alone, even
    //  with overwrite.
    mkdir(path_of("precious"), 0777);
    write_text(path_of("precious/thesis.tex"), "42");
    cr_assert_null(daisy_array_create(path_of("precious"), &spec, &err));
    cr_assert(strstr(err.msg, "left alone"), "%s", err.msg);
    cr_assert(file_exists(path_of("precious/thesis.tex")));
    //  A file in the way.
    write_text(path_of("afile"), "x");
    cr_assert_null(daisy_array_create(path_of("afile"), &spec, &err));
    cr_assert(strstr(err.msg, "not a directory"), "%s", err.msg);
}

//  A disk that fills up between .zarray and .zattrs (a private tmpfs of
//  one page, in a mount namespace of this test's own process): the create
//  fails naming .zattrs and the disk's complaint, and takes its .zarray
//  away again, so that once there is room a retry is not told the array
//  already exists (an array without its voxel size and offset would read
//  in the wrong world units).
Test(array, a_disk_full_after_zarray_leaves_no_half_made_array)
{
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount("tmpfs", dir, "tmpfs", 0, "size=4k") != 0)
        cr_skip_test("no private tmpfs here (needs root and mount namespaces): %s",
                     strerror(errno));
    daisy_array_spec_t spec;
    int64_t shape[2] = {8, 8}, chunks[2] = {4, 4}, voxel[2] = {4, 2};
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 2, shape, chunks);
    memcpy(spec.voxel_size, voxel, sizeof voxel);
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("f.zarr"), &spec, &err);
    bool made = a != NULL;
    daisy_array_destroy(&a);
    char first[sizeof err.msg];
    memcpy(first, err.msg, sizeof first);
    bool zarray_left = file_exists(path_of("f.zarr/.zarray"));
    int remounted = mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=64k");
    daisy_array_t *retry = daisy_array_create(path_of("f.zarr"), &spec, &err);
    bool retried = retry != NULL;
    daisy_roi_t roi = retried ? daisy_array_roi(retry) : (daisy_roi_t){0};
    daisy_array_destroy(&retry);
    umount2(dir, MNT_DETACH);
    cr_assert_not(made, "a one-page disk held .zarray and .zattrs");
    cr_assert(strstr(first, ".zattrs") && strstr(first, "No space left"), "%s", first);
    cr_assert_not(zarray_left, "the .zarray of the failed create was left");
    cr_assert_eq(remounted, 0, "%s", strerror(errno));
    cr_assert(retried, "the retry with room failed: %s", err.msg);
    cr_assert_eq(roi.shape[0], 32, "the retried array has its voxel size");
}

//  Processes creating the same new array at once: exactly one gets it in
//  each round (the others are told it exists), and the array is the
//  winner's (its dtype and its data). Before, two could both "create" it
//  and one's data went into the other's array.
Test(array, of_processes_creating_one_array_at_once_one_wins)
{
    enum { PROCS = 8, ROUNDS = 20 };
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        snprintf(name, sizeof name, "race%d.zarr", round);
        const char *path = path_of(name);
        pid_t pids[PROCS];
        for (int i = 0; i < PROCS; i++) {
            pids[i] = fork();
            cr_assert_geq(pids[i], 0);
            if (pids[i] == 0) {
                daisy_array_spec_t spec;
                int64_t shape[1] = {8}, chunks[1] = {8};
                daisy_array_spec_init(&spec, i % 2 ? DAISY_DTYPE_UINT64 : DAISY_DTYPE_UINT8, 1,
                                      shape, chunks);
                daisy_error_t err;
                daisy_array_t *a = daisy_array_create(path, &spec, &err);
                if (!a)
                    _exit(strstr(err.msg, "exists") ? 1 : 2);
                uint64_t data[8];
                for (int k = 0; k < 8; k++)
                    data[k] = (uint64_t)(i + 1);
                daisy_roi_t roi = daisy_array_roi(a);
                int rc = daisy_array_write(a, &roi, data, &err);
                daisy_array_destroy(&a);
                _exit(rc == 0 ? 10 + i : 3);
            }
        }
        int winner = -1, winners = 0;
        for (int i = 0; i < PROCS; i++) {
            int st;
            cr_assert_eq(waitpid(pids[i], &st, 0), pids[i]);
            cr_assert(WIFEXITED(st));
            int code = WEXITSTATUS(st);
            cr_assert(code == 1 || code >= 10, "round %d: process %d ended with %d", round, i,
                      code);
            if (code >= 10) {
                winner = code - 10;
                winners++;
            }
        }
        cr_assert_eq(winners, 1, "round %d: %d processes created the array", round, winners);
        daisy_error_t err;
        daisy_array_t *a = daisy_array_open(path, false, &err);
        cr_assert_not_null(a, "%s", err.msg);
        cr_assert_eq(daisy_array_dtype(a), winner % 2 ? DAISY_DTYPE_UINT64 : DAISY_DTYPE_UINT8);
        uint64_t got[8] = {0};
        daisy_roi_t roi = daisy_array_roi(a);
        cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
        cr_assert_eq(((unsigned char *)got)[0], (unsigned char)(winner + 1),
                     "round %d: the array holds another process's data", round);
        daisy_array_destroy(&a);
    }
}

Test(array, bad_specs)
{
    daisy_array_spec_t spec;
    int64_t shape[2] = {5, 5}, chunks[2] = {2, 2};
    daisy_error_t err;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 2, shape, chunks);
    spec.fill_value = 300;
    cr_assert_null(daisy_array_create(path_of("s1"), &spec, &err));
    cr_assert(strstr(err.msg, "fill value 300 does not fit uint8"), "%s", err.msg);
    spec.fill_value = 0;
    spec.dtype = DAISY_DTYPE_INT8;
    spec.fill_value = 1.5;
    cr_assert_null(daisy_array_create(path_of("s2"), &spec, &err));
    cr_assert(strstr(err.msg, "does not fit int8"), "%s", err.msg);
    spec.fill_value = 0;
    spec.chunks[1] = 0;
    cr_assert_null(daisy_array_create(path_of("s3"), &spec, &err));
    cr_assert(strstr(err.msg, "chunk shape below 1"), "%s", err.msg);
    spec.chunks[1] = 2;
    spec.voxel_size[0] = 0;
    cr_assert_null(daisy_array_create(path_of("s4"), &spec, &err));
    cr_assert(strstr(err.msg, "voxel size below 1"), "%s", err.msg);
    spec.voxel_size[0] = 1;
    spec.compressor = DAISY_COMPRESSOR_ZLIB;
    spec.level = 12;
    cr_assert_null(daisy_array_create(path_of("s5"), &spec, &err));
    cr_assert(strstr(err.msg, "zlib level 12 is outside 0..9"), "%s", err.msg);
    spec.compressor = DAISY_COMPRESSOR_BLOSC;
    spec.level = -1;
    spec.blosc_cname = "lzma";
    cr_assert_null(daisy_array_create(path_of("s6"), &spec, &err));
    cr_assert(strstr(err.msg, "blosc compressor 'lzma' is not available"), "%s", err.msg);
    spec.blosc_cname = "zstd";
    spec.order = 'X';
    cr_assert_null(daisy_array_create(path_of("s8"), &spec, &err));
    cr_assert(strstr(err.msg, "order 'X' is neither 'C' nor 'F'"), "%s", err.msg);
    spec.order = 'F';
    spec.zarr_format = 3;
    cr_assert_null(daisy_array_create(path_of("s9"), &spec, &err));
    cr_assert(strstr(err.msg, "order 'F' needs zarr_format 2"), "%s", err.msg);
    spec.zarr_format = 2;
    spec.dims = 7;
    cr_assert_null(daisy_array_create(path_of("s7"), &spec, &err));
    cr_assert(strstr(err.msg, "7 dimensions"), "%s", err.msg);
    cr_assert(!file_exists(path_of("s1")) && !file_exists(path_of("s7"))
              && !file_exists(path_of("s8")) && !file_exists(path_of("s9")),
              "failed creates leave nothing behind");
}

//  Byte order, nested keys, groups -------------------------------------------

Test(array, big_endian_arrays_are_read_and_written)
{
    const char *p = path_of("be");
    mkdir(p, 0777);
    char file[256];
    snprintf(file, sizeof file, "%s/.zarray", p);
    write_text(file, "{\"chunks\": [2], \"compressor\": null, \"dtype\": \">u2\", "
                     "\"fill_value\": 258, \"filters\": null, \"order\": \"C\", "
                     "\"shape\": [3], \"zarr_format\": 2}");
    unsigned char raw[4] = {0x12, 0x34, 0xab, 0xcd};
    snprintf(file, sizeof file, "%s/0", p);
    FILE *f = fopen(file, "wb");
    fwrite(raw, 1, 4, f);
    fclose(f);
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p, true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    uint16_t got[3];
    daisy_roi_t roi = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
    cr_assert_eq(got[0], 0x1234);
    cr_assert_eq(got[1], 0xabcd);
    cr_assert_eq(got[2], 258);
    uint16_t put[3] = {0x0102, 0x0304, 0x0506};
    cr_assert_eq(daisy_array_write(a, &roi, put, &err), 0, "%s", err.msg);
    cr_assert_eq(put[0], 0x0102, "the caller's buffer is not touched");
    snprintf(file, sizeof file, "%s/1", p);
    f = fopen(file, "rb");
    unsigned char back[4];
    cr_assert_eq(fread(back, 1, 4, f), 4);
    fclose(f);
    unsigned char want[4] = {0x05, 0x06, 0x01, 0x02};   //  padded with the fill 258
    cr_assert_arr_eq(back, want, 4);
    cr_assert_eq(daisy_array_read(a, &roi, got, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(got, put, sizeof put);
    daisy_array_destroy(&a);
}

Test(array, nested_chunk_keys)
{
    daisy_array_spec_t spec;
    int64_t shape[3] = {5, 4, 3}, chunks[3] = {2, 2, 2};
    daisy_array_spec_init(&spec, DAISY_DTYPE_INT16, 3, shape, chunks);
    spec.dimension_separator = '/';
    spec.compressor = DAISY_COMPRESSOR_GZIP;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("n.zarr"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    model_t m = model_new(a);
    fill_random(m.data, 60 * 2, 5);
    int64_t b[3] = {0, 1, 0}, n[3] = {5, 3, 3};
    daisy_roi_t roi = world_roi(a, b, n);
    unsigned char *buf = malloc(45 * 2);
    fill_random(buf, 45 * 2, 6);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
    memset(m.data, 0, 60 * 2);
    model_box(&m, b, n, buf, true);
    check_all(a, &m);
    cr_assert(file_exists(path_of("n.zarr/2/1/1")));
    cr_assert(!file_exists(path_of("n.zarr/2.1.1")));
    cr_assert(strstr(read_text(path_of("n.zarr/.zarray")), "\"dimension_separator\": \"/\""));
    daisy_array_destroy(&a);
    a = daisy_array_open(path_of("n.zarr"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    check_all(a, &m);
    daisy_array_destroy(&a);
    free(buf);
    free(m.data);
}

Test(array, parents_inside_a_zarr_container_become_groups)
{
    int64_t shape[1] = {4}, chunks[1] = {2};
    daisy_array_t *a = make_array("out.zarr/volumes/raw", DAISY_DTYPE_UINT8, &comps[0], 1,
                                  shape, chunks, NULL, NULL, 0);
    cr_assert(file_exists(path_of("out.zarr/.zgroup")));
    cr_assert(file_exists(path_of("out.zarr/volumes/.zgroup")));
    cr_assert(!file_exists(path_of("out.zarr/volumes/raw/.zgroup")));
    cr_assert_str_eq(read_text(path_of("out.zarr/.zgroup")), "{\n    \"zarr_format\": 2\n}");
    daisy_array_destroy(&a);
    //  Trailing slashes do not matter.
    daisy_error_t err;
    a = daisy_array_open(path_of("out.zarr/volumes/raw/"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_str_eq(daisy_array_path(a), path_of("out.zarr/volumes/raw"));
    daisy_array_destroy(&a);
}

Test(array, names_of_types_and_compressors)
{
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++) {
        daisy_dtype_t back;
        cr_assert_eq(daisy_dtype_parse(daisy_dtype_name((daisy_dtype_t)t), &back), 0);
        cr_assert_eq((int)back, t);
    }
    daisy_dtype_t d;
    cr_assert_eq(daisy_dtype_parse("|u1", &d), 0);
    cr_assert_eq(d, DAISY_DTYPE_UINT8);
    cr_assert_eq(daisy_dtype_parse("<i8", &d), 0);
    cr_assert_eq(d, DAISY_DTYPE_INT64);
    cr_assert_eq(daisy_dtype_parse("<f4", &d), 0);
    cr_assert_eq(d, DAISY_DTYPE_FLOAT32);
    cr_assert_eq(daisy_dtype_parse(">f4", &d), -1);
    cr_assert_eq(daisy_dtype_parse("<f2", &d), -1);
    cr_assert_eq(daisy_dtype_parse("bool", &d), -1);
    cr_assert_eq(daisy_dtype_size(DAISY_DTYPE_UINT64), 8);
    daisy_compressor_t c;
    cr_assert_eq(daisy_compressor_parse("zstd", &c), 0);
    cr_assert_eq(c, DAISY_COMPRESSOR_ZSTD);
    cr_assert_str_eq(daisy_compressor_name(DAISY_COMPRESSOR_NONE), "none");
    cr_assert_eq(daisy_compressor_parse("lzma", &c), -1);
}

//  Many processes ---------------------------------------------------------

//  Blocks of 2x1x2 chunks (the last ones cut at the array's end), dealt out
//  to `workers` processes round robin; each worker opens its own handle
//  (or uses the inherited one when `inherit`).
static void
write_blocks(const char *path, daisy_array_t *inherited, int worker, int workers,
             const unsigned char *data, const int64_t *shape, const int64_t *chunks)
{
    daisy_error_t err;
    daisy_array_t *a = inherited ? inherited : daisy_array_open(path, true, &err);
    if (!a)
        _exit(3);
    int64_t block[3] = {2 * chunks[0], chunks[1], 2 * chunks[2]};
    int64_t nb[3];
    for (int d = 0; d < 3; d++)
        nb[d] = (shape[d] + block[d] - 1) / block[d];
    size_t item = daisy_array_itemsize(a);
    unsigned char *buf = malloc((size_t)(block[0] * block[1] * block[2]) * item);
    int index = 0;
    for (int64_t i = 0; i < nb[0]; i++)
        for (int64_t j = 0; j < nb[1]; j++)
            for (int64_t k = 0; k < nb[2]; k++, index++) {
                if (index % workers != worker)
                    continue;
                int64_t b[3] = {i * block[0], j * block[1], k * block[2]}, n[3];
                for (int d = 0; d < 3; d++)
                    n[d] = b[d] + block[d] <= shape[d] ? block[d] : shape[d] - b[d];
                //  Gather the block from the whole volume.
                size_t at = 0;
                for (int64_t x = 0; x < n[0]; x++)
                    for (int64_t y = 0; y < n[1]; y++) {
                        size_t src = (size_t)(((b[0] + x) * shape[1] + b[1] + y) * shape[2] + b[2]);
                        memcpy(buf + at * item, data + src * item, (size_t)n[2] * item);
                        at += (size_t)n[2];
                    }
                daisy_coord_t vs = daisy_array_voxel_size(a), off = daisy_array_offset(a);
                int64_t wo[3], ws[3];
                for (int d = 0; d < 3; d++) {
                    wo[d] = off.v[d] + b[d] * vs.v[d];
                    ws[d] = n[d] * vs.v[d];
                }
                daisy_roi_t roi = daisy_roi_make(3, wo, ws);
                if (daisy_array_write(a, &roi, buf, &err) != 0)
                    _exit(4);
            }
    free(buf);
    if (!inherited)
        daisy_array_destroy(&a);
}

static void
parallel_equals_serial(const comp_t *c, bool inherit)
{
    int64_t shape[3] = {23, 19, 17}, chunks[3] = {4, 5, 3}, voxel[3] = {3, 1, 2},
            offset[3] = {-9, 4, -6};
    daisy_array_t *serial = make_array("serial.zarr", DAISY_DTYPE_UINT32, c, 3, shape, chunks,
                                       voxel, offset, 11);
    daisy_array_t *par = make_array("parallel.zarr", DAISY_DTYPE_UINT32, c, 3, shape, chunks,
                                    voxel, offset, 11);
    size_t bytes = (size_t)(shape[0] * shape[1] * shape[2]) * 4;
    unsigned char *data = malloc(bytes);
    fill_random(data, bytes, 77);
    write_blocks(NULL, serial, 0, 1, data, shape, chunks);
    enum { WORKERS = 8 };
    pid_t pids[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        pids[w] = fork();
        cr_assert_neq(pids[w], -1);
        if (pids[w] == 0) {
            write_blocks(daisy_array_path(par), inherit ? par : NULL, w, WORKERS, data, shape,
                         chunks);
            _exit(0);
        }
    }
    for (int w = 0; w < WORKERS; w++) {
        int status;
        cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d failed (%d)", w,
                  status);
    }
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    daisy_roi_t roi = daisy_array_roi(par);
    daisy_error_t err;
    cr_assert_eq(daisy_array_read(serial, &roi, a, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_read(par, &roi, b, &err), 0, "%s", err.msg);
    cr_assert(memcmp(a, data, bytes) == 0, "serial result differs from the data");
    cr_assert(memcmp(a, b, bytes) == 0, "parallel result differs from the serial one");
    //  Same chunk files, byte for byte, and no temporary files left over.
    int64_t nchunks = 1;
    for (int d = 0; d < 3; d++)
        nchunks *= (shape[d] + chunks[d] - 1) / chunks[d];
    cr_assert_eq(count_files(daisy_array_path(par), "partial"), 0);
    cr_assert_eq(count_files(daisy_array_path(par), "."), count_files(daisy_array_path(serial), "."));
    cr_assert_eq(count_files(daisy_array_path(par), "."), nchunks + 4);
    DIR *dp = opendir(daisy_array_path(serial));
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char f1[512], f2[512];
        snprintf(f1, sizeof f1, "%s/%s", daisy_array_path(serial), e->d_name);
        snprintf(f2, sizeof f2, "%s/%s", daisy_array_path(par), e->d_name);
        FILE *x = fopen(f1, "rb"), *y = fopen(f2, "rb");
        cr_assert(x && y, "chunk %s missing", e->d_name);
        int cx, cy;
        do {
            cx = fgetc(x);
            cy = fgetc(y);
        } while (cx == cy && cx != EOF);
        cr_assert_eq(cx, cy, "chunk %s differs", e->d_name);
        fclose(x);
        fclose(y);
    }
    closedir(dp);
    free(a);
    free(b);
    free(data);
    daisy_array_destroy(&serial);
    daisy_array_destroy(&par);
}

Test(array, many_processes_writing_aligned_rois_equal_serial)
{
    parallel_equals_serial(&comps[3], false);
}

Test(array, many_processes_inherited_handle_uncompressed)
{
    parallel_equals_serial(&comps[0], true);
}

Test(array, many_processes_blosc)
{
    parallel_equals_serial(&comps[4], false);
}

Test(array, a_reader_holding_an_old_chunk_keeps_its_bytes)
{
    //  A reader opens chunk 0 and is slow; meanwhile the chunk is
    //  overwritten twice, and other chunks after it. The reader must still
    //  read the complete old chunk: the writer may reuse a replaced file
    //  only when nobody has it open.
    int64_t shape[1] = {8}, chunks[1] = {4};
    daisy_array_t *a = make_array("slow.zarr", DAISY_DTYPE_UINT8, &comps[0], 1, shape, chunks,
                                  NULL, NULL, 0);
    unsigned char v[8];
    memset(v, 1, sizeof v);
    daisy_roi_t whole = daisy_array_roi(a);
    daisy_error_t err;
    cr_assert_eq(daisy_array_write(a, &whole, v, &err), 0, "%s", err.msg);
    char file[256];
    snprintf(file, sizeof file, "%s/0", daisy_array_path(a));
    int fd = open(file, O_RDONLY);
    cr_assert_geq(fd, 0);
    for (int round = 2; round < 6; round++) {
        memset(v, round, sizeof v);
        cr_assert_eq(daisy_array_write(a, &whole, v, &err), 0, "%s", err.msg);
    }
    unsigned char old[8];
    cr_assert_eq(read(fd, old, sizeof old), 4);
    close(fd);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(old[i], 1, "byte %d of the old chunk is %d", i, old[i]);
    unsigned char now[8];
    cr_assert_eq(daisy_array_read(a, &whole, now, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(now, v, 8);
    daisy_array_destroy(&a);
    cr_assert_eq(count_files(path_of("slow.zarr"), "partial"), 0, "the spare is gone");
}

Test(array, readers_never_see_half_written_chunks)
{
    //  Writers rewrite every chunk with a uniform value, again and again;
    //  readers must only ever see uniform chunks.
    int64_t shape[2] = {64, 64}, chunks[2] = {32, 32};
    daisy_array_t *a = make_array("torn.zarr", DAISY_DTYPE_UINT32, &comps[3], 2, shape, chunks,
                                  NULL, NULL, 0);
    enum { WRITERS = 3, READERS = 3, ROUNDS = 150 };
    pid_t pids[WRITERS + READERS];
    for (int p = 0; p < WRITERS + READERS; p++) {
        pids[p] = fork();
        cr_assert_neq(pids[p], -1);
        if (pids[p] != 0)
            continue;
        daisy_error_t err;
        daisy_array_t *h = daisy_array_open(daisy_array_path(a), p < WRITERS, &err);
        if (!h)
            _exit(3);
        static uint32_t buf[32 * 32];
        for (int r = 0; r < ROUNDS; r++) {
            for (int ci = 0; ci < 4; ci++) {
                int64_t o[2] = {(ci / 2) * 32, (ci % 2) * 32}, s[2] = {32, 32};
                daisy_roi_t roi = daisy_roi_make(2, o, s);
                if (p < WRITERS) {
                    for (int k = 0; k < 32 * 32; k++)
                        buf[k] = (uint32_t)(p * 100000 + r);
                    if (daisy_array_write(h, &roi, buf, &err))
                        _exit(4);
                } else {
                    if (daisy_array_read(h, &roi, buf, &err))
                        _exit(5);
                    for (int k = 1; k < 32 * 32; k++)
                        if (buf[k] != buf[0])
                            _exit(6);
                }
            }
        }
        daisy_array_destroy(&h);
        _exit(0);
    }
    for (int p = 0; p < WRITERS + READERS; p++) {
        int status;
        cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d: status %d", p,
                  status);
    }
    cr_assert_eq(count_files(daisy_array_path(a), "partial"), 0);
    daisy_array_destroy(&a);
}
