/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The thread accelerator's dirty log and the device-write accessor: pages
 * written after log_start (or after the previous sync) are reported once,
 * exactly, including pages never touched before; writes by kvmig itself
 * land in the block's dev_dirty bitmap.
 */
#include <glib.h>
#include <string.h>

#include "accel/accel.h"
#include "accel/thread.h"
#include "system/machine.h"
#include "util/bitmap.h"
#include "util/pagemap.h"

#include <sys/mman.h>

#define RAM (64ULL << 20)

static Machine *new_machine(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = machine_new(RAM, 1, &err);

    g_assert_no_error(err);
    m->accel = &thread_accel_ops;
    g_free(m->append);
    m->append = g_strdup("workload=idle");
    g_assert_true(m->accel->init(m, &err));
    g_assert_no_error(err);
    return m;
}

static void test_thread_log(void)
{
    Machine *m = new_machine();
    RAMBlock *rb = m->ram_blocks[0];
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    g_autoptr(GError) err = NULL;
    GRand *r = g_rand_new_with_seed(7);
    g_autofree bool *model = g_new0(bool, rb->npages);
    size_t expect = 0;

    /* Populate the first half so both present and never-touched pages are covered. */
    memset(rb->host, 0x11, RAM / 2);
    g_assert_true(m->accel->log_start(m, &err));
    g_assert_no_error(err);
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    if (!strcmp(thread_accel_log_method(m), "fallback-all-dirty")) {
        g_test_skip("kernel lacks userfaultfd async write-protect / PAGEMAP_SCAN");
        goto out;
    }
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);

    for (int round = 0; round < 5; round++) {
        memset(model, 0, rb->npages);
        expect = 0;
        for (int i = 0; i < 500; i++) {
            uint64_t pg = g_rand_int_range(r, 0, rb->npages);
            rb->host[pg * 4096 + g_rand_int_range(r, 0, 4096)] ^= 0x5a;
            expect += !model[pg];
            model[pg] = true;
        }
        memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
        g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, expect);
        for (uint64_t pg = 0; pg < rb->npages; pg++) {
            g_assert_cmpint(test_bit(pg, bmap), ==, model[pg]);
        }
    }
    /* Nothing written since: the next sync is empty. */
    memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);
    m->accel->log_stop(m);
    /* Stop is idempotent and logging can start again. */
    m->accel->log_stop(m);
    g_assert_true(m->accel->log_start(m, &err));
    m->accel->log_stop(m);
out:
    g_rand_free(r);
    machine_free(m);
}

/*
 * Logging never-written memory costs nothing: starting, syncing and
 * stopping leave holes as holes (so the first pass can send them without
 * reading them), and a write into a hole, or into a page given back with
 * MADV_DONTNEED, is still in the next sync.
 */
static void test_thread_log_holes(void)
{
    Machine *m = new_machine();
    RAMBlock *rb = m->ram_blocks[0];
    uint64_t half = rb->npages / 2;
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    g_autofree unsigned long *pop = bitmap_new(rb->npages);
    g_autoptr(GError) err = NULL;

    madvise(rb->host, RAM, MADV_NOHUGEPAGE);    /* 4 KiB granularity below */
    memset(rb->host, 0x22, 16 * 4096);          /* pages 0..15 populated */
    g_assert_true(m->accel->log_start(m, &err));
    g_assert_no_error(err);
    if (!strcmp(thread_accel_log_method(m), "fallback-all-dirty") ||
        !strcmp(pagemap_method_name(), "none")) {
        g_test_skip("kernel lacks userfaultfd async write-protect / PAGEMAP_SCAN");
        m->accel->log_stop(m);
        machine_free(m);
        return;
    }
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);
    g_assert_true(pagemap_populated(rb->host, rb->npages, pop));
    g_assert_cmpuint(bitmap_count(pop, rb->npages), ==, 16);

    /* a write into a hole, far from the rest */
    rb->host[half * 4096 + 5] = 1;
    /* a populated, protected page given back, then written */
    madvise(rb->host + 3 * 4096, 4096, MADV_DONTNEED);
    rb->host[3 * 4096] = 7;
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 2);
    g_assert_true(test_bit(half, bmap) && test_bit(3, bmap));
    g_assert_true(pagemap_populated(rb->host, rb->npages, pop));
    g_assert_cmpuint(bitmap_count(pop, rb->npages), ==, 17);
    m->accel->log_stop(m);
    g_assert_true(pagemap_populated(rb->host, rb->npages, pop));
    g_assert_cmpuint(bitmap_count(pop, rb->npages), ==, 17);
    machine_free(m);
}

static void test_dev_dirty(void)
{
    Machine *m = new_machine();
    RAMBlock *rb = m->ram_blocks[0];
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    uint8_t buf[8192];

    memset(buf, 0xab, sizeof(buf));
    /* 8 KiB starting mid-page spans three pages. */
    g_assert_true(gpa_write(m, 5 * 4096 + 100, buf, sizeof(buf)));
    g_assert_false(gpa_write(m, RAM - 100, buf, 200));   /* crosses the end */
    gpa_mark_dirty(m, 100 * 4096, 1);
    g_assert_cmpuint(bitmap_move_atomic(bmap, rb->dev_dirty, rb->npages), ==, 4);
    g_assert_true(test_bit(5, bmap) && test_bit(6, bmap) && test_bit(7, bmap));
    g_assert_true(test_bit(100, bmap));
    g_assert_cmpuint(bitmap_count(rb->dev_dirty, rb->npages), ==, 0);
    g_assert_cmpint(rb->host[5 * 4096 + 100], ==, 0xab);
    g_assert_cmpint(rb->host[RAM - 1], ==, 0);
    g_assert_true(gpa_read(m, 5 * 4096 + 100, buf, 16));
    g_assert_null(gpa_to_hva(m, RAM, 1));
    g_assert_nonnull(gpa_to_hva(m, RAM - 1, 1));
    machine_free(m);
}

static void test_highmem_layout(void)
{
    g_autoptr(GError) err = NULL;
    /* 4 GiB of MAP_NORESERVE memory is only address space until touched. */
    Machine *m = machine_new(4ULL << 30, 1, &err);

    g_assert_no_error(err);
    g_assert_cmpuint(m->nr_mappings, ==, 2);
    g_assert_cmpuint(m->mappings[0].size, ==, MACHINE_LOWMEM_MAX);
    g_assert_cmphex(m->mappings[1].gpa, ==, MACHINE_HIGHMEM_BASE);
    g_assert_cmpuint(m->mappings[1].size, ==, (4ULL << 30) - MACHINE_LOWMEM_MAX);
    g_assert_true(gpa_to_hva(m, MACHINE_HIGHMEM_BASE, 4096) ==
                  m->ram_blocks[0]->host + MACHINE_LOWMEM_MAX);
    g_assert_null(gpa_to_hva(m, MACHINE_LOWMEM_MAX, 1));    /* the hole */
    machine_free(m);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dirty-log/thread", test_thread_log);
    g_test_add_func("/dirty-log/thread-holes", test_thread_log_holes);
    g_test_add_func("/dirty-log/dev-dirty", test_dev_dirty);
    g_test_add_func("/memory/highmem-layout", test_highmem_layout);
    return g_test_run();
}
