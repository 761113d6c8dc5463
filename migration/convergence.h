/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: will the outgoing migration converge?  Auto-converge
 * (QEMU's trigger and throttle steps), the convergence verdict shown as
 * query-migrate's x-convergence, and expected-downtime.
 *
 * Sync periods, as QEMU's auto-converge counts them: a period starts at a
 * live dirty sync and ends at the first later sync at least 1 s after it
 * (short passes near the end of a migration are merged).  Per period:
 *   sent    = stream bytes written during it,
 *   dirtied = pages the syncs found newly dirty (not dirty already) * 4 KiB.
 *
 * Auto-converge: dirtied > sent * throttle-trigger-threshold% in two
 * periods in a row throttles the vCPUs by cpu-throttle-initial, and each
 * further such pair raises the throttle by cpu-throttle-increment (or, with
 * cpu-throttle-tailslow, by no more than what would bring the dirty rate
 * down to the threshold), up to max-cpu-throttle.  The throttle is released
 * when the migration ends, however it ends.
 *
 * The verdict: a period *stalls* when dirtied >= 90% of sent -- the dirty
 * set shrinks by less than a tenth of what was sent.  (Not 100%: "newly
 * dirtied" saturates at the working set, so a guest rewriting its working
 * set ten times faster than it can be sent measures dirtied ~= sent, never
 * more.)  MIG_CONV_STALL_PERIODS stalled periods in a row with nothing left
 * to change -- auto-converge off, or the throttle at max-cpu-throttle --
 * mean the migration cannot converge under the current limits.
 *
 * Threads: everything but mig_convergence_fill runs on the migration
 * thread; results go to MigrationStats (relaxed atomics), which the
 * monitor renders.
 */
#ifndef KVMIG_MIGRATION_CONVERGENCE_H
#define KVMIG_MIGRATION_CONVERGENCE_H

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/stats.h"

#define MIG_CONV_PERIOD_NS      1000000000LL    /* QEMU's: at least 1 s */
#define MIG_CONV_STALL_PERIODS  3
#define MIG_CONV_STALL_PCT      90

/* x-convergence's reason (stats conv_reason); the names are in convergence.c */
typedef enum MigConvReason {
    MIG_CONV_MEASURING,         /* no full period yet */
    MIG_CONV_SHRINKING,         /* the dirty set shrinks: converging */
    MIG_CONV_STALLING,          /* stalled, fewer than MIG_CONV_STALL_PERIODS times */
    MIG_CONV_THROTTLING,        /* stalled, auto-converge can still raise the throttle */
    MIG_CONV_AUTO_CONVERGE_OFF, /* stalled for good: auto-converge is off */
    MIG_CONV_THROTTLE_AT_MAX,   /* stalled for good: the throttle is at max-cpu-throttle */
    MIG_CONV__MAX,
} MigConvReason;

/* The options the decisions read, taken at every period end. */
typedef struct MigConvParams {
    bool auto_converge;
    int trigger_threshold;      /* throttle-trigger-threshold, % */
    int initial, increment, max;
    bool tailslow;
} MigConvParams;

typedef struct MigConvergence {
    /* owned by the migration thread; reset by mig_convergence_reset */
    int64_t period_start_ns;
    uint64_t sent_start;        /* stream bytes at the period start */
    uint64_t dirtied_start;     /* dirtied bytes at the period start */
    unsigned high_cnt;          /* periods over the trigger threshold in a row */
    unsigned stalled;           /* stalled periods in a row at this throttle */
    int throttle;               /* % this migration set, 0: none */
    MigConvReason reason;
    uint64_t dirty_rate;        /* bytes/s, last period */
    uint64_t sent_rate;         /* bytes/s, last period */
} MigConvergence;

/* Start counting at @now_ns with the counters' current values. */
void mig_convergence_reset(MigConvergence *c, int64_t now_ns, uint64_t sent,
                           uint64_t dirtied);

/*
 * mig_convergence_sync: after a live dirty sync at @now_ns, with @sent
 * stream bytes and @dirtied newly-dirtied bytes so far (both cumulative).
 * Closes the period if it is long enough: applies the trigger (may change
 * c->throttle) and updates the verdict.  Returns true if it closed one.
 * Pure: unit tests drive it.
 */
bool mig_convergence_sync(MigConvergence *c, const MigConvParams *p, int64_t now_ns,
                          uint64_t sent, uint64_t dirtied);

/*
 * mig_throttle_step: the throttle after a trigger, from @cur (0: none yet),
 * the period's dirtied bytes and its threshold (sent * trigger%).
 */
int mig_throttle_step(int cur, uint64_t dirtied, uint64_t threshold,
                      const MigConvParams *p);

/* Does @reason mean the migration can still converge? */
bool mig_conv_reason_converging(MigConvReason reason);
const char *mig_conv_reason_name(MigConvReason reason);

/*
 * mig_expected_downtime_ms: what a switchover now would cost: the bytes
 * still dirty plus those dirtied since the last sync (@dirty_rate bytes/s
 * for @since_sync_ms, at most the rest of RAM), at @bandwidth bytes/s.
 * -1 if the bandwidth is not known yet.
 */
int64_t mig_expected_downtime_ms(uint64_t remaining, uint64_t dirty_rate,
                                 int64_t since_sync_ms, uint64_t ram_total,
                                 uint64_t bandwidth);

/*
 * mig_convergence_fill: query-migrate's cpu-throttle-percentage (while a
 * throttle is set, as QEMU shows it) and x-convergence, from @st.
 */
void mig_convergence_fill(JsonObject *obj, const MigrationStats *st);

/* ---- the migration thread's glue (MigrationState) ---- */

typedef struct MigrationState MigrationState;
typedef struct MigStream MigStream;

/* iterate start: reset the counters, no throttle. */
void mig_convergence_start(MigrationState *s, MigStream *f);
/* After each live sync (savevm_pending exact): periods, throttle, verdict. */
void mig_convergence_after_sync(MigrationState *s, MigStream *f);
/* Every bandwidth refresh: expected-downtime from @bandwidth bytes/s. */
void mig_convergence_update_expected(MigrationState *s, uint64_t bandwidth);
/* The migration ended (any way): release the throttle.  Idempotent. */
void mig_convergence_end(MigrationState *s);

#endif
