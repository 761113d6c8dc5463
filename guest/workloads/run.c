/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wl_run(): state (re)initialisation and dispatch, plus shared helpers. */
#include "balloon.h"
#include "workload-int.h"

uint64_t wl_ram_total(const WlEnv *env)
{
    uint64_t total = 0;

    for (int i = 0; i < env->nr_regions; i++) {
        total += env->regions[i].size;
    }
    return total;
}

uint64_t wl_lin_to_gpa(const WlEnv *env, uint64_t off, uint64_t *contig)
{
    int i;

    for (i = 0; i < env->nr_regions - 1; i++) {
        if (off < env->regions[i].size) {
            break;
        }
        off -= env->regions[i].size;
    }
    if (contig) {
        *contig = env->regions[i].size - off;
    }
    return env->regions[i].gpa + off;
}

bool wl_gpa_valid(const WlEnv *env, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < env->nr_regions; i++) {
        const WlRegion *r = &env->regions[i];

        if (gpa >= r->gpa && gpa - r->gpa < r->size &&
            len <= r->size - (gpa - r->gpa)) {
            return true;
        }
    }
    return false;
}

void wl_putc(WlEnv *env, char c)
{
    env->write(env, &c, 1);
}

void wl_put_u64(WlEnv *env, const char *prefix, uint64_t v, const char *suffix)
{
    char buf[64];

    buf[0] = '\0';
    wl_strlcat(buf, prefix, sizeof(buf) - 24);
    wl_fmt_u64(buf + wl_strlen(buf), v);
    wl_strlcat(buf, suffix, sizeof(buf));
    env->write(env, buf, wl_strlen(buf));
}

void wl_idle(WlEnv *env)
{
    /*
     * Every wake-up (a kick, e.g. a balloon config change) serves the
     * balloon; a resize it could not finish wakes us when it is due, so a
     * target set while a workload held the memory is reached once it let go.
     */
    while (env->sleep_until(env, wl_balloon_retry_due(env))) {
        wl_balloon_poll(env);
    }
}

/* The workload this vCPU runs: vcpu1= on vCPU 1; else only stress runs on every vCPU. */
static WlKind effective_kind(const WlEnv *env)
{
    WlKind kind = env->cfg.kind;

    if ((unsigned)kind >= WL__MAX || env->nr_regions <= 0) {
        return WL_IDLE;
    }
    if (env->cpu_index == 1 && env->cfg.vcpu1 < WL__MAX) {
        return env->cfg.vcpu1;
    }
    if (env->cpu_index != 0 && kind != WL_STRESS) {
        return WL_IDLE;
    }
    return kind;
}

void wl_run(WlEnv *env)
{
    WlState *st = env->state;
    WlKind kind = effective_kind(env);

    /* A fresh state, or one left by another workload: start over. */
    if (st->magic != WL_STATE_MAGIC || st->kind != (uint32_t)kind) {
        volatile uint64_t *w = (volatile uint64_t *)st;

        for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
            w[i] = 0;
        }
        st->kind = (uint32_t)kind;
        st->magic = WL_STATE_MAGIC;
    }

    /* The thread accelerator re-enters here after every kick. */
    wl_balloon_poll(env);

    switch (kind) {
    case WL_PAGEWALK:
        wl_pagewalk(env);
        break;
    case WL_FILL:
        wl_fill(env);
        break;
    case WL_RANDOM:
        wl_random(env);
        break;
    case WL_L2FWD:
        wl_l2fwd(env);
        break;
    case WL_STRESS:
        wl_stress(env);
        break;
    case WL_CHURN:
        wl_churn(env);
        break;
    case WL_BLACKOUT:
        wl_blackout(env);
        break;
    case WL_IDLE:
    default:
        wl_idle(env);
        break;
    }
}
