/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XBZRLE: every encoder variant against the bytewise reference (same bytes,
 * same overflow decisions), round trips through the decoder, the fused
 * update, golden wire bytes, and malformed encodings the decoder rejects.
 */
#include <glib.h>
#include <string.h>

#include "migration/xbzrle.h"

#define PAGE 4096
#define CANARY 0xa5

/* ---- page pairs ---- */

typedef enum {
    PAIR_EQUAL, PAIR_ALL_DIFFERENT, PAIR_RANDOM, PAIR_SPARSE, PAIR_DENSE,
    PAIR_ALTERNATING, PAIR_RUNS, PAIR_COUNTER, PAIR__MAX,
} PairKind;

/* Fill @old and @new (@len bytes) with a pair of kind @k. */
static void make_pair(GRand *r, PairKind k, uint8_t *old, uint8_t *new, int len)
{
    for (int i = 0; i < len; i++) {
        old[i] = g_rand_int(r);
    }
    memcpy(new, old, len);
    switch (k) {
    case PAIR_EQUAL:
        break;
    case PAIR_ALL_DIFFERENT:
        for (int i = 0; i < len; i++) {
            new[i] = old[i] ^ (1 + g_rand_int_range(r, 0, 255));
        }
        break;
    case PAIR_RANDOM:
        for (int i = 0; i < len; i++) {
            new[i] = g_rand_int(r);     /* ~1/256 equal bytes by chance */
        }
        break;
    case PAIR_SPARSE: {
        int n = len ? g_rand_int_range(r, 1, 9) : 0;
        for (int j = 0; j < n; j++) {
            new[g_rand_int_range(r, 0, len)] ^= 1 + g_rand_int_range(r, 0, 255);
        }
        break;
    }
    case PAIR_DENSE:
        for (int i = 0; i < len; i++) {
            if (g_rand_int_range(r, 0, 4)) {
                new[i] ^= 1 + g_rand_int_range(r, 0, 255);
            }
        }
        break;
    case PAIR_ALTERNATING:
        for (int i = g_rand_int_range(r, 0, 2); i < len; i += 2) {
            new[i] ^= 0xff;
        }
        break;
    case PAIR_RUNS:
        /* runs of lengths around the 1/2-byte ULEB128 and 64-byte block edges */
        for (int i = 0; i < len;) {
            static const int lens[] = { 1, 2, 63, 64, 65, 127, 128, 129, 200, 700 };
            int run = lens[g_rand_int_range(r, 0, G_N_ELEMENTS(lens))];
            bool differ = g_rand_boolean(r);
            for (int j = i; j < MIN(len, i + run); j++) {
                if (differ) {
                    new[j] ^= 1 + g_rand_int_range(r, 0, 255);
                }
            }
            i += run;
        }
        break;
    case PAIR_COUNTER:
        /* pagewalk: the first byte of the page went up by one */
        if (len) {
            new[0]++;
        }
        break;
    default:
        g_assert_not_reached();
    }
}

/* ---- every variant against the reference ---- */

static const XbzrleImpl *reference(void)
{
    size_t n;
    const XbzrleImpl *impls = xbzrle_impls(&n);

    g_assert_cmpstr(impls[0].name, ==, "bytewise");
    return &impls[0];
}

/*
 * Encode (plain and update) with @impl and the reference, with @dlen, and
 * check: same result and bytes, nothing written past @dlen, the update
 * leaves old == new, and the decoder rebuilds new from old.
 */
static void check_one(const XbzrleImpl *impl, const uint8_t *old, const uint8_t *new,
                      int len, int dlen)
{
    const XbzrleImpl *ref = reference();
    g_autofree uint8_t *want = g_malloc(PAGE + 64);
    g_autofree uint8_t *got = g_malloc(PAGE + 64);
    g_autofree uint8_t *got2 = g_malloc(PAGE + 64);
    g_autofree uint8_t *cache = g_malloc(PAGE);
    g_autofree uint8_t *page = g_malloc(PAGE);
    int rw, rg, ru;

    memset(want, CANARY, PAGE + 64);
    memset(got, CANARY, PAGE + 64);
    memset(got2, CANARY, PAGE + 64);
    rw = ref->encode(old, new, len, want, dlen);
    rg = impl->encode(old, new, len, got, dlen);
    g_assert_cmpint(rg, ==, rw);
    if (rw > 0) {
        g_assert_cmpmem(got, rw, want, rw);
    }
    for (int i = MAX(dlen, 0); i < PAGE + 64; i++) {
        g_assert_cmpint(got[i], ==, CANARY);
    }

    memcpy(cache, old, len);
    ru = impl->update(cache, new, len, got2, dlen);
    g_assert_cmpint(ru, ==, rw);
    g_assert_cmpmem(cache, len, new, len);
    if (rw > 0) {
        g_assert_cmpmem(got2, rw, want, rw);
    }
    for (int i = MAX(dlen, 0); i < PAGE + 64; i++) {
        g_assert_cmpint(got2[i], ==, CANARY);
    }

    if (rw >= 0) {
        int end;

        memcpy(page, old, len);
        end = xbzrle_decode_buffer(want, rw, page, len);
        g_assert_cmpint(end, >=, 0);
        g_assert_cmpint(end, <=, len);
        g_assert_cmpmem(page, len, new, len);
        /* the encoding ends with the last changed byte */
        if (end > 0) {
            g_assert_cmpint(old[end - 1], !=, new[end - 1]);
        }
        g_assert_true(end > 0 || memcmp(old, new, len) == 0);
    }
}

static void test_variant(gconstpointer data)
{
    const XbzrleImpl *impl = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(42);
    g_autofree uint8_t *old = g_malloc(PAGE + 64);
    g_autofree uint8_t *new = g_malloc(PAGE + 64);

    if (!impl->supported()) {
        g_test_skip("not supported by this CPU");
        return;
    }
    /* whole pages of every kind, with the page size and a tight slot */
    for (PairKind k = 0; k < PAIR__MAX; k++) {
        for (int rep = 0; rep < 40; rep++) {
            make_pair(r, k, old, new, PAGE);
            check_one(impl, old, new, PAGE, PAGE);
            check_one(impl, old, new, PAGE, g_rand_int_range(r, 0, PAGE));
        }
    }
    /* every length up to 300 (block tails), at odd alignments */
    for (int len = 0; len <= 300; len++) {
        int align = len % 13;
        for (PairKind k = 0; k < PAIR__MAX; k++) {
            make_pair(r, k, old + align, new + 2 * align, len);
            check_one(impl, old + align, new + 2 * align, len, len);
        }
    }
    /* one changed byte at every position of a page, and the first/last pairs */
    memset(old, 0x5a, PAGE);
    memcpy(new, old, PAGE);
    for (int pos = 0; pos < PAGE; pos++) {
        new[pos] ^= 0x10;
        check_one(impl, old, new, PAGE, PAGE);
        if (pos + 1 < PAGE) {
            new[pos + 1] ^= 0x01;
            check_one(impl, old, new, PAGE, PAGE);
            new[pos + 1] ^= 0x01;
        }
        new[pos] ^= 0x10;
    }
}

/*
 * Every overflow boundary: for each pair, find the exact encoding length L
 * (unbounded slot), then every dlen in [0, L]: only dlen >= L succeeds.
 */
static void test_overflow_boundaries(gconstpointer data)
{
    const XbzrleImpl *impl = data;
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    g_autofree uint8_t *old = g_malloc(PAGE);
    g_autofree uint8_t *new = g_malloc(PAGE);
    g_autofree uint8_t *dst = g_malloc(2 * PAGE);

    if (!impl->supported()) {
        g_test_skip("not supported by this CPU");
        return;
    }
    for (PairKind k = 0; k < PAIR__MAX; k++) {
        for (int rep = 0; rep < 4; rep++) {
            int full;

            make_pair(r, k, old, new, PAGE);
            full = reference()->encode(old, new, PAGE, dst, 2 * PAGE);
            g_assert_cmpint(full, >=, 0);
            for (int dlen = 0; dlen <= MIN(full + 2, PAGE); dlen++) {
                int got = impl->encode(old, new, PAGE, dst, dlen);
                g_assert_cmpint(got, ==, dlen >= full ? full : -1);
                if (k == PAIR_SPARSE || k == PAIR_COUNTER) {
                    check_one(impl, old, new, PAGE, dlen);
                }
            }
            /* the fused update agrees at the boundary and below it */
            if (full <= PAGE) {
                check_one(impl, old, new, PAGE, full);
            }
            if (full > 0) {
                check_one(impl, old, new, PAGE, MIN(full - 1, PAGE));
            }
        }
    }
    /* all different: 2 (length 0x1000 needs 2 bytes) + 1 + 4096 > a page */
    memset(old, 0, PAGE);
    memset(new, 1, PAGE);
    g_assert_cmpint(impl->encode(old, new, PAGE, dst, 2 * PAGE), ==, 1 + 2 + PAGE);
    g_assert_cmpint(impl->encode(old, new, PAGE, dst, PAGE), ==, -1);
    /* lengths that do not fit 14 bits are refused, not mis-encoded */
    g_assert_cmpint(impl->encode(old, new, XBZRLE_MAX_PAGE + 1, dst, PAGE), ==, -1);
    g_assert_cmpint(impl->encode(old, new, -1, dst, PAGE), ==, -1);
}

/*
 * The fused update on a page another thread keeps writing (a running
 * guest): whatever it read, the destination's copy (old + encoding, or the
 * cache sent raw after an overflow) must equal the cache afterwards.
 */
typedef struct Writer {
    uint8_t *page;
    int stop;
} Writer;

static gpointer writer_thread(gpointer opaque)
{
    Writer *w = opaque;
    guint32 x = 12345;

    while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
        x = x * 1103515245 + 12345;
        /* bursts near one place, like a guest updating a structure */
        for (int i = 0; i < 16; i++) {
            __atomic_store_n(&w->page[(x >> 8) % PAGE + i < PAGE ? (x >> 8) % PAGE + i : 0],
                             (uint8_t)(x >> (i & 7)), __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void test_update_concurrent(gconstpointer data)
{
    const XbzrleImpl *impl = data;
    g_autofree uint8_t *cache = g_malloc0(PAGE);
    g_autofree uint8_t *dest = g_malloc0(PAGE);
    g_autofree uint8_t *enc = g_malloc(PAGE);
    Writer w = { .page = g_malloc0(PAGE) };
    int64_t end = g_get_monotonic_time() + G_USEC_PER_SEC;
    int changed = 0, overflows = 0, it;
    GThread *t;

    if (!impl->supported()) {
        g_test_skip("not supported by this CPU");
        g_free(w.page);
        return;
    }
    t = g_thread_new("writer", writer_thread, &w);
    /* until enough encodings raced with the writer, or 1 s on a busy host */
    for (it = 0; changed < 500 || overflows < 100; it++) {
        /* a tight slot now and then, so that overflows happen too */
        int dlen = it % 4 == 0 ? 8 : PAGE;
        int n = impl->update(cache, w.page, PAGE, enc, dlen);

        if (n >= 0) {
            g_assert_cmpint(xbzrle_decode_buffer(enc, n, dest, PAGE), >=, 0);
            changed += n > 0;
        } else {
            memcpy(dest, cache, PAGE);  /* sent raw from the cache */
            overflows++;
        }
        g_assert_cmpmem(dest, PAGE, cache, PAGE);
        if ((it & 255) == 0 && g_get_monotonic_time() > end) {
            break;
        }
    }
    __atomic_store_n(&w.stop, 1, __ATOMIC_RELAXED);
    g_thread_join(t);
    g_test_message("%d encodings, %d with changes, %d overflows", it, changed, overflows);
    g_free(w.page);
}

/* ---- the wire format ---- */

static void test_golden(void)
{
    uint8_t old[PAGE] = { 0 }, new[PAGE] = { 0 }, dst[PAGE];
    static const uint8_t want[] = {
        0x05, 0x01, 0xaa,               /* zrun 5, nzrun 1: aa */
        0xc2, 0x01, 0x02, 0x01, 0x02,   /* zrun 194 (2-byte ULEB128), nzrun 2: 01 02 */
    };
    static const uint8_t first[] = { 0x00, 0x01, 0x07 };  /* zrun 0 first, nzrun 1: 07 */
    int n;

    new[5] = 0xaa;
    new[200] = 1;
    new[201] = 2;
    n = xbzrle_encode_buffer(old, new, PAGE, dst, PAGE);
    g_assert_cmpmem(dst, n, want, sizeof(want));

    memset(new, 0, PAGE);
    new[0] = 7;
    n = xbzrle_encode_buffer(old, new, PAGE, dst, PAGE);
    g_assert_cmpmem(dst, n, first, sizeof(first));

    /* unchanged: an empty encoding */
    memset(new, 0, PAGE);
    g_assert_cmpint(xbzrle_encode_buffer(old, new, PAGE, dst, PAGE), ==, 0);
    g_assert_cmpint(xbzrle_decode_buffer(dst, 0, new, PAGE), ==, 0);
}

/* ---- the decoder on untrusted input ---- */

/* Decode @enc into a page of 0x11s: -1 and an untouched page, or the result. */
static int decode_bytes(const uint8_t *enc, int len, int dlen)
{
    uint8_t page[PAGE], orig[PAGE];
    int ret;

    memset(page, 0x11, sizeof(page));
    memcpy(orig, page, sizeof(page));
    ret = xbzrle_decode_buffer(enc, len, page, dlen);
    if (ret < 0) {
        g_assert_cmpmem(page, PAGE, orig, PAGE);
    }
    return ret;
}

#define DECODE(dlen, ...) \
    decode_bytes((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), \
                 (dlen))

static void test_decode_valid(void)
{
    uint8_t page[PAGE];

    g_assert_cmpint(decode_bytes(NULL, 0, PAGE), ==, 0);
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x01, 0xaa), ==, 1);            /* first zrun 0 */
    g_assert_cmpint(DECODE(PAGE, 0x03, 0x02, 0xaa, 0xbb), ==, 5);
    g_assert_cmpint(DECODE(PAGE, 0x01, 0x01, 0xaa, 0x01, 0x01, 0xbb), ==, 4);
    /* a run ending exactly at the page end */
    g_assert_cmpint(DECODE(PAGE, 0xff, 0x1f, 0x01, 0xaa), ==, PAGE);   /* zrun 4095 */
    g_assert_cmpint(DECODE(PAGE, 0x80, 0x20, 0x00), ==, -1);           /* zrun 4096, no nzrun */
    /* a non-minimal 2-byte length: QEMU's decoder takes it, so does ours */
    g_assert_cmpint(DECODE(PAGE, 0x81, 0x00, 0x01, 0xaa), ==, 2);
    /* the bytes land where they should */
    memset(page, 0, sizeof(page));
    g_assert_cmpint(xbzrle_decode_buffer((const uint8_t[]){ 0x02, 0x02, 0xaa, 0xbb }, 4,
                                         page, PAGE), ==, 4);
    g_assert_cmpint(page[1], ==, 0);
    g_assert_cmpint(page[2], ==, 0xaa);
    g_assert_cmpint(page[3], ==, 0xbb);
    g_assert_cmpint(page[4], ==, 0);
}

static void test_decode_malformed(void)
{
    /* truncated ULEB128s and fragments */
    g_assert_cmpint(DECODE(PAGE, 0x00), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x80), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x05, 0x81), ==, -1);                 /* nzrun len cut */
    g_assert_cmpint(DECODE(PAGE, 0x05), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x01, 0xaa, 0x80), ==, -1);
    /* a third length byte (more than 14 bits) */
    g_assert_cmpint(DECODE(PAGE, 0x80, 0x80, 0x01, 0x01, 0xaa), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x80, 0x80, 0x01), ==, -1);
    /* zero-length runs where they are invalid */
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x00), ==, -1);                 /* nzrun 0 */
    g_assert_cmpint(DECODE(PAGE, 0x05, 0x00, 0xaa), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb), ==, -1); /* 2nd zrun 0 */
    /* runs past the page end */
    g_assert_cmpint(DECODE(PAGE, 0x80, 0x20, 0x01, 0xaa), ==, -1);     /* zrun 4096 + 1 */
    g_assert_cmpint(DECODE(PAGE, 0xff, 0x1f, 0x02, 0xaa, 0xbb), ==, -1);
    g_assert_cmpint(DECODE(8, 0x05, 0x04, 1, 2, 3, 4), ==, -1);
    g_assert_cmpint(DECODE(9, 0x05, 0x04, 1, 2, 3, 4), ==, 9);
    g_assert_cmpint(DECODE(0, 0x00, 0x01, 0xaa), ==, -1);
    /* nzrun data past the input */
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x05, 1, 2, 3), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x00, 0x03, 1, 2, 3, 0x01), ==, -1);  /* + 1 stray byte */
    /* trailing garbage after a valid encoding */
    g_assert_cmpint(DECODE(PAGE, 0x01, 0x01, 0xaa, 0x02), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x01, 0x01, 0xaa, 0x02, 0x00), ==, -1);
    g_assert_cmpint(DECODE(PAGE, 0x01, 0x01, 0xaa, 0x02, 0x01), ==, -1);
    /* bad sizes */
    g_assert_cmpint(decode_bytes((const uint8_t[]){ 0x00, 0x01, 0xaa }, -1, PAGE), ==, -1);
    g_assert_cmpint(decode_bytes((const uint8_t[]){ 0x00, 0x01, 0xaa }, 3, -1), ==, -1);
}

/* Random bytes never crash the decoder and never write past the page. */
static void test_decode_random(void)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(3);
    uint8_t enc[64], page[PAGE + 16];

    for (int it = 0; it < 200000; it++) {
        int len = g_rand_int_range(r, 0, sizeof(enc) + 1);
        int dlen = g_rand_int_range(r, 0, PAGE + 1);
        int ret;

        for (int i = 0; i < len; i++) {
            /* small lengths often, so that some inputs are valid */
            enc[i] = g_rand_int_range(r, 0, 4) ? (uint8_t)g_rand_int_range(r, 0, 8) : (uint8_t)g_rand_int(r);
        }
        memset(page, CANARY, sizeof(page));
        ret = xbzrle_decode_buffer(enc, len, page, dlen);
        g_assert_cmpint(ret, <=, dlen);
        for (int i = dlen; i < (int)sizeof(page); i++) {
            g_assert_cmpint(page[i], ==, CANARY);
        }
    }
}

static void test_select(void)
{
    size_t n;
    const XbzrleImpl *impls = xbzrle_impls(&n);

    g_assert_nonnull(xbzrle_current());
    g_assert_true(xbzrle_select("scalar"));
    g_assert_cmpstr(xbzrle_current(), ==, "scalar");
    g_assert_false(xbzrle_select("nonsense"));
    g_assert_cmpstr(xbzrle_current(), ==, "scalar");
    /* back to the best one, as the migration code would get */
    for (size_t i = n; i-- > 0;) {
        if (impls[i].supported()) {
            g_assert_true(xbzrle_select(impls[i].name));
            break;
        }
    }
}

int main(int argc, char **argv)
{
    size_t n;
    const XbzrleImpl *impls = xbzrle_impls(&n);

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < n; i++) {
        g_autofree char *p1 = g_strdup_printf("/xbzrle/variant/%s", impls[i].name);
        g_autofree char *p2 = g_strdup_printf("/xbzrle/overflow/%s", impls[i].name);
        g_test_add_data_func(p1, &impls[i], test_variant);
        g_autofree char *p3 = g_strdup_printf("/xbzrle/update-concurrent/%s", impls[i].name);
        g_test_add_data_func(p2, &impls[i], test_overflow_boundaries);
        g_test_add_data_func(p3, &impls[i], test_update_concurrent);
    }
    g_test_add_func("/xbzrle/golden", test_golden);
    g_test_add_func("/xbzrle/decode/valid", test_decode_valid);
    g_test_add_func("/xbzrle/decode/malformed", test_decode_malformed);
    g_test_add_func("/xbzrle/decode/random", test_decode_random);
    g_test_add_func("/xbzrle/select", test_select);
    return g_test_run();
}
