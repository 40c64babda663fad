/*  daisy/resolver.h - which blocks may run, as blocks finish

    The dependency resolver turns "this block succeeded" or "this block
    failed for good" into the blocks that became ready (across tasks) and
    the blocks orphaned (every block downstream of a failure, transitively).
    It also hands out, per task, the blocks that wait for nothing.

    It remembers only the frontier: for each block with some but not all of
    its upstream blocks resolved, how many are left and whether one failed.
    A block is orphaned once all its upstream blocks are resolved and one of
    them failed or was orphaned, so orphans are reported as the run reaches
    them, and the counts are exact when the run ends. Every block must be
    resolved at most once; the scheduler sees to that.
*/
#ifndef DAISY_RESOLVER_H
#define DAISY_RESOLVER_H

//  A core-layer header: not for protocol code (layers: meson.build).
#if defined(DAISY_LAYER_PROTOCOL)
#error "daisy/resolver.h belongs to a layer above this one (see the layers in meson.build)"
#endif

#include "daisy/export.h"
#include "daisy/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _daisy_resolver_t daisy_resolver_t;

//  Called for each block that became ready (`ready` true) or orphaned.
typedef void (daisy_resolver_fn)(void *arg, daisy_block_ref_t ref, bool ready);

//  A resolver over the graph (which must outlive it); NULL with a message
//  when a task cannot be handled (more than 32 upstream tasks, or blocks
//  with more than 2^31 upstream blocks).
DAISY_EXPORT daisy_resolver_t *daisy_resolver_new(const daisy_graph_t *graph, daisy_error_t *err);
//  The same, with some tasks already complete (complete[t] true: every
//  block of task t is done, as when resuming from done markers). Their
//  blocks are never handed out or resolved, and blocks downstream of them
//  do not wait for them.
DAISY_EXPORT daisy_resolver_t *daisy_resolver_new_resumed(const daisy_graph_t *graph,
                                                          const bool *complete, daisy_error_t *err);
DAISY_EXPORT void daisy_resolver_destroy(daisy_resolver_t **self_p);

//  The next block of `task` that waits for nothing; false when none is
//  left. They come tile by tile (small boxes of the level-0 lattice, each
//  in plan order), the tiles walked so that the region handed out stays a
//  compact box and the blocks waiting on its border stay few: on a grid of
//  10^12 blocks their number grows like the region's surface, not its
//  cross-section. Every such block comes exactly once; which comes when is
//  not part of the contract.
DAISY_EXPORT bool daisy_resolver_next_root(daisy_resolver_t *self, uint32_t task,
                                           daisy_block_ref_t *ref);
//  Blocks of `task` that wait for nothing and were not handed out yet.
DAISY_EXPORT uint64_t daisy_resolver_roots_left(const daisy_resolver_t *self, uint32_t task);

//  Record that `ref` succeeded (ok) or failed for good, and report through
//  fn the blocks that became ready or orphaned as a consequence. Returns -1
//  only when memory runs out.
DAISY_EXPORT int daisy_resolver_resolve(daisy_resolver_t *self, daisy_block_ref_t ref, bool ok,
                                        daisy_resolver_fn *fn, void *arg);

//  Blocks waiting on some but not all of their upstream blocks. Counted
//  when asked for small tasks (a pass over at most 8 MiB of counts, under
//  a millisecond), so that resolving blocks keeps no tally: ask it for
//  statistics, not once per block.
DAISY_EXPORT size_t daisy_resolver_waiting(const daisy_resolver_t *self);

#ifdef __cplusplus
}
#endif
#endif
