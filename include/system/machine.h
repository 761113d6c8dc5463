/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Machine: everything one guest is made of (RAM blocks, vCPUs, devices,
 * run state) and the one place that starts and stops it.
 *
 * Threads and locks:
 *  - Fields under "set at creation" are written by main() before the first
 *    vCPU thread starts and are read-only afterwards.
 *  - run_lock protects runstate and every Vcpu's stop/stopped flags; it is
 *    taken by the main loop (stop/cont), the migration threads and vCPU
 *    threads.  run_cond is signalled whenever a stopped flag or a stop
 *    request changes.
 *  - Events are delivered through event_fn, which may be called from any
 *    thread; the monitor that installs it forwards them to the main loop.
 */
#ifndef KVMIG_SYSTEM_MACHINE_H
#define KVMIG_SYSTEM_MACHINE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/memory.h"
#include "system/runstate.h"

typedef struct AccelOps AccelOps;
typedef struct SerialState SerialState;
typedef struct PitState PitState;
typedef struct CpuThrottle CpuThrottle;

/* A vCPU's run and pause under a throttle (include/system/cpu-throttle.h). */
typedef struct CpuThrottleRun {
    uint64_t run_cpu_ns;        /* thread CPU time when the run began; 0: none yet */
    uint64_t pause_until_ns;    /* monotonic end of the pause; 0: none */
} CpuThrottleRun;

#define MACHINE_MAX_CPUS 64
#define MACHINE_MAX_MAPPINGS 4
#define MACHINE_MAX_IO 32

/* Guest-physical layout (a PC without the legacy bits kvmig does not need). */
#define MACHINE_LOWMEM_MAX   0xC0000000ULL  /* RAM below 4G ends at 3 GiB ... */
#define MACHINE_HIGHMEM_BASE 0x100000000ULL /* ... and continues at 4 GiB */
#define MACHINE_MMIO_BASE    0xD0000000ULL  /* virtio-mmio and friends */

typedef struct Vcpu {
    /* set at creation */
    struct Machine *machine;
    int index;
    GThread *thread;
    void *accel;                /* the accelerator's per-vCPU state */
    int tid;                    /* atomic: the vCPU thread's kernel id, set when it starts */

    /* protected by machine->run_lock */
    bool stop;                  /* requested: leave exec, wait */
    bool stopped;               /* acknowledged: touching no guest memory */
    bool halted;                /* idle in HLT (informational) */

    /* any thread, atomic: non-zero asks the vCPU to leave exec at once */
    int exit_request;
    /* any thread, atomic: percent of each 10 ms slice to sleep (auto-converge) */
    int throttle_pct;
    /* vCPU thread: its run and pause under a throttle (system/cpu-throttle.c) */
    CpuThrottleRun throttle_run;
} Vcpu;

typedef void (*MachineEventFn)(void *opaque, const char *event, JsonObject *data);

typedef struct IoHandler {
    uint64_t base, len;
    const IoOps *ops;
    void *opaque;
} IoHandler;

typedef struct Machine {
    /* set at creation */
    uint64_t ram_size;
    int smp;
    const AccelOps *accel;
    void *accel_state;
    char *kernel_path;          /* NULL: the built-in test guest */
    char *append;               /* guest command line ("" if none) */
    char *accel_dirty;          /* -accel thread,dirty= ("uffd", "soft"); NULL: default */
    RAMBlock *ram_blocks[2];
    unsigned nr_ram_blocks;
    MemMapping mappings[MACHINE_MAX_MAPPINGS];
    unsigned nr_mappings;
    IoHandler pio[MACHINE_MAX_IO];
    unsigned nr_pio;
    IoHandler mmio[MACHINE_MAX_IO];
    unsigned nr_mmio;
    Vcpu *vcpus[MACHINE_MAX_CPUS];
    /* the devices: set by board_init and cleared by board_free (hw/board.h) */
    SerialState *serial;
    PitState *pit;
    struct VirtIOBalloon *balloon;  /* -device virtio-balloon, or NULL */
    CpuThrottle *throttle;      /* system/cpu-throttle.c; set by cpus_create, may be NULL */
    GMainContext *main_ctx;     /* the main loop's context */

    struct MigrationState *migration;   /* set by main; NULL in unit tests */
    GHashTable *named_fds;      /* getfd: name -> fd (main thread only) */
    bool start_paused;          /* -S: do not run vCPUs until cont */

    MachineEventFn event_fn;    /* may be NULL; set by the monitor */
    void *event_opaque;
    /* set by main: ends the main loop with the status (main thread) */
    void (*quit_fn)(void *opaque, int status);
    void *quit_opaque;

    /* protected by run_lock */
    GMutex run_lock;
    GCond run_cond;
    RunState runstate;
    bool vcpus_started;         /* vCPU threads exist */
    bool quit;                  /* vCPU threads must exit */
} Machine;

/* Create the machine: RAM blocks and mappings; no accelerator yet. */
Machine *machine_new(uint64_t ram_size, int smp, GError **errp);
/*
 * Stop the vCPU threads (cpus_destroy, if the caller has not), release the
 * accelerator, RAM and everything else.  The devices must be gone already
 * (board_free, hw/board.h): the machine owns none of them.
 */
void machine_free(Machine *m);

/* Emit a monitor event (data is consumed; may be NULL). Any thread. */
void machine_emit_event(Machine *m, const char *event, JsonObject *data);

RunState machine_runstate(Machine *m);
bool machine_is_running(Machine *m);
void machine_set_runstate(Machine *m, RunState s);

/*
 * vm_stop: if the guest is running, pause every vCPU (synchronously: on
 * return no vCPU touches guest memory), set @state and emit STOP; returns
 * true.  If it is not running, change nothing and return false (QEMU's
 * semantics: a `stop` racing with a switchover must not overwrite
 * finish-migrate).  Any thread but a vCPU thread.
 */
bool vm_stop(Machine *m, RunState state);
/* vm_stop_force_state: like vm_stop, but set @state even if not running. */
void vm_stop_force_state(Machine *m, RunState state);
/* vm_start: set running, resume every vCPU, emit RESUME (if not running). */
void vm_start(Machine *m);
/*
 * vm_start_if_stopped: vm_start only if the run state is one a user may
 * `cont` from (paused, prelaunch, postmigrate), checked and changed under
 * run_lock.  Returns false with the current state in *cur otherwise.
 */
bool vm_start_if_stopped(Machine *m, RunState *cur);

/* Create the vCPUs (accelerator state, no threads yet). */
bool cpus_create(Machine *m, GError **errp);
/* Start the vCPU threads; they run only while the run state is running. */
bool cpus_start(Machine *m, GError **errp);
/*
 * cpus_destroy: make every vCPU thread exit, join it and free the vCPUs
 * (and the throttle, which kicks them).  On return no vCPU runs guest code
 * or reaches a device.  Main thread; idempotent.
 */
void cpus_destroy(Machine *m);
/* Make one vCPU leave the accelerator's exec loop soon.  Any thread. */
void cpu_kick(Vcpu *cpu);
/*
 * Ask the whole VMM to quit with an exit status, from any thread (guest
 * shutdown, QMP quit, a failed incoming migration): quit_fn runs later in
 * the main loop.
 */
void machine_request_quit(Machine *m, int status);

#endif
