/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The test guest's virtio-balloon driver (virtio-mmio at 0xD0000000),
 * shared like the workloads: compiled into the guest ELF and into kvmig for
 * the thread accelerator, where it runs on vCPU 0 against the same device
 * model.  It has no interrupt: the workload loops call wl_balloon_poll(),
 * which costs one MMIO read (InterruptStatus) when nothing changed.
 *
 * What it does when the device's config changes:
 *  - inflate / deflate toward num_pages: pages come from the churn
 *    workload's buddy heap when there is one, or from the top of RAM when
 *    the workload is idle (it touches no RAM above 4 MiB); otherwise the
 *    balloon cannot grow and `actual` stays where it is;
 *  - a new free_page_hint_cmd_id: echo it on the free page queue, report
 *    the free memory (the heap's free blocks, without each block's first
 *    page, which holds the allocator's free-list link and so is not free
 *    in the sense a migration needs; or, idle, all RAM above 4 MiB outside
 *    the balloon), re-reading the command id before every batch and
 *    stopping as soon as it changes, then send STOP.
 *
 * Deflate on OOM (VIRTIO_BALLOON_F_DEFLATE_ON_OOM, when the device offers
 * it): the churn heap calls wl_balloon_oom() when it cannot satisfy an
 * allocation; the driver then gives WL_BALLOON_OOM_NR_PAGES ballooned
 * pages (or the block's worth, if larger) back through the deflate queue,
 * and only once the device has used that buffer returns them to the heap
 * and lowers `actual`, as Linux's OOM notifier does.  It then leaves the
 * balloon below its target (no retry re-inflates it, which would only take
 * the memory away again) until the next config change that is not just a
 * new hint round starting; a `balloon` command re-inflates as usual.  Without the feature the balloon's pages
 * are never used and the allocation fails.
 *
 * All state, rings and buffers live in guest RAM (WlEnv.drv_gpa), so a
 * migration carries the driver along with the device's vmstate.  A round
 * runs to its end inside one call: the heap does not change under it.
 * Under QEMU's pc machine there is no device at that address (the probe
 * reads no magic) and the driver does nothing.
 */
#ifndef KVMIG_WL_BALLOON_H
#define KVMIG_WL_BALLOON_H

#include "workload.h"

/* How often wl_balloon_poll_timed() really looks, at most. */
#define WL_BALLOON_POLL_NS      (10ULL * 1000 * 1000)
/* Entries per queue; a hint batch is QUEUE - 1 ranges. */
#define WL_BALLOON_QUEUE_SIZE   64
#define WL_BALLOON_PFNS         256
/* Pages deflated per OOM event (Linux: VIRTIO_BALLOON_OOM_NR_PAGES). */
#define WL_BALLOON_OOM_NR_PAGES 256
/* Smallest heap block reported free: 8 KiB (its second page on). */
#define WL_BALLOON_HINT_MIN_ORDER 1

#define WL_BALLOON_MAGIC        0x4b564d4942414c31ULL /* "KVMIBAL1" */

enum {
    WL_BALLOON_UNPROBED = 0,
    WL_BALLOON_RUNNING,
    WL_BALLOON_ABSENT,          /* no device, or it refused us */
};

enum {
    WL_BALLOON_MODE_NONE = 0,
    WL_BALLOON_MODE_HEAP,       /* pages from the churn heap (bitmap) */
    WL_BALLOON_MODE_TOP,        /* the top pages of RAM (idle) */
};

/* One queue as the driver sees it; addresses are this env's gpas. */
typedef struct WlBalloonQueue {
    uint64_t desc, avail, used;
    uint16_t index;             /* the device's queue number */
    uint16_t avail_idx;         /* next avail index the driver publishes */
    uint16_t used_seen;
    uint16_t ready;
} WlBalloonQueue;

/* At drv_gpa; one page.  Rings follow at +4 KiB, one page per queue. */
typedef struct WlBalloonState {
    uint64_t magic;
    uint32_t probe;             /* WL_BALLOON_UNPROBED / RUNNING / ABSENT */
    uint32_t hint;              /* FREE_PAGE_HINT negotiated */
    WlBalloonQueue q[3];        /* inflate, deflate, free page */
    uint32_t target;            /* num_pages last read */
    uint32_t actual;            /* pages in the balloon */
    uint32_t mode;              /* WL_BALLOON_MODE_* while actual > 0 */
    uint32_t last_cmd_id;       /* last hint command id served */
    uint64_t bitmap;            /* heap mode: gpa of the ballooned-page bitmap */
    uint32_t bitmap_order;      /* its block order */
    uint32_t deflate_on_oom;    /* DEFLATE_ON_OOM negotiated */
    uint64_t cursor;            /* heap mode: where deflate resumes its scan */
    uint64_t next_poll_ns;
    uint64_t retry_ns;          /* actual != target: try again after this */
    uint64_t rounds;            /* hint rounds served */
    uint64_t hinted_bytes;      /* bytes reported free, all rounds */
    uint32_t oom_hold;          /* deflated on OOM: no re-inflation until a change */
    uint32_t seen_cmd_id;       /* hint command id at the last config read */
    uint64_t oom_events;        /* wl_balloon_oom() calls that deflated */
    uint64_t oom_pages;         /* pages they deflated */
    uint32_t cmd[2];            /* out buffers: the round's id, and STOP */
    uint32_t pfns[WL_BALLOON_PFNS];
} WlBalloonState;

/**
 * wl_balloon_poll: probe the device on the first call, then serve whatever
 * changed.  Cheap when nothing did.  vCPU 0 only; a no-op when the env has
 * no device hooks or no drv_gpa.
 */
void wl_balloon_poll(WlEnv *env);

/* The same, but at most once per WL_BALLOON_POLL_NS (for hot loops). */
void wl_balloon_poll_timed(WlEnv *env);

/**
 * wl_balloon_heap_ready: a workload just set up its page allocator; a
 * target the driver could not reach for want of a heap is retried at once,
 * before the workload allocates anything (so `balloon` given before the
 * guest ran inflates from a heap no workload has taken yet).
 */
void wl_balloon_heap_ready(WlEnv *env);

/**
 * wl_balloon_retry_due: when an idle vCPU should wake to retry a resize
 * the driver could not finish (the heap had no pages yet, or a workload
 * held them): a now_ns() deadline, or 0 when nothing is pending.
 */
uint64_t wl_balloon_retry_due(WlEnv *env);

/**
 * wl_balloon_oom: a WlAllocOomFn for the churn heap (@opaque is the
 * WlEnv): the heap has no free block of @order.  With DEFLATE_ON_OOM
 * negotiated and pages in the balloon (heap mode), deflate
 * max(WL_BALLOON_OOM_NR_PAGES, 2^@order) of them, the device told first,
 * and return true; otherwise change nothing and return false.
 */
bool wl_balloon_oom(void *opaque, unsigned order);

#endif
