/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Every buffer_is_zero variant the CPU supports against the scalar answer. */
#include <glib.h>
#include <string.h>

#include "util/bufferiszero.h"

static void check_impl(gconstpointer data)
{
    const BufferIsZeroImpl *impl = data;
    g_autofree unsigned char *buf = g_malloc0(8192 + 64);

    if (!impl->supported()) {
        g_test_skip("not supported by this CPU");
        return;
    }
    /* Every length up to 300 at every alignment up to 64, all zero. */
    for (size_t align = 0; align < 64; align++) {
        for (size_t len = 0; len <= 300; len++) {
            g_assert_true(impl->fn(buf + align, len));
        }
    }
    /* A 4 KiB page at several alignments with one non-zero byte anywhere. */
    for (size_t align = 0; align < 64; align += 7) {
        unsigned char *p = buf + align;
        for (size_t pos = 0; pos < 4096; pos++) {
            p[pos] = 0x80 >> (pos % 8);
            g_assert_false(impl->fn(p, 4096));
            p[pos] = 0;
        }
        g_assert_true(impl->fn(p, 4096));
    }
    /* Short and odd lengths with the non-zero byte at the head and the tail. */
    for (size_t len = 1; len <= 520; len++) {
        for (size_t align = 0; align < 3; align++) {
            unsigned char *p = buf + align;
            p[0] = 1;
            g_assert_false(impl->fn(p, len));
            p[0] = 0;
            p[len - 1] = 1;
            g_assert_false(impl->fn(p, len));
            p[len - 1] = 0;
            /* a byte just past the end must not count */
            p[len] = 1;
            g_assert_true(impl->fn(p, len));
            p[len] = 0;
        }
    }
}

static void test_select(void)
{
    size_t n;
    const BufferIsZeroImpl *impls = buffer_is_zero_impls(&n);

    buffer_is_zero_init();
    g_assert_nonnull(buffer_is_zero_current());
    g_assert_true(buffer_is_zero_select("scalar"));
    g_assert_cmpstr(buffer_is_zero_current(), ==, "scalar");
    g_assert_false(buffer_is_zero_select("nonsense"));
    for (size_t i = 0; i < n; i++) {
        g_assert_cmpint(buffer_is_zero_select(impls[i].name), ==, impls[i].supported());
    }
}

int main(int argc, char **argv)
{
    size_t n;
    const BufferIsZeroImpl *impls = buffer_is_zero_impls(&n);

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < n; i++) {
        g_autofree char *path = g_strdup_printf("/bufferiszero/%s", impls[i].name);
        g_test_add_data_func(path, &impls[i], check_impl);
    }
    g_test_add_func("/bufferiszero/select", test_select);
    return g_test_run();
}
