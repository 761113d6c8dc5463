/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pagewalk: increment the first byte of every page from 4 MiB to the end
 * of RAM, ascending, forever; `B` after each pass.
 *
 * Invariant (checked by harnesses on a stopped guest): along the pages the
 * byte is constant except for at most one step down by exactly 1 (mod 256),
 * at state->pos.  Pages before pos hold the value of the running pass.
 *
 * State: pos = gpa of the next page to increment; pass = completed passes.
 */
#include "workload-int.h"

/* Region holding @gpa, or the first one above it; -1 past the last. */
static int region_at_or_above(const WlEnv *env, uint64_t gpa)
{
    for (int i = 0; i < env->nr_regions; i++) {
        if (gpa < env->regions[i].gpa + env->regions[i].size) {
            return i;
        }
    }
    return -1;
}

void wl_pagewalk(WlEnv *env)
{
    WlState *st = env->state;
    /*
     * volatile: the increments must reach memory in ascending order even
     * inside a chunk, since a KVM guest can be stopped at any instruction.
     */
    volatile uint8_t *mem = env->mem;
    uint64_t pos = st->pos;
    int r;

    r = region_at_or_above(env, pos);
    if (r < 0) {
        r = 0;
    }
    if (pos < env->regions[r].gpa) {
        pos = env->regions[r].gpa;
    }

    for (;;) {
        uint64_t end = env->regions[r].gpa + env->regions[r].size;
        uint64_t stop = wl_min(end, pos + WL_POLL_BYTES);
        uint64_t first = pos;

        while (pos < stop) {
            mem[pos]++;
            pos += WL_PAGE_SIZE;
        }
        wl_dirty(env, first, pos - first);
        if (pos >= end) {
            if (++r == env->nr_regions) {
                /* Pass complete: report it in the same step as the wrap. */
                r = 0;
                st->pass++;
                env->write(env, "B", 1);
            }
            pos = env->regions[r].gpa;
        }
        st->pos = pos;
        if (!env->poll(env)) {
            return;
        }
    }
}
