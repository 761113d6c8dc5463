/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to monitor/: the per-machine hub, the command table's types, and
 * the transport-free QMP and HMP session objects (fed bytes, writing
 * replies through a callback) that monitor.c connects to sockets and stdio
 * and that the unit tests and the fuzzer drive from memory.
 *
 * Threads: all of it runs in the main loop (the thread that owns
 * Machine.main_ctx), except monitor_event_hook(), which any thread may call.
 */
#ifndef KVMIG_MONITOR_INTERNAL_H
#define KVMIG_MONITOR_INTERNAL_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "migration/options.h"
#include "monitor/monitor.h"
#include "system/machine.h"
#include "util/error.h"

/*
 * QMP error class DeviceNotActive (balloon commands without a balloon, as
 * QEMU; libvirt looks for it).  An extra KVMIG_ERROR code until
 * util/error.h grows one.
 */
#define MONITOR_ERROR_DEVICE_NOT_ACTIVE 2

/* Size limits of what a client can make us hold. */
#define QMP_MAX_REQUEST   (1 << 20)     /* bytes of one JSON value */
#define QMP_MAX_NESTING   1024          /* as QEMU's JSON parser */
#define HMP_MAX_LINE      (64 << 10)
#define MONITOR_MAX_FDS   16            /* SCM_RIGHTS fds held per session */

typedef struct QmpSession QmpSession;
typedef struct HmpSession HmpSession;
typedef struct MonitorChardev MonitorChardev;

/* Where a session writes: bytes, complete lines, any thread never. */
typedef void (*MonitorOutFn)(void *opaque, const char *data, size_t len);

/* One per Machine; reached through Machine.event_opaque. */
typedef struct MonitorHub {
    gatomicrefcount ref;        /* event idles hold one */
    Machine *m;
    /*
     * Options of a machine without a MigrationState (the monitor's unit
     * tests and fuzzer); never used once m->migration exists, which owns
     * the real ones (monitor_mig_opts).
     */
    MigrationOptions local_opts;
    GPtrArray *qmp_sessions;    /* live QmpSession*, for events */
    GPtrArray *chardevs;        /* MonitorChardev* (monitor.c) */
    const MonitorBalloonOps *balloon_ops;
    void *balloon_opaque;
    bool quit_pending;          /* quit replied; flush, then machine_request_quit */
    bool restricted;            /* fuzzing: no command writes files */

    GMutex event_lock;
    GQueue events;              /* protected by event_lock: JsonObject* to send */
} MonitorHub;

/* monitor.c */
MonitorHub *monitor_hub_get(Machine *m);        /* created (and hook installed) on demand */
void monitor_hub_unref(MonitorHub *hub);
/*
 * The options the capability and parameter commands read and change: the
 * machine's MigrationState's (migration_options()), else local_opts.
 * Main loop only; the options have their own lock.
 */
MigrationOptions *monitor_mig_opts(MonitorHub *hub);
/* Deliver queued events now (main thread). */
void monitor_hub_drain_events(MonitorHub *hub);
/* After the reply to quit is queued: flush every client, then quit. */
void monitor_hub_request_quit(MonitorHub *hub);
/* The Machine.event_fn installed by monitor_hub_get(). */
void monitor_event_hook(void *opaque, const char *event, JsonObject *data);

/* ---- the command table (commands.c) ---- */

typedef enum MonitorArgType {
    MARG_STR,
    MARG_INT,       /* int64 */
    MARG_BOOL,
    MARG_NUMBER,    /* int or double */
    MARG_ENUM,      /* string from MonitorArg.values */
    MARG_ANY,       /* checked by the handler */
} MonitorArgType;

typedef struct MonitorArg {
    const char *name;
    MonitorArgType type;
    bool optional;
    const char *const *values;  /* MARG_ENUM: NULL-terminated */
} MonitorArg;

typedef enum HmpArgType {
    HARG_STR,       /* a word or a "quoted string" */
    HARG_INT,       /* an integer (decimal, 0x hex, 0 octal, with sign) */
    HARG_ONOFF,     /* on | off */
    HARG_FLAG,      /* -X; becomes a boolean true */
} HmpArgType;

typedef struct HmpArg {
    const char *name;           /* member name in the args object */
    HmpArgType type;
    bool optional;
    char flag;                  /* HARG_FLAG: the letter */
} HmpArg;

/* What a handler runs in. */
typedef struct MonitorCmdCtx {
    MonitorHub *hub;
    Machine *m;
    QmpSession *qmp;            /* the QMP session, or NULL */
    HmpSession *hmp;            /* the HMP session, or NULL (also for human-monitor-command) */
    GQueue *fds;                /* fds that came with the input (getfd); may be NULL */
} MonitorCmdCtx;

typedef JsonNode *(*MonitorCmdFn)(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
/* Turn the parsed HMP arguments into the QMP command's arguments. */
typedef JsonObject *(*HmpAdaptFn)(MonitorCmdCtx *ctx, JsonObject *hmp_args, GError **errp);
/* Print the QMP result the HMP way. */
typedef void (*HmpPrintFn)(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);

typedef struct MonitorCmd {
    const char *name;           /* QMP name */
    const MonitorArg *args;     /* schema, {NULL}-terminated; NULL: handler checks all */
    MonitorCmdFn fn;
    const char *help;           /* one line, as HMP's help prints it */
    /* HMP; hmp_name NULL: QMP only */
    const char *hmp_name;       /* "stop|s", or "info status" */
    const char *hmp_params;     /* for help: "[-d] uri" */
    const HmpArg *hmp_args;     /* {NULL}-terminated; NULL: none */
    HmpAdaptFn hmp_adapt;       /* NULL: the HMP args are the QMP args */
    HmpPrintFn hmp_print;       /* NULL: prints nothing on success */
    bool hmp_async;             /* migrate: HMP waits for completion unless -d */
} MonitorCmd;

extern const MonitorCmd monitor_cmds[];
extern const size_t monitor_cmds_count;

const MonitorCmd *monitor_cmd_find(const char *qmp_name);
/*
 * Run a QMP command: look it up, validate @args (may be NULL) against its
 * schema, call it.  Returns the result ({} when there is none) or NULL with
 * *errp set (KVMIG_ERROR_COMMAND_NOT_FOUND, KVMIG_ERROR_GENERIC or
 * MONITOR_ERROR_DEVICE_NOT_ACTIVE).
 */
JsonNode *monitor_cmd_run(MonitorCmdCtx *ctx, const MonitorCmd *cmd, JsonObject *args,
                          GError **errp);
/* Check @args against @schema with QEMU's error texts. */
bool monitor_args_check(const MonitorArg *schema, JsonObject *args, GError **errp);
/* A new {} (a command's empty result). */
JsonNode *monitor_empty_return(void);

/* commands-migration.c: MigrationStatus names (NULL-terminated) and handlers */
extern const char *const monitor_migration_status_names[];
JsonNode *monitor_cmd_query_migrate_capabilities(MonitorCmdCtx *ctx, JsonObject *args,
                                                 GError **errp);
JsonNode *monitor_cmd_migrate_set_capabilities(MonitorCmdCtx *ctx, JsonObject *args,
                                               GError **errp);
JsonNode *monitor_cmd_query_migrate_parameters(MonitorCmdCtx *ctx, JsonObject *args,
                                               GError **errp);
JsonNode *monitor_cmd_migrate_set_parameters(MonitorCmdCtx *ctx, JsonObject *args,
                                             GError **errp);
JsonNode *monitor_cmd_migrate(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_migrate_incoming(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_migrate_cancel(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_query_migrate(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_migrate_continue(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_migrate_start_postcopy(MonitorCmdCtx *ctx, JsonObject *args,
                                             GError **errp);
JsonNode *monitor_cmd_migrate_pause(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_migrate_recover(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_balloon(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
/* object-add / object-del: the objects migration TLS uses (migration/tls.h) */
JsonNode *monitor_cmd_object_add(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_object_del(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
JsonNode *monitor_cmd_query_balloon(MonitorCmdCtx *ctx, JsonObject *args, GError **errp);
/* The status of the outgoing/incoming migration ("none" without one). */
char *monitor_migration_status(MonitorCmdCtx *ctx);

/* ---- JSON output (qmp.c) ---- */

/* Append @n as QEMU formats JSON ({"a": 1, "b": [2, 3]}). */
void monitor_json_append(GString *out, JsonNode *n);
/* A new node that owns @o / @a (json_node_init_*() takes another reference). */
JsonNode *monitor_node_object(JsonObject *o);
JsonNode *monitor_node_array(JsonArray *a);
/* Helpers for reading results in formatters: 0 / NULL / false when absent. */
gint64 monitor_json_int(JsonObject *o, const char *name);
double monitor_json_double(JsonObject *o, const char *name);
const char *monitor_json_str(JsonObject *o, const char *name);

/* ---- QMP sessions (qmp.c) ---- */

QmpSession *qmp_session_new(MonitorHub *hub, MonitorOutFn out, void *opaque);
void qmp_session_free(QmpSession *s);
/* Send the greeting. */
void qmp_session_start(QmpSession *s);
/* Feed bytes from the client: frames JSON values, runs and answers them. */
void qmp_session_input(QmpSession *s, const char *buf, size_t len);
/* An fd received with the input (SCM_RIGHTS); the session owns it. */
void qmp_session_push_fd(QmpSession *s, int fd);
/* Send an event (called by the hub for negotiated sessions). */
void qmp_session_send_event(QmpSession *s, JsonObject *event);
bool qmp_session_negotiated(QmpSession *s);
/* qmp_capabilities accepted: leave negotiation mode, start getting events. */
void qmp_session_set_negotiated(QmpSession *s);

/* ---- HMP sessions (hmp.c) ---- */

HmpSession *hmp_session_new(MonitorHub *hub, MonitorOutFn out, void *opaque);
void hmp_session_free(HmpSession *s);
/* Print the banner and the first prompt. */
void hmp_session_start(HmpSession *s);
void hmp_session_input(HmpSession *s, const char *buf, size_t len);
void hmp_session_push_fd(HmpSession *s, int fd);
/*
 * Run one HMP command line; its output goes to @out with "\r\n" line ends.
 * @s may be NULL (human-monitor-command): then `migrate` without -d does
 * not wait, as in QEMU.
 */
void hmp_run_line(MonitorHub *hub, HmpSession *s, GQueue *fds, const char *line,
                  GString *out);

/* ---- HMP formatters of QMP results (hmp-format.c) ---- */

void hmp_print_status(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);
void hmp_print_version(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);
void hmp_print_migrate(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);
void hmp_print_migrate_capabilities(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);
void hmp_print_migrate_parameters(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);
void hmp_print_balloon(MonitorCmdCtx *ctx, JsonNode *ret, GString *out);

#endif
