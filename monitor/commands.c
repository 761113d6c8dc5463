/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one command table of QMP and HMP (names, argument schemas, help, HMP
 * syntax and formatter), argument validation with QEMU's error texts, and
 * the handlers of the machine-level commands.  The migration and balloon
 * handlers live in commands-migration.c.
 *
 * Main thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config-host.h"
#include "monitor-internal.h"
#include "migration/tls.h"
#include "system/memory.h"

/* ---- argument validation ---- */

static const char *arg_type_name(MonitorArgType t)
{
    switch (t) {
    case MARG_STR:
    case MARG_ENUM:
        return "string";
    case MARG_INT:
        return "integer";
    case MARG_BOOL:
        return "boolean";
    case MARG_NUMBER:
        return "number";
    case MARG_ANY:
        break;
    }
    return "value";
}

static bool arg_type_ok(const MonitorArg *a, JsonNode *n)
{
    GType t;

    if (a->type == MARG_ANY) {
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n)) {
        return false;
    }
    t = json_node_get_value_type(n);
    switch (a->type) {
    case MARG_STR:
    case MARG_ENUM:
        return t == G_TYPE_STRING;
    case MARG_INT:
        return t == G_TYPE_INT64;
    case MARG_BOOL:
        return t == G_TYPE_BOOLEAN;
    case MARG_NUMBER:
        return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
    case MARG_ANY:
        break;
    }
    return true;
}

bool monitor_args_check(const MonitorArg *schema, JsonObject *args, GError **errp)
{
    g_autoptr(GList) members = NULL;

    /* QEMU visits the schema's members in order, then rejects the rest. */
    for (const MonitorArg *a = schema; a && a->name; a++) {
        JsonNode *n = args ? json_object_get_member(args, a->name) : NULL;

        if (!n) {
            if (!a->optional) {
                kvmig_error(errp, "Parameter '%s' is missing", a->name);
                return false;
            }
            continue;
        }
        if (!arg_type_ok(a, n)) {
            kvmig_error(errp, "Invalid parameter type for '%s', expected: %s",
                        a->name, arg_type_name(a->type));
            return false;
        }
        if (a->type == MARG_ENUM) {
            const char *v = json_node_get_string(n);
            bool found = false;

            for (const char *const *e = a->values; *e; e++) {
                if (!strcmp(*e, v)) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                kvmig_error(errp, "Parameter '%s' does not accept value '%s'", a->name, v);
                return false;
            }
        }
    }
    if (!args) {
        return true;
    }
    members = json_object_get_members(args);
    for (GList *l = members; l; l = l->next) {
        const MonitorArg *a = schema;

        while (a && a->name && strcmp(a->name, l->data)) {
            a++;
        }
        if (!a || !a->name) {
            kvmig_error(errp, "Parameter '%s' is unexpected", (const char *)l->data);
            return false;
        }
    }
    return true;
}

const MonitorCmd *monitor_cmd_find(const char *qmp_name)
{
    for (size_t i = 0; i < monitor_cmds_count; i++) {
        if (!strcmp(monitor_cmds[i].name, qmp_name)) {
            return &monitor_cmds[i];
        }
    }
    return NULL;
}

JsonNode *monitor_cmd_run(MonitorCmdCtx *ctx, const MonitorCmd *cmd, JsonObject *args,
                          GError **errp)
{
    if (cmd->args && !monitor_args_check(cmd->args, args, errp)) {
        return NULL;
    }
    return cmd->fn(ctx, args, errp);
}

JsonNode *monitor_empty_return(void)
{
    return monitor_node_object(json_object_new());
}

/* ---- machine commands ---- */

static JsonNode *cmd_qmp_capabilities(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonNode *enable = args ? json_object_get_member(args, "enable") : NULL;

    if (!ctx->qmp) {
        kvmig_error(errp, "qmp_capabilities is for QMP sessions");
        return NULL;
    }
    if (qmp_session_negotiated(ctx->qmp)) {
        g_set_error(errp, KVMIG_ERROR, KVMIG_ERROR_COMMAND_NOT_FOUND,
                    "Capabilities negotiation is already complete, command ignored");
        return NULL;
    }
    if (enable) {
        JsonArray *a;

        if (!JSON_NODE_HOLDS_ARRAY(enable)) {
            kvmig_error(errp, "Invalid parameter type for 'enable', expected: array");
            return NULL;
        }
        a = json_node_get_array(enable);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);

            if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING) {
                kvmig_error(errp, "Invalid parameter type for 'enable[%u]', expected: string",
                            i);
                return NULL;
            }
            if (strcmp(json_node_get_string(e), "oob")) {
                kvmig_error(errp, "Parameter 'enable[%u]' does not accept value '%s'",
                            i, json_node_get_string(e));
                return NULL;
            }
            kvmig_error(errp, "Capability 'oob' not available");
            return NULL;
        }
    }
    qmp_session_set_negotiated(ctx->qmp);
    return monitor_empty_return();
}

static JsonNode *cmd_query_version(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonObject *v = json_object_new();
    JsonObject *qemu = json_object_new();

    json_object_set_int_member(qemu, "micro", MONITOR_QEMU_COMPAT_MICRO);
    json_object_set_int_member(qemu, "minor", MONITOR_QEMU_COMPAT_MINOR);
    json_object_set_int_member(qemu, "major", MONITOR_QEMU_COMPAT_MAJOR);
    json_object_set_object_member(v, "qemu", qemu);
    json_object_set_string_member(v, "package", "kvmig " KVMIG_VERSION);
    return monitor_node_object(v);
}

static JsonNode *cmd_query_commands(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonArray *a = json_array_new();

    for (size_t i = 0; i < monitor_cmds_count; i++) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "name", monitor_cmds[i].name);
        json_array_add_object_element(a, o);
    }
    return monitor_node_array(a);
}

static JsonNode *cmd_query_status(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonObject *o = json_object_new();
    RunState rs = machine_runstate(ctx->m);

    json_object_set_string_member(o, "status", runstate_name(rs));
    json_object_set_boolean_member(o, "singlestep", false);
    json_object_set_boolean_member(o, "running", rs == RUN_STATE_RUNNING);
    return monitor_node_object(o);
}

/*
 * -S / autostart: on the destination, whether the guest runs once the
 * incoming migration completes.  stop and cont change it while the run
 * state is inmigrate (QEMU's autostart); the incoming side reads it under
 * run_lock.
 */
static void set_autostart(Machine *m, bool start)
{
    g_mutex_lock(&m->run_lock);
    m->start_paused = !start;
    g_mutex_unlock(&m->run_lock);
}

static JsonNode *cmd_stop(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    switch (machine_runstate(ctx->m)) {
    case RUN_STATE_INMIGRATE:
        set_autostart(ctx->m, false);
        break;
    default:
        /* Only a running guest stops; a racing switchover keeps its state. */
        vm_stop(ctx->m, RUN_STATE_PAUSED);
        break;
    }
    return monitor_empty_return();
}

static JsonNode *cmd_cont(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    RunState cur;

    /* Resume atomically from a stopped state, or explain the current one. */
    if (vm_start_if_stopped(ctx->m, &cur)) {
        return monitor_empty_return();
    }
    switch (cur) {
    case RUN_STATE_SHUTDOWN:
    case RUN_STATE_INTERNAL_ERROR:
        kvmig_error(errp, "Resetting the Virtual Machine is required");
        return NULL;
    case RUN_STATE_FINISH_MIGRATE:
        kvmig_error(errp, "Migration is not finalized yet");
        return NULL;
    case RUN_STATE_INMIGRATE:
        set_autostart(ctx->m, true);
        break;
    default:
        break;      /* running already */
    }
    return monitor_empty_return();
}

static JsonNode *cmd_quit(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    JsonObject *data = json_object_new();

    json_object_set_boolean_member(data, "guest", false);
    json_object_set_string_member(data, "reason", "host-qmp-quit");
    machine_emit_event(ctx->m, "SHUTDOWN", data);
    /* The reply is queued first; the hub then flushes clients and quits. */
    ctx->hub->quit_pending = true;
    return monitor_empty_return();
}

static JsonNode *cmd_human_monitor_command(MonitorCmdCtx *ctx, JsonObject *args,
                                           GError **errp)
{
    g_autoptr(GString) out = g_string_new(NULL);

    hmp_run_line(ctx->hub, NULL, ctx->fds, json_object_get_string_member(args, "command-line"),
                 out);
    return json_node_init_string(json_node_alloc(), out->str);
}

static JsonNode *cmd_pmemsave(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    int64_t val = json_object_get_int_member(args, "val");
    int64_t size = json_object_get_int_member(args, "size");
    const char *filename = json_object_get_string_member(args, "filename");
    uint64_t addr = (uint64_t)val, left = (uint64_t)size;
    g_autofree uint8_t *buf = NULL;
    FILE *f;

    if (ctx->hub->restricted) {
        kvmig_error(errp, "pmemsave is disabled in this monitor");
        return NULL;
    }
    /* The whole range must be guest RAM before anything is written. */
    if (size < 0 || (size && addr + (uint64_t)size - 1 < addr)) {
        goto bad_range;
    }
    for (uint64_t a = addr, n = left; n;) {
        const MemMapping *map = gpa_to_mapping(ctx->m, a);
        uint64_t chunk;

        if (!map) {
            goto bad_range;
        }
        chunk = MIN(n, map->size - (a - map->gpa));
        a += chunk;
        n -= chunk;
    }

    f = fopen(filename, "wb");
    if (!f) {
        kvmig_error(errp, "Could not open '%s': %s", filename, g_strerror(errno));
        return NULL;
    }
    buf = g_malloc(64 << 10);
    while (left) {
        uint64_t chunk = MIN(left, 64 << 10);

        if (!gpa_read(ctx->m, addr, buf, chunk)) {
            fclose(f);
            goto bad_range;
        }
        if (fwrite(buf, 1, chunk, f) != chunk) {
            fclose(f);
            kvmig_error(errp, "writing memory to '%s' failed: %s", filename,
                        g_strerror(errno));
            return NULL;
        }
        addr += chunk;
        left -= chunk;
    }
    if (fclose(f)) {
        kvmig_error(errp, "writing memory to '%s' failed: %s", filename, g_strerror(errno));
        return NULL;
    }
    return monitor_empty_return();

bad_range:
    kvmig_error(errp, "Invalid addr 0x%016" G_GINT64_MODIFIER "x/size %" G_GINT64_FORMAT
                " specified: not all of it is guest RAM", val, size);
    return NULL;
}

static void close_named_fd(Machine *m, const char *name)
{
    gpointer key, value;

    if (g_hash_table_lookup_extended(m->named_fds, name, &key, &value)) {
        close(GPOINTER_TO_INT(value));
        g_hash_table_remove(m->named_fds, name);
    }
}

static JsonNode *cmd_getfd(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    const char *name = json_object_get_string_member(args, "fdname");
    int fd = ctx->fds ? GPOINTER_TO_INT(g_queue_pop_head(ctx->fds)) : 0;

    if (fd <= 0) {
        kvmig_error(errp, "No file descriptor supplied via SCM_RIGHTS");
        return NULL;
    }
    if (g_ascii_isdigit(name[0])) {
        close(fd);
        kvmig_error(errp, "Parameter 'fdname' expects a name not starting with a digit");
        return NULL;
    }
    close_named_fd(ctx->m, name);       /* a new fd of the same name replaces it */
    g_hash_table_insert(ctx->m->named_fds, g_strdup(name), GINT_TO_POINTER(fd));
    return monitor_empty_return();
}

static JsonNode *cmd_closefd(MonitorCmdCtx *ctx, JsonObject *args, GError **errp)
{
    const char *name = json_object_get_string_member(args, "fdname");

    if (!g_hash_table_contains(ctx->m->named_fds, name)) {
        kvmig_error(errp, "File descriptor named '%s' not found", name);
        return NULL;
    }
    close_named_fd(ctx->m, name);
    return monitor_empty_return();
}

/* ---- HMP argument adapters ---- */

static JsonObject *hmp_adapt_set_capability(MonitorCmdCtx *ctx, JsonObject *h, GError **errp)
{
    const char *name = json_object_get_string_member(h, "capability");
    MigrationCapability cap;
    JsonObject *args, *e;
    JsonArray *a;

    if (!migrate_capability_lookup(name, &cap)) {
        kvmig_error(errp, "invalid parameter value: %s", name);
        return NULL;
    }
    e = json_object_new();
    json_object_set_string_member(e, "capability", name);
    json_object_set_boolean_member(e, "state", json_object_get_boolean_member(h, "state"));
    a = json_array_new();
    json_array_add_object_element(a, e);
    args = json_object_new();
    json_object_set_array_member(args, "capabilities", a);
    return args;
}

static JsonObject *hmp_adapt_set_parameter(MonitorCmdCtx *ctx, JsonObject *h, GError **errp)
{
    const char *name = json_object_get_string_member(h, "parameter");
    JsonNode *v = migrate_parameter_from_string(name, json_object_get_string_member(h, "value"),
                                                errp);
    JsonObject *args;

    if (!v) {
        return NULL;
    }
    args = json_object_new();
    json_object_set_member(args, name, v);
    return args;
}

static JsonObject *hmp_adapt_balloon(MonitorCmdCtx *ctx, JsonObject *h, GError **errp)
{
    JsonObject *args = json_object_new();

    /* HMP's balloon takes MiB, QMP's bytes. */
    json_object_set_int_member(args, "value",
                               (gint64)((guint64)json_object_get_int_member(h, "target") << 20));
    return args;
}

static JsonObject *hmp_adapt_migrate_continue(MonitorCmdCtx *ctx, JsonObject *h,
                                              GError **errp)
{
    const char *state = json_object_get_string_member(h, "state");

    for (const char *const *v = monitor_migration_status_names; *v; v++) {
        if (!strcmp(*v, state)) {
            return json_object_ref(h);
        }
    }
    kvmig_error(errp, "invalid parameter value: %s", state);
    return NULL;
}

static JsonObject *hmp_adapt_object_add(MonitorCmdCtx *ctx, JsonObject *h, GError **errp)
{
    return mig_objects_opts_to_qmp(json_object_get_string_member(h, "object"), errp);
}

/* ---- the table ---- */

#define NO_ARGS ((const MonitorArg[]){ { NULL } })

static const MonitorArg args_qmp_capabilities[] = {
    { "enable", MARG_ANY, true },
    { NULL }
};
static const MonitorArg args_hmc[] = {
    { "command-line", MARG_STR },
    { "cpu-index", MARG_INT, true },
    { NULL }
};
static const MonitorArg args_pmemsave[] = {
    { "val", MARG_INT },
    { "size", MARG_INT },
    { "filename", MARG_STR },
    { NULL }
};
static const MonitorArg args_fdname[] = {
    { "fdname", MARG_STR },
    { NULL }
};
static const MonitorArg args_set_caps[] = {
    { "capabilities", MARG_ANY },
    { NULL }
};
static const MonitorArg args_migrate[] = {
    { "uri", MARG_STR },
    { "blk", MARG_BOOL, true },
    { "inc", MARG_BOOL, true },
    { "detach", MARG_BOOL, true },
    { "resume", MARG_BOOL, true },
    { NULL }
};
static const MonitorArg args_uri[] = {
    { "uri", MARG_STR },
    { NULL }
};
static const MonitorArg args_migrate_continue[] = {
    { "state", MARG_ENUM, false, monitor_migration_status_names },
    { NULL }
};
static const MonitorArg args_id[] = {
    { "id", MARG_STR },
    { NULL }
};
static const MonitorArg args_balloon[] = {
    { "value", MARG_INT },
    { NULL }
};

static const HmpArg hargs_migrate[] = {
    { "detach", HARG_FLAG, true, 'd' },
    { "blk", HARG_FLAG, true, 'b' },
    { "inc", HARG_FLAG, true, 'i' },
    { "resume", HARG_FLAG, true, 'r' },
    { "uri", HARG_STR },
    { NULL }
};
static const HmpArg hargs_uri[] = {
    { "uri", HARG_STR },
    { NULL }
};
static const HmpArg hargs_state[] = {
    { "state", HARG_STR },
    { NULL }
};
static const HmpArg hargs_set_capability[] = {
    { "capability", HARG_STR },
    { "state", HARG_ONOFF },
    { NULL }
};
static const HmpArg hargs_set_parameter[] = {
    { "parameter", HARG_STR },
    { "value", HARG_STR },
    { NULL }
};
static const HmpArg hargs_balloon[] = {
    { "target", HARG_INT },
    { NULL }
};
static const HmpArg hargs_pmemsave[] = {
    { "val", HARG_INT },
    { "size", HARG_INT },
    { "filename", HARG_STR },
    { NULL }
};
static const HmpArg hargs_object[] = {
    { "object", HARG_STR },
    { NULL }
};
static const HmpArg hargs_id[] = {
    { "id", HARG_STR },
    { NULL }
};
static const HmpArg hargs_fdname[] = {
    { "fdname", HARG_STR },
    { NULL }
};

const MonitorCmd monitor_cmds[] = {
    {
        .name = "qmp_capabilities", .args = args_qmp_capabilities,
        .fn = cmd_qmp_capabilities,
        .help = "leave capabilities negotiation mode (QMP)",
    }, {
        .name = "query-version", .args = NO_ARGS, .fn = cmd_query_version,
        .help = "show the version",
        .hmp_name = "info version", .hmp_params = "", .hmp_print = hmp_print_version,
    }, {
        .name = "query-commands", .args = NO_ARGS, .fn = cmd_query_commands,
        .help = "list the QMP commands",
    }, {
        .name = "query-status", .args = NO_ARGS, .fn = cmd_query_status,
        .help = "show the VM run state (running|paused)",
        .hmp_name = "info status", .hmp_params = "", .hmp_print = hmp_print_status,
    }, {
        .name = "stop", .args = NO_ARGS, .fn = cmd_stop,
        .help = "pause the guest's vCPUs",
        .hmp_name = "stop|s", .hmp_params = "",
    }, {
        .name = "cont", .args = NO_ARGS, .fn = cmd_cont,
        .help = "resume the guest's vCPUs",
        .hmp_name = "cont|c", .hmp_params = "",
    }, {
        .name = "quit", .args = NO_ARGS, .fn = cmd_quit,
        .help = "quit kvmig",
        .hmp_name = "quit|q", .hmp_params = "",
    }, {
        .name = "human-monitor-command", .args = args_hmc, .fn = cmd_human_monitor_command,
        .help = "run one HMP command line and return its output",
    }, {
        .name = "pmemsave", .args = args_pmemsave, .fn = cmd_pmemsave,
        .help = "save 'size' bytes of guest-physical memory from 'addr' to 'file'",
        .hmp_name = "pmemsave", .hmp_params = "addr size file", .hmp_args = hargs_pmemsave,
    }, {
        .name = "getfd", .args = args_fdname, .fn = cmd_getfd,
        .help = "name the file descriptor sent with this command (SCM_RIGHTS)",
        .hmp_name = "getfd", .hmp_params = "name", .hmp_args = hargs_fdname,
    }, {
        .name = "closefd", .args = args_fdname, .fn = cmd_closefd,
        .help = "close a file descriptor named with getfd",
        .hmp_name = "closefd", .hmp_params = "name", .hmp_args = hargs_fdname,
    }, {
        .name = "query-migrate-capabilities", .args = NO_ARGS,
        .fn = monitor_cmd_query_migrate_capabilities,
        .help = "show the migration capabilities",
        .hmp_name = "info migrate_capabilities", .hmp_params = "",
        .hmp_print = hmp_print_migrate_capabilities,
    }, {
        .name = "migrate-set-capabilities", .args = args_set_caps,
        .fn = monitor_cmd_migrate_set_capabilities,
        .help = "turn one migration capability on or off",
        .hmp_name = "migrate_set_capability", .hmp_params = "capability state",
        .hmp_args = hargs_set_capability, .hmp_adapt = hmp_adapt_set_capability,
    }, {
        .name = "query-migrate-parameters", .args = NO_ARGS,
        .fn = monitor_cmd_query_migrate_parameters,
        .help = "show the migration parameters",
        .hmp_name = "info migrate_parameters", .hmp_params = "",
        .hmp_print = hmp_print_migrate_parameters,
    }, {
        /* args NULL: options.c checks the parameter set */
        .name = "migrate-set-parameters", .fn = monitor_cmd_migrate_set_parameters,
        .help = "set one migration parameter",
        .hmp_name = "migrate_set_parameter", .hmp_params = "parameter value",
        .hmp_args = hargs_set_parameter, .hmp_adapt = hmp_adapt_set_parameter,
    }, {
        .name = "migrate", .args = args_migrate, .fn = monitor_cmd_migrate,
        .help = "migrate to URI (-d: return at once instead of waiting for the end; "
                "-r: resume a paused migration)",
        .hmp_name = "migrate", .hmp_params = "[-d] [-b] [-i] [-r] uri",
        .hmp_args = hargs_migrate, .hmp_async = true,
    }, {
        .name = "migrate-incoming", .args = args_uri, .fn = monitor_cmd_migrate_incoming,
        .help = "receive an incoming migration on URI (after -incoming defer)",
        .hmp_name = "migrate_incoming", .hmp_params = "uri", .hmp_args = hargs_uri,
    }, {
        .name = "migrate_cancel", .args = NO_ARGS, .fn = monitor_cmd_migrate_cancel,
        .help = "cancel the outgoing migration",
        .hmp_name = "migrate_cancel", .hmp_params = "",
    }, {
        .name = "query-migrate", .args = NO_ARGS, .fn = monitor_cmd_query_migrate,
        .help = "show the migration status and statistics",
        .hmp_name = "info migrate", .hmp_params = "", .hmp_print = hmp_print_migrate,
    }, {
        .name = "migrate-continue", .args = args_migrate_continue, .fn = monitor_cmd_migrate_continue,
        .help = "let a migration paused in 'state' (pre-switchover) go on",
        .hmp_name = "migrate_continue", .hmp_params = "state", .hmp_args = hargs_state,
        .hmp_adapt = hmp_adapt_migrate_continue,
    }, {
        .name = "migrate-start-postcopy", .args = NO_ARGS,
        .fn = monitor_cmd_migrate_start_postcopy,
        .help = "switch the running migration to postcopy (capability postcopy-ram)",
        .hmp_name = "migrate_start_postcopy", .hmp_params = "",
    }, {
        .name = "migrate-pause", .args = NO_ARGS, .fn = monitor_cmd_migrate_pause,
        .help = "pause a postcopy migration (refused: kvmig has no postcopy recovery)",
        .hmp_name = "migrate_pause", .hmp_params = "",
    }, {
        .name = "migrate-recover", .args = args_uri, .fn = monitor_cmd_migrate_recover,
        .help = "recover a paused postcopy migration on URI (refused: no recovery yet)",
        .hmp_name = "migrate_recover", .hmp_params = "uri", .hmp_args = hargs_uri,
    }, {
        .name = "balloon", .args = args_balloon, .fn = monitor_cmd_balloon,
        .help = "ask the guest to use 'target' MiB of RAM (virtio-balloon)",
        .hmp_name = "balloon", .hmp_params = "target", .hmp_args = hargs_balloon,
        .hmp_adapt = hmp_adapt_balloon,
    }, {
        .name = "query-balloon", .args = NO_ARGS, .fn = monitor_cmd_query_balloon,
        .help = "show the guest's RAM size as the balloon sees it",
        .hmp_name = "info balloon", .hmp_params = "", .hmp_print = hmp_print_balloon,
    }, {
        /* args NULL: the properties depend on qom-type (migration/tls-objects.c) */
        .name = "object-add", .fn = monitor_cmd_object_add,
        .help = "create an object: tls-creds-x509, tls-creds-psk, authz-list, authz-simple",
        .hmp_name = "object_add", .hmp_params = "[qom-type=]type,id=str[,prop=value][,...]",
        .hmp_args = hargs_object, .hmp_adapt = hmp_adapt_object_add,
    }, {
        .name = "object-del", .args = args_id, .fn = monitor_cmd_object_del,
        .help = "destroy the object 'id' (a migration using it keeps it until it ends)",
        .hmp_name = "object_del", .hmp_params = "id", .hmp_args = hargs_id,
    },
};

const size_t monitor_cmds_count = G_N_ELEMENTS(monitor_cmds);
