/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one GError domain of kvmig and helpers to report errors once, at the top. */
#ifndef KVMIG_UTIL_ERROR_H
#define KVMIG_UTIL_ERROR_H

#include <glib.h>

#define KVMIG_ERROR kvmig_error_quark()
GQuark kvmig_error_quark(void);

/* Error codes of KVMIG_ERROR; QMP maps them to error classes. */
typedef enum {
    KVMIG_ERROR_GENERIC = 0,
    KVMIG_ERROR_COMMAND_NOT_FOUND,
} KvmigErrorCode;

/* Set *errp (if errp is non-NULL) to a generic error with a printf message. */
#define kvmig_error(errp, ...) \
    g_set_error((errp), KVMIG_ERROR, KVMIG_ERROR_GENERIC, __VA_ARGS__)

/* Like kvmig_error() but appends ": strerror(err)". */
void kvmig_error_errno(GError **errp, int err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif
