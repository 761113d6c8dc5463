/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for postcopy's wire formats (migration/postcopy-proto.c):
 * the ADVISE and RAM_DISCARD payloads and recovery's RECV_BITMAP command a
 * destination reads from the stream, the received bitmap a source reads
 * on the return path, and the preempt channel's record header (the return
 * path's REQ_PAGES / REQ_PAGES_ID are fuzz-return-path's).
 * Input: byte 0 picks the parser (mod 5), the rest is the payload; for the
 * received bitmap, bytes 1-2 are the block's page count (be16) and the
 * rest the bitmap; for a preempt record, bytes 1-8 are its be64 word.
 * Checked: an accepted DISCARD or RECV_BITMAP command encodes back to the
 * very bytes it came from; DISCARD's ranges are aligned, non-empty and do
 * not wrap, and block names are NUL-free and within bounds; an accepted
 * bitmap has exactly the expected length and its bits are the input's
 * and survive an encode and decode; a preempt record is EOS only as the
 * bare EOS word, else ZERO or PAGE, page aligned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/postcopy.h"
#include "migration/ram.h"
#include "util/bitmap.h"

#define PAGE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t buf[POSTCOPY_DISCARD_MAX_LEN];
    const uint8_t *p = data + 1;
    size_t len;

    if (size < 1) {
        return 0;
    }
    len = size - 1;
    switch (data[0] % 5) {
    case 0:
        postcopy_advise_decode(p, len, PAGE, NULL);
        break;
    case 1: {
        PostcopyDiscard d;

        if (postcopy_discard_decode(p, len, PAGE, &d, NULL)) {
            check(d.nranges >= 1 && d.nranges <= POSTCOPY_DISCARD_MAX_RANGES);
            check(strlen(d.block) >= 1 && strlen(d.block) <= POSTCOPY_BLOCK_NAME_MAX);
            for (unsigned i = 0; i < d.nranges; i++) {
                check(d.ranges[i].len && !(d.ranges[i].start % PAGE) &&
                      !(d.ranges[i].len % PAGE) &&
                      d.ranges[i].start + d.ranges[i].len > d.ranges[i].start);
            }
            check(postcopy_discard_encode(&d, buf) == len && !memcmp(buf, p, len));
        }
        break;
    }
    case 2: {
        char block[POSTCOPY_BLOCK_NAME_MAX + 1];
        uint8_t enc[1 + POSTCOPY_BLOCK_NAME_MAX];

        if (postcopy_recv_bitmap_cmd_decode(p, len, block, NULL)) {
            check(strlen(block) >= 1 && strlen(block) <= POSTCOPY_BLOCK_NAME_MAX);
            check(postcopy_recv_bitmap_cmd_encode(block, enc) == len && !memcmp(enc, p, len));
        }
        break;
    }
    case 3: {
        uint64_t npages;
        unsigned long *got, *again;
        uint8_t *enc;

        if (len < 2) {
            break;
        }
        npages = (uint64_t)p[0] << 8 | p[1];
        got = bitmap_new(npages + 1);
        again = bitmap_new(npages + 1);
        if (postcopy_recv_bitmap_decode(p + 2, len - 2, npages, got, NULL)) {
            check(len - 2 == POSTCOPY_RECV_BITMAP_LEN(npages));
            for (uint64_t i = 0; i < npages; i++) {
                check(test_bit(i, got) == !!(p[2 + 8 + i / 8] & (1u << (i % 8))));
            }
            enc = malloc(POSTCOPY_RECV_BITMAP_LEN(npages));
            postcopy_recv_bitmap_encode(got, npages, enc);
            check(postcopy_recv_bitmap_decode(enc, POSTCOPY_RECV_BITMAP_LEN(npages), npages,
                                              again, NULL));
            for (uint64_t i = 0; i < npages; i++) {
                check(test_bit(i, got) == test_bit(i, again));
            }
            free(enc);
        }
        free(got);
        free(again);
        break;
    }
    case 4: {
        uint64_t word = 0, offset;
        PostcopyPreemptRecord rec;

        for (size_t i = 0; i < 8 && i < len; i++) {
            word = word << 8 | p[i];
        }
        rec = postcopy_preempt_record_decode(word, PAGE, &offset, NULL);
        if (rec == POSTCOPY_PREEMPT_EOS) {
            check(word == RAM_SAVE_FLAG_EOS);
        } else if (rec != POSTCOPY_PREEMPT_BAD) {
            check(!(offset % PAGE) && (word & ~(uint64_t)(PAGE - 1)) == offset);
            check((rec & ~POSTCOPY_PREEMPT_CONTINUE) == POSTCOPY_PREEMPT_ZERO ||
                  (rec & ~POSTCOPY_PREEMPT_CONTINUE) == POSTCOPY_PREEMPT_PAGE);
            check(!(word & RAM_SAVE_FLAG_EOS));
        }
        break;
    }
    }
    return 0;
}
