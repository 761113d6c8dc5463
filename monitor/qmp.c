/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP sessions without a transport: frame the client's bytes into JSON
 * values, parse each with json-glib, run the request through the command
 * table and write replies and events, formatted as QEMU formats them.
 *
 * Framing only finds value boundaries (brace/bracket depth outside
 * strings); json-glib does the parsing.  One value may arrive in pieces or
 * several in one read.  Limits: QMP_MAX_REQUEST bytes per value and
 * QMP_MAX_NESTING levels; past either the client gets an error, the
 * partial value is dropped up to where its nesting closes, and the
 * session keeps serving.
 *
 * Main thread only.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config-host.h"
#include "monitor-internal.h"

struct QmpSession {
    MonitorHub *hub;
    MonitorOutFn out;
    void *out_opaque;
    bool negotiated;

    /* the framer */
    GString *buf;               /* the value being collected */
    int depth;                  /* open { and [ */
    bool in_str;
    bool esc;
    char quote;                 /* '"' or '\'' (json-glib and QEMU take both) */
    bool skipping;              /* over-limit value: drop bytes until depth is 0 */

    GQueue fds;                 /* received with the input, not yet taken */
};

/* ---- JSON output ---- */

static void append_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                g_string_append_printf(out, "\\u%04X", *p);
            } else if (*p < 0x80) {
                g_string_append_c(out, *p);
            } else {
                /* non-ASCII as \uXXXX (as QEMU); invalid UTF-8 as U+FFFD: always valid JSON */
                gunichar c = g_utf8_get_char_validated((const char *)p, -1);

                if (c == (gunichar)-1 || c == (gunichar)-2) {
                    c = 0xfffd;
                } else {
                    p = (const unsigned char *)g_utf8_next_char(p) - 1;
                }
                if (c >= 0x10000) {
                    c -= 0x10000;
                    g_string_append_printf(out, "\\u%04X\\u%04X", 0xd800 + (c >> 10),
                                           0xdc00 + (c & 0x3ff));
                } else {
                    g_string_append_printf(out, "\\u%04X", c);
                }
            }
        }
    }
    g_string_append_c(out, '"');
}

static void append_double(GString *out, double d)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (!isfinite(d)) {
        g_string_append(out, "null");
        return;
    }
    /* The shortest text that reads back as the same double. */
    for (int prec = 1; prec <= 17; prec++) {
        char fmt[8];

        snprintf(fmt, sizeof(fmt), "%%.%dg", prec);
        g_ascii_formatd(buf, sizeof(buf), fmt, d);
        if (g_ascii_strtod(buf, NULL) == d) {
            break;
        }
    }
    g_string_append(out, buf);
    if (!strpbrk(buf, ".eE")) {
        g_string_append(out, ".0");     /* stays a number, not an integer */
    }
}

void monitor_json_append(GString *out, JsonNode *n)
{
    if (!n) {
        g_string_append(out, "null");
        return;
    }
    switch (json_node_get_node_type(n)) {
    case JSON_NODE_OBJECT: {
        JsonObjectIter it;
        const char *name;
        JsonNode *member;
        bool first = true;

        g_string_append_c(out, '{');
        json_object_iter_init_ordered(&it, json_node_get_object(n));
        while (json_object_iter_next_ordered(&it, &name, &member)) {
            if (!first) {
                g_string_append(out, ", ");
            }
            first = false;
            append_string(out, name);
            g_string_append(out, ": ");
            monitor_json_append(out, member);
        }
        g_string_append_c(out, '}');
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *a = json_node_get_array(n);
        guint len = json_array_get_length(a);

        g_string_append_c(out, '[');
        for (guint i = 0; i < len; i++) {
            if (i) {
                g_string_append(out, ", ");
            }
            monitor_json_append(out, json_array_get_element(a, i));
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_VALUE: {
        GType t = json_node_get_value_type(n);

        if (t == G_TYPE_INT64) {
            g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
        } else if (t == G_TYPE_DOUBLE) {
            append_double(out, json_node_get_double(n));
        } else if (t == G_TYPE_BOOLEAN) {
            g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
        } else if (t == G_TYPE_STRING) {
            append_string(out, json_node_get_string(n));
        } else {
            g_string_append(out, "null");
        }
        break;
    }
    case JSON_NODE_NULL:
        g_string_append(out, "null");
        break;
    }
}

JsonNode *monitor_node_object(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, o);
    return n;
}

JsonNode *monitor_node_array(JsonArray *a)
{
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(n, a);
    return n;
}

gint64 monitor_json_int(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (n && JSON_NODE_HOLDS_VALUE(n) &&
        (json_node_get_value_type(n) == G_TYPE_INT64 ||
         json_node_get_value_type(n) == G_TYPE_DOUBLE)) {
        return json_node_get_int(n);
    }
    return 0;
}

double monitor_json_double(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (n && JSON_NODE_HOLDS_VALUE(n) &&
        (json_node_get_value_type(n) == G_TYPE_INT64 ||
         json_node_get_value_type(n) == G_TYPE_DOUBLE)) {
        return json_node_get_double(n);
    }
    return 0;
}

const char *monitor_json_str(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING) {
        return json_node_get_string(n);
    }
    return NULL;
}

/* ---- replies ---- */

static void send_object(QmpSession *s, JsonObject *obj)
{
    g_autoptr(GString) out = g_string_sized_new(128);
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), obj);

    monitor_json_append(out, node);
    g_string_append(out, "\r\n");
    s->out(s->out_opaque, out->str, out->len);
}

static void send_return(QmpSession *s, JsonNode *ret, JsonNode *id)
{
    JsonObject *obj = json_object_new();

    json_object_set_member(obj, "return", ret);
    if (id) {
        json_object_set_member(obj, "id", json_node_copy(id));
    }
    send_object(s, obj);
    json_object_unref(obj);
}

static const char *error_class(const GError *err)
{
    if (err->domain == KVMIG_ERROR) {
        switch (err->code) {
        case KVMIG_ERROR_COMMAND_NOT_FOUND:
            return "CommandNotFound";
        case MONITOR_ERROR_DEVICE_NOT_ACTIVE:
            return "DeviceNotActive";
        }
    }
    return "GenericError";
}

static void send_error(QmpSession *s, const GError *err, JsonNode *id)
{
    JsonObject *obj = json_object_new();
    JsonObject *e = json_object_new();

    if (id) {
        json_object_set_member(obj, "id", json_node_copy(id));
    }
    json_object_set_string_member(e, "class", error_class(err));
    json_object_set_string_member(e, "desc", err->message);
    json_object_set_object_member(obj, "error", e);
    send_object(s, obj);
    json_object_unref(obj);
}

static void send_generic_error(QmpSession *s, JsonNode *id, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void send_generic_error(QmpSession *s, JsonNode *id, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;

    va_start(ap, fmt);
    err = g_error_new_valist(KVMIG_ERROR, KVMIG_ERROR_GENERIC, fmt, ap);
    va_end(ap);
    send_error(s, err, id);
}

void qmp_session_send_event(QmpSession *s, JsonObject *event)
{
    send_object(s, event);
}

/* ---- sessions ---- */

QmpSession *qmp_session_new(MonitorHub *hub, MonitorOutFn out, void *opaque)
{
    QmpSession *s = g_new0(QmpSession, 1);

    s->hub = hub;
    s->out = out;
    s->out_opaque = opaque;
    s->buf = g_string_new(NULL);
    g_queue_init(&s->fds);
    g_ptr_array_add(hub->qmp_sessions, s);
    return s;
}

void qmp_session_free(QmpSession *s)
{
    int fd;

    if (!s) {
        return;
    }
    g_ptr_array_remove(s->hub->qmp_sessions, s);
    while ((fd = GPOINTER_TO_INT(g_queue_pop_head(&s->fds))) > 0) {
        close(fd);
    }
    g_string_free(s->buf, TRUE);
    g_free(s);
}

bool qmp_session_negotiated(QmpSession *s)
{
    return s->negotiated;
}

void qmp_session_push_fd(QmpSession *s, int fd)
{
    if (fd <= 0) {
        return;
    }
    if (g_queue_get_length(&s->fds) >= MONITOR_MAX_FDS) {
        close(GPOINTER_TO_INT(g_queue_pop_head(&s->fds)));
    }
    g_queue_push_tail(&s->fds, GINT_TO_POINTER(fd));
}

void qmp_session_start(QmpSession *s)
{
    JsonObject *greeting = json_object_new();
    JsonObject *qmp = json_object_new();
    JsonObject *version = json_object_new();
    JsonObject *qemu = json_object_new();

    json_object_set_int_member(qemu, "micro", MONITOR_QEMU_COMPAT_MICRO);
    json_object_set_int_member(qemu, "minor", MONITOR_QEMU_COMPAT_MINOR);
    json_object_set_int_member(qemu, "major", MONITOR_QEMU_COMPAT_MAJOR);
    json_object_set_object_member(version, "qemu", qemu);
    json_object_set_string_member(version, "package", "kvmig " KVMIG_VERSION);
    json_object_set_object_member(qmp, "version", version);
    /* No out-of-band execution: nothing to negotiate but the mode. */
    json_object_set_array_member(qmp, "capabilities", json_array_new());
    json_object_set_object_member(greeting, "QMP", qmp);
    send_object(s, greeting);
    json_object_unref(greeting);
}

/* One request object (QEMU's qmp_dispatch() checks, in its order). */
static void handle_request(QmpSession *s, JsonNode *req)
{
    JsonObject *obj;
    JsonNode *id, *exec = NULL, *args = NULL;
    JsonObjectIter it;
    const char *member_name;
    JsonNode *member;
    const MonitorCmd *cmd;
    const char *name;
    g_autoptr(GError) err = NULL;
    MonitorCmdCtx ctx = { s->hub, s->hub->m, s, NULL, &s->fds };
    JsonNode *ret;

    if (!JSON_NODE_HOLDS_OBJECT(req)) {
        send_generic_error(s, NULL, "QMP input must be a JSON object");
        return;
    }
    obj = json_node_get_object(req);
    id = json_object_get_member(obj, "id");
    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &member_name, &member)) {
        if (!strcmp(member_name, "execute")) {
            if (!JSON_NODE_HOLDS_VALUE(member) ||
                json_node_get_value_type(member) != G_TYPE_STRING) {
                send_generic_error(s, id, "QMP input member 'execute' must be a string");
                return;
            }
            exec = member;
        } else if (!strcmp(member_name, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(member)) {
                send_generic_error(s, id, "QMP input member 'arguments' must be an object");
                return;
            }
            args = member;
        } else if (strcmp(member_name, "id")) {
            send_generic_error(s, id, "QMP input member '%s' is unexpected", member_name);
            return;
        }
    }
    if (!exec) {
        send_generic_error(s, id, "QMP input lacks member 'execute'");
        return;
    }
    name = json_node_get_string(exec);
    cmd = monitor_cmd_find(name);
    if (!s->negotiated && (!cmd || strcmp(name, "qmp_capabilities"))) {
        g_set_error(&err, KVMIG_ERROR, KVMIG_ERROR_COMMAND_NOT_FOUND,
                    "Expecting capabilities negotiation with 'qmp_capabilities'");
        send_error(s, err, id);
        return;
    }
    if (!cmd) {
        g_set_error(&err, KVMIG_ERROR, KVMIG_ERROR_COMMAND_NOT_FOUND,
                    "The command %s has not been found", name);
        send_error(s, err, id);
        return;
    }
    ret = monitor_cmd_run(&ctx, cmd, args ? json_node_get_object(args) : NULL, &err);
    if (!ret) {
        send_error(s, err, id);
        return;
    }
    send_return(s, ret, id);
    if (s->hub->quit_pending) {
        monitor_hub_request_quit(s->hub);
    }
}

void qmp_session_set_negotiated(QmpSession *s)
{
    s->negotiated = true;
}

static void handle_value(QmpSession *s, const char *text, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;
    JsonNode *root;

    if (!json_parser_load_from_data(parser, text, len, &err)) {
        const char *msg = err->message;

        if (g_str_has_prefix(msg, "<data>:")) {
            msg += strlen("<data>:");
        }
        send_generic_error(s, NULL, "JSON parse error, %s", msg);
        return;
    }
    root = json_parser_get_root(parser);
    if (!root) {
        return;     /* only whitespace */
    }
    handle_request(s, root);
}

static void framer_reset(QmpSession *s)
{
    g_string_truncate(s->buf, 0);
    s->skipping = false;
}

/* A bare word at the top level (123, true, garbage) ends at a delimiter. */
static void flush_bare_word(QmpSession *s)
{
    if (s->depth == 0 && s->buf->len && !s->skipping) {
        handle_value(s, s->buf->str, s->buf->len);
        framer_reset(s);
    }
}

static void append_byte(QmpSession *s, char c)
{
    if (!s->skipping) {
        g_string_append_c(s->buf, c);
    }
}

void qmp_session_input(QmpSession *s, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        bool value_end = false;

        if (s->in_str) {
            append_byte(s, c);
            if (s->esc) {
                s->esc = false;
            } else if (c == '\\') {
                s->esc = true;
            } else if (c == s->quote) {
                s->in_str = false;
                value_end = s->depth == 0;
            }
        } else {
            switch (c) {
            case '"':
            case '\'':
                flush_bare_word(s);
                s->in_str = true;
                s->quote = c;
                append_byte(s, c);
                break;
            case '{':
            case '[':
                flush_bare_word(s);
                s->depth++;
                append_byte(s, c);
                if (s->depth > QMP_MAX_NESTING && !s->skipping) {
                    send_generic_error(s, NULL, "JSON nesting depth limit exceeded");
                    g_string_truncate(s->buf, 0);
                    s->skipping = true;
                }
                break;
            case '}':
            case ']':
                if (s->depth == 0) {
                    flush_bare_word(s);
                    send_generic_error(s, NULL, "JSON parse error, stray '%c'", c);
                    continue;
                }
                s->depth--;
                append_byte(s, c);
                value_end = s->depth == 0;
                break;
            default:
                if (s->depth == 0 && (g_ascii_isspace(c) || c == ',' || c == ':')) {
                    flush_bare_word(s);
                    if (!g_ascii_isspace(c)) {
                        send_generic_error(s, NULL, "JSON parse error, stray '%c'", c);
                    }
                    continue;
                }
                append_byte(s, c);
            }
        }

        if (value_end) {
            if (!s->skipping) {
                handle_value(s, s->buf->str, s->buf->len);
            }
            framer_reset(s);
        } else if (!s->skipping && s->buf->len > QMP_MAX_REQUEST) {
            send_generic_error(s, NULL, "JSON request size limit exceeded (%d bytes)",
                               QMP_MAX_REQUEST);
            g_string_truncate(s->buf, 0);
            /* inside a value: drop the rest of it; a bare word just restarts */
            s->skipping = s->depth > 0 || s->in_str;
        }
    }
}
