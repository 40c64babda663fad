/*  postgresql.c - the graph database on a PostgreSQL server, funlib's layout

    For many hosts: workers anywhere write the nodes and edges of their
    blocks into one server. Tables as funlib.persistence's PgSQLGraphDatabase
    creates them: nodes(id BIGINT PRIMARY KEY, position TYPE[dims], one
    column per attribute, a vector one array column), edges(u, v, ...,
    PRIMARY KEY (u, v)), and its metadata JSON in a table `metadata(value)`.
    Identifiers are quoted in lower case, which is what funlib's unquoted
    names fold to. Floats are DOUBLE PRECISION here (funlib makes REAL,
    float4; it reads and writes both). funlib's pos_index, a B-tree on the
    position array, is not made: no query of funlib's or ours can use it.

    Beyond funlib, a spatial index: one more column, daisy_zkey, the
    Morton code of the node's cell on a grid (zindex.c; the grid in table
    daisy_zindex), computed here as rows are written and indexed by a
    B-tree; a ROI is read as at most ZGRID_MAX_RANGES key ranges, then the
    exact begin <= p < end. funlib reads and writes named columns, so the
    column is invisible to it; rows it writes have no key, are read by
    every ROI query (still exactly), and get their key the next time daisy
    opens the graph for writing. Why not a GiST index (the `cube`
    extension): building it over 10^6 nodes took 14.7 s on the test
    machine, against 1.3 s to COPY them, and kept bulk loads under 70,000
    nodes/s; a B-tree on a key computed in C builds by sorting. An index on
    v serves fetch_on_v. Every value travels as a parameter or through COPY.

    Writes: a batch is one transaction. The rows go by COPY (text format),
    straight into the table when the write must fail on an existing row
    (fail_if_exists: a duplicate aborts all of it), else into a temporary
    staging table and from there INSERT ... ON CONFLICT DO NOTHING; edges
    kept to a ROI join their u node's stored position there. A transaction
    the server aborts for a transient conflict (serialization failure,
    deadlock) is retried whole, so concurrent blockwise writers never fail
    a block for one.

    Reads: a cursor WITH HOLD (the server keeps the result; writes may go
    on meanwhile on the same connection), fetched a page of rows at a time.

    Many processes open one graph at once (the workers of a run starting):
    whatever changes the graph's tables on opening (OVERWRITE creating
    them, READ_WRITE adding or completing the spatial key) is one
    transaction that first takes an advisory lock of the database's
    (GRAPH_LOCK), so they take turns, and each finds what the one before
    it made; DDL alone would not do, as two CREATE TABLE IF NOT EXISTS at
    once fail on the catalog's unique index. Reading the metadata takes
    the lock shared: never from a graph half made. A database two create
    at once is taken as made by the one that loses.

    A lost connection (the server restarted, the backend was terminated)
    is found when a call fails with the connection marked bad; the handle
    connects again (PQreset: the same parameters and connect timeout) and
    sets the new session up as the first, then runs the call once more
    where that is safe: a statement outside a transaction, or a
    transaction whole (the server rolled it back when its session ended).
    Not run again: a transaction lost at its COMMIT (it may have been
    stored) unless running it twice stores what once does; a batch of a
    bulk load, whose earlier batches' asynchronous commits may have gone
    with the server, so that the load fails, and fails again until
    bulk_end; a read, whose cursor the session took along. The handle
    serves later calls either way.
*/
#include "graphdb_internal.h"

#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX 16384
#define FETCH_ROWS 2048
#define COPY_FLUSH (1 << 20)
#define RETRIES 20
//  Connecting (again) gives up after this many seconds, unless the URL
//  says otherwise (?connect_timeout=).
#define CONNECT_TIMEOUT "10"
//  Why a bulk load whose connection was lost does not go on.
#define LOAD_LOST "the batches before may be lost with the server (the commits of a bulk " \
    "load do not wait for the disk), so the load does not go on: end it (bulk_end rebuilds " \
    "the indexes) and load again"
//  Parameters of one statement, at most, and the text of each.
#define MAX_PARAMS (4 * DAISY_MAX_DIMS + 4 + DAISY_GRAPH_MAX_ATTRS)
#define PARAM_MAX (DAISY_GRAPH_MAX_VEC * 26 + 4)

typedef struct {
    daisy_graphdb_t base;       //  base.name: the URL, its password hidden
    PGconn *conn;
    bool zkey;                  //  the key column, its index and grid exist: reads use them
    zgrid_t grid;
    bool staging;               //  the staging tables exist (this session)
    unsigned session;           //  sessions that were lost (reconnect)
    bool load_lost;             //  ... and one during this bulk load
    unsigned cursors;           //  names handed out
    char sql[SQL_MAX];
    char *copy;                 //  COPY data not yet sent
    size_t copy_len, copy_cap;
    char ranges_text[2][ZGRID_MAX_RANGES * 21 + 4];     //  key ranges: lows, highs
    const char *params[MAX_PARAMS];
    char param_text[MAX_PARAMS][PARAM_MAX];
    int nparams;
} pg_t;

typedef struct {
    daisy_graph_iter_t base;
    char cursor[32];
    unsigned session;           //  the cursor's: a lost session took it along
    PGresult *page;
    int row, rows;
    bool done;
} pg_iter_t;

static const daisy_graph_schema_t *
S(const pg_t *self)
{
    return &self->base.schema.pub;
}

//  SQL text and errors -----------------------------------------------------------

static void add(pg_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(pg_t *self, const char *fmt, ...)
{
    size_t used = strlen(self->sql);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->sql + used, sizeof self->sql - used, fmt, ap);
    va_end(ap);
}

//  A name as funlib's unquoted one ends up: folded to lower case, quoted
//  (names are identifiers already: schema.c).
static const char *
ident(const char *name, char *buf, size_t size)
{
    size_t i = 0;
    buf[i++] = '"';
    for (; *name && i + 2 < size; name++)
        buf[i++] = (char)tolower((unsigned char)*name);
    buf[i++] = '"';
    buf[i] = '\0';
    return buf;
}

#define ID(name) ident((name), (char[80]){0}, 80)

//  libpq marks a connection lost (the server restarted, the backend was
//  terminated) when a call on it failed.
static bool
lost(const pg_t *self)
{
    return PQstatus(self->conn) == CONNECTION_BAD;
}

//  "NAME: what: the connection to the server was lost (libpq's reason)".
static int
lost_error(pg_t *self, daisy_error_t *err, const char *what)
{
    const char *why = PQerrorMessage(self->conn);
    int len = (int)strcspn(why, "\n");
    return daisy_error_set(err, "%s: %s: the connection to the server was lost (%.*s)",
                           self->base.name, what, len ? len : 9, len ? why : "no reason");
}

//  More text after the message in err.
static int append(daisy_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
append(daisy_error_t *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    size_t used = strlen(err->msg);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + used, sizeof err->msg - used, fmt, ap);
    va_end(ap);
    return -1;
}

//  The server's message, one line, after `what`.
static int
pg_error(pg_t *self, daisy_error_t *err, const char *what, const PGresult *res)
{
    if (lost(self))
        return lost_error(self, err, what);
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(self->conn);
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    int len = (int)strcspn(msg, "\n");
    return daisy_error_set(err, "%s: %s: %.*s%s%s%s", self->base.name, what, len, msg,
                           detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
}

static bool
transient(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

static bool
sqlstate(const PGresult *res, const char *state)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, state) == 0;
}

//  Run self->sql (or `sql`) with the parameters gathered; the result, or
//  NULL with the message (and *res_out the failed result when asked).
static PGresult *
run(pg_t *self, const char *sql, daisy_error_t *err, const char *what, PGresult **failed)
{
    //  Without parameters the simple protocol, which runs several
    //  statements in one go.
    PGresult *res = self->nparams
                  ? PQexecParams(self->conn, sql ? sql : self->sql, self->nparams, NULL,
                                 self->params, NULL, NULL, 0)
                  : PQexec(self->conn, sql ? sql : self->sql);
    self->nparams = 0;
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN)
        return res;
    pg_error(self, err, what, res);
    if (failed)
        *failed = res;
    else
        PQclear(res);
    return NULL;
}

static int
exec(pg_t *self, const char *sql, daisy_error_t *err, const char *what)
{
    PGresult *res = run(self, sql, err, what, NULL);
    PQclear(res);
    return res ? 0 : -1;
}

//  Sessions: the graph lock, a lost connection, transactions ----------------------

//  Changes to a graph's tables (creating them, adding the spatial key)
//  are made under this lock, taken first in their transaction and held
//  to its end (or the end of the session), so that of many processes
//  opening one graph at once one changes it and the others then find it
//  done; reading the metadata takes it shared, so that a graph being made
//  is never seen half made. Advisory locks belong to a database, and
//  funlib keeps one graph's metadata per database: one key serves (it
//  is "daisygdb" in ASCII).
#define GRAPH_LOCK "SELECT pg_advisory_xact_lock(7233178421212701794)"
#define GRAPH_LOCK_SHARED "SELECT pg_advisory_xact_lock_shared(7233178421212701794)"

static int setup_session(pg_t *self, daisy_error_t *err);
static const char *connect_failure(const char *msg);

//  A new session for a lost one: PQreset connects with the same
//  parameters, so within the same connect_timeout, and a server that is
//  down is an error at once. What the old session held is gone: its
//  temporary tables (made again when next needed), its settings (set
//  again), its cursors (`session` tells their reads).
static int
reconnect(pg_t *self, daisy_error_t *err)
{
    PQreset(self->conn);
    self->session++;
    self->staging = false;
    if (!lost(self))
        return setup_session(self, err);
    const char *why = connect_failure(PQerrorMessage(self->conn));
    return append(err, "; connecting again failed: %.*s", (int)strcspn(why, "\n"), why);
}

//  After a call failed: if its connection was lost, connect again (the
//  handle serves later calls either way), and say whether the call may
//  run once more: it is `safe` to run again whole, and has not been.
static bool
again_after_loss(pg_t *self, bool safe, bool *retried, daisy_error_t *err)
{
    if (!lost(self) || reconnect(self, err) != 0 || !safe || *retried)
        return false;
    *retried = true;
    return true;
}

//  A call that succeeded when run again leaves no message of the first try.
static int
succeeded(bool again, daisy_error_t *err)
{
    if (again && err)
        *err = (daisy_error_t){0};
    return 0;
}

//  An operation of one or more statements, none in an open transaction
//  or each in one of its own, which may run again whole.
typedef int (*op_fn)(pg_t *self, void *arg, daisy_error_t *err);

static int
with_reconnect(pg_t *self, op_fn op, void *arg, daisy_error_t *err)
{
    bool retried = false;
    int rc;
    while ((rc = op(self, arg, err)) != 0 && again_after_loss(self, true, &retried, err))
        ;
    return rc == 0 ? succeeded(retried, err) : rc;
}

//  The staging tables of writes, temporary: made once a session, outside
//  a transaction (one rolled back would take them along).
static int
ensure_staging(pg_t *self, daisy_error_t *err)
{
    if (self->staging)
        return 0;
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "CREATE TEMP TABLE IF NOT EXISTS daisy_stage_nodes "
             "(LIKE %s) ON COMMIT DELETE ROWS; CREATE TEMP TABLE IF NOT EXISTS daisy_stage_edges "
             "(LIKE %s) ON COMMIT DELETE ROWS", ID(s->nodes_table), ID(s->edges_table));
    if (exec(self, self->sql, err, "creating the staging tables") != 0)
        return -1;
    self->staging = true;
    return 0;
}

//  The statements of a transaction (`body`, between BEGIN and COMMIT),
//  with the failed result when the server refused one.
typedef int (*body_fn)(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed);

typedef struct {
    const char *what;           //  for messages: "writing nodes"
    body_fn body;
    void *arg;
    bool staged;                //  it uses the staging tables
    bool repeatable;            //  run twice, it leaves what it leaves once
} txn_t;

static int
attempt(pg_t *self, const txn_t *t, bool *committing, daisy_error_t *err, PGresult **failed)
{
    if ((t->staged && ensure_staging(self, err) != 0)
        || exec(self, "BEGIN", err, "BEGIN") != 0 || t->body(self, t->arg, err, failed) != 0)
        return -1;
    *committing = true;
    PGresult *res = run(self, "COMMIT", err, "COMMIT", failed);
    PQclear(res);
    return res ? 0 : -1;
}

//  Why a transaction whose connection was lost is not run again, after
//  the message (connecting again failing says so itself).
static int
not_again(pg_t *self, const txn_t *t, bool committing, daisy_error_t *err)
{
    if (lost(self))
        return -1;
    if (self->base.bulk) {
        self->load_lost = true;
        return append(err, "; a bulk load cannot go on past it: %s", LOAD_LOST);
    }
    if (committing && !t->repeatable)
        return append(err, " at COMMIT: whether the batch was stored is unknown (not "
                      "written again: with fail_if_exists it would fail on its own rows)");
    return append(err, ", again after connecting again");
}

//  Run a transaction. The server aborting it for a transient conflict
//  (serialization failure, deadlock), it runs again, up to RETRIES times.
//  Its connection lost, nothing of it is stored (the server rolls back a
//  transaction whose session ends) unless it was lost at COMMIT, when
//  nobody knows: it runs again, whole and once, on a new connection,
//  when that is harmless (`repeatable`, or not lost at COMMIT) and no
//  bulk load is under way (see LOAD_LOST).
static int
transaction(pg_t *self, const txn_t *t, daisy_error_t *err)
{
    if (self->base.bulk && self->load_lost)
        return daisy_error_set(err, "%s: %s: the connection to the server was lost during this "
                               "bulk load: %s", self->base.name, t->what, LOAD_LOST);
    bool retried = false;
    for (int tries = 0;; tries++) {
        PGresult *failed = NULL;
        bool committing = false;
        if (attempt(self, t, &committing, err, &failed) == 0)
            return succeeded(tries > 0, err);
        bool conflict = transient(failed);
        PQclear(failed);
        if (lost(self)) {
            lost_error(self, err, t->what);
            bool safe = !self->base.bulk && (!committing || t->repeatable);
            if (!again_after_loss(self, safe, &retried, err))
                return not_again(self, t, committing, err);
            continue;
        }
        PQclear(PQexec(self->conn, "ROLLBACK"));
        if (!conflict || tries >= RETRIES)
            return -1;
    }
}

//  Parameters (text) --------------------------------------------------------------

static char *
param(pg_t *self)
{
    char *p = self->param_text[self->nparams];
    self->params[self->nparams++] = p;
    return p;
}

static void
param_str(pg_t *self, const char *s)
{
    self->params[self->nparams++] = s;
}

//  A double as PostgreSQL reads it back exactly.
static int
fmt_double(char *out, size_t size, double v)
{
    if (isnan(v))
        return snprintf(out, size, "NaN");
    if (isinf(v))
        return snprintf(out, size, v > 0 ? "Infinity" : "-Infinity");
    return snprintf(out, size, "%.17g", v);
}

//  One component of a value as text (not a string).
static int
fmt_component(char *out, size_t size, const daisy_attr_t *a, const daisy_value_t *v, uint32_t i)
{
    if (a->type == DAISY_ATTR_FLOAT)
        return fmt_double(out, size, v->v.f[i]);
    if (a->type == DAISY_ATTR_BOOL)
        return snprintf(out, size, "%s", v->v.b[i] ? "t" : "f");
    return snprintf(out, size, "%" PRId64, v->v.i[i]);
}

//  A non-null value as text, a vector as an array literal.
static void
fmt_value(char *out, size_t size, const daisy_attr_t *a, const daisy_value_t *v)
{
    if (!a->size) {
        fmt_component(out, size, a, v, 0);
        return;
    }
    size_t used = (size_t)snprintf(out, size, "{");
    for (uint32_t i = 0; i < a->size && used < size; i++) {
        used += (size_t)fmt_component(out + used, size - used, a, v, i);
        if (used < size)
            used += (size_t)snprintf(out + used, size - used, i + 1 < a->size ? "," : "}");
    }
}

static bool
missing(const daisy_attr_t *a, const daisy_value_t *v)
{
    return !v || v->null || (a->size && v->n < a->size);
}

//  COPY data (text format) --------------------------------------------------------

static int
copy_reserve(pg_t *self, size_t more)
{
    if (self->copy_len + more <= self->copy_cap)
        return 0;
    size_t cap = self->copy_cap ? self->copy_cap : 65536;
    while (cap < self->copy_len + more)
        cap *= 2;
    char *grown = realloc(self->copy, cap);
    if (!grown)
        return -1;
    self->copy = grown;
    self->copy_cap = cap;
    return 0;
}

static void
copy_text(pg_t *self, const char *text, size_t len)
{
    memcpy(self->copy + self->copy_len, text, len);
    self->copy_len += len;
}

//  A string field, escaped as COPY's text format wants.
static int
copy_string(pg_t *self, const char *s)
{
    if (copy_reserve(self, 2 * strlen(s) + 2) != 0)
        return -1;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : *s == '\r' ? "\\r"
                        : *s == '\t' ? "\\t" : NULL;
        if (esc)
            copy_text(self, esc, 2);
        else
            self->copy[self->copy_len++] = *s;
    }
    return 0;
}

//  A field: the separator before it (tab, or none for the first), then
//  the value, \N for a missing one.
static int
copy_value(pg_t *self, const daisy_attr_t *a, const daisy_value_t *v)
{
    if (copy_reserve(self, PARAM_MAX + 2) != 0)
        return -1;
    self->copy[self->copy_len++] = '\t';
    if (missing(a, v)) {
        copy_text(self, "\\N", 2);
        return 0;
    }
    if (a->type == DAISY_ATTR_STR)
        return copy_string(self, v->v.s ? v->v.s : "");
    char text[PARAM_MAX];
    fmt_value(text, sizeof text, a, v);
    copy_text(self, text, strlen(text));
    return 0;
}

static int
copy_row_start(pg_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
copy_row_start(pg_t *self, const char *fmt, ...)
{
    if (copy_reserve(self, 512) != 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(self->copy + self->copy_len, 512, fmt, ap);
    va_end(ap);
    self->copy_len += (size_t)n;
    return 0;
}

static int
copy_flush(pg_t *self, daisy_error_t *err)
{
    if (self->copy_len && PQputCopyData(self->conn, self->copy, (int)self->copy_len) != 1)
        return pg_error(self, err, "sending rows", NULL);
    self->copy_len = 0;
    return 0;
}

//  End the COPY; -1 (with *failed, when asked) if the server refused it.
static int
copy_end(pg_t *self, bool ok, daisy_error_t *err, PGresult **failed)
{
    if (ok && copy_flush(self, err) != 0)
        ok = false;
    PQputCopyEnd(self->conn, ok ? NULL : "daisy: write abandoned");
    PGresult *res = PQgetResult(self->conn);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0 && ok)
        pg_error(self, err, "COPY", res);
    while (PQgetResult(self->conn))
        ;       //  the end of the command
    if (rc != 0 && failed)
        *failed = res;
    else
        PQclear(res);
    return rc;
}

//  Columns -----------------------------------------------------------------------

static const char *
sql_type(daisy_attr_type_t t)
{
    return t == DAISY_ATTR_FLOAT ? "DOUBLE PRECISION" : t == DAISY_ATTR_INT ? "BIGINT"
         : t == DAISY_ATTR_BOOL ? "BOOLEAN" : "VARCHAR";
}

//  ", col, col ..." of attributes, with a table alias (or "").
static void
add_columns(pg_t *self, const daisy_attr_t *a, size_t n, const char *alias)
{
    for (size_t i = 0; i < n; i++)
        add(self, ", %s%s", alias, ID(a[i].name));
}

//  The same, a vector's components one by one (what reads take apart).
static void
add_read_columns(pg_t *self, const daisy_attr_t *a, size_t n, const char *alias)
{
    for (size_t i = 0; i < n; i++)
        for (uint32_t c = 0; c < graphdb_width(&a[i]); c++)
            add(self, a[i].size ? ", %s%s[%u]" : ", %s%s", alias, ID(a[i].name), c + 1);
}

static void
add_column_defs(pg_t *self, const daisy_attr_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        add(self, ", %s %s", ID(a[i].name), sql_type(a[i].type));
        if (a[i].size)
            add(self, "[%u]", a[i].size);
    }
}

static void
zkey_index_name(const pg_t *self, char *buf, size_t size)
{
    char name[128];
    snprintf(name, sizeof name, "%s_daisy_zkey", S(self)->nodes_table);
    ident(name, buf, size);
}

//  Tables -------------------------------------------------------------------------

static int
create_indexes(pg_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    char zkey[160], vname[128];
    zkey_index_name(self, zkey, sizeof zkey);
    snprintf(vname, sizeof vname, "%s_v_index", s->edges_table);
    snprintf(self->sql, sizeof self->sql, "CREATE INDEX IF NOT EXISTS %s ON %s(%s); CREATE "
             "INDEX IF NOT EXISTS %s ON %s(daisy_zkey)", ID(vname), ID(s->edges_table),
             ID(s->endpoints[1]), zkey, ID(s->nodes_table));
    return exec(self, self->sql, err, "creating the indexes");
}

//  The key column and the grid (an existing graph gets them too), NULL
//  keys filled in, the index made.
static int fill_keys(pg_t *self, daisy_error_t *err);

static int
create_zindex_table(pg_t *self, daisy_error_t *err)
{
    return exec(self, "CREATE TABLE IF NOT EXISTS daisy_zindex(nodes_table VARCHAR PRIMARY KEY, "
                "cell DOUBLE PRECISION, bits INTEGER, origin DOUBLE PRECISION[])", err,
                "adding the spatial key");
}

static int
create_zkey(pg_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    zgrid_default(&self->grid, s);
    snprintf(self->sql, sizeof self->sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS daisy_zkey "
             "BIGINT", ID(s->nodes_table));
    if (exec(self, self->sql, err, "adding the spatial key") != 0
        || create_zindex_table(self, err) != 0)
        return -1;
    param_str(self, s->nodes_table);
    snprintf(param(self), PARAM_MAX, "%.17g", self->grid.cell);
    snprintf(param(self), PARAM_MAX, "%u", self->grid.bits);
    char *origin = param(self);
    size_t used = 0;
    for (uint32_t d = 0; d < s->dims; d++)
        used += (size_t)snprintf(origin + used, PARAM_MAX - used, "%s%.17g", d ? "," : "{",
                                 self->grid.origin[d]);
    snprintf(origin + used, PARAM_MAX - used, "}");
    if (exec(self, "INSERT INTO daisy_zindex VALUES ($1, $2, $3, $4) ON CONFLICT (nodes_table) "
             "DO UPDATE SET cell = $2, bits = $3, origin = $4", err, "storing the grid") != 0)
        return -1;
    self->zkey = true;
    return fill_keys(self, err) || create_indexes(self, err);
}

//  The grid and key column of an existing graph: 1 there, 0 not, -1 error.
static int
find_zkey(pg_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    char lower[80];
    ident(s->nodes_table, lower, sizeof lower);
    lower[strlen(lower) - 1] = '\0';
    param_str(self, s->nodes_table);
    param_str(self, lower + 1);
    PGresult *failed = NULL;
    PGresult *res = run(self, "SELECT z.cell, z.bits, array_to_string(z.origin, ' ') FROM "
                        "daisy_zindex AS z, information_schema.columns AS c WHERE "
                        "z.nodes_table = $1 AND c.table_name = $2 AND c.column_name = "
                        "'daisy_zkey' AND c.table_schema = current_schema()", err,
                        "finding the spatial key", &failed);
    if (!res) {         //  no daisy_zindex: funlib made the graph
        int rc = sqlstate(failed, "42P01") ? 0 : -1;
        PQclear(failed);
        return rc;
    }
    int found = PQntuples(res) == 1;
    if (found) {
        self->grid.dims = s->dims;
        self->grid.cell = strtod(PQgetvalue(res, 0, 0), NULL);
        self->grid.bits = (uint32_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
        char *at = PQgetvalue(res, 0, 2);
        for (uint32_t d = 0; d < s->dims; d++)
            self->grid.origin[d] = strtod(at, &at);
        found = self->grid.cell > 0 && self->grid.bits >= 1 && self->grid.bits * s->dims <= 63;
    }
    PQclear(res);
    return found;
}

static int
create_tables(pg_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "CREATE TABLE IF NOT EXISTS %s(id BIGINT not null "
             "PRIMARY KEY, %s %s[%u]", ID(s->nodes_table), ID(s->position),
             sql_type(s->position_type), s->dims);
    add_column_defs(self, s->node_attrs, s->n_node_attrs);
    add(self, "); CREATE TABLE IF NOT EXISTS %s(%s BIGINT not null, %s BIGINT not null",
        ID(s->edges_table), ID(s->endpoints[0]), ID(s->endpoints[1]));
    add_column_defs(self, s->edge_attrs, s->n_edge_attrs);
    add(self, ", PRIMARY KEY (%s, %s))", ID(s->endpoints[0]), ID(s->endpoints[1]));
    return exec(self, self->sql, err, "creating the tables");
}

static int
store_meta(pg_t *self, daisy_error_t *err)
{
    json_t *meta = schema_to_json(&self->base.schema);
    char *text = meta ? json_dumps(meta, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!text)
        return daisy_error_set(err, "out of memory");
    param_str(self, text);
    int rc = exec(self, "INSERT INTO metadata (value) VALUES ($1)", err, "storing the metadata");
    free(text);
    return rc;
}

//  OVERWRITE: the graph made anew, in one transaction under the graph
//  lock (many creating it at once: one after the other).
static int
create_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    (void)arg;
    (void)failed;
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, GRAPH_LOCK "; DROP TABLE IF EXISTS %s; DROP TABLE IF "
             "EXISTS %s; DROP TABLE IF EXISTS metadata; CREATE TABLE metadata (value VARCHAR)",
             ID(s->nodes_table), ID(s->edges_table));
    return exec(self, self->sql, err, "dropping the graph") || create_tables(self, err)
        || create_zkey(self, err) || store_meta(self, err);
}

static int
pg_create(daisy_graphdb_t *base, daisy_error_t *err)
{
    txn_t t = {"creating the graph", create_body, NULL, false, true};
    return transaction((pg_t *)base, &t, err);
}

//  The metadata, under the graph lock shared: never from a graph half
//  made (funlib's layout: one row in table metadata).
static int
load_meta_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    json_t **meta = arg;
    json_decref(*meta);         //  of an attempt whose COMMIT failed
    *meta = NULL;
    if (exec(self, GRAPH_LOCK_SHARED, err, "reading the metadata") != 0)
        return -1;
    PGresult *res = run(self, "SELECT value FROM metadata", err, "reading the metadata", failed);
    if (!res) {
        if (sqlstate(*failed, "42P01"))
            daisy_error_set(err, "%s: no graph here (no metadata table); open it with "
                            "DAISY_GRAPHDB_OVERWRITE and a schema to create one",
                            self->base.name);
        return -1;
    }
    json_error_t je;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        daisy_error_set(err, "%s: the metadata table holds %d rows (1 expected)",
                        self->base.name, PQntuples(res));
    else if (!(*meta = json_loads(PQgetvalue(res, 0, 0), 0, &je)))
        daisy_error_set(err, "%s: metadata: %s", self->base.name, je.text);
    PQclear(res);
    return *meta ? 0 : -1;
}

static json_t *
pg_load_meta(daisy_graphdb_t *base, daisy_error_t *err)
{
    json_t *meta = NULL;
    txn_t t = {"reading the metadata", load_meta_body, &meta, false, true};
    if (transaction((pg_t *)base, &t, err) == 0)
        return meta;
    json_decref(meta);
    return NULL;
}

//  An existing graph opened for writing: its spatial key made (funlib
//  made the tables) or completed (funlib added rows), under the graph
//  lock: of many opening it at once, one does it, the others find it
//  done. The key's table first, so that looking for it cannot fail.
static int
attach_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    (void)arg;
    (void)failed;
    if (exec(self, GRAPH_LOCK, err, "adding the spatial key") != 0
        || create_zindex_table(self, err) != 0)
        return -1;
    int found = find_zkey(self, err);
    if (found < 0)
        return -1;
    self->zkey = found;
    return found ? fill_keys(self, err) : create_zkey(self, err);
}

static int
find_zkey_op(pg_t *self, void *arg, daisy_error_t *err)
{
    (void)arg;
    int found = find_zkey(self, err);
    self->zkey = found > 0;
    return found < 0 ? -1 : 0;
}

static int
pg_attach(daisy_graphdb_t *base, daisy_error_t *err)
{
    pg_t *self = (pg_t *)base;
    if (self->base.mode != DAISY_GRAPHDB_READ_WRITE)
        return with_reconnect(self, find_zkey_op, NULL, err);
    txn_t t = {"adding the spatial key", attach_body, NULL, false, true};
    return transaction(self, &t, err);
}

//  Connect --------------------------------------------------------------------------

//  The URL without its password, for messages.
static char *
public_name(const char *url)
{
    char *name = strdup(url);
    char *user = name ? strstr(name, "://") : NULL;
    if (!user)
        return name;
    user += 3;
    char *at = strchr(user, '@'), *slash = strchr(user, '/');
    char *colon = at ? memchr(user, ':', (size_t)(at - user)) : NULL;
    if (at && (!slash || at < slash) && colon)
        memmove(colon, at, strlen(at) + 1);
    return name;
}

static void
quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;      //  notices ("already exists, skipping"): a library does not print
}

//  libpq takes the keywords in order, the last value of one winning: the
//  URL's connect_timeout over ours, `dbname` over the URL's database.
//  Without a timeout a host that drops packets would hold a connect (or
//  a reconnect, which has the same parameters) for minutes.
static PGconn *
connect_to(const char *url, const char *dbname)
{
    const char *keys[] = {"connect_timeout", "dbname", dbname ? "dbname" : NULL, NULL};
    const char *values[] = {CONNECT_TIMEOUT, url, dbname, NULL};
    return PQconnectdbParams(keys, values, 1);
}

//  OVERWRITE creates a missing database, as funlib does in every mode.
static int
create_database(pg_t *self, const char *url, daisy_error_t *err)
{
    PGconn *admin = connect_to(url, "postgres");
    if (PQstatus(admin) != CONNECTION_OK) {
        PQfinish(admin);
        return daisy_error_set(err, "%s: no such database, and none can be created here",
                               self->base.name);
    }
    char *name = PQescapeIdentifier(admin, PQdb(self->conn), strlen(PQdb(self->conn)));
    snprintf(self->sql, sizeof self->sql, "CREATE DATABASE %s", name ? name : "\"\"");
    PQfreemem(name);
    PGresult *res = PQexec(admin, self->sql);
    //  Made meanwhile by another process: 42P04, or 23505 when both
    //  inserted the catalog row at once.
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK || sqlstate(res, "42P04")
          || sqlstate(res, "23505") ? 0 : -1;
    if (rc != 0)
        daisy_error_set(err, "%s: creating the database: %.*s", self->base.name,
                        (int)strcspn(PQresultErrorMessage(res), "\n"),
                        PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(admin);
    return rc;
}

//  Why a connection failed, from libpq's message: it has a line per
//  address tried ("connection to server at "h" (addr), port p failed:
//  Connection refused"), each maybe followed by a hint indented by a
//  tab. The last address's reason, past the address (our name of the
//  server is in the message already), or the whole line when it has no
//  such form.
static const char *
connect_failure(const char *msg)
{
    const char *last = msg;
    for (const char *line = msg; *line; ) {
        if (*line != '\t' && *line != '\n')
            last = line;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    const char *reason = strstr(last, " failed: ");
    return reason && reason < last + strcspn(last, "\n") ? reason + strlen(" failed: ") : last;
}

static int
connect_db(pg_t *self, const char *url, daisy_graphdb_mode_t mode, daisy_error_t *err)
{
    self->conn = connect_to(url, NULL);
    if (PQstatus(self->conn) != CONNECTION_OK && mode == DAISY_GRAPHDB_OVERWRITE
        && strstr(PQerrorMessage(self->conn), "does not exist")) {
        if (create_database(self, url, err) != 0)
            return -1;
        PQfinish(self->conn);
        self->conn = connect_to(url, NULL);
    }
    if (PQstatus(self->conn) != CONNECTION_OK) {
        const char *why = connect_failure(PQerrorMessage(self->conn));
        return daisy_error_set(err, "%s: cannot connect: %.*s", self->base.name,
                               (int)strcspn(why, "\n"), why);
    }
    PQsetNoticeProcessor(self->conn, quiet, NULL);      //  kept by PQreset
    return setup_session(self, err);
}

//  What every session of the handle starts with.
static int
setup_session(pg_t *self, daisy_error_t *err)
{
    return exec(self, "SET client_min_messages TO WARNING", err, "setting up the session");
}

static daisy_graphdb_t *
pg_open(const char *url, daisy_graphdb_mode_t mode, daisy_error_t *err)
{
    pg_t *self = calloc(1, sizeof *self);
    if (!self || !(self->base.name = public_name(url))) {
        free(self);
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    if (connect_db(self, url, mode, err) == 0)
        return &self->base;
    PQfinish(self->conn);
    free(self->base.name);
    free(self);
    return NULL;
}

static void
pg_close(daisy_graphdb_t *base)
{
    pg_t *self = (pg_t *)base;
    PQfinish(self->conn);
    free(self->copy);
    free(self);
}

//  Writes ----------------------------------------------------------------------------

typedef struct {
    const daisy_node_t *nodes;
    const daisy_edge_t *edges;
    size_t n;
    const daisy_roi_t *roi;
    bool fail_if_exists;
    const int *idx;             //  updates: the attributes
    size_t k;
} write_t;

static int
copy_node(pg_t *self, const daisy_node_t *node, const write_t *w)
{
    const daisy_graph_schema_t *s = S(self);
    if (copy_row_start(self, "%" PRIu64, node->id) != 0)
        return -1;
    daisy_attr_t pos = {s->position, s->position_type, s->dims};
    daisy_value_t p = {.n = s->dims};
    for (uint32_t d = 0; d < s->dims; d++)
        if (s->position_type == DAISY_ATTR_INT)
            p.v.i[d] = (int64_t)node->position[d];
        else
            p.v.f[d] = node->position[d];
    if (!w->idx && copy_value(self, &pos, &p) != 0)
        return -1;
    if (!w->idx && self->zkey) {
        double at[DAISY_MAX_DIMS];
        for (uint32_t d = 0; d < s->dims; d++)     //  where the server compares it
            at[d] = s->position_type == DAISY_ATTR_INT ? (double)p.v.i[d] : p.v.f[d];
        if (copy_row_start(self, "\t%" PRIu64, zgrid_key(&self->grid, at)) != 0)
            return -1;
    }
    size_t n = w->idx ? w->k : s->n_node_attrs;
    for (size_t j = 0; j < n; j++) {
        size_t i = w->idx ? (size_t)w->idx[j] : j;
        if (copy_value(self, &s->node_attrs[i], node->attrs ? &node->attrs[i] : NULL) != 0)
            return -1;
    }
    return 0;
}

static int
copy_edge(pg_t *self, const daisy_edge_t *e, const write_t *w)
{
    const daisy_graph_schema_t *s = S(self);
    uint64_t u, v;
    graphdb_endpoints(s, e, &u, &v);
    if (copy_row_start(self, "%" PRIu64 "\t%" PRIu64, u, v) != 0)
        return -1;
    size_t n = w->idx ? w->k : s->n_edge_attrs;
    for (size_t j = 0; j < n; j++) {
        size_t i = w->idx ? (size_t)w->idx[j] : j;
        if (copy_value(self, &s->edge_attrs[i], e->attrs ? &e->attrs[i] : NULL) != 0)
            return -1;
    }
    return 0;
}

//  COPY table (columns in self->sql) FROM STDIN with the rows of `w`.
static int
copy_rows(pg_t *self, bool edges, const write_t *w, daisy_error_t *err, PGresult **failed)
{
    PGresult *res = run(self, NULL, err, "COPY", failed);
    if (!res)
        return -1;
    PQclear(res);
    self->copy_len = 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < w->n; k++) {
        if (!edges && !w->idx && !graphdb_write_inside(w->roi, w->nodes[k].position,
                                                       S(self)->dims))
            continue;
        rc = edges ? copy_edge(self, &w->edges[k], w) : copy_node(self, &w->nodes[k], w);
        if (rc == 0 && copy_reserve(self, 1) == 0)
            self->copy[self->copy_len++] = '\n';
        else
            rc = daisy_error_set(err, "out of memory");
        if (rc == 0 && self->copy_len >= COPY_FLUSH)
            rc = copy_flush(self, err);
    }
    return copy_end(self, rc == 0, err, failed) == 0 ? rc : -1;
}

//  "id, position, attrs..." of the nodes table, or "u, v, attrs..." of
//  the edges table (only the attributes updated, for an update), each
//  after `alias`: the order of the COPY rows (copy_node, copy_edge).
static void
add_row_columns(pg_t *self, bool edges, const write_t *w, const char *alias)
{
    const daisy_graph_schema_t *s = S(self);
    const daisy_attr_t *attrs = edges ? s->edge_attrs : s->node_attrs;
    if (edges)
        add(self, "%s%s, %s%s", alias, ID(s->endpoints[0]), alias, ID(s->endpoints[1]));
    else if (w->idx)
        add(self, "%sid", alias);
    else
        add(self, "%sid, %s%s%s%s", alias, alias, ID(s->position), self->zkey ? ", " : "",
            self->zkey ? alias : "");
    if (!edges && !w->idx && self->zkey)
        add(self, "daisy_zkey");
    if (w->idx)
        for (size_t j = 0; j < w->k; j++)
            add(self, ", %s%s", alias, ID(attrs[w->idx[j]].name));
    else
        add_columns(self, attrs, edges ? s->n_edge_attrs : s->n_node_attrs, alias);
}

//  Rows go straight into the table by COPY when they can: always when an
//  existing row must fail the write; else in a savepoint, and only if
//  one of them exists (a block run again) does the write start over
//  through the staging table and INSERT ... ON CONFLICT DO NOTHING,
//  which costs 2.5 times as much per row. Edges kept to a ROI are staged
//  always: the ROI is tested on their u node's stored position.
static int
insert_body(pg_t *self, bool edges, const write_t *w, daisy_error_t *err, PGresult **failed)
{
    const daisy_graph_schema_t *s = S(self);
    const char *table = edges ? s->edges_table : s->nodes_table;
    const char *stage = edges ? "daisy_stage_edges" : "daisy_stage_nodes";
    if (!(edges && w->roi)) {
        if (!w->fail_if_exists && exec(self, "SAVEPOINT daisy_direct", err, "SAVEPOINT") != 0)
            return -1;
        snprintf(self->sql, sizeof self->sql, "COPY %s (", ID(table));
        add_row_columns(self, edges, w, "");
        add(self, ") FROM STDIN");
        if (copy_rows(self, edges, w, err, failed) == 0)
            return 0;
        if (w->fail_if_exists || !sqlstate(*failed, "23505"))
            return -1;
        PQclear(*failed);
        *failed = NULL;
        if (err)    //  the duplicate was expected: no error unless the rest fails
            *err = (daisy_error_t){0};
        if (exec(self, "ROLLBACK TO SAVEPOINT daisy_direct", err, "ROLLBACK") != 0)
            return -1;
    }
    snprintf(self->sql, sizeof self->sql, "COPY %s (", stage);
    add_row_columns(self, edges, w, "");
    add(self, ") FROM STDIN");
    if (copy_rows(self, edges, w, err, failed) != 0)
        return -1;
    snprintf(self->sql, sizeof self->sql, "INSERT INTO %s (", ID(table));
    add_row_columns(self, edges, w, "");
    add(self, ") SELECT ");
    add_row_columns(self, edges, w, "s.");
    add(self, " FROM %s AS s", stage);
    if (edges && w->roi) {
        //  funlib's filter on the u node's stored position, truncated.
        add(self, " JOIN %s AS n ON n.id = s.%s WHERE true", ID(s->nodes_table),
            ID(s->endpoints[0]));
        for (uint32_t d = 0; d < s->dims; d++)
            add(self, " AND trunc(n.%s[%u]) >= %" PRId64 " AND trunc(n.%s[%u]) < %" PRId64,
                ID(s->position), d + 1, w->roi->offset[d], ID(s->position), d + 1,
                w->roi->offset[d] + w->roi->shape[d]);
    }
    if (!w->fail_if_exists)
        add(self, " ON CONFLICT DO NOTHING");
    PGresult *res = run(self, NULL, err, edges ? "writing edges" : "writing nodes", failed);
    PQclear(res);
    return res ? 0 : -1;
}

//  A write that met an existing row (fail_if_exists), said as the SQLite
//  back end says it: "node 5 exists", "edge (1, 2) exists".
static int
exists_error(pg_t *self, bool edges, const PGresult *failed, daisy_error_t *err)
{
    const char *detail = PQresultErrorField(failed, PG_DIAG_MESSAGE_DETAIL);
    const char *key = detail ? strstr(detail, ")=(") : NULL;
    if (!key)
        return -1;
    key += 3;
    int len = (int)strcspn(key, ")");
    return daisy_error_set(err, edges ? "%s: edge (%.*s) exists (fail_if_exists)"
                                      : "%s: node %.*s exists (fail_if_exists)",
                           self->base.name, len, key);
}

static int
nodes_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    int rc = insert_body(self, false, arg, err, failed);
    if (rc != 0 && sqlstate(*failed, "23505"))
        exists_error(self, false, *failed, err);
    return rc;
}

static int
edges_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    int rc = insert_body(self, true, arg, err, failed);
    if (rc != 0 && sqlstate(*failed, "23505"))
        exists_error(self, true, *failed, err);
    return rc;
}

static int
pg_write_nodes(daisy_graphdb_t *base, const daisy_node_t *nodes, size_t n,
               const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    write_t w = {.nodes = nodes, .n = n, .roi = roi, .fail_if_exists = fail_if_exists};
    txn_t t = {"writing nodes", nodes_body, &w, true, !fail_if_exists};
    return transaction((pg_t *)base, &t, err);
}

static int
pg_write_edges(daisy_graphdb_t *base, const daisy_edge_t *edges, size_t n,
               const daisy_roi_t *roi, bool fail_if_exists, daisy_error_t *err)
{
    write_t w = {.edges = edges, .n = n, .roi = roi, .fail_if_exists = fail_if_exists};
    txn_t t = {"writing edges", edges_body, &w, true, !fail_if_exists};
    return transaction((pg_t *)base, &t, err);
}

//  Updates: the attributes staged by COPY, then one UPDATE ... FROM.
static int
update_body(pg_t *self, void *arg, daisy_error_t *err, PGresult **failed)
{
    const write_t *w = arg;
    const daisy_graph_schema_t *s = S(self);
    bool edges = w->edges != NULL;
    const daisy_attr_t *attrs = edges ? s->edge_attrs : s->node_attrs;
    snprintf(self->sql, sizeof self->sql, "COPY %s (",
             edges ? "daisy_stage_edges" : "daisy_stage_nodes");
    add_row_columns(self, edges, w, "");
    add(self, ") FROM STDIN");
    if (copy_rows(self, edges, w, err, failed) != 0)
        return -1;
    snprintf(self->sql, sizeof self->sql, "UPDATE %s AS t SET ",
             ID(edges ? s->edges_table : s->nodes_table));
    for (size_t j = 0; j < w->k; j++)
        add(self, "%s%s = s.%s", j ? ", " : "", ID(attrs[w->idx[j]].name),
            ID(attrs[w->idx[j]].name));
    add(self, " FROM %s AS s WHERE ", edges ? "daisy_stage_edges" : "daisy_stage_nodes");
    if (edges)
        add(self, "t.%s = s.%s AND t.%s = s.%s", ID(s->endpoints[0]), ID(s->endpoints[0]),
            ID(s->endpoints[1]), ID(s->endpoints[1]));
    else
        add(self, "t.id = s.id");
    PGresult *res = run(self, NULL, err, "updating attributes", failed);
    PQclear(res);
    return res ? 0 : -1;
}

static int
pg_update(daisy_graphdb_t *base, bool edges, const void *rows, size_t n, const int *idx,
          size_t k, daisy_error_t *err)
{
    write_t w = {.n = n, .idx = idx, .k = k};
    if (edges)
        w.edges = rows;
    else
        w.nodes = rows;
    txn_t t = {"updating attributes", update_body, &w, true, true};
    return transaction((pg_t *)base, &t, err);
}

//  Bulk loading, as funlib's bulk_write_mode: the position indexes go and
//  commits stop waiting for the disk; at the end the indexes are built
//  again (sorting, not a row at a time) and the table analysed.
//  Keys for the rows that have none (funlib wrote them): computed here,
//  staged by COPY, set by one UPDATE. Inside the caller's transaction.
static int
fill_keys(pg_t *self, daisy_error_t *err)
{
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "SELECT id");
    daisy_attr_t pos = {s->position, s->position_type, s->dims};
    add_read_columns(self, &pos, 1, "");
    add(self, " FROM %s WHERE daisy_zkey IS NULL", ID(s->nodes_table));
    PGresult *rows = run(self, NULL, err, "finding nodes without a spatial key", NULL);
    if (!rows)
        return -1;
    int n = PQntuples(rows), rc = 0;
    if (n > 0) {
        snprintf(self->sql, sizeof self->sql, "CREATE TEMP TABLE IF NOT EXISTS daisy_stage_keys"
                 "(id BIGINT, daisy_zkey BIGINT) ON COMMIT DELETE ROWS; COPY daisy_stage_keys "
                 "FROM STDIN");
        PGresult *res = run(self, NULL, err, "COPY", NULL);
        rc = res ? 0 : -1;
        PQclear(res);
        self->copy_len = 0;
        for (int r = 0; rc == 0 && r < n; r++) {
            double at[DAISY_MAX_DIMS];
            for (uint32_t d = 0; d < s->dims; d++)
                at[d] = strtod(PQgetvalue(rows, r, 1 + (int)d), NULL);
            rc = copy_row_start(self, "%s\t%" PRIu64 "\n", PQgetvalue(rows, r, 0),
                                zgrid_key(&self->grid, at));
            if (rc == 0 && self->copy_len >= COPY_FLUSH)
                rc = copy_flush(self, err);
        }
        if (res && copy_end(self, rc == 0, err, NULL) != 0)
            rc = -1;
        snprintf(self->sql, sizeof self->sql, "UPDATE %s AS t SET daisy_zkey = k.daisy_zkey "
                 "FROM daisy_stage_keys AS k WHERE t.id = k.id", ID(s->nodes_table));
        rc = rc || exec(self, NULL, err, "setting spatial keys");
    }
    PQclear(rows);
    return rc;
}

static int
bulk_begin_op(pg_t *self, void *arg, daisy_error_t *err)
{
    (void)arg;
    char zkey[160];
    zkey_index_name(self, zkey, sizeof zkey);
    snprintf(self->sql, sizeof self->sql, "DROP INDEX IF EXISTS %s; SET synchronous_commit TO "
             "OFF", zkey);
    return exec(self, self->sql, err, "starting a bulk load");
}

static int
pg_bulk_begin(daisy_graphdb_t *base, daisy_error_t *err)
{
    pg_t *self = (pg_t *)base;
    self->load_lost = false;
    return with_reconnect(self, bulk_begin_op, NULL, err);
}

//  Also the end of a load whose connection was lost (the indexes built
//  on the new one).
static int
bulk_end_op(pg_t *self, void *arg, daisy_error_t *err)
{
    (void)arg;
    if (create_indexes(self, err) != 0)
        return -1;
    snprintf(self->sql, sizeof self->sql, "SET synchronous_commit TO ON; ANALYZE %s",
             ID(S(self)->nodes_table));
    return exec(self, self->sql, err, "ending a bulk load");
}

static int
pg_bulk_end(daisy_graphdb_t *base, daisy_error_t *err)
{
    pg_t *self = (pg_t *)base;
    if (with_reconnect(self, bulk_end_op, NULL, err) != 0)
        return -1;
    self->load_lost = false;
    return 0;
}

//  Reads ------------------------------------------------------------------------------

//  " AND <n inside the ROI>": funlib's begin <= p < end.
static void
add_roi_condition(pg_t *self, const daisy_roi_t *roi)
{
    const daisy_graph_schema_t *s = S(self);
    for (uint32_t d = 0; roi && d < s->dims; d++) {
        snprintf(param(self), PARAM_MAX, "%" PRId64, roi->offset[d]);
        snprintf(param(self), PARAM_MAX, "%" PRId64, roi->offset[d] + roi->shape[d]);
        add(self, " AND n.%s[%u] >= $%d AND n.%s[%u] < $%d", ID(s->position), d + 1,
            self->nparams - 1, ID(s->position), d + 1, self->nparams);
    }
}

//  The key ranges of a ROI as two array parameters: $first (lows), $first + 1.
static void
param_ranges(pg_t *self, const daisy_roi_t *roi)
{
    zrange_t ranges[ZGRID_MAX_RANGES];
    size_t n = zgrid_ranges(&self->grid, roi, ranges, ZGRID_MAX_RANGES);
    for (int end = 0; end < 2; end++) {
        char *p = self->ranges_text[end], *at = p;
        for (size_t i = 0; i < n; i++) {
            uint64_t key = end ? ranges[i].hi : ranges[i].lo;
            at += sprintf(at, "%s%" PRIu64, i ? "," : "{", key > INT64_MAX ? (uint64_t)INT64_MAX
                                                                           : key);
        }
        strcpy(at, "}");
        param_str(self, p);
    }
}

//  "SELECT <cols> FROM nodes AS n WHERE <in the ROI> <filters>": through
//  the spatial key, its ranges joined to the index, and the rows without
//  a key (funlib's) as well; `cols` and `tail` (filters) use alias n.
static void
add_node_query(pg_t *self, const daisy_roi_t *roi, const char *cols, const char *tail)
{
    const daisy_graph_schema_t *s = S(self);
    if (!roi || !self->zkey) {
        add(self, "SELECT %s FROM %s AS n WHERE true", cols, ID(s->nodes_table));
        add_roi_condition(self, roi);
        add(self, "%s", tail);
        return;
    }
    int first = self->nparams + 1;
    param_ranges(self, roi);
    size_t mark = strlen(self->sql);
    add_roi_condition(self, roi);
    char exact[1024];
    snprintf(exact, sizeof exact, "%s", self->sql + mark);
    self->sql[mark] = '\0';
    add(self, "SELECT %s FROM unnest($%d::bigint[], $%d::bigint[]) AS r(lo, hi) JOIN %s AS n "
        "ON n.daisy_zkey BETWEEN r.lo AND r.hi WHERE true%s%s UNION ALL SELECT %s FROM %s AS n "
        "WHERE n.daisy_zkey IS NULL%s%s", cols, first, first + 1, ID(s->nodes_table), exact,
        tail, cols, ID(s->nodes_table), exact, tail);
}

static void
add_filters(pg_t *self, const daisy_attr_t *attrs, const char *alias, const graphdb_filters_t *f)
{
    for (size_t j = 0; j < f->n; j++) {
        const daisy_attr_t *a = &attrs[f->idx[j]];
        const daisy_value_t *v = &f->f[j].value;
        if (v->null) {
            add(self, " AND %s%s IS NULL", alias, ID(a->name));
            continue;
        }
        if (a->type == DAISY_ATTR_STR)
            param_str(self, v->v.s ? v->v.s : "");
        else
            fmt_value(param(self), PARAM_MAX, a, v);
        add(self, " AND %s%s = $%d", alias, ID(a->name), self->nparams);
    }
}

static daisy_graph_iter_t *
open_cursor(pg_t *self, bool edges, daisy_error_t *err)
{
    pg_iter_t *it = calloc(1, sizeof *it);
    if (!it) {
        self->nparams = 0;
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    it->base.db = &self->base;
    it->base.edges = edges;
    it->session = self->session;
    snprintf(it->cursor, sizeof it->cursor, "daisy_cursor_%u", ++self->cursors);
    char *query = strdup(self->sql);
    if (!query) {
        free(it);
        self->nparams = 0;
        daisy_error_set(err, "out of memory");
        return NULL;
    }
    snprintf(self->sql, sizeof self->sql, "DECLARE %s NO SCROLL CURSOR WITH HOLD FOR %s",
             it->cursor, query);
    free(query);
    if (exec(self, NULL, err, "reading") != 0) {
        free(it);
        return NULL;
    }
    return &it->base;
}

//  What add() appended after `mark`, moved out of self->sql into a new
//  string (NULL: out of memory).
static char *
cut(pg_t *self, size_t mark)
{
    char *text = strdup(self->sql + mark);
    self->sql[mark] = '\0';
    return text;
}

//  A read, opened as an op (which runs again on a new connection).
typedef struct {
    const daisy_roi_t *roi;
    bool fetch_on_v;
    const graphdb_filters_t *f;
    daisy_graph_iter_t *it;
} read_t;

static int
nodes_op(pg_t *self, void *arg, daisy_error_t *err)
{
    read_t *r = arg;
    const daisy_roi_t *roi = r->roi;
    const graphdb_filters_t *f = r->f;
    const daisy_graph_schema_t *s = S(self);
    daisy_attr_t pos = {s->position, s->position_type, s->dims};
    snprintf(self->sql, sizeof self->sql, "n.id");
    add_read_columns(self, &pos, 1, "n.");
    add_read_columns(self, s->node_attrs, s->n_node_attrs, "n.");
    char *cols = cut(self, 0);
    add_filters(self, s->node_attrs, "n.", f);
    char *tail = cut(self, 0);
    if (cols && tail)
        add_node_query(self, roi, cols, tail);
    free(cols);
    free(tail);
    if (!cols || !tail) {
        self->nparams = 0;
        return daisy_error_set(err, "out of memory");
    }
    return (r->it = open_cursor(self, false, err)) ? 0 : -1;
}

static daisy_graph_iter_t *
pg_nodes(daisy_graphdb_t *base, const daisy_roi_t *roi, const graphdb_filters_t *f,
         daisy_error_t *err)
{
    read_t r = {.roi = roi, .f = f};
    return with_reconnect((pg_t *)base, nodes_op, &r, err) == 0 ? r.it : NULL;
}

static int
edges_op(pg_t *self, void *arg, daisy_error_t *err)
{
    read_t *r = arg;
    const daisy_roi_t *roi = r->roi;
    const daisy_graph_schema_t *s = S(self);
    snprintf(self->sql, sizeof self->sql, "SELECT e.%s, e.%s", ID(s->endpoints[0]),
             ID(s->endpoints[1]));
    add_read_columns(self, s->edge_attrs, s->n_edge_attrs, "e.");
    add(self, " FROM %s AS e WHERE true", ID(s->edges_table));
    if (roi) {
        //  The ROI's node ids, then edges by u (the primary key) or v (its index).
        add(self, " AND (e.%s IN (", ID(s->endpoints[0]));
        add_node_query(self, roi, "n.id", "");
        add(self, ")");
        if (r->fetch_on_v) {
            add(self, " OR e.%s IN (", ID(s->endpoints[1]));
            add_node_query(self, roi, "n.id", "");
            add(self, ")");
        }
        add(self, ")");
    }
    add_filters(self, s->edge_attrs, "e.", r->f);
    return (r->it = open_cursor(self, true, err)) ? 0 : -1;
}

static daisy_graph_iter_t *
pg_edges(daisy_graphdb_t *base, const daisy_roi_t *roi, bool fetch_on_v,
         const graphdb_filters_t *f, daisy_error_t *err)
{
    read_t r = {.roi = roi, .fetch_on_v = fetch_on_v, .f = f};
    return with_reconnect((pg_t *)base, edges_op, &r, err) == 0 ? r.it : NULL;
}

//  One attribute's value from columns *col on (text); advances *col.
static void
read_value(PGresult *res, int row, int *col, const daisy_attr_t *a, daisy_value_t *v)
{
    uint32_t n = graphdb_width(a);
    memset(v, 0, sizeof *v);
    v->n = n;
    for (uint32_t i = 0; i < n; i++, (*col)++) {
        if (PQgetisnull(res, row, *col)) {
            v->null = true;
            continue;
        }
        const char *text = PQgetvalue(res, row, *col);
        if (a->type == DAISY_ATTR_STR)
            v->v.s = text;
        else if (a->type == DAISY_ATTR_FLOAT)
            v->v.f[i] = strtod(text, NULL);
        else if (a->type == DAISY_ATTR_BOOL)
            v->v.b[i] = text[0] == 't';
        else
            v->v.i[i] = strtoll(text, NULL, 10);
    }
}

//  A read does not resume on a new connection (its cursor is gone, and
//  what it would read there may differ): it fails, saying so.
static int
fetch_page(pg_iter_t *it, daisy_error_t *err)
{
    pg_t *self = (pg_t *)it->base.db;
    PQclear(it->page);
    it->page = NULL;
    if (it->session != self->session)
        return daisy_error_set(err, "%s: reading: the connection to the server was lost since "
                               "this read began, and its cursor with it: read again",
                               self->base.name);
    snprintf(self->sql, sizeof self->sql, "FETCH FORWARD %d FROM %s", FETCH_ROWS, it->cursor);
    if (!(it->page = run(self, NULL, err, "reading", NULL))) {
        if (lost(self) && reconnect(self, err) == 0)
            append(err, "; the read's cursor went with it: read again");
        return -1;
    }
    it->row = 0;
    it->rows = PQntuples(it->page);
    it->done = it->rows < FETCH_ROWS;
    return 0;
}

static int
pg_next(daisy_graph_iter_t *base, daisy_node_t *node, daisy_edge_t *edge, daisy_error_t *err)
{
    pg_iter_t *it = (pg_iter_t *)base;
    if (it->page && it->row == it->rows && it->done)
        return 0;
    if ((!it->page || it->row == it->rows) && fetch_page(it, err) != 0)
        return -1;
    if (it->row == it->rows)
        return 0;
    const daisy_graph_schema_t *s = &base->db->schema.pub;
    int row = it->row++, col = 1;
    if (node) {
        node->id = (uint64_t)strtoll(PQgetvalue(it->page, row, 0), NULL, 10);
        for (uint32_t d = 0; d < s->dims; d++, col++)
            node->position[d] = strtod(PQgetvalue(it->page, row, col), NULL);
        for (size_t i = 0; i < s->n_node_attrs; i++)
            read_value(it->page, row, &col, &s->node_attrs[i], &base->values[i]);
    } else {
        edge->u = (uint64_t)strtoll(PQgetvalue(it->page, row, 0), NULL, 10);
        edge->v = (uint64_t)strtoll(PQgetvalue(it->page, row, 1), NULL, 10);
        col = 2;
        for (size_t i = 0; i < s->n_edge_attrs; i++)
            read_value(it->page, row, &col, &s->edge_attrs[i], &base->values[i]);
    }
    return 1;
}

static void
pg_iter_destroy(daisy_graph_iter_t *base)
{
    pg_iter_t *it = (pg_iter_t *)base;
    pg_t *self = (pg_t *)base->db;
    PQclear(it->page);
    if (it->session == self->session && !lost(self)) {
        snprintf(self->sql, sizeof self->sql, "CLOSE %s", it->cursor);
        PQclear(PQexec(self->conn, self->sql));
    }
    free(it);
}

typedef struct {
    const daisy_roi_t *roi;
    uint64_t count;
} count_t;

static int
count_op(pg_t *self, void *arg, daisy_error_t *err)
{
    count_t *c = arg;
    snprintf(self->sql, sizeof self->sql, "SELECT count(*) FROM (");
    add_node_query(self, c->roi, "n.id", "");
    add(self, ") AS q");
    PGresult *res = run(self, NULL, err, "counting nodes", NULL);
    if (!res)
        return -1;
    c->count = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int
pg_count_nodes(daisy_graphdb_t *base, const daisy_roi_t *roi, uint64_t *count,
               daisy_error_t *err)
{
    count_t c = {.roi = roi};
    if (with_reconnect((pg_t *)base, count_op, &c, err) != 0)
        return -1;
    *count = c.count;
    return 0;
}

const graphdb_backend_t graphdb_postgresql = {
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .load_meta = pg_load_meta,
    .create = pg_create,
    .attach = pg_attach,
    .write_nodes = pg_write_nodes,
    .write_edges = pg_write_edges,
    .update = pg_update,
    .bulk_begin = pg_bulk_begin,
    .bulk_end = pg_bulk_end,
    .nodes = pg_nodes,
    .edges = pg_edges,
    .next = pg_next,
    .iter_destroy = pg_iter_destroy,
    .count_nodes = pg_count_nodes,
};
