/*  load.h - load a pipeline file for a program, with its warnings

    `daisy plan`, `daisy run` and `daisy-broker` load pipeline files the
    same way: a refusal is printed as "PROG: FILE: task 'x': ..." and a
    valid file may still carry warnings (a task that will have no block),
    printed as "PROG: warning: FILE: ..." on stderr before anything runs.
*/
#ifndef DAISY_CLI_LOAD_H
#define DAISY_CLI_LOAD_H

#include "daisy/daisy.h"

//  The pipeline of `path`, or NULL after printing why (exit code 3).
daisy_pipeline_t *cli_load_pipeline(const char *prog, const char *path);

//  0 when every task of `p` says what runs its blocks (a `command` or a
//  `worker` program), else -1 after printing which task does not: caught
//  here, before anything starts, rather than as workers that die at once.
int cli_check_runnable(const char *prog, const char *path, const daisy_pipeline_t *p);

#endif
