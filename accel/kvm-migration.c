/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KVM accelerator's migration sections: the CPU model ("kvmig-cpu-model",
 * early), each vCPU's registers ("cpu") and the VM clock ("kvmclock").  The
 * state itself is read and written by kvm-cpu.c, kvm-vcpu.c and kvm.c;
 * this file only describes it to the section layer.  Registered by
 * kvm_init (accel-migration.h says when and why there).
 */
#include "accel/accel-migration.h"
#include "accel/kvm.h"
#include "migration/register.h"
#include "util/error.h"

/* ---- "cpu": one per vCPU ---- */

/* st first: the vmstate offsets are into KvmVcpuState */
typedef struct KvmCpuMig {
    KvmVcpuState st;
    Machine *m;
    int index;
} KvmCpuMig;

static bool kvm_cpu_pre_save(void *opaque, GError **errp)
{
    KvmCpuMig *c = opaque;

    return kvm_vcpu_get_state(c->m->vcpus[c->index], &c->st, errp);
}

static bool kvm_cpu_post_load(void *opaque, int version_id, GError **errp)
{
    KvmCpuMig *c = opaque;

    if (c->st.nmsrs > KVM_VCPU_STATE_MAX_MSRS) {
        kvmig_error(errp, "vCPU %d: %u MSRs, at most %d", c->index, c->st.nmsrs,
                    KVM_VCPU_STATE_MAX_MSRS);
        return false;
    }
    return kvm_vcpu_set_state(c->m->vcpus[c->index], &c->st, errp);
}

/*
 * The kernel ABI structs are fixed-layout and host-endian on both ends
 * (x86-64 to x86-64), so they travel as byte buffers.
 */
static const VMStateField kvm_cpu_fields[] = {
    VMSTATE_UINT32(flags, KvmVcpuState),
    VMSTATE_UINT32(nmsrs, KvmVcpuState),
    VMSTATE_BUFFER(regs, KvmVcpuState),
    VMSTATE_BUFFER(sregs, KvmVcpuState),
    VMSTATE_UINT32(xsave_len, KvmVcpuState),
    VMSTATE_VBUFFER_UINT32(xsave, KvmVcpuState, xsave_len),
    VMSTATE_BUFFER(fpu, KvmVcpuState),
    VMSTATE_BUFFER(xcrs, KvmVcpuState),
    VMSTATE_BUFFER(mp_state, KvmVcpuState),
    VMSTATE_BUFFER(events, KvmVcpuState),
    VMSTATE_BUFFER(debugregs, KvmVcpuState),
    VMSTATE_BUFFER(msrs, KvmVcpuState),
    VMSTATE_END_OF_LIST(),
};

/*
 * Version 2: 64 MSR slots (the MTRRs and paravirtual MSRs joined) and an
 * XSAVE area of xsave_len bytes (KVM_GET_XSAVE2).  Version 1 streams are
 * refused: their MSR array has another size.
 */
static const VMStateDescription vmstate_kvm_cpu = {
    .name = "cpu",
    .version_id = 2,
    .minimum_version_id = 2,
    .size = sizeof(KvmVcpuState),
    .pre_save = kvm_cpu_pre_save,
    .post_load = kvm_cpu_post_load,
    .fields = kvm_cpu_fields,
};

/*
 * ---- "kvmig-cpu-model": early, so a destination that cannot give the
 * guest the same CPUID and TSC rate refuses in setup, with the source
 * running ----
 */

/* cm first: the vmstate offsets are into KvmCpuModel */
typedef struct KvmCpuModelMig {
    KvmCpuModel cm;
    Machine *m;
} KvmCpuModelMig;

static bool cpu_model_pre_save(void *opaque, GError **errp)
{
    KvmCpuModelMig *c = opaque;

    return kvm_cpu_model_get(c->m, &c->cm, errp);
}

static bool cpu_model_post_load(void *opaque, int version_id, GError **errp)
{
    KvmCpuModelMig *c = opaque;

    return kvm_cpu_model_adopt(c->m, &c->cm, errp);
}

static const VMStateField cpu_model_fields[] = {
    VMSTATE_UINT32(tsc_khz, KvmCpuModel),
    VMSTATE_UINT32(nent, KvmCpuModel),
    VMSTATE_UINT32(entries_len, KvmCpuModel),
    VMSTATE_VBUFFER_UINT32(entries, KvmCpuModel, entries_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_cpu_model = {
    .name = "kvmig-cpu-model",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(KvmCpuModel),
    .pre_save = cpu_model_pre_save,
    .post_load = cpu_model_post_load,
    .fields = cpu_model_fields,
};

/* ---- "kvmclock": one per machine ---- */

/* st first: the vmstate offsets are into KvmClockState */
typedef struct KvmClockMig {
    KvmClockState st;
    Machine *m;
} KvmClockMig;

static bool kvmclock_pre_save(void *opaque, GError **errp)
{
    KvmClockMig *c = opaque;

    return kvm_clock_get(c->m, &c->st, errp);
}

static bool kvmclock_post_load(void *opaque, int version_id, GError **errp)
{
    KvmClockMig *c = opaque;

    return kvm_clock_set(c->m, &c->st, errp);
}

static const VMStateField kvmclock_fields[] = {
    VMSTATE_UINT64(clock, KvmClockState),
    VMSTATE_UINT32(flags, KvmClockState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvmclock = {
    .name = "kvmclock",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(KvmClockState),
    .pre_save = kvmclock_pre_save,
    .post_load = kvmclock_post_load,
    .fields = kvmclock_fields,
};

/* ---- registration ---- */

struct KvmMigration {
    KvmCpuModelMig cpu_model;
    KvmClockMig clock;
    KvmCpuMig *cpus;            /* m->smp of them */
};

KvmMigration *kvm_migration_register(Machine *m, GError **errp)
{
    KvmMigration *km = g_new0(KvmMigration, 1);

    km->cpu_model.m = m;
    km->clock.m = m;
    km->cpus = g_new0(KvmCpuMig, m->smp);
    /* the stream's order: the CPU model, every vCPU, the clock */
    if (!vmstate_register_early(m, "kvmig-cpu-model", 0, &vmstate_kvm_cpu_model,
                                &km->cpu_model, errp)) {
        goto fail;
    }
    for (int i = 0; i < m->smp; i++) {
        km->cpus[i].m = m;
        km->cpus[i].index = i;
        if (!vmstate_register(m, "cpu", i, &vmstate_kvm_cpu, &km->cpus[i], errp)) {
            goto fail;
        }
    }
    if (!vmstate_register(m, "kvmclock", 0, &vmstate_kvmclock, &km->clock, errp)) {
        goto fail;
    }
    return km;

fail:
    /* a failed init ends kvmig before any save: the entries made so far are never used */
    kvm_migration_free(km);
    return NULL;
}

void kvm_migration_free(KvmMigration *km)
{
    if (km) {
        g_free(km->cpus);
        g_free(km);
    }
}
