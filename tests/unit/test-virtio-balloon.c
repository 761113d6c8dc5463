/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-balloon device model driven through MMIO: by a raw fake
 * driver (registers, negotiation, a broken ring) and by the test guest's
 * own driver (guest/workloads/balloon.c) running over a WlEnv the way the
 * thread accelerator builds it: inflate/deflate accounting and madvise,
 * and hinting rounds with command ids and stamps.
 */
#include <glib.h>
#include <string.h>

#include "alloc.h"
#include "balloon.h"
#include "hw/virtio/virtio-balloon.h"
#include "system/machine.h"
#include "util/bitmap.h"
#include "virtio-wire.h"
#include "workload-int.h"

#define RAM     (64ULL << 20)
#define MIB     (1ULL << 20)

typedef struct Fixture {
    Machine *m;
    VirtIOBalloon *b;
    WlEnv env;
    GArray *ranges;         /* HintRange reported */
    uint64_t stamp;         /* what stamp() returns next */
    unsigned stamps;        /* stamp() calls */
} Fixture;

typedef struct HintRange {
    uint64_t gpa, len, stamp;
} HintRange;

static uint32_t rd(Fixture *f, uint64_t off)
{
    uint32_t v;

    machine_mmio(f->m, MACHINE_MMIO_BASE + off, false, &v, 4);
    return v;
}

static void wr(Fixture *f, uint64_t off, uint32_t v)
{
    machine_mmio(f->m, MACHINE_MMIO_BASE + off, true, &v, 4);
}

static uint32_t env_rd(WlEnv *env, uint64_t gpa)
{
    Fixture *f = env->opaque;
    uint32_t v;

    machine_mmio(f->m, gpa, false, &v, 4);
    return v;
}

static void env_wr(WlEnv *env, uint64_t gpa, uint32_t v)
{
    Fixture *f = env->opaque;

    machine_mmio(f->m, gpa, true, &v, 4);
}

static uint64_t env_now(WlEnv *env)
{
    return g_get_monotonic_time() * 1000;
}

static void env_write(WlEnv *env, const char *buf, size_t len)
{
}

static void fx_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    RAMBlock *rb;

    f->m = machine_new(RAM, 1, &err);
    g_assert_no_error(err);
    /* data: non-NULL for a device that offers DEFLATE_ON_OOM */
    f->b = virtio_balloon_new(f->m, true, data != NULL, &err);
    g_assert_no_error(err);
    g_assert_true(f->m->balloon == f->b);
    f->ranges = g_array_new(FALSE, FALSE, sizeof(HintRange));

    /* The env as accel/thread.c builds it: pc.ram from 4 MiB, state at 3 MiB. */
    rb = f->m->ram_blocks[0];
    f->env.mem = rb->host;
    f->env.regions[0].gpa = WL_RAM_START;
    f->env.regions[0].size = RAM - WL_RAM_START;
    f->env.nr_regions = 1;
    f->env.nr_cpus = 1;
    f->env.state = (WlState *)(rb->host + WL_STATE_GPA);
    f->env.state->magic = WL_STATE_MAGIC;
    f->env.state->kind = WL_IDLE;
    f->env.now_ns = env_now;
    f->env.write = env_write;
    f->env.mmio_read32 = env_rd;
    f->env.mmio_write32 = env_wr;
    f->env.drv_gpa = WL_DRV_GPA;
    f->env.opaque = f;
    /* the soft dirty log, as under -accel thread,dirty=soft */
    f->env.dirty = g_new0(uint64_t, rb->npages / 64 + 1);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    virtio_balloon_free(f->b);  /* the machine owns no device */
    machine_free(f->m);
    g_free(f->env.dirty);
    g_array_free(f->ranges, TRUE);
}

static uint64_t hint_stamp(void *opaque)
{
    Fixture *f = opaque;

    f->stamps++;
    return f->stamp;
}

static void hint_report(void *opaque, uint64_t gpa, uint64_t len, uint64_t stamp)
{
    Fixture *f = opaque;
    HintRange r = { gpa, len, stamp };

    g_array_append_val(f->ranges, r);
}

static const FreePageHintOps hint_ops = { hint_stamp, hint_report };

/*
 * wl_balloon_poll(), checking the soft dirty log's contract (workload.h):
 * every page whose bytes it changed is marked in env.dirty by the driver
 * (or the heap), or in dev_dirty by the device (its writes to the rings),
 * or it was inflated and discarded by the device (now zero; its contents
 * do not matter, as in QEMU).
 */
static bool discarded(const uint8_t *page)
{
    static const uint8_t zero[4096];

    return !memcmp(page, zero, sizeof(zero));
}

static void audited_poll(Fixture *f)
{
    RAMBlock *rb = f->m->ram_blocks[0];
    g_autofree uint8_t *snap = g_memdup2(rb->host, RAM);
    uint64_t changed = 0;

    memset(f->env.dirty, 0, (rb->npages / 64 + 1) * 8);
    memset(rb->dev_dirty, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
    wl_balloon_poll(&f->env);
    for (uint64_t pfn = 0; pfn < rb->npages; pfn++) {
        if (memcmp(rb->host + pfn * 4096, snap + pfn * 4096, 4096)) {
            changed++;
            if (!(f->env.dirty[pfn / 64] & (1ULL << (pfn % 64))) &&
                !test_bit(pfn, rb->dev_dirty) && !discarded(rb->host + pfn * 4096)) {
                g_error("balloon driver: page %#" G_GINT64_MODIFIER "x written but not "
                        "marked", (guint64)(pfn * 4096));
            }
        }
    }
    if (g_test_verbose()) {
        g_printerr("audited poll: %" G_GUINT64_FORMAT " pages changed\n", changed);
    }
}

/* ---- a raw fake driver ---- */

static void test_registers(Fixture *f, gconstpointer data)
{
    uint32_t f0;

    g_assert_cmphex(rd(f, VIRTIO_MMIO_MAGIC_VALUE), ==, 0x74726976);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_DEVICE_ID), ==, VIRTIO_ID_BALLOON);
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f0 = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    g_assert_true(f0 & (1u << VIRTIO_BALLOON_F_FREE_PAGE_HINT));
    g_assert_true(f0 & (1u << VIRTIO_BALLOON_F_STATS_VQ));
    g_assert_false(f0 & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    g_assert_cmphex(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), ==, 1);   /* VERSION_1 */
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 3);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), >, 0);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 4);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    /* Config: 16 bytes, then nothing. */
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_CONFIG + VIRTIO_BALLOON_CFG_NUM_PAGES), ==, 0);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_CONFIG + 0x10), ==, 0);
    /* Unclaimed space after the window reads as all ones. */
    g_assert_cmphex(rd(f, VIRTIO_MMIO_SIZE), ==, 0xffffffff);
}

static void test_negotiation(Fixture *f, gconstpointer data)
{
    /* Without VERSION_1 FEATURES_OK does not stick. */
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_BALLOON_F_FREE_PAGE_HINT);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
    g_assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    /* Nor with a bit the device does not offer. */
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1 | 2);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
    g_assert_false(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    /* A subset with VERSION_1 is accepted, and then frozen. */
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
    g_assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 3);
    /* Reset clears everything. */
    wr(f, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_false(virtio_balloon_hint_supported(f->b));
}

static void test_broken_ring(Fixture *f, gconstpointer data)
{
    uint16_t idx = 1, head = 60;   /* beyond the queue size */

    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK);
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x10000);
    wr(f, VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x11000);
    wr(f, VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x12000);
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 1);
    wr(f, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                              VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    gpa_write(f->m, 0x11000 + VRING_AVAIL_RING, &head, 2);
    gpa_write(f->m, 0x11000 + VRING_AVAIL_IDX, &idx, 2);
    wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    /* A queue whose rings are not RAM never becomes ready. */
    wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
    wr(f, VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
    wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x100);
    wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_QUEUE_READY), ==, 0);
    /* Reset recovers. */
    wr(f, VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(rd(f, VIRTIO_MMIO_STATUS), ==, 0);
}

/* ---- the guest's driver ---- */

static void test_driver_probe(Fixture *f, gconstpointer data)
{
    VirtIOBalloonInfo info;
    WlBalloonState *bs = (WlBalloonState *)(f->env.mem + WL_DRV_GPA);

    wl_balloon_poll(&f->env);
    g_assert_cmpuint(bs->probe, ==, WL_BALLOON_RUNNING);
    virtio_balloon_get_info(f->b, &info);
    g_assert_true(info.driver_ok);
    g_assert_true(info.free_page_hint);
    g_assert_true(virtio_balloon_hint_supported(f->b));
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, RAM);
}

static void test_driver_absent(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = machine_new(RAM, 1, &err);
    Fixture f = { .m = m };
    WlBalloonState *bs;

    /* No device: the probe reads all ones, the driver stays out of the way. */
    f.env.mem = m->ram_blocks[0]->host;
    f.env.state = (WlState *)(f.env.mem + WL_STATE_GPA);
    f.env.mmio_read32 = env_rd;
    f.env.mmio_write32 = env_wr;
    f.env.drv_gpa = WL_DRV_GPA;
    f.env.now_ns = env_now;
    f.env.opaque = &f;
    wl_balloon_poll(&f.env);
    bs = (WlBalloonState *)(f.env.mem + WL_DRV_GPA);
    g_assert_cmpuint(bs->probe, ==, WL_BALLOON_ABSENT);
    wl_balloon_poll_timed(&f.env);
    machine_free(m);
}

static bool page_is_zero(Fixture *f, uint64_t gpa)
{
    const uint8_t *p = gpa_to_hva(f->m, gpa, 4096);

    for (int i = 0; i < 4096; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

static void test_inflate_deflate_top(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    VirtIOBalloonInfo info;
    uint8_t *host = f->m->ram_blocks[0]->host;

    audited_poll(f);
    /* Data in the top pages: the balloon takes them (idle: from the top). */
    memset(host + RAM - 8 * MIB, 0xab, 8 * MIB);
    g_assert_true(virtio_balloon_set_target(f->b, 40 * MIB, &err));
    g_assert_no_error(err);
    audited_poll(f);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 40 * MIB);
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.num_pages, ==, (24 * MIB) >> 12);
    g_assert_cmpuint(info.actual_pages, ==, (24 * MIB) >> 12);
    g_assert_cmpuint(info.inflated_pages, ==, (24 * MIB) >> 12);
    /* madvise(MADV_DONTNEED) gave them back: they read as zero now. */
    g_assert_true(page_is_zero(f, RAM - 4096));
    g_assert_true(page_is_zero(f, RAM - 8 * MIB));
    /* Deflate half of it. */
    g_assert_true(virtio_balloon_set_target(f->b, 52 * MIB, &err));
    audited_poll(f);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 52 * MIB);
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.deflated_pages, ==, (12 * MIB) >> 12);
    /* Over RAM clamps; 0 is refused. */
    g_assert_true(virtio_balloon_set_target(f->b, 1ULL << 40, &err));
    audited_poll(f);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, RAM);
    g_assert_false(virtio_balloon_set_target(f->b, 0, &err));
    g_assert_nonnull(err);
}

/* Churn's heap in guest RAM: blocks allocated, a hint round avoids them. */
static void test_heap_inflate_and_hints(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    WlState *st = f->env.state;
    WlHeap h;
    uint64_t meta = f->env.regions[0].gpa, used[64], nused = 0, reported = 0;

    memset(f->env.mem + meta, 0, wl_alloc_meta_size(f->env.regions, 1));
    g_assert_true(wl_alloc_init(&h, f->env.mem, NULL, f->env.regions, 1));
    st->kind = WL_CHURN;
    st->phase = WL_CHURN_WAIT;
    st->aux[WL_CHURN_AUX_META] = meta;
    for (int i = 0; i < 40; i++) {
        uint64_t gpa = wl_alloc_pages(&h, (unsigned)(i % 5));
        g_assert_cmpuint(gpa, !=, WL_ALLOC_NONE);
        if (i % 3) {
            wl_alloc_free(&h, gpa, (unsigned)(i % 5));  /* holes */
        } else {
            used[nused++] = gpa;
            memset(f->env.mem + gpa, 0x5a, 4096);
        }
    }

    audited_poll(f);
    g_assert_true(virtio_balloon_set_target(f->b, 48 * MIB, &err));
    audited_poll(f);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 48 * MIB);
    g_assert_true(wl_alloc_check(&h));
    /* The ballooned pages are the heap's: allocated, not free. */
    g_assert_cmpuint(wl_alloc_free_pages(&h), <=,
                     wl_alloc_total_pages(&h) - ((16 * MIB) >> 12));

    /* A hinting round: ids, stamps, ranges that are free and skip heads. */
    f->stamp = 7;
    g_assert_true(virtio_balloon_hint_start(f->b, &hint_ops, f));
    audited_poll(f);
    g_assert_cmpuint(f->ranges->len, >, 0);
    g_assert_cmpuint(f->stamps, >, 0);
    for (guint i = 0; i < f->ranges->len; i++) {
        HintRange *r = &g_array_index(f->ranges, HintRange, i);

        g_assert_cmpuint(r->stamp, ==, 7);
        g_assert_cmpuint(r->gpa % 4096, ==, 0);
        g_assert_cmpuint(r->gpa, >=, meta + wl_alloc_meta_size(f->env.regions, 1));
        for (uint64_t k = 0; k < nused; k++) {
            g_assert_true(used[k] + 4096 <= r->gpa || used[k] >= r->gpa + r->len);
        }
        /* Never a free block's first page (its link lives there). */
        for (uint64_t p = r->gpa; p < r->gpa + r->len; p += 4096) {
            WlAllocIter it;
            uint64_t fb;
            unsigned o;

            if (p % (64 * 4096)) {
                continue;   /* sample: heads of large blocks are aligned */
            }
            wl_alloc_iter_init(&h, &it, 0);
            while (wl_alloc_iter_next(&h, &it, &fb, &o)) {
                g_assert_cmpuint(fb, !=, p);
            }
        }
        reported += r->len;
    }
    g_assert_cmpuint(reported, >, 8 * MIB);
    /* The driver finished the round: STOP came back from it. */
    {
        VirtIOBalloonInfo info;
        virtio_balloon_get_info(f->b, &info);
        g_assert_cmpuint(info.hint_cmd_id, ==, VIRTIO_BALLOON_CMD_ID_STOP);
        g_assert_cmpuint(info.hinted_pages, ==, reported >> 12);
    }

    /* A second round gets a new id; STOP from the device ends it at once. */
    g_array_set_size(f->ranges, 0);
    g_assert_true(virtio_balloon_hint_start(f->b, &hint_ops, f));
    virtio_balloon_hint_stop(f->b);
    audited_poll(f);
    g_assert_cmpuint(f->ranges->len, ==, 0);
    virtio_balloon_hint_done(f->b);
    {
        VirtIOBalloonInfo info;
        virtio_balloon_get_info(f->b, &info);
        g_assert_cmpuint(info.hint_cmd_id, ==, VIRTIO_BALLOON_CMD_ID_DONE);
    }
    /* Deflate returns every page to the heap. */
    g_assert_true(virtio_balloon_set_target(f->b, RAM, &err));
    audited_poll(f);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, RAM);
    g_assert_true(wl_alloc_check(&h));
}

static void test_idle_hints(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    uint64_t reported = 0;

    audited_poll(f);
    g_assert_true(virtio_balloon_set_target(f->b, 48 * MIB, &err));
    audited_poll(f);
    g_assert_true(virtio_balloon_hint_start(f->b, &hint_ops, f));
    audited_poll(f);
    for (guint i = 0; i < f->ranges->len; i++) {
        HintRange *r = &g_array_index(f->ranges, HintRange, i);

        g_assert_cmpuint(r->gpa, >=, WL_RAM_START);
        g_assert_cmpuint(r->gpa + r->len, <=, 48 * MIB);    /* not the balloon */
        reported += r->len;
    }
    g_assert_cmpuint(reported, ==, 48 * MIB - WL_RAM_START);
    /* Without FREE_PAGE_HINT offered there is no round. */
    {
        Machine *m2 = machine_new(RAM, 1, &err);
        VirtIOBalloon *b2 = virtio_balloon_new(m2, false, true, &err);

        g_assert_false(virtio_balloon_hint_start(b2, &hint_ops, f));
        virtio_balloon_free(b2);
        machine_free(m2);
    }
}

/* A churn heap over the fixture's RAM, in the phase where it allocates. */
static uint64_t oom_heap(Fixture *f, WlHeap *h)
{
    WlState *st = f->env.state;
    uint64_t meta = f->env.regions[0].gpa;

    memset(f->env.mem + meta, 0, wl_alloc_meta_size(f->env.regions, 1));
    g_assert_true(wl_alloc_init(h, f->env.mem, NULL, f->env.regions, 1));
    st->kind = WL_CHURN;
    st->phase = WL_CHURN_ALLOC;
    st->aux[WL_CHURN_AUX_META] = meta;
    return meta;
}

/* Take every free page of the heap without asking anyone; returns how many. */
static uint64_t drain(WlHeap *h, GArray *got)
{
    uint64_t gpa, n = 0;

    while ((gpa = wl_alloc_pages(h, 0)) != WL_ALLOC_NONE) {
        g_array_append_val(got, gpa);
        n++;
    }
    return n;
}

/*
 * DEFLATE_ON_OOM negotiated: an allocation the heap cannot satisfy makes
 * the driver deflate 256 pages through the deflate queue; the device sees
 * them (deflated_pages) and `actual` rises; num_pages stays; nothing
 * re-inflates until the host asks again.
 */
static void test_deflate_on_oom(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) got = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    WlBalloonState *bs = (WlBalloonState *)(f->env.mem + WL_DRV_GPA);
    VirtIOBalloonInfo info;
    uint64_t gpa, balloon_pages = (48 * MIB) >> 12, taken = 0;
    WlHeap h;
    uint32_t f0;

    wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f0 = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
    g_assert_true(f0 & (1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    oom_heap(f, &h);
    wl_balloon_poll(&f->env);
    g_assert_cmpuint(bs->deflate_on_oom, ==, 1);
    g_assert_true(virtio_balloon_set_target(f->b, 16 * MIB, &err));
    wl_balloon_poll(&f->env);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 16 * MIB);
    g_assert_cmpuint(bs->mode, ==, WL_BALLOON_MODE_HEAP);

    /* The heap is empty now; with the hook one page costs the balloon 256. */
    drain(&h, got);
    h.oom = wl_balloon_oom;
    h.oom_opaque = &f->env;
    gpa = wl_alloc_pages(&h, 0);
    g_assert_cmpuint(gpa, !=, WL_ALLOC_NONE);
    g_array_append_val(got, gpa);
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.deflated_pages, ==, WL_BALLOON_OOM_NR_PAGES);
    g_assert_cmpuint(info.actual_pages, ==, balloon_pages - WL_BALLOON_OOM_NR_PAGES);
    g_assert_cmpuint(info.num_pages, ==, balloon_pages);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 17 * MIB);
    g_assert_cmpuint(bs->oom_events, ==, 1);
    g_assert_true(wl_alloc_check(&h));
    /* A block larger than 256 pages deflates that much. */
    gpa = wl_alloc_pages(&h, 9);
    g_assert_cmpuint(gpa, !=, WL_ALLOC_NONE);
    wl_alloc_free(&h, gpa, 9);
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.deflated_pages, >=, WL_BALLOON_OOM_NR_PAGES + 512);

    /* Polls and a new hint round do not re-inflate: the pages would go again. */
    wl_balloon_poll(&f->env);
    g_assert_true(virtio_balloon_hint_start(f->b, &hint_ops, f));
    wl_balloon_poll(&f->env);
    g_assert_cmpuint(virtio_balloon_actual(f->b), >=, 19 * MIB);
    g_assert_cmpuint(bs->oom_hold, ==, 1);

    /* Allocate until the balloon is empty: then the allocation fails. */
    while ((gpa = wl_alloc_pages(&h, 0)) != WL_ALLOC_NONE) {
        g_array_append_val(got, gpa);
        taken++;
    }
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.actual_pages, ==, 0);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, RAM);
    g_assert_cmpuint(info.deflated_pages, ==, info.inflated_pages);
    g_assert_cmpuint(bs->oom_pages, ==, balloon_pages);
    g_assert_false(wl_balloon_oom(&f->env, 0));
    g_assert_true(wl_alloc_check(&h));

    /* The host asks again (same target): the balloon re-inflates as usual. */
    for (guint i = 0; i < got->len; i++) {
        g_assert_true(wl_alloc_free(&h, g_array_index(got, uint64_t, i), 0));
    }
    g_assert_true(virtio_balloon_set_target(f->b, 16 * MIB, &err));
    wl_balloon_poll(&f->env);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 16 * MIB);
    g_assert_cmpuint(bs->oom_hold, ==, 0);
    g_assert_true(wl_alloc_check(&h));
}

/* Not offered, so not negotiated: the balloon's pages are never used. */
static void test_no_deflate_on_oom(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GArray) got = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    WlBalloonState *bs = (WlBalloonState *)(f->env.mem + WL_DRV_GPA);
    VirtIOBalloonInfo info;
    WlHeap h;

    oom_heap(f, &h);
    wl_balloon_poll(&f->env);
    g_assert_cmpuint(bs->deflate_on_oom, ==, 0);
    g_assert_true(virtio_balloon_set_target(f->b, 16 * MIB, &err));
    wl_balloon_poll(&f->env);
    drain(&h, got);
    h.oom = wl_balloon_oom;
    h.oom_opaque = &f->env;
    g_assert_cmpuint(wl_alloc_pages(&h, 0), ==, WL_ALLOC_NONE);
    g_assert_false(wl_balloon_oom(&f->env, 0));
    virtio_balloon_get_info(f->b, &info);
    g_assert_cmpuint(info.deflated_pages, ==, 0);
    g_assert_cmpuint(virtio_balloon_actual(f->b), ==, 16 * MIB);
    g_assert_true(wl_alloc_check(&h));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/virtio-balloon/registers", test_registers);
    ADD("/virtio-balloon/negotiation", test_negotiation);
    ADD("/virtio-balloon/broken-ring", test_broken_ring);
    ADD("/virtio-balloon/driver/probe", test_driver_probe);
    g_test_add_func("/virtio-balloon/driver/absent", test_driver_absent);
    ADD("/virtio-balloon/driver/inflate-deflate-top", test_inflate_deflate_top);
    ADD("/virtio-balloon/driver/heap-inflate-and-hints", test_heap_inflate_and_hints);
    ADD("/virtio-balloon/driver/idle-hints", test_idle_hints);
    ADD("/virtio-balloon/driver/no-deflate-on-oom", test_no_deflate_on_oom);
    g_test_add("/virtio-balloon/driver/deflate-on-oom", Fixture, "oom", fx_setup,
               test_deflate_on_oom, fx_teardown);
    return g_test_run();
}
