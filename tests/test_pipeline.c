/*  test_pipeline.c - tasks, pipelines, validation and pipeline files

    Validation and file loading are what users meet first when they get
    something wrong, so most tests here are refusals: each asserts that the
    message names the task and the field (and for files, starts with the
    file's path). The bad files live in tests/data/bad, one defect each,
    with the expected text in the table below. The reference plans (every
    case Python daisy was run on) must all load.
*/
#include <criterion/criterion.h>

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daisy/daisy.h"
#include "daisy/pipeline.h"

#ifndef DAISY_TEST_DATA
#define DAISY_TEST_DATA "tests/data"
#endif

#ifndef DAISY_REFERENCE_PLANS
#define DAISY_REFERENCE_PLANS "/work/shared/reference/plans"
#endif

//  --------------------------------------------------------------------------
//  Helpers

static daisy_roi_t
roi2(int64_t o0, int64_t o1, int64_t s0, int64_t s1)
{
    int64_t offset[] = {o0, o1}, shape[] = {s0, s1};
    return daisy_roi_make(2, offset, shape);
}

//  A valid 2D task: total [0,100)^2, read [0,20)^2, write [5,15)^2.
static daisy_task_t *
make_task(const char *id)
{
    return daisy_task_new(id, roi2(0, 0, 100, 100), roi2(0, 0, 20, 20),
                          roi2(5, 5, 10, 10));
}

static daisy_task_t *
make_task_rois(const char *id, daisy_roi_t total, daisy_roi_t read,
               daisy_roi_t write)
{
    return daisy_task_new(id, total, read, write);
}

static daisy_pipeline_t *
pipeline_of(daisy_task_t *task)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &task);
    return p;
}

static void
add(daisy_pipeline_t *p, const char *id, const char *upstream)
{
    daisy_task_t *t = make_task(id);
    if (upstream)
        daisy_task_add_upstream(t, upstream);
    daisy_pipeline_add(p, &t);
}

//  Validation fails with a message containing every one of the strings.
static void
expect_invalid(daisy_pipeline_t *p, const char *a, const char *b)
{
    daisy_error_t err = {0};
    cr_assert_eq(daisy_pipeline_validate(p, &err), -1,
                 "expected a refusal mentioning %s and %s", a, b);
    cr_assert(strstr(err.msg, a), "'%s' not in: %s", a, err.msg);
    cr_assert(!b || strstr(err.msg, b), "'%s' not in: %s", b, err.msg);
}

//  Validation of a one-task pipeline fails naming task 'a' and `field`.
static void
expect_task_invalid(daisy_task_t *task, const char *field)
{
    daisy_pipeline_t *p = pipeline_of(task);
    expect_invalid(p, "task 'a'", field);
    daisy_pipeline_destroy(&p);
}

static void
expect_valid(daisy_pipeline_t *p)
{
    daisy_error_t err = {0};
    int rc = daisy_pipeline_validate(p, &err);
    cr_assert_eq(rc, 0, "refused: %s", err.msg);
}

//  --------------------------------------------------------------------------
//  Tasks

Test(pipeline, task_defaults)
{
    char id[] = "extract";
    daisy_task_t *t = make_task(id);
    id[0] = 'X';    //  the task keeps its own copy
    cr_assert_str_eq(daisy_task_id(t), "extract");
    daisy_roi_t total = daisy_task_total_roi(t), read = daisy_task_read_roi(t);
    daisy_roi_t write = daisy_task_write_roi(t), want = roi2(5, 5, 10, 10);
    cr_assert_eq(total.dims, 2);
    cr_assert_eq(total.shape[1], 100);
    cr_assert_eq(read.shape[0], 20);
    cr_assert(daisy_roi_equal(&write, &want));
    cr_assert(daisy_task_read_write_conflict(t));
    cr_assert_eq(daisy_task_fit(t), DAISY_FIT_VALID);
    cr_assert_eq(daisy_task_max_retries(t), 2);
    cr_assert_eq(daisy_task_timeout(t), 0.0);
    cr_assert_eq(daisy_task_workers(t), 1);
    cr_assert_eq(daisy_task_upstream_count(t), 0);
    cr_assert_null(daisy_task_upstream(t, 0));
    cr_assert_null(daisy_task_command(t));
    cr_assert_null(daisy_task_worker(t));
    cr_assert_null(daisy_task_check_command(t));
    void *arg = &arg;
    cr_assert_null(daisy_task_process(t, &arg));
    cr_assert_null(arg);
    cr_assert_null(daisy_task_check(t, NULL));
    daisy_task_destroy(&t);
}

static int
process_block(const daisy_block_t *block, void *arg)
{
    (void) block, (void) arg;
    return 0;
}

static bool
check_block(const daisy_block_t *block, void *arg)
{
    (void) block, (void) arg;
    return false;
}

Test(pipeline, task_setters)
{
    daisy_task_t *t = make_task("a");
    daisy_task_set_read_write_conflict(t, false);
    daisy_task_set_fit(t, DAISY_FIT_SHRINK);
    daisy_task_set_max_retries(t, 0);
    daisy_task_set_timeout(t, 2.5);
    daisy_task_set_workers(t, 16);
    cr_assert(!daisy_task_read_write_conflict(t));
    cr_assert_eq(daisy_task_fit(t), DAISY_FIT_SHRINK);
    cr_assert_eq(daisy_task_max_retries(t), 0);
    cr_assert_eq(daisy_task_timeout(t), 2.5);
    cr_assert_eq(daisy_task_workers(t), 16);

    char name[] = "cmd";
    daisy_task_set_command(t, name);
    daisy_task_set_worker(t, "./w");
    daisy_task_set_check_command(t, "test -e x");
    name[0] = 'X';
    cr_assert_str_eq(daisy_task_command(t), "cmd");
    cr_assert_str_eq(daisy_task_worker(t), "./w");
    cr_assert_str_eq(daisy_task_check_command(t), "test -e x");
    daisy_task_set_command(t, "again");
    cr_assert_str_eq(daisy_task_command(t), "again");
    daisy_task_set_command(t, NULL);
    daisy_task_set_worker(t, NULL);
    daisy_task_set_check_command(t, NULL);
    cr_assert_null(daisy_task_command(t));
    cr_assert_null(daisy_task_worker(t));
    cr_assert_null(daisy_task_check_command(t));

    int token = 7;
    void *arg = NULL;
    daisy_task_set_process(t, process_block, &token);
    daisy_task_set_check(t, check_block, &token);
    cr_assert_eq(daisy_task_process(t, &arg), process_block);
    cr_assert_eq(arg, &token);
    arg = NULL;
    cr_assert_eq(daisy_task_check(t, &arg), check_block);
    cr_assert_eq(arg, &token);
    daisy_task_destroy(&t);
}

//  The broker and the serial runner both apply this conversion: a
//  fraction of a millisecond must not become "no limit".
Test(pipeline, timeout_in_milliseconds)
{
    daisy_task_t *t = make_task("a");
    cr_assert_eq(daisy_task_timeout_ms(t), 0u);
    daisy_task_set_timeout(t, 2.5);
    cr_assert_eq(daisy_task_timeout_ms(t), 2500u);
    daisy_task_set_timeout(t, 0.0004);
    cr_assert_eq(daisy_task_timeout_ms(t), 1u);
    daisy_task_set_timeout(t, 1.0001);
    cr_assert_eq(daisy_task_timeout_ms(t), 1001u);
    daisy_task_set_timeout(t, 1e12);
    cr_assert_eq(daisy_task_timeout_ms(t), UINT32_MAX);
    daisy_task_set_timeout(t, -1);
    cr_assert_eq(daisy_task_timeout_ms(t), 0u);
    daisy_task_set_timeout(t, NAN);
    cr_assert_eq(daisy_task_timeout_ms(t), 0u);
    daisy_task_destroy(&t);
}

Test(pipeline, task_upstream_kept_in_order)
{
    daisy_task_t *t = make_task("a");
    const char *ids[] = {"z", "b", "m", "a1", "c", "q"};   //  past growth
    for (size_t i = 0; i < 6; i++)
        daisy_task_add_upstream(t, ids[i]);
    cr_assert_eq(daisy_task_upstream_count(t), 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_str_eq(daisy_task_upstream(t, i), ids[i]);
    cr_assert_null(daisy_task_upstream(t, 6));
    daisy_task_destroy(&t);
}

//  Ids as file names: one component each, never a place of its own, and
//  distinct ids never the same name.
Test(pipeline, ids_as_file_names)
{
    const char *cases[][2] = {
        {"extract", "extract"}, {"a.b-c_d", "a.b-c_d"}, {"a/b", "a%2Fb"},
        {"../../x", "..%2F..%2Fx"}, {".", "%2E"}, {"..", "%2E%2E"}, {"%2E", "%252E"},
        {"host:1:ab", "host%3A1%3Aab"}, {"\xff ", "%FF%20"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        daisy_file_name(cases[i][0], out, sizeof out);
        cr_assert_str_eq(out, cases[i][1], "'%s'", cases[i][0]);
    }
    daisy_file_name("a/b", out, 5);
    cr_assert_str_eq(out, "a%2F", "cut where the next piece does not fit");
    daisy_file_name("a/b", out, 4);
    cr_assert_str_eq(out, "a", "never half an escape");
}

Test(pipeline, fit_names)
{
    daisy_fit_t fit = DAISY_FIT_VALID;
    cr_assert_str_eq(daisy_fit_name(DAISY_FIT_VALID), "valid");
    cr_assert_str_eq(daisy_fit_name(DAISY_FIT_OVERHANG), "overhang");
    cr_assert_str_eq(daisy_fit_name(DAISY_FIT_SHRINK), "shrink");
    cr_assert_eq(daisy_fit_parse("overhang", &fit), 0);
    cr_assert_eq(fit, DAISY_FIT_OVERHANG);
    cr_assert_eq(daisy_fit_parse("shrink", &fit), 0);
    cr_assert_eq(fit, DAISY_FIT_SHRINK);
    cr_assert_eq(daisy_fit_parse("valid", &fit), 0);
    cr_assert_eq(fit, DAISY_FIT_VALID);
    cr_assert_eq(daisy_fit_parse("Valid", &fit), -1);
    cr_assert_eq(daisy_fit_parse("", &fit), -1);
    cr_assert_eq(daisy_fit_parse(NULL, &fit), -1);
}

Test(pipeline, destroy_nulls_pointers)
{
    daisy_task_t *t = make_task("a");
    daisy_task_destroy(&t);
    cr_assert_null(t);
    daisy_task_destroy(&t);         //  a second destroy does nothing
    daisy_task_destroy(NULL);

    daisy_pipeline_t *p = daisy_pipeline_new();
    t = make_task("a");
    daisy_pipeline_add(p, &t);
    cr_assert_null(t, "the pipeline takes ownership");
    daisy_pipeline_add(p, &t);      //  adding NULL does nothing
    daisy_pipeline_add(p, NULL);
    cr_assert_eq(daisy_pipeline_size(p), 1);
    daisy_pipeline_destroy(&p);
    cr_assert_null(p);
    daisy_pipeline_destroy(&p);
    daisy_pipeline_destroy(NULL);
}

Test(pipeline, find_and_order)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    const char *ids[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
    for (size_t i = 0; i < 10; i++)
        add(p, ids[i], NULL);
    cr_assert_eq(daisy_pipeline_size(p), 10);
    for (size_t i = 0; i < 10; i++) {
        cr_assert_eq(daisy_pipeline_find(p, ids[i]), (int) i);
        cr_assert_str_eq(daisy_task_id(daisy_pipeline_task(p, i)), ids[i]);
    }
    cr_assert_eq(daisy_pipeline_find(p, "zz"), -1);
    cr_assert_eq(daisy_pipeline_find(p, ""), -1);
    cr_assert_eq(daisy_pipeline_find(p, NULL), -1);
    cr_assert_null(daisy_pipeline_task(p, 10));
    daisy_pipeline_destroy(&p);
}

Test(pipeline, markers)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    cr_assert_null(daisy_pipeline_markers(p));
    char dir[] = "/tmp/m";
    daisy_pipeline_set_markers(p, dir);
    dir[1] = 'X';
    cr_assert_str_eq(daisy_pipeline_markers(p), "/tmp/m");
    daisy_pipeline_set_markers(p, "other");
    cr_assert_str_eq(daisy_pipeline_markers(p), "other");
    daisy_pipeline_set_markers(p, NULL);
    cr_assert_null(daisy_pipeline_markers(p));
    daisy_pipeline_destroy(&p);
}

//  --------------------------------------------------------------------------
//  Validation of one task

Test(pipeline, valid_single_task)
{
    daisy_pipeline_t *p = pipeline_of(make_task("a"));
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, empty_pipeline_refused)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    expect_invalid(p, "tasks", "no task");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, dims_out_of_range)
{
    daisy_roi_t none = roi2(0, 0, 100, 100), many = none;
    none.dims = 0;
    many.dims = DAISY_MAX_DIMS + 1;
    expect_task_invalid(make_task_rois("a", none, roi2(0, 0, 20, 20),
                                       roi2(5, 5, 10, 10)), "total_roi");
    expect_task_invalid(make_task_rois("a", many, roi2(0, 0, 20, 20),
                                       roi2(5, 5, 10, 10)), "total_roi");
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, 100), many,
                                       roi2(5, 5, 10, 10)), "read_roi");
    daisy_roi_t neg = roi2(5, 5, 10, 10);
    neg.dims = -1;
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, 100),
                                       roi2(0, 0, 20, 20), neg), "write_roi");
}

Test(pipeline, dims_differ_within_task)
{
    int64_t o3[] = {0, 0, 0}, s3[] = {20, 20, 20};
    daisy_roi_t r3 = daisy_roi_make(3, o3, s3);
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, 100), r3,
                                       roi2(5, 5, 10, 10)), "read_roi");
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, 100),
                                       roi2(0, 0, 20, 20), r3), "write_roi");
}

Test(pipeline, dims_differ_from_upstream)
{
    int64_t o1[] = {0}, total1[] = {100}, read1[] = {20}, write1[] = {10};
    int64_t w1[] = {5};
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", NULL);
    daisy_task_t *b = daisy_task_new("b", daisy_roi_make(1, o1, total1),
                                     daisy_roi_make(1, o1, read1),
                                     daisy_roi_make(1, w1, write1));
    daisy_task_add_upstream(b, "a");
    daisy_pipeline_add(p, &b);
    expect_invalid(p, "task 'b'", "upstream 'a'");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, empty_shapes)
{
    daisy_roi_t total = roi2(0, 0, 100, 100), read = roi2(0, 0, 20, 20);
    daisy_roi_t write = roi2(5, 5, 10, 10);
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 0, 100), read, write),
                        "total_roi");
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, -3), read, write),
                        "total_roi");
    expect_task_invalid(make_task_rois("a", total, roi2(0, 0, 20, 0), write),
                        "read_roi");
    expect_task_invalid(make_task_rois("a", total, read, roi2(5, 5, 0, 0)),
                        "write_roi");
    expect_task_invalid(make_task_rois("a", total, read, roi2(5, 5, -1, 10)),
                        "write_roi");
}

Test(pipeline, write_not_inside_read)
{
    daisy_task_t *t = make_task_rois("a", roi2(0, 0, 100, 100),
                                     roi2(0, 0, 20, 20), roi2(15, 5, 10, 10));
    expect_task_invalid(t, "write_roi");
    t = make_task_rois("a", roi2(0, 0, 100, 100), roi2(0, 0, 20, 20),
                       roi2(-1, 5, 10, 10));
    daisy_pipeline_t *p = pipeline_of(t);
    expect_invalid(p, "task 'a': write_roi", "is not inside read_roi");
    daisy_pipeline_destroy(&p);
}

//  Context 5 on each side: a total shape of 8 leaves nothing to write.
//  Python daisy plans such a task with 0 blocks (reference case_040), so
//  it is valid, with a warning that names the task and the sizes.
Test(pipeline, total_write_roi_empty_warns)
{
    daisy_task_t *t = make_task_rois("a", roi2(0, 0, 100, 8),
                                     roi2(0, 0, 20, 20), roi2(5, 5, 10, 10));
    daisy_pipeline_t *p = pipeline_of(t);
    expect_valid(p);
    daisy_error_t msg = {0};
    cr_assert_eq(daisy_pipeline_warning(p, 0, &msg), 1);
    cr_assert(strstr(msg.msg, "task 'a': total write ROI is empty"), "%s", msg.msg);
    cr_assert(strstr(msg.msg, "total_roi [0:100, 0:8] (100, 8)"), "%s", msg.msg);
    cr_assert(strstr(msg.msg, "leaves shape (90, -2)"), "%s", msg.msg);
    cr_assert_eq(daisy_pipeline_warning(p, 1, &msg), 0);
    daisy_pipeline_destroy(&p);
}

//  A task with blocks has no warning.
Test(pipeline, no_warning_when_blocks)
{
    daisy_task_t *t = make_task_rois("a", roi2(0, 0, 100, 100),
                                     roi2(0, 0, 20, 20), roi2(5, 5, 10, 10));
    daisy_pipeline_t *p = pipeline_of(t);
    daisy_error_t msg = {0};
    cr_assert_eq(daisy_pipeline_warning(p, 0, &msg), 0);
    daisy_pipeline_destroy(&p);
}

//  No block fits under valid, but Python daisy accepts such a task (zero
//  blocks; reference case_027), so validation does too, whatever the fit.
Test(pipeline, no_block_under_valid_accepted)
{
    for (int fit = DAISY_FIT_VALID; fit <= DAISY_FIT_SHRINK; fit++) {
        daisy_task_t *t = make_task_rois("a", roi2(0, 0, 100, 15),
                                         roi2(0, 0, 20, 20),
                                         roi2(5, 5, 10, 10));
        daisy_task_set_fit(t, (daisy_fit_t) fit);
        daisy_pipeline_t *p = pipeline_of(t);
        expect_valid(p);
        daisy_pipeline_destroy(&p);
    }
}

Test(pipeline, coordinates_out_of_range)
{
    daisy_roi_t read = roi2(0, 0, 20, 20), write = roi2(5, 5, 10, 10);
    daisy_roi_t far = roi2(DAISY_COORD_LIMIT + 1, 0, 100, 100);
    expect_task_invalid(make_task_rois("a", far, read, write), "total_roi");
    far = roi2(0, -DAISY_COORD_LIMIT - 1, 100, 100);
    expect_task_invalid(make_task_rois("a", far, read, write), "total_roi");
    far = roi2(0, 0, 100, DAISY_COORD_LIMIT + 1);
    expect_task_invalid(make_task_rois("a", far, read, write), "total_roi");
    far = roi2(INT64_MIN, 0, INT64_MAX, 20);
    expect_task_invalid(make_task_rois("a", roi2(0, 0, 100, 100), far, write),
                        "read_roi");
    //  At the limit is fine.
    daisy_roi_t edge = roi2(-DAISY_COORD_LIMIT, 0, DAISY_COORD_LIMIT, 100);
    daisy_pipeline_t *p = pipeline_of(make_task_rois("a", edge, read, write));
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, option_ranges)
{
    daisy_task_t *t = make_task("a");
    daisy_task_set_max_retries(t, -1);
    expect_task_invalid(t, "max_retries");
    t = make_task("a");
    daisy_task_set_workers(t, 0);
    expect_task_invalid(t, "workers");
    t = make_task("a");
    daisy_task_set_workers(t, -4);
    expect_task_invalid(t, "workers");
    t = make_task("a");
    daisy_task_set_timeout(t, -0.5);
    expect_task_invalid(t, "timeout");
    t = make_task("a");
    daisy_task_set_timeout(t, NAN);
    expect_task_invalid(t, "timeout");
    t = make_task("a");
    daisy_task_set_fit(t, (daisy_fit_t) 7);
    expect_task_invalid(t, "fit");
    t = make_task("a");
    daisy_task_set_command(t, "./x");
    daisy_task_set_worker(t, "./w");
    expect_task_invalid(t, "worker");

    //  The edges of the ranges are fine.
    t = make_task("a");
    daisy_task_set_max_retries(t, 0);
    daisy_task_set_timeout(t, 0);
    daisy_task_set_workers(t, 1);
    daisy_pipeline_t *p = pipeline_of(t);
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

//  --------------------------------------------------------------------------
//  Validation across tasks

Test(pipeline, valid_multi_task)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "raw", NULL);
    add(p, "mask", "raw");
    add(p, "predict", "raw");
    daisy_task_add_upstream(daisy_pipeline_task(p, 2), "mask");
    add(p, "relabel", "predict");
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, upstream_declared_later)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "c", "b");
    add(p, "b", "a");
    add(p, "a", NULL);
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, duplicate_ids)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", NULL);
    add(p, "b", NULL);
    add(p, "a", NULL);
    expect_invalid(p, "task 'a'", "id");
    expect_invalid(p, "tasks[0]", "tasks[2]");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, empty_id)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", NULL);
    add(p, "", NULL);
    expect_invalid(p, "tasks[1]", "id");
    daisy_pipeline_destroy(&p);

    p = pipeline_of(make_task(NULL));
    expect_invalid(p, "tasks[0]", "id is empty");
    daisy_pipeline_destroy(&p);
}

//  An id must fit a file name once escaped: 200 letters do, 67 '/' (201
//  bytes escaped) do not.
Test(pipeline, long_id)
{
    char id[202];
    memset(id, 'a', 200);
    id[200] = '\0';
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, id, NULL);
    daisy_error_t err;
    cr_assert_eq(daisy_pipeline_validate(p, &err), 0, "%s", err.msg);
    daisy_pipeline_destroy(&p);
    memset(id, '/', 67);
    id[67] = '\0';
    p = daisy_pipeline_new();
    add(p, id, NULL);
    expect_invalid(p, "task '///", "id is too long: as a file name it takes more than 200 bytes");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, unknown_upstream)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", NULL);
    add(p, "b", "nope");
    expect_invalid(p, "task 'b'", "upstream 'nope'");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, self_upstream)
{
    daisy_pipeline_t *p = pipeline_of(make_task("a"));
    daisy_task_add_upstream(daisy_pipeline_task(p, 0), "a");
    expect_invalid(p, "task 'a'", "upstream 'a'");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, upstream_named_twice)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", NULL);
    add(p, "b", "a");
    daisy_task_add_upstream(daisy_pipeline_task(p, 1), "a");
    expect_invalid(p, "task 'b'", "upstream 'a'");
    daisy_pipeline_destroy(&p);
}

Test(pipeline, cycle_of_two)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", "b");
    add(p, "b", "a");
    expect_invalid(p, "task 'a'", "upstream cycle");
    expect_invalid(p, "'a' -> 'b' -> 'a'", NULL);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, cycle_of_three)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "a", "c");
    add(p, "b", "a");
    add(p, "c", "b");
    expect_invalid(p, "upstream cycle", "'a' -> 'c' -> 'b' -> 'a'");
    daisy_pipeline_destroy(&p);
}

//  The message names a task on the cycle, not the task that reaches it.
Test(pipeline, cycle_behind_a_task)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "top", "x");
    add(p, "x", "y");
    add(p, "y", "x");
    add(p, "z", NULL);
    expect_invalid(p, "task 'x'", "upstream cycle: 'x' -> 'y' -> 'x'");
    daisy_pipeline_destroy(&p);
}

//  A diamond (two paths to one task) is not a cycle.
Test(pipeline, diamond_accepted)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    add(p, "d", "b");
    daisy_task_add_upstream(daisy_pipeline_task(p, 0), "c");
    add(p, "b", "a");
    add(p, "c", "a");
    add(p, "a", NULL);
    expect_valid(p);
    daisy_pipeline_destroy(&p);
}

//  --------------------------------------------------------------------------
//  Pipeline files

typedef struct {
    const char *file;       //  in DAISY_TEST_DATA/bad
    const char *expect;     //  a substring of the message
} bad_file_t;

static const bad_file_t bad_files[] = {
    //  Not JSON, or not the right JSON shape
    {"syntax_error.json", ":3:16: JSON syntax error"},
    {"truncated.json", "JSON syntax error"},
    {"empty.json", "empty file"},
    {"blank.json", "empty file"},
    {"trailing_garbage.json", "JSON syntax error"},
    {"nul_byte.json", "NUL byte at offset 20"},
    {"not_utf8.json", "JSON syntax error"},
    {"integer_too_large.json", "too big integer"},
    {"duplicate_json_key.json", "duplicate object key near '\"fit\"'"},
    {"top_level_array.json", "top level: expected an object"},
    {"top_level_string.json", "JSON syntax error"},
    {"missing_tasks.json", "key 'tasks': missing"},
    {"empty_tasks.json", "key 'tasks': empty array"},
    {"tasks_not_array.json", "key 'tasks': expected an array"},
    {"unknown_key.json", "key 'taks': unknown key (did you mean 'tasks'?)"},
    {"markers_not_string.json", "key 'markers': expected a directory"},
    {"markers_empty.json", "key 'markers': empty string"},
    //  Tasks and their keys
    {"task_not_object.json", "tasks[1]: expected a task object, got string"},
    {"missing_id.json", "tasks[1]: key 'id': missing"},
    {"id_not_string.json", "tasks[0]: key 'id': expected a string, got "
                           "integer 7"},
    {"id_null.json", "tasks[0]: key 'id': expected a string, got null"},
    {"empty_id.json", "tasks[0]: key 'id': empty string"},
    {"duplicate_id.json", "task 'a': id 'a' is used twice"},
    {"unknown_task_key.json", "task 'a': key 'max_retry': unknown key (did "
                              "you mean 'max_retries'?)"},
    {"unknown_task_key_far.json", "task 'a': key 'colour': unknown key"},
    {"bad_fit.json", "task 'a': key 'fit': unknown fit 'valdi' (expected "
                     "valid, overhang or shrink)"},
    {"fit_not_string.json", "task 'a': key 'fit': expected valid, overhang "
                            "or shrink, got integer 1"},
    {"fit_null.json", "task 'a': key 'fit': expected valid, overhang or "
                      "shrink, got null"},
    {"max_retries_not_integer.json", "task 'a': key 'max_retries': expected "
                                     "an integer, got real 2.5"},
    {"max_retries_string.json", "task 'a': key 'max_retries': expected an "
                                "integer, got string '3'"},
    {"workers_too_large.json", "task 'a': key 'workers': 3000000000 is out "
                               "of range"},
    {"timeout_not_number.json", "task 'a': key 'timeout': expected a number "
                                "of seconds, got string '10s'"},
    {"read_write_conflict_not_bool.json", "task 'a': key "
        "'read_write_conflict': expected true or false, got string 'yes'"},
    {"read_write_conflict_integer.json", "task 'a': key "
        "'read_write_conflict': expected true or false, got integer 1"},
    {"command_not_string.json", "task 'a': key 'command': expected a "
                                "string, got an array"},
    {"check_empty.json", "task 'a': key 'check': empty string"},
    {"upstream_not_array.json", "task 'b': key 'upstream': expected an "
                                "array of task ids, got string 'a'"},
    {"upstream_entry_not_string.json", "task 'b': key 'upstream': entry 0: "
                                       "expected a task id"},
    //  ROIs
    {"roi_missing.json", "task 'a': key 'write_roi': missing"},
    {"roi_missing_offset.json", "task 'a': key 'read_roi.offset': missing"},
    {"roi_not_object.json", "task 'a': key 'total_roi': expected an object "
                            "with offset and shape, got an array"},
    {"roi_unknown_key.json", "task 'a': key 'read_roi': key 'begin': "
                             "unknown key"},
    {"roi_shape_not_array.json", "task 'a': key 'total_roi.shape': expected "
                                 "an array of integers, got integer 100"},
    {"float_in_shape.json", "task 'a': key 'read_roi.shape': entry 0: "
                            "expected an integer, got real 20.5"},
    {"whole_float_in_shape.json", "task 'a': key 'write_roi.shape': entry 0: "
                                  "expected an integer, got real 10.0"},
    {"string_in_offset.json", "task 'a': key 'write_roi.offset': entry 0: "
                              "expected an integer, got string '5'"},
    {"offset_shape_lengths.json", "task 'a': key 'read_roi': offset has 2 "
                                  "entries but shape has 3"},
    {"seven_dims.json", "task 'a': key 'total_roi.offset': 7 entries"},
    {"zero_dims.json", "task 'a': key 'total_roi.offset': 0 entries"},
    //  Found by validation
    {"dims_differ.json", "task 'a': read_roi has 3 dimensions but total_roi "
                         "has 2"},
    {"zero_shape.json", "task 'a': write_roi shape (0, 10) is empty"},
    {"negative_shape.json", "task 'a': total_roi shape (-5, 100) is empty"},
    {"write_not_in_read.json", "task 'a': write_roi [15:25, 5:15] (10, 10) "
                               "is not inside read_roi [0:20, 0:20] (20, 20)"},
    {"coordinate_out_of_range.json", "task 'a': total_roi offset "
                                     "4611686018427387904 in dimension 0 is "
                                     "out of range"},
    {"unknown_upstream.json", "task 'b': upstream 'c' names no task"},
    {"self_upstream.json", "task 'a': upstream 'a' is the task itself"},
    {"upstream_twice.json", "task 'b': upstream 'a' is named twice"},
    {"upstream_dims.json", "task 'b': upstream 'a' has 2 dimensions but "
                           "total_roi has 3"},
    {"cycle.json", "task 'a': upstream cycle: 'a' -> 'c' -> 'b' -> 'a'"},
    {"negative_max_retries.json", "task 'a': max_retries -1 is negative"},
    {"zero_workers.json", "task 'a': workers 0 is less than 1"},
    {"daisy1_num_workers.json", "task 'a': key 'num_workers': unknown key (daisy 1.x's "
                                "name: here 'workers')"},
    {"negative_timeout.json", "task 'a': timeout -5 is not a number of "
                              "seconds >= 0"},
    {"huge_timeout.json", "task 'a': timeout 1e+300 is more than 4294967 seconds"},
    {"command_and_worker.json", "task 'a': command and worker are both set"},
    //  Resources (for batch systems)
    {"resources_not_object.json", "task 'a': key 'resources': expected an object"},
    {"resources_unknown_key.json", "task 'a': key 'resources': key 'cpu': unknown key "
                                   "(did you mean 'cpus'?)"},
    {"resources_cpus_zero.json", "task 'a': key 'resources': key 'cpus': 0 is not in "
                                 "1..65536"},
    {"resources_gpus_string.json", "task 'a': key 'resources': key 'gpus': expected an "
                                   "integer, got string '1'"},
    {"resources_mem_form.json", "task 'a': resources.mem '16 GB' is not a memory size"},
    {"resources_time_form.json", "task 'a': resources.time '2h' is not a time limit"},
    {"resources_partition_form.json", "task 'a': resources.partition 'gpu; rm -rf /' is "
                                      "not a partition name"},
    {"resources_extra_not_option.json", "task 'a': resources.extra 'qos=high': each entry "
                                        "is an sbatch option starting with --"},
    {"write_grid_dims.json", "task 'a': write_grid has 1 dimensions but total_roi has 2"},
    {"write_grid_zero.json", "task 'a': write_grid shape (64, 0) in dimension 1 is out of "
                             "range (a cell shape > 0"},
    {"write_grid_offset_dims.json", "task 'a': key 'write_grid': offset has 3 entries but "
                                    "shape has 2"},
    {"write_grid_unknown_key.json", "task 'a': key 'write_grid': key 'ofset': unknown key "
                                    "(did you mean 'offset'?)"},
    {"write_grid_not_object.json", "task 'a': key 'write_grid': expected an object with "
                                   "shape and optionally offset, got an array"},
    {"resources_extra_shell.json", "task 'a': resources.extra '--comment=$(id)': quotes, "
                                   "newlines and shell characters are not allowed"},
    {"resources_extra_not_array.json", "task 'a': key 'resources': key 'extra': expected an "
                                       "array of sbatch options"},
};

#define BAD_COUNT (sizeof bad_files / sizeof bad_files[0])

Test(pipeline, bad_files)
{
    for (size_t i = 0; i < BAD_COUNT; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/bad/%s", DAISY_TEST_DATA,
                 bad_files[i].file);
        daisy_error_t err = {0};
        daisy_pipeline_t *p = daisy_pipeline_load(path, &err);
        cr_assert_null(p, "%s: loaded, but it is bad", path);
        size_t len = strlen(path);
        cr_assert(strncmp(err.msg, path, len) == 0 && err.msg[len] == ':',
                  "message does not start with '%s:': %s", path, err.msg);
        cr_assert(strstr(err.msg, bad_files[i].expect),
                  "%s: expected '%s' in: %s", bad_files[i].file,
                  bad_files[i].expect, err.msg);
    }
}

//  Every file in tests/data/bad is in the table (none is silently untested).
Test(pipeline, bad_files_all_listed)
{
    glob_t g;
    char pattern[512];
    snprintf(pattern, sizeof pattern, "%s/bad/*.json", DAISY_TEST_DATA);
    cr_assert_eq(glob(pattern, 0, NULL, &g), 0, "no files match %s", pattern);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        bool listed = false;
        for (size_t j = 0; j < BAD_COUNT && !listed; j++)
            listed = strcmp(base, bad_files[j].file) == 0;
        cr_assert(listed, "%s is not in the bad_files table", base);
    }
    cr_assert_eq(g.gl_pathc, BAD_COUNT);
    globfree(&g);
}

//  Bad load with no error buffer: still refused, nothing written.
Test(pipeline, bad_file_without_error_buffer)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad/cycle.json", DAISY_TEST_DATA);
    cr_assert_null(daisy_pipeline_load(path, NULL));
    cr_assert_null(daisy_pipeline_load("/nonexistent/daisy.json", NULL));
    cr_assert_null(daisy_pipeline_parse("{", "x", NULL));
    cr_assert_null(daisy_pipeline_parse("{\"tasks\": 1}", "x", NULL));
}

Test(pipeline, missing_file)
{
    const char *path = "/nonexistent/dir/pipeline.json";
    daisy_error_t err = {0};
    cr_assert_null(daisy_pipeline_load(path, &err));
    cr_assert(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    cr_assert(strstr(err.msg, "No such file or directory"), "%s", err.msg);
}

Test(pipeline, directory_is_not_a_file)
{
    daisy_error_t err = {0};
    cr_assert_null(daisy_pipeline_load(DAISY_TEST_DATA, &err));
    cr_assert(strncmp(err.msg, DAISY_TEST_DATA ":", strlen(DAISY_TEST_DATA)
                      + 1) == 0, "%s", err.msg);
}

static daisy_pipeline_t *
load_good(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/good/%s", DAISY_TEST_DATA, file);
    daisy_error_t err = {0};
    daisy_pipeline_t *p = daisy_pipeline_load(path, &err);
    cr_assert_not_null(p, "%s: %s", path, err.msg);
    return p;
}

//  The example pipeline of the design notes.
Test(pipeline, good_design_example)
{
    daisy_pipeline_t *p = load_good("design_example.json");
    cr_assert_eq(daisy_pipeline_size(p), 2);
    cr_assert_null(daisy_pipeline_markers(p));
    daisy_task_t *extract = daisy_pipeline_task(p, 0);
    daisy_task_t *relabel = daisy_pipeline_task(p, 1);
    cr_assert_str_eq(daisy_task_id(extract), "extract");
    cr_assert_eq(daisy_task_fit(extract), DAISY_FIT_SHRINK);
    cr_assert(daisy_task_read_write_conflict(extract));
    cr_assert_eq(daisy_task_max_retries(extract), 2);
    cr_assert_eq(daisy_task_timeout(extract), 600.0);
    cr_assert_eq(daisy_task_workers(extract), 8);
    cr_assert_str_eq(daisy_task_command(extract), "./extract_block");
    cr_assert_null(daisy_task_worker(extract));
    daisy_roi_t write = daisy_task_write_roi(extract);
    cr_assert_eq(write.dims, 3);
    cr_assert_eq(write.offset[2], 16);
    cr_assert_eq(write.shape[0], 64);
    cr_assert_eq(daisy_task_total_roi(extract).shape[1], 1024);

    cr_assert_str_eq(daisy_task_id(relabel), "relabel");
    cr_assert_eq(daisy_task_upstream_count(relabel), 1);
    cr_assert_str_eq(daisy_task_upstream(relabel, 0), "extract");
    cr_assert(!daisy_task_read_write_conflict(relabel));
    cr_assert_eq(daisy_task_fit(relabel), DAISY_FIT_VALID);
    cr_assert_eq(daisy_task_workers(relabel), 4);
    cr_assert_str_eq(daisy_task_worker(relabel), "./relabel_worker");
    cr_assert_null(daisy_task_command(relabel));
    cr_assert_eq(daisy_task_total_roi(relabel).offset[0], 16);
    cr_assert_eq(daisy_task_total_roi(relabel).shape[2], 992);
    daisy_pipeline_destroy(&p);
}

//  A file whose only task has an empty total write ROI loads, warns.
Test(pipeline, good_total_write_empty)
{
    daisy_pipeline_t *p = load_good("total_write_empty.json");
    daisy_error_t msg = {0};
    cr_assert_eq(daisy_pipeline_warning(p, 0, &msg), 1);
    cr_assert(strstr(msg.msg, "total_roi [0:8, 0:100] (8, 100)"), "%s", msg.msg);
    daisy_pipeline_destroy(&p);
}

//  Resources for batch systems, every key.
Test(pipeline, good_resources)
{
    daisy_pipeline_t *p = load_good("resources.json");
    const daisy_resources_t *r = daisy_task_resources(daisy_pipeline_task(p, 0));
    cr_assert_eq(r->cpus, 4);
    cr_assert_eq(r->gpus, 1);
    cr_assert_str_eq(r->mem, "16G");
    cr_assert_str_eq(r->time, "2:00:00");
    cr_assert_str_eq(r->partition, "gpu");
    cr_assert_str_eq(r->extra, "--qos=high --account=lab");
    daisy_pipeline_destroy(&p);
}

//  Set, replaced and cleared through the C API; a task without has none.
Test(pipeline, resources_are_copied_and_replaced)
{
    daisy_task_t *t = make_task_rois("a", roi2(0, 0, 10, 10), roi2(0, 0, 1, 1),
                                     roi2(0, 0, 1, 1));
    cr_assert_eq(daisy_task_resources(t)->cpus, 0);
    cr_assert_null(daisy_task_resources(t)->mem);
    char mem[] = "8G";
    daisy_task_set_resources(t, &(daisy_resources_t){.cpus = 2, .mem = mem});
    mem[0] = '9';
    cr_assert_str_eq(daisy_task_resources(t)->mem, "8G", "copied, not borrowed");
    daisy_task_set_resources(t, &(daisy_resources_t){.time = "30"});
    cr_assert_eq(daisy_task_resources(t)->cpus, 0);
    cr_assert_null(daisy_task_resources(t)->mem);
    cr_assert_str_eq(daisy_task_resources(t)->time, "30");
    daisy_task_set_resources(t, NULL);
    cr_assert_null(daisy_task_resources(t)->time);
    daisy_task_destroy(&t);
}

//  Every key, upstream tasks listed after their downstream task.
Test(pipeline, good_all_keys)
{
    daisy_pipeline_t *p = load_good("all_keys.json");
    cr_assert_eq(daisy_pipeline_size(p), 3);
    cr_assert_str_eq(daisy_pipeline_markers(p), "/tmp/daisy-markers");
    daisy_task_t *t = daisy_pipeline_task(p, 0);
    cr_assert_str_eq(daisy_task_id(t), "predict");
    cr_assert_eq(daisy_task_upstream_count(t), 2);
    cr_assert_str_eq(daisy_task_upstream(t, 0), "mask");
    cr_assert_str_eq(daisy_task_upstream(t, 1), "raw");
    cr_assert_eq(daisy_task_total_roi(t).dims, 1);
    cr_assert_eq(daisy_task_total_roi(t).offset[0], -40);
    cr_assert_eq(daisy_task_read_roi(t).offset[0], -4);
    cr_assert(!daisy_task_read_write_conflict(t));
    cr_assert_eq(daisy_task_fit(t), DAISY_FIT_OVERHANG);
    daisy_roi_t grid = daisy_task_write_grid(t);
    cr_assert_eq(grid.dims, 1);
    cr_assert_eq(grid.shape[0], 40);
    cr_assert_eq(grid.offset[0], -40);
    cr_assert_eq(daisy_task_write_grid(daisy_pipeline_task(p, 1)).dims, 0);
    cr_assert_eq(daisy_task_max_retries(t), 0);
    cr_assert_eq(daisy_task_timeout(t), 2.5);
    cr_assert_eq(daisy_task_workers(t), 3);
    cr_assert_str_eq(daisy_task_command(t), "./predict --block");
    cr_assert_str_eq(daisy_task_check_command(t),
                     "test -e done/$DAISY_BLOCK_ID");
    cr_assert_eq(daisy_pipeline_find(p, "raw"), 2);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, good_small_totals)
{
    daisy_pipeline_t *p = load_good("overhang_small.json");
    cr_assert_eq(daisy_task_fit(daisy_pipeline_task(p, 0)),
                 DAISY_FIT_OVERHANG);
    daisy_pipeline_destroy(&p);
    p = load_good("no_block_fits_valid.json");
    cr_assert_eq(daisy_task_fit(daisy_pipeline_task(p, 0)), DAISY_FIT_VALID);
    daisy_pipeline_destroy(&p);
}

Test(pipeline, parse_text)
{
    const char *text =
        "{\"tasks\": [{\"id\": \"t\", "
        "\"total_roi\": {\"offset\": [0], \"shape\": [10]}, "
        "\"read_roi\": {\"offset\": [0], \"shape\": [2]}, "
        "\"write_roi\": {\"offset\": [0], \"shape\": [2]}}]}";
    daisy_error_t err = {0};
    daisy_pipeline_t *p = daisy_pipeline_parse(text, "inline", &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_str_eq(daisy_task_id(daisy_pipeline_task(p, 0)), "t");
    daisy_pipeline_destroy(&p);

    cr_assert_null(daisy_pipeline_parse("{\"tasks\": []}", "inline", &err));
    cr_assert(strncmp(err.msg, "inline: key 'tasks'", 19) == 0, "%s",
              err.msg);
    cr_assert_null(daisy_pipeline_parse("[]", NULL, &err));
    cr_assert(strncmp(err.msg, "<string>: ", 10) == 0, "%s", err.msg);

    //  Messages stay on one line whatever the file's strings hold.
    cr_assert_null(daisy_pipeline_parse("{\"tasks\": [{\"id\": \"a\\nb\"}]}",
                                        "inline", &err));
    cr_assert(strstr(err.msg, "task 'a?b': key 'total_roi': missing"), "%s",
              err.msg);
}

//  Every pipeline Python daisy was run on loads and validates.
Test(pipeline, reference_plans_load)
{
    struct stat st;
    if (stat(DAISY_REFERENCE_PLANS, &st) != 0)
        cr_skip_test("no reference plans at %s", DAISY_REFERENCE_PLANS);
    glob_t g;
    int rc = glob(DAISY_REFERENCE_PLANS "/case_*.json", 0, NULL, &g);
    cr_assert_eq(rc, 0, "no case_*.json in %s", DAISY_REFERENCE_PLANS);
    cr_assert_gt(g.gl_pathc, 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        daisy_error_t err = {0};
        daisy_pipeline_t *p = daisy_pipeline_load(g.gl_pathv[i], &err);
        cr_assert_not_null(p, "%s", err.msg);
        cr_assert_gt(daisy_pipeline_size(p), 0);
        daisy_pipeline_destroy(&p);
    }
    globfree(&g);
}

//  {pipeline_dir}: the file's absolute directory, quoted for the shell
//  when it needs to be; other text and other braces stay as they are.
Test(pipeline, pipeline_dir_is_the_files_directory)
{
    char dir[] = "/tmp/daisy pipe's-XXXXXX", path[256], want[1024], word[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"tasks\": [{\"id\": \"a\", \"total_roi\": {\"offset\": [0], \"shape\": [4]},"
          " \"read_roi\": {\"offset\": [0], \"shape\": [1]}, \"write_roi\": {\"offset\": [0],"
          " \"shape\": [1]}, \"command\": \"{pipeline_dir}/bin/x ${HOME} {pipeline_dir}\","
          " \"check\": \"test -e {cmd}\"}]}", f);
    fclose(f);
    daisy_error_t err;
    daisy_pipeline_t *p = daisy_pipeline_load(path, &err);
    cr_assert_not_null(p, "%s", err.msg);
    //  One shell word: quoted, its own ' written '\''.
    const char *q = strchr(dir, '\'');
    snprintf(word, sizeof word, "'%.*s'\\''%s'", (int)(q - dir), dir, q + 1);
    snprintf(want, sizeof want, "%s/bin/x ${HOME} %s", word, word);
    cr_assert_str_eq(daisy_task_command(daisy_pipeline_task(p, 0)), want);
    cr_assert_str_eq(daisy_task_check_command(daisy_pipeline_task(p, 0)), "test -e {cmd}");
    daisy_pipeline_destroy(&p);
    unlink(path);
    rmdir(dir);
}

//  A file read from a pipe (`daisy plan <(generate)`, /dev/stdin) has no
//  directory: it loads as long as nothing asks for {pipeline_dir}, and a
//  pipeline that does is told why it cannot have one.
static daisy_pipeline_t *
load_from_pipe(const char *command, daisy_error_t *err)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    dprintf(fds[1], "{\"tasks\": [{\"id\": \"a\", \"total_roi\": {\"offset\": [0], "
            "\"shape\": [4]}, \"read_roi\": {\"offset\": [0], \"shape\": [1]}, "
            "\"write_roi\": {\"offset\": [0], \"shape\": [1]}, \"command\": \"%s\"}]}",
            command);
    close(fds[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    daisy_pipeline_t *p = daisy_pipeline_load(path, err);
    close(fds[0]);
    return p;
}

Test(pipeline, a_file_from_a_pipe_loads_unless_it_needs_its_directory)
{
    daisy_error_t err;
    daisy_pipeline_t *p = load_from_pipe("true", &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_str_eq(daisy_task_command(daisy_pipeline_task(p, 0)), "true");
    daisy_pipeline_destroy(&p);
    cr_assert_null(load_from_pipe("{pipeline_dir}/x", &err));
    cr_assert(strstr(err.msg, "/dev/fd/") && strstr(err.msg, "{pipeline_dir}"), "%s", err.msg);
}

//  Every destructor takes NULL, and a pointer to NULL, as czmq's do (a
//  cleanup path frees what it may not have made).
Test(api, every_destructor_takes_null_and_a_pointer_to_null)
{
    daisy_pipeline_destroy(NULL);
    daisy_task_destroy(NULL);
    daisy_graph_destroy(NULL);
    daisy_resolver_destroy(NULL);
    daisy_scheduler_destroy(NULL);
    daisy_summary_destroy(NULL);
    daisy_markers_close(NULL);
    daisy_broker_destroy(NULL);
    daisy_worker_destroy(NULL);
    daisy_launcher_destroy(NULL);
    daisy_array_destroy(NULL);
    daisy_graphdb_close(NULL);
    daisy_graph_iter_destroy(NULL);
    daisy_decoder_destroy(NULL);
    daisy_buffer_free(NULL);
    daisy_pipeline_t *p = NULL;
    daisy_graph_t *g = NULL;
    daisy_scheduler_t *s = NULL;
    daisy_summary_t *sum = NULL;
    daisy_broker_t *b = NULL;
    daisy_launcher_t *l = NULL;
    daisy_markers_t *m = NULL;
    daisy_pipeline_destroy(&p);
    daisy_graph_destroy(&g);
    daisy_scheduler_destroy(&s);
    daisy_summary_destroy(&sum);
    daisy_broker_destroy(&b);
    daisy_launcher_destroy(&l);
    daisy_markers_close(&m);
    cr_assert(!p && !g && !s && !sum && !b && !l && !m);
}
