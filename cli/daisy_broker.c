/*  daisy_broker.c - the `daisy-broker` program: serve workers started anywhere

    A broker for one pipeline file. Workers connect from any host (started
    by hand, by a batch system, or by this program through --launch with a
    template such as 'ssh {host} {cmd}' or 'srun -N1 -n1 {cmd}', or
    --local for processes on this host). Progress goes to stderr and, with
    --publish, to a PUB socket for `daisy monitor`.
*/
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "http.h"
#include "load.h"
#include "serve.h"

static const char *usage =
    "Usage: daisy-broker [OPTIONS] PIPELINE.json\n"
    "\n"
    "Serve the blocks of a pipeline to workers on any host, until every\n"
    "block is done, then print the execution summary.\n"
    "\n"
    "  --bind EP             workers' endpoint (default tcp://127.0.0.1:5555;\n"
    "                        tcp://*:5555 for every interface)\n"
    "  --advertise EP        the endpoint workers are told (default: the bound one,\n"
    "                        a wildcard host made this host's routable address)\n"
    "  --publish EP          progress feed for `daisy monitor` (e.g. tcp://*:5556)\n"
    HTTP_USAGE
    "  --local               start each task's workers as local processes\n"
    "  --launch TEMPLATE     start workers with a shell command, {cmd} replaced by\n"
    "                        the worker's command line (required), {host} by the\n"
    "                        next host of --hosts (default localhost), {task} and\n"
    "                        {worker_id}, e.g. 'ssh {host} {cmd}'\n"
    "  --worker-give-up S    workers started here exit after S seconds without a\n"
    "                        broker (default 60)\n"
    "  --resources cpu=N,gpu=M  the run's budget across tasks (see daisy run)\n"
    "  --connect-timeout S   --launch slurm: report a running job whose worker has\n"
    "                        not connected after S seconds (default 60); jobs\n"
    "                        pending for 10 s are reported with SLURM's reason\n"
    "                        Named back-ends: --launch slurm (one sbatch job per\n"
    "                        worker, cancelled when the run ends), --launch ssh\n"
    "                        ('ssh {host} {cmd}'), --launch local (as --local)\n"
    "  --hosts H1,H2,...     hosts for {host}, used in turn\n"
    "  --sbatch-options S    extra sbatch options for --launch slurm, e.g.\n"
    "                        '--partition=gpu --time=2:00:00'\n"
    "  --print-job-script T  print the batch script of task T's first worker\n"
    "                        (as --launch slurm submits it) and exit\n"
    "  --worker-program P    program for tasks with a command (default daisy-worker)\n"
    "  --logs DIR            worker logs DIR/RUN/TASK/WORKER.out/.err, RUN the run's\n"
    "                        start and id, DIR/latest the last (default daisy_logs)\n"
    "  --markers DIR         done markers: skip blocks a previous run finished, and\n"
    "                        resume after a crash (default: the pipeline's \"markers\")\n"
    "  --reset-markers       discard markers recorded for another block layout\n"
    "  --curve-secret FILE   CurveZMQ: the broker's secret key (NAME_secret from\n"
    "                        `daisy keygen NAME`); needs --curve-allow\n"
    "  --curve-allow DIR     CurveZMQ: directory of the public keys of the workers\n"
    "                        allowed in (files written by `daisy keygen`)\n"
    "  --prefetch N          blocks each started command worker holds at once\n"
    "  --restart-cap N       worker deaths before a task is abandoned (1 or\n"
    "                        more; default 3 x its workers)\n"
    "  --max-held N          most blocks one worker holds at once (default 64;\n"
    "                        larger requests are served as blocks come back)\n"
    "  --run-id ID           this run's id (default: 16 random hex digits); the\n"
    "                        workers it starts carry it, and workers started for\n"
    "                        another run are refused and exit\n"
    "  --heartbeat MS        heartbeat interval (default 1000)\n"
    "  --liveness N          missed heartbeats before a worker is lost (default 3)\n"
    "  --heartbeat-rate N    heartbeats a second each way at most (default 1000):\n"
    "                        beyond N x MS / 1000 workers the interval grows\n"
    "  --progress-interval S progress lines at most every S seconds (default 5)\n"
    "  --quiet               no progress\n"
    "  -h, --help            show this help\n"
    "      --version         show the version\n"
    "\n"
    "Workers: without --local or --launch, the broker prints for each task the\n"
    "daisy-worker command line to start by hand (with this run's id).\n"
    "\n"
    "Exit status: 0 when every block completed, 1 when blocks failed or were\n"
    "orphaned, 2 bad command line, 3 bad pipeline file, 4 internal error\n"
    "(an endpoint could not be bound), 130 interrupted.\n";

typedef struct {
    daisy_broker_options_t broker;
    daisy_launcher_options_t launcher;
    serve_options_t serve;
    bool launch;
    bool local;
    const char *http;           //  --http ADDR:PORT
    bool http_public;
    const char *print_task;     //  --print-job-script
} options_t;

//  --launch NAME: a named back-end, or a shell template.
static void
launch_backend(options_t *o, const char *arg)
{
    if (!strcmp(arg, "slurm"))
        o->launcher.slurm = true;
    else if (!strcmp(arg, "ssh"))
        o->launcher.launch_template = "ssh {host} {cmd}";
    else if (!strcmp(arg, "local"))
        o->local = true;
    else
        o->launcher.launch_template = arg;
}

#define P "daisy-broker"

//  daisy_broker_new() refuses what the checks below catch, but its
//  failures cannot be told from an endpoint it cannot bind (exit 4):
//  caught here, they are the command line's (exit 2), before anything
//  starts.

//  --run-id: what daisy_broker_options_t.run_id accepts, but not "" (the
//  library's "draw one": a user who typed --run-id meant one).
static int
check_run_id(const char *id)
{
    if (!id || daisy_run_id_valid(id))
        return 0;
    return cli_usage_error(P, "--run-id: '%.64s' is not a run id (1 to %d letters, digits, "
                           "'-', '_' or '.')", id, DAISY_MAX_RUN_ID);
}

//  --advertise: an endpoint a worker can connect to: tcp://HOST:PORT with
//  a host that is not a wildcard, or ipc://PATH (workers of this host).
static bool
connectable(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6))
        return ep[6] && strcmp(ep + 6, "*") != 0;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return false;
    size_t len = (size_t)(colon - host);
    bool wildcard = (len == 1 && *host == '*') || (len == 7 && !strncmp(host, "0.0.0.0", 7))
                 || (len == 4 && !strncmp(host, "[::]", 4));
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    return !wildcard && !strchr(host, '/') && colon[1] >= '0' && colon[1] <= '9' && !*end
        && port >= 1 && port <= 65535;
}

static int
check_advertise(const char *ep)
{
    if (!ep || connectable(ep))
        return 0;
    return cli_usage_error(P, "--advertise: '%s' is not an endpoint workers can connect to "
                           "(tcp://HOST:PORT, HOST not a wildcard; or ipc://PATH for "
                           "workers on this host)", ep);
}

//  --curve-secret and --curve-allow: both or neither, a key file with a
//  secret key in it, a directory.
static int
check_curve(const daisy_broker_options_t *b)
{
    if (!b->curve_secret != !b->curve_allow)
        return cli_usage_error(P, "--curve-secret and --curve-allow go together: give both "
                               "or neither");
    if (!b->curve_secret)
        return 0;
    if (cli_readable(P, "--curve-secret", b->curve_secret, false) != 0
        || cli_readable(P, "--curve-allow", b->curve_allow, true) != 0)
        return -1;
    zcert_t *cert = zcert_load(b->curve_secret);
    //  A public key file loads too, with a secret key of zeros.
    bool secret = cert && strspn(zcert_secret_txt(cert), "0") != strlen(zcert_secret_txt(cert));
    zcert_destroy(&cert);
    if (secret)
        return 0;
    return cli_usage_error(P, "--curve-secret: '%s' holds no secret key (`daisy keygen NAME` "
                           "writes it as NAME_secret)", b->curve_secret);
}

static int
parse(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {
        {"bind", required_argument, NULL, 'b'},
        {"publish", required_argument, NULL, 'p'},
        {"http", required_argument, NULL, 'W'},
        {"http-public", no_argument, NULL, 'X'},
        {"advertise", required_argument, NULL, 'a'},
        {"sbatch-options", required_argument, NULL, 'B'},
        {"print-job-script", required_argument, NULL, 'J'},
        {"worker-give-up", required_argument, NULL, 'G'},
        {"connect-timeout", required_argument, NULL, 'C'},
        {"resources", required_argument, NULL, 'E'},
        {"local", no_argument, NULL, 'L'},
        {"launch", required_argument, NULL, 'T'},
        {"hosts", required_argument, NULL, 'o'},
        {"worker-program", required_argument, NULL, 'w'},
        {"logs", required_argument, NULL, 'l'},
        {"markers", required_argument, NULL, 'm'},
        {"reset-markers", no_argument, NULL, 'R'},
        {"curve-secret", required_argument, NULL, 'S'},
        {"curve-allow", required_argument, NULL, 'A'},
        {"prefetch", required_argument, NULL, 'f'},
        {"restart-cap", required_argument, NULL, 'r'},
        {"heartbeat", required_argument, NULL, 'H'},
        {"max-held", required_argument, NULL, 'M'},
        {"run-id", required_argument, NULL, 'I'},
        {"liveness", required_argument, NULL, 'v'},
        {"heartbeat-rate", required_argument, NULL, 'Z'},
        {"progress-interval", required_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    double interval = 5;
    //  An option about the workers this broker starts (or the job script it
    //  prints), without --local, --launch or --print-job-script, would be
    //  ignored: the operator's workers never see it.
    const char *launch_only = NULL;
    while ((c = cli_getopt(P, argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': bad |= cli_endpoint(P, "--bind", o->broker.bind = optarg); break;
        case 'p': bad |= cli_endpoint(P, "--publish", o->broker.publish = optarg); break;
        case 'W': o->http = optarg; break;
        case 'X': o->http_public = true; break;
        case 'a': o->broker.advertise = optarg; break;
        case 'G':
            bad |= cli_seconds(P, "--worker-give-up", optarg, &o->launcher.give_up_s);
            launch_only = "--worker-give-up";
            break;
        case 'C':
            bad |= cli_seconds(P, "--connect-timeout", optarg, &o->launcher.connect_timeout_s);
            launch_only = "--connect-timeout";
            break;
        case 'E': o->launcher.resources = optarg; launch_only = "--resources"; break;
        case 'L': o->launch = o->local = true; break;
        case 'T': o->launch = true; launch_backend(o, optarg); break;
        case 'B': o->launcher.sbatch_options = optarg; launch_only = "--sbatch-options"; break;
        case 'J': o->print_task = optarg; break;
        case 'o': o->launcher.hosts = optarg; launch_only = "--hosts"; break;
        case 'w': o->launcher.worker_program = optarg; launch_only = "--worker-program"; break;
        case 'l': o->launcher.log_dir = o->broker.log_dir = optarg; break;
        case 'm': o->broker.markers_dir = optarg; break;
        case 'R': o->broker.reset_markers = true; break;
        case 'S': o->broker.curve_secret = optarg; break;
        case 'A': o->broker.curve_allow = optarg; break;
        case 'f':
            bad |= cli_uint(P, "--prefetch", optarg, 1, DAISY_MAX_BATCH, &o->launcher.prefetch);
            launch_only = "--prefetch";
            break;
        case 'r':
            bad |= cli_uint(P, "--restart-cap", optarg, 1, UINT32_MAX, &o->launcher.restart_cap);
            launch_only = "--restart-cap";
            break;
        case 'H': bad |= cli_uint(P, "--heartbeat", optarg, 1, 3600000, &o->broker.heartbeat_ms); break;
        case 'M': bad |= cli_uint(P, "--max-held", optarg, 1, UINT32_MAX, &o->broker.max_held); break;
        case 'I': o->broker.run_id = optarg; break;
        case 'v': bad |= cli_uint(P, "--liveness", optarg, 1, 1000, &o->broker.liveness); break;
        case 'Z':
            bad |= cli_uint(P, "--heartbeat-rate", optarg, 1, 1000000, &o->broker.heartbeat_rate);
            break;
        case 'i':
            bad |= cli_seconds(P, "--progress-interval", optarg, &interval);
            o->serve.interval_ms = (int)(interval * 1000);
            break;
        case 'q': o->serve.quiet = true; break;
        case 'V':
        case 'h': exit(cli_stdout_done(P, cli_final_option(P, c, usage)));
        default: return -1;
        }
    }
    if (bad)
        return -1;
    if (optind != argc - 1) {
        cli_usage_error(P, "expected one pipeline file");
        return -1;
    }
    if (launch_only && !o->launch && !o->print_task) {
        cli_usage_error(P, "%s is for the workers this broker starts: it goes with --local, "
                        "--launch or --print-job-script", launch_only);
        return -1;
    }
    if (o->local && (o->launcher.launch_template || o->launcher.slurm)) {
        cli_usage_error(P, "--local and --launch %s: give one of them",
                        o->launcher.slurm ? "slurm" : o->launcher.launch_template);
        return -1;
    }
    return check_run_id(o->broker.run_id) || check_advertise(o->broker.advertise)
        || check_curve(&o->broker) ? -1 : 0;
}


//  Without a launcher, the operator starts the workers: tell them how,
//  exactly, with this run's id (so that the workers refuse another run).
static void
print_worker_commands(const daisy_broker_t *broker, const daisy_pipeline_t *p)
{
    for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
        const daisy_task_t *task = daisy_pipeline_task(p, t);
        const char *command = daisy_task_command(task);
        const char *program = daisy_task_worker(task);
        fprintf(stderr, "daisy-broker: start workers of task %s with:\n  daisy-worker --connect ",
                daisy_task_id(task));
        const char *adv = daisy_broker_advertised(broker);
        cli_shell_word(stderr, adv ? adv : daisy_broker_endpoint(broker));
        fputs(" --task ", stderr);
        cli_shell_word(stderr, daisy_task_id(task));
        fputs(" --run-id ", stderr);
        cli_shell_word(stderr, daisy_broker_run_id(broker));
        if (daisy_task_check_command(task)) {
            fputs(" --check ", stderr);
            cli_shell_word(stderr, daisy_task_check_command(task));
        }
        if (command || program) {
            fputs(command ? " --exec " : " --run ", stderr);
            cli_shell_word(stderr, command ? command : program);
        } else
            fputs(" --plugin LIB.so", stderr);
        fputc('\n', stderr);
    }
}

//  --print-job-script TASK: the batch script of the task's first worker.
static int
print_job_script(daisy_launcher_t *launcher, const daisy_pipeline_t *p, const char *task)
{
    int t = daisy_pipeline_find(p, task);
    char script[32768];
    if (t < 0) {
        fprintf(stderr, "daisy-broker: --print-job-script: no task '%s' in the pipeline\n", task);
        return 2;
    }
    if (daisy_launcher_job_script(launcher, (uint32_t)t, script, sizeof script) != 0) {
        fprintf(stderr, "daisy-broker: the job script of task '%s' is too long\n", task);
        return 4;
    }
    fputs(script, stdout);
    return 0;
}

static void
log_line(void *arg, const char *line)
{
    (void)arg;
    fprintf(stderr, "daisy-broker: %s\n", line);
}

static int
broker_main(int argc, char **argv)
{
    options_t o = {.broker = daisy_broker_options_default(), .serve = {.interval_ms = 5000}};
    o.broker.log = log_line;
    o.launcher.log = log_line;
    if (parse(argc, argv, &o) != 0)
        return 2;
    if (!o.broker.log_dir)
        o.broker.log_dir = "daisy_logs";
    const char *path = argv[optind];
    daisy_error_t err;
    daisy_pipeline_t *p = cli_load_pipeline("daisy-broker", path);
    if (!p)
        return 3;
    if ((o.launch || o.print_task) && cli_check_runnable("daisy-broker", path, p) != 0) {
        daisy_pipeline_destroy(&p);
        return 3;
    }
    if ((o.launch || o.print_task) && daisy_launcher_check(&o.launcher, p, &err) != 0) {
        fprintf(stderr, "daisy-broker: %s\n", err.msg);
        daisy_pipeline_destroy(&p);
        return 2;
    }
    daisy_graph_t *graph = daisy_graph_new(p, &err);
    if (!graph) {
        daisy_error_prefix(&err, "%s", path);
        fprintf(stderr, "daisy-broker: %s\n", err.msg);
        daisy_pipeline_destroy(&p);
        return 3;
    }
    if (!o.broker.markers_dir)
        o.broker.markers_dir = daisy_pipeline_markers(p);
    char inproc[64];
    if (o.http && !o.broker.publish) {  //  the live view subscribes to our own feed
        snprintf(inproc, sizeof inproc, "inproc://daisy-live-%d", (int)getpid());
        o.broker.publish = inproc;
    }
    daisy_broker_t *broker = daisy_broker_new(graph, &o.broker, &err);
    http_t *http = NULL;
    if (broker && o.http && !o.print_task) {
        //  The secret key file holds the public key too.
        http_options_t ho = {o.http, o.http_public, daisy_broker_publish_endpoint(broker),
                             o.broker.curve_secret};
        int status;
        if (!(http = http_open("daisy-broker", &ho, &status))) {
            daisy_broker_destroy(&broker);
            daisy_graph_destroy(&graph);
            daisy_pipeline_destroy(&p);
            return status;
        }
    }
    daisy_launcher_t *launcher = NULL;
    if (broker && (o.launch || o.print_task))
        launcher = daisy_launcher_new(broker, &o.launcher, &err);
    int rc = 4;
    if (!broker || ((o.launch || o.print_task) && !launcher)) {
        fprintf(stderr, "daisy-broker: %s\n", err.msg);
        if (err.kind == DAISY_ERROR_INPUT)   //  markers that do not fit the pipeline
            rc = 2;
    }
    else if (o.print_task)
        rc = print_job_script(launcher, p, o.print_task);
    else {
        fprintf(stderr, "daisy-broker: serving %s on %s", path, daisy_broker_endpoint(broker));
        if (daisy_broker_publish_endpoint(broker))
            fprintf(stderr, ", progress on %s", daisy_broker_publish_endpoint(broker));
        const char *adv = daisy_broker_advertised(broker);
        if (adv && strcmp(adv, daisy_broker_endpoint(broker)) != 0)
            fprintf(stderr, " (workers connect to %s)", adv);
        else if (!adv)
            fprintf(stderr, " (a wildcard, and this host has no routable address: tell "
                    "workers one, or pass --advertise)");
        fprintf(stderr, ", run %s\n", daisy_broker_run_id(broker));
        if (!o.launch)
            print_worker_commands(broker, p);
        o.serve.argc = argc;
        o.serve.argv = argv;
        o.serve.markers = o.broker.markers_dir;
        o.serve.log_dir = o.broker.log_dir;
        rc = cli_serve(broker, launcher, &o.serve);
    }
    http_stop(&http, HTTP_LINGER_MS);
    daisy_launcher_destroy(&launcher);
    daisy_broker_destroy(&broker);
    daisy_graph_destroy(&graph);
    daisy_pipeline_destroy(&p);
    return rc;
}

int
main(int argc, char **argv)
{
    return cli_stdout_done(P, broker_main(argc, argv));
}
