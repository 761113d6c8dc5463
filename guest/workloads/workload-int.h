/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to guest/workloads (and its unit tests): helpers shared by the
 * workload files, the per-workload entry points and the churn state layout.
 */
#ifndef KVMIG_WORKLOAD_INT_H
#define KVMIG_WORKLOAD_INT_H

#include "workload.h"

/* Every workload writes at most this much between two env->poll() calls. */
#define WL_POLL_BYTES       (64ULL << 10)
#define WL_POLL_PAGES       (WL_POLL_BYTES / WL_PAGE_SIZE)
#define WL_NS_PER_SEC       1000000000ULL

/*
 * Largest values the parser accepts: zlib cannot do much better than
 * 1000:1, and the others keep the workloads' arithmetic inside 64 bits.
 */
#define WL_MAX_RATIO        1000
#define WL_MAX_RATE         (1ULL << 20)    /* MiB/s */
#define WL_MAX_MB           (1ULL << 40)    /* MiB */

/*
 * Entry points, one per workload.  Each is called by wl_run() with
 * env->state already initialised for its kind (phase 0 on a fresh start)
 * and returns only when env->poll() or env->sleep_until() said so.
 */
void wl_idle(WlEnv *env);
void wl_pagewalk(WlEnv *env);
void wl_fill(WlEnv *env);
void wl_random(WlEnv *env);
void wl_l2fwd(WlEnv *env);
void wl_stress(WlEnv *env);
void wl_churn(WlEnv *env);
void wl_blackout(WlEnv *env);

/* xorshift64*: cheap, good enough for test data; *s must not be 0. */
static inline uint64_t wl_rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* A non-zero generator seed derived from @salt (e.g. time, vCPU index). */
static inline uint64_t wl_rng_seed(uint64_t salt)
{
    uint64_t s = salt * 0x9e3779b97f4a7c15ULL + 0x6a09e667f3bcc909ULL;

    s ^= s >> 31;
    return s ? s : 1;
}

/* Uniform value in [0, n) from a 64-bit random number (n > 0). */
static inline uint64_t wl_rng_below(uint64_t r, uint64_t n)
{
    __extension__ typedef unsigned __int128 wl_u128;

    return (uint64_t)(((wl_u128)r * n) >> 64);
}

static inline uint64_t wl_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* Total bytes of env->regions. */
uint64_t wl_ram_total(const WlEnv *env);

/*
 * Translate @off, an offset into the concatenation of env->regions, into a
 * guest-physical address; *contig (if not NULL) gets the number of bytes
 * that stay inside the same region from there.  @off must be below
 * wl_ram_total().
 */
uint64_t wl_lin_to_gpa(const WlEnv *env, uint64_t off, uint64_t *contig);

/*
 * wl_dirty() for [off, off + len) of the concatenation of env->regions
 * (see workload.h): one fence, then the pages of every region it covers.
 */
static inline void wl_dirty_lin(WlEnv *env, uint64_t off, uint64_t len)
{
    if (!WL_DIRTY_LOG || !env->dirty || !len) {
        return;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    while (len) {
        uint64_t contig, gpa = wl_lin_to_gpa(env, off, &contig);
        uint64_t n = wl_min(contig, len);

        wl_dirty_log_pages(env->dirty, gpa / WL_PAGE_SIZE, (gpa + n - 1) / WL_PAGE_SIZE);
        off += n;
        len -= n;
    }
}

/*
 * wl_dirty() for the pages holding each of @n offsets into the
 * concatenation of env->regions, after writing them: one fence for all.
 */
static inline void wl_dirty_lin_pages(WlEnv *env, const uint64_t *off, unsigned n)
{
    if (!WL_DIRTY_LOG || !env->dirty || !n) {
        return;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < n; i++) {
        uint64_t pfn = wl_lin_to_gpa(env, off[i], NULL) / WL_PAGE_SIZE;

        wl_dirty_log_pages(env->dirty, pfn, pfn);
    }
}

/* True when [gpa, gpa + len) lies inside one of env->regions. */
bool wl_gpa_valid(const WlEnv *env, uint64_t gpa, uint64_t len);

/* Serial output helpers. */
void wl_putc(WlEnv *env, char c);
/* Write @prefix, @v in decimal, then @suffix, in one env->write() call. */
void wl_put_u64(WlEnv *env, const char *prefix, uint64_t v, const char *suffix);

/*
 * Length of a NUL-terminated string, and a bounded, always-terminating
 * string append; both for freestanding code.
 */
size_t wl_strlen(const char *s);
void wl_strlcat(char *dst, const char *src, size_t size);

/* Decimal rendering of @v into buf (at least 21 bytes); returns the length. */
size_t wl_fmt_u64(char *buf, uint64_t v);

/*
 * Layout of the churn workload's WlState (exposed for its unit test, which
 * corrupts a live block and expects an `X`).
 */
enum {
    WL_CHURN_START = 0,     /* phase: compute the heap layout */
    WL_CHURN_CLEAR,         /* phase: zero the allocator metadata */
    WL_CHURN_INIT,          /* phase: build the free lists */
    WL_CHURN_ALLOC,         /* phase: allocate and fill S bytes */
    WL_CHURN_FREE,          /* phase: keep ~1/8, free the rest */
    WL_CHURN_SUM,           /* phase: checksum of the live set */
    WL_CHURN_WAIT,          /* phase: sleep until the next verification */
    WL_CHURN_VERIFY,        /* phase: re-checksum and compare */
    WL_CHURN_HALT,          /* phase: verification failed; idle */
    WL_CHURN_NOMEM,         /* phase: out of memory before S (`E`); idle, heap kept */
};

enum {
    WL_CHURN_AUX_META = 0,      /* gpa of the allocator metadata */
    WL_CHURN_AUX_META_SIZE,     /* its size in bytes */
    WL_CHURN_AUX_TARGET,        /* S: bytes to allocate */
    WL_CHURN_AUX_ALLOCATED,     /* bytes allocated so far */
    WL_CHURN_AUX_ALL_HEAD,      /* list of every allocated block */
    WL_CHURN_AUX_LIVE_HEAD,     /* list of the kept blocks */
    WL_CHURN_AUX_LIVE_BYTES,    /* their total size */
    WL_CHURN_AUX_CUR,           /* block being filled or summed */
    WL_CHURN_AUX_SUM1,          /* running checksum */
    WL_CHURN_AUX_SUM2,
    WL_CHURN_AUX_EXPECT1,       /* checksum of the live set */
    WL_CHURN_AUX_EXPECT2,
    WL_CHURN_AUX_DEADLINE,      /* now_ns() of the next verification */
    WL_CHURN_AUX_VERIFIED,      /* good verifications so far */
    WL_CHURN_AUX_SEEN,          /* bytes the free phase went through */
};

/* Header at the start of every block churn allocates. */
typedef struct WlChurnBlock {
    uint64_t next;          /* gpa of the next block in its list, or WL_ALLOC_NONE */
    uint32_t order;
    uint32_t magic;         /* WL_CHURN_BLOCK_MAGIC */
} WlChurnBlock;

#define WL_CHURN_BLOCK_MAGIC    0x4b434842u  /* "BHCK" */
#define WL_CHURN_MAX_ORDER      6            /* blocks of 4 KiB .. 256 KiB */

#endif
