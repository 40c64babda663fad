/*  worker.c - `daisy-worker` / `daisy worker`: a worker for any host

    A thin shell over the embeddable worker loop (worker.c). What runs per
    block is either a shell command (--exec, through daisy_block_exec, the
    same code the serial runner uses, so a command behaves the same under
    `daisy run --serial` and on a cluster) or a plugin (--plugin), a shared
    library whose process function runs in this process, for blocks too
    short to pay for a fork and exec each.

    Completion checks run here too, before each block: a --check command
    (through daisy_block_exec, with the same environment as --exec; exit
    status 0 means done) or a plugin's daisy_plugin_check(). A block found
    done is released as skipped and not processed. --check wins over the
    plugin's check when both are there.

    A task's timeout (WELCOME tells it) stops a command that overruns it,
    --check and --exec alike: SIGTERM to its group, SIGKILL 5 s later
    (daisy_block_exec), so that the worker is free for the block's retry;
    the broker has counted the attempt failed already, or counts it now.

    SIGINT and SIGTERM call daisy_worker_stop(), which only sets a flag and
    rings an eventfd, and pass the signal on to the block's command (it runs
    in a process group of its own, so a batch system's SIGTERM to this
    process alone still reaches all of it). The worker then says goodbye:
    the broker gets every block back at once, the interrupted one included,
    without using a retry (preemption is not the block's fault).

    A worker the broker started on this host (DAISY_BROKER_PID names its
    parent) dies with it: the parent-death signal is SIGTERM, handled as
    above, so no worker of a killed run outlives it by more than a moment.
    Its run id (--run-id, DAISY_RUN_ID) makes any other broker that later
    binds the same address refuse it, and it exits.

    --log sends this process's stdout and stderr (and so those of its
    commands and plugin) to a file opened for appending: one log per
    worker, whichever way the block's code writes.
*/
#include "args.h"
#include "jobctl.h"
#include "worker.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daisy/block_exec.h"
#include "daisy/protocol.h"
#include "daisy/worker.h"

enum {
    WCLI_OK = 0,
    WCLI_REFUSED = 1,     //  refused, unreachable, plugin init failed
    WCLI_USAGE = 2,
    WCLI_INTERNAL = 4
};

enum { OPT_CURVE_SECRET = 256, OPT_BROKER_KEY, OPT_VERSION, OPT_CHECK, OPT_RUN, OPT_RUN_ID };

static const char *usage_text =
    "Usage: %1$s [OPTIONS] [--check CMD] --exec CMD\n"
    "       %1$s [OPTIONS] [--check CMD] --plugin LIB.so [-- PLUGIN-ARGS...]\n"
    "       %1$s [OPTIONS] --run PROGRAM\n"
    "\n"
    "Join one task of a daisy broker and process its blocks until the broker\n"
    "says there is no more work. Start as many as you like, on any host that\n"
    "can reach the broker: each asks for blocks, runs them, reports every\n"
    "result, and keeps a heartbeat going while a block runs. A worker that\n"
    "loses its broker reconnects (back-off from 1 s doubling to 30 s). A\n"
    "block's command is paused (SIGSTOP) while the worker cannot speak for\n"
    "it: its broker silent past liveness - 1.5 heartbeats, or this worker\n"
    "stopped; it goes on when the broker says the block is still this\n"
    "worker's, and is killed when the block went to another.\n"
    "\n"
    "What runs per block (exactly one):\n"
    "  -e, --exec CMD         run CMD through /bin/sh once per block; success is\n"
    "                         exit status 0. The block is in its environment:\n"
    "                         DAISY_TASK_ID, DAISY_BLOCK_ID, DAISY_ATTEMPT,\n"
    "                         DAISY_READ_OFFSET, DAISY_READ_SHAPE,\n"
    "                         DAISY_WRITE_OFFSET, DAISY_WRITE_SHAPE (ROIs as\n"
    "                         comma-separated integers, world units),\n"
    "                         DAISY_BROKER and DAISY_WORKER_ID.\n"
    "  -P, --plugin LIB.so    load a shared library and call its\n"
    "                         daisy_plugin_process() for every block, in this\n"
    "                         process (see PLUGINS). A name without '/' is looked\n"
    "                         up in the current directory first.\n"
    "      --run PROGRAM      instead of both: run PROGRAM through /bin/sh in this\n"
    "                         process's place (a simple command is exec'd), with\n"
    "                         DAISY_BROKER, DAISY_TASK_ID, DAISY_WORKER_ID,\n"
    "                         DAISY_RUN_ID, DAISY_PREFETCH and DAISY_GIVE_UP set\n"
    "                         from --connect, --task, --worker-id, --run-id,\n"
    "                         --prefetch and --give-up (a program that runs the\n"
    "                         worker loop itself; how a task's `worker` starts)\n"
    "\n"
    "Completion check (optional):\n"
    "      --check CMD        before each block, run CMD through /bin/sh with the\n"
    "                         same environment as --exec. Exit status 0 means the\n"
    "                         block is already done: it is not processed and is\n"
    "                         reported to the broker as skipped. Any other status\n"
    "                         (or a CMD that cannot be started) means: process\n"
    "                         it. Wins over a plugin's daisy_plugin_check().\n"
    "\n"
    "Broker:\n"
    "  -c, --connect EP       broker endpoint, e.g. tcp://node7:5555\n"
    "                         (default: $DAISY_BROKER)\n"
    "  -t, --task ID          the task to work for (default: $DAISY_TASK_ID)\n"
    "  -w, --worker-id ID     this worker's unique id, shown in the broker's logs\n"
    "                         (default: $DAISY_WORKER_ID, else HOST:PID:RANDOM)\n"
    "      --run-id ID        work only for the broker run with this id (the\n"
    "                         broker prints it); another run's broker refuses\n"
    "                         this worker, which then exits with status 1\n"
    "                         (default: $DAISY_RUN_ID, else any run)\n"
    "  -p, --prefetch N       blocks to hold at once, 1 to 1024 (default 1, as\n"
    "                         daisy does); more hides the round trip to the\n"
    "                         broker when blocks are short\n"
    "  -g, --give-up SECONDS  exit when no broker has answered for this long\n"
    "                         (default: keep trying)\n"
    "      --curve-secret FILE  this worker's CurveZMQ secret key file\n"
    "      --broker-key FILE    the broker's CurveZMQ public key file; give both\n"
    "                         or neither (files as written by `daisy keygen`)\n"
    "\n"
    "Output:\n"
    "  -l, --log FILE         append this worker's stdout and stderr, and so the\n"
    "                         output of its commands or plugin, to FILE\n"
    "                         (default: inherited)\n"
    "  -h, --help             show this help\n"
    "      --version          show the version\n"
    "\n"
    "PLUGINS\n"
    "  A plugin is a shared library that exports\n"
    "      int daisy_plugin_process(const daisy_block_t *block, void *state);\n"
    "  returning 0 for success (see <daisy/block.h>), and may export\n"
    "      int daisy_plugin_init(int argc, char **argv, void **state);\n"
    "      void daisy_plugin_fini(void *state);\n"
    "      bool daisy_plugin_check(const daisy_block_t *block, void *state);\n"
    "  init is called once, before connecting, with the arguments after `--`\n"
    "  (argc may be 0; argv[argc] is NULL); the state it sets is passed to\n"
    "  every process and check call and to fini. A non-zero return from init\n"
    "  stops the worker. check, when exported, is the completion check: it\n"
    "  is called before each block, and a block for which it returns true is\n"
    "  not processed but reported as skipped (--check, if given, is used\n"
    "  instead). Build one with: cc -shared -fPIC plugin.c -o plugin.so\n"
    "\n"
    "SIGNALS\n"
    "  SIGINT, SIGTERM   pass the signal on to the block's command (--exec),\n"
    "                    give every block held back to the broker (the one\n"
    "                    interrupted included, without using a retry; a\n"
    "                    --plugin block in progress finishes and is reported\n"
    "                    first), and exit.\n"
    "\n"
    "ENVIRONMENT\n"
    "  DAISY_BROKER, DAISY_TASK_ID, DAISY_WORKER_ID, DAISY_RUN_ID\n"
    "                    defaults of --connect, --task, --worker-id and\n"
    "                    --run-id (set by `daisy run` and `daisy-broker` for\n"
    "                    the workers they start)\n"
    "  DAISY_BROKER_PID  when it is this process's parent: when the parent\n"
    "                    dies, die at once with the block's command (a\n"
    "                    --run program gets SIGTERM)\n"
    "\n"
    "EXIT STATUS\n"
    "  0      the broker said there is no more work\n"
    "  1      the broker refused this worker (unknown task, another run,\n"
    "         CurveZMQ key not allowed), no broker answered within --give-up,\n"
    "         or the plugin's init failed\n"
    "  2      bad command line (including an unreadable key file, plugin or log)\n"
    "  4      internal error\n"
    "  128+N  stopped by signal N (130 for SIGINT, 143 for SIGTERM)\n";

typedef int (plugin_init_fn)(int argc, char **argv, void **state);
typedef void (plugin_fini_fn)(void *state);
typedef bool (plugin_check_fn)(const daisy_block_t *block, void *state);

typedef struct {
    const char *prog;
    daisy_worker_options_t opt;
    const char *exec;
    const char *run;        //  --run: exec this worker program instead
    const char *check;
    const char *plugin;
    const char *log;
    int plugin_argc;
    char **plugin_argv;
} wcli_args_t;

//  What a block runs, and with what.
typedef struct {
    const char *prog;
    daisy_worker_t *worker;
    const char *command;                //  --exec
    const char *check_command;          //  --check
    daisy_exec_env_t env;
    daisy_block_t checked;              //  the block --check last ran for
    int64_t checked_at;                 //  when (daisy_exec_clock_ms), or 0
    char tail[256];                     //  --exec: the command's last stderr line
    void *dl;                           //  --plugin
    daisy_process_fn *process;
    plugin_fini_fn *fini;
    plugin_check_fn *check;             //  the plugin's, if it has one
    void *state;
} wcli_job_t;

static daisy_worker_t *volatile s_worker;
static volatile sig_atomic_t s_signal;
static volatile pid_t s_command;     //  process group of the block's command, or 0
static volatile sig_atomic_t s_aborted;     //  the block's command was killed: not ours now

static void
wcli_on_signal(int sig)
{
    int saved = errno;
    s_signal = sig;
    daisy_worker_t *w = s_worker;
    if (w)
        daisy_worker_stop(w);
    pid_t group = s_command;
    if (group > 0)
        kill(-group, sig);  //  a held command takes it when it goes on, or is killed
    errno = saved;
}

//  Continued after a stop of any length: the broker may have given the
//  block away meanwhile (daisy_worker_continued).
static void
wcli_on_continue(int sig)
{
    (void)sig;
    daisy_worker_t *w = s_worker;
    if (w)
        daisy_worker_continued(w);
}

//  Whether process `pid` has ended: gone, or a zombie its parent has not
//  yet waited for.
static bool
wcli_ended(pid_t pid)
{
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char path[64], stat[256] = "";
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(stat, sizeof stat, f))
            stat[0] = '\0';
        fclose(f);
    }
    const char *state = strrchr(stat, ')');     //  "pid (comm) S ..."
    return state && (state[2] == 'Z' || state[2] == 'X');
}

//  Started by a broker on this host (its pid in DAISY_BROKER_PID): end with
//  it. A broker that died before we could ask for the parent-death signal
//  (we were handed to init, or it is a zombie not yet waited for) ends us
//  at once.
static int
wcli_die_with_broker(const char *prog, bool program)
{
    const char *var = getenv("DAISY_BROKER_PID");
    pid_t pid = var ? (pid_t)atol(var) : 0;
    if (pid <= 0)
        return -1;
    //  A --run program gets SIGTERM, to clean up. A command or plugin goes
    //  at once (the guard kills the command): the run is dead, and a
    //  resumed one may hand its block out now; a command that takes its
    //  time over a SIGTERM ran on beside it.
    if (getppid() == pid)
        prctl(PR_SET_PDEATHSIG, program ? SIGTERM : SIGKILL);
    if (wcli_ended(pid)) {
        fprintf(stderr, "%s: the broker that started this worker (pid %s) is gone\n", prog, var);
        return WCLI_REFUSED;
    }
    return -1;
}

static void
wcli_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

//  Command line ------------------------------------------------------------

static int
wcli_usage_error(const char *prog, const char *what, const char *arg)
{
    return cli_usage_error(prog, "%s%s%s%s", what, arg ? " '" : "", arg ? arg : "",
                           arg ? "'" : "");
}

//  Returns -1 when parsing went fine, else the exit status to return.
static int
wcli_parse(int argc, char **argv, wcli_args_t *a)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"task", required_argument, NULL, 't'},
        {"worker-id", required_argument, NULL, 'w'},
        {"run-id", required_argument, NULL, OPT_RUN_ID},
        {"prefetch", required_argument, NULL, 'p'},
        {"give-up", required_argument, NULL, 'g'},
        {"log", required_argument, NULL, 'l'},
        {"exec", required_argument, NULL, 'e'},
        {"plugin", required_argument, NULL, 'P'},
        {"check", required_argument, NULL, OPT_CHECK},
        {"run", required_argument, NULL, OPT_RUN},
        {"curve-secret", required_argument, NULL, OPT_CURVE_SECRET},
        {"broker-key", required_argument, NULL, OPT_BROKER_KEY},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *prog = a->prog;
    int c;
    double give_up;
    optind = 0;     //  full re-initialisation: we may not be the first parser
    while ((c = cli_getopt(prog, argc, argv, "+c:t:w:p:g:l:e:P:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': a->opt.endpoint = optarg; break;
        case 't': a->opt.task_id = optarg; break;
        case 'w': a->opt.worker_id = optarg; break;
        case 'l': a->log = optarg; break;
        case 'e': a->exec = optarg; break;
        case 'P': a->plugin = optarg; break;
        case OPT_CHECK: a->check = optarg; break;
        case OPT_RUN: a->run = optarg; break;
        case OPT_RUN_ID: a->opt.run_id = optarg; break;
        case OPT_CURVE_SECRET: a->opt.curve_secret = optarg; break;
        case OPT_BROKER_KEY: a->opt.broker_key = optarg; break;
        case 'p':
            if (cli_uint(prog, "--prefetch", optarg, 1, DAISY_MAX_BATCH, &a->opt.prefetch))
                return WCLI_USAGE;
            break;
        case 'g':
            if (cli_seconds(prog, "--give-up", optarg, &give_up) != 0)
                return WCLI_USAGE;
            a->opt.give_up_ms = (uint32_t)ceil(give_up * 1000 < UINT32_MAX ? give_up * 1000
                                                                           : UINT32_MAX);
            break;
        case 'h':
            printf(usage_text, prog);
            return WCLI_OK;
        case OPT_VERSION:
            return cli_version(prog);
        default:
            return WCLI_USAGE;
        }
    }
    if (optind < argc) {
        if (strcmp(argv[optind - 1], "--") != 0)
            return wcli_usage_error(prog, "unexpected argument", argv[optind]);
        if (!a->plugin)
            return wcli_usage_error(prog, "arguments after '--' are for --plugin only", NULL);
    }
    a->plugin_argc = argc - optind;
    a->plugin_argv = argv + optind;
    if (!a->exec + !a->plugin + !a->run != 2)
        return wcli_usage_error(prog, "give exactly one of --exec CMD, --plugin LIB.so and "
                                "--run PROGRAM", NULL);
    //  An empty one is a script's variable left unset: sh -c '' succeeds
    //  at every block and does nothing.
    const char *names[] = {"--exec", "--plugin", "--run", "--check"};
    const char *given[] = {a->exec, a->plugin, a->run, a->check};
    for (size_t i = 0; i < 4; i++)
        if (given[i] && !*given[i])
            return cli_usage_error(prog, "%s: an empty string", names[i]);
    if (!a->opt.endpoint)
        return wcli_usage_error(prog, "no broker endpoint: use --connect EP or set DAISY_BROKER",
                                NULL);
    if (cli_connect_endpoint(prog, "--connect", a->opt.endpoint) != 0)
        return 2;
    if (!a->opt.task_id || !*a->opt.task_id)
        return wcli_usage_error(prog, "no task: use --task ID or set DAISY_TASK_ID", NULL);
    if (!a->opt.curve_secret != !a->opt.broker_key)
        return wcli_usage_error(prog, "--curve-secret and --broker-key go together", NULL);
    return -1;
}

//  Per block ---------------------------------------------------------------

//  What people read counts attempts from 1, as the summary does;
//  block->attempt and DAISY_ATTEMPT count from 0.
static int
wcli_exec_block(const daisy_block_t *block, void *arg)
{
    wcli_job_t *job = arg;
    daisy_error_t err;
    char text[384];
    int status;
    job->env.timeout_ms = daisy_worker_timeout_ms(job->worker);
    //  After its check, the command has what is left of the block's timeout.
    job->env.since_ms = job->checked_at && job->checked.task == block->task
                        && job->checked.index == block->index
                        && job->checked.attempt == block->attempt ? job->checked_at : 0;
    job->checked_at = 0;
    s_aborted = 0;
    int rc = daisy_block_exec(job->command, block, &job->env, &status, &err);
    if (s_aborted)      //  another worker's block now: said so, and not reported
        return rc < 0 ? -1 : 1;
    if (rc != 0) {      //  not started (-1), or stopped at the task's timeout (1)
        daisy_worker_set_error(job->worker, err.msg);
        fprintf(stderr, "%s: block %llu (attempt %u): %s\n", job->prog,
                (unsigned long long)block->block_id, block->attempt + 1, err.msg);
        return rc < 0 ? -1 : status ? status : 1;
    }
    if (status == 0)
        return 0;
    //  A batch system stopping the job (scancel, preemption) signals every
    //  process of it at once: the command may die of the SIGTERM before
    //  ours arrives. Give ours a moment, so that the block goes back
    //  unharmed instead of failing.
    for (int i = 0; i < 20 && !s_signal && (status == 128 + SIGTERM || status == 128 + SIGINT); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    //  The command's last word on stderr says why, in the summary and the
    //  feed, not only in a log.
    snprintf(text, sizeof text, "command exited with status %d%s%s", status,
             *job->tail ? ": " : "", job->tail);
    daisy_worker_set_error(job->worker, text);
    fprintf(stderr, "%s: block %llu (attempt %u) failed: %s\n", job->prog,
            (unsigned long long)block->block_id, block->attempt + 1, text);
    return status;
}

//  --check: exit status 0 means the block is done. A command that cannot
//  be started says nothing: the block is processed.
static bool
wcli_check_command(const daisy_block_t *block, void *arg)
{
    wcli_job_t *job = arg;
    daisy_error_t err;
    int status;
    job->env.timeout_ms = daisy_worker_timeout_ms(job->worker);
    job->env.since_ms = 0;
    job->checked = *block;
    job->checked_at = daisy_exec_clock_ms();
    int rc = daisy_block_exec(job->check_command, block, &job->env, &status, &err);
    if (rc != 0) {      //  not started, or stopped at the timeout: not done
        fprintf(stderr, "%s: block %llu (attempt %u): %s the check: %s\n", job->prog,
                (unsigned long long)block->block_id, block->attempt + 1,
                rc < 0 ? "cannot run" : "stopped", err.msg);
        return false;
    }
    return status == 0;
}

static bool
wcli_plugin_check(const daisy_block_t *block, void *arg)
{
    wcli_job_t *job = arg;
    return job->check(block, job->state);
}

static int
wcli_plugin_block(const daisy_block_t *block, void *arg)
{
    wcli_job_t *job = arg;
    int rc = job->process(block, job->state);
    if (rc != 0)
        fprintf(stderr, "%s: block %llu (attempt %u) failed: process function returned %d\n",
                job->prog, (unsigned long long)block->block_id, block->attempt + 1, rc);
    return rc;
}

//  Setup -------------------------------------------------------------------

//  Append stdout and stderr to the log file.
static int
wcli_open_log(const char *prog, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open log file %s: %s\n", prog, path, strerror(errno));
        return WCLI_USAGE;
    }
    fflush(stdout);
    fflush(stderr);
    if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        fprintf(stderr, "%s: cannot redirect output to %s: %s\n", prog, path, strerror(errno));
        close(fd);
        return WCLI_INTERNAL;
    }
    close(fd);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return -1;
}

//  dlopen the plugin, find its functions and run its init.
static int
wcli_load_plugin(const wcli_args_t *a, wcli_job_t *job)
{
    char local[4096];
    const char *path = a->plugin;
    //  dlopen would search only the system's paths for a bare name.
    if (!strchr(path, '/') && access(path, F_OK) == 0) {
        snprintf(local, sizeof local, "./%s", path);
        path = local;
    }
    job->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!job->dl) {
        fprintf(stderr, "%s: cannot load plugin: %s\n", a->prog, dlerror());
        return WCLI_USAGE;
    }
    plugin_init_fn *init;
    *(void **)&job->process = dlsym(job->dl, "daisy_plugin_process");
    *(void **)&init = dlsym(job->dl, "daisy_plugin_init");
    *(void **)&job->fini = dlsym(job->dl, "daisy_plugin_fini");
    *(void **)&job->check = dlsym(job->dl, "daisy_plugin_check");
    if (!job->process) {
        fprintf(stderr, "%s: plugin %s has no daisy_plugin_process\n", a->prog, a->plugin);
        return WCLI_USAGE;
    }
    int rc = init ? init(a->plugin_argc, a->plugin_argv, &job->state) : 0;
    if (rc != 0) {
        fprintf(stderr, "%s: plugin %s: daisy_plugin_init returned %d\n", a->prog, a->plugin, rc);
        job->fini = NULL;   //  init failed: nothing to finish
        return WCLI_REFUSED;
    }
    return -1;
}

static void
wcli_unload(wcli_job_t *job)
{
    if (job->fini)
        job->fini(job->state);
    if (job->dl)
        dlclose(job->dl);
}

//  Create the worker and run it; returns the exit status.
//  The broker gave the running block to another worker (it lost this one,
//  or it was restarted): a command goes at once, or it would run next to
//  the new attempt and the neighbours it conflicts with.
static void
wcli_abort_block(void *arg)
{
    const char *prog = arg;
    pid_t group = s_command;
    if (group > 0) {
        s_aborted = 1;
        kill(-group, SIGKILL);
    }
    fprintf(stderr, "%s: the broker gave the running block to another worker (this one was "
            "lost, the broker restarted, or the run ended): %s\n", prog,
            group > 0 ? "its command is killed" : "its result will be dropped");
}

//  The worker cannot vouch for the running block (its broker fell silent,
//  or this worker was stopped): its command waits, stopped, until the
//  broker says whether the block is still ours. The guard has stopped it
//  already if this worker was stopped (freeze_with_caller).
static void
wcli_hold_block(void *arg, bool hold)
{
    const char *prog = arg;
    pid_t group = s_command;
    if (group <= 0 || (!hold && s_aborted))
        return;
    kill(-group, hold ? SIGSTOP : SIGCONT);
    fprintf(stderr, hold ? "%s: the broker is silent, or this worker was stopped: the block's "
                           "command is paused until the broker says the block is still ours\n"
                         : "%s: the block is still ours: its command goes on\n", prog);
}

static int
wcli_run(const wcli_args_t *a, wcli_job_t *job)
{
    daisy_error_t err = {0};
    daisy_worker_t *w = daisy_worker_new(&a->opt, &err);
    if (!w) {
        fprintf(stderr, "%s: %s\n", a->prog, err.msg);
        return WCLI_USAGE;
    }
    job->worker = w;
    job->env.broker = a->opt.endpoint;
    job->env.worker_id = daisy_worker_id(w);
    if (job->check_command)
        daisy_worker_set_check(w, wcli_check_command, job);
    else if (job->check)
        daisy_worker_set_check(w, wcli_plugin_check, job);
    daisy_worker_set_abort(w, wcli_abort_block, (void *)a->prog);
    daisy_worker_set_hold(w, wcli_hold_block, (void *)a->prog);
    s_worker = w;
    if (s_signal)   //  a signal that came before the worker existed
        daisy_worker_stop(w);
    int rc = daisy_worker_run(w, job->command ? wcli_exec_block : wcli_plugin_block, job, &err);
    s_worker = NULL;
    //  The last line of the worker's log: what it did.
    fprintf(stderr, "%s: %s: %llu blocks processed, %llu found done by the check\n", a->prog,
            daisy_worker_id(w), (unsigned long long)daisy_worker_processed(w),
            (unsigned long long)daisy_worker_skipped(w));
    int status = WCLI_OK;
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", a->prog, err.msg);
        status = WCLI_REFUSED;
    } else if (rc > 0)
        status = s_signal ? 128 + s_signal : WCLI_REFUSED;
    daisy_worker_destroy(&w);
    return status;
}

//  `--args HEX`: the real arguments, NUL-separated and hex-encoded. Launch
//  templates put the worker's command line through ssh (one more shell
//  parse) or srun (none); a line made only of [0-9a-f-] and a plain path
//  reads the same either way, whatever the task's command contains.
static int
wcli_from_hex(const char *hex, const char *prog, char **argv0)
{
    size_t n = strlen(hex);
    if (n % 2 != 0)
        return -1;
    char *bytes = calloc(n / 2 + 1, 1);
    char **argv = calloc(n / 2 + 3, sizeof *argv);
    if (!bytes || !argv) {
        free(bytes);
        free(argv);
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(bytes);
            free(argv);
            return -1;
        }
        bytes[i] = (char)v;
    }
    int argc = 0;
    argv[argc++] = argv0[0];
    for (size_t i = 0; i < n / 2; i += strlen(bytes + i) + 1)
        argv[argc++] = bytes + i;
    int rc = cli_worker(argc, argv, prog);
    free(argv);
    free(bytes);
    return rc;
}

//  --run: a task's own worker program takes this process's place, with the
//  broker, task and worker id in its environment (how launch templates
//  start `worker` programs on other hosts).
static int
wcli_run_program(const wcli_args_t *a)
{
    setenv("DAISY_BROKER", a->opt.endpoint, 1);
    setenv("DAISY_TASK_ID", a->opt.task_id, 1);
    if (a->opt.worker_id)
        setenv("DAISY_WORKER_ID", a->opt.worker_id, 1);
    if (a->opt.run_id)
        setenv("DAISY_RUN_ID", a->opt.run_id, 1);
    //  The window and the give-up time, for worker programs that read them
    //  (the Python worker does).
    char text[32];
    snprintf(text, sizeof text, "%u", a->opt.prefetch);
    setenv("DAISY_PREFETCH", text, 1);
    if (a->opt.give_up_ms) {
        snprintf(text, sizeof text, "%g", a->opt.give_up_ms / 1000.0);
        setenv("DAISY_GIVE_UP", text, 1);
    }
    //  A simple command is exec'd by the shell (dash forks for the last
    //  command otherwise): the program is then the process the launcher
    //  started, whose death it sees at once, and the parent-death signal
    //  set for us reaches it.
    char line[8192];
    bool simple = !strpbrk(a->run, ";&|(){}<>`\n") && strncmp(a->run, "exec ", 5) != 0;
    snprintf(line, sizeof line, "%s%s", simple ? "exec " : "", a->run);
    execl("/bin/sh", "sh", "-c", line, (char *)NULL);
    fprintf(stderr, "%s: cannot run '%s': %s\n", a->prog, a->run, strerror(errno));
    return WCLI_INTERNAL;
}

int
cli_worker(int argc, char **argv, const char *prog)
{
    if (argc == 3 && !strcmp(argv[1], "--args")) {
        int rc = wcli_from_hex(argv[2], prog, argv);
        if (rc < 0)
            fprintf(stderr, "%s: --args: not a hex-encoded argument list\n", prog);
        return rc < 0 ? WCLI_USAGE : rc;
    }
    wcli_args_t a = {.prog = prog, .opt = daisy_worker_options_default()};
    int rc = wcli_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    //  Before --run's exec: the parent-death signal survives it.
    if ((rc = wcli_die_with_broker(prog, a.run != NULL)) >= 0)
        return rc;
    if (a.run)
        return wcli_run_program(&a);
    if (a.log && (rc = wcli_open_log(prog, a.log)) >= 0)
        return rc;
    wcli_job_t job = {.prog = prog, .command = a.exec, .check_command = a.check,
                      .env = {.out_fd = -1, .err_fd = -1, .group = &s_command,
                              .freeze_with_caller = true}};
    job.env.tail = job.tail;
    job.env.tail_size = sizeof job.tail;
    s_signal = 0;
    wcli_signals(wcli_on_signal);
    //  Ctrl-Z stops the block's command too; fg continues it once the
    //  broker has said the block is still ours (wcli_hold_block).
    jobctl_follow(&s_command, false);
    signal(SIGCONT, wcli_on_continue);
    if (a.plugin && (rc = wcli_load_plugin(&a, &job)) >= 0) {
        wcli_unload(&job);
        wcli_signals(SIG_DFL);
        return rc;
    }
    rc = wcli_run(&a, &job);
    wcli_unload(&job);
    wcli_signals(SIG_DFL);
    return rc;
}
