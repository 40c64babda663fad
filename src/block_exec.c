/*  block_exec.c - one block, one shell command

    Without a process group to publish (the serial runner), posix_spawn
    runs /bin/sh in the caller's group, as a shell would: the broker and
    workers may be large processes, and spawning does not copy their page
    tables. The child gets the parent's environment plus the block's
    variables, so commands see PATH, HOME and whatever the user exported.

    With a group (daisy-worker), a guard process leads the command's group.
    A worker killed with SIGKILL (kill -9, the OOM killer) cannot stop its
    command, and the block then runs again on another worker while the
    first copy still runs: conflicting blocks would run at the same time.
    The guard is forked first and makes the group; /bin/sh is spawned into
    it as before (still the caller's child: $PPID, exit statuses and
    signals are what they were). The guard asks the kernel for a signal
    when its parent dies (PR_SET_PDEATHSIG), checks its parent once more
    for one that died before it asked, and sleeps; on that signal it kills
    its whole group, grandchildren included. When the command ends, the
    caller kills the guard and whatever the command left in its group (see
    guard_stop), and reaps the guard. The guard is forked, not spawned
    (there is no program to exec), from a multi-threaded caller, so it
    makes only async-signal-safe calls and keeps every other signal
    blocked. The kernel sends the signal when the *thread* that forked the
    guard ends: the caller's thread must outlive the command, which it
    does, as it waits for it. What leaves the group (setsid) is out of
    reach, as it was before. Cost: see block_exec.h.

    A worker stopped alone (SIGSTOP, a debugger) left its command running,
    and once the broker gave the block to another worker the two ran at
    once. With freeze_with_caller the guard sleeps DAISY_GUARD_WATCH_MS at
    a time and reads its caller's state in /proc; when the caller has
    become stopped it stops the group. It cannot stop a group it is in
    without stopping itself, and a stopped guard would not see its caller
    die, so it steps into the caller's group for the kill and back into
    its own (which lives on in its stopped members) after. Continuing is
    the caller's choice (it may no longer own the block), so the guard
    never does it.

    A timeout stops the command: SIGTERM to its group, SIGKILL after
    DAISY_EXEC_GRACE_MS. Waiting polls a pidfd of the child (and the
    stderr pipe), so a command's end is seen at once and a deadline needs
    no busy loop; kernels without pidfds are polled every 20 ms.

    With a tail buffer, the command's stderr goes through a pipe: every
    byte is passed on to where it would have gone, and the last line is
    kept for the error text. The pipe is read until the command has exited
    and nothing more is waiting, not until end of file: a command that
    leaves a background process holding the pipe must not hang its worker.
*/
#include "daisy/block_exec.h"
#include "daisy/text.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void
format_ints(char *buf, size_t size, int n, const int64_t *v)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%lld" : "%lld",
                                 (long long)v[i]);
}

int
daisy_block_env(const daisy_block_t *block, const daisy_exec_env_t *env,
                char vars[][256], size_t size)
{
    char ints[200];
    int n = 0;
    snprintf(vars[n++], size, "DAISY_TASK_ID=%s", block->task_id ? block->task_id : "");
    snprintf(vars[n++], size, "DAISY_BLOCK_ID=%llu", (unsigned long long)block->block_id);
    snprintf(vars[n++], size, "DAISY_ATTEMPT=%u", block->attempt);
    format_ints(ints, sizeof ints, block->read_roi.dims, block->read_roi.offset);
    snprintf(vars[n++], size, "DAISY_READ_OFFSET=%s", ints);
    format_ints(ints, sizeof ints, block->read_roi.dims, block->read_roi.shape);
    snprintf(vars[n++], size, "DAISY_READ_SHAPE=%s", ints);
    format_ints(ints, sizeof ints, block->write_roi.dims, block->write_roi.offset);
    snprintf(vars[n++], size, "DAISY_WRITE_OFFSET=%s", ints);
    format_ints(ints, sizeof ints, block->write_roi.dims, block->write_roi.shape);
    snprintf(vars[n++], size, "DAISY_WRITE_SHAPE=%s", ints);
    if (env && env->broker)
        snprintf(vars[n++], size, "DAISY_BROKER=%s", env->broker);
    if (env && env->worker_id)
        snprintf(vars[n++], size, "DAISY_WORKER_ID=%s", env->worker_id);
    return n;
}

//  The parent's environment without our variables, then the block's.
static char **
build_envp(char vars[][256], int nvars)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **envp = calloc(count + (size_t)nvars + 1, sizeof *envp);
    if (!envp)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "DAISY_", 6) != 0)
            envp[n++] = environ[i];
    for (int i = 0; i < nvars; i++)
        envp[n++] = vars[i];
    return envp;
}

//  Keep the last non-empty line seen in `line` (a line being written is
//  kept whole once its newline comes, or at the end).
typedef struct {
    char line[512];
    size_t used;
    char *tail;
    size_t size;
} tail_t;

static void
tail_feed(tail_t *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || p[i] == '\r') {
            if (t->used > 0)    //  any bytes: cleaned for the summary and the wire
                daisy_text_clean(t->tail, t->size, t->line, t->used);
            t->used = 0;
        } else if (t->used < sizeof t->line)
            t->line[t->used++] = p[i];
    }
}

//  Pass the pipe's bytes on to `out`, feeding the tail; false at end of
//  file or on an error.
static bool
tail_pump(int fd, int out, tail_t *t)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t done = 0; done < n;) {
        ssize_t w = write(out, buf + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;  //  the log is gone: keep reading, or the command blocks
        done += w;
    }
    tail_feed(t, buf, (size_t)n);
    return true;
}

//  Waiting ------------------------------------------------------------------

int64_t
daisy_exec_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  A command being waited for: its pid, what a timeout signals (-group
//  with one, else pid), its stderr pipe (-1 without a tail) and when it
//  is to be stopped.
typedef struct {
    pid_t pid, target;
    int fd, out;
    tail_t *tail;
    int64_t deadline;       //  next signal due (INT64_MAX: none)
    int stopped;            //  the last signal sent at the timeout, or 0
} waiting_t;

//  The deadline passed: SIGTERM first, SIGKILL once the grace is over.
static void
wait_stop(waiting_t *c, int64_t now)
{
    c->stopped = c->stopped ? SIGKILL : SIGTERM;
    kill(c->target, c->stopped);
    c->deadline = c->stopped == SIGKILL ? INT64_MAX : now + DAISY_EXEC_GRACE_MS;
}

//  How long to sleep: until the deadline with a pidfd to wake us, else
//  20 ms at most.
static int
wait_ms(const waiting_t *c, int pidfd, int64_t now)
{
    int64_t left = c->deadline - now, most = pidfd >= 0 ? 60000 : 20;
    return (int)(left < most ? left : most);
}

//  Wait for the command while pumping its stderr pipe and keeping its
//  deadline; the wait status in *wstatus.
static int
wait_command(waiting_t *c, int *wstatus)
{
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    bool open = c->fd >= 0;
    int rc = 0;
    for (;;) {
        pid_t got = waitpid(c->pid, wstatus, WNOHANG);
        if (got == c->pid) {   //  take what is waiting, never wait for more
            for (struct pollfd p = {c->fd, POLLIN, 0}; open && poll(&p, 1, 0) > 0;)
                open = tail_pump(c->fd, c->out, c->tail);
            if (c->tail)
                tail_feed(c->tail, "\n", 1);
            break;
        }
        if (got < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        int64_t now = daisy_exec_clock_ms();
        if (now >= c->deadline) {
            wait_stop(c, now);
            continue;
        }
        struct pollfd p[2] = {{open ? c->fd : -1, POLLIN, 0}, {pidfd, POLLIN, 0}};
        if (poll(p, 2, wait_ms(c, pidfd, now)) > 0 && p[0].revents)
            open = tail_pump(c->fd, c->out, c->tail);
    }
    int saved = errno;
    if (pidfd >= 0)
        close(pidfd);
    errno = saved;
    return rc;
}

//  The guard (see the top of this file) -------------------------------------

//  The signal the kernel sends the guard when its parent dies.
#define GUARD_DEATH_SIGNAL SIGUSR1

//  How /bin/sh is started, made before any fork: the guard may not allocate.
typedef struct {
    char **argv, **envp;
    int out_fd, err_fd;     //  onto stdout and stderr, or -1
    int pipe_fd[2];         //  the tail pipe, or -1
    sigset_t mask;          //  the command's signal mask (with a group)
    pid_t guard;            //  the group's leader, or 0
    bool watch;             //  freeze_with_caller
    pid_t caller_group;     //  the caller's process group
    char caller_stat[48];   //  "/proc/<caller>/stat"
} launch_t;

static void
guard_woken(int sig)
{
    (void)sig;      //  only to end sigsuspend()
}

//  The state letter of the process whose /proc stat file is open as `fd`
//  ("pid (comm) S ..."; the name may hold parentheses), or 0.
static char
guard_caller_state(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    ssize_t close_paren = -1;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == ')')
            close_paren = i;
    return close_paren >= 0 && close_paren + 2 < n ? buf[close_paren + 2] : 0;
}

//  Stop the command's group (see the top of this file), from outside it.
static void
guard_freeze(const launch_t *l, pid_t group)
{
    if (setpgid(0, l->caller_group) != 0)
        return;     //  stopping the group would stop the guard with it
    kill(-group, SIGSTOP);
    setpgid(0, group);      //  fails only if the command is gone
}

//  Sleep until a signal (the death signal) or, when watching the caller,
//  the next look at it; stop the group the moment the caller is found
//  stopped.
static void
guard_sleep(const launch_t *l, pid_t group, int stat_fd, const sigset_t *wait,
            bool *caller_stopped)
{
    if (stat_fd < 0) {
        sigsuspend(wait);
        return;
    }
    struct timespec tick = {0, DAISY_GUARD_WATCH_MS * 1000000L};
    ppoll(NULL, 0, &tick, wait);
    char state = guard_caller_state(stat_fd);
    bool stopped = state == 'T' || state == 't';
    if (stopped && !*caller_stopped)
        guard_freeze(l, group);
    *caller_stopped = stopped;
}

//  The guard's life, in the forked child, with every signal blocked on
//  entry. They stay blocked but the death signal: the caller's handlers
//  must not run here (they would act on the caller's state, e.g. ring its
//  eventfd), and the signals the group gets (SIGTERM from the worker) are
//  the command's, not the guard's. A stray death signal while the parent
//  lives changes nothing.
static void __attribute__((noreturn))
guard_main(const launch_t *l, pid_t parent)
{
    pid_t group = getpid();
    setpgid(0, 0);
    //  The guard needs none of the caller's descriptors: holding its
    //  sockets, pipes and files while the command runs would keep a port
    //  bound or a pipe from its end after the caller closed its own.
    close_range(3, ~0U, 0);
    prctl(PR_SET_NAME, "daisy-guard");     //  what ps and top show
    struct sigaction sa = {.sa_handler = guard_woken};
    sigfillset(&sa.sa_mask);
    sigaction(GUARD_DEATH_SIGNAL, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, GUARD_DEATH_SIGNAL);
    sigset_t wait;
    sigfillset(&wait);
    sigdelset(&wait, GUARD_DEATH_SIGNAL);
    int stat_fd = l->watch ? open(l->caller_stat, O_RDONLY | O_CLOEXEC) : -1;
    bool caller_stopped = false;
    while (getppid() == parent)     //  also a parent that died before prctl
        guard_sleep(l, group, stat_fd, &wait, &caller_stopped);
    kill(-group, SIGKILL);      //  the group, wherever the guard is
    _exit(128 + SIGKILL);
}

//  Fork the guard, leader of a new group; 0 or an errno.
static int
guard_start(launch_t *l)
{
    pid_t parent = getpid();
    l->caller_group = getpgrp();
    snprintf(l->caller_stat, sizeof l->caller_stat, "/proc/%ld/stat", (long)parent);
    pid_t pid = fork();
    if (pid == 0)
        guard_main(l, parent);
    if (pid < 0)
        return errno;
    setpgid(pid, pid);      //  both sides: the group exists before either goes on
    l->guard = pid;
    return 0;
}

//  The command is over: so is its guard, and whatever the command left in
//  its group. /bin/sh may have died of a SIGTERM (a timeout, the worker
//  stopped) while a child that takes its time over it, or ignores it,
//  runs on; or the command left a process in the background. Either would
//  run on after the block was reported, beside its next attempt. The
//  guard itself is killed by its pid: it may be outside the group
//  (guard_freeze found the command gone).
static void
guard_stop(const launch_t *l)
{
    if (l->guard <= 0)
        return;
    kill(-l->guard, SIGKILL);
    kill(l->guard, SIGKILL);
    while (waitpid(l->guard, NULL, 0) < 0 && errno == EINTR)
        ;
}

//  Starting ------------------------------------------------------------------

//  /bin/sh, in the guard's group when there is one; 0 or an errno.
static int
start_command(launch_t *l, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (l->out_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, l->out_fd, STDOUT_FILENO);
    if (l->err_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, l->err_fd, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (l->guard) {
        posix_spawnattr_setsigmask(&attr, &l->mask);
        posix_spawnattr_setpgroup(&attr, l->guard);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    }
    int rc = posix_spawn(pid, "/bin/sh", &actions, &attr, l->argv, l->envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

//  With a group to publish, signals wait (in this thread) until it is
//  published: the command may signal us, or be signalled with us, the
//  moment it starts, and a handler that found no group yet would let the
//  command run on alone. The command starts with the mask as it was.
static int
start_grouped(launch_t *l, pid_t *pid, volatile pid_t *group)
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &l->mask);
    int rc = guard_start(l);
    if (rc == 0 && (rc = start_command(l, pid)) != 0)
        guard_stop(l);
    if (rc == 0)
        *group = l->guard;
    pthread_sigmask(SIG_SETMASK, &l->mask, NULL);
    return rc;
}

//  The outcome: 0 with *status, 1 stopped at the timeout, -1 not waited for.
static int
outcome(const char *command, const waiting_t *c, int waited, int wstatus,
        const daisy_exec_env_t *env, int *status, daisy_error_t *err)
{
    if (waited < 0)
        return daisy_error_set(err, "waiting for '%s': %s", command, strerror(errno));
    *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    if (!c->stopped)
        return 0;
    daisy_error_set(err, "timeout: still running %s%.3g s%s, stopped with %s",
                    env->since_ms ? "" : "after ", env->timeout_ms / 1000.0,
                    env->since_ms ? " after the block's check began" : "",
                    c->stopped == SIGKILL ? "SIGKILL" : "SIGTERM");
    return 1;
}

int
daisy_block_exec(const char *command, const daisy_block_t *block,
                 const daisy_exec_env_t *env, int *status, daisy_error_t *err)
{
    char vars[DAISY_BLOCK_ENV_COUNT][256];
    int nvars = daisy_block_env(block, env, vars, sizeof vars[0]);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    launch_t l = {.argv = argv, .envp = build_envp(vars, nvars), .out_fd = -1, .err_fd = -1,
                  .pipe_fd = {-1, -1}};
    if (!l.envp)
        return daisy_error_set(err, "out of memory");
    tail_t tail = {.tail = env ? env->tail : NULL, .size = env ? env->tail_size : 0};
    if (tail.tail && tail.size > 0) {
        tail.tail[0] = '\0';
        if (pipe2(l.pipe_fd, O_CLOEXEC) != 0)
            tail.tail = NULL;
    }
    l.out_fd = env ? env->out_fd : -1;
    l.err_fd = tail.tail ? l.pipe_fd[1] : env ? env->err_fd : -1;
    bool group = env && env->group;
    l.watch = group && env->freeze_with_caller;
    pid_t pid;
    int rc = group ? start_grouped(&l, &pid, env->group) : start_command(&l, &pid);
    free(l.envp);
    if (l.pipe_fd[1] >= 0)
        close(l.pipe_fd[1]);
    if (rc != 0) {
        if (l.pipe_fd[0] >= 0)
            close(l.pipe_fd[0]);
        return daisy_error_set(err, "cannot start /bin/sh for '%s': %s", command, strerror(rc));
    }
    uint32_t timeout_ms = env ? env->timeout_ms : 0;
    int64_t since = env && env->since_ms ? env->since_ms : daisy_exec_clock_ms();
    waiting_t c = {.pid = pid, .target = group ? -l.guard : pid, .fd = tail.tail ? l.pipe_fd[0] : -1,
                   .out = env && env->err_fd >= 0 ? env->err_fd : STDERR_FILENO,
                   .tail = tail.tail ? &tail : NULL,
                   .deadline = timeout_ms ? since + timeout_ms : INT64_MAX};
    int wstatus = 0;
    int waited = wait_command(&c, &wstatus);
    if (l.pipe_fd[0] >= 0)
        close(l.pipe_fd[0]);
    if (group)
        *env->group = 0;
    guard_stop(&l);
    return outcome(command, &c, waited, wstatus, env, status, err);
}
