/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmig's main(): parse and validate the whole command line, then build
 * the machine in one explicit order and run the GLib main loop.
 *
 * Init order: options -> accelerator choice -> machine (RAM) -> migration
 * state and -object -> accel init (and its migration sections)
 * -> RAM mappings -> devices (board_init) -> vCPUs -> monitors -> guest
 * load or incoming migration -> vCPU threads -> main loop.
 *
 * Teardown, after the main loop: monitors -> migration state -> vCPU
 * threads (cpus_destroy) -> devices (board_free) -> the machine.
 */
#include <glib-unix.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>

#include "accel/accel.h"
#include "config-host.h"
#include "hw/board.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/tls.h"
#include "monitor/monitor.h"
#include "system/machine.h"
#include "system/options.h"
#include "util/bufferiszero.h"
#include "util/error.h"

typedef struct MainState {
    GMainLoop *loop;
    int status;
} MainState;

static void main_quit(void *opaque, int status)
{
    MainState *ms = opaque;

    ms->status = status;
    g_main_loop_quit(ms->loop);
}

static gboolean on_signal(gpointer opaque)
{
    main_quit(opaque, 0);
    return G_SOURCE_CONTINUE;
}

static const AccelOps *choose_accel(const VmmOptions *o, GError **errp)
{
    const AccelOps *ops;

    if (o->accel) {
        ops = accel_find(o->accel);
        g_assert(ops);  /* validated by the option parser */
        return ops;
    }
    if (kvm_available()) {
        g_printerr("kvmig: using the kvm accelerator\n");
        return &kvm_accel_ops;
    }
    g_printerr("kvmig: /dev/kvm is not usable; using the thread accelerator\n");
    return &thread_accel_ops;
}

/* Everything on the command line that names an endpoint, checked before anything runs. */
static bool validate_endpoints(const VmmOptions *o, GError **errp)
{
    for (unsigned i = 0; i < o->qmp->len; i++) {
        MonitorSpec spec;
        if (!monitor_parse_spec(g_ptr_array_index(o->qmp, i), &spec, errp)) {
            return false;
        }
        monitor_spec_clear(&spec);
    }
    for (unsigned i = 0; i < o->monitors->len; i++) {
        MonitorSpec spec;
        if (!monitor_parse_spec(g_ptr_array_index(o->monitors, i), &spec, errp)) {
            return false;
        }
        monitor_spec_clear(&spec);
    }
    return !o->incoming || migration_incoming_uri_check(o->incoming, errp);
}

static bool machine_setup(Machine *m, const VmmOptions *o, GError **errp)
{
    if (!m->accel->init(m, errp)) {
        return false;
    }
    for (unsigned i = 0; i < m->nr_mappings; i++) {
        if (!m->accel->map_ram(m, &m->mappings[i], errp)) {
            return false;
        }
    }
    return board_init(m, o, errp) && cpus_create(m, errp);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    VmmOptions o;
    MainState ms = { 0 };
    Machine *m = NULL;
    const AccelOps *ops;

    buffer_is_zero_init();
    if (!vmm_options_parse(argc, argv, &o, &err)) {
        g_printerr("kvmig: %s\n", err->message);
        vmm_options_free(&o);
        return 1;
    }
    if (o.show_help) {
        vmm_options_print_help(stdout);
        vmm_options_free(&o);
        return 0;
    }
    if (o.show_version) {
        printf("kvmig version %s\n", KVMIG_VERSION);
        vmm_options_free(&o);
        return 0;
    }

    if (!validate_endpoints(&o, &err)) {
        goto fail;
    }
    ops = choose_accel(&o, &err);
    m = machine_new(o.ram_size, o.smp, &err);
    if (!m) {
        goto fail;
    }
    m->accel = ops;
    m->kernel_path = g_strdup(o.kernel);
    g_free(m->append);
    m->append = g_strdup(o.append);
    m->accel_dirty = g_strdup(o.accel_dirty);
    m->start_paused = o.start_paused;
    m->main_ctx = g_main_context_default();
    ms.loop = g_main_loop_new(m->main_ctx, FALSE);
    m->quit_fn = main_quit;
    m->quit_opaque = &ms;

    /* Before the devices: they register their vmstate sections with it. */
    m->migration = migration_new(m, &err);
    if (!m->migration) {
        goto fail;
    }
    /* -object: TLS credentials and authz load now, before anything runs */
    for (unsigned i = 0; i < o.objects->len; i++) {
        if (!mig_objects_add_opts(migration_objects(m->migration),
                                  g_ptr_array_index(o.objects, i), &err)) {
            g_prefix_error(&err, "-object %s: ", (const char *)g_ptr_array_index(o.objects, i));
            goto fail;
        }
    }
    if (!machine_setup(m, &o, &err)) {
        goto fail;
    }
    for (unsigned i = 0; i < o.qmp->len; i++) {
        if (!monitor_init_qmp(m, g_ptr_array_index(o.qmp, i), &err)) {
            goto fail;
        }
    }
    for (unsigned i = 0; i < o.monitors->len; i++) {
        if (!monitor_init_hmp(m, g_ptr_array_index(o.monitors, i), &err)) {
            goto fail;
        }
    }
    if (o.incoming) {
        /* RAM and vCPU state arrive with the stream: no guest load. */
        if (!migration_start_incoming_cmdline(m->migration, o.incoming, &err)) {
            goto fail;
        }
    } else {
        if (!m->accel->load_guest(m, &err)) {
            goto fail;
        }
        machine_set_runstate(m, o.start_paused ? RUN_STATE_PRELAUNCH : RUN_STATE_RUNNING);
    }
    if (!cpus_start(m, &err)) {
        goto fail;
    }

    g_unix_signal_add(SIGINT, on_signal, &ms);
    g_unix_signal_add(SIGTERM, on_signal, &ms);
    g_unix_signal_add(SIGHUP, on_signal, &ms);
    g_main_loop_run(ms.loop);

    /* Monitors first: QEMU sends no STOP after quit's SHUTDOWN. */
    monitor_cleanup(m);
    vm_stop_force_state(m, RUN_STATE_SHUTDOWN);
    migration_free(m->migration);
    m->migration = NULL;
    /*
     * The devices go once nothing can reach them: the monitors and the
     * migration threads are gone, and after cpus_destroy no vCPU does I/O;
     * the machine they register with is still there.
     */
    cpus_destroy(m);
    board_free(m);
    machine_free(m);
    g_main_loop_unref(ms.loop);
    vmm_options_free(&o);
    return ms.status;

fail:
    g_printerr("kvmig: %s\n", err->message);
    /* Exit without tearing down half-built state: nothing has run yet. */
    vmm_options_free(&o);
    if (ms.loop) {
        g_main_loop_unref(ms.loop);
    }
    return 1;
}
