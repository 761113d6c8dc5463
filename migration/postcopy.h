/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: postcopy -- the stream commands and return-path
 * messages it adds (QEMU's numbers), their pure encoders and bounded
 * decoders (postcopy-proto.c, fuzzed), the destination's userfaultfd side
 * (postcopy-ram.c), the source's page server (postcopy-src.c), the
 * preempt channel (postcopy-preempt.c) and recovery (postcopy-recover.c);
 * what those share is in postcopy-int.h.
 *
 * Sequence (docs/devel/migration/postcopy.rst draws it):
 *
 *   source                                      destination
 *   header, POSTCOPY_ADVISE ─────────────────>  check userfaultfd, no THP
 *   precopy passes (ram PART records) ───────>  loaded as usual
 *   migrate-start-postcopy: vm_stop, final sync
 *   POSTCOPY_RAM_DISCARD (re-dirtied, unsent) ─>  MADV_DONTNEED those pages
 *   PACKAGED { LISTEN, devices, RUN } ───────>  LISTEN: register RAM (MISSING),
 *                                                 fault thread, listen thread;
 *                                                 devices; RUN: vm_start
 *   ram PART records, requested pages first <── REQ_PAGES(_ID) from the fault thread
 *   ram END, EOF ────────────────────────────>  listen thread ends, unregisters
 *                                          <──  DONE
 *
 * Wire formats (big-endian; a command is QEMU_VM_COMMAND, be16 cmd, be16 len):
 *   POSTCOPY_ADVISE       be64 host page size summary, be64 target page size
 *   POSTCOPY_LISTEN/RUN   empty
 *   POSTCOPY_RAM_DISCARD  u8 version (0), u8 n, n bytes of block name, then
 *                         1..12 pairs (be64 start, be64 length), bytes
 *   PACKAGED              be32 length, then that many bytes of stream records
 * The return path's REQ_PAGES / REQ_PAGES_ID are in return-path.h.
 */
#ifndef KVMIG_MIGRATION_POSTCOPY_H
#define KVMIG_MIGRATION_POSTCOPY_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QEMU_VM_COMMAND sub-commands (QEMU's enum qemu_vm_cmd) */
#define MIG_CMD_POSTCOPY_ADVISE         3
#define MIG_CMD_POSTCOPY_LISTEN         4
#define MIG_CMD_POSTCOPY_RUN            5
#define MIG_CMD_POSTCOPY_RAM_DISCARD    6
#define MIG_CMD_PACKAGED                7
#define MIG_CMD_POSTCOPY_RESUME         9
#define MIG_CMD_RECV_BITMAP             10

#define POSTCOPY_ADVISE_LEN             16
#define POSTCOPY_DISCARD_VERSION        0
#define POSTCOPY_DISCARD_MAX_RANGES     12      /* per command, as QEMU */
#define POSTCOPY_PACKAGED_MAX           (1u << 24)
#define POSTCOPY_BLOCK_NAME_MAX         255
/*
 * postcopy-preempt (kvmig's layout; QEMU tells its preempt channel by
 * connection order, kvmig by its first bytes): a second connection to the
 * destination's address opened at the switch, starting with this be32,
 * then ram records (be64 offset | ZERO or PAGE [| CONTINUE], the block
 * name unless CONTINUE, the payload) for requested pages only, ended by
 * an EOS record before the main stream's EOF.
 */
#define POSTCOPY_PREEMPT_MAGIC          0x4b56504du     /* "KVPM" */
/* How long the destination waits for that connection at LISTEN or RESUME. */
#define POSTCOPY_PREEMPT_ACCEPT_MS      10000

/* The largest payload a DISCARD command may have. */
#define POSTCOPY_DISCARD_MAX_LEN \
    (2 + POSTCOPY_BLOCK_NAME_MAX + 16 * POSTCOPY_DISCARD_MAX_RANGES)

typedef struct PostcopyRange {
    uint64_t start;     /* bytes from the block's start */
    uint64_t len;       /* bytes */
} PostcopyRange;

typedef struct PostcopyDiscard {
    char block[POSTCOPY_BLOCK_NAME_MAX + 1];
    unsigned nranges;
    PostcopyRange ranges[POSTCOPY_DISCARD_MAX_RANGES];
} PostcopyDiscard;

/* ---- postcopy-proto.c: pure, never reads past @len ---- */

/* ADVISE payload into @buf (POSTCOPY_ADVISE_LEN bytes). */
void postcopy_advise_encode(uint64_t host_page_summary, uint64_t target_page, uint8_t *buf);
/* Decode and check an ADVISE payload against this side's @target_page. */
bool postcopy_advise_decode(const uint8_t *buf, size_t len, uint64_t target_page,
                            GError **errp);

/* DISCARD payload of @d into @buf (POSTCOPY_DISCARD_MAX_LEN bytes); its length. */
size_t postcopy_discard_encode(const PostcopyDiscard *d, uint8_t *buf);
/*
 * Decode a DISCARD payload: version, name length and range count must
 * match @len exactly; every range must be page aligned and non-empty (the
 * block's bounds are the caller's to check).
 */
bool postcopy_discard_decode(const uint8_t *buf, size_t len, uint64_t page_size,
                             PostcopyDiscard *d, GError **errp);

/*
 * Recovery's RECV_BITMAP command: u8 n, n bytes of block name (1..255, no
 * NUL).  Encode into @buf (1 + POSTCOPY_BLOCK_NAME_MAX bytes): its length.
 */
size_t postcopy_recv_bitmap_cmd_encode(const char *block, uint8_t *buf);
bool postcopy_recv_bitmap_cmd_decode(const uint8_t *buf, size_t len,
                                     char block[POSTCOPY_BLOCK_NAME_MAX + 1], GError **errp);

/*
 * The received bitmap a destination writes after a RECV_BITMAP message on
 * the return path (QEMU's layout): be64 size (bytes), size bytes of
 * little-endian 64-bit words (bit i: page i is here), be64
 * MIG_RP_RECV_BITMAP_ENDING.  Its length for a block of @npages pages:
 */
#define POSTCOPY_RECV_BITMAP_LEN(npages)    (16 + ((uint64_t)(npages) + 63) / 64 * 8)
/* @received (npages bits) into @buf (POSTCOPY_RECV_BITMAP_LEN bytes). */
void postcopy_recv_bitmap_encode(const unsigned long *received, uint64_t npages,
                                 uint8_t *buf);
/*
 * Decode @len bytes for a block of @npages pages into @received (npages
 * bits, each one set or cleared): the length, the size word and the end
 * marker must all be right.
 */
bool postcopy_recv_bitmap_decode(const uint8_t *buf, size_t len, uint64_t npages,
                                 unsigned long *received, GError **errp);

/* A preempt channel record header (its be64 word): what follows it. */
typedef enum PostcopyPreemptRecord {
    POSTCOPY_PREEMPT_BAD = -1,          /* refused; errp says why */
    POSTCOPY_PREEMPT_EOS = 0,           /* the channel ends */
    POSTCOPY_PREEMPT_ZERO = 1,          /* a fill byte */
    POSTCOPY_PREEMPT_PAGE = 2,          /* a whole page */
    POSTCOPY_PREEMPT_CONTINUE = 4,      /* or'ed in: same block, no name follows */
} PostcopyPreemptRecord;
/*
 * Decode a record header: EOS (offset 0), or ZERO or PAGE, with CONTINUE
 * or not; any other flag is refused.  *@offset gets the page offset (the
 * block's bounds are the caller's to check).
 */
PostcopyPreemptRecord postcopy_preempt_record_decode(uint64_t word, uint64_t page_size,
                                                     uint64_t *offset, GError **errp);

/* ---- the source (migration thread): postcopy-src.c, postcopy-recover.c ---- */

struct MigrationState;
struct MigStream;
struct RAMState;
struct RAMBlock;
struct MigUri;
struct MigTlsSide;

/* Write POSTCOPY_ADVISE (after the header, before any section). */
void postcopy_src_advise(struct MigStream *f);
/* migrate-start-postcopy was given for the running migration. */
bool postcopy_src_wanted(struct MigrationState *s);
/*
 * From active: stop the guest, switch to postcopy-active (with
 * postcopy-preempt connect a second channel to @uri for requested pages),
 * send the discards and the package, serve pages until all are sent, wait for DONE.
 * *@dest_may_run is set once the package (ending in RUN) is written: from
 * then on a failure must leave the guest stopped here.
 */
bool postcopy_src_run(struct MigrationState *s, struct MigStream *f, const struct MigUri *uri,
                      const struct MigTlsSide *tls, bool *dest_may_run, GError **errp);
/*
 * Recovery (`migrate -r`): status postcopy-recover; on the new stream @f,
 * ask for the destination's received bitmaps, make the rest dirty again,
 * with postcopy-preempt connect a new preempt channel to @uri (TLS as @tls
 * says), POSTCOPY_RESUME, wait for RESUME_ACK, postcopy-active, serve the
 * rest.
 */
bool postcopy_src_resume(struct MigrationState *s, struct MigStream *f,
                         const struct MigUri *uri, const struct MigTlsSide *tls, GError **errp);
/* Free a paused postcopy's state (kvmig quits). */
void postcopy_src_free(struct RAMState *rs);
/*
 * The ram section's iterate hook after the switch: requested pages first,
 * then the background pass, until @deadline_ns (0: until all is sent).
 * True when every page has been sent.
 */
bool postcopy_src_send(struct RAMState *rs, struct MigStream *f, int64_t deadline_ns);

/* ---- the destination: postcopy-ram.c, postcopy-recover.c, postcopy-preempt.c ---- */

typedef struct PostcopyIncoming PostcopyIncoming;

/* Incoming thread, before the load: handle postcopy's commands on @f. */
PostcopyIncoming *postcopy_incoming_new(struct MigrationState *s, struct MigStream *f);
/* After loadvm_handed_off: wait for the listen thread; every section ended? */
bool postcopy_incoming_finish(PostcopyIncoming *pi, GError **errp);
/* Tell the source (DONE) that every page arrived. */
void postcopy_incoming_done(PostcopyIncoming *pi, bool resumed);
/*
 * Stop the threads, unregister guest RAM, free.  Only when every page has
 * arrived or the guest never ran: unregistering wakes blocked vCPUs onto
 * zero pages.
 */
void postcopy_incoming_free(PostcopyIncoming *pi);
/*
 * The listen thread failed after RUN: stop asking for pages but keep RAM
 * registered, so the guest waits for pages it can no longer get instead
 * of finding zero pages (postcopy-paused).
 */
void postcopy_incoming_pause(PostcopyIncoming *pi);
/*
 * Recovery, paused: read the new stream @f (RECV_BITMAP, POSTCOPY_RESUME,
 * then pages) on a new listen thread; postcopy_incoming_finish waits for it.
 */
bool postcopy_incoming_resume(PostcopyIncoming *pi, struct MigStream *f, GError **errp);
/*
 * postcopy-preempt: the listener (owned from now on) on which the source
 * connects its preempt channel: -incoming's, accepted at LISTEN, or after
 * a recovery migrate-recover's, accepted at POSTCOPY_RESUME.
 */
void postcopy_incoming_set_preempt_listener(PostcopyIncoming *pi, int lfd,
                                            const struct MigUri *uri);
/* Listen thread: is RAM registered (pages must be placed, not written)? */
bool postcopy_listening(PostcopyIncoming *pi);
/* Listen thread: place one page atomically (@data NULL: a zero page). */
bool postcopy_place_page(PostcopyIncoming *pi, struct RAMBlock *rb, uint64_t offset,
                         const void *data, GError **errp);
/* Up to how many pages a run handed to the placer holds. */
#define POSTCOPY_PLACE_BATCH 32

/*
 * A run of consecutive pages for the placer thread ("postcopy-place"): the
 * listen thread fills the next run from the stream while the placer's
 * UFFDIO_COPY maps the one before, so the two halves of placing a page
 * run on two cores.
 */
typedef struct PostcopyPlaceRun {
    struct RAMBlock *rb;
    uint64_t offset;
    uint64_t npages;
    uint8_t *buf;               /* POSTCOPY_PLACE_BATCH pages, the run's own */
    uint8_t *data;              /* where the pages are: buf, or spare pages */
    bool spare;                 /* data is spare pages: moved in, not copied */
} PostcopyPlaceRun;

/*
 * Listen thread: where the next page of @run goes (@n pages are in it
 * already): its buffer, or the spare page right behind the last one; NULL
 * if the run must end before it (no adjacent spare page).
 */
uint8_t *postcopy_place_run_slot(PostcopyIncoming *pi, PostcopyPlaceRun *run, uint64_t n);

/* Listen thread: a free run to fill (waits while all are with the placer). */
PostcopyPlaceRun *postcopy_place_run_get(PostcopyIncoming *pi);
/* Listen thread: give back @run unfilled. */
void postcopy_place_run_drop(PostcopyIncoming *pi, PostcopyPlaceRun *run);
/*
 * Listen thread: hand @run (filled: rb, offset, npages, its slots) to the placer.
 * False with *errp if the placer has failed (then nothing more is placed).
 */
bool postcopy_place_run_put(PostcopyIncoming *pi, PostcopyPlaceRun *run, GError **errp);

#endif
