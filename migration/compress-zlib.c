/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compress capability's page codec (compress.h) where libdeflate is
 * not built: the multifd zlib method's codec (multifd-zlib.h), one page
 * per stream, so kvmig keeps one zlib wrapper.
 */
#include "migration/compress.h"
#include "migration/multifd-zlib.h"

const char *compress_codec_name(void)
{
    return "zlib";
}

PageDeflater *page_deflater_new(int level, GError **errp)
{
    return (PageDeflater *)multifd_zlib_new(level, true, errp);
}

void page_deflater_free(PageDeflater *d)
{
    multifd_zlib_free((MultiFDZlib *)d);
}

size_t page_deflate(PageDeflater *d, const uint8_t *page, uint8_t *out, size_t cap,
                    GError **errp)
{
    return multifd_zlib_deflate((MultiFDZlib *)d, page, TARGET_PAGE_SIZE, out, cap, errp);
}

PageInflater *page_inflater_new(GError **errp)
{
    return (PageInflater *)multifd_zlib_new(0, false, errp);
}

void page_inflater_free(PageInflater *i)
{
    multifd_zlib_free((MultiFDZlib *)i);
}

bool page_inflate(PageInflater *i, const uint8_t *in, size_t len, uint8_t *page,
                  GError **errp)
{
    return multifd_zlib_inflate((MultiFDZlib *)i, in, len, page, TARGET_PAGE_SIZE, "page",
                                errp);
}
