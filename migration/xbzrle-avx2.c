/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The AVX2 XBZRLE encoder (two 32-byte compares per 64-byte block); built with -mavx2. */
#include <immintrin.h>

#include "migration/xbzrle-int.h"

XBZRLE_INLINE uint64_t mask64_avx2(uint8_t *old_buf, const uint8_t *new_buf, bool update)
{
    __m256i n0 = _mm256_loadu_si256((const __m256i *)new_buf);
    __m256i n1 = _mm256_loadu_si256((const __m256i *)(new_buf + 32));
    __m256i o0 = _mm256_loadu_si256((const __m256i *)old_buf);
    __m256i o1 = _mm256_loadu_si256((const __m256i *)(old_buf + 32));
    uint32_t eq0, eq1;

    if (update) {
        XBZRLE_OPAQUE_VEC(n0);
        XBZRLE_OPAQUE_VEC(n1);
        _mm256_storeu_si256((__m256i *)old_buf, n0);
        _mm256_storeu_si256((__m256i *)(old_buf + 32), n1);
    }
    eq0 = _mm256_movemask_epi8(_mm256_cmpeq_epi8(o0, n0));
    eq1 = _mm256_movemask_epi8(_mm256_cmpeq_epi8(o1, n1));
    return ~((uint64_t)eq1 << 32 | eq0);
}

int xbzrle_encode_avx2(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks((uint8_t *)old_buf, new_buf, slen, dst, dlen, false,
                                mask64_avx2);
}

int xbzrle_update_avx2(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                       uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks(old_buf, new_buf, slen, dst, dlen, true, mask64_avx2);
}
