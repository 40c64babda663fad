/*  graphdb_internal.h - what the graph database's files share

    schema.c owns the schema (copies of the caller's strings, defaults,
    checks) and its funlib.persistence metadata (JSON); sqlite.c is the
    SQLite back end. Column names follow funlib: a vector attribute is one
    column per component, NAME_0 .. NAME_{n-1}.
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
//  Key ranges [lo, hi] (sorted, merged, at most `max`) holding every node
//  of the ROI, and some around it.
size_t zgrid_ranges(const zgrid_t *g, const daisy_roi_t *roi, uint64_t (*out)[2], size_t max);

#endif
