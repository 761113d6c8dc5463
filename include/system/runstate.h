/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest's run state, with QEMU's names (qapi RunState). */
#ifndef KVMIG_SYSTEM_RUNSTATE_H
#define KVMIG_SYSTEM_RUNSTATE_H

typedef enum RunState {
    RUN_STATE_PRELAUNCH,        /* -S: created, never started */
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,           /* stop */
    RUN_STATE_INMIGRATE,        /* waiting for / loading an incoming migration */
    RUN_STATE_POSTMIGRATE,      /* source after a completed migration */
    RUN_STATE_FINISH_MIGRATE,   /* source stopped for switchover */
    RUN_STATE_SHUTDOWN,
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE__MAX,
} RunState;

const char *runstate_name(RunState s);

#endif
