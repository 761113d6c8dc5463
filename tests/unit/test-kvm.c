/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the KVM accelerator: a clean one-line failure where
 * /dev/kvm is missing, and, where it opens, a tiny Multiboot guest run on
 * the test's own thread (port I/O, HLT, kick, dirty log, register state).
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "accel/accel.h"
#include "accel/kvm.h"
#include "system/machine.h"
#include "system/memory.h"
#include "util/bitmap.h"

#define TEST_PORT 0x510
#define GUEST_PADDR 0x100000u
#define GUEST_ENTRY (GUEST_PADDR + 0x10)
#define GUEST_STORE 0x200000u

static void test_ops_table(void)
{
    const AccelOps *o = &kvm_accel_ops;

    g_assert_cmpstr(o->name, ==, "kvm");
    g_assert_nonnull(o->init);
    g_assert_nonnull(o->map_ram);
    g_assert_nonnull(o->load_guest);
    g_assert_nonnull(o->vcpu_init);
    g_assert_nonnull(o->vcpu_exec);
    g_assert_nonnull(o->vcpu_kick);
    g_assert_nonnull(o->log_start);
    g_assert_nonnull(o->log_sync);
    g_assert_nonnull(o->log_stop);
    g_assert_nonnull(o->log_clear);
}

static void test_init_fails_cleanly(void)
{
    GError *err = NULL;
    Machine *m;

    if (kvm_available()) {
        g_test_skip("/dev/kvm opens here; the failure path is not reachable");
        return;
    }
    m = machine_new(16 << 20, 1, &err);
    g_assert_no_error(err);
    g_assert_false(kvm_accel_ops.init(m, &err));
    g_assert_nonnull(err);
    g_assert_true(g_str_has_prefix(err->message,
                                   "Could not access KVM kernel module: "));
    g_assert_null(strchr(err->message, '\n'));
    g_assert_null(m->accel_state);
    kvm_accel_ops.log_stop(m);      /* harmless without a VM */
    g_error_free(err);
    machine_free(m);
}

/* ---- with /dev/kvm ---- */

typedef struct TestPort {
    int writes;
    uint8_t last;
} TestPort;

static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
    return 0x99;
}

static void port_write(void *opaque, uint64_t offset, uint64_t value,
                       unsigned size)
{
    TestPort *tp = opaque;

    tp->writes++;
    tp->last = value;
}

static const IoOps port_ops = { .read = port_read, .write = port_write };

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

/* A 32-bit ELF: Multiboot header, then out/in on TEST_PORT, store, hlt, jmp $. */
static char *write_guest(const char *dir)
{
    static const uint8_t code[] = {
        0x66, 0xba, TEST_PORT & 0xff, TEST_PORT >> 8,   /* mov dx, TEST_PORT */
        0xb0, 0x42,                                     /* mov al, 0x42 */
        0xee,                                           /* out dx, al */
        0xec,                                           /* in al, dx */
        0xa3, 0x00, 0x00, 0x20, 0x00,                   /* mov [GUEST_STORE], eax */
        0xf4,                                           /* hlt */
        0xeb, 0xfe,                                     /* jmp $ */
    };
    uint8_t elf[0x1100] = { 0 };
    uint8_t *ph = elf + 52, *seg = elf + 0x1000;
    char *path = g_build_filename(dir, "guest.elf", NULL);
    GError *err = NULL;

    memcpy(elf, "\x7f" "ELF\x01\x01\x01", 7);
    elf[16] = 2;                    /* ET_EXEC */
    elf[18] = 3;                    /* EM_386 */
    elf[20] = 1;
    put32(elf + 24, GUEST_ENTRY);
    put32(elf + 28, 52);            /* e_phoff */
    elf[40] = 52;                   /* e_ehsize */
    elf[42] = 32;                   /* e_phentsize */
    elf[44] = 1;                    /* e_phnum */
    put32(ph, 1);                   /* PT_LOAD */
    put32(ph + 4, 0x1000);
    put32(ph + 8, GUEST_PADDR);
    put32(ph + 12, GUEST_PADDR);
    put32(ph + 16, 0x100);
    put32(ph + 20, 0x100);
    put32(seg, 0x1BADB002);
    put32(seg + 4, 0);
    put32(seg + 8, -0x1BADB002u);
    memcpy(seg + 0x10, code, sizeof(code));
    g_file_set_contents(path, (const char *)elf, sizeof(elf), &err);
    g_assert_no_error(err);
    return path;
}

typedef struct Kicker {
    Vcpu *cpu;
    int done;
} Kicker;

static gpointer kicker(gpointer opaque)
{
    Kicker *k = opaque;

    /* Kick every 100 ms until the vCPU thread says it is out (60 s max). */
    for (int i = 0; i < 600; i++) {
        g_usleep(100000);
        if (__atomic_load_n(&k->done, __ATOMIC_SEQ_CST)) {
            break;
        }
        __atomic_store_n(&k->cpu->exit_request, 1, __ATOMIC_SEQ_CST);
        kvm_accel_ops.vcpu_kick(k->cpu);
    }
    return NULL;
}

static bool kvm_cases_skip(void);

static void test_run_guest(void)
{
    GError *err = NULL;
    TestPort tp = { 0 };
    g_autofree char *dir = NULL, *path = NULL;
    g_autofree unsigned long *bmap = NULL;
    g_autofree KvmVcpuState *s1 = g_new0(KvmVcpuState, 1);
    g_autofree KvmVcpuState *s2 = g_new0(KvmVcpuState, 1);
    KvmClockState clk;
    RAMBlock *rb;
    Machine *m;
    Vcpu *cpu;
    GThread *t;
    Kicker k = { 0 };
    uint32_t stored = 0;

    if (kvm_cases_skip()) {
        return;
    }
    dir = g_dir_make_tmp("kvmig-kvm-XXXXXX", &err);
    g_assert_no_error(err);
    path = write_guest(dir);

    m = machine_new(16 << 20, 1, &err);
    g_assert_no_error(err);
    machine_register_pio(m, TEST_PORT, 1, &port_ops, &tp);
    g_assert_true(kvm_accel_ops.init(m, &err));
    g_assert_no_error(err);
    for (unsigned i = 0; i < m->nr_mappings; i++) {
        g_assert_true(kvm_accel_ops.map_ram(m, &m->mappings[i], &err));
        g_assert_no_error(err);
    }
    cpu = g_new0(Vcpu, 1);
    cpu->machine = m;
    cpu->index = 0;
    k.cpu = cpu;
    g_assert_true(kvm_accel_ops.vcpu_init(cpu, &err));
    g_assert_no_error(err);
    m->vcpus[0] = cpu;
    g_free(m->kernel_path);
    m->kernel_path = g_strdup(path);
    g_assert_true(kvm_accel_ops.load_guest(m, &err));
    g_assert_no_error(err);

    /* The Multiboot entry state. */
    g_assert_true(kvm_vcpu_get_state(cpu, s1, &err));
    g_assert_no_error(err);
    g_assert_cmphex(s1->regs.rip, ==, GUEST_ENTRY);
    g_assert_cmphex(s1->regs.rax, ==, 0x2BADB002);
    g_assert_cmphex(s1->regs.rflags, ==, 2);
    g_assert_cmphex(s1->sregs.cr0 & 0x80000001, ==, 1);
    g_assert_cmpuint(s1->sregs.cs.db, ==, 1);
    g_assert_cmphex(s1->sregs.cs.limit, ==, 0xffffffff);
    g_assert_cmpuint(s1->mp_state.mp_state, ==, KVM_MP_STATE_RUNNABLE);

    /*
     * Dirty logging on.  Whatever log_start's initial state is (all set
     * with KVM_DIRTY_LOG_INITIALLY_SET), nothing is re-armed until
     * log_clear: a sync before it may report every page, after it only
     * what the guest wrote.
     */
    rb = m->mappings[0].block;
    bmap = bitmap_new(rb->npages);
    g_assert_true(kvm_accel_ops.log_start(m, &err));
    g_assert_no_error(err);
    kvm_accel_ops.log_clear(m, rb, 0, rb->npages);
    g_assert_true(kvm_accel_ops.log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);

    /* Run: out, in, store, hlt. */
    kvm_accel_ops.vcpu_thread_init(cpu);
    cpu->exit_request = 0;
    g_assert_cmpint(kvm_accel_ops.vcpu_exec(cpu), ==, VCPU_EXIT_HALT);
    g_assert_cmpint(tp.writes, ==, 1);
    g_assert_cmpuint(tp.last, ==, 0x42);
    g_assert_true(gpa_read(m, GUEST_STORE, &stored, sizeof(stored)));
    g_assert_cmphex(stored, ==, 0x2BADB099);

    g_assert_true(kvm_accel_ops.log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    g_assert_true(test_bit(GUEST_STORE >> 12, bmap));
    g_assert_false(test_bit((GUEST_STORE >> 12) + 1, bmap));
    g_assert_false(test_bit(0x800, bmap));

    /* Not re-armed: reported again; re-armed: not, until written again. */
    memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
    g_assert_true(kvm_accel_ops.log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    g_assert_true(test_bit(GUEST_STORE >> 12, bmap));
    kvm_accel_ops.log_clear(m, rb, GUEST_STORE >> 12, 1);
    memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
    g_assert_true(kvm_accel_ops.log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);

    /* Now spinning in jmp $: a kick from another thread gets it out. */
    t = g_thread_new("kicker", kicker, &k);
    g_assert_cmpint(kvm_accel_ops.vcpu_exec(cpu), ==, VCPU_EXIT_KICKED);
    __atomic_store_n(&k.done, 1, __ATOMIC_SEQ_CST);
    g_thread_join(t);

    /* State round trip. */
    g_assert_true(kvm_vcpu_get_state(cpu, s1, &err));
    g_assert_no_error(err);
    g_assert_cmphex(s1->regs.rip, ==, GUEST_ENTRY + 14);
    g_assert_cmpuint(s1->nmsrs, >, 0);
    s1->regs.rbx = 0x1234;
    g_assert_true(kvm_vcpu_set_state(cpu, s1, &err));
    g_assert_no_error(err);
    g_assert_true(kvm_vcpu_get_state(cpu, s2, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(&s1->regs, sizeof(s1->regs), &s2->regs, sizeof(s2->regs));
    g_assert_cmphex(s2->sregs.cr0, ==, s1->sregs.cr0);
    g_assert_cmpuint(s2->nmsrs, ==, s1->nmsrs);
    g_assert_cmpuint(s2->flags, ==, s1->flags);

    g_assert_true(kvm_clock_get(m, &clk, &err));
    g_assert_no_error(err);
    g_assert_true(kvm_clock_set(m, &clk, &err));
    g_assert_no_error(err);

    kvm_accel_ops.log_stop(m);
    kvm_accel_ops.log_stop(m);      /* cheap and harmless when off */
    kvm_accel_ops.vcpu_destroy(cpu);
    m->vcpus[0] = NULL;
    g_free(cpu);
    kvm_accel_ops.destroy(m);
    machine_free(m);
    g_unlink(path);
    g_rmdir(dir);
}

static bool kvm_cases_skip(void)
{
    if (g_strcmp0(g_getenv("KVMIG_KVM_TESTS"), "disabled") == 0) {
        g_test_skip("KVM cases disabled (-Dkvm_tests=disabled)");
        return true;
    }
    if (!kvm_available()) {
        if (g_strcmp0(g_getenv("KVMIG_KVM_TESTS"), "enabled") == 0) {
            g_test_fail_printf("/dev/kvm cannot be opened and -Dkvm_tests=enabled");
        } else {
            g_test_skip("/dev/kvm cannot be opened");
        }
        return true;
    }
    return false;
}

static struct kvm_cpuid_entry2 *model_entry(KvmCpuModel *cm, uint32_t fn)
{
    for (uint32_t i = 0; i < cm->nent; i++) {
        if (cm->entries[i].function == fn) {
            return &cm->entries[i];
        }
    }
    return NULL;
}

/*
 * The CPU model a source sends, and what a destination does with it: its
 * own model is adopted as is; another vendor, a feature bit this host's
 * KVM lacks, or a malformed model is refused in one line.  Every MSR
 * chosen for the vCPU survives a get/set round trip.
 */
static void test_cpu_model(void)
{
    GError *err = NULL;
    g_autofree KvmCpuModel *cm = g_new0(KvmCpuModel, 1);
    g_autofree KvmCpuModel *bad = g_new0(KvmCpuModel, 1);
    g_autofree KvmVcpuState *st = g_new0(KvmVcpuState, 1);
    struct kvm_cpuid_entry2 *e;
    Machine *m;
    Vcpu *cpu;

    if (kvm_cases_skip()) {
        return;
    }
    m = machine_new(16 << 20, 1, &err);
    g_assert_no_error(err);
    g_assert_true(kvm_accel_ops.init(m, &err));
    g_assert_no_error(err);
    cpu = g_new0(Vcpu, 1);
    cpu->machine = m;
    g_assert_true(kvm_accel_ops.vcpu_init(cpu, &err));
    g_assert_no_error(err);
    m->vcpus[0] = cpu;

    g_assert_true(kvm_cpu_model_get(m, cm, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(cm->nent, >, 0);
    g_assert_cmpuint(cm->entries_len, ==, cm->nent * sizeof(struct kvm_cpuid_entry2));
    g_assert_true(kvm_cpu_model_adopt(m, cm, &err));
    g_assert_no_error(err);

    /* every chosen MSR writes back (IA32_XSS did not, on a nested host) */
    g_assert_true(kvm_vcpu_get_state(cpu, st, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(st->nmsrs, >=, 8);
    g_assert_true(kvm_vcpu_set_state(cpu, st, &err));
    g_assert_no_error(err);

    memcpy(bad, cm, sizeof(*cm));
    e = model_entry(bad, 0);
    g_assert_nonnull(e);
    e->ebx ^= 0x20202020;           /* another vendor string */
    g_assert_false(kvm_cpu_model_adopt(m, bad, &err));
    g_assert_nonnull(strstr(err->message, "vendor"));
    g_assert_null(strchr(err->message, '\n'));
    g_clear_error(&err);

    memcpy(bad, cm, sizeof(*cm));
    e = model_entry(bad, 7);
    g_assert_nonnull(e);
    g_assert_cmphex(~e->ebx, !=, 0);
    e->ebx |= 1u << __builtin_ctz(~e->ebx);     /* a 7.0.EBX bit KVM does not offer */
    g_assert_false(kvm_cpu_model_adopt(m, bad, &err));
    g_assert_nonnull(strstr(err->message, "CPUID 7.0.EBX bit"));
    g_clear_error(&err);

    memcpy(bad, cm, sizeof(*cm));
    bad->entries_len += 1;          /* not nent entries */
    g_assert_false(kvm_cpu_model_adopt(m, bad, &err));
    g_assert_nonnull(strstr(err->message, "malformed"));
    g_clear_error(&err);

    /* the refusals left the VM as it was: its own model still adopts */
    g_assert_true(kvm_cpu_model_adopt(m, cm, &err));
    g_assert_no_error(err);

    kvm_accel_ops.vcpu_destroy(cpu);
    m->vcpus[0] = NULL;
    g_free(cpu);
    kvm_accel_ops.destroy(m);
    machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/kvm/ops-table", test_ops_table);
    g_test_add_func("/kvm/init-fails-cleanly", test_init_fails_cleanly);
    g_test_add_func("/kvm/run-guest", test_run_guest);
    g_test_add_func("/kvm/cpu-model", test_cpu_model);
    return g_test_run();
}
