/*  test_graphdb.c - the geometric graph database, on SQLite and PostgreSQL

    A graph of nodes on a 3D lattice with typed attributes (int, float,
    bool, str, a float vector) and edges between neighbours, written and
    read back by ROI: which nodes a ROI holds (begin <= p < end), which
    edges (by u, or u or v), undirected edges kept once as u < v, writes
    that never overwrite and are all or nothing, filters, updates, counts,
    the metadata funlib reads, refusals (read-only, a schema that does not
    match, a missing graph), and many processes writing disjoint ROIs at
    once without losing a row. Expected sets are computed here from the
    lattice, not written down.

    On PostgreSQL also: many processes opening one graph at once (creating
    it, and its database; completing a graph funlib made), and a handle
    whose session the server ends (pg_terminate_backend from another
    connection, as a restart would, without restarting the server others
    share): later calls connect again, a write cut off mid-way is written
    again whole, a bulk load cut off fails saying so and keeps nothing of
    the batch, a read cut off fails saying so.

    Every test runs twice: suite `graphdb` on a SQLite file, suite
    `graphdb_pg` on a database of its own on the PostgreSQL server named
    by DAISY_TEST_POSTGRES (scripts/postgres.sh; the test run starts one),
    created for the test and dropped after it; skipped without one.
*/
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daisy/graphdb.h"

static char dir[] = "/tmp/daisy-graphdb-XXXXXX";
static char path[512];          //  the spec every test opens
static bool pg;                 //  the PostgreSQL suite
static char pg_db[64];
static char pg_admin[512];      //  DAISY_TEST_POSTGRES

static void
setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/graph.db", dir);
}

static void
teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    strcpy(dir, "/tmp/daisy-graphdb-XXXXXX");
}

static void
quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;      //  "does not exist, skipping"
}

//  A statement on the server's maintenance database.
static void
pg_admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(pg_admin);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s: %s", pg_admin, PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

//  The server's URL with another database.
static void
pg_url(char *out, size_t size, const char *db)
{
    const char *slash = strrchr(pg_admin, '/');
    snprintf(out, size, "%.*s/%s", (int)(slash - pg_admin), pg_admin, db);
}

static void
setup_pg(void)
{
    const char *url = getenv("DAISY_TEST_POSTGRES");
    if (!url || !*url)
        cr_skip_test("no PostgreSQL server (DAISY_TEST_POSTGRES is not set; scripts/test.sh "
                     "starts one)");
    setup();
    pg = true;
    snprintf(pg_admin, sizeof pg_admin, "%s", url);
    static int n;
    snprintf(pg_db, sizeof pg_db, "daisy_test_%ld_%d", (long)getpid(), ++n);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
    pg_admin_exec(sql);
    pg_url(path, sizeof path, pg_db);
}

//  The databases of a test: its own, and those it creates (pg_db_rN).
#define PG_ROUNDS 3

static void
teardown_pg(void)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_db);
    pg_admin_exec(sql);
    for (int r = 0; r < PG_ROUNDS; r++) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s_r%d WITH (FORCE)", pg_db, r);
        pg_admin_exec(sql);
    }
    teardown();
}

TestSuite(graphdb, .init = setup, .fini = teardown, .timeout = 120);
TestSuite(graphdb_pg, .init = setup_pg, .fini = teardown_pg, .timeout = 120);

static const daisy_attr_t node_attrs[] = {
    {"label", DAISY_ATTR_INT, 0},
    {"score", DAISY_ATTR_FLOAT, 0},
    {"selected", DAISY_ATTR_BOOL, 0},
    {"name", DAISY_ATTR_STR, 0},
    {"normal", DAISY_ATTR_FLOAT, 3},
};
static const daisy_attr_t edge_attrs[] = {
    {"affinity", DAISY_ATTR_FLOAT, 0},
    {"merged", DAISY_ATTR_BOOL, 0},
};

static daisy_graph_schema_t
schema(bool directed)
{
    return (daisy_graph_schema_t){
        .dims = 3, .directed = directed,
        .node_attrs = node_attrs, .n_node_attrs = 5,
        .edge_attrs = edge_attrs, .n_edge_attrs = 2,
        .has_total_roi = true,
        .total_roi = daisy_roi_make(3, (int64_t[]){0, 0, 0}, (int64_t[]){10, 10, 10})};
}

//  Node i of an N^3 lattice at (x + 0.5, y + 0.5, z + 0.5), attributes
//  from i.
#define N 10
#define NODES (N * N * N)

static daisy_value_t values[NODES][5];
static char names[NODES][16];

static daisy_node_t
lattice_node(int i)
{
    daisy_node_t n = {.id = (uint64_t)i + 1};
    n.position[0] = i / (N * N) + 0.5;
    n.position[1] = i / N % N + 0.5;
    n.position[2] = i % N + 0.5;
    daisy_value_t *v = values[i];
    snprintf(names[i], sizeof names[i], "n%d", i);
    v[0] = (daisy_value_t){.n = 1, .v.i = {i * 7}};
    v[1] = (daisy_value_t){.n = 1, .v.f = {i / 4.0}};
    v[2] = (daisy_value_t){.n = 1, .v.b = {i % 3 == 0}};
    v[3] = (daisy_value_t){.n = 1, .v.s = names[i]};
    v[4] = (daisy_value_t){.n = 3, .v.f = {i, -i, 0.25}};
    if (i % 10 == 9)
        v[3].null = true;       //  some names missing
    n.attrs = v;
    return n;
}

static daisy_graphdb_t *
create_lattice(bool directed)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(directed);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    static daisy_node_t nodes[NODES];
    for (int i = 0; i < NODES; i++)
        nodes[i] = lattice_node(i);
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, NODES, NULL, false, &err), 0, "%s",
                 err.msg);
    //  Edges along x, given from the higher id to the lower.
    static daisy_edge_t edges[NODES];
    static daisy_value_t ev[NODES][2];
    size_t n = 0;
    for (int i = 0; i < NODES; i++)
        if (i / (N * N) + 1 < N) {
            ev[n][0] = (daisy_value_t){.n = 1, .v.f = {i / 100.0}};
            ev[n][1] = (daisy_value_t){.n = 1, .v.b = {false}};
            edges[n] = (daisy_edge_t){(uint64_t)i + 1 + N * N, (uint64_t)i + 1, ev[n]};
            n++;
        }
    cr_assert_eq(daisy_graphdb_write_edges(db, edges, n, NULL, false, &err), 0, "%s", err.msg);
    return db;
}

static daisy_roi_t
roi(int64_t x0, int64_t y0, int64_t z0, int64_t sx, int64_t sy, int64_t sz)
{
    return daisy_roi_make(3, (int64_t[]){x0, y0, z0}, (int64_t[]){sx, sy, sz});
}

static bool
inside(const daisy_roi_t *r, const double *p)
{
    for (int d = 0; r && d < 3; d++)
        if (p[d] < r->offset[d] || p[d] >= r->offset[d] + r->shape[d])
            return false;
    return true;
}

static void
nodes_of_a_roi_are_those_with_begin_le_p_lt_end(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_error_t err;
    const daisy_roi_t rois[] = {roi(2, 3, 4, 3, 3, 3), roi(0, 0, 0, 10, 10, 10),
                                roi(-5, -5, -5, 5, 5, 5), roi(9, 0, 0, 5, 1, 1),
                                roi(1, 1, 1, 1, 1, 1)};
    for (size_t r = 0; r < sizeof rois / sizeof rois[0]; r++) {
        bool want[NODES + 1] = {false}, seen[NODES + 1] = {false};
        uint64_t expected = 0;
        for (int i = 0; i < NODES; i++) {
            daisy_node_t n = lattice_node(i);
            want[n.id] = inside(&rois[r], n.position);
            expected += want[n.id];
        }
        daisy_graph_iter_t *it = daisy_graphdb_nodes(db, &rois[r], NULL, 0, &err);
        cr_assert_not_null(it, "%s", err.msg);
        daisy_node_t n;
        uint64_t got = 0;
        while (daisy_graph_iter_node(it, &n, &err) == 1) {
            cr_assert(n.id >= 1 && n.id <= NODES && want[n.id] && !seen[n.id], "node %llu",
                      (unsigned long long)n.id);
            seen[n.id] = true;
            got++;
            //  Every attribute back as written.
            daisy_node_t w = lattice_node((int)n.id - 1);
            for (int d = 0; d < 3; d++)
                cr_assert_eq(n.position[d], w.position[d]);
            cr_assert_eq(n.attrs[0].v.i[0], w.attrs[0].v.i[0]);
            cr_assert_eq(n.attrs[1].v.f[0], w.attrs[1].v.f[0]);
            cr_assert_eq(n.attrs[2].v.b[0], w.attrs[2].v.b[0]);
            cr_assert_eq(n.attrs[3].null, w.attrs[3].null);
            if (!w.attrs[3].null)
                cr_assert_str_eq(n.attrs[3].v.s, w.attrs[3].v.s);
            cr_assert_eq(n.attrs[4].n, 3);
            for (int c = 0; c < 3; c++)
                cr_assert_eq(n.attrs[4].v.f[c], w.attrs[4].v.f[c]);
        }
        daisy_graph_iter_destroy(&it);
        cr_assert_eq(got, expected, "ROI %zu: %llu nodes, expected %llu", r,
                     (unsigned long long)got, (unsigned long long)expected);
        uint64_t count;
        cr_assert_eq(daisy_graphdb_count_nodes(db, &rois[r], &count, &err), 0, "%s", err.msg);
        cr_assert_eq(count, expected);
    }
    daisy_graphdb_close(&db);
    cr_assert_null(db);
}

//  Edges of a ROI: by u (stored as the smaller id when undirected), or by
//  u or v with fetch_on_v.
static void
check_edges(daisy_graphdb_t *db, const daisy_roi_t *r, bool fetch_on_v, bool directed)
{
    daisy_error_t err;
    uint64_t expected = 0, got = 0;
    for (int i = 0; i < NODES; i++)
        if (i / (N * N) + 1 < N) {
            daisy_node_t a = lattice_node(i + N * N), b = lattice_node(i);   //  given (a, b)
            daisy_node_t u = directed ? a : b, v = directed ? b : a;
            expected += inside(r, u.position) || (fetch_on_v && inside(r, v.position));
        }
    daisy_graph_iter_t *it = daisy_graphdb_edges(db, r, fetch_on_v, NULL, 0, &err);
    cr_assert_not_null(it, "%s", err.msg);
    daisy_edge_t e;
    while (daisy_graph_iter_edge(it, &e, &err) == 1) {
        got++;
        if (directed)
            cr_assert_eq(e.u, e.v + N * N, "directed edges keep their direction");
        else
            cr_assert_eq(e.v, e.u + N * N, "undirected edges are stored as u < v");
        uint64_t low = directed ? e.v : e.u;
        cr_assert_eq(e.attrs[0].v.f[0], (double)(low - 1) / 100.0);
    }
    daisy_graph_iter_destroy(&it);
    cr_assert_eq(got, expected, "%llu edges, expected %llu (fetch_on_v %d)",
                 (unsigned long long)got, (unsigned long long)expected, fetch_on_v);
}

static void
edges_belong_to_the_roi_of_their_u_node(void)
{
    daisy_roi_t r = roi(3, 0, 0, 2, 10, 10);
    for (int directed = 0; directed < 2; directed++) {
        daisy_graphdb_t *db = create_lattice(directed);
        check_edges(db, &r, false, directed);
        check_edges(db, &r, true, directed);
        check_edges(db, NULL, false, directed);
        daisy_graphdb_close(&db);
    }
}

static void
writes_never_overwrite_and_fail_if_exists_changes_nothing(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_error_t err;
    daisy_node_t again = lattice_node(0), fresh = lattice_node(0);
    daisy_value_t v[5];
    memcpy(v, again.attrs, sizeof v);
    v[0].v.i[0] = 999;
    again.attrs = v;
    fresh.id = NODES + 100;
    err = (daisy_error_t){0};
    cr_assert_eq(daisy_graphdb_write_nodes(db, &again, 1, NULL, false, &err), 0, "%s", err.msg);
    cr_assert_str_eq(err.msg, "", "a write that succeeds leaves no error behind");
    daisy_node_t batch[2] = {fresh, again};
    cr_assert_eq(daisy_graphdb_write_nodes(db, batch, 2, NULL, true, &err), -1);
    cr_assert(strstr(err.msg, "node 1 exists"), "%s", err.msg);
    uint64_t count;
    daisy_graphdb_count_nodes(db, NULL, &count, &err);
    cr_assert_eq(count, NODES, "the failed batch wrote nothing, not even its first node");
    daisy_attr_filter_t f = {"label", {.n = 1, .v.i = {0}}};
    daisy_graph_iter_t *it = daisy_graphdb_nodes(db, NULL, &f, 1, &err);
    daisy_node_t n;
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 1, "node 1 still has label 0");
    cr_assert_eq(n.id, 1);
    daisy_graph_iter_destroy(&it);
    //  Batches long enough for multi-row statements: the node that exists
    //  is named wherever it stands, and nothing of the batch stays; without
    //  fail_if_exists the others are written and the existing one kept.
    enum { LONG = 100 };
    static daisy_node_t many[LONG];
    for (int at = 0; at < LONG; at += 37) {
        for (int i = 0; i < LONG; i++) {
            many[i] = fresh;
            many[i].id = NODES + 1000 + (uint64_t)i;
        }
        many[at] = again;
        cr_assert_eq(daisy_graphdb_write_nodes(db, many, LONG, NULL, true, &err), -1);
        cr_assert(strstr(err.msg, "node 1 exists"), "at %d: %s", at, err.msg);
        daisy_graphdb_count_nodes(db, NULL, &count, &err);
        cr_assert_eq(count, NODES, "at %d: the failed batch wrote nothing", at);
    }
    many[LONG - 1] = many[3];       //  an id twice in one batch
    cr_assert_eq(daisy_graphdb_write_nodes(db, many, LONG, NULL, true, &err), -1);
    cr_assert(strstr(err.msg, "exists"), "%s", err.msg);
    cr_assert_eq(daisy_graphdb_write_nodes(db, many, LONG, NULL, false, &err), 0, "%s", err.msg);
    daisy_graphdb_count_nodes(db, NULL, &count, &err);
    cr_assert_eq(count, NODES + LONG - 2, "all but node 1 (kept) and the repeated id");
    it = daisy_graphdb_nodes(db, NULL, &f, 1, &err);
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 1, "node 1 still has label 0");
    cr_assert_eq(n.id, 1);
    daisy_graph_iter_destroy(&it);
    daisy_graphdb_close(&db);
}

static void
a_write_roi_keeps_only_what_lies_inside(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    static daisy_node_t nodes[NODES];
    for (int i = 0; i < NODES; i++)
        nodes[i] = lattice_node(i);
    daisy_roi_t w = roi(0, 0, 0, 5, 10, 10);
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, NODES, &w, false, &err), 0, "%s", err.msg);
    uint64_t count;
    daisy_graphdb_count_nodes(db, NULL, &count, &err);
    cr_assert_eq(count, NODES / 2);
    //  Edges from x = 4 to x = 5 and from 5 to 6: only the first has its u
    //  (the smaller id, x = 4) written and inside.
    daisy_edge_t e[2] = {{1 + 4 * N * N, 1 + 5 * N * N, NULL}, {1 + 6 * N * N, 1 + 5 * N * N, NULL}};
    cr_assert_eq(daisy_graphdb_write_edges(db, e, 2, &w, false, &err), 0, "%s", err.msg);
    daisy_graph_iter_t *it = daisy_graphdb_edges(db, NULL, false, NULL, 0, &err);
    daisy_edge_t got;
    cr_assert_eq(daisy_graph_iter_edge(it, &got, &err), 1);
    cr_assert_eq(got.u, 1 + 4 * N * N);
    cr_assert(got.attrs[0].null, "no attributes given: NULL");
    cr_assert_eq(daisy_graph_iter_edge(it, &got, &err), 0);
    daisy_graph_iter_destroy(&it);
    daisy_graphdb_close(&db);
}

static void
filters_and_updates(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_error_t err;
    //  selected (i % 3 == 0) and a missing name (i % 10 == 9).
    daisy_attr_filter_t f[2] = {{"selected", {.n = 1, .v.b = {true}}}, {"name", {.null = true}}};
    daisy_roi_t all = roi(0, 0, 0, 10, 10, 10);
    daisy_graph_iter_t *it = daisy_graphdb_nodes(db, &all, f, 2, &err);
    cr_assert_not_null(it, "%s", err.msg);
    daisy_node_t n;
    int got = 0, expected = 0;
    for (int i = 0; i < NODES; i++)
        expected += i % 3 == 0 && i % 10 == 9;
    while (daisy_graph_iter_node(it, &n, &err) == 1) {
        int i = (int)n.id - 1;
        cr_assert(i % 3 == 0 && i % 10 == 9, "node %d", i);
        got++;
    }
    daisy_graph_iter_destroy(&it);
    cr_assert_eq(got, expected);
    //  Update two attributes of two nodes, one of which does not exist.
    daisy_node_t up[2] = {lattice_node(4), lattice_node(4)};
    daisy_value_t v[5];
    memcpy(v, up[0].attrs, sizeof v);
    v[1].v.f[0] = -1.5;
    v[4].v.f[0] = 42;
    up[0].attrs = up[1].attrs = v;
    up[1].id = NODES + 7;
    const char *names_[] = {"score", "normal"};
    cr_assert_eq(daisy_graphdb_update_nodes(db, up, 2, names_, 2, &err), 0, "%s", err.msg);
    daisy_attr_filter_t g = {"score", {.n = 1, .v.f = {-1.5}}};
    it = daisy_graphdb_nodes(db, NULL, &g, 1, &err);
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 1);
    cr_assert_eq(n.id, 5);
    cr_assert_eq(n.attrs[4].v.f[0], 42);
    cr_assert_eq(n.attrs[0].v.i[0], 28, "attributes not named stay");
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 0, "the missing node was not created");
    daisy_graph_iter_destroy(&it);
    const char *bad[] = {"nonesuch"};
    cr_assert_eq(daisy_graphdb_update_nodes(db, up, 1, bad, 1, &err), -1);
    cr_assert(strstr(err.msg, "no node attribute 'nonesuch'"), "%s", err.msg);
    daisy_graphdb_close(&db);
}

//  A value of the wrong width (a Vec's components, a scalar's one) is
//  refused naming the row and attribute, and nothing is written: the
//  backends stored a short one as NULL and cut a long one.
static void
values_of_the_wrong_width_are_refused(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_error_t err;
    daisy_node_t node = lattice_node(0);
    node.id = NODES + 1;
    struct { int attr; uint32_t n; const char *says; } cases[] = {
        {4, 2, "node 1001, attribute 'normal' (Vec(float, 3)): 2 components, not 3"},
        {4, 4, "node 1001, attribute 'normal' (Vec(float, 3)): 4 components, not 3"},
        {0, 0, "node 1001, attribute 'label' (int): 0 components, not 1"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        daisy_value_t v[5];
        memcpy(v, node.attrs, sizeof v);
        v[cases[c].attr].n = cases[c].n;
        daisy_node_t bad = node;
        bad.attrs = v;
        cr_assert_eq(daisy_graphdb_write_nodes(db, &bad, 1, NULL, false, &err), -1);
        cr_assert(strstr(err.msg, cases[c].says), "%s", err.msg);
        bad.id = 1;
        const char *which[] = {node_attrs[cases[c].attr].name};
        cr_assert_eq(daisy_graphdb_update_nodes(db, &bad, 1, which, 1, &err), -1);
        cr_assert(strstr(err.msg, "node 1, attribute"), "%s", err.msg);
    }
    uint64_t count = 0;
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, NODES, "nothing written");
    daisy_value_t ev[2] = {{.n = 2, .v.f = {1, 2}}, {.n = 1}};
    daisy_edge_t e = {1, 2, ev};
    cr_assert_eq(daisy_graphdb_write_edges(db, &e, 1, NULL, false, &err), -1);
    cr_assert(strstr(err.msg, "edge (1, 2), attribute 'affinity' (float): 2 components, not 1"),
              "%s", err.msg);
    daisy_attr_filter_t f = {"normal", {.n = 1, .v.f = {0}}};
    cr_assert_null(daisy_graphdb_nodes(db, NULL, &f, 1, &err));
    cr_assert(strstr(err.msg, "a filter, attribute 'normal'"), "%s", err.msg);
    //  Missing values need no width.
    daisy_value_t none[5] = {{.null = true}, {.null = true}, {.null = true}, {.null = true},
                             {.null = true}};
    node.attrs = none;
    cr_assert_eq(daisy_graphdb_write_nodes(db, &node, 1, NULL, false, &err), 0, "%s", err.msg);
    daisy_graphdb_close(&db);
}

static void
reopening_reads_the_stored_schema_and_refuses_a_different_one(void)
{
    daisy_graphdb_t *db = create_lattice(true);
    daisy_graphdb_close(&db);
    daisy_error_t err;
    db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
    cr_assert_not_null(db, "%s", err.msg);
    const daisy_graph_schema_t *s = daisy_graphdb_schema(db);
    cr_assert_eq(s->dims, 3);
    cr_assert(s->directed);
    cr_assert_str_eq(s->position, "position");
    cr_assert_eq(s->n_node_attrs, 5);
    cr_assert_str_eq(s->node_attrs[4].name, "normal");
    cr_assert_eq(s->node_attrs[4].size, 3);
    cr_assert(s->has_total_roi);
    cr_assert_eq(s->total_roi.shape[2], 10);
    daisy_node_t n = lattice_node(0);
    cr_assert_eq(daisy_graphdb_write_nodes(db, &n, 1, NULL, false, &err), -1);
    cr_assert(strstr(err.msg, "read-only"), "%s", err.msg);
    daisy_graphdb_close(&db);
    daisy_graph_schema_t other = schema(false);
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, &other, &err));
    cr_assert(strstr(err.msg, "directed differ"), "%s", err.msg);
    char missing[600];
    if (pg)
        pg_url(missing, sizeof missing, "daisy_no_such_database");
    else
        snprintf(missing, sizeof missing, "sqlite:%s/none.db", dir);
    cr_assert_null(daisy_graphdb_open(missing, DAISY_GRAPHDB_READ_WRITE, NULL, &err));
    cr_assert(strstr(err.msg, pg ? "cannot connect" : "cannot open"), "%s", err.msg);
    //  The metadata is funlib's, key by key: beside the file, or in the
    //  database's metadata table.
    json_t *m = NULL;
    if (pg) {
        PGconn *c = PQconnectdb(path);
        PGresult *r = PQexec(c, "SELECT value FROM metadata");
        cr_assert_eq(PQntuples(r), 1, "%s", PQresultErrorMessage(r));
        m = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        PQclear(r);
        PQfinish(c);
    } else {
        char meta[300];
        snprintf(meta, sizeof meta, "%s/graph-meta.json", dir);
        m = json_load_file(meta, 0, NULL);
    }
    cr_assert_not_null(m);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "node_attrs"),
                                                       "position")), "Vec(float, 3)");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "node_attrs"),
                                                       "normal")), "Vec(float, 3)");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "edge_attrs"),
                                                       "merged")), "bool");
    cr_assert_eq(json_integer_value(json_object_get(m, "ndims")), 3);
    cr_assert(json_is_true(json_object_get(m, "directed")));
    json_decref(m);
}

static void
bad_schemas_are_refused_naming_the_fault(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    s.dims = 1;
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err));
    cr_assert(strstr(err.msg, "1 dimensions"), "%s", err.msg);
    s = schema(false);
    daisy_attr_t bad[] = {{"drop table", DAISY_ATTR_INT, 0}};
    s.node_attrs = bad;
    s.n_node_attrs = 1;
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err));
    cr_assert(strstr(err.msg, "'drop table'"), "%s", err.msg);
    daisy_attr_t strvec[] = {{"s", DAISY_ATTR_STR, 2}};
    s.node_attrs = strvec;
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err));
    cr_assert(strstr(err.msg, "'s'"), "%s", err.msg);
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, NULL, &err));
    cr_assert(strstr(err.msg, "needs a schema"), "%s", err.msg);
    cr_assert_null(daisy_graphdb_open("sqlite:", DAISY_GRAPHDB_OVERWRITE, &s, &err));
    cr_assert(strstr(err.msg, "no path"), "%s", err.msg);
    //  A server that is not there: named, its password not.
    cr_assert_null(daisy_graphdb_open("postgresql://u:secret@127.0.0.1:1/x", DAISY_GRAPHDB_READ,
                                      NULL, &err));
    cr_assert(strstr(err.msg, "postgresql://u@127.0.0.1:1/x: cannot connect: Connection refused"),
              "%s", err.msg);
    cr_assert_null(strstr(err.msg, "secret"), "%s", err.msg);
    cr_assert_null(daisy_graphdb_open("mongodb://h/x", DAISY_GRAPHDB_READ, NULL, &err));
    cr_assert(strstr(err.msg, "unknown scheme"), "%s", err.msg);
}

//  Many writers at once: each process writes the nodes and edges of its
//  own slab in small batches (many transactions), with a busy database.
static void
concurrent_writers_of_disjoint_rois_lose_nothing(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    daisy_graphdb_close(&db);
    enum { WRITERS = 6 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        cr_assert_geq(pids[w], 0);
        if (pids[w] > 0)
            continue;
        daisy_graphdb_t *mine = daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, NULL, &err);
        if (!mine)
            _exit(2);
        daisy_roi_t slab = roi(w, 0, 0, 1, 10, 10);
        for (int i = 0; i < NODES; i++) {
            daisy_node_t n = lattice_node(i);
            if (!inside(&slab, n.position))
                continue;
            daisy_edge_t e = {n.id, n.id + 1, NULL};
            if (daisy_graphdb_write_nodes(mine, &n, 1, &slab, true, &err) != 0
                || daisy_graphdb_write_edges(mine, &e, 1, &slab, true, &err) != 0) {
                fprintf(stderr, "writer %d: %s\n", w, err.msg);
                _exit(1);
            }
        }
        daisy_graphdb_close(&mine);
        _exit(0);
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        cr_assert_eq(waitpid(pids[w], &status, 0), pids[w]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", w);
    }
    db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
    cr_assert_not_null(db, "%s", err.msg);
    uint64_t count;
    daisy_graphdb_count_nodes(db, NULL, &count, &err);
    cr_assert_eq(count, WRITERS * N * N);
    daisy_roi_t slab2 = roi(2, 0, 0, 1, 10, 10);
    daisy_graph_iter_t *it = daisy_graphdb_edges(db, &slab2, false, NULL, 0, &err);
    daisy_edge_t e;
    int edges = 0;
    while (daisy_graph_iter_edge(it, &e, &err) == 1)
        edges++;
    daisy_graph_iter_destroy(&it);
    cr_assert_eq(edges, N * N);
    daisy_graphdb_close(&db);
}

//  The spatial index clamps what lies off its grid to the border: reads
//  there must still find exactly the nodes inside (no total ROI: unit
//  cells around 0, 2^21 of them a side).
static void
nodes_off_the_index_grid_are_still_found_exactly(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = {.dims = 3};
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    const double xs[] = {-3e6, -2e6, -1048577, -10.5, 0, 10.5, 1048577, 2e6, 3e6};
    enum { NX = sizeof xs / sizeof xs[0] };
    daisy_node_t nodes[NX * NX];
    for (int i = 0; i < NX * NX; i++) {
        nodes[i] = (daisy_node_t){.id = (uint64_t)i + 1};
        nodes[i].position[0] = xs[i % NX];
        nodes[i].position[1] = xs[i / NX];
        nodes[i].position[2] = xs[(i * 7) % NX];
    }
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, NX * NX, NULL, false, &err), 0, "%s",
                 err.msg);
    const daisy_roi_t rois[] = {roi(-4000000, -4000000, -4000000, 8000000, 8000000, 8000000),
                                roi(1000000, -4000000, -4000000, 3000000, 8000000, 8000000),
                                roi(-3000000, -3000000, -3000000, 1, 1, 1000000),
                                roi(-11, -11, -11, 22, 22, 22), roi(2000000, 0, 0, 1, 1, 1)};
    for (size_t r = 0; r < sizeof rois / sizeof rois[0]; r++) {
        uint64_t want = 0, count;
        for (int i = 0; i < NX * NX; i++)
            want += inside(&rois[r], nodes[i].position);
        cr_assert_eq(daisy_graphdb_count_nodes(db, &rois[r], &count, &err), 0, "%s", err.msg);
        cr_assert_eq(count, want, "ROI %zu: %llu, expected %llu", r, (unsigned long long)count,
                     (unsigned long long)want);
    }
    daisy_graphdb_close(&db);
}

//  A graph of positions only is read through the Morton table alone, its
//  nodes handed over in chunks: every node of the ROI once, with its
//  position as written, across more nodes than a chunk holds.
static void
positions_only_reads_return_each_node_of_the_roi_once(void)
{
    enum { MANY = 6000 };
    daisy_error_t err;
    daisy_graph_schema_t s = {.dims = 3};
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    static daisy_node_t nodes[MANY];
    uint64_t seed = 1;
    for (int i = 0; i < MANY; i++) {
        nodes[i] = (daisy_node_t){.id = (uint64_t)(i * 7919 % MANY) + 1};
        for (int d = 0; d < 3; d++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            //  Whole numbers too: on the ROI's faces.
            double x = (double)(seed >> 11) / (double)(1ull << 53) * 40.0 - 20.0;
            nodes[i].position[d] = i % 3 ? x : (double)(int)x;
        }
    }
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, MANY, NULL, false, &err), 0, "%s",
                 err.msg);
    const daisy_roi_t rois[] = {roi(-20, -20, -20, 40, 40, 40), roi(-5, -7, -3, 11, 13, 9),
                                roi(0, 0, 0, 1, 1, 1), roi(19, 19, 19, 5, 5, 5),
                                roi(-3, -20, -20, 6, 40, 40)};
    for (size_t r = 0; r < sizeof rois / sizeof rois[0]; r++) {
        static bool seen[MANY + 1];
        memset(seen, 0, sizeof seen);
        uint64_t want = 0, got = 0;
        for (int i = 0; i < MANY; i++)
            want += inside(&rois[r], nodes[i].position);
        daisy_graph_iter_t *it = daisy_graphdb_nodes(db, &rois[r], NULL, 0, &err);
        cr_assert_not_null(it, "%s", err.msg);
        daisy_node_t n;
        while (daisy_graph_iter_node(it, &n, &err) == 1) {
            cr_assert(n.id >= 1 && n.id <= MANY && !seen[n.id], "node %llu",
                      (unsigned long long)n.id);
            seen[n.id] = true;
            const daisy_node_t *w = NULL;
            for (int i = 0; i < MANY && !w; i++)
                w = nodes[i].id == n.id ? &nodes[i] : NULL;
            cr_assert(inside(&rois[r], w->position), "node %llu is outside ROI %zu",
                      (unsigned long long)n.id, r);
            for (int d = 0; d < 3; d++)
                cr_assert_eq(n.position[d], w->position[d]);
            got++;
        }
        cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 0, "the end stays the end");
        daisy_graph_iter_destroy(&it);
        cr_assert_eq(got, want, "ROI %zu: %llu nodes, expected %llu", r,
                     (unsigned long long)got, (unsigned long long)want);
    }
    daisy_graphdb_close(&db);
}

//  A bulk load: indexes rebuilt at the end; reads agree during and after;
//  a write after it is indexed again (the trigger is back).
static void
a_bulk_load_rebuilds_the_indexes(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    cr_assert_eq(daisy_graphdb_bulk_begin(db, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_graphdb_bulk_begin(db, &err), -1, "not twice");
    static daisy_node_t nodes[NODES];
    for (int i = 0; i < NODES; i++)
        nodes[i] = lattice_node(i);
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, NODES / 2, NULL, false, &err), 0);
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes + NODES / 2, NODES / 2, NULL, false, &err),
                 0);
    daisy_roi_t r = roi(2, 3, 4, 3, 3, 3);
    uint64_t want = 0, count;
    for (int i = 0; i < NODES; i++)
        want += inside(&r, nodes[i].position);
    cr_assert_eq(daisy_graphdb_count_nodes(db, &r, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, want, "during the load");
    cr_assert_eq(daisy_graphdb_bulk_end(db, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_graphdb_count_nodes(db, &r, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, want, "after it, through the rebuilt index");
    daisy_node_t late = lattice_node(0);
    late.id = NODES + 1;
    late.position[0] = 3.5;
    late.position[1] = 4.5;
    late.position[2] = 5.5;
    cr_assert_eq(daisy_graphdb_write_nodes(db, &late, 1, NULL, false, &err), 0, "%s", err.msg);
    cr_assert_eq(daisy_graphdb_count_nodes(db, &r, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, want + 1, "a later write is indexed");
    cr_assert_eq(daisy_graphdb_bulk_end(db, &err), -1);
    cr_assert_eq(daisy_graphdb_bulk_begin(db, &err), 0, "%s", err.msg);
    daisy_graphdb_close(&db);       //  ends the load
    db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
    cr_assert_not_null(db, "%s", err.msg);
    cr_assert_eq(daisy_graphdb_count_nodes(db, &r, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, want + 1);
    daisy_graphdb_close(&db);
}

//  What a stored graph holds, changed behind the database's back.
static void
damage(const char *sql_or_meta)
{
    if (pg) {
        PGconn *c = PQconnectdb(path);
        PGresult *r = PQexec(c, sql_or_meta);
        cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        return;
    }
    char meta[300];
    snprintf(meta, sizeof meta, "%s/graph-meta.json", dir);
    FILE *f = fopen(meta, "w");
    cr_assert_not_null(f);
    fputs(sql_or_meta, f);
    fclose(f);
}

static void
damaged_graphs_and_other_types_are_refused_naming_the_fault(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_graphdb_close(&db);
    daisy_error_t err;
    //  An attribute of another type than the stored one.
    daisy_graph_schema_t s = schema(false);
    daisy_attr_t attrs[5];
    memcpy(attrs, s.node_attrs, sizeof attrs);
    attrs[0].type = DAISY_ATTR_FLOAT;   //  "label" is stored as an int
    s.node_attrs = attrs;
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, &s, &err));
    cr_assert(strstr(err.msg, "node attribute 'label' is stored as int, asked for as float"),
              "%s", err.msg);
    cr_assert(strstr(err.msg, path), "names the database: %s", err.msg);
    //  Metadata that is not JSON: the database named, nothing opened.
    damage(pg ? "UPDATE metadata SET value = '{\"directed\": tru'" : "{\"directed\": tru");
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err));
    cr_assert(strstr(err.msg, pg ? "metadata" : "graph-meta.json"), "%s", err.msg);
    //  Metadata that is JSON but not funlib's.
    damage(pg ? "UPDATE metadata SET value = '{\"directed\": 3}'" : "{\"directed\": 3}");
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err));
    cr_assert(strstr(err.msg, "metadata") || strstr(err.msg, "graph-meta.json"), "%s", err.msg);
    if (pg)
        return;
    //  A file that is not a database.
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 4096; i++)
        fputc("garbage"[i % 7], f);
    fclose(f);
    cr_assert_null(daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err));
    cr_assert(strstr(err.msg, path), "%s", err.msg);
}

//  Each test on both back ends.
//  PostgreSQL: many processes opening one graph at once ---------------------------

//  The first value of a query on a database (the graph's: `path`), as
//  text ("" for no row).
static void
pg_value(const char *url, const char *sql, char *out, size_t size)
{
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    snprintf(out, size, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

static void
pg_expect(const char *sql, const char *want)
{
    char got[256];
    pg_value(path, sql, got, sizeof got);
    cr_assert_str_eq(got, want, "%s", sql);
}

//  `n` processes run child(i) at once (each waits at a gate until all are
//  forked) and exit with what it returns; every one must return 0.
static void
at_once(int n, int (*child)(int))
{
    int gate[2];
    cr_assert_eq(pipe(gate), 0);
    pid_t pids[16];
    cr_assert_leq(n, 16);
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            close(gate[1]);
            char c;
            if (read(gate[0], &c, 1) < 0)   //  0 (EOF) when the parent closes it
                _exit(3);
            _exit(child(i));
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (int i = 0; i < n; i++) {
        int status;
        cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed (status %d)",
                  i, status);
    }
}

static bool
the_lattice_schema(const daisy_graph_schema_t *s)
{
    return s->dims == 3 && !s->directed && s->n_node_attrs == 5 && s->n_edge_attrs == 2
        && strcmp(s->node_attrs[4].name, "normal") == 0 && s->node_attrs[4].size == 3;
}

//  Odd processes create the graph (and its database), even ones open it
//  to read as soon as it is there: no open fails but for the graph not
//  being there yet, none sees it half made.
static int
create_or_read(int i)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    if (i % 2) {
        daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
        if (!db) {
            fprintf(stderr, "creator %d: %s\n", i, err.msg);
            return 1;
        }
        daisy_graphdb_close(&db);
        return 0;
    }
    for (int tries = 0; tries < 2000; tries++) {
        daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ, NULL, &err);
        if (db) {
            bool right = the_lattice_schema(daisy_graphdb_schema(db));
            daisy_graphdb_close(&db);
            return right ? 0 : 4;
        }
        if (!strstr(err.msg, "no graph here") && !strstr(err.msg, "does not exist")) {
            fprintf(stderr, "reader %d: %s\n", i, err.msg);
            return 1;
        }
        usleep(5000);
    }
    fprintf(stderr, "reader %d: the graph never appeared\n", i);
    return 5;
}

static void
many_processes_creating_one_graph_at_once_all_succeed(void)
{
    char db_name[96], sql[128];
    for (int r = 0; r < PG_ROUNDS; r++) {
        snprintf(db_name, sizeof db_name, "%s_r%d", pg_db, r);
        pg_url(path, sizeof path, db_name);
        at_once(8, create_or_read);
        pg_expect("SELECT count(*) FROM metadata", "1");
        pg_expect("SELECT count(*) FROM daisy_zindex", "1");
        daisy_error_t err;
        daisy_graph_schema_t s = schema(false);
        daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, &s, &err);
        cr_assert_not_null(db, "round %d: %s", r, err.msg);
        daisy_node_t n = lattice_node(5);
        cr_assert_eq(daisy_graphdb_write_nodes(db, &n, 1, NULL, true, &err), 0, "%s", err.msg);
        daisy_graphdb_close(&db);
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", db_name);
        pg_admin_exec(sql);
    }
}

//  Every process opens a graph funlib made (no spatial key) or wrote to
//  (rows without a key) for writing, which adds the key or fills it in:
//  one does, the others find it done; then reads.
static int
open_for_writing(int i)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_READ_WRITE, &s, &err);
    uint64_t count = 0;
    daisy_roi_t r = roi(2, 3, 4, 3, 3, 3);
    if (!db || daisy_graphdb_count_nodes(db, &r, &count, &err) != 0) {
        fprintf(stderr, "process %d: %s\n", i, err.msg);
        daisy_graphdb_close(&db);
        return 1;
    }
    daisy_graphdb_close(&db);
    return count == 27 ? 0 : 4;
}

static void
many_processes_completing_a_funlib_graph_at_once_all_succeed(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_graphdb_close(&db);
    for (int r = 0; r < PG_ROUNDS; r++) {
        damage(r % 2 ? "UPDATE nodes SET daisy_zkey = NULL WHERE id % 3 = 0"
                     : "ALTER TABLE nodes DROP COLUMN daisy_zkey; DROP TABLE daisy_zindex");
        at_once(8, open_for_writing);
        pg_expect("SELECT count(*) FROM nodes WHERE daisy_zkey IS NULL", "0");
        pg_expect("SELECT count(*) FROM daisy_zindex", "1");
        pg_expect("SELECT count(*) FROM pg_indexes WHERE indexname = 'nodes_daisy_zkey'", "1");
        pg_expect("SELECT count(*) FROM metadata", "1");
    }
}

//  PostgreSQL: a session the server ends ---------------------------------------------

//  Ends the other sessions on the graph's database, as a server restart
//  would, and waits until they are gone; how many.
static int
terminate_sessions(void)
{
    char sql[256], n[32];
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid, 5000)) FROM "
             "pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()", pg_db);
    pg_value(pg_admin, sql, n, sizeof n);
    return atoi(n);
}

static void
a_handle_whose_session_ends_connects_again(void)
{
    daisy_graphdb_t *db = create_lattice(false);
    daisy_error_t err;
    uint64_t count;
    cr_assert_eq(terminate_sessions(), 1);
    err = (daisy_error_t){0};
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, NODES);
    cr_assert_str_eq(err.msg, "", "nor a read");
    //  Writes, updates, reads: each after its session ended.
    enum { MORE = 3000 };
    static daisy_node_t more[MORE];
    for (int i = 0; i < MORE; i++) {
        more[i] = lattice_node(i % NODES);
        more[i].id = NODES + 1 + (uint64_t)i;
    }
    cr_assert_eq(terminate_sessions(), 1);
    err = (daisy_error_t){0};
    cr_assert_eq(daisy_graphdb_write_nodes(db, more, MORE, NULL, true, &err), 0, "%s", err.msg);
    cr_assert_str_eq(err.msg, "", "a write that succeeds leaves no error behind");
    daisy_edge_t e = {1, NODES + 1, NULL};
    cr_assert_eq(terminate_sessions(), 1);
    cr_assert_eq(daisy_graphdb_write_edges(db, &e, 1, NULL, false, &err), 0, "%s", err.msg);
    daisy_node_t changed = lattice_node(0);
    daisy_value_t v[5];
    memcpy(v, changed.attrs, sizeof v);
    v[0].v.i[0] = -77;
    changed.attrs = v;
    cr_assert_eq(terminate_sessions(), 1);
    cr_assert_eq(daisy_graphdb_update_nodes(db, &changed, 1, (const char *[]){"label"}, 1, &err),
                 0, "%s", err.msg);
    daisy_attr_filter_t f = {"label", {.n = 1, .v.i = {-77}}};
    cr_assert_eq(terminate_sessions(), 1);
    daisy_graph_iter_t *it = daisy_graphdb_nodes(db, NULL, &f, 1, &err);
    cr_assert_not_null(it, "%s", err.msg);
    daisy_node_t n;
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 1, "%s", err.msg);
    cr_assert_eq(n.id, 1);
    daisy_graph_iter_destroy(&it);
    //  A read whose session ends between its pages fails, saying so; the
    //  handle goes on.
    it = daisy_graphdb_nodes(db, NULL, NULL, 0, &err);
    cr_assert_not_null(it, "%s", err.msg);
    cr_assert_eq(daisy_graph_iter_node(it, &n, &err), 1, "%s", err.msg);
    cr_assert_eq(terminate_sessions(), 1);
    int rc;
    while ((rc = daisy_graph_iter_node(it, &n, &err)) == 1)
        ;
    cr_assert_eq(rc, -1, "%d nodes, a page more than were written?", NODES + MORE);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "was lost") && strstr(err.msg, "read again"),
              "%s", err.msg);
    daisy_graph_iter_destroy(&it);
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, NODES + MORE);
    cr_assert_eq(daisy_graphdb_write_nodes(db, more, 1, NULL, true, &err), -1);
    cr_assert(strstr(err.msg, "exists"), "a write refused for its own reason: %s", err.msg);
    //  A server that refuses to connect: the call fails at once, naming the
    //  database and why; the handle comes back when the server does.
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS false", pg_db);
    pg_admin_exec(sql);
    cr_assert_eq(terminate_sessions(), 1);
    time_t t0 = time(NULL);
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), -1);
    cr_assert_leq(time(NULL) - t0, 3, "no waiting");
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "counting nodes")
              && strstr(err.msg, "connecting again failed") && strstr(err.msg, "not currently "
              "accepting connections"), "%s", err.msg);
    cr_assert_eq(daisy_graphdb_write_nodes(db, more, 1, NULL, false, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "writing nodes"), "%s", err.msg);
    snprintf(sql, sizeof sql, "ALTER DATABASE %s WITH ALLOW_CONNECTIONS true", pg_db);
    pg_admin_exec(sql);
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, NODES + MORE);
    daisy_graphdb_close(&db);
}

//  A process that ends the session of the graph's database that is
//  copying rows in, once (a write cut off mid-way); exits 0 when it did.
static pid_t
cut_off_a_copy(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0)
        return pid;
    PGconn *c = PQconnectdb(pg_admin);
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid, 5000)) FROM "
             "pg_stat_activity WHERE datname = '%s' AND state = 'active' AND query LIKE "
             "'COPY %%'", pg_db);
    for (int i = 0; i < 40000; i++) {
        PGresult *r = PQexec(c, sql);
        bool done = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) > 0;
        PQclear(r);
        if (done) {
            PQfinish(c);
            _exit(0);
        }
        usleep(250);
    }
    _exit(1);
}

static void
cut_off_did_it(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "no COPY was cut off");
}

//  The lattice's graph, empty.
static daisy_graphdb_t *
create_empty(void)
{
    daisy_error_t err;
    daisy_graph_schema_t s = schema(false);
    daisy_graphdb_t *db = daisy_graphdb_open(path, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    cr_assert_not_null(db, "%s", err.msg);
    return db;
}

//  Nodes without attributes, ids from `first`, inside the lattice's ROI.
enum { BIG = 200000 };

static daisy_node_t *
big_batch(uint64_t first)
{
    daisy_node_t *nodes = calloc(BIG, sizeof *nodes);
    cr_assert_not_null(nodes);
    for (int i = 0; i < BIG; i++) {
        nodes[i].id = first + (uint64_t)i;
        for (int d = 0; d < 3; d++)
            nodes[i].position[d] = (i >> (3 * d)) % 8 + 0.25 + d * 0.5;
    }
    return nodes;
}

static void
a_write_cut_off_mid_way_is_written_again_whole(void)
{
    daisy_error_t err;
    daisy_graphdb_t *db = create_empty();
    daisy_node_t *nodes = big_batch(1);
    for (int fail_if_exists = 0; fail_if_exists < 2; fail_if_exists++) {
        pid_t killer = cut_off_a_copy();
        cr_assert_eq(daisy_graphdb_write_nodes(db, nodes + fail_if_exists * BIG / 2, BIG / 2,
                                               NULL, fail_if_exists, &err), 0, "%s", err.msg);
        cut_off_did_it(killer);
    }
    uint64_t count;
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, BIG);
    free(nodes);
    daisy_graphdb_close(&db);
}

static void
a_bulk_load_cut_off_fails_saying_so_and_keeps_none_of_the_batch(void)
{
    daisy_error_t err;
    daisy_graphdb_t *db = create_empty();
    cr_assert_eq(daisy_graphdb_bulk_begin(db, &err), 0, "%s", err.msg);
    static daisy_node_t first[NODES];
    for (int i = 0; i < NODES; i++)
        first[i] = lattice_node(i);
    cr_assert_eq(daisy_graphdb_write_nodes(db, first, NODES, NULL, false, &err), 0, "%s",
                 err.msg);
    daisy_node_t *nodes = big_batch(NODES + 1);
    pid_t killer = cut_off_a_copy();
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, BIG, NULL, false, &err), -1);
    cut_off_did_it(killer);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "writing nodes")
              && strstr(err.msg, "was lost") && strstr(err.msg, "bulk load")
              && strstr(err.msg, "load again"), "%s", err.msg);
    //  The load does not go on; its end builds the indexes again.
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, 1, NULL, false, &err), -1);
    cr_assert(strstr(err.msg, "bulk load"), "%s", err.msg);
    cr_assert_eq(daisy_graphdb_bulk_end(db, &err), 0, "%s", err.msg);
    pg_expect("SELECT count(*) FROM pg_indexes WHERE indexname = 'nodes_daisy_zkey'", "1");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM nodes WHERE id > %d", NODES);
    pg_expect(sql, "0");
    pg_expect("SELECT count(*) FROM nodes", "1000");
    //  After it, the handle writes as before.
    cr_assert_eq(daisy_graphdb_write_nodes(db, nodes, 10, NULL, false, &err), 0, "%s", err.msg);
    uint64_t count;
    cr_assert_eq(daisy_graphdb_count_nodes(db, NULL, &count, &err), 0, "%s", err.msg);
    cr_assert_eq(count, NODES + 10);
    free(nodes);
    daisy_graphdb_close(&db);
}

Test(graphdb, nodes_of_a_roi_are_those_with_begin_le_p_lt_end) { nodes_of_a_roi_are_those_with_begin_le_p_lt_end(); }
Test(graphdb_pg, nodes_of_a_roi_are_those_with_begin_le_p_lt_end) { nodes_of_a_roi_are_those_with_begin_le_p_lt_end(); }
Test(graphdb, edges_belong_to_the_roi_of_their_u_node) { edges_belong_to_the_roi_of_their_u_node(); }
Test(graphdb_pg, edges_belong_to_the_roi_of_their_u_node) { edges_belong_to_the_roi_of_their_u_node(); }
Test(graphdb, writes_never_overwrite_and_fail_if_exists_changes_nothing) { writes_never_overwrite_and_fail_if_exists_changes_nothing(); }
Test(graphdb_pg, writes_never_overwrite_and_fail_if_exists_changes_nothing) { writes_never_overwrite_and_fail_if_exists_changes_nothing(); }
Test(graphdb, a_write_roi_keeps_only_what_lies_inside) { a_write_roi_keeps_only_what_lies_inside(); }
Test(graphdb_pg, a_write_roi_keeps_only_what_lies_inside) { a_write_roi_keeps_only_what_lies_inside(); }
Test(graphdb, filters_and_updates) { filters_and_updates(); }
Test(graphdb_pg, filters_and_updates) { filters_and_updates(); }
Test(graphdb, values_of_the_wrong_width_are_refused) { values_of_the_wrong_width_are_refused(); }
Test(graphdb_pg, values_of_the_wrong_width_are_refused) { values_of_the_wrong_width_are_refused(); }
Test(graphdb, reopening_reads_the_stored_schema_and_refuses_a_different_one) { reopening_reads_the_stored_schema_and_refuses_a_different_one(); }
Test(graphdb_pg, reopening_reads_the_stored_schema_and_refuses_a_different_one) { reopening_reads_the_stored_schema_and_refuses_a_different_one(); }
Test(graphdb, bad_schemas_are_refused_naming_the_fault) { bad_schemas_are_refused_naming_the_fault(); }
Test(graphdb_pg, bad_schemas_are_refused_naming_the_fault) { bad_schemas_are_refused_naming_the_fault(); }
Test(graphdb, concurrent_writers_of_disjoint_rois_lose_nothing) { concurrent_writers_of_disjoint_rois_lose_nothing(); }
Test(graphdb_pg, concurrent_writers_of_disjoint_rois_lose_nothing) { concurrent_writers_of_disjoint_rois_lose_nothing(); }
Test(graphdb, nodes_off_the_index_grid_are_still_found_exactly) { nodes_off_the_index_grid_are_still_found_exactly(); }
Test(graphdb_pg, nodes_off_the_index_grid_are_still_found_exactly) { nodes_off_the_index_grid_are_still_found_exactly(); }
Test(graphdb, positions_only_reads_return_each_node_of_the_roi_once) { positions_only_reads_return_each_node_of_the_roi_once(); }
Test(graphdb_pg, positions_only_reads_return_each_node_of_the_roi_once) { positions_only_reads_return_each_node_of_the_roi_once(); }
Test(graphdb, a_bulk_load_rebuilds_the_indexes) { a_bulk_load_rebuilds_the_indexes(); }
Test(graphdb_pg, a_bulk_load_rebuilds_the_indexes) { a_bulk_load_rebuilds_the_indexes(); }
Test(graphdb, damaged_graphs_and_other_types_are_refused_naming_the_fault) { damaged_graphs_and_other_types_are_refused_naming_the_fault(); }
Test(graphdb_pg, damaged_graphs_and_other_types_are_refused_naming_the_fault) { damaged_graphs_and_other_types_are_refused_naming_the_fault(); }
Test(graphdb_pg, many_processes_creating_one_graph_at_once_all_succeed) { many_processes_creating_one_graph_at_once_all_succeed(); }
Test(graphdb_pg, many_processes_completing_a_funlib_graph_at_once_all_succeed) { many_processes_completing_a_funlib_graph_at_once_all_succeed(); }
Test(graphdb_pg, a_handle_whose_session_ends_connects_again) { a_handle_whose_session_ends_connects_again(); }
Test(graphdb_pg, a_write_cut_off_mid_way_is_written_again_whole) { a_write_cut_off_mid_way_is_written_again_whole(); }
Test(graphdb_pg, a_bulk_load_cut_off_fails_saying_so_and_keeps_none_of_the_batch) { a_bulk_load_cut_off_fails_saying_so_and_keeps_none_of_the_batch(); }
