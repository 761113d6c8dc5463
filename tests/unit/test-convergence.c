/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Auto-converge and the convergence verdict (migration/convergence.c): the
 * trigger (twice in a row over the threshold), the throttle steps with and
 * without tailslow, the x-convergence reasons, expected-downtime, and the
 * vCPU throttle's run/sleep rule (system/cpu-throttle.h).
 */
#include "migration/convergence.h"
#include "system/cpu-throttle.h"

#define SEC 1000000000LL
#define MB  1000000ULL

static const MigConvParams defaults = {
    .auto_converge = true, .trigger_threshold = 50,
    .initial = 20, .increment = 10, .max = 99, .tailslow = false,
};

/* One period of @secs seconds that sent @sent and dirtied @dirtied bytes. */
static bool period(MigConvergence *c, const MigConvParams *p, int64_t *now,
                   uint64_t *s, uint64_t *d, int secs, uint64_t sent, uint64_t dirtied)
{
    *now += secs * SEC;
    *s += sent;
    *d += dirtied;
    return mig_convergence_sync(c, p, *now, *s, *d);
}

static void test_trigger_twice_in_a_row(void)
{
    MigConvergence c;
    int64_t now = 0;
    uint64_t s = 0, d = 0;

    mig_convergence_reset(&c, now, s, d);
    g_assert_cmpint(c.reason, ==, MIG_CONV_MEASURING);
    /* over 50%, once: nothing */
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 60 * MB));
    g_assert_cmpint(c.throttle, ==, 0);
    /* under: the count starts over */
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 50 * MB));
    g_assert_cmpint(c.throttle, ==, 0);
    g_assert_cmpint(c.reason, ==, MIG_CONV_SHRINKING);
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 60 * MB));
    g_assert_cmpint(c.throttle, ==, 0);
    /* twice in a row: cpu-throttle-initial */
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 60 * MB));
    g_assert_cmpint(c.throttle, ==, 20);
    /* the next pair: + cpu-throttle-increment */
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 60 * MB));
    g_assert_cmpint(c.throttle, ==, 20);
    g_assert_true(period(&c, &defaults, &now, &s, &d, 2, 100 * MB, 60 * MB));
    g_assert_cmpint(c.throttle, ==, 30);
    g_assert_cmpuint(c.dirty_rate, ==, 30 * MB);
    g_assert_cmpuint(c.sent_rate, ==, 50 * MB);
}

static void test_short_periods_merge(void)
{
    MigConvergence c;
    int64_t now = 0;
    uint64_t s = 0, d = 0;

    mig_convergence_reset(&c, now, s, d);
    /* syncs 0.3 s apart: the period closes once 1 s has passed */
    now += SEC / 3;
    g_assert_false(mig_convergence_sync(&c, &defaults, now, 10 * MB, 10 * MB));
    now += SEC / 3;
    g_assert_false(mig_convergence_sync(&c, &defaults, now, 20 * MB, 20 * MB));
    now += SEC / 2;
    g_assert_true(mig_convergence_sync(&c, &defaults, now, 40 * MB, 40 * MB));
    g_assert_cmpint(c.high_cnt, ==, 1);
    g_assert_cmpint(c.stalled, ==, 1);
}

static void test_throttle_steps(void)
{
    MigConvParams p = defaults;

    g_assert_cmpint(mig_throttle_step(0, 100, 50, &p), ==, 20);
    g_assert_cmpint(mig_throttle_step(20, 100, 50, &p), ==, 30);
    g_assert_cmpint(mig_throttle_step(90, 100, 50, &p), ==, 99);
    g_assert_cmpint(mig_throttle_step(99, 100, 50, &p), ==, 99);
    p.max = 60;
    g_assert_cmpint(mig_throttle_step(55, 100, 50, &p), ==, 60);
    /* a lowered max-cpu-throttle lowers a throttle above it */
    g_assert_cmpint(mig_throttle_step(80, 100, 50, &p), ==, 60);
    /* tailslow: no more than what brings the dirty rate to the threshold */
    p = defaults;
    p.tailslow = true;
    /* cpu 80% now; ideal 80 * 50/55 = 72 -> +8, under the increment */
    g_assert_cmpint(mig_throttle_step(20, 55, 50, &p), ==, 28);
    /* far over the threshold: the increment caps it */
    g_assert_cmpint(mig_throttle_step(20, 500, 50, &p), ==, 30);
    /* the initial step ignores tailslow */
    g_assert_cmpint(mig_throttle_step(0, 55, 50, &p), ==, 20);
}

static void test_verdict(void)
{
    MigConvParams off = defaults, capped = defaults;
    MigConvergence c;
    int64_t now = 0;
    uint64_t s = 0, d = 0;

    off.auto_converge = false;
    /* dirtied ~= sent (a saturated working set) counts as stalled */
    mig_convergence_reset(&c, now, s, d);
    for (int i = 1; i < MIG_CONV_STALL_PERIODS; i++) {
        period(&c, &off, &now, &s, &d, 5, 500 * MB, 499 * MB);
        g_assert_cmpint(c.reason, ==, MIG_CONV_STALLING);
        g_assert_true(mig_conv_reason_converging(c.reason));
    }
    period(&c, &off, &now, &s, &d, 5, 500 * MB, 499 * MB);
    g_assert_cmpint(c.reason, ==, MIG_CONV_AUTO_CONVERGE_OFF);
    g_assert_false(mig_conv_reason_converging(c.reason));
    g_assert_cmpstr(mig_conv_reason_name(c.reason), ==, "auto-converge-off");
    g_assert_cmpint(c.throttle, ==, 0);
    /* it shrinks again: converging */
    period(&c, &off, &now, &s, &d, 5, 500 * MB, 100 * MB);
    g_assert_cmpint(c.reason, ==, MIG_CONV_SHRINKING);
    g_assert_cmpint(c.stalled, ==, 0);

    /* auto-converge up to its max: throttling, then throttle-at-max */
    capped.initial = 30;
    capped.max = 40;
    mig_convergence_reset(&c, 0, 0, 0);
    now = 0;
    s = d = 0;
    for (int i = 0; i < 20 && c.reason != MIG_CONV_THROTTLE_AT_MAX; i++) {
        period(&c, &capped, &now, &s, &d, 5, 500 * MB, 499 * MB);
        g_assert_true(c.reason == MIG_CONV_THROTTLE_AT_MAX ||
                      mig_conv_reason_converging(c.reason));
    }
    g_assert_cmpint(c.reason, ==, MIG_CONV_THROTTLE_AT_MAX);
    g_assert_cmpint(c.throttle, ==, 40);
    g_assert_cmpint(c.stalled, >=, MIG_CONV_STALL_PERIODS);
}

static void test_expected_downtime(void)
{
    /* unknown bandwidth */
    g_assert_cmpint(mig_expected_downtime_ms(100 * MB, 0, 0, 1000 * MB, 0), ==, -1);
    /* just after a sync: the remaining bytes at the bandwidth */
    g_assert_cmpint(mig_expected_downtime_ms(100 * MB, 50 * MB, 0, 1000 * MB, 100 * MB),
                    ==, 1000);
    /* 2 s later at 50 MB/s: 100 MB more */
    g_assert_cmpint(mig_expected_downtime_ms(100 * MB, 50 * MB, 2000, 1000 * MB, 100 * MB),
                    ==, 2000);
    /* never more than all of RAM */
    g_assert_cmpint(mig_expected_downtime_ms(100 * MB, 500 * MB, 60000, 1000 * MB,
                                             100 * MB), ==, 10000);
}

static void test_throttle_rule(void)
{
    const uint64_t ms = 1000000, base = 1000 * CPU_THROTTLE_SLICE_NS;
    const uint64_t cpu0 = 7 * ms;       /* the thread's CPU time at base */
    CpuThrottleRun r = { 5, 6 };
    uint64_t until, run = 0, total, cpu;

    /* not throttled: run, and forget any accounting */
    g_assert_cmpuint(cpu_throttle_account(&r, 0, base, cpu0), ==, 0);
    g_assert_cmpuint(r.run_cpu_ns, ==, 0);
    g_assert_cmpuint(r.pause_until_ns, ==, 0);
    /* 30%: the first look starts a run; 7 ms of running, then 3 ms of sleep */
    g_assert_cmpuint(cpu_throttle_account(&r, 30, base, cpu0), ==, 0);
    g_assert_cmpuint(cpu_throttle_account(&r, 30, base + 7 * ms - 1, cpu0 + 7 * ms - 1), ==, 0);
    until = cpu_throttle_account(&r, 30, base + 7 * ms, cpu0 + 7 * ms);
    g_assert_cmpuint(until, ==, base + 10 * ms);
    /* a kick in the pause: the rest of it is still due */
    g_assert_cmpuint(cpu_throttle_account(&r, 30, base + 8 * ms, cpu0 + 7 * ms), ==, until);
    /* the next run starts where the pause ends */
    g_assert_cmpuint(cpu_throttle_account(&r, 30, base + 10 * ms, cpu0 + 7 * ms), ==, 0);
    g_assert_cmpuint(cpu_throttle_account(&r, 30, base + 16 * ms, cpu0 + 13 * ms), ==, 0);
    /* 99% with a coarse yield point (1 ms between looks): the pause is 99 times
     * what actually ran, so the share stays 1% */
    r = (CpuThrottleRun){ 0 };
    cpu_throttle_account(&r, 99, base, cpu0);
    until = cpu_throttle_account(&r, 99, base + 1 * ms, cpu0 + 1 * ms);
    g_assert_cmpuint(until, ==, base + 100 * ms);
    /* ... but 3 ms of wall time the host gave to others are not a run: the
     * 0.1 ms of CPU time earns a 9.9 ms pause, not 297 ms */
    r = (CpuThrottleRun){ 0 };
    cpu_throttle_account(&r, 99, base, cpu0);
    until = cpu_throttle_account(&r, 99, base + 3 * ms, cpu0 + ms / 10);
    g_assert_cmpuint(until, ==, base + 3 * ms + 9900000);
    /* simulate: look every 0.3 ms for 10 s of wall time at 75% */
    r = (CpuThrottleRun){ 0 };
    cpu = cpu0;
    total = 0;
    for (uint64_t now = base; now < base + 10000 * ms; ) {
        uint64_t u = cpu_throttle_account(&r, 75, now, cpu);

        if (u) {
            now = u;
        } else {
            now += 300000;
            cpu += 300000;
            run += 300000;
        }
        total = now - base;
    }
    g_assert_cmpfloat((double)run / total, >, 0.24);
    g_assert_cmpfloat((double)run / total, <, 0.26);
    /* back after a stop: no CPU time passed, so no pause */
    g_assert_cmpuint(cpu_throttle_account(&r, 75, base + 20000 * ms, cpu), ==, 0);
    /* a run longer than the stale bound starts afresh */
    g_assert_cmpuint(cpu_throttle_account(&r, 75, base + 20100 * ms,
                                          cpu + CPU_THROTTLE_STALE_NS + 1), ==, 0);
    /* a pause is never longer than the cap */
    r = (CpuThrottleRun){ cpu0, 0 };
    until = cpu_throttle_account(&r, 99, base, cpu0 + CPU_THROTTLE_STALE_NS);
    g_assert_cmpuint(until - base, ==, CPU_THROTTLE_MAX_SLEEP_NS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/convergence/trigger-twice-in-a-row", test_trigger_twice_in_a_row);
    g_test_add_func("/convergence/short-periods-merge", test_short_periods_merge);
    g_test_add_func("/convergence/throttle-steps", test_throttle_steps);
    g_test_add_func("/convergence/verdict", test_verdict);
    g_test_add_func("/convergence/expected-downtime", test_expected_downtime);
    g_test_add_func("/convergence/throttle-rule", test_throttle_rule);
    return g_test_run();
}
