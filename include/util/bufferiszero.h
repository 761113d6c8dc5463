/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fast "is this buffer all zero bytes?" for zero-page detection.  A table
 * of implementations (scalar, SSE2, AVX2, AVX-512), one CPUID probe, the best chosen
 * once by buffer_is_zero_init(); tests may select each variant.
 */
#ifndef KVMIG_UTIL_BUFFERISZERO_H
#define KVMIG_UTIL_BUFFERISZERO_H

#include <stdbool.h>
#include <stddef.h>

typedef bool (*BufferIsZeroFn)(const void *buf, size_t len);

typedef struct BufferIsZeroImpl {
    const char *name;           /* "scalar", "sse2", "avx2", "avx512" */
    BufferIsZeroFn fn;
    bool (*supported)(void);
} BufferIsZeroImpl;

/* True if all len bytes at buf are zero.  Any length and alignment. */
bool buffer_is_zero(const void *buf, size_t len);

/* Probe the CPU and select the best implementation; idempotent. */
void buffer_is_zero_init(void);

/* The implementation table (count in *n), in order of preference, worst first. */
const BufferIsZeroImpl *buffer_is_zero_impls(size_t *n);
/* Select by name (tests, benchmarks); false if unknown or unsupported. */
bool buffer_is_zero_select(const char *name);
const char *buffer_is_zero_current(void);

/* Internal: the variants in the only files built with -mavx2 / -mavx512f. */
bool buffer_is_zero_avx2(const void *buf, size_t len);
bool buffer_is_zero_avx512(const void *buf, size_t len);

#endif
