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
#include "workload.h"

#include <sys/mman.h>
#include <sys/resource.h>

#define RAM (64ULL << 20)

static Machine *new_machine_dirty(const char *dirty)
{
    g_autoptr(GError) err = NULL;
    Machine *m = machine_new(RAM, 1, &err);

    g_assert_no_error(err);
    m->accel = &thread_accel_ops;
    g_free(m->append);
    m->append = g_strdup("workload=idle");
    m->accel_dirty = g_strdup(dirty);
    g_assert_true(m->accel->init(m, &err));
    g_assert_no_error(err);
    return m;
}

static Machine *new_machine(void)
{
    return new_machine_dirty(NULL);
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

    /* 4 KiB pages here; huge pages: test_thread_log_huge */
    madvise(rb->host, RAM, MADV_NOHUGEPAGE);
    /* Populate the first half so both present and never-touched pages are covered. */
    memset(rb->host, 0x11, RAM / 2);
    g_assert_true(m->accel->log_start(m, &err));
    g_assert_no_error(err);
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    if (strcmp(thread_accel_log_method(m), "uffd-wp-async")) {
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

static uint64_t anon_huge_kb(void)
{
    g_autofree char *txt = NULL;
    const char *p;

    if (!g_file_get_contents("/proc/self/smaps_rollup", &txt, NULL, NULL) ||
        !(p = strstr(txt, "AnonHugePages:"))) {
        return 0;
    }
    return g_ascii_strtoull(p + strlen("AnonHugePages:"), NULL, 10);
}

/*
 * Guest RAM in huge pages (as machine_new advises it).  Log start keeps
 * them huge (protected as a whole); a write into one is reported alone
 * (the kernel splits the huge page at the fault).  A write into a hole
 * may fill it with a whole huge page, which the next sync reports in full
 * (512 pages, 511 of them zero) and no page outside it; from then on
 * every page is reported alone, exactly.
 */
static void test_thread_log_huge(void)
{
    Machine *m = new_machine();
    RAMBlock *rb = m->ram_blocks[0];
    const uint64_t huge = 512;     /* pages per 2 MiB */
    const uint64_t hole = rb->npages / 2 + 3 * huge;    /* a hole's huge page */
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    g_autoptr(GError) err = NULL;
    uint64_t n;

    g_assert_cmpuint((uintptr_t)rb->host % (huge * 4096), ==, 0);
    memset(rb->host, 0x33, RAM / 2);
    if (anon_huge_kb() < 4096) {
        g_test_skip("no transparent huge pages here");
        machine_free(m);
        return;
    }
    g_assert_true(m->accel->log_start(m, &err));
    g_assert_no_error(err);
    if (strcmp(thread_accel_log_method(m), "uffd-wp-async")) {
        g_test_skip("kernel lacks userfaultfd async write-protect / PAGEMAP_SCAN");
        m->accel->log_stop(m);
        machine_free(m);
        return;
    }
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);

    /* one byte into populated huge pages 2 and 5, and one into a hole */
    rb->host[(2 * huge + 7) * 4096] ^= 1;
    rb->host[(5 * huge + 300) * 4096 + 9] ^= 1;
    rb->host[(hole + 10) * 4096] = 1;
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_no_error(err);
    n = bitmap_count(bmap, rb->npages);
    g_assert_true(test_bit(2 * huge + 7, bmap) && test_bit(5 * huge + 300, bmap) &&
                  test_bit(hole + 10, bmap));
    g_assert_cmpuint(bitmap_count(bmap, hole) + bitmap_count(bmap, rb->npages) -
                     bitmap_count(bmap, hole + huge), ==, 2);
    g_assert_cmpuint(n, <=, 2 + huge);

    /* single pages from now on, the first and last of a huge page too */
    for (int round = 0; round < 3; round++) {
        uint64_t pages[] = { 2 * huge + 7 + round, 2 * huge + huge - 1, 5 * huge,
                             hole + round, hole + huge - 1 };

        memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
        for (unsigned i = 0; i < G_N_ELEMENTS(pages); i++) {
            rb->host[pages[i] * 4096 + 100] ^= 1;
        }
        g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, G_N_ELEMENTS(pages));
        for (unsigned i = 0; i < G_N_ELEMENTS(pages); i++) {
            g_assert_true(test_bit(pages[i], bmap));
        }
    }
    /* nothing written since: empty */
    memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);
    m->accel->log_stop(m);
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
    if (strcmp(thread_accel_log_method(m), "uffd-wp-async") ||
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

/*
 * The soft log: marks made with the workloads' hook are collected by the
 * next sync exactly once; marks from before log_start are dropped; only
 * ram_blocks[0] has one.
 */
static void test_soft_log(void)
{
    Machine *m = new_machine_dirty("soft");
    RAMBlock *rb = m->ram_blocks[0];
    uint64_t *log = thread_accel_soft_log(m);
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    g_autofree bool *model = g_new0(bool, rb->npages);
    g_autoptr(GError) err = NULL;
    GRand *r = g_rand_new_with_seed(9);

    g_assert_cmpstr(thread_accel_log_method(m), ==, "soft");
    g_assert_nonnull(log);
    wl_dirty_log(log, 7 * 4096, 1);             /* before log_start: dropped */
    g_assert_true(m->accel->log_start(m, &err));
    g_assert_no_error(err);
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);

    for (int round = 0; round < 5; round++) {
        size_t expect = 0;

        memset(model, 0, rb->npages);
        for (int i = 0; i < 500; i++) {
            uint64_t pg = g_rand_int_range(r, 0, rb->npages);
            uint64_t len = g_rand_int_range(r, 1, 3 * 4096);
            uint64_t off = pg * 4096 + g_rand_int_range(r, 0, 4096);

            len = MIN(len, RAM - off);
            wl_dirty_log(log, off, len);
            for (uint64_t p = off / 4096; p <= (off + len - 1) / 4096; p++) {
                expect += !model[p];
                model[p] = true;
            }
        }
        memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
        g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
        g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, expect);
        for (uint64_t pg = 0; pg < rb->npages; pg++) {
            g_assert_cmpint(test_bit(pg, bmap), ==, model[pg]);
        }
        /* collected once: the next sync is empty */
        memset(bmap, 0, BITS_TO_LONGS(rb->npages) * sizeof(long));
        g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
        g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);
    }
    /* the last page, and a sync ORs (keeps what the bitmap had) */
    wl_dirty_log(log, RAM - 1, 1);
    set_bit(3, bmap);
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 2);
    g_assert_true(test_bit(rb->npages - 1, bmap) && test_bit(3, bmap));
    m->accel->log_stop(m);
    m->accel->log_stop(m);
    g_assert_true(m->accel->log_start(m, &err));
    m->accel->log_stop(m);
    g_rand_free(r);
    machine_free(m);
}

/*
 * Where userfaultfd cannot be had (here: no file descriptor left while
 * the accelerator probes it), the default dirty=uffd becomes the soft log,
 * not "every page dirty at every sync".
 */
static void test_soft_fallback(void)
{
    g_autoptr(GError) err = NULL;
    Machine *m = machine_new(RAM, 1, &err);
    struct rlimit old, none;
    bool ok;

    g_assert_no_error(err);
    m->accel = &thread_accel_ops;
    g_free(m->append);
    m->append = g_strdup("workload=idle");
    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &old), ==, 0);
    none = old;
    none.rlim_cur = 0;
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &none), ==, 0);
    ok = m->accel->init(m, &err);
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &old), ==, 0);
    g_assert_no_error(err);
    g_assert_true(ok);
    g_assert_cmpstr(thread_accel_log_method(m), ==, "soft");
    g_assert_nonnull(thread_accel_soft_log(m));
    machine_free(m);
}

/*
 * Concurrent marking vs sync never loses a write: a writer thread keeps
 * writing pages (a store, then the hook) while this thread syncs and
 * copies every page the sync reports, as a migration does.  After the
 * writer stopped, a last sync and copy must leave the copy equal to RAM.
 */
typedef struct SoftWriter {
    uint8_t *ram;
    uint64_t *log;
    uint64_t pages;
    gint stop;
    uint64_t writes;
} SoftWriter;

static gpointer soft_writer(gpointer opaque)
{
    SoftWriter *w = opaque;
    uint64_t rng = 88172645463325252ULL, seq = 0;

    while (!g_atomic_int_get(&w->stop)) {
        /* few pages: many writes to the same words as the syncs take them */
        for (int i = 0; i < 64; i++) {
            uint64_t pg, off, len;

            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            pg = rng % (w->pages - 1);
            off = pg * 4096 + (rng >> 40) % 4096;
            len = (rng >> 32) % 2 ? 8 : 4096;   /* mostly two pages */
            seq++;
            memset(w->ram + off, (int)(seq % 251) + 1, len);
            wl_dirty_log(w->log, off, len);
        }
        __atomic_fetch_add(&w->writes, 64, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_soft_log_concurrent(void)
{
    Machine *m = new_machine_dirty("soft");
    RAMBlock *rb = m->ram_blocks[0];
    SoftWriter w = { rb->host, thread_accel_soft_log(m), 256, 0, 0 };
    g_autofree unsigned long *bmap = bitmap_new(rb->npages);
    g_autofree uint8_t *copy = g_malloc0(w.pages * 4096);
    g_autoptr(GError) err = NULL;
    uint64_t copied = 0;
    GThread *t;

    memset(rb->host, 0, w.pages * 4096);
    g_assert_true(m->accel->log_start(m, &err));
    t = g_thread_new("soft-writer", soft_writer, &w);
    for (int sync = 0; sync < 20000 || !__atomic_load_n(&w.writes, __ATOMIC_RELAXED); sync++) {
        g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
        for (uint64_t pg = 0; pg < w.pages; pg++) {
            if (test_and_clear_bit(pg, bmap)) {
                memcpy(copy + pg * 4096, rb->host + pg * 4096, 4096);
                copied++;
            }
        }
    }
    g_atomic_int_set(&w.stop, 1);
    g_thread_join(t);
    /* the switchover: the writer is stopped; one last sync */
    g_assert_true(m->accel->log_sync(m, rb, bmap, &err));
    for (uint64_t pg = 0; pg < w.pages; pg++) {
        if (test_and_clear_bit(pg, bmap)) {
            memcpy(copy + pg * 4096, rb->host + pg * 4096, 4096);
        }
    }
    g_assert_cmpuint(bitmap_count(bmap, rb->npages), ==, 0);
    if (g_test_verbose()) {
        g_printerr("%" G_GUINT64_FORMAT " writes, %" G_GUINT64_FORMAT " pages copied\n",
                   w.writes, copied);
    }
    g_assert_true(memcmp(copy, rb->host, w.pages * 4096) == 0);
    m->accel->log_stop(m);
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
    g_test_add_func("/dirty-log/thread-huge", test_thread_log_huge);
    g_test_add_func("/dirty-log/soft", test_soft_log);
    g_test_add_func("/dirty-log/soft-concurrent", test_soft_log_concurrent);
    g_test_add_func("/dirty-log/soft-fallback", test_soft_fallback);
    g_test_add_func("/dirty-log/dev-dirty", test_dev_dirty);
    g_test_add_func("/memory/highmem-layout", test_highmem_layout);
    return g_test_run();
}
