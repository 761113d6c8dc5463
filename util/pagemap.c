/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Populated-page queries of host mappings (see include/util/pagemap.h):
 * the PAGEMAP_SCAN ioctl where the kernel has it, else the entries of
 * /proc/self/pagemap, else "everything is populated".
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <glib.h>

#include "util/bitmap.h"
#include "util/pagemap.h"

/* Debian 12's headers predate PAGEMAP_SCAN (Linux 6.7): define it here. */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* /proc/self/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_ENTRY_PRESENT (1ULL << 63)
#define PM_ENTRY_SWAPPED (1ULL << 62)

#define SCAN_VEC_LEN 256
#define READ_CHUNK   512

static int pagemap_fd(void)
{
    static gsize once;
    static int fd = -1;

    if (g_once_init_enter(&once)) {
        fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        g_once_init_leave(&once, 1);
    }
    return fd;
}

/* 0 ok; -ENOTTY/-EINVAL when the kernel lacks the ioctl; other -errno. */
static int populated_scan(int fd, const void *addr, uint64_t npages, unsigned long *bmap)
{
    struct page_region vec[SCAN_VEC_LEN];
    uint64_t base = (uintptr_t)addr;
    uint64_t start = base, end = base + npages * PAGEMAP_PAGE_SIZE;

    bitmap_clear_range(bmap, 0, npages);
    while (start < end) {
        struct pm_scan_arg arg = {
            .size = sizeof(arg),
            .start = start,
            .end = end,
            .vec = (uintptr_t)vec,
            .vec_len = SCAN_VEC_LEN,
            .category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
            .return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
        };
        long n = ioctl(fd, PAGEMAP_SCAN, &arg);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        for (long i = 0; i < n; i++) {
            uint64_t first = (vec[i].start - base) / PAGEMAP_PAGE_SIZE;
            uint64_t last = (vec[i].end - base) / PAGEMAP_PAGE_SIZE;
            bitmap_set_range(bmap, first, last - first);
        }
        if (arg.walk_end <= start) {
            return -EIO;    /* no progress: never loop forever on a kernel bug */
        }
        start = arg.walk_end;
    }
    return 0;
}

static int populated_read(int fd, const void *addr, uint64_t npages, unsigned long *bmap)
{
    uint64_t entries[READ_CHUNK];
    uint64_t first = (uintptr_t)addr / PAGEMAP_PAGE_SIZE;

    for (uint64_t i = 0; i < npages;) {
        size_t want = MIN(npages - i, READ_CHUNK) * sizeof(uint64_t);
        ssize_t got = pread(fd, entries, want, (first + i) * sizeof(uint64_t));

        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0 || got % sizeof(uint64_t)) {
            return got < 0 ? -errno : -EIO;
        }
        for (size_t k = 0; k < got / sizeof(uint64_t); k++, i++) {
            if (entries[k] & (PM_ENTRY_PRESENT | PM_ENTRY_SWAPPED)) {
                set_bit(i, bmap);
            } else {
                clear_bit(i, bmap);
            }
        }
    }
    return 0;
}

static int run_method(PagemapMethod method, const void *addr, uint64_t npages,
                      unsigned long *bmap)
{
    int fd = pagemap_fd();

    if (fd < 0 || sysconf(_SC_PAGESIZE) != PAGEMAP_PAGE_SIZE ||
        (uintptr_t)addr % PAGEMAP_PAGE_SIZE) {
        return -ENOTSUP;
    }
    switch (method) {
    case PAGEMAP_METHOD_SCAN:
        return populated_scan(fd, addr, npages, bmap);
    case PAGEMAP_METHOD_READ:
        return populated_read(fd, addr, npages, bmap);
    default:
        return -EINVAL;
    }
}

bool pagemap_populated_method(PagemapMethod method, const void *addr, uint64_t npages,
                              unsigned long *bmap)
{
    if (run_method(method, addr, npages, bmap) == 0) {
        return true;
    }
    bitmap_set_range(bmap, 0, npages);
    return false;
}

/* AUTO's choice, found on first use: SCAN, READ, or __MAX for none. */
static int auto_method = -1;

static PagemapMethod resolve_auto(const void *addr, uint64_t npages, unsigned long *bmap,
                                  bool *done)
{
    int m = __atomic_load_n(&auto_method, __ATOMIC_RELAXED);

    *done = false;
    if (m >= 0) {
        return m;
    }
    /* first use: try each; the kernel's answer does not change later */
    for (m = PAGEMAP_METHOD_SCAN; m < PAGEMAP_METHOD__MAX; m++) {
        if (run_method(m, addr, npages, bmap) == 0) {
            *done = true;
            break;
        }
    }
    __atomic_store_n(&auto_method, m, __ATOMIC_RELAXED);
    return m;
}

bool pagemap_populated(const void *addr, uint64_t npages, unsigned long *bmap)
{
    bool done;
    PagemapMethod m;

    if ((uintptr_t)addr % PAGEMAP_PAGE_SIZE) {
        /* a caller's mistake must not decide AUTO for the process */
        bitmap_set_range(bmap, 0, npages);
        return false;
    }
    m = resolve_auto(addr, npages, bmap, &done);
    if (done) {
        return true;
    }
    if (m >= PAGEMAP_METHOD__MAX) {
        bitmap_set_range(bmap, 0, npages);
        return false;
    }
    return pagemap_populated_method(m, addr, npages, bmap);
}

bool pagemap_page_populated(const void *addr)
{
    unsigned long bit = 0;

    pagemap_populated(addr, 1, &bit);
    return bit & 1;
}

const char *pagemap_method_name(void)
{
    static char probe[2 * PAGEMAP_PAGE_SIZE] __attribute__((aligned(PAGEMAP_PAGE_SIZE)));
    unsigned long bit;

    if (__atomic_load_n(&auto_method, __ATOMIC_RELAXED) < 0) {
        pagemap_populated(probe, 1, &bit);
    }
    switch (__atomic_load_n(&auto_method, __ATOMIC_RELAXED)) {
    case PAGEMAP_METHOD_SCAN:
        return "pagemap-scan";
    case PAGEMAP_METHOD_READ:
        return "pagemap-read";
    default:
        return "none";
    }
}
