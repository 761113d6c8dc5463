/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which pages of a private anonymous host mapping (guest RAM) may hold
 * data, asked of the kernel's page tables without touching the pages: a
 * page that was never written is a hole there, and reads as zero.
 *
 * Why not just read it: a read fault on a hole costs a page fault, and on
 * kernels (or VMs) that do not map the shared zero page it allocates and
 * clears a real page — gigabytes of RSS for an idle guest.
 *
 * "Populated" means present in the page tables or swapped out; holes
 * (pte_none) are the only pages reported as not populated.  The answer is
 * a snapshot: the caller must arrange that a later write is seen some
 * other way (the dirty log on the source; the loader's own writes on the
 * destination).  Only meaningful for MAP_PRIVATE|MAP_ANONYMOUS memory:
 * a hole in a file or shared mapping does not read as zero.
 *
 * Any thread; the kernel interface is opened once per process.
 */
#ifndef KVMIG_UTIL_PAGEMAP_H
#define KVMIG_UTIL_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

/* The page size the bitmaps count in (the host's, and TARGET_PAGE_SIZE). */
#define PAGEMAP_PAGE_SIZE 4096

typedef enum PagemapMethod {
    PAGEMAP_METHOD_AUTO,    /* the best that works here */
    PAGEMAP_METHOD_SCAN,    /* PAGEMAP_SCAN ioctl (Linux 6.7+): ranges, cheap on holes */
    PAGEMAP_METHOD_READ,    /* /proc/self/pagemap entries, 8 bytes a page */
    PAGEMAP_METHOD__MAX,
} PagemapMethod;

/*
 * pagemap_populated: for the @npages pages at @addr (page aligned), set
 * bit i of @bmap when page i is populated and clear it when it is a hole
 * (bits past @npages are untouched).  Returns false when the kernel cannot
 * tell (no method works): then every bit is set, which is always safe.
 */
bool pagemap_populated(const void *addr, uint64_t npages, unsigned long *bmap);

/* The same with one method (tests); false, bits all set, if it fails. */
bool pagemap_populated_method(PagemapMethod method, const void *addr, uint64_t npages,
                              unsigned long *bmap);

/* Is the page at @addr populated?  True when unknown. */
bool pagemap_page_populated(const void *addr);

/* The method AUTO resolves to here: "pagemap-scan", "pagemap-read" or "none". */
const char *pagemap_method_name(void);

#endif
