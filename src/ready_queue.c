/*  ready_queue.c - growing the ring of ready blocks (ready_queue.h)

    Entries keep their order across a grow: they are copied out from the
    head, and the new ring starts at 0.
*/
#include "ready_queue.h"

#include <stdlib.h>

int
ready_queue_grow(ready_queue_t *self)
{
    size_t cap = self->items ? (self->mask + 1) * 2 : 256;
    ready_block_t *items = calloc(cap, sizeof *items);   //  positions zero past dims
    if (!items)
        return -1;
    for (size_t i = 0; i < self->len; i++)
        items[i] = *ready_queue_at(self, i);
    free(self->items);
    self->items = items;
    self->mask = cap - 1;
    self->head = 0;
    return 0;
}

void
ready_queue_free(ready_queue_t *self)
{
    free(self->items);
    *self = (ready_queue_t){0};
}
