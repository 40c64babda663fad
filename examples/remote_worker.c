/*  remote_worker.c - a C worker program for any host

    Start a broker somewhere (daisy-broker pipeline.json --bind
    tcp://0.0.0.0:5555), then on each compute host:

        remote_worker tcp://broker-host:5555 smooth

    (or with DAISY_BROKER and DAISY_TASK_ID in the environment, as
    `daisy run` and `daisy-broker --local` set them for a task's `worker`
    program). The process function here only prints the block; a real one
    reads the block's read ROI and writes its write ROI.
*/
#include <signal.h>
#include <stdio.h>

#include "daisy/daisy.h"

static daisy_worker_t *worker;

static int
process_block(const daisy_block_t *block, void *arg)
{
    (void)arg;
    char read[256], write[256];
    daisy_roi_format(&block->read_roi, read, sizeof read);
    daisy_roi_format(&block->write_roi, write, sizeof write);
    printf("%s block %llu (attempt %u): read %s, write %s\n", block->task_id,
           (unsigned long long)block->block_id, block->attempt, read, write);
    return 0;
}

static void
on_signal(int sig)
{
    (void)sig;
    daisy_worker_stop(worker);   //  finish the block in progress, then leave
}

int
main(int argc, char **argv)
{
    daisy_worker_options_t opt = daisy_worker_options_default();
    if (argc > 1)
        opt.endpoint = argv[1];
    if (argc > 2)
        opt.task_id = argv[2];
    if (!opt.endpoint || !opt.task_id) {
        fprintf(stderr, "usage: remote_worker [ENDPOINT TASK] (or DAISY_BROKER, DAISY_TASK_ID)\n");
        return 2;
    }
    daisy_error_t err;
    worker = daisy_worker_new(&opt, &err);
    if (!worker) {
        fprintf(stderr, "remote_worker: %s\n", err.msg);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = daisy_worker_run(worker, process_block, NULL, &err);
    if (rc < 0)
        fprintf(stderr, "remote_worker: %s\n", err.msg);
    printf("processed %llu blocks\n", (unsigned long long)daisy_worker_processed(worker));
    daisy_worker_destroy(&worker);
    return rc < 0 ? 1 : 0;
}
