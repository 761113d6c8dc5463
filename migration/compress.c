/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compress capability (compress.h): pages deflated by a worker pool on
 * the source, inflated by another on the destination.
 *
 * Jobs are batches of COMPRESS_BATCH pages (records): waking a worker
 * costs about as much as deflating a page on a VM host.
 *
 * Source: worker i owns a deflater and, per page of its batch, a copy
 * buffer and an output buffer.  The migration thread adds dirty pages
 * (after clearing their bits, like every sender) to the batch of the
 * worker it took, and submits the batch when it is full.  The worker
 * copies each page first, so deflate reads bytes the guest cannot change
 * under it, then deflates it.  The results wait in the slot until the
 * migration thread takes that worker again or flushes (before every EOS:
 * the partial batch is submitted, the pool synced, every result written).
 * A page whose zlib stream would not be smaller than a PAGE record goes
 * as a PAGE record from the copy: the destination has nothing to inflate.
 *
 * The codec: libdeflate where built (its whole-buffer zlib functions,
 * compress-libdeflate.c), else the multifd zlib method's codec
 * (multifd-zlib.h: deflateReset/inflateReset per page, like QEMU;
 * compress-zlib.c).  Either way a
 * record is one zlib stream (RFC 1950), so QEMU reads ours and we read
 * QEMU's.  On this project's fill data (3:1), one 4 KiB page per call,
 * libdeflate 1.14 at level 1 deflates about 320 MB/s on this project's
 * build machine where zlib level 1 manages 70-90 MB/s, at the same ratio
 * (2.88 vs 2.85), and it inflates faster too; it also checks the checksum
 * and the exact output size.
 *
 * Destination: worker i owns an inflater and an input buffer of a batch of
 * compress_page_bound()-byte records.  The incoming thread checks each
 * record's length and reads its data into the batch of the worker it
 * took, submitting full batches; each record inflates straight into its
 * guest page and fails unless the zlib stream ends after exactly one
 * page.  At each EOS the incoming thread submits the partial batch and
 * syncs the pool: within a pass a page is sent once, passes are separated
 * by EOS, so no two workers ever write the same page at once and no later
 * record can overtake an earlier one.
 *
 * Threads: RamCompress belongs to the migration thread, RamDecompress to
 * the incoming thread; a slot is touched by its worker only while the job
 * runs (workers.h), by the owning thread otherwise.
 */
#include <errno.h>
#include <string.h>

#include "migration/compress.h"
#include "migration/workers.h"
#include "util/error.h"

#include <zlib.h>      /* compressBound() */

/*
 * Pages per job: a worker is woken once per batch, not once per page (on a
 * VM host a futex wake and the context switches cost about as much as
 * deflating a page).
 */
#define COMPRESS_BATCH 32

size_t compress_page_bound(void)
{
    return compressBound(TARGET_PAGE_SIZE);
}

/* The codec: compress-libdeflate.c, else compress-zlib.c (the zlib method's). */

/* ---- source ---- */

/* One page of a batch. */
typedef struct CompressPage {
    RAMBlock *rb;
    uint64_t offset;
    const uint8_t *src;         /* the guest page */
    size_t out_len;             /* 0: does not compress, sent raw from the copy */
} CompressPage;

typedef struct CompressSlot {
    PageDeflater *def;
    unsigned npages;
    CompressPage pages[COMPRESS_BATCH];
    uint8_t *copy;              /* COMPRESS_BATCH pages: the worker's copies */
    uint8_t *out;               /* COMPRESS_BATCH pages: the zlib streams */
    bool pending;               /* submitted, results not yet written */
} CompressSlot;

struct RamCompress {
    WorkerPool *pool;
    CompressSlot *slots;
    unsigned n;
    bool wait_thread;
    int cur;                    /* the slot being filled, -1: none */
};

static bool compress_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    CompressSlot *s = opaque;

    (void)pool;
    (void)idx;
    for (unsigned i = 0; i < s->npages; i++) {
        CompressPage *p = &s->pages[i];
        uint8_t *copy = s->copy + (size_t)i * TARGET_PAGE_SIZE;
        GError *local = NULL;

        memcpy(copy, p->src, TARGET_PAGE_SIZE);
        /* a record no smaller than a PAGE record is not worth it: 0, sent raw */
        p->out_len = page_deflate(s->def, copy, s->out + (size_t)i * TARGET_PAGE_SIZE,
                                  TARGET_PAGE_SIZE - 5, &local);
        if (local) {
            g_propagate_error(errp, local);
            return false;
        }
    }
    return true;
}

static void compress_free(RamCompress *c)
{
    if (!c) {
        return;
    }
    worker_pool_free(c->pool);
    for (unsigned i = 0; i < c->n; i++) {
        page_deflater_free(c->slots[i].def);
        g_free(c->slots[i].copy);
        g_free(c->slots[i].out);
    }
    g_free(c->slots);
    g_free(c);
}

bool ram_compress_setup(RAMState *rs, MigStream *f, GError **errp)
{
    RamCompress *c;
    g_autofree void **ptrs = NULL;
    int level;

    if (!rs->opts || !migrate_cap(rs->opts, MIGRATION_CAPABILITY_COMPRESS)) {
        return true;
    }
    /* rdma: pages are placed by the channel, as QEMU's RDMA hook takes them */
    if (mig_channel_has_write_page(mig_stream_channel(f))) {
        return true;
    }
    level = migrate_compress_level(rs->opts);
    c = g_new0(RamCompress, 1);
    c->n = MAX(1, migrate_compress_threads(rs->opts));
    c->wait_thread = migrate_compress_wait_thread(rs->opts);
    c->cur = -1;
    c->slots = g_new0(CompressSlot, c->n);
    ptrs = g_new0(void *, c->n);
    for (unsigned i = 0; i < c->n; i++) {
        CompressSlot *s = &c->slots[i];

        s->def = page_deflater_new(level, errp);
        if (!s->def) {
            compress_free(c);
            return false;
        }
        s->copy = g_malloc((size_t)COMPRESS_BATCH * TARGET_PAGE_SIZE);
        s->out = g_malloc((size_t)COMPRESS_BATCH * TARGET_PAGE_SIZE);
        ptrs[i] = s;
    }
    c->pool = worker_pool_new("compress", c->n, compress_job, ptrs);
    rs->compress = c;
    if (rs->stats) {
        stat_set(rs->stats, compress, 1);
    }
    return true;
}

/* Write slot @s's results: COMPRESS_PAGE, or PAGE when deflate did not help. */
static void write_results(RAMState *rs, MigStream *f, CompressSlot *s)
{
    uint64_t pages = 0, bytes = 0, raw = 0;

    s->pending = false;
    for (unsigned i = 0; i < s->npages; i++) {
        CompressPage *p = &s->pages[i];

        if (!p->out_len) {
            ram_put_page_header(rs, f, p->rb, p->offset, RAM_SAVE_FLAG_PAGE);
            mig_stream_put_buffer(f, s->copy + (size_t)i * TARGET_PAGE_SIZE,
                                  TARGET_PAGE_SIZE);
            raw++;
            continue;
        }
        ram_put_page_header(rs, f, p->rb, p->offset, RAM_SAVE_FLAG_COMPRESS_PAGE);
        mig_stream_put_be32(f, p->out_len);
        mig_stream_put_buffer(f, s->out + (size_t)i * TARGET_PAGE_SIZE, p->out_len);
        pages++;
        bytes += p->out_len + 4;
    }
    s->npages = 0;
    if (rs->stats) {
        stat_add(rs->stats, compress_pages, pages);
        stat_add(rs->stats, compress_size, bytes);
        stat_add(rs->stats, normal_pages, raw);
    }
}

static void pool_failed(RamCompress *c, MigStream *f)
{
    g_autoptr(GError) err = NULL;

    worker_pool_sync(c->pool, &err);
    mig_stream_set_error(f, -EIO, "%s", err ? err->message : "compress: workers stopped");
}

static void submit_current(RamCompress *c)
{
    CompressSlot *s;

    if (c->cur < 0) {
        return;
    }
    s = worker_pool_slot(c->pool, c->cur);
    if (s->npages) {
        s->pending = true;
        worker_pool_submit(c->pool, c->cur);
    }
    c->cur = -1;
}

bool ram_compress_send(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    RamCompress *c = rs->compress;
    CompressSlot *s;

    if (!c) {
        return false;
    }
    if (c->cur < 0) {
        int idx = worker_pool_get_idle(c->pool, c->wait_thread);

        if (idx < 0) {
            if (worker_pool_failed(c->pool) || worker_pool_cancelled(c->pool)) {
                pool_failed(c, f);
                return true;
            }
            /* compress-wait-thread off, every worker busy: raw, as QEMU does */
            if (rs->stats) {
                stat_add(rs->stats, compress_busy, 1);
            }
            return false;
        }
        s = worker_pool_slot(c->pool, idx);
        if (s->pending) {
            write_results(rs, f, s);
        }
        s->npages = 0;
        c->cur = idx;
    }
    s = worker_pool_slot(c->pool, c->cur);
    s->pages[s->npages++] = (CompressPage){ .rb = rb, .offset = offset,
                                            .src = rb->host + offset };
    if (s->npages == COMPRESS_BATCH) {
        submit_current(c);
    }
    return true;
}

void ram_compress_flush(RAMState *rs, MigStream *f)
{
    RamCompress *c = rs->compress;

    if (!c) {
        return;
    }
    submit_current(c);
    if (!worker_pool_sync(c->pool, NULL)) {
        pool_failed(c, f);
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        if (c->slots[i].pending) {
            write_results(rs, f, &c->slots[i]);
        }
    }
}

void ram_compress_cleanup(RAMState *rs)
{
    compress_free(rs->compress);
    rs->compress = NULL;
}

/* ---- destination ---- */

/* One record of a batch. */
typedef struct DecompressRec {
    uint8_t *host;              /* the guest page */
    const char *idstr;          /* its block, for the error */
    uint64_t addr;
    size_t len;                 /* at in + index * compress_page_bound() */
} DecompressRec;

typedef struct DecompressSlot {
    PageInflater *inf;
    unsigned nrecs;
    DecompressRec recs[COMPRESS_BATCH];
    uint8_t *in;                /* COMPRESS_BATCH * compress_page_bound() bytes */
} DecompressSlot;

struct RamDecompress {
    WorkerPool *pool;
    DecompressSlot *slots;
    unsigned n;
    int cur;                    /* the slot being filled, -1: none */
};

static bool decompress_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    DecompressSlot *s = opaque;

    (void)pool;
    (void)idx;
    for (unsigned i = 0; i < s->nrecs; i++) {
        DecompressRec *r = &s->recs[i];

        if (!page_inflate(s->inf, s->in + i * compress_page_bound(), r->len, r->host,
                          errp)) {
            g_prefix_error(errp, "compressed page at 0x%" G_GINT64_MODIFIER "x of RAM "
                           "block '%s': ", r->addr, r->idstr);
            return false;
        }
    }
    return true;
}

static void decompress_free(RamDecompress *d)
{
    if (!d) {
        return;
    }
    worker_pool_free(d->pool);
    for (unsigned i = 0; i < d->n; i++) {
        page_inflater_free(d->slots[i].inf);
        g_free(d->slots[i].in);
    }
    g_free(d->slots);
    g_free(d);
}

static RamDecompress *decompress_new(unsigned n, GError **errp)
{
    RamDecompress *d = g_new0(RamDecompress, 1);
    g_autofree void **ptrs = g_new0(void *, n);

    d->n = n;
    d->cur = -1;
    d->slots = g_new0(DecompressSlot, n);
    for (unsigned i = 0; i < n; i++) {
        DecompressSlot *s = &d->slots[i];

        s->inf = page_inflater_new(errp);
        if (!s->inf) {
            decompress_free(d);
            return NULL;
        }
        s->in = g_malloc(COMPRESS_BATCH * compress_page_bound());
        ptrs[i] = s;
    }
    d->pool = worker_pool_new("decompress", n, decompress_job, ptrs);
    return d;
}

static void decompress_submit_current(RamDecompress *d)
{
    if (d->cur < 0) {
        return;
    }
    if (((DecompressSlot *)worker_pool_slot(d->pool, d->cur))->nrecs) {
        worker_pool_submit(d->pool, d->cur);
    }
    d->cur = -1;
}

bool ram_decompress_load(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t addr,
                         GError **errp)
{
    RamDecompress *d;
    DecompressSlot *s;
    DecompressRec *r;
    uint32_t len = mig_stream_get_be32(f);

    if (mig_stream_error(f)) {
        return true;
    }
    if (len == 0 || len > compress_page_bound()) {
        kvmig_error(errp, "compressed page at 0x%" G_GINT64_MODIFIER "x of RAM block '%s': "
                    "length %u, expected 1 to %zu", addr, rb->idstr, len,
                    compress_page_bound());
        return false;
    }
    if (!rs->decompress) {
        unsigned n = rs->opts ? migrate_decompress_threads(rs->opts)
                              : MIGRATE_DEFAULT_DECOMPRESS_THREADS;

        rs->decompress = decompress_new(MAX(1, n), errp);
        if (!rs->decompress) {
            return false;
        }
    }
    d = rs->decompress;
    if (d->cur < 0) {
        int idx = worker_pool_get_idle(d->pool, true);

        if (idx < 0) {
            if (!worker_pool_sync(d->pool, errp)) {
                return false;
            }
            kvmig_error(errp, "compressed page at 0x%" G_GINT64_MODIFIER "x: the "
                        "decompress workers stopped", addr);
            return false;
        }
        ((DecompressSlot *)worker_pool_slot(d->pool, idx))->nrecs = 0;
        d->cur = idx;
    }
    s = worker_pool_slot(d->pool, d->cur);
    r = &s->recs[s->nrecs];
    if (!mig_stream_get_buffer(f, s->in + s->nrecs * compress_page_bound(), len)) {
        return true;
    }
    r->len = len;
    r->host = rb->host + addr;
    r->idstr = rb->idstr;
    r->addr = addr;
    if (++s->nrecs == COMPRESS_BATCH) {
        decompress_submit_current(d);
    }
    return true;
}

bool ram_decompress_sync(RAMState *rs, GError **errp)
{
    if (!rs->decompress) {
        return true;
    }
    decompress_submit_current(rs->decompress);
    return worker_pool_sync(rs->decompress->pool, errp);
}

void ram_decompress_cleanup(RAMState *rs)
{
    decompress_free(rs->decompress);
    rs->decompress = NULL;
}
