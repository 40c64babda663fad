/*  daisy/graphdb.h - a geometric graph in a database, read and written by ROI

    Nodes are points in space with typed attributes; edges join two nodes
    and carry attributes of their own. Blockwise tasks write the nodes and
    edges of their write ROI, later tasks read those of their read ROI: a
    node is inside a ROI when begin <= position < end in every dimension,
    an edge belongs to the ROI of its `u` node (optionally also of its `v`).

    This is not the block graph of daisy/graph.h. The tables are those of
    funlib.persistence's graph databases (the maintained successor of
    daisy 1.0's graph providers), so a graph written here opens there and
    the other way round:

      nodes(id INTEGER PRIMARY KEY, position_0 .. position_{n-1}, attrs...)
      edges(u, v, attrs..., PRIMARY KEY (u, v))
      metadata: GRAPH-meta.json beside a SQLite file

    with a vector attribute as one column per component (`name_0`,
    `name_1`, ...). Beyond funlib: a spatial index (the nodes' positions
    keyed by the Morton code of their grid cell, in a table clustered by
    that key) kept by triggers in plain SQL, so writers that do not know
    it (funlib) keep it current, serves the ROI queries as a few key
    ranges; every value is a bound parameter; writes of a batch are one
    transaction that waits out other writers' locks (WAL, busy timeout,
    retried), so many workers may write disjoint ROIs at once.

    Undirected graphs store each edge once, as u < v. Writing never
    overwrites: a node or edge that exists is left as it is, or, with
    fail_if_exists, the write fails and changes nothing.

    Opened by spec: "sqlite:PATH" (or a bare PATH). Values travel in
    daisy_value_t, one per attribute in the schema's order.
*/
#ifndef DAISY_GRAPHDB_H
#define DAISY_GRAPHDB_H

//  A storage-layer header: for programs and the graphdb layer only (layers: meson.build).
#if defined(DAISY_LAYER_CORE) \
    || defined(DAISY_LAYER_ZARR) \
    || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER) \
    || defined(DAISY_LAYER_WORKER) \
    || defined(DAISY_LAYER_RUNTIME)
#error "daisy/graphdb.h belongs to another layer (see the layers in meson.build)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daisy/error.h"
#include "daisy/export.h"
#include "daisy/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Components of a vector attribute, at most.
#define DAISY_GRAPH_MAX_VEC 16
//  Attributes of nodes, or of edges, at most.
#define DAISY_GRAPH_MAX_ATTRS 64

typedef enum {
    DAISY_GRAPHDB_READ,         //  "r": the graph must exist
    DAISY_GRAPHDB_READ_WRITE,   //  "r+": the graph must exist
    DAISY_GRAPHDB_OVERWRITE     //  "w": whatever was there is dropped, the graph created
} daisy_graphdb_mode_t;

typedef enum {
    DAISY_ATTR_FLOAT,           //  double (0: the default)
    DAISY_ATTR_INT,             //  int64
    DAISY_ATTR_BOOL,
    DAISY_ATTR_STR
} daisy_attr_type_t;

//  An attribute: a scalar (size 0) or a vector of `size` components
//  (funlib's Vec(type, size)); strings are scalars only.
typedef struct {
    const char *name;
    daisy_attr_type_t type;
    uint32_t size;
} daisy_attr_t;

//  What a graph holds. Opening an existing graph reads its schema from
//  the database; a schema given then must agree with it.
typedef struct {
    uint32_t dims;                  //  of the position, 2..DAISY_MAX_DIMS
    const char *position;           //  its attribute name (default "position")
    daisy_attr_type_t position_type;//  FLOAT (default) or INT
    bool directed;
    const daisy_attr_t *node_attrs; //  besides the position
    size_t n_node_attrs;
    const daisy_attr_t *edge_attrs;
    size_t n_edge_attrs;
    const char *nodes_table;        //  default "nodes"
    const char *edges_table;        //  default "edges"
    const char *endpoints[2];       //  default "u", "v"
    bool has_total_roi;             //  metadata only (funlib: total_roi)
    daisy_roi_t total_roi;
} daisy_graph_schema_t;

//  One attribute's value: `n` components for a vector, 1 for a scalar,
//  `null` for a missing value (SQL NULL).
typedef struct {
    bool null;
    uint32_t n;
    union {
        int64_t i[DAISY_GRAPH_MAX_VEC];
        double f[DAISY_GRAPH_MAX_VEC];
        bool b[DAISY_GRAPH_MAX_VEC];
        const char *s;
    } v;
} daisy_value_t;

typedef struct {
    uint64_t id;
    double position[DAISY_MAX_DIMS];
    daisy_value_t *attrs;           //  n_node_attrs of them, schema order (may be
                                    //  NULL when writing: all missing)
} daisy_node_t;

typedef struct {
    uint64_t u, v;
    daisy_value_t *attrs;           //  n_edge_attrs of them, or NULL
} daisy_edge_t;

//  Reads keep rows whose attribute `name` equals `value` (all filters).
typedef struct {
    const char *name;
    daisy_value_t value;
} daisy_attr_filter_t;

typedef struct _daisy_graphdb_t daisy_graphdb_t;
typedef struct _daisy_graph_iter_t daisy_graph_iter_t;

//  Open "sqlite:PATH" (or PATH), or "postgresql://..." . READ and
//  READ_WRITE need an existing graph (schema may be NULL: the stored one
//  is used; given, it must agree); OVERWRITE needs a schema. NULL with a
//  message naming the spec, key and value at fault. On PostgreSQL many
//  processes may open one graph at once (those that create it take
//  turns), and a handle whose connection is lost connects again on its
//  next call (README: Graphs).
DAISY_EXPORT daisy_graphdb_t *daisy_graphdb_open(const char *spec, daisy_graphdb_mode_t mode,
                                                 const daisy_graph_schema_t *schema,
                                                 daisy_error_t *err);
DAISY_EXPORT void daisy_graphdb_close(daisy_graphdb_t **self_p);
//  The graph's schema (strings owned by the database).
DAISY_EXPORT const daisy_graph_schema_t *daisy_graphdb_schema(const daisy_graphdb_t *self);

//  Write nodes (only those inside `roi` when it is not NULL, a position
//  truncated to integers as funlib does). One transaction: all or nothing.
DAISY_EXPORT int daisy_graphdb_write_nodes(daisy_graphdb_t *self, const daisy_node_t *nodes,
                                           size_t n, const daisy_roi_t *roi, bool fail_if_exists,
                                           daisy_error_t *err);
//  Load many nodes fast, as one writer: between these, writes append rows
//  without maintaining pos_index or the spatial index (reads still work,
//  slower), and bulk_end builds both again by sorting. Other writers must
//  wait. daisy_graphdb_close() ends a bulk load left open.
DAISY_EXPORT int daisy_graphdb_bulk_begin(daisy_graphdb_t *self, daisy_error_t *err);
DAISY_EXPORT int daisy_graphdb_bulk_end(daisy_graphdb_t *self, daisy_error_t *err);
//  Write edges (only those whose u node, already written, lies inside
//  `roi` when it is not NULL); undirected edges are stored as u < v.
DAISY_EXPORT int daisy_graphdb_write_edges(daisy_graphdb_t *self, const daisy_edge_t *edges,
                                           size_t n, const daisy_roi_t *roi, bool fail_if_exists,
                                           daisy_error_t *err);
//  Set the named attributes (`names`, k of them) of existing nodes or
//  edges from their values; rows that do not exist are left alone.
DAISY_EXPORT int daisy_graphdb_update_nodes(daisy_graphdb_t *self, const daisy_node_t *nodes,
                                            size_t n, const char *const *names, size_t k,
                                            daisy_error_t *err);
DAISY_EXPORT int daisy_graphdb_update_edges(daisy_graphdb_t *self, const daisy_edge_t *edges,
                                            size_t n, const char *const *names, size_t k,
                                            daisy_error_t *err);

//  Nodes inside `roi` (NULL: all), matching every filter. The iterator
//  reads rows as they are asked for.
DAISY_EXPORT daisy_graph_iter_t *daisy_graphdb_nodes(daisy_graphdb_t *self, const daisy_roi_t *roi,
                                                     const daisy_attr_filter_t *filters,
                                                     size_t nfilters, daisy_error_t *err);
//  Edges whose u (with fetch_on_v: u or v) lies inside `roi` (NULL: all).
DAISY_EXPORT daisy_graph_iter_t *daisy_graphdb_edges(daisy_graphdb_t *self, const daisy_roi_t *roi,
                                                     bool fetch_on_v,
                                                     const daisy_attr_filter_t *filters,
                                                     size_t nfilters, daisy_error_t *err);
//  The next node (or edge): 1 with *out valid until the next call, 0 at
//  the end, -1 on an error.
DAISY_EXPORT int daisy_graph_iter_node(daisy_graph_iter_t *self, daisy_node_t *out,
                                       daisy_error_t *err);
DAISY_EXPORT int daisy_graph_iter_edge(daisy_graph_iter_t *self, daisy_edge_t *out,
                                       daisy_error_t *err);
DAISY_EXPORT void daisy_graph_iter_destroy(daisy_graph_iter_t **self_p);

//  Nodes inside `roi` (NULL: all).
DAISY_EXPORT int daisy_graphdb_count_nodes(daisy_graphdb_t *self, const daisy_roi_t *roi,
                                           uint64_t *count, daisy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
