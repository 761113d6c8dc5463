/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the test guest's command-line parser (guest/workloads/cmdline.c). */
#include <glib.h>
#include <string.h>

#include "workload.h"

static WlConfig parse_ok(const char *cmdline)
{
    WlConfig cfg;
    char err[128] = "untouched";

    memset(&cfg, 0xa5, sizeof(cfg));
    if (!wl_parse_cmdline(cmdline, &cfg, err, sizeof(err))) {
        g_error("'%s' rejected: %s", cmdline, err);
    }
    g_assert_cmpstr(err, ==, "");
    return cfg;
}

static void parse_bad(const char *cmdline, const char *needle)
{
    WlConfig cfg = { .kind = WL_STRESS, .mb = 77 };
    char err[128];

    g_assert_false(wl_parse_cmdline(cmdline, &cfg, err, sizeof(err)));
    g_assert_nonnull(strstr(err, needle));
    /* A failed parse leaves the config alone. */
    g_assert_cmpint(cfg.kind, ==, WL_STRESS);
    g_assert_cmpuint(cfg.mb, ==, 77);
}

static void test_defaults(void)
{
    WlConfig cfg = parse_ok("");

    g_assert_cmpint(cfg.kind, ==, WL_IDLE);
    g_assert_cmpuint(cfg.size, ==, 0);
    g_assert_cmpuint(cfg.ratio, ==, 3);
    g_assert_cmpuint(cfg.rate, ==, 0);
    g_assert_cmpuint(cfg.mb, ==, 0);

    cfg = parse_ok("   \t ");
    g_assert_cmpint(cfg.kind, ==, WL_IDLE);

    g_assert_true(wl_parse_cmdline(NULL, &cfg, NULL, 0));
    g_assert_cmpint(cfg.kind, ==, WL_IDLE);
}

static void test_all_workloads(void)
{
    for (int k = 0; k < WL__MAX; k++) {
        g_autofree char *s = g_strdup_printf("workload=%s", wl_kind_name(k));
        WlConfig cfg = parse_ok(s);

        g_assert_cmpint(cfg.kind, ==, k);
    }
    g_assert_cmpstr(wl_kind_name(WL_IDLE), ==, "idle");
    g_assert_cmpstr(wl_kind_name(WL_PAGEWALK), ==, "pagewalk");
    g_assert_cmpstr(wl_kind_name(WL_FILL), ==, "fill");
    g_assert_cmpstr(wl_kind_name(WL_RANDOM), ==, "random");
    g_assert_cmpstr(wl_kind_name(WL_L2FWD), ==, "l2fwd");
    g_assert_cmpstr(wl_kind_name(WL_STRESS), ==, "stress");
    g_assert_cmpstr(wl_kind_name(WL_CHURN), ==, "churn");
    g_assert_cmpstr(wl_kind_name(WL_BLACKOUT), ==, "blackout");
    g_assert_null(wl_kind_name(WL__MAX));
    g_assert_null(wl_kind_name((WlKind)-1));
}

static void test_parameters(void)
{
    WlConfig cfg;

    cfg = parse_ok("workload=fill size=512M ratio=3");
    g_assert_cmpint(cfg.kind, ==, WL_FILL);
    g_assert_cmpuint(cfg.size, ==, 512ULL << 20);
    g_assert_cmpuint(cfg.ratio, ==, 3);

    cfg = parse_ok("workload=stress mb=256 vcpu1=blackout");
    g_assert_cmpint(cfg.kind, ==, WL_STRESS);
    g_assert_cmpuint(cfg.mb, ==, 256);
    g_assert_cmpint(cfg.vcpu1, ==, WL_BLACKOUT);
    cfg = parse_ok("workload=stress");
    g_assert_cmpint(cfg.vcpu1, ==, WL__MAX);
    parse_bad("workload=stress vcpu1=nap", "unknown workload");

    cfg = parse_ok("ratio=7 size=1G workload=churn");
    g_assert_cmpint(cfg.kind, ==, WL_CHURN);
    g_assert_cmpuint(cfg.size, ==, 1ULL << 30);
    g_assert_cmpuint(cfg.ratio, ==, 7);

    cfg = parse_ok("workload=random rate=250");
    g_assert_cmpint(cfg.kind, ==, WL_RANDOM);
    g_assert_cmpuint(cfg.rate, ==, 250);

    cfg = parse_ok("workload=stress mb=1024");
    g_assert_cmpint(cfg.kind, ==, WL_STRESS);
    g_assert_cmpuint(cfg.mb, ==, 1024);

    /* The last of a repeated key wins; whitespace of any kind separates. */
    cfg = parse_ok("\tworkload=idle  workload=pagewalk\nsize=4k\r\n");
    g_assert_cmpint(cfg.kind, ==, WL_PAGEWALK);
    g_assert_cmpuint(cfg.size, ==, 4096);
}

static void test_ignored_words(void)
{
    WlConfig cfg;

    /* QEMU and GRUB put the kernel's path first; kernels ignore bare words. */
    cfg = parse_ok("/build/guest/kvmig-guest.elf workload=stress quiet");
    g_assert_cmpint(cfg.kind, ==, WL_STRESS);

    cfg = parse_ok("console=ttyS0 foo=bar workload=fill x= =y mb_=1");
    g_assert_cmpint(cfg.kind, ==, WL_FILL);
    g_assert_cmpuint(cfg.mb, ==, 0);
}

static void test_sizes(void)
{
    static const struct {
        const char *s;
        uint64_t v;
    } good[] = {
        { "0", 0 },
        { "4096", 4096 },
        { "1K", 1024 }, { "1k", 1024 },
        { "512M", 512ULL << 20 }, { "512m", 512ULL << 20 },
        { "1G", 1ULL << 30 }, { "64g", 64ULL << 30 },
        { "2T", 2ULL << 40 },
        { "18446744073709551615", UINT64_MAX },
        { "16777215T", 16777215ULL << 40 },
    };
    static const char *const bad[] = {
        "", "M", "12Q", "-1", "+1", "1.5G", "1GB", " 1G", "1G ", "0x10",
        "18446744073709551616", "16777216T", "99999999999999999999K",
    };
    uint64_t v;

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        v = 12345;
        g_assert_true(wl_parse_size(good[i].s, strlen(good[i].s), &v));
        g_assert_cmpuint(v, ==, good[i].v);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        v = 12345;
        if (wl_parse_size(bad[i], strlen(bad[i]), &v)) {
            g_error("size '%s' accepted as %" G_GUINT64_FORMAT, bad[i], v);
        }
        g_assert_cmpuint(v, ==, 12345);
    }
    /* The length bounds the parse: "512M" out of "512Mxyz". */
    g_assert_true(wl_parse_size("512Mxyz", 4, &v));
    g_assert_cmpuint(v, ==, 512ULL << 20);
}

static void test_malformed(void)
{
    parse_bad("workload=bogus", "unknown workload 'bogus'");
    parse_bad("workload=", "unknown workload ''");
    parse_bad("workload=PAGEWALK", "unknown workload");
    parse_bad("workload=pagewalkx", "unknown workload");
    parse_bad("workload=fill size=12Q", "malformed size: 'size=12Q'");
    parse_bad("workload=fill size=", "malformed size");
    parse_bad("workload=fill ratio=0", "malformed ratio");
    parse_bad("workload=fill ratio=1001", "malformed ratio");
    parse_bad("workload=fill ratio=3x", "malformed ratio");
    parse_bad("workload=fill ratio=-3", "malformed ratio");
    parse_bad("workload=random rate=fast", "malformed rate");
    parse_bad("workload=random rate=1M", "malformed rate");
    parse_bad("workload=random rate=99999999999999999999", "malformed rate");
    parse_bad("workload=stress mb=", "malformed mb");
    parse_bad("workload=stress mb=1G", "malformed mb");
    /* An error anywhere fails the whole line, even after a good workload. */
    parse_bad("workload=pagewalk size=huge", "malformed size");
}

static void test_error_buffer(void)
{
    g_autofree char *longname = g_strnfill(300, 'z');
    g_autofree char *line = g_strdup_printf("workload=%s", longname);
    WlConfig cfg;
    char err[40];
    char tiny[4];

    /* Long values are cut short and the message still terminated. */
    g_assert_false(wl_parse_cmdline(line, &cfg, err, sizeof(err)));
    g_assert_cmpuint(strlen(err), <, sizeof(err));
    g_assert_true(g_str_has_prefix(err, "unknown workload 'zzz"));

    g_assert_false(wl_parse_cmdline("workload=x", &cfg, tiny, sizeof(tiny)));
    g_assert_cmpstr(tiny, ==, "unk");

    /* No buffer at all is fine too. */
    g_assert_false(wl_parse_cmdline("workload=x", &cfg, NULL, 0));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/guest-cmdline/defaults", test_defaults);
    g_test_add_func("/guest-cmdline/all-workloads", test_all_workloads);
    g_test_add_func("/guest-cmdline/parameters", test_parameters);
    g_test_add_func("/guest-cmdline/ignored-words", test_ignored_words);
    g_test_add_func("/guest-cmdline/sizes", test_sizes);
    g_test_add_func("/guest-cmdline/malformed", test_malformed);
    g_test_add_func("/guest-cmdline/error-buffer", test_error_buffer);
    return g_test_run();
}
