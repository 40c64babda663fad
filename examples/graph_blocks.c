/*  graph_blocks.c - the local maxima of a volume and the graph between them, blockwise

    examples/pipelines/graph.json runs this through `daisy run` as two
    tasks on a Zarr volume: `maxima` finds, block by block, the strict
    local maxima of the volume and writes them as nodes into a graph
    database; `edges`, downstream, joins the nodes closer than a distance
    D with undirected edges. Each block is one run of this program, which
    finds its block in the environment (DAISY_READ_OFFSET, DAISY_READ_SHAPE,
    DAISY_WRITE_OFFSET, DAISY_WRITE_SHAPE: comma-separated world units).

      graph_blocks volume VOLUME [--shape Z,Y,X] [--seed N] [--blobs N] [--voxel-size Z,Y,X]
          a float32 Zarr array at VOLUME (e.g. graph_run.zarr/raw), a sum of
          Gaussian blobs (chunks of 32^3 voxels, zlib)
      graph_blocks init VOLUME GRAPH
          creates the graph (replacing one that is there): nodes with a
          FLOAT `intensity`, undirected edges with a FLOAT `score`
      graph_blocks maxima VOLUME GRAPH [--threshold T]      (one block)
          reads the read ROI, which must hold the write ROI grown by one
          voxel (as far as the volume goes); every voxel of the write ROI
          above T and above its 26 neighbours inside the volume becomes a
          node: id = linear voxel index + 1, position = world coordinates
          of the voxel, intensity = its value
      graph_blocks edges VOLUME GRAPH [--distance D]         (one block)
          reads the nodes of the read ROI, which must hold the write ROI
          grown by D (as far as the volume goes), and writes the edges
          {u, v} with |u - v| < D and u < v inside the write ROI (the
          database keeps an undirected edge as u < v and files it under u,
          so every edge is written by exactly one block), score =
          min(intensity of u, of v) / |u - v|
      graph_blocks count GRAPH
          prints the numbers of nodes and edges

    GRAPH is a graph database spec as daisy_graphdb_open() takes it
    (sqlite:PATH). The graph is created once by `init` before the blocks
    run: blocks open it READ_WRITE and never race on creating it.
    Exit status: 0 done, 1 failed (the message names what), 2 bad command line.
*/
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/daisy.h"

#define DIMS 3
#define DEFAULT_SHAPE 96
#define CHUNK 32
#define DEFAULT_BLOBS 500
#define DEFAULT_THRESHOLD 0.6
#define DEFAULT_DISTANCE 8.0

static const char *usage_text =
    "usage: graph_blocks volume VOLUME [--shape Z,Y,X] [--seed N] [--blobs N]\n"
    "                                  [--voxel-size Z,Y,X]\n"
    "       graph_blocks init VOLUME GRAPH\n"
    "       graph_blocks maxima VOLUME GRAPH [--threshold T]   (per block)\n"
    "       graph_blocks edges VOLUME GRAPH [--distance D]     (per block)\n"
    "       graph_blocks count GRAPH\n"
    "\n"
    "The local maxima of a Zarr volume as the nodes of a graph database, and\n"
    "edges between the nodes closer than D, computed block by block as the\n"
    "two tasks of examples/pipelines/graph.json under `daisy run`.\n"
    "\n"
    "  volume   write a float32 volume, a sum of Gaussian blobs (defaults:\n"
    "           shape 96,96,96, seed 1, 500 blobs, voxel size 1,1,1)\n"
    "  init     create the graph (replacing what is there): nodes with a FLOAT\n"
    "           intensity, undirected edges with a FLOAT score; run it once,\n"
    "           before the blocks\n"
    "  maxima   one block: strict local maxima (26 neighbours, above T, default\n"
    "           0.6) of the write ROI become nodes (id = voxel index + 1)\n"
    "  edges    one block: edges {u, v} with |u - v| < D (world units, default\n"
    "           8) and u < v in the write ROI; score = min intensity / |u - v|\n"
    "  count    print the numbers of nodes and edges\n"
    "\n"
    "VOLUME is a Zarr array directory (graph_run.zarr/raw); GRAPH a graph\n"
    "database spec (sqlite:PATH). A block's ROIs come from DAISY_READ_OFFSET,\n"
    "DAISY_READ_SHAPE, DAISY_WRITE_OFFSET and DAISY_WRITE_SHAPE (daisy run and\n"
    "daisy-worker --exec set them). Exit status: 0 done, 1 failed, 2 bad usage.\n";

static const char *step = "graph_blocks";

static int
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "graph_blocks %s: ", step);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int
usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "graph_blocks: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (graph_blocks --help for usage)\n");
    va_end(ap);
    return 2;
}

//  Parsing ----------------------------------------------------------------------

//  "a,b,c" into exactly `n` integers; -1 when it is not that.
static int
parse_ints(const char *s, int64_t *out, int n)
{
    const char *p = s;
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno)
            return -1;
        out[i] = v;
        p = end;
        if (i < n - 1 && *p++ != ',')
            return -1;
    }
    return *p ? -1 : 0;
}

static int
parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return end == s || *end || errno || !isfinite(*out) ? -1 : 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    *out = v;
    return end == s || *end || errno ? -1 : 0;
}

//  A ROI of `DIMS` dimensions from DAISY_<which>_OFFSET and _SHAPE.
static int
env_roi(const char *which, daisy_roi_t *roi)
{
    char names[2][64];
    int64_t v[2][DIMS];
    snprintf(names[0], sizeof names[0], "DAISY_%s_OFFSET", which);
    snprintf(names[1], sizeof names[1], "DAISY_%s_SHAPE", which);
    for (int k = 0; k < 2; k++) {
        const char *s = getenv(names[k]);
        if (!s)
            return fail("%s is not set (run it as a block's command of `daisy run` or "
                        "`daisy-worker --exec`, or set it by hand)", names[k]);
        if (parse_ints(s, v[k], DIMS) != 0)
            return fail("%s='%s': expected %d comma-separated integers", names[k], s, DIMS);
    }
    *roi = daisy_roi_make(DIMS, v[0], v[1]);
    return 0;
}

//  Options of a subcommand: `--name VALUE` or `--name=VALUE`; positional
//  arguments are collected in order.
typedef struct {
    const char *name;
    const char *value;
} opt_t;

static int
parse_args(int argc, char **argv, opt_t *opts, int nopts, const char **pos, int npos)
{
    int got = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            if (got == npos)
                return usage("%s: unexpected argument '%s'", argv[1], a);
            pos[got++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        opt_t *o = NULL;
        for (int k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == len && !strncmp(opts[k].name, a, len))
                o = &opts[k];
        if (!o)
            return usage("%s: unknown option '%.*s'", argv[1], (int)len, a);
        if (eq)
            o->value = eq + 1;
        else if (i + 1 < argc)
            o->value = argv[++i];
        else
            return usage("%s: option %s needs a value", argv[1], o->name);
    }
    if (got < npos)
        return usage("%s: expected %d argument%s, got %d", argv[1], npos, npos > 1 ? "s" : "",
                     got);
    return 0;
}

//  Shared -----------------------------------------------------------------------

static const daisy_attr_t node_attrs[] = {{"intensity", DAISY_ATTR_FLOAT, 0}};
static const daisy_attr_t edge_attrs[] = {{"score", DAISY_ATTR_FLOAT, 0}};

static daisy_graph_schema_t
graph_schema(const daisy_roi_t *total)
{
    daisy_graph_schema_t s = {.dims = DIMS, .directed = false,
                              .node_attrs = node_attrs, .n_node_attrs = 1,
                              .edge_attrs = edge_attrs, .n_edge_attrs = 1};
    if (total) {
        s.has_total_roi = true;
        s.total_roi = *total;
    }
    return s;
}

//  The volume: a 3-D float32 array. NULL after printing why.
static daisy_array_t *
open_volume(const char *path)
{
    daisy_error_t err;
    daisy_array_t *a = daisy_array_open(path, false, &err);
    if (!a) {
        fail("%s", err.msg);
        return NULL;
    }
    if (daisy_array_dims(a) != DIMS || daisy_array_dtype(a) != DAISY_DTYPE_FLOAT32) {
        fail("%s: a %d-D %s array, expected a 3-D float32 volume", path, daisy_array_dims(a),
             daisy_dtype_name(daisy_array_dtype(a)));
        daisy_array_destroy(&a);
    }
    return a;
}

//  The block's read ROI must hold `need`, its write ROI grown by `grow`
//  (world units) on every side and cut to the volume.
static int
check_context(const daisy_roi_t *read, const daisy_roi_t *write, const daisy_roi_t *volume,
              daisy_coord_t grow, const char *what)
{
    char r[128], w[128], n[128], v[128];
    daisy_roi_format(write, w, sizeof w);
    daisy_roi_format(volume, v, sizeof v);
    if (!daisy_roi_contains(volume, write))
        return fail("write ROI %s (DAISY_WRITE_OFFSET/SHAPE) is not inside the volume's ROI %s",
                    w, v);
    daisy_roi_t g = daisy_roi_grow(write, grow, grow);
    daisy_roi_t need = daisy_roi_intersect(&g, volume);
    if (!daisy_roi_contains(read, &need)) {
        daisy_roi_format(read, r, sizeof r);
        daisy_roi_format(&need, n, sizeof n);
        return fail("read ROI %s (DAISY_READ_OFFSET/SHAPE) does not hold %s, the write ROI %s "
                    "grown by %s within the volume: give the task's read ROI that much context",
                    r, n, w, what);
    }
    return 0;
}

static daisy_graphdb_t *
open_graph(const char *spec, const daisy_roi_t *total)
{
    daisy_error_t err;
    daisy_graph_schema_t s = graph_schema(total);
    daisy_graphdb_t *db = daisy_graphdb_open(spec, DAISY_GRAPHDB_READ_WRITE, &s, &err);
    if (!db)
        fail("%s (was it created by `graph_blocks init VOLUME %s`?)", err.msg, spec);
    return db;
}

//  Random numbers: splitmix64, the same on every platform.
static uint64_t
next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double
uniform(uint64_t *state, double lo, double hi)
{
    return lo + (hi - lo) * (double)(next_u64(state) >> 11) / 9007199254740992.0;
}

//  volume -----------------------------------------------------------------------

static int
cmd_volume(int argc, char **argv)
{
    opt_t opts[] = {{"--shape", NULL}, {"--seed", NULL}, {"--blobs", NULL},
                    {"--voxel-size", NULL}};
    const char *pos[1];
    int rc = parse_args(argc, argv, opts, 4, pos, 1);
    if (rc)
        return rc;
    int64_t shape[DIMS] = {DEFAULT_SHAPE, DEFAULT_SHAPE, DEFAULT_SHAPE}, vs[DIMS] = {1, 1, 1};
    uint64_t seed = 1, blobs = DEFAULT_BLOBS;
    if (opts[0].value && (parse_ints(opts[0].value, shape, DIMS) != 0 || shape[0] < 1
                          || shape[1] < 1 || shape[2] < 1 || shape[0] > 4096
                          || shape[1] > 4096 || shape[2] > 4096))
        return usage("volume: --shape '%s': expected Z,Y,X, each 1..4096", opts[0].value);
    if (opts[1].value && parse_u64(opts[1].value, &seed) != 0)
        return usage("volume: --seed '%s': expected a non-negative integer", opts[1].value);
    if (opts[2].value && (parse_u64(opts[2].value, &blobs) != 0 || blobs > 10000000))
        return usage("volume: --blobs '%s': expected an integer 0..10000000", opts[2].value);
    if (opts[3].value && (parse_ints(opts[3].value, vs, DIMS) != 0 || vs[0] < 1 || vs[1] < 1
                          || vs[2] < 1))
        return usage("volume: --voxel-size '%s': expected Z,Y,X, each >= 1", opts[3].value);

    size_t n = (size_t)(shape[0] * shape[1] * shape[2]);
    float *v = calloc(n, sizeof *v);
    if (!v)
        return fail("no memory for %zu voxels", n);
    //  Blobs of random amplitude and width (in voxels), each summed over
    //  the box of 4 sigma around its centre.
    uint64_t state = seed;
    for (uint64_t b = 0; b < blobs; b++) {
        double c[DIMS], amp = uniform(&state, 0.5, 1.5), sigma = uniform(&state, 1.2, 2.5);
        for (int d = 0; d < DIMS; d++)
            c[d] = uniform(&state, 0, (double)shape[d]);
        int64_t lo[DIMS], hi[DIMS];
        for (int d = 0; d < DIMS; d++) {
            lo[d] = (int64_t)floor(c[d] - 4 * sigma);
            hi[d] = (int64_t)ceil(c[d] + 4 * sigma);
            lo[d] = lo[d] < 0 ? 0 : lo[d];
            hi[d] = hi[d] > shape[d] - 1 ? shape[d] - 1 : hi[d];
        }
        double k = -0.5 / (sigma * sigma);
        for (int64_t z = lo[0]; z <= hi[0]; z++)
            for (int64_t y = lo[1]; y <= hi[1]; y++)
                for (int64_t x = lo[2]; x <= hi[2]; x++) {
                    double dz = (double)z - c[0], dy = (double)y - c[1], dx = (double)x - c[2];
                    size_t i = (size_t)((z * shape[1] + y) * shape[2] + x);
                    v[i] = (float)(v[i] + amp * exp(k * (dz * dz + dy * dy + dx * dx)));
                }
    }
    int64_t chunks[DIMS];
    for (int d = 0; d < DIMS; d++)
        chunks[d] = shape[d] < CHUNK ? shape[d] : CHUNK;
    daisy_array_spec_t spec;
    daisy_array_spec_init(&spec, DAISY_DTYPE_FLOAT32, DIMS, shape, chunks);
    memcpy(spec.voxel_size, vs, sizeof vs);
    spec.compressor = DAISY_COMPRESSOR_ZLIB;
    spec.overwrite = true;
    daisy_error_t err;
    daisy_array_t *a = daisy_array_create(pos[0], &spec, &err);
    daisy_roi_t roi = a ? daisy_array_roi(a) : (daisy_roi_t){0};
    rc = a ? daisy_array_write(a, &roi, v, &err) : -1;
    daisy_array_destroy(&a);
    free(v);
    if (rc != 0)
        return fail("%s", err.msg);
    char r[128];
    daisy_roi_format(&roi, r, sizeof r);
    printf("%s: float32 %lldx%lldx%lld, %llu blobs, ROI %s\n", pos[0], (long long)shape[0],
           (long long)shape[1], (long long)shape[2], (unsigned long long)blobs, r);
    return 0;
}

//  init -------------------------------------------------------------------------

static int
cmd_init(int argc, char **argv)
{
    const char *pos[2];
    int rc = parse_args(argc, argv, NULL, 0, pos, 2);
    if (rc)
        return rc;
    daisy_array_t *a = open_volume(pos[0]);
    if (!a)
        return 1;
    daisy_roi_t total = daisy_array_roi(a);
    daisy_array_destroy(&a);
    daisy_graph_schema_t s = graph_schema(&total);
    daisy_error_t err;
    daisy_graphdb_t *db = daisy_graphdb_open(pos[1], DAISY_GRAPHDB_OVERWRITE, &s, &err);
    if (!db)
        return fail("%s", err.msg);
    daisy_graphdb_close(&db);
    printf("%s: empty graph created (nodes: intensity; undirected edges: score)\n", pos[1]);
    return 0;
}

//  maxima -----------------------------------------------------------------------

//  Voxel p (value c, in buf: the read ROI, offset ro and shape rs in
//  voxels) is above the threshold and above each of its 26 neighbours that
//  lie inside the volume (shape).
static bool
is_peak(const float *buf, const int64_t *ro, const int64_t *rs, daisy_coord_t shape,
        const int64_t *p, float c, double threshold)
{
    if (!(c > threshold))
        return false;
    for (int k = 0; k < 27; k++) {
        int64_t q[DIMS] = {p[0] + k / 9 - 1, p[1] + k / 3 % 3 - 1, p[2] + k % 3 - 1};
        if (k == 13 || q[0] < 0 || q[1] < 0 || q[2] < 0 || q[0] >= shape.v[0]
            || q[1] >= shape.v[1] || q[2] >= shape.v[2])
            continue;
        if (!(c > buf[((q[0] - ro[0]) * rs[1] + (q[1] - ro[1])) * rs[2] + (q[2] - ro[2])]))
            return false;
    }
    return true;
}

static int
cmd_maxima(int argc, char **argv)
{
    opt_t opts[] = {{"--threshold", NULL}};
    const char *pos[2];
    int rc = parse_args(argc, argv, opts, 1, pos, 2);
    if (rc)
        return rc;
    double threshold = DEFAULT_THRESHOLD;
    if (opts[0].value && parse_double(opts[0].value, &threshold) != 0)
        return usage("maxima: --threshold '%s': expected a number", opts[0].value);
    daisy_roi_t read, write;
    if (env_roi("READ", &read) != 0 || env_roi("WRITE", &write) != 0)
        return 1;
    daisy_array_t *a = open_volume(pos[0]);
    if (!a)
        return 1;
    daisy_roi_t vol = daisy_array_roi(a);
    daisy_coord_t vs = daisy_array_voxel_size(a), off = daisy_array_offset(a);
    daisy_coord_t shape = daisy_array_shape(a);
    char r[128], w[128];
    daisy_roi_format(&read, r, sizeof r);
    daisy_roi_format(&write, w, sizeof w);
    if (check_context(&read, &write, &vol, vs, "one voxel") != 0)
        goto error;
    //  Read the part of the read ROI inside the volume (at the volume's
    //  border the task's read ROI reaches beyond it); rv and wv are the
    //  read and write ROIs in voxels from the volume's first voxel.
    read = daisy_roi_intersect(&read, &vol);
    daisy_coord_t to_origin = daisy_coord_sub(daisy_coord_fill(DIMS, 0), off);
    daisy_roi_t rv, wv, rel_r = daisy_roi_shift(&read, to_origin),
                        rel_w = daisy_roi_shift(&write, to_origin);
    bool read_off = daisy_roi_div(&rel_r, vs, &rv) != 0;
    if (read_off || daisy_roi_div(&rel_w, vs, &wv) != 0) {
        char v[64], o[64];
        daisy_coord_format(vs, v, sizeof v);
        daisy_coord_format(off, o, sizeof o);
        fail("%s ROI %s is not on the voxel grid of %s (voxel size %s from %s)",
             read_off ? "read" : "write", read_off ? r : w, pos[0], v, o);
        goto error;
    }
    size_t nread = (size_t)daisy_roi_size(&rv);
    float *buf = malloc((nread ? nread : 1) * sizeof *buf);
    daisy_error_t err;
    if (!buf) {
        fail("no memory for the read ROI %s", r);
        goto error;
    }
    if (daisy_array_read(a, &read, buf, &err) != 0) {
        free(buf);
        fail("%s", err.msg);
        goto error;
    }
    daisy_array_destroy(&a);

    //  Two passes over the write ROI: count the maxima, then fill them in.
    const int64_t *ro = rv.offset, *rs = rv.shape;
    size_t n = 0;
    daisy_node_t *nodes = NULL;
    daisy_value_t *values = NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            nodes = calloc(n ? n : 1, sizeof *nodes);
            values = calloc(n ? n : 1, sizeof *values);
            if (!nodes || !values)
                break;
            n = 0;
        }
        for (int64_t z = wv.offset[0]; z < wv.offset[0] + wv.shape[0]; z++)
            for (int64_t y = wv.offset[1]; y < wv.offset[1] + wv.shape[1]; y++)
                for (int64_t x = wv.offset[2]; x < wv.offset[2] + wv.shape[2]; x++) {
                    int64_t p[DIMS] = {z, y, x};
                    float c = buf[((z - ro[0]) * rs[1] + (y - ro[1])) * rs[2] + (x - ro[2])];
                    if (!is_peak(buf, ro, rs, shape, p, c, threshold))
                        continue;
                    if (pass == 1) {
                        nodes[n].id = (uint64_t)((z * shape.v[1] + y) * shape.v[2] + x) + 1;
                        for (int d = 0; d < DIMS; d++)
                            nodes[n].position[d] = (double)(off.v[d] + p[d] * vs.v[d]);
                        values[n] = (daisy_value_t){.n = 1, .v.f = {c}};
                    }
                    n++;
                }
    }
    free(buf);
    if (!nodes || !values) {
        free(nodes);
        free(values);
        return fail("no memory for the nodes of write ROI %s", w);
    }
    for (size_t i = 0; i < n; i++)
        nodes[i].attrs = &values[i];
    daisy_graphdb_t *db = open_graph(pos[1], &vol);
    rc = db ? daisy_graphdb_write_nodes(db, nodes, n, &write, false, &err) : -1;
    if (db && rc != 0)
        fail("%s", err.msg);
    daisy_graphdb_close(&db);
    free(nodes);
    free(values);
    if (rc != 0)
        return 1;
    printf("maxima: write ROI %s: %zu nodes\n", w, n);
    return 0;
error:
    daisy_array_destroy(&a);
    return 1;
}

//  edges ------------------------------------------------------------------------

typedef struct {
    uint64_t id;
    double p[DIMS];
    double intensity;
    bool inside;        //  in the write ROI
} point_t;

static int
cmd_edges(int argc, char **argv)
{
    opt_t opts[] = {{"--distance", NULL}};
    const char *pos[2];
    int rc = parse_args(argc, argv, opts, 1, pos, 2);
    if (rc)
        return rc;
    double dmax = DEFAULT_DISTANCE;
    if (opts[0].value && (parse_double(opts[0].value, &dmax) != 0 || dmax <= 0 || dmax > 1e9))
        return usage("edges: --distance '%s': expected a number > 0", opts[0].value);
    daisy_roi_t read, write;
    if (env_roi("READ", &read) != 0 || env_roi("WRITE", &write) != 0)
        return 1;
    daisy_array_t *a = open_volume(pos[0]);
    if (!a)
        return 1;
    daisy_roi_t vol = daisy_array_roi(a);
    daisy_array_destroy(&a);
    char what[64], w[128];
    snprintf(what, sizeof what, "the distance %g", dmax);
    if (check_context(&read, &write, &vol, daisy_coord_fill(DIMS, (int64_t)ceil(dmax)), what)
        != 0)
        return 1;
    daisy_roi_format(&write, w, sizeof w);

    daisy_graphdb_t *db = open_graph(pos[1], &vol);
    if (!db)
        return 1;
    daisy_error_t err;
    size_t cap = 64, n = 0;
    point_t *pts = malloc(cap * sizeof *pts);
    daisy_graph_iter_t *it = pts ? daisy_graphdb_nodes(db, &read, NULL, 0, &err) : NULL;
    if (!it) {
        daisy_graphdb_close(&db);
        free(pts);
        return pts ? fail("%s", err.msg) : fail("no memory");
    }
    daisy_node_t node;
    int got;
    while ((got = daisy_graph_iter_node(it, &node, &err)) == 1) {
        if (n == cap) {
            point_t *np = realloc(pts, 2 * cap * sizeof *pts);
            if (!np) {
                got = -1;
                snprintf(err.msg, sizeof err.msg, "no memory for the nodes of %s", w);
                break;
            }
            pts = np;
            cap *= 2;
        }
        point_t *q = &pts[n++];
        q->id = node.id;
        memcpy(q->p, node.position, sizeof q->p);
        q->intensity = node.attrs[0].null ? 0 : node.attrs[0].v.f[0];
        daisy_coord_t c = {.dims = DIMS};     //  truncated, as the database's ROI filter does
        for (int d = 0; d < DIMS; d++)
            c.v[d] = (int64_t)trunc(q->p[d]);
        q->inside = daisy_roi_contains_coord(&write, c);
    }
    daisy_graph_iter_destroy(&it);
    if (got < 0) {
        daisy_graphdb_close(&db);
        free(pts);
        return fail("%s", err.msg);
    }

    //  Every pair closer than D with one end in the write ROI; the database
    //  keeps those whose lower id lies in it.
    size_t ecap = 64, ne = 0;
    daisy_edge_t *edges = malloc(ecap * sizeof *edges);
    daisy_value_t *scores = malloc(ecap * sizeof *scores);
    for (size_t i = 0; edges && scores && i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (!pts[i].inside && !pts[j].inside)
                continue;
            double d2 = 0;
            for (int d = 0; d < DIMS; d++)
                d2 += (pts[i].p[d] - pts[j].p[d]) * (pts[i].p[d] - pts[j].p[d]);
            double dist = sqrt(d2);
            if (!(dist < dmax) || dist == 0)
                continue;
            if (ne == ecap) {
                ecap *= 2;
                daisy_edge_t *en = realloc(edges, ecap * sizeof *edges);
                daisy_value_t *sn = en ? realloc(scores, ecap * sizeof *scores) : NULL;
                edges = en ? en : edges;
                scores = sn ? sn : scores;
                if (!en || !sn) {
                    free(edges);
                    edges = NULL;
                    break;
                }
            }
            double lo = pts[i].intensity < pts[j].intensity ? pts[i].intensity
                                                             : pts[j].intensity;
            edges[ne] = (daisy_edge_t){.u = pts[i].id, .v = pts[j].id};
            scores[ne] = (daisy_value_t){.n = 1, .v.f = {lo / dist}};
            ne++;
        }
    free(pts);
    if (!edges || !scores) {
        free(edges);
        free(scores);
        daisy_graphdb_close(&db);
        return fail("no memory for the edges of write ROI %s", w);
    }
    for (size_t k = 0; k < ne; k++)
        edges[k].attrs = &scores[k];
    rc = daisy_graphdb_write_edges(db, edges, ne, &write, false, &err);
    if (rc != 0)
        fail("%s", err.msg);
    daisy_graphdb_close(&db);
    free(edges);
    free(scores);
    if (rc != 0)
        return 1;
    printf("edges: write ROI %s: %zu nodes read, %zu candidate edges\n", w, n, ne);
    return 0;
}

//  count ------------------------------------------------------------------------

static int
cmd_count(int argc, char **argv)
{
    const char *pos[1];
    int rc = parse_args(argc, argv, NULL, 0, pos, 1);
    if (rc)
        return rc;
    daisy_error_t err;
    daisy_graphdb_t *db = daisy_graphdb_open(pos[0], DAISY_GRAPHDB_READ, NULL, &err);
    if (!db)
        return fail("%s", err.msg);
    uint64_t nodes = 0, edges = 0;
    daisy_graph_iter_t *it = NULL;
    rc = daisy_graphdb_count_nodes(db, NULL, &nodes, &err);
    if (rc == 0 && !(it = daisy_graphdb_edges(db, NULL, false, NULL, 0, &err)))
        rc = -1;
    daisy_edge_t e;
    int got = 0;
    while (it && (got = daisy_graph_iter_edge(it, &e, &err)) == 1)
        edges++;
    daisy_graph_iter_destroy(&it);
    daisy_graphdb_close(&db);
    if (rc != 0 || got < 0)
        return fail("%s", err.msg);
    printf("%llu nodes, %llu edges\n", (unsigned long long)nodes, (unsigned long long)edges);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc < 2)
        return usage("no subcommand (volume, init, maxima, edges or count)");
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    step = argv[1];
    if (!strcmp(step, "volume"))
        return cmd_volume(argc, argv);
    if (!strcmp(step, "init"))
        return cmd_init(argc, argv);
    if (!strcmp(step, "maxima"))
        return cmd_maxima(argc, argv);
    if (!strcmp(step, "edges"))
        return cmd_edges(argc, argv);
    if (!strcmp(step, "count"))
        return cmd_count(argc, argv);
    return usage("unknown subcommand '%s' (volume, init, maxima, edges or count)", step);
}
