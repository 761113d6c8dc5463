/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The XBZRLE page cache: compact entries (zero, sparse XBZRLE-against-zero,
 * raw) in an index of one slot per RAM page, a byte budget, eviction by age
 * (see page-cache.h).
 *
 * Entries that hold heap bytes (sparse entries longer than the slot's
 * inline room, and raw entries) are on the list of their age's bucket,
 * linked through the slots; the buckets are kept in ascending age, so
 * eviction takes the tail of the first bucket.  Zero and inline entries
 * hold no budget bytes and are on no list.
 *
 * Raw entries come from a pool of 2 MiB chunks advised as huge pages: a
 * cache of raw pages filled in the bulk pass would otherwise take one
 * first-touch page fault per entry (on a nested VM ~10-100 us each: more
 * than sending the page).  With transparent huge pages (madvise mode) a
 * chunk is one fault.  Freed raw pages go to the pool's free stack for the
 * next raw entry; the pool keeps its high-water mark (at most the largest
 * budget used plus a chunk) until the cache is freed.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "migration/page-cache.h"
#include "migration/xbzrle.h"
#include "util/error.h"

/* Raw entries are aligned for the encoders' 64-byte loads. */
#define PAGE_CACHE_ALIGN 64
#define SLOT_INLINE 8
#define NIL UINT32_MAX
#define MAX_PAGE_SIZE 32768

enum {
    FORM_EMPTY,                 /* not cached (the zero-filled index starts so) */
    FORM_ZERO,
    FORM_INLINE,                /* sparse, len <= SLOT_INLINE bytes in u.inl */
    FORM_SPARSE,                /* sparse, len bytes at u.ptr (heap) */
    FORM_RAW,                   /* page_size bytes at u.ptr (heap, aligned) */
};

typedef struct Slot {
    union {
        uint8_t *ptr;
        uint8_t inl[SLOT_INLINE];
    } u;
    uint32_t age;
    uint16_t len;               /* FORM_INLINE/SPARSE: encoding length */
    uint8_t form;
    uint8_t pad;
    uint32_t prev, next;        /* the age bucket's list (heap forms only) */
} Slot;

G_STATIC_ASSERT(sizeof(Slot) == PAGE_CACHE_SLOT_BYTES);

#define POOL_CHUNK (2u << 20)

typedef struct RawPool {
    GPtrArray *chunks;          /* POOL_CHUNK bytes each, 2 MiB aligned */
    GPtrArray *free;            /* freed pages, reused first */
    uint8_t *next, *end;        /* the rest of the last chunk */
} RawPool;

typedef struct Bucket {
    uint32_t age;
    uint32_t head, tail;
} Bucket;

struct PageCache {
    Slot *slots;
    size_t index_len;           /* bytes mapped at slots */
    uint64_t npages;
    size_t page_size;
    unsigned page_bits;
    uint64_t budget;            /* bytes, after rounding */
    uint64_t bytes;             /* held by entries */
    uint64_t nzero, nsparse, nraw;
    GArray *buckets;            /* of Bucket, ascending age, none empty */
    uint8_t *zero;              /* page_size zero bytes (encode reference) */
    uint8_t *enc;               /* page_size / 2 bytes: a store's encoding */
    RawPool pool;
};

static void chunk_free(gpointer p)
{
    munmap(p, POOL_CHUNK);
}

/* A 2 MiB aligned chunk (so that it can be one huge page), or NULL. */
static uint8_t *chunk_new(void)
{
    size_t len = 2 * POOL_CHUNK;
    uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uintptr_t a;

    if (p == MAP_FAILED) {
        return NULL;
    }
    a = ((uintptr_t)p + POOL_CHUNK - 1) & ~(uintptr_t)(POOL_CHUNK - 1);
    if (a > (uintptr_t)p) {
        munmap(p, a - (uintptr_t)p);
    }
    munmap((uint8_t *)a + POOL_CHUNK, (uintptr_t)p + len - a - POOL_CHUNK);
    /* advice only: without THP the chunk is ordinary pages */
    madvise((void *)a, POOL_CHUNK, MADV_HUGEPAGE);
    return (uint8_t *)a;
}

static uint8_t *raw_alloc(PageCache *c)
{
    RawPool *pl = &c->pool;
    uint8_t *p;

    if (pl->free->len) {
        return g_ptr_array_steal_index_fast(pl->free, pl->free->len - 1);
    }
    if (pl->next == pl->end) {
        p = chunk_new();
        if (!p) {
            return NULL;
        }
        g_ptr_array_add(pl->chunks, p);
        pl->next = p;
        pl->end = p + POOL_CHUNK;
    }
    p = pl->next;
    pl->next += c->page_size;
    return p;
}

static void raw_free(PageCache *c, uint8_t *p)
{
    g_ptr_array_add(c->pool.free, p);
}

/* Round down to a power of two; 0 for 0. */
static uint64_t pow2_floor(uint64_t v)
{
    return v ? 1ULL << (63 - __builtin_clzll(v)) : 0;
}

static bool budget_for(uint64_t cache_size, size_t page_size, uint64_t *budget,
                       GError **errp)
{
    if (cache_size < page_size) {
        kvmig_error(errp, "XBZRLE cache size %" G_GUINT64_FORMAT " is smaller than a page "
                    "(%zu bytes)", cache_size, page_size);
        return false;
    }
    *budget = pow2_floor(cache_size / page_size) * page_size;
    return true;
}

/* Budget bytes of an entry of @form with an encoding of @len bytes. */
static uint64_t cost_of(const PageCache *c, unsigned form, unsigned len)
{
    switch (form) {
    case FORM_SPARSE:
        return ((len + 15) & ~15u) + 16;    /* the allocator's chunk, roughly */
    case FORM_RAW:
        return c->page_size;
    default:
        return 0;
    }
}

static inline bool on_list(const Slot *s)
{
    return s->form == FORM_SPARSE || s->form == FORM_RAW;
}

static inline Bucket *bucket_at(PageCache *c, guint i)
{
    return &g_array_index(c->buckets, Bucket, i);
}

/* Index of the bucket of @age, created (empty) if @create; G_MAXUINT if none. */
static guint bucket_find(PageCache *c, uint32_t age, bool create)
{
    guint i = c->buckets->len;

    /* ages only grow in practice: the last bucket, or a new one after it */
    while (i > 0 && bucket_at(c, i - 1)->age > age) {
        i--;
    }
    if (i > 0 && bucket_at(c, i - 1)->age == age) {
        return i - 1;
    }
    if (!create) {
        return G_MAXUINT;
    }
    g_array_insert_val(c->buckets, i, ((Bucket){ .age = age, .head = NIL, .tail = NIL }));
    return i;
}

static void list_append(PageCache *c, uint32_t idx)
{
    Slot *s = &c->slots[idx];
    Bucket *b = bucket_at(c, bucket_find(c, s->age, true));

    s->next = NIL;
    s->prev = b->tail;
    if (b->tail != NIL) {
        c->slots[b->tail].next = idx;
    } else {
        b->head = idx;
    }
    b->tail = idx;
}

static void list_remove(PageCache *c, uint32_t idx)
{
    Slot *s = &c->slots[idx];
    guint bi = bucket_find(c, s->age, false);
    Bucket *b;

    g_assert(bi != G_MAXUINT);
    b = bucket_at(c, bi);
    if (s->prev != NIL) {
        c->slots[s->prev].next = s->next;
    } else {
        b->head = s->next;
    }
    if (s->next != NIL) {
        c->slots[s->next].prev = s->prev;
    } else {
        b->tail = s->prev;
    }
    if (b->head == NIL) {
        g_array_remove_index(c->buckets, bi);
    }
}

/* Take the entry out of the lists and the counts; its bytes stay. */
static void detach(PageCache *c, uint32_t idx)
{
    Slot *s = &c->slots[idx];

    if (on_list(s)) {
        list_remove(c, idx);
    }
    c->bytes -= cost_of(c, s->form, s->len);
    switch (s->form) {
    case FORM_ZERO:
        c->nzero--;
        break;
    case FORM_INLINE:
    case FORM_SPARSE:
        c->nsparse--;
        break;
    case FORM_RAW:
        c->nraw--;
        break;
    }
}

/* Put a filled-in slot into the lists and the counts. */
static void attach(PageCache *c, uint32_t idx)
{
    Slot *s = &c->slots[idx];

    if (on_list(s)) {
        list_append(c, idx);
    }
    c->bytes += cost_of(c, s->form, s->len);
    switch (s->form) {
    case FORM_ZERO:
        c->nzero++;
        break;
    case FORM_INLINE:
    case FORM_SPARSE:
        c->nsparse++;
        break;
    case FORM_RAW:
        c->nraw++;
        break;
    }
}

static void free_bytes(PageCache *c, Slot *s)
{
    if (s->form == FORM_SPARSE) {
        free(s->u.ptr);
    } else if (s->form == FORM_RAW) {
        raw_free(c, s->u.ptr);
    }
    s->form = FORM_EMPTY;
    s->u.ptr = NULL;
}

static void evict(PageCache *c, uint32_t idx)
{
    detach(c, idx);
    free_bytes(c, &c->slots[idx]);
}

/*
 * Evict until @need more bytes fit.  Only entries younger than @keep_age
 * may go (all of them with UINT64_MAX).  False when that is not enough.
 */
static bool make_room(PageCache *c, uint64_t need, uint64_t keep_age)
{
    while (c->bytes + need > c->budget) {
        Bucket *b;

        if (!c->buckets->len) {
            return false;
        }
        b = bucket_at(c, 0);
        if (b->age >= keep_age) {
            return false;
        }
        evict(c, b->tail);
    }
    return true;
}

static inline uint32_t index_of(const PageCache *c, uint64_t addr)
{
    return addr >> c->page_bits;
}

PageCache *page_cache_new(uint64_t cache_size, size_t page_size, uint64_t npages,
                          GError **errp)
{
    PageCache *c;
    uint64_t budget;
    void *zero;

    g_return_val_if_fail(page_size && !(page_size & (page_size - 1)) &&
                         page_size <= MAX_PAGE_SIZE && npages < NIL, NULL);
    if (!budget_for(cache_size, page_size, &budget, errp)) {
        return NULL;
    }
    c = g_new0(PageCache, 1);
    /*
     * mmap: zero pages that cost nothing until touched, advised as huge
     * pages (the bulk pass touches all of it: 6 MiB per GiB of RAM would
     * be 1536 first-touch faults); a huge guest fails instead of aborting
     */
    c->index_len = MAX(npages, 1) * sizeof(Slot);
    c->slots = mmap(NULL, c->index_len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->slots == MAP_FAILED) {
        kvmig_error(errp, "cannot allocate the XBZRLE cache's index of %" G_GUINT64_FORMAT
                    " pages", npages);
        g_free(c);
        return NULL;
    }
    madvise(c->slots, c->index_len, MADV_HUGEPAGE);     /* advice only */
    if (posix_memalign(&zero, PAGE_CACHE_ALIGN, page_size)) {
        kvmig_error(errp, "cannot allocate the XBZRLE cache's zero page");
        munmap(c->slots, c->index_len);
        g_free(c);
        return NULL;
    }
    memset(zero, 0, page_size);
    c->zero = zero;
    c->enc = g_malloc(page_size / 2);
    c->npages = npages;
    c->page_size = page_size;
    c->page_bits = __builtin_ctzll(page_size);
    c->budget = budget;
    c->buckets = g_array_new(FALSE, FALSE, sizeof(Bucket));
    c->pool.chunks = g_ptr_array_new_with_free_func(chunk_free);
    c->pool.free = g_ptr_array_new();
    return c;
}

void page_cache_free(PageCache *c)
{
    if (!c) {
        return;
    }
    for (uint64_t i = 0; i < c->npages; i++) {
        if (c->slots[i].form == FORM_SPARSE) {
            free(c->slots[i].u.ptr);
        }
    }
    munmap(c->slots, c->index_len);
    g_ptr_array_free(c->pool.free, TRUE);
    g_ptr_array_free(c->pool.chunks, TRUE);
    free(c->zero);
    g_free(c->enc);
    g_array_free(c->buckets, TRUE);
    g_free(c);
}

bool page_cache_resize(PageCache *c, uint64_t cache_size, GError **errp)
{
    uint64_t budget;

    if (!budget_for(cache_size, c->page_size, &budget, errp)) {
        return false;
    }
    c->budget = budget;
    make_room(c, 0, UINT64_MAX);
    return true;
}

uint8_t *page_cache_get(PageCache *c, uint64_t addr, uint8_t *scratch, uint64_t age)
{
    uint32_t idx = index_of(c, addr);
    Slot *s;

    g_return_val_if_fail(idx < c->npages, NULL);
    s = &c->slots[idx];
    if (s->form == FORM_EMPTY) {
        return NULL;
    }
    if ((uint32_t)age != s->age) {
        if (on_list(s)) {
            list_remove(c, idx);
            s->age = age;
            list_append(c, idx);
        } else {
            s->age = age;
        }
    }
    switch (s->form) {
    case FORM_RAW:
        return s->u.ptr;
    case FORM_ZERO:
        memset(scratch, 0, c->page_size);
        return scratch;
    default:
        memset(scratch, 0, c->page_size);
        /* our own encoding: it cannot fail */
        if (xbzrle_decode_buffer(s->form == FORM_INLINE ? s->u.inl : s->u.ptr, s->len,
                                 scratch, c->page_size) < 0) {
            g_assert_not_reached();
        }
        return scratch;
    }
}

bool page_cache_put(PageCache *c, uint64_t addr, const uint8_t *page, uint64_t age)
{
    uint32_t idx = index_of(c, addr);
    Slot *s;
    uint8_t *raw = NULL;
    unsigned form;
    int len;

    g_return_val_if_fail(idx < c->npages, false);
    s = &c->slots[idx];
    len = xbzrle_encode_buffer(c->zero, page, c->page_size, c->enc, c->page_size / 2);
    form = len < 0 ? FORM_RAW : len == 0 ? FORM_ZERO :
           len <= SLOT_INLINE ? FORM_INLINE : FORM_SPARSE;

    /* the old entry leaves the accounting; a raw buffer is kept for reuse */
    if (s->form != FORM_EMPTY) {
        detach(c, idx);
        if (s->form == FORM_RAW && form == FORM_RAW) {
            raw = s->u.ptr;
            s->form = FORM_EMPTY;
        } else {
            free_bytes(c, s);
        }
    }
    if (!make_room(c, cost_of(c, form, len), age)) {
        if (raw) {
            raw_free(c, raw);
        }
        return false;
    }
    s->age = age;
    s->form = form;
    s->len = form == FORM_RAW ? 0 : len;
    switch (form) {
    case FORM_RAW:
        if (!raw) {
            raw = raw_alloc(c);
            if (!raw) {
                s->form = FORM_EMPTY;
                return false;
            }
        }
        if (raw != page) {
            memcpy(raw, page, c->page_size);
        }
        s->u.ptr = raw;
        break;
    case FORM_INLINE:
        memcpy(s->u.inl, c->enc, len);
        break;
    case FORM_SPARSE:
        s->u.ptr = malloc(len);
        if (!s->u.ptr) {
            s->form = FORM_EMPTY;
            return false;
        }
        memcpy(s->u.ptr, c->enc, len);
        break;
    default:
        break;
    }
    attach(c, idx);
    return true;
}

void page_cache_put_zero(PageCache *c, uint64_t addr, uint64_t age)
{
    uint32_t idx = index_of(c, addr);
    Slot *s;

    g_return_if_fail(idx < c->npages);
    s = &c->slots[idx];
    if (s->form != FORM_EMPTY) {
        evict(c, idx);
    }
    s->age = age;
    s->form = FORM_ZERO;
    s->len = 0;
    attach(c, idx);
}

void page_cache_drop(PageCache *c, uint64_t addr)
{
    uint32_t idx = index_of(c, addr);

    g_return_if_fail(idx < c->npages);
    if (c->slots[idx].form != FORM_EMPTY) {
        evict(c, idx);
    }
}

uint64_t page_cache_size(const PageCache *c)
{
    return c->budget;
}

uint64_t page_cache_bytes(const PageCache *c)
{
    return c->bytes;
}

uint64_t page_cache_entries(const PageCache *c)
{
    return c->nzero + c->nsparse + c->nraw;
}

uint64_t page_cache_zero_entries(const PageCache *c)
{
    return c->nzero;
}

uint64_t page_cache_sparse_entries(const PageCache *c)
{
    return c->nsparse;
}

uint64_t page_cache_raw_entries(const PageCache *c)
{
    return c->nraw;
}

uint64_t page_cache_index_bytes(const PageCache *c)
{
    return c->npages * sizeof(Slot);
}
