/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bitmaps of unsigned long words, one bit per guest page.  The _atomic
 * variants may race with each other (device writes from vCPU threads); the
 * plain ones are for bitmaps owned by one thread.
 */
#ifndef KVMIG_UTIL_BITMAP_H
#define KVMIG_UTIL_BITMAP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#define BITS_PER_LONG (sizeof(unsigned long) * CHAR_BIT)
#define BITS_TO_LONGS(n) (((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BIT_WORD(nr) ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr) (1UL << ((nr) % BITS_PER_LONG))

unsigned long *bitmap_new(size_t nbits);            /* zeroed; g_free() it */
void bitmap_set_range(unsigned long *map, size_t start, size_t nr);
void bitmap_clear_range(unsigned long *map, size_t start, size_t nr);
void bitmap_set_range_atomic(unsigned long *map, size_t start, size_t nr);
size_t bitmap_count(const unsigned long *map, size_t nbits);
/* Index of the next set bit at or after start, or nbits if none. */
size_t bitmap_find_next(const unsigned long *map, size_t nbits, size_t start);
/* Index of the next clear bit at or after start, or nbits if none. */
size_t bitmap_find_next_zero(const unsigned long *map, size_t nbits, size_t start);
/* dst |= atomically-taken-and-cleared src, word by word; returns bits moved. */
size_t bitmap_move_atomic(unsigned long *dst, unsigned long *src, size_t nbits);

static inline bool test_bit(size_t nr, const unsigned long *map)
{
    return map[BIT_WORD(nr)] & BIT_MASK(nr);
}

static inline void set_bit(size_t nr, unsigned long *map)
{
    map[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void clear_bit(size_t nr, unsigned long *map)
{
    map[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline bool test_and_clear_bit(size_t nr, unsigned long *map)
{
    unsigned long m = BIT_MASK(nr);
    bool was = map[BIT_WORD(nr)] & m;
    map[BIT_WORD(nr)] &= ~m;
    return was;
}

static inline void set_bit_atomic(size_t nr, unsigned long *map)
{
    __atomic_fetch_or(&map[BIT_WORD(nr)], BIT_MASK(nr), __ATOMIC_RELAXED);
}

#endif
