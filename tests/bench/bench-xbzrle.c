/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Microbenchmark of XBZRLE: every encoder variant the CPU supports (plain
 * encode, and the fused encode + cache update the migration uses), and the
 * decoder, on page pairs of several patterns.  MB/s are of page bytes
 * (4 KiB per page encoded or decoded), median of five runs, one JSON line
 * per measurement.  The working set is --pages pairs (default 256: 2 MiB,
 * about what stays in a core's L2 while a migration streams pages).
 * usage: bench-xbzrle [--pages N] [--ms MS] [--impl NAME]
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "migration/xbzrle.h"

#define PAGE 4096

typedef struct Pattern {
    const char *name;
    const char *what;
} Pattern;

static const Pattern patterns[] = {
    { "unchanged", "no byte differs" },
    { "sparse1", "one byte differs (a counter: pagewalk)" },
    { "sparse8", "8 scattered bytes differ" },
    { "dense", "64 runs of 16 bytes differ (1 KiB, fits)" },
    { "random", "every byte random (overflows)" },
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void make(GRand *r, int pattern, uint8_t *old, uint8_t *new)
{
    for (int i = 0; i < PAGE; i++) {
        old[i] = g_rand_int(r);
    }
    memcpy(new, old, PAGE);
    switch (pattern) {
    case 0:
        break;
    case 1:
        new[g_rand_int_range(r, 0, PAGE)]++;
        break;
    case 2:
        for (int i = 0; i < 8; i++) {
            new[g_rand_int_range(r, 0, PAGE)] ^= 0x5a;
        }
        break;
    case 3:
        for (int run = 0; run < 64; run++) {
            for (int i = 0; i < 16; i++) {
                new[run * 64 + i] ^= 0xff;
            }
        }
        break;
    case 4:
        for (int i = 0; i < PAGE; i++) {
            new[i] = g_rand_int(r);
        }
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef enum { OP_ENCODE, OP_UPDATE, OP_DECODE } Op;

/*
 * Median MB/s of five runs of at least @ms each over the @n pairs.  The
 * update alternates its input between new and old, so the cache flips
 * between them and every call sees the pattern's change.
 */
static double run(Op op, const XbzrleImpl *impl, uint8_t *old, uint8_t *cache,
                  uint8_t *new, uint8_t **enc, const int *enclen, int n, int ms)
{
    static uint8_t dst[PAGE];
    static long round;
    double mbps[5];
    volatile long sink = 0;

    for (int k = 0; k < 5; k++) {
        double t0 = now_s(), dt;
        long pages = 0;

        do {
            const uint8_t *in = round++ & 1 ? old : new;

            for (int i = 0; i < n; i++) {
                size_t off = (size_t)i * PAGE;

                switch (op) {
                case OP_ENCODE:
                    sink += impl->encode(old + off, new + off, PAGE, dst, PAGE);
                    break;
                case OP_UPDATE:
                    sink += impl->update(cache + off, in + off, PAGE, dst, PAGE);
                    break;
                case OP_DECODE:
                    if (enclen[i] >= 0) {
                        sink += xbzrle_decode_buffer(enc[i], enclen[i], cache + off, PAGE);
                    }
                    break;
                }
            }
            pages += n;
            dt = now_s() - t0;
        } while (dt * 1000 < ms);
        mbps[k] = pages * (double)PAGE / dt / 1e6;
    }
    qsort(mbps, 5, sizeof(double), cmp_double);
    (void)sink;
    return mbps[2];
}

int main(int argc, char **argv)
{
    int n = 256, ms = 200;
    const char *only = NULL;
    size_t nimpl;
    const XbzrleImpl *impls = xbzrle_impls(&nimpl);
    g_autoptr(GRand) r = g_rand_new_with_seed(1);

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pages")) {
            n = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--ms")) {
            ms = atoi(argv[i + 1]);
        } else if (!strcmp(argv[i], "--impl")) {
            only = argv[i + 1];
        }
    }
    for (size_t p = 0; p < G_N_ELEMENTS(patterns); p++) {
        size_t bytes = (size_t)n * PAGE;
        g_autofree uint8_t *old = g_aligned_alloc(1, bytes, 64);
        g_autofree uint8_t *new = g_aligned_alloc(1, bytes, 64);
        g_autofree uint8_t *cache = g_aligned_alloc(1, bytes, 64);
        g_autofree int *enclen = g_new(int, n);
        g_autofree uint8_t **enc = g_new0(uint8_t *, n);
        long enc_total = 0;
        double mbps;

        for (int i = 0; i < n; i++) {
            size_t off = (size_t)i * PAGE;
            make(r, p, old + off, new + off);
            enc[i] = g_malloc(PAGE);
            enclen[i] = xbzrle_encode_buffer(old + off, new + off, PAGE, enc[i], PAGE);
            enc_total += MAX(enclen[i], 0);
        }
        for (size_t i = 0; i < nimpl; i++) {
            if (!impls[i].supported() || (only && strcmp(only, impls[i].name))) {
                continue;
            }
            mbps = run(OP_ENCODE, &impls[i], old, cache, new, enc, enclen, n, ms);
            printf("{\"op\": \"encode\", \"impl\": \"%s\", \"pattern\": \"%s\", "
                   "\"mbps\": %.0f, \"avg_encoded_bytes\": %.1f}\n", impls[i].name,
                   patterns[p].name, mbps, (double)enc_total / n);
            fflush(stdout);
            memcpy(cache, old, bytes);
            mbps = run(OP_UPDATE, &impls[i], old, cache, new, enc, enclen, n, ms);
            printf("{\"op\": \"encode+update\", \"impl\": \"%s\", \"pattern\": \"%s\", "
                   "\"mbps\": %.0f}\n", impls[i].name, patterns[p].name, mbps);
            fflush(stdout);
        }
        /* random pages overflow: nothing to decode */
        if (p != 4) {
            memcpy(cache, old, bytes);
            mbps = run(OP_DECODE, NULL, old, cache, new, enc, enclen, n, ms);
            printf("{\"op\": \"decode\", \"pattern\": \"%s\", \"mbps\": %.0f, "
                   "\"what\": \"%s\"}\n", patterns[p].name, mbps, patterns[p].what);
            fflush(stdout);
        }
        for (int i = 0; i < n; i++) {
            g_free(enc[i]);
        }
    }
    return 0;
}
