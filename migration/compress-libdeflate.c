/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compress capability's page codec (compress.h) on libdeflate, built
 * where libdeflate is found (compress-zlib.c elsewhere): on fill-like
 * pages (3:1) it deflates about 4x faster than zlib at level 1.  It is not
 * the multifd zlib method's codec: on mostly-zero 512 KiB packets (a
 * pagewalk guest) libdeflate level 1 runs at about half zlib's speed on
 * this project's build machine (137 vs 271 MB/s), which kept multifd zlib
 * from converging when tried.
 */
#include <libdeflate.h>

#include "migration/compress.h"
#include "util/error.h"

struct PageDeflater {
    struct libdeflate_compressor *c;
};

struct PageInflater {
    struct libdeflate_decompressor *d;
};

const char *compress_codec_name(void)
{
    return "libdeflate";
}

PageDeflater *page_deflater_new(int level, GError **errp)
{
    PageDeflater *d = g_new0(PageDeflater, 1);

    /* libdeflate's levels are on zlib's scale (0 = stored, 1 = fastest) */
    d->c = libdeflate_alloc_compressor(level);
    if (!d->c) {
        kvmig_error(errp, "compress: cannot set up libdeflate at level %d", level);
        g_free(d);
        return NULL;
    }
    return d;
}

void page_deflater_free(PageDeflater *d)
{
    if (d) {
        libdeflate_free_compressor(d->c);
        g_free(d);
    }
}

size_t page_deflate(PageDeflater *d, const uint8_t *page, uint8_t *out, size_t cap,
                    GError **errp)
{
    /* 0: it does not fit in @cap (libdeflate has no other failure) */
    return libdeflate_zlib_compress(d->c, page, TARGET_PAGE_SIZE, out, cap);
}

PageInflater *page_inflater_new(GError **errp)
{
    PageInflater *i = g_new0(PageInflater, 1);

    i->d = libdeflate_alloc_decompressor();
    if (!i->d) {
        kvmig_error(errp, "compress: cannot set up libdeflate's decompressor");
        g_free(i);
        return NULL;
    }
    return i;
}

void page_inflater_free(PageInflater *i)
{
    if (i) {
        libdeflate_free_decompressor(i->d);
        g_free(i);
    }
}

bool page_inflate(PageInflater *i, const uint8_t *in, size_t len, uint8_t *page,
                  GError **errp)
{
    size_t in_used = 0, out_len = 0;
    enum libdeflate_result r = libdeflate_zlib_decompress_ex(i->d, in, len, page,
                                                             TARGET_PAGE_SIZE, &in_used,
                                                             &out_len);

    switch (r) {
    case LIBDEFLATE_SUCCESS:
        if (out_len != TARGET_PAGE_SIZE) {
            kvmig_error(errp, "%zu bytes of zlib data inflate to %zu bytes, not a page",
                        len, out_len);
            return false;
        }
        if (in_used != len) {
            kvmig_error(errp, "%zu of %zu bytes of zlib data follow the end of the page",
                        len - in_used, len);
            return false;
        }
        return true;
    case LIBDEFLATE_INSUFFICIENT_SPACE:
        kvmig_error(errp, "%zu bytes of zlib data inflate to more than a page", len);
        return false;
    default:
        /* libdeflate does not tell a truncated stream from a corrupt one */
        kvmig_error(errp, "%zu bytes of invalid zlib data (corrupt, or they end before "
                    "the page does)", len);
        return false;
    }
}
