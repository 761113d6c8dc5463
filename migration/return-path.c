/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The return-path protocol's codec (pure) and its blocking send/receive
 * over a channel; see return-path.h for the messages and the handshake.
 * Threads: none of its own; callers are the migration and incoming threads.
 */
#include <errno.h>
#include <string.h>

#include "migration/return-path.h"
#include "migration/stream.h"
#include "util/error.h"

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

#define REQ_PAGES_LEN 12        /* be64 start, be32 length */

/* REQ_PAGES(_ID)'s payload; false if the lengths do not add up. */
static bool decode_req_pages(uint16_t type, const uint8_t *p, size_t len, MigRpMsg *m)
{
    size_t n;

    if (len < REQ_PAGES_LEN || (type == MIG_RP_MSG_REQ_PAGES && len != REQ_PAGES_LEN)) {
        return false;
    }
    m->start = get_be64(p);
    m->len = get_be32(p + 8);
    if (type == MIG_RP_MSG_REQ_PAGES) {
        return true;
    }
    n = len > REQ_PAGES_LEN ? p[REQ_PAGES_LEN] : 0;
    if (n == 0 || len != REQ_PAGES_LEN + 1 + n) {
        return false;
    }
    memcpy(m->block, p + REQ_PAGES_LEN + 1, n);
    m->block[n] = '\0';
    return strlen(m->block) == n;      /* no NUL inside the name */
}

const char *mig_rp_msg_name(uint16_t type)
{
    switch (type) {
    case MIG_RP_MSG_PONG:
        return "PONG";
    case MIG_RP_MSG_REQ_PAGES_ID:
        return "REQ_PAGES_ID";
    case MIG_RP_MSG_REQ_PAGES:
        return "REQ_PAGES";
    case MIG_RP_MSG_RECV_BITMAP:
        return "RECV_BITMAP";
    case MIG_RP_MSG_RESUME_ACK:
        return "RESUME_ACK";
    case MIG_RP_MSG_DONE:
        return "DONE";
    case MIG_RP_MSG_FAIL:
        return "FAIL";
    case MIG_RP_MSG_READY:
        return "READY";
    case MIG_RP_MSG_GO:
        return "GO";
    default:
        return "unknown";
    }
}

size_t mig_rp_encode(const MigRpMsg *m, uint8_t *buf)
{
    uint8_t *p = buf + MIG_RP_HDR_LEN;
    size_t len = 0;

    switch (m->type) {
    case MIG_RP_MSG_PONG:
        put_be32(p, m->value);
        len = 4;
        break;
    case MIG_RP_MSG_READY:
        put_be32(p, m->load_us);
        len = 4;
        break;
    case MIG_RP_MSG_DONE:
        p[0] = m->resumed;
        put_be32(p + 1, m->resume_us);
        len = 5;
        break;
    case MIG_RP_MSG_FAIL:
        len = strnlen(m->text, MIG_RP_PAYLOAD_MAX);
        memcpy(p, m->text, len);
        break;
    case MIG_RP_MSG_RECV_BITMAP: {
        size_t n = strnlen(m->block, sizeof(m->block) - 1);

        p[0] = n;
        memcpy(p + 1, m->block, n);
        len = 1 + n;
        break;
    }
    case MIG_RP_MSG_RESUME_ACK:
        put_be32(p, m->value);
        len = 4;
        break;
    case MIG_RP_MSG_REQ_PAGES_ID:
    case MIG_RP_MSG_REQ_PAGES:
        put_be64(p, m->start);
        put_be32(p + 8, m->len);
        len = REQ_PAGES_LEN;
        if (m->type == MIG_RP_MSG_REQ_PAGES_ID) {
            size_t n = strnlen(m->block, sizeof(m->block) - 1);

            p[len] = n;
            memcpy(p + len + 1, m->block, n);
            len += 1 + n;
        }
        break;
    default:
        break;      /* GO, INVALID: no payload */
    }
    put_be16(buf, m->type);
    put_be16(buf + 2, len);
    return MIG_RP_HDR_LEN + len;
}

bool mig_rp_decode_header(const uint8_t hdr[MIG_RP_HDR_LEN], uint16_t *type, uint16_t *len,
                          GError **errp)
{
    *type = hdr[0] << 8 | hdr[1];
    *len = hdr[2] << 8 | hdr[3];
    if (*len > MIG_RP_PAYLOAD_MAX) {
        kvmig_error(errp, "return-path message %s (0x%04x) of %u bytes (at most %u)",
                    mig_rp_msg_name(*type), *type, *len, MIG_RP_PAYLOAD_MAX);
        return false;
    }
    return true;
}

bool mig_rp_decode(uint16_t type, const uint8_t *payload, size_t len, MigRpMsg *m,
                   GError **errp)
{
    bool len_ok;

    memset(m, 0, sizeof(*m));
    m->type = type;
    switch (type) {
    case MIG_RP_MSG_PONG:
        len_ok = len == 4;
        if (len_ok) {
            m->value = get_be32(payload);
        }
        break;
    case MIG_RP_MSG_READY:
        len_ok = len == 4;
        if (len_ok) {
            m->load_us = get_be32(payload);
        }
        break;
    case MIG_RP_MSG_DONE:
        /* the 1-byte form: a destination that sends no timing */
        len_ok = (len == 1 || len == 5) && payload[0] <= 1;
        if (len_ok) {
            m->resumed = payload[0] != 0;
            m->resume_us = len == 5 ? get_be32(payload + 1) : 0;
        }
        break;
    case MIG_RP_MSG_FAIL:
        len_ok = len <= MIG_RP_PAYLOAD_MAX;
        if (len_ok) {
            memcpy(m->text, payload, len);
            m->text[len] = '\0';
            /* one line of text, whatever the peer sent */
            for (size_t i = 0; i < len; i++) {
                if (m->text[i] == '\n' || m->text[i] == '\r' || m->text[i] == '\0') {
                    m->text[i] = ' ';
                }
            }
        }
        break;
    case MIG_RP_MSG_GO:
        len_ok = len == 0;
        break;
    case MIG_RP_MSG_REQ_PAGES_ID:
    case MIG_RP_MSG_REQ_PAGES:
        len_ok = decode_req_pages(type, payload, len, m);
        break;
    case MIG_RP_MSG_RECV_BITMAP:
        len_ok = len >= 2 && len == 1 + (size_t)payload[0];
        if (len_ok) {
            memcpy(m->block, payload + 1, payload[0]);
            m->block[payload[0]] = '\0';
            len_ok = strlen(m->block) == payload[0];
        }
        break;
    case MIG_RP_MSG_RESUME_ACK:
        len_ok = len == 4;
        if (len_ok) {
            m->value = get_be32(payload);
        }
        break;
    default:
        kvmig_error(errp, "unknown return-path message 0x%04x", type);
        return false;
    }
    if (!len_ok) {
        kvmig_error(errp, "return-path message %s with a malformed %zu-byte payload",
                    mig_rp_msg_name(type), len);
        return false;
    }
    return true;
}

int mig_rp_send(MigChannel *c, const MigRpMsg *m)
{
    uint8_t buf[MIG_RP_MSG_MAX];

    return mig_channel_write_all(c, buf, mig_rp_encode(m, buf));
}

/* Read exactly @len bytes from the medium: 0 or a negative errno. */
typedef int (*MigRpReadFn)(void *src, void *buf, size_t len);

static int read_channel(void *src, void *buf, size_t len)
{
    return mig_channel_read_all(src, buf, len);
}

static int read_stream(void *src, void *buf, size_t len)
{
    MigStream *f = src;

    mig_stream_get_buffer(f, buf, len);
    return mig_stream_error(f) ? mig_stream_error(f) : 0;
}

static bool recv_frame(MigRpReadFn rd, void *src, MigChannel *c, MigRpMsg *m,
                       GError **errp)
{
    uint8_t hdr[MIG_RP_HDR_LEN];
    uint8_t payload[MIG_RP_PAYLOAD_MAX];
    uint16_t type, len;
    int ret;

    ret = rd(src, hdr, sizeof(hdr));
    if (ret == 0 && mig_rp_decode_header(hdr, &type, &len, errp)) {
        ret = rd(src, payload, len);
        if (ret == 0) {
            return mig_rp_decode(type, payload, len, m, errp);
        }
    } else if (ret == 0) {
        return false;
    }
    /* a TLS channel names its own errors (mig_channel_strerror) */
    kvmig_error(errp, "on %s: %s", c->desc,
                ret == -EPIPE || ret == -EIO ? "connection closed" :
                mig_channel_strerror(c, ret));
    return false;
}

bool mig_rp_recv(MigChannel *c, MigRpMsg *m, GError **errp)
{
    return recv_frame(read_channel, c, c, m, errp);
}

bool mig_rp_recv_stream(MigStream *f, MigRpMsg *m, GError **errp)
{
    return recv_frame(read_stream, f, mig_stream_channel(f), m, errp);
}
