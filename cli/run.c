/*  run.c - `daisy run`: a whole pipeline on this machine

    By default: an embedded broker on loopback, each task's `workers`
    local processes started by the launcher (its `command` through
    daisy-worker --exec, or its `worker` program), live progress on stderr,
    the execution summary on stdout, per-worker logs in --logs DIR. With
    --serial the pipeline runs in this process through the serial runner
    instead, one block at a time: daisy's debugging mode. There, SIGINT and
    SIGTERM pass on to the block's command (in a group of its own, so that
    its timeout stops all it started) and end the run after that block,
    as a distributed run drains; a second one ends it at once.
*/
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "jobctl.h"
#include "bars.h"
#include "cli.h"
#include "http.h"
#include "load.h"
#include "serve.h"

static const char *usage =
    "Usage: daisy run [OPTIONS] PIPELINE.json\n"
    "\n"
    "Run every block of every task of a pipeline file on this machine and\n"
    "print the execution summary.\n"
    "\n"
    "  --serial              run in this process, one block at a time, tasks in\n"
    "                        dependency order (the debugging mode); not with the\n"
    "                        broker's options: --bind, --publish, --http(-public),\n"
    "                        --prefetch, --restart-cap, --resources, --heartbeat\n"
    "  --logs DIR            worker logs: DIR/RUN/TASK/WORKER.out and .err, RUN the\n"
    "                        run's start and id, DIR/latest the last (default\n"
    "                        daisy_logs); with --serial DIR/TASK.out and .err,\n"
    "                        and without --logs this terminal\n"
    "  --bind EP             workers' endpoint (default ipc://*: a Unix socket in a\n"
    "                        private directory; tcp://127.0.0.1:! for a free port)\n"
    "  --publish EP          also publish progress on EP for `daisy monitor`\n"
    HTTP_USAGE
    "  --markers DIR         done markers: skip blocks a previous run finished\n"
    "                        (default: the pipeline file's \"markers\" key)\n"
    "                        (a daisy 2.0 run's markers there are taken over)\n"
    "  --reset-markers       discard markers recorded for another block layout\n"
    "  --prefetch N          blocks each command worker holds at once (default 1)\n"
    "  --restart-cap N       worker deaths before a task is abandoned\n"
    "                        (1 or more; default 3 x its workers)\n"
    "  --resources cpu=N,gpu=M  the run's budget: each worker takes its task's\n"
    "                        resources.cpus (1 if unset) and resources.gpus, so a\n"
    "                        task runs min(workers, what is left); workers get\n"
    "                        distinct CUDA_VISIBLE_DEVICES\n"
    "  --heartbeat MS        heartbeat interval (default 1000)\n"
    "  --progress-interval S plain progress lines at most every S seconds when\n"
    "                        stderr is not a terminal (default 5)\n"
    "  --quiet               no progress\n"
    "  -h, --help            show this help\n"
    "      --version         show the version\n"
    "\n"
    "Exit status: 0 when every block completed, 1 when blocks failed or were\n"
    "orphaned, 2 bad command line, 3 bad pipeline file, 4 internal error,\n"
    "130 interrupted.\n";

typedef struct {
    bool serial, quiet, reset_markers, http_public;
    const char *logs, *bind, *publish, *markers, *resources, *http;
    int argc;             //  the command line, for the resume hint
    char **argv;
    uint32_t prefetch, restart_cap, heartbeat_ms;
    double interval_s;
} run_options_t;

//  The serial runner's progress through the same bars as a distributed
//  run (there are no workers; elapsed and rate count from the start).
typedef struct {
    bars_t *bars;
    struct timespec start;
} serial_view_t;

static void
on_serial_progress(void *arg, const daisy_scheduler_t *s, uint32_t task)
{
    serial_view_t *v = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - v->start.tv_sec)
                   + (double)(now.tv_nsec - v->start.tv_nsec) / 1e9;
    const daisy_graph_t *g = daisy_scheduler_graph(s);
    uint32_t n = daisy_graph_task_count(g);
    daisy_wire_task_state_t states[n ? n : 1];
    bool task_done = false;
    for (uint32_t t = 0; t < n; t++) {
        states[t] = (daisy_wire_task_state_t){
            .task_id = daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(g), t)),
            .elapsed_s = elapsed};
        daisy_scheduler_counts(s, t, &states[t].counts);
        const daisy_task_counts_t *c = &states[t].counts;
        states[t].blocks_per_s = elapsed > 0 ? (double)(c->completed - c->skipped) / elapsed : 0;
        if (t == task)
            task_done = c->completed + c->failed + c->orphaned == c->total;
    }
    bars_update(v->bars, states, n, task_done);
}

//  What the broker and the launcher say (a resume's wait, workers that
//  cannot start, refused messages, at most a few a second), as
//  daisy-broker prints it.
static void
run_log_line(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "daisy run: %s\n", line);
}

//  The pipeline's graph, or NULL having said why: its errors are the
//  pipeline file's (exit 3), told apart here from the run's own.
static daisy_graph_t *
graph_of(const daisy_pipeline_t *p, const char *path)
{
    daisy_error_t err;
    daisy_graph_t *graph = daisy_graph_new(p, &err);
    if (!graph)
        fprintf(stderr, "daisy run: %s: %s\n", path, err.msg);
    return graph;
}

//  The serial runner runs commands (and C process functions) only: a task
//  with only a `worker` program needs the broker.
static int
check_serial(const daisy_pipeline_t *p, const char *path)
{
    for (size_t i = 0; i < daisy_pipeline_size(p); i++) {
        const daisy_task_t *t = daisy_pipeline_task(p, i);
        void *arg;
        if (!daisy_task_command(t) && !daisy_task_process(t, &arg))
            return cli_usage_error("daisy run", "%s: task '%s' has a \"worker\" program and "
                                   "no \"command\": --serial runs commands only (run it "
                                   "without --serial)", path, daisy_task_id(t));
    }
    return EXIT_OK;
}

//  The serial run's command group and stop flag, for the handler.
static volatile pid_t s_serial_group;
static volatile sig_atomic_t s_serial_stop;

static void
on_serial_signal(int sig)
{
    if (s_serial_stop) {    //  the second: at once (the guard ends the command)
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    s_serial_stop = sig;
    pid_t group = s_serial_group;
    if (group > 0)
        kill(-group, sig);
}

static void
serial_signals(void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

//  Print the summary (and, interrupted, what was not run); the exit status.
static int
serial_report(const daisy_pipeline_t *p, const daisy_summary_t *summary,
              const daisy_serial_options_t *opt, const run_options_t *o)
{
    char *text = daisy_summary_format(summary);
    if (text)
        fputs(text, stdout);
    free(text);
    if (s_serial_stop) {
        serve_options_t so = {.prog = "daisy", .argc = o->argc, .argv = o->argv,
                              .markers = opt->markers_dir};
        cli_report_interrupted(summary, p, &so);
        return EXIT_INTERRUPTED;
    }
    return daisy_summary_success(summary) ? EXIT_OK : EXIT_FAILED;
}

static int
run_serial(const daisy_pipeline_t *p, const char *path, const run_options_t *o)
{
    daisy_graph_t *graph = graph_of(p, path);
    if (!graph)
        return EXIT_INPUT;
    daisy_graph_destroy(&graph);   //  daisy_run_serial makes its own
    int rc = check_serial(p, path);
    if (rc != EXIT_OK)
        return rc;
    serial_view_t view = {0};
    clock_gettime(CLOCK_MONOTONIC, &view.start);
    daisy_serial_options_t opt = {.log_dir = o->logs, .reset_markers = o->reset_markers,
                                  .markers_dir = o->markers ? o->markers
                                                            : daisy_pipeline_markers(p),
                                  .group = &s_serial_group, .stop = &s_serial_stop};
    if (!o->quiet && (view.bars = bars_new(stderr, isatty(STDERR_FILENO),
                                           (int)(o->interval_s * 1000)))) {
        bars_set_runner(view.bars, "serial, in this process");
        opt.progress = on_serial_progress;
        opt.progress_arg = &view;
    }
    daisy_error_t err;
    serial_signals(on_serial_signal);
    jobctl_follow(&s_serial_group, true);     //  Ctrl-Z stops the block's command too
    daisy_summary_t *summary = daisy_run_serial(p, &opt, &err);
    serial_signals(SIG_DFL);
    if (view.bars)
        bars_finish(view.bars);
    bars_destroy(&view.bars);
    if (!summary) {     //  the pipeline is valid: what failed is the run
        fprintf(stderr, "daisy run: %s\n", err.msg);
        return err.kind == DAISY_ERROR_INPUT ? EXIT_USAGE : EXIT_INTERNAL;
    }
    rc = serial_report(p, summary, &opt, o);
    daisy_summary_destroy(&summary);
    return rc;
}

static int
run_distributed(const daisy_pipeline_t *p, const char *path, const run_options_t *o)
{
    daisy_error_t err;
    daisy_graph_t *graph = graph_of(p, path);
    if (!graph)
        return EXIT_INPUT;
    daisy_launcher_options_t lo = {.prefetch = o->prefetch, .restart_cap = o->restart_cap,
                                   .resources = o->resources};
    if (daisy_launcher_check(&lo, p, &err) != 0) {
        fprintf(stderr, "daisy run: %s\n", err.msg);
        daisy_graph_destroy(&graph);
        return EXIT_USAGE;
    }
    daisy_broker_options_t bo = daisy_broker_options_default();
    bo.log = lo.log = run_log_line;
    bo.bind = o->bind ? o->bind : "ipc://*";   //  every worker is local
    bo.publish = o->publish;
    char inproc[64];
    if (o->http && !o->publish) {   //  the live view subscribes to our own feed
        snprintf(inproc, sizeof inproc, "inproc://daisy-live-%d", (int)getpid());
        bo.publish = inproc;
    }
    bo.log_dir = o->logs ? o->logs : "daisy_logs";
    bo.markers_dir = o->markers ? o->markers : daisy_pipeline_markers(p);
    bo.reset_markers = o->reset_markers;
    if (o->heartbeat_ms)
        bo.heartbeat_ms = o->heartbeat_ms;
    daisy_broker_t *broker = daisy_broker_new(graph, &bo, &err);
    lo.log_dir = bo.log_dir;
    http_t *http = NULL;
    if (broker && o->http) {
        http_options_t ho = {o->http, o->http_public, daisy_broker_publish_endpoint(broker), NULL};
        int status;
        if (!(http = http_open("daisy run", &ho, &status))) {
            daisy_broker_destroy(&broker);
            daisy_graph_destroy(&graph);
            return status;
        }
    }
    daisy_launcher_t *launcher = broker ? daisy_launcher_new(broker, &lo, &err) : NULL;
    int rc = EXIT_INTERNAL;
    if (!launcher) {    //  markers that do not fit the pipeline: the user's to mend
        fprintf(stderr, "daisy run: %s\n", err.msg);
        rc = err.kind == DAISY_ERROR_INPUT ? EXIT_USAGE : EXIT_INTERNAL;
    }
    else {
        if (o->publish && !o->quiet)
            fprintf(stderr, "daisy run: progress on %s\n", daisy_broker_publish_endpoint(broker));
        serve_options_t so = {.quiet = o->quiet, .interval_ms = (int)(o->interval_s * 1000),
                              .prog = "daisy", .argc = o->argc, .argv = o->argv,
                              .markers = bo.markers_dir, .log_dir = bo.log_dir,
                              .name = "daisy run"};
        rc = cli_serve(broker, launcher, &so);
    }
    http_stop(&http, HTTP_LINGER_MS);
    daisy_launcher_destroy(&launcher);
    daisy_broker_destroy(&broker);
    daisy_graph_destroy(&graph);
    return rc;
}

#define P "daisy run"

int
cli_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"serial", no_argument, NULL, 's'},
        {"logs", required_argument, NULL, 'l'},
        {"bind", required_argument, NULL, 'b'},
        {"publish", required_argument, NULL, 'p'},
        {"http", required_argument, NULL, 'W'},
        {"http-public", no_argument, NULL, 'X'},
        {"markers", required_argument, NULL, 'm'},
        {"reset-markers", no_argument, NULL, 'R'},
        {"prefetch", required_argument, NULL, 'f'},
        {"restart-cap", required_argument, NULL, 'r'},
        {"resources", required_argument, NULL, 'B'},
        {"heartbeat", required_argument, NULL, 'H'},
        {"progress-interval", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    run_options_t o = {.interval_s = 5, .argc = argc, .argv = argv};
    //  The options only a broker has a use for: --serial has none.
    const char *broker_only = NULL;
    int c, i = -1, bad = 0;
    while ((c = cli_getopt(P, argc, argv, "h", options, &i)) != -1) {
        if (strchr("bpWXfrBH", c))
            broker_only = options[i].name;
        switch (c) {
        case 's': o.serial = true; break;
        case 'l': o.logs = optarg; break;
        case 'b': bad |= cli_endpoint(P, "--bind", o.bind = optarg); break;
        case 'p': bad |= cli_endpoint(P, "--publish", o.publish = optarg); break;
        case 'W': o.http = optarg; break;
        case 'X': o.http_public = true; break;
        case 'm': o.markers = optarg; break;
        case 'R': o.reset_markers = true; break;
        case 'f': bad |= cli_uint(P, "--prefetch", optarg, 1, DAISY_MAX_BATCH, &o.prefetch); break;
        case 'r': bad |= cli_uint(P, "--restart-cap", optarg, 1, UINT32_MAX, &o.restart_cap); break;
        case 'B': o.resources = optarg; break;
        case 'H': bad |= cli_uint(P, "--heartbeat", optarg, 1, 3600000, &o.heartbeat_ms); break;
        case 'i': bad |= cli_seconds(P, "--progress-interval", optarg, &o.interval_s); break;
        case 'q': o.quiet = true; break;
        default: return cli_final_option(P, c, usage);
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (optind != argc - 1)
        return cli_usage_error(P, "expected one pipeline file");
    if (o.serial && broker_only)
        return cli_usage_error(P, "--%s needs the broker: it does not go with --serial",
                               broker_only);
    const char *path = argv[optind];
    daisy_pipeline_t *p = cli_load_pipeline(P, path);
    if (!p)
        return EXIT_INPUT;
    if (cli_check_runnable(P, path, p) != 0) {
        daisy_pipeline_destroy(&p);
        return EXIT_INPUT;
    }
    int rc = o.serial ? run_serial(p, path, &o) : run_distributed(p, path, &o);
    daisy_pipeline_destroy(&p);
    return rc;
}
