/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy on the destination: discarded pages recycled with UFFDIO_MOVE
 * (Linux 6.8+) instead of freed at LISTEN and allocated again, one by
 * one, by UFFDIO_COPY.
 *
 * At LISTEN every discarded range of a RAM block is moved aside, to the
 * same offset of a "spare" mapping of the block's size, instead of being
 * dropped with MADV_DONTNEED: the pages stay allocated.  After the switch
 * the listen thread writes each arriving page into the next spare page
 * and the placer moves the run into guest RAM: one copy (the stream's
 * buffer into the spare page) and a page-table move, where UFFDIO_COPY
 * takes a copy into a freshly allocated, charged, LRU-added page.
 * Measured on the build VM (8 GiB of another process's RAM in use): about
 * 1.0 us a page against 2.2 us (docs/devel/migration/postcopy.rst).
 *
 * A move maps the page whole, as UFFDIO_COPY does, and wakes the threads
 * waiting on it, so the atomic-placement rule holds.  Everything falls
 * back: a kernel without UFFDIO_MOVE discards with MADV_DONTNEED and
 * places with UFFDIO_COPY, a range that cannot be moved aside is dropped,
 * a run that cannot be moved in is copied from its spare pages (present
 * and readable).  KVMIG_POSTCOPY_NO_MOVE=1 in the environment takes the
 * fallback everywhere (tests use it to keep it covered).
 *
 * Threads: the incoming thread opens and fills the spare mappings at
 * LISTEN, before the listen and preempt threads start; those two take
 * spare pages (postcopy_spare_take, under spare_lock), the placer and
 * the preempt thread move them in; the mappings are unmapped by
 * postcopy_incoming_free.
 *
 * Spare pages are never touched where they are absent: the spare mapping
 * is registered with the userfaultfd (UFFDIO_MOVE wants its destination
 * registered), so a write to a hole would wait for a page nobody sends.
 * Holes (discarded pages that were never populated) are found with
 * mincore before a page is taken.
 */
#include <errno.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "migration/postcopy-int.h"
#include "util/bitmap.h"
#include "util/error.h"

/* Linux 6.8's uAPI; Debian 12's headers predate it. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1ULL << 16)
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE 0x05
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;     /* out: bytes moved, or -errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* pages that would not move aside before moving is given up */
#define POSTCOPY_SPARE_MAX_FAILURES 64

/* mincore is asked about this many spare pages at a time */
#define SPARE_PROBE_PAGES POSTCOPY_SPARE_PROBE_PAGES

uint64_t postcopy_spare_features(void)
{
    const char *off = getenv("KVMIG_POSTCOPY_NO_MOVE");

    return off && *off && strcmp(off, "0") ? 0 : UFFD_FEATURE_MOVE;
}

void postcopy_spare_init(PostcopyIncoming *pi, uint64_t features)
{
    pi->spare_move = !!(features & UFFD_FEATURE_MOVE);
    pi->probe_block = UINT_MAX;
}

/* The spare mapping of @rb, registered; NULL (moves off for it) if it cannot be. */
static uint8_t *spare_map(PostcopyIncoming *pi, RAMBlock *rb)
{
    struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
    uint8_t *p = mmap(NULL, rb->used_length, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    /* moved-in huge pages stay whole (moved by their PMD); none are made here */
    madvise(p, rb->used_length, MADV_NOHUGEPAGE);
    reg.range.start = (uintptr_t)p;
    reg.range.len = rb->used_length;
    if (ioctl(pi->uffd, UFFDIO_REGISTER, &reg) < 0 ||
        !(reg.ioctls & (1ULL << _UFFDIO_MOVE))) {
        munmap(p, rb->used_length);
        return NULL;
    }
    return p;
}

/* Move @len bytes from @src to @dst; the bytes moved (less: a page failed, errno says why). */
static uint64_t move_range(PostcopyIncoming *pi, uint64_t dst, uint64_t src, uint64_t len,
                           uint64_t mode)
{
    uint64_t done = 0;

    while (done < len) {
        struct uffdio_move mv = {
            .dst = dst + done, .src = src + done, .len = len - done, .mode = mode,
        };

        if (ioctl(pi->uffd, UFFDIO_MOVE, &mv) == 0) {
            return len;
        }
        if (mv.move > 0) {
            done += (uint64_t)mv.move;  /* a part went: go on from there */
        } else if (errno != EAGAIN && errno != EINTR) {
            break;
        }
    }
    return done;
}

bool postcopy_spare_discard(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                            uint64_t npages, GError **errp)
{
    uint64_t offset = page << TARGET_PAGE_BITS, len = npages << TARGET_PAGE_BITS, done = 0;
    unsigned i = rb->index;

    if (pi->spare_move && i < G_N_ELEMENTS(pi->spare) && !pi->spare[i]) {
        pi->spare[i] = spare_map(pi, rb);
        pi->spare_len[i] = rb->used_length;
    }
    while (pi->spare_move && i < G_N_ELEMENTS(pi->spare) && pi->spare[i] && done < len) {
        /* the same offset aside: whole huge pages move by their PMD */
        uint64_t n = move_range(pi, (uintptr_t)pi->spare[i] + offset + done,
                                (uintptr_t)rb->host + offset + done, len - done,
                                UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | UFFDIO_MOVE_MODE_DONTWAKE);

        pi->spare_moved += n >> TARGET_PAGE_BITS;
        done += n;
        if (done == len) {
            break;
        }
        /* a page that will not move (pinned, say) is dropped; too many: stop trying */
        if (madvise(rb->host + offset + done, TARGET_PAGE_SIZE, MADV_DONTNEED) < 0) {
            break;
        }
        done += TARGET_PAGE_SIZE;
        if (++pi->spare_failures > POSTCOPY_SPARE_MAX_FAILURES) {
            pi->spare_move = false;
        }
    }
    /* what did not move is dropped: the next touch is a missing fault all the same */
    if (done < len && madvise(rb->host + offset + done, len - done, MADV_DONTNEED) < 0) {
        kvmig_error_errno(errp, errno, "postcopy: discarding in '%s'", rb->idstr);
        return false;
    }
    return true;
}

/* spare_lock held: is spare page @page of block @b there (not a hole)? */
static bool spare_present(PostcopyIncoming *pi, unsigned b, uint64_t page)
{
    if (page < pi->probe_first || page >= pi->probe_first + SPARE_PROBE_PAGES ||
        b != pi->probe_block) {
        uint64_t npages = pi->spare_len[b] >> TARGET_PAGE_BITS;
        uint64_t n = MIN((uint64_t)SPARE_PROBE_PAGES, npages - page);

        memset(pi->probe, 0, sizeof(pi->probe));
        if (mincore(pi->spare[b] + (page << TARGET_PAGE_BITS), n << TARGET_PAGE_BITS,
                    pi->probe) < 0) {
            memset(pi->probe, 0, sizeof(pi->probe));    /* none taken from there */
        }
        pi->probe_block = b;
        pi->probe_first = page;
    }
    return pi->probe[page - pi->probe_first] & 1;
}

static uint8_t *spare_take_locked(PostcopyIncoming *pi, const uint8_t *after)
{
    while (pi->spare_block < G_N_ELEMENTS(pi->spare)) {
        unsigned b = pi->spare_block;
        uint64_t npages = pi->spare[b] ? pi->spare_len[b] >> TARGET_PAGE_BITS : 0;
        uint64_t page = pi->spare_page;

        /* only pages moved aside (discarded) can be there */
        page = npages ? bitmap_find_next(pi->discard[b], npages, page) : npages;
        if (page >= npages) {
            pi->spare_block++;
            pi->spare_page = 0;
            continue;
        }
        if (after && pi->spare[b] + (page << TARGET_PAGE_BITS) != after + TARGET_PAGE_SIZE) {
            return NULL;    /* not next to the run's last one: the caller ends the run */
        }
        pi->spare_page = page + 1;
        if (spare_present(pi, b, page)) {
            return pi->spare[b] + (page << TARGET_PAGE_BITS);
        }
        if (after) {
            return NULL;
        }
    }
    return NULL;
}

uint8_t *postcopy_spare_take(PostcopyIncoming *pi, const uint8_t *after)
{
    uint8_t *p;

    if (!postcopy_spare_any(pi)) {
        return NULL;
    }
    g_mutex_lock(&pi->spare_lock);
    p = spare_take_locked(pi, after);
    g_mutex_unlock(&pi->spare_lock);
    return p;
}

uint64_t postcopy_spare_move_in(PostcopyIncoming *pi, uint8_t *dst, const uint8_t *src,
                                uint64_t len)
{
    uint64_t done = 0;

    while (done < len) {
        uint64_t n = move_range(pi, (uintptr_t)dst + done, (uintptr_t)src + done,
                                len - done, 0);

        done += n;
        if (done < len && errno == EEXIST) {
            /* placed already (a zero page, the preempt channel): its data is spare */
            done += TARGET_PAGE_SIZE;
        } else if (done < len) {
            break;      /* the caller copies the rest */
        }
    }
    return done;
}

void postcopy_spare_free(PostcopyIncoming *pi)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(pi->spare); i++) {
        if (pi->spare[i]) {
            munmap(pi->spare[i], pi->spare_len[i]);
            pi->spare[i] = NULL;
        }
    }
}
