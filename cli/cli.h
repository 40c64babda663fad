/*  cli.h - shared pieces of the `daisy` program's subcommands

    Exit codes are the same for every subcommand, so scripts can tell a
    mistake on the command line from a bad pipeline file from blocks that
    failed.
*/
#ifndef DAISY_CLI_H
#define DAISY_CLI_H

#include <stdio.h>

#include "daisy/daisy.h"

enum {
    EXIT_OK = 0,          //  everything asked for was done
    EXIT_FAILED = 1,      //  the run ended with blocks failed or orphaned
    EXIT_USAGE = 2,       //  bad command line
    EXIT_INPUT = 3,       //  the pipeline file is unreadable or invalid
    EXIT_INTERNAL = 4,    //  out of memory, or a system call failed
    EXIT_INTERRUPTED = 130    //  SIGINT or SIGTERM (128 + SIGINT, as shells say it)
};

int cli_plan(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_monitor(int argc, char **argv);
int cli_keygen(int argc, char **argv);
int cli_markers(int argc, char **argv);

//  Write `s` as a JSON string (with quotes) to `out`.
void cli_json_string(FILE *out, const char *s);
//  Write a ROI as {"offset": [...], "shape": [...]}.
void cli_json_roi(FILE *out, const daisy_roi_t *roi);

#endif
