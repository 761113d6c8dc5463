/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stress mb=N: every vCPU rewrites whole pages of its N MiB (default: its
 * share of all RAM) over and over, at memory speed, and reports the time
 * each GiB took as `S<ms>\n`.
 *
 * Slices: with nr_cpus vCPUs, vCPU i owns [i * N, (i + 1) * N) of the
 * concatenated regions when nr_cpus * N fits; otherwise the slices start
 * at i * total / nr_cpus and wrap around the end of RAM (they overlap).
 * Every pass writes different data, so each page really changes.
 *
 * State: aux[0] = slice start, aux[1] = slice length (offsets into the
 * concatenated regions); pos = offset in the slice; pass; counter = bytes
 * toward the next report; t_mark = now_ns() at the last report.
 */
#include "workload-int.h"

#define GIB             (1ULL << 30)
#define AUX_START       0
#define AUX_LEN         1

static void stress_page(uint64_t *p, uint64_t v)
{
    /* Independent stores: the compiler vectorises this into full-width ones. */
    for (unsigned i = 0; i < WL_PAGE_SIZE / 8; i++) {
        p[i] = v + i * 0x9e3779b97f4a7c15ULL;
    }
}

static void stress_setup(WlEnv *env, uint64_t total)
{
    WlState *st = env->state;
    uint64_t n = env->nr_cpus > 0 ? (uint64_t)env->nr_cpus : 1;
    uint64_t cpu = env->cpu_index > 0 ? (uint64_t)env->cpu_index % n : 0;
    uint64_t share = (total / n) & ~(WL_PAGE_SIZE - 1);
    uint64_t len;

    if (!share) {
        share = WL_PAGE_SIZE;
    }
    len = env->cfg.mb ? wl_min(wl_min(env->cfg.mb, WL_MAX_MB) << 20, total)
                      : share;
    len &= ~(WL_PAGE_SIZE - 1);
    if (!len) {
        len = WL_PAGE_SIZE;
    }
    st->aux[AUX_START] = len <= total / n ? cpu * len : (cpu * share) % total;
    st->aux[AUX_LEN] = len;
    st->pos = 0;
    st->counter = 0;
    st->t_mark = env->now_ns(env);
    st->phase = 1;
}

void wl_stress(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t total = wl_ram_total(env);
    uint64_t start, len, pos;

    if (total < WL_PAGE_SIZE) {
        wl_idle(env);
        return;
    }
    if (st->phase == 0) {
        stress_setup(env, total);
    }
    start = st->aux[AUX_START];
    len = st->aux[AUX_LEN];
    pos = st->pos;

    for (;;) {
        uint64_t stop = wl_min(len, pos + WL_POLL_BYTES);
        uint64_t seed = (st->pass + 1) * 0xd6e8feb86659fd93ULL ^
                        ((uint64_t)env->cpu_index << 56);
        uint64_t written = stop - pos;

        while (pos < stop) {
            uint64_t off = start + pos, contig, gpa, end, first;

            if (off >= total) {
                off -= total;
            }
            gpa = wl_lin_to_gpa(env, off, &contig);
            end = pos + wl_min(contig, stop - pos);
            first = gpa;
            for (; pos < end; pos += WL_PAGE_SIZE, gpa += WL_PAGE_SIZE) {
                stress_page((uint64_t *)(env->mem + gpa), seed ^ gpa);
            }
            wl_dirty(env, first, gpa - first);
        }
        if (pos >= len) {
            pos = 0;
            st->pass++;
        }
        st->pos = pos;
        st->counter += written;
        if (st->counter >= GIB) {
            uint64_t now = env->now_ns(env);

            st->counter -= GIB;
            if (now >= st->t_mark) {
                wl_put_u64(env, "S", (now - st->t_mark) / 1000000, "\n");
            }
            st->t_mark = now;
        }
        if (!env->poll(env)) {
            return;
        }
    }
}
