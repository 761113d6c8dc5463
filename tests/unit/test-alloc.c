/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the test guest's buddy page allocator (guest/workloads/alloc.c). */
#include <glib.h>
#include <string.h>

#include "alloc.h"

#define PAGE WL_PAGE_SIZE

typedef struct Arena {
    uint8_t *mem;           /* guest-physical 0 */
    uint64_t size;
    WlRegion regions[WL_MAX_REGIONS];
    int nr;
    WlHeap heap;
} Arena;

/* A fake guest RAM of @size bytes with the given regions, and a heap on it. */
static void arena_init(Arena *a, uint64_t size, const WlRegion *regions, int nr)
{
    uint64_t meta;

    a->mem = g_malloc(size);
    memset(a->mem, 0x5a, size);         /* RAM is not zero in general */
    a->size = size;
    a->nr = nr;
    memcpy(a->regions, regions, sizeof(*regions) * nr);
    meta = wl_alloc_meta_size(regions, nr);
    memset(a->mem + regions[0].gpa, 0, meta);
    g_assert_true(wl_alloc_init(&a->heap, a->mem, NULL, regions, nr));
    g_assert_true(wl_alloc_check(&a->heap));
}

static void arena_free(Arena *a)
{
    g_free(a->mem);
}

static bool in_regions(const Arena *a, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < a->nr; i++) {
        if (gpa >= a->regions[i].gpa &&
            gpa + len <= a->regions[i].gpa + a->regions[i].size) {
            return true;
        }
    }
    return false;
}

static gint cmp_strp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Free blocks as "gpa:order" strings, sorted: compares two heap states. */
static char *free_blocks_str(const WlHeap *h)
{
    GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
    WlAllocIter it;
    uint64_t gpa;
    unsigned order;
    char *s;

    wl_alloc_iter_init(h, &it, 0);
    while (wl_alloc_iter_next(h, &it, &gpa, &order)) {
        g_ptr_array_add(v, g_strdup_printf("%012" G_GINT64_MODIFIER "x:%u",
                                           gpa, order));
    }
    g_ptr_array_sort(v, cmp_strp);
    g_ptr_array_add(v, NULL);
    s = g_strjoinv(" ", (char **)v->pdata);
    g_ptr_array_free(v, TRUE);
    return s;
}

static void test_basic(void)
{
    const WlRegion r = { 0, 8 << 20 };
    Arena a;
    uint64_t total, p1, p2, p3;
    g_autofree char *before = NULL, *after = NULL;

    arena_init(&a, 8 << 20, &r, 1);
    total = wl_alloc_total_pages(&a.heap);
    /* One page of metadata (header + 2048 map bytes). */
    g_assert_cmpuint(total, ==, 2047);
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, total);
    before = free_blocks_str(&a.heap);

    p1 = wl_alloc_pages(&a.heap, 0);
    p2 = wl_alloc_pages(&a.heap, 0);
    p3 = wl_alloc_pages(&a.heap, 9);
    g_assert_cmpuint(p1, !=, WL_ALLOC_NONE);
    g_assert_cmpuint(p2, !=, WL_ALLOC_NONE);
    g_assert_cmpuint(p3, !=, WL_ALLOC_NONE);
    g_assert_cmpuint(p1, !=, p2);
    g_assert_cmpuint(p1 % PAGE, ==, 0);
    g_assert_cmpuint(p3 % (PAGE << 9), ==, 0);
    g_assert_true(in_regions(&a, p3, PAGE << 9));
    g_assert_cmpuint(p1, >=, PAGE);                 /* metadata is not handed out */
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, total - 2 - 512);

    /* Allocated memory is the caller's: scribbling on it is harmless. */
    memset(a.mem + p1, 0xff, PAGE);
    memset(a.mem + p2, 0x00, PAGE);
    memset(a.mem + p3, 0xee, PAGE << 9);
    g_assert_true(wl_alloc_check(&a.heap));

    g_assert_true(wl_alloc_free(&a.heap, p2, 0));
    g_assert_true(wl_alloc_free(&a.heap, p3, 9));
    g_assert_true(wl_alloc_free(&a.heap, p1, 0));
    g_assert_true(wl_alloc_check(&a.heap));
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, total);
    after = free_blocks_str(&a.heap);
    g_assert_cmpstr(before, ==, after);             /* merged back completely */
    arena_free(&a);
}

static void test_bad_free(void)
{
    const WlRegion r = { 0, 4 << 20 };
    Arena a;
    uint64_t p, q, free_before;

    arena_init(&a, 4 << 20, &r, 1);
    p = wl_alloc_pages(&a.heap, 2);
    q = wl_alloc_pages(&a.heap, 0);
    free_before = wl_alloc_free_pages(&a.heap);

    g_assert_false(wl_alloc_free(&a.heap, p, 1));       /* wrong order */
    g_assert_false(wl_alloc_free(&a.heap, p, 3));
    g_assert_false(wl_alloc_free(&a.heap, p + PAGE, 0)); /* inside a block */
    g_assert_false(wl_alloc_free(&a.heap, p + 8, 0));    /* unaligned */
    g_assert_false(wl_alloc_free(&a.heap, 0, 0));        /* the metadata */
    g_assert_false(wl_alloc_free(&a.heap, 64 << 20, 0)); /* outside RAM */
    g_assert_false(wl_alloc_free(&a.heap, p, WL_ALLOC_MAX_ORDER + 1));
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, free_before);
    g_assert_true(wl_alloc_check(&a.heap));

    g_assert_true(wl_alloc_free(&a.heap, q, 0));
    g_assert_false(wl_alloc_free(&a.heap, q, 0));        /* double free */
    g_assert_true(wl_alloc_free(&a.heap, p, 2));
    g_assert_false(wl_alloc_free(&a.heap, p, 2));
    g_assert_true(wl_alloc_check(&a.heap));

    g_assert_cmpuint(wl_alloc_pages(&a.heap, WL_ALLOC_MAX_ORDER + 1), ==,
                     WL_ALLOC_NONE);
    /* 4 MiB less metadata has no 4 MiB block. */
    g_assert_cmpuint(wl_alloc_pages(&a.heap, 10), ==, WL_ALLOC_NONE);
    g_assert_cmpuint(wl_alloc_pages(&a.heap, 9), !=, WL_ALLOC_NONE);
    arena_free(&a);
}

static void test_exhaustion(void)
{
    const WlRegion r = { 0, 4 << 20 };
    Arena a;
    uint64_t total, n = 0, gpa;
    GArray *blocks = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    g_autofree uint8_t *owned = g_malloc0((4 << 20) / PAGE);
    g_autofree char *before = NULL, *after = NULL;

    arena_init(&a, 4 << 20, &r, 1);
    total = wl_alloc_total_pages(&a.heap);
    before = free_blocks_str(&a.heap);
    while ((gpa = wl_alloc_pages(&a.heap, 0)) != WL_ALLOC_NONE) {
        g_assert_true(in_regions(&a, gpa, PAGE));
        g_assert_cmpuint(owned[gpa / PAGE], ==, 0);
        owned[gpa / PAGE] = 1;
        memset(a.mem + gpa, 0xcc, PAGE);
        g_array_append_val(blocks, gpa);
        n++;
    }
    g_assert_cmpuint(n, ==, total);
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, 0);
    g_assert_true(wl_alloc_check(&a.heap));

    /* Free in a shuffled order; everything merges back. */
    for (guint i = blocks->len; i > 1; i--) {
        guint j = g_random_int_range(0, i);
        uint64_t t = g_array_index(blocks, uint64_t, i - 1);

        g_array_index(blocks, uint64_t, i - 1) = g_array_index(blocks, uint64_t, j);
        g_array_index(blocks, uint64_t, j) = t;
    }
    for (guint i = 0; i < blocks->len; i++) {
        g_assert_true(wl_alloc_free(&a.heap, g_array_index(blocks, uint64_t, i), 0));
    }
    g_assert_true(wl_alloc_check(&a.heap));
    after = free_blocks_str(&a.heap);
    g_assert_cmpstr(before, ==, after);
    g_array_free(blocks, TRUE);
    arena_free(&a);
}

static void test_iterator(void)
{
    const WlRegion r = { 0, 16 << 20 };
    Arena a;
    WlAllocIter it;
    uint64_t gpa, pages;
    unsigned order, last;
    g_autofree uint8_t *owned = g_malloc0((16 << 20) / PAGE);

    arena_init(&a, 16 << 20, &r, 1);
    /* Fragment the heap: allocate many blocks, free every other one. */
    for (int i = 0; i < 600; i++) {
        unsigned o = (unsigned)g_random_int_range(0, 5);
        uint64_t p = wl_alloc_pages(&a.heap, o);

        g_assert_cmpuint(p, !=, WL_ALLOC_NONE);
        if (i % 2) {
            g_assert_true(wl_alloc_free(&a.heap, p, o));
        } else {
            memset(owned + p / PAGE, 1, 1u << o);
        }
    }
    g_assert_true(wl_alloc_check(&a.heap));

    for (unsigned min = 0; min <= WL_ALLOC_MAX_ORDER + 1; min++) {
        uint64_t expect = 0;

        for (unsigned o = min; o <= WL_ALLOC_MAX_ORDER; o++) {
            expect += a.heap.meta->nr_free[o] << o;
        }
        pages = 0;
        last = WL_ALLOC_MAX_ORDER;
        wl_alloc_iter_init(&a.heap, &it, min);
        while (wl_alloc_iter_next(&a.heap, &it, &gpa, &order)) {
            g_assert_cmpuint(order, >=, min);
            g_assert_cmpuint(order, <=, last);           /* highest first */
            g_assert_cmpuint(gpa % (PAGE << order), ==, 0);
            g_assert_true(in_regions(&a, gpa, PAGE << order));
            for (uint64_t i = 0; i < (1ULL << order); i++) {
                g_assert_cmpuint(owned[gpa / PAGE + i], ==, 0);  /* not in use */
            }
            last = order;
            pages += 1ULL << order;
        }
        g_assert_cmpuint(pages, ==, expect);
        if (min == 0) {
            g_assert_cmpuint(pages, ==, wl_alloc_free_pages(&a.heap));
        }
        /* Exhausted iterators stay exhausted. */
        g_assert_false(wl_alloc_iter_next(&a.heap, &it, &gpa, &order));
    }
    arena_free(&a);
}

static void test_regions(void)
{
    /* Holes, an odd-sized region, and one starting off a 2 MiB boundary. */
    const WlRegion r[] = {
        { 1 << 20, 3 << 20 },
        { (5 << 20) + 3 * PAGE, (2 << 20) + 12 * PAGE },
        { 16 << 20, 1 << 20 },
    };
    Arena a;
    uint64_t gpa, n = 0, expect = 0;
    WlAllocIter it;
    unsigned order;

    arena_init(&a, 17 << 20, r, 3);
    for (int i = 0; i < 3; i++) {
        expect += r[i].size / PAGE;
    }
    expect -= wl_alloc_meta_size(r, 3) / PAGE;
    g_assert_cmpuint(wl_alloc_total_pages(&a.heap), ==, expect);

    wl_alloc_iter_init(&a.heap, &it, 0);
    while (wl_alloc_iter_next(&a.heap, &it, &gpa, &order)) {
        g_assert_true(in_regions(&a, gpa, PAGE << order));
    }
    for (unsigned o = 0; o <= 9; o++) {
        while ((gpa = wl_alloc_pages(&a.heap, o)) != WL_ALLOC_NONE) {
            g_assert_true(in_regions(&a, gpa, PAGE << o));
            g_assert_cmpuint(gpa, >=, r[0].gpa + wl_alloc_meta_size(r, 3));
            n += 1ULL << o;
            if (o < 9) {
                break;      /* leave small blocks for the next orders */
            }
        }
    }
    g_assert_true(wl_alloc_check(&a.heap));
    g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, expect - n);
    arena_free(&a);
}

static void test_init_errors(void)
{
    g_autofree uint8_t *mem = g_malloc0(8 << 20);
    WlHeap h;
    const WlRegion tiny = { 0, PAGE };
    const WlRegion unaligned = { 100, 1 << 20 };
    const WlRegion overlap[] = { { 0, 2 << 20 }, { 1 << 20, 2 << 20 } };
    const WlRegion ok = { 0, 1 << 20 };

    g_assert_false(wl_alloc_init(&h, mem, NULL, &tiny, 1));
    g_assert_false(wl_alloc_init(&h, mem, NULL, &unaligned, 1));
    g_assert_false(wl_alloc_init(&h, mem, NULL, overlap, 2));
    g_assert_false(wl_alloc_init(&h, mem, NULL, &ok, 0));
    g_assert_false(wl_alloc_init(&h, mem, NULL, &ok, WL_MAX_REGIONS + 1));

    /* attach finds a heap by its metadata address, and nothing elsewhere. */
    memset(mem, 0, 8 << 20);
    g_assert_false(wl_alloc_attach(&h, mem, NULL, 0));
    g_assert_true(wl_alloc_init(&h, mem, NULL, &ok, 1));
    {
        WlHeap h2;
        uint64_t p = wl_alloc_pages(&h, 3);

        g_assert_true(wl_alloc_attach(&h2, mem, NULL, 0));
        g_assert_cmpuint(wl_alloc_free_pages(&h2), ==, wl_alloc_free_pages(&h));
        g_assert_true(wl_alloc_free(&h2, p, 3));
        g_assert_true(wl_alloc_check(&h));
        g_assert_false(wl_alloc_attach(&h2, mem, NULL, PAGE));
    }
}

typedef struct Block {
    uint64_t gpa;
    unsigned order;
} Block;

/* Random allocations and frees, checked against a model of who owns what. */
static void test_random_model(void)
{
    const WlRegion r[] = { { 0, 6 << 20 }, { 8 << 20, 5 << 20 } };
    Arena a;
    GArray *live = g_array_new(FALSE, FALSE, sizeof(Block));
    g_autofree uint8_t *owned = g_malloc0((13 << 20) / PAGE);
    g_autofree char *before = NULL, *after = NULL;
    uint64_t total, used = 0;
    GRand *rng = g_rand_new_with_seed(g_test_rand_int());

    arena_init(&a, 13 << 20, r, 2);
    total = wl_alloc_total_pages(&a.heap);
    before = free_blocks_str(&a.heap);

    for (int step = 0; step < 20000; step++) {
        bool do_alloc = live->len == 0 || g_rand_int_range(rng, 0, 100) < 55;

        if (do_alloc) {
            unsigned o = (unsigned)g_rand_int_range(rng, 0, 9);
            Block b = { wl_alloc_pages(&a.heap, o), o };

            if (b.gpa == WL_ALLOC_NONE) {
                /* Only when no free block of that order or above exists. */
                for (unsigned k = o; k <= WL_ALLOC_MAX_ORDER; k++) {
                    g_assert_cmpuint(a.heap.meta->nr_free[k], ==, 0);
                }
                continue;
            }
            g_assert_cmpuint(b.gpa % (PAGE << o), ==, 0);
            g_assert_true(in_regions(&a, b.gpa, PAGE << o));
            for (uint64_t i = 0; i < (1ULL << o); i++) {
                g_assert_cmpuint(owned[b.gpa / PAGE + i], ==, 0);
                owned[b.gpa / PAGE + i] = 1;
            }
            /* Write the whole block, as a user would. */
            memset(a.mem + b.gpa, (int)(step & 0xff), PAGE << o);
            g_array_append_val(live, b);
            used += 1ULL << o;
        } else {
            guint i = g_rand_int_range(rng, 0, live->len);
            Block b = g_array_index(live, Block, i);

            g_assert_true(wl_alloc_free(&a.heap, b.gpa, b.order));
            memset(owned + b.gpa / PAGE, 0, 1u << b.order);
            g_array_remove_index_fast(live, i);
            used -= 1ULL << b.order;
        }
        g_assert_cmpuint(wl_alloc_free_pages(&a.heap), ==, total - used);
        if (step % 1000 == 0) {
            g_assert_true(wl_alloc_check(&a.heap));
        }
    }
    g_assert_true(wl_alloc_check(&a.heap));
    while (live->len) {
        Block b = g_array_index(live, Block, live->len - 1);

        g_assert_true(wl_alloc_free(&a.heap, b.gpa, b.order));
        g_array_set_size(live, live->len - 1);
    }
    g_assert_true(wl_alloc_check(&a.heap));
    after = free_blocks_str(&a.heap);
    g_assert_cmpstr(before, ==, after);
    g_rand_free(rng);
    g_array_free(live, TRUE);
    arena_free(&a);
}

/* The heap survives being moved to another host mapping (a migration). */
static void test_relocated(void)
{
    const WlRegion r = { 0, 4 << 20 };
    Arena a;
    uint8_t *copy;
    WlHeap h;
    uint64_t p = 0, q;

    arena_init(&a, 4 << 20, &r, 1);
    for (int i = 0; i < 50; i++) {
        p = wl_alloc_pages(&a.heap, (unsigned)(i % 4));
    }
    copy = g_memdup2(a.mem, 4 << 20);
    memset(a.mem, 0, 4 << 20);          /* the old mapping is gone */
    g_assert_true(wl_alloc_attach(&h, copy, NULL, 0));
    g_assert_true(wl_alloc_check(&h));
    g_assert_true(wl_alloc_free(&h, p, 49 % 4));
    q = wl_alloc_pages(&h, 0);
    g_assert_cmpuint(q, !=, WL_ALLOC_NONE);
    g_assert_true(wl_alloc_check(&h));
    g_free(copy);
    arena_free(&a);
}

/* The OOM hook: holds back blocks and gives them up one call at a time. */
typedef struct OomHold {
    WlHeap *h;              /* another handle on the same heap */
    uint64_t held[8];
    int nheld;
    int calls;
} OomHold;

static bool oom_give_one(void *opaque, unsigned order)
{
    OomHold *o = opaque;

    o->calls++;
    if (!o->nheld) {
        return false;
    }
    g_assert_true(wl_alloc_free(o->h, o->held[--o->nheld], 0));
    return true;
}

static void test_oom_hook(void)
{
    const WlRegion r = { 1 << 20, 64 * PAGE };
    Arena a;
    WlHeap other;
    OomHold o = { .h = &other };
    uint64_t gpa;

    arena_init(&a, 2 << 20, &r, 1);
    other = a.heap;
    g_assert_null(a.heap.oom);
    /* Fill the heap; hold three pages back for the hook. */
    while ((gpa = wl_alloc_pages(&a.heap, 0)) != WL_ALLOC_NONE) {
        if (o.nheld < 3) {
            o.held[o.nheld++] = gpa;
        }
    }
    g_assert_cmpint(o.calls, ==, 0);
    a.heap.oom = oom_give_one;
    a.heap.oom_opaque = &o;
    /* Each page costs one call; then the hook has nothing and it fails. */
    for (int i = 0; i < 3; i++) {
        g_assert_cmpuint(wl_alloc_pages(&a.heap, 0), !=, WL_ALLOC_NONE);
        g_assert_cmpint(o.calls, ==, i + 1);
    }
    g_assert_cmpuint(wl_alloc_pages(&a.heap, 0), ==, WL_ALLOC_NONE);
    g_assert_cmpint(o.calls, ==, 4);
    /* Attach starts without a hook. */
    g_assert_true(wl_alloc_attach(&other, a.mem, NULL, r.gpa));
    g_assert_null(other.oom);
    g_assert_true(wl_alloc_check(&a.heap));
    arena_free(&a);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/alloc/basic", test_basic);
    g_test_add_func("/alloc/bad-free", test_bad_free);
    g_test_add_func("/alloc/exhaustion", test_exhaustion);
    g_test_add_func("/alloc/iterator", test_iterator);
    g_test_add_func("/alloc/regions", test_regions);
    g_test_add_func("/alloc/init-errors", test_init_errors);
    g_test_add_func("/alloc/random-model", test_random_model);
    g_test_add_func("/alloc/relocated", test_relocated);
    g_test_add_func("/alloc/oom-hook", test_oom_hook);
    return g_test_run();
}
