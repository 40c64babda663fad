/*  jobctl.c - Ctrl-Z stops the block's command with its program

    A block's command runs in a process group of its own, led by a guard
    (block_exec.c), so that a timeout or a lost block stops all it
    started. That group is not the terminal's foreground group: Ctrl-Z
    stopped daisy-worker (and a whole `daisy run`), and the command ran on.
    Once the broker had given the block to another worker, two ran it at
    once, and a run "suspended" with Ctrl-Z went on writing its outputs.

    So a stop signal is passed on as SIGSTOP to the command's group (which
    cannot ignore it), and then this process stops itself the default way;
    when it is continued, so is the group, at once (daisy run --serial) or
    once the broker has said the block is still the worker's (daisy-worker:
    the broker may have given it away meanwhile). A process stopped by
    SIGSTOP itself (no handler can run) has its command stopped by the
    command's guard (daisy_exec_env_t.freeze_with_caller).

    The handler makes only async-signal-safe calls. It runs with its own
    signal blocked; the default stop must see it unblocked, so it
    unblocks it around raise(), and the return from the handler restores
    the mask.
*/
#include "jobctl.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>

static volatile pid_t *volatile s_group;
static volatile bool s_continue_group;

static void jobctl_on_stop(int sig);

static void
jobctl_handle(int sig, void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void
jobctl_signal_group(int sig)
{
    volatile pid_t *group = s_group;
    pid_t g = group ? *group : 0;
    if (g > 0)
        kill(-g, sig);
}

static void
jobctl_on_stop(int sig)
{
    int saved = errno;
    jobctl_signal_group(SIGSTOP);
    jobctl_handle(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);                 //  stopped here until SIGCONT
    jobctl_handle(sig, jobctl_on_stop);
    if (s_continue_group)
        jobctl_signal_group(SIGCONT);
    errno = saved;
}

void
jobctl_follow(volatile pid_t *group, bool continue_group)
{
    s_group = group;
    s_continue_group = continue_group;
    jobctl_handle(SIGTSTP, jobctl_on_stop);
    jobctl_handle(SIGTTIN, jobctl_on_stop);
    jobctl_handle(SIGTTOU, jobctl_on_stop);
}
