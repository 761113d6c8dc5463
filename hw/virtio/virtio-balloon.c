/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-balloon device model: config space, the inflate and deflate
 * queues (inflated pages dropped from the host mapping with madvise), and
 * free page hinting for migration.  Contract, protocol and locking:
 * include/hw/virtio/virtio-balloon.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hw/virtio/virtio-balloon.h"
#include "hw/virtio/virtio-mmio.h"
#include "migration/free-page-hint-provider.h"
#include "migration/register.h"
#include "util/error.h"

#define BALLOON_QUEUE_SIZE          128
#define BALLOON_PFN_BATCH           256
/* QEMU's first command id; ids stay in [MIN, UINT32_MAX]. */
#define BALLOON_HINT_CMD_ID_MIN     0x80000000u

/* Where a hinting round is (QEMU's states and numbers, migrated). */
enum {
    HINT_S_STOP = 0,        /* no round; cmd id reads STOP */
    HINT_S_REQUESTED = 1,   /* new id published, driver has not echoed it */
    HINT_S_START = 2,       /* driver echoed the id: reports count */
    HINT_S_DONE = 3,        /* migration over; cmd id reads DONE */
};

struct VirtIOBalloon {
    VirtIOMMIO t;           /* the transport; t.lock guards everything below */

    /* set at creation */
    Machine *m;
    bool free_page_hint;
    bool deflate_on_oom;

    /* migrated */
    uint32_t num_pages;
    uint32_t actual;
    uint32_t free_page_hint_cmd_id;
    uint32_t free_page_hint_status;
    uint32_t poison_val;

    /* local: the hint consumer of the running round */
    const FreePageHintOps *hint_ops;
    void *hint_opaque;
    uint64_t hint_stamp;
    bool hint_stamped;      /* the driver read the cmd id in this round */

    /* local counters */
    uint64_t inflated_pages;
    uint64_t deflated_pages;
    uint64_t hinted_pages;

    VirtQueueElement *elem; /* scratch for the queue handlers */
};

static VirtIOBalloon *balloon_of(VirtIOMMIO *t)
{
    return t->opaque;
}

static uint32_t cmd_id_visible(VirtIOBalloon *b)
{
    switch (b->free_page_hint_status) {
    case HINT_S_REQUESTED:
    case HINT_S_START:
        return b->free_page_hint_cmd_id;
    case HINT_S_DONE:
        return VIRTIO_BALLOON_CMD_ID_DONE;
    default:
        return VIRTIO_BALLOON_CMD_ID_STOP;
    }
}

static uint32_t balloon_config_read(VirtIOMMIO *t, uint32_t offset, unsigned size)
{
    VirtIOBalloon *b = balloon_of(t);
    uint8_t cfg[VIRTIO_BALLOON_CFG_SIZE];
    uint32_t words[4] = { b->num_pages, b->actual, cmd_id_visible(b), b->poison_val };
    uint32_t v = 0;

    /*
     * The driver reads the command id before it looks at its free lists:
     * the stamp taken now precedes everything it will report until its
     * next read (see the header).
     */
    if (offset <= VIRTIO_BALLOON_CFG_FREE_PAGE_HINT_CMD_ID &&
        offset + size > VIRTIO_BALLOON_CFG_FREE_PAGE_HINT_CMD_ID && b->hint_ops &&
        (b->free_page_hint_status == HINT_S_REQUESTED ||
         b->free_page_hint_status == HINT_S_START)) {
        b->hint_stamp = b->hint_ops->stamp(b->hint_opaque);
        b->hint_stamped = true;
    }
    memcpy(cfg, words, sizeof(cfg));
    memcpy(&v, cfg + offset, size);
    return v;
}

static void balloon_config_write(VirtIOMMIO *t, uint32_t offset, uint32_t value,
                                 unsigned size)
{
    VirtIOBalloon *b = balloon_of(t);
    uint32_t words[4] = { b->num_pages, b->actual, b->free_page_hint_cmd_id, b->poison_val };
    uint8_t cfg[VIRTIO_BALLOON_CFG_SIZE];

    memcpy(cfg, words, sizeof(cfg));
    memcpy(cfg + offset, &value, size);
    memcpy(words, cfg, sizeof(cfg));
    /* Only `actual` (and poison_val, with PAGE_POISON) are the driver's. */
    b->actual = words[1];
}

/* Give a run of guest pages back to the host. */
static void release_run(VirtIOBalloon *b, uint64_t first_pfn, uint64_t npages)
{
    uint64_t gpa = first_pfn << VIRTIO_BALLOON_PFN_SHIFT;
    uint64_t len = npages << VIRTIO_BALLOON_PFN_SHIFT;
    void *hva = gpa_to_hva(b->m, gpa, len);

    if (!hva) {
        /* Straddles a mapping boundary or is not RAM: page by page. */
        for (uint64_t i = 0; i < npages; i++) {
            void *p = gpa_to_hva(b->m, gpa + (i << VIRTIO_BALLOON_PFN_SHIFT),
                                 1ULL << VIRTIO_BALLOON_PFN_SHIFT);
            if (p && madvise(p, 1ULL << VIRTIO_BALLOON_PFN_SHIFT, MADV_DONTNEED) == 0) {
                b->inflated_pages++;
            }
        }
        return;
    }
    if (madvise(hva, len, MADV_DONTNEED) == 0) {
        b->inflated_pages += npages;
    }
}

/* Inflate / deflate: each chain's out buffers are an array of le32 PFNs. */
static void handle_pfn_queue(VirtIOBalloon *b, VirtQueue *vq, bool inflate)
{
    VirtQueueElement *elem = b->elem;
    int r;

    while ((r = virtqueue_pop(vq, elem, false)) > 0) {
        uint64_t total = virtqueue_out_bytes(elem) / sizeof(uint32_t);
        uint64_t run_start = 0, run_len = 0;
        uint32_t pfns[BALLOON_PFN_BATCH];

        for (uint64_t done = 0; done < total;) {
            size_t n = MIN(total - done, (uint64_t)BALLOON_PFN_BATCH);
            size_t got = virtqueue_read_out(vq, elem, done * sizeof(uint32_t), pfns,
                                            n * sizeof(uint32_t)) / sizeof(uint32_t);
            if (got == 0) {
                break;
            }
            for (size_t i = 0; i < got; i++) {
                uint64_t pfn = pfns[i];

                if (!inflate) {
                    b->deflated_pages++;
                    continue;
                }
                /* Coalesce ascending runs: one madvise per run. */
                if (run_len && pfn == run_start + run_len) {
                    run_len++;
                    continue;
                }
                if (run_len) {
                    release_run(b, run_start, run_len);
                }
                run_start = pfn;
                run_len = 1;
            }
            done += got;
        }
        if (run_len) {
            release_run(b, run_start, run_len);
        }
        if (!virtqueue_push(vq, elem, 0)) {
            return;
        }
        virtio_mmio_notify_used(&b->t);
    }
}

static void handle_free_page_queue(VirtIOBalloon *b, VirtQueue *vq)
{
    VirtQueueElement *elem = b->elem;

    while (virtqueue_pop(vq, elem, false) > 0) {
        if (elem->out_num) {
            uint32_t id = 0;

            if (virtqueue_read_out(vq, elem, 0, &id, sizeof(id)) == sizeof(id)) {
                if (b->free_page_hint_status == HINT_S_REQUESTED &&
                    id == b->free_page_hint_cmd_id) {
                    b->free_page_hint_status = HINT_S_START;
                } else if (b->free_page_hint_status == HINT_S_START) {
                    /* The driver is done (STOP), or talks of another round. */
                    b->free_page_hint_status = HINT_S_STOP;
                }
            }
        }
        if (elem->in_num && b->free_page_hint_status == HINT_S_START &&
            b->hint_ops && b->hint_stamped) {
            for (unsigned i = 0; i < elem->in_num; i++) {
                const VirtQueueBuf *buf = &elem->sg[elem->out_num + i];
                uint64_t start = (buf->gpa + TARGET_PAGE_SIZE - 1) & ~(TARGET_PAGE_SIZE - 1);
                uint64_t end = (buf->gpa + buf->len) & ~(TARGET_PAGE_SIZE - 1);

                if (end > start) {
                    b->hint_ops->report(b->hint_opaque, start, end - start, b->hint_stamp);
                    b->hinted_pages += (end - start) >> TARGET_PAGE_BITS;
                }
            }
        }
        /* Nothing was written into the in buffers: they stay clean. */
        if (!virtqueue_push(vq, elem, 0)) {
            return;
        }
        virtio_mmio_notify_used(&b->t);
    }
}

static void balloon_queue_notify(VirtIOMMIO *t, unsigned index)
{
    VirtIOBalloon *b = balloon_of(t);

    switch (index) {
    case VIRTIO_BALLOON_VQ_INFLATE:
        handle_pfn_queue(b, &t->vq[index], true);
        break;
    case VIRTIO_BALLOON_VQ_DEFLATE:
        handle_pfn_queue(b, &t->vq[index], false);
        break;
    case VIRTIO_BALLOON_VQ_FREE_PAGE:
        if (b->free_page_hint) {
            handle_free_page_queue(b, &t->vq[index]);
        }
        break;
    default:
        /* The stats queue: buffers stay with the device, as QEMU holds one. */
        break;
    }
}

static void balloon_reset(VirtIOMMIO *t)
{
    VirtIOBalloon *b = balloon_of(t);

    /* The target survives a driver reset; what the old driver held does not. */
    b->actual = 0;
    b->poison_val = 0;
    if (b->free_page_hint_status == HINT_S_REQUESTED ||
        b->free_page_hint_status == HINT_S_START) {
        b->free_page_hint_status = HINT_S_STOP;
    }
}

static const VirtIODeviceOps balloon_virtio_ops = {
    .device_id = VIRTIO_ID_BALLOON,
    .nr_queues = VIRTIO_BALLOON_NR_VQS,
    .config_size = VIRTIO_BALLOON_CFG_SIZE,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .queue_notify = balloon_queue_notify,
    .reset = balloon_reset,
};

/* ---- migration of the device itself ---- */

static bool balloon_post_load(void *opaque, int version_id, GError **errp)
{
    VirtIOBalloon *b = opaque;

    if (b->free_page_hint_status > HINT_S_DONE) {
        kvmig_error(errp, "virtio-balloon: bad free page hint status %u",
                    b->free_page_hint_status);
        return false;
    }
    /* No round runs on this side: a round caught in flight ends here. */
    if (b->free_page_hint_status == HINT_S_REQUESTED ||
        b->free_page_hint_status == HINT_S_START) {
        b->free_page_hint_status = HINT_S_DONE;
    }
    return virtio_mmio_post_load(&b->t, errp);
}

static const VMStateDescription vmstate_virtio_balloon = {
    .name = "virtio-balloon",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(VirtIOBalloon),
    .post_load = balloon_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_STRUCT(t, VirtIOBalloon, vmstate_virtio_mmio, VirtIOMMIO),
        VMSTATE_UINT32(num_pages, VirtIOBalloon),
        VMSTATE_UINT32(actual, VirtIOBalloon),
        VMSTATE_UINT32(free_page_hint_cmd_id, VirtIOBalloon),
        VMSTATE_UINT32(free_page_hint_status, VirtIOBalloon),
        VMSTATE_UINT32(poison_val, VirtIOBalloon),
        VMSTATE_END_OF_LIST()
    },
};

/* ---- the machine's free page hint provider: the hint API below, for migration ---- */

static bool provider_supported(void *opaque)
{
    return virtio_balloon_hint_supported(opaque);
}

static bool provider_start(void *opaque, const FreePageHintOps *ops, void *ops_opaque)
{
    return virtio_balloon_hint_start(opaque, ops, ops_opaque);
}

static void provider_stop(void *opaque)
{
    virtio_balloon_hint_stop(opaque);
}

static void provider_done(void *opaque)
{
    virtio_balloon_hint_done(opaque);
}

static const FreePageHintProviderOps balloon_hint_provider = {
    .supported = provider_supported,
    .start = provider_start,
    .stop = provider_stop,
    .done = provider_done,
};

/* ---- API ---- */

VirtIOBalloon *virtio_balloon_new(Machine *m, bool free_page_hint, bool deflate_on_oom,
                                  GError **errp)
{
    VirtIOBalloon *b = g_new0(VirtIOBalloon, 1);
    uint64_t features = 1ULL << VIRTIO_BALLOON_F_STATS_VQ;

    if (free_page_hint) {
        features |= 1ULL << VIRTIO_BALLOON_F_FREE_PAGE_HINT;
    }
    if (deflate_on_oom) {
        features |= 1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    }
    b->m = m;
    b->free_page_hint = free_page_hint;
    b->deflate_on_oom = deflate_on_oom;
    b->elem = g_new0(VirtQueueElement, 1);
    virtio_mmio_init(&b->t, m, MACHINE_MMIO_BASE, &balloon_virtio_ops, b, features,
                     BALLOON_QUEUE_SIZE);
    if (m->migration &&
        (!vmstate_register(m, "virtio-balloon", 0, &vmstate_virtio_balloon, b, errp) ||
         !free_page_hint_set_provider(m, &balloon_hint_provider, b, errp))) {
        virtio_balloon_free(b);
        return NULL;
    }
    m->balloon = b;
    return b;
}

void virtio_balloon_free(VirtIOBalloon *b)
{
    if (!b) {
        return;
    }
    if (b->m && b->m->balloon == b) {
        b->m->balloon = NULL;
    }
    virtio_mmio_destroy(&b->t);
    g_free(b->elem);
    g_free(b);
}

bool virtio_balloon_set_target(VirtIOBalloon *b, uint64_t bytes, GError **errp)
{
    uint64_t ram = b->m->ram_size;

    if (bytes == 0) {
        kvmig_error(errp, "Parameter 'target' expects a size");
        return false;
    }
    bytes = MIN(bytes, ram);
    g_mutex_lock(&b->t.lock);
    b->num_pages = (uint32_t)MIN((ram - bytes) >> VIRTIO_BALLOON_PFN_SHIFT,
                                 (uint64_t)UINT32_MAX);
    virtio_mmio_notify_config(&b->t);
    g_mutex_unlock(&b->t.lock);
    return true;
}

uint64_t virtio_balloon_actual(VirtIOBalloon *b)
{
    VirtIOBalloonInfo info;

    virtio_balloon_get_info(b, &info);
    return info.actual_bytes;
}

void virtio_balloon_get_info(VirtIOBalloon *b, VirtIOBalloonInfo *info)
{
    uint64_t held;

    g_mutex_lock(&b->t.lock);
    held = (uint64_t)b->actual << VIRTIO_BALLOON_PFN_SHIFT;
    info->actual_bytes = b->m->ram_size - MIN(held, b->m->ram_size);
    info->num_pages = b->num_pages;
    info->actual_pages = b->actual;
    info->inflated_pages = b->inflated_pages;
    info->deflated_pages = b->deflated_pages;
    info->hinted_pages = b->hinted_pages;
    info->hint_cmd_id = cmd_id_visible(b);
    info->driver_ok = virtio_mmio_driver_ok(&b->t);
    info->free_page_hint = virtio_mmio_has_feature(&b->t, VIRTIO_BALLOON_F_FREE_PAGE_HINT);
    g_mutex_unlock(&b->t.lock);
}

static bool hint_supported_locked(VirtIOBalloon *b)
{
    return b->free_page_hint && virtio_mmio_driver_ok(&b->t) &&
           virtio_mmio_has_feature(&b->t, VIRTIO_BALLOON_F_FREE_PAGE_HINT) &&
           b->t.vq[VIRTIO_BALLOON_VQ_FREE_PAGE].ready;
}

bool virtio_balloon_hint_supported(VirtIOBalloon *b)
{
    bool ok;

    g_mutex_lock(&b->t.lock);
    ok = hint_supported_locked(b);
    g_mutex_unlock(&b->t.lock);
    return ok;
}

bool virtio_balloon_hint_start(VirtIOBalloon *b, const FreePageHintOps *ops,
                               void *opaque)
{
    g_mutex_lock(&b->t.lock);
    if (!hint_supported_locked(b)) {
        g_mutex_unlock(&b->t.lock);
        return false;
    }
    if (b->free_page_hint_cmd_id < BALLOON_HINT_CMD_ID_MIN ||
        b->free_page_hint_cmd_id == UINT32_MAX) {
        b->free_page_hint_cmd_id = BALLOON_HINT_CMD_ID_MIN;
    } else {
        b->free_page_hint_cmd_id++;
    }
    b->free_page_hint_status = HINT_S_REQUESTED;
    b->hint_ops = ops;
    b->hint_opaque = opaque;
    b->hint_stamped = false;
    virtio_mmio_notify_config(&b->t);
    g_mutex_unlock(&b->t.lock);
    return true;
}

static void hint_end(VirtIOBalloon *b, uint32_t status)
{
    g_mutex_lock(&b->t.lock);
    b->hint_ops = NULL;
    b->hint_opaque = NULL;
    b->hint_stamped = false;
    if (b->free_page_hint_status != status) {
        b->free_page_hint_status = status;
        if (b->free_page_hint) {
            virtio_mmio_notify_config(&b->t);
        }
    }
    g_mutex_unlock(&b->t.lock);
}

void virtio_balloon_hint_stop(VirtIOBalloon *b)
{
    hint_end(b, HINT_S_STOP);
}

void virtio_balloon_hint_done(VirtIOBalloon *b)
{
    hint_end(b, HINT_S_DONE);
}
