/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueues, device side: bounds-checked chain walking over guest
 * RAM and used-ring writes through the dirty-marking accessor.  Contract
 * and locking: include/hw/virtio/virtqueue.h.
 */
#include <stdio.h>
#include <string.h>

#include "hw/virtio/virtqueue.h"
#include "util/error.h"
#include "virtio-wire.h"

void virtqueue_init(VirtQueue *vq, Machine *m, uint16_t num_max)
{
    memset(vq, 0, sizeof(*vq));
    vq->m = m;
    vq->num_max = num_max;
    vq->num = num_max;
}

void virtqueue_reset(VirtQueue *vq)
{
    virtqueue_init(vq, vq->m, vq->num_max);
}

static void G_GNUC_PRINTF(2, 3) vq_break(VirtQueue *vq, const char *fmt, ...)
{
    va_list ap;

    if (!vq->broken) {
        va_start(ap, fmt);
        vsnprintf(vq->err, sizeof(vq->err), fmt, ap);
        va_end(ap);
    }
    vq->broken = true;
}

static bool area_ok(VirtQueue *vq, const char *what, uint64_t gpa, uint64_t size,
                    uint64_t align)
{
    if (gpa & (align - 1)) {
        vq_break(vq, "%s area at 0x%" G_GINT64_MODIFIER "x is not %" G_GUINT64_FORMAT
                 "-byte aligned", what, gpa, align);
        return false;
    }
    if (!gpa_to_hva(vq->m, gpa, size)) {
        vq_break(vq, "%s area [0x%" G_GINT64_MODIFIER "x, +%" G_GUINT64_FORMAT
                 ") is not guest RAM", what, gpa, size);
        return false;
    }
    return true;
}

static bool check_layout(VirtQueue *vq)
{
    if (vq->num == 0 || vq->num > vq->num_max || (vq->num & (vq->num - 1))) {
        vq_break(vq, "queue size %u is not a power of two in 1..%u", vq->num, vq->num_max);
        return false;
    }
    return area_ok(vq, "descriptor", vq->desc_gpa, VRING_DESC_SIZE(vq->num), 16) &&
           area_ok(vq, "driver", vq->avail_gpa, VRING_AVAIL_SIZE(vq->num), 2) &&
           area_ok(vq, "device", vq->used_gpa, VRING_USED_SIZE(vq->num), 4);
}

bool virtqueue_set_ready(VirtQueue *vq)
{
    vq->broken = false;
    vq->err[0] = '\0';
    if (!check_layout(vq)) {
        vq->ready = false;
        return false;
    }
    vq->ready = true;
    return true;
}

bool virtqueue_post_load(VirtQueue *vq, GError **errp)
{
    if (!vq->ready || vq->broken) {
        return true;
    }
    if (!check_layout(vq)) {
        kvmig_error(errp, "virtqueue: %s", vq->err);
        return false;
    }
    return true;
}

/* The ring parts as host pointers; valid once set_ready succeeded. */
static inline volatile uint16_t *avail_base(VirtQueue *vq)
{
    return gpa_to_hva(vq->m, vq->avail_gpa, VRING_AVAIL_SIZE(vq->num));
}

static inline const volatile VringDesc *desc_table(VirtQueue *vq)
{
    return gpa_to_hva(vq->m, vq->desc_gpa, VRING_DESC_SIZE(vq->num));
}

/* Copy descriptor @i once: the guest may change it while we look. */
static inline VringDesc read_desc(const volatile VringDesc *table, uint16_t i)
{
    VringDesc d;

    d.addr = table[i].addr;
    d.len = table[i].len;
    d.flags = table[i].flags;
    d.next = table[i].next;
    return d;
}

int virtqueue_pop(VirtQueue *vq, VirtQueueElement *elem, bool map)
{
    volatile uint16_t *avail;
    const volatile VringDesc *table;
    uint16_t avail_idx, head, i;
    unsigned n = 0;

    if (!vq->ready || vq->broken) {
        return 0;
    }
    avail = avail_base(vq);
    table = desc_table(vq);
    if (!avail || !table) {
        vq_break(vq, "rings are no longer guest RAM");
        return -1;
    }
    avail_idx = __atomic_load_n(&avail[VRING_AVAIL_IDX / 2], __ATOMIC_ACQUIRE);
    if (avail_idx == vq->last_avail_idx) {
        return 0;
    }
    if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->num) {
        vq_break(vq, "avail index %u is more than %u ahead of %u", avail_idx, vq->num,
                 vq->last_avail_idx);
        return -1;
    }
    head = avail[VRING_AVAIL_RING / 2 + (vq->last_avail_idx & (vq->num - 1))];
    if (head >= vq->num) {
        vq_break(vq, "avail ring entry %u names descriptor %u of %u", vq->last_avail_idx,
                 head, vq->num);
        return -1;
    }

    elem->head = head;
    elem->out_num = elem->in_num = 0;
    i = head;
    for (;;) {
        VringDesc d = read_desc(table, i);
        VirtQueueBuf *b;

        /* A chain longer than the table must loop. */
        if (++n > vq->num || n > VIRTQUEUE_MAX_SG) {
            vq_break(vq, "descriptor chain from %u loops or is longer than %u", head,
                     vq->num);
            return -1;
        }
        if (d.flags & VRING_DESC_F_INDIRECT) {
            vq_break(vq, "indirect descriptor %u (not negotiated)", i);
            return -1;
        }
        if (d.len == 0) {
            vq_break(vq, "descriptor %u has length 0", i);
            return -1;
        }
        if (!gpa_to_hva(vq->m, d.addr, d.len)) {
            vq_break(vq, "descriptor %u buffer [0x%" G_GINT64_MODIFIER "x, +%u) is not guest RAM",
                     i, d.addr, d.len);
            return -1;
        }
        if (d.flags & VRING_DESC_F_WRITE) {
            elem->in_num++;
        } else {
            if (elem->in_num) {
                vq_break(vq, "device-readable descriptor %u after a writable one", i);
                return -1;
            }
            elem->out_num++;
        }
        b = &elem->sg[elem->out_num + elem->in_num - 1];
        b->gpa = d.addr;
        b->len = d.len;
        b->hva = map ? gpa_to_hva(vq->m, d.addr, d.len) : NULL;
        if (!(d.flags & VRING_DESC_F_NEXT)) {
            break;
        }
        if (d.next >= vq->num) {
            vq_break(vq, "descriptor %u links to %u of %u", i, d.next, vq->num);
            return -1;
        }
        i = d.next;
    }
    vq->last_avail_idx++;
    return 1;
}

bool virtqueue_push(VirtQueue *vq, const VirtQueueElement *elem, uint32_t written)
{
    VringUsedElem u = { .id = elem->head, .len = written };
    uint64_t slot = vq->used_gpa + VRING_USED_RING +
                    (uint64_t)(vq->used_idx & (vq->num - 1)) * sizeof(VringUsedElem);
    uint64_t idx_gpa = vq->used_gpa + VRING_USED_IDX;
    uint16_t *idx;

    if (!gpa_write(vq->m, slot, &u, sizeof(u))) {
        vq_break(vq, "used ring is no longer guest RAM");
        return false;
    }
    idx = gpa_to_hva(vq->m, idx_gpa, sizeof(*idx));
    if (!idx) {
        vq_break(vq, "used ring is no longer guest RAM");
        return false;
    }
    vq->used_idx++;
    /* The entry must be visible before the index that publishes it. */
    __atomic_store_n(idx, vq->used_idx, __ATOMIC_RELEASE);
    gpa_mark_dirty(vq->m, idx_gpa, sizeof(*idx));
    return true;
}

size_t virtqueue_read_out(VirtQueue *vq, const VirtQueueElement *elem, size_t offset,
                          void *buf, size_t len)
{
    size_t done = 0;

    for (unsigned i = 0; i < elem->out_num && done < len; i++) {
        const VirtQueueBuf *b = &elem->sg[i];
        size_t n;

        if (offset >= b->len) {
            offset -= b->len;
            continue;
        }
        n = MIN((size_t)b->len - offset, len - done);
        if (!gpa_read(vq->m, b->gpa + offset, (uint8_t *)buf + done, n)) {
            break;
        }
        done += n;
        offset = 0;
    }
    return done;
}

uint64_t virtqueue_out_bytes(const VirtQueueElement *elem)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < elem->out_num; i++) {
        n += elem->sg[i].len;
    }
    return n;
}

uint64_t virtqueue_in_bytes(const VirtQueueElement *elem)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < elem->in_num; i++) {
        n += elem->sg[elem->out_num + i].len;
    }
    return n;
}
