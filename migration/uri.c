/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing and checking migration URIs (tcp:, unix:, exec:, fd:, file:, rdma:). */
#include <string.h>

#include "migration/migration-int.h"
#include "util/cutils.h"
#include "util/error.h"

void mig_uri_clear(MigUri *u)
{
    g_free(u->host);
    g_free(u->port);
    g_free(u->path);
    g_free(u->cmd);
    g_free(u->fdname);
    memset(u, 0, sizeof(*u));
}

/* HOST:PORT with HOST possibly "[v6addr]"; PORT 1..65535 (0 allowed to listen anywhere). */
static bool parse_host_port(const char *uri, const char *s, MigUri *u, GError **errp)
{
    const char *colon;
    uint64_t port;

    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') {
            kvmig_error(errp, "invalid migration URI '%s': expected [ADDRESS]:PORT", uri);
            return false;
        }
        u->host = g_strndup(s + 1, end - s - 1);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            kvmig_error(errp, "invalid migration URI '%s': expected HOST:PORT", uri);
            return false;
        }
        u->host = g_strndup(s, colon - s);
    }
    if (!u->host[0] || !parse_uint64(colon + 1, &port, NULL) || port > 65535) {
        kvmig_error(errp, "invalid migration URI '%s': expected HOST:PORT with a port "
                    "number 0..65535", uri);
        return false;
    }
    u->port = g_strdup(colon + 1);
    return true;
}

bool mig_uri_parse(const char *uri, MigUri *u, GError **errp)
{
    memset(u, 0, sizeof(*u));
    if (g_str_has_prefix(uri, "tcp:")) {
        u->kind = MIG_URI_TCP;
        if (!parse_host_port(uri, uri + 4, u, errp)) {
            goto fail;
        }
    } else if (g_str_has_prefix(uri, "rdma:")) {
        u->kind = MIG_URI_RDMA;
        if (!parse_host_port(uri, uri + 5, u, errp)) {
            goto fail;
        }
    } else if (g_str_has_prefix(uri, "unix:")) {
        u->kind = MIG_URI_UNIX;
        u->path = g_strdup(uri + 5);
        if (!u->path[0] || strlen(u->path) >= 108) {
            kvmig_error(errp, "invalid migration URI '%s': a socket path of 1..107 bytes "
                        "is needed", uri);
            goto fail;
        }
    } else if (g_str_has_prefix(uri, "exec:")) {
        u->kind = MIG_URI_EXEC;
        u->cmd = g_strdup(uri + 5);
        if (!u->cmd[0]) {
            kvmig_error(errp, "invalid migration URI '%s': no command", uri);
            goto fail;
        }
    } else if (g_str_has_prefix(uri, "fd:")) {
        u->kind = MIG_URI_FD;
        u->fdname = g_strdup(uri + 3);
        if (!u->fdname[0]) {
            kvmig_error(errp, "invalid migration URI '%s': no fd name", uri);
            goto fail;
        }
    } else if (g_str_has_prefix(uri, "file:")) {
        const char *opt;
        u->kind = MIG_URI_FILE;
        opt = strstr(uri + 5, ",offset=");
        u->path = opt ? g_strndup(uri + 5, opt - (uri + 5)) : g_strdup(uri + 5);
        if (!u->path[0]) {
            kvmig_error(errp, "invalid migration URI '%s': no file name", uri);
            goto fail;
        }
        if (opt) {
            g_autoptr(GError) err = NULL;
            if (!parse_size(opt + 8, 'B', &u->offset, &err)) {
                kvmig_error(errp, "invalid migration URI '%s': bad offset: %s", uri,
                            err->message);
                goto fail;
            }
        }
    } else {
        kvmig_error(errp, "unknown migration protocol: %s", uri);
        goto fail;
    }
    return true;
fail:
    mig_uri_clear(u);
    return false;
}

bool migration_incoming_uri_check(const char *uri, GError **errp)
{
    MigUri u;

    if (!strcmp(uri, "defer")) {
        return true;
    }
    if (!mig_uri_parse(uri, &u, errp)) {
        return false;
    }
    mig_uri_clear(&u);
    return true;
}
