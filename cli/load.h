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

#endif
