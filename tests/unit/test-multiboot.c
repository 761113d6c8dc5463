/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the Multiboot loader: ELF images built in memory (32- and
 * 64-bit, a.out kludge, broken in many ways) loaded into a Machine that has
 * RAM but no accelerator.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hw/boot/multiboot.h"
#include "system/machine.h"
#include "system/memory.h"

#define MB_MAGIC 0x1BADB002u
#define RAM_SIZE (64ULL << 20)
#define FILE_SIZE 0x3000
#define PAYLOAD_OFF 0x1000      /* file offset of the loaded segment */
#define KERNEL_PADDR 0x100000ULL

typedef struct TSeg {
    uint64_t paddr, vaddr, offset, filesz, memsz;
    uint32_t type;
} TSeg;

typedef struct Fixture {
    Machine *m;
    char *dir;
    char *path;
} Fixture;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v);
    put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, v);
    put32(p + 4, v >> 32);
}

static uint32_t get32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* An ELF header and program headers at the start of buf (FILE_SIZE bytes). */
static void build_elf(uint8_t *buf, bool is64, uint16_t machine,
                      uint64_t entry, const TSeg *segs, unsigned nseg)
{
    unsigned ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;

    memcpy(buf, "\x7f" "ELF", 4);
    buf[4] = is64 ? 2 : 1;      /* EI_CLASS */
    buf[5] = 1;                 /* little-endian */
    buf[6] = 1;                 /* EV_CURRENT */
    put16(buf + 16, 2);         /* ET_EXEC */
    put16(buf + 18, machine);
    put32(buf + 20, 1);
    if (is64) {
        put64(buf + 24, entry);
        put64(buf + 32, ehsize);    /* e_phoff */
        put16(buf + 52, ehsize);
        put16(buf + 54, phentsize);
        put16(buf + 56, nseg);
    } else {
        put32(buf + 24, entry);
        put32(buf + 28, ehsize);
        put16(buf + 40, ehsize);
        put16(buf + 42, phentsize);
        put16(buf + 44, nseg);
    }
    for (unsigned i = 0; i < nseg; i++) {
        uint8_t *ph = buf + ehsize + i * phentsize;
        const TSeg *s = &segs[i];

        if (is64) {
            put32(ph, s->type);
            put32(ph + 4, 7);
            put64(ph + 8, s->offset);
            put64(ph + 16, s->vaddr);
            put64(ph + 24, s->paddr);
            put64(ph + 32, s->filesz);
            put64(ph + 40, s->memsz);
            put64(ph + 48, 0x1000);
        } else {
            put32(ph, s->type);
            put32(ph + 4, s->offset);
            put32(ph + 8, s->vaddr);
            put32(ph + 12, s->paddr);
            put32(ph + 16, s->filesz);
            put32(ph + 20, s->memsz);
            put32(ph + 24, 7);
            put32(ph + 28, 0x1000);
        }
    }
}

static void put_mb_header(uint8_t *buf, size_t off, uint32_t flags)
{
    put32(buf + off, MB_MAGIC);
    put32(buf + off + 4, flags);
    put32(buf + off + 8, -(MB_MAGIC + flags));
}

/* Recognisable payload bytes for the loaded segment, after the header. */
static void fill_payload(uint8_t *buf, size_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[off + i] = (uint8_t)(i * 7 + 3);
    }
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    GError *err = NULL;
    uint64_t ram = data ? *(const uint64_t *)data : RAM_SIZE;

    f->m = machine_new(ram, 1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(f->m);
    f->dir = g_dir_make_tmp("kvmig-mb-XXXXXX", &err);
    g_assert_no_error(err);
    f->path = g_build_filename(f->dir, "kernel.elf", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    g_unlink(f->path);
    g_rmdir(f->dir);
    g_free(f->path);
    g_free(f->dir);
    machine_free(f->m);
}

static void write_image(Fixture *f, const uint8_t *buf, size_t len)
{
    GError *err = NULL;

    g_file_set_contents(f->path, (const char *)buf, len, &err);
    g_assert_no_error(err);
}

/* Load and expect failure with msg in the (one-line) error. */
static void expect_fail(Fixture *f, const char *cmdline, const char *msg)
{
    GError *err = NULL;
    MultibootBoot boot;

    g_assert_false(multiboot_load(f->m, f->path, cmdline, &boot, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, msg)) {
        g_error("error '%s' does not contain '%s'", err->message, msg);
    }
    g_assert_null(strchr(err->message, '\n'));
    g_error_free(err);
}

static void check_info(Fixture *f, const MultibootBoot *boot,
                       const char *cmdline, uint64_t ram)
{
    uint8_t info[116], mmap[24 * 16];
    char cmd[256];
    uint32_t flags, mmap_len, mmap_addr;
    uint64_t low_end = MIN(ram, 0xC0000000ULL);
    struct {
        uint64_t base, len;
        uint32_t type;
    } expect[] = {
        { 0, 0x9fc00, 1 },
        { 0x9fc00, 0x400, 2 },
        { 0xf0000, 0x10000, 2 },
        { 0x100000, low_end - 0x100000, 1 },
        { 0x100000000ULL, ram - low_end, 1 },
    };
    unsigned nexpect = ram > low_end ? 5 : 4;

    g_assert_cmpuint(boot->mbi, <, 0x100000);
    g_assert_true(gpa_read(f->m, boot->mbi, info, sizeof(info)));
    flags = get32(info);
    g_assert_cmpuint(flags & 1, ==, 1);             /* MEM */
    g_assert_cmpuint(flags & 4, ==, 4);             /* CMDLINE */
    g_assert_cmpuint(flags & 0x40, ==, 0x40);       /* MMAP */
    g_assert_cmpuint(get32(info + 4), ==, 639);     /* mem_lower, KiB */
    g_assert_cmpuint(get32(info + 8), ==, (low_end - 0x100000) / 1024);

    g_assert_cmpuint(get32(info + 16), <, 0x100000);
    g_assert_true(gpa_read(f->m, get32(info + 16), cmd, sizeof(cmd)));
    g_assert_cmpstr(cmd, ==, cmdline);

    mmap_len = get32(info + 44);
    mmap_addr = get32(info + 48);
    g_assert_cmpuint(mmap_len, ==, nexpect * 24);
    g_assert_cmpuint(mmap_addr, <, 0x100000);
    g_assert_true(gpa_read(f->m, mmap_addr, mmap, mmap_len));
    for (unsigned i = 0; i < nexpect; i++) {
        const uint8_t *e = mmap + i * 24;

        g_assert_cmpuint(get32(e), ==, 20);
        g_assert_cmphex(get64(e + 4), ==, expect[i].base);
        g_assert_cmphex(get64(e + 12), ==, expect[i].len);
        g_assert_cmpuint(get32(e + 20), ==, expect[i].type);
    }
}

static void check_payload(Fixture *f, const uint8_t *buf, uint64_t paddr,
                          size_t off, size_t filesz, size_t memsz)
{
    g_autofree uint8_t *got = g_malloc(memsz);

    g_assert_true(gpa_read(f->m, paddr, got, memsz));
    g_assert_cmpmem(got, filesz, buf + off, filesz);
    for (size_t i = filesz; i < memsz; i++) {
        g_assert_cmpuint(got[i], ==, 0);
    }
}

/* Dirty the bss area first, to see the loader zero it. */
static void scribble(Fixture *f, uint64_t gpa, size_t len)
{
    g_autofree uint8_t *junk = g_malloc(len);

    memset(junk, 0xaa, len);
    g_assert_true(gpa_write(f->m, gpa, junk, len));
}

static void test_elf32(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x800, 0x3000, 1 };
    const char *cmdline = "workload=pagewalk size=1M";
    MultibootBoot boot;
    GError *err = NULL;

    build_elf(buf, false, 3 /* EM_386 */, KERNEL_PADDR + 0x20, &seg, 1);
    fill_payload(buf, PAYLOAD_OFF, 0x800);
    put_mb_header(buf, PAYLOAD_OFF, 0x3);
    write_image(f, buf, sizeof(buf));
    scribble(f, KERNEL_PADDR, 0x3000);

    g_assert_true(multiboot_load(f->m, f->path, cmdline, &boot, &err));
    g_assert_no_error(err);
    g_assert_cmphex(boot.entry, ==, KERNEL_PADDR + 0x20);
    check_info(f, &boot, cmdline, RAM_SIZE);
    check_payload(f, buf, KERNEL_PADDR, PAYLOAD_OFF, 0x800, 0x3000);
}

/* 64-bit container, kernel linked high: entry translated to physical. */
static void test_elf64_high(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    uint64_t vbase = 0xffffffff80000000ULL + KERNEL_PADDR;
    TSeg segs[] = {
        { 0, 0, 0, 0, 0, 4 /* PT_NOTE: ignored */ },
        { 2 * KERNEL_PADDR, vbase, PAYLOAD_OFF, 0x1000, 0x1000, 1 },
        { 4 * KERNEL_PADDR, vbase + 0x100000, PAYLOAD_OFF + 0x1000, 0, 0x2000, 1 },
    };
    MultibootBoot boot;
    GError *err = NULL;

    build_elf(buf, true, 62 /* EM_X86_64 */, vbase + 0x40, segs, 3);
    fill_payload(buf, PAYLOAD_OFF, 0x1000);
    put_mb_header(buf, PAYLOAD_OFF + 0x10, 0x2);
    write_image(f, buf, sizeof(buf));
    scribble(f, 4 * KERNEL_PADDR, 0x2000);

    g_assert_true(multiboot_load(f->m, f->path, "", &boot, &err));
    g_assert_no_error(err);
    g_assert_cmphex(boot.entry, ==, 2 * KERNEL_PADDR + 0x40);
    check_info(f, &boot, "", RAM_SIZE);
    check_payload(f, buf, 2 * KERNEL_PADDR, PAYLOAD_OFF, 0x1000, 0x1000);
    check_payload(f, buf, 4 * KERNEL_PADDR, 0, 0, 0x2000);
}

/* The a.out kludge: a raw binary, addresses from the header. */
static void test_aout_kludge(Fixture *f, gconstpointer data)
{
    uint8_t buf[0x1800] = { 0 };
    uint32_t load = 0x200000, hdr_off = 0x40;
    MultibootBoot boot;
    GError *err = NULL;

    fill_payload(buf, 0, sizeof(buf));
    put_mb_header(buf, hdr_off, 0x10003);
    put32(buf + hdr_off + 12, load + hdr_off);     /* header_addr */
    put32(buf + hdr_off + 16, load);               /* load_addr */
    put32(buf + hdr_off + 20, load + 0x1000);      /* load_end_addr */
    put32(buf + hdr_off + 24, load + 0x4000);      /* bss_end_addr */
    put32(buf + hdr_off + 28, load + 0x100);       /* entry_addr */
    write_image(f, buf, sizeof(buf));
    scribble(f, load, 0x5000);

    g_assert_true(multiboot_load(f->m, f->path, "a b c", &boot, &err));
    g_assert_no_error(err);
    g_assert_cmphex(boot.entry, ==, load + 0x100);
    check_info(f, &boot, "a b c", RAM_SIZE);
    check_payload(f, buf, load, 0, 0x1000, 0x4000);
}

/* RAM above 3 GiB continues at 4 GiB and shows in the memory map. */
static void test_highmem_mmap(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };
    MultibootBoot boot;
    GError *err = NULL;

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    g_assert_true(multiboot_load(f->m, f->path, "x=1", &boot, &err));
    g_assert_no_error(err);
    check_info(f, &boot, "x=1", *(const uint64_t *)data);
}

static void test_no_header(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "no Multiboot header");
}

static void test_bad_checksum(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    put32(buf + PAYLOAD_OFF + 8, 0x12345678);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "bad checksum");
}

/* A header past the first 8192 bytes, or not 4-byte aligned, is not seen. */
static void test_header_misplaced(Fixture *f, gconstpointer data)
{
    g_autofree uint8_t *buf = g_malloc0(0x4000);
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, 0x2000, 0x1000, 0x1000, 1 };

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, 0x2000, 0);
    write_image(f, buf, 0x4000);
    expect_fail(f, "", "no Multiboot header");

    memset(buf + 0x2000, 0, 12);
    put_mb_header(buf, 0x1002, 0);
    write_image(f, buf, 0x4000);
    expect_fail(f, "", "no Multiboot header");
}

static void test_unsupported_flags(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0x8);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "unsupported features");
}

static void test_wrong_machine(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };

    build_elf(buf, false, 40 /* EM_ARM */, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "not x86");
}

static void test_not_elf(Fixture *f, gconstpointer data)
{
    uint8_t buf[0x200] = { 0 };

    put_mb_header(buf, 0x40, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "not an ELF file");
}

static void test_truncated(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x800, 0x800, 1 };

    /* Header found, but the segment's bytes end past the file. */
    build_elf(buf, true, 62, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, 0x100, 0);
    write_image(f, buf, PAYLOAD_OFF + 0x400);
    expect_fail(f, "", "outside the file");

    /* Program headers cut off. */
    write_image(f, buf, 64 + 20);
    expect_fail(f, "", "no Multiboot header");
    put_mb_header(buf, 0x40, 0);    /* inside the (cut) phdr area */
    write_image(f, buf, 64 + 20);
    expect_fail(f, "", "program headers lie outside");

    /* ELF header cut off. */
    put_mb_header(buf, 0x20, 0);
    write_image(f, buf, 0x2c);
    expect_fail(f, "", "ELF header truncated");

    /* Program headers pointing past the end. */
    memset(buf, 0, sizeof(buf));
    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put32(buf + 28, 0xfffffff0);    /* e_phoff */
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "program headers lie outside");

    /* An absurd number of them. */
    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put16(buf + 44, 0xfffe);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "program headers lie outside");
}

static void test_segment_outside_ram(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { RAM_SIZE - 0x100, RAM_SIZE - 0x100, PAYLOAD_OFF, 0x100,
                 0x200, 1 };

    build_elf(buf, false, 3, RAM_SIZE - 0x100, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "not in guest RAM");

    /* Beyond 4 GiB (64-bit container). */
    seg.paddr = seg.vaddr = 0x100000000ULL;
    build_elf(buf, true, 62, seg.paddr, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "beyond 4 GiB");

    /* Huge memory size: the 32-bit sum would wrap to a small address. */
    seg.paddr = seg.vaddr = KERNEL_PADDR;
    seg.memsz = 0xfffff000;
    memset(buf, 0, PAYLOAD_OFF);
    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "beyond 4 GiB");

    /* Below 4 GiB but bigger than RAM. */
    seg.memsz = 0x10000000;
    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "not in guest RAM");

    /* Huge 64-bit sizes. */
    seg.memsz = ~0ULL;
    seg.filesz = 0x100;
    memset(buf, 0, PAYLOAD_OFF);
    build_elf(buf, true, 62, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "beyond 4 GiB");

    seg.memsz = seg.filesz = 0x100;
    seg.offset = ~0ULL - 0x10;
    build_elf(buf, true, 62, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "outside the file");

    /* filesz > memsz. */
    seg.offset = PAYLOAD_OFF;
    seg.filesz = 0x200;
    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "exceeds memory size");
}

static void test_segment_over_info(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { 0x8000, 0x8000, PAYLOAD_OFF, 0x100, 0x2000, 1 };

    build_elf(buf, false, 3, 0x8000, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "overlaps the Multiboot info area");
}

static void test_entry_outside(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };

    build_elf(buf, false, 3, 0x500000, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "entry point");
}

/* A failed load writes nothing: the good first segment stays unwritten. */
static void test_fail_writes_nothing(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 }, got[0x100];
    TSeg segs[] = {
        { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 },
        { RAM_SIZE, RAM_SIZE, PAYLOAD_OFF, 0x100, 0x100, 1 },
    };

    build_elf(buf, false, 3, KERNEL_PADDR, segs, 2);
    fill_payload(buf, PAYLOAD_OFF, 0x100);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "not in guest RAM");
    g_assert_true(gpa_read(f->m, KERNEL_PADDR, got, sizeof(got)));
    for (size_t i = 0; i < sizeof(got); i++) {
        g_assert_cmpuint(got[i], ==, 0);
    }
}

static void test_aout_bad(Fixture *f, gconstpointer data)
{
    uint8_t buf[0x1000] = { 0 };
    uint32_t hdr_off = 0x40;

    put_mb_header(buf, hdr_off, 0x10000);
    put32(buf + hdr_off + 12, 0x200000);       /* header_addr */
    put32(buf + hdr_off + 16, 0x100000);       /* load_addr: 1 MiB before */
    put32(buf + hdr_off + 28, 0x200000);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "does not fit");

    put32(buf + hdr_off + 16, 0x200000 - hdr_off);
    put32(buf + hdr_off + 20, 0x200000 + 0x10000);  /* past end of file */
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "image ends before");

    put32(buf + hdr_off + 20, 0);
    put32(buf + hdr_off + 24, 0x200000);        /* bss end below load end */
    write_image(f, buf, sizeof(buf));
    expect_fail(f, "", "bss_end_addr");

    /* Truncated right after the three mandatory fields. */
    write_image(f, buf, hdr_off + 16);
    expect_fail(f, "", "truncated");
}

static void test_cmdline_too_long(Fixture *f, gconstpointer data)
{
    uint8_t buf[FILE_SIZE] = { 0 };
    TSeg seg = { KERNEL_PADDR, KERNEL_PADDR, PAYLOAD_OFF, 0x100, 0x100, 1 };
    g_autofree char *cmd = g_strnfill(64 * 1024, 'x');

    build_elf(buf, false, 3, KERNEL_PADDR, &seg, 1);
    put_mb_header(buf, PAYLOAD_OFF, 0);
    write_image(f, buf, sizeof(buf));
    expect_fail(f, cmd, "command line longer");
}

static void test_missing_file(Fixture *f, gconstpointer data)
{
    expect_fail(f, "", "kernel.elf");
}

static void test_empty_file(Fixture *f, gconstpointer data)
{
    write_image(f, (const uint8_t *)"", 0);
    expect_fail(f, "", "no Multiboot header");
}

#define ADD(name, fn) \
    g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv)
{
    static const uint64_t big_ram = 5ULL << 30;    /* MAP_NORESERVE: free */

    g_test_init(&argc, &argv, NULL);
    ADD("/multiboot/elf32", test_elf32);
    ADD("/multiboot/elf64-high", test_elf64_high);
    ADD("/multiboot/aout-kludge", test_aout_kludge);
    g_test_add("/multiboot/highmem-mmap", Fixture, &big_ram, fixture_setup,
               test_highmem_mmap, fixture_teardown);
    ADD("/multiboot/no-header", test_no_header);
    ADD("/multiboot/bad-checksum", test_bad_checksum);
    ADD("/multiboot/header-misplaced", test_header_misplaced);
    ADD("/multiboot/unsupported-flags", test_unsupported_flags);
    ADD("/multiboot/wrong-machine", test_wrong_machine);
    ADD("/multiboot/not-elf", test_not_elf);
    ADD("/multiboot/truncated", test_truncated);
    ADD("/multiboot/segment-outside-ram", test_segment_outside_ram);
    ADD("/multiboot/segment-over-info", test_segment_over_info);
    ADD("/multiboot/entry-outside", test_entry_outside);
    ADD("/multiboot/fail-writes-nothing", test_fail_writes_nothing);
    ADD("/multiboot/aout-bad", test_aout_bad);
    ADD("/multiboot/cmdline-too-long", test_cmdline_too_long);
    ADD("/multiboot/missing-file", test_missing_file);
    ADD("/multiboot/empty-file", test_empty_file);
    return g_test_run();
}
