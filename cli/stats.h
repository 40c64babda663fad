/*  stats.h - the run statistics as people and programs read them

    Shared by `daisy run` and `daisy-broker` (statistics straight from
    their broker, printed after the summary and written as JSON next to
    the logs) and `daisy monitor` (from the feed's RUN_STATS event).
*/
#ifndef DAISY_CLI_STATS_H
#define DAISY_CLI_STATS_H

#include <jansson.h>
#include <stdio.h>

#include "daisy/protocol.h"

//  The "Run Statistics" section: per task block times and trend, per host
//  and per worker (the busiest 16) blocks, CPU time and peak memory.
void stats_print(FILE *out, const daisy_wire_run_stats_t *stats);
//  Everything, as a JSON object {"tasks": [...], "hosts": [...], "workers": [...]}.
json_t *stats_json(const daisy_wire_run_stats_t *stats);
//  A task's state (its counters, rate, elapsed time, workers and jobs) as
//  a JSON object {"task": ..., "total": ..., ...}.
json_t *stats_task_state_json(const daisy_wire_task_state_t *state);
//  stats_json() into `path` (written whole, then renamed). 0, or -1 with
//  errno set.
int stats_write(const char *path, const daisy_wire_run_stats_t *stats);

#endif
