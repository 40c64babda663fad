/*  markers_internal.h - what markers.c shares with the daisy 2.0 import
    and the inspection of marker directories (markers_daisy2.c,
    markers_inspect.c) */
#ifndef DAISY_MARKERS_INTERNAL_H
#define DAISY_MARKERS_INTERNAL_H

#include <jansson.h>

#include "daisy/markers.h"

//  DIR/TASK with the task id made safe for a file name (%XX escapes).
void markers_task_dir(const char *dir, const char *id, char *out, size_t size);
//  Our zarr.json for a task.
json_t *markers_metadata(const daisy_graph_t *graph, uint32_t task, uint64_t layout);
//  Written to a temporary file and renamed into place.
int markers_write_metadata(const char *tdir, json_t *meta, daisy_error_t *err);
//  A zarr.json, as json_load_file() reads it, but only from a regular
//  file (a FIFO in its place would block for ever); NULL with `jerr` set.
json_t *markers_load_json(const char *path, json_error_t *jerr);
//  TDIR/c/0/.../0 (one 0 per dimension).
void markers_chunk_path(const char *tdir, int dims, char *out, size_t size);

//  Take over daisy 2.0's markers in `tdir` (their zarr.json `meta`, whose
//  daisy_task_hash the caller found to be the task's): converted into our
//  layout in a new directory that then replaces `tdir`, theirs moved to
//  TDIR~daisy2. 0, or -1 with `tdir` as it was.
int markers_daisy2_import(const char *tdir, const daisy_graph_t *graph, uint32_t task,
                          json_t *meta, daisy_error_t *err);

#endif
