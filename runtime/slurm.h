/*  slurm.h - workers as SLURM batch jobs: scripts, sbatch, squeue, scancel

    The launcher's SLURM back-end. A worker is one batch job running one
    `daisy-worker` (sbatch --parsable, job name daisy-TASK-N); the job's
    output goes to the worker's log files. Jobs are watched with squeue and
    ended with scancel, so a submitter returning at once is not a death: a
    worker is lost when its job leaves the queue, or its heartbeats stop.
    Internal to libdaisy.
*/
#ifndef DAISY_SLURM_H
#define DAISY_SLURM_H

#include <stdbool.h>
#include <stddef.h>

#include "daisy/error.h"

typedef struct {
    const char *job_name;       //  daisy-TASK-N
    const char *out_path;       //  the worker's .out and .err logs
    const char *err_path;
    const char *directives;     //  extra #SBATCH lines' options, space-separated, or NULL
    const char *command;        //  the worker's command line, shell-quoted
} slurm_job_t;

//  The batch script for one worker, into out (NUL-terminated); -1 when it
//  does not fit.
int slurm_script(const slurm_job_t *job, char *out, size_t size);
//  Submit a script file; the job id, or -1 with sbatch's message.
long slurm_submit(const char *script_path, daisy_error_t *err);
//  Where a job is: gone (ended, or unknown), pending in the queue (with
//  the reason SLURM gives), or running.
typedef enum { SLURM_GONE, SLURM_PENDING, SLURM_RUNNING } slurm_state_t;

typedef struct {
    slurm_state_t state;
    char reason[64];            //  pending: e.g. "Resources", "Priority"
} slurm_status_t;

//  The status of each job, out[i] for ids[i]; -1 when squeue could not
//  answer (then nothing is known).
int slurm_status(const long *ids, size_t n, slurm_status_t *out);
//  Cancel the jobs (scancel: SIGTERM to their processes, SIGKILL after
//  the cluster's KillWait; pending jobs just leave the queue).
void slurm_cancel(const long *ids, size_t n);

#endif
