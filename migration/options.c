/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration capabilities and parameters: defaults, QMP JSON in and out,
 * validation with QEMU 7.2's rules and error texts.
 *
 * Owner: the MigrationState (migration_new creates its MigrationOptions,
 * migration_free frees them); the monitor finds them with
 * migration_options(), RAMState gets them at ram_register().
 *
 * Lock rule: every field of MigrationOptions is protected by o->lock, and
 * only the functions of this file take it, each for one short copy or
 * one checked update; none calls out while holding it (the notify hook
 * runs after unlock).  Writers: the main loop only (the monitor's
 * migrate-set-capabilities / migrate-set-parameters).  Readers: any
 * thread, through a getter (one field) or mig_opts_snapshot() (a
 * consistent copy of everything).  A migration thread snapshots what must
 * agree with itself (multifd's channel count, method and level) once at
 * setup, and reads the fields meant to change mid-migration
 * (max-bandwidth, downtime-limit, the throttle knobs) with getters as it
 * goes.  Capabilities cannot change while a migration runs
 * (mig_opts_set_capabilities refuses), so single getters are consistent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config-host.h"
#include "migration/options.h"
#include "system/memory.h"
#include "util/cutils.h"
#include "util/error.h"

static const char *const capability_names[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_XBZRLE] = "xbzrle",
    [MIGRATION_CAPABILITY_RDMA_PIN_ALL] = "rdma-pin-all",
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = "auto-converge",
    [MIGRATION_CAPABILITY_COMPRESS] = "compress",
    [MIGRATION_CAPABILITY_EVENTS] = "events",
    [MIGRATION_CAPABILITY_POSTCOPY_RAM] = "postcopy-ram",
    [MIGRATION_CAPABILITY_RETURN_PATH] = "return-path",
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
    [MIGRATION_CAPABILITY_MULTIFD] = "multifd",
    [MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
    [MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] = "postcopy-preempt",
    [MIGRATION_CAPABILITY_X_EARLY_DIRTY_LOG_STOP] = "x-early-dirty-log-stop",
    [MIGRATION_CAPABILITY_X_SWITCHOVER_AT_THRESHOLD] = "x-switchover-at-threshold",
};

static const char *const compression_names[MULTIFD_COMPRESSION__MAX] = {
    [MULTIFD_COMPRESSION_NONE] = "none",
    [MULTIFD_COMPRESSION_ZLIB] = "zlib",
    [MULTIFD_COMPRESSION_ZSTD] = "zstd",
    [MULTIFD_COMPRESSION_LZ4] = "lz4",
};

/* How a parameter travels in JSON. */
typedef enum ParamType {
    PARAM_U8,       /* integer 0..255 ("expects uint8_t") */
    PARAM_U64,      /* integer (QEMU's uint64 and size) */
    PARAM_BOOL,
    PARAM_COMPRESSION,
    PARAM_STR,      /* QEMU's StrOrNull: a string, or null for "" */
} ParamType;

/* How HMP's migrate_set_parameter reads the text of a value. */
typedef enum ParamHmp {
    HMP_NUMBER,     /* unsigned integer, any base */
    HMP_SIZE,       /* size with suffix, bytes by default */
    HMP_SIZE_MIB,   /* size with suffix, MiB by default (max-bandwidth) */
    HMP_BOOL,
    HMP_ENUM,
    HMP_STR,        /* the text as it is */
} ParamHmp;

typedef struct ParamDesc {
    const char *name;
    ParamType type;
    ParamHmp hmp;
    size_t offset;
} ParamDesc;

#define P(n, t, h, f) { n, t, h, offsetof(MigrationParameters, f) }

/* QEMU's MigrateSetParameters member order: type errors come in this order. */
static const ParamDesc params_desc[] = {
    P("compress-level", PARAM_U8, HMP_NUMBER, compress_level),
    P("compress-threads", PARAM_U8, HMP_NUMBER, compress_threads),
    P("compress-wait-thread", PARAM_BOOL, HMP_BOOL, compress_wait_thread),
    P("decompress-threads", PARAM_U8, HMP_NUMBER, decompress_threads),
    P("throttle-trigger-threshold", PARAM_U8, HMP_NUMBER, throttle_trigger_threshold),
    P("cpu-throttle-initial", PARAM_U8, HMP_NUMBER, cpu_throttle_initial),
    P("cpu-throttle-increment", PARAM_U8, HMP_NUMBER, cpu_throttle_increment),
    P("cpu-throttle-tailslow", PARAM_BOOL, HMP_BOOL, cpu_throttle_tailslow),
    P("tls-creds", PARAM_STR, HMP_STR, tls_creds),
    P("tls-hostname", PARAM_STR, HMP_STR, tls_hostname),
    P("tls-authz", PARAM_STR, HMP_STR, tls_authz),
    P("max-bandwidth", PARAM_U64, HMP_SIZE_MIB, max_bandwidth),
    P("downtime-limit", PARAM_U64, HMP_SIZE, downtime_limit),
    P("multifd-channels", PARAM_U8, HMP_NUMBER, multifd_channels),
    P("xbzrle-cache-size", PARAM_U64, HMP_SIZE, xbzrle_cache_size),
    P("max-postcopy-bandwidth", PARAM_U64, HMP_SIZE, max_postcopy_bandwidth),
    P("max-cpu-throttle", PARAM_U8, HMP_NUMBER, max_cpu_throttle),
    P("multifd-compression", PARAM_COMPRESSION, HMP_ENUM, multifd_compression),
    P("multifd-zlib-level", PARAM_U8, HMP_NUMBER, multifd_zlib_level),
    P("multifd-zstd-level", PARAM_U8, HMP_NUMBER, multifd_zstd_level),
    /* kvmig's own, after QEMU's */
    P("x-postcopy-request-window", PARAM_U64, HMP_NUMBER, x_postcopy_request_window),
    P("x-postcopy-priority-boost", PARAM_U8, HMP_NUMBER, x_postcopy_priority_boost),
};

static const ParamDesc *param_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(params_desc); i++) {
        if (!strcmp(params_desc[i].name, name)) {
            return &params_desc[i];
        }
    }
    return NULL;
}

void mig_opts_init(MigrationOptions *o)
{
    memset(o, 0, sizeof(*o));
    g_mutex_init(&o->lock);
    o->params = (MigrationParameters){
        .compress_level = MIGRATE_DEFAULT_COMPRESS_LEVEL,
        .compress_threads = MIGRATE_DEFAULT_COMPRESS_THREADS,
        .compress_wait_thread = true,
        .decompress_threads = MIGRATE_DEFAULT_DECOMPRESS_THREADS,
        .throttle_trigger_threshold = MIGRATE_DEFAULT_THROTTLE_TRIGGER,
        .cpu_throttle_initial = MIGRATE_DEFAULT_CPU_THROTTLE_INITIAL,
        .cpu_throttle_increment = MIGRATE_DEFAULT_CPU_THROTTLE_INCREMENT,
        .cpu_throttle_tailslow = false,
        .max_cpu_throttle = MIGRATE_DEFAULT_MAX_CPU_THROTTLE,
        .max_bandwidth = MIGRATE_DEFAULT_MAX_BANDWIDTH,
        .downtime_limit = MIGRATE_DEFAULT_DOWNTIME_LIMIT,
        .multifd_channels = MIGRATE_DEFAULT_MULTIFD_CHANNELS,
        .multifd_compression = MULTIFD_COMPRESSION_NONE,
        .multifd_zlib_level = MIGRATE_DEFAULT_MULTIFD_ZLIB_LEVEL,
        .multifd_zstd_level = MIGRATE_DEFAULT_MULTIFD_ZSTD_LEVEL,
        .xbzrle_cache_size = MIGRATE_DEFAULT_XBZRLE_CACHE_SIZE,
        .x_postcopy_request_window = MIGRATE_DEFAULT_POSTCOPY_REQUEST_WINDOW,
        .x_postcopy_priority_boost = MIGRATE_DEFAULT_POSTCOPY_PRIORITY_BOOST,
    };
}

void mig_opts_destroy(MigrationOptions *o)
{
    g_mutex_clear(&o->lock);
}

void mig_opts_snapshot(MigrationOptions *o, bool caps[MIGRATION_CAPABILITY__MAX],
                       MigrationParameters *params)
{
    g_mutex_lock(&o->lock);
    if (caps) {
        memcpy(caps, o->caps, sizeof(o->caps));
    }
    if (params) {
        *params = o->params;
    }
    g_mutex_unlock(&o->lock);
}

bool migrate_cap(MigrationOptions *o, MigrationCapability cap)
{
    bool v;

    g_assert((unsigned)cap < MIGRATION_CAPABILITY__MAX);
    g_mutex_lock(&o->lock);
    v = o->caps[cap];
    g_mutex_unlock(&o->lock);
    return v;
}

#define GETTER(type, fn, field)                 \
    type fn(MigrationOptions *o)                \
    {                                           \
        type v;                                 \
        g_mutex_lock(&o->lock);                 \
        v = o->params.field;                    \
        g_mutex_unlock(&o->lock);               \
        return v;                               \
    }

GETTER(uint64_t, migrate_max_bandwidth, max_bandwidth)
GETTER(uint64_t, migrate_max_postcopy_bandwidth, max_postcopy_bandwidth)
GETTER(uint64_t, migrate_downtime_limit, downtime_limit)
GETTER(uint64_t, migrate_xbzrle_cache_size, xbzrle_cache_size)
GETTER(int, migrate_compress_level, compress_level)
GETTER(int, migrate_compress_threads, compress_threads)
GETTER(bool, migrate_compress_wait_thread, compress_wait_thread)
GETTER(int, migrate_decompress_threads, decompress_threads)
GETTER(int, migrate_throttle_trigger_threshold, throttle_trigger_threshold)
GETTER(int, migrate_cpu_throttle_initial, cpu_throttle_initial)
GETTER(int, migrate_cpu_throttle_increment, cpu_throttle_increment)
GETTER(bool, migrate_cpu_throttle_tailslow, cpu_throttle_tailslow)
GETTER(int, migrate_max_cpu_throttle, max_cpu_throttle)
GETTER(int, migrate_multifd_channels, multifd_channels)
GETTER(MultiFDCompression, migrate_multifd_compression, multifd_compression)
GETTER(int, migrate_multifd_zlib_level, multifd_zlib_level)
GETTER(int, migrate_multifd_zstd_level, multifd_zstd_level)
GETTER(unsigned, migrate_x_postcopy_request_window, x_postcopy_request_window)
GETTER(unsigned, migrate_x_postcopy_priority_boost, x_postcopy_priority_boost)

bool migrate_tls(MigrationOptions *o)
{
    bool on;

    g_mutex_lock(&o->lock);
    on = o->params.tls_creds[0] != 0;
    g_mutex_unlock(&o->lock);
    return on;
}

const char *migrate_capability_name(MigrationCapability cap)
{
    return (unsigned)cap < MIGRATION_CAPABILITY__MAX ? capability_names[cap] : NULL;
}

bool migrate_capability_lookup(const char *name, MigrationCapability *cap)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        if (!strcmp(capability_names[i], name)) {
            *cap = i;
            return true;
        }
    }
    return false;
}

const char *multifd_compression_name(MultiFDCompression c)
{
    return (unsigned)c < MULTIFD_COMPRESSION__MAX ? compression_names[c] : NULL;
}

bool migrate_status_is_running(const char *status)
{
    static const char *const running[] = {
        "setup", "active", "postcopy-active", "postcopy-paused",
        "postcopy-recover-setup", "postcopy-recover", "pre-switchover", "device", "wait-unplug",
        "cancelling",
    };

    for (size_t i = 0; status && i < G_N_ELEMENTS(running); i++) {
        if (!strcmp(status, running[i])) {
            return true;
        }
    }
    return false;
}

/* New nodes that own @o / @a (json_node_init_*() would take another reference). */
static JsonNode *node_take_object(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, o);
    return n;
}

static JsonNode *node_take_array(JsonArray *a)
{
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(n, a);
    return n;
}

/* ---- capabilities ---- */

JsonNode *mig_opts_query_capabilities(MigrationOptions *o)
{
    bool caps[MIGRATION_CAPABILITY__MAX];
    JsonArray *arr = json_array_new();

    mig_opts_snapshot(o, caps, NULL);
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        JsonObject *e = json_object_new();
        json_object_set_string_member(e, "capability", capability_names[i]);
        json_object_set_boolean_member(e, "state", caps[i]);
        json_array_add_object_element(arr, e);
    }
    return node_take_array(arr);
}

/* QEMU 7.2's migrate_caps_check, for the capabilities kvmig has. */
static bool caps_check(const bool *caps, GError **errp)
{
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        if (caps[MIGRATION_CAPABILITY_COMPRESS]) {
            kvmig_error(errp, "Postcopy is not currently compatible with compression");
            return false;
        }
    }
    if (caps[MIGRATION_CAPABILITY_POSTCOPY_PREEMPT]) {
        if (!caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
            kvmig_error(errp, "Postcopy preempt requires postcopy-ram");
            return false;
        }
    }
    if (caps[MIGRATION_CAPABILITY_MULTIFD] && caps[MIGRATION_CAPABILITY_COMPRESS]) {
        kvmig_error(errp, "Multifd is not compatible with compress");
        return false;
    }
    /* rdma-pin-all is accepted as QEMU does: it only matters for rdma: URIs. */
    return true;
}

static bool is_value_type(JsonNode *n, GType t)
{
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == t;
}

bool mig_opts_set_capabilities(MigrationOptions *o, JsonNode *caps_node,
                               bool migration_active, GError **errp)
{
    bool caps[MIGRATION_CAPABILITY__MAX];
    JsonArray *arr;
    guint n;
    g_autofree MigrationCapability *which = NULL;
    g_autofree bool *state = NULL;

    if (!caps_node || !JSON_NODE_HOLDS_ARRAY(caps_node)) {
        kvmig_error(errp, "Invalid parameter type for 'capabilities', expected: array");
        return false;
    }
    arr = json_node_get_array(caps_node);
    n = json_array_get_length(arr);
    which = g_new0(MigrationCapability, n + 1);
    state = g_new0(bool, n + 1);

    for (guint i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(arr, i);
        JsonObject *obj;
        JsonNode *cap, *st;
        g_autoptr(GList) members = NULL;

        if (!JSON_NODE_HOLDS_OBJECT(e)) {
            kvmig_error(errp, "Invalid parameter type for 'capabilities[%u]', expected: object", i);
            return false;
        }
        obj = json_node_get_object(e);
        cap = json_object_get_member(obj, "capability");
        if (!cap) {
            kvmig_error(errp, "Parameter 'capabilities[%u].capability' is missing", i);
            return false;
        }
        if (!is_value_type(cap, G_TYPE_STRING)) {
            kvmig_error(errp, "Invalid parameter type for 'capabilities[%u].capability', "
                        "expected: string", i);
            return false;
        }
        if (!migrate_capability_lookup(json_node_get_string(cap), &which[i])) {
            /* QEMU 7.2 names the member without its path here. */
            kvmig_error(errp, "Parameter 'capability' does not accept value '%s'",
                        json_node_get_string(cap));
            return false;
        }
        st = json_object_get_member(obj, "state");
        if (!st) {
            kvmig_error(errp, "Parameter 'capabilities[%u].state' is missing", i);
            return false;
        }
        if (!is_value_type(st, G_TYPE_BOOLEAN)) {
            kvmig_error(errp, "Invalid parameter type for 'capabilities[%u].state', "
                        "expected: boolean", i);
            return false;
        }
        state[i] = json_node_get_boolean(st);
        members = json_object_get_members(obj);
        for (GList *l = members; l; l = l->next) {
            if (strcmp(l->data, "capability") && strcmp(l->data, "state")) {
                kvmig_error(errp, "Parameter 'capabilities[%u].%s' is unexpected",
                            i, (const char *)l->data);
                return false;
            }
        }
    }

    if (migration_active) {
        kvmig_error(errp, "There's a migration process in progress");
        return false;
    }

    g_mutex_lock(&o->lock);
    memcpy(caps, o->caps, sizeof(caps));
    for (guint i = 0; i < n; i++) {
        caps[which[i]] = state[i];
    }
    if (!caps_check(caps, errp)) {
        g_mutex_unlock(&o->lock);
        return false;
    }
    memcpy(o->caps, caps, sizeof(caps));
    g_mutex_unlock(&o->lock);
    return true;
}

/* ---- parameters ---- */

static uint64_t param_get(const MigrationParameters *p, const ParamDesc *d)
{
    const char *base = (const char *)p + d->offset;

    switch (d->type) {
    case PARAM_U8:
        return *(const uint8_t *)base;
    case PARAM_U64:
        return *(const uint64_t *)base;
    case PARAM_BOOL:
        return *(const bool *)base;
    case PARAM_COMPRESSION:
        return *(const MultiFDCompression *)base;
    case PARAM_STR:
        break;      /* param_str() */
    }
    g_assert_not_reached();
}

static const char *param_str(const MigrationParameters *p, const ParamDesc *d)
{
    g_assert(d->type == PARAM_STR);
    return (const char *)p + d->offset;
}

static void param_set(MigrationParameters *p, const ParamDesc *d, uint64_t v)
{
    char *base = (char *)p + d->offset;

    switch (d->type) {
    case PARAM_U8:
        *(uint8_t *)base = v;
        return;
    case PARAM_U64:
        *(uint64_t *)base = v;
        return;
    case PARAM_BOOL:
        *(bool *)base = v;
        return;
    case PARAM_COMPRESSION:
        *(MultiFDCompression *)base = v;
        return;
    case PARAM_STR:
        /* v: a string of fewer than MIGRATE_TLS_STR_MAX bytes (param_from_json) */
        g_strlcpy(base, (const char *)(uintptr_t)v, MIGRATE_TLS_STR_MAX);
        return;
    }
    g_assert_not_reached();
}

JsonNode *mig_opts_query_parameters(MigrationOptions *o)
{
    MigrationParameters p;
    JsonObject *obj = json_object_new();

    mig_opts_snapshot(o, NULL, &p);
    for (size_t i = 0; i < G_N_ELEMENTS(params_desc); i++) {
        const ParamDesc *d = &params_desc[i];
        uint64_t v = d->type == PARAM_STR ? 0 : param_get(&p, d);

        switch (d->type) {
        case PARAM_U8:
        case PARAM_U64:
            /* Values above INT64_MAX travel as their two's complement, as QEMU's. */
            json_object_set_int_member(obj, d->name, (gint64)v);
            break;
        case PARAM_BOOL:
            json_object_set_boolean_member(obj, d->name, v);
            break;
        case PARAM_COMPRESSION:
            json_object_set_string_member(obj, d->name, compression_names[v]);
            break;
        case PARAM_STR:
            json_object_set_string_member(obj, d->name, param_str(&p, d));
            break;
        }
    }
    return node_take_object(obj);
}

static bool compression_available(MultiFDCompression c)
{
    switch (c) {
    case MULTIFD_COMPRESSION_ZSTD:
#ifdef CONFIG_ZSTD
        return true;
#else
        return false;
#endif
    case MULTIFD_COMPRESSION_LZ4:
#ifdef CONFIG_LZ4
        return true;
#else
        return false;
#endif
    default:
        return true;
    }
}

/* Convert one JSON member to its stored value, with QEMU's type errors. */
static bool param_from_json(const ParamDesc *d, JsonNode *n, uint64_t *out, GError **errp)
{
    switch (d->type) {
    case PARAM_U8:
    case PARAM_U64:
        if (!is_value_type(n, G_TYPE_INT64)) {
            kvmig_error(errp, "Parameter '%s' expects uint64", d->name);
            return false;
        }
        /* json-glib hands 2^63..2^64-1 over as negative int64: as QEMU's uint64. */
        *out = (uint64_t)json_node_get_int(n);
        if (d->type == PARAM_U8 && *out > UINT8_MAX) {
            kvmig_error(errp, "Parameter '%s' expects uint8_t", d->name);
            return false;
        }
        return true;
    case PARAM_BOOL:
        if (!is_value_type(n, G_TYPE_BOOLEAN)) {
            kvmig_error(errp, "Invalid parameter type for '%s', expected: boolean", d->name);
            return false;
        }
        *out = json_node_get_boolean(n);
        return true;
    case PARAM_COMPRESSION: {
        const char *s;

        if (!is_value_type(n, G_TYPE_STRING)) {
            kvmig_error(errp, "Invalid parameter type for '%s', expected: string", d->name);
            return false;
        }
        s = json_node_get_string(n);
        for (int i = 0; i < MULTIFD_COMPRESSION__MAX; i++) {
            if (!strcmp(s, compression_names[i])) {
                if (!compression_available(i)) {
                    kvmig_error(errp, "Parameter '%s' does not accept value '%s' "
                                "(kvmig was built without %s)", d->name, s, s);
                    return false;
                }
                *out = i;
                return true;
            }
        }
        kvmig_error(errp, "Parameter '%s' does not accept value '%s'", d->name, s);
        return false;
    }
    case PARAM_STR:
        /* the string stays in @n, which outlives the call: pass its address */
        if (JSON_NODE_HOLDS_NULL(n)) {
            *out = (uintptr_t)"";
            return true;
        }
        if (!is_value_type(n, G_TYPE_STRING)) {
            kvmig_error(errp, "Invalid parameter type for '%s', expected: StrOrNull", d->name);
            return false;
        }
        if (strlen(json_node_get_string(n)) >= MIGRATE_TLS_STR_MAX) {
            kvmig_error(errp, "Parameter '%s' expects a string of at most %d bytes", d->name,
                        MIGRATE_TLS_STR_MAX - 1);
            return false;
        }
        *out = (uintptr_t)json_node_get_string(n);
        return true;
    }
    g_assert_not_reached();
}

/* QEMU 7.2's migrate_params_check over the merged parameters, same order. */
static bool params_check(const MigrationParameters *p, GError **errp)
{
    if (p->compress_level > 9) {
        kvmig_error(errp, "Parameter 'compress_level' expects a value between 0 and 9");
        return false;
    }
    if (p->compress_threads < 1) {
        kvmig_error(errp, "Parameter 'compress_threads' expects a value between 1 and 255");
        return false;
    }
    if (p->decompress_threads < 1) {
        kvmig_error(errp, "Parameter 'decompress_threads' expects a value between 1 and 255");
        return false;
    }
    if (p->throttle_trigger_threshold < 1 || p->throttle_trigger_threshold > 100) {
        kvmig_error(errp, "Parameter 'throttle_trigger_threshold' expects an integer "
                    "in the range of 1 to 100");
        return false;
    }
    if (p->cpu_throttle_initial < 1 || p->cpu_throttle_initial > 99) {
        kvmig_error(errp, "Parameter 'cpu_throttle_initial' expects an integer "
                    "in the range of 1 to 99");
        return false;
    }
    if (p->cpu_throttle_increment < 1 || p->cpu_throttle_increment > 99) {
        kvmig_error(errp, "Parameter 'cpu_throttle_increment' expects an integer "
                    "in the range of 1 to 99");
        return false;
    }
    if (p->downtime_limit > MIGRATE_MAX_DOWNTIME_LIMIT) {
        kvmig_error(errp, "Parameter 'downtime_limit' expects an integer in the range "
                    "of 0 to (2000 * 1000) ms");
        return false;
    }
    if (p->multifd_channels < 1) {
        kvmig_error(errp, "Parameter 'multifd_channels' expects a value between 1 and 255");
        return false;
    }
    if (p->multifd_zlib_level > 9) {
        kvmig_error(errp, "Parameter 'multifd_zlib_level' expects a value between 0 and 9");
        return false;
    }
    if (p->multifd_zstd_level > 20) {
        kvmig_error(errp, "Parameter 'multifd_zstd_level' expects a value between 0 and 20");
        return false;
    }
    if (p->xbzrle_cache_size < TARGET_PAGE_SIZE ||
        (p->xbzrle_cache_size & (p->xbzrle_cache_size - 1))) {
        kvmig_error(errp, "Parameter 'xbzrle_cache_size' expects a power of two no less "
                    "than the target page size");
        return false;
    }
    if (p->max_cpu_throttle < p->cpu_throttle_initial || p->max_cpu_throttle > 99) {
        kvmig_error(errp, "Parameter 'max_cpu_throttle' expects an integer in the range "
                    "of cpu_throttle_initial to 99");
        return false;
    }
    if (p->x_postcopy_request_window < 1 ||
        p->x_postcopy_request_window > MIGRATE_MAX_POSTCOPY_REQUEST_WINDOW) {
        kvmig_error(errp, "Parameter 'x-postcopy-request-window' expects a value between 1 "
                    "and %d", MIGRATE_MAX_POSTCOPY_REQUEST_WINDOW);
        return false;
    }
    if (p->x_postcopy_priority_boost > MIGRATE_MAX_POSTCOPY_PRIORITY_BOOST) {
        kvmig_error(errp, "Parameter 'x-postcopy-priority-boost' expects a value between 0 "
                    "and %d", MIGRATE_MAX_POSTCOPY_PRIORITY_BOOST);
        return false;
    }
    return true;
}

bool migrate_parameter_exists(const char *name)
{
    return param_find(name) != NULL;
}

bool mig_opts_set_parameters(MigrationOptions *o, JsonObject *args, GError **errp)
{
    uint64_t vals[G_N_ELEMENTS(params_desc)];
    bool present[G_N_ELEMENTS(params_desc)] = { false };
    g_autoptr(GList) members = NULL;
    MigrationParameters merged;
    MigrationOptionsNotify notify;
    void *notify_opaque;

    /* 1. types, in schema order */
    for (size_t i = 0; i < G_N_ELEMENTS(params_desc); i++) {
        JsonNode *n = json_object_get_member(args, params_desc[i].name);

        if (!n) {
            continue;
        }
        if (!param_from_json(&params_desc[i], n, &vals[i], errp)) {
            return false;
        }
        present[i] = true;
    }
    /* 2. unknown members */
    members = json_object_get_members(args);
    for (GList *l = members; l; l = l->next) {
        if (!param_find(l->data)) {
            kvmig_error(errp, "Parameter '%s' is unexpected", (const char *)l->data);
            return false;
        }
    }
    /* 3. ranges of the merged result, then apply it as a whole */
    g_mutex_lock(&o->lock);
    merged = o->params;
    for (size_t i = 0; i < G_N_ELEMENTS(params_desc); i++) {
        if (present[i]) {
            param_set(&merged, &params_desc[i], vals[i]);
        }
    }
    if (!params_check(&merged, errp)) {
        g_mutex_unlock(&o->lock);
        return false;
    }
    o->params = merged;
    notify = o->notify;
    notify_opaque = o->notify_opaque;
    g_mutex_unlock(&o->lock);
    if (notify) {
        notify(notify_opaque, &merged);
    }
    return true;
}

/* ---- HMP text values ---- */

/* An unsigned number as QEMU's string visitor reads one (any base; '-' wraps). */
static bool parse_hmp_number(const char *s, uint64_t *out)
{
    const char *p = s;
    bool neg = false;
    char *end;

    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (!g_ascii_isdigit(*p)) {
        return false;
    }
    errno = 0;
    *out = strtoull(p, &end, 0);
    if (errno || *end) {
        return false;
    }
    if (neg) {
        *out = -*out;
    }
    return true;
}

/* A size as QEMU's qemu_strtosz reads one: decimal (with fraction) or 0x hex, one suffix. */
static bool parse_hmp_size(const char *s, char default_suffix, uint64_t *out)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        char *end;
        uint64_t v;
        int shift = 0;

        if (!g_ascii_isxdigit(s[2])) {
            return false;
        }
        errno = 0;
        v = strtoull(s + 2, &end, 16);
        if (errno) {
            return false;
        }
        if (*end) {
            static const char suffixes[] = "BKMGTPE";
            const char *f = strchr(suffixes, g_ascii_toupper(*end));
            if (!f || end[1]) {
                return false;
            }
            shift = 10 * (f - suffixes);
        } else {
            shift = default_suffix == 'M' ? 20 : 0;
        }
        if (shift && v > (UINT64_MAX >> shift)) {
            return false;
        }
        *out = v << shift;
        return true;
    }
    return parse_size(s, default_suffix, out, NULL);
}

JsonNode *migrate_parameter_from_string(const char *name, const char *value,
                                        GError **errp)
{
    const ParamDesc *d = param_find(name);
    JsonNode *n = json_node_alloc();
    uint64_t v;

    if (!d) {
        json_node_free(n);
        /* QEMU's qapi_enum_parse() wording */
        kvmig_error(errp, "invalid parameter value: %s", name);
        return NULL;
    }
    switch (d->hmp) {
    case HMP_NUMBER:
        if (!parse_hmp_number(value, &v)) {
            kvmig_error(errp, "Parameter '%s' expects uint64", name);
            break;
        }
        return json_node_init_int(n, (gint64)v);
    case HMP_SIZE_MIB:
        if (!parse_hmp_size(value, 'M', &v)) {
            kvmig_error(errp, "Invalid size %s", value);
            break;
        }
        return json_node_init_int(n, (gint64)v);
    case HMP_SIZE:
        if (!parse_hmp_size(value, 'B', &v)) {
            kvmig_error(errp, "Parameter '%s' expects a non-negative number below 2^64\n"
                        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, "
                        "tera-, peta-\nand exabytes, respectively.", name);
            break;
        }
        return json_node_init_int(n, (gint64)v);
    case HMP_BOOL:
        if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true") ||
            !strcmp(value, "y")) {
            return json_node_init_boolean(n, true);
        }
        if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false") ||
            !strcmp(value, "n")) {
            return json_node_init_boolean(n, false);
        }
        kvmig_error(errp, "Parameter '%s' expects 'on' or 'off'", name);
        break;
    case HMP_ENUM:
    case HMP_STR:
        return json_node_init_string(n, value);
    }
    json_node_free(n);
    return NULL;
}
