/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The XBZRLE page cache: copies of pages as last sent to the destination,
 * keyed by a page's RAM address (its block's base in the RAM address space
 * plus the offset in the block), direct-mapped like QEMU's: slot =
 * (addr / page_size) mod slots, the number of slots a power of two.
 *
 * Aging: every entry carries the age (the dirty-sync count) at which it
 * was last inserted or hit.  An entry younger than PAGE_CACHE_LIFETIME
 * syncs is not evicted by another page that maps to its slot, so a page
 * sent in this pass or the last keeps its copy.
 *
 * Threads: a cache belongs to one thread (the migration thread); nothing
 * here locks.  Entry pages are allocated on first insert and stay at the
 * same address until page_cache_free() or a resize that drops them.
 */
#ifndef KVMIG_MIGRATION_PAGE_CACHE_H
#define KVMIG_MIGRATION_PAGE_CACHE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An entry is kept from eviction until its age is this many syncs old. */
#define PAGE_CACHE_LIFETIME 2

typedef struct PageCache PageCache;

/*
 * page_cache_new: a cache of @cache_size bytes of @page_size-byte pages
 * (@page_size a power of two).  The slot count is @cache_size / @page_size
 * rounded down to a power of two, as QEMU's cache did (QEMU 7.2's
 * xbzrle-cache-size check already demands a power of two, so with the
 * monitor's values nothing is lost).  Fails when @cache_size < @page_size
 * or the slot table cannot be allocated.
 */
PageCache *page_cache_new(uint64_t cache_size, size_t page_size, GError **errp);

/* Free the cache and every entry; NULL is fine. */
void page_cache_free(PageCache *c);

/*
 * page_cache_resize: change the size (same rounding and errors as
 * page_cache_new) keeping contents: every entry moves, without copying
 * its page, to its slot in the new table; when two land in one slot the
 * younger stays (the one already there on a tie) and the other is freed.
 * On error the cache is unchanged.
 */
bool page_cache_resize(PageCache *c, uint64_t cache_size, GError **errp);

/*
 * page_cache_lookup: the cached copy of the page at @addr, or NULL.  A hit
 * sets the entry's age to @age (QEMU's cache_is_cached() does the same).
 * The caller may read and write the page_size bytes returned.
 */
uint8_t *page_cache_lookup(PageCache *c, uint64_t addr, uint64_t age);

/*
 * page_cache_insert: make the copy of @addr be @data (@page_size bytes;
 * NULL for a page of zeroes), with age @age, and return it.  Returns NULL
 * (nothing changed) when the slot holds another page that is still young
 * (its age + PAGE_CACHE_LIFETIME > @age) or when no memory is left.
 * @data may change while it is copied: what was copied is what is cached.
 */
uint8_t *page_cache_insert(PageCache *c, uint64_t addr, const uint8_t *data, uint64_t age);

/* Bytes covered after rounding (slots * page size). */
uint64_t page_cache_size(const PageCache *c);
/* Number of slots, and of slots holding a page. */
uint64_t page_cache_slots(const PageCache *c);
uint64_t page_cache_entries(const PageCache *c);

#endif
