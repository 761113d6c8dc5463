/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-balloon device (on virtio-mmio at MACHINE_MMIO_BASE): the
 * guest gives pages back (inflate: kvmig drops them from the host mapping
 * with madvise(MADV_DONTNEED)) or takes them again (deflate), following
 * the target the monitor sets; with free-page-hint=on it also tells a
 * migration which guest pages are free, so they need not be sent.
 *
 * Free page hinting (VIRTIO_BALLOON_F_FREE_PAGE_HINT), as QEMU runs it:
 *   - migration calls virtio_balloon_hint_start() (through the provider
 *     ops the device registers, include/migration/free-page-hint-provider.h):
 *     a new command id (>= 0x80000000, QEMU's range) appears in
 *     free_page_hint_cmd_id and the config-change bit is raised;
 *   - the driver sends the id (an out buffer holding the le32 id) on the
 *     free page queue, then free ranges (in buffers whose address/length
 *     are the free memory; the device writes nothing into them), then an
 *     out buffer with STOP (0) when it has reported everything;
 *   - virtio_balloon_hint_stop() makes free_page_hint_cmd_id read STOP (0)
 *     and ignores later reports; virtio_balloon_hint_done() makes it read
 *     DONE (1): the migration is over.
 * Unlike QEMU, the config keeps showing the current id while a round is
 * running (QEMU shows 0 once the driver acknowledged it), so a driver that
 * re-reads it between batches sees STOP only when it is meant.
 *
 * Why a report is safe to act on is the migration code's business; the
 * device gives it what it needs: every report carries the stamp that
 * FreePageHintOps.stamp() returned when the driver last read
 * free_page_hint_cmd_id, i.e. before the driver looked at its free lists
 * for that batch (see migration/free-page-hint.c).
 *
 * Locking: the transport's lock (VirtIOMMIO.lock) protects everything
 * here; every function below takes it.  Hint ops are called with it held.
 */
#ifndef KVMIG_HW_VIRTIO_VIRTIO_BALLOON_H
#define KVMIG_HW_VIRTIO_VIRTIO_BALLOON_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "migration/free-page-hint-provider.h"
#include "system/machine.h"

typedef struct VirtIOBalloon VirtIOBalloon;

typedef struct VirtIOBalloonInfo {
    uint64_t actual_bytes;      /* guest RAM minus the balloon (query-balloon) */
    uint32_t num_pages;         /* target balloon size, 4 KiB pages */
    uint32_t actual_pages;      /* balloon size the driver reports */
    uint64_t inflated_pages;    /* pages released to the host (madvise) */
    uint64_t deflated_pages;    /* pages the guest took back */
    uint64_t hinted_pages;      /* pages reported free while a round ran */
    uint32_t hint_cmd_id;
    bool driver_ok;
    bool free_page_hint;        /* negotiated */
} VirtIOBalloonInfo;

/**
 * virtio_balloon_new: create the device at MACHINE_MMIO_BASE, register its
 * MMIO window and (when m->migration exists) its vmstate section
 * "virtio-balloon" and itself as the machine's free page hint provider.
 * Offers FREE_PAGE_HINT / DEFLATE_ON_OOM as asked.  Main thread, before
 * vCPUs exist or run.  Sets m->balloon.
 */
VirtIOBalloon *virtio_balloon_new(Machine *m, bool free_page_hint, bool deflate_on_oom,
                                  GError **errp);
void virtio_balloon_free(VirtIOBalloon *b);

/**
 * virtio_balloon_set_target: the `balloon` command: ask the guest to leave
 * itself @bytes of RAM (clamped to the RAM size; rounded down to pages).
 * Fails when @bytes is 0.  Any thread.
 */
bool virtio_balloon_set_target(VirtIOBalloon *b, uint64_t bytes, GError **errp);

/* query-balloon's `actual`: RAM size minus what the driver says it holds. */
uint64_t virtio_balloon_actual(VirtIOBalloon *b);

void virtio_balloon_get_info(VirtIOBalloon *b, VirtIOBalloonInfo *info);

/* True when the driver negotiated FREE_PAGE_HINT and is running. */
bool virtio_balloon_hint_supported(VirtIOBalloon *b);

/**
 * virtio_balloon_hint_start: begin a hinting round with a new command id;
 * reports go to @ops until stop/done.  Returns false (doing nothing) when
 * the driver did not negotiate free page hinting.  Migration thread.
 */
bool virtio_balloon_hint_start(VirtIOBalloon *b, const FreePageHintOps *ops,
                               void *opaque);
/*
 * virtio_balloon_hint_stop / _done: end the round (command id STOP / DONE).
 * On return no report() call is running or will be made.  Idempotent.
 */
void virtio_balloon_hint_stop(VirtIOBalloon *b);
void virtio_balloon_hint_done(VirtIOBalloon *b);

#endif
