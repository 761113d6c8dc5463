/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rdma: transport's pure parts: capability and control-message
 * encoding and bounds-checked decoding, 1 MiB chunk bookkeeping, merging of
 * contiguous page writes, and the RLIMIT_MEMLOCK check.
 */
#include <string.h>

#include "migration/rdma-proto.h"
#include "util/error.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, v >> 32);
    put32(p + 4, v);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- capabilities ---- */

void mig_rdma_caps_encode(const MigRdmaCaps *caps, uint8_t *buf)
{
    put32(buf, MIG_RDMA_CAPS_MAGIC);
    put32(buf + 4, caps->version);
    put32(buf + 8, caps->flags);
    put32(buf + 12, 0);
}

bool mig_rdma_caps_decode(const void *buf, size_t len, MigRdmaCaps *caps, GError **errp)
{
    const uint8_t *p = buf;

    if (!p || len < MIG_RDMA_CAPS_SIZE) {
        kvmig_error(errp, "the peer sent %zu bytes of RDMA capabilities, expected %d: "
                    "it is not a kvmig RDMA migration peer", p ? len : 0,
                    MIG_RDMA_CAPS_SIZE);
        return false;
    }
    if (get32(p) != MIG_RDMA_CAPS_MAGIC) {
        kvmig_error(errp, "the peer's RDMA capabilities have magic 0x%08x, expected "
                    "0x%08x: it is not a kvmig RDMA migration peer", get32(p),
                    MIG_RDMA_CAPS_MAGIC);
        return false;
    }
    caps->version = get32(p + 4);
    caps->flags = get32(p + 8);
    if (caps->version != MIG_RDMA_VERSION) {
        kvmig_error(errp, "the peer speaks RDMA migration protocol version %u, this "
                    "kvmig version %u", caps->version, MIG_RDMA_VERSION);
        return false;
    }
    return true;
}

void mig_rdma_caps_answer(const MigRdmaCaps *req, MigRdmaCaps *reply)
{
    reply->version = MIG_RDMA_VERSION;
    reply->flags = req->flags & MIG_RDMA_CAPS_KNOWN;
}

/* ---- messages ---- */

const char *mig_rdma_msg_name(uint32_t type)
{
    static const char *const names[MIG_RDMA_MSG__MAX] = {
        [MIG_RDMA_MSG_READY] = "READY",
        [MIG_RDMA_MSG_STREAM] = "STREAM",
        [MIG_RDMA_MSG_RAM_BLOCKS] = "RAM_BLOCKS",
        [MIG_RDMA_MSG_REGISTER_REQUEST] = "REGISTER_REQUEST",
        [MIG_RDMA_MSG_REGISTER_RESULT] = "REGISTER_RESULT",
        [MIG_RDMA_MSG_REGISTER_FINISHED] = "REGISTER_FINISHED",
        [MIG_RDMA_MSG_UNREGISTER] = "UNREGISTER",
        [MIG_RDMA_MSG_SYNC] = "SYNC",
    };

    return type < MIG_RDMA_MSG__MAX && names[type] ? names[type] : "unknown";
}

void mig_rdma_msg_put_header(uint8_t *buf, uint32_t type, uint32_t repeat, uint32_t len)
{
    put32(buf, len);
    put32(buf + 4, type);
    put32(buf + 8, repeat);
    put32(buf + 12, 0);
}

bool mig_rdma_msg_parse(const uint8_t *buf, size_t n, MigRdmaMsg *msg, GError **errp)
{
    uint32_t reserved;
    bool ok;

    if (n < MIG_RDMA_HDR_SIZE || n > MIG_RDMA_MSG_MAX) {
        kvmig_error(errp, "RDMA control message of %zu bytes (must be %d..%d)", n,
                    MIG_RDMA_HDR_SIZE, MIG_RDMA_MSG_MAX);
        return false;
    }
    msg->len = get32(buf);
    msg->type = get32(buf + 4);
    msg->repeat = get32(buf + 8);
    reserved = get32(buf + 12);
    msg->payload = buf + MIG_RDMA_HDR_SIZE;
    if (msg->len != n - MIG_RDMA_HDR_SIZE) {
        kvmig_error(errp, "RDMA control message says %u payload bytes but carries %zu",
                    msg->len, n - MIG_RDMA_HDR_SIZE);
        return false;
    }
    if (reserved) {
        kvmig_error(errp, "RDMA control message with reserved header word 0x%08x",
                    reserved);
        return false;
    }
    switch (msg->type) {
    case MIG_RDMA_MSG_READY:
    case MIG_RDMA_MSG_REGISTER_FINISHED:
    case MIG_RDMA_MSG_SYNC:
        ok = msg->len == 0 && msg->repeat == 0;
        break;
    case MIG_RDMA_MSG_STREAM:
        ok = msg->len > 0 && msg->repeat == 0;
        break;
    case MIG_RDMA_MSG_RAM_BLOCKS:
        /* entry sizes vary: mig_rdma_blocks_decode() checks them */
        ok = msg->repeat >= 1 && msg->repeat <= MIG_RDMA_MAX_BLOCKS && msg->len > 0;
        break;
    case MIG_RDMA_MSG_REGISTER_REQUEST:
    case MIG_RDMA_MSG_REGISTER_RESULT:
    case MIG_RDMA_MSG_UNREGISTER:
        ok = msg->repeat >= 1 && msg->repeat <= MIG_RDMA_REG_MAX &&
             msg->len == msg->repeat * MIG_RDMA_REG_ENTRY_SIZE;
        break;
    default:
        kvmig_error(errp, "unknown RDMA control message type %u", msg->type);
        return false;
    }
    if (!ok) {
        kvmig_error(errp, "malformed RDMA %s message: %u entries in %u bytes",
                    mig_rdma_msg_name(msg->type), msg->repeat, msg->len);
        return false;
    }
    return true;
}

void mig_rdma_put_reg_request(uint8_t *p, const MigRdmaRegRequest *r)
{
    put32(p, r->block);
    put32(p + 4, 0);
    put64(p + 8, r->chunk);
}

void mig_rdma_msg_reg_request(const MigRdmaMsg *msg, uint32_t i, MigRdmaRegRequest *r)
{
    const uint8_t *p = msg->payload + (size_t)i * MIG_RDMA_REG_ENTRY_SIZE;

    g_assert(i < msg->repeat);
    r->block = get32(p);
    r->chunk = get64(p + 8);
}

void mig_rdma_put_reg_result(uint8_t *p, const MigRdmaRegResult *r)
{
    put32(p, r->status);
    put32(p + 4, r->rkey);
    put64(p + 8, r->addr);
}

void mig_rdma_msg_reg_result(const MigRdmaMsg *msg, uint32_t i, MigRdmaRegResult *r)
{
    const uint8_t *p = msg->payload + (size_t)i * MIG_RDMA_REG_ENTRY_SIZE;

    g_assert(i < msg->repeat);
    r->status = get32(p);
    r->rkey = get32(p + 4);
    r->addr = get64(p + 8);
}

#define BLOCK_FIXED 21      /* be64 len, be64 addr, be32 rkey, u8 name length */

size_t mig_rdma_blocks_encode(uint8_t *buf, size_t cap, const MigRdmaBlockInfo *b,
                              unsigned n)
{
    size_t pos = 0;

    for (unsigned i = 0; i < n; i++) {
        size_t nl = strnlen(b[i].name, sizeof(b[i].name) - 1);

        if (pos + BLOCK_FIXED + nl > cap) {
            return 0;
        }
        put64(buf + pos, b[i].len);
        put64(buf + pos + 8, b[i].addr);
        put32(buf + pos + 16, b[i].rkey);
        buf[pos + 20] = nl;
        memcpy(buf + pos + BLOCK_FIXED, b[i].name, nl);
        pos += BLOCK_FIXED + nl;
    }
    return pos;
}

MigRdmaBlockInfo *mig_rdma_blocks_decode(const MigRdmaMsg *msg, GError **errp)
{
    g_autofree MigRdmaBlockInfo *b = NULL;
    size_t pos = 0;

    if (msg->type != MIG_RDMA_MSG_RAM_BLOCKS || msg->repeat < 1 ||
        msg->repeat > MIG_RDMA_MAX_BLOCKS) {
        kvmig_error(errp, "expected an RDMA RAM_BLOCKS message, got %s with %u entries",
                    mig_rdma_msg_name(msg->type), msg->repeat);
        return NULL;
    }
    b = g_new0(MigRdmaBlockInfo, msg->repeat);
    for (uint32_t i = 0; i < msg->repeat; i++) {
        uint8_t nl;

        if (msg->len - pos < BLOCK_FIXED) {
            kvmig_error(errp, "RDMA RAM_BLOCKS: entry %u is truncated", i);
            return NULL;
        }
        b[i].len = get64(msg->payload + pos);
        b[i].addr = get64(msg->payload + pos + 8);
        b[i].rkey = get32(msg->payload + pos + 16);
        nl = msg->payload[pos + 20];
        pos += BLOCK_FIXED;
        if (!nl || msg->len - pos < nl) {
            kvmig_error(errp, "RDMA RAM_BLOCKS: entry %u has a block name of %u bytes "
                        "with %zu left", i, nl, (size_t)(msg->len - pos));
            return NULL;
        }
        if (memchr(msg->payload + pos, 0, nl)) {
            kvmig_error(errp, "RDMA RAM_BLOCKS: entry %u has a NUL in its name", i);
            return NULL;
        }
        memcpy(b[i].name, msg->payload + pos, nl);
        b[i].name[nl] = 0;
        pos += nl;
        if (!b[i].len || b[i].len % MIG_RDMA_PAGE_SIZE || b[i].addr + b[i].len < b[i].addr) {
            g_autofree char *esc = g_strescape(b[i].name, NULL);
            kvmig_error(errp, "RDMA RAM_BLOCKS: block '%s' has a bad size 0x%" G_GINT64_MODIFIER
                        "x at 0x%" G_GINT64_MODIFIER "x", esc, b[i].len, b[i].addr);
            return NULL;
        }
    }
    if (pos != msg->len) {
        kvmig_error(errp, "RDMA RAM_BLOCKS: %zu bytes after the last entry",
                    (size_t)(msg->len - pos));
        return NULL;
    }
    return g_steal_pointer(&b);
}

/* ---- chunks ---- */

uint64_t mig_rdma_nchunks(uint64_t block_len)
{
    return (block_len >> MIG_RDMA_CHUNK_SHIFT) + !!(block_len & (MIG_RDMA_CHUNK_SIZE - 1));
}

bool mig_rdma_chunk_range(uint64_t block_len, uint64_t chunk, uint64_t *start,
                          uint64_t *len)
{
    uint64_t s;

    if (chunk >= mig_rdma_nchunks(block_len)) {
        return false;
    }
    s = chunk << MIG_RDMA_CHUNK_SHIFT;
    *start = s;
    *len = MIN(MIG_RDMA_CHUNK_SIZE, block_len - s);
    return true;
}

MigRdmaChunkMap *mig_rdma_chunk_map_new(const uint64_t *block_len, unsigned nblocks)
{
    MigRdmaChunkMap *map = g_new0(MigRdmaChunkMap, 1);

    map->nblocks = nblocks;
    map->block_len = g_new0(uint64_t, nblocks);
    map->nchunks = g_new0(uint64_t, nblocks);
    map->chunks = g_new0(MigRdmaChunk *, nblocks);
    for (unsigned i = 0; i < nblocks; i++) {
        map->block_len[i] = block_len[i];
        map->nchunks[i] = mig_rdma_nchunks(block_len[i]);
        map->chunks[i] = g_new0(MigRdmaChunk, map->nchunks[i]);
    }
    return map;
}

void mig_rdma_chunk_map_free(MigRdmaChunkMap *map)
{
    if (!map) {
        return;
    }
    for (unsigned i = 0; i < map->nblocks; i++) {
        g_free(map->chunks[i]);
    }
    g_free(map->chunks);
    g_free(map->nchunks);
    g_free(map->block_len);
    g_free(map);
}

MigRdmaChunk *mig_rdma_chunk_get(MigRdmaChunkMap *map, uint32_t block, uint64_t chunk)
{
    if (block >= map->nblocks || chunk >= map->nchunks[block]) {
        return NULL;
    }
    return &map->chunks[block][chunk];
}

/* ---- merging ---- */

bool mig_rdma_range_in_one_chunk(uint64_t offset, uint64_t len)
{
    return len > 0 && offset + len > offset &&
           mig_rdma_chunk_of(offset) == mig_rdma_chunk_of(offset + len - 1);
}

bool mig_rdma_write_can_merge(const MigRdmaWrite *w, uint32_t block, uint64_t offset,
                              const void *host, uint64_t len)
{
    return w->pending && w->block == block && w->offset + w->len == offset &&
           w->host + w->len == (const uint8_t *)host &&
           mig_rdma_range_in_one_chunk(w->offset, w->len + len);
}

/* ---- memory locking ---- */

uint64_t mig_rdma_memlock_needed(uint64_t ram_bytes)
{
    return ram_bytes + (uint64_t)(MIG_RDMA_RECV_SLOTS + MIG_RDMA_SEND_SLOTS) *
                       MIG_RDMA_MSG_MAX;
}

bool mig_rdma_memlock_check(uint64_t limit, bool cap_ipc_lock, uint64_t needed,
                            GError **errp)
{
    if (cap_ipc_lock || limit >= needed) {
        return true;
    }
    kvmig_error(errp, "RDMA migration pins up to %" G_GUINT64_FORMAT " KiB (guest RAM "
                "and control buffers) but the locked-memory limit RLIMIT_MEMLOCK is %"
                G_GUINT64_FORMAT " KiB: raise it to at least %" G_GUINT64_FORMAT " KiB "
                "(ulimit -l, LimitMEMLOCK= of a systemd unit, memlock in "
                "/etc/security/limits.conf) or give kvmig CAP_IPC_LOCK",
                needed >> 10, limit >> 10, (needed + 1023) >> 10);
    return false;
}
