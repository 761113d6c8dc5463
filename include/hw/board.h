/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The board: every device of the machine, created and freed in one place,
 * in one order (the order of their migration sections): the 16550 UART at
 * 0x3f8, the PIT, and the virtio-balloon when -device asks for it.
 */
#ifndef KVMIG_HW_BOARD_H
#define KVMIG_HW_BOARD_H

#include <glib.h>
#include <stdbool.h>

#include "system/machine.h"
#include "system/options.h"

/**
 * board_init: create the devices @o asks for and set m->serial, m->pit and
 * m->balloon.  Main thread, after the accelerator's init (its migration
 * sections come first) and before cpus_create.  -serial defaults to stdio,
 * or to none when a monitor is on stdio.  On failure (*errp set) the
 * devices made so far are in @m, for board_free.
 */
bool board_init(Machine *m, const VmmOptions *o, GError **errp);

/**
 * board_free: free every device and clear the pointers in @m.  Only once
 * no other thread can reach a device: after migration_free (the migration
 * threads and the free page hint provider's user are gone) and
 * cpus_destroy (no vCPU does port or MMIO I/O any more), and before
 * machine_free (the balloon unlinks itself from @m).  Main thread.
 */
void board_free(Machine *m);

#endif
