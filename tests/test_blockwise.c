/*  test_blockwise.c - run_blockwise: broker here, real worker processes

    Random pipelines run on forked workers over loopback TCP. The process
    function records, in memory shared with this process, when each block
    started and ended (from one shared sequence counter): every block must
    run exactly once, after all its upstream blocks ended, with the same
    ROIs the graph gives.
*/
#include <criterion/criterion.h>
#include <unistd.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "testutil.h"

typedef struct {
    _Atomic uint64_t seq;
    _Atomic uint64_t runs[8][512];
    uint64_t start[8][512];
    uint64_t end[8][512];
    int64_t write_begin[8][512];
    uint64_t fail_task, fail_id, fail_times;
    _Atomic uint64_t failures;
} shared_t;

static shared_t *sh;
static daisy_graph_t *graph;   //  built before the fork, read by the workers

static int
record(const daisy_block_t *b, void *arg)
{
    (void)arg;
    daisy_block_ref_t ref;
    if (daisy_graph_find(graph, b->task, b->block_id, &ref) != 0)
        return 9;
    if (sh->fail_id == b->block_id && sh->fail_task == b->task
        && atomic_fetch_add(&sh->failures, 1) < sh->fail_times) {
        daisy_block_set_error(b, "block %llu of %s fails on purpose",
                              (unsigned long long)b->block_id, b->task_id);
        return 1;
    }
    sh->start[b->task][ref.index] = atomic_fetch_add(&sh->seq, 1) + 1;
    atomic_fetch_add(&sh->runs[b->task][ref.index], 1);
    sh->write_begin[b->task][ref.index] = b->write_roi.offset[0];
    sh->end[b->task][ref.index] = atomic_fetch_add(&sh->seq, 1) + 1;
    return 0;
}

static shared_t *
shared_new(void)
{
    void *p = mmap(NULL, sizeof(shared_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, sizeof(shared_t));
    ((shared_t *)p)->fail_id = UINT64_MAX;
    return p;
}

Test(blockwise, random_pipelines_run_every_block_once_in_order, .timeout = 240)
{
    uint64_t rng = 31;
    sh = shared_new();
    char logs[256], tmp[] = "/tmp/daisy-blockwise-tmp-XXXXXX";
    cr_assert_not_null(tu_scratch_dir(logs, sizeof logs, "blockwise"));
    //  The broker's socket lives in a private directory under $TMPDIR for
    //  the run, gone after it.
    cr_assert_not_null(mkdtemp(tmp));
    setenv("TMPDIR", tmp, 1);
    for (int round = 0; round < 6; round++) {
        memset(sh, 0, sizeof *sh);
        sh->fail_id = UINT64_MAX;
        daisy_pipeline_t *p = tu_random_pipeline(&rng, 1 + round % 3, 3, 4);
        for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
            daisy_task_set_process(daisy_pipeline_task(p, t), record, NULL);
            daisy_task_set_workers(daisy_pipeline_task(p, t), 2);
        }
        daisy_error_t err;
        graph = daisy_graph_new(p, &err);
        cr_assert_not_null(graph, "%s", err.msg);
        for (uint32_t t = 0; t < daisy_graph_task_count(graph); t++)
            cr_assert_leq(daisy_graph_block_count(graph, t), 512);
        daisy_blockwise_options_t opt = {.log_dir = logs, .prefetch = (uint32_t)(1 + round % 4)};
        daisy_summary_t *s = daisy_run_blockwise(p, &opt, &err);
        cr_assert_not_null(s, "%s", err.msg);
        cr_assert(daisy_summary_success(s), "round %d", round);
        daisy_block_ref_t up[4096];
        for (uint32_t t = 0; t < daisy_graph_task_count(graph); t++)
            for (uint64_t i = 0; i < daisy_graph_block_count(graph, t); i++) {
                cr_assert_eq(sh->runs[t][i], 1, "round %d block %u/%llu ran %llu times", round,
                             t, (unsigned long long)i, (unsigned long long)sh->runs[t][i]);
                daisy_block_t b;
                daisy_graph_block(graph, (daisy_block_ref_t){t, i}, &b);
                cr_assert_eq(sh->write_begin[t][i], b.write_roi.offset[0]);
                size_t n = daisy_graph_upstream(graph, (daisy_block_ref_t){t, i}, up, 4096);
                for (size_t k = 0; k < n; k++)
                    cr_assert_lt(sh->end[up[k].task][up[k].index], sh->start[t][i],
                                 "round %d: block %u/%llu started before an upstream block ended",
                                 round, t, (unsigned long long)i);
            }
        daisy_summary_destroy(&s);
        daisy_graph_destroy(&graph);
        daisy_pipeline_destroy(&p);
        cr_assert_eq(rmdir(tmp), 0, "round %d: %s is not empty after the run", round, tmp);
        cr_assert_not_null(mkdtemp(strcpy(tmp, "/tmp/daisy-blockwise-tmp-XXXXXX")));
        setenv("TMPDIR", tmp, 1);
    }
    rmdir(tmp);
    unsetenv("TMPDIR");
    munmap(sh, sizeof *sh);
}

Test(blockwise, failures_are_retried_then_orphan_downstream, .timeout = 120)
{
    sh = shared_new();
    char logs[256];
    cr_assert_not_null(tu_scratch_dir(logs, sizeof logs, "blockwise"));
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *a = tu_task_1d("a", 0, 20, 1, 0, 1);
    daisy_task_set_read_write_conflict(a, false);
    daisy_task_set_max_retries(a, 2);
    daisy_task_set_workers(a, 2);
    daisy_task_set_process(a, record, NULL);
    daisy_task_t *b = tu_task_1d("b", 0, 20, 3, 1, 1);
    daisy_task_add_upstream(b, "a");
    daisy_task_set_read_write_conflict(b, false);
    daisy_task_set_process(b, record, NULL);
    daisy_pipeline_add(p, &a);
    daisy_pipeline_add(p, &b);
    graph = daisy_graph_new(p, NULL);
    sh->fail_task = 0;
    sh->fail_id = 7;
    sh->fail_times = 1000;   //  always
    daisy_blockwise_options_t opt = {.log_dir = logs};
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_blockwise(p, &opt, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(!daisy_summary_success(s));
    cr_assert_eq(daisy_summary_counts(s, 0)->failed, 1);
    cr_assert_eq(daisy_summary_counts(s, 0)->retries, 2);
    cr_assert_eq(sh->failures, 3, "1 + max_retries attempts");
    //  b's blocks write [1+k, 2+k) and read [k, k+3): those reading a[7]
    //  are k = 5, 6, 7.
    cr_assert_eq(daisy_summary_counts(s, 1)->orphaned, 3);
    cr_assert_eq(daisy_summary_counts(s, 1)->completed, 15);
    const daisy_failure_t *f = daisy_summary_failure(s, 0, 0);
    cr_assert_not_null(f);
    cr_assert_str_eq(f->error, "block 7 of a fails on purpose", "the function's own words");
    cr_assert(strstr(f->log, logs), "%s", f->log);
    daisy_summary_destroy(&s);
    daisy_graph_destroy(&graph);
    daisy_pipeline_destroy(&p);
    munmap(sh, sizeof *sh);
}

//  Completion checks run on the workers: a rerun of a finished pipeline of
//  10^5 blocks with its check on reports every block skipped, and no block
//  is processed again.
#define CHECKED 100000

typedef struct {
    _Atomic uint64_t processed;
    unsigned char done[CHECKED];
} check_shared_t;

static check_shared_t *csh;

static int
mark_done(const daisy_block_t *b, void *arg)
{
    (void)arg;
    csh->done[b->write_roi.offset[0]] = 1;
    atomic_fetch_add(&csh->processed, 1);
    return 0;
}

static bool
is_done(const daisy_block_t *b, void *arg)
{
    (void)arg;
    return csh->done[b->write_roi.offset[0]] != 0;
}

Test(blockwise, checks_on_workers_skip_a_finished_run, .timeout = 120)
{
    csh = mmap(NULL, sizeof *csh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(csh, MAP_FAILED);
    char logs[256];
    cr_assert_not_null(tu_scratch_dir(logs, sizeof logs, "blockwise"));
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, CHECKED, 1, 0, 1);
    daisy_task_set_read_write_conflict(t, false);
    daisy_task_set_workers(t, 2);
    daisy_task_set_process(t, mark_done, NULL);
    daisy_task_set_check(t, is_done, NULL);
    daisy_pipeline_add(p, &t);
    daisy_blockwise_options_t opt = {.log_dir = logs, .prefetch = 16};
    for (int run = 0; run < 2; run++) {
        atomic_store(&csh->processed, 0);
        daisy_error_t err;
        daisy_summary_t *s = daisy_run_blockwise(p, &opt, &err);
        cr_assert_not_null(s, "%s", err.msg);
        cr_assert(daisy_summary_success(s));
        const daisy_task_counts_t *c = daisy_summary_counts(s, 0);
        cr_assert_eq(c->completed, CHECKED);
        cr_assert_eq(c->skipped, run == 0 ? 0 : CHECKED, "run %d", run);
        cr_assert_eq(csh->processed, run == 0 ? CHECKED : 0, "run %d", run);
        daisy_summary_destroy(&s);
    }
    daisy_pipeline_destroy(&p);
    munmap(csh, sizeof *csh);
}
