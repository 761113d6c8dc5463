/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the i8254 PIT model, driven through the machine's port-I/O
 * dispatch the way Linux calibrates its TSC.  Timings are only ever checked
 * from below (an output cannot rise before its count has elapsed) or with
 * seconds of slack: these machines are shared and noisy.
 */
#include <glib.h>
#include <string.h>

#include "hw/timer/pit.h"
#include "migration/channel.h"
#include "migration/stream.h"
#include "system/machine.h"
#include "system/memory.h"

#define PIT_HZ 1193182.0
#define OUT2 0x20
#define TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct Fixture {
    Machine *m;
    PitState *pit;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    GError *err = NULL;

    f->m = machine_new(16 << 20, 1, &err);
    g_assert_no_error(err);
    f->pit = pit_new(f->m, &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->pit);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    machine_free(f->m);     /* the PIT's handlers go with the machine */
    pit_free(f->pit);
}

static uint8_t inb(Fixture *f, uint16_t port)
{
    uint8_t v = 0;

    g_assert_true(machine_pio(f->m, port, false, &v, 1));
    return v;
}

static void outb(Fixture *f, uint16_t port, uint8_t v)
{
    g_assert_true(machine_pio(f->m, port, true, &v, 1));
}

static void gate2(Fixture *f, bool on)
{
    uint8_t v = inb(f, 0x61) & ~0x02;   /* speaker off */

    outb(f, 0x61, on ? (v | 0x01) : (v & ~0x01));
}

/* Channel 2, mode @mode, LSB then MSB, binary; then the count. */
static void program2(Fixture *f, unsigned mode, uint16_t count)
{
    outb(f, 0x43, 0xb0 | mode << 1);
    outb(f, 0x42, count & 0xff);
    outb(f, 0x42, count >> 8);
}

static uint16_t latch_read2(Fixture *f)
{
    uint16_t lo, hi;

    outb(f, 0x43, 0x80);    /* counter latch, channel 2 */
    lo = inb(f, 0x42);
    hi = inb(f, 0x42);
    return lo | hi << 8;
}

/* Poll OUT2 until high; returns microseconds since @t0, or -1 on timeout. */
static int64_t wait_out2(Fixture *f, int64_t t0)
{
    while (!(inb(f, 0x61) & OUT2)) {
        if (g_get_monotonic_time() - t0 > TIMEOUT_US) {
            return -1;
        }
        g_usleep(100);
    }
    return g_get_monotonic_time() - t0;
}

/* Linux's pit_calibrate_tsc: mode 0, 10 ms, poll port 0x61 bit 5. */
static void test_mode0_out2(Fixture *f, gconstpointer data)
{
    const uint16_t count = 11932;   /* ~10 ms */
    int64_t t0, elapsed;

    gate2(f, true);
    t0 = g_get_monotonic_time();
    program2(f, 0, count);
    elapsed = wait_out2(f, t0);
    g_assert_cmpint(elapsed, >=, 0);
    /* Never before the count has run out (1 us rounding). */
    g_assert_cmpint(elapsed, >=, (int64_t)(count / PIT_HZ * 1e6) - 1);
    /* Mode 0: OUT stays high after terminal count. */
    g_usleep(1000);
    g_assert_cmpuint(inb(f, 0x61) & OUT2, ==, OUT2);

    /* A new count drops OUT again. */
    t0 = g_get_monotonic_time();
    program2(f, 0, 0xffff);
    if (g_get_monotonic_time() - t0 < 40000) {
        g_assert_cmpuint(inb(f, 0x61) & OUT2, ==, 0);
    }
}

/* With the gate low, the count does not run. */
static void test_gate(Fixture *f, gconstpointer data)
{
    int64_t t0;
    uint16_t c1, c2;

    gate2(f, false);
    program2(f, 0, 1193);           /* 1 ms */
    c1 = latch_read2(f);
    g_usleep(20000);
    g_assert_cmpuint(inb(f, 0x61) & OUT2, ==, 0);
    c2 = latch_read2(f);
    g_assert_cmpuint(c1, ==, 1193);
    g_assert_cmpuint(c2, ==, 1193);

    t0 = g_get_monotonic_time();
    gate2(f, true);
    g_assert_cmpint(wait_out2(f, t0), >=, 999);
}

/* Latched reads count down; a second latch before reading is ignored. */
static void test_latch(Fixture *f, gconstpointer data)
{
    uint16_t c1, c2, l1, l2;
    int64_t t0;

    gate2(f, true);
    t0 = g_get_monotonic_time();
    program2(f, 0, 0xffff);
    c1 = latch_read2(f);
    g_usleep(5000);
    c2 = latch_read2(f);
    if (g_get_monotonic_time() - t0 < 50000) {     /* before any wrap */
        g_assert_cmpuint(c1, >, c2);
        /* At least 5 ms' worth of clocks went by. */
        g_assert_cmpuint(c1 - c2, >=, (unsigned)(0.005 * PIT_HZ) - 2);
    }

    t0 = g_get_monotonic_time();
    program2(f, 0, 0xffff);
    outb(f, 0x43, 0x80);
    g_usleep(5000);
    outb(f, 0x43, 0x80);            /* ignored: the first latch holds */
    l1 = inb(f, 0x42);
    l1 |= inb(f, 0x42) << 8;
    l2 = latch_read2(f);
    if (g_get_monotonic_time() - t0 < 50000) {
        g_assert_cmpuint(l1, >, l2);
        g_assert_cmpuint(l1 - l2, >=, (unsigned)(0.005 * PIT_HZ) - 2);
    }
}

/* Unlatched reads alternate LSB and MSB (Linux's quick_pit_calibrate). */
static void test_unlatched(Fixture *f, gconstpointer data)
{
    int64_t t0;
    uint8_t msb;

    gate2(f, true);
    t0 = g_get_monotonic_time();
    program2(f, 0, 0xffff);
    g_usleep(10000);
    (void)inb(f, 0x42);             /* LSB */
    msb = inb(f, 0x42);
    if (g_get_monotonic_time() - t0 < 50000) {
        /* 10 ms is 11932 clocks: the MSB has dropped by at least 0x2e. */
        g_assert_cmpuint(msb, <=, 0xff - 0x2e);
    }
}

/* Read-back status: mode, access mode, null count, OUT. */
static void test_readback_status(Fixture *f, gconstpointer data)
{
    uint8_t st;

    gate2(f, true);
    outb(f, 0x43, 0xb0);            /* ch2, LSB/MSB, mode 0: null count */
    outb(f, 0x43, 0xe8);            /* read-back: status only, channel 2 */
    st = inb(f, 0x42);
    g_assert_cmphex(st & 0x7f, ==, 0x70);   /* null count, rw=3, mode 0 */

    outb(f, 0x42, 0xff);
    outb(f, 0x42, 0xff);
    outb(f, 0x43, 0xe8);
    st = inb(f, 0x42);
    g_assert_cmphex(st & 0x7f, ==, 0x30);

    /* Status and count latched together: status first, then the count. */
    outb(f, 0x43, 0xc8);
    st = inb(f, 0x42);
    g_assert_cmphex(st & 0x3f, ==, 0x30);
    (void)inb(f, 0x42);
    (void)inb(f, 0x42);
}

/* Modes 2 and 3 run periodically: the count stays within 1..N. */
static void test_periodic(Fixture *f, gconstpointer data)
{
    gate2(f, true);
    for (unsigned mode = 2; mode <= 3; mode++) {
        program2(f, mode, 1000);
        for (int i = 0; i < 20; i++) {
            uint16_t c = latch_read2(f);

            g_assert_cmpuint(c, >=, 1);
            g_assert_cmpuint(c, <=, 1000);
            g_usleep(300);
        }
    }
    /* Gate low in mode 3: OUT high. */
    program2(f, 3, 1000);
    gate2(f, false);
    g_assert_cmpuint(inb(f, 0x61) & OUT2, ==, OUT2);
}

/* Port 0x61 keeps the gate and speaker bits it was given. */
static void test_port61(Fixture *f, gconstpointer data)
{
    outb(f, 0x61, 0x03);
    g_assert_cmphex(inb(f, 0x61) & 0x0f, ==, 0x03);
    outb(f, 0x61, 0x00);
    g_assert_cmphex(inb(f, 0x61) & 0x0f, ==, 0x00);
}

/* An LSB-only count on channel 0 (always gated on) counts down. */
static void test_channel0_lsb(Fixture *f, gconstpointer data)
{
    outb(f, 0x43, 0x10);            /* ch0, LSB only, mode 0 */
    outb(f, 0x40, 200);
    g_usleep(2000);                 /* 200 clocks are ~170 us */
    outb(f, 0x43, 0xe2);            /* read-back status, channel 0 */
    g_assert_cmphex(inb(f, 0x40) & 0x80, ==, 0x80);    /* OUT0 high */
}


/* ---- migration: the "pit" section ---- */

static GByteArray *pit_save(PitState *p)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    g_autoptr(GError) err = NULL;
    GByteArray *out;

    g_assert_true(vmstate_save(f, &vmstate_pit, p, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    out = g_byte_array_ref(mig_channel_memory_data(w));
    mig_stream_close(f);
    return out;
}

static bool pit_load_bytes(PitState *p, const uint8_t *data, size_t len, GError **errp)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_reader(data, len));
    bool ok = vmstate_load(f, &vmstate_pit, p, 1, errp);

    mig_stream_close(f);
    return ok;
}

/*
 * The wire format, pinned: per channel mode, rw, bcd, gate, reload (be32),
 * loaded, armed, counting, ticks (be64), write_msb_next, write_lsb,
 * read_msb_next, count_latched, latched_count (be16), latch_reads_left,
 * latch_msb_next, status_latched, latched_status; then port B.
 */
static const uint8_t pit_golden[] = {
    /* channel 0: mode 3, word access, no count since the control word */
    3, 3, 0, 1, 0x00, 0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0,
    /* channel 1: power-on, status latched (OUT low, null count, word, mode 0) */
    0, 3, 0, 1, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0x00, 0x00, 0, 0, 1, 0x70,
    /* channel 2: mode 0, count 0x1234 loaded, gate low, not counted yet */
    0, 3, 0, 0, 0x00, 0x00, 0x12, 0x34, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0x34, 0, 0, 0x00, 0x00, 0, 0, 0, 0,
    /* port B: speaker data, parity and IOCHK enables, gate 2 low */
    0x0c,
};

static void test_vmstate_golden(Fixture *f, gconstpointer data)
{
    g_autoptr(GByteArray) out = NULL;
    g_autoptr(GError) err = NULL;

    outb(f, 0x43, 0x36);        /* channel 0: mode 3, no count: stops it */
    outb(f, 0x43, 0xe4);        /* read-back: status of channel 1 */
    outb(f, 0x61, 0x0c);
    program2(f, 0, 0x1234);
    out = pit_save(f->pit);
    g_assert_cmpmem(out->data, out->len, pit_golden, sizeof(pit_golden));
    g_assert_true(vmstate_check(&vmstate_pit, &err));
    g_assert_no_error(err);
}

/* A count frozen by its gate arrives exactly; it runs again from there. */
static void test_vmstate_roundtrip(Fixture *f, gconstpointer data)
{
    g_autoptr(GByteArray) out = NULL;
    g_autoptr(GError) err = NULL;
    Fixture dst;
    uint16_t before, after;

    program2(f, 0, 0xffff);
    gate2(f, true);
    g_usleep(2000);
    gate2(f, false);
    before = latch_read2(f);
    g_assert_cmpuint(before, <, 0xffff);
    out = pit_save(f->pit);

    fixture_setup(&dst, NULL);
    g_assert_true(pit_load_bytes(dst.pit, out->data, out->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(latch_read2(&dst), ==, before);
    g_assert_false(inb(&dst, 0x61) & OUT2);
    gate2(&dst, true);
    g_usleep(1000);
    after = latch_read2(&dst);
    g_assert_cmpuint(after, <, before);     /* counts on, down from there */
    fixture_teardown(&dst, NULL);
}

/* A stream with an impossible register is refused with the channel named. */
static void test_vmstate_corrupt(Fixture *f, gconstpointer data)
{
    uint8_t bad[sizeof(pit_golden)];
    g_autoptr(GError) err = NULL;

    memcpy(bad, pit_golden, sizeof(bad));
    bad[29 * 2] = 7;            /* channel 2's mode */
    g_assert_false(pit_load_bytes(f->pit, bad, sizeof(bad), &err));
    g_assert_nonnull(strstr(err->message, "channel 2"));
    g_clear_error(&err);
    memcpy(bad, pit_golden, sizeof(bad));
    bad[29 + 25] = 3;           /* channel 1: three latched bytes to read */
    g_assert_false(pit_load_bytes(f->pit, bad, sizeof(bad), &err));
    g_assert_nonnull(strstr(err->message, "channel 1"));
    g_clear_error(&err);
    g_assert_true(pit_load_bytes(f->pit, pit_golden, sizeof(pit_golden), &err));
    g_assert_no_error(err);
}

#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    ADD("/pit/mode0-out2", test_mode0_out2);
    ADD("/pit/gate", test_gate);
    ADD("/pit/latch", test_latch);
    ADD("/pit/unlatched", test_unlatched);
    ADD("/pit/readback-status", test_readback_status);
    ADD("/pit/periodic", test_periodic);
    ADD("/pit/port61", test_port61);
    ADD("/pit/channel0-lsb", test_channel0_lsb);
    ADD("/pit/vmstate/golden", test_vmstate_golden);
    ADD("/pit/vmstate/roundtrip", test_vmstate_roundtrip);
    ADD("/pit/vmstate/corrupt", test_vmstate_corrupt);
    return g_test_run();
}
