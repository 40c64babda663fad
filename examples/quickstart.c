/*  quickstart.c - daisy's quickstart, in C

    The seed's two steps: square 4,096,000 int64 values in blocks of
    16,384 with 8 workers ("square"), then sum blocks of 256,000 squares
    into 16 partial sums ("sum_reduce", downstream of "square", so each
    reduce block waits for exactly the square blocks it reads). Both tasks
    run through daisy_run_blockwise(): an embedded broker and worker
    processes forked from this one. The arrays are shared memory mapped
    before the fork, so the workers' writes land where this process reads
    them. The result is checked against the closed-form sum of squares and
    the program exits non-zero on any mismatch.

    Usage: quickstart [--serial]   (--serial: the serial runner instead)
    Exit status 0 when every block completed and the sums match.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "daisy/daisy.h"

#define SHAPE 4096000
#define BLOCK 16384
#define REDUCE (SHAPE / 16)

typedef struct {
    int64_t *a, *b, *c;
} arrays_t;

static int
square(const daisy_block_t *block, void *arg)
{
    arrays_t *x = arg;
    int64_t begin = block->write_roi.offset[0], end = begin + block->write_roi.shape[0];
    for (int64_t i = begin; i < end; i++)
        x->b[i] = x->a[i] * x->a[i];
    return 0;
}

static int
sum_reduce(const daisy_block_t *block, void *arg)
{
    arrays_t *x = arg;
    int64_t begin = block->write_roi.offset[0], end = begin + block->write_roi.shape[0];
    int64_t sum = 0;
    for (int64_t i = begin; i < end; i++)
        sum += x->b[i];
    x->c[begin / block->write_roi.shape[0]] = sum;
    return 0;
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

//  Memory that forked workers share with this process.
static int64_t *
shared(size_t n)
{
    void *p = mmap(NULL, n * sizeof(int64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int
main(int argc, char **argv)
{
    bool serial = argc > 1 && !strcmp(argv[1], "--serial");
    arrays_t x = {.a = shared(SHAPE), .b = shared(SHAPE), .c = shared(16)};
    if (!x.a || !x.b || !x.c)
        return 4;
    for (int64_t i = 0; i < SHAPE; i++)
        x.a[i] = i;

    daisy_pipeline_t *pipeline = daisy_pipeline_new();
    daisy_task_t *task = task_1d("square", BLOCK, square, &x);
    daisy_pipeline_add(pipeline, &task);
    task = task_1d("sum_reduce", REDUCE, sum_reduce, &x);
    daisy_task_add_upstream(task, "square");
    daisy_pipeline_add(pipeline, &task);

    daisy_error_t err;
    daisy_summary_t *summary = serial ? daisy_run_serial(pipeline, NULL, &err)
                                      : daisy_run_blockwise(pipeline, NULL, &err);
    if (!summary) {
        fprintf(stderr, "quickstart: %s\n", err.msg);
        return 3;
    }
    char *text = daisy_summary_format(summary);
    fputs(text, stdout);
    free(text);
    int mismatches = 0;
    for (int k = 0; k < 16; k++) {
        int64_t expect = sum_of_squares((int64_t)k * REDUCE, (int64_t)(k + 1) * REDUCE);
        if (x.c[k] != expect) {
            fprintf(stderr, "quickstart: c[%d] = %lld, expected %lld\n", k,
                    (long long)x.c[k], (long long)expect);
            mismatches++;
        }
    }
    printf("\nc = [%lld, %lld, ..., %lld]\n", (long long)x.c[0], (long long)x.c[1],
           (long long)x.c[15]);
    bool ok = daisy_summary_success(summary) && mismatches == 0;
    printf("quickstart: %s\n", ok ? "16 partial sums match the closed form"
                                  : "FAILED");
    daisy_summary_destroy(&summary);
    daisy_pipeline_destroy(&pipeline);
    munmap(x.a, SHAPE * sizeof(int64_t));
    munmap(x.b, SHAPE * sizeof(int64_t));
    munmap(x.c, 16 * sizeof(int64_t));
    return ok ? 0 : 1;
}
