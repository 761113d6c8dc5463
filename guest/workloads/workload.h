/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's workloads, written once in freestanding C and compiled
 * twice: into the Multiboot guest ELF (guest/) and into kvmig itself for the
 * `thread` accelerator (accel/thread.c).
 *
 * Contract shared by both builds:
 *  - A workload keeps *all* of its progress in a WlState that lives in guest
 *    RAM (the guest: its .bss; the thread accelerator: a fixed guest-physical
 *    page per vCPU below 4 MiB).  Migrating guest RAM therefore migrates the
 *    workload, whichever accelerator runs it.
 *  - wl_run() may return whenever env->poll() returns false (the thread
 *    accelerator's "kick": pause, migration, shutdown).  At every poll point
 *    the WlState is consistent, so calling wl_run() again later resumes
 *    exactly where it stopped.  In the guest, poll() always returns true and
 *    wl_run() never returns.
 *  - Workloads only touch RAM from WL_RAM_START up, inside env->regions.
 *  - Only <stdint.h>, <stdbool.h>, <stddef.h>: no libc.
 */
#ifndef KVMIG_WORKLOAD_H
#define KVMIG_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WL_PAGE_SIZE      4096ULL
#define WL_RAM_START      (4ULL << 20)     /* workloads use RAM from 4 MiB up */
#define WL_MAX_REGIONS    8
#define WL_MAX_CPUS       64
#define WL_CMDLINE_MAX    512
/*
 * Guest-physical home of the thread accelerator's per-vCPU WlState pages:
 * [WL_STATE_GPA + i * WL_STATE_SIZE, ...).  Below 4 MiB, in the part of RAM
 * that belongs to "the guest's own code and data".
 */
#define WL_STATE_GPA      (3ULL << 20)
#define WL_STATE_SIZE     4096ULL

#define WL_STATE_MAGIC    0x4b564d4957534c31ULL /* "KVMIWSL1" */

/*
 * Guest-physical home of the thread accelerator's device-driver memory
 * (WlEnv.drv_gpa): the virtio-balloon driver's state and rings.  Below
 * 4 MiB, after the per-vCPU WlState pages.
 */
#define WL_DRV_GPA        (3ULL << 20 | 512ULL << 10)
#define WL_DRV_SIZE       (64ULL << 10)

typedef struct WlRegion {
    uint64_t gpa;       /* guest-physical start, page aligned */
    uint64_t size;      /* bytes, page multiple */
} WlRegion;

/* Which workload; the numbers are part of the thread accelerator's state. */
typedef enum WlKind {
    WL_IDLE = 0,
    WL_PAGEWALK,
    WL_FILL,
    WL_RANDOM,
    WL_L2FWD,
    WL_STRESS,
    WL_CHURN,
    WL__MAX,
} WlKind;

/* Parsed `key=value` guest command line (see wl_parse_cmdline). */
typedef struct WlConfig {
    WlKind kind;
    uint64_t size;      /* fill size=, churn size= (bytes; 0 = default) */
    uint32_t ratio;     /* fill ratio= (default 3) */
    uint64_t rate;      /* random rate= in MB/s (0 = unlimited) */
    uint64_t mb;        /* stress mb= (0 = all of RAM) */
} WlConfig;

/*
 * Per-vCPU workload progress.  Lives in guest RAM; at most WL_STATE_SIZE
 * bytes.  magic == 0 means "not started yet".
 */
typedef struct WlState {
    uint64_t magic;
    uint32_t kind;
    uint32_t phase;         /* workload-specific step */
    uint64_t pos;           /* next byte/page to touch */
    uint64_t pass;          /* completed passes */
    uint64_t rng;           /* xorshift state */
    uint64_t counter;       /* bytes written toward the next report */
    uint64_t t_mark;        /* env->now_ns() at the last report */
    uint64_t aux[32];       /* workload-specific (allocator, checksums...) */
} WlState;

typedef struct WlEnv WlEnv;
struct WlEnv {
    /* Host pointer to guest-physical address 0 (guest: 0; thread: HVA). */
    uint8_t *mem;
    WlRegion regions[WL_MAX_REGIONS];   /* usable RAM >= WL_RAM_START, ascending */
    int nr_regions;
    int cpu_index;
    int nr_cpus;
    WlState *state;                      /* this vCPU's state, in guest RAM */
    WlConfig cfg;

    /* Write bytes to the serial port; a whole call is never interleaved. */
    void (*write)(WlEnv *env, const char *buf, size_t len);
    /* Monotonic nanoseconds. */
    uint64_t (*now_ns)(WlEnv *env);
    /*
     * Pause/throttle point.  Returns false when wl_run() must return now
     * (state already consistent).  Called at least every 64 KiB of writes.
     */
    bool (*poll)(WlEnv *env);
    /*
     * Wait until now_ns() >= deadline_ns (0: forever) or until the vCPU is
     * kicked.  Returns false when wl_run() must return.  With 0 the thread
     * accelerator returns false at once: waiting for a kick is a halt,
     * which its generic vCPU loop does (wl_run is called again on a kick).
     */
    bool (*sleep_until)(WlEnv *env, uint64_t deadline_ns);
    void *opaque;

    /*
     * Device access for the drivers (guest/workloads/balloon.c).  Both
     * hooks NULL: no devices.  32-bit MMIO at a guest-physical address
     * (guest: a volatile access; thread accelerator: machine_mmio()).
     */
    uint32_t (*mmio_read32)(WlEnv *env, uint64_t gpa);
    void (*mmio_write32)(WlEnv *env, uint64_t gpa, uint32_t value);
    /*
     * The guest-physical address a device must be given for @addr, an
     * address of this environment (NULL: the same; the thread
     * accelerator's pc.ram offsets from 3 GiB up sit 1 GiB higher).
     */
    uint64_t (*dma_addr)(WlEnv *env, uint64_t addr);
    /* WL_DRV_SIZE bytes below 4 MiB, page aligned, owned by the drivers (0: none). */
    uint64_t drv_gpa;
};

/* Parse "workload=NAME key=value ..." into cfg.  Returns false (and an
 * explanation in err, NUL terminated) on an unknown workload or a malformed
 * value.  Unknown keys are ignored, as a kernel ignores them. */
bool wl_parse_cmdline(const char *cmdline, WlConfig *cfg, char *err, size_t errlen);

/* Parse "512M"-style sizes (K/M/G/T, no suffix = bytes). */
bool wl_parse_size(const char *s, size_t len, uint64_t *out);

/* Name of a workload kind ("pagewalk"), or NULL. */
const char *wl_kind_name(WlKind kind);

/* Run (or resume) the workload of env->cfg on this vCPU.  See above. */
void wl_run(WlEnv *env);

#endif
