/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy on the source: ADVISE, the switch (final sync, discards, the
 * PACKAGED device state that ends in RUN), then the page server -- the
 * pages vCPUs fault on go at once, the neighbours the destination asks
 * for with them next, the background pass over what is still dirty
 * behind them -- until every page is sent, END and EOF, and the
 * destination's DONE.
 *
 * Threads:
 *  - the migration thread runs postcopy_src_run and, through the ram
 *    section's iterate hook, postcopy_src_send; it owns the bitmaps, the
 *    scan position and the "sent after the switch" bitmaps;
 *  - the return-path thread ("postcopy-rp") reads the destination's
 *    messages: page requests are queued under PostcopySrc.lock, DONE and
 *    FAIL and a broken link are recorded there, cond is signalled.
 *
 * The preempt channel is postcopy-preempt.c's, `migrate -r`
 * postcopy-recover.c's.
 *
 * The rule that keeps the guest whole: once the PACKAGED command (whose
 * last record is RUN) has been written, the destination may run the guest,
 * so from then on the source never runs it again -- a failure leaves it
 * paused, in postcopy-paused, with error-desc saying why.
 */
#include <errno.h>
#include <string.h>

#include "migration/postcopy-int.h"
#include "util/bitmap.h"
#include "util/bufferiszero.h"
#include "util/cutils.h"
#include "util/error.h"

void postcopy_src_advise(MigStream *f)
{
    uint8_t buf[POSTCOPY_ADVISE_LEN];

    postcopy_advise_encode(TARGET_PAGE_SIZE, TARGET_PAGE_SIZE, buf);
    savevm_put_command(f, MIG_CMD_POSTCOPY_ADVISE, buf, sizeof(buf));
}

bool postcopy_src_wanted(MigrationState *s)
{
    return __atomic_load_n(&s->start_postcopy, __ATOMIC_SEQ_CST);
}

/* ---- the return path ---- */

static void rp_fail(PostcopySrc *pc, char *msg)
{
    g_mutex_lock(&pc->lock);
    if (!pc->rp_error) {
        pc->rp_error = msg;
    } else {
        g_free(msg);
    }
    pc->rp_ended = true;
    g_cond_broadcast(&pc->cond);
    g_mutex_unlock(&pc->lock);
}

static PostcopyReqItem *req_item_new(RAMBlock *rb, uint64_t page, uint64_t npages)
{
    PostcopyReqItem *it = g_new(PostcopyReqItem, 1);

    *it = (PostcopyReqItem){ .rb = rb, .page = page, .npages = npages };
    return it;
}

bool postcopy_src_queue_request(PostcopySrc *pc, const MigRpMsg *r, GError **errp)
{
    Machine *m = pc->s->m;
    bool named = r->type == MIG_RP_MSG_REQ_PAGES_ID;
    RAMBlock *rb = named ? machine_find_ram_block(m, r->block) : pc->rp_last_block;
    PostcopyReqItem *first, *rest = NULL;
    uint64_t page, npages;

    if (!rb) {
        kvmig_error(errp, "page request for %s", named ? "an unknown RAM block"
                                                       : "no RAM block named yet");
        return false;
    }
    if (r->start % TARGET_PAGE_SIZE || r->len == 0 || r->start >= rb->used_length ||
        r->len > rb->used_length - r->start) {
        kvmig_error(errp, "page request 0x%" G_GINT64_MODIFIER "x+0x%x outside RAM block "
                    "'%s' or unaligned", r->start, r->len, rb->idstr);
        return false;
    }
    pc->rp_last_block = rb;
    page = r->start >> TARGET_PAGE_BITS;
    npages = (r->len + TARGET_PAGE_SIZE - 1) >> TARGET_PAGE_BITS;
    first = req_item_new(rb, page, 1);
    if (npages > 1) {
        rest = req_item_new(rb, page + 1, npages - 1);
    }
    stat_add(&pc->s->stats, postcopy_requests, 1);
    g_mutex_lock(&pc->lock);
    g_queue_push_tail(&pc->reqs, first);
    if (rest) {
        g_queue_push_tail(&pc->hints, rest);
    }
    g_mutex_unlock(&pc->lock);
    return true;
}

void postcopy_src_drop_requests(PostcopySrc *pc)
{
    PostcopyReqItem *it;

    g_mutex_lock(&pc->lock);
    while ((it = g_queue_pop_head(&pc->reqs))) {
        g_free(it);
    }
    while ((it = g_queue_pop_head(&pc->hints))) {
        g_free(it);
    }
    g_mutex_unlock(&pc->lock);
    g_clear_pointer(&pc->hint, g_free);
    pc->hints_buffered = false;
}

static gpointer rp_thread(gpointer opaque)
{
    PostcopySrc *pc = opaque;

    postcopy_boost_thread(pc->s->opts, NULL);

    for (;;) {
        g_autoptr(GError) err = NULL;
        MigRpMsg m;

        if (!mig_rp_recv(pc->ch, &m, &err)) {
            rp_fail(pc, g_strdup_printf("the destination's return path: %s", err->message));
            return NULL;
        }
        switch (m.type) {
        case MIG_RP_MSG_REQ_PAGES:
        case MIG_RP_MSG_REQ_PAGES_ID:
            if (!postcopy_src_queue_request(pc, &m, &err)) {
                rp_fail(pc, g_strdup(err->message));
                return NULL;
            }
            g_mutex_lock(&pc->lock);
            g_cond_broadcast(&pc->cond);
            g_mutex_unlock(&pc->lock);
            break;
        case MIG_RP_MSG_RECV_BITMAP: {
            RAMBlock *rb = machine_find_ram_block(pc->s->m, m.block);

            if (!rb || rb->index >= G_N_ELEMENTS(pc->recv)) {
                rp_fail(pc, g_strdup_printf("RECV_BITMAP of an unknown RAM block"));
                return NULL;
            }
            if (!postcopy_recover_read_bitmap(pc, rb, &err)) {
                rp_fail(pc, g_strdup(err->message));
                return NULL;
            }
            break;
        }
        case MIG_RP_MSG_RESUME_ACK:
            if (m.value != MIG_RP_RESUME_ACK_VALUE) {
                rp_fail(pc, g_strdup_printf("RESUME_ACK with value %u", m.value));
                return NULL;
            }
            g_mutex_lock(&pc->lock);
            pc->resume_acked = true;
            g_cond_broadcast(&pc->cond);
            g_mutex_unlock(&pc->lock);
            break;
        case MIG_RP_MSG_DONE:
            g_mutex_lock(&pc->lock);
            pc->done = true;
            g_cond_broadcast(&pc->cond);
            g_mutex_unlock(&pc->lock);
            return NULL;
        case MIG_RP_MSG_FAIL:
            rp_fail(pc, g_strdup_printf("the destination failed: %s", m.text));
            return NULL;
        default:
            rp_fail(pc, g_strdup_printf("unexpected return-path message %s in postcopy",
                                        mig_rp_msg_name(m.type)));
            return NULL;
        }
    }
}

void postcopy_src_rp_start(PostcopySrc *pc)
{
    pc->rp_thread = g_thread_new("postcopy-rp", rp_thread, pc);
}

/* ---- sending pages (migration thread) ---- */

/*
 * Send @page unless it went since the switch: on @f, or (@requested) on
 * the preempt channel if there is one.  Returns the payload bytes put.
 */
static uint64_t send_one(PostcopySrc *pc, MigStream *f, RAMBlock *rb, uint64_t page,
                         bool requested)
{
    RAMState *rs = pc->rs;
    uint64_t offset = page << TARGET_PAGE_BITS;
    bool zero;

    if (test_bit(page, pc->sent[rb->index])) {
        return 0;   /* in flight or placed: sent once after the switch */
    }
    set_bit(page, pc->sent[rb->index]);
    if (test_bit(page, rb->bmap)) {
        clear_bit(page, rb->bmap);
        rs->dirty.dirty_pages--;
    }
    /* the guest is stopped here: the page cannot change under the iovec */
    zero = buffer_is_zero(rb->host + offset, TARGET_PAGE_SIZE);
    stat_add(&pc->s->stats, zero_pages, zero);
    stat_add(&pc->s->stats, normal_pages, !zero);
    if (requested && pc->pf) {
        postcopy_preempt_put_header(pc, rb, offset, zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE);
        f = pc->pf;
        stat_add(&pc->s->stats, postcopy_preempt_pages, 1);
    } else {
        ram_put_page_header(rs, f, rb, offset, zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE);
    }
    if (zero) {
        mig_stream_put_u8(f, 0);
        return 1;
    }
    mig_stream_put_buffer_async(f, rb->host + offset, TARGET_PAGE_SIZE);
    return TARGET_PAGE_SIZE;
}

/* max-postcopy-bandwidth: @bytes went on the wire (any page). */
static void bucket_charge(PostcopySrc *pc, uint64_t bytes)
{
    if (!pc->bucket_t0) {
        pc->bucket_t0 = g_get_monotonic_time() * 1000;
        pc->bucket_bytes = 0;
    }
    pc->bucket_bytes += bytes;
}

/*
 * Send every queued request's first page: never held back, but charged,
 * so neighbours and the background pass wait for it.  True if there were
 * any.
 */
static bool send_urgent(PostcopySrc *pc, MigStream *f)
{
    bool any = false;

    for (;;) {
        PostcopyReqItem *it;

        g_mutex_lock(&pc->lock);
        it = g_queue_pop_head(&pc->reqs);
        g_mutex_unlock(&pc->lock);
        if (!it) {
            return any;
        }
        bucket_charge(pc, send_one(pc, f, it->rb, it->page, true));
        any = true;
        g_free(it);
    }
}

/*
 * The next neighbour to send, in the order asked, skipping those sent
 * already (urgently, after a fault on them, or by the background pass);
 * false if none is queued.
 */
static bool next_hint(PostcopySrc *pc, RAMBlock **rb, uint64_t *page)
{
    for (;;) {
        PostcopyReqItem *it = pc->hint;

        if (!it) {
            g_mutex_lock(&pc->lock);
            it = pc->hint = g_queue_pop_head(&pc->hints);
            g_mutex_unlock(&pc->lock);
            if (!it) {
                return false;
            }
        }
        while (it->npages && test_bit(it->page, pc->sent[it->rb->index])) {
            it->page++;
            it->npages--;
        }
        if (it->npages) {
            *rb = it->rb;
            *page = it->page;
            return true;
        }
        g_clear_pointer(&pc->hint, g_free);
    }
}

/* Neighbours still in their stream's buffer go now. */
static void flush_hints(PostcopySrc *pc, MigStream *f)
{
    if (pc->hints_buffered) {
        mig_stream_flush(pc->pf ? pc->pf : f);
        pc->hints_buffered = false;
    }
}

/* Neighbours and background pages: ns to wait before the next one may go (0: now). */
static int64_t background_delay(PostcopySrc *pc)
{
    int64_t now = g_get_monotonic_time() * 1000, due;

    if (!pc->bw || !pc->bucket_t0) {
        return 0;       /* unlimited, or nothing sent yet (bucket_charge starts it) */
    }
    due = pc->bucket_t0 + (int64_t)(pc->bucket_bytes * 1000000000ULL / pc->bw);
    if (now - due > 100 * 1000 * 1000) {
        /* idle (requests only) for a while: no burst of saved-up credit */
        pc->bucket_t0 = now;
        pc->bucket_bytes = 0;
        return 0;
    }
    return due > now ? due - now : 0;
}

/* Sleep at most @ns, or until a request arrives. */
static void wait_request(PostcopySrc *pc, int64_t ns)
{
    int64_t until = g_get_monotonic_time() + ns / 1000 + 1;

    g_mutex_lock(&pc->lock);
    while (g_queue_is_empty(&pc->reqs) && !pc->rp_ended &&
           g_cond_wait_until(&pc->cond, &pc->lock, until)) {
    }
    g_mutex_unlock(&pc->lock);
}

bool postcopy_src_send(RAMState *rs, MigStream *f, int64_t deadline_ns)
{
    PostcopySrc *pc = rs->pc_src;
    Machine *m = rs->m;
    unsigned n = 0;

    rs->last_sent_block = NULL;
    while (!mig_stream_error(f)) {
        RAMBlock *rb;
        uint64_t page;
        int64_t delay;

        if (send_urgent(pc, f)) {
            /*
             * The urgent pages go out with the neighbours the bucket lets
             * follow them at once (flush_hints: at the end of that run, or
             * before any wait or background page), so that a vCPU walking
             * on finds its next page there; nothing else is buffered ahead.
             */
            pc->hints_buffered = true;
            if (pc->pf && mig_stream_error(pc->pf)) {
                return false;   /* rp_broken or the main stream says why soon */
            }
        }
        if (!rs->dirty.dirty_pages) {
            break;      /* neighbours are pages dirty at the switch: all went */
        }
        delay = background_delay(pc);
        if (delay) {
            /* what is buffered goes now; an urgent request may come meanwhile */
            flush_hints(pc, f);
            mig_stream_flush(f);
            wait_request(pc, MIN(delay, 20 * 1000 * 1000));
            if (deadline_ns && g_get_monotonic_time() * 1000 >= deadline_ns) {
                break;
            }
            continue;
        }
        if (next_hint(pc, &rb, &page)) {
            /* a neighbour: on the urgent pages' channel, but within the limit */
            bucket_charge(pc, send_one(pc, f, rb, page, true));
            pc->hints_buffered = true;
            if (pc->hint->npages == 1) {
                /* a run's last neighbour: the vCPU walking it waits for none behind it */
                flush_hints(pc, f);
            }
        } else {
            /* urgent pages and neighbours still buffered wait for no background page */
            flush_hints(pc, f);
            rb = m->ram_blocks[rs->scan_block];
            page = bitmap_find_next(rb->bmap, rb->npages, rs->scan_page);
            if (page >= rb->npages) {
                rs->scan_block = (rs->scan_block + 1) % m->nr_ram_blocks;
                rs->scan_page = 0;
                continue;
            }
            bucket_charge(pc, send_one(pc, f, rb, page, false));
            rs->scan_page = page + 1;
        }
        if ((++n & 15) == 0 && deadline_ns && g_get_monotonic_time() * 1000 >= deadline_ns) {
            break;
        }
    }
    flush_hints(pc, f);
    stat_set(&pc->s->stats, remaining, rs->dirty.dirty_pages * TARGET_PAGE_SIZE);
    return rs->dirty.dirty_pages == 0;
}

/* ---- the switch ---- */

/* POSTCOPY_RAM_DISCARD for every page still dirty (re-dirtied or never sent). */
static void send_discards(RAMState *rs, MigStream *f)
{
    Machine *m = rs->m;

    for (unsigned b = 0; b < m->nr_ram_blocks; b++) {
        RAMBlock *rb = m->ram_blocks[b];
        PostcopyDiscard d = { .nranges = 0 };
        uint8_t buf[POSTCOPY_DISCARD_MAX_LEN];
        uint64_t page = 0;

        g_strlcpy(d.block, rb->idstr, sizeof(d.block));
        for (;;) {
            uint64_t first = bitmap_find_next(rb->bmap, rb->npages, page);
            uint64_t end;

            if (first >= rb->npages) {
                break;
            }
            end = bitmap_find_next_zero(rb->bmap, rb->npages, first);
            d.ranges[d.nranges].start = first << TARGET_PAGE_BITS;
            d.ranges[d.nranges].len = (end - first) << TARGET_PAGE_BITS;
            if (++d.nranges == POSTCOPY_DISCARD_MAX_RANGES) {
                savevm_put_command(f, MIG_CMD_POSTCOPY_RAM_DISCARD, buf,
                                   postcopy_discard_encode(&d, buf));
                d.nranges = 0;
            }
            page = end;
        }
        if (d.nranges) {
            savevm_put_command(f, MIG_CMD_POSTCOPY_RAM_DISCARD, buf,
                               postcopy_discard_encode(&d, buf));
        }
    }
}

/* PACKAGED { LISTEN, every device, RUN }: what the destination needs to run. */
static bool send_package(MigrationState *s, MigStream *f, GError **errp)
{
    MigStream *pf = mig_stream_new(mig_channel_new_memory_writer());
    GByteArray *data;
    bool ok;

    savevm_put_command(pf, MIG_CMD_POSTCOPY_LISTEN, NULL, 0);
    ok = savevm_save_devices(s->reg, pf, errp);
    savevm_put_command(pf, MIG_CMD_POSTCOPY_RUN, NULL, 0);
    if (ok && mig_stream_flush(pf)) {
        kvmig_error(errp, "building the postcopy package: %s", mig_stream_error_msg(pf));
        ok = false;
    }
    data = mig_channel_memory_data(mig_stream_channel(pf));
    if (ok && data->len > POSTCOPY_PACKAGED_MAX) {
        kvmig_error(errp, "the postcopy package is %u bytes, more than %u", data->len,
                    POSTCOPY_PACKAGED_MAX);
        ok = false;
    }
    if (ok) {
        mig_stream_put_u8(f, QEMU_VM_COMMAND);
        mig_stream_put_be16(f, MIG_CMD_PACKAGED);
        mig_stream_put_be16(f, 4);
        mig_stream_put_be32(f, data->len);
        mig_stream_put_buffer(f, data->data, data->len);
    }
    mig_stream_close(pf);
    return ok;
}

/* Wait until DONE, or the return path ends.  False with *errp on the latter. */
static bool wait_done(PostcopySrc *pc, GError **errp)
{
    bool done;

    g_mutex_lock(&pc->lock);
    while (!pc->done && !pc->rp_ended) {
        g_cond_wait(&pc->cond, &pc->lock);
    }
    done = pc->done;
    if (!done) {
        kvmig_error(errp, "%s", pc->rp_error);
    }
    g_mutex_unlock(&pc->lock);
    return done;
}

static bool rp_broken(PostcopySrc *pc, GError **errp)
{
    bool broken;

    g_mutex_lock(&pc->lock);
    broken = pc->rp_ended && !pc->done;
    if (broken) {
        kvmig_error(errp, "%s", pc->rp_error);
    }
    g_mutex_unlock(&pc->lock);
    return broken;
}

static void src_free(PostcopySrc *pc)
{
    if (pc->rp_thread) {
        mig_channel_shutdown(pc->ch);
        g_thread_join(pc->rp_thread);
    }
    postcopy_src_drop_requests(pc);
    for (unsigned i = 0; i < G_N_ELEMENTS(pc->sent); i++) {
        g_free(pc->sent[i]);
        g_free(pc->recv[i]);
    }
    g_mutex_clear(&pc->lock);
    g_cond_clear(&pc->cond);
    g_free(pc->rp_error);
    g_free(pc);
}

/* Flush @f and count its bytes (@base: earlier streams'); false with *errp. */
static bool flush_counted(MigrationState *s, MigStream *f, uint64_t base, GError **errp)
{
    if (mig_stream_flush(f)) {
        kvmig_error(errp, "%s", mig_stream_error_msg(f));
        return false;
    }
    stat_set(&s->stats, transferred, base + mig_stream_transferred(f));
    stat_set(&s->stats, postcopy_bytes, stat_get(&s->stats, transferred) -
             stat_get(&s->stats, precopy_bytes));
    return true;
}

static bool serve(PostcopySrc *pc, MigStream *f, uint64_t base, GError **errp)
{
    MigrationState *s = pc->s;

    if (!pc->rp_thread) {
        postcopy_src_rp_start(pc);
    }
    /* max-postcopy-bandwidth holds back neighbours and the background pass only
     * (background_delay), by the bytes of every page sent */
    mig_stream_set_rate_limit(f, 0);
    pc->bw = migrate_max_postcopy_bandwidth(s->opts);
    for (;;) {
        int ret;

        if (rp_broken(pc, errp)) {
            return false;
        }
        if (pc->pf && mig_stream_error(pc->pf)) {
            kvmig_error(errp, "postcopy-preempt channel: %s", mig_stream_error_msg(pc->pf));
            return false;
        }
        ret = savevm_save_iterate(s->reg, f, errp);
        if (ret < 0 || !flush_counted(s, f, base, errp)) {
            return false;
        }
        if (ret > 0) {
            break;
        }
        pc->bw = migrate_max_postcopy_bandwidth(s->opts);
    }
    if (!postcopy_preempt_finish(pc, errp)) {
        return false;
    }
    if (!savevm_save_complete_postcopy(s->reg, f, errp) || !flush_counted(s, f, base, errp)) {
        return false;
    }
    return wait_done(pc, errp);
}

/*
 * Serve pages on @f until every page is sent, then END, EOF and DONE.
 * Byte counts: @base is what was transferred before @f (earlier streams).
 * The guest is stopped here, so the migration thread's CPU goes to pages
 * the destination's vCPUs wait for: it runs boosted meanwhile.
 */
bool postcopy_src_serve(PostcopySrc *pc, MigStream *f, uint64_t base, GError **errp)
{
    int old;
    bool boosted = postcopy_boost_thread(pc->s->opts, &old);
    bool ok = serve(pc, f, base, errp);

    if (boosted) {
        thread_set_nice(old, &old);   /* raising it back is always allowed */
    }
    return ok;
}

void postcopy_src_serve_end(PostcopySrc *pc, bool ok)
{
    RAMState *rs = pc->rs;

    if (pc->rp_thread) {
        mig_channel_shutdown(pc->ch);
        g_thread_join(pc->rp_thread);
        pc->rp_thread = NULL;
    }
    pc->ch = NULL;
    postcopy_preempt_close(pc);     /* a recovery connects a new one */
    if (ok) {
        rs->pc_src = NULL;
        src_free(pc);
    }
    /* else paused: the bitmaps and the scan position wait for `migrate -r` */
}

PostcopySrc *postcopy_src_new(MigrationState *s, RAMState *rs, MigChannel *ch)
{
    Machine *m = s->m;
    PostcopySrc *pc = g_new0(PostcopySrc, 1);

    pc->s = s;
    pc->rs = rs;
    pc->ch = ch;
    g_mutex_init(&pc->lock);
    g_cond_init(&pc->cond);
    g_queue_init(&pc->reqs);
    g_queue_init(&pc->hints);
    for (unsigned i = 0; i < m->nr_ram_blocks && i < G_N_ELEMENTS(pc->sent); i++) {
        pc->sent[i] = bitmap_new(m->ram_blocks[i]->npages);
    }
    rs->pc_src = pc;
    return pc;
}

bool postcopy_src_run(MigrationState *s, MigStream *f, const MigUri *uri,
                      const MigTlsSide *tls, bool *dest_may_run, GError **errp)
{
    Machine *m = s->m;
    RAMState *rs = s->ram;
    PostcopySrc *pc;
    MigChannel *pch = NULL;
    int64_t down_start_us;
    bool ok;

    *dest_may_run = false;
    stat_set(&s->stats, downtime_start_ms, mig_now_ms());
    stat_set(&s->stats, precopy_bytes, mig_stream_transferred(f) +
             stat_get(&s->stats, multifd_bytes));
    down_start_us = g_get_monotonic_time();
    vm_stop_force_state(m, RUN_STATE_FINISH_MIGRATE);
    if (!migrate_set_state(s, &s->status, MIGRATION_STATUS_ACTIVE,
                           MIGRATION_STATUS_POSTCOPY_ACTIVE)) {
        return false;   /* cancelled first: the caller puts the guest back */
    }
    mig_stream_set_rate_limit(f, 0);
    rs->dirty.final = true;
    if (!ram_dirty_sync(m, &rs->dirty, errp)) {
        return false;
    }
    stat_set(&s->stats, dirty_sync_count, rs->dirty.sync_count);
    /* preempt: connected before the package, accepted at its LISTEN */
    if (migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT) &&
        !(pch = postcopy_preempt_connect(s, uri, errp))) {
        return false;
    }
    send_discards(rs, f);
    if (!send_package(s, f, errp) || mig_stream_flush(f)) {
        if (errp && !*errp) {
            kvmig_error(errp, "%s", mig_stream_error_msg(f));
        }
        if (pch) {
            mig_channel_close(pch);
        }
        return false;
    }
    /* From here on the destination may run the guest: never resume it here. */
    *dest_may_run = true;
    stat_set(&s->stats, downtime_us, g_get_monotonic_time() - down_start_us);
    stat_set(&s->stats, downtime, (stat_get(&s->stats, downtime_us) + 500) / 1000);

    pc = postcopy_src_new(s, rs, mig_stream_channel(f));
    /* a preempt channel that fails now leaves the migration paused, recoverable */
    ok = !pch || (pc->pf = postcopy_preempt_start(s, pch, tls, errp));
    ok = ok && postcopy_src_serve(pc, f, stat_get(&s->stats, multifd_bytes), errp);
    postcopy_src_serve_end(pc, ok);
    return ok;
}

void postcopy_src_free(RAMState *rs)
{
    if (rs->pc_src) {
        src_free(rs->pc_src);
        rs->pc_src = NULL;
    }
}
