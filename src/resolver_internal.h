/*  resolver_internal.h - the resolver as the scheduler drives it

    The public calls (daisy/resolver.h) name blocks by reference only. The
    scheduler has each block's grid position at hand when it hands out a
    root or resolves a block it just filled in, and wants the positions of
    the blocks that became ready, so these variants carry positions both
    ways and nothing is unflattened twice.
*/
#ifndef DAISY_RESOLVER_INTERNAL_H
#define DAISY_RESOLVER_INTERNAL_H

#include "daisy/resolver.h"
#include "ready_queue.h"

//  A block became ready (`ready` true) or was orphaned; `k` is its
//  position, `level` its level or READY_LEVEL_UNKNOWN.
typedef void (resolver_fn)(void *arg, uint32_t task, uint64_t index, const int64_t *k,
                           uint32_t level, bool ready);

//  daisy_resolver_next_root, with the root's grid position in k.
bool resolver_next_root(daisy_resolver_t *self, uint32_t task, uint64_t *index, int64_t *k);
//  Where resolver_resolve sends the blocks it resolves: the blocks of a
//  task made ready onto its queue, when it has one (with attempt 0), all
//  others (orphaned ones, and ready ones of tasks without a queue) to
//  fn. Tasks have no queue until given one; both are kept until set again.
void resolver_set_queue(daisy_resolver_t *self, uint32_t task, ready_queue_t *queue);
void resolver_set_output(daisy_resolver_t *self, resolver_fn *fn, void *arg);
//  daisy_resolver_resolve for the block at position k (NULL: computed
//  from the index) of level `level` (UINT64_MAX: computed from k), its
//  downstream blocks sent as resolver_set_output says.
int resolver_resolve(daisy_resolver_t *self, uint32_t task, uint64_t index, const int64_t *k,
                     uint64_t level, bool ok);
//  resolver_resolve of a success with its position and level at hand
//  (the scheduler's usual release), without testing for them.
int resolver_resolve_done(daisy_resolver_t *self, uint32_t task, uint64_t index,
                          const int64_t *k, uint64_t level);

#endif
