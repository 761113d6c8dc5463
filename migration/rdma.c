/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rdma: transport over librdmacm and libibverbs: connection management,
 * a control channel of SEND/RECV messages carrying the migration stream
 * and chunk registration, and guest RAM moved by RDMA WRITE into the
 * destination's registered memory, 1 MiB chunks registered on demand (or
 * all of RAM up front with rdma-pin-all).
 *
 * Threads: a channel belongs to the migration thread (source) or the
 * incoming thread (destination), like every MigChannel.  Only shutdown is
 * called from other threads: it writes wake_fd, which every wait polls.
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
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "migration/rdma-proto.h"
#include "migration/rdma.h"
#include "util/error.h"

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

/* ---- prechecks ---- */

static bool has_cap_ipc_lock(void)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2] = { { 0 } };

    if (syscall(SYS_capget, &hdr, data) < 0) {
        return false;
    }
    return data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

static uint64_t machine_ram_bytes(Machine *m)
{
    uint64_t total = 0;

    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        total += m->ram_blocks[i]->used_length;
    }
    return total;
}

static void no_device(const MigUri *u, const char *why, GError **errp)
{
    kvmig_error(errp, "RDMA migration on rdma:%s:%s: no RDMA device was found (%s); "
                "load the driver of an InfiniBand, RoCE or iWARP adapter, or set up "
                "Soft-RoCE: modprobe rdma_rxe && rdma link add rxe0 type rxe netdev "
                "<interface>", u->host, u->port, why);
}

bool mig_rdma_precheck(const MigUri *u, Machine *m, GError **errp)
{
    struct ibv_device **list;
    struct rlimit rl;
    int n = 0;

    errno = 0;
    list = ibv_get_device_list(&n);
    if (!list || n == 0) {
        int e = errno;
        if (list) {
            ibv_free_device_list(list);
        }
        no_device(u, !list && e == ENOSYS ? "the kernel has no RDMA support" :
                  !list && e ? g_strerror(e) : "ibv_get_device_list lists none", errp);
        return false;
    }
    ibv_free_device_list(list);
    if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0) {
        kvmig_error_errno(errp, errno, "RDMA migration: reading RLIMIT_MEMLOCK");
        return false;
    }
    return mig_rdma_memlock_check(rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur,
                                  has_cap_ipc_lock(),
                                  mig_rdma_memlock_needed(machine_ram_bytes(m)), errp);
}

/* ---- completions and events ---- */

static uint8_t *recv_buf(RdmaChannel *rc, unsigned slot)
{
    return rc->ctl + (size_t)slot * MIG_RDMA_MSG_MAX;
}

static uint8_t *send_buf(RdmaChannel *rc, unsigned slot)
{
    return rc->ctl + (size_t)(MIG_RDMA_RECV_SLOTS + slot) * MIG_RDMA_MSG_MAX;
}

static int set_err(RdmaChannel *rc, int err)
{
    if (!rc->err) {
        rc->err = err;
    }
    return rc->err;
}

static int post_recv(RdmaChannel *rc, unsigned slot)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)recv_buf(rc, slot), .length = MIG_RDMA_MSG_MAX,
        .lkey = rc->ctl_mr->lkey,
    };
    struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 }, *bad;
    int ret = ibv_post_recv(rc->id->qp, &wr, &bad);

    return ret ? set_err(rc, -ret) : 0;
}

static int completion_failed(RdmaChannel *rc, const struct ibv_wc *wc)
{
    if (wc->status == IBV_WC_WR_FLUSH_ERR) {
        /* the QP went to error: the connection is gone */
        rc->peer_gone = true;
        return set_err(rc, -ECONNRESET);
    }
    g_printerr("kvmig: %s: RDMA %s failed: %s\n", rc->base.desc,
               wc->wr_id == WRID_WRITE ? "WRITE" : wc->wr_id >> 32 ? "SEND" : "RECV",
               ibv_wc_status_str(wc->status));
    return set_err(rc, -EIO);
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
        return set_err(rc, -EIO);
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
    return n < 0 ? set_err(rc, -EIO) : done;
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
            return set_err(rc, -ECONNRESET);
        }
    }
    return 0;
}

/*
 * Wait until at least one completion was reaped (returns 0), or the
 * connection failed or was shut down (-errno).
 */
static int wait_progress(RdmaChannel *rc)
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
            return set_err(rc, -EIO);
        }
        /* a completion may have come between the poll and the arming */
        n = poll_cqs(rc);
        if (n != 0) {
            return n < 0 ? n : 0;
        }
        if (poll(pfd, 3, RDMA_POLL_MS) < 0 && errno != EINTR) {
            return set_err(rc, -errno);
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

static int get_send_slot(RdmaChannel *rc)
{
    for (;;) {
        for (int i = 0; i < MIG_RDMA_SEND_SLOTS; i++) {
            if (!rc->send_busy[i]) {
                return i;
            }
        }
        int ret = wait_progress(rc);
        if (ret < 0) {
            return ret;
        }
    }
}

/* Post the message already written after the header of send slot @slot. */
static int post_send(RdmaChannel *rc, int slot, uint32_t type, uint32_t repeat, uint32_t len)
{
    struct ibv_sge sge = {
        .addr = (uintptr_t)send_buf(rc, slot), .length = MIG_RDMA_HDR_SIZE + len,
        .lkey = rc->ctl_mr->lkey,
    };
    struct ibv_send_wr wr = {
        .wr_id = WRID_SEND(slot), .sg_list = &sge, .num_sge = 1,
        .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
    }, *bad;
    int ret;

    mig_rdma_msg_put_header(send_buf(rc, slot), type, repeat, len);
    ret = ibv_post_send(rc->id->qp, &wr, &bad);
    if (ret) {
        return set_err(rc, -ret);
    }
    rc->send_busy[slot] = true;
    rc->sends_outstanding++;
    return 0;
}

static int send_msg(RdmaChannel *rc, uint32_t type, uint32_t repeat, const void *payload,
                    uint32_t len)
{
    int slot = get_send_slot(rc);

    if (slot < 0) {
        return slot;
    }
    if (len) {
        memcpy(send_buf(rc, slot) + MIG_RDMA_HDR_SIZE, payload, len);
    }
    return post_send(rc, slot, type, repeat, len);
}

/* The oldest received message, waiting for one if needed. */
static int next_recv(RdmaChannel *rc, unsigned *slot, uint32_t *len)
{
    while (!rc->recv_count) {
        int ret = wait_progress(rc);
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

    if (!mig_rdma_msg_parse(recv_buf(rc, slot), len, msg, &err)) {
        g_printerr("kvmig: %s: %s\n", rc->base.desc, err->message);
        return set_err(rc, -EPROTO);
    }
    return 0;
}

/*
 * Source: wait for the peer's message of @type (a reply).  STREAM bytes
 * arriving meanwhile (the destination's return path) are kept for read().
 * On success the caller owns @slot and must post_recv it when done.
 */
static int wait_reply(RdmaChannel *rc, uint32_t type, unsigned *slot, MigRdmaMsg *msg)
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
            return set_err(rc, -EPROTO);
        }
        g_byte_array_append(rc->stash, msg->payload, msg->len);
        if ((ret = post_recv(rc, *slot)) < 0) {
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

static bool setup_map(RdmaChannel *rc, GError **errp)
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

static void unregister_all(RdmaChannel *rc)
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
            return set_err(rc, errno ? -errno : -ENOMEM);
        }
        rc->map->registered_bytes += len;
    }
    ret = get_send_slot(rc);
    if (ret < 0) {
        return ret;
    }
    mig_rdma_put_reg_request(send_buf(rc, ret) + MIG_RDMA_HDR_SIZE, &req);
    ret = post_send(rc, ret, MIG_RDMA_MSG_REGISTER_REQUEST, 1, MIG_RDMA_REG_ENTRY_SIZE);
    if (ret < 0 || (ret = wait_reply(rc, MIG_RDMA_MSG_REGISTER_RESULT, &slot, &msg)) < 0) {
        return ret;
    }
    mig_rdma_msg_reg_result(&msg, 0, &res);
    if ((ret = post_recv(rc, slot)) < 0) {
        return ret;
    }
    if (res.status || res.addr + len < res.addr) {
        g_printerr("kvmig: %s: the destination could not pin 1 MiB of RAM block '%s' at "
                   "0x%" G_GINT64_MODIFIER "x: %s (check its RLIMIT_MEMLOCK)\n",
                   rc->base.desc, rb->idstr, start,
                   g_strerror(res.status ? res.status : EINVAL));
        return set_err(rc, -(int)(res.status && res.status < 4096 ? res.status : EPROTO));
    }
    ch->rkey = res.rkey;
    ch->raddr = res.addr;
    ch->remote_ok = true;
    return 0;
}

/* ---- RDMA WRITE ---- */

static int post_pending_write(RdmaChannel *rc)
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
        if ((ret = wait_progress(rc)) < 0) {
            return ret;
        }
    }
    ret = ibv_post_send(rc->id->qp, &wr, &bad);
    if (ret) {
        return set_err(rc, -ret);
    }
    rc->writes_outstanding++;
    return 0;
}

static int rdma_write_page(MigChannel *c, unsigned block, uint64_t offset,
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
    if ((ret = post_pending_write(rc)) < 0) {
        return ret;
    }
    if (rc->need_sync) {
        /* see the top of the file: earlier records first */
        if ((ret = send_msg(rc, MIG_RDMA_MSG_SYNC, 0, NULL, 0)) < 0 ||
            (ret = wait_reply(rc, MIG_RDMA_MSG_SYNC, &slot, &msg)) < 0 ||
            (ret = post_recv(rc, slot)) < 0) {
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

static int rdma_writev(MigChannel *c, const struct iovec *iov, int iovcnt)
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
    if ((ret = post_pending_write(rc)) < 0) {
        return ret;
    }
    while (i < iovcnt) {
        int slot = get_send_slot(rc);
        uint32_t fill = 0;

        if (slot < 0) {
            return slot;
        }
        while (i < iovcnt && fill < MIG_RDMA_PAYLOAD_MAX) {
            size_t n = MIN(iov[i].iov_len - done, MIG_RDMA_PAYLOAD_MAX - fill);

            memcpy(send_buf(rc, slot) + MIG_RDMA_HDR_SIZE + fill,
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
        if ((ret = post_send(rc, slot, MIG_RDMA_MSG_STREAM, 0, fill)) < 0) {
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
        int slot = get_send_slot(rc);

        if (slot < 0) {
            return slot;
        }
        for (uint32_t i = 0; i < msg->repeat; i++) {
            MigRdmaRegRequest req;
            MigRdmaRegResult res;

            mig_rdma_msg_reg_request(msg, i, &req);
            register_chunk(rc, &req, &res);
            mig_rdma_put_reg_result(send_buf(rc, slot) + MIG_RDMA_HDR_SIZE +
                                    i * MIG_RDMA_REG_ENTRY_SIZE, &res);
        }
        return post_send(rc, slot, MIG_RDMA_MSG_REGISTER_RESULT, msg->repeat,
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
        unregister_all(rc);
        return 0;
    case MIG_RDMA_MSG_SYNC:
        /* read() is called again: every byte before this one was applied */
        return send_msg(rc, MIG_RDMA_MSG_SYNC, 0, NULL, 0);
    default:
        g_printerr("kvmig: %s: unexpected RDMA %s message from the source\n",
                   rc->base.desc, mig_rdma_msg_name(msg->type));
        return set_err(rc, -EPROTO);
    }
}

static ssize_t rdma_read(MigChannel *c, void *buf, size_t len)
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

            memcpy(buf, recv_buf(rc, rc->cur_slot) + MIG_RDMA_HDR_SIZE + rc->cur_pos, n);
            rc->cur_pos += n;
            if (rc->cur_pos == rc->cur_len) {
                slot = rc->cur_slot;
                rc->cur_slot = -1;
                if ((ret = post_recv(rc, slot)) < 0 && !rc->peer_gone) {
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
            return set_err(rc, -EPROTO);
        }
        if ((ret = serve_request(rc, &msg)) < 0 || (ret = post_recv(rc, slot)) < 0) {
            return ret;
        }
    }
}

/* ---- shutdown and close ---- */

static void rdma_shutdown(MigChannel *c)
{
    RdmaChannel *rc = (RdmaChannel *)c;
    uint64_t one = 1;

    /* best effort: the shut flag is also checked by every wait */
    if (write(rc->wake_fd, &one, sizeof(one)) < 0) {
        return;
    }
}

/*
 * Clean end: what was posted gets delivered before the QP goes (the
 * destination's last message is the DONE the source waits for).  The
 * source also tells the destination that no WRITE follows.
 */
static void drain(RdmaChannel *rc)
{
    int64_t deadline = g_get_monotonic_time() + RDMA_CLOSE_DRAIN_MS * 1000;

    if (!rc->incoming && (post_pending_write(rc) < 0 ||
        send_msg(rc, MIG_RDMA_MSG_REGISTER_FINISHED, 0, NULL, 0) < 0)) {
        return;
    }
    while ((rc->writes_outstanding || rc->sends_outstanding) &&
           g_get_monotonic_time() < deadline) {
        if (wait_progress(rc) < 0) {
            return;
        }
    }
}

static int rdma_close(MigChannel *c)
{
    RdmaChannel *rc = (RdmaChannel *)c;
    int ret = rc->err && !rc->peer_gone ? rc->err : 0;

    if (rc->connected && !rc->err && !__atomic_load_n(&c->shut, __ATOMIC_ACQUIRE)) {
        drain(rc);
    }
    if (rc->connected) {
        rdma_disconnect(rc->id);
    }
    if (rc->id && rc->id->qp) {
        rdma_destroy_qp(rc->id);
    }
    unregister_all(rc);
    if (rc->ctl_mr) {
        ibv_dereg_mr(rc->ctl_mr);
    }
    if (rc->send_cq) {
        ibv_destroy_cq(rc->send_cq);
    }
    if (rc->recv_cq) {
        ibv_destroy_cq(rc->recv_cq);
    }
    if (rc->comp) {
        ibv_destroy_comp_channel(rc->comp);
    }
    if (rc->pd) {
        ibv_dealloc_pd(rc->pd);
    }
    if (rc->id) {
        rdma_destroy_id(rc->id);
    }
    if (rc->listen_id) {
        rdma_destroy_id(rc->listen_id);
    }
    if (rc->ec) {
        rdma_destroy_event_channel(rc->ec);
    }
    if (rc->wake_fd >= 0) {
        close(rc->wake_fd);
    }
    mig_rdma_chunk_map_free(rc->map);
    g_free(rc->block_mr);
    g_free(rc->remote);
    free(rc->ctl);
    g_byte_array_unref(rc->stash);
    g_free(c->desc);
    g_free(rc);
    return ret;
}

static const MigChannelOps rdma_ops = {
    .read = rdma_read,
    .writev = rdma_writev,
    .shutdown = rdma_shutdown,
    .close = rdma_close,
    .write_page = rdma_write_page,
};

/* ---- connection setup ---- */

static RdmaChannel *rdma_channel_new(const MigUri *u, Machine *m, bool incoming,
                                     GError **errp)
{
    RdmaChannel *rc = g_new0(RdmaChannel, 1);
    bool v6 = strchr(u->host, ':') != NULL;

    rc->base.ops = &rdma_ops;
    rc->base.desc = g_strdup_printf(v6 ? "rdma:[%s]:%s" : "rdma:%s:%s", u->host, u->port);
    rc->base.bidirectional = true;
    rc->incoming = incoming;
    rc->m = m;
    rc->cur_slot = -1;
    rc->stash = g_byte_array_new();
    rc->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (rc->wake_fd < 0) {
        kvmig_error_errno(errp, errno, "%s: eventfd", rc->base.desc);
        rdma_close(&rc->base);
        return NULL;
    }
    errno = 0;
    rc->ec = rdma_create_event_channel();
    if (!rc->ec) {
        g_autofree char *why = g_strdup_printf("rdma_create_event_channel: %s",
                                               g_strerror(errno ? errno : ENODEV));
        no_device(u, why, errp);
        rdma_close(&rc->base);
        return NULL;
    }
    return rc;
}

/* Wait for the next CM event (ack it with rdma_ack_cm_event), or fail. */
static bool get_cm_event(RdmaChannel *rc, int timeout_ms, struct rdma_cm_event **ev,
                         const char *what, GError **errp)
{
    int64_t deadline = timeout_ms < 0 ? 0 : g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = rc->ec->fd, .events = POLLIN },
            { .fd = rc->wake_fd, .events = POLLIN },
        };
        int n;

        if (__atomic_load_n(&rc->base.shut, __ATOMIC_ACQUIRE)) {
            kvmig_error(errp, "%s: %s: cancelled", rc->base.desc, what);
            return false;
        }
        if (deadline && g_get_monotonic_time() >= deadline) {
            kvmig_error(errp, "%s: %s: timed out after %d ms", rc->base.desc, what,
                        timeout_ms);
            return false;
        }
        n = poll(pfd, 2, RDMA_POLL_MS);
        if (n < 0 && errno != EINTR) {
            kvmig_error_errno(errp, errno, "%s: waiting for %s", rc->base.desc, what);
            return false;
        }
        if (n > 0 && pfd[0].revents) {
            if (rdma_get_cm_event(rc->ec, ev) == 0) {
                return true;
            }
            if (errno != EAGAIN && errno != EINTR) {
                kvmig_error_errno(errp, errno, "%s: rdma_get_cm_event", rc->base.desc);
                return false;
            }
        }
    }
}

/* The next event must be @want (on any id); otherwise a one-line reason. */
static bool expect_event(RdmaChannel *rc, enum rdma_cm_event_type want, int timeout_ms,
                         struct rdma_cm_event **out, const char *what, GError **errp)
{
    struct rdma_cm_event *ev;

    if (!get_cm_event(rc, timeout_ms, &ev, what, errp)) {
        return false;
    }
    if (ev->event != want) {
        kvmig_error(errp, "%s: %s failed: %s (status %d)%s", rc->base.desc, what,
                    rdma_event_str(ev->event), ev->status,
                    ev->event == RDMA_CM_EVENT_REJECTED ?
                    ": is the destination listening with -incoming rdma:HOST:PORT?" : "");
        rdma_ack_cm_event(ev);
        return false;
    }
    if (out) {
        *out = ev;
    } else {
        rdma_ack_cm_event(ev);
    }
    return true;
}

/* PD, CQs, QP and control buffers on @id's device; receives posted. */
static bool setup_verbs(RdmaChannel *rc, struct rdma_cm_id *id, GError **errp)
{
    struct ibv_qp_init_attr attr = {
        .qp_type = IBV_QPT_RC,
        .cap = {
            .max_send_wr = RDMA_SEND_DEPTH, .max_recv_wr = MIG_RDMA_RECV_SLOTS,
            .max_send_sge = 1, .max_recv_sge = 1,
        },
    };
    size_t ctl_size = (size_t)(MIG_RDMA_RECV_SLOTS + MIG_RDMA_SEND_SLOTS) * MIG_RDMA_MSG_MAX;
    const char *what;

    rc->id = id;
    what = "ibv_alloc_pd";
    if (!(rc->pd = ibv_alloc_pd(id->verbs))) {
        goto fail;
    }
    what = "ibv_create_comp_channel";
    if (!(rc->comp = ibv_create_comp_channel(id->verbs))) {
        goto fail;
    }
    fcntl(rc->comp->fd, F_SETFL, fcntl(rc->comp->fd, F_GETFL) | O_NONBLOCK);
    what = "ibv_create_cq";
    rc->send_cq = ibv_create_cq(id->verbs, RDMA_SEND_DEPTH, NULL, rc->comp, 0);
    rc->recv_cq = ibv_create_cq(id->verbs, MIG_RDMA_RECV_SLOTS, NULL, rc->comp, 0);
    if (!rc->send_cq || !rc->recv_cq) {
        goto fail;
    }
    attr.send_cq = rc->send_cq;
    attr.recv_cq = rc->recv_cq;
    what = "rdma_create_qp";
    if (rdma_create_qp(id, rc->pd, &attr)) {
        goto fail;
    }
    what = "registering the control buffers";
    if (posix_memalign((void **)&rc->ctl, 4096, ctl_size)) {
        errno = ENOMEM;
        goto fail;
    }
    if (!(rc->ctl_mr = ibv_reg_mr(rc->pd, rc->ctl, ctl_size, IBV_ACCESS_LOCAL_WRITE))) {
        goto fail;
    }
    for (unsigned i = 0; i < MIG_RDMA_RECV_SLOTS; i++) {
        if (post_recv(rc, i) < 0) {
            errno = -rc->err;
            what = "ibv_post_recv";
            goto fail;
        }
    }
    fcntl(rc->ec->fd, F_SETFL, fcntl(rc->ec->fd, F_GETFL) | O_NONBLOCK);
    return setup_map(rc, errp);

fail:
    kvmig_error_errno(errp, errno ? errno : EIO, "%s: %s", rc->base.desc, what);
    return false;
}

static struct rdma_addrinfo *resolve(const MigUri *u, bool passive, const char *desc,
                                     GError **errp)
{
    struct rdma_addrinfo hints = {
        .ai_flags = passive ? RAI_PASSIVE : 0, .ai_port_space = RDMA_PS_TCP,
    };
    struct rdma_addrinfo *res = NULL;

    if (rdma_getaddrinfo(u->host, u->port, &hints, &res) || !res) {
        kvmig_error_errno(errp, errno ? errno : EHOSTUNREACH,
                          "%s: address resolution failed", desc);
        return NULL;
    }
    return res;
}

MigChannel *mig_rdma_connect(const MigUri *u, Machine *m, bool pin_all, GError **errp)
{
    RdmaChannel *rc;
    struct rdma_addrinfo *res;
    struct rdma_cm_event *ev;
    uint8_t caps_buf[MIG_RDMA_CAPS_SIZE];
    MigRdmaCaps caps = { .version = MIG_RDMA_VERSION, .flags = pin_all ? MIG_RDMA_CAP_PIN_ALL : 0 };
    struct rdma_conn_param param = {
        .private_data = caps_buf, .private_data_len = sizeof(caps_buf),
        .retry_count = 7,
        .rnr_retry_count = 7,   /* a receiver without a posted buffer: retry forever */
    };
    MigRdmaMsg msg;
    unsigned slot;
    bool ok;

    if (!mig_rdma_precheck(u, m, errp) || !(rc = rdma_channel_new(u, m, false, errp))) {
        return NULL;
    }
    res = resolve(u, false, rc->base.desc, errp);
    if (!res) {
        goto fail;
    }
    if (rdma_create_id(rc->ec, &rc->id, rc, RDMA_PS_TCP)) {
        kvmig_error_errno(errp, errno, "%s: rdma_create_id", rc->base.desc);
        rdma_freeaddrinfo(res);
        goto fail;
    }
    ok = rdma_resolve_addr(rc->id, res->ai_src_addr, res->ai_dst_addr, RDMA_TIMEOUT_MS) == 0;
    rdma_freeaddrinfo(res);
    if (!ok) {
        kvmig_error_errno(errp, errno, "%s: rdma_resolve_addr", rc->base.desc);
        goto fail;
    }
    if (!expect_event(rc, RDMA_CM_EVENT_ADDR_RESOLVED, RDMA_TIMEOUT_MS * 2, NULL,
                      "resolving the address", errp)) {
        goto fail;
    }
    if (rdma_resolve_route(rc->id, RDMA_TIMEOUT_MS)) {
        kvmig_error_errno(errp, errno, "%s: rdma_resolve_route", rc->base.desc);
        goto fail;
    }
    if (!expect_event(rc, RDMA_CM_EVENT_ROUTE_RESOLVED, RDMA_TIMEOUT_MS * 2, NULL,
                      "resolving the route", errp)) {
        goto fail;
    }
    rc->pin_all = pin_all;
    if (!setup_verbs(rc, rc->id, errp)) {
        goto fail;
    }
    /* setup_verbs made the event channel non-blocking: get_cm_event polls */
    mig_rdma_caps_encode(&caps, caps_buf);
    if (rdma_connect(rc->id, &param)) {
        kvmig_error_errno(errp, errno, "%s: rdma_connect", rc->base.desc);
        goto fail;
    }
    if (!expect_event(rc, RDMA_CM_EVENT_ESTABLISHED, RDMA_TIMEOUT_MS * 2, &ev,
                      "connecting", errp)) {
        goto fail;
    }
    rc->connected = true;
    ok = mig_rdma_caps_decode(ev->param.conn.private_data, ev->param.conn.private_data_len,
                              &caps, errp);
    rdma_ack_cm_event(ev);
    if (!ok) {
        goto fail;
    }
    if (pin_all && !(caps.flags & MIG_RDMA_CAP_PIN_ALL)) {
        kvmig_error(errp, "%s: the destination refused rdma-pin-all", rc->base.desc);
        goto fail;
    }
    if (wait_reply(rc, MIG_RDMA_MSG_READY, &slot, &msg) < 0 || post_recv(rc, slot) < 0 ||
        wait_reply(rc, MIG_RDMA_MSG_RAM_BLOCKS, &slot, &msg) < 0) {
        kvmig_error(errp, "%s: the destination did not send its RAM blocks: %s",
                    rc->base.desc, g_strerror(-rc->err));
        goto fail;
    }
    rc->remote = mig_rdma_blocks_decode(&msg, errp);
    post_recv(rc, slot);
    if (!rc->remote) {
        goto fail;
    }
    if (msg.repeat != m->nr_ram_blocks) {
        kvmig_error(errp, "%s: the destination has %u RAM blocks, this machine %u: start "
                    "it with the same -m", rc->base.desc, msg.repeat, m->nr_ram_blocks);
        goto fail;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];

        if (strcmp(rc->remote[i].name, rb->idstr) || rc->remote[i].len != rb->used_length) {
            g_autofree char *esc = g_strescape(rc->remote[i].name, NULL);
            kvmig_error(errp, "%s: RAM block %u is '%s' of 0x%" G_GINT64_MODIFIER "x bytes "
                        "on the destination, '%s' of 0x%" G_GINT64_MODIFIER "x here: start "
                        "it with the same -m", rc->base.desc, i, esc, rc->remote[i].len,
                        rb->idstr, rb->used_length);
            goto fail;
        }
        if (pin_all && !rc->remote[i].rkey) {
            kvmig_error(errp, "%s: rdma-pin-all: the destination sent no key for RAM "
                        "block '%s'", rc->base.desc, rb->idstr);
            goto fail;
        }
    }
    return &rc->base;

fail:
    rc->err = rc->err ? rc->err : -EIO;     /* no drain at close */
    rdma_close(&rc->base);
    return NULL;
}

MigChannel *mig_rdma_listen(const MigUri *u, Machine *m, GError **errp)
{
    RdmaChannel *rc;
    struct rdma_addrinfo *res;
    bool ok;

    if (!mig_rdma_precheck(u, m, errp) || !(rc = rdma_channel_new(u, m, true, errp))) {
        return NULL;
    }
    if (rdma_create_id(rc->ec, &rc->listen_id, rc, RDMA_PS_TCP)) {
        kvmig_error_errno(errp, errno, "%s: rdma_create_id", rc->base.desc);
        goto fail;
    }
    res = resolve(u, true, rc->base.desc, errp);
    if (!res) {
        goto fail;
    }
    ok = rdma_bind_addr(rc->listen_id, res->ai_src_addr) == 0;
    rdma_freeaddrinfo(res);
    if (!ok || rdma_listen(rc->listen_id, 1)) {
        kvmig_error_errno(errp, errno, "%s: cannot listen (is the address on an RDMA "
                          "device's interface?)", rc->base.desc);
        goto fail;
    }
    return &rc->base;

fail:
    rdma_close(&rc->base);
    return NULL;
}

static bool send_ready_and_blocks(RdmaChannel *rc, GError **errp)
{
    MigRdmaBlockInfo b[MIG_RDMA_MAX_BLOCKS];
    Machine *m = rc->m;
    int slot;
    size_t len;

    memset(b, 0, sizeof(b));
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        g_strlcpy(b[i].name, m->ram_blocks[i]->idstr, sizeof(b[i].name));
        b[i].len = m->ram_blocks[i]->used_length;
        b[i].addr = (uintptr_t)m->ram_blocks[i]->host;
        b[i].rkey = rc->block_mr[i] ? rc->block_mr[i]->rkey : 0;
    }
    if (send_msg(rc, MIG_RDMA_MSG_READY, 0, NULL, 0) < 0 ||
        (slot = get_send_slot(rc)) < 0) {
        goto fail;
    }
    len = mig_rdma_blocks_encode(send_buf(rc, slot) + MIG_RDMA_HDR_SIZE,
                                 MIG_RDMA_PAYLOAD_MAX, b, m->nr_ram_blocks);
    if (!len) {
        kvmig_error(errp, "%s: the RAM block table does not fit a message", rc->base.desc);
        return false;
    }
    if (post_send(rc, slot, MIG_RDMA_MSG_RAM_BLOCKS, m->nr_ram_blocks, len) == 0) {
        return true;
    }
fail:
    kvmig_error(errp, "%s: sending READY: %s", rc->base.desc, g_strerror(-rc->err));
    return false;
}

bool mig_rdma_accept(MigChannel *c, GError **errp)
{
    RdmaChannel *rc = (RdmaChannel *)c;
    struct rdma_cm_event *ev;
    struct rdma_cm_id *id;
    uint8_t reply_buf[MIG_RDMA_CAPS_SIZE];
    MigRdmaCaps req, reply;
    struct rdma_conn_param param = {
        .private_data = reply_buf, .private_data_len = sizeof(reply_buf),
        .retry_count = 7, .rnr_retry_count = 7,
    };

    if (!expect_event(rc, RDMA_CM_EVENT_CONNECT_REQUEST, -1, &ev,
                      "waiting for the source's connection", errp)) {
        return false;
    }
    id = ev->id;
    if (!mig_rdma_caps_decode(ev->param.conn.private_data, ev->param.conn.private_data_len,
                              &req, errp)) {
        rdma_ack_cm_event(ev);
        rdma_reject(id, NULL, 0);
        rdma_destroy_id(id);
        return false;
    }
    rdma_ack_cm_event(ev);
    mig_rdma_caps_answer(&req, &reply);
    rc->pin_all = reply.flags & MIG_RDMA_CAP_PIN_ALL;
    if (!setup_verbs(rc, id, errp)) {
        rdma_reject(id, NULL, 0);
        return false;
    }
    mig_rdma_caps_encode(&reply, reply_buf);
    if (rdma_accept(id, &param)) {
        kvmig_error_errno(errp, errno, "%s: rdma_accept", rc->base.desc);
        return false;
    }
    if (!expect_event(rc, RDMA_CM_EVENT_ESTABLISHED, RDMA_TIMEOUT_MS * 2, NULL,
                      "establishing the connection", errp)) {
        return false;
    }
    rc->connected = true;
    /* one connection per -incoming: stop listening */
    rdma_destroy_id(rc->listen_id);
    rc->listen_id = NULL;
    return send_ready_and_blocks(rc, errp);
}
