/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: multifd -- guest pages over extra connections.
 *
 * With the multifd capability on both sides and a tcp: or unix: URI, the
 * source opens multifd-channels extra connections to the same address after
 * the main one.  The main channel carries the usual stream (control, device
 * state, ZERO and X_ZERO_RUN records); the channels carry batches of
 * non-zero pages.  Each channel is one worker of a WorkerPool (workers.h).
 *
 * Wire layout (kvmig's own, modelled on QEMU 7.2's MultiFDInit_t and
 * MultiFDPacket_t; all integers big-endian):
 *
 *   Channel init, once, first on every multifd connection (64 bytes):
 *     be32 magic 0x11223344, be32 version 1,
 *     u8 uuid[16]         random per migration: all channels must agree
 *     u8 id               0 .. nchannels-1, each exactly once
 *     u8 nchannels        must equal the destination's multifd-channels
 *     u8 compression      MultiFDCompression; must equal the destination's
 *     u8 zero[5], be64 zero[4]
 *
 *   The listener tells the main channel (starts with QEMU's file magic
 *   "QEVM") from multifd channels (start with 0x11223344) in any order.
 *
 *   Packet (32-byte header, then name, offsets and payload):
 *     be32 magic, be32 version, be32 flags (MULTIFD_FLAG_SYNC only),
 *     be32 page_count     0 for a sync packet, else 1..MULTIFD_MAX_PAGES
 *     be32 payload_size   bytes of page data after the offsets: exactly
 *                         page_count*4096 for none, at most
 *                         MULTIFD_MAX_PAYLOAD compressed
 *     be64 packet_num     strictly increasing on each channel
 *     u8 name_len         RAM block name length (0 only in a sync packet)
 *     u8 zero[3]
 *     name_len bytes      RAM block name (no NUL)
 *     be64 offsets[page_count]  page-aligned, strictly increasing, inside
 *                         the block
 *     payload             the pages in offset order, compressed as one
 *                         unit (zlib stream / zstd frame / lz4 block) per
 *                         packet; must decompress to exactly
 *                         page_count*4096 bytes
 *
 * Ordering: at every dirty-bitmap sync point the source flushes its partial
 * packet, has every channel send a sync packet, and puts a MULTIFD_FLUSH
 * record in the main stream.  A destination channel receives until its sync
 * packet and then waits; the loader, at MULTIFD_FLUSH, waits for all
 * channels (worker_pool_sync) and restarts them.  So every page of one pass
 * is placed before any record of the next is applied.
 */
#ifndef KVMIG_MIGRATION_MULTIFD_H
#define KVMIG_MIGRATION_MULTIFD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/options.h"

#define MULTIFD_MAGIC       0x11223344u
#define MULTIFD_VERSION     1
#define MULTIFD_INIT_SIZE   64
#define MULTIFD_HDR_SIZE    32
#define MULTIFD_FLAG_SYNC   0x1u
#define MULTIFD_FLAGS_KNOWN MULTIFD_FLAG_SYNC
#define MULTIFD_PAGE_SIZE   4096u
#define MULTIFD_MAX_PAGES   128u
#define MULTIFD_MAX_DATA    (MULTIFD_MAX_PAGES * MULTIFD_PAGE_SIZE)
/* Upper bound for any method's compressed size of MULTIFD_MAX_DATA bytes. */
#define MULTIFD_MAX_PAYLOAD (MULTIFD_MAX_DATA + MULTIFD_MAX_DATA / 16 + 4096)
#define MULTIFD_MAX_CHANNELS 255

typedef struct MultiFDInit {
    uint8_t uuid[16];
    uint8_t id;
    uint8_t nchannels;
    uint8_t compression;
} MultiFDInit;

typedef struct MultiFDHdr {
    uint32_t flags;
    uint32_t page_count;
    uint32_t payload_size;
    uint64_t packet_num;
    uint8_t name_len;
} MultiFDHdr;

/* ---- the codec (multifd-packet.c; pure, unit-tested and fuzzed) ---- */

void multifd_init_encode(const MultiFDInit *in, uint8_t buf[MULTIFD_INIT_SIZE]);
bool multifd_init_decode(const uint8_t buf[MULTIFD_INIT_SIZE], MultiFDInit *out,
                         GError **errp);

void multifd_hdr_encode(const MultiFDHdr *h, uint8_t buf[MULTIFD_HDR_SIZE]);
/*
 * Decode and check a header for a stream compressed with @method: magic,
 * version, flags, page count, payload size (exact for none), sync packets
 * empty, names present in page packets.
 */
bool multifd_hdr_decode(const uint8_t buf[MULTIFD_HDR_SIZE], MultiFDCompression method,
                        MultiFDHdr *out, GError **errp);
/* Decode @n be64 offsets from @buf and check them against a block of @block_len bytes. */
bool multifd_offsets_decode(const uint8_t *buf, uint32_t n, uint64_t block_len,
                            uint64_t *offsets, GError **errp);

/* Per-channel compression state (one direction). */
typedef struct MultiFDCodec MultiFDCodec;

MultiFDCodec *multifd_codec_new(MultiFDCompression method, int level, bool compress,
                                GError **errp);
void multifd_codec_free(MultiFDCodec *c);
/*
 * Compress @in_len bytes into @out (MULTIFD_MAX_PAYLOAD bytes).  Returns the
 * compressed size, or 0 with @errp set.  Not for MULTIFD_COMPRESSION_NONE.
 */
size_t multifd_compress(MultiFDCodec *c, const void *in, size_t in_len, void *out,
                        GError **errp);
/* Decompress @in into exactly @out_len bytes at @out; anything else fails. */
bool multifd_decompress(MultiFDCodec *c, const void *in, size_t in_len, void *out,
                        size_t out_len, GError **errp);

/*
 * A whole packet in memory (fuzzing, tests): header, name, offsets checked
 * against @block_len, payload pointer.  @offsets holds MULTIFD_MAX_PAGES.
 */
bool multifd_packet_parse(const uint8_t *buf, size_t len, MultiFDCompression method,
                          uint64_t block_len, MultiFDHdr *h, char name[256],
                          uint64_t *offsets, const uint8_t **payload, GError **errp);

/* ---- the channels (multifd.c) ---- */

struct MigrationState;
struct MigStream;
struct MigChannel;
struct MigUri;
struct MigTlsSide;
struct RAMBlock;
typedef struct MultiFDSend MultiFDSend;
typedef struct MultiFDRecv MultiFDRecv;

/*
 * Source: after the main channel is up, connect the channels (each with a
 * TLS handshake when @tls has credentials; then their init) and start
 * their workers.  NULL with @errp on failure.
 */
MultiFDSend *multifd_send_new(struct MigrationState *s, const struct MigUri *u,
                              const struct MigTlsSide *tls, GError **errp);
/* Queue one page (already clear in the bitmap) of @rb at @offset. */
void multifd_send_page(MultiFDSend *ms, struct MigStream *f, struct RAMBlock *rb,
                       uint64_t offset);
/*
 * The sync point: flush the partial packet, a sync packet on every channel,
 * MULTIFD_FLUSH on @f, and a flush of @f.  Errors go to @f's sticky error.
 */
void multifd_send_sync(MultiFDSend *ms, struct MigStream *f);
/*
 * The migration thread, after the last multifd_send_sync: wait until every
 * channel has written its last packet (errors stay for multifd_send_free),
 * so that the counts are final and equal what the destination reads.
 */
void multifd_send_drain(MultiFDSend *ms);
/* Bytes written on all channels so far (any thread). */
uint64_t multifd_send_bytes(MultiFDSend *ms);
/*
 * Bytes written on each channel so far (any thread), packets only (not the
 * init): @out[i] for channel i, and the pages in them @pages[i], at most
 * @max channels.  Returns how many.
 */
unsigned multifd_send_channel_bytes(MultiFDSend *ms, uint64_t *out, uint64_t *pages,
                                    unsigned max);
/* Any thread: make blocked channel writes fail (cancel). NULL-safe. */
void multifd_send_shutdown(MultiFDSend *ms);
/*
 * Join the workers, close the channels.  NULL-safe.  @abort: shut the
 * channels down first (failure, cancel) instead of letting queued packets
 * go out.  Returns the bytes written on all channels; with @nchan, also
 * each channel's final counts into @chan_bytes and @chan_pages
 * (MULTIFD_MAX_CHANNELS entries each) and their number into *@nchan.
 */
uint64_t multifd_send_free(MultiFDSend *ms, bool abort, uint64_t *chan_bytes,
                           uint64_t *chan_pages, unsigned *nchan);

/*
 * Destination: the channels accepted (index = id, @n of them), the
 * @method their inits were checked against (the incoming thread's one
 * snapshot of the options); takes ownership of the channels and starts
 * receiving.
 */
MultiFDRecv *multifd_recv_new(struct MigrationState *s, struct MigChannel **chans,
                              unsigned n, MultiFDCompression method, GError **errp);
/* MEM_SIZE was accepted: start receiving (once). NULL-safe. */
void multifd_recv_start(MultiFDRecv *mr);
/* At MULTIFD_FLUSH: wait for every channel's sync packet, then restart them. */
bool multifd_recv_sync(MultiFDRecv *mr, GError **errp);
uint64_t multifd_recv_pages(MultiFDRecv *mr);
/*
 * Packet bytes read on each channel so far (as multifd_send_channel_bytes:
 * once the last MULTIFD_FLUSH is loaded they equal the source's).
 */
unsigned multifd_recv_channel_bytes(MultiFDRecv *mr, uint64_t *out, unsigned max);
void multifd_recv_shutdown(MultiFDRecv *mr);
void multifd_recv_free(MultiFDRecv *mr);

#endif
