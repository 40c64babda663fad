/*  block.c - what a process function says about its block

    A process function returns a number; users want to read why. The
    runner lends the block a buffer for the call (block->error), and the
    function writes into it: no state outside the block, so any number of
    runners and threads may process blocks at once.
*/
#include "daisy/block.h"

#include <stdarg.h>
#include <stdio.h>

void
daisy_block_set_error(const daisy_block_t *block, const char *format, ...)
{
    if (!block || !block->error || block->error_size == 0)
        return;
    va_list ap;
    va_start(ap, format);
    vsnprintf(block->error, block->error_size, format, ap);
    va_end(ap);
}
