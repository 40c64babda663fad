/*  testutil.h - building tasks and random pipelines for the test suites

    Random pipelines cover what hand-written cases miss: 1-4 dimensions,
    every fit, with and without conflicts, contexts on either side, negative
    offsets, chains and diamonds of tasks. A fixed seed per test keeps
    failures reproducible.
*/
#ifndef DAISY_TESTUTIL_H
#define DAISY_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daisy/daisy.h"

//  CLOCK_MONOTONIC in milliseconds, for the deadlines of waits.
static inline int64_t
tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline uint64_t
tu_rand(uint64_t *state)
{
    //  xorshift64*: good enough and the same on every platform.
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static inline int64_t
tu_range(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tu_rand(state) % (uint64_t)(hi - lo + 1));
}

static inline daisy_roi_t
tu_roi(int dims, const int64_t *offset, const int64_t *shape)
{
    return daisy_roi_make(dims, offset, shape);
}

//  A 1D task: total [total_begin, total_end), read [0, read), write
//  [ctx, ctx + write).
static inline daisy_task_t *
tu_task_1d(const char *id, int64_t total_begin, int64_t total_end, int64_t read,
           int64_t ctx, int64_t write)
{
    int64_t to = total_begin, ts = total_end - total_begin, ro = 0, wo = ctx;
    return daisy_task_new(id, tu_roi(1, &to, &ts), tu_roi(1, &ro, &read),
                          tu_roi(1, &wo, &write));
}

//  A random task of `dims` dimensions that has at least one block.
static inline daisy_task_t *
tu_random_task(uint64_t *rng, const char *id, int dims, int64_t max_blocks_per_dim)
{
    int64_t to[DAISY_MAX_DIMS], ts[DAISY_MAX_DIMS], ro[DAISY_MAX_DIMS], rs[DAISY_MAX_DIMS];
    int64_t wo[DAISY_MAX_DIMS], ws[DAISY_MAX_DIMS];
    for (int d = 0; d < dims; d++) {
        ws[d] = tu_range(rng, 1, 5);
        int64_t lo = tu_range(rng, 0, 4), hi = tu_range(rng, 0, 4);
        ro[d] = tu_range(rng, -3, 3);
        rs[d] = lo + ws[d] + hi;
        wo[d] = ro[d] + lo;
        to[d] = tu_range(rng, -20, 20);
        ts[d] = rs[d] + tu_range(rng, 0, ws[d] * max_blocks_per_dim);
    }
    daisy_task_t *t = daisy_task_new(id, tu_roi(dims, to, ts), tu_roi(dims, ro, rs),
                                     tu_roi(dims, wo, ws));
    daisy_task_set_fit(t, (daisy_fit_t)tu_range(rng, 0, 2));
    daisy_task_set_read_write_conflict(t, tu_range(rng, 0, 3) != 0);
    return t;
}

//  1-`max_tasks` random tasks in `dims` dimensions added to p; each task
//  after the first names 0-2 earlier ones as upstream.
static inline daisy_pipeline_t *
tu_random_tasks(daisy_pipeline_t *p, uint64_t *rng, int dims, int max_tasks,
                int64_t max_blocks_per_dim)
{
    int ntasks = (int)tu_range(rng, 1, max_tasks);
    for (int i = 0; i < ntasks; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%d", i);
        daisy_task_t *t = tu_random_task(rng, id, dims, max_blocks_per_dim);
        for (int u = 0; u < i; u++)
            if (tu_range(rng, 0, 2) == 0 || (u == i - 1 && tu_range(rng, 0, 1))) {
                char up[16];
                snprintf(up, sizeof up, "t%d", u);
                daisy_task_add_upstream(t, up);
            }
        daisy_pipeline_add(p, &t);
    }
    return p;
}

//  A random pipeline of those tasks.
static inline daisy_pipeline_t *
tu_random_pipeline(uint64_t *rng, int dims, int max_tasks, int64_t max_blocks_per_dim)
{
    return tu_random_tasks(daisy_pipeline_new(), rng, dims, max_tasks, max_blocks_per_dim);
}

//  A directory tree removed, deepest first (test scratch directories).
static inline int
tu_rm_entry(const char *file, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(file) : unlink(file);
}

static inline void
tu_rmtree(const char *dir)
{
    nftw(dir, tu_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  Scratch directories of the test process, removed when it exits,
//  whatever became of the test (Criterion runs each test in a process of
//  its own). Processes forked from it (workers) inherit the exit handler:
//  only the process that made them removes them.
#define TU_SCRATCH_MAX 16
static char tu_scratch[TU_SCRATCH_MAX][256];
static pid_t tu_scratch_owner;

static inline void
tu_scratch_remove(void)
{
    for (int i = 0; i < TU_SCRATCH_MAX && getpid() == tu_scratch_owner; i++)
        if (tu_scratch[i][0])
            tu_rmtree(tu_scratch[i]);
}

//  Remove a scratch directory now, and free its place.
static inline void
tu_scratch_done(const char *dir)
{
    for (int i = 0; i < TU_SCRATCH_MAX; i++)
        if (tu_scratch[i][0] && strcmp(tu_scratch[i], dir) == 0) {
            tu_rmtree(tu_scratch[i]);
            tu_scratch[i][0] = '\0';
        }
}

//  Make $TMPDIR/daisy-NAME-XXXXXX (TMPDIR default /tmp) into buf; NULL
//  when it cannot be made.
static inline char *
tu_scratch_dir(char *buf, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/daisy-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
    if (!mkdtemp(buf))
        return NULL;
    if (tu_scratch_owner != getpid()) {
        tu_scratch_owner = getpid();
        for (int i = 0; i < TU_SCRATCH_MAX; i++)
            tu_scratch[i][0] = '\0';
        atexit(tu_scratch_remove);
    }
    for (int i = 0; i < TU_SCRATCH_MAX; i++)
        if (!tu_scratch[i][0]) {
            snprintf(tu_scratch[i], sizeof tu_scratch[i], "%s", buf);
            break;
        }
    return buf;
}

#endif
