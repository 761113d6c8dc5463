/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the whole incoming stream loader (loadvm_state),
 * fed from memory: header, configuration, sections and footers, the
 * machine-shape check, RAM records (MEM_SIZE, pages, zero pages and runs,
 * XBZRLE, the unsupported ones), every device's vmstate, the vmdesc.
 *
 * The machine is the one scripts/make-fuzz-corpus.sh migrates: 16 MiB of
 * RAM, one vCPU, the thread accelerator, the serial port, the PIT, and a
 * virtio-balloon when the input's device list has one (so that both kinds of seed get
 * past the machine-shape check).  A fresh machine per input: a failed load
 * may leave half-loaded device state, which must not leak into the next
 * input (the destination quits after a failure; the fuzzer must be
 * reproducible).
 *
 * Checked: the loader returns (no crash, no hang: every loop is bounded by
 * the input), and a failure comes with one non-empty line of error.
 * FUZZ_LOADVM_VERBOSE=1 in the environment prints each input's outcome.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/accel.h"
#include "hw/board.h"
#include "migration/migration-int.h"
#include "migration/options.h"
#include "system/machine.h"
#include "util/bufferiszero.h"

#define FUZZ_RAM_SIZE (16ULL << 20)
#define BALLOON_DEVICES "serial:0,pit:0,virtio-balloon:0"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz-loadvm: %s\n", what);
        abort();
    }
}

typedef struct FuzzMachine {
    Machine *m;
} FuzzMachine;

/* main()'s order: machine, accelerator, migration state, init, devices. */
static void fuzz_machine_init(FuzzMachine *fm, bool balloon)
{
    g_autoptr(GError) err = NULL;
    VmmOptions opts = { .serial = (char *)"none", .balloon = balloon };
    Machine *m;

    m = machine_new(FUZZ_RAM_SIZE, 1, &err);
    check(m != NULL, "machine_new");
    m->accel = &thread_accel_ops;
    m->migration = migration_new(m, &err);
    check(m->migration && m->accel->init(m, &err), "migration_new / accel init");
    check(board_init(m, &opts, &err), "board_init");
    fm->m = m;
}

static void fuzz_machine_free(FuzzMachine *fm)
{
    Machine *m = fm->m;

    migration_free(m->migration);
    m->migration = NULL;
    board_free(m);
    machine_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool inited;
    g_autoptr(GError) err = NULL;
    FuzzMachine fm;
    MigrationState *s;
    MigStream *f;
    bool ok;

    if (!inited) {
        buffer_is_zero_init();
        inited = true;
    }
    /* the balloon seed's device list (the vmdesc names it too: not that) */
    fuzz_machine_init(&fm, memmem(data, size, BALLOON_DEVICES, strlen(BALLOON_DEVICES)));
    s = fm.m->migration;
    ram_load_reset(s->ram);
    f = mig_stream_new(mig_channel_new_memory_reader(data, size));
    ok = loadvm_state(s->reg, f, &err);
    mig_stream_close(f);
    check(ok == (err == NULL), "result and error disagree");
    if (!ok && (!err->message[0] || strchr(err->message, '\n'))) {
        g_autofree char *esc = g_strescape(err->message, NULL);

        fprintf(stderr, "fuzz-loadvm: not one line of error: \"%s\"\n", esc);
        abort();
    }
    if (getenv("FUZZ_LOADVM_VERBOSE")) {
        fprintf(stderr, "%zu bytes: %s (pages %" G_GUINT64_FORMAT ", zero %" G_GUINT64_FORMAT
                ", xbzrle %" G_GUINT64_FORMAT ")\n", size, ok ? "loaded" : err->message,
                s->ram->pages_loaded, s->ram->zero_pages_loaded, s->ram->xbzrle_pages_loaded);
    }
    fuzz_machine_free(&fm);
    return 0;
}
