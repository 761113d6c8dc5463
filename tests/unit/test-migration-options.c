/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration capabilities and parameters: QEMU 7.2's defaults, ranges, type
 * rules, capability dependencies, all-or-nothing updates and HMP values.
 */
#include <string.h>

#include "config-host.h"
#include "migration/options.h"
#include "util/error.h"

static JsonObject *parse_object(const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();
    JsonNode *root;

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    root = json_parser_get_root(p);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_object_ref(json_node_get_object(root));
}

/* Set parameters from JSON text; return the error text or NULL. */
static char *set_params(MigrationOptions *o, const char *json)
{
    g_autoptr(JsonObject) args = parse_object(json);
    g_autoptr(GError) err = NULL;

    if (mig_opts_set_parameters(o, args, &err)) {
        return NULL;
    }
    return g_strdup(err->message);
}

static void expect_param_error(MigrationOptions *o, const char *json, const char *msg)
{
    g_autofree char *got = set_params(o, json);

    g_assert_cmpstr(got, ==, msg);
}

static void expect_param_ok(MigrationOptions *o, const char *json)
{
    g_autofree char *got = set_params(o, json);

    g_assert_cmpstr(got, ==, NULL);
}

static void test_defaults(void)
{
    MigrationOptions o;
    MigrationParameters p;
    bool caps[MIGRATION_CAPABILITY__MAX];

    mig_opts_init(&o);
    mig_opts_snapshot(&o, caps, &p);
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        g_assert_false(caps[i]);
    }
    /* QEMU 7.2's query-migrate-parameters on a fresh VM */
    g_assert_cmpuint(migrate_max_bandwidth(&o), ==, 134217728);
    g_assert_cmpuint(migrate_downtime_limit(&o), ==, 300);
    g_assert_cmpuint(migrate_xbzrle_cache_size(&o), ==, 67108864);
    g_assert_cmpint(migrate_compress_level(&o), ==, 1);
    g_assert_cmpint(migrate_compress_threads(&o), ==, 8);
    g_assert_true(migrate_compress_wait_thread(&o));
    g_assert_cmpint(migrate_decompress_threads(&o), ==, 2);
    g_assert_cmpint(migrate_throttle_trigger_threshold(&o), ==, 50);
    g_assert_cmpint(migrate_cpu_throttle_initial(&o), ==, 20);
    g_assert_cmpint(migrate_cpu_throttle_increment(&o), ==, 10);
    g_assert_false(migrate_cpu_throttle_tailslow(&o));
    g_assert_cmpint(migrate_max_cpu_throttle(&o), ==, 99);
    g_assert_cmpint(migrate_multifd_channels(&o), ==, 2);
    g_assert_cmpint(migrate_multifd_compression(&o), ==, MULTIFD_COMPRESSION_NONE);
    g_assert_cmpint(migrate_multifd_zlib_level(&o), ==, 1);
    g_assert_cmpint(migrate_multifd_zstd_level(&o), ==, 1);
    /* kvmig's own: measured, docs/devel/migration/postcopy.rst */
    g_assert_cmpuint(migrate_x_postcopy_request_window(&o), ==, 64);
    mig_opts_destroy(&o);
}

static void test_names(void)
{
    /* pinned: these are wire names */
    static const char *const want[] = {
        "xbzrle", "rdma-pin-all", "auto-converge", "compress", "events", "postcopy-ram",
        "return-path", "pause-before-switchover", "multifd", "postcopy-blocktime",
        "postcopy-preempt", "x-early-dirty-log-stop", "x-switchover-at-threshold",
    };
    MigrationCapability c;

    g_assert_cmpint(G_N_ELEMENTS(want), ==, MIGRATION_CAPABILITY__MAX);
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        g_assert_cmpstr(migrate_capability_name(i), ==, want[i]);
        g_assert_true(migrate_capability_lookup(want[i], &c));
        g_assert_cmpint(c, ==, i);
    }
    g_assert_false(migrate_capability_lookup("zero-blocks", &c));
    /* refused as QEMU refuses a capability it lacks: no block devices here */
    g_assert_false(migrate_capability_lookup("late-block-activate", &c));
    g_assert_cmpstr(multifd_compression_name(MULTIFD_COMPRESSION_LZ4), ==, "lz4");
    g_assert_true(migrate_parameter_exists("max-bandwidth"));
    g_assert_true(migrate_parameter_exists("tls-creds"));
    g_assert_true(migrate_parameter_exists("tls-hostname"));
    g_assert_true(migrate_parameter_exists("tls-authz"));
    g_assert_false(migrate_parameter_exists("tls_creds"));
    g_assert_true(migrate_status_is_running("active"));
    g_assert_true(migrate_status_is_running("pre-switchover"));
    g_assert_false(migrate_status_is_running("completed"));
    g_assert_false(migrate_status_is_running("none"));
}

static void test_ranges(void)
{
    MigrationOptions o;

    mig_opts_init(&o);
    /* the limits themselves are fine */
    expect_param_ok(&o, "{\"compress-level\": 0, \"compress-threads\": 255, "
                    "\"decompress-threads\": 1, \"throttle-trigger-threshold\": 100, "
                    "\"cpu-throttle-initial\": 1, \"cpu-throttle-increment\": 99, "
                    "\"downtime-limit\": 2000000, \"multifd-channels\": 255, "
                    "\"multifd-zlib-level\": 9, \"multifd-zstd-level\": 20, "
                    "\"xbzrle-cache-size\": 4096, \"max-cpu-throttle\": 1, "
                    "\"max-bandwidth\": 0, \"x-postcopy-request-window\": 1024, "
                    "\"x-postcopy-priority-boost\": 20}");
    expect_param_ok(&o, "{\"compress-level\": 9, \"max-cpu-throttle\": 99}");
    /* one past them is not (QEMU 7.2's texts) */
    expect_param_error(&o, "{\"compress-level\": 10}",
                       "Parameter 'compress_level' expects a value between 0 and 9");
    expect_param_error(&o, "{\"compress-threads\": 0}",
                       "Parameter 'compress_threads' expects a value between 1 and 255");
    expect_param_error(&o, "{\"compress-threads\": 256}",
                       "Parameter 'compress-threads' expects uint8_t");
    expect_param_error(&o, "{\"decompress-threads\": 0}",
                       "Parameter 'decompress_threads' expects a value between 1 and 255");
    expect_param_error(&o, "{\"throttle-trigger-threshold\": 101}",
                       "Parameter 'throttle_trigger_threshold' expects an integer in the "
                       "range of 1 to 100");
    expect_param_error(&o, "{\"cpu-throttle-initial\": 100}",
                       "Parameter 'cpu_throttle_initial' expects an integer in the range of "
                       "1 to 99");
    expect_param_error(&o, "{\"cpu-throttle-increment\": 0}",
                       "Parameter 'cpu_throttle_increment' expects an integer in the range "
                       "of 1 to 99");
    expect_param_error(&o, "{\"downtime-limit\": 2000001}",
                       "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                       "(2000 * 1000) ms");
    expect_param_error(&o, "{\"downtime-limit\": -1}",
                       "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                       "(2000 * 1000) ms");
    expect_param_error(&o, "{\"multifd-channels\": 0}",
                       "Parameter 'multifd_channels' expects a value between 1 and 255");
    expect_param_error(&o, "{\"multifd-zlib-level\": 10}",
                       "Parameter 'multifd_zlib_level' expects a value between 0 and 9");
    expect_param_error(&o, "{\"multifd-zstd-level\": 21}",
                       "Parameter 'multifd_zstd_level' expects a value between 0 and 20");
    expect_param_error(&o, "{\"x-postcopy-request-window\": 0}",
                       "Parameter 'x-postcopy-request-window' expects a value between 1 and "
                       "1024");
    expect_param_error(&o, "{\"x-postcopy-request-window\": 1025}",
                       "Parameter 'x-postcopy-request-window' expects a value between 1 and "
                       "1024");
    expect_param_error(&o, "{\"x-postcopy-priority-boost\": 21}",
                       "Parameter 'x-postcopy-priority-boost' expects a value between 0 and 20");
    expect_param_error(&o, "{\"xbzrle-cache-size\": 4097}",
                       "Parameter 'xbzrle_cache_size' expects a power of two no less than "
                       "the target page size");
    expect_param_error(&o, "{\"xbzrle-cache-size\": 2048}",
                       "Parameter 'xbzrle_cache_size' expects a power of two no less than "
                       "the target page size");
    expect_param_error(&o, "{\"max-cpu-throttle\": 100}",
                       "Parameter 'max_cpu_throttle' expects an integer in the range of "
                       "cpu_throttle_initial to 99");
    /* checked against the merged result: initial above the current maximum */
    expect_param_ok(&o, "{\"max-cpu-throttle\": 30, \"cpu-throttle-initial\": 20}");
    expect_param_error(&o, "{\"cpu-throttle-initial\": 50}",
                       "Parameter 'max_cpu_throttle' expects an integer in the range of "
                       "cpu_throttle_initial to 99");
    expect_param_ok(&o, "{\"cpu-throttle-initial\": 50, \"max-cpu-throttle\": 60}");
    g_assert_cmpint(migrate_max_cpu_throttle(&o), ==, 60);
    mig_opts_destroy(&o);
}

static void test_types(void)
{
    MigrationOptions o;

    mig_opts_init(&o);
    expect_param_error(&o, "{\"compress-level\": 1.5}",
                       "Parameter 'compress-level' expects uint64");
    expect_param_error(&o, "{\"compress-level\": \"1\"}",
                       "Parameter 'compress-level' expects uint64");
    expect_param_error(&o, "{\"compress-level\": -1}",
                       "Parameter 'compress-level' expects uint8_t");
    expect_param_error(&o, "{\"max-bandwidth\": 1.0}",
                       "Parameter 'max-bandwidth' expects uint64");
    expect_param_error(&o, "{\"compress-wait-thread\": 1}",
                       "Invalid parameter type for 'compress-wait-thread', expected: boolean");
    expect_param_error(&o, "{\"multifd-compression\": 1}",
                       "Invalid parameter type for 'multifd-compression', expected: string");
    expect_param_error(&o, "{\"multifd-compression\": \"gzip\"}",
                       "Parameter 'multifd-compression' does not accept value 'gzip'");
    expect_param_error(&o, "{\"nosuch\": 1}", "Parameter 'nosuch' is unexpected");
    /* a type error comes before a range error, whatever the member order */
    expect_param_error(&o, "{\"compress-threads\": 300, \"compress-level\": 99}",
                       "Parameter 'compress-threads' expects uint8_t");
    /* uint64 as QEMU: 2^64-1 (json-glib: -1) is a valid max-bandwidth */
    expect_param_ok(&o, "{\"max-bandwidth\": 18446744073709551615}");
    g_assert_cmpuint(migrate_max_bandwidth(&o), ==, UINT64_MAX);
    expect_param_ok(&o, "{\"multifd-compression\": \"zlib\"}");
#ifdef CONFIG_ZSTD
    expect_param_ok(&o, "{\"multifd-compression\": \"zstd\"}");
#else
    expect_param_error(&o, "{\"multifd-compression\": \"zstd\"}",
                       "Parameter 'multifd-compression' does not accept value 'zstd' "
                       "(kvmig was built without zstd)");
#endif
#ifdef CONFIG_LZ4
    expect_param_ok(&o, "{\"multifd-compression\": \"lz4\"}");
#else
    expect_param_error(&o, "{\"multifd-compression\": \"lz4\"}",
                       "Parameter 'multifd-compression' does not accept value 'lz4' "
                       "(kvmig was built without lz4)");
#endif
    mig_opts_destroy(&o);
}

/* tls-creds, tls-hostname, tls-authz: QEMU's StrOrNull, "" and null both mean off */
static void test_tls_strings(void)
{
    MigrationOptions o;
    MigrationParameters p;
    g_autofree char *longname = g_strnfill(MIGRATE_TLS_STR_MAX, 'x');
    g_autofree char *json = NULL;

    mig_opts_init(&o);
    g_assert_false(migrate_tls(&o));
    expect_param_ok(&o, "{\"tls-creds\": \"tls0\", \"tls-hostname\": \"dst.example\"}");
    g_assert_true(migrate_tls(&o));
    mig_opts_snapshot(&o, NULL, &p);
    g_assert_cmpstr(p.tls_creds, ==, "tls0");
    g_assert_cmpstr(p.tls_hostname, ==, "dst.example");
    g_assert_cmpstr(p.tls_authz, ==, "");
    expect_param_ok(&o, "{\"tls-creds\": null}");
    g_assert_false(migrate_tls(&o));
    expect_param_ok(&o, "{\"tls-creds\": \"tls0\"}");
    expect_param_ok(&o, "{\"tls-creds\": \"\"}");
    g_assert_false(migrate_tls(&o));
    expect_param_error(&o, "{\"tls-authz\": 1}",
                       "Invalid parameter type for 'tls-authz', expected: StrOrNull");
    json = g_strdup_printf("{\"tls-hostname\": \"%s\"}", longname);
    expect_param_error(&o, json, "Parameter 'tls-hostname' expects a string of at most 255 bytes");
    mig_opts_snapshot(&o, NULL, &p);
    g_assert_cmpstr(p.tls_hostname, ==, "dst.example");     /* unchanged */
    mig_opts_destroy(&o);
}

static void test_all_or_nothing(void)
{
    MigrationOptions o;
    MigrationParameters before, after;

    mig_opts_init(&o);
    mig_opts_snapshot(&o, NULL, &before);
    expect_param_error(&o, "{\"max-bandwidth\": 1, \"downtime-limit\": 5, "
                       "\"xbzrle-cache-size\": 4096, \"compress-level\": 10}",
                       "Parameter 'compress_level' expects a value between 0 and 9");
    expect_param_error(&o, "{\"max-bandwidth\": 1, \"bogus\": 5}",
                       "Parameter 'bogus' is unexpected");
    mig_opts_snapshot(&o, NULL, &after);
    g_assert_cmpmem(&before, sizeof(before), &after, sizeof(after));
    mig_opts_destroy(&o);
}

static void notified(void *opaque, const MigrationParameters *p)
{
    *(uint64_t *)opaque = p->max_bandwidth;
}

static void test_notify(void)
{
    MigrationOptions o;
    uint64_t seen = 0;

    mig_opts_init(&o);
    o.notify = notified;
    o.notify_opaque = &seen;
    expect_param_ok(&o, "{\"max-bandwidth\": 12345}");
    g_assert_cmpuint(seen, ==, 12345);
    mig_opts_destroy(&o);
}

static char *set_caps(MigrationOptions *o, const char *json, bool active)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    if (mig_opts_set_capabilities(o, json_parser_get_root(p), active, &err)) {
        return NULL;
    }
    return g_strdup(err->message);
}

static void expect_caps(MigrationOptions *o, const char *json, bool active, const char *msg)
{
    g_autofree char *got = set_caps(o, json, active);

    g_assert_cmpstr(got, ==, msg);
}

static void test_capabilities(void)
{
    MigrationOptions o;

    mig_opts_init(&o);
    expect_caps(&o, "[{\"capability\": \"xbzrle\", \"state\": true}]", false, NULL);
    g_assert_true(migrate_cap(&o, MIGRATION_CAPABILITY_XBZRLE));
    expect_caps(&o, "[{\"capability\": \"xbzrle\", \"state\": false}]", true,
                "There's a migration process in progress");
    g_assert_true(migrate_cap(&o, MIGRATION_CAPABILITY_XBZRLE));
    expect_caps(&o, "[{\"capability\": \"compress\", \"state\": true}, "
                "{\"capability\": \"multifd\", \"state\": true}]", false,
                "Multifd is not compatible with compress");
    g_assert_false(migrate_cap(&o, MIGRATION_CAPABILITY_COMPRESS));
    expect_caps(&o, "[{\"capability\": \"multifd\", \"state\": true}]", false, NULL);
    expect_caps(&o, "[{\"capability\": \"compress\", \"state\": true}]", false,
                "Multifd is not compatible with compress");
    expect_caps(&o, "[{\"capability\": \"postcopy-ram\", \"state\": true}, "
                "{\"capability\": \"multifd\", \"state\": false}, "
                "{\"capability\": \"compress\", \"state\": true}]", false,
                "Postcopy is not currently compatible with compression");
    expect_caps(&o, "[{\"capability\": \"postcopy-preempt\", \"state\": true}]", false,
                "Postcopy preempt requires postcopy-ram");
    expect_caps(&o, "[{\"capability\": \"postcopy-ram\", \"state\": true}, "
                "{\"capability\": \"postcopy-preempt\", \"state\": true}]", false, NULL);
    g_assert_true(migrate_cap(&o, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT));
    expect_caps(&o, "[{\"capability\": \"postcopy-preempt\", \"state\": false}]", false,
                NULL);
    expect_caps(&o, "[{\"capability\": \"postcopy-ram\", \"state\": true}, "
                "{\"capability\": \"postcopy-blocktime\", \"state\": true}]", false, NULL);
    g_assert_true(migrate_cap(&o, MIGRATION_CAPABILITY_POSTCOPY_RAM));
    expect_caps(&o, "[{\"capability\": \"postcopy-ram\", \"state\": false}, "
                "{\"capability\": \"postcopy-blocktime\", \"state\": false}]", false, NULL);
    /* later entries win, as in QEMU */
    expect_caps(&o, "[{\"capability\": \"events\", \"state\": true}, "
                "{\"capability\": \"events\", \"state\": false}]", false, NULL);
    g_assert_false(migrate_cap(&o, MIGRATION_CAPABILITY_EVENTS));
    expect_caps(&o, "[]", false, NULL);
    expect_caps(&o, "{\"capability\": \"xbzrle\"}", false,
                "Invalid parameter type for 'capabilities', expected: array");
    expect_caps(&o, "[1]", false,
                "Invalid parameter type for 'capabilities[0]', expected: object");
    expect_caps(&o, "[{\"capability\": \"xbzrle\", \"state\": 1}]", false,
                "Invalid parameter type for 'capabilities[0].state', expected: boolean");
    expect_caps(&o, "[{\"capability\": \"xbzrle\", \"state\": true, \"x\": 1}]", false,
                "Parameter 'capabilities[0].x' is unexpected");
    expect_caps(&o, "[{\"state\": true}]", false,
                "Parameter 'capabilities[0].capability' is missing");
    expect_caps(&o, "[{\"capability\": \"zero-blocks\", \"state\": true}]", false,
                "Parameter 'capability' does not accept value 'zero-blocks'");
    mig_opts_destroy(&o);
}

static void expect_hmp_value(const char *name, const char *text, const char *json)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = migrate_parameter_from_string(name, text, &err);
    g_autofree char *s = NULL;

    g_assert_no_error(err);
    s = json_to_string(n, FALSE);
    g_assert_cmpstr(s, ==, json);
}

static void expect_hmp_error(const char *name, const char *text, const char *msg)
{
    g_autoptr(GError) err = NULL;
    JsonNode *n = migrate_parameter_from_string(name, text, &err);

    g_assert_null(n);
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_hmp_values(void)
{
    /* max-bandwidth: MiB unless a suffix says otherwise (QEMU's HMP) */
    expect_hmp_value("max-bandwidth", "100", "104857600");
    expect_hmp_value("max-bandwidth", "100M", "104857600");
    expect_hmp_value("max-bandwidth", "100k", "102400");
    expect_hmp_value("max-bandwidth", "100B", "100");
    expect_hmp_value("max-bandwidth", "1.5", "1572864");
    expect_hmp_value("max-bandwidth", "1T", "1099511627776");
    expect_hmp_value("max-bandwidth", "0x100", "268435456");
    expect_hmp_error("max-bandwidth", "xyz", "Invalid size xyz");
    expect_hmp_error("max-bandwidth", "-1", "Invalid size -1");
    expect_hmp_error("max-bandwidth", "16E", "Invalid size 16E");
    expect_hmp_error("max-bandwidth", "1e3", "Invalid size 1e3");
    /* other sizes are bytes by default */
    expect_hmp_value("xbzrle-cache-size", "4096", "4096");
    expect_hmp_value("xbzrle-cache-size", "64k", "65536");
    expect_hmp_value("xbzrle-cache-size", "128m", "134217728");
    expect_hmp_value("downtime-limit", "1k", "1024");
    expect_hmp_value("downtime-limit", "0x10", "16");
    expect_hmp_error("downtime-limit", "abc",
                     "Parameter 'downtime-limit' expects a non-negative number below 2^64\n"
                     "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, "
                     "peta-\nand exabytes, respectively.");
    /* numbers */
    expect_hmp_value("compress-threads", "0x10", "16");
    expect_hmp_value("compress-level", "-1", "-1");    /* the QMP check says uint8_t */
    expect_hmp_error("compress-level", "abc", "Parameter 'compress-level' expects uint64");
    expect_hmp_error("compress-level", "1.5", "Parameter 'compress-level' expects uint64");
    expect_hmp_error("compress-level", "99999999999999999999999",
                     "Parameter 'compress-level' expects uint64");
    /* booleans and enums */
    expect_hmp_value("compress-wait-thread", "on", "true");
    expect_hmp_value("compress-wait-thread", "yes", "true");
    expect_hmp_value("compress-wait-thread", "false", "false");
    expect_hmp_error("compress-wait-thread", "ON",
                     "Parameter 'compress-wait-thread' expects 'on' or 'off'");
    expect_hmp_value("multifd-compression", "zlib", "\"zlib\"");
    expect_hmp_error("nosuch", "1", "invalid parameter value: nosuch");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration-options/defaults", test_defaults);
    g_test_add_func("/migration-options/names", test_names);
    g_test_add_func("/migration-options/ranges", test_ranges);
    g_test_add_func("/migration-options/types", test_types);
    g_test_add_func("/migration-options/tls-strings", test_tls_strings);
    g_test_add_func("/migration-options/all-or-nothing", test_all_or_nothing);
    g_test_add_func("/migration-options/notify", test_notify);
    g_test_add_func("/migration-options/capabilities", test_capabilities);
    g_test_add_func("/migration-options/hmp-values", test_hmp_values);
    return g_test_run();
}
