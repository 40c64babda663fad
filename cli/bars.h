/*  bars.h - progress per task: bars on a terminal, plain lines otherwise

    Shared by `daisy run` (counters straight from its broker) and `daisy
    monitor` (counters from a broker's PUB feed). On a terminal the bars are
    redrawn in place; into a file or pipe a plain line per task is written
    at most every `interval_ms`, so cluster logs stay small.
*/
#ifndef DAISY_CLI_BARS_H
#define DAISY_CLI_BARS_H

#include <stdbool.h>
#include <stdio.h>

#include "daisy/protocol.h"

typedef struct _bars_t bars_t;

bars_t *bars_new(FILE *out, bool terminal, int interval_ms);
void bars_destroy(bars_t **self_p);
//  Show `runner` (e.g. "serial", a static string) where the bars show the
//  task's workers: for runs that have none.
void bars_set_runner(bars_t *self, const char *runner);
//  Show these task states (copied); `force` skips the rate limit.
void bars_update(bars_t *self, const daisy_wire_task_state_t *states, size_t n, bool force);
//  Leave the last bars on screen and move below them.
void bars_finish(bars_t *self);

#endif
