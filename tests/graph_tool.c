/*  graph_tool.c - writes and dumps graphs through daisy/graphdb.h, for the
    tests that hold them against funlib.persistence (graphdb_funlib.sh)

      graph_tool write SPEC      a 5x5x5 lattice: nodes with every attribute
                                 type, undirected edges along x, given from
                                 the higher id to the lower
      graph_tool index SPEC      open it for writing (which builds the
                                 spatial index of a graph funlib created)
      graph_tool dump SPEC [X Y Z SX SY SZ]
                                 the nodes, then the edges, of a ROI (or of
                                 all) as JSON lines, in the database's order
*/
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daisy/graphdb.h"

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

enum { N = 5, NODES = N * N * N };

static int
write_lattice(const char *spec)
{
    daisy_error_t err;
    daisy_graph_schema_t s = {.dims = 3, .node_attrs = node_attrs, .n_node_attrs = 5,
                              .edge_attrs = edge_attrs, .n_edge_attrs = 2};
    daisy_graphdb_t *db = daisy_graphdb_open(spec, DAISY_GRAPHDB_OVERWRITE, &s, &err);
    if (!db) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    static daisy_node_t nodes[NODES];
    static daisy_value_t nv[NODES][5];
    static char names[NODES][16];
    static daisy_edge_t edges[NODES];
    static daisy_value_t ev[NODES][2];
    size_t ne = 0;
    for (int i = 0; i < NODES; i++) {
        nodes[i] = (daisy_node_t){.id = (uint64_t)i + 1, .attrs = nv[i]};
        nodes[i].position[0] = i / (N * N) + 0.5;
        nodes[i].position[1] = i / N % N + 0.25;
        nodes[i].position[2] = i % N;
        snprintf(names[i], sizeof names[i], "n%d", i);
        nv[i][0] = (daisy_value_t){.n = 1, .v.i = {i * 7}};
        nv[i][1] = (daisy_value_t){.n = 1, .v.f = {i / 4.0}};
        nv[i][2] = (daisy_value_t){.n = 1, .v.b = {i % 3 == 0}};
        nv[i][3] = (daisy_value_t){.n = 1, .v.s = names[i], .null = i % 10 == 9};
        nv[i][4] = (daisy_value_t){.n = 3, .v.f = {i, -i, 0.25}};
        if (i / (N * N) + 1 < N) {
            ev[ne][0] = (daisy_value_t){.n = 1, .v.f = {i / 100.0}};
            ev[ne][1] = (daisy_value_t){.n = 1, .v.b = {i % 2 == 0}};
            edges[ne] = (daisy_edge_t){(uint64_t)i + 1 + N * N, (uint64_t)i + 1, ev[ne]};
            ne++;
        }
    }
    int rc = daisy_graphdb_write_nodes(db, nodes, NODES, NULL, false, &err) == 0
          && daisy_graphdb_write_edges(db, edges, ne, NULL, false, &err) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    daisy_graphdb_close(&db);
    return rc;
}

static json_t *
value_json(const daisy_attr_t *a, const daisy_value_t *v)
{
    if (v->null)
        return json_null();
    json_t *parts = json_array();
    for (uint32_t c = 0; c < (a->size ? a->size : 1); c++)
        json_array_append_new(parts, a->type == DAISY_ATTR_STR ? json_string(v->v.s)
                                   : a->type == DAISY_ATTR_FLOAT ? json_real(v->v.f[c])
                                   : a->type == DAISY_ATTR_BOOL ? json_boolean(v->v.b[c])
                                   : json_integer(v->v.i[c]));
    if (a->size)
        return parts;
    json_t *one = json_incref(json_array_get(parts, 0));
    json_decref(parts);
    return one;
}

static void
print_line(json_t *o)
{
    char *text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    puts(text);
    free(text);
    json_decref(o);
}

static int
dump(const char *spec, const daisy_roi_t *roi)
{
    daisy_error_t err;
    daisy_graphdb_t *db = daisy_graphdb_open(spec, DAISY_GRAPHDB_READ, NULL, &err);
    if (!db) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const daisy_graph_schema_t *s = daisy_graphdb_schema(db);
    daisy_graph_iter_t *it = daisy_graphdb_nodes(db, roi, NULL, 0, &err);
    daisy_node_t n;
    int rc = 0;
    while (it && (rc = daisy_graph_iter_node(it, &n, &err)) == 1) {
        json_t *o = json_pack("{s:I}", "id", (json_int_t)n.id), *p = json_array();
        for (uint32_t d = 0; d < s->dims; d++)
            json_array_append_new(p, json_real(n.position[d]));
        json_object_set_new(o, s->position, p);
        for (size_t i = 0; i < s->n_node_attrs; i++)
            json_object_set_new(o, s->node_attrs[i].name,
                                value_json(&s->node_attrs[i], &n.attrs[i]));
        print_line(o);
    }
    daisy_graph_iter_destroy(&it);
    it = rc == 0 ? daisy_graphdb_edges(db, roi, false, NULL, 0, &err) : NULL;
    daisy_edge_t e;
    while (it && (rc = daisy_graph_iter_edge(it, &e, &err)) == 1) {
        json_t *o = json_pack("{s:I, s:I}", "u", (json_int_t)e.u, "v", (json_int_t)e.v);
        for (size_t i = 0; i < s->n_edge_attrs; i++)
            json_object_set_new(o, s->edge_attrs[i].name,
                                value_json(&s->edge_attrs[i], &e.attrs[i]));
        print_line(o);
    }
    daisy_graph_iter_destroy(&it);
    if (rc != 0)
        fprintf(stderr, "%s\n", err.msg);
    daisy_graphdb_close(&db);
    return rc != 0;
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return write_lattice(argv[2]);
    if (argc == 3 && strcmp(argv[1], "index") == 0) {
        daisy_error_t err;
        daisy_graphdb_t *db = daisy_graphdb_open(argv[2], DAISY_GRAPHDB_READ_WRITE, NULL, &err);
        if (!db)
            fprintf(stderr, "%s\n", err.msg);
        daisy_graphdb_close(&db);
        return db ? 1 : 0;
    }
    if ((argc == 3 || argc == 9) && strcmp(argv[1], "dump") == 0) {
        daisy_roi_t roi = {.dims = 3};
        for (int d = 0; argc == 9 && d < 3; d++) {
            roi.offset[d] = atoll(argv[3 + d]);
            roi.shape[d] = atoll(argv[6 + d]);
        }
        return dump(argv[2], argc == 9 ? &roi : NULL);
    }
    fprintf(stderr, "usage: graph_tool write SPEC | index SPEC | dump SPEC [X Y Z SX SY SZ]\n");
    return 2;
}
