/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for size and number parsing. */
#include <glib.h>
#include <string.h>

#include "util/cutils.h"

static void test_sizes(void)
{
    static const struct {
        const char *s;
        char def;
        uint64_t v;
    } ok[] = {
        { "0", 'B', 0 }, { "4096", 'B', 4096 }, { "512", 'M', 512ULL << 20 },
        { "1G", 'B', 1ULL << 30 }, { "1g", 'B', 1ULL << 30 }, { "64k", 'B', 65536 },
        { "1.5G", 'B', 3ULL << 29 }, { "2T", 'M', 2ULL << 40 }, { "7B", 'M', 7 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        uint64_t v = 1;
        g_autoptr(GError) err = NULL;
        g_assert_true(parse_size(ok[i].s, ok[i].def, &v, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(v, ==, ok[i].v);
    }
}

static void test_bad_sizes(void)
{
    static const char *const bad[] = {
        "", "12Q", "G", "-1", "1GB", "1 G", "0x10", "99999999999999999999",
        "16E", "20000000T", ".5G", "1.G", "1.5",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint64_t v = 0;
        g_autoptr(GError) err = NULL;
        g_assert_false(parse_size(bad[i], 'B', &v, &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, "size"));
    }
}

static void test_uint(void)
{
    uint64_t v;
    g_assert_true(parse_uint64("0x10", &v, NULL));
    g_assert_cmpuint(v, ==, 16);
    g_assert_true(parse_uint64("18446744073709551615", &v, NULL));
    g_assert_cmpuint(v, ==, UINT64_MAX);
    g_assert_false(parse_uint64("18446744073709551616", &v, NULL));
    g_assert_false(parse_uint64("-3", &v, NULL));
    g_assert_false(parse_uint64("3x", &v, NULL));
    g_assert_false(parse_uint64("", &v, NULL));
}

static void test_size_to_str(void)
{
    g_autofree char *a = size_to_str(512ULL << 20);
    g_autofree char *b = size_to_str(100);
    g_assert_cmpstr(a, ==, "512 MiB");
    g_assert_cmpstr(b, ==, "100 B");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cutils/size", test_sizes);
    g_test_add_func("/cutils/size-bad", test_bad_sizes);
    g_test_add_func("/cutils/uint", test_uint);
    g_test_add_func("/cutils/size-to-str", test_size_to_str);
    return g_test_run();
}
