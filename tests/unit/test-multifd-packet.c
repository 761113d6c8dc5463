/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of multifd's wire codec (migration/multifd.h): channel init
 * and packet header round trips with golden bytes, every malformed field
 * rejected, page offsets checked against the block, and each compression
 * method's round trip with payloads that decompress to too few or too many
 * bytes, truncated or garbage, rejected.
 */
#include <string.h>

#include "config-host.h"
#include "migration/multifd.h"

/* ---- channel init ---- */

static void test_init_round_trip(void)
{
    MultiFDInit in = { .id = 2, .nchannels = 3, .compression = MULTIFD_COMPRESSION_ZLIB }, out;
    uint8_t buf[MULTIFD_INIT_SIZE];
    g_autoptr(GError) err = NULL;

    for (int i = 0; i < 16; i++) {
        in.uuid[i] = 0xa0 + i;
    }
    multifd_init_encode(&in, buf);
    g_assert_cmpuint(buf[0], ==, 0x11);
    g_assert_cmpuint(buf[3], ==, 0x44);
    g_assert_cmpuint(buf[7], ==, MULTIFD_VERSION);
    g_assert_cmpuint(buf[8], ==, 0xa0);
    g_assert_cmpuint(buf[24], ==, 2);
    g_assert_cmpuint(buf[25], ==, 3);
    g_assert_cmpuint(buf[26], ==, MULTIFD_COMPRESSION_ZLIB);
    g_assert_true(multifd_init_decode(buf, &out, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(out.uuid, 16, in.uuid, 16);
    g_assert_cmpuint(out.id, ==, 2);
    g_assert_cmpuint(out.nchannels, ==, 3);
    g_assert_cmpuint(out.compression, ==, MULTIFD_COMPRESSION_ZLIB);
}

static void init_rejected(void (*mutate)(uint8_t *), const char *msg)
{
    MultiFDInit in = { .id = 0, .nchannels = 2 }, out;
    uint8_t buf[MULTIFD_INIT_SIZE];
    g_autoptr(GError) err = NULL;

    multifd_init_encode(&in, buf);
    mutate(buf);
    g_assert_false(multifd_init_decode(buf, &out, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, msg)) {
        g_error("'%s' does not contain '%s'", err->message, msg);
    }
}

static void m_magic(uint8_t *b) { b[0] = 'Q'; }
static void m_version(uint8_t *b) { b[7] = 2; }
static void m_id(uint8_t *b) { b[24] = 2; }
static void m_nch(uint8_t *b) { b[25] = 0; }
static void m_comp(uint8_t *b) { b[26] = MULTIFD_COMPRESSION__MAX; }
static void m_resv(uint8_t *b) { b[63] = 1; }
static void m_resv2(uint8_t *b) { b[27] = 1; }

static void test_init_rejected(void)
{
    init_rejected(m_magic, "bad magic");
    init_rejected(m_version, "unsupported version");
    init_rejected(m_id, "id 2 of 2");
    init_rejected(m_nch, "of 0 channels");
    init_rejected(m_comp, "unknown compression");
    init_rejected(m_resv, "reserved");
    init_rejected(m_resv2, "reserved");
}

/* ---- headers ---- */

static void test_hdr_round_trip(void)
{
    MultiFDHdr in = { .page_count = 128, .payload_size = 128 * 4096,
                      .packet_num = 0x0102030405060708ull, .name_len = 6 }, out;
    uint8_t buf[MULTIFD_HDR_SIZE];
    static const uint8_t golden[MULTIFD_HDR_SIZE] = {
        0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 128,
        0, 8, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 0, 0, 0,
    };
    g_autoptr(GError) err = NULL;

    multifd_hdr_encode(&in, buf);
    g_assert_cmpmem(buf, sizeof(buf), golden, sizeof(golden));
    g_assert_true(multifd_hdr_decode(buf, MULTIFD_COMPRESSION_NONE, &out, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(out.flags, ==, 0);
    g_assert_cmpuint(out.page_count, ==, 128);
    g_assert_cmpuint(out.payload_size, ==, 128 * 4096);
    g_assert_cmpuint(out.packet_num, ==, in.packet_num);
    g_assert_cmpuint(out.name_len, ==, 6);

    /* a sync packet */
    in = (MultiFDHdr){ .flags = MULTIFD_FLAG_SYNC, .packet_num = 9 };
    multifd_hdr_encode(&in, buf);
    g_assert_true(multifd_hdr_decode(buf, MULTIFD_COMPRESSION_ZSTD, &out, &err));
    g_assert_cmpuint(out.flags, ==, MULTIFD_FLAG_SYNC);
    g_assert_cmpuint(out.packet_num, ==, 9);

    /* compressed: any size from 1 to MULTIFD_MAX_PAYLOAD */
    in = (MultiFDHdr){ .page_count = 1, .payload_size = 1, .name_len = 1 };
    multifd_hdr_encode(&in, buf);
    g_assert_true(multifd_hdr_decode(buf, MULTIFD_COMPRESSION_ZLIB, &out, &err));
    in.payload_size = MULTIFD_MAX_PAYLOAD;
    multifd_hdr_encode(&in, buf);
    g_assert_true(multifd_hdr_decode(buf, MULTIFD_COMPRESSION_LZ4, &out, &err));
}

static void hdr_rejected(MultiFDHdr h, MultiFDCompression method, int poke, uint8_t v,
                         const char *msg)
{
    uint8_t buf[MULTIFD_HDR_SIZE];
    MultiFDHdr out;
    g_autoptr(GError) err = NULL;

    multifd_hdr_encode(&h, buf);
    if (poke >= 0) {
        buf[poke] = v;
    }
    g_assert_false(multifd_hdr_decode(buf, method, &out, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, msg)) {
        g_error("'%s' does not contain '%s'", err->message, msg);
    }
}

static void test_hdr_rejected(void)
{
    MultiFDHdr ok = { .page_count = 2, .payload_size = 2 * 4096, .name_len = 6 };
    MultiFDHdr h;

    hdr_rejected(ok, MULTIFD_COMPRESSION_NONE, 0, 0, "bad magic");
    hdr_rejected(ok, MULTIFD_COMPRESSION_NONE, 7, 7, "unsupported version");
    hdr_rejected(ok, MULTIFD_COMPRESSION_NONE, 11, 2, "unknown flags");
    hdr_rejected(ok, MULTIFD_COMPRESSION_NONE, 8, 0x80, "unknown flags");
    hdr_rejected(ok, MULTIFD_COMPRESSION_NONE, 30, 1, "reserved");
    h = ok;
    h.page_count = 0;
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "0 pages");
    h.page_count = MULTIFD_MAX_PAGES + 1;
    h.payload_size = h.page_count * 4096;
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "129 pages");
    h = ok;
    h.page_count = 0xffffffffu;
    hdr_rejected(h, MULTIFD_COMPRESSION_ZLIB, -1, 0, "pages (1..128)");
    h = ok;
    h.name_len = 0;
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "no RAM block name");
    h = ok;
    h.payload_size = 2 * 4096 - 1;
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "payload of 8191 bytes");
    h.payload_size = 0;
    hdr_rejected(h, MULTIFD_COMPRESSION_ZSTD, -1, 0, "payload of 0 bytes");
    h.payload_size = MULTIFD_MAX_PAYLOAD + 1;
    hdr_rejected(h, MULTIFD_COMPRESSION_ZLIB, -1, 0, "payload of");
    h.payload_size = 0xffffffffu;
    hdr_rejected(h, MULTIFD_COMPRESSION_LZ4, -1, 0, "payload of");
    /* a sync packet carries nothing */
    h = (MultiFDHdr){ .flags = MULTIFD_FLAG_SYNC, .page_count = 1 };
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "a sync packet with pages");
    h = (MultiFDHdr){ .flags = MULTIFD_FLAG_SYNC, .payload_size = 1 };
    hdr_rejected(h, MULTIFD_COMPRESSION_ZLIB, -1, 0, "a sync packet with pages");
    h = (MultiFDHdr){ .flags = MULTIFD_FLAG_SYNC, .name_len = 3 };
    hdr_rejected(h, MULTIFD_COMPRESSION_NONE, -1, 0, "a sync packet with pages");
}

/* ---- offsets ---- */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = v >> (56 - 8 * i);
    }
}

static void offsets_rejected(const uint64_t *o, unsigned n, uint64_t block_len)
{
    uint8_t buf[8 * 8];
    uint64_t out[8];
    g_autoptr(GError) err = NULL;

    for (unsigned i = 0; i < n; i++) {
        put64(buf + 8 * i, o[i]);
    }
    g_assert_false(multifd_offsets_decode(buf, n, block_len, out, &err));
    g_assert_nonnull(strstr(err->message, "unaligned, out of order or outside"));
}

static void test_offsets(void)
{
    static const uint64_t good[3] = { 0, 0x1000, 0xff000 };
    static const uint64_t unaligned[2] = { 0, 0x1800 };
    static const uint64_t beyond[2] = { 0, 0x100000 };
    static const uint64_t huge[1] = { 0xfffffffffffff000ull };
    static const uint64_t dup[2] = { 0x2000, 0x2000 };
    static const uint64_t back[2] = { 0x3000, 0x2000 };
    uint8_t buf[3 * 8];
    uint64_t out[3];
    g_autoptr(GError) err = NULL;

    for (int i = 0; i < 3; i++) {
        put64(buf + 8 * i, good[i]);
    }
    g_assert_true(multifd_offsets_decode(buf, 3, 0x100000, out, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(out, sizeof(out), good, sizeof(good));
    offsets_rejected(unaligned, 2, 0x100000);
    offsets_rejected(beyond, 2, 0x100000);
    offsets_rejected(huge, 1, 0x100000);
    offsets_rejected(dup, 2, 0x100000);
    offsets_rejected(back, 2, 0x100000);
    offsets_rejected(good, 1, 0);
}

/* ---- whole packets ---- */

static GByteArray *make_packet(uint32_t pages, const char *name, uint32_t payload)
{
    GByteArray *b = g_byte_array_new();
    MultiFDHdr h = { .page_count = pages, .payload_size = payload,
                     .packet_num = 1, .name_len = strlen(name) };
    uint8_t hdr[MULTIFD_HDR_SIZE], off[8];

    multifd_hdr_encode(&h, hdr);
    g_byte_array_append(b, hdr, sizeof(hdr));
    g_byte_array_append(b, (const guint8 *)name, strlen(name));
    for (uint32_t i = 0; i < pages; i++) {
        put64(off, (uint64_t)i * 4096);
        g_byte_array_append(b, off, 8);
    }
    for (uint32_t i = 0; i < payload; i++) {
        uint8_t v = i;
        g_byte_array_append(b, &v, 1);
    }
    return b;
}

static void test_packet_parse(void)
{
    g_autoptr(GByteArray) b = make_packet(2, "pc.ram", 2 * 4096);
    MultiFDHdr h;
    char name[256];
    uint64_t offsets[MULTIFD_MAX_PAGES];
    const uint8_t *payload;

    {
        g_autoptr(GError) err = NULL;
        g_assert_true(multifd_packet_parse(b->data, b->len, MULTIFD_COMPRESSION_NONE,
                                           0x10000, &h, name, offsets, &payload, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(name, ==, "pc.ram");
        g_assert_cmpuint(offsets[1], ==, 4096);
        g_assert_true(payload == b->data + MULTIFD_HDR_SIZE + 6 + 16);
    }
    /* every truncation */
    for (guint n = 0; n < b->len; n += n < 64 ? 1 : 4093) {
        g_autoptr(GError) err = NULL;
        g_assert_false(multifd_packet_parse(b->data, n, MULTIFD_COMPRESSION_NONE, 0x10000,
                                            &h, name, offsets, &payload, &err));
        g_assert_nonnull(err);
    }
    /* a NUL inside the name */
    {
        g_autoptr(GError) err = NULL;
        b->data[MULTIFD_HDR_SIZE + 2] = 0;
        g_assert_false(multifd_packet_parse(b->data, b->len, MULTIFD_COMPRESSION_NONE,
                                            0x10000, &h, name, offsets, &payload, &err));
        g_assert_nonnull(strstr(err->message, "NUL"));
    }
    /* offsets beyond a small block */
    {
        g_autoptr(GByteArray) c = make_packet(2, "pc.ram", 2 * 4096);
        g_autoptr(GError) err = NULL;
        g_assert_false(multifd_packet_parse(c->data, c->len, MULTIFD_COMPRESSION_NONE,
                                            4096, &h, name, offsets, &payload, &err));
        g_assert_nonnull(strstr(err->message, "outside the block"));
    }
}

/* ---- compression ---- */

static void fill_pages(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (i / 4096) * 7 + (i % 61 == 0 ? i : 0);
    }
}

static void method_round_trip(MultiFDCompression m, int level)
{
    g_autoptr(GError) err = NULL;
    MultiFDCodec *c = multifd_codec_new(m, level, true, &err);
    MultiFDCodec *d = multifd_codec_new(m, 0, false, &err);
    g_autofree uint8_t *in = g_malloc(MULTIFD_MAX_DATA);
    g_autofree uint8_t *out = g_malloc(MULTIFD_MAX_PAYLOAD);
    g_autofree uint8_t *back = g_malloc(MULTIFD_MAX_DATA + 4096);
    g_autofree uint8_t *rnd = g_malloc(MULTIFD_MAX_DATA);
    size_t n;

    g_assert_no_error(err);
    g_assert_nonnull(c);
    g_assert_nonnull(d);
    fill_pages(in, MULTIFD_MAX_DATA);
    /* twice: the contexts are reused packet after packet */
    for (int round = 0; round < 2; round++) {
        n = multifd_compress(c, in, MULTIFD_MAX_DATA, out, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(n, >, 0);
        g_assert_cmpuint(n, <, MULTIFD_MAX_DATA);
        memset(back, 0, MULTIFD_MAX_DATA);
        g_assert_true(multifd_decompress(d, out, n, back, MULTIFD_MAX_DATA, &err));
        g_assert_no_error(err);
        g_assert_cmpmem(back, MULTIFD_MAX_DATA, in, MULTIFD_MAX_DATA);
    }
    /* incompressible data still fits MULTIFD_MAX_PAYLOAD */
    for (size_t i = 0; i < MULTIFD_MAX_DATA; i++) {
        rnd[i] = g_random_int();
    }
    n = multifd_compress(c, rnd, MULTIFD_MAX_DATA, out, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(n, <=, MULTIFD_MAX_PAYLOAD);
    g_assert_true(multifd_decompress(d, out, n, back, MULTIFD_MAX_DATA, &err));
    g_assert_cmpmem(back, MULTIFD_MAX_DATA, rnd, MULTIFD_MAX_DATA);

    /* one page: claimed as two pages (too few bytes) */
    n = multifd_compress(c, in, 4096, out, &err);
    g_assert_false(multifd_decompress(d, out, n, back, 8192, &err));
    g_assert_nonnull(strstr(err->message, "does not decompress to exactly 8192 bytes"));
    g_clear_error(&err);
    /* two pages claimed as one (too many) */
    n = multifd_compress(c, in, 8192, out, &err);
    g_assert_false(multifd_decompress(d, out, n, back, 4096, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* truncated */
    g_assert_false(multifd_decompress(d, out, n / 2, back, 8192, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* trailing garbage (an lz4 block has no end marker to check it against) */
    if (m != MULTIFD_COMPRESSION_LZ4) {
        out[n] = 0x55;
        g_assert_false(multifd_decompress(d, out, n + 1, back, 8192, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    /* garbage */
    memset(out, 0xa5, 100);
    g_assert_false(multifd_decompress(d, out, 100, back, 8192, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    /* still good after errors */
    n = multifd_compress(c, in, 8192, out, &err);
    g_assert_true(multifd_decompress(d, out, n, back, 8192, &err));
    g_assert_cmpmem(back, 8192, in, 8192);
    multifd_codec_free(c);
    multifd_codec_free(d);
}

static void test_zlib(void)
{
    method_round_trip(MULTIFD_COMPRESSION_ZLIB, 1);
    method_round_trip(MULTIFD_COMPRESSION_ZLIB, 9);
}

static void test_zstd(void)
{
#ifdef CONFIG_ZSTD
    method_round_trip(MULTIFD_COMPRESSION_ZSTD, 1);
    method_round_trip(MULTIFD_COMPRESSION_ZSTD, 20);
#else
    g_test_skip("built without libzstd");
#endif
}

static void test_lz4(void)
{
#ifdef CONFIG_LZ4
    method_round_trip(MULTIFD_COMPRESSION_LZ4, 0);
#else
    g_test_skip("built without liblz4");
#endif
}

static void test_none(void)
{
    g_autoptr(GError) err = NULL;
    MultiFDCodec *d = multifd_codec_new(MULTIFD_COMPRESSION_NONE, 0, false, &err);
    uint8_t in[8192], back[8192];

    fill_pages(in, sizeof(in));
    g_assert_true(multifd_decompress(d, in, sizeof(in), back, sizeof(back), &err));
    g_assert_cmpmem(in, sizeof(in), back, sizeof(back));
    g_assert_false(multifd_decompress(d, in, 4096, back, sizeof(back), &err));
    g_assert_nonnull(err);
    multifd_codec_free(d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/multifd/init/round-trip", test_init_round_trip);
    g_test_add_func("/multifd/init/rejected", test_init_rejected);
    g_test_add_func("/multifd/hdr/round-trip", test_hdr_round_trip);
    g_test_add_func("/multifd/hdr/rejected", test_hdr_rejected);
    g_test_add_func("/multifd/offsets", test_offsets);
    g_test_add_func("/multifd/packet/parse", test_packet_parse);
    g_test_add_func("/multifd/compress/none", test_none);
    g_test_add_func("/multifd/compress/zlib", test_zlib);
    g_test_add_func("/multifd/compress/zstd", test_zstd);
    g_test_add_func("/multifd/compress/lz4", test_lz4);
    return g_test_run();
}
