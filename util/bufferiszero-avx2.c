/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The AVX2 zero-buffer check; the only file built with -mavx2. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "util/bufferiszero.h"

static inline bool block128_is_zero(const unsigned char *p)
{
    __m256i v = _mm256_or_si256(
        _mm256_or_si256(_mm256_loadu_si256((const __m256i *)p),
                        _mm256_loadu_si256((const __m256i *)(p + 32))),
        _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(p + 64)),
                        _mm256_loadu_si256((const __m256i *)(p + 96))));
    return _mm256_testz_si256(v, v);
}

bool buffer_is_zero_avx2(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t i = 0;

    if (len < 128) {
        uint64_t acc = 0;
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
    /* 128 bytes per iteration; the first cache line usually decides. */
    for (; i + 128 <= len; i += 128) {
        if (!block128_is_zero(p + i)) {
            return false;
        }
    }
    return i == len || block128_is_zero(p + len - 128);
}
