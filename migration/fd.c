/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fd: transport: a descriptor passed with getfd (or inherited by
 * number on the destination).  A socket is used in both directions (it
 * carries the return path); a pipe or file in one.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "util/error.h"

MigChannel *mig_fd_open(int fd, const char *name, bool outgoing, GError **errp)
{
    g_autofree char *desc = g_strdup_printf("fd:%s", name);
    struct stat st;

    if (fstat(fd, &st) < 0) {
        kvmig_error_errno(errp, errno, "fd '%s'", name);
        close(fd);
        return NULL;
    }
    if (S_ISSOCK(st.st_mode)) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        return mig_channel_new_fd(fd, fd, true, 0, desc);
    }
    return outgoing ? mig_channel_new_fd(-1, fd, false, 0, desc)
                    : mig_channel_new_fd(fd, -1, false, 0, desc);
}
