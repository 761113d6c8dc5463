/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The outgoing migration: the QMP commands that start, cancel, query and
 * continue it, and the migration thread that runs it — setup, iterate
 * while the guest runs, switch over when the rest fits in downtime-limit,
 * send the final state, wait for the destination's word, complete.
 *
 * Timeline of a switchover (source):
 *
 *   vm_stop ─ final sync ─ rest of RAM ─ devices ─ EOF ─ flush       ─ vmdesc
 *   |<──────────────────────── downtime ──────────────────────────>|
 *                              destination: load ─ resume ─ DONE ─>|  (skip it)
 *
 * downtime = source stop -> the DONE message arrives (bidirectional
 * channels), or -> the stream is flushed and closed (exec:, file:).
 * The vmdesc JSON after EOF only serves tools that read the stream: on
 * channels with a return path it is built and sent after DONE, outside
 * the downtime (one-way streams carry it before they close).
 * x-downtime-phases splits it (stats.h, MigPhase): vcpu-stop,
 * pre-switchover, final-dirty-sync, ram-send, device-state-save,
 * stream-flush, [dirty-log-stop,] then the destination's load and resume
 * (sent back in DONE) and the return path.
 *
 * Before vm_stop, on channels with a return path, a PING waits for the
 * destination's PONG: what it still has to load is loaded while the guest
 * runs, not inside the downtime.
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
        if (migration_status_is_idle(cur) || migrate_set_state(s, &s->status, cur, to)) {
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
 * Wait for the destination's @expect message (DONE, or PONG) or FAIL on
 * the return path.  On DONE, @dst_us (may be NULL) gets the destination's
 * load and resume times in µs, or zeros when it did not send them.
 */
static bool wait_for_destination(MigStream *f, uint16_t expect, uint32_t dst_us[2],
                                 GError **errp)
{
    MigChannel *c = mig_stream_channel(f);
    uint8_t hdr[4];
    g_autofree char *payload = NULL;
    uint16_t type, len;
    int ret;

    ret = mig_channel_read_all(c, hdr, sizeof(hdr));
    if (ret < 0) {
        kvmig_error(errp, "waiting for the destination on %s: %s", c->desc,
                    ret == -EPIPE ? "connection closed before it confirmed" :
                    mig_channel_strerror(c, ret));
        return false;
    }
    type = hdr[0] << 8 | hdr[1];
    len = hdr[2] << 8 | hdr[3];
    if (len > MIG_RP_MSG_MAX) {
        kvmig_error(errp, "destination sent a return-path message of %u bytes", len);
        return false;
    }
    payload = g_malloc0(len + 1);
    ret = mig_channel_read_all(c, payload, len);
    if (ret < 0) {
        kvmig_error(errp, "reading the destination's message: %s",
                    mig_channel_strerror(c, ret));
        return false;
    }
    if (type == MIG_RP_MSG_PONG && expect == MIG_RP_MSG_PONG) {
        return true;
    }
    if (type == MIG_RP_MSG_DONE && expect == MIG_RP_MSG_DONE) {
        if (dst_us) {
            const uint8_t *p = (const uint8_t *)payload;

            dst_us[0] = dst_us[1] = 0;
            if (len >= MIG_RP_DONE_LEN) {
                dst_us[0] = (uint32_t)p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4];
                dst_us[1] = (uint32_t)p[5] << 24 | p[6] << 16 | p[7] << 8 | p[8];
            }
        }
        return true;
    }
    if (type == MIG_RP_MSG_FAIL) {
        kvmig_error(errp, "the destination failed: %s", payload);
        return false;
    }
    kvmig_error(errp, "unknown return-path message 0x%04x", type);
    return false;
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

    if (!f || !mig_stream_channel(f)->bidirectional || !errp || !*errp ||
        get_status(s) == MIGRATION_STATUS_CANCELLING ||
        !mig_channel_poll_in(mig_stream_channel(f), MIG_EXPLAIN_WAIT_MS)) {
        return;
    }
    if (!wait_for_destination(f, MIG_RP_MSG_DONE, NULL, &rp_err) &&
        g_str_has_prefix(rp_err->message, "the destination failed")) {
        g_clear_error(errp);
        g_propagate_error(errp, g_steal_pointer(&rp_err));
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
 * Iterate until the remaining dirty bytes can be sent within downtime-limit
 * at the measured bandwidth (then settle, above).  Returns false on error
 * or cancel.
 */
static bool iterate_until_converged(MigrationState *s, MigStream *f, bool *postcopy,
                                    GError **errp)
{
    int64_t win_start = mig_now_ms();
    uint64_t win_bytes = transferred(s, f), win_pages = 0;
    uint64_t last_pass = 0;
    bool pass_done = false;
    MigSettle settle = {
        .off = migrate_cap(s->opts, MIGRATION_CAPABILITY_X_SWITCHOVER_AT_THRESHOLD),
    };

    mig_convergence_start(s, f);

    for (;;) {
        uint64_t limit_ms, threshold, pending;
        int ret;

        if (get_status(s) != MIGRATION_STATUS_ACTIVE) {
            return false;
        }
        if (*postcopy && postcopy_src_wanted(s)) {
            return true;        /* migrate-start-postcopy: switch now */
        }
        mig_stream_set_rate_limit(f, migrate_max_bandwidth(s->opts));
        limit_ms = migrate_downtime_limit(s->opts);
        threshold = stat_get(&s->stats, bandwidth) * limit_ms / 1000;
        pending = savevm_pending(s->reg, false);
        /* A settling round runs until everything pending was sent once. */
        if ((pending <= threshold && !settle.round) || pass_done) {
            pending = savevm_pending(s->reg, true);
            if (stat_get(&s->stats, dirty_sync_count) != last_pass) {
                last_pass = stat_get(&s->stats, dirty_sync_count);
                migration_emit_pass(s, last_pass);
                mig_convergence_after_sync(s, f);   /* auto-converge, x-convergence */
            }
            if (settle.round && pending > threshold) {
                settle.off = true;      /* it grew back: QEMU's rule from now on */
            }
            settle.round = false;
            if (pending <= threshold &&
                settle_done(&settle, pending,
                            stat_get(&s->stats, dirty_pages_rate) * TARGET_PAGE_SIZE,
                            stat_get(&s->stats, bandwidth))) {
                return true;
            }
        }
        ret = savevm_save_iterate(s->reg, f, errp);
        if (ret < 0) {
            return false;
        }
        pass_done = ret > 0;
        if (mig_stream_flush(f)) {
            kvmig_error(errp, "%s", mig_stream_error_msg(f));
            return false;
        }
        update_bandwidth(s, f, &win_start, &win_bytes, &win_pages);
    }
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
    if (!migrate_cap(s->opts, MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER)) {
        return migrate_set_state(s, &s->status, MIGRATION_STATUS_ACTIVE,
                                 MIGRATION_STATUS_DEVICE);
    }
    if (!migrate_set_state(s, &s->status, MIGRATION_STATUS_ACTIVE,
                           MIGRATION_STATUS_PRE_SWITCHOVER)) {
        return false;
    }
    g_mutex_lock(&s->lock);
    while (!s->continue_switchover && get_status(s) == MIGRATION_STATUS_PRE_SWITCHOVER) {
        g_cond_wait(&s->cond, &s->lock);
    }
    s->continue_switchover = false;
    g_mutex_unlock(&s->lock);
    return migrate_set_state(s, &s->status, MIGRATION_STATUS_PRE_SWITCHOVER,
                             MIGRATION_STATUS_DEVICE);
}

static gpointer migration_thread(gpointer opaque)
{
    OutgoingArgs *a = opaque;
    MigrationState *s = a->s;
    Machine *m = s->m;
    g_autoptr(GError) err = NULL;
    MigStream *f = NULL;
    MigChannel *ch;
    RunState prev = RUN_STATE_RUNNING;
    bool stopped = false, bidirectional, ok = false, cleaned_up = false;
    int64_t down_start_us = 0, t_us = 0;
    uint32_t dst_us[2] = { 0, 0 };
    int ret;
    bool postcopy = migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_RAM);
    bool dest_may_run = false;

    ch = open_outgoing(a, &err);
    if (!ch) {
        goto out;
    }
    bidirectional = ch->bidirectional;
    g_mutex_lock(&s->lock);
    s->out_ch = ch;
    g_mutex_unlock(&s->lock);
    f = mig_stream_new(ch);
    if ((postcopy || migrate_cap(s->opts, MIGRATION_CAPABILITY_RETURN_PATH)) &&
        !bidirectional) {
        /*
         * return-path asks for one: QEMU fails where the channel has none
         * (exec:, file:, an fd: that is not a socket), with this text.
         * Without the capability kvmig still uses one wherever it can.
         */
        kvmig_error(&err, "Unable to open return-path for postcopy: %s is a one-way channel",
                    ch->desc);
        goto out;
    }
    if (get_status(s) != MIGRATION_STATUS_SETUP) {
        goto out;   /* cancelled while connecting */
    }
    mig_stream_set_rate_limit(f, migrate_max_bandwidth(s->opts));
    savevm_put_header(f);
    if (postcopy) {
        postcopy_src_advise(f);     /* the destination checks it can, up front */
    }
    if (migrate_cap(s->opts, MIGRATION_CAPABILITY_MULTIFD)) {
        MultiFDSend *ms;

        /* the header first: the destination tells the main channel by it */
        if (mig_stream_flush(f)) {
            goto out;
        }
        ms = multifd_send_new(s, &a->uri, &a->tls, &err);
        if (!ms) {
            goto out;
        }
        g_mutex_lock(&s->lock);
        s->mf_send = ms;
        g_mutex_unlock(&s->lock);
        s->ram->mfs = ms;
        if (get_status(s) != MIGRATION_STATUS_SETUP) {
            goto out;   /* cancelled while connecting */
        }
    }
    if (!savevm_save_setup(s->reg, f, &err) || mig_stream_flush(f)) {
        goto out;
    }
    stat_set(&s->stats, setup_time, mig_now_ms() - stat_get(&s->stats, start_ms));
    if (!migrate_set_state(s, &s->status, MIGRATION_STATUS_SETUP, MIGRATION_STATUS_ACTIVE)) {
        goto out;
    }
    if (!iterate_until_converged(s, f, &postcopy, &err)) {
        goto out;
    }
    if (postcopy && postcopy_src_wanted(s)) {
        /* postcopy-src.c: the switch, the page server, DONE */
        prev = machine_runstate(m);
        s->switchover_runstate = prev;
        stopped = true;
        if (postcopy_src_run(s, f, &dest_may_run, &err)) {
            stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
            machine_set_runstate(m, RUN_STATE_POSTMIGRATE);
            ok = migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                                   MIGRATION_STATUS_COMPLETED);
        }
        goto out;
    }
    /*
     * Let the destination catch up while the guest still runs: what sits
     * in socket buffers and its backlog of first-touch faults would
     * otherwise be loaded inside the downtime.
     */
    if (bidirectional) {
        savevm_put_ping(f, 1);
        if (mig_stream_flush(f) || !wait_for_destination(f, MIG_RP_MSG_PONG, NULL, &err)) {
            goto out;
        }
    }

    /* switchover */
    prev = machine_runstate(m);
    s->switchover_runstate = prev;
    stat_set(&s->stats, downtime_start_ms, mig_now_ms());
    stat_set(&s->stats, precopy_bytes, transferred(s, f));
    down_start_us = t_us = g_get_monotonic_time();
    vm_stop_force_state(m, RUN_STATE_FINISH_MIGRATE);
    stopped = true;
    phase_end(s, MIG_PHASE_VCPU_STOP, &t_us);
    if (!maybe_pause_before_switchover(s)) {
        goto out;
    }
    phase_end(s, MIG_PHASE_PRE_SWITCHOVER, &t_us);
    mig_stream_set_rate_limit(f, 0);
    /* ram_save_complete records FINAL_SYNC and RAM_SEND itself */
    stat_set(&s->stats, phase_us[MIG_PHASE_FINAL_SYNC], 0);
    stat_set(&s->stats, phase_us[MIG_PHASE_RAM_SEND], 0);
    if (!savevm_save_complete(s->reg, f, &err) ||
        (!bidirectional && !savevm_put_vmdesc(s->reg, f, &err))) {
        goto out;
    }
    phase_end(s, MIG_PHASE_DEVICE_SAVE, &t_us);
    stat_set(&s->stats, phase_us[MIG_PHASE_DEVICE_SAVE],
             MAX(0, stat_get(&s->stats, phase_us[MIG_PHASE_DEVICE_SAVE]) -
                    stat_get(&s->stats, phase_us[MIG_PHASE_FINAL_SYNC]) -
                    stat_get(&s->stats, phase_us[MIG_PHASE_RAM_SEND])));
    if (mig_stream_flush(f)) {
        goto out;
    }
    phase_end(s, MIG_PHASE_STREAM_FLUSH, &t_us);
    if (migrate_cap(s->opts, MIGRATION_CAPABILITY_X_EARLY_DIRTY_LOG_STOP)) {
        /* the old order: tear down inside the downtime (see the top) */
        savevm_save_cleanup(s->reg);
        multifd_teardown(s, false);
        cleaned_up = true;
    }
    phase_end(s, MIG_PHASE_DIRTY_LOG_STOP, &t_us);
    /*
     * The channels' last sync packets (32 bytes each) go out in the time the
     * destination takes to read the main stream's end: wait for them so
     * that transferred and x-multifd-channel-bytes are final here, not
     * only after the deferred teardown.
     */
    multifd_send_drain(s->ram->mfs);
    stat_set(&s->stats, phases_known, 1);
    stat_set(&s->stats, downtime_bytes,
             transferred(s, f) - stat_get(&s->stats, precopy_bytes));
    stat_set(&s->stats, transferred, transferred(s, f));
    if (bidirectional) {
        if (!wait_for_destination(f, MIG_RP_MSG_DONE, dst_us, &err)) {
            goto out;
        }
        phase_end(s, MIG_PHASE_RETURN_PATH, &t_us);
        if (dst_us[0] || dst_us[1]) {
            int64_t rest = stat_get(&s->stats, phase_us[MIG_PHASE_RETURN_PATH]);

            /* the destination's phases happened inside the wait */
            stat_set(&s->stats, phase_us[MIG_PHASE_DEST_LOAD], MIN(dst_us[0], rest));
            stat_set(&s->stats, phase_us[MIG_PHASE_DEST_RESUME],
                     MIN(dst_us[1], rest - MIN(dst_us[0], rest)));
            stat_set(&s->stats, phase_us[MIG_PHASE_RETURN_PATH],
                     rest - MIN(dst_us[0] + (int64_t)dst_us[1], rest));
        }
        stat_set(&s->stats, phases_known, 2);
    } else {
        /* one-way: done when every byte is out (and an exec child exited 0) */
        g_mutex_lock(&s->lock);
        s->out_ch = NULL;
        g_mutex_unlock(&s->lock);
        ret = mig_stream_close(f);
        f = NULL;
        if (ret) {
            kvmig_error(&err, "finishing %s: %s", a->uri.kind == MIG_URI_EXEC ?
                        "the exec: command" : "the stream",
                        ret == -ECHILD ? "the command exited with an error" :
                        g_strerror(-ret));
            goto out;
        }
        /* closing (an exec child's exit) is the last of the stream's flush */
        stat_add(&s->stats, phase_us[MIG_PHASE_STREAM_FLUSH], g_get_monotonic_time() - t_us);
    }
    stat_set(&s->stats, downtime_us, g_get_monotonic_time() - down_start_us);
    /* QEMU's unit (ms), rounded: a 0.6 ms downtime is 1, not 0 */
    stat_set(&s->stats, downtime, (stat_get(&s->stats, downtime_us) + 500) / 1000);
    if (bidirectional) {
        /* the vmdesc, now that the guest runs on the destination (top) */
        if (!savevm_put_vmdesc(s->reg, f, &err) || mig_stream_flush(f)) {
            g_printerr("kvmig: warning: writing the vmdesc after the migration: %s\n",
                       err ? err->message : mig_stream_error_msg(f));
            g_clear_error(&err);
        }
        stat_set(&s->stats, transferred, transferred(s, f));
    }
    stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
    /*
     * The run state first: a client that sees "completed" (query-migrate,
     * the MIGRATION event) must find the source in postmigrate.  If a
     * cancel won the race, the out: path puts the guest back as it was.
     */
    machine_set_runstate(m, RUN_STATE_POSTMIGRATE);
    if (migrate_set_state(s, &s->status, MIGRATION_STATUS_DEVICE,
                          MIGRATION_STATUS_COMPLETED)) {
        ok = true;
    }

out:
    /* auto-converge: the guest runs at full speed again, however this ended */
    mig_convergence_end(s);
    if (!ok) {
        if (!err && f && mig_stream_error(f)) {
            kvmig_error(&err, "%s", mig_stream_error_msg(f));
        }
        explain_write_failure(s, f, &err);
        if (get_status(s) == MIGRATION_STATUS_CANCELLING) {
            g_clear_error(&err);
        }
        if (err) {
            migration_set_error(s, err->message);
        }
        if (dest_may_run) {
            /*
             * Postcopy: the destination may have run the guest, so this
             * copy is stale: it stays stopped, the migration paused.
             */
            stopped = false;
            g_prefix_error(&err, "postcopy paused: the destination may have run the guest, "
                           "so it stays stopped here; ");
            migrate_set_state(s, &s->status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                              MIGRATION_STATUS_POSTCOPY_PAUSED);
            /* finish-migrate stays: `cont` refuses it ("not finalized yet") */
            g_printerr("kvmig: %s\n", err ? err->message : "postcopy paused: link lost");
        }
        /* the guest goes on where it was, running or paused */
        if (stopped) {
            if (prev == RUN_STATE_RUNNING) {
                vm_start(m);
            } else {
                machine_set_runstate(m, prev);
            }
        }
    }
    /* deferred teardown: after the destination runs, outside the downtime */
    if (!cleaned_up) {
        savevm_save_cleanup(s->reg);
        multifd_teardown(s, !ok);
    }
    g_mutex_lock(&s->lock);
    s->out_ch = NULL;
    g_mutex_unlock(&s->lock);
    if (f) {
        mig_stream_close(f);
    }
    if (a->fd >= 0) {
        close(a->fd);
    }
    if (!ok) {
        stat_set(&s->stats, total_time, mig_now_ms() - stat_get(&s->stats, start_ms));
        if (!dest_may_run) {
            set_final_failure(s);
        }
    }
    migration_tls_clear(&a->tls);
    mig_uri_clear(&a->uri);
    g_free(a);
    return NULL;
}

bool qmp_migrate(MigrationState *s, const char *uri, bool resume, GError **errp)
{
    OutgoingArgs *a;
    MigrationStatus cur = get_status(s);
    RunState rs = machine_runstate(s->m);

    if (resume) {
        if (cur == MIGRATION_STATUS_POSTCOPY_PAUSED) {
            kvmig_error(errp, "migrate resume: postcopy recovery is not supported by kvmig; "
                        "the guest stays paused on the destination");
        } else {
            kvmig_error(errp, "Cannot resume if there is no paused migration");
        }
        return false;
    }
    if (migration_status_is_running(cur)) {
        kvmig_error(errp, "There's a migration process in progress");
        return false;
    }
    if (rs == RUN_STATE_INMIGRATE) {
        kvmig_error(errp, "Guest is waiting for an incoming migration");
        return false;
    }
    a = g_new0(OutgoingArgs, 1);
    a->s = s;
    a->fd = -1;
    if (!mig_uri_parse(uri, &a->uri, errp)) {
        g_free(a);
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
    for (;;) {
        MigrationStatus cur = get_status(s);

        if (cur != MIGRATION_STATUS_SETUP && cur != MIGRATION_STATUS_ACTIVE &&
            cur != MIGRATION_STATUS_PRE_SWITCHOVER && cur != MIGRATION_STATUS_DEVICE) {
            return true;
        }
        if (migrate_set_state(s, &s->status, cur, MIGRATION_STATUS_CANCELLING)) {
            break;
        }
    }
    g_mutex_lock(&s->lock);
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
    /* refused, not accepted and ignored: nothing could resume a paused migration */
    kvmig_error(errp, "migrate-pause: postcopy recovery is not supported by kvmig, so a "
                "paused postcopy could never finish");
    return false;
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

bool vmstate_register(Machine *m, const char *idstr, uint32_t instance_id,
                      const VMStateDescription *vmsd, void *opaque, GError **errp)
{
    if (!m->migration) {
        kvmig_error(errp, "vmstate '%s' registered before migration_new()", idstr);
        return false;
    }
    return savevm_register_vmsd(m->migration->reg, idstr, instance_id, vmsd, opaque, errp);
}

MigrationState *migration_new(Machine *m, MigrationOptions *opts, GError **errp)
{
    MigrationState *s = g_new0(MigrationState, 1);

    /* a vanished destination must be EPIPE, not a dead source */
    signal(SIGPIPE, SIG_IGN);
    s->m = m;
    s->opts = opts;
    s->reg = savevm_registry_new();
    g_mutex_init(&s->lock);
    g_cond_init(&s->cond);
    s->in_listen_fd = -1;
    s->objects = mig_objects_new();
    s->ram = ram_register(s->reg, m, &s->stats, errp);
    if (s->ram) {
        s->ram->opts = opts;    /* xbzrle reads its capability and cache size */
    }
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
    savevm_registry_free(s->reg);
    ram_state_free(s->ram);
    machine_sections_free(s);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->cond);
    mig_objects_free(s->objects);
    g_free(s->tls_session);
    g_free(s->error_desc);
    g_free(s);
}

MigObjects *migration_objects(MigrationState *s)
{
    return s->objects;
}
