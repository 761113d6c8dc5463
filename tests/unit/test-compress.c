/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compress capability's page codec: round trips, QEMU's zlib
 * parameters read by our inflate, and every way a COMPRESS_PAGE payload
 * can be wrong (short, long, trailing bytes, garbage).
 */
#include <glib.h>
#include <string.h>
#include <zlib.h>

#include "migration/compress.h"

#define PAGE TARGET_PAGE_SIZE

static void fill_page(uint8_t *p, unsigned kind)
{
    GRand *r = g_rand_new_with_seed(kind);

    switch (kind) {
    case 0:     /* zeroes */
        memset(p, 0, PAGE);
        break;
    case 1:     /* one byte set, like pagewalk */
        memset(p, 0, PAGE);
        p[0] = 7;
        break;
    case 2:     /* random: incompressible */
        for (size_t i = 0; i < PAGE; i++) {
            p[i] = g_rand_int(r);
        }
        break;
    default:    /* text-like: compressible */
        for (size_t i = 0; i < PAGE; i++) {
            p[i] = "abcdefgh"[g_rand_int_range(r, 0, 8)];
        }
        break;
    }
    g_rand_free(r);
}

static void test_round_trip(void)
{
    PageDeflater *def;
    PageInflater *inf;
    g_autofree uint8_t *out = g_malloc(compress_page_bound());
    uint8_t page[PAGE], back[PAGE];
    g_autoptr(GError) err = NULL;

    g_test_message("codec: %s", compress_codec_name());
    for (int level = 0; level <= 9; level++) {
        def = page_deflater_new(level, &err);
        inf = page_inflater_new(&err);
        g_assert_nonnull(def);
        g_assert_nonnull(inf);
        for (unsigned kind = 0; kind < 5; kind++) {
            size_t len;

            fill_page(page, kind);
            len = page_deflate(def, page, out, compress_page_bound(), &err);
            g_assert_no_error(err);
            if (kind == 2 || level == 0) {
                /* incompressible, or stored: does not fit in less than a page */
                g_assert_cmpuint(page_deflate(def, page, out, PAGE - 5, &err), ==, 0);
                g_assert_no_error(err);
                len = page_deflate(def, page, out, compress_page_bound(), &err);
            }
            if (!len) {
                continue;   /* libdeflate needs more room than zlib's bound */
            }
            g_assert_cmpuint(len, <=, compress_page_bound());
            if (kind < 2 && level > 0) {
                g_assert_cmpuint(len, <, 64);
            }
            memset(back, 0xaa, PAGE);
            g_assert_true(page_inflate(inf, out, len, back, &err));
            g_assert_no_error(err);
            g_assert_cmpmem(back, PAGE, page, PAGE);
        }
        page_deflater_free(def);
        page_inflater_free(inf);
    }
}

/* QEMU deflates with compress2-like defaults (windowBits 15): we read that. */
static void test_qemu_parameters(void)
{
    PageInflater *inf = page_inflater_new(NULL);
    PageDeflater *def = page_deflater_new(1, NULL);
    uint8_t page[PAGE], back[PAGE];
    uLongf len = compressBound(PAGE);
    g_autofree uint8_t *out = g_malloc(len);
    size_t n;
    g_autoptr(GError) err = NULL;

    fill_page(page, 3);
    g_assert_cmpint(compress2(out, &len, page, PAGE, 1), ==, Z_OK);
    g_assert_true(page_inflate(inf, out, len, back, &err));
    g_assert_cmpmem(back, PAGE, page, PAGE);
    /* and ours is a zlib stream that zlib's uncompress() reads */
    n = page_deflate(def, page, out, PAGE, &err);
    g_assert_cmpuint(n, >, 0);
    len = PAGE;
    g_assert_cmpint(uncompress(back, &len, out, n), ==, Z_OK);
    g_assert_cmpuint(len, ==, PAGE);
    g_assert_cmpmem(back, PAGE, page, PAGE);
    page_inflater_free(inf);
    page_deflater_free(def);
}

static void expect_fail(const uint8_t *in, size_t len, const char *what)
{
    PageInflater *inf = page_inflater_new(NULL);
    uint8_t back[PAGE];
    g_autoptr(GError) err = NULL;

    g_assert_false(page_inflate(inf, in, len, back, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, what)) {
        g_error("'%s' does not say '%s'", err->message, what);
    }
    g_assert_null(strchr(err->message, '\n'));
    page_inflater_free(inf);
}

static void test_bad_payloads(void)
{
    uint8_t page[2 * PAGE];
    uLongf len;
    g_autofree uint8_t *out = g_malloc(compressBound(2 * PAGE) + 16);
    uint8_t garbage[64];

    fill_page(page, 3);
    fill_page(page + PAGE, 3);

    /* half a page */
    len = compressBound(2 * PAGE);
    g_assert_cmpint(compress2(out, &len, page, PAGE / 2, 1), ==, Z_OK);
    expect_fail(out, len, "inflate to 2048 bytes, not a page");

    /* two pages */
    len = compressBound(2 * PAGE);
    g_assert_cmpint(compress2(out, &len, page, 2 * PAGE, 1), ==, Z_OK);
    expect_fail(out, len, "more than a page");

    /* one page, truncated */
    len = compressBound(2 * PAGE);
    g_assert_cmpint(compress2(out, &len, page, PAGE, 1), ==, Z_OK);
    /* truncated: libdeflate may read it as longer than a page, zlib as cut short */
    expect_fail(out, len / 2, "zlib data");
    expect_fail(out, len - 2, "zlib data");   /* the checksum cut */
    /* one page, then trailing bytes */
    memset(out + len, 0, 16);
    expect_fail(out, len + 3, "follow the end of the page");

    /* not zlib at all */
    memset(garbage, 0x5a, sizeof(garbage));
    expect_fail(garbage, sizeof(garbage), "invalid zlib data");
    /* a zlib stream with a bad checksum */
    len = compressBound(2 * PAGE);
    g_assert_cmpint(compress2(out, &len, page, PAGE, 1), ==, Z_OK);
    out[len - 1] ^= 1;
    expect_fail(out, len, "invalid zlib data");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/compress/round-trip", test_round_trip);
    g_test_add_func("/compress/qemu-parameters", test_qemu_parameters);
    g_test_add_func("/compress/bad-payloads", test_bad_payloads);
    return g_test_run();
}
