/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MigStream: the buffered, big-endian migration stream (kvmig's QEMUFile)
 * over a MigChannel, with a sticky error, zero-copy page queueing and the
 * max-bandwidth rate limit.
 *
 * Threads: a stream belongs to one thread (the migration thread or the
 * incoming thread).  Only mig_stream_shutdown() and the counters read with
 * mig_stream_transferred() may be used from other threads.
 *
 * Sticky error: after the first failure every put/get is a no-op (gets
 * return 0) and mig_stream_error() reports it; callers check once per
 * record or section instead of after every call.
 */
#ifndef KVMIG_MIGRATION_STREAM_H
#define KVMIG_MIGRATION_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/channel.h"

typedef struct MigStream MigStream;

#define MIG_STREAM_BUF_SIZE  262144 /* bytes buffered before a writev; bytes per read */
#define MIG_STREAM_MAX_IOV   512    /* iovecs per writev: ~1 MiB of pages */
/* The rate limit is enforced per window of this length. */
#define MIG_STREAM_RATE_WINDOW_NS (100 * 1000 * 1000LL)

/* Wrap @c (ownership passes to the stream). */
MigStream *mig_stream_new(MigChannel *c);
/*
 * Flush (writers), close the channel, free.  Returns 0, or the stream's
 * error, or the error of the final flush/close.
 */
int mig_stream_close(MigStream *f);
MigChannel *mig_stream_channel(MigStream *f);

/* --- writing --- */
void mig_stream_put_u8(MigStream *f, uint8_t v);
void mig_stream_put_be16(MigStream *f, uint16_t v);
void mig_stream_put_be32(MigStream *f, uint32_t v);
void mig_stream_put_be64(MigStream *f, uint64_t v);
/* Copy @len bytes into the stream buffer. */
void mig_stream_put_buffer(MigStream *f, const void *buf, size_t len);
/*
 * Queue @len bytes at @buf without copying; they are read when the stream
 * is flushed (at the latest by the next mig_stream_flush()), so @buf must
 * stay mapped until then.  Guest pages go this way.
 */
void mig_stream_put_buffer_async(MigStream *f, const void *buf, size_t len);
/* Write everything buffered and queued; returns the sticky error (0 = ok). */
int mig_stream_flush(MigStream *f);
/*
 * Guest RAM out of band, when the channel can (mig_channel_has_write_page:
 * rdma:).  Returns false, doing nothing, when it cannot: the caller then
 * sends a stream record.  Otherwise the page is handed to the channel (no
 * stream record), counted in transferred and in the rate limit, and true is
 * returned; a failure sets the sticky error.  The caller must not place the
 * same page twice between two flushes (ram-save.c: a page is sent once per
 * pass, and every iteration ends with a flush).
 */
bool mig_stream_write_page(MigStream *f, unsigned block, uint64_t offset,
                           const void *host, size_t len);

/* --- reading --- */
uint8_t mig_stream_get_u8(MigStream *f);
uint16_t mig_stream_get_be16(MigStream *f);
uint32_t mig_stream_get_be32(MigStream *f);
uint64_t mig_stream_get_be64(MigStream *f);
/*
 * Read exactly @len bytes into @buf (large reads bypass the buffer).  On a
 * short stream sets the error (-EPIPE, "unexpected end of stream") and
 * returns false.
 */
bool mig_stream_get_buffer(MigStream *f, void *buf, size_t len);
/*
 * The next @len unread bytes if they are in the buffer already, else NULL:
 * never reads the channel, never blocks, consumes nothing.
 */
const uint8_t *mig_stream_peek_buffered(MigStream *f, size_t len);
/* Look at the next byte without consuming it; false at end or on error. */
bool mig_stream_peek_u8(MigStream *f, uint8_t *v);
/* True at a clean end of stream (no more bytes, no error). */
bool mig_stream_at_eof(MigStream *f);

/* --- errors --- */
/* 0 or a negative errno. */
int mig_stream_error(MigStream *f);
/* The message of the sticky error ("" when none). */
const char *mig_stream_error_msg(MigStream *f);
/* Set the sticky error unless one is set already (first error wins). */
void mig_stream_set_error(MigStream *f, int err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Any thread: shut the channel down so blocked I/O fails with -ECANCELED. */
void mig_stream_shutdown(MigStream *f);

/* --- accounting and rate limit --- */
/* Bytes put into the stream so far (buffered or written). Any thread. */
uint64_t mig_stream_transferred(MigStream *f);
/*
 * Limit writes to @bytes_per_sec (0 = unlimited).  Enforced at flush time:
 * once a window's budget is spent, the flush sleeps until the next window.
 */
void mig_stream_set_rate_limit(MigStream *f, uint64_t bytes_per_sec);
/*
 * How long a write of more bytes must wait at time @now_ns under the
 * current limit (0 = go ahead).  Pure bookkeeping, for tests and for the
 * migration thread's pacing.
 */
int64_t mig_stream_rate_limit_delay(MigStream *f, int64_t now_ns);
/* Account @bytes written at @now_ns in the rate window (done by flush). */
void mig_stream_rate_account(MigStream *f, int64_t now_ns, uint64_t bytes);
/*
 * Sleep until the rate window has room again (what flush does before each
 * write); for bytes that go out on other connections (multifd channels),
 * accounted here with mig_stream_rate_account.
 */
void mig_stream_rate_wait(MigStream *f);
/* Number of writev calls made (for tests and stats). */
uint64_t mig_stream_writev_calls(MigStream *f);

#endif
