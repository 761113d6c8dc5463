/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Free page hint providers: a device that can tell an outgoing migration
 * which guest pages are free (the virtio-balloon with free-page-hint=on)
 * registers itself here with four callbacks and an opaque pointer.  The
 * migration asks it for hint rounds between dirty-bitmap syncs and drops
 * the reported pages from the migration bitmap (migration/free-page-hint.c
 * says why no page the guest still uses is lost); it holds no pointer to
 * the device's own type, so migration/ does not link against hw/.
 *
 * One round: start() -> the driver reports ranges -> stop() (or done() for
 * the last one).  Implemented in migration/free-page-hint.c.  A provider
 * registers like a vmstate section: main thread, during machine
 * construction, after migration_new() and before the first migration; it
 * must outlive the MigrationState (main frees the migration state before
 * the devices).
 */
#ifndef KVMIG_MIGRATION_FREE_PAGE_HINT_PROVIDER_H
#define KVMIG_MIGRATION_FREE_PAGE_HINT_PROVIDER_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/machine.h"

/* What the provider calls during a round: the migration's side. */
typedef struct FreePageHintOps {
    /*
     * The driver is reading the round's command id (vCPU thread, provider's
     * lock held): return a value that report() will get back for the
     * ranges the driver reports after this read.  Cheap; never blocks.
     */
    uint64_t (*stamp)(void *opaque);
    /*
     * [gpa, gpa + len) was free in the guest (page aligned, guest RAM)
     * when the driver reported it (vCPU thread, provider's lock held).
     * Must not block for long.
     */
    void (*report)(void *opaque, uint64_t gpa, uint64_t len, uint64_t stamp);
} FreePageHintOps;

/* What the migration calls on the provider (migration thread); none may be NULL. */
typedef struct FreePageHintProviderOps {
    /* The guest's driver negotiated hinting and is running. */
    bool (*supported)(void *opaque);
    /*
     * Begin a round; reports go to @ops with @ops_opaque until stop or
     * done.  Returns false, doing nothing, when the driver cannot hint.
     */
    bool (*start)(void *opaque, const FreePageHintOps *ops, void *ops_opaque);
    /*
     * End the round (stop: another may follow; done: the migration's last
     * sync, the guest may use everything again).  On return no report()
     * runs or will be made.  Idempotent.
     */
    void (*stop)(void *opaque);
    void (*done)(void *opaque);
} FreePageHintProviderOps;

/*
 * free_page_hint_set_provider: make @ops / @opaque the machine's free page
 * hint provider.  @m->migration must exist; one provider per machine
 * (a second is refused).
 */
bool free_page_hint_set_provider(Machine *m, const FreePageHintProviderOps *ops,
                                 void *opaque, GError **errp);

#endif
