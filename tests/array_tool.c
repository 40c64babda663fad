/*  array_tool.c - a small command line over daisy_array for the Zarr interop test

    tests/integration/zarr_interop.py drives Python zarr on one side and
    this program on the other, exchanging array contents as raw C-order
    little-endian files, so that neither side needs the other's language
    bindings:

      array_tool write PATH --dtype T --shape S --chunks C [--voxel-size V]
                 [--offset O] [--fill F] [--compressor none|zlib|gzip|zstd|blosc]
                 [--level L] [--cname N] [--shuffle S] [--sep ./] [--order C|F]
                 [--format 2|3] [--shards S] [--checksum]
                 [--roi OFF:SHAPE] [--block B] [--overwrite] --data FILE
        creates the array and writes FILE (the raw contents of the ROI,
        default the whole array) to the ROI (world units) in blocks of B
        voxels (default the whole ROI), so that partial-chunk writes are
        exercised too. --format 3 makes a Zarr v3 array, --shards a
        sharded one (shard shape in voxels), --checksum adds crc32c.

      array_tool read PATH --out FILE [--roi OFF:SHAPE]
        writes the ROI's raw contents (little endian) to FILE and prints the
        array's metadata as one JSON line.

    Lists are comma-separated integers; a ROI is OFFSET:SHAPE in world units.
*/
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/array.h"

static int
s_list(const char *text, int64_t *v, int *n)
{
    *n = 0;
    const char *p = text;
    while (*p) {
        if (*n == DAISY_MAX_DIMS)
            return -1;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno)
            return -1;
        v[(*n)++] = x;
        p = end;
        if (*p == ',')
            p++;
        else if (*p && *p != ':')
            return -1;
        else if (*p == ':')
            break;
    }
    return *n ? 0 : -1;
}

static int
s_roi(const char *text, daisy_roi_t *roi)
{
    const char *colon = strchr(text, ':');
    int64_t off[DAISY_MAX_DIMS], shape[DAISY_MAX_DIMS];
    int n1, n2;
    if (!colon || s_list(text, off, &n1) || s_list(colon + 1, shape, &n2) || n1 != n2)
        return -1;
    *roi = daisy_roi_make(n1, off, shape);
    return 0;
}

static void
s_print_list(const char *key, daisy_coord_t c)
{
    printf("\"%s\": [", key);
    for (int d = 0; d < c.dims; d++)
        printf("%s%lld", d ? ", " : "", (long long)c.v[d]);
    printf("]");
}

static int
s_usage(void)
{
    fprintf(stderr, "usage: array_tool write PATH --dtype T --shape S --chunks C [options] "
                    "--data FILE\n       array_tool read PATH --out FILE [--roi OFF:SHAPE]\n");
    return 2;
}

static void *
s_load(const char *file, size_t size)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    void *buf = malloc(size ? size : 1);
    if (buf && fread(buf, 1, size, f) != size) {
        free(buf);
        buf = NULL;
    }
    //  The file must hold exactly the ROI.
    if (buf && fgetc(f) != EOF) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static int
s_write(const char *path, int argc, char **argv)
{
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 0, NULL, NULL);
    int dims = 0, n;
    int64_t v[DAISY_MAX_DIMS] = {0};
    const char *data = NULL, *roi_text = NULL;
    int64_t block[DAISY_MAX_DIMS] = {0};
    bool have_block = false;
    bool dtype_set = false, have_chunks = false;
    static const struct option opts[] = {
        {"dtype", required_argument, NULL, 'd'},      {"shape", required_argument, NULL, 's'},
        {"chunks", required_argument, NULL, 'c'},     {"voxel-size", required_argument, NULL, 'v'},
        {"offset", required_argument, NULL, 'o'},     {"fill", required_argument, NULL, 'f'},
        {"compressor", required_argument, NULL, 'z'}, {"level", required_argument, NULL, 'l'},
        {"cname", required_argument, NULL, 'n'},      {"shuffle", required_argument, NULL, 'u'},
        {"sep", required_argument, NULL, 'p'},        {"roi", required_argument, NULL, 'r'},
        {"block", required_argument, NULL, 'b'},      {"data", required_argument, NULL, 'D'},
        {"overwrite", no_argument, NULL, 'w'},        {"format", required_argument, NULL, 'F'},
        {"shards", required_argument, NULL, 'S'},     {"checksum", no_argument, NULL, 'k'},
        {"order", required_argument, NULL, 'O'},      {NULL, 0, NULL, 0}};
    int64_t shards[DAISY_MAX_DIMS] = {0};
    bool have_shards = false;
    int64_t voxel[DAISY_MAX_DIMS], offset[DAISY_MAX_DIMS], chunks[DAISY_MAX_DIMS];
    int nvoxel = 0, noffset = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (daisy_dtype_parse(optarg, &spec.dtype))
                return fprintf(stderr, "array_tool: unknown dtype '%s'\n", optarg), 2;
            dtype_set = true;
            break;
        case 's':
            if (s_list(optarg, v, &dims))
                return s_usage();
            memcpy(spec.shape, v, sizeof v);
            break;
        case 'c':
            if (s_list(optarg, chunks, &n))
                return s_usage();
            have_chunks = true;
            break;
        case 'v':
            if (s_list(optarg, voxel, &nvoxel))
                return s_usage();
            break;
        case 'o':
            if (s_list(optarg, offset, &noffset))
                return s_usage();
            break;
        case 'f':
            spec.fill_value = strtod(optarg, NULL);     //  accepts nan, inf, -inf
            break;
        case 'z':
            if (daisy_compressor_parse(optarg, &spec.compressor))
                return fprintf(stderr, "array_tool: unknown compressor '%s'\n", optarg), 2;
            break;
        case 'l':
            spec.level = atoi(optarg);
            break;
        case 'n':
            spec.blosc_cname = optarg;
            break;
        case 'u':
            spec.blosc_shuffle = atoi(optarg);
            break;
        case 'p':
            spec.dimension_separator = optarg[0];
            break;
        case 'O':
            spec.order = optarg[0];
            break;
        case 'r':
            roi_text = optarg;
            break;
        case 'b':
            if (s_list(optarg, block, &n))
                return s_usage();
            have_block = true;
            break;
        case 'D':
            data = optarg;
            break;
        case 'w':
            spec.overwrite = true;
            break;
        case 'F':
            spec.zarr_format = atoi(optarg);
            break;
        case 'S':
            if (s_list(optarg, shards, &n))
                return s_usage();
            have_shards = true;
            break;
        case 'k':
            spec.checksum = true;
            break;
        default:
            return s_usage();
        }
    }
    if (!dtype_set || !dims || !have_chunks || !data)
        return s_usage();
    spec.dims = dims;
    for (int d = 0; d < dims; d++) {
        spec.chunks[d] = chunks[d];
        spec.voxel_size[d] = nvoxel ? voxel[d] : 1;
        spec.offset[d] = noffset ? offset[d] : 0;
        spec.shard_shape[d] = have_shards ? shards[d] : 0;
    }
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path, &spec, &err);
    if (!a)
        return fprintf(stderr, "array_tool: %s\n", err.msg), 1;
    daisy_roi_t roi = daisy_array_roi(a);
    if (roi_text && s_roi(roi_text, &roi))
        return s_usage();
    size_t size = daisy_array_buffer_size(a, &roi);
    unsigned char *buf = s_load(data, size);
    if (!buf)
        return fprintf(stderr, "array_tool: '%s' does not hold the %zu bytes of the ROI\n",
                       data, size), 1;
    //  Write block by block: each block is cut out of the ROI's buffer.
    daisy_coord_t vs = daisy_array_voxel_size(a);
    int64_t rshape[DAISY_MAX_DIMS], bshape[DAISY_MAX_DIMS];
    for (int d = 0; d < dims; d++) {
        rshape[d] = roi.shape[d] / vs.v[d];
        bshape[d] = have_block ? block[d] : rshape[d];
        if (bshape[d] < 1)
            bshape[d] = 1;
    }
    size_t item = daisy_array_itemsize(a);
    unsigned char *piece = malloc(size ? size : 1);
    int64_t at[DAISY_MAX_DIMS] = {0};
    int rc = 0;
    bool empty = size == 0;
    while (!empty && rc == 0) {
        int64_t cnt[DAISY_MAX_DIMS], off[DAISY_MAX_DIMS], shp[DAISY_MAX_DIMS];
        for (int d = 0; d < dims; d++) {
            cnt[d] = at[d] + bshape[d] <= rshape[d] ? bshape[d] : rshape[d] - at[d];
            off[d] = roi.offset[d] + at[d] * vs.v[d];
            shp[d] = cnt[d] * vs.v[d];
        }
        //  Gather the block (row by row of the last dimension).
        size_t rows = 1;
        for (int d = 0; d < dims - 1; d++)
            rows *= (size_t)cnt[d];
        for (size_t r = 0; r < rows; r++) {
            size_t rem = r, src = 0, mul = 1;
            int64_t idx[DAISY_MAX_DIMS];
            for (int d = dims - 2; d >= 0; d--) {
                idx[d] = (int64_t)(rem % (size_t)cnt[d]);
                rem /= (size_t)cnt[d];
            }
            idx[dims - 1] = 0;
            for (int d = dims - 1; d >= 0; d--) {
                src += (size_t)(at[d] + idx[d]) * mul;
                mul *= (size_t)rshape[d];
            }
            memcpy(piece + r * (size_t)cnt[dims - 1] * item, buf + src * item,
                   (size_t)cnt[dims - 1] * item);
        }
        daisy_roi_t broi = daisy_roi_make(dims, off, shp);
        if (daisy_array_write(a, &broi, piece, &err)) {
            fprintf(stderr, "array_tool: %s\n", err.msg);
            rc = 1;
        }
        int d = dims - 1;
        for (; d >= 0; d--) {
            at[d] += bshape[d];
            if (at[d] < rshape[d])
                break;
            at[d] = 0;
        }
        if (d < 0)
            break;
    }
    free(piece);
    free(buf);
    daisy_array_destroy(&a);
    return rc;
}

static int
s_read(const char *path, int argc, char **argv)
{
    const char *out = NULL, *roi_text = NULL;
    static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
                                         {"roi", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'o')
            out = optarg;
        else if (opt == 'r')
            roi_text = optarg;
        else
            return s_usage();
    }
    if (!out)
        return s_usage();
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path, false, &err);
    if (!a)
        return fprintf(stderr, "array_tool: %s\n", err.msg), 1;
    daisy_roi_t roi = daisy_array_roi(a);
    if (roi_text && s_roi(roi_text, &roi))
        return s_usage();
    size_t size = daisy_array_buffer_size(a, &roi);
    void *buf = malloc(size ? size : 1);
    if (daisy_array_read(a, &roi, buf, &err)) {
        fprintf(stderr, "array_tool: %s\n", err.msg);
        free(buf);
        daisy_array_destroy(&a);
        return 1;
    }
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(buf, 1, size, f) != size || fclose(f) != 0)
        return fprintf(stderr, "array_tool: cannot write '%s'\n", out), 1;
    free(buf);
    printf("{\"dtype\": \"%s\", ", daisy_dtype_name(daisy_array_dtype(a)));
    s_print_list("shape", daisy_array_shape(a));
    printf(", ");
    s_print_list("chunks", daisy_array_chunks(a));
    printf(", ");
    s_print_list("voxel_size", daisy_array_voxel_size(a));
    printf(", ");
    s_print_list("offset", daisy_array_offset(a));
    daisy_roi_t aroi = daisy_array_roi(a);
    printf(", ");
    s_print_list("roi_offset", daisy_roi_offset(&aroi));
    printf(", ");
    s_print_list("roi_shape", daisy_roi_shape(&aroi));
    double fill = daisy_array_fill_value(a);
    if (isnan(fill))
        printf(", \"fill_value\": \"NaN\"");
    else if (isinf(fill))
        printf(", \"fill_value\": \"%s\"", fill > 0 ? "Infinity" : "-Infinity");
    else if (daisy_array_dtype(a) == DAISY_DTYPE_UINT64) {
        unsigned long long u;
        daisy_array_fill_item(a, &u);
        printf(", \"fill_value\": %llu", u);
    } else if (daisy_array_dtype(a) == DAISY_DTYPE_INT64) {
        long long i;
        daisy_array_fill_item(a, &i);
        printf(", \"fill_value\": %lld", i);
    } else
        printf(", \"fill_value\": %.17g", fill);
    printf(", \"compressor\": \"%s\", \"format\": %d, ",
           daisy_compressor_name(daisy_array_compressor(a)), daisy_array_format(a));
    s_print_list("shards", daisy_array_shards(a));
    printf("}\n");
    daisy_array_destroy(&a);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 3)
        return s_usage();
    const char *cmd = argv[1], *path = argv[2];
    //  getopt starts after the command and the path.
    argv[2] = argv[0];
    if (strcmp(cmd, "write") == 0)
        return s_write(path, argc - 2, argv + 2);
    if (strcmp(cmd, "read") == 0)
        return s_read(path, argc - 2, argv + 2);
    return s_usage();
}
