/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration subsystem's interface to main() and the monitor: creating
 * the MigrationState, -incoming, and the QMP migration commands.  All are
 * called in the main thread (main loop); errors use QEMU's wording.
 */
#ifndef KVMIG_MIGRATION_MIGRATION_H
#define KVMIG_MIGRATION_MIGRATION_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "system/machine.h"

typedef struct MigrationState MigrationState;
typedef struct MigrationOptions MigrationOptions;

/*
 * migration_new: the migration state of @m, which owns the migration
 * options (capabilities and parameters, QEMU's defaults until the monitor
 * changes them: see migration_options()).
 * Call after machine_new() and the accelerator's init and vCPU creation
 * (vcpu_init), before devices are created (they register their vmstate
 * with m->migration), and set m->migration to the result.  Registers the
 * "ram" section and the machine-level sections (machine shape, run state,
 * accelerator/vCPU state).  Ignores SIGPIPE process-wide: a destination
 * that goes away must be an error, not a killed source.
 */
MigrationState *migration_new(Machine *m, GError **errp);
/*
 * migration_options: the capabilities and parameters @s owns, valid until
 * migration_free().  The monitor changes them and any thread reads them
 * only through options.h's functions, which take their lock (the rule is
 * at the top of migration/options.c).
 */
MigrationOptions *migration_options(MigrationState *s);
/* Cancel and join any migration thread, free everything.  After the vCPUs stopped. */
void migration_free(MigrationState *s);

/*
 * migration_incoming_uri_check: is @uri a well-formed -incoming value
 * (tcp:HOST:PORT, unix:PATH, exec:CMD, fd:NAME, file:PATH[,offset=N],
 * rdma:HOST:PORT or "defer")?  For the command line, before any guest runs.
 */
bool migration_incoming_uri_check(const char *uri, GError **errp);

/*
 * migration_start_incoming_cmdline: -incoming @uri.  Sets the run state to
 * inmigrate, then for "defer" waits for migrate-incoming; otherwise binds /
 * opens @uri now (errors are returned: main exits 1) and loads the stream
 * in the incoming thread.  Call after every device is registered, before
 * the main loop runs.  When the load fails, kvmig prints one line and
 * quits with status 1 (machine_request_quit).
 */
bool migration_start_incoming_cmdline(MigrationState *s, const char *uri, GError **errp);

/* migrate: start an outgoing migration to @uri (always detached). */
bool qmp_migrate(MigrationState *s, const char *uri, bool resume, GError **errp);
/* migrate-incoming: listen on / open @uri (after -incoming defer). */
bool qmp_migrate_incoming(MigrationState *s, const char *uri, GError **errp);
/* migrate_cancel: cancel the outgoing migration, if any. */
bool qmp_migrate_cancel(MigrationState *s, GError **errp);
/* migrate-start-postcopy: switch the running migration to postcopy (postcopy-ram). */
bool qmp_migrate_start_postcopy(MigrationState *s, GError **errp);
/* migrate-pause: QEMU's checks; kvmig has no recovery, so it is refused. */
bool qmp_migrate_pause(MigrationState *s, GError **errp);
/* migrate-recover (destination): QEMU's checks; refused, no recovery. */
bool qmp_migrate_recover(MigrationState *s, const char *uri, GError **errp);
/* query-migrate: the MigrationInfo object; new object, caller owns. */
JsonObject *qmp_query_migrate(MigrationState *s);
/* migrate-continue: leave the paused @state (e.g. "pre-switchover"). */
bool qmp_migrate_continue(MigrationState *s, const char *state, GError **errp);

/*
 * The registry of -object / object-add objects (TLS credentials, authz)
 * the migrations of @s use.  Main thread adds and deletes.
 */
struct MigObjects *migration_objects(MigrationState *s);

/* Is an outgoing migration running (capabilities may not change)? */
bool migration_is_active(MigrationState *s);

#endif
