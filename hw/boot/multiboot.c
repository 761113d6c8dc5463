/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Multiboot v1 loader: checks a user-supplied kernel image, puts its
 * segments, the command line, the memory map and the info block into guest
 * RAM, and says where the vCPU starts.
 *
 * The image is untrusted input: every offset and size read from it is
 * checked against the file size, the 4 GiB limit of a 32-bit entry and
 * guest RAM before anything is written, so a bad image fails with one line
 * and leaves RAM untouched.
 *
 * Image formats, as GRUB and QEMU choose between them: with flag bit 16
 * (the "a.out kludge") the load addresses come from the Multiboot header
 * and the file needs no ELF structure at all; without it the file must be
 * an ELF (32- or 64-bit container, EM_386 or EM_X86_64) whose PT_LOAD
 * segments are loaded at p_paddr.  The kludge matters in practice: QEMU
 * refuses 64-bit ELF containers, so a 64-bit kernel that also boots there
 * carries the kludge.
 *
 * Guest-physical layout below 1 MiB written here (MB_AREA_*):
 *   0x9000  info block (struct multiboot_info, 116 bytes)
 *   0x9100  memory map entries (24 bytes each)
 *   0x9300  boot loader name "kvmig"
 *   0x9400  command line, up to MB_AREA_END
 * Image segments may not overlap [MB_AREA_START, MB_AREA_END).
 */
#include <elf.h>
#include <string.h>

#include "hw/boot/multiboot.h"
#include "system/memory.h"
#include "util/error.h"

#define MB_HEADER_MAGIC     0x1BADB002u
#define MB_HEADER_SEARCH    8192
#define MB_HEADER_SIZE      12      /* magic, flags, checksum */
#define MB_AOUT_SIZE        32      /* ... plus the five address fields */

#define MB_FLAG_PAGE_ALIGN  (1u << 0)
#define MB_FLAG_MEMORY_INFO (1u << 1)
#define MB_FLAG_VIDEO_MODE  (1u << 2)
#define MB_FLAG_AOUT_KLUDGE (1u << 16)
/* Bits 0-15 are "required": a loader must refuse ones it does not know. */
#define MB_FLAGS_REQUIRED   0x0000ffffu
#define MB_FLAGS_KNOWN      (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY_INFO | \
                             MB_FLAG_VIDEO_MODE)

#define MBI_FLAG_MEM        (1u << 0)
#define MBI_FLAG_CMDLINE    (1u << 2)
#define MBI_FLAG_MMAP       (1u << 6)
#define MBI_FLAG_LOADER     (1u << 9)

#define MBI_SIZE            116     /* up to and with the framebuffer fields */
#define MBI_OFF_FLAGS       0
#define MBI_OFF_MEM_LOWER   4
#define MBI_OFF_MEM_UPPER   8
#define MBI_OFF_CMDLINE     16
#define MBI_OFF_MMAP_LENGTH 44
#define MBI_OFF_MMAP_ADDR   48
#define MBI_OFF_LOADER_NAME 64

#define MB_AREA_START       0x9000ULL
#define MB_INFO_ADDR        0x9000ULL
#define MB_MMAP_ADDR        0x9100ULL
#define MB_MMAP_MAX         ((0x9300 - 0x9100) / MB_MMAP_ENTRY_SIZE)
#define MB_LOADER_ADDR      0x9300ULL
#define MB_CMDLINE_ADDR     0x9400ULL
#define MB_AREA_END         0x10000ULL
#define MB_MMAP_ENTRY_SIZE  24      /* u32 size (=20), u64 base, u64 len, u32 type */

#define MB_LOADER_NAME      "kvmig"

/* The PC's conventional-memory layout the memory map follows. */
#define PC_EBDA_START       0x9fc00ULL
#define PC_BIOS_START       0xf0000ULL
#define PC_HIGH_START       0x100000ULL
#define MB_LOAD_LIMIT       0x100000000ULL  /* 32-bit protected mode */

#define MB_MAX_FILE         (1ULL << 30)
#define MB_MAX_SEGMENTS     64

#define E820_RAM            1
#define E820_RESERVED       2

typedef struct MbSegment {
    uint64_t paddr;
    uint64_t offset;    /* in the file */
    uint64_t filesz;
    uint64_t memsz;
} MbSegment;

typedef struct MbImage {
    const char *path;
    const uint8_t *data;
    uint64_t size;
    MbSegment seg[MB_MAX_SEGMENTS];
    unsigned nseg;
    uint64_t entry;
} MbImage;

typedef struct MbMmapEntry {
    uint64_t base, len;
    uint32_t type;
} MbMmapEntry;

#define mb_error(errp, img, fmt, ...) \
    kvmig_error((errp), "multiboot: %s: " fmt, (img)->path, ##__VA_ARGS__)

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void st32(uint8_t *p, uint32_t v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static void st64(uint8_t *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

/* True if [a, a+alen) and [b, b+blen) intersect (no overflow: both < 2^33). */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/*
 * Find a valid Multiboot header: magic in the first 8192 bytes, 4-byte
 * aligned, with magic + flags + checksum == 0.  Returns its file offset or
 * -1 (with *errp set).
 */
static int64_t mb_find_header(const MbImage *img, GError **errp)
{
    uint64_t limit = MIN(img->size, (uint64_t)MB_HEADER_SEARCH);
    bool bad_checksum = false;

    for (uint64_t off = 0; off + MB_HEADER_SIZE <= limit; off += 4) {
        const uint8_t *h = img->data + off;

        if (ld32(h) != MB_HEADER_MAGIC) {
            continue;
        }
        if ((uint32_t)(ld32(h) + ld32(h + 4) + ld32(h + 8)) == 0) {
            return off;
        }
        bad_checksum = true;
    }
    if (bad_checksum) {
        mb_error(errp, img, "Multiboot header has a bad checksum");
    } else {
        mb_error(errp, img, "no Multiboot header in the first %d bytes",
                 MB_HEADER_SEARCH);
    }
    return -1;
}

static bool mb_add_segment(MbImage *img, uint64_t paddr, uint64_t offset,
                           uint64_t filesz, uint64_t memsz, GError **errp)
{
    if (img->nseg == MB_MAX_SEGMENTS) {
        mb_error(errp, img, "more than %d loadable segments", MB_MAX_SEGMENTS);
        return false;
    }
    img->seg[img->nseg++] = (MbSegment){ paddr, offset, filesz, memsz };
    return true;
}

/* The a.out kludge: addresses from the header's five extra fields. */
static bool mb_parse_aout(MbImage *img, uint64_t hdr, GError **errp)
{
    const uint8_t *h = img->data + hdr;
    uint32_t header_addr, load_addr, load_end, bss_end;
    uint64_t load_off, load_len;

    if (hdr + MB_AOUT_SIZE > img->size) {
        mb_error(errp, img, "Multiboot header truncated (a.out kludge fields)");
        return false;
    }
    header_addr = ld32(h + 12);
    load_addr = ld32(h + 16);
    load_end = ld32(h + 20);
    bss_end = ld32(h + 24);
    img->entry = ld32(h + 28);

    if (load_addr > header_addr || header_addr - load_addr > hdr) {
        mb_error(errp, img, "a.out kludge: load_addr 0x%x does not fit "
                 "header_addr 0x%x at file offset 0x%" G_GINT64_MODIFIER "x",
                 load_addr, header_addr, hdr);
        return false;
    }
    load_off = hdr - (header_addr - load_addr);
    if (load_end) {
        if (load_end < load_addr) {
            mb_error(errp, img, "a.out kludge: load_end_addr 0x%x is below "
                     "load_addr 0x%x", load_end, load_addr);
            return false;
        }
        load_len = (uint64_t)load_end - load_addr;
        if (load_len > img->size - load_off) {
            mb_error(errp, img, "a.out kludge: image ends before "
                     "load_end_addr 0x%x", load_end);
            return false;
        }
    } else {
        load_len = img->size - load_off;
    }
    if (bss_end && bss_end < load_addr + load_len) {
        mb_error(errp, img, "a.out kludge: bss_end_addr 0x%x is below the "
                 "end of the loaded image", bss_end);
        return false;
    }
    return mb_add_segment(img, load_addr, load_off, load_len,
                          bss_end ? bss_end - (uint64_t)load_addr : load_len,
                          errp);
}

static bool mb_parse_elf(MbImage *img, GError **errp)
{
    const uint8_t *d = img->data;
    bool is64;
    uint16_t machine, phentsize, phnum;
    uint64_t phoff, entry;

    if (img->size < EI_NIDENT || memcmp(d, ELFMAG, SELFMAG) != 0) {
        mb_error(errp, img, "not an ELF file, and the Multiboot header has "
                 "no a.out kludge (flag bit 16)");
        return false;
    }
    if (d[EI_CLASS] != ELFCLASS32 && d[EI_CLASS] != ELFCLASS64) {
        mb_error(errp, img, "unknown ELF class %u", d[EI_CLASS]);
        return false;
    }
    is64 = d[EI_CLASS] == ELFCLASS64;
    if (d[EI_DATA] != ELFDATA2LSB) {
        mb_error(errp, img, "not a little-endian ELF file");
        return false;
    }
    if (img->size < (is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        mb_error(errp, img, "ELF header truncated");
        return false;
    }
    if (is64) {
        Elf64_Ehdr eh;

        memcpy(&eh, d, sizeof(eh));
        machine = eh.e_machine;
        entry = eh.e_entry;
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    } else {
        Elf32_Ehdr eh;

        memcpy(&eh, d, sizeof(eh));
        machine = eh.e_machine;
        entry = eh.e_entry;
        phoff = eh.e_phoff;
        phentsize = eh.e_phentsize;
        phnum = eh.e_phnum;
    }
    if (machine != EM_386 && machine != EM_X86_64) {
        mb_error(errp, img, "ELF machine %u is not x86 (EM_386 or EM_X86_64)",
                 machine);
        return false;
    }
    if (phnum == 0 || phnum == PN_XNUM) {
        mb_error(errp, img, "ELF file has no usable program headers");
        return false;
    }
    if (phentsize < (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) ||
        phoff > img->size ||
        (uint64_t)phnum * phentsize > img->size - phoff) {
        mb_error(errp, img, "ELF program headers lie outside the file");
        return false;
    }

    img->entry = entry;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *p = d + phoff + (uint64_t)i * phentsize;
        uint64_t type, offset, vaddr, paddr, filesz, memsz;

        if (is64) {
            Elf64_Phdr ph;

            memcpy(&ph, p, sizeof(ph));
            type = ph.p_type;
            offset = ph.p_offset;
            vaddr = ph.p_vaddr;
            paddr = ph.p_paddr;
            filesz = ph.p_filesz;
            memsz = ph.p_memsz;
        } else {
            Elf32_Phdr ph;

            memcpy(&ph, p, sizeof(ph));
            type = ph.p_type;
            offset = ph.p_offset;
            vaddr = ph.p_vaddr;
            paddr = ph.p_paddr;
            filesz = ph.p_filesz;
            memsz = ph.p_memsz;
        }
        if (type != PT_LOAD || memsz == 0) {
            continue;
        }
        if (filesz > memsz) {
            mb_error(errp, img, "segment %u: file size 0x%" G_GINT64_MODIFIER
                     "x exceeds memory size 0x%" G_GINT64_MODIFIER "x",
                     i, filesz, memsz);
            return false;
        }
        if (offset > img->size || filesz > img->size - offset) {
            mb_error(errp, img, "segment %u lies outside the file", i);
            return false;
        }
        /* A kernel linked high: translate a virtual entry point. */
        if (vaddr != paddr && entry >= vaddr && entry - vaddr < memsz) {
            img->entry = paddr + (entry - vaddr);
        }
        if (!mb_add_segment(img, paddr, offset, filesz, memsz, errp)) {
            return false;
        }
    }
    if (img->nseg == 0) {
        mb_error(errp, img, "ELF file has no loadable segment");
        return false;
    }
    return true;
}

/* Every segment below 4 GiB, in one RAM mapping, clear of the info area. */
static bool mb_check_segments(Machine *m, MbImage *img, GError **errp)
{
    bool entry_loaded = false;

    for (unsigned i = 0; i < img->nseg; i++) {
        const MbSegment *s = &img->seg[i];

        if (s->paddr >= MB_LOAD_LIMIT || s->memsz > MB_LOAD_LIMIT - s->paddr) {
            mb_error(errp, img, "segment at 0x%" G_GINT64_MODIFIER "x (0x%"
                     G_GINT64_MODIFIER "x bytes) extends beyond 4 GiB",
                     s->paddr, s->memsz);
            return false;
        }
        if (!gpa_to_hva(m, s->paddr, s->memsz)) {
            mb_error(errp, img, "segment at 0x%" G_GINT64_MODIFIER "x (0x%"
                     G_GINT64_MODIFIER "x bytes) is not in guest RAM",
                     s->paddr, s->memsz);
            return false;
        }
        if (ranges_overlap(s->paddr, s->memsz, MB_AREA_START,
                           MB_AREA_END - MB_AREA_START)) {
            mb_error(errp, img, "segment at 0x%" G_GINT64_MODIFIER "x overlaps "
                     "the Multiboot info area [0x%llx, 0x%llx)", s->paddr,
                     MB_AREA_START, MB_AREA_END);
            return false;
        }
        if (img->entry >= s->paddr && img->entry - s->paddr < s->memsz) {
            entry_loaded = true;
        }
    }
    if (!entry_loaded) {
        mb_error(errp, img, "entry point 0x%" G_GINT64_MODIFIER "x is outside "
                 "the loaded image", img->entry);
        return false;
    }
    return true;
}

static bool mb_load_segments(Machine *m, const MbImage *img, GError **errp)
{
    for (unsigned i = 0; i < img->nseg; i++) {
        const MbSegment *s = &img->seg[i];
        uint64_t bss = s->paddr + s->filesz;
        uint64_t bss_len = s->memsz - s->filesz;

        if (s->filesz &&
            !gpa_write(m, s->paddr, img->data + s->offset, s->filesz)) {
            mb_error(errp, img, "could not write segment at 0x%"
                     G_GINT64_MODIFIER "x", s->paddr);
            return false;
        }
        if (bss_len) {
            /* Checked by mb_check_segments: all of it is in one mapping. */
            memset(gpa_to_hva(m, bss, bss_len), 0, bss_len);
            gpa_mark_dirty(m, bss, bss_len);
        }
    }
    return true;
}

static int mmap_cmp(const void *a, const void *b)
{
    const MbMmapEntry *x = a, *y = b;

    return x->base < y->base ? -1 : x->base > y->base;
}

static void mmap_add(MbMmapEntry *e, unsigned *n, uint64_t base, uint64_t end,
                     uint32_t type)
{
    if (end > base && *n < MB_MMAP_MAX) {
        e[(*n)++] = (MbMmapEntry){ base, end - base, type };
    }
}

/*
 * RAM ranges from the machine's mappings, with conventional memory cut as
 * a PC shows it: RAM up to the EBDA at 639 KiB, reserved EBDA and BIOS
 * areas, RAM again from 1 MiB.
 */
static unsigned mb_build_mmap(Machine *m, MbMmapEntry *e, uint32_t *mem_lower,
                              uint32_t *mem_upper)
{
    unsigned n = 0;

    *mem_lower = *mem_upper = 0;
    for (unsigned i = 0; i < m->nr_mappings; i++) {
        uint64_t base = m->mappings[i].gpa;
        uint64_t end = base + m->mappings[i].size;

        mmap_add(e, &n, base, MIN(end, PC_EBDA_START), E820_RAM);
        mmap_add(e, &n, MAX(base, PC_HIGH_START), end, E820_RAM);
        if (base == 0) {
            *mem_lower = MIN(end, PC_EBDA_START) / 1024;
        }
        if (base <= PC_HIGH_START && end > PC_HIGH_START) {
            *mem_upper = MIN((end - PC_HIGH_START) / 1024, (uint64_t)UINT32_MAX);
        }
    }
    mmap_add(e, &n, PC_EBDA_START, 0xa0000, E820_RESERVED);
    mmap_add(e, &n, PC_BIOS_START, PC_HIGH_START, E820_RESERVED);
    qsort(e, n, sizeof(*e), mmap_cmp);
    return n;
}

static bool mb_write_info(Machine *m, const MbImage *img, const char *cmdline,
                          MultibootBoot *boot, GError **errp)
{
    uint8_t info[MBI_SIZE];
    uint8_t map[MB_MMAP_MAX * MB_MMAP_ENTRY_SIZE];
    MbMmapEntry e[MB_MMAP_MAX];
    uint32_t mem_lower, mem_upper;
    unsigned n = mb_build_mmap(m, e, &mem_lower, &mem_upper);
    size_t cmdlen = strlen(cmdline) + 1;

    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = map + i * MB_MMAP_ENTRY_SIZE;

        st32(p, MB_MMAP_ENTRY_SIZE - 4);    /* size excludes itself */
        st64(p + 4, e[i].base);
        st64(p + 12, e[i].len);
        st32(p + 20, e[i].type);
    }

    memset(info, 0, sizeof(info));
    st32(info + MBI_OFF_FLAGS, MBI_FLAG_MEM | MBI_FLAG_CMDLINE |
                               MBI_FLAG_MMAP | MBI_FLAG_LOADER);
    st32(info + MBI_OFF_MEM_LOWER, mem_lower);
    st32(info + MBI_OFF_MEM_UPPER, mem_upper);
    st32(info + MBI_OFF_CMDLINE, MB_CMDLINE_ADDR);
    st32(info + MBI_OFF_MMAP_LENGTH, n * MB_MMAP_ENTRY_SIZE);
    st32(info + MBI_OFF_MMAP_ADDR, MB_MMAP_ADDR);
    st32(info + MBI_OFF_LOADER_NAME, MB_LOADER_ADDR);

    if (!gpa_write(m, MB_INFO_ADDR, info, sizeof(info)) ||
        !gpa_write(m, MB_MMAP_ADDR, map, n * MB_MMAP_ENTRY_SIZE) ||
        !gpa_write(m, MB_LOADER_ADDR, MB_LOADER_NAME,
                   sizeof(MB_LOADER_NAME)) ||
        !gpa_write(m, MB_CMDLINE_ADDR, cmdline, cmdlen)) {
        mb_error(errp, img, "could not write the Multiboot info block");
        return false;
    }
    boot->entry = (uint32_t)img->entry;
    boot->mbi = MB_INFO_ADDR;
    return true;
}

bool multiboot_load(Machine *m, const char *path, const char *cmdline,
                    MultibootBoot *boot, GError **errp)
{
    g_autofree gchar *contents = NULL;
    g_autoptr(GError) local_err = NULL;
    gsize len = 0;
    MbImage img = { .path = path };
    uint32_t flags;
    int64_t hdr;

    if (!cmdline) {
        cmdline = "";
    }
    if (!gpa_to_hva(m, MB_AREA_START, MB_AREA_END - MB_AREA_START)) {
        mb_error(errp, &img, "guest RAM does not cover the Multiboot info "
                 "area [0x%llx, 0x%llx)", MB_AREA_START, MB_AREA_END);
        return false;
    }
    if (strlen(cmdline) + 1 > MB_AREA_END - MB_CMDLINE_ADDR) {
        mb_error(errp, &img, "command line longer than %llu bytes",
                 MB_AREA_END - MB_CMDLINE_ADDR - 1);
        return false;
    }
    if (!g_file_get_contents(path, &contents, &len, &local_err)) {
        kvmig_error(errp, "multiboot: %s", local_err->message);
        return false;
    }
    if (len > MB_MAX_FILE) {
        mb_error(errp, &img, "image larger than %llu MiB", MB_MAX_FILE >> 20);
        return false;
    }
    img.data = (const uint8_t *)contents;
    img.size = len;

    hdr = mb_find_header(&img, errp);
    if (hdr < 0) {
        return false;
    }
    flags = ld32(img.data + hdr + 4);
    if (flags & MB_FLAGS_REQUIRED & ~MB_FLAGS_KNOWN) {
        mb_error(errp, &img, "Multiboot header requires unsupported features "
                 "(flags 0x%08x)", flags);
        return false;
    }
    if (flags & MB_FLAG_AOUT_KLUDGE) {
        if (!mb_parse_aout(&img, hdr, errp)) {
            return false;
        }
    } else if (!mb_parse_elf(&img, errp)) {
        return false;
    }
    /* Validate everything before writing anything. */
    if (!mb_check_segments(m, &img, errp) ||
        !mb_load_segments(m, &img, errp)) {
        return false;
    }
    return mb_write_info(m, &img, cmdline, boot, errp);
}
