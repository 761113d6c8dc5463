/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the XBZRLE decoder (bytes from the migration
 * stream): the input, after one control byte, is decoded onto a page.
 * Checked: nothing is written past the page, a rejected input leaves the
 * page untouched, and an accepted one round-trips: every encoder variant
 * re-encodes the (old, decoded) pair to the same bytes, which decode to
 * the same page.
 *
 * Input layout: byte 0: the page length the decoder is given (low 3 bits:
 * 4096 >> n) and the old page's fill byte (the rest); then the encoding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/xbzrle.h"

#define PAGE 4096
#define GUARD 64
#define GUARD_BYTE 0xe7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t old[PAGE + GUARD], page[PAGE + GUARD], enc[PAGE], enc2[PAGE];
    size_t n;
    const XbzrleImpl *impls = xbzrle_impls(&n);
    int dlen, slen, ret, len = -2;

    if (size < 1 || size - 1 > PAGE * 2) {
        return 0;
    }
    dlen = PAGE >> (data[0] & 7);
    slen = size - 1;
    memset(old, data[0] >> 3, dlen);
    memset(old + dlen, GUARD_BYTE, sizeof(old) - dlen);
    memcpy(page, old, sizeof(page));

    ret = xbzrle_decode_buffer(data + 1, slen, page, dlen);
    for (size_t i = dlen; i < sizeof(page); i++) {
        check(page[i] == GUARD_BYTE);
    }
    if (ret < 0) {
        check(!memcmp(page, old, dlen));
        return 0;
    }
    check(ret <= dlen);

    for (size_t i = 0; i < n; i++) {
        int l;

        if (!impls[i].supported()) {
            continue;
        }
        l = impls[i].encode(old, page, dlen, i ? enc2 : enc, sizeof(enc));
        if (len == -2) {
            len = l;
        }
        check(l == len);
        check(l < 0 || !i || !memcmp(enc, enc2, l));
    }
    if (len >= 0) {
        static uint8_t again[PAGE];

        memcpy(again, old, dlen);
        check(xbzrle_decode_buffer(enc, len, again, dlen) >= 0);
        check(!memcmp(again, page, dlen));
    }
    return 0;
}
