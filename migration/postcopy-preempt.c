/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * postcopy-preempt: the requested pages' own channel, both sides.
 *
 * The source connects a second time to the destination's address at the
 * switch (and again after each recovery, to the recovery address), and
 * sends there, as ram records, only the pages the destination asked for,
 * so that they never queue behind bulk pages in the main socket.  The
 * destination accepts it at LISTEN (or RESUME) and places its pages on a
 * thread of their own.  Layout in postcopy.h; why two steps (connect,
 * then TLS and the magic) in postcopy_preempt_start.
 */
#include <string.h>

#include "migration/postcopy-int.h"
#include "util/error.h"

/* ---- destination ---- */

/*
 * The preempt thread: the channel's records (layout in postcopy.h), each
 * page placed as it comes (moved in from a spare page where there is one),
 * until EOS.  Every byte is untrusted: flags, block names and offsets are
 * checked as ram-load.c checks them.
 */
static bool preempt_load(PostcopyIncoming *pi, MigStream *f, GError **errp)
{
    g_autofree uint8_t *page = g_malloc(TARGET_PAGE_SIZE);
    RAMBlock *rb = NULL;

    if (mig_stream_get_be32(f) != POSTCOPY_PREEMPT_MAGIC || mig_stream_error(f)) {
        kvmig_error(errp, "postcopy-preempt: the channel does not start with its magic");
        return false;
    }
    for (;;) {
        uint64_t word = mig_stream_get_be64(f), addr;
        PostcopyPreemptRecord rec;

        if (mig_stream_error(f)) {
            kvmig_error(errp, "postcopy-preempt: %s", mig_stream_error_msg(f));
            return false;
        }
        rec = postcopy_preempt_record_decode(word, TARGET_PAGE_SIZE, &addr, errp);
        if (rec == POSTCOPY_PREEMPT_EOS) {
            return true;
        }
        if (rec == POSTCOPY_PREEMPT_BAD) {
            return false;
        }
        if (!(rec & POSTCOPY_PREEMPT_CONTINUE)) {
            char name[256];
            uint8_t n = mig_stream_get_u8(f);

            mig_stream_get_buffer(f, name, n);
            name[n] = 0;
            rb = mig_stream_error(f) ? NULL : machine_find_ram_block(pi->s->m, name);
        }
        if (!rb || addr >= rb->used_length) {
            kvmig_error(errp, "postcopy-preempt: page 0x%" G_GINT64_MODIFIER "x of %s",
                        addr, rb ? "beyond its RAM block" : "no known RAM block");
            return false;
        }
        if (rec & POSTCOPY_PREEMPT_ZERO) {
            uint8_t ch = mig_stream_get_u8(f);

            memset(page, ch, TARGET_PAGE_SIZE);
            if (!mig_stream_error(f) &&
                !postcopy_place_page(pi, rb, addr, ch ? page : NULL, errp)) {
                return false;
            }
        } else {
            /*
             * Into a recycled page where there is one (postcopy-spare.c),
             * unless a thread waits for this page: moving one page in
             * flushes the spare page's TLB entry on every CPU (an IPI per
             * page, measured slower than a copy on that path).  Without
             * spare pages (an older kernel) the fault table is not looked at.
             */
            uint8_t *spare = postcopy_spare_any(pi) && !postcopy_page_awaited(pi, rb, addr)
                             ? postcopy_spare_take(pi, NULL) : NULL;

            if (mig_stream_get_buffer(f, spare ? spare : page, TARGET_PAGE_SIZE) &&
                !(spare ? postcopy_place_spare_page(pi, rb, addr, spare, errp)
                        : postcopy_place_page(pi, rb, addr, page, errp))) {
                return false;
            }
        }
        stat_add(&pi->s->in_stats, postcopy_preempt_pages, !mig_stream_error(f));
    }
}

static gpointer preempt_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    postcopy_boost_thread(pi->s->opts, NULL);
    pi->preempt_ok = preempt_load(pi, pi->preempt_f, &pi->preempt_err);
    return NULL;
}

/* The source's second connection, with TLS if tls-creds is set, checked. */
bool postcopy_preempt_accept(PostcopyIncoming *pi, GError **errp)
{
    uint32_t magic = 0;
    MigChannel *ch;

    if (pi->preempt_lfd < 0) {
        return true;
    }
    ch = incoming_accept_more(pi->s, pi->preempt_lfd, &pi->preempt_uri,
                              POSTCOPY_PREEMPT_ACCEPT_MS, &magic, errp);
    mig_socket_listen_close(pi->preempt_lfd, &pi->preempt_uri);
    pi->preempt_lfd = -1;
    if (!ch) {
        g_prefix_error(errp, "postcopy-preempt is on here, but the source's preempt "
                       "channel: ");
        return false;
    }
    if (magic != POSTCOPY_PREEMPT_MAGIC) {
        kvmig_error(errp, "postcopy-preempt: a connection that is not a preempt channel");
        mig_channel_close(ch);
        return false;
    }
    pi->preempt_f = mig_stream_new(ch);
    pi->preempt_thread = g_thread_new("postcopy-preempt", preempt_thread, pi);
    return true;
}

bool postcopy_preempt_join(PostcopyIncoming *pi, bool ok, GError **errp)
{
    if (!pi->preempt_thread) {
        return true;
    }
    if (!ok) {
        mig_channel_shutdown(mig_stream_channel(pi->preempt_f));
    }
    g_thread_join(pi->preempt_thread);
    pi->preempt_thread = NULL;
    mig_stream_close(pi->preempt_f);
    pi->preempt_f = NULL;
    if (ok && !pi->preempt_ok) {
        g_propagate_error(errp, pi->preempt_err);
        pi->preempt_err = NULL;
        return false;
    }
    g_clear_error(&pi->preempt_err);
    return true;
}

void postcopy_incoming_set_preempt_listener(PostcopyIncoming *pi, int lfd, const MigUri *uri)
{
    g_assert(pi->preempt_lfd < 0);
    mig_uri_clear(&pi->preempt_uri);
    pi->preempt_lfd = lfd;
    pi->preempt_uri = (MigUri){
        .kind = uri->kind, .host = g_strdup(uri->host), .port = g_strdup(uri->port),
        .path = g_strdup(uri->path),
    };
}

void postcopy_preempt_drop_listener(PostcopyIncoming *pi)
{
    if (pi->preempt_lfd >= 0) {
        mig_socket_listen_close(pi->preempt_lfd, &pi->preempt_uri);
        pi->preempt_lfd = -1;
    }
    mig_uri_clear(&pi->preempt_uri);
}

void postcopy_preempt_incoming_free(PostcopyIncoming *pi)
{
    postcopy_preempt_join(pi, false, NULL);
    postcopy_preempt_drop_listener(pi);
}

/* ---- source ---- */

/*
 * In two steps.  Connect once more to the destination's address (the
 * switch: before the package; a recovery: before POSTCOPY_RESUME), so the
 * connection waits in its listener...
 */
MigChannel *postcopy_preempt_connect(MigrationState *s, const MigUri *uri, GError **errp)
{
    MigChannel *ch;

    if (uri->kind != MIG_URI_TCP && uri->kind != MIG_URI_UNIX) {
        kvmig_error(errp, "postcopy-preempt needs a tcp: or unix: URI");
        return NULL;
    }
    ch = mig_socket_connect(uri, &s->status, errp);
    if (!ch) {
        g_prefix_error(errp, "postcopy-preempt channel: ");
    }
    return ch;
}

/*
 * ... then, once the command that makes the destination accept it (the
 * package with LISTEN, or RESUME) is written, the TLS handshake if
 * tls-creds is set (the destination does its side as it accepts: doing
 * it before that command would leave both sides waiting) and the magic
 * by which the destination knows the channel.  @ch is consumed.
 */
MigStream *postcopy_preempt_start(MigrationState *s, MigChannel *ch, const MigTlsSide *tls,
                                  GError **errp)
{
    MigStream *pf;

    ch = migration_tls_wrap(s, ch, tls, false, errp);
    if (!ch) {
        g_prefix_error(errp, "postcopy-preempt channel: ");
        return NULL;
    }
    pf = mig_stream_new(ch);
    mig_stream_put_be32(pf, POSTCOPY_PREEMPT_MAGIC);
    if (mig_stream_flush(pf)) {
        kvmig_error(errp, "postcopy-preempt channel: %s", mig_stream_error_msg(pf));
        mig_stream_close(pf);
        return NULL;
    }
    return pf;
}

void postcopy_preempt_put_header(PostcopySrc *pc, RAMBlock *rb, uint64_t offset,
                                 uint64_t flags)
{
    if (rb == pc->pf_last_block) {
        mig_stream_put_be64(pc->pf, offset | flags | RAM_SAVE_FLAG_CONTINUE);
    } else {
        size_t n = strlen(rb->idstr);

        mig_stream_put_be64(pc->pf, offset | flags);
        mig_stream_put_u8(pc->pf, n);
        mig_stream_put_buffer(pc->pf, rb->idstr, n);
        pc->pf_last_block = rb;
    }
}

bool postcopy_preempt_finish(PostcopySrc *pc, GError **errp)
{
    if (!pc->pf) {
        return true;
    }
    /* the preempt channel ends first: its pages are placed before EOF on the main one */
    mig_stream_put_be64(pc->pf, RAM_SAVE_FLAG_EOS);
    if (mig_stream_flush(pc->pf)) {
        kvmig_error(errp, "postcopy-preempt: %s", mig_stream_error_msg(pc->pf));
        return false;
    }
    return true;
}

void postcopy_preempt_close(PostcopySrc *pc)
{
    if (pc->pf) {
        mig_stream_close(pc->pf);
        pc->pf = NULL;
        pc->pf_last_block = NULL;
    }
}
