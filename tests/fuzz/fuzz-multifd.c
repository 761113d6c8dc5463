/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for multifd's packet parser and decompression path
 * (migration/multifd-packet.c): what a destination's channel does with
 * bytes from the network, minus the socket.
 *
 * Input layout: byte 0: low 2 bits the multifd-compression method, bit 2
 * "round trip": the payload is plain pages that are compressed with the
 * method first; then a channel init (64 bytes, decoded, result ignored),
 * then packets back to back, each parsed against a 1 MiB block, its
 * payload decompressed to exactly page_count pages and the pages placed.
 * Checked: nothing is written outside the block or the page buffer, an
 * accepted packet's offsets are inside the block, a round trip gives back
 * the pages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/multifd.h"

#define BLOCK_LEN (1u << 20)
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
    static uint8_t block[BLOCK_LEN + GUARD], pages[MULTIFD_MAX_DATA + GUARD];
    static uint8_t comp[MULTIFD_MAX_PAYLOAD];
    MultiFDCodec *enc = NULL, *dec;
    MultiFDCompression method;
    MultiFDInit init;
    bool round_trip;
    size_t pos;

    if (size < 1 + MULTIFD_INIT_SIZE) {
        return 0;
    }
    method = data[0] & 3;
    round_trip = data[0] & 4;
    dec = multifd_codec_new(method, 0, false, NULL);
    if (!dec) {
        return 0;   /* not built in */
    }
    if (round_trip && method != MULTIFD_COMPRESSION_NONE) {
        enc = multifd_codec_new(method, 1, true, NULL);
    }
    memset(block + BLOCK_LEN, GUARD_BYTE, GUARD);
    memset(pages + MULTIFD_MAX_DATA, GUARD_BYTE, GUARD);
    multifd_init_decode(data + 1, &init, NULL);
    pos = 1 + MULTIFD_INIT_SIZE;
    while (pos < size) {
        MultiFDHdr h;
        char name[256];
        uint64_t offsets[MULTIFD_MAX_PAGES];
        const uint8_t *payload;
        size_t plen, len;
        bool ok;

        if (!multifd_packet_parse(data + pos, size - pos,
                                  enc ? MULTIFD_COMPRESSION_NONE : method, BLOCK_LEN, &h,
                                  name, offsets, &payload, NULL)) {
            break;
        }
        check(h.page_count <= MULTIFD_MAX_PAGES && strlen(name) == h.name_len);
        len = MULTIFD_HDR_SIZE + h.name_len + (size_t)h.page_count * 8 + h.payload_size;
        check(len <= size - pos);
        pos += len;
        if (h.flags & MULTIFD_FLAG_SYNC) {
            continue;
        }
        plen = (size_t)h.page_count * MULTIFD_PAGE_SIZE;
        if (enc) {
            size_t n = multifd_compress(enc, payload, plen, comp, NULL);

            check(n > 0 && n <= MULTIFD_MAX_PAYLOAD);
            check(multifd_decompress(dec, comp, n, pages, plen, NULL));
            check(!memcmp(pages, payload, plen));
            ok = true;
        } else {
            ok = multifd_decompress(dec, payload, h.payload_size, pages, plen, NULL);
        }
        for (size_t i = 0; i < GUARD; i++) {
            check(pages[MULTIFD_MAX_DATA + i] == GUARD_BYTE);
        }
        if (!ok) {
            break;
        }
        for (uint32_t i = 0; i < h.page_count; i++) {
            check(offsets[i] % MULTIFD_PAGE_SIZE == 0 && offsets[i] < BLOCK_LEN);
            check(!i || offsets[i] > offsets[i - 1]);
            memcpy(block + offsets[i], pages + (size_t)i * MULTIFD_PAGE_SIZE,
                   MULTIFD_PAGE_SIZE);
        }
    }
    for (size_t i = 0; i < GUARD; i++) {
        check(block[BLOCK_LEN + i] == GUARD_BYTE);
    }
    multifd_codec_free(enc);
    multifd_codec_free(dec);
    return 0;
}
