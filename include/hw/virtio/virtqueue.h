/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device side of one split virtqueue: take descriptor chains the driver
 * made available, hand them back as used.  Everything the guest controls
 * (ring addresses, queue size, avail index, descriptor addresses, lengths,
 * next links) is checked; a queue that sees a bad value is marked broken
 * and processes nothing more until it is reset.
 *
 * Indirect descriptors are not supported (the transport does not offer
 * VIRTIO_RING_F_INDIRECT_DESC, and a chain using one breaks the queue);
 * nor is VIRTIO_RING_F_EVENT_IDX: the drivers kvmig knows poll.
 *
 * Memory: rings and buffers are addressed by guest-physical address and
 * reached with gpa_to_hva(); every byte the device writes into guest RAM
 * (used ring entries, used index, data in device-writable buffers) goes
 * through gpa_write() / gpa_mark_dirty() so that the migration dirty log
 * sees it.
 *
 * Locking: none inside.  The owning device serialises every call on one
 * queue (virtio-mmio holds its device lock).
 */
#ifndef KVMIG_HW_VIRTIO_VIRTQUEUE_H
#define KVMIG_HW_VIRTIO_VIRTQUEUE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "system/machine.h"

/* Largest queue kvmig offers, and most buffers one chain may have. */
#define VIRTQUEUE_MAX_SIZE  1024
#define VIRTQUEUE_MAX_SG    VIRTQUEUE_MAX_SIZE

typedef struct VirtQueue {
    /* set at creation */
    Machine *m;
    uint16_t num_max;

    /* written by the driver through the transport while !ready */
    uint16_t num;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool ready;

    /* device progress: migrated */
    uint16_t last_avail_idx;    /* next avail ring slot to take */
    uint16_t used_idx;          /* next used ring slot to fill */
    bool broken;                /* a guest error was seen; see err */

    /* derived at virtqueue_set_ready / post-load; never migrated */
    char err[128];              /* first guest error, one line */
} VirtQueue;

/* One buffer of a chain: guest-physical range and its host mapping. */
typedef struct VirtQueueBuf {
    uint64_t gpa;
    uint32_t len;
    void *hva;                  /* NULL when the chain was popped unmapped */
} VirtQueueBuf;

/*
 * A popped chain: out (device-readable) buffers first, then in
 * (device-writable) ones, as the spec requires them to be ordered.
 */
typedef struct VirtQueueElement {
    uint16_t head;
    unsigned out_num, in_num;
    VirtQueueBuf sg[VIRTQUEUE_MAX_SG];
} VirtQueueElement;

/* virtqueue_init: a fresh, not-ready queue of at most @num_max entries. */
void virtqueue_init(VirtQueue *vq, Machine *m, uint16_t num_max);

/* virtqueue_reset: back to the state after init (driver reset). */
void virtqueue_reset(VirtQueue *vq);

/**
 * virtqueue_set_ready: the driver wrote QueueReady = 1.  Checks the size
 * (a power of two, 1..num_max), the alignments (desc 16, avail 2, used 4)
 * and that all three areas are guest RAM.  On failure the queue stays not
 * ready, is marked broken and @vq->err says why; returns false.
 */
bool virtqueue_set_ready(VirtQueue *vq);

/**
 * virtqueue_pop: take the next available chain into @elem.  Returns 1 with
 * a chain, 0 when nothing is available (or the queue is not ready / is
 * broken), -1 when the guest's ring is malformed (the queue is then broken:
 * an avail index more than num ahead, a head or next index out of range, a
 * loop or a chain longer than the queue, a zero-length or non-RAM buffer,
 * an out buffer after an in buffer, an indirect descriptor).  With @map
 * set, each buffer's hva is filled in (the whole buffer must be in one RAM
 * mapping); without, buffers are only checked to be RAM.
 */
int virtqueue_pop(VirtQueue *vq, VirtQueueElement *elem, bool map);

/**
 * virtqueue_push: return the chain @elem (popped from @vq) as used, with
 * @written bytes written into its in buffers (the device wrote them through
 * virtqueue_write_in or gpa_write).  Writes the used ring entry and then
 * the used index, both through the dirty-marking accessor.  Returns false
 * if the used ring is no longer RAM (cannot happen after set_ready).
 */
bool virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t written);

/**
 * virtqueue_read_out: copy up to @len bytes of @elem's out buffers, from
 * byte @offset of their concatenation, into @buf.  Returns the bytes copied.
 */
size_t virtqueue_read_out(VirtQueue *vq, const VirtQueueElement *elem, size_t offset,
                          void *buf, size_t len);

/* Bytes in the out / in buffers of @elem. */
uint64_t virtqueue_out_bytes(const VirtQueueElement *elem);
uint64_t virtqueue_in_bytes(const VirtQueueElement *elem);

/**
 * virtqueue_post_load: after the device state of a migration was loaded
 * into a ready queue, re-check it as set_ready does (the stream is
 * untrusted).  Returns false with *errp.
 */
bool virtqueue_post_load(VirtQueue *vq, GError **errp);

#endif
