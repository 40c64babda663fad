/*  serve.c - daisy_serve(): a broker and its launcher, run to the end

    The loop every program shares (daisy run, daisy-broker, run_blockwise):
    poll the broker, let the launcher start and replace workers at its own
    pace, report progress, and stop when every task is done or a stop was
    asked for (daisy_broker_stop(), from a signal handler). Stopping
    drains: nothing more is handed out and the blocks in flight get a
    while to come back, so their results are kept; a second stop ends the
    wait. daisy_serve() installs no signal handler; the interruptible
    variant catches SIGINT, SIGTERM and SIGTSTP for the length of the call (signal
    dispositions belong to the process: the one process-wide thing it
    touches, and it gives the caller's handlers back).
*/
#include "daisy/launcher.h"

#include <czmq.h>
#include <signal.h>
#include <string.h>

#define DRAIN_MS 10000
#define WORKERS_END_MS 10000     //  how long a done run waits for its workers to end

//  A stop signal (Ctrl-Z) to act on, under daisy_serve_interruptible only.
static volatile sig_atomic_t s_suspend;

static void
on_suspend(int sig)
{
    s_suspend = sig;
}

//  Ctrl-Z reaches the terminal's foreground group, this process; its
//  workers lead groups of their own (so that stopping one reaches what it
//  started), and ran on, their commands too. So the run stops as a whole:
//  the workers first (daisy-worker stops its command, then itself), then
//  this process the default way; fg continues it, and it continues them.
//  The broker does not count the time it was stopped against its workers
//  or their blocks' timeouts.
static void
suspend(daisy_launcher_t *launcher)
{
    int sig = s_suspend;
    if (launcher)
        daisy_launcher_signal(launcher, sig);
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    raise(sig);     //  stopped here until SIGCONT (or at once ignored, with no terminal)
    sa.sa_handler = on_suspend;
    sigaction(sig, &sa, NULL);
    s_suspend = 0;
    if (launcher)
        daisy_launcher_signal(launcher, SIGCONT);
}

//  Done, its workers told to shut down: they end on their own, as a
//  program's clean-up may take a while (an ASan build's leak scan took
//  3 s under load, and SIGKILL lost its buffered output). The broker
//  still answers meanwhile, so that a worker that joins only now is told
//  to shut down too. Another stop request (Ctrl-C) cuts it short.
static void
let_workers_end(daisy_broker_t *broker, daisy_launcher_t *launcher)
{
    int64_t until = zclock_mono() + WORKERS_END_MS;
    while (daisy_launcher_wait(launcher, 10) > 0 && zclock_mono() < until
           && daisy_broker_stop_requests(broker) == 0)
        daisy_broker_poll(broker, 10);
}

//  The first stop (Ctrl-C): hand out nothing more and give the blocks in
//  flight up to DRAIN_MS to come back, so their results are kept (and
//  marked); a second stop ends the wait at once. Workers are not replaced
//  meanwhile.
static void
drain(daisy_broker_t *broker, daisy_serve_fn *progress, void *arg)
{
    daisy_broker_drain(broker);
    int64_t deadline = zclock_mono() + DRAIN_MS;
    while (daisy_broker_held(broker) > 0 && daisy_broker_stop_requests(broker) < 2
           && zclock_mono() < deadline) {
        daisy_broker_poll(broker, 100);
        if (progress)
            progress(arg, broker);
    }
}

int
daisy_serve(daisy_broker_t *broker, daisy_launcher_t *launcher, daisy_serve_fn *progress,
            void *arg)
{
    //  Polls of at most 50 ms: dead workers are noticed and progress stays
    //  fresh even when no message arrives. Workers start before the first
    //  wait, and are reaped at that pace, not on every message.
    int64_t last_reap = 0;
    while (!daisy_broker_done(broker) && daisy_broker_stop_requests(broker) == 0) {
        if (s_suspend)
            suspend(launcher);
        int64_t now = zclock_mono();
        if (launcher && now - last_reap >= 50) {
            daisy_launcher_poll(launcher);
            last_reap = now;
        }
        if (progress)
            progress(arg, broker);
        daisy_broker_poll(broker, 50);
    }
    bool interrupted = !daisy_broker_done(broker);
    if (interrupted)
        drain(broker, progress, arg);
    daisy_broker_finish(broker, interrupted);
    if (progress)
        progress(arg, broker);
    if (launcher && !interrupted)
        let_workers_end(broker, launcher);
    if (launcher)
        daisy_launcher_stop(launcher, interrupted ? 500 : 3000);
    if (interrupted)
        return 2;
    return daisy_summary_success(daisy_broker_summary(broker)) ? 0 : 1;
}

//  The broker the handler stops; signals are process-wide, so is this.
static daisy_broker_t *volatile s_broker;

static void
on_signal(int sig)
{
    (void)sig;
    daisy_broker_t *b = s_broker;
    if (b)
        daisy_broker_stop(b);
}

int
daisy_serve_interruptible(daisy_broker_t *broker, daisy_launcher_t *launcher,
                          daisy_serve_fn *progress, void *arg)
{
    struct sigaction sa, old_int, old_term, old_tstp;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    s_broker = broker;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_suspend;
    sigaction(SIGTSTP, &sa, &old_tstp);
    int rc = daisy_serve(broker, launcher, progress, arg);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGTSTP, &old_tstp, NULL);
    s_suspend = 0;
    s_broker = NULL;
    return rc;
}
