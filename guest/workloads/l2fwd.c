/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * l2fwd: the memory pattern of a packet forwarder.  A pool of 2 KiB
 * buffers (64 MiB, less when RAM is small) cycles through a free ring and
 * a receive ring: each buffer is "received" (an Ethernet/IPv4/UDP frame of
 * 60..1514 bytes written into it), waits in the receive ring (half full,
 * like a NIC's), is rewritten (MACs swapped, TTL decremented, IP checksum
 * redone, UDP port changed) and freed.  `L` every 1,000,000 packets.
 *
 * Layout, as offsets into the concatenated regions: the pool at 0, then
 * the free ring (uint32_t buffer indices), then the receive ring.
 * State: phase 0 start, 1 filling the free ring (pos = next index),
 * 2 forwarding; counter = packets toward the next `L`; pass = packets in
 * all; aux as below (ring indices are free-running counters).
 */
#include "workload-int.h"

#define BUF_SIZE        2048ULL
#define MAX_BUFS        32768ULL        /* 64 MiB pool */
#define MIN_BUFS        64ULL
#define RXQ_SIZE        512ULL
#define BURST           32
#define REPORT_PKTS     1000000ULL

enum { L2_START, L2_INIT, L2_RUN };
enum {
    AUX_NBUF = 0,       /* buffers in the pool (power of two) */
    AUX_FREEQ,          /* offset of the free ring */
    AUX_RXQ,            /* offset of the receive ring */
    AUX_FREE_HEAD,      /* next free ring slot to take */
    AUX_FREE_TAIL,      /* next free ring slot to fill */
    AUX_RX_HEAD,
    AUX_RX_TAIL,
};

static inline uint32_t *slot(WlEnv *env, uint64_t ring, uint64_t idx)
{
    return (uint32_t *)(env->mem + wl_lin_to_gpa(env, ring + idx * 4, NULL));
}

static inline uint8_t *buffer(WlEnv *env, uint32_t idx)
{
    return env->mem + wl_lin_to_gpa(env, idx * BUF_SIZE, NULL);
}

static inline void put_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t ip_checksum(const uint8_t *h)
{
    uint32_t sum = 0;

    for (int i = 0; i < 20; i += 2) {
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

static void receive(uint8_t *p, uint64_t seq, uint64_t r)
{
    static const uint8_t hdr[42] = {
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56,     /* dst MAC */
        0x52, 0x54, 0x00, 0xab, 0xcd, 0xef,     /* src MAC */
        0x08, 0x00,                             /* IPv4 */
        0x45, 0x00, 0, 0, 0, 0, 0x40, 0x00,     /* ver/ihl, len, id, DF */
        64, 17, 0, 0,                           /* TTL, UDP, checksum */
        10, 0, 0, 1, 10, 0, 1, 0,               /* src, dst */
        0x30, 0x39, 0x00, 0x35, 0, 0, 0, 0,     /* ports, len, checksum */
    };
    uint32_t len = 60 + (uint32_t)(r % 1455);
    uint64_t v = seq * 0x9e3779b97f4a7c15ULL;

    for (int i = 0; i < 42; i++) {
        p[i] = hdr[i];
    }
    put_be16(p + 16, len - 14);
    put_be16(p + 18, (uint32_t)seq);
    p[33] = (uint8_t)seq;
    put_be16(p + 24, ip_checksum(p + 14));
    put_be16(p + 38, len - 34);
    for (int i = 42; i < 48; i++) {
        p[i] = (uint8_t)(v >> (i * 8 % 64));
    }
    /* Payload words up to len rounded up: stays inside the 2 KiB buffer. */
    for (uint32_t off = 48; off < len; off += 8) {
        *(uint64_t *)(p + off) = v + off;
    }
}

static void forward(uint8_t *p)
{
    for (int i = 0; i < 6; i++) {
        uint8_t t = p[i];

        p[i] = p[6 + i];
        p[6 + i] = t;
    }
    p[22]--;                                    /* TTL */
    put_be16(p + 24, 0);
    put_be16(p + 24, ip_checksum(p + 14));
    put_be16(p + 36, 0x1000 + p[33]);           /* UDP dst port */
}

static bool l2fwd_setup(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t total = wl_ram_total(env), nbuf = MAX_BUFS;

    while (nbuf >= MIN_BUFS && nbuf * (BUF_SIZE + 4) + RXQ_SIZE * 4 > total) {
        nbuf /= 2;
    }
    if (nbuf < MIN_BUFS) {
        return false;
    }
    st->aux[AUX_NBUF] = nbuf;
    st->aux[AUX_FREEQ] = nbuf * BUF_SIZE;
    st->aux[AUX_RXQ] = nbuf * (BUF_SIZE + 4);
    st->aux[AUX_FREE_HEAD] = 0;
    st->aux[AUX_FREE_TAIL] = nbuf;
    st->aux[AUX_RX_HEAD] = 0;
    st->aux[AUX_RX_TAIL] = 0;
    st->rng = wl_rng_seed(env->now_ns(env) ^ 0x6c32);
    st->pos = 0;
    st->phase = L2_INIT;
    return true;
}

/* One receive burst and one forward burst. */
static void l2fwd_burst(WlEnv *env)
{
    WlState *st = env->state;
    uint64_t *a = st->aux;
    uint64_t nbuf = a[AUX_NBUF];
    uint64_t done = 0;
    /* what the burst wrote (a buffer or a slot never crosses a page) */
    uint64_t dirty[4 * BURST];
    unsigned nd = 0;

    for (int i = 0; i < BURST; i++) {
        uint32_t idx;

        if (a[AUX_RX_TAIL] - a[AUX_RX_HEAD] >= RXQ_SIZE ||
            a[AUX_FREE_TAIL] == a[AUX_FREE_HEAD]) {
            break;
        }
        idx = *slot(env, a[AUX_FREEQ], a[AUX_FREE_HEAD] % nbuf) % nbuf;
        a[AUX_FREE_HEAD]++;
        receive(buffer(env, idx), st->pass + a[AUX_RX_TAIL] - a[AUX_RX_HEAD],
                wl_rng_next(&st->rng));
        *slot(env, a[AUX_RXQ], a[AUX_RX_TAIL] % RXQ_SIZE) = idx;
        dirty[nd++] = idx * BUF_SIZE;
        dirty[nd++] = a[AUX_RXQ] + a[AUX_RX_TAIL] % RXQ_SIZE * 4;
        a[AUX_RX_TAIL]++;
    }
    for (int i = 0; i < BURST; i++) {
        uint32_t idx;

        if (a[AUX_RX_TAIL] - a[AUX_RX_HEAD] <= RXQ_SIZE / 2) {
            break;
        }
        idx = *slot(env, a[AUX_RXQ], a[AUX_RX_HEAD] % RXQ_SIZE) % nbuf;
        a[AUX_RX_HEAD]++;
        forward(buffer(env, idx));
        *slot(env, a[AUX_FREEQ], a[AUX_FREE_TAIL] % nbuf) = idx;
        dirty[nd++] = idx * BUF_SIZE;
        dirty[nd++] = a[AUX_FREEQ] + a[AUX_FREE_TAIL] % nbuf * 4;
        a[AUX_FREE_TAIL]++;
        done++;
    }
    wl_dirty_lin_pages(env, dirty, nd);
    st->pass += done;
    st->counter += done;
    if (st->counter >= REPORT_PKTS) {
        st->counter -= REPORT_PKTS;
        env->write(env, "L", 1);
    }
}

void wl_l2fwd(WlEnv *env)
{
    WlState *st = env->state;

    if (st->phase == L2_START && !l2fwd_setup(env)) {
        wl_idle(env);           /* not even 64 buffers of RAM */
        return;
    }
    for (;;) {
        if (st->phase == L2_INIT) {
            uint64_t nbuf = st->aux[AUX_NBUF];
            uint64_t stop = wl_min(nbuf, st->pos + WL_POLL_BYTES / 4);

            for (uint64_t i = st->pos; i < stop; i++) {
                *slot(env, st->aux[AUX_FREEQ], i) = (uint32_t)i;
            }
            wl_dirty_lin(env, st->aux[AUX_FREEQ] + st->pos * 4, (stop - st->pos) * 4);
            st->pos = stop;
            if (stop == nbuf) {
                st->phase = L2_RUN;
            }
        } else {
            l2fwd_burst(env);
        }
        if (!env->poll(env)) {
            return;
        }
    }
}
