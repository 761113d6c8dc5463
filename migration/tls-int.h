/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/tls*.c: what a credentials object and an
 * authorization object hold.  Both are immutable once created and
 * reference-counted (the registry holds one reference, each migration
 * that uses them another).
 */
#ifndef KVMIG_MIGRATION_TLS_INT_H
#define KVMIG_MIGRATION_TLS_INT_H

#include <gnutls/gnutls.h>

#include "migration/tls.h"

struct MigTlsCreds {
    gatomicrefcount ref;
    char *id;
    bool endpoint_server;       /* endpoint=server */
    bool verify_peer;           /* verify-peer (default on) */
    char *priority;             /* priority=..., NULL: GnuTLS's "NORMAL" */
    /* exactly one of these is set */
    gnutls_certificate_credentials_t x509;
    gnutls_psk_server_credentials_t psk_server;
    gnutls_psk_client_credentials_t psk_client;
};

typedef struct MigAuthzRule {
    char *match;
    bool allow;
    bool glob;                  /* format=glob (fnmatch-like), else exact */
} MigAuthzRule;

struct MigAuthz {
    gatomicrefcount ref;
    char *id;
    bool default_allow;         /* policy=allow; default deny */
    MigAuthzRule *rules;
    unsigned nrules;
};

MigTlsCreds *mig_tls_creds_ref(MigTlsCreds *c);
MigAuthz *mig_authz_ref(MigAuthz *a);

#endif
