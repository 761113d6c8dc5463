/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/xbzrle*.c: the run emitter every SIMD encoder
 * shares.  A variant only supplies a function that compares 64 bytes and
 * returns a "differs" bit per byte (storing the new bytes into the old
 * buffer in update mode); the inline driver below turns those masks into
 * runs, so every variant emits the same bytes with the same overflow rule.
 *
 * The driver is always_inline so that each variant file compiles it with
 * its own target flags and the mask function is inlined into the loop.
 */
#ifndef KVMIG_MIGRATION_XBZRLE_INT_H
#define KVMIG_MIGRATION_XBZRLE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "migration/xbzrle.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the XBZRLE mask code assumes a little-endian host"
#endif

#define XBZRLE_INLINE static inline __attribute__((always_inline))

/*
 * Make the compiler treat @v as an opaque register value: it can then
 * neither re-load it from memory (a second read of a guest page that may
 * have changed) nor split the load.  Costs no instruction.
 */
#define XBZRLE_OPAQUE_GPR(v)    __asm__("" : "+r"(v))
#define XBZRLE_OPAQUE_VEC(v)    __asm__("" : "+x"(v))

/* Compare 64 bytes; bit i set when old[i] != new[i].  Update mode: store new. */
typedef uint64_t (*XbzrleMask64Fn)(uint8_t *old_buf, const uint8_t *new_buf, bool update);

XBZRLE_INLINE int xbzrle_uleb_len(unsigned v)
{
    return v < 0x80 ? 1 : 2;
}

XBZRLE_INLINE int xbzrle_put_uleb(uint8_t *p, unsigned v)
{
    if (v < 0x80) {
        p[0] = v;
        return 1;
    }
    p[0] = (v & 0x7f) | 0x80;
    p[1] = v >> 7;
    return 2;
}

typedef struct XbzrleRuns {
    uint8_t *dst;
    int d;                      /* bytes written to dst */
    int dlen;
    const uint8_t *bytes;       /* where nzrun data is copied from */
    int start;                  /* where the current run began */
    bool in_zero;               /* the current run is of equal bytes */
} XbzrleRuns;

/*
 * The zrun that began at r->start ends at @end.  A zrun is always followed
 * by an nzrun of at least 2 bytes (length + data), so the overflow test is
 * exact: false only when the whole encoding cannot fit.
 */
XBZRLE_INLINE bool xbzrle_end_zrun(XbzrleRuns *r, int end)
{
    unsigned len = end - r->start;

    if (r->d + xbzrle_uleb_len(len) + 2 > r->dlen) {
        return false;
    }
    r->d += xbzrle_put_uleb(r->dst + r->d, len);
    r->start = end;
    r->in_zero = false;
    return true;
}

XBZRLE_INLINE bool xbzrle_end_nzrun(XbzrleRuns *r, int end)
{
    unsigned len = end - r->start;

    if (r->d + xbzrle_uleb_len(len) + (int)len > r->dlen) {
        return false;
    }
    r->d += xbzrle_put_uleb(r->dst + r->d, len);
    memcpy(r->dst + r->d, r->bytes + r->start, len);
    r->d += len;
    r->start = end;
    r->in_zero = true;
    return true;
}

/* Feed the "differs" mask of @n (1..64) bytes at @base; bits >= @n are 0. */
XBZRLE_INLINE bool xbzrle_feed(XbzrleRuns *r, int base, uint64_t diff, int n)
{
    uint64_t same = ~diff & (n == 64 ? ~0ULL : (1ULL << n) - 1);
    int pos = 0;

    /* pos stays below n after every transition, so the shifts are < 64 */
    if (!r->in_zero) {
        goto in_nzrun;
    }
    for (;;) {
        uint64_t rest = diff >> pos;

        if (!rest) {
            return true;
        }
        pos += __builtin_ctzll(rest);
        if (!xbzrle_end_zrun(r, base + pos)) {
            return false;
        }
in_nzrun:
        rest = same >> pos;
        if (!rest) {
            return true;
        }
        pos += __builtin_ctzll(rest);
        if (!xbzrle_end_nzrun(r, base + pos)) {
            return false;
        }
    }
}

/*
 * The encoder: 64-byte blocks through @mask64, the tail (slen % 64) byte
 * by byte.  In update mode every byte of @new_buf is read once and stored
 * into @old_buf, and nzrun data is copied from @old_buf (that snapshot);
 * on overflow the rest of the page is copied so @old_buf is whole.
 */
XBZRLE_INLINE int xbzrle_encode_blocks(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                                       uint8_t *dst, int dlen, bool update,
                                       XbzrleMask64Fn mask64)
{
    XbzrleRuns r = {
        .dst = dst, .dlen = dlen, .bytes = update ? old_buf : new_buf, .in_zero = true,
    };
    int b = 0;

    if (slen < 0 || slen > XBZRLE_MAX_PAGE) {
        return -1;
    }
    for (; b + 64 <= slen; b += 64) {
        uint64_t diff = mask64(old_buf + b, new_buf + b, update);

        if (diff == 0 && r.in_zero) {
            continue;
        }
        if (!xbzrle_feed(&r, b, diff, 64) ||
            /* an nzrun still open costs at least 1 + its length so far */
            (!r.in_zero && r.d + 1 + (b + 64 - r.start) > dlen)) {
            b += 64;
            goto overflow;
        }
    }
    if (b < slen) {
        int n = slen - b;
        uint64_t diff = 0;

        for (int i = 0; i < n; i++) {
            uint8_t v = new_buf[b + i];

            if (update) {
                XBZRLE_OPAQUE_GPR(v);
                if (v != old_buf[b + i]) {
                    diff |= 1ULL << i;
                }
                old_buf[b + i] = v;
            } else if (v != old_buf[b + i]) {
                diff |= 1ULL << i;
            }
        }
        b = slen;
        if (!xbzrle_feed(&r, slen - n, diff, n)) {
            goto overflow;
        }
    }
    if (!r.in_zero && !xbzrle_end_nzrun(&r, slen)) {
        goto overflow;
    }
    return r.d;

overflow:
    if (update && b < slen) {
        memcpy(old_buf + b, new_buf + b, slen - b);
    }
    return -1;
}

/* The variants in the only files built with -mavx2 / -mavx512*. */
int xbzrle_encode_avx2(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen);
int xbzrle_update_avx2(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen);
int xbzrle_encode_avx512bw(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                           uint8_t *dst, int dlen);
int xbzrle_update_avx512bw(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                           uint8_t *dst, int dlen);

#endif
