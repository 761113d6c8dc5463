/* SPDX-License-Identifier: GPL-2.0-or-later */
/* multifd compression method "lz4" (a kvmig extension): one lz4 block per packet. */
#include <limits.h>
#include <lz4.h>

#include "migration/multifd-method.h"
#include "util/error.h"

static size_t lz4_compress(void *state, const void *in, size_t in_len, void *out,
                           size_t cap, GError **errp)
{
    int n;

    if (in_len > INT_MAX) {
        kvmig_error(errp, "multifd: lz4 compression failed");
        return 0;
    }
    n = LZ4_compress_default(in, out, in_len, cap > INT_MAX ? INT_MAX : (int)cap);
    /* lz4 says 0 both for "does not fit" and for a failure: only the first can happen */
    return n > 0 ? (size_t)n : 0;
}

static bool lz4_decompress(void *state, const void *in, size_t in_len, void *out,
                           size_t out_len, GError **errp)
{
    int n = LZ4_decompress_safe(in, out, in_len, out_len);

    return n >= 0 && (size_t)n == out_len;
}

const MultiFDMethods multifd_lz4_ops = {
    .method = MULTIFD_COMPRESSION_LZ4,
    .backend = "lz4",
    .compress = lz4_compress,
    .decompress = lz4_decompress,
};
