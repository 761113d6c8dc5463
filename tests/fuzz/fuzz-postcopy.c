/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for postcopy's stream commands (migration/postcopy-proto.c):
 * the ADVISE and RAM_DISCARD payloads a destination reads from the stream
 * (the return path's REQ_PAGES / REQ_PAGES_ID are fuzz-return-path's).
 * Input: byte 0 picks the parser (low bit), the rest is the payload.
 * Checked: an accepted DISCARD encodes back to the very bytes it came
 * from, its ranges are aligned, non-empty and do not wrap, and its block
 * name is NUL-free and within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/postcopy.h"

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
    switch (data[0] & 1) {
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
    }
    return 0;
}
