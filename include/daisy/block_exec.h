/*  daisy/block_exec.h - run a shell command for one block

    A task's `command` is run once per block through /bin/sh, with the block
    in the environment (comma-separated integers for ROIs):

      DAISY_TASK_ID, DAISY_BLOCK_ID, DAISY_ATTEMPT, DAISY_READ_OFFSET,
      DAISY_READ_SHAPE, DAISY_WRITE_OFFSET, DAISY_WRITE_SHAPE,
      and DAISY_BROKER, DAISY_WORKER_ID when given.

    Success is exit status 0. The serial runner and daisy-worker --exec
    both run commands through this one function.

    A command given a process group of its own (daisy-worker, daisy run
    --serial) runs under a
    guard process that leads the group and kills all of it when the caller
    dies, by any means (SIGKILL, the OOM killer): a block is never left
    running after its worker, to run again elsewhere at the same time.
    The guard holds none of the caller's descriptors but stdin, stdout and
    stderr. When the command ends, whatever it left in its group (a
    background process, a child still handling a SIGTERM) goes with it. On request the guard also stops the command while its caller
    is stopped (freeze_with_caller).
*/
#ifndef DAISY_BLOCK_EXEC_H
#define DAISY_BLOCK_EXEC_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/block_exec.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include <stdbool.h>
#include <sys/types.h>

#include "daisy/block.h"
#include "daisy/error.h"
#include "daisy/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *broker;      //  DAISY_BROKER, or NULL
    const char *worker_id;   //  DAISY_WORKER_ID, or NULL
    int out_fd;              //  the command's stdout, or -1 to inherit
    int err_fd;              //  the command's stderr, or -1 to inherit
    //  When not NULL: the command runs in a process group of its own, whose
    //  id is stored here while it runs (0 otherwise), so that a signal
    //  handler can stop the whole command with kill(-*group, sig). Signals
    //  that arrive while the command starts wait, in the calling thread,
    //  until the id is stored. The group's leader is a guard process that
    //  kills the group when the thread that called daisy_block_exec ends
    //  (the kernel tells it of a thread, not of the process): that thread
    //  waits for the command, so it ends first only if the process dies.
    volatile pid_t *group;
    //  When not NULL: the command's stderr passes through a pipe on its way
    //  to err_fd (or this process's stderr), and the last non-empty line it
    //  wrote is kept here (at most tail_size - 1 bytes; "" when none), so
    //  that a failure can say why where the user looks first.
    char *tail;
    size_t tail_size;
    //  When not 0: a command still running after this many milliseconds
    //  is stopped, with SIGTERM to its group (to it alone without one) and
    //  SIGKILL DAISY_EXEC_GRACE_MS later if it is still there.
    uint32_t timeout_ms;
    //  When not 0: the time (daisy_exec_clock_ms) at which the block's
    //  timeout began, when the command is not the first process run for
    //  the block: a check command and the command after it share one
    //  timeout, as the broker counts it, instead of one each.
    int64_t since_ms;
    //  With a group: the guard also watches the calling process, every
    //  DAISY_GUARD_WATCH_MS, and stops the command's group with SIGSTOP
    //  when it finds the caller stopped (SIGSTOP of the caller alone, a
    //  debugger): a worker that cannot speak for its block must not let
    //  it run on while its broker gives the block to another. The guard
    //  never continues the group: the caller does, with
    //  kill(-*group, SIGCONT), once it knows the block is still its own
    //  (daisy-worker: once its broker has said so; see
    //  daisy_worker_set_hold). The guard itself leaves the group to do
    //  this, and still kills the group when the caller dies.
    bool freeze_with_caller;
} daisy_exec_env_t;

//  How often a guard with freeze_with_caller looks at its caller.
#define DAISY_GUARD_WATCH_MS 100

//  Milliseconds of CLOCK_MONOTONIC, the clock of since_ms.
DAISY_EXPORT int64_t daisy_exec_clock_ms(void);

//  How long a command stopped at its timeout has between SIGTERM and SIGKILL.
#define DAISY_EXEC_GRACE_MS 5000

//  Run `command` for `block` and wait for it. Returns 0 when it ran, with
//  *status its exit status (128 + signal number when killed by a signal);
//  1 when it was stopped at env->timeout_ms, with *status how it ended and
//  a message saying so ("timeout: still running after 3 s, stopped with
//  SIGTERM"; "still running 3 s after the block's check began" with since_ms); -1
//  with a message when it could not be started.
DAISY_EXPORT int daisy_block_exec(const char *command, const daisy_block_t *block,
                                  const daisy_exec_env_t *env, int *status, daisy_error_t *err);

//  Write the block's variables as "NAME=value" strings into vars (each of
//  `size` bytes); returns how many (at most DAISY_BLOCK_ENV_COUNT).
#define DAISY_BLOCK_ENV_COUNT 9
DAISY_EXPORT int daisy_block_env(const daisy_block_t *block, const daisy_exec_env_t *env,
                                 char vars[][256], size_t size);

#ifdef __cplusplus
}
#endif
#endif
