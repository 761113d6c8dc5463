/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The CPU a KVM guest sees and keeps across hosts: its CPUID, its TSC
 * frequency, and the MSRs saved and restored with each vCPU.
 *
 * MSRs are chosen as QEMU's target/i386/kvm/kvm.c does: a candidate is
 * saved only if the vCPU's CPUID has the feature that defines it, and
 * (for the MSRs KVM may lack) if KVM_GET_MSR_INDEX_LIST names it.  Then
 * each survivor must round-trip on a fresh vCPU: read with KVM_GET_MSRS
 * and written back, same value, with KVM_SET_MSRS.  IA32_XSS, for one,
 * reads but refuses its own value on some hosts; saving it would make
 * every restore fail.
 *
 * The CPU model (CPUID entries and TSC kHz) travels in an early section,
 * so a destination that cannot give the guest the same CPU refuses in
 * setup, while the source still runs.  A destination adopts the source's
 * CPUID when its own KVM supports every feature bit of it: the vCPUs of
 * an incoming VM have never run, so KVM_SET_CPUID2 is still allowed.
 *
 * Threads: everything here runs on the main thread, or on the incoming
 * thread with the vCPUs stopped and never run (kvm_cpu_model_adopt).
 */
#include <asm/kvm_para.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm-internal.h"
#include "util/error.h"

enum { R_EAX, R_EBX, R_ECX, R_EDX };

/* A CPUID feature bit: leaf, subleaf, register, bit. */
typedef struct CpuidBit {
    uint32_t fn;
    uint32_t idx;
    uint8_t reg;
    uint8_t bit;
} CpuidBit;

#define NO_GATE { 0, 0, 0, 0 }
#define KVM_CPUID_FEATURES_LEAF 0x40000001u

/* Restore order matters: ASYNC_PF_INT before ASYNC_PF_EN, TSC_ADJUST before TSC. */
typedef struct KvmMsrCandidate {
    uint32_t index;
    bool listed;        /* needs KVM_GET_MSR_INDEX_LIST to name it */
    CpuidBit gate;      /* fn 0: no CPUID gate */
    CpuidBit gate2;     /* alternative gate (either suffices), fn 0: none */
} KvmMsrCandidate;

#define MSR_IA32_FEATURE_CONTROL 0x0000003a
#define MSR_IA32_TSC_ADJUST      0x0000003b
#define MSR_MTRRCAP              0x000000fe
#define MSR_MTRR_PHYSBASE0       0x00000200
#define MSR_MTRR_FIX64K_00000    0x00000250
#define MSR_MTRR_FIX16K_80000    0x00000258
#define MSR_MTRR_FIX16K_A0000    0x00000259
#define MSR_MTRR_FIX4K_C0000     0x00000268  /* ... to 0x26f */
#define MSR_MTRR_DEF_TYPE        0x000002ff
#define MTRR_VCNT_MAX            8           /* as QEMU's MSR_MTRRcap_VCNT */

#define CPUID_1_EDX_MTRR   { 1, 0, R_EDX, 12 }
#define CPUID_LM           { 0x80000001u, 0, R_EDX, 29 }
#define KVM_FEAT(b)        { KVM_CPUID_FEATURES_LEAF, 0, R_EAX, (b) }

static const KvmMsrCandidate kvm_msr_candidates[] = {
    { 0x00000174, false, NO_GATE, NO_GATE },             /* SYSENTER_CS */
    { 0x00000175, false, NO_GATE, NO_GATE },             /* SYSENTER_ESP */
    { 0x00000176, false, NO_GATE, NO_GATE },             /* SYSENTER_EIP */
    { 0x00000277, false, NO_GATE, NO_GATE },             /* PAT */
    { 0x000001a0, true, NO_GATE, NO_GATE },              /* MISC_ENABLE */
    { MSR_IA32_FEATURE_CONTROL, true, NO_GATE, NO_GATE },
    { MSR_MTRR_DEF_TYPE, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX64K_00000, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX16K_80000, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX16K_A0000, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 0, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 1, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 2, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 3, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 4, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 5, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 6, false, CPUID_1_EDX_MTRR, NO_GATE },
    { MSR_MTRR_FIX4K_C0000 + 7, false, CPUID_1_EDX_MTRR, NO_GATE },
    /* the variable-range MTRR pairs follow, as many as MTRRcap says */
    { 0xc0000081, false, CPUID_LM, NO_GATE },            /* STAR */
    { 0xc0000082, false, CPUID_LM, NO_GATE },            /* LSTAR */
    { 0xc0000083, false, CPUID_LM, NO_GATE },            /* CSTAR */
    { 0xc0000084, false, CPUID_LM, NO_GATE },            /* SFMASK */
    { 0xc0000102, false, CPUID_LM, NO_GATE },            /* KERNEL_GS_BASE */
    /* TSC_AUX: RDTSCP or RDPID */
    { 0xc0000103, true, { 0x80000001u, 0, R_EDX, 27 }, { 7, 0, R_ECX, 22 } },
    /* SPEC_CTRL: Intel's IBRS/IBPB bit, or AMD's IBRS */
    { 0x00000048, true, { 7, 0, R_EDX, 26 }, { 0x80000008u, 0, R_EBX, 14 } },
    { 0x00000da0, true, { 0xd, 1, R_EAX, 3 }, NO_GATE },   /* XSS: XSAVES */
    { MSR_KVM_WALL_CLOCK_NEW, true, KVM_FEAT(KVM_FEATURE_CLOCKSOURCE2), NO_GATE },
    { MSR_KVM_SYSTEM_TIME_NEW, true, KVM_FEAT(KVM_FEATURE_CLOCKSOURCE2), NO_GATE },
    { MSR_KVM_ASYNC_PF_INT, true, KVM_FEAT(KVM_FEATURE_ASYNC_PF_INT), NO_GATE },
    { MSR_KVM_ASYNC_PF_EN, true, KVM_FEAT(KVM_FEATURE_ASYNC_PF), NO_GATE },
    { MSR_KVM_STEAL_TIME, true, KVM_FEAT(KVM_FEATURE_STEAL_TIME), NO_GATE },
    { MSR_KVM_PV_EOI_EN, true, KVM_FEAT(KVM_FEATURE_PV_EOI), NO_GATE },
    { MSR_KVM_POLL_CONTROL, true, KVM_FEAT(KVM_FEATURE_POLL_CONTROL), NO_GATE },
    { MSR_IA32_TSC_ADJUST, true, { 7, 0, R_EBX, 1 }, NO_GATE },
    { 0x00000010, false, NO_GATE, NO_GATE },             /* TSC, last */
};
G_STATIC_ASSERT(G_N_ELEMENTS(kvm_msr_candidates) + 2 * MTRR_VCNT_MAX <=
                KVM_VCPU_STATE_MAX_MSRS);

const struct kvm_cpuid_entry2 *kvm_cpuid_find(const struct kvm_cpuid2 *c,
                                              uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->entries[i];

        if (e->function == fn &&
            (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == idx)) {
            return e;
        }
    }
    return NULL;
}

static uint32_t cpuid_reg(const struct kvm_cpuid_entry2 *e, unsigned reg)
{
    switch (reg) {
    case R_EAX:
        return e->eax;
    case R_EBX:
        return e->ebx;
    case R_ECX:
        return e->ecx;
    default:
        return e->edx;
    }
}

static bool cpuid_has(const struct kvm_cpuid2 *c, const CpuidBit *b)
{
    const struct kvm_cpuid_entry2 *e;

    if (!b->fn) {
        return false;
    }
    e = kvm_cpuid_find(c, b->fn, b->idx);
    return e && (cpuid_reg(e, b->reg) >> b->bit) & 1;
}

bool kvm_msr_list_init(KvmState *s, GError **errp)
{
    struct kvm_msr_list probe = { .nmsrs = 0 };
    g_autofree struct kvm_msr_list *list = NULL;

    /* The first call fails with E2BIG and says how many there are. */
    if (ioctl(s->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
        kvmig_error_errno(errp, errno, "KVM_GET_MSR_INDEX_LIST failed");
        return false;
    }
    list = g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    list->nmsrs = probe.nmsrs;
    if (probe.nmsrs && ioctl(s->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        kvmig_error_errno(errp, errno, "KVM_GET_MSR_INDEX_LIST failed");
        return false;
    }
    s->msr_list = g_memdup2(list->indices, list->nmsrs * sizeof(uint32_t));
    s->nmsr_list = list->nmsrs;
    return true;
}

static bool kvm_msr_listed(const KvmState *s, uint32_t index)
{
    for (uint32_t i = 0; i < s->nmsr_list; i++) {
        if (s->msr_list[i] == index) {
            return true;
        }
    }
    return false;
}

/*
 * One MSR through KVM_GET_MSRS or KVM_SET_MSRS (@req); false if KVM will
 * not.  On the heap: struct kvm_msrs ends in a flexible array.
 */
static bool kvm_msr_io(int fd, unsigned long req, uint32_t index, uint64_t *val)
{
    g_autofree struct kvm_msrs *m = g_malloc0(sizeof(*m) + sizeof(m->entries[0]));

    m->nmsrs = 1;
    m->entries[0].index = index;
    m->entries[0].data = *val;
    if (ioctl(fd, req, m) != 1) {
        return false;
    }
    *val = m->entries[0].data;
    return true;
}

/* Keep @index if it reads and takes its own value back. */
static void kvm_msr_try(KvmVcpu *v, uint32_t index)
{
    uint64_t val = 0;

    if (v->nmsrs < KVM_VCPU_STATE_MAX_MSRS && kvm_msr_io(v->fd, KVM_GET_MSRS, index, &val) &&
        kvm_msr_io(v->fd, KVM_SET_MSRS, index, &val)) {
        v->msr_index[v->nmsrs++] = index;
    }
}

void kvm_vcpu_choose_msrs(KvmState *s, KvmVcpu *v, const struct kvm_cpuid2 *cpuid)
{
    v->nmsrs = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(kvm_msr_candidates); i++) {
        const KvmMsrCandidate *c = &kvm_msr_candidates[i];

        if ((c->gate.fn || c->gate2.fn) &&
            !cpuid_has(cpuid, &c->gate) && !cpuid_has(cpuid, &c->gate2)) {
            continue;
        }
        if (c->listed && !kvm_msr_listed(s, c->index)) {
            continue;
        }
        kvm_msr_try(v, c->index);
        if (c->index == MSR_MTRR_FIX4K_C0000 + 7) {
            uint64_t cap = 0;
            unsigned vcnt;

            kvm_msr_io(v->fd, KVM_GET_MSRS, MSR_MTRRCAP, &cap);
            vcnt = MIN((unsigned)(cap & 0xff), MTRR_VCNT_MAX);
            for (unsigned r = 0; r < vcnt; r++) {
                kvm_msr_try(v, MSR_MTRR_PHYSBASE0 + 2 * r);
                kvm_msr_try(v, MSR_MTRR_PHYSBASE0 + 2 * r + 1);
            }
        }
    }
}

/* ---- the CPU model in the stream ---- */

/* Feature words a guest may depend on: the destination must offer each bit. */
static const struct {
    uint32_t fn, idx;
    uint8_t reg;
    const char *name;
} kvm_feature_words[] = {
    { 1, 0, R_ECX, "1.ECX" },
    { 1, 0, R_EDX, "1.EDX" },
    { 6, 0, R_EAX, "6.EAX" },
    { 7, 0, R_EBX, "7.0.EBX" },
    { 7, 0, R_ECX, "7.0.ECX" },
    { 7, 0, R_EDX, "7.0.EDX" },
    { 7, 1, R_EAX, "7.1.EAX" },
    { 0xd, 1, R_EAX, "0xD.1.EAX" },
    { 0x80000001u, 0, R_ECX, "0x80000001.ECX" },
    { 0x80000001u, 0, R_EDX, "0x80000001.EDX" },
    { 0x80000007u, 0, R_EDX, "0x80000007.EDX" },
    { 0x80000008u, 0, R_EBX, "0x80000008.EBX" },
    { KVM_CPUID_FEATURES_LEAF, 0, R_EAX, "0x40000001.EAX (KVM)" },
};

static void cpuid_vendor(const struct kvm_cpuid2 *c, char out[13])
{
    const struct kvm_cpuid_entry2 *e = kvm_cpuid_find(c, 0, 0);

    memset(out, 0, 13);
    if (e) {
        memcpy(out, &e->ebx, 4);
        memcpy(out + 4, &e->edx, 4);
        memcpy(out + 8, &e->ecx, 4);
        for (int i = 0; i < 12; i++) {
            if (out[i] < 0x20 || out[i] > 0x7e) {
                out[i] = '?';
            }
        }
    }
}

bool kvm_cpu_model_get(Machine *m, KvmCpuModel *cm, GError **errp)
{
    KvmState *s = kvm_state(m);
    const struct kvm_cpuid2 *c = s->guest_cpuid;

    memset(cm, 0, sizeof(*cm));
    if (c->nent > KVM_CPU_MODEL_MAX_ENTRIES) {
        kvmig_error(errp, "the guest's CPUID has %u entries, the stream carries at "
                    "most %d", c->nent, KVM_CPU_MODEL_MAX_ENTRIES);
        return false;
    }
    cm->tsc_khz = s->tsc_khz;      /* cached: vCPU 0 may be running */
    cm->nent = c->nent;
    cm->entries_len = c->nent * sizeof(struct kvm_cpuid_entry2);
    memcpy(cm->entries, c->entries, cm->entries_len);
    return true;
}

static bool cpu_model_check(KvmState *s, const struct kvm_cpuid2 *theirs, GError **errp)
{
    char v_theirs[13], v_ours[13];

    cpuid_vendor(theirs, v_theirs);
    cpuid_vendor(s->cpuid, v_ours);
    if (strcmp(v_theirs, v_ours)) {
        kvmig_error(errp, "the guest runs on a %s CPU, this host is %s: KVM cannot "
                    "move a guest between vendors", v_theirs, v_ours);
        return false;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(kvm_feature_words); i++) {
        const struct kvm_cpuid_entry2 *t, *o;
        uint32_t want, have, missing;

        t = kvm_cpuid_find(theirs, kvm_feature_words[i].fn, kvm_feature_words[i].idx);
        if (!t) {
            continue;
        }
        o = kvm_cpuid_find(s->cpuid, kvm_feature_words[i].fn, kvm_feature_words[i].idx);
        want = cpuid_reg(t, kvm_feature_words[i].reg);
        have = o ? cpuid_reg(o, kvm_feature_words[i].reg) : 0;
        missing = want & ~have;
        if (missing) {
            kvmig_error(errp, "the guest's CPU has CPUID %s bit %d, which this host's "
                        "KVM cannot offer (guest 0x%08x, host 0x%08x)",
                        kvm_feature_words[i].name, __builtin_ctz(missing), want, have);
            return false;
        }
    }
    return true;
}

static bool cpu_model_set_tsc(Machine *m, uint32_t khz, GError **errp)
{
    KvmState *s = kvm_state(m);
    uint32_t ours = s->tsc_khz;

    if (!khz || !ours || ours == khz) {
        return true;    /* unknown on either side, or the same rate */
    }
    if (!s->has_tsc_control) {
        kvmig_error(errp, "the guest's TSC runs at %u kHz, this host's at %u kHz, and "
                    "its KVM cannot scale it (no KVM_CAP_TSC_CONTROL)", khz, ours);
        return false;
    }
    for (int i = 0; i < m->smp; i++) {
        if (ioctl(kvm_vcpu_fd(m->vcpus[i]), KVM_SET_TSC_KHZ, (unsigned long)khz) < 0) {
            kvmig_error_errno(errp, errno, "KVM_SET_TSC_KHZ (%u kHz, host %u kHz) on "
                              "vCPU %d failed", khz, ours, i);
            return false;
        }
    }
    s->tsc_khz = khz;
    return true;
}

bool kvm_cpu_model_adopt(Machine *m, const KvmCpuModel *cm, GError **errp)
{
    KvmState *s = kvm_state(m);
    g_autofree struct kvm_cpuid2 *theirs = NULL;
    size_t bytes;

    if (cm->nent > KVM_CPU_MODEL_MAX_ENTRIES ||
        cm->entries_len != cm->nent * sizeof(struct kvm_cpuid_entry2)) {
        kvmig_error(errp, "malformed CPU model from the source: %u CPUID entries in "
                    "%u bytes", cm->nent, cm->entries_len);
        return false;
    }
    bytes = cm->entries_len;
    theirs = g_malloc0(sizeof(*theirs) + bytes);
    theirs->nent = cm->nent;
    memcpy(theirs->entries, cm->entries, bytes);
    if (!cpu_model_check(s, theirs, errp)) {
        return false;
    }
    if (theirs->nent != s->guest_cpuid->nent ||
        memcmp(theirs->entries, s->guest_cpuid->entries, bytes)) {
        g_free(s->guest_cpuid);
        s->guest_cpuid = g_steal_pointer(&theirs);
        for (int i = 0; i < m->smp; i++) {
            if (!kvm_vcpu_apply_cpuid(m->vcpus[i], errp)) {
                return false;
            }
        }
    }
    return cpu_model_set_tsc(m, cm->tsc_khz, errp);
}
