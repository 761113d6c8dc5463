/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration channels: the generic wrappers, the fd-backed channel that the
 * socket, exec, fd and file transports share, and the memory channel used
 * by unit tests and fuzzers.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "migration/channel.h"

ssize_t mig_channel_read(MigChannel *c, void *buf, size_t len)
{
    if (!c->ops->read) {
        return -EBADF;
    }
    if (__atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
        return -ECANCELED;
    }
    return c->ops->read(c, buf, len);
}

int mig_channel_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
{
    if (!c->ops->writev) {
        return -EBADF;
    }
    if (__atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
        return -ECANCELED;
    }
    return c->ops->writev(c, iov, iovcnt);
}

int mig_channel_write_all(MigChannel *c, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return mig_channel_writev(c, &iov, 1);
}

int mig_channel_read_all(MigChannel *c, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = mig_channel_read(c, (uint8_t *)buf + done, len - done);
        if (n < 0) {
            return n;
        }
        if (n == 0) {
            return -EPIPE;
        }
        done += n;
    }
    return 0;
}

void mig_channel_shutdown(MigChannel *c)
{
    __atomic_store_n(&c->shut, 1, __ATOMIC_RELEASE);
    if (c->ops->shutdown) {
        c->ops->shutdown(c);
    }
}

int mig_channel_close(MigChannel *c)
{
    return c ? c->ops->close(c) : 0;
}

const char *mig_channel_strerror(MigChannel *c, int err)
{
    if (err == -ECANCELED) {
        return "cancelled";
    }
    if (c && c->ops->strerror) {
        return c->ops->strerror(c, err);
    }
    return g_strerror(-err);
}

bool mig_channel_poll_in(MigChannel *c, int timeout_ms)
{
    return c->ops->poll_in ? c->ops->poll_in(c, timeout_ms) : true;
}

bool mig_channel_has_write_page(MigChannel *c)
{
    return c->ops->write_page != NULL;
}

int mig_channel_write_page(MigChannel *c, unsigned block, uint64_t offset,
                           const void *host, size_t len)
{
    if (!c->ops->write_page) {
        return -EOPNOTSUPP;
    }
    if (__atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
        return -ECANCELED;
    }
    return c->ops->write_page(c, block, offset, host, len);
}

/* ---- fd-backed channel ---- */

typedef struct FdChannel {
    MigChannel base;
    int rfd, wfd;
    bool is_socket;
    pid_t child;
} FdChannel;

static ssize_t fd_read(MigChannel *c, void *buf, size_t len)
{
    FdChannel *fc = (FdChannel *)c;

    for (;;) {
        ssize_t n = read(fc->rfd, buf, len);
        if (n >= 0) {
            /* A shutdown socket reads as EOF: report the cancel instead. */
            if (n == 0 && __atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
                return -ECANCELED;
            }
            return n;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static int fd_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
{
    FdChannel *fc = (FdChannel *)c;
    struct iovec local[64];
    struct iovec *copy = iovcnt > 64 ? g_new(struct iovec, iovcnt) : local;
    struct iovec *v = copy;
    int cnt = iovcnt, ret = 0;

    memcpy(v, iov, sizeof(*iov) * iovcnt);
    while (cnt > 0) {
        ssize_t n;

        if (fc->is_socket) {
            struct msghdr msg = { .msg_iov = v, .msg_iovlen = cnt };
            n = sendmsg(fc->wfd, &msg, MSG_NOSIGNAL);
        } else {
            n = writev(fc->wfd, v, cnt);
        }
        if (n < 0) {
            int err = errno;
            if (err == EINTR) {
                continue;
            }
            ret = __atomic_load_n(&c->shut, __ATOMIC_ACQUIRE) ? -ECANCELED : -err;
            break;
        }
        /* Skip what was written; keep the rest. */
        while (cnt > 0 && (size_t)n >= v->iov_len) {
            n -= v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (uint8_t *)v->iov_base + n;
            v->iov_len -= n;
        }
    }
    if (copy != local) {
        g_free(copy);
    }
    return ret;
}

static void fd_shutdown(MigChannel *c)
{
    FdChannel *fc = (FdChannel *)c;

    if (fc->is_socket) {
        shutdown(fc->rfd >= 0 ? fc->rfd : fc->wfd, SHUT_RDWR);
    } else if (fc->child > 0) {
        /* exec: a child that stops reading would block us forever */
        kill(fc->child, SIGTERM);
    }
}

static int fd_close(MigChannel *c)
{
    FdChannel *fc = (FdChannel *)c;
    int ret = 0;

    if (fc->wfd >= 0 && fc->wfd != fc->rfd) {
        if (close(fc->wfd) < 0) {
            ret = -errno;
        }
    }
    if (fc->rfd >= 0) {
        if (close(fc->rfd) < 0 && !ret) {
            ret = -errno;
        }
    }
    if (fc->child > 0) {
        int status;
        while (waitpid(fc->child, &status, 0) < 0 && errno == EINTR) {
        }
        if (!ret && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
            !__atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
            ret = -ECHILD;
        }
    }
    g_free(c->desc);
    g_free(fc);
    return ret;
}

static bool fd_poll_in(MigChannel *c, int timeout_ms)
{
    struct pollfd pfd = { .fd = ((FdChannel *)c)->rfd, .events = POLLIN };
    int n;

    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n != 0;
}

static const MigChannelOps fd_ops_rw = {
    .read = fd_read, .writev = fd_writev, .shutdown = fd_shutdown, .close = fd_close,
    .poll_in = fd_poll_in,
};
static const MigChannelOps fd_ops_ro = {
    .read = fd_read, .shutdown = fd_shutdown, .close = fd_close, .poll_in = fd_poll_in,
};
static const MigChannelOps fd_ops_wo = {
    .writev = fd_writev, .shutdown = fd_shutdown, .close = fd_close,
};

MigChannel *mig_channel_new_fd(int rfd, int wfd, bool is_socket, pid_t child,
                               const char *desc)
{
    FdChannel *fc = g_new0(FdChannel, 1);

    fc->rfd = rfd;
    fc->wfd = wfd;
    fc->is_socket = is_socket;
    fc->child = child;
    fc->base.desc = g_strdup(desc);
    fc->base.bidirectional = rfd >= 0 && wfd >= 0;
    fc->base.ops = rfd >= 0 && wfd >= 0 ? &fd_ops_rw : rfd >= 0 ? &fd_ops_ro : &fd_ops_wo;
    return &fc->base;
}

int mig_channel_socket_fd(MigChannel *c)
{
    FdChannel *fc = (FdChannel *)c;

    if (c->ops != &fd_ops_rw || !fc->is_socket) {
        return -1;
    }
    return fc->rfd;
}

/* ---- memory channel ---- */

typedef struct MemChannel {
    MigChannel base;
    const uint8_t *data;    /* reader */
    size_t len, pos;
    GByteArray *out;        /* writer */
    size_t limit;           /* writer: fail after this many bytes */
    int limit_err;
} MemChannel;

static ssize_t mem_read(MigChannel *c, void *buf, size_t len)
{
    MemChannel *mc = (MemChannel *)c;
    size_t n = MIN(len, mc->len - mc->pos);

    memcpy(buf, mc->data + mc->pos, n);
    mc->pos += n;
    return n;
}

static int mem_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
{
    MemChannel *mc = (MemChannel *)c;

    for (int i = 0; i < iovcnt; i++) {
        if (mc->limit_err && mc->out->len + iov[i].iov_len > mc->limit) {
            return -mc->limit_err;
        }
        g_byte_array_append(mc->out, iov[i].iov_base, iov[i].iov_len);
    }
    return 0;
}

static int mem_close(MigChannel *c)
{
    MemChannel *mc = (MemChannel *)c;

    if (mc->out) {
        g_byte_array_unref(mc->out);
    }
    g_free(c->desc);
    g_free(mc);
    return 0;
}

static const MigChannelOps mem_read_ops = { .read = mem_read, .close = mem_close };
static const MigChannelOps mem_write_ops = { .writev = mem_writev, .close = mem_close };

MigChannel *mig_channel_new_memory_reader(const uint8_t *data, size_t len)
{
    MemChannel *mc = g_new0(MemChannel, 1);

    mc->base.ops = &mem_read_ops;
    mc->base.desc = g_strdup("memory");
    mc->data = data;
    mc->len = len;
    return &mc->base;
}

MigChannel *mig_channel_new_memory_writer(void)
{
    MemChannel *mc = g_new0(MemChannel, 1);

    mc->base.ops = &mem_write_ops;
    mc->base.desc = g_strdup("memory");
    mc->out = g_byte_array_new();
    return &mc->base;
}

GByteArray *mig_channel_memory_data(MigChannel *c)
{
    return ((MemChannel *)c)->out;
}

void mig_channel_memory_set_limit(MigChannel *c, size_t limit, int err)
{
    MemChannel *mc = (MemChannel *)c;

    mc->limit = limit;
    mc->limit_err = err;
}
