/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory: RAM blocks (host memory, named like QEMU's "pc.ram"), their
 * guest-physical mappings, GPA->HVA translation, the dirty-marking accessor
 * for writes made by kvmig itself, and port-I/O / MMIO dispatch.
 *
 * Locking: the block list, mappings and I/O handler tables are built in the
 * main thread before any vCPU runs and are read-only afterwards.  The
 * per-block device dirty bitmap is updated with atomic ORs from any thread
 * and drained by the migration thread with atomic exchanges.
 */
#ifndef KVMIG_SYSTEM_MEMORY_H
#define KVMIG_SYSTEM_MEMORY_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define TARGET_PAGE_BITS 12
#define TARGET_PAGE_SIZE (1ULL << TARGET_PAGE_BITS)

typedef struct Machine Machine;

typedef struct RAMBlock {
    /* set at creation, read-only after */
    char idstr[256];            /* "pc.ram" */
    uint8_t *host;              /* MAP_NORESERVE anonymous mapping */
    uint64_t used_length;       /* bytes, page multiple */
    uint64_t npages;
    unsigned index;             /* position in Machine.ram_blocks */
    /*
     * Pages written by kvmig itself (loader, devices) since the last drain:
     * never seen by the accelerator's dirty log.  Atomic OR to set,
     * bitmap_move_atomic() to drain.  Always allocated.
     */
    unsigned long *dev_dirty;
    /* owned by the migration code: its 1-bit-per-page migration bitmap */
    unsigned long *bmap;
} RAMBlock;

/* One guest-physical window onto a RAM block (e.g. ram-below-4g). */
typedef struct MemMapping {
    uint64_t gpa;
    uint64_t size;
    RAMBlock *block;
    uint64_t offset;            /* into block */
    unsigned slot;              /* accelerator slot number (index in list) */
} MemMapping;

typedef struct IoOps {
    /* Called from vCPU threads; the device does its own locking. */
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
} IoOps;

RAMBlock *ram_block_new(const char *idstr, uint64_t size, GError **errp);
void ram_block_free(RAMBlock *rb);

/* Look up a block by idstr, or NULL. */
RAMBlock *machine_find_ram_block(Machine *m, const char *idstr);

/*
 * Translate a guest-physical range to a host pointer.  The whole range must
 * lie in one mapping; NULL otherwise.  Reads only: writes that kvmig makes
 * must use gpa_write() or mark the pages with gpa_mark_dirty().
 */
void *gpa_to_hva(Machine *m, uint64_t gpa, uint64_t len);
/* Find the mapping that holds gpa (or NULL). */
const MemMapping *gpa_to_mapping(Machine *m, uint64_t gpa);

/* The dirty-marking accessor: copy into guest RAM, mark pages dirty. */
bool gpa_write(Machine *m, uint64_t gpa, const void *buf, uint64_t len);
void gpa_mark_dirty(Machine *m, uint64_t gpa, uint64_t len);
/* Copy out of guest RAM; false if not all of it is RAM. */
bool gpa_read(Machine *m, uint64_t gpa, void *buf, uint64_t len);

void machine_register_pio(Machine *m, uint16_t base, uint16_t len,
                          const IoOps *ops, void *opaque);
void machine_register_mmio(Machine *m, uint64_t base, uint64_t len,
                           const IoOps *ops, void *opaque);
/*
 * Dispatch one access from a vCPU.  Unclaimed reads return all ones and
 * unclaimed writes are dropped, as on a PC.  Returns false if unclaimed.
 */
bool machine_pio(Machine *m, uint16_t port, bool is_write, void *data, unsigned size);
bool machine_mmio(Machine *m, uint64_t addr, bool is_write, void *data, unsigned size);

#endif
