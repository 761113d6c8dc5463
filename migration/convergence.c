/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Whether an outgoing migration converges: auto-converge's trigger and
 * throttle steps, the x-convergence verdict and expected-downtime (the
 * rules are in convergence.h).
 */
#include "migration/convergence.h"
#include "migration/migration-int.h"
#include "system/cpu-throttle.h"

static const char *const reason_names[MIG_CONV__MAX] = {
    [MIG_CONV_MEASURING] = "measuring",
    [MIG_CONV_SHRINKING] = "dirty-set-shrinking",
    [MIG_CONV_STALLING] = "dirty-rate-at-bandwidth",
    [MIG_CONV_THROTTLING] = "throttling",
    [MIG_CONV_AUTO_CONVERGE_OFF] = "auto-converge-off",
    [MIG_CONV_THROTTLE_AT_MAX] = "throttle-at-max",
};

const char *mig_conv_reason_name(MigConvReason reason)
{
    return reason < MIG_CONV__MAX ? reason_names[reason] : "unknown";
}

bool mig_conv_reason_converging(MigConvReason reason)
{
    return reason != MIG_CONV_AUTO_CONVERGE_OFF && reason != MIG_CONV_THROTTLE_AT_MAX;
}

void mig_convergence_reset(MigConvergence *c, int64_t now_ns, uint64_t sent,
                           uint64_t dirtied)
{
    *c = (MigConvergence){
        .period_start_ns = now_ns,
        .sent_start = sent,
        .dirtied_start = dirtied,
        .reason = MIG_CONV_MEASURING,
    };
}

int mig_throttle_step(int cur, uint64_t dirtied, uint64_t threshold,
                      const MigConvParams *p)
{
    int inc = p->increment;

    if (!cur) {
        return CLAMP(p->initial, CPU_THROTTLE_PCT_MIN, CPU_THROTTLE_PCT_MAX);
    }
    if (p->tailslow && dirtied) {
        /*
         * Tail slow: the guest CPU share that would bring the dirty rate
         * down to the threshold, if dirtying scales with it; no bigger
         * step than that (and never above the increment).
         */
        int cpu_now = 100 - cur;
        int cpu_ideal = (int)(cpu_now * ((double)threshold / (double)dirtied));

        inc = MIN(MAX(cpu_now - cpu_ideal, 0), inc);
    }
    return CLAMP(MIN(cur + inc, p->max), CPU_THROTTLE_PCT_MIN, CPU_THROTTLE_PCT_MAX);
}

bool mig_convergence_sync(MigConvergence *c, const MigConvParams *p, int64_t now_ns,
                          uint64_t sent, uint64_t dirtied)
{
    int64_t dt = now_ns - c->period_start_ns;
    uint64_t p_sent = sent - MIN(c->sent_start, sent);
    uint64_t p_dirtied = dirtied - MIN(c->dirtied_start, dirtied);
    uint64_t threshold = p_sent * (uint64_t)p->trigger_threshold / 100;
    bool stalled, changed = false;

    if (dt < MIG_CONV_PERIOD_NS) {
        return false;
    }
    c->dirty_rate = p_dirtied * 1000000000ULL / (uint64_t)dt;
    c->sent_rate = p_sent * 1000000000ULL / (uint64_t)dt;

    /* auto-converge: over the threshold twice in a row */
    if (p_dirtied > threshold) {
        if (++c->high_cnt >= 2) {
            c->high_cnt = 0;
            if (p->auto_converge) {
                int next = mig_throttle_step(c->throttle, p_dirtied, threshold, p);

                changed = next != c->throttle;
                c->throttle = next;
            }
        }
    } else {
        c->high_cnt = 0;
    }

    /* the verdict: counted afresh at every new throttle */
    stalled = p_dirtied && p_dirtied * 100 >= p_sent * MIG_CONV_STALL_PCT;
    if (changed || !stalled) {
        c->stalled = 0;
    }
    if (stalled) {
        c->stalled++;
    }
    if (!stalled) {
        c->reason = MIG_CONV_SHRINKING;
    } else if (c->stalled < MIG_CONV_STALL_PERIODS) {
        c->reason = MIG_CONV_STALLING;
    } else if (!p->auto_converge) {
        c->reason = MIG_CONV_AUTO_CONVERGE_OFF;
    } else if (c->throttle < p->max && c->throttle < CPU_THROTTLE_PCT_MAX) {
        c->reason = MIG_CONV_THROTTLING;
    } else {
        c->reason = MIG_CONV_THROTTLE_AT_MAX;
    }

    c->period_start_ns = now_ns;
    c->sent_start = sent;
    c->dirtied_start = dirtied;
    return true;
}

int64_t mig_expected_downtime_ms(uint64_t remaining, uint64_t dirty_rate,
                                 int64_t since_sync_ms, uint64_t ram_total,
                                 uint64_t bandwidth)
{
    uint64_t more;

    if (!bandwidth) {
        return -1;
    }
    more = dirty_rate * (uint64_t)MAX(since_sync_ms, 0) / 1000;
    more = MIN(more, ram_total - MIN(remaining, ram_total));
    return (int64_t)((remaining + more) * 1000 / bandwidth);
}

void mig_convergence_fill(JsonObject *obj, const MigrationStats *st)
{
    uint64_t pct = stat_get(st, cpu_throttle_pct);
    MigConvReason reason = stat_get(st, conv_reason);
    JsonObject *x;

    if (pct) {
        json_object_set_int_member(obj, "cpu-throttle-percentage", pct);
    }
    x = json_object_new();
    json_object_set_boolean_member(x, "converging", mig_conv_reason_converging(reason));
    json_object_set_string_member(x, "reason", mig_conv_reason_name(reason));
    json_object_set_int_member(x, "stalled-periods", stat_get(st, conv_stalled));
    json_object_set_int_member(x, "dirty-rate", stat_get(st, conv_dirty_rate));
    json_object_set_int_member(x, "transfer-rate", stat_get(st, conv_sent_rate));
    json_object_set_object_member(obj, "x-convergence", x);
}

/* ---- the migration thread's glue ---- */

static uint64_t dirtied_bytes(MigrationState *s)
{
    return s->ram->dirty.dirtied_pages * TARGET_PAGE_SIZE;
}

static void publish(MigrationState *s)
{
    MigConvergence *c = &s->conv;

    stat_set(&s->stats, conv_reason, c->reason);
    stat_set(&s->stats, conv_stalled, c->stalled);
    stat_set(&s->stats, conv_dirty_rate, c->dirty_rate);
    stat_set(&s->stats, conv_sent_rate, c->sent_rate);
    stat_set(&s->stats, cpu_throttle_pct, c->throttle);
}

void mig_convergence_start(MigrationState *s, MigStream *f)
{
    mig_convergence_reset(&s->conv, g_get_monotonic_time() * 1000,
                          mig_stream_transferred(f), dirtied_bytes(s));
    publish(s);
}

void mig_convergence_after_sync(MigrationState *s, MigStream *f)
{
    MigConvergence *c = &s->conv;
    MigrationOptions *o = s->opts;
    MigConvParams p = {
        .auto_converge = migrate_cap(o, MIGRATION_CAPABILITY_AUTO_CONVERGE),
        .trigger_threshold = migrate_throttle_trigger_threshold(o),
        .initial = migrate_cpu_throttle_initial(o),
        .increment = migrate_cpu_throttle_increment(o),
        .max = migrate_max_cpu_throttle(o),
        .tailslow = migrate_cpu_throttle_tailslow(o),
    };
    int before = c->throttle;

    if (!mig_convergence_sync(c, &p, g_get_monotonic_time() * 1000,
                              mig_stream_transferred(f), dirtied_bytes(s))) {
        return;
    }
    if (c->throttle != before) {
        cpu_throttle_set(s->m, c->throttle);
    }
    publish(s);
}

void mig_convergence_update_expected(MigrationState *s, uint64_t bandwidth)
{
    RamDirtyState *d = &s->ram->dirty;
    int64_t since_ms = (g_get_monotonic_time() * 1000 - d->last_sync_ns) / 1000000;
    int64_t ms = mig_expected_downtime_ms(stat_get(&s->stats, remaining),
                                          stat_get(&s->stats, dirty_pages_rate) *
                                          TARGET_PAGE_SIZE,
                                          since_ms, stat_get(&s->stats, ram_total),
                                          bandwidth);

    if (ms >= 0) {
        stat_set(&s->stats, expected_downtime, ms);
    }
}

void mig_convergence_end(MigrationState *s)
{
    if (s->conv.throttle) {
        cpu_throttle_stop(s->m);
        s->conv.throttle = 0;
    }
    stat_set(&s->stats, cpu_throttle_pct, 0);
}
