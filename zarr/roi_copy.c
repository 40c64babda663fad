/*  roi_copy.c - copying between a ROI in world units and the chunks it touches

    A ROI is checked against the array and turned into voxels once: it
    must lie inside the array's ROI and on its voxel grid (an empty ROI
    within the array's bounds is a no-op, so that arrays with a 0 in their
    shape can be read whole). Then reads and writes go chunk by chunk
    over the chunks the ROI touches. The copy
    between a chunk and the caller's buffer moves whole contiguous runs
    with memcpy: trailing dimensions that span both buffers fully are
    merged into one run, so a chunk-shaped ROI is a single memcpy. When a
    chunk lies entirely inside the ROI and is one contiguous range of the
    caller's buffer, the chunk is decoded straight into the caller's memory
    (read() directly, without compression) and encoded straight from it,
    with no intermediate copy. A write that covers part of a chunk reads
    the chunk first (two of those on one chunk at once can lose an update,
    as in Zarr: the caller's business). Sharded v3 arrays go to shard.c,
    which walks shards and their inner chunks with the same walker and box
    copy (zarr_walk_*, zarr_copy_box).
*/
#include "array_internal.h"

#include <string.h>

//  ROIs -------------------------------------------------------------------

static void
s_coord_text(int dims, const int64_t *v, char *out, size_t len)
{
    daisy_coord_format(daisy_coord_make(dims, v), out, len);
}

//  A ROI as daisy_roi_format() writes it, and for an empty one (which it
//  writes as "[empty ROI]") its offset and shape too: the ROI of an array
//  with a 0 in its shape is empty, and an error about it must say where.
static void
s_roi_text(const daisy_roi_t *roi, char *out, size_t len)
{
    int n = daisy_roi_format(roi, out, len);
    if (!daisy_roi_empty(roi) || n < 0 || (size_t)n >= len)
        return;
    char off[80], shape[80];
    s_coord_text(roi->dims, roi->offset, off, sizeof off);
    s_coord_text(roi->dims, roi->shape, shape, sizeof shape);
    snprintf(out + n, len - (size_t)n, " at %s, shape %s", off, shape);
}

//  True when `roi` lies inside the array's ROI `aroi`. An empty ROI does
//  when it lies within the array's bounds, faces included:
//  daisy_roi_contains() (funlib's rule) wants its begin to be a point of
//  the array, which an array with a 0 in its shape has none of, and an
//  empty ROI at the array's end is not.
static bool
s_inside(const daisy_roi_t *aroi, const daisy_roi_t *roi)
{
    if (!daisy_roi_empty(roi))
        return daisy_roi_contains(aroi, roi);
    for (int d = 0; d < roi->dims; d++) {
        int64_t rel;
        if (roi->offset[d] < aroi->offset[d]
            || __builtin_sub_overflow(roi->offset[d], aroi->offset[d], &rel)
            || rel > aroi->shape[d] - roi->shape[d])
            return false;
    }
    return true;
}

//  Checks `roi` against the array and converts it to voxels relative to the
//  array's origin: begin in b, shape in n. Returns 1 when the ROI is empty.
int
roi_copy_check(const daisy_array_t *self, const daisy_roi_t *roi, int64_t *b, int64_t *n,
               daisy_error_t *err)
{
    char rtext[200], atext[200];
    if (!roi)
        return daisy_error_set(err, "array '%s': no ROI given", self->path);
    s_roi_text(roi, rtext, sizeof rtext);
    if (roi->dims != self->dims)
        return daisy_error_set(err, "array '%s': ROI %s has %d dimensions, the array has %d",
                               self->path, rtext, roi->dims, self->dims);
    for (int d = 0; d < self->dims; d++)
        if (roi->shape[d] < 0)
            return daisy_error_set(err, "array '%s': ROI %s has a negative shape", self->path,
                                   rtext);
    daisy_roi_t aroi = daisy_array_roi(self);
    if (!s_inside(&aroi, roi)) {
        s_roi_text(&aroi, atext, sizeof atext);
        return daisy_error_set(err, "array '%s': ROI %s is outside the array's ROI %s",
                               self->path, rtext, atext);
    }
    bool empty = false;
    for (int d = 0; d < self->dims; d++) {
        int64_t rel = roi->offset[d] - self->offset[d];
        if (rel % self->voxel[d] != 0 || roi->shape[d] % self->voxel[d] != 0) {
            char vs[160], off[160];
            s_coord_text(self->dims, self->voxel, vs, sizeof vs);
            s_coord_text(self->dims, self->offset, off, sizeof off);
            return daisy_error_set(err, "array '%s': ROI %s is not a multiple of the voxel "
                                   "size %s (from the array's offset %s)",
                                   self->path, rtext, vs, off);
        }
        b[d] = rel / self->voxel[d];
        n[d] = roi->shape[d] / self->voxel[d];
        if (n[d] == 0)
            empty = true;
    }
    //  No caller's buffer holds more: the copy's offsets into it would wrap
    //  around, and write past it.
    if (!empty && daisy_array_buffer_size(self, roi) == 0)
        return daisy_error_set(err, "array '%s': ROI %s holds more bytes than a buffer "
                               "can (read and write it by blocks)", self->path, rtext);
    return empty ? 1 : 0;
}

//  Copying boxes ----------------------------------------------------------

//  The contiguous run of a box of `cnt` items inside buffers of shapes
//  `sshape` and `dshape`: trailing dimensions that span both buffers fully
//  merge into one run. *outer is the number of leading dimensions left to
//  iterate over.
static size_t
s_box_run(int dims, size_t item, const int64_t *cnt, const int64_t *sshape,
          const int64_t *dshape, int *outer)
{
    int k = dims - 1;
    size_t run = (size_t)cnt[k] * item;
    while (k > 0 && cnt[k] == sshape[k] && cnt[k] == dshape[k]) {
        k--;
        run *= (size_t)cnt[k];
    }
    *outer = k;
    return run;
}

//  Copy a box of cnt[] items from src (C order, shape sshape, box at
//  sstart) to dst (shape dshape, box at dstart).
void
zarr_copy_box(int dims, size_t item, const int64_t *cnt, const unsigned char *src,
           const int64_t *sshape, const int64_t *sstart, unsigned char *dst,
           const int64_t *dshape, const int64_t *dstart)
{
    size_t sstride[DAISY_MAX_DIMS], dstride[DAISY_MAX_DIMS];
    sstride[dims - 1] = dstride[dims - 1] = item;
    for (int d = dims - 2; d >= 0; d--) {
        sstride[d] = sstride[d + 1] * (size_t)sshape[d + 1];
        dstride[d] = dstride[d + 1] * (size_t)dshape[d + 1];
    }
    size_t so = 0, dof = 0;
    for (int d = 0; d < dims; d++) {
        so += (size_t)sstart[d] * sstride[d];
        dof += (size_t)dstart[d] * dstride[d];
    }
    int k;
    size_t run = s_box_run(dims, item, cnt, sshape, dshape, &k);
    int64_t idx[DAISY_MAX_DIMS] = {0};
    for (;;) {
        memcpy(dst + dof, src + so, run);
        int d = k - 1;
        for (; d >= 0; d--) {
            so += sstride[d];
            dof += dstride[d];
            if (++idx[d] < cnt[d])
                break;
            so -= (size_t)cnt[d] * sstride[d];
            dof -= (size_t)cnt[d] * dstride[d];
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}

//  Byte offset of `start` in a C-order buffer of `shape`.
static size_t
s_offset_of(int dims, size_t item, const int64_t *shape, const int64_t *start)
{
    size_t off = 0;
    for (int d = 0; d < dims; d++)
        off = off * (size_t)shape[d] + (size_t)start[d];
    return off * item;
}

//  Walking the chunks -----------------------------------------------------

static void
s_walk_box(zarr_walk_t *w, const int64_t *b, const int64_t *n)
{
    w->whole = w->in_array = true;
    for (int d = 0; d < w->dims; d++) {
        int64_t cb = w->c[d] * w->chunks[d], ce = cb + w->chunks[d];
        int64_t lo = b[d] > cb ? b[d] : cb;
        int64_t hi = b[d] + n[d] < ce ? b[d] + n[d] : ce;
        int64_t ae = ce < w->shape[d] ? ce : w->shape[d];
        w->cnt[d] = hi - lo;
        w->cstart[d] = lo - cb;
        w->rstart[d] = lo - b[d];
        if (w->cnt[d] != w->chunks[d])
            w->whole = false;
        if (lo != cb || hi != ae)
            w->in_array = false;
    }
}

//  Start walking the chunks (shape `chunks`, of an array of `shape`) that
//  the non-empty box [b, b + n) touches, last dimension fastest.
void
zarr_walk_start(zarr_walk_t *w, int dims, const int64_t *chunks, const int64_t *shape,
                const int64_t *b, const int64_t *n)
{
    w->dims = dims;
    w->chunks = chunks;
    w->shape = shape;
    for (int d = 0; d < dims; d++) {
        w->lo[d] = b[d] / chunks[d];
        w->hi[d] = (b[d] + n[d] - 1) / chunks[d];
        w->c[d] = w->lo[d];
    }
    s_walk_box(w, b, n);
}

//  The next chunk; false after the last.
bool
zarr_walk_next(zarr_walk_t *w, const int64_t *b, const int64_t *n)
{
    for (int d = w->dims - 1; d >= 0; d--) {
        if (++w->c[d] <= w->hi[d]) {
            s_walk_box(w, b, n);
            return true;
        }
        w->c[d] = w->lo[d];
    }
    return false;
}

//  True when the box is one contiguous range of a buffer of shape `shape`.
static bool
s_contiguous(int dims, const int64_t *cnt, const int64_t *shape)
{
    int k;
    s_box_run(dims, 1, cnt, shape, shape, &k);
    for (int d = 0; d < k; d++)
        if (cnt[d] != 1)
            return false;
    return true;
}

//  Reading and writing ----------------------------------------------------

static int
s_chunk_error(const daisy_array_t *self, const daisy_roi_t *roi, const char *verb,
              daisy_error_t *err)
{
    char rtext[160];
    daisy_roi_format(roi, rtext, sizeof rtext);
    //  v3 names the chunk's file (v2 its key, as it always has).
    return daisy_error_prefix(err, "array '%s': %s ROI %s: chunk '%s'", self->path, verb,
                              rtext, self->format == 3 ? self->file : self->key);
}

//  One chunk of the fill value at `dst`.
static int
s_fill_chunk(daisy_array_t *self, unsigned char *dst, daisy_error_t *err)
{
    const unsigned char *fill = chunk_fill_buf(self, err);
    if (!fill)
        return -1;
    memcpy(dst, fill, self->chunk_bytes);
    return 0;
}

//  Read chunk w->c's part of the ROI into `out`.
static int
s_read_chunk(daisy_array_t *self, const daisy_roi_t *roi, const zarr_walk_t *w,
             const int64_t *n, unsigned char *out, daisy_error_t *err)
{
    int dims = self->dims;
    int rc;
    chunk_name(self, w->c);
    if (w->whole && !self->swap && s_contiguous(dims, w->cnt, n)) {
        //  Straight into the caller's buffer.
        unsigned char *dst = out + s_offset_of(dims, self->itemsize, n, w->rstart);
        rc = chunk_load(self, dst, err);
        if (rc < 0)
            return s_chunk_error(self, roi, "reading", err);
        if (rc == 0 && s_fill_chunk(self, dst, err))
            return -1;
        return 0;
    }
    unsigned char *chunk = chunk_buf(self, err);
    if (!chunk)
        return -1;
    rc = chunk_load(self, chunk, err);
    if (rc < 0)
        return s_chunk_error(self, roi, "reading", err);
    const unsigned char *src = rc ? chunk : chunk_fill_buf(self, err);
    if (!src)
        return -1;
    zarr_copy_box(dims, self->itemsize, w->cnt, src, self->chunks, w->cstart, out, n, w->rstart);
    return 0;
}

//  Write the ROI's part of chunk w->c from `in`.
static int
s_write_chunk(daisy_array_t *self, const daisy_roi_t *roi, const zarr_walk_t *w,
              const int64_t *n, const unsigned char *in, daisy_error_t *err)
{
    int dims = self->dims;
    chunk_name(self, w->c);
    if (w->whole && !self->swap && s_contiguous(dims, w->cnt, n)) {
        //  Encoded straight from the caller's buffer (never modified:
        //  only big-endian stores swap in place, and they take the
        //  other path).
        unsigned char *src = (unsigned char *)in + s_offset_of(dims, self->itemsize, n,
                                                               w->rstart);
        if (chunk_store(self, src, err))
            return s_chunk_error(self, roi, "writing", err);
        return 0;
    }
    unsigned char *chunk = chunk_buf(self, err);
    if (!chunk)
        return -1;
    if (!w->whole) {
        //  Start from what is there (read-modify-write), or from the
        //  fill value where the chunk is new or the box covers all of
        //  it that lies inside the array (the rest is padding).
        int rc = w->in_array ? 0 : chunk_load(self, chunk, err);
        if (rc < 0)
            return s_chunk_error(self, roi, "writing", err);
        if (rc == 0 && s_fill_chunk(self, chunk, err))
            return -1;
    }
    zarr_copy_box(dims, self->itemsize, w->cnt, in, n, w->rstart, chunk, self->chunks, w->cstart);
    if (chunk_store(self, chunk, err))
        return s_chunk_error(self, roi, "writing", err);
    return 0;
}

//  Copy between the ROI, voxels [b, b + n), and the chunks it touches,
//  chunk by chunk: read into `out`, or when it is NULL, write from `in`.
static int
s_copy(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b, const int64_t *n,
       unsigned char *out, const unsigned char *in, daisy_error_t *err)
{
    if (self->sharded)
        return shard_copy(self, roi, b, n, out, in, err);
    zarr_walk_t w;
    zarr_walk_start(&w, self->dims, self->chunks, self->shape, b, n);
    do {
        int rc = out ? s_read_chunk(self, roi, &w, n, out, err)
                     : s_write_chunk(self, roi, &w, n, in, err);
        if (rc)
            return -1;
    } while (zarr_walk_next(&w, b, n));
    return 0;
}

//  Read the ROI, checked by roi_copy_check() into voxels [b, b + n), into
//  `out`.
int
roi_copy_read(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
              const int64_t *n, unsigned char *out, daisy_error_t *err)
{
    return s_copy(self, roi, b, n, out, NULL, err);
}

//  Write the ROI, voxels [b, b + n), from `in`.
int
roi_copy_write(daisy_array_t *self, const daisy_roi_t *roi, const int64_t *b,
               const int64_t *n, const unsigned char *in, daisy_error_t *err)
{
    return s_copy(self, roi, b, n, NULL, in, err);
}
