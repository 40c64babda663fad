/*  budget.c - a run-wide budget of CPUs and GPUs shared by the tasks

    Plain counters and a bitmap of free GPUs: a run has tens of workers at
    most per host, and a budget is consulted only when a worker starts or
    ends. A budget without a key (no "gpu=") does not limit that resource.
*/
#include "budget.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GPUS 64

struct budget {
    long cpus, gpus;            //  totals, -1: not limited
    long cpus_used;
    bool gpu_used[MAX_GPUS];
};

static int
parse_entry(budget_t *self, const char *key, size_t klen, const char *val, daisy_error_t *err)
{
    //  Digits only: strtol would take " 5" and "+5", and saturate
    //  99999999999999999999 into a budget no one asked for.
    char *end;
    errno = 0;
    long n = *val >= '0' && *val <= '9' ? strtol(val, &end, 10) : -1;
    if (n >= 0 && errno == ERANGE)
        return daisy_error_set(err, "--resources: %.*s=%.*s is more than any machine has",
                               (int)klen, key, (int)strcspn(val, ","), val);
    if (n < 0 || errno || (*end && *end != ','))
        return daisy_error_set(err, "--resources: '%.*s' needs a count >= 0, got '%.*s'",
                               (int)klen, key, (int)strcspn(val, ","), val);
    bool cpu = (klen == 3 && !strncmp(key, "cpu", 3)) || (klen == 4 && !strncmp(key, "cpus", 4));
    bool gpu = (klen == 3 && !strncmp(key, "gpu", 3)) || (klen == 4 && !strncmp(key, "gpus", 4));
    if (!cpu && !gpu)
        return daisy_error_set(err, "--resources: unknown resource '%.*s' (cpu, gpu)",
                               (int)klen, key);
    if ((cpu ? self->cpus : self->gpus) >= 0)    //  which of two would hold?
        return daisy_error_set(err, "--resources: %s given twice", cpu ? "cpu" : "gpu");
    if (gpu && n > MAX_GPUS)
        return daisy_error_set(err, "--resources: gpu=%ld, at most %d", n, MAX_GPUS);
    *(cpu ? &self->cpus : &self->gpus) = n;
    return 0;
}

budget_t *
budget_new(const char *spec, daisy_error_t *err)
{
    budget_t *self = calloc(1, sizeof *self);
    if (!self) {
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    self->cpus = self->gpus = -1;
    for (const char *p = spec; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        const char *eq = strchr(p, '=');
        size_t klen = strcspn(p, "=,");
        if (!eq || eq != p + klen || parse_entry(self, p, klen, eq + 1, err) != 0) {
            if (!eq || eq != p + klen)
                daisy_error_set(err, "--resources: expected NAME=COUNT, got '%.*s'",
                                (int)strcspn(p, ","), p);
            free(self);
            return NULL;
        }
    }
    return self;
}

void
budget_destroy(budget_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

static long
need_cpus(const budget_t *self, const daisy_resources_t *r)
{
    return self->cpus < 0 ? 0 : r->cpus ? (long)r->cpus : 1;
}

static long
need_gpus(const budget_t *self, const daisy_resources_t *r)
{
    return self->gpus < 0 ? 0 : (long)r->gpus;
}

int
budget_check(const budget_t *self, const char *task_id, const daisy_resources_t *r,
             daisy_error_t *err)
{
    if (need_cpus(self, r) > self->cpus && self->cpus >= 0)
        return daisy_error_set(err, "task '%s': one worker needs %ld CPUs, the run's budget "
                               "has %ld: it could never start", task_id, need_cpus(self, r),
                               self->cpus);
    if (need_gpus(self, r) > self->gpus && self->gpus >= 0)
        return daisy_error_set(err, "task '%s': one worker needs %ld GPUs, the run's budget "
                               "has %ld: it could never start", task_id, need_gpus(self, r),
                               self->gpus);
    return 0;
}

bool
budget_take(budget_t *self, const daisy_resources_t *r, char *gpus, size_t size)
{
    long cpus = need_cpus(self, r), ngpus = need_gpus(self, r), free_gpus = 0;
    gpus[0] = '\0';
    for (long i = 0; i < self->gpus; i++)
        free_gpus += !self->gpu_used[i];
    if ((self->cpus >= 0 && self->cpus_used + cpus > self->cpus) || free_gpus < ngpus)
        return false;
    self->cpus_used += cpus;
    size_t used = 0;
    for (long i = 0; i < self->gpus && ngpus > 0; i++)
        if (!self->gpu_used[i]) {
            self->gpu_used[i] = true;
            ngpus--;
            used += (size_t)snprintf(gpus + used, used < size ? size - used : 0, "%s%ld",
                                     used ? "," : "", i);
        }
    return true;
}

void
budget_give(budget_t *self, const daisy_resources_t *r, const char *gpus)
{
    self->cpus_used -= need_cpus(self, r);
    for (const char *p = gpus; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
        long i = strtol(p, NULL, 10);
        if (i >= 0 && i < MAX_GPUS)
            self->gpu_used[i] = false;
    }
}
