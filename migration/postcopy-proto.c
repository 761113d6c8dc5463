/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy's stream commands as pure code: the ADVISE and RAM_DISCARD
 * payloads (layout in postcopy.h), each decoder bounded by the length it is
 * given.  The return path's page requests are in return-path.c.
 */
#include <string.h>

#include "migration/postcopy.h"
#include "util/error.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = v >> (56 - 8 * i);
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void postcopy_advise_encode(uint64_t host_page_summary, uint64_t target_page, uint8_t *buf)
{
    put_be64(buf, host_page_summary);
    put_be64(buf + 8, target_page);
}

bool postcopy_advise_decode(const uint8_t *buf, size_t len, uint64_t target_page,
                            GError **errp)
{
    uint64_t summary, tps;

    if (len != POSTCOPY_ADVISE_LEN) {
        kvmig_error(errp, "POSTCOPY_ADVISE of %zu bytes, expected %d", len,
                    POSTCOPY_ADVISE_LEN);
        return false;
    }
    summary = get_be64(buf);
    tps = get_be64(buf + 8);
    if (tps != target_page) {
        kvmig_error(errp, "postcopy: the source's target page size is %" G_GUINT64_FORMAT
                    ", this side's %" G_GUINT64_FORMAT, tps, target_page);
        return false;
    }
    /* the summary ORs every block's host page size: kvmig's blocks use 4 KiB pages */
    if (summary != target_page) {
        kvmig_error(errp, "postcopy: the source's RAM uses host page sizes 0x%"
                    G_GINT64_MODIFIER "x, this side only 0x%" G_GINT64_MODIFIER "x",
                    summary, target_page);
        return false;
    }
    return true;
}

size_t postcopy_discard_encode(const PostcopyDiscard *d, uint8_t *buf)
{
    size_t n = strnlen(d->block, POSTCOPY_BLOCK_NAME_MAX);
    size_t off = 2 + n;

    buf[0] = POSTCOPY_DISCARD_VERSION;
    buf[1] = n;
    memcpy(buf + 2, d->block, n);
    for (unsigned i = 0; i < d->nranges && i < POSTCOPY_DISCARD_MAX_RANGES; i++) {
        put_be64(buf + off, d->ranges[i].start);
        put_be64(buf + off + 8, d->ranges[i].len);
        off += 16;
    }
    return off;
}

bool postcopy_discard_decode(const uint8_t *buf, size_t len, uint64_t page_size,
                             PostcopyDiscard *d, GError **errp)
{
    size_t n, rest;

    if (len < 2) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD of %zu bytes is too short", len);
        return false;
    }
    if (buf[0] != POSTCOPY_DISCARD_VERSION) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD version %u, expected %u", buf[0],
                    POSTCOPY_DISCARD_VERSION);
        return false;
    }
    n = buf[1];
    if (n == 0 || 2 + n > len) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD: block name of %zu bytes in %zu", n, len);
        return false;
    }
    rest = len - 2 - n;
    if (rest == 0 || rest % 16 || rest / 16 > POSTCOPY_DISCARD_MAX_RANGES) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD: %zu bytes of ranges (1 to %d ranges of "
                    "16 bytes expected)", rest, POSTCOPY_DISCARD_MAX_RANGES);
        return false;
    }
    memcpy(d->block, buf + 2, n);
    d->block[n] = 0;
    if (strlen(d->block) != n) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD: block name with a NUL byte");
        return false;
    }
    d->nranges = rest / 16;
    for (unsigned i = 0; i < d->nranges; i++) {
        const uint8_t *p = buf + 2 + n + 16 * i;

        d->ranges[i].start = get_be64(p);
        d->ranges[i].len = get_be64(p + 8);
        if (d->ranges[i].len == 0 || (d->ranges[i].start | d->ranges[i].len) % page_size ||
            d->ranges[i].start + d->ranges[i].len < d->ranges[i].start) {
            kvmig_error(errp, "POSTCOPY_RAM_DISCARD: range 0x%" G_GINT64_MODIFIER "x+0x%"
                        G_GINT64_MODIFIER "x of '%s' is empty, unaligned or wraps",
                        d->ranges[i].start, d->ranges[i].len, d->block);
            return false;
        }
    }
    return true;
}
