/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the migration status machine: every transition, allowed or refused, and its events. */
#include <string.h>

#include "migration/migration-int.h"

#define S(x) MIGRATION_STATUS_##x

/* The allowed transitions, written out independently of state.c's table. */
static const struct { MigrationStatus from, to; } allowed[] = {
    { S(NONE), S(SETUP) },
    { S(SETUP), S(ACTIVE) }, { S(SETUP), S(FAILED) }, { S(SETUP), S(CANCELLING) },
    { S(ACTIVE), S(DEVICE) }, { S(ACTIVE), S(PRE_SWITCHOVER) }, { S(ACTIVE), S(FAILED) },
    { S(ACTIVE), S(COMPLETED) },     /* the destination */
    { S(ACTIVE), S(CANCELLING) }, { S(ACTIVE), S(POSTCOPY_ACTIVE) },
    /* postcopy: no way back to the source, no cancel */
    { S(POSTCOPY_ACTIVE), S(COMPLETED) }, { S(POSTCOPY_ACTIVE), S(POSTCOPY_PAUSED) },
    { S(POSTCOPY_ACTIVE), S(FAILED) },
    { S(POSTCOPY_PAUSED), S(POSTCOPY_RECOVER_SETUP) }, { S(POSTCOPY_PAUSED), S(POSTCOPY_RECOVER) },
    { S(POSTCOPY_RECOVER_SETUP), S(POSTCOPY_RECOVER) },
    { S(POSTCOPY_RECOVER_SETUP), S(POSTCOPY_PAUSED) },
    { S(POSTCOPY_RECOVER), S(POSTCOPY_ACTIVE) }, { S(POSTCOPY_RECOVER), S(POSTCOPY_PAUSED) },
    { S(PRE_SWITCHOVER), S(DEVICE) }, { S(PRE_SWITCHOVER), S(FAILED) },
    { S(PRE_SWITCHOVER), S(CANCELLING) },
    { S(DEVICE), S(COMPLETED) }, { S(DEVICE), S(FAILED) }, { S(DEVICE), S(CANCELLING) },
    { S(CANCELLING), S(CANCELLED) }, { S(CANCELLING), S(FAILED) },
    { S(COMPLETED), S(SETUP) }, { S(FAILED), S(SETUP) }, { S(CANCELLED), S(SETUP) },
};

static bool expect_allowed(MigrationStatus from, MigrationStatus to)
{
    for (size_t i = 0; i < G_N_ELEMENTS(allowed); i++) {
        if (allowed[i].from == from && allowed[i].to == to) {
            return true;
        }
    }
    return false;
}

typedef struct Events {
    GPtrArray *names;
} Events;

static void record_event(void *opaque, const char *event, JsonObject *data)
{
    Events *ev = opaque;

    if (!strcmp(event, "MIGRATION")) {
        g_ptr_array_add(ev->names, g_strdup(json_object_get_string_member(data, "status")));
    } else {
        g_ptr_array_add(ev->names, g_strdup_printf("%s:%" G_GINT64_FORMAT, event,
                                                   json_object_get_int_member(data, "pass")));
    }
    if (data) {
        json_object_unref(data);
    }
}

static void test_names(void)
{
    static const char *const names[] = {
        "none", "setup", "cancelling", "cancelled", "active", "completed", "failed",
        "pre-switchover", "device", "postcopy-active", "postcopy-paused",
        "postcopy-recover-setup", "postcopy-recover",
    };
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        MigrationStatus s;
        g_assert_cmpstr(migration_status_name(i), ==, names[i]);
        g_assert_true(migration_status_parse(names[i], &s));
        g_assert_cmpint(s, ==, i);
    }
    g_assert_null(migration_status_name(MIGRATION_STATUS__MAX));
    g_assert_false(migration_status_parse("wait-unplug", &(MigrationStatus){ 0 }));
}

/* Every (from, to) pair: the table and the CAS agree with the list above. */
static void test_every_transition(void)
{
    MigrationState s = { 0 };
    int walked = 0, refused = 0;

    for (int from = 0; from < MIGRATION_STATUS__MAX; from++) {
        for (int to = 0; to < MIGRATION_STATUS__MAX; to++) {
            bool want = expect_allowed(from, to);
            int status = from;

            g_assert_cmpint(migration_transition_allowed(from, to), ==, want);
            g_assert_cmpint(migrate_set_state(&s, &status, from, to), ==, want);
            g_assert_cmpint(status, ==, want ? to : from);
            want ? walked++ : refused++;
        }
    }
    g_assert_cmpint(walked, ==, G_N_ELEMENTS(allowed));
    g_assert_cmpint(refused, >, 0);
}

static void test_cas_needs_the_old_state(void)
{
    MigrationState s = { 0 };
    int status = S(ACTIVE);

    /* a cancel racing with completion: only one wins */
    g_assert_true(migrate_set_state(&s, &status, S(ACTIVE), S(CANCELLING)));
    g_assert_false(migrate_set_state(&s, &status, S(ACTIVE), S(DEVICE)));
    g_assert_false(migrate_set_state(&s, &status, S(DEVICE), S(COMPLETED)));
    g_assert_cmpint(status, ==, S(CANCELLING));
    g_assert_false(migration_transition_allowed(S(COMPLETED), S(ACTIVE)));
    g_assert_false(migration_transition_allowed(S(NONE), S(COMPLETED)));
    g_assert_false(migration_transition_allowed(S(SETUP), S(DEVICE)));
    g_assert_false(migration_transition_allowed(-1, S(SETUP)));
}

static void test_events(void)
{
    Machine m = { 0 };
    MigrationOptions opts;
    MigrationState s = { 0 };
    Events ev = { g_ptr_array_new_with_free_func(g_free) };
    int status = S(NONE);

    mig_opts_init(&opts);
    m.event_fn = record_event;
    m.event_opaque = &ev;
    s.m = &m;
    s.opts = &opts;

    /* events capability off: nothing */
    g_assert_true(migrate_set_state(&s, &status, S(NONE), S(SETUP)));
    g_assert_cmpuint(ev.names->len, ==, 0);

    g_mutex_lock(&opts.lock);
    opts.caps[MIGRATION_CAPABILITY_EVENTS] = true;
    g_mutex_unlock(&opts.lock);
    g_assert_true(migrate_set_state(&s, &status, S(SETUP), S(ACTIVE)));
    migration_emit_pass(&s, 2);
    g_assert_false(migrate_set_state(&s, &status, S(SETUP), S(ACTIVE)));    /* no event */
    g_assert_true(migrate_set_state(&s, &status, S(ACTIVE), S(PRE_SWITCHOVER)));
    g_assert_true(migrate_set_state(&s, &status, S(PRE_SWITCHOVER), S(DEVICE)));
    g_assert_true(migrate_set_state(&s, &status, S(DEVICE), S(COMPLETED)));
    g_assert_cmpuint(ev.names->len, ==, 5);
    g_assert_cmpstr(ev.names->pdata[0], ==, "active");
    g_assert_cmpstr(ev.names->pdata[1], ==, "MIGRATION_PASS:2");
    g_assert_cmpstr(ev.names->pdata[2], ==, "pre-switchover");
    g_assert_cmpstr(ev.names->pdata[3], ==, "device");
    g_assert_cmpstr(ev.names->pdata[4], ==, "completed");
    g_ptr_array_free(ev.names, TRUE);
    mig_opts_destroy(&opts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mig-state/names", test_names);
    g_test_add_func("/mig-state/every-transition", test_every_transition);
    g_test_add_func("/mig-state/cas", test_cas_needs_the_old_state);
    g_test_add_func("/mig-state/events", test_events);
    return g_test_run();
}
