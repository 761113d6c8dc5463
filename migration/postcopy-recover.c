/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy recovery, both sides: after a cut link left both in
 * postcopy-paused, migrate-recover (destination) listens and migrate -r
 * (source) connects a new main channel; the source asks for each RAM
 * block's received bitmap (RECV_BITMAP), makes every page the destination
 * lacks dirty again and every page it has "sent", connects a new preempt
 * channel if postcopy-preempt is on, sends POSTCOPY_RESUME; the
 * destination accepts that channel, asks again for the pages it had asked
 * for and not received, acknowledges (RESUME_ACK) and faults on; the
 * source serves the rest as before.  docs/devel/migration/postcopy.rst
 * draws it.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/postcopy-int.h"
#include "util/bitmap.h"
#include "util/error.h"

/* ---- destination (listen thread) ---- */

/*
 * RECV_BITMAP names a block; the answer is the pages this side has --
 * present at LISTEN (not discarded, and mapped) or placed since -- as QEMU
 * lays it out (postcopy.h), written right after the message's frame.
 */
bool postcopy_recover_recv_bitmap(PostcopyIncoming *pi, const uint8_t *p, uint16_t len,
                                  GError **errp)
{
    MigRpMsg m = { .type = MIG_RP_MSG_RECV_BITMAP };
    RAMBlock *rb;
    g_autofree uint8_t *blob = NULL;
    g_autofree unsigned char *resident = NULL;
    g_autofree unsigned long *received = NULL;
    uint64_t blob_len;
    int ret;

    if (!pi->recovering) {
        kvmig_error(errp, "RECV_BITMAP outside a postcopy recovery");
        return false;
    }
    if (!postcopy_recv_bitmap_cmd_decode(p, len, m.block, errp)) {
        return false;
    }
    rb = machine_find_ram_block(pi->s->m, m.block);
    if (!rb || rb->index >= G_N_ELEMENTS(pi->placed)) {
        g_autofree char *esc = g_strescape(m.block, NULL);
        kvmig_error(errp, "RECV_BITMAP of unknown RAM block '%s'", esc);
        return false;
    }
    /*
     * A page that was not discarded is here only if it is mapped: a zero
     * page of the precopy phase left as a hole (never written here) faults
     * like a discarded one, and the source must not count it as sent, or a
     * request for it would be dropped and its thread wait for ever.
     * mincore() says which pages are mapped; a page it calls absent that
     * is there after all (swapped out) is sent again and placing it finds
     * EEXIST, which keeps what is here.
     */
    resident = g_malloc(rb->npages);
    if (mincore(rb->host, rb->used_length, resident) < 0) {
        kvmig_error_errno(errp, errno, "postcopy recovery: mincore of '%s'", rb->idstr);
        return false;
    }
    received = bitmap_new(rb->npages);
    g_mutex_lock(&pi->lock);
    for (uint64_t page = 0; page < rb->npages; page++) {
        if (test_bit(page, pi->placed[rb->index]) ||
            (!test_bit(page, pi->discard[rb->index]) && (resident[page] & 1))) {
            set_bit(page, received);
        }
    }
    g_mutex_unlock(&pi->lock);
    blob_len = POSTCOPY_RECV_BITMAP_LEN(rb->npages);
    blob = g_malloc(blob_len);
    postcopy_recv_bitmap_encode(received, rb->npages, blob);
    g_mutex_lock(&pi->rp_lock);
    ret = mig_rp_send(pi->ch, &m);
    if (ret == 0) {
        ret = mig_channel_write_all(pi->ch, blob, blob_len);
    }
    g_mutex_unlock(&pi->rp_lock);
    if (ret < 0) {
        kvmig_error(errp, "postcopy recovery: sending the received bitmap of '%s': %s",
                    rb->idstr, mig_channel_strerror(pi->ch, ret));
        return false;
    }
    return true;
}

/*
 * Ask again for every page asked for and not placed: the requests may
 * have died with the old link, and a vCPU waiting on one would otherwise
 * wait for the background pass.  Runs of such pages go one request each,
 * as the fault thread's, but a page asked for as a request's first page
 * (urgent) starts a request again, so the source sends it at once.  A run
 * of neighbours whose first page was placed starts with one of them: the
 * source sends that one at once, so it is marked urgent too (a fault on it
 * asks for nothing).  The fault thread is stopped.
 */
void postcopy_recover_rerequest(PostcopyIncoming *pi)
{
    Machine *m = pi->s->m;

    pi->last_req_block = NULL;
    for (unsigned b = 0; b < m->nr_ram_blocks && b < G_N_ELEMENTS(pi->requested); b++) {
        RAMBlock *rb = m->ram_blocks[b];

        for (uint64_t page = bitmap_find_next(pi->requested[b], rb->npages, 0);
             page < rb->npages; page = bitmap_find_next(pi->requested[b], rb->npages, page)) {
            uint64_t n = 0;

            g_mutex_lock(&pi->lock);
            while (page + n < rb->npages && n < MIGRATE_MAX_POSTCOPY_REQUEST_WINDOW &&
                   test_bit(page + n, pi->requested[b]) && !test_bit(page + n, pi->placed[b]) &&
                   (n == 0 || !test_bit(page + n, pi->urgent[b]))) {
                n++;
            }
            if (n) {
                set_bit(page, pi->urgent[b]);
            }
            g_mutex_unlock(&pi->lock);
            if (n) {
                postcopy_request_pages(pi, rb, page, n);
            }
            page += n ? n : 1;
        }
    }
}

/*
 * POSTCOPY_RESUME.  With postcopy-preempt, accept the new preempt channel
 * first (the source connected it before RESUME).  Ask again for what was
 * asked for and not placed, acknowledge, and fault on.
 */
bool postcopy_recover_resume(PostcopyIncoming *pi, GError **errp)
{
    MigRpMsg ack = { .type = MIG_RP_MSG_RESUME_ACK, .value = MIG_RP_RESUME_ACK_VALUE };
    uint64_t one;

    if (!pi->recovering) {
        kvmig_error(errp, "POSTCOPY_RESUME outside a postcopy recovery");
        return false;
    }
    pi->recovering = false;
    /* postcopy-preempt: the source connected its new channel before RESUME */
    if (!postcopy_preempt_accept(pi, errp)) {
        return false;
    }
    postcopy_rp_write(pi, &ack);
    postcopy_recover_rerequest(pi);
    /* the fault thread's stop signal was consumed: read the eventfd empty */
    if (read(pi->quit_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        kvmig_error_errno(errp, errno, "postcopy: eventfd");
        return false;
    }
    pi->paused = false;
    migrate_set_state(pi->s, &pi->s->in_status, MIGRATION_STATUS_POSTCOPY_RECOVER,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    postcopy_fault_thread_start(pi);
    return true;
}

bool postcopy_incoming_resume(PostcopyIncoming *pi, MigStream *f, GError **errp)
{
    if (!pi->paused || pi->listen_thread) {
        kvmig_error(errp, "postcopy: nothing to resume");
        return false;
    }
    pi->f = f;
    pi->ch = mig_stream_channel(f);
    pi->recovering = true;
    pi->listen_ok = false;
    g_clear_error(&pi->listen_err);
    postcopy_listen_thread_start(pi);
    return true;
}

/* ---- source (migration thread, and the return-path thread's part) ---- */

/*
 * Return-path thread: the bitmap after a RECV_BITMAP message for @rb (the
 * destination's received pages), checked and stored for the migration
 * thread.
 */
bool postcopy_recover_read_bitmap(PostcopySrc *pc, RAMBlock *rb, GError **errp)
{
    uint64_t len = POSTCOPY_RECV_BITMAP_LEN(rb->npages);
    g_autofree uint8_t *raw = g_malloc(len);
    g_autofree unsigned long *received = bitmap_new(rb->npages);
    g_autoptr(GError) err = NULL;
    uint64_t size = 0;
    int ret;

    /* the size word first: a wrong one must not make us wait for bytes that never come */
    ret = mig_channel_read_all(pc->ch, raw, 8);
    for (int i = 0; i < 8 && ret == 0; i++) {
        size = size << 8 | raw[i];
    }
    if (ret == 0 && size != len - 16) {
        kvmig_error(errp, "RECV_BITMAP of '%s': %" G_GUINT64_FORMAT " bytes, expected %"
                    G_GUINT64_FORMAT, rb->idstr, size, len - 16);
        return false;
    }
    if (ret == 0) {
        ret = mig_channel_read_all(pc->ch, raw + 8, len - 8);
    }
    if (ret < 0) {
        kvmig_error(errp, "reading the received bitmap of '%s': %s", rb->idstr,
                    mig_channel_strerror(pc->ch, ret));
        return false;
    }
    if (!postcopy_recv_bitmap_decode(raw, len, rb->npages, received, &err)) {
        kvmig_error(errp, "RECV_BITMAP of '%s': %s", rb->idstr, err->message);
        return false;
    }
    g_mutex_lock(&pc->lock);
    g_free(pc->recv[rb->index]);
    pc->recv[rb->index] = g_steal_pointer(&received);
    pc->nrecv++;
    g_cond_broadcast(&pc->cond);
    g_mutex_unlock(&pc->lock);
    return true;
}

/* Wait until @cond_fn holds or the return path ends; false with *errp then. */
static bool wait_for(PostcopySrc *pc, bool (*cond_fn)(PostcopySrc *), GError **errp)
{
    bool ok;

    g_mutex_lock(&pc->lock);
    while (!cond_fn(pc) && !pc->rp_ended) {
        g_cond_wait(&pc->cond, &pc->lock);
    }
    ok = cond_fn(pc);
    if (!ok) {
        kvmig_error(errp, "%s", pc->rp_error);
    }
    g_mutex_unlock(&pc->lock);
    return ok;
}

static bool all_bitmaps(PostcopySrc *pc)
{
    return pc->nrecv == pc->s->m->nr_ram_blocks;
}

static bool resume_acked(PostcopySrc *pc)
{
    return pc->resume_acked;
}

bool postcopy_src_resume(MigrationState *s, MigStream *f, const MigUri *uri,
                         const MigTlsSide *tls, GError **errp)
{
    Machine *m = s->m;
    RAMState *rs = s->ram;
    PostcopySrc *pc = rs->pc_src;
    uint64_t base = stat_get(&s->stats, transferred);
    MigChannel *pch = NULL;
    bool ok;

    if (!pc) {
        kvmig_error(errp, "no paused postcopy to resume");
        return false;
    }
    pc->ch = mig_stream_channel(f);
    g_mutex_lock(&pc->lock);
    pc->done = pc->rp_ended = pc->resume_acked = false;
    g_clear_pointer(&pc->rp_error, g_free);
    pc->nrecv = 0;
    g_mutex_unlock(&pc->lock);
    postcopy_src_drop_requests(pc);
    pc->rp_last_block = NULL;
    postcopy_src_rp_start(pc);

    /* what the destination has; the rest is dirty again (QEMU's order) */
    for (unsigned b = 0; b < m->nr_ram_blocks; b++) {
        uint8_t buf[1 + POSTCOPY_BLOCK_NAME_MAX];

        savevm_put_command(f, MIG_CMD_RECV_BITMAP, buf,
                           postcopy_recv_bitmap_cmd_encode(m->ram_blocks[b]->idstr, buf));
    }
    ok = !mig_stream_flush(f) && wait_for(pc, all_bitmaps, errp);
    if (ok) {
        rs->dirty.dirty_pages = 0;
        for (unsigned b = 0; b < m->nr_ram_blocks && b < G_N_ELEMENTS(pc->sent); b++) {
            RAMBlock *rb = m->ram_blocks[b];

            bitmap_clear_range(rb->bmap, 0, rb->npages);
            bitmap_clear_range(pc->sent[b], 0, rb->npages);
            for (uint64_t page = 0; page < rb->npages; page++) {
                if (test_bit(page, pc->recv[b])) {
                    set_bit(page, pc->sent[b]);
                } else {
                    set_bit(page, rb->bmap);
                    rs->dirty.dirty_pages++;
                }
            }
        }
        rs->scan_block = 0;
        rs->scan_page = 0;
        /* postcopy-preempt: a new channel, as at the switch (QEMU's order) */
        if (migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT)) {
            ok = (pch = postcopy_preempt_connect(s, uri, errp)) != NULL;
        }
    }
    if (ok) {
        savevm_put_command(f, MIG_CMD_POSTCOPY_RESUME, NULL, 0);
        ok = !mig_stream_flush(f);
    }
    if (ok && pch) {
        ok = (pc->pf = postcopy_preempt_start(s, pch, tls, errp)) != NULL;
        pch = NULL;
    }
    ok = ok && wait_for(pc, resume_acked, errp);
    if (pch) {
        mig_channel_close(pch);
    }
    if (ok && !migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_RECOVER,
                                 MIGRATION_STATUS_POSTCOPY_ACTIVE)) {
        kvmig_error(errp, "postcopy recovery: the status changed meanwhile");
        ok = false;
    }
    if (!ok && mig_stream_error(f) && (!errp || !*errp)) {
        kvmig_error(errp, "%s", mig_stream_error_msg(f));
    }
    if (ok) {
        ok = postcopy_src_serve(pc, f, base, errp);
    }
    postcopy_src_serve_end(pc, ok);
    return ok;
}
