/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/postcopy-*.c: the state of each side and what the
 * files share.
 *
 *  - postcopy-ram.c: the destination -- ADVISE, DISCARD, LISTEN, RUN, the
 *    fault thread, the listen thread, placing pages;
 *  - postcopy-src.c: the source -- the switch, the page server, its
 *    return-path thread;
 *  - postcopy-preempt.c: postcopy-preempt's channel, both sides;
 *  - postcopy-recover.c: recovery (migrate-recover, migrate -r), both
 *    sides;
 *  - postcopy-proto.c: the wire formats, pure (fuzzed).
 */
#ifndef KVMIG_MIGRATION_POSTCOPY_INT_H
#define KVMIG_MIGRATION_POSTCOPY_INT_H

#include "migration/migration-int.h"
#include "migration/postcopy.h"
#include "migration/return-path.h"

/*
 * The destination.  Threads: the incoming thread (the commands up to and
 * in the package), the listen thread ("postcopy-listen": the rest of the
 * main stream; it places pages, and runs a recovery's commands), the
 * fault thread ("postcopy-fault": page requests), the preempt thread
 * ("postcopy-preempt": the preempt channel's pages).  rp_lock serialises
 * every write on the return path; lock protects the fault-time table, the
 * placed bitmaps and the blocktime figures.
 */
#define POSTCOPY_SPARE_PROBE_PAGES 512

struct PostcopyIncoming {
    /* set at creation */
    MigrationState *s;
    RAMState *rs;
    MigStream *f;               /* the main stream */
    MigChannel *ch;             /* its return path */

    /* incoming thread, before LISTEN; read-only after */
    bool advised;
    /*
     * Pages to discard, per RAM block, applied at LISTEN once RAM is
     * registered: a read between DISCARD and LISTEN (pmemsave, a device)
     * would otherwise map the shared zero page over a discarded page, and
     * with a page mapped no fault would ever fetch the real one.
     */
    unsigned long *discard[2];
    int uffd;                   /* -1: none */
    int quit_fd;                /* eventfd: the fault thread ends */
    GThread *fault_thread;
    GThread *listen_thread;
    bool listening;             /* atomic: the listen thread places pages */
    /* the placer, started and drained by the listen thread */
    GThread *placer;
    GAsyncQueue *place_full;    /* runs to place; a run with rb NULL ends it */
    GAsyncQueue *place_free;    /* runs placed, to fill again */
    PostcopyPlaceRun place_runs[4];
    bool place_failed;          /* atomic; place_err says why */
    GError *place_err;

    /*
     * fault thread, or the listen thread at RESUME while the fault thread
     * is stopped; the bitmaps (allocated at LISTEN, freed with pi) change
     * under lock, as they are read with placed
     */
    RAMBlock *last_req_block;
    unsigned long *requested[2];    /* per RAM block: asked for, in any request */
    unsigned long *urgent[2];       /* per RAM block: asked for as a request's first page */

    GMutex rp_lock;

    /* protected by lock */
    GMutex lock;
    GHashTable *fault_ns;       /* host page address -> first fault time (ns) */
    unsigned long *placed[2];   /* per RAM block: placed since LISTEN */
    /* postcopy-blocktime: which vCPU waits since when for which page */
    int64_t vcpu_since[MIG_STATS_MAX_VCPUS];    /* 0: running */
    uint64_t vcpu_addr[MIG_STATS_MAX_VCPUS];
    unsigned nblocked;
    int64_t all_since;          /* every vCPU blocked since (ns) */

    /* incoming thread: paused with the guest waiting: RAM stays registered */
    bool paused;
    /* set by postcopy_incoming_resume: RECV_BITMAP and POSTCOPY_RESUME may come */
    bool recovering;

    /* postcopy-preempt: the listener until LISTEN, then the channel's thread */
    int preempt_lfd;            /* -1: none */
    MigUri preempt_uri;
    MigStream *preempt_f;
    GThread *preempt_thread;
    bool preempt_ok;            /* preempt thread: ended at its EOS */
    GError *preempt_err;

    /* listen thread, read after it is joined */
    bool listen_ok;
    GError *listen_err;

    /*
     * postcopy-spare.c: discarded pages moved aside at LISTEN (incoming
     * thread, before the listen and preempt threads start; read-only
     * after), then taken in order by those two threads under spare_lock
     * (spare_block/spare_page, the mincore window probe*)
     */
    bool spare_move;            /* the userfaultfd can UFFDIO_MOVE */
    uint8_t *spare[2];          /* per RAM block: its discarded pages, same offsets */
    uint64_t spare_len[2];
    uint64_t spare_moved;       /* pages moved aside (the holes among them included) */
    unsigned spare_failures;    /* pages that would not */
    GMutex spare_lock;
    unsigned spare_block;
    uint64_t spare_page;
    unsigned probe_block;       /* UINT_MAX: none probed yet */
    uint64_t probe_first;
    unsigned char probe[POSTCOPY_SPARE_PROBE_PAGES];
};

/* postcopy-ram.c */
/* Write @m on the return path (under rp_lock; best effort). */
/*
 * x-postcopy-priority-boost: the calling thread carries pages after the
 * switch, so it runs at nice -boost, ahead of the vCPU threads that wait
 * for those pages.  *@old (if not NULL) gets the nice value to go back to;
 * false if the parameter is 0 or the kernel refused (no CAP_SYS_NICE): the
 * thread then keeps its nice value, nothing else changes.
 */
bool postcopy_boost_thread(MigrationOptions *o, int *old);

void postcopy_rp_write(PostcopyIncoming *pi, const MigRpMsg *m);
/*
 * Ask the source for @npages pages of @rb from @page on.  The source sends
 * the first page at once (urgent), the others -- its neighbours -- ahead
 * of the background pass but within max-postcopy-bandwidth.
 */
void postcopy_request_pages(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                            uint64_t npages);
/*
 * Fault thread, lock held: @page of @rb faulted and is not placed.  Marks
 * what it asks for and returns how many pages from @page on to request
 * (0: none).
 */
uint64_t postcopy_fault_claim(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                              unsigned window);
void postcopy_fault_thread_start(PostcopyIncoming *pi);
void postcopy_listen_thread_start(PostcopyIncoming *pi);

/* postcopy-spare.c, destination */
/* The userfaultfd features to ask for (UFFD_FEATURE_MOVE unless turned off). */
uint64_t postcopy_spare_features(void);
/* After UFFDIO_API: @features is what the kernel granted of those asked for. */
void postcopy_spare_init(PostcopyIncoming *pi, uint64_t features);
/*
 * Incoming thread at LISTEN, RAM registered: discard @npages pages of @rb
 * from @page on -- moved aside where the kernel can, dropped otherwise.
 */
bool postcopy_spare_discard(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                            uint64_t npages, GError **errp);
/* Were any pages moved aside (read-only after LISTEN: no lock)? */
static inline bool postcopy_spare_any(PostcopyIncoming *pi)
{
    return pi->spare[0] || pi->spare[1];
}
/*
 * Listen or preempt thread: the next spare page to write an arriving page into, or
 * NULL if none is left; with @after, only the one right behind @after
 * (else NULL and nothing is taken), so that a run's pages are adjacent.
 */
uint8_t *postcopy_spare_take(PostcopyIncoming *pi, const uint8_t *after);
/*
 * Placer, preempt thread: move @len bytes of spare pages at @src into guest RAM at @dst
 * (pages placed already are skipped); returns how many bytes are done --
 * the caller copies the rest from @src with UFFDIO_COPY.
 */
uint64_t postcopy_spare_move_in(PostcopyIncoming *pi, uint8_t *dst, const uint8_t *src,
                                uint64_t len);
/* Has a thread faulted on the page of @rb at @offset (and waits for it)? */
bool postcopy_page_awaited(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset);
/*
 * Preempt thread: place the page of @rb at @offset that was written into
 * @spare (a page postcopy_spare_take gave): moved in, or copied from it.
 */
bool postcopy_place_spare_page(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                               uint8_t *spare, GError **errp);
/* postcopy_incoming_free: unmap what is left aside. */
void postcopy_spare_free(PostcopyIncoming *pi);

/* postcopy-preempt.c, destination */
/*
 * LISTEN, or RESUME after a recovery: accept the source's preempt channel
 * on the listener postcopy_incoming_set_preempt_listener gave (if any; it
 * is closed after) and start the preempt thread.
 */
bool postcopy_preempt_accept(PostcopyIncoming *pi, GError **errp);
/* Listen thread: wait for the preempt thread's EOS (@ok) or stop it; its error. */
bool postcopy_preempt_join(PostcopyIncoming *pi, bool ok, GError **errp);
/*
 * Close a listener still waiting for its preempt channel: a recovery that
 * failed before RESUME left it (the next one brings its own).
 */
void postcopy_preempt_drop_listener(PostcopyIncoming *pi);
/* postcopy_incoming_free: the preempt thread stopped, the listener closed. */
void postcopy_preempt_incoming_free(PostcopyIncoming *pi);

/* postcopy-recover.c, destination: a recovery's commands (listen thread) */
bool postcopy_recover_recv_bitmap(PostcopyIncoming *pi, const uint8_t *p, uint16_t len,
                                  GError **errp);
bool postcopy_recover_resume(PostcopyIncoming *pi, GError **errp);
/* RESUME, the fault thread stopped: ask again for what was asked for and not placed. */
void postcopy_recover_rerequest(PostcopyIncoming *pi);

/*
 * The source.  Threads: the migration thread (the switch, the page
 * server, a recovery's handshake; it owns the bitmaps, the scan position
 * and the "sent after the switch" bitmaps) and the return-path thread
 * ("postcopy-rp": requests queued under lock; DONE, FAIL, a broken link,
 * a recovery's bitmaps and RESUME_ACK recorded there; cond signalled).
 */
typedef struct PostcopyReqItem {
    RAMBlock *rb;
    uint64_t page;
    uint64_t npages;
} PostcopyReqItem;

typedef struct PostcopySrc PostcopySrc;

struct PostcopySrc {
    /* set at creation */
    MigrationState *s;
    RAMState *rs;
    MigChannel *ch;

    /* migration thread */
    unsigned long *sent[2];     /* per RAM block: sent since the switch */
    MigStream *pf;              /* postcopy-preempt: the requested pages' channel, or NULL */
    RAMBlock *pf_last_block;    /* its CONTINUE state */
    /*
     * max-postcopy-bandwidth, enforced on neighbours and the background
     * pass (a request's first page is never held back): payload bytes of
     * every page sent since bucket_t0 (ns); bw is read from the parameter
     * once per iteration
     */
    uint64_t bw;
    int64_t bucket_t0;
    uint64_t bucket_bytes;
    PostcopyReqItem *hint;      /* the neighbours being sent (from hints), or NULL */
    bool hints_buffered;        /* neighbours wait in their stream's buffer */
    GThread *rp_thread;

    /* protected by lock */
    GMutex lock;
    GCond cond;
    GQueue reqs;                /* PostcopyReqItem: a request's first page */
    GQueue hints;               /* PostcopyReqItem: the rest of a request */
    bool done;                  /* DONE received */
    bool rp_ended;              /* the return path closed or failed */
    char *rp_error;             /* why (first error) */
    /* recovery: the destination's received bitmaps, how many came, RESUME_ACK */
    unsigned long *recv[2];
    unsigned nrecv;
    bool resume_acked;

    /* return-path thread */
    RAMBlock *rp_last_block;
};

/* postcopy-src.c */
/*
 * After the switch: the page server's state for @rs (rs->pc_src), nothing
 * sent yet, requests read from @ch's return path.
 */
PostcopySrc *postcopy_src_new(MigrationState *s, RAMState *rs, MigChannel *ch);
/*
 * Return-path thread: queue the request @r (REQ_PAGES or REQ_PAGES_ID),
 * checked against the RAM blocks: its first page on reqs, the rest on
 * hints.  False with *errp if it names no block or lies outside one.
 */
bool postcopy_src_queue_request(PostcopySrc *pc, const MigRpMsg *r, GError **errp);
/* Start the return-path thread. */
void postcopy_src_rp_start(PostcopySrc *pc);
/* Drop every queued request and neighbour (the destination asks again after RESUME). */
void postcopy_src_drop_requests(PostcopySrc *pc);
/* Serve pages on @f until all are sent, END, EOF, DONE (@base: earlier streams' bytes). */
bool postcopy_src_serve(PostcopySrc *pc, MigStream *f, uint64_t base, GError **errp);
/* After postcopy_src_serve: the return-path thread joined; freed if @ok, else kept. */
void postcopy_src_serve_end(PostcopySrc *pc, bool ok);

/* postcopy-preempt.c, source */
/*
 * The connection to @uri (tcp: or unix:), made before the command that
 * makes the destination accept it (the package with LISTEN, or RESUME).
 */
MigChannel *postcopy_preempt_connect(MigrationState *s, const MigUri *uri, GError **errp);
/* After that command: TLS as @tls says, then the magic; @ch is consumed. */
MigStream *postcopy_preempt_start(MigrationState *s, MigChannel *ch, const MigTlsSide *tls,
                                  GError **errp);
/* A record header for @rb's page at @offset on pc->pf (its own CONTINUE state). */
void postcopy_preempt_put_header(PostcopySrc *pc, RAMBlock *rb, uint64_t offset,
                                 uint64_t flags);
/* Before the main stream's EOF: EOS on pc->pf (if any), flushed. */
bool postcopy_preempt_finish(PostcopySrc *pc, GError **errp);
/* Close pc->pf (if any): a recovery connects a new one. */
void postcopy_preempt_close(PostcopySrc *pc);

/* postcopy-recover.c, source: the return-path thread reads a received bitmap */
bool postcopy_recover_read_bitmap(PostcopySrc *pc, RAMBlock *rb, GError **errp);

#endif
