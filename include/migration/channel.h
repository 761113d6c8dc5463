/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration channels: the byte pipes a migration stream runs over (sockets,
 * a child's pipes, a file, a passed fd, memory), behind one ops table.
 *
 * A channel is owned by exactly one MigStream (or by the code that opened it
 * until it hands it to one).  read/writev are called only by the owner's
 * thread; shutdown may be called from any thread to make a blocked read or
 * write fail soon (cancel).  close is called once, by the owner.
 */
#ifndef KVMIG_MIGRATION_CHANNEL_H
#define KVMIG_MIGRATION_CHANNEL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct MigChannel MigChannel;

typedef struct MigChannelOps {
    /*
     * read: blocking; read up to @len bytes.  Returns the number read (> 0),
     * 0 at end of stream, or -errno.  NULL for write-only channels.
     */
    ssize_t (*read)(MigChannel *c, void *buf, size_t len);
    /*
     * writev: blocking; write every byte of @iov (looping over short
     * writes).  Returns 0 or -errno.  NULL for read-only channels.
     */
    int (*writev)(MigChannel *c, const struct iovec *iov, int iovcnt);
    /*
     * shutdown: any thread; make pending and future read/writev calls fail
     * (or end) soon.  May be NULL (then cancel waits for the current call).
     */
    void (*shutdown)(MigChannel *c);
    /*
     * close: owner, once; release everything.  Returns 0, or -errno for a
     * failure that means data may be lost (close(2) of a file, a child
     * process that exited non-zero).  Frees @c.
     */
    int (*close)(MigChannel *c);
    /*
     * write_page: optional (NULL: pages travel in the stream as records).
     * Owner's thread, outgoing only.  Place @len bytes of guest RAM at
     * @host -- RAM block @block (its index in Machine.ram_blocks, the same
     * on both sides) at @offset -- at the same place in the destination's
     * RAM, out of band: the caller writes no stream record for it.  @host
     * must stay mapped until close.  Ordering: the page lands before any
     * stream byte given to a later writev is delivered, and after every
     * stream byte given to an earlier writev has been applied by the
     * destination's loader.  Returns 0 or -errno.  Used by rdma: (RDMA
     * WRITE into the destination's registered memory).
     */
    int (*write_page)(MigChannel *c, unsigned block, uint64_t offset, const void *host,
                      size_t len);
    /*
     * strerror: optional (NULL: g_strerror).  Any thread.  The text for an
     * error @err (-errno) that read/writev of @c returned, when the channel
     * knows better than errno (TLS: GnuTLS's reason behind -EBADMSG).
     */
    const char *(*strerror)(MigChannel *c, int err);
    /*
     * poll_in: optional (NULL: assume readable).  Owner's thread.  Wait at
     * most @timeout_ms for bytes (or end of stream) to read; true if a read
     * would not block.
     */
    bool (*poll_in)(MigChannel *c, int timeout_ms);
} MigChannelOps;

struct MigChannel {
    const MigChannelOps *ops;
    char *desc;             /* "tcp:127.0.0.1:4444", for messages */
    /*
     * Both directions work: the destination can answer on the same channel
     * (the return path).  Set by the transport at creation.
     */
    bool bidirectional;
    int shut;               /* atomic: shutdown was requested */
};

/* Thin wrappers: the only way generic code touches a channel. */
ssize_t mig_channel_read(MigChannel *c, void *buf, size_t len);
int mig_channel_writev(MigChannel *c, const struct iovec *iov, int iovcnt);
/* Write all of buf; 0 or -errno. */
int mig_channel_write_all(MigChannel *c, const void *buf, size_t len);
/* Read exactly len bytes; 0, -EPIPE on a short stream, or -errno. */
int mig_channel_read_all(MigChannel *c, void *buf, size_t len);
void mig_channel_shutdown(MigChannel *c);
int mig_channel_close(MigChannel *c);
/* Text for an error @err (negative errno) returned by @c's read or writev. */
const char *mig_channel_strerror(MigChannel *c, int err);
/* ops->poll_in, or true without one. */
bool mig_channel_poll_in(MigChannel *c, int timeout_ms);
/* The socket of a channel made by mig_channel_new_fd(is_socket), else -1. */
int mig_channel_socket_fd(MigChannel *c);
/* Does @c place pages out of band (ops->write_page)? */
bool mig_channel_has_write_page(MigChannel *c);
/* ops->write_page; -EOPNOTSUPP without it, -ECANCELED after shutdown. */
int mig_channel_write_page(MigChannel *c, unsigned block, uint64_t offset,
                           const void *host, size_t len);

/*
 * An fd-backed channel (sockets, pipes, files).  @rfd and @wfd may be the
 * same fd (sockets) or -1 (one direction only).  @is_socket selects
 * send/recv with MSG_NOSIGNAL and shutdown(2).  Takes ownership of the fds.
 * @child: a process to reap at close (exec:), or 0.
 */
MigChannel *mig_channel_new_fd(int rfd, int wfd, bool is_socket, pid_t child,
                               const char *desc);

/*
 * A memory channel.  Reading: returns @data (not copied; must outlive the
 * channel) then end of stream.  Writing: appends to a buffer that
 * mig_channel_memory_data() returns.  Used by unit tests and fuzzers.
 */
MigChannel *mig_channel_new_memory_reader(const uint8_t *data, size_t len);
MigChannel *mig_channel_new_memory_writer(void);
/* Bytes written so far into a memory writer (owned by the channel). */
GByteArray *mig_channel_memory_data(MigChannel *c);
/* Make a memory writer fail every write with -err after @limit bytes. */
void mig_channel_memory_set_limit(MigChannel *c, size_t limit, int err);

#endif
