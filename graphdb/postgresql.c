#include "graphdb_internal.h"
static daisy_graphdb_t *pg_open(const char *l, daisy_graphdb_mode_t m, daisy_error_t *err)
{ (void)m; daisy_error_set(err, "%s: not yet", l); return NULL; }
const graphdb_backend_t graphdb_postgresql = { .scheme = "postgresql", .open = pg_open };
