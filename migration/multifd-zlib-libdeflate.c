/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The zlib method's codec (multifd-zlib.h) on libdeflate: built where it is found. */
#include <libdeflate.h>

#include "migration/multifd-zlib.h"
#include "util/error.h"

const char multifd_zlib_backend[] = "libdeflate";

struct MultiFDZlib {
    struct libdeflate_compressor *c;
    struct libdeflate_decompressor *d;
};

MultiFDZlib *multifd_zlib_new(int level, bool compress, GError **errp)
{
    MultiFDZlib *z = g_new0(MultiFDZlib, 1);

    if (compress) {
        /* libdeflate's levels are on zlib's scale (0 = stored, 1 = fastest) */
        z->c = libdeflate_alloc_compressor(level);
        if (!z->c) {
            kvmig_error(errp, "zlib: cannot set up libdeflate at level %d", level);
            g_free(z);
            return NULL;
        }
    } else {
        z->d = libdeflate_alloc_decompressor();
        if (!z->d) {
            kvmig_error(errp, "zlib: cannot set up libdeflate's decompressor");
            g_free(z);
            return NULL;
        }
    }
    return z;
}

void multifd_zlib_free(MultiFDZlib *z)
{
    if (z) {
        libdeflate_free_compressor(z->c);
        libdeflate_free_decompressor(z->d);
        g_free(z);
    }
}

size_t multifd_zlib_deflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                            size_t cap, GError **errp)
{
    /* 0: it does not fit in @cap (libdeflate has no other failure) */
    return libdeflate_zlib_compress(z->c, in, in_len, out, cap);
}

bool multifd_zlib_inflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                          size_t out_len, const char *unit, GError **errp)
{
    size_t in_used = 0, got = 0;
    enum libdeflate_result r = libdeflate_zlib_decompress_ex(z->d, in, in_len, out,
                                                             out_len, &in_used, &got);

    switch (r) {
    case LIBDEFLATE_SUCCESS:
        if (got != out_len) {
            kvmig_error(errp, "%zu bytes of zlib data inflate to %zu bytes, not a %s",
                        in_len, got, unit);
            return false;
        }
        if (in_used != in_len) {
            kvmig_error(errp, "%zu of %zu bytes of zlib data follow the end of the %s",
                        in_len - in_used, in_len, unit);
            return false;
        }
        return true;
    case LIBDEFLATE_INSUFFICIENT_SPACE:
        kvmig_error(errp, "%zu bytes of zlib data inflate to more than a %s", in_len, unit);
        return false;
    default:
        /* libdeflate does not tell a truncated stream from a corrupt one */
        kvmig_error(errp, "%zu bytes of invalid zlib data (corrupt, or they end before "
                    "the %s does)", in_len, unit);
        return false;
    }
}
