/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Corrupt streams through the whole loader (loadvm_state over a memory
 * channel): real streams (the fuzz-loadvm seeds that
 * scripts/make-fuzz-corpus.sh saved from real migrations) truncated at
 * many points, with bytes flipped in headers and data, giant lengths,
 * unknown section names, a block name that does not exist and page offsets
 * outside the block.  Every corruption that must fail fails with one line
 * naming the problem; none crashes (the sanitizer build runs this too) or
 * hangs.  The counts are printed as TAP comments.
 */
#include <string.h>

#include "accel/accel.h"
#include "hw/board.h"
#include "migration/migration-int.h"
#include "migration/options.h"
#include "system/machine.h"
#include "util/bufferiszero.h"

/* The machine the seeds come from (scripts/make-fuzz-corpus.py). */
#define SEED_RAM_SIZE (16ULL << 20)
#define BALLOON_DEVICES "serial:0,pit:0,virtio-balloon:0"
#define BLOCK "\x06pc.ram"
#define BLOCK_LEN 7

typedef struct Seed {
    char *name;
    GBytes *bytes;
} Seed;

static GPtrArray *seeds;

typedef struct Outcome {
    bool ok;
    char *msg;
} Outcome;

/* Load @len bytes into a fresh machine like the seeds' one. */
static Outcome load(const uint8_t *data, size_t len)
{
    g_autoptr(GError) err = NULL;
    Machine *m;
    MigStream *f;
    Outcome o;

    VmmOptions opts = {
        .serial = (char *)"none",
        .balloon = memmem(data, len, BALLOON_DEVICES, strlen(BALLOON_DEVICES)) != NULL,
    };

    m = machine_new(SEED_RAM_SIZE, 1, &err);
    g_assert_no_error(err);
    m->accel = &thread_accel_ops;
    m->migration = migration_new(m, &err);
    g_assert_no_error(err);
    g_assert_true(m->accel->init(m, &err));
    g_assert_true(board_init(m, &opts, &err));

    ram_load_reset(m->migration->ram);
    f = mig_stream_new(mig_channel_new_memory_reader(data, len));
    o.ok = loadvm_state(m->migration->reg, f, &err);
    mig_stream_close(f);
    g_assert_true(o.ok == (err == NULL));
    o.msg = err ? g_strdup(err->message) : NULL;
    if (o.msg && (!o.msg[0] || strchr(o.msg, '\n'))) {
        g_error("not one line of error: '%s'", o.msg);
    }

    migration_free(m->migration);
    m->migration = NULL;
    board_free(m);
    machine_free(m);
    return o;
}

static const uint8_t *seed_data(Seed *s, size_t *len)
{
    gsize l;
    const uint8_t *d = g_bytes_get_data(s->bytes, &l);

    *len = l;
    return d;
}

/* Where the vmdesc record starts (after EOF): 0x06, be32 length, JSON to the end. */
static size_t vmdesc_pos(const uint8_t *d, size_t len)
{
    for (size_t i = len - 5; i > 0; i--) {
        uint32_t n = (uint32_t)d[i + 1] << 24 | d[i + 2] << 16 | d[i + 3] << 8 | d[i + 4];
        if (d[i] == QEMU_VM_VMDESCRIPTION && i + 5 + n == len) {
            return i;
        }
    }
    g_error("no vmdesc");
}

/* A mutated copy must fail (with one line); @what goes into the message. */
static void must_fail(GByteArray *b, const char *what, unsigned *count)
{
    Outcome o = load(b->data, b->len);

    if (o.ok) {
        g_error("%s: the corrupt stream loaded", what);
    }
    if (g_test_verbose()) {
        g_test_message("%s: %s", what, o.msg);
    }
    g_free(o.msg);
    (*count)++;
}

static GByteArray *copy(const uint8_t *d, size_t len)
{
    GByteArray *b = g_byte_array_sized_new(len);

    g_byte_array_append(b, d, len);
    return b;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = v >> (8 * (n - 1 - i));
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Offsets of @needle (length-prefixed names) in @d, at most @max. */
static GArray *find_all(const uint8_t *d, size_t len, const char *needle, size_t nlen,
                        guint max)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(size_t));

    for (const uint8_t *p = d; a->len < max && (p = memmem(p, len - (p - d), needle, nlen));
         p++) {
        size_t off = p - d;
        g_array_append_val(a, off);
    }
    return a;
}

static void test_truncated(void)
{
    unsigned tried = 0;

    for (guint i = 0; i < seeds->len; i++) {
        size_t len, vd;
        const uint8_t *d = seed_data(g_ptr_array_index(seeds, i), &len);

        vd = vmdesc_pos(d, len);
        for (size_t n = 0; n < len; n += n < 1024 ? 1 : 37) {
            Outcome o = load(d, n);

            /* cut just after EOF: only the (optional) vmdesc is missing */
            g_assert_true(o.ok == (n == vd));
            g_free(o.msg);
            tried++;
        }
    }
    g_test_message("truncated streams: %u tried, all failed with one line but the one "
                   "per seed cut right after EOF (no vmdesc), which loads", tried);
}

static void test_flipped(void)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(11);
    unsigned header_tried = 0, header_failed = 0, data_tried = 0, data_failed = 0;

    for (guint i = 0; i < seeds->len; i++) {
        size_t len;
        const uint8_t *d = seed_data(g_ptr_array_index(seeds, i), &len);
        /* headers: the stream header, configuration, the machine section, MEM_SIZE */
        size_t hdr_end = (size_t)(memmem(d, len, BLOCK, BLOCK_LEN) - (void *)d) + BLOCK_LEN + 8;

        for (int k = 0; k < 300; k++) {
            bool in_header = k < 150;
            size_t pos = in_header ? g_rand_int_range(r, 0, hdr_end)
                                   : g_rand_int_range(r, 0, len);
            g_autoptr(GByteArray) b = copy(d, len);
            Outcome o;

            b->data[pos] ^= g_rand_int_range(r, 1, 256);
            o = load(b->data, b->len);
            if (in_header) {
                header_tried++;
                header_failed += !o.ok;
            } else {
                data_tried++;
                data_failed += !o.ok;
            }
            g_free(o.msg);
        }
    }
    g_test_message("bytes flipped in headers: %u tried, %u failed, %u loaded "
                   "(page contents or unchecked values)", header_tried, header_failed,
                   header_tried - header_failed);
    g_test_message("bytes flipped anywhere: %u tried, %u failed, %u loaded", data_tried,
                   data_failed, data_tried - data_failed);
}

static void test_giant_lengths(void)
{
    static const struct {
        const char *name;
        size_t len;
    } sections[] = {
        { "\x0dkvmig-machine", 14 }, { "\x03ram", 4 }, { "\x06serial", 7 },
        { "\x03pit", 4 }, { "\x0bglobalstate", 12 }, { "\x0cthread-accel", 13 },
        { "\x0evirtio-balloon", 15 },
    };
    static const uint64_t giants[] = { 0xffffffffu, 0x7fffffffu, 0x10000000u, 0x1001u };
    unsigned tried = 0;

    for (guint i = 0; i < seeds->len; i++) {
        size_t len;
        const uint8_t *d = seed_data(g_ptr_array_index(seeds, i), &len);
        size_t vd = vmdesc_pos(d, len);
        g_autoptr(GArray) blocks = find_all(d, len, BLOCK, BLOCK_LEN, 400);

        for (guint g = 0; g < G_N_ELEMENTS(giants); g++) {
            GByteArray *b;

            /* the configuration section's name length */
            b = copy(d, len);
            put_be(b->data + 9, giants[g], 4);
            must_fail(b, "configuration length", &tried);
            g_byte_array_unref(b);
            /* the vmdesc's length (the JSON after EOF) */
            b = copy(d, len);
            put_be(b->data + vd + 1, giants[g], 4);
            must_fail(b, "vmdesc length", &tried);
            g_byte_array_unref(b);
        }
        /* section name lengths, and the vmstate buffer lengths after them */
        for (guint k = 0; k < G_N_ELEMENTS(sections); k++) {
            g_autoptr(GArray) at = find_all(d, len, sections[k].name, sections[k].len, 8);

            for (guint j = 0; j < at->len; j++) {
                size_t p = g_array_index(at, size_t, j);
                size_t fields = p + sections[k].len + 8;    /* after instance, version */
                GByteArray *b;

                if (d[p - 5] != QEMU_VM_SECTION_START && d[p - 5] != QEMU_VM_SECTION_FULL) {
                    continue;   /* a name inside a record, not a section header */
                }
                b = copy(d, len);
                b->data[p] = 0xff;
                must_fail(b, "section name length", &tried);
                g_byte_array_unref(b);
                if (!strcmp(sections[k].name + 1, "kvmig-machine")) {
                    /* u64 ram_size, u32 smp, u32 accel_len, accel, u32 devices_len */
                    size_t alen_at = fields + 12;
                    size_t dlen_at = alen_at + 4 + get_be(d + alen_at, 4);

                    for (guint g = 0; g < G_N_ELEMENTS(giants); g++) {
                        b = copy(d, len);
                        put_be(b->data + alen_at, giants[g], 4);
                        must_fail(b, "machine accel length", &tried);
                        g_byte_array_unref(b);
                        b = copy(d, len);
                        put_be(b->data + dlen_at, giants[g], 4);
                        must_fail(b, "machine devices length", &tried);
                        g_byte_array_unref(b);
                    }
                } else if (!strcmp(sections[k].name + 1, "globalstate") ||
                           !strcmp(sections[k].name + 1, "thread-accel")) {
                    for (guint g = 0; g < G_N_ELEMENTS(giants); g++) {
                        b = copy(d, len);
                        put_be(b->data + fields, giants[g], 4);
                        must_fail(b, "vmstate buffer length", &tried);
                        g_byte_array_unref(b);
                    }
                }
            }
        }
        /* RAM records: MEM_SIZE total and block length, zero runs, XBZRLE lengths */
        for (guint j = 0; j < blocks->len; j++) {
            size_t p = g_array_index(blocks, size_t, j);
            uint64_t word = get_be(d + p - 8, 8), flags = word & 0xfff;
            uint8_t *field;
            GByteArray *b;

            b = copy(d, len);
            field = b->data + p + BLOCK_LEN;
            if (flags == RAM_SAVE_FLAG_MEM_SIZE) {
                put_be(field, ~0ULL, 8);
                must_fail(b, "MEM_SIZE block length", &tried);
                put_be(field, SEED_RAM_SIZE, 8);
                put_be(b->data + p - 8, 0xfffffffffffff000ULL | RAM_SAVE_FLAG_MEM_SIZE, 8);
                must_fail(b, "MEM_SIZE total", &tried);
            } else if (flags & RAM_SAVE_FLAG_X_ZERO_RUN) {
                put_be(field, ~0ULL, 8);
                must_fail(b, "zero run length", &tried);
                put_be(field, SEED_RAM_SIZE / 4096 + 1, 8);
                must_fail(b, "zero run length", &tried);
            } else if (flags & RAM_SAVE_FLAG_XBZRLE) {
                put_be(field + 1, 0xffff, 2);
                must_fail(b, "XBZRLE length", &tried);
            }
            g_byte_array_unref(b);
        }
    }
    g_test_message("giant lengths: %u tried, all failed with one line", tried);
}

static void test_unknown_sections(void)
{
    static const char *const renames[][2] = {
        { "\x0dkvmig-machine", "\x0dkvmig-machind" }, { "\x03ram", "\x03rap" },
        { "\x06serial", "\x06serjal" }, { "\x03pit", "\x03pix" },
        { "\x0bglobalstate", "\x0bglobalstatf" },
        { "\x0cthread-accel", "\x0cthread-accem" },
        { "\x0evirtio-balloon", "\x0evirtio-balloom" },
    };
    unsigned tried = 0;

    for (guint i = 0; i < seeds->len; i++) {
        size_t len;
        const uint8_t *d = seed_data(g_ptr_array_index(seeds, i), &len);

        for (guint k = 0; k < G_N_ELEMENTS(renames); k++) {
            size_t nlen = strlen(renames[k][0]);
            g_autoptr(GArray) at = find_all(d, len, renames[k][0], nlen, 8);

            for (guint j = 0; j < at->len; j++) {
                size_t p = g_array_index(at, size_t, j);
                GByteArray *b;

                if (d[p - 5] != QEMU_VM_SECTION_START && d[p - 5] != QEMU_VM_SECTION_FULL) {
                    continue;
                }
                b = copy(d, len);
                memcpy(b->data + p, renames[k][1], nlen);
                must_fail(b, "unknown section", &tried);
                g_byte_array_unref(b);
            }
        }
    }
    g_test_message("unknown section names: %u tried, all failed with one line", tried);
}

static void test_bad_blocks_and_offsets(void)
{
    static const uint64_t offsets[] = {
        SEED_RAM_SIZE, SEED_RAM_SIZE + 4096, 1ULL << 40, 0xfffffffffffff000ULL,
    };
    unsigned names = 0, offs = 0;

    for (guint i = 0; i < seeds->len; i++) {
        size_t len;
        const uint8_t *d = seed_data(g_ptr_array_index(seeds, i), &len);
        g_autoptr(GArray) blocks = find_all(d, len, BLOCK, BLOCK_LEN, 400);

        for (guint j = 0; j < blocks->len; j++) {
            size_t p = g_array_index(blocks, size_t, j);
            uint64_t flags = get_be(d + p - 8, 8) & 0xfff;
            GByteArray *b;

            if (j < 60 || j % 8 == 0) {
                b = copy(d, len);
                memcpy(b->data + p, "\x06pc.rom", BLOCK_LEN);
                must_fail(b, "unknown block", &names);
                g_byte_array_unref(b);
            }
            if (flags == RAM_SAVE_FLAG_MEM_SIZE || (j >= 60 && j % 8)) {
                continue;
            }
            for (guint k = 0; k < G_N_ELEMENTS(offsets); k++) {
                b = copy(d, len);
                put_be(b->data + p - 8, offsets[k] | flags, 8);
                must_fail(b, "page offset outside the block", &offs);
                g_byte_array_unref(b);
            }
        }
    }
    g_test_message("block names that do not exist: %u tried, all failed with one line",
                   names);
    g_test_message("page offsets outside the block: %u tried, all failed with one line",
                   offs);
}

static void seed_free(gpointer p)
{
    Seed *s = p;

    g_free(s->name);
    g_bytes_unref(s->bytes);
    g_free(s);
}

int main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    const char *name;
    int ret;

    g_test_init(&argc, &argv, NULL);
    buffer_is_zero_init();
    seeds = g_ptr_array_new_with_free_func(seed_free);
    dir = g_dir_open(LOADVM_CORPUS, 0, NULL);
    g_assert_nonnull(dir);
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(LOADVM_CORPUS, name, NULL);
        Seed *s = g_new0(Seed, 1);
        gchar *data;
        gsize len;

        g_assert_true(g_file_get_contents(path, &data, &len, NULL));
        s->name = g_strdup(name);
        s->bytes = g_bytes_new_take(data, len);
        g_ptr_array_add(seeds, s);
        /* a seed must load as it is, or the corruptions test nothing */
        g_assert_true(load((const uint8_t *)data, len).ok);
    }
    g_assert_cmpuint(seeds->len, >, 0);
    g_test_add_func("/loadvm-corrupt/truncated", test_truncated);
    g_test_add_func("/loadvm-corrupt/flipped", test_flipped);
    g_test_add_func("/loadvm-corrupt/giant-lengths", test_giant_lengths);
    g_test_add_func("/loadvm-corrupt/unknown-sections", test_unknown_sections);
    g_test_add_func("/loadvm-corrupt/bad-blocks-and-offsets", test_bad_blocks_and_offsets);
    ret = g_test_run();
    g_ptr_array_unref(seeds);
    return ret;
}
