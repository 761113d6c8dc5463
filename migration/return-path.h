/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the return-path protocol -- every message the
 * destination sends back to the source on a two-way channel, and the one
 * message of the switchover handshake that goes the other way (GO) --
 * as pure encode/decode functions plus a blocking send/receive pair.
 *
 * Framing (both directions): be16 type, be16 payload length, payload.
 * Numbers: QEMU's where QEMU has the message (enum mig_rp_message_type in
 * QEMU's migration/migration.c); kvmig's own messages start at 0x80.
 * Versioning rule: a number is never reused for another meaning; a new
 * payload field is appended and the decoder accepts the shorter form.
 *
 * The switchover on a two-way channel (docs/devel/migration/main.rst):
 *
 *   source                                 destination
 *   ... PING ──────────────────────────────>  load up to it
 *       <────────────────────────────── PONG
 *   vm_stop; rest of RAM, devices, EOF ───>  load everything
 *       <───────────────────────────── READY (paused, loaded)
 *   GO ───────────────────────────────────>  vm_start (unless -S or the
 *   completed, postmigrate                   source was paused)
 *       <────────────────────────────── DONE (resumed?, timings)
 *   vmdesc ───────────────────────────────>  skipped
 *
 * Until GO is written the source may resume its guest; once it is, it
 * never does.  A destination that loses the link before GO stays paused.
 */
#ifndef KVMIG_MIGRATION_RETURN_PATH_H
#define KVMIG_MIGRATION_RETURN_PATH_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/channel.h"
#include "migration/stream.h"

typedef enum MigRpMsgType {
    MIG_RP_MSG_INVALID = 0,     /* QEMU: never sent */
    MIG_RP_MSG_PONG = 2,        /* QEMU: answer to a PING; be32 the PING's value */
    /*
     * QEMU, postcopy (postcopy.h): send these pages now.  be64 start,
     * be32 length (bytes); _ID adds u8 n and n bytes of block name,
     * REQ_PAGES means the block last named.
     */
    MIG_RP_MSG_REQ_PAGES_ID = 3,
    MIG_RP_MSG_REQ_PAGES = 4,
    /*
     * QEMU, postcopy recovery: RECV_BITMAP is u8 n and n bytes of block
     * name, and right after the frame, outside it, the bitmap of pages the
     * destination has (be64 size in bytes, a multiple of 8; the bitmap as
     * little-endian 64-bit words; be64 MIG_RP_RECV_BITMAP_ENDING).
     * RESUME_ACK is be32 1: the destination is ready for pages again.
     */
    MIG_RP_MSG_RECV_BITMAP = 5,
    MIG_RP_MSG_RESUME_ACK = 6,
    MIG_RP_MSG_DONE = 0x80,     /* kvmig: after GO; u8 resumed [, be32 resume µs] */
    MIG_RP_MSG_FAIL = 0x81,     /* kvmig: the load failed; error text */
    MIG_RP_MSG_READY = 0x82,    /* kvmig: all loaded, paused, waiting for GO; be32 load µs */
    MIG_RP_MSG_GO = 0x83,       /* kvmig, source -> destination: run the guest; empty */
} MigRpMsgType;

#define MIG_RP_HDR_LEN      4
#define MIG_RP_RECV_BITMAP_ENDING   0x0123456789abcdefULL   /* QEMU's */
#define MIG_RP_RESUME_ACK_VALUE     1
#define MIG_RP_PAYLOAD_MAX  1024    /* longest payload either side accepts */
#define MIG_RP_MSG_MAX      (MIG_RP_HDR_LEN + MIG_RP_PAYLOAD_MAX)

/* One decoded message; which fields mean something depends on type. */
typedef struct MigRpMsg {
    MigRpMsgType type;
    uint32_t value;             /* PONG, RESUME_ACK */
    uint32_t load_us;           /* READY: EOF read -> everything loaded */
    bool resumed;               /* DONE: the guest runs on the destination */
    uint32_t resume_us;         /* DONE: GO read -> vm_start returned (0: not sent) */
    char text[MIG_RP_PAYLOAD_MAX + 1];  /* FAIL, NUL-terminated (truncated to fit) */
    uint64_t start;             /* REQ_PAGES(_ID): bytes into the block */
    uint32_t len;               /* REQ_PAGES(_ID): bytes */
    char block[256];            /* REQ_PAGES_ID, RECV_BITMAP: the block's name, 1..255 bytes */
} MigRpMsg;

/* The name of a message type for errors ("PONG", "READY", ...; "unknown"). */
const char *mig_rp_msg_name(uint16_t type);

/*
 * mig_rp_encode: frame @m into @buf (at least MIG_RP_MSG_MAX bytes).
 * Returns the bytes written; a FAIL text longer than the limit is cut.
 */
size_t mig_rp_encode(const MigRpMsg *m, uint8_t *buf);

/*
 * mig_rp_decode_header: the type and payload length of a frame; false with
 * *errp when the length exceeds MIG_RP_PAYLOAD_MAX.
 */
bool mig_rp_decode_header(const uint8_t hdr[MIG_RP_HDR_LEN], uint16_t *type, uint16_t *len,
                          GError **errp);

/*
 * mig_rp_decode: the payload of a frame of @type into @m.  Refuses an
 * unknown type and a payload of the wrong length for its type; the error
 * is one line.  Pure: never reads past @len.
 */
bool mig_rp_decode(uint16_t type, const uint8_t *payload, size_t len, MigRpMsg *m,
                   GError **errp);

/* Encode and write @m (blocking).  0 or a negative errno. */
int mig_rp_send(MigChannel *c, const MigRpMsg *m);

/*
 * Read one whole frame from @c (blocking) and decode it.  The error says
 * whether the link closed, was cancelled, or carried a bad frame.
 */
bool mig_rp_recv(MigChannel *c, MigRpMsg *m, GError **errp);
/* The same from the main stream (the destination reading GO after EOF). */
bool mig_rp_recv_stream(MigStream *f, MigRpMsg *m, GError **errp);

#endif
