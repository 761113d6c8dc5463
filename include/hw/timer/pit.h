/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The part of the i8254 PIT a guest uses to calibrate its TSC: channel 2
 * with its gate and output on port 0x61 (as Linux's pit_calibrate_tsc).
 */
#ifndef KVMIG_HW_PIT_H
#define KVMIG_HW_PIT_H

#include "system/machine.h"

PitState *pit_new(Machine *m);
void pit_free(PitState *p);

#endif
