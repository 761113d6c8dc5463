/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XBZRLE on the source (capability "xbzrle"): after the bulk pass, a dirty
 * page found in the page cache goes as an XBZRLE record (the delta against
 * the copy the destination holds) when that is smaller than the page; a
 * miss is inserted and sent raw.  Counters are QEMU's xbzrle-cache.
 *
 * Record: be64 (offset | XBZRLE [| CONTINUE]) [idstr], u8 ENCODING_FLAG
 * (0x1), be16 length, the encoding (see xbzrle.h).
 *
 * Unlike QEMU, the cache is filled from the bulk pass on: every non-zero
 * page the bulk pass sends is inserted (and every zero page, holes
 * included, is remembered as zero), so the first re-send of a page is
 * already a hit.  The bulk pass still sends PAGE and ZERO records only (no
 * XBZRLE record before a full round, as QEMU) and counts no misses.  The
 * cache keeps each page in its smallest exact form (page-cache.h): a
 * sparse page costs a few bytes of the xbzrle-cache-size budget, so a
 * budget of half the guest holds all of a sparse guest.
 *
 * The invariant: a cache entry always equals the destination's copy of its
 * page.  A running guest may write the page while it is read, so the
 * bytes are read once and those bytes are both encoded and kept:
 *
 *   hit:      the entry is fetched (a raw entry in place, a compact one
 *             decoded into the scratch page); xbzrle_encode_update() reads
 *             the guest page once into it and emits the delta from that
 *             snapshot; on overflow the snapshot is sent raw; then the
 *             snapshot is stored back (in its smallest form).
 *   miss:     the guest page is copied into the scratch page, which is sent
 *             and stored.
 *   zero:     a page sent as ZERO is cached as zero (QEMU's
 *             xbzrle_cache_zero_page), or a later delta would be against
 *             stale bytes.
 *
 * Pages sent from the cache are copied into the stream (not queued as
 * iovecs): an entry may change or be freed (resize, teardown) before a
 * queued iovec would be written.  QEMU does the same (send_async = false).
 *
 * The last stage (vCPUs stopped) neither inserts nor updates: the guest
 * page cannot change, so an overflow or a miss goes raw straight from it,
 * saving a 4 KiB copy per page inside the downtime.
 *
 * Resizing (xbzrle-cache-size changed during the migration) is polled at
 * the start of every iteration and keeps what fits (see
 * page_cache_resize), where QEMU drops everything.
 *
 * Owned by the migration thread, like the rest of RAMState's source side.
 */
#include <string.h>

#include "migration/page-cache.h"
#include "migration/ram.h"
#include "migration/xbzrle.h"
#include "util/error.h"

/*
 * The encoding must fit here for an XBZRLE record: 3 + len < 4096, so the
 * record is smaller than a PAGE record (QEMU allows up to a page; the 4
 * bytes make no measurable difference to when XBZRLE is used).
 */
#define XBZRLE_SLOT (TARGET_PAGE_SIZE - 4)

/* QEMU recomputes the rates over periods of at least this long. */
#define XBZRLE_RATE_PERIOD_MS 1000

struct RamXbzrle {
    PageCache *cache;
    uint64_t param_size;        /* xbzrle-cache-size the cache was sized for */
    uint64_t *block_base;       /* RAM address of each block's first byte */
    uint8_t *encoded;           /* XBZRLE_SLOT bytes */
    uint8_t *scratch;           /* a page: snapshots and decoded entries */
    bool last_stage;            /* ram_xbzrle_complete() was called */

    /* the rate period (QEMU's *_prev counters) */
    int64_t period_start_ms;
    uint64_t prev_handled, prev_miss, prev_pages, prev_bytes;
};

#define XSTAT_ADD(rs, f, v) do { if ((rs)->stats) stat_add((rs)->stats, f, v); } while (0)

static void set_double(MigrationStats *st, uint64_t *field, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    __atomic_store_n(field, bits, __ATOMIC_RELAXED);
    (void)st;
}

bool ram_xbzrle_setup(RAMState *rs, MigStream *f, GError **errp)
{
    RamXbzrle *x;
    uint64_t base = 0;

    if (!rs->opts || !migrate_cap(rs->opts, MIGRATION_CAPABILITY_XBZRLE)) {
        return true;
    }
    /* rdma: pages are placed by the channel, as QEMU's RDMA hook takes them */
    if (mig_channel_has_write_page(mig_stream_channel(f))) {
        return true;
    }
    x = g_new0(RamXbzrle, 1);
    x->param_size = migrate_xbzrle_cache_size(rs->opts);
    x->block_base = g_new(uint64_t, rs->m->nr_ram_blocks);
    for (unsigned i = 0; i < rs->m->nr_ram_blocks; i++) {
        x->block_base[i] = base;
        base += rs->m->ram_blocks[i]->used_length;
    }
    /* the index: PAGE_CACHE_SLOT_BYTES per page of RAM, beside the budget */
    x->cache = page_cache_new(x->param_size, TARGET_PAGE_SIZE,
                              (base + TARGET_PAGE_SIZE - 1) / TARGET_PAGE_SIZE, errp);
    if (!x->cache) {
        g_prefix_error(errp, "xbzrle: ");
        g_free(x->block_base);
        g_free(x);
        return false;
    }
    x->encoded = g_malloc(XBZRLE_SLOT);
    x->scratch = g_aligned_alloc(1, TARGET_PAGE_SIZE, 64);
    x->period_start_ms = mig_now_ms();
    rs->xbzrle = x;
    if (rs->stats) {
        stat_set(rs->stats, xbzrle, 1);
        stat_set(rs->stats, xbzrle_cache_size, x->param_size);
    }
    return true;
}

void ram_xbzrle_cleanup(RAMState *rs)
{
    RamXbzrle *x = rs->xbzrle;

    if (!x) {
        return;
    }
    page_cache_free(x->cache);
    g_free(x->block_base);
    g_free(x->encoded);
    g_aligned_free(x->scratch);
    g_free(x);
    rs->xbzrle = NULL;
}

void ram_xbzrle_poll(RAMState *rs)
{
    RamXbzrle *x = rs->xbzrle;
    g_autoptr(GError) err = NULL;
    uint64_t size;

    if (!x) {
        return;
    }
    size = migrate_xbzrle_cache_size(rs->opts);
    if (size == x->param_size) {
        return;
    }
    x->param_size = size;       /* do not retry a failed size every iteration */
    if (!page_cache_resize(x->cache, size, &err)) {
        /* the old cache goes on; the value was range-checked, so this is ENOMEM */
        g_printerr("kvmig: xbzrle: keeping the cache of %" G_GUINT64_FORMAT " bytes: %s\n",
                   page_cache_size(x->cache), err->message);
        return;
    }
    if (rs->stats) {
        stat_set(rs->stats, xbzrle_cache_size, size);
    }
}

/* A PAGE record with the bytes of a cache entry (copied: see the top). */
static void send_cached_raw(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset,
                            const uint8_t *data)
{
    ram_put_page_header(rs, f, rb, offset, RAM_SAVE_FLAG_PAGE);
    mig_stream_put_buffer(f, data, TARGET_PAGE_SIZE);
    XSTAT_ADD(rs, normal_pages, 1);
}

static inline uint64_t page_addr(RamXbzrle *x, RAMBlock *rb, uint64_t offset)
{
    return x->block_base[rb->index] + offset;
}

/* A miss (or the bulk pass): snapshot, send the snapshot, keep it. */
static bool send_and_insert(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    RamXbzrle *x = rs->xbzrle;

    memcpy(x->scratch, rb->host + offset, TARGET_PAGE_SIZE);
    send_cached_raw(rs, f, rb, offset, x->scratch);
    /* no room (the budget is full of this pass's pages): sent, not cached */
    page_cache_put(x->cache, page_addr(x, rb, offset), x->scratch, rs->dirty.sync_count);
    return true;
}

bool ram_xbzrle_send(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    RamXbzrle *x = rs->xbzrle;
    uint64_t addr = page_addr(x, rb, offset);
    uint64_t age = rs->dirty.sync_count;
    const uint8_t *host = rb->host + offset;
    uint8_t *cached;
    size_t hdr;
    int len;

    if (rs->bulk_stage) {
        /* no XBZRLE record before a full round, as QEMU; but fill the cache */
        if (x->last_stage) {
            return false;
        }
        return send_and_insert(rs, f, rb, offset);
    }
    cached = page_cache_get(x->cache, addr, x->scratch, age);
    if (!cached) {
        XSTAT_ADD(rs, xbzrle_cache_miss, 1);
        if (x->last_stage) {
            return false;
        }
        return send_and_insert(rs, f, rb, offset);
    }

    /* a hit counts as encoded whatever comes of it (QEMU's encoding-rate) */
    XSTAT_ADD(rs, xbzrle_pages, 1);
    if (x->last_stage) {
        len = xbzrle_encode_buffer(cached, host, TARGET_PAGE_SIZE, x->encoded, XBZRLE_SLOT);
    } else {
        len = xbzrle_encode_update(cached, host, TARGET_PAGE_SIZE, x->encoded, XBZRLE_SLOT);
    }
    if (len == 0) {
        /* the destination has these bytes already (and the entry is unchanged) */
        return true;
    }
    if (len < 0) {
        XSTAT_ADD(rs, xbzrle_overflow, 1);
        XSTAT_ADD(rs, xbzrle_bytes, TARGET_PAGE_SIZE);
        if (x->last_stage) {
            return false;       /* stopped guest: raw from RAM, no copy */
        }
        send_cached_raw(rs, f, rb, offset, cached);
    } else {
        hdr = ram_put_page_header(rs, f, rb, offset, RAM_SAVE_FLAG_XBZRLE);
        mig_stream_put_u8(f, XBZRLE_ENCODING_FLAG);
        mig_stream_put_be16(f, len);
        mig_stream_put_buffer(f, x->encoded, len);
        /* like QEMU's, without the 8-byte page address */
        XSTAT_ADD(rs, xbzrle_bytes, hdr - 8 + 1 + 2 + len);
    }
    if (!x->last_stage) {
        /* the snapshot is what the destination has now; last use of @cached */
        page_cache_put(x->cache, addr, cached, age);
    }
    return true;
}

void ram_xbzrle_zero_sent(RAMState *rs, RAMBlock *rb, uint64_t offset, uint64_t npages)
{
    RamXbzrle *x = rs->xbzrle;

    if (x && !x->last_stage) {
        uint64_t addr = page_addr(x, rb, offset);

        for (uint64_t i = 0; i < npages; i++) {
            page_cache_put_zero(x->cache, addr + i * TARGET_PAGE_SIZE, rs->dirty.sync_count);
        }
    }
}

/* QEMU's migration_update_rates() for xbzrle; @force: end the period now. */
static void update_rates(RAMState *rs, bool force)
{
    RamXbzrle *x = rs->xbzrle;
    MigrationStats *st = rs->stats;
    int64_t now = mig_now_ms();
    uint64_t handled, miss, pages, bytes;

    if (!x || !st || (!force && now <= x->period_start_ms + XBZRLE_RATE_PERIOD_MS)) {
        return;
    }
    x->period_start_ms = now;
    handled = rs->iter_pages - x->prev_handled;
    x->prev_handled = rs->iter_pages;
    if (!handled) {
        return;
    }
    miss = stat_get(st, xbzrle_cache_miss);
    pages = stat_get(st, xbzrle_pages);
    bytes = stat_get(st, xbzrle_bytes);
    set_double(st, &st->xbzrle_cache_miss_rate, (double)(miss - x->prev_miss) / handled);
    if (pages == x->prev_pages || bytes == x->prev_bytes) {
        set_double(st, &st->xbzrle_encoding_rate, 0);
    } else {
        set_double(st, &st->xbzrle_encoding_rate,
                   (double)(pages - x->prev_pages) * TARGET_PAGE_SIZE /
                   (bytes - x->prev_bytes));
    }
    x->prev_miss = miss;
    x->prev_pages = pages;
    x->prev_bytes = bytes;
}

void ram_xbzrle_sync_stats(RAMState *rs)
{
    update_rates(rs, false);
}

void ram_xbzrle_complete(RAMState *rs)
{
    if (rs->xbzrle) {
        /*
         * The passes since the last period often took under a second (XBZRLE
         * makes them short): close that period so the rates describe the
         * iterations rather than stay at the first pass's all-miss numbers.
         */
        update_rates(rs, true);
        rs->xbzrle->last_stage = true;
    }
}

uint64_t ram_xbzrle_cache_entries(RAMState *rs)
{
    return rs->xbzrle ? page_cache_entries(rs->xbzrle->cache) : 0;
}
