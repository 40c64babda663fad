/*  sqlite.c - the graph database in SQLite, funlib.persistence's layout

    Tables as funlib creates them (nodes with one untyped column per
    position component and vector component, edges keyed by (u, v), the
    pos_index), its metadata in GRAPH-meta.json beside the file. Added,
    and invisible to funlib: NODES_zindex, the nodes' positions keyed by
    their cell's Morton code (zindex.c), kept by triggers on the nodes
    table (so rows written by funlib are indexed too), its grid in
    daisy_zindex, and an index on v for fetch_on_v. A graph whose triggers
    are missing (funlib recreated its tables) gets its index rebuilt when
    opened for writing; opened read-only, ROI queries then use the column
    comparisons funlib uses.

    A ROI read of a graph without node attributes never returns a row per
    node: the statement scanning the Morton table's key ranges hands each
    row to daisy_take(), a function of ours, which tests it against the
    ROI in C and fills the iterator's chunk; a row comes back only per
    full chunk (a returned row cost SQLite twice what the call costs).

    Concurrency: WAL journal (a rollback journal during a bulk load, when
    no other connection has the file), a busy timeout, and every batch
    written in one BEGIN IMMEDIATE transaction, retried whole while
    another writer holds the lock: blockwise workers writing disjoint ROIs
    at once never fail a block for a transient lock, and a batch is all or
    nothing.
*/
#include "graphdb_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 60000
//  Rows per INSERT when the Morton table is filled.
#define FILL_ROWS 32
//  Rows fetched ahead of the one bound when the Morton table is filled.
#define FETCH_AHEAD 16
#define SQL_MAX 16384
//  Pages read in place, not copied into SQLite's cache by a read() each:
//  a ROI read is many short range scans over a large file.
#define MMAP_SIZE "1099511627776"
//  Key ranges per ROI read. A range costs a seek and its JSON (about
//  2 us), a row read outside the ROI about 0.08 us: a 1 % cube of 10^7
//  nodes reads 254,000 rows in 37 ranges with 64 allowed, 136,000 in
//  560 with 1,024 (its 99,331 nodes).
#define SQ_MAX_RANGES 1024

typedef struct sq_iter sq_iter_t;

typedef struct {
    daisy_graphdb_t base;       //  base.name: the file's path
    sqlite3 *db;
    bool zindex;                //  NODES_zindex is current (its triggers exist)
    zgrid_t grid;               //  its grid
    zrange_t ranges[SQ_MAX_RANGES];     //  the ROI being read, as key ranges
    size_t nranges;
    sq_iter_t *taking;          //  the positions-only read being stepped (see take())
    char sql[SQL_MAX];
} sq_t;

//  Nodes a positions-only ROI read hands over per step (see take()).
#define TAKE_CHUNK 1024

typedef struct {
    uint64_t id;
    double p[DAISY_MAX_DIMS];
} sq_node_t;

struct sq_iter {
    daisy_graph_iter_t base;
    sqlite3_stmt *stmt;
    //  A positions-only ROI read (take != NULL): the statement's rows only
    //  mark a full chunk; the nodes are in take[next..n).
    sq_node_t *take;
    size_t n, next;
    bool done;                  //  the statement has run to its end
    int64_t roi_lo[DAISY_MAX_DIMS], roi_hi[DAISY_MAX_DIMS];   //  its ROI, begin and end
};

static void take_inner(sqlite3_context *ctx, int argc, sqlite3_value **argv);
static void take_border(sqlite3_context *ctx, int argc, sqlite3_value **argv);

static int
db_error(sq_t *self, daisy_error_t *err, const char *what)
{
    return daisy_error_set(err, "%s: %s: %s", self->base.name, what, sqlite3_errmsg(self->db));
}

static int
exec(sq_t *self, const char *sql, daisy_error_t *err)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    daisy_error_set(err, "%s: %s: %s", self->base.name, msg ? msg : "error", sql);
    sqlite3_free(msg);
    return -1;
}

static int
prepare(sq_t *self, sqlite3_stmt **stmt, daisy_error_t *err)
{
    if (sqlite3_prepare_v2(self->db, self->sql, -1, stmt, NULL) == SQLITE_OK)
        return 0;
    return db_error(self, err, self->sql);
}

//  Appending SQL text.
static void
add(sq_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(sq_t *self, const char *fmt, ...)
{
    size_t used = strlen(self->sql);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->sql + used, sizeof self->sql - used, fmt, ap);
    va_end(ap);
}

//  Metadata file ---------------------------------------------------------------

//  DIR/STEM-meta.json for DIR/STEM.EXT, as funlib names it.
static void
meta_path(const char *db, char *out, size_t size)
{
    const char *slash = strrchr(db, '/');
    const char *base = slash ? slash + 1 : db;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - db) : (int)strlen(db);
    snprintf(out, size, "%.*s-meta.json", stem, db);
}

static json_t *
load_meta(daisy_graphdb_t *base, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    char path[PATH_MAX + 16];
    meta_path(self->base.name, path, sizeof path);
    json_error_t je;
    json_t *meta = json_load_file(path, 0, &je);
    if (!meta) {
        if (access(path, F_OK) != 0)
            daisy_error_set(err, "%s: no graph here (no %s); open it with "
                            "DAISY_GRAPHDB_OVERWRITE and a schema to create one",
                            self->base.name, path);
        else
            daisy_error_set(err, "%s: line %d: %s", path, je.line, je.text);
    }
    return meta;
}

static int
write_meta(sq_t *self, daisy_error_t *err)
{
    char path[PATH_MAX + 16], tmp[PATH_MAX + 32];
    meta_path(self->base.name, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    json_t *meta = schema_to_json(&self->base.schema);
    int rc = meta && json_dump_file(meta, tmp, JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
    json_decref(meta);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        unlink(tmp);
        return daisy_error_set(err, "%s: cannot write: %s", path, strerror(errno));
    }
    return 0;
}

//  Tables ------------------------------------------------------------------

static const daisy_graph_schema_t *
S(const sq_t *self)
{
    return &self->base.schema.pub;
}

//  ", "P_0", "P_1", ... with an optional table prefix.
static void
add_position_columns(sq_t *self, const char *prefix)
{
    for (uint32_t d = 0; d < S(self)->dims; d++)
        add(self, "%s%s\"%s_%u\"", d ? ", " : "", prefix, S(self)->position, d);
}

static void
add_attr_columns(sq_t *self, const daisy_attr_t *a, size_t n, const char *prefix)
{
    char cols[2048];
    for (size_t i = 0; i < n; i++) {
        schema_columns(&a[i], cols, sizeof cols, prefix);
        add(self, ", %s", cols);
    }
}

static int
create_tables(sq_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    self->sql[0] = '\0';
    add(self, "CREATE TABLE IF NOT EXISTS \"%s\"(id INTEGER not null PRIMARY KEY, ",
        s->nodes_table);
    add_position_columns(self, "");
    add_attr_columns(self, s->node_attrs, s->n_node_attrs, "");
    add(self, "); CREATE INDEX IF NOT EXISTS pos_index ON \"%s\"(", s->nodes_table);
    add_position_columns(self, "");
    add(self, "); CREATE TABLE IF NOT EXISTS \"%s\"(\"%s\" INTEGER not null, \"%s\" INTEGER "
        "not null", s->edges_table, s->endpoints[0], s->endpoints[1]);
    add_attr_columns(self, s->edge_attrs, s->n_edge_attrs, "");
    add(self, ", PRIMARY KEY (\"%s\", \"%s\")); CREATE INDEX IF NOT EXISTS \"%s_v_index\" "
        "ON \"%s\"(\"%s\");", s->endpoints[0], s->endpoints[1], s->edges_table,
        s->edges_table, s->endpoints[1]);
    return exec(self, self->sql, err);
}

//  The spatial index, its grid and the triggers that keep it; filled from
//  the nodes in key order (appends, not random inserts).
//  The Morton table filled from the nodes: keys computed here, sorted,
//  and inserted in key order, so every insert appends to its B-tree.
typedef struct {
    uint64_t key;
    int64_t id;
    double p[DAISY_MAX_DIMS];
} zrow_t;

//  The order of rows[0..n) by key, stably (rows come in id order, so ties
//  stay in id order), into `order`: a radix sort of (key, index) pairs,
//  11 bits a pass, a pass skipped when every key has the same digit there
//  (keys of a small region share their high bits). qsort over the rows
//  took a fifth of a bulk load's end. -1 out of memory.
typedef struct {
    uint64_t key;
    size_t i;
} zorder_t;

#define RADIX_BITS 11

static int
sort_by_key(const zrow_t *rows, size_t n, zorder_t **order)
{
    zorder_t *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t *count = malloc(sizeof *count << RADIX_BITS);
    if (!a || !b || !count) {
        free(a);
        free(b);
        free(count);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (zorder_t){rows[i].key, i};
    size_t buckets = (size_t)1 << RADIX_BITS;
    for (unsigned shift = 0; shift < 64; shift += RADIX_BITS) {
        memset(count, 0, buckets * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(a[i].key >> shift) & (buckets - 1)]++;
        if (n == 0 || count[(a[0].key >> shift) & (buckets - 1)] == n)
            continue;
        for (size_t d = 0, sum = 0; d < buckets; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[count[(a[i].key >> shift) & (buckets - 1)]++] = a[i];
        zorder_t *swap = a;
        a = b;
        b = swap;
    }
    free(b);
    free(count);
    *order = a;
    return 0;
}

static int
fill_zindex(sq_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    sqlite3_stmt *st;
    snprintf(self->sql, sizeof self->sql, "SELECT id, ");
    add_position_columns(self, "");
    add(self, " FROM \"%s\" ORDER BY id", s->nodes_table);
    if (prepare(self, &st, err) != 0)
        return -1;
    zrow_t *rows = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            zrow_t *more = realloc(rows, (cap = cap ? 2 * cap : 65536) * sizeof *rows);
            if (!more)
                break;
            rows = more;
        }
        zrow_t *r = &rows[n++];
        r->id = sqlite3_column_int64(st, 0);
        for (uint32_t d = 0; d < s->dims; d++)
            r->p[d] = sqlite3_column_double(st, 1 + (int)d);
        r->key = zgrid_key(&self->grid, r->p);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        free(rows);
        return step == SQLITE_ROW ? daisy_error_set(err, "out of memory")
                                  : db_error(self, err, "reading the nodes");
    }
    zorder_t *order = NULL;
    if (sort_by_key(rows, n, &order) != 0) {
        free(rows);
        return daisy_error_set(err, "out of memory");
    }
    //  FILL_ROWS rows per statement: a row costs less than a statement.
    sqlite3_stmt *many = NULL, *one = NULL;
    int width = 2 + (int)s->dims, rc = 0;
    for (int k = 0; rc == 0 && k < 2; k++) {
        snprintf(self->sql, sizeof self->sql, "INSERT INTO \"%s_zindex\" VALUES ",
                 s->nodes_table);
        for (int r = 0; r < (k ? 1 : FILL_ROWS); r++) {
            add(self, r ? ", (?" : "(?");
            for (int c = 1; c < width; c++)
                add(self, ", ?");
            add(self, ")");
        }
        rc = prepare(self, k ? &one : &many, err);
    }
    for (size_t i = 0; rc == 0 && i < n;) {
        sqlite3_stmt *st1 = n - i >= FILL_ROWS ? many : one;
        int rows_here = st1 == many ? FILL_ROWS : 1;
        for (int r = 0; r < rows_here; r++, i++) {
            int col = 1 + r * width;
            //  Rows in key order are scattered over the array read in id
            //  order: fetched ahead, or each is a cache miss (a tenth of
            //  a bulk load's time at 10^6 nodes).
            if (i + FETCH_AHEAD < n)
                __builtin_prefetch(&rows[order[i + FETCH_AHEAD].i]);
            const zrow_t *row = &rows[order[i].i];
            sqlite3_bind_int64(st1, col, (int64_t)row->key);
            sqlite3_bind_int64(st1, col + 1, row->id);
            for (uint32_t d = 0; d < s->dims; d++)
                sqlite3_bind_double(st1, col + 2 + (int)d, row->p[d]);
        }
        if (sqlite3_step(st1) != SQLITE_DONE)
            rc = db_error(self, err, "filling the spatial index");
        sqlite3_reset(st1);
    }
    sqlite3_finalize(many);
    sqlite3_finalize(one);
    free(order);
    free(rows);
    return rc;
}

static int
create_zindex(sq_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    const char *n = s->nodes_table;
    enum { KEY = 8192, CELLS = 2048 };
    char *buf = malloc(KEY + 2 * CELLS), *sql = malloc(4 * SQL_MAX + 6 * KEY);
    if (!buf || !sql) {
        free(buf);
        free(sql);
        return daisy_error_set(err, "out of memory");
    }
    char *key = buf, *c_new = key + KEY, *c_old = c_new + CELLS;
    zgrid_sql_interleave(&self->grid, key, KEY);
    zgrid_sql_cells(&self->grid, "new.", s->position, c_new, CELLS);
    zgrid_sql_cells(&self->grid, "old.", s->position, c_old, CELLS);
    int used = sprintf(sql, "CREATE TABLE IF NOT EXISTS daisy_zindex(nodes_table TEXT PRIMARY "
                       "KEY, cell REAL, bits INTEGER, o0 REAL, o1 REAL, o2 REAL, o3 REAL, o4 REAL, "
                       "o5 REAL); INSERT OR REPLACE INTO daisy_zindex VALUES ('%s', %.17g, %u", n,
                       self->grid.cell, self->grid.bits);
    for (int d = 0; d < DAISY_MAX_DIMS; d++)
        used += sprintf(sql + used, ", %.17g", d < (int)s->dims ? self->grid.origin[d] : 0.0);
    used += sprintf(sql + used, "); DROP TABLE IF EXISTS \"%s_zindex\"; CREATE TABLE \"%s_zindex\""
                    "(key INTEGER NOT NULL, id INTEGER NOT NULL", n, n);
    char cols[1024] = "", newcols[1024] = "";
    for (uint32_t d = 0; d < s->dims; d++) {
        used += sprintf(sql + used, ", \"%s_%u\"", s->position, d);
        size_t c = strlen(cols), nc = strlen(newcols);
        snprintf(cols + c, sizeof cols - c, ", \"%s_%u\"", s->position, d);
        snprintf(newcols + nc, sizeof newcols - nc, ", new.\"%s_%u\"", s->position, d);
    }
    sprintf(sql + used, ", PRIMARY KEY (key, id)) WITHOUT ROWID;");
    int rc = exec(self, sql, err) || fill_zindex(self, err);
    used = 0;
    used += sprintf(sql + used, "CREATE TRIGGER IF NOT EXISTS \"%s_zindex_insert\" AFTER INSERT "
                    "ON \"%s\" BEGIN INSERT OR REPLACE INTO \"%s_zindex\" SELECT %s, new.id%s "
                    "FROM (SELECT %s); END; ", n, n, n, key, newcols, c_new);
    used += sprintf(sql + used, "CREATE TRIGGER IF NOT EXISTS \"%s_zindex_update\" AFTER UPDATE "
                    "ON \"%s\" BEGIN DELETE FROM \"%s_zindex\" WHERE key = (SELECT %s FROM "
                    "(SELECT %s)) AND id = old.id; INSERT OR REPLACE INTO \"%s_zindex\" SELECT "
                    "%s, new.id%s FROM (SELECT %s); END; ", n, n, n, key, c_old, n, key, newcols,
                    c_new);
    sprintf(sql + used, "CREATE TRIGGER IF NOT EXISTS \"%s_zindex_delete\" AFTER DELETE ON "
            "\"%s\" BEGIN DELETE FROM \"%s_zindex\" WHERE key = (SELECT %s FROM (SELECT %s)) "
            "AND id = old.id; END;", n, n, n, key, c_old);
    rc = rc || exec(self, sql, err);
    free(buf);
    free(sql);
    return rc;
}

//  The index is current when its insert trigger is there; its grid is read.
static bool
has_zindex(sq_t *self)
{
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "SELECT z.cell, z.bits, z.o0, z.o1, z.o2, z.o3, z.o4, "
             "z.o5 FROM sqlite_master AS m, daisy_zindex AS z WHERE m.type = 'trigger' AND "
             "m.name = '%s_zindex_insert' AND z.nodes_table = '%s'", s->nodes_table,
             s->nodes_table);
    sqlite3_stmt *st = NULL;
    bool yes = sqlite3_prepare_v2(self->db, self->sql, -1, &st, NULL) == SQLITE_OK
            && sqlite3_step(st) == SQLITE_ROW;
    if (yes) {
        self->grid.dims = s->dims;
        self->grid.cell = sqlite3_column_double(st, 0);
        self->grid.bits = (uint32_t)sqlite3_column_int(st, 1);
        for (uint32_t d = 0; d < s->dims; d++)
            self->grid.origin[d] = sqlite3_column_double(st, 2 + (int)d);
        yes = self->grid.cell > 0 && self->grid.bits >= 1 && self->grid.bits * s->dims <= 63;
    }
    sqlite3_finalize(st);
    return yes;
}

static int
drop_all(sq_t *self, daisy_error_t *err)
{
    char meta[PATH_MAX + 16];
    meta_path(self->base.name, meta, sizeof meta);
    unlink(meta);
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "DROP TABLE IF EXISTS \"%s\"; DROP TABLE IF EXISTS "
             "\"%s\"; DROP TABLE IF EXISTS \"%s_zindex\"; DROP TABLE IF EXISTS edge_index;",
             s->nodes_table, s->edges_table, s->nodes_table);
    return exec(self, self->sql, err);
}


//  Transactions ---------------------------------------------------------------

//  BEGIN IMMEDIATE takes the write lock up front; the busy timeout waits
//  for it, and a writer that still finds it busy tries again.
static int
begin(sq_t *self, daisy_error_t *err)
{
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            return 0;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries == 100)
            return db_error(self, err, "cannot start a write");
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

static int
finish(sq_t *self, int rc, daisy_error_t *err)
{
    if (rc == 0 && sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    if (rc == 0)
        db_error(self, err, "commit");
    sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

//  Open -----------------------------------------------------------------------

static daisy_graphdb_t *
sq_open(const char *path, daisy_graphdb_mode_t mode, daisy_error_t *err)
{
    sq_t *self = calloc(1, sizeof *self);
    if (!self || !(self->base.name = strdup(path))) {
        free(self);
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    int flags = mode == DAISY_GRAPHDB_READ ? SQLITE_OPEN_READONLY
              : mode == DAISY_GRAPHDB_OVERWRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                                : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(path, &self->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        daisy_error_set(err, "%s: cannot open: %s", path,
                        self->db ? sqlite3_errmsg(self->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS);
        //  Our statements' only (the file's schema cannot call them).
        sqlite3_create_function_v2(self->db, "daisy_take", -1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                                   self, take_inner, NULL, NULL, NULL);
        sqlite3_create_function_v2(self->db, "daisy_take_border", -1,
                                   SQLITE_UTF8 | SQLITE_DIRECTONLY, self, take_border, NULL,
                                   NULL, NULL);
        exec(self, "PRAGMA mmap_size=" MMAP_SIZE, NULL);
        if (mode == DAISY_GRAPHDB_READ || exec(self, "PRAGMA journal_mode=WAL", err) == 0)
            return &self->base;
    }
    sqlite3_close_v2(self->db);
    free(self->base.name);
    free(self);
    return NULL;
}

static void
sq_close(daisy_graphdb_t *base)
{
    sq_t *self = (sq_t *)base;
    sqlite3_close_v2(self->db);
    free(self);
}

static int
sq_create(daisy_graphdb_t *base, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    zgrid_default(&self->grid, S(self));
    if (drop_all(self, err) != 0 || create_tables(self, err) != 0
        || create_zindex(self, err) != 0 || write_meta(self, err) != 0)
        return -1;
    self->zindex = true;
    return 0;
}

//  A graph whose index is missing (funlib made or recreated its tables)
//  gets one when opened for writing; read-only, its reads compare columns.
static int
sq_attach(daisy_graphdb_t *base, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    self->zindex = has_zindex(self);
    if (self->zindex || self->base.mode != DAISY_GRAPHDB_READ_WRITE)
        return 0;
    zgrid_default(&self->grid, S(self));
    if (begin(self, err) != 0)
        return -1;
    if (finish(self, create_tables(self, err) || create_zindex(self, err), err) != 0)
        return -1;
    self->zindex = true;
    return 0;
}

//  Values ---------------------------------------------------------------------

//  Bind one attribute's value from column `*col` on; advances *col.
static int
bind_value(sqlite3_stmt *st, int *col, const daisy_attr_t *a, const daisy_value_t *v)
{
    uint32_t n = graphdb_width(a);
    for (uint32_t i = 0; i < n; i++, (*col)++) {
        int rc;
        if (!v || v->null || (a->size && v->n < a->size))
            rc = sqlite3_bind_null(st, *col);
        else if (a->type == DAISY_ATTR_STR)
            rc = sqlite3_bind_text(st, *col, v->v.s ? v->v.s : "", -1, SQLITE_STATIC);
        else if (a->type == DAISY_ATTR_FLOAT)
            rc = sqlite3_bind_double(st, *col, v->v.f[i]);
        else if (a->type == DAISY_ATTR_BOOL)
            rc = sqlite3_bind_int(st, *col, v->v.b[i] ? 1 : 0);
        else
            rc = sqlite3_bind_int64(st, *col, v->v.i[i]);
        if (rc != SQLITE_OK)
            return -1;
    }
    return 0;
}

//  Read one attribute's value from column `*col` on (INTEGER or REAL in a
//  float column: funlib binds Python ints as they are); advances *col.
static void
read_value(sqlite3_stmt *st, int *col, const daisy_attr_t *a, daisy_value_t *v)
{
    uint32_t n = graphdb_width(a);
    memset(v, 0, sizeof *v);
    v->n = n;
    for (uint32_t i = 0; i < n; i++, (*col)++) {
        if (sqlite3_column_type(st, *col) == SQLITE_NULL) {
            v->null = true;
            continue;
        }
        if (a->type == DAISY_ATTR_STR)
            v->v.s = (const char *)sqlite3_column_text(st, *col);
        else if (a->type == DAISY_ATTR_FLOAT)
            v->v.f[i] = sqlite3_column_double(st, *col);
        else if (a->type == DAISY_ATTR_BOOL)
            v->v.b[i] = sqlite3_column_int64(st, *col) != 0;
        else
            v->v.i[i] = sqlite3_column_int64(st, *col);
    }
}

//  "INSERT [OR IGNORE] INTO table (cols) VALUES (?, ...)[, (?, ...)]" with
//  `ncols` parameters a row and `rows` rows, after the column list already
//  in self->sql.
static void
add_values(sq_t *self, int ncols, int rows)
{
    add(self, ") VALUES ");
    for (int r = 0; r < rows; r++) {
        add(self, r ? ", (?" : "(?");
        for (int c = 1; c < ncols; c++)
            add(self, ", ?");
        add(self, ")");
    }
}

//  Writes ----------------------------------------------------------------------

//  Parameters per multi-row INSERT of nodes at most: a row through a
//  statement of 32 rows costs about a third less than a statement per
//  row (bulk loads append 10^6 nodes in 0.7 s one by one).
#define NODE_PARAMS 256

//  Node `node`'s parameters from *col on.
static int
bind_node(sq_t *self, sqlite3_stmt *st, int *col, const daisy_node_t *node)
{
    const daisy_graph_schema_t *s = S(self);
    sqlite3_bind_int64(st, (*col)++, (int64_t)node->id);
    for (uint32_t d = 0; d < s->dims; d++, (*col)++)
        if (s->position_type == DAISY_ATTR_INT)
            sqlite3_bind_int64(st, *col, (int64_t)node->position[d]);
        else
            sqlite3_bind_double(st, *col, node->position[d]);
    for (size_t i = 0; i < s->n_node_attrs; i++)
        if (bind_value(st, col, &s->node_attrs[i], node->attrs ? &node->attrs[i] : NULL) != 0)
            return -1;
    return 0;
}

//  Step an INSERT of `n` nodes (`rows` of them, bound). A constraint
//  failure of a multi-row statement (which leaves none of its rows) is
//  looked for row by row through `one`, to name the node.
static int
step_nodes(sq_t *self, sqlite3_stmt *st, sqlite3_stmt *one, const daisy_node_t *const *rows,
           int n, daisy_error_t *err)
{
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        return 0;
    if (step != SQLITE_CONSTRAINT)
        return db_error(self, err, "writing nodes");
    if (n == 1)
        return daisy_error_set(err, "%s: node %llu exists (fail_if_exists)", self->base.name,
                               (unsigned long long)rows[0]->id);
    for (int r = 0; r < n; r++) {
        int col = 1;
        if (bind_node(self, one, &col, rows[r]) != 0)
            return db_error(self, err, "binding a node");
        if (step_nodes(self, one, one, &rows[r], 1, err) != 0)
            return -1;
    }
    return db_error(self, err, "writing nodes");
}

//  The INSERT statement of `rows` nodes.
static int
prepare_node_insert(sq_t *self, bool fail_if_exists, int ncols, int rows, sqlite3_stmt **st,
                    daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "INSERT%s INTO \"%s\" (id, ",
             fail_if_exists ? "" : " OR IGNORE", s->nodes_table);
    add_position_columns(self, "");
    add_attr_columns(self, s->node_attrs, s->n_node_attrs, "");
    add_values(self, ncols, rows);
    return prepare(self, st, err);
}

static int
insert_nodes(sq_t *self, const daisy_node_t *nodes, size_t n, const daisy_roi_t *roi,
             bool fail_if_exists, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    int ncols = 1 + (int)s->dims;
    for (size_t i = 0; i < s->n_node_attrs; i++)
        ncols += (int)graphdb_width(&s->node_attrs[i]);
    int per = NODE_PARAMS / ncols < 1 ? 1 : NODE_PARAMS / ncols > 32 ? 32 : NODE_PARAMS / ncols;
    sqlite3_stmt *many = NULL, *one = NULL;
    int rc = prepare_node_insert(self, fail_if_exists, ncols, 1, &one, err);
    if (rc == 0 && per > 1 && n >= (size_t)per)
        rc = prepare_node_insert(self, fail_if_exists, ncols, per, &many, err);
    const daisy_node_t *rows[32];
    int got = 0;
    for (size_t k = 0; rc == 0 && k <= n; k++) {
        //  Rows gathered until a statement's worth, or the end.
        if (k < n && graphdb_write_inside(roi, nodes[k].position, s->dims))
            rows[got++] = &nodes[k];
        if (got == 0 || (got < per && k < n))
            continue;
        sqlite3_stmt *st = got == per && many ? many : one;
        int batch = st == many ? per : 1;
        for (int r = 0; rc == 0 && r + batch <= got; r += batch) {
            int col = 1;
            for (int b = 0; rc == 0 && b < batch; b++)
                rc = bind_node(self, st, &col, rows[r + b]);
            rc = rc ? db_error(self, err, "binding a node")
                    : step_nodes(self, st, one, &rows[r], batch, err);
        }
        got = 0;
    }
    sqlite3_finalize(many);
    sqlite3_finalize(one);
    return rc;
}

static int
sq_write_nodes(daisy_graphdb_t *base, const daisy_node_t *nodes, size_t n,
               const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    if (begin(self, err) != 0)
        return -1;
    return finish(self, insert_nodes(self, nodes, n, roi, fail_if_exists, err), err);
}

//  Bulk loading: pos_index and the spatial index's insert trigger go, rows
//  are appended alone, and at the end both indexes are built again, by
//  sorting (CREATE INDEX, and the Morton table filled in key order) rather
//  than by one random insert per row.
static int
sq_bulk_begin(daisy_graphdb_t *base, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    snprintf(self->sql, sizeof self->sql, "DROP INDEX IF EXISTS pos_index; DROP TRIGGER IF "
             "EXISTS \"%s_zindex_insert\"; DROP TRIGGER IF EXISTS \"%s_zindex_update\"; "
             "DROP TRIGGER IF EXISTS \"%s_zindex_delete\";", S(self)->nodes_table,
             S(self)->nodes_table, S(self)->nodes_table);
    if (begin(self, err) != 0 || finish(self, exec(self, self->sql, err), err) != 0)
        return -1;
    exec(self, "PRAGMA synchronous=OFF", NULL);
    //  A rollback journal while the load lasts: pages appended to the file
    //  need no journal, where WAL writes each page twice (into the WAL,
    //  then into the file at the checkpoint): 164 MB written for 10^6
    //  nodes instead of 248 MB. It needs the only connection to the file;
    //  with others there the load stays in WAL. Readers then wait for a
    //  commit. A crash leaves a hot journal that the next connection rolls
    //  back, as WAL would: the batches committed before it stay.
    exec(self, "PRAGMA journal_mode=TRUNCATE", NULL);
    //  CREATE INDEX sorts with a helper thread (pos_index builds in about
    //  half the time on two cores).
    exec(self, "PRAGMA threads=2", NULL);
    self->zindex = false;       //  reads meanwhile compare columns
    return 0;
}

static int
sq_bulk_end(daisy_graphdb_t *base, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    if (begin(self, err) != 0
        || finish(self, create_tables(self, err) || create_zindex(self, err), err) != 0)
        return -1;
    exec(self, "PRAGMA journal_mode=WAL", NULL);
    exec(self, "PRAGMA synchronous=FULL", NULL);
    self->zindex = true;
    return 0;
}

//  The position of node `id`: 1 found, 0 not there, -1 error.
static int
node_position(sq_t *self, sqlite3_stmt *st, uint64_t id, double *p)
{
    sqlite3_bind_int64(st, 1, (int64_t)id);
    int step = sqlite3_step(st);
    for (uint32_t d = 0; step == SQLITE_ROW && d < S(self)->dims; d++)
        p[d] = sqlite3_column_double(st, (int)d);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

static int
insert_edges(sq_t *self, const daisy_edge_t *edges, size_t n, const daisy_roi_t *roi,
             bool fail_if_exists, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    sqlite3_stmt *st = NULL, *pos = NULL;
    snprintf(self->sql, sizeof self->sql, "SELECT ");
    add_position_columns(self, "");
    add(self, " FROM \"%s\" WHERE id = ?", s->nodes_table);
    if (roi && prepare(self, &pos, err) != 0)
        return -1;
    snprintf(self->sql, sizeof self->sql, "INSERT%s INTO \"%s\" (\"%s\", \"%s\"",
             fail_if_exists ? "" : " OR IGNORE", s->edges_table, s->endpoints[0],
             s->endpoints[1]);
    add_attr_columns(self, s->edge_attrs, s->n_edge_attrs, "");
    int ncols = 2;
    for (size_t i = 0; i < s->n_edge_attrs; i++)
        ncols += (int)graphdb_width(&s->edge_attrs[i]);
    add_values(self, ncols, 1);
    int rc = prepare(self, &st, err);
    for (size_t k = 0; rc == 0 && k < n; k++) {
        uint64_t u, v;
        graphdb_endpoints(s, &edges[k], &u, &v);
        double p[DAISY_MAX_DIMS];
        int found = roi ? node_position(self, pos, u, p) : 1;
        if (found < 0)
            rc = db_error(self, err, "reading a node's position");
        if (found <= 0 || !graphdb_write_inside(roi, p, s->dims))
            continue;
        int col = 1;
        sqlite3_bind_int64(st, col++, (int64_t)u);
        sqlite3_bind_int64(st, col++, (int64_t)v);
        for (size_t i = 0; i < s->n_edge_attrs && rc == 0; i++)
            rc = bind_value(st, &col, &s->edge_attrs[i], edges[k].attrs ? &edges[k].attrs[i]
                                                                         : NULL);
        int step = sqlite3_step(st);
        if (step == SQLITE_CONSTRAINT)
            rc = daisy_error_set(err, "%s: edge (%llu, %llu) exists (fail_if_exists)",
                                 self->base.name, (unsigned long long)u, (unsigned long long)v);
        else if (step != SQLITE_DONE)
            rc = db_error(self, err, "writing edges");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(pos);
    return rc;
}

static int
sq_write_edges(daisy_graphdb_t *base, const daisy_edge_t *edges, size_t n,
               const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    if (begin(self, err) != 0)
        return -1;
    return finish(self, insert_edges(self, edges, n, roi, fail_if_exists, err), err);
}

//  UPDATE table SET cols = ? ... WHERE key = ?, for attributes idx[0..k).
static void
update_sql(sq_t *self, bool edges, const int *idx, size_t k)
{
    const daisy_graph_schema_t *s = S(self);
    const daisy_attr_t *attrs = edges ? s->edge_attrs : s->node_attrs;
    snprintf(self->sql, sizeof self->sql, "UPDATE \"%s\" SET ",
             edges ? s->edges_table : s->nodes_table);
    for (size_t j = 0; j < k; j++) {
        const daisy_attr_t *a = &attrs[idx[j]];
        for (uint32_t c = 0; c < graphdb_width(a); c++) {
            char col[96];
            snprintf(col, sizeof col, a->size ? "%s_%u" : "%s", a->name, c);
            add(self, "%s\"%s\" = ?", j || c ? ", " : "", col);
        }
    }
    if (edges)
        add(self, " WHERE \"%s\" = ? AND \"%s\" = ?", s->endpoints[0], s->endpoints[1]);
    else
        add(self, " WHERE id = ?");
}

static int
update_rows(sq_t *self, bool edges, const void *rows, size_t n, const int *idx, size_t k,
            daisy_error_t *err)
{
    sqlite3_stmt *st;
    update_sql(self, edges, idx, k);
    if (prepare(self, &st, err) != 0)
        return -1;
    const daisy_graph_schema_t *s = S(self);
    int rc = 0;
    for (size_t r = 0; rc == 0 && r < n; r++) {
        const daisy_edge_t *e = edges ? &((const daisy_edge_t *)rows)[r] : NULL;
        const daisy_node_t *v = edges ? NULL : &((const daisy_node_t *)rows)[r];
        const daisy_value_t *values = edges ? e->attrs : v->attrs;
        int col = 1;
        for (size_t j = 0; j < k && rc == 0; j++)
            rc = bind_value(st, &col, edges ? &s->edge_attrs[idx[j]] : &s->node_attrs[idx[j]],
                            values ? &values[idx[j]] : NULL);
        if (edges) {
            uint64_t a, b;
            graphdb_endpoints(s, e, &a, &b);
            sqlite3_bind_int64(st, col++, (int64_t)a);
            sqlite3_bind_int64(st, col, (int64_t)b);
        } else
            sqlite3_bind_int64(st, col, (int64_t)v->id);
        if (rc == 0 && sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(self, err, "updating attributes");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int
sq_update(daisy_graphdb_t *base, bool edges, const void *rows, size_t n, const int *idx,
          size_t k, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    if (begin(self, err) != 0)
        return -1;
    return finish(self, update_rows(self, edges, rows, n, idx, k, err), err);
}

//  Reads ----------------------------------------------------------------------

//  Parameters of a ROI read: ?1 and ?2 the key ranges inside the ROI and
//  on its border (when the spatial index serves), then begin and end per
//  dimension; the next is the first of the filters.
static int
params_after_roi(const sq_t *self, const daisy_roi_t *roi)
{
    return 1 + (roi && self->zindex ? 2 : 0) + (roi ? 2 * (int)S(self)->dims : 0);
}

//  " AND alias.P_d >= ?i AND alias.P_d < ?i+1 ..." from parameter `first` on.
static void
add_exact(sq_t *self, const daisy_roi_t *roi, const char *alias, int first)
{
    const daisy_graph_schema_t *s = S(self);
    for (uint32_t d = 0; roi && d < s->dims; d++)
        add(self, " AND %s.\"%s_%u\" >= ?%u AND %s.\"%s_%u\" < ?%u", alias, s->position, d,
            first + 2 * d, alias, s->position, d, first + 2 * d + 1);
}

//  "SELECT <cols> ... <tail>": the nodes of a ROI as `n` (the spatial
//  index's rows with only positions, unless `attrs`: then the nodes rows),
//  `tail` a condition on them. Through the spatial index: its key ranges,
//  a range scan each, the nodes of ranges on the ROI's border tested
//  against it (those inside need no test), and a nodes row looked up only
//  for what passed. Each set of ranges is one parameter, a JSON array of
//  [first, last] pairs that json_each() turns into the table driving the
//  scans: the statement's text does not grow with the ranges, no OR makes
//  SQLite gather and deduplicate keys, and one statement reads them all
//  (a statement per range would begin a read transaction each).
static void
add_node_query(sq_t *self, const daisy_roi_t *roi, bool attrs, const char *cols,
               const char *tail)
{
    const daisy_graph_schema_t *s = S(self);
    self->nranges = 0;
    if (!roi || !self->zindex) {
        add(self, "SELECT %s FROM \"%s\" AS n WHERE 1", cols, s->nodes_table);
        add_exact(self, roi, "n", 1);
        add(self, "%s", tail);
        return;
    }
    self->nranges = zgrid_ranges(&self->grid, roi, self->ranges, SQ_MAX_RANGES);
    const char *pos = attrs ? "z" : "n";
    for (int border = 0; border < 2; border++) {
        add(self, "%sSELECT %s FROM json_each(?%d) AS r CROSS JOIN \"%s_zindex\" AS %s",
            border ? " UNION ALL " : "", cols, 1 + border, s->nodes_table, pos);
        if (attrs)
            add(self, " CROSS JOIN \"%s\" AS n ON n.id = z.id", s->nodes_table);
        add(self, " WHERE %s.key BETWEEN json_extract(r.value, '$[0]') AND "
            "json_extract(r.value, '$[1]')", pos);
        if (border)
            add_exact(self, roi, pos, 3);
        add(self, "%s", tail);
    }
}

//  The ranges of one kind as JSON, "[[first,last],...]" (NULL: out of memory).
static char *
ranges_json(const sq_t *self, bool inside)
{
    char *json = malloc(self->nranges * 44 + 3), *at = json;
    if (!json)
        return NULL;
    *at++ = '[';
    for (size_t i = 0; i < self->nranges; i++)
        if (self->ranges[i].inside == inside)
            at += sprintf(at, "%s[%" PRIu64 ",%" PRIu64 "]", at[-1] == '[' ? "" : ",",
                          self->ranges[i].lo, self->ranges[i].hi > INT64_MAX
                                              ? (uint64_t)INT64_MAX : self->ranges[i].hi);
    strcpy(at, "]");
    return json;
}

//  The key ranges as parameters *col and *col + 1 (inside the ROI, on
//  its border): 0, or -1 out of memory.
static int
bind_ranges(const sq_t *self, sqlite3_stmt *st, int *col)
{
    for (int border = 0; border < 2; border++) {
        char *json = ranges_json(self, !border);
        if (!json)
            return -1;
        sqlite3_bind_text(st, (*col)++, json, -1, free);
    }
    return 0;
}

//  The parameters of add_node_query: 0, or -1 out of memory.
static int
bind_roi(sq_t *self, sqlite3_stmt *st, const daisy_roi_t *roi)
{
    int col = 1;
    if (roi && self->zindex && bind_ranges(self, st, &col) != 0)
        return -1;
    //  As the columns' type: SQLite compares a REAL with an INTEGER slowly.
    bool ints = S(self)->position_type == DAISY_ATTR_INT;
    for (uint32_t d = 0; roi && d < S(self)->dims; d++)
        for (int end = 0; end < 2; end++) {
            int64_t v = roi->offset[d] + (end ? roi->shape[d] : 0);
            if (ints)
                sqlite3_bind_int64(st, col++, v);
            else
                sqlite3_bind_double(st, col++, (double)v);
        }
    return 0;
}

//  " AND alias.col = ?N ..." for each filter (IS NULL for a missing
//  value), numbered from `first` on, as bind_filters binds them.
static void
add_filters(sq_t *self, const daisy_attr_t *attrs, const char *alias, const graphdb_filters_t *f,
            int first)
{
    for (size_t j = 0; j < f->n; j++) {
        const daisy_attr_t *a = &attrs[f->idx[j]];
        for (uint32_t c = 0; c < graphdb_width(a); c++) {
            char col[128];
            snprintf(col, sizeof col, a->size ? "%s.\"%s_%u\"" : "%s.\"%s\"", alias, a->name, c);
            if (f->f[j].value.null)
                add(self, " AND %s IS NULL", col);
            else
                add(self, " AND %s = ?%d", col, first++);
        }
    }
}

//  What add() appended after `mark`, moved out of self->sql into a new
//  string (NULL: out of memory).
static char *
cut(sq_t *self, size_t mark)
{
    char *text = strdup(self->sql + mark);
    self->sql[mark] = '\0';
    return text;
}

static int
bind_filters(sqlite3_stmt *st, int first, const daisy_attr_t *attrs, const graphdb_filters_t *f)
{
    int col = first;
    for (size_t j = 0; j < f->n; j++)
        if (!f->f[j].value.null && bind_value(st, &col, &attrs[f->idx[j]], &f->f[j].value) != 0)
            return -1;
    return 0;
}

static void
sq_iter_destroy(daisy_graph_iter_t *base)
{
    sqlite3_finalize(((sq_iter_t *)base)->stmt);
    free(((sq_iter_t *)base)->take);
    free(base);
}

//  Positions-only ROI reads ---------------------------------------------------

//  SQL's `P >= begin AND P < end` for component d of the ROI: NULL, text
//  and blobs fail it (they sort after every number), an integer compares
//  exactly, a real against the bounds as doubles (exact below 2^53).
static bool
take_inside(const sq_iter_t *it, uint32_t d, sqlite3_value *v)
{
    int type = sqlite3_value_type(v);
    if (type == SQLITE_INTEGER) {
        int64_t i = sqlite3_value_int64(v);
        return i >= it->roi_lo[d] && i < it->roi_hi[d];
    }
    double f = sqlite3_value_double(v);
    return type == SQLITE_FLOAT && f >= (double)it->roi_lo[d] && f < (double)it->roi_hi[d];
}

//  daisy_take(id, P_0, ...) and daisy_take_border(id, P_0, ...), called
//  by a positions-only ROI read for each row of its key ranges instead of
//  returning the row: a row returned costs SQLite about twice the call
//  (the step, a column call per value), and the ROI test of a border
//  range's rows is C's, not six comparisons in SQL. The node goes into
//  the chunk of the iterator being stepped (the connection's `taking`: a
//  connection is stepped by one caller at a time) when it lies in the ROI
//  (rows of ranges inside the ROI are not tested); the call is true, and
//  the statement returns a row, only when the chunk is full, for sq_next
//  to hand it out before the next step.
static void
take(sqlite3_context *ctx, int argc, sqlite3_value **argv, bool border)
{
    sq_iter_t *it = ((sq_t *)sqlite3_user_data(ctx))->taking;
    uint32_t dims = (uint32_t)argc - 1;
    if (!it || argc < 1 || dims > DAISY_MAX_DIMS || it->n == TAKE_CHUNK) {
        sqlite3_result_error(ctx, "daisy_take: not a read of ours", -1);
        return;
    }
    sq_node_t *node = &it->take[it->n];
    for (uint32_t d = 0; d < dims; d++) {
        if (border && !take_inside(it, d, argv[1 + d])) {
            sqlite3_result_int(ctx, 0);
            return;
        }
        node->p[d] = sqlite3_value_double(argv[1 + d]);
    }
    node->id = (uint64_t)sqlite3_value_int64(argv[0]);
    sqlite3_result_int(ctx, ++it->n == TAKE_CHUNK);
}

static void
take_inner(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    take(ctx, argc, argv, false);
}

static void
take_border(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    take(ctx, argc, argv, true);
}

//  add_node_query's scans with nothing returned but full chunks: ?1 and
//  ?2 the key ranges.
static void
add_take_query(sq_t *self, const daisy_roi_t *roi)
{
    const daisy_graph_schema_t *s = S(self);
    self->nranges = zgrid_ranges(&self->grid, roi, self->ranges, SQ_MAX_RANGES);
    self->sql[0] = '\0';
    for (int border = 0; border < 2; border++) {
        add(self, "%sSELECT 1 FROM json_each(?%d) AS r CROSS JOIN \"%s_zindex\" AS z WHERE "
            "z.key BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]') "
            "AND daisy_take%s(z.id, ", border ? " UNION ALL " : "", 1 + border,
            s->nodes_table, border ? "_border" : "");
        add_position_columns(self, "z.");
        add(self, ")");
    }
}

static daisy_graph_iter_t *
take_iter_new(sq_t *self, const daisy_roi_t *roi, daisy_error_t *err)
{
    sq_iter_t *it = calloc(1, sizeof *it);
    if (!it || !(it->take = malloc(TAKE_CHUNK * sizeof *it->take))) {
        free(it);
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    it->base.db = &self->base;
    for (uint32_t d = 0; d < S(self)->dims; d++) {
        it->roi_lo[d] = roi->offset[d];
        it->roi_hi[d] = roi->offset[d] + roi->shape[d];
    }
    add_take_query(self, roi);
    int col = 1;
    if (prepare(self, &it->stmt, err) != 0) {
        sq_iter_destroy(&it->base);
        return NULL;
    }
    if (bind_ranges(self, it->stmt, &col) != 0) {
        db_error(self, err, "binding parameters");
        sq_iter_destroy(&it->base);
        return NULL;
    }
    return &it->base;
}

//  The next node of the chunk, the statement stepped for the next chunk
//  when it is used up: 1, 0 at the end, -1.
static int
take_next(sq_iter_t *it, daisy_node_t *node, daisy_error_t *err)
{
    while (it->next == it->n) {
        if (it->done)
            return 0;
        it->n = it->next = 0;
        sq_t *self = (sq_t *)it->base.db;
        self->taking = it;
        int step = sqlite3_step(it->stmt);
        self->taking = NULL;
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            return db_error((sq_t *)it->base.db, err, "reading");
        it->done = step == SQLITE_DONE;
    }
    const sq_node_t *t = &it->take[it->next++];
    node->id = t->id;
    memcpy(node->position, t->p, it->base.db->schema.pub.dims * sizeof *t->p);
    return 1;
}

//  An iterator over the statement in self->sql, its ROI and filters bound.
static daisy_graph_iter_t *
iter_new(sq_t *self, bool edges, const daisy_roi_t *roi, const graphdb_filters_t *f,
         daisy_error_t *err)
{
    sq_iter_t *it = calloc(1, sizeof *it);
    if (!it) {
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    it->base.db = &self->base;
    it->base.edges = edges;
    const daisy_graph_schema_t *s = S(self);
    if (prepare(self, &it->stmt, err) != 0) {
        free(it);
        return NULL;
    }
    if (bind_roi(self, it->stmt, roi) != 0
        || bind_filters(it->stmt, params_after_roi(self, roi),
                        edges ? s->edge_attrs : s->node_attrs, f) != 0) {
        db_error(self, err, "binding parameters");
        sqlite3_finalize(it->stmt);
        free(it);
        return NULL;
    }
    return &it->base;
}

static daisy_graph_iter_t *
sq_nodes(daisy_graphdb_t *base, const daisy_roi_t *roi, const graphdb_filters_t *f,
         daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    const daisy_graph_schema_t *s = S(self);
    if (roi && self->zindex && s->n_node_attrs == 0 && f->n == 0)
        return take_iter_new(self, roi, err);
    snprintf(self->sql, sizeof self->sql, "n.id, ");
    add_position_columns(self, "n.");
    add_attr_columns(self, s->node_attrs, s->n_node_attrs, "n.");
    char *cols = cut(self, 0);
    add_filters(self, s->node_attrs, "n", f, params_after_roi(self, roi));
    char *tail = cut(self, 0);
    if (cols && tail)
        add_node_query(self, roi, s->n_node_attrs > 0 || f->n > 0, cols, tail);
    free(cols);
    free(tail);
    if (!cols || !tail) {
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    return iter_new(self, false, roi, f, err);
}

static daisy_graph_iter_t *
sq_edges(daisy_graphdb_t *base, const daisy_roi_t *roi, bool fetch_on_v,
         const graphdb_filters_t *f, daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "SELECT e.\"%s\", e.\"%s\"", s->endpoints[0],
             s->endpoints[1]);
    add_attr_columns(self, s->edge_attrs, s->n_edge_attrs, "e.");
    add(self, " FROM \"%s\" AS e WHERE 1", s->edges_table);
    if (roi) {
        //  The ROI's node ids once, then edges by u (the primary key) or v
        //  (its own index).
        add(self, " AND (e.\"%s\" IN (", s->endpoints[0]);
        add_node_query(self, roi, false, "n.id", "");
        add(self, ")");
        if (fetch_on_v) {
            add(self, " OR e.\"%s\" IN (", s->endpoints[1]);
            add_node_query(self, roi, false, "n.id", "");
            add(self, ")");
        }
        add(self, ")");
    }
    add_filters(self, s->edge_attrs, "e", f, params_after_roi(self, roi));
    return iter_new(self, true, roi, f, err);
}

static int
sq_next(daisy_graph_iter_t *base, daisy_node_t *node, daisy_edge_t *edge, daisy_error_t *err)
{
    sq_iter_t *it = (sq_iter_t *)base;
    if (it->take)
        return take_next(it, node, err);
    int step = sqlite3_step(it->stmt);
    if (step != SQLITE_ROW)
        return step == SQLITE_DONE ? 0 : db_error((sq_t *)base->db, err, "reading");
    const daisy_graph_schema_t *s = &base->db->schema.pub;
    int col;
    if (node) {
        node->id = (uint64_t)sqlite3_column_int64(it->stmt, 0);
        for (col = 1; col <= (int)s->dims; col++)
            node->position[col - 1] = sqlite3_column_double(it->stmt, col);
        for (size_t i = 0; i < s->n_node_attrs; i++)
            read_value(it->stmt, &col, &s->node_attrs[i], &base->values[i]);
    } else {
        edge->u = (uint64_t)sqlite3_column_int64(it->stmt, 0);
        edge->v = (uint64_t)sqlite3_column_int64(it->stmt, 1);
        col = 2;
        for (size_t i = 0; i < s->n_edge_attrs; i++)
            read_value(it->stmt, &col, &s->edge_attrs[i], &base->values[i]);
    }
    return 1;
}


static int
sq_count_nodes(daisy_graphdb_t *base, const daisy_roi_t *roi, uint64_t *count,
               daisy_error_t *err)
{
    sq_t *self = (sq_t *)base;
    snprintf(self->sql, sizeof self->sql, "SELECT count(*) FROM (");
    add_node_query(self, roi, false, "n.id", "");
    add(self, ")");
    sqlite3_stmt *st;
    if (prepare(self, &st, err) != 0)
        return -1;
    int rc = bind_roi(self, st, roi) == 0 && sqlite3_step(st) == SQLITE_ROW
           ? 0 : db_error(self, err, "counting nodes");
    if (rc == 0)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

const graphdb_backend_t graphdb_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .load_meta = load_meta,
    .create = sq_create,
    .attach = sq_attach,
    .write_nodes = sq_write_nodes,
    .write_edges = sq_write_edges,
    .update = sq_update,
    .bulk_begin = sq_bulk_begin,
    .bulk_end = sq_bulk_end,
    .nodes = sq_nodes,
    .edges = sq_edges,
    .next = sq_next,
    .iter_destroy = sq_iter_destroy,
    .count_nodes = sq_count_nodes,
};
