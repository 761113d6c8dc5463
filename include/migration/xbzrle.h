/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * XBZRLE (XOR-based zero run-length encoding) of a page against the copy
 * of it sent before: pure encode and decode functions, QEMU's wire format.
 *
 * Format (what QEMU's decoder accepts, and nothing else):
 *
 *   encoding = (zrun nzrun)*          zero or more pairs, nothing after
 *   zrun     = len                    bytes equal in old and new (skipped)
 *   nzrun    = len byte{len}          bytes that differ, their new values
 *   len      = ULEB128 in 1 or 2 bytes (at most 0x3fff)
 *
 * Only the first zrun may be 0; every nzrun is at least 1; a trailing run
 * of equal bytes is not encoded.  An empty encoding means "unchanged".
 *
 * Encoders are a table of variants (bytewise reference, scalar 64-bit
 * words, SSE2, AVX2, AVX-512BW); all produce the same canonical bytes
 * (maximal runs), and the best one the CPU supports is chosen on first use.
 * Every function here may be called from any thread; they touch nothing
 * but their arguments.
 */
#ifndef KVMIG_MIGRATION_XBZRLE_H
#define KVMIG_MIGRATION_XBZRLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The byte after the XBZRLE record header: QEMU's ENCODING_FLAG_XBZRLE. */
#define XBZRLE_ENCODING_FLAG    0x1
/* Longest page these functions handle: a run must fit a 2-byte ULEB128. */
#define XBZRLE_MAX_PAGE         0x3fff

/*
 * xbzrle_encode_buffer: encode @new_buf against @old_buf (both @slen
 * bytes, 0 <= @slen <= XBZRLE_MAX_PAGE, any alignment) into @dst.
 *
 * Returns the encoding's length (0: the buffers are equal), or -1 when the
 * encoding would be longer than @dlen bytes (overflow; @dst then holds
 * garbage, never more than @dlen bytes of it).  -1 too for a bad @slen.
 * The result is exact: any encoding of length <= @dlen is returned.
 *
 * Both inputs must be stable while this runs; to encode memory that
 * another thread may write, use xbzrle_encode_update().
 */
int xbzrle_encode_buffer(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen);

/*
 * xbzrle_encode_update: the same encoding, for a @new_buf that may change
 * while it is read (a running guest's page), fused with the cache update.
 *
 * Every byte of @new_buf is loaded exactly once; the value loaded is both
 * what is compared and what is stored into @old_buf.  On return @old_buf
 * holds that snapshot, whatever the result: so after a positive result it
 * equals @old_buf-before with the encoding applied (what the destination
 * will hold), after 0 it is unchanged, and after -1 (overflow) it is a
 * consistent copy to send raw instead.  @old_buf must not be written by
 * anyone else meanwhile.
 */
int xbzrle_encode_update(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                         uint8_t *dst, int dlen);

/*
 * xbzrle_decode_buffer: apply the encoding @src (@slen bytes, untrusted)
 * to @dst (@dlen bytes, the page as last sent).
 *
 * Returns the number of bytes of @dst the encoding spans (its last nzrun's
 * end; 0 for an empty encoding), or -1 if @src is malformed: a length
 * longer than 2 bytes, a zero-length zrun other than the first, a
 * zero-length nzrun, a run past @dlen, data past @slen, or a truncated or
 * trailing fragment.  All or nothing: on -1, @dst is untouched.
 */
int xbzrle_decode_buffer(const uint8_t *src, int slen, uint8_t *dst, int dlen);

/* ---- the variant table (tests, benchmarks) ---- */

typedef int (*XbzrleEncodeFn)(const uint8_t *old_buf, const uint8_t *new_buf, int slen,
                              uint8_t *dst, int dlen);
typedef int (*XbzrleUpdateFn)(uint8_t *old_buf, const uint8_t *new_buf, int slen,
                              uint8_t *dst, int dlen);

typedef struct XbzrleImpl {
    const char *name;           /* "bytewise", "scalar", "sse2", "avx2", "avx512bw" */
    XbzrleEncodeFn encode;
    XbzrleUpdateFn update;
    bool (*supported)(void);
} XbzrleImpl;

/* The table (count in *n), worst first; "bytewise" is the reference. */
const XbzrleImpl *xbzrle_impls(size_t *n);
/* Select a variant by name; false if unknown or unsupported here. */
bool xbzrle_select(const char *name);
/* The variant in use (choosing the best supported one if none was yet). */
const char *xbzrle_current(void);

#endif
