/*  bench_util.h - what the benchmark programs share

    Every program in bench/ has the same outer shape: a table of named
    cases, a command line of --case NAME, --quick and --help (plus a few
    options of its own), each case run (mostly) in a forked child that
    sends its figures back through a pipe as one fixed-size struct, and one
    JSON object per case per line on stdout. The code for that shape lives
    here once; what a program measures, how it checks it and which fields
    it prints stay in the program's own file.

    Command line. A program describes itself with a bench_prog_t: its name
    (for messages), its usage text, its case table and a function that
    runs one case, and optionally extra getopt options with a handler.
    bench_parse_args() parses argv the same way for every program (an
    unknown option, a stray argument, a bad value or an unknown --case name
    prints the usage on stderr and asks for exit status 2; --help prints it
    on stdout and asks for 0). bench_run_cases() then runs the selected
    cases in table order and gives the exit status: 1 when any case
    failed. bench_main() is the two together, for a program with nothing
    to do between them. The case table is a plain array of the program's
    own structs; each struct's first member must be `const char *name`
    (which C lets us read through a pointer to the struct), and the usage
    lists the cases' one-line descriptions when the program says where in
    its struct that `what` string is (offsetof).

    Children. bench_fork() makes the pipe and forks; the child computes its
    result struct and ends with bench_child_exit(), which writes it in one
    write() (results are smaller than PIPE_BUF) and exits non-zero unless it
    was sent and ok. The parent calls bench_collect(), which reads the
    whole struct, closes the pipe and reaps the child with wait4() (its
    rusage, for peak RSS, when asked). A child that dies before sending is
    told apart from one that sent a failure. Errors are returned as text in
    a caller's buffer, so that a case child can put them in its own result
    message and the top level can print them.

    No-op blocks. bench_broker and bench_resume run pipelines of blocks
    that do nothing but note the time: bench_noop() is that process
    function. Each worker process claims a cache-line-sized slot in a
    MAP_SHARED mapping at its first block and records its first and last
    block time and block count there (one clock read and two stores per
    block). bench_noop_reset() maps (once, before the workers fork) and
    zeroes the slots before a run; bench_noop_check() checks a run's task
    counts and the slots afterwards and returns the span from the first
    block anywhere to the last block anywhere.
*/
#ifndef DAISY_BENCH_UTIL_H
#define DAISY_BENCH_UTIL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "daisy/daisy.h"

//  Clocks and figures -------------------------------------------------------

//  CLOCK_MONOTONIC in seconds, and in nanoseconds.
double bench_now(void);
int64_t bench_now_ns(void);

//  n / seconds, 0 when no time was measured.
double bench_rate(uint64_t n, double seconds);

//  Median of v[0..n-1] (n > 0); sorts v.
double bench_median(double *v, size_t n);

//  A JSON boolean.
const char *bench_bool(bool b);

//  Prints `"key": [v0, v1, ...], ` with `decimals` digits after the point.
void bench_json_numbers(const char *key, const double *v, size_t n, int decimals);

//  Command line and cases ---------------------------------------------------

typedef struct {
    const char *only;          //  --case NAME; NULL runs every case
    bool quick;                //  --quick
} bench_args_t;

typedef struct {
    const char *name;          //  the program, for messages
    const char *usage;         //  the usage text, before the list of cases
    const void *cases;         //  array of structs, first member `const char *name`
    size_t ncases;
    size_t case_size;
    //  Where in a case struct its `const char *what` is, for the usage's
    //  list of cases ("  NAME  WHAT", names padded to name_width); 0 for
    //  no list.
    size_t what_offset;
    int name_width;
    //  Runs one case (a pointer into `cases`); 0 when it ran and passed.
    int (*run)(const void *c, const bench_args_t *args);
    //  Options beyond --case/--quick/--help (NULL: none). `extra` gets each
    //  one's getopt value and argument; -1 means a bad value.
    const char *extra_short;
    const struct option *extra_long;
    int (*extra)(int opt, const char *arg);
} bench_prog_t;

//  -1 when the program should go on, else the exit status to return.
int bench_parse_args(const bench_prog_t *p, int argc, char **argv, bench_args_t *args);

//  Runs the selected cases; the exit status (1 when any failed).
int bench_run_cases(const bench_prog_t *p, const bench_args_t *args);

//  bench_parse_args(), then bench_run_cases(); the exit status.
int bench_main(const bench_prog_t *p, int argc, char **argv);

//  The usage text, then the list of cases.
void bench_usage(const bench_prog_t *p, FILE *out);

//  Children -----------------------------------------------------------------

//  Pipe and fork, stdio flushed first. In the child: 0, *fd the write end.
//  In the parent: the child's pid, *fd the read end. -1 with err set.
pid_t bench_fork(int *fd, char *err, size_t err_size);

//  In the child: send the result and exit (0 when sent and ok).
_Noreturn void bench_child_exit(int fd, const void *result, size_t size, bool ok);

//  In the parent: read exactly `size` bytes of result from fd, close it and
//  reap pid (its rusage into ru unless NULL). 0 when the whole result came;
//  -1 with err set ("<who> died (status N)" or the failed call).
int bench_collect(pid_t pid, int fd, void *result, size_t size, const char *who,
                  struct rusage *ru, char *err, size_t err_size);

//  Read exactly size bytes (retrying on EINTR); false on EOF or error.
bool bench_read_full(int fd, void *buf, size_t size);

//  wait4() retried on EINTR; ru may be NULL. 0 on success.
int bench_wait(pid_t pid, int *status, struct rusage *ru);

//  This process's peak RSS so far (KiB).
long bench_peak_rss_kib(void);

//  User + system CPU seconds in a struct rusage.
double bench_rusage_cpu(const struct rusage *ru);

//  User + system CPU seconds of `who` (RUSAGE_SELF, RUSAGE_THREAD, or
//  RUSAGE_CHILDREN) so far.
double bench_cpu_seconds(int who);

//  Files --------------------------------------------------------------------

//  A fresh directory $TMPDIR/<stem>.XXXXXX (or under /tmp) into out; 0 on
//  success, -1 with errno set.
int bench_tmpdir(char *out, size_t size, const char *stem);

//  rm -rf dir (nothing when dir is NULL or empty).
void bench_remove_tree(const char *dir);

//  No-op blocks ---------------------------------------------------------------

//  The process function: notes the time in this worker's slot.
int bench_noop(const daisy_block_t *block, void *arg);

//  One 1D task "noop" of `blocks` blocks, no read/write conflicts,
//  `workers` workers, bench_noop as its process function.
daisy_pipeline_t *bench_noop_pipeline(uint64_t blocks, uint32_t workers);

//  Before a run (and before the workers fork): map the slots if not yet
//  mapped, and clear them. -1 with msg set when mmap fails.
int bench_noop_reset(char *msg, size_t size);

//  What the slots say about a run.
typedef struct {
    int64_t first_ns;          //  first block processed anywhere
    int64_t last_ns;           //  last block processed anywhere
    uint32_t workers;          //  worker processes that processed blocks
} bench_span_t;

//  After a run of `blocks` blocks: every block completed (c) and processed
//  by the workers (slots). -1 with msg set otherwise (naming log_dir, where
//  the worker logs are).
int bench_noop_check(const daisy_task_counts_t *c, uint64_t blocks, const char *log_dir,
                     bench_span_t *span, char *msg, size_t size);

#endif
