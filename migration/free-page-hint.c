/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Free page hinting for the outgoing migration: run virtio-balloon hint
 * rounds between dirty-bitmap syncs and clear the bits of the pages the
 * guest reports free, without ever dropping a page the guest still uses.
 *
 * Threads: the provider (the virtio-balloon) calls hint_stamp() and
 * hint_report() on vCPU 0's thread (with the device lock held); everything
 * else runs on the
 * migration thread, which alone touches the migration bitmap.  `lock`
 * protects `pending`; `gen` is written by the migration thread only and
 * read atomically by hint_stamp().
 *
 * Why no page is lost.  Clearing page P's bit is safe when every write the
 * guest made to P after it reported P free will still set the bit again:
 * P's content at the time it was free does not matter, later content
 * does.  Writes sit in the accelerator's dirty log (or in the block's
 * dev_dirty bits) until a sync moves them into the bitmap; clearing a bit
 * can only lose writes that a sync had already moved there.  So a report
 * may be applied only if no sync read the log between the moment the
 * driver saw P free and the moment the bit is cleared.
 *
 * `gen` counts sync edges: odd while a sync runs, bumped again after.  The
 * device stamps every report with `gen` as read when the driver last read
 * the command id, which the driver does before it looks at its free lists
 * for that batch.  A report is applied only when its stamp equals the
 * current (even) `gen`:
 *
 *   vCPU 0 (driver)                      migration thread
 *   read cmd id -> stamp = gen (g)
 *   walk free list: P free               (no sync may start here ...)
 *   report P (queued with g)
 *   guest reuses P, writes it  --log-->  apply: gen == g: clear P's bit
 *                                        before_sync: apply, gen = g+1
 *                                        log sync: P's write -> bit set
 *                                        after_sync: gen = g+2
 *   (a report still queued with g is dropped from now on)
 *
 * A stamp taken during a sync is odd and never matches; one taken before
 * a sync no longer matches after it.  So every applied report was made
 * after the last log read, and the writes after it are still in the log.
 * A report costs the guest nothing more than a missed optimisation when
 * it is dropped.  The guest's own duty is to report only what is free
 * when it reports it (guest/workloads/balloon.c skips each free block's
 * first page, which holds the allocator's link).
 */
#include "migration/free-page-hint.h"
#include "migration/migration-int.h"
#include "migration/ram.h"
#include "util/bitmap.h"
#include "util/error.h"

typedef struct HintRange {
    uint64_t gpa, len, stamp;
} HintRange;

struct FreePageHint {
    /* set at creation */
    Machine *m;
    const FreePageHintProviderOps *provider;
    void *provider_opaque;

    /* written by the migration thread, read atomically by hint_stamp() */
    uint64_t gen;

    GMutex lock;
    GArray *pending;            /* HintRange; protected by lock */

    /* migration thread */
    GArray *work;
    uint64_t cleared;           /* read with atomics by the stats */
    bool round;                 /* a round was started and not ended */
};

static uint64_t hint_stamp(void *opaque)
{
    FreePageHint *h = opaque;

    return __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);
}

static void hint_report(void *opaque, uint64_t gpa, uint64_t len, uint64_t stamp)
{
    FreePageHint *h = opaque;
    HintRange r = { gpa, len, stamp };

    g_mutex_lock(&h->lock);
    g_array_append_val(h->pending, r);
    g_mutex_unlock(&h->lock);
}

static const FreePageHintOps hint_ops = {
    .stamp = hint_stamp,
    .report = hint_report,
};

bool free_page_hint_set_provider(Machine *m, const FreePageHintProviderOps *ops,
                                 void *opaque, GError **errp)
{
    RAMState *rs;

    if (!m->migration) {
        kvmig_error(errp, "free page hint provider registered before migration_new()");
        return false;
    }
    rs = m->migration->ram;
    if (rs->hint_provider) {
        kvmig_error(errp, "the machine has a free page hint provider already");
        return false;
    }
    rs->hint_provider = ops;
    rs->hint_provider_opaque = opaque;
    return true;
}

FreePageHint *free_page_hint_new(Machine *m, const FreePageHintProviderOps *provider,
                                 void *provider_opaque)
{
    FreePageHint *h;

    if (!provider || !provider->supported(provider_opaque)) {
        return NULL;
    }
    h = g_new0(FreePageHint, 1);
    h->m = m;
    h->provider = provider;
    h->provider_opaque = provider_opaque;
    g_mutex_init(&h->lock);
    h->pending = g_array_new(FALSE, FALSE, sizeof(HintRange));
    h->work = g_array_new(FALSE, FALSE, sizeof(HintRange));
    return h;
}

void free_page_hint_free(FreePageHint *h)
{
    if (!h) {
        return;
    }
    /* On return the provider holds no pointer to us and runs no callback. */
    h->provider->done(h->provider_opaque);
    g_array_free(h->pending, TRUE);
    g_array_free(h->work, TRUE);
    g_mutex_clear(&h->lock);
    g_free(h);
}

void free_page_hint_start(FreePageHint *h)
{
    if (h) {
        h->round = h->provider->start(h->provider_opaque, &hint_ops, h);
    }
}

/* Clear [first, first + n) of @map; returns how many of those bits were set. */
static uint64_t clear_counting(unsigned long *map, uint64_t first, uint64_t n)
{
    const unsigned bpl = sizeof(unsigned long) * 8;
    uint64_t cleared = 0;

    while (n) {
        uint64_t w = first / bpl, bit = first % bpl;
        uint64_t k = MIN(n, bpl - bit);
        unsigned long mask = k == bpl ? ~0UL : ((1UL << k) - 1) << bit;

        cleared += __builtin_popcountl(map[w] & mask);
        map[w] &= ~mask;
        first += k;
        n -= k;
    }
    return cleared;
}

/* Clear the bits of one guest-physical range, mapping by mapping. */
static uint64_t clear_range(Machine *m, RamDirtyState *d, uint64_t gpa, uint64_t len)
{
    uint64_t cleared = 0;

    while (len) {
        const MemMapping *map = gpa_to_mapping(m, gpa);
        uint64_t off, n;
        RAMBlock *rb;

        if (!map) {
            break;      /* the device checked it was RAM; be safe anyway */
        }
        off = gpa - map->gpa;
        n = MIN(len, map->size - off);
        rb = map->block;
        if (rb->bmap) {
            uint64_t first = (map->offset + off) >> TARGET_PAGE_BITS;
            uint64_t pages = n >> TARGET_PAGE_BITS;

            if (first < rb->npages) {
                /* re-armed first, so a write after the drop is in the next sync */
                ram_dirty_clear(m, d, rb, first, MIN(pages, rb->npages - first));
                cleared += clear_counting(rb->bmap, first, MIN(pages, rb->npages - first));
            }
        }
        gpa += n;
        len -= n;
    }
    return cleared;
}

uint64_t free_page_hint_apply(FreePageHint *h, RamDirtyState *d)
{
    uint64_t gen, cleared = 0;
    GArray *tmp;

    if (!h) {
        return 0;
    }
    g_mutex_lock(&h->lock);
    tmp = h->pending;
    h->pending = h->work;
    h->work = tmp;
    g_mutex_unlock(&h->lock);
    if (!h->work->len) {
        return 0;
    }
    gen = h->gen;   /* we are its only writer */
    for (guint i = 0; i < h->work->len; i++) {
        const HintRange *r = &g_array_index(h->work, HintRange, i);

        if (r->stamp == gen && !(gen & 1)) {
            cleared += clear_range(h->m, d, r->gpa, r->len);
        }
    }
    g_array_set_size(h->work, 0);
    d->dirty_pages -= MIN(cleared, d->dirty_pages);
    __atomic_fetch_add(&h->cleared, cleared, __ATOMIC_RELAXED);
    return cleared;
}

void free_page_hint_before_sync(FreePageHint *h, RamDirtyState *d)
{
    if (!h) {
        return;
    }
    if (h->round) {
        h->provider->stop(h->provider_opaque);
        h->round = false;
    }
    free_page_hint_apply(h, d);
    __atomic_store_n(&h->gen, h->gen + 1, __ATOMIC_SEQ_CST);
}

void free_page_hint_after_sync(FreePageHint *h, bool running)
{
    if (!h) {
        return;
    }
    __atomic_store_n(&h->gen, h->gen + 1, __ATOMIC_SEQ_CST);
    if (running) {
        free_page_hint_start(h);
    } else {
        /* The final pass: the guest may use everything again. */
        h->provider->done(h->provider_opaque);
    }
}

uint64_t free_page_hint_pages(const FreePageHint *h)
{
    return h ? __atomic_load_n(&h->cleared, __ATOMIC_RELAXED) : 0;
}
