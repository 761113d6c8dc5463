/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the rdma: transport's pure parts: capability and control
 * message round trips, malformed and oversized messages rejected, golden
 * bytes of the header, chunk math at block edges, write merging, memlock.
 */
#include <string.h>

#include "migration/rdma-proto.h"

/* ---- capabilities ---- */

static void test_caps_round_trip(void)
{
    MigRdmaCaps in = { .version = MIG_RDMA_VERSION, .flags = MIG_RDMA_CAP_PIN_ALL }, out;
    uint8_t buf[56] = { 0 };    /* an InfiniBand CM pads private data to 56 bytes */
    static const uint8_t golden[MIG_RDMA_CAPS_SIZE] = {
        'K', 'V', 'M', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
    };
    g_autoptr(GError) err = NULL;

    mig_rdma_caps_encode(&in, buf);
    g_assert_cmpmem(buf, MIG_RDMA_CAPS_SIZE, golden, sizeof(golden));
    g_assert_true(mig_rdma_caps_decode(buf, MIG_RDMA_CAPS_SIZE, &out, &err));
    g_assert_cmpuint(out.version, ==, MIG_RDMA_VERSION);
    g_assert_cmpuint(out.flags, ==, MIG_RDMA_CAP_PIN_ALL);
    g_assert_true(mig_rdma_caps_decode(buf, sizeof(buf), &out, &err));
    g_assert_no_error(err);
}

static void test_caps_rejected(void)
{
    MigRdmaCaps in = { .version = MIG_RDMA_VERSION }, out;
    uint8_t buf[MIG_RDMA_CAPS_SIZE];

    mig_rdma_caps_encode(&in, buf);
    for (size_t n = 0; n < MIG_RDMA_CAPS_SIZE; n++) {
        g_autoptr(GError) err = NULL;
        g_assert_false(mig_rdma_caps_decode(buf, n, &out, &err));
        g_assert_nonnull(strstr(err->message, "not a kvmig RDMA migration peer"));
    }
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(mig_rdma_caps_decode(NULL, 0, &out, &err));
    }
    {
        g_autoptr(GError) err = NULL;
        buf[0] ^= 1;
        g_assert_false(mig_rdma_caps_decode(buf, sizeof(buf), &out, &err));
        g_assert_nonnull(strstr(err->message, "magic"));
        buf[0] ^= 1;
    }
    for (uint32_t v = 0; v < 4; v += 2) {     /* 0 and 2: not ours */
        g_autoptr(GError) err = NULL;
        in.version = v;
        mig_rdma_caps_encode(&in, buf);
        g_assert_false(mig_rdma_caps_decode(buf, sizeof(buf), &out, &err));
        g_assert_nonnull(strstr(err->message, "protocol version"));
    }
}

static void test_caps_answer(void)
{
    MigRdmaCaps req = { .version = MIG_RDMA_VERSION, .flags = 0xffffffff }, reply;

    mig_rdma_caps_answer(&req, &reply);
    g_assert_cmpuint(reply.version, ==, MIG_RDMA_VERSION);
    g_assert_cmpuint(reply.flags, ==, MIG_RDMA_CAPS_KNOWN);
    req.flags = 0;
    mig_rdma_caps_answer(&req, &reply);
    g_assert_cmpuint(reply.flags, ==, 0);
}

/* ---- messages ---- */

static size_t build(uint8_t *buf, uint32_t type, uint32_t repeat, const void *payload,
                    uint32_t len)
{
    mig_rdma_msg_put_header(buf, type, repeat, len);
    if (len) {
        memcpy(buf + MIG_RDMA_HDR_SIZE, payload, len);
    }
    return MIG_RDMA_HDR_SIZE + len;
}

static bool parses(const uint8_t *buf, size_t n)
{
    g_autoptr(GError) err = NULL;
    MigRdmaMsg msg;
    bool ok = mig_rdma_msg_parse(buf, n, &msg, &err);

    g_assert_true(ok == (err == NULL));
    if (!ok) {
        g_assert_cmpstr(err->message, !=, "");
    }
    return ok;
}

static void test_header_golden(void)
{
    uint8_t buf[MIG_RDMA_HDR_SIZE + 3];
    static const uint8_t golden[] = {
        0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c',
    };
    g_autoptr(GError) err = NULL;
    MigRdmaMsg msg;

    build(buf, MIG_RDMA_MSG_STREAM, 0, "abc", 3);
    g_assert_cmpmem(buf, sizeof(buf), golden, sizeof(golden));
    g_assert_true(mig_rdma_msg_parse(buf, sizeof(buf), &msg, &err));
    g_assert_cmpuint(msg.type, ==, MIG_RDMA_MSG_STREAM);
    g_assert_cmpuint(msg.len, ==, 3);
    g_assert_cmpmem(msg.payload, 3, "abc", 3);
    /* names are part of messages users read: pin them */
    g_assert_cmpstr(mig_rdma_msg_name(MIG_RDMA_MSG_READY), ==, "READY");
    g_assert_cmpstr(mig_rdma_msg_name(MIG_RDMA_MSG_REGISTER_REQUEST), ==, "REGISTER_REQUEST");
    g_assert_cmpstr(mig_rdma_msg_name(MIG_RDMA_MSG_SYNC), ==, "SYNC");
    g_assert_cmpstr(mig_rdma_msg_name(0), ==, "unknown");
    g_assert_cmpstr(mig_rdma_msg_name(0xffffffff), ==, "unknown");
}

static void test_empty_messages(void)
{
    static const uint32_t types[] = {
        MIG_RDMA_MSG_READY, MIG_RDMA_MSG_REGISTER_FINISHED, MIG_RDMA_MSG_SYNC,
    };
    uint8_t buf[MIG_RDMA_HDR_SIZE + 16];

    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        g_assert_true(parses(buf, build(buf, types[i], 0, NULL, 0)));
        g_assert_false(parses(buf, build(buf, types[i], 1, NULL, 0)));
        g_assert_false(parses(buf, build(buf, types[i], 0, "x", 1)));
    }
    /* a STREAM message carries at least one byte and no entries */
    g_assert_false(parses(buf, build(buf, MIG_RDMA_MSG_STREAM, 0, NULL, 0)));
    g_assert_false(parses(buf, build(buf, MIG_RDMA_MSG_STREAM, 1, "x", 1)));
}

static void test_malformed_headers(void)
{
    g_autofree uint8_t *buf = g_malloc0(MIG_RDMA_MSG_MAX + 16);
    g_autofree uint8_t *zeros = g_malloc0(MIG_RDMA_MSG_MAX);
    size_t n;

    /* too short for a header, at every length */
    build(buf, MIG_RDMA_MSG_READY, 0, NULL, 0);
    for (n = 0; n < MIG_RDMA_HDR_SIZE; n++) {
        g_assert_false(parses(buf, n));
    }
    /* unknown types */
    g_assert_false(parses(buf, build(buf, 0, 0, NULL, 0)));
    g_assert_false(parses(buf, build(buf, MIG_RDMA_MSG__MAX, 0, NULL, 0)));
    g_assert_false(parses(buf, build(buf, 0xffffffff, 0, NULL, 0)));
    /* reserved word set */
    n = build(buf, MIG_RDMA_MSG_READY, 0, NULL, 0);
    buf[15] = 1;
    g_assert_false(parses(buf, n));
    buf[15] = 0;
    /* len says more or less than what arrived */
    n = build(buf, MIG_RDMA_MSG_STREAM, 0, "abcd", 4);
    g_assert_false(parses(buf, n - 1));
    g_assert_false(parses(buf, n + 1));
    buf[3] = 0xff;      /* len 255, 4 bytes carried */
    g_assert_false(parses(buf, n));
    buf[0] = 0xff;      /* len near 4 GiB */
    g_assert_false(parses(buf, n));
    /* the biggest message fits a receive buffer; one byte more is rejected */
    n = build(buf, MIG_RDMA_MSG_STREAM, 0, zeros, MIG_RDMA_PAYLOAD_MAX);
    g_assert_cmpuint(n, ==, MIG_RDMA_MSG_MAX);
    g_assert_true(parses(buf, n));
    mig_rdma_msg_put_header(buf, MIG_RDMA_MSG_STREAM, 0, MIG_RDMA_PAYLOAD_MAX + 1);
    g_assert_false(parses(buf, n + 1));
}

static void test_register_round_trip(void)
{
    uint8_t buf[MIG_RDMA_HDR_SIZE + 3 * MIG_RDMA_REG_ENTRY_SIZE];
    MigRdmaRegRequest req[3] = {
        { 0, 0 }, { 1, 1023 }, { 63, UINT64_MAX },
    };
    MigRdmaRegResult res[3] = {
        { 0, 0x1234, 0x7f0000000000 }, { 12, 0, 0 }, { 0, UINT32_MAX, UINT64_MAX },
    };
    g_autoptr(GError) err = NULL;
    MigRdmaMsg msg;

    for (int i = 0; i < 3; i++) {
        mig_rdma_put_reg_request(buf + MIG_RDMA_HDR_SIZE + i * MIG_RDMA_REG_ENTRY_SIZE,
                                 &req[i]);
    }
    mig_rdma_msg_put_header(buf, MIG_RDMA_MSG_REGISTER_REQUEST, 3,
                            3 * MIG_RDMA_REG_ENTRY_SIZE);
    g_assert_true(mig_rdma_msg_parse(buf, sizeof(buf), &msg, &err));
    g_assert_cmpuint(msg.repeat, ==, 3);
    for (uint32_t i = 0; i < 3; i++) {
        MigRdmaRegRequest r;
        mig_rdma_msg_reg_request(&msg, i, &r);
        g_assert_cmpuint(r.block, ==, req[i].block);
        g_assert_cmpuint(r.chunk, ==, req[i].chunk);
    }
    /* UNREGISTER has the same entries */
    mig_rdma_msg_put_header(buf, MIG_RDMA_MSG_UNREGISTER, 3, 3 * MIG_RDMA_REG_ENTRY_SIZE);
    g_assert_true(mig_rdma_msg_parse(buf, sizeof(buf), &msg, &err));

    for (int i = 0; i < 3; i++) {
        mig_rdma_put_reg_result(buf + MIG_RDMA_HDR_SIZE + i * MIG_RDMA_REG_ENTRY_SIZE,
                                &res[i]);
    }
    mig_rdma_msg_put_header(buf, MIG_RDMA_MSG_REGISTER_RESULT, 3,
                            3 * MIG_RDMA_REG_ENTRY_SIZE);
    g_assert_true(mig_rdma_msg_parse(buf, sizeof(buf), &msg, &err));
    g_assert_no_error(err);
    for (uint32_t i = 0; i < 3; i++) {
        MigRdmaRegResult r;
        mig_rdma_msg_reg_result(&msg, i, &r);
        g_assert_cmpuint(r.status, ==, res[i].status);
        g_assert_cmpuint(r.rkey, ==, res[i].rkey);
        g_assert_cmpuint(r.addr, ==, res[i].addr);
    }
}

static void test_register_malformed(void)
{
    g_autofree uint8_t *buf = g_malloc0(MIG_RDMA_MSG_MAX + 32);
    g_autofree uint8_t *zeros = g_malloc0(MIG_RDMA_MSG_MAX);
    static const uint32_t types[] = {
        MIG_RDMA_MSG_REGISTER_REQUEST, MIG_RDMA_MSG_REGISTER_RESULT, MIG_RDMA_MSG_UNREGISTER,
    };

    for (size_t t = 0; t < G_N_ELEMENTS(types); t++) {
        uint32_t max = MIG_RDMA_REG_MAX;

        /* no entries */
        g_assert_false(parses(buf, build(buf, types[t], 0, NULL, 0)));
        /* repeat and len disagree */
        g_assert_false(parses(buf, build(buf, types[t], 2, zeros, 16)));
        g_assert_false(parses(buf, build(buf, types[t], 1, zeros, 17)));
        g_assert_false(parses(buf, build(buf, types[t], 1, zeros, 15)));
        /* repeat * 16 wrapping 32 bits must not pass as len 0 or 16 */
        g_assert_false(parses(buf, build(buf, types[t], 0x10000000, NULL, 0)));
        g_assert_false(parses(buf, build(buf, types[t], 0x10000001, zeros, 16)));
        /* as many entries as fit, and no more */
        g_assert_true(parses(buf, build(buf, types[t], max, zeros,
                                        max * MIG_RDMA_REG_ENTRY_SIZE)));
        mig_rdma_msg_put_header(buf, types[t], max + 1, (max + 1) * MIG_RDMA_REG_ENTRY_SIZE);
        g_assert_false(parses(buf, MIG_RDMA_HDR_SIZE + (max + 1) * MIG_RDMA_REG_ENTRY_SIZE));
    }
}

/* ---- RAM block table ---- */

static MigRdmaMsg blocks_msg(uint8_t *buf, size_t len, uint32_t repeat)
{
    MigRdmaMsg msg = {
        .type = MIG_RDMA_MSG_RAM_BLOCKS, .repeat = repeat, .len = len, .payload = buf,
    };
    return msg;
}

static void test_blocks_round_trip(void)
{
    MigRdmaBlockInfo in[2] = {
        { .len = 512 << 20, .addr = 0x7f1200000000, .rkey = 0 },
        { .len = 4096, .addr = 0x1000, .rkey = 0xabcdef01 },
    };
    uint8_t buf[1024];
    g_autoptr(GError) err = NULL;
    g_autofree MigRdmaBlockInfo *out = NULL;
    size_t n;

    strcpy(in[0].name, "pc.ram");
    memset(in[1].name, 'x', 255);
    n = mig_rdma_blocks_encode(buf, sizeof(buf), in, 2);
    g_assert_cmpuint(n, ==, 21 + 6 + 21 + 255);
    {
        MigRdmaMsg msg = blocks_msg(buf, n, 2);
        out = mig_rdma_blocks_decode(&msg, &err);
    }
    g_assert_no_error(err);
    for (int i = 0; i < 2; i++) {
        g_assert_cmpstr(out[i].name, ==, in[i].name);
        g_assert_cmpuint(out[i].len, ==, in[i].len);
        g_assert_cmpuint(out[i].addr, ==, in[i].addr);
        g_assert_cmpuint(out[i].rkey, ==, in[i].rkey);
    }
    /* too small a buffer: 0, not a partial table */
    g_assert_cmpuint(mig_rdma_blocks_encode(buf, n - 1, in, 2), ==, 0);
    /* via the parser: a whole message */
    {
        uint8_t m[MIG_RDMA_HDR_SIZE + 1024];
        MigRdmaMsg msg;
        g_autofree MigRdmaBlockInfo *again = NULL;

        build(m, MIG_RDMA_MSG_RAM_BLOCKS, 2, buf, n);
        g_assert_true(mig_rdma_msg_parse(m, MIG_RDMA_HDR_SIZE + n, &msg, &err));
        again = mig_rdma_blocks_decode(&msg, &err);
        g_assert_nonnull(again);
        g_assert_cmpstr(again[1].name, ==, in[1].name);
    }
}

static void expect_blocks_fail(uint8_t *buf, size_t n, uint32_t repeat, const char *needle)
{
    g_autoptr(GError) err = NULL;
    MigRdmaMsg msg = blocks_msg(buf, n, repeat);

    g_assert_null(mig_rdma_blocks_decode(&msg, &err));
    g_assert_nonnull(err);
    if (needle && !strstr(err->message, needle)) {
        g_error("'%s' lacks '%s'", err->message, needle);
    }
}

static void test_blocks_malformed(void)
{
    MigRdmaBlockInfo in[1] = { { .name = "pc.ram", .len = 1 << 20, .addr = 0x10000 } };
    uint8_t buf[256], bad[256];
    size_t n = mig_rdma_blocks_encode(buf, sizeof(buf), in, 1);

    /* every truncation */
    for (size_t k = 0; k < n; k++) {
        expect_blocks_fail(buf, k, 1, NULL);
    }
    /* more entries announced than present; trailing bytes */
    expect_blocks_fail(buf, n, 2, "truncated");
    memcpy(bad, buf, n);
    bad[n] = 0;
    expect_blocks_fail(bad, n + 1, 1, "after the last entry");
    /* repeat out of range */
    expect_blocks_fail(buf, n, 0, NULL);
    expect_blocks_fail(buf, n, MIG_RDMA_MAX_BLOCKS + 1, NULL);
    /* empty name */
    memcpy(bad, buf, n);
    bad[20] = 0;
    expect_blocks_fail(bad, n, 1, NULL);
    /* a NUL inside the name */
    memcpy(bad, buf, n);
    bad[22] = 0;
    expect_blocks_fail(bad, n, 1, "NUL");
    /* size zero, not a page multiple, wrapping the address space */
    in[0].len = 0;
    mig_rdma_blocks_encode(bad, sizeof(bad), in, 1);
    expect_blocks_fail(bad, n, 1, "bad size");
    in[0].len = 4095;
    mig_rdma_blocks_encode(bad, sizeof(bad), in, 1);
    expect_blocks_fail(bad, n, 1, "bad size");
    in[0].len = 1 << 20;
    in[0].addr = UINT64_MAX - 4095;
    mig_rdma_blocks_encode(bad, sizeof(bad), in, 1);
    expect_blocks_fail(bad, n, 1, "bad size");
    /* the wrong message type */
    {
        g_autoptr(GError) err = NULL;
        MigRdmaMsg msg = blocks_msg(buf, n, 1);
        msg.type = MIG_RDMA_MSG_STREAM;
        g_assert_null(mig_rdma_blocks_decode(&msg, &err));
    }
}

/* ---- chunks ---- */

#define MiB (1ULL << 20)

static void test_chunk_math(void)
{
    uint64_t start, len;

    g_assert_cmpuint(mig_rdma_nchunks(0), ==, 0);
    g_assert_cmpuint(mig_rdma_nchunks(4096), ==, 1);
    g_assert_cmpuint(mig_rdma_nchunks(MiB - 4096), ==, 1);
    g_assert_cmpuint(mig_rdma_nchunks(MiB), ==, 1);
    g_assert_cmpuint(mig_rdma_nchunks(MiB + 4096), ==, 2);
    g_assert_cmpuint(mig_rdma_nchunks(512 * MiB), ==, 512);
    g_assert_cmpuint(mig_rdma_chunk_of(0), ==, 0);
    g_assert_cmpuint(mig_rdma_chunk_of(MiB - 1), ==, 0);
    g_assert_cmpuint(mig_rdma_chunk_of(MiB), ==, 1);

    /* a block of 2 MiB + 8 KiB: two full chunks and a short one */
    g_assert_true(mig_rdma_chunk_range(2 * MiB + 8192, 0, &start, &len));
    g_assert_cmpuint(start, ==, 0);
    g_assert_cmpuint(len, ==, MiB);
    g_assert_true(mig_rdma_chunk_range(2 * MiB + 8192, 2, &start, &len));
    g_assert_cmpuint(start, ==, 2 * MiB);
    g_assert_cmpuint(len, ==, 8192);
    g_assert_false(mig_rdma_chunk_range(2 * MiB + 8192, 3, &start, &len));
    g_assert_false(mig_rdma_chunk_range(2 * MiB + 8192, UINT64_MAX, &start, &len));
    /* a block of exactly 1 MiB has no second chunk */
    g_assert_true(mig_rdma_chunk_range(MiB, 0, &start, &len));
    g_assert_cmpuint(len, ==, MiB);
    g_assert_false(mig_rdma_chunk_range(MiB, 1, &start, &len));
    g_assert_false(mig_rdma_chunk_range(0, 0, &start, &len));

    g_assert_true(mig_rdma_range_in_one_chunk(MiB - 4096, 4096));
    g_assert_false(mig_rdma_range_in_one_chunk(MiB - 4096, 8192));
    g_assert_true(mig_rdma_range_in_one_chunk(MiB, MiB));
    g_assert_false(mig_rdma_range_in_one_chunk(MiB, MiB + 1));
    g_assert_false(mig_rdma_range_in_one_chunk(0, 0));
    g_assert_false(mig_rdma_range_in_one_chunk(UINT64_MAX - 4095, 8192));
}

static void test_chunk_map(void)
{
    uint64_t lens[2] = { 3 * MiB + 4096, 4096 };
    MigRdmaChunkMap *map = mig_rdma_chunk_map_new(lens, 2);

    g_assert_cmpuint(map->nchunks[0], ==, 4);
    g_assert_cmpuint(map->nchunks[1], ==, 1);
    g_assert_nonnull(mig_rdma_chunk_get(map, 0, 3));
    g_assert_null(mig_rdma_chunk_get(map, 0, 4));
    g_assert_nonnull(mig_rdma_chunk_get(map, 1, 0));
    g_assert_null(mig_rdma_chunk_get(map, 1, 1));
    g_assert_null(mig_rdma_chunk_get(map, 2, 0));
    g_assert_null(mig_rdma_chunk_get(map, UINT32_MAX, UINT64_MAX));
    g_assert_null(mig_rdma_chunk_get(map, 0, UINT64_MAX));
    /* fresh chunks are unregistered */
    g_assert_null(mig_rdma_chunk_get(map, 0, 2)->mr);
    g_assert_false(mig_rdma_chunk_get(map, 0, 2)->remote_ok);
    g_assert_cmpuint(map->registered_bytes, ==, 0);
    mig_rdma_chunk_map_free(map);
    mig_rdma_chunk_map_free(NULL);
}

static void test_write_merge(void)
{
    static uint8_t ram[3 * MiB];
    MigRdmaWrite w = { .pending = true, .block = 0, .offset = 0, .host = ram, .len = 4096 };

    /* the next page of the same block and chunk */
    g_assert_true(mig_rdma_write_can_merge(&w, 0, 4096, ram + 4096, 4096));
    /* a gap, another block, a host discontinuity, nothing pending */
    g_assert_false(mig_rdma_write_can_merge(&w, 0, 8192, ram + 8192, 4096));
    g_assert_false(mig_rdma_write_can_merge(&w, 1, 4096, ram + 4096, 4096));
    g_assert_false(mig_rdma_write_can_merge(&w, 0, 4096, ram + 8192, 4096));
    w.pending = false;
    g_assert_false(mig_rdma_write_can_merge(&w, 0, 4096, ram + 4096, 4096));
    w.pending = true;
    /* grow to a whole chunk, page by page; the next page starts a new WRITE */
    for (uint64_t off = 4096; off < MiB; off += 4096) {
        g_assert_true(mig_rdma_write_can_merge(&w, 0, off, ram + off, 4096));
        w.len += 4096;
    }
    g_assert_cmpuint(w.len, ==, MiB);
    g_assert_false(mig_rdma_write_can_merge(&w, 0, MiB, ram + MiB, 4096));
    /* a run starting mid-chunk stops at the chunk's end too */
    w = (MigRdmaWrite) { .pending = true, .offset = MiB + MiB / 2, .host = ram + MiB + MiB / 2,
                         .len = MiB / 2 - 4096 };
    g_assert_true(mig_rdma_write_can_merge(&w, 0, 2 * MiB - 4096, ram + 2 * MiB - 4096, 4096));
    g_assert_false(mig_rdma_write_can_merge(&w, 0, 2 * MiB - 4096, ram + 2 * MiB - 4096, 8192));
}

/* ---- memlock ---- */

static void test_memlock(void)
{
    uint64_t need = mig_rdma_memlock_needed(512 * MiB);
    g_autoptr(GError) err = NULL;

    g_assert_cmpuint(need, >, 512 * MiB);
    g_assert_cmpuint(need, <=, 512 * MiB + 2 * MiB);
    g_assert_true(mig_rdma_memlock_check(UINT64_MAX, false, need, NULL));
    g_assert_true(mig_rdma_memlock_check(need, false, need, NULL));
    g_assert_true(mig_rdma_memlock_check(0, true, need, NULL));
    g_assert_false(mig_rdma_memlock_check(8 * MiB, false, need, &err));
    g_assert_nonnull(strstr(err->message, "RLIMIT_MEMLOCK is 8192 KiB"));
    g_assert_nonnull(strstr(err->message, "ulimit -l"));
    g_assert_nonnull(strstr(err->message, "CAP_IPC_LOCK"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rdma-proto/caps/round-trip", test_caps_round_trip);
    g_test_add_func("/rdma-proto/caps/rejected", test_caps_rejected);
    g_test_add_func("/rdma-proto/caps/answer", test_caps_answer);
    g_test_add_func("/rdma-proto/msg/header-golden", test_header_golden);
    g_test_add_func("/rdma-proto/msg/empty", test_empty_messages);
    g_test_add_func("/rdma-proto/msg/malformed", test_malformed_headers);
    g_test_add_func("/rdma-proto/register/round-trip", test_register_round_trip);
    g_test_add_func("/rdma-proto/register/malformed", test_register_malformed);
    g_test_add_func("/rdma-proto/blocks/round-trip", test_blocks_round_trip);
    g_test_add_func("/rdma-proto/blocks/malformed", test_blocks_malformed);
    g_test_add_func("/rdma-proto/chunk/math", test_chunk_math);
    g_test_add_func("/rdma-proto/chunk/map", test_chunk_map);
    g_test_add_func("/rdma-proto/write/merge", test_write_merge);
    g_test_add_func("/rdma-proto/memlock", test_memlock);
    return g_test_run();
}
