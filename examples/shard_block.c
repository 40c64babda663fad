/*  shard_block.c - blocks that write a sharded Zarr v3 array, with no lock

    examples/pipelines/sharded.json runs this program once per block under
    `daisy run`. The output is a Zarr v3 uint32 array of 32^3 voxels (voxel
    size 2 x 1 x 1, so world units and voxels differ) stored in shards of
    16^3 voxels, 8 shard files, each holding 64 inner chunks of 4^3. The
    blocks are half a shard along each dimension, so 8 blocks write into
    each shard, and every such write is a read-modify-write of the whole
    shard file, replaced by rename: two blocks of one shard running at once
    can lose one's update. The pipeline's `write_grid` (the shard shape in
    world units) makes the scheduler keep such blocks apart (8 levels), so
    the workers need no lock; `check` proves that nothing was lost.

      shard_block create OUTDIR   the empty sharded array OUTDIR/hashes (one block)
      shard_block write OUTDIR    the block's write ROI: value_at() of every voxel
      shard_block check OUTDIR    every voxel against value_at() (exit 1 if not)

    A block finds its write ROI in DAISY_WRITE_OFFSET / DAISY_WRITE_SHAPE.
    It writes it slab by slab along the first dimension, one write per
    voxel plane, as a program producing its output plane by plane would:
    several read-modify-writes of the shard per block. SHARD_BLOCK_SLEEP_MS
    (default 0) sleeps that long before each slab, which widens the window
    in which a block without the write grid races with its shard's others
    (tests/integration/sharded_run.sh shows both).

    The value of a voxel is a hash of its global voxel position, never 0
    (the fill value), so a voxel that a lost update left unwritten, or that
    holds another's value, is always found.
*/
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daisy/daisy.h"

#define DIMS 3
#define ARRAY "hashes"

static const int64_t SHAPE[DIMS] = {32, 32, 32};        //  voxels
static const int64_t SHARD[DIMS] = {16, 16, 16};        //  voxels
static const int64_t CHUNK[DIMS] = {4, 4, 4};           //  inner chunks, voxels
static const int64_t VOXEL_SIZE[DIMS] = {2, 1, 1};      //  world units

static int
fail(const char *what, const char *msg)
{
    fprintf(stderr, "shard_block %s: %s\n", what, msg);
    return 1;
}

//  A hash of the voxel position (splitmix64's finaliser), never 0.
static uint32_t
value_at(int64_t z, int64_t y, int64_t x)
{
    uint64_t h = 0x2545F4914F6CDD1Du ^ (uint64_t)z * 0x9E3779B97F4A7C15u
                 ^ (uint64_t)y * 0xC2B2AE3D27D4EB4Fu ^ (uint64_t)x * 0x165667B19E3779F9u;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9u;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBu;
    h ^= h >> 31;
    return (uint32_t)h | 1;
}

//  DIMS comma-separated integers from environment variable `name`.
static int
env_coord(const char *name, int64_t *v, char *msg, size_t len)
{
    const char *s = getenv(name);
    if (!s) {
        snprintf(msg, len, "%s is not set (run this under daisy run)", name);
        return -1;
    }
    const char *p = s;
    for (int d = 0; d < DIMS; d++) {
        char *end;
        errno = 0;
        v[d] = strtoll(p, &end, 10);
        if (errno || end == p || *end != (d == DIMS - 1 ? '\0' : ',')) {
            snprintf(msg, len, "%s='%s': expected %d comma-separated integers", name, s, DIMS);
            return -1;
        }
        p = end + 1;
    }
    return 0;
}

//  SHARD_BLOCK_SLEEP_MS, 0 when unset; -1 when it is not a number 0..10000.
static long
sleep_ms(char *msg, size_t len)
{
    const char *s = getenv("SHARD_BLOCK_SLEEP_MS");
    if (!s || !*s)
        return 0;
    char *end;
    long ms = strtol(s, &end, 10);
    if (*end || ms < 0 || ms > 10000) {
        snprintf(msg, len, "SHARD_BLOCK_SLEEP_MS='%s': expected milliseconds 0..10000", s);
        return -1;
    }
    return ms;
}

static void
pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static daisy_array_t *
open_array(const char *outdir, bool writable, daisy_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, ARRAY);
    return daisy_array_open(path, writable, err);
}

static int
create(const char *outdir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, ARRAY);
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT32, DIMS, SHAPE, CHUNK);
    spec.zarr_format = 3;
    memcpy(spec.shard_shape, SHARD, sizeof SHARD);
    memcpy(spec.voxel_size, VOXEL_SIZE, sizeof VOXEL_SIZE);
    spec.compressor = DAISY_COMPRESSOR_ZSTD;
    spec.overwrite = true;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path, &spec, &err);
    if (!a)
        return fail("create", err.msg);
    daisy_array_destroy(&a);
    return 0;
}

//  Fill one slab (world ROI `slab`, voxels of the array's voxel size) with
//  value_at() of its voxels.
static void
fill_slab(const daisy_roi_t *slab, uint32_t *buf)
{
    int64_t o[DIMS], n[DIMS];
    for (int d = 0; d < DIMS; d++) {
        o[d] = slab->offset[d] / VOXEL_SIZE[d];
        n[d] = slab->shape[d] / VOXEL_SIZE[d];
    }
    size_t k = 0;
    for (int64_t z = 0; z < n[0]; z++)
        for (int64_t y = 0; y < n[1]; y++)
            for (int64_t x = 0; x < n[2]; x++)
                buf[k++] = value_at(o[0] + z, o[1] + y, o[2] + x);
}

//  The block's write ROI, one voxel plane along dimension 0 at a time.
static int
write_block(daisy_array_t *a, const daisy_roi_t *roi, long ms, daisy_error_t *err)
{
    daisy_roi_t slab = *roi;
    slab.shape[0] = VOXEL_SIZE[0];
    uint32_t *buf = malloc(daisy_array_buffer_size(a, &slab) + 1);
    if (!buf)
        return daisy_error_set(err, "out of memory");
    int rc = 0;
    for (int64_t z = roi->offset[0]; rc == 0 && z < roi->offset[0] + roi->shape[0];
         z += VOXEL_SIZE[0]) {
        pause_ms(ms);
        slab.offset[0] = z;
        fill_slab(&slab, buf);
        rc = daisy_array_write(a, &slab, buf, err);
    }
    free(buf);
    return rc;
}

static int
write_step(const char *outdir)
{
    char msg[256];
    int64_t offset[DIMS], shape[DIMS];
    if (env_coord("DAISY_WRITE_OFFSET", offset, msg, sizeof msg) != 0
        || env_coord("DAISY_WRITE_SHAPE", shape, msg, sizeof msg) != 0)
        return fail("write", msg);
    long ms = sleep_ms(msg, sizeof msg);
    if (ms < 0)
        return fail("write", msg);
    daisy_roi_t roi = daisy_roi_make(DIMS, offset, shape);
    daisy_error_t err;
    daisy_array_t *a = open_array(outdir, true, &err);
    int rc = a ? write_block(a, &roi, ms, &err) : -1;
    daisy_array_destroy(&a);
    return rc == 0 ? 0 : fail("write", err.msg);
}

//  Count the voxels of `buf` (the whole array) that differ from value_at(),
//  naming the first.
static int64_t
count_wrong(const uint32_t *buf)
{
    int64_t wrong = 0;
    size_t k = 0;
    for (int64_t z = 0; z < SHAPE[0]; z++)
        for (int64_t y = 0; y < SHAPE[1]; y++)
            for (int64_t x = 0; x < SHAPE[2]; x++, k++) {
                uint32_t want = value_at(z, y, x);
                if (buf[k] == want)
                    continue;
                if (wrong++ == 0)
                    fprintf(stderr,
                            "shard_block check: first wrong voxel (%" PRId64 ", %" PRId64
                            ", %" PRId64 ") (world (%" PRId64 ", %" PRId64 ", %" PRId64
                            ")): %" PRIu32 ", expected %" PRIu32 "%s\n",
                            z, y, x, z * VOXEL_SIZE[0], y * VOXEL_SIZE[1], x * VOXEL_SIZE[2],
                            buf[k], want, buf[k] == 0 ? " (never written: a lost update)" : "");
            }
    return wrong;
}

static int
check(const char *outdir)
{
    daisy_error_t err;
    daisy_array_t *a = open_array(outdir, false, &err);
    if (!a)
        return fail("check", err.msg);
    daisy_roi_t all = daisy_array_roi(a);
    size_t size = daisy_array_buffer_size(a, &all);
    uint32_t *buf = size == SHAPE[0] * SHAPE[1] * SHAPE[2] * sizeof *buf ? malloc(size) : NULL;
    int rc = buf ? daisy_array_read(a, &all, buf, &err)
                 : daisy_error_set(&err, "%s: not the array 'create' makes (or out of memory)",
                                   daisy_array_path(a));
    daisy_array_destroy(&a);
    int64_t wrong = rc == 0 ? count_wrong(buf) : 0;
    free(buf);
    if (rc != 0)
        return fail("check", err.msg);
    int64_t total = SHAPE[0] * SHAPE[1] * SHAPE[2];
    if (wrong) {
        fprintf(stderr, "shard_block check: %s/%s: %" PRId64 " of %" PRId64 " voxels wrong\n",
                outdir, ARRAY, wrong, total);
        return 1;
    }
    printf("%" PRId64 " voxels match\n", total);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: shard_block create|write|check OUTDIR\n");
        return 2;
    }
    const char *step = argv[1], *outdir = argv[2];
    if (!strcmp(step, "create"))
        return create(outdir);
    if (!strcmp(step, "write"))
        return write_step(outdir);
    if (!strcmp(step, "check"))
        return check(outdir);
    fprintf(stderr, "shard_block: unknown step '%s'\n", step);
    return 2;
}
