/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tcp: and unix: transports: connect, listen and accept, with the
 * socket options a migration wants (no Nagle delay for the return path,
 * keepalive and a user timeout so a cut connection fails in bounded time).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "util/error.h"

/* A dead peer is noticed after about 10 s idle + 3 probes 2 s apart. */
#define MIG_KEEPIDLE_S      10
#define MIG_KEEPINTVL_S     2
#define MIG_KEEPCNT         3
/*
 * Unacknowledged data, or a window closed with nothing moving, for this
 * long ends the connection (a network that drops everything).
 */
#define MIG_USER_TIMEOUT_MS 20000
/* How often a connect in progress looks at the migration's status. */
#define MIG_CONNECT_POLL_MS 100

static void tune_tcp(int fd)
{
    int one = 1, idle = MIG_KEEPIDLE_S, intvl = MIG_KEEPINTVL_S, cnt = MIG_KEEPCNT;
    unsigned int uto = MIG_USER_TIMEOUT_MS;

    /* best effort: a failure only loses the tuning */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
}

static bool connect_cancelled(const int *status)
{
    return status &&
           __atomic_load_n(status, __ATOMIC_SEQ_CST) == MIGRATION_STATUS_CANCELLING;
}

/*
 * connect() that migrate_cancel can end: non-blocking, polled a slice at a
 * time.  A destination whose accept queue is full, or a host that drops
 * SYNs, would otherwise hold the migration in setup, uncancellable, for
 * minutes.  Returns 0 or an errno (ECANCELED after a cancel).
 */
static int connect_cancellable(int fd, const struct sockaddr *sa, socklen_t len,
                               const int *status)
{
    int flags = fcntl(fd, F_GETFL);
    int err = 0;

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    for (;;) {
        if (connect(fd, sa, len) == 0) {
            err = 0;
            break;
        }
        err = errno == EALREADY ? EINPROGRESS : errno;
        if (err != EINTR && err != EAGAIN && err != EINPROGRESS) {
            break;
        }
        if (connect_cancelled(status)) {
            err = ECANCELED;
            break;
        }
        if (err == EAGAIN) {
            /* unix: the listener's backlog is full; a blocking connect waits too */
            g_usleep(MIG_CONNECT_POLL_MS * 1000);
            continue;
        }
        if (err == EINPROGRESS) {
            /* tcp: the handshake is under way */
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            socklen_t elen = sizeof(err);
            int n;

            while ((n = poll(&pfd, 1, MIG_CONNECT_POLL_MS)) <= 0) {
                if (n < 0 && errno != EINTR) {
                    err = errno;
                    goto out;
                }
                if (connect_cancelled(status)) {
                    err = ECANCELED;
                    goto out;
                }
            }
            err = 0;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
                err = errno;
            }
            break;
        }
    }
out:
    fcntl(fd, F_SETFL, flags);
    return err;
}

static bool unix_addr(const MigUri *u, struct sockaddr_un *sa, GError **errp)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(u->path) >= sizeof(sa->sun_path)) {
        kvmig_error(errp, "socket path '%s' is too long", u->path);
        return false;
    }
    strcpy(sa->sun_path, u->path);
    return true;
}

static char *uri_desc(const MigUri *u)
{
    return u->kind == MIG_URI_UNIX ? g_strdup_printf("unix:%s", u->path)
                                   : g_strdup_printf("tcp:%s:%s", u->host, u->port);
}

static struct addrinfo *resolve(const MigUri *u, bool passive, GError **errp)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int rc;

    hints.ai_flags = passive ? AI_PASSIVE : 0;
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc) {
        kvmig_error(errp, "address resolution failed for %s:%s: %s", u->host, u->port,
                    gai_strerror(rc));
        return NULL;
    }
    return res;
}

MigChannel *mig_socket_connect(const MigUri *u, const int *status, GError **errp)
{
    g_autofree char *desc = uri_desc(u);
    int fd = -1, err = 0;

    if (u->kind == MIG_URI_UNIX) {
        struct sockaddr_un sa;
        if (!unix_addr(u, &sa, errp)) {
            return NULL;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        err = fd < 0 ? errno : connect_cancellable(fd, (struct sockaddr *)&sa, sizeof(sa),
                                                   status);
        if (err) {
            kvmig_error_errno(errp, err, "Failed to connect to '%s'", u->path);
            if (fd >= 0) {
                close(fd);
            }
            return NULL;
        }
    } else {
        struct addrinfo *res = resolve(u, false, errp);
        if (!res) {
            return NULL;
        }
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            err = connect_cancellable(fd, ai->ai_addr, ai->ai_addrlen, status);
            if (!err) {
                break;
            }
            close(fd);
            fd = -1;
            if (err == ECANCELED) {
                break;
            }
        }
        freeaddrinfo(res);
        if (fd < 0) {
            kvmig_error_errno(errp, err, "Failed to connect to '%s:%s'", u->host, u->port);
            return NULL;
        }
        tune_tcp(fd);
    }
    return mig_channel_new_fd(fd, fd, true, 0, desc);
}

/* Room for the main channel and every multifd channel connecting at once. */
#define MIG_LISTEN_BACKLOG 16

int mig_socket_listen(const MigUri *u, GError **errp)
{
    int fd = -1, one = 1, err = 0;

    if (u->kind == MIG_URI_UNIX) {
        struct sockaddr_un sa;
        struct stat st;

        if (!unix_addr(u, &sa, errp)) {
            return -1;
        }
        /* a stale socket from an earlier run would make bind fail */
        if (stat(u->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(u->path);
        }
        /*
         * bind() makes the path appear before listen(): a peer that saw
         * it and connected in between was refused.  Bind a temporary name
         * next to it and rename it into place once listening, when the
         * name fits; the path appears ready to connect to.
         */
        g_autofree char *tmp = g_strdup_printf("%s.%d~", u->path, (int)getpid());
        bool renamed = strlen(tmp) < sizeof(sa.sun_path);

        if (renamed) {
            strcpy(sa.sun_path, tmp);
            unlink(tmp);
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fd, MIG_LISTEN_BACKLOG) < 0 ||
            (renamed && rename(tmp, u->path) < 0)) {
            kvmig_error_errno(errp, errno, "Failed to listen on '%s'", u->path);
            if (fd >= 0) {
                close(fd);
                if (renamed) {
                    unlink(tmp);
                }
            }
            return -1;
        }
        return fd;
    }

    struct addrinfo *res = resolve(u, true, errp);
    if (!res) {
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, MIG_LISTEN_BACKLOG) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        kvmig_error_errno(errp, err, "Failed to bind socket for '%s:%s'", u->host, u->port);
    }
    return fd;
}

MigChannel *mig_socket_accept(int lfd, const MigUri *u, GError **errp)
{
    g_autofree char *desc = uri_desc(u);
    int fd;

    do {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        kvmig_error_errno(errp, errno, "accepting the migration connection on %s", desc);
        close(lfd);
        return NULL;
    }
    close(lfd);
    if (u->kind == MIG_URI_UNIX) {
        unlink(u->path);
    } else {
        tune_tcp(fd);
    }
    return mig_channel_new_fd(fd, fd, true, 0, desc);
}

MigChannel *mig_socket_accept_peek(int lfd, const MigUri *u, int timeout_ms,
                                   const bool *quit, uint32_t *magic, GError **errp)
{
    g_autofree char *desc = uri_desc(u);
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    uint8_t b[4];
    ssize_t n;
    int fd, rc;

    do {
        rc = poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        kvmig_error(errp, "no connection on %s within %d ms", desc, timeout_ms);
        return NULL;
    }
    do {
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        kvmig_error_errno(errp, errno, "accepting the migration connection on %s", desc);
        return NULL;
    }
    if (u->kind != MIG_URI_UNIX) {
        tune_tcp(fd);
    }
    /* the first bytes say which channel this is; they stay in the socket */
    pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
    while ((rc = poll(&pfd, 1, MIG_CONNECT_POLL_MS)) <= 0) {
        if ((rc < 0 && errno != EINTR) || (quit && __atomic_load_n(quit, __ATOMIC_SEQ_CST))) {
            kvmig_error(errp, "waiting for the first bytes on %s: %s", desc,
                        rc < 0 ? g_strerror(errno) : "cancelled");
            close(fd);
            return NULL;
        }
    }
    do {
        n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_WAITALL);
    } while (n < 0 && errno == EINTR);
    *magic = n == (ssize_t)sizeof(b)
             ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : 0;
    return mig_channel_new_fd(fd, fd, true, 0, desc);
}

void mig_socket_listen_close(int lfd, const MigUri *u)
{
    close(lfd);
    if (u->kind == MIG_URI_UNIX) {
        unlink(u->path);
    }
}
