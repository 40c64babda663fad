/*  bench_graphdb.c - the graph database: writes, ROI reads, concurrent writers

    Cases (one JSON line each):

      write   N nodes at random positions in a cube, written in batches of
              10,000 through daisy_graphdb_write_nodes (with the spatial
              index and its trigger, pos_index, WAL); the reference,
              measured in the same run, is the same rows into funlib's
              schema (pos_index only) through plain sqlite3 prepared
              inserts; and ours again as a bulk load (bulk_begin ..
              bulk_end, the index builds timed). Then ours and the
              reference again with each batch in a block of side 1/10 of
              the cube's (blocks in order), as a blockwise task writes.
      read    ROI reads of 0.1 % and 1 % of the volume through
              daisy_graphdb_nodes (the spatial index drives), against the query
              funlib.persistence runs on the same file (the column
              comparisons, served by its composite pos_index), each ROI
              read by both in turn; both count the same nodes, checked.
              --keep PATH keeps the graph for the next run.
      writers 8 processes writing the nodes of disjoint slabs at once, in
              batches of 1,000: rows/s, and every row there afterwards.
      pg-write  PostgreSQL (--pg URL, or DAISY_TEST_POSTGRES; skipped
              without): N nodes in batches of 10,000 through
              daisy_graphdb_write_nodes (COPY into a staging table, INSERT
              ... ON CONFLICT DO NOTHING, the GiST index kept), and as a
              bulk load (indexes built at the end); references in the same
              run: funlib's write (one INSERT ... VALUES text statement per
              batch, into its schema with pos_index), and the server's
              ceiling, a bare COPY of the same rows into funlib's table
              with no index at all.
      pg-writers  8 processes writing disjoint slabs into PostgreSQL.
    The PostgreSQL cases work in a database of their own, dropped after.
*/
#include <libpq-fe.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "daisy/graphdb.h"

#define SIDE 1000.0
#define BATCH 10000

static size_t s_nodes = 1000000;
static char s_dir[256];
static const char *s_pg;        //  the server's URL (its maintenance database)
static char s_pg_db[600];       //  the URL of the benchmark's own database
static const char *s_keep;      //  --keep PATH: the read case's graph, kept between runs

//  Batches of a block each (see run_write), instead of the whole cube.
static bool s_local;

//  Node `id` at a random place: in the whole cube, or with s_local in the
//  block of side SIDE / 10 that its batch of BATCH writes, blocks in
//  order, as a blockwise task's workers write theirs.
static void
random_node(uint64_t *seed, uint64_t id, daisy_node_t *n)
{
    n->id = id;
    n->attrs = NULL;
    uint64_t block = (id - 1) / BATCH;
    for (int d = 0; d < 3; d++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(*seed >> 11) / (double)(1ull << 53);
        n->position[d] = s_local ? (double)(block % 10) * (SIDE / 10) + u * (SIDE / 10)
                                 : u * SIDE;
        block /= 10;
    }
}

static daisy_graph_schema_t
schema(void)
{
    return (daisy_graph_schema_t){.dims = 3};
}

//  Ours: daisy_graphdb_write_nodes in batches (inside a bulk load when
//  `bulk`: its end, the indexes built, is timed too). Nodes per second.
static double
write_ours(const char *path, size_t n, bool bulk)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema();
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    if (!db) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    daisy_node_t *batch = malloc(BATCH * sizeof *batch);
    uint64_t seed = 42;
    double t0 = bench_now();
    if (bulk && daisy_graphdb_bulk_begin(db, &err) != 0)
        fprintf(stderr, "%s\n", err.msg);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < BATCH ? n - done : BATCH;
        for (size_t i = 0; i < k; i++)
            random_node(&seed, done + i + 1, &batch[i]);
        if (daisy_graphdb_write_nodes(db, batch, k, NULL, false, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            break;
        }
        done += k;
    }
    if (bulk && daisy_graphdb_bulk_end(db, &err) != 0)
        fprintf(stderr, "%s\n", err.msg);
    double rate = bench_rate(n, bench_now() - t0);
    free(batch);
    daisy_graphdb_close(&db);
    return rate;
}

//  The reference: funlib's tables (pos_index, no tree), the same rows,
//  prepared inserts in transactions of BATCH.
static double
write_reference(const char *path, size_t n)
{
    sqlite3 *db;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE nodes(id INTEGER not null PRIMARY "
                 "KEY, position_0, position_1, position_2); CREATE INDEX pos_index ON "
                 "nodes(position_0,position_1,position_2);", NULL, NULL, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO nodes VALUES (?, ?, ?, ?)", -1, &st, NULL);
    uint64_t seed = 42;
    double t0 = bench_now();
    for (size_t done = 0; done < n; done += BATCH) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (size_t i = 0; i < BATCH && done + i < n; i++) {
            daisy_node_t node;
            random_node(&seed, done + i + 1, &node);
            sqlite3_bind_int64(st, 1, (int64_t)node.id);
            for (int d = 0; d < 3; d++)
                sqlite3_bind_double(st, 2 + d, node.position[d]);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double rate = bench_rate(n, bench_now() - t0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rate;
}

static int
run_write(bool quick)
{
    size_t n = quick ? 20000 : s_nodes;
    char ours[300], ref[300];
    snprintf(ours, sizeof ours, "%s/ours.db", s_dir);
    snprintf(ref, sizeof ref, "%s/ref.db", s_dir);
    //  Each starts on a disk done with the one before: the per-batch
    //  write leaves hundreds of MB to write back, which took the bulk load
    //  after it anywhere from 365,000 to 577,000 nodes/s.
    sync();
    double a = write_ours(ours, n, false);
    sync();
    double c = write_ours(ours, n, true);
    sync();
    double b = write_reference(ref, n);
    //  The same, each batch in a block of its own: a blockwise task's
    //  writes, whose rows land in a few pages of each index.
    s_local = true;
    sync();
    double la = write_ours(ours, n, false);
    sync();
    double lb = write_reference(ref, n);
    s_local = false;
    printf("{\"case\": \"write\", \"nodes\": %zu, \"ours_nodes_per_s\": %.0f, "
           "\"ours_bulk_nodes_per_s\": %.0f, \"funlib_schema_nodes_per_s\": %.0f, "
           "\"ratio\": %.2f, \"bulk_ratio\": %.2f, \"ours_local_nodes_per_s\": %.0f, "
           "\"funlib_schema_local_nodes_per_s\": %.0f, \"local_ratio\": %.2f}\n",
           n, a, c, b, b > 0 ? a / b : 0, b > 0 ? c / b : 0, la, lb, lb > 0 ? la / lb : 0);
    return a > 0 && b > 0 && c > 0 && la > 0 && lb > 0 ? 0 : 1;
}

//  A cube of `fraction` of the volume at a random place.
static daisy_roi_t
query_roi(uint64_t *seed, double fraction)
{
    int64_t side = (int64_t)(SIDE * cbrt(fraction) + 0.5);
    daisy_roi_t r = {.dims = 3};
    for (int d = 0; d < 3; d++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        r.offset[d] = (int64_t)((*seed >> 33) % (uint64_t)(SIDE - (double)side));
        r.shape[d] = side;
    }
    return r;
}

static uint64_t
count_funlib(sqlite3 *db, const daisy_roi_t *r)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT id, position_0, position_1, position_2 FROM nodes WHERE "
             "position_0>=%lld AND position_0<%lld AND position_1>=%lld AND position_1<%lld "
             "AND position_2>=%lld AND position_2<%lld",
             (long long)r->offset[0], (long long)(r->offset[0] + r->shape[0]),
             (long long)r->offset[1], (long long)(r->offset[1] + r->shape[1]),
             (long long)r->offset[2], (long long)(r->offset[2] + r->shape[2]));
    sqlite3_stmt *st;
    uint64_t n = 0;
    sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW)
        n++;
    sqlite3_finalize(st);
    return n;
}

static uint64_t
count_ours(daisy_graphdb_t *db, const daisy_roi_t *r)
{
    daisy_error_t err;
    daisy_graph_iter_t *it = daisy_graphdb_nodes(db, r, NULL, 0, &err);
    daisy_node_t node;
    uint64_t n = 0;
    while (it && daisy_graph_iter_node(it, &node, &err) == 1)
        n++;
    daisy_graph_iter_destroy(&it);
    return n;
}

static int
run_read(bool quick)
{
    char path[300];
    snprintf(path, sizeof path, "%s", s_keep ? s_keep : "");
    if (!s_keep)
        snprintf(path, sizeof path, "%s/ours.db", s_dir);
    size_t n = quick ? 20000 : s_nodes;
    //  A kept graph is read as it is (built with the same --nodes once).
    if ((!s_keep || access(path, F_OK) != 0) && write_ours(path, n, true) < 0)
        return 1;
    daisy_error_t err;
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
    sqlite3 *raw;
    if (!db || sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return 1;
    int rc = 0;
    const double fractions[] = {0.001, 0.01};
    for (int f = 0; f < 2; f++) {
        //  Each ROI read by both in turn: a burst of load on the shared
        //  machine then slows both sides, not one.
        int queries = quick ? 5 : 50;
        uint64_t seed = 7, got_ours = 0, got_ref = 0;
        double ours = 0, ref = 0;
        for (int q = 0; q < queries; q++) {
            daisy_roi_t r = query_roi(&seed, fractions[f]);
            double t0 = bench_now();
            got_ours += count_ours(db, &r);
            double t1 = bench_now();
            got_ref += count_funlib(raw, &r);
            ours += (t1 - t0) / queries;
            ref += (bench_now() - t1) / queries;
        }
        printf("{\"case\": \"read\", \"nodes\": %zu, \"fraction\": %g, \"nodes_per_query\": "
               "%.0f, \"ours_ms\": %.3f, \"funlib_query_ms\": %.3f, \"speedup\": %.1f, "
               "\"same_nodes\": %s}\n", n, fractions[f], (double)got_ours / queries,
               ours * 1e3, ref * 1e3, ours > 0 ? ref / ours : 0,
               bench_bool(got_ours == got_ref));
        rc |= got_ours != got_ref;
    }
    sqlite3_close(raw);
    daisy_graphdb_close(&db);
    return rc;
}

//  Writer w: the nodes of slab w (x in [w * SIDE / W, (w + 1) * SIDE / W)).
static void
writer(const char *path, int w, int writers, size_t n)
{
    daisy_error_t err;
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, NULL, &err);
    if (!db)
        _exit(1);
    daisy_node_t batch[1000];
    uint64_t seed = (uint64_t)w + 1;
    for (size_t done = 0; done < n; done += 1000) {
        for (size_t i = 0; i < 1000; i++) {
            random_node(&seed, (uint64_t)w * n + done + i + 1, &batch[i]);
            batch[i].position[0] = (w + batch[i].position[0] / SIDE) * SIDE / writers;
        }
        if (daisy_graphdb_write_nodes(db, batch, 1000, NULL, true, &err) != 0) {
            fprintf(stderr, "writer %d: %s\n", w, err.msg);
            _exit(1);
        }
    }
    daisy_graphdb_close(&db);
    _exit(0);
}

static int
writers(const char *path, const char *name, bool quick)
{
    enum { WRITERS = 8 };
    size_t per = quick ? 2000 : 50000;
    daisy_error_t err;
    daisy_graph_schema_t s = schema();
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    if (!db)
        return 1;
    daisy_graphdb_close(&db);
    pid_t pids[WRITERS];
    double t0 = bench_now();
    for (int w = 0; w < WRITERS; w++)
        if ((pids[w] = fork()) == 0)
            writer(path, w, WRITERS, per);
    int failed = 0;
    for (int w = 0; w < WRITERS; w++) {
        int status;
        waitpid(pids[w], &status, 0);
        failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    double seconds = bench_now() - t0;
    uint64_t count = 0;
    db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
    if (db)
        daisy_graphdb_count_nodes(db, NULL, &count, &err);
    daisy_graphdb_close(&db);
    uint64_t want = (uint64_t)WRITERS * per;
    printf("{\"case\": \"%s\", \"writers\": %d, \"nodes\": %llu, \"nodes_per_s\": %.0f, "
           "\"lost\": %lld, \"failed_writers\": %d}\n", name, WRITERS,
           (unsigned long long)want, bench_rate(want, seconds), (long long)want - (long long)count,
           failed);
    return failed || count != want;
}

static int
run_writers(bool quick)
{
    char path[300];
    snprintf(path, sizeof path, "%s/writers.db", s_dir);
    return writers(path, "writers", quick);
}

//  PostgreSQL ------------------------------------------------------------------------

static int
bench_skip(const char *name, const char *why)
{
    printf("{\"case\": \"%s\", \"skipped\": \"%s\"}\n", name, why);
    return 0;
}

//  A statement on the benchmark's database (or, with `admin`, the server's).
static int
pg_exec(bool admin, const char *sql)
{
    PGconn *c = PQconnectdb(admin ? s_pg : s_pg_db);
    PGresult *r = PQexec(c, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
           ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "%s: %s", sql, PQstatus(c) == CONNECTION_OK ? PQresultErrorMessage(r)
                                                                    : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

//  funlib's write_nodes: one INSERT ... VALUES statement per batch, its
//  values as text, into its schema (position REAL[3], pos_index).
static double
pg_write_funlib(size_t n)
{
    if (pg_exec(false, "DROP TABLE IF EXISTS ref_nodes; CREATE TABLE ref_nodes(id BIGINT not "
                "null PRIMARY KEY, position REAL[3]); CREATE INDEX ref_pos_index ON "
                "ref_nodes(position)") != 0)
        return -1;
    PGconn *c = PQconnectdb(s_pg_db);
    size_t cap = (size_t)BATCH * 96 + 128;
    char *sql = malloc(cap);
    uint64_t seed = 42;
    double t0 = bench_now();
    for (size_t done = 0; done < n; done += BATCH) {
        size_t used = (size_t)snprintf(sql, cap, "INSERT INTO ref_nodes(id, position) VALUES ");
        for (size_t i = 0; i < BATCH && done + i < n; i++) {
            daisy_node_t node;
            random_node(&seed, done + i + 1, &node);
            used += (size_t)snprintf(sql + used, cap - used, "%s(%zu, array[%.17g,%.17g,%.17g])",
                                     i ? ", " : "", done + i + 1, node.position[0],
                                     node.position[1], node.position[2]);
        }
        snprintf(sql + used, cap - used, " ON CONFLICT DO NOTHING");
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fprintf(stderr, "%s", PQresultErrorMessage(r));
        PQclear(r);
    }
    double rate = bench_rate(n, bench_now() - t0);
    free(sql);
    PQfinish(c);
    return rate;
}

//  The ceiling: the same rows by COPY into funlib's table with no index.
static double
pg_write_copy(size_t n)
{
    if (pg_exec(false, "DROP TABLE IF EXISTS bare_nodes; CREATE TABLE bare_nodes(id BIGINT, "
                "position DOUBLE PRECISION[3])") != 0)
        return -1;
    PGconn *c = PQconnectdb(s_pg_db);
    PQclear(PQexec(c, "COPY bare_nodes (id, position) FROM STDIN"));
    char line[160];
    uint64_t seed = 42;
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        daisy_node_t node;
        random_node(&seed, i + 1, &node);
        int len = snprintf(line, sizeof line, "%zu\t{%.17g,%.17g,%.17g}\n", i + 1,
                           node.position[0], node.position[1], node.position[2]);
        PQputCopyData(c, line, len);
    }
    PQputCopyEnd(c, NULL);
    PGresult *r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "%s", PQresultErrorMessage(r));
    PQclear(r);
    double rate = bench_rate(n, bench_now() - t0);
    PQfinish(c);
    return rate;
}

static int
run_pg_write(bool quick)
{
    if (!s_pg)
        return bench_skip("pg-write", "no PostgreSQL server (--pg URL or DAISY_TEST_POSTGRES)");
    size_t n = quick ? 20000 : s_nodes;
    double a = write_ours(s_pg_db, n, false), c = write_ours(s_pg_db, n, true),
           b = pg_write_funlib(n), d = pg_write_copy(n);
    printf("{\"case\": \"pg-write\", \"nodes\": %zu, \"ours_nodes_per_s\": %.0f, "
           "\"ours_bulk_nodes_per_s\": %.0f, \"funlib_nodes_per_s\": %.0f, "
           "\"bare_copy_nodes_per_s\": %.0f, \"ratio\": %.2f, \"bulk_of_bare_copy\": %.2f}\n",
           n, a, c, b, d, b > 0 ? a / b : 0, d > 0 ? c / d : 0);
    return a > 0 && b > 0 && c > 0 && d > 0 ? 0 : 1;
}

static int
run_pg_writers(bool quick)
{
    if (!s_pg)
        return bench_skip("pg-writers", "no PostgreSQL server (--pg URL or DAISY_TEST_POSTGRES)");
    return writers(s_pg_db, "pg-writers", quick);
}

typedef struct {
    const char *name;
    int (*run)(bool quick);
} bench_case_t;

static const bench_case_t cases[] = {
    {"write", run_write},
    {"read", run_read},
    {"writers", run_writers},
    {"pg-write", run_pg_write},
    {"pg-writers", run_pg_writers},
};

static int
bench(const void *arg, const bench_args_t *args)
{
    const bench_case_t *c = arg;
    return c->run(args->quick);
}

static int
option(int opt, const char *arg)
{
    if (opt == 'p' || opt == 'k') {
        *(opt == 'p' ? &s_pg : &s_keep) = arg;
        return 0;
    }
    if (opt != 'n')
        return -1;
    s_nodes = strtoull(arg, NULL, 10);
    return s_nodes >= BATCH ? 0 : -1;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"pg", required_argument, NULL, 'p'},
        {"keep", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    static const bench_prog_t prog = {
        .name = "bench_graphdb",
        .usage = "usage: bench_graphdb [--case NAME] [--quick] [--nodes N] [--pg URL]\n"
                 "       [--keep PATH]\n"
                 "  --case NAME  write, read, writers, pg-write or pg-writers\n"
                 "  --quick      small graphs (smoke test)\n"
                 "  --nodes N    nodes for write and read (default 1000000)\n"
                 "  --pg URL     a PostgreSQL server for the pg- cases (default\n"
                 "               $DAISY_TEST_POSTGRES; they are skipped without one)\n"
                 "  --keep PATH  the read case's graph: built there when missing, else\n"
                 "               read as it is (made with the same --nodes), and kept\n",
        .cases = cases, .ncases = sizeof cases / sizeof cases[0], .case_size = sizeof cases[0],
        .run = bench,
        .extra_short = "n:p:k:", .extra_long = opts, .extra = option,
    };
    bench_args_t args;
    int rc = bench_parse_args(&prog, argc, argv, &args);
    if (rc >= 0)
        return rc;
    snprintf(s_dir, sizeof s_dir, "/tmp/bench-graphdb-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    if (!s_pg && getenv("DAISY_TEST_POSTGRES") && *getenv("DAISY_TEST_POSTGRES"))
        s_pg = getenv("DAISY_TEST_POSTGRES");
    char sql[128];
    if (s_pg) {     //  a database of its own, on the server's URL
        const char *slash = strrchr(s_pg, '/');
        int base = slash && slash > strstr(s_pg, "://") + 2 ? (int)(slash - s_pg)
                                                            : (int)strlen(s_pg);
        snprintf(s_pg_db, sizeof s_pg_db, "%.*s/daisy_bench_%ld", base, s_pg, (long)getpid());
        snprintf(sql, sizeof sql, "CREATE DATABASE daisy_bench_%ld", (long)getpid());
        if (pg_exec(true, sql) != 0)
            return 1;
    }
    rc = bench_run_cases(&prog, &args);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS daisy_bench_%ld WITH (FORCE)",
             (long)getpid());
    if (s_pg && pg_exec(true, sql) != 0)
        rc = 1;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
