/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The part of the i8254 PIT a guest uses to calibrate its TSC: channel 2
 * with its gate and output on port 0x61 (as Linux's pit_calibrate_tsc).
 *
 * Migrated as section "pit" (vmstate_pit): the three channels' registers
 * and latches, the counted clocks (not host times) and port 0x61's
 * writable bits.  The count stands still across the switchover pause, so a
 * guest calibrating in the middle of a migration sees a longer interval,
 * never a count that jumps backwards or an OUT bit that forgets its edge.
 */
#ifndef KVMIG_HW_PIT_H
#define KVMIG_HW_PIT_H

#include "migration/vmstate.h"
#include "system/machine.h"

/* The section's table, exported for the golden-bytes test. */
extern const VMStateDescription vmstate_pit;

/*
 * pit_new: the PIT on ports 0x40-0x43 and 0x61 of @m, registered for
 * migration when @m->migration exists.  NULL with *errp if that fails.
 */
PitState *pit_new(Machine *m, GError **errp);
void pit_free(PitState *p);

#endif
