/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the rdma: transport's control-message parser: the
 * input is split into messages as a receive queue would deliver them (a
 * be16 length before each), every one is parsed, and the entries and RAM
 * block tables of those that parse are decoded and checked against the
 * chunk map as the destination does.  The first of these pieces is the
 * connection's private data (capabilities).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/rdma-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_msg(const MigRdmaMsg *msg, MigRdmaChunkMap *map)
{
    switch (msg->type) {
    case MIG_RDMA_MSG_REGISTER_REQUEST:
    case MIG_RDMA_MSG_UNREGISTER:
        for (uint32_t i = 0; i < msg->repeat; i++) {
            MigRdmaRegRequest r;
            MigRdmaChunk *ch;
            uint64_t start, len;

            mig_rdma_msg_reg_request(msg, i, &r);
            ch = mig_rdma_chunk_get(map, r.block, r.chunk);
            if (ch) {
                if (!mig_rdma_chunk_range(map->block_len[r.block], r.chunk, &start, &len) ||
                    start + len > map->block_len[r.block]) {
                    abort();
                }
                ch->remote_ok = msg->type == MIG_RDMA_MSG_REGISTER_REQUEST;
            }
        }
        break;
    case MIG_RDMA_MSG_REGISTER_RESULT:
        for (uint32_t i = 0; i < msg->repeat; i++) {
            MigRdmaRegResult r;
            mig_rdma_msg_reg_result(msg, i, &r);
        }
        break;
    case MIG_RDMA_MSG_RAM_BLOCKS: {
        MigRdmaBlockInfo *b = mig_rdma_blocks_decode(msg, NULL);

        if (b) {
            for (uint32_t i = 0; i < msg->repeat; i++) {
                size_t nl = strlen(b[i].name);
                if (!nl || nl > 255 || !b[i].len || b[i].len % MIG_RDMA_PAGE_SIZE) {
                    abort();
                }
            }
            g_free(b);
        }
        break;
    }
    case MIG_RDMA_MSG_STREAM:
        if (!msg->len || msg->len > MIG_RDMA_PAYLOAD_MAX) {
            abort();
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t lens[2] = { 3 * MIG_RDMA_CHUNK_SIZE + 8192, 4096 };
    MigRdmaChunkMap *map = mig_rdma_chunk_map_new(lens, 2);
    MigRdmaCaps caps;
    size_t pos = 0;
    bool first = true;

    while (size - pos >= 2) {
        size_t n = (size_t)data[pos] << 8 | data[pos + 1];
        g_autofree uint8_t *copy = NULL;
        MigRdmaMsg msg;

        pos += 2;
        n = MIN(n, size - pos);
        /* a copy of exactly n bytes: an overread is caught by ASan */
        copy = g_malloc(n ? n : 1);
        memcpy(copy, data + pos, n);
        if (first) {
            if (mig_rdma_caps_decode(copy, n, &caps, NULL) &&
                caps.version != MIG_RDMA_VERSION) {
                abort();
            }
            first = false;
        } else if (mig_rdma_msg_parse(copy, n, &msg, NULL)) {
            if (msg.payload + msg.len > copy + n) {
                abort();
            }
            use_msg(&msg, map);
        }
        pos += n;
    }
    mig_rdma_chunk_map_free(map);
    return 0;
}
