/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP handlers of the migration and balloon commands: thin wrappers
 * over include/migration/migration.h, migration/options.c and the balloon
 * hooks, with QEMU's error texts.  Main thread only.
 */
#include <string.h>

#include "hw/virtio/virtio-balloon.h"
#include "migration/migration.h"
#include "migration/tls.h"
#include "monitor-internal.h"

/* qapi MigrationStatus, in QEMU's order */
const char *const monitor_migration_status_names[] = {
    "none", "setup", "cancelling", "cancelled", "active", "postcopy-active",
    "postcopy-paused", "postcopy-recover-setup", "postcopy-recover", "completed", "failed", "colo",
    "pre-switchover", "device", "wait-unplug", NULL
};

static MigrationState *migration_state(MonitorCmdCtx *ctx, GError **errp)
{
    if (!ctx->m->migration) {
        kvmig_error(errp, "migration is not available in this build");
        return NULL;
    }
    return ctx->m->migration;
}

char *monitor_migration_status(MonitorCmdCtx *ctx)
{
    g_autoptr(JsonObject) info = NULL;
    const char *status;

    if (!ctx->m->migration) {
        return g_strdup("none");
    }
    info = qmp_query_migrate(ctx->m->migration);
    status = monitor_json_str(info, "status");
    return g_strdup(status ? status : "none");
}

JsonNode *monitor_cmd_query_migrate_capabilities(MonitorCmdCtx *ctx, JsonObject *args,
                                                 GError **errp)
{
    return mig_opts_query_capabilities(monitor_mig_opts(ctx->hub));
}

JsonNode *monitor_cmd_migrate_set_capabilities(MonitorCmdCtx *ctx, JsonObject *args,
                                               GError **errp)
{
    bool active = ctx->m->migration && migration_is_active(ctx->m->migration);

    if (!mig_opts_set_capabilities(monitor_mig_opts(ctx->hub),
                                   json_object_get_member(args, "capabilities"),
                                   active, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_query_migrate_parameters(MonitorCmdCtx *ctx, JsonObject *args,
                                               GError **errp)
{
    return mig_opts_query_parameters(monitor_mig_opts(ctx->hub));
}

JsonNode *monitor_cmd_migrate_set_parameters(MonitorCmdCtx *ctx, JsonObject *args,
                                             GError **errp)
{
    g_autoptr(JsonObject) empty = json_object_new();

    if (!mig_opts_set_parameters(monitor_mig_opts(ctx->hub), args ? args : empty, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

static bool opt_bool(JsonObject *args, const char *name)
{
    return json_object_has_member(args, name) && json_object_get_boolean_member(args, name);
}

JsonNode *monitor_cmd_migrate(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s;

    /* QMP's migrate never waits: "detach" is accepted and has no effect. */
    if (opt_bool(args, "blk") || opt_bool(args, "inc")) {
        kvmig_error(errp, "kvmig has no old-style (blk/-b, inc/-i) block migration: "
                    "it has no block devices");
        return NULL;
    }
    s = migration_state(ctx, errp);
    if (!s || !qmp_migrate(s, json_object_get_string_member(args, "uri"),
                           opt_bool(args, "resume"), errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_migrate_incoming(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_incoming(s, json_object_get_string_member(args, "uri"), errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_migrate_cancel(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_cancel(s, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_query_migrate(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    /* Without a migration subsystem there is no migration: {} as QEMU before one. */
    JsonObject *info = ctx->m->migration ? qmp_query_migrate(ctx->m->migration)
                                         : json_object_new();

    return monitor_node_object(info);
}

JsonNode *monitor_cmd_migrate_continue(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_continue(s, json_object_get_string_member(args, "state"), errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_migrate_start_postcopy(MonitorCmdCtx *ctx, JsonObject *args,
                                             GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_start_postcopy(s, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_migrate_pause(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_pause(s, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_migrate_recover(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !qmp_migrate_recover(s, json_object_get_string_member(args, "uri"), errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

/*
 * The balloon: hooks a test installed (monitor_set_balloon_ops), else the
 * machine's virtio-balloon device (hw/virtio/virtio-balloon.h).
 */
static bool have_balloon(MonitorCmdCtx *ctx, GError **errp)
{
    if (!ctx->hub->balloon_ops && !ctx->hub->m->balloon) {
        g_set_error(errp, KVMIG_ERROR, MONITOR_ERROR_DEVICE_NOT_ACTIVE,
                    "No balloon device has been activated");
        return false;
    }
    return true;
}

JsonNode *monitor_cmd_balloon(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    gint64 value = json_object_get_int_member(args, "value");

    if (!have_balloon(ctx, errp)) {
        return NULL;
    }
    if (value <= 0) {
        kvmig_error(errp, "Parameter 'target' expects a size");
        return NULL;
    }
    if (ctx->hub->balloon_ops
        ? !ctx->hub->balloon_ops->set_target(ctx->hub->balloon_opaque, value, errp)
        : !virtio_balloon_set_target(ctx->hub->m->balloon, value, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_query_balloon(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonObject *o;

    if (!have_balloon(ctx, errp)) {
        return NULL;
    }
    o = json_object_new();
    json_object_set_int_member(o, "actual", (gint64)(ctx->hub->balloon_ops
        ? ctx->hub->balloon_ops->actual(ctx->hub->balloon_opaque)
        : virtio_balloon_actual(ctx->hub->m->balloon)));
    return monitor_node_object(o);
}

JsonNode *monitor_cmd_object_add(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    g_autoptr(JsonObject) empty = json_object_new();
    MigrationState *s = migration_state(ctx, errp);

    JsonNode *type = args ? json_object_get_member(args, "qom-type") : NULL;

    if (ctx->hub->restricted && type && JSON_NODE_HOLDS_VALUE(type) &&
        json_node_get_value_type(type) == G_TYPE_STRING &&
        g_str_has_prefix(json_node_get_string(type), "tls-creds")) {
        /* credentials read files named by the client */
        kvmig_error(errp, "object-add of credentials is disabled in this monitor");
        return NULL;
    }
    if (!s || !mig_objects_add_qmp(migration_objects(s), args ? args : empty, errp)) {
        return NULL;
    }
    return monitor_empty_return();
}

JsonNode *monitor_cmd_object_del(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    MigrationState *s = migration_state(ctx, errp);

    if (!s || !mig_objects_del(migration_objects(s), json_object_get_string_member(args, "id"),
                               errp)) {
        return NULL;
    }
    return monitor_empty_return();
}
