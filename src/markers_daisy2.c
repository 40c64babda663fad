/*  markers_daisy2.c - daisy 2.0's done markers: their layout hash, and
    taking their markers over so that a daisy 2.0 run resumes here

    What daisy 2.0 writes (funkelab/daisy, branch v2.0,
    daisy-core/src/done_marker.rs, read there; nothing copied):

      - per task a directory (the task's done_marker_path, by default
        BASEDIR/TASK_ID) holding a single-chunk Zarr v3 array: uint8, the
        `bytes` codec only, chunk DIR/c/0/../0, one byte per block, 1 done;
      - its shape G: per dimension max(1, ceil(total ROI shape / write
        shape)), the ceiling taken in floating point; the total ROI is the
        task's total *read* ROI, so G is usually larger than our grid;
      - a block's element: (write ROI offset - total ROI offset) / write
        shape per dimension, C order over G. Read ROIs contain write ROIs
        (pipeline.c checks it), so that is our grid position k plus
        id_shift = floor(context / write shape): daisy's block index, the
        one its block ids are Cantor numbers of;
      - attributes.daisy_task_hash: SHA-256, as 64 hex digits, of
        "daisy-done-marker:v1\n", then for "total", "read" and "write" (the
        task's ROIs as given) the label, ":offset=", each offset as 8
        little-endian bytes followed by ",", ";shape=", each extent the
        same way, and ";"; then "fit=" and the fit as Rust prints the enum
        (Valid, Overhang, Shrink).

    Why convert rather than read their array in place: every mark here is
    an index into our grid, and the full-disk safety of markers.c works on
    that file. Mapping each index into G on every block, counting only the
    bytes that are blocks of ours, and keeping two metadata formats current
    would put a second layout under every code path that has to be right
    when the disk fills up. A one-time conversion keeps one format behind
    the hot path, checks their array once (hash, shape, codecs, chunk
    size), and is easy to make safe:

      1. their bytes are copied, block by block of our grid, into a new
         directory TDIR~import (our zarr.json, a sparse chunk written with
         pwrite whose errors are checked, then fsync'ed): a failure
         removes it and leaves theirs untouched;
      2. TDIR and TDIR~import are swapped in one atomic rename
         (RENAME_EXCHANGE; where the filesystem cannot, theirs is moved
         aside first, and a crash in between leaves no markers: blocks
         run again, none is skipped wrongly);
      3. theirs is kept as TDIR~daisy2 (the first free of ~daisy2,
         ~daisy2.1, ...): nothing of a daisy 2.0 run is ever deleted, and
         renaming it back lets daisy 2.0 carry on from it.

    '~' is escaped in our task directories (%7E), so these names never
    meet a task of ours.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "graph_internal.h"
#include "markers_internal.h"
#include <sodium.h>

//  Bytes copied at a time.
#define SPAN (1 << 20)

static void
hash_roi(crypto_hash_sha256_state *h, const char *label, const daisy_roi_t *roi)
{
    crypto_hash_sha256_update(h, (const uint8_t *)label, strlen(label));
    for (int part = 0; part < 2; part++) {
        const int64_t *v = part ? roi->shape : roi->offset;
        crypto_hash_sha256_update(h, (const uint8_t *)(part ? ";shape=" : ":offset="), part ? 7 : 8);
        for (int d = 0; d < roi->dims; d++) {
            uint8_t le[8];
            for (int i = 0; i < 8; i++)
                le[i] = (uint8_t)((uint64_t)v[d] >> (8 * i));
            crypto_hash_sha256_update(h, le, 8);
            crypto_hash_sha256_update(h, (const uint8_t *)",", 1);
        }
    }
    crypto_hash_sha256_update(h, (const uint8_t *)";", 1);
}

void
daisy_markers_daisy2_hash(const daisy_graph_t *graph, uint32_t task, char out[65])
{
    static const char *fits[] = {[DAISY_FIT_VALID] = "Valid", [DAISY_FIT_OVERHANG] = "Overhang",
                                 [DAISY_FIT_SHRINK] = "Shrink"};
    const daisy_task_t *t = daisy_pipeline_task(daisy_graph_pipeline(graph), task);
    daisy_roi_t rois[3] = {daisy_task_total_roi(t), daisy_task_read_roi(t),
                           daisy_task_write_roi(t)};
    static const char *labels[3] = {"total", "read", "write"};
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)"daisy-done-marker:v1\n", 21);
    for (int i = 0; i < 3; i++)
        hash_roi(&h, labels[i], &rois[i]);
    const char *fit = fits[daisy_task_fit(t)];
    crypto_hash_sha256_update(&h, (const uint8_t *)"fit=", 4);
    crypto_hash_sha256_update(&h, (const uint8_t *)fit, strlen(fit));
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h, digest);
    sodium_bin2hex(out, 65, digest, sizeof digest);
}

//  daisy 2.0's grid for a task (the shape of its marker array).
static void
daisy2_grid(const graph_task_t *t, int64_t *grid)
{
    for (int d = 0; d < t->dims; d++) {
        int64_t extent = t->tr_end[d] - t->tr_begin[d];
        int64_t q = (int64_t)ceil((double)extent / (double)t->ws[d]);
        grid[d] = q > 1 ? q : 1;
    }
}

static void
format_shape(const int64_t *v, int dims, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "[");
    for (int d = 0; d < dims && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, d ? ", %lld" : "%lld", (long long)v[d]);
    snprintf(out + (used < size ? used : size - 1), size - (used < size ? used : size - 1), "]");
}

//  Their zarr.json is what daisy 2.0 writes for this task: shape G, one
//  chunk, uint8, bytes codec only.
static int
check_metadata(const char *tdir, const graph_task_t *t, json_t *meta, const int64_t *grid,
               daisy_error_t *err)
{
    json_t *shape = json_object_get(meta, "shape");
    json_t *chunks = json_object_get(json_object_get(json_object_get(meta, "chunk_grid"),
                                                     "configuration"), "chunk_shape");
    json_t *codecs = json_object_get(meta, "codecs");
    const char *dtype = json_string_value(json_object_get(meta, "data_type"));
    bool ok = json_array_size(shape) == (size_t)t->dims && json_equal(shape, chunks);
    for (int d = 0; ok && d < t->dims; d++)
        ok = json_integer_value(json_array_get(shape, (size_t)d)) == grid[d];
    char want[160];
    format_shape(grid, t->dims, want, sizeof want);
    if (!ok)
        return daisy_error_input(err, "task '%s': '%s/zarr.json': field \"shape\" (and "
                               "chunk_grid's chunk_shape) should be daisy 2.0's grid %s for "
                               "this task; nothing changed", t->id, tdir, want);
    const char *codec = json_string_value(json_object_get(json_array_get(codecs, 0), "name"));
    if (!dtype || strcmp(dtype, "uint8") || json_array_size(codecs) != 1 || !codec
        || strcmp(codec, "bytes"))
        return daisy_error_input(err, "task '%s': '%s/zarr.json': fields \"data_type\" and "
                               "\"codecs\" should be uint8 and [bytes] as daisy 2.0 writes "
                               "them; nothing changed", t->id, tdir);
    return 0;
}

//  Copy n bytes at their offset `from` to ours at `to`, skipping zeros.
static int
copy_span(int in, int out, uint64_t from, uint64_t to, uint64_t n, uint8_t *buf)
{
    while (n > 0) {
        size_t want = n < SPAN ? (size_t)n : SPAN;
        ssize_t got = pread(in, buf, want, (off_t)from);
        if (got != (ssize_t)want) {
            errno = got < 0 ? errno : EIO;
            return -1;
        }
        size_t i = 0;
        while (i < want && !buf[i])
            i++;
        if (i < want && pwrite(out, buf + i, want - i, (off_t)(to + i)) != (ssize_t)(want - i))
            return -1;
        from += want, to += want, n -= want;
    }
    return 0;
}

//  Every row of our grid (along the last dimension) from its place in G.
static int
copy_rows(int in, int out, const graph_task_t *t, const int64_t *grid)
{
    uint8_t *buf = malloc(SPAN);
    if (!buf)
        return -1;
    int last = t->dims - 1, rc = 0;
    uint64_t row_len = (uint64_t)t->n[last], rows = row_len ? t->total / row_len : 0;
    for (uint64_t r = 0; rc == 0 && r < rows; r++) {
        uint64_t rest = r, from = 0, stride = 1;
        for (int d = last; d >= 0; d--) {
            int64_t k = d == last ? 0 : (int64_t)(rest % (uint64_t)t->n[d]);
            if (d != last)
                rest /= (uint64_t)t->n[d];
            from += (uint64_t)(k + t->id_shift[d]) * stride;
            stride *= (uint64_t)grid[d];
        }
        rc = copy_span(in, out, from, r * row_len, row_len, buf);
    }
    free(buf);
    return rc;
}

//  Our markers in `tmp`, from their chunk `theirs`.
static int
convert(const char *tmp, const char *theirs, const daisy_graph_t *graph, uint32_t task,
        const int64_t *grid, daisy_error_t *err)
{
    const graph_task_t *t = &graph->tasks[task];
    uint64_t size = 1;
    for (int d = 0; d < t->dims; d++)
        size *= (uint64_t)grid[d];
    int in = fsutil_open_regular(theirs, O_RDONLY);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0 || (uint64_t)st.st_size != size) {
        int e = errno;
        if (in >= 0)
            close(in);
        return in < 0 ? daisy_error_set(err, "cannot read '%s': %s", theirs,
                                        in == FSUTIL_NOT_REGULAR ? "not a regular file"
                                                                 : strerror(e))
                      : daisy_error_input(err, "'%s' holds %lld bytes, daisy 2.0's grid of task "
                                        "'%s' %llu; nothing changed", theirs,
                                        (long long)st.st_size, t->id, (unsigned long long)size);
    }
    char chunk[PATH_MAX + 64];
    markers_chunk_path(tmp, t->dims, chunk, sizeof chunk);
    *strrchr(chunk, '/') = '\0';
    int rc = fsutil_mkdirs(chunk);
    markers_chunk_path(tmp, t->dims, chunk, sizeof chunk);
    int out = rc ? -1 : open(chunk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    json_t *meta = markers_metadata(graph, task, daisy_markers_layout(graph, task));
    rc = out < 0 || ftruncate(out, (off_t)t->total) != 0 || copy_rows(in, out, t, grid) != 0
      || fsync(out) != 0 ? -1 : 0;
    rc = rc ? daisy_error_set(err, "cannot convert daisy 2.0 markers '%s' into '%s': %s; "
                              "nothing changed", theirs, chunk, strerror(errno))
            : markers_write_metadata(tmp, meta, err);
    json_decref(meta);
    close(in);
    if (out >= 0)
        close(out);
    return rc;
}

//  Swap `tmp` (ours) in for `tdir` (theirs), theirs kept beside.
static int
swap_in(const char *tdir, const char *tmp, daisy_error_t *err)
{
    char backup[PATH_MAX + 32];
    snprintf(backup, sizeof backup, "%s~daisy2", tdir);
    for (int i = 1; access(backup, F_OK) == 0 && i < 1000; i++)
        snprintf(backup, sizeof backup, "%s~daisy2.%d", tdir, i);
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, tdir, RENAME_EXCHANGE) == 0) {
        //  Ours is in place; should this fail, theirs stays under tmp's name.
        (void)rename(tmp, backup);
        return 0;
    }
    if (rename(tdir, backup) != 0)
        return daisy_error_set(err, "cannot rename '%s' to '%s': %s; nothing changed", tdir,
                               backup, strerror(errno));
    if (rename(tmp, tdir) != 0)
        return daisy_error_set(err, "cannot rename '%s' to '%s': %s (daisy 2.0's markers are "
                               "in '%s')", tmp, tdir, strerror(errno), backup);
    return 0;
}

int
markers_daisy2_import(const char *tdir, const daisy_graph_t *graph, uint32_t task, json_t *meta,
                      daisy_error_t *err)
{
    const graph_task_t *t = &graph->tasks[task];
    int64_t grid[D];
    daisy2_grid(t, grid);
    if (check_metadata(tdir, t, meta, grid, err) != 0)
        return -1;
    char tmp[PATH_MAX + 32], theirs[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s~import", tdir);
    markers_chunk_path(tdir, t->dims, theirs, sizeof theirs);
    if (fsutil_remove_tree(tmp) != 0 || fsutil_mkdirs(tmp) != 0)
        return daisy_error_set(err, "cannot create '%s': %s; nothing changed", tmp,
                               strerror(errno));
    if (convert(tmp, theirs, graph, task, grid, err) != 0 || swap_in(tdir, tmp, err) != 0) {
        fsutil_remove_tree(tmp);
        return -1;
    }
    return 0;
}
