/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blackout: read the clock in a tight loop and keep the longest gap between
 * two reads -- the pause the guest itself felt (a migration's switchover,
 * a vCPU that was not scheduled) -- and report it every second as
 * `G<microseconds>\n`, then start over.  Touches no RAM above 4 MiB.
 *
 * The clock is env->now_ns(): under the thread accelerator the host's
 * CLOCK_MONOTONIC, so a gap spans the two processes of a local migration
 * (the last read before the stop is in the WlState, which migrates).  In
 * the guest ELF it is the TSC-based clock_ns(); kvmig migrates the TSC as
 * it was at the stop, so under KVM the switchover pause does NOT show:
 * only gaps inside one run (preemption, exits) do.  Use `thread` for the
 * guest-observed downtime.
 *
 * State: aux[AUX_LAST] = the last read (ns), aux[AUX_MAX] = the longest gap
 * since the last report (ns); t_mark = the last report's time.
 */
#include "workload-int.h"

#define AUX_LAST        0
#define AUX_MAX         1
#define REPORT_NS       1000000000ULL
#define READS_PER_POLL  256

void wl_blackout(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t last, longest;

    if (st->phase == 0) {
        st->aux[AUX_LAST] = st->t_mark = env->now_ns(env);
        st->aux[AUX_MAX] = 0;
        st->phase = 1;
    }
    last = st->aux[AUX_LAST];
    longest = st->aux[AUX_MAX];
    for (;;) {
        for (unsigned i = 0; i < READS_PER_POLL; i++) {
            uint64_t now = env->now_ns(env);

            /* a clock that went back (another host's TSC) is no gap */
            if (now > last && now - last > longest) {
                longest = now - last;
            }
            last = now;
            if (now > st->t_mark && now - st->t_mark >= REPORT_NS) {
                wl_put_u64(env, "G", longest / 1000, "\n");
                longest = 0;
                st->t_mark = now;
            }
        }
        st->aux[AUX_LAST] = last;
        st->aux[AUX_MAX] = longest;
        if (!env->poll(env)) {
            return;
        }
    }
}
