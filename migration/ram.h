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
 * X_ZERO_RUN (kvmig extension): be64 n, the n pages from the offset on are
 * zero -- what the first pass sends for memory the guest never wrote, so an
 * idle 8 GiB guest costs a few records instead of 2M ZERO records (19 MB).
 */
#ifndef KVMIG_MIGRATION_RAM_H
#define KVMIG_MIGRATION_RAM_H

#include "migration/free-page-hint-provider.h"
#include "migration/options.h"
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
#define RAM_SAVE_FLAG_X_ZERO_RUN    0x400   /* kvmig: a run of zero pages */
#define RAM_SAVE_FLAGS_KNOWN        0x7fe

#define RAM_SECTION_VERSION 4

/* Pages per populated-page query of the destination's ZERO records. */
#define RAM_ZERO_WIN 4096

/* ---- dirty-bitmap.c: the migration bitmap (rb->bmap) of every block ---- */

typedef struct RamDirtyState {
    /* owned by the migration thread */
    uint64_t dirty_pages;       /* set bits over all blocks */
    uint64_t sync_count;
    int64_t last_sync_ns;
    uint64_t pages_rate;        /* newly dirtied pages/s over the last sync period */
    uint64_t dirtied_pages;     /* newly dirtied pages found by all syncs (auto-converge) */
    bool logging;               /* accel log_start succeeded */
    bool final;                 /* vCPUs stopped for the last pass: no re-arming */
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
/*
 * ram_dirty_clear: re-arm the accelerator's log for pages [first, first +
 * npages) of @rb (AccelOps.log_clear) before they are read or dropped.
 * Nothing to do on the final pass, with the vCPUs stopped.
 */
void ram_dirty_clear(Machine *m, RamDirtyState *d, RAMBlock *rb, uint64_t first,
                     uint64_t npages);
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
    RAM_PAGE_XBZRLE,    /* xbzrle: XBZRLE record, or PAGE from the cache (ram-xbzrle.c) */
    RAM_PAGE_MULTIFD,   /* multifd: copied into a packet for a channel (multifd.c) */
    RAM_PAGE_COMPRESS,  /* compress: COMPRESS_PAGE record from the worker pool (compress.c) */
    RAM_PAGE__MAX,
} RamPageMethod;

/* ---- the section ---- */

typedef struct RAMState {
    /* set at creation */
    Machine *m;
    MigrationStats *stats;      /* the outgoing migration's counters; may be NULL */
    /* set at creation: the MigrationState's options; NULL: every capability off */
    MigrationOptions *opts;
    /*
     * set by free_page_hint_set_provider (main thread, while the machine is
     * built, before any migration), read-only after: the device that
     * reports free guest pages, or NULL
     */
    const FreePageHintProviderOps *hint_provider;
    void *hint_provider_opaque;

    /* source, owned by the migration thread */
    RamDirtyState dirty;
    RAMBlock *last_sent_block;  /* for CONTINUE; reset per section record */
    unsigned scan_block;        /* where the scan resumes */
    uint64_t scan_page;
    bool bulk_stage;            /* first pass: every page */
    uint64_t iter_pages;        /* pages sent in the current pass */
    /*
     * multifd: the channels, set by the migration thread before setup and
     * freed by it after cleanup (NULL: off); whether pages went to the
     * channels since the last MULTIFD_FLUSH
     */
    struct MultiFDSend *mfs;
    bool mfs_unsynced;
    /* xbzrle: set by ram_xbzrle_setup when the capability is on, freed at cleanup */
    struct RamXbzrle *xbzrle;
    /* compress: set by ram_compress_setup when the capability is on, freed at cleanup */
    struct RamCompress *compress;
    /*
     * First pass: which pages of a window of the block being scanned are
     * populated on the host (util/pagemap.h); holes go as X_ZERO_RUN
     * without being read.  Valid only until the next dirty sync
     * (pop_sync_count): a write after the snapshot is in that sync.
     */
    unsigned long *pop_bmap;    /* RAM_POP_WINDOW bits; NULL until first used */
    RAMBlock *pop_block;        /* NULL: no valid window */
    uint64_t pop_start;         /* first page of the window */
    uint64_t pop_npages;
    uint64_t pop_sync_count;

    /* destination, owned by the incoming thread */
    struct MultiFDRecv *mfr;    /* multifd channels (set by incoming.c), or NULL */
    bool mem_size_seen;
    RAMBlock *last_load_block;
    /*
     * ZERO records: which pages of a window are populated, one query for a
     * run of ZERO records (a query is a syscall, as dear as the fault it
     * avoids).  Dropped at any other record: only ZERO records are sure
     * to leave the populated set as it was (ram-load.c).
     */
    RAMBlock *zero_win_block;   /* NULL: no window */
    uint64_t zero_win_start;    /* first page */
    uint64_t zero_win_npages;
    unsigned long zero_win[RAM_ZERO_WIN / (8 * sizeof(unsigned long))];
    uint64_t pages_loaded;
    uint64_t zero_pages_loaded;
    uint64_t xbzrle_pages_loaded;
    uint64_t compress_pages_loaded;
    /* compress: the decompress workers, started by the first COMPRESS_PAGE record */
    struct RamDecompress *decompress;

    /*
     * postcopy (postcopy-src.c, postcopy-ram.c): the source's page server
     * after the switch (migration thread), the destination's state
     * (incoming thread sets it; the listen thread places pages through
     * it), and whether ADVISE came (no huge pages then)
     */
    struct PostcopySrc *pc_src;
    struct PostcopyIncoming *pc_in;
    bool postcopy_advised;
} RAMState;

/*
 * ram_register: register the "ram" live section (instance 0, version 4)
 * for @m's blocks, reading xbzrle's and compress's capabilities and
 * parameters from @opts (NULL: all off; must outlive the RAMState).  The
 * RAMState is owned by the registry's user: free it with ram_state_free()
 * after the registry.
 */
RAMState *ram_register(SaveVMRegistry *reg, Machine *m, MigrationStats *stats,
                       MigrationOptions *opts, GError **errp);
void ram_state_free(RAMState *rs);

/*
 * ram-save.c: write a page record's header (address | flags, and the block
 * name unless CONTINUE applies); returns its length in bytes.
 */
size_t ram_put_page_header(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset,
                           uint64_t flags);

/* ---- ram-xbzrle.c: XBZRLE on the source (all no-ops when rs->xbzrle is NULL) ---- */

typedef struct RamXbzrle RamXbzrle;

/*
 * ram_xbzrle_setup: at save_setup, with the capability on (and a channel
 * that does not place pages itself, rdma:), create the page cache of
 * xbzrle-cache-size bytes and set rs->xbzrle.  False only if that fails.
 */
bool ram_xbzrle_setup(RAMState *rs, MigStream *f, GError **errp);
/* Free the cache (the deferred teardown, after the destination resumed). */
void ram_xbzrle_cleanup(RAMState *rs);
/* Start of every iteration: resize the cache if xbzrle-cache-size changed. */
void ram_xbzrle_poll(RAMState *rs);
/* save_complete, after the final sync: the last stage (vCPUs stopped) from now on. */
void ram_xbzrle_complete(RAMState *rs);
/*
 * ram_xbzrle_send: send the non-zero dirty page at @offset of @rb: in the
 * bulk pass a PAGE record of a snapshot that is also cached; after it an
 * XBZRLE record, or a PAGE record from its cache entry, or nothing when it
 * equals the copy the destination has.  Returns false when the caller
 * must send it as a plain PAGE record from guest RAM.
 */
bool ram_xbzrle_send(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t offset);
/* @npages pages from @offset on were sent as zero (ZERO, X_ZERO_RUN): cache zeroes. */
void ram_xbzrle_zero_sent(RAMState *rs, RAMBlock *rb, uint64_t offset, uint64_t npages);
/* After each sync: recompute the rates (QEMU's 1 s periods). */
void ram_xbzrle_sync_stats(RAMState *rs);
/* Entries in the cache (tests). */
uint64_t ram_xbzrle_cache_entries(RAMState *rs);

/* ram-load.c: the section's load hook (START/PART/END payloads). */
bool ram_load(MigStream *f, void *opaque, int version_id, GError **errp);
/* ram-load.c: forget the previous load (a new incoming migration). */
void ram_load_reset(RAMState *rs);

#endif
