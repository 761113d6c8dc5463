/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compress capability (compress.h): pages deflated by a worker pool on
 * the source, inflated by another on the destination.
 *
 * Source: worker i owns a z_stream, a page buffer and an output buffer.
 * The migration thread hands it a dirty page (after clearing its bit, like
 * every sender); the worker copies the page into its buffer first, so
 * deflate reads bytes the guest cannot change under it, then deflates.
 * The result waits in the slot until the migration thread takes that
 * worker again or flushes (before every EOS), and is written then.  A
 * result that is no smaller than the page goes as a PAGE record from the
 * copy instead: the destination then has nothing to inflate.
 *
 * zlib parameters: QEMU deflates each page with a fresh zlib stream
 * (deflateReset) at windowBits 15 and memLevel 8; resetting clears a
 * 64 KiB hash table per 4 KiB page.  A page never needs more than a 4 KiB
 * window, so the source uses windowBits 12 and memLevel 6 (a 16 KiB
 * table): the same zlib format (RFC 1950), read by QEMU's inflate and ours.
 *
 * Destination: worker i owns a z_stream and an input buffer of
 * compress_page_bound() bytes.  The incoming thread checks the record's
 * length, reads the data into an idle worker's slot and hands it over;
 * the worker inflates straight into the guest page and fails unless the
 * zlib stream ends after exactly one page.  The incoming thread syncs the
 * pool at each EOS: within a pass a page is sent once, passes are
 * separated by EOS, so no two workers ever write the same page at once
 * and no later record can overtake an earlier one.
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

#define COMPRESS_WINDOW_BITS 12     /* a 4 KiB window: one page */
#define COMPRESS_MEM_LEVEL 6

size_t compress_page_bound(void)
{
    return compressBound(TARGET_PAGE_SIZE);
}

/* ---- the codec ---- */

bool compress_deflate_init(z_stream *zs, int level, GError **errp)
{
    int ret;

    memset(zs, 0, sizeof(*zs));
    ret = deflateInit2(zs, level, Z_DEFLATED, COMPRESS_WINDOW_BITS, COMPRESS_MEM_LEVEL,
                       Z_DEFAULT_STRATEGY);
    if (ret != Z_OK) {
        kvmig_error(errp, "compress: deflateInit (level %d) failed: %s", level,
                    zs->msg ? zs->msg : zError(ret));
        return false;
    }
    return true;
}

bool compress_inflate_init(z_stream *zs, GError **errp)
{
    int ret;

    memset(zs, 0, sizeof(*zs));
    ret = inflateInit(zs);
    if (ret != Z_OK) {
        kvmig_error(errp, "compress: inflateInit failed: %s", zs->msg ? zs->msg : zError(ret));
        return false;
    }
    return true;
}

size_t compress_page_deflate(z_stream *zs, const uint8_t *page, uint8_t *out,
                             GError **errp)
{
    int ret = deflateReset(zs);

    if (ret == Z_OK) {
        zs->next_in = (Bytef *)page;
        zs->avail_in = TARGET_PAGE_SIZE;
        zs->next_out = out;
        zs->avail_out = compress_page_bound();
        ret = deflate(zs, Z_FINISH);
    }
    if (ret != Z_STREAM_END) {
        kvmig_error(errp, "compress: deflate failed: %s", zs->msg ? zs->msg : zError(ret));
        return 0;
    }
    return zs->total_out;
}

bool compress_page_inflate(z_stream *zs, const uint8_t *in, size_t len, uint8_t *page,
                           GError **errp)
{
    int ret = inflateReset(zs);

    if (ret != Z_OK) {
        kvmig_error(errp, "inflateReset failed: %s", zError(ret));
        return false;
    }
    zs->next_in = (Bytef *)in;
    zs->avail_in = len;
    zs->next_out = page;
    zs->avail_out = TARGET_PAGE_SIZE;
    ret = inflate(zs, Z_FINISH);
    if (ret == Z_STREAM_END) {
        if (zs->total_out != TARGET_PAGE_SIZE) {
            kvmig_error(errp, "%zu bytes of zlib data inflate to %lu bytes, not a page",
                        len, zs->total_out);
            return false;
        }
        if (zs->avail_in) {
            kvmig_error(errp, "%u of %zu bytes of zlib data follow the end of the page",
                        zs->avail_in, len);
            return false;
        }
        return true;
    }
    if (ret == Z_BUF_ERROR && zs->avail_out == 0 && zs->avail_in) {
        kvmig_error(errp, "%zu bytes of zlib data inflate to more than a page", len);
    } else if (ret == Z_BUF_ERROR) {
        kvmig_error(errp, "%zu bytes of zlib data end before the page does (%lu bytes "
                    "inflated, stream not ended)", len, zs->total_out);
    } else {
        kvmig_error(errp, "%zu bytes of invalid zlib data: %s", len,
                    zs->msg ? zs->msg : zError(ret));
    }
    return false;
}

/* ---- source ---- */

typedef struct CompressSlot {
    z_stream zs;
    bool zs_ready;
    const uint8_t *src;         /* the guest page (set by the migration thread) */
    uint8_t *page;              /* the worker's copy of it */
    uint8_t *out;               /* compress_page_bound() bytes */
    size_t out_len;
    RAMBlock *rb;
    uint64_t offset;
    bool pending;               /* submitted, result not yet written */
} CompressSlot;

struct RamCompress {
    WorkerPool *pool;
    CompressSlot *slots;
    unsigned n;
    bool wait_thread;
};

static bool compress_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    CompressSlot *s = opaque;

    (void)pool;
    (void)idx;
    memcpy(s->page, s->src, TARGET_PAGE_SIZE);
    s->out_len = compress_page_deflate(&s->zs, s->page, s->out, errp);
    return s->out_len != 0;
}

static void compress_free(RamCompress *c)
{
    if (!c) {
        return;
    }
    worker_pool_free(c->pool);
    for (unsigned i = 0; i < c->n; i++) {
        if (c->slots[i].zs_ready) {
            deflateEnd(&c->slots[i].zs);
        }
        g_free(c->slots[i].page);
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
    c->slots = g_new0(CompressSlot, c->n);
    ptrs = g_new0(void *, c->n);
    for (unsigned i = 0; i < c->n; i++) {
        CompressSlot *s = &c->slots[i];

        if (!compress_deflate_init(&s->zs, level, errp)) {
            compress_free(c);
            return false;
        }
        s->zs_ready = true;
        s->page = g_malloc(TARGET_PAGE_SIZE);
        s->out = g_malloc(compress_page_bound());
        ptrs[i] = s;
    }
    c->pool = worker_pool_new("compress", c->n, compress_job, ptrs);
    rs->compress = c;
    if (rs->stats) {
        stat_set(rs->stats, compress, 1);
    }
    return true;
}

/* Write slot @s's result: COMPRESS_PAGE, or PAGE when deflate did not help. */
static void write_result(RAMState *rs, MigStream *f, CompressSlot *s)
{
    s->pending = false;
    if (s->out_len + 4 >= TARGET_PAGE_SIZE) {
        ram_put_page_header(rs, f, s->rb, s->offset, RAM_SAVE_FLAG_PAGE);
        mig_stream_put_buffer(f, s->page, TARGET_PAGE_SIZE);
        if (rs->stats) {
            stat_add(rs->stats, normal_pages, 1);
        }
        return;
    }
    ram_put_page_header(rs, f, s->rb, s->offset, RAM_SAVE_FLAG_COMPRESS_PAGE);
    mig_stream_put_be32(f, s->out_len);
    mig_stream_put_buffer(f, s->out, s->out_len);
    if (rs->stats) {
        stat_add(rs->stats, compress_pages, 1);
        stat_add(rs->stats, compress_size, s->out_len + 4);
    }
}

static void pool_failed(RamCompress *c, MigStream *f)
{
    g_autoptr(GError) err = NULL;

    worker_pool_sync(c->pool, &err);
    mig_stream_set_error(f, -EIO, "%s", err ? err->message : "compress: workers stopped");
}

bool ram_compress_send(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    RamCompress *c = rs->compress;
    CompressSlot *s;
    int idx;

    if (!c) {
        return false;
    }
    idx = worker_pool_get_idle(c->pool, c->wait_thread);
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
        write_result(rs, f, s);
    }
    s->src = rb->host + offset;
    s->rb = rb;
    s->offset = offset;
    s->pending = true;
    worker_pool_submit(c->pool, idx);
    return true;
}

void ram_compress_flush(RAMState *rs, MigStream *f)
{
    RamCompress *c = rs->compress;

    if (!c) {
        return;
    }
    if (!worker_pool_sync(c->pool, NULL)) {
        pool_failed(c, f);
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        if (c->slots[i].pending) {
            write_result(rs, f, &c->slots[i]);
        }
    }
}

void ram_compress_cleanup(RAMState *rs)
{
    compress_free(rs->compress);
    rs->compress = NULL;
}

/* ---- destination ---- */

typedef struct DecompressSlot {
    z_stream zs;
    bool zs_ready;
    uint8_t *in;                /* compress_page_bound() bytes */
    size_t len;
    uint8_t *host;              /* the guest page */
    const char *idstr;          /* its block, for the error */
    uint64_t addr;
} DecompressSlot;

struct RamDecompress {
    WorkerPool *pool;
    DecompressSlot *slots;
    unsigned n;
};

static bool decompress_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    DecompressSlot *s = opaque;

    (void)pool;
    (void)idx;
    if (!compress_page_inflate(&s->zs, s->in, s->len, s->host, errp)) {
        g_prefix_error(errp, "compressed page at 0x%" G_GINT64_MODIFIER "x of RAM block "
                       "'%s': ", s->addr, s->idstr);
        return false;
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
        if (d->slots[i].zs_ready) {
            inflateEnd(&d->slots[i].zs);
        }
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
    d->slots = g_new0(DecompressSlot, n);
    for (unsigned i = 0; i < n; i++) {
        DecompressSlot *s = &d->slots[i];

        if (!compress_inflate_init(&s->zs, errp)) {
            decompress_free(d);
            return NULL;
        }
        s->zs_ready = true;
        s->in = g_malloc(compress_page_bound());
        ptrs[i] = s;
    }
    d->pool = worker_pool_new("decompress", n, decompress_job, ptrs);
    return d;
}

bool ram_decompress_load(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t addr,
                         GError **errp)
{
    RamDecompress *d;
    DecompressSlot *s;
    uint32_t len = mig_stream_get_be32(f);
    int idx;

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
    idx = worker_pool_get_idle(d->pool, true);
    if (idx < 0) {
        if (!worker_pool_sync(d->pool, errp)) {
            return false;
        }
        kvmig_error(errp, "compressed page at 0x%" G_GINT64_MODIFIER "x: the decompress "
                    "workers stopped", addr);
        return false;
    }
    s = worker_pool_slot(d->pool, idx);
    if (!mig_stream_get_buffer(f, s->in, len)) {
        return true;
    }
    s->len = len;
    s->host = rb->host + addr;
    s->idstr = rb->idstr;
    s->addr = addr;
    worker_pool_submit(d->pool, idx);
    return true;
}

bool ram_decompress_sync(RAMState *rs, GError **errp)
{
    return !rs->decompress || worker_pool_sync(rs->decompress->pool, errp);
}

void ram_decompress_cleanup(RAMState *rs)
{
    decompress_free(rs->decompress);
    rs->decompress = NULL;
}
