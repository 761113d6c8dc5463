/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The thread accelerator's interface to the rest of kvmig (migration state). */
#ifndef KVMIG_ACCEL_THREAD_H
#define KVMIG_ACCEL_THREAD_H

#include <glib.h>
#include "system/machine.h"

/* The workload command line the vCPUs run (m->append as parsed at init). */
const char *thread_accel_cmdline(Machine *m);
/*
 * Replace the workload configuration (the destination of a migration
 * adopts the source's).  Only while the vCPUs are stopped.
 */
bool thread_accel_set_cmdline(Machine *m, const char *cmdline, GError **errp);
/*
 * Which dirty-log method is in use: "uffd-wp-async", "soft" (-accel
 * thread,dirty=soft, or no kernel support) or "fallback-all-dirty".
 */
const char *thread_accel_log_method(Machine *m);
/* The soft dirty log of ram_blocks[0] (WlEnv.dirty), or NULL under uffd. */
uint64_t *thread_accel_soft_log(Machine *m);

#endif
