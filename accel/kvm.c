/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM accelerator, VM side: /dev/kvm and the VM file descriptor, memory
 * slots, guest loading, dirty logging and the VM clock.  vCPUs are in
 * accel/kvm-vcpu.c.
 *
 * Interrupt controller: kvmig creates no in-kernel irqchip.  The test guest
 * uses no interrupts, and without an irqchip HLT leaves KVM_RUN as
 * KVM_EXIT_HLT, so a halted vCPU sits in the generic loop (where pause and
 * migration find it) rather than asleep in the kernel; and there is no
 * LAPIC/IOAPIC/PIC state to migrate.  The price: application processors
 * cannot be started with INIT/SIPI, so -smp above 1 is refused under KVM
 * (init) rather than leaving vCPUs silently parked.  SMP guests will need
 * KVM_CREATE_IRQCHIP and the LAPIC state in the migration stream; the
 * thread accelerator runs SMP guests today.
 *
 * Threads: init, map_ram, load_guest and destroy run on the main thread
 * before/after the vCPU threads; log_start/log_sync/log_stop run on the
 * migration thread, never concurrently with each other (AccelOps contract),
 * and are the only writers of KvmSlot.flags/dirty and KvmState.logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "config-host.h"
#include "accel/kvm-internal.h"
#include "util/bitmap.h"
#include "util/error.h"

#define KVM_REQUIRED_API_VERSION 12

static int kvm_open_dev(int *err)
{
    int fd;

    do {
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        *err = errno;
    }
    return fd;
}

bool kvm_available(void)
{
    int err;
    int fd = kvm_open_dev(&err);
    bool ok;

    if (fd < 0) {
        return false;
    }
    ok = ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_REQUIRED_API_VERSION;
    close(fd);
    return ok;
}

static int kvm_check_extension(int fd, unsigned long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

    return r < 0 ? 0 : r;
}

static struct kvm_cpuid2 *kvm_get_supported_cpuid(int kvm_fd, GError **errp)
{
    for (unsigned nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) +
                                         nent * sizeof(struct kvm_cpuid_entry2));
        int err;

        c->nent = nent;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            return c;
        }
        err = errno;
        g_free(c);
        if (err != E2BIG) {
            kvmig_error_errno(errp, err, "KVM_GET_SUPPORTED_CPUID failed");
            return NULL;
        }
    }
    kvmig_error(errp, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
    return NULL;
}

static void kvm_state_free(KvmState *s)
{
    if (!s) {
        return;
    }
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        g_free(s->slots[i].dirty);
        g_free(s->slots[i].to_clear);
        g_free(s->slots[i].chunk_pending);
    }
    g_clear_error(&s->clear_error);
    if (s->vm_fd >= 0) {
        close(s->vm_fd);
    }
    if (s->kvm_fd >= 0) {
        close(s->kvm_fd);
    }
    g_free(s->cpuid);
    g_free(s->guest_cpuid);
    g_free(s->msr_list);
    kvm_migration_free(s->mig);
    g_free(s);
}

/*
 * Ask for KVM_GET_DIRTY_LOG that does not clear (we clear in chunks with
 * KVM_CLEAR_DIRTY_LOG) and, where offered, for a dirty log that starts all
 * set, which spares log_start from write-protecting all of RAM at once.
 * Absent or refused: plain KVM_GET_DIRTY_LOG, which clears as it reads.
 */
static void kvm_enable_manual_protect(KvmState *s)
{
    int supported = kvm_check_extension(s->vm_fd,
                                        KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    uint64_t want = (uint64_t)supported &
        (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
    };

    if (!(want & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
        return;
    }
    cap.args[0] = want;
    if (ioctl(s->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
        return;
    }
    s->manual_protect = true;
    s->initially_set = want & KVM_DIRTY_LOG_INITIALLY_SET;
}

static bool kvm_init(Machine *m, GError **errp)
{
    KvmState *s = g_new0(KvmState, 1);
    uint64_t ident = KVM_IDENTITY_MAP_ADDR;
    int err, r, max_vcpus;

    s->vm_fd = -1;
    s->kvm_fd = kvm_open_dev(&err);
    if (s->kvm_fd < 0) {
        kvmig_error_errno(errp, err, "Could not access KVM kernel module");
        goto fail;
    }
    r = ioctl(s->kvm_fd, KVM_GET_API_VERSION, 0);
    if (r != KVM_REQUIRED_API_VERSION) {
        kvmig_error(errp, "KVM API version %d is not the supported %d",
                    r, KVM_REQUIRED_API_VERSION);
        goto fail;
    }

    static const struct {
        unsigned long cap;
        const char *name;
    } required[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(required); i++) {
        if (!kvm_check_extension(s->kvm_fd, required[i].cap)) {
            kvmig_error(errp, "KVM lacks %s, which kvmig needs",
                        required[i].name);
            goto fail;
        }
    }

    max_vcpus = kvm_check_extension(s->kvm_fd, KVM_CAP_MAX_VCPUS);
    if (!max_vcpus) {
        max_vcpus = kvm_check_extension(s->kvm_fd, KVM_CAP_NR_VCPUS);
    }
    if (!max_vcpus) {
        max_vcpus = 4;  /* the API doc's value when the cap is missing */
    }
    if (m->smp > 1) {
        kvmig_error(errp, "-smp %d: under -accel kvm kvmig runs one vCPU (without an "
                    "in-kernel irqchip it cannot start application processors); "
                    "use -accel thread for SMP guests", m->smp);
        goto fail;
    }
    if (m->smp > max_vcpus) {
        kvmig_error(errp, "KVM supports at most %d vCPUs, %d requested",
                    max_vcpus, m->smp);
        goto fail;
    }
    r = kvm_check_extension(s->kvm_fd, KVM_CAP_NR_MEMSLOTS);
    if (r && r < MACHINE_MAX_MAPPINGS) {
        kvmig_error(errp, "KVM offers %d memory slots, kvmig needs %d",
                    r, MACHINE_MAX_MAPPINGS);
        goto fail;
    }

    r = ioctl(s->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (r < (int)sizeof(struct kvm_run)) {
        kvmig_error_errno(errp, r < 0 ? errno : EINVAL,
                          "KVM_GET_VCPU_MMAP_SIZE failed");
        goto fail;
    }
    s->run_size = r;

    do {
        s->vm_fd = ioctl(s->kvm_fd, KVM_CREATE_VM, 0);
    } while (s->vm_fd < 0 && errno == EINTR);
    if (s->vm_fd < 0) {
        kvmig_error_errno(errp, errno, "KVM_CREATE_VM failed");
        goto fail;
    }

    /* Both must precede KVM_CREATE_VCPU; only Intel hosts use them. */
    if (kvm_check_extension(s->kvm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
        ioctl(s->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_IDENTITY_MAP_ADDR failed");
        goto fail;
    }
    if (ioctl(s->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_TSS_ADDR failed");
        goto fail;
    }

    kvm_enable_manual_protect(s);

    s->cpuid = kvm_get_supported_cpuid(s->kvm_fd, errp);
    if (!s->cpuid) {
        goto fail;
    }
    s->guest_cpuid = g_memdup2(s->cpuid, sizeof(*s->cpuid) +
                               s->cpuid->nent * sizeof(struct kvm_cpuid_entry2));
    if (!kvm_msr_list_init(s, errp)) {
        goto fail;
    }
    s->has_get_tsc_khz = kvm_check_extension(s->kvm_fd, KVM_CAP_GET_TSC_KHZ);
    s->has_tsc_control = kvm_check_extension(s->kvm_fd, KVM_CAP_TSC_CONTROL);
    s->has_xsave = kvm_check_extension(s->kvm_fd, KVM_CAP_XSAVE);
    /* KVM_CAP_XSAVE2 answers, on the VM, the size KVM_GET_XSAVE2 fills. */
    s->xsave_size = KVM_VCPU_XSAVE_BYTES;
    r = kvm_check_extension(s->vm_fd, KVM_CAP_XSAVE2);
    if (s->has_xsave && r > KVM_VCPU_XSAVE_BYTES) {
        if (r > KVM_VCPU_XSAVE_MAX) {
            kvmig_error(errp, "KVM's XSAVE area is %d bytes, kvmig carries at most %d",
                        r, KVM_VCPU_XSAVE_MAX);
            goto fail;
        }
        s->xsave_size = r;
    }
    s->has_xcrs = kvm_check_extension(s->kvm_fd, KVM_CAP_XCRS);
    s->has_events = kvm_check_extension(s->kvm_fd, KVM_CAP_VCPU_EVENTS);
    s->has_debugregs = kvm_check_extension(s->kvm_fd, KVM_CAP_DEBUGREGS);

    if (!kvm_install_kick_handler(errp)) {
        goto fail;
    }
    if (m->migration) {
        s->mig = kvm_migration_register(m, errp);
        if (!s->mig) {
            goto fail;
        }
    }
    m->accel_state = s;
    return true;

fail:
    kvm_state_free(s);
    return false;
}

static int kvm_set_slot(KvmState *s, const KvmSlot *sl, uint32_t flags)
{
    struct kvm_userspace_memory_region r = {
        .slot = sl->slot,
        .flags = flags,
        .guest_phys_addr = sl->gpa,
        .memory_size = sl->size,
        .userspace_addr = sl->hva,
    };

    return ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static bool kvm_map_ram(Machine *m, MemMapping *map, GError **errp)
{
    KvmState *s = kvm_state(m);
    KvmSlot *sl;

    if (map->slot >= MACHINE_MAX_MAPPINGS || s->slots[map->slot].used) {
        kvmig_error(errp, "KVM memory slot %u is invalid or already in use",
                    map->slot);
        return false;
    }
    if (!map->size || (map->gpa | map->size | map->offset) &
        (TARGET_PAGE_SIZE - 1) ||
        map->offset + map->size > map->block->used_length) {
        kvmig_error(errp, "RAM mapping 0x%" G_GINT64_MODIFIER "x+0x%"
                    G_GINT64_MODIFIER "x of %s is not page-aligned or "
                    "exceeds the block", map->gpa, map->size,
                    map->block->idstr);
        return false;
    }
    sl = &s->slots[map->slot];
    sl->slot = map->slot;
    sl->gpa = map->gpa;
    sl->size = map->size;
    sl->hva = (uint64_t)(uintptr_t)(map->block->host + map->offset);
    sl->block = map->block;
    sl->block_page = map->offset >> TARGET_PAGE_BITS;
    sl->npages = map->size >> TARGET_PAGE_BITS;
    sl->flags = 0;
    if (kvm_set_slot(s, sl, 0) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_USER_MEMORY_REGION (slot %u, "
                          "GPA 0x%" G_GINT64_MODIFIER "x, %" G_GUINT64_FORMAT
                          " MiB) failed", sl->slot, sl->gpa, sl->size >> 20);
        return false;
    }
    sl->used = true;
    return true;
}

static const char *kvm_guest_path(Machine *m)
{
    const char *env;

    if (m->kernel_path) {
        return m->kernel_path;
    }
    env = g_getenv("KVMIG_GUEST_ELF");
    return env && *env ? env : KVMIG_BUILD_DIR "/guest/kvmig-guest.elf";
}

static bool kvm_load_guest(Machine *m, GError **errp)
{
    const char *path = kvm_guest_path(m);
    MultibootBoot boot;

    if (!m->kernel_path && !g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        kvmig_error(errp, "Built-in test guest %s not found (build it, or "
                    "point KVMIG_GUEST_ELF at one)", path);
        return false;
    }
    if (!m->vcpus[0]) {
        kvmig_error(errp, "KVM: no vCPU to boot");
        return false;
    }
    if (!multiboot_load(m, path, m->append ? m->append : "", &boot, errp)) {
        return false;
    }
    return kvm_vcpu_set_multiboot(m->vcpus[0], &boot, errp);
}

/* ---- dirty logging (migration thread) ---- */

static void kvm_log_stop(Machine *m)
{
    KvmState *s = kvm_state(m);

    if (!s || !s->logging) {
        return;
    }
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        KvmSlot *sl = &s->slots[i];

        if (!sl->used) {
            continue;
        }
        if (sl->flags && kvm_set_slot(s, sl, 0) < 0) {
            /* Nothing is lost: the slot just keeps logging. */
            g_printerr("kvm: could not stop dirty logging on slot %u: %s\n",
                       sl->slot, g_strerror(errno));
        } else {
            sl->flags = 0;
        }
        g_clear_pointer(&sl->dirty, g_free);
        g_clear_pointer(&sl->to_clear, g_free);
        g_clear_pointer(&sl->chunk_pending, g_free);
    }
    g_clear_error(&s->clear_error);
    s->logging = false;
}

static bool kvm_log_start(Machine *m, GError **errp)
{
    KvmState *s = kvm_state(m);

    if (s->logging) {
        return true;
    }
    /* Buffers first, so that log_sync never allocates. */
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        KvmSlot *sl = &s->slots[i];

        if (sl->used) {
            uint64_t nchunks = (sl->npages + KVM_CLEAR_CHUNK_PAGES - 1) /
                               KVM_CLEAR_CHUNK_PAGES;

            sl->dirty = g_new0(unsigned long, BITS_TO_LONGS(sl->npages));
            if (s->manual_protect) {
                sl->to_clear = g_new0(unsigned long, BITS_TO_LONGS(sl->npages));
                sl->chunk_pending = g_new0(unsigned long, BITS_TO_LONGS(nchunks));
                /*
                 * Consume the initial state here, as QEMU's ram_init_bitmaps
                 * does: KVM starts with every page dirty and unprotected;
                 * the migration bitmap has every page set already, so the
                 * pages are only marked for re-arming, chunk by chunk, as
                 * the bulk pass reaches them.  Without this the first sync
                 * after the bulk pass reported every page again.
                 */
                if (s->initially_set) {
                    bitmap_set_range(sl->to_clear, 0, sl->npages);
                    bitmap_set_range(sl->chunk_pending, 0, nchunks);
                }
            }
        }
    }
    s->logging = true;
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        KvmSlot *sl = &s->slots[i];

        if (!sl->used) {
            continue;
        }
        if (kvm_set_slot(s, sl, KVM_MEM_LOG_DIRTY_PAGES) < 0) {
            kvmig_error_errno(errp, errno, "KVM_SET_USER_MEMORY_REGION "
                              "(slot %u, dirty logging on) failed", sl->slot);
            kvm_log_stop(m);    /* undoes the slots already switched */
            return false;
        }
        sl->flags = KVM_MEM_LOG_DIRTY_PAGES;
    }
    return true;
}

/* OR a slot's dirty bits into the block bitmap at the slot's page offset. */
static void kvm_merge_dirty(const KvmSlot *sl, unsigned long *bitmap)
{
    size_t words = BITS_TO_LONGS(sl->npages);

    if (sl->block_page % BITS_PER_LONG == 0) {
        unsigned long *dst = bitmap + sl->block_page / BITS_PER_LONG;

        for (size_t w = 0; w < words; w++) {
            dst[w] |= sl->dirty[w];
        }
        return;
    }
    for (size_t w = 0; w < words; w++) {
        unsigned long bits = sl->dirty[w];

        while (bits) {
            size_t b = __builtin_ctzl(bits);

            bits &= bits - 1;
            set_bit(sl->block_page + w * BITS_PER_LONG + b, bitmap);
        }
    }
}

/*
 * Re-arm the pages of chunk @chunk that were reported and not re-armed,
 * trimming the range to its first and last non-zero 64-page word.
 * first_page stays a multiple of 64, and num_pages is a multiple of 64
 * unless the range ends at the end of the slot, as KVM requires.
 */
static bool kvm_clear_chunk(KvmState *s, KvmSlot *sl, uint64_t chunk, GError **errp)
{
    uint64_t start = chunk * KVM_CLEAR_CHUNK_PAGES;
    uint64_t end = MIN(start + KVM_CLEAR_CHUNK_PAGES, sl->npages);
    size_t w0 = start / 64, w1 = (end + 63) / 64;
    size_t first, last;
    struct kvm_clear_dirty_log c = { .slot = sl->slot };

    while (w0 < w1 && !sl->to_clear[w0]) {
        w0++;
    }
    if (w0 == w1) {
        return true;
    }
    first = w0;
    last = w1 - 1;
    while (!sl->to_clear[last]) {
        last--;
    }
    c.first_page = (uint64_t)first * 64;
    c.num_pages = MIN((uint64_t)(last + 1) * 64, sl->npages) - c.first_page;
    c.dirty_bitmap = &sl->to_clear[first];
    if (ioctl(s->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0) {
        kvmig_error_errno(errp, errno, "KVM_CLEAR_DIRTY_LOG (slot %u, "
                          "pages %" G_GUINT64_FORMAT "+%u) failed",
                          sl->slot, (uint64_t)c.first_page, c.num_pages);
        return false;
    }
    memset(&sl->to_clear[first], 0, (last + 1 - first) * sizeof(long));
    return true;
}

static void kvm_log_clear(Machine *m, RAMBlock *rb, uint64_t first_page,
                          uint64_t npages)
{
    KvmState *s = kvm_state(m);

    if (!s->logging || !s->manual_protect || !npages) {
        return;
    }
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        KvmSlot *sl = &s->slots[i];
        uint64_t lo, hi;

        if (!sl->used || sl->block != rb ||
            first_page >= sl->block_page + sl->npages ||
            first_page + npages <= sl->block_page) {
            continue;
        }
        lo = MAX(first_page, sl->block_page) - sl->block_page;
        hi = MIN(first_page + npages, sl->block_page + sl->npages) - sl->block_page;
        for (uint64_t c = lo / KVM_CLEAR_CHUNK_PAGES;
             c <= (hi - 1) / KVM_CLEAR_CHUNK_PAGES; c++) {
            GError *err = NULL;

            if (!test_bit(c, sl->chunk_pending)) {
                continue;
            }
            /* a chunk that fails stays pending: re-sent, never lost */
            if (!kvm_clear_chunk(s, sl, c, &err)) {
                if (!s->clear_error) {
                    s->clear_error = err;
                } else {
                    g_error_free(err);
                }
                continue;
            }
            clear_bit(c, sl->chunk_pending);
        }
    }
}

/* Remember the pages @sl->dirty reports for kvm_log_clear, chunk by chunk. */
static void kvm_note_to_clear(KvmSlot *sl)
{
    size_t words = BITS_TO_LONGS(sl->npages);
    size_t words_per_chunk = KVM_CLEAR_CHUNK_PAGES / BITS_PER_LONG;

    for (size_t w = 0; w < words; w++) {
        if (sl->dirty[w]) {
            sl->to_clear[w] |= sl->dirty[w];
            set_bit(w / words_per_chunk, sl->chunk_pending);
        }
    }
}

static bool kvm_log_sync(Machine *m, RAMBlock *rb, unsigned long *bitmap,
                         GError **errp)
{
    KvmState *s = kvm_state(m);

    if (!s->logging) {
        kvmig_error(errp, "KVM dirty logging is not active");
        return false;
    }
    for (unsigned i = 0; i < MACHINE_MAX_MAPPINGS; i++) {
        KvmSlot *sl = &s->slots[i];
        struct kvm_dirty_log d = { .slot = sl->slot };

        if (!sl->used || sl->block != rb) {
            continue;
        }
        memset(sl->dirty, 0, BITS_TO_LONGS(sl->npages) * sizeof(long));
        d.dirty_bitmap = sl->dirty;
        if (ioctl(s->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0) {
            kvmig_error_errno(errp, errno, "KVM_GET_DIRTY_LOG (slot %u) failed",
                              sl->slot);
            return false;
        }
        kvm_merge_dirty(sl, bitmap);
        /* re-armed lazily, by kvm_log_clear before the pages are read */
        if (s->manual_protect) {
            kvm_note_to_clear(sl);
        }
    }
    if (s->clear_error) {
        g_propagate_error(errp, g_steal_pointer(&s->clear_error));
        return false;
    }
    return true;
}

static void kvm_destroy(Machine *m)
{
    kvm_state_free(kvm_state(m));
    m->accel_state = NULL;
}

/* ---- VM clock ---- */

bool kvm_clock_get(Machine *m, KvmClockState *cs, GError **errp)
{
    KvmState *s = kvm_state(m);
    struct kvm_clock_data d;

    memset(&d, 0, sizeof(d));
    if (ioctl(s->vm_fd, KVM_GET_CLOCK, &d) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_CLOCK failed");
        return false;
    }
    cs->clock = d.clock;
    cs->flags = d.flags;
    cs->reserved = 0;
    return true;
}

bool kvm_clock_set(Machine *m, const KvmClockState *cs, GError **errp)
{
    KvmState *s = kvm_state(m);
    struct kvm_clock_data d;

    memset(&d, 0, sizeof(d));
    d.clock = cs->clock;    /* flags 0: clock is the only input */
    if (ioctl(s->vm_fd, KVM_SET_CLOCK, &d) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_CLOCK failed");
        return false;
    }
    return true;
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .init = kvm_init,
    .map_ram = kvm_map_ram,
    .load_guest = kvm_load_guest,
    .vcpu_init = kvm_vcpu_init,
    .vcpu_thread_init = kvm_vcpu_thread_init,
    .vcpu_exec = kvm_vcpu_exec,
    .vcpu_kick = kvm_vcpu_kick,
    .vcpu_destroy = kvm_vcpu_destroy,
    .log_start = kvm_log_start,
    .log_sync = kvm_log_sync,
    .log_stop = kvm_log_stop,
    .log_clear = kvm_log_clear,
    .destroy = kvm_destroy,
};
