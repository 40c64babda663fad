/*  slurm.c - workers as SLURM batch jobs: scripts, sbatch, squeue, scancel

    The commands are run as programs (posix_spawnp, no shell), their output
    read through a pipe. sbatch --parsable prints "JOBID[;CLUSTER]"; squeue
    is asked for the ids it still knows (pending, with the reason, running,
    completing), so
    a job that finished, failed, timed out or was cancelled is simply
    absent; an squeue that fails (a busy controller) answers nothing rather
    than "everything ended".
*/
#include "slurm.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

//  Run argv, its stdout into out (at most size - 1 bytes kept); its exit
//  status, or -1 when it could not run.
static int
run(char *const argv[], char *out, size_t size)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t used = 0;
    for (char buf[512];;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = used + (size_t)n < size ? (size_t)n : size - 1 - used;
        memcpy(out + used, buf, keep);
        used += keep;
    }
    out[used] = '\0';
    close(fds[0]);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
slurm_script(const slurm_job_t *job, char *out, size_t size)
{
    int n = snprintf(out, size,
                     "#!/bin/sh\n"
                     "#SBATCH --job-name=%s\n"
                     "#SBATCH --output=%s\n"
                     "#SBATCH --error=%s\n"
                     "#SBATCH --ntasks=1\n",
                     job->job_name, job->out_path, job->err_path);
    //  Each extra option a line of its own, as users write them.
    for (const char *p = job->directives; p && *p && n >= 0 && (size_t)n < size;) {
        size_t len = strcspn(p, " \t\n");
        if (len)
            n += snprintf(out + n, size - (size_t)n, "#SBATCH %.*s\n", (int)len, p);
        p += len + strspn(p + len, " \t\n");
    }
    if (n >= 0 && (size_t)n < size)
        n += snprintf(out + n, size - (size_t)n, "\nexec %s\n", job->command);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

long
slurm_submit(const char *script_path, daisy_error_t *err)
{
    char out[1024];
    char *argv[] = {"sbatch", "--parsable", (char *)script_path, NULL};
    int rc = run(argv, out, sizeof out);
    char *end;
    long id = strtol(out, &end, 10);
    if (rc != 0 || id <= 0 || (*end && *end != ';' && *end != '\n')) {
        out[strcspn(out, "\n")] = '\0';
        daisy_error_set(err, "sbatch %s: %s", script_path,
                        rc < 0 ? "cannot run sbatch (is SLURM installed?)" : out);
        return -1;
    }
    return id;
}

//  The ids as "1,2,3" into buf.
static void
id_list(const long *ids, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%ld" : "%ld", ids[i]);
}

//  One line of squeue's "%i %t %r" into the matching entries of out.
static void
parse_line(const char *line, const long *ids, size_t n, slurm_status_t *out)
{
    long id;
    char state[16], reason[64] = "";
    if (sscanf(line, "%ld %15s %63s", &id, state, reason) < 2)
        return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) {
            out[i].state = !strcmp(state, "PD") ? SLURM_PENDING : SLURM_RUNNING;
            snprintf(out[i].reason, sizeof out[i].reason, "%s", reason);
        }
}

int
slurm_status(const long *ids, size_t n, slurm_status_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (slurm_status_t){SLURM_GONE, ""};
    if (n == 0)
        return 0;
    size_t size = n * 96 + 64;
    char *list = malloc(size), *text = malloc(size);
    int rc = -1;
    if (list && text) {
        id_list(ids, n, list, size);
        char *argv[] = {"squeue", "--noheader", "--format=%i %t %r", "--jobs", list, NULL};
        rc = run(argv, text, size);
    }
    //  squeue refuses a list of ids none of which it knows any more: then
    //  every one of them has ended.
    if (rc > 0 && strstr(text, "Invalid job id"))
        rc = 0;
    else if (rc == 0)
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            parse_line(line, ids, n, out);
    free(list);
    free(text);
    return rc == 0 ? 0 : -1;
}

void
slurm_cancel(const long *ids, size_t n)
{
    char **argv = calloc(n + 3, sizeof *argv), (*words)[24] = calloc(n ? n : 1, 24);
    if (argv && words && n) {
        argv[0] = "scancel";
        argv[1] = "--quiet";
        for (size_t i = 0; i < n; i++) {
            snprintf(words[i], 24, "%ld", ids[i]);
            argv[2 + i] = words[i];
        }
        char out[256];
        run(argv, out, sizeof out);
    }
    free(argv);
    free(words);
}
