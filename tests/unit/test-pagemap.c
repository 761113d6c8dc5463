/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the populated-page queries (util/pagemap.c), every method
 * against the pages a test wrote: holes must be reported as holes, written
 * pages as populated, and asking must not populate anything.
 */
#include <glib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/bitmap.h"
#include "util/pagemap.h"

#define NPAGES 4096     /* 16 MiB: several page tables, many scan regions */
#define PG PAGEMAP_PAGE_SIZE

static uint8_t *map_anon(void)
{
    void *p = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    g_assert_true(p != MAP_FAILED);
    /* 4 KiB pages only: a huge page would make a whole 2 MiB populated */
    madvise(p, NPAGES * PG, MADV_NOHUGEPAGE);
    return p;
}

static void check_method(PagemapMethod method, const uint8_t *mem, const bool *model,
                         uint64_t first, uint64_t n)
{
    g_autofree unsigned long *bmap = bitmap_new(n + 70);

    /* bits past n must be left alone */
    bitmap_set_range(bmap, n, 70);
    g_assert_true(pagemap_populated_method(method, mem + first * PG, n, bmap));
    for (uint64_t i = 0; i < n; i++) {
        if (test_bit(i, bmap) != model[first + i]) {
            g_error("method %d: page %" G_GUINT64_FORMAT " reported %s", method, first + i,
                    model[first + i] ? "hole" : "populated");
        }
    }
    g_assert_cmpuint(bitmap_count(bmap, n + 70), ==, bitmap_count(bmap, n) + 70);
}

static void check_all(const uint8_t *mem, const bool *model)
{
    for (PagemapMethod m = PAGEMAP_METHOD_SCAN; m < PAGEMAP_METHOD__MAX; m++) {
        g_autofree unsigned long *probe = bitmap_new(1);

        if (!pagemap_populated_method(m, mem, 1, probe)) {
            g_test_message("method %d is not available here", m);
            continue;
        }
        check_method(m, mem, model, 0, NPAGES);
        /* sub-ranges that start and end anywhere */
        check_method(m, mem, model, 1, NPAGES - 1);
        check_method(m, mem, model, 511, 3);
        check_method(m, mem, model, 1000, 1);
        check_method(m, mem, model, 777, 2222);
    }
    /* AUTO agrees with the model */
    {
        g_autofree unsigned long *bmap = bitmap_new(NPAGES);

        g_assert_true(pagemap_populated(mem, NPAGES, bmap));
        for (uint64_t i = 0; i < NPAGES; i++) {
            g_assert_cmpint(test_bit(i, bmap), ==, model[i]);
        }
    }
    for (uint64_t i = 0; i < NPAGES; i += 97) {
        g_assert_cmpint(pagemap_page_populated(mem + i * PG), ==, model[i]);
    }
}

static void test_populated(void)
{
    uint8_t *mem = map_anon();
    g_autofree bool *model = g_new0(bool, NPAGES);
    g_autofree unsigned long *bmap = bitmap_new(NPAGES);
    static const uint64_t touched[] = { 0, 5, 6, 511, 512, 513, 1023, 2048, NPAGES - 1 };

    if (!strcmp(pagemap_method_name(), "none")) {
        g_test_skip("the kernel cannot tell populated pages here");
        munmap(mem, NPAGES * PG);
        return;
    }
    g_test_message("method: %s", pagemap_method_name());

    /* nothing written: every page is a hole */
    check_all(mem, model);

    for (size_t i = 0; i < G_N_ELEMENTS(touched); i++) {
        mem[touched[i] * PG + 17] = 1;
        model[touched[i]] = true;
    }
    /* every other page of a range: more regions than one ioctl returns */
    for (uint64_t i = 2500; i < 3500; i += 2) {
        mem[i * PG] = 0xff;
        model[i] = true;
    }
    check_all(mem, model);

    /* asking populated nothing: a full query still sees the same pages */
    g_assert_true(pagemap_populated(mem, NPAGES, bmap));
    g_assert_cmpuint(bitmap_count(bmap, NPAGES), ==, G_N_ELEMENTS(touched) + 500);

    /* a page given back is a hole again */
    madvise(mem + 2500 * PG, 1000 * PG, MADV_DONTNEED);
    for (uint64_t i = 2500; i < 3500; i++) {
        model[i] = false;
    }
    check_all(mem, model);
    munmap(mem, NPAGES * PG);
}

/* A failed query must say "populated" (safe) for every page. */
static void test_failure_is_safe(void)
{
    unsigned long bmap[2] = { 0, 0 };

    /* an unaligned address is refused by every method */
    g_assert_false(pagemap_populated_method(PAGEMAP_METHOD_SCAN,
                                            (const void *)(uintptr_t)0x1001, 70, bmap));
    g_assert_cmpuint(bitmap_count(bmap, 70), ==, 70);
    g_assert_cmpuint(bmap[1] >> 6, ==, 0);     /* bits past 70 untouched */
    g_assert_true(pagemap_page_populated((const void *)(uintptr_t)0x1001));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pagemap/populated", test_populated);
    g_test_add_func("/pagemap/failure-is-safe", test_failure_is_safe);
    return g_test_run();
}
