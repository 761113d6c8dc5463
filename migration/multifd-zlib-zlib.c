/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The zlib method's codec (multifd-zlib.h) on zlib. */
#include <zlib.h>

#include "migration/multifd-zlib.h"
#include "util/error.h"

struct MultiFDZlib {
    z_stream zs;
    bool compress;
};

MultiFDZlib *multifd_zlib_new(int level, bool compress, GError **errp)
{
    MultiFDZlib *z = g_new0(MultiFDZlib, 1);
    int ret = compress ? deflateInit(&z->zs, level) : inflateInit(&z->zs);

    if (ret != Z_OK) {
        if (compress) {
            kvmig_error(errp, "zlib: deflateInit (level %d) failed: %s", level,
                        zError(ret));
        } else {
            kvmig_error(errp, "zlib: inflateInit failed: %s", zError(ret));
        }
        g_free(z);
        return NULL;
    }
    z->compress = compress;
    return z;
}

void multifd_zlib_free(MultiFDZlib *z)
{
    if (!z) {
        return;
    }
    if (z->compress) {
        deflateEnd(&z->zs);
    } else {
        inflateEnd(&z->zs);
    }
    g_free(z);
}

size_t multifd_zlib_deflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                            size_t cap, GError **errp)
{
    z_stream *zs = &z->zs;
    int ret = deflateReset(zs);

    if (ret == Z_OK) {
        zs->next_in = (Bytef *)in;
        zs->avail_in = in_len;
        zs->next_out = out;
        zs->avail_out = cap;
        ret = deflate(zs, Z_FINISH);
        if (ret == Z_OK || ret == Z_BUF_ERROR) {
            return 0;       /* out of room: it does not fit */
        }
    }
    if (ret != Z_STREAM_END) {
        kvmig_error(errp, "zlib: deflate failed: %s", zs->msg ? zs->msg : zError(ret));
        return 0;
    }
    return zs->total_out;
}

bool multifd_zlib_inflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                          size_t out_len, const char *unit, GError **errp)
{
    z_stream *zs = &z->zs;
    int ret = inflateReset(zs);

    if (ret != Z_OK) {
        kvmig_error(errp, "inflateReset failed: %s", zError(ret));
        return false;
    }
    zs->next_in = (Bytef *)in;
    zs->avail_in = in_len;
    zs->next_out = out;
    zs->avail_out = out_len;
    ret = inflate(zs, Z_FINISH);
    if (ret == Z_STREAM_END) {
        if (zs->total_out != out_len) {
            kvmig_error(errp, "%zu bytes of zlib data inflate to %lu bytes, not a %s",
                        in_len, zs->total_out, unit);
            return false;
        }
        if (zs->avail_in) {
            kvmig_error(errp, "%u of %zu bytes of zlib data follow the end of the %s",
                        zs->avail_in, in_len, unit);
            return false;
        }
        return true;
    }
    if (ret == Z_BUF_ERROR && zs->avail_out == 0 && zs->avail_in) {
        kvmig_error(errp, "%zu bytes of zlib data inflate to more than a %s", in_len, unit);
    } else if (ret == Z_BUF_ERROR) {
        kvmig_error(errp, "%zu bytes of invalid zlib data (they end before the %s "
                    "does)", in_len, unit);
    } else {
        kvmig_error(errp, "%zu bytes of invalid zlib data (%s)", in_len,
                    zs->msg ? zs->msg : zError(ret));
    }
    return false;
}
