/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The XBZRLE page cache: size rounding, hits and misses, aging, resizing. */
#include <glib.h>
#include <string.h>

#include "migration/page-cache.h"

#define PAGE 4096ULL

static void fill(uint8_t *p, uint8_t v)
{
    memset(p, v, PAGE);
}

static void assert_page(const uint8_t *p, uint8_t v)
{
    g_assert_nonnull(p);
    for (size_t i = 0; i < PAGE; i++) {
        g_assert_cmpint(p[i], ==, v);
    }
}

static PageCache *new_cache(uint64_t size)
{
    g_autoptr(GError) err = NULL;
    PageCache *c = page_cache_new(size, PAGE, &err);

    g_assert_no_error(err);
    g_assert_nonnull(c);
    return c;
}

static void test_sizes(void)
{
    g_autoptr(GError) err = NULL;
    PageCache *c;

    g_assert_null(page_cache_new(PAGE - 1, PAGE, &err));
    g_assert_nonnull(strstr(err->message, "smaller than a page"));
    g_clear_error(&err);
    g_assert_null(page_cache_new(0, PAGE, &err));
    g_clear_error(&err);

    /* a power of two of pages is kept; anything else rounds down */
    static const struct { uint64_t bytes, slots; } cases[] = {
        { PAGE, 1 }, { PAGE + 1, 1 }, { 2 * PAGE - 1, 1 }, { 2 * PAGE, 2 },
        { 3 * PAGE, 2 }, { 5 * PAGE, 4 }, { 7 * PAGE + 100, 4 }, { 8 * PAGE, 8 },
        { 64ULL << 20, 16384 }, { (64ULL << 20) + PAGE, 16384 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        c = new_cache(cases[i].bytes);
        g_assert_cmpuint(page_cache_slots(c), ==, cases[i].slots);
        g_assert_cmpuint(page_cache_size(c), ==, cases[i].slots * PAGE);
        g_assert_cmpuint(page_cache_entries(c), ==, 0);
        page_cache_free(c);
    }
    page_cache_free(NULL);
}

static void test_lookup_insert(void)
{
    PageCache *c = new_cache(4 * PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    uint8_t *e;

    g_assert_null(page_cache_lookup(c, 0, 1));
    fill(buf, 0x11);
    e = page_cache_insert(c, 0, buf, 1);
    assert_page(e, 0x11);
    g_assert_true(page_cache_lookup(c, 0, 1) == e);
    g_assert_null(page_cache_lookup(c, PAGE, 1));
    /* a page aliasing slot 0 is a miss, not a hit */
    g_assert_null(page_cache_lookup(c, 4 * PAGE, 1));
    /* the same page again: replaced in place, whatever its age */
    fill(buf, 0x22);
    g_assert_true(page_cache_insert(c, 0, buf, 1) == e);
    assert_page(e, 0x22);
    /* a zero page */
    g_assert_true(page_cache_insert(c, 0, NULL, 1) == e);
    assert_page(e, 0);
    g_assert_cmpuint(page_cache_entries(c), ==, 1);
    /* the caller writes the copy in place (the fused XBZRLE update) */
    e[5] = 9;
    g_assert_cmpint(page_cache_lookup(c, 0, 2)[5], ==, 9);
    page_cache_free(c);
}

static void test_aging(void)
{
    PageCache *c = new_cache(4 * PAGE);
    g_autofree uint8_t *a = g_malloc(PAGE);
    g_autofree uint8_t *b = g_malloc(PAGE);

    fill(a, 0xaa);
    fill(b, 0xbb);
    /* A at age 10; B maps to the same slot */
    g_assert_nonnull(page_cache_insert(c, PAGE, a, 10));
    g_assert_null(page_cache_insert(c, 5 * PAGE, b, 10));  /* same pass */
    g_assert_null(page_cache_insert(c, 5 * PAGE, b, 11));  /* the next one */
    assert_page(page_cache_lookup(c, PAGE, 11), 0xaa);     /* a hit: A is age 11 now */
    g_assert_null(page_cache_insert(c, 5 * PAGE, b, 12));
    /* two syncs after its last use A may go */
    assert_page(page_cache_insert(c, 5 * PAGE, b, 13), 0xbb);
    g_assert_null(page_cache_lookup(c, PAGE, 13));
    assert_page(page_cache_lookup(c, 5 * PAGE, 13), 0xbb);
    g_assert_cmpuint(page_cache_entries(c), ==, 1);
    page_cache_free(c);
}

static void test_resize(void)
{
    PageCache *c = new_cache(8 * PAGE);
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *buf = g_malloc(PAGE);
    uint8_t *entry[8];

    /* pages 0..7, page i with content i and age i */
    for (int i = 0; i < 8; i++) {
        fill(buf, i);
        entry[i] = page_cache_insert(c, i * PAGE, buf, i);
        g_assert_nonnull(entry[i]);
    }
    /* grow: everything stays, at the same address */
    g_assert_true(page_cache_resize(c, 32 * PAGE, &err));
    g_assert_cmpuint(page_cache_slots(c), ==, 32);
    g_assert_cmpuint(page_cache_entries(c), ==, 8);
    for (int i = 0; i < 8; i++) {
        g_assert_true(page_cache_lookup(c, i * PAGE, i) == entry[i]);
        assert_page(entry[i], i);
    }
    /* page 40 goes to slot 8 of 32 */
    fill(buf, 0x40);
    g_assert_nonnull(page_cache_insert(c, 40 * PAGE, buf, 100));   /* slot 8 */

    /* shrink to 4 slots: i and i+4 collide, the younger (i+4) stays;
     * page 40 (slot 0, age 100) beats pages 0 and 4 */
    g_assert_true(page_cache_resize(c, 4 * PAGE, &err));
    g_assert_cmpuint(page_cache_slots(c), ==, 4);
    g_assert_cmpuint(page_cache_entries(c), ==, 4);
    assert_page(page_cache_lookup(c, 40 * PAGE, 100), 0x40);
    for (int i = 1; i < 4; i++) {
        g_assert_null(page_cache_lookup(c, i * PAGE, 100));
        g_assert_true(page_cache_lookup(c, (i + 4) * PAGE, 100) == entry[i + 4]);
        assert_page(entry[i + 4], i + 4);
    }
    g_assert_null(page_cache_lookup(c, 4 * PAGE, 100));

    /* a bad size leaves the cache as it was */
    g_assert_false(page_cache_resize(c, PAGE / 2, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpuint(page_cache_slots(c), ==, 4);
    g_assert_cmpuint(page_cache_entries(c), ==, 4);
    /* the same number of slots after rounding: nothing to do */
    g_assert_true(page_cache_resize(c, 7 * PAGE, &err));
    g_assert_cmpuint(page_cache_entries(c), ==, 4);
    page_cache_free(c);
}

/* A tie on age keeps the entry that got to the slot first (the lower slot). */
static void test_resize_tie(void)
{
    PageCache *c = new_cache(2 * PAGE);
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *buf = g_malloc(PAGE);

    fill(buf, 1);
    g_assert_nonnull(page_cache_insert(c, 0, buf, 5));
    fill(buf, 2);
    g_assert_nonnull(page_cache_insert(c, PAGE, buf, 5));
    g_assert_true(page_cache_resize(c, PAGE, &err));
    g_assert_cmpuint(page_cache_entries(c), ==, 1);
    assert_page(page_cache_lookup(c, 0, 5), 1);
    g_assert_null(page_cache_lookup(c, PAGE, 5));
    page_cache_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/page-cache/sizes", test_sizes);
    g_test_add_func("/page-cache/lookup-insert", test_lookup_insert);
    g_test_add_func("/page-cache/aging", test_aging);
    g_test_add_func("/page-cache/resize", test_resize);
    g_test_add_func("/page-cache/resize-tie", test_resize_tie);
    return g_test_run();
}
