/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fill size=S ratio=R: write S bytes from 4 MiB up with data that zlib
 * level 1 compresses about R:1, print `F`, then idle.
 *
 * Every page gets a run of random words (incompressible) followed by a
 * repeating 8-byte pattern that deflate reduces to almost nothing; the
 * random share is about 1/R of the page.  No page is all zeroes, so a
 * migration's zero-page detection does not see through the data.
 *
 * State: phase 0 = start, 1 = writing, 2 = done; pos = bytes written
 * (offset into the concatenated regions); counter = target bytes; rng.
 */
#include "workload-int.h"

enum { FILL_START, FILL_WRITE, FILL_DONE };

/*
 * Words of random data per 4 KiB page for a given ratio.  Measured with
 * zlib level 1: a page costs its random bytes plus ~33 bytes (the Huffman
 * and match overhead), so aim the random part at 4096 / R - 33.
 */
static unsigned random_words(uint32_t ratio)
{
    uint64_t bytes;

    if (ratio <= 1) {
        return WL_PAGE_SIZE / 8;
    }
    bytes = WL_PAGE_SIZE / ratio;
    if (bytes < 33 + 8) {
        return 1;
    }
    return (unsigned)((bytes - 33 + 4) / 8);
}

static void fill_page(uint64_t *p, unsigned nrand, uint64_t *rng)
{
    const uint64_t pattern = 0x2020676966696d6bULL;     /* "kmifig  " */
    unsigned i;

    for (i = 0; i < nrand; i++) {
        p[i] = wl_rng_next(rng);
    }
    for (; i < WL_PAGE_SIZE / 8; i++) {
        p[i] = pattern;
    }
}

void wl_fill(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t total = wl_ram_total(env);
    unsigned nrand = random_words(env->cfg.ratio);
    uint64_t pos, rng;

    if (st->phase == FILL_START) {
        uint64_t size = env->cfg.size ? wl_min(env->cfg.size, total) : total;

        st->counter = (size + WL_PAGE_SIZE - 1) & ~(WL_PAGE_SIZE - 1);
        st->rng = wl_rng_seed(env->now_ns(env));
        st->pos = 0;
        st->phase = FILL_WRITE;
    }

    pos = st->pos;
    rng = st->rng;
    while (st->phase == FILL_WRITE) {
        uint64_t stop = wl_min(st->counter, pos + WL_POLL_BYTES);

        while (pos < stop) {
            uint64_t contig, gpa = wl_lin_to_gpa(env, pos, &contig);
            uint64_t end = pos + wl_min(contig, stop - pos);
            uint64_t first = gpa;

            for (; pos < end; pos += WL_PAGE_SIZE, gpa += WL_PAGE_SIZE) {
                fill_page((uint64_t *)(env->mem + gpa), nrand, &rng);
            }
            wl_dirty(env, first, gpa - first);
        }
        st->pos = pos;
        st->rng = rng;
        if (pos >= st->counter) {
            st->phase = FILL_DONE;
            env->write(env, "F", 1);
        }
        if (!env->poll(env)) {
            return;
        }
    }
    wl_idle(env);
}
