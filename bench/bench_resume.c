/*  bench_resume.c - what done markers and CurveZMQ cost the distributed
    runtime, and how fast a finished task resumes

    Three questions, one or two cases each:

    markers          No-op blocks through daisy_run_blockwise() (1D task, no
                     read/write conflicts, 2 forked workers, prefetch 16) in
                     the same process, without markers and with
                     options.markers_dir set to a fresh directory, so that
                     every completed block is also a store into the
                     memory-mapped markers file. After each markers run the
                     markers are opened again (daisy_markers_open) and must
                     count every block as done.
    resume_free      A finished 3D task of 10^7 blocks (100 x 100 x 1000 grid,
    resume_conflict  write 1^3; without and with read/write conflicts) is
                     marked done block by block (daisy_markers_set, set-up,
                     not timed, in a separate process). Timed: what resuming
                     it costs, i.e. daisy_graph_new + daisy_broker_new with
                     markers_dir (opens the markers, counts them, builds the
                     resumed scheduler, binds TCP) + daisy_serve with no
                     launcher (returns at once: nothing is left to do) + the
                     destroys. The broker's summary must say completed ==
                     skipped == 10^7. The set-up drops the markers file from
                     the page cache (posix_fadvise DONTNEED), so the first
                     timed run reads it from disk; a second run times the
                     same with the file cached (warm_*).
    curve            The no-op pipeline of `markers`, clear text against
                     CurveZMQ. daisy_run_blockwise() has no key options, so
                     the run is assembled from the public API: broker with
                     curve_secret/curve_allow, launcher whose spawn function
                     forks a worker running daisy_worker_run() with
                     curve_secret/broker_key. The clear-text run goes
                     through the same code without keys, so CURVE is the
                     only difference.

    Pairs. markers and curve run their two configurations as pairs of runs
    back to back, alternating which goes first (--pairs, default 3, 1 with
    --quick). Each pair gives a ratio (blocks/s measured / blocks/s
    reference); `ratio` is the median over pairs, which cancels most of the
    slow and fast spells of a shared VM. Wall-clock rates on a 2-core VM
    still vary by +-25% from run to run, so the CPU time per block of the
    broker (this process) and of the workers (its reaped children) is
    reported too: it is the steadier measure of what markers or CURVE add.

    Processes. Every case runs in its own forked child (the broker process
    of its runs); its peak RSS is getrusage(RUSAGE_SELF) taken just before
    it exits, so it holds neither the workers (its children) nor the
    resume set-up (another child). Figures come back through a pipe as one
    fixed-size struct. The no-op process function with its per-worker
    timestamps, the command line, the case loop and the forked children
    are bench_util's, shared with bench_broker.

    Output is one JSON object per case per line on stdout; errors go to
    stderr. The exit status is 1 when a run was wrong (a block not
    completed, markers that do not count every block, a resumed run that
    did not skip everything); a missed target does not change it (read
    `meets_target`).
*/
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "daisy/daisy.h"

typedef enum { KIND_MARKERS, KIND_RESUME, KIND_CURVE } kind_t;

typedef struct {
    const char *name;
    const char *what;          //  one line for --help
    kind_t kind;
    uint64_t blocks;           //  markers, curve: 1D blocks (full run)
    uint64_t blocks_quick;
    int64_t grid[3];           //  resume: blocks per dimension (full run)
    int64_t grid_quick[3];
    bool conflict;             //  resume: read/write conflicts (context 1)
    double target;             //  ratio >= target, or seconds < target (resume)
} bench_case_t;

#define WORKERS 2
#define WINDOW 16

static const bench_case_t cases[] = {
    {"markers", "no-op blocks, 2 workers, prefetch 16: markers on vs off",
     KIND_MARKERS, 400000, 20000, {0}, {0}, false, 0.90},
    {"resume_free", "resume a finished 3D task of 10^7 blocks, no conflicts",
     KIND_RESUME, 0, 0, {100, 100, 1000}, {100, 100, 100}, false, 2.0},
    {"resume_conflict", "resume a finished 3D task of 10^7 blocks, with conflicts",
     KIND_RESUME, 0, 0, {100, 100, 1000}, {100, 100, 100}, true, 2.0},
    {"curve", "no-op blocks, 2 workers, prefetch 16: CurveZMQ vs clear text",
     KIND_CURVE, 400000, 20000, {0}, {0}, false, 0.60},
};
#define NCASES (sizeof cases / sizeof cases[0])

//  markers and curve run the reference and the measured configuration in
//  pairs, alternating which goes first (off-on, on-off, ...), so that a
//  slow spell of a shared machine does not land on one side only.
#define MAX_PAIRS 9
#define PAIRS 3
#define PAIRS_QUICK 1

//  One timed run through the broker and workers.
typedef struct {
    double seconds;            //  call to return
    double steady_seconds;     //  first block processed anywhere to last
    double broker_cpu;         //  CPU seconds (user + system) of this process
    double workers_cpu;        //  ... of the workers (reaped during the run)
} run_t;

//  A resumed run, by phase (seconds).
typedef struct {
    double graph;              //  daisy_graph_new
    double broker_new;         //  daisy_broker_new: markers opened and counted, bind
    double serve;              //  daisy_serve, returns at once
    double destroy;            //  broker (markers closed) and graph
    double total;
} phases_t;

//  What a case child sends back (fixed size, well under PIPE_BUF).
typedef struct {
    int ok;
    char msg[DAISY_ERROR_MAX + 64];
    uint64_t blocks;
    uint32_t pairs;            //  markers, curve: pairs of runs
    run_t reference[MAX_PAIRS];    //  markers off / clear text
    run_t measured[MAX_PAIRS];     //  markers on / CURVE
    uint64_t markers_counted;  //  markers: daisy_markers_count() after the run
    //  resume
    double setup_seconds;      //  marking every block (separate process)
    double resident_pct;       //  of the markers file in the page cache before `cold`
    phases_t cold;             //  first resumed run, markers evicted from the cache
    phases_t warm;             //  the same again, markers now in the cache
    uint64_t completed, skipped;
    long rss_kib;
} result_t;

//  No-op runs ------------------------------------------------------------------

//  Check the summary and the workers' timestamps of a run that started at
//  t0 and ended at t1; fill `run`.
static int
finish_run(const daisy_task_counts_t *c, uint64_t blocks, int64_t t0, int64_t t1,
           const char *log_dir, run_t *run, result_t *r)
{
    bench_span_t span;
    if (bench_noop_check(c, blocks, log_dir, &span, r->msg, sizeof r->msg) != 0)
        return -1;
    run->seconds = (double)(t1 - t0) * 1e-9;
    run->steady_seconds = (double)(span.last_ns - span.first_ns) * 1e-9;
    return 0;
}

//  markers -------------------------------------------------------------------

//  One run through daisy_run_blockwise(), with markers in `markers_dir`
//  (NULL: none).
static int
blockwise_run(const daisy_pipeline_t *p, uint64_t blocks, const char *markers_dir,
              run_t *run, result_t *r)
{
    char log_dir[256];
    if (bench_tmpdir(log_dir, sizeof log_dir, "bench_resume_logs") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    if (bench_noop_reset(r->msg, sizeof r->msg) != 0)
        return -1;
    daisy_blockwise_options_t o = {.log_dir = log_dir, .prefetch = WINDOW,
                                   .markers_dir = markers_dir};
    daisy_error_t err;
    double self0 = bench_cpu_seconds(RUSAGE_SELF), children0 = bench_cpu_seconds(RUSAGE_CHILDREN);
    int64_t t0 = bench_now_ns();
    daisy_summary_t *summary = daisy_run_blockwise(p, &o, &err);
    int64_t t1 = bench_now_ns();
    run->broker_cpu = bench_cpu_seconds(RUSAGE_SELF) - self0;
    run->workers_cpu = bench_cpu_seconds(RUSAGE_CHILDREN) - children0;
    if (!summary)
        return snprintf(r->msg, sizeof r->msg, "run_blockwise: %s", err.msg), -1;
    int rc = finish_run(daisy_summary_counts(summary, 0), blocks, t0, t1, log_dir, run, r);
    daisy_summary_destroy(&summary);
    if (rc == 0)
        bench_remove_tree(log_dir);
    return rc;
}

//  Open the markers under `dir` again: every block must be marked done.
static int
check_markers(const daisy_pipeline_t *p, const char *dir, uint64_t blocks, result_t *r)
{
    daisy_error_t err;
    int rc = 0;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_markers_t *m = g ? daisy_markers_open(dir, g, 0, false, &err) : NULL;
    if (!m)
        rc = (snprintf(r->msg, sizeof r->msg, "markers: %s", err.msg), -1);
    else {
        r->markers_counted = daisy_markers_count(m);
        if (r->markers_counted != blocks)
            rc = (snprintf(r->msg, sizeof r->msg, "markers count %llu blocks done of %llu",
                           (unsigned long long)r->markers_counted,
                           (unsigned long long)blocks), -1);
    }
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    return rc;
}

//  A run with markers in a fresh directory, checked afterwards.
static int
markers_run(const daisy_pipeline_t *p, uint64_t blocks, run_t *run, result_t *r)
{
    char dir[256];
    if (bench_tmpdir(dir, sizeof dir, "bench_resume_markers") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    int rc = blockwise_run(p, blocks, dir, run, r);
    if (rc == 0)
        rc = check_markers(p, dir, blocks, r);
    bench_remove_tree(dir);
    return rc;
}

static int
case_markers(uint64_t blocks, uint32_t pairs, result_t *r)
{
    daisy_pipeline_t *p = bench_noop_pipeline(blocks, WORKERS);
    r->blocks = blocks;
    r->pairs = pairs;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < pairs; i++) {
        bool off_first = i % 2 == 0;
        rc = off_first ? blockwise_run(p, blocks, NULL, &r->reference[i], r)
                       : markers_run(p, blocks, &r->measured[i], r);
        if (rc == 0)
            rc = off_first ? markers_run(p, blocks, &r->measured[i], r)
                           : blockwise_run(p, blocks, NULL, &r->reference[i], r);
    }
    daisy_pipeline_destroy(&p);
    return rc;
}

//  resume --------------------------------------------------------------------

#define RESUME_TASK "resume"

//  One 3D task over the grid, writing 1^3 per block; with conflicts it
//  reads one voxel of context on every side (3^3), so neighbours conflict.
static daisy_pipeline_t *
grid_pipeline(const int64_t grid[3], bool conflict)
{
    int64_t zero[3] = {0, 0, 0}, one[3] = {1, 1, 1}, three[3] = {3, 3, 3};
    int64_t total[3];
    for (int d = 0; d < 3; d++)
        total[d] = grid[d] + (conflict ? 2 : 0);
    daisy_roi_t read = conflict ? daisy_roi_make(3, zero, three) : daisy_roi_make(3, zero, one);
    daisy_roi_t write = daisy_roi_make(3, conflict ? one : zero, one);
    daisy_task_t *t = daisy_task_new(RESUME_TASK, daisy_roi_make(3, zero, total), read, write);
    daisy_task_set_read_write_conflict(t, conflict);
    daisy_task_set_process(t, bench_noop, NULL);
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    return p;
}

//  The markers chunk of the 3D task (see daisy/markers.h).
static void
chunk_path(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "%s/" RESUME_TASK "/c/0/0/0", dir);
}

typedef struct {
    int ok;
    char msg[DAISY_ERROR_MAX + 64];
    double seconds;
} setup_result_t;

//  In a separate process: mark every block of task 0 done, close (which
//  writes the file to disk), then drop the file's pages from the page
//  cache so that the timed run reads it from disk.
static void
setup_process(const daisy_pipeline_t *p, const char *dir, uint64_t blocks, int fd)
{
    setup_result_t s;
    memset(&s, 0, sizeof s);
    double t0 = bench_now();
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_markers_t *m = g ? daisy_markers_open(dir, g, 0, false, &err) : NULL;
    if (!m)
        snprintf(s.msg, sizeof s.msg, "set-up: %s", err.msg);
    else if (daisy_graph_block_count(g, 0) != blocks)
        snprintf(s.msg, sizeof s.msg, "set-up: the grid has %llu blocks, not %llu",
                 (unsigned long long)daisy_graph_block_count(g, 0),
                 (unsigned long long)blocks);
    else {
        for (uint64_t i = 0; i < blocks; i++)
            daisy_markers_set(m, i);
        if (daisy_markers_count(m) != blocks)
            snprintf(s.msg, sizeof s.msg, "set-up: %llu of %llu blocks marked",
                     (unsigned long long)daisy_markers_count(m), (unsigned long long)blocks);
        else
            s.ok = 1;
    }
    daisy_markers_close(&m);
    daisy_graph_destroy(&g);
    char path[512];
    chunk_path(dir, path, sizeof path);
    int cfd = open(path, O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) {
        fdatasync(cfd);
        posix_fadvise(cfd, 0, 0, POSIX_FADV_DONTNEED);
        close(cfd);
    }
    s.seconds = bench_now() - t0;
    bench_child_exit(fd, &s, sizeof s, s.ok);
}

static int
run_setup(const daisy_pipeline_t *p, const char *dir, uint64_t blocks, result_t *r)
{
    int fd;
    pid_t pid = bench_fork(&fd, r->msg, sizeof r->msg);
    if (pid == 0)
        setup_process(p, dir, blocks, fd);
    setup_result_t s;
    if (pid < 0
        || bench_collect(pid, fd, &s, sizeof s, "set-up process", NULL, r->msg,
                         sizeof r->msg) != 0)
        return -1;
    if (!s.ok)
        return snprintf(r->msg, sizeof r->msg, "%s", s.msg), -1;
    r->setup_seconds = s.seconds;
    return 0;
}

//  Percentage of the markers chunk in the page cache (mincore, which
//  faults nothing in); -1 when it cannot be told.
static double
resident_pct(const char *dir)
{
    char path[512];
    chunk_path(dir, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (size + page - 1) / page, in = 0;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(pages);
    double pct = -1;
    if (map != MAP_FAILED && vec && mincore(map, size, vec) == 0) {
        for (size_t i = 0; i < pages; i++)
            in += vec[i] & 1;
        pct = 100.0 * (double)in / (double)pages;
    }
    free(vec);
    if (map != MAP_FAILED)
        munmap(map, size);
    close(fd);
    return pct;
}

//  The timed part: what a resumed run costs from graph to destroy. The
//  run must be complete at once, every block skipped.
static int
timed_resume(const daisy_pipeline_t *p, const char *dir, const char *log_dir,
             uint64_t blocks, phases_t *ph, result_t *r)
{
    daisy_broker_options_t bo = daisy_broker_options_default();
    bo.bind = "tcp://127.0.0.1:*";
    bo.log_dir = log_dir;
    bo.markers_dir = dir;
    daisy_error_t err;
    double t0 = bench_now();
    daisy_graph_t *g = daisy_graph_new(p, &err);
    double t1 = bench_now();
    daisy_broker_t *b = g ? daisy_broker_new(g, &bo, &err) : NULL;
    double t2 = bench_now(), t3 = t2;
    int served = -1;
    daisy_task_counts_t c = {0};
    if (b) {
        served = daisy_serve(b, NULL, NULL, NULL);
        t3 = bench_now();
        c = *daisy_summary_counts(daisy_broker_summary(b), 0);
    }
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&g);
    double t4 = bench_now();
    ph->graph = t1 - t0;
    ph->broker_new = t2 - t1;
    ph->serve = t3 - t2;
    ph->destroy = t4 - t3;
    ph->total = t4 - t0;
    r->completed = c.completed;
    r->skipped = c.skipped;
    if (served < 0)
        return snprintf(r->msg, sizeof r->msg, "resume: %s", err.msg), -1;
    if (served != 0 || c.total != blocks || c.completed != blocks || c.skipped != blocks)
        return snprintf(r->msg, sizeof r->msg,
                        "resume: serve returned %d; of %llu blocks %llu completed, "
                        "%llu skipped (all of them expected)", served,
                        (unsigned long long)c.total, (unsigned long long)c.completed,
                        (unsigned long long)c.skipped), -1;
    return 0;
}

static int
case_resume(const int64_t grid[3], bool conflict, result_t *r)
{
    uint64_t blocks = (uint64_t)(grid[0] * grid[1] * grid[2]);
    r->blocks = blocks;
    char dir[256], log_dir[256];
    if (bench_tmpdir(dir, sizeof dir, "bench_resume_markers") != 0
        || bench_tmpdir(log_dir, sizeof log_dir, "bench_resume_logs") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    daisy_pipeline_t *p = grid_pipeline(grid, conflict);
    int rc = run_setup(p, dir, blocks, r);
    if (rc == 0) {
        r->resident_pct = resident_pct(dir);
        rc = timed_resume(p, dir, log_dir, blocks, &r->cold, r);
    }
    if (rc == 0)
        rc = timed_resume(p, dir, log_dir, blocks, &r->warm, r);
    bench_remove_tree(dir);
    bench_remove_tree(log_dir);
    daisy_pipeline_destroy(&p);
    return rc;
}

//  curve ---------------------------------------------------------------------

//  Key files for a CURVE run (empty strings for clear text).
typedef struct {
    char worker_secret[512];   //  the worker's secret key file
    char broker_public[512];   //  the broker's public key file
} keys_t;

static void
run_worker(const keys_t *keys, const char *endpoint, const char *worker_id, const char *run_id)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    daisy_worker_options_t opt = daisy_worker_options_default();
    opt.endpoint = endpoint;
    opt.task_id = "noop";
    opt.worker_id = worker_id;
    opt.run_id = run_id;
    opt.prefetch = WINDOW;
    opt.give_up_ms = 60000;
    if (*keys->worker_secret) {
        opt.curve_secret = keys->worker_secret;
        opt.broker_key = keys->broker_public;
    }
    daisy_error_t err;
    daisy_worker_t *w = daisy_worker_new(&opt, &err);
    int rc = w ? daisy_worker_run(w, bench_noop, NULL, &err) : -1;
    if (rc < 0)
        fprintf(stderr, "worker %s: %s\n", worker_id, err.msg);
    daisy_worker_destroy(&w);
    fflush(NULL);
    _exit(rc < 0 ? 1 : 0);
}

//  The launcher's spawn function: as broker/blockwise.c forks its workers.
static pid_t
fork_worker(void *arg, uint32_t task, const char *endpoint, const char *worker_id,
            const char *run_id, int out_fd, int err_fd)
{
    (void)task;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    run_worker(arg, endpoint, worker_id, run_id);
    return -1;   //  not reached
}

//  A broker with (or without) keys and a launcher forking the workers.
static int
served_run(const daisy_pipeline_t *p, uint64_t blocks, const keys_t *keys,
           const char *broker_secret, const char *allow_dir, run_t *run, result_t *r)
{
    char log_dir[256];
    if (bench_tmpdir(log_dir, sizeof log_dir, "bench_resume_logs") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    if (bench_noop_reset(r->msg, sizeof r->msg) != 0)
        return -1;
    daisy_error_t err;
    double self0 = bench_cpu_seconds(RUSAGE_SELF), children0 = bench_cpu_seconds(RUSAGE_CHILDREN);
    int64_t t0 = bench_now_ns();
    daisy_graph_t *g = daisy_graph_new(p, &err);
    daisy_broker_options_t bo = daisy_broker_options_default();
    bo.bind = "tcp://127.0.0.1:*";
    bo.log_dir = log_dir;
    bo.curve_secret = broker_secret;
    bo.curve_allow = allow_dir;
    daisy_launcher_options_t lo = {.log_dir = log_dir, .spawn = fork_worker,
                                   .spawn_arg = (void *)keys};
    daisy_broker_t *b = g ? daisy_broker_new(g, &bo, &err) : NULL;
    daisy_launcher_t *l = b ? daisy_launcher_new(b, &lo, &err) : NULL;
    int rc = -1;
    daisy_task_counts_t c = {0};
    daisy_broker_stats_t stats = {0};
    if (l) {
        daisy_serve(b, l, NULL, NULL);
        c = *daisy_summary_counts(daisy_broker_summary(b), 0);
        daisy_broker_stats(b, &stats);
        rc = 0;
    } else
        snprintf(r->msg, sizeof r->msg, "%s: %s", broker_secret ? "curve" : "clear", err.msg);
    daisy_launcher_destroy(&l);
    daisy_broker_destroy(&b);
    daisy_graph_destroy(&g);
    int64_t t1 = bench_now_ns();
    run->broker_cpu = bench_cpu_seconds(RUSAGE_SELF) - self0;
    run->workers_cpu = bench_cpu_seconds(RUSAGE_CHILDREN) - children0;
    if (rc == 0 && stats.auth_refused > 0)
        rc = (snprintf(r->msg, sizeof r->msg, "curve: %llu worker connections refused",
                      (unsigned long long)stats.auth_refused), -1);
    if (rc == 0)
        rc = finish_run(&c, blocks, t0, t1, log_dir, run, r);
    if (rc == 0)
        bench_remove_tree(log_dir);
    return rc;
}

//  Key pairs for the broker and the worker under `dir`; the worker's public
//  key goes into dir/allow. 0 on success.
static int
make_keys(const char *dir, keys_t *keys, char *broker_secret, size_t bs_size,
          char *allow_dir, size_t ad_size, result_t *r)
{
    char broker_base[512], worker_allowed[512];
    snprintf(broker_base, sizeof broker_base, "%s/broker", dir);
    snprintf(keys->broker_public, sizeof keys->broker_public, "%s/broker", dir);
    snprintf(broker_secret, bs_size, "%s/broker_secret", dir);
    snprintf(keys->worker_secret, sizeof keys->worker_secret, "%s/worker_secret", dir);
    snprintf(allow_dir, ad_size, "%s/allow", dir);
    snprintf(worker_allowed, sizeof worker_allowed, "%s/allow/worker", dir);
    char worker_base[512];
    snprintf(worker_base, sizeof worker_base, "%s/worker", dir);
    if (!zsys_has_curve())
        return snprintf(r->msg, sizeof r->msg, "libzmq was built without CurveZMQ"), -1;
    if (mkdir(allow_dir, 0700) != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdir %s: %s", allow_dir, strerror(errno)), -1;
    zcert_t *bc = zcert_new(), *wc = zcert_new();
    int rc = bc && wc && zcert_save(bc, broker_base) == 0 && zcert_save(wc, worker_base) == 0
          && zcert_save_public(wc, worker_allowed) == 0 ? 0 : -1;
    zcert_destroy(&bc);
    zcert_destroy(&wc);
    if (rc != 0)
        snprintf(r->msg, sizeof r->msg, "cannot write key files under %s", dir);
    return rc;
}

static int
case_curve(uint64_t blocks, uint32_t pairs, result_t *r)
{
    char dir[256], broker_secret[512], allow_dir[512];
    if (bench_tmpdir(dir, sizeof dir, "bench_resume_keys") != 0)
        return snprintf(r->msg, sizeof r->msg, "mkdtemp: %s", strerror(errno)), -1;
    static keys_t clear, curve;
    memset(&clear, 0, sizeof clear);
    int rc = make_keys(dir, &curve, broker_secret, sizeof broker_secret, allow_dir,
                       sizeof allow_dir, r);
    daisy_pipeline_t *p = bench_noop_pipeline(blocks, WORKERS);
    r->blocks = blocks;
    r->pairs = pairs;
    for (uint32_t i = 0; rc == 0 && i < pairs; i++) {
        bool clear_first = i % 2 == 0;
        if (clear_first)
            rc = served_run(p, blocks, &clear, NULL, NULL, &r->reference[i], r);
        if (rc == 0)
            rc = served_run(p, blocks, &curve, broker_secret, allow_dir, &r->measured[i], r);
        if (rc == 0 && !clear_first)
            rc = served_run(p, blocks, &clear, NULL, NULL, &r->reference[i], r);
    }
    bench_remove_tree(dir);
    daisy_pipeline_destroy(&p);
    return rc;
}

//  Children and parent ---------------------------------------------------------

static void
case_child(const bench_case_t *c, bool quick, uint32_t pairs, int fd)
{
    result_t r;
    memset(&r, 0, sizeof r);
    uint64_t blocks = quick ? c->blocks_quick : c->blocks;
    int rc;
    if (c->kind == KIND_MARKERS)
        rc = case_markers(blocks, pairs, &r);
    else if (c->kind == KIND_CURVE)
        rc = case_curve(blocks, pairs, &r);
    else
        rc = case_resume(quick ? c->grid_quick : c->grid, c->conflict, &r);
    r.ok = rc == 0;
    r.rss_kib = bench_peak_rss_kib();
    bench_child_exit(fd, &r, sizeof r, r.ok);
}

static int
run_case(const bench_case_t *c, bool quick, uint32_t pairs, result_t *r)
{
    char err[256];
    int fd;
    pid_t pid = bench_fork(&fd, err, sizeof err);
    if (pid == 0)
        case_child(c, quick, pairs, fd);
    if (pid < 0
        || bench_collect(pid, fd, r, sizeof *r, "case process", NULL, err, sizeof err) != 0)
        return fprintf(stderr, "bench_resume: %s: %s\n", c->name, err), -1;
    if (!r->ok)
        return fprintf(stderr, "bench_resume: %s: %s\n", c->name, r->msg), -1;
    return 0;
}

//  Median CPU microseconds per block over the runs (broker or workers).
static double
median_cpu_us(const run_t *runs, uint32_t n, uint64_t blocks, bool workers)
{
    double v[MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++)
        v[i] = (workers ? runs[i].workers_cpu : runs[i].broker_cpu) * 1e6 / (double)blocks;
    return bench_median(v, n);
}

//  Median rate over the pairs (total or steady).
static double
median_rate(const run_t *runs, uint32_t n, uint64_t blocks, bool steady)
{
    double v[MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++)
        v[i] = bench_rate(blocks, steady ? runs[i].steady_seconds : runs[i].seconds);
    return bench_median(v, n);
}

static void
print_rates(const char *key, const run_t *runs, uint32_t n, uint64_t blocks)
{
    double v[MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++)
        v[i] = bench_rate(blocks, runs[i].seconds);
    bench_json_numbers(key, v, n, 0);
}

static void
print_ratio_case(const bench_case_t *c, bool quick, const result_t *r)
{
    bool markers = c->kind == KIND_MARKERS;
    uint32_t n = r->pairs;
    double ref = median_rate(r->reference, n, r->blocks, false);
    double got = median_rate(r->measured, n, r->blocks, false);
    double ref_steady = median_rate(r->reference, n, r->blocks, true);
    double got_steady = median_rate(r->measured, n, r->blocks, true);
    double pair_ratio[MAX_PAIRS], sorted[MAX_PAIRS];
    for (uint32_t i = 0; i < n; i++)
        sorted[i] = pair_ratio[i] = r->reference[i].seconds > 0 && r->measured[i].seconds > 0
                                  ? r->reference[i].seconds / r->measured[i].seconds : 0;
    //  The ratio is the median over pairs: the two runs of a pair ran back
    //  to back, so slow spells of the machine cancel out within a pair.
    double ratio = bench_median(sorted, n);
    printf("{\"case\": \"%s\", \"quick\": %s, \"workers\": %d, \"window\": %d, "
           "\"blocks\": %llu, \"pairs\": %u, \"measured\": \"%s\", \"reference\": \"%s\", "
           "\"blocks_per_s\": %.0f, \"steady_blocks_per_s\": %.0f, "
           "\"reference_per_s\": %.0f, \"reference_steady_per_s\": %.0f, ",
           c->name, bench_bool(quick), WORKERS, WINDOW,
           (unsigned long long)r->blocks, n, markers ? "markers on" : "CurveZMQ",
           markers ? "markers off" : "clear text", got, got_steady, ref, ref_steady);
    print_rates("runs_per_s", r->measured, n, r->blocks);
    print_rates("reference_runs_per_s", r->reference, n, r->blocks);
    printf("\"broker_cpu_us_per_block\": %.3f, \"reference_broker_cpu_us_per_block\": %.3f, "
           "\"workers_cpu_us_per_block\": %.3f, "
           "\"reference_workers_cpu_us_per_block\": %.3f, ",
           median_cpu_us(r->measured, n, r->blocks, false),
           median_cpu_us(r->reference, n, r->blocks, false),
           median_cpu_us(r->measured, n, r->blocks, true),
           median_cpu_us(r->reference, n, r->blocks, true));
    printf("\"ratio\": %.4f, \"ratio_of_medians\": %.4f, \"steady_ratio\": %.4f, ", ratio,
           ref > 0 ? got / ref : 0, ref_steady > 0 ? got_steady / ref_steady : 0);
    bench_json_numbers("pair_ratios", pair_ratio, n, 4);
    if (markers)
        printf("\"markers_counted\": %llu, ", (unsigned long long)r->markers_counted);
    printf("\"peak_rss_kib\": %ld, \"target\": \"ratio >= %.2f\", \"meets_target\": %s}\n",
           r->rss_kib, c->target, bench_bool(ratio >= c->target));
    fflush(stdout);
}

static void
print_phases(const char *prefix, const phases_t *ph)
{
    printf("\"%sseconds\": %.4f, \"%sgraph_seconds\": %.6f, \"%sbroker_new_seconds\": %.4f, "
           "\"%sserve_seconds\": %.6f, \"%sdestroy_seconds\": %.4f, ",
           prefix, ph->total, prefix, ph->graph, prefix, ph->broker_new, prefix, ph->serve,
           prefix, ph->destroy);
}

static void
print_resume_case(const bench_case_t *c, bool quick, const result_t *r)
{
    const int64_t *g = quick ? c->grid_quick : c->grid;
    bool meets = r->cold.total < c->target && r->warm.total < c->target;
    printf("{\"case\": \"%s\", \"quick\": %s, \"conflict\": %s, "
           "\"grid\": [%lld, %lld, %lld], \"blocks\": %llu, \"setup_seconds\": %.4f, "
           "\"resident_pct_before\": %.1f, ",
           c->name, bench_bool(quick), bench_bool(c->conflict),
           (long long)g[0], (long long)g[1], (long long)g[2], (unsigned long long)r->blocks,
           r->setup_seconds, r->resident_pct);
    print_phases("", &r->cold);
    print_phases("warm_", &r->warm);
    printf("\"completed\": %llu, \"skipped\": %llu, \"peak_rss_kib\": %ld, "
           "\"target\": \"seconds < %.1f\", \"meets_target\": %s}\n",
           (unsigned long long)r->completed, (unsigned long long)r->skipped, r->rss_kib,
           c->target, bench_bool(meets));
    fflush(stdout);
}

//  --pairs N: pairs of runs for markers and curve (0: the default).
static long opt_pairs;

static int
option(int opt, const char *arg)
{
    char *end;
    opt_pairs = strtol(arg, &end, 10);
    return opt == 'p' && !*end && opt_pairs >= 1 && opt_pairs <= MAX_PAIRS ? 0 : -1;
}

static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    uint32_t pairs = opt_pairs ? (uint32_t)opt_pairs : args->quick ? PAIRS_QUICK : PAIRS;
    result_t r;
    if (run_case(c, args->quick, pairs, &r) != 0)
        return -1;
    if (c->kind == KIND_RESUME)
        print_resume_case(c, args->quick, &r);
    else
        print_ratio_case(c, args->quick, &r);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pairs", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    static const bench_prog_t prog = {
        .name = "bench_resume",
        .usage = "usage: bench_resume [--case NAME] [--quick] [--pairs N] [--help]\n"
                 "What done markers and CurveZMQ cost the broker, and how fast a finished\n"
                 "task resumes; one JSON line per case.\n"
                 "  --case NAME  run only this case\n"
                 "  --quick      20x fewer no-op blocks, 10^6-block resume, 1 pair (smoke test)\n"
                 "  --pairs N    markers, curve: N alternating pairs of runs, medians\n"
                 "               reported (default 3, with --quick 1; at most 9)\n"
                 "cases:\n",
        .cases = cases, .ncases = NCASES, .case_size = sizeof cases[0],
        .what_offset = offsetof(bench_case_t, what), .name_width = 16,
        .run = bench,
        .extra_short = "p:", .extra_long = opts, .extra = option,
    };
    return bench_main(&prog, argc, argv);
}
