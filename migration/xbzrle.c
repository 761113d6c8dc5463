/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XBZRLE encode and decode: the bytewise reference encoder, the scalar
 * (64-bit word) and SSE2 encoders, the variant table, and the validating
 * decoder.  The AVX2 and AVX-512BW encoders live in xbzrle-avx2.c and
 * xbzrle-avx512.c, the only files built with those instruction sets.
 */
#include <emmintrin.h>
#include <glib.h>
#include <string.h>

#include "migration/xbzrle-int.h"
#include "util/cpuinfo.h"

/* ---- bytewise: the reference, written to be obviously right ---- */

static int encode_bytewise(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                           uint8_t *dst, int dlen)
{
    int i = 0, d = 0;

    if (slen < 0 || slen > XBZRLE_MAX_PAGE) {
        return -1;
    }
    while (i < slen) {
        int zstart = i, nzstart;
        unsigned len;

        while (i < slen && old_buf[i] == new_buf[i]) {
            i++;
        }
        if (i == slen) {
            break;                      /* a trailing zrun is not encoded */
        }
        len = i - zstart;
        /* the nzrun that must follow costs at least 2 more bytes */
        if (d + xbzrle_uleb_len(len) + 2 > dlen) {
            return -1;
        }
        d += xbzrle_put_uleb(dst + d, len);

        nzstart = i;
        while (i < slen && old_buf[i] != new_buf[i]) {
            i++;
        }
        len = i - nzstart;
        if (d + xbzrle_uleb_len(len) + (int)len > dlen) {
            return -1;
        }
        d += xbzrle_put_uleb(dst + d, len);
        memcpy(dst + d, new_buf + nzstart, len);
        d += len;
    }
    return d;
}

/* The reference update: snapshot, encode against the snapshot, keep it. */
static int update_bytewise(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                           uint8_t *dst, int dlen)
{
    uint8_t snap[XBZRLE_MAX_PAGE];
    int ret;

    if (slen < 0 || slen > XBZRLE_MAX_PAGE) {
        return -1;
    }
    memcpy(snap, new_buf, slen);
    ret = encode_bytewise(old_buf, snap, slen, dst, dlen);
    memcpy(old_buf, snap, slen);
    return ret;
}

/* ---- scalar: eight 64-bit words per block ---- */

/* One bit per byte of @x (bit i <- byte i): set where the byte is non-zero. */
static inline uint64_t nonzero_bytes8(uint64_t x)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
    uint64_t t = (((x & low7) + low7) | x) & ~low7;

    /* gather the eight high bits into the top byte, byte i to bit 56 + i */
    return ((t >> 7) * 0x0102040810204080ULL) >> 56;
}

XBZRLE_INLINE uint64_t mask64_scalar(uint8_t *old_buf, const uint8_t *new_buf, bool update)
{
    uint64_t x[8], any = 0, diff = 0;

    for (int i = 0; i < 8; i++) {
        uint64_t o, n;

        memcpy(&o, old_buf + 8 * i, 8);
        memcpy(&n, new_buf + 8 * i, 8);
        if (update) {
            XBZRLE_OPAQUE_GPR(n);
            memcpy(old_buf + 8 * i, &n, 8);
        }
        x[i] = o ^ n;
        any |= x[i];
    }
    if (!any) {
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        diff |= nonzero_bytes8(x[i]) << (8 * i);
    }
    return diff;
}

static int encode_scalar(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks((uint8_t *)old_buf, new_buf, slen, dst, dlen, false,
                                mask64_scalar);
}

static int update_scalar(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks(old_buf, new_buf, slen, dst, dlen, true, mask64_scalar);
}

/* ---- SSE2: four 16-byte compares per block ---- */

XBZRLE_INLINE uint64_t mask64_sse2(uint8_t *old_buf, const uint8_t *new_buf, bool update)
{
    __m128i n[4], c[4];
    uint64_t eq = 0;

    for (int i = 0; i < 4; i++) {
        n[i] = _mm_loadu_si128((const __m128i *)(new_buf + 16 * i));
        if (update) {
            XBZRLE_OPAQUE_VEC(n[i]);
        }
        c[i] = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(old_buf + 16 * i)), n[i]);
        if (update) {
            _mm_storeu_si128((__m128i *)(old_buf + 16 * i), n[i]);
        }
    }
    /* the common case, 64 equal bytes, with one movemask */
    if (_mm_movemask_epi8(_mm_and_si128(_mm_and_si128(c[0], c[1]),
                                        _mm_and_si128(c[2], c[3]))) == 0xffff) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        eq |= (uint64_t)(uint16_t)_mm_movemask_epi8(c[i]) << (16 * i);
    }
    return ~eq;
}

static int encode_sse2(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks((uint8_t *)old_buf, new_buf, slen, dst, dlen, false,
                                mask64_sse2);
}

static int update_sse2(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks(old_buf, new_buf, slen, dst, dlen, true, mask64_sse2);
}

/* ---- the table ---- */

static const XbzrleImpl impls[] = {
    { "bytewise", encode_bytewise, update_bytewise, cpuinfo_always },
    { "scalar", encode_scalar, update_scalar, cpuinfo_always },
    { "sse2", encode_sse2, update_sse2, cpuinfo_has_sse2 },
    { "avx2", xbzrle_encode_avx2, xbzrle_update_avx2, cpuinfo_has_avx2 },
    { "avx512bw", xbzrle_encode_avx512bw, xbzrle_update_avx512bw, cpuinfo_has_avx512bw },
};

/* NULL until the first use picks the best; then set once (or by select). */
static const XbzrleImpl *current_impl;

const XbzrleImpl *xbzrle_impls(size_t *n)
{
    *n = G_N_ELEMENTS(impls);
    return impls;
}

static const XbzrleImpl *get_impl(void)
{
    const XbzrleImpl *impl = __atomic_load_n(&current_impl, __ATOMIC_ACQUIRE);

    if (!impl) {
        /* racing first callers all pick the same entry: benign */
        for (size_t i = G_N_ELEMENTS(impls); i-- > 0;) {
            if (impls[i].supported()) {
                impl = &impls[i];
                break;
            }
        }
        __atomic_store_n(&current_impl, impl, __ATOMIC_RELEASE);
    }
    return impl;
}

bool xbzrle_select(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(impls); i++) {
        if (!strcmp(impls[i].name, name) && impls[i].supported()) {
            __atomic_store_n(&current_impl, &impls[i], __ATOMIC_RELEASE);
            return true;
        }
    }
    return false;
}

const char *xbzrle_current(void)
{
    return get_impl()->name;
}

int xbzrle_encode_buffer(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen)
{
    return get_impl()->encode(old_buf, new_buf, slen, dst, dlen);
}

int xbzrle_encode_update(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen)
{
    return get_impl()->update(old_buf, new_buf, slen, dst, dlen);
}

/* ---- decode ---- */

/*
 * One length at @p, of which at least 2 bytes may be read: QEMU's 1- or
 * 2-byte ULEB128 (a third byte is malformed).  Returns bytes used or -1.
 */
static inline int get_uleb(const uint8_t *p, unsigned *v)
{
    if (!(p[0] & 0x80)) {
        *v = p[0];
        return 1;
    }
    if (p[1] & 0x80) {
        return -1;
    }
    *v = (p[0] & 0x7f) | (unsigned)p[1] << 7;
    return 2;
}

/*
 * Walk the encoding; with @apply false only check it.  Every length is
 * checked against what is left of @src and @dst before it is used; the
 * "2 bytes left" rule is QEMU's (a length plus at least one more byte).
 */
static int decode_walk(const uint8_t *src, int slen, uint8_t *dst, int dlen, bool apply)
{
    int i = 0, d = 0;

    while (i < slen) {
        unsigned zlen, nzlen;
        int used;

        if (slen - i < 2) {
            return -1;
        }
        used = get_uleb(src + i, &zlen);
        if (used < 0 || (i > 0 && zlen == 0)) {
            return -1;
        }
        i += used;
        if (zlen > (unsigned)(dlen - d)) {
            return -1;
        }
        d += zlen;

        if (slen - i < 2) {
            return -1;
        }
        used = get_uleb(src + i, &nzlen);
        if (used < 0 || nzlen == 0) {
            return -1;
        }
        i += used;
        if (nzlen > (unsigned)(dlen - d) || nzlen > (unsigned)(slen - i)) {
            return -1;
        }
        if (apply) {
            memcpy(dst + d, src + i, nzlen);
        }
        d += nzlen;
        i += nzlen;
    }
    return d;
}

int xbzrle_decode_buffer(const uint8_t *src, int slen, uint8_t *dst, int dlen)
{
    if (slen < 0 || dlen < 0 || decode_walk(src, slen, dst, dlen, false) < 0) {
        return -1;
    }
    return decode_walk(src, slen, dst, dlen, true);
}
