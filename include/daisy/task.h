/*  daisy/task.h - a task: what to run on every block of a volume

    A task has an id, a total ROI (the region that may be read), a block read
    ROI and write ROI (offsets relative to the block; the write ROI lies in
    the read ROI), and daisy's options with daisy's defaults:
    read_write_conflict true, fit valid, max_retries 2, no timeout, one
    worker, no write grid. It names its upstream tasks by id, and says what runs per block:
    a shell `command` run once per block, a long-lived `worker` program, or
    a C process function (for embedded use and the serial runner). An
    optional completion check says a block is already done.

    Tasks are owned by a pipeline once added (see daisy/pipeline.h).
*/
#ifndef DAISY_TASK_H
#define DAISY_TASK_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/task.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/block.h"
#include "daisy/error.h"
#include "daisy/export.h"
#include "daisy/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DAISY_FIT_VALID,     //  only blocks whose write ROI lies inside the total write ROI
    DAISY_FIT_OVERHANG,  //  every block whose write ROI begins inside it
    DAISY_FIT_SHRINK     //  as overhang, ROIs cut to the total ROIs
} daisy_fit_t;

//  Process one block; return 0 on success, anything else is a failure
//  (retried up to max_retries times), whose reason daisy_block_set_error()
//  gives (daisy/block.h).
typedef int (daisy_process_fn)(const daisy_block_t *block, void *arg);
//  Return true when the block is already done (it is then skipped).
typedef bool (daisy_check_fn)(const daisy_block_t *block, void *arg);

typedef struct _daisy_task_t daisy_task_t;

//  A task with the given id and ROIs (copied) and daisy's defaults.
DAISY_EXPORT daisy_task_t *daisy_task_new(const char *id, daisy_roi_t total_roi,
                                          daisy_roi_t read_roi, daisy_roi_t write_roi);
DAISY_EXPORT void daisy_task_destroy(daisy_task_t **self_p);

DAISY_EXPORT const char *daisy_task_id(const daisy_task_t *self);
//  A task or worker id as one file name, as markers and logs name their
//  files and directories: letters, digits, '-', '_' and '.' kept, every
//  other byte %XX (so '/' never makes a directory), and an id of dots
//  only ("." and "..", which a path would read as places) in %2E each.
//  Distinct ids give distinct names. Truncated to fit `size` (at least 1).
DAISY_EXPORT void daisy_file_name(const char *id, char *out, size_t size);
DAISY_EXPORT daisy_roi_t daisy_task_total_roi(const daisy_task_t *self);
DAISY_EXPORT daisy_roi_t daisy_task_read_roi(const daisy_task_t *self);
DAISY_EXPORT daisy_roi_t daisy_task_write_roi(const daisy_task_t *self);

DAISY_EXPORT void daisy_task_set_read_write_conflict(daisy_task_t *self, bool conflict);
DAISY_EXPORT bool daisy_task_read_write_conflict(const daisy_task_t *self);
//  A write grid: cells of `grid->shape` (world units) laid from
//  `grid->offset`, e.g. the shards of a Zarr v3 output array. Blocks whose
//  write ROIs meet a common cell never run at the same time (the level
//  stride grows until blocks of one level touch no cell together, and
//  levels run in order as for read/write conflicts), so workers may write
//  whole shards' inner chunks without a lock. Blocks aligned to the cells
//  (write shape a multiple of the cell, offsets on the grid) cost nothing.
//  NULL or dims 0 clears it (the default: no write grid).
DAISY_EXPORT void daisy_task_set_write_grid(daisy_task_t *self, const daisy_roi_t *grid);
//  The write grid (dims 0 when there is none).
DAISY_EXPORT daisy_roi_t daisy_task_write_grid(const daisy_task_t *self);
DAISY_EXPORT void daisy_task_set_fit(daisy_task_t *self, daisy_fit_t fit);
DAISY_EXPORT daisy_fit_t daisy_task_fit(const daisy_task_t *self);
DAISY_EXPORT void daisy_task_set_max_retries(daisy_task_t *self, int max_retries);
DAISY_EXPORT int daisy_task_max_retries(const daisy_task_t *self);
//  Seconds a block may run before it is taken back; 0 means no limit.
DAISY_EXPORT void daisy_task_set_timeout(daisy_task_t *self, double seconds);
DAISY_EXPORT double daisy_task_timeout(const daisy_task_t *self);
//  The timeout as the runners apply it: whole milliseconds, rounded up (a
//  timeout under 1 ms is 1 ms, never "no limit"), at most UINT32_MAX
//  (49 days); 0 when there is none or it is not a number of seconds > 0.
DAISY_EXPORT uint32_t daisy_task_timeout_ms(const daisy_task_t *self);
DAISY_EXPORT void daisy_task_set_workers(daisy_task_t *self, int workers);
DAISY_EXPORT int daisy_task_workers(const daisy_task_t *self);

//  Name a task whose blocks this task's blocks read (copied).
DAISY_EXPORT void daisy_task_add_upstream(daisy_task_t *self, const char *task_id);
DAISY_EXPORT size_t daisy_task_upstream_count(const daisy_task_t *self);
DAISY_EXPORT const char *daisy_task_upstream(const daisy_task_t *self, size_t i);

//  Shell command run once per block (copied; NULL clears).
DAISY_EXPORT void daisy_task_set_command(daisy_task_t *self, const char *command);
DAISY_EXPORT const char *daisy_task_command(const daisy_task_t *self);
//  Long-lived worker program that runs the worker loop (copied; NULL clears).
DAISY_EXPORT void daisy_task_set_worker(daisy_task_t *self, const char *worker);
DAISY_EXPORT const char *daisy_task_worker(const daisy_task_t *self);
//  Shell command that exits 0 when a block is already done (copied).
DAISY_EXPORT void daisy_task_set_check_command(daisy_task_t *self, const char *command);
DAISY_EXPORT const char *daisy_task_check_command(const daisy_task_t *self);

//  What one worker of the task needs, for batch systems (the slurm
//  launcher maps it onto sbatch options). Zero and NULL: not stated.
typedef struct {
    uint32_t cpus;             //  --cpus-per-task
    uint32_t gpus;             //  --gpus
    const char *mem;           //  --mem, e.g. "16G" (digits, then K, M, G or T)
    const char *time;          //  --time, e.g. "2:00:00", "1-12:00:00", "90"
    const char *partition;     //  --partition
    const char *extra;         //  further sbatch options, space-separated, each "--..."
} daisy_resources_t;

//  Set the task's resources (copied); validation checks their form.
DAISY_EXPORT void daisy_task_set_resources(daisy_task_t *self, const daisy_resources_t *r);
//  The task's resources (all unset by default); owned by the task.
DAISY_EXPORT const daisy_resources_t *daisy_task_resources(const daisy_task_t *self);

//  C process function and completion check, with their argument.
DAISY_EXPORT void daisy_task_set_process(daisy_task_t *self, daisy_process_fn *fn, void *arg);
DAISY_EXPORT daisy_process_fn *daisy_task_process(const daisy_task_t *self, void **arg);
DAISY_EXPORT void daisy_task_set_check(daisy_task_t *self, daisy_check_fn *fn, void *arg);
DAISY_EXPORT daisy_check_fn *daisy_task_check(const daisy_task_t *self, void **arg);

//  "valid", "overhang", "shrink".
DAISY_EXPORT const char *daisy_fit_name(daisy_fit_t fit);
//  Parse a fit name; -1 when unknown.
DAISY_EXPORT int daisy_fit_parse(const char *name, daisy_fit_t *fit);

#ifdef __cplusplus
}
#endif
#endif
