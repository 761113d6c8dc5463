/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The guest's clock: the TSC, its rate measured against PIT channel 2 the
 * way Linux's pit_calibrate_tsc does (gate and output on port 0x61, mode 0
 * one-shot, poll the output bit).  Falls back to CPUID's TSC leaves, then
 * to a guess, when there is no PIT to measure against.
 */
#include "guest.h"

#define PIT_CH2         0x42
#define PIT_CMD         0x43
#define PIT_GATE_PORT   0x61
#define PIT_GATE        0x01
#define PIT_SPEAKER     0x02
#define PIT_OUT2        0x20
#define PIT_HZ          1193182ULL
#define CAL_MS          10ULL
#define CAL_LATCH       (PIT_HZ * CAL_MS / 1000)    /* 11931 ticks */
#define FALLBACK_HZ     2000000000ULL

static uint64_t tsc_hz;
static uint64_t tsc_base;
static uint64_t ns_mult;        /* ns = (tsc * ns_mult) >> 32 */

/* One CAL_MS measurement; 0 when the PIT does not behave. */
static uint64_t pit_measure(void)
{
    uint64_t t0, t1;
    unsigned loops = 0;
    uint8_t gate = inb(PIT_GATE_PORT);

    /* Gate high, speaker off; channel 2, lobyte/hibyte, mode 0, binary. */
    outb(PIT_GATE_PORT, (uint8_t)((gate & ~PIT_SPEAKER) | PIT_GATE));
    outb(PIT_CMD, 0xb0);
    outb(PIT_CH2, CAL_LATCH & 0xff);
    outb(PIT_CH2, CAL_LATCH >> 8);
    t0 = rdtsc();
    while (!(inb(PIT_GATE_PORT) & PIT_OUT2)) {
        loops++;
        /* ~3 s at 3 GHz: there is no counter behind these ports. */
        if (rdtsc() - t0 > (1ULL << 33)) {
            return 0;
        }
    }
    t1 = rdtsc();
    /* An output that is high at once (no PIT: the port reads 0xff). */
    if (loops == 0) {
        return 0;
    }
    return (t1 - t0) * 1000 / CAL_MS;
}

static uint64_t cpuid_tsc_hz(void)
{
    uint32_t max, a, b, c, d;

    cpuid(0, 0, &max, &b, &c, &d);
    if (max >= 0x15) {
        cpuid(0x15, 0, &a, &b, &c, &d);
        if (a && b && c) {
            return (uint64_t)c * b / a;
        }
    }
    if (max >= 0x16) {
        cpuid(0x16, 0, &a, &b, &c, &d);
        if (a) {
            return (uint64_t)a * 1000000;
        }
    }
    return 0;
}

void clock_init(void)
{
    uint64_t best = 0;

    /* The shortest of three: an exit or preemption only ever adds time. */
    for (int i = 0; i < 3; i++) {
        uint64_t hz = pit_measure();

        if (hz && (!best || hz < best)) {
            best = hz;
        }
    }
    if (best < 50000000ULL || best > 20000000000ULL) {
        best = cpuid_tsc_hz();
    }
    if (!best) {
        best = FALLBACK_HZ;
    }
    tsc_hz = best;
    ns_mult = (1000000000ULL << 32) / best;
    tsc_base = rdtsc();
}

uint64_t clock_ns(void)
{
    __extension__ typedef unsigned __int128 u128;

    return (uint64_t)(((u128)(rdtsc() - tsc_base) * ns_mult) >> 32);
}

uint64_t clock_tsc_hz(void)
{
    return tsc_hz;
}
