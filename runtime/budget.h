/*  budget.h - a run-wide budget of CPUs and GPUs shared by the tasks

    `--resources cpu=16,gpu=4`: every worker started takes its task's
    requirement (resources.cpus, default 1 while a CPU budget is set;
    resources.gpus, default 0) until it ends, so a task runs as many
    workers as the smaller of its `workers` and what the budget has left.
    GPUs are numbered 0..N-1 and handed out as device ids, so that local
    workers get distinct CUDA_VISIBLE_DEVICES. Internal to libdaisy.
*/
#ifndef DAISY_BUDGET_H
#define DAISY_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include "daisy/error.h"
#include "daisy/task.h"

typedef struct budget budget_t;

//  NULL spec or "": no budget (everything fits). NULL with a message on a
//  malformed spec.
budget_t *budget_new(const char *spec, daisy_error_t *err);
void budget_destroy(budget_t **self_p);
//  -1 with a message when one worker of the task can never fit.
int budget_check(const budget_t *self, const char *task_id, const daisy_resources_t *r,
                 daisy_error_t *err);
//  Take one worker's share now if it fits, writing its GPU ids ("0,3", or
//  "") into gpus; false when it does not fit yet.
bool budget_take(budget_t *self, const daisy_resources_t *r, char *gpus, size_t size);
//  Give a worker's share back (gpus as budget_take wrote them).
void budget_give(budget_t *self, const daisy_resources_t *r, const char *gpus);

#endif
