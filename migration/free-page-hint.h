/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: free page hinting — the outgoing migration asks
 * the virtio-balloon driver which guest pages are free and drops them
 * from the migration bitmap, so the bulk pass does not send them.
 *
 * The device side is a provider (include/migration/free-page-hint-provider.h).
 * Everything here runs on the migration thread, except the two callbacks
 * the provider makes (vCPU thread), which only queue what the guest
 * reported.
 * See free-page-hint.c for why no page the guest still uses is lost.
 */
#ifndef KVMIG_MIGRATION_FREE_PAGE_HINT_H
#define KVMIG_MIGRATION_FREE_PAGE_HINT_H

#include <stdbool.h>
#include <stdint.h>

#include "migration/free-page-hint-provider.h"
#include "system/machine.h"

typedef struct FreePageHint FreePageHint;
struct RamDirtyState;

/*
 * free_page_hint_new: when @provider is set (not NULL) and its driver
 * negotiated free page hinting, the hinting state for one migration of @m;
 * else NULL (and every function below accepts NULL and does nothing).
 */
FreePageHint *free_page_hint_new(Machine *m, const FreePageHintProviderOps *provider,
                                 void *provider_opaque);
/* Ends any round (command id DONE) and frees. */
void free_page_hint_free(FreePageHint *h);

/* After the dirty log started and the bitmap is full: the first round. */
void free_page_hint_start(FreePageHint *h);

/*
 * free_page_hint_apply: clear the migration-bitmap bits of the ranges the
 * guest reported since the last call, for those still valid (no sync
 * since the driver read the command id); decrements d->dirty_pages.
 * Returns the bits cleared.  Cheap when nothing was reported.
 */
uint64_t free_page_hint_apply(FreePageHint *h, struct RamDirtyState *d);

/* Around every dirty-bitmap sync (dirty-bitmap.c calls these). */
void free_page_hint_before_sync(FreePageHint *h, struct RamDirtyState *d);
/* @running: the guest runs (a new round starts), else DONE (final sync). */
void free_page_hint_after_sync(FreePageHint *h, bool running);

/* Pages the hints kept out of the stream so far (x-free-page-hint-pages). */
uint64_t free_page_hint_pages(const FreePageHint *h);

#endif
