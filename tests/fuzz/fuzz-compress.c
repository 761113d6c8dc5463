/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the destination's COMPRESS_PAGE path: the input is
 * the body of the "ram" section after a valid MEM_SIZE record (which the
 * target supplies, so every input gets to the page records), loaded with
 * ram_load() group after group (each EOS syncs the decompress workers)
 * until the stream ends or the load fails.  Records are any of the loader's
 * (pages, zero pages, XBZRLE, ...): the compressed ones go through the
 * length check, the decompress worker pool and inflate into guest RAM.
 *
 * The machine (16 MiB, one block "pc.ram", decompress-threads 2) is made
 * once: guest RAM left over from an earlier input is harmless here.
 * Checked: no crash and no hang, a failure comes with one non-empty line of
 * error, and the workers are idle when ram_load returns.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "migration/migration-int.h"
#include "migration/options.h"
#include "system/machine.h"
#include "util/bufferiszero.h"

#define FUZZ_RAM_SIZE (16ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-compress: %s\n", what);
        abort();
    }
}

static Machine *machine;

static void free_machine(void)
{
    migration_free(machine->migration);
    machine->migration = NULL;
    machine_free(machine);
}

static void init_machine(void)
{
    g_autoptr(GError) err = NULL;

    buffer_is_zero_init();
    machine = machine_new(FUZZ_RAM_SIZE, 1, &err);
    check(machine != NULL, "machine_new");
    machine->accel = &thread_accel_ops;
    machine->migration = migration_new(machine, &err);
    check(machine->migration && machine->accel->init(machine, &err),
          "migration_new / accel init");
    atexit(free_machine);
}

static void put_be64(GByteArray *a, uint64_t v)
{
    uint8_t b[8];

    for (int i = 0; i < 8; i++) {
        b[i] = v >> (56 - 8 * i);
    }
    g_byte_array_append(a, b, 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GByteArray) in = g_byte_array_new();
    MigrationState *s;
    MigStream *f;
    bool ok = true;

    if (!machine) {
        init_machine();
    }
    s = machine->migration;
    ram_load_reset(s->ram);

    /* MEM_SIZE: the total, then each block's name and length, then the input */
    put_be64(in, FUZZ_RAM_SIZE | RAM_SAVE_FLAG_MEM_SIZE);
    for (unsigned i = 0; i < machine->nr_ram_blocks; i++) {
        RAMBlock *rb = machine->ram_blocks[i];
        uint8_t len = strlen(rb->idstr);

        g_byte_array_append(in, &len, 1);
        g_byte_array_append(in, (const uint8_t *)rb->idstr, len);
        put_be64(in, rb->used_length);
    }
    g_byte_array_append(in, data, size);

    f = mig_stream_new(mig_channel_new_memory_reader(in->data, in->len));
    /* each call consumes at least 8 bytes: bounded by the input */
    while (ok && !mig_stream_at_eof(f)) {
        ok = ram_load(f, s->ram, RAM_SECTION_VERSION, &err);
    }
    mig_stream_close(f);
    check(ok == (err == NULL), "result and error disagree");
    if (!ok && (!err->message[0] || strchr(err->message, '\n'))) {
        g_autofree char *esc = g_strescape(err->message, NULL);

        fprintf(stderr, "fuzz-compress: not one line of error: \"%s\"\n", esc);
        abort();
    }
    if (getenv("FUZZ_COMPRESS_VERBOSE")) {
        fprintf(stderr, "%zu bytes: %s (pages %" G_GUINT64_FORMAT ", compressed %"
                G_GUINT64_FORMAT ")\n", size, ok ? "loaded" : err->message,
                s->ram->pages_loaded, s->ram->compress_pages_loaded);
    }
    /* no worker may still write guest RAM once the load is over */
    ram_load_reset(s->ram);
    return 0;
}
