/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kvmig GError domain. */
#include <stdarg.h>
#include <string.h>

#include "util/error.h"

G_DEFINE_QUARK(kvmig-error-quark, kvmig_error)

void kvmig_error_errno(GError **errp, int err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, KVMIG_ERROR, KVMIG_ERROR_GENERIC, "%s: %s", msg, g_strerror(err));
}
