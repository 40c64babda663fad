/*  root_cursor.h - lazy enumeration of the blocks that are ready at start

    The blocks of a task that wait for nothing are the points j of its
    level-0 lattice (a box of `extent[d]` points per dimension) that no
    upstream task covers: task u covers j when, in every dimension d, j[d]
    lies in [lo[u][d], hi[u][d]). With no upstream task every point is a
    root. The cursor hands the roots out in lexicographic order (last
    dimension fastest) and counts them exactly, without visiting the
    covered points, so a task whose roots are a thin shell around a covered
    core of 10^12 points costs what the shell costs.
*/
#ifndef DAISY_ROOT_CURSOR_H
#define DAISY_ROOT_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "daisy/geometry.h"

#define ROOT_CURSOR_MAX_UPSTREAM 32

typedef struct _root_cursor_t root_cursor_t;

//  `lo` and `hi` hold n_up * dims values, upstream task u's interval of
//  dimension d at [u * dims + d]. NULL when n_up is too large or memory
//  runs out.
root_cursor_t *root_cursor_new(int dims, const int64_t *extent, int n_up,
                               const int64_t *lo, const int64_t *hi);
void root_cursor_destroy(root_cursor_t **self_p);
//  The next root (lattice point), or false when none is left.
bool root_cursor_next(root_cursor_t *self, int64_t *j);
//  Roots not yet handed out.
uint64_t root_cursor_left(const root_cursor_t *self);

#endif
