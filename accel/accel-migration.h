/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to accel/: each accelerator's own migration sections.  The
 * accelerator registers them from its init (main thread) when m->migration
 * exists, through the section layer's API (include/migration/register.h),
 * so migration/ never names an accelerator.  init runs after
 * migration_new() registered "ram", "kvmig-machine" and "globalstate" and
 * before any device exists, which keeps the stream's section order.
 *
 * The returned state is the sections' opaque: the accelerator keeps it in
 * its m->accel_state and frees it in destroy, after migration_free() (main's
 * order), so the registry never points at freed memory.
 */
#ifndef KVMIG_ACCEL_ACCEL_MIGRATION_H
#define KVMIG_ACCEL_ACCEL_MIGRATION_H

#include <glib.h>

#include "system/machine.h"

/*
 * kvm-migration.c: "kvmig-cpu-model" (early: the destination checks it can
 * give the guest the same CPU before any RAM arrives), "cpu" instance
 * 0..smp-1 (registers, XSAVE, MSRs, events) and "kvmclock".
 */
typedef struct KvmMigration KvmMigration;
KvmMigration *kvm_migration_register(Machine *m, GError **errp);
void kvm_migration_free(KvmMigration *km);

/* thread-migration.c: "thread-accel", the workload command line the vCPUs run. */
typedef struct ThreadMigration ThreadMigration;
ThreadMigration *thread_migration_register(Machine *m, GError **errp);
void thread_migration_free(ThreadMigration *tm);

#endif
