/*  graphdb.c - the graph database's public API, over its back ends

    A spec names the back end by its scheme ("postgresql://..." or
    "postgres://...", else "sqlite:PATH" or a bare path). Everything a
    back end would check alike is checked here, once, before it is called:
    the mode allows the call, a ROI has the graph's dimensions, attribute
    names exist, ids fit the databases' signed 64-bit integers. Opening
    follows funlib: OVERWRITE creates the graph from the given schema;
    READ and READ_WRITE load the stored metadata, and a schema given then
    must agree with it.
*/
#include "graphdb_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const graphdb_backend_t *
backend_of(const char *spec, const char **location)
{
    if (strncmp(spec, "postgresql://", 13) == 0 || strncmp(spec, "postgres://", 11) == 0) {
        *location = spec;
        return &graphdb_postgresql;
    }
    *location = strncmp(spec, "sqlite:", 7) == 0 ? spec + 7 : spec;
    return strstr(spec, "://") ? NULL : &graphdb_sqlite;
}

static int
load_schema(daisy_graphdb_t *self, const daisy_graph_schema_t *given, daisy_error_t *err)
{
    if (self->mode == DAISY_GRAPHDB_OVERWRITE) {
        if (!given)
            return daisy_error_set(err, "%s: creating a graph needs a schema", self->name);
        if (schema_copy(&self->schema, given, err) != 0)
            return -1;
        return self->backend->create(self, err);
    }
    json_t *meta = self->backend->load_meta(self, err);
    if (!meta)
        return -1;
    int rc = schema_from_json(&self->schema, meta, err);
    json_decref(meta);
    if (rc != 0)
        return daisy_error_prefix(err, "%s: metadata", self->name);
    if (given && schema_agree(&self->schema, given, err) != 0)
        return daisy_error_prefix(err, "%s", self->name);
    return self->backend->attach(self, err);
}

daisy_graphdb_t *
daisy_graphdb_open(const char *spec, daisy_graphdb_mode_t mode,
                   const daisy_graph_schema_t *schema, daisy_error_t *err)
{
    const char *location = NULL;
    const graphdb_backend_t *backend = spec && *spec ? backend_of(spec, &location) : NULL;
    if (!spec || !*spec) {
        daisy_error_set(err, "graph database: no spec (expected sqlite:PATH or "
                        "postgresql://[USER@]HOST[:PORT]/DBNAME)");
        return NULL;
    }
    if (!backend) {
        daisy_error_set(err, "graph database '%s': unknown scheme (expected sqlite:PATH or "
                        "postgresql://...)", spec);
        return NULL;
    }
    if (!*location) {
        daisy_error_set(err, "graph database '%s': no path (expected sqlite:PATH)", spec);
        return NULL;
    }
    if (mode != DAISY_GRAPHDB_READ && mode != DAISY_GRAPHDB_READ_WRITE
        && mode != DAISY_GRAPHDB_OVERWRITE) {
        daisy_error_set(err, "graph database '%s': mode %d is none of READ, READ_WRITE, "
                        "OVERWRITE", spec, (int)mode);
        return NULL;
    }
    daisy_graphdb_t *self = backend->open(location, mode, err);
    if (!self)
        return NULL;
    self->backend = backend;
    self->mode = mode;
    if (load_schema(self, schema, err) != 0)
        daisy_graphdb_close(&self);
    return self;
}

void
daisy_graphdb_close(daisy_graphdb_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    daisy_graphdb_t *self = *self_p;
    if (self->bulk)
        daisy_graphdb_bulk_end(self, NULL);
    schema_free(&self->schema);
    free(self->name);
    self->backend->close(self);
    *self_p = NULL;
}

const daisy_graph_schema_t *
daisy_graphdb_schema(const daisy_graphdb_t *self)
{
    return &self->schema.pub;
}

//  Checks ----------------------------------------------------------------------

static int
writable(const daisy_graphdb_t *self, daisy_error_t *err)
{
    if (self->mode != DAISY_GRAPHDB_READ)
        return 0;
    return daisy_error_set(err, "%s: opened read-only", self->name);
}

static int
check_roi(const daisy_graphdb_t *self, const daisy_roi_t *roi, daisy_error_t *err)
{
    if (roi && (uint32_t)roi->dims != self->schema.pub.dims)
        return daisy_error_set(err, "%s: a %d-D ROI for a %u-D graph", self->name, roi->dims,
                               self->schema.pub.dims);
    return 0;
}

static int
check_id(const daisy_graphdb_t *self, const char *what, uint64_t id, daisy_error_t *err)
{
    if (id <= INT64_MAX)
        return 0;
    return daisy_error_set(err, "%s: %s id %llu is beyond the database's 64-bit signed "
                           "integers", self->name, what, (unsigned long long)id);
}

//  A value as its attribute has it: n components for a Vec, 1 for a
//  scalar (a backend would store a short one as NULL and cut a long one).
static int
check_value(const daisy_graphdb_t *self, const daisy_attr_t *a, const daisy_value_t *v,
            const char *row, daisy_error_t *err)
{
    uint32_t want = a->size ? a->size : 1;
    if (!v || v->null || v->n == want)
        return 0;
    char type[64];
    schema_type_text(a->type, a->size, type, sizeof type);
    return daisy_error_set(err, "%s: %s, attribute '%s' (%s): %u component%s, not %u",
                           self->name, row, a->name, type, v->n, v->n == 1 ? "" : "s", want);
}

//  The values of attributes idx[0..k) (all of them when idx is NULL) of
//  every row.
static int
check_rows(const daisy_graphdb_t *self, bool edges, const void *rows, size_t n, const int *idx,
           size_t k, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = &self->schema.pub;
    const daisy_attr_t *attrs = edges ? s->edge_attrs : s->node_attrs;
    size_t count = idx ? k : edges ? s->n_edge_attrs : s->n_node_attrs;
    for (size_t r = 0; r < n; r++) {
        const daisy_node_t *node = edges ? NULL : &((const daisy_node_t *)rows)[r];
        const daisy_edge_t *edge = edges ? &((const daisy_edge_t *)rows)[r] : NULL;
        const daisy_value_t *values = edges ? edge->attrs : node->attrs;
        for (size_t j = 0; values && j < count; j++) {
            int a = idx ? idx[j] : (int)j;
            char row[80];
            if (edges)
                snprintf(row, sizeof row, "edge (%llu, %llu)", (unsigned long long)edge->u,
                         (unsigned long long)edge->v);
            else
                snprintf(row, sizeof row, "node %llu", (unsigned long long)node->id);
            if (check_value(self, &attrs[a], &values[a], row, err) != 0)
                return -1;
        }
    }
    return 0;
}

//  The attribute of each name, by index; -1 naming the first unknown one.
static int
resolve(const daisy_graphdb_t *self, bool edges, const char *const *names, size_t k, int *idx,
        const char *use, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = &self->schema.pub;
    if (k > DAISY_GRAPH_MAX_ATTRS)
        return daisy_error_set(err, "%s: %zu attributes (at most %d)", self->name, k,
                               DAISY_GRAPH_MAX_ATTRS);
    for (size_t j = 0; j < k; j++) {
        idx[j] = schema_find(edges ? s->edge_attrs : s->node_attrs,
                             edges ? s->n_edge_attrs : s->n_node_attrs, names[j]);
        if (idx[j] < 0)
            return daisy_error_set(err, "%s: no %s attribute '%s'%s", self->name,
                                   edges ? "edge" : "node", names[j] ? names[j] : "(null)", use);
    }
    return 0;
}

static int
resolve_filters(const daisy_graphdb_t *self, bool edges, const daisy_attr_filter_t *f, size_t n,
                graphdb_filters_t *out, daisy_error_t *err)
{
    //  Zeroed: under -fsanitize gcc no longer sees that resolve() reads
    //  only the n set (-Werror=maybe-uninitialized).
    const char *names[DAISY_GRAPH_MAX_ATTRS] = {0};
    out->f = f;
    out->n = n;
    for (size_t j = 0; j < n && j < DAISY_GRAPH_MAX_ATTRS; j++)
        names[j] = f[j].name;
    if (resolve(self, edges, names, n, out->idx, " to filter on", err) != 0)
        return -1;
    const daisy_graph_schema_t *s = &self->schema.pub;
    for (size_t j = 0; j < n; j++)
        if (check_value(self, &(edges ? s->edge_attrs : s->node_attrs)[out->idx[j]],
                        &f[j].value, "a filter", err) != 0)
            return -1;
    return 0;
}

//  Writes -------------------------------------------------------------------------

int
daisy_graphdb_write_nodes(daisy_graphdb_t *self, const daisy_node_t *nodes, size_t n,
                          const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    if (writable(self, err) != 0 || check_roi(self, roi, err) != 0)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (check_id(self, "node", nodes[k].id, err) != 0)
            return -1;
    if (check_rows(self, false, nodes, n, NULL, 0, err) != 0)
        return -1;
    return n ? self->backend->write_nodes(self, nodes, n, roi, fail_if_exists, err) : 0;
}

int
daisy_graphdb_write_edges(daisy_graphdb_t *self, const daisy_edge_t *edges, size_t n,
                          const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    if (writable(self, err) != 0 || check_roi(self, roi, err) != 0)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (check_id(self, "node", edges[k].u, err) != 0
            || check_id(self, "node", edges[k].v, err) != 0)
            return -1;
    if (check_rows(self, true, edges, n, NULL, 0, err) != 0)
        return -1;
    return n ? self->backend->write_edges(self, edges, n, roi, fail_if_exists, err) : 0;
}

static int
update(daisy_graphdb_t *self, bool edges, const void *rows, size_t n, const char *const *names,
       size_t k, daisy_error_t *err)
{
    int idx[DAISY_GRAPH_MAX_ATTRS];
    if (writable(self, err) != 0 || resolve(self, edges, names, k, idx, "", err) != 0
        || check_rows(self, edges, rows, n, idx, k, err) != 0)
        return -1;
    return n && k ? self->backend->update(self, edges, rows, n, idx, k, err) : 0;
}

int
daisy_graphdb_update_nodes(daisy_graphdb_t *self, const daisy_node_t *nodes, size_t n,
                           const char *const *names, size_t k, daisy_error_t *err)
{
    return update(self, false, nodes, n, names, k, err);
}

int
daisy_graphdb_update_edges(daisy_graphdb_t *self, const daisy_edge_t *edges, size_t n,
                           const char *const *names, size_t k, daisy_error_t *err)
{
    return update(self, true, edges, n, names, k, err);
}

int
daisy_graphdb_bulk_begin(daisy_graphdb_t *self, daisy_error_t *err)
{
    if (writable(self, err) != 0)
        return -1;
    if (self->bulk)
        return daisy_error_set(err, "%s: already loading in bulk", self->name);
    if (self->backend->bulk_begin(self, err) != 0)
        return -1;
    self->bulk = true;
    return 0;
}

int
daisy_graphdb_bulk_end(daisy_graphdb_t *self, daisy_error_t *err)
{
    if (!self->bulk)
        return daisy_error_set(err, "%s: not loading in bulk", self->name);
    if (self->backend->bulk_end(self, err) != 0)
        return -1;
    self->bulk = false;
    return 0;
}

//  Reads ----------------------------------------------------------------------------

daisy_graph_iter_t *
daisy_graphdb_nodes(daisy_graphdb_t *self, const daisy_roi_t *roi,
                    const daisy_attr_filter_t *filters, size_t nfilters, daisy_error_t *err)
{
    graphdb_filters_t f;
    if (check_roi(self, roi, err) != 0
        || resolve_filters(self, false, filters, nfilters, &f, err) != 0)
        return NULL;
    return self->backend->nodes(self, roi, &f, err);
}

daisy_graph_iter_t *
daisy_graphdb_edges(daisy_graphdb_t *self, const daisy_roi_t *roi, bool fetch_on_v,
                    const daisy_attr_filter_t *filters, size_t nfilters, daisy_error_t *err)
{
    graphdb_filters_t f;
    if (check_roi(self, roi, err) != 0
        || resolve_filters(self, true, filters, nfilters, &f, err) != 0)
        return NULL;
    return self->backend->edges(self, roi, fetch_on_v, &f, err);
}

int
daisy_graph_iter_node(daisy_graph_iter_t *it, daisy_node_t *out, daisy_error_t *err)
{
    if (it->edges)
        return daisy_error_set(err, "an edge iterator asked for a node");
    memset(out, 0, sizeof *out);
    out->attrs = it->values;
    return it->db->backend->next(it, out, NULL, err);
}

int
daisy_graph_iter_edge(daisy_graph_iter_t *it, daisy_edge_t *out, daisy_error_t *err)
{
    if (!it->edges)
        return daisy_error_set(err, "a node iterator asked for an edge");
    memset(out, 0, sizeof *out);
    out->attrs = it->values;
    return it->db->backend->next(it, NULL, out, err);
}

void
daisy_graph_iter_destroy(daisy_graph_iter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    (*self_p)->db->backend->iter_destroy(*self_p);
    *self_p = NULL;
}

int
daisy_graphdb_count_nodes(daisy_graphdb_t *self, const daisy_roi_t *roi, uint64_t *count,
                          daisy_error_t *err)
{
    if (check_roi(self, roi, err) != 0)
        return -1;
    return self->backend->count_nodes(self, roi, count, err);
}

//  Shared by the back ends -----------------------------------------------------------

bool
graphdb_write_inside(const daisy_roi_t *roi, const double *p, uint32_t dims)
{
    for (uint32_t d = 0; roi && d < dims; d++) {
        double t = trunc(p[d]);
        if (t < (double)roi->offset[d] || t >= (double)(roi->offset[d] + roi->shape[d]))
            return false;
    }
    return true;
}

void
graphdb_endpoints(const daisy_graph_schema_t *s, const daisy_edge_t *e, uint64_t *u, uint64_t *v)
{
    bool swap = !s->directed && e->v < e->u;
    *u = swap ? e->v : e->u;
    *v = swap ? e->u : e->v;
}

uint32_t
graphdb_width(const daisy_attr_t *a)
{
    return a->size ? a->size : 1;
}
