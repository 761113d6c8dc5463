/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the migration stream: byte order, sticky errors, iovec batching, rate limit. */
#include <errno.h>
#include <string.h>

#include "migration/stream.h"

static void test_put_get_roundtrip(void)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    static const uint8_t expect[] = {
        0xab, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'h', 'i',
    };
    GByteArray *out;
    MigStream *r;

    mig_stream_put_u8(f, 0xab);
    mig_stream_put_be16(f, 0x1234);
    mig_stream_put_be32(f, 0xdeadbeef);
    mig_stream_put_be64(f, 0x0102030405060708ULL);
    mig_stream_put_buffer(f, "hi", 2);
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    g_assert_cmpuint(mig_stream_transferred(f), ==, sizeof(expect));
    out = g_byte_array_ref(mig_channel_memory_data(w));
    g_assert_cmpmem(out->data, out->len, expect, sizeof(expect));
    g_assert_cmpint(mig_stream_close(f), ==, 0);

    r = mig_stream_new(mig_channel_new_memory_reader(out->data, out->len));
    uint8_t peek = 0;
    g_assert_true(mig_stream_peek_u8(r, &peek));
    g_assert_cmpuint(peek, ==, 0xab);
    g_assert_cmpuint(mig_stream_get_u8(r), ==, 0xab);
    g_assert_cmpuint(mig_stream_get_be16(r), ==, 0x1234);
    g_assert_cmpuint(mig_stream_get_be32(r), ==, 0xdeadbeef);
    g_assert_cmpuint(mig_stream_get_be64(r), ==, 0x0102030405060708ULL);
    char hi[2];
    g_assert_true(mig_stream_get_buffer(r, hi, 2));
    g_assert_cmpmem(hi, 2, "hi", 2);
    g_assert_true(mig_stream_at_eof(r));
    g_assert_cmpint(mig_stream_error(r), ==, 0);
    mig_stream_close(r);
    g_byte_array_unref(out);
}

static void test_sticky_read_error(void)
{
    static const uint8_t data[] = { 0x00, 0x00, 0x01 };
    MigStream *r = mig_stream_new(mig_channel_new_memory_reader(data, sizeof(data)));

    g_assert_cmpuint(mig_stream_get_be32(r), ==, 0);     /* short */
    g_assert_cmpint(mig_stream_error(r), ==, -EPIPE);
    g_assert_nonnull(strstr(mig_stream_error_msg(r), "unexpected end of stream"));
    /* later gets are no-ops returning 0 */
    g_assert_cmpuint(mig_stream_get_u8(r), ==, 0);
    g_assert_false(mig_stream_peek_u8(r, &(uint8_t){ 0 }));
    /* first error wins */
    mig_stream_set_error(r, -EINVAL, "second");
    g_assert_cmpint(mig_stream_error(r), ==, -EPIPE);
    g_assert_cmpint(mig_stream_close(r), ==, -EPIPE);
}

/* peek_buffered shows only what a read brought in already, and consumes nothing. */
static void test_peek_buffered(void)
{
    static const uint8_t data[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
    MigStream *r = mig_stream_new(mig_channel_new_memory_reader(data, sizeof(data)));
    const uint8_t *p;

    g_assert_null(mig_stream_peek_buffered(r, 1));      /* nothing read yet */
    g_assert_cmpuint(mig_stream_get_u8(r), ==, 1);      /* the read fills the buffer */
    p = mig_stream_peek_buffered(r, 8);
    g_assert_nonnull(p);
    g_assert_cmpmem(p, 8, data + 1, 8);
    g_assert_null(mig_stream_peek_buffered(r, 9));      /* more than there is */
    g_assert_cmpuint(mig_stream_get_be64(r), ==, 0x0203040506070809ULL);
    g_assert_null(mig_stream_peek_buffered(r, 1));
    g_assert_true(mig_stream_at_eof(r));
    mig_stream_close(r);
}

static void test_sticky_write_error(void)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    static uint8_t page[4096];

    mig_channel_memory_set_limit(w, 10000, ENOSPC);
    for (int i = 0; i < 100; i++) {
        mig_stream_put_be64(f, i);
        mig_stream_put_buffer_async(f, page, sizeof(page));
    }
    g_assert_cmpint(mig_stream_flush(f), ==, -ENOSPC);
    g_assert_nonnull(strstr(mig_stream_error_msg(f), "No space left"));
    /* nothing more is written after the error */
    guint len = mig_channel_memory_data(w)->len;
    mig_stream_put_buffer(f, page, sizeof(page));
    mig_stream_flush(f);
    g_assert_cmpuint(mig_channel_memory_data(w)->len, ==, len);
    g_assert_cmpint(mig_stream_close(f), ==, -ENOSPC);
}

static void test_iovec_batching(void)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    uint8_t *pages = g_malloc(4096 * 100);
    GByteArray *out;

    for (int i = 0; i < 100; i++) {
        memset(pages + i * 4096, i, 4096);
    }
    for (int i = 0; i < 100; i++) {
        mig_stream_put_be64(f, (uint64_t)i << 12 | 0x08);
        mig_stream_put_buffer_async(f, pages + i * 4096, 4096);
    }
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    /* 2 iovecs per page, 64 per writev: 100 pages take 4 calls, not 200 */
    g_assert_cmpuint(mig_stream_writev_calls(f), <=, 4);
    g_assert_cmpuint(mig_stream_transferred(f), ==, 100 * (8 + 4096));
    out = mig_channel_memory_data(w);
    g_assert_cmpuint(out->len, ==, 100 * (8 + 4096));
    for (int i = 0; i < 100; i++) {
        const uint8_t *rec = out->data + i * (8 + 4096);
        g_assert_cmpuint(rec[7], ==, 0x08);
        g_assert_cmpuint(rec[8], ==, i);
        g_assert_cmpuint(rec[8 + 4095], ==, i);
    }
    mig_stream_close(f);
    g_free(pages);
}

static void test_large_get_bypasses_buffer(void)
{
    size_t n = 3 * MIG_STREAM_BUF_SIZE + 17;
    uint8_t *data = g_malloc(n), *dst = g_malloc(n);
    MigStream *r;

    for (size_t i = 0; i < n; i++) {
        data[i] = i * 7;
    }
    r = mig_stream_new(mig_channel_new_memory_reader(data, n));
    g_assert_cmpuint(mig_stream_get_u8(r), ==, 0);
    g_assert_true(mig_stream_get_buffer(r, dst, n - 1));
    g_assert_cmpmem(dst, n - 1, data + 1, n - 1);
    g_assert_true(mig_stream_at_eof(r));
    g_assert_cmpuint(mig_stream_transferred(r), ==, n);
    mig_stream_close(r);
    g_free(data);
    g_free(dst);
}

static void test_rate_limit_accounting(void)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_writer());
    const int64_t W = MIG_STREAM_RATE_WINDOW_NS;
    int64_t t0 = 1000 * W;

    /* unlimited: never waits */
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0), ==, 0);
    mig_stream_rate_account(f, t0, 1 << 30);
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0), ==, 0);

    /* 10 MB/s: 1 MB per 100 ms window */
    mig_stream_set_rate_limit(f, 10 * 1000 * 1000);
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0), ==, 0);
    mig_stream_rate_account(f, t0, 500 * 1000);
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0 + W / 4), ==, 0);
    mig_stream_rate_account(f, t0 + W / 4, 600 * 1000);
    /* over budget: wait for the end of the window */
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0 + W / 2), ==, W / 2);
    /* next window: the 100 KB overshoot is carried over, so there is room */
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0 + W), ==, 0);
    mig_stream_rate_account(f, t0 + W, 900 * 1000);
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0 + W + 1), ==, W - 1);
    /* a long idle period forgets the past */
    g_assert_cmpint(mig_stream_rate_limit_delay(f, t0 + 100 * W), ==, 0);
    mig_stream_close(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mig-stream/roundtrip", test_put_get_roundtrip);
    g_test_add_func("/mig-stream/sticky-read-error", test_sticky_read_error);
    g_test_add_func("/mig-stream/sticky-write-error", test_sticky_write_error);
    g_test_add_func("/mig-stream/peek-buffered", test_peek_buffered);
    g_test_add_func("/mig-stream/iovec-batching", test_iovec_batching);
    g_test_add_func("/mig-stream/large-get", test_large_get_bypasses_buffer);
    g_test_add_func("/mig-stream/rate-limit", test_rate_limit_accounting);
    return g_test_run();
}
