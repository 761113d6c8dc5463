/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Microbenchmark of every buffer_is_zero variant the CPU supports: an
 * in-cache 4 KiB zero page checked repeatedly, and a sweep over 1 GiB of
 * zero (touched, so resident) memory.  One JSON line per variant and size.
 * usage: bench-bufferiszero [--sweep-mib N] [--seconds S]
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "util/bufferiszero.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Median of five timed runs of `reps` calls over `bytes` bytes each. */
static double measure(BufferIsZeroFn fn, const unsigned char *buf, size_t bytes,
                      size_t chunk, long reps)
{
    double gbps[5];
    volatile bool sink = false;

    for (int run = 0; run < 5; run++) {
        double t0 = now_s(), dt;
        for (long r = 0; r < reps; r++) {
            for (size_t off = 0; off < bytes; off += chunk) {
                sink ^= fn(buf + off, chunk);
            }
        }
        dt = now_s() - t0;
        gbps[run] = (double)bytes * reps / dt / 1e9;
    }
    for (int i = 0; i < 5; i++) {      /* tiny insertion sort */
        for (int j = i; j > 0 && gbps[j] < gbps[j - 1]; j--) {
            double t = gbps[j];
            gbps[j] = gbps[j - 1];
            gbps[j - 1] = t;
        }
    }
    (void)sink;
    return gbps[2];
}

int main(int argc, char **argv)
{
    size_t n, sweep = 1ULL << 30;
    const BufferIsZeroImpl *impls = buffer_is_zero_impls(&n);
    unsigned char *page, *big;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sweep-mib")) {
            sweep = (size_t)g_ascii_strtoull(argv[i + 1], NULL, 10) << 20;
        }
    }
    page = g_aligned_alloc0(1, 4096, 64);
    big = mmap(NULL, sweep, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (big == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memset(big, 0, sweep);     /* resident, so the sweep measures memory, not faults */
    for (size_t i = 0; i < n; i++) {
        if (!impls[i].supported()) {
            continue;
        }
        printf("{\"impl\": \"%s\", \"bytes\": 4096, \"gbps\": %.1f}\n", impls[i].name,
               measure(impls[i].fn, page, 4096, 4096, 200000));
        printf("{\"impl\": \"%s\", \"bytes\": %zu, \"gbps\": %.1f}\n", impls[i].name, sweep,
               measure(impls[i].fn, big, sweep, 4096, 1));
        fflush(stdout);
    }
    g_aligned_free(page);
    munmap(big, sweep);
    return 0;
}
