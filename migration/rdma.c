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
 * This file: prechecks, connection management and teardown; the data
 * path (messages, registration, RDMA WRITE, read/writev) is rdma-xfer.c,
 * the channel structure rdma-int.h.
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

#include "migration/rdma-int.h"
#include "util/error.h"

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

/* "rdma:HOST:PORT", with an IPv6 address in brackets as it was given. */
static char *uri_desc(const MigUri *u)
{
    return g_strdup_printf(strchr(u->host, ':') ? "rdma:[%s]:%s" : "rdma:%s:%s", u->host,
                           u->port);
}

static void no_device(const MigUri *u, const char *why, GError **errp)
{
    g_autofree char *desc = uri_desc(u);

    kvmig_error(errp, "RDMA migration on %s: no RDMA device was found (%s); load the "
                "driver of an InfiniBand, RoCE or iWARP adapter, or set up Soft-RoCE: "
                "modprobe rdma_rxe && rdma link add rxe0 type rxe netdev <interface>",
                desc, why);
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

    if (!rc->incoming && (rdmach_post_pending_write(rc) < 0 ||
        rdmach_send_msg(rc, MIG_RDMA_MSG_REGISTER_FINISHED, 0, NULL, 0) < 0)) {
        return;
    }
    while ((rc->writes_outstanding || rc->sends_outstanding) &&
           g_get_monotonic_time() < deadline) {
        if (rdmach_wait_progress(rc) < 0) {
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
    rdmach_unregister_all(rc);
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
    .read = rdmach_read,
    .writev = rdmach_writev,
    .shutdown = rdma_shutdown,
    .close = rdma_close,
    .write_page = rdmach_write_page,
};

/* ---- connection setup ---- */

static RdmaChannel *rdma_channel_new(const MigUri *u, Machine *m, bool incoming,
                                     GError **errp)
{
    RdmaChannel *rc = g_new0(RdmaChannel, 1);

    rc->base.ops = &rdma_ops;
    rc->base.desc = uri_desc(u);
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
        if (rdmach_post_recv(rc, i) < 0) {
            errno = -rc->err;
            what = "ibv_post_recv";
            goto fail;
        }
    }
    fcntl(rc->ec->fd, F_SETFL, fcntl(rc->ec->fd, F_GETFL) | O_NONBLOCK);
    return rdmach_setup_map(rc, errp);

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
    if (rdmach_wait_reply(rc, MIG_RDMA_MSG_READY, &slot, &msg) < 0 || rdmach_post_recv(rc, slot) < 0 ||
        rdmach_wait_reply(rc, MIG_RDMA_MSG_RAM_BLOCKS, &slot, &msg) < 0) {
        kvmig_error(errp, "%s: the destination did not send its RAM blocks: %s",
                    rc->base.desc, g_strerror(-rc->err));
        goto fail;
    }
    rc->remote = mig_rdma_blocks_decode(&msg, errp);
    rdmach_post_recv(rc, slot);
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
    if (rdmach_send_msg(rc, MIG_RDMA_MSG_READY, 0, NULL, 0) < 0 ||
        (slot = rdmach_get_send_slot(rc)) < 0) {
        goto fail;
    }
    len = mig_rdma_blocks_encode(rdmach_send_buf(rc, slot) + MIG_RDMA_HDR_SIZE,
                                 MIG_RDMA_PAYLOAD_MAX, b, m->nr_ram_blocks);
    if (!len) {
        kvmig_error(errp, "%s: the RAM block table does not fit a message", rc->base.desc);
        return false;
    }
    if (rdmach_post_send(rc, slot, MIG_RDMA_MSG_RAM_BLOCKS, m->nr_ram_blocks, len) == 0) {
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
