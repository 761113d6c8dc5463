/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * multifd's channels (wire layout and ordering in multifd.h).
 *
 * Source: the migration thread fills one batch of up to MULTIFD_MAX_PAGES
 * pages of one block (copied, read after their dirty bit was cleared) and
 * hands the full batch to an idle worker by swapping it with the worker's
 * own; the worker compresses it and writes the packet on its socket.  The
 * max-bandwidth limit applies to the main channel only.
 *
 * Destination: each worker's job is "receive packets on my socket and place
 * their pages until a sync packet".  The loader, at MULTIFD_FLUSH in the main
 * stream, waits for all of them (worker_pool_sync) and submits the jobs
 * again.  The first jobs are submitted when the RAM section's MEM_SIZE has
 * been checked: no page is placed before the block set is known to match.
 */
#include <errno.h>
#include <string.h>

#include "migration/migration-int.h"
#include "migration/multifd.h"
#include "migration/workers.h"
#include "util/error.h"

/* ---- source ---- */

typedef struct SendBatch {
    RAMBlock *rb;
    uint32_t n;
    uint64_t offsets[MULTIFD_MAX_PAGES];
    uint8_t *data;              /* MULTIFD_MAX_DATA */
} SendBatch;

typedef struct SendSlot {
    MultiFDSend *ms;
    unsigned id;
    MigChannel *ch;
    MultiFDCodec *codec;        /* NULL for none */
    uint64_t bytes;             /* atomic: packet bytes written on this channel */
    uint64_t pages;             /* atomic: pages in them */
    /* the job, filled by the migration thread */
    bool sync;
    uint64_t packet_num;
    SendBatch *batch;
    /* the worker's buffers */
    uint8_t offbuf[MULTIFD_MAX_PAGES * 8];
    uint8_t *out;               /* MULTIFD_MAX_PAYLOAD, compressed methods */
} SendSlot;

struct MultiFDSend {
    MigrationState *s;
    unsigned n;
    MultiFDCompression method;
    SendSlot *slots;
    WorkerPool *pool;
    SendBatch *cur;             /* being filled by the migration thread */
    uint64_t next_packet;
    uint64_t bytes;             /* atomic */
    uint64_t rate_accounted;    /* of bytes, in the main stream's rate limit */
};

static SendBatch *batch_new(void)
{
    SendBatch *b = g_new0(SendBatch, 1);

    b->data = g_malloc(MULTIFD_MAX_DATA);
    return b;
}

static void batch_free(SendBatch *b)
{
    if (b) {
        g_free(b->data);
        g_free(b);
    }
}

static bool send_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    SendSlot *sl = opaque;
    MultiFDHdr h = { .packet_num = sl->packet_num };
    uint8_t hdr[MULTIFD_HDR_SIZE];
    struct iovec iov[4];
    int iovcnt = 1, ret;
    uint64_t total;

    (void)pool;
    (void)idx;
    if (sl->sync) {
        h.flags = MULTIFD_FLAG_SYNC;
    } else {
        SendBatch *b = sl->batch;
        size_t data_len = (size_t)b->n * MULTIFD_PAGE_SIZE;
        const void *payload = b->data;

        h.page_count = b->n;
        h.name_len = strlen(b->rb->idstr);
        if (sl->codec) {
            size_t n = multifd_compress(sl->codec, b->data, data_len, sl->out, errp);
            if (!n) {
                return false;
            }
            payload = sl->out;
            h.payload_size = n;
        } else {
            h.payload_size = data_len;
        }
        for (uint32_t i = 0; i < b->n; i++) {
            uint64_t o = b->offsets[i];
            for (int k = 0; k < 8; k++) {
                sl->offbuf[8 * i + k] = o >> (56 - 8 * k);
            }
        }
        iov[1] = (struct iovec){ .iov_base = b->rb->idstr, .iov_len = h.name_len };
        iov[2] = (struct iovec){ .iov_base = sl->offbuf, .iov_len = 8 * b->n };
        iov[3] = (struct iovec){ .iov_base = (void *)payload, .iov_len = h.payload_size };
        iovcnt = 4;
    }
    multifd_hdr_encode(&h, hdr);
    iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
    total = 0;
    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    ret = mig_channel_writev(sl->ch, iov, iovcnt);
    if (ret < 0) {
        kvmig_error(errp, "multifd channel %u (%s): %s", sl->id, sl->ch->desc,
                    mig_channel_strerror(sl->ch, ret));
        return false;
    }
    __atomic_fetch_add(&sl->bytes, total, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sl->pages, h.page_count, __ATOMIC_RELAXED);
    __atomic_fetch_add(&sl->ms->bytes, total, __ATOMIC_RELAXED);
    return true;
}

MultiFDSend *multifd_send_new(MigrationState *s, const MigUri *u, const MigTlsSide *tls,
                              GError **errp)
{
    MultiFDSend *ms = g_new0(MultiFDSend, 1);
    g_autofree void **slotp = NULL;
    MultiFDInit init = { 0 };
    uint8_t buf[MULTIFD_INIT_SIZE];
    MigrationParameters p;

    /* channels, method and level must agree with each other: one copy */
    mig_opts_snapshot(s->opts, NULL, &p);
    ms->s = s;
    ms->n = p.multifd_channels;
    ms->method = p.multifd_compression;
    ms->slots = g_new0(SendSlot, ms->n);
    ms->cur = batch_new();
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = g_random_int();
        memcpy(init.uuid + i, &r, 4);
    }
    init.nchannels = ms->n;
    init.compression = ms->method;
    slotp = g_new0(void *, ms->n);
    for (unsigned i = 0; i < ms->n; i++) {
        SendSlot *sl = &ms->slots[i];
        int level = ms->method == MULTIFD_COMPRESSION_ZLIB
                    ? p.multifd_zlib_level : p.multifd_zstd_level;
        int ret;

        sl->ms = ms;
        sl->id = i;
        sl->batch = batch_new();
        slotp[i] = sl;
        if (ms->method != MULTIFD_COMPRESSION_NONE) {
            sl->codec = multifd_codec_new(ms->method, level, true, errp);
            if (!sl->codec) {
                goto fail;
            }
            sl->out = g_malloc(MULTIFD_MAX_PAYLOAD);
        }
        sl->ch = mig_socket_connect(u, &s->status, errp);
        if (!sl->ch) {
            g_prefix_error(errp, "multifd channel %u (is the multifd capability on at the "
                           "destination?): ", i);
            goto fail;
        }
        /* each channel its own session: encryption runs on its worker's thread */
        sl->ch = migration_tls_wrap(s, sl->ch, tls, false, errp);
        if (!sl->ch) {
            g_prefix_error(errp, "multifd channel %u: ", i);
            goto fail;
        }
        init.id = i;
        multifd_init_encode(&init, buf);
        ret = mig_channel_write_all(sl->ch, buf, sizeof(buf));
        if (ret < 0) {
            kvmig_error(errp, "multifd channel %u: %s", i, mig_channel_strerror(sl->ch, ret));
            goto fail;
        }
    }
    ms->pool = worker_pool_new("multifd-send", ms->n, send_job, slotp);
    return ms;

fail:
    multifd_send_free(ms, true, NULL, NULL, NULL);
    return NULL;
}

static void send_error(MultiFDSend *ms, MigStream *f)
{
    g_autoptr(GError) err = NULL;

    if (!worker_pool_sync(ms->pool, &err) && err) {
        mig_stream_set_error(f, -EIO, "%s", err->message);
    } else {
        mig_stream_set_error(f, -ECANCELED, "multifd: the channels were cancelled");
    }
}

static void flush_batch(MultiFDSend *ms, MigStream *f)
{
    SendBatch *b;
    SendSlot *sl;
    uint64_t sent;
    int idx;

    if (!ms->cur->n) {
        return;
    }
    /*
     * max-bandwidth covers the channels too: what they sent since the last
     * batch counts in the main stream's window (a couple of packets late,
     * as the size of a compressed packet is known once it is sent), and
     * the next batch waits for room like a write of the main stream.
     */
    sent = multifd_send_bytes(ms);
    mig_stream_rate_account(f, g_get_monotonic_time() * 1000, sent - ms->rate_accounted);
    ms->rate_accounted = sent;
    mig_stream_rate_wait(f);
    idx = worker_pool_get_idle(ms->pool, true);
    if (idx < 0) {
        ms->cur->n = 0;
        send_error(ms, f);
        return;
    }
    sl = worker_pool_slot(ms->pool, idx);
    b = sl->batch;
    sl->batch = ms->cur;
    sl->sync = false;
    sl->packet_num = ms->next_packet++;
    ms->cur = b;
    ms->cur->n = 0;
    ms->cur->rb = NULL;
    worker_pool_submit(ms->pool, idx);
}

void multifd_send_page(MultiFDSend *ms, MigStream *f, RAMBlock *rb, uint64_t offset)
{
    SendBatch *b = ms->cur;

    if (mig_stream_error(f)) {
        return;
    }
    if (b->n && (b->rb != rb || offset <= b->offsets[b->n - 1])) {
        flush_batch(ms, f);
        b = ms->cur;
    }
    b->rb = rb;
    b->offsets[b->n] = offset;
    memcpy(b->data + (size_t)b->n * MULTIFD_PAGE_SIZE, rb->host + offset, MULTIFD_PAGE_SIZE);
    if (++b->n == MULTIFD_MAX_PAGES) {
        flush_batch(ms, f);
    }
}

void multifd_send_sync(MultiFDSend *ms, MigStream *f)
{
    g_autoptr(GError) err = NULL;

    if (mig_stream_error(f)) {
        return;
    }
    flush_batch(ms, f);
    if (!worker_pool_sync(ms->pool, &err)) {
        mig_stream_set_error(f, -EIO, "%s", err ? err->message : "multifd failed");
        return;
    }
    if (worker_pool_cancelled(ms->pool)) {
        mig_stream_set_error(f, -ECANCELED, "multifd: the channels were cancelled");
        return;
    }
    for (unsigned i = 0; i < ms->n; i++) {
        SendSlot *sl = worker_pool_slot(ms->pool, i);

        sl->sync = true;
        sl->packet_num = ms->next_packet++;
        worker_pool_submit(ms->pool, i);
    }
    /*
     * The marker goes out now: the destination restarts its channels when
     * it reads it, and until then a channel it has stopped reading could
     * block our next packet on that channel.
     */
    mig_stream_put_be64(f, RAM_SAVE_FLAG_MULTIFD_FLUSH);
    mig_stream_flush(f);
}

uint64_t multifd_send_bytes(MultiFDSend *ms)
{
    return ms ? __atomic_load_n(&ms->bytes, __ATOMIC_RELAXED) : 0;
}

void multifd_send_drain(MultiFDSend *ms)
{
    if (ms && ms->pool) {
        worker_pool_sync(ms->pool, NULL);
    }
}

unsigned multifd_send_channel_bytes(MultiFDSend *ms, uint64_t *out, uint64_t *pages,
                                    unsigned max)
{
    unsigned n = ms ? MIN(ms->n, max) : 0;

    for (unsigned i = 0; i < n; i++) {
        out[i] = __atomic_load_n(&ms->slots[i].bytes, __ATOMIC_RELAXED);
        pages[i] = __atomic_load_n(&ms->slots[i].pages, __ATOMIC_RELAXED);
    }
    return n;
}

void multifd_send_shutdown(MultiFDSend *ms)
{
    if (!ms) {
        return;
    }
    for (unsigned i = 0; i < ms->n; i++) {
        if (ms->slots[i].ch) {
            mig_channel_shutdown(ms->slots[i].ch);
        }
    }
}

uint64_t multifd_send_free(MultiFDSend *ms, bool abort, uint64_t *chan_bytes,
                           uint64_t *chan_pages, unsigned *nchan)
{
    uint64_t bytes;

    if (nchan) {
        *nchan = 0;
    }
    if (!ms) {
        return 0;
    }
    if (ms->pool) {
        if (abort) {
            /* a job may be blocked on a destination that stopped reading */
            worker_pool_cancel(ms->pool);
            multifd_send_shutdown(ms);
        } else {
            /* the last sync packets are still going out */
            worker_pool_sync(ms->pool, NULL);
        }
    }
    worker_pool_free(ms->pool);
    if (nchan) {
        /* the workers are joined: these are the final counts */
        *nchan = multifd_send_channel_bytes(ms, chan_bytes, chan_pages,
                                            MULTIFD_MAX_CHANNELS);
    }
    for (unsigned i = 0; i < ms->n; i++) {
        SendSlot *sl = &ms->slots[i];

        if (sl->ch) {
            mig_channel_close(sl->ch);
        }
        multifd_codec_free(sl->codec);
        g_free(sl->out);
        batch_free(sl->batch);
    }
    batch_free(ms->cur);
    bytes = ms->bytes;
    g_free(ms->slots);
    g_free(ms);
    return bytes;
}

/* ---- destination ---- */

typedef struct RecvSlot {
    MultiFDRecv *mr;
    unsigned id;
    MigChannel *ch;
    MultiFDCodec *codec;
    uint64_t last_packet;
    uint64_t bytes;             /* atomic: packet bytes read on this channel */
    bool seen;
    uint64_t offsets[MULTIFD_MAX_PAGES];
    uint8_t offbuf[MULTIFD_MAX_PAGES * 8];
    uint8_t *payload;           /* MULTIFD_MAX_PAYLOAD */
    uint8_t *data;              /* MULTIFD_MAX_DATA */
} RecvSlot;

struct MultiFDRecv {
    MigrationState *s;
    unsigned n;
    MultiFDCompression method;
    RecvSlot *slots;
    WorkerPool *pool;
    bool started;
    uint64_t pages;             /* atomic */
};

static bool recv_read(RecvSlot *sl, void *buf, size_t len, GError **errp)
{
    int ret = mig_channel_read_all(sl->ch, buf, len);

    if (ret < 0) {
        kvmig_error(errp, "multifd channel %u (%s): %s", sl->id, sl->ch->desc,
                    ret == -EPIPE ? "connection closed" : mig_channel_strerror(sl->ch, ret));
        return false;
    }
    __atomic_fetch_add(&sl->bytes, len, __ATOMIC_RELAXED);
    return true;
}

static bool recv_job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    RecvSlot *sl = opaque;
    MultiFDRecv *mr = sl->mr;

    (void)idx;
    for (;;) {
        uint8_t hdr[MULTIFD_HDR_SIZE];
        char name[256];
        MultiFDHdr h;
        RAMBlock *rb;
        size_t data_len;

        if (worker_pool_cancelled(pool)) {
            kvmig_error(errp, "multifd channel %u: cancelled", sl->id);
            return false;
        }
        if (!recv_read(sl, hdr, sizeof(hdr), errp)) {
            return false;
        }
        if (!multifd_hdr_decode(hdr, mr->method, &h, errp)) {
            g_prefix_error(errp, "channel %u: ", sl->id);
            return false;
        }
        if (sl->seen && h.packet_num <= sl->last_packet) {
            kvmig_error(errp, "multifd channel %u: packet %" G_GUINT64_FORMAT " after %"
                        G_GUINT64_FORMAT, sl->id, h.packet_num, sl->last_packet);
            return false;
        }
        sl->seen = true;
        sl->last_packet = h.packet_num;
        if (h.flags & MULTIFD_FLAG_SYNC) {
            return true;
        }
        if (!recv_read(sl, name, h.name_len, errp)) {
            return false;
        }
        name[h.name_len] = 0;
        rb = strlen(name) == h.name_len ? machine_find_ram_block(mr->s->m, name) : NULL;
        if (!rb) {
            g_autofree char *esc = g_strescape(name, NULL);
            kvmig_error(errp, "multifd channel %u: packet %" G_GUINT64_FORMAT " for unknown "
                        "RAM block '%s'", sl->id, h.packet_num, esc);
            return false;
        }
        if (!recv_read(sl, sl->offbuf, 8 * h.page_count, errp)) {
            return false;
        }
        if (!multifd_offsets_decode(sl->offbuf, h.page_count, rb->used_length, sl->offsets,
                                    errp)) {
            g_prefix_error(errp, "channel %u, block '%s': ", sl->id, rb->idstr);
            return false;
        }
        data_len = (size_t)h.page_count * MULTIFD_PAGE_SIZE;
        if (!sl->codec) {
            if (!recv_read(sl, sl->data, data_len, errp)) {
                return false;
            }
        } else {
            if (!recv_read(sl, sl->payload, h.payload_size, errp)) {
                return false;
            }
            if (!multifd_decompress(sl->codec, sl->payload, h.payload_size, sl->data,
                                    data_len, errp)) {
                g_prefix_error(errp, "channel %u, packet %" G_GUINT64_FORMAT ": ", sl->id,
                               h.packet_num);
                return false;
            }
        }
        for (uint32_t i = 0; i < h.page_count; i++) {
            memcpy(rb->host + sl->offsets[i], sl->data + (size_t)i * MULTIFD_PAGE_SIZE,
                   MULTIFD_PAGE_SIZE);
        }
        __atomic_fetch_add(&mr->pages, h.page_count, __ATOMIC_RELAXED);
    }
}

MultiFDRecv *multifd_recv_new(MigrationState *s, MigChannel **chans, unsigned n,
                              MultiFDCompression method, GError **errp)
{
    MultiFDRecv *mr = g_new0(MultiFDRecv, 1);
    g_autofree void **slotp = g_new0(void *, n);

    mr->s = s;
    mr->n = n;
    mr->method = method;
    mr->slots = g_new0(RecvSlot, n);
    for (unsigned i = 0; i < n; i++) {
        RecvSlot *sl = &mr->slots[i];

        sl->mr = mr;
        sl->id = i;
        sl->ch = chans[i];
        chans[i] = NULL;
        sl->data = g_malloc(MULTIFD_MAX_DATA);
        slotp[i] = sl;
    }
    for (unsigned i = 0; i < n; i++) {
        RecvSlot *sl = &mr->slots[i];

        if (mr->method != MULTIFD_COMPRESSION_NONE) {
            sl->codec = multifd_codec_new(mr->method, 0, false, errp);
            if (!sl->codec) {
                multifd_recv_free(mr);
                return NULL;
            }
            sl->payload = g_malloc(MULTIFD_MAX_PAYLOAD);
        }
    }
    mr->pool = worker_pool_new("multifd-recv", n, recv_job, slotp);
    return mr;
}

static void recv_submit_all(MultiFDRecv *mr)
{
    for (unsigned i = 0; i < mr->n; i++) {
        worker_pool_submit(mr->pool, i);
    }
}

void multifd_recv_start(MultiFDRecv *mr)
{
    if (mr && !mr->started) {
        mr->started = true;
        recv_submit_all(mr);
    }
}

bool multifd_recv_sync(MultiFDRecv *mr, GError **errp)
{
    if (!mr->started) {
        kvmig_error(errp, "multifd: a MULTIFD_FLUSH record before MEM_SIZE");
        return false;
    }
    if (!worker_pool_sync(mr->pool, errp)) {
        return false;
    }
    if (worker_pool_cancelled(mr->pool)) {
        kvmig_error(errp, "multifd: cancelled");
        return false;
    }
    recv_submit_all(mr);
    return true;
}

uint64_t multifd_recv_pages(MultiFDRecv *mr)
{
    return mr ? __atomic_load_n(&mr->pages, __ATOMIC_RELAXED) : 0;
}

unsigned multifd_recv_channel_bytes(MultiFDRecv *mr, uint64_t *out, unsigned max)
{
    unsigned n = mr ? MIN(mr->n, max) : 0;

    for (unsigned i = 0; i < n; i++) {
        out[i] = __atomic_load_n(&mr->slots[i].bytes, __ATOMIC_RELAXED);
    }
    return n;
}

void multifd_recv_shutdown(MultiFDRecv *mr)
{
    if (!mr) {
        return;
    }
    if (mr->pool) {
        worker_pool_cancel(mr->pool);
    }
    for (unsigned i = 0; i < mr->n; i++) {
        if (mr->slots[i].ch) {
            mig_channel_shutdown(mr->slots[i].ch);
        }
    }
}

void multifd_recv_free(MultiFDRecv *mr)
{
    if (!mr) {
        return;
    }
    multifd_recv_shutdown(mr);
    worker_pool_free(mr->pool);
    for (unsigned i = 0; i < mr->n; i++) {
        RecvSlot *sl = &mr->slots[i];

        if (sl->ch) {
            mig_channel_close(sl->ch);
        }
        multifd_codec_free(sl->codec);
        g_free(sl->payload);
        g_free(sl->data);
    }
    g_free(mr->slots);
    g_free(mr);
}
