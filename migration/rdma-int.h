/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/rdma.c and migration/rdma-xfer.c: the rdma:
 * channel's state and the data-path functions connection setup calls.
 * All of them run in the channel owner's thread (see rdma.c).
 */
#ifndef KVMIG_MIGRATION_RDMA_INT_H
#define KVMIG_MIGRATION_RDMA_INT_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "migration/rdma-proto.h"
#include "migration/rdma.h"

#define RDMA_TIMEOUT_MS         5000    /* address and route resolution, connect */
#define RDMA_MAX_WRITES         64      /* RDMA WRITEs in flight */
#define RDMA_SEND_DEPTH         (RDMA_MAX_WRITES + MIG_RDMA_SEND_SLOTS + 1)
#define RDMA_POLL_MS            1000    /* a wait re-checks for shutdown this often */
#define RDMA_CLOSE_DRAIN_MS     2000

/* wr_id of a work request: what completed. */
#define WRID_SEND(slot)         ((1ULL << 32) | (slot))
#define WRID_WRITE              (2ULL << 32)

typedef struct RdmaChannel {
    MigChannel base;

    /* set at creation */
    bool incoming;
    Machine *m;
    int wake_fd;                /* eventfd written by shutdown (any thread) */
    struct rdma_event_channel *ec;
    struct rdma_cm_id *listen_id;   /* incoming, until closed */

    /* owner's thread from here on */
    struct rdma_cm_id *id;      /* the connection */
    bool pin_all;               /* agreed in the private data */
    bool connected;
    bool peer_gone;             /* DISCONNECTED seen */
    int err;                    /* sticky -errno of the connection */
    struct ibv_pd *pd;
    struct ibv_comp_channel *comp;
    struct ibv_cq *send_cq, *recv_cq;
    uint8_t *ctl;               /* RECV_SLOTS receive, then SEND_SLOTS send buffers */
    struct ibv_mr *ctl_mr;
    bool send_busy[MIG_RDMA_SEND_SLOTS];
    unsigned sends_outstanding;
    unsigned writes_outstanding;
    /* completed receives, oldest first */
    unsigned recv_slot[MIG_RDMA_RECV_SLOTS];
    uint32_t recv_len[MIG_RDMA_RECV_SLOTS];
    unsigned recv_head, recv_count;
    /* the STREAM message read() is handing out */
    int cur_slot;
    uint32_t cur_pos, cur_len;
    /* source: STREAM bytes that arrived while waiting for a reply */
    GByteArray *stash;
    size_t stash_pos;

    MigRdmaChunkMap *map;       /* per block and chunk: registrations */
    struct ibv_mr **block_mr;   /* pin-all: one registration per block */
    MigRdmaBlockInfo *remote;   /* source: the destination's block table */
    MigRdmaWrite pending;       /* source: pages merged into the next WRITE */
    bool need_sync;             /* source: stream bytes went out since the last SYNC */
} RdmaChannel;

/* Control buffer @slot (receive: 0..RECV_SLOTS-1; send: 0..SEND_SLOTS-1). */
uint8_t *rdmach_recv_buf(RdmaChannel *rc, unsigned slot);
uint8_t *rdmach_send_buf(RdmaChannel *rc, unsigned slot);
/* Record the connection's first error; returns the sticky one. */
int rdmach_set_err(RdmaChannel *rc, int err);
/* (Re)post receive buffer @slot; 0 or -errno. */
int rdmach_post_recv(RdmaChannel *rc, unsigned slot);
/* Wait until a completion was reaped (0), or failure / shutdown (-errno). */
int rdmach_wait_progress(RdmaChannel *rc);
/* A free send slot (waiting for one), or -errno. */
int rdmach_get_send_slot(RdmaChannel *rc);
/* Send the message whose payload is already in send slot @slot. */
int rdmach_post_send(RdmaChannel *rc, int slot, uint32_t type, uint32_t repeat,
                     uint32_t len);
/* Copy @payload into a send slot and send it. */
int rdmach_send_msg(RdmaChannel *rc, uint32_t type, uint32_t repeat, const void *payload,
                    uint32_t len);
/*
 * Wait for the peer's @type message; STREAM bytes meanwhile are kept for
 * read().  The caller reposts *@slot (rdmach_post_recv) when done.
 */
int rdmach_wait_reply(RdmaChannel *rc, uint32_t type, unsigned *slot, MigRdmaMsg *msg);
/* The chunk map of rc->m's RAM; with pin-all, every block registered. */
bool rdmach_setup_map(RdmaChannel *rc, GError **errp);
/* Drop every RAM registration (chunks and blocks). */
void rdmach_unregister_all(RdmaChannel *rc);
/* Post the merged page WRITE, if any. */
int rdmach_post_pending_write(RdmaChannel *rc);

/* The MigChannel ops of the data path. */
int rdmach_write_page(MigChannel *c, unsigned block, uint64_t offset, const void *host,
                      size_t len);
int rdmach_writev(MigChannel *c, const struct iovec *iov, int iovcnt);
ssize_t rdmach_read(MigChannel *c, void *buf, size_t len);

#endif
