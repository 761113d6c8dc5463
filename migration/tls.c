/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS channel: a GnuTLS session over a tcp: or unix: socket channel,
 * with a handshake bounded in time, certificate and hostname checks done by
 * GnuTLS during the handshake, and the authz check after it.
 *
 * Records.  GnuTLS encrypts from the caller's buffer into its own record
 * buffer (the one copy encryption needs) and writes each record with one
 * sendmsg; the reader gets at most one record per recv call.  So a writev
 * sends each iovec of a full record or more (multifd payloads, the stream's
 * 256 KiB buffer) straight through gnutls_record_send, and coalesces the
 * small ones that sit between them (record headers, 4 KiB pages of the main
 * stream) into full 16 KiB records first -- what gnutls_record_cork does,
 * with a bounded buffer: without it, a page of the main stream would cost
 * two records, four syscalls on the destination and 58 bytes of overhead.
 *
 * Threads: one thread reads and one writes at a time (GnuTLS allows a
 * reader and a writer concurrently); shutdown from any thread; the
 * handshake, peek and close on the owner's thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "migration/tls-int.h"
#include "util/error.h"

#define TLS_RECORD_MAX  16384   /* TLS's largest plaintext record */
#define TLS_POLL_MS     100     /* how often a waiting handshake looks at stop() */
#define TLS_PSK_KX      ":+ECDHE-PSK:+DHE-PSK:+PSK"

typedef struct TlsChannel {
    MigChannel base;
    /* set at creation */
    MigChannel *inner;          /* the socket channel, owned */
    int fd;
    gnutls_session_t sess;
    MigTlsCreds *creds;         /* a reference */
    bool server;
    bool established;           /* the handshake completed */
    /* the reader's */
    int pull_errno;
    uint8_t peek[16];
    size_t peek_len, peek_pos;
    /* the writer's */
    int push_errno;
    size_t staged;
    uint8_t stage[TLS_RECORD_MAX];
    /* any thread, atomic: the GnuTLS error behind the last -EBADMSG */
    int gnutls_err;
} TlsChannel;

static const MigChannelOps tls_ops;

/* ---- transport: the socket, errno kept for the caller's message ---- */

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
    TlsChannel *tc = p;
    ssize_t n;

    do {
        n = recv(tc->fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        tc->pull_errno = errno;
        gnutls_transport_set_errno(tc->sess, errno);
    }
    return n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
    TlsChannel *tc = p;
    struct pollfd pfd = { .fd = tc->fd, .events = POLLIN };
    int n;

    do {
        n = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
    } while (n < 0 && errno == EINTR);
    return n;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const giovec_t *iov, int iovcnt)
{
    TlsChannel *tc = p;
    struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt };
    ssize_t n;

    do {
        n = sendmsg(tc->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        tc->push_errno = errno;
        gnutls_transport_set_errno(tc->sess, errno);
    }
    return n;
}

static void set_nonblocking(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);

    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* ---- errors ---- */

static bool shut(TlsChannel *tc)
{
    return __atomic_load_n(&tc->base.shut, __ATOMIC_ACQUIRE);
}

/* A GnuTLS error of read/writev as the channel's -errno. */
static int map_err(TlsChannel *tc, int ret)
{
    if (shut(tc)) {
        return -ECANCELED;
    }
    if (ret == GNUTLS_E_PULL_ERROR) {
        return tc->pull_errno ? -tc->pull_errno : -EIO;
    }
    if (ret == GNUTLS_E_PUSH_ERROR) {
        return tc->push_errno ? -tc->push_errno : -EIO;
    }
    __atomic_store_n(&tc->gnutls_err, ret, __ATOMIC_RELAXED);
    return -EBADMSG;
}

static const char *tls_strerror(MigChannel *c, int err)
{
    TlsChannel *tc = (TlsChannel *)c;
    int g = __atomic_load_n(&tc->gnutls_err, __ATOMIC_RELAXED);

    if (err == -EBADMSG && g) {
        /* e.g. "Decryption has failed.": a record was altered on the way */
        return gnutls_strerror(g);
    }
    return g_strerror(-err);
}

/* ---- read ---- */

static ssize_t tls_read(MigChannel *c, void *buf, size_t len)
{
    TlsChannel *tc = (TlsChannel *)c;
    ssize_t n;

    if (tc->peek_pos < tc->peek_len) {
        n = MIN(len, tc->peek_len - tc->peek_pos);
        memcpy(buf, tc->peek + tc->peek_pos, n);
        tc->peek_pos += n;
        return n;
    }
    for (;;) {
        n = gnutls_record_recv(tc->sess, buf, len);
        if (n >= 0) {
            if (n == 0 && shut(tc)) {
                return -ECANCELED;
            }
            return n;
        }
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            continue;   /* a post-handshake message was handled */
        }
        if (n == GNUTLS_E_PREMATURE_TERMINATION && !shut(tc)) {
            /*
             * The socket closed without close_notify.  The stream has its
             * own end marker, so this is a truncation the loader reports
             * ("unexpected end of stream"), not an attack it could miss.
             */
            return 0;
        }
        return map_err(tc, n);
    }
}

static bool tls_poll_in(MigChannel *c, int timeout_ms)
{
    TlsChannel *tc = (TlsChannel *)c;

    if (tc->peek_pos < tc->peek_len || gnutls_record_check_pending(tc->sess)) {
        return true;
    }
    return tls_pull_timeout(tc, timeout_ms) != 0;
}

/* ---- write ---- */

static int send_all(TlsChannel *tc, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = gnutls_record_send(tc->sess, p, len);

        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            continue;
        }
        if (n < 0) {
            return map_err(tc, n);
        }
        p += n;
        len -= n;
    }
    return 0;
}

static int flush_stage(TlsChannel *tc)
{
    int ret = tc->staged ? send_all(tc, tc->stage, tc->staged) : 0;

    tc->staged = 0;
    return ret;
}

static int tls_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
{
    TlsChannel *tc = (TlsChannel *)c;
    int ret;

    for (int i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;

        if (len >= TLS_RECORD_MAX) {
            /* whole records straight from the caller's memory */
            ret = flush_stage(tc);
            if (ret < 0) {
                return ret;
            }
            ret = send_all(tc, p, len);
            if (ret < 0) {
                return ret;
            }
            continue;
        }
        while (len) {
            size_t n = MIN(len, sizeof(tc->stage) - tc->staged);

            memcpy(tc->stage + tc->staged, p, n);
            tc->staged += n;
            p += n;
            len -= n;
            if (tc->staged == sizeof(tc->stage)) {
                ret = flush_stage(tc);
                if (ret < 0) {
                    return ret;
                }
            }
        }
    }
    /* writev's contract: every byte is on its way when it returns */
    return flush_stage(tc);
}

/* ---- shutdown, close ---- */

static void tls_shutdown(MigChannel *c)
{
    TlsChannel *tc = (TlsChannel *)c;

    mig_channel_shutdown(tc->inner);
}

static int tls_close(MigChannel *c)
{
    TlsChannel *tc = (TlsChannel *)c;
    int ret;

    if (tc->established && !shut(tc)) {
        /*
         * close_notify, best effort and without blocking: a peer that has
         * stopped reading must not hold us here.
         */
        set_nonblocking(tc->fd, true);
        gnutls_bye(tc->sess, GNUTLS_SHUT_WR);
    }
    gnutls_deinit(tc->sess);
    mig_tls_creds_unref(tc->creds);
    ret = mig_channel_close(tc->inner);
    g_free(c->desc);
    g_free(tc);
    return ret;
}

static const MigChannelOps tls_ops = {
    .read = tls_read,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .strerror = tls_strerror,
    .poll_in = tls_poll_in,
};

/* ---- handshake ---- */

/*
 * Wait until the socket is ready for @events, the deadline passes, or
 * @stop says so.  False with @errp set in the last two cases.
 */
static bool wait_io(TlsChannel *tc, short events, int64_t deadline_us, MigTlsStopFn stop,
                    void *opaque, const char *what, GError **errp)
{
    for (;;) {
        struct pollfd pfd = { .fd = tc->fd, .events = events };
        int64_t left = deadline_us - g_get_monotonic_time();
        int n;

        if ((stop && stop(opaque)) || shut(tc)) {
            kvmig_error(errp, "%s with %s: cancelled", what, tc->base.desc);
            return false;
        }
        if (left <= 0) {
            kvmig_error(errp, "%s with %s: no answer within %d ms", what, tc->base.desc,
                        MIG_TLS_HANDSHAKE_TIMEOUT_MS);
            return false;
        }
        n = poll(&pfd, 1, MIN(left / 1000 + 1, TLS_POLL_MS));
        if (n > 0) {
            return true;
        }
        if (n < 0 && errno != EINTR) {
            kvmig_error(errp, "%s with %s: %s", what, tc->base.desc, g_strerror(errno));
            return false;
        }
    }
}

/* One line on why the handshake failed, naming the peer's role. */
static void handshake_error(TlsChannel *tc, int ret, const char *hostname, GError **errp)
{
    const char *peer = tc->server ? "the source" : "the destination";

    if (ret == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        unsigned status = gnutls_session_get_verify_cert_status(tc->sess);
        gnutls_datum_t out = { 0 };

        if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
            kvmig_error(errp, "TLS handshake with %s failed: Certificate does not match "
                        "the hostname %s", tc->base.desc, hostname);
            return;
        }
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
        kvmig_error(errp, "TLS handshake with %s failed: the certificate of %s: %s",
                    tc->base.desc, peer, out.data ? g_strstrip((char *)out.data) : "invalid");
        gnutls_free(out.data);
        return;
    }
    if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED) {
        kvmig_error(errp, "TLS handshake with %s failed: %s refused it (alert: %s)",
                    tc->base.desc, peer, gnutls_alert_get_name(gnutls_alert_get(tc->sess)));
        return;
    }
    if (ret == GNUTLS_E_PREMATURE_TERMINATION || ret == GNUTLS_E_PULL_ERROR ||
        ret == GNUTLS_E_PUSH_ERROR) {
        kvmig_error(errp, "TLS handshake with %s failed: %s closed the connection "
                    "(does it use TLS, with tls-creds of the same kind?)", tc->base.desc, peer);
        return;
    }
    if (ret == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || ret == GNUTLS_E_UNEXPECTED_PACKET ||
        ret == GNUTLS_E_UNSUPPORTED_VERSION_PACKET) {
        kvmig_error(errp, "TLS handshake with %s failed: %s (is %s using TLS?)",
                    tc->base.desc, gnutls_strerror(ret), peer);
        return;
    }
    kvmig_error(errp, "TLS handshake with %s failed: %s", tc->base.desc, gnutls_strerror(ret));
}

static bool session_setup(TlsChannel *tc, const MigTlsParams *p, GError **errp)
{
    MigTlsCreds *c = p->creds;
    g_autofree char *prio = NULL;
    const char *errpos = NULL;
    int ret;

    ret = gnutls_init(&tc->sess, (p->server ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                      GNUTLS_NO_TICKETS);
    if (ret < 0) {
        kvmig_error(errp, "Cannot initialize TLS session: %s", gnutls_strerror(ret));
        return false;
    }
    prio = g_strconcat(c->priority ? c->priority : "NORMAL", c->x509 ? "" : TLS_PSK_KX, NULL);
    ret = gnutls_priority_set_direct(tc->sess, prio, &errpos);
    if (ret < 0) {
        kvmig_error(errp, "Unable to set TLS session priority %s at '%s': %s", prio,
                    errpos ? errpos : "", gnutls_strerror(ret));
        return false;
    }
    if (c->x509) {
        ret = gnutls_credentials_set(tc->sess, GNUTLS_CRD_CERTIFICATE, c->x509);
        if (ret >= 0 && c->verify_peer) {
            if (p->server) {
                gnutls_certificate_server_set_request(tc->sess, GNUTLS_CERT_REQUIRE);
            }
            /* GnuTLS checks the chain (and the name) and alerts the peer */
            gnutls_session_set_verify_cert(tc->sess, p->server ? NULL : p->hostname, 0);
        }
    } else {
        ret = gnutls_credentials_set(tc->sess, GNUTLS_CRD_PSK,
                                     p->server ? (void *)c->psk_server : (void *)c->psk_client);
    }
    if (ret < 0) {
        kvmig_error(errp, "Cannot set TLS session credentials: %s", gnutls_strerror(ret));
        return false;
    }
    gnutls_transport_set_ptr(tc->sess, tc);
    gnutls_transport_set_pull_function(tc->sess, tls_pull);
    gnutls_transport_set_pull_timeout_function(tc->sess, tls_pull_timeout);
    gnutls_transport_set_vec_push_function(tc->sess, tls_push);
    return true;
}

MigChannel *mig_tls_channel_new(MigChannel *sock, const MigTlsParams *p, GError **errp)
{
    TlsChannel *tc;
    int64_t deadline;
    int fd = mig_channel_socket_fd(sock);
    int ret;

    if (fd < 0) {
        kvmig_error(errp, "TLS needs a socket channel, not %s", sock->desc);
        mig_channel_close(sock);
        return NULL;
    }
    if (!p->server && mig_tls_creds_is_x509(p->creds) && p->creds->verify_peer &&
        (!p->hostname || !p->hostname[0])) {
        kvmig_error(errp, "No hostname for certificate validation");
        mig_channel_close(sock);
        return NULL;
    }
    tc = g_new0(TlsChannel, 1);
    tc->base.ops = &tls_ops;
    tc->base.desc = g_strdup(sock->desc);
    tc->base.bidirectional = true;
    tc->inner = sock;
    tc->fd = fd;
    tc->server = p->server;
    tc->creds = mig_tls_creds_ref(p->creds);
    if (!session_setup(tc, p, errp)) {
        goto fail;
    }
    deadline = g_get_monotonic_time() + MIG_TLS_HANDSHAKE_TIMEOUT_MS * 1000LL;
    set_nonblocking(fd, true);
    while ((ret = gnutls_handshake(tc->sess)) < 0) {
        if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED) {
            handshake_error(tc, ret, p->hostname, errp);
            /* tell the peer why (bad certificate, ...), so it can say so too */
            gnutls_alert_send_appropriate(tc->sess, ret);
            goto fail;
        }
        if (!wait_io(tc, gnutls_record_get_direction(tc->sess) ? POLLOUT : POLLIN, deadline,
                     p->stop, p->stop_opaque, "TLS handshake", errp)) {
            goto fail;
        }
    }
    set_nonblocking(fd, false);
    tc->established = true;
    return &tc->base;

fail:
    tc->established = false;
    tls_close(&tc->base);
    return NULL;
}

bool mig_tls_channel_authorize(MigChannel *c, MigAuthz *a, GError **errp)
{
    TlsChannel *tc = (TlsChannel *)c;
    g_autofree char *identity = NULL;

    g_assert(c->ops == &tls_ops && tc->server);
    if (!a) {
        return true;
    }
    if (tc->creds->x509) {
        unsigned n = 0;
        const gnutls_datum_t *certs = gnutls_certificate_get_peers(tc->sess, &n);
        gnutls_x509_crt_t crt;
        size_t len = 0;
        int ret;

        if (!certs || !n) {
            kvmig_error(errp, "TLS authz %s: the source sent no certificate "
                        "(verify-peer=on is needed)", a->id);
            return false;
        }
        if (gnutls_x509_crt_init(&crt) < 0) {
            kvmig_error(errp, "TLS authz %s: out of memory", a->id);
            return false;
        }
        ret = gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER);
        if (ret >= 0) {
            ret = gnutls_x509_crt_get_dn(crt, NULL, &len);
            if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER) {
                identity = g_malloc0(len + 1);
                ret = gnutls_x509_crt_get_dn(crt, identity, &len);
            }
        }
        gnutls_x509_crt_deinit(crt);
        if (ret < 0) {
            kvmig_error(errp, "Cannot get client distinguished name: %s", gnutls_strerror(ret));
            return false;
        }
        if (!mig_authz_allowed(a, identity)) {
            kvmig_error(errp, "TLS x509 authz check for %s is denied", identity);
            return false;
        }
        return true;
    }
    identity = g_strdup(gnutls_psk_server_get_username(tc->sess));
    if (!identity || !mig_authz_allowed(a, identity)) {
        kvmig_error(errp, "TLS PSK authz check for %s is denied",
                    identity ? identity : "(no username)");
        return false;
    }
    return true;
}

bool mig_tls_channel_peek(MigChannel *c, void *buf, size_t len, MigTlsStopFn stop,
                          void *opaque, GError **errp)
{
    TlsChannel *tc = (TlsChannel *)c;
    int64_t deadline = g_get_monotonic_time() + MIG_TLS_HANDSHAKE_TIMEOUT_MS * 1000LL;
    bool ok = true;

    g_assert(c->ops == &tls_ops && len <= sizeof(tc->peek) && !tc->peek_len);
    set_nonblocking(tc->fd, true);
    while (tc->peek_len < len) {
        ssize_t n = gnutls_record_recv(tc->sess, tc->peek + tc->peek_len, len - tc->peek_len);

        if (n > 0) {
            tc->peek_len += n;
            continue;
        }
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            ok = wait_io(tc, POLLIN, deadline, stop, opaque, "waiting for the first bytes",
                         errp);
            if (!ok) {
                break;
            }
            continue;
        }
        kvmig_error(errp, "waiting for the first bytes on %s: %s", c->desc,
                    n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION
                    ? "the source closed the connection" : gnutls_strerror(n));
        ok = false;
        break;
    }
    set_nonblocking(tc->fd, false);
    if (ok) {
        memcpy(buf, tc->peek, len);
    }
    return ok;
}

char *mig_tls_channel_describe(MigChannel *c)
{
    TlsChannel *tc = (TlsChannel *)c;
    char *d, *ret;

    if (!c || c->ops != &tls_ops) {
        return NULL;
    }
    d = gnutls_session_get_desc(tc->sess);
    ret = g_strdup(d);
    gnutls_free(d);
    return ret;
}
