/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-mmio (version 2) transport: the register block a driver finds
 * at a guest-physical address, feature negotiation, device status, queue
 * setup and notification, and the interrupt status register.
 *
 * Interrupts: kvmig's KVM setup has no in-kernel irqchip and the thread
 * accelerator has no interrupts at all, so there is no interrupt line.
 * The device sets InterruptStatus bits (used buffer, configuration change)
 * as the spec says and the driver polls that register; a configuration
 * change also kicks vCPU 0 so that a guest sleeping in HLT (KVM) or in
 * sleep_until (thread) runs its poll soon.  QueueNotify is handled
 * synchronously on the vCPU thread that wrote it: when the write returns,
 * the device has consumed every chain the driver had made available.
 *
 * Locking: VirtIOMMIO.lock protects every register, the queues and the
 * device model's own state (the device ops are called with it held).  It
 * is taken by vCPU threads (MMIO) and by the main and migration threads
 * (through the device's API).  Device ops must not call back into the
 * transport's locking functions.
 */
#ifndef KVMIG_HW_VIRTIO_VIRTIO_MMIO_H
#define KVMIG_HW_VIRTIO_VIRTIO_MMIO_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/virtio/virtqueue.h"
#include "migration/vmstate.h"
#include "system/machine.h"
#include "virtio-wire.h"

#define VIRTIO_MMIO_MAX_QUEUES 8

typedef struct VirtIOMMIO VirtIOMMIO;

/* What a device model plugs into the transport.  All ops run under lock. */
typedef struct VirtIODeviceOps {
    uint32_t device_id;
    unsigned nr_queues;             /* <= VIRTIO_MMIO_MAX_QUEUES */
    uint32_t config_size;           /* bytes of config space, <= 256 */
    /* Config space access at @offset (< config_size, fits), size 1, 2 or 4. */
    uint32_t (*config_read)(VirtIOMMIO *t, uint32_t offset, unsigned size);
    void (*config_write)(VirtIOMMIO *t, uint32_t offset, uint32_t value, unsigned size);
    /* The driver notified queue @index (ready, not broken). */
    void (*queue_notify)(VirtIOMMIO *t, unsigned index);
    /* The driver reset the device (status 0). May be NULL. */
    void (*reset)(VirtIOMMIO *t);
} VirtIODeviceOps;

struct VirtIOMMIO {
    /* set at creation */
    Machine *m;
    uint64_t base;
    const VirtIODeviceOps *ops;
    void *opaque;                   /* the device model */
    uint64_t host_features;
    GMutex lock;

    /* protected by lock; migrated */
    uint64_t guest_features;
    uint32_t host_features_sel;
    uint32_t guest_features_sel;
    uint32_t queue_sel;
    uint32_t status;
    uint32_t isr;
    uint32_t config_generation;
    VirtQueue vq[VIRTIO_MMIO_MAX_QUEUES];
    bool warned;                    /* a guest error was reported on stderr */
};

/*
 * virtio_mmio_init: set up @t (embedded in the device model) and register
 * its VIRTIO_MMIO_SIZE bytes at @base.  Main thread, before vCPUs run.
 * Every queue gets @queue_max entries at most.
 */
void virtio_mmio_init(VirtIOMMIO *t, Machine *m, uint64_t base, const VirtIODeviceOps *ops,
                      void *opaque, uint64_t host_features, uint16_t queue_max);
void virtio_mmio_destroy(VirtIOMMIO *t);

/* The MMIO handlers (exposed for unit tests that drive a device directly). */
uint64_t virtio_mmio_read(void *opaque, uint64_t offset, unsigned size);
void virtio_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size);

/* With lock held: a negotiated feature bit. */
static inline bool virtio_mmio_has_feature(const VirtIOMMIO *t, unsigned bit)
{
    return (t->guest_features >> bit) & 1;
}

/* With lock held: the driver has set DRIVER_OK and the device is not broken. */
static inline bool virtio_mmio_driver_ok(const VirtIOMMIO *t)
{
    return (t->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/*
 * With lock held: the device changed its config space.  Bumps the config
 * generation, sets the config interrupt bit and kicks vCPU 0.
 */
void virtio_mmio_notify_config(VirtIOMMIO *t);

/* With lock held: used buffers were returned (sets the vring interrupt bit). */
void virtio_mmio_notify_used(VirtIOMMIO *t);

/*
 * With lock held: queue @index saw a malformed ring: set DEVICE_NEEDS_RESET
 * and say so once on stderr (the guest's fault, not kvmig's).
 */
void virtio_mmio_queue_error(VirtIOMMIO *t, unsigned index);

/* The transport's migrated state, to embed with VMSTATE_STRUCT. */
extern const VMStateDescription vmstate_virtio_mmio;
/* After loading: re-check what the stream said (features, queues). */
bool virtio_mmio_post_load(VirtIOMMIO *t, GError **errp);

#endif
