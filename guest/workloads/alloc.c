/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The test guest's buddy page allocator; all of its state is in guest RAM. */
#include "alloc.h"

/*
 * Page map byte of a block's first page.  Interior pages of a block, and
 * pages that belong to no block head, are 0 (so a zeroed map is "empty").
 */
#define MAP_FREE        0x80u
#define MAP_USED        0x40u
#define MAP_ORDER_MASK  0x3fu

#define META_HDR_SIZE   ((sizeof(WlAllocMeta) + 63) & ~(uint64_t)63)

typedef struct FreeLink {
    uint64_t next;
    uint64_t prev;
} FreeLink;

static inline uint64_t block_bytes(unsigned order)
{
    return WL_PAGE_SIZE << order;
}

static inline FreeLink *link_of(const WlHeap *h, uint64_t gpa)
{
    return (FreeLink *)(h->mem + gpa);
}

/* After writing @len bytes at @p (heap memory): the soft dirty log. */
static inline void heap_dirty(const WlHeap *h, const void *p, uint64_t len)
{
    wl_dirty_log(h->dirty, (uint64_t)((const uint8_t *)p - h->mem), len);
}

/* Index of the arena region holding [gpa, gpa + len), or -1. */
static int region_of(const WlAllocMeta *m, uint64_t gpa, uint64_t len)
{
    for (uint32_t i = 0; i < m->nr_regions; i++) {
        const WlRegion *r = &m->regions[i];

        if (gpa >= r->gpa && gpa - r->gpa < r->size &&
            len <= r->size - (gpa - r->gpa)) {
            return (int)i;
        }
    }
    return -1;
}

static inline uint8_t *map_byte(const WlHeap *h, int r, uint64_t gpa)
{
    const WlAllocMeta *m = h->meta;

    return &h->map[m->map_base[r] + (gpa - m->regions[r].gpa) / WL_PAGE_SIZE];
}

static void list_push(WlHeap *h, int r, uint64_t gpa, unsigned order)
{
    WlAllocMeta *m = h->meta;
    FreeLink *l = link_of(h, gpa);
    uint64_t head = m->free_head[order];

    l->next = head;
    l->prev = WL_ALLOC_NONE;
    if (head != WL_ALLOC_NONE) {
        link_of(h, head)->prev = gpa;
        heap_dirty(h, link_of(h, head), sizeof(FreeLink));
    }
    m->free_head[order] = gpa;
    m->nr_free[order]++;
    *map_byte(h, r, gpa) = (uint8_t)(MAP_FREE | order);
    heap_dirty(h, l, sizeof(*l));
    heap_dirty(h, m, sizeof(*m));
    heap_dirty(h, map_byte(h, r, gpa), 1);
}

static void list_remove(WlHeap *h, int r, uint64_t gpa, unsigned order)
{
    WlAllocMeta *m = h->meta;
    FreeLink *l = link_of(h, gpa);

    if (l->prev == WL_ALLOC_NONE) {
        m->free_head[order] = l->next;
    } else {
        link_of(h, l->prev)->next = l->next;
        heap_dirty(h, link_of(h, l->prev), sizeof(FreeLink));
    }
    if (l->next != WL_ALLOC_NONE) {
        link_of(h, l->next)->prev = l->prev;
        heap_dirty(h, link_of(h, l->next), sizeof(FreeLink));
    }
    m->nr_free[order]--;
    *map_byte(h, r, gpa) = 0;
    heap_dirty(h, m, sizeof(*m));
    heap_dirty(h, map_byte(h, r, gpa), 1);
}

uint64_t wl_alloc_meta_size(const WlRegion *regions, int nr_regions)
{
    uint64_t pages = 0;

    for (int i = 0; i < nr_regions; i++) {
        pages += regions[i].size / WL_PAGE_SIZE;
    }
    return (META_HDR_SIZE + pages + WL_PAGE_SIZE - 1) & ~(WL_PAGE_SIZE - 1);
}

bool wl_alloc_init(WlHeap *h, uint8_t *mem, uint64_t *dirty, const WlRegion *regions,
                   int nr_regions)
{
    uint64_t meta_size, map_pages = 0;
    WlAllocMeta *m;

    if (nr_regions < 1 || nr_regions > WL_MAX_REGIONS) {
        return false;
    }
    for (int i = 0; i < nr_regions; i++) {
        if ((regions[i].gpa | regions[i].size) & (WL_PAGE_SIZE - 1)) {
            return false;
        }
        if (i > 0 && regions[i].gpa < regions[i - 1].gpa + regions[i - 1].size) {
            return false;
        }
    }
    meta_size = wl_alloc_meta_size(regions, nr_regions);
    if (regions[0].size <= meta_size) {
        return false;
    }

    m = (WlAllocMeta *)(mem + regions[0].gpa);
    h->mem = mem;
    h->dirty = dirty;
    h->meta = m;
    h->map = (uint8_t *)m + META_HDR_SIZE;
    h->oom = NULL;
    h->oom_opaque = NULL;

    m->nr_regions = (uint32_t)nr_regions;
    for (int i = 0; i < nr_regions; i++) {
        m->regions[i] = regions[i];
        if (i == 0) {
            m->regions[0].gpa += meta_size;
            m->regions[0].size -= meta_size;
        }
        m->map_base[i] = map_pages;
        map_pages += m->regions[i].size / WL_PAGE_SIZE;
    }
    for (unsigned o = 0; o < WL_ALLOC_NR_ORDERS; o++) {
        m->free_head[o] = WL_ALLOC_NONE;
        m->nr_free[o] = 0;
    }
    m->total_pages = map_pages;
    m->free_pages = map_pages;

    /* Carve each region into the largest naturally aligned blocks. */
    for (int i = 0; i < nr_regions; i++) {
        uint64_t a = m->regions[i].gpa;
        uint64_t end = a + m->regions[i].size;

        while (a < end) {
            unsigned o = 0;

            while (o < WL_ALLOC_MAX_ORDER &&
                   (a & (block_bytes(o + 1) - 1)) == 0 &&
                   block_bytes(o + 1) <= end - a) {
                o++;
            }
            list_push(h, i, a, o);
            a += block_bytes(o);
        }
    }
    m->magic = WL_ALLOC_MAGIC;
    heap_dirty(h, m, sizeof(*m));
    return true;
}

bool wl_alloc_attach(WlHeap *h, uint8_t *mem, uint64_t *dirty, uint64_t meta_gpa)
{
    WlAllocMeta *m = (WlAllocMeta *)(mem + meta_gpa);

    if (m->magic != WL_ALLOC_MAGIC || m->nr_regions < 1 ||
        m->nr_regions > WL_MAX_REGIONS) {
        return false;
    }
    h->mem = mem;
    h->dirty = dirty;
    h->meta = m;
    h->map = (uint8_t *)m + META_HDR_SIZE;
    h->oom = NULL;
    h->oom_opaque = NULL;
    return true;
}

/* The lowest order >= @order with a free block, or WL_ALLOC_NR_ORDERS. */
static unsigned first_free_order(const WlAllocMeta *m, unsigned order)
{
    while (order <= WL_ALLOC_MAX_ORDER && m->free_head[order] == WL_ALLOC_NONE) {
        order++;
    }
    return order;
}

uint64_t wl_alloc_pages(WlHeap *h, unsigned order)
{
    WlAllocMeta *m = h->meta;
    unsigned o;
    uint64_t gpa;
    int r;

    if (order > WL_ALLOC_MAX_ORDER) {
        return WL_ALLOC_NONE;
    }
    o = first_free_order(m, order);
    /* Out of memory: whoever can give some back does, then try again. */
    while (o > WL_ALLOC_MAX_ORDER && h->oom && h->oom(h->oom_opaque, order)) {
        o = first_free_order(m, order);
    }
    if (o > WL_ALLOC_MAX_ORDER) {
        return WL_ALLOC_NONE;
    }
    gpa = m->free_head[o];
    r = region_of(m, gpa, block_bytes(o));
    list_remove(h, r, gpa, o);
    /* Split: keep the lower half, free the upper halves. */
    while (o > order) {
        o--;
        list_push(h, r, gpa + block_bytes(o), o);
    }
    *map_byte(h, r, gpa) = (uint8_t)(MAP_USED | order);
    m->free_pages -= 1ULL << order;
    heap_dirty(h, map_byte(h, r, gpa), 1);
    heap_dirty(h, m, sizeof(*m));
    return gpa;
}

bool wl_alloc_free(WlHeap *h, uint64_t gpa, unsigned order)
{
    WlAllocMeta *m = h->meta;
    int r;

    if (order > WL_ALLOC_MAX_ORDER || (gpa & (block_bytes(order) - 1))) {
        return false;
    }
    r = region_of(m, gpa, block_bytes(order));
    if (r < 0 || *map_byte(h, r, gpa) != (MAP_USED | order)) {
        return false;
    }
    *map_byte(h, r, gpa) = 0;
    m->free_pages += 1ULL << order;
    heap_dirty(h, map_byte(h, r, gpa), 1);
    heap_dirty(h, m, sizeof(*m));

    while (order < WL_ALLOC_MAX_ORDER) {
        uint64_t buddy = gpa ^ block_bytes(order);

        if (region_of(m, buddy, block_bytes(order)) != r ||
            *map_byte(h, r, buddy) != (MAP_FREE | order)) {
            break;
        }
        list_remove(h, r, buddy, order);
        if (buddy < gpa) {
            gpa = buddy;
        }
        order++;
    }
    list_push(h, r, gpa, order);
    return true;
}

uint64_t wl_alloc_free_pages(const WlHeap *h)
{
    return h->meta->free_pages;
}

uint64_t wl_alloc_total_pages(const WlHeap *h)
{
    return h->meta->total_pages;
}

/* Position @it on the first block of the highest non-empty list <= order. */
static void iter_settle(const WlHeap *h, WlAllocIter *it, int order)
{
    for (; order >= (int)it->min_order; order--) {
        if (h->meta->free_head[order] != WL_ALLOC_NONE) {
            it->order = (uint32_t)order;
            it->next = h->meta->free_head[order];
            return;
        }
    }
    it->next = WL_ALLOC_NONE;
}

void wl_alloc_iter_init(const WlHeap *h, WlAllocIter *it, unsigned min_order)
{
    it->min_order = min_order;
    it->order = WL_ALLOC_MAX_ORDER;
    it->next = WL_ALLOC_NONE;
    if (min_order <= WL_ALLOC_MAX_ORDER) {
        iter_settle(h, it, WL_ALLOC_MAX_ORDER);
    }
}

bool wl_alloc_iter_next(const WlHeap *h, WlAllocIter *it, uint64_t *gpa,
                        unsigned *order)
{
    uint64_t cur = it->next;

    if (cur == WL_ALLOC_NONE) {
        return false;
    }
    *gpa = cur;
    *order = it->order;
    it->next = link_of(h, cur)->next;
    if (it->next == WL_ALLOC_NONE) {
        iter_settle(h, it, (int)it->order - 1);
    }
    return true;
}

bool wl_alloc_check(const WlHeap *h)
{
    const WlAllocMeta *m = h->meta;
    uint64_t free_pages = 0, heads = 0;

    if (m->magic != WL_ALLOC_MAGIC) {
        return false;
    }
    for (unsigned o = 0; o < WL_ALLOC_NR_ORDERS; o++) {
        uint64_t prev = WL_ALLOC_NONE, n = 0;

        for (uint64_t b = m->free_head[o]; b != WL_ALLOC_NONE;
             b = link_of(h, b)->next) {
            int r = region_of(m, b, block_bytes(o));

            if (r < 0 || (b & (block_bytes(o) - 1)) ||
                *map_byte(h, r, b) != (MAP_FREE | o) ||
                link_of(h, b)->prev != prev || ++n > m->total_pages) {
                return false;
            }
            prev = b;
        }
        if (n != m->nr_free[o]) {
            return false;
        }
        free_pages += n << o;
    }
    if (free_pages != m->free_pages) {
        return false;
    }
    /* Every free head in the map is on a list (counted above). */
    for (uint64_t i = 0; i < m->total_pages; i++) {
        if (h->map[i] & MAP_FREE) {
            heads++;
        }
    }
    for (unsigned o = 0; o < WL_ALLOC_NR_ORDERS; o++) {
        heads -= m->nr_free[o];
    }
    return heads == 0;
}
