/*  test_markers.c - done markers on disk, and resuming from them */
#include <criterion/criterion.h>
#include <jansson.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "testutil.h"

static char dir[64];

static void
make_dir(void)
{
    if (dir[0])
        tu_scratch_done(dir);
    cr_assert_not_null(tu_scratch_dir(dir, sizeof dir, "markers"));
}

static daisy_pipeline_t *
two_tasks(int64_t size, int64_t write)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *a = tu_task_1d("a", 0, size, write + 2, 1, write);
    daisy_task_t *b = tu_task_1d("b/slash", 0, size, write, 0, write);
    daisy_task_add_upstream(b, "a");
    daisy_pipeline_add(p, &a);
    daisy_pipeline_add(p, &b);
    return p;
}

Test(markers, persist_across_open_and_form_a_zarr_array)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 1, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0);
    daisy_markers_set(m, 3);
    daisy_markers_set(m, 3);
    daisy_markers_set(m, 7);
    cr_assert_eq(daisy_markers_count(m), 2);
    daisy_markers_close(&m);
    cr_assert_null(m);
    m = daisy_markers_open(dir, g, 1, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 2);
    cr_assert(daisy_markers_done(m, 3));
    cr_assert(daisy_markers_done(m, 7));
    cr_assert(!daisy_markers_done(m, 4));
    cr_assert(!daisy_markers_done(m, 999));
    daisy_markers_close(&m);
    //  A Zarr v3 array: metadata, and the chunk as raw bytes.
    char path[256];
    snprintf(path, sizeof path, "%s/b%%2Fslash/zarr.json", dir);
    json_t *meta = json_load_file(path, 0, NULL);
    cr_assert_not_null(meta, "no %s", path);
    cr_assert_eq(json_integer_value(json_object_get(meta, "zarr_format")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(meta, "data_type")), "uint8");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(meta, "shape"), 0)), 10);
    json_decref(meta);
    snprintf(path, sizeof path, "%s/b%%2Fslash/c/0", dir);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    unsigned char bytes[16];
    cr_assert_eq(fread(bytes, 1, sizeof bytes, f), 10);
    fclose(f);
    cr_assert_eq(bytes[3], 1);
    cr_assert_eq(bytes[7], 1);
    cr_assert_eq(bytes[4], 0);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(markers, a_changed_layout_is_refused_unless_reset)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, NULL);
    daisy_markers_set(m, 1);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);

    p = two_tasks(100, 5);   //  another write shape: another layout
    g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, "task 'a'"), "%s", err.msg);
    cr_assert(strstr(err.msg, "reset"), "%s", err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_INPUT);
    m = daisy_markers_open(dir, g, 0, true, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0, "reset discards the old records");
    daisy_markers_close(&m);
    m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "after a reset the new layout is the recorded one: %s", err.msg);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Run part of a pipeline with markers, stop, resume: blocks done before
//  are skipped, never handed out, and every other block runs once.
Test(markers, resume_skips_exactly_the_done_blocks)
{
    uint64_t rng = 8;
    for (int round = 0; round < 20; round++) {
        make_dir();
        daisy_pipeline_t *p = tu_random_pipeline(&rng, 1 + round % 3, 3, 5);
        daisy_graph_t *g = daisy_graph_new(p, NULL);
        uint32_t nt = daisy_graph_task_count(g);
        daisy_markers_t *m[8] = {0};
        char *ran[8];
        for (uint32_t t = 0; t < nt; t++) {
            m[t] = daisy_markers_open(dir, g, t, false, NULL);
            ran[t] = calloc(daisy_graph_block_count(g, t) + 1, 1);
        }
        daisy_scheduler_t *s = daisy_scheduler_new_resumed(g, m, NULL);
        //  First run: stop after some blocks.
        int budget = (int)tu_range(&rng, 0, 20);
        daisy_block_t b;
        for (uint32_t t = 0; t < nt && budget > 0; t++)
            while (budget > 0 && daisy_scheduler_acquire(s, t, &b) == 1) {
                daisy_scheduler_release(s, (daisy_block_ref_t){t, b.index}, true, NULL);
                ran[t][b.index] = 1;
                budget--;
            }
        daisy_scheduler_destroy(&s);
        for (uint32_t t = 0; t < nt; t++)
            daisy_markers_close(&m[t]);
        //  Resume.
        uint64_t done_before = 0;
        for (uint32_t t = 0; t < nt; t++) {
            m[t] = daisy_markers_open(dir, g, t, false, NULL);
            done_before += daisy_markers_count(m[t]);
        }
        s = daisy_scheduler_new_resumed(g, m, NULL);
        bool progress = true;
        while (progress) {
            progress = false;
            for (uint32_t t = 0; t < nt; t++)
                while (daisy_scheduler_acquire(s, t, &b) == 1) {
                    cr_assert_eq(ran[t][b.index], 0, "round %d: done block %u/%llu ran again",
                                 round, t, (unsigned long long)b.index);
                    ran[t][b.index] = 2;
                    daisy_scheduler_release(s, (daisy_block_ref_t){t, b.index}, true, NULL);
                    progress = true;
                }
        }
        cr_assert(daisy_scheduler_done(s), "round %d", round);
        uint64_t skipped = 0;
        for (uint32_t t = 0; t < nt; t++) {
            daisy_task_counts_t c;
            daisy_scheduler_counts(s, t, &c);
            skipped += c.skipped;
            cr_assert_eq(c.completed, c.total);
            cr_assert_eq(daisy_markers_count(m[t]), c.total);
            for (uint64_t i = 0; i < c.total; i++)
                cr_assert_neq(ran[t][i], 0);
            free(ran[t]);
        }
        cr_assert_eq(skipped, done_before, "round %d", round);
        daisy_scheduler_destroy(&s);
        for (uint32_t t = 0; t < nt; t++)
            daisy_markers_close(&m[t]);
        daisy_graph_destroy(&g);
        daisy_pipeline_destroy(&p);
    }
}

//  A finished task resumes complete at once, and its downstream task does
//  not wait for it.
Test(markers, a_finished_task_is_complete_at_once, .timeout = 60)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(2000000, 1);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_markers_t *m[2] = {daisy_markers_open(dir, g, 0, false, NULL), NULL};
    for (uint64_t i = 0; i < daisy_graph_block_count(g, 0); i++)
        daisy_markers_set(m[0], i);
    daisy_markers_close(&m[0]);
    m[0] = daisy_markers_open(dir, g, 0, false, NULL);
    daisy_scheduler_t *s = daisy_scheduler_new_resumed(g, m, NULL);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, 0, &c);
    cr_assert_eq(c.completed, c.total);
    cr_assert_eq(c.skipped, c.total);
    cr_assert(daisy_scheduler_task_done(s, 0));
    daisy_scheduler_counts(s, 1, &c);
    cr_assert_eq(c.ready, c.total, "every downstream block is ready");
    daisy_block_t b;
    cr_assert_eq(daisy_scheduler_acquire(s, 0, &b), 0);
    cr_assert_eq(daisy_scheduler_acquire(s, 1, &b), 1);
    daisy_scheduler_destroy(&s);
    daisy_markers_close(&m[0]);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(markers, huge_tasks_cost_disk_only_where_done, .timeout = 30)
{
    make_dir();
    int64_t zero[3] = {0, 0, 0}, total[3] = {10000, 10000, 10000}, one[3] = {1, 1, 1};
    daisy_task_t *t = daisy_task_new("huge", daisy_roi_make(3, zero, total),
                                     daisy_roi_make(3, zero, one), daisy_roi_make(3, zero, one));
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    daisy_markers_set(m, 5);
    daisy_markers_set(m, 999999999999ull);
    daisy_markers_close(&m);
    m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_eq(daisy_markers_count(m), 2);
    daisy_markers_close(&m);
    char path[256];
    snprintf(path, sizeof path, "%s/huge/c/0/0/0", dir);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 1000000000000ll);
    cr_assert_lt(st.st_blocks * 512, 1 << 20, "sparse: %lld bytes on disk",
                 (long long)st.st_blocks * 512);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A disk that fills up: a tmpfs of 64 KiB in a mount namespace of this
//  test's own (Criterion runs each test in a process of its own), so that
//  nothing outside sees it. Marks stop at the first that finds no space,
//  with an error naming the file, never a SIGBUS; those before it are on
//  disk, and with more space the rest go on.
//  A scratch directory on a private tmpfs of 64 KiB (skipped where there
//  can be none), and a pipeline of 300,000 blocks whose marks do not fit.
static daisy_pipeline_t *
full_disk(void)
{
    make_dir();
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
        || mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0)
        cr_skip_test("no private tmpfs here (needs root and mount namespaces): %s",
                     strerror(errno));
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *t = tu_task_1d("t", 0, 300000, 1, 0, 1);
    daisy_pipeline_add(p, &t);
    return p;
}

Test(markers, a_full_disk_is_an_error_not_a_crash, .timeout = 60)
{
    daisy_pipeline_t *p = full_disk();
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    uint64_t i = 0;
    for (; i < 300000 && daisy_markers_failure(m, &err) == 0; i++)
        daisy_markers_set(m, i);
    cr_assert_lt(i, 300000, "300,000 marks do not fit in 64 KiB");
    uint64_t recorded = daisy_markers_count(m);
    cr_assert_gt(recorded, 4096, "marks went on while pages could be had: %llu",
                 (unsigned long long)recorded);
    cr_assert(strstr(err.msg, "No space left on device"), "%s", err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_SYSTEM);
    cr_assert(strstr(err.msg, dir), "names the file: %s", err.msg);
    cr_assert_eq(daisy_markers_set(m, 299999), -1, "not recorded after the failure");
    cr_assert_eq(daisy_markers_count(m), recorded, "nothing recorded after the failure");
    cr_assert_eq(daisy_markers_set(m, 0), 0, "a block recorded before the failure still is");
    daisy_markers_close(&m);
    //  More space: what was recorded is there, and the rest can be.
    cr_assert_eq(mount("tmpfs", dir, NULL, MS_REMOUNT, "size=1m"), 0, "%s", strerror(errno));
    m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), recorded);
    for (i = 0; i < 300000; i++)
        daisy_markers_set(m, i);
    cr_assert_eq(daisy_markers_failure(m, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 300000);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    umount2(dir, MNT_DETACH);       //  the scratch directory can go
}

//  Blocks completed once the disk is full are counted as such, and the
//  summary says how many the markers miss: a resumed run does them again.
Test(markers, completed_blocks_not_recorded_are_counted, .timeout = 60)
{
    daisy_pipeline_t *p = full_disk();
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m[1] = {daisy_markers_open(dir, g, 0, false, &err)};
    cr_assert_not_null(m[0], "%s", err.msg);
    daisy_scheduler_t *s = daisy_scheduler_new_resumed(g, m, &err);
    cr_assert_not_null(s, "%s", err.msg);
    daisy_block_t b;
    uint64_t done = 0;
    while (daisy_scheduler_acquire(s, 0, &b) == 1) {
        cr_assert_eq(daisy_scheduler_release(s, (daisy_block_ref_t){0, b.index}, true, &err),
                     DAISY_RELEASE_SUCCESS, "%s", err.msg);
        done++;
    }
    cr_assert_eq(done, 300000);
    cr_assert_neq(daisy_markers_failure(m[0], &err), 0, "64 KiB cannot hold them");
    uint64_t recorded = daisy_markers_count(m[0]);
    cr_assert_eq(daisy_scheduler_unrecorded(s, 0), done - recorded, "%llu of %llu recorded",
                 (unsigned long long)recorded, (unsigned long long)done);
    daisy_summary_t *sum = daisy_summary_new(g);
    daisy_summary_update(sum, s);
    char *text = daisy_summary_format(sum);
    char line[160];
    snprintf(line, sizeof line, "%llu of the completed blocks are not in the done markers",
             (unsigned long long)(done - recorded));
    cr_assert(strstr(text, line), "%s", text);
    free(text);
    daisy_summary_destroy(&sum);
    daisy_scheduler_destroy(&s);
    daisy_markers_close(&m[0]);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    umount2(dir, MNT_DETACH);
}

//  zarr-python's experimental v3 API rewrote zarr.json in read mode, after
//  which daisy refused the directory and a reset could not repair it:
//  now a damaged or foreign zarr.json is refused, naming the way out, and
//  a reset replaces it.
Test(markers, a_damaged_or_foreign_array_is_replaced_by_a_reset)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    daisy_markers_set(m, 2);
    daisy_markers_close(&m);
    const char *foreign[] = {"{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": [10]}",
                             "{\"zarr_format\": 3, \"attributes\": {\"daisy\": {\"lay"};
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/a/zarr.json", dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(foreign[i], f);
        fclose(f);
        cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
        cr_assert(strstr(err.msg, "--reset-markers") && strstr(err.msg, path), "%s", err.msg);
        m = daisy_markers_open(dir, g, 0, true, &err);
        cr_assert_not_null(m, "a reset repairs it: %s", err.msg);
        cr_assert_eq(daisy_markers_count(m), 0, "and discards what the file held");
        daisy_markers_set(m, 5);
        daisy_markers_close(&m);
        m = daisy_markers_open(dir, g, 0, false, &err);
        cr_assert_not_null(m, "afterwards it opens as usual: %s", err.msg);
        cr_assert(daisy_markers_done(m, 5));
        daisy_markers_close(&m);
    }
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A chunk cut short (or grown) is damaged: refused, the file left as it
//  is, unless reset; one left empty by a crash before its first mark opens.
Test(markers, a_chunk_of_the_wrong_size_is_refused_unless_reset)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    daisy_markers_set(m, 2);
    daisy_markers_set(m, 8);
    daisy_markers_close(&m);
    char path[128];
    snprintf(path, sizeof path, "%s/a/c/0", dir);
    cr_assert_eq(truncate(path, 5), 0);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "holds 5 bytes")
              && strstr(err.msg, "--reset-markers"), "%s", err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_INPUT, "the user's to mend, not the system's");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_size, 5, "the refused file is left as it was");
    m = daisy_markers_open(dir, g, 0, true, &err);
    cr_assert_not_null(m, "a reset discards it: %s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0);
    daisy_markers_set(m, 3);
    daisy_markers_close(&m);
    cr_assert_eq(truncate(path, 0), 0);
    m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "an empty chunk is a crash before any mark: %s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  A FIFO in place of a chunk or a zarr.json (a damaged or hostile
//  directory) is refused, naming it, instead of blocking the open for
//  ever; a reset replaces the chunk. (The test's timeout is the hang.)
Test(markers, a_fifo_in_place_of_a_file_is_refused_not_waited_on, .timeout = 30)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    daisy_markers_set(m, 2);
    daisy_markers_close(&m);
    char chunk[128], meta[128], tdir[128];
    snprintf(tdir, sizeof tdir, "%s/a", dir);
    snprintf(chunk, sizeof chunk, "%s/a/c/0", dir);
    snprintf(meta, sizeof meta, "%s/a/zarr.json", dir);
    cr_assert_eq(unlink(chunk), 0);
    cr_assert_eq(mkfifo(chunk, 0600), 0);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, chunk) && strstr(err.msg, "not a regular file"), "%s", err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_INPUT, "the user's to mend, not the system's");
    daisy_markers_info_t info;
    cr_assert_eq(daisy_markers_inspect(tdir, &info, &err), -1);
    cr_assert(strstr(err.msg, chunk) && strstr(err.msg, "not a regular file"), "%s", err.msg);
    m = daisy_markers_open(dir, g, 0, true, &err);
    cr_assert_not_null(m, "a reset replaces it: %s", err.msg);
    daisy_markers_close(&m);
    struct stat st;
    cr_assert(stat(chunk, &st) == 0 && S_ISREG(st.st_mode));
    cr_assert_eq(unlink(meta), 0);
    cr_assert_eq(mkfifo(meta, 0600), 0);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, meta), "%s", err.msg);
    cr_assert_eq(daisy_markers_inspect(tdir, &info, &err), -1);
    cr_assert(strstr(err.msg, meta) && strstr(err.msg, "not a regular file"), "%s", err.msg);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Marks without their zarr.json (a copy cut short, the file deleted) fit
//  no layout: refused, not trusted; a reset discards them.
Test(markers, marks_without_metadata_are_refused_unless_reset)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    daisy_markers_set(m, 2);
    daisy_markers_close(&m);
    char meta[128];
    snprintf(meta, sizeof meta, "%s/a/zarr.json", dir);
    cr_assert_eq(unlink(meta), 0);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, "no zarr.json") && strstr(err.msg, "--reset-markers"), "%s",
              err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_INPUT);
    cr_assert_neq(access(meta, F_OK), 0, "the refusal wrote nothing");
    m = daisy_markers_open(dir, g, 0, true, &err);
    cr_assert_not_null(m, "a reset discards them: %s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  One run at a time on a task's markers: a second opening is refused while
//  the first is open (two runs would run the same blocks at once), and
//  allowed once it is closed (by any end of its process: the lock is the
//  kernel's).
Test(markers, markers_in_use_by_another_run_are_refused)
{
    make_dir();
    daisy_pipeline_t *p = two_tasks(100, 10);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    daisy_error_t err;
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, "in use by another run"), "%s", err.msg);
    cr_assert_eq(err.kind, DAISY_ERROR_INPUT);
    daisy_markers_t *other = daisy_markers_open(dir, g, 1, false, &err);
    cr_assert_not_null(other, "another task's markers are free: %s", err.msg);
    daisy_markers_close(&m);
    m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "free again once closed: %s", err.msg);
    daisy_markers_close(&m);
    daisy_markers_close(&other);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  daisy 2.0's done markers under dir/ID, 1D: their zarr.json (hash and
//  shape given) and a chunk of `size` bytes with `done` set.
static void
write_daisy2(const char *id, const char *hash, int64_t size, const int64_t *done, int ndone)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, id);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/%s/c", dir, id);
    mkdir(path, 0777);
    json_t *shape = json_pack("[I]", (json_int_t)size);
    json_t *meta = json_pack("{s:i, s:s, s:O, s:s, s:{s:s, s:{s:o}}, s:[{s:s}], s:{s:s}}",
                             "zarr_format", 3, "node_type", "array", "shape", shape,
                             "data_type", "uint8", "chunk_grid", "name", "regular",
                             "configuration", "chunk_shape", shape, "codecs", "name", "bytes",
                             "attributes", "daisy_task_hash", hash);
    snprintf(path, sizeof path, "%s/%s/zarr.json", dir, id);
    cr_assert_eq(json_dump_file(meta, path, 0), 0);
    json_decref(meta);
    snprintf(path, sizeof path, "%s/%s/c/0", dir, id);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    for (int64_t i = 0; i < size; i++) {
        bool on = false;
        for (int j = 0; j < ndone; j++)
            on |= done[j] == i;
        fputc(on, f);
    }
    fclose(f);
}

//  The hashes were computed by tests/integration/daisy2_markers.py
//  (Python's hashlib over the bytes daisy 2.0's compute_task_hash feeds).
Test(markers, daisy2_hash_is_daisy2s)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *d = tu_task_1d("d", 0, 100, 30, 12, 5);
    int64_t to[2] = {-7, 3}, ts[2] = {50, 40}, o[2] = {0, 0}, s[2] = {5, 5};
    daisy_task_t *e = daisy_task_new("e", tu_roi(2, to, ts), tu_roi(2, o, s), tu_roi(2, o, s));
    daisy_task_set_fit(e, DAISY_FIT_SHRINK);
    daisy_pipeline_add(p, &d);
    daisy_pipeline_add(p, &e);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    char hash[65];
    daisy_markers_daisy2_hash(g, 0, hash);
    cr_assert_str_eq(hash, "6b8fd2a280f0edf7a182c5b49829a1aaec23222a5c4a3b2fb01282d2b6520501");
    daisy_markers_daisy2_hash(g, 1, hash);
    cr_assert_str_eq(hash, "b78319827a5353b8c3d2e8609372966fda4569a02ec0d05fb41c907affc484e0");
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

//  Task d: 15 blocks of ours; daisy 2.0's grid is ceil(100 / 5) = 20 and a
//  block's element its position + 2 (context 12 / write 5).
Test(markers, daisy2_markers_of_the_layout_are_taken_over)
{
    make_dir();
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *d = tu_task_1d("d", 0, 100, 30, 12, 5);
    daisy_pipeline_add(p, &d);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    char hash[65], path[256];
    daisy_markers_daisy2_hash(g, 0, hash);
    int64_t done[] = {2, 5, 16};
    write_daisy2("d", hash, 20, done, 3);
    daisy_markers_info_t info;
    daisy_error_t err;
    snprintf(path, sizeof path, "%s/d", dir);
    cr_assert_eq(daisy_markers_inspect(path, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.format, DAISY_MARKERS_DAISY2);
    cr_assert_str_eq(info.task, "d");
    cr_assert_str_eq(info.layout, hash);
    cr_assert_eq(info.blocks, 20);
    cr_assert_eq(info.done, 3);
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, false, &err);
    cr_assert_not_null(m, "%s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 3);
    for (uint64_t i = 0; i < 15; i++)
        cr_assert_eq(daisy_markers_done(m, i), i == 0 || i == 3 || i == 14, "block %llu",
                     (unsigned long long)i);
    daisy_markers_set(m, 7);
    daisy_markers_close(&m);
    cr_assert_eq(daisy_markers_inspect(path, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.format, DAISY_MARKERS_DAISY_C);
    cr_assert_eq(info.blocks, 15);
    cr_assert_eq(info.done, 4);
    snprintf(path, sizeof path, "%s/d~daisy2", dir);
    cr_assert_eq(daisy_markers_inspect(path, &info, &err), 0, "theirs kept: %s", err.msg);
    cr_assert_eq(info.format, DAISY_MARKERS_DAISY2);
    cr_assert_eq(info.done, 3);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(markers, daisy2_markers_of_another_layout_are_refused_unless_reset)
{
    make_dir();
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_task_t *d = tu_task_1d("d", 0, 100, 30, 12, 5);
    daisy_pipeline_add(p, &d);
    daisy_graph_t *g = daisy_graph_new(p, NULL);
    int64_t done[] = {2};
    write_daisy2("d", "00ff", 20, done, 1);
    daisy_error_t err;
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    char tdir[128];
    snprintf(tdir, sizeof tdir, "%s/d", dir);
    cr_assert(strstr(err.msg, "task 'd'") && strstr(err.msg, tdir)
              && strstr(err.msg, "daisy_task_hash 00ff"), "%s", err.msg);
    daisy_markers_info_t info;
    cr_assert_eq(daisy_markers_inspect(tdir, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.format, DAISY_MARKERS_DAISY2, "left as it was");
    //  Their hash over a grid of another shape: damaged, named, left.
    char hash[65];
    daisy_markers_daisy2_hash(g, 0, hash);
    write_daisy2("d", hash, 19, done, 1);
    cr_assert_null(daisy_markers_open(dir, g, 0, false, &err));
    cr_assert(strstr(err.msg, "zarr.json': field \"shape\""), "%s", err.msg);
    cr_assert_eq(daisy_markers_inspect(tdir, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.blocks, 19, "left as it was");
    daisy_markers_t *m = daisy_markers_open(dir, g, 0, true, &err);
    cr_assert_not_null(m, "a reset discards them: %s", err.msg);
    cr_assert_eq(daisy_markers_count(m), 0);
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
}

Test(markers, inspect_names_the_file_and_field_at_fault)
{
    make_dir();
    daisy_markers_info_t info;
    daisy_error_t err;
    cr_assert_eq(daisy_markers_inspect(dir, &info, &err), -1);
    cr_assert(strstr(err.msg, "zarr.json") && strstr(err.msg, "No such file"), "%s", err.msg);
    char path[128];
    snprintf(path, sizeof path, "%s/zarr.json", dir);
    const char *bad[] = {"{\"shape\": [", "{\"attributes\": {}}",
                         "{\"attributes\": {\"daisy_task_hash\": \"ab\"}, \"shape\": [-1]}",
                         "{\"attributes\": {\"daisy_task_hash\": \"ab\"}, \"shape\": [4], "
                         "\"data_type\": \"uint16\"}",
                         "{\"attributes\": {\"daisy_task_hash\": \"ab\"}, \"shape\": [4], "
                         "\"data_type\": \"uint8\"}"};
    const char *want[] = {"is damaged", "daisy_task_hash", "field \"shape\"",
                          "field \"data_type\"", "c/0"};
    for (int i = 0; i < 5; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        cr_assert_eq(daisy_markers_inspect(dir, &info, &err), -1, "case %d", i);
        cr_assert(strstr(err.msg, want[i]), "case %d: %s", i, err.msg);
    }
}
