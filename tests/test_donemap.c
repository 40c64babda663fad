/*  test_donemap.c - the done map against a plain array of block states

    The map is internal (src/donemap.c is compiled into this test), so its
    tiles can be made small: grids of a few tiles a side, tiles of 2-4
    blocks, so that tiles are made, completed, kept for their neighbours
    and dropped many times per round. After every block resolved, every
    block that some unresolved block may still ask about (within `reach`
    of it) must answer as the array says; a tile dropped too early answers
    "waiting" for resolved blocks and fails this. At the end every tile
    must be gone.
*/
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "donemap.h"
#include "testutil.h"

#define D DAISY_MAX_DIMS

typedef struct {
    int dims;
    int64_t n[D], reach[D], cell[D];
    bool cells;
    uint64_t total, levels;
    char *state;       //  per block: DONEMAP_WAITING, _OK or _FAILED
    char *asked;       //  per block: within reach of an unresolved block
} grid_t;

static void
unflatten(const grid_t *g, uint64_t i, int64_t *k)
{
    for (int d = g->dims - 1; d >= 0; d--) {
        k[d] = (int64_t)(i % (uint64_t)g->n[d]);
        i /= (uint64_t)g->n[d];
    }
}

static uint64_t
flatten(const grid_t *g, const int64_t *k)
{
    uint64_t i = 0;
    for (int d = 0; d < g->dims; d++)
        i = i * (uint64_t)g->n[d] + (uint64_t)k[d];
    return i;
}

//  A block's level within its cell, as the graph numbers levels: the
//  largest offset first.
static uint64_t
level_of(const grid_t *g, const int64_t *k)
{
    uint64_t rank = 0;
    for (int d = 0; d < g->dims; d++)
        rank = rank * (uint64_t)g->cell[d] + (uint64_t)(k[d] % g->cell[d]);
    return g->levels - 1 - rank;
}

//  Mark the blocks within reach of every unresolved block.
static void
mark_asked(const grid_t *g)
{
    memset(g->asked, 0, g->total);
    for (uint64_t i = 0; i < g->total; i++) {
        if (g->state[i] != DONEMAP_WAITING)
            continue;
        int64_t k[D] = {0}, lo[D], hi[D], q[D];
        unflatten(g, i, k);
        for (int d = 0; d < g->dims; d++) {
            lo[d] = k[d] - g->reach[d] < 0 ? 0 : k[d] - g->reach[d];
            hi[d] = k[d] + g->reach[d] >= g->n[d] ? g->n[d] - 1 : k[d] + g->reach[d];
            q[d] = lo[d];
        }
        for (;;) {
            g->asked[flatten(g, q)] = 1;
            int d = g->dims - 1;
            while (d >= 0 && q[d] == hi[d])
                q[d] = lo[d], d--;
            if (d < 0)
                break;
            q[d]++;
        }
    }
}

static void
check_answers(const grid_t *g, donemap_t *map, int round, uint64_t step)
{
    mark_asked(g);
    for (uint64_t i = 0; i < g->total; i++) {
        if (!g->asked[i])
            continue;
        int64_t k[D] = {0};
        unflatten(g, i, k);
        uint64_t level = g->cells ? level_of(g, k) : 0;
        cr_assert_eq(donemap_get(map, k, level), g->state[i],
                     "round %d step %llu block %llu: %d, expected %d", round,
                     (unsigned long long)step, (unsigned long long)i,
                     donemap_get(map, k, level), g->state[i]);
    }
}

//  The next block to resolve: any unresolved block without cells; with
//  cells, the next level of a cell (levels come in order in a cell).
static uint64_t
pick(uint64_t *rng, const grid_t *g)
{
    for (;;) {
        uint64_t i = (uint64_t)tu_range(rng, 0, (int64_t)g->total - 1);
        if (g->state[i] != DONEMAP_WAITING)
            continue;
        if (!g->cells)
            return i;
        //  The cell's lowest unresolved level.
        int64_t k[D] = {0}, c[D], q[D] = {0};
        unflatten(g, i, k);
        for (int d = 0; d < g->dims; d++)
            c[d] = k[d] - k[d] % g->cell[d];
        uint64_t best = UINT64_MAX, best_level = UINT64_MAX;
        for (;;) {
            int64_t b[D] = {0};
            for (int d = 0; d < g->dims; d++)
                b[d] = c[d] + q[d];
            uint64_t j = flatten(g, b), level = level_of(g, b);
            if (g->state[j] == DONEMAP_WAITING && level < best_level)
                best = j, best_level = level;
            int d = g->dims - 1;
            while (d >= 0 && q[d] == g->cell[d] - 1)
                q[d] = 0, d--;
            if (d < 0)
                break;
            q[d]++;
        }
        return best;
    }
}

//  Whether an earlier level of the block's cell failed (then it fails
//  too: it waits for that level, as the resolver orphans it).
static bool
cell_failed(const grid_t *g, const int64_t *k)
{
    int64_t b[D] = {0};
    uint64_t level = level_of(g, k);
    for (uint64_t j = 0; j < g->total; j++) {
        unflatten(g, j, b);
        bool same = true;
        for (int d = 0; d < g->dims; d++)
            same &= b[d] / g->cell[d] == k[d] / g->cell[d];
        if (same && level_of(g, b) < level && g->state[j] == DONEMAP_FAILED)
            return true;
    }
    return false;
}

static void
run_round(uint64_t *rng, int round, bool cells)
{
    grid_t g = {.dims = (int)tu_range(rng, 1, cells ? 3 : 4), .cells = cells};
    unsigned side = (unsigned)tu_range(rng, 1, 2);
    g.total = 1;
    g.levels = 1;
    for (int d = 0; d < g.dims; d++) {
        g.cell[d] = cells ? tu_range(rng, 1, 2) : 1;
        int64_t most = g.dims >= 3 ? 7 : 14;
        g.n[d] = g.cell[d] * tu_range(rng, 1, most / g.cell[d]);
        g.reach[d] = cells ? g.cell[d] - 1 : tu_range(rng, 0, 2);
        g.total *= (uint64_t)g.n[d];
        g.levels *= (uint64_t)g.cell[d];
    }
    if (cells)
        side += 1;   //  a tile of at least two cells a side
    donemap_t *map = donemap_new(g.dims, g.n, g.reach, cells ? g.cell : NULL, side);
    cr_assert_not_null(map);
    g.state = calloc(g.total, 1);
    g.asked = calloc(g.total, 1);
    for (uint64_t step = 0; step < g.total; step++) {
        uint64_t i = pick(rng, &g);
        int64_t k[D] = {0};
        unflatten(&g, i, k);
        bool failed = tu_range(rng, 0, 9) == 0 || (cells && cell_failed(&g, k));
        uint64_t level = cells ? level_of(&g, k) : 0;
        cr_assert_eq(donemap_set(map, k, level, failed), 0);
        g.state[i] = failed ? DONEMAP_FAILED : DONEMAP_OK;
        check_answers(&g, map, round, step);
    }
    cr_assert_eq(donemap_tiles(map), 0, "round %d: %zu tiles left", round, donemap_tiles(map));
    cr_assert_eq(donemap_tiles_with_bits(map), 0);
    donemap_destroy(&map);
    cr_assert_null(map);
    free(g.state);
    free(g.asked);
}

Test(donemap, blocks_answer_as_resolved_and_tiles_go, .timeout = 120)
{
    uint64_t rng = 21;
    for (int round = 0; round < 60; round++)
        run_round(&rng, round, false);
}

Test(donemap, cells_answer_as_resolved_and_tiles_go, .timeout = 120)
{
    uint64_t rng = 22;
    for (int round = 0; round < 60; round++)
        run_round(&rng, round, true);
}

//  A grid whose tiles would not number in 31 bits is refused.
Test(donemap, too_many_tiles_do_not_fit)
{
    int64_t n[3] = {(int64_t)1 << 20, (int64_t)1 << 20, (int64_t)1 << 20}, reach[3] = {1, 1, 1};
    cr_assert_not(donemap_fits(3, n, reach, 3));
    cr_assert_null(donemap_new(3, n, reach, NULL, 3));
    cr_assert(donemap_fits(3, n, reach, 10));
}
