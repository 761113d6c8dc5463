/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The objects that configure migration TLS -- tls-creds-x509, tls-creds-psk,
 * authz-list, authz-simple -- parsed from -object option strings and QMP
 * object-add, loaded once, kept in a locked registry by id.
 *
 * Both front ends turn their input into one flat property table ("dir",
 * "endpoint", "rules.0.match", ...) that one constructor per type reads;
 * every property it does not know is an error, as in QEMU.
 */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <unistd.h>

#include "migration/tls-int.h"
#include "util/error.h"

/* rules.N: N below this (a bound on what a property string can make us hold) */
#define AUTHZ_MAX_RULES 1024

struct MigObjects {
    GMutex lock;
    GHashTable *objs;           /* protected by lock: id -> MigObject* */
};

typedef enum MigObjectKind { MIG_OBJ_CREDS, MIG_OBJ_AUTHZ } MigObjectKind;

typedef struct MigObject {
    MigObjectKind kind;
    void *ptr;                  /* MigTlsCreds* or MigAuthz* (the registry's reference) */
} MigObject;

/* ---- references ---- */

void mig_tls_creds_unref(MigTlsCreds *c)
{
    if (!c || !g_atomic_ref_count_dec(&c->ref)) {
        return;
    }
    if (c->x509) {
        gnutls_certificate_free_credentials(c->x509);
    }
    if (c->psk_server) {
        gnutls_psk_free_server_credentials(c->psk_server);
    }
    if (c->psk_client) {
        gnutls_psk_free_client_credentials(c->psk_client);
    }
    g_free(c->priority);
    g_free(c->id);
    g_free(c);
}

MigTlsCreds *mig_tls_creds_ref(MigTlsCreds *c)
{
    g_atomic_ref_count_inc(&c->ref);
    return c;
}

void mig_authz_unref(MigAuthz *a)
{
    if (!a || !g_atomic_ref_count_dec(&a->ref)) {
        return;
    }
    for (unsigned i = 0; i < a->nrules; i++) {
        g_free(a->rules[i].match);
    }
    g_free(a->rules);
    g_free(a->id);
    g_free(a);
}

MigAuthz *mig_authz_ref(MigAuthz *a)
{
    g_atomic_ref_count_inc(&a->ref);
    return a;
}

bool mig_tls_creds_is_x509(const MigTlsCreds *c)
{
    return c->x509 != NULL;
}

static void object_free(gpointer p)
{
    MigObject *o = p;

    if (o->kind == MIG_OBJ_CREDS) {
        mig_tls_creds_unref(o->ptr);
    } else {
        mig_authz_unref(o->ptr);
    }
    g_free(o);
}

MigObjects *mig_objects_new(void)
{
    MigObjects *r = g_new0(MigObjects, 1);

    g_mutex_init(&r->lock);
    r->objs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, object_free);
    return r;
}

void mig_objects_free(MigObjects *r)
{
    if (!r) {
        return;
    }
    g_hash_table_destroy(r->objs);
    g_mutex_clear(&r->lock);
    g_free(r);
}

/* ---- properties ---- */

/* Take @key from @props (NULL if absent): each property is read once. */
static char *prop_take(GHashTable *props, const char *key)
{
    gpointer k, v;

    if (!g_hash_table_steal_extended(props, key, &k, &v)) {
        return NULL;
    }
    g_free(k);
    return v;
}

static bool parse_bool(const char *type, const char *key, const char *v, bool *out,
                       GError **errp)
{
    if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false")) {
        *out = false;
        return true;
    }
    kvmig_error(errp, "Parameter '%s.%s' expects 'on' or 'off'", type, key);
    return false;
}

/* Whatever is left in @props is unknown to @type. */
static bool props_all_used(const char *type, GHashTable *props, GError **errp)
{
    GHashTableIter it;
    gpointer k;

    g_hash_table_iter_init(&it, props);
    if (g_hash_table_iter_next(&it, &k, NULL)) {
        kvmig_error(errp, "Property '%s.%s' not found", type, (const char *)k);
        return false;
    }
    return true;
}

/* ---- tls-creds-x509, tls-creds-psk ---- */

static char *creds_file(const char *dir, const char *name, bool required, GError **errp)
{
    char *path = g_build_filename(dir, name, NULL);

    if (access(path, R_OK) == 0) {
        return path;
    }
    if (required || errno != ENOENT) {
        kvmig_error(errp, "Unable to access credentials %s: %s", path, g_strerror(errno));
    }
    g_free(path);
    return NULL;
}

static bool load_x509(MigTlsCreds *c, const char *dir, GError **errp)
{
    bool server = c->endpoint_server;
    g_autofree char *ca = NULL, *crl = NULL, *cert = NULL, *key = NULL;
    g_autoptr(GError) local = NULL;
    int ret;

    ca = creds_file(dir, "ca-cert.pem", true, errp);
    if (!ca) {
        return false;
    }
    crl = creds_file(dir, "ca-crl.pem", false, &local);
    if (local) {
        g_propagate_error(errp, g_steal_pointer(&local));
        return false;
    }
    /* the server always presents a certificate; a client when it has one */
    cert = creds_file(dir, server ? "server-cert.pem" : "client-cert.pem", server, &local);
    if (local) {
        g_propagate_error(errp, g_steal_pointer(&local));
        return false;
    }
    if (cert) {
        key = creds_file(dir, server ? "server-key.pem" : "client-key.pem", true, errp);
        if (!key) {
            return false;
        }
    }
    ret = gnutls_certificate_allocate_credentials(&c->x509);
    if (ret < 0) {
        kvmig_error(errp, "Cannot allocate credentials: %s", gnutls_strerror(ret));
        return false;
    }
    ret = gnutls_certificate_set_x509_trust_file(c->x509, ca, GNUTLS_X509_FMT_PEM);
    if (ret <= 0) {
        kvmig_error(errp, "Cannot load CA certificate %s: %s", ca,
                    ret == 0 ? "no certificate in it" : gnutls_strerror(ret));
        return false;
    }
    if (crl) {
        ret = gnutls_certificate_set_x509_crl_file(c->x509, crl, GNUTLS_X509_FMT_PEM);
        if (ret < 0) {
            kvmig_error(errp, "Cannot load CRL %s: %s", crl, gnutls_strerror(ret));
            return false;
        }
    }
    if (cert) {
        ret = gnutls_certificate_set_x509_key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM);
        if (ret < 0) {
            kvmig_error(errp, "Cannot load certificate %s and key %s: %s", cert, key,
                        gnutls_strerror(ret));
            return false;
        }
    }
    return true;
}

/*
 * keys.psk holds "username:hexkey" lines (QEMU's and GnuTLS's psktool
 * format).  The server hands the file to GnuTLS; the client picks its line.
 */
static bool load_psk(MigTlsCreds *c, const char *dir, const char *username, GError **errp)
{
    g_autofree char *path = creds_file(dir, "keys.psk", true, errp);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) err = NULL;
    int ret;

    if (!path) {
        return false;
    }
    if (c->endpoint_server) {
        ret = gnutls_psk_allocate_server_credentials(&c->psk_server);
        if (ret >= 0) {
            ret = gnutls_psk_set_server_credentials_file(c->psk_server, path);
        }
        if (ret < 0) {
            kvmig_error(errp, "Cannot load PSK credentials %s: %s", path, gnutls_strerror(ret));
            return false;
        }
        return true;
    }
    if (!g_file_get_contents(path, &text, NULL, &err)) {
        kvmig_error(errp, "Unable to access credentials %s: %s", path, err->message);
        return false;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *colon = strchr(*l, ':');
        gnutls_datum_t key;

        if (!colon || (size_t)(colon - *l) != strlen(username) ||
            strncmp(*l, username, colon - *l)) {
            continue;
        }
        g_strchomp(*l);
        key.data = (unsigned char *)colon + 1;
        key.size = strlen(colon + 1);
        ret = gnutls_psk_allocate_client_credentials(&c->psk_client);
        if (ret >= 0) {
            ret = gnutls_psk_set_client_credentials(c->psk_client, username, &key,
                                                    GNUTLS_PSK_KEY_HEX);
        }
        if (ret < 0) {
            kvmig_error(errp, "Cannot use the key of '%s' in %s: %s", username, path,
                        gnutls_strerror(ret));
            return false;
        }
        return true;
    }
    kvmig_error(errp, "Username %s not found in pre-shared key file %s", username, path);
    return false;
}

static MigTlsCreds *creds_new(const char *type, const char *id, GHashTable *props,
                              GError **errp)
{
    bool psk = !strcmp(type, "tls-creds-psk");
    g_autofree char *dir = prop_take(props, "dir");
    g_autofree char *endpoint = prop_take(props, "endpoint");
    g_autofree char *verify = prop_take(props, "verify-peer");
    g_autofree char *username = psk ? prop_take(props, "username") : NULL;
    g_autofree char *sanity = psk ? NULL : prop_take(props, "sanity-check");
    MigTlsCreds *c = g_new0(MigTlsCreds, 1);

    g_atomic_ref_count_init(&c->ref);
    c->id = g_strdup(id);
    c->priority = prop_take(props, "priority");
    c->verify_peer = true;      /* QEMU's default */
    (void)sanity;               /* accepted: GnuTLS checks what it loads */
    if (!props_all_used(type, props, errp)) {
        goto fail;
    }
    if (!dir) {
        kvmig_error(errp, "Parameter '%s.dir' is missing", type);
        goto fail;
    }
    if (!endpoint || !strcmp(endpoint, "client")) {
        c->endpoint_server = false;     /* QEMU's default endpoint */
    } else if (!strcmp(endpoint, "server")) {
        c->endpoint_server = true;
    } else {
        kvmig_error(errp, "Parameter 'endpoint' does not accept value '%s'", endpoint);
        goto fail;
    }
    if (verify && !parse_bool(type, "verify-peer", verify, &c->verify_peer, errp)) {
        goto fail;
    }
    if (psk ? !load_psk(c, dir, username ? username : "qemu", errp) : !load_x509(c, dir, errp)) {
        goto fail;
    }
    return c;
fail:
    mig_tls_creds_unref(c);
    return NULL;
}

/* ---- authz-list, authz-simple ---- */

static bool parse_policy(const char *key, const char *v, bool *allow, GError **errp)
{
    if (!strcmp(v, "allow") || !strcmp(v, "deny")) {
        *allow = !strcmp(v, "allow");
        return true;
    }
    kvmig_error(errp, "Parameter '%s' does not accept value '%s'", key, v);
    return false;
}

static MigAuthz *authz_new(const char *type, const char *id, GHashTable *props,
                           GError **errp)
{
    MigAuthz *a = g_new0(MigAuthz, 1);

    g_atomic_ref_count_init(&a->ref);
    a->id = g_strdup(id);
    if (!strcmp(type, "authz-simple")) {
        g_autofree char *identity = prop_take(props, "identity");

        if (!props_all_used(type, props, errp)) {
            goto fail;
        }
        if (!identity) {
            kvmig_error(errp, "Parameter '%s.identity' is missing", type);
            goto fail;
        }
        a->rules = g_new0(MigAuthzRule, 1);
        a->rules[0] = (MigAuthzRule){ .match = g_steal_pointer(&identity), .allow = true };
        a->nrules = 1;
        return a;
    }
    {
        g_autofree char *policy = prop_take(props, "policy");

        if (policy && !parse_policy("policy", policy, &a->default_allow, errp)) {
            goto fail;
        }
    }
    for (unsigned i = 0; i < AUTHZ_MAX_RULES; i++) {
        g_autofree char *km = g_strdup_printf("rules.%u.match", i);
        g_autofree char *kp = g_strdup_printf("rules.%u.policy", i);
        g_autofree char *kf = g_strdup_printf("rules.%u.format", i);
        g_autofree char *match = prop_take(props, km);
        g_autofree char *policy = prop_take(props, kp);
        g_autofree char *format = prop_take(props, kf);
        MigAuthzRule r = { 0 };

        if (!match && !policy && !format) {
            break;
        }
        if (!match || !policy) {
            kvmig_error(errp, "Parameter '%s' is missing", match ? kp : km);
            goto fail;
        }
        if (!parse_policy(kp, policy, &r.allow, errp)) {
            goto fail;
        }
        if (format && strcmp(format, "exact") && strcmp(format, "glob")) {
            kvmig_error(errp, "Parameter '%s' does not accept value '%s'", kf, format);
            goto fail;
        }
        r.glob = format && !strcmp(format, "glob");
        /* GLib's glob matcher asserts on invalid UTF-8 (found by fuzz-tls-objects) */
        if (r.glob && !g_utf8_validate(match, -1, NULL)) {
            kvmig_error(errp, "Parameter '%s' expects a UTF-8 glob pattern", km);
            goto fail;
        }
        r.match = g_steal_pointer(&match);
        a->rules = g_renew(MigAuthzRule, a->rules, a->nrules + 1);
        a->rules[a->nrules++] = r;
    }
    if (!props_all_used(type, props, errp)) {
        goto fail;
    }
    return a;
fail:
    mig_authz_unref(a);
    return NULL;
}

bool mig_authz_allowed(const MigAuthz *a, const char *identity)
{
    for (unsigned i = 0; i < a->nrules; i++) {
        const MigAuthzRule *r = &a->rules[i];

        /* a peer's name that is not UTF-8 never matches a glob */
        if (r->glob ? g_utf8_validate(identity, -1, NULL) &&
                      g_pattern_match_simple(r->match, identity)
                    : !strcmp(r->match, identity)) {
            return r->allow;
        }
    }
    return a->default_allow;
}

/* ---- the registry ---- */

static bool add(MigObjects *r, const char *type, const char *id, GHashTable *props,
                GError **errp)
{
    MigObject *o;

    if (!type || !type[0]) {
        kvmig_error(errp, "Parameter 'qom-type' is missing");
        return false;
    }
    if (!id || !id[0]) {
        kvmig_error(errp, "Parameter 'id' is missing");
        return false;
    }
    if (strlen(id) >= MIG_OBJECT_ID_MAX) {
        kvmig_error(errp, "Parameter 'id' is longer than %d bytes", MIG_OBJECT_ID_MAX - 1);
        return false;
    }
    g_mutex_lock(&r->lock);
    if (g_hash_table_contains(r->objs, id)) {
        g_mutex_unlock(&r->lock);
        kvmig_error(errp, "attempt to add duplicate property '%s' to object "
                    "(type 'container')", id);
        return false;
    }
    g_mutex_unlock(&r->lock);
    o = g_new0(MigObject, 1);
    if (!strcmp(type, "tls-creds-x509") || !strcmp(type, "tls-creds-psk")) {
        o->kind = MIG_OBJ_CREDS;
        o->ptr = creds_new(type, id, props, errp);
    } else if (!strcmp(type, "authz-list") || !strcmp(type, "authz-simple")) {
        o->kind = MIG_OBJ_AUTHZ;
        o->ptr = authz_new(type, id, props, errp);
    } else {
        kvmig_error(errp, "invalid object type: %s", type);
    }
    if (!o->ptr) {
        g_free(o);
        return false;
    }
    g_mutex_lock(&r->lock);
    /* main thread only adds: nobody added @id while the files loaded */
    g_hash_table_insert(r->objs, g_strdup(id), o);
    g_mutex_unlock(&r->lock);
    return true;
}

JsonObject *mig_objects_opts_to_qmp(const char *opts, GError **errp)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);

    /* split at single commas; ",," stands for a comma */
    for (const char *p = opts;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
            continue;
        }
        if (*p == ',' || !*p) {
            g_ptr_array_add(items, g_string_free(cur, FALSE));
            if (!*p) {
                break;
            }
            cur = g_string_new(NULL);
            continue;
        }
        g_string_append_c(cur, *p);
    }
    for (guint i = 0; i < items->len; i++) {
        const char *item = g_ptr_array_index(items, i);
        const char *eq = strchr(item, '=');
        g_autofree char *key = eq ? g_strndup(item, eq - item) : NULL;

        if (i == 0 && !eq) {
            /* TYPE first, as QEMU's -object takes it */
            json_object_set_string_member(args, "qom-type", item);
            continue;
        }
        if (!eq || !key[0]) {
            kvmig_error(errp, "Invalid parameter '%s': expected key=value", item);
            return NULL;
        }
        if (json_object_has_member(args, key)) {
            kvmig_error(errp, "Parameter '%s' appears twice", key);
            return NULL;
        }
        json_object_set_string_member(args, key, eq + 1);
    }
    return g_steal_pointer(&args);
}

bool mig_objects_add_opts(MigObjects *r, const char *opts, GError **errp)
{
    g_autoptr(JsonObject) args = mig_objects_opts_to_qmp(opts, errp);

    return args && mig_objects_add_qmp(r, args, errp);
}

/* One JSON value as the text -object would have given for it. */
static bool json_prop(GHashTable *props, const char *key, JsonNode *n, GError **errp)
{
    GType t;

    if (JSON_NODE_HOLDS_ARRAY(n) && !strcmp(key, "rules")) {
        JsonArray *a = json_node_get_array(n);

        for (guint i = 0; i < json_array_get_length(a) && i < AUTHZ_MAX_RULES; i++) {
            JsonNode *e = json_array_get_element(a, i);
            g_autoptr(GList) members = NULL;

            if (!JSON_NODE_HOLDS_OBJECT(e)) {
                kvmig_error(errp, "Invalid parameter type for 'rules[%u]', expected: object", i);
                return false;
            }
            members = json_object_get_members(json_node_get_object(e));
            for (GList *l = members; l; l = l->next) {
                g_autofree char *k = g_strdup_printf("rules.%u.%s", i, (const char *)l->data);

                if (!json_prop(props, k, json_object_get_member(json_node_get_object(e),
                                                                l->data), errp)) {
                    return false;
                }
            }
        }
        return true;
    }
    if (!JSON_NODE_HOLDS_VALUE(n)) {
        kvmig_error(errp, "Invalid parameter type for '%s', expected: a scalar", key);
        return false;
    }
    t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING) {
        g_hash_table_insert(props, g_strdup(key), g_strdup(json_node_get_string(n)));
    } else if (t == G_TYPE_BOOLEAN) {
        g_hash_table_insert(props, g_strdup(key),
                            g_strdup(json_node_get_boolean(n) ? "on" : "off"));
    } else if (t == G_TYPE_INT64) {
        g_hash_table_insert(props, g_strdup(key),
                            g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n)));
    } else {
        kvmig_error(errp, "Invalid parameter type for '%s'", key);
        return false;
    }
    return true;
}

bool mig_objects_add_qmp(MigObjects *r, JsonObject *args, GError **errp)
{
    g_autoptr(GHashTable) props = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                        g_free);
    g_autoptr(GList) members = json_object_get_members(args);
    const char *type = NULL, *id = NULL;

    for (GList *l = members; l; l = l->next) {
        const char *k = l->data;
        JsonNode *n = json_object_get_member(args, k);
        bool is_str = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;

        if (!strcmp(k, "qom-type") || !strcmp(k, "id")) {
            if (!is_str) {
                kvmig_error(errp, "Invalid parameter type for '%s', expected: string", k);
                return false;
            }
            *(!strcmp(k, "id") ? &id : &type) = json_node_get_string(n);
        } else if (!json_prop(props, k, n, errp)) {
            return false;
        }
    }
    return add(r, type, id, props, errp);
}

bool mig_objects_del(MigObjects *r, const char *id, GError **errp)
{
    bool found;

    g_mutex_lock(&r->lock);
    found = g_hash_table_remove(r->objs, id);
    g_mutex_unlock(&r->lock);
    if (!found) {
        kvmig_error(errp, "object '%s' not found", id);
    }
    return found;
}

MigTlsCreds *mig_objects_get_creds(MigObjects *r, const char *id, bool server, GError **errp)
{
    MigTlsCreds *c = NULL;
    MigObject *o;

    g_mutex_lock(&r->lock);
    o = g_hash_table_lookup(r->objs, id);
    if (o && o->kind == MIG_OBJ_CREDS) {
        c = mig_tls_creds_ref(o->ptr);
    }
    g_mutex_unlock(&r->lock);
    if (!o) {
        kvmig_error(errp, "No TLS credentials with id '%s'", id);
    } else if (!c) {
        kvmig_error(errp, "Object with id '%s' is not TLS credentials", id);
    } else if (c->endpoint_server != server) {
        kvmig_error(errp, "Expected TLS credentials for a %s endpoint",
                    server ? "server" : "client");
        mig_tls_creds_unref(c);
        c = NULL;
    }
    return c;
}

MigAuthz *mig_objects_get_authz(MigObjects *r, const char *id, GError **errp)
{
    MigAuthz *a = NULL;
    MigObject *o;

    g_mutex_lock(&r->lock);
    o = g_hash_table_lookup(r->objs, id);
    if (o && o->kind == MIG_OBJ_AUTHZ) {
        a = mig_authz_ref(o->ptr);
    }
    g_mutex_unlock(&r->lock);
    if (!a) {
        kvmig_error(errp, "No authorization object with id '%s'", id);
    }
    return a;
}
