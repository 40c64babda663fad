/*  serve.c - daisy_serve() with progress bars and the summary on stdout

    The programs' face on the library's serving loop: bars (or plain lines
    off a terminal) while it runs, the execution summary when it ends.
*/
#include "serve.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "bars.h"
#include "stats.h"

typedef struct {
    bars_t *bars;
    uint32_t ntasks;
    bool final_drawn;     //  the finished state is drawn once, not per call
} view_t;

static void
show(void *arg, daisy_broker_t *broker)
{
    view_t *v = arg;
    bool done = daisy_broker_done(broker);
    if (!v->bars || (done && v->final_drawn))
        return;
    v->final_drawn = done;
    daisy_wire_task_state_t states[v->ntasks ? v->ntasks : 1];
    for (uint32_t t = 0; t < v->ntasks; t++)
        daisy_broker_task_state(broker, t, &states[t]);
    bars_update(v->bars, states, v->ntasks, done);
}

//  Refused messages are worth a line: they point at a broken or foreign
//  client, or at workers that outlived their blocks.
static void
report_refusals(const daisy_broker_t *broker, const char *prog)
{
    daisy_broker_stats_t st;
    daisy_broker_stats(broker, &st);
    if (st.rejected == 0)
        return;
    fprintf(stderr, "%s: refused %llu of %llu messages:", prog, (unsigned long long)st.rejected,
            (unsigned long long)st.messages);
    for (int code = 1; code < 16; code++)
        if (st.rejected_by_code[code])
            fprintf(stderr, " %s %llu", daisy_proto_error_name((daisy_proto_error_t)code),
                    (unsigned long long)st.rejected_by_code[code]);
    fputc('\n', stderr);
}

//  Blocks recorded done in the markers of every task (read after the run
//  has flushed and closed them), or UINT64_MAX when one cannot be read.
//  A resumed run skips recorded blocks only as it reaches them, so an
//  early Ctrl-C had counted none of them, and said "12 blocks were not
//  run" of a run 10 of 12 done.
static uint64_t
recorded_done(const daisy_pipeline_t *p, const char *markers)
{
    uint64_t done = 0;
    for (size_t t = 0; t < daisy_pipeline_size(p); t++) {
        char dir[4096];
        daisy_markers_info_t *info = malloc(sizeof *info);
        snprintf(dir, sizeof dir, "%s/%s", markers, daisy_task_id(daisy_pipeline_task(p, t)));
        bool ok = info && daisy_markers_inspect(dir, info, NULL) == 0;
        done += ok ? info->done : 0;
        free(info);
        if (!ok)
            return UINT64_MAX;
    }
    return done;
}

//  After Ctrl-C: what was not run, and how to go on. With done markers a
//  rerun of the same command skips what completed; without, it starts
//  over, and the user should know before rerunning a day's work.
void
cli_report_interrupted(const daisy_summary_t *summary, const daisy_pipeline_t *p,
                       const serve_options_t *options)
{
    uint64_t left = 0, completed = 0;
    for (uint32_t t = 0; t < daisy_pipeline_size(p); t++) {
        const daisy_task_counts_t *c = daisy_summary_counts(summary, t);
        left += c->total - c->completed - c->failed - c->orphaned;
        completed += c->completed;
    }
    uint64_t done = options->markers ? recorded_done(p, options->markers) : UINT64_MAX;
    uint64_t earlier = done != UINT64_MAX && done > completed ? done - completed : 0;
    left -= earlier < left ? earlier : left;
    printf("\nInterrupted: %llu block%s not run.", (unsigned long long)left,
           left == 1 ? " was" : "s were");
    if (!options->markers) {
        printf(" No done markers were kept (--markers DIR, or \"markers\" in the pipeline "
               "file): running again starts over.\n");
        return;
    }
    if (done == UINT64_MAX)
        printf(" The %llu completed are recorded in %s; to resume, run again:\n\n   ",
               (unsigned long long)completed, options->markers);
    else
        printf(" The %llu done are recorded in %s; to resume, run again:\n\n   ",
               (unsigned long long)done, options->markers);
    if (options->prog)
        printf(" %s", options->prog);
    for (int i = 0; i < options->argc; i++) {
        putchar(' ');
        cli_shell_word(stdout, options->argv[i]);
    }
    printf("\n");
}

void
cli_shell_word(FILE *out, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "_./-+,:=@%") == strlen(s)) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (; *s; s++)
        fputs(*s == '\'' ? "'\\''" : (char[]){*s, 0}, out);
    fputc('\'', out);
}

//  The name every line on stderr begins with.
static const char *
serve_prog(const serve_options_t *options)
{
    return options->name ? options->name : "daisy-broker";
}

//  The statistics after the summary, and as JSON beside the logs.
static void
report_stats(daisy_broker_t *broker, daisy_launcher_t *launcher, const serve_options_t *options)
{
    daisy_wire_run_stats_t stats;
    if (daisy_broker_run_stats(broker, &stats) != 0)
        return;
    stats_print(stdout, &stats);
    char path[4096];
    const char *dir = launcher ? daisy_launcher_log_dir(launcher) : options->log_dir;
    if (!dir)
        return;
    mkdir(dir, 0777);   //  a run whose workers never started has no folder yet
    if (launcher)
        snprintf(path, sizeof path, "%s/stats.json", dir);
    else
        snprintf(path, sizeof path, "%s/stats-%s.json", dir, daisy_broker_run_id(broker));
    if (stats_write(path, &stats) == 0)
        printf("\n  (all of it in %s)\n", path);
    else
        fprintf(stderr, "%s: cannot write the run statistics to '%s': %s\n", serve_prog(options),
                path, strerror(errno));
}

//  Every worker is a connection, a descriptor of this process: the soft
//  limit (often 1,024) would turn away the thousandth worker, the hard
//  one (often 2^20) not.
static void
raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int
cli_serve(daisy_broker_t *broker, daisy_launcher_t *launcher, const serve_options_t *options)
{
    raise_fd_limit();
    const daisy_graph_t *graph = daisy_scheduler_graph(daisy_broker_scheduler(broker));
    view_t view = {.ntasks = daisy_graph_task_count(graph)};
    if (!options->quiet)
        view.bars = bars_new(stderr, isatty(STDERR_FILENO), options->interval_ms);
    //  Ctrl-C and SIGTERM: the first drains the blocks in flight, the
    //  second ends the wait.
    int rc = daisy_serve_interruptible(broker, launcher, show, &view);
    if (view.bars)
        bars_finish(view.bars);
    bars_destroy(&view.bars);
    report_refusals(broker, serve_prog(options));
    char *text = daisy_summary_format(daisy_broker_summary(broker));
    if (text)
        fputs(text, stdout);
    free(text);
    report_stats(broker, launcher, options);
    const char *failure = daisy_broker_failure(broker);
    if (failure) {      //  recording failed: stopped on its own, not interrupted
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", serve_prog(options), failure);
        return 4;
    }
    if (rc == 2)
        cli_report_interrupted(daisy_broker_summary(broker), daisy_graph_pipeline(graph), options);
    fflush(stdout);
    return rc == 2 ? 130 : rc;
}
