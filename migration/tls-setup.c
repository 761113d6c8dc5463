/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which TLS a migration uses: the credentials, hostname and authz that the
 * tls-creds, tls-hostname and tls-authz parameters name, resolved once per
 * migration (main channel, return path and every multifd channel share
 * them), and the transports that may carry TLS.
 */
#include <string.h>

#include "migration/migration-int.h"
#include "migration/tls-int.h"
#include "util/error.h"

static const char *uri_kind_name(MigUriKind k)
{
    switch (k) {
    case MIG_URI_TCP:
        return "tcp";
    case MIG_URI_UNIX:
        return "unix";
    case MIG_URI_EXEC:
        return "exec";
    case MIG_URI_FD:
        return "fd";
    case MIG_URI_FILE:
        return "file";
    case MIG_URI_RDMA:
        return "rdma";
    }
    return "?";
}

bool migration_tls_transport_check(MigrationState *s, const MigUri *u, GError **errp)
{
    if (!migrate_tls(s->opts) || u->kind == MIG_URI_TCP || u->kind == MIG_URI_UNIX) {
        return true;
    }
    /*
     * QEMU 7.2 runs TLS over exec: and fd: (and ignores it on rdma:); kvmig
     * refuses instead of sending a stream that is not what was asked for.
     */
    kvmig_error(errp, "Cannot use TLS with the %s: transport (tls-creds is set; TLS needs "
                "a tcp: or unix: URI)", uri_kind_name(u->kind));
    return false;
}

bool migration_tls_prepare(MigrationState *s, bool server, const MigUri *u, MigTlsSide *t,
                           GError **errp)
{
    MigrationParameters p;

    memset(t, 0, sizeof(*t));
    mig_opts_snapshot(s->opts, NULL, &p);
    if (!p.tls_creds[0]) {
        return true;
    }
    if (!migration_tls_transport_check(s, u, errp)) {
        return false;
    }
    t->creds = mig_objects_get_creds(s->objects, p.tls_creds, server, errp);
    if (!t->creds) {
        return false;
    }
    if (server) {
        if (p.tls_authz[0]) {
            t->authz = mig_objects_get_authz(s->objects, p.tls_authz, errp);
            if (!t->authz) {
                migration_tls_clear(t);
                return false;
            }
        }
        return true;
    }
    /* the name the destination's certificate must carry */
    t->hostname = g_strdup(p.tls_hostname[0] ? p.tls_hostname :
                           u->kind == MIG_URI_TCP ? u->host : NULL);
    if (t->creds->x509 && t->creds->verify_peer && !t->hostname) {
        /* a unix: URI names no host: tls-hostname must */
        kvmig_error(errp, "No hostname for certificate validation");
        migration_tls_clear(t);
        return false;
    }
    return true;
}

void migration_tls_clear(MigTlsSide *t)
{
    mig_tls_creds_unref(t->creds);
    mig_authz_unref(t->authz);
    g_free(t->hostname);
    memset(t, 0, sizeof(*t));
}

static bool outgoing_stop(void *opaque)
{
    MigrationState *s = opaque;

    return __atomic_load_n(&s->status, __ATOMIC_SEQ_CST) == MIGRATION_STATUS_CANCELLING;
}

static bool incoming_stop(void *opaque)
{
    MigrationState *s = opaque;

    return __atomic_load_n(&s->in_quitting, __ATOMIC_SEQ_CST);
}

MigChannel *migration_tls_wrap(MigrationState *s, MigChannel *ch, const MigTlsSide *t,
                               bool server, GError **errp)
{
    MigTlsParams p = {
        .creds = t->creds,
        .server = server,
        .hostname = t->hostname,
        .stop = server ? incoming_stop : outgoing_stop,
        .stop_opaque = s,
    };

    if (!t->creds) {
        return ch;
    }
    return mig_tls_channel_new(ch, &p, errp);
}

bool migration_tls_peek(MigrationState *s, MigChannel *ch, uint32_t *magic, GError **errp)
{
    uint8_t b[4];

    if (!mig_tls_channel_peek(ch, b, sizeof(b), incoming_stop, s, errp)) {
        return false;
    }
    *magic = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return true;
}
