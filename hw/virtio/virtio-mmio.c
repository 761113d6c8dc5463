/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-mmio version 2 registers over a device model: negotiation,
 * status, queue setup, notification, the polled interrupt status, and
 * the transport's migrated state.  Contract and locking:
 * include/hw/virtio/virtio-mmio.h.
 */
#include <stdio.h>
#include <string.h>

#include "hw/virtio/virtio-mmio.h"
#include "util/error.h"

static const IoOps virtio_mmio_ops = {
    .read = virtio_mmio_read,
    .write = virtio_mmio_write,
};

void virtio_mmio_init(VirtIOMMIO *t, Machine *m, uint64_t base, const VirtIODeviceOps *ops,
                      void *opaque, uint64_t host_features, uint16_t queue_max)
{
    g_assert(ops->nr_queues <= VIRTIO_MMIO_MAX_QUEUES);
    g_assert(ops->config_size <= VIRTIO_MMIO_SIZE - VIRTIO_MMIO_CONFIG);
    memset(t, 0, sizeof(*t));
    t->m = m;
    t->base = base;
    t->ops = ops;
    t->opaque = opaque;
    /* VERSION_1 is what a version 2 transport means; nothing else is implied. */
    t->host_features = host_features | (1ULL << VIRTIO_F_VERSION_1);
    g_mutex_init(&t->lock);
    for (unsigned i = 0; i < ops->nr_queues; i++) {
        virtqueue_init(&t->vq[i], m, queue_max);
    }
    machine_register_mmio(m, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t);
}

void virtio_mmio_destroy(VirtIOMMIO *t)
{
    g_mutex_clear(&t->lock);
}

/* With lock held: back to power-on state (driver wrote status 0). */
static void reset_locked(VirtIOMMIO *t)
{
    t->guest_features = 0;
    t->host_features_sel = 0;
    t->guest_features_sel = 0;
    t->queue_sel = 0;
    t->status = 0;
    t->isr = 0;
    for (unsigned i = 0; i < t->ops->nr_queues; i++) {
        virtqueue_reset(&t->vq[i]);
    }
    if (t->ops->reset) {
        t->ops->reset(t);
    }
}

void virtio_mmio_notify_config(VirtIOMMIO *t)
{
    Vcpu *cpu = t->m->vcpus[0];

    t->config_generation++;
    t->isr |= VIRTIO_MMIO_INT_CONFIG;
    if (cpu && t->m->accel && t->m->vcpus_started) {
        cpu_kick(cpu);
    }
}

void virtio_mmio_notify_used(VirtIOMMIO *t)
{
    t->isr |= VIRTIO_MMIO_INT_VRING;
}

void virtio_mmio_queue_error(VirtIOMMIO *t, unsigned index)
{
    t->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (!t->warned) {
        t->warned = true;
        g_printerr("kvmig: virtio-mmio@0x%" G_GINT64_MODIFIER "x: queue %u: %s "
                   "(device needs reset)\n", t->base, index, t->vq[index].err);
    }
}

static VirtQueue *selected_vq(VirtIOMMIO *t)
{
    return t->queue_sel < t->ops->nr_queues ? &t->vq[t->queue_sel] : NULL;
}

/* Config space: accesses of 1, 2 or 4 bytes that fit; others read as 0. */
static bool config_access_ok(VirtIOMMIO *t, uint64_t off, unsigned size)
{
    return (size == 1 || size == 2 || size == 4) && off < t->ops->config_size &&
           size <= t->ops->config_size - off;
}

static uint32_t read_locked(VirtIOMMIO *t, uint64_t offset, unsigned size)
{
    VirtQueue *vq = selected_vq(t);

    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        return config_access_ok(t, off, size) ? t->ops->config_read(t, off, size) : 0;
    }
    if (size != 4) {
        return 0;   /* registers are 32-bit only (spec 4.2.2.2) */
    }
    switch (offset) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return VIRTIO_MMIO_VERSION_2;
    case VIRTIO_MMIO_DEVICE_ID:
        return t->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR_KVMIG;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return t->host_features_sel < 2 ? (uint32_t)(t->host_features >>
                                                     (32 * t->host_features_sel)) : 0;
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return vq ? vq->num_max : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return vq ? vq->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return t->isr;
    case VIRTIO_MMIO_STATUS:
        return t->status;
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return t->config_generation;
    default:
        return 0;
    }
}

uint64_t virtio_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    VirtIOMMIO *t = opaque;
    uint32_t v;

    g_mutex_lock(&t->lock);
    v = read_locked(t, offset, size);
    g_mutex_unlock(&t->lock);
    return v;
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t v)
{
    if (high) {
        *addr = (*addr & 0xffffffffULL) | ((uint64_t)v << 32);
    } else {
        *addr = (*addr & ~0xffffffffULL) | v;
    }
}

static void write_status(VirtIOMMIO *t, uint32_t v)
{
    if (v == 0) {
        reset_locked(t);
        return;
    }
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
        /* Accept only a subset of what we offered, and always VERSION_1. */
        if ((t->guest_features & ~t->host_features) ||
            !(t->guest_features & (1ULL << VIRTIO_F_VERSION_1))) {
            v &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    /* NEEDS_RESET is the device's to set, and stays until reset. */
    t->status = (v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
                (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void notify_queue(VirtIOMMIO *t, uint32_t index)
{
    VirtQueue *vq;

    if (index >= t->ops->nr_queues || !virtio_mmio_driver_ok(t)) {
        return;
    }
    vq = &t->vq[index];
    if (!vq->ready || vq->broken) {
        return;
    }
    t->ops->queue_notify(t, index);
    if (vq->broken) {
        virtio_mmio_queue_error(t, index);
    }
}

static void write_locked(VirtIOMMIO *t, uint64_t offset, uint32_t v, unsigned size)
{
    VirtQueue *vq = selected_vq(t);
    bool features_locked = t->status & VIRTIO_STATUS_FEATURES_OK;

    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t off = offset - VIRTIO_MMIO_CONFIG;
        if (config_access_ok(t, off, size) && t->ops->config_write) {
            t->ops->config_write(t, off, v, size);
        }
        return;
    }
    if (size != 4) {
        return;
    }
    switch (offset) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        t->host_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (!features_locked && t->guest_features_sel < 2) {
            unsigned shift = 32 * t->guest_features_sel;
            t->guest_features = (t->guest_features & ~(0xffffffffULL << shift)) |
                                ((uint64_t)v << shift);
        }
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        t->guest_features_sel = v;
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        t->queue_sel = v;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (vq && !vq->ready) {
            vq->num = v > 0xffff ? 0 : (uint16_t)v;    /* checked at ready */
        }
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (!vq) {
            break;
        }
        if (v & 1) {
            if (!vq->ready && !virtqueue_set_ready(vq)) {
                virtio_mmio_queue_error(t, t->queue_sel);
            }
        } else {
            vq->ready = false;
        }
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        notify_queue(t, v);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        t->isr &= ~v;
        break;
    case VIRTIO_MMIO_STATUS:
        write_status(t, v);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (vq && !vq->ready) {
            set_addr_half(&vq->desc_gpa, offset == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        }
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (vq && !vq->ready) {
            set_addr_half(&vq->avail_gpa, offset == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        }
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (vq && !vq->ready) {
            set_addr_half(&vq->used_gpa, offset == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        }
        break;
    default:
        break;      /* read-only or reserved: ignored */
    }
}

void virtio_mmio_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    VirtIOMMIO *t = opaque;

    g_mutex_lock(&t->lock);
    write_locked(t, offset, (uint32_t)value, size);
    g_mutex_unlock(&t->lock);
}

/* ---- migration ---- */

static const VMStateDescription vmstate_virtqueue = {
    .name = "virtqueue",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(VirtQueue),
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(num, VirtQueue),
        VMSTATE_UINT64(desc_gpa, VirtQueue),
        VMSTATE_UINT64(avail_gpa, VirtQueue),
        VMSTATE_UINT64(used_gpa, VirtQueue),
        VMSTATE_BOOL(ready, VirtQueue),
        VMSTATE_UINT16(last_avail_idx, VirtQueue),
        VMSTATE_UINT16(used_idx, VirtQueue),
        VMSTATE_BOOL(broken, VirtQueue),
        VMSTATE_END_OF_LIST()
    },
};

const VMStateDescription vmstate_virtio_mmio = {
    .name = "virtio-mmio",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(VirtIOMMIO),
    .fields = (const VMStateField[]) {
        VMSTATE_UINT64(guest_features, VirtIOMMIO),
        VMSTATE_UINT32(host_features_sel, VirtIOMMIO),
        VMSTATE_UINT32(guest_features_sel, VirtIOMMIO),
        VMSTATE_UINT32(queue_sel, VirtIOMMIO),
        VMSTATE_UINT32(status, VirtIOMMIO),
        VMSTATE_UINT32(isr, VirtIOMMIO),
        VMSTATE_UINT32(config_generation, VirtIOMMIO),
        VMSTATE_STRUCT_ARRAY(vq, VirtIOMMIO, VIRTIO_MMIO_MAX_QUEUES, vmstate_virtqueue,
                             VirtQueue),
        VMSTATE_END_OF_LIST()
    },
};

bool virtio_mmio_post_load(VirtIOMMIO *t, GError **errp)
{
    if (t->guest_features & ~t->host_features) {
        kvmig_error(errp, "virtio-mmio: the stream's features 0x%" G_GINT64_MODIFIER
                    "x are not a subset of this device's 0x%" G_GINT64_MODIFIER "x",
                    t->guest_features, t->host_features);
        return false;
    }
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
        VirtQueue *vq = &t->vq[i];

        if (i >= t->ops->nr_queues) {
            if (vq->ready) {
                kvmig_error(errp, "virtio-mmio: queue %u does not exist", i);
                return false;
            }
            continue;
        }
        vq->m = t->m;
        if (vq->num > vq->num_max) {
            kvmig_error(errp, "virtio-mmio: queue %u size %u over %u", i, vq->num, vq->num_max);
            return false;
        }
        if (!virtqueue_post_load(vq, errp)) {
            g_prefix_error(errp, "queue %u: ", i);
            return false;
        }
    }
    return true;
}
