/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The thread accelerator's migration section, "thread-accel": the workload
 * command line the vCPUs run.  The workloads' progress is in guest RAM;
 * their configuration is not, so the destination adopts the source's.
 * Registered by thread_init (accel-migration.h says when and why there).
 */
#include <string.h>

#include "accel/accel-migration.h"
#include "accel/thread.h"
#include "migration/register.h"
#include "util/cutils.h"
#include "util/error.h"
#include "workload.h"

struct ThreadMigration {
    Machine *m;
    uint32_t cmdline_len;
    char cmdline[WL_CMDLINE_MAX];
};

static bool thread_pre_save(void *opaque, GError **errp)
{
    ThreadMigration *t = opaque;

    g_strlcpy(t->cmdline, thread_accel_cmdline(t->m), sizeof(t->cmdline));
    t->cmdline_len = strlen(t->cmdline);
    return true;
}

static bool thread_post_load(void *opaque, int version_id, GError **errp)
{
    ThreadMigration *t = opaque;
    g_autofree char *cmdline = g_strndup(t->cmdline, t->cmdline_len);

    if (strlen(cmdline) != t->cmdline_len || strchr(cmdline, '\n')) {
        g_autofree char *esc = escape_bytes(t->cmdline, t->cmdline_len);

        kvmig_error(errp, "malformed workload command line '%s' from the source", esc);
        return false;
    }
    return thread_accel_set_cmdline(t->m, cmdline, errp);
}

static const VMStateField thread_fields[] = {
    VMSTATE_UINT32(cmdline_len, ThreadMigration),
    VMSTATE_VBUFFER_UINT32(cmdline, ThreadMigration, cmdline_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_thread_accel = {
    .name = "thread-accel",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(ThreadMigration),
    .pre_save = thread_pre_save,
    .post_load = thread_post_load,
    .fields = thread_fields,
};

ThreadMigration *thread_migration_register(Machine *m, GError **errp)
{
    ThreadMigration *tm = g_new0(ThreadMigration, 1);

    tm->m = m;
    if (!vmstate_register(m, "thread-accel", 0, &vmstate_thread_accel, tm, errp)) {
        g_free(tm);
        return NULL;
    }
    return tm;
}

void thread_migration_free(ThreadMigration *tm)
{
    g_free(tm);
}
