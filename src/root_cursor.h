/*  root_cursor.h - lazy enumeration of the blocks that are ready at start

    The blocks of a task that wait for nothing are the points j of its
    level-0 lattice (a box of `extent[d]` points per dimension) that no
    upstream task covers: task u covers j when, in every dimension d, j[d]
    lies in [lo[u][d], hi[u][d]). With no upstream task every point is a
    root. The cursor counts the roots exactly and hands them out without
    visiting the covered points, so a task whose roots are a thin shell
    around a covered core of 10^12 points costs what the shell costs.

    The order keeps the run's frontier small. Everything downstream of a
    root waits for the roots around it, so the blocks waiting at any time
    are those on the border of the region handed out so far. In
    lexicographic order that region is a slab and its border a whole
    cross-section of the grid: 10^8 blocks for a 10^12-block cube. Here
    the lattice is halved recursively (a k-d tree walked depth first,
    lower half first) down to tiles of about 512 points, walked
    lexicographically, so the region handed out is a union of boxes of
    one shape and its border grows like its volume to the power
    (dims-1)/dims, the least any order can do (isoperimetry), up to a
    constant factor.

    The shape is the one whose border holds the fewest waiting blocks. A
    cell on the border across dimension d keeps about weight[d] blocks
    waiting (for conflicts: how many level steps reach across d); a box of
    sides s[d] and volume V has a border of sum(weight[d] V / s[d]), least
    when s[d] is proportional to weight[d]. So the walk always halves the
    dimension longest for its weight. Where the grid is short in the
    heavy dimensions the boxes span it whole, and the order becomes
    lexicographic, with a border of one (small) cross-section.
*/
#ifndef DAISY_ROOT_CURSOR_H
#define DAISY_ROOT_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "daisy/geometry.h"

#define ROOT_CURSOR_MAX_UPSTREAM 32

typedef struct _root_cursor_t root_cursor_t;

//  `weight` (NULL: all 1) holds the border cost per dimension; `lo` and
//  `hi` hold n_up * dims values, upstream task u's interval of dimension d
//  at [u * dims + d]. NULL when n_up is too large or memory runs out.
root_cursor_t *root_cursor_new(int dims, const int64_t *extent, const double *weight,
                               int n_up, const int64_t *lo, const int64_t *hi);
void root_cursor_destroy(root_cursor_t **self_p);
//  The next root (lattice point), or false when none is left.
bool root_cursor_next(root_cursor_t *self, int64_t *j);
//  Roots not yet handed out.
uint64_t root_cursor_left(const root_cursor_t *self);

#endif
