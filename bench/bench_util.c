/*  bench_util.c - what the benchmark programs share

    See bench_util.h for the design: the command line and case loop, the
    forked case child that reports through a pipe, temporary directories,
    and the no-op process function with per-worker timestamps in shared
    memory. Everything here is plain POSIX plus the daisy API; nothing keeps
    state except the no-op slots, which must be mapped before the workers
    fork so that the parent sees what they wrote.
*/
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

//  Clocks and figures -------------------------------------------------------

double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double
bench_rate(uint64_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

const char *
bench_bool(bool b)
{
    return b ? "true" : "false";
}

void
bench_json_numbers(const char *key, const double *v, size_t n, int decimals)
{
    printf("\"%s\": [", key);
    for (size_t i = 0; i < n; i++)
        printf("%s%.*f", i ? ", " : "", decimals, v[i]);
    printf("], ");
}

//  Command line and cases ---------------------------------------------------

//  The name of case i: the first member of its struct.
static const char *
case_name(const bench_prog_t *p, size_t i)
{
    return *(const char *const *)((const char *)p->cases + i * p->case_size);
}

void
bench_usage(const bench_prog_t *p, FILE *out)
{
    fputs(p->usage, out);
    for (size_t i = 0; p->what_offset && i < p->ncases; i++) {
        const char *c = (const char *)p->cases + i * p->case_size;
        fprintf(out, "  %-*s %s\n", p->name_width, case_name(p, i),
                *(const char *const *)(c + p->what_offset));
    }
}

#define MAX_OPTIONS 16

int
bench_parse_args(const bench_prog_t *p, int argc, char **argv, bench_args_t *args)
{
    static const struct option common[] = {
        {"case", required_argument, NULL, 'c'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
    };
    struct option opts[MAX_OPTIONS];
    char shorts[64];
    size_t n = 0;
    for (; n < sizeof common / sizeof common[0]; n++)
        opts[n] = common[n];
    for (const struct option *o = p->extra_long; o && o->name && n < MAX_OPTIONS - 1; o++)
        opts[n++] = *o;
    opts[n] = (struct option){NULL, 0, NULL, 0};
    snprintf(shorts, sizeof shorts, "c:qh%s", p->extra_short ? p->extra_short : "");

    args->only = NULL;
    args->quick = false;
    int opt;
    while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        if (opt == 'c')
            args->only = optarg;
        else if (opt == 'q')
            args->quick = true;
        else if (opt == 'h')
            return bench_usage(p, stdout), 0;
        else if (opt == '?' || !p->extra || p->extra(opt, optarg) != 0)
            return bench_usage(p, stderr), 2;
    }
    if (optind < argc)
        return bench_usage(p, stderr), 2;
    if (!args->only)
        return -1;
    for (size_t i = 0; i < p->ncases; i++)
        if (strcmp(args->only, case_name(p, i)) == 0)
            return -1;
    fprintf(stderr, "%s: no case named '%s'\n", p->name, args->only);
    bench_usage(p, stderr);
    return 2;
}

int
bench_run_cases(const bench_prog_t *p, const bench_args_t *args)
{
    int failed = 0;
    for (size_t i = 0; i < p->ncases; i++) {
        if (args->only && strcmp(args->only, case_name(p, i)) != 0)
            continue;
        failed += p->run((const char *)p->cases + i * p->case_size, args) != 0;
    }
    return failed ? 1 : 0;
}

int
bench_main(const bench_prog_t *p, int argc, char **argv)
{
    bench_args_t args;
    int rc = bench_parse_args(p, argc, argv, &args);
    return rc >= 0 ? rc : bench_run_cases(p, &args);
}

//  Children -----------------------------------------------------------------

pid_t
bench_fork(int *fd, char *err, size_t err_size)
{
    int fds[2];
    if (pipe(fds) != 0)
        return snprintf(err, err_size, "pipe: %s", strerror(errno)), -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_size, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    close(fds[pid == 0 ? 0 : 1]);
    *fd = fds[pid == 0 ? 1 : 0];
    return pid;
}

void
bench_child_exit(int fd, const void *result, size_t size, bool ok)
{
    ssize_t n = write(fd, result, size);
    _exit(n == (ssize_t)size && ok ? 0 : 1);
}

bool
bench_read_full(int fd, void *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, (char *)buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

double
bench_rusage_cpu(const struct rusage *ru)
{
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec)
         + (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1e-6;
}

double
bench_cpu_seconds(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return bench_rusage_cpu(&ru);
}

int
bench_wait(pid_t pid, int *status, struct rusage *ru)
{
    while (wait4(pid, status, 0, ru) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

int
bench_collect(pid_t pid, int fd, void *result, size_t size, const char *who,
              struct rusage *ru, char *err, size_t err_size)
{
    bool have = bench_read_full(fd, result, size);
    close(fd);
    int status;
    if (bench_wait(pid, &status, ru) != 0)
        return snprintf(err, err_size, "wait4: %s", strerror(errno)), -1;
    if (!have)
        return snprintf(err, err_size, "%s died (status %d)", who, status), -1;
    return 0;
}

long
bench_peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

//  Files --------------------------------------------------------------------

int
bench_tmpdir(char *out, size_t size, const char *stem)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 200)
        tmp = "/tmp";
    snprintf(out, size, "%s/%s.XXXXXX", tmp, stem);
    return mkdtemp(out) ? 0 : -1;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
bench_remove_tree(const char *dir)
{
    if (dir && *dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  No-op blocks ---------------------------------------------------------------

//  Per worker process: when it processed its first and last block. One
//  cache line each, so that workers do not share lines; enough for
//  lockstep_256 (workers beyond the last slot share it, counting
//  atomically: with 64 slots, 256 workers lost a count now and then).
#define MAX_SLOTS 512
typedef struct {
    int64_t first_ns;
    int64_t last_ns;
    uint64_t count;
    char pad[64 - 3 * sizeof(int64_t)];
} slot_t;

typedef struct {
    uint32_t claimed;
    char pad[60];
    slot_t slot[MAX_SLOTS];
} shared_t;

static shared_t *shared;       //  mapped MAP_SHARED before the workers fork
static slot_t *my_slot;        //  in a worker: its slot, claimed at its first block

int
bench_noop(const daisy_block_t *block, void *arg)
{
    (void)block;
    (void)arg;
    int64_t t = bench_now_ns();
    slot_t *s = my_slot;
    if (!s) {
        uint32_t i = __atomic_fetch_add(&shared->claimed, 1, __ATOMIC_RELAXED);
        s = my_slot = &shared->slot[i < MAX_SLOTS ? i : MAX_SLOTS - 1];
        s->first_ns = t;
    }
    s->last_ns = t;
    __atomic_fetch_add(&s->count, 1, __ATOMIC_RELAXED);
    return 0;
}

daisy_pipeline_t *
bench_noop_pipeline(uint64_t blocks, uint32_t workers)
{
    int64_t zero = 0, one = 1, total = (int64_t)blocks;
    daisy_task_t *t = daisy_task_new("noop", daisy_roi_make(1, &zero, &total),
                                     daisy_roi_make(1, &zero, &one),
                                     daisy_roi_make(1, &zero, &one));
    daisy_task_set_read_write_conflict(t, false);
    daisy_task_set_workers(t, (int)workers);
    daisy_task_set_process(t, bench_noop, NULL);
    daisy_pipeline_t *p = daisy_pipeline_new();
    daisy_pipeline_add(p, &t);
    return p;
}

int
bench_noop_reset(char *msg, size_t size)
{
    if (!shared) {
        shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shared == MAP_FAILED) {
            shared = NULL;
            return snprintf(msg, size, "mmap: %s", strerror(errno)), -1;
        }
    }
    memset(shared, 0, sizeof *shared);
    return 0;
}

int
bench_noop_check(const daisy_task_counts_t *c, uint64_t blocks, const char *log_dir,
                 bench_span_t *span, char *msg, size_t size)
{
    if (c->total != blocks || c->completed != c->total)
        return snprintf(msg, size,
                        "%llu of %llu blocks completed (%llu failed, %llu orphaned); "
                        "worker logs in %s",
                        (unsigned long long)c->completed, (unsigned long long)c->total,
                        (unsigned long long)c->failed, (unsigned long long)c->orphaned,
                        log_dir), -1;
    int64_t first = INT64_MAX, last = 0;
    uint64_t processed = 0;
    uint32_t n = shared->claimed < MAX_SLOTS ? shared->claimed : MAX_SLOTS;
    for (uint32_t i = 0; i < n; i++) {
        first = shared->slot[i].first_ns < first ? shared->slot[i].first_ns : first;
        last = shared->slot[i].last_ns > last ? shared->slot[i].last_ns : last;
        processed += shared->slot[i].count;
    }
    if (n == 0 || processed < blocks)
        return snprintf(msg, size, "the workers ran %llu blocks of %llu",
                        (unsigned long long)processed, (unsigned long long)blocks), -1;
    span->first_ns = first;
    span->last_ns = last;
    span->workers = n;
    return 0;
}
