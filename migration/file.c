/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file: transport: the stream written to (or read from) a regular file
 * at an optional offset, as QEMU's file:PATH[,offset=N].
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "util/error.h"

MigChannel *mig_file_open(const char *path, uint64_t offset, bool outgoing,
                          GError **errp)
{
    g_autofree char *desc = g_strdup_printf("file:%s", path);
    int fd = outgoing ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
                      : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        kvmig_error_errno(errp, errno, "cannot open '%s'", path);
        return NULL;
    }
    if (offset && lseek(fd, offset, SEEK_SET) < 0) {
        kvmig_error_errno(errp, errno, "cannot seek '%s' to %" G_GUINT64_FORMAT, path,
                          offset);
        close(fd);
        return NULL;
    }
    return outgoing ? mig_channel_new_fd(-1, fd, false, 0, desc)
                    : mig_channel_new_fd(fd, -1, false, 0, desc);
}
