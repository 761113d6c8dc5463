/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Word-at-a-time bitmap helpers for the dirty bitmaps. */
#include "util/bitmap.h"

#include <glib.h>

unsigned long *bitmap_new(size_t nbits)
{
    return g_new0(unsigned long, BITS_TO_LONGS(nbits) ? BITS_TO_LONGS(nbits) : 1);
}

/* Mask of bits [lo, hi) inside one word, 0 <= lo < hi <= BITS_PER_LONG. */
static inline unsigned long word_mask(size_t lo, size_t hi)
{
    unsigned long m = ~0UL << lo;
    if (hi < BITS_PER_LONG) {
        m &= ~(~0UL << hi);
    }
    return m;
}

static void bitmap_apply(unsigned long *map, size_t start, size_t nr, int op)
{
    size_t end = start + nr;

    while (start < end) {
        size_t w = BIT_WORD(start);
        size_t lo = start % BITS_PER_LONG;
        size_t hi = MIN(BITS_PER_LONG, lo + (end - start));
        unsigned long m = word_mask(lo, hi);

        switch (op) {
        case 0: map[w] |= m; break;
        case 1: map[w] &= ~m; break;
        default: __atomic_fetch_or(&map[w], m, __ATOMIC_RELAXED); break;
        }
        start += hi - lo;
    }
}

void bitmap_set_range(unsigned long *map, size_t start, size_t nr)
{
    bitmap_apply(map, start, nr, 0);
}

void bitmap_clear_range(unsigned long *map, size_t start, size_t nr)
{
    bitmap_apply(map, start, nr, 1);
}

void bitmap_set_range_atomic(unsigned long *map, size_t start, size_t nr)
{
    bitmap_apply(map, start, nr, 2);
}

size_t bitmap_count(const unsigned long *map, size_t nbits)
{
    size_t n = 0, i, full = nbits / BITS_PER_LONG;

    for (i = 0; i < full; i++) {
        n += __builtin_popcountl(map[i]);
    }
    if (nbits % BITS_PER_LONG) {
        n += __builtin_popcountl(map[full] & word_mask(0, nbits % BITS_PER_LONG));
    }
    return n;
}

size_t bitmap_find_next(const unsigned long *map, size_t nbits, size_t start)
{
    while (start < nbits) {
        size_t w = BIT_WORD(start);
        unsigned long bits = map[w] & (~0UL << (start % BITS_PER_LONG));

        if (bits) {
            size_t r = w * BITS_PER_LONG + __builtin_ctzl(bits);
            return r < nbits ? r : nbits;
        }
        start = (w + 1) * BITS_PER_LONG;
    }
    return nbits;
}

size_t bitmap_find_next_zero(const unsigned long *map, size_t nbits, size_t start)
{
    while (start < nbits) {
        size_t w = BIT_WORD(start);
        unsigned long bits = ~map[w] & (~0UL << (start % BITS_PER_LONG));

        if (bits) {
            size_t r = w * BITS_PER_LONG + __builtin_ctzl(bits);
            return r < nbits ? r : nbits;
        }
        start = (w + 1) * BITS_PER_LONG;
    }
    return nbits;
}

size_t bitmap_move_atomic(unsigned long *dst, unsigned long *src, size_t nbits)
{
    size_t i, n = 0, words = BITS_TO_LONGS(nbits);

    for (i = 0; i < words; i++) {
        /* A plain load first: most words are clean and an xchg is a locked op. */
        if (__atomic_load_n(&src[i], __ATOMIC_RELAXED)) {
            unsigned long v = __atomic_exchange_n(&src[i], 0, __ATOMIC_ACQ_REL);
            n += __builtin_popcountl(v & ~dst[i]);
            dst[i] |= v;
        }
    }
    return n;
}
