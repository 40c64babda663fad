/*  bench_array.c - what daisy_array costs against raw files and against
    Python zarr

    Cases (one JSON object per line on stdout):

    chunk_read       An uncompressed uint8 volume (512 x 512 x 1024, 256 MiB;
    chunk_write      --quick: 128 x 128 x 256) in chunks of 64^3 (256 KiB)
                     and of 128^3 (2 MiB). Timed: reading every chunk with
                     daisy_array_read(), ROI = the chunk, into a chunk-sized
                     buffer; and writing every chunk with daisy_array_write().
                     The reference is dd on the same files in the same run:
                     open, read() (or write() after O_TRUNC) with a 4 MiB
                     buffer, close. Runs come in pairs, the order alternating
                     within the pair (--pairs, default 5, 2 with --quick);
                     `ratio` is the median over pairs of daisy's MiB/s over
                     dd's. Target: ratio >= 0.70. Everything is in the page
                     cache (the files were just written), so this measures
                     the per-chunk overhead daisy adds (temporary file and
                     rename on writes, fstat on reads) against the copy
                     itself. Every write pass starts after syncfs() (not
                     timed): otherwise a pass pays for the writeback the
                     previous pass left behind, and the order, not the
                     method, decides the figure.
    blockwise_copy   A uint8 volume of 1 GiB (1024^3; --quick: 128^3) with
                     structure (smooth gradients and waves plus 2 bits of
                     noise, so it compresses to about 70%, like noisy EM
                     data), zstd level 1 (numcodecs' default), chunks
                     128^3 (--quick: 32^3). Timed: copying it to a new
                     array with 2 forked worker processes, each taking every
                     other block of 256^3 (2 x 2 x 2 chunks) through
                     daisy_array_read/daisy_array_write (fork to last exit);
                     the same with 1 worker; and Python zarr
                     (/usr/bin/python3, or $DAISY_PYTHON) copying it chunk
                     by chunk in one process (dst[chunk] = src[chunk], timed
                     inside Python, so interpreter start-up is not counted).
                     Best of --rounds (default 2, 1 with --quick) for each.
                     Both copies are checked against the source. Target:
                     python seconds / 2-worker seconds >= 1.5. Without
                     python3-zarr the reference is null (and said why).

    sharded_copy     The same kind of uint8 volume, 1 GiB (1024^3; --quick:
                     256^3), zstd level 1, copied blockwise with 2 forked
                     workers (each every other block, blocks = shards of
                     256^3; --quick: 128^3) from a v2 source in chunks of
                     the block size into (a) a Zarr v3 array sharded in
                     256^3 shards of 32^3 inner chunks (--quick: 128^3 of
                     16^3) and (b) a Zarr v2 array in chunks of the inner
                     chunk size. Each pass starts after syncfs() (not
                     timed); the two alternate, best of --rounds each.
                     Both copies are checked against the source. Reported:
                     seconds and MiB/s of each, `ratio` = v3 throughput /
                     v2 throughput, and the files each copy created.
                     Targets: ratio >= 0.8 and >= 100x fewer files.

    order_f_read     What Fortran order costs: two uncompressed v2 arrays of
    order_f_write    128 MiB (--quick: 2 MiB) in chunks of 64^3 (--quick:
                     32^3) elements, one in order "F", one in order "C",
                     for each element size (uint8, uint16, float32, uint64;
                     the volume's axes halved in turn as items grow).
                     Timed as chunk_read/chunk_write: every chunk read,
                     ROI = the chunk, and every chunk written, each write
                     pass after syncfs() (not timed). The reference is the
                     C-order array in the same run, in pairs of alternating
                     order (--pairs); `ratio` is the median over pairs of
                     F's MiB/s over C's, `pair_ratios` all of them. A C read
                     goes straight into the caller's buffer; an F read
                     decodes aside and transposes, an F write transposes
                     before it encodes (zarr_permute), so uncompressed data
                     in the page cache shows the transposition at its
                     dearest. Both arrays are read back and compared, and
                     a chunk file of the F array is checked to hold the
                     chunk transposed. No target: an F read makes a
                     second pass over each chunk (C's only one), so the
                     ratio says what that pass costs.

    Data lives in a fresh directory under /tmp (or --dir), removed at the
    end. The exit status is 1 when a check fails (a copy that differs, an
    error from the library); a missed target does not change it. The
    command line, the case loop and the clocks are bench_util's, shared
    with the other benchmark programs; the cases run in this process.
*/
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "daisy/array.h"

#define DD_BUFFER (4u << 20)

static uint64_t
xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

//  Chunk grid walking (3D) ------------------------------------------------

typedef struct {
    int64_t shape[3], chunk[3], grid[3];
    int64_t count;
} grid_t;

static grid_t
grid_make(const int64_t *shape, const int64_t *chunk)
{
    grid_t g;
    g.count = 1;
    for (int d = 0; d < 3; d++) {
        g.shape[d] = shape[d];
        g.chunk[d] = chunk[d];
        g.grid[d] = (shape[d] + chunk[d] - 1) / chunk[d];
        g.count *= g.grid[d];
    }
    return g;
}

//  The i-th cell of the grid (row-major) as a ROI (voxel size 1, offset 0).
static daisy_roi_t
grid_roi(const grid_t *g, int64_t i)
{
    int64_t idx[3], off[3], shp[3];
    idx[2] = i % g->grid[2];
    idx[1] = (i / g->grid[2]) % g->grid[1];
    idx[0] = i / (g->grid[2] * g->grid[1]);
    for (int d = 0; d < 3; d++) {
        off[d] = idx[d] * g->chunk[d];
        shp[d] = off[d] + g->chunk[d] <= g->shape[d] ? g->chunk[d] : g->shape[d] - off[d];
    }
    return daisy_roi_make(3, off, shp);
}

//  Case: chunk_read / chunk_write -----------------------------------------

static double
dd_read_all(char **files, int64_t n, unsigned char *buf, size_t *total)
{
    double t0 = bench_now();
    size_t bytes = 0;
    for (int64_t i = 0; i < n; i++) {
        int fd = open(files[i], O_RDONLY);
        if (fd < 0)
            return -1;
        ssize_t r;
        while ((r = read(fd, buf, DD_BUFFER)) > 0)
            bytes += (size_t)r;
        close(fd);
        if (r < 0)
            return -1;
    }
    *total = bytes;
    return bench_now() - t0;
}

static double
dd_write_all(char **files, int64_t n, const unsigned char *buf, size_t chunk_bytes)
{
    double t0 = bench_now();
    for (int64_t i = 0; i < n; i++) {
        int fd = open(files[i], O_WRONLY | O_TRUNC);
        if (fd < 0)
            return -1;
        size_t done = 0;
        while (done < chunk_bytes) {
            size_t len = chunk_bytes - done < DD_BUFFER ? chunk_bytes - done : DD_BUFFER;
            ssize_t w = write(fd, buf + done, len);
            if (w < 0) {
                close(fd);
                return -1;
            }
            done += (size_t)w;
        }
        if (close(fd) < 0)
            return -1;
    }
    return bench_now() - t0;
}

static double
daisy_read_all(daisy_array_t *a, const grid_t *g, unsigned char *buf)
{
    daisy_error_t err;
    double t0 = bench_now();
    for (int64_t i = 0; i < g->count; i++) {
        daisy_roi_t roi = grid_roi(g, i);
        if (daisy_array_read(a, &roi, buf, &err)) {
            fprintf(stderr, "bench_array: %s\n", err.msg);
            return -1;
        }
    }
    return bench_now() - t0;
}

static double
daisy_write_all(daisy_array_t *a, const grid_t *g, const unsigned char *buf)
{
    daisy_error_t err;
    double t0 = bench_now();
    for (int64_t i = 0; i < g->count; i++) {
        daisy_roi_t roi = grid_roi(g, i);
        if (daisy_array_write(a, &roi, buf, &err)) {
            fprintf(stderr, "bench_array: %s\n", err.msg);
            return -1;
        }
    }
    return bench_now() - t0;
}

static void
s_sync(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

static int
case_chunk_io(const char *dir, bool quick, int pairs, int64_t chunk_edge)
{
    int64_t shape[3] = {512, 512, 1024};
    if (quick)
        shape[0] = shape[1] = 128, shape[2] = 256;
    int64_t chunk[3] = {chunk_edge, chunk_edge, chunk_edge};
    grid_t g = grid_make(shape, chunk);
    size_t chunk_bytes = (size_t)(chunk_edge * chunk_edge * chunk_edge);
    size_t volume = (size_t)(shape[0] * shape[1] * shape[2]);
    char path[512];
    snprintf(path, sizeof path, "%s/raw_%lld.zarr", dir, (long long)chunk_edge);
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 3, shape, chunk);
    spec.overwrite = true;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(path, &spec, &err);
    if (!a)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    unsigned char *buf = malloc(chunk_bytes > DD_BUFFER ? chunk_bytes : DD_BUFFER);
    uint64_t s = 42;
    for (size_t i = 0; i < chunk_bytes; i++)
        buf[i] = (unsigned char)xorshift(&s);
    //  Set-up: every chunk exists (and is cached).
    if (daisy_write_all(a, &g, buf) < 0)
        return -1;
    char **files = calloc((size_t)g.count, sizeof *files);
    for (int64_t i = 0; i < g.count; i++) {
        daisy_roi_t roi = grid_roi(&g, i);
        if (asprintf(&files[i], "%s/%lld.%lld.%lld", path, (long long)(roi.offset[0] / chunk_edge),
                     (long long)(roi.offset[1] / chunk_edge),
                     (long long)(roi.offset[2] / chunk_edge)) < 0)
            return -1;
    }
    double rr[64], wr[64], rd[64], rdd[64], wd[64], wdd[64];
    int rc = 0;
    for (int p = 0; p < pairs && rc == 0; p++) {
        size_t total = 0;
        double td, tdd;
        //  Reads, alternating which goes first.
        if (p % 2 == 0) {
            td = daisy_read_all(a, &g, buf);
            tdd = dd_read_all(files, g.count, buf, &total);
        } else {
            tdd = dd_read_all(files, g.count, buf, &total);
            td = daisy_read_all(a, &g, buf);
        }
        if (td < 0 || tdd < 0 || total != volume) {
            fprintf(stderr, "bench_array: chunk_read failed (%zu of %zu bytes)\n", total, volume);
            rc = -1;
            break;
        }
        rd[p] = (double)volume / td / 1048576.0;
        rdd[p] = (double)volume / tdd / 1048576.0;
        rr[p] = rd[p] / rdd[p];
        //  Writes. Each pass starts with the file system synced (not
        //  timed), so that neither pays for the other's writeback.
        if (p % 2 == 0) {
            s_sync(path);
            td = daisy_write_all(a, &g, buf);
            s_sync(path);
            tdd = dd_write_all(files, g.count, buf, chunk_bytes);
        } else {
            s_sync(path);
            tdd = dd_write_all(files, g.count, buf, chunk_bytes);
            s_sync(path);
            td = daisy_write_all(a, &g, buf);
        }
        if (td < 0 || tdd < 0) {
            fprintf(stderr, "bench_array: chunk_write failed\n");
            rc = -1;
            break;
        }
        wd[p] = (double)volume / td / 1048576.0;
        wdd[p] = (double)volume / tdd / 1048576.0;
        wr[p] = wd[p] / wdd[p];
    }
    //  The dd writes left the same bytes; daisy must still read them.
    if (rc == 0) {
        unsigned char *check = malloc(chunk_bytes);
        daisy_roi_t roi = grid_roi(&g, g.count - 1);
        if (daisy_array_read(a, &roi, check, &err) || memcmp(check, buf, chunk_bytes) != 0) {
            fprintf(stderr, "bench_array: chunk contents differ after the runs\n");
            rc = -1;
        }
        free(check);
    }
    if (rc == 0) {
        const char *names[2] = {"chunk_read", "chunk_write"};
        double *ratio[2] = {rr, wr}, *mine[2] = {rd, wd}, *ref[2] = {rdd, wdd};
        for (int k = 0; k < 2; k++) {
            double r = bench_median(ratio[k], (size_t)pairs),
                   m = bench_median(mine[k], (size_t)pairs),
                   d = bench_median(ref[k], (size_t)pairs);
            printf("{\"case\": \"%s\", \"quick\": %s, \"dtype\": \"uint8\", \"compressor\": \"none\", "
                   "\"shape\": [%lld, %lld, %lld], \"chunk\": [%lld, %lld, %lld], "
                   "\"chunk_bytes\": %zu, \"chunks\": %lld, \"bytes\": %zu, \"pairs\": %d, "
                   "\"mib_per_s\": %.1f, \"reference\": \"dd (read/write, %u MiB buffer)\", "
                   "\"reference_mib_per_s\": %.1f, \"ratio\": %.3f, \"target_ratio\": 0.70, "
                   "\"meets_target\": %s}\n",
                   names[k], bench_bool(quick), (long long)shape[0], (long long)shape[1],
                   (long long)shape[2], (long long)chunk[0], (long long)chunk[1],
                   (long long)chunk[2], chunk_bytes, (long long)g.count, volume, pairs, m,
                   DD_BUFFER >> 20, d, r, bench_bool(r >= 0.70));
        }
        fflush(stdout);
    }
    for (int64_t i = 0; i < g.count; i++)
        free(files[i]);
    free(files);
    free(buf);
    daisy_array_destroy(&a);
    bench_remove_tree(path);
    return rc;
}

//  Case: blockwise_copy ---------------------------------------------------

//  Smooth gradients and waves plus a little noise: compresses, not trivially.
static void
make_block(const daisy_roi_t *roi, unsigned char *buf, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    size_t i = 0;
    for (int64_t z = roi->offset[0]; z < roi->offset[0] + roi->shape[0]; z++)
        for (int64_t y = roi->offset[1]; y < roi->offset[1] + roi->shape[1]; y++) {
            int base = (int)((z / 4 + y / 8) & 0xff);
            int wave = (int)(24.0 * sin((double)(z + 2 * y) / 40.0));
            uint64_t r = xorshift(&s);
            for (int64_t x = roi->offset[2]; x < roi->offset[2] + roi->shape[2]; x++) {
                if ((x & 7) == 0)
                    r = xorshift(&s);
                int noise = (int)((r >> (8 * (x & 7))) & 3);
                buf[i++] = (unsigned char)(base + wave + (int)(x / 16) + noise);
            }
        }
}

static int
copy_blocks(const char *src_path, const char *dst_path, const grid_t *blocks, int worker,
            int workers)
{
    daisy_error_t err;
    daisy_array_t *src = daisy_array_open(src_path, false, &err);
    daisy_array_t *dst = src ? daisy_array_open(dst_path, true, &err) : NULL;
    if (!src || !dst)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    size_t bytes = (size_t)(blocks->chunk[0] * blocks->chunk[1] * blocks->chunk[2]);
    unsigned char *buf = malloc(bytes);
    int rc = 0;
    for (int64_t i = worker; i < blocks->count && rc == 0; i += workers) {
        daisy_roi_t roi = grid_roi(blocks, i);
        if (daisy_array_read(src, &roi, buf, &err) || daisy_array_write(dst, &roi, buf, &err)) {
            fprintf(stderr, "bench_array: worker %d: %s\n", worker, err.msg);
            rc = -1;
        }
    }
    free(buf);
    daisy_array_destroy(&src);
    daisy_array_destroy(&dst);
    return rc;
}

//  Fork `workers` copiers; seconds from the first fork to the last exit.
static double
c_copy(const char *src, const char *dst, const daisy_array_spec_t *spec, const grid_t *blocks,
       int workers)
{
    daisy_error_t err;
    daisy_array_spec_t s = *spec;
    s.overwrite = true;
    daisy_array_t *d = daisy_array_create(dst, &s, &err);
    if (!d)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    daisy_array_destroy(&d);
    fflush(NULL);
    double t0 = bench_now();
    pid_t pids[16];
    for (int w = 0; w < workers; w++) {
        pids[w] = fork();
        if (pids[w] < 0)
            return -1;
        if (pids[w] == 0)
            _exit(copy_blocks(src, dst, blocks, w, workers) == 0 ? 0 : 1);
    }
    bool ok = true;
    for (int w = 0; w < workers; w++) {
        int status;
        if (bench_wait(pids[w], &status, NULL) != 0 || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            ok = false;
    }
    double t = bench_now() - t0;
    return ok ? t : -1;
}

static const char *python_copy =
    "import itertools, sys, time\n"
    "try:\n"
    "    import zarr\n"
    "except ImportError as e:\n"
    "    print('unavailable', e); sys.exit(0)\n"
    "src = zarr.open_array(sys.argv[1], mode='r')\n"
    "dst = zarr.open_array(sys.argv[2], mode='w', shape=src.shape, chunks=src.chunks,\n"
    "                      dtype=src.dtype, compressor=src.compressor,\n"
    "                      fill_value=src.fill_value)\n"
    "t = time.perf_counter()\n"
    "for idx in itertools.product(*[range(0, s, c) for s, c in zip(src.shape, src.chunks)]):\n"
    "    sl = tuple(slice(i, i + c) for i, c in zip(idx, src.chunks))\n"
    "    dst[sl] = src[sl]\n"
    "print('seconds', time.perf_counter() - t, zarr.__version__)\n";

//  Seconds Python zarr takes, or -1 with *why set when it cannot run.
static double
python_copy_seconds(const char *src, const char *dst, char *why, size_t why_len,
                    char *version, size_t version_len)
{
    const char *python = getenv("DAISY_PYTHON") ? getenv("DAISY_PYTHON") : "/usr/bin/python3";
    if (access(python, X_OK) != 0) {
        snprintf(why, why_len, "%s is not installed", python);
        return -1;
    }
    int fds[2];
    if (pipe(fds) < 0)
        return snprintf(why, why_len, "pipe failed"), -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(python, python, "-c", python_copy, src, dst, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[512] = "";
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = -1;
    bench_wait(pid, &status, NULL);
    double secs;
    char ver[64] = "";
    if (strncmp(out, "unavailable", 11) == 0) {
        snprintf(why, why_len, "python3-zarr is not installed (%.*s)",
                 (int)strcspn(out + 12, "\n"), out + 12);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0
        || sscanf(out, "seconds %lf %63s", &secs, ver) != 2) {
        snprintf(why, why_len, "python zarr copy failed (status %d)", status);
        return -2;
    }
    snprintf(version, version_len, "%s", ver);
    return secs;
}

//  Compare two arrays block by block.
static int
same_contents(const char *p1, const char *p2, const grid_t *blocks)
{
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(p1, false, &err);
    daisy_array_t *b = a ? daisy_array_open(p2, false, &err) : NULL;
    if (!a || !b)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    size_t bytes = (size_t)(blocks->chunk[0] * blocks->chunk[1] * blocks->chunk[2]);
    unsigned char *x = malloc(bytes), *y = malloc(bytes);
    int rc = 0;
    for (int64_t i = 0; i < blocks->count && rc == 0; i++) {
        daisy_roi_t roi = grid_roi(blocks, i);
        size_t n = (size_t)daisy_roi_size(&roi);
        if (daisy_array_read(a, &roi, x, &err) || daisy_array_read(b, &roi, y, &err)) {
            fprintf(stderr, "bench_array: %s\n", err.msg);
            rc = -1;
        } else if (memcmp(x, y, n) != 0) {
            char text[128];
            daisy_roi_format(&roi, text, sizeof text);
            fprintf(stderr, "bench_array: '%s' and '%s' differ in %s\n", p1, p2, text);
            rc = -1;
        }
    }
    free(x);
    free(y);
    daisy_array_destroy(&a);
    daisy_array_destroy(&b);
    return rc;
}

static uint64_t
dir_bytes(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "du -sb '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    unsigned long long n = 0;
    if (p) {
        if (fscanf(p, "%llu", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

static int
case_blockwise_copy(const char *dir, bool quick, int rounds)
{
    int64_t edge = quick ? 128 : 1024, cedge = quick ? 32 : 128, bedge = 2 * cedge;
    int64_t shape[3] = {edge, edge, edge}, chunk[3] = {cedge, cedge, cedge},
            block[3] = {bedge, bedge, bedge};
    grid_t blocks = grid_make(shape, block);
    char src[512], dst_c[512], dst_py[512];
    snprintf(src, sizeof src, "%s/src.zarr", dir);
    snprintf(dst_c, sizeof dst_c, "%s/copy_c.zarr", dir);
    snprintf(dst_py, sizeof dst_py, "%s/copy_py.zarr", dir);
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 3, shape, chunk);
    spec.compressor = DAISY_COMPRESSOR_ZSTD;
    spec.level = 1;
    spec.overwrite = true;
    daisy_error_t err;
    //  Set-up (not timed): the source volume.
    daisy_array_t *a = daisy_array_create(src, &spec, &err);
    if (!a)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    unsigned char *buf = malloc((size_t)(bedge * bedge * bedge));
    for (int64_t i = 0; i < blocks.count; i++) {
        daisy_roi_t roi = grid_roi(&blocks, i);
        make_block(&roi, buf, (uint64_t)i);
        if (daisy_array_write(a, &roi, buf, &err))
            return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    }
    free(buf);
    daisy_array_destroy(&a);
    uint64_t compressed = dir_bytes(src);
    double best2 = INFINITY, best1 = INFINITY, bestpy = INFINITY;
    char why[256] = "", version[64] = "";
    bool have_py = true;
    int rc = 0;
    for (int r = 0; r < rounds && rc == 0; r++) {
        double t2 = c_copy(src, dst_c, &spec, &blocks, 2);
        if (t2 < 0 || same_contents(src, dst_c, &blocks)) {
            fprintf(stderr, "bench_array: the 2-worker copy failed or differs\n");
            rc = -1;
            break;
        }
        double t1 = c_copy(src, dst_c, &spec, &blocks, 1);
        if (t1 < 0 || same_contents(src, dst_c, &blocks)) {
            fprintf(stderr, "bench_array: the 1-worker copy failed or differs\n");
            rc = -1;
            break;
        }
        best2 = fmin(best2, t2);
        best1 = fmin(best1, t1);
        if (have_py) {
            bench_remove_tree(dst_py);
            double tp = python_copy_seconds(src, dst_py, why, sizeof why, version,
                                            sizeof version);
            if (tp == -2) {
                fprintf(stderr, "bench_array: %s\n", why);
                rc = -1;
                break;
            }
            if (tp < 0)
                have_py = false;
            else if (same_contents(src, dst_py, &blocks)) {
                fprintf(stderr, "bench_array: python's copy differs from the source\n");
                rc = -1;
                break;
            } else
                bestpy = fmin(bestpy, tp);
        }
    }
    if (rc == 0) {
        size_t volume = (size_t)(edge * edge * edge);
        printf("{\"case\": \"blockwise_copy\", \"quick\": %s, \"dtype\": \"uint8\", "
               "\"compressor\": \"zstd\", \"level\": 1, \"shape\": [%lld, %lld, %lld], "
               "\"chunk\": [%lld, %lld, %lld], \"block\": [%lld, %lld, %lld], "
               "\"bytes\": %zu, \"compressed_bytes\": %llu, \"rounds\": %d, \"workers\": 2, "
               "\"seconds\": %.3f, \"mib_per_s\": %.1f, \"one_worker_seconds\": %.3f, ",
               bench_bool(quick), (long long)edge, (long long)edge, (long long)edge,
               (long long)cedge, (long long)cedge, (long long)cedge, (long long)bedge,
               (long long)bedge, (long long)bedge, volume, (unsigned long long)compressed,
               rounds, best2, (double)volume / best2 / 1048576.0, best1);
        if (have_py)
            printf("\"reference\": \"python zarr %s, 1 process, chunk by chunk\", "
                   "\"reference_seconds\": %.3f, \"speedup\": %.3f, "
                   "\"one_worker_speedup\": %.3f, \"target_speedup\": 1.5, "
                   "\"meets_target\": %s}\n",
                   version, bestpy, bestpy / best2, bestpy / best1,
                   bench_bool(bestpy / best2 >= 1.5));
        else
            printf("\"reference\": null, \"reference_skipped\": \"%s\", "
                   "\"reference_seconds\": null, \"speedup\": null, \"target_speedup\": 1.5, "
                   "\"meets_target\": null}\n", why);
        fflush(stdout);
    }
    bench_remove_tree(src);
    bench_remove_tree(dst_c);
    bench_remove_tree(dst_py);
    return rc;
}

//  Case: sharded_copy -----------------------------------------------------

static long s_nfiles;

static int
s_count_file(const char *file, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)file;
    (void)st;
    (void)ftw;
    s_nfiles += flag == FTW_F;
    return 0;
}

//  Regular files under `path`.
static long
count_files(const char *path)
{
    s_nfiles = 0;
    nftw(path, s_count_file, 32, FTW_PHYS);
    return s_nfiles;
}

//  The source: a v2 array in chunks of a block, filled block by block.
static int
make_source(const char *src, const int64_t *shape, const grid_t *blocks)
{
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, 3, shape, blocks->chunk);
    spec.compressor = DAISY_COMPRESSOR_ZSTD;
    spec.level = 1;
    spec.overwrite = true;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(src, &spec, &err);
    if (!a)
        return fprintf(stderr, "bench_array: %s\n", err.msg), -1;
    unsigned char *buf = malloc((size_t)(blocks->chunk[0] * blocks->chunk[1] * blocks->chunk[2]));
    int rc = 0;
    for (int64_t i = 0; i < blocks->count && rc == 0; i++) {
        daisy_roi_t roi = grid_roi(blocks, i);
        make_block(&roi, buf, (uint64_t)i);
        if (daisy_array_write(a, &roi, buf, &err))
            rc = (fprintf(stderr, "bench_array: %s\n", err.msg), -1);
    }
    free(buf);
    daisy_array_destroy(&a);
    return rc;
}

static int
case_sharded_copy(const char *dir, bool quick, int rounds)
{
    int64_t edge = quick ? 256 : 1024, inner = quick ? 16 : 32, sedge = quick ? 128 : 256;
    int64_t shape[3] = {edge, edge, edge}, chunk[3] = {inner, inner, inner},
            shard[3] = {sedge, sedge, sedge};
    grid_t blocks = grid_make(shape, shard);
    char src[512], dst[2][512];
    snprintf(src, sizeof src, "%s/src.zarr", dir);
    snprintf(dst[0], sizeof dst[0], "%s/sharded_v3.zarr", dir);
    snprintf(dst[1], sizeof dst[1], "%s/chunked_v2.zarr", dir);
    if (make_source(src, shape, &blocks))
        return -1;
    daisy_array_spec_t spec[2];
    for (int k = 0; k < 2; k++) {
        daisy_array_spec_init(&spec[k], DAISY_DTYPE_UINT8, 3, shape, chunk);
        spec[k].compressor = DAISY_COMPRESSOR_ZSTD;
        spec[k].level = 1;
    }
    spec[0].zarr_format = 3;
    memcpy(spec[0].shard_shape, shard, sizeof shard);
    double best[2] = {INFINITY, INFINITY};
    long files[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < 2; i++) {
            int k = (r + i) % 2;        //  alternate which goes first
            bench_remove_tree(dst[k]);
            s_sync(dir);
            double t = c_copy(src, dst[k], &spec[k], &blocks, 2);
            if (t < 0 || same_contents(src, dst[k], &blocks)) {
                fprintf(stderr, "bench_array: the copy to '%s' failed or differs\n", dst[k]);
                return -1;
            }
            best[k] = fmin(best[k], t);
            files[k] = count_files(dst[k]);
        }
    double mib = (double)(edge * edge * edge) / 1048576.0;
    double ratio = best[1] / best[0], fewer = (double)files[1] / (double)files[0];
    printf("{\"case\": \"sharded_copy\", \"quick\": %s, \"dtype\": \"uint8\", "
           "\"compressor\": \"zstd\", \"level\": 1, \"shape\": [%lld, %lld, %lld], "
           "\"shard\": %lld, \"inner_chunk\": %lld, \"workers\": 2, \"rounds\": %d, "
           "\"v3_sharded_seconds\": %.3f, \"v3_sharded_mib_per_s\": %.1f, "
           "\"v2_chunked_seconds\": %.3f, \"v2_chunked_mib_per_s\": %.1f, "
           "\"ratio\": %.3f, \"v3_files\": %ld, \"v2_files\": %ld, \"fewer_files\": %.1f, "
           "\"target_ratio\": 0.8, \"target_fewer_files\": 100, \"meets_target\": %s}\n",
           bench_bool(quick), (long long)edge, (long long)edge, (long long)edge,
           (long long)sedge, (long long)inner, rounds, best[0], mib / best[0], best[1],
           mib / best[1], ratio, files[0], files[1], fewer,
           bench_bool(ratio >= 0.8 && fewer >= 100));
    fflush(stdout);
    bench_remove_tree(src);
    bench_remove_tree(dst[0]);
    bench_remove_tree(dst[1]);
    return 0;
}

//  Case: order_f ----------------------------------------------------------

//  The volume of order_f for elements of `item` bytes: 128 MiB (--quick:
//  2 MiB) whatever the type, halving the axes in turn as items grow, in
//  chunks of 64^3 (--quick: 32^3) elements.
static void
order_f_shape(bool quick, size_t item, int64_t *shape, int64_t *chunk)
{
    int64_t edge = quick ? 128 : 512;
    for (int d = 0; d < 3; d++) {
        shape[d] = edge;
        chunk[d] = quick ? 32 : 64;
    }
    for (int d = 0; item > 1; d++, item /= 2)
        shape[d] /= 2;
}

//  The first chunk file of the F-order array holds `buf` transposed, x
//  slowest: a bug that wrote C order would otherwise pass for fast F order.
static int
order_f_check_file(const char *path, const int64_t *chunk, size_t item,
                   const unsigned char *buf)
{
    char file[600];
    snprintf(file, sizeof file, "%s/0.0.0", path);
    size_t bytes = (size_t)(chunk[0] * chunk[1] * chunk[2]) * item;
    unsigned char *raw = malloc(bytes);
    int fd = open(file, O_RDONLY);
    bool ok = raw && fd >= 0 && bench_read_full(fd, raw, bytes);
    if (fd >= 0)
        close(fd);
    for (int64_t z = 0; ok && z < chunk[0]; z++)
        for (int64_t y = 0; ok && y < chunk[1]; y++)
            for (int64_t x = 0; ok && x < chunk[2]; x++) {
                size_t c = (size_t)((z * chunk[1] + y) * chunk[2] + x) * item;
                size_t f = (size_t)((x * chunk[1] + y) * chunk[0] + z) * item;
                ok = memcmp(raw + f, buf + c, item) == 0;
            }
    free(raw);
    return ok ? 0 : -1;
}

//  Read back every chunk of `a` and compare it with `buf`.
static int
order_f_check(daisy_array_t *a, const grid_t *g, const unsigned char *buf, size_t bytes)
{
    unsigned char *check = malloc(bytes);
    daisy_error_t err;
    int rc = check ? 0 : -1;
    for (int64_t i = 0; i < g->count && rc == 0; i++) {
        daisy_roi_t roi = grid_roi(g, i);
        if (daisy_array_read(a, &roi, check, &err) || memcmp(check, buf, bytes) != 0)
            rc = -1;
    }
    free(check);
    return rc;
}

static void
order_f_print(const char *name, bool quick, daisy_dtype_t dtype, const int64_t *shape,
              const int64_t *chunk, int64_t chunks, size_t volume, int pairs, double *f,
              double *c, double *ratio)
{
    size_t n = (size_t)pairs;
    size_t chunk_bytes = (size_t)(chunk[0] * chunk[1] * chunk[2]) * daisy_dtype_size(dtype);
    printf("{\"case\": \"%s\", \"quick\": %s, \"dtype\": \"%s\", \"compressor\": \"none\", "
           "\"shape\": [%lld, %lld, %lld], \"chunk\": [%lld, %lld, %lld], "
           "\"chunk_bytes\": %zu, \"chunks\": %lld, \"bytes\": %zu, \"pairs\": %d, ",
           name, bench_bool(quick), daisy_dtype_name(dtype), (long long)shape[0],
           (long long)shape[1], (long long)shape[2], (long long)chunk[0], (long long)chunk[1],
           (long long)chunk[2], chunk_bytes, (long long)chunks, volume, pairs);
    bench_json_numbers("pair_ratios", ratio, n, 3);
    double r = bench_median(ratio, n);
    printf("\"mib_per_s\": %.1f, \"reference\": \"the same array in order C\", "
           "\"reference_mib_per_s\": %.1f, \"ratio\": %.3f, \"target_ratio\": null, "
           "\"meets_target\": null}\n",
           bench_median(f, n), bench_median(c, n), r);
}

//  One pair of passes over `arr` ([0] order C, [1] order F), writing
//  every chunk from `in` or reading every chunk into `out`, which goes
//  first alternating with `p`: MiB/s of each into c[p] and f[p].
static int
order_f_pair(daisy_array_t **arr, const grid_t *g, const unsigned char *in, unsigned char *out,
             size_t volume, const char *dir, bool write, int p, double *c, double *f)
{
    double t[2];
    for (int i = 0; i < 2; i++) {
        int k = (p + i) % 2;
        if (write)
            s_sync(dir);
        t[k] = write ? daisy_write_all(arr[k], g, in) : daisy_read_all(arr[k], g, out);
        if (t[k] < 0)
            return -1;
    }
    c[p] = (double)volume / t[0] / 1048576.0;
    f[p] = (double)volume / t[1] / 1048576.0;
    return 0;
}

static int
case_order_f(const char *dir, bool quick, int pairs, daisy_dtype_t dtype)
{
    size_t item = daisy_dtype_size(dtype);
    int64_t shape[3], chunk[3];
    order_f_shape(quick, item, shape, chunk);
    grid_t g = grid_make(shape, chunk);
    size_t bytes = (size_t)(chunk[0] * chunk[1] * chunk[2]) * item;
    size_t volume = (size_t)(shape[0] * shape[1] * shape[2]) * item;
    char path[2][512];
    daisy_array_t *arr[2] = {NULL, NULL};
    unsigned char *buf = malloc(bytes), *out = malloc(bytes);
    uint64_t s = 7;
    for (size_t i = 0; i < bytes; i++)
        buf[i] = (unsigned char)xorshift(&s);
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        snprintf(path[k], sizeof path[k], "%s/order_%c_%s.zarr", dir, "CF"[k],
                 daisy_dtype_name(dtype));
        daisy_array_spec_t spec;
        daisy_array_spec_init(&spec, dtype, 3, shape, chunk);
        spec.order = "CF"[k];
        spec.overwrite = true;
        daisy_error_t err;
        if (!(arr[k] = daisy_array_create(path[k], &spec, &err)))
            rc = (fprintf(stderr, "bench_array: %s\n", err.msg), -1);
        else if (daisy_write_all(arr[k], &g, buf) < 0)
            rc = -1;
    }
    double rcr[64], rf[64], rr[64], wc[64], wf[64], wr[64];
    for (int p = 0; p < pairs && rc == 0; p++) {
        if (order_f_pair(arr, &g, buf, out, volume, dir, false, p, rcr, rf)
            || order_f_pair(arr, &g, buf, out, volume, dir, true, p, wc, wf)) {
            fprintf(stderr, "bench_array: order_f failed\n");
            rc = -1;
        }
        rr[p] = rf[p] / rcr[p];
        wr[p] = wf[p] / wc[p];
    }
    //  Both read back what was written, and the F array holds F order.
    if (rc == 0 && (order_f_check(arr[0], &g, buf, bytes) || order_f_check(arr[1], &g, buf, bytes)
                    || order_f_check_file(path[1], chunk, item, buf))) {
        fprintf(stderr, "bench_array: order_f: %s contents differ\n", daisy_dtype_name(dtype));
        rc = -1;
    }
    if (rc == 0) {
        order_f_print("order_f_read", quick, dtype, shape, chunk, g.count, volume, pairs, rf,
                      rcr, rr);
        order_f_print("order_f_write", quick, dtype, shape, chunk, g.count, volume, pairs, wf,
                      wc, wr);
        fflush(stdout);
    }
    for (int k = 0; k < 2; k++) {
        daisy_array_destroy(&arr[k]);
        bench_remove_tree(path[k]);
    }
    free(buf);
    free(out);
    return rc;
}

//  Main -------------------------------------------------------------------

//  Set by the command line and main() for the cases.
static const char *parent;     //  --dir: where the data directory goes
static char data_dir[256];     //  the data directory, removed at the end
static int pairs, rounds;      //  --pairs, --rounds (0: the default)

static int
option(int opt, const char *arg)
{
    if (opt == 'p')
        pairs = atoi(arg);
    else if (opt == 'r')
        rounds = atoi(arg);
    else
        parent = arg;
    return 0;
}

//  chunk_io is two runs (64^3 and 128^3 chunks); both run even if one fails.
static int
run_chunk_io(bool quick)
{
    int small = case_chunk_io(data_dir, quick, pairs, 64);
    int large = case_chunk_io(data_dir, quick, pairs, 128);
    return small != 0 || large != 0 ? -1 : 0;
}

static int
run_blockwise_copy(bool quick)
{
    return case_blockwise_copy(data_dir, quick, rounds);
}

static int
run_sharded_copy(bool quick)
{
    return case_sharded_copy(data_dir, quick, rounds);
}

typedef struct {
    const char *name;
    int (*run)(bool quick);
} bench_case_t;

//  order_f is one run per element size (1, 2, 4, 8 bytes); all run even
//  if one fails.
static int
run_order_f(bool quick)
{
    static const daisy_dtype_t types[] = {DAISY_DTYPE_UINT8, DAISY_DTYPE_UINT16,
                                          DAISY_DTYPE_FLOAT32, DAISY_DTYPE_UINT64};
    int rc = 0;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (case_order_f(data_dir, quick, pairs, types[i]))
            rc = -1;
    return rc;
}

static const bench_case_t cases[] = {
    {"chunk_io", run_chunk_io},
    {"blockwise_copy", run_blockwise_copy},
    {"sharded_copy", run_sharded_copy},
    {"order_f", run_order_f},
};

static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    return c->run(args->quick);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pairs", required_argument, NULL, 'p'},
        {"rounds", required_argument, NULL, 'r'},
        {"dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    static const bench_prog_t prog = {
        .name = "bench_array",
        .usage = "usage: bench_array [--case NAME] [--quick] [--pairs N] [--rounds N] [--dir DIR]\n"
                 "  --case NAME  chunk_io (chunk_read + chunk_write), blockwise_copy,\n"
                 "               sharded_copy or order_f (order_f_read + order_f_write)\n"
                 "  --quick      small volumes (smoke test, a few seconds)\n"
                 "  --pairs N    daisy/dd pairs for chunk_io, F/C pairs for order_f (default 5,\n"
                 "               2 with --quick)\n"
                 "  --rounds N   rounds of blockwise_copy and sharded_copy, best kept (default 2,\n"
                 "               1 with --quick)\n"
                 "  --dir DIR    where the data goes (default a new directory under /tmp)\n",
        .cases = cases, .ncases = sizeof cases / sizeof cases[0], .case_size = sizeof cases[0],
        .run = bench,
        .extra_short = "p:r:d:", .extra_long = opts, .extra = option,
    };
    bench_args_t args;
    int rc = bench_parse_args(&prog, argc, argv, &args);
    if (rc >= 0)
        return rc;
    if (pairs <= 0)
        pairs = args.quick ? 2 : 5;
    if (pairs > 64)
        pairs = 64;
    if (rounds <= 0)
        rounds = args.quick ? 1 : 2;
    if (snprintf(data_dir, sizeof data_dir, "%s/daisy-bench-array-XXXXXX",
                 parent ? parent : "/tmp") >= (int)sizeof data_dir)
        return fprintf(stderr, "bench_array: --dir is too long\n"), 2;
    if (!mkdtemp(data_dir))
        return fprintf(stderr, "bench_array: cannot make '%s': %s\n", data_dir,
                       strerror(errno)), 1;
    rc = bench_run_cases(&prog, &args);
    bench_remove_tree(data_dir);
    return rc;
}
