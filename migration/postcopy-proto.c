/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy's wire formats as pure code: the ADVISE and RAM_DISCARD
 * payloads, recovery's RECV_BITMAP command and the received bitmap that
 * answers it, and the preempt channel's record header (layouts in
 * postcopy.h), each decoder bounded by the length it is given.  The
 * return path's page requests are in return-path.c.
 */
#include <string.h>

#include "migration/postcopy.h"
#include "migration/ram.h"
#include "migration/return-path.h"
#include "util/bitmap.h"
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

size_t postcopy_recv_bitmap_cmd_encode(const char *block, uint8_t *buf)
{
    size_t n = strnlen(block, POSTCOPY_BLOCK_NAME_MAX);

    buf[0] = n;
    memcpy(buf + 1, block, n);
    return 1 + n;
}

bool postcopy_recv_bitmap_cmd_decode(const uint8_t *buf, size_t len,
                                     char block[POSTCOPY_BLOCK_NAME_MAX + 1], GError **errp)
{
    if (len < 2 || len != 1 + (size_t)buf[0] || memchr(buf + 1, 0, buf[0])) {
        kvmig_error(errp, "RECV_BITMAP with a malformed payload (%zu bytes)", len);
        return false;
    }
    memcpy(block, buf + 1, buf[0]);
    block[buf[0]] = 0;
    return true;
}

void postcopy_recv_bitmap_encode(const unsigned long *received, uint64_t npages, uint8_t *buf)
{
    uint64_t size = POSTCOPY_RECV_BITMAP_LEN(npages) - 16;

    memset(buf, 0, size + 16);
    put_be64(buf, size);
    for (uint64_t page = 0; page < npages; page++) {
        if (test_bit(page, received)) {
            buf[8 + page / 8] |= 1u << (page % 8);      /* little-endian words */
        }
    }
    put_be64(buf + 8 + size, MIG_RP_RECV_BITMAP_ENDING);
}

bool postcopy_recv_bitmap_decode(const uint8_t *buf, size_t len, uint64_t npages,
                                 unsigned long *received, GError **errp)
{
    uint64_t want = POSTCOPY_RECV_BITMAP_LEN(npages), size;

    if (len < 16 || len != want) {
        kvmig_error(errp, "received bitmap of %zu bytes, expected %" G_GUINT64_FORMAT,
                    len, want);
        return false;
    }
    size = get_be64(buf);
    if (size != want - 16) {
        kvmig_error(errp, "received bitmap of %" G_GUINT64_FORMAT " bytes, expected %"
                    G_GUINT64_FORMAT, size, want - 16);
        return false;
    }
    if (get_be64(buf + 8 + size) != MIG_RP_RECV_BITMAP_ENDING) {
        kvmig_error(errp, "received bitmap without its end marker");
        return false;
    }
    for (uint64_t page = 0; page < npages; page++) {
        if (buf[8 + page / 8] & (1u << (page % 8))) {
            set_bit(page, received);
        } else {
            clear_bit(page, received);
        }
    }
    return true;
}

PostcopyPreemptRecord postcopy_preempt_record_decode(uint64_t word, uint64_t page_size,
                                                     uint64_t *offset, GError **errp)
{
    static const uint64_t known = RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE |
                                  RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_EOS;
    uint64_t flags = word & (page_size - 1);

    *offset = word & ~(page_size - 1);
    if (flags == RAM_SAVE_FLAG_EOS && !*offset) {
        return POSTCOPY_PREEMPT_EOS;
    }
    if ((flags & ~known) || (flags & RAM_SAVE_FLAG_EOS) ||
        !(flags & (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE)) ||
        (flags & RAM_SAVE_FLAG_ZERO && flags & RAM_SAVE_FLAG_PAGE)) {
        kvmig_error(errp, "postcopy-preempt: record flags 0x%" G_GINT64_MODIFIER "x", flags);
        return POSTCOPY_PREEMPT_BAD;
    }
    return (flags & RAM_SAVE_FLAG_ZERO ? POSTCOPY_PREEMPT_ZERO : POSTCOPY_PREEMPT_PAGE) |
           (flags & RAM_SAVE_FLAG_CONTINUE ? POSTCOPY_PREEMPT_CONTINUE : 0);
}
