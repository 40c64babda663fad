/*  blockwise.c - daisy_run_blockwise(): broker here, workers forked

    The workers run the task's process function in the worker loop. They
    are forked by a fork server (forkserver.c) that is itself forked at
    the start of the call, before the broker exists: a process with
    libzmq's threads must not fork workers that go on to allocate and lock
    (POSIX allows such a child only async-signal-safe calls), so every
    worker starts from the caller's single-threaded image instead. The
    worker loop uses its own libzmq context and leaves with _exit(), so no
    atexit handler of the caller runs in a worker.

    Broker and workers talk over a Unix socket in a directory of the
    run's own (the broker's private ipc endpoint: mode 0700, under $TMPDIR or /tmp,
    removed with the broker), not TCP on loopback: every worker is local, a Unix socket costs the broker
    about a third less CPU per block than loopback TCP (bench_broker
    lockstep_2: 26-29 against 35-45 us), and no other user of the machine
    can connect to it (any local user can reach 127.0.0.1).

    Workers ignore SIGINT (inherited from the server): a Ctrl-C on the
    terminal reaches the whole process group, and it is the broker that
    drains the blocks in flight and then tells the workers to stop
    (daisy_serve_interruptible catches SIGINT and SIGTERM while the call
    runs and gives the caller's handlers back).
*/
#include "daisy/blockwise.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daisy/worker.h"
#include "forkserver.h"

typedef struct {
    const daisy_pipeline_t *pipeline;
    uint32_t prefetch;
} forker_t;

//  The process function as the task defined it, seeing the block with its
//  task's position in the pipeline (the wire carries only the task id).
typedef struct {
    uint32_t task;
    daisy_process_fn *fn;
    void *arg;
} adapter_t;

typedef struct {
    uint32_t task;
    daisy_check_fn *fn;
    void *arg;
} check_adapter_t;

static int
adapt(const daisy_block_t *block, void *arg)
{
    const adapter_t *a = arg;
    daisy_block_t b = *block;
    b.task = a->task;
    return a->fn(&b, a->arg);
}

//  The task's completion check, run by the worker before processing.
static bool
adapt_check(const daisy_block_t *block, void *arg)
{
    const check_adapter_t *a = arg;
    daisy_block_t b = *block;
    b.task = a->task;
    return a->fn(&b, a->arg);
}

static void
run_child(void *arg, uint32_t task, const char *endpoint, const char *worker_id,
          const char *run_id)
{
    const forker_t *f = arg;
    signal(SIGTERM, SIG_DFL);
    const daisy_task_t *t = daisy_pipeline_task(f->pipeline, task);
    adapter_t adapter = {.task = task};
    adapter.fn = daisy_task_process(t, &adapter.arg);
    check_adapter_t check = {.task = task};
    check.fn = daisy_task_check(t, &check.arg);
    daisy_worker_options_t opt = daisy_worker_options_default();
    opt.endpoint = endpoint;
    opt.task_id = daisy_task_id(t);
    opt.worker_id = worker_id;
    opt.run_id = run_id;
    opt.prefetch = f->prefetch ? f->prefetch : 1;
    opt.give_up_ms = 60000;
    daisy_error_t err;
    daisy_worker_t *w = daisy_worker_new(&opt, &err);
    if (w && check.fn)
        daisy_worker_set_check(w, adapt_check, &check);
    int rc = w ? daisy_worker_run(w, adapt, &adapter, &err) : -1;
    if (rc < 0)
        fprintf(stderr, "worker %s: %s\n", worker_id, err.msg);
    daisy_worker_destroy(&w);
    fflush(NULL);
    _exit(rc < 0 ? 1 : 0);
}

daisy_summary_t *
daisy_run_blockwise(const daisy_pipeline_t *pipeline, const daisy_blockwise_options_t *options,
                    daisy_error_t *err)
{
    for (size_t t = 0; t < daisy_pipeline_size(pipeline); t++) {
        void *arg;
        const daisy_task_t *task = daisy_pipeline_task(pipeline, t);
        if (!daisy_task_process(task, &arg)) {
            daisy_error_set(err, "task '%s': run_blockwise needs a process function",
                            daisy_task_id(task));
            return NULL;
        }
    }
    daisy_blockwise_options_t o = options ? *options : (daisy_blockwise_options_t){0};
    daisy_graph_t *graph = daisy_graph_new(pipeline, err);
    if (!graph)
        return NULL;
    //  First, while this process has no thread of ours yet.
    forker_t forker = {pipeline, o.prefetch};
    forkserver_t *server = forkserver_new(run_child, &forker, err);
    if (!server) {
        daisy_graph_destroy(&graph);
        return NULL;
    }
    daisy_broker_options_t bo = daisy_broker_options_default();
    bo.bind = "ipc://*";        //  a private Unix socket (daisy/broker.h)
    bo.log_dir = o.log_dir ? o.log_dir : "daisy_logs";
    bo.markers_dir = o.markers_dir;
    bo.reset_markers = o.reset_markers;
    bo.publish = o.publish;
    daisy_launcher_options_t lo = {.log_dir = bo.log_dir, .restart_cap = o.restart_cap,
                                   .spawn = forkserver_spawn, .spawn_arg = server,
                                   .reap = forkserver_reap};
    daisy_broker_t *broker = daisy_broker_new(graph, &bo, err);
    daisy_launcher_t *launcher = broker ? daisy_launcher_new(broker, &lo, err) : NULL;
    daisy_summary_t *summary = NULL;
    if (launcher) {
        daisy_serve_interruptible(broker, launcher, o.progress, o.progress_arg);
        summary = daisy_summary_dup(daisy_broker_summary(broker));
        if (!summary)
            daisy_error_set(err, "out of memory");
    }
    daisy_launcher_destroy(&launcher);
    forkserver_destroy(&server);
    daisy_broker_destroy(&broker);      //  and with it the socket's directory
    daisy_graph_destroy(&graph);
    return summary;
}
