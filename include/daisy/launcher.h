/*  daisy/launcher.h - starts, watches and restarts a broker's workers

    For each task that has blocks ready, the launcher starts the task's
    `workers` processes: `daisy-worker --exec COMMAND` for a task with a
    `command`, the task's own `worker` program otherwise (with DAISY_BROKER,
    DAISY_TASK_ID and DAISY_WORKER_ID in its environment), or whatever a
    spawn function starts (the run-blockwise entry point forks workers
    running a C function). Through a template such as `ssh {host} {cmd}` or
    `srun -N1 -n1 {cmd}` the workers start elsewhere.

    Each worker writes LOG_DIR/TASK/WORKER_ID.out and .err. A worker that
    dies while its task has work left is reported to the broker (its blocks
    go back at once) and replaced, until the task's workers died
    `restart_cap` times: then the task is abandoned and what is left of it
    orphaned, instead of restarting a broken worker forever. Workers that
    exit with status 0 after their task is done are not replaced.
*/
#ifndef DAISY_LAUNCHER_H
#define DAISY_LAUNCHER_H

//  A runtime-layer header: not for core, zarr, protocol, broker or worker code (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_GRAPHDB) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER) \
    || defined(DAISY_LAYER_WORKER)
#error "daisy/launcher.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <sys/types.h>

#include "daisy/broker.h"
#include "daisy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Start one worker for `task` connecting to `endpoint` under `worker_id`
//  for the broker run `run_id` (daisy_worker_options_t.run_id), with
//  stdout/stderr on the given descriptors. Returns its pid, or -1.
typedef pid_t (daisy_spawn_fn)(void *arg, uint32_t task, const char *endpoint,
                               const char *worker_id, const char *run_id,
                               int out_fd, int err_fd);

//  A worker started by a spawn function ended: 1 with its pid and wait
//  status, 0 when none has (never blocks). For spawn functions whose
//  workers are not children of this process.
typedef int (daisy_reap_fn)(void *arg, pid_t *pid, int *status);

typedef struct {
    //  NULL: start workers as local processes. Otherwise a shell command
    //  with {cmd} (the worker's command line; for tasks with a command it
    //  holds no shell metacharacter, its arguments travel hex-encoded, so
    //  ssh and srun see the same; a template without it is refused) and
    //  optionally {host} (taken in turn from `hosts`), {task} and
    //  {worker_id}. Workers are told daisy_broker_advertised(); a broker
    //  bound to a wildcard with no routable address is refused.
    const char *launch_template;
    const char *hosts;            //  comma-separated, for {host}
    //  Program for tasks with a `command` (default: daisy-worker beside
    //  this executable, else on PATH).
    const char *worker_program;
    const char *log_dir;          //  default "daisy_logs"
    //  Worker deaths per task before it is abandoned (0: 3 x workers).
    uint32_t restart_cap;
    uint32_t prefetch;            //  prefetch window of --exec workers (default 1)
    //  Start each worker as a SLURM batch job (sbatch --parsable; job name
    //  daisy-TASK-N, its script LOG_DIR/TASK/WORKER.sbatch) instead of a
    //  process; jobs are watched with squeue and cancelled when the run
    //  ends, is interrupted or the task abandoned. A job that leaves the
    //  queue is a worker lost (its running block charged unless it said
    //  goodbye, as a preempted worker does).
    bool slurm;
    //  The run's budget, e.g. "cpu=16,gpu=4" (NULL: none). Each worker takes
    //  its task's resources.cpus (1 when unset) and resources.gpus until it
    //  ends, so a task runs min(workers, what is left) workers; local
    //  workers get their GPU ids in CUDA_VISIBLE_DEVICES. A task that
    //  could never fit is refused by daisy_launcher_new().
    const char *resources;
    //  A running job whose worker has not said HELLO after this many
    //  seconds is reported through `log` (default 60); so is a job pending
    //  in the queue for 10 s, with SLURM's reason.
    double connect_timeout_s;
    //  Lines worth telling the operator; NULL: dropped.
    void (*log)(void *arg, const char *line);
    void *log_arg;
    //  Extra sbatch options, one #SBATCH line each (e.g. "--partition=gpu
    //  --time=2:00:00"), or NULL.
    const char *sbatch_options;
    //  Workers give up after this many seconds without reaching the
    //  broker (default 60): how long jobs of a killed broker linger.
    double give_up_s;
    daisy_spawn_fn *spawn;        //  replaces the above for every task
    void *spawn_arg;
    daisy_reap_fn *reap;          //  with spawn: how its workers' ends are
                                  //  learnt (NULL: waitpid, they are children)
} daisy_launcher_options_t;

typedef struct _daisy_launcher_t daisy_launcher_t;

//  The options' own faults, found before anything starts: a template
//  without {cmd}, a malformed budget, a task one worker of which could
//  never fit the budget. -1 with a message naming the option, task and
//  figures; daisy_launcher_new() refuses the same.
DAISY_EXPORT int daisy_launcher_check(const daisy_launcher_options_t *options,
                                      const daisy_pipeline_t *pipeline, daisy_error_t *err);
DAISY_EXPORT daisy_launcher_t *daisy_launcher_new(daisy_broker_t *broker,
                                                  const daisy_launcher_options_t *options,
                                                  daisy_error_t *err);
//  Stops remaining workers (see daisy_launcher_stop) and frees.
DAISY_EXPORT void daisy_launcher_destroy(daisy_launcher_t **self_p);

//  Start workers of tasks that have work, reap the ones that exited,
//  report deaths, replace or abandon. Call it after each broker poll.
DAISY_EXPORT void daisy_launcher_poll(daisy_launcher_t *self);
//  Wait up to ms for the worker processes to exit on their own (the
//  broker tells them SHUTDOWN when their task is done), reaping them;
//  returns how many still run. A worker's own ending (its program's
//  clean-up, its output flushed) is then not cut short by
//  daisy_launcher_stop's signals. SLURM jobs are not waited for here.
DAISY_EXPORT size_t daisy_launcher_wait(daisy_launcher_t *self, int ms);
//  SIGTERM every worker still running, wait up to grace_ms for them, then
//  SIGKILL the rest.
DAISY_EXPORT void daisy_launcher_stop(daisy_launcher_t *self, int grace_ms);
//  Send `sig` to every worker started on this host, and to what it
//  started (its process group when it leads one); jobs of a batch system
//  are not signalled. daisy_serve_interruptible() passes on Ctrl-Z
//  (SIGTSTP) and fg (SIGCONT) this way: the workers are in groups of
//  their own, out of the terminal's reach.
DAISY_EXPORT void daisy_launcher_signal(daisy_launcher_t *self, int sig);

//  The batch script a task's first worker would be submitted with (for
//  `daisy-broker --print-job-script`); -1 when the task is unknown or the
//  script does not fit.
DAISY_EXPORT int daisy_launcher_job_script(daisy_launcher_t *self, uint32_t task, char *out,
                                           size_t size);

//  Called by daisy_serve() at most every 100 ms, e.g. to show progress.
typedef void (daisy_serve_fn)(void *arg, daisy_broker_t *broker);

//  Poll the broker and the launcher (which may be NULL: external workers
//  only) until every task is done or daisy_broker_stop() is called (the
//  first call drains the blocks in flight, up to 10 s; a second ends the
//  wait); then finish
//  the broker (workers are told to exit, the summary is published) and
//  stop the launcher's workers. Returns 0 when every block completed, 1
//  when blocks failed or were orphaned, 2 when interrupted.
DAISY_EXPORT int daisy_serve(daisy_broker_t *broker, daisy_launcher_t *launcher,
                             daisy_serve_fn *progress, void *arg);
//  daisy_serve() with SIGINT and SIGTERM calling daisy_broker_stop() for
//  the length of the call (Ctrl-C drains, a second one stops), and SIGTSTP
//  (Ctrl-Z) stopping the launcher's workers and then this process, until
//  SIGCONT (fg) continues them all; the caller's handlers are put back
//  before it returns. One at a time per
//  process: signal handlers are process-wide.
DAISY_EXPORT int daisy_serve_interruptible(daisy_broker_t *broker, daisy_launcher_t *launcher,
                                           daisy_serve_fn *progress, void *arg);

DAISY_EXPORT uint32_t daisy_launcher_running(const daisy_launcher_t *self, uint32_t task);
DAISY_EXPORT uint32_t daisy_launcher_deaths(const daisy_launcher_t *self, uint32_t task);
DAISY_EXPORT const char *daisy_launcher_log_dir(const daisy_launcher_t *self);

#ifdef __cplusplus
}
#endif
#endif
