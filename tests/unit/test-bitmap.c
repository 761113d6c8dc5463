/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the dirty-bitmap helpers against a bool-array model. */
#include <glib.h>
#include <string.h>

#include "util/bitmap.h"

#define NBITS 1000

static void check(const unsigned long *map, const bool *model)
{
    size_t n = 0;
    for (size_t i = 0; i < NBITS; i++) {
        g_assert_cmpint(test_bit(i, map), ==, model[i]);
        n += model[i];
    }
    g_assert_cmpuint(bitmap_count(map, NBITS), ==, n);
    /* find_next walks exactly the set bits */
    for (size_t i = bitmap_find_next(map, NBITS, 0), prev = 0; i < NBITS;
         prev = i + 1, i = bitmap_find_next(map, NBITS, i + 1)) {
        for (size_t k = prev; k < i; k++) {
            g_assert_false(model[k]);
        }
        g_assert_true(model[i]);
    }
    /* find_next_zero walks exactly the clear bits */
    for (size_t i = bitmap_find_next_zero(map, NBITS, 0), prev = 0; i < NBITS;
         prev = i + 1, i = bitmap_find_next_zero(map, NBITS, i + 1)) {
        for (size_t k = prev; k < i; k++) {
            g_assert_true(model[k]);
        }
        g_assert_false(model[i]);
    }
}

static void test_ranges(void)
{
    g_autofree unsigned long *map = bitmap_new(NBITS);
    bool model[NBITS] = { 0 };
    GRand *r = g_rand_new_with_seed(42);

    for (int iter = 0; iter < 2000; iter++) {
        size_t start = g_rand_int_range(r, 0, NBITS);
        size_t nr = g_rand_int_range(r, 0, NBITS - start + 1);
        int op = g_rand_int_range(r, 0, 3);

        if (op == 0) {
            bitmap_set_range(map, start, nr);
        } else if (op == 1) {
            bitmap_clear_range(map, start, nr);
        } else {
            bitmap_set_range_atomic(map, start, nr);
        }
        for (size_t i = start; i < start + nr; i++) {
            model[i] = op != 1;
        }
        if (iter % 100 == 0) {
            check(map, model);
        }
    }
    check(map, model);
    g_rand_free(r);
}

static void test_move(void)
{
    g_autofree unsigned long *src = bitmap_new(NBITS);
    g_autofree unsigned long *dst = bitmap_new(NBITS);

    bitmap_set_range(src, 10, 100);
    bitmap_set_range(dst, 50, 100);
    g_assert_cmpuint(bitmap_move_atomic(dst, src, NBITS), ==, 40);
    g_assert_cmpuint(bitmap_count(src, NBITS), ==, 0);
    g_assert_cmpuint(bitmap_count(dst, NBITS), ==, 140);
    g_assert_cmpuint(bitmap_find_next(dst, NBITS, 0), ==, 10);
    g_assert_cmpuint(bitmap_find_next(dst, NBITS, 150), ==, NBITS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bitmap/ranges", test_ranges);
    g_test_add_func("/bitmap/move", test_move);
    return g_test_run();
}
