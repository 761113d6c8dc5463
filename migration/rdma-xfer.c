/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rdma: channel's data path: completions, control messages (SEND/RECV),
 * chunk registration on demand, guest pages merged into RDMA WRITEs, and
 * the MigChannel read/writev/write_page ops.  Connection setup and
 * teardown are in rdma.c.
 *
 * Ordering (why SYNC exists).  With a reliable connected QP the responder
 * executes operations in the order they were posted: a WRITE's data is in
 * the destination's memory before a SEND posted after it is received.  So
 * writev posts the pending page write before the stream bytes, and pages
 * always land before the records that follow them.  The other direction
 * needs a barrier: a stream record (a ZERO page, an XBZRLE delta) is
 * applied only when the destination's loader reads it, possibly long after
 * it arrived, while a WRITE lands at once.  A page written by an earlier
 * record and RDMA-written again later could be overwritten by the stale
 * record.  So after stream bytes went out, the source's next page write
 * first sends SYNC and waits for the destination to answer it, which the
 * destination does from its read(), i.e. when its loader has applied every
 * earlier byte:
 *
 *   source:  ZERO(p) ─ writev ─ ... ─ SYNC ─────── wait ─┬─ WRITE(p)
 *   dest:            loader applies ZERO(p) ─ read(): SYNC ─┘ answer
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "migration/rdma-int.h"
#include "util/error.h"

/* ---- completions and events ---- */

uint8_t *rdmach_recv_buf(RdmaChannel *rc, unsigned slot)
{
    return rc->ctl + (size_t)slot * MIG_RDMA_MSG_MAX;
}

uint8_t *rdmach_send_buf(RdmaChannel *rc, unsigned slot)
{
    return rc->ctl + (size_t)(MIG_RDMA_RECV_SLOTS + slot) * MIG_RDMA_MSG_MAX;
}

int rdmach_set_err(RdmaChannel *rc, int err)
{
    if (!rc->err) {
        rc->err = err;
    }
    return rc->err;
}

int rdmach_post_recv(RdmaChannel *rc, unsigned slot)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)rdmach_recv_buf(rc, slot), .length = MIG_RDMA_MSG_MAX,
        .lkey = rc->ctl_mr->lkey,
    };
    struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 }, *bad;
    int ret = ibv_post_recv(rc->id->qp, &wr, &bad);

    return ret ? rdmach_set_err(rc, -ret) : 0;
}

static int completion_failed(RdmaChannel *rc, const struct ibv_wc *wc)
{
    if (wc->status == IBV_WC_WR_FLUSH_ERR) {
        /* the QP went to error: the connection is gone */
        rc->peer_gone = true;
        return rdmach_set_err(rc, -ECONNRESET);
    }
    g_printerr("kvmig: %s: RDMA %s failed: %s\n", rc->base.desc,
               wc->wr_id == WRID_WRITE ? "WRITE" : wc->wr_id >> 32 ? "SEND" : "RECV",
               ibv_wc_status_str(wc->status));
    return rdmach_set_err(rc, -EIO);
}

/* Reap completions; returns how many, or -errno. */
static int poll_cqs(RdmaChannel *rc)
{
    struct ibv_wc wc[16];
    int n, done = 0;

    while ((n = ibv_poll_cq(rc->send_cq, G_N_ELEMENTS(wc), wc)) > 0) {
        for (int i = 0; i < n; i++) {
            if (wc[i].status != IBV_WC_SUCCESS) {
                return completion_failed(rc, &wc[i]);
            }
            if (wc[i].wr_id == WRID_WRITE) {
                rc->writes_outstanding--;
            } else {
                rc->send_busy[wc[i].wr_id & 0xffffffff] = false;
                rc->sends_outstanding--;
            }
        }
        done += n;
    }
    if (n < 0) {
        return rdmach_set_err(rc, -EIO);
    }
    while ((n = ibv_poll_cq(rc->recv_cq, G_N_ELEMENTS(wc), wc)) > 0) {
        for (int i = 0; i < n; i++) {
            unsigned tail = (rc->recv_head + rc->recv_count) % MIG_RDMA_RECV_SLOTS;

            if (wc[i].status != IBV_WC_SUCCESS) {
                return completion_failed(rc, &wc[i]);
            }
            rc->recv_slot[tail] = wc[i].wr_id;
            rc->recv_len[tail] = wc[i].byte_len;
            rc->recv_count++;
        }
        done += n;
    }
    return n < 0 ? rdmach_set_err(rc, -EIO) : done;
}

/* A CM event on the connected id: only the end of the connection matters. */
static int handle_cm_events(RdmaChannel *rc)
{
    struct rdma_cm_event *ev;

    while (rdma_get_cm_event(rc->ec, &ev) == 0) {
        enum rdma_cm_event_type t = ev->event;

        rdma_ack_cm_event(ev);
        if (t == RDMA_CM_EVENT_DISCONNECTED || t == RDMA_CM_EVENT_DEVICE_REMOVAL ||
            t == RDMA_CM_EVENT_TIMEWAIT_EXIT) {
            rc->peer_gone = true;
            return rdmach_set_err(rc, -ECONNRESET);
        }
    }
    return 0;
}

/*
 * Wait until at least one completion was reaped (returns 0), or the
 * connection failed or was shut down (-errno).
 */
int rdmach_wait_progress(RdmaChannel *rc)
{
    for (;;) {
        struct pollfd pfd[3] = {
            { .fd = rc->comp->fd, .events = POLLIN },
            { .fd = rc->ec->fd, .events = POLLIN },
            { .fd = rc->wake_fd, .events = POLLIN },
        };
        int n = poll_cqs(rc);

        if (n != 0) {
            return n < 0 ? n : 0;
        }
        if (rc->err) {
            return rc->err;
        }
        if (ibv_req_notify_cq(rc->send_cq, 0) || ibv_req_notify_cq(rc->recv_cq, 0)) {
            return rdmach_set_err(rc, -EIO);
        }
        /* a completion may have come between the poll and the arming */
        n = poll_cqs(rc);
        if (n != 0) {
            return n < 0 ? n : 0;
        }
        if (poll(pfd, 3, RDMA_POLL_MS) < 0 && errno != EINTR) {
            return rdmach_set_err(rc, -errno);
        }
        if (pfd[2].revents || __atomic_load_n(&rc->base.shut, __ATOMIC_ACQUIRE)) {
            return -ECANCELED;
        }
        if (pfd[0].revents) {
            struct ibv_cq *cq;
            void *ctx;

            while (ibv_get_cq_event(rc->comp, &cq, &ctx) == 0) {
                ibv_ack_cq_events(cq, 1);
            }
        }
        if (pfd[1].revents && handle_cm_events(rc) < 0) {
            /* completions may still be queued: reap them before failing */
            poll_cqs(rc);
            return rc->err;
        }
    }
}

/* ---- control messages ---- */

int rdmach_get_send_slot(RdmaChannel *rc)
{
    for (;;) {
        for (int i = 0; i < MIG_RDMA_SEND_SLOTS; i++) {
            if (!rc->send_busy[i]) {
                return i;
            }
        }
        int ret = rdmach_wait_progress(rc);
        if (ret < 0) {
            return ret;
        }
    }
}

/* Post the message already written after the header of send slot @slot. */
int rdmach_post_send(RdmaChannel *rc, int slot, uint32_t type, uint32_t repeat, uint32_t len)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)rdmach_send_buf(rc, slot), .length = MIG_RDMA_HDR_SIZE + len,
        .lkey = rc->ctl_mr->lkey,
    };
    struct ibv_send_wr wr = {
        .wr_id = WRID_SEND(slot), .sg_list = &sge, .num_sge = 1,
        .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
    }, *bad;
    int ret;

    mig_rdma_msg_put_header(rdmach_send_buf(rc, slot), type, repeat, len);
    ret = ibv_post_send(rc->id->qp, &wr, &bad);
    if (ret) {
        return rdmach_set_err(rc, -ret);
    }
    rc->send_busy[slot] = true;
    rc->sends_outstanding++;
    return 0;
}

int rdmach_send_msg(RdmaChannel *rc, uint32_t type, uint32_t repeat, const void *payload,
                    uint32_t len)
{
    int slot = rdmach_get_send_slot(rc);

    if (slot < 0) {
        return slot;
    }
    if (len) {
        memcpy(rdmach_send_buf(rc, slot) + MIG_RDMA_HDR_SIZE, payload, len);
    }
    return rdmach_post_send(rc, slot, type, repeat, len);
}

/* The oldest received message, waiting for one if needed. */
static int next_recv(RdmaChannel *rc, unsigned *slot, uint32_t *len)
{
    while (!rc->recv_count) {
        int ret = rdmach_wait_progress(rc);
        if (ret < 0) {
            return ret;
        }
    }
    *slot = rc->recv_slot[rc->recv_head];
    *len = rc->recv_len[rc->recv_head];
    rc->recv_head = (rc->recv_head + 1) % MIG_RDMA_RECV_SLOTS;
    rc->recv_count--;
    return 0;
}

static int parse_recv(RdmaChannel *rc, unsigned slot, uint32_t len, MigRdmaMsg *msg)
{
    g_autoptr(GError) err = NULL;

    if (!mig_rdma_msg_parse(rdmach_recv_buf(rc, slot), len, msg, &err)) {
        g_printerr("kvmig: %s: %s\n", rc->base.desc, err->message);
        return rdmach_set_err(rc, -EPROTO);
    }
    return 0;
}

/*
 * Source: wait for the peer's message of @type (a reply).  STREAM bytes
 * arriving meanwhile (the destination's return path) are kept for read().
 * On success the caller owns @slot and must post_recv it when done.
 */
int rdmach_wait_reply(RdmaChannel *rc, uint32_t type, unsigned *slot, MigRdmaMsg *msg)
{
    for (;;) {
        uint32_t len;
        int ret = next_recv(rc, slot, &len);

        if (ret < 0 || (ret = parse_recv(rc, *slot, len, msg)) < 0) {
            return ret;
        }
        if (msg->type == type) {
            return 0;
        }
        if (msg->type != MIG_RDMA_MSG_STREAM) {
            g_printerr("kvmig: %s: expected an RDMA %s message, got %s\n", rc->base.desc,
                       mig_rdma_msg_name(type), mig_rdma_msg_name(msg->type));
            return rdmach_set_err(rc, -EPROTO);
        }
        g_byte_array_append(rc->stash, msg->payload, msg->len);
        if ((ret = rdmach_post_recv(rc, *slot)) < 0) {
            return ret;
        }
    }
}

/* ---- registration ---- */

static struct ibv_mr *reg(RdmaChannel *rc, void *addr, size_t len, bool remote)
{
    /*
     * LOCAL_WRITE on the source too: it makes the kernel pin writable pages,
     * breaking copy-on-write of never-touched pages now, so a later guest
     * write cannot leave the registration pointing at a stale page.
     */
    return ibv_reg_mr(rc->pd, addr, len,
                      IBV_ACCESS_LOCAL_WRITE | (remote ? IBV_ACCESS_REMOTE_WRITE : 0));
}

bool rdmach_setup_map(RdmaChannel *rc, GError **errp)
{
    Machine *m = rc->m;
    uint64_t lens[MIG_RDMA_MAX_BLOCKS];

    if (m->nr_ram_blocks > MIG_RDMA_MAX_BLOCKS) {
        kvmig_error(errp, "RDMA migration supports %d RAM blocks, this machine has %u",
                    MIG_RDMA_MAX_BLOCKS, m->nr_ram_blocks);
        return false;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        lens[i] = m->ram_blocks[i]->used_length;
    }
    rc->map = mig_rdma_chunk_map_new(lens, m->nr_ram_blocks);
    rc->block_mr = g_new0(struct ibv_mr *, m->nr_ram_blocks);
    if (!rc->pin_all) {
        return true;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];

        rc->block_mr[i] = reg(rc, rb->host, rb->used_length, rc->incoming);
        if (!rc->block_mr[i]) {
            kvmig_error_errno(errp, errno, "rdma-pin-all: registering RAM block '%s' "
                              "(%" G_GUINT64_FORMAT " MiB)", rb->idstr,
                              rb->used_length >> 20);
            return false;
        }
    }
    return true;
}

/* Destination: pin one chunk (or find its registration) for the source. */
static void register_chunk(RdmaChannel *rc, const MigRdmaRegRequest *req,
                           MigRdmaRegResult *res)
{
    MigRdmaChunk *ch = mig_rdma_chunk_get(rc->map, req->block, req->chunk);
    uint64_t start, len;
    RAMBlock *rb;

    memset(res, 0, sizeof(*res));
    if (!ch) {
        res->status = EINVAL;
        return;
    }
    rb = rc->m->ram_blocks[req->block];
    mig_rdma_chunk_range(rb->used_length, req->chunk, &start, &len);
    res->addr = (uintptr_t)rb->host + start;
    if (rc->block_mr[req->block]) {
        res->rkey = rc->block_mr[req->block]->rkey;
        return;
    }
    if (!ch->mr) {
        ch->mr = reg(rc, rb->host + start, len, true);
        if (!ch->mr) {
            res->status = errno ? errno : ENOMEM;
            return;
        }
        rc->map->registered_bytes += len;
    }
    res->rkey = ((struct ibv_mr *)ch->mr)->rkey;
}

static void unregister_chunk(RdmaChannel *rc, MigRdmaChunk *ch, uint64_t len)
{
    if (ch && ch->mr) {
        ibv_dereg_mr(ch->mr);
        ch->mr = NULL;
        ch->remote_ok = false;
        rc->map->registered_bytes -= len;
    }
}

void rdmach_unregister_all(RdmaChannel *rc)
{
    if (!rc->map) {
        return;
    }
    for (unsigned b = 0; b < rc->map->nblocks; b++) {
        for (uint64_t c = 0; c < rc->map->nchunks[b]; c++) {
            uint64_t start, len;

            mig_rdma_chunk_range(rc->map->block_len[b], c, &start, &len);
            unregister_chunk(rc, &rc->map->chunks[b][c], len);
        }
        if (rc->block_mr[b]) {
            ibv_dereg_mr(rc->block_mr[b]);
            rc->block_mr[b] = NULL;
        }
    }
}

/* Source: make sure chunk @c of block @b is registered here and there. */
static int ensure_chunk(RdmaChannel *rc, uint32_t b, uint64_t c)
{
    MigRdmaChunk *ch = mig_rdma_chunk_get(rc->map, b, c);
    RAMBlock *rb = rc->m->ram_blocks[b];
    MigRdmaRegRequest req = { .block = b, .chunk = c };
    MigRdmaRegResult res;
    MigRdmaMsg msg;
    uint64_t start, len;
    unsigned slot;
    int ret;

    if (rc->pin_all || ch->remote_ok) {
        return 0;
    }
    mig_rdma_chunk_range(rb->used_length, c, &start, &len);
    if (!ch->mr) {
        ch->mr = reg(rc, rb->host + start, len, false);
        if (!ch->mr) {
            g_printerr("kvmig: %s: registering 1 MiB of RAM block '%s' at 0x%"
                       G_GINT64_MODIFIER "x: %s\n", rc->base.desc, rb->idstr, start,
                       g_strerror(errno));
            return rdmach_set_err(rc, errno ? -errno : -ENOMEM);
        }
        rc->map->registered_bytes += len;
    }
    ret = rdmach_get_send_slot(rc);
    if (ret < 0) {
        return ret;
    }
    mig_rdma_put_reg_request(rdmach_send_buf(rc, ret) + MIG_RDMA_HDR_SIZE, &req);
    ret = rdmach_post_send(rc, ret, MIG_RDMA_MSG_REGISTER_REQUEST, 1, MIG_RDMA_REG_ENTRY_SIZE);
    if (ret < 0 || (ret = rdmach_wait_reply(rc, MIG_RDMA_MSG_REGISTER_RESULT, &slot, &msg)) < 0) {
        return ret;
    }
    mig_rdma_msg_reg_result(&msg, 0, &res);
    if ((ret = rdmach_post_recv(rc, slot)) < 0) {
        return ret;
    }
    if (res.status || res.addr + len < res.addr) {
        g_printerr("kvmig: %s: the destination could not pin 1 MiB of RAM block '%s' at "
                   "0x%" G_GINT64_MODIFIER "x: %s (check its RLIMIT_MEMLOCK)\n",
                   rc->base.desc, rb->idstr, start,
                   g_strerror(res.status ? res.status : EINVAL));
        return rdmach_set_err(rc, -(int)(res.status && res.status < 4096 ? res.status : EPROTO));
    }
    ch->rkey = res.rkey;
    ch->raddr = res.addr;
    ch->remote_ok = true;
    return 0;
}

/* ---- RDMA WRITE ---- */

int rdmach_post_pending_write(RdmaChannel *rc)
{
    MigRdmaWrite *w = &rc->pending;
    uint64_t c = mig_rdma_chunk_of(w->offset);
    MigRdmaChunk *ch;
    struct ibv_sge sge;
    struct ibv_send_wr wr = {
        .wr_id = WRID_WRITE, .sg_list = &sge, .num_sge = 1,
        .opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
    }, *bad;
    int ret;

    if (!w->pending) {
        return 0;
    }
    w->pending = false;
    ch = mig_rdma_chunk_get(rc->map, w->block, c);
    sge.addr = (uintptr_t)w->host;
    sge.length = w->len;
    if (rc->pin_all) {
        sge.lkey = rc->block_mr[w->block]->lkey;
        wr.wr.rdma.remote_addr = rc->remote[w->block].addr + w->offset;
        wr.wr.rdma.rkey = rc->remote[w->block].rkey;
    } else {
        sge.lkey = ((struct ibv_mr *)ch->mr)->lkey;
        wr.wr.rdma.remote_addr = ch->raddr + (w->offset - (c << MIG_RDMA_CHUNK_SHIFT));
        wr.wr.rdma.rkey = ch->rkey;
    }
    while (rc->writes_outstanding >= RDMA_MAX_WRITES) {
        if ((ret = rdmach_wait_progress(rc)) < 0) {
            return ret;
        }
    }
    ret = ibv_post_send(rc->id->qp, &wr, &bad);
    if (ret) {
        return rdmach_set_err(rc, -ret);
    }
    rc->writes_outstanding++;
    return 0;
}

int rdmach_write_page(MigChannel *c, unsigned block, uint64_t offset,
                           const void *host, size_t len)
{
    RdmaChannel *rc = (RdmaChannel *)c;
    unsigned slot;
    MigRdmaMsg msg;
    int ret;

    if (rc->incoming || !rc->connected) {
        return -EBADF;
    }
    if (rc->err) {
        return rc->err;
    }
    if (block >= rc->map->nblocks || offset + len > rc->map->block_len[block] ||
        !mig_rdma_range_in_one_chunk(offset, len) ||
        (const uint8_t *)host != rc->m->ram_blocks[block]->host + offset) {
        return -EINVAL;
    }
    if (mig_rdma_write_can_merge(&rc->pending, block, offset, host, len)) {
        rc->pending.len += len;
        return 0;
    }
    if ((ret = rdmach_post_pending_write(rc)) < 0) {
        return ret;
    }
    if (rc->need_sync) {
        /* see the top of the file: earlier records first */
        if ((ret = rdmach_send_msg(rc, MIG_RDMA_MSG_SYNC, 0, NULL, 0)) < 0 ||
            (ret = rdmach_wait_reply(rc, MIG_RDMA_MSG_SYNC, &slot, &msg)) < 0 ||
            (ret = rdmach_post_recv(rc, slot)) < 0) {
            return ret;
        }
        rc->need_sync = false;
    }
    if ((ret = ensure_chunk(rc, block, mig_rdma_chunk_of(offset))) < 0) {
        return ret;
    }
    rc->pending = (MigRdmaWrite) {
        .pending = true, .block = block, .offset = offset, .host = host, .len = len,
    };
    return 0;
}

/* ---- stream bytes ---- */

int rdmach_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
{
    RdmaChannel *rc = (RdmaChannel *)c;
    int i = 0, ret;
    size_t done = 0;

    if (!rc->connected) {
        return -ENOTCONN;
    }
    if (rc->err) {
        return rc->err;
    }
    /* pages merged so far land before these bytes */
    if ((ret = rdmach_post_pending_write(rc)) < 0) {
        return ret;
    }
    while (i < iovcnt) {
        int slot = rdmach_get_send_slot(rc);
        uint32_t fill = 0;

        if (slot < 0) {
            return slot;
        }
        while (i < iovcnt && fill < MIG_RDMA_PAYLOAD_MAX) {
            size_t n = MIN(iov[i].iov_len - done, MIG_RDMA_PAYLOAD_MAX - fill);

            memcpy(rdmach_send_buf(rc, slot) + MIG_RDMA_HDR_SIZE + fill,
                   (const uint8_t *)iov[i].iov_base + done, n);
            fill += n;
            done += n;
            if (done == iov[i].iov_len) {
                i++;
                done = 0;
            }
        }
        if (!fill) {
            break;
        }
        if ((ret = rdmach_post_send(rc, slot, MIG_RDMA_MSG_STREAM, 0, fill)) < 0) {
            return ret;
        }
        rc->need_sync = !rc->incoming;
    }
    return 0;
}

/* Destination: the source's requests, served from read(). */
static int serve_request(RdmaChannel *rc, const MigRdmaMsg *msg)
{
    switch (msg->type) {
    case MIG_RDMA_MSG_REGISTER_REQUEST: {
        int slot = rdmach_get_send_slot(rc);

        if (slot < 0) {
            return slot;
        }
        for (uint32_t i = 0; i < msg->repeat; i++) {
            MigRdmaRegRequest req;
            MigRdmaRegResult res;

            mig_rdma_msg_reg_request(msg, i, &req);
            register_chunk(rc, &req, &res);
            mig_rdma_put_reg_result(rdmach_send_buf(rc, slot) + MIG_RDMA_HDR_SIZE +
                                    i * MIG_RDMA_REG_ENTRY_SIZE, &res);
        }
        return rdmach_post_send(rc, slot, MIG_RDMA_MSG_REGISTER_RESULT, msg->repeat,
                         msg->repeat * MIG_RDMA_REG_ENTRY_SIZE);
    }
    case MIG_RDMA_MSG_UNREGISTER:
        for (uint32_t i = 0; i < msg->repeat; i++) {
            MigRdmaRegRequest req;
            uint64_t start, len;
            MigRdmaChunk *ch;

            mig_rdma_msg_reg_request(msg, i, &req);
            ch = mig_rdma_chunk_get(rc->map, req.block, req.chunk);
            if (ch) {
                mig_rdma_chunk_range(rc->map->block_len[req.block], req.chunk, &start, &len);
                unregister_chunk(rc, ch, len);
            }
        }
        return 0;
    case MIG_RDMA_MSG_REGISTER_FINISHED:
        /* no WRITE follows: the guest's memory need not stay pinned */
        rdmach_unregister_all(rc);
        return 0;
    case MIG_RDMA_MSG_SYNC:
        /* read() is called again: every byte before this one was applied */
        return rdmach_send_msg(rc, MIG_RDMA_MSG_SYNC, 0, NULL, 0);
    default:
        g_printerr("kvmig: %s: unexpected RDMA %s message from the source\n",
                   rc->base.desc, mig_rdma_msg_name(msg->type));
        return rdmach_set_err(rc, -EPROTO);
    }
}

ssize_t rdmach_read(MigChannel *c, void *buf, size_t len)
{
    RdmaChannel *rc = (RdmaChannel *)c;

    if (!rc->connected) {
        return -ENOTCONN;
    }
    for (;;) {
        MigRdmaMsg msg;
        unsigned slot;
        uint32_t mlen;
        int ret;

        if (rc->stash_pos < rc->stash->len) {
            size_t n = MIN(len, rc->stash->len - rc->stash_pos);

            memcpy(buf, rc->stash->data + rc->stash_pos, n);
            rc->stash_pos += n;
            if (rc->stash_pos == rc->stash->len) {
                g_byte_array_set_size(rc->stash, 0);
                rc->stash_pos = 0;
            }
            return n;
        }
        if (rc->cur_slot >= 0) {
            size_t n = MIN(len, rc->cur_len - rc->cur_pos);

            memcpy(buf, rdmach_recv_buf(rc, rc->cur_slot) + MIG_RDMA_HDR_SIZE + rc->cur_pos, n);
            rc->cur_pos += n;
            if (rc->cur_pos == rc->cur_len) {
                slot = rc->cur_slot;
                rc->cur_slot = -1;
                if ((ret = rdmach_post_recv(rc, slot)) < 0 && !rc->peer_gone) {
                    return ret;
                }
            }
            return n;
        }
        ret = next_recv(rc, &slot, &mlen);
        if (ret < 0) {
            /* the peer closed the connection: the end of the stream */
            return rc->peer_gone ? 0 : ret;
        }
        if ((ret = parse_recv(rc, slot, mlen, &msg)) < 0) {
            return ret;
        }
        if (msg.type == MIG_RDMA_MSG_STREAM) {
            rc->cur_slot = slot;
            rc->cur_pos = 0;
            rc->cur_len = msg.len;
            continue;
        }
        if (!rc->incoming) {
            g_printerr("kvmig: %s: unexpected RDMA %s message from the destination\n",
                       rc->base.desc, mig_rdma_msg_name(msg.type));
            return rdmach_set_err(rc, -EPROTO);
        }
        if ((ret = serve_request(rc, &msg)) < 0 || (ret = rdmach_post_recv(rc, slot)) < 0) {
            return ret;
        }
    }
}
