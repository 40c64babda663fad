/*  plan.c - `daisy plan`: what a pipeline will do, before it runs

    Users check a plan before they launch thousands of workers: how many
    blocks each task has, in how many levels, and with --json every block
    with its ROIs and upstream blocks, in the form Python daisy's plans are
    compared in (shared/reference). Tasks come in file order, then levels,
    then positions, last dimension fastest.

    Levels are what users check when they give a task a write grid (the
    shards of a sharded output): the summary names the grid and counts the
    blocks of every level, so a grid that splits blocks across cells shows
    as more levels (blocks of one level never share a cell; levels run one
    after another where blocks are close), and blocks aligned to the cells
    as none added.
*/
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "load.h"

static const char *usage =
    "Usage: daisy plan [--json] PIPELINE.json\n"
    "\n"
    "Show the blocks of every task of a pipeline file.\n"
    "\n"
    "Without options: per task, the number of blocks, levels and the grid,\n"
    "its write grid if it has one (blocks meeting one cell of it never run\n"
    "together), and the number of blocks of each level.\n"
    "\n"
    "  --json     one JSON object per block instead: task, block_id, level,\n"
    "             read_roi, write_roi and upstream (sorted [task, block_id]\n"
    "             pairs of the blocks that must succeed first)\n"
    "  -h, --help show this help\n"
    "  --version  show the version\n";

typedef struct {
    const char *task_id;
    uint64_t block_id;
} upstream_t;

static int
cmp_upstream(const void *a, const void *b)
{
    const upstream_t *x = a, *y = b;
    int c = strcmp(x->task_id, y->task_id);
    if (c)
        return c;
    return (x->block_id > y->block_id) - (x->block_id < y->block_id);
}

typedef struct {
    daisy_block_ref_t *refs;
    upstream_t *ups;
    size_t cap;
} scratch_t;

//  The upstream blocks of ref, sorted; their count, or -1 out of memory.
static long
sorted_upstream(const daisy_graph_t *g, daisy_block_ref_t ref, scratch_t *s)
{
    size_t n = daisy_graph_upstream(g, ref, s->refs, s->cap);
    if (n > s->cap) {
        s->cap = n * 2;
        s->refs = realloc(s->refs, s->cap * sizeof *s->refs);
        s->ups = realloc(s->ups, s->cap * sizeof *s->ups);
        if (!s->refs || !s->ups)
            return -1;
        n = daisy_graph_upstream(g, ref, s->refs, s->cap);
    }
    for (size_t i = 0; i < n; i++) {
        daisy_block_t b;
        daisy_graph_block(g, s->refs[i], &b);
        s->ups[i] = (upstream_t){b.task_id, b.block_id};
    }
    if (n > 1)
        qsort(s->ups, n, sizeof *s->ups, cmp_upstream);
    return (long)n;
}

static int
print_block(const daisy_graph_t *g, daisy_block_ref_t ref, scratch_t *s)
{
    daisy_block_t b;
    daisy_graph_block(g, ref, &b);
    long n = sorted_upstream(g, ref, s);
    if (n < 0)
        return -1;
    printf("{\"block_id\": %llu, \"level\": %u, \"read_roi\": ",
           (unsigned long long)b.block_id, b.level);
    cli_json_roi(stdout, &b.read_roi);
    fputs(", \"task\": ", stdout);
    cli_json_string(stdout, b.task_id);
    fputs(", \"upstream\": [", stdout);
    for (long i = 0; i < n; i++) {
        fputs(i ? ", [" : "[", stdout);
        cli_json_string(stdout, s->ups[i].task_id);
        printf(", %llu]", (unsigned long long)s->ups[i].block_id);
    }
    fputs("], \"write_roi\": ", stdout);
    cli_json_roi(stdout, &b.write_roi);
    fputs("}\n", stdout);
    return 0;
}

static int
print_json(const daisy_graph_t *g)
{
    scratch_t s = {0};
    int rc = 0;
    for (uint32_t t = 0; rc == 0 && t < daisy_graph_task_count(g); t++)
        for (uint64_t l = 0; rc == 0 && l < daisy_graph_level_count(g, t); l++)
            for (uint64_t i = 0; rc == 0 && i < daisy_graph_level_block_count(g, t, l); i++) {
                daisy_block_ref_t ref;
                daisy_graph_level_block(g, t, l, i, &ref);
                rc = print_block(g, ref, &s);
            }
    free(s.refs);
    free(s.ups);
    return rc;
}

static void
print_summary(const daisy_graph_t *g)
{
    const daisy_pipeline_t *p = daisy_graph_pipeline(g);
    for (uint32_t t = 0; t < daisy_graph_task_count(g); t++) {
        const daisy_task_t *task = daisy_pipeline_task(p, t);
        char grid[256], stride[256], roi[512];
        daisy_coord_format(daisy_graph_grid_shape(g, t), grid, sizeof grid);
        daisy_coord_format(daisy_graph_level_stride(g, t), stride, sizeof stride);
        daisy_roi_t tw = daisy_graph_total_write_roi(g, t);
        daisy_roi_format(&tw, roi, sizeof roi);
        uint64_t levels = daisy_graph_level_count(g, t), blocks = daisy_graph_block_count(g, t);
        printf("task %s: %llu block%s in %llu level%s\n", daisy_task_id(task),
               (unsigned long long)blocks, blocks == 1 ? "" : "s",
               (unsigned long long)levels, levels == 1 ? "" : "s");
        printf("  fit %s, read/write conflict %s, grid %s, level stride %s\n",
               daisy_fit_name(daisy_task_fit(task)),
               daisy_task_read_write_conflict(task) ? "yes" : "no", grid, stride);
        printf("  total write ROI %s\n", roi);
        daisy_roi_t wg = daisy_task_write_grid(task);
        if (wg.dims > 0) {
            daisy_coord_format(daisy_roi_shape(&wg), grid, sizeof grid);
            daisy_coord_format(daisy_roi_begin(&wg), stride, sizeof stride);
            printf("  write grid: cells %s from %s (blocks meeting one cell never run "
                   "together)\n", grid, stride);
        }
        for (size_t i = 0; i < daisy_task_upstream_count(task); i++)
            printf("  upstream task %s\n", daisy_task_upstream(task, i));
        for (uint64_t l = 0; l < levels && l < 64; l++) {
            uint64_t n = daisy_graph_level_block_count(g, t, l);
            printf("  level %llu: %llu block%s\n", (unsigned long long)l, (unsigned long long)n,
                   n == 1 ? "" : "s");
        }
        if (levels > 64)
            printf("  ... (%llu more levels)\n", (unsigned long long)(levels - 64));
    }
}

int
cli_plan(int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    while ((c = cli_getopt("daisy plan", argc, argv, "h", options, NULL)) != -1) {
        if (c == 'j')
            json = true;
        else
            return cli_final_option("daisy plan", c, usage);
    }
    if (optind != argc - 1)
        return cli_usage_error("daisy plan", "expected one pipeline file");
    daisy_error_t err;
    daisy_pipeline_t *p = cli_load_pipeline("daisy plan", argv[optind]);
    if (!p)
        return EXIT_INPUT;
    daisy_graph_t *g = daisy_graph_new(p, &err);
    if (!g) {
        //  Load errors name the file already; graph errors do not.
        daisy_error_prefix(&err, "%s", argv[optind]);
        fprintf(stderr, "daisy plan: %s\n", err.msg);
        daisy_pipeline_destroy(&p);
        return EXIT_INPUT;
    }
    int rc = EXIT_OK;
    if (json)
        rc = print_json(g) == 0 ? EXIT_OK : EXIT_INTERNAL;
    else
        print_summary(g);
    if (rc != EXIT_OK)
        fprintf(stderr, "daisy plan: out of memory\n");
    daisy_graph_destroy(&g);
    daisy_pipeline_destroy(&p);
    return rc;
}
