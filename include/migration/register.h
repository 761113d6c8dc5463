/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Registering state with migration: a device registers a vmstate table
 * (saved in one SECTION_FULL with the vCPUs stopped); a bulk producer like
 * RAM registers SaveVMHandlers (saved over many SECTION_START/PART/END
 * records while the guest runs).
 *
 * Registration happens in the main thread during machine construction,
 * after migration_new() and before the first migration; the registry is
 * read-only afterwards.  Sections are saved in registration order.
 * Implemented by the section layer (migration/savevm.c), so a device
 * depends on the registry only, never on the migration thread's file.
 */
#ifndef KVMIG_MIGRATION_REGISTER_H
#define KVMIG_MIGRATION_REGISTER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/stream.h"
#include "migration/vmstate.h"
#include "system/machine.h"

typedef struct SaveVMRegistry SaveVMRegistry;

/*
 * Hooks of an iterable ("live") section.  Source hooks run on the migration
 * thread, destination hooks on the incoming thread; never concurrently
 * with each other for one section.  NULL hooks are skipped.
 */
typedef struct SaveVMHandlers {
    /* First record (SECTION_START), guest running.  Must not be NULL. */
    bool (*save_setup)(MigStream *f, void *opaque, GError **errp);
    /*
     * One slice of work (SECTION_PART), guest running.  Returns > 0 when
     * nothing is pending right now, 0 when more remains, < 0 on error
     * (*errp set).  Should return within tens of milliseconds.
     */
    int (*save_iterate)(MigStream *f, void *opaque, GError **errp);
    /* Everything left (SECTION_END), vCPUs stopped. */
    bool (*save_complete)(MigStream *f, void *opaque, GError **errp);
    /*
     * Bytes still to send.  exact = false: a cheap estimate; exact = true:
     * may synchronise (e.g. the dirty log) first.  Migration thread.
     */
    uint64_t (*pending)(void *opaque, bool exact);
    /* After the migration ended, whatever the outcome.  May be NULL. */
    void (*save_cleanup)(void *opaque);

    /* Destination: each START/PART/END record's payload. */
    bool (*load_state)(MigStream *f, void *opaque, int version_id, GError **errp);
    /* Destination: after EOF (success) or on failure.  May be NULL. */
    void (*load_cleanup)(void *opaque);
} SaveVMHandlers;

/*
 * vmstate_register: save @opaque as @vmsd in section "@idstr" instance
 * @instance_id (e.g. "cpu" instances 0..n-1).  Checks the table
 * (vmstate_check) and refuses a duplicate (idstr, instance).  @m->migration
 * must exist.
 */
bool vmstate_register(Machine *m, const char *idstr, uint32_t instance_id,
                      const VMStateDescription *vmsd, void *opaque, GError **errp);
/*
 * vmstate_register_early: the same, saved at setup before any live section
 * (see savevm_register_vmsd_early): state the destination must accept
 * before RAM arrives, e.g. the accelerator's CPU model.
 */
bool vmstate_register_early(Machine *m, const char *idstr, uint32_t instance_id,
                            const VMStateDescription *vmsd, void *opaque, GError **errp);

/* The same on an explicit registry (unit tests, fuzzers). */
bool savevm_register_vmsd(SaveVMRegistry *reg, const char *idstr, uint32_t instance_id,
                          const VMStateDescription *vmsd, void *opaque, GError **errp);
bool savevm_register_live(SaveVMRegistry *reg, const char *idstr, uint32_t instance_id,
                          int version_id, const SaveVMHandlers *ops, void *opaque,
                          GError **errp);
/*
 * Early sections are saved at setup, before any live section: things the
 * destination must check before RAM arrives (machine shape, device set).
 */
bool savevm_register_vmsd_early(SaveVMRegistry *reg, const char *idstr,
                                uint32_t instance_id, const VMStateDescription *vmsd,
                                void *opaque, GError **errp);

#endif
