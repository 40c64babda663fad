/*  bench_scheduler.c - how fast the scheduler hands out blocks, and in how
    much memory

    The scheduler is the only part of daisy that touches every block, so its
    cost per block bounds how fine a volume may be cut. This program drives
    it the way a runner with infinitely fast workers would: one loop that
    acquires a block and releases it at once as a success, round-robin over
    the tasks of the pipeline, downstream tasks first and at most
    TURN_LIMIT blocks per task and turn (as the serial runner does, so that
    released blocks are consumed while their neighbours are still in
    cache), until daisy_scheduler_done(). Nothing else runs, so what is
    measured is the scheduler alone: ready queues, the processing map, the
    resolver counting down downstream blocks, and the graph arithmetic
    that fills every block.

    Each case runs in its own forked child, for two reasons: peak RSS
    (ru_maxrss from wait4()) is then the case's own and not the maximum of
    every case before it, and a case that crashes or runs out of memory
    cannot take the others down. The child sends its figures back through a
    pipe as one fixed-size struct (smaller than PIPE_BUF, so one write).
    The command line, the case loop and the child plumbing are
    bench_util's, shared with the other benchmark programs.

    Raw blocks/s depends on the machine, so each child also times a plain
    loop that only computes the same number of blocks through the graph
    (daisy_graph_block, in index order) and nothing else: the cost of
    merely enumerating blocks. The two loops take turns of about 65,536
    blocks (CHUNK), so that both run in the same spells of a shared
    machine. `ratio` = scheduler rate / enumeration rate
    is the scheduling overhead in machine-independent form (1.0 would mean
    scheduling is free). Both loops are also timed in the child's own CPU
    time (CLOCK_THREAD_CPUTIME_ID): on a machine shared with other jobs the
    wall-clock ratio moves by 2x from run to run as the two loops get
    different shares of a core, while cpu_ratio only sees what the loops
    themselves did (cache and frequency effects of the neighbours remain).

    Both loops fold every block into an order-independent checksum (a sum
    of hashed (task, block id) pairs), which keeps the compiler from
    dropping the work and, where every block is processed, proves that the
    scheduler handed out exactly the blocks of the graph: same count, same
    multiset of ids, and done() at the end. Any mismatch exits non-zero.
    Missed throughput targets do not: timings on shared CI machines are
    noise, correctness is not.

    Memory: besides the peak, the child samples its resident set (VmRSS)
    each time the number of blocks processed reaches a power of ten, so
    the long cases show whether memory follows the frontier or the work
    done (rss_kib_at, and rss_growth: the last sample over the one before).

    Output is one JSON object per case per line on stdout (easy to diff,
    grep and feed to jq); progress and errors go to stderr.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "daisy/daisy.h"

//  Blocks are 10^3 voxels written, read with 2 voxels of context on every
//  side: neighbours' read ROIs overlap their write ROIs, so with conflicts
//  on the scheduler must keep them apart (2^3 levels).
#define WRITE_SIZE 10
#define CONTEXT 2

typedef struct {
    const char *name;
    const char *what;          //  one line for --help
    int ntasks;                //  chained: task i reads task i-1
    int64_t per_dim;           //  blocks per dimension (full run)
    int64_t per_dim_quick;     //  ... with --quick (about 10x fewer blocks)
    bool conflict;
    uint64_t limit;            //  blocks to process; 0 means all of them
    uint64_t limit_quick;
    double target_per_s;       //  0 when the target is not a rate
    long target_rss_kib;       //  0 when the target is not memory
    double target_growth;      //  RSS after `limit` / after limit/10; 0: none
} bench_case_t;

static const bench_case_t cases[] = {
    {"3d_conflict", "one 3D task, 100^3 blocks, read/write conflicts",
     1, 100, 46, true, 0, 0, 1e6, 0, 0},
    {"3d_free", "one 3D task, 100^3 blocks, no conflicts",
     1, 100, 46, false, 0, 0, 5e6, 0, 0},
    {"pipeline", "three chained 3D tasks, 67^3 blocks each, conflicts",
     3, 67, 31, true, 0, 0, 5e5, 0, 0},
    {"huge", "one 3D task of 10^12 blocks, first 10^7, no conflicts",
     1, 10000, 10000, false, 10000000, 1000000, 0, 65536, 0},
    {"huge_conflict", "as huge, with conflicts (memory reported, no target)",
     1, 10000, 10000, true, 10000000, 1000000, 0, 0, 0},
    {"huge_conflict_1e8", "as huge_conflict, first 10^8 blocks (about 15 s)",
     1, 10000, 10000, true, 100000000, 1000000, 0, 65536, 1.2},
    {"chain_huge", "two chained 3D tasks of 10^9 blocks each, conflicts, first 10^8 (25 s)",
     2, 1000, 1000, true, 100000000, 1000000, 0, 65536, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

//  What a child sends back. Fixed size and well under PIPE_BUF.
typedef struct {
    int ok;
    char msg[DAISY_ERROR_MAX + 64];   //  room for a library message and a prefix
    uint64_t total;            //  blocks in the pipeline
    uint64_t blocks;           //  blocks processed
    double setup_seconds;      //  graph + scheduler construction
    double seconds;            //  scheduler loop
    double ref_seconds;        //  enumeration loop
    double cpu_seconds;        //  the same two in this thread's CPU time
    double ref_cpu_seconds;
    uint64_t checksum;
    uint64_t ref_checksum;
    long rss_kib_at[20];       //  [i]: VmRSS once 10^i blocks were processed, 0 if never
} result_t;

//  splitmix64's finaliser: summing hashes rather than raw ids makes the
//  checksum sensitive to which ids were seen, not only to their total.
static inline uint64_t
mix(uint32_t task, uint64_t block_id)
{
    uint64_t z = block_id + ((uint64_t)task << 56) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

//  This thread's CPU time in seconds.
static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

//  Pipeline ---------------------------------------------------------------

static daisy_task_t *
make_task(const char *id, int64_t per_dim, bool conflict)
{
    int64_t total_off[3] = {0, 0, 0}, read_off[3] = {0, 0, 0}, write_off[3];
    int64_t total_shape[3], read_shape[3], write_shape[3];
    for (int d = 0; d < 3; d++) {
        total_shape[d] = per_dim * WRITE_SIZE + 2 * CONTEXT;
        read_shape[d] = WRITE_SIZE + 2 * CONTEXT;
        write_off[d] = CONTEXT;
        write_shape[d] = WRITE_SIZE;
    }
    daisy_task_t *t = daisy_task_new(id, daisy_roi_make(3, total_off, total_shape),
                                     daisy_roi_make(3, read_off, read_shape),
                                     daisy_roi_make(3, write_off, write_shape));
    daisy_task_set_read_write_conflict(t, conflict);
    return t;
}

static daisy_pipeline_t *
make_pipeline(const bench_case_t *c, int64_t per_dim)
{
    daisy_pipeline_t *p = daisy_pipeline_new();
    for (int i = 0; i < c->ntasks; i++) {
        char id[16], up[16];
        snprintf(id, sizeof id, "t%d", i);
        daisy_task_t *t = make_task(id, per_dim, c->conflict);
        if (i > 0) {
            snprintf(up, sizeof up, "t%d", i - 1);
            daisy_task_add_upstream(t, up);
        }
        daisy_pipeline_add(p, &t);
    }
    return p;
}

//  Loops ------------------------------------------------------------------

//  The two loops run in turns of about CHUNK blocks each, the scheduler
//  first and then the enumeration over as many blocks, so that both see
//  the same spells of a shared machine (see the opening comment).
#define CHUNK 65536
#define TURN_LIMIT 1024

//  Where the enumeration stands: the next block, task by task in index order.
typedef struct {
    uint32_t task;
    uint64_t index;
    uint64_t sum;
} listing_t;

static void
add_times(double *seconds, double *cpu_seconds, double t0, double c0)
{
    *seconds += bench_now() - t0;
    *cpu_seconds += cpu_now() - c0;
}

//  The baseline: compute the next `n` blocks through the graph, and
//  nothing else.
static int
enumerate(const daisy_graph_t *g, listing_t *l, uint64_t n, result_t *r)
{
    daisy_block_t b;
    double t0 = bench_now(), c0 = cpu_now();
    while (n > 0 && l->task < daisy_graph_task_count(g)) {
        uint64_t count = daisy_graph_block_count(g, l->task);
        for (; n > 0 && l->index < count; l->index++, n--) {
            if (daisy_graph_block(g, (daisy_block_ref_t){l->task, l->index}, &b) != 0)
                return snprintf(r->msg, sizeof r->msg, "no block %u/%llu", l->task,
                                (unsigned long long)l->index), -1;
            l->sum += mix(b.task, b.block_id);
        }
        if (l->index == count) {
            l->task++;
            l->index = 0;
        }
    }
    add_times(&r->ref_seconds, &r->ref_cpu_seconds, t0, c0);
    return 0;
}

//  The scheduler run's state across turns.
typedef struct {
    uint64_t limit, left;
    uint64_t sum;
    uint64_t next_sample;      //  blocks at which to sample RSS next
    int decade;
} run_t;

//  Acquire and release ready blocks of one task, up to TURN_LIMIT and up to
//  run->left of them; how many, or -1 on a scheduler error.
static int64_t
drain_task(daisy_scheduler_t *s, uint32_t task, run_t *run, result_t *r)
{
    int64_t n = 0;
    daisy_block_t b;
    daisy_error_t err;
    int rc;
    rc = 0;
    while (run->left > 0 && n < TURN_LIMIT && (rc = daisy_scheduler_acquire(s, task, &b)) == 1) {
        run->sum += mix(b.task, b.block_id);
        if (daisy_scheduler_release(s, (daisy_block_ref_t){b.task, b.index}, true,
                                    &err) != DAISY_RELEASE_SUCCESS)
            return snprintf(r->msg, sizeof r->msg, "release: %s", err.msg), -1;
        run->left--;
        n++;
    }
    if (rc < 0)
        return snprintf(r->msg, sizeof r->msg, "acquire failed on task %u", task), -1;
    return n;
}

//  The resident set now (not the peak), in KiB.
static long
rss_now_kib(void)
{
    long size = 0, pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &size, &pages) != 2)
        pages = 0;
    fclose(f);
    return pages * (sysconf(_SC_PAGESIZE) / 1024);
}

//  Sample the resident set at every power of ten of blocks processed.
static void
sample_rss(run_t *run, result_t *r)
{
    uint64_t done = run->limit - run->left;
    while (done >= run->next_sample && run->decade < 20) {
        r->rss_kib_at[run->decade++] = rss_now_kib();
        run->next_sample = run->next_sample <= UINT64_MAX / 10 ? run->next_sample * 10
                                                               : UINT64_MAX;
    }
}

//  One turn of the scheduler: whole rounds (round-robin over the tasks,
//  downstream first) until CHUNK blocks or the end; how many blocks, or -1.
//  A round that hands out nothing while work remains is a stall, which
//  with instant releases can only be a scheduler bug.
static int64_t
schedule_turn(daisy_scheduler_t *s, uint32_t ntasks, run_t *run, result_t *r)
{
    int64_t turn = 0;
    double t0 = bench_now(), c0 = cpu_now();
    while (turn < CHUNK && run->left > 0 && !daisy_scheduler_done(s)) {
        int64_t round = 0;
        for (uint32_t t = ntasks; t-- > 0;) {
            int64_t n = drain_task(s, t, run, r);
            if (n < 0)
                return -1;
            round += n;
            sample_rss(run, r);
        }
        if (round == 0)
            return snprintf(r->msg, sizeof r->msg, "stalled: nothing ready, not done"), -1;
        turn += round;
    }
    add_times(&r->seconds, &r->cpu_seconds, t0, c0);
    return turn;
}

//  The scheduler run until done or `limit` blocks, and the enumeration of
//  as many blocks, in turns.
static int
measure(const daisy_graph_t *g, daisy_scheduler_t *s, uint64_t limit, result_t *r)
{
    listing_t listing = {0, 0, 0};
    run_t run = {.limit = limit, .left = limit, .next_sample = 1};
    while (run.left > 0 && !daisy_scheduler_done(s)) {
        int64_t n = schedule_turn(s, daisy_graph_task_count(g), &run, r);
        if (n < 0 || enumerate(g, &listing, (uint64_t)n, r) != 0)
            return -1;
    }
    r->blocks = limit - run.left;
    r->checksum = run.sum;
    r->ref_checksum = listing.sum;
    return 0;
}

//  Every block exactly once: the right count, the graph's multiset of ids
//  (checksum), and the scheduler agrees that it is done.
static int
verify_complete(daisy_scheduler_t *s, result_t *r)
{
    if (r->blocks != r->total)
        return snprintf(r->msg, sizeof r->msg, "processed %llu blocks of %llu",
                        (unsigned long long)r->blocks,
                        (unsigned long long)r->total), -1;
    if (r->checksum != r->ref_checksum)
        return snprintf(r->msg, sizeof r->msg, "checksum differs from the graph's"), -1;
    if (!daisy_scheduler_done(s))
        return snprintf(r->msg, sizeof r->msg, "all blocks processed, not done"), -1;
    return 0;
}

//  Child ------------------------------------------------------------------

static uint64_t
total_blocks(const daisy_graph_t *g)
{
    uint64_t total = 0;
    for (uint32_t t = 0; t < daisy_graph_task_count(g); t++)
        total += daisy_graph_block_count(g, t);
    return total;
}

//  The whole case, in the child. Fills r; 0 when every check passed.
static int
run_case(const bench_case_t *c, bool quick, result_t *r)
{
    daisy_error_t err;
    double t0 = bench_now();
    daisy_pipeline_t *p = make_pipeline(c, quick ? c->per_dim_quick : c->per_dim);
    daisy_graph_t *g = daisy_graph_new(p, &err);
    if (!g)
        return snprintf(r->msg, sizeof r->msg, "graph: %s", err.msg), -1;
    r->setup_seconds = bench_now() - t0;
    r->total = total_blocks(g);
    uint64_t limit = quick ? c->limit_quick : c->limit;
    if (limit == 0 || limit > r->total)
        limit = r->total;
    double t1 = bench_now();
    daisy_scheduler_t *s = daisy_scheduler_new(g, &err);
    if (!s)
        return snprintf(r->msg, sizeof r->msg, "scheduler: %s", err.msg), -1;
    r->setup_seconds += bench_now() - t1;
    if (measure(g, s, limit, r) != 0)
        return -1;
    if (limit == r->total && verify_complete(s, r) != 0)
        return -1;
    //  No cleanup: the process ends here, and destroying a 10^12-block
    //  scheduler's state would only add to the run time, not to the figures.
    return 0;
}

static void
child(const bench_case_t *c, bool quick, int fd)
{
    result_t r;
    memset(&r, 0, sizeof r);
    r.ok = run_case(c, quick, &r) == 0;
    bench_child_exit(fd, &r, sizeof r, r.ok);
}

//  Parent -----------------------------------------------------------------

//  "rss_kib_at": {"1e0": ..., ...}, and how much the last decade added.
static void
print_rss_samples(const bench_case_t *c, const result_t *r)
{
    int last = -1;
    printf("\"rss_kib_at\": {");
    for (int i = 0; i < 20 && r->rss_kib_at[i] > 0; i++) {
        printf("%s\"1e%d\": %ld", i ? ", " : "", i, r->rss_kib_at[i]);
        last = i;
    }
    printf("}, ");
    double growth = last > 0 ? (double)r->rss_kib_at[last] / (double)r->rss_kib_at[last - 1] : 0;
    printf("\"rss_growth\": %.3f, ", growth);
    if (c->target_growth > 0)
        printf("\"target_rss_growth\": %.2f, \"meets_rss_growth\": %s, ", c->target_growth,
               bench_bool(growth > 0 && growth <= c->target_growth));
}

static void
print_json(const bench_case_t *c, bool quick, const result_t *r, long rss_kib)
{
    double rate = bench_rate(r->blocks, r->seconds);
    double ref = bench_rate(r->blocks, r->ref_seconds);
    printf("{\"case\": \"%s\", \"quick\": %s, \"tasks\": %d, \"total_blocks\": %llu, "
           "\"blocks\": %llu, \"setup_seconds\": %.6f, \"seconds\": %.6f, "
           "\"blocks_per_s\": %.0f, \"reference_seconds\": %.6f, "
           "\"reference_per_s\": %.0f, \"ratio\": %.4f, \"peak_rss_kib\": %ld, ",
           c->name, bench_bool(quick), c->ntasks,
           (unsigned long long)r->total, (unsigned long long)r->blocks,
           r->setup_seconds, r->seconds, rate, r->ref_seconds, ref,
           ref > 0 ? rate / ref : 0, rss_kib);
    printf("\"cpu_seconds\": %.6f, \"reference_cpu_seconds\": %.6f, \"cpu_ratio\": %.4f, ",
           r->cpu_seconds, r->ref_cpu_seconds,
           r->cpu_seconds > 0 ? r->ref_cpu_seconds / r->cpu_seconds : 0);
    print_rss_samples(c, r);
    if (c->target_per_s > 0)
        printf("\"target_per_s\": %.0f, \"meets_target\": %s, ", c->target_per_s,
               bench_bool(rate >= c->target_per_s));
    else if (c->target_rss_kib > 0)
        printf("\"target_rss_kib\": %ld, \"meets_target\": %s, ", c->target_rss_kib,
               bench_bool(rss_kib <= c->target_rss_kib));
    else
        printf("\"target_rss_kib\": null, \"meets_target\": null, ");
    //  A string: JSON readers keep only 53 bits of a number.
    printf("\"checksum\": \"%016llx\"}\n", (unsigned long long)r->checksum);
    fflush(stdout);
}

//  Fork, collect, report. 0 when the case ran and passed its checks.
static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    char err[256];
    int fd;
    pid_t pid = bench_fork(&fd, err, sizeof err);
    if (pid == 0)
        child(c, args->quick, fd);
    result_t r;
    struct rusage ru;
    if (pid < 0 || bench_collect(pid, fd, &r, sizeof r, "child", &ru, err, sizeof err) != 0)
        return fprintf(stderr, "bench_scheduler: %s: %s\n", c->name, err), -1;
    if (!r.ok)
        return fprintf(stderr, "bench_scheduler: %s: %s\n", c->name, r.msg), -1;
    print_json(c, args->quick, &r, ru.ru_maxrss);
    return 0;
}

int
main(int argc, char **argv)
{
    static const bench_prog_t prog = {
        .name = "bench_scheduler",
        .usage = "usage: bench_scheduler [--case NAME] [--quick] [--help]\n"
                 "Times acquire+release of every block; one JSON line per case.\n"
                 "  --case NAME  run only this case\n"
                 "  --quick      about 10x fewer blocks per case (smoke test)\n"
                 "cases:\n",
        .cases = cases, .ncases = NCASES, .case_size = sizeof cases[0],
        .what_offset = offsetof(bench_case_t, what), .name_width = 18,
        .run = bench,
    };
    return bench_main(&prog, argc, argv);
}
