/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Zero-buffer detection: the scalar and SSE2 variants and the dispatch
 * table.  The AVX2 and AVX-512 variants live in bufferiszero-avx2.c and
 * bufferiszero-avx512.c, the only files compiled with -mavx2 / -mavx512f, so
 * nothing here can use those instructions on a CPU without them.
 */
#include <emmintrin.h>
#include <stdint.h>
#include <string.h>

#include "util/bufferiszero.h"
#include "util/cpuinfo.h"

static bool buffer_is_zero_scalar(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t acc = 0;
    size_t i = 0;

    /* Unaligned 8-byte loads through memcpy are one instruction each. */
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, sizeof(w));
        if (w[0] | w[1] | w[2] | w[3]) {
            return false;
        }
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < len; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

static bool buffer_is_zero_sse2(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    const __m128i zero = _mm_setzero_si128();
    size_t i = 0;

    if (len < 64) {
        return buffer_is_zero_scalar(buf, len);
    }
    /* 64 bytes per iteration: OR four vectors, test once. */
    for (; i + 64 <= len; i += 64) {
        __m128i v = _mm_or_si128(
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i)),
                         _mm_loadu_si128((const __m128i *)(p + i + 16))),
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i + 32)),
                         _mm_loadu_si128((const __m128i *)(p + i + 48))));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) != 0xffff) {
            return false;
        }
    }
    if (i < len) {
        /* The tail: re-read the last 64 bytes (overlap is harmless). */
        const unsigned char *t = p + len - 64;
        __m128i v = _mm_or_si128(
            _mm_or_si128(_mm_loadu_si128((const __m128i *)t),
                         _mm_loadu_si128((const __m128i *)(t + 16))),
            _mm_or_si128(_mm_loadu_si128((const __m128i *)(t + 32)),
                         _mm_loadu_si128((const __m128i *)(t + 48))));
        return _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) == 0xffff;
    }
    return true;
}

static const BufferIsZeroImpl impls[] = {
    { "scalar", buffer_is_zero_scalar, cpuinfo_always },
    { "sse2", buffer_is_zero_sse2, cpuinfo_has_sse2 },
    { "avx2", buffer_is_zero_avx2, cpuinfo_has_avx2 },
    { "avx512", buffer_is_zero_avx512, cpuinfo_has_avx512f },
};

/* Written once by init/select, then read by every caller. */
static BufferIsZeroFn current_fn = buffer_is_zero_scalar;
static const char *current_name = "scalar";

const BufferIsZeroImpl *buffer_is_zero_impls(size_t *n)
{
    *n = sizeof(impls) / sizeof(impls[0]);
    return impls;
}

bool buffer_is_zero_select(const char *name)
{
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        if (!strcmp(impls[i].name, name) && impls[i].supported()) {
            current_fn = impls[i].fn;
            current_name = impls[i].name;
            return true;
        }
    }
    return false;
}

void buffer_is_zero_init(void)
{
    for (size_t i = sizeof(impls) / sizeof(impls[0]); i-- > 0;) {
        if (impls[i].supported()) {
            current_fn = impls[i].fn;
            current_name = impls[i].name;
            return;
        }
    }
}

const char *buffer_is_zero_current(void)
{
    return current_name;
}

bool buffer_is_zero(const void *buf, size_t len)
{
    return current_fn(buf, len);
}
