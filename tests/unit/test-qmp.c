/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors over memory: QMP sessions (greeting, negotiation, framing,
 * errors, id echo, events, commands) and HMP (parsing, help, QEMU 7.2's
 * output layouts) without sockets.  Expected texts are QEMU 7.2's.
 */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "config-host.h"
#include "monitor/monitor-internal.h"
#include "system/machine.h"

typedef struct Fixture {
    Machine *m;
    MonitorHub *hub;
    QmpSession *s;
    GString *out;
    int quit_status;
} Fixture;

static void out_fn(void *opaque, const char *data, size_t len)
{
    g_string_append_len(opaque, data, len);
}

static void record_quit(void *opaque, int status)
{
    ((Fixture *)opaque)->quit_status = status;
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    /* Own the default context, as the running main loop does: events are then
     * delivered at once on this thread and queued from others. */
    g_assert_true(g_main_context_acquire(NULL));
    f->m = machine_new(64 << 20, 1, &err);
    g_assert_no_error(err);
    /* No vCPUs in a unit test: vm_stop/vm_start only flip the run state. */
    f->m->smp = 0;
    f->m->quit_fn = record_quit;
    f->m->quit_opaque = f;
    f->quit_status = -1;
    machine_set_runstate(f->m, RUN_STATE_RUNNING);
    f->hub = monitor_hub_get(f->m);
    f->out = g_string_new(NULL);
    f->s = qmp_session_new(f->hub, out_fn, f->out);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    qmp_session_free(f->s);
    monitor_cleanup(f->m);
    machine_free(f->m);
    g_string_free(f->out, TRUE);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_main_context_release(NULL);
}

/* The next line the session wrote (without "\r\n"), or NULL. */
static char *next_line(Fixture *f)
{
    char *nl = strstr(f->out->str, "\r\n");
    char *line;

    if (!nl) {
        return NULL;
    }
    line = g_strndup(f->out->str, nl - f->out->str);
    g_string_erase(f->out, 0, nl - f->out->str + 2);
    return line;
}

static void feed(Fixture *f, const char *text)
{
    qmp_session_input(f->s, text, strlen(text));
}

/* Send @req and return the next line of output. */
static char *xchg(Fixture *f, const char *req)
{
    feed(f, req);
    return next_line(f);
}

static void expect(Fixture *f, const char *req, const char *reply)
{
    g_autofree char *line = xchg(f, req);

    g_assert_cmpstr(line, ==, reply);
}

static void negotiate(Fixture *f)
{
    g_string_truncate(f->out, 0);
    expect(f, "{\"execute\": \"qmp_capabilities\"}", "{\"return\": {}}");
}

/* Everything up to "timestamp": {...}, replaced by T, so events compare as text. */
static char *strip_timestamp(char *line)
{
    char *p = line ? strstr(line, "\"timestamp\": {") : NULL;
    char *end = p ? strchr(p, '}') : NULL;

    if (p && end) {
        memmove(p + 1, end + 1, strlen(end + 1) + 1);
        p[0] = 'T';
    }
    return line;
}

static void test_greeting(Fixture *f, gconstpointer data)
{
    g_autofree char *line = NULL;

    qmp_session_start(f->s);
    line = next_line(f);
    g_assert_cmpstr(line, ==,
                    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
                    "\"major\": 7}, \"package\": \"kvmig " KVMIG_VERSION "\"}, "
                    "\"capabilities\": []}}");
}

static void test_negotiation(Fixture *f, gconstpointer data)
{
    expect(f, "{\"execute\":\"query-status\"}",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
           "negotiation with 'qmp_capabilities'\"}}");
    expect(f, "{\"execute\":\"nosuch\", \"id\": 3}",
           "{\"id\": 3, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
           "capabilities negotiation with 'qmp_capabilities'\"}}");
    expect(f, "{\"execute\":\"qmp_capabilities\", \"id\": 1}", "{\"return\": {}, \"id\": 1}");
    expect(f, "{\"execute\":\"qmp_capabilities\", \"id\": 1}",
           "{\"id\": 1, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities "
           "negotiation is already complete, command ignored\"}}");
    expect(f, "{\"execute\":\"query-status\"}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}");
}

static void test_errors(Fixture *f, gconstpointer data)
{
    negotiate(f);
    expect(f, "{\"execute\":\"nosuch\"}",
           "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nosuch has "
           "not been found\"}}");
    expect(f, "{\"execute\":\"stop\", \"arguments\": {\"a\": 1}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'a' is "
           "unexpected\"}}");
    expect(f, "{\"execute\":\"pmemsave\"}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'val' is "
           "missing\"}}");
    expect(f, "{\"execute\":\"pmemsave\", \"arguments\": {\"val\": \"a\", \"size\": 1, "
           "\"filename\": \"/tmp/x\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
           "'val', expected: integer\"}}");
    expect(f, "{\"execute\":\"pmemsave\", \"arguments\": {\"val\": 0, \"size\": 1, "
           "\"filename\": 3}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
           "'filename', expected: string\"}}");
    expect(f, "[1, 2]", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input "
           "must be a JSON object\"}}");
    expect(f, "\"str\"", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input "
           "must be a JSON object\"}}");
    expect(f, "{\"foo\": 1}", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
           "input member 'foo' is unexpected\"}}");
    expect(f, "{\"execute\": 1}", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"QMP input member 'execute' must be a string\"}}");
    expect(f, "{\"execute\": \"stop\", \"arguments\": [1]}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member "
           "'arguments' must be an object\"}}");
    expect(f, "{\"id\": 7}", "{\"id\": 7, \"error\": {\"class\": \"GenericError\", "
           "\"desc\": \"QMP input lacks member 'execute'\"}}");
    expect(f, "{\"execute\": \"stop\", \"id\": {\"a\":[1]}, \"foo\": 2}",
           "{\"id\": {\"a\": [1]}, \"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
           "input member 'foo' is unexpected\"}}");
    expect(f, "{\"execute\": \"migrate-continue\", \"arguments\": {\"state\": \"bogus\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'state' does not "
           "accept value 'bogus'\"}}");
}

static void test_garbage(Fixture *f, gconstpointer data)
{
    g_autofree char *l1 = NULL, *l2 = NULL, *l3 = NULL, *l4 = NULL;

    negotiate(f);
    l1 = xchg(f, "{bad json\n}");
    g_assert_true(g_str_has_prefix(l1, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                   "\"JSON parse error, "));
    l2 = xchg(f, "}");
    g_assert_true(g_str_has_prefix(l2, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                   "\"JSON parse error"));
    l3 = xchg(f, "nonsense ");
    g_assert_true(g_str_has_prefix(l3, "{\"error\": {\"class\": \"GenericError\""));
    l4 = xchg(f, "42\n");
    g_assert_cmpstr(l4, ==, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input "
                    "must be a JSON object\"}}");
    expect(f, "{\"execute\":\"query-status\", \"id\": \"still\"}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
           "\"id\": \"still\"}");
    /* strings with braces and escaped quotes do not confuse the framer */
    expect(f, "{\"execute\":\"query-status\", \"id\": \"}{\\\"]'\"}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
           "\"id\": \"}{\\\"]'\"}");
}

static void test_string_escapes(Fixture *f, gconstpointer data)
{
    negotiate(f);
    /* non-ASCII goes out as \uXXXX, as QEMU writes it */
    expect(f, "{\"execute\":\"query-status\", \"id\": \"\\u00e9/\\t\xf0\x9f\x98\x80\\\"\"}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
           "\"id\": \"\\u00E9/\\t\\uD83D\\uDE00\\\"\"}");
    expect(f, "{\"execute\":\"query-status\", \"id\": 1.5}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
           "\"id\": 1.5}");
}

static void test_framing(Fixture *f, gconstpointer data)
{
    const char *req = "{\"execute\":\"query-status\",\n \"id\": [1, {\"x\": null}]}";
    g_autofree char *a = NULL, *b = NULL, *c = NULL;

    negotiate(f);
    /* one byte at a time */
    for (const char *p = req; *p; p++) {
        qmp_session_input(f->s, p, 1);
        if (p[1]) {
            g_assert_cmpuint(f->out->len, ==, 0);
        }
    }
    a = next_line(f);
    g_assert_cmpstr(a, ==, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
                    "\"running\": true}, \"id\": [1, {\"x\": null}]}");
    /* two in one read, with no separator */
    feed(f, "{\"execute\":\"query-status\",\"id\":1}{\"execute\":\"query-status\",\"id\":2}");
    b = next_line(f);
    c = next_line(f);
    g_assert_true(g_str_has_suffix(b, "\"id\": 1}"));
    g_assert_true(g_str_has_suffix(c, "\"id\": 2}"));
}

static void test_limits(Fixture *f, gconstpointer data)
{
    g_autoptr(GString) big = g_string_new(NULL);
    g_autofree char *l1 = NULL, *l2 = NULL;

    negotiate(f);
    for (int i = 0; i < 2000; i++) {
        g_string_append_c(big, '[');
    }
    l1 = xchg(f, big->str);
    g_assert_cmpstr(l1, ==, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                    "nesting depth limit exceeded\"}}");
    g_string_truncate(big, 0);
    for (int i = 0; i < 2000; i++) {
        g_string_append_c(big, ']');
    }
    feed(f, big->str);
    g_assert_cmpuint(f->out->len, ==, 0);   /* the rest of the deep value is dropped */

    g_string_assign(big, "{\"execute\": \"query-status\", \"id\": \"");
    while (big->len < QMP_MAX_REQUEST + 100) {
        g_string_append(big, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    }
    g_string_append(big, "\"}");
    l2 = xchg(f, big->str);
    g_assert_true(g_str_has_prefix(l2, "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                                   "\"JSON request size limit exceeded"));
    g_assert_cmpuint(f->out->len, ==, 0);
    expect(f, "{\"execute\":\"query-status\"}",
           "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}");
}

static void test_stop_cont_events(Fixture *f, gconstpointer data)
{
    g_autofree char *ev = NULL, *ret = NULL, *ev2 = NULL, *ret2 = NULL;

    /* events go only to negotiated sessions */
    machine_emit_event(f->m, "STOP", NULL);
    g_assert_cmpuint(f->out->len, ==, 0);
    negotiate(f);

    feed(f, "{\"execute\":\"stop\"}");
    ev = strip_timestamp(next_line(f));
    ret = next_line(f);
    g_assert_cmpstr(ev, ==, "{T, \"event\": \"STOP\"}");
    g_assert_cmpstr(ret, ==, "{\"return\": {}}");
    expect(f, "{\"execute\":\"query-status\"}",
           "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}");
    expect(f, "{\"execute\":\"stop\"}", "{\"return\": {}}");     /* no second STOP */
    feed(f, "{\"execute\":\"cont\"}");
    ev2 = strip_timestamp(next_line(f));
    ret2 = next_line(f);
    g_assert_cmpstr(ev2, ==, "{T, \"event\": \"RESUME\"}");
    g_assert_cmpstr(ret2, ==, "{\"return\": {}}");

    machine_set_runstate(f->m, RUN_STATE_FINISH_MIGRATE);
    expect(f, "{\"execute\":\"cont\"}", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"Migration is not finalized yet\"}}");
    machine_set_runstate(f->m, RUN_STATE_INMIGRATE);
    expect(f, "{\"execute\":\"stop\"}", "{\"return\": {}}");
    g_assert_true(f->m->start_paused);
    expect(f, "{\"execute\":\"cont\"}", "{\"return\": {}}");
    g_assert_false(f->m->start_paused);
    g_assert_cmpint(machine_runstate(f->m), ==, RUN_STATE_INMIGRATE);
}

static void test_event_data(Fixture *f, gconstpointer data)
{
    JsonObject *d = json_object_new();
    g_autofree char *ev = NULL;

    negotiate(f);
    json_object_set_string_member(d, "status", "active");
    machine_emit_event(f->m, "MIGRATION", d);
    ev = next_line(f);
    g_assert_true(g_str_has_prefix(ev, "{\"timestamp\": {\"seconds\": "));
    g_assert_true(strstr(ev, "\"microseconds\": "));
    g_assert_true(g_str_has_suffix(ev, "\"event\": \"MIGRATION\", \"data\": "
                                   "{\"status\": \"active\"}}"));
}

static gpointer emit_thread(gpointer m)
{
    machine_emit_event(m, "RESUME", NULL);
    return NULL;
}

static void test_event_other_thread(Fixture *f, gconstpointer data)
{
    g_autofree char *ev = NULL;

    negotiate(f);
    g_thread_join(g_thread_new("emit", emit_thread, f->m));
    /* queued for the main context, not written from the other thread */
    g_assert_cmpuint(f->out->len, ==, 0);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    ev = strip_timestamp(next_line(f));
    g_assert_cmpstr(ev, ==, "{T, \"event\": \"RESUME\"}");
}

static void test_quit(Fixture *f, gconstpointer data)
{
    g_autofree char *ev = NULL, *ret = NULL;

    negotiate(f);
    feed(f, "{\"execute\":\"quit\", \"id\": \"q\"}");
    ev = strip_timestamp(next_line(f));
    ret = next_line(f);
    g_assert_cmpstr(ev, ==, "{T, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, "
                    "\"reason\": \"host-qmp-quit\"}}");
    g_assert_cmpstr(ret, ==, "{\"return\": {}, \"id\": \"q\"}");
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    g_assert_cmpint(f->quit_status, ==, 0);
}

static void test_query_commands_version(Fixture *f, gconstpointer data)
{
    g_autofree char *cmds = NULL;
    static const char *const names[] = {
        "qmp_capabilities", "query-version", "query-commands", "query-status", "stop",
        "cont", "quit", "human-monitor-command", "pmemsave", "getfd", "closefd",
        "query-migrate-capabilities", "migrate-set-capabilities",
        "query-migrate-parameters", "migrate-set-parameters", "migrate", "migrate-incoming",
        "migrate_cancel", "query-migrate", "migrate-continue", "balloon", "query-balloon",
    };

    negotiate(f);
    expect(f, "{\"execute\":\"query-version\"}",
           "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
           "\"package\": \"kvmig " KVMIG_VERSION "\"}}");
    cmds = xchg(f, "{\"execute\":\"query-commands\"}");
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *want = g_strdup_printf("{\"name\": \"%s\"}", names[i]);
        g_assert_nonnull(strstr(cmds, want));
    }
}

static void test_pmemsave(Fixture *f, gconstpointer data)
{
    g_autofree char *dir = g_dir_make_tmp("test-qmp-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "mem", NULL);
    g_autofree char *req = NULL, *contents = NULL, *err = NULL;
    uint8_t pattern[8192];
    gsize len;

    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = i * 7 + 3;
    }
    g_assert_true(gpa_write(f->m, 0x400000 - 4096, pattern, sizeof(pattern)));
    negotiate(f);
    req = g_strdup_printf("{\"execute\":\"pmemsave\", \"arguments\": {\"val\": %d, "
                          "\"size\": 8192, \"filename\": \"%s\"}}", 0x400000 - 4096, path);
    expect(f, req, "{\"return\": {}}");
    g_assert_true(g_file_get_contents(path, &contents, &len, NULL));
    g_assert_cmpuint(len, ==, sizeof(pattern));
    g_assert_cmpmem(contents, len, pattern, sizeof(pattern));
    g_unlink(path);

    /* past the end of RAM: an error, and no file */
    g_free(req);
    req = g_strdup_printf("{\"execute\":\"pmemsave\", \"arguments\": {\"val\": %d, "
                          "\"size\": 8192, \"filename\": \"%s\"}}", (64 << 20) - 4096, path);
    err = xchg(f, req);
    g_assert_true(g_str_has_prefix(err, "{\"error\": {\"class\": \"GenericError\", "
                                   "\"desc\": \"Invalid addr 0x0000000003fff000/size 8192 "
                                   "specified"));
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_free(req);
    req = g_strdup_printf("{\"execute\":\"pmemsave\", \"arguments\": {\"val\": 0, "
                          "\"size\": -1, \"filename\": \"%s\"}}", path);
    g_free(err);
    err = xchg(f, req);
    g_assert_true(strstr(err, "Invalid addr"));
    expect(f, "{\"execute\":\"pmemsave\", \"arguments\": {\"val\": 0, \"size\": 16, "
           "\"filename\": \"/nonexistent/x\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Could not open "
           "'/nonexistent/x': No such file or directory\"}}");
    g_rmdir(dir);
}

static void test_getfd(Fixture *f, gconstpointer data)
{
    int p1[2], p2[2];
    gpointer v;

    g_assert_cmpint(pipe(p1), ==, 0);
    g_assert_cmpint(pipe(p2), ==, 0);
    close(p1[1]);
    close(p2[1]);
    negotiate(f);
    expect(f, "{\"execute\":\"getfd\", \"arguments\": {\"fdname\": \"x\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"No file descriptor supplied "
           "via SCM_RIGHTS\"}}");
    qmp_session_push_fd(f->s, p1[0]);
    expect(f, "{\"execute\":\"getfd\", \"arguments\": {\"fdname\": \"mig\"}}",
           "{\"return\": {}}");
    g_assert_true(g_hash_table_lookup_extended(f->m->named_fds, "mig", NULL, &v));
    g_assert_cmpint(GPOINTER_TO_INT(v), ==, p1[0]);
    /* same name again: the new fd replaces the old, which is closed */
    qmp_session_push_fd(f->s, p2[0]);
    expect(f, "{\"execute\":\"getfd\", \"arguments\": {\"fdname\": \"mig\"}}",
           "{\"return\": {}}");
    g_assert_true(g_hash_table_lookup_extended(f->m->named_fds, "mig", NULL, &v));
    g_assert_cmpint(GPOINTER_TO_INT(v), ==, p2[0]);
    g_assert_cmpint(fcntl(p1[0], F_GETFD), ==, -1);
    expect(f, "{\"execute\":\"closefd\", \"arguments\": {\"fdname\": \"mig\"}}",
           "{\"return\": {}}");
    g_assert_cmpint(fcntl(p2[0], F_GETFD), ==, -1);
    expect(f, "{\"execute\":\"closefd\", \"arguments\": {\"fdname\": \"mig\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"File descriptor named 'mig' "
           "not found\"}}");
}

static uint64_t fake_actual(void *opaque)
{
    return *(uint64_t *)opaque;
}

static bool fake_set_target(void *opaque, uint64_t bytes, GError **errp)
{
    *(uint64_t *)opaque = bytes;
    return true;
}

static void test_balloon(Fixture *f, gconstpointer data)
{
    static const MonitorBalloonOps ops = { fake_set_target, fake_actual };
    uint64_t size = 64 << 20;

    negotiate(f);
    expect(f, "{\"execute\":\"query-balloon\"}", "{\"error\": {\"class\": \"DeviceNotActive\", "
           "\"desc\": \"No balloon device has been activated\"}}");
    expect(f, "{\"execute\":\"balloon\", \"arguments\": {\"value\": 1}}",
           "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has "
           "been activated\"}}");
    monitor_set_balloon_ops(f->m, &ops, &size);
    expect(f, "{\"execute\":\"human-monitor-command\", \"arguments\": "
           "{\"command-line\": \"balloon 32\"}}", "{\"return\": \"\"}");
    g_assert_cmpuint(size, ==, 32 << 20);
    expect(f, "{\"execute\":\"query-balloon\"}", "{\"return\": {\"actual\": 33554432}}");
    expect(f, "{\"execute\":\"human-monitor-command\", \"arguments\": "
           "{\"command-line\": \"info balloon\"}}", "{\"return\": \"balloon: actual=32\\r\\n\"}");
    expect(f, "{\"execute\":\"balloon\", \"arguments\": {\"value\": 0}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'target' expects "
           "a size\"}}");
}

static void test_migration_absent(Fixture *f, gconstpointer data)
{
    negotiate(f);
    expect(f, "{\"execute\":\"migrate\", \"arguments\": {\"uri\": \"tcp:127.0.0.1:1\"}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"migration is not available "
           "in this build\"}}");
    expect(f, "{\"execute\":\"migrate_cancel\"}", "{\"error\": {\"class\": \"GenericError\", "
           "\"desc\": \"migration is not available in this build\"}}");
    expect(f, "{\"execute\":\"query-migrate\"}", "{\"return\": {}}");
    expect(f, "{\"execute\":\"migrate\", \"arguments\": {\"uri\": \"x\", \"blk\": 1}}",
           "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
           "'blk', expected: boolean\"}}");
}

static void test_caps_params(Fixture *f, gconstpointer data)
{
    g_autofree char *caps = NULL, *params = NULL;

    negotiate(f);
    caps = xchg(f, "{\"execute\":\"query-migrate-capabilities\"}");
    g_assert_true(g_str_has_prefix(caps, "{\"return\": [{\"capability\": \"xbzrle\", "
                                   "\"state\": false}, {\"capability\": \"rdma-pin-all\", "));
    expect(f, "{\"execute\":\"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
           "[{\"capability\": \"xbzrle\", \"state\": true}, {\"capability\": \"events\", "
           "\"state\": true}]}}", "{\"return\": {}}");
    expect(f, "{\"execute\":\"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
           "[{\"capability\": \"compress\", \"state\": true}, {\"capability\": \"multifd\", "
           "\"state\": true}]}}", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"Multifd is not compatible with compress\"}}");
    expect(f, "{\"execute\":\"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
           "[{\"capability\": \"nosuch\", \"state\": true}]}}", "{\"error\": {\"class\": "
           "\"GenericError\", \"desc\": \"Parameter 'capability' does not accept value "
           "'nosuch'\"}}");
    expect(f, "{\"execute\":\"migrate-set-capabilities\", \"arguments\": {\"capabilities\": "
           "[{\"capability\": \"xbzrle\"}]}}", "{\"error\": {\"class\": \"GenericError\", "
           "\"desc\": \"Parameter 'capabilities[0].state' is missing\"}}");
    expect(f, "{\"execute\":\"human-monitor-command\", \"arguments\": {\"command-line\": "
           "\"info migrate_capabilities\"}}",
           "{\"return\": \"xbzrle: on\\r\\nrdma-pin-all: off\\r\\nauto-converge: off\\r\\n"
           "compress: off\\r\\nevents: on\\r\\npostcopy-ram: off\\r\\nreturn-path: off\\r\\n"
           "pause-before-switchover: off\\r\\nmultifd: off\\r\\npostcopy-blocktime: off"
           "\\r\\npostcopy-preempt: off\\r\\nx-early-dirty-log-stop: off\\r\\nx-switchover-at-threshold: off\\r\\n\"}");

    expect(f, "{\"execute\":\"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": "
           "1000000, \"downtime-limit\": 50, \"multifd-compression\": \"zlib\"}}",
           "{\"return\": {}}");
    /* a bad value changes nothing, not even the good values beside it */
    expect(f, "{\"execute\":\"migrate-set-parameters\", \"arguments\": {\"compress-level\": 5, "
           "\"compress-threads\": 0}}", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
           "\"Parameter 'compress_threads' expects a value between 1 and 255\"}}");
    expect(f, "{\"execute\":\"migrate-set-parameters\", \"arguments\": {\"compress-level\": "
           "256}}", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
           "'compress-level' expects uint8_t\"}}");
    params = xchg(f, "{\"execute\":\"query-migrate-parameters\"}");
    g_assert_cmpstr(params, ==,
                    "{\"return\": {\"compress-level\": 1, \"compress-threads\": 8, "
                    "\"compress-wait-thread\": true, \"decompress-threads\": 2, "
                    "\"throttle-trigger-threshold\": 50, \"cpu-throttle-initial\": 20, "
                    "\"cpu-throttle-increment\": 10, \"cpu-throttle-tailslow\": false, "
                    "\"tls-creds\": \"\", \"tls-hostname\": \"\", \"tls-authz\": \"\", "
                    "\"max-bandwidth\": 1000000, \"downtime-limit\": 50, "
                    "\"multifd-channels\": 2, \"xbzrle-cache-size\": 67108864, \"max-postcopy-bandwidth\": 0, "
                    "\"max-cpu-throttle\": 99, \"multifd-compression\": \"zlib\", "
                    "\"multifd-zlib-level\": 1, \"multifd-zstd-level\": 1, "
                    "\"x-postcopy-request-window\": 64, \"x-postcopy-priority-boost\": 10}}");
}

/* ---- HMP ---- */

static char *hmp(Fixture *f, const char *line)
{
    GString *out = g_string_new(NULL);

    hmp_run_line(f->hub, NULL, NULL, line, out);
    return g_string_free(out, FALSE);
}

static void expect_hmp(Fixture *f, const char *line, const char *output)
{
    g_autofree char *got = hmp(f, line);

    g_assert_cmpstr(got, ==, output);
}

static void test_hmp_basic(Fixture *f, gconstpointer data)
{
    g_autofree char *help = NULL, *info = NULL;

    expect_hmp(f, "info status", "VM status: running\r\n");
    expect_hmp(f, "  info   status  ", "VM status: running\r\n");
    expect_hmp(f, "stop", "");
    expect_hmp(f, "info status", "VM status: paused\r\n");
    machine_set_runstate(f->m, RUN_STATE_POSTMIGRATE);
    expect_hmp(f, "info status", "VM status: paused (postmigrate)\r\n");
    expect_hmp(f, "c", "");
    expect_hmp(f, "info status", "VM status: running\r\n");
    expect_hmp(f, "info version", "7.2.0 (kvmig " KVMIG_VERSION ")\r\n");
    expect_hmp(f, "", "");
    expect_hmp(f, "nosuch", "unknown command: 'nosuch'\r\n");
    expect_hmp(f, "info nosuch", "unknown command: 'info nosuch'\r\n");
    expect_hmp(f, "stop extra", "stop|s: extraneous characters at the end of line\r\n"
               "Try \"help stop\" for more information\r\n");
    expect_hmp(f, "q extra", "quit|q: extraneous characters at the end of line\r\n"
               "Try \"help q\" for more information\r\n");
    expect_hmp(f, "info version extra", "version: extraneous characters at the end of line\r\n"
               "Try \"help info version\" for more information\r\n");
    expect_hmp(f, "migrate", "migrate: string expected\r\n"
               "Try \"help migrate\" for more information\r\n");
    expect_hmp(f, "migrate -x tcp:1", "migrate: unsupported option -x\r\n"
               "Try \"help migrate\" for more information\r\n");
    expect_hmp(f, "balloon", "unexpected end of expression\r\n"
               "Try \"help balloon\" for more information\r\n");
    expect_hmp(f, "balloon abc", "invalid char 'a' in expression\r\n"
               "Try \"help balloon\" for more information\r\n");
    expect_hmp(f, "balloon 100", "Error: No balloon device has been activated\r\n");
    expect_hmp(f, "info balloon", "Error: No balloon device has been activated\r\n");
    expect_hmp(f, "migrate_cancel", "Error: migration is not available in this build\r\n");
    expect_hmp(f, "getfd foo", "Error: No file descriptor supplied via SCM_RIGHTS\r\n");
    expect_hmp(f, "help stop", "stop|s  -- pause the guest's vCPUs\r\n");
    expect_hmp(f, "help info status", "info status  -- show the VM run state "
               "(running|paused)\r\n");
    expect_hmp(f, "help nosuch", "unknown command: 'nosuch'\r\n");
    help = hmp(f, "help");
    g_assert_nonnull(strstr(help, "migrate [-d] [-b] [-i] [-r] uri -- "));
    g_assert_nonnull(strstr(help, "migrate_set_parameter parameter value -- "));
    g_assert_nonnull(strstr(help, "info [subcommand] -- "));
    g_assert_null(strstr(help, "info status"));
    g_assert_null(strstr(help, "query-status"));
    info = hmp(f, "info");
    g_assert_true(g_str_has_prefix(info, "info balloon  -- "));
    g_assert_nonnull(strstr(info, "info migrate_parameters  -- "));
}

static void test_hmp_migration_options(Fixture *f, gconstpointer data)
{
    g_autofree char *params = NULL;

    expect_hmp(f, "migrate_set_capability xbzrle on", "");
    expect_hmp(f, "migrate_set_capability xbzrle maybe", "Expected 'on' or 'off'\r\n"
               "Try \"help migrate_set_capability\" for more information\r\n");
    expect_hmp(f, "migrate_set_capability nosuch on",
               "Error: invalid parameter value: nosuch\r\n");
    expect_hmp(f, "migrate_set_parameter max-bandwidth 100M", "");
    expect_hmp(f, "migrate_set_parameter xbzrle-cache-size 1G", "");
    expect_hmp(f, "migrate_set_parameter downtime-limit 500", "");
    expect_hmp(f, "migrate_set_parameter compress-wait-thread off", "");
    expect_hmp(f, "migrate_set_parameter compress-threads 0x10", "");
    expect_hmp(f, "migrate_set_parameter max-bandwidth xyz", "Error: Invalid size xyz\r\n");
    expect_hmp(f, "migrate_set_parameter xbzrle-cache-size 100",
               "Error: Parameter 'xbzrle_cache_size' expects a power of two no less than the "
               "target page size\r\n");
    expect_hmp(f, "migrate_set_parameter downtime-limit 1G",
               "Error: Parameter 'downtime_limit' expects an integer in the range of 0 to "
               "(2000 * 1000) ms\r\n");
    expect_hmp(f, "migrate_set_parameter compress-level 300",
               "Error: Parameter 'compress-level' expects uint8_t\r\n");
    expect_hmp(f, "migrate_set_parameter compress-wait-thread xx",
               "Error: Parameter 'compress-wait-thread' expects 'on' or 'off'\r\n");
    expect_hmp(f, "migrate_set_parameter multifd-compression xx",
               "Error: Parameter 'multifd-compression' does not accept value 'xx'\r\n");
    expect_hmp(f, "migrate_set_parameter nosuch 1", "Error: invalid parameter value: nosuch\r\n");
    expect_hmp(f, "migrate_set_parameter max-bandwidth", "migrate_set_parameter: string "
               "expected\r\nTry \"help migrate_set_parameter\" for more information\r\n");
    params = hmp(f, "info migrate_parameters");
    g_assert_cmpstr(params, ==,
                    "compress-level: 1\r\n"
                    "compress-threads: 16\r\n"
                    "compress-wait-thread: off\r\n"
                    "decompress-threads: 2\r\n"
                    "throttle-trigger-threshold: 50\r\n"
                    "cpu-throttle-initial: 20\r\n"
                    "cpu-throttle-increment: 10\r\n"
                    "cpu-throttle-tailslow: off\r\n"
                    "max-cpu-throttle: 99\r\n"
                    "tls-creds: ''\r\n"
                    "tls-hostname: ''\r\n"
                    "max-bandwidth: 104857600 bytes/second\r\n"
                    "downtime-limit: 500 ms\r\n"
                    "multifd-channels: 2\r\n"
                    "multifd-compression: none\r\n"
                    "xbzrle-cache-size: 1073741824 bytes\r\n"
                    "max-postcopy-bandwidth: 0\r\n"
                    "tls-authz: ''\r\n"
                    "multifd-zlib-level: 1\r\n"
                    "multifd-zstd-level: 1\r\n"
                    "x-postcopy-request-window: 64 pages\r\n"
                    "x-postcopy-priority-boost: 10\r\n");
}

/* A query-migrate reply of QEMU 7.2 (completed, xbzrle on) and its `info migrate`. */
static const char qemu72_query_migrate[] =
    "{\"xbzrle-cache\": {\"encoding-rate\": 0, \"bytes\": 0, \"cache-size\": 67108864, "
    "\"cache-miss-rate\": 0, \"pages\": 0, \"overflow\": 0, \"cache-miss\": 4}, "
    "\"status\": \"completed\", \"setup-time\": 8, \"downtime\": 2, \"total-time\": 221, "
    "\"ram\": {\"total\": 134750208, \"postcopy-requests\": 0, \"dirty-sync-count\": 3, "
    "\"multifd-bytes\": 0, \"pages-per-second\": 165120, \"downtime-bytes\": 16423, "
    "\"page-size\": 4096, \"remaining\": 0, \"postcopy-bytes\": 0, "
    "\"mbps\": 33.01727699530516, \"transferred\": 767166, "
    "\"dirty-sync-missed-zero-copy\": 0, \"precopy-bytes\": 750743, \"duplicate\": 32787, "
    "\"dirty-pages-rate\": 0, \"skipped\": 0, \"normal-bytes\": 471040, \"normal\": 115}}";

static const char qemu72_info_migrate[] =
    "Migration status: completed\n"
    "total time: 221 ms\n"
    "downtime: 2 ms\n"
    "setup: 8 ms\n"
    "transferred ram: 749 kbytes\n"
    "throughput: 33.02 mbps\n"
    "remaining ram: 0 kbytes\n"
    "total ram: 131592 kbytes\n"
    "duplicate: 32787 pages\n"
    "skipped: 0 pages\n"
    "normal: 115 pages\n"
    "normal bytes: 460 kbytes\n"
    "dirty sync count: 3\n"
    "page size: 4 kbytes\n"
    "multifd bytes: 0 kbytes\n"
    "pages-per-second: 165120\n"
    "precopy ram: 733 kbytes\n"
    "downtime ram: 16 kbytes\n"
    "cache size: 67108864 bytes\n"
    "xbzrle transferred: 0 kbytes\n"
    "xbzrle pages: 0 pages\n"
    "xbzrle cache miss: 4 pages\n"
    "xbzrle cache miss rate: 0.00\n"
    "xbzrle encoding rate: 0.00\n"
    "xbzrle overflow: 0\n";

/* An active one with compression, and a failed and an incoming one. */
static const char qemu72_query_active[] =
    "{\"expected-downtime\": 300, \"compression\": {\"compression-rate\": 0, \"busy\": 0, "
    "\"compressed-size\": 60465, \"pages\": 47, \"busy-rate\": 0}, \"status\": \"active\", "
    "\"setup-time\": 11, \"total-time\": 2008, \"ram\": {\"total\": 134750208, "
    "\"postcopy-requests\": 0, \"dirty-sync-count\": 1, \"multifd-bytes\": 0, "
    "\"pages-per-second\": 11380, \"downtime-bytes\": 0, \"page-size\": 4096, "
    "\"remaining\": 68399104, \"postcopy-bytes\": 0, \"mbps\": 0.8208, "
    "\"transferred\": 210543, \"dirty-sync-missed-zero-copy\": 0, "
    "\"precopy-bytes\": 210543, \"duplicate\": 16159, \"dirty-pages-rate\": 0, "
    "\"skipped\": 0, \"normal-bytes\": 4096, \"normal\": 1}}";

static const char qemu72_info_active[] =
    "Migration status: active\n"
    "total time: 2008 ms\n"
    "expected downtime: 300 ms\n"
    "setup: 11 ms\n"
    "transferred ram: 205 kbytes\n"
    "throughput: 0.82 mbps\n"
    "remaining ram: 66796 kbytes\n"
    "total ram: 131592 kbytes\n"
    "duplicate: 16159 pages\n"
    "skipped: 0 pages\n"
    "normal: 1 pages\n"
    "normal bytes: 4 kbytes\n"
    "dirty sync count: 1\n"
    "page size: 4 kbytes\n"
    "multifd bytes: 0 kbytes\n"
    "pages-per-second: 11380\n"
    "precopy ram: 205 kbytes\n"
    "compression pages: 47 pages\n"
    "compression busy: 0\n"
    "compression busy rate: 0.00\n"
    "compressed size: 59 kbytes\n"
    "compression rate: 0.00\n";

static void check_info_migrate(Fixture *f, const char *json, const char *want)
{
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GString) out = g_string_new(NULL);
    MonitorCmdCtx ctx = { f->hub, f->m };

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    hmp_print_migrate(&ctx, json_parser_get_root(p), out);
    g_assert_cmpstr(out->str, ==, want);
}

static void test_hmp_info_migrate(Fixture *f, gconstpointer data)
{
    check_info_migrate(f, qemu72_query_migrate, qemu72_info_migrate);
    check_info_migrate(f, qemu72_query_active, qemu72_info_active);
    check_info_migrate(f, "{\"status\": \"failed\", \"error-desc\": \"Failed to connect to "
                       "'127.0.0.1:1': Connection refused\"}",
                       "Migration status: failed (Failed to connect to '127.0.0.1:1': "
                       "Connection refused)\ntotal time: 0 ms\n");
    check_info_migrate(f, "{\"status\": \"cancelled\"}",
                       "Migration status: cancelled\ntotal time: 0 ms\n");
    check_info_migrate(f, "{\"socket-address\": [{\"port\": \"45678\", \"ipv4\": true, "
                       "\"host\": \"127.0.0.1\", \"type\": \"inet\"}]}",
                       "socket address: [\n\ttcp:127.0.0.1:45678\n]\n");
    check_info_migrate(f, "{}", "");
    /* through the table: no migration subsystem in this test, so nothing */
    expect_hmp(f, "info migrate", "");
}

/* ---- HMP sessions ---- */

static void test_hmp_session(Fixture *f, gconstpointer data)
{
    g_autoptr(GString) out = g_string_new(NULL);
    HmpSession *h = hmp_session_new(f->hub, out_fn, out);

    hmp_session_start(h);
    g_assert_cmpstr(out->str, ==, "kvmig " KVMIG_VERSION " monitor - type 'help' for more "
                    "information\r\n(qemu) ");
    g_string_truncate(out, 0);
    hmp_session_input(h, "info st", 7);
    g_assert_cmpstr(out->str, ==, "");
    hmp_session_input(h, "atus\r\nstop\n\n", 12);
    g_assert_cmpstr(out->str, ==, "VM status: running\r\n(qemu) (qemu) (qemu) ");
    g_assert_cmpint(machine_runstate(f->m), ==, RUN_STATE_PAUSED);
    hmp_session_free(h);
}

static void expect_spec(const char *spec, MonitorChardevKind kind, const char *path,
                        bool server, bool wait)
{
    g_autoptr(GError) err = NULL;
    MonitorSpec s;

    g_assert_true(monitor_parse_spec(spec, &s, &err));
    g_assert_no_error(err);
    g_assert_cmpint(s.kind, ==, kind);
    g_assert_cmpstr(s.path, ==, path);
    if (kind == MONITOR_CHARDEV_UNIX) {
        g_assert_cmpint(s.server, ==, server);
        g_assert_cmpint(s.wait, ==, wait);
    }
    monitor_spec_clear(&s);
}

static void expect_bad_spec(const char *spec, const char *msg)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(monitor_parse_spec(spec, NULL, &err));
    g_assert_cmpstr(err->message, ==, msg);
}

static void test_specs(void)
{
    /* QEMU's spellings; server defaults to off and wait to on, as in QEMU */
    expect_spec("stdio", MONITOR_CHARDEV_STDIO, NULL, false, false);
    expect_spec("none", MONITOR_CHARDEV_NONE, NULL, false, false);
    expect_spec("unix:/tmp/a.sock,server=on,wait=off", MONITOR_CHARDEV_UNIX, "/tmp/a.sock",
                true, false);
    expect_spec("unix:/tmp/a.sock,server,nowait", MONITOR_CHARDEV_UNIX, "/tmp/a.sock",
                true, false);
    expect_spec("unix:/tmp/a.sock,server", MONITOR_CHARDEV_UNIX, "/tmp/a.sock", true, true);
    expect_spec("unix:/tmp/a.sock,wait=off,server=on", MONITOR_CHARDEV_UNIX, "/tmp/a.sock",
                true, false);
    expect_spec("unix:rel.sock", MONITOR_CHARDEV_UNIX, "rel.sock", false, true);
    g_assert_true(monitor_parse_spec("unix:/x,server=on,wait=off", NULL, NULL));
    expect_bad_spec("tcp:127.0.0.1:4444,server=on,wait=off",
                    "monitor 'tcp:127.0.0.1:4444,server=on,wait=off' is not supported: use "
                    "unix:PATH,server=on,wait=off, stdio or none");
    expect_bad_spec("unix:", "monitor 'unix:': the unix socket path is empty");
    expect_bad_spec("unix:/x,server=maybe", "monitor 'unix:/x,server=maybe': option 'server' "
                    "expects on or off");
    expect_bad_spec("unix:/x,server,telnet", "monitor 'unix:/x,server,telnet': unknown option "
                    "'telnet' (accepted: server, wait, nowait)");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    g_test_add_func("/monitor/specs", test_specs);
    ADD("/qmp/greeting", test_greeting);
    ADD("/qmp/negotiation", test_negotiation);
    ADD("/qmp/errors", test_errors);
    ADD("/qmp/garbage", test_garbage);
    ADD("/qmp/string-escapes", test_string_escapes);
    ADD("/qmp/framing", test_framing);
    ADD("/qmp/limits", test_limits);
    ADD("/qmp/stop-cont-events", test_stop_cont_events);
    ADD("/qmp/event-data", test_event_data);
    ADD("/qmp/event-other-thread", test_event_other_thread);
    ADD("/qmp/quit", test_quit);
    ADD("/qmp/query-commands-version", test_query_commands_version);
    ADD("/qmp/pmemsave", test_pmemsave);
    ADD("/qmp/getfd", test_getfd);
    ADD("/qmp/balloon", test_balloon);
    ADD("/qmp/migration-absent", test_migration_absent);
    ADD("/qmp/caps-params", test_caps_params);
    ADD("/hmp/basic", test_hmp_basic);
    ADD("/hmp/migration-options", test_hmp_migration_options);
    ADD("/hmp/info-migrate", test_hmp_info_migrate);
    ADD("/hmp/session", test_hmp_session);
    return g_test_run();
}
