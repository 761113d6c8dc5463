/* SPDX-License-Identifier: GPL-2.0-or-later */
/* multifd compression method "zstd": one zstd frame per packet (libzstd). */
#include <zstd.h>

#include "migration/multifd-method.h"
#include "util/error.h"

typedef struct ZstdState {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    int level;
} ZstdState;

static void *zstd_state_new(int level, bool compress, GError **errp)
{
    ZstdState *z = g_new0(ZstdState, 1);

    z->level = level;
    if (compress) {
        z->cctx = ZSTD_createCCtx();
    } else {
        z->dctx = ZSTD_createDCtx();
    }
    if (!z->cctx && !z->dctx) {
        kvmig_error(errp, "multifd: zstd context allocation failed");
        g_free(z);
        return NULL;
    }
    return z;
}

static void zstd_state_free(void *state)
{
    ZstdState *z = state;

    if (z) {
        ZSTD_freeCCtx(z->cctx);
        ZSTD_freeDCtx(z->dctx);
        g_free(z);
    }
}

static size_t zstd_compress(void *state, const void *in, size_t in_len, void *out,
                            size_t cap, GError **errp)
{
    ZstdState *z = state;
    size_t n = ZSTD_compressCCtx(z->cctx, out, cap, in, in_len, z->level);

    if (ZSTD_isError(n)) {
        kvmig_error(errp, "multifd: zstd compression failed: %s", ZSTD_getErrorName(n));
        return 0;
    }
    return n;
}

static bool zstd_decompress(void *state, const void *in, size_t in_len, void *out,
                            size_t out_len, GError **errp)
{
    ZstdState *z = state;
    size_t n = ZSTD_decompressDCtx(z->dctx, out, out_len, in, in_len);

    return !ZSTD_isError(n) && n == out_len;
}

const MultiFDMethods multifd_zstd_ops = {
    .method = MULTIFD_COMPRESSION_ZSTD,
    .backend = "zstd",
    .state_new = zstd_state_new,
    .state_free = zstd_state_free,
    .compress = zstd_compress,
    .decompress = zstd_decompress,
};
