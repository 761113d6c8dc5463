/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The i8254 PIT as far as a guest needs it to calibrate its TSC: three
 * counters on ports 0x40-0x43 (channel 2 gated by, and visible through,
 * port 0x61), counting down at 1193182 Hz in host monotonic time.
 *
 * Model: a counter does not tick; its count and OUT are computed on each
 * access from the number of input clocks elapsed while its gate was high
 * (ticks_before + the current gate-high stretch).  Modes 0 and 1 (one-shot)
 * are exact as far as a guest can see; modes 2 and 3 are periodic with the
 * right period and duty cycle but mode 3 counts down by one per clock
 * instead of two; modes 4 and 5 are treated as 0 and 1 with OUT high.  BCD
 * counting is accepted and ignored (counts are binary).  Channel 0 raises
 * no interrupt: kvmig has no interrupt controller.
 *
 * Migration: the "pit" section carries every channel's registers and,
 * instead of host times, the clocks it has counted (pre_save folds the
 * current gate-high run into ticks_before); post_load restarts a counting
 * channel from the destination's now.  The count therefore stands still
 * while the guest is paused for the switchover, as QEMU's PIT does on its
 * stopped virtual clock.
 *
 * Locking: one GMutex, taken by every port access (vCPU threads) and by
 * pre_save/post_load; nothing in the I/O path allocates.
 */
#include <glib.h>

#include "hw/timer/pit.h"
#include "migration/register.h"
#include "system/memory.h"
#include "util/error.h"

#define PIT_FREQ_HZ         1193182ULL
#define PIT_BASE            0x40
#define PIT_NPORTS          4
#define PIT_PORT_B          0x61

#define PORTB_GATE2         (1u << 0)
#define PORTB_SPEAKER       (1u << 1)
#define PORTB_WRITABLE      0x0fu       /* gate, speaker, parity/IOCHK enables */
#define PORTB_REFRESH       (1u << 4)
#define PORTB_OUT2          (1u << 5)

/* Access modes (control word bits 5-4). */
enum {
    RW_LATCH = 0,
    RW_LSB = 1,
    RW_MSB = 2,
    RW_WORD = 3,
};

typedef struct PitChannel {
    uint8_t mode;           /* 0-5 */
    uint8_t rw;             /* RW_LSB, RW_MSB, RW_WORD */
    bool bcd;
    bool gate;
    uint32_t reload;        /* 1..65536 */
    bool loaded;            /* a count was written since the control word */
    bool armed;             /* modes 1/5: triggered by a gate rising edge */
    bool counting;          /* gate high and loaded: time runs */
    int64_t start_us;       /* monotonic time the current run began (not migrated) */
    uint64_t ticks_before;  /* clocks counted in earlier gate-high runs */

    bool write_msb_next;    /* RW_WORD: next write is the MSB */
    uint8_t write_lsb;
    bool read_msb_next;     /* RW_WORD: next unlatched read returns the MSB */

    bool count_latched;
    uint16_t latched_count;
    uint8_t latch_reads_left;   /* 1 or 2 bytes */
    bool latch_msb_next;
    bool status_latched;
    uint8_t latched_status;
} PitChannel;

struct PitState {
    GMutex lock;
    PitChannel ch[3];
    uint8_t port_b;         /* PORTB_WRITABLE bits */
};

static uint64_t pit_ticks(const PitChannel *c, int64_t now)
{
    uint64_t t = c->ticks_before;

    if (c->counting && now > c->start_us) {
        t += (uint64_t)(now - c->start_us) * PIT_FREQ_HZ / G_USEC_PER_SEC;
    }
    return t;
}

static uint16_t pit_count(const PitChannel *c, int64_t now)
{
    uint64_t t;

    if (!c->loaded) {
        return 0;
    }
    t = pit_ticks(c, now);
    switch (c->mode) {
    case 2:
    case 3:
        return (uint16_t)(c->reload - t % c->reload);
    default:
        /* One-shot: keeps counting down (and wrapping) past terminal count. */
        return (uint16_t)((c->reload - t % 65536 + 65536) % 65536);
    }
}

static bool pit_out(const PitChannel *c, int64_t now)
{
    uint64_t t, phase;

    switch (c->mode) {
    case 0:
        return c->loaded && pit_ticks(c, now) >= c->reload;
    case 1:
        /* Low from the trigger until terminal count. */
        return !(c->loaded && (c->counting || c->ticks_before)) ||
               pit_ticks(c, now) >= c->reload;
    case 2:
        if (!c->loaded || !c->gate) {
            return true;
        }
        /* Low for one clock when the count reaches 1. */
        return pit_ticks(c, now) % c->reload != c->reload - 1;
    case 3:
        if (!c->loaded || !c->gate) {
            return true;
        }
        t = pit_ticks(c, now);
        phase = t % c->reload;
        return phase < (c->reload + 1) / 2;
    default:
        return true;    /* modes 4 and 5: a one-clock low pulse, not modelled */
    }
}

static void pit_start(PitChannel *c, int64_t now)
{
    c->counting = true;
    c->start_us = now;
}

static void pit_stop(PitChannel *c, int64_t now)
{
    if (c->counting) {
        c->ticks_before = pit_ticks(c, now);
        c->counting = false;
    }
}

/* A new count has been written: (re)start as the mode says. */
static void pit_load(PitChannel *c, uint32_t count, int64_t now)
{
    c->reload = count ? count : 65536;
    c->loaded = true;
    c->ticks_before = 0;
    c->counting = false;
    switch (c->mode) {
    case 1:
    case 5:
        c->armed = true;    /* waits for a gate rising edge */
        break;
    default:
        if (c->gate) {
            pit_start(c, now);
        }
        break;
    }
}

static void pit_set_gate(PitChannel *c, bool gate, int64_t now)
{
    bool rising = gate && !c->gate;

    if (gate == c->gate) {
        return;
    }
    c->gate = gate;
    if (!c->loaded) {
        return;
    }
    switch (c->mode) {
    case 0:
    case 4:
        /* Gate low suspends counting; high resumes it. */
        if (gate) {
            pit_start(c, now);
        } else {
            pit_stop(c, now);
        }
        break;
    case 1:
    case 5:
        /* Rising edge (re)triggers; the gate level does not matter. */
        if (rising && c->armed) {
            c->ticks_before = 0;
            pit_start(c, now);
        }
        break;
    default:
        /* Modes 2 and 3: low stops (OUT high), rising edge reloads. */
        c->ticks_before = 0;
        c->counting = false;
        if (gate) {
            pit_start(c, now);
        }
        break;
    }
}

static void pit_latch_count(PitChannel *c, int64_t now)
{
    if (c->count_latched) {
        return;     /* the first latch holds until read */
    }
    c->count_latched = true;
    c->latched_count = pit_count(c, now);
    c->latch_reads_left = c->rw == RW_WORD ? 2 : 1;
    c->latch_msb_next = c->rw == RW_MSB;
}

static void pit_latch_status(PitChannel *c, int64_t now)
{
    if (c->status_latched) {
        return;
    }
    c->status_latched = true;
    c->latched_status = (pit_out(c, now) ? 0x80 : 0) |
                        (c->loaded ? 0 : 0x40) |      /* null count */
                        c->rw << 4 | c->mode << 1 | (c->bcd ? 1 : 0);
}

static void pit_write_control(PitState *p, uint8_t val, int64_t now)
{
    unsigned sc = val >> 6;
    unsigned rw = (val >> 4) & 3;
    PitChannel *c;

    if (sc == 3) {
        /* Read-back: bit 5 clear latches counts, bit 4 clear latches status. */
        for (unsigned i = 0; i < 3; i++) {
            if (!(val & (2u << i))) {
                continue;
            }
            if (!(val & 0x20)) {
                pit_latch_count(&p->ch[i], now);
            }
            if (!(val & 0x10)) {
                pit_latch_status(&p->ch[i], now);
            }
        }
        return;
    }
    c = &p->ch[sc];
    if (rw == RW_LATCH) {
        pit_latch_count(c, now);
        return;
    }
    c->rw = rw;
    c->mode = (val >> 1) & 7;
    if (c->mode > 5) {
        c->mode -= 4;       /* 6 and 7 are aliases of 2 and 3 */
    }
    c->bcd = val & 1;
    c->loaded = false;      /* null count until a count is written */
    c->armed = false;
    c->counting = false;
    c->ticks_before = 0;
    c->write_msb_next = false;
    c->read_msb_next = false;
    c->count_latched = false;
    c->status_latched = false;
}

static void pit_write_count(PitChannel *c, uint8_t val, int64_t now)
{
    switch (c->rw) {
    case RW_LSB:
        pit_load(c, val, now);
        break;
    case RW_MSB:
        pit_load(c, (uint32_t)val << 8, now);
        break;
    default:
        if (!c->write_msb_next) {
            c->write_lsb = val;
            c->write_msb_next = true;
            if (c->mode == 0) {
                /* Mode 0: writing the first byte stops the count, OUT low. */
                c->loaded = false;
                c->counting = false;
            }
        } else {
            c->write_msb_next = false;
            pit_load(c, c->write_lsb | (uint32_t)val << 8, now);
        }
        break;
    }
}

static uint8_t pit_read_count(PitChannel *c, int64_t now)
{
    uint16_t count;
    uint8_t v;

    if (c->status_latched) {
        c->status_latched = false;
        return c->latched_status;
    }
    if (c->count_latched) {
        v = c->latch_msb_next ? c->latched_count >> 8 : c->latched_count & 0xff;
        c->latch_msb_next = !c->latch_msb_next;
        if (--c->latch_reads_left == 0) {
            c->count_latched = false;
        }
        return v;
    }
    count = pit_count(c, now);
    switch (c->rw) {
    case RW_LSB:
        return count & 0xff;
    case RW_MSB:
        return count >> 8;
    default:
        v = c->read_msb_next ? count >> 8 : count & 0xff;
        c->read_msb_next = !c->read_msb_next;
        return v;
    }
}

static uint64_t pit_io_read(void *opaque, uint64_t offset, unsigned size)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();
    uint64_t val = 0;

    g_mutex_lock(&p->lock);
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint64_t port = offset + i;
        uint8_t b = 0xff;   /* 0x43 is write-only */

        if (port < 3) {
            b = pit_read_count(&p->ch[port], now);
        }
        val |= (uint64_t)b << (8 * i);
    }
    g_mutex_unlock(&p->lock);
    return val;
}

static void pit_io_write(void *opaque, uint64_t offset, uint64_t value,
                         unsigned size)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();

    g_mutex_lock(&p->lock);
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint64_t port = offset + i;
        uint8_t b = value >> (8 * i);

        if (port < 3) {
            pit_write_count(&p->ch[port], b, now);
        } else if (port == 3) {
            pit_write_control(p, b, now);
        }
    }
    g_mutex_unlock(&p->lock);
}

static uint64_t pit_portb_read(void *opaque, uint64_t offset, unsigned size)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();
    uint8_t v;

    g_mutex_lock(&p->lock);
    v = p->port_b;
    if (pit_out(&p->ch[2], now)) {
        v |= PORTB_OUT2;
    }
    /* The DRAM refresh request toggles every 15 us; old delay loops poll it. */
    if ((now / 15) & 1) {
        v |= PORTB_REFRESH;
    }
    g_mutex_unlock(&p->lock);
    return v;
}

static void pit_portb_write(void *opaque, uint64_t offset, uint64_t value,
                            unsigned size)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();

    g_mutex_lock(&p->lock);
    p->port_b = value & PORTB_WRITABLE;
    pit_set_gate(&p->ch[2], value & PORTB_GATE2, now);
    g_mutex_unlock(&p->lock);
}

/* Fold the running stretch into ticks_before: what travels is clocks, not host µs. */
static bool pit_pre_save(void *opaque, GError **errp)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();

    g_mutex_lock(&p->lock);
    for (unsigned i = 0; i < 3; i++) {
        PitChannel *c = &p->ch[i];

        if (c->counting) {
            c->ticks_before = pit_ticks(c, now);
            c->start_us = now;
        }
    }
    g_mutex_unlock(&p->lock);
    return true;
}

static bool pit_channel_valid(const PitChannel *c, unsigned i, GError **errp)
{
    const char *bad = NULL;

    if (c->mode > 5) {
        bad = "mode";
    } else if (c->rw < RW_LSB || c->rw > RW_WORD) {
        bad = "access mode";
    } else if (c->reload > 65536 || (c->loaded && c->reload < 1)) {
        bad = "reload count";
    } else if (c->latch_reads_left > 2 || (c->count_latched && !c->latch_reads_left)) {
        bad = "latched byte count";
    } else if (c->counting && !c->loaded) {
        bad = "counting flag (no count loaded)";
    }
    if (bad) {
        kvmig_error(errp, "pit: channel %u has an invalid %s", i, bad);
        return false;
    }
    return true;
}

/* Restart the counting channels from now: the pause does not count. */
static bool pit_post_load(void *opaque, int version_id, GError **errp)
{
    PitState *p = opaque;
    int64_t now = g_get_monotonic_time();
    bool ok = true;

    g_mutex_lock(&p->lock);
    for (unsigned i = 0; i < 3 && ok; i++) {
        ok = pit_channel_valid(&p->ch[i], i, errp);
        p->ch[i].start_us = now;
    }
    p->port_b &= PORTB_WRITABLE;
    g_mutex_unlock(&p->lock);
    return ok;
}

static const VMStateDescription vmstate_pit_channel = {
    .name = "pit/channel",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(PitChannel),
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(mode, PitChannel),
        VMSTATE_UINT8(rw, PitChannel),
        VMSTATE_BOOL(bcd, PitChannel),
        VMSTATE_BOOL(gate, PitChannel),
        VMSTATE_UINT32(reload, PitChannel),
        VMSTATE_BOOL(loaded, PitChannel),
        VMSTATE_BOOL(armed, PitChannel),
        VMSTATE_BOOL(counting, PitChannel),
        VMSTATE_UINT64(ticks_before, PitChannel),
        VMSTATE_BOOL(write_msb_next, PitChannel),
        VMSTATE_UINT8(write_lsb, PitChannel),
        VMSTATE_BOOL(read_msb_next, PitChannel),
        VMSTATE_BOOL(count_latched, PitChannel),
        VMSTATE_UINT16(latched_count, PitChannel),
        VMSTATE_UINT8(latch_reads_left, PitChannel),
        VMSTATE_BOOL(latch_msb_next, PitChannel),
        VMSTATE_BOOL(status_latched, PitChannel),
        VMSTATE_UINT8(latched_status, PitChannel),
        VMSTATE_END_OF_LIST(),
    },
};

const VMStateDescription vmstate_pit = {
    .name = "pit",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(PitState),
    .pre_save = pit_pre_save,
    .post_load = pit_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT_ARRAY(ch, PitState, 3, vmstate_pit_channel, PitChannel),
        VMSTATE_UINT8(port_b, PitState),
        VMSTATE_END_OF_LIST(),
    },
};

static const IoOps pit_io_ops = {
    .read = pit_io_read,
    .write = pit_io_write,
};

static const IoOps pit_portb_ops = {
    .read = pit_portb_read,
    .write = pit_portb_write,
};

PitState *pit_new(Machine *m, GError **errp)
{
    PitState *p = g_new0(PitState, 1);
    int64_t now = g_get_monotonic_time();

    g_mutex_init(&p->lock);
    for (unsigned i = 0; i < 3; i++) {
        p->ch[i].rw = RW_WORD;
        p->ch[i].gate = i != 2;     /* channels 0 and 1 are always gated on */
    }
    /* What a PC BIOS leaves behind: channel 0 in mode 3 at 18.2 Hz. */
    p->ch[0].mode = 3;
    pit_load(&p->ch[0], 0, now);

    /* registered first: a refusal leaves no port handler behind */
    if (m->migration && !vmstate_register(m, "pit", 0, &vmstate_pit, p, errp)) {
        pit_free(p);
        return NULL;
    }
    machine_register_pio(m, PIT_BASE, PIT_NPORTS, &pit_io_ops, p);
    machine_register_pio(m, PIT_PORT_B, 1, &pit_portb_ops, p);
    return p;
}

void pit_free(PitState *p)
{
    if (!p) {
        return;
    }
    g_mutex_clear(&p->lock);
    g_free(p);
}
