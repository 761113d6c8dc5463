/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command-line parsing driven by one table.  Options take QEMU's spelling
 * (one or two leading dashes); every value is validated here so that a bad
 * command line fails before any guest runs.
 */
#include <stdio.h>
#include <string.h>

#include "system/machine.h"
#include "system/options.h"
#include "util/cutils.h"
#include "util/error.h"

typedef bool (*OptHandler)(VmmOptions *o, const char *arg, GError **errp);

typedef struct VmmOption {
    const char *name;
    bool has_arg;
    const char *args_help;
    const char *help;
    OptHandler handler;
} VmmOption;

static void set_str(char **dst, const char *arg)
{
    g_free(*dst);
    *dst = g_strdup(arg);
}

static bool opt_m(VmmOptions *o, const char *arg, GError **errp)
{
    g_autoptr(GError) err = NULL;
    uint64_t sz;

    /* "-m 1G" and "-m size=1G"; a bare number means MiB, as in QEMU. */
    if (g_str_has_prefix(arg, "size=")) {
        arg += 5;
    }
    if (!parse_size(arg, 'M', &sz, &err)) {
        kvmig_error(errp, "-m %s: %s", arg, err->message);
        return false;
    }
    if (sz < (8ULL << 20)) {
        kvmig_error(errp, "-m %s: guest RAM must be at least 8 MiB", arg);
        return false;
    }
    if (sz > (1ULL << 46)) {
        kvmig_error(errp, "-m %s: guest RAM larger than 64 TiB is not supported", arg);
        return false;
    }
    o->ram_size = (sz + TARGET_PAGE_SIZE - 1) & ~(TARGET_PAGE_SIZE - 1);
    return true;
}

static bool opt_smp(VmmOptions *o, const char *arg, GError **errp)
{
    uint64_t n;

    if (g_str_has_prefix(arg, "cpus=")) {
        arg += 5;
    }
    if (!parse_uint64(arg, &n, NULL) || n < 1 || n > MACHINE_MAX_CPUS) {
        kvmig_error(errp, "-smp %s: expected a number of vCPUs from 1 to %d",
                    arg, MACHINE_MAX_CPUS);
        return false;
    }
    o->smp = n;
    return true;
}

/* -accel NAME[,dirty=uffd|soft]; dirty= only for thread (accel/thread.c). */
static bool opt_accel(VmmOptions *o, const char *arg, GError **errp)
{
    const char *full = arg;
    g_auto(GStrv) parts = NULL;

    if (g_str_has_prefix(arg, "accel=")) {
        arg += 6;
    }
    parts = g_strsplit(arg, ",", -1);
    if (!parts[0] || (strcmp(parts[0], "kvm") && strcmp(parts[0], "thread"))) {
        kvmig_error(errp, "-accel %s: invalid accelerator (expected kvm or thread)", full);
        return false;
    }
    g_clear_pointer(&o->accel_dirty, g_free);
    for (unsigned i = 1; parts[i]; i++) {
        const char *p = parts[i];

        if (!g_str_has_prefix(p, "dirty=")) {
            kvmig_error(errp, "-accel %s: unknown property '%s' (expected dirty=)", full, p);
            return false;
        }
        if (strcmp(parts[0], "thread")) {
            kvmig_error(errp, "-accel %s: dirty= is a property of the thread accelerator", full);
            return false;
        }
        p += 6;
        if (strcmp(p, "uffd") && strcmp(p, "soft")) {
            kvmig_error(errp, "-accel %s: invalid dirty log '%s' (expected uffd or soft)",
                        full, p);
            return false;
        }
        set_str(&o->accel_dirty, p);
    }
    set_str(&o->accel, parts[0]);
    return true;
}

static bool opt_enable_kvm(VmmOptions *o, const char *arg, GError **errp)
{
    set_str(&o->accel, "kvm");
    g_clear_pointer(&o->accel_dirty, g_free);
    return true;
}

static bool opt_kernel(VmmOptions *o, const char *arg, GError **errp)
{
    set_str(&o->kernel, arg);
    return true;
}

static bool opt_append(VmmOptions *o, const char *arg, GError **errp)
{
    set_str(&o->append, arg);
    return true;
}

static bool parse_onoff(const char *dev, const char *key, const char *val, bool *out,
                        GError **errp)
{
    if (!strcmp(val, "on") || !strcmp(val, "true") || !strcmp(val, "yes")) {
        *out = true;
    } else if (!strcmp(val, "off") || !strcmp(val, "false") || !strcmp(val, "no")) {
        *out = false;
    } else {
        kvmig_error(errp, "-device %s: property '%s' expects on or off, not '%s'",
                    dev, key, val);
        return false;
    }
    return true;
}

static bool opt_device(VmmOptions *o, const char *arg, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);
    const char *driver = parts[0];

    if (strcmp(driver, "virtio-balloon") && strcmp(driver, "virtio-balloon-device") &&
        strcmp(driver, "virtio-balloon-pci")) {
        kvmig_error(errp, "-device %s: '%s' is not a valid device model name "
                    "(kvmig has virtio-balloon)", arg, driver);
        return false;
    }
    if (o->balloon) {
        kvmig_error(errp, "-device %s: only one virtio-balloon device is supported", arg);
        return false;
    }
    for (int i = 1; parts[i]; i++) {
        char *eq = strchr(parts[i], '=');
        bool *dst;

        if (!eq) {
            kvmig_error(errp, "-device %s: expected key=value, not '%s'", arg, parts[i]);
            return false;
        }
        *eq = '\0';
        if (!strcmp(parts[i], "free-page-hint")) {
            dst = &o->balloon_free_page_hint;
        } else if (!strcmp(parts[i], "deflate-on-oom")) {
            dst = &o->balloon_deflate_on_oom;
        } else if (!strcmp(parts[i], "id")) {
            continue;
        } else {
            kvmig_error(errp, "-device %s: property '%s' not found", arg, parts[i]);
            return false;
        }
        if (!parse_onoff(driver, parts[i], eq + 1, dst, errp)) {
            return false;
        }
    }
    o->balloon = true;
    g_ptr_array_add(o->devices, g_strdup(arg));
    return true;
}

static bool opt_qmp(VmmOptions *o, const char *arg, GError **errp)
{
    g_ptr_array_add(o->qmp, g_strdup(arg));
    return true;
}

static bool opt_monitor(VmmOptions *o, const char *arg, GError **errp)
{
    g_ptr_array_add(o->monitors, g_strdup(arg));
    return true;
}

static bool opt_object(VmmOptions *o, const char *arg, GError **errp)
{
    g_ptr_array_add(o->objects, g_strdup(arg));
    return true;
}

static bool opt_serial(VmmOptions *o, const char *arg, GError **errp)
{
    if (strcmp(arg, "stdio") && strcmp(arg, "none") &&
        !(g_str_has_prefix(arg, "file:") && arg[5])) {
        kvmig_error(errp, "-serial %s: expected stdio, file:PATH or none", arg);
        return false;
    }
    set_str(&o->serial, arg);
    return true;
}

static bool opt_incoming(VmmOptions *o, const char *arg, GError **errp)
{
    set_str(&o->incoming, arg);
    return true;
}

static bool opt_S(VmmOptions *o, const char *arg, GError **errp)
{
    o->start_paused = true;
    return true;
}

static bool opt_name(VmmOptions *o, const char *arg, GError **errp)
{
    set_str(&o->name, arg);
    return true;
}

static bool opt_accepted(VmmOptions *o, const char *arg, GError **errp)
{
    return true;
}

static bool opt_display(VmmOptions *o, const char *arg, GError **errp)
{
    if (strcmp(arg, "none")) {
        kvmig_error(errp, "-display %s: kvmig has no display (use -display none)", arg);
        return false;
    }
    return true;
}

static bool opt_help(VmmOptions *o, const char *arg, GError **errp)
{
    o->show_help = true;
    return true;
}

static bool opt_version(VmmOptions *o, const char *arg, GError **errp)
{
    o->show_version = true;
    return true;
}

static const VmmOption options[] = {
    { "m", true, "SIZE", "guest RAM (K/M/G suffixes; default 512M)", opt_m },
    { "smp", true, "N", "number of vCPUs (default 1)", opt_smp },
    { "accel", true, "kvm|thread[,dirty=uffd|soft]",
      "vCPU engine (default kvm if usable, else thread); thread's dirty log: "
      "uffd (kernel write-protect, default) or soft (marked by the workloads)", opt_accel },
    { "enable-kvm", false, NULL, "same as -accel kvm", opt_enable_kvm },
    { "kernel", true, "FILE", "Multiboot ELF to boot (default: the built-in test guest)", opt_kernel },
    { "append", true, "STR", "guest command line, e.g. workload=pagewalk", opt_append },
    { "device", true, "virtio-balloon[,free-page-hint=on][,deflate-on-oom=on]", "add a device", opt_device },
    { "qmp", true, "unix:PATH,server=on,wait=off|stdio", "QMP monitor", opt_qmp },
    { "monitor", true, "stdio|unix:PATH,server=on,wait=off", "HMP monitor", opt_monitor },
    { "object", true, "TYPE,id=ID[,PROP=VALUE...]",
      "create an object: tls-creds-x509, tls-creds-psk, authz-list, authz-simple", opt_object },
    { "serial", true, "stdio|file:PATH|none", "the guest's 16550 UART", opt_serial },
    { "incoming", true, "URI|defer", "wait for an incoming migration", opt_incoming },
    { "S", false, NULL, "do not start vCPUs until 'cont'", opt_S },
    { "name", true, "NAME", "guest name (accepted)", opt_name },
    { "nographic", false, NULL, "accepted (kvmig has no display)", opt_accepted },
    { "display", true, "none", "accepted with 'none'", opt_display },
    { "help", false, NULL, "print this help", opt_help },
    { "h", false, NULL, "print this help", opt_help },
    { "version", false, NULL, "print the version", opt_version },
};

void vmm_options_print_help(FILE *f)
{
    fprintf(f, "usage: kvmig [options]\n\n");
    for (size_t i = 0; i < G_N_ELEMENTS(options); i++) {
        g_autofree char *lhs = g_strdup_printf("-%s%s%s", options[i].name,
                                               options[i].has_arg ? " " : "",
                                               options[i].has_arg ? options[i].args_help : "");
        fprintf(f, "  %-44s %s\n", lhs, options[i].help);
    }
}

static void vmm_options_init(VmmOptions *o)
{
    memset(o, 0, sizeof(*o));
    o->ram_size = 512ULL << 20;
    o->smp = 1;
    o->append = g_strdup("");
    o->devices = g_ptr_array_new_with_free_func(g_free);
    o->qmp = g_ptr_array_new_with_free_func(g_free);
    o->monitors = g_ptr_array_new_with_free_func(g_free);
    o->objects = g_ptr_array_new_with_free_func(g_free);
}

bool vmm_options_parse(int argc, char **argv, VmmOptions *o, GError **errp)
{
    vmm_options_init(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const VmmOption *opt = NULL;

        if (a[0] != '-' || a[1] == '\0') {
            kvmig_error(errp, "%s: unexpected argument (options start with '-')", a);
            return false;
        }
        a += (a[1] == '-') ? 2 : 1;
        for (size_t k = 0; k < G_N_ELEMENTS(options); k++) {
            if (!strcmp(options[k].name, a)) {
                opt = &options[k];
                break;
            }
        }
        if (!opt) {
            kvmig_error(errp, "%s: invalid option", argv[i]);
            return false;
        }
        if (opt->has_arg && i + 1 >= argc) {
            kvmig_error(errp, "%s: requires an argument (%s)", argv[i], opt->args_help);
            return false;
        }
        if (!opt->handler(o, opt->has_arg ? argv[++i] : NULL, errp)) {
            return false;
        }
    }
    return true;
}

void vmm_options_free(VmmOptions *o)
{
    g_free(o->accel);
    g_free(o->accel_dirty);
    g_free(o->kernel);
    g_free(o->append);
    g_free(o->serial);
    g_free(o->incoming);
    g_free(o->name);
    if (o->devices) {
        g_ptr_array_unref(o->devices);
    }
    if (o->qmp) {
        g_ptr_array_unref(o->qmp);
    }
    if (o->monitors) {
        g_ptr_array_unref(o->monitors);
    }
    if (o->objects) {
        g_ptr_array_unref(o->objects);
    }
    memset(o, 0, sizeof(*o));
}
