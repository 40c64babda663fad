/*  daisy/markers.h - done markers: which blocks of a task completed, on disk

    One byte per block (by grid index, row-major) in a memory-mapped file,
    so marking a block is a store to memory and a killed process loses
    nothing: the pages belong to the kernel once written. The file is the
    single chunk of a Zarr v3 array (uint8, shape = the task's grid, no
    compression), DIR/TASK/zarr.json beside DIR/TASK/c/0/0/0, so Python
    (zarr-python 3, or numpy.memmap) reads the same bytes. The array's
    attributes hold a hash of what decides the block layout (total, read and
    write ROIs, fit); markers recorded under another layout are refused
    unless the caller asks to reset them. Files are sparse: a task of 10^12
    blocks costs disk only where blocks are done.
*/
#ifndef DAISY_MARKERS_H
#define DAISY_MARKERS_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/markers.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_markers_t daisy_markers_t;

//  Open (or create) the markers of `task` under `dir` (created if needed).
//  When recorded markers have another layout: with `reset` they are
//  discarded, without it NULL with a message naming the task and the
//  directory. daisy 2.0's markers of the same layout (by its hash) are
//  converted into this format first, theirs kept beside as TASK~daisy2;
//  of another layout they are refused (or, with `reset`, discarded) as
//  ours are.
DAISY_EXPORT daisy_markers_t *daisy_markers_open(const char *dir, const daisy_graph_t *graph,
                                                 uint32_t task, bool reset, daisy_error_t *err);
//  Whether this task's markers were recorded in the directory before this
//  open, for the same layout (a run that resumes, though perhaps with no
//  block done yet); false for new ones and for those `reset` discarded.
DAISY_EXPORT bool daisy_markers_resumed(const daisy_markers_t *self);
//  Flushes and closes.
DAISY_EXPORT void daisy_markers_close(daisy_markers_t **self_p);

DAISY_EXPORT bool daisy_markers_done(const daisy_markers_t *self, uint64_t index);
//  Record a block. Disk space is reserved before a mark is stored, so a
//  full or failing disk is an error, never a SIGBUS: the first one is
//  kept, nothing is recorded after it, and daisy_markers_failure() says it.
//  0 when the block is marked (now or before), -1 when it could not be.
DAISY_EXPORT int daisy_markers_set(daisy_markers_t *self, uint64_t index);
//  0, or -1 with a message naming the file and the reason, once recording
//  failed (space, I/O, a flush).
DAISY_EXPORT int daisy_markers_failure(const daisy_markers_t *self, daisy_error_t *err);
//  Blocks marked done (counted at open, kept up to date by set).
DAISY_EXPORT uint64_t daisy_markers_count(const daisy_markers_t *self);
//  Write dirty pages to disk (msync); -1 on failure.
DAISY_EXPORT int daisy_markers_flush(daisy_markers_t *self);
//  The layout hash of a task (what the markers are checked against).
DAISY_EXPORT uint64_t daisy_markers_layout(const daisy_graph_t *graph, uint32_t task);


//  daisy 2.0's layout hash of a task (`daisy_task_hash`: SHA-256 over its
//  total, read and write ROIs and fit), 64 hex digits and a NUL.
DAISY_EXPORT void daisy_markers_daisy2_hash(const daisy_graph_t *graph, uint32_t task,
                                            char out[65]);

//  What a marker directory holds, read without a pipeline.
typedef enum {
    DAISY_MARKERS_DAISY_C,      //  written here (attributes.daisy)
    DAISY_MARKERS_DAISY2        //  written by daisy 2.0 (attributes.daisy_task_hash)
} daisy_markers_format_t;

typedef struct {
    daisy_markers_format_t format;
    char task[256];             //  the task id recorded (daisy 2.0: the directory's name)
    char layout[65];            //  the layout hash, hex (16 digits here, 64 in daisy 2.0)
    int dims;
    int64_t shape[DAISY_MAX_DIMS];  //  the marker array's shape: the task's grid
    uint64_t blocks;            //  product of shape: one byte each
    uint64_t done;              //  bytes not 0
    char chunk[4200];           //  the chunk file (raw bytes, C order)
} daisy_markers_info_t;

//  Read the markers in `task_dir` (DIR/TASK) without changing anything:
//  0, or -1 with a message naming the file and the field at fault
//  (missing, damaged zarr.json, neither format, a chunk file whose size is
//  not the shape's).
DAISY_EXPORT int daisy_markers_inspect(const char *task_dir, daisy_markers_info_t *info,
                                       daisy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
