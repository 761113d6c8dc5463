/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The destination side of the "ram" section: reads page records and writes
 * guest RAM, treating every byte as untrusted.  The block set and sizes
 * (MEM_SIZE) must match this machine's exactly before any page is
 * accepted; every block name and page offset is checked; errors name the
 * block and offset.
 *
 * Pages are written straight into the block's host mapping: the destination
 * is not logging dirty pages and its vCPUs are stopped.  A ZERO record (or
 * X_ZERO_RUN) for a page that is already zero writes nothing, and finding
 * that out does not touch it either: a hole in the host mapping reads as
 * zero (util/pagemap.h asks the page tables), and reading it would fault it
 * in -- on kernels without a shared zero page that allocates it.  So an idle
 * guest's untouched memory stays unallocated here.
 *
 * Guest RAM is advised MADV_HUGEPAGE when the first record arrives: the
 * destination writes nearly every page it gets for the first time, and a
 * first touch is a fault per 4 KiB page without it (the dominant cost of
 * loading a busy guest on a VM host), one per 2 MiB with it.
 */
#include <string.h>
#include <sys/mman.h>

#include "migration/compress.h"
#include "migration/multifd.h"
#include "migration/postcopy.h"
#include "migration/ram.h"
#include "migration/xbzrle.h"
#include "util/bitmap.h"
#include "util/bufferiszero.h"
#include "util/error.h"
#include "util/pagemap.h"

/* Pages per populated-page query when zeroing a run (a 4 KiB bitmap). */
#define ZERO_CHUNK 32768

void ram_load_reset(RAMState *rs)
{
    rs->mem_size_seen = false;
    rs->last_load_block = NULL;
    rs->zero_win_block = NULL;
    rs->pages_loaded = 0;
    rs->zero_pages_loaded = 0;
    rs->xbzrle_pages_loaded = 0;
    rs->compress_pages_loaded = 0;
    ram_decompress_cleanup(rs);     /* compress: the previous load's workers */
}

/* Make @npages pages at @host zero, touching only the populated ones. */
static void zero_pages(uint8_t *host, uint64_t npages)
{
    unsigned long bmap[BITS_TO_LONGS(ZERO_CHUNK)];

    for (uint64_t done = 0; done < npages; done += ZERO_CHUNK) {
        uint64_t chunk = MIN(npages - done, ZERO_CHUNK);

        pagemap_populated(host + done * TARGET_PAGE_SIZE, chunk, bmap);
        for (uint64_t i = bitmap_find_next(bmap, chunk, 0); i < chunk;
             i = bitmap_find_next(bmap, chunk, i + 1)) {
            uint8_t *p = host + (done + i) * TARGET_PAGE_SIZE;

            if (!buffer_is_zero(p, TARGET_PAGE_SIZE)) {
                memset(p, 0, TARGET_PAGE_SIZE);
            }
        }
    }
}

/* Is @page of @rb populated?  Through the ZERO records' window (ram.h). */
static bool zero_page_populated(RAMState *rs, RAMBlock *rb, uint64_t page)
{
    if (rs->zero_win_block != rb || page < rs->zero_win_start ||
        page - rs->zero_win_start >= rs->zero_win_npages) {
        rs->zero_win_block = rb;
        rs->zero_win_start = page;
        rs->zero_win_npages = MIN(RAM_ZERO_WIN, rb->npages - page);
        pagemap_populated(rb->host + (page << TARGET_PAGE_BITS), rs->zero_win_npages,
                          rs->zero_win);
    }
    return test_bit(page - rs->zero_win_start, rs->zero_win);
}

static bool read_idstr(MigStream *f, char *idstr, GError **errp)
{
    uint8_t len = mig_stream_get_u8(f);

    mig_stream_get_buffer(f, idstr, len);
    idstr[len] = 0;
    if (mig_stream_error(f)) {
        kvmig_error(errp, "reading a block name: %s", mig_stream_error_msg(f));
        return false;
    }
    return true;
}

static bool load_mem_size(RAMState *rs, MigStream *f, uint64_t total, GError **errp)
{
    Machine *m = rs->m;
    uint64_t local_total = 0, seen_total = 0;
    g_autofree bool *matched = g_new0(bool, m->nr_ram_blocks);
    unsigned nmatched = 0;

    if (rs->mem_size_seen) {
        kvmig_error(errp, "a second MEM_SIZE record");
        return false;
    }
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        local_total += m->ram_blocks[i]->used_length;
    }
    if (total != local_total) {
        kvmig_error(errp, "the source has 0x%" G_GINT64_MODIFIER "x bytes of RAM, this "
                    "machine 0x%" G_GINT64_MODIFIER "x: start the destination with the "
                    "same -m", total, local_total);
        return false;
    }
    while (seen_total < total) {
        char idstr[256];
        uint64_t len;
        RAMBlock *rb;

        if (!read_idstr(f, idstr, errp)) {
            return false;
        }
        len = mig_stream_get_be64(f);
        if (mig_stream_error(f)) {
            kvmig_error(errp, "MEM_SIZE: %s", mig_stream_error_msg(f));
            return false;
        }
        rb = machine_find_ram_block(m, idstr);
        if (!rb) {
            g_autofree char *esc = g_strescape(idstr, NULL);
            kvmig_error(errp, "unknown RAM block '%s' in MEM_SIZE", esc);
            return false;
        }
        if (matched[rb->index]) {
            kvmig_error(errp, "RAM block '%s' listed twice in MEM_SIZE", idstr);
            return false;
        }
        if (len != rb->used_length) {
            kvmig_error(errp, "RAM block '%s' is 0x%" G_GINT64_MODIFIER "x bytes on the "
                        "source, 0x%" G_GINT64_MODIFIER "x here", idstr, len,
                        rb->used_length);
            return false;
        }
        matched[rb->index] = true;
        nmatched++;
        seen_total += len;
    }
    if (seen_total != total || nmatched != m->nr_ram_blocks) {
        kvmig_error(errp, "MEM_SIZE lists %u blocks of 0x%" G_GINT64_MODIFIER "x bytes, "
                    "this machine has %u", nmatched, seen_total, m->nr_ram_blocks);
        return false;
    }
    rs->mem_size_seen = true;
    for (unsigned i = 0; i < m->nr_ram_blocks && !rs->postcopy_advised; i++) {
        /* advice only: without THP the load is just slower; postcopy places 4 KiB pages */
        madvise(m->ram_blocks[i]->host, m->ram_blocks[i]->used_length, MADV_HUGEPAGE);
    }
    multifd_recv_start(rs->mfr);     /* the block set matches: channels may place pages */
    return true;
}

/* The block a page record refers to, checked; NULL with *errp set. */
static RAMBlock *record_block(RAMState *rs, MigStream *f, uint64_t flags, uint64_t addr,
                              GError **errp)
{
    RAMBlock *rb;

    if (!rs->mem_size_seen) {
        kvmig_error(errp, "page record at 0x%" G_GINT64_MODIFIER "x before MEM_SIZE", addr);
        return NULL;
    }
    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        rb = rs->last_load_block;
        if (!rb) {
            kvmig_error(errp, "CONTINUE record at 0x%" G_GINT64_MODIFIER "x with no block "
                        "before it", addr);
            return NULL;
        }
    } else {
        char idstr[256];
        if (!read_idstr(f, idstr, errp)) {
            return NULL;
        }
        rb = machine_find_ram_block(rs->m, idstr);
        if (!rb) {
            g_autofree char *esc = g_strescape(idstr, NULL);
            kvmig_error(errp, "page at 0x%" G_GINT64_MODIFIER "x of unknown RAM block "
                        "'%s'", addr, esc);
            return NULL;
        }
        rs->last_load_block = rb;
    }
    if (addr >= rb->used_length) {
        kvmig_error(errp, "page offset 0x%" G_GINT64_MODIFIER "x is beyond RAM block "
                    "'%s' (0x%" G_GINT64_MODIFIER "x bytes)", addr, rb->idstr,
                    rb->used_length);
        return NULL;
    }
    return rb;
}

static const char *unsupported_record(uint64_t type)
{
    switch (type) {
    case RAM_SAVE_FLAG_HOOK:
        return "RAM hook record (RDMA) on a stream transport";
    default:
        return NULL;
    }
}

/*
 * xbzrle: an XBZRLE record's payload (u8 encoding flag, be16 length, the
 * encoding), applied in place to the page as the last record left it.
 * A short stream returns true with the stream's error set: the caller
 * reports it with the offset, as for every record.
 */
static bool load_xbzrle(MigStream *f, RAMBlock *rb, uint64_t addr, GError **errp)
{
    uint8_t enc[TARGET_PAGE_SIZE];
    uint8_t flag = mig_stream_get_u8(f);
    uint16_t len = mig_stream_get_be16(f);

    if (mig_stream_error(f)) {
        return true;
    }
    if (flag != XBZRLE_ENCODING_FLAG) {
        kvmig_error(errp, "XBZRLE page at 0x%" G_GINT64_MODIFIER "x of RAM block '%s': "
                    "encoding flag 0x%x, expected 0x%x", addr, rb->idstr, flag,
                    XBZRLE_ENCODING_FLAG);
        return false;
    }
    if (len > TARGET_PAGE_SIZE) {
        kvmig_error(errp, "XBZRLE page at 0x%" G_GINT64_MODIFIER "x of RAM block '%s': "
                    "%u bytes of encoding, more than a page", addr, rb->idstr, len);
        return false;
    }
    if (!mig_stream_get_buffer(f, enc, len)) {
        return true;
    }
    if (xbzrle_decode_buffer(enc, len, rb->host + addr, TARGET_PAGE_SIZE) < 0) {
        kvmig_error(errp, "XBZRLE page at 0x%" G_GINT64_MODIFIER "x of RAM block '%s': "
                    "malformed encoding (%u bytes)", addr, rb->idstr, len);
        return false;
    }
    return true;
}

/*
 * Postcopy, listen thread: the PAGE record at @addr of @rb, with the PAGE
 * records right behind it in the buffer that continue it page by page (the
 * background pass sends runs), placed with one UFFDIO_COPY.  Only records
 * that have arrived whole are taken, so no page waits for a later one.
 */
static bool load_postcopy_run(RAMState *rs, MigStream *f, RAMBlock *rb, uint64_t addr,
                              GError **errp)
{
    PostcopyPlaceRun *run = postcopy_place_run_get(rs->pc_in);
    uint64_t n = 1;

    if (!mig_stream_get_buffer(f, postcopy_place_run_slot(rs->pc_in, run, 0), TARGET_PAGE_SIZE)) {
        kvmig_error(errp, "RAM page at 0x%" G_GINT64_MODIFIER "x: %s", addr,
                    mig_stream_error_msg(f));
        postcopy_place_run_drop(rs->pc_in, run);
        return false;
    }
    while (n < POSTCOPY_PLACE_BATCH) {
        uint64_t next = addr + (n << TARGET_PAGE_BITS);
        const uint8_t *p = mig_stream_peek_buffered(f, 8 + TARGET_PAGE_SIZE);
        uint64_t word;
        uint8_t *slot;

        if (!p || next >= rb->used_length) {
            break;
        }
        memcpy(&word, p, sizeof(word));
        if (GUINT64_FROM_BE(word) != (next | RAM_SAVE_FLAG_CONTINUE | RAM_SAVE_FLAG_PAGE) ||
            !(slot = postcopy_place_run_slot(rs->pc_in, run, n))) {
            break;
        }
        mig_stream_get_be64(f);
        mig_stream_get_buffer(f, slot, TARGET_PAGE_SIZE);
        n++;
    }
    rs->pages_loaded += n;
    run->rb = rb;
    run->offset = addr;
    run->npages = n;
    return postcopy_place_run_put(rs->pc_in, run, errp);
}

/*
 * Postcopy, listen thread: a ZERO or PAGE record placed with userfaultfd,
 * so that a vCPU waiting on the page wakes to all of it.  Other records
 * are not sent after the switch.
 */
static bool load_postcopy_page(RAMState *rs, MigStream *f, uint64_t flags, uint64_t addr,
                               uint64_t type, GError **errp)
{
    uint8_t page[TARGET_PAGE_SIZE];
    RAMBlock *rb;

    if (type != RAM_SAVE_FLAG_ZERO && type != RAM_SAVE_FLAG_PAGE) {
        kvmig_error(errp, "RAM record flags 0x%" G_GINT64_MODIFIER "x at offset 0x%"
                    G_GINT64_MODIFIER "x in postcopy (only ZERO and PAGE)", flags, addr);
        return false;
    }
    rb = record_block(rs, f, flags, addr, errp);
    if (!rb) {
        return false;
    }
    if (type == RAM_SAVE_FLAG_ZERO) {
        uint8_t ch = mig_stream_get_u8(f);

        memset(page, ch, sizeof(page));
        if (mig_stream_error(f)) {
            kvmig_error(errp, "RAM page at 0x%" G_GINT64_MODIFIER "x: %s", addr,
                        mig_stream_error_msg(f));
            return false;
        }
        rs->zero_pages_loaded++;
        return postcopy_place_page(rs->pc_in, rb, addr, ch ? page : NULL, errp);
    }
    return load_postcopy_run(rs, f, rb, addr, errp);
}

bool ram_load(MigStream *f, void *opaque, int version_id, GError **errp)
{
    RAMState *rs = opaque;

    if (version_id != RAM_SECTION_VERSION) {
        kvmig_error(errp, "RAM section version %d, expected %d", version_id,
                    RAM_SECTION_VERSION);
        return false;
    }
    for (;;) {
        uint64_t word = mig_stream_get_be64(f);
        uint64_t flags = word & (TARGET_PAGE_SIZE - 1);
        uint64_t addr = word & ~(TARGET_PAGE_SIZE - 1);
        uint64_t type = flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE;
        RAMBlock *rb;

        if (mig_stream_error(f)) {
            kvmig_error(errp, "reading a RAM record: %s", mig_stream_error_msg(f));
            return false;
        }
        if (flags & ~(uint64_t)RAM_SAVE_FLAGS_KNOWN) {
            kvmig_error(errp, "unknown RAM record flags 0x%" G_GINT64_MODIFIER "x at "
                        "offset 0x%" G_GINT64_MODIFIER "x", flags, addr);
            return false;
        }
        if (type != RAM_SAVE_FLAG_ZERO) {
            rs->zero_win_block = NULL;  /* it may change what is populated */
        }
        if (postcopy_listening(rs->pc_in) && type != RAM_SAVE_FLAG_EOS &&
            type != RAM_SAVE_FLAG_MULTIFD_FLUSH) {
            /* postcopy: guest RAM is registered; pages are placed whole */
            if (!load_postcopy_page(rs, f, flags, addr, type, errp)) {
                return false;
            }
            continue;
        }
        switch (type) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            if (flags & RAM_SAVE_FLAG_CONTINUE) {
                kvmig_error(errp, "MEM_SIZE record with CONTINUE");
                return false;
            }
            if (!load_mem_size(rs, f, addr, errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_ZERO: {
            uint8_t ch;
            uint8_t *host;

            rb = record_block(rs, f, flags, addr, errp);
            if (!rb) {
                return false;
            }
            ch = mig_stream_get_u8(f);
            if (mig_stream_error(f)) {
                break;
            }
            host = rb->host + addr;
            if (ch) {
                memset(host, ch, TARGET_PAGE_SIZE);
                rs->zero_win_block = NULL;
            } else if (zero_page_populated(rs, rb, addr >> TARGET_PAGE_BITS) &&
                       !buffer_is_zero(host, TARGET_PAGE_SIZE)) {
                memset(host, 0, TARGET_PAGE_SIZE);
            }
            rs->zero_pages_loaded++;
            break;
        }
        case RAM_SAVE_FLAG_X_ZERO_RUN: {
            uint64_t npages;

            rb = record_block(rs, f, flags, addr, errp);
            if (!rb) {
                return false;
            }
            npages = mig_stream_get_be64(f);
            if (mig_stream_error(f)) {
                break;
            }
            /* addr < used_length (record_block), so this cannot overflow */
            if (npages == 0 || npages > (rb->used_length - addr) / TARGET_PAGE_SIZE) {
                kvmig_error(errp, "zero run of %" G_GUINT64_FORMAT " pages at 0x%"
                            G_GINT64_MODIFIER "x does not fit in RAM block '%s' (0x%"
                            G_GINT64_MODIFIER "x bytes)", npages, addr, rb->idstr,
                            rb->used_length);
                return false;
            }
            zero_pages(rb->host + addr, npages);
            rs->zero_pages_loaded += npages;
            break;
        }
        case RAM_SAVE_FLAG_PAGE:
            rb = record_block(rs, f, flags, addr, errp);
            if (!rb) {
                return false;
            }
            mig_stream_get_buffer(f, rb->host + addr, TARGET_PAGE_SIZE);
            rs->pages_loaded++;
            break;
        case RAM_SAVE_FLAG_XBZRLE:
            rb = record_block(rs, f, flags, addr, errp);
            if (!rb || !load_xbzrle(f, rb, addr, errp)) {
                return false;
            }
            rs->xbzrle_pages_loaded++;
            break;
        case RAM_SAVE_FLAG_COMPRESS_PAGE:
            rb = record_block(rs, f, flags, addr, errp);
            if (!rb || !ram_decompress_load(rs, f, rb, addr, errp)) {
                return false;
            }
            rs->compress_pages_loaded++;
            break;
        case RAM_SAVE_FLAG_MULTIFD_FLUSH:
            /*
             * multifd: every channel has placed the pages sent before this
             * point (worker_pool_sync), then they go on with the next pass.
             * Without channels a no-op, as QEMU's; a source that opened
             * channels was refused at accept (incoming.c).
             */
            if (rs->mfr && !multifd_recv_sync(rs->mfr, errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_EOS:
            /* compress: every page of this group is in guest RAM before the next */
            return ram_decompress_sync(rs, errp);
        default:
            if (unsupported_record(type)) {
                kvmig_error(errp, "%s at offset 0x%" G_GINT64_MODIFIER "x",
                            unsupported_record(type), addr);
            } else {
                kvmig_error(errp, "invalid RAM record flags 0x%" G_GINT64_MODIFIER "x at "
                            "offset 0x%" G_GINT64_MODIFIER "x", flags, addr);
            }
            return false;
        }
        if (mig_stream_error(f)) {
            kvmig_error(errp, "RAM page at 0x%" G_GINT64_MODIFIER "x: %s", addr,
                        mig_stream_error_msg(f));
            return false;
        }
    }
}
