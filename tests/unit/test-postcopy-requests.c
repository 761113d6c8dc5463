/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of postcopy's page requests with a request window, both
 * sides, without a second process or userfaultfd: the destination's
 * choice of what a fault asks for (postcopy_fault_claim) and what a
 * recovery asks for again, over a memory return path; the source's page
 * server (postcopy_src_send) over memory streams -- a request's first
 * page goes at once, its neighbours ahead of the background pass but
 * within max-postcopy-bandwidth, each page once.  Links the migration
 * layer only.
 */
#include <string.h>

#include "migration/postcopy-int.h"
#include "migration/ram.h"
#include "system/machine.h"
#include "util/bitmap.h"

#define RAM_SIZE (8ULL << 20)     /* machine_new's least */
#define NPAGES (RAM_SIZE >> TARGET_PAGE_BITS)
#define OFFSET_MASK (~(uint64_t)(TARGET_PAGE_SIZE - 1))

typedef struct Fixture {
    Machine *m;
    MigrationState *s;
    RAMBlock *rb;
} Fixture;

static void fixture_init(Fixture *fx)
{
    g_autoptr(GError) err = NULL;

    fx->m = machine_new(RAM_SIZE, 1, &err);
    g_assert_no_error(err);
    fx->s = migration_new(fx->m, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(fx->m->nr_ram_blocks, ==, 1);
    fx->rb = fx->m->ram_blocks[0];
    g_assert_cmpuint(fx->rb->npages, ==, NPAGES);
}

static void fixture_free(Fixture *fx)
{
    migration_free(fx->s);
    machine_free(fx->m);
}

/* ---- the destination ---- */

/* A destination at LISTEN (as handle_listen leaves it), every page discarded. */
static PostcopyIncoming *incoming_new(Fixture *fx)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_writer());
    PostcopyIncoming *pi = postcopy_incoming_new(fx->s, f);

    pi->discard[0] = bitmap_new(NPAGES);
    bitmap_set_range(pi->discard[0], 0, NPAGES);
    pi->requested[0] = bitmap_new(NPAGES);
    pi->urgent[0] = bitmap_new(NPAGES);
    pi->placed[0] = bitmap_new(NPAGES);
    return pi;
}

static void incoming_free(PostcopyIncoming *pi)
{
    MigStream *f = pi->f;

    postcopy_incoming_free(pi);
    mig_stream_close(f);
}

static uint64_t claim(PostcopyIncoming *pi, RAMBlock *rb, uint64_t page, unsigned window)
{
    uint64_t n;

    g_mutex_lock(&pi->lock);
    n = postcopy_fault_claim(pi, rb, page, window);
    g_mutex_unlock(&pi->lock);
    return n;
}

static void test_fault_claim(void)
{
    Fixture fx;
    PostcopyIncoming *pi;

    fixture_init(&fx);
    pi = incoming_new(&fx);

    /* the faulting page and its missing neighbours, up to the window */
    g_assert_cmpuint(claim(pi, fx.rb, 10, 4), ==, 4);
    for (uint64_t p = 10; p < 14; p++) {
        g_assert_true(test_bit(p, pi->requested[0]));
        g_assert_cmpint(test_bit(p, pi->urgent[0]), ==, p == 10);
    }
    /* a second fault on the faulting page: nothing */
    g_assert_cmpuint(claim(pi, fx.rb, 10, 4), ==, 0);
    /* a fault on a neighbour: that page alone, urgent, once */
    g_assert_cmpuint(claim(pi, fx.rb, 12, 4), ==, 1);
    g_assert_true(test_bit(12, pi->urgent[0]));
    g_assert_false(test_bit(14, pi->requested[0]));
    g_assert_cmpuint(claim(pi, fx.rb, 12, 4), ==, 0);
    /* a run stops at a page requested already ... */
    g_assert_cmpuint(claim(pi, fx.rb, 8, 4), ==, 2);
    /* ... placed, or not discarded (present since precopy) */
    set_bit(21, pi->placed[0]);
    g_assert_cmpuint(claim(pi, fx.rb, 20, 4), ==, 1);
    clear_bit(31, pi->discard[0]);
    g_assert_cmpuint(claim(pi, fx.rb, 30, 4), ==, 1);
    /* the window ends at the block's end */
    g_assert_cmpuint(claim(pi, fx.rb, NPAGES - 2, 64), ==, 2);
    /* window 1: the faulting page alone */
    g_assert_cmpuint(claim(pi, fx.rb, 40, 1), ==, 1);
    g_assert_false(test_bit(41, pi->requested[0]));

    incoming_free(pi);
    fixture_free(&fx);
}

/* The requests written on @pi's return path, as (first page, pages) pairs. */
static GArray *requests_sent(PostcopyIncoming *pi)
{
    GByteArray *data = mig_channel_memory_data(pi->ch);
    MigChannel *rd = mig_channel_new_memory_reader(data->data, data->len);
    GArray *reqs = g_array_new(false, false, sizeof(uint64_t));
    MigRpMsg m;

    for (;;) {
        g_autoptr(GError) err = NULL;
        uint64_t pair[2];

        if (!mig_rp_recv(rd, &m, &err)) {
            break;      /* the end of what was written */
        }
        g_assert_true(m.type == MIG_RP_MSG_REQ_PAGES_ID || m.type == MIG_RP_MSG_REQ_PAGES);
        pair[0] = m.start >> TARGET_PAGE_BITS;
        pair[1] = m.len >> TARGET_PAGE_BITS;
        g_array_append_vals(reqs, pair, 2);
    }
    mig_channel_close(rd);
    return reqs;
}

static void test_rerequest(void)
{
    static const uint64_t expect[] = { 11, 2, 13, 2, 16, 2, 40, 1 };
    Fixture fx;
    PostcopyIncoming *pi;
    g_autoptr(GArray) reqs = NULL;

    fixture_init(&fx);
    pi = incoming_new(&fx);
    g_assert_cmpuint(claim(pi, fx.rb, 10, 8), ==, 8);      /* 10 urgent, 11-17 */
    g_assert_cmpuint(claim(pi, fx.rb, 13, 8), ==, 1);      /* 13 urgent now */
    g_assert_cmpuint(claim(pi, fx.rb, 40, 1), ==, 1);
    set_bit(10, pi->placed[0]);
    set_bit(15, pi->placed[0]);
    /* the link broke; what went before does not count */
    g_byte_array_set_size(mig_channel_memory_data(pi->ch), 0);

    postcopy_recover_rerequest(pi);
    reqs = requests_sent(pi);
    /*
     * Every urgent page unplaced is first in a request again (13, 40);
     * neighbours whose urgent page was placed (11, 16) start one and are
     * urgent now, as the source sends them at once.
     */
    g_assert_cmpuint(reqs->len, ==, G_N_ELEMENTS(expect));
    for (unsigned i = 0; i < reqs->len; i++) {
        g_assert_cmpuint(g_array_index(reqs, uint64_t, i), ==, expect[i]);
    }
    g_assert_true(test_bit(11, pi->urgent[0]));
    g_assert_true(test_bit(16, pi->urgent[0]));
    g_assert_false(test_bit(12, pi->urgent[0]));
    g_assert_false(test_bit(17, pi->urgent[0]));
    /* a fault on 12 after the recovery still makes it urgent, once */
    g_assert_cmpuint(claim(pi, fx.rb, 12, 8), ==, 1);
    g_assert_cmpuint(claim(pi, fx.rb, 16, 8), ==, 0);

    incoming_free(pi);
    fixture_free(&fx);
}

/* ---- the source ---- */

typedef struct Src {
    Fixture fx;
    RAMState *rs;
    PostcopySrc *pc;
    MigStream *f;               /* the main stream */
    MigStream *pf;              /* the preempt channel, or NULL */
    size_t f_read, pf_read;     /* bytes of each parsed so far */
} Src;

/* After the switch: every page dirty and not zero (a page costs 4 KiB). */
static void src_init(Src *t, bool preempt)
{
    fixture_init(&t->fx);
    t->rs = t->fx.s->ram;
    memset(t->fx.rb->host, 0xaa, RAM_SIZE);
    t->fx.rb->bmap = bitmap_new(NPAGES);
    bitmap_set_range(t->fx.rb->bmap, 0, NPAGES);
    t->rs->dirty.dirty_pages = NPAGES;
    t->pc = postcopy_src_new(t->fx.s, t->rs, NULL);
    t->f = mig_stream_new(mig_channel_new_memory_writer());
    t->f_read = t->pf_read = 0;
    t->pf = NULL;
    if (preempt) {
        t->pf = t->pc->pf = mig_stream_new(mig_channel_new_memory_writer());
    }
}

static void src_free(Src *t)
{
    postcopy_src_free(t->rs);
    mig_stream_close(t->f);
    if (t->pf) {
        mig_stream_close(t->pf);
    }
    g_clear_pointer(&t->fx.rb->bmap, g_free);
    fixture_free(&t->fx);
}

static void request(Src *t, uint64_t page, uint64_t npages)
{
    g_autoptr(GError) err = NULL;
    MigRpMsg r = {
        .type = MIG_RP_MSG_REQ_PAGES_ID,
        .start = page << TARGET_PAGE_BITS,
        .len = npages << TARGET_PAGE_BITS,
    };

    g_strlcpy(r.block, t->fx.rb->idstr, sizeof(r.block));
    g_assert_true(postcopy_src_queue_request(t->pc, &r, &err));
    g_assert_no_error(err);
}

/* The pages of the records written on @f since *@done, in order. */
static GArray *pages_sent(Src *t, MigStream *f, size_t *done)
{
    GArray *pages = g_array_new(false, false, sizeof(uint64_t));
    GByteArray *data;
    size_t i;

    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    data = mig_channel_memory_data(mig_stream_channel(f));
    for (i = *done; i < data->len;) {
        uint64_t word = 0, page;

        g_assert_cmpuint(data->len - i, >=, 8);
        for (unsigned b = 0; b < 8; b++) {
            word = word << 8 | data->data[i++];
        }
        /* the same record layout on both channels (postcopy.h) */
        g_assert_cmpuint(word & ~OFFSET_MASK & ~RAM_SAVE_FLAG_CONTINUE, ==,
                         RAM_SAVE_FLAG_PAGE);
        if (!(word & RAM_SAVE_FLAG_CONTINUE)) {
            g_assert_cmpuint(data->data[i], ==, strlen(t->fx.rb->idstr));
            i += 1 + data->data[i];
        }
        i += TARGET_PAGE_SIZE;
        g_assert_cmpuint(i, <=, data->len);
        page = (word & OFFSET_MASK) >> TARGET_PAGE_BITS;
        g_array_append_val(pages, page);
    }
    *done = i;
    return pages;
}

/* Serve for about @ms (0: until every page is sent); whether all were. */
static bool serve(Src *t, int ms)
{
    int64_t deadline = ms ? (g_get_monotonic_time() + ms * 1000) * 1000 : 0;

    return postcopy_src_send(t->rs, t->f, deadline);
}

static void assert_pages(GArray *got, const uint64_t *want, unsigned n)
{
    g_assert_cmpuint(got->len, >=, n);
    for (unsigned i = 0; i < n; i++) {
        g_assert_cmpuint(g_array_index(got, uint64_t, i), ==, want[i]);
    }
}

/* Every page exactly once over @a and @b. */
static void assert_each_once(GArray *a, GArray *b)
{
    g_autofree unsigned long *seen = bitmap_new(NPAGES);

    for (unsigned k = 0; k < 2; k++) {
        GArray *g = k ? b : a;

        for (unsigned i = 0; g && i < g->len; i++) {
            uint64_t p = g_array_index(g, uint64_t, i);

            g_assert_cmpuint(p, <, NPAGES);
            g_assert_false(test_bit(p, seen));
            set_bit(p, seen);
        }
    }
    g_assert_cmpuint(bitmap_count(seen, NPAGES), ==, NPAGES);
}

static void append(GArray *all, GArray *more)
{
    g_array_append_vals(all, more->data, more->len);
    g_array_unref(more);
}

/*
 * A limit that lets no page but urgent ones through during the test (one
 * byte/s): only a request's first page goes; a fault on a neighbour still
 * queued sends it at once; with the limit lifted the queued neighbours go
 * before the background pass, the one sent already skipped.
 */
static void test_src_limited(void)
{
    static const uint64_t first[] = { 100 };
    static const uint64_t second[] = { 101 };
    g_autoptr(GArray) all = g_array_new(false, false, sizeof(uint64_t));
    GArray *got;
    Src t;

    src_init(&t, false);
    t.pc->bw = 1;
    request(&t, 100, 64);
    g_assert_false(serve(&t, 50));
    got = pages_sent(&t, t.f, &t.f_read);
    g_assert_cmpuint(got->len, ==, 1);
    assert_pages(got, first, 1);
    append(all, got);

    request(&t, 101, 1);        /* the vCPU reached a neighbour first */
    g_assert_false(serve(&t, 50));
    got = pages_sent(&t, t.f, &t.f_read);
    g_assert_cmpuint(got->len, ==, 1);
    assert_pages(got, second, 1);
    append(all, got);

    t.pc->bw = 0;
    g_assert_true(serve(&t, 0));
    got = pages_sent(&t, t.f, &t.f_read);
    for (unsigned i = 0; i < 62; i++) {
        g_assert_cmpuint(g_array_index(got, uint64_t, i), ==, 102 + i);
    }
    g_assert_cmpuint(g_array_index(got, uint64_t, 62), ==, 0);     /* the background pass */
    append(all, got);
    assert_each_once(all, NULL);
    src_free(&t);
}

/*
 * Under a limit that lets some pages through, whatever goes after the
 * urgent page is a neighbour as long as any is queued: how many go in the
 * time is the machine's business, the order is not.
 */
static void test_src_neighbours_first(void)
{
    g_autoptr(GArray) got = NULL;
    Src t;

    src_init(&t, false);
    t.pc->bw = 200 * TARGET_PAGE_SIZE;
    request(&t, 100, 64);
    g_assert_false(serve(&t, 50));
    got = pages_sent(&t, t.f, &t.f_read);
    g_assert_cmpuint(got->len, >=, 1);
    for (unsigned i = 0; i < got->len && i < 64; i++) {
        g_assert_cmpuint(g_array_index(got, uint64_t, i), ==, 100 + i);
    }
    for (unsigned i = 64; i < got->len; i++) {
        g_assert_cmpuint(g_array_index(got, uint64_t, i), <, 100);
    }
    src_free(&t);
}

/*
 * Unlimited: every queued request's first page, then their neighbours in
 * the order asked, then the background pass -- on the preempt channel
 * when there is one (all but the background pass).
 */
static void test_src_unlimited(bool preempt)
{
    static const uint64_t want[] = { 10, 50, 11, 12, 13, 51, 52 };
    g_autoptr(GArray) main_pages = NULL;
    g_autoptr(GArray) req_pages = NULL;
    Src t;

    src_init(&t, preempt);
    request(&t, 10, 4);
    request(&t, 50, 3);
    g_assert_true(serve(&t, 0));
    main_pages = pages_sent(&t, t.f, &t.f_read);
    if (preempt) {
        req_pages = pages_sent(&t, t.pf, &t.pf_read);
        g_assert_cmpuint(req_pages->len, ==, G_N_ELEMENTS(want));
        assert_pages(req_pages, want, G_N_ELEMENTS(want));
        g_assert_cmpuint(g_array_index(main_pages, uint64_t, 0), ==, 0);
        g_assert_cmpuint(stat_get(&t.fx.s->stats, postcopy_preempt_pages), ==,
                         G_N_ELEMENTS(want));
    } else {
        assert_pages(main_pages, want, G_N_ELEMENTS(want));
        g_assert_cmpuint(g_array_index(main_pages, uint64_t, G_N_ELEMENTS(want)), ==, 0);
    }
    assert_each_once(main_pages, req_pages);
    g_assert_cmpuint(stat_get(&t.fx.s->stats, postcopy_requests), ==, 2);
    src_free(&t);
}

static void test_src_unlimited_main(void)
{
    test_src_unlimited(false);
}

static void test_src_unlimited_preempt(void)
{
    test_src_unlimited(true);
}

/* A request for a page the background pass sent already sends nothing. */
static void test_src_sent_once(void)
{
    g_autoptr(GArray) got = NULL;
    Src t;

    src_init(&t, false);
    g_assert_true(serve(&t, 0));
    request(&t, 5, 8);
    g_assert_true(serve(&t, 0));
    got = pages_sent(&t, t.f, &t.f_read);
    assert_each_once(got, NULL);
    src_free(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy/dst/fault-claim", test_fault_claim);
    g_test_add_func("/postcopy/dst/rerequest", test_rerequest);
    g_test_add_func("/postcopy/src/limited", test_src_limited);
    g_test_add_func("/postcopy/src/neighbours-first", test_src_neighbours_first);
    g_test_add_func("/postcopy/src/unlimited", test_src_unlimited_main);
    g_test_add_func("/postcopy/src/unlimited-preempt", test_src_unlimited_preempt);
    g_test_add_func("/postcopy/src/sent-once", test_src_sent_once);
    return g_test_run();
}
