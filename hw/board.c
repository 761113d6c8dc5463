/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The board: the machine's devices, created and freed together (hw/board.h). */
#include <string.h>

#include "hw/board.h"
#include "hw/char/serial.h"
#include "hw/timer/pit.h"
#include "hw/virtio/virtio-balloon.h"

/* -serial, or its default: stdio, unless a monitor talks on stdio. */
static const char *serial_spec(const VmmOptions *o)
{
    const GPtrArray *lists[] = { o->monitors, o->qmp };

    if (o->serial) {
        return o->serial;
    }
    for (size_t l = 0; l < G_N_ELEMENTS(lists); l++) {
        for (unsigned i = 0; lists[l] && i < lists[l]->len; i++) {
            if (!strcmp(g_ptr_array_index(lists[l], i), "stdio")) {
                return "none";
            }
        }
    }
    return "stdio";
}

bool board_init(Machine *m, const VmmOptions *o, GError **errp)
{
    m->serial = serial_new(m, serial_spec(o), errp);
    if (!m->serial) {
        return false;
    }
    m->pit = pit_new(m, errp);
    if (!m->pit) {
        return false;
    }
    /* virtio_balloon_new sets m->balloon */
    return !o->balloon || virtio_balloon_new(m, o->balloon_free_page_hint,
                                             o->balloon_deflate_on_oom, errp);
}

void board_free(Machine *m)
{
    /* the reverse of board_init */
    virtio_balloon_free(m->balloon);    /* clears m->balloon */
    pit_free(m->pit);
    m->pit = NULL;
    serial_free(m->serial);
    m->serial = NULL;
}
