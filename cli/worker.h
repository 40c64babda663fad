/*  worker.h - the command line of a daisy worker

    One implementation for two doors: the `daisy-worker` program and the
    `daisy worker` subcommand, so that both take the same options, print
    the same help and exit with the same statuses.
*/
#ifndef DAISY_CLI_WORKER_H
#define DAISY_CLI_WORKER_H

//  Run a worker from a command line. argv[0] is the program (or
//  subcommand) name, options follow; `prog` prefixes messages and the help
//  ("daisy-worker", "daisy worker"). Returns the exit status: 0 after the
//  broker's SHUTDOWN, 1 refused or unreachable (or the plugin's init
//  failed), 2 bad command line, 4 internal error, 128+N stopped by signal N.
int cli_worker(int argc, char **argv, const char *prog);

#endif
