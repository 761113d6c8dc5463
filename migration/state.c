/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration status machine: names, the table of allowed transitions,
 * the compare-and-swap that enforces it and the MIGRATION / MIGRATION_PASS
 * events.
 */
#include <string.h>

#include "migration/migration-int.h"

static const char *const status_names[MIGRATION_STATUS__MAX] = {
    [MIGRATION_STATUS_NONE] = "none",
    [MIGRATION_STATUS_SETUP] = "setup",
    [MIGRATION_STATUS_CANCELLING] = "cancelling",
    [MIGRATION_STATUS_CANCELLED] = "cancelled",
    [MIGRATION_STATUS_ACTIVE] = "active",
    [MIGRATION_STATUS_COMPLETED] = "completed",
    [MIGRATION_STATUS_FAILED] = "failed",
    [MIGRATION_STATUS_PRE_SWITCHOVER] = "pre-switchover",
    [MIGRATION_STATUS_DEVICE] = "device",
    [MIGRATION_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
    [MIGRATION_STATUS_POSTCOPY_PAUSED] = "postcopy-paused",
    [MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP] = "postcopy-recover-setup",
    [MIGRATION_STATUS_POSTCOPY_RECOVER] = "postcopy-recover",
};

#define T(s) (1u << MIGRATION_STATUS_##s)

/* allowed[from] = the set of states @from may move to */
static const unsigned allowed[MIGRATION_STATUS__MAX] = {
    [MIGRATION_STATUS_NONE] = T(SETUP),
    [MIGRATION_STATUS_SETUP] = T(ACTIVE) | T(FAILED) | T(CANCELLING),
    /* active -> completed: the destination's load (the source goes via device) */
    [MIGRATION_STATUS_ACTIVE] = T(DEVICE) | T(PRE_SWITCHOVER) | T(COMPLETED) |
                                T(FAILED) | T(CANCELLING) | T(POSTCOPY_ACTIVE),
    /*
     * Postcopy: once the destination may run the guest, nothing goes back
     * to the source: no cancel (QEMU refuses it), a broken link pauses
     * both sides; failed only for a destination's load error it reports.
     */
    [MIGRATION_STATUS_POSTCOPY_ACTIVE] = T(COMPLETED) | T(POSTCOPY_PAUSED) | T(FAILED),
    [MIGRATION_STATUS_POSTCOPY_PAUSED] = T(POSTCOPY_RECOVER_SETUP) | T(POSTCOPY_RECOVER),
    [MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP] = T(POSTCOPY_RECOVER) | T(POSTCOPY_PAUSED),
    [MIGRATION_STATUS_POSTCOPY_RECOVER] = T(POSTCOPY_ACTIVE) | T(POSTCOPY_PAUSED),
    [MIGRATION_STATUS_PRE_SWITCHOVER] = T(DEVICE) | T(FAILED) | T(CANCELLING),
    [MIGRATION_STATUS_DEVICE] = T(COMPLETED) | T(FAILED) | T(CANCELLING),
    [MIGRATION_STATUS_CANCELLING] = T(CANCELLED) | T(FAILED),
    /* a finished migration may be followed by a new one */
    [MIGRATION_STATUS_COMPLETED] = T(SETUP),
    [MIGRATION_STATUS_FAILED] = T(SETUP),
    [MIGRATION_STATUS_CANCELLED] = T(SETUP),
};

const char *migration_status_name(MigrationStatus s)
{
    return (unsigned)s < MIGRATION_STATUS__MAX ? status_names[s] : NULL;
}

bool migration_status_parse(const char *name, MigrationStatus *out)
{
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        if (!strcmp(status_names[i], name)) {
            *out = i;
            return true;
        }
    }
    return false;
}

bool migration_transition_allowed(MigrationStatus from, MigrationStatus to)
{
    if ((unsigned)from >= MIGRATION_STATUS__MAX || (unsigned)to >= MIGRATION_STATUS__MAX) {
        return false;
    }
    return allowed[from] & (1u << to);
}

bool migration_status_cas(int *status, MigrationStatus old, MigrationStatus new_)
{
    int expected = old;

    if (!migration_transition_allowed(old, new_)) {
        return false;
    }
    return __atomic_compare_exchange_n(status, &expected, (int)new_, false,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool events_on(MigrationState *s)
{
    return s->opts && migrate_cap(s->opts, MIGRATION_CAPABILITY_EVENTS);
}

bool migrate_set_state(MigrationState *s, int *status, MigrationStatus old,
                       MigrationStatus new_)
{
    if (!migration_status_cas(status, old, new_)) {
        return false;
    }
    if (s->m && events_on(s)) {
        JsonObject *data = json_object_new();
        json_object_set_string_member(data, "status", status_names[new_]);
        machine_emit_event(s->m, "MIGRATION", data);
    }
    return true;
}

bool migration_status_is_idle(MigrationStatus s)
{
    return s == MIGRATION_STATUS_NONE || s == MIGRATION_STATUS_COMPLETED ||
           s == MIGRATION_STATUS_FAILED || s == MIGRATION_STATUS_CANCELLED;
}

bool migration_status_in_postcopy(MigrationStatus s)
{
    return s == MIGRATION_STATUS_POSTCOPY_ACTIVE || s == MIGRATION_STATUS_POSTCOPY_PAUSED ||
           s == MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP ||
           s == MIGRATION_STATUS_POSTCOPY_RECOVER;
}

bool migration_status_is_running(MigrationStatus s)
{
    return !migration_status_is_idle(s);
}

void migration_emit_pass(MigrationState *s, uint64_t pass)
{
    if (s->m && events_on(s)) {
        JsonObject *data = json_object_new();
        json_object_set_int_member(data, "pass", pass);
        machine_emit_event(s->m, "MIGRATION_PASS", data);
    }
}
