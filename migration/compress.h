/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the compress capability (QEMU's multi-thread
 * compression).  A non-zero dirty page is deflated by the worker pool
 * (workers.h) and goes as a COMPRESS_PAGE record:
 *
 *   be64 (offset | COMPRESS_PAGE [| CONTINUE]) [idstr], be32 length,
 *   length bytes of one zlib stream (RFC 1950) that inflates to one page.
 *
 * The page codec (page_deflate/page_inflate) is pure and is what the unit
 * tests exercise directly; the fuzz target drives the loader around it.
 */
#ifndef KVMIG_MIGRATION_COMPRESS_H
#define KVMIG_MIGRATION_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "migration/ram.h"

/* The largest length a COMPRESS_PAGE record may carry: compressBound(page). */
size_t compress_page_bound(void);

/* ---- the codec (one per worker; not thread-safe) ---- */

typedef struct PageDeflater PageDeflater;
typedef struct PageInflater PageInflater;

/* The implementation built in: "libdeflate" or "zlib". */
const char *compress_codec_name(void);

/* A deflater at compress-level @level (0..9); NULL with @errp set on failure. */
PageDeflater *page_deflater_new(int level, GError **errp);
void page_deflater_free(PageDeflater *d);
/*
 * Deflate the TARGET_PAGE_SIZE bytes at @page into @out as one zlib
 * stream of at most @cap bytes; returns its length, or 0 when it does not
 * fit (@errp untouched) or on a codec failure (@errp set).
 */
size_t page_deflate(PageDeflater *d, const uint8_t *page, uint8_t *out, size_t cap,
                    GError **errp);

PageInflater *page_inflater_new(GError **errp);
void page_inflater_free(PageInflater *i);
/*
 * Inflate @len bytes at @in into @page (TARGET_PAGE_SIZE bytes).  Fails
 * unless they are exactly one valid zlib stream (checksum included) that
 * inflates to exactly one page.  @errp's message has no location: the
 * caller adds it.
 */
bool page_inflate(PageInflater *i, const uint8_t *in, size_t len, uint8_t *page,
                  GError **errp);

/* ---- source (ram-save.c), owned by the migration thread ---- */

typedef struct RamCompress RamCompress;
typedef struct RamDecompress RamDecompress;

/*
 * ram_compress_setup: at save_setup, with the capability on (and a channel
 * that does not place pages itself), start compress-threads workers at
 * compress-level and set rs->compress.
 */
bool ram_compress_setup(RAMState *rs, MigStream *f, GError **errp);
/*
 * Send the non-zero page at @offset of @rb: hand it to an idle worker
 * (first writing that worker's previous result), or, with
 * compress-wait-thread off and every worker busy, as a raw PAGE record
 * (counted as busy).  Returns false when the caller must send it raw.
 */
bool ram_compress_send(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset);
/*
 * Wait for every worker and write every pending result: before each EOS,
 * so a page of one pass never follows the next pass's copy.  A worker's
 * failure becomes the stream's error.
 */
void ram_compress_flush(RAMState *rs, MigStream *f);
/* Stop the workers, free their zlib state (deferred teardown).  NULL-safe. */
void ram_compress_cleanup(RAMState *rs);

/* ---- destination (ram-load.c), owned by the incoming thread ---- */

/*
 * A COMPRESS_PAGE record's payload for the page at @addr of @rb: check the
 * length, read the data into an idle decompress worker's slot and hand it
 * over (the pool is started on the first record, decompress-threads
 * workers).  False with @errp set on a bad length or a failed worker; a
 * short stream returns true with the stream's error set.
 */
bool ram_decompress_load(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t addr,
                         GError **errp);
/* Wait until every page handed over is in guest RAM (at each EOS). */
bool ram_decompress_sync(RAMState *rs, GError **errp);
/* Stop the workers and free them.  NULL-safe (rs->decompress NULL). */
void ram_decompress_cleanup(RAMState *rs);

#endif
