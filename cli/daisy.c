/*  daisy.c - the `daisy` program: one binary, one subcommand per job

    `daisy plan` shows what a pipeline will do before anything runs;
    `daisy run` runs it. Each subcommand lives in its own file and parses
    its own options, so this file only dispatches and prints the overview.
*/
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "worker.h"

static const char *usage =
    "Usage: daisy COMMAND [OPTIONS] ARGS\n"
    "\n"
    "Blockwise task scheduling for very large nD volumes.\n"
    "\n"
    "Commands:\n"
    "  plan     show the blocks of every task, per level (or as JSON lines)\n"
    "  run      run a pipeline on this machine (broker, local workers, progress)\n"
    "  monitor  watch a running broker's progress feed\n"
    "  markers  what a done-markers directory holds; a task's markers as Zarr v2\n"
    "  worker   a worker for any host (the same as daisy-worker)\n"
    "  keygen   write a CurveZMQ key pair (for daisy-broker, workers, monitors)\n"
    "\n"
    "Run `daisy COMMAND --help` (or `daisy help COMMAND`) for the options of a\n"
    "command.\n"
    "\n"
    "Exit status: 0 success, 1 blocks failed, 2 bad command line,\n"
    "3 bad pipeline file, 4 internal error, 130 interrupted.\n";

static int
dispatch(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("daisy", "expected a command: plan, run, monitor, markers, "
                               "worker or keygen");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") && argc == 3) {
        //  `daisy help run` is `daisy run --help`, as git's and systemctl's.
        char *help_argv[] = {argv[0], argv[2], "--help", NULL};
        return dispatch(3, help_argv);
    }
    if (!strcmp(cmd, "help") && argc > 3)
        return cli_usage_error("daisy", "help takes one command, got %d", argc - 2);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version"))
        return cli_version("daisy");
    if (!strcmp(cmd, "plan"))
        return cli_plan(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return cli_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "keygen"))
        return cli_keygen(argc - 1, argv + 1);
    if (!strcmp(cmd, "markers"))
        return cli_markers(argc - 1, argv + 1);
    if (!strcmp(cmd, "monitor"))
        return cli_monitor(argc - 1, argv + 1);
    if (!strcmp(cmd, "worker"))
        return cli_worker(argc - 1, argv + 1, "daisy worker");
    return cli_usage_error("daisy", "unknown command '%s'", cmd);
}

int
main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    static const char *const commands[] = {"plan", "run", "keygen", "markers", "monitor",
                                            "worker"};
    char prog[32] = "daisy";
    const char *cmd = argc == 3 && !strcmp(argv[1], "help") ? argv[2] : argc >= 2 ? argv[1] : "";
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i]))
            snprintf(prog, sizeof prog, "daisy %s", commands[i]);
    return cli_stdout_done(prog, rc);
}
