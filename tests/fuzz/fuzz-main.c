/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A plain driver for libFuzzer targets, so that `meson test` runs them
 * without clang: run every corpus file given (files or directories), then
 * N inputs made by mutating and splicing them with a fixed seed.
 *   fuzz-qmp-plain CORPUS_DIR... [--random N] [--seed S] [--dict FILE] [--max-time S]
 * --max-time stops generating after S seconds (the sequence of inputs does
 * not depend on it; a sanitizer build just gets through fewer of them).
 * --dict reads a libFuzzer dictionary (lines `name="bytes"` with \xNN
 * escapes) for targets of binary formats: its entries replace the built-in
 * tokens, and big-endian boundary integers are written over the input.
 */
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * The input being run, written to ./fuzz-crash-input if it crashes (a
 * signal, or a sanitizer's report) so that it can be run again alone.
 */
static const guint8 *cur_data;
static size_t cur_len;

void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void save_crash_input(void)
{
    int fd = open("fuzz-crash-input", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd >= 0 && cur_data) {
        if (write(fd, cur_data, cur_len) == (ssize_t)cur_len) {
            static const char msg[] = "the crashing input is in fuzz-crash-input\n";
            if (write(2, msg, sizeof(msg) - 1) < 0) {
                /* nothing more to do */
            }
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

static void on_crash(int sig)
{
    save_crash_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_one(const guint8 *d, size_t len)
{
    cur_data = d;
    cur_len = len;
    LLVMFuzzerTestOneInput(d, len);
    cur_data = NULL;
}

/* --dict: the entries, or NULL for the built-in tokens. */
static GPtrArray *dict;

/* One libFuzzer dictionary line: the bytes between the first and last quote. */
static void dict_add_line(const char *line)
{
    const char *a = strchr(line, '"'), *b = strrchr(line, '"');
    GByteArray *v;

    if (line[0] == '#' || !a || b <= a) {
        return;
    }
    v = g_byte_array_new();
    for (const char *p = a + 1; p < b; p++) {
        guint8 c = *p;

        if (*p == '\\' && p + 1 < b) {
            p++;
            c = *p;
            if (*p == 'x' && p + 2 < b && g_ascii_isxdigit(p[1]) && g_ascii_isxdigit(p[2])) {
                c = g_ascii_xdigit_value(p[1]) << 4 | g_ascii_xdigit_value(p[2]);
                p += 2;
            }
        }
        g_byte_array_append(v, &c, 1);
    }
    if (v->len) {
        g_ptr_array_add(dict, g_byte_array_free_to_bytes(v));
    } else {
        g_byte_array_unref(v);
    }
}

static void dict_load(const char *path)
{
    g_autofree gchar *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    dict = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        dict_add_line(g_strstrip(*l));
    }
}

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
            if (dict && dict->len) {
                gsize n;
                const guint8 *t = g_bytes_get_data(
                    g_ptr_array_index(dict, g_rand_int_range(r, 0, dict->len)), &n);

                if (g_rand_boolean(r) && pos + n <= b->len) {
                    memcpy(b->data + pos, t, n);    /* or overwrite */
                } else {
                    insert_bytes(b, pos, t, n);
                }
                break;
            }
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

                if (dict && len) {
                    /* binary formats: a piece of it (records, not streams) */
                    gsize from = g_rand_int_range(r, 0, len);
                    gsize want = g_rand_int_range(r, 1, 4096);

                    d += from;
                    len = MIN(len - from, want);
                }
                insert_bytes(b, pos, d, len);
            }
            break;
        case 4:     /* repeat an opening bracket a lot (nesting limits) */
            if (dict) {
                /* binary formats: a boundary integer over 1, 2, 4 or 8 bytes */
                static const guint64 vals[] = {
                    0, 1, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x7fffffff,
                    0xffffffff, 0x1000000, 0x7fffffffffffffffULL, ~0ULL,
                };
                guint w = 1u << g_rand_int_range(r, 0, 4);
                guint64 v = vals[g_rand_int_range(r, 0, G_N_ELEMENTS(vals))];

                for (guint k = 0; k < w && pos + w <= b->len; k++) {
                    b->data[pos + k] = v >> (8 * (w - 1 - k));
                }
                break;
            }
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
    long random_runs = 0, max_time_s = 0, ran = 0;
    gint64 start = g_get_monotonic_time();
    guint32 seed = 1;
    g_autoptr(GRand) r = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--random") && i + 1 < argc) {
            random_runs = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--max-time") && i + 1 < argc) {
            max_time_s = strtol(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--dict") && i + 1 < argc) {
            dict_load(argv[++i]);
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoul(argv[++i], NULL, 0);
        } else {
            add_path(inputs, argv[i]);
        }
    }
    if (__sanitizer_set_death_callback) {
        /* a sanitizer's own signal handlers report better: keep them */
        __sanitizer_set_death_callback(save_crash_input);
    } else {
        signal(SIGSEGV, on_crash);
        signal(SIGBUS, on_crash);
        signal(SIGABRT, on_crash);
        signal(SIGFPE, on_crash);
    }
    for (guint i = 0; i < inputs->len; i++) {
        gsize len;
        const guint8 *d = g_bytes_get_data(g_ptr_array_index(inputs, i), &len);
        run_one(d, len);
    }
    r = g_rand_new_with_seed(seed);
    for (; ran < random_runs; ran++) {
        g_autoptr(GByteArray) b = NULL;

        if (max_time_s && g_get_monotonic_time() - start > max_time_s * G_USEC_PER_SEC) {
            break;
        }
        b = mutate(r, inputs);
        run_one(b->data, b->len);
    }
    printf("ran %u corpus inputs and %ld generated inputs (seed %u)\n", inputs->len,
           ran, seed);
    g_clear_pointer(&dict, g_ptr_array_unref);
    return 0;
}
