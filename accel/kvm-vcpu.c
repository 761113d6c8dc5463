/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM accelerator, vCPU side: creating vCPUs, the KVM_RUN exit loop,
 * kicking, the Multiboot entry state and the full register state that
 * migration saves and restores.
 *
 * Kicks use kvm_run.immediate_exit, not KVM_SET_SIGNAL_MASK.  The kick
 * signal is never blocked on a vCPU thread; its handler does nothing.
 *
 *   kicker (any thread)                  vCPU thread (kvm_vcpu_exec)
 *   exit_request = 1   (generic code)
 *   run->immediate_exit = 1              KVM_RUN -> -EINTR (at entry, or
 *   pthread_kill(KVM_KICK_SIGNAL)          from inside the guest by the signal)
 *                                        run->immediate_exit = 0
 *                                        load exit_request: 1 -> return KICKED
 *
 * Both sides store before they load (sequentially consistent atomics), so
 * a kick cannot be lost: either the vCPU's load of exit_request sees the
 * kick, or the kicker's store to immediate_exit lands after the vCPU's
 * clear and the next KVM_RUN returns at once.  A stale immediate_exit only
 * costs one spurious -EINTR, after which the loop re-enters the guest.
 *
 * Pending I/O: after KVM_EXIT_IO / KVM_EXIT_MMIO the instruction completes
 * only at the next KVM_RUN.  vcpu_exec therefore never returns KICKED
 * straight from an exit handler: it always goes back through KVM_RUN (with
 * immediate_exit set, which completes the access and returns -EINTR before
 * any further guest instruction), so a stopped vCPU's registers are
 * consistent for kvm_vcpu_get_state().
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel/kvm-internal.h"
#include "system/memory.h"
#include "util/error.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

#define X86_CR0_PE (1u << 0)
#define X86_CR0_ET (1u << 4)

static KvmVcpu *kvm_vcpu(Vcpu *cpu)
{
    return cpu->accel;
}

static void kvm_kick_handler(int sig)
{
    (void)sig;  /* its only job is to make KVM_RUN return -EINTR */
}

bool kvm_install_kick_handler(GError **errp)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kvm_kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;    /* no SA_RESTART: KVM_RUN must see -EINTR */
    if (sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0) {
        kvmig_error_errno(errp, errno, "Could not install the vCPU kick "
                          "signal handler");
        return false;
    }
    return true;
}

static struct kvm_msrs *kvm_msrs_new(unsigned n)
{
    struct kvm_msrs *msrs = g_malloc0(sizeof(*msrs) +
                                      n * sizeof(struct kvm_msr_entry));

    msrs->nmsrs = n;
    return msrs;
}

int kvm_vcpu_fd(Vcpu *cpu)
{
    return kvm_vcpu(cpu)->fd;
}

/* The guest's CPUID, with this vCPU's APIC ID filled in. */
static bool kvm_vcpu_set_cpuid(Vcpu *cpu, KvmState *s, KvmVcpu *v,
                               GError **errp)
{
    size_t size = sizeof(*s->guest_cpuid) +
                  s->guest_cpuid->nent * sizeof(struct kvm_cpuid_entry2);
    g_autofree struct kvm_cpuid2 *c = g_malloc(size);

    memcpy(c, s->guest_cpuid, size);

    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];

        if (e->function == 1) {
            e->ebx = (e->ebx & 0x00ffffffu) | ((uint32_t)cpu->index << 24);
        } else if (e->function == 0xb || e->function == 0x1f) {
            e->edx = cpu->index;    /* x2APIC ID */
        }
    }
    if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_CPUID2 on vCPU %d failed",
                          cpu->index);
        return false;
    }
    kvm_vcpu_choose_msrs(s, v, s->guest_cpuid);
    return true;
}

bool kvm_vcpu_apply_cpuid(Vcpu *cpu, GError **errp)
{
    return kvm_vcpu_set_cpuid(cpu, kvm_state(cpu->machine), kvm_vcpu(cpu), errp);
}

static void kvm_vcpu_free(KvmVcpu *v)
{
    if (v->run && v->run != MAP_FAILED) {
        munmap(v->run, v->run_size);
    }
    if (v->fd >= 0) {
        close(v->fd);
    }
    g_free(v);
}

bool kvm_vcpu_init(Vcpu *cpu, GError **errp)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *v = g_new0(KvmVcpu, 1);

    v->fd = ioctl(s->vm_fd, KVM_CREATE_VCPU, (unsigned long)cpu->index);
    if (v->fd < 0) {
        kvmig_error_errno(errp, errno, "KVM_CREATE_VCPU for vCPU %d failed",
                          cpu->index);
        goto fail;
    }
    v->run_size = s->run_size;
    v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  v->fd, 0);
    if (v->run == MAP_FAILED) {
        kvmig_error_errno(errp, errno, "Could not map kvm_run of vCPU %d",
                          cpu->index);
        goto fail;
    }
    if (!kvm_vcpu_set_cpuid(cpu, s, v, errp)) {
        goto fail;
    }
    if (cpu->index == 0 && s->has_get_tsc_khz) {
        int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);

        s->tsc_khz = khz > 0 ? khz : 0;
    }
    cpu->accel = v;
    return true;

fail:
    kvm_vcpu_free(v);
    return false;
}

void kvm_vcpu_thread_init(Vcpu *cpu)
{
    KvmVcpu *v = kvm_vcpu(cpu);
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, KVM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    v->thread = pthread_self();
    __atomic_store_n(&v->thread_ready, 1, __ATOMIC_RELEASE);
}

void kvm_vcpu_kick(Vcpu *cpu)
{
    KvmVcpu *v = kvm_vcpu(cpu);

    if (!v) {
        return;
    }
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&v->thread_ready, __ATOMIC_ACQUIRE)) {
        pthread_kill(v->thread, KVM_KICK_SIGNAL);
    }
}

void kvm_vcpu_destroy(Vcpu *cpu)
{
    KvmVcpu *v = kvm_vcpu(cpu);

    if (!v) {
        return;
    }
    kvm_vcpu_free(v);
    cpu->accel = NULL;
}

static uint64_t kvm_vcpu_rip(KvmVcpu *v)
{
    struct kvm_regs regs;

    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0) {
        return ~0ULL;
    }
    return regs.rip;
}

static const char *kvm_internal_suberror_name(uint32_t sub)
{
    switch (sub) {
    case KVM_INTERNAL_ERROR_EMULATION:
        return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
        return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
        return "event delivery failure";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
        return "unexpected exit reason";
    default:
        return "unknown suberror";
    }
}

static void kvm_report_internal_error(Vcpu *cpu, KvmVcpu *v)
{
    struct kvm_run *run = v->run;
    GString *line = g_string_new(NULL);
    uint32_t n = MIN(run->internal.ndata, G_N_ELEMENTS(run->internal.data));

    g_string_printf(line, "kvm: vCPU %d: internal error %u (%s) at RIP 0x%"
                    G_GINT64_MODIFIER "x", cpu->index, run->internal.suberror,
                    kvm_internal_suberror_name(run->internal.suberror),
                    kvm_vcpu_rip(v));
    for (uint32_t i = 0; i < n; i++) {
        g_string_append_printf(line, "%s0x%" G_GINT64_MODIFIER "x",
                               i ? " " : ", data ",
                               (uint64_t)run->internal.data[i]);
    }
    g_printerr("%s\n", line->str);
    g_string_free(line, TRUE);
}

static bool kvm_handle_io(Vcpu *cpu, KvmVcpu *v)
{
    size_t run_size = v->run_size;
    struct kvm_run *run = v->run;
    uint64_t bytes = (uint64_t)run->io.count * run->io.size;
    uint8_t *p = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

    if (run->io.data_offset > run_size ||
        bytes > run_size - run->io.data_offset) {
        g_printerr("kvm: vCPU %d: I/O exit data out of kvm_run bounds\n",
                   cpu->index);
        return false;
    }
    /* String I/O (rep ins/outs) arrives as count accesses of size bytes. */
    for (uint32_t i = 0; i < run->io.count; i++) {
        machine_pio(cpu->machine, run->io.port, is_write, p, run->io.size);
        p += run->io.size;
    }
    return true;
}

VcpuExit kvm_vcpu_exec(Vcpu *cpu)
{
    KvmVcpu *v = kvm_vcpu(cpu);
    struct kvm_run *run = v->run;

    for (;;) {
        if (__atomic_load_n(&cpu->exit_request, __ATOMIC_SEQ_CST)) {
            /* Complete any pending I/O, then leave through -EINTR below. */
            __atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        }
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            int err = errno;

            if (err == EINTR || err == EAGAIN) {
                __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                if (__atomic_load_n(&cpu->exit_request, __ATOMIC_SEQ_CST)) {
                    return VCPU_EXIT_KICKED;
                }
                continue;
            }
            g_printerr("kvm: vCPU %d: KVM_RUN failed: %s\n", cpu->index,
                       g_strerror(err));
            return VCPU_EXIT_ERROR;
        }

        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (!kvm_handle_io(cpu, v)) {
                return VCPU_EXIT_ERROR;
            }
            break;
        case KVM_EXIT_MMIO:
            machine_mmio(cpu->machine, run->mmio.phys_addr, run->mmio.is_write,
                         run->mmio.data, MIN(run->mmio.len, 8u));
            break;
        case KVM_EXIT_HLT:
            /*
             * RIP is past the HLT.  The generic loop idles until a kick;
             * the next exec resumes after the HLT (a spurious wakeup,
             * which guests tolerate: they halt in a loop).
             */
            return VCPU_EXIT_HALT;
        case KVM_EXIT_SHUTDOWN:
            /* a triple fault: on a PC, a reset */
            g_printerr("kvm: vCPU %d: triple fault at RIP 0x%" G_GINT64_MODIFIER
                       "x\n", cpu->index, kvm_vcpu_rip(v));
            return VCPU_EXIT_RESET;
        case KVM_EXIT_SYSTEM_EVENT:
            switch (run->system_event.type) {
            case KVM_SYSTEM_EVENT_SHUTDOWN:
                return VCPU_EXIT_SHUTDOWN;
            case KVM_SYSTEM_EVENT_RESET:
                return VCPU_EXIT_RESET;
            case KVM_SYSTEM_EVENT_CRASH:
                return VCPU_EXIT_PANIC;
            default:
                g_printerr("kvm: vCPU %d: unhandled system event %u\n", cpu->index,
                           run->system_event.type);
                return VCPU_EXIT_ERROR;
            }
        case KVM_EXIT_FAIL_ENTRY:
            g_printerr("kvm: vCPU %d: entry failed, hardware entry failure "
                       "reason 0x%" G_GINT64_MODIFIER "x on host CPU %u, RIP 0x%"
                       G_GINT64_MODIFIER "x\n", cpu->index,
                       (uint64_t)run->fail_entry.hardware_entry_failure_reason,
                       run->fail_entry.cpu, kvm_vcpu_rip(v));
            return VCPU_EXIT_ERROR;
        case KVM_EXIT_INTERNAL_ERROR:
            kvm_report_internal_error(cpu, v);
            return VCPU_EXIT_ERROR;
        case KVM_EXIT_INTR:
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            break;
        default:
            g_printerr("kvm: vCPU %d: unhandled exit reason %u at RIP 0x%"
                       G_GINT64_MODIFIER "x\n", cpu->index, run->exit_reason,
                       kvm_vcpu_rip(v));
            return VCPU_EXIT_ERROR;
        }
    }
}

/* ---- Multiboot entry state ---- */

static void kvm_flat_segment(struct kvm_segment *seg, uint16_t selector,
                             uint8_t type)
{
    memset(seg, 0, sizeof(*seg));
    seg->base = 0;
    seg->limit = 0xffffffff;
    seg->selector = selector;
    seg->type = type;
    seg->present = 1;
    seg->dpl = 0;
    seg->db = 1;        /* 32-bit */
    seg->s = 1;         /* code/data, not system */
    seg->l = 0;
    seg->g = 1;         /* limit in 4 KiB units */
}

bool kvm_vcpu_set_multiboot(Vcpu *cpu, const MultibootBoot *boot,
                            GError **errp)
{
    KvmVcpu *v = kvm_vcpu(cpu);
    struct kvm_sregs sregs;
    struct kvm_regs regs;

    /* Keep KVM's reset TR, LDTR, GDTR and IDTR (valid for VM entry). */
    if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_SREGS on vCPU %d failed",
                          cpu->index);
        return false;
    }
    kvm_flat_segment(&sregs.cs, 0x08, 0xb);     /* execute/read, accessed */
    kvm_flat_segment(&sregs.ds, 0x10, 0x3);     /* read/write, accessed */
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
    sregs.cr2 = 0;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
    memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_SREGS on vCPU %d failed",
                          cpu->index);
        return false;
    }

    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;  /* bit 1 is always set; IF clear */
    regs.rip = boot->entry;
    regs.rax = MULTIBOOT_BOOTLOADER_MAGIC;
    regs.rbx = boot->mbi;
    if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_REGS on vCPU %d failed",
                          cpu->index);
        return false;
    }
    return true;
}

/* ---- full state for migration ---- */

bool kvm_vcpu_get_state(Vcpu *cpu, KvmVcpuState *st, GError **errp)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *v = kvm_vcpu(cpu);
    g_autofree struct kvm_msrs *msrs = NULL;
    int r;

    memset(st, 0, sizeof(*st));
    if (ioctl(v->fd, KVM_GET_REGS, &st->regs) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_REGS on vCPU %d failed",
                          cpu->index);
        return false;
    }
    if (ioctl(v->fd, KVM_GET_SREGS, &st->sregs) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_SREGS on vCPU %d failed",
                          cpu->index);
        return false;
    }
    if (s->has_xsave) {
        /* KVM_GET_XSAVE2 where the area outgrows struct kvm_xsave (AMX) */
        bool v2 = s->xsave_size > KVM_VCPU_XSAVE_BYTES;
        g_autofree void *xs = g_malloc0(s->xsave_size);

        G_STATIC_ASSERT(sizeof(((struct kvm_xsave *)0)->region) ==
                        KVM_VCPU_XSAVE_BYTES);
        if (ioctl(v->fd, v2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xs) < 0) {
            kvmig_error_errno(errp, errno, "%s on vCPU %d failed",
                              v2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE", cpu->index);
            return false;
        }
        st->xsave_len = s->xsave_size;
        memcpy(st->xsave, xs, s->xsave_size);
        st->flags |= KVM_VCPU_STATE_XSAVE;
    } else if (ioctl(v->fd, KVM_GET_FPU, &st->fpu) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_FPU on vCPU %d failed",
                          cpu->index);
        return false;
    }
    if (s->has_xcrs) {
        if (ioctl(v->fd, KVM_GET_XCRS, &st->xcrs) < 0) {
            kvmig_error_errno(errp, errno, "KVM_GET_XCRS on vCPU %d failed",
                              cpu->index);
            return false;
        }
        st->flags |= KVM_VCPU_STATE_XCRS;
    }
    if (s->has_events) {
        if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &st->events) < 0) {
            kvmig_error_errno(errp, errno, "KVM_GET_VCPU_EVENTS on vCPU %d "
                              "failed", cpu->index);
            return false;
        }
        st->flags |= KVM_VCPU_STATE_EVENTS;
    }
    if (s->has_debugregs) {
        if (ioctl(v->fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0) {
            kvmig_error_errno(errp, errno, "KVM_GET_DEBUGREGS on vCPU %d "
                              "failed", cpu->index);
            return false;
        }
        st->flags |= KVM_VCPU_STATE_DEBUGREGS;
    }
    /* Without an in-kernel LAPIC, KVM's mp_state is always RUNNABLE. */
    st->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;

    msrs = kvm_msrs_new(v->nmsrs);
    for (unsigned i = 0; i < v->nmsrs; i++) {
        msrs->entries[i].index = v->msr_index[i];
    }
    r = ioctl(v->fd, KVM_GET_MSRS, msrs);
    if (r < 0 || (unsigned)r != v->nmsrs) {
        kvmig_error(errp, "KVM_GET_MSRS on vCPU %d failed at MSR 0x%x",
                    cpu->index, r < 0 ? 0 : msrs->entries[r].index);
        return false;
    }
    st->nmsrs = v->nmsrs;
    for (unsigned i = 0; i < v->nmsrs; i++) {
        st->msrs[i].index = msrs->entries[i].index;
        st->msrs[i].data = msrs->entries[i].data;
    }
    return true;
}

static bool kvm_vcpu_set_msrs(Vcpu *cpu, KvmVcpu *v, const KvmVcpuState *st,
                              GError **errp)
{
    g_autofree struct kvm_msrs *msrs = kvm_msrs_new(st->nmsrs);
    int r;

    for (unsigned i = 0; i < st->nmsrs; i++) {
        msrs->entries[i].index = st->msrs[i].index;
        msrs->entries[i].data = st->msrs[i].data;
    }
    r = ioctl(v->fd, KVM_SET_MSRS, msrs);
    if (r < 0) {
        kvmig_error_errno(errp, errno, "KVM_SET_MSRS on vCPU %d failed",
                          cpu->index);
        return false;
    }
    if ((unsigned)r != st->nmsrs) {
        kvmig_error(errp, "KVM refused MSR 0x%x (value 0x%" G_GINT64_MODIFIER
                    "x) on vCPU %d", st->msrs[r].index,
                    (uint64_t)st->msrs[r].data, cpu->index);
        return false;
    }
    return true;
}

#define KVM_SET_OR_FAIL(req, arg, what)                                     \
    do {                                                                    \
        if (ioctl(v->fd, (req), (arg)) < 0) {                               \
            kvmig_error_errno(errp, errno, what " on vCPU %d failed",       \
                              cpu->index);                                  \
            return false;                                                   \
        }                                                                   \
    } while (0)

bool kvm_vcpu_set_state(Vcpu *cpu, const KvmVcpuState *st, GError **errp)
{
    KvmState *s = kvm_state(cpu->machine);
    KvmVcpu *v = kvm_vcpu(cpu);

    if (st->mp_state.mp_state != KVM_MP_STATE_RUNNABLE) {
        kvmig_error(errp, "vCPU %d arrives in mp_state %u; kvmig runs only runnable "
                    "vCPUs (no in-kernel LAPIC)", cpu->index, st->mp_state.mp_state);
        return false;
    }
    if (st->nmsrs > KVM_VCPU_STATE_MAX_MSRS) {
        kvmig_error(errp, "vCPU %d state has %u MSRs, at most %d allowed",
                    cpu->index, st->nmsrs, KVM_VCPU_STATE_MAX_MSRS);
        return false;
    }
    if ((st->flags & KVM_VCPU_STATE_XSAVE) &&
        (st->xsave_len < KVM_VCPU_XSAVE_BYTES || st->xsave_len > sizeof(st->xsave) ||
         st->xsave_len % 4)) {
        kvmig_error(errp, "vCPU %d XSAVE area of %u bytes is malformed", cpu->index,
                    st->xsave_len);
        return false;
    }
    if ((st->flags & KVM_VCPU_STATE_XSAVE) && st->xsave_len > s->xsave_size) {
        kvmig_error(errp, "vCPU %d XSAVE area is %u bytes, this host's KVM takes "
                    "%zu: its CPU lacks state components the guest uses",
                    cpu->index, st->xsave_len, s->xsave_size);
        return false;
    }
    if (((st->flags & KVM_VCPU_STATE_XSAVE) && !s->has_xsave) ||
        ((st->flags & KVM_VCPU_STATE_XCRS) && !s->has_xcrs)) {
        kvmig_error(errp, "vCPU %d state needs XSAVE/XCRS, which this host's "
                    "KVM lacks", cpu->index);
        return false;
    }

    /* Control registers and EFER first: they decide what is valid next. */
    KVM_SET_OR_FAIL(KVM_SET_SREGS, &st->sregs, "KVM_SET_SREGS");
    if (!kvm_vcpu_set_msrs(cpu, v, st, errp)) {
        return false;
    }
    KVM_SET_OR_FAIL(KVM_SET_REGS, &st->regs, "KVM_SET_REGS");
    if (st->flags & KVM_VCPU_STATE_XCRS) {
        KVM_SET_OR_FAIL(KVM_SET_XCRS, &st->xcrs, "KVM_SET_XCRS");
    }
    if (st->flags & KVM_VCPU_STATE_XSAVE) {
        /* KVM_SET_XSAVE reads as much as KVM_CAP_XSAVE2 said (or 4 KiB) */
        g_autofree void *xs = g_malloc0(MAX(s->xsave_size, sizeof(st->xsave)));

        memcpy(xs, st->xsave, MIN(st->xsave_len, sizeof(st->xsave)));
        KVM_SET_OR_FAIL(KVM_SET_XSAVE, xs, "KVM_SET_XSAVE");
    } else {
        KVM_SET_OR_FAIL(KVM_SET_FPU, &st->fpu, "KVM_SET_FPU");
    }
    if ((st->flags & KVM_VCPU_STATE_EVENTS) && s->has_events) {
        struct kvm_vcpu_events ev = st->events;

        /*
         * Transfer nmi.pending too; the SIPI vector lives in the LAPIC,
         * which kvmig does not have.  Payload/triple-fault flags need caps
         * kvmig does not enable.
         */
        ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
                   (st->events.flags & (KVM_VCPUEVENT_VALID_SHADOW |
                                        KVM_VCPUEVENT_VALID_SMM));
        KVM_SET_OR_FAIL(KVM_SET_VCPU_EVENTS, &ev, "KVM_SET_VCPU_EVENTS");
    }
    if ((st->flags & KVM_VCPU_STATE_DEBUGREGS) && s->has_debugregs) {
        struct kvm_debugregs dr = st->debugregs;

        dr.flags = 0;
        KVM_SET_OR_FAIL(KVM_SET_DEBUGREGS, &dr, "KVM_SET_DEBUGREGS");
    }
    return true;
}
