/* SPDX-License-Identifier: GPL-2.0-or-later */
/* multifd compression method "zlib": one zlib stream per packet (codec: multifd-zlib.h). */
#include "migration/multifd-method.h"
#include "migration/multifd-zlib.h"

static void *zlib_state_new(int level, bool compress, GError **errp)
{
    return multifd_zlib_new(level, compress, errp);
}

static void zlib_state_free(void *state)
{
    multifd_zlib_free(state);
}

static size_t zlib_compress(void *state, const void *in, size_t in_len, void *out,
                            size_t cap, GError **errp)
{
    return multifd_zlib_deflate(state, in, in_len, out, cap, errp);
}

static bool zlib_decompress(void *state, const void *in, size_t in_len, void *out,
                            size_t out_len, GError **errp)
{
    return multifd_zlib_inflate(state, in, in_len, out, out_len, "packet", errp);
}

const MultiFDMethods multifd_zlib_ops = {
    .method = MULTIFD_COMPRESSION_ZLIB,
    .backend = "zlib",
    .state_new = zlib_state_new,
    .state_free = zlib_state_free,
    .compress = zlib_compress,
    .decompress = zlib_decompress,
};
