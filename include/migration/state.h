/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration status machine (QEMU's MigrationStatus names), its table of
 * allowed transitions and the one function that moves between states.
 *
 *   none/completed/failed/cancelled --> setup --> active --> device --> completed
 *                                        |          |   \                 ^
 *                                        |          |    pre-switchover --+-> device
 *                                        v          v        |
 *                      failed <--- (setup, active, pre-switchover, device)
 *                      cancelling <--- (setup, active, pre-switchover, device)
 *                      cancelling --> cancelled | failed
 *
 * Postcopy: active --> postcopy-active --> completed; a broken link in
 * postcopy-active --> postcopy-paused (both sides) --> postcopy-recover-setup
 * --> postcopy-recover --> postcopy-active.
 *
 * The destination uses none -> setup -> active -> completed | failed.  The full table
 * is in state.c; docs/devel/migration/main.rst draws it.
 */
#ifndef KVMIG_MIGRATION_STATE_H
#define KVMIG_MIGRATION_STATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct MigrationState MigrationState;

typedef enum MigrationStatus {
    MIGRATION_STATUS_NONE,
    MIGRATION_STATUS_SETUP,
    MIGRATION_STATUS_CANCELLING,
    MIGRATION_STATUS_CANCELLED,
    MIGRATION_STATUS_ACTIVE,
    MIGRATION_STATUS_COMPLETED,
    MIGRATION_STATUS_FAILED,
    MIGRATION_STATUS_PRE_SWITCHOVER,
    MIGRATION_STATUS_DEVICE,
    /* postcopy (docs/devel/migration/postcopy.rst) */
    MIGRATION_STATUS_POSTCOPY_ACTIVE,
    MIGRATION_STATUS_POSTCOPY_PAUSED,
    MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
    MIGRATION_STATUS_POSTCOPY_RECOVER,
    MIGRATION_STATUS__MAX,
} MigrationStatus;

/* Postcopy has started: the destination may run the guest (QEMU's migration_in_postcopy). */
bool migration_status_in_postcopy(MigrationStatus s);

/* QEMU's wire name ("pre-switchover"), or NULL for a bad value. */
const char *migration_status_name(MigrationStatus s);
/* Parse a name; false if unknown. */
bool migration_status_parse(const char *name, MigrationStatus *out);

/* True if the table allows @from -> @to. */
bool migration_transition_allowed(MigrationStatus from, MigrationStatus to);

/*
 * migration_status_cas: atomically move *@status from @old to @new if it is
 * @old and the table allows it.  Returns false (and changes nothing)
 * otherwise.  Any thread.
 */
bool migration_status_cas(int *status, MigrationStatus old, MigrationStatus new_);

/*
 * migrate_set_state: migration_status_cas() on @status (the outgoing or
 * incoming status of @s), then, when the `events` capability is on, emit
 * the MIGRATION {status} event.  Any thread.  Returns whether it moved.
 */
bool migrate_set_state(MigrationState *s, int *status, MigrationStatus old,
                       MigrationStatus new_);

/* Terminal (completed, failed, cancelled) or none: a new migration may start. */
bool migration_status_is_idle(MigrationStatus s);
/* setup, active, pre-switchover, device, cancelling. */
bool migration_status_is_running(MigrationStatus s);

/* Emit MIGRATION_PASS {pass} (when `events` is on).  Any thread. */
void migration_emit_pass(MigrationState *s, uint64_t pass);

#endif
