/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rdma: transport's wire protocol and chunk bookkeeping, as pure code
 * (no verbs calls) so that unit tests and the fuzzer run it anywhere.
 *
 * Control messages travel as one RDMA SEND each, into a receive buffer of
 * MIG_RDMA_MSG_MAX bytes:
 *
 *   be32 len      payload bytes after the header (== received bytes - 16)
 *   be32 type     MigRdmaMsgType
 *   be32 repeat   number of entries in the payload (per type, see below)
 *   be32 zero     reserved, must be 0
 *   payload
 *
 * Guest RAM does not travel in messages: the source RDMA WRITEs it into
 * the destination's memory, in registration units of MIG_RDMA_CHUNK_SIZE
 * per RAM block (the last chunk of a block may be shorter).  Capabilities
 * travel in the connection's private data (MigRdmaCaps).  The decoders
 * below treat every byte as untrusted and check every field.
 */
#ifndef KVMIG_MIGRATION_RDMA_PROTO_H
#define KVMIG_MIGRATION_RDMA_PROTO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MIG_RDMA_VERSION        1
#define MIG_RDMA_CAPS_MAGIC     0x4b564d52u     /* "KVMR" */
#define MIG_RDMA_CAPS_SIZE      16
/* All of guest RAM is registered at connection time (rdma-pin-all). */
#define MIG_RDMA_CAP_PIN_ALL    0x1u
#define MIG_RDMA_CAPS_KNOWN     MIG_RDMA_CAP_PIN_ALL

#define MIG_RDMA_CHUNK_SHIFT    20
#define MIG_RDMA_CHUNK_SIZE     (1ULL << MIG_RDMA_CHUNK_SHIFT)     /* 1 MiB */

#define MIG_RDMA_HDR_SIZE       16
#define MIG_RDMA_MSG_MAX        65536       /* header + payload: one receive buffer */
#define MIG_RDMA_PAYLOAD_MAX    (MIG_RDMA_MSG_MAX - MIG_RDMA_HDR_SIZE)
#define MIG_RDMA_REG_ENTRY_SIZE 16          /* request and result entries */
#define MIG_RDMA_REG_MAX        (MIG_RDMA_PAYLOAD_MAX / MIG_RDMA_REG_ENTRY_SIZE)
#define MIG_RDMA_MAX_BLOCKS     64
#define MIG_RDMA_PAGE_SIZE      4096ULL
/* Control buffers of one connection, each MIG_RDMA_MSG_MAX bytes, registered. */
#define MIG_RDMA_RECV_SLOTS     16
#define MIG_RDMA_SEND_SLOTS     8

typedef enum MigRdmaMsgType {
    /* dest -> src, first message: receives are posted, RAM is pinned (pin-all). len 0. */
    MIG_RDMA_MSG_READY = 1,
    /* either way: migration stream bytes ("QEMU FILE").  len >= 1, repeat 0. */
    MIG_RDMA_MSG_STREAM = 2,
    /* dest -> src after READY: the RAM block table.  repeat = blocks (1..64). */
    MIG_RDMA_MSG_RAM_BLOCKS = 3,
    /* src -> dest: pin these chunks.  repeat entries of MigRdmaRegRequest. */
    MIG_RDMA_MSG_REGISTER_REQUEST = 4,
    /* dest -> src: one MigRdmaRegResult per requested chunk, in order. */
    MIG_RDMA_MSG_REGISTER_RESULT = 5,
    /* src -> dest: no RDMA WRITE will follow; pinned chunks may go.  len 0. */
    MIG_RDMA_MSG_REGISTER_FINISHED = 6,
    /* src -> dest: unpin these chunks (entries as in REGISTER_REQUEST). */
    MIG_RDMA_MSG_UNREGISTER = 7,
    /*
     * src -> dest: a barrier.  The destination answers SYNC once it has
     * applied every stream byte sent before it; the source waits for the
     * answer before it RDMA WRITEs again after sending stream bytes (see
     * rdma-xfer.c: a stream record and an RDMA WRITE of one page must land in
     * the order they were made).  len 0 both ways.
     */
    MIG_RDMA_MSG_SYNC = 8,
    MIG_RDMA_MSG__MAX,
} MigRdmaMsgType;

/* Connection private data: both directions (the reply says what was agreed). */
typedef struct MigRdmaCaps {
    uint32_t version;
    uint32_t flags;
} MigRdmaCaps;

typedef struct MigRdmaMsg {
    uint32_t type;
    uint32_t repeat;
    uint32_t len;
    const uint8_t *payload;     /* points into the parsed buffer */
} MigRdmaMsg;

typedef struct MigRdmaRegRequest {
    uint32_t block;             /* index in the RAM block table */
    uint64_t chunk;             /* chunk index in that block */
} MigRdmaRegRequest;

typedef struct MigRdmaRegResult {
    uint32_t status;            /* 0, or a positive errno: the chunk could not be pinned */
    uint32_t rkey;
    uint64_t addr;              /* destination virtual address of the chunk's first byte */
} MigRdmaRegResult;

typedef struct MigRdmaBlockInfo {
    char name[256];             /* NUL-terminated, 1..255 bytes */
    uint64_t len;               /* bytes, a page multiple, > 0 */
    uint64_t addr;              /* destination virtual address of byte 0 */
    uint32_t rkey;              /* pin-all: the whole block's rkey; else 0 */
} MigRdmaBlockInfo;

/* ---- capabilities (private data) ---- */

/* Encode @caps into @buf (MIG_RDMA_CAPS_SIZE bytes). */
void mig_rdma_caps_encode(const MigRdmaCaps *caps, uint8_t *buf);
/*
 * Decode the peer's private data.  @len may exceed MIG_RDMA_CAPS_SIZE (an
 * InfiniBand CM pads private data with zeros); shorter data, a wrong magic
 * or a version other than MIG_RDMA_VERSION fail with a one-line reason.
 */
bool mig_rdma_caps_decode(const void *buf, size_t len, MigRdmaCaps *caps, GError **errp);
/* The destination's answer to @req: our version, only the flags we know. */
void mig_rdma_caps_answer(const MigRdmaCaps *req, MigRdmaCaps *reply);

/* ---- control messages ---- */

const char *mig_rdma_msg_name(uint32_t type);
/*
 * Write the header of a @type message with @repeat entries and @len payload
 * bytes into @buf (MIG_RDMA_HDR_SIZE bytes); the caller writes the payload
 * after it.  @len must be <= MIG_RDMA_PAYLOAD_MAX.
 */
void mig_rdma_msg_put_header(uint8_t *buf, uint32_t type, uint32_t repeat, uint32_t len);
/*
 * Parse one received message of @n bytes: header fields, len == n - 16,
 * a known type, and the repeat/len rules of that type.  Entries are then
 * read with the getters below, which cannot fail for i < repeat.
 */
bool mig_rdma_msg_parse(const uint8_t *buf, size_t n, MigRdmaMsg *msg, GError **errp);

/* REGISTER_REQUEST / UNREGISTER entries. */
void mig_rdma_put_reg_request(uint8_t *p, const MigRdmaRegRequest *r);
void mig_rdma_msg_reg_request(const MigRdmaMsg *msg, uint32_t i, MigRdmaRegRequest *r);
/* REGISTER_RESULT entries. */
void mig_rdma_put_reg_result(uint8_t *p, const MigRdmaRegResult *r);
void mig_rdma_msg_reg_result(const MigRdmaMsg *msg, uint32_t i, MigRdmaRegResult *r);

/*
 * RAM_BLOCKS payload: per block be64 len, be64 addr, be32 rkey, u8 name
 * length, name bytes.  Encode returns the payload size, or 0 if it does
 * not fit in @cap.  Decode checks every entry (name length 1..255 with no
 * NUL, len a non-zero page multiple, addr + len not wrapping) and that the
 * payload ends exactly after the last one; returns a new array (g_free).
 */
size_t mig_rdma_blocks_encode(uint8_t *buf, size_t cap, const MigRdmaBlockInfo *b,
                              unsigned n);
MigRdmaBlockInfo *mig_rdma_blocks_decode(const MigRdmaMsg *msg, GError **errp);

/* ---- chunks ---- */

/* Chunks of a block of @block_len bytes (the last one may be short). */
uint64_t mig_rdma_nchunks(uint64_t block_len);
/* The chunk holding byte @offset. */
static inline uint64_t mig_rdma_chunk_of(uint64_t offset)
{
    return offset >> MIG_RDMA_CHUNK_SHIFT;
}
/* First byte and length of @chunk in a block of @block_len; false if beyond it. */
bool mig_rdma_chunk_range(uint64_t block_len, uint64_t chunk, uint64_t *start,
                          uint64_t *len);

/* One chunk's registration, on either side. */
typedef struct MigRdmaChunk {
    void *mr;                   /* the local registration (struct ibv_mr *), or NULL */
    uint32_t rkey;              /* source: the destination's rkey for the chunk */
    uint64_t raddr;             /* source: the destination's address of the chunk */
    bool remote_ok;             /* source: rkey/raddr are valid */
} MigRdmaChunk;

typedef struct MigRdmaChunkMap {
    unsigned nblocks;
    uint64_t *block_len;
    uint64_t *nchunks;
    MigRdmaChunk **chunks;      /* [block][chunk] */
    uint64_t registered_bytes;  /* sum of the lengths of chunks with mr set */
} MigRdmaChunkMap;

MigRdmaChunkMap *mig_rdma_chunk_map_new(const uint64_t *block_len, unsigned nblocks);
void mig_rdma_chunk_map_free(MigRdmaChunkMap *map);
/* The chunk, or NULL when @block or @chunk is out of range (untrusted input). */
MigRdmaChunk *mig_rdma_chunk_get(MigRdmaChunkMap *map, uint32_t block, uint64_t chunk);

/* ---- merging page writes ---- */

/* A run of contiguous guest pages waiting to become one RDMA WRITE. */
typedef struct MigRdmaWrite {
    bool pending;
    uint32_t block;
    uint64_t offset;            /* in the block */
    const uint8_t *host;        /* source address of byte 0 */
    uint64_t len;
} MigRdmaWrite;

/*
 * May @len bytes at (@block, @offset, @host) extend @w?  Only when they
 * follow it directly both in the block and in the source's address space,
 * and the whole run stays inside @w's chunk (one rkey per WRITE).
 */
bool mig_rdma_write_can_merge(const MigRdmaWrite *w, uint32_t block, uint64_t offset,
                              const void *host, uint64_t len);
/* Is [@offset, @offset + @len) inside one chunk (and @len > 0)? */
bool mig_rdma_range_in_one_chunk(uint64_t offset, uint64_t len);

/* ---- memory locking ---- */

/*
 * Bytes the transport may pin for @ram_bytes of guest RAM: every chunk
 * written is registered and stays so until the end, so in the worst case
 * all of RAM, plus the control buffers.
 */
uint64_t mig_rdma_memlock_needed(uint64_t ram_bytes);
/*
 * Check a RLIMIT_MEMLOCK soft limit of @limit bytes (RLIM_INFINITY passed
 * as UINT64_MAX) against @needed; @cap_ipc_lock lifts the limit.  The
 * error says what to raise and how.
 */
bool mig_rdma_memlock_check(uint64_t limit, bool cap_ipc_lock, uint64_t needed,
                            GError **errp);

#endif
