/*  shard.c - Zarr v3 shards (sharding_indexed): inner chunks in one file per shard

    A shard is one file holding the encoded inner chunks of a block of the
    chunk grid, one after the other, and an index of (offset, nbytes) per
    inner chunk, in C order of the inner chunks, encoded by the index
    codecs (bytes, little or big endian, and usually crc32c), at the end of
    the file (index_location "end", what is written) or at its start (also
    read). An inner chunk that is entirely the fill value is not stored:
    its entry is (2^64-1, 2^64-1), and it reads as the fill value; a shard
    whose inner chunks are all empty is not written, and an existing one is
    removed. Why shards: a petavoxel volume in small chunks is hundreds of
    millions of files; in shards of 512 chunks, a few hundred thousand.

    Reading a ROI reads, per shard it touches, only the index (one pread)
    and the inner chunks the ROI needs (one pread each). Writing goes shard
    by shard. A write that covers a shard (its part inside the array)
    encodes its inner chunks from the caller's data and assembles the
    shard in memory; a write that covers part of one reads the whole shard
    first, keeps the encoded bytes of the inner chunks it does not touch,
    decodes, modifies and re-encodes those it touches partly
    (read-modify-write). Either way the new shard is written to a
    temporary file and renamed over the old one (chunk_put, as chunks are),
    so readers see the old shard or the new one. Two processes writing
    parts of one shard at once can lose one's update: the caller's
    business (a task's write grid in the scheduler prevents it).
*/
#include "array_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EMPTY UINT64_MAX

//  Set up and tear down ---------------------------------------------------

int
shard_setup(daisy_array_t *self, daisy_error_t *err)
{
    if (!self->sharded)
        return 0;
    size_t n = 1;
    for (int d = 0; d < self->dims; d++) {
        uint64_t per = (uint64_t)(self->shard[d] / self->chunks[d]);
        if (per > (SIZE_MAX / 16) / n)
            return daisy_error_set(err, "zarr.json: too many inner chunks in a shard");
        n *= (size_t)per;
    }
    self->n_inner = n;
    self->index_bytes = 16 * n + (self->index_crc ? 4 : 0);
    self->index = malloc(16 * n);
    self->slot_off = malloc(n * sizeof *self->slot_off);
    self->slot_len = malloc(n * sizeof *self->slot_len);
    if (!self->index || !self->slot_off || !self->slot_len)
        return daisy_error_set(err, "out of memory for a shard index of %zu entries", n);
    return 0;
}

void
shard_teardown(daisy_array_t *self)
{
    free(self->index);
    free(self->slot_off);
    free(self->slot_len);
    free(self->shard_buf);
    free(self->old_buf);
    for (int d = 0; d < DAISY_MAX_DIMS; d++)
        free(self->dim_names[d]);
}

//  The index --------------------------------------------------------------

//  Parse the encoded index at `ib` of a shard file of `fsize` bytes into
//  self->index, checking its checksum and that every entry lies inside
//  the file.
static int
s_index_parse(daisy_array_t *self, const unsigned char *ib, size_t fsize, daisy_error_t *err)
{
    size_t raw = 16 * self->n_inner;
    if (self->index_crc) {
        uint32_t stored, crc = zarr_crc32c(ib, raw);
        memcpy(&stored, ib + raw, 4);
        if (stored != crc)
            return daisy_error_set(err, "index: crc32c checksum mismatch (stored %08x, index "
                                   "has %08x)", stored, crc);
    }
    memcpy(self->index, ib, raw);
    if (self->index_big)
        zarr_dtype_swap(self->index, 2 * self->n_inner, 8);
    for (size_t i = 0; i < self->n_inner; i++) {
        uint64_t off = self->index[2 * i], len = self->index[2 * i + 1];
        if (off == EMPTY && len == EMPTY)
            continue;
        if (off > fsize || len > fsize - off)
            return daisy_error_set(err, "index: inner chunk %zu at offset %llu, %llu bytes, "
                                   "lies outside the shard's %zu bytes", i,
                                   (unsigned long long)off, (unsigned long long)len, fsize);
    }
    return 0;
}

static int
s_pread_full(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

//  Read and parse the index of the open shard `fd` of `fsize` bytes.
static int
s_index_read(daisy_array_t *self, int fd, size_t fsize, daisy_error_t *err)
{
    if (fsize < self->index_bytes)
        return daisy_error_set(err, "%zu bytes, too short for its index of %zu bytes", fsize,
                               self->index_bytes);
    if (chunk_reserve(&self->file_buf, &self->file_cap, self->index_bytes, err))
        return -1;
    off_t at = self->index_start ? 0 : (off_t)(fsize - self->index_bytes);
    if (s_pread_full(fd, self->file_buf, self->index_bytes, at) < 0)
        return daisy_error_set(err, "cannot read its index: %s", strerror(errno));
    return s_index_parse(self, self->file_buf, fsize, err);
}

//  Geometry ---------------------------------------------------------------

//  The extent of shard `c` inside the array.
static void
s_extent(const daisy_array_t *self, const int64_t *c, int64_t *ext)
{
    for (int d = 0; d < self->dims; d++) {
        int64_t left = self->shape[d] - c[d] * self->shard[d];
        ext[d] = left < self->shard[d] ? left : self->shard[d];
    }
}

//  The index of inner chunk `ic` (grid position inside its shard).
static size_t
s_linear(const daisy_array_t *self, const int64_t *ic)
{
    size_t lin = 0;
    for (int d = 0; d < self->dims; d++)
        lin = lin * (size_t)(self->shard[d] / self->chunks[d]) + (size_t)ic[d];
    return lin;
}

static void
s_inner_of(const daisy_array_t *self, size_t lin, int64_t *ic)
{
    for (int d = self->dims - 1; d >= 0; d--) {
        size_t per = (size_t)(self->shard[d] / self->chunks[d]);
        ic[d] = (int64_t)(lin % per);
        lin /= per;
    }
}

static void
s_inner_text(const daisy_array_t *self, const int64_t *ic, char *out, size_t len)
{
    daisy_coord_format(daisy_coord_make(self->dims, ic), out, len);
}

//  Reading ----------------------------------------------------------------

//  Decode inner chunk `lin` of the open shard into the handle's chunk
//  buffer; NULL on error.
static unsigned char *
s_inner_load(daisy_array_t *self, int fd, size_t lin, daisy_error_t *err)
{
    uint64_t off = self->index[2 * lin], len = self->index[2 * lin + 1];
    unsigned char *chunk = chunk_buf(self, err);
    if (!chunk || chunk_reserve(&self->file_buf, &self->file_cap, (size_t)len, err))
        return NULL;
    if (s_pread_full(fd, self->file_buf, (size_t)len, (off_t)off) < 0) {
        daisy_error_set(err, "cannot read: %s", strerror(errno));
        return NULL;
    }
    if (v3_chain_decode(&self->chain, self, self->file_buf, (size_t)len, chunk, err))
        return NULL;
    return chunk;
}

//  Copy the box of shard w->c that the ROI covers into `out`, reading the
//  index and the inner chunks it needs (fd -1: no shard, all fill).
static int
s_read_box(daisy_array_t *self, int fd, const zarr_walk_t *w, const int64_t *n,
           unsigned char *out, daisy_error_t *err)
{
    int64_t ext[DAISY_MAX_DIMS], at[DAISY_MAX_DIMS];
    s_extent(self, w->c, ext);
    const unsigned char *fill = chunk_fill_buf(self, err);
    if (!fill)
        return -1;
    zarr_walk_t iw;
    zarr_walk_start(&iw, self->dims, self->chunks, ext, w->cstart, w->cnt);
    do {
        size_t lin = s_linear(self, iw.c);
        const unsigned char *src = fill;
        if (fd >= 0 && self->index[2 * lin] != EMPTY)
            src = s_inner_load(self, fd, lin, err);
        if (!src) {
            char t[160];
            s_inner_text(self, iw.c, t, sizeof t);
            return daisy_error_prefix(err, "inner chunk %s", t);
        }
        for (int d = 0; d < self->dims; d++)
            at[d] = w->rstart[d] + iw.rstart[d];
        zarr_copy_box(self->dims, self->itemsize, iw.cnt, src, self->chunks, iw.cstart, out, n,
                      at);
    } while (zarr_walk_next(&iw, w->cstart, w->cnt));
    return 0;
}

static int
s_read_shard(daisy_array_t *self, const zarr_walk_t *w, const int64_t *n, unsigned char *out,
             daisy_error_t *err)
{
    int fd = open(self->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
        return daisy_error_set(err, "cannot open: %s", strerror(errno));
    struct stat st;
    int rc = 0;
    if (fd >= 0 && fstat(fd, &st) < 0)
        rc = daisy_error_set(err, "cannot stat: %s", strerror(errno));
    else if (fd >= 0)
        rc = s_index_read(self, fd, (size_t)st.st_size, err);
    if (rc == 0)
        rc = s_read_box(self, fd, w, n, out, err);
    if (fd >= 0)
        close(fd);
    return rc;
}

//  Writing ----------------------------------------------------------------

//  The whole shard file into self->old_buf and its index into
//  self->index: 1 when read, 0 when there is none (all entries empty).
static int
s_old_load(daisy_array_t *self, size_t *size, daisy_error_t *err)
{
    for (size_t i = 0; i < 2 * self->n_inner; i++)
        self->index[i] = EMPTY;
    int fd = open(self->file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0 : daisy_error_set(err, "cannot open: %s", strerror(errno));
    struct stat st;
    int rc = 1;
    if (fstat(fd, &st) < 0)
        rc = daisy_error_set(err, "cannot stat: %s", strerror(errno));
    else if ((*size = (size_t)st.st_size) < self->index_bytes)
        rc = daisy_error_set(err, "%zu bytes, too short for its index of %zu bytes", *size,
                             self->index_bytes);
    else if (chunk_reserve(&self->old_buf, &self->old_cap, *size, err))
        rc = -1;
    else if (zarr_read_full(fd, self->old_buf, *size) < 0)
        rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
    close(fd);
    if (rc < 0)
        return -1;
    size_t at = self->index_start ? 0 : *size - self->index_bytes;
    return s_index_parse(self, self->old_buf + at, *size, err) ? -1 : 1;
}

//  Append `len` bytes to the shard being assembled (self->shard_buf, *used
//  bytes so far) as inner chunk `lin`.
static int
s_append(daisy_array_t *self, size_t lin, const void *data, size_t len, size_t *used,
         daisy_error_t *err)
{
    if (chunk_reserve(&self->shard_buf, &self->shard_cap, *used + len, err))
        return -1;
    memcpy(self->shard_buf + *used, data, len);
    self->slot_off[lin] = *used;
    self->slot_len[lin] = len;
    *used += len;
    return 0;
}

//  The part of inner chunk `ic` that the box [bb, bb + bn) (shard
//  coordinates) covers: false when none or when the chunk lies outside
//  the array. *covered: the box covers all of the chunk inside the array.
static bool
s_inner_box(const daisy_array_t *self, const int64_t *ic, const int64_t *ext, const int64_t *bb,
            const int64_t *bn, int64_t *lo, int64_t *cnt, bool *covered)
{
    *covered = true;
    bool touched = true;
    for (int d = 0; d < self->dims; d++) {
        int64_t o = ic[d] * self->chunks[d], e = o + self->chunks[d];
        int64_t ae = e < ext[d] ? e : ext[d];
        int64_t l = bb[d] > o ? bb[d] : o, h = bb[d] + bn[d] < e ? bb[d] + bn[d] : e;
        if (o >= ext[d] || l >= h)
            touched = false;
        lo[d] = l;
        cnt[d] = h - l;
        if (l != o || h != ae)
            *covered = false;
    }
    return touched;
}

//  Inner chunk `lin` of the new shard: the old one's bytes when the box
//  misses it, else the old contents (or the fill value) with the box's
//  part of `in` copied over, encoded, or nothing when it is all fill.
static int
s_inner_write(daisy_array_t *self, size_t lin, const zarr_walk_t *w, const int64_t *ext,
              const int64_t *n, const unsigned char *in, int have_old, size_t *used,
              daisy_error_t *err)
{
    int64_t ic[DAISY_MAX_DIMS], lo[DAISY_MAX_DIMS], cnt[DAISY_MAX_DIMS];
    int64_t sat[DAISY_MAX_DIMS], dat[DAISY_MAX_DIMS];
    bool covered;
    s_inner_of(self, lin, ic);
    uint64_t off = self->index[2 * lin], len = self->index[2 * lin + 1];
    bool old = have_old && off != EMPTY;
    if (!s_inner_box(self, ic, ext, w->cstart, w->cnt, lo, cnt, &covered))
        return old ? s_append(self, lin, self->old_buf + off, (size_t)len, used, err) : 0;
    unsigned char *chunk = chunk_buf(self, err);
    const unsigned char *fill = chunk_fill_buf(self, err);
    if (!chunk || !fill)
        return -1;
    if (old && !covered) {
        if (v3_chain_decode(&self->chain, self, self->old_buf + off, (size_t)len, chunk, err))
            return -1;
    } else
        memcpy(chunk, fill, self->chunk_bytes);
    for (int d = 0; d < self->dims; d++) {
        sat[d] = w->rstart[d] + lo[d] - w->cstart[d];
        dat[d] = lo[d] - ic[d] * self->chunks[d];
    }
    zarr_copy_box(self->dims, self->itemsize, cnt, in, n, sat, chunk, self->chunks, dat);
    if (memcmp(chunk, fill, self->chunk_bytes) == 0)
        return 0;                       //  all fill: not stored
    const void *enc;
    size_t enc_len;
    if (v3_chain_encode(&self->chain, self, chunk, &enc, &enc_len, err))
        return -1;
    return s_append(self, lin, enc, enc_len, used, err);
}

//  The index of the new shard, encoded, at `at` in self->shard_buf (the
//  slots' offsets already count from the file's start).
static void
s_index_encode(daisy_array_t *self, size_t at)
{
    for (size_t i = 0; i < self->n_inner; i++) {
        bool empty = self->slot_len[i] == SIZE_MAX;
        uint64_t e[2] = {empty ? EMPTY : (uint64_t)self->slot_off[i],
                         empty ? EMPTY : (uint64_t)self->slot_len[i]};
        memcpy(self->shard_buf + at + 16 * i, e, 16);
    }
    if (self->index_big)
        zarr_dtype_swap(self->shard_buf + at, 2 * self->n_inner, 8);
    if (self->index_crc) {
        uint32_t crc = zarr_crc32c(self->shard_buf + at, 16 * self->n_inner);
        memcpy(self->shard_buf + at + 16 * self->n_inner, &crc, 4);
    }
}

static int
s_write_shard(daisy_array_t *self, const zarr_walk_t *w, const int64_t *n,
              const unsigned char *in, daisy_error_t *err)
{
    int64_t ext[DAISY_MAX_DIMS];
    s_extent(self, w->c, ext);
    size_t old_size = 0;
    int have_old = w->in_array ? 0 : s_old_load(self, &old_size, err);
    if (have_old < 0)
        return -1;
    size_t base = self->index_start ? self->index_bytes : 0, used = base, stored = 0;
    if (chunk_reserve(&self->shard_buf, &self->shard_cap, base, err))
        return -1;
    for (size_t lin = 0; lin < self->n_inner; lin++) {
        self->slot_len[lin] = SIZE_MAX;
        if (s_inner_write(self, lin, w, ext, n, in, have_old, &used, err))
            return -1;
        stored += self->slot_len[lin] != SIZE_MAX;
    }
    if (stored == 0) {                  //  nothing but fill: no shard
        if (unlink(self->file) < 0 && errno != ENOENT && errno != ENOTDIR)
            return daisy_error_set(err, "cannot remove: %s", strerror(errno));
        return 0;
    }
    //  The data started after room for the index (index_location "start")
    //  or at 0, so the offsets count from the file's start already.
    size_t at = self->index_start ? 0 : used;
    size_t total = self->index_start ? used : used + self->index_bytes;
    if (chunk_reserve(&self->shard_buf, &self->shard_cap, total, err))
        return -1;
    s_index_encode(self, at);
    return chunk_put(self, self->shard_buf, total, err);
}

//  Copying ----------------------------------------------------------------

static int
s_shard_error(const daisy_array_t *self, const daisy_roi_t *roi, const char *verb,
              daisy_error_t *err)
{
    char rtext[160];
    daisy_roi_format(roi, rtext, sizeof rtext);
    return daisy_error_prefix(err, "array '%s': %s ROI %s: shard '%s'", self->path, verb,
                              rtext, self->file);
}

//  Copy between the ROI, voxels [b, b + n), and the shards it touches:
//  read into `out`, or when it is NULL, write from `in`.
int
shard_copy(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b, const int64_t *n,
           unsigned char *out, const unsigned char *in, daisy_error_t *err)
{
    zarr_walk_t w;
    zarr_walk_start(&w, self->dims, self->shard, self->shape, b, n);
    do {
        chunk_name(self, w.c);
        int rc = out ? s_read_shard(self, &w, n, out, err) : s_write_shard(self, &w, n, in, err);
        if (rc)
            return s_shard_error(self, roi, out ? "reading" : "writing", err);
    } while (zarr_walk_next(&w, b, n));
    return 0;
}
