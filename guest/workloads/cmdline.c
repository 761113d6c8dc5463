/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest command line: "workload=NAME key=value ..." into a WlConfig. */
#include "workload-int.h"

static const char *const kind_names[WL__MAX] = {
    [WL_IDLE] = "idle",
    [WL_PAGEWALK] = "pagewalk",
    [WL_FILL] = "fill",
    [WL_RANDOM] = "random",
    [WL_L2FWD] = "l2fwd",
    [WL_STRESS] = "stress",
    [WL_CHURN] = "churn",
    [WL_BLACKOUT] = "blackout",
};


const char *wl_kind_name(WlKind kind)
{
    if ((unsigned)kind >= WL__MAX) {
        return NULL;
    }
    return kind_names[kind];
}

size_t wl_strlen(const char *s)
{
    size_t n = 0;

    while (s[n]) {
        n++;
    }
    return n;
}

void wl_strlcat(char *dst, const char *src, size_t size)
{
    size_t n;

    if (!size) {
        return;
    }
    n = wl_strlen(dst);
    while (*src && n + 1 < size) {
        dst[n++] = *src++;
    }
    dst[n] = '\0';
}

size_t wl_fmt_u64(char *buf, uint64_t v)
{
    char tmp[20];
    size_t n = 0, len;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    len = n;
    for (size_t i = 0; i < len; i++) {
        buf[i] = tmp[--n];
    }
    buf[len] = '\0';
    return len;
}

static bool word_eq(const char *s, size_t len, const char *lit)
{
    size_t n = wl_strlen(lit);

    if (n != len) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != lit[i]) {
            return false;
        }
    }
    return true;
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (!len) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool wl_parse_size(const char *s, size_t len, uint64_t *out)
{
    unsigned shift = 0;
    uint64_t v;

    if (len && (s[len - 1] < '0' || s[len - 1] > '9')) {
        switch (s[len - 1]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default:
            return false;
        }
        len--;
    }
    if (!parse_u64(s, len, &v)) {
        return false;
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        return false;
    }
    *out = v << shift;
    return true;
}

/* err = prefix + the offending word (bounded, always terminated). */
static bool fail(char *err, size_t errlen, const char *what,
                 const char *word, size_t wlen)
{
    char quoted[64];
    size_t n = 0;

    if (!err || !errlen) {
        return false;
    }
    err[0] = '\0';
    wl_strlcat(err, what, errlen);
    quoted[n++] = '\'';
    for (size_t i = 0; i < wlen && n < sizeof(quoted) - 5; i++) {
        quoted[n++] = word[i];
    }
    if (wlen > sizeof(quoted) - 6) {
        quoted[n++] = '.';
        quoted[n++] = '.';
        quoted[n++] = '.';
    }
    quoted[n++] = '\'';
    quoted[n] = '\0';
    wl_strlcat(err, quoted, errlen);
    return false;
}

bool wl_parse_cmdline(const char *cmdline, WlConfig *cfg, char *err,
                      size_t errlen)
{
    WlConfig c = { .kind = WL_IDLE, .ratio = 3, .vcpu1 = WL__MAX };
    const char *p = cmdline ? cmdline : "";

    if (err && errlen) {
        err[0] = '\0';
    }
    while (*p) {
        const char *word, *key, *val;
        size_t wlen, klen, vlen;
        uint64_t v;

        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
        }
        if (!*p) {
            break;
        }
        word = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            p++;
        }
        wlen = (size_t)(p - word);

        /* Words without '=' (the kernel path a loader prepends) are ignored. */
        key = word;
        for (klen = 0; klen < wlen && key[klen] != '='; klen++) {
        }
        if (klen == wlen) {
            continue;
        }
        val = word + klen + 1;
        vlen = wlen - klen - 1;

        if (word_eq(key, klen, "workload") || word_eq(key, klen, "vcpu1")) {
            int k;

            for (k = 0; k < WL__MAX; k++) {
                if (word_eq(val, vlen, kind_names[k])) {
                    break;
                }
            }
            if (k == WL__MAX) {
                return fail(err, errlen, "unknown workload ", val, vlen);
            }
            if (key[0] == 'v') {
                c.vcpu1 = (WlKind)k;
            } else {
                c.kind = (WlKind)k;
            }
        } else if (word_eq(key, klen, "size")) {
            if (!wl_parse_size(val, vlen, &v)) {
                return fail(err, errlen, "malformed size: ", word, wlen);
            }
            c.size = v;
        } else if (word_eq(key, klen, "ratio")) {
            if (!parse_u64(val, vlen, &v) || v < 1 || v > WL_MAX_RATIO) {
                return fail(err, errlen, "malformed ratio (1..1000): ",
                            word, wlen);
            }
            c.ratio = (uint32_t)v;
        } else if (word_eq(key, klen, "rate")) {
            /* MiB/s; 2^20 MiB/s is beyond any memory and keeps math safe. */
            if (!parse_u64(val, vlen, &v) || v > WL_MAX_RATE) {
                return fail(err, errlen, "malformed rate (MB/s): ", word, wlen);
            }
            c.rate = v;
        } else if (word_eq(key, klen, "mb")) {
            if (!parse_u64(val, vlen, &v) || v > WL_MAX_MB) {
                return fail(err, errlen, "malformed mb: ", word, wlen);
            }
            c.mb = v;
        }
        /* Unknown keys are ignored, as a kernel ignores them. */
    }
    *cfg = c;
    return true;
}
