/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the -object / object_add property parser and the
 * authz objects built from it (text a user or a management client gives):
 * the input is an option string.  Checked: no crash or leak; an object
 * that was created can be found, deleted once and not twice; authz-simple
 * admits exactly its identity (when no other rule exists); the verdict for
 * a name does not change when asked twice.  Credentials types are parsed
 * but not created (they read files named by the input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *opts = g_strndup((const char *)data, size);
    g_autoptr(JsonObject) args = NULL;
    MigObjects *r;
    const char *type, *id;
    MigAuthz *a;
    bool added;

    if (size > 4096) {
        return 0;
    }
    args = mig_objects_opts_to_qmp(opts, NULL);
    if (!args) {
        return 0;
    }
    type = json_object_has_member(args, "qom-type")
           ? json_object_get_string_member(args, "qom-type") : NULL;
    if (type && g_str_has_prefix(type, "tls-creds")) {
        return 0;
    }
    r = mig_objects_new();
    added = mig_objects_add_qmp(r, args, NULL);
    id = json_object_has_member(args, "id") ? json_object_get_string_member(args, "id") : NULL;
    if (added) {
        check(id && id[0] && type);
        a = mig_objects_get_authz(r, id, NULL);
        check(a != NULL);
        if (!strcmp(type, "authz-simple")) {
            const char *who = json_object_get_string_member(args, "identity");

            check(mig_authz_allowed(a, who));
        }
        for (size_t cut = 0; cut <= MIN(size, 64); cut += 8) {
            g_autofree char *name = g_strndup(opts, cut);
            bool v = mig_authz_allowed(a, name);

            check(v == mig_authz_allowed(a, name));
        }
        mig_authz_unref(a);
        check(mig_objects_del(r, id, NULL));
        check(!mig_objects_del(r, id, NULL));
    }
    mig_objects_free(r);
    return 0;
}
