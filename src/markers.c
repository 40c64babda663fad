/*  markers.c - done markers as a memory-mapped, sparse Zarr v3 chunk

    See daisy/markers.h for the format and why. Counting the marked blocks
    at open walks only the file's data extents (SEEK_DATA/SEEK_HOLE), so a
    sparse file for 10^12 blocks opens as fast as its done part allows.
    Metadata is written to a temporary file and renamed into place, so a
    crash never leaves a half-written zarr.json.

    A full disk: the file is sparse, and touching a page of the mapping
    that has no disk block behind it kills the process with SIGBUS when
    the filesystem cannot allocate one (a store anywhere; on tmpfs even a
    load, which allocates a page for a hole). So the mapping is touched
    only in stretches of RESERVE bytes reserved beforehand (fallocate):
    a mark reserves its stretch first, and at open every stretch that
    holds data is reserved (or, failing that, read with pread(2)). A
    stretch never reserved holds no mark. Near a full disk a mark's page
    alone is reserved and written with pwrite(2); where the filesystem
    cannot reserve at all (EOPNOTSUPP), marks are written with pwrite,
    whose errors are checked. The first failure is kept: no mark is
    stored after it (those before it stay), and daisy_markers_failure()
    names the file and the reason, so that the broker stops handing out
    blocks; a run with space resumes.
*/
#include "daisy/markers.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "graph_internal.h"
#include "markers_internal.h"

//  Bytes reserved at a time (one bit each in `reserved`): 10^12 blocks
//  cost 3.8 MiB of bits.
#define RESERVE (256 * 1024)

struct _daisy_markers_t {
    int fd;
    uint8_t *bytes;
    uint64_t size;
    uint64_t count;
    uint8_t *reserved;          //  a bit per RESERVE bytes with disk space behind them
    uint8_t *partial;           //  a bit per RESERVE bytes only partly backed: pread, pwrite
    bool write_through;         //  the filesystem reserves nothing: pwrite each mark
    int failed;                 //  errno of the first failure, then nothing is stored
    int lock_fd;                //  the task's .daisy-lock, held (flock) while open
    char path[PATH_MAX + 64];   //  the chunk file
    bool resumed;               //  they were recorded here before this open
};

//  FNV-1a over the numbers that decide the block layout.
static uint64_t
fnv(uint64_t h, int64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (uint64_t)(v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t
daisy_markers_layout(const daisy_graph_t *graph, uint32_t task)
{
    const graph_task_t *t = &graph->tasks[task];
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, t->dims);
    h = fnv(h, t->fit);
    for (int d = 0; d < t->dims; d++) {
        h = fnv(h, t->tr_begin[d]);
        h = fnv(h, t->tr_end[d]);
        h = fnv(h, t->rs[d]);
        h = fnv(h, t->ws[d]);
        h = fnv(h, t->ctx_lo[d]);
    }
    return h;
}

void
markers_task_dir(const char *dir, const char *id, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s/", dir);
    if (used < size)
        daisy_file_name(id, out + used, size - used);
}

static json_t *
roi_json(const int64_t *offset, const int64_t *end, int dims)
{
    json_t *o = json_array(), *s = json_array();
    for (int d = 0; d < dims; d++) {
        json_array_append_new(o, json_integer(offset[d]));
        json_array_append_new(s, json_integer(end[d] - offset[d]));
    }
    return json_pack("{s:o, s:o}", "offset", o, "shape", s);
}

json_t *
markers_metadata(const daisy_graph_t *graph, uint32_t task, uint64_t layout)
{
    const graph_task_t *t = &graph->tasks[task];
    json_t *shape = json_array();
    for (int d = 0; d < t->dims; d++)
        json_array_append_new(shape, json_integer(t->n[d]));
    char hash[17];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)layout);
    json_t *attrs = json_pack("{s:s, s:s, s:o, s:s, s:I}", "task", t->id, "layout", hash,
                              "total_roi", roi_json(t->tr_begin, t->tr_end, t->dims),
                              "fit", daisy_fit_name(t->fit), "blocks", (json_int_t)t->total);
    //  `shape` appears twice: one reference taken (O), one given (o).
    return json_pack("{s:i, s:s, s:O, s:s, s:{s:s, s:{s:o}}, s:{s:s, s:{s:s}}, s:i, "
                     "s:[{s:s}], s:{s:o}}",
                     "zarr_format", 3, "node_type", "array", "shape", shape,
                     "data_type", "uint8",
                     "chunk_grid", "name", "regular", "configuration", "chunk_shape", shape,
                     "chunk_key_encoding", "name", "default", "configuration", "separator", "/",
                     "fill_value", 0, "codecs", "name", "bytes",
                     "attributes", "daisy", attrs);
}

int
markers_write_metadata(const char *tdir, json_t *meta, daisy_error_t *err)
{
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/zarr.json.tmp", tdir);
    snprintf(path, sizeof path, "%s/zarr.json", tdir);
    if (json_dump_file(meta, tmp, JSON_INDENT(2)) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);    //  a half-written zarr.json.tmp is nobody's
        return daisy_error_set(err, "cannot write '%s': %s", path, strerror(e));
    }
    return 0;
}

json_t *
markers_load_json(const char *path, json_error_t *jerr)
{
    int fd = fsutil_open_regular(path, O_RDONLY);
    if (fd < 0) {
        memset(jerr, 0, sizeof *jerr);
        snprintf(jerr->text, sizeof jerr->text, "%s",
                 fd == FSUTIL_NOT_REGULAR ? "not a regular file" : strerror(errno));
        return NULL;
    }
    json_t *json = json_loadfd(fd, 0, jerr);
    close(fd);
    return json;
}

void
markers_chunk_path(const char *tdir, int dims, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%s/c", tdir);
    for (int d = 0; d < dims && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, "/0");
}

//  The layout recorded in an existing zarr.json: 1 found, 0 none, 2
//  daisy 2.0's markers (their metadata in *daisy2), -1 error.
static int
recorded_layout(const char *tdir, uint64_t *layout, json_t **daisy2, daisy_error_t *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/zarr.json", tdir);
    if (access(path, F_OK) != 0)
        return 0;
    json_error_t jerr;
    json_t *meta = markers_load_json(path, &jerr);
    const char *hash = NULL, *theirs = NULL;
    if (meta && json_unpack(meta, "{s:{s:{s:s}}}", "attributes", "daisy", "layout", &hash) != 0)
        json_unpack(meta, "{s:{s:s}}", "attributes", "daisy_task_hash", &theirs);
    if (theirs) {
        *daisy2 = meta;
        return 2;
    }
    int rc = hash ? 1 : daisy_error_input(err, "'%s' is not a daisy markers array (damaged, or "
                                        "another program rewrote it); --reset-markers "
                                        "replaces it", path);
    if (hash)
        *layout = strtoull(hash, NULL, 16);
    json_decref(meta);
    return rc;
}

//  daisy 2.0's markers in `tdir`: taken over when their hash is the
//  task's (then 1, as if ours were found), discarded with `reset` (1, with
//  another layout), refused otherwise (-1).
static int
daisy2_layout(const char *tdir, const daisy_graph_t *graph, uint32_t task, bool reset,
              json_t *meta, uint64_t *recorded, daisy_error_t *err)
{
    uint64_t layout = daisy_markers_layout(graph, task);
    char want[65];
    daisy_markers_daisy2_hash(graph, task, want);
    const char *have = json_string_value(json_object_get(json_object_get(meta, "attributes"),
                                                         "daisy_task_hash"));
    *recorded = ~layout;
    if (strcmp(have, want) != 0 && reset)
        return 1;
    if (strcmp(have, want) != 0)
        return daisy_error_input(err, "task '%s': daisy 2.0 done markers in '%s' were recorded "
                               "for another block layout (daisy_task_hash %.12s..., this "
                               "task's %.12s...: total, read or write ROI, or fit changed); "
                               "use --reset-markers to discard them",
                               graph->tasks[task].id, tdir, have, want);
    if (markers_daisy2_import(tdir, graph, task, meta, err) != 0)
        return -1;
    *recorded = layout;
    return 1;
}

static bool
bit(const uint8_t *bits, uint64_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

static void
set_bit(uint8_t *bits, uint64_t i)
{
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

//  Disk space for the whole stretch: 0, or -1 with errno.
static int
reserve_stretch(daisy_markers_t *self, uint64_t stretch)
{
    uint64_t start = stretch * RESERVE;
    uint64_t len = self->size - start < RESERVE ? self->size - start : RESERVE;
    if (fallocate(self->fd, FALLOC_FL_KEEP_SIZE, (off_t)start, (off_t)len) != 0)
        return -1;
    set_bit(self->reserved, stretch);
    return 0;
}

//  Stretches that hold data (marks of an earlier run) are reserved whole,
//  so that reading them through the mapping touches no hole; where that
//  fails they are read with pread.
static void
reserve_data(daisy_markers_t *self, off_t data, off_t hole)
{
    for (uint64_t s = (uint64_t)data / RESERVE; s <= ((uint64_t)hole - 1) / RESERVE; s++)
        if (!bit(self->reserved, s) && reserve_stretch(self, s) != 0) {
            if (errno == EOPNOTSUPP || errno == ENOSYS)
                self->write_through = true;
            else
                set_bit(self->partial, s);
        }
}

//  Marked blocks (their stretches reserved on the way), reading only the
//  extents that hold data, through pread
//  rather than the mapping so that counting leaves the process's RSS flat.
static uint64_t
count_marked(daisy_markers_t *self)
{
    static const size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf)
        return 0;
    uint64_t count = 0;
    off_t pos = 0;
    while ((uint64_t)pos < self->size) {
        off_t data = lseek(self->fd, pos, SEEK_DATA);
        if (data < 0)
            break;
        off_t hole = lseek(self->fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > self->size)
            hole = (off_t)self->size;
        if (hole > data)
            reserve_data(self, data, hole);
        for (off_t at = data; at < hole;) {
            size_t want = (size_t)(hole - at) < chunk ? (size_t)(hole - at) : chunk;
            ssize_t got = pread(self->fd, buf, want, at);
            if (got <= 0)
                break;
            for (ssize_t i = 0; i < got; i++)
                count += buf[i] != 0;
            at += got;
        }
        pos = hole;
    }
    free(buf);
    return count;
}

static int
map_chunk(daisy_markers_t *self, const char *tdir, int dims, bool reset, daisy_error_t *err)
{
    char path[PATH_MAX + 64];
    markers_chunk_path(tdir, dims, path, sizeof path);
    *strrchr(path, '/') = '\0';
    if (fsutil_mkdirs(path) != 0)
        return daisy_error_set(err, "cannot create '%s': %s", path, strerror(errno));
    markers_chunk_path(tdir, dims, path, sizeof path);
    snprintf(self->path, sizeof self->path, "%s", path);
    self->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (reset ? O_TRUNC : 0), 0666);
    if (self->fd < 0 || ftruncate(self->fd, (off_t)self->size) != 0)
        return daisy_error_set(err, "cannot open markers '%s': %s", path, strerror(errno));
    if (self->size == 0)
        return 0;
    size_t bits = (self->size + RESERVE - 1) / RESERVE / 8 + 1;
    self->reserved = calloc(bits, 1);
    self->partial = calloc(bits, 1);
    if (!self->reserved || !self->partial)
        return daisy_error_set(err, "out of memory");
    self->bytes = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
    if (self->bytes == MAP_FAILED) {
        self->bytes = NULL;
        return daisy_error_set(err, "cannot map markers '%s': %s", path, strerror(errno));
    }
    return 0;
}

//  Whether the chunk beside recorded metadata of this layout may be
//  opened as it is. It is made at its full size right after the metadata
//  is written, so missing or empty it is the trace of a crash in between
//  (nothing was marked yet); of any other size it is damaged, and its
//  marks cannot be trusted: refused, or with `reset` discarded
//  (*discard), never silently padded, which would run done blocks again.
static bool
chunk_whole(const char *tdir, const graph_task_t *t, bool reset, bool *discard,
            daisy_error_t *err)
{
    char path[PATH_MAX + 64];
    markers_chunk_path(tdir, t->dims, path, sizeof path);
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        //  A FIFO would block the run's open, a directory map nothing.
        return reset ? (*discard = true)
                     : (daisy_error_input(err, "task '%s': markers chunk '%s' is not a regular "
                                          "file: damaged; use --reset-markers to discard it "
                                          "(its blocks run again)", t->id, path), false);
    }
    if (stat(path, &st) != 0 || st.st_size == 0 || (uint64_t)st.st_size == t->total)
        return true;
    if (reset)
        return *discard = true;
    daisy_error_input(err, "task '%s': markers chunk '%s' holds %lld bytes, but the task has "
                    "%llu blocks: damaged; use --reset-markers to discard it (its blocks "
                    "run again)", t->id, path, (long long)st.st_size,
                    (unsigned long long)t->total);
    return false;
}

//  Marks to be discarded go before the new metadata is written, and for
//  good (the directory synced): a crash in between must not leave old
//  marks under a layout they were not recorded for, where a chunk of the
//  right size would pass for this run's and its blocks be skipped.
static int
discard_chunk(const char *tdir, int dims, daisy_error_t *err)
{
    char path[PATH_MAX + 64];
    markers_chunk_path(tdir, dims, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return daisy_error_set(err, "cannot discard markers '%s': %s", path, strerror(errno));
    *strrchr(path, '/') = '\0';
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return 0;
}

static daisy_markers_t *markers_open_locked(const char *tdir, const daisy_graph_t *graph,
                                            uint32_t task, bool reset, daisy_error_t *err);

//  One run at a time per task's markers: two runs on one directory each
//  take the other's unmarked blocks for their own, and run them at the
//  same time. flock on the task's directory itself (no lock file to leave
//  behind or to fill a full disk with), so that a run that ends in any way,
//  kill -9 too, leaves no stale lock. The descriptor, or -1 having said why.
static int
lock_task(const char *tdir, const char *task_id, daisy_error_t *err)
{
    int fd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return daisy_error_set(err, "cannot open markers directory '%s': %s", tdir,
                               strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e != EWOULDBLOCK)
        return daisy_error_set(err, "cannot lock markers directory '%s': %s", tdir, strerror(e));
    return daisy_error_input(err, "task '%s': markers in '%s' are in use by another run (one "
                             "run at a time on a markers directory)", task_id, tdir);
}

//  A chunk without zarr.json: its marks belong to no known layout (a copy
//  cut short, a zarr.json deleted), so they cannot be trusted.
static bool
orphan_chunk(const char *tdir, int dims)
{
    char path[PATH_MAX + 64];
    markers_chunk_path(tdir, dims, path, sizeof path);
    return access(path, F_OK) == 0;
}

daisy_markers_t *
daisy_markers_open(const char *dir, const daisy_graph_t *graph, uint32_t task, bool reset,
                   daisy_error_t *err)
{
    const graph_task_t *t = &graph->tasks[task];
    char tdir[PATH_MAX];
    markers_task_dir(dir, t->id, tdir, sizeof tdir);
    if (fsutil_mkdirs(tdir) != 0) {
        daisy_error_set(err, "cannot create markers directory '%s': %s", tdir, strerror(errno));
        return NULL;
    }
    int lock_fd = lock_task(tdir, t->id, err);
    if (lock_fd < 0)
        return NULL;
    daisy_markers_t *self = markers_open_locked(tdir, graph, task, reset, err);
    if (self)
        self->lock_fd = lock_fd;
    else
        close(lock_fd);
    return self;
}

static daisy_markers_t *
markers_open_locked(const char *tdir, const daisy_graph_t *graph, uint32_t task, bool reset,
                    daisy_error_t *err)
{
    const graph_task_t *t = &graph->tasks[task];
    uint64_t layout = daisy_markers_layout(graph, task), recorded = 0;
    json_t *daisy2 = NULL;
    int found = recorded_layout(tdir, &recorded, &daisy2, err);
    if (found == 0 && orphan_chunk(tdir, t->dims)) {
        if (!reset) {
            daisy_error_input(err, "task '%s': markers in '%s' have marks but no zarr.json "
                              "(damaged, or copied in part), so no layout to trust them "
                              "by; use --reset-markers to discard them", t->id, tdir);
            return NULL;
        }
        found = 1;
        recorded = ~layout;     //  discarded below, as another layout's
    }
    if (found == 2)
        found = daisy2_layout(tdir, graph, task, reset, daisy2, &recorded, err);
    json_decref(daisy2);
    if (found < 0 && !reset)
        return NULL;
    if (found < 0) {    //  damaged, or another program's: reset replaces it
        found = 1;
        recorded = ~layout;
    }
    if (found && recorded != layout && !reset) {
        daisy_error_input(err, "task '%s': markers in '%s' were recorded for another block "
                        "layout (total, read or write ROI, or fit changed); use "
                        "--reset-markers to discard them", t->id, tdir);
        return NULL;
    }
    bool discard = found && recorded != layout;
    if (found && !discard && !chunk_whole(tdir, t, reset, &discard, err))
        return NULL;
    daisy_markers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = self->lock_fd = -1;
    self->size = t->total;
    json_t *meta = markers_metadata(graph, task, layout);
    int rc = meta ? 0 : daisy_error_set(err, "out of memory");
    if (rc == 0 && discard)
        rc = discard_chunk(tdir, t->dims, err);
    if (rc == 0)
        rc = markers_write_metadata(tdir, meta, err);
    json_decref(meta);
    if (rc == 0)
        rc = map_chunk(self, tdir, t->dims, discard, err);
    if (rc != 0) {
        daisy_markers_close(&self);
        return NULL;
    }
    self->count = self->size ? count_marked(self) : 0;
    self->resumed = found && !discard;
    return self;
}

bool
daisy_markers_resumed(const daisy_markers_t *self)
{
    return self && self->resumed;
}

void
daisy_markers_close(daisy_markers_t **self_p)
{
    daisy_markers_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->bytes) {
        msync(self->bytes, self->size, MS_SYNC);
        munmap(self->bytes, self->size);
    }
    if (self->fd >= 0)
        close(self->fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd);   //  and with it the lock
    free(self->reserved);
    free(self->partial);
    free(self);
    *self_p = NULL;
}

bool
daisy_markers_done(const daisy_markers_t *self, uint64_t index)
{
    if (index >= self->size)
        return false;
    uint64_t stretch = index / RESERVE;
    if (self->write_through || bit(self->reserved, stretch))
        return self->bytes[index] != 0;
    uint8_t b = 0;
    return bit(self->partial, stretch) && pread(self->fd, &b, 1, (off_t)index) == 1 && b;
}

//  Disk space behind the mark at `index` (reserving keeps the file's
//  size, the task's already): 0, or -1 with the first failure kept.
//  *page_only: only its page could be had.
static int
reserve(daisy_markers_t *self, uint64_t index, bool *page_only)
{
    uint64_t stretch = index / RESERVE;
    *page_only = false;
    if (self->write_through || bit(self->reserved, stretch) || reserve_stretch(self, stretch) == 0)
        return 0;
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
        self->write_through = true;
        return 0;
    }
    uint64_t page = index - index % 4096;
    uint64_t len = self->size - page < 4096 ? self->size - page : 4096;
    if (errno == ENOSPC && fallocate(self->fd, FALLOC_FL_KEEP_SIZE, (off_t)page, (off_t)len) == 0) {
        set_bit(self->partial, stretch);
        *page_only = true;
        return 0;
    }
    self->failed = errno;
    return -1;
}

int
daisy_markers_set(daisy_markers_t *self, uint64_t index)
{
    bool page_only;
    if (index >= self->size)
        return -1;
    if (daisy_markers_done(self, index))    //  recorded before the disk filled
        return 0;
    if (self->failed)
        return -1;
    if (reserve(self, index, &page_only) != 0)
        return -1;
    if (self->write_through || page_only) {
        uint8_t one = 1;
        if (pwrite(self->fd, &one, 1, (off_t)index) != 1) {
            self->failed = errno ? errno : EIO;
            return -1;
        }
    } else
        self->bytes[index] = 1;
    self->count++;
    return 0;
}

int
daisy_markers_failure(const daisy_markers_t *self, daisy_error_t *err)
{
    if (!self->failed)
        return 0;
    return daisy_error_set(err, "markers '%s': %s; blocks recorded before are kept, a run "
                           "with space resumes", self->path, strerror(self->failed));
}

uint64_t
daisy_markers_count(const daisy_markers_t *self)
{
    return self->count;
}

int
daisy_markers_flush(daisy_markers_t *self)
{
    if (!self->bytes || self->failed)
        return self->failed ? -1 : 0;
    if (msync(self->bytes, self->size, MS_ASYNC) == 0)
        return 0;
    self->failed = errno;
    return -1;
}
