/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The four functions a freestanding GCC/Clang build may still call on its
 * own (for struct copies and recognised loops): memcpy, memmove, memset,
 * memcmp.  String instructions, so the compiler cannot turn them back into
 * calls to themselves.
 */
#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memcpy(void *dst, const void *src, size_t n)
{
    void *d = dst;

    __asm__ volatile("rep movsb"
                     : "+D"(d), "+S"(src), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    if ((uintptr_t)dst <= (uintptr_t)src ||
        (uintptr_t)dst >= (uintptr_t)src + n) {
        return memcpy(dst, src, n);
    }
    /* Overlapping, destination above: copy backwards. */
    {
        void *d = (char *)dst + n - 1;
        const void *s = (const char *)src + n - 1;

        __asm__ volatile("std; rep movsb; cld"
                         : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    void *d = dst;

    __asm__ volatile("rep stosb"
                     : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;

    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}
