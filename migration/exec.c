/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The exec: transport: run "/bin/sh -c CMD" and carry the stream on its
 * stdin (outgoing) or stdout (incoming).  The child is reaped when the
 * channel closes; a non-zero exit status fails the migration.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "util/error.h"

MigChannel *mig_exec_open(const char *cmd, bool outgoing, GError **errp)
{
    g_autofree char *desc = g_strdup_printf("exec:%s", cmd);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    GPid pid;
    int fd = -1;
    g_autoptr(GError) err = NULL;

    if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                  NULL, NULL, &pid, outgoing ? &fd : NULL,
                                  outgoing ? NULL : &fd, NULL, &err)) {
        kvmig_error(errp, "cannot run '%s': %s", cmd, err->message);
        return NULL;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return outgoing ? mig_channel_new_fd(-1, fd, false, pid, desc)
                    : mig_channel_new_fd(fd, -1, false, pid, desc);
}
