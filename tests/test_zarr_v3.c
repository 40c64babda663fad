/*  test_zarr_v3.c - Zarr v3 arrays: zarr.json, codec chains, crc32c, sharding

    Round trips for every dtype, each codec, sharded and unsharded, with
    unaligned writes checked against an in-memory model updated element by
    element (no code shared with the library's copy paths); inner chunks
    that are all fill value not stored and all-fill shards removed; fill
    values; arrays written by hand as other implementations write them
    (big endian, transpose, index at the start); checksums that do not
    match; and malformed zarr.json, each error checked for the field it
    names. Every test works in its own mkdtemp directory under /tmp.
*/
#include <criterion/criterion.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daisy/array.h"
#include "testutil.h"

static char dir[64];

static void
setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/daisy-zarr3-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void
teardown(void)
{
    tu_rmtree(dir);
}

TestSuite(zarr_v3, .init = setup, .fini = teardown, .timeout = 120);

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

static const char *
path_of(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void
write_text(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f, "%s", file);
    fputs(text, f);
    fclose(f);
}

static void
write_bytes(const char *file, const void *data, size_t len)
{
    FILE *f = fopen(file, "wb");
    cr_assert_not_null(f, "%s", file);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static unsigned char *
read_bytes(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static bool
exists(const char *file)
{
    return access(file, F_OK) == 0;
}

static int s_files;

static int
count_entry(const char *file, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)file;
    (void)st;
    (void)ftw;
    if (flag == FTW_F)
        s_files++;
    return 0;
}

static int
count_files(const char *p)
{
    s_files = 0;
    nftw(p, count_entry, 16, FTW_PHYS);
    return s_files;
}

//  The 3D array every round trip uses: shape 13 x 17 x 9, chunks 4 x 5 x 3,
//  shards 8 x 10 x 6 (when sharded): partial chunks and shards at the
//  ends, shards that stick out of the array.
static const int64_t SHAPE[3] = {13, 17, 9}, CHUNKS[3] = {4, 5, 3}, SHARDS[3] = {8, 10, 6};

static void
spec3(daisy_array_spec_t *spec, daisy_dtype_t t, bool sharded)
{
    daisy_array_spec_init(spec, t, 3, SHAPE, CHUNKS);
    spec->zarr_format = 3;
    if (sharded)
        memcpy(spec->shard_shape, SHARDS, sizeof SHARDS);
}

static size_t
count3(const int64_t *n)
{
    return (size_t)(n[0] * n[1] * n[2]);
}

//  Write `model` (the whole array) to `a` in unaligned blocks of `bs`, then
//  read the whole array and some ROIs back and compare with the model.
static void
roundtrip(daisy_array_t *a, const unsigned char *model, const int64_t *bs)
{
    daisy_error_t err;
    size_t item = daisy_array_itemsize(a);
    unsigned char *buf = malloc(count3(SHAPE) * item);
    for (int64_t z = 0; z < SHAPE[0]; z += bs[0])
        for (int64_t y = 0; y < SHAPE[1]; y += bs[1])
            for (int64_t x = 0; x < SHAPE[2]; x += bs[2]) {
                int64_t off[3] = {z, y, x}, n[3];
                for (int d = 0; d < 3; d++)
                    n[d] = off[d] + bs[d] <= SHAPE[d] ? bs[d] : SHAPE[d] - off[d];
                size_t k = 0;
                for (int64_t i = 0; i < n[0]; i++)
                    for (int64_t j = 0; j < n[1]; j++)
                        for (int64_t l = 0; l < n[2]; l++, k++)
                            memcpy(buf + k * item,
                                   model + (((z + i) * SHAPE[1] + y + j) * SHAPE[2] + x + l) * item,
                                   item);
                daisy_roi_t roi = daisy_roi_make(3, off, n);
                cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
            }
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &all, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(buf, model, count3(SHAPE) * item), 0, "whole array differs");
    //  An ROI across chunk and shard borders.
    int64_t off[3] = {3, 4, 2}, n[3] = {7, 9, 5};
    daisy_roi_t roi = daisy_roi_make(3, off, n);
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
    size_t k = 0;
    for (int64_t i = 0; i < n[0]; i++)
        for (int64_t j = 0; j < n[1]; j++)
            for (int64_t l = 0; l < n[2]; l++, k++)
                cr_assert_eq(memcmp(buf + k * item,
                                    model + (((off[0] + i) * SHAPE[1] + off[1] + j) * SHAPE[2]
                                             + off[2] + l) * item, item), 0);
    free(buf);
}

//  Random contents; a quarter of the elements are the fill value (zero
//  bytes), in runs, so that some inner chunks are all fill.
static unsigned char *
model_make(size_t item, uint64_t seed)
{
    size_t n = count3(SHAPE);
    unsigned char *m = calloc(n, item);
    for (size_t i = 0; i < n * item; i++)
        m[i] = (unsigned char)rnd(&seed);
    for (size_t i = 0; i < n; i++) {
        //  z in 8..11 (one slab of shards' inner chunks): fill.
        size_t z = i / (size_t)(SHAPE[1] * SHAPE[2]);
        if (z >= 8 && z < 12)
            memset(m + i * item, 0, item);
    }
    if (item >= 4)  //  floats: no NaN (compared bytewise anyway)
        for (size_t i = 0; i < n; i++)
            m[i * item + item - 1] &= 0x3F;
    return m;
}

//  Round trips ------------------------------------------------------------

static void
roundtrip_case(daisy_dtype_t t, bool sharded, daisy_compressor_t c, bool checksum,
               const char *name)
{
    daisy_array_spec_t spec;
    spec3(&spec, t, sharded);
    spec.compressor = c;
    spec.checksum = checksum;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of(name), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_eq(daisy_array_format(a), 3);
    unsigned char *m = model_make(daisy_dtype_size(t), 17 + (uint64_t)t);
    int64_t bs1[3] = {5, 6, 4}, bs2[3] = {13, 17, 9};
    roundtrip(a, m, bs1);
    daisy_array_destroy(&a);
    //  Reopened, and rewritten whole.
    a = daisy_array_open(path_of(name), true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    roundtrip(a, m, bs2);
    daisy_array_destroy(&a);
    free(m);
}

Test(zarr_v3, every_dtype_round_trips_sharded_and_not)
{
    for (int t = 0; t < DAISY_DTYPE_COUNT; t++)
        for (int s = 0; s < 2; s++) {
            char name[32];
            snprintf(name, sizeof name, "d%d_%d", t, s);
            roundtrip_case((daisy_dtype_t)t, s, DAISY_COMPRESSOR_NONE, false, name);
        }
}

Test(zarr_v3, every_codec_round_trips_sharded_and_not)
{
    daisy_compressor_t cs[] = {DAISY_COMPRESSOR_NONE, DAISY_COMPRESSOR_GZIP,
                               DAISY_COMPRESSOR_ZSTD, DAISY_COMPRESSOR_BLOSC};
    for (int c = 0; c < 4; c++)
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < 2; k++) {
                char name[32];
                snprintf(name, sizeof name, "c%d_%d_%d", c, s, k);
                roundtrip_case(DAISY_DTYPE_UINT16, s, cs[c], k, name);
            }
}

Test(zarr_v3, metadata_as_written)
{
    daisy_array_spec_t spec;
    spec3(&spec, DAISY_DTYPE_FLOAT32, true);
    spec.fill_value = NAN;
    spec.compressor = DAISY_COMPRESSOR_ZSTD;
    spec.level = 3;
    spec.voxel_size[0] = 40;
    spec.offset[0] = -80;
    spec.dimension_names[0] = "z";
    spec.dimension_names[2] = "x";
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("out.zarr/m"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    size_t len;
    char *text = (char *)read_bytes(path_of("out.zarr/m/zarr.json"), &len);
    text[len] = 0;
    const char *want[] = {"\"zarr_format\": 3", "\"node_type\": \"array\"",
                          "\"data_type\": \"float32\"", "\"fill_value\": \"NaN\"",
                          "\"name\": \"sharding_indexed\"", "\"index_location\": \"end\"",
                          "\"name\": \"crc32c\"", "\"separator\": \"/\"",
                          "\"dimension_names\": [\n    \"z\",\n    null,\n    \"x\"",
                          "\"resolution\": [\n      40,", "\"offset\": [\n      -80,"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(text, want[i]), "missing %s in\n%s", want[i], text);
    free(text);
    cr_assert(exists(path_of("out.zarr/zarr.json")), "the parent is a v3 group");
    daisy_array_destroy(&a);
    a = daisy_array_open(path_of("out.zarr/m"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert(isnan(daisy_array_fill_value(a)));
    cr_assert_eq(daisy_array_chunks(a).v[1], 5);
    cr_assert_eq(daisy_array_shards(a).v[1], 10);
    cr_assert_eq(daisy_array_voxel_size(a).v[0], 40);
    cr_assert_eq(daisy_array_offset(a).v[0], -80);
    cr_assert_str_eq(daisy_array_dimension_name(a, 0), "z");
    cr_assert_null(daisy_array_dimension_name(a, 1));
    cr_assert_eq(daisy_array_compressor(a), DAISY_COMPRESSOR_ZSTD);
    //  Missing shards read as NaN.
    float v[2];
    int64_t o[3] = {-80, 0, 0}, n[3] = {40, 1, 2};
    daisy_roi_t roi = daisy_roi_make(3, o, n);
    cr_assert_eq(daisy_array_read(a, &roi, v, &err), 0, "%s", err.msg);
    cr_assert(isnan(v[0]) && isnan(v[1]));
    daisy_array_destroy(&a);
}

//  Sharding ---------------------------------------------------------------

Test(zarr_v3, empty_inner_chunks_are_not_stored_and_empty_shards_removed)
{
    int64_t shape[1] = {64}, chunks[1] = {8};
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 1, shape, chunks);
    spec.zarr_format = 3;
    spec.shard_shape[0] = 32;
    spec.fill_value = 5;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("e"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    unsigned char buf[64];
    memset(buf, 5, sizeof buf);
    buf[9] = 1;             //  inner chunk 1 of shard 0 holds data
    int64_t o[1] = {0}, n[1] = {32};
    daisy_roi_t roi = daisy_roi_make(1, o, n);
    cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
    size_t len;
    unsigned char *f = read_bytes(path_of("e/c/0"), &len);
    cr_assert_not_null(f);
    cr_assert_eq(len, 8 + 4 * 16 + 4, "one inner chunk of 8 bytes and the index");
    uint64_t ix[8];
    memcpy(ix, f + 8, sizeof ix);
    cr_assert_eq(ix[0], UINT64_MAX);
    cr_assert_eq(ix[1], UINT64_MAX);
    cr_assert_eq(ix[2], 0);
    cr_assert_eq(ix[3], 8);
    cr_assert_eq(ix[4], UINT64_MAX);
    free(f);
    //  A shard written with only fill is not written.
    o[0] = 32;
    roi = daisy_roi_make(1, o, n);
    cr_assert_eq(daisy_array_write(a, &roi, buf + 32, &err), 0, "%s", err.msg);
    cr_assert(!exists(path_of("e/c/1")));
    //  A partial write that leaves shard 0 all fill removes it.
    int64_t o2[1] = {9}, n2[1] = {1};
    roi = daisy_roi_make(1, o2, n2);
    unsigned char five = 5;
    cr_assert_eq(daisy_array_write(a, &roi, &five, &err), 0, "%s", err.msg);
    cr_assert(!exists(path_of("e/c/0")));
    roi = daisy_array_roi(a);
    buf[0] = 0;
    cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(buf[i], 5);
    daisy_array_destroy(&a);
}

Test(zarr_v3, partial_write_keeps_the_other_inner_chunks)
{
    int64_t shape[2] = {16, 16}, chunks[2] = {4, 4};
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_INT32, 2, shape, chunks);
    spec.zarr_format = 3;
    spec.shard_shape[0] = spec.shard_shape[1] = 16;
    spec.compressor = DAISY_COMPRESSOR_GZIP;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("p"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    int32_t model[256], buf[256];
    for (int i = 0; i < 256; i++)
        model[i] = i + 1;
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_write(a, &all, model, &err), 0, "%s", err.msg);
    //  One unaligned 3 x 5 patch.
    int64_t o[2] = {5, 6}, n[2] = {3, 5};
    int32_t patch[15];
    for (int i = 0; i < 15; i++) {
        patch[i] = -i;
        model[(5 + i / 5) * 16 + 6 + i % 5] = -i;
    }
    daisy_roi_t roi = daisy_roi_make(2, o, n);
    cr_assert_eq(daisy_array_write(a, &roi, patch, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_read(a, &all, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(buf, model, sizeof model), 0);
    daisy_array_destroy(&a);
}

//  Arrays written elsewhere -----------------------------------------------

static const char *
meta(const char *dtype, const char *shape, const char *grid, const char *codecs,
     const char *fill)
{
    static char text[2048];
    snprintf(text, sizeof text,
             "{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": %s, \"data_type\": "
             "\"%s\", \"chunk_grid\": {\"name\": \"regular\", \"configuration\": "
             "{\"chunk_shape\": %s}}, \"chunk_key_encoding\": {\"name\": \"default\"}, "
             "\"fill_value\": %s, \"codecs\": %s, \"attributes\": {\"voxel_size\": [2]}}",
             shape, dtype, grid, fill, codecs);
    return text;
}

static void
make_array(const char *name, const char *text)
{
    mkdir(path_of(name), 0777);
    char file[256];
    snprintf(file, sizeof file, "%s/zarr.json", path_of(name));
    write_text(file, text);
}

Test(zarr_v3, big_endian_chunks_and_index_are_read)
{
    make_array("be", meta("uint16", "[6]", "[4]",
                          "[{\"name\": \"bytes\", \"configuration\": {\"endian\": \"big\"}}]",
                          "0"));
    mkdir(path_of("be/c"), 0777);
    unsigned char c0[8] = {0x01, 0x02, 0x03, 0x04, 0, 5, 0, 6};
    write_bytes(path_of("be/c/0"), c0, 8);
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path_of("be"), true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_eq(daisy_array_voxel_size(a).v[0], 2, "voxel_size read when resolution is absent");
    uint16_t v[6];
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &all, v, &err), 0, "%s", err.msg);
    cr_assert_eq(v[0], 0x0102);
    cr_assert_eq(v[1], 0x0304);
    cr_assert_eq(v[3], 6);
    cr_assert_eq(v[4], 0);
    //  Written back big endian.
    v[0] = 0x0A0B;
    cr_assert_eq(daisy_array_write(a, &all, v, &err), 0, "%s", err.msg);
    size_t len;
    unsigned char *f = read_bytes(path_of("be/c/0"), &len);
    cr_assert(len == 8 && f[0] == 0x0A && f[1] == 0x0B);
    free(f);
    daisy_array_destroy(&a);

    //  A shard with a big-endian index at the start and no checksum.
    make_array("bs", meta("uint8", "[4]", "[4]",
                          "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\":"
                          " [2], \"codecs\": [{\"name\": \"bytes\"}], \"index_codecs\": "
                          "[{\"name\": \"bytes\", \"configuration\": {\"endian\": \"big\"}}], "
                          "\"index_location\": \"start\"}}]", "9"));
    mkdir(path_of("bs/c"), 0777);
    unsigned char s[32 + 2] = {0};
    memset(s, 0xFF, 16);                    //  inner chunk 0: empty
    s[16 + 7] = 32;                         //  inner chunk 1 at 32 (big endian), 2 bytes
    s[16 + 15] = 2;
    s[32] = 7;
    s[33] = 8;
    write_bytes(path_of("bs/c/0"), s, sizeof s);
    a = daisy_array_open(path_of("bs"), true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    unsigned char u[4];
    all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_read(a, &all, u, &err), 0, "%s", err.msg);
    cr_assert(u[0] == 9 && u[1] == 9 && u[2] == 7 && u[3] == 8, "%d %d %d %d", u[0], u[1], u[2],
              u[3]);
    //  Rewritten partly (voxel size 2), still with the index first.
    int64_t o[1] = {0}, n[1] = {4};
    daisy_roi_t roi = daisy_roi_make(1, o, n);
    unsigned char w[2] = {1, 2};
    cr_assert_eq(daisy_array_write(a, &roi, w, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_array_read(a, &all, u, &err), 0, "%s", err.msg);
    cr_assert(u[0] == 1 && u[1] == 2 && u[2] == 7 && u[3] == 8, "%d %d %d %d", u[0], u[1], u[2],
              u[3]);
    f = read_bytes(path_of("bs/c/0"), &len);
    cr_assert_eq(len, 36, "%zu", len);
    cr_assert_eq(f[7], 32, "index first: the first data at offset 32");
    free(f);
    daisy_array_destroy(&a);
}

Test(zarr_v3, transpose_is_applied_and_undone)
{
    make_array("t", meta("uint8", "[2, 3]", "[2, 3]",
                         "[{\"name\": \"transpose\", \"configuration\": {\"order\": [1, 0]}}, "
                         "{\"name\": \"bytes\"}]", "0"));
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path_of("t"), true, &err);
    cr_assert_not_null(a, "%s", err.msg);
    unsigned char v[6] = {1, 2, 3, 4, 5, 6}, r[6];
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_write(a, &all, v, &err), 0, "%s", err.msg);
    size_t len;
    unsigned char *f = read_bytes(path_of("t/c/0/0"), &len);
    unsigned char want[6] = {1, 4, 2, 5, 3, 6};
    cr_assert(len == 6 && memcmp(f, want, 6) == 0);
    free(f);
    cr_assert_eq(daisy_array_read(a, &all, r, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(r, v, 6), 0);
    daisy_array_destroy(&a);
}

Test(zarr_v3, fill_values_named_and_in_hex)
{
    const char *fills[] = {"\"Infinity\"", "\"-Infinity\"", "\"NaN\"", "\"0x7fc00000\"", "-2.5"};
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "f%d", i);
        make_array(name, meta("float32", "[4]", "[2]", "[{\"name\": \"bytes\"}]", fills[i]));
        daisy_error_t err;
        daisy_array_t *a = daisy_array_open(path_of(name), false, &err);
        cr_assert_not_null(a, "%s", err.msg);
        float v[2];
        int64_t o[1] = {0}, n[1] = {4};
        daisy_roi_t roi = daisy_roi_make(1, o, n);
        cr_assert_eq(daisy_array_read(a, &roi, v, &err), 0, "%s", err.msg);
        double want[] = {INFINITY, -INFINITY, NAN, NAN, -2.5};
        cr_assert(isnan(want[i]) ? isnan(v[1]) : v[1] == want[i], "%s", fills[i]);
        daisy_array_destroy(&a);
    }
}

//  Checksums --------------------------------------------------------------

Test(zarr_v3, crc32c_is_the_castagnoli_checksum)
{
    int64_t shape[1] = {9};
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 1, shape, shape);
    spec.zarr_format = 3;
    spec.checksum = true;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("k"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_write(a, &all, "123456789", &err), 0, "%s", err.msg);
    size_t len;
    unsigned char *f = read_bytes(path_of("k/c/0"), &len);
    uint32_t crc;
    memcpy(&crc, f + 9, 4);
    cr_assert_eq(len, 13);
    cr_assert_eq(crc, 0xE3069283u, "crc32c(\"123456789\") = %08x", crc);
    free(f);
    daisy_array_destroy(&a);
}

Test(zarr_v3, checksum_mismatch_names_the_file)
{
    daisy_error_t err;
    for (int s = 0; s < 2; s++) {
        daisy_array_spec_t spec;
        spec3(&spec, DAISY_DTYPE_UINT8, s);
        spec.checksum = true;
        spec.fill_value = 1;
        const char *name = s ? "cs" : "cu";
        daisy_array_t *a = daisy_array_create(path_of(name), &spec, &err);
        cr_assert_not_null(a, "%s", err.msg);
        unsigned char *m = model_make(1, 3);
        int64_t bs[3] = {13, 17, 9};
        roundtrip(a, m, bs);
        char file[256];
        snprintf(file, sizeof file, "%s/c/0/0/0", path_of(name));
        size_t len;
        unsigned char *f = read_bytes(file, &len);
        f[0] ^= 1;          //  a data byte (the first inner chunk), or the chunk's
        write_bytes(file, f, len);
        daisy_roi_t all = daisy_array_roi(a);
        cr_assert_neq(daisy_array_read(a, &all, m, &err), 0);
        cr_assert(strstr(err.msg, "crc32c: checksum mismatch"), "%s", err.msg);
        cr_assert(strstr(err.msg, file), "%s", err.msg);
        if (s) {
            //  A ROI in another inner chunk of the shard reads only that
            //  one (and the index): the damage is not seen.
            int64_t o[3] = {4, 0, 0}, n[3] = {1, 1, 1};
            daisy_roi_t one = daisy_roi_make(3, o, n);
            cr_assert_eq(daisy_array_read(a, &one, m, &err), 0, "%s", err.msg);
        }
        if (s) {            //  the index's checksum too
            f[0] ^= 1;
            f[len - 5] ^= 1;
            write_bytes(file, f, len);
            cr_assert_neq(daisy_array_read(a, &all, m, &err), 0);
            cr_assert(strstr(err.msg, "index: crc32c checksum mismatch"), "%s", err.msg);
            cr_assert(strstr(err.msg, file), "%s", err.msg);
        }
        free(f);
        free(m);
        daisy_array_destroy(&a);
    }
}

//  Errors -----------------------------------------------------------------

static void
expect_open_error(const char *name, const char *text, const char *want)
{
    make_array(name, text);
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path_of(name), false, &err);
    cr_assert_null(a, "%s opened", name);
    cr_assert(strstr(err.msg, want), "%s: expected '%s' in: %s", name, want, err.msg);
}

#define BYTES "[{\"name\": \"bytes\"}]"

Test(zarr_v3, malformed_zarr_json)
{
    expect_open_error("json", "{\"zarr_format\": 3,", "zarr.json is not valid JSON");
    expect_open_error("group", "{\"zarr_format\": 3, \"node_type\": \"group\"}",
                      "zarr.json: node_type 'group'");
    expect_open_error("fmt", "{\"zarr_format\": \"3\"}", "zarr.json: 'zarr_format' is missing or");
    expect_open_error("shape", meta("uint8", "[\"a\"]", "[2]", BYTES, "0"),
                      "zarr.json: 'shape' is not a list");
    expect_open_error("dtype", meta("complex64", "[4]", "[2]", BYTES, "0"),
                      "zarr.json: data_type 'complex64' is not supported");
    expect_open_error("dtype2", meta("<u2", "[4]", "[2]", BYTES, "0"),
                      "zarr.json: data_type '<u2'");
    expect_open_error("grid", meta("uint8", "[4]", "[2, 2]", BYTES, "0"),
                      "zarr.json: chunk_grid: 'chunk_shape' is not a list of 1");
    expect_open_error("codec", meta("uint8", "[4]", "[2]",
                                    "[{\"name\": \"bytes\"}, {\"name\": \"foo\"}]", "0"),
                      "zarr.json: codecs[1]: unknown codec 'foo'");
    expect_open_error("nobytes", meta("uint8", "[4]", "[2]", "[{\"name\": \"gzip\", "
                                      "\"configuration\": {\"level\": 1}}]", "0"),
                      "zarr.json: codecs[0]: 'gzip' before the array-to-bytes codec");
    expect_open_error("level", meta("uint8", "[4]", "[2]", "[{\"name\": \"bytes\"}, "
                                    "{\"name\": \"gzip\", \"configuration\": {\"level\": 12}}]",
                                    "0"),
                      "zarr.json: codecs[1]: gzip: 'level'");
    expect_open_error("endian", meta("uint16", "[4]", "[2]", "[{\"name\": \"bytes\", "
                                     "\"configuration\": {\"endian\": \"middle\"}}]", "0"),
                      "zarr.json: codecs[0]: bytes: endian");
    expect_open_error("shuffle", meta("uint8", "[4]", "[2]", "[{\"name\": \"bytes\"}, "
                                      "{\"name\": \"blosc\", \"configuration\": {\"cname\": "
                                      "\"lz4\", \"shuffle\": 1}}]", "0"),
                      "zarr.json: codecs[1]: blosc: shuffle");
    expect_open_error("fill", meta("uint8", "[4]", "[2]", BYTES, "300"),
                      "zarr.json: fill_value 300 does not fit uint8");
    expect_open_error("fillnan", meta("int32", "[4]", "[2]", BYTES, "\"NaN\""),
                      "zarr.json: fill_value \"NaN\" for integer type int32");
    char text[2048];
    snprintf(text, sizeof text, "%s", meta("uint8", "[4]", "[2]", BYTES, "0"));
    char *brace = strrchr(text, '}');
    snprintf(brace, 200, ", \"ext\": {\"must_understand\": true}}");
    expect_open_error("must", text, "zarr.json: unknown field 'ext'");
    snprintf(text, sizeof text, "%s", meta("uint8", "[4]", "[2]", BYTES, "0"));
    brace = strrchr(text, '}');
    snprintf(brace, 200, ", \"ext\": {\"must_understand\": false}}");
    make_array("mayignore", text);
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path_of("mayignore"), false, &err);
    cr_assert_not_null(a, "%s", err.msg);
    daisy_array_destroy(&a);
    snprintf(text, sizeof text, "%s", meta("uint8", "[4]", "[2]", BYTES, "0"));
    char *g = strstr(text, "\"regular\"");
    memcpy(g, "\"irregul\"", 9);
    expect_open_error("irregular", text, "zarr.json: chunk_grid 'irregul' is not supported");
    expect_open_error("shardshape",
                      meta("uint8", "[8]", "[6]",
                           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\":"
                           " [4], \"codecs\": " BYTES ", \"index_codecs\": " BYTES "}}]", "0"),
                      "zarr.json: codecs[0]: sharding_indexed: chunk_shape 4 in dimension 0 "
                      "does not divide the shard shape 6");
    expect_open_error("nested",
                      meta("uint8", "[8]", "[4]",
                           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\":"
                           " [2], \"codecs\": [{\"name\": \"sharding_indexed\"}], "
                           "\"index_codecs\": " BYTES "}}]", "0"),
                      "sharding_indexed: codecs[0]: sharding_indexed inside a shard");
    expect_open_error("index",
                      meta("uint8", "[8]", "[4]",
                           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\":"
                           " [2], \"codecs\": " BYTES ", \"index_codecs\": [{\"name\": \"bytes\"}, "
                           "{\"name\": \"gzip\", \"configuration\": {\"level\": 1}}]}}]", "0"),
                      "index_codecs: only bytes and an optional crc32c");
    expect_open_error("after",
                      meta("uint8", "[8]", "[4]",
                           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\":"
                           " [2], \"codecs\": " BYTES ", \"index_codecs\": " BYTES "}}, "
                           "{\"name\": \"crc32c\"}]", "0"),
                      "codecs[1]: codec 'crc32c' after sharding_indexed");
}

Test(zarr_v3, bad_specs)
{
    int64_t shape[2] = {8, 8}, chunks[2] = {4, 4};
    daisy_array_spec_t spec;
    daisy_error_t err;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 2, shape, chunks);
    spec.shard_shape[0] = spec.shard_shape[1] = 8;
    cr_assert_null(daisy_array_create(path_of("s1"), &spec, &err));
    cr_assert(strstr(err.msg, "need zarr_format 3"), "%s", err.msg);
    spec.zarr_format = 3;
    spec.shard_shape[1] = 6;
    cr_assert_null(daisy_array_create(path_of("s2"), &spec, &err));
    cr_assert(strstr(err.msg, "shard shape 6 in dimension 1 is not a positive multiple of the "
                     "chunk shape 4"), "%s", err.msg);
    spec.shard_shape[1] = 8;
    spec.compressor = DAISY_COMPRESSOR_ZLIB;
    cr_assert_null(daisy_array_create(path_of("s3"), &spec, &err));
    cr_assert(strstr(err.msg, "zlib has no Zarr v3 codec"), "%s", err.msg);
    spec.compressor = DAISY_COMPRESSOR_NONE;
    spec.zarr_format = 4;
    cr_assert_null(daisy_array_create(path_of("s4"), &spec, &err));
    cr_assert(strstr(err.msg, "zarr_format 4"), "%s", err.msg);
    //  Overwrite replaces a v3 array; without it, it is refused.
    spec.zarr_format = 3;
    daisy_array_t *a = daisy_array_create(path_of("s5"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    daisy_array_destroy(&a);
    cr_assert_null(daisy_array_create(path_of("s5"), &spec, &err));
    cr_assert(strstr(err.msg, "already exists"), "%s", err.msg);
    spec.overwrite = true;
    spec.zarr_format = 2;
    memset(spec.shard_shape, 0, sizeof spec.shard_shape);
    a = daisy_array_create(path_of("s5"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_assert_eq(daisy_array_format(a), 2);
    cr_assert(!exists(path_of("s5/zarr.json")));
    daisy_array_destroy(&a);
}

//  A 0 in the shape (zarr-python makes such arrays): the array opens, its
//  empty ROI reads and writes nothing, sharded or not, and a ROI with
//  voxels is outside it.
Test(zarr_v3, shape_with_a_0_sharded_and_not)
{
    for (int sharded = 0; sharded < 2; sharded++) {
        int64_t shape[2] = {5, 0}, chunks[2] = {2, 2};
        daisy_array_spec_t spec;
        daisy_array_spec_init(&spec, DAISY_DTYPE_UINT16, 2, shape, chunks);
        spec.zarr_format = 3;
        spec.shard_shape[0] = spec.shard_shape[1] = sharded ? 4 : 0;
        char name[32];
        snprintf(name, sizeof name, "zero%d", sharded);
        daisy_error_t err;
        daisy_array_t *a = daisy_array_create(path_of(name), &spec, &err);
        cr_assert_not_null(a, "%s", err.msg);
        daisy_array_destroy(&a);
        a = daisy_array_open(path_of(name), true, &err);
        cr_assert_not_null(a, "%s", err.msg);
        daisy_roi_t roi = daisy_array_roi(a);
        uint16_t buf[4] = {0};
        cr_assert_eq(daisy_array_read(a, &roi, buf, &err), 0, "%s", err.msg);
        cr_assert_eq(daisy_array_write(a, &roi, buf, &err), 0, "%s", err.msg);
        cr_assert_eq(count_files(path_of(name)), 1, "only zarr.json");
        int64_t o[2] = {0, 0}, n[2] = {1, 1};
        roi = daisy_roi_make(2, o, n);
        cr_assert_eq(daisy_array_write(a, &roi, buf, &err), -1);
        cr_assert(strstr(err.msg, "ROI [0:1, 0:1] (1, 1) is outside the array's ROI [empty ROI] "
                                  "at (0, 0), shape (5, 0)"), "%s", err.msg);
        daisy_array_destroy(&a);
    }
}

Test(zarr_v3, files_per_shard)
{
    //  A 64^3 volume in shards of 32^3 of inner chunks of 8^3: 8 files.
    int64_t shape[3] = {64, 64, 64}, chunks[3] = {8, 8, 8};
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 3, shape, chunks);
    spec.zarr_format = 3;
    spec.shard_shape[0] = spec.shard_shape[1] = spec.shard_shape[2] = 32;
    spec.compressor = DAISY_COMPRESSOR_ZSTD;
    spec.fill_value = 0;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path_of("v"), &spec, &err);
    cr_assert_not_null(a, "%s", err.msg);
    unsigned char *buf = malloc(64 * 64 * 64);
    uint64_t s = 1;
    for (int i = 0; i < 64 * 64 * 64; i++)
        buf[i] = (unsigned char)(rnd(&s) | 1);
    daisy_roi_t all = daisy_array_roi(a);
    cr_assert_eq(daisy_array_write(a, &all, buf, &err), 0, "%s", err.msg);
    daisy_array_destroy(&a);
    cr_assert_eq(count_files(path_of("v")), 8 + 1, "8 shards and zarr.json");
    free(buf);
}
