/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * multifd's wire codec (layout in multifd.h): the channel init, packet
 * headers, page offsets, and the per-packet codec over the registered
 * compression methods (multifd-method.h; one file per method).  Every
 * field from the wire is checked here; the decoders are what
 * tests/fuzz/fuzz-multifd.c drives.
 */
#include <string.h>

#include "migration/multifd-method.h"
#include "migration/multifd-methods.h"
#include "migration/multifd.h"
#include "util/error.h"

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

void multifd_init_encode(const MultiFDInit *in, uint8_t buf[MULTIFD_INIT_SIZE])
{
    memset(buf, 0, MULTIFD_INIT_SIZE);
    put_be32(buf, MULTIFD_MAGIC);
    put_be32(buf + 4, MULTIFD_VERSION);
    memcpy(buf + 8, in->uuid, 16);
    buf[24] = in->id;
    buf[25] = in->nchannels;
    buf[26] = in->compression;
}

bool multifd_init_decode(const uint8_t buf[MULTIFD_INIT_SIZE], MultiFDInit *out,
                         GError **errp)
{
    uint32_t magic = get_be32(buf), version = get_be32(buf + 4);

    if (magic != MULTIFD_MAGIC) {
        kvmig_error(errp, "multifd channel: bad magic 0x%08x", magic);
        return false;
    }
    if (version != MULTIFD_VERSION) {
        kvmig_error(errp, "multifd channel: unsupported version %u", version);
        return false;
    }
    memcpy(out->uuid, buf + 8, 16);
    out->id = buf[24];
    out->nchannels = buf[25];
    out->compression = buf[26];
    if (out->nchannels == 0 || out->id >= out->nchannels) {
        kvmig_error(errp, "multifd channel: id %u of %u channels", out->id,
                    out->nchannels);
        return false;
    }
    if (out->compression >= MULTIFD_COMPRESSION__MAX) {
        kvmig_error(errp, "multifd channel: unknown compression %u", out->compression);
        return false;
    }
    if (!all_zero(buf + 27, MULTIFD_INIT_SIZE - 27)) {
        kvmig_error(errp, "multifd channel: reserved init bytes are not zero");
        return false;
    }
    return true;
}

void multifd_hdr_encode(const MultiFDHdr *h, uint8_t buf[MULTIFD_HDR_SIZE])
{
    memset(buf, 0, MULTIFD_HDR_SIZE);
    put_be32(buf, MULTIFD_MAGIC);
    put_be32(buf + 4, MULTIFD_VERSION);
    put_be32(buf + 8, h->flags);
    put_be32(buf + 12, h->page_count);
    put_be32(buf + 16, h->payload_size);
    put_be64(buf + 20, h->packet_num);
    buf[28] = h->name_len;
}

bool multifd_hdr_decode(const uint8_t buf[MULTIFD_HDR_SIZE], MultiFDCompression method,
                        MultiFDHdr *h, GError **errp)
{
    uint32_t magic = get_be32(buf), version = get_be32(buf + 4);

    if (magic != MULTIFD_MAGIC) {
        kvmig_error(errp, "multifd packet: bad magic 0x%08x", magic);
        return false;
    }
    if (version != MULTIFD_VERSION) {
        kvmig_error(errp, "multifd packet: unsupported version %u", version);
        return false;
    }
    h->flags = get_be32(buf + 8);
    h->page_count = get_be32(buf + 12);
    h->payload_size = get_be32(buf + 16);
    h->packet_num = get_be64(buf + 20);
    h->name_len = buf[28];
    if (h->flags & ~MULTIFD_FLAGS_KNOWN) {
        kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": unknown flags 0x%x",
                    h->packet_num, h->flags);
        return false;
    }
    if (!all_zero(buf + 29, 3)) {
        kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": reserved bytes are not "
                    "zero", h->packet_num);
        return false;
    }
    if (h->flags & MULTIFD_FLAG_SYNC) {
        if (h->page_count || h->payload_size || h->name_len) {
            kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": a sync packet with "
                        "pages", h->packet_num);
            return false;
        }
        return true;
    }
    if (h->page_count == 0 || h->page_count > MULTIFD_MAX_PAGES) {
        kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": %u pages (1..%u)",
                    h->packet_num, h->page_count, MULTIFD_MAX_PAGES);
        return false;
    }
    if (h->name_len == 0) {
        kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": no RAM block name",
                    h->packet_num);
        return false;
    }
    if (method == MULTIFD_COMPRESSION_NONE
        ? h->payload_size != h->page_count * MULTIFD_PAGE_SIZE
        : h->payload_size == 0 || h->payload_size > MULTIFD_MAX_PAYLOAD) {
        kvmig_error(errp, "multifd packet %" G_GUINT64_FORMAT ": payload of %u bytes for "
                    "%u pages", h->packet_num, h->payload_size, h->page_count);
        return false;
    }
    return true;
}

bool multifd_offsets_decode(const uint8_t *buf, uint32_t n, uint64_t block_len,
                            uint64_t *offsets, GError **errp)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t o = get_be64(buf + 8 * i);

        if (o % MULTIFD_PAGE_SIZE || o >= block_len || (i && o <= offsets[i - 1])) {
            kvmig_error(errp, "multifd packet: page offset 0x%" G_GINT64_MODIFIER "x "
                        "(page %u) is unaligned, out of order or outside the block "
                        "(0x%" G_GINT64_MODIFIER "x bytes)", o, i, block_len);
            return false;
        }
        offsets[i] = o;
    }
    return true;
}

bool multifd_packet_parse(const uint8_t *buf, size_t len, MultiFDCompression method,
                          uint64_t block_len, MultiFDHdr *h, char name[256],
                          uint64_t *offsets, const uint8_t **payload, GError **errp)
{
    size_t need;

    if (len < MULTIFD_HDR_SIZE) {
        kvmig_error(errp, "multifd packet: short header");
        return false;
    }
    if (!multifd_hdr_decode(buf, method, h, errp)) {
        return false;
    }
    need = MULTIFD_HDR_SIZE + h->name_len + (size_t)h->page_count * 8 + h->payload_size;
    if (len < need) {
        kvmig_error(errp, "multifd packet: %zu bytes, the header says %zu", len, need);
        return false;
    }
    memcpy(name, buf + MULTIFD_HDR_SIZE, h->name_len);
    name[h->name_len] = 0;
    if (strlen(name) != h->name_len) {
        kvmig_error(errp, "multifd packet: a NUL in the RAM block name");
        return false;
    }
    if (!multifd_offsets_decode(buf + MULTIFD_HDR_SIZE + h->name_len, h->page_count,
                                block_len, offsets, errp)) {
        return false;
    }
    *payload = buf + MULTIFD_HDR_SIZE + h->name_len + (size_t)h->page_count * 8;
    return true;
}

/* ---- compression ---- */

/* The methods meson built (multifd-method.h): MULTIFD_METHOD_LIST is X(name)... */
#define X(name) &multifd_##name##_ops,
static const MultiFDMethods *const multifd_methods[] = { MULTIFD_METHOD_LIST };
#undef X

const MultiFDMethods *multifd_method_get(MultiFDCompression method)
{
    for (size_t i = 0; i < G_N_ELEMENTS(multifd_methods); i++) {
        if (multifd_methods[i]->method == method) {
            return multifd_methods[i];
        }
    }
    return NULL;
}

struct MultiFDCodec {
    const MultiFDMethods *ops;
    void *state;
};

MultiFDCodec *multifd_codec_new(MultiFDCompression method, int level, bool compress,
                                GError **errp)
{
    const MultiFDMethods *ops = multifd_method_get(method);
    MultiFDCodec *c;

    if (!ops) {
        kvmig_error(errp, "multifd: compression '%s' is not built in",
                    multifd_compression_name(method) ?: "?");
        return NULL;
    }
    c = g_new0(MultiFDCodec, 1);
    c->ops = ops;
    if (ops->state_new) {
        c->state = ops->state_new(level, compress, errp);
        if (!c->state) {
            g_free(c);
            return NULL;
        }
    }
    return c;
}

void multifd_codec_free(MultiFDCodec *c)
{
    if (!c) {
        return;
    }
    if (c->ops->state_free) {
        c->ops->state_free(c->state);
    }
    g_free(c);
}

size_t multifd_compress(MultiFDCodec *c, const void *in, size_t in_len, void *out,
                        GError **errp)
{
    GError *err = NULL;
    size_t n;

    if (!c->ops->compress) {
        kvmig_error(errp, "multifd: no compressor for method %d", c->ops->method);
        return 0;
    }
    n = c->ops->compress(c->state, in, in_len, out, MULTIFD_MAX_PAYLOAD, &err);
    if (n == 0) {
        if (err) {
            g_propagate_error(errp, err);
        } else {
            kvmig_error(errp, "multifd: %s compression of %zu bytes does not fit in %u",
                        multifd_compression_name(c->ops->method), in_len,
                        (unsigned)MULTIFD_MAX_PAYLOAD);
        }
    }
    return n;
}

bool multifd_decompress(MultiFDCodec *c, const void *in, size_t in_len, void *out,
                        size_t out_len, GError **errp)
{
    /* one message for every method: the method's own detail is not kept */
    if (c->ops->decompress(c->state, in, in_len, out, out_len, NULL)) {
        return true;
    }
    kvmig_error(errp, "multifd: a %s payload of %zu bytes does not decompress to exactly "
                "%zu bytes", multifd_compression_name(c->ops->method) ?: "?", in_len,
                out_len);
    return false;
}
