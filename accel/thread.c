/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The `thread` accelerator: each vCPU is a host thread that runs the test
 * guest's workloads (guest/workloads/) as native code on the guest RAM
 * mapping, at full memory speed, for large guests and high dirty rates.
 *
 * Address space: the workloads see guest RAM as one region of "pc.ram"
 * offsets [WL_RAM_START, ram_size) with env->mem = the block's host
 * mapping.  Offsets below 3 GiB equal guest-physical addresses; above, the
 * order of pages is the same as in guest-physical space, so page-order
 * invariants hold for pmemsave dumps too.
 *
 * Dirty log: userfaultfd write-protection in asynchronous mode (the kernel
 * resolves the fault itself and marks the PTE written) read and re-armed
 * atomically with the PAGEMAP_SCAN ioctl (Linux 6.7+).  Only populated
 * pages are ever write-protected: a hole (never-written memory) stays a
 * hole, and a write that fills one creates a PTE without the protection,
 * which the next scan reports as written.  So starting, syncing and
 * stopping cost nothing for memory the guest never touched, where
 * protecting every PTE of an idle 8 GiB guest costs ~35 ms to start, ~10 ms
 * per sync (inside the downtime) and ~17 ms to stop.
 *
 * Huge pages (guest RAM is advised MADV_HUGEPAGE, system/memory.c): log
 * start protects a huge page as a whole and leaves it huge, so the bulk
 * pass reads it through a 2 MiB mapping; the first write into it makes
 * the kernel split it and mark that 4 KiB page alone.  A write into a hole
 * may fill a whole huge page, which the next sync reports in full (511 of
 * its pages zero, cheap to send) and protects; after that its pages are
 * logged one by one too (tests/unit/test-dirty-log.c, thread-huge).
 *
 * Or (-accel thread,dirty=soft, and where the kernel lacks the above) a
 * software dirty log: the workloads mark every page they write in a
 * per-block bitmap (WlEnv.dirty, wl_dirty() in workload.h; one relaxed
 * atomic OR per page whose bit is clear) and a sync takes it a word at a
 * time with an atomic exchange.  No fault per first write of a page after
 * each sync (~70 us on a nested VM, which caps a uffd-logged guest at
 * ~10K pages/s while a migration runs): the guest keeps its memory speed.
 * The accelerator marks the WlState pages itself (at every poll, before
 * every sleep and when wl_run() returns).  The bitmap covers pc.ram only:
 * the workloads write nothing else, and kvmig's own writes are in
 * dev_dirty.  Marks go on while logging is off (cheap: the bits stay set);
 * log_start drops them.  If uffd logging fails to start in spite of the
 * probe at init, every page counts as dirty at every sync (correct, never
 * converges for busy guests); a line on stderr says so.
 *
 * Locking: ThreadVcpu.lock/cond only implement sleep_until's wake-up on a
 * kick; the workload state itself lives in guest RAM and is touched only by
 * its vCPU thread while the machine runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "accel/accel.h"
#include "accel/accel-migration.h"
#include "accel/thread.h"
#include "hw/char/serial.h"
#include "system/cpu-throttle.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "workload.h"
#include "balloon.h"

/* Debian 12's headers predate these (Linux 6.4 / 6.7). */
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

#ifndef PAGEMAP_SCAN
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

#define SCAN_VEC_LEN 1024

typedef struct ThreadVcpu {
    WlEnv env;
    Vcpu *cpu;
    GMutex lock;
    GCond cond;
} ThreadVcpu;

typedef enum ThreadDirtyMode {
    THREAD_DIRTY_UFFD,
    THREAD_DIRTY_SOFT,
} ThreadDirtyMode;

typedef struct ThreadAccel {
    WlConfig cfg;               /* set at init / by set_cmdline, vCPUs stopped */
    char *cmdline;
    ThreadDirtyMode mode;       /* chosen at init */
    /* soft log: 1 bit per page of ram_blocks[0], marked by the vCPUs */
    uint64_t *soft;
    uint64_t soft_words;
    /* dirty log: owned by the migration thread */
    int uffd;                   /* -1 when logging is off */
    int pagemap_fd;
    bool fallback;              /* no uffd-wp-async: everything is dirty */
    bool warned;
    struct page_region *vec;
    /* set by init when m->migration exists (its section's opaque), freed by destroy */
    ThreadMigration *mig;
} ThreadAccel;

static ThreadAccel *ta_of(Machine *m)
{
    return m->accel_state;
}

static bool thread_parse_cmdline(const char *cmdline, WlConfig *cfg, GError **errp)
{
    char err[160] = "";

    if (strlen(cmdline) >= WL_CMDLINE_MAX) {
        kvmig_error(errp, "guest command line is longer than %d bytes", WL_CMDLINE_MAX - 1);
        return false;
    }
    if (!wl_parse_cmdline(cmdline, cfg, err, sizeof(err))) {
        kvmig_error(errp, "-append '%s': %s", cmdline, err);
        return false;
    }
    return true;
}

static bool uffd_wp_start(ThreadAccel *ta, Machine *m, GError **errp);
static void thread_log_stop(Machine *m);
static void thread_destroy(Machine *m);

static bool thread_init(Machine *m, GError **errp)
{
    ThreadAccel *ta = g_new0(ThreadAccel, 1);
    g_autoptr(GError) err = NULL;

    if (!thread_parse_cmdline(m->append, &ta->cfg, errp)) {
        g_free(ta);
        return false;
    }
    if (m->ram_size < WL_RAM_START + WL_PAGE_SIZE ||
        (uint64_t)m->smp * WL_STATE_SIZE > WL_RAM_START - WL_STATE_GPA) {
        kvmig_error(errp, "the thread accelerator needs more than 4 MiB of RAM");
        g_free(ta);
        return false;
    }
    ta->cmdline = g_strdup(m->append);
    ta->uffd = -1;
    ta->pagemap_fd = -1;
    m->accel_state = ta;
    ta->mode = m->accel_dirty && !strcmp(m->accel_dirty, "soft") ? THREAD_DIRTY_SOFT
                                                                  : THREAD_DIRTY_UFFD;
    /*
     * Probe the kernel's tracking now, while RAM is untouched (so it costs
     * nothing): the vCPUs must know from their start whether to mark.
     */
    if (ta->mode == THREAD_DIRTY_UFFD) {
        if (uffd_wp_start(ta, m, &err)) {
            thread_log_stop(m);
        } else {
            g_printerr("kvmig: thread accelerator: no kernel dirty tracking (%s); "
                       "using the software dirty log (dirty=soft)\n", err->message);
            ta->mode = THREAD_DIRTY_SOFT;
        }
    }
    if (ta->mode == THREAD_DIRTY_SOFT) {
        ta->soft_words = (m->ram_blocks[0]->npages + 63) / 64;
        ta->soft = g_new0(uint64_t, ta->soft_words);
    }
    if (m->migration) {
        ta->mig = thread_migration_register(m, errp);
        if (!ta->mig) {
            thread_destroy(m);
            return false;
        }
    }
    return true;
}

/* The WlState page of @env's vCPU: written between polls, marked here. */
static inline void env_dirty_state(WlEnv *env)
{
    wl_dirty(env, (uint64_t)((uint8_t *)env->state - env->mem), sizeof(WlState));
}

static bool thread_map_ram(Machine *m, MemMapping *map, GError **errp)
{
    return true;    /* the workloads use the block's host mapping directly */
}

static bool thread_load_guest(Machine *m, GError **errp)
{
    /* Nothing to load: the workloads are native code; their state starts
     * zeroed (magic 0) in fresh RAM. */
    return true;
}

/* ---- the workload environment ---- */

static void env_write(WlEnv *env, const char *buf, size_t len)
{
    ThreadVcpu *tv = env->opaque;

    serial_write_bytes(tv->cpu->machine->serial, buf, len);
}

static uint64_t env_now_ns(WlEnv *env)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static bool env_sleep_until(WlEnv *env, uint64_t deadline_ns);

/*
 * The workloads' yield point, at least every 64 KiB written.  Unthrottled
 * it costs the load of throttle_pct; throttled (auto-converge) it sleeps
 * once the running share of the slice is used (system/cpu-throttle.h); a
 * kick ends the sleep.
 */
static bool env_poll(WlEnv *env)
{
    ThreadVcpu *tv = env->opaque;
    int pct = __atomic_load_n(&tv->cpu->throttle_pct, __ATOMIC_RELAXED);

    env_dirty_state(env);
    /*
     * Serve the balloon as the guest ELF does from its own poll: a resize
     * the driver could not finish (churn's heap not set up yet, say) is
     * retried, and hint requests are answered, while a workload runs and
     * no kick re-enters wl_run.
     */
    wl_balloon_poll_timed(env);
    if (G_UNLIKELY(pct)) {
        uint64_t until = cpu_throttle_due(tv->cpu, cpu_throttle_now_ns());

        if (until && !env_sleep_until(env, until)) {
            return false;
        }
    }
    return !__atomic_load_n(&tv->cpu->exit_request, __ATOMIC_ACQUIRE);
}

static bool env_sleep_until(WlEnv *env, uint64_t deadline_ns)
{
    ThreadVcpu *tv = env->opaque;
    bool ok;

    env_dirty_state(env);
    /*
     * Forever: halt in the generic loop (system/cpus.c) instead, where a
     * vm_stop finds the vCPU halted and need not wake it and wait for it:
     * that wake-up was most of an idle guest's vcpu-stop phase.
     */
    if (!deadline_ns) {
        return false;
    }
    g_mutex_lock(&tv->lock);
    for (;;) {
        uint64_t now = env_now_ns(env);
        gint64 end;

        ok = !__atomic_load_n(&tv->cpu->exit_request, __ATOMIC_ACQUIRE);
        if (!ok || (deadline_ns && now >= deadline_ns)) {
            break;
        }
        end = deadline_ns ? g_get_monotonic_time() + (gint64)((deadline_ns - now) / 1000) + 1
                          : g_get_monotonic_time() + G_TIME_SPAN_HOUR;
        g_cond_wait_until(&tv->cond, &tv->lock, end);
    }
    g_mutex_unlock(&tv->lock);
    return ok;
}

static uint32_t env_mmio_read32(WlEnv *env, uint64_t gpa)
{
    ThreadVcpu *tv = env->opaque;
    uint32_t v;

    machine_mmio(tv->cpu->machine, gpa, false, &v, sizeof(v));
    return v;
}

static void env_mmio_write32(WlEnv *env, uint64_t gpa, uint32_t v)
{
    ThreadVcpu *tv = env->opaque;

    machine_mmio(tv->cpu->machine, gpa, true, &v, sizeof(v));
}

/* pc.ram offsets from 3 GiB up are guest-physical 4 GiB up (see the top). */
static uint64_t env_dma_addr(WlEnv *env, uint64_t addr)
{
    return addr < MACHINE_LOWMEM_MAX ? addr : addr - MACHINE_LOWMEM_MAX + MACHINE_HIGHMEM_BASE;
}

static void thread_env_setup(Machine *m, ThreadVcpu *tv)
{
    RAMBlock *rb = m->ram_blocks[0];
    WlEnv *env = &tv->env;

    memset(env, 0, sizeof(*env));
    env->mem = rb->host;
    env->regions[0].gpa = WL_RAM_START;
    env->regions[0].size = rb->used_length - WL_RAM_START;
    env->nr_regions = 1;
    env->cpu_index = tv->cpu->index;
    env->nr_cpus = m->smp;
    env->state = (WlState *)(rb->host + WL_STATE_GPA + tv->cpu->index * WL_STATE_SIZE);
    env->cfg = ta_of(m)->cfg;
    env->write = env_write;
    env->now_ns = env_now_ns;
    env->poll = env_poll;
    env->sleep_until = env_sleep_until;
    env->opaque = tv;
    env->mmio_read32 = env_mmio_read32;
    env->mmio_write32 = env_mmio_write32;
    env->dma_addr = env_dma_addr;
    env->drv_gpa = WL_DRV_GPA;
    env->dirty = ta_of(m)->soft;     /* NULL: the kernel tracks writes */
}

static bool thread_vcpu_init(Vcpu *cpu, GError **errp)
{
    ThreadVcpu *tv = g_new0(ThreadVcpu, 1);

    tv->cpu = cpu;
    g_mutex_init(&tv->lock);
    g_cond_init(&tv->cond);
    cpu->accel = tv;
    thread_env_setup(cpu->machine, tv);
    return true;
}

static VcpuExit thread_vcpu_exec(Vcpu *cpu)
{
    ThreadVcpu *tv = cpu->accel;

    /* The config may have been replaced by an incoming migration. */
    tv->env.cfg = ta_of(cpu->machine)->cfg;
    wl_run(&tv->env);
    env_dirty_state(&tv->env);
    if (__atomic_load_n(&cpu->exit_request, __ATOMIC_ACQUIRE)) {
        return VCPU_EXIT_KICKED;
    }
    return VCPU_EXIT_HALT;
}

static void thread_vcpu_kick(Vcpu *cpu)
{
    ThreadVcpu *tv = cpu->accel;

    g_mutex_lock(&tv->lock);
    g_cond_broadcast(&tv->cond);
    g_mutex_unlock(&tv->lock);
}

static void thread_vcpu_destroy(Vcpu *cpu)
{
    ThreadVcpu *tv = cpu->accel;

    if (tv) {
        g_mutex_clear(&tv->lock);
        g_cond_clear(&tv->cond);
        g_free(tv);
    }
}

/* ---- dirty logging ---- */

/*
 * One PAGEMAP_SCAN pass over @rb that write-protects (again) the populated
 * pages it matches.  @bitmap NULL: match every populated page (log start).
 * Otherwise: match the populated pages written since they were protected,
 * and OR them into @bitmap.  Holes never match, so the walk skips them
 * without installing anything.
 */
static bool wp_scan(ThreadAccel *ta, RAMBlock *rb, unsigned long *bitmap, GError **errp)
{
    uint64_t base = (uintptr_t)rb->host;
    uint64_t start = base, end = base + rb->used_length;
    uint64_t written = bitmap ? PAGE_IS_WRITTEN : 0;

    while (start < end) {
        struct pm_scan_arg arg = {
            .size = sizeof(arg),
            .flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
            .start = start,
            .end = end,
            .vec = (uintptr_t)ta->vec,
            .vec_len = SCAN_VEC_LEN,
            .category_mask = written,
            .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            .return_mask = written | PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        };
        long n = ioctl(ta->pagemap_fd, PAGEMAP_SCAN, &arg);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            kvmig_error_errno(errp, errno, "PAGEMAP_SCAN of '%s'", rb->idstr);
            return false;
        }
        for (long i = 0; bitmap && i < n; i++) {
            uint64_t first = (ta->vec[i].start - base) >> TARGET_PAGE_BITS;
            uint64_t last = (ta->vec[i].end - base) >> TARGET_PAGE_BITS;
            bitmap_set_range(bitmap, first, last - first);
        }
        if (arg.walk_end <= start) {
            kvmig_error(errp, "PAGEMAP_SCAN of '%s' made no progress", rb->idstr);
            return false;
        }
        start = arg.walk_end;
    }
    return true;
}

static bool uffd_wp_start(ThreadAccel *ta, Machine *m, GError **errp)
{
    struct uffdio_api api = {
        .api = UFFD_API,
        /* not WP_UNPOPULATED: holes must stay holes (see the top) */
        .features = UFFD_FEATURE_WP_ASYNC,
    };
    int uffd, pm;

    uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) {
        kvmig_error_errno(errp, errno, "userfaultfd");
        return false;
    }
    if (ioctl(uffd, UFFDIO_API, &api) < 0) {
        kvmig_error_errno(errp, errno, "userfaultfd: write-protect async mode unsupported");
        close(uffd);
        return false;
    }
    pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) {
        kvmig_error_errno(errp, errno, "/proc/self/pagemap");
        close(uffd);
        return false;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        struct uffdio_register reg = {
            .range = { (uintptr_t)rb->host, rb->used_length },
            .mode = UFFDIO_REGISTER_MODE_WP,
        };

        if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
            kvmig_error_errno(errp, errno, "userfaultfd: register '%s'", rb->idstr);
            goto fail;
        }
    }
    ta->pagemap_fd = pm;
    ta->vec = g_new(struct page_region, SCAN_VEC_LEN);
    /* protect what is populated; from here on every write is seen */
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        if (!wp_scan(ta, m->ram_blocks[i], NULL, errp)) {
            g_prefix_error(errp, "userfaultfd: write-protect: ");
            g_clear_pointer(&ta->vec, g_free);
            goto fail;
        }
    }
    ta->uffd = uffd;
    return true;

fail:
    ta->pagemap_fd = -1;
    close(pm);
    close(uffd);   /* closing drops every registration */
    return false;
}

/*
 * Soft log: take (and clear) the marks of @rb into @bitmap, or drop them
 * (@bitmap NULL).  The exchange is a full barrier: a page whose mark it
 * takes is read afterwards and sees the write (see wl_dirty()).
 */
static void soft_collect(ThreadAccel *ta, RAMBlock *rb, unsigned long *bitmap)
{
    G_STATIC_ASSERT(sizeof(unsigned long) == sizeof(uint64_t));

    for (uint64_t i = 0; i < ta->soft_words; i++) {
        uint64_t w;

        if (!__atomic_load_n(&ta->soft[i], __ATOMIC_RELAXED)) {
            continue;   /* leave the cache line alone */
        }
        w = __atomic_exchange_n(&ta->soft[i], 0, __ATOMIC_SEQ_CST);
        if (bitmap) {
            bitmap[i] |= w;
        }
    }
    if (bitmap && (rb->npages % 64)) {
        /* no bit past the block's end (there is none to mark) */
        bitmap[ta->soft_words - 1] &= (1ULL << (rb->npages % 64)) - 1;
    }
}

static bool thread_log_start(Machine *m, GError **errp)
{
    ThreadAccel *ta = ta_of(m);
    g_autoptr(GError) err = NULL;

    if (ta->mode == THREAD_DIRTY_SOFT) {
        /* the migration bitmap is full: marks made before now are moot */
        soft_collect(ta, m->ram_blocks[0], NULL);
        return true;
    }
    if (ta->uffd >= 0 || ta->fallback) {
        return true;
    }
    if (uffd_wp_start(ta, m, &err)) {
        return true;
    }
    if (!ta->warned) {
        g_printerr("kvmig: thread accelerator: no kernel dirty tracking (%s); "
                   "every page counts as dirty at every sync\n", err->message);
        ta->warned = true;
    }
    ta->fallback = true;
    return true;
}

static bool thread_log_sync(Machine *m, RAMBlock *rb, unsigned long *bitmap, GError **errp)
{
    ThreadAccel *ta = ta_of(m);

    if (ta->mode == THREAD_DIRTY_SOFT) {
        if (rb == m->ram_blocks[0]) {
            soft_collect(ta, rb, bitmap);
        }
        return true;    /* nothing else is written by the workloads */
    }
    if (ta->fallback) {
        bitmap_set_range(bitmap, 0, rb->npages);
        return true;
    }
    if (ta->uffd < 0) {
        kvmig_error(errp, "dirty logging is not started");
        return false;
    }
    return wp_scan(ta, rb, bitmap, errp);
}

static void thread_log_stop(Machine *m)
{
    ThreadAccel *ta = ta_of(m);

    if (!ta) {
        return;
    }
    ta->fallback = false;
    if (ta->uffd < 0) {
        return;
    }
    /* Closing the userfaultfd unregisters every range and drops the WP bits. */
    close(ta->uffd);
    close(ta->pagemap_fd);
    ta->uffd = ta->pagemap_fd = -1;
    g_clear_pointer(&ta->vec, g_free);
}

static void thread_destroy(Machine *m)
{
    ThreadAccel *ta = ta_of(m);

    if (ta) {
        thread_log_stop(m);
        thread_migration_free(ta->mig);
        g_free(ta->cmdline);
        g_free(ta->soft);
        g_free(ta);
        m->accel_state = NULL;
    }
}

const char *thread_accel_cmdline(Machine *m)
{
    return ta_of(m)->cmdline;
}

bool thread_accel_set_cmdline(Machine *m, const char *cmdline, GError **errp)
{
    ThreadAccel *ta = ta_of(m);
    WlConfig cfg;

    if (!thread_parse_cmdline(cmdline, &cfg, errp)) {
        return false;
    }
    ta->cfg = cfg;
    g_free(ta->cmdline);
    ta->cmdline = g_strdup(cmdline);
    return true;
}

const char *thread_accel_log_method(Machine *m)
{
    ThreadAccel *ta = ta_of(m);

    return ta->mode == THREAD_DIRTY_SOFT ? "soft" :
           ta->fallback ? "fallback-all-dirty" : "uffd-wp-async";
}

uint64_t *thread_accel_soft_log(Machine *m)
{
    return ta_of(m)->soft;
}

const AccelOps thread_accel_ops = {
    .name = "thread",
    .init = thread_init,
    .map_ram = thread_map_ram,
    .load_guest = thread_load_guest,
    .vcpu_init = thread_vcpu_init,
    .vcpu_exec = thread_vcpu_exec,
    .vcpu_kick = thread_vcpu_kick,
    .throttle_in_exec = true,   /* env_poll */
    .vcpu_destroy = thread_vcpu_destroy,
    .log_start = thread_log_start,
    .log_sync = thread_log_sync,
    .log_stop = thread_log_stop,
    .destroy = thread_destroy,
};
