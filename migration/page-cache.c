/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The XBZRLE page cache: a direct-mapped table of page copies with an age
 * per entry, resizable without copying pages (see page-cache.h).
 */
#include <stdlib.h>
#include <string.h>

#include "migration/page-cache.h"
#include "util/error.h"

/* Entry pages are aligned for the encoders' 64-byte loads. */
#define PAGE_CACHE_ALIGN 64

typedef struct CacheItem {
    uint64_t addr;              /* meaningful only when data != NULL */
    uint64_t age;
    uint8_t *data;              /* page_size bytes, or NULL: an empty slot */
} CacheItem;

struct PageCache {
    CacheItem *items;
    size_t page_size;
    uint64_t nslots;            /* a power of two */
    uint64_t nentries;          /* slots with data */
};

/* Round down to a power of two; 0 for 0. */
static uint64_t pow2_floor(uint64_t v)
{
    return v ? 1ULL << (63 - __builtin_clzll(v)) : 0;
}

static bool slots_for(uint64_t cache_size, size_t page_size, uint64_t *nslots,
                      GError **errp)
{
    uint64_t n;

    if (cache_size < page_size) {
        kvmig_error(errp, "XBZRLE cache size %" G_GUINT64_FORMAT " is smaller than a page "
                    "(%zu bytes)", cache_size, page_size);
        return false;
    }
    n = pow2_floor(cache_size / page_size);
    if (n > SIZE_MAX / sizeof(CacheItem)) {
        kvmig_error(errp, "XBZRLE cache size %" G_GUINT64_FORMAT " exceeds the address "
                    "space", cache_size);
        return false;
    }
    *nslots = n;
    return true;
}

static CacheItem *items_new(uint64_t n, GError **errp)
{
    /* calloc, not g_new: a huge size must fail, not abort */
    CacheItem *items = calloc(n, sizeof(CacheItem));

    if (!items) {
        kvmig_error(errp, "cannot allocate the XBZRLE cache's table of %" G_GUINT64_FORMAT
                    " slots", n);
    }
    return items;
}

static inline CacheItem *slot_of(const PageCache *c, uint64_t addr)
{
    return &c->items[(addr / c->page_size) & (c->nslots - 1)];
}

PageCache *page_cache_new(uint64_t cache_size, size_t page_size, GError **errp)
{
    PageCache *c;
    uint64_t n;

    g_return_val_if_fail(page_size && !(page_size & (page_size - 1)), NULL);
    if (!slots_for(cache_size, page_size, &n, errp)) {
        return NULL;
    }
    c = g_new0(PageCache, 1);
    c->items = items_new(n, errp);
    if (!c->items) {
        g_free(c);
        return NULL;
    }
    c->page_size = page_size;
    c->nslots = n;
    return c;
}

void page_cache_free(PageCache *c)
{
    if (!c) {
        return;
    }
    for (uint64_t i = 0; i < c->nslots; i++) {
        free(c->items[i].data);
    }
    free(c->items);
    g_free(c);
}

bool page_cache_resize(PageCache *c, uint64_t cache_size, GError **errp)
{
    CacheItem *old = c->items;
    uint64_t old_n = c->nslots, n;

    if (!slots_for(cache_size, c->page_size, &n, errp)) {
        return false;
    }
    if (n == old_n) {
        return true;
    }
    c->items = items_new(n, errp);
    if (!c->items) {
        c->items = old;
        return false;
    }
    c->nslots = n;
    c->nentries = 0;
    for (uint64_t i = 0; i < old_n; i++) {
        CacheItem *from = &old[i], *to;

        if (!from->data) {
            continue;
        }
        to = slot_of(c, from->addr);
        if (to->data && to->age >= from->age) {
            free(from->data);           /* the one already there is as young */
            continue;
        }
        if (to->data) {
            free(to->data);
            c->nentries--;
        }
        *to = *from;
        c->nentries++;
    }
    free(old);
    return true;
}

uint8_t *page_cache_lookup(PageCache *c, uint64_t addr, uint64_t age)
{
    CacheItem *it = slot_of(c, addr);

    if (!it->data || it->addr != addr) {
        return NULL;
    }
    it->age = age;
    return it->data;
}

uint8_t *page_cache_insert(PageCache *c, uint64_t addr, const uint8_t *data, uint64_t age)
{
    CacheItem *it = slot_of(c, addr);

    if (it->data && it->addr != addr && it->age + PAGE_CACHE_LIFETIME > age) {
        return NULL;                    /* another page, sent recently: keep it */
    }
    if (!it->data) {
        void *p;

        if (posix_memalign(&p, PAGE_CACHE_ALIGN, c->page_size)) {
            return NULL;
        }
        it->data = p;
        c->nentries++;
    }
    if (data) {
        memcpy(it->data, data, c->page_size);
    } else {
        memset(it->data, 0, c->page_size);
    }
    it->addr = addr;
    it->age = age;
    return it->data;
}

uint64_t page_cache_size(const PageCache *c)
{
    return c->nslots * c->page_size;
}

uint64_t page_cache_slots(const PageCache *c)
{
    return c->nslots;
}

uint64_t page_cache_entries(const PageCache *c)
{
    return c->nentries;
}
