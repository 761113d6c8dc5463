/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP sessions without a transport: the "(qemu) " prompt, line input,
 * QEMU's command-line syntax (flags, words, "quoted strings", integers),
 * help, and dispatch through the command table: every HMP command runs the
 * QMP handler of its table entry and prints the result with the entry's
 * formatter.  A synchronous `migrate` (no -d) suspends the session's input
 * until the migration ends, as QEMU's monitor does.
 *
 * Main thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-host.h"
#include "migration/migration.h"
#include "monitor-internal.h"

#define HMP_PROMPT "(qemu) "
#define HMP_MIGRATE_POLL_MS 100

struct HmpSession {
    MonitorHub *hub;
    MonitorOutFn out;
    void *out_opaque;
    GString *input;             /* bytes not yet run (several lines while suspended) */
    bool discarding;            /* the current line is too long: drop to its end */
    GQueue fds;                 /* received with the input, not yet taken */
    GSource *wait_src;          /* synchronous migrate: polls the status */
};

static void session_write(HmpSession *s, const char *text)
{
    s->out(s->out_opaque, text, strlen(text));
}

/* ---- the command line ---- */

typedef struct HmpLine {
    const char *p;              /* next unread character */
} HmpLine;

static void skip_spaces(HmpLine *l)
{
    while (g_ascii_isspace(*l->p)) {
        l->p++;
    }
}

/* A word up to the next space; "" at the end of the line. */
static char *read_word(HmpLine *l)
{
    const char *start;

    skip_spaces(l);
    start = l->p;
    while (*l->p && !g_ascii_isspace(*l->p)) {
        l->p++;
    }
    return g_strndup(start, l->p - start);
}

/* A word, or a "quoted string" with \n \r \t \\ \" \' escapes. */
static bool read_string(HmpLine *l, char **out, const char **err)
{
    GString *s;

    skip_spaces(l);
    if (!*l->p) {
        *err = "string expected";
        return false;
    }
    if (*l->p != '"') {
        *out = read_word(l);
        return true;
    }
    s = g_string_new(NULL);
    l->p++;
    while (*l->p && *l->p != '"') {
        char c = *l->p++;

        if (c == '\\' && *l->p) {
            c = *l->p++;
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            default:
                break;
            }
        }
        g_string_append_c(s, c);
    }
    if (*l->p != '"') {
        g_string_free(s, TRUE);
        *err = "unterminated string";
        return false;
    }
    l->p++;
    *out = g_string_free(s, FALSE);
    return true;
}

/* Parse the arguments of @cmd from @l into a new object; NULL and *msg on error. */
static JsonObject *parse_args(const MonitorCmd *cmd, HmpLine *l, char **msg,
                              bool *prefix_name)
{
    g_autoptr(JsonObject) args = json_object_new();
    const HmpArg *a = cmd->hmp_args;

    *prefix_name = true;
    /* flags come first: -d -b ... or -db */
    for (;;) {
        skip_spaces(l);
        if (!a || l->p[0] != '-' || !g_ascii_isalpha(l->p[1])) {
            break;
        }
        l->p++;
        while (*l->p && !g_ascii_isspace(*l->p)) {
            const HmpArg *f = a;
            char c = *l->p++;

            for (f = cmd->hmp_args; f->name && !(f->type == HARG_FLAG && f->flag == c); f++) {
            }
            if (!f->name) {
                *msg = g_strdup_printf("unsupported option -%c", c);
                return NULL;
            }
            json_object_set_boolean_member(args, f->name, true);
        }
    }
    for (; a && a->name; a++) {
        const char *err = NULL;

        if (a->type == HARG_FLAG) {
            continue;
        }
        skip_spaces(l);
        if (!*l->p && a->optional) {
            continue;
        }
        switch (a->type) {
        case HARG_STR: {
            char *v;

            if (!read_string(l, &v, &err)) {
                *msg = g_strdup(err);
                return NULL;
            }
            json_object_set_string_member(args, a->name, v);
            g_free(v);
            break;
        }
        case HARG_INT: {
            g_autofree char *w = read_word(l);
            const char *p = w;
            char *end;
            gint64 v;

            *prefix_name = false;
            if (!*w) {
                *msg = g_strdup("unexpected end of expression");
                return NULL;
            }
            if (*p == '+' || *p == '-') {
                p++;
            }
            if (!g_ascii_isdigit(*p)) {
                *msg = g_strdup_printf("invalid char '%c' in expression", *p ? *p : ' ');
                return NULL;
            }
            errno = 0;
            v = g_ascii_strtoll(w, &end, 0);
            if (errno == ERANGE) {
                *msg = g_strdup("number too large");
                return NULL;
            }
            if (*end) {
                *msg = g_strdup_printf("invalid char '%c' in expression", *end);
                return NULL;
            }
            json_object_set_int_member(args, a->name, v);
            *prefix_name = true;
            break;
        }
        case HARG_ONOFF: {
            g_autofree char *w = read_word(l);

            if (strcmp(w, "on") && strcmp(w, "off")) {
                *prefix_name = false;
                *msg = g_strdup("Expected 'on' or 'off'");
                return NULL;
            }
            json_object_set_boolean_member(args, a->name, !strcmp(w, "on"));
            break;
        }
        case HARG_FLAG:
            break;
        }
    }
    skip_spaces(l);
    if (*l->p) {
        *msg = g_strdup("extraneous characters at the end of line");
        return NULL;
    }
    return g_steal_pointer(&args);
}

/* ---- lookup and help ---- */

static bool is_info(const MonitorCmd *c)
{
    return c->hmp_name && g_str_has_prefix(c->hmp_name, "info ");
}

/* Does "stop|s" name the word @w? */
static bool name_matches(const char *names, const char *w)
{
    g_auto(GStrv) alts = g_strsplit(names, "|", -1);

    for (char **a = alts; *a; a++) {
        if (!strcmp(*a, w)) {
            return true;
        }
    }
    return false;
}

static const MonitorCmd *find_hmp(const char *word)
{
    for (size_t i = 0; i < monitor_cmds_count; i++) {
        const MonitorCmd *c = &monitor_cmds[i];

        if (c->hmp_name && !is_info(c) && name_matches(c->hmp_name, word)) {
            return c;
        }
    }
    return NULL;
}

static const MonitorCmd *find_info(const char *sub)
{
    for (size_t i = 0; i < monitor_cmds_count; i++) {
        const MonitorCmd *c = &monitor_cmds[i];

        if (is_info(c) && !strcmp(c->hmp_name + 5, sub)) {
            return c;
        }
    }
    return NULL;
}

static const char help_help[] = "show help for all commands or for one";
static const char info_help[] = "show information about the VM (list: help info)";

static int cmp_lines(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_sorted(GPtrArray *lines, GString *out)
{
    g_ptr_array_sort(lines, cmp_lines);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append(out, g_ptr_array_index(lines, i));
    }
}

static char *help_line(const MonitorCmd *c)
{
    return g_strdup_printf("%s %s -- %s\n", c->hmp_name, c->hmp_params ? c->hmp_params : "",
                           c->help);
}

static void help_info(GString *out)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

    for (size_t i = 0; i < monitor_cmds_count; i++) {
        if (is_info(&monitor_cmds[i])) {
            g_ptr_array_add(lines, help_line(&monitor_cmds[i]));
        }
    }
    print_sorted(lines, out);
}

static void help(const char *topic, GString *out)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    const MonitorCmd *c;

    if (!*topic) {
        for (size_t i = 0; i < monitor_cmds_count; i++) {
            c = &monitor_cmds[i];
            if (c->hmp_name && !is_info(c)) {
                g_ptr_array_add(lines, help_line(c));
            }
        }
        g_ptr_array_add(lines, g_strdup_printf("help|? [cmd] -- %s\n", help_help));
        g_ptr_array_add(lines, g_strdup_printf("info [subcommand] -- %s\n", info_help));
        print_sorted(lines, out);
        return;
    }
    if (!strcmp(topic, "info")) {
        help_info(out);
        return;
    }
    if (g_str_has_prefix(topic, "info ")) {
        const char *sub = topic + 5;

        while (g_ascii_isspace(*sub)) {
            sub++;
        }
        c = find_info(sub);
    } else if (!strcmp(topic, "help") || !strcmp(topic, "?")) {
        g_string_append_printf(out, "help|? [cmd] -- %s\n", help_help);
        return;
    } else {
        c = find_hmp(topic);
    }
    if (!c) {
        g_string_append_printf(out, "unknown command: '%s'\n", topic);
        return;
    }
    g_autofree char *line = help_line(c);
    g_string_append(out, line);
}

/* ---- running a line ---- */

static void to_crlf(GString *out, gsize from)
{
    for (gsize i = from; i < out->len; i++) {
        if (out->str[i] == '\n' && (i == 0 || out->str[i - 1] != '\r')) {
            g_string_insert_c(out, i, '\r');
            i++;
        }
    }
}

static void hmp_session_resume(HmpSession *s);

static gboolean migrate_wait_poll(gpointer opaque)
{
    HmpSession *s = opaque;
    MonitorCmdCtx ctx = { s->hub, s->hub->m, NULL, s, &s->fds };
    g_autofree char *status = monitor_migration_status(&ctx);
    GString *out;

    if (!strcmp(status, "none") || migrate_status_is_running(status)) {
        /* pre-switchover waits for migrate_continue: give the monitor back */
        if (strcmp(status, "pre-switchover")) {
            return G_SOURCE_CONTINUE;
        }
    }
    out = g_string_new(NULL);
    if (s->hub->m->migration) {
        g_autoptr(JsonObject) info = qmp_query_migrate(s->hub->m->migration);
        const char *desc = monitor_json_str(info, "error-desc");

        if (desc) {
            g_string_append_printf(out, "%s\n", desc);
        }
    }
    to_crlf(out, 0);
    g_string_append(out, HMP_PROMPT);
    session_write(s, out->str);
    g_string_free(out, TRUE);
    g_source_unref(s->wait_src);
    s->wait_src = NULL;
    hmp_session_resume(s);
    return G_SOURCE_REMOVE;
}

static void suspend_for_migration(HmpSession *s)
{
    s->wait_src = g_timeout_source_new(HMP_MIGRATE_POLL_MS);
    g_source_set_callback(s->wait_src, migrate_wait_poll, s, NULL);
    g_source_attach(s->wait_src, s->hub->m->main_ctx);
}

void hmp_run_line(MonitorHub *hub, HmpSession *s, GQueue *fds, const char *text, GString *out)
{
    MonitorCmdCtx ctx = { hub, hub->m, NULL, s, fds };
    HmpLine l = { text };
    gsize start = out->len;
    g_autofree char *word = read_word(&l);
    g_autofree char *sub = NULL;
    g_autofree char *msg = NULL;
    g_autoptr(JsonObject) hargs = NULL;
    g_autoptr(JsonObject) qargs = NULL;
    g_autoptr(GError) err = NULL;
    const MonitorCmd *cmd;
    const char *err_name;
    g_autofree char *help_name = NULL;
    bool prefix_name;
    JsonNode *ret;

    if (!*word) {
        return;
    }
    if (!strcmp(word, "help") || !strcmp(word, "?")) {
        g_autofree char *topic = g_strstrip(g_strdup(l.p));
        help(topic, out);
        goto done;
    }
    if (!strcmp(word, "info")) {
        sub = read_word(&l);
        if (!*sub) {
            help_info(out);
            goto done;
        }
        cmd = find_info(sub);
        if (!cmd) {
            g_string_append_printf(out, "unknown command: 'info %s'\n", sub);
            goto done;
        }
        err_name = sub;
        help_name = g_strdup_printf("info %s", sub);
    } else {
        cmd = find_hmp(word);
        if (!cmd) {
            g_string_append_printf(out, "unknown command: '%s'\n", word);
            goto done;
        }
        err_name = cmd->hmp_name;
        help_name = g_strdup(word);
    }

    hargs = parse_args(cmd, &l, &msg, &prefix_name);
    if (!hargs) {
        if (prefix_name) {
            g_string_append_printf(out, "%s: ", err_name);
        }
        g_string_append_printf(out, "%s\nTry \"help %s\" for more information\n", msg,
                               help_name);
        goto done;
    }
    if (cmd->hmp_adapt) {
        qargs = cmd->hmp_adapt(&ctx, hargs, &err);
        if (!qargs) {
            g_string_append_printf(out, "Error: %s\n", err->message);
            goto done;
        }
    } else {
        qargs = json_object_ref(hargs);
    }
    ret = monitor_cmd_run(&ctx, cmd, qargs, &err);
    if (!ret) {
        g_string_append_printf(out, "Error: %s\n", err->message);
        goto done;
    }
    if (cmd->hmp_print) {
        cmd->hmp_print(&ctx, ret, out);
    }
    json_node_unref(ret);
    if (cmd->hmp_async && !json_object_has_member(hargs, "detach")) {
        if (s && !s->wait_src && hub->m->main_ctx) {
            suspend_for_migration(s);
        } else if (!s) {
            g_string_append(out, "terminal does not allow synchronous migration, "
                            "continuing detached\n");
        }
    }
done:
    to_crlf(out, start);
}

/* ---- sessions ---- */

HmpSession *hmp_session_new(MonitorHub *hub, MonitorOutFn out, void *opaque)
{
    HmpSession *s = g_new0(HmpSession, 1);

    s->hub = hub;
    s->out = out;
    s->out_opaque = opaque;
    s->input = g_string_new(NULL);
    g_queue_init(&s->fds);
    return s;
}

void hmp_session_free(HmpSession *s)
{
    int fd;

    if (!s) {
        return;
    }
    if (s->wait_src) {
        g_source_destroy(s->wait_src);
        g_source_unref(s->wait_src);
    }
    while ((fd = GPOINTER_TO_INT(g_queue_pop_head(&s->fds))) > 0) {
        close(fd);
    }
    g_string_free(s->input, TRUE);
    g_free(s);
}

void hmp_session_start(HmpSession *s)
{
    session_write(s, "kvmig " KVMIG_VERSION " monitor - type 'help' for more information\r\n"
                  HMP_PROMPT);
}

void hmp_session_push_fd(HmpSession *s, int fd)
{
    if (fd <= 0) {
        return;
    }
    if (g_queue_get_length(&s->fds) >= MONITOR_MAX_FDS) {
        close(GPOINTER_TO_INT(g_queue_pop_head(&s->fds)));
    }
    g_queue_push_tail(&s->fds, GINT_TO_POINTER(fd));
}

/* Run every complete line, unless a synchronous migrate holds the session. */
static void run_pending(HmpSession *s)
{
    char *nl;

    while (!s->wait_src && (nl = memchr(s->input->str, '\n', s->input->len))) {
        gsize n = nl - s->input->str;
        g_autofree char *line = g_strndup(s->input->str, n);
        g_autoptr(GString) out = g_string_new(NULL);

        g_string_erase(s->input, 0, n + 1);
        g_strchomp(line);       /* \r of \r\n */
        hmp_run_line(s->hub, s, &s->fds, line, out);
        if (!s->wait_src) {
            g_string_append(out, HMP_PROMPT);
        }
        session_write(s, out->str);
        if (s->hub->quit_pending) {
            monitor_hub_request_quit(s->hub);
        }
    }
}

static void hmp_session_resume(HmpSession *s)
{
    run_pending(s);
}

void hmp_session_input(HmpSession *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s->discarding) {
            s->discarding = buf[i] != '\n';
            continue;
        }
        if (buf[i] == '\0') {
            continue;
        }
        if (s->wait_src && s->input->len > 4 * HMP_MAX_LINE) {
            continue;   /* typing ahead of a synchronous migrate: bounded */
        }
        g_string_append_c(s->input, buf[i]);
        if (buf[i] != '\n' && s->input->len > HMP_MAX_LINE) {
            const char *nl = memchr(s->input->str, '\n', s->input->len);

            if (!nl) {
                /* one line longer than any command: drop it */
                g_string_truncate(s->input, 0);
                s->discarding = true;
                session_write(s, "line too long\r\n");
            }
        }
    }
    run_pending(s);
}
