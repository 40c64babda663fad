/*  block_exec.c - one block, one shell command

    posix_spawn rather than fork: the broker and workers may be large
    processes, and spawning does not copy their page tables. The child gets
    the parent's environment plus the block's variables, so commands see
    PATH, HOME and whatever the user exported.

    With a tail buffer, the command's stderr goes through a pipe: every
    byte is passed on to where it would have gone, and the last line is
    kept for the error text. The pipe is read until the command has exited
    and nothing more is waiting, not until end of file: a command that
    leaves a background process holding the pipe must not hang its worker.
*/
#include "daisy/block_exec.h"

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
#include <sys/wait.h>
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
            if (t->used > 0) {
                size_t keep = t->used < t->size - 1 ? t->used : t->size - 1;
                memcpy(t->tail, t->line, keep);
                t->tail[keep] = '\0';
            }
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

//  Wait for pid while pumping its stderr pipe; the wait status in *wstatus.
static int
wait_pumping(pid_t pid, int fd, int out, tail_t *t, int *wstatus)
{
    bool open = true;
    for (;;) {
        pid_t got = waitpid(pid, wstatus, WNOHANG);
        if (got < 0 && errno != EINTR)
            return -1;
        if (got == pid) {   //  take what is waiting, never wait for more
            for (struct pollfd p = {fd, POLLIN, 0}; open && poll(&p, 1, 0) > 0;)
                open = tail_pump(fd, out, t);
            tail_feed(t, "\n", 1);
            return 0;
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (open && poll(&p, 1, 50) > 0)
            open = tail_pump(fd, out, t);
        else if (!open)
            poll(NULL, 0, 20);  //  the pipe ended before the command did
    }
}

int
daisy_block_exec(const char *command, const daisy_block_t *block,
                 const daisy_exec_env_t *env, int *status, daisy_error_t *err)
{
    char vars[DAISY_BLOCK_ENV_COUNT][256];
    int nvars = daisy_block_env(block, env, vars, sizeof vars[0]);
    char **envp = build_envp(vars, nvars);
    if (!envp)
        return daisy_error_set(err, "out of memory");
    int pipefd[2] = {-1, -1};
    tail_t tail = {.tail = env ? env->tail : NULL, .size = env ? env->tail_size : 0};
    if (tail.tail && tail.size > 0) {
        tail.tail[0] = '\0';
        if (pipe2(pipefd, O_CLOEXEC) != 0)
            tail.tail = NULL;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (env && env->out_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, env->out_fd, STDOUT_FILENO);
    if (tail.tail)
        posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDERR_FILENO);
    else if (env && env->err_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, env->err_fd, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    //  With a group to publish, signals wait (in this thread) until it is
    //  published: the command may signal us, or be signalled with us, the
    //  moment it starts, and a handler that found no group yet would let
    //  the command run on alone. The command starts with the mask as it was.
    sigset_t all, old;
    if (env && env->group) {
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        posix_spawnattr_setsigmask(&attr, &old);
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    }
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp);
    if (env && env->group) {
        if (rc == 0)
            *env->group = pid;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    free(envp);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (rc != 0) {
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        return daisy_error_set(err, "cannot start /bin/sh for '%s': %s", command, strerror(rc));
    }
    int wstatus, waited = 0;
    if (tail.tail)
        waited = wait_pumping(pid, pipefd[0], env->err_fd >= 0 ? env->err_fd : STDERR_FILENO,
                              &tail, &wstatus);
    else
        while ((waited = waitpid(pid, &wstatus, 0) < 0 ? -1 : 0) < 0 && errno == EINTR)
            ;
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (env && env->group)
        *env->group = 0;
    if (waited < 0)
        return daisy_error_set(err, "waiting for '%s': %s", command, strerror(errno));
    *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return 0;
}
