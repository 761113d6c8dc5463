/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One CPUID probe for the SIMD features kvmig uses. */
#ifndef KVMIG_UTIL_CPUINFO_H
#define KVMIG_UTIL_CPUINFO_H

#include <stdbool.h>

#define CPUINFO_SSE2    (1u << 0)
#define CPUINFO_AVX2    (1u << 1)
#define CPUINFO_AVX512F (1u << 2)
#define CPUINFO_AVX512BW (1u << 3)    /* byte/word ops (implies AVX512F here) */

/* Bits above, probed once (OS support of the register state included). */
unsigned cpuinfo_get(void);

/*
 * Predicates for implementation tables (bufferiszero, xbzrle): each says
 * whether one feature is usable; cpuinfo_always is for the portable entry.
 */
bool cpuinfo_always(void);
bool cpuinfo_has_sse2(void);
bool cpuinfo_has_avx2(void);
bool cpuinfo_has_avx512f(void);
bool cpuinfo_has_avx512bw(void);

#endif
