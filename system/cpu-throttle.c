/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPU throttling for auto-converge: the percentage, the rule a vCPU
 * applies at its yield points, and the kicker thread that makes vCPUs of
 * accelerators without their own yield point (kvm) leave exec.  The rule
 * and the division of work are described in include/system/cpu-throttle.h.
 *
 * Locking: CpuThrottle.lock protects kicker and kicker_quit; cond wakes the
 * kicker early to quit.  pct (and every Vcpu.throttle_pct) are atomics.
 */
#include <time.h>

#include "accel/accel.h"
#include "system/cpu-throttle.h"

struct CpuThrottle {
    Machine *m;
    int pct;                    /* atomic: 0 = off */
    GMutex lock;
    GCond cond;
    GThread *kicker;            /* running while pct > 0 (kvm only) */
    bool kicker_quit;
};

uint64_t cpu_throttle_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* g_cond_wait_until's clock (g_get_monotonic_time) is CLOCK_MONOTONIC in µs. */
static gint64 ns_to_glib_us(uint64_t ns)
{
    return (gint64)((ns + 999) / 1000);
}

uint64_t cpu_throttle_account(CpuThrottleRun *r, int pct, uint64_t now_ns, uint64_t cpu_ns)
{
    uint64_t ran, sleep;

    if (pct <= 0) {
        *r = (CpuThrottleRun){ 0 };
        return 0;
    }
    pct = MIN(pct, CPU_THROTTLE_PCT_MAX);
    if (r->pause_until_ns > now_ns) {
        return r->pause_until_ns;   /* a pause a kick interrupted: finish it */
    }
    if (!r->run_cpu_ns || cpu_ns < r->run_cpu_ns ||
        cpu_ns - r->run_cpu_ns > CPU_THROTTLE_STALE_NS) {
        r->run_cpu_ns = cpu_ns ? cpu_ns : 1;    /* first look, or a stale run */
        r->pause_until_ns = 0;
        return 0;
    }
    ran = cpu_ns - r->run_cpu_ns;
    if (ran < CPU_THROTTLE_SLICE_NS * (uint64_t)(100 - pct) / 100) {
        return 0;
    }
    sleep = MIN(ran * (uint64_t)pct / (uint64_t)(100 - pct), CPU_THROTTLE_MAX_SLEEP_NS);
    r->run_cpu_ns = cpu_ns;
    r->pause_until_ns = now_ns + sleep;
    return r->pause_until_ns;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

uint64_t cpu_throttle_due(Vcpu *cpu, uint64_t now_ns)
{
    return cpu_throttle_account(&cpu->throttle_run,
                                __atomic_load_n(&cpu->throttle_pct, __ATOMIC_RELAXED),
                                now_ns, thread_cpu_ns());
}

/*
 * kvm: kick the running vCPUs out of exec once per running share (at least
 * 1 ms apart); each one then asks cpu_throttle_due() in the generic loop.
 * Halted and stopped vCPUs are left alone: they run nothing.
 */
static gpointer kicker_fn(gpointer opaque)
{
    CpuThrottle *t = opaque;
    Machine *m = t->m;

    g_mutex_lock(&t->lock);
    while (!t->kicker_quit) {
        int pct = __atomic_load_n(&t->pct, __ATOMIC_RELAXED);
        uint64_t run_ns = CPU_THROTTLE_SLICE_NS * (uint64_t)(100 - pct) / 100;
        uint64_t at;

        if (!pct) {
            g_cond_wait(&t->cond, &t->lock);    /* until cpu_throttle_stop's quit */
            continue;
        }
        at = cpu_throttle_now_ns() + MAX(run_ns, 1000000ULL);
        while (!t->kicker_quit && cpu_throttle_now_ns() < at) {
            g_cond_wait_until(&t->cond, &t->lock, ns_to_glib_us(at));
        }
        if (t->kicker_quit) {
            break;
        }
        g_mutex_unlock(&t->lock);
        g_mutex_lock(&m->run_lock);
        for (int i = 0; i < m->smp; i++) {
            Vcpu *cpu = m->vcpus[i];

            if (!cpu->halted && !cpu->stopped) {
                cpu_kick(cpu);
            }
        }
        g_mutex_unlock(&m->run_lock);
        g_mutex_lock(&t->lock);
    }
    g_mutex_unlock(&t->lock);
    return NULL;
}

static void kicker_stop(CpuThrottle *t)
{
    GThread *th;

    g_mutex_lock(&t->lock);
    t->kicker_quit = true;
    g_cond_broadcast(&t->cond);
    th = t->kicker;
    t->kicker = NULL;
    g_mutex_unlock(&t->lock);
    if (th) {
        g_thread_join(th);
    }
}

void cpu_throttle_init(Machine *m)
{
    CpuThrottle *t = g_new0(CpuThrottle, 1);

    t->m = m;
    g_mutex_init(&t->lock);
    g_cond_init(&t->cond);
    m->throttle = t;
}

void cpu_throttle_cleanup(Machine *m)
{
    CpuThrottle *t = m->throttle;

    if (!t) {
        return;
    }
    cpu_throttle_stop(m);
    g_mutex_clear(&t->lock);
    g_cond_clear(&t->cond);
    g_free(t);
    m->throttle = NULL;
}

void cpu_throttle_set(Machine *m, int pct)
{
    CpuThrottle *t = m->throttle;

    if (!t) {
        return;
    }
    pct = CLAMP(pct, CPU_THROTTLE_PCT_MIN, CPU_THROTTLE_PCT_MAX);
    __atomic_store_n(&t->pct, pct, __ATOMIC_RELAXED);
    for (int i = 0; i < m->smp; i++) {
        __atomic_store_n(&m->vcpus[i]->throttle_pct, pct, __ATOMIC_RELAXED);
    }
    if (m->accel->throttle_in_exec) {
        return;     /* the accelerator yields by itself */
    }
    g_mutex_lock(&t->lock);
    if (!t->kicker) {
        t->kicker_quit = false;
        t->kicker = g_thread_new("cpu-throttle", kicker_fn, t);
    }
    g_mutex_unlock(&t->lock);
}

void cpu_throttle_stop(Machine *m)
{
    CpuThrottle *t = m->throttle;

    if (!t) {
        return;
    }
    kicker_stop(t);
    if (!__atomic_exchange_n(&t->pct, 0, __ATOMIC_RELAXED)) {
        return;
    }
    for (int i = 0; i < m->smp; i++) {
        if (m->vcpus[i]) {
            __atomic_store_n(&m->vcpus[i]->throttle_pct, 0, __ATOMIC_RELAXED);
            cpu_kick(m->vcpus[i]);      /* end a pause now */
        }
    }
}

int cpu_throttle_get_percentage(Machine *m)
{
    return m->throttle ? __atomic_load_n(&m->throttle->pct, __ATOMIC_RELAXED) : 0;
}
