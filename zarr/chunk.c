/*  chunk.c - the chunk store: one file per chunk, encoded by codec.c, replaced atomically

    A chunk is read from its file (a missing one reads as the fill value),
    or encoded, written to a uniquely named temporary file beside its final
    name and put in its place; readers see the old chunk or the new one.

    Replacing, precisely: renameat2(RENAME_NOREPLACE) for a new chunk, and
    RENAME_EXCHANGE for an existing one, which leaves the old chunk under
    the temporary name. rename() over an existing file would be as atomic,
    but ext4 then allocates and starts writing the new file's blocks inside
    the call (auto_da_alloc). The old file is kept as the handle's "spare"
    and the next chunk is written into it, because creating and deleting a
    file per chunk makes ext4 scan past every recently deleted inode on each
    create, hundreds of microseconds per chunk when a volume is rewritten.
    A spare is reused only when a write lease proves that no reader still
    has the old chunk open (one that opened it just before the exchange
    must go on reading the old bytes), and only on local file systems,
    where a lease sees every reader; elsewhere it is unlinked. Nothing is
    fsync'ed, as in Python zarr: after a machine crash, recent chunks may
    be lost or empty, and an empty chunk reads as an error naming it.

    Each chunk file is read with one read() into a buffer kept by the
    handle, and the decoded chunk, the fill chunk and the codec's contexts
    are kept too, so the steady state allocates nothing. Chunks that are
    entirely the fill value are still written, like Python zarr 2.13's
    default: simpler, and a processed block always leaves its chunks on
    disk. Big-endian arrays written elsewhere (">u2") are read and written
    by swapping bytes after decoding and before encoding.

    v2 arrays in Fortran order ("order": "F", which Python zarr writes when
    asked) store each chunk, the padding of edge chunks included, with its
    first axis fastest. They are decoded into a buffer of the handle and
    transposed from there into C order, and transposed into that buffer
    before they are encoded, so everything above the store (ROI copies,
    the direct path into the caller's buffer) sees C order only, and a C
    order array pays one test of a flag per chunk.

    Zarr v3 arrays use the same store: their keys start with "c" and the
    separator (c/0/1/2), and their chunks go through the v3 codec chain
    (v3_codecs.c) instead. chunk_put(), the atomic replacement, also puts
    shard.c's assembled shards in place.
*/
#include "array_internal.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

//  The handle's store -----------------------------------------------------

//  File systems whose readers are all on this host, where a write lease
//  proves that nobody has a file open.
static bool
s_local_fs(long type)
{
    switch ((unsigned long)type) {
    case 0xEF53:        //  ext2, ext3, ext4
    case 0x58465342:    //  xfs
    case 0x9123683E:    //  btrfs
    case 0x01021994:    //  tmpfs
    case 0xF2F52010:    //  f2fs
        return true;
    default:
        return false;
    }
}

//  The size of a decoded chunk, guarding against overflow.
static int
s_chunk_bytes(daisy_array_t *self, daisy_error_t *err)
{
    size_t bytes = self->itemsize;
    for (int d = 0; d < self->dims; d++) {
        if ((uint64_t)self->chunks[d] > ZARR_MAX_CHUNK_BYTES / bytes)
            return daisy_error_set(err, "%s: chunks of %lld voxels in dimension %d make "
                                   "chunks of more than %llu bytes, which a read would "
                                   "allocate and fill whole", self->format == 3 ? "zarr.json"
                                   : ".zarray", (long long)self->chunks[d], d,
                                   (unsigned long long)ZARR_MAX_CHUNK_BYTES);
        bytes *= (size_t)self->chunks[d];
    }
    self->chunk_bytes = bytes;
    return 0;
}

//  Set up a handle's store once its metadata is read: the chunk size, the
//  codec, the buffers for chunk file names and whether replaced chunk files
//  may be kept. What it made is freed by chunk_teardown(), also when it
//  fails half-way.
//  The array's extent in world units, offset + shape x voxel size, must
//  fit 64 bits: hostile metadata made every ROI computation overflow.
static int
s_check_extent(const daisy_array_t *self, daisy_error_t *err)
{
    for (int d = 0; d < self->dims; d++) {
        int64_t size, end;
        if (__builtin_mul_overflow(self->shape[d], self->voxel[d], &size)
            || __builtin_add_overflow(self->offset[d], size, &end))
            return daisy_error_set(err, "dimension %d: offset %lld + shape %lld x voxel size "
                                   "%lld does not fit 64 bits", d, (long long)self->offset[d],
                                   (long long)self->shape[d], (long long)self->voxel[d]);
    }
    return 0;
}

int
chunk_setup(daisy_array_t *self, daisy_error_t *err)
{
    if (s_check_extent(self, err) || s_chunk_bytes(self, err))
        return -1;
    if (self->format == 3 ? v3_chain_open(&self->chain, err)
                          : !(self->codec = codec_new(&self->codec_config, self->itemsize, err)))
        return daisy_error_prefix(err, self->format == 3 ? "zarr.json" : ".zarray");
    self->path_cap = strlen(self->path) + sizeof self->key + 64;
    self->file = malloc(self->path_cap);
    self->tmp = malloc(self->path_cap);
    self->spare = malloc(self->path_cap);
    if (!self->file || !self->tmp || !self->spare)
        return daisy_error_set(err, "out of memory");
    //  Reusing replaced chunk files (chunk_store) relies on a write lease
    //  seeing every reader of the file, which only holds where all readers
    //  are on this host: local file systems. Elsewhere (NFS, Lustre, GPFS,
    //  ...) replaced files are unlinked.
    struct statfs fs;
    self->no_spare = statfs(self->path, &fs) != 0 || !s_local_fs(fs.f_type);
    if (getrandom(&self->tmp_nonce, sizeof self->tmp_nonce, GRND_NONBLOCK) != sizeof self->tmp_nonce)
        self->tmp_nonce = (uint32_t)((uintptr_t)self ^ (uint64_t)time(NULL));
    return 0;
}

//  Remove this process's spare and free what chunk_setup() and the chunk
//  functions made.
void
chunk_teardown(daisy_array_t *self)
{
    if (self->have_spare && self->spare_pid == getpid())
        unlink(self->spare);
    codec_destroy(&self->codec);
    v3_chain_close(&self->chain);
    free(self->chunk_buf);
    free(self->fill_buf);
    free(self->file_buf);
    free(self->order_buf);
    free(self->file);
    free(self->tmp);
    free(self->spare);
}

//  Chunks -----------------------------------------------------------------

//  Key and file name of chunk `c` (grid index) into self->key and self->file.
void
chunk_name(daisy_array_t *self, const int64_t *c)
{
    char *k = self->key;
    if (self->key_prefix) {
        *k++ = 'c';
        *k++ = self->sep;
    }
    for (int d = 0; d < self->dims; d++) {
        if (d)
            *k++ = self->sep;
        k += sprintf(k, "%lld", (long long)c[d]);
    }
    snprintf(self->file, self->path_cap, "%s/%s", self->path, self->key);
}

//  Make *buf (of *cap bytes) hold at least `size` bytes.
int
chunk_reserve(unsigned char **buf, size_t *cap, size_t size, daisy_error_t *err)
{
    if (size <= *cap && *buf)
        return 0;
    unsigned char *p = realloc(*buf, size ? size : 1);
    if (!p)
        return daisy_error_set(err, "out of memory for %zu bytes", size);
    *buf = p;
    *cap = size;
    return 0;
}

unsigned char *
chunk_buf(daisy_array_t *self, daisy_error_t *err)
{
    if (!self->chunk_buf && !(self->chunk_buf = malloc(self->chunk_bytes)))
        daisy_error_set(err, "out of memory for a chunk of %zu bytes", self->chunk_bytes);
    return self->chunk_buf;
}

unsigned char *
chunk_fill_buf(daisy_array_t *self, daisy_error_t *err)
{
    if (self->fill_buf)
        return self->fill_buf;
    if (!(self->fill_buf = malloc(self->chunk_bytes))) {
        daisy_error_set(err, "out of memory for a chunk of %zu bytes", self->chunk_bytes);
        return NULL;
    }
    bool same = true;
    for (size_t i = 1; i < self->itemsize; i++)
        same = same && self->fill_item[i] == self->fill_item[0];
    if (same)
        memset(self->fill_buf, self->fill_item[0], self->chunk_bytes);
    else {
        //  Double the filled prefix until the chunk is full.
        memcpy(self->fill_buf, self->fill_item, self->itemsize);
        size_t done = self->itemsize;
        while (done < self->chunk_bytes) {
            size_t n = done < self->chunk_bytes - done ? done : self->chunk_bytes - done;
            memcpy(self->fill_buf + done, self->fill_buf, n);
            done += n;
        }
    }
    return self->fill_buf;
}

//  Between a chunk in C order and in F order (self->order_buf): the axes
//  reversed.
static void
s_order_f(const daisy_array_t *self, const unsigned char *src, unsigned char *dst, bool encode)
{
    int axes[DAISY_MAX_DIMS];
    for (int d = 0; d < self->dims; d++)
        axes[d] = self->dims - 1 - d;
    zarr_permute(self->dims, self->chunks, axes, self->itemsize, src, dst, encode);
}

//  Decode the chunk in self->file into dst (chunk_bytes, native order,
//  C order). 1 when loaded, 0 when the chunk does not exist, -1 on error.
int
chunk_load(daisy_array_t *self, unsigned char *dst, daisy_error_t *err)
{
    //  Without blocking, and only a regular file: a FIFO in a chunk's place
    //  hung the reader, a directory read as a chunk of 4096 bytes.
    int fd = open(self->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return daisy_error_set(err, "cannot open: %s", strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return daisy_error_set(err, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return daisy_error_set(err, "is not a regular file");
    }
    size_t size = (size_t)st.st_size;
    int rc = 0;
    if (self->format == 3) {
        if (chunk_reserve(&self->file_buf, &self->file_cap, size, err))
            rc = -1;
        else if (zarr_read_full(fd, self->file_buf, size) < 0)
            rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
        else
            rc = v3_chain_decode(&self->chain, self, self->file_buf, size, dst, err);
        close(fd);
        return rc < 0 ? -1 : 1;
    }
    //  F order decodes aside, to be transposed into dst.
    unsigned char *into = dst;
    if (self->order_f
        && chunk_reserve(&self->order_buf, &self->order_cap, self->chunk_bytes, err)) {
        close(fd);
        return -1;
    }
    if (self->order_f)
        into = self->order_buf;
    if (self->codec_config.id == DAISY_COMPRESSOR_NONE) {
        if (size != self->chunk_bytes)
            rc = daisy_error_set(err, "uncompressed chunk file has %zu bytes, expected %zu",
                                 size, self->chunk_bytes);
        else if (zarr_read_full(fd, into, size) < 0)
            rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
    } else {
        if (chunk_reserve(&self->file_buf, &self->file_cap, size, err))
            rc = -1;
        else if (zarr_read_full(fd, self->file_buf, size) < 0)
            rc = daisy_error_set(err, "cannot read: %s", strerror(errno));
        else
            rc = codec_decode(self->codec, self->file_buf, size, into, self->chunk_bytes, err);
    }
    close(fd);
    if (rc < 0)
        return -1;
    if (self->swap)
        zarr_dtype_swap(into, self->chunk_bytes / self->itemsize, self->itemsize);
    if (self->order_f)
        s_order_f(self, into, dst, false);
    return 1;
}

//  Replacing --------------------------------------------------------------

//  Put self->tmp in place of self->file atomically. A new chunk is renamed
//  with RENAME_NOREPLACE (returns 0: the temporary name is gone); an
//  existing one is swapped with RENAME_EXCHANGE (returns 1: the temporary
//  name now holds the old chunk). Both are as atomic as rename() for
//  readers and writers. rename() over an existing file would make ext4
//  (auto_da_alloc) allocate and start writing the new blocks inside the
//  call. Where renameat2 flags are not supported (EINVAL), plain rename().
static int
s_replace(daisy_array_t *self)
{
    for (int tries = 0; !self->plain_rename && tries < 16; tries++) {
        if (renameat2(AT_FDCWD, self->tmp, AT_FDCWD, self->file, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno == EEXIST) {
            if (renameat2(AT_FDCWD, self->tmp, AT_FDCWD, self->file, RENAME_EXCHANGE) == 0)
                return 1;
            if (errno == ENOENT)
                continue;               //  removed in between: try again
        }
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
        self->plain_rename = true;
    }
    return rename(self->tmp, self->file) < 0 ? -1 : 0;
}

//  A new temporary file beside self->file, named in self->tmp. Its name
//  starts with '.' and ends with '.partial', as Python zarr's
//  DirectoryStore names its own; pid, a random nonce and a counter make it
//  unique across processes and hosts.
static int
s_tmp_create(daisy_array_t *self, daisy_error_t *err)
{
    const char *slash = strrchr(self->file, '/');
    int dirlen = (int)(slash - self->file);
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(self->tmp, self->path_cap, "%.*s/.%s.%d.%08x%llx.partial", dirlen, self->file,
                 slash + 1, (int)getpid(), self->tmp_nonce,
                 (unsigned long long)self->tmp_count++);
        int fd = open(self->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == ENOENT && strchr(self->key, '/')) {
            //  Nested keys: make the chunk's directories on first use.
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%.*s", dirlen, self->file);
            if (fsutil_mkdirs(dir) < 0)
                return daisy_error_set(err, "cannot create directory '%s': %s", dir,
                                       strerror(errno));
            fd = open(self->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        }
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return daisy_error_set(err, "cannot create '%s': %s", self->tmp, strerror(errno));
    }
    return daisy_error_set(err, "cannot find a free temporary name near '%s'", self->file);
}

//  The spare (see chunk_store) opened for writing and emptied, or -1
//  when it cannot be reused. It may be reused only when no other process
//  has it open: a reader that opened the old chunk just before it was
//  swapped out must go on reading the old bytes. A write lease is granted
//  only when no other descriptor of the file is open anywhere, and no new
//  one can appear, as no chunk name leads to the file any more.
static int
s_spare_take(daisy_array_t *self)
{
    self->have_spare = false;
    memcpy(self->tmp, self->spare, strlen(self->spare) + 1);
    int fd = open(self->tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
        fcntl(fd, F_SETLEASE, F_UNLCK);
        if (ftruncate(fd, 0) == 0)
            return fd;
    } else if (errno != EAGAIN && errno != EBUSY)
        self->no_spare = true;          //  no leases here (NFS, ...): never reuse
    close(fd);
    unlink(self->tmp);
    return -1;
}

//  Encode `data` (one chunk, native order, C order; swapped in place when
//  the array is big endian and in C order, so it must then be the handle's
//  buffer) and put it in place of self->file atomically.
//
//  Overwriting a chunk leaves the old chunk's file under the temporary
//  name. Instead of unlinking it, the handle keeps it as its spare and
//  writes the next chunk into it when nobody has it open (s_spare_take):
//  creating and deleting a file per chunk makes ext4 scan past every
//  recently deleted inode on each create (find_inode_bit/recently_deleted),
//  which grows to hundreds of microseconds per chunk when a volume is
//  rewritten. The spare belongs to the process that made it (a forked child
//  makes its own) and is unlinked by daisy_array_destroy(); a process that
//  dies leaves at most one hidden *.partial file per handle behind.
int
chunk_store(daisy_array_t *self, unsigned char *data, daisy_error_t *err)
{
    const void *out;
    size_t out_len;
    if (self->format == 3) {
        if (v3_chain_encode(&self->chain, self, data, &out, &out_len, err))
            return -1;
        return chunk_put(self, out, out_len, err);
    }
    if (self->order_f) {
        if (chunk_reserve(&self->order_buf, &self->order_cap, self->chunk_bytes, err))
            return -1;
        s_order_f(self, data, self->order_buf, true);
        data = self->order_buf;
    }
    if (self->swap)
        zarr_dtype_swap(data, self->chunk_bytes / self->itemsize, self->itemsize);
    if (codec_encode(self->codec, data, self->chunk_bytes, &out, &out_len, err))
        return -1;
    return chunk_put(self, out, out_len, err);
}

//  Put `len` bytes at `data` in place of self->file atomically: written to
//  a temporary file (or the spare) beside it, then renamed over it.
int
chunk_put(daisy_array_t *self, const void *data, size_t len, daisy_error_t *err)
{
    const void *out = data;
    size_t out_len = len;
    int fd = -1;
    pid_t pid = getpid();
    if (self->have_spare && self->spare_pid == pid)
        fd = s_spare_take(self);
    if (fd < 0 && (fd = s_tmp_create(self, err)) < 0)
        return -1;
    if (zarr_write_full(fd, out, out_len) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(self->tmp);
        return daisy_error_set(err, "cannot write '%s': %s", self->tmp, strerror(e));
    }
    int rc = s_replace(self);
    if (rc < 0 && errno == ENOENT && strchr(self->key, '/')) {
        //  The spare lives in another chunk's directory, and this chunk's
        //  nested directory does not exist yet.
        char dir[PATH_MAX];
        const char *slash = strrchr(self->file, '/');
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - self->file), self->file);
        if (fsutil_mkdirs(dir) == 0)
            rc = s_replace(self);
    }
    if (rc < 0) {
        int e = errno;
        unlink(self->tmp);
        return daisy_error_set(err, "cannot rename '%s' into place: %s", self->tmp,
                               strerror(e));
    }
    if (rc == 1) {
        //  self->tmp holds the old chunk now: the next spare, or gone.
        if (self->no_spare)
            unlink(self->tmp);
        else {
            memcpy(self->spare, self->tmp, strlen(self->tmp) + 1);
            self->have_spare = true;
            self->spare_pid = pid;
        }
    }
    return 0;
}
