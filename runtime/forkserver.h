/*  forkserver.h - fork workers from a process that has no threads

    POSIX allows a child forked from a multi-threaded process only
    async-signal-safe calls until it execs; a broker has libzmq's threads,
    so a worker forked from it may deadlock on a lock some thread held at
    the fork (seen under ASan: an allocator lock). The fork server is
    forked first, while the caller is still single-threaded, and forks
    every worker from that clean image on request. Internal to libdaisy.
*/
#ifndef DAISY_FORKSERVER_H
#define DAISY_FORKSERVER_H

#include <stdint.h>
#include <sys/types.h>

#include "daisy/error.h"

//  What a forked worker runs; it must not return (it calls _exit).
typedef void (forkserver_main_fn)(void *arg, uint32_t task, const char *endpoint,
                                  const char *worker_id, const char *run_id);

typedef struct forkserver forkserver_t;

//  Fork the server now. Call before any thread exists in this process.
forkserver_t *forkserver_new(forkserver_main_fn *fn, void *arg, daisy_error_t *err);
//  Ask the server to stop its workers (SIGTERM, then SIGKILL after a
//  second) and exit; wait for it.
void forkserver_destroy(forkserver_t **self_p);

//  Fork one worker with stdout/stderr on the given descriptors; its pid,
//  or -1. Matches daisy_spawn_fn with the server as `arg`.
pid_t forkserver_spawn(void *self, uint32_t task, const char *endpoint, const char *worker_id,
                       const char *run_id, int out_fd, int err_fd);
//  A worker that ended: 1 with its pid and wait status, 0 when none has
//  (never blocks). Matches daisy_reap_fn.
int forkserver_reap(void *self, pid_t *pid, int *status);

#endif
