/*  serial.c - the serial runner

    Sweeps the tasks, downstream first, each time running the blocks that
    are ready (a bounded number per task and turn), until the scheduler has
    nothing ready anywhere. Blocks released by a sweep are picked up by the
    next one, so blocks run in dependency order without the runner knowing
    the graph, and soon after they became ready, which keeps the frontier
    small. When nothing is
    ready and the run is not done, the scheduler has lost a block: that is
    reported as an error rather than a silent partial result.

    A caller's stop flag (a signal) ends the run after the block at hand,
    which is given back unless it completed: what a Ctrl-C interrupted is
    not a failure, and a resumed run does it.
*/
#include "daisy/serial.h"

#include "daisy/block_exec.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const daisy_task_t *task;
    daisy_process_fn *process;
    void *process_arg;
    const char *command;
    int out_fd, err_fd;
    char log[1024];
    volatile pid_t *group;      //  the options' (NULL: the caller's group)
    uint32_t timeout_ms;        //  the task's timeout (0: none)
    daisy_block_ref_t checked;  //  the block its check command last ran for
    int64_t checked_at;         //  when (daisy_exec_clock_ms), or 0
} runner_task_t;

//  How a command of rt runs: its logs, group and timeout.
static daisy_exec_env_t
exec_env(const runner_task_t *rt, char *tail, size_t tail_size)
{
    return (daisy_exec_env_t){.worker_id = "serial", .out_fd = rt->out_fd, .err_fd = rt->err_fd,
                               .group = rt->group, .tail = tail, .tail_size = tail_size,
                               .timeout_ms = rt->timeout_ms};
}

static bool
stopped(const daisy_serial_options_t *opt)
{
    return opt && opt->stop && *opt->stop;
}

static int
open_logs(runner_task_t *rt, const char *dir, daisy_error_t *err)
{
    rt->out_fd = rt->err_fd = -1;
    rt->log[0] = '\0';
    if (!dir || !rt->command)
        return 0;
    if (fsutil_mkdirs(dir) != 0)
        return daisy_error_set(err, "cannot create log directory '%s': %s", dir, strerror(errno));
    char path[1100], name[256];
    daisy_file_name(daisy_task_id(rt->task), name, sizeof name);
    snprintf(rt->log, sizeof rt->log, "%s/%s", dir, name);
    snprintf(path, sizeof path, "%s.out", rt->log);
    rt->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    snprintf(path, sizeof path, "%s.err", rt->log);
    rt->err_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (rt->out_fd < 0 || rt->err_fd < 0)
        return daisy_error_set(err, "cannot open log '%s': %s", path, strerror(errno));
    strncat(rt->log, ".err / .out", sizeof rt->log - strlen(rt->log) - 1);
    return 0;
}

static int
setup_tasks(const daisy_pipeline_t *p, runner_task_t *rts, const daisy_serial_options_t *opt,
            daisy_error_t *err)
{
    for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
        runner_task_t *rt = &rts[t];
        rt->task = daisy_pipeline_task(p, t);
        rt->process = daisy_task_process(rt->task, &rt->process_arg);
        rt->command = daisy_task_command(rt->task);
        rt->out_fd = rt->err_fd = -1;
        rt->group = opt ? opt->group : NULL;
        rt->timeout_ms = daisy_task_timeout_ms(rt->task);
        if (!rt->process && !rt->command)
            return daisy_error_set(err, "task '%s': the serial runner needs a process "
                                   "function or a command", daisy_task_id(rt->task));
        if (open_logs(rt, opt ? opt->log_dir : NULL, err) != 0)
            return -1;
    }
    return 0;
}

//  A task's check command, run like its command: exit status 0 means the
//  block is done already.
static bool
check_command(const daisy_block_t *block, void *arg)
{
    runner_task_t *rt = arg;
    daisy_exec_env_t env = exec_env(rt, NULL, 0);
    rt->checked = (daisy_block_ref_t){block->task, block->index};
    rt->checked_at = daisy_exec_clock_ms();
    int status;
    return daisy_block_exec(daisy_task_check_command(rt->task), block, &env, &status, NULL) == 0
        && status == 0;
}

//  Checks given as commands run through the scheduler here (there is no
//  worker); C check functions are the scheduler's already.
static void
set_check_commands(daisy_scheduler_t *s, runner_task_t *rts, uint32_t ntasks)
{
    for (uint32_t t = 0; t < ntasks; t++) {
        void *arg;
        if (daisy_task_check_command(rts[t].task) && !daisy_task_check(rts[t].task, &arg))
            daisy_scheduler_set_check(s, t, check_command, &rts[t]);
    }
}

//  Run one block; 0 on success, else a short error text in `why`.
static int
run_block(const runner_task_t *rt, const daisy_block_t *block, char *why, size_t len)
{
    if (rt->process) {
        daisy_block_t lent = *block;    //  with room for daisy_block_set_error()
        lent.error = why;
        lent.error_size = len;
        why[0] = '\0';
        int rc = rt->process(&lent, rt->process_arg);
        if (rc != 0 && !why[0])
            snprintf(why, len, "process function returned %d", rc);
        return rc;
    }
    char tail[256];
    daisy_exec_env_t env = exec_env(rt, tail, sizeof tail);
    //  After its check, the command has what is left of the block's timeout.
    if (rt->checked_at && rt->checked.task == block->task && rt->checked.index == block->index)
        env.since_ms = rt->checked_at;
    daisy_error_t err;
    int status;
    if (daisy_block_exec(rt->command, block, &env, &status, &err) != 0) {
        snprintf(why, len, "%s", err.msg);
        return -1;
    }
    if (status != 0)
        snprintf(why, len, "command exited with status %d%s%s", status, *tail ? ": " : "", tail);
    return status;
}

#define SWEEP_LIMIT 1024

//  Run up to SWEEP_LIMIT ready blocks of one task; how many ran, or -1.
static long
sweep_task(daisy_scheduler_t *s, daisy_summary_t *summary, const runner_task_t *rt,
           uint32_t t, const daisy_serial_options_t *opt, daisy_error_t *err)
{
    long ran = 0;
    daisy_block_t block;
    int got = 0;
    while (ran < SWEEP_LIMIT && (got = daisy_scheduler_acquire(s, t, &block)) == 1) {
        char why[512] = "";
        //  Stopped during the check (in acquire) or the command: the
        //  signal's doing, not the block's.
        bool ok = !stopped(opt) && run_block(rt, &block, why, sizeof why) == 0;
        daisy_block_ref_t ref = {block.task, block.index};
        if (!ok && stopped(opt)) {
            if (daisy_scheduler_give_back(s, ref, err) != 0)
                return -1;
            break;
        }
        int outcome = daisy_scheduler_release(s, ref, ok, err);
        if (outcome < 0)
            return -1;
        if (outcome == DAISY_RELEASE_FAILED)
            daisy_summary_add_failure(summary, t, block.block_id, block.attempt, why,
                                      "serial", rt->log);
        if (opt && opt->progress)
            opt->progress(opt->progress_arg, s, t);
        ran++;
        if (stopped(opt))
            break;
    }
    return got < 0 ? daisy_error_set(err, "out of memory") : ran;
}

static int
run_all(daisy_scheduler_t *s, daisy_summary_t *summary, const runner_task_t *rts,
        uint32_t ntasks, const daisy_serial_options_t *opt, daisy_error_t *err)
{
    while (!daisy_scheduler_done(s) && !stopped(opt)) {
        long ran = 0;
        //  Downstream tasks first, a bounded number of blocks per task and
        //  turn: blocks are consumed soon after they become ready, which
        //  keeps the resolver's frontier (and memory) small.
        for (uint32_t i = ntasks; i-- > 0;) {
            uint32_t t = i;
            long n = sweep_task(s, summary, &rts[t], t, opt, err);
            if (n < 0)
                return -1;
            ran += n;
            if (stopped(opt))
                return 0;
        }
        //  Skipped blocks release others without running: check again
        //  before calling it a stall.
        if (ran == 0 && !daisy_scheduler_done(s)) {
            bool any_ready = false;
            for (uint32_t t = 0; t < ntasks; t++) {
                daisy_task_counts_t c;
                daisy_scheduler_counts(s, t, &c);
                any_ready |= c.ready > 0;
            }
            if (!any_ready)
                return daisy_error_set(err, "internal error: no block is ready "
                                       "but the run is not done");
        }
    }
    return 0;
}

//  Per-task markers when asked for; NULL without (or on error, with a
//  message).
static daisy_markers_t **
open_markers(const daisy_graph_t *graph, const daisy_serial_options_t *opt, daisy_error_t *err)
{
    if (!opt || !opt->markers_dir)
        return NULL;
    uint32_t n = daisy_graph_task_count(graph);
    daisy_markers_t **markers = calloc(n ? n : 1, sizeof *markers);
    for (uint32_t t = 0; markers && t < n; t++)
        if (!(markers[t] = daisy_markers_open(opt->markers_dir, graph, t, opt->reset_markers,
                                              err))) {
            while (t-- > 0)
                daisy_markers_close(&markers[t]);
            free(markers);
            return NULL;
        }
    return markers;
}

daisy_summary_t *
daisy_run_serial(const daisy_pipeline_t *pipeline, const daisy_serial_options_t *options,
                 daisy_error_t *err)
{
    daisy_graph_t *graph = daisy_graph_new(pipeline, err);
    if (!graph)
        return NULL;
    uint32_t ntasks = daisy_graph_task_count(graph);
    runner_task_t *rts = calloc(ntasks ? ntasks : 1, sizeof *rts);
    daisy_markers_t **markers = open_markers(graph, options, err);
    bool markers_ok = markers || !options || !options->markers_dir;
    daisy_scheduler_t *s = markers_ok ? daisy_scheduler_new_resumed(graph, markers, err) : NULL;
    daisy_summary_t *summary = daisy_summary_new(graph);
    int rc = !markers_ok ? -1 : rts && s && summary ? 0 : daisy_error_set(err, "out of memory");
    if (rc == 0)
        rc = setup_tasks(pipeline, rts, options, err);
    if (rc == 0)
        set_check_commands(s, rts, ntasks);
    if (rc == 0)
        rc = run_all(s, summary, rts, ntasks, options, err);
    if (rc == 0)
        daisy_summary_update(summary, s);
    for (uint32_t t = 0; rts && t < ntasks; t++) {
        if (rts[t].out_fd >= 0)
            close(rts[t].out_fd);
        if (rts[t].err_fd >= 0)
            close(rts[t].err_fd);
    }
    free(rts);
    daisy_scheduler_destroy(&s);
    for (uint32_t t = 0; markers && t < ntasks; t++)
        daisy_markers_close(&markers[t]);
    free(markers);
    if (rc != 0)
        daisy_summary_destroy(&summary);
    daisy_graph_destroy(&graph);
    return summary;
}
