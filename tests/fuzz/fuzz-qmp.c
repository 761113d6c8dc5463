/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the QMP request path (framer, json-glib parse,
 * request checks, argument validation, handlers) and the HMP line parser:
 * the input is fed, in pieces it chooses, to a QMP and an HMP session that
 * write into memory.  Commands that would write files are disabled.
 *
 * Input layout: byte 0 bit 0: negotiate first; bits 1-7: chunk size seed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "monitor/monitor-internal.h"
#include "system/machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Machine *fuzz_machine;
static MonitorHub *fuzz_hub;

static void sink(void *opaque, const char *data, size_t len)
{
    GString *out = opaque;

    /* keep the memory bounded however chatty the input makes us */
    if (out->len > (4 << 20)) {
        g_string_truncate(out, 0);
    }
    g_string_append_len(out, data, len);
}

static void fuzz_init(void)
{
    g_autoptr(GError) err = NULL;

    fuzz_machine = machine_new(16 << 20, 1, &err);
    if (!fuzz_machine) {
        abort();
    }
    fuzz_machine->smp = 0;      /* no vCPUs: stop/cont only flip the run state */
    g_main_context_acquire(NULL);
    fuzz_hub = monitor_hub_get(fuzz_machine);
    fuzz_hub->restricted = true;
}

/* Back to a fresh state so that every input runs alike. */
static void fuzz_reset(void)
{
    GHashTableIter it;
    gpointer fd;

    machine_set_runstate(fuzz_machine, RUN_STATE_RUNNING);
    fuzz_machine->start_paused = false;
    mig_opts_destroy(&fuzz_hub->local_opts);
    mig_opts_init(&fuzz_hub->local_opts);
    fuzz_hub->quit_pending = false;
    g_hash_table_iter_init(&it, fuzz_machine->named_fds);
    while (g_hash_table_iter_next(&it, NULL, &fd)) {
        close(GPOINTER_TO_INT(fd));
        g_hash_table_iter_remove(&it);
    }
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GString) out = g_string_new(NULL);
    QmpSession *q;
    HmpSession *h;
    size_t chunk, off;
    static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";

    if (!fuzz_machine) {
        fuzz_init();
    }
    if (!size) {
        return 0;
    }
    chunk = (data[0] >> 1) + 1;

    q = qmp_session_new(fuzz_hub, sink, out);
    qmp_session_start(q);
    if (data[0] & 1) {
        qmp_session_input(q, caps, strlen(caps));
    }
    for (off = 1; off < size; off += chunk) {
        qmp_session_input(q, (const char *)data + off, MIN(chunk, size - off));
    }
    qmp_session_free(q);

    h = hmp_session_new(fuzz_hub, sink, out);
    hmp_session_start(h);
    for (off = 1; off < size; off += chunk) {
        hmp_session_input(h, (const char *)data + off, MIN(chunk, size - off));
    }
    hmp_session_free(h);

    fuzz_reset();
    return 0;
}
