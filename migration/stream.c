/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The migration stream: buffered big-endian puts and gets over a channel,
 * guest pages queued as iovecs and written with one writev, a sticky error
 * and the max-bandwidth rate limit.
 *
 * Writer layout: small puts are copied into buf; a page queued with
 * put_buffer_async first closes the pending part of buf into an iovec, then
 * adds an iovec that points at the page itself.  A flush writes all iovecs
 * with one writev and starts buf over.  Nothing in buf moves until then,
 * so earlier iovecs stay valid.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "migration/stream.h"

struct MigStream {
    MigChannel *ch;

    /* writer: owned by the stream's thread */
    uint8_t buf[MIG_STREAM_BUF_SIZE];
    size_t buf_used;            /* bytes of buf in use (writer or reader) */
    size_t buf_iov_start;       /* first byte of buf not yet in iov[] */
    struct iovec iov[MIG_STREAM_MAX_IOV];
    int iovcnt;
    uint64_t writev_calls;

    /* reader: buf[rpos..buf_used) is unread */
    size_t rpos;
    bool eof;
    bool reader;                /* buf holds read bytes: close must not flush them */

    /* sticky error: first one wins */
    int err;
    char *err_msg;

    /* any thread reads it (atomic) */
    uint64_t transferred;

    /* rate limit, owned by the stream's thread */
    uint64_t rate_limit;        /* bytes/s, 0 = unlimited */
    int64_t window_start;       /* ns */
    uint64_t window_bytes;
};

MigStream *mig_stream_new(MigChannel *c)
{
    MigStream *f = g_new0(MigStream, 1);

    f->ch = c;
    return f;
}

MigChannel *mig_stream_channel(MigStream *f)
{
    return f->ch;
}

int mig_stream_close(MigStream *f)
{
    int ret, cret;

    /*
     * Not a reader's: its buf holds bytes read from the peer, which a flush
     * would echo back (a destination's incoming stream is bidirectional).
     */
    if (f->ch->ops->writev && !f->reader) {
        mig_stream_flush(f);
    }
    ret = f->err;
    cret = mig_channel_close(f->ch);
    if (!ret && cret) {
        ret = cret;
    }
    g_free(f->err_msg);
    g_free(f);
    return ret;
}

void mig_stream_set_error(MigStream *f, int err, const char *fmt, ...)
{
    va_list ap;

    if (f->err) {
        return;
    }
    f->err = err ? err : -EINVAL;
    va_start(ap, fmt);
    f->err_msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}

int mig_stream_error(MigStream *f)
{
    return f->err;
}

const char *mig_stream_error_msg(MigStream *f)
{
    return f->err_msg ? f->err_msg : "";
}

void mig_stream_shutdown(MigStream *f)
{
    mig_channel_shutdown(f->ch);
}

uint64_t mig_stream_transferred(MigStream *f)
{
    return __atomic_load_n(&f->transferred, __ATOMIC_RELAXED);
}

uint64_t mig_stream_writev_calls(MigStream *f)
{
    return f->writev_calls;
}

static void add_transferred(MigStream *f, uint64_t n)
{
    __atomic_store_n(&f->transferred, f->transferred + n, __ATOMIC_RELAXED);
}

/* ---- rate limit ---- */

void mig_stream_set_rate_limit(MigStream *f, uint64_t bytes_per_sec)
{
    f->rate_limit = bytes_per_sec;
}

static uint64_t window_budget(MigStream *f)
{
    return MAX(f->rate_limit / (1000000000LL / MIG_STREAM_RATE_WINDOW_NS), 1);
}

/* Move the window up to @now, carrying over bytes written beyond budget. */
static void rate_advance(MigStream *f, int64_t now)
{
    uint64_t budget = window_budget(f);

    if (now - f->window_start > 10 * MIG_STREAM_RATE_WINDOW_NS) {
        f->window_start = now;
        f->window_bytes = 0;
        return;
    }
    while (now >= f->window_start + MIG_STREAM_RATE_WINDOW_NS) {
        f->window_start += MIG_STREAM_RATE_WINDOW_NS;
        f->window_bytes = f->window_bytes > budget ? f->window_bytes - budget : 0;
    }
}

int64_t mig_stream_rate_limit_delay(MigStream *f, int64_t now_ns)
{
    if (!f->rate_limit) {
        return 0;
    }
    rate_advance(f, now_ns);
    if (f->window_bytes < window_budget(f)) {
        return 0;
    }
    return f->window_start + MIG_STREAM_RATE_WINDOW_NS - now_ns;
}

void mig_stream_rate_account(MigStream *f, int64_t now_ns, uint64_t bytes)
{
    if (!f->rate_limit) {
        return;
    }
    rate_advance(f, now_ns);
    f->window_bytes += bytes;
}

/* Sleep until the budget allows more, in slices so a cancel is seen soon. */
void mig_stream_rate_wait(MigStream *f)
{
    for (;;) {
        int64_t d = mig_stream_rate_limit_delay(f, g_get_monotonic_time() * 1000);
        if (d <= 0 || __atomic_load_n(&f->ch->shut, __ATOMIC_ACQUIRE)) {
            return;
        }
        g_usleep(MIN(d / 1000, 10000) + 1);
    }
}

/* ---- writing ---- */

static void close_buf_iov(MigStream *f)
{
    if (f->buf_used > f->buf_iov_start) {
        f->iov[f->iovcnt].iov_base = f->buf + f->buf_iov_start;
        f->iov[f->iovcnt].iov_len = f->buf_used - f->buf_iov_start;
        f->iovcnt++;
        f->buf_iov_start = f->buf_used;
    }
}

int mig_stream_flush(MigStream *f)
{
    uint64_t bytes = 0;
    int ret;

    if (f->err) {
        return f->err;
    }
    close_buf_iov(f);
    if (!f->iovcnt) {
        return 0;
    }
    for (int i = 0; i < f->iovcnt; i++) {
        bytes += f->iov[i].iov_len;
    }
    mig_stream_rate_wait(f);
    ret = mig_channel_writev(f->ch, f->iov, f->iovcnt);
    f->writev_calls++;
    if (ret < 0) {
        mig_stream_set_error(f, ret, "write to %s failed: %s", f->ch->desc,
                             mig_channel_strerror(f->ch, ret));
    }
    mig_stream_rate_account(f, g_get_monotonic_time() * 1000, bytes);
    f->iovcnt = 0;
    f->buf_used = f->buf_iov_start = 0;
    return f->err;
}

bool mig_stream_write_page(MigStream *f, unsigned block, uint64_t offset,
                           const void *host, size_t len)
{
    int ret;

    if (!mig_channel_has_write_page(f->ch)) {
        return false;
    }
    if (f->err) {
        return true;
    }
    mig_stream_rate_wait(f);
    ret = mig_channel_write_page(f->ch, block, offset, host, len);
    if (ret < 0) {
        mig_stream_set_error(f, ret, "writing RAM block %u offset 0x%" G_GINT64_MODIFIER
                             "x to %s failed: %s", block, offset, f->ch->desc,
                             ret == -ECANCELED ? "cancelled" : g_strerror(-ret));
        return true;
    }
    add_transferred(f, len);
    mig_stream_rate_account(f, g_get_monotonic_time() * 1000, len);
    return true;
}

void mig_stream_put_buffer(MigStream *f, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len && !f->err) {
        size_t n = MIN(len, sizeof(f->buf) - f->buf_used);
        memcpy(f->buf + f->buf_used, p, n);
        f->buf_used += n;
        add_transferred(f, n);
        p += n;
        len -= n;
        /* Keep one iovec free for closing the buffer. */
        if (f->buf_used == sizeof(f->buf) || f->iovcnt >= MIG_STREAM_MAX_IOV - 1) {
            mig_stream_flush(f);
        }
    }
}

void mig_stream_put_buffer_async(MigStream *f, const void *buf, size_t len)
{
    if (f->err || !len) {
        return;
    }
    close_buf_iov(f);
    f->iov[f->iovcnt].iov_base = (void *)buf;
    f->iov[f->iovcnt].iov_len = len;
    f->iovcnt++;
    add_transferred(f, len);
    /* Two slots: a buffer segment and the next page. */
    if (f->iovcnt >= MIG_STREAM_MAX_IOV - 2) {
        mig_stream_flush(f);
    }
}

void mig_stream_put_u8(MigStream *f, uint8_t v)
{
    if (f->err) {
        return;
    }
    if (f->buf_used < sizeof(f->buf)) {
        f->buf[f->buf_used++] = v;
        add_transferred(f, 1);
        if (f->buf_used == sizeof(f->buf)) {
            mig_stream_flush(f);
        }
        return;
    }
    mig_stream_put_buffer(f, &v, 1);
}

void mig_stream_put_be16(MigStream *f, uint16_t v)
{
    uint8_t b[2] = { v >> 8, v };

    mig_stream_put_buffer(f, b, 2);
}

void mig_stream_put_be32(MigStream *f, uint32_t v)
{
    uint8_t b[4] = { v >> 24, v >> 16, v >> 8, v };

    mig_stream_put_buffer(f, b, 4);
}

void mig_stream_put_be64(MigStream *f, uint64_t v)
{
    mig_stream_put_be32(f, v >> 32);
    mig_stream_put_be32(f, v);
}

/* ---- reading ---- */

static void read_failed(MigStream *f, ssize_t n)
{
    if (n == 0) {
        mig_stream_set_error(f, -EPIPE, "unexpected end of stream at byte %" G_GUINT64_FORMAT,
                             f->transferred);
    } else {
        mig_stream_set_error(f, n, "read from %s failed: %s", f->ch->desc,
                             mig_channel_strerror(f->ch, n));
    }
}

/* Refill buf; returns bytes available (0: end of stream or error). */
static size_t fill(MigStream *f)
{
    ssize_t n;

    if (f->rpos < f->buf_used) {
        return f->buf_used - f->rpos;
    }
    if (f->err || f->eof) {
        return 0;
    }
    f->rpos = f->buf_used = 0;
    f->reader = true;
    n = mig_channel_read(f->ch, f->buf, sizeof(f->buf));
    if (n < 0) {
        read_failed(f, n);
        return 0;
    }
    if (n == 0) {
        f->eof = true;
        return 0;
    }
    f->buf_used = n;
    return n;
}

bool mig_stream_get_buffer(MigStream *f, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        size_t avail;

        if (f->err) {
            return false;
        }
        avail = f->buf_used - f->rpos;
        if (!avail && len >= sizeof(f->buf) / 2) {
            /* Big reads (pages in bulk) go straight to their destination. */
            ssize_t n = f->eof ? 0 : mig_channel_read(f->ch, p, len);
            if (n <= 0) {
                read_failed(f, n);
                return false;
            }
            add_transferred(f, n);
            p += n;
            len -= n;
            continue;
        }
        if (!avail) {
            avail = fill(f);
            if (!avail) {
                if (!f->err) {
                    read_failed(f, 0);
                }
                return false;
            }
        }
        avail = MIN(avail, len);
        memcpy(p, f->buf + f->rpos, avail);
        f->rpos += avail;
        add_transferred(f, avail);
        p += avail;
        len -= avail;
    }
    return true;
}

const uint8_t *mig_stream_peek_buffered(MigStream *f, size_t len)
{
    if (f->err || f->buf_used - f->rpos < len) {
        return NULL;
    }
    return f->buf + f->rpos;
}

bool mig_stream_peek_u8(MigStream *f, uint8_t *v)
{
    if (!fill(f)) {
        return false;
    }
    *v = f->buf[f->rpos];
    return true;
}

bool mig_stream_at_eof(MigStream *f)
{
    return !fill(f) && !f->err;
}

uint8_t mig_stream_get_u8(MigStream *f)
{
    uint8_t v = 0;

    if (f->rpos < f->buf_used && !f->err) {
        add_transferred(f, 1);
        return f->buf[f->rpos++];
    }
    return mig_stream_get_buffer(f, &v, 1) ? v : 0;
}

uint16_t mig_stream_get_be16(MigStream *f)
{
    uint8_t b[2];

    if (!mig_stream_get_buffer(f, b, 2)) {
        return 0;
    }
    return (uint16_t)b[0] << 8 | b[1];
}

uint32_t mig_stream_get_be32(MigStream *f)
{
    uint8_t b[4];

    if (!mig_stream_get_buffer(f, b, 4)) {
        return 0;
    }
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t mig_stream_get_be64(MigStream *f)
{
    uint64_t hi = mig_stream_get_be32(f);

    return hi << 32 | mig_stream_get_be32(f);
}
