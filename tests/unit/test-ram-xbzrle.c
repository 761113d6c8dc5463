/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xbzrle end to end without processes: the real RAM save path with the
 * capability on, over passes in which pages change a little, a lot, to
 * zero and back, with the cache resized between passes, then the real
 * loader into a second machine, which must end byte-exact.
 */
#include <string.h>

#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/machine.h"

#define RAM_SIZE (16ULL << 20)
#define PAGE 4096ULL
#define NPAGES (RAM_SIZE / PAGE)

typedef struct Side {
    Machine *m;
    SaveVMRegistry *reg;
    RAMState *rs;
} Side;

static void side_init(Side *s, MigrationStats *stats, MigrationOptions *opts)
{
    g_autoptr(GError) err = NULL;

    s->m = machine_new(RAM_SIZE, 1, &err);
    g_assert_no_error(err);
    s->reg = savevm_registry_new();
    s->rs = ram_register(s->reg, s->m, stats, opts, &err);
    g_assert_no_error(err);
}

static void side_free(Side *s)
{
    savevm_registry_free(s->reg);
    ram_state_free(s->rs);
    machine_free(s->m);
}

/* One dirty sync and a full pass over what it found. */
static void pass(Side *src, MigStream *f)
{
    g_autoptr(GError) err = NULL;

    savevm_pending(src->reg, true);
    while (savevm_save_iterate(src->reg, f, &err) == 0) {
    }
    g_assert_no_error(err);
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
}

/* Write @len bytes at @gpa through the dirty-marking accessor. */
static void poke(Side *s, uint64_t gpa, const void *buf, size_t len)
{
    g_assert_true(gpa_write(s->m, gpa, buf, len));
}

static void poke_byte(Side *s, uint64_t gpa, uint8_t v)
{
    poke(s, gpa, &v, 1);
}

/* data: 0 plain, 1 xbzrle with a cache of half of RAM, 2 with 16 pages */
static void test_roundtrip(gconstpointer data)
{
    int mode = GPOINTER_TO_INT(data);
    bool xbzrle = mode != 0;
    MigrationOptions opts;
    MigrationStats stats = { 0 };
    Side src, dst;
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    MigStream *in;
    g_autoptr(GError) err = NULL;
    g_autoptr(GRand) r = g_rand_new_with_seed(11);
    g_autofree uint8_t *buf = g_malloc(PAGE);
    GByteArray *out;
    uint8_t *sh;

    mig_opts_init(&opts);
    opts.caps[MIGRATION_CAPABILITY_XBZRLE] = xbzrle;
    /* half: pages collide too; 16 pages: most stores fail, in the bulk pass too */
    opts.params.xbzrle_cache_size = mode == 2 ? 16 * PAGE : RAM_SIZE / 2;
    side_init(&src, &stats, &opts);
    side_init(&dst, NULL, NULL);
    sh = src.m->ram_blocks[0]->host;
    for (uint64_t p = 0; p < NPAGES; p++) {
        if (p % 5) {
            for (int i = 0; i < 64; i++) {
                sh[p * PAGE + i * 64] = g_rand_int(r);
            }
        }
    }

    savevm_put_header(f);
    g_assert_true(savevm_save_setup(src.reg, f, &err));
    g_assert_no_error(err);
    while (savevm_save_iterate(src.reg, f, &err) == 0) {     /* the bulk pass */
    }
    g_assert_no_error(err);
    g_assert_cmpuint(stats.xbzrle_pages + stats.xbzrle_cache_miss, ==, 0);
    /* ...but it filled the cache: every page, the zero ones as zero entries */
    if (mode == 1) {
        g_assert_cmpuint(ram_xbzrle_cache_entries(src.rs), ==, NPAGES);
    } else if (mode == 2) {
        g_assert_cmpuint(ram_xbzrle_cache_entries(src.rs), <, NPAGES);
        g_assert_cmpuint(ram_xbzrle_cache_entries(src.rs), >=, NPAGES / 5);
    }

    for (int round = 0; round < 6; round++) {
        for (uint64_t p = 0; p < NPAGES; p++) {
            uint64_t gpa = p * PAGE;

            if (p % 16 == 15) {
                /*
                 * A script: sparse content, a change, zero, the content back.
                 * The cached copy must follow the ZERO record, or the last
                 * step would look unchanged and never be sent.
                 */
                memset(buf, 0, PAGE);
                buf[10] = 1;
                buf[2000] = 2;
                buf[4000] = round == 1 ? 4 : 3;
                if (round == 2) {
                    memset(buf, 0, PAGE);
                }
                if (round <= 3) {
                    poke(&src, gpa, buf, PAGE);
                }
                continue;
            }
            switch ((p + round) % 8) {
            case 0:     /* a counter */
                poke_byte(&src, gpa + 8, sh[gpa + 8] + 1);
                break;
            case 1:     /* a few scattered bytes */
                for (int i = 0; i < 5; i++) {
                    poke_byte(&src, gpa + g_rand_int_range(r, 0, PAGE), g_rand_int(r));
                }
                break;
            case 2:     /* everything: overflows */
                for (uint64_t i = 0; i < PAGE; i++) {
                    buf[i] = g_rand_int(r);
                }
                poke(&src, gpa, buf, PAGE);
                break;
            case 3:     /* to zero (ZERO record), then a byte on top next round */
                memset(buf, 0, PAGE);
                poke(&src, gpa, buf, PAGE);
                break;
            case 4:     /* rewritten with the same bytes: dirty, unchanged */
                poke(&src, gpa + 100, sh + gpa + 100, 200);
                break;
            default:
                break;
            }
        }
        /* the cache shrinks and grows between passes (xbzrle-cache-size changed) */
        if (round == 4) {
            opts.params.xbzrle_cache_size = 64 * PAGE;
        } else if (round == 5) {
            opts.params.xbzrle_cache_size = RAM_SIZE;
        }
        pass(&src, f);
    }
    /* the last stage: more small changes, with the vCPUs (notionally) stopped */
    for (uint64_t p = 0; p < NPAGES; p += 3) {
        poke_byte(&src, p * PAGE + 1, sh[p * PAGE + 1] ^ 0x40);
    }
    g_assert_true(savevm_save_complete(src.reg, f, &err));
    g_assert_no_error(err);
    if (xbzrle) {
        g_assert_cmpuint(ram_xbzrle_cache_entries(src.rs), >, 0);
    }
    savevm_save_cleanup(src.reg);
    g_assert_null(src.rs->xbzrle);
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    out = g_byte_array_ref(mig_channel_memory_data(w));
    mig_stream_close(f);

    in = mig_stream_new(mig_channel_new_memory_reader(out->data, out->len));
    ram_load_reset(dst.rs);
    g_assert_true(loadvm_state(dst.reg, in, &err));
    g_assert_no_error(err);
    mig_stream_close(in);
    g_assert_cmpmem(sh, RAM_SIZE, dst.m->ram_blocks[0]->host, RAM_SIZE);

    g_test_message("%s: %u bytes; xbzrle pages %" G_GUINT64_FORMAT ", bytes %" G_GUINT64_FORMAT
                   ", misses %" G_GUINT64_FORMAT ", overflows %" G_GUINT64_FORMAT
                   "; loaded %" G_GUINT64_FORMAT " XBZRLE records",
                   xbzrle ? "xbzrle" : "plain", out->len, stats.xbzrle_pages,
                   stats.xbzrle_bytes, stats.xbzrle_cache_miss, stats.xbzrle_overflow,
                   dst.rs->xbzrle_pages_loaded);
    if (xbzrle) {
        g_assert_cmpuint(stats.xbzrle, ==, 1);
        g_assert_cmpuint(stats.xbzrle_cache_size, ==, RAM_SIZE);
        g_assert_cmpuint(stats.xbzrle_pages, >, 0);
        g_assert_cmpuint(stats.xbzrle_cache_miss, >, 0);
        g_assert_cmpuint(stats.xbzrle_overflow, >, 0);
        /* closed at completion: the iterations' rates, not the first pass's */
        g_assert_cmpfloat(stat_get_double(&stats, xbzrle_encoding_rate), >, 1.0);
        g_assert_cmpfloat(stat_get_double(&stats, xbzrle_cache_miss_rate), <, 1.0);
        g_assert_cmpuint(dst.rs->xbzrle_pages_loaded, >, 0);
        g_assert_cmpuint(dst.rs->xbzrle_pages_loaded, <=, stats.xbzrle_pages);
    } else {
        g_assert_cmpuint(stats.xbzrle, ==, 0);
        g_assert_cmpuint(dst.rs->xbzrle_pages_loaded, ==, 0);
    }
    g_byte_array_unref(out);
    side_free(&src);
    side_free(&dst);
    mig_opts_destroy(&opts);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/ram-xbzrle/roundtrip/xbzrle", GINT_TO_POINTER(1), test_roundtrip);
    g_test_add_data_func("/ram-xbzrle/roundtrip/xbzrle-tiny-cache", GINT_TO_POINTER(2),
                         test_roundtrip);
    g_test_add_data_func("/ram-xbzrle/roundtrip/plain", GINT_TO_POINTER(0), test_roundtrip);
    return g_test_run();
}
