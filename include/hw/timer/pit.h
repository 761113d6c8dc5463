/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The part of the i8254 PIT a guest uses to calibrate its TSC: channel 2
 * with its gate and output on port 0x61 (as Linux's pit_calibrate_tsc).
 *
 * Not migrated: the PIT registers no vmstate section yet, and its state
 * is guest-visible.  A destination starts as at power-on (channel 0 in
 * mode 3, channel 2 unprogrammed, gate low), so a guest migrated in the
 * middle of a calibration (kvmig's test guest: three 10 ms measurements
 * in clock_init) reads a count and an OUT bit that do not continue the
 * source's; its measurement is then wrong or fails (the test guest falls
 * back to CPUID's TSC leaves when it fails).  A guest that programs the
 * PIT again after the migration sees a correct PIT.  Migrating the three
 * channels (with elapsed ticks, not host times) is still to do (issue 18).
 */
#ifndef KVMIG_HW_PIT_H
#define KVMIG_HW_PIT_H

#include "system/machine.h"

PitState *pit_new(Machine *m);
void pit_free(PitState *p);

#endif
