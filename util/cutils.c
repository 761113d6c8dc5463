/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Size and integer parsing with the spelling QEMU users type ("512M", "1G"),
 * and escaping untrusted bytes for error messages.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/cutils.h"
#include "util/error.h"

static int suffix_shift(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'B': return 0;
    case 'K': return 10;
    case 'M': return 20;
    case 'G': return 30;
    case 'T': return 40;
    case 'P': return 50;
    case 'E': return 60;
    default: return -1;
    }
}

bool parse_size(const char *str, char default_suffix, uint64_t *out, GError **errp)
{
    const char *p = str;
    uint64_t ival;
    char *end;
    int shift;
    double frac = 0;

    if (!str || !*str || !g_ascii_isdigit(*str)) {
        kvmig_error(errp, "invalid size '%s'", str ? str : "");
        return false;
    }
    errno = 0;
    ival = strtoull(p, &end, 10);
    if (errno == ERANGE) {
        kvmig_error(errp, "size '%s' is too large", str);
        return false;
    }
    if (*end == '.') {
        /* A fraction is only meaningful with a unit above bytes. */
        char *fend;
        frac = strtod(end, &fend);
        if (fend == end + 1) {
            kvmig_error(errp, "invalid size '%s'", str);
            return false;
        }
        end = fend;
    }
    if (*end == '\0') {
        shift = suffix_shift(default_suffix);
    } else {
        shift = suffix_shift(*end);
        if (shift < 0 || end[1] != '\0') {
            kvmig_error(errp, "invalid size '%s': unknown suffix '%s' (use B, K, M, G, T, P or E)",
                        str, end);
            return false;
        }
    }
    g_assert(shift >= 0);
    if (frac != 0 && shift == 0) {
        kvmig_error(errp, "invalid size '%s': fraction of a byte", str);
        return false;
    }
    if (shift && ival > (UINT64_MAX >> shift)) {
        kvmig_error(errp, "size '%s' is too large", str);
        return false;
    }
    ival <<= shift;
    if (frac != 0) {
        double extra = ldexp(frac, shift);
        if ((double)(UINT64_MAX - ival) < extra) {
            kvmig_error(errp, "size '%s' is too large", str);
            return false;
        }
        ival += (uint64_t)extra;
    }
    *out = ival;
    return true;
}

bool parse_uint64(const char *str, uint64_t *out, GError **errp)
{
    char *end;
    uint64_t v;

    if (!str || !*str || !g_ascii_isdigit(*str)) {
        kvmig_error(errp, "invalid number '%s'", str ? str : "");
        return false;
    }
    errno = 0;
    v = strtoull(str, &end, 0);
    if (errno == ERANGE || *end != '\0') {
        kvmig_error(errp, "invalid number '%s'", str);
        return false;
    }
    *out = v;
    return true;
}

char *size_to_str(uint64_t bytes)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    unsigned i = 0;
    double v = bytes;

    while (v >= 1024 && i < G_N_ELEMENTS(units) - 1) {
        v /= 1024;
        i++;
    }
    if (i == 0) {
        return g_strdup_printf("%" G_GUINT64_FORMAT " B", bytes);
    }
    return g_strdup_printf("%0.3g %s", v, units[i]);
}

char *escape_bytes(const char *p, size_t len)
{
    g_autofree char *raw = g_strndup(p, len);

    return g_strescape(raw, NULL);
}

bool thread_set_nice(int nice, int *old)
{
    pid_t tid = gettid();
    int cur;

    errno = 0;
    cur = getpriority(PRIO_PROCESS, tid);
    if (cur == -1 && errno) {
        return false;
    }
    if (setpriority(PRIO_PROCESS, tid, nice) < 0) {
        return false;
    }
    *old = cur;
    return true;
}
