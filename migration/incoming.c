/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The incoming migration: -incoming and migrate-incoming open the channel
 * (a listener is bound at once so errors are immediate), the incoming
 * thread accepts, loads the whole stream, and resumes the guest unless the
 * source was paused or -S was given: at once on a one-way stream, after
 * READY and the source's GO on a two-way channel (return-path.h).  A
 * failed load prints one line and quits kvmig with status 1; a good load
 * whose GO never came stays paused and up.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "migration/compress.h"
#include "migration/migration-int.h"
#include "migration/multifd.h"
#include "migration/postcopy.h"
#include "migration/rdma.h"
#include "migration/savevm.h"
#include "migration/return-path.h"
#include "util/cutils.h"
#include "util/error.h"

typedef struct IncomingArgs {
    MigrationState *s;
    MigUri uri;
    int listen_fd;
    MigChannel *ch;
} IncomingArgs;

static void set_in_channel(MigrationState *s, MigChannel *ch, int lfd)
{
    g_mutex_lock(&s->lock);
    s->in_ch = ch;
    s->in_listen_fd = lfd;
    g_mutex_unlock(&s->lock);
}

static void incoming_failed(MigrationState *s, MigChannel *ch, const char *msg)
{
    MigrationStatus cur = __atomic_load_n(&s->in_status, __ATOMIC_SEQ_CST);

    if (__atomic_load_n(&s->in_quitting, __ATOMIC_SEQ_CST)) {
        /* kvmig is quitting while waiting: not a failed migration */
        return;
    }
    if (ch && ch->bidirectional) {
        MigRpMsg fail = { .type = MIG_RP_MSG_FAIL };

        g_strlcpy(fail.text, msg, sizeof(fail.text));
        /* best effort: if the source is gone, it is no longer waiting */
        mig_rp_send(ch, &fail);
    }
    migration_set_error(s, msg);
    migrate_set_state(s, &s->in_status, cur, MIGRATION_STATUS_FAILED);
    g_printerr("kvmig: incoming migration failed: %s\n", msg);
    machine_request_quit(s->m, 1);
}

/* multifd: how long the rest of the channels may take once one has arrived */
#define MULTIFD_ACCEPT_TIMEOUT_MS 10000

/* A TLS record of type handshake, version 3.x: what a ClientHello starts with. */
static bool is_tls_record(uint32_t magic)
{
    return magic >> 16 == 0x1603;
}

/*
 * With tls-creds set: refuse a plaintext peer, else handshake, read the
 * channel's first bytes (*@magic) and check tls-authz.  Returns the TLS
 * channel, or NULL with @errp set; *@refused gets a channel the source can
 * be told why on (its plaintext main channel, or its TLS main channel
 * that authz denied), else the channel is closed.
 */
static MigChannel *accept_tls(MigrationState *s, MigChannel *ch, const MigTlsSide *tls,
                              uint32_t *magic, MigChannel **refused, GError **errp)
{
    *refused = NULL;
    if (*magic == QEMU_VM_FILE_MAGIC || *magic == MULTIFD_MAGIC ||
        *magic == POSTCOPY_PREEMPT_MAGIC) {
        kvmig_error(errp, "this destination requires TLS (tls-creds is set) but the source "
                    "sent a plaintext %s", *magic == MULTIFD_MAGIC ? "multifd channel" :
                    *magic == POSTCOPY_PREEMPT_MAGIC ? "postcopy-preempt channel"
                                                     : "migration stream");
        if (*magic == QEMU_VM_FILE_MAGIC) {
            *refused = ch;
        } else {
            mig_channel_close(ch);
        }
        return NULL;
    }
    ch = migration_tls_wrap(s, ch, tls, true, errp);
    if (!ch) {
        return NULL;
    }
    if (!migration_tls_peek(s, ch, magic, errp)) {
        mig_channel_close(ch);
        return NULL;
    }
    if (!mig_tls_channel_authorize(ch, tls->authz, errp)) {
        if (*magic != MULTIFD_MAGIC) {
            *refused = ch;
        } else {
            mig_channel_close(ch);
        }
        return NULL;
    }
    return ch;
}

MigChannel *incoming_accept_more(MigrationState *s, int lfd, const MigUri *u, int timeout_ms,
                                 uint32_t *magic, GError **errp)
{
    MigTlsSide tls;
    MigChannel *ch, *refused;

    ch = mig_socket_accept_peek(lfd, u, timeout_ms, &s->in_quitting, magic, errp);
    if (!ch) {
        return NULL;
    }
    if (!migration_tls_prepare(s, true, u, &tls, errp)) {
        mig_channel_close(ch);
        return NULL;
    }
    if (tls.creds && !is_tls_record(*magic) && *magic != POSTCOPY_PREEMPT_MAGIC) {
        /* a recovery channel starts with a command, not a magic: say it plainly */
        kvmig_error(errp, "this destination requires TLS (tls-creds is set) but the source "
                    "sent plaintext");
        mig_channel_close(ch);
        ch = NULL;
    } else if (tls.creds) {
        ch = accept_tls(s, ch, &tls, magic, &refused, errp);
        if (refused) {
            mig_channel_close(refused);
        }
    } else if (is_tls_record(*magic)) {
        kvmig_error(errp, "the source started a TLS handshake, but tls-creds is not set "
                    "on this destination");
        mig_channel_close(ch);
        ch = NULL;
    }
    migration_tls_clear(&tls);
    return ch;
}

/*
 * tcp:/unix: accept the main channel and, with the multifd capability,
 * multifd-channels channels, in any order (multifd.h tells them apart).
 * *@main_ch is set even on failure when it arrived, so the source can be
 * told why on its return path.
 */
static bool accept_channels(IncomingArgs *a, MigChannel **main_ch, MultiFDRecv **mr,
                            GError **errp)
{
    MigrationState *s = a->s;
    bool multifd = false, have_opts = false;
    unsigned n = 0, got = 0;
    MultiFDCompression method = MULTIFD_COMPRESSION_NONE;
    MigChannel *chans[MULTIFD_MAX_CHANNELS] = { NULL };
    MultiFDInit first = { 0 };
    MigTlsSide tls = { 0 };
    bool ok = false;

    *main_ch = NULL;
    *mr = NULL;
    while (!have_opts || !*main_ch || got < n) {
        uint8_t buf[MULTIFD_INIT_SIZE];
        MultiFDInit init;
        uint32_t magic;
        MigChannel *ch;
        int ret;

        ch = mig_socket_accept_peek(a->listen_fd, &a->uri,
                                    *main_ch || got ? MULTIFD_ACCEPT_TIMEOUT_MS : -1,
                                    &s->in_quitting, &magic, errp);
        if (!ch) {
            if (*main_ch || got) {
                g_prefix_error(errp, "multifd: %u of %u channels%s (is multifd enabled on "
                               "the source with the same multifd-channels?): ", got, n,
                               *main_ch ? "" : " and no main channel");
            }
            goto out;
        }
        if (!have_opts) {
            /*
             * The capability and parameters as they are when the source
             * connects: with -incoming on the command line they are set
             * over QMP after this thread started waiting.
             */
            bool caps[MIGRATION_CAPABILITY__MAX];
            MigrationParameters p;

            /* one consistent copy: channel count and method belong together */
            mig_opts_snapshot(s->opts, caps, &p);
            have_opts = true;
            multifd = caps[MIGRATION_CAPABILITY_MULTIFD];
            n = multifd ? p.multifd_channels : 0;
            method = p.multifd_compression;
            if (multifd) {
                listen(a->listen_fd, n + 1);    /* room for every channel at once */
            }
            if (!migration_tls_prepare(s, true, &a->uri, &tls, errp)) {
                mig_channel_close(ch);
                goto out;
            }
        }
        if (tls.creds) {
            MigChannel *refused;

            ch = accept_tls(s, ch, &tls, &magic, &refused, errp);
            if (!ch) {
                if (refused && !*main_ch) {
                    *main_ch = refused;     /* the source hears why on it */
                } else if (refused) {
                    mig_channel_close(refused);
                }
                goto out;
            }
        } else if (is_tls_record(magic)) {
            kvmig_error(errp, "the source started a TLS handshake, but tls-creds is not set "
                        "on this destination");
            mig_channel_close(ch);
            goto out;
        }
        if (magic != MULTIFD_MAGIC) {
            /* the main stream (loadvm_state checks its header) */
            if (*main_ch) {
                kvmig_error(errp, "a second main migration connection");
                mig_channel_close(ch);
                goto out;
            }
            *main_ch = ch;
            continue;
        }
        if (!multifd) {
            kvmig_error(errp, "the source opened a multifd channel, but the multifd "
                        "capability is not enabled on the destination");
            mig_channel_close(ch);
            goto out;
        }
        ret = mig_channel_read_all(ch, buf, sizeof(buf));
        if (ret < 0) {
            kvmig_error(errp, "reading a multifd channel's init: %s",
                        mig_channel_strerror(ch, ret));
            mig_channel_close(ch);
            goto out;
        }
        if (!multifd_init_decode(buf, &init, errp)) {
            mig_channel_close(ch);
            goto out;
        }
        if (init.nchannels != n) {
            kvmig_error(errp, "the source uses %u multifd channels, this side "
                        "multifd-channels=%u", init.nchannels, n);
        } else if (init.compression != method) {
            kvmig_error(errp, "the source uses multifd-compression %s, this side %s",
                        multifd_compression_name(init.compression),
                        multifd_compression_name(method));
        } else if (got && memcmp(init.uuid, first.uuid, sizeof(init.uuid))) {
            kvmig_error(errp, "multifd channel %u belongs to another migration", init.id);
        } else if (chans[init.id]) {
            kvmig_error(errp, "multifd channel %u connected twice", init.id);
        } else {
            if (!got) {
                first = init;
            }
            chans[init.id] = ch;
            got++;
            continue;
        }
        mig_channel_close(ch);
        goto out;
    }
    ok = true;
    if (n) {
        *mr = multifd_recv_new(s, chans, n, method, errp);
        ok = *mr != NULL;
    }
out:
    for (unsigned i = 0; i < n; i++) {
        if (chans[i]) {
            mig_channel_close(chans[i]);
        }
    }
    migration_tls_clear(&tls);
    return ok;
}

/* x-downtime-phases: this side's load time (and multifd's bytes) once loaded. */
static uint32_t set_loaded_stats(MigrationState *s, MultiFDRecv *mr, int64_t loaded_us)
{
    int64_t switchover_us = savevm_load_switchover_us(s->reg);
    uint32_t load_us = switchover_us ? MIN(loaded_us - switchover_us, UINT32_MAX) : 0;

    stat_set(&s->in_stats, phase_us[MIG_PHASE_DEST_LOAD], load_us);
    if (mr) {
        /* every channel byte came before the last MULTIFD_FLUSH, loaded now */
        uint64_t chan[MIG_STATS_MAX_CHANNELS];
        unsigned n = multifd_recv_channel_bytes(mr, chan, G_N_ELEMENTS(chan));

        migration_stats_set_channel_bytes(&s->in_stats, chan, NULL, n);
    }
    return load_us;
}

/*
 * Run the guest unless the source's was paused or -S was given; returns
 * whether it runs.  Records the resume time since @from_us.
 */
bool incoming_resume_guest(MigrationState *s, int64_t from_us)
{
    Machine *m = s->m;
    bool resume;

    /* stop/cont in inmigrate change start_paused under run_lock */
    g_mutex_lock(&m->run_lock);
    resume = s->loaded_runstate == RUN_STATE_RUNNING && !m->start_paused;
    g_mutex_unlock(&m->run_lock);
    if (resume) {
        vm_start(m);
    } else {
        machine_set_runstate(m, RUN_STATE_PAUSED);
    }
    stat_set(&s->in_stats, phase_us[MIG_PHASE_DEST_RESUME],
             MIN(g_get_monotonic_time() - from_us, UINT32_MAX));
    stat_set(&s->in_stats, phases_known, 2);
    return resume;
}

/*
 * Two-way channels, everything loaded: READY, wait for the source's GO,
 * only then run the guest, DONE, and read past the vmdesc.  False (the
 * guest not started) if GO does not come.
 */
static bool switchover_handshake(MigrationState *s, MigChannel *ch, MigStream *f,
                                 MultiFDRecv *mr, GError **errp)
{
    MigRpMsg ready = { .type = MIG_RP_MSG_READY };
    MigRpMsg go, done = { .type = MIG_RP_MSG_DONE };
    bool ok;
    int64_t go_us;

    ready.load_us = set_loaded_stats(s, mr, g_get_monotonic_time());
    ok = mig_rp_send(ch, &ready) == 0;
    if (!ok) {
        kvmig_error(errp, "sending READY on %s failed", ch->desc);
    } else if (!mig_rp_recv_stream(f, &go, errp)) {
        g_prefix_error(errp, "waiting for the source's GO ");
        ok = false;
    } else if (go.type != MIG_RP_MSG_GO) {
        kvmig_error(errp, "the source sent %s instead of GO", mig_rp_msg_name(go.type));
        ok = false;
    }
    if (ok) {
        go_us = g_get_monotonic_time();
        done.resumed = incoming_resume_guest(s, go_us);
        done.resume_us = MIN(g_get_monotonic_time() - go_us, UINT32_MAX);
        mig_rp_send(ch, &done);     /* statistics only: best effort */
        /* the guest runs here already: a bad vmdesc is only worth a word */
        if (!loadvm_skip_vmdesc(f, errp)) {
            g_printerr("kvmig: warning: after the migration: %s\n", (*errp)->message);
            g_clear_error(errp);
        }
        migrate_set_state(s, &s->in_status, MIGRATION_STATUS_ACTIVE,
                          MIGRATION_STATUS_COMPLETED);
    }
    return ok;
}

/*
 * Everything was loaded but GO never came: the source may have resumed
 * its guest, so this one stays paused; status failed, and kvmig stays up
 * (a management tool that knows the source completed may `cont` it).
 */
static void go_lost(MigrationState *s, const char *why)
{
    g_autofree char *msg = g_strdup_printf("%s; the guest stays paused", why);

    if (__atomic_load_n(&s->in_quitting, __ATOMIC_SEQ_CST)) {
        return;     /* kvmig is quitting: not a lost GO */
    }
    machine_set_runstate(s->m, RUN_STATE_PAUSED);
    migration_set_error(s, msg);
    migrate_set_state(s, &s->in_status, MIGRATION_STATUS_ACTIVE, MIGRATION_STATUS_FAILED);
    g_printerr("kvmig: incoming migration: %s\n", msg);
}

/*
 * Postcopy recovery, paused: wait for migrate-recover's listener (or for
 * kvmig to quit), then accept the source's new main channel (with TLS if
 * tls-creds is set).  With postcopy-preempt the listener goes to @pi: the
 * source connects its new preempt channel there too, accepted at
 * POSTCOPY_RESUME.  NULL when quitting or on an error (then paused
 * again, with the reason).
 */
static MigStream *wait_recovery(MigrationState *s, PostcopyIncoming *pi, GError **errp)
{
    MigChannel *ch;
    uint32_t magic = 0;
    MigUri uri;
    int lfd;

    g_mutex_lock(&s->lock);
    while (s->pc_recover_lfd < 0 && !__atomic_load_n(&s->in_quitting, __ATOMIC_SEQ_CST)) {
        g_cond_wait(&s->cond, &s->lock);
    }
    lfd = s->pc_recover_lfd;
    uri = s->pc_recover_uri;
    s->pc_recover_lfd = -1;
    memset(&s->pc_recover_uri, 0, sizeof(s->pc_recover_uri));
    s->in_listen_fd = lfd;      /* migration_incoming_join shuts it down */
    g_mutex_unlock(&s->lock);
    if (lfd < 0) {
        kvmig_error(errp, "quitting");
        return NULL;
    }
    ch = incoming_accept_more(s, lfd, &uri, -1, &magic, errp);
    if (ch && magic == POSTCOPY_PREEMPT_MAGIC) {
        /* the source connects it only once the main channel has its bitmaps */
        kvmig_error(errp, "postcopy recovery: a preempt channel came first");
        mig_channel_close(ch);
        ch = NULL;
    }
    set_in_channel(s, ch, -1);
    if (ch && migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT)) {
        postcopy_incoming_set_preempt_listener(pi, lfd, &uri);
    } else {
        mig_socket_listen_close(lfd, &uri);
    }
    mig_uri_clear(&uri);
    return ch ? mig_stream_new(ch) : NULL;
}

/*
 * Postcopy, after the package: wait for the listen thread (every page
 * placed, EOF), then DONE and completed.  If it fails, the guest has run
 * here and some of its pages are only at the source: the migration is
 * postcopy-paused, the guest keeps waiting for them (RAM stays registered)
 * and kvmig does not quit -- QEMU's rule.  migrate-recover then listens
 * for the source's `migrate -r`: the new stream goes to a new listen
 * thread (recovery: RECV_BITMAP, POSTCOPY_RESUME, the rest of the pages),
 * and so on until every page is here.
 */
static void incoming_postcopy_end(MigrationState *s, PostcopyIncoming *pi, MultiFDRecv *mr,
                                  MigStream *f)
{
    g_mutex_lock(&s->lock);
    s->mf_recv = NULL;
    g_mutex_unlock(&s->lock);
    s->ram->mfr = NULL;
    for (;;) {
        g_autoptr(GError) err = NULL;
        MigrationStatus cur;

        if (postcopy_incoming_finish(pi, &err)) {
            postcopy_incoming_done(pi, machine_is_running(s->m));
            postcopy_incoming_free(pi);
            migrate_set_state(s, &s->in_status, MIGRATION_STATUS_POSTCOPY_ACTIVE,
                              MIGRATION_STATUS_COMPLETED);
            break;
        }
        postcopy_incoming_pause(pi);
        s->pc_in = pi;
        set_in_channel(s, NULL, -1);
        mig_stream_close(f);
        f = NULL;
        g_mutex_lock(&s->lock);
        g_clear_pointer(&s->error_desc, g_free);
        g_mutex_unlock(&s->lock);
        migration_set_error(s, err->message);
        cur = __atomic_load_n(&s->in_status, __ATOMIC_SEQ_CST);
        if (cur != MIGRATION_STATUS_POSTCOPY_PAUSED) {
            migrate_set_state(s, &s->in_status, cur, MIGRATION_STATUS_POSTCOPY_PAUSED);
        }
        g_printerr("kvmig: postcopy paused: %s\n", err->message);
        g_clear_error(&err);
        f = wait_recovery(s, pi, &err);
        if (!f) {
            if (!__atomic_load_n(&s->in_quitting, __ATOMIC_SEQ_CST)) {
                g_printerr("kvmig: postcopy recovery: %s\n", err->message);
                migration_set_error(s, err->message);
                continue;   /* paused still; migrate-recover may be tried again */
            }
            break;
        }
        migrate_set_state(s, &s->in_status, MIGRATION_STATUS_POSTCOPY_PAUSED,
                          MIGRATION_STATUS_POSTCOPY_RECOVER);
        if (!postcopy_incoming_resume(pi, f, &err)) {
            g_printerr("kvmig: postcopy recovery: %s\n", err->message);
            break;
        }
    }
    ram_decompress_cleanup(s->ram);
    multifd_recv_free(mr);
    set_in_channel(s, NULL, -1);
    if (f) {
        mig_stream_close(f);
    }
}

static gpointer incoming_thread(gpointer opaque)
{
    IncomingArgs *a = opaque;
    MigrationState *s = a->s;
    g_autoptr(GError) err = NULL;
    MigChannel *ch = a->ch;
    MultiFDRecv *mr = NULL;
    MigStream *f;
    PostcopyIncoming *pi;
    int preempt_lfd = -1;
    bool ok;

    if (!ch) {
        bool accepted = accept_channels(a, &ch, &mr, &err);

        set_in_channel(s, ch, -1);
        if (accepted && migrate_cap(s->opts, MIGRATION_CAPABILITY_POSTCOPY_PREEMPT)) {
            /* postcopy-preempt: the source connects once more at the switch */
            preempt_lfd = a->listen_fd;
        } else {
            mig_socket_listen_close(a->listen_fd, &a->uri);
        }
        a->listen_fd = -1;
        if (!accepted) {
            incoming_failed(s, ch, err->message);
            set_in_channel(s, NULL, -1);
            if (ch) {
                mig_channel_close(ch);
            }
            goto out;
        }
        g_mutex_lock(&s->lock);
        s->mf_recv = mr;
        g_mutex_unlock(&s->lock);
    }
    if (ch == a->ch && !migration_tls_transport_check(s, &a->uri, &err)) {
        /* tls-creds was set after -incoming exec:/fd:/file:/rdma: */
        incoming_failed(s, NULL, err->message);
        set_in_channel(s, NULL, -1);
        mig_channel_close(ch);
        goto out;
    }
    if (a->uri.kind == MIG_URI_RDMA && !mig_rdma_accept(ch, &err)) {
        incoming_failed(s, NULL, err->message);
        set_in_channel(s, NULL, -1);
        mig_channel_close(ch);
        goto out;
    }
    migrate_set_state(s, &s->in_status, MIGRATION_STATUS_SETUP, MIGRATION_STATUS_ACTIVE);
    f = mig_stream_new(ch);
    ram_load_reset(s->ram);
    s->ram->mfr = mr;
    s->loaded_runstate = RUN_STATE_RUNNING;
    /*
     * Over a channel with a return path the source writes the vmdesc only
     * after GO (it is not needed to run the guest): resume first, read it
     * after.  A one-way stream (file:, exec:) already holds it.
     */
    pi = postcopy_incoming_new(s, f);
    if (preempt_lfd >= 0) {
        postcopy_incoming_set_preempt_listener(pi, preempt_lfd, &a->uri);
    }
    ok = loadvm_state_until_eof(s->reg, f, &err) &&
         (ch->bidirectional || loadvm_skip_vmdesc(f, &err));
    if (ok && loadvm_handed_off(s->reg)) {
        /* postcopy: the guest may run already; the listen thread reads on */
        incoming_postcopy_end(s, pi, mr, f);
        goto out;
    }
    if (!ok && postcopy_listening(pi)) {
        /* the package failed before RUN: the guest never ran here */
        g_prefix_error(&err, "postcopy: ");
    }
    postcopy_incoming_free(pi);
    /*
     * multifd: every page was placed at the last MULTIFD_FLUSH.  After a
     * good load the channels are torn down once the guest runs (below),
     * outside the downtime; after a failure now, so nothing still writes.
     */
    g_mutex_lock(&s->lock);
    s->mf_recv = NULL;
    g_mutex_unlock(&s->lock);
    s->ram->mfr = NULL;
    if (!ok) {
        multifd_recv_free(mr);
        mr = NULL;
    }
    if (ok && ch->bidirectional) {
        ok = switchover_handshake(s, ch, f, mr, &err);
        if (!ok) {
            /* the load was good: paused, alive, for whoever decides (main.rst) */
            go_lost(s, err->message);
        }
    } else if (ok) {
        int64_t loaded_us = g_get_monotonic_time();

        set_loaded_stats(s, mr, loaded_us);
        incoming_resume_guest(s, loaded_us);
        migrate_set_state(s, &s->in_status, MIGRATION_STATUS_ACTIVE,
                          MIGRATION_STATUS_COMPLETED);
    } else {
        incoming_failed(s, ch, err->message);
    }
    /* compress: the decompress workers, after the guest resumed */
    ram_decompress_cleanup(s->ram);
    multifd_recv_free(mr);
    set_in_channel(s, NULL, -1);
    mig_stream_close(f);
out:
    mig_uri_clear(&a->uri);
    g_free(a);
    return NULL;
}

/* fd: a name from getfd, or on the command line an inherited fd number. */
static int take_fd(Machine *m, const char *name, GError **errp)
{
    gpointer key, value;
    uint64_t n;

    if (g_hash_table_lookup_extended(m->named_fds, name, &key, &value)) {
        g_hash_table_steal(m->named_fds, key);
        g_free(key);
        return GPOINTER_TO_INT(value);
    }
    if (parse_uint64(name, &n, NULL) && n <= INT32_MAX && fcntl(n, F_GETFD) >= 0) {
        return n;
    }
    kvmig_error(errp, "File descriptor named '%s' has not been found", name);
    return -1;
}

static bool incoming_open(MigrationState *s, const char *uri, GError **errp)
{
    IncomingArgs *a = g_new0(IncomingArgs, 1);
    int fd;

    a->s = s;
    a->listen_fd = -1;
    if (!mig_uri_parse(uri, &a->uri, errp)) {
        g_free(a);
        return false;
    }
    if (!migration_tls_transport_check(s, &a->uri, errp)) {
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    switch (a->uri.kind) {
    case MIG_URI_TCP:
    case MIG_URI_UNIX:
        a->listen_fd = mig_socket_listen(&a->uri, errp);
        break;
    case MIG_URI_EXEC:
        a->ch = mig_exec_open(a->uri.cmd, false, errp);
        break;
    case MIG_URI_FD:
        fd = take_fd(s->m, a->uri.fdname, errp);
        a->ch = fd < 0 ? NULL : mig_fd_open(fd, a->uri.fdname, false, errp);
        break;
    case MIG_URI_FILE:
        a->ch = mig_file_open(a->uri.path, a->uri.offset, false, errp);
        break;
    case MIG_URI_RDMA:
        /* listening now; the incoming thread accepts (mig_rdma_accept) */
        a->ch = mig_rdma_listen(&a->uri, s->m, errp);
        break;
    }
    if (!a->ch && a->listen_fd < 0) {
        mig_uri_clear(&a->uri);
        g_free(a);
        return false;
    }
    s->incoming_started = true;
    set_in_channel(s, a->ch, a->listen_fd);
    migrate_set_state(s, &s->in_status, MIGRATION_STATUS_NONE, MIGRATION_STATUS_SETUP);
    s->in_thread = g_thread_new("incoming", incoming_thread, a);
    return true;
}

bool migration_start_incoming_cmdline(MigrationState *s, const char *uri, GError **errp)
{
    machine_set_runstate(s->m, RUN_STATE_INMIGRATE);
    if (!strcmp(uri, "defer")) {
        s->incoming_deferred = true;
        return true;
    }
    return incoming_open(s, uri, errp);
}

bool qmp_migrate_incoming(MigrationState *s, const char *uri, GError **errp)
{
    if (!s->incoming_deferred) {
        kvmig_error(errp, "'-incoming' was not specified on the command line");
        return false;
    }
    if (s->incoming_started) {
        kvmig_error(errp, "The incoming migration has already been started");
        return false;
    }
    return incoming_open(s, uri, errp);
}

bool qmp_migrate_recover(MigrationState *s, const char *uri, GError **errp)
{
    MigrationStatus in = __atomic_load_n(&s->in_status, __ATOMIC_SEQ_CST);
    MigUri u;
    int lfd;

    if (in != MIGRATION_STATUS_POSTCOPY_PAUSED) {
        kvmig_error(errp, "Migrate recover can only be run when postcopy is paused.");
        return false;
    }
    if (!mig_uri_parse(uri, &u, errp)) {
        return false;
    }
    if (u.kind != MIG_URI_TCP && u.kind != MIG_URI_UNIX) {
        kvmig_error(errp, "migrate-recover: %s: the new channel must be tcp: or unix:", uri);
        mig_uri_clear(&u);
        return false;
    }
    lfd = mig_socket_listen(&u, errp);
    if (lfd < 0) {
        mig_uri_clear(&u);
        return false;
    }
    g_mutex_lock(&s->lock);
    if (s->pc_recover_lfd >= 0) {
        g_mutex_unlock(&s->lock);
        kvmig_error(errp, "migrate-recover: already listening for the source");
        mig_socket_listen_close(lfd, &u);
        mig_uri_clear(&u);
        return false;
    }
    s->pc_recover_lfd = lfd;
    s->pc_recover_uri = u;
    g_cond_broadcast(&s->cond);
    g_mutex_unlock(&s->lock);
    return true;
}

void migration_incoming_join(MigrationState *s)
{
    if (!s->in_thread) {
        return;
    }
    /* unblock an accept or a read that would never return */
    __atomic_store_n(&s->in_quitting, true, __ATOMIC_SEQ_CST);
    g_mutex_lock(&s->lock);
    if (s->in_listen_fd >= 0) {
        shutdown(s->in_listen_fd, SHUT_RDWR);
    }
    if (s->in_ch) {
        mig_channel_shutdown(s->in_ch);
    }
    multifd_recv_shutdown(s->mf_recv);
    g_cond_broadcast(&s->cond);     /* a paused postcopy waiting for migrate-recover */
    g_mutex_unlock(&s->lock);
    g_thread_join(s->in_thread);
    s->in_thread = NULL;
}
