/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the guest workloads (guest/workloads/), run hosted on a
 * fake guest RAM with a fake WlEnv: a clock that only moves when a
 * workload polls or sleeps, and polls that can stop wl_run() anywhere.
 */
#include <glib.h>
#include <string.h>
#include <zlib.h>

#include "alloc.h"
#include "workload-int.h"

#define MIB (1ULL << 20)
#define PAGE WL_PAGE_SIZE
#define CANARY 0xa5

typedef struct Fake {
    WlEnv env;
    uint8_t *ram;
    uint64_t ram_size;
    GString *out;
    uint64_t now;
    uint64_t polls;
    uint64_t stop_at_poll;      /* poll() returns false at this count; 0: never */
    char stop_char;             /* ... or once this many stop_char were written */
    unsigned stop_count;
    unsigned counts[256];
    /* soft dirty log audit (fake_audit_start): env.dirty and a copy of RAM */
    uint8_t *snap;
    uint64_t audits, changed_pages;
} Fake;

static void fake_audit(Fake *f);

static Fake *fake_of(WlEnv *env)
{
    return env->opaque;
}

static bool fake_should_stop(Fake *f)
{
    if (f->stop_at_poll && f->polls >= f->stop_at_poll) {
        return true;
    }
    return f->stop_char && f->counts[(uint8_t)f->stop_char] >= f->stop_count;
}

static void fake_write(WlEnv *env, const char *buf, size_t len)
{
    Fake *f = fake_of(env);

    g_string_append_len(f->out, buf, len);
    for (size_t i = 0; i < len; i++) {
        f->counts[(uint8_t)buf[i]]++;
    }
}

static uint64_t fake_now(WlEnv *env)
{
    return fake_of(env)->now;
}

static bool fake_poll(WlEnv *env)
{
    Fake *f = fake_of(env);

    fake_audit(f);
    f->polls++;
    f->now += 1000;             /* 1 us per 64 KiB: a fast machine */
    return !fake_should_stop(f);
}

static bool fake_sleep_until(WlEnv *env, uint64_t deadline)
{
    Fake *f = fake_of(env);

    fake_audit(f);
    if (!deadline) {
        return false;           /* "halted": wl_run() returns */
    }
    g_assert_cmpuint(deadline, <, f->now + 10ULL * WL_NS_PER_SEC);
    if (deadline > f->now) {
        f->now = deadline;
    }
    return !fake_should_stop(f);
}

/*
 * A fake guest with RAM [0, 4 MiB + @ram) and the given regions (all RAM
 * from 4 MiB when @regions is NULL).  RAM starts out as CANARY bytes
 * outside the regions and zero inside; the state page sits at
 * WL_STATE_GPA as in the thread accelerator.
 */
static Fake *fake_new(uint64_t ram, const WlRegion *regions, int nr,
                      const char *cmdline)
{
    Fake *f = g_new0(Fake, 1);
    char err[128];

    f->ram_size = WL_RAM_START + ram;
    f->ram = g_malloc(f->ram_size);
    memset(f->ram, CANARY, f->ram_size);
    f->out = g_string_new("");
    f->now = 5 * WL_NS_PER_SEC;
    if (regions) {
        memcpy(f->env.regions, regions, sizeof(*regions) * nr);
        f->env.nr_regions = nr;
    } else {
        f->env.regions[0].gpa = WL_RAM_START;
        f->env.regions[0].size = ram;
        f->env.nr_regions = 1;
    }
    for (int i = 0; i < f->env.nr_regions; i++) {
        g_assert_cmpuint(f->env.regions[i].gpa + f->env.regions[i].size, <=,
                         f->ram_size);
        memset(f->ram + f->env.regions[i].gpa, 0, f->env.regions[i].size);
    }
    memset(f->ram + WL_STATE_GPA, 0, WL_STATE_SIZE);
    f->env.mem = f->ram;
    f->env.cpu_index = 0;
    f->env.nr_cpus = 1;
    f->env.state = (WlState *)(f->ram + WL_STATE_GPA);
    if (!wl_parse_cmdline(cmdline, &f->env.cfg, err, sizeof(err))) {
        g_error("%s: %s", cmdline, err);
    }
    f->env.write = fake_write;
    f->env.now_ns = fake_now;
    f->env.poll = fake_poll;
    f->env.sleep_until = fake_sleep_until;
    f->env.opaque = f;
    return f;
}

static void fake_free(Fake *f)
{
    g_string_free(f->out, TRUE);
    g_free(f->ram);
    g_free(f->env.dirty);
    g_free(f->snap);
    g_free(f);
}

/*
 * The soft dirty log's contract (workload.h): from here on, at every poll
 * and sleep (and by hand after wl_run() returns), every page whose bytes
 * changed since the previous check must be marked in env.dirty, except the
 * WlState page (the accelerator marks that one).  Each check then takes
 * the marks, like a sync, and copies RAM.
 */
static void fake_audit_start(Fake *f)
{
    f->env.dirty = g_new0(uint64_t, (f->ram_size / PAGE + 63) / 64);
    f->snap = g_memdup2(f->ram, f->ram_size);
}

static void fake_audit(Fake *f)
{
    uint64_t state_pfn = WL_STATE_GPA / PAGE;

    if (!f->snap) {
        return;
    }
    for (uint64_t pfn = 0; pfn < f->ram_size / PAGE; pfn++) {
        uint64_t *w = &f->env.dirty[pfn / 64], bit = 1ULL << (pfn % 64);

        if (memcmp(f->ram + pfn * PAGE, f->snap + pfn * PAGE, PAGE)) {
            if (pfn != state_pfn && !(*w & bit)) {
                g_error("%s: page %#" G_GINT64_MODIFIER "x written but not marked "
                        "(check %" G_GUINT64_FORMAT ")", wl_kind_name(f->env.cfg.kind),
                        (guint64)(pfn * PAGE), f->audits);
            }
            memcpy(f->snap + pfn * PAGE, f->ram + pfn * PAGE, PAGE);
            f->changed_pages++;
        }
        *w &= ~bit;
    }
    f->audits++;
}

/* Run until @count @c have been written in all (not just by this call). */
static void run_until_char(Fake *f, char c, unsigned count)
{
    f->stop_char = c;
    f->stop_count = count;
    f->stop_at_poll = 0;
    wl_run(&f->env);
    f->stop_char = 0;
    g_assert_cmpuint(f->counts[(uint8_t)c], >=, count);
}

/* Run for @n more polls (returns earlier if the workload idles). */
static void run_polls(Fake *f, uint64_t n)
{
    f->stop_char = 0;
    f->stop_at_poll = f->polls + n;
    wl_run(&f->env);
    f->stop_at_poll = 0;
}

/* Whether the @len bytes at @p all equal @v (memcmp: fast under ASan too). */
static bool all_bytes(const uint8_t *p, uint64_t len, uint8_t v)
{
    uint8_t ref[4096];

    memset(ref, v, sizeof(ref));
    while (len) {
        uint64_t n = MIN(len, sizeof(ref));

        if (memcmp(p, ref, n)) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* Bytes outside the regions, and below 4 MiB but the state page, untouched. */
static void assert_outside_untouched(Fake *f)
{
    uint64_t a = 0;

    /* The state page, then the regions (ascending): check the gaps. */
    for (int i = -1; i <= f->env.nr_regions; i++) {
        uint64_t start, end;

        if (i < 0) {
            start = WL_STATE_GPA;
            end = WL_STATE_GPA + WL_STATE_SIZE;
        } else if (i < f->env.nr_regions) {
            start = f->env.regions[i].gpa;
            end = start + f->env.regions[i].size;
        } else {
            start = end = f->ram_size;
        }
        g_assert_cmpuint(start, >=, a);
        if (!all_bytes(f->ram + a, start - a, CANARY)) {
            g_error("bytes in [%#" G_GINT64_MODIFIER "x, %#" G_GINT64_MODIFIER
                    "x), outside the regions, changed", a, start);
        }
        a = end;
    }
}

/* ---- idle and dispatch ---- */

static void test_idle(void)
{
    Fake *f = fake_new(1 * MIB, NULL, 0, "workload=idle");

    wl_run(&f->env);                    /* returns: sleep_until(0) is false */
    g_assert_cmpuint(f->out->len, ==, 0);
    g_assert_cmpuint(f->env.state->magic, ==, WL_STATE_MAGIC);
    g_assert_cmpuint(f->env.state->kind, ==, WL_IDLE);
    g_assert_true(all_bytes(f->ram + WL_RAM_START, 1 * MIB, 0));
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_secondary_cpus_idle(void)
{
    Fake *f = fake_new(1 * MIB, NULL, 0, "workload=pagewalk");

    f->env.nr_cpus = 4;
    f->env.cpu_index = 2;
    wl_run(&f->env);
    g_assert_cmpuint(f->out->len, ==, 0);
    g_assert_cmpuint(f->env.state->kind, ==, WL_IDLE);
    g_assert_cmpuint(f->ram[WL_RAM_START], ==, 0);

    /* The same state page, now vCPU 0: starts pagewalk from scratch. */
    f->env.cpu_index = 0;
    run_until_char(f, 'B', 1);
    g_assert_cmpuint(f->env.state->kind, ==, WL_PAGEWALK);
    g_assert_cmpuint(f->ram[WL_RAM_START], ==, 1);
    fake_free(f);
}

/* ---- pagewalk ---- */

/*
 * The harness invariant: along the pages (ascending over all regions),
 * the first byte is constant except for at most one step down by exactly
 * 1 mod 256.  Returns the index of the step (or the page count if none).
 */
static uint64_t pagewalk_check(Fake *f)
{
    uint64_t n = 0, step = UINT64_MAX;
    int prev = -1;

    for (int i = 0; i < f->env.nr_regions; i++) {
        const WlRegion *r = &f->env.regions[i];

        for (uint64_t a = r->gpa; a < r->gpa + r->size; a += PAGE, n++) {
            int v = f->ram[a];

            if (prev >= 0 && v != prev) {
                if (v != ((prev - 1) & 0xff) || step != UINT64_MAX) {
                    g_error("pagewalk invariant broken at %#" G_GINT64_MODIFIER
                            "x: %d after %d", a, v, prev);
                }
                step = n;
            }
            prev = v;
        }
    }
    return step == UINT64_MAX ? n : step;
}

static void test_pagewalk_passes(void)
{
    Fake *f = fake_new(4 * MIB, NULL, 0, "workload=pagewalk");

    run_until_char(f, 'B', 3);
    g_assert_cmpstr(f->out->str, ==, "BBB");
    g_assert_cmpuint(f->env.state->pass, ==, 3);
    for (uint64_t a = WL_RAM_START; a < f->ram_size; a += PAGE) {
        /* First byte of each page counts passes; the rest is untouched. */
        g_assert_cmpuint(f->ram[a], ==, 3);
        g_assert_true(all_bytes(f->ram + a + 1, PAGE - 1, 0));
    }
    pagewalk_check(f);
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_pagewalk_resume(void)
{
    /* Two small regions with a hole, so 300 passes wrap the byte. */
    const WlRegion r[] = {
        { WL_RAM_START, 40 * PAGE },
        { WL_RAM_START + 64 * PAGE, 88 * PAGE },
    };
    Fake *f = fake_new(1 * MIB, r, 2, "workload=pagewalk");
    GRand *rng = g_rand_new_with_seed(g_test_rand_int());
    uint64_t pages = 128;

    while (f->env.state->pass < 300) {
        uint64_t step, pass;

        run_polls(f, g_rand_int_range(rng, 1, 40));
        step = pagewalk_check(f);
        pass = f->env.state->pass;
        /* Pages before the step carry pass + 1 increments, the rest pass. */
        g_assert_cmpuint(f->ram[r[0].gpa], ==,
                         (step == pages ? pass : pass + 1) & 0xff);
        if (step < pages) {
            uint64_t idx = step, gpa;

            gpa = idx < 40 ? r[0].gpa + idx * PAGE
                           : r[1].gpa + (idx - 40) * PAGE;
            g_assert_cmpuint(f->env.state->pos, ==, gpa);
        }
    }
    g_assert_cmpuint(f->counts['B'], ==, f->env.state->pass);
    g_assert_cmpuint(f->out->len, ==, f->env.state->pass);
    assert_outside_untouched(f);
    g_rand_free(rng);
    fake_free(f);
}

/* ---- fill ---- */

static double zlib1_ratio(const uint8_t *buf, uint64_t len)
{
    uLongf out_len = compressBound(len);
    g_autofree uint8_t *out = g_malloc(out_len);

    g_assert_cmpint(compress2(out, &out_len, buf, len, 1), ==, Z_OK);
    return (double)len / out_len;
}

static void check_fill(unsigned ratio, double lo, double hi)
{
    g_autofree char *cmd = g_strdup_printf("workload=fill size=2M ratio=%u",
                                           ratio);
    Fake *f = fake_new(3 * MIB, NULL, 0, cmd);
    double got;

    wl_run(&f->env);                    /* returns once it idles */
    g_assert_cmpstr(f->out->str, ==, "F");
    got = zlib1_ratio(f->ram + WL_RAM_START, 2 * MIB);
    g_test_message("ratio=%u: zlib level 1 gives %.2f", ratio, got);
    if (got < lo || got > hi) {
        g_error("fill ratio=%u compresses %.2f:1, want %.1f..%.1f",
                ratio, got, lo, hi);
    }
    /* No page is all zeroes; nothing beyond size= is written. */
    for (uint64_t a = WL_RAM_START; a < WL_RAM_START + 2 * MIB; a += PAGE) {
        g_assert_cmpuint(f->ram[a] | f->ram[a + PAGE - 1], !=, 0);
    }
    g_assert_true(all_bytes(f->ram + WL_RAM_START + 2 * MIB, 1 * MIB, 0));
    /* Resuming a finished fill only idles. */
    wl_run(&f->env);
    g_assert_cmpstr(f->out->str, ==, "F");
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_fill_ratio(void)
{
    check_fill(3, 2.4, 3.6);
    check_fill(1, 0.9, 1.1);
    check_fill(2, 1.6, 2.4);
    check_fill(10, 8.0, 12.0);
}

static void test_fill_resume(void)
{
    Fake *f = fake_new(2 * MIB, NULL, 0, "workload=fill");
    GRand *rng = g_rand_new_with_seed(g_test_rand_int());
    unsigned runs = 0;

    /* Default size: all RAM.  Stop it every few polls. */
    while (!f->counts['F']) {
        run_polls(f, g_rand_int_range(rng, 1, 8));
        runs++;
    }
    /*
     * Resumed at least once (how often depends on the random stops: with
     * long runs the whole fill takes only a few, so no fixed count).
     */
    g_assert_cmpuint(runs, >, 1);
    run_polls(f, 10);
    g_assert_cmpstr(f->out->str, ==, "F");
    for (uint64_t a = WL_RAM_START; a < f->ram_size; a += PAGE) {
        g_assert_cmpuint(f->ram[a + PAGE - 1], !=, 0);
    }
    g_rand_free(rng);
    fake_free(f);
}

/* ---- random ---- */

static void test_random_regions(void)
{
    const WlRegion r[] = {
        { WL_RAM_START, 64 * PAGE },
        { WL_RAM_START + 128 * PAGE, 69 * PAGE },
        { WL_RAM_START + 200 * PAGE, PAGE },
    };
    Fake *f = fake_new(1 * MIB, r, 3, "workload=random");
    uint64_t nonzero[3] = { 0 };

    /* 32 x 8192 random words over ~68K slots reach nearly all of them. */
    run_polls(f, 32);
    g_assert_cmpuint(f->out->len, ==, 0);
    assert_outside_untouched(f);
    for (int i = 0; i < 3; i++) {
        for (uint64_t a = r[i].gpa; a < r[i].gpa + r[i].size; a += 8) {
            nonzero[i] += *(uint64_t *)(f->ram + a) != 0;
        }
    }
    g_assert_cmpuint(nonzero[0], >, r[0].size / 8 * 9 / 10);
    g_assert_cmpuint(nonzero[1], >, r[1].size / 8 * 9 / 10);
    g_assert_cmpuint(nonzero[2], >, 0);

    /* `R` once 64 MiB are written: fast-forward the byte count. */
    g_assert_cmpuint(f->env.state->counter, ==, 32 * WL_POLL_BYTES);
    f->env.state->counter = 64 * MIB - 3 * WL_POLL_BYTES;
    run_polls(f, 2);
    g_assert_cmpstr(f->out->str, ==, "");
    run_until_char(f, 'R', 1);
    g_assert_cmpstr(f->out->str, ==, "R");
    g_assert_cmpuint(f->env.state->counter, ==, 0);
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_random_rate(void)
{
    Fake *f = fake_new(1 * MIB, NULL, 0, "workload=random rate=32");
    uint64_t t0 = f->now;
    double secs;

    /* 4 MiB (64 polls) at 32 MiB/s: an eighth of a (fake) second. */
    run_polls(f, 64);
    secs = (double)(f->now - t0) / WL_NS_PER_SEC;
    g_test_message("4 MiB at rate=32 took %.4f fake seconds", secs);
    g_assert_cmpfloat(secs, >, 0.120);
    g_assert_cmpfloat(secs, <, 0.130);

    /* A long pause (stopped vCPU) does not buy a burst afterwards. */
    f->now += 30 * WL_NS_PER_SEC;
    t0 = f->now;
    run_polls(f, 64);
    secs = (double)(f->now - t0) / WL_NS_PER_SEC;
    g_assert_cmpfloat(secs, >, 0.120);
    g_assert_cmpfloat(secs, <, 0.130);
    fake_free(f);
}

/* ---- stress ---- */

static void check_s_lines(const char *out, unsigned n)
{
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);

    g_assert_cmpuint(g_strv_length(lines), ==, n + 1);
    g_assert_cmpstr(lines[n], ==, "");
    for (unsigned i = 0; i < n; i++) {
        const char *l = lines[i];

        g_assert_cmpint(l[0], ==, 'S');
        g_assert_cmpuint(strlen(l), >, 1);
        for (const char *p = l + 1; *p; p++) {
            g_assert_true(g_ascii_isdigit(*p));
        }
    }
}

/* Whether any word of the page at @gpa is non-zero. */
static bool page_written(Fake *f, uint64_t gpa)
{
    for (uint64_t i = 0; i < PAGE; i += 8) {
        if (*(uint64_t *)(f->ram + gpa + i)) {
            return true;
        }
    }
    return false;
}

static void test_stress_slices(void)
{
    Fake *f = fake_new(4 * MIB, NULL, 0, "workload=stress mb=1");
    uint64_t before;

    /* vCPU 1 of 2 owns [1 MiB, 2 MiB) of the RAM above 4 MiB. */
    f->env.nr_cpus = 2;
    f->env.cpu_index = 1;
    run_polls(f, 16);                   /* one pass */
    g_assert_cmpuint(f->env.state->pass, ==, 1);
    for (uint64_t off = 0; off < 4 * MIB; off += PAGE) {
        bool mine = off >= 1 * MIB && off < 2 * MIB;

        g_assert_cmpint(page_written(f, WL_RAM_START + off), ==, mine);
    }
    /* Every pass writes different data. */
    before = *(uint64_t *)(f->ram + WL_RAM_START + MIB);
    run_polls(f, 16);
    g_assert_cmpuint(*(uint64_t *)(f->ram + WL_RAM_START + MIB), !=, before);

    /* A report per GiB: fast-forward to 3 chunks short of one. */
    g_assert_cmpuint(f->env.state->counter, ==, 2 * MIB);
    f->env.state->counter = (1ULL << 30) - 3 * WL_POLL_BYTES;
    f->env.state->t_mark = f->now - 250 * 1000000ULL;
    run_until_char(f, '\n', 1);
    check_s_lines(f->out->str, 1);
    /* 250 ms, plus 2 fake us of polls. */
    g_assert_cmpstr(f->out->str, ==, "S250\n");
    g_assert_cmpuint(f->env.state->counter, ==, 0);
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_stress_default(void)
{
    /* No mb=: each of 2 vCPUs takes half of RAM; stopped anywhere. */
    const WlRegion r[] = {
        { WL_RAM_START, 1 * MIB },
        { WL_RAM_START + 2 * MIB, 1 * MIB },
    };
    Fake *f = fake_new(3 * MIB, r, 2, "workload=stress");
    GRand *rng = g_rand_new_with_seed(g_test_rand_int());

    f->env.nr_cpus = 2;
    f->env.cpu_index = 1;
    while (f->env.state->pass < 3) {
        run_polls(f, g_rand_int_range(rng, 1, 20));
    }
    for (uint64_t a = r[0].gpa; a < r[0].gpa + r[0].size; a += PAGE) {
        g_assert_false(page_written(f, a));
    }
    for (uint64_t a = r[1].gpa; a < r[1].gpa + r[1].size; a += PAGE) {
        g_assert_true(page_written(f, a));
    }
    f->env.state->counter = (1ULL << 30) - 5 * WL_POLL_BYTES;
    while (f->counts['\n'] < 1) {
        run_polls(f, g_rand_int_range(rng, 1, 3));
    }
    check_s_lines(f->out->str, 1);
    assert_outside_untouched(f);
    g_rand_free(rng);
    fake_free(f);
}

/* ---- churn ---- */

static void test_churn_verify(void)
{
    Fake *f = fake_new(4 * MIB, NULL, 0, "workload=churn size=2M");
    WlState *st = f->env.state;
    WlHeap h;
    uint64_t live, target = 2 * MIB;

    run_until_char(f, 'V', 3);
    g_assert_cmpstr(f->out->str, ==, "CVVV");
    g_assert_cmpuint(st->phase, ==, WL_CHURN_WAIT);

    /* The live set is about an eighth of S, and the rest is free again. */
    live = st->aux[WL_CHURN_AUX_LIVE_BYTES];
    g_test_message("live set: %" G_GUINT64_FORMAT " bytes", live);
    g_assert_cmpuint(live, >, 0);
    g_assert_cmpuint(live, <=, target / 8);
    g_assert_cmpuint(live + (PAGE << WL_CHURN_MAX_ORDER), >=, target / 8);
    g_assert_cmpuint(st->aux[WL_CHURN_AUX_ALLOCATED], ==, target);
    g_assert_true(wl_alloc_attach(&h, f->ram, NULL, st->aux[WL_CHURN_AUX_META]));
    g_assert_true(wl_alloc_check(&h));
    g_assert_cmpuint(wl_alloc_free_pages(&h) * PAGE, ==,
                     wl_alloc_total_pages(&h) * PAGE - live);
    /* One verification per (fake) second. */
    g_assert_cmpuint(st->aux[WL_CHURN_AUX_DEADLINE], <=,
                     f->now + WL_NS_PER_SEC);

    /* Flip one byte in the middle of the first live block. */
    f->ram[st->aux[WL_CHURN_AUX_LIVE_HEAD] + 2000] ^= 0x10;
    wl_run(&f->env);                    /* X, then idles: returns */
    g_assert_cmpstr(f->out->str, ==, "CVVVX");
    g_assert_cmpuint(st->phase, ==, WL_CHURN_HALT);
    wl_run(&f->env);
    g_assert_cmpstr(f->out->str, ==, "CVVVX");
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_churn_bad_list(void)
{
    Fake *f = fake_new(2 * MIB, NULL, 0, "workload=churn size=1M");
    WlState *st = f->env.state;

    run_until_char(f, 'V', 1);
    /* A wild link must end in X, not in a wild read. */
    ((WlChurnBlock *)(f->ram + st->aux[WL_CHURN_AUX_LIVE_HEAD]))->next =
        0x7fff00000000ULL;
    run_until_char(f, 'X', 1);
    g_assert_cmpstr(f->out->str, ==, "CVX");
    fake_free(f);
}

static void test_churn_resume(void)
{
    Fake *f = fake_new(2 * MIB, NULL, 0, "workload=churn");
    GRand *rng = g_rand_new_with_seed(g_test_rand_int());

    /* Default S = half of RAM; stopped every few polls along the way. */
    while (f->counts['V'] < 2) {
        run_polls(f, g_rand_int_range(rng, 1, 6));
    }
    g_assert_true(g_str_has_prefix(f->out->str, "CVV"));
    g_assert_cmpuint(f->env.state->aux[WL_CHURN_AUX_TARGET], ==, 1 * MIB);
    g_rand_free(rng);
    fake_free(f);
}

static void test_churn_tiny(void)
{
    /* No room for the heap's metadata: `C` with nothing to verify. */
    const WlRegion r = { WL_RAM_START, PAGE };
    Fake *f = fake_new(1 * MIB, &r, 1, "workload=churn");

    run_polls(f, 100);          /* returns at once: it idles */
    g_assert_cmpstr(f->out->str, ==, "C");
    g_assert_cmpuint(f->env.state->phase, ==, WL_CHURN_HALT);
    assert_outside_untouched(f);
    fake_free(f);
}

static void test_churn_nomem(void)
{
    /* S more than RAM, no balloon to deflate: `E`, everything freed, idle. */
    Fake *f = fake_new(2 * MIB, NULL, 0, "workload=churn size=4M");
    WlState *st = f->env.state;
    WlHeap h;

    run_until_char(f, 'E', 1);
    g_assert_cmpstr(f->out->str, ==, "E");
    g_assert_cmpuint(st->phase, ==, WL_CHURN_NOMEM);
    g_assert_true(wl_alloc_attach(&h, f->ram, NULL, st->aux[WL_CHURN_AUX_META]));
    g_assert_true(wl_alloc_check(&h));
    g_assert_cmpuint(wl_alloc_free_pages(&h), ==, wl_alloc_total_pages(&h));
    run_polls(f, 10);
    g_assert_cmpstr(f->out->str, ==, "E");
    assert_outside_untouched(f);
    fake_free(f);
}

/* ---- l2fwd ---- */

static void test_l2fwd(void)
{
    Fake *f = fake_new(4 * MIB, NULL, 0, "workload=l2fwd");
    WlState *st = f->env.state;

    /* 4 MiB: a pool of 1024 buffers; enough packets to cycle through all. */
    run_polls(f, 200);
    g_assert_cmpuint(st->aux[0], ==, 1024);
    g_assert_cmpuint(st->pass, >, 4000);
    for (uint64_t b = 0; b < 1024; b++) {
        const uint8_t *p = f->ram + WL_RAM_START + b * 2048;

        g_assert_cmpuint(p[12], ==, 0x08);          /* IPv4 */
        g_assert_cmpuint(p[14], ==, 0x45);
    }
    /* `L` per 1,000,000 packets: fast-forward the count. */
    g_assert_cmpstr(f->out->str, ==, "");
    st->counter = 1000000 - 100;
    run_until_char(f, 'L', 1);
    g_assert_cmpstr(f->out->str, ==, "L");
    g_assert_cmpuint(st->counter, <, 100);
    assert_outside_untouched(f);
    fake_free(f);
}

/* Every workload marks every page it writes in the soft dirty log. */
static void test_soft_dirty_marks(void)
{
    static const char *const cmdlines[] = {
        "workload=pagewalk", "workload=fill size=3M", "workload=random",
        "workload=l2fwd", "workload=stress mb=2", "workload=churn size=2M",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cmdlines); i++) {
        static const WlRegion two[] = {
            { WL_RAM_START, 2 * MIB }, { WL_RAM_START + 3 * MIB, 2 * MIB },
        };
        Fake *f = fake_new(5 * MIB, two, 2, cmdlines[i]);

        fake_audit_start(f);
        /* churn: past its first verifications, which sleep */
        for (int round = 0; round < 3; round++) {
            run_polls(f, 150);
            fake_audit(f);
        }
        if (g_test_verbose()) {
            g_printerr("%s: %" G_GUINT64_FORMAT " checks, %" G_GUINT64_FORMAT
                       " pages changed, out '%.20s'\n", cmdlines[i], f->audits,
                       f->changed_pages, f->out->str);
        }
        g_assert_cmpuint(f->changed_pages, >, 8);
        fake_free(f);
    }
}

static void test_kind_change_restarts(void)
{
    Fake *f = fake_new(1 * MIB, NULL, 0, "workload=pagewalk");

    run_until_char(f, 'B', 2);
    g_assert_cmpuint(f->env.state->pass, ==, 2);
    /* An incoming migration may bring another config: start over cleanly. */
    g_assert_true(wl_parse_cmdline("workload=fill size=64K", &f->env.cfg,
                                   NULL, 0));
    wl_run(&f->env);
    g_assert_cmpstr(f->out->str, ==, "BBF");
    g_assert_cmpuint(f->env.state->kind, ==, WL_FILL);
    fake_free(f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/workloads/idle", test_idle);
    g_test_add_func("/workloads/secondary-cpus-idle", test_secondary_cpus_idle);
    g_test_add_func("/workloads/kind-change", test_kind_change_restarts);
    g_test_add_func("/workloads/pagewalk/passes", test_pagewalk_passes);
    g_test_add_func("/workloads/pagewalk/resume", test_pagewalk_resume);
    g_test_add_func("/workloads/fill/ratio", test_fill_ratio);
    g_test_add_func("/workloads/fill/resume", test_fill_resume);
    g_test_add_func("/workloads/random/regions", test_random_regions);
    g_test_add_func("/workloads/random/rate", test_random_rate);
    g_test_add_func("/workloads/stress/slices", test_stress_slices);
    g_test_add_func("/workloads/stress/default", test_stress_default);
    g_test_add_func("/workloads/churn/verify", test_churn_verify);
    g_test_add_func("/workloads/churn/bad-list", test_churn_bad_list);
    g_test_add_func("/workloads/churn/resume", test_churn_resume);
    g_test_add_func("/workloads/churn/tiny", test_churn_tiny);
    g_test_add_func("/workloads/churn/nomem", test_churn_nomem);
    g_test_add_func("/workloads/l2fwd", test_l2fwd);
    g_test_add_func("/workloads/soft-dirty-marks", test_soft_dirty_marks);
    return g_test_run();
}
