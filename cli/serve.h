/*  serve.h - run a broker (and its launcher) to the end, showing progress

    The loop shared by `daisy run` and `daisy-broker`: poll the broker,
    let the launcher start and replace workers, draw progress, and on the
    end of the run (or SIGINT/SIGTERM) tell workers to stop and print the
    execution summary on stdout.
*/
#ifndef DAISY_CLI_SERVE_H
#define DAISY_CLI_SERVE_H

#include <stdio.h>

#include "daisy/daisy.h"
#include "daisy/broker.h"
#include "daisy/launcher.h"

typedef struct {
    bool quiet;            //  no progress at all
    int interval_ms;       //  plain progress lines at most this often
    //  For the interrupted summary: the command line that resumes the run
    //  (argv joined) and the markers directory (NULL: none kept).
    const char *prog;      //  printed before argv when not NULL
    int argc;
    char **argv;
    const char *markers;
    //  Where run statistics go without a launcher: LOG_DIR/stats-RUNID.json
    //  (with one, they go into the run's log folder as stats.json).
    const char *log_dir;
    //  What this program's lines on stderr begin with (NULL: daisy-broker).
    const char *name;
} serve_options_t;

//  0 when every block completed, 1 when some failed or were orphaned,
//  130 when interrupted.
int cli_serve(daisy_broker_t *broker, daisy_launcher_t *launcher,
              const serve_options_t *options);

//  After Ctrl-C, below the summary: how many blocks were not run, and the
//  command that resumes (options->prog, argv, markers) or that there are
//  no done markers to resume from.
void cli_report_interrupted(const daisy_summary_t *summary, const daisy_pipeline_t *pipeline,
                            const serve_options_t *options);

//  `s` as one shell word on `out`: as it is when it needs no quoting,
//  else single-quoted. For command lines shown to users to paste.
void cli_shell_word(FILE *out, const char *s);

#endif
