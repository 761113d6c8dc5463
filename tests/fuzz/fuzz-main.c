/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A plain driver for libFuzzer targets, so that `meson test` runs them
 * without clang: run every corpus file given (files or directories), then
 * N inputs made by mutating and splicing them with a fixed seed.
 *   fuzz-qmp-plain CORPUS_DIR... [--random N] [--seed S]
 */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_path(GPtrArray *inputs, const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;
    gchar *contents;
    gsize len;

    if (!dir) {
        if (g_file_get_contents(path, &contents, &len, NULL)) {
            g_ptr_array_add(inputs, g_bytes_new_take(contents, len));
        } else {
            fprintf(stderr, "cannot read %s\n", path);
            exit(1);
        }
        return;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *p = g_build_filename(path, name, NULL);
        add_path(inputs, p);
    }
}

/* Bytes that make the framer and the parsers work. */
static const char *const tokens[] = {
    "{", "}", "[", "]", "\"", "'", "\\", ":", ",", " ", "\n", "\r\n", "\"execute\"",
    "\"arguments\"", "\"id\"", "\"qmp_capabilities\"", "\"query-status\"", "\"stop\"",
    "\"cont\"", "\"migrate-set-parameters\"", "\"migrate-set-capabilities\"",
    "\"human-monitor-command\"", "\"command-line\"", "\"info migrate\"", "null", "true",
    "-1", "18446744073709551615", "1e308", "\"\\u0000\"", "info ", "migrate_set_parameter ",
    "max-bandwidth ", "100M", "help ", "\xff", "\x00",
};

static void insert_bytes(GByteArray *b, guint pos, const guint8 *d, guint n)
{
    guint old = b->len;

    g_byte_array_set_size(b, old + n);
    memmove(b->data + pos + n, b->data + pos, old - pos);
    memcpy(b->data + pos, d, n);
}

static GByteArray *mutate(GRand *r, GPtrArray *inputs)
{
    GByteArray *b = g_byte_array_new();
    int ops = g_rand_int_range(r, 1, 16);

    if (inputs->len) {
        gsize len;
        const guint8 *d = g_bytes_get_data(g_ptr_array_index(inputs,
                                           g_rand_int_range(r, 0, inputs->len)), &len);
        g_byte_array_append(b, d, len);
    } else {
        g_byte_array_append(b, (const guint8 *)"\x01", 1);
    }
    for (int i = 0; i < ops; i++) {
        guint pos = b->len ? g_rand_int_range(r, 0, b->len + 1) : 0;

        switch (g_rand_int_range(r, 0, 5)) {
        case 0:     /* flip a byte */
            if (b->len) {
                b->data[g_rand_int_range(r, 0, b->len)] = g_rand_int_range(r, 0, 256);
            }
            break;
        case 1: {   /* insert a token */
            const char *t = tokens[g_rand_int_range(r, 0, G_N_ELEMENTS(tokens))];
            insert_bytes(b, pos, (const guint8 *)t, strlen(t) ? strlen(t) : 1);  /* "\x00": 1 */
            break;
        }
        case 2:     /* delete a run */
            if (b->len > pos) {
                guint n = g_rand_int_range(r, 1, 64);

                n = MIN(n, b->len - pos);
                g_byte_array_remove_range(b, pos, n);
            }
            break;
        case 3:     /* splice in another input */
            if (inputs->len) {
                gsize len;
                const guint8 *d = g_bytes_get_data(
                    g_ptr_array_index(inputs, g_rand_int_range(r, 0, inputs->len)), &len);
                insert_bytes(b, pos, d, len);
            }
            break;
        case 4:     /* repeat an opening bracket a lot (nesting limits) */
            for (int k = g_rand_int_range(r, 0, 3000); k > 0; k--) {
                insert_bytes(b, pos, (const guint8 *)"[", 1);
            }
            break;
        }
        if (b->len > (256 << 10)) {
            g_byte_array_set_size(b, 256 << 10);
        }
    }
    return b;
}

int main(int argc, char **argv)
{
    g_autoptr(GPtrArray) inputs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    long random_runs = 0;
    guint32 seed = 1;
    g_autoptr(GRand) r = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--random") && i + 1 < argc) {
            random_runs = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoul(argv[++i], NULL, 0);
        } else {
            add_path(inputs, argv[i]);
        }
    }
    for (guint i = 0; i < inputs->len; i++) {
        gsize len;
        const guint8 *d = g_bytes_get_data(g_ptr_array_index(inputs, i), &len);
        LLVMFuzzerTestOneInput(d, len);
    }
    r = g_rand_new_with_seed(seed);
    for (long i = 0; i < random_runs; i++) {
        g_autoptr(GByteArray) b = mutate(r, inputs);
        LLVMFuzzerTestOneInput(b->data, b->len);
    }
    printf("ran %u corpus inputs and %ld generated inputs (seed %u)\n", inputs->len,
           random_runs, seed);
    return 0;
}
