/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * churn size=S: build a buddy heap over RAM from 4 MiB up, allocate S
 * bytes in random block sizes (4 KiB .. 256 KiB) and fill them with random
 * data, free all but ~1/8 of them (the live set), checksum the
 * live set and print `C`; then, every second, re-checksum it and print `V`
 * when it matches or `X` (and stop) when it does not.  Default S: half of
 * RAM.  What is left is a fragmented heap with lots of free memory: the
 * case a balloon's free-page hints are for.
 *
 * When the heap runs out before S (the balloon holds the memory, or S is
 * more than RAM) the heap first asks the balloon driver, which deflates on
 * OOM if the device offered VIRTIO_BALLOON_F_DEFLATE_ON_OOM.  If that does
 * not help, churn prints `E`, frees every block it allocated and idles
 * (the heap stays, so the balloon can still be resized); it never prints
 * `C` then.
 *
 * Every allocated block starts with a WlChurnBlock header linking it into
 * a list (all blocks, then the live set); the heads, the checksums and the
 * cursors are in state->aux (see workload-int.h), the heap's metadata at
 * the start of RAM above 4 MiB: all of it migrates with guest RAM.
 *
 * Checksum: two running 64-bit sums over the words (s1 += w; s2 += s1);
 * any single changed byte changes s1.
 */
#include "alloc.h"
#include "balloon.h"
#include "workload-int.h"

#define CH(x) (st->aux[WL_CHURN_AUX_##x])

static inline WlChurnBlock *block_at(WlEnv *env, uint64_t gpa)
{
    return (WlChurnBlock *)(env->mem + gpa);
}

static inline uint64_t order_bytes(uint32_t order)
{
    return WL_PAGE_SIZE << order;
}

/*
 * Allocate the next block and link it into the all-blocks list: 1, or 0
 * when S bytes are allocated, or -1 when the heap has no page left.
 */
static int churn_alloc_block(WlEnv *env, WlHeap *h)
{
    WlState *st = env->state;
    uint64_t left = CH(TARGET) - CH(ALLOCATED);
    unsigned order = (unsigned)wl_rng_below(wl_rng_next(&st->rng),
                                            WL_CHURN_MAX_ORDER + 1);
    uint64_t gpa;
    WlChurnBlock *b;

    if (left < WL_PAGE_SIZE) {
        return 0;
    }
    while (order > 0 && order_bytes(order) > left) {
        order--;
    }
    /* Out of memory: the balloon may give some back (deflate on OOM). */
    h->oom = wl_balloon_oom;
    h->oom_opaque = env;
    while ((gpa = wl_alloc_pages(h, order)) == WL_ALLOC_NONE) {
        if (order == 0) {
            return -1;          /* heap exhausted before S */
        }
        order--;
    }
    b = block_at(env, gpa);
    b->next = CH(ALL_HEAD);
    b->order = order;
    b->magic = WL_CHURN_BLOCK_MAGIC;
    wl_dirty(env, gpa, sizeof(*b));
    CH(ALL_HEAD) = gpa;
    CH(ALLOCATED) += order_bytes(order);
    CH(CUR) = gpa;
    st->pos = sizeof(WlChurnBlock);
    return 1;
}

/* Out of memory: give back every block allocated so far. */
static void churn_free_all(WlEnv *env, WlHeap *h)
{
    WlState *st = env->state;

    while (CH(ALL_HEAD) != WL_ALLOC_NONE) {
        WlChurnBlock *b = block_at(env, CH(ALL_HEAD));

        CH(ALL_HEAD) = b->next;
        wl_alloc_free(h, (uint64_t)((uint8_t *)b - env->mem), b->order);
    }
    CH(CUR) = WL_ALLOC_NONE;
}

/* Fill the current block up to WL_POLL_BYTES more; true when it is full. */
static bool churn_fill_step(WlEnv *env)
{
    WlState *st = env->state;
    WlChurnBlock *b = block_at(env, CH(CUR));
    uint64_t size = order_bytes(b->order);
    uint64_t stop = wl_min(size, st->pos + WL_POLL_BYTES);
    uint64_t *w = (uint64_t *)((uint8_t *)b + st->pos);
    uint64_t rng = st->rng;

    for (uint64_t off = st->pos; off < stop; off += 8) {
        *w++ = wl_rng_next(&rng);
    }
    wl_dirty(env, CH(CUR) + st->pos, stop - st->pos);
    st->rng = rng;
    st->pos = stop;
    if (stop == size) {
        CH(CUR) = WL_ALLOC_NONE;
        return true;
    }
    return false;
}

/* Keep or free up to 16 blocks of the all-blocks list. */
static void churn_free_step(WlEnv *env, WlHeap *h)
{
    WlState *st = env->state;

    for (int i = 0; i < 16 && CH(ALL_HEAD) != WL_ALLOC_NONE; i++) {
        uint64_t gpa = CH(ALL_HEAD);
        WlChurnBlock *b = block_at(env, gpa);
        uint64_t size = order_bytes(b->order);
        /* Keep a block whenever the live set lags 1/8 of what was seen. */
        bool keep = CH(LIVE_BYTES) + size <= (CH(SEEN) + size) / 8;

        CH(SEEN) += size;

        CH(ALL_HEAD) = b->next;
        if (keep) {
            b->next = CH(LIVE_HEAD);
            wl_dirty(env, gpa, sizeof(*b));
            CH(LIVE_HEAD) = gpa;
            CH(LIVE_BYTES) += size;
        } else {
            wl_alloc_free(h, gpa, b->order);
        }
    }
}

/* Start a checksum pass over the live set. */
static void churn_sum_begin(WlEnv *env, uint32_t phase)
{
    WlState *st = env->state;

    CH(CUR) = CH(LIVE_HEAD);
    CH(SUM1) = 0;
    CH(SUM2) = 0;
    st->pos = 0;
    st->phase = phase;
}

/*
 * A live block header we can trust enough to follow: inside RAM, aligned,
 * intact.  Guards the verifier against a corrupted list (a migration bug
 * must show up as `X`, not as a wild read in the thread accelerator).
 */
static bool block_ok(WlEnv *env, uint64_t gpa)
{
    WlChurnBlock *b;

    if ((gpa & (WL_PAGE_SIZE - 1)) || !wl_gpa_valid(env, gpa, WL_PAGE_SIZE)) {
        return false;
    }
    b = block_at(env, gpa);
    return b->magic == WL_CHURN_BLOCK_MAGIC &&
           b->order <= WL_CHURN_MAX_ORDER &&
           wl_gpa_valid(env, gpa, order_bytes(b->order));
}

/* Sum up to WL_POLL_BYTES more of the live set: 1 done, 0 not yet, -1 bad. */
static int churn_sum_step(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t s1 = CH(SUM1), s2 = CH(SUM2), budget = WL_POLL_BYTES;

    while (CH(CUR) != WL_ALLOC_NONE && budget) {
        WlChurnBlock *b;
        uint64_t size, stop;
        const uint64_t *w;

        if (!block_ok(env, CH(CUR))) {
            return -1;
        }
        b = block_at(env, CH(CUR));
        size = order_bytes(b->order);
        stop = wl_min(size, st->pos + budget);
        w = (const uint64_t *)((uint8_t *)b + st->pos);
        for (uint64_t off = st->pos; off < stop; off += 8) {
            s1 += *w++;
            s2 += s1;
        }
        budget -= stop - st->pos;
        st->pos = stop;
        if (stop == size) {
            CH(CUR) = b->next;
            st->pos = 0;
        }
    }
    CH(SUM1) = s1;
    CH(SUM2) = s2;
    return CH(CUR) == WL_ALLOC_NONE;
}

/* Take the next step; returns false when wl_run() must return. */
static bool churn_step(WlEnv *env)
{
    WlState *st = env->state;
    WlHeap heap;
    uint64_t now;
    int r;

    switch (st->phase) {
    case WL_CHURN_START: {
        uint64_t total = wl_ram_total(env);

        CH(META) = env->regions[0].gpa;
        CH(META_SIZE) = wl_alloc_meta_size(env->regions, env->nr_regions);
        CH(TARGET) = env->cfg.size ? env->cfg.size : total / 2;
        CH(ALL_HEAD) = WL_ALLOC_NONE;
        CH(LIVE_HEAD) = WL_ALLOC_NONE;
        CH(CUR) = WL_ALLOC_NONE;
        st->rng = wl_rng_seed(env->now_ns(env) ^ 0x636875726e);
        st->pos = 0;
        /* A first region too small for the metadata: let init refuse it. */
        st->phase = CH(META_SIZE) < env->regions[0].size ? WL_CHURN_CLEAR
                                                          : WL_CHURN_INIT;
        return true;
    }
    case WL_CHURN_CLEAR: {
        uint64_t stop = wl_min(CH(META_SIZE), st->pos + WL_POLL_BYTES);
        uint64_t *w = (uint64_t *)(env->mem + CH(META) + st->pos);

        for (uint64_t off = st->pos; off < stop; off += 8) {
            *w++ = 0;
        }
        wl_dirty(env, CH(META) + st->pos, stop - st->pos);
        st->pos = stop;
        if (stop == CH(META_SIZE)) {
            st->phase = WL_CHURN_INIT;
        }
        return env->poll(env);
    }
    case WL_CHURN_INIT:
        if (!wl_alloc_init(&heap, env->mem, env->dirty, env->regions, env->nr_regions)) {
            /* RAM too small for a heap: nothing to churn. */
            env->write(env, "C", 1);
            st->phase = WL_CHURN_HALT;
            return true;
        }
        st->phase = WL_CHURN_ALLOC;
        wl_balloon_heap_ready(env);
        return env->poll(env);
    case WL_CHURN_ALLOC:
        if (CH(CUR) == WL_ALLOC_NONE) {
            if (!wl_alloc_attach(&heap, env->mem, env->dirty, CH(META))) {
                st->phase = WL_CHURN_FREE;
                return true;
            }
            r = churn_alloc_block(env, &heap);
            if (r == 0) {
                st->phase = WL_CHURN_FREE;
                return true;
            }
            if (r < 0) {
                churn_free_all(env, &heap);
                st->phase = WL_CHURN_NOMEM;
                env->write(env, "E", 1);
                return true;
            }
        }
        churn_fill_step(env);
        return env->poll(env);
    case WL_CHURN_FREE:
        if (wl_alloc_attach(&heap, env->mem, env->dirty, CH(META))) {
            churn_free_step(env, &heap);
        } else {
            CH(ALL_HEAD) = WL_ALLOC_NONE;
        }
        if (CH(ALL_HEAD) == WL_ALLOC_NONE) {
            churn_sum_begin(env, WL_CHURN_SUM);
        }
        return env->poll(env);
    case WL_CHURN_SUM:
        r = churn_sum_step(env);
        if (r < 0) {
            st->phase = WL_CHURN_HALT;
            env->write(env, "X", 1);
            return true;
        }
        if (r > 0) {
            CH(EXPECT1) = CH(SUM1);
            CH(EXPECT2) = CH(SUM2);
            CH(DEADLINE) = env->now_ns(env) + WL_NS_PER_SEC;
            st->phase = WL_CHURN_WAIT;
            env->write(env, "C", 1);
        }
        return env->poll(env);
    case WL_CHURN_WAIT:
        now = env->now_ns(env);
        if (CH(DEADLINE) > now + 2 * WL_NS_PER_SEC) {
            CH(DEADLINE) = now + WL_NS_PER_SEC;   /* clock jumped back */
        }
        if (now < CH(DEADLINE)) {
            return env->sleep_until(env, CH(DEADLINE));
        }
        churn_sum_begin(env, WL_CHURN_VERIFY);
        return true;
    case WL_CHURN_VERIFY:
        r = churn_sum_step(env);
        if (r != 0) {
            if (r < 0 || CH(SUM1) != CH(EXPECT1) || CH(SUM2) != CH(EXPECT2)) {
                st->phase = WL_CHURN_HALT;
                env->write(env, "X", 1);
                return true;
            }
            CH(VERIFIED)++;
            now = env->now_ns(env);
            CH(DEADLINE) += WL_NS_PER_SEC;
            if (CH(DEADLINE) < now) {
                CH(DEADLINE) = now + WL_NS_PER_SEC;   /* fell behind */
            }
            st->phase = WL_CHURN_WAIT;
            env->write(env, "V", 1);
        }
        return env->poll(env);
    case WL_CHURN_NOMEM:
    case WL_CHURN_HALT:
    default:
        wl_idle(env);
        return false;
    }
}

void wl_churn(WlEnv *env)
{
    while (churn_step(env)) {
    }
}
