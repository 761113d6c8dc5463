/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Microbenchmark of the RAM save path with xbzrle off and on: the bulk
 * pass (every page sent once; with xbzrle each page is also cached) and a
 * re-send pass after one byte of every page changed (with xbzrle: XBZRLE
 * records against the cache), over a socketpair drained by another thread,
 * as a unix-socket migration writes.  Figures are the sending thread's CPU
 * time (immune to other processes sharing the machine) and wall time,
 * medians of five runs, one JSON line per measurement.
 *
 * Patterns: pagewalk (one non-zero byte per page), sparse (64 random bytes
 * per page), dense (every byte random).
 *
 * usage: bench-ram-xbzrle [--mem MIB] [--pattern NAME] [--first on|off]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/machine.h"

#define PAGE 4096ULL
#define RUNS 5

static const char *const patterns[] = { "pagewalk", "sparse", "dense" };

static double clock_s(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *drain(void *opaque)
{
    int fd = GPOINTER_TO_INT(opaque);
    static char buf[1 << 20];

    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    return NULL;
}

static void fill(uint8_t *ram, uint64_t npages, int pattern, GRand *r)
{
    for (uint64_t p = 0; p < npages; p++) {
        uint8_t *pg = ram + p * PAGE;

        switch (pattern) {
        case 0:
            pg[0] = 1 + p % 255;
            break;
        case 1:
            for (int i = 0; i < 64; i++) {
                pg[g_rand_int_range(r, 0, PAGE)] = g_rand_int(r) | 1;
            }
            break;
        default:
            for (uint64_t i = 0; i < PAGE; i += 4) {
                uint32_t v = g_rand_int(r);
                memcpy(pg + i, &v, 4);
            }
            break;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct Times {
    double cpu[2][RUNS], wall[2][RUNS];     /* [bulk, resend][run] */
    uint64_t bytes[2];                      /* sent by the pass (the last run) */
} Times;

static void one_run(uint64_t ram_size, int pattern, bool xbzrle, Times *t, int k)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GRand) r = g_rand_new_with_seed(7);
    MigrationOptions opts;
    Machine *m = machine_new(ram_size, 1, &err);
    SaveVMRegistry *reg = savevm_registry_new();
    RAMState *rs;
    MigStream *f;
    pthread_t th;
    int sv[2];
    uint8_t *ram;
    uint64_t npages = ram_size / PAGE;

    g_assert_no_error(err);
    mig_opts_init(&opts);
    opts.caps[MIGRATION_CAPABILITY_XBZRLE] = xbzrle;
    opts.params.xbzrle_cache_size = ram_size / 2;
    rs = ram_register(reg, m, NULL, &opts, &err);
    g_assert_no_error(err);
    ram = m->ram_blocks[0]->host;
    fill(ram, npages, pattern, r);

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    pthread_create(&th, NULL, drain, GINT_TO_POINTER(sv[1]));
    f = mig_stream_new(mig_channel_new_fd(-1, sv[0], true, 0, "bench"));
    savevm_put_header(f);
    g_assert_true(savevm_save_setup(reg, f, &err));
    for (int pass = 0; pass < 2; pass++) {
        double c0, w0;
        uint64_t b0 = mig_stream_transferred(f);

        if (pass == 1) {
            /* the walker's next lap: one byte of every page */
            for (uint64_t p = 0; p < npages; p++) {
                uint8_t v = ram[p * PAGE] + 1;

                g_assert_true(gpa_write(m, p * PAGE, &v, 1));
            }
            savevm_pending(reg, true);
        }
        c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        w0 = clock_s(CLOCK_MONOTONIC);
        while (savevm_save_iterate(reg, f, &err) == 0) {
        }
        g_assert_cmpint(mig_stream_flush(f), ==, 0);
        t->cpu[pass][k] = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        t->wall[pass][k] = clock_s(CLOCK_MONOTONIC) - w0;
        t->bytes[pass] = mig_stream_transferred(f) - b0;
        g_assert_no_error(err);
    }
    savevm_save_cleanup(reg);
    mig_stream_close(f);
    pthread_join(th, NULL);
    close(sv[1]);
    savevm_registry_free(reg);
    ram_state_free(rs);
    machine_free(m);
    mig_opts_destroy(&opts);
}

int main(int argc, char **argv)
{
    uint64_t mib = 256;
    const char *only = NULL;
    bool on_first = false;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mem")) {
            mib = strtoull(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--pattern")) {
            only = argv[i + 1];
        } else if (!strcmp(argv[i], "--first")) {
            on_first = !strcmp(argv[i + 1], "on");
        } else {
            fprintf(stderr, "usage: %s [--mem MIB] [--pattern NAME] [--first on|off]\n",
                    argv[0]);
            return 2;
        }
    }
    for (int p = 0; p < (int)G_N_ELEMENTS(patterns); p++) {
        if (only && strcmp(only, patterns[p])) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            int x = on_first ? !i : i;
            Times t;

            for (int k = 0; k < RUNS; k++) {
                one_run(mib << 20, p, x, &t, k);
            }
            for (int pass = 0; pass < 2; pass++) {
                qsort(t.cpu[pass], RUNS, sizeof(double), cmp_double);
                qsort(t.wall[pass], RUNS, sizeof(double), cmp_double);
                printf("{\"bench\": \"ram-xbzrle\", \"pattern\": \"%s\", \"xbzrle\": %s, "
                       "\"pass\": \"%s\", \"mem_mib\": %" G_GUINT64_FORMAT ", "
                       "\"sent_bytes\": %" G_GUINT64_FORMAT ", \"cpu_ms\": %.1f, \"wall_ms\": %.1f, "
                       "\"cpu_MBps\": %.0f}\n",
                       patterns[p], x ? "true" : "false", pass ? "resend" : "bulk", mib, t.bytes[pass],
                       t.cpu[pass][RUNS / 2] * 1e3, t.wall[pass][RUNS / 2] * 1e3,
                       (mib << 20) / 1e6 / t.cpu[pass][RUNS / 2]);
                fflush(stdout);
            }
        }
    }
    return 0;
}
