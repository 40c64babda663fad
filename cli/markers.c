/*  markers.c - `daisy markers`: what a markers directory says is done,
    and a task's markers as a Zarr v2 array

    Users point here before resuming (is this the directory of that run,
    how far did it get, will `daisy run` accept it for this pipeline?) and
    to hand done markers to tools that read only Zarr v2 (Python zarr 2).
    It reads both formats a markers directory can hold, ours and daisy
    2.0's (daisy_markers_inspect), and writes nothing there: `daisy run`
    itself takes daisy 2.0's markers over (src/markers_daisy2.c). The
    export goes through the Zarr v2 array layer like any other array,
    chunk by chunk (about a MiB each, zlib), gathered from the marker
    file row by row, so memory stays at one chunk whatever the task's
    size, and chunks with no block done are not written at all (they
    read as the fill value 0).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "load.h"

#define P "daisy markers"

//  Elements per chunk of an export.
#define CHUNK_BUDGET (1 << 20)

static const char *usage =
    "Usage: daisy markers [--json] DIR [PIPELINE.json]\n"
    "       daisy markers --export TASK DIR OUT.zarr\n"
    "\n"
    "Show, per task, the done markers recorded in DIR (by `daisy run\n"
    "--markers DIR`, `daisy-broker --markers DIR` or daisy 2.0): blocks done\n"
    "of the task's blocks, the layout hash and the format; with PIPELINE,\n"
    "whether each task's markers fit its block layout (a run would resume\n"
    "from them) and the tasks that have none yet. Nothing is written.\n"
    "\n"
    "  --json         one JSON object per task instead\n"
    "  --export TASK  write TASK's markers to OUT.zarr as a Zarr v2 array\n"
    "                 (uint8, the grid's shape, zlib; 1 = done) for Python zarr 2\n"
    "  -h, --help     show this help\n"
    "      --version  show the version\n"
    "\n"
    "Exit status: 0 success, 1 DIR or a task's markers missing, damaged or\n"
    "(with PIPELINE) not fitting, 2 bad command line, 3 bad pipeline file,\n"
    "4 the export could not be written.\n";

typedef struct {
    char name[NAME_MAX + 1];      //  the directory's name under DIR
    daisy_markers_info_t info;
    bool ok;
} entry_t;

typedef struct {
    entry_t *v;
    size_t n;
} entries_t;

static int
by_name(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

//  Every directory under DIR with a zarr.json, inspected (damaged ones
//  reported on stderr); -1 when DIR cannot be read.
static int
scan(const char *dir, entries_t *out, int *damaged)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, P ": cannot read markers directory '%s': %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_MAX + NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/%s/zarr.json", dir, e->d_name);
        if (e->d_name[0] == '.' || access(path, F_OK) != 0)
            continue;
        entry_t *v = realloc(out->v, (out->n + 1) * sizeof *v);
        if (!v)
            break;
        out->v = v;
        entry_t *x = &v[out->n++];
        snprintf(x->name, sizeof x->name, "%s", e->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        daisy_error_t err;
        x->ok = daisy_markers_inspect(path, &x->info, &err) == 0;
        if (!x->ok) {
            fprintf(stderr, P ": %s\n", err.msg);
            (*damaged)++;
        }
    }
    closedir(d);
    qsort(out->v, out->n, sizeof *out->v, by_name);
    return 0;
}

static const char *
format_name(daisy_markers_format_t f)
{
    return f == DAISY_MARKERS_DAISY2 ? "daisy 2.0" : "daisy-C";
}

//  A pipeline task by id, or -1.
static long
find_task(const daisy_graph_t *g, const char *id)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(g);
    for (uint32_t t = 0; g && t < daisy_graph_task_count(g); t++)
        if (!strcmp(daisy_task_id(daisy_pipeline_task(p, t)), id))
            return t;
    return -1;
}

//  Do the markers fit task t of the pipeline: its layout hash and grid.
static bool
fits(const daisy_graph_t *g, uint32_t t, const daisy_markers_info_t *info)
{
    char want[65];
    if (info->format == DAISY_MARKERS_DAISY2) {
        daisy_markers_daisy2_hash(g, t, want);
        return !strcmp(want, info->layout);
    }
    snprintf(want, sizeof want, "%016llx", (unsigned long long)daisy_markers_layout(g, t));
    daisy_coord_t grid = daisy_graph_grid_shape(g, t);
    bool same = !strcmp(want, info->layout) && grid.dims == info->dims;
    for (int d = 0; same && d < info->dims; d++)
        same = grid.v[d] == info->shape[d];
    return same;
}

//  What the markers are to the pipeline: NULL without one.
static const char *
verdict(const daisy_graph_t *g, const char *name, const daisy_markers_info_t *info,
        int *misfits)
{
    if (!g)
        return NULL;
    if (strstr(name, "~daisy2"))
        return "daisy 2.0's, kept after `daisy run` took them over";
    long t = find_task(g, info->task);
    if (t < 0)
        return "not in the pipeline";
    if (fits(g, (uint32_t)t, info))
        return "fits";
    (*misfits)++;
    return "another layout";
}

static void
print_line(const char *name, const char *task, const daisy_markers_info_t *info,
           const char *fit, bool json)
{
    double pct = info && info->blocks ? 100.0 * (double)info->done / (double)info->blocks : 0;
    if (!json) {
        printf("%-20s %12llu / %-12llu %6.1f%%  %-9s  %-16.16s  %s%s%s\n", task,
               info ? (unsigned long long)info->done : 0ull,
               info ? (unsigned long long)info->blocks : 0ull, pct,
               info ? format_name(info->format) : "-", info ? info->layout : "-",
               fit ? fit : "", strcmp(name, task) ? "  dir " : "", strcmp(name, task) ? name : "");
        return;
    }
    fputs("{\"task\": ", stdout);
    cli_json_string(stdout, task);
    fputs(", \"directory\": ", stdout);
    cli_json_string(stdout, name);
    printf(", \"done\": %llu, \"blocks\": %llu, \"percent\": %.3f, \"format\": ",
           info ? (unsigned long long)info->done : 0ull,
           info ? (unsigned long long)info->blocks : 0ull, pct);
    if (info) {
        cli_json_string(stdout, format_name(info->format));
        fputs(", \"layout\": ", stdout);
        cli_json_string(stdout, info->layout);
        fputs(", \"shape\": [", stdout);
        for (int d = 0; d < info->dims; d++)
            printf(d ? ", %lld" : "%lld", (long long)info->shape[d]);
        fputc(']', stdout);
    } else
        fputs("null, \"layout\": null, \"shape\": null", stdout);
    fputs(", \"pipeline\": ", stdout);
    if (fit)
        cli_json_string(stdout, fit);
    else
        fputs("null", stdout);
    fputs("}\n", stdout);
}

//  Pipeline tasks with no markers in DIR.
static void
print_missing(const daisy_graph_t *g, const entries_t *es, bool json)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(g);
    for (uint32_t t = 0; t < daisy_graph_task_count(g); t++) {
        const char *id = daisy_task_id(daisy_pipeline_task(p, t));
        bool seen = false;
        for (size_t i = 0; !seen && i < es->n; i++)
            seen = es->v[i].ok && !strcmp(es->v[i].info.task, id);
        if (seen)
            continue;
        if (json)
            print_line("", id, NULL, "no markers yet", true);
        else
            printf("%-20s %12s / %-12llu %7s  %-9s  %-16s  no markers yet\n", id, "-",
                   (unsigned long long)daisy_graph_block_count(g, t), "", "-", "-");
    }
}

static int
list(const char *dir, const daisy_graph_t *g, bool json)
{
    entries_t es = {0};
    int damaged = 0, misfits = 0;
    if (scan(dir, &es, &damaged) != 0)
        return EXIT_FAILED;
    if (!json)
        printf("%-20s %12s / %-12s %7s  %-9s  %-16s  %s\n", "TASK", "DONE", "BLOCKS", "",
               "FORMAT", "LAYOUT", g ? "PIPELINE" : "");
    for (size_t i = 0; i < es.n; i++)
        if (es.v[i].ok)
            print_line(es.v[i].name, es.v[i].info.task, &es.v[i].info,
                       verdict(g, es.v[i].name, &es.v[i].info, &misfits), json);
    if (g)
        print_missing(g, &es, json);
    if (es.n == 0)
        fprintf(stderr, P ": no markers in '%s'\n", dir);
    free(es.v);
    return damaged || misfits ? EXIT_FAILED : EXIT_OK;
}

//  The markers of TASK under DIR: 0, or -1 having said why.
static int
find_markers(const char *dir, const char *task, daisy_markers_info_t *info)
{
    entries_t es = {0};
    int damaged = 0;
    if (scan(dir, &es, &damaged) != 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; rc && i < es.n; i++)
        if (es.v[i].ok && !strcmp(es.v[i].info.task, task)) {
            *info = es.v[i].info;
            rc = 0;
        }
    if (rc && !damaged) {
        fprintf(stderr, P ": no markers of task '%s' in '%s'; tasks there:", task, dir);
        for (size_t i = 0; i < es.n; i++)
            fprintf(stderr, " %s", es.v[i].info.task);
        fputs(es.n ? "\n" : " none\n", stderr);
    } else if (rc)
        fprintf(stderr, P ": no readable markers of task '%s' in '%s'\n", task, dir);
    free(es.v);
    return rc;
}

static void
export_chunks(const daisy_markers_info_t *info, int64_t *chunks)
{
    int64_t budget = CHUNK_BUDGET;
    for (int d = info->dims - 1; d >= 0; d--) {
        int64_t c = info->shape[d] < budget ? info->shape[d] : budget;
        chunks[d] = c > 1 ? c : 1;
        budget = budget / chunks[d] > 1 ? budget / chunks[d] : 1;
    }
}

//  The bytes of the box [lo, lo + ext) of the grid into buf, C order, by
//  rows along the last dimension; 1 when one is not 0, -1 on error.
static int
gather(int fd, const daisy_markers_info_t *info, const int64_t *lo, const int64_t *ext,
       uint8_t *buf)
{
    int dims = info->dims, any = 0;
    int64_t rows = 1, k[DAISY_MAX_DIMS] = {0};
    for (int d = 0; d < dims - 1; d++)
        rows *= ext[d];
    for (int64_t r = 0; r < rows; r++) {
        int64_t rest = r, at = 0, stride = 1;
        for (int d = dims - 1; d >= 0; d--) {
            k[d] = d == dims - 1 ? 0 : rest % ext[d];
            rest = d == dims - 1 ? rest : rest / ext[d];
            at += (lo[d] + k[d]) * stride;
            stride *= info->shape[d];
        }
        uint8_t *row = buf + r * ext[dims - 1];
        if (pread(fd, row, (size_t)ext[dims - 1], at) != (ssize_t)ext[dims - 1])
            return -1;
        for (int64_t i = 0; !any && i < ext[dims - 1]; i++)
            any = row[i] != 0;
    }
    return any;
}

//  Chunk by chunk, C order over the chunk grid; chunks with nothing done
//  are left out.
static int
write_chunks(daisy_array_t *a, int fd, const daisy_markers_info_t *info, const int64_t *chunks,
             daisy_error_t *err)
{
    int dims = info->dims;
    int64_t n = 1, grid[DAISY_MAX_DIMS];
    for (int d = 0; d < dims; d++)
        n *= grid[d] = (info->shape[d] + chunks[d] - 1) / chunks[d];
    uint8_t *buf = malloc(CHUNK_BUDGET);
    int rc = buf ? 0 : daisy_error_set(err, "out of memory");
    for (int64_t c = 0; rc == 0 && c < n; c++) {
        daisy_roi_t roi = {.dims = dims};
        int64_t rest = c;
        for (int d = dims - 1; d >= 0; d--) {
            roi.offset[d] = rest % grid[d] * chunks[d];
            rest /= grid[d];
            int64_t left = info->shape[d] - roi.offset[d];
            roi.shape[d] = left < chunks[d] ? left : chunks[d];
        }
        int any = gather(fd, info, roi.offset, roi.shape, buf);
        if (any < 0)
            rc = daisy_error_set(err, "cannot read '%s': %s", info->chunk, strerror(errno));
        else if (any)
            rc = daisy_array_write(a, &roi, buf, err);
    }
    free(buf);
    return rc;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int
export(const char *dir, const char *task, const char *out)
{
    daisy_markers_info_t info;
    if (find_markers(dir, task, &info) != 0)
        return EXIT_FAILED;
    int64_t chunks[DAISY_MAX_DIMS];
    export_chunks(&info, chunks);
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_UINT8, info.dims, info.shape, chunks);
    spec.compressor = DAISY_COMPRESSOR_ZLIB;
    if (access(out, F_OK) == 0) {
        fprintf(stderr, P ": '%s' exists; nothing written (remove it, or name another)\n", out);
        return EXIT_FAILED;
    }
    daisy_error_t err;
    int fd = open(info.chunk, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, P ": cannot read '%s': %s\n", info.chunk, strerror(errno));
        return EXIT_FAILED;
    }
    daisy_array_t *a = daisy_array_create(out, &spec, &err);
    int rc = a ? write_chunks(a, fd, &info, chunks, &err) : -1;
    daisy_array_destroy(&a);
    close(fd);
    if (rc != 0) {
        //  OUT.zarr did not exist: what is there is this export's, half
        //  written, and left in place it would refuse the next attempt.
        nftw(out, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        fprintf(stderr, P ": %s: %s\n", out, err.msg);
        return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

//  The pipeline's graph, or NULL having said why.
static daisy_graph_t *
load_graph(const char *path, daisy_pipeline_t **p)
{
    *p = cli_load_pipeline(P, path);
    if (!*p)
        return NULL;
    daisy_error_t err;
    daisy_graph_t *g = daisy_graph_new(*p, &err);
    if (!g) {
        fprintf(stderr, P ": %s: %s\n", path, err.msg);
        daisy_pipeline_destroy(p);
    }
    return g;
}

int
cli_markers(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"export", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    const char *task = NULL;
    int c;
    while ((c = cli_getopt(P, argc, argv, "h", options, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'e')
            task = optarg;
        else
            return cli_final_option(P, c, usage);
    }
    int args = argc - optind;
    if (task && (json || args != 2))
        return cli_usage_error(P, "--export takes TASK, then DIR and OUT.zarr (and no --json)");
    if (task)
        return export(argv[optind], task, argv[optind + 1]);
    if (args < 1 || args > 2)
        return cli_usage_error(P, "expected DIR and optionally PIPELINE.json");
    daisy_pipeline_t *p = NULL;
    daisy_graph_t *g = args == 2 ? load_graph(argv[optind + 1], &p) : NULL;
    if (args == 2 && !g)
        return EXIT_INPUT;
    int rc = list(argv[optind], g, json);
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    return rc;
}
