/*  fsutil.c - small file-system helpers shared inside libdaisy

    Markers, logs and arrays all create nested directories on demand; this
    is the one place that does it.
*/
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

//  One level: made, or there already as a directory (ENOTDIR otherwise).
static int
mkdir_one(const char *path)
{
    if (mkdir(path, 0777) == 0)
        return 0;
    struct stat st;
    if (errno != EEXIST || stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int
fsutil_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++)
        if (*p == '/' && p[-1] != '/') {
            *p = '\0';
            if (mkdir_one(buf) != 0)
                return -1;
            *p = '/';
        }
    return mkdir_one(buf);
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int
fsutil_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
fsutil_open_regular(const char *path, int flags)
{
    //  O_NONBLOCK: opening a FIFO for reading waits for a writer.
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st) != 0 ? -1
           : !S_ISREG(st.st_mode) ? FSUTIL_NOT_REGULAR
           : fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 ? -1 : 0;
    if (rc == 0)
        return fd;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}
