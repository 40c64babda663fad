/*  schema.c - a graph's schema and its funlib.persistence metadata

    funlib keeps what a graph holds as a JSON object (beside a SQLite file,
    in a `metadata` table on PostgreSQL) whose types are Python
    expressions it evaluates: "int", "float", "bool", "str",
    "Vec(float, 3)". The position is a node attribute like the others
    there; here it has its own fields, and is the first node attribute in
    the metadata. Names end up in SQL unquoted by funlib, so they are held
    to identifiers (letters, digits, underscores) here.
*/
#include "graphdb_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_type_names[] = {"float", "int", "bool", "str"};

static char *
own(schema_t *s, const char *text)
{
    if (!text || s->nstrings == sizeof s->strings / sizeof s->strings[0])
        return NULL;
    char *copy = strdup(text);
    if (copy)
        s->strings[s->nstrings++] = copy;
    return copy;
}

void
schema_free(schema_t *s)
{
    for (size_t i = 0; i < s->nstrings; i++)
        free(s->strings[i]);
    memset(s, 0, sizeof *s);
}

static bool
identifier(const char *name)
{
    if (!name || !*name || strlen(name) > 60 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
        == strlen(name);
}

static int
check_name(const char *what, const char *name, daisy_error_t *err)
{
    if (identifier(name))
        return 0;
    return daisy_error_set(err, "%s '%s': not a name of letters, digits and '_' (funlib puts "
                           "names into SQL as they are)", what, name ? name : "(null)");
}

static int
copy_attrs(schema_t *s, daisy_attr_t *out, const daisy_attr_t *in, size_t n, const char *what,
           daisy_error_t *err)
{
    if (n > DAISY_GRAPH_MAX_ATTRS)
        return daisy_error_set(err, "%s: %zu attributes, at most %d", what, n,
                               DAISY_GRAPH_MAX_ATTRS);
    for (size_t i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s attribute", what);
        if (check_name(label, in[i].name, err))
            return -1;
        if ((unsigned)in[i].type > DAISY_ATTR_STR || in[i].size > DAISY_GRAPH_MAX_VEC
            || (in[i].type == DAISY_ATTR_STR && in[i].size > 0))
            return daisy_error_set(err, "%s '%s': type %d size %u is not int, float, bool or "
                                   "str, or a vector of 1..%d of the first three", label,
                                   in[i].name, (int)in[i].type, in[i].size, DAISY_GRAPH_MAX_VEC);
        for (size_t j = 0; j < i; j++)
            if (strcmp(in[i].name, in[j].name) == 0)
                return daisy_error_set(err, "%s '%s' given twice", label, in[i].name);
        out[i] = in[i];
        if (!(out[i].name = own(s, in[i].name)))
            return daisy_error_set(err, "out of memory");
    }
    return 0;
}

int
schema_copy(schema_t *out, const daisy_graph_schema_t *in, daisy_error_t *err)
{
    memset(out, 0, sizeof *out);
    daisy_graph_schema_t *p = &out->pub;
    *p = *in;
    p->position = own(out, in->position ? in->position : "position");
    p->nodes_table = own(out, in->nodes_table ? in->nodes_table : "nodes");
    p->edges_table = own(out, in->edges_table ? in->edges_table : "edges");
    p->endpoints[0] = own(out, in->endpoints[0] ? in->endpoints[0] : "u");
    p->endpoints[1] = own(out, in->endpoints[1] ? in->endpoints[1] : "v");
    p->node_attrs = out->node_attrs;
    p->edge_attrs = out->edge_attrs;
    if (in->dims < 2 || in->dims > DAISY_MAX_DIMS)
        return daisy_error_set(err, "position: %u dimensions, expected 2 to %d (funlib's ROI "
                               "queries need a vector position)", in->dims, DAISY_MAX_DIMS);
    if (in->position_type != DAISY_ATTR_FLOAT && in->position_type != DAISY_ATTR_INT)
        return daisy_error_set(err, "position: type must be float or int");
    if (check_name("position attribute", p->position, err)
        || check_name("nodes table", p->nodes_table, err)
        || check_name("edges table", p->edges_table, err)
        || check_name("endpoint", p->endpoints[0], err)
        || check_name("endpoint", p->endpoints[1], err))
        return -1;
    if (copy_attrs(out, out->node_attrs, in->node_attrs, in->n_node_attrs, "node", err)
        || copy_attrs(out, out->edge_attrs, in->edge_attrs, in->n_edge_attrs, "edge", err))
        return -1;
    if (schema_find(out->node_attrs, in->n_node_attrs, p->position) >= 0
        || strcmp(p->position, "id") == 0)
        return daisy_error_set(err, "node attribute '%s' is the position's or the id's name",
                               p->position);
    return 0;
}

int
schema_find(const daisy_attr_t *attrs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(attrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

void
schema_columns(const daisy_attr_t *a, char *buf, size_t size, const char *prefix)
{
    size_t used = 0;
    buf[0] = '\0';
    if (a->size == 0) {
        snprintf(buf, size, "%s\"%s\"", prefix, a->name);
        return;
    }
    for (uint32_t i = 0; i < a->size && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s\"%s_%u\"", i ? ", " : "",
                                 prefix, a->name, i);
}

//  Metadata ------------------------------------------------------------------

void
schema_type_text(daisy_attr_type_t type, uint32_t size, char *text, size_t len)
{
    if (size == 0)
        snprintf(text, len, "%s", s_type_names[type]);
    else
        snprintf(text, len, "Vec(%s, %u)", s_type_names[type], size);
}

static json_t *
type_json(daisy_attr_type_t type, uint32_t size)
{
    char text[32];
    schema_type_text(type, size, text, sizeof text);
    return json_string(text);
}

static json_t *
add_attrs(json_t *o, const daisy_attr_t *a, size_t n)
{
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, a[i].name, type_json(a[i].type, a[i].size));
    return o;
}

json_t *
schema_to_json(const schema_t *s)
{
    const daisy_graph_schema_t *p = &s->pub;
    json_t *offset = json_array(), *shape = json_array();
    for (uint32_t d = 0; d < p->dims; d++) {
        json_array_append_new(offset, p->has_total_roi ? json_integer(p->total_roi.offset[d])
                                                       : json_null());
        json_array_append_new(shape, p->has_total_roi ? json_integer(p->total_roi.shape[d])
                                                      : json_null());
    }
    json_t *nodes = json_object();
    json_object_set_new(nodes, p->position, type_json(p->position_type, p->dims));
    add_attrs(nodes, p->node_attrs, p->n_node_attrs);
    return json_pack("{s:s, s:b, s:o, s:o, s:s, s:s, s:[s, s], s:o, s:o, s:i}",
                     "position_attribute", p->position, "directed", p->directed,
                     "total_roi_offset", offset, "total_roi_shape", shape,
                     "nodes_table_name", p->nodes_table, "edges_table_name", p->edges_table,
                     "endpoint_names", p->endpoints[0], p->endpoints[1],
                     "node_attrs", nodes,
                     "edge_attrs", add_attrs(json_object(), p->edge_attrs, p->n_edge_attrs),
                     "ndims", (int)p->dims);
}

//  "int", "Vec(float, 3)", ... into type and size.
static int
parse_type(const char *text, daisy_attr_type_t *type, uint32_t *size)
{
    char inner[16];
    unsigned n = 0;
    *size = 0;
    if (sscanf(text, "Vec(%15[a-z], %u)", inner, &n) == 2
        || sscanf(text, "Vec(%15[a-z],%u)", inner, &n) == 2) {
        if (n < 1 || n > DAISY_GRAPH_MAX_VEC)
            return -1;
        *size = n;
        text = inner;
    }
    for (int t = 0; t < 4; t++)
        if (strcmp(text, s_type_names[t]) == 0 && !(t == DAISY_ATTR_STR && *size)) {
            *type = (daisy_attr_type_t)t;
            return 0;
        }
    return -1;
}

static int
attrs_from_json(const json_t *o, const char *what, const char *skip, daisy_attr_t *out,
                size_t *n, const char **ptype, daisy_error_t *err)
{
    const char *name;
    json_t *v;
    *n = 0;
    if (!json_is_object(o))
        return daisy_error_set(err, "metadata: '%s' is not an object", what);
    json_object_foreach((json_t *)o, name, v) {
        const char *text = json_string_value(v);
        daisy_attr_t a = {.name = name};
        if (!text || parse_type(text, &a.type, &a.size) != 0)
            return daisy_error_set(err, "metadata: %s '%s': type %s is not int, float, bool, "
                                   "str or Vec(T, n)", what, name, text ? text : "(not a string)");
        if (skip && strcmp(name, skip) == 0) {
            *ptype = text;
            continue;
        }
        if (*n == DAISY_GRAPH_MAX_ATTRS)
            return daisy_error_set(err, "metadata: more than %d %s", DAISY_GRAPH_MAX_ATTRS, what);
        out[(*n)++] = a;
    }
    return 0;
}

int
schema_from_json(schema_t *out, const json_t *meta, daisy_error_t *err)
{
    daisy_graph_schema_t in = {0};
    daisy_attr_t nodes[DAISY_GRAPH_MAX_ATTRS], edges[DAISY_GRAPH_MAX_ATTRS];
    json_t *ends = NULL, *offset = NULL, *shape = NULL, *nattrs = NULL, *eattrs = NULL;
    int directed = 0, ndims = 0;
    json_error_t je;
    if (json_unpack_ex((json_t *)meta, &je, 0, "{s:s, s:b, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:i}",
                       "position_attribute", &in.position, "directed", &directed,
                       "total_roi_offset", &offset, "total_roi_shape", &shape,
                       "nodes_table_name", &in.nodes_table, "edges_table_name", &in.edges_table,
                       "endpoint_names", &ends, "node_attrs", &nattrs, "edge_attrs", &eattrs,
                       "ndims", &ndims) != 0)
        return daisy_error_set(err, "metadata: %s", je.text);
    in.directed = directed;
    in.dims = ndims > 0 ? (uint32_t)ndims : 0;
    if (!json_is_array(ends) || json_array_size(ends) != 2
        || !(in.endpoints[0] = json_string_value(json_array_get(ends, 0)))
        || !(in.endpoints[1] = json_string_value(json_array_get(ends, 1))))
        return daisy_error_set(err, "metadata: endpoint_names is not two strings");
    const char *ptype = NULL;
    if (attrs_from_json(nattrs, "node_attrs", in.position, nodes, &in.n_node_attrs, &ptype, err)
        || attrs_from_json(eattrs, "edge_attrs", NULL, edges, &in.n_edge_attrs, NULL, err))
        return -1;
    daisy_attr_t pos;
    if (!ptype || parse_type(ptype, &pos.type, &pos.size) != 0 || pos.size != in.dims)
        return daisy_error_set(err, "metadata: the position '%s' is %s, not a Vec of %d "
                               "numbers", in.position, ptype ? ptype : "not a node attribute",
                               ndims);
    in.position_type = pos.type;
    in.node_attrs = nodes;
    in.edge_attrs = edges;
    in.has_total_roi = json_is_array(offset) && json_array_size(offset) == in.dims
                    && json_is_integer(json_array_get(offset, 0));
    for (uint32_t d = 0; in.has_total_roi && d < in.dims && d < DAISY_MAX_DIMS; d++) {
        in.total_roi.offset[d] = json_integer_value(json_array_get(offset, d));
        in.total_roi.shape[d] = json_integer_value(json_array_get(shape, d));
    }
    in.total_roi.dims = in.has_total_roi ? (int)in.dims : 0;
    return schema_copy(out, &in, err);
}

//  0 when the attributes are the same (any order), else -1 with the first
//  difference in `why`.
static int
attrs_differ(const char *what, const daisy_attr_t *a, size_t na, const daisy_attr_t *b,
             size_t nb, char *why, size_t size)
{
    for (size_t i = 0; i < nb; i++)
        if (schema_find(a, na, b[i].name) < 0) {
            snprintf(why, size, "%s attribute '%s' is not stored", what, b[i].name);
            return -1;
        }
    for (size_t i = 0; i < na; i++) {
        int j = schema_find(b, nb, a[i].name);
        if (j < 0) {
            snprintf(why, size, "%s attribute '%s' is stored but not asked for", what,
                     a[i].name);
            return -1;
        }
        if (a[i].type != b[j].type || a[i].size != b[j].size) {
            char x[32], y[32];
            schema_type_text(a[i].type, a[i].size, x, sizeof x);
            schema_type_text(b[j].type, b[j].size, y, sizeof y);
            snprintf(why, size, "%s attribute '%s' is stored as %s, asked for as %s", what,
                     a[i].name, x, y);
            return -1;
        }
    }
    return 0;
}

int
schema_agree(const schema_t *stored, const daisy_graph_schema_t *given, daisy_error_t *err)
{
    schema_t g;
    if (schema_copy(&g, given, err) != 0) {
        schema_free(&g);
        return -1;
    }
    const daisy_graph_schema_t *a = &stored->pub, *b = &g.pub;
    char why[256] = "";
    const char *what = a->dims != b->dims ? "dims"
        : strcmp(a->position, b->position) ? "position"
        : a->position_type != b->position_type ? "position type"
        : a->directed != b->directed ? "directed"
        : strcmp(a->nodes_table, b->nodes_table) ? "nodes table"
        : strcmp(a->edges_table, b->edges_table) ? "edges table"
        : strcmp(a->endpoints[0], b->endpoints[0]) || strcmp(a->endpoints[1], b->endpoints[1])
            ? "endpoint names" : NULL;
    if (!what && (attrs_differ("node", a->node_attrs, a->n_node_attrs, b->node_attrs,
                               b->n_node_attrs, why, sizeof why) != 0
                  || attrs_differ("edge", a->edge_attrs, a->n_edge_attrs, b->edge_attrs,
                                  b->n_edge_attrs, why, sizeof why) != 0))
        what = why;
    int rc = what == why ? daisy_error_set(err, "%s (open it without a schema to use the "
                                           "stored one)", why)
           : what ? daisy_error_set(err, "the graph's %s differ from those asked for (open it "
                                    "without a schema to use the stored one)", what)
                  : 0;
    schema_free(&g);
    return rc;
    return 0;
}
