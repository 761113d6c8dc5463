/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS for the migration stream: the user-created objects that configure it
 * (tls-creds-x509, tls-creds-psk, authz-list, authz-simple, as QEMU spells
 * them) and a MigChannel that runs a GnuTLS session over a socket channel.
 *
 * Objects live in a MigObjects registry, one per MigrationState.  The main
 * thread adds and deletes them (-object, object-add, object-del); migration
 * threads look them up when a migration starts and keep a reference until
 * it ends, so deleting an object never pulls it from under a migration.
 * The registry has its own lock; objects are immutable after creation.
 */
#ifndef KVMIG_MIGRATION_TLS_H
#define KVMIG_MIGRATION_TLS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>

#include "migration/channel.h"

/* Longest object id kvmig keeps (tls-creds / tls-authz values). */
#define MIG_OBJECT_ID_MAX   128
/* A handshake (and the first bytes after it) must be done within this. */
#define MIG_TLS_HANDSHAKE_TIMEOUT_MS 10000

typedef struct MigObjects MigObjects;
typedef struct MigTlsCreds MigTlsCreds;
typedef struct MigAuthz MigAuthz;

MigObjects *mig_objects_new(void);
void mig_objects_free(MigObjects *r);

/*
 * -object TYPE,id=ID,key=value,...  (",," is a literal comma).  Credentials
 * are loaded from their directory now: a missing or bad file fails here.
 */
bool mig_objects_add_opts(MigObjects *r, const char *opts, GError **errp);
/*
 * The QMP arguments that -object @opts stands for (every value a string;
 * "rules.0.match" stays a flat key, which object-add accepts too).  HMP's
 * object_add goes through it.
 */
JsonObject *mig_objects_opts_to_qmp(const char *opts, GError **errp);
/* QMP object-add: {"qom-type": TYPE, "id": ID, property: value, ...}. */
bool mig_objects_add_qmp(MigObjects *r, JsonObject *args, GError **errp);
/* object-del: forget @id (a migration using it keeps its reference). */
bool mig_objects_del(MigObjects *r, const char *id, GError **errp);

/*
 * Look up credentials @id for the @server (or client) end of a migration,
 * with QEMU's errors (no such id, not TLS credentials, wrong endpoint).
 * Returns a reference (mig_tls_creds_unref) or NULL.
 */
MigTlsCreds *mig_objects_get_creds(MigObjects *r, const char *id, bool server,
                                   GError **errp);
/* The authorization object @id (a reference), or NULL with @errp set. */
MigAuthz *mig_objects_get_authz(MigObjects *r, const char *id, GError **errp);

void mig_tls_creds_unref(MigTlsCreds *c);
void mig_authz_unref(MigAuthz *a);
/* x509 credentials (hostname checks apply) rather than PSK. */
bool mig_tls_creds_is_x509(const MigTlsCreds *c);

/*
 * Is @identity (an x509 distinguished name as GnuTLS prints it, or a PSK
 * username) allowed by @a?  Rules are tried in order; the first match
 * decides; no match gives the object's policy.  Pure: fuzzed and tested.
 */
bool mig_authz_allowed(const MigAuthz *a, const char *identity);

/* ---- the channel ---- */

/* Polled while a handshake waits for the peer: true ends it (cancel, quit). */
typedef bool (*MigTlsStopFn)(void *opaque);

typedef struct MigTlsParams {
    MigTlsCreds *creds;         /* borrowed for the call; the channel takes a ref */
    bool server;
    const char *hostname;       /* client, x509: the name the certificate must carry */
    MigAuthz *authz;            /* server: may be NULL */
    MigTlsStopFn stop;          /* may be NULL */
    void *stop_opaque;
} MigTlsParams;

/*
 * Run a TLS handshake over @sock (a connected tcp: or unix: channel, which
 * the new channel owns from now on) and return a channel that reads and
 * writes through the session.  The handshake ends within
 * MIG_TLS_HANDSHAKE_TIMEOUT_MS or when @p->stop says so.  The server side
 * checks the client's certificate (verify-peer=on) and then @p->authz.  On
 * failure @sock is closed, NULL is returned and @errp names why in one line.
 */
MigChannel *mig_tls_channel_new(MigChannel *sock, const MigTlsParams *p, GError **errp);

/*
 * Server: may the client of @c (its certificate's distinguished name, or
 * its PSK username) migrate here, by @a?  NULL @a allows everyone.  False
 * with @errp naming the identity.
 */
bool mig_tls_channel_authorize(MigChannel *c, MigAuthz *a, GError **errp);

/*
 * Read exactly @len (at most 16) bytes from a TLS channel fresh from its
 * handshake and keep them: the next reads return them first.  multifd's
 * listener tells its channels apart by them.  Waits at most
 * MIG_TLS_HANDSHAKE_TIMEOUT_MS or until @stop(@opaque).
 */
bool mig_tls_channel_peek(MigChannel *c, void *buf, size_t len, MigTlsStopFn stop,
                          void *opaque, GError **errp);

/* "TLS1.3-ECDHE-SECP256R1-...-AES-256-GCM" for a TLS channel; NULL otherwise. */
char *mig_tls_channel_describe(MigChannel *c);

#endif
