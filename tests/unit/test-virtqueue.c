/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue device side: chains in order, every guest-controlled
 * index, length and address rejected when out of bounds (the queue breaks
 * and stays broken), loops caught, and used-ring writes marked dirty.
 */
#include <glib.h>
#include <string.h>

#include "hw/virtio/virtqueue.h"
#include "system/machine.h"
#include "util/bitmap.h"
#include "virtio-wire.h"

#define RAM     (64ULL << 20)
#define QSIZE   8
#define DESC    0x10000ULL
#define AVAIL   0x11000ULL
#define USED    0x12000ULL
#define BUF     0x20000ULL

typedef struct Fixture {
    Machine *m;
    VirtQueue vq;
    VirtQueueElement *elem;
    uint16_t avail_idx;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    f->m = machine_new(RAM, 1, &err);
    g_assert_no_error(err);
    f->elem = g_new0(VirtQueueElement, 1);
    virtqueue_init(&f->vq, f->m, 64);
    f->vq.num = QSIZE;
    f->vq.desc_gpa = DESC;
    f->vq.avail_gpa = AVAIL;
    f->vq.used_gpa = USED;
    g_assert_true(virtqueue_set_ready(&f->vq));
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    machine_free(f->m);
    g_free(f->elem);
}

static void put_desc(Fixture *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    VringDesc d = { addr, len, flags, next };

    g_assert_true(gpa_write(f->m, DESC + i * sizeof(d), &d, sizeof(d)));
}

static void publish(Fixture *f, uint16_t head)
{
    uint16_t slot = f->avail_idx % QSIZE;

    gpa_write(f->m, AVAIL + VRING_AVAIL_RING + 2 * slot, &head, 2);
    f->avail_idx++;
    gpa_write(f->m, AVAIL + VRING_AVAIL_IDX, &f->avail_idx, 2);
}

static void test_chain_and_used(Fixture *f, gconstpointer data)
{
    RAMBlock *rb = f->m->ram_blocks[0];
    VringUsedElem u;
    uint16_t used_idx;
    uint8_t out[6] = "hello", got[6];

    gpa_write(f->m, BUF, out, sizeof(out));
    put_desc(f, 3, BUF, 6, VRING_DESC_F_NEXT, 5);
    put_desc(f, 5, BUF + 0x1000, 100, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    put_desc(f, 1, BUF + 0x2000, 200, VRING_DESC_F_WRITE, 0);
    publish(f, 3);

    g_assert_cmpint(virtqueue_pop(&f->vq, f->elem, true), ==, 1);
    g_assert_cmpuint(f->elem->head, ==, 3);
    g_assert_cmpuint(f->elem->out_num, ==, 1);
    g_assert_cmpuint(f->elem->in_num, ==, 2);
    g_assert_cmpuint(f->elem->sg[2].gpa, ==, BUF + 0x2000);
    g_assert_nonnull(f->elem->sg[0].hva);
    g_assert_cmpuint(virtqueue_out_bytes(f->elem), ==, 6);
    g_assert_cmpuint(virtqueue_in_bytes(f->elem), ==, 300);
    g_assert_cmpuint(virtqueue_read_out(&f->vq, f->elem, 0, got, sizeof(got)), ==, 6);
    g_assert_cmpmem(got, 6, out, 6);
    /* Nothing more available. */
    g_assert_cmpint(virtqueue_pop(&f->vq, f->elem, false), ==, 0);

    /* The used ring write is visible and marked for migration. */
    g_autofree unsigned long *drain = bitmap_new(rb->npages);

    bitmap_move_atomic(drain, rb->dev_dirty, rb->npages);
    g_assert_cmpuint(bitmap_count(rb->dev_dirty, rb->npages), ==, 0);
    g_assert_true(virtqueue_push(&f->vq, f->elem, 42));
    gpa_read(f->m, USED + VRING_USED_RING, &u, sizeof(u));
    gpa_read(f->m, USED + VRING_USED_IDX, &used_idx, 2);
    g_assert_cmpuint(u.id, ==, 3);
    g_assert_cmpuint(u.len, ==, 42);
    g_assert_cmpuint(used_idx, ==, 1);
    g_assert_true(test_bit(USED >> 12, rb->dev_dirty));
    g_assert_cmpuint(bitmap_count(rb->dev_dirty, rb->npages), ==, 1);
}

static void test_wraparound(Fixture *f, gconstpointer data)
{
    /* Many more chains than slots: indices wrap, the ring is reused. */
    for (unsigned i = 0; i < 70000; i++) {
        put_desc(f, i % QSIZE, BUF, 8, 0, 0);
        publish(f, i % QSIZE);
        g_assert_cmpint(virtqueue_pop(&f->vq, f->elem, false), ==, 1);
        g_assert_cmpuint(f->elem->head, ==, i % QSIZE);
        g_assert_true(virtqueue_push(&f->vq, f->elem, 0));
    }
    g_assert_false(f->vq.broken);
}

/* Each case breaks the queue; later pops return 0 and push nothing. */
static void expect_broken(Fixture *f, const char *needle)
{
    g_assert_cmpint(virtqueue_pop(&f->vq, f->elem, false), ==, -1);
    g_assert_true(f->vq.broken);
    if (!strstr(f->vq.err, needle)) {
        g_error("error '%s' does not mention '%s'", f->vq.err, needle);
    }
    g_assert_cmpint(virtqueue_pop(&f->vq, f->elem, false), ==, 0);
}

static void test_bad_avail_idx(Fixture *f, gconstpointer data)
{
    uint16_t idx = QSIZE + 1;

    gpa_write(f->m, AVAIL + VRING_AVAIL_IDX, &idx, 2);
    expect_broken(f, "ahead");
}

static void test_bad_head(Fixture *f, gconstpointer data)
{
    publish(f, QSIZE);
    expect_broken(f, "names descriptor");
}

static void test_bad_next(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, BUF, 8, VRING_DESC_F_NEXT, QSIZE + 3);
    publish(f, 0);
    expect_broken(f, "links to");
}

static void test_loop(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
    put_desc(f, 1, BUF, 8, VRING_DESC_F_NEXT, 2);
    put_desc(f, 2, BUF, 8, VRING_DESC_F_NEXT, 0);
    publish(f, 0);
    expect_broken(f, "loops");
}

static void test_self_loop(Fixture *f, gconstpointer data)
{
    put_desc(f, 4, BUF, 8, VRING_DESC_F_NEXT, 4);
    publish(f, 4);
    expect_broken(f, "loops");
}

static void test_zero_len(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, BUF, 0, 0, 0);
    publish(f, 0);
    expect_broken(f, "length 0");
}

static void test_not_ram(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, RAM - 4, 8, 0, 0);   /* runs off the end of RAM */
    publish(f, 0);
    expect_broken(f, "not guest RAM");
}

static void test_huge_addr(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, UINT64_MAX - 2, 8, 0, 0);
    publish(f, 0);
    expect_broken(f, "not guest RAM");
}

static void test_out_after_in(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, BUF, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
    put_desc(f, 1, BUF, 8, 0, 0);
    publish(f, 0);
    expect_broken(f, "after a writable");
}

static void test_indirect(Fixture *f, gconstpointer data)
{
    put_desc(f, 0, BUF, 16, VRING_DESC_F_INDIRECT, 0);
    publish(f, 0);
    expect_broken(f, "indirect");
}

static void test_set_ready_checks(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = machine_new(RAM, 1, &err);
    VirtQueue vq;
    static const struct {
        uint16_t num;
        uint64_t desc, avail, used;
        const char *needle;
    } cases[] = {
        { 6, DESC, AVAIL, USED, "power of two" },
        { 0, DESC, AVAIL, USED, "power of two" },
        { 128, DESC, AVAIL, USED, "power of two" },     /* over num_max 64 */
        { 8, DESC + 8, AVAIL, USED, "aligned" },
        { 8, DESC, AVAIL + 1, USED, "aligned" },
        { 8, DESC, AVAIL, USED + 2, "aligned" },
        { 8, RAM - 64, AVAIL, USED, "not guest RAM" },
        { 8, DESC, MACHINE_MMIO_BASE, USED, "not guest RAM" },
        { 8, DESC, AVAIL, RAM, "not guest RAM" },
    };

    g_assert_no_error(err);
    for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
        virtqueue_init(&vq, m, 64);
        vq.num = cases[i].num;
        vq.desc_gpa = cases[i].desc;
        vq.avail_gpa = cases[i].avail;
        vq.used_gpa = cases[i].used;
        g_assert_false(virtqueue_set_ready(&vq));
        g_assert_false(vq.ready);
        if (!strstr(vq.err, cases[i].needle)) {
            g_error("case %u: '%s' does not mention '%s'", i, vq.err, cases[i].needle);
        }
    }
    machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/virtqueue/chain-and-used", test_chain_and_used);
    ADD("/virtqueue/wraparound", test_wraparound);
    ADD("/virtqueue/bad/avail-idx", test_bad_avail_idx);
    ADD("/virtqueue/bad/head", test_bad_head);
    ADD("/virtqueue/bad/next", test_bad_next);
    ADD("/virtqueue/bad/loop", test_loop);
    ADD("/virtqueue/bad/self-loop", test_self_loop);
    ADD("/virtqueue/bad/zero-len", test_zero_len);
    ADD("/virtqueue/bad/not-ram", test_not_ram);
    ADD("/virtqueue/bad/huge-addr", test_huge_addr);
    ADD("/virtqueue/bad/out-after-in", test_out_after_in);
    ADD("/virtqueue/bad/indirect", test_indirect);
    g_test_add_func("/virtqueue/set-ready-checks", test_set_ready_checks);
    return g_test_run();
}
