/*  files.c - whole files and directories of a Zarr store

    The loops that read or write a whole buffer (through short and
    interrupted calls) serve chunk files and metadata alike (mkdir -p is
    src/fsutil.c's, shared with markers and logs).
    Metadata files are small and go in and out whole: read into one
    string, written through a temporary file that is renamed over the final
    name, so that readers in other processes see the old file or the new
    one. Creating an array makes its directory, and from the first parent
    named *.zarr down, each parent a Zarr group (.zgroup for a v2 array, a
    zarr.json of node_type "group" for a v3 one) so that Python and
    zarrita can walk to the array; an existing directory is used only when
    it is empty or, with overwrite, an array (v2 or v3) whose contents are
    removed.
*/
#include "array_internal.h"
#include "fsutil.h"

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Whole files ------------------------------------------------------------

int
zarr_read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;    //  the file shrank under us
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int
zarr_write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

//  A whole small file (metadata) as a NUL-terminated string; NULL with
//  errno set on failure, EINVAL when it is not a regular file. Opened
//  without blocking: a FIFO in its place (a hostile or broken store) must
//  not hang the reader until someone writes to it.
char *
zarr_slurp(const char *file, size_t *len_out)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (bad) {
        close(fd);
        errno = bad;
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *text = malloc(len + 1);
    if (!text || zarr_read_full(fd, text, len) < 0) {
        int e = text ? errno : ENOMEM;
        free(text);
        close(fd);
        errno = e;
        return NULL;
    }
    close(fd);
    text[len] = '\0';
    if (len_out)
        *len_out = len;
    return text;
}

bool
zarr_exists(const char *dir, const char *name)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file)
        return false;
    return access(file, F_OK) == 0;
}

//  Write `dir/name` through a temporary file and rename(), so readers in
//  other processes see the old file or the new one.
int
zarr_write_atomic(const char *dir, const char *name, const char *data, size_t len,
                  daisy_error_t *err)
{
    return zarr_write_file(dir, name, data, len, false, err);
}

//  With `exclusive`, the file is put in place with link(2), which never
//  replaces: of two processes creating the same array at once, exactly one
//  succeeds, and the other is told the array exists (rename(2) let both
//  succeed, and one's writes went into the other's array).
int
zarr_write_file(const char *dir, const char *name, const char *data, size_t len,
                bool exclusive, daisy_error_t *err)
{
    char file[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/%s", dir, name) >= (int)sizeof file
        || snprintf(tmp, sizeof tmp, "%s/%s.%d.partial", dir, name, (int)getpid())
               >= (int)sizeof tmp)
        return daisy_error_set(err, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return daisy_error_set(err, "cannot create '%s': %s", tmp, strerror(errno));
    if (zarr_write_full(fd, data, len) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return daisy_error_set(err, "cannot write '%s': %s", tmp, strerror(e));
    }
    if (exclusive) {
        int rc = link(tmp, file), e = errno;
        unlink(tmp);
        if (rc == 0)
            return 0;
        if (e == EEXIST)
            return daisy_error_set(err, "already exists (made by another process at the "
                                   "same time)");
        return daisy_error_set(err, "cannot link '%s' to '%s': %s", tmp, file, strerror(e));
    }
    if (rename(tmp, file) < 0) {
        int e = errno;
        unlink(tmp);
        return daisy_error_set(err, "cannot rename '%s' to '%s': %s", tmp, file, strerror(e));
    }
    return 0;
}

//  Creating an array's directory ------------------------------------------

//  The node_type of DIR/zarr.json ("array", "group") into `out`; -1 when
//  there is no readable zarr.json with a string node_type.
int
zarr_v3_node_type(const char *dir, char *out, size_t len)
{
    char file[PATH_MAX];
    if (snprintf(file, sizeof file, "%s/zarr.json", dir) >= (int)sizeof file)
        return -1;
    json_t *root = json_load_file(file, 0, NULL);
    const char *t = json_string_value(json_object_get(root, "node_type"));
    int rc = t ? 0 : -1;
    if (t)
        snprintf(out, len, "%s", t);
    json_decref(root);
    return rc;
}

static bool
s_is_array(const char *dir)
{
    char type[16];
    return zarr_exists(dir, ".zarray")
           || (zarr_v3_node_type(dir, type, sizeof type) == 0 && strcmp(type, "array") == 0);
}

static int
s_rm_entry(const char *file, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    if (ftw->level == 0)
        return 0;
    int rc = (flag == FTW_DP) ? rmdir(file) : unlink(file);
    return rc < 0 ? -1 : 0;
}

//  Make room for a new array at path: nothing there, an empty directory,
//  or (with overwrite) a Zarr array whose contents are removed.
int
zarr_prepare_dir(const char *path, bool overwrite, daisy_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return daisy_error_set(err, "cannot stat: %s", strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return daisy_error_set(err, "exists and is not a directory");
    if (s_is_array(path)) {
        if (!overwrite)
            return daisy_error_set(err, "already exists (set overwrite to replace it)");
        if (nftw(path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
            return daisy_error_set(err, "cannot remove the old array: %s", strerror(errno));
        return 0;
    }
    DIR *dir = opendir(path);
    if (!dir)
        return daisy_error_set(err, "cannot list: %s", strerror(errno));
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(dir)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(dir);
    if (!empty)
        return daisy_error_set(err, "exists, is not empty and is not a Zarr array (left alone)");
    return 0;
}

//  mkdir -p the parents; from the first one named *.zarr down, each parent
//  is (or becomes) a Zarr group of the array's format (a parent that is a
//  group of either format already is left as it is).
int
zarr_make_parents(const char *path, int format, daisy_error_t *err)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return daisy_error_set(err, "path too long");
    memcpy(buf, path, len + 1);
    if (fsutil_mkdirs(path) < 0)
        return daisy_error_set(err, "cannot create the directory: %s", strerror(errno));
    bool in_zarr = false;
    for (size_t i = 1; i < len; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        const char *base = strrchr(buf, '/');
        base = base ? base + 1 : buf;
        size_t bl = strlen(base);
        if (bl > 5 && strcmp(base + bl - 5, ".zarr") == 0)
            in_zarr = true;
        if (in_zarr) {
            if (s_is_array(buf)) {
                daisy_error_set(err, "parent '%s' is a Zarr array", buf);
                return -1;
            }
            static const char group[] = "{\n    \"zarr_format\": 2\n}";
            static const char group3[] = "{\n    \"zarr_format\": 3,\n    \"node_type\": "
                                         "\"group\",\n    \"attributes\": {}\n}";
            bool have = zarr_exists(buf, ".zgroup") || zarr_exists(buf, "zarr.json");
            if (!have && format == 3
                && zarr_write_atomic(buf, "zarr.json", group3, sizeof group3 - 1, err))
                return -1;
            if (!have && format != 3
                && zarr_write_atomic(buf, ".zgroup", group, sizeof group - 1, err))
                return -1;
        }
        buf[i] = '/';
    }
    return 0;
}
