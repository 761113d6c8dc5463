/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's polled virtio-mmio balloon driver: inflate/deflate from
 * the churn heap or the top of RAM, and free page hints.  See balloon.h.
 */
#include "alloc.h"
#include "balloon.h"
#include "virtio-wire.h"
#include "workload-int.h"

#define MMIO(off)   (VIRTIO_MMIO_KVMIG_BASE + (off))
#define CFG(off)    MMIO(VIRTIO_MMIO_CONFIG + (off))

/* Queue slots in WlBalloonState.q[] and their device numbers. */
enum { QI_INFLATE, QI_DEFLATE, QI_FREE_PAGE, QI__MAX };
static const uint16_t queue_index[QI__MAX] = {
    VIRTIO_BALLOON_VQ_INFLATE, VIRTIO_BALLOON_VQ_DEFLATE, VIRTIO_BALLOON_VQ_FREE_PAGE,
};

static inline WlBalloonState *bs_of(WlEnv *env)
{
    return (WlBalloonState *)(env->mem + env->drv_gpa);
}

static inline uint32_t rd(WlEnv *env, uint64_t off)
{
    return env->mmio_read32(env, MMIO(off));
}

static inline void wr(WlEnv *env, uint64_t off, uint32_t v)
{
    env->mmio_write32(env, MMIO(off), v);
}

static inline uint64_t dma(WlEnv *env, uint64_t gpa)
{
    return env->dma_addr ? env->dma_addr(env, gpa) : gpa;
}

static inline void barrier(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void zero(void *p, uint64_t n)
{
    volatile uint8_t *b = p;

    for (uint64_t i = 0; i < n; i++) {
        b[i] = 0;
    }
}

/*
 * Soft dirty log (workload.h): the driver's own page (WlBalloonState) is
 * marked once per wl_balloon_poll*() call, on the way out; the rings and
 * the ballooned-page bitmap where they are written; the heap marks itself.
 */
static inline void dirty_at(WlEnv *env, const volatile void *p, uint64_t len)
{
    wl_dirty(env, (uint64_t)((const volatile uint8_t *)p - env->mem), len);
}

/* ---- the rings ---- */

static bool queue_setup(WlEnv *env, WlBalloonState *bs, int qi)
{
    WlBalloonQueue *q = &bs->q[qi];
    uint64_t base = env->drv_gpa + (uint64_t)(qi + 1) * WL_PAGE_SIZE;
    uint16_t n = WL_BALLOON_QUEUE_SIZE;
    uint64_t a;

    zero(env->mem + base, WL_PAGE_SIZE);
    wl_dirty(env, base, WL_PAGE_SIZE);
    q->index = queue_index[qi];
    q->desc = base;
    q->avail = base + VRING_DESC_SIZE(n);
    q->used = (q->avail + VRING_AVAIL_SIZE(n) + 3) & ~3ULL;
    q->avail_idx = 0;
    q->used_seen = 0;

    wr(env, VIRTIO_MMIO_QUEUE_SEL, q->index);
    if (rd(env, VIRTIO_MMIO_QUEUE_READY) || rd(env, VIRTIO_MMIO_QUEUE_NUM_MAX) < n) {
        return false;
    }
    wr(env, VIRTIO_MMIO_QUEUE_NUM, n);
    a = dma(env, q->desc);
    wr(env, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)a);
    wr(env, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(a >> 32));
    a = dma(env, q->avail);
    wr(env, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)a);
    wr(env, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(a >> 32));
    a = dma(env, q->used);
    wr(env, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)a);
    wr(env, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(a >> 32));
    wr(env, VIRTIO_MMIO_QUEUE_READY, 1);
    q->ready = rd(env, VIRTIO_MMIO_QUEUE_READY) == 1;
    return q->ready;
}

/* Put descriptor @slot (a chain of one) on the avail ring. */
static void queue_add(WlEnv *env, WlBalloonQueue *q, uint16_t slot, uint64_t addr,
                      uint32_t len, bool device_writes)
{
    volatile VringDesc *d = (volatile VringDesc *)(env->mem + q->desc) + slot;
    volatile uint16_t *avail = (volatile uint16_t *)(env->mem + q->avail);

    d->addr = dma(env, addr);
    d->len = len;
    d->flags = device_writes ? VRING_DESC_F_WRITE : 0;
    d->next = 0;
    avail[VRING_AVAIL_RING / 2 + (q->avail_idx % WL_BALLOON_QUEUE_SIZE)] = slot;
    dirty_at(env, d, sizeof(*d));
    dirty_at(env, &avail[VRING_AVAIL_RING / 2 + (q->avail_idx % WL_BALLOON_QUEUE_SIZE)], 2);
    q->avail_idx++;
}

/*
 * Publish what queue_add() queued, notify, and check that the device used
 * all of it (kvmig's device works synchronously in the notify).  False if
 * it did not: the queue is then left alone.
 */
static bool queue_kick(WlEnv *env, WlBalloonQueue *q)
{
    volatile uint16_t *avail = (volatile uint16_t *)(env->mem + q->avail);
    volatile uint16_t *used = (volatile uint16_t *)(env->mem + q->used);

    barrier();
    avail[VRING_AVAIL_IDX / 2] = q->avail_idx;
    dirty_at(env, &avail[VRING_AVAIL_IDX / 2], 2);
    barrier();
    wr(env, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
    barrier();
    q->used_seen = used[VRING_USED_IDX / 2];
    if (q->used_seen != q->avail_idx) {
        q->ready = 0;
        return false;
    }
    return true;
}

/* ---- probe ---- */

static void probe(WlEnv *env, WlBalloonState *bs)
{
    uint64_t want = 1ULL << VIRTIO_F_VERSION_1;
    uint32_t f0, f1;

    bs->probe = WL_BALLOON_ABSENT;
    if (rd(env, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
        rd(env, VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_VERSION_2 ||
        rd(env, VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_BALLOON) {
        return;
    }
    wr(env, VIRTIO_MMIO_STATUS, 0);
    wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(env, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f0 = rd(env, VIRTIO_MMIO_DEVICE_FEATURES);
    wr(env, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    f1 = rd(env, VIRTIO_MMIO_DEVICE_FEATURES);
    if (!(f1 & (1u << (VIRTIO_F_VERSION_1 - 32)))) {
        wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
        return;
    }
    /* The stats queue is accepted (so the free page queue is at 3) but unused. */
    want |= f0 & ((1u << VIRTIO_BALLOON_F_STATS_VQ) | (1u << VIRTIO_BALLOON_F_FREE_PAGE_HINT) |
                  (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    wr(env, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(env, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)want);
    wr(env, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(env, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(want >> 32));
    wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                VIRTIO_STATUS_FEATURES_OK);
    if (!(rd(env, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
        return;
    }
    bs->hint = (want >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1;
    bs->deflate_on_oom = (want >> VIRTIO_BALLOON_F_DEFLATE_ON_OOM) & 1;
    for (int qi = 0; qi < QI__MAX; qi++) {
        if (qi == QI_FREE_PAGE && !bs->hint) {
            break;
        }
        if (!queue_setup(env, bs, qi)) {
            wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
            return;
        }
    }
    wr(env, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    bs->probe = WL_BALLOON_RUNNING;
    bs->actual = 0;
    bs->mode = WL_BALLOON_MODE_NONE;
    bs->oom_hold = 0;
    wr(env, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CFG_ACTUAL, 0);
}

/* ---- where free memory comes from ---- */

/* The churn workload's heap, once it is built. */
static bool heap_of(WlEnv *env, WlHeap *h)
{
    const WlState *st = env->state;

    if (st->magic != WL_STATE_MAGIC || st->kind != WL_CHURN ||
        st->phase < WL_CHURN_ALLOC || st->phase == WL_CHURN_HALT) {
        return false;
    }
    return wl_alloc_attach(h, env->mem, env->dirty, st->aux[WL_CHURN_AUX_META]);
}

static bool top_mode_ok(WlEnv *env)
{
    return env->state->kind == WL_IDLE && env->nr_regions > 0;
}

/* Heap page index <-> gpa, through the heap's own region table. */
static bool heap_index(const WlHeap *h, uint64_t gpa, uint64_t *idx)
{
    const WlAllocMeta *m = h->meta;

    for (uint32_t r = 0; r < m->nr_regions; r++) {
        if (gpa >= m->regions[r].gpa && gpa - m->regions[r].gpa < m->regions[r].size) {
            *idx = m->map_base[r] + (gpa - m->regions[r].gpa) / WL_PAGE_SIZE;
            return true;
        }
    }
    return false;
}

static uint64_t heap_gpa(const WlHeap *h, uint64_t idx)
{
    const WlAllocMeta *m = h->meta;
    uint32_t r = 0;

    while (r + 1 < m->nr_regions && idx >= m->map_base[r + 1]) {
        r++;
    }
    return m->regions[r].gpa + (idx - m->map_base[r]) * WL_PAGE_SIZE;
}

static uint64_t *bitmap_of(WlEnv *env, WlBalloonState *bs)
{
    return (uint64_t *)(env->mem + bs->bitmap);
}

/* Heap mode: a bitmap of ballooned pages, itself allocated from the heap. */
static bool bitmap_get(WlEnv *env, WlBalloonState *bs, WlHeap *h)
{
    uint64_t bytes = (wl_alloc_total_pages(h) + 63) / 64 * 8;
    unsigned order = 0;
    uint64_t gpa;

    if (bs->bitmap) {
        return true;
    }
    while ((WL_PAGE_SIZE << order) < bytes) {
        order++;
    }
    gpa = wl_alloc_pages(h, order);
    if (gpa == WL_ALLOC_NONE) {
        return false;
    }
    zero(env->mem + gpa, WL_PAGE_SIZE << order);
    wl_dirty(env, gpa, WL_PAGE_SIZE << order);
    bs->bitmap = gpa;
    bs->bitmap_order = order;
    bs->cursor = 0;
    return true;
}

/* Collect up to @want pages for the balloon into bs->pfns; returns how many. */
static uint32_t take_pages(WlEnv *env, WlBalloonState *bs, uint32_t want)
{
    uint32_t n = 0;

    if (bs->mode == WL_BALLOON_MODE_HEAP) {
        WlHeap h;

        if (!heap_of(env, &h) || !bitmap_get(env, bs, &h)) {
            return 0;
        }
        while (n < want) {
            uint64_t gpa = wl_alloc_pages(&h, 0), idx;

            if (gpa == WL_ALLOC_NONE) {
                break;
            }
            if (!heap_index(&h, gpa, &idx)) {
                wl_alloc_free(&h, gpa, 0);
                break;
            }
            bitmap_of(env, bs)[idx / 64] |= 1ULL << (idx % 64);
            dirty_at(env, &bitmap_of(env, bs)[idx / 64], 8);
            bs->pfns[n++] = (uint32_t)(dma(env, gpa) >> VIRTIO_BALLOON_PFN_SHIFT);
        }
    } else if (bs->mode == WL_BALLOON_MODE_TOP) {
        uint64_t total = wl_ram_total(env) / WL_PAGE_SIZE;
        uint64_t have = bs->actual;

        /* Keep the lowest 1/16 of RAM (and at least one page) for the guest. */
        uint64_t limit = total - total / 16 - 1;

        want = (uint32_t)wl_min(want, limit > have ? limit - have : 0);
        /* Ascending addresses: the device coalesces them into one madvise. */
        for (uint32_t j = want; j-- > 0;) {
            uint64_t lin = (total - (have + j) - 1) * WL_PAGE_SIZE;
            uint64_t gpa = wl_lin_to_gpa(env, lin, 0);

            bs->pfns[n++] = (uint32_t)(dma(env, gpa) >> VIRTIO_BALLOON_PFN_SHIFT);
        }
    }
    return n;
}

/*
 * Choose up to @want ballooned pages to give back, into bs->pfns (device
 * addresses) and @gpas (ours, heap mode); returns how many.
 */
static uint32_t pick_pages(WlEnv *env, WlBalloonState *bs, uint32_t want, uint64_t *gpas)
{
    uint32_t n = 0;

    want = (uint32_t)wl_min(want, bs->actual);
    if (bs->mode == WL_BALLOON_MODE_HEAP) {
        WlHeap h;
        uint64_t *bm = bitmap_of(env, bs), total;

        if (!heap_of(env, &h) || !bs->bitmap) {
            return 0;
        }
        total = wl_alloc_total_pages(&h);
        for (uint64_t scanned = 0; n < want && scanned <= total + 64; scanned += 64) {
            uint64_t w;

            if (bs->cursor >= total) {
                bs->cursor = 0;
            }
            w = bm[bs->cursor / 64] >> (bs->cursor % 64);
            if (!w) {
                bs->cursor = (bs->cursor / 64 + 1) * 64;
                continue;
            }
            bs->cursor += (uint64_t)__builtin_ctzll(w);
            gpas[n] = heap_gpa(&h, bs->cursor);
            bs->pfns[n] = (uint32_t)(dma(env, gpas[n]) >> VIRTIO_BALLOON_PFN_SHIFT);
            n++;
            bs->cursor++;
            scanned = 0;
        }
    } else if (bs->mode == WL_BALLOON_MODE_TOP) {
        uint64_t total = wl_ram_total(env) / WL_PAGE_SIZE;

        /* The lowest ballooned pages go first, so the balloon stays on top. */
        for (uint32_t j = 0; j < want; j++) {
            uint64_t lin = (total - bs->actual + j) * WL_PAGE_SIZE;
            bs->pfns[n++] = (uint32_t)(dma(env, wl_lin_to_gpa(env, lin, 0)) >>
                                       VIRTIO_BALLOON_PFN_SHIFT);
        }
    }
    return n;
}

/* Heap mode: the pages were deflated; give them back to the heap. */
static void return_pages(WlEnv *env, WlBalloonState *bs, const uint64_t *gpas, uint32_t n)
{
    WlHeap h;

    if (bs->mode != WL_BALLOON_MODE_HEAP || !heap_of(env, &h)) {
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t idx;

        if (heap_index(&h, gpas[i], &idx)) {
            bitmap_of(env, bs)[idx / 64] &= ~(1ULL << (idx % 64));
            dirty_at(env, &bitmap_of(env, bs)[idx / 64], 8);
        }
        wl_alloc_free(&h, gpas[i], 0);
    }
}

static void set_actual(WlEnv *env, WlBalloonState *bs, uint32_t actual)
{
    bs->actual = actual;
    wr(env, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CFG_ACTUAL, actual);
}

/*
 * Give up to @want pages back: the device is told (and has used the
 * buffer) before a page returns to the heap.  Returns how many went.
 */
static uint32_t deflate(WlEnv *env, WlBalloonState *bs, uint32_t want)
{
    uint64_t gpas[WL_BALLOON_PFNS];     /* the pages, our addresses */
    uint32_t done = 0;

    while (done < want) {
        WlBalloonQueue *q = &bs->q[QI_DEFLATE];
        uint32_t n = pick_pages(env, bs, (uint32_t)wl_min(want - done, WL_BALLOON_PFNS),
                                gpas);
        if (!n || !q->ready) {
            break;
        }
        queue_add(env, q, 0, env->drv_gpa + __builtin_offsetof(WlBalloonState, pfns),
                  n * 4, false);
        if (!queue_kick(env, q)) {
            break;
        }
        return_pages(env, bs, gpas, n);
        set_actual(env, bs, bs->actual - n);
        done += n;
    }
    return done;
}

/* Move the balloon toward bs->target; false if it could not get there. */
static bool resize(WlEnv *env, WlBalloonState *bs)
{
    if (bs->actual == 0) {
        WlHeap h;

        if (bs->mode == WL_BALLOON_MODE_HEAP && bs->bitmap && heap_of(env, &h)) {
            wl_alloc_free(&h, bs->bitmap, bs->bitmap_order);
        }
        bs->bitmap = 0;
        bs->mode = heap_of(env, &h) ? WL_BALLOON_MODE_HEAP :
                   top_mode_ok(env) ? WL_BALLOON_MODE_TOP : WL_BALLOON_MODE_NONE;
    }
    while (bs->actual < bs->target) {
        WlBalloonQueue *q = &bs->q[QI_INFLATE];
        uint32_t n = take_pages(env, bs, (uint32_t)wl_min(bs->target - bs->actual,
                                                          WL_BALLOON_PFNS));
        if (!n || !q->ready) {
            return false;
        }
        queue_add(env, q, 0, env->drv_gpa + __builtin_offsetof(WlBalloonState, pfns),
                  n * 4, false);
        if (!queue_kick(env, q)) {
            return false;
        }
        set_actual(env, bs, bs->actual + n);
    }
    if (bs->actual > bs->target && deflate(env, bs, bs->actual - bs->target) <
                                    bs->actual - bs->target) {
        return false;
    }
    if (bs->actual == 0 && bs->mode == WL_BALLOON_MODE_HEAP && bs->bitmap) {
        WlHeap h;

        if (heap_of(env, &h)) {
            wl_alloc_free(&h, bs->bitmap, bs->bitmap_order);
        }
        bs->bitmap = 0;
    }
    return true;
}

/* ---- free page hints ---- */

static uint32_t read_cmd_id(WlEnv *env)
{
    return env->mmio_read32(env, CFG(VIRTIO_BALLOON_CFG_FREE_PAGE_HINT_CMD_ID));
}

/* A batch being built: descriptor slots used so far. */
typedef struct HintBatch {
    WlBalloonQueue *q;
    uint16_t used;
    uint32_t cmd_id;
    bool stopped;           /* the device changed the command id */
} HintBatch;

/* Send the batch; then re-read the command id before anything more is looked at. */
static void hint_flush(WlEnv *env, HintBatch *hb)
{
    if (hb->used) {
        if (!queue_kick(env, hb->q)) {
            hb->stopped = true;
        }
        hb->used = 0;
    }
    if (read_cmd_id(env) != hb->cmd_id) {
        hb->stopped = true;
    }
    /* The free lists are read only after the id (the device stamps that read). */
    barrier();
}

/* Report [gpa, gpa + len) free, split so no piece crosses a 1 GiB line. */
static void hint_range(WlEnv *env, WlBalloonState *bs, HintBatch *hb, uint64_t gpa,
                       uint64_t len)
{
    while (len && !hb->stopped) {
        uint64_t n = wl_min(len, (1ULL << 30) - (gpa & ((1ULL << 30) - 1)));

        queue_add(env, hb->q, hb->used++, gpa, (uint32_t)n, true);
        bs->hinted_bytes += n;
        gpa += n;
        len -= n;
        if (hb->used == WL_BALLOON_QUEUE_SIZE) {
            hint_flush(env, hb);
        }
    }
}

static void hint_round(WlEnv *env, WlBalloonState *bs, uint32_t cmd_id)
{
    HintBatch hb = { &bs->q[QI_FREE_PAGE], 0, cmd_id, false };
    WlHeap h;

    if (!hb.q->ready) {
        return;
    }
    bs->rounds++;
    /* Two buffers: both messages may go in one batch. */
    bs->cmd[0] = cmd_id;
    bs->cmd[1] = VIRTIO_BALLOON_CMD_ID_STOP;
    queue_add(env, hb.q, hb.used++, env->drv_gpa + __builtin_offsetof(WlBalloonState, cmd),
              4, false);
    if (heap_of(env, &h)) {
        WlAllocIter it;
        uint64_t gpa;
        unsigned order;

        wl_alloc_iter_init(&h, &it, WL_BALLOON_HINT_MIN_ORDER);
        while (!hb.stopped && wl_alloc_iter_next(&h, &it, &gpa, &order)) {
            /* The first page holds the free-list link: it is not free. */
            hint_range(env, bs, &hb, gpa + WL_PAGE_SIZE, (WL_PAGE_SIZE << order) - WL_PAGE_SIZE);
        }
    } else if (top_mode_ok(env)) {
        uint64_t free_end = wl_ram_total(env) -
                            (bs->mode == WL_BALLOON_MODE_TOP ? bs->actual * WL_PAGE_SIZE : 0);

        for (uint64_t lin = 0; lin < free_end && !hb.stopped;) {
            uint64_t contig, gpa = wl_lin_to_gpa(env, lin, &contig);

            contig = wl_min(contig, free_end - lin);
            hint_range(env, bs, &hb, gpa, contig);
            lin += contig;
        }
    }
    if (!hb.stopped) {
        /* Everything reported: tell the device with STOP. */
        queue_add(env, hb.q, hb.used++,
                  env->drv_gpa + __builtin_offsetof(WlBalloonState, cmd) + 4, 4, false);
        hint_flush(env, &hb);
    }
}

/* ---- deflate on OOM ---- */

static bool have_device(WlEnv *env)
{
    return env->mmio_read32 && env->mmio_write32 && env->drv_gpa && env->cpu_index == 0;
}

static void balloon_poll(WlEnv *env);

bool wl_balloon_oom(void *opaque, unsigned order)
{
    WlEnv *env = opaque;
    WlBalloonState *bs;
    uint32_t want, n;

    if (!have_device(env)) {
        return false;
    }
    bs = bs_of(env);
    /* Without the feature the balloon's pages are not ours to use. */
    if (bs->magic != WL_BALLOON_MAGIC || bs->probe != WL_BALLOON_RUNNING ||
        !bs->deflate_on_oom || bs->mode != WL_BALLOON_MODE_HEAP || !bs->actual) {
        return false;
    }
    want = WL_BALLOON_OOM_NR_PAGES;
    if (order < 31 && (1u << order) > want) {
        want = 1u << order;
    }
    n = deflate(env, bs, (uint32_t)wl_min(want, bs->actual));
    if (!n) {
        return false;
    }
    bs->oom_hold = 1;
    bs->oom_events++;
    bs->oom_pages += n;
    /* soft dirty log: called from the allocator, not from wl_balloon_poll */
    wl_dirty(env, env->drv_gpa, sizeof(WlBalloonState));
    return true;
}

/* ---- polling ---- */

/* Not at the target, and not held below it after an OOM deflate. */
static bool resize_wanted(const WlBalloonState *bs)
{
    return bs->actual > bs->target || (bs->actual < bs->target && !bs->oom_hold);
}

void wl_balloon_heap_ready(WlEnv *env)
{
    if (!have_device(env)) {
        return;
    }
    if (bs_of(env)->magic == WL_BALLOON_MAGIC) {
        bs_of(env)->retry_ns = 0;       /* a resize that found no heap: now */
    }
    wl_balloon_poll(env);
}

uint64_t wl_balloon_retry_due(WlEnv *env)
{
    const WlBalloonState *bs;

    if (!have_device(env)) {
        return 0;
    }
    bs = bs_of(env);
    if (bs->magic != WL_BALLOON_MAGIC || bs->probe != WL_BALLOON_RUNNING ||
        !resize_wanted(bs)) {
        return 0;
    }
    return bs->retry_ns ? bs->retry_ns : 1;
}

void wl_balloon_poll(WlEnv *env)
{
    if (have_device(env)) {
        balloon_poll(env);
        wl_dirty(env, env->drv_gpa, sizeof(WlBalloonState));
    }
}

static void balloon_poll(WlEnv *env)
{
    WlBalloonState *bs;
    uint32_t isr, gen, cmd_id = 0, target = 0;

    if (!have_device(env)) {
        return;
    }
    bs = bs_of(env);
    if (bs->magic != WL_BALLOON_MAGIC) {
        zero(bs, sizeof(*bs));
        bs->magic = WL_BALLOON_MAGIC;
    }
    if (bs->probe == WL_BALLOON_UNPROBED) {
        probe(env, bs);
        if (bs->probe == WL_BALLOON_RUNNING) {
            /* Fetch the config below as if it had changed. */
            isr = VIRTIO_MMIO_INT_CONFIG;
            goto changed;
        }
    }
    if (bs->probe != WL_BALLOON_RUNNING) {
        return;
    }
    isr = rd(env, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (!(isr & VIRTIO_MMIO_INT_CONFIG)) {
        /* A resize that could not finish is retried now and then. */
        if (resize_wanted(bs) && env->now_ns(env) >= bs->retry_ns) {
            if (!resize(env, bs)) {
                bs->retry_ns = env->now_ns(env) + 100 * WL_BALLOON_POLL_NS;
            }
        }
        return;
    }

changed:
    /* Acknowledge first: a change after this raises the bit again. */
    wr(env, VIRTIO_MMIO_INTERRUPT_ACK, isr);
    do {
        gen = rd(env, VIRTIO_MMIO_CONFIG_GENERATION);
        target = rd(env, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CFG_NUM_PAGES);
        if (bs->hint) {
            cmd_id = read_cmd_id(env);
        }
    } while (gen != rd(env, VIRTIO_MMIO_CONFIG_GENERATION));
    barrier();

    /*
     * An OOM deflate holds the balloon below its target until the next
     * config change, which re-inflates it (as Linux does on every one),
     * except a change that only starts a new hint round: a migration must
     * not take back the memory the guest just needed.  A round's end (the
     * id going to STOP or DONE) cannot be told from a `balloon` command
     * that repeats the target, so it re-inflates.
     */
    if (bs->oom_hold && !(target == bs->target && bs->hint && cmd_id != bs->seen_cmd_id &&
                          cmd_id != VIRTIO_BALLOON_CMD_ID_STOP &&
                          cmd_id != VIRTIO_BALLOON_CMD_ID_DONE)) {
        bs->oom_hold = 0;
    }
    bs->seen_cmd_id = cmd_id;
    bs->target = target;
    if (resize_wanted(bs) && !resize(env, bs)) {
        bs->retry_ns = env->now_ns(env) + 100 * WL_BALLOON_POLL_NS;
    }
    if (bs->hint && cmd_id != VIRTIO_BALLOON_CMD_ID_STOP &&
        cmd_id != VIRTIO_BALLOON_CMD_ID_DONE && cmd_id != bs->last_cmd_id) {
        bs->last_cmd_id = cmd_id;
        /*
         * The id was just read, before any free list is looked at: the
         * device stamps the reports of this first batch with that read.
         */
        hint_round(env, bs, cmd_id);
    }
}

void wl_balloon_poll_timed(WlEnv *env)
{
    WlBalloonState *bs;
    uint64_t now;

    if (!have_device(env)) {
        return;
    }
    bs = bs_of(env);
    if (bs->magic == WL_BALLOON_MAGIC && bs->probe == WL_BALLOON_ABSENT) {
        return;
    }
    now = env->now_ns(env);
    if (bs->magic == WL_BALLOON_MAGIC && now < bs->next_poll_ns &&
        bs->next_poll_ns - now <= WL_BALLOON_POLL_NS) {
        return;
    }
    wl_balloon_poll(env);
    bs->next_poll_ns = now + WL_BALLOON_POLL_NS;
    wl_dirty(env, env->drv_gpa, sizeof(WlBalloonState));
}
