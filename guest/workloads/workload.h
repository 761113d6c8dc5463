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
 *  - Every write to guest RAM is followed, before the next env->poll() or
 *    env->sleep_until() and before wl_run() returns, by wl_dirty() (or
 *    wl_dirty_lin()) on the bytes written: the thread accelerator's
 *    software dirty log (-accel thread,dirty=soft) sees nothing else.  The
 *    guest ELF build compiles the hook to nothing (KVM logs in hardware).
 *    Exception: the WlState page (env->state) is marked by the accelerator
 *    at every poll and sleep and when wl_run() returns.
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
    WL_BLACKOUT,
    WL__MAX,
} WlKind;

/* Parsed `key=value` guest command line (see wl_parse_cmdline). */
typedef struct WlConfig {
    WlKind kind;
    uint64_t size;      /* fill size=, churn size= (bytes; 0 = default) */
    uint32_t ratio;     /* fill ratio= (default 3) */
    uint64_t rate;      /* random rate= in MB/s (0 = unlimited) */
    uint64_t mb;        /* stress mb= (0 = all of RAM) */
    /*
     * vcpu1= : what vCPU 1 runs instead (e.g. "workload=stress vcpu1=blackout"
     * measures the pause beside a busy vCPU 0); WL__MAX: as without it.
     */
    WlKind vcpu1;
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
    /*
     * Software dirty log: one bit per page of env->mem (bit gpa / 4 KiB),
     * set by wl_dirty() and collected by the accelerator with an atomic
     * exchange per word.  NULL: not logging (guest ELF, unit tests, the
     * thread accelerator's dirty=uffd).  Constant while wl_run() runs.
     */
    uint64_t *dirty;
};

/*
 * The soft dirty log hook.  WL_GUEST_BUILD (the freestanding guest ELF)
 * makes it nothing.  Otherwise, after writing [gpa, gpa + len):
 *
 *   full fence; for each page: if its bit is clear, atomic OR it in.
 *
 * Why this order, against the collector's "exchange the word with 0, then
 * read the pages": a mark before the write could be collected (and the
 * page read) before the write lands, losing it.  Testing the bit before
 * setting it keeps the word's cache line shared while it is already set,
 * but a plain store followed by a load may be reordered (a store buffer):
 * the fence makes it the store-buffering pattern with fences on both sides
 * (the exchange is one), so either the test sees the collector's 0 and
 * sets the bit again, or the collector's read of the page sees the write.
 * One fence per call: workloads mark whole chunks at once where they can.
 */
#ifdef WL_GUEST_BUILD
#define WL_DIRTY_LOG 0
#else
#define WL_DIRTY_LOG 1
#endif

static inline void wl_dirty_log_pages(uint64_t *log, uint64_t first, uint64_t last)
{
    for (uint64_t pfn = first; pfn <= last; pfn++) {
        uint64_t *w = &log[pfn / 64];
        uint64_t bit = 1ULL << (pfn % 64);

        if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit)) {
            __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
        }
    }
}

/* Mark [gpa, gpa + len) of @log (an env->dirty) written. */
static inline void wl_dirty_log(uint64_t *log, uint64_t gpa, uint64_t len)
{
    if (WL_DIRTY_LOG && log && len) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        wl_dirty_log_pages(log, gpa / WL_PAGE_SIZE, (gpa + len - 1) / WL_PAGE_SIZE);
    }
}

static inline void wl_dirty(WlEnv *env, uint64_t gpa, uint64_t len)
{
    wl_dirty_log(env->dirty, gpa, len);
}

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
