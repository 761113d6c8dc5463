/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP's formatters: print the JSON result of a QMP handler with the layout
 * of QEMU 7.2's HMP (info status, info migrate, ...).  They read whatever
 * members are present, so they follow the query results as they grow.
 */
#include <inttypes.h>
#include <string.h>

#include "monitor-internal.h"

static JsonObject *as_object(JsonNode *ret)
{
    return ret && JSON_NODE_HOLDS_OBJECT(ret) ? json_node_get_object(ret) : NULL;
}

static JsonObject *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static uint64_t u64(JsonObject *o, const char *name)
{
    return (uint64_t)monitor_json_int(o, name);
}

void hmp_print_status(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    JsonObject *o = as_object(ret);
    const char *status = monitor_json_str(o, "status");
    bool running = o && json_object_get_boolean_member_with_default(o, "running", false);
    bool step = o && json_object_get_boolean_member_with_default(o, "singlestep", false);

    g_string_append_printf(out, "VM status: %s%s", running ? "running" : "paused",
                           step ? " (single step mode)" : "");
    if (!running && status && strcmp(status, "paused")) {
        g_string_append_printf(out, " (%s)", status);
    }
    g_string_append_c(out, '\n');
}

void hmp_print_version(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    JsonObject *o = as_object(ret);
    JsonObject *q = member_object(o, "qemu");
    const char *package = monitor_json_str(o, "package");

    /* QEMU glues the package to the number; kvmig puts it in parentheses. */
    g_string_append_printf(out, "%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT,
                           monitor_json_int(q, "major"), monitor_json_int(q, "minor"),
                           monitor_json_int(q, "micro"));
    if (package && *package) {
        g_string_append_printf(out, " (%s)", package);
    }
    g_string_append_c(out, '\n');
}

void hmp_print_balloon(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    g_string_append_printf(out, "balloon: actual=%" G_GINT64_FORMAT "\n",
                           monitor_json_int(as_object(ret), "actual") >> 20);
}

void hmp_print_migrate_capabilities(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    JsonArray *a = ret && JSON_NODE_HOLDS_ARRAY(ret) ? json_node_get_array(ret) : NULL;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        JsonObject *c = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
        const char *name = monitor_json_str(c, "capability");

        if (name) {
            g_string_append_printf(out, "%s: %s\n", name,
                                   json_object_get_boolean_member_with_default(c, "state",
                                                                               false)
                                   ? "on" : "off");
        }
    }
}

typedef enum ParamFmt { PF_NUM, PF_ONOFF, PF_STR, PF_QSTR } ParamFmt;

static const struct {
    const char *name;
    ParamFmt fmt;
    const char *unit;
} param_layout[] = {
    /* QEMU 7.2's order and units for the parameters kvmig has ... */
    { "announce-initial", PF_NUM, " ms" },
    { "announce-max", PF_NUM, " ms" },
    { "announce-rounds", PF_NUM, "" },
    { "announce-step", PF_NUM, " ms" },
    { "compress-level", PF_NUM, "" },
    { "compress-threads", PF_NUM, "" },
    { "compress-wait-thread", PF_ONOFF, "" },
    { "decompress-threads", PF_NUM, "" },
    { "throttle-trigger-threshold", PF_NUM, "" },
    { "cpu-throttle-initial", PF_NUM, "" },
    { "cpu-throttle-increment", PF_NUM, "" },
    { "cpu-throttle-tailslow", PF_ONOFF, "" },
    { "max-cpu-throttle", PF_NUM, "" },
    { "tls-creds", PF_QSTR, "" },
    { "tls-hostname", PF_QSTR, "" },
    { "max-bandwidth", PF_NUM, " bytes/second" },
    { "downtime-limit", PF_NUM, " ms" },
    { "x-checkpoint-delay", PF_NUM, " ms" },
    { "block-incremental", PF_ONOFF, "" },
    { "multifd-channels", PF_NUM, "" },
    { "multifd-compression", PF_STR, "" },
    { "xbzrle-cache-size", PF_NUM, " bytes" },
    { "max-postcopy-bandwidth", PF_NUM, "" },
    { "tls-authz", PF_QSTR, "" },
    /* ... then the ones QEMU 7.2's HMP does not print */
    { "multifd-zlib-level", PF_NUM, "" },
    { "multifd-zstd-level", PF_NUM, "" },
    /* kvmig's own */
    { "x-postcopy-request-window", PF_NUM, " pages" },
    { "x-postcopy-priority-boost", PF_NUM, "" },
};

static void print_param(GString *out, JsonObject *o, const char *name, ParamFmt fmt,
                        const char *unit)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n)) {
        return;
    }
    switch (fmt) {
    case PF_NUM:
        g_string_append_printf(out, "%s: %" PRIu64 "%s\n", name,
                               (uint64_t)json_node_get_int(n), unit);
        break;
    case PF_ONOFF:
        g_string_append_printf(out, "%s: %s\n", name, json_node_get_boolean(n) ? "on" : "off");
        break;
    case PF_STR:
        g_string_append_printf(out, "%s: %s\n", name, json_node_get_string(n));
        break;
    case PF_QSTR:
        g_string_append_printf(out, "%s: '%s'\n", name, json_node_get_string(n));
        break;
    }
}

void hmp_print_migrate_parameters(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    JsonObject *o = as_object(ret);
    JsonObjectIter it;
    const char *name;
    JsonNode *n;

    if (!o) {
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(param_layout); i++) {
        print_param(out, o, param_layout[i].name, param_layout[i].fmt, param_layout[i].unit);
    }
    /* anything newer, plainly */
    json_object_iter_init_ordered(&it, o);
    while (json_object_iter_next_ordered(&it, &name, &n)) {
        bool known = false;

        for (size_t i = 0; i < G_N_ELEMENTS(param_layout); i++) {
            known |= !strcmp(param_layout[i].name, name);
        }
        if (!known && JSON_NODE_HOLDS_VALUE(n)) {
            GType t = json_node_get_value_type(n);

            print_param(out, o, name, t == G_TYPE_BOOLEAN ? PF_ONOFF :
                        t == G_TYPE_STRING ? PF_STR : PF_NUM, "");
        }
    }
}

static void print_socket_address(GString *out, JsonObject *a)
{
    const char *type = monitor_json_str(a, "type");

    if (!g_strcmp0(type, "inet")) {
        g_string_append_printf(out, "\ttcp:%s:%s\n", monitor_json_str(a, "host"),
                               monitor_json_str(a, "port"));
    } else if (!g_strcmp0(type, "unix")) {
        g_string_append_printf(out, "\tunix:%s\n", monitor_json_str(a, "path"));
    } else if (!g_strcmp0(type, "fd")) {
        g_string_append_printf(out, "\tfd:%s\n", monitor_json_str(a, "str"));
    } else if (!g_strcmp0(type, "vsock")) {
        g_string_append_printf(out, "\ttcp:%s:%s\n", monitor_json_str(a, "cid"),
                               monitor_json_str(a, "port"));
    } else {
        g_string_append(out, "\tunknown address type\n");
    }
}

static void print_ram(GString *out, JsonObject *ram)
{
    g_string_append_printf(out, "transferred ram: %" PRIu64 " kbytes\n",
                           u64(ram, "transferred") >> 10);
    g_string_append_printf(out, "throughput: %0.2f mbps\n", monitor_json_double(ram, "mbps"));
    g_string_append_printf(out, "remaining ram: %" PRIu64 " kbytes\n",
                           u64(ram, "remaining") >> 10);
    g_string_append_printf(out, "total ram: %" PRIu64 " kbytes\n", u64(ram, "total") >> 10);
    g_string_append_printf(out, "duplicate: %" PRIu64 " pages\n", u64(ram, "duplicate"));
    g_string_append_printf(out, "skipped: %" PRIu64 " pages\n", u64(ram, "skipped"));
    g_string_append_printf(out, "normal: %" PRIu64 " pages\n", u64(ram, "normal"));
    g_string_append_printf(out, "normal bytes: %" PRIu64 " kbytes\n",
                           u64(ram, "normal-bytes") >> 10);
    g_string_append_printf(out, "dirty sync count: %" PRIu64 "\n", u64(ram, "dirty-sync-count"));
    g_string_append_printf(out, "page size: %" PRIu64 " kbytes\n", u64(ram, "page-size") >> 10);
    g_string_append_printf(out, "multifd bytes: %" PRIu64 " kbytes\n",
                           u64(ram, "multifd-bytes") >> 10);
    if (json_object_has_member(ram, "x-multifd-channel-bytes")) {
        /* kvmig extension: what each multifd channel carried */
        JsonArray *a = json_object_get_array_member(ram, "x-multifd-channel-bytes");

        g_string_append(out, "multifd channel bytes:");
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
            g_string_append_printf(out, " %" PRIu64,
                                   (uint64_t)json_array_get_int_element(a, i) >> 10);
        }
        g_string_append(out, " kbytes\n");
    }
    g_string_append_printf(out, "pages-per-second: %" PRIu64 "\n", u64(ram, "pages-per-second"));
    if (u64(ram, "dirty-pages-rate")) {
        g_string_append_printf(out, "dirty pages rate: %" PRIu64 " pages\n",
                               u64(ram, "dirty-pages-rate"));
    }
    if (u64(ram, "x-free-page-hint-pages")) {
        /* kvmig extension: dirty pages the balloon's free page hints spared */
        g_string_append_printf(out, "free page hint: %" PRIu64 " pages\n",
                               u64(ram, "x-free-page-hint-pages"));
    }
    if (u64(ram, "postcopy-requests")) {
        g_string_append_printf(out, "postcopy request count: %" PRIu64 "\n",
                               u64(ram, "postcopy-requests"));
    }
    if (u64(ram, "precopy-bytes")) {
        g_string_append_printf(out, "precopy ram: %" PRIu64 " kbytes\n",
                               u64(ram, "precopy-bytes") >> 10);
    }
    if (u64(ram, "downtime-bytes")) {
        g_string_append_printf(out, "downtime ram: %" PRIu64 " kbytes\n",
                               u64(ram, "downtime-bytes") >> 10);
    }
    if (u64(ram, "postcopy-bytes")) {
        g_string_append_printf(out, "postcopy ram: %" PRIu64 " kbytes\n",
                               u64(ram, "postcopy-bytes") >> 10);
    }
    if (u64(ram, "x-postcopy-preempt-pages")) {
        /* kvmig extension: requested pages sent on the postcopy-preempt channel */
        g_string_append_printf(out, "postcopy preempt pages: %" PRIu64 "\n",
                               u64(ram, "x-postcopy-preempt-pages"));
    }
    if (u64(ram, "dirty-sync-missed-zero-copy")) {
        g_string_append_printf(out, "Zero-copy-send fallbacks happened: %" PRIu64 " times\n",
                               u64(ram, "dirty-sync-missed-zero-copy"));
    }
}

/* The integer array @name of @o, if any: @head, the numbers with @sep, @tail. */
static void print_int_array(GString *out, JsonObject *o, const char *name, const char *head,
                            const char *sep, const char *tail)
{
    JsonNode *n = json_object_get_member(o, name);
    JsonArray *a;

    if (!n || !JSON_NODE_HOLDS_ARRAY(n)) {
        return;
    }
    a = json_node_get_array(n);
    g_string_append(out, head);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_string_append_printf(out, "%s%" G_GINT64_FORMAT, i ? sep : "",
                               json_array_get_int_element(a, i));
    }
    g_string_append(out, tail);
}

/* @us as QEMU's HMP writes a latency bucket's bound: "4 us", "16 ms", "2 sec". */
static char *hmp_time_str(uint64_t us)
{
    static const char *const units[] = { "us", "ms", "sec" };
    unsigned i = 0;

    while (us >= 1000 && i + 1 < G_N_ELEMENTS(units)) {
        us /= 1000;
        i++;
    }
    return g_strdup_printf("%" PRIu64 " %s", us, units[i]);
}

void hmp_print_migrate(MonitorCmdCtx *ctx, JsonNode *ret, GString *out)
{
    JsonObject *info = as_object(ret);
    JsonObject *o;
    JsonNode *n;
    const char *status = monitor_json_str(info, "status");

    if (!info) {
        return;
    }
    n = json_object_get_member(info, "blocked-reasons");
    if (n && JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);

        g_string_append(out, "Outgoing migration blocked:\n");
        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_string_append_printf(out, "  %s\n", json_array_get_string_element(a, i));
        }
    }
    if (status) {
        const char *desc = monitor_json_str(info, "error-desc");

        g_string_append_printf(out, "Migration status: %s", status);
        if (!strcmp(status, "failed") && desc) {
            g_string_append_printf(out, " (%s)\n", desc);
        } else {
            g_string_append_c(out, '\n');
        }
        g_string_append_printf(out, "total time: %" PRIu64 " ms\n", u64(info, "total-time"));
        if (json_object_has_member(info, "expected-downtime")) {
            g_string_append_printf(out, "expected downtime: %" PRIu64 " ms\n",
                                   u64(info, "expected-downtime"));
        }
        if (json_object_has_member(info, "downtime")) {
            g_string_append_printf(out, "downtime: %" PRIu64 " ms\n", u64(info, "downtime"));
        }
        if (json_object_has_member(info, "setup-time")) {
            g_string_append_printf(out, "setup: %" PRIu64 " ms\n", u64(info, "setup-time"));
        }
    }
    /* -- kvmig extension (issue 5): where the downtime went, ms per phase -- */
    if ((o = member_object(info, "x-downtime-phases"))) {
        g_autoptr(GList) names = json_object_get_members(o);

        g_string_append(out, "downtime phases (ms):");
        for (GList *l = names; l; l = l->next) {
            g_string_append_printf(out, " %s %.3f", (const char *)l->data,
                                   json_object_get_double_member(o, l->data));
        }
        g_string_append_c(out, '\n');
    }
    /* -- end of the kvmig extension -- */
    if ((o = member_object(info, "ram"))) {
        print_ram(out, o);
    }
    if ((o = member_object(info, "disk"))) {
        g_string_append_printf(out, "transferred disk: %" PRIu64 " kbytes\n",
                               u64(o, "transferred") >> 10);
        g_string_append_printf(out, "remaining disk: %" PRIu64 " kbytes\n",
                               u64(o, "remaining") >> 10);
        g_string_append_printf(out, "total disk: %" PRIu64 " kbytes\n", u64(o, "total") >> 10);
    }
    if ((o = member_object(info, "xbzrle-cache"))) {
        g_string_append_printf(out, "cache size: %" PRIu64 " bytes\n", u64(o, "cache-size"));
        g_string_append_printf(out, "xbzrle transferred: %" PRIu64 " kbytes\n",
                               u64(o, "bytes") >> 10);
        g_string_append_printf(out, "xbzrle pages: %" PRIu64 " pages\n", u64(o, "pages"));
        g_string_append_printf(out, "xbzrle cache miss: %" PRIu64 " pages\n",
                               u64(o, "cache-miss"));
        g_string_append_printf(out, "xbzrle cache miss rate: %0.2f\n",
                               monitor_json_double(o, "cache-miss-rate"));
        g_string_append_printf(out, "xbzrle encoding rate: %0.2f\n",
                               monitor_json_double(o, "encoding-rate"));
        g_string_append_printf(out, "xbzrle overflow: %" PRIu64 "\n", u64(o, "overflow"));
    }
    if ((o = member_object(info, "compression"))) {
        g_string_append_printf(out, "compression pages: %" PRIu64 " pages\n", u64(o, "pages"));
        g_string_append_printf(out, "compression busy: %" PRIu64 "\n", u64(o, "busy"));
        g_string_append_printf(out, "compression busy rate: %0.2f\n",
                               monitor_json_double(o, "busy-rate"));
        g_string_append_printf(out, "compressed size: %" PRIu64 " kbytes\n",
                               u64(o, "compressed-size") >> 10);
        g_string_append_printf(out, "compression rate: %0.2f\n",
                               monitor_json_double(o, "compression-rate"));
    }
    if (json_object_has_member(info, "cpu-throttle-percentage")) {
        g_string_append_printf(out, "cpu throttle percentage: %" PRIu64 "\n",
                               u64(info, "cpu-throttle-percentage"));
    }
    if ((o = member_object(info, "x-convergence"))) {
        JsonNode *c = json_object_get_member(o, "converging");
        bool yes = c && JSON_NODE_HOLDS_VALUE(c) && json_node_get_boolean(c);

        /* kvmig: the convergence verdict (migration/convergence.h) */
        g_string_append_printf(out, "x-convergence: %s (%s, stalled periods %" PRIu64 ")\n",
                               yes ? "converging" : "not converging",
                               monitor_json_str(o, "reason") ? monitor_json_str(o, "reason") : "?",
                               u64(o, "stalled-periods"));
    }
    if (json_object_has_member(info, "postcopy-blocktime")) {
        g_string_append_printf(out, "postcopy blocktime: %" PRIu64 "\n",
                               u64(info, "postcopy-blocktime"));
    }
    print_int_array(out, info, "postcopy-vcpu-blocktime", "postcopy vcpu blocktime: ", ",",
                    "\n");
    /* QEMU 10.1's page-fault latency lines (postcopy-blocktime, destination) */
    if (json_object_has_member(info, "postcopy-latency")) {
        g_string_append_printf(out, "Postcopy Latency (ns): %" PRIu64 "\n",
                               u64(info, "postcopy-latency"));
    }
    print_int_array(out, info, "postcopy-vcpu-latency", "Postcopy vCPU Latencies (ns):\n  [",
                    ", ", "]\n");
    n = json_object_get_member(info, "postcopy-latency-dist");
    if (n && JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);

        g_string_append(out, "Postcopy Latency Distribution:\n");
        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_autofree char *from = hmp_time_str(1ULL << i);
            g_autofree char *to = hmp_time_str(2ULL << i);

            g_string_append_printf(out, "  [ %8s - %8s ]: %10" G_GINT64_FORMAT "\n", from, to,
                                   json_array_get_int_element(a, i));
        }
    }
    n = json_object_get_member(info, "socket-address");
    if (n && JSON_NODE_HOLDS_ARRAY(n)) {
        JsonArray *a = json_node_get_array(n);

        g_string_append(out, "socket address: [\n");
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *e = json_array_get_element(a, i);

            if (JSON_NODE_HOLDS_OBJECT(e)) {
                print_socket_address(out, json_node_get_object(e));
            }
        }
        g_string_append(out, "]\n");
    }
}
