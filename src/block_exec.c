/*  block_exec.c - one block, one shell command

    posix_spawn rather than fork: the broker and workers may be large
    processes, and spawning does not copy their page tables. The child gets
    the parent's environment plus the block's variables, so commands see
    PATH, HOME and whatever the user exported.
*/
#include "daisy/block_exec.h"

#include <errno.h>
#include <signal.h>
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

int
daisy_block_exec(const char *command, const daisy_block_t *block,
                 const daisy_exec_env_t *env, int *status, daisy_error_t *err)
{
    char vars[DAISY_BLOCK_ENV_COUNT][256];
    int nvars = daisy_block_env(block, env, vars, sizeof vars[0]);
    char **envp = build_envp(vars, nvars);
    if (!envp)
        return daisy_error_set(err, "out of memory");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (env && env->out_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, env->out_fd, STDOUT_FILENO);
    if (env && env->err_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, env->err_fd, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (env && env->group) {
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    }
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    free(envp);
    if (rc != 0)
        return daisy_error_set(err, "cannot start /bin/sh for '%s': %s", command, strerror(rc));
    if (env && env->group)
        *env->group = pid;
    int wstatus;
    while (waitpid(pid, &wstatus, 0) < 0)
        if (errno != EINTR) {
            if (env && env->group)
                *env->group = 0;
            return daisy_error_set(err, "waiting for '%s': %s", command, strerror(errno));
        }
    if (env && env->group)
        *env->group = 0;
    *status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return 0;
}
