/*  plugin_checksum.c - a daisy-worker plugin

    Plugins run blocks inside the worker process, for blocks too short to
    pay for starting a command each. daisy-worker --plugin LIB.so calls:

      int  daisy_plugin_init(int argc, char **argv, void **state)  (optional)
      int  daisy_plugin_process(const daisy_block_t *block, void *state)
      void daisy_plugin_fini(void *state)                          (optional)

    This one sums the coordinates of every voxel of the block's write ROI,
    a stand-in for real work, and fails blocks whose id is a multiple of
    the number given after `--` (0 or nothing: never), to show retries.
    examples/pipelines/plugin.json runs it.
*/
#include <stdio.h>
#include <stdlib.h>

#include "daisy/daisy.h"

typedef struct {
    long fail_every;
    uint64_t blocks;
} state_t;

int
daisy_plugin_init(int argc, char **argv, void **state)
{
    state_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->fail_every = argc > 0 ? atol(argv[0]) : 0;
    *state = s;
    return 0;
}

int
daisy_plugin_process(const daisy_block_t *block, void *state)
{
    state_t *s = state;
    s->blocks++;
    if (s->fail_every > 0 && block->block_id % (uint64_t)s->fail_every == 0)
        return 1;
    //  The sum of the first coordinate over every voxel of the write ROI.
    const daisy_roi_t *w = &block->write_roi;
    int64_t sum = 0, rest = daisy_roi_size(w) / (w->shape[0] ? w->shape[0] : 1);
    for (int64_t z = w->offset[0]; z < w->offset[0] + w->shape[0]; z++)
        sum += z * rest;
    printf("block %llu: checksum %lld\n", (unsigned long long)block->block_id, (long long)sum);
    return 0;
}

void
daisy_plugin_fini(void *state)
{
    state_t *s = state;
    fprintf(stderr, "plugin: %llu blocks\n", (unsigned long long)s->blocks);
    free(s);
}
