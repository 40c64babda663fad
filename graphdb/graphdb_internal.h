/*  graphdb_internal.h - what the graph database's files share

    graphdb.c is the public API: it opens a back end by the spec's scheme,
    holds the schema, and checks every call (mode, ROI dimensions,
    attribute names) before a back end sees it, so the back ends only
    store and query. schema.c owns the schema (copies of the caller's
    strings, defaults, checks) and its funlib.persistence metadata (JSON).
    sqlite.c and postgresql.c are the back ends, each with funlib's tables
    for its database: on SQLite a vector attribute is one column per
    component, NAME_0 .. NAME_{n-1}; on PostgreSQL one array column.
*/
#ifndef DAISY_GRAPHDB_INTERNAL_H
#define DAISY_GRAPHDB_INTERNAL_H

#include <jansson.h>

#include "daisy/graphdb.h"

//  A schema with every string owned here.
typedef struct {
    daisy_graph_schema_t pub;
    daisy_attr_t node_attrs[DAISY_GRAPH_MAX_ATTRS];
    daisy_attr_t edge_attrs[DAISY_GRAPH_MAX_ATTRS];
    char *strings[2 * DAISY_GRAPH_MAX_ATTRS + 8];
    size_t nstrings;
} schema_t;

//  A copy of `in` with defaults filled in and every name checked (names
//  are SQL identifiers: letters, digits, _). -1 with a message.
int schema_copy(schema_t *out, const daisy_graph_schema_t *in, daisy_error_t *err);
void schema_free(schema_t *s);
//  funlib's metadata object, and back (the latter checks it whole).
json_t *schema_to_json(const schema_t *s);
int schema_from_json(schema_t *out, const json_t *meta, daisy_error_t *err);
//  0 when `given` describes the same graph as `stored`, else -1 naming the
//  first difference.
int schema_agree(const schema_t *stored, const daisy_graph_schema_t *given, daisy_error_t *err);
//  A type as funlib writes it: "int", "Vec(float, 3)".
void schema_type_text(daisy_attr_type_t type, uint32_t size, char *text, size_t len);
//  The index of a node or edge attribute by name, or -1.
int schema_find(const daisy_attr_t *attrs, size_t n, const char *name);
//  Columns of an attribute: its name, or NAME_i for each component.
void schema_columns(const daisy_attr_t *a, char *buf, size_t size, const char *prefix);

//  zindex.c: the spatial key (see there).
typedef struct {
    uint32_t dims;
    uint32_t bits;                      //  per dimension
    double origin[DAISY_MAX_DIMS];
    double cell;
} zgrid_t;

#define ZGRID_MAX_RANGES 64

void zgrid_default(zgrid_t *g, const daisy_graph_schema_t *s);
uint64_t zgrid_key(const zgrid_t *g, const double *position);
//  The key in SQL, in two steps so that each cell is computed once:
//  "... AS c0, ... AS c1" from the columns PREFIX"POSITION_d", then the
//  key as an expression of c0, c1, ...
void zgrid_sql_cells(const zgrid_t *g, const char *prefix, const char *position, char *buf,
                     size_t size);
void zgrid_sql_interleave(const zgrid_t *g, char *buf, size_t size);
//  A range of keys [lo, hi]; `inside`: every node there lies in the ROI
//  (no need to test its position).
typedef struct {
    uint64_t lo, hi;
    bool inside;
} zrange_t;

//  Key ranges (sorted, adjacent ones of a kind merged, at most `max`)
//  holding every node of the ROI, and some around it.
size_t zgrid_ranges(const zgrid_t *g, const daisy_roi_t *roi, zrange_t *out, size_t max);

//  Back ends -------------------------------------------------------------------

typedef struct graphdb_backend graphdb_backend_t;

//  What every back end's database starts with (it allocates a larger
//  struct whose first member this is).
struct _daisy_graphdb_t {
    const graphdb_backend_t *backend;
    schema_t schema;
    daisy_graphdb_mode_t mode;
    bool bulk;                  //  between bulk_begin and bulk_end
    char *name;                 //  for messages: the path, or the URL without a password
};

//  Likewise for iterators. `values` backs the attributes of what `next`
//  returns.
struct _daisy_graph_iter_t {
    daisy_graphdb_t *db;
    bool edges;
    daisy_value_t values[DAISY_GRAPH_MAX_ATTRS];
};

//  A read's attribute filters, resolved: idx[j] is the index of filter j's
//  attribute in the schema.
typedef struct {
    const daisy_attr_filter_t *f;
    size_t n;
    int idx[DAISY_GRAPH_MAX_ATTRS];
} graphdb_filters_t;

//  Each returns 0 (or an object) on success, -1 (NULL) with `err` set,
//  naming the database. Arguments have been checked by graphdb.c: the
//  mode allows the call, a ROI has the graph's dimensions, names exist.
struct graphdb_backend {
    const char *scheme;
    //  Connect; the graph itself is not touched yet.
    daisy_graphdb_t *(*open)(const char *location, daisy_graphdb_mode_t mode,
                             daisy_error_t *err);
    void (*close)(daisy_graphdb_t *db);
    //  The stored metadata (a new reference), or NULL: no graph here.
    json_t *(*load_meta)(daisy_graphdb_t *db, daisy_error_t *err);
    //  OVERWRITE: drop what is there, create tables, indexes and metadata
    //  for db->schema.
    int (*create)(daisy_graphdb_t *db, daisy_error_t *err);
    //  An existing graph, schema loaded: find (READ) or complete
    //  (READ_WRITE) the spatial index.
    int (*attach)(daisy_graphdb_t *db, daisy_error_t *err);
    int (*write_nodes)(daisy_graphdb_t *db, const daisy_node_t *nodes, size_t n,
                       const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err);
    int (*write_edges)(daisy_graphdb_t *db, const daisy_edge_t *edges, size_t n,
                       const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err);
    //  Set attributes idx[0..k) of existing rows (nodes or edges).
    int (*update)(daisy_graphdb_t *db, bool edges, const void *rows, size_t n, const int *idx,
                  size_t k, daisy_error_t *err);
    int (*bulk_begin)(daisy_graphdb_t *db, daisy_error_t *err);
    int (*bulk_end)(daisy_graphdb_t *db, daisy_error_t *err);
    daisy_graph_iter_t *(*nodes)(daisy_graphdb_t *db, const daisy_roi_t *roi,
                                 const graphdb_filters_t *f, daisy_error_t *err);
    daisy_graph_iter_t *(*edges)(daisy_graphdb_t *db, const daisy_roi_t *roi, bool fetch_on_v,
                                 const graphdb_filters_t *f, daisy_error_t *err);
    //  The next row into `node` or `edge` (the iterator's kind), its
    //  attributes into it->values: 1, 0 at the end, -1.
    int (*next)(daisy_graph_iter_t *it, daisy_node_t *node, daisy_edge_t *edge,
                daisy_error_t *err);
    void (*iter_destroy)(daisy_graph_iter_t *it);
    int (*count_nodes)(daisy_graphdb_t *db, const daisy_roi_t *roi, uint64_t *count,
                       daisy_error_t *err);
};

extern const graphdb_backend_t graphdb_sqlite;
extern const graphdb_backend_t graphdb_postgresql;

//  Shared by the back ends (graphdb.c) -------------------------------------------

//  funlib's write filter: the position truncated to integers, then
//  begin <= p < end (always true without a ROI).
bool graphdb_write_inside(const daisy_roi_t *roi, const double *p, uint32_t dims);
//  An edge's endpoints as stored: u < v for an undirected graph.
void graphdb_endpoints(const daisy_graph_schema_t *s, const daisy_edge_t *e, uint64_t *u,
                       uint64_t *v);
//  Components of an attribute (1 for a scalar).
uint32_t graphdb_width(const daisy_attr_t *a);

#endif
