/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The XBZRLE page cache: size rounding, compact entries that round-trip
 * byte-exact, the byte budget, eviction by age, resizing mid-use, zero
 * entries, dense pages kept raw.
 */
#include <glib.h>
#include <string.h>

#include "migration/page-cache.h"

#define PAGE 4096ULL
#define NPAGES 64

static PageCache *new_cache(uint64_t size)
{
    g_autoptr(GError) err = NULL;
    PageCache *c = page_cache_new(size, PAGE, NPAGES, &err);

    g_assert_no_error(err);
    g_assert_nonnull(c);
    return c;
}

/* A page from @seed: 0 zero, 1 one byte, 2 nine bytes (heap sparse), 3 dense. */
static void make_page(uint8_t *p, int kind, unsigned seed)
{
    memset(p, 0, PAGE);
    switch (kind) {
    case 1:
        p[seed % PAGE] = seed | 1;
        break;
    case 2:
        for (int i = 0; i < 9; i++) {
            p[(seed * 7 + i * 401) % PAGE] = 0x80 | (seed + i);
        }
        break;
    case 3:
        for (size_t i = 0; i < PAGE; i++) {
            p[i] = (seed * 131 + i * 17) | 1;
        }
        break;
    }
}

static void assert_get(PageCache *c, uint64_t addr, const uint8_t *want, uint64_t age)
{
    g_autofree uint8_t *scratch = g_malloc(PAGE);
    uint8_t *got = page_cache_get(c, addr, scratch, age);

    g_assert_nonnull(got);
    g_assert_cmpmem(got, PAGE, want, PAGE);
}

static void test_sizes(void)
{
    g_autoptr(GError) err = NULL;
    PageCache *c;

    g_assert_null(page_cache_new(PAGE - 1, PAGE, NPAGES, &err));
    g_assert_nonnull(strstr(err->message, "smaller than a page"));
    g_clear_error(&err);
    g_assert_null(page_cache_new(0, PAGE, NPAGES, &err));
    g_clear_error(&err);

    /* a power of two of pages is kept; anything else rounds down */
    static const struct { uint64_t bytes, pages; } cases[] = {
        { PAGE, 1 }, { PAGE + 1, 1 }, { 2 * PAGE - 1, 1 }, { 2 * PAGE, 2 },
        { 3 * PAGE, 2 }, { 5 * PAGE, 4 }, { 7 * PAGE + 100, 4 }, { 8 * PAGE, 8 },
        { 64ULL << 20, 16384 }, { (64ULL << 20) + PAGE, 16384 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        c = new_cache(cases[i].bytes);
        g_assert_cmpuint(page_cache_size(c), ==, cases[i].pages * PAGE);
        g_assert_cmpuint(page_cache_entries(c), ==, 0);
        g_assert_cmpuint(page_cache_bytes(c), ==, 0);
        g_assert_cmpuint(page_cache_index_bytes(c), ==, NPAGES * PAGE_CACHE_SLOT_BYTES);
        page_cache_free(c);
    }
    page_cache_free(NULL);
}

/* Every form stores and comes back byte for byte; the counts and bytes follow. */
static void test_roundtrip(void)
{
    PageCache *c = new_cache(NPAGES * PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *scratch = g_malloc(PAGE);
    g_autoptr(GRand) r = g_rand_new_with_seed(5);

    g_assert_null(page_cache_get(c, 0, scratch, 1));
    for (int p = 0; p < NPAGES; p++) {
        make_page(buf, p % 4, p);
        g_assert_true(page_cache_put(c, p * PAGE, buf, 1));
    }
    g_assert_cmpuint(page_cache_entries(c), ==, NPAGES);
    g_assert_cmpuint(page_cache_zero_entries(c), ==, NPAGES / 4);
    g_assert_cmpuint(page_cache_sparse_entries(c), ==, NPAGES / 2);
    g_assert_cmpuint(page_cache_raw_entries(c), ==, NPAGES / 4);
    /* raw pages a page each; heap-sparse ones a few dozen bytes; the rest nothing */
    g_assert_cmpuint(page_cache_bytes(c), >, NPAGES / 4 * PAGE);
    g_assert_cmpuint(page_cache_bytes(c), <=, NPAGES / 4 * (PAGE + 64));
    for (int p = 0; p < NPAGES; p++) {
        make_page(buf, p % 4, p);
        assert_get(c, p * PAGE, buf, 2);
    }

    /* random sparse pages, from 1 to 200 changed bytes, and half-dense ones */
    for (int round = 0; round < 200; round++) {
        int n = g_rand_int_range(r, 1, round < 150 ? 200 : 3000);
        uint64_t addr = g_rand_int_range(r, 0, NPAGES) * PAGE;

        memset(buf, 0, PAGE);
        for (int i = 0; i < n; i++) {
            buf[g_rand_int_range(r, 0, PAGE)] = g_rand_int(r);
        }
        g_assert_true(page_cache_put(c, addr, buf, 3 + round));
        assert_get(c, addr, buf, 3 + round);
    }
    g_assert_cmpuint(page_cache_bytes(c), <=, page_cache_size(c));
    page_cache_free(c);
}

/* A raw entry is handed out in place; updated and put back, it follows. */
static void test_in_place(void)
{
    PageCache *c = new_cache(4 * PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *scratch = g_malloc(PAGE);
    uint8_t *e;

    make_page(buf, 3, 1);
    g_assert_true(page_cache_put(c, PAGE, buf, 1));
    e = page_cache_get(c, PAGE, scratch, 2);
    g_assert_true(e != scratch);
    g_assert_cmpmem(e, PAGE, buf, PAGE);
    e[7] ^= 0xff;
    buf[7] ^= 0xff;
    g_assert_true(page_cache_put(c, PAGE, e, 2));
    assert_get(c, PAGE, buf, 2);
    g_assert_cmpuint(page_cache_bytes(c), ==, PAGE);

    /* the in-place buffer turned sparse: stored compact, the page freed */
    e = page_cache_get(c, PAGE, scratch, 3);
    make_page(buf, 1, 9);
    memcpy(e, buf, PAGE);
    g_assert_true(page_cache_put(c, PAGE, e, 3));
    g_assert_cmpuint(page_cache_raw_entries(c), ==, 0);
    g_assert_cmpuint(page_cache_sparse_entries(c), ==, 1);
    g_assert_cmpuint(page_cache_bytes(c), ==, 0);
    e = page_cache_get(c, PAGE, scratch, 3);
    g_assert_true(e == scratch);
    g_assert_cmpmem(e, PAGE, buf, PAGE);
    page_cache_free(c);
}

/* Zero entries: no bytes, never evicted, decode to zeroes. */
static void test_zero(void)
{
    PageCache *c = new_cache(PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *zero = g_malloc0(PAGE);

    for (int p = 0; p < NPAGES; p++) {
        page_cache_put_zero(c, p * PAGE, 1);
    }
    g_assert_cmpuint(page_cache_zero_entries(c), ==, NPAGES);
    g_assert_cmpuint(page_cache_bytes(c), ==, 0);
    /* a dense page over a zero entry, and zero again */
    make_page(buf, 3, 4);
    g_assert_true(page_cache_put(c, 3 * PAGE, buf, 2));
    g_assert_cmpuint(page_cache_bytes(c), ==, PAGE);
    page_cache_put_zero(c, 3 * PAGE, 2);
    g_assert_cmpuint(page_cache_bytes(c), ==, 0);
    /* a zero page through page_cache_put is a zero entry too */
    g_assert_true(page_cache_put(c, 5 * PAGE, zero, 2));
    g_assert_cmpuint(page_cache_zero_entries(c), ==, NPAGES);
    for (int p = 0; p < NPAGES; p++) {
        assert_get(c, p * PAGE, zero, 3);
    }
    page_cache_drop(c, 0);
    g_assert_cmpuint(page_cache_entries(c), ==, NPAGES - 1);
    page_cache_drop(c, 0);
    page_cache_free(c);
}

/*
 * The budget: oldest first, the last stored of an age first, never an entry
 * of the store's own age; a store that cannot fit leaves its page uncached.
 */
static void test_eviction(void)
{
    PageCache *c = new_cache(4 * PAGE);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *scratch = g_malloc(PAGE);

    /* pages 0..3 dense at age 1: full */
    for (int p = 0; p < 4; p++) {
        make_page(buf, 3, p);
        g_assert_true(page_cache_put(c, p * PAGE, buf, 1));
    }
    g_assert_cmpuint(page_cache_bytes(c), ==, 4 * PAGE);
    /* another at age 1: no room (all are of this pass), not cached */
    make_page(buf, 3, 10);
    g_assert_false(page_cache_put(c, 10 * PAGE, buf, 1));
    g_assert_null(page_cache_get(c, 10 * PAGE, scratch, 1));
    /* sparse and zero pages still fit in a full budget */
    make_page(buf, 1, 11);
    g_assert_true(page_cache_put(c, 11 * PAGE, buf, 1));
    page_cache_put_zero(c, 12 * PAGE, 1);

    /* age 2: page 1 is hit (age 2 now); a new dense page evicts page 3, the
     * last stored of age 1, then page 2 */
    g_assert_nonnull(page_cache_get(c, 1 * PAGE, scratch, 2));
    make_page(buf, 3, 20);
    g_assert_true(page_cache_put(c, 20 * PAGE, buf, 2));
    g_assert_null(page_cache_get(c, 3 * PAGE, scratch, 2));
    g_assert_nonnull(page_cache_get(c, 2 * PAGE, scratch, 1));  /* no age change */
    make_page(buf, 3, 21);
    g_assert_true(page_cache_put(c, 21 * PAGE, buf, 2));
    g_assert_null(page_cache_get(c, 2 * PAGE, scratch, 2));
    /* then page 0 (age 1); then nothing of age 2 may go */
    make_page(buf, 3, 22);
    g_assert_true(page_cache_put(c, 22 * PAGE, buf, 2));
    g_assert_null(page_cache_get(c, 0, scratch, 2));
    make_page(buf, 3, 23);
    g_assert_false(page_cache_put(c, 23 * PAGE, buf, 2));
    g_assert_cmpuint(page_cache_bytes(c), <=, page_cache_size(c));

    /* a failed store drops the page's old copy: it is stale */
    make_page(buf, 3, 24);
    g_assert_false(page_cache_put(c, 11 * PAGE, buf, 2));
    g_assert_null(page_cache_get(c, 11 * PAGE, scratch, 2));
    /* the pages that stayed are intact */
    make_page(buf, 3, 1);
    assert_get(c, 1 * PAGE, buf, 2);
    make_page(buf, 3, 20);
    assert_get(c, 20 * PAGE, buf, 2);
    assert_get(c, 12 * PAGE, memset(buf, 0, PAGE), 2);
    page_cache_free(c);
}

static void test_resize(void)
{
    PageCache *c = new_cache(16 * PAGE);
    g_autoptr(GError) err = NULL;
    g_autofree uint8_t *buf = g_malloc(PAGE);
    g_autofree uint8_t *scratch = g_malloc(PAGE);

    /* pages 0..7 dense with age i, pages 8..15 one byte, page 16 zero */
    for (int p = 0; p < 16; p++) {
        make_page(buf, p < 8 ? 3 : 1, p);
        g_assert_true(page_cache_put(c, p * PAGE, buf, p));
    }
    page_cache_put_zero(c, 16 * PAGE, 0);
    g_assert_cmpuint(page_cache_bytes(c), ==, 8 * PAGE);

    /* grow: everything stays */
    g_assert_true(page_cache_resize(c, 32 * PAGE, &err));
    g_assert_cmpuint(page_cache_size(c), ==, 32 * PAGE);
    g_assert_cmpuint(page_cache_entries(c), ==, 17);

    /* shrink to 4 pages: the 4 oldest dense pages go, the rest stays */
    g_assert_true(page_cache_resize(c, 4 * PAGE, &err));
    g_assert_cmpuint(page_cache_size(c), ==, 4 * PAGE);
    g_assert_cmpuint(page_cache_bytes(c), ==, 4 * PAGE);
    g_assert_cmpuint(page_cache_entries(c), ==, 13);
    for (int p = 0; p < 16; p++) {
        make_page(buf, p < 8 ? 3 : 1, p);
        if (p < 4) {
            g_assert_null(page_cache_get(c, p * PAGE, scratch, p));
        } else {
            assert_get(c, p * PAGE, buf, p);
        }
    }
    /* to one page: the youngest dense page stays */
    g_assert_true(page_cache_resize(c, PAGE, &err));
    g_assert_cmpuint(page_cache_bytes(c), ==, PAGE);
    make_page(buf, 3, 7);
    assert_get(c, 7 * PAGE, buf, 7);
    g_assert_cmpuint(page_cache_raw_entries(c), ==, 1);
    /* the sparse and zero entries survive any size */
    g_assert_cmpuint(page_cache_sparse_entries(c), ==, 8);
    g_assert_cmpuint(page_cache_zero_entries(c), ==, 1);

    /* a bad size leaves the cache as it was */
    g_assert_false(page_cache_resize(c, PAGE / 2, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpuint(page_cache_size(c), ==, PAGE);
    g_assert_cmpuint(page_cache_entries(c), ==, 10);

    /* up again: new pages fit, the old ones are still there */
    g_assert_true(page_cache_resize(c, 7 * PAGE, &err));
    g_assert_cmpuint(page_cache_size(c), ==, 4 * PAGE);
    for (int p = 30; p < 33; p++) {
        make_page(buf, 3, p);
        g_assert_true(page_cache_put(c, p * PAGE, buf, 50));
    }
    make_page(buf, 3, 7);
    assert_get(c, 7 * PAGE, buf, 50);
    g_assert_cmpuint(page_cache_bytes(c), ==, 4 * PAGE);
    page_cache_free(c);
}

/* A pagewalk-like guest: a half-size budget holds every page. */
static void test_sparse_capacity(void)
{
    g_autoptr(GError) err = NULL;
    const uint64_t npages = 16384;
    PageCache *c = page_cache_new(npages / 2 * PAGE, PAGE, npages, &err);
    g_autofree uint8_t *buf = g_malloc0(PAGE);

    g_assert_no_error(err);
    for (uint64_t p = 0; p < npages; p++) {
        buf[0] = p | 1;
        buf[p % 8 * 512] = p >> 3 | 1;
        g_assert_true(page_cache_put(c, p * PAGE, buf, 1));
        buf[p % 8 * 512] = 0;
    }
    g_assert_cmpuint(page_cache_entries(c), ==, npages);
    g_assert_cmpuint(page_cache_raw_entries(c), ==, 0);
    g_assert_cmpuint(page_cache_bytes(c), <, page_cache_size(c) / 16);
    for (uint64_t p = 0; p < npages; p += 97) {
        memset(buf, 0, PAGE);
        buf[0] = p | 1;
        buf[p % 8 * 512] = p >> 3 | 1;
        assert_get(c, p * PAGE, buf, 2);
    }
    page_cache_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/page-cache/sizes", test_sizes);
    g_test_add_func("/page-cache/roundtrip", test_roundtrip);
    g_test_add_func("/page-cache/in-place", test_in_place);
    g_test_add_func("/page-cache/zero", test_zero);
    g_test_add_func("/page-cache/eviction", test_eviction);
    g_test_add_func("/page-cache/resize", test_resize);
    g_test_add_func("/page-cache/sparse-capacity", test_sparse_capacity);
    return g_test_run();
}
