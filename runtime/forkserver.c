/*  forkserver.c - fork workers from a process that has no threads

    The server is a child of the caller, forked before the broker starts
    libzmq's threads. It talks to its parent over a SOCK_SEQPACKET socket
    pair (one datagram per message, never split or merged):

      parent -> server   spawn request: task, endpoint, worker id, run id,
                         with the worker's stdout/stderr descriptors
                         attached (SCM_RIGHTS)
      server -> parent   SPAWNED pid (-1: fork failed), in request order;
                         DIED pid status, whenever a worker ends

    Workers are the server's children, so the server reaps them and
    reports deaths; the parent keeps deaths that arrive while it waits for
    a SPAWNED in a small queue. Life is tied both ways: the server gets
    SIGKILL when its parent dies (parent-death signal) and workers get
    SIGTERM when the server dies, so a killed program leaves no worker
    behind; a closed socket (the parent is done) makes the server stop its
    workers and exit.
*/
#include "forkserver.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MSG_SPAWNED = 1, MSG_DIED = 2 };

typedef struct {
    uint32_t task;
    char endpoint[1024];
    char worker_id[300];
    char run_id[64];
} request_t;

typedef struct {
    int32_t kind;
    int32_t pid;
    int32_t status;
} reply_t;

#define QUEUE_MAX 1024

struct forkserver {
    pid_t pid;                  //  the server
    int sock;                   //  our end of the pair
    reply_t queue[QUEUE_MAX];   //  DIED replies read while waiting for SPAWNED
    size_t queued;
};

//  The server ------------------------------------------------------------------

typedef struct {
    int sock;
    forkserver_main_fn *main;
    void *arg;
    pid_t *children;
    size_t nchildren, cap;
} server_t;

static void
server_reply(server_t *s, int32_t kind, pid_t pid, int status)
{
    reply_t r = {kind, (int32_t)pid, status};
    while (send(s->sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void
server_forget(server_t *s, pid_t pid)
{
    for (size_t i = 0; i < s->nchildren; i++)
        if (s->children[i] == pid) {
            s->children[i] = s->children[--s->nchildren];
            return;
        }
}

static void
server_reap(server_t *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        server_forget(s, pid);
        server_reply(s, MSG_DIED, pid, status);
    }
}

//  In the new worker: its own output, the parent-death signal, then work.
static void
server_child(server_t *s, const request_t *req, int out_fd, int err_fd, pid_t server)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != server)
        _exit(1);
    close(s->sock);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close(out_fd);
    close(err_fd);
    signal(SIGCHLD, SIG_DFL);
    s->main(s->arg, req->task, req->endpoint, req->worker_id, req->run_id);
    _exit(0);
}

static void
server_spawn(server_t *s, const request_t *req, int out_fd, int err_fd)
{
    if (s->nchildren == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        pid_t *more = realloc(s->children, cap * sizeof *more);
        if (!more) {
            server_reply(s, MSG_SPAWNED, -1, 0);
            return;
        }
        s->children = more;
        s->cap = cap;
    }
    pid_t server = getpid();
    pid_t pid = fork();
    if (pid == 0)
        server_child(s, req, out_fd, err_fd, server);
    if (pid > 0)
        s->children[s->nchildren++] = pid;
    server_reply(s, MSG_SPAWNED, pid, 0);
}

//  One request; 0 at the end of the conversation (the parent closed).
static int
server_receive(server_t *s)
{
    request_t req;
    char control[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = {&req, sizeof req};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control, .msg_controllen = sizeof control};
    ssize_t n = recvmsg(s->sock, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return errno == EINTR ? 1 : 0;
    if (n == 0)
        return 0;
    int fds[2] = {-1, -1};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int)))
        memcpy(fds, CMSG_DATA(c), sizeof fds);
    if (n == (ssize_t)sizeof req && fds[0] >= 0 && fds[1] >= 0) {
        req.endpoint[sizeof req.endpoint - 1] = '\0';
        req.worker_id[sizeof req.worker_id - 1] = '\0';
        req.run_id[sizeof req.run_id - 1] = '\0';
        server_spawn(s, &req, fds[0], fds[1]);
    } else
        server_reply(s, MSG_SPAWNED, -1, 0);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return 1;
}

//  SIGTERM to every worker, up to a second's grace, then SIGKILL.
static void
server_stop_children(server_t *s)
{
    for (size_t i = 0; i < s->nchildren; i++)
        kill(s->children[i], SIGTERM);
    struct timespec step = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 100 && s->nchildren > 0; i++) {
        pid_t pid;
        while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
            server_forget(s, pid);
        if (s->nchildren)
            nanosleep(&step, NULL);
    }
    for (size_t i = 0; i < s->nchildren; i++)
        kill(s->children[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0)
        ;
}

static void
server_main(int sock, forkserver_main_fn *fn, void *arg, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    //  Ctrl-C reaches the whole foreground group; the caller decides when
    //  the workers stop, through the socket.
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    server_t s = {.sock = sock, .main = fn, .arg = arg};
    for (;;) {
        struct pollfd p = {sock, POLLIN, 0};
        int rc = poll(&p, 1, 50);
        server_reap(&s);
        if (rc > 0 && !server_receive(&s))
            break;
    }
    server_stop_children(&s);
    free(s.children);
    _exit(0);
}

//  The parent ------------------------------------------------------------------

forkserver_t *
forkserver_new(forkserver_main_fn *fn, void *arg, daisy_error_t *err)
{
    forkserver_t *self = calloc(1, sizeof *self);
    int pair[2];
    if (!self || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        daisy_error_set(err, "cannot start the fork server: %s", strerror(errno));
        free(self);
        return NULL;
    }
    pid_t parent = getpid();
    fflush(NULL);   //  or the server's workers would write our buffers again
    self->pid = fork();
    if (self->pid == 0) {
        close(pair[0]);
        server_main(pair[1], fn, arg, parent);
    }
    close(pair[1]);
    if (self->pid < 0) {
        daisy_error_set(err, "cannot fork the fork server: %s", strerror(errno));
        close(pair[0]);
        free(self);
        return NULL;
    }
    self->sock = pair[0];
    return self;
}

void
forkserver_destroy(forkserver_t **self_p)
{
    forkserver_t *self = *self_p;
    if (!self)
        return;
    close(self->sock);      //  end of conversation: the server stops its workers
    while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    free(self);
    *self_p = NULL;
}

static void
queue_death(forkserver_t *self, const reply_t *r)
{
    if (self->queued < QUEUE_MAX)
        self->queue[self->queued++] = *r;
}

pid_t
forkserver_spawn(void *arg, uint32_t task, const char *endpoint, const char *worker_id,
                 const char *run_id, int out_fd, int err_fd)
{
    forkserver_t *self = arg;
    request_t req = {.task = task};
    snprintf(req.endpoint, sizeof req.endpoint, "%s", endpoint);
    snprintf(req.worker_id, sizeof req.worker_id, "%s", worker_id);
    snprintf(req.run_id, sizeof req.run_id, "%s", run_id ? run_id : "");
    char control[CMSG_SPACE(2 * sizeof(int))];
    memset(control, 0, sizeof control);
    struct iovec iov = {&req, sizeof req};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    memcpy(CMSG_DATA(c), (int[]){out_fd, err_fd}, 2 * sizeof(int));
    ssize_t n;
    while ((n = sendmsg(self->sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof req)
        return -1;
    for (;;) {
        reply_t r;
        n = recv(self->sock, &r, sizeof r, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof r)
            return -1;
        if (r.kind == MSG_SPAWNED)
            return r.pid;
        queue_death(self, &r);
    }
}

int
forkserver_reap(void *arg, pid_t *pid, int *status)
{
    forkserver_t *self = arg;
    reply_t r;
    if (self->queued > 0) {
        r = self->queue[0];
        memmove(self->queue, self->queue + 1, --self->queued * sizeof r);
    } else if (recv(self->sock, &r, sizeof r, MSG_DONTWAIT) != (ssize_t)sizeof r
               || r.kind != MSG_DIED)
        return 0;
    *pid = r.pid;
    *status = r.status;
    return 1;
}
