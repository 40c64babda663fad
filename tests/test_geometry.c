/*  test_geometry.c - coordinates and ROIs (src/geometry.c)

    Fixed cases pin the funlib semantics that are easy to get wrong (floor
    division of negatives, touching ROIs, empty ROIs, snapping of negative
    coordinates); a seeded randomized test checks the algebraic properties
    against brute-force point counting.
*/
#include <criterion/criterion.h>

#include <limits.h>
#include <string.h>

#include "daisy/geometry.h"

//  Shorthands: R2(ob, oc, sb, sc) is a 2D ROI with offset (ob, oc) and shape
//  (sb, sc); C2/C3 build coordinates.
static daisy_roi_t
R1(int64_t o, int64_t s)
{
    return daisy_roi_make(1, &o, &s);
}

static daisy_roi_t
R2(int64_t o0, int64_t o1, int64_t s0, int64_t s1)
{
    int64_t o[] = {o0, o1}, s[] = {s0, s1};
    return daisy_roi_make(2, o, s);
}

static daisy_coord_t
C1(int64_t a)
{
    return daisy_coord_make(1, &a);
}

static daisy_coord_t
C2(int64_t a, int64_t b)
{
    int64_t v[] = {a, b};
    return daisy_coord_make(2, v);
}

static daisy_coord_t
C3(int64_t a, int64_t b, int64_t c)
{
    int64_t v[] = {a, b, c};
    return daisy_coord_make(3, v);
}

static void
expect_roi(daisy_roi_t got, daisy_roi_t want)
{
    cr_assert_eq(got.dims, want.dims, "dims %d != %d", got.dims, want.dims);
    for (int i = 0; i < want.dims; i++) {
        cr_assert_eq(got.offset[i], want.offset[i], "offset[%d] %lld != %lld",
                     i, (long long) got.offset[i], (long long) want.offset[i]);
        cr_assert_eq(got.shape[i], want.shape[i], "shape[%d] %lld != %lld",
                     i, (long long) got.shape[i], (long long) want.shape[i]);
    }
}

static void
expect_coord(daisy_coord_t got, daisy_coord_t want)
{
    cr_assert(daisy_coord_equal(got, want));
}

//  Coordinates ------------------------------------------------------------

Test(geometry, coord_make_zeroes_rest)
{
    int64_t v[DAISY_MAX_DIMS] = {7, 8, 9, 10, 11, 12};
    daisy_coord_t c = daisy_coord_make(3, v);
    cr_assert_eq(c.dims, 3);
    cr_assert_eq(c.v[0], 7);
    cr_assert_eq(c.v[2], 9);
    for (int i = 3; i < DAISY_MAX_DIMS; i++)
        cr_assert_eq(c.v[i], 0);
    daisy_coord_t d = daisy_coord_make(3, v);
    cr_assert_eq(memcmp(&c, &d, sizeof c), 0);
}

Test(geometry, coord_fill)
{
    daisy_coord_t c = daisy_coord_fill(4, -3);
    cr_assert_eq(c.dims, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(c.v[i], -3);
    cr_assert_eq(c.v[4], 0);
    cr_assert_eq(c.v[5], 0);
}

Test(geometry, coord_equal)
{
    cr_assert(daisy_coord_equal(C2(1, 2), C2(1, 2)));
    cr_assert_not(daisy_coord_equal(C2(1, 2), C2(1, 3)));
    cr_assert_not(daisy_coord_equal(C2(1, 2), C3(1, 2, 0)));
}

Test(geometry, coord_arithmetic)
{
    expect_coord(daisy_coord_add(C3(1, -2, 3), C3(10, 20, -30)), C3(11, 18, -27));
    expect_coord(daisy_coord_sub(C3(1, -2, 3), C3(10, 20, -30)), C3(-9, -22, 33));
    expect_coord(daisy_coord_mul(C3(1, -2, 3), C3(10, 20, -30)), C3(10, -40, -90));
}

Test(geometry, coord_floor_div_mod)
{
    expect_coord(daisy_coord_div(C3(-7, 7, -8), C3(2, 2, 2)), C3(-4, 3, -4));
    expect_coord(daisy_coord_mod(C3(-7, 7, -8), C3(2, 2, 2)), C3(1, 1, 0));
    expect_coord(daisy_coord_div(C2(-1, 0), C2(10, 10)), C2(-1, 0));
    expect_coord(daisy_coord_mod(C2(-1, -10), C2(10, 10)), C2(9, 0));
    expect_coord(daisy_coord_div(C1(INT64_MIN), C1(3)), C1(INT64_MIN / 3 - 1));
}

Test(geometry, coord_div_mod_identity)
{
    //  a == (a div b) * b + (a mod b) and 0 <= a mod b < b for all small a, b.
    for (int64_t a = -50; a <= 50; a++) {
        for (int64_t b = 1; b <= 12; b++) {
            int64_t q = daisy_coord_div(C1(a), C1(b)).v[0];
            int64_t r = daisy_coord_mod(C1(a), C1(b)).v[0];
            cr_assert(r >= 0 && r < b, "%lld mod %lld = %lld",
                      (long long) a, (long long) b, (long long) r);
            cr_assert_eq(q * b + r, a);
        }
    }
}

Test(geometry, coord_product)
{
    cr_assert_eq(daisy_coord_product(C3(2, 3, 4)), 24);
    cr_assert_eq(daisy_coord_product(C3(-2, 3, 4)), -24);
    cr_assert_eq(daisy_coord_product(C1(5)), 5);
    cr_assert_eq(daisy_coord_product(C3(INT64_MAX / 2, 3, 1)), INT64_MAX);
    cr_assert_eq(daisy_coord_product(C3(INT64_MAX, INT64_MAX, 2)), INT64_MAX);
    //  A zero wins over an overflow of the other entries.
    cr_assert_eq(daisy_coord_product(C3(INT64_MAX, INT64_MAX, 0)), 0);
    cr_assert_eq(daisy_coord_product(daisy_coord_fill(6, 1000)), 1000000000000000000LL);
}

Test(geometry, coord_format)
{
    char buf[64];
    int n = daisy_coord_format(C3(1, 2, 3), buf, sizeof buf);
    cr_assert_str_eq(buf, "(1, 2, 3)");
    cr_assert_eq(n, 9);
    daisy_coord_format(C1(-5), buf, sizeof buf);
    cr_assert_str_eq(buf, "(-5)");
    //  Truncation: NUL-terminated, return value is the full length.
    char small[4];
    n = daisy_coord_format(C3(1, 2, 3), small, sizeof small);
    cr_assert_eq(n, 9);
    cr_assert_str_eq(small, "(1,");
    cr_assert_eq(daisy_coord_format(C3(1, 2, 3), NULL, 0), 9);
}

//  ROIs -------------------------------------------------------------------

Test(geometry, roi_make_and_accessors)
{
    int64_t o[DAISY_MAX_DIMS] = {-5, 10, 99, 99, 99, 99};
    int64_t s[DAISY_MAX_DIMS] = {10, 3, 99, 99, 99, 99};
    daisy_roi_t r = daisy_roi_make(2, o, s);
    cr_assert_eq(r.dims, 2);
    for (int i = 2; i < DAISY_MAX_DIMS; i++) {
        cr_assert_eq(r.offset[i], 0);
        cr_assert_eq(r.shape[i], 0);
    }
    expect_coord(daisy_roi_begin(&r), C2(-5, 10));
    expect_coord(daisy_roi_offset(&r), C2(-5, 10));
    expect_coord(daisy_roi_end(&r), C2(5, 13));
    expect_coord(daisy_roi_shape(&r), C2(10, 3));
    expect_roi(daisy_roi_from(C2(-5, 10), C2(10, 3)), r);
    daisy_roi_t f = daisy_roi_from(C2(-5, 10), C2(10, 3));
    cr_assert_eq(memcmp(&f, &r, sizeof r), 0);
}

Test(geometry, roi_center)
{
    daisy_roi_t r = R2(-5, 0, 10, 3);
    expect_coord(daisy_roi_center(&r), C2(0, 1));
    daisy_roi_t neg = R1(-10, -3);
    expect_coord(daisy_roi_center(&neg), C1(-12));
}

Test(geometry, roi_size_and_empty)
{
    daisy_roi_t r = R2(-5, 0, 10, 3);
    cr_assert_eq(daisy_roi_size(&r), 30);
    cr_assert_not(daisy_roi_empty(&r));
    daisy_roi_t z = R2(0, 0, 10, 0);
    cr_assert(daisy_roi_empty(&z));
    cr_assert_eq(daisy_roi_size(&z), 0);
    daisy_roi_t n = R2(0, 0, -4, -4);
    cr_assert(daisy_roi_empty(&n));
    cr_assert_eq(daisy_roi_size(&n), 0);
}

Test(geometry, roi_equal)
{
    daisy_roi_t a = R2(1, 2, 3, 4), b = R2(1, 2, 3, 4);
    daisy_roi_t c = R2(1, 2, 3, 5), d = R2(0, 2, 3, 4);
    cr_assert(daisy_roi_equal(&a, &b));
    cr_assert_not(daisy_roi_equal(&a, &c));
    cr_assert_not(daisy_roi_equal(&a, &d));
    daisy_roi_t e1 = R2(5, 5, 0, 3), e2 = R2(-9, 7, 4, -1);
    cr_assert(daisy_roi_equal(&e1, &e2));
    cr_assert_not(daisy_roi_equal(&a, &e1));
    cr_assert_not(daisy_roi_equal(&e1, &a));
    daisy_roi_t one = R1(1, 3);
    cr_assert_not(daisy_roi_equal(&one, &a));
}

Test(geometry, roi_contains_coord)
{
    daisy_roi_t r = R2(-10, 0, 10, 5);
    cr_assert(daisy_roi_contains_coord(&r, C2(-10, 0)));
    cr_assert(daisy_roi_contains_coord(&r, C2(-1, 4)));
    cr_assert_not(daisy_roi_contains_coord(&r, C2(0, 4)));
    cr_assert_not(daisy_roi_contains_coord(&r, C2(-1, 5)));
    cr_assert_not(daisy_roi_contains_coord(&r, C2(-11, 0)));
    daisy_roi_t e = R2(0, 0, 0, 5);
    cr_assert_not(daisy_roi_contains_coord(&e, C2(0, 0)));
}

Test(geometry, roi_contains_roi)
{
    daisy_roi_t r = R2(-10, 0, 10, 5);
    daisy_roi_t same = r;
    daisy_roi_t inner = R2(-8, 1, 2, 2);
    daisy_roi_t over = R2(-8, 1, 9, 2);
    daisy_roi_t before = R2(-11, 1, 2, 2);
    cr_assert(daisy_roi_contains(&r, &same));
    cr_assert(daisy_roi_contains(&r, &inner));
    cr_assert_not(daisy_roi_contains(&r, &over));
    cr_assert_not(daisy_roi_contains(&r, &before));
    cr_assert_not(daisy_roi_contains(&inner, &r));
    //  Empty: inside iff its begin is inside.
    daisy_roi_t empty_in = R2(-5, 2, 0, 0);
    daisy_roi_t empty_at_end = R2(0, 2, 0, 0);
    daisy_roi_t empty_far = R2(100, 100, 0, 7);
    cr_assert(daisy_roi_contains(&r, &empty_in));
    cr_assert_not(daisy_roi_contains(&r, &empty_at_end));
    cr_assert_not(daisy_roi_contains(&r, &empty_far));
}

Test(geometry, roi_intersects)
{
    daisy_roi_t a = R2(0, 0, 10, 10);
    daisy_roi_t b = R2(5, -5, 10, 10);
    daisy_roi_t touch_x = R2(10, 0, 5, 5);
    daisy_roi_t touch_y = R2(0, -5, 5, 5);
    daisy_roi_t corner = R2(9, 9, 5, 5);
    daisy_roi_t empty = R2(2, 2, 0, 5);
    cr_assert(daisy_roi_intersects(&a, &b));
    cr_assert(daisy_roi_intersects(&b, &a));
    cr_assert_not(daisy_roi_intersects(&a, &touch_x));
    cr_assert_not(daisy_roi_intersects(&touch_x, &a));
    cr_assert_not(daisy_roi_intersects(&a, &touch_y));
    cr_assert(daisy_roi_intersects(&a, &corner));
    cr_assert_not(daisy_roi_intersects(&a, &empty));
    cr_assert_not(daisy_roi_intersects(&empty, &a));
    cr_assert_not(daisy_roi_intersects(&empty, &empty));
}

Test(geometry, roi_intersect)
{
    daisy_roi_t a = R2(-10, 0, 20, 10);
    daisy_roi_t b = R2(5, -5, 10, 10);
    expect_roi(daisy_roi_intersect(&a, &b), R2(5, 0, 5, 5));
    expect_roi(daisy_roi_intersect(&b, &a), R2(5, 0, 5, 5));
    //  Disjoint or touching: empty, offset a's begin, shape all zero.
    daisy_roi_t touch = R2(10, 0, 5, 5);
    expect_roi(daisy_roi_intersect(&a, &touch), R2(-10, 0, 0, 0));
    expect_roi(daisy_roi_intersect(&touch, &a), R2(10, 0, 0, 0));
    daisy_roi_t empty = R2(0, 0, 0, 0);
    daisy_roi_t i = daisy_roi_intersect(&a, &empty);
    cr_assert(daisy_roi_empty(&i));
}

Test(geometry, roi_union)
{
    daisy_roi_t a = R2(-10, 0, 5, 5);
    daisy_roi_t b = R2(10, -3, 1, 1);
    expect_roi(daisy_roi_union(&a, &b), R2(-10, -3, 21, 8));
    expect_roi(daisy_roi_union(&b, &a), R2(-10, -3, 21, 8));
    daisy_roi_t empty = R2(100, 100, 0, 0);
    expect_roi(daisy_roi_union(&a, &empty), a);
    expect_roi(daisy_roi_union(&empty, &a), a);
}

Test(geometry, roi_shift)
{
    daisy_roi_t a = R2(-10, 0, 5, 5);
    expect_roi(daisy_roi_shift(&a, C2(3, -7)), R2(-7, -7, 5, 5));
}

Test(geometry, roi_grow)
{
    daisy_roi_t a = R2(-10, 0, 5, 5);
    expect_roi(daisy_roi_grow(&a, C2(1, 2), C2(3, 4)), R2(-11, -2, 9, 11));
    expect_roi(daisy_roi_grow(&a, C2(-1, 0), C2(-1, 0)), R2(-9, 0, 3, 5));
    //  Shrinking past nothing gives an empty ROI.
    daisy_roi_t g = daisy_roi_grow(&a, C2(-3, 0), C2(-3, 0));
    cr_assert(daisy_roi_empty(&g));
}

Test(geometry, roi_snap_grow)
{
    daisy_roi_t a = R2(-7, 3, 10, 4);    //  [-7:3, 3:7]
    expect_roi(daisy_roi_snap(&a, C2(4, 4), DAISY_SNAP_GROW), R2(-8, 0, 12, 8));
    daisy_roi_t aligned = R2(-8, 4, 8, 4);
    expect_roi(daisy_roi_snap(&aligned, C2(4, 4), DAISY_SNAP_GROW), aligned);
}

Test(geometry, roi_snap_shrink)
{
    daisy_roi_t a = R2(-7, 3, 10, 4);    //  [-7:3, 3:7]
    expect_roi(daisy_roi_snap(&a, C2(4, 4), DAISY_SNAP_SHRINK), R2(-4, 4, 4, 0));
    daisy_roi_t b = R1(-9, 18);          //  [-9:9]
    expect_roi(daisy_roi_snap(&b, C1(4), DAISY_SNAP_SHRINK), R1(-8, 16));
    //  Smaller than a grid cell: negative shape, i.e. empty.
    daisy_roi_t tiny = R1(-3, 2);        //  [-3:-1]
    daisy_roi_t s = daisy_roi_snap(&tiny, C1(4), DAISY_SNAP_SHRINK);
    cr_assert(daisy_roi_empty(&s));
}

Test(geometry, roi_snap_closest)
{
    //  Begin -7 in units of 4 is -1.75 -> -2; end 3 is 0.75 -> 1.
    daisy_roi_t a = R1(-7, 10);
    expect_roi(daisy_roi_snap(&a, C1(4), DAISY_SNAP_CLOSEST), R1(-8, 12));
    //  Exact halves round up: -6 -> -1.5 -> -1, 2 -> 0.5 -> 1, -2 -> -0.5 -> 0.
    daisy_roi_t h = R1(-6, 8);
    expect_roi(daisy_roi_snap(&h, C1(4), DAISY_SNAP_CLOSEST), R1(-4, 8));
    daisy_roi_t h2 = R1(-2, 4);
    expect_roi(daisy_roi_snap(&h2, C1(4), DAISY_SNAP_CLOSEST), R1(0, 4));
    //  Odd grid: -5 / 3 = -1.67 -> -2; 4 / 3 = 1.33 -> 1.
    daisy_roi_t o = R1(-5, 9);
    expect_roi(daisy_roi_snap(&o, C1(3), DAISY_SNAP_CLOSEST), R1(-6, 9));
}

Test(geometry, roi_snap_per_dim_grid)
{
    int64_t off[] = {-1, -1, -1}, shp[] = {3, 3, 3};
    daisy_roi_t r = daisy_roi_make(3, off, shp);    //  [-1:2] each
    int64_t wo[] = {-1, -2, -5}, ws[] = {3, 4, 10};
    expect_roi(daisy_roi_snap(&r, C3(1, 2, 5), DAISY_SNAP_GROW),
               daisy_roi_make(3, wo, ws));
}

Test(geometry, roi_mul_div)
{
    daisy_roi_t v = R2(-3, 2, 4, 5);
    daisy_roi_t w = daisy_roi_mul(&v, C2(4, 10));
    expect_roi(w, R2(-12, 20, 16, 50));
    daisy_roi_t back = R1(0, 0);
    cr_assert_eq(daisy_roi_div(&w, C2(4, 10), &back), 0);
    expect_roi(back, v);
    //  In-place division is allowed.
    cr_assert_eq(daisy_roi_div(&w, C2(4, 10), &w), 0);
    expect_roi(w, v);
}

Test(geometry, roi_div_failure_leaves_out)
{
    daisy_roi_t sentinel = R1(77, 88);
    daisy_roi_t out = sentinel;
    daisy_roi_t bad_offset = R2(-6, 0, 8, 8);
    cr_assert_eq(daisy_roi_div(&bad_offset, C2(4, 4), &out), -1);
    cr_assert_eq(memcmp(&out, &sentinel, sizeof out), 0);
    daisy_roi_t bad_shape = R2(-8, 0, 8, 6);
    cr_assert_eq(daisy_roi_div(&bad_shape, C2(4, 4), &out), -1);
    cr_assert_eq(memcmp(&out, &sentinel, sizeof out), 0);
    daisy_roi_t ok = R2(-8, 0, 8, 4);
    cr_assert_eq(daisy_roi_div(&ok, C2(4, 4), &out), 0);
    expect_roi(out, R2(-2, 0, 2, 1));
}

Test(geometry, roi_format)
{
    char buf[128];
    daisy_roi_t r = R2(0, 5, 10, 10);
    int n = daisy_roi_format(&r, buf, sizeof buf);
    cr_assert_str_eq(buf, "[0:10, 5:15] (10, 10)");
    cr_assert_eq(n, (int) strlen("[0:10, 5:15] (10, 10)"));
    daisy_roi_t neg = R1(-7, 3);
    daisy_roi_format(&neg, buf, sizeof buf);
    cr_assert_str_eq(buf, "[-7:-4] (3)");
    daisy_roi_t e = R2(3, 3, 0, 5);
    n = daisy_roi_format(&e, buf, sizeof buf);
    cr_assert_str_eq(buf, "[empty ROI]");
    cr_assert_eq(n, 11);
}

Test(geometry, roi_format_truncates)
{
    char small[6];
    memset(small, 'x', sizeof small);
    daisy_roi_t r = R2(0, 5, 10, 10);
    int n = daisy_roi_format(&r, small, sizeof small);
    cr_assert_eq(n, 21);
    cr_assert_str_eq(small, "[0:10");
    cr_assert_eq(daisy_roi_format(&r, NULL, 0), 21);
}

Test(geometry, roi_format_6d_extremes)
{
    int64_t o[DAISY_MAX_DIMS], s[DAISY_MAX_DIMS];
    for (int i = 0; i < DAISY_MAX_DIMS; i++) {
        o[i] = INT64_MIN;
        s[i] = INT64_MAX;
    }
    daisy_roi_t r = daisy_roi_make(DAISY_MAX_DIMS, o, s);
    char buf[1024];
    int n = daisy_roi_format(&r, buf, sizeof buf);
    cr_assert_eq(n, (int) strlen(buf));
    cr_assert(strncmp(buf, "[-9223372036854775808:-1, ", 26) == 0, "%s", buf);
    cr_assert(strstr(buf, "] (9223372036854775807, ") != NULL, "%s", buf);
}

Test(geometry, roi_1d)
{
    daisy_roi_t a = R1(-5, 10), b = R1(5, 10), c = R1(0, 3);
    cr_assert_not(daisy_roi_intersects(&a, &b));
    cr_assert(daisy_roi_contains(&a, &c));
    expect_roi(daisy_roi_union(&a, &b), R1(-5, 20));
    expect_roi(daisy_roi_intersect(&a, &c), c);
    cr_assert_eq(daisy_roi_size(&a), 10);
}

Test(geometry, roi_6d)
{
    int64_t o[] = {0, -1, 2, -3, 4, -5}, s[] = {2, 2, 2, 2, 2, 2};
    daisy_roi_t a = daisy_roi_make(6, o, s);
    cr_assert_eq(daisy_roi_size(&a), 64);
    daisy_roi_t b = daisy_roi_shift(&a, daisy_coord_fill(6, 1));
    daisy_roi_t i = daisy_roi_intersect(&a, &b);
    cr_assert_eq(daisy_roi_size(&i), 1);
    expect_coord(daisy_roi_begin(&i), daisy_coord_make(6, (int64_t[]){1, 0, 3, -2, 5, -4}));
    daisy_roi_t u = daisy_roi_union(&a, &b);
    cr_assert_eq(daisy_roi_size(&u), 729);
    //  Shifting one axis by the full shape makes them touch: no overlap.
    int64_t by[] = {0, 0, 0, 0, 0, 2};
    daisy_roi_t t = daisy_roi_shift(&a, daisy_coord_make(6, by));
    cr_assert_not(daisy_roi_intersects(&a, &t));
    char buf[256];
    daisy_roi_format(&a, buf, sizeof buf);
    cr_assert_str_eq(buf, "[0:2, -1:1, 2:4, -3:-1, 4:6, -5:-3] (2, 2, 2, 2, 2, 2)");
}

//  Randomized properties --------------------------------------------------

//  splitmix64: deterministic across platforms, unlike rand().
static uint64_t s_seed = 1000;

static uint64_t
s_next(void)
{
    uint64_t z = (s_seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t
s_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t) (s_next() % (uint64_t) (hi - lo + 1));
}

static daisy_roi_t
s_random_roi(int dims)
{
    int64_t o[DAISY_MAX_DIMS], s[DAISY_MAX_DIMS];
    for (int i = 0; i < dims; i++) {
        o[i] = s_range(-6, 6);
        //  Mostly non-empty, sometimes empty or negative.
        s[i] = s_range(-1, 10);
        if (s[i] < 0 && s_range(0, 3))
            s[i] = -s[i];
    }
    return daisy_roi_make(dims, o, s);
}

//  Count points in both / either ROI by brute force over [-10, 20)^dims,
//  which holds every generated ROI.
static void
s_count(const daisy_roi_t *a, const daisy_roi_t *b, int64_t *both,
        int64_t *in_a, int64_t *in_b)
{
    *both = *in_a = *in_b = 0;
    int dims = a->dims;
    int64_t p[DAISY_MAX_DIMS];
    for (int i = 0; i < dims; i++)
        p[i] = -10;
    while (true) {
        daisy_coord_t c = daisy_coord_make(dims, p);
        bool ia = daisy_roi_contains_coord(a, c);
        bool ib = daisy_roi_contains_coord(b, c);
        *in_a += ia;
        *in_b += ib;
        *both += ia && ib;
        int i = 0;
        while (i < dims && ++p[i] == 20)
            p[i++] = -10;
        if (i == dims)
            break;
    }
}

Test(geometry, random_properties)
{
    s_seed = 1000;
    int intersecting = 0;
    for (int n = 0; n < 1000; n++) {
        int dims = (int) s_range(1, 4);
        daisy_roi_t a = s_random_roi(dims);
        daisy_roi_t b = s_random_roi(dims);
        daisy_roi_t i = daisy_roi_intersect(&a, &b);
        daisy_roi_t u = daisy_roi_union(&a, &b);
        bool hit = daisy_roi_intersects(&a, &b);
        intersecting += hit;

        cr_assert_eq(hit, daisy_roi_intersects(&b, &a));
        cr_assert_eq(hit, !daisy_roi_empty(&i));
        if (hit) {
            cr_assert(daisy_roi_contains(&a, &i));
            cr_assert(daisy_roi_contains(&b, &i));
            daisy_roi_t j = daisy_roi_intersect(&b, &a);
            cr_assert(daisy_roi_equal(&i, &j));
        }
        if (!daisy_roi_empty(&a))
            cr_assert(daisy_roi_contains(&u, &a));
        if (!daisy_roi_empty(&b))
            cr_assert(daisy_roi_contains(&u, &b));
        cr_assert_geq(daisy_roi_size(&u), daisy_roi_size(&a));
        cr_assert_geq(daisy_roi_size(&u), daisy_roi_size(&b));

        //  Sizes agree with point counting (dims <= 3 to keep it quick).
        if (dims <= 3) {
            int64_t both, in_a, in_b;
            s_count(&a, &b, &both, &in_a, &in_b);
            cr_assert_eq(both, daisy_roi_size(&i));
            cr_assert_eq(in_a, daisy_roi_size(&a));
            cr_assert_eq(in_b, daisy_roi_size(&b));
        }

        //  grow then grow back is the identity.
        daisy_coord_t neg = daisy_coord_fill(dims, 0), pos = neg;
        for (int d = 0; d < dims; d++) {
            neg.v[d] = s_range(-5, 5);
            pos.v[d] = s_range(-5, 5);
        }
        daisy_roi_t g = daisy_roi_grow(&a, neg, pos);
        daisy_roi_t back = daisy_roi_grow(&g, daisy_coord_sub(daisy_coord_fill(dims, 0), neg),
                                          daisy_coord_sub(daisy_coord_fill(dims, 0), pos));
        cr_assert_eq(memcmp(&back, &a, sizeof a), 0);

        //  shift moves membership with it.
        daisy_roi_t s = daisy_roi_shift(&a, pos);
        daisy_coord_t c = daisy_roi_begin(&a);
        cr_assert_eq(daisy_roi_contains_coord(&a, c),
                     daisy_roi_contains_coord(&s, daisy_coord_add(c, pos)));

        //  mul then div round-trips; a shifted offset no longer divides.
        daisy_coord_t vs = daisy_coord_fill(dims, 0);
        for (int d = 0; d < dims; d++)
            vs.v[d] = s_range(1, 7);
        daisy_roi_t w = daisy_roi_mul(&a, vs);
        daisy_roi_t v;
        cr_assert_eq(daisy_roi_div(&w, vs, &v), 0);
        cr_assert_eq(memcmp(&v, &a, sizeof a), 0);
        if (vs.v[0] > 1) {
            daisy_roi_t off = w;
            off.offset[0] += 1;
            cr_assert_eq(daisy_roi_div(&off, vs, &v), -1);
        }

        //  Snapping: results are aligned; grow covers, shrink is covered,
        //  and closest lies between the two.
        if (!daisy_roi_empty(&a)) {
            daisy_roi_t sg = daisy_roi_snap(&a, vs, DAISY_SNAP_GROW);
            daisy_roi_t ss = daisy_roi_snap(&a, vs, DAISY_SNAP_SHRINK);
            daisy_roi_t sc = daisy_roi_snap(&a, vs, DAISY_SNAP_CLOSEST);
            cr_assert(daisy_roi_contains(&sg, &a));
            if (!daisy_roi_empty(&ss))
                cr_assert(daisy_roi_contains(&a, &ss));
            for (int d = 0; d < dims; d++) {
                const daisy_roi_t *all[] = {&sg, &ss, &sc};
                for (int k = 0; k < 3; k++) {
                    cr_assert_eq(daisy_coord_mod(C1(all[k]->offset[d]), C1(vs.v[d])).v[0], 0);
                    cr_assert_eq(daisy_coord_mod(C1(all[k]->shape[d]), C1(vs.v[d])).v[0], 0);
                }
                cr_assert_leq(sg.offset[d], sc.offset[d]);
                cr_assert_leq(sc.offset[d], ss.offset[d]);
                //  Closest begin is within half a cell of the true begin.
                int64_t dist = sc.offset[d] - a.offset[d];
                cr_assert(2 * dist <= vs.v[d] && -2 * dist < vs.v[d],
                          "begin %lld grid %lld snapped %lld",
                          (long long) a.offset[d], (long long) vs.v[d],
                          (long long) sc.offset[d]);
            }
        }
    }
    //  The generator must exercise both outcomes to mean anything.
    cr_log_info("%d of 1000 pairs intersect", intersecting);
    cr_assert_gt(intersecting, 100);
    cr_assert_lt(intersecting, 900);
}
