/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the return-path codec (migration/return-path.c):
 * what a source does with the bytes its destination sends back, and a
 * destination with the GO frame, minus the socket.
 *
 * Input: frames back to back (be16 type, be16 length, payload), each
 * decoded as mig_rp_recv would.  Checked: the decoder never reads past
 * the input, a FAIL text is one NUL-terminated line, and every accepted
 * message encodes back to exactly the frame it came from (the decoder
 * and the encoder agree on every layout).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/return-path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;

    while (size - pos >= MIG_RP_HDR_LEN) {
        GError *err = NULL;
        uint8_t buf[MIG_RP_MSG_MAX];
        uint16_t type, len;
        MigRpMsg m;
        size_t n;

        if (!mig_rp_decode_header(data + pos, &type, &len, &err)) {
            check(err && err->message[0]);
            g_error_free(err);
            return 0;
        }
        pos += MIG_RP_HDR_LEN;
        if (len > size - pos) {
            return 0;       /* a short read: the channel's error, not the codec's */
        }
        if (!mig_rp_decode(type, data + pos, len, &m, &err)) {
            check(err && err->message[0] && !strchr(err->message, '\n'));
            g_error_free(err);
        } else {
            check(err == NULL && m.type == type);
            if (type == MIG_RP_MSG_FAIL) {
                check(strlen(m.text) <= len && !strchr(m.text, '\n'));
            }
            n = mig_rp_encode(&m, buf);
            check(n >= MIG_RP_HDR_LEN && n <= sizeof(buf));
            /* FAIL texts are cleaned and DONE's short form is widened: not byte-equal */
            if (type != MIG_RP_MSG_FAIL && !(type == MIG_RP_MSG_DONE && len == 1)) {
                check(n == MIG_RP_HDR_LEN + (size_t)len &&
                      !memcmp(buf + MIG_RP_HDR_LEN, data + pos, len) &&
                      !memcmp(buf, data + pos - MIG_RP_HDR_LEN, MIG_RP_HDR_LEN));
            }
        }
        pos += len;
    }
    return 0;
}
