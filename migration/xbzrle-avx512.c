/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AVX-512BW XBZRLE encoder: one 64-byte compare straight into a mask
 * register per block.  Built with the AVX-512 files; the BW instructions
 * are enabled per function, so nothing else in that library can use them.
 */
#include <immintrin.h>

#include "migration/xbzrle-int.h"

#define AVX512BW __attribute__((target("avx512f,avx512bw")))

/* zmm registers need the "v" constraint ("x" is xmm0-15 only). */
#define OPAQUE_ZMM(v) __asm__("" : "+v"(v))

AVX512BW XBZRLE_INLINE uint64_t mask64_avx512bw(uint8_t *old_buf, const uint8_t *new_buf,
                                                bool update)
{
    __m512i n = _mm512_loadu_si512((const void *)new_buf);
    __m512i o = _mm512_loadu_si512((const void *)old_buf);

    if (update) {
        OPAQUE_ZMM(n);
        _mm512_storeu_si512((void *)old_buf, n);
    }
    return _mm512_cmpneq_epi8_mask(o, n);
}

AVX512BW int xbzrle_encode_avx512bw(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                                    uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks((uint8_t *)old_buf, new_buf, slen, dst, dlen, false,
                                mask64_avx512bw);
}

AVX512BW int xbzrle_update_avx512bw(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                                    uint8_t *dst, int dlen)
{
    return xbzrle_encode_blocks(old_buf, new_buf, slen, dst, dlen, true, mask64_avx512bw);
}
