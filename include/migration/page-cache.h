/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The XBZRLE page cache: the copy of each page as last sent to the
 * destination, keyed by the page's RAM address (its block's base in the RAM
 * address space plus the offset in the block).
 *
 * Compact entries: an entry is held in the smallest form that reproduces
 * the page exactly --
 *   zero:   no bytes (a page sent as zero, or never written);
 *   sparse: the page's XBZRLE encoding against an all-zero page, when that
 *           is at most half a page (a pagewalk page, one non-zero byte,
 *           is 3 bytes; up to 8 bytes live in the index slot itself);
 *   raw:    a copy of the page.
 * The budget (xbzrle-cache-size) counts the bytes entries hold (a heap
 * block counts its length rounded up to 16 plus 16 of allocator overhead),
 * so a cache of half the guest holds every page of a sparse guest, where a
 * QEMU-style cache of page copies holds half of them.
 *
 * The index: one 24-byte slot per page of the migrated RAM (@npages at
 * creation), mapped zero-filled and advised as huge pages (untouched
 * slots cost no memory until used) -- 6 MiB per GiB of guest RAM, outside
 * the budget like QEMU's own table of cache items.  No hashing: a page has its own slot, nothing
 * aliases.
 *
 * Aging: every entry carries the age (the caller's pass number, the dirty
 * sync count) at which it was last stored or hit.  When a store needs room
 * the oldest entries go first; among entries of the same age the last
 * stored goes first (a pass scans in address order, so that is the page
 * the next pass reaches last).  An entry whose age is the store's age
 * (stored or hit in the current pass) is never evicted by a store: the
 * store fails instead.  Zero entries hold nothing and are never evicted.
 *
 * Threads: a cache belongs to one thread (the migration thread); nothing
 * here locks.
 */
#ifndef KVMIG_MIGRATION_PAGE_CACHE_H
#define KVMIG_MIGRATION_PAGE_CACHE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct PageCache PageCache;

/* Bytes of index per page of RAM (the slot). */
#define PAGE_CACHE_SLOT_BYTES 24

/*
 * page_cache_new: a cache with a budget of @cache_size bytes for pages of
 * @page_size bytes (a power of two, at most 32 KiB) at RAM addresses below
 * @npages * @page_size.  The budget is @cache_size rounded down to a power
 * of two number of pages, as QEMU's cache rounds it (QEMU 7.2's
 * xbzrle-cache-size check already demands a power of two, so with the
 * monitor's values nothing is lost).  Fails when @cache_size < @page_size
 * or the index cannot be allocated.
 */
PageCache *page_cache_new(uint64_t cache_size, size_t page_size, uint64_t npages,
                          GError **errp);

/* Free the cache and every entry; NULL is fine. */
void page_cache_free(PageCache *c);

/*
 * page_cache_resize: change the budget (same rounding and errors as
 * page_cache_new) keeping what fits: when the entries held exceed the new
 * budget the oldest are dropped (same order as a store's evictions, but
 * entries of any age may go).  On error the cache is unchanged.
 */
bool page_cache_resize(PageCache *c, uint64_t cache_size, GError **errp);

/*
 * page_cache_get: the cached copy of the page at @addr, or NULL on a miss.
 * A raw entry returns its own buffer (the caller may update it in place
 * and must then call page_cache_put with it); a zero or sparse entry is
 * decoded into @scratch (@page_size bytes), which is returned.  A hit sets
 * the entry's age to @age (QEMU's cache_is_cached() does the same).
 */
uint8_t *page_cache_get(PageCache *c, uint64_t addr, uint8_t *scratch, uint64_t age);

/*
 * page_cache_put: make the copy of @addr be @page (@page_size bytes, which
 * must not change meanwhile: a snapshot, not guest RAM), with age @age, in
 * its smallest form.  @page may be the buffer page_cache_get returned.
 * Returns false when there is no room (every entry that could go is of
 * age >= @age) or no memory: then @addr is not cached at all (an older
 * copy is dropped -- it no longer matches the destination).
 */
bool page_cache_put(PageCache *c, uint64_t addr, const uint8_t *page, uint64_t age);

/* page_cache_put for a page of zeroes (never fails: holds no bytes). */
void page_cache_put_zero(PageCache *c, uint64_t addr, uint64_t age);

/* Forget @addr (nothing when not cached). */
void page_cache_drop(PageCache *c, uint64_t addr);

/* The budget after rounding, bytes. */
uint64_t page_cache_size(const PageCache *c);
/* Bytes the entries hold (<= the budget after any put or resize). */
uint64_t page_cache_bytes(const PageCache *c);
/* Entries of each form, and all of them. */
uint64_t page_cache_entries(const PageCache *c);
uint64_t page_cache_zero_entries(const PageCache *c);
uint64_t page_cache_sparse_entries(const PageCache *c);
uint64_t page_cache_raw_entries(const PageCache *c);
/* Bytes of the index (npages * PAGE_CACHE_SLOT_BYTES). */
uint64_t page_cache_index_bytes(const PageCache *c);

#endif
