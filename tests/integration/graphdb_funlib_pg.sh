#!/usr/bin/env bash
# graphdb_funlib.sh against PostgreSQL: graphs written by daisy/graphdb.h
# in a postgresql:// database open in funlib.persistence's
# PgSQLGraphDatabase, and the other way round, on the throwaway server that
# scripts/test.sh starts (DAISY_TEST_POSTGRES; skipped, saying why, without
# it or without funlib's sources).
exec bash "$(dirname "$0")/graphdb_funlib.sh" "${1:?graph_tool}" postgresql
