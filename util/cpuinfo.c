/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CPUID + XGETBV probe, done once. */
#include <cpuid.h>
#include <stdint.h>

#include "util/cpuinfo.h"

static unsigned cpuinfo_probe(void)
{
    unsigned a, b, c, d, info = 0;
    uint64_t xcr0 = 0;

    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    if (d & bit_SSE2) {
        info |= CPUINFO_SSE2;
    }
    if (c & bit_OSXSAVE) {
        uint32_t lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((uint64_t)hi << 32) | lo;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        /* AVX2 needs the OS to save YMM state (XCR0 bits 1 and 2). */
        if ((b & bit_AVX2) && (xcr0 & 6) == 6) {
            info |= CPUINFO_AVX2;
        }
        /* AVX-512 also needs opmask and ZMM state (XCR0 bits 5..7). */
        if ((b & bit_AVX512F) && (xcr0 & 0xe6) == 0xe6) {
            info |= CPUINFO_AVX512F;
            if (b & bit_AVX512BW) {
                info |= CPUINFO_AVX512BW;
            }
        }
    }
    return info;
}

unsigned cpuinfo_get(void)
{
    static unsigned info;
    static int done;

    if (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        info = cpuinfo_probe();
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
    return info;
}

bool cpuinfo_always(void)
{
    return true;
}

bool cpuinfo_has_sse2(void)
{
    return cpuinfo_get() & CPUINFO_SSE2;
}

bool cpuinfo_has_avx2(void)
{
    return cpuinfo_get() & CPUINFO_AVX2;
}

bool cpuinfo_has_avx512f(void)
{
    return cpuinfo_get() & CPUINFO_AVX512F;
}

bool cpuinfo_has_avx512bw(void)
{
    return cpuinfo_get() & CPUINFO_AVX512BW;
}
