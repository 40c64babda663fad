/*  quickstart_block.c - the quickstart's blocks as a per-block command

    examples/pipelines/quickstart.json runs the quickstart through `daisy
    run`: each block is one run of this program, which finds its block in
    the environment (DAISY_WRITE_OFFSET, DAISY_WRITE_SHAPE, ...) and reads
    and writes the Zarr arrays in OUTDIR through the array interface.

      quickstart_block create OUTDIR   a = 0..N-1, empty b and c (one block)
      quickstart_block square OUTDIR   b[block] = a[block]^2
      quickstart_block reduce OUTDIR   c[k] = sum of b over block k
      quickstart_block check OUTDIR    c against the closed form (exit 1 if not)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/daisy.h"

#define SHAPE 4096000
#define BLOCK 16384

static int
fail(const char *what, const char *msg)
{
    fprintf(stderr, "quickstart_block %s: %s\n", what, msg);
    return 1;
}

//  The block's write ROI from the environment.
static int
block_roi(daisy_roi_t *roi)
{
    const char *offset = getenv("DAISY_WRITE_OFFSET"), *shape = getenv("DAISY_WRITE_SHAPE");
    if (!offset || !shape)
        return -1;
    int64_t o = atoll(offset), s = atoll(shape);
    *roi = daisy_roi_make(1, &o, &s);
    return 0;
}

static daisy_array_t *
open_array(const char *outdir, const char *name, bool writable, daisy_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    return daisy_array_open(path, writable, err);
}

static int
create(const char *outdir)
{
    const char *names[3] = {"a", "b", "c"};
    int64_t shapes[3] = {SHAPE, SHAPE, 16}, chunks[3] = {BLOCK, BLOCK, 1};
    daisy_error_t err;
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", outdir, names[i]);
        daisy_array_spec_t spec;
        daisy_array_spec_init(&spec, DAISY_DTYPE_INT64, 1, &shapes[i], &chunks[i]);
        spec.compressor = i == 2 ? DAISY_COMPRESSOR_NONE : DAISY_COMPRESSOR_ZSTD;
        spec.overwrite = true;
        daisy_array_t *a = daisy_array_create(path, &spec, &err);
        if (!a)
            return fail("create", err.msg);
        if (i == 0) {
            int64_t *v = malloc(SHAPE * sizeof *v), zero = 0, n = SHAPE;
            for (int64_t k = 0; v && k < SHAPE; k++)
                v[k] = k;
            daisy_roi_t all = daisy_roi_make(1, &zero, &n);
            int rc = v ? daisy_array_write(a, &all, v, &err) : daisy_error_set(&err, "no memory");
            free(v);
            if (rc != 0) {
                daisy_array_destroy(&a);
                return fail("create", err.msg);
            }
        }
        daisy_array_destroy(&a);
    }
    return 0;
}

static int
square(const char *outdir)
{
    daisy_roi_t roi;
    daisy_error_t err;
    if (block_roi(&roi) != 0)
        return fail("square", "no DAISY_WRITE_OFFSET/SHAPE in the environment");
    static int64_t buf[SHAPE];
    daisy_array_t *a = open_array(outdir, "a", false, &err);
    daisy_array_t *b = a ? open_array(outdir, "b", true, &err) : NULL;
    int rc = b ? daisy_array_read(a, &roi, buf, &err) : -1;
    for (int64_t i = 0; rc == 0 && i < roi.shape[0]; i++)
        buf[i] *= buf[i];
    if (rc == 0)
        rc = daisy_array_write(b, &roi, buf, &err);
    daisy_array_destroy(&a);
    daisy_array_destroy(&b);
    return rc == 0 ? 0 : fail("square", err.msg);
}

static int
reduce(const char *outdir)
{
    daisy_roi_t roi;
    daisy_error_t err;
    if (block_roi(&roi) != 0)
        return fail("reduce", "no DAISY_WRITE_OFFSET/SHAPE in the environment");
    static int64_t buf[SHAPE];
    daisy_array_t *b = open_array(outdir, "b", false, &err);
    daisy_array_t *c = b ? open_array(outdir, "c", true, &err) : NULL;
    int rc = c ? daisy_array_read(b, &roi, buf, &err) : -1;
    int64_t sum = 0, index = roi.offset[0] / roi.shape[0], one = 1;
    for (int64_t i = 0; rc == 0 && i < roi.shape[0]; i++)
        sum += buf[i];
    daisy_roi_t out = daisy_roi_make(1, &index, &one);
    if (rc == 0)
        rc = daisy_array_write(c, &out, &sum, &err);
    daisy_array_destroy(&b);
    daisy_array_destroy(&c);
    return rc == 0 ? 0 : fail("reduce", err.msg);
}

static int
check(const char *outdir)
{
    daisy_error_t err;
    int64_t c[16], zero = 0, n = 16;
    daisy_roi_t all = daisy_roi_make(1, &zero, &n);
    daisy_array_t *arr = open_array(outdir, "c", false, &err);
    int rc = arr ? daisy_array_read(arr, &all, c, &err) : -1;
    daisy_array_destroy(&arr);
    if (rc != 0)
        return fail("check", err.msg);
    for (int k = 0; k < 16; k++) {
        __int128 h = (k + 1) * (int64_t)(SHAPE / 16), l = k * (int64_t)(SHAPE / 16);
        int64_t expect = (int64_t)((h * (h - 1) * (2 * h - 1) - l * (l - 1) * (2 * l - 1)) / 6);
        if (c[k] != expect) {
            fprintf(stderr, "quickstart_block check: c[%d] = %lld, expected %lld\n", k,
                    (long long)c[k], (long long)expect);
            return 1;
        }
    }
    printf("16 partial sums match the closed form\n");
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: quickstart_block create|square|reduce|check OUTDIR\n");
        return 2;
    }
    const char *step = argv[1], *outdir = argv[2];
    if (!strcmp(step, "create"))
        return create(outdir);
    if (!strcmp(step, "square"))
        return square(outdir);
    if (!strcmp(step, "reduce"))
        return reduce(outdir);
    if (!strcmp(step, "check"))
        return check(outdir);
    fprintf(stderr, "quickstart_block: unknown step '%s'\n", step);
    return 2;
}
