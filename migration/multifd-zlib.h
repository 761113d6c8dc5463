/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the zlib method's codec, shared by multifd's
 * "zlib" method (multifd-zlib.c) and the compress capability (compress.c),
 * where libdeflate is not built (compress-zlib.c), so that kvmig has one
 * zlib wrapper.  Implemented on zlib (multifd-zlib-zlib.c:
 * deflateReset/inflateReset per unit, like QEMU).  A unit is one zlib
 * stream (RFC 1950): QEMU reads ours and we read QEMU's.
 *
 * A MultiFDZlib is one direction, used by one thread at a time.
 */
#ifndef KVMIG_MIGRATION_MULTIFD_ZLIB_H
#define KVMIG_MIGRATION_MULTIFD_ZLIB_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct MultiFDZlib MultiFDZlib;

/* A deflater at @level (0..9) when @compress, else an inflater; NULL with @errp set. */
MultiFDZlib *multifd_zlib_new(int level, bool compress, GError **errp);
void multifd_zlib_free(MultiFDZlib *z);
/*
 * Deflate @in_len bytes at @in into @out as one zlib stream of at most
 * @cap bytes; its length, or 0 when it does not fit (@errp untouched) or
 * on a codec failure (@errp set).
 */
size_t multifd_zlib_deflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                            size_t cap, GError **errp);
/*
 * Inflate @in_len bytes at @in into exactly @out_len bytes at @out: fails
 * unless they are exactly one valid zlib stream (checksum included) of
 * that length.  @unit names what @out_len bytes are ("page") in @errp's
 * message, which has no location: the caller adds it.
 */
bool multifd_zlib_inflate(MultiFDZlib *z, const void *in, size_t in_len, void *out,
                          size_t out_len, const char *unit, GError **errp);

#endif
