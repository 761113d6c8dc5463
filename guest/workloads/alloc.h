/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's buddy page allocator, whose every byte of state lives in
 * guest RAM so that migration carries it (used by the churn workload and
 * the virtio-balloon free-page-hint driver).
 *
 * Layout in guest RAM: a WlAllocMeta header at the start of the first
 * region, followed by a page map (one byte per page of the regions); the
 * pages they occupy are never handed out.  Free blocks are kept on one
 * doubly linked list per order, linked through their own first 16 bytes.
 * All links are guest-physical addresses, never host pointers, so the
 * heap is valid whatever host mapping env->mem is.
 *
 * Blocks are naturally aligned in guest-physical space (a 2 MiB block sits
 * on a 2 MiB boundary) and never cross a region.  Not thread-safe: one
 * vCPU owns a heap.
 */
#ifndef KVMIG_WL_ALLOC_H
#define KVMIG_WL_ALLOC_H

#include "workload.h"

#define WL_ALLOC_MAX_ORDER  18                  /* largest block: 1 GiB */
#define WL_ALLOC_NR_ORDERS  (WL_ALLOC_MAX_ORDER + 1)
#define WL_ALLOC_NONE       UINT64_MAX          /* "no block" */
#define WL_ALLOC_MAGIC      0x4b564d4942445931ULL /* "KVMIBDY1" */

/* The in-RAM header.  Its layout is migrated as guest memory. */
typedef struct WlAllocMeta {
    uint64_t magic;
    uint32_t nr_regions;
    uint32_t reserved;
    WlRegion regions[WL_MAX_REGIONS];       /* the arena (metadata excluded) */
    uint64_t map_base[WL_MAX_REGIONS];      /* index of a region's first map byte */
    uint64_t free_head[WL_ALLOC_NR_ORDERS]; /* gpa of the first free block */
    uint64_t nr_free[WL_ALLOC_NR_ORDERS];   /* free blocks per order */
    uint64_t free_pages;
    uint64_t total_pages;                   /* pages in the arena */
} WlAllocMeta;

/*
 * Called by wl_alloc_pages() when no block of the order is free: get some
 * memory back into the heap (the balloon driver's deflate-on-OOM) and
 * return true, or return false when there is nothing to get; the
 * allocation is retried after every true.  It may free blocks into the
 * heap (through another handle) but must not allocate through this one.
 */
typedef bool (*WlAllocOomFn)(void *opaque, unsigned order);

/* Host-side handle on a heap; holds no state of its own. */
typedef struct WlHeap {
    uint8_t *mem;           /* host pointer to guest-physical 0 */
    uint64_t *dirty;        /* soft dirty log to mark every write in (WlEnv.dirty) */
    WlAllocMeta *meta;
    uint8_t *map;
    WlAllocOomFn oom;       /* NULL (init/attach set it so): fail at once */
    void *oom_opaque;
} WlHeap;

/*
 * Iterator over free blocks, highest order first.  Plain data, so it may
 * itself be kept in guest RAM (e.g. WlState aux words).
 */
typedef struct WlAllocIter {
    uint64_t next;          /* gpa of the next block to return */
    uint32_t order;         /* list that @next is on */
    uint32_t min_order;
} WlAllocIter;

/**
 * wl_alloc_meta_size: bytes of metadata (header and page map, rounded up to
 * whole pages) that wl_alloc_init() places at regions[0].gpa.  The caller
 * zeroes that range before calling wl_alloc_init(); it is split out so that
 * a workload can zero a large map in steps, polling between them.
 */
uint64_t wl_alloc_meta_size(const WlRegion *regions, int nr_regions);

/**
 * wl_alloc_init: build a heap over @regions (page aligned, ascending, not
 * overlapping), everything free except the metadata at the start of
 * regions[0], which must already be zeroed.  Returns false when regions[0]
 * cannot hold the metadata plus one page, or the regions are malformed.
 * @dirty: the env's soft dirty log (WlEnv.dirty, may be NULL); the heap
 * marks every byte it writes in it (see wl_dirty() in workload.h).
 */
bool wl_alloc_init(WlHeap *h, uint8_t *mem, uint64_t *dirty, const WlRegion *regions,
                   int nr_regions);

/**
 * wl_alloc_attach: get a handle on the heap whose metadata is at
 * @meta_gpa (e.g. after a migration, or after wl_run() resumed).  Returns
 * false if no heap is there.  @dirty as for wl_alloc_init().
 */
bool wl_alloc_attach(WlHeap *h, uint8_t *mem, uint64_t *dirty, uint64_t meta_gpa);

/**
 * wl_alloc_pages: allocate 2^@order contiguous, naturally aligned pages.
 * Returns their guest-physical address, or WL_ALLOC_NONE when no block is
 * large enough (or @order > WL_ALLOC_MAX_ORDER), after asking h->oom, if
 * set, for memory until it has none left.  The contents are not cleared.
 */
uint64_t wl_alloc_pages(WlHeap *h, unsigned order);

/**
 * wl_alloc_free: return a block obtained from wl_alloc_pages() with the
 * same @order, merging it with free buddies.  Returns false, changing
 * nothing, when @gpa/@order is not a currently allocated block (double
 * free, wrong order, foreign address).
 */
bool wl_alloc_free(WlHeap *h, uint64_t gpa, unsigned order);

/* Pages currently free, and pages the heap manages in all. */
uint64_t wl_alloc_free_pages(const WlHeap *h);
uint64_t wl_alloc_total_pages(const WlHeap *h);

/**
 * wl_alloc_iter_init / wl_alloc_iter_next: walk the free blocks of order
 * >= @min_order, from the highest order down.  Each call to _next returns
 * one block (gpa and order) or false at the end.  The heap must not be
 * changed (alloc or free) between _init and the last _next; to hand free
 * memory to someone else for a while, allocate it instead.
 */
void wl_alloc_iter_init(const WlHeap *h, WlAllocIter *it, unsigned min_order);
bool wl_alloc_iter_next(const WlHeap *h, WlAllocIter *it, uint64_t *gpa,
                        unsigned *order);

/**
 * wl_alloc_check: verify the heap's internal consistency (lists, map,
 * counters).  O(free blocks); for tests and debugging.
 */
bool wl_alloc_check(const WlHeap *h);

#endif
