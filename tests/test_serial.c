/*  test_serial.c - the serial runner: results, order, failures, commands

    A two-task pipeline over a 1D volume in memory: `square` writes
    a[i] = i * i, `smooth` reads a[i-1..i+1] and writes their sum. The
    process functions check that everything they read was written, so a
    block run before its upstream blocks fails the test even when the
    numbers happen to agree.
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define N 200

typedef struct {
    int64_t a[N], b[N];
    char a_written[N], b_written[N];
    int calls_square, calls_smooth;
    uint64_t fail_id;          //  block id of `square` that always fails
    bool fail_says;            //  ... and says why
} volume_t;

static int
square(const daisy_block_t *blk, void *arg)
{
    volume_t *v = arg;
    v->calls_square++;
    if (blk->block_id == v->fail_id) {
        if (v->fail_says)
            daisy_block_set_error(blk, "a[%lld..] cannot be squared",
                                  (long long)blk->write_roi.offset[0]);
        return 7;
    }
    for (int64_t i = blk->write_roi.offset[0]; i < blk->write_roi.offset[0] + blk->write_roi.shape[0]; i++) {
        cr_assert_eq(v->a_written[i], 0, "a[%lld] written twice", (long long)i);
        v->a[i] = i * i;
        v->a_written[i] = 1;
    }
    return 0;
}

static int
smooth(const daisy_block_t *blk, void *arg)
{
    volume_t *v = arg;
    v->calls_smooth++;
    int64_t rb = blk->read_roi.offset[0], re = rb + blk->read_roi.shape[0];
    for (int64_t i = rb; i < re; i++)
        cr_assert(v->a_written[i], "a[%lld] read before it was written", (long long)i);
    for (int64_t i = blk->write_roi.offset[0]; i < blk->write_roi.offset[0] + blk->write_roi.shape[0]; i++) {
        v->b[i] = v->a[i - 1] + v->a[i] + v->a[i + 1];
        v->b_written[i] = 1;
    }
    return 0;
}

static daisy_pipeline_t *
make_pipeline(volume_t *v)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("square", 0, N, 8, 0, 8);
    daisy_task_set_read_write_conflict(t, false);
    daisy_task_set_process(t, square, v);
    daisy_pipeline_add(p, &t);
    t = tu_task_1d("smooth", 0, N, 7, 1, 5);
    daisy_task_set_fit(t, DAISY_FIT_SHRINK);
    daisy_task_add_upstream(t, "square");
    daisy_task_set_process(t, smooth, v);
    daisy_pipeline_add(p, &t);
    return p;
}

Test(serial, two_tasks_compute_the_expected_volume)
{
    volume_t *v = calloc(1, sizeof *v);
    v->fail_id = UINT64_MAX;
    daisy_pipeline_t *p = make_pipeline(v);
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_serial(p, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(daisy_summary_success(s));
    for (int64_t i = 1; i < N - 1; i++) {
        cr_assert(v->b_written[i], "b[%lld] never written", (long long)i);
        cr_assert_eq(v->b[i], (i - 1) * (i - 1) + i * i + (i + 1) * (i + 1));
    }
    cr_assert_eq(v->calls_square, N / 8);
    cr_assert_eq(daisy_summary_counts(s, 1)->completed, daisy_summary_counts(s, 1)->total);
    char *text = daisy_summary_format(s);
    cr_assert(strstr(text, "Task square:"));
    cr_assert(strstr(text, "num blocks : 25"));
    cr_assert(strstr(text, "all blocks processed successfully"));
    free(text);
    daisy_summary_destroy(&s);
    cr_assert_null(s);
    daisy_pipeline_destroy(&p);
    free(v);
}

Test(serial, a_failing_block_is_retried_then_orphans_its_downstream)
{
    volume_t *v = calloc(1, sizeof *v);
    v->fail_id = 3;   //  writes a[24..32), read by smooth blocks around it
    daisy_pipeline_t *p = make_pipeline(v);
    daisy_task_set_max_retries(daisy_pipeline_task(p, 0), 3);
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_serial(p, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert(!daisy_summary_success(s));
    const daisy_task_counts_t *c0 = daisy_summary_counts(s, 0), *c1 = daisy_summary_counts(s, 1);
    cr_assert_eq(c0->failed, 1);
    cr_assert_eq(c0->retries, 3);
    cr_assert_eq(v->calls_square, N / 8 + 3, "the failing block runs 1 + 3 times");
    //  smooth blocks write [1+5k, 6+5k) and read one more on each side;
    //  those reading any of a[24..32) are orphaned: k = 4..6.
    cr_assert_eq(c1->orphaned, 3);
    cr_assert_eq(c1->completed + c1->orphaned, c1->total);
    cr_assert_eq(daisy_summary_failure_count(s, 0), 1);
    const daisy_failure_t *f = daisy_summary_failure(s, 0, 0);
    cr_assert_eq(f->block_id, 3);
    cr_assert(strstr(f->error, "returned 7"));
    char *text = daisy_summary_format(s);
    cr_assert(strstr(text, "failed    \u2717: 1"));
    cr_assert(strstr(text, "orphaned  \u2205: 3"));
    cr_assert(strstr(text, "block 3 (attempt 4)"));
    free(text);
    daisy_summary_destroy(&s);
    daisy_pipeline_destroy(&p);
    free(v);
}

Test(serial, commands_see_the_block_in_their_environment)
{
    char dir[200];
    cr_assert_not_null(tu_scratch_dir(dir, sizeof dir, "serial"));
    char out[256], cmd[512];
    snprintf(out, sizeof out, "%s/blocks", dir);
    snprintf(cmd, sizeof cmd,
             "echo \"$DAISY_TASK_ID $DAISY_BLOCK_ID $DAISY_ATTEMPT $DAISY_READ_OFFSET "
             "$DAISY_READ_SHAPE $DAISY_WRITE_OFFSET $DAISY_WRITE_SHAPE\" >> %s; "
             "test \"$DAISY_BLOCK_ID\" != 2", out);
    daisy_pipeline_t *p = daisy_pipeline_new();
    int64_t to[2] = {0, 0}, ts[2] = {4, 6}, ro[2] = {0, 0}, rs[2] = {2, 3};
    daisy_task_t *t = daisy_task_new("cmd", daisy_roi_make(2, to, ts), daisy_roi_make(2, ro, rs),
                                     daisy_roi_make(2, ro, rs));
    daisy_task_set_command(t, cmd);
    daisy_task_set_max_retries(t, 1);
    daisy_pipeline_add(p, &t);
    char logs[300];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    daisy_serial_options_t opt = {.log_dir = logs};
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_serial(p, &opt, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(daisy_summary_counts(s, 0)->completed, 3);
    cr_assert_eq(daisy_summary_counts(s, 0)->failed, 1);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char line[256];
    int lines = 0, block2 = 0;
    bool saw_block4 = false;
    while (fgets(line, sizeof line, f)) {
        lines++;
        block2 += strncmp(line, "cmd 2 ", 6) == 0;
        //  Block id 4 is grid index (1, 1): offset (2, 3).
        saw_block4 |= strcmp(line, "cmd 4 0 2,3 2,3 2,3 2,3\n") == 0;
    }
    fclose(f);
    cr_assert_eq(lines, 5, "4 blocks, one of them twice");
    cr_assert_eq(block2, 2);
    cr_assert(saw_block4);
    const daisy_failure_t *fail = daisy_summary_failure(s, 0, 0);
    cr_assert(strstr(fail->error, "status 1"));
    cr_assert(strstr(fail->log, "logs/cmd"));
    daisy_summary_destroy(&s);
    daisy_pipeline_destroy(&p);
}

Test(serial, a_task_with_nothing_to_run_is_refused)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("idle", 0, 10, 1, 0, 1);
    daisy_pipeline_add(p, &t);
    daisy_error_t err;
    cr_assert_null(daisy_run_serial(p, NULL, &err));
    cr_assert(strstr(err.msg, "'idle'"));
    daisy_pipeline_destroy(&p);
}

//  The summary names each worker log once, however many failures it holds.
Test(serial, the_summary_names_each_failing_workers_log_once)
{
    daisy_error_t err;
    daisy_task_t *t = tu_task_1d("t", 0, 100, 10, 0, 10);
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, &err);
    cr_assert_not_null(g, "%s", err.msg);
    daisy_summary_t *s = daisy_summary_new(g);
    for (uint64_t b = 0; b < 6; b++)
        daisy_summary_add_failure(s, 0, b, 2, "exit status 1", b % 2 ? "w1" : "w0",
                                  b % 2 ? "logs/t/w1.err" : "logs/t/w0.err");
    daisy_summary_add_failure(s, 0, 9, 2, "exit status 1", "", "");
    char *text = daisy_summary_format(s);
    const char *logs = strstr(text, "See worker logs for details:");
    cr_assert_not_null(logs, "%s", text);
    int w0 = 0, w1 = 0;
    for (const char *q = logs; (q = strstr(q, "logs/t/w0.err")); q++)
        w0++;
    for (const char *q = logs; (q = strstr(q, "logs/t/w1.err")); q++)
        w1++;
    cr_assert_eq(w0, 1, "%s", text);
    cr_assert_eq(w1, 1, "%s", text);
    free(text);
    daisy_summary_destroy(&s);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A stop (a signal, in the program): the run ends after the block at hand.
//  One that completed counts; one that failed was the signal's doing and
//  is given back, neither failed nor retried.
static volatile sig_atomic_t stop_flag;
static int stop_after, stop_calls;
static int stop_rc;

static int
stopping(const daisy_block_t *blk, void *arg)
{
    (void)blk, (void)arg;
    if (++stop_calls == stop_after) {
        stop_flag = 1;
        return stop_rc;
    }
    return 0;
}

static daisy_summary_t *
run_stopped(int after, int rc)
{
    stop_flag = 0, stop_after = after, stop_calls = 0, stop_rc = rc;
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("s", 0, 10, 1, 0, 1);
    daisy_task_set_process(t, stopping, NULL);
    daisy_pipeline_add(p, &t);
    daisy_serial_options_t opt = {.stop = &stop_flag};
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_serial(p, &opt, &err);
    cr_assert_not_null(s, "%s", err.msg);
    daisy_pipeline_destroy(&p);
    return s;
}

Test(serial, a_stop_ends_the_run_after_the_block_at_hand)
{
    daisy_summary_t *s = run_stopped(3, 0);
    const daisy_task_counts_t *c = daisy_summary_counts(s, 0);
    cr_assert_eq(stop_calls, 3);
    cr_assert_eq(c->completed, 3, "the block at hand completed: %llu",
                 (unsigned long long)c->completed);
    cr_assert_eq(c->failed + c->retries + c->processing, 0);
    cr_assert_not(daisy_summary_success(s));
    daisy_summary_destroy(&s);
    s = run_stopped(3, 1);
    c = daisy_summary_counts(s, 0);
    cr_assert_eq(stop_calls, 3);
    cr_assert_eq(c->completed, 2);
    cr_assert_eq(c->failed + c->retries + c->processing, 0, "failed %llu, retries %llu",
                 (unsigned long long)c->failed, (unsigned long long)c->retries);
    cr_assert_eq(daisy_summary_failure_count(s, 0), 0);
    daisy_summary_destroy(&s);
}

Test(serial, a_process_function_says_why_its_block_failed)
{
    volume_t *v = calloc(1, sizeof *v);
    v->fail_id = 3;
    v->fail_says = true;
    daisy_pipeline_t *p = make_pipeline(v);
    daisy_error_t err;
    daisy_summary_t *s = daisy_run_serial(p, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    const daisy_failure_t *f = daisy_summary_failure(s, 0, 0);
    cr_assert_not_null(f);
    cr_assert_str_eq(f->error, "a[24..] cannot be squared");
    daisy_summary_destroy(&s);
    daisy_pipeline_destroy(&p);
    free(v);
}
