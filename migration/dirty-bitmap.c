/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration dirty bitmap: one bit per 4 KiB page per RAM block
 * (rb->bmap), all set at the start, refilled at each sync from the
 * accelerator's dirty log and from the pages kvmig itself wrote
 * (rb->dev_dirty).  Owned by the migration thread.
 */
#include "accel/accel.h"
#include "migration/free-page-hint.h"
#include "migration/ram.h"
#include "util/bitmap.h"
#include "util/error.h"

static uint64_t count_all(Machine *m)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        n += bitmap_count(rb->bmap, rb->npages);
    }
    return n;
}

bool ram_dirty_start(Machine *m, RamDirtyState *d, GError **errp)
{
    *d = (RamDirtyState){ 0 };
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        g_free(rb->bmap);
        rb->bmap = bitmap_new(rb->npages);
        bitmap_set_range(rb->bmap, 0, rb->npages);
    }
    /*
     * Start logging after the bitmap is full: any write from now on is
     * either before the page is read (already dirty) or logged.
     */
    if (m->accel && m->accel->log_start) {
        if (!m->accel->log_start(m, errp)) {
            g_prefix_error(errp, "starting the dirty log: ");
            ram_dirty_stop(m, d);
            return false;
        }
        d->logging = true;
    }
    d->dirty_pages = count_all(m);
    d->last_sync_ns = g_get_monotonic_time() * 1000;
    return true;
}

bool ram_dirty_sync(Machine *m, RamDirtyState *d, GError **errp)
{
    uint64_t before = d->dirty_pages, after;
    int64_t now;

    /* free-page-hint: end the round, apply its reports (see free-page-hint.c) */
    free_page_hint_before_sync(d->fph, d);
    before = d->dirty_pages;
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];

        if (d->logging && !m->accel->log_sync(m, rb, rb->bmap, errp)) {
            g_prefix_error(errp, "dirty log sync of block '%s': ", rb->idstr);
            return false;
        }
        bitmap_move_atomic(rb->bmap, rb->dev_dirty, rb->npages);
    }
    after = count_all(m);
    now = g_get_monotonic_time() * 1000;
    if (now > d->last_sync_ns) {
        /* bits are only added by a sync, so the growth is what was dirtied */
        d->pages_rate = (after - MIN(before, after)) * 1000000000ULL /
                        (uint64_t)(now - d->last_sync_ns);
    }
    d->last_sync_ns = now;
    d->dirtied_pages += after - MIN(before, after);
    d->dirty_pages = after;
    d->sync_count++;
    /* free-page-hint: a new round while the guest runs, DONE after the last sync */
    free_page_hint_after_sync(d->fph, machine_is_running(m));
    return true;
}

void ram_dirty_clear(Machine *m, RamDirtyState *d, RAMBlock *rb, uint64_t first,
                     uint64_t npages)
{
    if (d->logging && !d->final && m->accel->log_clear) {
        m->accel->log_clear(m, rb, first, npages);
    }
}

void ram_dirty_stop(Machine *m, RamDirtyState *d)
{
    /* free-page-hint: DONE; no report arrives after this */
    free_page_hint_free(d->fph);
    d->fph = NULL;
    if (d->logging && m->accel->log_stop) {
        m->accel->log_stop(m);
    }
    d->logging = false;
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        g_free(rb->bmap);
        rb->bmap = NULL;
    }
}
