/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Machine-level sections: the machine's shape (checked by the destination
 * before any RAM arrives), the run state the source had ("globalstate", as
 * QEMU names it), and the accelerator's state — the thread accelerator's
 * workload command line, or KVM's registers per vCPU ("cpu") and its clock.
 */
#include <string.h>

#include "accel/accel.h"
#include "accel/kvm.h"
#include "accel/thread.h"
#include "migration/migration-int.h"
#include "util/error.h"
#include "workload.h"

/* ---- "kvmig-machine": early, so a mismatch is refused before RAM ---- */

typedef struct MachineShape {
    MigrationState *s;
    uint64_t ram_size;
    uint32_t smp;
    uint32_t accel_len;
    char accel[32];
    uint32_t devices_len;
    char devices[2048];
} MachineShape;

static void shape_fill(MachineShape *sh, char *accel, uint32_t *alen, char *devices,
                       uint32_t *dlen)
{
    Machine *m = sh->s->m;
    g_autofree char *list = savevm_device_list(sh->s->reg);

    g_strlcpy(accel, m->accel ? m->accel->name : "none", sizeof(sh->accel));
    *alen = strlen(accel);
    g_strlcpy(devices, list, sizeof(sh->devices));
    *dlen = strlen(devices);
}

/* Bytes from the stream, printable on one line of an error (caller frees). */
static char *stream_text(const char *p, uint32_t len)
{
    g_autofree char *raw = g_strndup(p, len);

    return g_strescape(raw, NULL);
}

static bool shape_pre_save(void *opaque, GError **errp)
{
    MachineShape *sh = opaque;

    sh->ram_size = sh->s->m->ram_size;
    sh->smp = sh->s->m->smp;
    shape_fill(sh, sh->accel, &sh->accel_len, sh->devices, &sh->devices_len);
    return true;
}

static bool shape_post_load(void *opaque, int version_id, GError **errp)
{
    MachineShape *sh = opaque;
    Machine *m = sh->s->m;
    char accel[32], devices[2048];
    uint32_t alen, dlen;

    shape_fill(sh, accel, &alen, devices, &dlen);
    if (sh->ram_size != m->ram_size) {
        kvmig_error(errp, "the source has %" G_GUINT64_FORMAT " MiB of RAM, this machine "
                    "%" G_GUINT64_FORMAT " MiB: start the destination with -m %"
                    G_GUINT64_FORMAT "M", sh->ram_size >> 20, m->ram_size >> 20,
                    sh->ram_size >> 20);
        return false;
    }
    if (sh->smp != (uint32_t)m->smp) {
        kvmig_error(errp, "the source has %u vCPUs, this machine %d: start the "
                    "destination with -smp %u", sh->smp, m->smp, sh->smp);
        return false;
    }
    if (sh->accel_len != alen || memcmp(sh->accel, accel, alen)) {
        g_autofree char *theirs = stream_text(sh->accel, sh->accel_len);

        kvmig_error(errp, "the source runs accelerator '%s', this machine '%s'", theirs,
                    accel);
        return false;
    }
    if (sh->devices_len != dlen || memcmp(sh->devices, devices, dlen)) {
        g_autofree char *theirs = stream_text(sh->devices, sh->devices_len);

        kvmig_error(errp, "the source's devices are [%s], this machine's [%s]", theirs,
                    devices);
        return false;
    }
    return true;
}

static const VMStateField shape_fields[] = {
    VMSTATE_UINT64(ram_size, MachineShape),
    VMSTATE_UINT32(smp, MachineShape),
    VMSTATE_UINT32(accel_len, MachineShape),
    VMSTATE_VBUFFER_UINT32(accel, MachineShape, accel_len),
    VMSTATE_UINT32(devices_len, MachineShape),
    VMSTATE_VBUFFER_UINT32(devices, MachineShape, devices_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_machine_shape = {
    .name = "kvmig-machine",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(MachineShape),
    .pre_save = shape_pre_save,
    .post_load = shape_post_load,
    .fields = shape_fields,
};

/* ---- "globalstate": the source's run state before switchover ---- */

typedef struct GlobalState {
    MigrationState *s;
    uint32_t size;
    char runstate[100];
} GlobalState;

static bool globalstate_pre_save(void *opaque, GError **errp)
{
    GlobalState *g = opaque;

    g_strlcpy(g->runstate, runstate_name(g->s->switchover_runstate), sizeof(g->runstate));
    g->size = strlen(g->runstate);
    return true;
}

static bool globalstate_post_load(void *opaque, int version_id, GError **errp)
{
    GlobalState *g = opaque;
    char name[sizeof(g->runstate) + 1];

    memcpy(name, g->runstate, g->size);
    name[g->size] = 0;
    for (int i = 0; i < RUN_STATE__MAX; i++) {
        if (!strcmp(runstate_name(i), name)) {
            g->s->loaded_runstate = i;
            return true;
        }
    }
    {
        g_autofree char *esc = stream_text(name, g->size);

        kvmig_error(errp, "unknown run state '%s' from the source", esc);
    }
    return false;
}

static const VMStateField globalstate_fields[] = {
    VMSTATE_UINT32(size, GlobalState),
    VMSTATE_VBUFFER_UINT32(runstate, GlobalState, size),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_globalstate = {
    .name = "globalstate",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(GlobalState),
    .pre_save = globalstate_pre_save,
    .post_load = globalstate_post_load,
    .fields = globalstate_fields,
};

/* ---- "thread-accel": the workload command line the vCPUs run ---- */

typedef struct ThreadAccelMig {
    Machine *m;
    uint32_t cmdline_len;
    char cmdline[WL_CMDLINE_MAX];
} ThreadAccelMig;

static bool thread_pre_save(void *opaque, GError **errp)
{
    ThreadAccelMig *t = opaque;

    g_strlcpy(t->cmdline, thread_accel_cmdline(t->m), sizeof(t->cmdline));
    t->cmdline_len = strlen(t->cmdline);
    return true;
}

static bool thread_post_load(void *opaque, int version_id, GError **errp)
{
    ThreadAccelMig *t = opaque;
    g_autofree char *cmdline = g_strndup(t->cmdline, t->cmdline_len);

    if (strlen(cmdline) != t->cmdline_len || strchr(cmdline, '\n')) {
        g_autofree char *esc = stream_text(t->cmdline, t->cmdline_len);

        kvmig_error(errp, "malformed workload command line '%s' from the source", esc);
        return false;
    }
    /* the workload's progress is in guest RAM; its configuration is not */
    return thread_accel_set_cmdline(t->m, cmdline, errp);
}

static const VMStateField thread_fields[] = {
    VMSTATE_UINT32(cmdline_len, ThreadAccelMig),
    VMSTATE_VBUFFER_UINT32(cmdline, ThreadAccelMig, cmdline_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_thread_accel = {
    .name = "thread-accel",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(ThreadAccelMig),
    .pre_save = thread_pre_save,
    .post_load = thread_post_load,
    .fields = thread_fields,
};

/* ---- KVM: "cpu" per vCPU and "kvmclock" ---- */

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
 * "kvmig-cpu-model": early, so a destination that cannot give the guest
 * the same CPUID and TSC rate refuses in setup, with the source running.
 */
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

typedef struct MachineSections {
    MachineShape shape;
    GlobalState global;
    ThreadAccelMig thread;
    KvmClockMig clock;
    KvmCpuModelMig cpu_model;
    KvmCpuMig *cpus;
} MachineSections;

bool machine_sections_register(MigrationState *s, GError **errp)
{
    Machine *m = s->m;
    MachineSections *ms = g_new0(MachineSections, 1);
    const char *accel = m->accel ? m->accel->name : "";

    s->machine_sections = ms;
    ms->shape.s = s;
    ms->global.s = s;
    if (!savevm_register_vmsd_early(s->reg, "kvmig-machine", 0, &vmstate_machine_shape,
                                    &ms->shape, errp) ||
        !savevm_register_vmsd(s->reg, "globalstate", 0, &vmstate_globalstate,
                              &ms->global, errp)) {
        return false;
    }
    if (!strcmp(accel, "thread")) {
        ms->thread.m = m;
        return savevm_register_vmsd(s->reg, "thread-accel", 0, &vmstate_thread_accel,
                                    &ms->thread, errp);
    }
    if (!strcmp(accel, "kvm")) {
        ms->cpu_model.m = m;
        if (!savevm_register_vmsd_early(s->reg, "kvmig-cpu-model", 0,
                                        &vmstate_kvm_cpu_model, &ms->cpu_model, errp)) {
            return false;
        }
        ms->cpus = g_new0(KvmCpuMig, m->smp);
        for (int i = 0; i < m->smp; i++) {
            ms->cpus[i].m = m;
            ms->cpus[i].index = i;
            if (!savevm_register_vmsd(s->reg, "cpu", i, &vmstate_kvm_cpu, &ms->cpus[i],
                                      errp)) {
                return false;
            }
        }
        ms->clock.m = m;
        return savevm_register_vmsd(s->reg, "kvmclock", 0, &vmstate_kvmclock, &ms->clock,
                                    errp);
    }
    return true;
}

void machine_sections_free(MigrationState *s)
{
    MachineSections *ms = s->machine_sections;

    if (ms) {
        g_free(ms->cpus);
        g_free(ms);
        s->machine_sections = NULL;
    }
}
