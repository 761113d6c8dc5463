/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for everything a guest controls in a virtqueue and in
 * the virtio-balloon device: the input becomes the guest's RAM window
 * (descriptor table, rings, buffers) and a list of MMIO register writes.
 *
 * Input layout: byte 0: mode (bit 0: raw virtqueue or balloon over MMIO);
 * raw: bytes 1-2 queue size, then le16 offsets of the desc/avail/used
 * areas in the window, then the window's contents; balloon: pairs of
 * (register offset le16, value le32) applied in order (QueueNotify
 * included), with the rest of the input copied into the window first.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtqueue.h"
#include "system/machine.h"
#include "virtio-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WINDOW      0x10000ULL      /* guest RAM the input fills */
#define WINDOW_SIZE 0x10000ULL

static Machine *fuzz_machine;
static VirtQueueElement *fuzz_elem;
static VirtIOBalloon *fuzz_balloon;

static void fuzz_init(void)
{
    g_autoptr(GError) err = NULL;

    fuzz_machine = machine_new(16 << 20, 1, &err);
    if (!fuzz_machine) {
        abort();
    }
    fuzz_balloon = virtio_balloon_new(fuzz_machine, true, true, &err);
    if (!fuzz_balloon) {
        abort();
    }
    fuzz_elem = g_new0(VirtQueueElement, 1);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void fill_window(const uint8_t *data, size_t size)
{
    uint8_t *w = gpa_to_hva(fuzz_machine, WINDOW, WINDOW_SIZE);

    memset(w, 0, WINDOW_SIZE);
    memcpy(w, data, MIN(size, WINDOW_SIZE));
}

static void fuzz_raw(const uint8_t *data, size_t size)
{
    VirtQueue vq;
    int budget = 4096;

    if (size < 8) {
        return;
    }
    virtqueue_init(&vq, fuzz_machine, VIRTQUEUE_MAX_SIZE);
    vq.num = le16(data);
    vq.desc_gpa = WINDOW + le16(data + 2);
    vq.avail_gpa = WINDOW + le16(data + 4);
    vq.used_gpa = WINDOW + le16(data + 6);
    fill_window(data + 8, size - 8);
    if (!virtqueue_set_ready(&vq)) {
        return;
    }
    while (budget-- > 0) {
        int r = virtqueue_pop(&vq, fuzz_elem, budget & 1);
        uint8_t buf[64];

        if (r <= 0) {
            break;
        }
        virtqueue_read_out(&vq, fuzz_elem, budget % 7, buf, sizeof(buf));
        if (!virtqueue_push(&vq, fuzz_elem, (uint32_t)budget)) {
            break;
        }
    }
}

static void fuzz_balloon_mmio(const uint8_t *data, size_t size)
{
    size_t nregs = MIN(size / 6, (size_t)256);
    uint32_t zero = 0;

    if (size == 0) {
        return;
    }
    /* Start from a reset device; the register list is the driver. */
    machine_mmio(fuzz_machine, MACHINE_MMIO_BASE + VIRTIO_MMIO_STATUS, true, &zero, 4);
    fill_window(data + nregs * 6, size - nregs * 6);
    for (size_t i = 0; i < nregs; i++) {
        const uint8_t *p = data + i * 6;
        uint32_t off = le16(p) % VIRTIO_MMIO_SIZE;
        uint32_t v = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 |
                     (uint32_t)p[5] << 24;
        unsigned sz = 1u << (p[0] & 2);         /* mostly 4-byte, some 1-byte */

        if (off == VIRTIO_MMIO_QUEUE_DESC_HIGH || off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH ||
            off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH) {
            v &= 1;     /* keep most rings inside RAM so that queues run */
        }
        if (p[0] & 1) {
            machine_mmio(fuzz_machine, MACHINE_MMIO_BASE + off, false, &v, sz);
        } else {
            machine_mmio(fuzz_machine, MACHINE_MMIO_BASE + off, true, &v, sz);
        }
    }
    if (data[0] & 0x80) {
        /* The host side of a hinting round while the "guest" pokes. */
        virtio_balloon_hint_stop(fuzz_balloon);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_machine) {
        fuzz_init();
    }
    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        fuzz_balloon_mmio(data + 1, size - 1);
    } else {
        fuzz_raw(data + 1, size - 1);
    }
    return 0;
}
