/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of postcopy-spare.c, on a real userfaultfd: discarded pages
 * moved aside at LISTEN (holes left alone), taken in order for a run
 * (adjacent only, holes skipped), moved back into guest RAM with their
 * new contents (present pages kept), and the fallback with
 * KVMIG_POSTCOPY_NO_MOVE.  Skips where the kernel has no UFFDIO_MOVE
 * (Linux < 6.8) or userfaultfd is not allowed.
 *
 * Guest pages registered MISSING and absent are never read here (the
 * read would wait for a page nobody places): absence is checked with
 * mincore.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "migration/postcopy-int.h"
#include "system/machine.h"
#include "util/bitmap.h"

#define RAM_SIZE (8ULL << 20)     /* machine_new's least */
#define NPAGES (RAM_SIZE >> TARGET_PAGE_BITS)
#define DISCARDED 1024            /* pages [0, 1024) are discarded */
#define HOLE_FIRST 10             /* of which [10, 20) were never populated */
#define HOLE_END 20

typedef struct Fixture {
    Machine *m;
    MigrationState *s;
    RAMBlock *rb;
    MigStream *f;
    PostcopyIncoming *pi;
} Fixture;

static bool present(const uint8_t *p)
{
    unsigned char v = 0;

    g_assert_cmpint(mincore((void *)p, TARGET_PAGE_SIZE, &v), ==, 0);
    return v & 1;
}

/*
 * A destination at LISTEN with RAM registered, every page written with its
 * number, the hole's pages never populated, [0, DISCARDED) marked
 * discarded; false (test skipped) without a userfaultfd that can move.
 */
static bool fixture_init(Fixture *fx)
{
    g_autoptr(GError) err = NULL;
    struct uffdio_api api = { .api = UFFD_API, .features = postcopy_spare_features() };
    struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
    int uffd;

    fx->m = machine_new(RAM_SIZE, 1, &err);
    g_assert_no_error(err);
    fx->s = migration_new(fx->m, &err);
    g_assert_no_error(err);
    fx->rb = fx->m->ram_blocks[0];
    fx->f = mig_stream_new(mig_channel_new_memory_writer());
    fx->pi = postcopy_incoming_new(fx->s, fx->f);

    for (uint64_t i = 0; i < NPAGES; i++) {
        memset(fx->rb->host + (i << TARGET_PAGE_BITS), (int)(i & 0xff), TARGET_PAGE_SIZE);
    }
    g_assert_cmpint(madvise(fx->rb->host + (HOLE_FIRST << TARGET_PAGE_BITS),
                            (HOLE_END - HOLE_FIRST) << TARGET_PAGE_BITS, MADV_DONTNEED), ==, 0);
    fx->pi->discard[0] = bitmap_new(NPAGES);
    bitmap_set_range(fx->pi->discard[0], 0, DISCARDED);

    uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) {
        g_test_skip("no userfaultfd here");
        return false;
    }
    fx->pi->uffd = uffd;
    if (ioctl(uffd, UFFDIO_API, &api) < 0) {
        g_test_skip(errno == EINVAL ? "no UFFDIO_MOVE in this kernel (Linux 6.8+)"
                                    : "UFFDIO_API refused");
        return false;
    }
    postcopy_spare_init(fx->pi, api.features & postcopy_spare_features());
    reg.range.start = (uintptr_t)fx->rb->host;
    reg.range.len = fx->rb->used_length;
    g_assert_cmpint(ioctl(uffd, UFFDIO_REGISTER, &reg), ==, 0);
    return true;
}

static void fixture_free(Fixture *fx)
{
    postcopy_incoming_free(fx->pi);
    mig_stream_close(fx->f);
    migration_free(fx->s);
    machine_free(fx->m);
}

static void discard_all(Fixture *fx)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(postcopy_spare_discard(fx->pi, fx->rb, 0, DISCARDED, &err));
    g_assert_no_error(err);
    /* discarded pages are gone from guest RAM either way; the rest stay */
    for (uint64_t i = 0; i < NPAGES; i++) {
        const uint8_t *p = fx->rb->host + (i << TARGET_PAGE_BITS);

        g_assert_cmpint(present(p), ==, i >= DISCARDED);
        if (i >= DISCARDED) {
            g_assert_cmpuint(p[0], ==, i & 0xff);
        }
    }
}

/* Moved aside to the same offset, holes left holes, contents kept. */
static void test_discard(void)
{
    Fixture fx;

    if (!fixture_init(&fx)) {
        return;
    }
    discard_all(&fx);
    g_assert_nonnull(fx.pi->spare[0]);
    /* the kernel counts the holes it skipped as moved */
    g_assert_cmpuint(fx.pi->spare_moved, ==, DISCARDED);
    for (uint64_t i = 0; i < DISCARDED; i++) {
        const uint8_t *p = fx.pi->spare[0] + (i << TARGET_PAGE_BITS);
        bool hole = i >= HOLE_FIRST && i < HOLE_END;

        g_assert_cmpint(present(p), ==, !hole);
        if (!hole) {
            g_assert_cmpuint(p[TARGET_PAGE_SIZE - 1], ==, i & 0xff);
        }
    }
    fixture_free(&fx);
}

/* Spare pages go in order, a run only over adjacent ones, never a hole. */
static void test_take(void)
{
    Fixture fx;
    uint8_t *first, *p;

    if (!fixture_init(&fx)) {
        return;
    }
    discard_all(&fx);
    first = postcopy_spare_take(fx.pi, NULL);
    g_assert_true(first == fx.pi->spare[0]);
    p = first;
    for (unsigned i = 1; i < HOLE_FIRST; i++) {
        uint8_t *next = postcopy_spare_take(fx.pi, p);

        g_assert_true(next == p + TARGET_PAGE_SIZE);
        p = next;
    }
    /* the hole ends the run, and is skipped by the next one */
    g_assert_null(postcopy_spare_take(fx.pi, p));
    p = postcopy_spare_take(fx.pi, NULL);
    g_assert_true(p == fx.pi->spare[0] + (HOLE_END << TARGET_PAGE_BITS));
    /* not adjacent: nothing is taken */
    g_assert_null(postcopy_spare_take(fx.pi, first));
    g_assert_true(postcopy_spare_take(fx.pi, p) == p + TARGET_PAGE_SIZE);
    /* every other present page once, then none */
    for (unsigned n = HOLE_END + 2; n < DISCARDED; n++) {
        g_assert_nonnull(postcopy_spare_take(fx.pi, NULL));
    }
    g_assert_null(postcopy_spare_take(fx.pi, NULL));
    fixture_free(&fx);
}

/* New contents land in guest RAM whole; a present page is kept, skipped. */
static void test_move_in(void)
{
    Fixture fx;
    uint8_t *spare;
    uint8_t *dst;
    const unsigned n = 4;

    if (!fixture_init(&fx)) {
        return;
    }
    discard_all(&fx);
    /* a run of 4 spare pages, written as the listen thread writes them */
    spare = postcopy_spare_take(fx.pi, NULL);
    for (unsigned i = 1; i < n; i++) {
        g_assert_true(postcopy_spare_take(fx.pi, spare + ((i - 1) << TARGET_PAGE_BITS)) ==
                      spare + (i << TARGET_PAGE_BITS));
    }
    for (unsigned i = 0; i < n; i++) {
        memset(spare + (i << TARGET_PAGE_BITS), 0xa0 + i, TARGET_PAGE_SIZE);
    }
    /* into discarded pages 500..503: moved, the spare pages are gone */
    dst = fx.rb->host + (500 << TARGET_PAGE_BITS);
    g_assert_cmpuint(postcopy_spare_move_in(fx.pi, dst, spare, n << TARGET_PAGE_BITS), ==,
                     n << TARGET_PAGE_BITS);
    for (unsigned i = 0; i < n; i++) {
        g_assert_true(present(dst + (i << TARGET_PAGE_BITS)));
        g_assert_cmpuint(dst[(i << TARGET_PAGE_BITS) + 17], ==, 0xa0 + i);
        g_assert_false(present(spare + (i << TARGET_PAGE_BITS)));
    }

    /* over a page placed already (1024 was never discarded): kept, skipped */
    spare = postcopy_spare_take(fx.pi, NULL);
    memset(spare, 0xee, TARGET_PAGE_SIZE);
    memset(spare + TARGET_PAGE_SIZE, 0xef, TARGET_PAGE_SIZE);
    g_assert_true(postcopy_spare_take(fx.pi, spare) == spare + TARGET_PAGE_SIZE);
    dst = fx.rb->host + ((uint64_t)(DISCARDED - 1) << TARGET_PAGE_BITS);
    g_assert_cmpuint(postcopy_spare_move_in(fx.pi, dst, spare, 2 << TARGET_PAGE_BITS), ==,
                     2 << TARGET_PAGE_BITS);
    g_assert_cmpuint(dst[0], ==, 0xee);
    g_assert_cmpuint(dst[TARGET_PAGE_SIZE], ==, DISCARDED & 0xff);
    g_assert_true(present(spare + TARGET_PAGE_SIZE));   /* still aside */
    fixture_free(&fx);
}

/* KVMIG_POSTCOPY_NO_MOVE: dropped with MADV_DONTNEED, nothing to take. */
static void test_no_move(void)
{
    Fixture fx;

    g_setenv("KVMIG_POSTCOPY_NO_MOVE", "1", TRUE);
    g_assert_cmpuint(postcopy_spare_features(), ==, 0);
    if (!fixture_init(&fx)) {
        g_unsetenv("KVMIG_POSTCOPY_NO_MOVE");
        return;
    }
    g_assert_false(fx.pi->spare_move);
    discard_all(&fx);
    g_assert_null(fx.pi->spare[0]);
    g_assert_cmpuint(fx.pi->spare_moved, ==, 0);
    g_assert_null(postcopy_spare_take(fx.pi, NULL));
    fixture_free(&fx);
    g_unsetenv("KVMIG_POSTCOPY_NO_MOVE");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy-spare/discard", test_discard);
    g_test_add_func("/postcopy-spare/take", test_take);
    g_test_add_func("/postcopy-spare/move-in", test_move_in);
    g_test_add_func("/postcopy-spare/no-move", test_no_move);
    return g_test_run();
}
