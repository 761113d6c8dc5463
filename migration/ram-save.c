/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The source side of the "ram" section: MEM_SIZE at setup, then passes over
 * the migration bitmap sending every dirty page (zero pages as ZERO
 * records, others as PAGE records whose data is queued as an iovec, never
 * copied), EOS closing each record group.
 *
 * Pages are read after their bit is cleared: a guest write after that is
 * in the next sync, so the destination ends with the last version.
 *
 * Never-written memory costs nothing: on the first pass, pages that are
 * holes in the host mapping (util/pagemap.h) are sent as X_ZERO_RUN
 * records without being read -- reading would fault them in.  The hole
 * snapshot is taken after the dirty log started and is dropped at every
 * sync, so a page written after the snapshot is dirty again in the next
 * sync and sent then, like a page written after it was read.
 */
#include <string.h>

#include "migration/compress.h"
#include "migration/free-page-hint.h"
#include "migration/multifd.h"
#include "migration/postcopy.h"
#include "migration/ram.h"
#include "util/bitmap.h"
#include "util/bufferiszero.h"
#include "util/error.h"
#include "util/pagemap.h"

/* An iterate call returns after this long so the thread can re-decide. */
#define RAM_ITERATE_SLICE_NS (50 * 1000 * 1000LL)
/* Pages per hole snapshot of the first pass (1 GiB, a 32 KiB bitmap). */
#define RAM_POP_WINDOW (1ULL << 18)

static void put_page_header(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset,
                            uint64_t flags)
{
    if (rb == rs->last_sent_block) {
        mig_stream_put_be64(f, offset | flags | RAM_SAVE_FLAG_CONTINUE);
    } else {
        size_t len = strlen(rb->idstr);
        mig_stream_put_be64(f, offset | flags);
        mig_stream_put_u8(f, len);
        mig_stream_put_buffer(f, rb->idstr, len);
        rs->last_sent_block = rb;
    }
}

size_t ram_put_page_header(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset,
                           uint64_t flags)
{
    size_t len = rb == rs->last_sent_block ? 8 : 8 + 1 + strlen(rb->idstr);

    put_page_header(rs, f, rb, offset, flags);
    return len;
}

static void send_zero(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    put_page_header(rs, f, rb, offset, RAM_SAVE_FLAG_ZERO);
    mig_stream_put_u8(f, 0);
    if (rs->xbzrle) {
        ram_xbzrle_zero_sent(rs, rb, offset, 1);    /* xbzrle: cached as zero */
    }
    if (rs->stats) {
        stat_add(rs->stats, zero_pages, 1);
    }
}

static void send_raw(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    /* rdma: the channel places the page itself (RDMA WRITE), no record */
    if (!mig_stream_write_page(f, rb->index, offset, rb->host + offset, TARGET_PAGE_SIZE)) {
        put_page_header(rs, f, rb, offset, RAM_SAVE_FLAG_PAGE);
        mig_stream_put_buffer_async(f, rb->host + offset, TARGET_PAGE_SIZE);
    }
    if (rs->stats) {
        stat_add(rs->stats, normal_pages, 1);
    }
}

/* @npages zero pages from @page on, never read (holes in the host mapping). */
static void send_zero_run(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t page,
                          uint64_t npages)
{
    /*
     * A one-way stream (file:, exec:) is usually read by tools that know
     * QEMU's records only (analyze-migration.py): plain ZERO records there,
     * still without reading the pages.
     */
    if (npages == 1 || !mig_stream_channel(f)->bidirectional) {
        for (uint64_t i = 0; i < npages; i++) {
            send_zero(rs, f, rb, (page + i) << TARGET_PAGE_BITS);
        }
        return;
    }
    put_page_header(rs, f, rb, page << TARGET_PAGE_BITS, RAM_SAVE_FLAG_X_ZERO_RUN);
    mig_stream_put_be64(f, npages);
    if (rs->xbzrle) {
        /* xbzrle: the destination has zeroes there; a later write is a delta */
        ram_xbzrle_zero_sent(rs, rb, page << TARGET_PAGE_BITS, npages);
    }
    if (rs->stats) {
        stat_add(rs->stats, zero_pages, npages);
    }
}

/*
 * First pass: how many pages from @page on are dirty and holes in the host
 * mapping (0 when @page is populated).  Refreshes the snapshot when @page
 * is outside it or a sync happened since it was taken.
 */
static uint64_t hole_run(RAMState *rs, RAMBlock *rb, uint64_t page)
{
    uint64_t idx, end;

    if (rs->pop_block != rb || rs->pop_sync_count != rs->dirty.sync_count ||
        page < rs->pop_start || page - rs->pop_start >= rs->pop_npages) {
        if (!rs->pop_bmap) {
            rs->pop_bmap = bitmap_new(RAM_POP_WINDOW);
        }
        rs->pop_block = rb;
        rs->pop_start = page;
        rs->pop_npages = MIN(RAM_POP_WINDOW, rb->npages - page);
        rs->pop_sync_count = rs->dirty.sync_count;
        /* re-armed first: a write after the snapshot is then in the next sync */
        ram_dirty_clear(rs->m, &rs->dirty, rb, page, rs->pop_npages);
        pagemap_populated(rb->host + (page << TARGET_PAGE_BITS), rs->pop_npages,
                          rs->pop_bmap);
    }
    idx = page - rs->pop_start;
    if (test_bit(idx, rs->pop_bmap)) {
        return 0;
    }
    end = rs->pop_start + bitmap_find_next(rs->pop_bmap, rs->pop_npages, idx);
    return bitmap_find_next_zero(rb->bmap, end, page) - page;
}

/* xbzrle: a delta against the page cache, or raw (ram-xbzrle.c) */
static void send_xbzrle(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    if (!ram_xbzrle_send(rs, f, rb, offset)) {
        send_raw(rs, f, rb, offset);
    }
}

/* multifd: into the current packet of a channel; the data is copied now */
static void send_multifd(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    multifd_send_page(rs->mfs, f, rb, offset);
    rs->mfs_unsynced = true;
    if (rs->stats) {
        stat_add(rs->stats, normal_pages, 1);
    }
}

/*
 * multifd: the end of every iteration (as QEMU 7.2) and the end of
 * save_complete are sync points when pages went to the channels since the
 * last one.  Every dirty sync falls between two iterations, so no page of
 * one pass can be placed after a record of the next; and the destination
 * has placed every channel page before it answers the PING that precedes
 * the switchover, so none of that waits inside the downtime.
 */
static void multifd_sync_point(RAMState *rs, MigStream *f)
{
    if (rs->mfs && rs->mfs_unsynced) {
        multifd_send_sync(rs->mfs, f);
        rs->mfs_unsynced = false;
    }
}

/* compress: to the worker pool, or raw when every worker is busy (compress.c) */
static void send_compress(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    if (!ram_compress_send(rs, f, rb, offset)) {
        send_raw(rs, f, rb, offset);
    }
}

typedef void (*RamPageSender)(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset);

static const RamPageSender page_senders[RAM_PAGE__MAX] = {
    [RAM_PAGE_ZERO] = send_zero,
    [RAM_PAGE_RAW] = send_raw,
    [RAM_PAGE_XBZRLE] = send_xbzrle,
    [RAM_PAGE_MULTIFD] = send_multifd,
    [RAM_PAGE_COMPRESS] = send_compress,
};

/* The one place that decides how a page travels. */
static RamPageMethod ram_page_method(RAMState *rs, RAMBlock *rb, uint64_t offset)
{
    if (buffer_is_zero(rb->host + offset, TARGET_PAGE_SIZE)) {
        return RAM_PAGE_ZERO;
    }
    /* multifd carries every non-zero page, as QEMU 7.2 (no xbzrle then) */
    if (rs->mfs) {
        return RAM_PAGE_MULTIFD;
    }
    /*
     * xbzrle: XBZRLE records from the second pass on, as QEMU enables it
     * after a full round; the bulk pass goes through it too, to fill the
     * cache (ram-xbzrle.c) -- unless compress is on as well: then the bulk
     * pass is compressed, as in QEMU, and the cache fills from pass two.
     */
    if (rs->xbzrle && (!rs->bulk_stage || !rs->compress)) {
        return RAM_PAGE_XBZRLE;
    }
    /* compress: every other non-zero page */
    if (rs->compress) {
        return RAM_PAGE_COMPRESS;
    }
    return RAM_PAGE_RAW;
}

static void send_page(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t page)
{
    uint64_t offset = page << TARGET_PAGE_BITS;

    page_senders[ram_page_method(rs, rb, offset)](rs, f, rb, offset);
}

/*
 * Send dirty pages from the scan position.  Stops after @deadline_ns
 * (0: never) or when a full round found nothing.  Returns true when the
 * bitmap is empty.
 */
static bool send_dirty(RAMState *rs, MigStream *f, int64_t deadline_ns)
{
    Machine *m = rs->m;
    unsigned visited = 0;
    uint64_t n = 0;

    rs->last_sent_block = NULL;     /* every record group names its first block */
    free_page_hint_apply(rs->dirty.fph, &rs->dirty);     /* free-page-hint */
    while (visited <= m->nr_ram_blocks && !mig_stream_error(f)) {
        RAMBlock *rb = m->ram_blocks[rs->scan_block];
        uint64_t page = bitmap_find_next(rb->bmap, rb->npages, rs->scan_page);

        if (page >= rb->npages) {
            rs->scan_block = (rs->scan_block + 1) % m->nr_ram_blocks;
            rs->scan_page = 0;
            visited++;
            if (rs->scan_block == 0) {
                rs->bulk_stage = false;
            }
            continue;
        }
        visited = 0;
        if (rs->bulk_stage) {
            uint64_t run = hole_run(rs, rb, page);

            if (run) {
                bitmap_clear_range(rb->bmap, page, run);
                rs->dirty.dirty_pages -= run;
                send_zero_run(rs, f, rb, page, run);
                rs->scan_page = page + run;
                rs->iter_pages += run;
                if (deadline_ns && g_get_monotonic_time() * 1000 >= deadline_ns) {
                    break;
                }
                continue;
            }
        }
        ram_dirty_clear(m, &rs->dirty, rb, page, 1);
        clear_bit(page, rb->bmap);
        rs->dirty.dirty_pages--;
        send_page(rs, f, rb, page);
        rs->scan_page = page + 1;
        rs->iter_pages++;
        if ((++n & 63) == 0) {
            /* free-page-hint: drop what the guest reported free meanwhile */
            free_page_hint_apply(rs->dirty.fph, &rs->dirty);
            if (deadline_ns && g_get_monotonic_time() * 1000 >= deadline_ns) {
                break;
            }
        }
    }
    if (rs->stats) {
        stat_set(rs->stats, remaining, rs->dirty.dirty_pages * TARGET_PAGE_SIZE);
        if (rs->dirty.fph) {
            stat_set(rs->stats, free_page_hint_pages, free_page_hint_pages(rs->dirty.fph));
        }
    }
    return rs->dirty.dirty_pages == 0;
}

static void update_dirty_stats(RAMState *rs)
{
    if (rs->stats) {
        stat_set(rs->stats, dirty_sync_count, rs->dirty.sync_count);
        stat_set(rs->stats, dirty_pages_rate, rs->dirty.pages_rate);
        stat_set(rs->stats, remaining, rs->dirty.dirty_pages * TARGET_PAGE_SIZE);
    }
    ram_xbzrle_sync_stats(rs);
}

static bool ram_save_setup(MigStream *f, void *opaque, GError **errp)
{
    RAMState *rs = opaque;
    Machine *m = rs->m;
    uint64_t total = 0;

    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        total += m->ram_blocks[i]->used_length;
    }
    if (!ram_xbzrle_setup(rs, f, errp)) {
        return false;
    }
    if (!ram_compress_setup(rs, f, errp)) {
        return false;
    }
    if (!ram_dirty_start(m, &rs->dirty, errp)) {
        return false;
    }
    /*
     * free-page-hint: the log runs and the bitmap is full (this plays the
     * part of QEMU's first sync of the bulk pass): ask for hints
     */
    rs->dirty.fph = free_page_hint_new(m, rs->hint_provider, rs->hint_provider_opaque);
    free_page_hint_start(rs->dirty.fph);
    rs->scan_block = 0;
    rs->scan_page = 0;
    rs->bulk_stage = true;
    rs->pop_block = NULL;
    rs->iter_pages = 0;
    rs->mfs_unsynced = false;
    if (rs->stats) {
        stat_set(rs->stats, ram_total, total);
    }
    update_dirty_stats(rs);

    mig_stream_put_be64(f, total | RAM_SAVE_FLAG_MEM_SIZE);
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        size_t len = strlen(rb->idstr);
        mig_stream_put_u8(f, len);
        mig_stream_put_buffer(f, rb->idstr, len);
        mig_stream_put_be64(f, rb->used_length);
    }
    mig_stream_put_be64(f, RAM_SAVE_FLAG_EOS);
    return true;
}

static int ram_save_iterate(MigStream *f, void *opaque, GError **errp)
{
    RAMState *rs = opaque;
    bool empty;

    if (rs->pc_src) {
        /* postcopy: requested pages first, then the background pass */
        empty = postcopy_src_send(rs, f, g_get_monotonic_time() * 1000 + RAM_ITERATE_SLICE_NS);
        mig_stream_put_be64(f, RAM_SAVE_FLAG_EOS);
        return empty ? 1 : 0;
    }
    ram_xbzrle_poll(rs);        /* xbzrle-cache-size may have changed */
    empty = send_dirty(rs, f, g_get_monotonic_time() * 1000 + RAM_ITERATE_SLICE_NS);
    multifd_sync_point(rs, f);

    /* compress: every page of this group before its EOS (and the next sync) */
    ram_compress_flush(rs, f);
    mig_stream_put_be64(f, RAM_SAVE_FLAG_EOS);
    return empty ? 1 : 0;
}

static bool ram_save_complete(MigStream *f, void *opaque, GError **errp)
{
    RAMState *rs = opaque;
    int64_t t0 = g_get_monotonic_time(), t1;

    if (rs->pc_src) {
        /* postcopy: everything was sent by the iterations; serve what is left */
        postcopy_src_send(rs, f, 0);
        mig_stream_put_be64(f, RAM_SAVE_FLAG_EOS);
        return true;
    }
    /* vCPUs are stopped: this sync is the last word on what is dirty */
    rs->dirty.final = true;
    if (!ram_dirty_sync(rs->m, &rs->dirty, errp)) {
        return false;
    }
    update_dirty_stats(rs);
    t1 = g_get_monotonic_time();
    ram_xbzrle_complete(rs);
    send_dirty(rs, f, 0);
    /* every page is placed before the destination reads the devices */
    multifd_sync_point(rs, f);
    ram_compress_flush(rs, f);
    mig_stream_put_be64(f, RAM_SAVE_FLAG_EOS);
    if (rs->stats) {
        /* x-downtime-phases (migration.c subtracts these from device-state-save) */
        stat_set(rs->stats, phase_us[MIG_PHASE_FINAL_SYNC], t1 - t0);
        stat_set(rs->stats, phase_us[MIG_PHASE_RAM_SEND], g_get_monotonic_time() - t1);
    }
    return true;
}

static uint64_t ram_pending(void *opaque, bool exact)
{
    RAMState *rs = opaque;

    /*
     * Always sync when asked for the exact figure, even if the scan has not
     * wrapped yet: a bulk pass that ends exactly at a slice boundary leaves
     * bulk_stage set with an empty bitmap, and skipping the sync there would
     * report 0 pending and switch over with the whole re-dirtied RAM left.
     */
    if (exact) {
        g_autoptr(GError) err = NULL;
        /* a failed sync leaves the bitmap as it was; completion reports it */
        ram_dirty_sync(rs->m, &rs->dirty, &err);
        update_dirty_stats(rs);
    }
    return rs->dirty.dirty_pages * TARGET_PAGE_SIZE;
}

static void ram_save_cleanup(void *opaque)
{
    RAMState *rs = opaque;

    ram_dirty_stop(rs->m, &rs->dirty);
    ram_xbzrle_cleanup(rs);
    ram_compress_cleanup(rs);   /* workers and zlib state: after switchover too */
    g_clear_pointer(&rs->pop_bmap, g_free);
    rs->pop_block = NULL;
}

static void ram_load_cleanup(void *opaque)
{
    ram_load_reset(opaque);
}

static const SaveVMHandlers ram_handlers = {
    .save_setup = ram_save_setup,
    .save_iterate = ram_save_iterate,
    .save_complete = ram_save_complete,
    .pending = ram_pending,
    .save_cleanup = ram_save_cleanup,
    .load_state = ram_load,
    .load_cleanup = ram_load_cleanup,
};

RAMState *ram_register(SaveVMRegistry *reg, Machine *m, MigrationStats *stats,
                       MigrationOptions *opts, GError **errp)
{
    RAMState *rs = g_new0(RAMState, 1);

    rs->m = m;
    rs->stats = stats;
    rs->opts = opts;
    if (!savevm_register_live(reg, "ram", 0, RAM_SECTION_VERSION, &ram_handlers, rs, errp)) {
        g_free(rs);
        return NULL;
    }
    return rs;
}

void ram_state_free(RAMState *rs)
{
    if (rs) {
        g_free(rs->pop_bmap);
        ram_compress_cleanup(rs);
        ram_decompress_cleanup(rs);
    }
    g_free(rs);
}
