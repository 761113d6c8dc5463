/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The outgoing migration: the QMP commands that start, cancel, query and
 * continue it, and the migration thread that runs it — setup, iterate
 * while the guest runs, switch over when the rest fits in downtime-limit,
 * send the final state, wait for the destination's word, complete.
 *
 * Timeline of a switchover (source):
 *
 *   PING..PONG ─ re-check ─ vm_stop ─ final sync ─ rest of RAM ─ devices ─ EOF ─ flush ─ ...
 *                           |<──────────────────────── downtime ──────────────────────────
 *                             destination: load ─ READY ─> GO ─ resume ─ DONE ─>|  vmdesc
 *
 * downtime = source stop -> the DONE message arrives (two-way channels,
 * after the READY/GO handshake of return-path.h: the destination runs the
 * guest only after GO, the source never resumes after sending it), or ->
 * the stream is flushed and closed (exec:, file:).  The vmdesc JSON after
 * EOF only serves tools that read the stream: on channels with a return
 * path it is sent after DONE, outside the downtime (one-way streams carry
 * it before they close).  x-downtime-phases splits it (stats.h, MigPhase).
 *
 * The thread is a sequence of phases (mig_setup, mig_iterate, mig_settle,
 * mig_switchover, mig_complete, or mig_fail; then mig_teardown), each a
 * function with one exit; the status (state.c) is the phase.  mig_settle
 * lets the destination catch up (PING/PONG) while the guest runs, then
 * counts what the guest dirtied meanwhile: if that no longer fits in
 * downtime-limit, it is back to iterating, so the limit is a bound.
 *
 * Deferred teardown: stopping the dirty log and freeing bitmaps, caches
 * and pools (savevm_save_cleanup) happens after COMPLETED, outside the
 * downtime.  The capability x-early-dirty-log-stop puts it back inside,
 * right after the stream is flushed, as QEMU did before 2016, so the
 * difference can be measured.  The CPU state is read once, by the vCPU
 * sections' pre_save during device-state-save; nothing else syncs it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "migration/multifd.h"
#include "migration/postcopy.h"
#include "migration/rdma.h"
#include "migration/return-path.h"
#include "util/error.h"

/* How long a failed migration waits for the destination's reason. */
#define MIG_EXPLAIN_WAIT_MS 1000

/* How often the bandwidth estimate is refreshed. */
#define MIG_BANDWIDTH_WINDOW_MS 100

typedef struct OutgoingArgs {
    MigrationState *s;
    MigUri uri;
    int fd;                     /* fd: already taken from named_fds, else -1 */
    MigTlsSide tls;             /* resolved at migrate time; multifd uses it too */
} OutgoingArgs;

void migration_set_error(MigrationState *s, const char *msg)
{
    g_mutex_lock(&s->lock);
    if (!s->error_desc) {
        s->error_desc = g_strdup(msg);
    }
    g_mutex_unlock(&s->lock);
}

char *migration_get_error(MigrationState *s)
{
    char *e;

    g_mutex_lock(&s->lock);
    e = g_strdup(s->error_desc);
    g_mutex_unlock(&s->lock);
    return e;
}

static MigrationStatus get_status(MigrationState *s)
{
    return __atomic_load_n(&s->status, __ATOMIC_SEQ_CST);
}

bool migration_is_active(MigrationState *s)
{
    return migration_status_is_running(get_status(s));
}

/* Move whatever the state is to failed (or cancelled if cancelling). */
static void set_final_failure(MigrationState *s)
{
    for (;;) {
        MigrationStatus cur = get_status(s);
        MigrationStatus to = cur == MIGRATION_STATUS_CANCELLING ? MIGRATION_STATUS_CANCELLED
                                                                 : MIGRATION_STATUS_FAILED;
        /* postcopy-paused is where a postcopy that lost its link stays */
        if (migration_status_is_idle(cur) || cur == MIGRATION_STATUS_POSTCOPY_PAUSED ||
            migrate_set_state(s, &s->status, cur, to)) {
            return;
        }
    }
}

static MigChannel *open_outgoing(OutgoingArgs *a, GError **errp)
{
    switch (a->uri.kind) {
    case MIG_URI_TCP:
    case MIG_URI_UNIX: {
        MigChannel *ch = mig_socket_connect(&a->uri, &a->s->status, errp);
        char *desc;

        if (!ch || !a->tls.creds) {
            return ch;
        }
        ch = migration_tls_wrap(a->s, ch, &a->tls, false, errp);
        desc = mig_tls_channel_describe(ch);
        if (desc) {
            g_mutex_lock(&a->s->lock);
            g_free(a->s->tls_session);
            a->s->tls_session = desc;
            g_mutex_unlock(&a->s->lock);
        }
        return ch;
    }
    case MIG_URI_EXEC:
        return mig_exec_open(a->uri.cmd, true, errp);
    case MIG_URI_FD: {
        int fd = a->fd;
        a->fd = -1;
        return mig_fd_open(fd, a->uri.fdname, true, errp);
    }
    case MIG_URI_FILE:
        return mig_file_open(a->uri.path, a->uri.offset, true, errp);
    case MIG_URI_RDMA:
        return mig_rdma_connect(&a->uri, a->s->m,
                                migrate_cap(a->s->opts, MIGRATION_CAPABILITY_RDMA_PIN_ALL),
                                errp);
    }
    return NULL;
}

/*
 * Wait for the destination's @expect message on the return path.  FAIL
 * becomes the error "the destination failed: ..."; anything else
 * unexpected is a protocol error.
 */
static bool wait_for_destination(MigStream *f, MigRpMsgType expect, MigRpMsg *m,
                                 GError **errp)
{
    MigChannel *c = mig_stream_channel(f);
    bool ok = false;

    if (!mig_rp_recv(c, m, errp)) {
        g_prefix_error(errp, "waiting for the destination's %s ", mig_rp_msg_name(expect));
    } else if (m->type == MIG_RP_MSG_FAIL) {
        kvmig_error(errp, "the destination failed: %s", m->text);
    } else if (m->type != expect) {
        kvmig_error(errp, "the destination sent %s while %s was expected",
                    mig_rp_msg_name(m->type), mig_rp_msg_name(expect));
    } else {
        ok = true;
    }
    return ok;
}

/*
 * A destination that refuses the stream (a bad stream, TLS authz, a
 * plaintext source) says why on the return path and closes: our next write
 * fails (EPIPE/ECONNRESET on the main channel, or on a multifd channel, or
 * the multifd channels cannot connect).  Its message is the better error.
 * A destination that is still well has nothing to say: it is not waited
 * for longer than MIG_EXPLAIN_WAIT_MS.
 */
static void explain_write_failure(MigrationState *s, MigStream *f, GError **errp)
{
    g_autoptr(GError) rp_err = NULL;
    MigRpMsg m;

    if (!f || !mig_stream_channel(f)->bidirectional || !errp || !*errp ||
        get_status(s) == MIGRATION_STATUS_CANCELLING ||
        !mig_channel_poll_in(mig_stream_channel(f), MIG_EXPLAIN_WAIT_MS)) {
        return;
    }
    if (mig_rp_recv(mig_stream_channel(f), &m, &rp_err) && m.type == MIG_RP_MSG_FAIL) {
        g_clear_error(errp);
        kvmig_error(errp, "the destination failed: %s", m.text);
    }
}

/* Bytes sent: the main stream and, with multifd, every channel. */
static uint64_t transferred(MigrationState *s, MigStream *f)
{
    if (s->ram->mfs) {
        uint64_t chan[MIG_STATS_MAX_CHANNELS], pages[MIG_STATS_MAX_CHANNELS];
        unsigned n = multifd_send_channel_bytes(s->ram->mfs, chan, pages,
                                                G_N_ELEMENTS(chan));

        stat_set(&s->stats, multifd_bytes, multifd_send_bytes(s->ram->mfs));
        migration_stats_set_channel_bytes(&s->stats, chan, pages, n);
    }
    /* after an early teardown (x-early-dirty-log-stop), the final count */
    return mig_stream_transferred(f) + stat_get(&s->stats, multifd_bytes);
}

/* multifd: join the channels' workers and close them (@abort: cut them). */
static void multifd_teardown(MigrationState *s, bool abort)
{
    MultiFDSend *ms = s->ram->mfs;
    uint64_t chan[MIG_STATS_MAX_CHANNELS], pages[MIG_STATS_MAX_CHANNELS];
    unsigned n;

    if (!ms) {
        return;
    }
    g_mutex_lock(&s->lock);
    s->mf_send = NULL;
    g_mutex_unlock(&s->lock);
    s->ram->mfs = NULL;
    stat_set(&s->stats, multifd_bytes, multifd_send_free(ms, abort, chan, pages, &n));
    migration_stats_set_channel_bytes(&s->stats, chan, pages, n);
}

static void update_bandwidth(MigrationState *s, MigStream *f, int64_t *win_start,
                             uint64_t *win_bytes, uint64_t *win_pages)
{
    int64_t now = mig_now_ms();
    uint64_t bytes = transferred(s, f);
    /*
     * pages sent: PAGE and ZERO records, and xbzrle hits that went as an
     * XBZRLE record or were skipped (an overflowed hit is a PAGE record,
     * counted in normal_pages already)
     */
    uint64_t pages = stat_get(&s->stats, normal_pages) + stat_get(&s->stats, zero_pages) +
                     stat_get(&s->stats, xbzrle_pages) - stat_get(&s->stats, xbzrle_overflow);
    int64_t dt = now - *win_start;
    uint64_t bw;

    stat_set(&s->stats, transferred, bytes);
    stat_set(&s->stats, precopy_bytes, bytes);
    if (dt < MIG_BANDWIDTH_WINDOW_MS) {
        return;
    }
    bw = (bytes - *win_bytes) * 1000 / dt;
    stat_set(&s->stats, bandwidth, bw);
    stat_set(&s->stats, pages_per_second, (pages - *win_pages) * 1000 / dt);
    mig_convergence_update_expected(s, bw);     /* remaining + dirtied since the sync */
    *win_start = now;
    *win_bytes = bytes;
    *win_pages = pages;
}

/*
 * Settling.  QEMU switches over the moment the exact pending bytes fit in
 * downtime-limit at the measured bandwidth, which for a guest that dirties
 * little means a downtime close to the limit: the switchover comes in the
 * middle of a pass, with up to a limit's worth of pages not sent yet, and
 * all of them go while the guest is stopped.  kvmig sends that rest first,
 * once, while the guest runs -- at most one downtime-limit of extra
 * precopy, and only for a guest that dirties at less than half the
 * bandwidth -- and looks again: if what is pending then is less than half of
 * before, it may settle again (at most MIG_SETTLE_MAX_ROUNDS times);
 * otherwise, or below MIG_SETTLE_FLOOR, it switches over at once.  The
 * downtime bound is QEMU's either way: a switchover only ever happens with
 * pending <= threshold.  If a round ends above the threshold (the guest
 * dirtied more than it had), settling is over for this migration and
 * QEMU's rule applies from then on, so a guest that converges only
 * barely is never held off by it.  x-switchover-at-threshold turns it off.
 */
#define MIG_SETTLE_MAX_ROUNDS   4
#define MIG_SETTLE_FLOOR        (64 * 1024)

typedef struct MigSettle {
    bool off;                   /* x-switchover-at-threshold, or given up */
    bool round;                 /* sending the rest; decide when it is sent */
    unsigned rounds;
    uint64_t from;              /* exact pending when the round began */
} MigSettle;

/*
 * pending <= threshold, exactly: switch over now (true) or send it first?
 * A round takes pending / bw; the guest dirties dirty_rate * that meanwhile
 * (dirty-pages-rate of the sync just done), so a guest dirtying at half the
 * bandwidth or more would not halve it: no round for it.
 */
static bool settle_done(MigSettle *st, uint64_t pending, uint64_t dirty_rate, uint64_t bw)
{
    if (st->off || pending <= MIG_SETTLE_FLOOR || st->rounds >= MIG_SETTLE_MAX_ROUNDS ||
        (st->rounds && pending * 2 > st->from) || dirty_rate * 2 >= bw) {
        return true;
    }
    st->round = true;
    st->rounds++;
    st->from = pending;
    return false;
}

/*
 * One outgoing migration, as the phases below share it.  Owned by the
 * migration thread; the phase itself is not stored here: it is the
 * migration's status (state.c), plus @stopped_from below.
 */
typedef struct MigRun {
    OutgoingArgs *a;
    MigrationState *s;
    MigStream *f;               /* NULL until the channel is open / after a one-way close */
    bool two_way;               /* the channel has a return path: the handshake */
    GError *err;                /* the first error; reported by mig_fail */

    /* iterate: kept across the returns from settle */
    int64_t win_start;
    uint64_t win_bytes, win_pages, last_pass;
    bool pass_done;
    MigSettle settle;
    bool pinged;                /* settle waited for a PONG once already */

    /* postcopy-ram was on at migrate (ADVISE sent); switching now (migrate-start-postcopy) */
    bool postcopy;
    bool postcopy_switch;

    /*
     * switchover: the run state the guest was stopped from, or
     * RUN_STATE__MAX while it has not been stopped by us.  mig_fail puts
     * it back unless GO was sent (s->go_sent).
     */
    RunState stopped_from;
    int64_t down_start_us, t_us;
} MigRun;

/* Bytes that may remain when the vCPUs stop: bandwidth * downtime-limit. */
static uint64_t switchover_threshold(MigrationState *s)
{
    return stat_get(&s->stats, bandwidth) * migrate_downtime_limit(s->opts) / 1000;
}

/* The exact pending bytes (a dirty sync), with a pass's bookkeeping. */
static uint64_t pending_after_sync(MigRun *r)
{
    MigrationState *s = r->s;
    uint64_t pending = savevm_pending(s->reg, true);

    if (stat_get(&s->stats, dirty_sync_count) != r->last_pass) {
        r->last_pass = stat_get(&s->stats, dirty_sync_count);
        migration_emit_pass(s, r->last_pass);
        mig_convergence_after_sync(s, r->f);    /* auto-converge, x-convergence */
    }
    return pending;
}

/*
 * Phase setup: open the channel, the header, the multifd channels and
 * every live section's first record; status setup -> active.
 */
static bool mig_setup(MigRun *r)
{
    MigrationState *s = r->s;
    MigChannel *ch = open_outgoing(r->a, &r->err);
    bool ok = false;

    if (ch) {
        r->two_way = ch->bidirectional;
        g_mutex_lock(&s->lock);
        s->out_ch = ch;
        g_mutex_unlock(&s->lock);
        r->f = mig_stream_new(ch);
    }
    if (!ch) {
        /* the error is set */
    } else if ((migrate_cap(s->opts, MIGRATION_CAPABILITY_RETURN_PATH) || r->postcopy) &&
               !r->two_way) {
        /*
         * return-path asks for one: QEMU fails where the channel has none
         * (exec:, file:, an fd: that is not a socket), with this text.
         * Without the capability kvmig still uses one wherever it can.
         */
        kvmig_error(&r->err, "Unable to open return-path for postcopy: %s is a one-way "
                    "channel", ch->desc);
    } else if (get_status(s) == MIGRATION_STATUS_SETUP) {
        mig_stream_set_rate_limit(r->f, migrate_max_bandwidth(s->opts));
        savevm_put_header(r->f);
        if (r->postcopy) {
            postcopy_src_advise(r->f);  /* the destination checks it can, up front */
        }
        ok = true;
        if (migrate_cap(s->opts, MIGRATION_CAPABILITY_MULTIFD)) {
            MultiFDSend *ms = NULL;

            /* the header first: the destination tells the main channel by it */
            ok = !mig_stream_flush(r->f) && (ms = multifd_send_new(s, &r->a->uri, &r->a->tls, &r->err));
            if (ms) {
                g_mutex_lock(&s->lock);
                s->mf_send = ms;
                g_mutex_unlock(&s->lock);
                s->ram->mfs = ms;
            }
            ok = ok && get_status(s) == MIGRATION_STATUS_SETUP;    /* cancelled? */
        }
        ok = ok && savevm_save_setup(s->reg, r->f, &r->err) && !mig_stream_flush(r->f);
        if (ok) {
            stat_set(&s->stats, setup_time, mig_now_ms() - stat_get(&s->stats, start_ms));
            ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_SETUP,
                                   MIGRATION_STATUS_ACTIVE);
        }
    }
    if (ok) {
        r->win_start = mig_now_ms();
        r->win_bytes = transferred(s, r->f);
        r->settle.off = migrate_cap(s->opts, MIGRATION_CAPABILITY_X_SWITCHOVER_AT_THRESHOLD);
        mig_convergence_start(s, r->f);
    }
    return ok;
}

/*
 * Phase iterate: send until the remaining dirty bytes can be sent within
 * downtime-limit at the measured bandwidth (then settling rounds, above).
 * False on error or cancel.
 */
static bool mig_iterate(MigRun *r)
{
    MigrationState *s = r->s;
    bool converged = false, failed = false;

    while (!converged && !failed) {
        uint64_t threshold, pending;
        int ret;

        if (get_status(s) != MIGRATION_STATUS_ACTIVE) {
            failed = true;
            break;
        }
        if (r->postcopy && postcopy_src_wanted(s)) {
            r->postcopy_switch = true;  /* migrate-start-postcopy: mig_postcopy next */
            converged = true;
            break;
        }
        mig_stream_set_rate_limit(r->f, migrate_max_bandwidth(s->opts));
        threshold = switchover_threshold(s);
        pending = savevm_pending(s->reg, false);
        /* A settling round runs until everything pending was sent once. */
        if ((pending <= threshold && !r->settle.round) || r->pass_done) {
            pending = pending_after_sync(r);
            if (r->settle.round && pending > threshold) {
                r->settle.off = true;   /* it grew back: QEMU's rule from now on */
            }
            r->settle.round = false;
            converged = pending <= threshold &&
                        settle_done(&r->settle, pending,
                                    stat_get(&s->stats, dirty_pages_rate) * TARGET_PAGE_SIZE,
                                    stat_get(&s->stats, bandwidth));
            if (converged) {
                break;
            }
        }
        ret = savevm_save_iterate(s->reg, r->f, &r->err);
        r->pass_done = ret > 0;
        if (ret < 0) {
            failed = true;
        } else if (mig_stream_flush(r->f)) {
            kvmig_error(&r->err, "%s", mig_stream_error_msg(r->f));
            failed = true;
        } else {
            update_bandwidth(s, r->f, &r->win_start, &r->win_bytes, &r->win_pages);
        }
    }
    return converged;
}

/*
 * Phase settle (two-way channels): a PING, and the guest keeps running
 * until the destination's PONG says it loaded everything before it, so
 * that its backlog is not loaded inside the downtime.  The guest ran
 * during the wait: what it dirtied is counted again (a dirty sync) and,
 * if it no longer fits in downtime-limit, *@again asks for more
 * iterating.  The limit is a bound only so.
 *
 * The wait happens once per migration: a guest that dirties more during
 * one PONG wait than the limit allows would otherwise go round iterate
 * and settle for ever (a pagewalk guest under compress did).  After it,
 * the switchover follows iterate's own sync with no wait in between, as
 * in QEMU, so the bound still holds.
 */
static bool mig_settle(MigRun *r, bool *again)
{
    MigrationState *s = r->s;
    MigRpMsg pong;
    bool ok = true;

    *again = false;
    if (r->two_way && !r->pinged) {
        r->pinged = true;
        savevm_put_ping(r->f, 1);
        ok = !mig_stream_flush(r->f) &&
             wait_for_destination(r->f, MIG_RP_MSG_PONG, &pong, &r->err);
        if (ok) {
            *again = pending_after_sync(r) > switchover_threshold(s);
        }
    }
    return ok && get_status(s) == MIGRATION_STATUS_ACTIVE;
}

/* Close the current downtime phase @p at now; *@t_us is its start, then its end. */
static void phase_end(MigrationState *s, MigPhase p, int64_t *t_us)
{
    int64_t now = g_get_monotonic_time();

    stat_set(&s->stats, phase_us[p], now - *t_us);
    *t_us = now;
}

/* pause-before-switchover: wait in pre-switchover for migrate-continue. */
static bool maybe_pause_before_switchover(MigrationState *s)
{
    bool ok;

    if (!migrate_cap(s->opts, MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER)) {
        return migrate_set_state(s, &s->status, MIGRATION_STATUS_ACTIVE,
                                 MIGRATION_STATUS_DEVICE);
    }
    ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_ACTIVE,
                           MIGRATION_STATUS_PRE_SWITCHOVER);
    if (ok) {
        g_mutex_lock(&s->lock);
        while (!s->continue_switchover && get_status(s) == MIGRATION_STATUS_PRE_SWITCHOVER) {
            g_cond_wait(&s->cond, &s->lock);
        }
        s->continue_switchover = false;
        g_mutex_unlock(&s->lock);
        ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_PRE_SWITCHOVER,
                               MIGRATION_STATUS_DEVICE);
    }
    return ok;
}

/*
 * Phase switchover: stop the vCPUs, send the rest of RAM, every device and
 * EOF, flush.  Status active -> [pre-switchover ->] device.
 */
static bool mig_switchover(MigRun *r)
{
    MigrationState *s = r->s;
    MigStream *f = r->f;
    bool ok;

    r->stopped_from = machine_runstate(s->m);
    s->switchover_runstate = r->stopped_from;
    stat_set(&s->stats, downtime_start_ms, mig_now_ms());
    stat_set(&s->stats, precopy_bytes, transferred(s, f));
    r->down_start_us = r->t_us = g_get_monotonic_time();
    vm_stop_force_state(s->m, RUN_STATE_FINISH_MIGRATE);
    phase_end(s, MIG_PHASE_VCPU_STOP, &r->t_us);
    ok = maybe_pause_before_switchover(s);
    if (ok) {
        phase_end(s, MIG_PHASE_PRE_SWITCHOVER, &r->t_us);
        mig_stream_set_rate_limit(f, 0);
        /* ram_save_complete records FINAL_SYNC and RAM_SEND itself */
        stat_set(&s->stats, phase_us[MIG_PHASE_FINAL_SYNC], 0);
        stat_set(&s->stats, phase_us[MIG_PHASE_RAM_SEND], 0);
        ok = savevm_save_complete(s->reg, f, &r->err) &&
             (r->two_way || savevm_put_vmdesc(s->reg, f, &r->err));
    }
    if (ok) {
        phase_end(s, MIG_PHASE_DEVICE_SAVE, &r->t_us);
        stat_set(&s->stats, phase_us[MIG_PHASE_DEVICE_SAVE],
                 MAX(0, stat_get(&s->stats, phase_us[MIG_PHASE_DEVICE_SAVE]) -
                        stat_get(&s->stats, phase_us[MIG_PHASE_FINAL_SYNC]) -
                        stat_get(&s->stats, phase_us[MIG_PHASE_RAM_SEND])));
        ok = !mig_stream_flush(f);
    }
    if (ok) {
        phase_end(s, MIG_PHASE_STREAM_FLUSH, &r->t_us);
        if (migrate_cap(s->opts, MIGRATION_CAPABILITY_X_EARLY_DIRTY_LOG_STOP)) {
            /* the old order: tear down inside the downtime (see the top) */
            savevm_save_cleanup(s->reg);
            multifd_teardown(s, false);
        }
        phase_end(s, MIG_PHASE_DIRTY_LOG_STOP, &r->t_us);
        /*
         * The channels' last sync packets (32 bytes each) go out in the time
         * the destination takes to read the main stream's end: wait for
         * them so that transferred and x-multifd-channel-bytes are final
         * here, not only after the deferred teardown.
         */
        multifd_send_drain(s->ram->mfs);
        stat_set(&s->stats, phases_known, 1);
        stat_set(&s->stats, downtime_bytes,
                 transferred(s, f) - stat_get(&s->stats, precopy_bytes));
        stat_set(&s->stats, transferred, transferred(s, f));
    }
    return ok;
}

/*
 * The point of no return on a two-way channel: unless a cancel came first
 * (then false: the guest stays here), mark GO as sent, so that cancel is
 * refused from now on, and write it.  Even if the write fails the guest
 * is never resumed here: the destination may have it (main.rst).
 */
static bool send_go(MigRun *r)
{
    MigrationState *s = r->s;
    MigRpMsg go = { .type = MIG_RP_MSG_GO };
    bool commit;

    g_mutex_lock(&s->lock);
    commit = get_status(s) == MIGRATION_STATUS_DEVICE;
    s->go_sent = commit;
    g_mutex_unlock(&s->lock);
    if (commit && mig_rp_send(mig_stream_channel(r->f), &go) < 0) {
        g_printerr("kvmig: warning: writing GO to the destination failed; the source "
                   "stays in postmigrate, the destination decides\n");
    }
    return commit;
}

/*
 * Two-way: READY (everything loaded, destination paused), GO, then DONE
 * (the destination's resume time) for the statistics only.
 */
static bool mig_handshake(MigRun *r)
{
    MigrationState *s = r->s;
    g_autoptr(GError) done_err = NULL;
    MigRpMsg ready, done;
    bool ok = wait_for_destination(r->f, MIG_RP_MSG_READY, &ready, &r->err) && send_go(r);

    if (ok) {
        bool have_done = wait_for_destination(r->f, MIG_RP_MSG_DONE, &done, &done_err);
        int64_t rest;

        phase_end(s, MIG_PHASE_RETURN_PATH, &r->t_us);
        rest = stat_get(&s->stats, phase_us[MIG_PHASE_RETURN_PATH]);
        if (!have_done) {
            g_printerr("kvmig: warning: after GO: %s\n", done_err->message);
            done.resume_us = 0;
        }
        /* the destination's phases happened inside the wait */
        stat_set(&s->stats, phase_us[MIG_PHASE_DEST_LOAD], MIN(ready.load_us, rest));
        stat_set(&s->stats, phase_us[MIG_PHASE_DEST_RESUME],
                 MIN(done.resume_us, rest - MIN(ready.load_us, rest)));
        stat_set(&s->stats, phase_us[MIG_PHASE_RETURN_PATH],
                 rest - MIN(ready.load_us + (int64_t)done.resume_us, rest));
        stat_set(&s->stats, phases_known, 2);
    }
    return ok;
}

/* One-way: done when every byte is out (and an exec child exited 0). */
static bool mig_close_one_way(MigRun *r)
{
    MigrationState *s = r->s;
    int ret;

    g_mutex_lock(&s->lock);
    s->out_ch = NULL;
    g_mutex_unlock(&s->lock);
    ret = mig_stream_close(r->f);
    r->f = NULL;
    if (ret) {
        kvmig_error(&r->err, "finishing %s: %s", r->a->uri.kind == MIG_URI_EXEC ?
                    "the exec: command" : "the stream",
                    ret == -ECHILD ? "the command exited with an error" : g_strerror(-ret));
    } else {
        /* closing (an exec child's exit) is the last of the stream's flush */
        stat_add(&s->stats, phase_us[MIG_PHASE_STREAM_FLUSH],
                 g_get_monotonic_time() - r->t_us);
    }
    return ret == 0;
}

/*
 * Phase complete: hand the guest over (handshake or close), the downtime,
 * run state postmigrate, status device -> completed.  Returns false only
 * while the guest may still resume here (no GO sent).
 */
static bool mig_complete(MigRun *r)
{
    MigrationState *s = r->s;
    bool ok = r->two_way ? mig_handshake(r) : mig_close_one_way(r);

    if (ok) {
        stat_set(&s->stats, downtime_us, g_get_monotonic_time() - r->down_start_us);
        /* QEMU's unit (ms), rounded: a 0.6 ms downtime is 1, not 0 */
        stat_set(&s->stats, downtime, (stat_get(&s->stats, downtime_us) + 500) / 1000);
        if (r->two_way) {
            g_autoptr(GError) err = NULL;

            /* the vmdesc, now that the guest runs on the destination (top) */
            if (!savevm_put_vmdesc(s->reg, r->f, &err) || mig_stream_flush(r->f)) {
                g_printerr("kvmig: warning: writing the vmdesc after the migration: %s\n",
                           err ? err->message : mig_stream_error_msg(r->f));
            }
            stat_set(&s->stats, transferred, transferred(s, r->f));
        }
        stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
        /*
         * The run state first: a client that sees "completed" (query-migrate,
         * the MIGRATION event) must find the source in postmigrate.  After
         * GO, cancel is refused, so device -> completed cannot lose.
         */
        machine_set_runstate(s->m, RUN_STATE_POSTMIGRATE);
        ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_DEVICE,
                               MIGRATION_STATUS_COMPLETED);
        g_assert(ok || !r->two_way);
    }
    return ok;
}

/*
 * Phase postcopy (postcopy-src.c): stop, discards, the package, serve
 * pages, DONE; status active -> postcopy-active -> completed.  Once the
 * package is written the destination may run the guest: from then on
 * this side never resumes it (go_sent, as after GO), and a failure leaves
 * the migration in postcopy-paused and the guest in finish-migrate (so
 * `cont` refuses), with error-desc saying why.
 */
static bool mig_postcopy(MigRun *r)
{
    MigrationState *s = r->s;
    bool dest_may_run = false, ok;

    r->stopped_from = machine_runstate(s->m);
    s->switchover_runstate = r->stopped_from;
    ok = postcopy_src_run(s, r->f, &r->a->uri, &r->a->tls, &dest_may_run, &r->err);
    if (dest_may_run) {
        g_mutex_lock(&s->lock);
        s->go_sent = true;
        g_mutex_unlock(&s->lock);
    }
    if (ok) {
        stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
        machine_set_runstate(s->m, RUN_STATE_POSTMIGRATE);
        ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                               MIGRATION_STATUS_COMPLETED);
    } else if (dest_may_run) {
        g_prefix_error(&r->err, "postcopy paused: the destination may have run the guest, "
                       "so it stays stopped here; ");
        /* the reason first: whoever sees postcopy-paused finds error-desc */
        migration_set_error(s, r->err ? r->err->message : "postcopy paused");
        migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                          MIGRATION_STATUS_POSTCOPY_PAUSED);
        g_printerr("kvmig: %s\n", r->err ? r->err->message : "postcopy paused");
    }
    return ok;
}

/* Phase fail: report once, give the guest back as it was, failed or cancelled. */
static void mig_fail(MigRun *r)
{
    MigrationState *s = r->s;

    if (!r->err && r->f && mig_stream_error(r->f)) {
        kvmig_error(&r->err, "%s", mig_stream_error_msg(r->f));
    }
    explain_write_failure(s, r->f, &r->err);
    if (get_status(s) == MIGRATION_STATUS_CANCELLING) {
        g_clear_error(&r->err);
    }
    if (r->err) {
        migration_set_error(s, r->err->message);
    }
    /* the guest goes on where it was, running or paused; never after GO */
    if (r->stopped_from == RUN_STATE_RUNNING && !s->go_sent) {
        vm_start(s->m);
    } else if (r->stopped_from != RUN_STATE__MAX && !s->go_sent) {
        machine_set_runstate(s->m, r->stopped_from);
    }
    stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
}

/* The one teardown, whatever the outcome: after the destination runs, outside the downtime. */
static void mig_teardown(MigRun *r, bool ok)
{
    MigrationState *s = r->s;

    /* auto-converge: the guest runs at full speed again, however this ended */
    mig_convergence_end(s);
    if (get_status(s) != MIGRATION_STATUS_POSTCOPY_PAUSED) {
        /* paused: the bitmaps wait for `migrate -r` (or migration_free) */
        savevm_save_cleanup(s->reg);    /* idempotent (x-early-dirty-log-stop) */
    }
    multifd_teardown(s, !ok);
    g_mutex_lock(&s->lock);
    s->out_ch = NULL;
    g_mutex_unlock(&s->lock);
    if (r->f) {
        mig_stream_close(r->f);
    }
    if (r->a->fd >= 0) {
        close(r->a->fd);
    }
    if (!ok) {
        set_final_failure(s);
    }
    g_clear_error(&r->err);
    migration_tls_clear(&r->a->tls);
    mig_uri_clear(&r->a->uri);
    g_free(r->a);
}

/*
 * The migration thread: setup, then iterate and settle until what is
 * pending after the last wait fits, switchover, complete; or fail.  The
 * status (state.c) says where it is; each phase moves it.
 */
static gpointer migration_thread(gpointer opaque)
{
    MigRun r = { .a = opaque, .s = ((OutgoingArgs *)opaque)->s,
                 .stopped_from = RUN_STATE__MAX };
    bool ok, again = true;

    r.postcopy = migrate_cap(r.s->opts, MIGRATION_CAPABILITY_POSTCOPY_RAM);
    ok = mig_setup(&r);
    while (ok && again) {
        ok = mig_iterate(&r) && (r.postcopy_switch || mig_settle(&r, &again));
        again = again && !r.postcopy_switch;
    }
    if (r.postcopy_switch) {
        ok = ok && mig_postcopy(&r);
    } else {
        ok = ok && mig_switchover(&r) && mig_complete(&r);
    }
    if (!ok) {
        mig_fail(&r);
    }
    mig_teardown(&r, ok);
    return NULL;
}

/* The arguments of an outgoing migration to @uri (parsed), or NULL with *errp. */
static OutgoingArgs *outgoing_args_new(MigrationState *s, const char *uri, GError **errp)
{
    OutgoingArgs *a = g_new0(OutgoingArgs, 1);

    a->s = s;
    a->fd = -1;
    if (!mig_uri_parse(uri, &a->uri, errp)) {
        g_free(a);
        return NULL;
    }
    return a;
}

/*
 * `migrate -r URI` on a paused postcopy: a new channel, the recovery
 * handshake and the rest of the pages (postcopy-src.c).  Status
 * postcopy-recover-setup -> postcopy-recover -> postcopy-active ->
 * completed, or back to postcopy-paused with the reason.
 */
static gpointer resume_thread(gpointer opaque)
{
    MigRun r = { .a = opaque, .s = ((OutgoingArgs *)opaque)->s,
                 .stopped_from = RUN_STATE__MAX };
    MigrationState *s = r.s;
    MigChannel *ch = open_outgoing(r.a, &r.err);
    bool ok = false;

    if (ch) {
        g_mutex_lock(&s->lock);
        s->out_ch = ch;
        g_mutex_unlock(&s->lock);
        r.f = mig_stream_new(ch);
        ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP,
                               MIGRATION_STATUS_POSTCOPY_RECOVER) &&
             postcopy_src_resume(s, r.f, &r.a->uri, &r.a->tls, &r.err);
    }
    if (ok) {
        stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
        machine_set_runstate(s->m, RUN_STATE_POSTMIGRATE);
        ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                               MIGRATION_STATUS_COMPLETED);
    } else {
        MigrationStatus cur = get_status(s);

        g_prefix_error(&r.err, "postcopy paused (the guest stays stopped here); recovery "
                       "failed: ");
        migration_set_error(s, r.err ? r.err->message : "postcopy recovery failed");
        if (cur != MIGRATION_STATUS_POSTCOPY_PAUSED) {
            migrate_set_state(s, &s->status, cur, MIGRATION_STATUS_POSTCOPY_PAUSED);
        }
        g_printerr("kvmig: %s\n", r.err ? r.err->message : "postcopy recovery failed");
    }
    mig_teardown(&r, ok);
    return NULL;
}

/* qmp_migrate with resume: a paused postcopy goes on over @uri. */
static bool migrate_resume(MigrationState *s, const char *uri, GError **errp)
{
    OutgoingArgs *a;

    if (get_status(s) != MIGRATION_STATUS_POSTCOPY_PAUSED) {
        kvmig_error(errp, "Cannot resume if there is no paused migration");
        return false;
    }
    a = outgoing_args_new(s, uri, errp);
    if (!a) {
        return false;
    }
    if (a->uri.kind != MIG_URI_TCP && a->uri.kind != MIG_URI_UNIX) {
        kvmig_error(errp, "migrate resume: %s: the new channel must be tcp: or unix:", uri);
    } else if (!migration_tls_prepare(s, false, &a->uri, &a->tls, errp)) {
        /* tls-creds as they are now: the new channels are wrapped as the first were */
    } else if (s->thread) {
        g_thread_join(s->thread);   /* the paused one has finished */
        s->thread = NULL;
    }
    if ((errp && *errp) || !migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_PAUSED,
                                              MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP)) {
        if (errp && !*errp) {
            kvmig_error(errp, "Cannot resume if there is no paused migration");
        }
        migration_tls_clear(&a->tls);
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    g_mutex_lock(&s->lock);
    g_clear_pointer(&s->error_desc, g_free);
    g_mutex_unlock(&s->lock);
    s->thread = g_thread_new("migration", resume_thread, a);
    return true;
}

bool qmp_migrate(MigrationState *s, const char *uri, bool resume, GError **errp)
{
    OutgoingArgs *a;
    MigrationStatus cur = get_status(s);
    RunState rs = machine_runstate(s->m);

    if (resume) {
        return migrate_resume(s, uri, errp);
    }
    if (migration_status_is_running(cur)) {
        kvmig_error(errp, "There's a migration process in progress");
        return false;
    }
    if (rs == RUN_STATE_INMIGRATE) {
        kvmig_error(errp, "Guest is waiting for an incoming migration");
        return false;
    }
    a = outgoing_args_new(s, uri, errp);
    if (!a) {
        return false;
    }
    if (migrate_cap(s->opts, MIGRATION_CAPABILITY_MULTIFD) &&
        a->uri.kind != MIG_URI_TCP && a->uri.kind != MIG_URI_UNIX) {
        /* the channels are extra connections to the same address */
        kvmig_error(errp, "multifd is not supported by current protocol: it needs a tcp: "
                    "or unix: URI");
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    if (a->uri.kind == MIG_URI_RDMA &&
        (migrate_cap(s->opts, MIGRATION_CAPABILITY_XBZRLE) ||
         migrate_cap(s->opts, MIGRATION_CAPABILITY_COMPRESS))) {
        /*
         * The RDMA transport writes every page straight into the
         * destination's RAM: there is no record to put a delta or a
         * compressed page in.  Refused rather than silently switched off.
         */
        kvmig_error(errp, "%s is not supported by rdma: (pages go straight into the "
                    "destination's RAM); turn it off",
                    migrate_cap(s->opts, MIGRATION_CAPABILITY_XBZRLE) ? "xbzrle" : "compress");
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    /* TLS: credentials, hostname and transport are checked now, in the reply */
    if (!migration_tls_prepare(s, false, &a->uri, &a->tls, errp)) {
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    if (a->uri.kind == MIG_URI_FD) {
        gpointer key, value;
        if (!g_hash_table_lookup_extended(s->m->named_fds, a->uri.fdname, &key, &value)) {
            kvmig_error(errp, "File descriptor named '%s' has not been found",
                        a->uri.fdname);
            migration_tls_clear(&a->tls);
            mig_uri_clear(&a->uri);
            g_free(a);
            return false;
        }
        /* the migration consumes the fd, as QEMU's does */
        a->fd = GPOINTER_TO_INT(value);
        g_hash_table_steal(s->m->named_fds, key);
        g_free(key);
    }
    if (s->thread) {
        g_thread_join(s->thread);   /* the previous one has finished */
        s->thread = NULL;
    }
    g_mutex_lock(&s->lock);
    g_clear_pointer(&s->error_desc, g_free);
    g_clear_pointer(&s->tls_session, g_free);
    s->continue_switchover = false;
    s->go_sent = false;
    g_mutex_unlock(&s->lock);
    __atomic_store_n(&s->start_postcopy, false, __ATOMIC_SEQ_CST);
    memset(&s->stats, 0, sizeof(s->stats));
    stat_set(&s->stats, start_ms, mig_now_ms());
    if (!migrate_set_state(s, &s->status, cur, MIGRATION_STATUS_SETUP)) {
        kvmig_error(errp, "There's a migration process in progress");
        if (a->fd >= 0) {
            close(a->fd);
        }
        migration_tls_clear(&a->tls);
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    if (a->uri.kind == MIG_URI_RDMA) {
        GError *rdma_err = NULL;

        /* no device, no memlock: fail at once, in the reply and in query-migrate */
        if (!mig_rdma_precheck(&a->uri, s->m, &rdma_err)) {
            migration_set_error(s, rdma_err->message);
            set_final_failure(s);
            migration_tls_clear(&a->tls);
            mig_uri_clear(&a->uri);
            g_free(a);
            g_propagate_error(errp, rdma_err);
            return false;
        }
    }
    s->thread = g_thread_new("migration", migration_thread, a);
    return true;
}

bool qmp_migrate_cancel(MigrationState *s, GError **errp)
{
    if (migration_status_in_postcopy(get_status(s))) {
        /* the destination may run the guest: the source must not resume it (QEMU's text) */
        kvmig_error(errp, "Postcopy migration in progress, cannot cancel.");
        return false;
    }
    /*
     * Under lock, against send_go(): once GO is out the guest may run on
     * the destination, and a cancel must not bring it back here too.
     */
    g_mutex_lock(&s->lock);
    if (s->go_sent) {
        g_mutex_unlock(&s->lock);
        return true;
    }
    for (;;) {
        MigrationStatus cur = get_status(s);

        if (cur != MIGRATION_STATUS_SETUP && cur != MIGRATION_STATUS_ACTIVE &&
            cur != MIGRATION_STATUS_PRE_SWITCHOVER && cur != MIGRATION_STATUS_DEVICE) {
            g_mutex_unlock(&s->lock);
            return true;
        }
        if (migrate_set_state(s, &s->status, cur, MIGRATION_STATUS_CANCELLING)) {
            break;
        }
    }
    if (s->out_ch) {
        mig_channel_shutdown(s->out_ch);
    }
    multifd_send_shutdown(s->mf_send);
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
    return true;
}

bool qmp_migrate_start_postcopy(MigrationState *s, GError **errp)
{
    MigrationStatus cur = get_status(s);

    /* QEMU's checks and texts */
    if (!migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_RAM)) {
        kvmig_error(errp, "Enable postcopy with migrate_set_capability before the start "
                    "of migration");
        return false;
    }
    if (cur == MIGRATION_STATUS_NONE) {
        kvmig_error(errp, "Postcopy must be started after migration has been started");
        return false;
    }
    __atomic_store_n(&s->start_postcopy, true, __ATOMIC_SEQ_CST);
    return true;
}

bool qmp_migrate_pause(MigrationState *s, GError **errp)
{
    MigrationStatus cur = get_status(s);
    MigrationStatus in = __atomic_load_n(&s->in_status, __ATOMIC_SEQ_CST);

    if (cur != MIGRATION_STATUS_POSTCOPY_ACTIVE && in != MIGRATION_STATUS_POSTCOPY_ACTIVE) {
        kvmig_error(errp, "migrate-pause is currently only supported during postcopy-active "
                    "or postcopy-recover state");
        return false;
    }
    /*
     * Cut the link as a network failure would: the threads that read or
     * write it fail and each side goes to postcopy-paused (QEMU's way);
     * migrate-recover and `migrate -r` go on from there.
     */
    g_mutex_lock(&s->lock);
    if (cur == MIGRATION_STATUS_POSTCOPY_ACTIVE && s->out_ch) {
        mig_channel_shutdown(s->out_ch);
    }
    if (in == MIGRATION_STATUS_POSTCOPY_ACTIVE && s->in_ch) {
        mig_channel_shutdown(s->in_ch);
    }
    g_mutex_unlock(&s->lock);
    return true;
}

bool qmp_migrate_continue(MigrationState *s, const char *state, GError **errp)
{
    MigrationStatus want;

    if (!migration_status_parse(state, &want)) {
        kvmig_error(errp, "Parameter 'state' does not accept value '%s'", state);
        return false;
    }
    if (get_status(s) != want) {
        kvmig_error(errp, "Migration not in expected state: %s",
                    migration_status_name(get_status(s)));
        return false;
    }
    g_mutex_lock(&s->lock);
    s->continue_switchover = true;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
    return true;
}

JsonObject *qmp_query_migrate(MigrationState *s)
{
    JsonObject *obj = json_object_new();
    MigrationStatus out = get_status(s);
    MigrationStatus in = __atomic_load_n(&s->in_status, __ATOMIC_SEQ_CST);
    g_autofree char *err = migration_get_error(s);

    /* a destination reports its incoming migration, as QEMU's does */
    if (out == MIGRATION_STATUS_NONE && in != MIGRATION_STATUS_NONE) {
        json_object_set_string_member(obj, "status", migration_status_name(in));
        if ((in == MIGRATION_STATUS_FAILED || in == MIGRATION_STATUS_POSTCOPY_PAUSED) && err) {
            json_object_set_string_member(obj, "error-desc", err);
        }
        if (migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME) &&
            (migration_status_in_postcopy(in) || in == MIGRATION_STATUS_COMPLETED)) {
            /* the destination's page faults (QEMU 10.1's names) */
            migration_stats_fill_postcopy_blocktime(obj, &s->in_stats, s->m->smp);
        }
        if (migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT) &&
            (migration_status_in_postcopy(in) || in == MIGRATION_STATUS_COMPLETED)) {
            /* kvmig: pages placed from the postcopy-preempt channel */
            json_object_set_int_member(obj, "x-postcopy-preempt-pages",
                                       stat_get(&s->in_stats, postcopy_preempt_pages));
        }
        if (in == MIGRATION_STATUS_COMPLETED) {
            /* kvmig: this side's share of the downtime */
            migration_stats_fill_phases(obj, &s->in_stats, true);
            /* kvmig: what each multifd channel brought (the source's ram has the same) */
            migration_stats_fill_channel_bytes(obj, &s->in_stats);
        }
        return obj;
    }
    if (out == MIGRATION_STATUS_NONE) {
        return obj;
    }
    json_object_set_string_member(obj, "status", migration_status_name(out));
    migration_stats_fill(obj, &s->stats, out);
    g_mutex_lock(&s->lock);
    if (s->tls_session) {
        /* kvmig: the main channel's TLS version, key exchange and cipher */
        json_object_set_string_member(obj, "x-tls-session", s->tls_session);
    }
    g_mutex_unlock(&s->lock);
    if ((out == MIGRATION_STATUS_FAILED || out == MIGRATION_STATUS_CANCELLED ||
         out == MIGRATION_STATUS_POSTCOPY_PAUSED) && err) {
        json_object_set_string_member(obj, "error-desc", err);
    }
    return obj;
}

/* ---- creation ---- */

MigrationOptions *migration_options(MigrationState *s)
{
    return s->opts;
}

MigrationState *migration_new(Machine *m, GError **errp)
{
    MigrationState *s = g_new0(MigrationState, 1);

    /* a vanished destination must be EPIPE, not a dead source */
    signal(SIGPIPE, SIG_IGN);
    s->m = m;
    s->opts = g_new(MigrationOptions, 1);
    mig_opts_init(s->opts);
    s->reg = savevm_registry_new();
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->in_listen_fd = -1;
    s->pc_recover_lfd = -1;
    s->objects = mig_objects_new();
    s->ram = ram_register(s->reg, m, &s->stats, s->opts, errp);
    if (!s->ram || !machine_sections_register(s, errp)) {
        migration_free(s);
        return NULL;
    }
    return s;
}

void migration_free(MigrationState *s)
{
    if (!s) {
        return;
    }
    if (!qmp_migrate_cancel(s, NULL)) {
        /* postcopy: cut the link; the thread ends in postcopy-paused */
        g_mutex_lock(&s->lock);
        if (s->out_ch) {
            mig_channel_shutdown(s->out_ch);
        }
        g_mutex_unlock(&s->lock);
    }
    if (s->thread) {
        g_thread_join(s->thread);
    }
    migration_incoming_join(s);
    postcopy_incoming_free(s->pc_in);   /* a paused postcopy's, if any */
    if (get_status(s) == MIGRATION_STATUS_POSTCOPY_PAUSED) {
        savevm_save_cleanup(s->reg);    /* kept for `migrate -r` (mig_teardown) */
    }
    postcopy_src_free(s->ram);
    if (s->pc_recover_lfd >= 0) {
        mig_socket_listen_close(s->pc_recover_lfd, &s->pc_recover_uri);
        mig_uri_clear(&s->pc_recover_uri);
    }
    savevm_registry_free(s->reg);
    ram_state_free(s->ram);
    machine_sections_free(s);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    mig_objects_free(s->objects);
    mig_opts_destroy(s->opts);
    g_free(s->opts);
    g_free(s->tls_session);
    g_free(s->error_desc);
    g_free(s);
}

MigObjects *migration_objects(MigrationState *s)
{
    return s->objects;
}
