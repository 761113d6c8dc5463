/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy on the destination: the postcopy commands of the stream
 * (ADVISE, RAM_DISCARD, LISTEN, RUN), guest RAM registered with
 * userfaultfd in MISSING mode, the fault thread that asks the source for
 * missing pages on the return path, the listen thread that reads the rest
 * of the stream, and page placement with UFFDIO_COPY / UFFDIO_ZEROPAGE.
 *
 * Atomic placement: a missing page is filled by the kernel in one step
 * (UFFDIO_COPY copies the whole page into a fresh page and maps it, then
 * wakes the threads waiting on it), so no vCPU -- a thread-accelerator
 * workload touching the mapping, or KVM's own access to guest memory
 * from a vCPU ioctl -- ever sees a half-written page: it sleeps in the
 * fault until the page is mapped whole.
 *
 * Threads:
 *  - incoming thread: ADVISE, DISCARD, LISTEN and (inside the package)
 *    the devices and RUN; then postcopy_incoming_finish joins the rest;
 *  - listen thread ("postcopy-listen"): reads the main stream from the
 *    end of the package to EOF; it alone places pages (ram-load.c calls
 *    postcopy_place_page);
 *  - fault thread ("postcopy-fault"): reads the userfaultfd and writes
 *    page requests on the return path.
 *  rp_lock serialises every write on the return path (fault thread,
 *  incoming thread).  lock protects the fault-time table and the stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "migration/migration-int.h"
#include "migration/postcopy.h"
#include "migration/return-path.h"
#include "util/bitmap.h"
#include "util/error.h"

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

    /* fault thread */
    RAMBlock *last_req_block;
    unsigned long *requested[2];

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
};

static int64_t now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

static void rp_write(PostcopyIncoming *pi, const MigRpMsg *m)
{
    g_mutex_lock(&pi->rp_lock);
    /* best effort: a broken link shows up on the main stream too */
    mig_rp_send(pi->ch, m);
    g_mutex_unlock(&pi->rp_lock);
}

static RAMBlock *block_of(PostcopyIncoming *pi, uint64_t addr, uint64_t *page)
{
    Machine *m = pi->s->m;

    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];

        if (addr >= (uintptr_t)rb->host && addr - (uintptr_t)rb->host < rb->used_length) {
            *page = (addr - (uintptr_t)rb->host) >> TARGET_PAGE_BITS;
            return rb;
        }
    }
    return NULL;
}

/* ---- the fault thread ---- */

/* Ask the source for @npages pages of @rb from @page on. */
static void request_pages(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page, uint64_t npages)
{
    MigRpMsg r = {
        .type = rb != pi->last_req_block ? MIG_RP_MSG_REQ_PAGES_ID : MIG_RP_MSG_REQ_PAGES,
        .start = page << TARGET_PAGE_BITS,
        .len = npages << TARGET_PAGE_BITS,
    };

    if (r.type == MIG_RP_MSG_REQ_PAGES_ID) {
        g_strlcpy(r.block, rb->idstr, sizeof(r.block));
    }
    rp_write(pi, &r);
    pi->last_req_block = rb;
    stat_add(&pi->s->in_stats, postcopy_requests, 1);
}

/*
 * Fault thread, lock held: @page of @rb faulted and was neither requested
 * nor placed.  Mark it requested with the pages after it that are still
 * missing -- discarded at LISTEN, not placed, not requested -- up to
 * @window pages in all (x-postcopy-request-window), and return how many:
 * one request brings the run.  A run stops at the first page that is
 * present or asked for already, so no page is ever asked for twice (the
 * source sends a page at most once after the switch anyway).
 */
static uint64_t claim_run(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page, unsigned window)
{
    unsigned long *requested = pi->requested[rb->index];
    uint64_t n = 1;

    set_bit(page, requested);
    while (n < window && page + n < rb->npages) {
        uint64_t p = page + n;

        if (!test_bit(p, pi->discard[rb->index]) || test_bit(p, pi->placed[rb->index]) ||
            test_bit(p, requested)) {
            break;
        }
        set_bit(p, requested);
        n++;
    }
    return n;
}

/* postcopy-blocktime, lock held: the vCPU whose thread is @tid waits for @addr. */
static void note_blocked(PostcopyIncoming *pi, uint32_t tid, uint64_t addr)
{
    Machine *m = pi->s->m;
    unsigned n = MIN((unsigned)m->smp, MIG_STATS_MAX_VCPUS);

    for (unsigned v = 0; v < n; v++) {
        if (m->vcpus[v] && (uint32_t)__atomic_load_n(&m->vcpus[v]->tid, __ATOMIC_ACQUIRE) == tid) {
            if (!pi->vcpu_since[v]) {
                pi->vcpu_since[v] = now_ns();
                pi->vcpu_addr[v] = addr;
                if (++pi->nblocked == n) {
                    pi->all_since = pi->vcpu_since[v];
                }
            }
            return;
        }
    }
}

/* postcopy-blocktime, lock held: @addr was placed; the vCPUs waiting for it run. */
static void note_placed(PostcopyIncoming *pi, uint64_t addr, int64_t now)
{
    Machine *m = pi->s->m;
    unsigned n = MIN((unsigned)m->smp, MIG_STATS_MAX_VCPUS);

    for (unsigned v = 0; v < n; v++) {
        if (pi->vcpu_since[v] && pi->vcpu_addr[v] == addr) {
            stat_add(&pi->s->in_stats, postcopy_vcpu_block_ns[v], now - pi->vcpu_since[v]);
            stat_add(&pi->s->in_stats, postcopy_vcpu_faults[v], 1);
            if (pi->nblocked == n) {
                stat_add(&pi->s->in_stats, postcopy_blocktime_ns, now - pi->all_since);
            }
            pi->nblocked--;
            pi->vcpu_since[v] = 0;
        }
    }
}

static gpointer fault_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = pi->uffd, .events = POLLIN },
            { .fd = pi->quit_fd, .events = POLLIN },
        };
        struct uffd_msg msg[16];
        unsigned window;
        ssize_t n;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[1].revents) {
            break;
        }
        n = read(pi->uffd, msg, sizeof(msg));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            break;
        }
        window = migrate_x_postcopy_request_window(pi->s->opts);
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(msg[0]); i++) {
            uint64_t addr, page, run;
            RAMBlock *rb;

            if (msg[i].event != UFFD_EVENT_PAGEFAULT) {
                continue;
            }
            addr = msg[i].arg.pagefault.address & ~(uint64_t)(TARGET_PAGE_SIZE - 1);
            rb = block_of(pi, addr, &page);
            if (!rb || rb->index >= G_N_ELEMENTS(pi->requested)) {
                continue;
            }
            g_mutex_lock(&pi->lock);
            if (test_bit(page, pi->placed[rb->index])) {
                /* placed between the fault and this read: the thread is awake */
                g_mutex_unlock(&pi->lock);
                continue;
            }
            note_blocked(pi, msg[i].arg.pagefault.feat.ptid, addr);
            /* the latency runs from the first fault, asked for already or not */
            if (!g_hash_table_contains(pi->fault_ns, GSIZE_TO_POINTER(addr))) {
                g_hash_table_insert(pi->fault_ns, GSIZE_TO_POINTER(addr),
                                    GSIZE_TO_POINTER((gsize)now_ns()));
            }
            /* several threads may fault on one page, a neighbour may be on its way */
            if (test_bit(page, pi->requested[rb->index])) {
                g_mutex_unlock(&pi->lock);
                continue;
            }
            run = claim_run(pi, rb, page, window);
            g_mutex_unlock(&pi->lock);
            request_pages(pi, rb, page, run);
        }
    }
    return NULL;
}

/* ---- placing pages (listen thread) ---- */

bool postcopy_listening(PostcopyIncoming *pi)
{
    return pi && __atomic_load_n(&pi->listening, __ATOMIC_ACQUIRE);
}

bool postcopy_place_page(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                         const void *data, GError **errp)
{
    uint64_t dst = (uintptr_t)rb->host + offset;
    gpointer t0 = NULL;
    int64_t now;
    int ret;

    for (;;) {
        if (data) {
            struct uffdio_copy c = {
                .dst = dst, .src = (uintptr_t)data, .len = TARGET_PAGE_SIZE,
            };
            ret = ioctl(pi->uffd, UFFDIO_COPY, &c);
        } else {
            struct uffdio_zeropage z = {
                .range = { .start = dst, .len = TARGET_PAGE_SIZE },
            };
            ret = ioctl(pi->uffd, UFFDIO_ZEROPAGE, &z);
        }
        if (ret == 0 || errno == EEXIST) {
            break;      /* EEXIST: present already (never discarded) */
        }
        if (errno != EAGAIN && errno != EINTR) {
            kvmig_error_errno(errp, errno, "postcopy: placing page 0x%" G_GINT64_MODIFIER
                              "x of '%s'", offset, rb->idstr);
            return false;
        }
    }
    stat_add(&pi->s->in_stats, postcopy_pages_placed, 1);
    g_mutex_lock(&pi->lock);
    now = now_ns();
    if (rb->index < G_N_ELEMENTS(pi->placed)) {
        set_bit(offset >> TARGET_PAGE_BITS, pi->placed[rb->index]);
    }
    if (g_hash_table_steal_extended(pi->fault_ns, GSIZE_TO_POINTER(dst), NULL, &t0)) {
        int64_t lat = now - (int64_t)GPOINTER_TO_SIZE(t0);

        migration_stats_add_latency(&pi->s->in_stats, lat > 0 ? lat : 0);
        note_placed(pi, dst, now);
    }
    g_mutex_unlock(&pi->lock);
    return true;
}

/*
 * postcopy-preempt: the requested pages' own channel (layout in
 * postcopy.h), placed as they come, until EOS.  Every byte is untrusted:
 * flags, block names and offsets are checked as ram-load.c checks them.
 */
static bool preempt_load(PostcopyIncoming *pi, MigStream *f, GError **errp)
{
    static const uint64_t known = RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE |
                                  RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_EOS;
    g_autofree uint8_t *page = g_malloc(TARGET_PAGE_SIZE);
    RAMBlock *rb = NULL;

    if (mig_stream_get_be32(f) != POSTCOPY_PREEMPT_MAGIC || mig_stream_error(f)) {
        kvmig_error(errp, "postcopy-preempt: the channel does not start with its magic");
        return false;
    }
    for (;;) {
        uint64_t word = mig_stream_get_be64(f);
        uint64_t flags = word & (TARGET_PAGE_SIZE - 1), addr = word & ~(TARGET_PAGE_SIZE - 1);

        if (mig_stream_error(f)) {
            kvmig_error(errp, "postcopy-preempt: %s", mig_stream_error_msg(f));
            return false;
        }
        if (flags == RAM_SAVE_FLAG_EOS) {
            return true;
        }
        if ((flags & ~known) || !(flags & (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE)) ||
            (flags & RAM_SAVE_FLAG_ZERO && flags & RAM_SAVE_FLAG_PAGE)) {
            kvmig_error(errp, "postcopy-preempt: record flags 0x%" G_GINT64_MODIFIER "x",
                        flags);
            return false;
        }
        if (!(flags & RAM_SAVE_FLAG_CONTINUE)) {
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
        if (flags & RAM_SAVE_FLAG_ZERO) {
            uint8_t ch = mig_stream_get_u8(f);

            memset(page, ch, TARGET_PAGE_SIZE);
            if (!mig_stream_error(f) &&
                !postcopy_place_page(pi, rb, addr, ch ? page : NULL, errp)) {
                return false;
            }
        } else if (mig_stream_get_buffer(f, page, TARGET_PAGE_SIZE) &&
                   !postcopy_place_page(pi, rb, addr, page, errp)) {
            return false;
        }
        stat_add(&pi->s->in_stats, postcopy_preempt_pages, !mig_stream_error(f));
    }
}

static gpointer preempt_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    pi->preempt_ok = preempt_load(pi, pi->preempt_f, &pi->preempt_err);
    return NULL;
}

/*
 * LISTEN (or, after a recovery, POSTCOPY_RESUME) with postcopy-preempt:
 * the source's second connection, with TLS if tls-creds is set, checked.
 */
static bool accept_preempt(PostcopyIncoming *pi, GError **errp)
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

/* The preempt thread: wait for its EOS (@ok) or stop it; its error if any. */
static bool join_preempt(PostcopyIncoming *pi, bool ok, GError **errp)
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

static gpointer listen_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    pi->listen_ok = loadvm_state_continue(pi->s->reg, pi->f, &pi->listen_err);
    /*
     * The source ends the preempt channel (EOS) before it writes EOF here:
     * every page sent on it is placed before RAM is unregistered.
     */
    if (!join_preempt(pi, pi->listen_ok, pi->listen_ok ? &pi->listen_err : NULL)) {
        pi->listen_ok = false;
    }
    return NULL;
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

/* ---- the commands (incoming thread) ---- */

static bool handle_advise(PostcopyIncoming *pi, const uint8_t *p, uint16_t len, GError **errp)
{
    Machine *m = pi->s->m;
    /* the faulting thread's id tells vCPUs apart (postcopy-blocktime) */
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID };

    if (!postcopy_advise_decode(p, len, TARGET_PAGE_SIZE, errp)) {
        return false;
    }
    if (pi->advised) {
        kvmig_error(errp, "POSTCOPY_ADVISE twice");
        return false;
    }
    if (!pi->ch->bidirectional) {
        kvmig_error(errp, "postcopy needs a return path: %s is one-way", pi->ch->desc);
        return false;
    }
    pi->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (pi->uffd < 0) {
        kvmig_error_errno(errp, errno, "postcopy: userfaultfd");
        return false;
    }
    if (ioctl(pi->uffd, UFFDIO_API, &api) < 0 ||
        !(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        kvmig_error_errno(errp, errno, "postcopy: userfaultfd API");
        return false;
    }
    /* 4 KiB placement: a huge page would be mapped (or discarded) whole */
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        madvise(m->ram_blocks[i]->host, m->ram_blocks[i]->used_length, MADV_NOHUGEPAGE);
        if (i < G_N_ELEMENTS(pi->discard)) {
            pi->discard[i] = bitmap_new(m->ram_blocks[i]->npages);
        }
    }
    pi->advised = true;
    pi->rs->postcopy_advised = true;
    return true;
}

static bool handle_discard(PostcopyIncoming *pi, const uint8_t *p, uint16_t len,
                           GError **errp)
{
    PostcopyDiscard d;
    RAMBlock *rb;

    if (!pi->advised || postcopy_listening(pi)) {
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD %s", pi->advised ? "after LISTEN"
                                                                 : "without ADVISE");
        return false;
    }
    if (!postcopy_discard_decode(p, len, TARGET_PAGE_SIZE, &d, errp)) {
        return false;
    }
    rb = machine_find_ram_block(pi->s->m, d.block);
    if (!rb) {
        g_autofree char *esc = g_strescape(d.block, NULL);
        kvmig_error(errp, "POSTCOPY_RAM_DISCARD of unknown RAM block '%s'", esc);
        return false;
    }
    for (unsigned i = 0; i < d.nranges; i++) {
        if (d.ranges[i].start >= rb->used_length ||
            d.ranges[i].len > rb->used_length - d.ranges[i].start) {
            kvmig_error(errp, "POSTCOPY_RAM_DISCARD 0x%" G_GINT64_MODIFIER "x+0x%"
                        G_GINT64_MODIFIER "x is beyond RAM block '%s'", d.ranges[i].start,
                        d.ranges[i].len, rb->idstr);
            return false;
        }
        if (rb->index >= G_N_ELEMENTS(pi->discard)) {
            kvmig_error(errp, "postcopy: RAM block '%s' is not supported", rb->idstr);
            return false;
        }
        bitmap_set_range(pi->discard[rb->index], d.ranges[i].start >> TARGET_PAGE_BITS,
                         d.ranges[i].len >> TARGET_PAGE_BITS);
        stat_add(&pi->s->in_stats, postcopy_discarded, d.ranges[i].len >> TARGET_PAGE_BITS);
    }
    return true;
}

static bool handle_listen(PostcopyIncoming *pi, GError **errp)
{
    Machine *m = pi->s->m;

    if (!pi->advised || postcopy_listening(pi)) {
        kvmig_error(errp, "POSTCOPY_LISTEN %s", pi->advised ? "twice" : "without ADVISE");
        return false;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        RAMBlock *rb = m->ram_blocks[i];
        struct uffdio_register reg = {
            .range = { .start = (uintptr_t)rb->host, .len = rb->used_length },
            .mode = UFFDIO_REGISTER_MODE_MISSING,
        };
        const uint64_t need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE);

        if (ioctl(pi->uffd, UFFDIO_REGISTER, &reg) < 0) {
            kvmig_error_errno(errp, errno, "postcopy: userfaultfd register '%s'", rb->idstr);
            return false;
        }
        if ((reg.ioctls & need) != need) {
            kvmig_error(errp, "postcopy: userfaultfd cannot copy or zero pages of '%s'",
                        rb->idstr);
            return false;
        }
        if (i < G_N_ELEMENTS(pi->requested)) {
            pi->requested[i] = bitmap_new(rb->npages);
            pi->placed[i] = bitmap_new(rb->npages);
        }
        /*
         * Registered first, then discarded: private anonymous memory, so
         * from now on the next touch of these pages is a missing fault.
         */
        for (uint64_t p = bitmap_find_next(pi->discard[i], rb->npages, 0); p < rb->npages;) {
            uint64_t end = bitmap_find_next_zero(pi->discard[i], rb->npages, p);

            if (madvise(rb->host + (p << TARGET_PAGE_BITS), (end - p) << TARGET_PAGE_BITS,
                        MADV_DONTNEED) < 0) {
                kvmig_error_errno(errp, errno, "postcopy: discarding in '%s'", rb->idstr);
                return false;
            }
            p = bitmap_find_next(pi->discard[i], rb->npages, end);
        }
    }
    pi->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pi->quit_fd < 0) {
        kvmig_error_errno(errp, errno, "postcopy: eventfd");
        return false;
    }
    if (!accept_preempt(pi, errp)) {
        return false;
    }
    migrate_set_state(pi->s, &pi->s->in_status, MIGRATION_STATUS_ACTIVE,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    pi->fault_thread = g_thread_new("postcopy-fault", fault_thread, pi);
    __atomic_store_n(&pi->listening, true, __ATOMIC_RELEASE);
    /* the rest of the main stream is the listen thread's */
    loadvm_hand_off(pi->s->reg);
    pi->listen_thread = g_thread_new("postcopy-listen", listen_thread, pi);
    return true;
}

static bool handle_run(PostcopyIncoming *pi, GError **errp)
{
    if (!postcopy_listening(pi)) {
        kvmig_error(errp, "POSTCOPY_RUN before LISTEN");
        return false;
    }
    incoming_resume_guest(pi->s, g_get_monotonic_time());
    return true;
}

/*
 * Recovery: RECV_BITMAP names a block; the answer is the pages this side
 * has -- present at LISTEN (not discarded) or placed since -- as QEMU lays
 * it out (return-path.h), written right after the message's frame.
 */
static bool handle_recv_bitmap(PostcopyIncoming *pi, const uint8_t *p, uint16_t len,
                               GError **errp)
{
    MigRpMsg m = { .type = MIG_RP_MSG_RECV_BITMAP };
    RAMBlock *rb;
    uint64_t words, size;
    g_autofree uint8_t *blob = NULL;
    g_autofree unsigned char *resident = NULL;
    int ret;

    if (!pi->recovering || len < 2 || len != 1 + p[0]) {
        kvmig_error(errp, "RECV_BITMAP %s", pi->recovering ? "with a malformed payload"
                                                           : "outside a postcopy recovery");
        return false;
    }
    memcpy(m.block, p + 1, p[0]);
    m.block[p[0]] = 0;
    rb = machine_find_ram_block(pi->s->m, m.block);
    if (!rb || rb->index >= G_N_ELEMENTS(pi->placed)) {
        g_autofree char *esc = g_strescape(m.block, NULL);
        kvmig_error(errp, "RECV_BITMAP of unknown RAM block '%s'", esc);
        return false;
    }
    words = (rb->npages + 63) / 64;
    size = words * 8;
    blob = g_malloc0(size + 16);
    for (int i = 0; i < 8; i++) {
        blob[i] = size >> (56 - 8 * i);
        blob[8 + size + i] = MIG_RP_RECV_BITMAP_ENDING >> (56 - 8 * i);
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
    g_mutex_lock(&pi->lock);
    for (uint64_t page = 0; page < rb->npages; page++) {
        if (test_bit(page, pi->placed[rb->index]) ||
            (!test_bit(page, pi->discard[rb->index]) && (resident[page] & 1))) {
            blob[8 + page / 8] |= 1u << (page % 8);     /* little-endian words */
        }
    }
    g_mutex_unlock(&pi->lock);
    g_mutex_lock(&pi->rp_lock);
    ret = mig_rp_send(pi->ch, &m);
    if (ret == 0) {
        ret = mig_channel_write_all(pi->ch, blob, size + 16);
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
 * Recovery: POSTCOPY_RESUME.  Ask again for every page asked for and not
 * placed (the requests may have died with the old link; a vCPU waiting on
 * one would otherwise wait for the background pass), acknowledge, and
 * fault on.
 */
static bool handle_resume(PostcopyIncoming *pi, GError **errp)
{
    MigRpMsg ack = { .type = MIG_RP_MSG_RESUME_ACK, .value = MIG_RP_RESUME_ACK_VALUE };
    Machine *m = pi->s->m;
    uint64_t one;

    if (!pi->recovering) {
        kvmig_error(errp, "POSTCOPY_RESUME outside a postcopy recovery");
        return false;
    }
    pi->recovering = false;
    /* postcopy-preempt: the source connected its new channel before RESUME */
    if (!accept_preempt(pi, errp)) {
        return false;
    }
    rp_write(pi, &ack);
    pi->last_req_block = NULL;
    for (unsigned b = 0; b < m->nr_ram_blocks && b < G_N_ELEMENTS(pi->requested); b++) {
        RAMBlock *rb = m->ram_blocks[b];

        /* runs of asked-for, unplaced pages: one request each, as the fault thread's */
        for (uint64_t page = bitmap_find_next(pi->requested[b], rb->npages, 0);
             page < rb->npages; page = bitmap_find_next(pi->requested[b], rb->npages, page)) {
            uint64_t n = 0;

            g_mutex_lock(&pi->lock);
            while (page + n < rb->npages && n < MIGRATE_MAX_POSTCOPY_REQUEST_WINDOW &&
                   test_bit(page + n, pi->requested[b]) && !test_bit(page + n, pi->placed[b])) {
                n++;
            }
            g_mutex_unlock(&pi->lock);
            if (n) {
                request_pages(pi, rb, page, n);
            }
            page += n ? n : 1;
        }
    }
    /* the fault thread's stop signal was consumed: read the eventfd empty */
    if (read(pi->quit_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        kvmig_error_errno(errp, errno, "postcopy: eventfd");
        return false;
    }
    pi->paused = false;
    migrate_set_state(pi->s, &pi->s->in_status, MIGRATION_STATUS_POSTCOPY_RECOVER,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    pi->fault_thread = g_thread_new("postcopy-fault", fault_thread, pi);
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
    pi->listen_thread = g_thread_new("postcopy-listen", listen_thread, pi);
    return true;
}

static bool command(void *opaque, MigStream *f, uint16_t cmd, const uint8_t *payload,
                    uint16_t len, GError **errp)
{
    PostcopyIncoming *pi = opaque;

    switch (cmd) {
    case MIG_CMD_POSTCOPY_ADVISE:
        return handle_advise(pi, payload, len, errp);
    case MIG_CMD_POSTCOPY_RAM_DISCARD:
        return handle_discard(pi, payload, len, errp);
    case MIG_CMD_POSTCOPY_LISTEN:
    case MIG_CMD_POSTCOPY_RUN:
        if (len) {
            kvmig_error(errp, "POSTCOPY_%s with %u bytes of payload",
                        cmd == MIG_CMD_POSTCOPY_RUN ? "RUN" : "LISTEN", len);
            return false;
        }
        return cmd == MIG_CMD_POSTCOPY_RUN ? handle_run(pi, errp) : handle_listen(pi, errp);
    case MIG_CMD_RECV_BITMAP:
        return handle_recv_bitmap(pi, payload, len, errp);
    case MIG_CMD_POSTCOPY_RESUME:
        if (len) {
            kvmig_error(errp, "POSTCOPY_RESUME with %u bytes of payload", len);
            return false;
        }
        return handle_resume(pi, errp);
    default:
        kvmig_error(errp, "unsupported command %u (%u bytes) in the stream", cmd, len);
        return false;
    }
}

/* ---- life cycle ---- */

PostcopyIncoming *postcopy_incoming_new(MigrationState *s, MigStream *f)
{
    PostcopyIncoming *pi = g_new0(PostcopyIncoming, 1);

    pi->s = s;
    pi->rs = s->ram;
    pi->f = f;
    pi->ch = mig_stream_channel(f);
    pi->uffd = pi->quit_fd = pi->preempt_lfd = -1;
    g_mutex_init(&pi->rp_lock);
    g_mutex_init(&pi->lock);
    pi->fault_ns = g_hash_table_new(g_direct_hash, g_direct_equal);
    s->ram->pc_in = pi;
    s->ram->postcopy_advised = false;
    savevm_set_command_handler(s->reg, command, pi);
    return pi;
}

bool postcopy_incoming_finish(PostcopyIncoming *pi, GError **errp)
{
    bool ok;

    g_thread_join(pi->listen_thread);
    pi->listen_thread = NULL;
    ok = pi->listen_ok;
    if (!ok) {
        g_propagate_error(errp, pi->listen_err);
        pi->listen_err = NULL;
    } else if (pi->recovering) {
        ok = false;
        kvmig_error(errp, "postcopy recovery: EOF before POSTCOPY_RESUME");
    }
    return ok && loadvm_check_ended(pi->s->reg, errp);
}

void postcopy_incoming_done(PostcopyIncoming *pi, bool resumed)
{
    MigRpMsg done = { .type = MIG_RP_MSG_DONE, .resumed = resumed };

    rp_write(pi, &done);
}

static void stop_fault_thread(PostcopyIncoming *pi)
{
    uint64_t one = 1;

    if (!pi->fault_thread) {
        return;
    }
    if (write(pi->quit_fd, &one, sizeof(one)) < 0) {
        g_printerr("kvmig: postcopy: stopping the fault thread: %s\n", g_strerror(errno));
    }
    g_thread_join(pi->fault_thread);
    pi->fault_thread = NULL;
}

void postcopy_incoming_pause(PostcopyIncoming *pi)
{
    /* no more requests: the return path is gone; vCPUs keep waiting */
    stop_fault_thread(pi);
    pi->paused = true;
}

void postcopy_incoming_free(PostcopyIncoming *pi)
{
    if (!pi) {
        return;
    }
    if (pi->listen_thread) {
        mig_channel_shutdown(pi->ch);
        g_thread_join(pi->listen_thread);
    }
    stop_fault_thread(pi);
    join_preempt(pi, false, NULL);
    if (pi->preempt_lfd >= 0) {
        mig_socket_listen_close(pi->preempt_lfd, &pi->preempt_uri);
    }
    mig_uri_clear(&pi->preempt_uri);
    /*
     * Closing unregisters every range and wakes any thread still waiting:
     * right when every page is here, never when paused (a woken vCPU
     * would find a zero page where its data is still at the source) --
     * then the descriptor stays open until kvmig exits.
     */
    if (pi->uffd >= 0 && !pi->paused) {
        close(pi->uffd);
    }
    if (pi->quit_fd >= 0) {
        close(pi->quit_fd);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(pi->requested); i++) {
        g_free(pi->requested[i]);
        g_free(pi->placed[i]);
        g_free(pi->discard[i]);
    }
    pi->rs->pc_in = NULL;
    savevm_set_command_handler(pi->s->reg, NULL, NULL);
    g_clear_error(&pi->listen_err);
    g_hash_table_unref(pi->fault_ns);
    g_mutex_clear(&pi->rp_lock);
    g_mutex_clear(&pi->lock);
    g_free(pi);
}
