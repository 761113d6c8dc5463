/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * RAM blocks, guest-physical translation, the dirty-marking accessor and
 * I/O dispatch.  Locking: see include/system/memory.h (tables are immutable
 * once vCPUs run; dev_dirty is updated atomically).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "system/machine.h"
#include "system/memory.h"
#include "util/bitmap.h"
#include "util/error.h"

#define RAM_HUGE_ALIGN (2ULL << 20)

/*
 * An anonymous mapping of @size bytes starting on a 2 MiB boundary, so
 * that every whole 2 MiB of it can be a huge page; MAP_FAILED and errno
 * on failure.  munmap(host, size) frees it as usual.
 */
static void *ram_map_aligned(uint64_t size)
{
    uint64_t len = size + RAM_HUGE_ALIGN;
    uint8_t *p, *start;

    if (size < RAM_HUGE_ALIGN || len < size) {
        return mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return MAP_FAILED;
    }
    start = (uint8_t *)(((uintptr_t)p + RAM_HUGE_ALIGN - 1) & ~(uintptr_t)(RAM_HUGE_ALIGN - 1));
    if (start > p) {
        munmap(p, start - p);
    }
    if (p + len > start + size) {
        munmap(start + size, p + len - (start + size));
    }
    return start;
}

RAMBlock *ram_block_new(const char *idstr, uint64_t size, GError **errp)
{
    RAMBlock *rb;
    void *host;

    if (size == 0 || size % TARGET_PAGE_SIZE) {
        kvmig_error(errp, "RAM block '%s': size %" G_GUINT64_FORMAT
                    " is not a positive multiple of the page size", idstr, size);
        return NULL;
    }
    host = ram_map_aligned(size);
    if (host == MAP_FAILED) {
        kvmig_error_errno(errp, errno, "cannot allocate %" G_GUINT64_FORMAT
                          " bytes of guest RAM for '%s'", size, idstr);
        return NULL;
    }
    /*
     * Transparent huge pages where the guest writes (as QEMU advises its
     * RAM blocks): one fault per 2 MiB instead of 512, and -- the reason
     * it is here -- the migration's bulk pass.  On a VM host the first
     * access by the kernel to each 4 KiB page of a process (the socket's
     * copy of a page the guest wrote, in writev) costs microseconds, ~10x
     * the copy itself; with 2 MiB pages that cost is paid once per 2 MiB
     * (docs/devel/migration/dirty-tracking.rst).  Untouched memory stays
     * unallocated: THP fills only the 2 MiB extents the guest (or a load)
     * writes into.  The dirty log stays 4 KiB (accel/thread.c).
     * Advice only: without THP everything still works, only slower.
     */
    madvise(host, size, MADV_HUGEPAGE);
    rb = g_new0(RAMBlock, 1);
    g_strlcpy(rb->idstr, idstr, sizeof(rb->idstr));
    rb->host = host;
    rb->used_length = size;
    rb->npages = size >> TARGET_PAGE_BITS;
    rb->dev_dirty = bitmap_new(rb->npages);
    return rb;
}

void ram_block_free(RAMBlock *rb)
{
    if (!rb) {
        return;
    }
    munmap(rb->host, rb->used_length);
    g_free(rb->dev_dirty);
    g_free(rb->bmap);
    g_free(rb);
}

RAMBlock *machine_find_ram_block(Machine *m, const char *idstr)
{
    for (unsigned i = 0; i < m->nr_ram_blocks; i++) {
        if (!strcmp(m->ram_blocks[i]->idstr, idstr)) {
            return m->ram_blocks[i];
        }
    }
    return NULL;
}

const MemMapping *gpa_to_mapping(Machine *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->nr_mappings; i++) {
        const MemMapping *map = &m->mappings[i];
        if (gpa >= map->gpa && gpa - map->gpa < map->size) {
            return map;
        }
    }
    return NULL;
}

void *gpa_to_hva(Machine *m, uint64_t gpa, uint64_t len)
{
    const MemMapping *map = gpa_to_mapping(m, gpa);

    if (!map || len > map->size - (gpa - map->gpa)) {
        return NULL;
    }
    return map->block->host + map->offset + (gpa - map->gpa);
}

/* Walk [gpa, gpa+len) mapping by mapping; false if any part is not RAM. */
static bool gpa_walk(Machine *m, uint64_t gpa, uint64_t len,
                     void (*fn)(const MemMapping *map, uint64_t off, uint64_t n, void *opaque),
                     void *opaque)
{
    while (len) {
        const MemMapping *map = gpa_to_mapping(m, gpa);
        uint64_t off, n;

        if (!map) {
            return false;
        }
        off = gpa - map->gpa;
        n = MIN(len, map->size - off);
        if (fn) {
            fn(map, off, n, opaque);
        }
        gpa += n;
        len -= n;
    }
    return true;
}

typedef struct CopyOp {
    uint8_t *buf;
    bool to_guest;
} CopyOp;

static void copy_fn(const MemMapping *map, uint64_t off, uint64_t n, void *opaque)
{
    CopyOp *op = opaque;
    uint8_t *host = map->block->host + map->offset + off;
    uint64_t first, last;

    if (op->to_guest) {
        memcpy(host, op->buf, n);
        first = (map->offset + off) >> TARGET_PAGE_BITS;
        last = (map->offset + off + n - 1) >> TARGET_PAGE_BITS;
        bitmap_set_range_atomic(map->block->dev_dirty, first, last - first + 1);
    } else {
        memcpy(op->buf, host, n);
    }
    op->buf += n;
}

static void mark_fn(const MemMapping *map, uint64_t off, uint64_t n, void *opaque)
{
    uint64_t first = (map->offset + off) >> TARGET_PAGE_BITS;
    uint64_t last = (map->offset + off + n - 1) >> TARGET_PAGE_BITS;

    bitmap_set_range_atomic(map->block->dev_dirty, first, last - first + 1);
}

bool gpa_write(Machine *m, uint64_t gpa, const void *buf, uint64_t len)
{
    CopyOp op = { (uint8_t *)buf, true };

    /* Check first so that a partial write never happens. */
    if (!gpa_walk(m, gpa, len, NULL, NULL)) {
        return false;
    }
    return gpa_walk(m, gpa, len, copy_fn, &op);
}

bool gpa_read(Machine *m, uint64_t gpa, void *buf, uint64_t len)
{
    CopyOp op = { buf, false };

    if (!gpa_walk(m, gpa, len, NULL, NULL)) {
        return false;
    }
    return gpa_walk(m, gpa, len, copy_fn, &op);
}

void gpa_mark_dirty(Machine *m, uint64_t gpa, uint64_t len)
{
    if (len) {
        gpa_walk(m, gpa, len, mark_fn, NULL);
    }
}

static void register_io(IoHandler *tab, unsigned *n, uint64_t base, uint64_t len,
                        const IoOps *ops, void *opaque)
{
    g_assert(*n < MACHINE_MAX_IO);
    tab[*n] = (IoHandler){ base, len, ops, opaque };
    (*n)++;
}

void machine_register_pio(Machine *m, uint16_t base, uint16_t len,
                          const IoOps *ops, void *opaque)
{
    register_io(m->pio, &m->nr_pio, base, len, ops, opaque);
}

void machine_register_mmio(Machine *m, uint64_t base, uint64_t len,
                           const IoOps *ops, void *opaque)
{
    register_io(m->mmio, &m->nr_mmio, base, len, ops, opaque);
}

static bool io_dispatch(IoHandler *tab, unsigned n, uint64_t addr, bool is_write,
                        void *data, unsigned size)
{
    for (unsigned i = 0; i < n; i++) {
        IoHandler *h = &tab[i];
        if (addr >= h->base && addr - h->base < h->len) {
            uint64_t v = 0;
            if (is_write) {
                memcpy(&v, data, MIN(size, sizeof(v)));
                if (h->ops->write) {
                    h->ops->write(h->opaque, addr - h->base, v, size);
                }
            } else {
                v = h->ops->read ? h->ops->read(h->opaque, addr - h->base, size) : ~0ULL;
                memcpy(data, &v, MIN(size, sizeof(v)));
            }
            return true;
        }
    }
    if (!is_write) {
        memset(data, 0xff, size);
    }
    return false;
}

bool machine_pio(Machine *m, uint16_t port, bool is_write, void *data, unsigned size)
{
    return io_dispatch(m->pio, m->nr_pio, port, is_write, data, size);
}

bool machine_mmio(Machine *m, uint64_t addr, bool is_write, void *data, unsigned size)
{
    return io_dispatch(m->mmio, m->nr_mmio, addr, is_write, data, size);
}
