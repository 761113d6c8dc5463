/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: RAM migration — the "ram" live section (version 4,
 * QEMU's record layout), its migration dirty bitmap, the page sender on the
 * source and the validating page loader on the destination.
 *
 * Record layout: be64 (page offset in its block | flags), then, unless
 * CONTINUE is set, the block's idstr (u8 length + bytes), then the payload:
 * ZERO: one fill byte; PAGE: 4096 bytes; MEM_SIZE (first record): total
 * bytes in the address, then per block idstr + be64 length; EOS: none.
 */
#ifndef KVMIG_MIGRATION_RAM_H
#define KVMIG_MIGRATION_RAM_H

#include "migration/register.h"
#include "migration/stats.h"
#include "system/machine.h"

#define RAM_SAVE_FLAG_ZERO          0x02
#define RAM_SAVE_FLAG_MEM_SIZE      0x04
#define RAM_SAVE_FLAG_PAGE          0x08
#define RAM_SAVE_FLAG_EOS           0x10
#define RAM_SAVE_FLAG_CONTINUE      0x20
#define RAM_SAVE_FLAG_XBZRLE        0x40
#define RAM_SAVE_FLAG_HOOK          0x80
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200
#define RAM_SAVE_FLAGS_KNOWN        0x3fe

#define RAM_SECTION_VERSION 4

/* ---- dirty-bitmap.c: the migration bitmap (rb->bmap) of every block ---- */

typedef struct RamDirtyState {
    /* owned by the migration thread */
    uint64_t dirty_pages;       /* set bits over all blocks */
    uint64_t sync_count;
    int64_t last_sync_ns;
    uint64_t pages_rate;        /* newly dirtied pages/s over the last sync period */
    bool logging;               /* accel log_start succeeded */
    /* free-page-hint: set by ram_save_setup, freed by ram_dirty_stop; may be NULL */
    struct FreePageHint *fph;
} RamDirtyState;

/*
 * ram_dirty_start: allocate every block's bitmap with all bits set (every
 * page must be sent once) and start the accelerator's dirty log.
 */
bool ram_dirty_start(Machine *m, RamDirtyState *d, GError **errp);
/*
 * ram_dirty_sync: OR the accelerator's log and the blocks' device-dirty
 * bits (writes made by kvmig itself) into the bitmaps; count; bump
 * sync_count and pages_rate.
 */
bool ram_dirty_sync(Machine *m, RamDirtyState *d, GError **errp);
/* Stop the log and free the bitmaps.  Safe to call twice. */
void ram_dirty_stop(Machine *m, RamDirtyState *d);

/* ---- per-page send methods (ram-save.c) ---- */

/*
 * How one dirty page goes on the wire.  ram_page_method() picks one per
 * page; each has a sender in ram-save.c's table.  XBZRLE, compression and
 * multifd add entries here (and their senders) without touching the scan
 * loop.
 */
typedef enum RamPageMethod {
    RAM_PAGE_ZERO,      /* ZERO record, one fill byte */
    RAM_PAGE_RAW,       /* PAGE record, the page queued as an iovec */
    RAM_PAGE__MAX,
} RamPageMethod;

/* ---- the section ---- */

typedef struct RAMState {
    /* set at creation */
    Machine *m;
    MigrationStats *stats;      /* the outgoing migration's counters; may be NULL */

    /* source, owned by the migration thread */
    RamDirtyState dirty;
    RAMBlock *last_sent_block;  /* for CONTINUE; reset per section record */
    unsigned scan_block;        /* where the scan resumes */
    uint64_t scan_page;
    bool bulk_stage;            /* first pass: every page */
    uint64_t iter_pages;        /* pages sent in the current pass */

    /* destination, owned by the incoming thread */
    bool mem_size_seen;
    RAMBlock *last_load_block;
    uint64_t pages_loaded;
    uint64_t zero_pages_loaded;
} RAMState;

/*
 * ram_register: register the "ram" live section (instance 0, version 4)
 * for @m's blocks.  The RAMState is owned by the registry's user: free it
 * with ram_state_free() after the registry.
 */
RAMState *ram_register(SaveVMRegistry *reg, Machine *m, MigrationStats *stats,
                       GError **errp);
void ram_state_free(RAMState *rs);

/* ram-load.c: the section's load hook (START/PART/END payloads). */
bool ram_load(MigStream *f, void *opaque, int version_id, GError **errp);
/* ram-load.c: forget the previous load (a new incoming migration). */
void ram_load_reset(RAMState *rs);

#endif
