/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM accelerator's exported state: the full register state of one vCPU
 * and the VM clock, as plain fixed-size structs that migration describes
 * with vmstate tables.
 *
 * Both structs hold the kernel's own ABI structs (linux/kvm.h, x86-64):
 * their layout is fixed by the kernel and identical on both ends of a
 * migration between x86-64 hosts, so the vmstate tables may describe them
 * as byte buffers.  Everything is host-endian (little-endian).
 */
#ifndef KVMIG_ACCEL_KVM_H
#define KVMIG_ACCEL_KVM_H

#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/machine.h"

/*
 * Room for every MSR kvm_vcpu_get_state() may save: about 35 candidates
 * and up to 8 variable-range MTRR pairs (accel/kvm-cpu.c).
 */
#define KVM_VCPU_STATE_MAX_MSRS 64
/* Size of the legacy XSAVE area of KVM_GET_XSAVE (struct kvm_xsave). */
#define KVM_VCPU_XSAVE_BYTES 4096
/* Room for KVM_GET_XSAVE2's area (KVM_CAP_XSAVE2; AMX needs ~11 KiB). */
#define KVM_VCPU_XSAVE_MAX 16384

/* KvmVcpuState.flags: which optional parts are valid. */
#define KVM_VCPU_STATE_XSAVE      (1u << 0)  /* xsave valid (else fpu) */
#define KVM_VCPU_STATE_XCRS       (1u << 1)
#define KVM_VCPU_STATE_EVENTS     (1u << 2)
#define KVM_VCPU_STATE_DEBUGREGS  (1u << 3)

typedef struct KvmMsrEntry {
    uint32_t index;
    uint32_t reserved;          /* zero */
    uint64_t data;
} KvmMsrEntry;

typedef struct KvmVcpuState {
    uint32_t flags;             /* KVM_VCPU_STATE_* */
    uint32_t nmsrs;             /* valid entries in msrs[] */
    struct kvm_regs regs;       /* 144 bytes */
    struct kvm_sregs sregs;     /* 312 bytes; EFER lives here */
    uint32_t xsave_len;         /* bytes of xsave[] in use: 4096, or XSAVE2's size */
    uint32_t xsave[KVM_VCPU_XSAVE_MAX / 4];     /* struct kvm_xsave.region (+extra) */
    struct kvm_fpu fpu;         /* only without KVM_VCPU_STATE_XSAVE */
    struct kvm_xcrs xcrs;
    /* KVM_MP_STATE_RUNNABLE: kvmig has no in-kernel LAPIC (accel/kvm.c) */
    struct kvm_mp_state mp_state;
    uint32_t reserved;          /* zero; keeps events 8-byte aligned */
    struct kvm_vcpu_events events;
    struct kvm_debugregs debugregs;
    KvmMsrEntry msrs[KVM_VCPU_STATE_MAX_MSRS];
} KvmVcpuState;

/*
 * The CPU the guest sees, as the source's KVM gave it: the CPUID entries
 * of its vCPUs (before the per-vCPU APIC IDs) and the TSC frequency.
 */
#define KVM_CPU_MODEL_MAX_ENTRIES 256
typedef struct KvmCpuModel {
    uint32_t tsc_khz;           /* 0: the source could not tell */
    uint32_t nent;
    uint32_t entries_len;       /* nent * sizeof(struct kvm_cpuid_entry2) */
    struct kvm_cpuid_entry2 entries[KVM_CPU_MODEL_MAX_ENTRIES];
} KvmCpuModel;

/**
 * kvm_cpu_model_get: the guest's CPU model on the source (main or
 * migration thread; reads vCPU 0's TSC rate).  Fails on an ioctl error.
 */
bool kvm_cpu_model_get(Machine *m, KvmCpuModel *cm, GError **errp);

/**
 * kvm_cpu_model_adopt: on the destination, before any vCPU has run: give
 * the vCPUs the source's CPUID and TSC rate.  Fails with one line naming
 * the reason where this host cannot (another vendor, a feature bit its
 * KVM lacks, a TSC rate it cannot scale to), leaving the VM as it was.
 */
bool kvm_cpu_model_adopt(Machine *m, const KvmCpuModel *cm, GError **errp);

/* The VM-wide kvmclock (KVM_GET_CLOCK); one per machine, not per vCPU. */
typedef struct KvmClockState {
    uint64_t clock;             /* ns */
    uint32_t flags;             /* as returned by KVM_GET_CLOCK (informational) */
    uint32_t reserved;
} KvmClockState;

/**
 * kvm_vcpu_get_state: read the full register state of @cpu into @s.
 * Call with the vCPU stopped (cpu->stopped), from any thread but the
 * vCPU's own.  Every I/O exit has been completed by then (vcpu_exec
 * re-enters KVM_RUN with immediate_exit before it returns), so the state is
 * consistent.  Returns false with *errp naming the failed ioctl.
 */
bool kvm_vcpu_get_state(Vcpu *cpu, KvmVcpuState *s, GError **errp);

/**
 * kvm_vcpu_set_state: load @s into @cpu (the destination of a migration).
 * Call with the vCPU stopped.  Fails (one line in *errp) if the kernel
 * refuses any part, e.g. an MSR this host does not support.
 */
bool kvm_vcpu_set_state(Vcpu *cpu, const KvmVcpuState *s, GError **errp);

/**
 * kvm_clock_get / kvm_clock_set: the VM clock (kvmclock), saved once per
 * machine with the vCPUs stopped; set it on the destination before the
 * vCPUs resume.  Fail only on an ioctl error.
 */
bool kvm_clock_get(Machine *m, KvmClockState *s, GError **errp);
bool kvm_clock_set(Machine *m, const KvmClockState *s, GError **errp);

#endif
