/*  markers_inspect.c - what a marker directory holds, read without a
    pipeline (for `daisy markers`)

    Both formats are the same kind of Zarr v3 array (uint8, one chunk of
    raw bytes, see daisy/markers.h and markers_daisy2.c); they differ in
    the attribute that holds the layout hash. Everything is read, nothing
    written: a damaged directory is described (the file and the field at
    fault) and left as it is. Done blocks are counted over the chunk's
    data extents only (SEEK_DATA), as markers.c does at open, so a sparse
    chunk of 10^12 blocks is counted as fast as its done part allows.
*/
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "markers_internal.h"

//  Bytes not 0 in the file, reading only its data extents; -1 on error.
static int
count_done(int fd, uint64_t size, uint64_t *done)
{
    static const size_t span = 1 << 20;
    uint8_t *buf = malloc(span);
    if (!buf)
        return -1;
    *done = 0;
    off_t pos = 0;
    int rc = 0;
    while (rc == 0 && (uint64_t)pos < size) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0)
            break;      //  ENXIO: no data after pos
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > size)
            hole = (off_t)size;
        for (off_t at = data; rc == 0 && at < hole;) {
            size_t want = (size_t)(hole - at) < span ? (size_t)(hole - at) : span;
            ssize_t got = pread(fd, buf, want, at);
            rc = got > 0 ? 0 : -1;
            for (ssize_t i = 0; i < got; i++)
                *done += buf[i] != 0;
            at += got > 0 ? got : 0;
        }
        pos = hole;
    }
    free(buf);
    return rc;
}

//  The format, task and layout from the attributes.
static int
read_attributes(const char *path, const char *task_dir, json_t *meta,
                daisy_markers_info_t *info, daisy_error_t *err)
{
    json_t *attrs = json_object_get(meta, "attributes");
    const char *task = NULL, *layout = NULL;
    if (json_unpack(attrs, "{s:{s:s, s:s}}", "daisy", "task", &task, "layout", &layout) == 0)
        info->format = DAISY_MARKERS_DAISY_C;
    else if (json_unpack(attrs, "{s:s}", "daisy_task_hash", &layout) == 0) {
        info->format = DAISY_MARKERS_DAISY2;
        const char *slash = strrchr(task_dir, '/');
        task = slash ? slash + 1 : task_dir;
    } else
        return daisy_error_set(err, "'%s': neither attributes.daisy.task and .layout "
                               "(daisy-C markers) nor attributes.daisy_task_hash (daisy 2.0 "
                               "markers): not a marker array, or damaged", path);
    snprintf(info->task, sizeof info->task, "%s", task);
    snprintf(info->layout, sizeof info->layout, "%s", layout);
    return 0;
}

//  Shape, data type and (ours) the recorded block count.
static int
read_shape(const char *path, json_t *meta, daisy_markers_info_t *info, daisy_error_t *err)
{
    json_t *shape = json_object_get(meta, "shape");
    size_t dims = json_array_size(shape);
    if (dims < 1 || dims > DAISY_MAX_DIMS)
        return daisy_error_set(err, "'%s': field \"shape\" is not a list of 1 to %d integers",
                               path, DAISY_MAX_DIMS);
    info->dims = (int)dims;
    info->blocks = 1;
    for (size_t d = 0; d < dims; d++) {
        json_t *v = json_array_get(shape, d);
        info->shape[d] = json_integer_value(v);
        if (!json_is_integer(v) || info->shape[d] < 0
            || __builtin_mul_overflow(info->blocks, (uint64_t)info->shape[d], &info->blocks))
            return daisy_error_set(err, "'%s': field \"shape\": entry %zu is not a count of "
                                   "blocks", path, d);
    }
    const char *dtype = json_string_value(json_object_get(meta, "data_type"));
    if (!dtype || strcmp(dtype, "uint8") != 0)
        return daisy_error_set(err, "'%s': field \"data_type\" is not \"uint8\"", path);
    json_t *blocks = json_object_get(json_object_get(json_object_get(meta, "attributes"),
                                                     "daisy"), "blocks");
    if (info->format == DAISY_MARKERS_DAISY_C
        && (uint64_t)json_integer_value(blocks) != info->blocks)
        return daisy_error_set(err, "'%s': field \"attributes.daisy.blocks\" is not the "
                               "product of \"shape\" (%llu)", path,
                               (unsigned long long)info->blocks);
    return 0;
}

//  The chunk file: its size is the shape's, its marks are counted.
static int
read_chunk(const char *task_dir, daisy_markers_info_t *info, daisy_error_t *err)
{
    markers_chunk_path(task_dir, info->dims, info->chunk, sizeof info->chunk);
    int fd = fsutil_open_regular(info->chunk, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return daisy_error_set(err, "cannot read '%s': %s", info->chunk,
                               fd == FSUTIL_NOT_REGULAR ? "not a regular file" : strerror(e));
    }
    int rc = 0;
    if ((uint64_t)st.st_size != info->blocks)
        rc = daisy_error_set(err, "'%s' holds %lld bytes, but field \"shape\" of "
                             "'%s/zarr.json' makes %llu blocks", info->chunk,
                             (long long)st.st_size, task_dir,
                             (unsigned long long)info->blocks);
    else if (count_done(fd, info->blocks, &info->done) != 0)
        rc = daisy_error_set(err, "cannot read '%s': %s", info->chunk, strerror(errno));
    close(fd);
    return rc;
}

int
daisy_markers_inspect(const char *task_dir, daisy_markers_info_t *info, daisy_error_t *err)
{
    memset(info, 0, sizeof *info);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/zarr.json", task_dir);
    json_error_t jerr;
    json_t *meta = markers_load_json(path, &jerr);
    if (!meta && access(path, F_OK) != 0)
        return daisy_error_set(err, "cannot read '%s': %s", path, strerror(errno));
    if (!meta && jerr.line <= 0)
        return daisy_error_set(err, "cannot read '%s': %s", path, jerr.text);
    if (!meta)
        return daisy_error_set(err, "'%s' is damaged: line %d: %s", path, jerr.line,
                               jerr.text);
    int rc = read_attributes(path, task_dir, meta, info, err);
    if (rc == 0)
        rc = read_shape(path, meta, info, err);
    json_decref(meta);
    return rc == 0 ? read_chunk(task_dir, info, err) : rc;
}
