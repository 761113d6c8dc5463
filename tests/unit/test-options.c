/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the command-line table: good lines parse, bad ones fail with one message. */
#include <glib.h>
#include <string.h>

#include "system/options.h"

static bool parse(const char *line, VmmOptions *o, GError **errp)
{
    g_auto(GStrv) argv = NULL;
    g_autofree char *full = g_strdup_printf("kvmig %s", line);
    int argc;
    bool ok;

    g_assert_true(g_shell_parse_argv(full, &argc, &argv, NULL));
    ok = vmm_options_parse(argc, argv, o, errp);
    return ok;
}

static void test_defaults(void)
{
    VmmOptions o;
    g_assert_true(vmm_options_parse(1, (char *[]){ "kvmig", NULL }, &o, NULL));
    g_assert_cmpuint(o.ram_size, ==, 512ULL << 20);
    g_assert_cmpint(o.smp, ==, 1);
    g_assert_null(o.accel);
    g_assert_null(o.accel_dirty);
    g_assert_cmpstr(o.append, ==, "");
    g_assert_false(o.start_paused);
    vmm_options_free(&o);
}

static void test_full_line(void)
{
    VmmOptions o;
    g_autoptr(GError) err = NULL;

    g_assert_true(parse("-m 1G -smp 2 -accel thread -append 'workload=fill size=64M' "
                        "-qmp unix:/tmp/q.sock,server=on,wait=off -monitor stdio "
                        "-serial file:/tmp/s.log -incoming tcp:127.0.0.1:4444 -S "
                        "-name vm1 -nographic -display none "
                        "-device virtio-balloon,free-page-hint=on --kernel /x.elf",
                        &o, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(o.ram_size, ==, 1ULL << 30);
    g_assert_cmpint(o.smp, ==, 2);
    g_assert_cmpstr(o.accel, ==, "thread");
    g_assert_cmpstr(o.append, ==, "workload=fill size=64M");
    g_assert_cmpuint(o.qmp->len, ==, 1);
    g_assert_cmpuint(o.monitors->len, ==, 1);
    g_assert_cmpstr(o.serial, ==, "file:/tmp/s.log");
    g_assert_cmpstr(o.incoming, ==, "tcp:127.0.0.1:4444");
    g_assert_true(o.start_paused);
    g_assert_true(o.balloon);
    g_assert_true(o.balloon_free_page_hint);
    g_assert_false(o.balloon_deflate_on_oom);
    g_assert_cmpstr(o.kernel, ==, "/x.elf");
    vmm_options_free(&o);
}

/* -accel thread,dirty=...: the thread accelerator's dirty log; last one wins. */
static void test_accel_dirty(void)
{
    static const struct {
        const char *line, *accel, *dirty;
    } t[] = {
        { "-accel thread,dirty=soft", "thread", "soft" },
        { "-accel accel=thread,dirty=uffd", "thread", "uffd" },
        { "-accel thread", "thread", NULL },
        { "-accel thread,dirty=soft -accel thread", "thread", NULL },
        { "-accel thread,dirty=soft -enable-kvm", "kvm", NULL },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
        VmmOptions o;
        g_autoptr(GError) err = NULL;

        g_assert_true(parse(t[i].line, &o, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(o.accel, ==, t[i].accel);
        g_assert_cmpstr(o.accel_dirty, ==, t[i].dirty);
        vmm_options_free(&o);
    }
}

static void test_sizes(void)
{
    static const struct {
        const char *arg;
        uint64_t v;
    } t[] = {
        { "-m 128", 128ULL << 20 }, { "-m 128M", 128ULL << 20 }, { "-m size=2G", 2ULL << 30 },
        { "-m 8193K", 8196ULL << 10 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++) {
        VmmOptions o;
        g_assert_true(parse(t[i].arg, &o, NULL));
        g_assert_cmpuint(o.ram_size, ==, t[i].v);
        vmm_options_free(&o);
    }
}

static void test_errors(void)
{
    static const struct {
        const char *line;
        const char *needle;
    } bad[] = {
        { "-m 12Q", "-m 12Q" },
        { "-m", "requires an argument" },
        { "-m 1M", "at least 8 MiB" },
        { "-bogus", "-bogus: invalid option" },
        { "stray", "unexpected argument" },
        { "-accel tcg", "invalid accelerator" },
        { "-accel thread,dirty=pml", "invalid dirty log 'pml' (expected uffd or soft)" },
        { "-accel thread,dirty", "unknown property 'dirty'" },
        { "-accel kvm,dirty=soft", "dirty= is a property of the thread accelerator" },
        { "-accel ,dirty=soft", "invalid accelerator" },
        { "-smp 0", "-smp 0" },
        { "-smp two", "-smp two" },
        { "-serial tty", "-serial tty" },
        { "-serial file:", "-serial file:" },
        { "-device e1000", "not a valid device model name" },
        { "-device virtio-balloon,free-page-hint=maybe", "on or off" },
        { "-device virtio-balloon,colour=red", "property 'colour' not found" },
        { "-display gtk", "no display" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        VmmOptions o;
        g_autoptr(GError) err = NULL;
        g_assert_false(parse(bad[i].line, &o, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, bad[i].needle)) {
            g_error("'%s': message '%s' lacks '%s'", bad[i].line, err->message, bad[i].needle);
        }
        g_assert_null(strchr(err->message, '\n'));
        vmm_options_free(&o);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/options/defaults", test_defaults);
    g_test_add_func("/options/full-line", test_full_line);
    g_test_add_func("/options/accel-dirty", test_accel_dirty);
    g_test_add_func("/options/sizes", test_sizes);
    g_test_add_func("/options/errors", test_errors);
    return g_test_run();
}
