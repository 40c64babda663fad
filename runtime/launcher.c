/*  launcher.c - the broker's worker processes: start, watch, replace, give up

    Processes are reaped with waitpid(WNOHANG) on every poll rather than in
    a SIGCHLD handler, so nothing runs in signal context and the broker
    hears of a death within one poll interval. A death while the task still
    has work counts toward the task's restart cap; past it the task is
    abandoned (daisy's users saw buggy tasks respawn workers for days).
*/
#include "daisy/launcher.h"

#include "fsutil.h"
#include "budget.h"
#include "slurm.h"

#include <czmq.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

//  A worker started: a process here (pid), or a SLURM job (job > 0).
typedef struct {
    pid_t pid;
    long job;
    uint32_t task;
    char wid[300];
    int64_t since;              //  jobs: first seen pending (ms)
    int64_t running_since;      //  first seen running (ms)
    bool told_pending, told_silent, connected;
    bool queued;                //  jobs: pending in the queue, as last seen
    char gpus[192];             //  GPU ids it holds from the budget ("" none)
} proc_t;

typedef struct {
    bool started;
    uint32_t want;              //  workers the task should have running
    uint32_t running;
    uint32_t deaths;
    uint32_t next_id;
    char last_dead[300];        //  the worker that died last ("" none yet)
    char start_error[512];      //  why the last worker could not be started ("" when
                                //  the last death was a worker's)
} ltask_t;

struct _daisy_launcher_t {
    daisy_broker_t *broker;
    const daisy_graph_t *graph;
    daisy_launcher_options_t opt;
    char *worker_program;
    char *log_dir;
    char **hosts;
    size_t nhosts, next_host;
    ltask_t *tasks;
    uint32_t ntasks;
    proc_t *procs;
    size_t nprocs, capprocs;
    char *endpoint;               //  what workers are told (see daisy_broker_advertised)
    int64_t last_squeue;          //  ms, monotonic
    int64_t last_report;          //  ms: launches last told to the broker
    budget_t *budget;             //  the run's CPUs and GPUs
    char *log_base;               //  the log directory asked for
    char run_name[96];            //  this run's folder in it
    bool run_dir_made;
    char *job_dir;                //  log_dir, absolute (job scripts)
    char give_up[32];             //  seconds, for the workers' --give-up
    char cmd[8192];               //  a worker's command line, being built
    char line[16384];             //  the same through the launch template
};

//  Paths and text ----------------------------------------------------------------

//  daisy-worker beside this executable, else the bare name (PATH).
static char *
find_worker_program(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            char path[PATH_MAX + 32];
            snprintf(path, sizeof path, "%.*s/daisy-worker", (int)(slash - self), self);
            if (access(path, X_OK) == 0)
                return strdup(path);
        }
    }
    return strdup("daisy-worker");
}

//  Append `s` to buf as one single-quoted shell word.
static void
append_quoted(char *buf, size_t size, const char *s)
{
    size_t used = strlen(buf);
    if (used + 1 < size)
        buf[used++] = '\'';
    for (; *s && used + 5 < size; s++) {
        if (*s == '\'') {
            memcpy(buf + used, "'\\''", 4);
            used += 4;
        } else
            buf[used++] = *s;
    }
    if (used + 1 < size)
        buf[used++] = '\'';
    buf[used < size ? used : size - 1] = '\0';
}

//  What a launch template's placeholders stand for.
typedef struct {
    const char *cmd, *host, *task, *worker_id;
} slots_t;

//  Append `s` as one shell word: as it is when it needs no quoting.
static void
append_word(char *buf, size_t size, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_./-+,:=@%") == strlen(s))
        strncat(buf, s, size - strlen(buf) - 1);
    else
        append_quoted(buf, size, s);
}

//  The template with {cmd}, {host}, {task} and {worker_id} replaced.
static void
expand_template(const char *tmpl, const slots_t *v, char *out, size_t size)
{
    static const char *const names[] = {"{cmd}", "{host}", "{task}", "{worker_id}"};
    const char *values[] = {v->cmd, v->host, v->task, v->worker_id};
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = tmpl; *p && used + 1 < size;) {
        const char *value = NULL;
        for (size_t i = 0; i < 4 && !value; i++)
            if (!strncmp(p, names[i], strlen(names[i])))
                value = values[i], p += strlen(names[i]);
        if (value) {
            used += (size_t)snprintf(out + used, size - used, "%s", value);
            if (used >= size)
                used = size - 1;
        } else
            out[used++] = *p++, out[used] = '\0';
    }
}

//  Starting one worker -----------------------------------------------------------

static pid_t
spawn_argv(char *const argv[], char *const envp[], int out_fd, int err_fd)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
    //  Each worker leads a process group of its own: stopping it reaches
    //  the shell and the worker program behind it alike, and a Ctrl-C on
    //  the terminal goes to the broker, which drains its workers in order.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -1;
}

#define WORKER_VARS 6

//  The environment plus the worker's DAISY_ variables. DAISY_BROKER_PID
//  only for workers started on this host, whose parent the broker is: they
//  die with it (see worker/cli.c).
static char **
worker_env(char vars[WORKER_VARS][512], const char *endpoint, const char *task_id,
           const char *wid, const char *run_id, bool local, const char *gpus)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + WORKER_VARS + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "DAISY_", 6) != 0
            && !(local && *gpus && !strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21)))
            envp[k++] = environ[i];
    int nvars = 0;
    snprintf(vars[nvars++], 512, "DAISY_BROKER=%s", endpoint);
    snprintf(vars[nvars++], 512, "DAISY_TASK_ID=%s", task_id);
    snprintf(vars[nvars++], 512, "DAISY_WORKER_ID=%s", wid);
    snprintf(vars[nvars++], 512, "DAISY_RUN_ID=%s", run_id);
    if (local)
        snprintf(vars[nvars++], 512, "DAISY_BROKER_PID=%ld", (long)getpid());
    if (local && *gpus)     //  the devices the budget gave this worker
        snprintf(vars[nvars++], 512, "CUDA_VISIBLE_DEVICES=%s", gpus);
    for (int i = 0; i < nvars; i++)
        envp[k++] = vars[i];
    return envp;
}

//  The worker's command line as one shell string made of words that need
//  no quoting at all, so that `ssh {host} {cmd}` and `srun -N1 -n1 {cmd}`
//  both work.
static void
worker_command(daisy_launcher_t *self, const daisy_task_t *task, const char *endpoint,
               const char *wid, char *cmd, size_t size)
{
    cmd[0] = '\0';
    char prefetch[16];
    snprintf(prefetch, sizeof prefetch, "%u", self->opt.prefetch ? self->opt.prefetch : 1);
    //  --give-up: a worker whose broker was killed does not linger forever.
    //  --check: the task's completion check runs there, not in the broker.
    //  The arguments travel hex-encoded (--args): the line then reads the
    //  same through a remote shell (ssh) or none (srun).
    const char *check = daisy_task_check_command(task);
    //  A task's own worker program is started by daisy-worker --run, which
    //  sets its environment, so that it travels the same way.
    const char *command = daisy_task_command(task);
    const char *words[] = {"--connect", endpoint, "--task", daisy_task_id(task),
                           "--worker-id", wid, "--run-id", daisy_broker_run_id(self->broker),
                           "--prefetch", prefetch, "--give-up", self->give_up,
                           command ? "--exec" : "--run",
                           command ? command : daisy_task_worker(task),
                           check ? "--check" : NULL, check};
    append_word(cmd, size, self->worker_program);
    if (self->opt.slurm) {
        //  A job script is read by one shell: plain shell words, readable
        //  in the script and in ps.
        for (size_t i = 0; i < sizeof words / sizeof words[0] && words[i]; i++) {
            strncat(cmd, " ", size - strlen(cmd) - 1);
            append_word(cmd, size, words[i]);
        }
        return;
    }
    strncat(cmd, " --args ", size - strlen(cmd) - 1);
    static const char digits[] = "0123456789abcdef";
    size_t used = strlen(cmd);
    for (size_t i = 0; i < sizeof words / sizeof words[0] && words[i]; i++)
        for (const unsigned char *p = (const unsigned char *)words[i];; p++) {
            if (used + 3 >= size)
                break;
            cmd[used++] = digits[*p >> 4];
            cmd[used++] = digits[*p & 15];
            if (!*p)
                break;
        }
    cmd[used] = '\0';
}

static pid_t
spawn_worker(daisy_launcher_t *self, uint32_t t, const char *wid, const char *gpus, int out_fd,
             int err_fd)
{
    const char *endpoint = self->endpoint;
    const char *run_id = daisy_broker_run_id(self->broker);
    if (self->opt.spawn)
        return self->opt.spawn(self->opt.spawn_arg, t, endpoint, wid, run_id, out_fd, err_fd);
    const daisy_task_t *task = daisy_pipeline_task(daisy_graph_pipeline(self->graph), t);
    char *cmd = self->cmd, *line = self->line;
    worker_command(self, task, endpoint, wid, cmd, sizeof self->cmd);
    if (self->opt.launch_template) {
        slots_t slots = {cmd, self->nhosts ? self->hosts[self->next_host++ % self->nhosts]
                                           : "localhost", daisy_task_id(task), wid};
        expand_template(self->opt.launch_template, &slots, line, sizeof self->line);
    } else
        snprintf(line, sizeof self->line, "exec %s", cmd);
    char vars[WORKER_VARS][512];
    char **envp = worker_env(vars, endpoint, daisy_task_id(task), wid, run_id,
                             !self->opt.launch_template, gpus);
    if (!envp)
        return -1;
    char *argv[] = {"/bin/sh", "-c", line, NULL};
    pid_t pid = spawn_argv(argv, envp, out_fd, err_fd);
    free(envp);
    return pid;
}

//  A worker's file under `base`: BASE/TASK/WORKER.EXT, or the task's
//  directory BASE/TASK when `wid` is NULL. Ids become file names
//  (daisy_file_name), so a task id holding '/' or ".." stays under base.
static void
worker_file(char *out, size_t size, const char *base, const char *task_id, const char *wid,
            const char *ext)
{
    char task[256], worker[320];
    daisy_file_name(task_id, task, sizeof task);
    if (!wid) {
        snprintf(out, size, "%s/%s", base, task);
        return;
    }
    daisy_file_name(wid, worker, sizeof worker);
    snprintf(out, size, "%s/%s/%s.%s", base, task, worker, ext);
}

static int
open_log(daisy_launcher_t *self, const char *task_id, const char *wid, const char *ext)
{
    char path[PATH_MAX + 640];
    worker_file(path, sizeof path, self->log_dir, task_id, wid, ext);
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
}

//  The sbatch options of a task's jobs: its resources, then the run's.
static void
job_directives(const daisy_launcher_t *self, const daisy_task_t *task, char *buf, size_t size)
{
    const daisy_resources_t *r = daisy_task_resources(task);
    size_t used = 0;
    buf[0] = '\0';
#define ADD(...) used += (size_t)snprintf(buf + used, used < size ? size - used : 0, __VA_ARGS__)
    if (r->cpus)
        ADD(" --cpus-per-task=%u", r->cpus);
    if (r->gpus)
        ADD(" --gpus=%u", r->gpus);
    if (r->mem)
        ADD(" --mem=%s", r->mem);
    if (r->time)
        ADD(" --time=%s", r->time);
    if (r->partition)
        ADD(" --partition=%s", r->partition);
    if (r->extra)
        ADD(" %s", r->extra);
    if (self->opt.sbatch_options)
        ADD(" %s", self->opt.sbatch_options);
#undef ADD
    if (used >= size)
        buf[size - 1] = '\0';
}

//  The run's log folder and the `latest` link, once: the link is made
//  under a temporary name and renamed over the old one, so a reader never
//  finds it missing. Failing to link is no reason to stop a run.
static void
make_run_log_dir(daisy_launcher_t *self)
{
    if (self->run_dir_made)
        return;
    self->run_dir_made = true;
    fsutil_mkdirs(self->log_dir);
    char tmp[PATH_MAX], latest[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.latest.%ld", self->log_base, (long)getpid());
    snprintf(latest, sizeof latest, "%s/latest", self->log_base);
    unlink(tmp);
    if (symlink(self->run_name, tmp) == 0 && rename(tmp, latest) != 0)
        unlink(tmp);
}

//  One worker as a SLURM job: its script beside its logs, then sbatch.
//  The job id, or -1 with the reason in *err.
static long
submit_worker(daisy_launcher_t *self, uint32_t t, const char *wid, daisy_error_t *err)
{
    const daisy_task_t *task = daisy_pipeline_task(daisy_graph_pipeline(self->graph), t);
    const char *task_id = daisy_task_id(task);
    char name[320], out[PATH_MAX + 640], errlog[PATH_MAX + 640], path[PATH_MAX + 640];
    snprintf(name, sizeof name, "daisy-%s", wid);
    worker_file(out, sizeof out, self->job_dir, task_id, wid, "out");
    worker_file(errlog, sizeof errlog, self->job_dir, task_id, wid, "err");
    worker_file(path, sizeof path, self->job_dir, task_id, wid, "sbatch");
    worker_command(self, task, self->endpoint, wid, self->cmd, sizeof self->cmd);
    char directives[8192];
    job_directives(self, task, directives, sizeof directives);
    slurm_job_t job = {name, out, errlog, directives, self->cmd};
    if (slurm_script(&job, self->line, sizeof self->line) != 0)
        return daisy_error_set(err, "the job script for %s is too long", wid);
    FILE *f = fopen(path, "w");
    if (!f)
        return daisy_error_set(err, "cannot write '%s': %s", path, strerror(errno));
    bool written = fputs(self->line, f) >= 0;
    if (fclose(f) != 0 || !written)
        return daisy_error_set(err, "cannot write '%s': %s", path, strerror(errno));
    return slurm_submit(path, err);
}

//  Keep a started worker on the books.
static void
add_proc(daisy_launcher_t *self, proc_t proc)
{
    if (self->nprocs == self->capprocs) {
        size_t cap = self->capprocs ? self->capprocs * 2 : 16;
        proc_t *p = realloc(self->procs, cap * sizeof *p);
        if (!p) {
            if (proc.job > 0)
                slurm_cancel(&proc.job, 1);
            else
                kill(proc.pid, SIGKILL);
            return;
        }
        self->procs = p;
        self->capprocs = cap;
    }
    self->procs[self->nprocs++] = proc;
    self->tasks[proc.task].running++;
}

//  Take a worker off the books: its task has one fewer running, and its
//  share of the budget is free again.
static proc_t
take_proc(daisy_launcher_t *self, size_t i)
{
    proc_t p = self->procs[i];
    self->procs[i] = self->procs[--self->nprocs];
    self->tasks[p.task].running--;
    budget_give(self->budget,
                daisy_task_resources(daisy_pipeline_task(daisy_graph_pipeline(self->graph),
                                                         p.task)), p.gpus);
    return p;
}

static void launcher_log(daisy_launcher_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

//  A worker that could not be started counts as one that died. There is
//  no log of it to quote, so what stopped it is logged and kept for the
//  abandonment's reason.
static void
start_failed(daisy_launcher_t *self, uint32_t t, const char *why)
{
    ltask_t *lt = &self->tasks[t];
    lt->deaths++;
    lt->last_dead[0] = '\0';
    snprintf(lt->start_error, sizeof lt->start_error, "%s", why);
    launcher_log(self, "cannot start a worker of task %s: %s",
                 daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(self->graph), t)), why);
}

//  Start one worker of task t if the budget has room for it; false when
//  it has not (the worker starts when another ends).
static bool
start_one(daisy_launcher_t *self, uint32_t t)
{
    ltask_t *lt = &self->tasks[t];
    const daisy_resources_t *res =
        daisy_task_resources(daisy_pipeline_task(daisy_graph_pipeline(self->graph), t));
    char gpus[192];
    if (!budget_take(self->budget, res, gpus, sizeof gpus))
        return false;
    const char *task_id = daisy_task_id(daisy_pipeline_task(daisy_graph_pipeline(self->graph), t));
    char wid[300], dir[PATH_MAX + 320];
    snprintf(wid, sizeof wid, "%s-%u", task_id, lt->next_id++);
    make_run_log_dir(self);
    worker_file(dir, sizeof dir, self->log_dir, task_id, NULL, NULL);
    fsutil_mkdirs(dir);
    proc_t proc = {.task = t};
    snprintf(proc.wid, sizeof proc.wid, "%s", wid);
    snprintf(proc.gpus, sizeof proc.gpus, "%s", gpus);
    if (self->opt.slurm) {
        worker_file(dir, sizeof dir, self->job_dir, task_id, NULL, NULL);
        fsutil_mkdirs(dir);
        daisy_error_t e;
        proc.job = submit_worker(self, t, wid, &e);
        proc.queued = true;     //  until squeue says otherwise
        if (proc.job < 0) {
            start_failed(self, t, e.msg);
            budget_give(self->budget, res, gpus);
        } else
            add_proc(self, proc);
        return true;
    }
    int out_fd = open_log(self, task_id, wid, "out"), err_fd = open_log(self, task_id, wid, "err");
    char why[PATH_MAX + 64] = "";
    if (out_fd < 0 || err_fd < 0)
        snprintf(why, sizeof why, "cannot open its logs in '%.2000s': %s", dir, strerror(errno));
    pid_t pid = !*why ? spawn_worker(self, t, wid, gpus, out_fd, err_fd) : -1;
    if (pid < 0 && !*why)
        snprintf(why, sizeof why, "cannot start /bin/sh: %s", strerror(errno));
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (pid < 0) {
        start_failed(self, t, why);
        budget_give(self->budget, res, gpus);
        return true;
    }
    proc.pid = pid;
    add_proc(self, proc);
    return true;
}

//  Watching ------------------------------------------------------------------

//  A worker and whatever it started: its process group when it leads one
//  (workers spawned here), else the process alone (forked workers).
static void
signal_worker(pid_t pid, int sig)
{
    if (getpgid(pid) == pid)
        kill(-pid, sig);
    else
        kill(pid, sig);
}

//  A job is cancelled (SIGTERM, then SIGKILL after the cluster's KillWait).
static void
signal_proc(const proc_t *p, int sig)
{
    if (p->job > 0)
        slurm_cancel(&p->job, 1);
    else
        signal_worker(p->pid, sig);
}

static uint32_t
restart_cap(const daisy_launcher_t *self, uint32_t t)
{
    if (self->opt.restart_cap)
        return self->opt.restart_cap;
    const daisy_task_t *task = daisy_pipeline_task(daisy_graph_pipeline(self->graph), t);
    uint64_t cap = 3 * (uint64_t)daisy_task_workers(task);    //  2e9 workers: no wrap
    return cap < UINT32_MAX ? (uint32_t)cap : UINT32_MAX;
}

//  The workers a task starts with: its `workers`, but never more than it
//  has blocks, which is all the work they could share ("workers":
//  2000000000 for 4 blocks started processes until the machine gave out).
static uint32_t
task_want(const daisy_launcher_t *self, uint32_t t)
{
    const daisy_task_t *task = daisy_pipeline_task(daisy_graph_pipeline(self->graph), t);
    uint64_t workers = (uint64_t)daisy_task_workers(task);
    uint64_t blocks = daisy_graph_block_count(self->graph, t);
    return (uint32_t)(workers < blocks ? workers : blocks);
}

static void
kill_task(daisy_launcher_t *self, uint32_t t, int sig)
{
    for (size_t i = 0; i < self->nprocs; i++)
        if (self->procs[i].task == t)
            signal_proc(&self->procs[i], sig);
}

//  The last `want` non-empty lines of a file's last 4 KiB, each indented
//  as the summary shows a note's lines; "" when it cannot be read.
#define TAIL_LINES 3

static void
log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4097];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > 4096 ? end - 4096 : 0;
    ssize_t n = pread(fd, buf, 4096, from);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    const char *lines[TAIL_LINES];
    int found = 0;
    for (char *p = buf + n; p > buf && found < TAIL_LINES;) {
        while (p > buf && (p[-1] == '\n' || p[-1] == '\r'))
            *--p = '\0';
        char *start = p;
        while (start > buf && start[-1] != '\n')
            start--;
        bool partial = from > 0 && start == buf;    //  cut by the 4 KiB window
        if (*start && !partial)
            lines[found++] = start;
        p = start;
    }
    size_t used = 0;
    for (int i = found; i-- > 0 && used + 1 < size;) {
        int w = snprintf(out + used, size - used, "\n      | %.200s", lines[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

//  Past the restart cap the task is abandoned instead of restarting a
//  broken worker forever; true when it was. The reason quotes what the
//  last worker to die wrote last to its stderr and names the file: a
//  worker that cannot start usually says why there.
static bool
abandon_if_capped(daisy_launcher_t *self, uint32_t t)
{
    ltask_t *lt = &self->tasks[t];
    if (lt->deaths < restart_cap(self, t)
        || daisy_scheduler_abandoned(daisy_broker_scheduler(self->broker), t))
        return false;
    char reason[2048], path[PATH_MAX + 640], tail[1024] = "";
    int n = snprintf(reason, sizeof reason, "workers died %u times (restart cap %u)",
                     lt->deaths, restart_cap(self, t));
    if (!*lt->last_dead && *lt->start_error) {
        snprintf(reason + n, sizeof reason - (size_t)n, "; the last could not be started: %s",
                 lt->start_error);
    } else if (*lt->last_dead) {
        const char *task_id = daisy_task_id(
            daisy_pipeline_task(daisy_graph_pipeline(self->graph), t));
        worker_file(path, sizeof path, self->log_dir, task_id, lt->last_dead, "err");
        log_tail(path, tail, sizeof tail);
        snprintf(reason + n, sizeof reason - (size_t)n, "; the last, %.200s, %s %.1000s%s",
                 lt->last_dead, *tail ? "wrote in" : "left nothing in", path, *tail ? ":" : "");
        strncat(reason, tail, sizeof reason - strlen(reason) - 1);
    }
    kill_task(self, t, SIGKILL);
    daisy_broker_abandon(self->broker, t, reason);
    return true;
}

//  A worker ended: `status` is a wait status, or -1 for a job that left the
//  queue (its exit status is SLURM's business: a job ending is a worker
//  lost unless it said goodbye).
static void
on_exit_status(daisy_launcher_t *self, const proc_t *p, int status)
{
    uint32_t t = p->task;
    ltask_t *lt = &self->tasks[t];
    const daisy_scheduler_t *s = daisy_broker_scheduler(self->broker);
    bool done = daisy_scheduler_task_done(s, t);
    bool clean = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (p->job > 0)
        daisy_broker_worker_gone(self->broker, p->wid, "job ended");
    else if (!self->opt.launch_template)
        daisy_broker_process_died(self->broker, p->pid);
    if (done)
        return;
    if (clean && lt->running > 0) {     //  left with work to spare: not replaced
        lt->want -= lt->want > 0;
        return;
    }
    lt->deaths++;
    snprintf(lt->last_dead, sizeof lt->last_dead, "%s", p->wid);
    lt->start_error[0] = '\0';
    abandon_if_capped(self, t);
    //  Else replaced by the next poll (fill), when the budget has room.
}

//  One worker that ended, without waiting: 1 with pid and status, else 0.
static int
reap_one(daisy_launcher_t *self, pid_t *pid, int *status)
{
    if (self->opt.reap)
        return self->opt.reap(self->opt.spawn_arg, pid, status);
    *pid = waitpid(-1, status, WNOHANG);
    return *pid > 0;
}

static void
reap(daisy_launcher_t *self)
{
    for (;;) {
        int status;
        pid_t pid;
        if (!reap_one(self, &pid, &status))
            return;
        for (size_t i = 0; i < self->nprocs; i++) {
            if (self->procs[i].job > 0 || self->procs[i].pid != pid)
                continue;
            proc_t p = take_proc(self, i);
            on_exit_status(self, &p, status);
            break;
        }
    }
}


static void
launcher_log(daisy_launcher_t *self, const char *fmt, ...)
{
    if (!self->opt.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    self->opt.log(self->opt.log_arg, line);
}

//  What a job waits for is said once, after PENDING_REPORT_MS in the queue;
//  a job that runs but whose worker never says HELLO within the connect
//  time is said once too, with where its log is (a wrong address, a
//  missing program, a firewall: the run would otherwise sit silent).
#define PENDING_REPORT_MS 10000

static void
watch_job(daisy_launcher_t *self, proc_t *p, const slurm_status_t *st, int64_t now)
{
    p->queued = st->state == SLURM_PENDING;
    if (p->queued) {
        if (!p->since)
            p->since = now;
        if (!p->told_pending && now - p->since >= PENDING_REPORT_MS) {
            p->told_pending = true;
            launcher_log(self, "job %ld (daisy-%s) has waited %lld s in the queue: %s", p->job,
                         p->wid, (long long)(now - p->since) / 1000, st->reason);
        }
        return;
    }
    if (!p->running_since) {
        p->running_since = now;
        if (p->told_pending)
            launcher_log(self, "job %ld (daisy-%s) runs now", p->job, p->wid);
    }
    int64_t limit = (int64_t)((self->opt.connect_timeout_s > 0 ? self->opt.connect_timeout_s
                                                               : 60.0) * 1000);
    if (p->connected || p->told_silent)
        return;
    if (daisy_broker_has_worker(self->broker, p->wid))
        p->connected = true;
    else if (now - p->running_since >= limit) {
        p->told_silent = true;
        const daisy_task_t *t = daisy_pipeline_task(daisy_graph_pipeline(self->graph), p->task);
        launcher_log(self, "job %ld (daisy-%s) has run %lld s and its worker never connected "
                     "to %s: see %s/%s/%s.err", p->job, p->wid,
                     (long long)(now - p->running_since) / 1000, self->endpoint, self->job_dir,
                     daisy_task_id(t), p->wid);
    }
}

//  Jobs, asked at most once a second (squeue is a round trip to the
//  controller): those that left the queue are workers gone; the others
//  are watched.
static void
reap_jobs(daisy_launcher_t *self)
{
    int64_t now = zclock_mono();
    if (!self->opt.slurm || self->nprocs == 0 || now - self->last_squeue < 1000)
        return;
    self->last_squeue = now;
    size_t n = self->nprocs;
    long *ids = malloc(n * sizeof *ids);
    slurm_status_t *st = malloc(n * sizeof *st);
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = self->procs[i].job;
    if (ids && st && slurm_status(ids, n, st) == 0)
        for (size_t i = n; i-- > 0;) {
            if (st[i].state != SLURM_GONE) {
                watch_job(self, &self->procs[i], &st[i], now);
                continue;
            }
            proc_t p = take_proc(self, i);
            on_exit_status(self, &p, -1);
        }
    free(ids);
    free(st);
}

//  Tell the broker, a few times a second, how many of each task's workers
//  wait in a queue and how many run but have not connected, for the
//  progress bars and the feed (a run at 0 % then says why).
#define LAUNCH_REPORT_MS 200

static void
report_launches(daisy_launcher_t *self, int64_t now)
{
    if (now - self->last_report < LAUNCH_REPORT_MS)
        return;
    self->last_report = now;
    uint32_t *counts = calloc(2 * (size_t)self->ntasks + 1, sizeof *counts);
    if (!counts)
        return;
    for (size_t i = 0; i < self->nprocs; i++) {
        proc_t *p = &self->procs[i];
        if (!p->connected && daisy_broker_has_worker(self->broker, p->wid))
            p->connected = true;
        if (!p->connected)
            counts[2 * p->task + (p->queued ? 0 : 1)]++;
    }
    for (uint32_t t = 0; t < self->ntasks; t++)
        daisy_broker_set_launches(self->broker, t, counts[2 * t], counts[2 * t + 1]);
    free(counts);
}

//  Start workers until the task has as many as it wants, or the budget is
//  spent (one attempt each: a start that fails counts as a death and is
//  tried again at the next poll, until the restart cap).
static void
fill(daisy_launcher_t *self, uint32_t t)
{
    ltask_t *lt = &self->tasks[t];
    for (uint32_t tries = lt->want > lt->running ? lt->want - lt->running : 0; tries > 0;
         tries--)
        if (!start_one(self, t) || abandon_if_capped(self, t))
            return;
}

void
daisy_launcher_poll(daisy_launcher_t *self)
{
    reap(self);
    reap_jobs(self);
    const daisy_scheduler_t *s = daisy_broker_scheduler(self->broker);
    for (uint32_t t = 0; t < self->ntasks; t++) {
        ltask_t *lt = &self->tasks[t];
        if (daisy_scheduler_task_done(s, t) || daisy_scheduler_abandoned(s, t))
            continue;
        if (!lt->started) {
            daisy_task_counts_t c;
            daisy_scheduler_counts(s, t, &c);
            if (c.ready == 0)
                continue;
            lt->started = true;
            lt->want = task_want(self, t);
        }
        fill(self, t);
    }
    report_launches(self, zclock_mono());
}

//  Every job still queued or running is cancelled: none outlives the run.
static void
cancel_jobs(daisy_launcher_t *self)
{
    size_t n = 0;
    long *ids = malloc((self->nprocs ? self->nprocs : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < self->nprocs; i++)
        if (self->procs[i].job > 0)
            ids[n++] = self->procs[i].job;
    slurm_cancel(ids, n);
    free(ids);
    for (size_t i = self->nprocs; i-- > 0;)
        if (self->procs[i].job > 0)
            take_proc(self, i);
}

void
daisy_launcher_signal(daisy_launcher_t *self, int sig)
{
    for (size_t i = 0; i < self->nprocs; i++)
        if (self->procs[i].job <= 0 && self->procs[i].pid > 0)
            signal_worker(self->procs[i].pid, sig);
}

//  Workers that are processes here (not SLURM jobs, which waitpid never
//  reports: squeue does, see reap_jobs).
static size_t
local_procs(const daisy_launcher_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nprocs; i++)
        n += self->procs[i].job <= 0;
    return n;
}

//  Reap the processes that exit within ms (1 ms steps); how many remain.
static size_t
reap_for(daisy_launcher_t *self, int ms)
{
    struct timespec step = {0, 1000 * 1000};
    for (int waited = 0; local_procs(self) > 0 && waited < ms; waited++) {
        int status;
        pid_t pid;
        if (reap_one(self, &pid, &status)) {
            for (size_t i = 0; i < self->nprocs; i++)
                if (self->procs[i].pid == pid) {
                    take_proc(self, i);
                    break;
                }
            continue;
        }
        nanosleep(&step, NULL);
    }
    return local_procs(self);
}

size_t
daisy_launcher_wait(daisy_launcher_t *self, int ms)
{
    return self ? reap_for(self, ms) : 0;
}

void
daisy_launcher_stop(daisy_launcher_t *self, int grace_ms)
{
    cancel_jobs(self);
    for (size_t i = 0; i < self->nprocs; i++)
        signal_worker(self->procs[i].pid, SIGTERM);
    reap_for(self, grace_ms);
    while (self->nprocs > 0) {
        proc_t p = take_proc(self, self->nprocs - 1);
        signal_worker(p.pid, SIGKILL);
        if (!self->opt.reap)     //  else the spawner's server reaps it
            waitpid(p.pid, NULL, 0);
    }
}

//  Life cycle ----------------------------------------------------------------

static int
split_hosts(daisy_launcher_t *self, const char *hosts)
{
    if (!hosts || !*hosts)
        return 0;
    char *copy = strdup(hosts);
    if (!copy)
        return -1;
    for (char *save = NULL, *h = strtok_r(copy, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
        char **more = realloc(self->hosts, (self->nhosts + 1) * sizeof *more);
        if (!more) {
            free(copy);
            return -1;
        }
        self->hosts = more;
        self->hosts[self->nhosts++] = strdup(h);
    }
    free(copy);
    return 0;
}

//  A task one worker of which could never fit the budget is refused now
//  rather than left waiting forever.
static int
check_budget(const budget_t *budget, const daisy_pipeline_t *p, daisy_error_t *err)
{
    for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
        const daisy_task_t *task = daisy_pipeline_task(p, t);
        if (budget_check(budget, daisy_task_id(task), daisy_task_resources(task), err))
            return -1;
    }
    return 0;
}

//  A template must run the worker somewhere: without {cmd} every worker
//  would start nothing and the run would stall with no word why.
static int
check_template(const char *t, daisy_error_t *err)
{
    if (t && !strstr(t, "{cmd}"))
        return daisy_error_set(err, "launch template '%s' has no {cmd} (the worker's command "
                               "line; also {host}, {task}, {worker_id})", t);
    return 0;
}

int
daisy_launcher_check(const daisy_launcher_options_t *options, const daisy_pipeline_t *pipeline,
                     daisy_error_t *err)
{
    if (check_template(options->launch_template, err) != 0)
        return -1;
    budget_t *budget = budget_new(options->resources, err);
    if (!budget)
        return -1;      //  the error names --resources and the part at fault
    int rc = check_budget(budget, pipeline, err);
    if (rc != 0)
        daisy_error_prefix(err, "budget '%s'", options->resources);
    budget_destroy(&budget);
    return rc;
}

//  Workers elsewhere are told the advertised endpoint; local ones may use
//  loopback when a wildcard bind has nothing routable to advertise.
static int
set_endpoint(daisy_launcher_t *self, daisy_error_t *err)
{
    const char *adv = daisy_broker_advertised(self->broker);
    const char *bound = daisy_broker_endpoint(self->broker);
    if (adv)
        self->endpoint = strdup(adv);
    else if (self->opt.launch_template || self->opt.slurm)
        return daisy_error_set(err, "the broker is bound to %s, a wildcard, and this host's "
                               "name resolves to no routable address: workers elsewhere would "
                               "not find it; pass --advertise tcp://ADDRESS:PORT with an "
                               "address they can reach", bound);
    else {
        const char *port = strrchr(bound, ':');
        self->endpoint = malloc(strlen(port ? port : "") + 32);
        if (self->endpoint)
            sprintf(self->endpoint, "tcp://127.0.0.1%s", port ? port : "");
    }
    return self->endpoint ? 0 : daisy_error_set(err, "out of memory");
}

//  Each run logs into its own folder, LOG_DIR/YYYYmmdd-HHMMSS-RUNID, so
//  that the messages of one run never mix with an earlier one's; the
//  folder and LOG_DIR/latest (a relative link to it) are made when the
//  first worker starts, so --print-job-script leaves nothing behind.
static int
run_log_dir(daisy_launcher_t *self)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime_r(&now, &tm));
    snprintf(self->run_name, sizeof self->run_name, "%s-%s", stamp,
             daisy_broker_run_id(self->broker));
    char *dir = malloc(strlen(self->log_dir) + sizeof self->run_name + 2);
    char *job = malloc(strlen(self->job_dir) + sizeof self->run_name + 2);
    if (!dir || !job) {
        free(dir);
        free(job);
        return -1;
    }
    sprintf(dir, "%s/%s", self->log_dir, self->run_name);
    sprintf(job, "%s/%s", self->job_dir, self->run_name);
    free(self->log_base);
    self->log_base = self->log_dir;
    self->log_dir = dir;
    free(self->job_dir);
    self->job_dir = job;
    daisy_broker_set_log_dir(self->broker, self->log_dir);
    return 0;
}

daisy_launcher_t *
daisy_launcher_new(daisy_broker_t *broker, const daisy_launcher_options_t *options,
                   daisy_error_t *err)
{
    daisy_launcher_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->broker = broker;
    self->graph = daisy_scheduler_graph(daisy_broker_scheduler(broker));
    if (options)
        self->opt = *options;
    self->ntasks = daisy_graph_task_count(self->graph);
    self->tasks = calloc(self->ntasks ? self->ntasks : 1, sizeof *self->tasks);
    self->worker_program = self->opt.worker_program ? strdup(self->opt.worker_program)
                                                    : find_worker_program();
    self->log_dir = strdup(self->opt.log_dir ? self->opt.log_dir : "daisy_logs");
    if (!self->tasks || !self->worker_program || !self->log_dir
        || split_hosts(self, self->opt.hosts) != 0) {
        daisy_error_set(err, "out of memory");
        daisy_launcher_destroy(&self);
        return NULL;
    }
    if (fsutil_mkdirs(self->log_dir) != 0) {
        daisy_error_set(err, "cannot create log directory '%s': %s", self->log_dir,
                        strerror(errno));
        daisy_launcher_destroy(&self);
        return NULL;
    }
    //  Job scripts name the logs by absolute path: a job may start in
    //  another directory, or on another node of a shared file system.
    self->job_dir = realpath(self->log_dir, NULL);
    if (!self->job_dir || run_log_dir(self) != 0 || daisy_launcher_check(&self->opt, daisy_graph_pipeline(self->graph),
                                               err) != 0
        || set_endpoint(self, err) != 0
        || !(self->budget = budget_new(self->opt.resources, err))) {
        if (!self->job_dir)
            daisy_error_set(err, "log directory '%s': %s", self->log_dir, strerror(errno));
        daisy_launcher_destroy(&self);
        return NULL;
    }
    snprintf(self->give_up, sizeof self->give_up, "%g",
             self->opt.give_up_s > 0 ? self->opt.give_up_s : 60.0);
    return self;
}

void
daisy_launcher_destroy(daisy_launcher_t **self_p)
{
    daisy_launcher_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->nprocs)
        daisy_launcher_stop(self, 2000);
    for (size_t i = 0; i < self->nhosts; i++)
        free(self->hosts[i]);
    free(self->hosts);
    free(self->worker_program);
    free(self->endpoint);
    budget_destroy(&self->budget);
    free(self->job_dir);
    free(self->log_dir);
    free(self->log_base);
    free(self->tasks);
    free(self->procs);
    free(self);
    *self_p = NULL;
}

int
daisy_launcher_job_script(daisy_launcher_t *self, uint32_t task, char *out, size_t size)
{
    if (task >= self->ntasks)
        return -1;
    const daisy_task_t *t = daisy_pipeline_task(daisy_graph_pipeline(self->graph), task);
    char wid[200], name[220], log[PATH_MAX + 220], err[PATH_MAX + 220];
    snprintf(wid, sizeof wid, "%s-0", daisy_task_id(t));
    snprintf(name, sizeof name, "daisy-%s", wid);
    worker_file(log, sizeof log, self->job_dir, daisy_task_id(t), wid, "out");
    worker_file(err, sizeof err, self->job_dir, daisy_task_id(t), wid, "err");
    bool slurm = self->opt.slurm;
    self->opt.slurm = true;     //  the readable command line
    worker_command(self, t, self->endpoint, wid, self->cmd, sizeof self->cmd);
    self->opt.slurm = slurm;
    char directives[8192];
    job_directives(self, t, directives, sizeof directives);
    slurm_job_t job = {name, log, err, directives, self->cmd};
    return slurm_script(&job, out, size);
}

uint32_t
daisy_launcher_running(const daisy_launcher_t *self, uint32_t task)
{
    return task < self->ntasks ? self->tasks[task].running : 0;
}

uint32_t
daisy_launcher_deaths(const daisy_launcher_t *self, uint32_t task)
{
    return task < self->ntasks ? self->tasks[task].deaths : 0;
}

const char *
daisy_launcher_log_dir(const daisy_launcher_t *self)
{
    return self->log_dir;
}
