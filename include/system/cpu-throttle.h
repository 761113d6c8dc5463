/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU throttling (auto-converge): a vCPU throttled by pct percent runs
 * only (100 - pct)% of the time, in slices of 10 ms: it runs about
 * 10 ms * (100 - pct) / 100, then sleeps pct / (100 - pct) times as long
 * as it actually ran.  Sleeping in proportion to the measured run (QEMU's
 * ratio rule) keeps the share exact when a vCPU can only stop at coarse
 * points: a thread-accelerator workload whose 64 KiB between two polls
 * costs 1 ms of write faults, or a KVM vCPU slow to leave KVM_RUN.  With
 * fine-grained yield points no pause is longer than 10 ms (QEMU runs 10 ms
 * and sleeps 990 ms at 99%); a pause never exceeds CPU_THROTTLE_MAX_SLEEP_NS.
 *
 * "Ran" is the vCPU thread's CPU time (CLOCK_THREAD_CPUTIME_ID: guest
 * time, faults and exits included), not wall time: a vCPU the host did not
 * schedule for 2 ms dirtied nothing in them, and at 99% counting them
 * would add a 200 ms pause the guest feels and the migration gains
 * nothing from.  The pause itself is wall time.
 *
 * Where the sleep happens depends on the accelerator (AccelOps.throttle_in_exec):
 *  - thread: vcpu_exec's yield point (WlEnv.poll) calls cpu_throttle_due()
 *    and sleeps there; a kick (pause, quit, throttle released) ends it;
 *  - kvm: a kicker thread, running only while a throttle is set, kicks the
 *    running vCPUs out of KVM_RUN once per running share; the generic vCPU
 *    loop (system/cpus.c) calls cpu_throttle_due() and sleeps under
 *    run_lock until the pause ends, the vCPU is stopped or the throttle
 *    is released.
 *
 * Threads: cpu_throttle_set/stop are called by the migration thread (one
 * caller at a time); the percentage is read by anyone; Vcpu.throttle_run
 * belongs to its vCPU thread.
 */
#ifndef KVMIG_SYSTEM_CPU_THROTTLE_H
#define KVMIG_SYSTEM_CPU_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#include "system/machine.h"

#define CPU_THROTTLE_SLICE_NS   10000000ULL     /* 10 ms */
#define CPU_THROTTLE_PCT_MIN    1
#define CPU_THROTTLE_PCT_MAX    99
#define CPU_THROTTLE_STALE_NS   (4 * CPU_THROTTLE_SLICE_NS)
#define CPU_THROTTLE_MAX_SLEEP_NS 1000000000ULL    /* 1 s */

/*
 * cpu_throttle_init: main thread, from cpus_create(): the (idle) throttle
 * state of @m.  cpu_throttle_cleanup: machine_free(), before the vCPU
 * threads are joined; stops the kicker.
 */
void cpu_throttle_init(Machine *m);
void cpu_throttle_cleanup(Machine *m);

/*
 * cpu_throttle_set: throttle every vCPU of @m by @pct percent, clamped to
 * [CPU_THROTTLE_PCT_MIN, CPU_THROTTLE_PCT_MAX]; starts the kicker for
 * accelerators that need one.  Takes effect within one slice.
 */
void cpu_throttle_set(Machine *m, int pct);
/* cpu_throttle_stop: release every vCPU; a sleeping one is kicked awake. */
void cpu_throttle_stop(Machine *m);
/* The percentage in effect, 0 when not throttling.  Any thread. */
int cpu_throttle_get_percentage(Machine *m);

/*
 * cpu_throttle_account: the throttle rule for a vCPU in state @r (zeroed:
 * not accounted yet), throttled by @pct, at monotonic time @now_ns when
 * its thread has used @cpu_ns of CPU time.  Returns 0 if it may run on,
 * else the monotonic time until which it must sleep (a look before then,
 * after a kick, gets the same time back); the next run is counted from
 * @cpu_ns.  A run of more than CPU_THROTTLE_STALE_NS of CPU time between
 * two looks starts afresh instead of earning a pause of up to the cap.
 * Pure; unit tests drive it.
 */
uint64_t cpu_throttle_account(CpuThrottleRun *r, int pct, uint64_t now_ns, uint64_t cpu_ns);

/*
 * cpu_throttle_due: cpu_throttle_account for @cpu at @now_ns, with the
 * calling thread's CPU time.  Its vCPU thread only.
 */
uint64_t cpu_throttle_due(Vcpu *cpu, uint64_t now_ns);

/* Monotonic nanoseconds (the throttle's clock). */
uint64_t cpu_throttle_now_ns(void);

#endif
