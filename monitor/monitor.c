/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Monitor transports and the per-machine hub: -qmp/-monitor specs, unix
 * socket servers and clients, stdio, non-blocking client I/O with
 * SCM_RIGHTS fd passing, and the event path from any thread to the QMP
 * clients.
 *
 * Threads: everything runs in the main loop except monitor_event_hook(),
 * which queues under hub->event_lock and asks the main context to drain.
 * Client connections are only ever freed from an idle callback
 * (conn_schedule_close), never from inside their own I/O or session code,
 * so a client that disconnects mid-command cannot pull the session out
 * from under the handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration/migration.h"
#include "monitor-internal.h"

#define MONITOR_MAX_CLIENTS 16          /* per socket; more wait in the backlog */
#define MONITOR_OUT_HIGH    (1 << 20)   /* stop reading a client that does not read */
#define MONITOR_OUT_MAX     (16 << 20)  /* and drop it if events still pile up */
#define MONITOR_QUIT_FLUSH_MS 1000

typedef struct MonitorConn MonitorConn;

struct MonitorChardev {
    MonitorHub *hub;
    bool qmp;                   /* QMP, else HMP */
    MonitorSpec spec;
    int listen_fd;              /* unix server, else -1 */
    GSource *listen_src;        /* NULL while MONITOR_MAX_CLIENTS are connected */
    GPtrArray *conns;           /* MonitorConn* */
};

struct MonitorConn {
    MonitorChardev *chr;
    int fd_in, fd_out;
    bool is_socket;             /* recvmsg/send; else read/write (stdio) */
    GSource *in_src;
    GSource *out_src;
    GSource *close_src;         /* scheduled close; the only place conns are freed */
    GByteArray *outbuf;
    QmpSession *qmp;
    HmpSession *hmp;
};

/* ---- specs ---- */

static bool parse_onoff(const char *v, bool *out)
{
    if (!v || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) {
        *out = false;
        return true;
    }
    return false;
}

bool monitor_parse_spec(const char *spec, MonitorSpec *out, GError **errp)
{
    MonitorSpec s = { .server = false, .wait = true };
    g_auto(GStrv) parts = NULL;

    if (!strcmp(spec, "none")) {
        s.kind = MONITOR_CHARDEV_NONE;
        goto ok;
    }
    if (!strcmp(spec, "stdio")) {
        s.kind = MONITOR_CHARDEV_STDIO;
        goto ok;
    }
    if (!g_str_has_prefix(spec, "unix:")) {
        kvmig_error(errp, "monitor '%s' is not supported: use unix:PATH,server=on,wait=off, "
                    "stdio or none", spec);
        return false;
    }
    parts = g_strsplit(spec + strlen("unix:"), ",", -1);
    if (!parts[0] || !*parts[0]) {
        kvmig_error(errp, "monitor '%s': the unix socket path is empty", spec);
        return false;
    }
    if (strlen(parts[0]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        kvmig_error(errp, "monitor '%s': UNIX socket path is too long", spec);
        return false;
    }
    for (char **p = parts + 1; *p; p++) {
        char *eq = strchr(*p, '=');
        g_autofree char *key = eq ? g_strndup(*p, eq - *p) : g_strdup(*p);
        const char *val = eq ? eq + 1 : NULL;
        bool ok;

        if (!strcmp(key, "server")) {
            ok = parse_onoff(val, &s.server);
        } else if (!strcmp(key, "wait")) {
            ok = parse_onoff(val, &s.wait);
        } else if (!strcmp(key, "nowait") && !val) {
            s.wait = false;
            ok = true;
        } else {
            kvmig_error(errp, "monitor '%s': unknown option '%s' (accepted: server, wait, "
                        "nowait)", spec, *p);
            return false;
        }
        if (!ok) {
            kvmig_error(errp, "monitor '%s': option '%s' expects on or off", spec, key);
            return false;
        }
    }
    s.kind = MONITOR_CHARDEV_UNIX;
    s.path = g_strdup(parts[0]);
ok:
    if (out) {
        *out = s;
    } else {
        g_free(s.path);
    }
    return true;
}

void monitor_spec_clear(MonitorSpec *spec)
{
    g_clear_pointer(&spec->path, g_free);
}

/* ---- the hub and events ---- */

MonitorHub *monitor_hub_get(Machine *m)
{
    MonitorHub *hub;

    if (m->event_fn == monitor_event_hook) {
        return m->event_opaque;
    }
    hub = g_new0(MonitorHub, 1);
    g_atomic_ref_count_init(&hub->ref);
    hub->m = m;
    mig_opts_init(&hub->local_opts);
    hub->qmp_sessions = g_ptr_array_new();
    hub->chardevs = g_ptr_array_new();
    g_mutex_init(&hub->event_lock);
    g_queue_init(&hub->events);
    m->event_opaque = hub;
    m->event_fn = monitor_event_hook;
    return hub;
}

void monitor_hub_unref(MonitorHub *hub)
{
    if (!g_atomic_ref_count_dec(&hub->ref)) {
        return;
    }
    g_queue_clear_full(&hub->events, (GDestroyNotify)json_object_unref);
    g_mutex_clear(&hub->event_lock);
    g_ptr_array_free(hub->chardevs, TRUE);
    g_ptr_array_free(hub->qmp_sessions, TRUE);
    mig_opts_destroy(&hub->local_opts);
    g_free(hub);
}

MigrationOptions *monitor_mig_opts(MonitorHub *hub)
{
    return hub->m->migration ? migration_options(hub->m->migration) : &hub->local_opts;
}

void monitor_hub_drain_events(MonitorHub *hub)
{
    for (;;) {
        JsonObject *ev;
        g_autoptr(GPtrArray) targets = NULL;

        g_mutex_lock(&hub->event_lock);
        ev = g_queue_pop_head(&hub->events);
        g_mutex_unlock(&hub->event_lock);
        if (!ev) {
            return;
        }
        /* sessions are freed only from idles, never during this loop */
        targets = g_ptr_array_copy(hub->qmp_sessions, NULL, NULL);
        for (guint i = 0; i < targets->len; i++) {
            QmpSession *s = g_ptr_array_index(targets, i);

            if (qmp_session_negotiated(s)) {
                qmp_session_send_event(s, ev);
            }
        }
        json_object_unref(ev);
    }
}

static gboolean drain_events_cb(gpointer opaque)
{
    monitor_hub_drain_events(opaque);
    return G_SOURCE_REMOVE;
}

void monitor_event_hook(void *opaque, const char *event, JsonObject *data)
{
    MonitorHub *hub = opaque;
    gint64 now = g_get_real_time();
    JsonObject *ev = json_object_new();
    JsonObject *ts = json_object_new();
    GMainContext *ctx;
    GSource *src;

    /* stamped when it happened, not when it is delivered */
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    json_object_set_object_member(ev, "timestamp", ts);
    json_object_set_string_member(ev, "event", event);
    if (data) {
        json_object_set_object_member(ev, "data", data);
    }
    g_mutex_lock(&hub->event_lock);
    g_queue_push_tail(&hub->events, ev);
    g_mutex_unlock(&hub->event_lock);
    /*
     * On the thread that runs the main loop: deliver now, keeping the order
     * with the reply being built (STOP before stop's return, as QEMU).
     * Anywhere else: an idle in the main context.  (Not
     * g_main_context_invoke(): it would run the drain on this thread when
     * the context happens to be free, e.g. before the loop starts.)
     */
    ctx = hub->m->main_ctx ? hub->m->main_ctx : g_main_context_default();
    if (g_main_context_is_owner(ctx)) {
        monitor_hub_drain_events(hub);
        return;
    }
    g_atomic_ref_count_inc(&hub->ref);
    src = g_idle_source_new();
    g_source_set_callback(src, drain_events_cb, hub, (GDestroyNotify)monitor_hub_unref);
    g_source_attach(src, ctx);
    g_source_unref(src);
}

void monitor_set_balloon_ops(Machine *m, const MonitorBalloonOps *ops, void *opaque)
{
    MonitorHub *hub = monitor_hub_get(m);

    hub->balloon_ops = ops;
    hub->balloon_opaque = opaque;
}

/* ---- client connections ---- */

static void conn_schedule_close(MonitorConn *c);
static void conn_want_input(MonitorConn *c, bool on);

/* Try to write what is queued; false if the client is gone. */
static bool conn_flush(MonitorConn *c)
{
    while (c->outbuf->len) {
        ssize_t n;

        if (c->is_socket) {
            n = send(c->fd_out, c->outbuf->data, c->outbuf->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            n = write(c->fd_out, c->outbuf->data, c->outbuf->len);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            }
            g_byte_array_set_size(c->outbuf, 0);
            return false;
        }
        g_byte_array_remove_range(c->outbuf, 0, n);
    }
    return true;
}

static gboolean conn_out_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    MonitorConn *c = opaque;

    if (!conn_flush(c) || (cond & (G_IO_ERR | G_IO_HUP))) {
        c->out_src = NULL;
        conn_schedule_close(c);
        return G_SOURCE_REMOVE;
    }
    if (c->outbuf->len) {
        return G_SOURCE_CONTINUE;
    }
    c->out_src = NULL;
    conn_want_input(c, true);
    return G_SOURCE_REMOVE;
}

/* MonitorOutFn of sessions on a connection */
static void conn_write(void *opaque, const char *data, size_t len)
{
    MonitorConn *c = opaque;

    if (c->close_src) {
        return;     /* going away: drop */
    }
    g_byte_array_append(c->outbuf, (const guint8 *)data, len);
    if (!c->out_src) {
        if (!conn_flush(c)) {
            conn_schedule_close(c);
            return;
        }
        if (c->outbuf->len) {
            c->out_src = g_unix_fd_source_new(c->fd_out, G_IO_OUT);
            g_source_set_callback(c->out_src, (GSourceFunc)(void (*)(void))conn_out_ready, c,
                                  NULL);
            g_source_attach(c->out_src, c->chr->hub->m->main_ctx);
            g_source_unref(c->out_src);     /* the context holds it; the pointer is borrowed */
        }
    }
    /* A client that sends but does not read: stop reading it until it catches up. */
    if (c->outbuf->len > MONITOR_OUT_MAX) {
        g_printerr("kvmig: monitor client does not read its replies; disconnecting it\n");
        conn_schedule_close(c);
    } else if (c->outbuf->len > MONITOR_OUT_HIGH) {
        conn_want_input(c, false);
    }
}

static void conn_feed(MonitorConn *c, const char *buf, size_t len, int *fds, int nfds)
{
    for (int i = 0; i < nfds; i++) {
        if (c->qmp) {
            qmp_session_push_fd(c->qmp, fds[i]);
        } else {
            hmp_session_push_fd(c->hmp, fds[i]);
        }
    }
    if (c->qmp) {
        qmp_session_input(c->qmp, buf, len);
    } else {
        hmp_session_input(c->hmp, buf, len);
    }
}

static gboolean conn_in_ready(gint fd, GIOCondition cond, gpointer opaque)
{
    MonitorConn *c = opaque;
    char buf[4096];
    ssize_t n;
    int fds[MONITOR_MAX_FDS];
    int nfds = 0;

    if (c->is_socket) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int) * MONITOR_MAX_FDS)];
        } ctl;
        struct iovec iov = { buf, sizeof(buf) };
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
        };

        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n >= 0) {
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                    int k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                    for (int i = 0; i < k; i++) {
                        int f;

                        memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (nfds < MONITOR_MAX_FDS) {
                            fds[nfds++] = f;
                        } else {
                            close(f);
                        }
                    }
                }
            }
        }
    } else {
        n = read(fd, buf, sizeof(buf));
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        for (int i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        c->in_src = NULL;
        conn_schedule_close(c);
        return G_SOURCE_REMOVE;
    }
    conn_feed(c, buf, n, fds, nfds);
    return c->in_src ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void conn_want_input(MonitorConn *c, bool on)
{
    if (on && !c->in_src && !c->close_src) {
        c->in_src = g_unix_fd_source_new(c->fd_in, G_IO_IN);
        g_source_set_callback(c->in_src, (GSourceFunc)(void (*)(void))conn_in_ready, c, NULL);
        g_source_attach(c->in_src, c->chr->hub->m->main_ctx);
        g_source_unref(c->in_src);
    } else if (!on && c->in_src) {
        g_source_destroy(c->in_src);
        c->in_src = NULL;
    }
}

static void chardev_want_clients(MonitorChardev *chr, bool on);

static void conn_free(MonitorConn *c)
{
    MonitorChardev *chr = c->chr;

    if (c->in_src) {
        g_source_destroy(c->in_src);
    }
    if (c->out_src) {
        g_source_destroy(c->out_src);
    }
    if (c->close_src) {
        g_source_destroy(c->close_src);
        g_source_unref(c->close_src);
    }
    qmp_session_free(c->qmp);
    hmp_session_free(c->hmp);
    if (c->is_socket) {
        close(c->fd_in);
    }
    g_byte_array_free(c->outbuf, TRUE);
    g_ptr_array_remove(chr->conns, c);
    g_free(c);
    if (chr->listen_fd >= 0) {
        chardev_want_clients(chr, true);
    }
}

static gboolean conn_close_cb(gpointer opaque)
{
    MonitorConn *c = opaque;

    g_source_unref(c->close_src);
    c->close_src = NULL;
    conn_free(c);
    return G_SOURCE_REMOVE;
}

static void conn_schedule_close(MonitorConn *c)
{
    if (c->close_src) {
        return;
    }
    conn_want_input(c, false);
    c->close_src = g_idle_source_new();
    g_source_set_callback(c->close_src, conn_close_cb, c, NULL);
    g_source_attach(c->close_src, c->chr->hub->m->main_ctx);
}

static MonitorConn *conn_new(MonitorChardev *chr, int fd_in, int fd_out, bool is_socket)
{
    MonitorConn *c = g_new0(MonitorConn, 1);

    c->chr = chr;
    c->fd_in = fd_in;
    c->fd_out = fd_out;
    c->is_socket = is_socket;
    c->outbuf = g_byte_array_new();
    g_ptr_array_add(chr->conns, c);
    if (chr->qmp) {
        c->qmp = qmp_session_new(chr->hub, conn_write, c);
        qmp_session_start(c->qmp);
    } else {
        c->hmp = hmp_session_new(chr->hub, conn_write, c);
        hmp_session_start(c->hmp);
    }
    conn_want_input(c, true);
    return c;
}

/* ---- chardevs ---- */

static gboolean chardev_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    MonitorChardev *chr = opaque;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (cfd < 0) {
        return G_SOURCE_CONTINUE;   /* EAGAIN, or a client that left already */
    }
    conn_new(chr, cfd, cfd, true);
    if (chr->conns->len >= MONITOR_MAX_CLIENTS) {
        chr->listen_src = NULL;
        return G_SOURCE_REMOVE;     /* the rest wait in the backlog */
    }
    return G_SOURCE_CONTINUE;
}

static void chardev_want_clients(MonitorChardev *chr, bool on)
{
    if (on && !chr->listen_src && chr->conns->len < MONITOR_MAX_CLIENTS) {
        chr->listen_src = g_unix_fd_source_new(chr->listen_fd, G_IO_IN);
        g_source_set_callback(chr->listen_src, (GSourceFunc)(void (*)(void))chardev_accept,
                              chr, NULL);
        g_source_attach(chr->listen_src, chr->hub->m->main_ctx);
        g_source_unref(chr->listen_src);
    } else if (!on && chr->listen_src) {
        g_source_destroy(chr->listen_src);
        chr->listen_src = NULL;
    }
}

static bool chardev_stdio_in_use(MonitorHub *hub)
{
    for (guint i = 0; i < hub->chardevs->len; i++) {
        MonitorChardev *chr = g_ptr_array_index(hub->chardevs, i);

        if (chr->spec.kind == MONITOR_CHARDEV_STDIO) {
            return true;
        }
    }
    return false;
}

static bool unix_address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        return false;
    }
    strcpy(sa->sun_path, path);
    return true;
}

static bool chardev_open_unix(MonitorChardev *chr, GError **errp)
{
    struct sockaddr_un sa;
    int fd;

    if (!unix_address(chr->spec.path, &sa)) {
        kvmig_error(errp, "UNIX socket path '%s' is too long", chr->spec.path);
        return false;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        kvmig_error_errno(errp, errno, "Failed to create a unix socket");
        return false;
    }
    if (!chr->spec.server) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            kvmig_error_errno(errp, errno, "Failed to connect to '%s'", chr->spec.path);
            close(fd);
            return false;
        }
        g_unix_set_fd_nonblocking(fd, TRUE, NULL);
        conn_new(chr, fd, fd, true);
        return true;
    }
    unlink(chr->spec.path);     /* a stale socket of an earlier run, as QEMU does */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 8) < 0) {
        kvmig_error_errno(errp, errno, "Failed to bind socket to %s", chr->spec.path);
        close(fd);
        return false;
    }
    chr->listen_fd = fd;
    if (chr->spec.wait) {
        int cfd;

        g_printerr("kvmig: waiting for connection on unix:%s,server=on\n", chr->spec.path);
        do {
            cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        } while (cfd < 0 && errno == EINTR);
        if (cfd < 0) {
            kvmig_error_errno(errp, errno, "Failed to accept on %s", chr->spec.path);
            return false;
        }
        g_unix_set_fd_nonblocking(cfd, TRUE, NULL);
        conn_new(chr, cfd, cfd, true);
    }
    g_unix_set_fd_nonblocking(fd, TRUE, NULL);
    chardev_want_clients(chr, true);
    return true;
}

static void chardev_free(MonitorChardev *chr)
{
    while (chr->conns->len) {
        conn_free(g_ptr_array_index(chr->conns, 0));
    }
    if (chr->listen_src) {
        g_source_destroy(chr->listen_src);
    }
    if (chr->listen_fd >= 0) {
        close(chr->listen_fd);
        unlink(chr->spec.path);
    }
    g_ptr_array_free(chr->conns, TRUE);
    monitor_spec_clear(&chr->spec);
    g_free(chr);
}

static bool monitor_init(Machine *m, const char *spec, bool qmp, GError **errp)
{
    MonitorHub *hub;
    MonitorChardev *chr;
    MonitorSpec s;
    bool ok = true;

    if (!monitor_parse_spec(spec, &s, errp)) {
        return false;
    }
    if (s.kind == MONITOR_CHARDEV_NONE) {
        return true;
    }
    hub = monitor_hub_get(m);
    if (s.kind == MONITOR_CHARDEV_STDIO && chardev_stdio_in_use(hub)) {
        monitor_spec_clear(&s);
        kvmig_error(errp, "cannot use stdio by multiple character devices");
        return false;
    }
    chr = g_new0(MonitorChardev, 1);
    chr->hub = hub;
    chr->qmp = qmp;
    chr->spec = s;
    chr->listen_fd = -1;
    chr->conns = g_ptr_array_new();
    g_ptr_array_add(hub->chardevs, chr);
    if (s.kind == MONITOR_CHARDEV_STDIO) {
        /* stdout stays blocking: other writers share it */
        conn_new(chr, STDIN_FILENO, STDOUT_FILENO, false);
    } else {
        ok = chardev_open_unix(chr, errp);
    }
    if (!ok) {
        g_ptr_array_remove(hub->chardevs, chr);
        chardev_free(chr);
    }
    return ok;
}

bool monitor_init_qmp(Machine *m, const char *spec, GError **errp)
{
    return monitor_init(m, spec, true, errp);
}

bool monitor_init_hmp(Machine *m, const char *spec, GError **errp)
{
    return monitor_init(m, spec, false, errp);
}

void monitor_cleanup(Machine *m)
{
    MonitorHub *hub;

    if (m->event_fn != monitor_event_hook) {
        return;
    }
    hub = m->event_opaque;
    monitor_hub_drain_events(hub);
    for (guint i = 0; i < hub->chardevs->len; i++) {
        MonitorChardev *chr = g_ptr_array_index(hub->chardevs, i);

        for (guint j = 0; j < chr->conns->len; j++) {
            MonitorConn *c = g_ptr_array_index(chr->conns, j);

            if (c->is_socket) {
                conn_flush(c);
            }
        }
        chardev_free(chr);
    }
    g_ptr_array_set_size(hub->chardevs, 0);
    m->event_fn = NULL;
    m->event_opaque = NULL;
    monitor_hub_unref(hub);
}

/* ---- quit ---- */

/* Write out every client's queue (bounded), so that quit's reply arrives. */
static void flush_all(MonitorHub *hub)
{
    gint64 deadline = g_get_monotonic_time() + MONITOR_QUIT_FLUSH_MS * 1000;

    for (guint i = 0; i < hub->chardevs->len; i++) {
        MonitorChardev *chr = g_ptr_array_index(hub->chardevs, i);

        for (guint j = 0; j < chr->conns->len; j++) {
            MonitorConn *c = g_ptr_array_index(chr->conns, j);

            while (c->outbuf->len && !c->close_src && conn_flush(c) && c->outbuf->len) {
                struct pollfd p = { c->fd_out, POLLOUT, 0 };
                gint64 left = (deadline - g_get_monotonic_time()) / 1000;

                if (left <= 0 || poll(&p, 1, left) <= 0) {
                    break;
                }
            }
        }
    }
}

void monitor_hub_request_quit(MonitorHub *hub)
{
    if (!hub->quit_pending) {
        return;
    }
    hub->quit_pending = false;
    monitor_hub_drain_events(hub);
    flush_all(hub);
    machine_request_quit(hub->m, 0);
}
