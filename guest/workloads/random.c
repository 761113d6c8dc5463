/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * random rate=MBPS: write random 64-bit words to random 8-byte aligned
 * places in RAM (from 4 MiB up), at most MBPS MiB/s (0: as fast as it
 * can); `R` every 64 MiB written.
 *
 * Rate limiting: bytes written since t_mark may not run ahead of
 * rate * (now - t_mark).  The window slides by whole seconds so the
 * arithmetic stays small, and restarts when the clock jumps (a migration
 * to another host) or when the workload fell far behind (it was paused):
 * a paused guest does not get to burst afterwards.
 *
 * State: counter = bytes toward the next `R`; rng; t_mark = window start;
 * aux[0] = bytes written in the window.
 */
#include "workload-int.h"

#define REPORT_BYTES    (64ULL << 20)
#define AUX_WIN_BYTES   0

/* ns needed to write @bytes at @bps bytes/s (bytes < 2 * bps). */
static uint64_t bytes_to_ns(uint64_t bytes, uint64_t bps)
{
    uint64_t whole = bytes / bps, rest = bytes % bps;

    /* rest * 1e6 fits: bps <= 2^64 / 1e6 is guaranteed by the parser. */
    return whole * WL_NS_PER_SEC + (rest * 1000000ULL / bps) * 1000ULL;
}

/* Returns false when wl_run() must return. */
static bool throttle(WlEnv *env, uint64_t bps)
{
    WlState *st = env->state;
    uint64_t now = env->now_ns(env);
    uint64_t due;

    if (now < st->t_mark) {
        st->t_mark = now;               /* clock went backwards */
        st->aux[AUX_WIN_BYTES] = 0;
        return true;
    }
    while (st->aux[AUX_WIN_BYTES] >= bps) {
        st->aux[AUX_WIN_BYTES] -= bps;
        st->t_mark += WL_NS_PER_SEC;
    }
    due = st->t_mark + bytes_to_ns(st->aux[AUX_WIN_BYTES], bps);
    if (now > due + WL_NS_PER_SEC / 10 || due > now + 2 * WL_NS_PER_SEC) {
        st->t_mark = now;               /* behind, or clock jumped: restart */
        st->aux[AUX_WIN_BYTES] = 0;
        return true;
    }
    if (due > now) {
        return env->sleep_until(env, due);
    }
    return true;
}

void wl_random(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t words = wl_ram_total(env) / 8;
    uint64_t bps = wl_min(env->cfg.rate, WL_MAX_RATE) << 20;
    uint64_t rng;

    if (st->phase == 0) {
        st->rng = wl_rng_seed(env->now_ns(env) ^ 0x72616e64);
        st->t_mark = env->now_ns(env);
        st->phase = 1;
    }

    rng = st->rng;
    for (;;) {
        uint64_t batch = rng;

        for (unsigned i = 0; i < WL_POLL_BYTES / 8; i++) {
            uint64_t off = wl_rng_below(wl_rng_next(&rng), words) * 8;
            uint64_t gpa = wl_lin_to_gpa(env, off, NULL);

            *(volatile uint64_t *)(env->mem + gpa) = wl_rng_next(&rng);
        }
        if (WL_DIRTY_LOG && env->dirty) {
            /* Mark after the batch, one fence: replay the generator. */
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            for (unsigned i = 0; i < WL_POLL_BYTES / 8; i++) {
                uint64_t off = wl_rng_below(wl_rng_next(&batch), words) * 8;
                uint64_t pfn = wl_lin_to_gpa(env, off, NULL) / WL_PAGE_SIZE;

                wl_rng_next(&batch);
                wl_dirty_log_pages(env->dirty, pfn, pfn);
            }
        }
        st->rng = rng;
        st->pass++;
        st->counter += WL_POLL_BYTES;
        if (st->counter >= REPORT_BYTES) {
            st->counter -= REPORT_BYTES;
            env->write(env, "R", 1);
        }
        if (bps) {
            st->aux[AUX_WIN_BYTES] += WL_POLL_BYTES;
            if (!throttle(env, bps)) {
                return;
            }
        }
        if (!env->poll(env)) {
            return;
        }
    }
}
