/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic vCPU loop, pause/resume of all vCPUs, vm_stop/vm_start.
 *
 * Locking: machine->run_lock guards runstate, cpu->stop, cpu->stopped and
 * cpu->halted.  The kick protocol has no lost wake-ups:
 *
 *   stopper (vm_stop)                      vCPU thread
 *   lock; cpu->stop = true;                lock; stop? no -> exit_request = 0;
 *   exit_request = 1; kick; unlock         unlock; vcpu_exec() sees exit_request
 *
 * exit_request is cleared only under run_lock, after checking cpu->stop, so
 * a request made after the check is seen by vcpu_exec.
 */
#include <sys/syscall.h>
#include <unistd.h>

#include "accel/accel.h"
#include "system/cpu-throttle.h"
#include "system/machine.h"
#include "util/error.h"

static bool cpu_may_run_locked(Vcpu *cpu)
{
    Machine *m = cpu->machine;

    return !m->quit && !cpu->stop && m->runstate == RUN_STATE_RUNNING;
}

/*
 * Auto-converge: after vcpu_exec returned (the kicker's kick, see
 * system/cpu-throttle.c), sleep if the vCPU used its running share.  A
 * stop request, quit or the throttle's release ends the sleep early (each
 * comes with a cpu_kick, which broadcasts run_cond); other kicks do not,
 * as a throttled vCPU in QEMU sleeps through them too.
 */
static void cpu_throttle_sleep_locked(Vcpu *cpu)
{
    Machine *m = cpu->machine;
    uint64_t until = cpu_throttle_due(cpu, cpu_throttle_now_ns());

    while (until && cpu_may_run_locked(cpu) && cpu_throttle_now_ns() < until &&
           __atomic_load_n(&cpu->throttle_pct, __ATOMIC_RELAXED)) {
        g_cond_wait_until(&m->run_cond, &m->run_lock, (gint64)(until / 1000) + 1);
    }
}

static void pause_all_locked(Machine *m);

/*
 * The guest ended itself (power-off, a reset kvmig cannot do, a panic):
 * SHUTDOWN with QEMU's reason, then quit with @status.  Called with
 * run_lock held; drops it around the event.
 */
static void guest_shutdown_locked(Vcpu *cpu, const char *reason, int status)
{
    Machine *m = cpu->machine;
    JsonObject *data = json_object_new();

    if (status) {
        g_printerr("kvmig: vCPU %d: guest %s; kvmig has no reset, shutting down\n",
                   cpu->index, reason);
    }
    json_object_set_boolean_member(data, "guest", true);
    json_object_set_string_member(data, "reason", reason);
    g_mutex_unlock(&m->run_lock);
    machine_emit_event(m, "SHUTDOWN", data);
    machine_request_quit(m, status);
    g_mutex_lock(&m->run_lock);
}

/*
 * A vCPU the accelerator cannot go on running (emulation failure,
 * internal error): as QEMU, the whole VM stops in run state
 * internal-error with a STOP event, and the process stays up for the
 * monitors (`cont` is refused).  The accelerator printed the one line
 * that says why.  Called with run_lock held.
 */
static void internal_error_stop_locked(Vcpu *cpu)
{
    Machine *m = cpu->machine;

    if (m->runstate != RUN_STATE_RUNNING) {
        return;     /* already stopping for something else */
    }
    m->runstate = RUN_STATE_INTERNAL_ERROR;
    pause_all_locked(m);
    g_mutex_unlock(&m->run_lock);
    machine_emit_event(m, "STOP", NULL);
    g_mutex_lock(&m->run_lock);
}

static gpointer vcpu_thread_fn(gpointer opaque)
{
    Vcpu *cpu = opaque;
    Machine *m = cpu->machine;

    /* postcopy-blocktime tells vCPUs apart by the faulting thread's id */
    __atomic_store_n(&cpu->tid, (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
    if (m->accel->vcpu_thread_init) {
        m->accel->vcpu_thread_init(cpu);
    }
    g_mutex_lock(&m->run_lock);
    while (!m->quit) {
        VcpuExit r;

        if (!cpu_may_run_locked(cpu) ||
            (cpu->halted && !__atomic_load_n(&cpu->exit_request, __ATOMIC_ACQUIRE))) {
            if (!cpu_may_run_locked(cpu) && !cpu->stopped) {
                cpu->stopped = true;
                g_cond_broadcast(&m->run_cond);
            }
            g_cond_wait(&m->run_cond, &m->run_lock);
            continue;
        }
        cpu->stopped = false;
        cpu->halted = false;
        __atomic_store_n(&cpu->exit_request, 0, __ATOMIC_RELEASE);
        g_mutex_unlock(&m->run_lock);

        r = m->accel->vcpu_exec(cpu);

        g_mutex_lock(&m->run_lock);
        switch (r) {
        case VCPU_EXIT_KICKED:
            cpu_throttle_sleep_locked(cpu);
            break;
        case VCPU_EXIT_HALT:
            /* Sleep until kicked (cpu_kick broadcasts run_cond). */
            cpu->halted = true;
            break;
        case VCPU_EXIT_SHUTDOWN:
            cpu->halted = true;
            guest_shutdown_locked(cpu, "guest-shutdown", 0);
            break;
        case VCPU_EXIT_RESET:
            cpu->halted = true;
            guest_shutdown_locked(cpu, "guest-reset", 1);
            break;
        case VCPU_EXIT_PANIC:
            cpu->halted = true;
            guest_shutdown_locked(cpu, "guest-panic", 1);
            break;
        case VCPU_EXIT_ERROR:
            /* halted counts as stopped: pause_all_locked waits for the others */
            cpu->halted = true;
            internal_error_stop_locked(cpu);
            break;
        }
    }
    cpu->stopped = true;
    g_cond_broadcast(&m->run_cond);
    g_mutex_unlock(&m->run_lock);
    return NULL;
}

void cpu_kick(Vcpu *cpu)
{
    Machine *m = cpu->machine;

    __atomic_store_n(&cpu->exit_request, 1, __ATOMIC_RELEASE);
    if (m->accel && m->accel->vcpu_kick) {
        m->accel->vcpu_kick(cpu);
    }
    /* Wake a vCPU sleeping in the halt wait; callers may hold run_lock. */
    g_cond_broadcast(&m->run_cond);
}

bool cpus_create(Machine *m, GError **errp)
{
    for (int i = 0; i < m->smp; i++) {
        Vcpu *cpu = g_new0(Vcpu, 1);

        cpu->machine = m;
        cpu->index = i;
        cpu->stopped = true;
        m->vcpus[i] = cpu;
        if (!m->accel->vcpu_init(cpu, errp)) {
            return false;
        }
    }
    cpu_throttle_init(m);
    return true;
}

/* Start the threads; called once, after load_guest or an incoming setup. */
bool cpus_start(Machine *m, GError **errp)
{
    g_mutex_lock(&m->run_lock);
    m->vcpus_started = true;
    g_mutex_unlock(&m->run_lock);
    for (int i = 0; i < m->smp; i++) {
        Vcpu *cpu = m->vcpus[i];
        g_autofree char *name = g_strdup_printf("vcpu%d", i);
        GThread *t = g_thread_try_new(name, vcpu_thread_fn, cpu, errp);

        if (!t) {
            return false;
        }
        cpu->thread = t;
    }
    return true;
}

void cpus_destroy(Machine *m)
{
    cpu_throttle_cleanup(m);    /* its kicker touches the vCPUs */
    g_mutex_lock(&m->run_lock);
    m->quit = true;
    g_cond_broadcast(&m->run_cond);
    for (int i = 0; i < m->smp; i++) {
        if (m->vcpus[i] && m->vcpus_started) {
            cpu_kick(m->vcpus[i]);
        }
    }
    g_mutex_unlock(&m->run_lock);
    for (int i = 0; i < m->smp; i++) {
        Vcpu *cpu = m->vcpus[i];
        if (!cpu) {
            continue;
        }
        if (cpu->thread) {
            g_thread_join(cpu->thread);
        }
        if (m->accel && m->accel->vcpu_destroy) {
            m->accel->vcpu_destroy(cpu);
        }
        g_free(cpu);
        m->vcpus[i] = NULL;
    }
}

/*
 * A halted vCPU (halted is set under run_lock when vcpu_exec returned) is
 * outside guest code and must take run_lock and pass cpu_may_run_locked()
 * before it runs again, so it counts as stopped at once: no kick, no
 * wake-up to wait for.  It stays halted across the stop, as on hardware.
 */
static void pause_all_locked(Machine *m)
{
    for (int i = 0; i < m->smp; i++) {
        Vcpu *cpu = m->vcpus[i];

        cpu->stop = true;
        if (cpu->halted) {
            cpu->stopped = true;
            continue;
        }
        cpu_kick(cpu);
    }
    if (!m->vcpus_started) {
        return;
    }
    for (int i = 0; i < m->smp; i++) {
        while (!m->vcpus[i]->stopped) {
            g_cond_wait(&m->run_cond, &m->run_lock);
        }
    }
}

static bool do_vm_stop(Machine *m, RunState state, bool force)
{
    bool was_running;

    g_mutex_lock(&m->run_lock);
    was_running = m->runstate == RUN_STATE_RUNNING;
    if (was_running || force) {
        m->runstate = state;
        pause_all_locked(m);
    }
    g_mutex_unlock(&m->run_lock);
    if (was_running) {
        machine_emit_event(m, "STOP", NULL);
    }
    return was_running;
}

bool vm_stop(Machine *m, RunState state)
{
    return do_vm_stop(m, state, false);
}

void vm_stop_force_state(Machine *m, RunState state)
{
    do_vm_stop(m, state, true);
}

static bool may_cont_from(RunState s)
{
    return s == RUN_STATE_PAUSED || s == RUN_STATE_PRELAUNCH || s == RUN_STATE_POSTMIGRATE;
}

/* Resume under run_lock; emits RESUME if the guest was not running. */
static void vm_start_locked_and_unlock(Machine *m)
{
    bool was_running = m->runstate == RUN_STATE_RUNNING;

    m->runstate = RUN_STATE_RUNNING;
    for (int i = 0; i < m->smp; i++) {
        m->vcpus[i]->stop = false;
    }
    g_cond_broadcast(&m->run_cond);
    g_mutex_unlock(&m->run_lock);
    if (!was_running) {
        machine_emit_event(m, "RESUME", NULL);
    }
}

bool vm_start_if_stopped(Machine *m, RunState *cur)
{
    g_mutex_lock(&m->run_lock);
    *cur = m->runstate;
    if (!may_cont_from(m->runstate)) {
        g_mutex_unlock(&m->run_lock);
        return false;
    }
    vm_start_locked_and_unlock(m);
    return true;
}

void vm_start(Machine *m)
{
    g_mutex_lock(&m->run_lock);
    vm_start_locked_and_unlock(m);
}
