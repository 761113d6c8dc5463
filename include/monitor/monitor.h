/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitors main() starts: QMP (-qmp) and HMP (-monitor) over stdio or
 * a unix socket, served from the GLib main loop, and the event path that
 * carries machine_emit_event() to every QMP client.
 *
 * Threads: everything here is called from the main thread, except that
 * the event hook installed in Machine.event_fn may be called from any
 * thread (it queues the event and wakes the main context).
 */
#ifndef KVMIG_MONITOR_MONITOR_H
#define KVMIG_MONITOR_MONITOR_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/options.h"
#include "system/machine.h"

/*
 * The version the greeting and query-version report.  kvmig speaks QEMU
 * 7.2's QMP and HMP, and clients (libvirt, scripts) gate features on this
 * number, so "qemu" carries the QEMU interface level kvmig implements and
 * "package" says what is really answering ("kvmig 0.1.0").
 */
#define MONITOR_QEMU_COMPAT_MAJOR 7
#define MONITOR_QEMU_COMPAT_MINOR 2
#define MONITOR_QEMU_COMPAT_MICRO 0

typedef enum MonitorChardevKind {
    MONITOR_CHARDEV_NONE,       /* "none": no monitor (as QEMU's -monitor none) */
    MONITOR_CHARDEV_STDIO,
    MONITOR_CHARDEV_UNIX,
} MonitorChardevKind;

/* A parsed -qmp / -monitor argument. */
typedef struct MonitorSpec {
    MonitorChardevKind kind;
    char *path;         /* unix: socket path */
    bool server;        /* unix: listen (server=on) or connect (server=off) */
    bool wait;          /* unix server: block in init until a client connects */
} MonitorSpec;

/*
 * monitor_parse_spec: check a -qmp/-monitor argument without touching
 * anything: "none", "stdio", or
 * "unix:PATH[,server[=on|off]][,wait[=on|off]][,nowait]"
 * (QEMU's spellings; as in QEMU, server defaults to off and wait to on).
 * @out may be NULL (validation only); otherwise free it with
 * monitor_spec_clear().
 */
bool monitor_parse_spec(const char *spec, MonitorSpec *out, GError **errp);
void monitor_spec_clear(MonitorSpec *spec);

/*
 * monitor_init_qmp / monitor_init_hmp: start a QMP or HMP monitor on @spec.
 * The first call installs m->event_fn.  Needs m->main_ctx.  A server with
 * wait=on blocks here until the first client connects, as QEMU does.
 */
bool monitor_init_qmp(Machine *m, const char *spec, GError **errp);
bool monitor_init_hmp(Machine *m, const char *spec, GError **errp);


/*
 * monitor_cleanup: close every monitor and client, unlink socket paths,
 * uninstall the event hook.  main() calls it after the main loop ends and
 * before machine_free().  Safe to call when no monitor was started.
 */
void monitor_cleanup(Machine *m);

/*
 * The balloon device's hooks for the balloon / query-balloon commands.
 * Until a balloon registers, both commands answer DeviceNotActive
 * "No balloon device has been activated", as QEMU does.
 */
typedef struct MonitorBalloonOps {
    /* balloon: ask the guest to go to @target_bytes of RAM */
    bool (*set_target)(void *opaque, uint64_t target_bytes, GError **errp);
    /* query-balloon: the guest's current RAM size in bytes */
    uint64_t (*actual)(void *opaque);
} MonitorBalloonOps;

void monitor_set_balloon_ops(Machine *m, const MonitorBalloonOps *ops, void *opaque);

#endif
