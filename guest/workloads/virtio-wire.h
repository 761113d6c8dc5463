/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio wire layout kvmig's device models and the test guest's driver
 * agree on: virtio-mmio version 2 registers, status and feature bits, the
 * split virtqueue structures and the balloon's config space.  Numbers from
 * the virtio 1.x specification; freestanding (stdint only) so that both
 * the VMM and the guest ELF include it.  All multi-byte fields are
 * little-endian on the wire, which is the host order on x86-64.
 */
#ifndef KVMIG_VIRTIO_WIRE_H
#define KVMIG_VIRTIO_WIRE_H

#include <stdint.h>

/* ---- virtio-mmio (spec 4.2.2), version 2 ("modern") ---- */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000   /* "virt" */
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100
#define VIRTIO_MMIO_SIZE                0x200   /* registers + 256 bytes of config */

#define VIRTIO_MMIO_MAGIC               0x74726976u /* "virt", little-endian */
#define VIRTIO_MMIO_VERSION_2           2u
#define VIRTIO_MMIO_VENDOR_KVMIG        0x474d564bu /* "KVMG" */

#define VIRTIO_MMIO_INT_VRING           (1u << 0)   /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG          (1u << 1)   /* configuration change */

/* ---- device status (spec 2.1) ---- */
#define VIRTIO_STATUS_ACKNOWLEDGE       1u
#define VIRTIO_STATUS_DRIVER            2u
#define VIRTIO_STATUS_DRIVER_OK         4u
#define VIRTIO_STATUS_FEATURES_OK       8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED            128u

/* ---- reserved feature bits (spec 6) ---- */
#define VIRTIO_RING_F_INDIRECT_DESC     28
#define VIRTIO_RING_F_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32

/* ---- split virtqueues (spec 2.7) ---- */
#define VRING_DESC_F_NEXT               1u
#define VRING_DESC_F_WRITE              2u
#define VRING_DESC_F_INDIRECT           4u

typedef struct VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;

typedef struct VringUsedElem {
    uint32_t id;
    uint32_t len;
} VringUsedElem;

/* Byte sizes of the three parts for a queue of @num entries (no event idx
 * fields are used, but the driver area and device area include them). */
#define VRING_DESC_SIZE(num)    (16u * (uint32_t)(num))
#define VRING_AVAIL_SIZE(num)   (6u + 2u * (uint32_t)(num))
#define VRING_USED_SIZE(num)    (6u + 8u * (uint32_t)(num))
/* Offsets inside the driver area (avail) and device area (used). */
#define VRING_AVAIL_IDX         2u
#define VRING_AVAIL_RING        4u
#define VRING_USED_IDX          2u
#define VRING_USED_RING         4u

/* ---- virtio-balloon (spec 5.5) ---- */
#define VIRTIO_ID_BALLOON               5u

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON    4

#define VIRTIO_BALLOON_PFN_SHIFT        12
#define VIRTIO_BALLOON_CMD_ID_STOP      0u
#define VIRTIO_BALLOON_CMD_ID_DONE      1u

/*
 * Queue indices.  The stats queue always exists (at 2, as QEMU lays it
 * out), so the free page queue is at 3 whichever way a driver numbers
 * queues of features it did not negotiate.
 */
#define VIRTIO_BALLOON_VQ_INFLATE       0
#define VIRTIO_BALLOON_VQ_DEFLATE       1
#define VIRTIO_BALLOON_VQ_STATS         2
#define VIRTIO_BALLOON_VQ_FREE_PAGE     3
#define VIRTIO_BALLOON_NR_VQS           4

/* Config space (offsets from VIRTIO_MMIO_CONFIG), all le32. */
#define VIRTIO_BALLOON_CFG_NUM_PAGES    0x0     /* device writes: target */
#define VIRTIO_BALLOON_CFG_ACTUAL       0x4     /* driver writes: in balloon */
#define VIRTIO_BALLOON_CFG_FREE_PAGE_HINT_CMD_ID 0x8
#define VIRTIO_BALLOON_CFG_POISON_VAL   0xc
#define VIRTIO_BALLOON_CFG_SIZE         0x10

/* Guest-physical base of kvmig's (single) virtio-mmio device. */
#define VIRTIO_MMIO_KVMIG_BASE          0xD0000000ULL

#endif
