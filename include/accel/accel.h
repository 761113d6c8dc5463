/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Accelerator operations: how vCPUs run and how guest writes are tracked.
 * Two implementations: "kvm" (accel/kvm.c) and "thread" (accel/thread.c).
 *
 * The generic vCPU loop (system/cpus.c) owns each vCPU thread and calls
 * vcpu_exec() while the machine is running; pause and resume are generic
 * (cpu->stop under run_lock + vcpu_kick()).
 */
#ifndef KVMIG_ACCEL_ACCEL_H
#define KVMIG_ACCEL_ACCEL_H

#include <glib.h>
#include <stdbool.h>

#include "system/machine.h"

typedef enum VcpuExit {
    VCPU_EXIT_KICKED,       /* returned because of a kick/exit_request: loop again */
    VCPU_EXIT_HALT,         /* idle; the generic loop waits for a kick */
    VCPU_EXIT_SHUTDOWN,     /* guest asked to power off: SHUTDOWN, exit 0 */
    VCPU_EXIT_RESET,        /* triple fault or reset request: kvmig has no
                             * reset, so SHUTDOWN "guest-reset", exit 1 */
    VCPU_EXIT_PANIC,        /* guest crash report: SHUTDOWN "guest-panic", exit 1 */
    VCPU_EXIT_ERROR,        /* emulation failure / internal error: the VM
                             * stops in run state internal-error (STOP) */
} VcpuExit;

struct AccelOps {
    const char *name;

    /*
     * init: main thread, once, after machine_new() and migration_new() and
     * before anything else.  Opens the accelerator and sets m->accel_state.
     * When m->migration exists it also registers the accelerator's own
     * migration sections (vmstate_register; accel/accel-migration.h), so
     * that they follow the machine's and precede the devices'.  May fail
     * (no /dev/kvm): the caller reports *errp.
     */
    bool (*init)(Machine *m, GError **errp);

    /* map_ram: main thread, once per m->mappings[] entry, after init. */
    bool (*map_ram)(Machine *m, MemMapping *map, GError **errp);

    /*
     * load_guest: main thread, after all vCPUs are initialised: put the boot
     * image into RAM (through gpa_write) and set every vCPU's initial state.
     * Not called on an incoming migration's destination (state arrives
     * with the stream).
     */
    bool (*load_guest)(Machine *m, GError **errp);

    /* vcpu_init: main thread; sets cpu->accel. */
    bool (*vcpu_init)(Vcpu *cpu, GError **errp);

    /* vcpu_thread_init: on the vCPU thread, once, before the first exec. May be NULL. */
    void (*vcpu_thread_init)(Vcpu *cpu);

    /*
     * vcpu_exec: on the vCPU thread, while the machine runs.  Runs the guest
     * until cpu->exit_request is set (by vcpu_kick), the guest halts, or it
     * shuts down.  The generic loop clears exit_request before calling.
     */
    VcpuExit (*vcpu_exec)(Vcpu *cpu);

    /* vcpu_kick: any thread; make vcpu_exec return soon.  exit_request is
     * already set when this is called. */
    void (*vcpu_kick)(Vcpu *cpu);

    /*
     * throttle_in_exec: true if vcpu_exec yields to the throttle by itself
     * (calls cpu_throttle_due() at its yield points and sleeps there);
     * false: system/cpu-throttle.c kicks the vCPU out of vcpu_exec when its
     * share of each slice is used and the generic loop sleeps the rest.
     */
    bool throttle_in_exec;

    /* vcpu_destroy: main thread after the vCPU thread exited. May be NULL. */
    void (*vcpu_destroy)(Vcpu *cpu);

    /*
     * Dirty logging, driven by the migration thread (never concurrently with
     * itself).  log_start begins tracking every page of every block; after
     * it, log_sync ORs into @bitmap (one bit per page of @rb) every page
     * written since the previous sync of that block (or since log_start) and
     * re-arms tracking for them.  log_stop ends tracking; it must be cheap
     * to call when logging is off.
     */
    bool (*log_start)(Machine *m, GError **errp);
    bool (*log_sync)(Machine *m, RAMBlock *rb, unsigned long *bitmap, GError **errp);
    void (*log_stop)(Machine *m);

    /*
     * log_clear: may be NULL (then log_sync re-arms what it reports).
     * Lazy re-arming, as QEMU's clear_bmap: pages log_sync reported (and,
     * with KVM_DIRTY_LOG_INITIALLY_SET, every page from log_start on) stay
     * unprotected until the migration thread calls log_clear on a range
     * holding them, just before it reads those pages or drops them from
     * the bitmap (free-page hints, holes).  A write after log_clear is in
     * the next sync.  Pages never cleared are reported again by every sync,
     * so a failed clear costs re-sends, never a lost write; the failure is
     * returned by the next log_sync.
     */
    void (*log_clear)(Machine *m, RAMBlock *rb, uint64_t first_page, uint64_t npages);

    /* destroy: main thread, after every vCPU is destroyed. May be NULL. */
    void (*destroy)(Machine *m);
};

extern const AccelOps kvm_accel_ops;
extern const AccelOps thread_accel_ops;

/* Look an accelerator up by name ("kvm", "thread"), or NULL. */
const AccelOps *accel_find(const char *name);
/* True if /dev/kvm can be opened and answers KVM_GET_API_VERSION. */
bool kvm_available(void);

#endif
