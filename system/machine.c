/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Machine creation and teardown, the run state and events.  Locking: see
 * include/system/machine.h (run_lock guards runstate and vCPU stop flags).
 */
#include <unistd.h>

#include "accel/accel.h"
#include "system/machine.h"
#include "util/error.h"

Machine *machine_new(uint64_t ram_size, int smp, GError **errp)
{
    Machine *m;
    RAMBlock *rb;
    uint64_t low;

    if (ram_size < (8ULL << 20)) {
        kvmig_error(errp, "RAM size %" G_GUINT64_FORMAT " MiB is too small (minimum 8 MiB)",
                    ram_size >> 20);
        return NULL;
    }
    if (smp < 1 || smp > MACHINE_MAX_CPUS) {
        kvmig_error(errp, "invalid number of vCPUs %d (1..%d)", smp, MACHINE_MAX_CPUS);
        return NULL;
    }
    rb = ram_block_new("pc.ram", ram_size, errp);
    if (!rb) {
        return NULL;
    }
    m = g_new0(Machine, 1);
    m->ram_size = ram_size;
    m->smp = smp;
    m->append = g_strdup("");
    m->ram_blocks[m->nr_ram_blocks++] = rb;
    g_mutex_init(&m->run_lock);
    g_cond_init(&m->run_cond);
    m->runstate = RUN_STATE_PRELAUNCH;
    m->named_fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    /* As on a PC: RAM below the 32-bit hole, the rest above 4 GiB. */
    low = MIN(ram_size, MACHINE_LOWMEM_MAX);
    m->mappings[m->nr_mappings] = (MemMapping){ 0, low, rb, 0, m->nr_mappings };
    m->nr_mappings++;
    if (ram_size > low) {
        m->mappings[m->nr_mappings] =
            (MemMapping){ MACHINE_HIGHMEM_BASE, ram_size - low, rb, low, m->nr_mappings };
        m->nr_mappings++;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        m->ram_blocks[i]->index = i;
    }
    return m;
}

static void close_fd(gpointer key, gpointer value, gpointer opaque)
{
    close(GPOINTER_TO_INT(value));
}

void machine_free(Machine *m)
{
    if (!m) {
        return;
    }
    /* if the caller has not: the accelerator's vCPU state goes before its VM */
    cpus_destroy(m);
    /* the devices are the board's (hw/board.c), freed before this */
    g_assert(!m->serial && !m->pit && !m->balloon);
    if (m->accel && m->accel->destroy) {
        m->accel->destroy(m);
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        ram_block_free(m->ram_blocks[i]);
    }
    g_hash_table_foreach(m->named_fds, close_fd, NULL);
    g_hash_table_destroy(m->named_fds);
    g_mutex_clear(&m->run_lock);
    g_cond_clear(&m->run_cond);
    g_free(m->kernel_path);
    g_free(m->append);
    g_free(m->accel_dirty);
    g_free(m);
}

void machine_emit_event(Machine *m, const char *event, JsonObject *data)
{
    if (m->event_fn) {
        m->event_fn(m->event_opaque, event, data);
    } else if (data) {
        json_object_unref(data);
    }
}

RunState machine_runstate(Machine *m)
{
    RunState s;

    g_mutex_lock(&m->run_lock);
    s = m->runstate;
    g_mutex_unlock(&m->run_lock);
    return s;
}

bool machine_is_running(Machine *m)
{
    return machine_runstate(m) == RUN_STATE_RUNNING;
}

void machine_set_runstate(Machine *m, RunState s)
{
    g_mutex_lock(&m->run_lock);
    m->runstate = s;
    g_cond_broadcast(&m->run_cond);
    g_mutex_unlock(&m->run_lock);
}

typedef struct QuitReq {
    Machine *m;
    int status;
} QuitReq;

static gboolean quit_in_main(gpointer opaque)
{
    QuitReq *q = opaque;

    if (q->m->quit_fn) {
        q->m->quit_fn(q->m->quit_opaque, q->status);
    }
    return G_SOURCE_REMOVE;
}

void machine_request_quit(Machine *m, int status)
{
    QuitReq *q = g_new(QuitReq, 1);
    GSource *src = g_idle_source_new();

    q->m = m;
    q->status = status;
    /*
     * Always through a source, never g_main_context_invoke: before the
     * main loop runs nobody owns the context, so invoke would call
     * g_main_loop_quit() right here -- and g_main_loop_run() afterwards
     * would run forever (an incoming migration that fails at once).
     */
    g_source_set_priority(src, G_PRIORITY_DEFAULT);
    g_source_set_callback(src, quit_in_main, q, g_free);
    g_source_attach(src, m->main_ctx);
    g_source_unref(src);
}
