/*  test_block_exec.c - a block's shell command: status, tail, group, guard

    Real processes throughout. A command with a process group of its own
    (as daisy-worker runs it) must behave as before the guard came (still
    our child, in a group of its own, statuses and the stderr tail as
    they were), must be stopped at its timeout, SIGTERM first and SIGKILL
    when it ignores that, and must die with its caller when the caller is
    killed with SIGKILL. Commands are found with pgrep by a `sleep` of a
    value no other test uses (it holds this test's pid).
*/
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static daisy_block_t
block(void)
{
    int64_t offset[1] = {0}, shape[1] = {10};
    return (daisy_block_t){.task_id = "t", .block_id = 5, .read_roi = tu_roi(1, offset, shape),
                           .write_roi = tu_roi(1, offset, shape)};
}

//  "sleep 12NN.PID": a command line only this test runs.
static void
unique_sleep(char *buf, size_t size, int n)
{
    snprintf(buf, size, "sleep %d.%d", 1200 + n, (int)getpid());
}

static bool
running(const char *command_line)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "pgrep -f '^%s$' > /dev/null", command_line);
    return system(cmd) == 0;
}

//  What a failed test leaves running goes (it would hold criterion's pipe).
static void
stop(const char *command_line)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "pkill -KILL -f '^%s$'", command_line);
    if (system(cmd) == -1)
        perror("pkill");
}

//  Whether command_line is running (want) within ms milliseconds.
static bool
wait_running(const char *command_line, bool want, int ms)
{
    for (int64_t end = tu_now_ms() + ms; tu_now_ms() < end; usleep(20000))
        if (running(command_line) == want)
            return true;
    return running(command_line) == want;
}

static volatile pid_t group;

//  Run cmd in a group of its own with a timeout, as daisy-worker does; how
//  long it took in *took.
static int
run_timed(const char *cmd, uint32_t timeout_ms, int *status, daisy_error_t *err, int64_t *took)
{
    char tail[256];
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group, .tail = tail,
                            .tail_size = sizeof tail, .timeout_ms = timeout_ms};
    daisy_block_t b = block();
    int64_t start = tu_now_ms();
    int rc = daisy_block_exec(cmd, &b, &env, status, err);
    *took = tu_now_ms() - start;
    return rc;
}

Test(block_exec, a_grouped_command_is_our_child_in_a_group_of_its_own)
{
    char path[] = "/tmp/daisy-test-exec-XXXXXX", tail[256];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    daisy_exec_env_t env = {.out_fd = fd, .err_fd = -1, .group = &group, .tail = tail,
                            .tail_size = sizeof tail};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    int rc = daisy_block_exec("echo $PPID $(cut -d' ' -f5 /proc/$$/stat) $DAISY_BLOCK_ID; "
                              "echo first >&2; echo last words >&2; exit 3",
                              &b, &env, &status, &err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(status, 3);
    cr_assert_str_eq(tail, "last words");
    cr_assert_eq(group, 0, "the group is published only while the command runs");
    FILE *f = fdopen(fd, "r");
    rewind(f);
    long ppid = 0, pgid = 0, id = 0;
    cr_assert_eq(fscanf(f, "%ld %ld %ld", &ppid, &pgid, &id), 3);
    fclose(f);
    unlink(path);
    cr_assert_eq(ppid, getpid(), "$PPID is the caller, as before the guard");
    cr_assert_neq(pgid, getpgrp(), "the command has a group of its own");
    cr_assert_eq(id, 5);
}

//  The tail becomes an error in the summary, the feed and on the wire:
//  bytes that are not UTF-8 (Latin-1 here), escapes and a NUL come out as
//  '?', well-formed characters as they were, and a tail too small for the
//  line ends before a character, never inside one.
Test(block_exec, the_tail_is_cleaned_to_one_line_of_utf8)
{
    char tail[256], small[6];
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .tail = tail, .tail_size = sizeof tail};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    cr_assert_eq(daisy_block_exec("printf 'caf\\351 \\033[31mred\\000 \\303\\251t\\303\\251\\n' >&2",
                                  &b, &env, &status, &err), 0);
    cr_assert_str_eq(tail, "caf? ?[31mred? \u00e9t\u00e9");
    env.tail = small;
    env.tail_size = sizeof small;
    cr_assert_eq(daisy_block_exec("printf 'ab\\303\\251\\303\\251\\n' >&2", &b, &env, &status,
                                  &err), 0);
    cr_assert_str_eq(small, "ab\u00e9", "the second 2-byte character does not fit");
}

//  The guard holds none of the caller's descriptors (here: a file open
//  without close-on-exec) beyond stdin, stdout and stderr, once started.
Test(block_exec, the_guard_holds_only_the_standard_descriptors)
{
    char path[] = "/tmp/daisy-test-exec-XXXXXX", tail[256];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group, .tail = tail,
                            .tail_size = sizeof tail};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    //  The guard closes them as it starts, while the command starts too:
    //  look until it has (2 s at most).
    int rc = daisy_block_exec("guard=$(cut -d' ' -f5 /proc/$$/stat); "
                              "for i in $(seq 100); do "
                              "[ \"$(echo $(ls /proc/$guard/fd))\" = '0 1 2' ] && break; "
                              "sleep 0.02; done; echo $(ls /proc/$guard/fd) >&2",
                              &b, &env, &status, &err);
    close(fd);
    cr_assert_eq(rc, 0);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(tail, "0 1 2");
}

Test(block_exec, a_command_killed_by_a_signal_reports_128_plus_it)
{
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    cr_assert_eq(daisy_block_exec("kill -TERM $$", &b, &env, &status, &err), 0);
    cr_assert_eq(status, 128 + SIGTERM);
}

Test(block_exec, a_command_past_its_timeout_is_stopped_with_its_children)
{
    char sleep[64], cmd[128];
    unique_sleep(sleep, sizeof sleep, 1);
    snprintf(cmd, sizeof cmd, "%s; echo not stopped", sleep);
    daisy_error_t err;
    int status = -1;
    int64_t took;
    int rc = run_timed(cmd, 300, &status, &err, &took);
    cr_assert_eq(rc, 1, "stopped at the timeout: %d", rc);
    cr_assert_eq(status, 128 + SIGTERM);
    cr_assert_str_eq(err.msg, "timeout: still running after 0.3 s, stopped with SIGTERM");
    cr_assert_geq(took, 300, "stopped before its timeout");
    cr_assert(wait_running(sleep, false, 1000), "'%s' outlived its timeout", sleep);
}

//  A check and the command after it share the block's timeout: a command
//  whose check used it all is stopped as it starts (without since_ms it
//  would run its 60 s, past the test's own timeout).
Test(block_exec, a_command_after_its_check_has_what_is_left_of_the_timeout, .timeout = 30)
{
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group, .timeout_ms = 60000,
                            .since_ms = daisy_exec_clock_ms() - 60000};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    cr_assert_eq(daisy_block_exec("sleep 60 & wait", &b, &env, &status, &err), 1);
    cr_assert_eq(status, 128 + SIGTERM);
    cr_assert_str_eq(err.msg, "timeout: still running 60 s after the block's check began, "
                              "stopped with SIGTERM");
}

Test(block_exec, a_command_that_ignores_sigterm_gets_sigkill_after_the_grace)
{
    char sleep[64], cmd[128];
    unique_sleep(sleep, sizeof sleep, 2);
    snprintf(cmd, sizeof cmd, "trap '' TERM; %s; echo not stopped", sleep);
    daisy_error_t err;
    int status = -1;
    int64_t took;
    int rc = run_timed(cmd, 200, &status, &err, &took);
    cr_assert_eq(rc, 1);
    cr_assert_eq(status, 128 + SIGKILL);
    cr_assert(strstr(err.msg, "stopped with SIGKILL"), "%s", err.msg);
    cr_assert_geq(took, 200 + DAISY_EXEC_GRACE_MS, "SIGKILL before the grace was over");
    cr_assert(wait_running(sleep, false, 1000), "'%s' outlived its SIGKILL", sleep);
}

//  /bin/sh dies of the SIGTERM, its child ignores it: the child is
//  killed all the same, at once, not left to run on.
Test(block_exec, a_child_that_ignores_sigterm_goes_with_the_timed_out_command)
{
    char sleep[64], cmd[128];
    unique_sleep(sleep, sizeof sleep, 4);
    snprintf(cmd, sizeof cmd, "(trap '' TERM; %s); echo not stopped", sleep);
    daisy_error_t err;
    int status = -1;
    int64_t took;
    int rc = run_timed(cmd, 200, &status, &err, &took);
    bool gone = wait_running(sleep, false, 1000);
    stop(sleep);
    cr_assert_eq(rc, 1);
    cr_assert_eq(status, 128 + SIGTERM);
    cr_assert(strstr(err.msg, "stopped with SIGTERM"), "no grace waited for: %s", err.msg);
    cr_assert(gone, "'%s' outlived its timeout", sleep);
}

//  What a command leaves in its group when it ends (a process in the
//  background, or a child still handling the SIGTERM that ended its shell)
//  goes with it: it would run on after the block was reported, beside the
//  block's next attempt.
Test(block_exec, what_a_command_leaves_behind_goes_with_it)
{
    char sleep[64], cmd[128];
    unique_sleep(sleep, sizeof sleep, 6);
    snprintf(cmd, sizeof cmd, "%s & exit 0", sleep);
    daisy_error_t err;
    int status = -1;
    int64_t took;
    int rc = run_timed(cmd, 0, &status, &err, &took);
    bool gone = wait_running(sleep, false, 1000);
    stop(sleep);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_eq(status, 0);
    cr_assert(gone, "'%s' outlived its command", sleep);
}

//  The worker's fate: a caller killed with SIGKILL while its command runs.
//  The command (a grandchild of the caller, under sh) goes within 2 s.
Test(block_exec, a_command_dies_with_its_caller_killed_by_sigkill)
{
    char sleep[64], cmd[128];
    unique_sleep(sleep, sizeof sleep, 3);
    snprintf(cmd, sizeof cmd, "%s; echo outlived", sleep);
    pid_t caller = fork();
    cr_assert_geq(caller, 0);
    if (caller == 0) {
        daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group};
        daisy_block_t b = block();
        daisy_error_t err;
        int status;
        daisy_block_exec(cmd, &b, &env, &status, &err);
        _exit(0);
    }
    bool started = wait_running(sleep, true, 5000);
    kill(caller, SIGKILL);
    waitpid(caller, NULL, 0);
    cr_assert(started, "the command never started");
    bool gone = wait_running(sleep, false, 2000);
    stop(sleep);
    cr_assert(gone, "'%s' outlived its caller", sleep);
}

Test(block_exec, a_plain_command_runs_in_the_callers_group)
{
    char tail[256];
    daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .tail = tail, .tail_size = sizeof tail};
    daisy_block_t b = block();
    daisy_error_t err;
    int status = -1;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "[ $(cut -d' ' -f5 /proc/$$/stat) = %d ] || exit 9; echo ok >&2",
             (int)getpgrp());
    cr_assert_eq(daisy_block_exec(cmd, &b, &env, &status, &err), 0);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(tail, "ok");
}

//  Size of the file at `path` (0 when missing).
static long
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

//  Whether process `pid` is stopped (state T) within ms milliseconds.
static bool
process_stopped(pid_t pid, int ms)
{
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    for (int64_t end = tu_now_ms() + ms;; usleep(20000)) {
        FILE *f = fopen(path, "r");
        bool got = f && fgets(stat, sizeof stat, f);
        if (f)
            fclose(f);
        const char *paren = got ? strrchr(stat, ')') : NULL;
        if (paren && paren[1] && paren[2] == 'T')
            return true;
        if (tu_now_ms() >= end)
            return false;
    }
}

static bool
process_gone(pid_t pid, int ms)
{
    for (int64_t end = tu_now_ms() + ms; tu_now_ms() < end; usleep(20000))
        if (kill(pid, 0) != 0)
            return true;
    return kill(pid, 0) != 0;
}

//  A worker stopped alone (SIGSTOP, a debugger) while its command runs:
//  the guard stops the command, so that it does not run on beside the
//  attempt the broker gives to another worker; it does not continue it
//  when the caller is continued (that is the caller's call: the block may
//  be another's by then); and it still kills it when the caller dies.
Test(block_exec, a_watching_guard_stops_the_command_while_its_caller_is_stopped,
     .timeout = 30)
{
    char dir[] = "/tmp/daisy-test-freeze-XXXXXX", ticks[64], pidfile[64], cmd[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ticks, sizeof ticks, "%s/ticks", dir);
    snprintf(pidfile, sizeof pidfile, "%s/pid", dir);
    snprintf(cmd, sizeof cmd, "echo $$ > %s.new; mv %s.new %s; "
             "while :; do echo x >> %s; sleep 0.02; done", pidfile, pidfile, pidfile, ticks);
    pid_t caller = fork();
    cr_assert_geq(caller, 0);
    if (caller == 0) {
        daisy_exec_env_t env = {.out_fd = -1, .err_fd = -1, .group = &group,
                                .freeze_with_caller = true};
        daisy_block_t b = block();
        daisy_error_t err;
        int status;
        daisy_block_exec(cmd, &b, &env, &status, &err);
        _exit(0);
    }
    long sh = 0;
    for (int64_t end = tu_now_ms() + 5000; tu_now_ms() < end && file_size(ticks) == 0;)
        usleep(20000);
    FILE *f = fopen(pidfile, "r");
    bool started = f && fscanf(f, "%ld", &sh) == 1;
    if (f)
        fclose(f);
    kill(caller, SIGSTOP);
    bool frozen = started && process_stopped((pid_t)sh, 5000);
    long stopped_at = file_size(ticks);
    usleep(3 * DAISY_GUARD_WATCH_MS * 1000);
    long later = file_size(ticks);
    kill(caller, SIGCONT);
    usleep(3 * DAISY_GUARD_WATCH_MS * 1000);
    long continued = file_size(ticks);
    kill(caller, SIGKILL);
    waitpid(caller, NULL, 0);
    bool gone = started && process_gone((pid_t)sh, 2000);
    if (started && !gone)
        kill((pid_t)sh, SIGKILL);
    unlink(ticks);
    unlink(pidfile);
    rmdir(dir);
    cr_assert(started, "the command never started");
    cr_assert(frozen, "the command was not stopped with its caller");
    cr_assert_eq(later, stopped_at, "the command ran on while its caller was stopped "
                 "(%ld bytes, then %ld)", stopped_at, later);
    cr_assert_eq(continued, later, "the guard continued the command itself");
    cr_assert(gone, "the stopped command outlived its caller");
}
