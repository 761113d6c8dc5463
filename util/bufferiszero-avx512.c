/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The AVX-512 zero-buffer check; the only file built with -mavx512f. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "util/bufferiszero.h"

bool buffer_is_zero_avx512(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i = 0;

    if (len < 256) {
        return buffer_is_zero_avx2(buf, len);
    }
    /* 256 bytes (four ZMM loads) per iteration, one test. */
    for (; i + 256 <= len; i += 256) {
        __m512i v = _mm512_or_si512(
            _mm512_or_si512(_mm512_loadu_si512(p + i), _mm512_loadu_si512(p + i + 64)),
            _mm512_or_si512(_mm512_loadu_si512(p + i + 128), _mm512_loadu_si512(p + i + 192)));
        if (_mm512_test_epi64_mask(v, v)) {
            return false;
        }
    }
    if (i < len) {
        const unsigned char *t = p + len - 256;
        __m512i v = _mm512_or_si512(
            _mm512_or_si512(_mm512_loadu_si512(t), _mm512_loadu_si512(t + 64)),
            _mm512_or_si512(_mm512_loadu_si512(t + 128), _mm512_loadu_si512(t + 192)));
        return !_mm512_test_epi64_mask(v, v);
    }
    return true;
}
