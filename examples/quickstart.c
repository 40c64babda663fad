/*  quickstart.c - daisy's quickstart, in C, on Zarr arrays

    The seed's two steps: square 4,096,000 int64 values in blocks of
    16,384 with 8 workers ("square": b = a * a), then sum blocks of 256,000
    squares into 16 partial sums ("sum_reduce", downstream of "square", so
    each reduce block waits for exactly the square blocks it reads: c[k] =
    sum of b over its block). Both tasks run through daisy_run_blockwise():
    an embedded broker and worker processes forked from this one, each
    reading and writing its blocks' ROIs through the array interface. The
    arrays stay in OUTDIR as Zarr arrays `a`, `b` and `c`, which Python's
    zarr opens as they are. The result is checked against the closed-form
    sum of squares; the program exits non-zero on any mismatch.

    Usage: quickstart [--serial] [OUTDIR]   (default OUTDIR: quickstart.zarr)
    --serial runs the same tasks through the serial runner instead.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/daisy.h"

#define SHAPE 4096000
#define BLOCK 16384
#define REDUCE (SHAPE / 16)

typedef struct {
    char path[3][4096];        //  a, b, c
    daisy_array_t *open[3];    //  this process's handles (workers open their own)
} arrays_t;

//  The array `which` of this process, opened on first use: forked workers
//  each get their own handle.
static daisy_array_t *
array(arrays_t *x, int which, daisy_error_t *err)
{
    if (!x->open[which])
        x->open[which] = daisy_array_open(x->path[which], true, err);
    return x->open[which];
}

static int
square(const daisy_block_t *block, void *arg)
{
    arrays_t *x = arg;
    static int64_t buf[BLOCK];
    daisy_error_t err;
    daisy_array_t *a = array(x, 0, &err), *b = a ? array(x, 1, &err) : NULL;
    if (!b || daisy_array_read(a, &block->read_roi, buf, &err) != 0) {
        fprintf(stderr, "square: %s\n", err.msg);
        return 1;
    }
    for (int64_t i = 0; i < block->write_roi.shape[0]; i++)
        buf[i] *= buf[i];
    if (daisy_array_write(b, &block->write_roi, buf, &err) != 0) {
        fprintf(stderr, "square: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int
sum_reduce(const daisy_block_t *block, void *arg)
{
    arrays_t *x = arg;
    static int64_t buf[REDUCE];
    daisy_error_t err;
    daisy_array_t *b = array(x, 1, &err), *c = b ? array(x, 2, &err) : NULL;
    if (!c || daisy_array_read(b, &block->write_roi, buf, &err) != 0) {
        fprintf(stderr, "sum_reduce: %s\n", err.msg);
        return 1;
    }
    int64_t sum = 0;
    for (int64_t i = 0; i < block->write_roi.shape[0]; i++)
        sum += buf[i];
    int64_t index = block->write_roi.offset[0] / block->write_roi.shape[0], one = 1;
    daisy_roi_t out = daisy_roi_make(1, &index, &one);
    if (daisy_array_write(c, &out, &sum, &err) != 0) {
        fprintf(stderr, "sum_reduce: %s\n", err.msg);
        return 1;
    }
    return 0;
}

//  a = 0, 1, ..., SHAPE - 1; b empty (zstd); c of 16 one-element chunks so
//  that reduce blocks write chunks of their own.
static int
create_arrays(arrays_t *x, const char *outdir, daisy_error_t *err)
{
    const char *names[3] = {"a", "b", "c"};
    int64_t shapes[3] = {SHAPE, SHAPE, 16}, chunks[3] = {BLOCK, BLOCK, 1};
    for (int i = 0; i < 3; i++) {
        snprintf(x->path[i], sizeof x->path[i], "%s/%s", outdir, names[i]);
        daisy_array_spec_t spec;
        daisy_array_spec_init(&spec, DAISY_DTYPE_INT64, 1, &shapes[i], &chunks[i]);
        spec.compressor = i == 2 ? DAISY_COMPRESSOR_NONE : DAISY_COMPRESSOR_ZSTD;
        spec.overwrite = true;
        daisy_array_t *arr = daisy_array_create(x->path[i], &spec, err);
        if (!arr)
            return -1;
        daisy_array_destroy(&arr);
    }
    int64_t *values = malloc(SHAPE * sizeof *values);
    if (!values)
        return daisy_error_set(err, "out of memory");
    for (int64_t i = 0; i < SHAPE; i++)
        values[i] = i;
    int64_t zero = 0, shape = SHAPE;
    daisy_roi_t all = daisy_roi_make(1, &zero, &shape);
    daisy_array_t *a = daisy_array_open(x->path[0], true, err);
    int rc = a ? daisy_array_write(a, &all, values, err) : -1;
    daisy_array_destroy(&a);
    free(values);
    return rc;
}

static daisy_task_t *
task_1d(const char *id, int64_t block, daisy_process_fn *fn, void *arg)
{
    int64_t zero = 0, shape = SHAPE;
    daisy_roi_t total = daisy_roi_make(1, &zero, &shape);
    daisy_roi_t roi = daisy_roi_make(1, &zero, &block);
    daisy_task_t *task = daisy_task_new(id, total, roi, roi);
    daisy_task_set_process(task, fn, arg);
    daisy_task_set_workers(task, 8);
    return task;
}

//  Sum of i^2 for i in [lo, hi): n(n-1)(2n-1)/6 evaluated at both ends.
static int64_t
sum_of_squares(int64_t lo, int64_t hi)
{
    __int128 h = hi, l = lo;
    return (int64_t)((h * (h - 1) * (2 * h - 1) - l * (l - 1) * (2 * l - 1)) / 6);
}

//  Compare c with the closed form; the number of mismatches, or -1.
static int
check_result(arrays_t *x, int64_t *c, daisy_error_t *err)
{
    int64_t zero = 0, n = 16;
    daisy_roi_t all = daisy_roi_make(1, &zero, &n);
    daisy_array_t *arr = daisy_array_open(x->path[2], false, err);
    int rc = arr ? daisy_array_read(arr, &all, c, err) : -1;
    daisy_array_destroy(&arr);
    if (rc != 0)
        return -1;
    int mismatches = 0;
    for (int k = 0; k < 16; k++) {
        int64_t expect = sum_of_squares((int64_t)k * REDUCE, (int64_t)(k + 1) * REDUCE);
        if (c[k] != expect) {
            fprintf(stderr, "quickstart: c[%d] = %lld, expected %lld\n", k,
                    (long long)c[k], (long long)expect);
            mismatches++;
        }
    }
    return mismatches;
}

int
main(int argc, char **argv)
{
    bool serial = argc > 1 && !strcmp(argv[1], "--serial");
    const char *outdir = argc > 1 + serial ? argv[1 + serial] : "quickstart.zarr";
    if (argc > 2 + serial || (argc > 1 && !strcmp(argv[1], "--help"))) {
        fprintf(stderr, "usage: quickstart [--serial] [OUTDIR]\n");
        return 2;
    }
    static arrays_t x;
    daisy_error_t err;
    if (create_arrays(&x, outdir, &err) != 0) {
        fprintf(stderr, "quickstart: %s\n", err.msg);
        return 4;
    }
    daisy_pipeline_t *pipeline = daisy_pipeline_new();
    daisy_task_t *task = task_1d("square", BLOCK, square, &x);
    daisy_pipeline_add(pipeline, &task);
    task = task_1d("sum_reduce", REDUCE, sum_reduce, &x);
    daisy_task_add_upstream(task, "square");
    daisy_pipeline_add(pipeline, &task);

    daisy_summary_t *summary = serial ? daisy_run_serial(pipeline, NULL, &err)
                                      : daisy_run_blockwise(pipeline, NULL, &err);
    if (!summary) {
        fprintf(stderr, "quickstart: %s\n", err.msg);
        return 3;
    }
    char *text = daisy_summary_format(summary);
    fputs(text, stdout);
    free(text);
    int64_t c[16];
    int mismatches = check_result(&x, c, &err);
    if (mismatches < 0)
        fprintf(stderr, "quickstart: %s\n", err.msg);
    else
        printf("\nc = [%lld, %lld, ..., %lld] in %s\n", (long long)c[0], (long long)c[1],
               (long long)c[15], x.path[2]);
    bool ok = daisy_summary_success(summary) && mismatches == 0;
    printf("quickstart: %s\n", ok ? "16 partial sums match the closed form" : "FAILED");
    daisy_summary_destroy(&summary);
    daisy_pipeline_destroy(&pipeline);
    for (int i = 0; i < 3; i++)
        daisy_array_destroy(&x.open[i]);
    return ok ? 0 : 1;
}
