/*  daisy/daisy.h - the whole public API of libdaisy

    Include this one header. Modules, in the order data flows through them:
    geometry (coordinates, ROIs) -> task, pipeline (what to run) -> graph
    (blocks, levels, dependencies) -> resolver (what may run) -> scheduler
    (who gets what) -> serial runner / broker and workers (who runs it) ->
    summary (what happened).
*/
#ifndef DAISY_H
#define DAISY_H

//  For programs: the library's own layers include only what they use.
#if defined(DAISY_LAYER_CORE) || defined(DAISY_LAYER_ZARR) || defined(DAISY_LAYER_PROTOCOL) \
    || defined(DAISY_LAYER_BROKER) || defined(DAISY_LAYER_WORKER) || defined(DAISY_LAYER_RUNTIME)
#error "daisy/daisy.h is for programs; library code includes the headers it needs"
#endif

#include "daisy/version.h"
#include "daisy/error.h"
#include "daisy/text.h"
#include "daisy/geometry.h"
#include "daisy/block.h"
#include "daisy/counts.h"
#include "daisy/task.h"
#include "daisy/pipeline.h"
#include "daisy/graph.h"
#include "daisy/resolver.h"
#include "daisy/markers.h"
#include "daisy/scheduler.h"
#include "daisy/summary.h"
#include "daisy/block_exec.h"
#include "daisy/serial.h"
#include "daisy/protocol.h"
#include "daisy/broker.h"
#include "daisy/launcher.h"
#include "daisy/worker.h"
#include "daisy/blockwise.h"
#include "daisy/array.h"
#include "daisy/graphdb.h"

#endif
