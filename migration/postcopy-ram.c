/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Postcopy on the destination: the postcopy commands of the stream
 * (ADVISE, RAM_DISCARD, LISTEN, RUN), guest RAM registered with
 * userfaultfd in MISSING mode, the fault thread that asks the source for
 * missing pages on the return path, the listen thread that reads the rest
 * of the stream, and page placement with UFFDIO_COPY / UFFDIO_ZEROPAGE
 * (or UFFDIO_MOVE of recycled discarded pages: postcopy-spare.c).
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
 *  The preempt channel's thread is postcopy-preempt.c's, a recovery's
 *  commands postcopy-recover.c's (postcopy-int.h lists what they share).
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

#include "migration/postcopy-int.h"
#include "util/bitmap.h"
#include "util/cutils.h"
#include "util/error.h"

static int64_t now_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

void postcopy_rp_write(PostcopyIncoming *pi, const MigRpMsg *m)
{
    g_mutex_lock(&pi->rp_lock);
    /* best effort: a broken link shows up on the main stream too */
    mig_rp_send(pi->ch, m);
    g_mutex_unlock(&pi->rp_lock);
}

bool postcopy_boost_thread(MigrationOptions *o, int *old)
{
    unsigned boost = migrate_x_postcopy_priority_boost(o);
    int prev;

    if (!boost || !thread_set_nice(-(int)boost, &prev)) {
        return false;
    }
    if (old) {
        *old = prev;
    }
    return true;
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

void postcopy_request_pages(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                            uint64_t npages)
{
    MigRpMsg r = {
        .type = rb != pi->last_req_block ? MIG_RP_MSG_REQ_PAGES_ID : MIG_RP_MSG_REQ_PAGES,
        .start = page << TARGET_PAGE_BITS,
        .len = npages << TARGET_PAGE_BITS,
    };

    if (r.type == MIG_RP_MSG_REQ_PAGES_ID) {
        g_strlcpy(r.block, rb->idstr, sizeof(r.block));
    }
    postcopy_rp_write(pi, &r);
    pi->last_req_block = rb;
    stat_add(&pi->s->in_stats, postcopy_requests, 1);
}

/*
 * Lock held: @page of @rb faulted and was neither requested nor placed.
 * Mark it requested with the pages after it that are still missing --
 * discarded at LISTEN, not placed, not requested -- up to @window pages
 * in all (x-postcopy-request-window), and return how many: one request
 * brings the run.  A run stops at the first page that is present or
 * asked for already, so no page is in two runs (the source sends a page
 * at most once after the switch anyway).
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

/*
 * Several threads may fault on one page, and a page may be on its way as
 * a neighbour of an earlier fault's page.  The source holds neighbours to
 * max-postcopy-bandwidth, so a fault on one asks for it again, alone --
 * now the first page of its request, sent at once -- but only once: a
 * page asked for as a request's first page is never asked for again.
 */
uint64_t postcopy_fault_claim(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page,
                              unsigned window)
{
    if (test_bit(page, pi->urgent[rb->index])) {
        return 0;
    }
    set_bit(page, pi->urgent[rb->index]);
    if (test_bit(page, pi->requested[rb->index])) {
        return 1;
    }
    return claim_run(pi, rb, page, window);
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

    postcopy_boost_thread(pi->s->opts, NULL);

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
            run = postcopy_fault_claim(pi, rb, page, window);
            g_mutex_unlock(&pi->lock);
            if (run) {
                postcopy_request_pages(pi, rb, page, run);
            }
        }
    }
    return NULL;
}

void postcopy_fault_thread_start(PostcopyIncoming *pi)
{
    pi->fault_thread = g_thread_new("postcopy-fault", fault_thread, pi);
}

/* ---- placing pages (listen thread) ---- */

bool postcopy_listening(PostcopyIncoming *pi)
{
    return pi && __atomic_load_n(&pi->listening, __ATOMIC_ACQUIRE);
}

/* Placed: @npages pages from @offset are mapped whole; account for them. */
static void note_pages_placed(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                              uint64_t npages)
{
    uint64_t dst = (uintptr_t)rb->host + offset;
    unsigned long *placed = rb->index < G_N_ELEMENTS(pi->placed) ? pi->placed[rb->index] : NULL;
    int64_t now;

    stat_add(&pi->s->in_stats, postcopy_pages_placed, npages);
    g_mutex_lock(&pi->lock);
    now = now_ns();
    for (uint64_t i = 0; i < npages; i++, dst += TARGET_PAGE_SIZE) {
        gpointer t0 = NULL;

        if (placed) {
            set_bit((offset >> TARGET_PAGE_BITS) + i, placed);
        }
        if (g_hash_table_steal_extended(pi->fault_ns, GSIZE_TO_POINTER(dst), NULL, &t0)) {
            int64_t lat = now - (int64_t)GPOINTER_TO_SIZE(t0);

            migration_stats_add_latency(&pi->s->in_stats, lat > 0 ? lat : 0);
            note_placed(pi, dst, now);
        }
    }
    g_mutex_unlock(&pi->lock);
}

static bool place_failed(RAMBlock *rb, uint64_t offset, GError **errp)
{
    kvmig_error_errno(errp, errno, "postcopy: placing page 0x%" G_GINT64_MODIFIER
                      "x of '%s'", offset, rb->idstr);
    return false;
}

/*
 * Copy @len bytes of pages from @offset on, whose contents are consecutive
 * at @data, with as few UFFDIO_COPY calls as the kernel allows (pages
 * present already are skipped, as postcopy_place_page skips them).
 */
static bool copy_pages(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                       const void *data, uint64_t len, GError **errp)
{
    uint64_t done = 0;

    while (done < len) {
        struct uffdio_copy c = {
            .dst = (uintptr_t)rb->host + offset + done,
            .src = (uintptr_t)data + done,
            .len = len - done,
        };

        if (ioctl(pi->uffd, UFFDIO_COPY, &c) == 0) {
            done = len;
        } else if (c.copy > 0) {
            /* a part went (the kernel stopped early, or at a present page) */
            done += (uint64_t)c.copy;
        } else if (errno == EEXIST) {
            done += TARGET_PAGE_SIZE;   /* present already (never discarded) */
        } else if (errno != EAGAIN && errno != EINTR) {
            return place_failed(rb, offset + done, errp);
        }
    }
    return true;
}

/* Place @npages pages from @offset on, consecutive at @data (copy_pages). */
static bool place_pages(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                        const void *data, uint64_t npages, GError **errp)
{
    if (!copy_pages(pi, rb, offset, data, npages << TARGET_PAGE_BITS, errp)) {
        return false;
    }
    note_pages_placed(pi, rb, offset, npages);
    return true;
}

/* Placer: a run, moved in from its spare pages where it can be, else copied. */
static bool place_run(PostcopyIncoming *pi, PostcopyPlaceRun *run, GError **errp)
{
    uint64_t len = run->npages << TARGET_PAGE_BITS, done = 0;

    if (run->spare) {
        done = postcopy_spare_move_in(pi, run->rb->host + run->offset, run->data, len);
    }
    if (!copy_pages(pi, run->rb, run->offset + done, run->data + done, len - done, errp)) {
        return false;
    }
    note_pages_placed(pi, run->rb, run->offset, run->npages);
    return true;
}

bool postcopy_page_awaited(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset)
{
    gpointer key = GSIZE_TO_POINTER((uintptr_t)rb->host + offset);
    bool awaited;

    g_mutex_lock(&pi->lock);
    awaited = g_hash_table_contains(pi->fault_ns, key);
    g_mutex_unlock(&pi->lock);
    return awaited;
}

bool postcopy_place_spare_page(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                               uint8_t *spare, GError **errp)
{
    PostcopyPlaceRun run = { .rb = rb, .offset = offset, .npages = 1,
                             .data = spare, .spare = true };

    return place_run(pi, &run, errp);
}

bool postcopy_place_page(PostcopyIncoming *pi, RAMBlock *rb, uint64_t offset,
                         const void *data, GError **errp)
{
    if (data) {
        return place_pages(pi, rb, offset, data, 1, errp);
    }
    for (;;) {
        struct uffdio_zeropage z = {
            .range = { .start = (uintptr_t)rb->host + offset, .len = TARGET_PAGE_SIZE },
        };

        if (ioctl(pi->uffd, UFFDIO_ZEROPAGE, &z) == 0 || errno == EEXIST) {
            break;      /* EEXIST: present already (never discarded) */
        }
        if (errno != EAGAIN && errno != EINTR) {
            return place_failed(rb, offset, errp);
        }
    }
    note_pages_placed(pi, rb, offset, 1);
    return true;
}

static gpointer placer_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    postcopy_boost_thread(pi->s->opts, NULL);
    for (;;) {
        PostcopyPlaceRun *run = g_async_queue_pop(pi->place_full);

        if (!run->rb) {
            g_free(run);
            return NULL;
        }
        if (!__atomic_load_n(&pi->place_failed, __ATOMIC_ACQUIRE) &&
            !place_run(pi, run, &pi->place_err)) {
            __atomic_store_n(&pi->place_failed, true, __ATOMIC_RELEASE);
        }
        g_async_queue_push(pi->place_free, run);
    }
}

static void placer_start(PostcopyIncoming *pi)
{
    if (!pi->place_full) {
        pi->place_full = g_async_queue_new();
        pi->place_free = g_async_queue_new();
        for (unsigned i = 0; i < G_N_ELEMENTS(pi->place_runs); i++) {
            pi->place_runs[i].buf = g_malloc((size_t)POSTCOPY_PLACE_BATCH << TARGET_PAGE_BITS);
            g_async_queue_push(pi->place_free, &pi->place_runs[i]);
        }
    }
    pi->placer = g_thread_new("postcopy-place", placer_thread, pi);
}

/* Every run handed over is placed (or the placer failed): false with *errp then. */
static bool placer_stop(PostcopyIncoming *pi, GError **errp)
{
    g_async_queue_push(pi->place_full, g_new0(PostcopyPlaceRun, 1));
    g_thread_join(pi->placer);
    pi->placer = NULL;
    if (pi->place_failed) {
        if (errp && !*errp) {
            g_propagate_error(errp, g_steal_pointer(&pi->place_err));
        }
        g_clear_error(&pi->place_err);
        pi->place_failed = false;
        return false;
    }
    return true;
}

PostcopyPlaceRun *postcopy_place_run_get(PostcopyIncoming *pi)
{
    return g_async_queue_pop(pi->place_free);
}

uint8_t *postcopy_place_run_slot(PostcopyIncoming *pi, PostcopyPlaceRun *run, uint64_t n)
{
    uint8_t *spare;

    if (n == 0) {
        /* a run is spare pages, or its buffer, from its first page */
        spare = postcopy_spare_take(pi, NULL);
        run->spare = spare != NULL;
        run->data = spare ? spare : run->buf;
        return run->data;
    }
    if (!run->spare) {
        return run->buf + (n << TARGET_PAGE_BITS);
    }
    return postcopy_spare_take(pi, run->data + ((n - 1) << TARGET_PAGE_BITS));
}

void postcopy_place_run_drop(PostcopyIncoming *pi, PostcopyPlaceRun *run)
{
    g_async_queue_push(pi->place_free, run);
}

bool postcopy_place_run_put(PostcopyIncoming *pi, PostcopyPlaceRun *run, GError **errp)
{
    if (__atomic_load_n(&pi->place_failed, __ATOMIC_ACQUIRE)) {
        postcopy_place_run_drop(pi, run);
        kvmig_error(errp, "%s", pi->place_err->message);
        return false;
    }
    g_async_queue_push(pi->place_full, run);
    return true;
}

static gpointer listen_thread(gpointer opaque)
{
    PostcopyIncoming *pi = opaque;

    postcopy_boost_thread(pi->s->opts, NULL);
    placer_start(pi);
    pi->listen_ok = loadvm_state_continue(pi->s->reg, pi->f, &pi->listen_err);
    /* what the stream brought is placed before anything looks at RAM */
    if (!placer_stop(pi, pi->listen_ok ? &pi->listen_err : NULL)) {
        pi->listen_ok = false;
    }
    /*
     * The source ends the preempt channel (EOS) before it writes EOF here:
     * every page sent on it is placed before RAM is unregistered.
     */
    if (!postcopy_preempt_join(pi, pi->listen_ok, pi->listen_ok ? &pi->listen_err : NULL)) {
        pi->listen_ok = false;
    }
    return NULL;
}

void postcopy_listen_thread_start(PostcopyIncoming *pi)
{
    pi->listen_thread = g_thread_new("postcopy-listen", listen_thread, pi);
}

/* ---- the commands (incoming thread) ---- */

/*
 * A userfaultfd with @extra features on top of THREAD_ID in pi->uffd;
 * false with errno (EINVAL: a feature the kernel lacks) and none open.
 */
static bool open_uffd(PostcopyIncoming *pi, struct uffdio_api *api, uint64_t extra)
{
    int err;

    /* the faulting thread's id tells vCPUs apart (postcopy-blocktime) */
    *api = (struct uffdio_api){ .api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID | extra };
    pi->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (pi->uffd < 0) {
        return false;
    }
    if (ioctl(pi->uffd, UFFDIO_API, api) == 0) {
        postcopy_spare_init(pi, api->features & extra);
        return true;
    }
    err = errno;
    close(pi->uffd);
    pi->uffd = -1;
    errno = err;
    return false;
}

static bool handle_advise(PostcopyIncoming *pi, const uint8_t *p, uint16_t len, GError **errp)
{
    Machine *m = pi->s->m;
    struct uffdio_api api;

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
    if (!open_uffd(pi, &api, postcopy_spare_features()) &&
        (errno != EINVAL || !open_uffd(pi, &api, 0))) {
        kvmig_error_errno(errp, errno, "postcopy: userfaultfd");
        return false;
    }
    if (!(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        kvmig_error(errp, "postcopy: userfaultfd cannot register ranges");
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
            pi->urgent[i] = bitmap_new(rb->npages);
            pi->placed[i] = bitmap_new(rb->npages);
        }
        /*
         * Registered first, then discarded: private anonymous memory, so
         * from now on the next touch of these pages is a missing fault.
         */
        for (uint64_t p = bitmap_find_next(pi->discard[i], rb->npages, 0); p < rb->npages;) {
            uint64_t end = bitmap_find_next_zero(pi->discard[i], rb->npages, p);

            if (!postcopy_spare_discard(pi, rb, p, end - p, errp)) {
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
    if (!postcopy_preempt_accept(pi, errp)) {
        return false;
    }
    migrate_set_state(pi->s, &pi->s->in_status, MIGRATION_STATUS_ACTIVE,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    postcopy_fault_thread_start(pi);
    __atomic_store_n(&pi->listening, true, __ATOMIC_RELEASE);
    /* the rest of the main stream is the listen thread's */
    loadvm_hand_off(pi->s->reg);
    postcopy_listen_thread_start(pi);
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
        return postcopy_recover_recv_bitmap(pi, payload, len, errp);
    case MIG_CMD_POSTCOPY_RESUME:
        if (len) {
            kvmig_error(errp, "POSTCOPY_RESUME with %u bytes of payload", len);
            return false;
        }
        return postcopy_recover_resume(pi, errp);
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
    g_mutex_init(&pi->spare_lock);
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

    postcopy_rp_write(pi, &done);
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
    postcopy_preempt_drop_listener(pi);
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
    postcopy_preempt_incoming_free(pi);
    postcopy_spare_free(pi);
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
    if (pi->place_full) {
        for (unsigned i = 0; i < G_N_ELEMENTS(pi->place_runs); i++) {
            g_free(pi->place_runs[i].buf);
        }
        g_async_queue_unref(pi->place_full);
        g_async_queue_unref(pi->place_free);
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(pi->requested); i++) {
        g_free(pi->requested[i]);
        g_free(pi->urgent[i]);
        g_free(pi->placed[i]);
        g_free(pi->discard[i]);
    }
    pi->rs->pc_in = NULL;
    savevm_set_command_handler(pi->s->reg, NULL, NULL);
    g_clear_error(&pi->listen_err);
    g_hash_table_unref(pi->fault_ns);
    g_mutex_clear(&pi->rp_lock);
    g_mutex_clear(&pi->lock);
    g_mutex_clear(&pi->spare_lock);
    g_free(pi);
}
