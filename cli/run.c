/*  run.c - `daisy run`: run a pipeline file

    With --serial the pipeline runs in this process through the serial
    runner: one block at a time, commands through the shell, the execution
    summary at the end. Progress goes to stderr as a plain line per task at
    most once a second, so logs of long runs stay small.
*/
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static const char *usage =
    "Usage: daisy run --serial [--logs DIR] [--quiet] PIPELINE.json\n"
    "\n"
    "Run every block of every task of a pipeline file and print the\n"
    "execution summary.\n"
    "\n"
    "  --serial     run in this process, one block at a time, tasks in\n"
    "               dependency order (the debugging mode)\n"
    "  --logs DIR   write each task's command output to DIR/TASK.out and\n"
    "               DIR/TASK.err (default: this terminal)\n"
    "  --quiet      no progress lines\n"
    "  -h, --help   show this help\n"
    "\n"
    "Exit status: 0 when every block completed, 1 when blocks failed or were\n"
    "orphaned, 2 bad command line, 3 bad pipeline file, 4 internal error.\n";

typedef struct {
    struct timespec last;
} progress_t;

static void
on_progress(void *arg, const daisy_scheduler_t *s, uint32_t task)
{
    progress_t *p = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    daisy_task_counts_t c;
    daisy_scheduler_counts(s, task, &c);
    bool task_done = c.completed + c.failed + c.orphaned == c.total;
    if (!task_done && now.tv_sec - p->last.tv_sec < 1)
        return;
    p->last = now;
    const daisy_graph_t *g = daisy_scheduler_graph(s);
    const daisy_task_t *t = daisy_pipeline_task(daisy_graph_pipeline(g), task);
    fprintf(stderr, "%s: %llu/%llu completed (skipped %llu), %llu failed, %llu orphaned\n",
            daisy_task_id(t), (unsigned long long)c.completed, (unsigned long long)c.total,
            (unsigned long long)c.skipped, (unsigned long long)c.failed,
            (unsigned long long)c.orphaned);
}

int
cli_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"serial", no_argument, NULL, 's'},
        {"logs", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool serial = false, quiet = false;
    const char *logs = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "sl:qh", options, NULL)) != -1) {
        switch (c) {
        case 's': serial = true; break;
        case 'l': logs = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(usage, stdout); return EXIT_OK;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "daisy run: expected one pipeline file\n\n%s", usage);
        return EXIT_USAGE;
    }
    if (!serial) {
        fprintf(stderr, "daisy run: only --serial is available in this version\n");
        return EXIT_USAGE;
    }
    const char *path = argv[optind];
    daisy_error_t err;
    daisy_pipeline_t *p = daisy_pipeline_load(path, &err);
    if (!p) {
        fprintf(stderr, "daisy run: %s\n", err.msg);
        return EXIT_INPUT;
    }
    progress_t progress = {0};
    daisy_serial_options_t opt = {.log_dir = logs};
    if (!quiet) {
        opt.progress = on_progress;
        opt.progress_arg = &progress;
    }
    daisy_summary_t *summary = daisy_run_serial(p, &opt, &err);
    daisy_pipeline_destroy(&p);
    if (!summary) {
        fprintf(stderr, "daisy run: %s: %s\n", path, err.msg);
        return EXIT_INPUT;
    }
    char *text = daisy_summary_format(summary);
    if (text)
        fputs(text, stdout);
    free(text);
    int rc = daisy_summary_success(summary) ? EXIT_OK : EXIT_FAILED;
    daisy_summary_destroy(&summary);
    return rc;
}
