/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to accel/kvm*.c: the KVM accelerator's VM and vCPU state and the
 * functions its files share.
 */
#ifndef KVMIG_ACCEL_KVM_INTERNAL_H
#define KVMIG_ACCEL_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "accel/accel.h"
#include "accel/accel-migration.h"
#include "accel/kvm.h"
#include "hw/boot/multiboot.h"

/* The signal that kicks a vCPU thread out of KVM_RUN (no-op handler). */
#define KVM_KICK_SIGNAL SIGUSR1

/*
 * Guest-physical pages KVM needs on Intel hosts for real-mode emulation:
 * one page for the identity-map page table and three for the TSS.  They
 * sit in the hole between MACHINE_MMIO_BASE (0xD0000000) and 4 GiB, away
 * from RAM (which ends at 3 GiB below 4G) and from the MMIO devices, in
 * the spot a PC keeps free for them.
 */
#define KVM_IDENTITY_MAP_ADDR 0xfeffc000ULL
#define KVM_TSS_ADDR          0xfeffd000ULL

/*
 * KVM_CLEAR_DIRTY_LOG chunk: 16384 pages (64 MiB of guest memory, 2 KiB of
 * bitmap).  Each clear re-write-protects its pages under the kernel's MMU
 * lock; 16k pages bound that hold time to tens of microseconds, so running
 * vCPUs faulting on other pages are not stalled, while a 1 GiB guest still
 * needs only 16 ioctls per sync.  Chunks with no dirty bit are skipped.
 * Must be a multiple of 64 (KVM's granularity for first_page).
 */
#define KVM_CLEAR_CHUNK_PAGES 16384ULL

typedef struct KvmSlot {
    /* set by map_ram (main thread), read-only after */
    bool used;
    uint32_t slot;
    uint64_t gpa;
    uint64_t size;
    uint64_t hva;
    RAMBlock *block;
    uint64_t block_page;        /* first page of the block this slot maps */
    uint64_t npages;
    /* owned by the migration thread (log_start/log_sync/log_stop) */
    uint32_t flags;             /* KVM_MEM_* currently registered */
    unsigned long *dirty;       /* KVM_GET_DIRTY_LOG buffer, while logging */
    /*
     * Manual protect: pages KVM reported dirty (all of them at log_start
     * with KVM_DIRTY_LOG_INITIALLY_SET) and not re-armed yet, and per
     * KVM_CLEAR_CHUNK_PAGES chunk whether it holds any (log_clear).
     */
    unsigned long *to_clear;
    unsigned long *chunk_pending;
} KvmSlot;

typedef struct KvmState {
    /* set by init (main thread), read-only after */
    int kvm_fd;
    int vm_fd;
    size_t run_size;            /* KVM_GET_VCPU_MMAP_SIZE */
    struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID */
    uint32_t *msr_list;         /* KVM_GET_MSR_INDEX_LIST */
    uint32_t nmsr_list;
    bool has_get_tsc_khz;       /* KVM_CAP_GET_TSC_KHZ */
    bool has_tsc_control;       /* KVM_CAP_TSC_CONTROL: KVM_SET_TSC_KHZ */
    size_t xsave_size;          /* KVM_CAP_XSAVE2's size, or 4096 */
    /*
     * The guest's TSC rate, read from vCPU 0 when it is created (0: KVM
     * cannot tell): never asked of a running vCPU, whose ioctls wait until
     * KVM_RUN returns -- which a guest in a store loop may not do for long.
     */
    uint32_t tsc_khz;
    /*
     * The CPUID every vCPU gets (APIC IDs patched in per vCPU): the
     * host's supported CPUID, or on an incoming VM the source's, adopted
     * by kvm_cpu_model_adopt before any vCPU ran.
     */
    struct kvm_cpuid2 *guest_cpuid;
    bool manual_protect;        /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
    bool initially_set;         /* ... with KVM_DIRTY_LOG_INITIALLY_SET */
    bool has_xsave, has_xcrs, has_events, has_debugregs;
    /* set by init when m->migration exists (its sections' opaques), freed with the state */
    struct KvmMigration *mig;
    /* owned by the migration thread after map_ram */
    bool logging;
    GError *clear_error;        /* first failed log_clear, for the next log_sync */
    KvmSlot slots[MACHINE_MAX_MAPPINGS];
} KvmState;

typedef struct KvmVcpu {
    /* set by vcpu_init (main thread), read-only after */
    int fd;
    struct kvm_run *run;        /* mmap of the vCPU fd */
    size_t run_size;
    uint32_t msr_index[KVM_VCPU_STATE_MAX_MSRS]; /* MSRs saved/restored */
    unsigned nmsrs;
    /* set once by vcpu_thread_init; thread_ready is read atomically */
    pthread_t thread;
    int thread_ready;
} KvmVcpu;

static inline KvmState *kvm_state(Machine *m)
{
    return m->accel_state;
}

/* accel/kvm-cpu.c */
/* The entry for leaf @fn (and subleaf @idx where it matters), or NULL. */
const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_cpuid2 *c,
                                              uint32_t fn, uint32_t idx);
/* Read KVM_GET_MSR_INDEX_LIST into s->msr_list (init, once). */
bool kvm_msr_list_init(KvmState *s, GError **errp);
/*
 * Fill v->msr_index with the MSRs to save for a vCPU whose CPUID is
 * @cpuid: gated by CPUID and the index list, kept only if they round-trip.
 * Call on a vCPU that has not run (it writes each MSR's own value back).
 */
void kvm_vcpu_choose_msrs(KvmState *s, KvmVcpu *v, const struct kvm_cpuid2 *cpuid);

/* accel/kvm-vcpu.c */
/* The vCPU's file descriptor (for vCPU ioctls from kvm-cpu.c). */
int kvm_vcpu_fd(Vcpu *cpu);
/*
 * KVM_SET_CPUID2 with s->guest_cpuid (this vCPU's APIC ID patched in),
 * then choose its MSRs again.  Only before the vCPU first runs.
 */
bool kvm_vcpu_apply_cpuid(Vcpu *cpu, GError **errp);
bool kvm_vcpu_init(Vcpu *cpu, GError **errp);
void kvm_vcpu_thread_init(Vcpu *cpu);
VcpuExit kvm_vcpu_exec(Vcpu *cpu);
void kvm_vcpu_kick(Vcpu *cpu);
void kvm_vcpu_destroy(Vcpu *cpu);
/* Install the kick signal's no-op handler (process-wide, once). */
bool kvm_install_kick_handler(GError **errp);
/*
 * Put @cpu in the state the Multiboot spec requires: flat 32-bit protected
 * mode, paging off, EAX=0x2BADB002, EBX=mbi, EIP=entry.
 */
bool kvm_vcpu_set_multiboot(Vcpu *cpu, const MultibootBoot *boot, GError **errp);

#endif
