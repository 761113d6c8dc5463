/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to the guest ELF (its C files and boot.S): its limits, port I/O and
 * the small services main.c builds the WlEnv from.
 */
#ifndef KVMIG_GUEST_H
#define KVMIG_GUEST_H

/* RAM the boot page tables can map: enough directories for 128 GiB. */
#define GUEST_MAX_GIB       128
#define GUEST_STACK_SIZE    65536

#ifndef __ASSEMBLER__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Built by boot.S. */
extern uint64_t boot_pml4[512];
extern uint64_t boot_pdpt[512];
extern uint64_t boot_pd[GUEST_MAX_GIB][512];

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a,
                         uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid"
                     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
                     : "a"(leaf), "c"(sub));
}

/* Stop this CPU for good (interrupts stay disabled). */
static inline __attribute__((noreturn)) void cpu_halt_forever(void)
{
    for (;;) {
        __asm__ volatile("cli; hlt" ::: "memory");
    }
}

/* serial.c: the 16550 UART at 0x3f8, polled. */
void serial_init(void);
void serial_write(const char *buf, size_t len);

/* clock.c: TSC calibrated against PIT channel 2. */
void clock_init(void);
uint64_t clock_ns(void);
uint64_t clock_tsc_hz(void);

#endif /* __ASSEMBLER__ */
#endif
