/*  rundir.c - the private directory of a broker that serves local workers

    A broker that serves only local workers (daisy run, daisy_run_blockwise,
    any broker bound to the ipc endpoint whose path is a star) binds a Unix
    socket in a directory of its own, made with mkdtemp under $TMPDIR or
    /tmp: mode 0700, so no other user can connect, and a name no other run
    can take. The broker removes it when it is destroyed.

    A broker killed with SIGKILL cannot, so the next one sweeps: a
    daisy-run-* directory of this user whose socket refuses connections
    belongs to a broker that is gone (a listening socket accepts, or at
    worst queues, a connection; only a socket nobody listens on refuses
    it). A socket bound moments ago may not listen yet, and a directory
    without a socket may be a run between mkdtemp and bind, so only
    sockets older than SWEEP_AGE_S are judged, and empty directories are
    left alone. Nothing else is touched: not another user's directories,
    not symbolic links, not a directory holding anything but the socket.
*/
#include "broker_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_AGE_S 60

//  Where private directories go: $TMPDIR, unless unset or too long for a
//  socket's path (sun_path holds 108 bytes), else /tmp.
static const char *
tmp_root(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp && strlen(tmp) <= 60 ? tmp : "/tmp";
}

//  True when nobody listens on the Unix socket at `path`. Non-blocking: a
//  live broker's full backlog answers EAGAIN at once, where a blocking
//  connect would wait for it.
static bool
refuses(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    bool refused = connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0
                   && errno == ECONNREFUSED;
    close(fd);
    return refused;
}

//  Remove `dir` (under root) if it is a dead broker's: ours, a directory,
//  holding an old socket `broker` that refuses connections.
static void
sweep_one(const char *root, const char *name, time_t now)
{
    char dir[160], sock[200];
    if (snprintf(dir, sizeof dir, "%s/%s", root, name) >= (int)sizeof dir)
        return;
    snprintf(sock, sizeof sock, "%s/broker", dir);
    struct stat sd, ss;
    if (lstat(dir, &sd) != 0 || !S_ISDIR(sd.st_mode) || sd.st_uid != geteuid())
        return;
    if (lstat(sock, &ss) != 0 || !S_ISSOCK(ss.st_mode) || ss.st_uid != geteuid())
        return;
    if (now - ss.st_mtime < SWEEP_AGE_S || !refuses(sock))
        return;
    unlink(sock);
    rmdir(dir);     //  fails, and so keeps it, if anything else is inside
}

static void
rundir_sweep(void)
{
    const char *root = tmp_root();
    DIR *d = opendir(root);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "daisy-run-", 10) && strlen(e->d_name) == 16)
            sweep_one(root, e->d_name, now);
    closedir(d);
}

int
rundir_make(char *dir, size_t size)
{
    rundir_sweep();
    if (snprintf(dir, size, "%s/daisy-run-XXXXXX", tmp_root()) >= (int)size
        || !mkdtemp(dir)) {
        dir[0] = '\0';
        return -1;
    }
    return 0;
}

void
rundir_remove(char *dir)
{
    if (!dir[0])
        return;
    char sock[200];
    snprintf(sock, sizeof sock, "%s/broker", dir);
    unlink(sock);
    rmdir(dir);
    dir[0] = '\0';
}
