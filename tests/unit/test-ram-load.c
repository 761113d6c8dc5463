/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the destination's loader over a memory channel: hand-built
 * valid and malformed streams (RAM records and the section layer), every
 * truncation, and save/load round trips between two machines (RAM, and a
 * registered device section).  Links the migration layer and those below
 * it only (tests/unit/meson.build): no hw/, accel/ or monitor/.
 */
#include <string.h>
#include <sys/mman.h>

#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/machine.h"
#include "util/pagemap.h"

#define RAM_SIZE (16ULL << 20)

typedef struct Fixture {
    Machine *m;
    SaveVMRegistry *reg;
    RAMState *rs;
} Fixture;

static void fixture_init(Fixture *fx)
{
    g_autoptr(GError) err = NULL;

    fx->m = machine_new(RAM_SIZE, 1, &err);
    g_assert_no_error(err);
    fx->reg = savevm_registry_new();
    fx->rs = ram_register(fx->reg, fx->m, NULL, NULL, &err);
    g_assert_no_error(err);
}

static void fixture_free(Fixture *fx)
{
    savevm_registry_free(fx->reg);
    ram_state_free(fx->rs);
    machine_free(fx->m);
}

/* ---- stream builder ---- */

static void b8(GByteArray *b, uint8_t v)
{
    g_byte_array_append(b, &v, 1);
}

static void b32(GByteArray *b, uint32_t v)
{
    uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };
    g_byte_array_append(b, x, 4);
}

static void b64(GByteArray *b, uint64_t v)
{
    b32(b, v >> 32);
    b32(b, v);
}

static void bstr(GByteArray *b, const char *s)
{
    b8(b, strlen(s));
    g_byte_array_append(b, (const uint8_t *)s, strlen(s));
}

static void header(GByteArray *b)
{
    b32(b, QEMU_VM_FILE_MAGIC);
    b32(b, QEMU_VM_FILE_VERSION);
    b8(b, QEMU_VM_CONFIGURATION);
    b32(b, strlen(SAVEVM_MACHINE_NAME));
    g_byte_array_append(b, (const uint8_t *)SAVEVM_MACHINE_NAME, strlen(SAVEVM_MACHINE_NAME));
}

static void section_start(GByteArray *b, uint32_t id, const char *name, uint32_t version)
{
    b8(b, QEMU_VM_SECTION_START);
    b32(b, id);
    bstr(b, name);
    b32(b, 0);
    b32(b, version);
}

static void section_part(GByteArray *b, uint8_t type, uint32_t id)
{
    b8(b, type);
    b32(b, id);
}

static void footer(GByteArray *b, uint32_t id)
{
    b8(b, QEMU_VM_SECTION_FOOTER);
    b32(b, id);
}

static void mem_size(GByteArray *b, uint64_t total, const char *name, uint64_t len)
{
    b64(b, total | RAM_SAVE_FLAG_MEM_SIZE);
    bstr(b, name);
    b64(b, len);
}

/* A valid stream up to (not including) the PART payload. */
static GByteArray *prologue(void)
{
    GByteArray *b = g_byte_array_new();

    header(b);
    section_start(b, 3, "ram", 4);
    mem_size(b, RAM_SIZE, "pc.ram", RAM_SIZE);
    b64(b, RAM_SAVE_FLAG_EOS);
    footer(b, 3);
    section_part(b, QEMU_VM_SECTION_PART, 3);
    return b;
}

/* Close a stream whose PART payload was just written (ending with EOS). */
static void epilogue(GByteArray *b)
{
    footer(b, 3);
    section_part(b, QEMU_VM_SECTION_END, 3);
    b64(b, RAM_SAVE_FLAG_EOS);
    footer(b, 3);
    b8(b, QEMU_VM_EOF);
}

static bool load_bytes(Fixture *fx, const uint8_t *data, size_t len, GError **errp)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_reader(data, len));
    bool ok;

    ram_load_reset(fx->rs);
    ok = loadvm_state(fx->reg, f, errp);
    mig_stream_close(f);
    return ok;
}

static void expect_error(GByteArray *b, const char *needle)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;

    fixture_init(&fx);
    g_assert_false(load_bytes(&fx, b->data, b->len, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, needle)) {
        g_error("error '%s' does not contain '%s'", err->message, needle);
    }
    /* one line */
    g_assert_null(strchr(err->message, '\n'));
    fixture_free(&fx);
    g_byte_array_unref(b);
}

static GByteArray *valid_stream(void)
{
    GByteArray *b = prologue();
    uint8_t page[4096];

    memset(page, 0x5a, sizeof(page));
    b64(b, 0x5000 | RAM_SAVE_FLAG_PAGE);
    bstr(b, "pc.ram");
    g_byte_array_append(b, page, sizeof(page));
    b64(b, 0x6000 | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    b8(b, 0);
    b64(b, RAM_SAVE_FLAG_MULTIFD_FLUSH);
    b64(b, RAM_SAVE_FLAG_EOS);
    epilogue(b);
    return b;
}

static void test_valid(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    GByteArray *b = valid_stream();
    uint8_t *host;

    fixture_init(&fx);
    host = fx.m->ram_blocks[0]->host;
    memset(host + 0x6000, 0xee, 4096);
    g_assert_true(load_bytes(&fx, b->data, b->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(host[0x5000], ==, 0x5a);
    g_assert_cmpuint(host[0x5fff], ==, 0x5a);
    g_assert_cmpuint(host[0x6000], ==, 0);      /* ZERO cleared a dirty page */
    g_assert_cmpuint(host[0x6fff], ==, 0);
    g_assert_cmpuint(fx.rs->pages_loaded, ==, 1);
    g_assert_cmpuint(fx.rs->zero_pages_loaded, ==, 1);
    fixture_free(&fx);

    /* every truncation fails cleanly */
    for (size_t n = 0; n < b->len; n++) {
        g_autoptr(GError) e = NULL;
        fixture_init(&fx);
        g_assert_false(load_bytes(&fx, b->data, n, &e));
        g_assert_nonnull(e);
        fixture_free(&fx);
    }
    g_byte_array_unref(b);
}

static void test_vmdesc_after_eof(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    GByteArray *b = valid_stream();

    b8(b, QEMU_VM_VMDESCRIPTION);
    b32(b, 2);
    g_byte_array_append(b, (const uint8_t *)"{}", 2);
    fixture_init(&fx);
    g_assert_true(load_bytes(&fx, b->data, b->len, &err));
    fixture_free(&fx);
    b->data[b->len - 6] = 0xff;     /* a vmdesc length over the bound */
    expect_error(b, "vmdesc of");
}

static void test_bad_mem_size(void)
{
    GByteArray *b = g_byte_array_new();

    header(b);
    section_start(b, 0, "ram", 4);
    mem_size(b, RAM_SIZE * 2, "pc.ram", RAM_SIZE * 2);
    expect_error(b, "the source has 0x2000000 bytes of RAM, this machine 0x1000000");

    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "ram", 4);
    mem_size(b, RAM_SIZE, "pc.rom", RAM_SIZE);
    expect_error(b, "unknown RAM block 'pc.rom' in MEM_SIZE");

    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "ram", 4);
    b64(b, RAM_SIZE | RAM_SAVE_FLAG_MEM_SIZE);
    bstr(b, "pc.ram");
    b64(b, RAM_SIZE / 2);
    bstr(b, "pc.ram");
    b64(b, RAM_SIZE / 2);
    expect_error(b, "RAM block 'pc.ram' is 0x800000 bytes on the source, 0x1000000 here");
}

static void test_bad_pages(void)
{
    GByteArray *b;

    b = prologue();
    b64(b, RAM_SIZE | RAM_SAVE_FLAG_PAGE);
    bstr(b, "pc.ram");
    expect_error(b, "page offset 0x1000000 is beyond RAM block 'pc.ram'");

    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_ZERO);
    bstr(b, "nope");
    expect_error(b, "page at 0x1000 of unknown RAM block 'nope'");

    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
    expect_error(b, "CONTINUE record at 0x1000 with no block before it");

    b = prologue();
    b64(b, 0x1000 | 0x800);
    expect_error(b, "unknown RAM record flags 0x800 at offset 0x1000");

    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE);
    expect_error(b, "invalid RAM record flags 0xa");

    /* xbzrle: the record's own checks (test_xbzrle for the good ones) */
    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_XBZRLE);
    bstr(b, "pc.ram");
    b8(b, 2);
    b8(b, 0);
    b8(b, 3);
    g_byte_array_append(b, (const uint8_t[]){ 0x00, 0x01, 0xaa }, 3);
    expect_error(b, "XBZRLE page at 0x1000 of RAM block 'pc.ram': encoding flag 0x2, "
                 "expected 0x1");

    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_XBZRLE);
    bstr(b, "pc.ram");
    b8(b, 1);
    b8(b, 0x10);
    b8(b, 0x01);
    expect_error(b, "XBZRLE page at 0x1000 of RAM block 'pc.ram': 4097 bytes of encoding, "
                 "more than a page");

    b = prologue();
    b64(b, 0x2000 | RAM_SAVE_FLAG_XBZRLE);
    bstr(b, "pc.ram");
    b8(b, 1);
    b8(b, 0);
    b8(b, 4);
    g_byte_array_append(b, (const uint8_t[]){ 0xff, 0x1f, 0x02, 0xaa }, 4);  /* past the page */
    expect_error(b, "XBZRLE page at 0x2000 of RAM block 'pc.ram': malformed encoding "
                 "(4 bytes)");

    b = prologue();
    b64(b, 0x2000 | RAM_SAVE_FLAG_XBZRLE);
    bstr(b, "pc.ram");
    b8(b, 1);
    b8(b, 0);
    b8(b, 4);
    g_byte_array_append(b, (const uint8_t[]){ 0x00, 0x03, 0xaa }, 3);       /* cut short */
    expect_error(b, "RAM page at 0x2000: unexpected end of stream");

    b = prologue();
    b64(b, RAM_SIZE | RAM_SAVE_FLAG_XBZRLE);
    bstr(b, "pc.ram");
    expect_error(b, "page offset 0x1000000 is beyond RAM block 'pc.ram'");

    b = prologue();
    b64(b, RAM_SIZE | RAM_SAVE_FLAG_MEM_SIZE);
    expect_error(b, "a second MEM_SIZE record");

    /* a page before MEM_SIZE */
    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "ram", 4);
    b64(b, 0x1000 | RAM_SAVE_FLAG_PAGE);
    expect_error(b, "page record at 0x1000 before MEM_SIZE");

    /* truncated inside a page: names the offset */
    b = prologue();
    b64(b, 0x3000 | RAM_SAVE_FLAG_PAGE);
    bstr(b, "pc.ram");
    b8(b, 1);
    expect_error(b, "RAM page at 0x3000: unexpected end of stream");
}

static void test_bad_sections(void)
{
    GByteArray *b;

    b = g_byte_array_new();
    b32(b, 0x12345678);
    b32(b, 3);
    expect_error(b, "not a migration stream: magic 0x12345678");

    b = g_byte_array_new();
    b32(b, QEMU_VM_FILE_MAGIC);
    b32(b, 2);
    expect_error(b, "unsupported stream version 2");

    b = g_byte_array_new();
    b32(b, QEMU_VM_FILE_MAGIC);
    b32(b, QEMU_VM_FILE_VERSION);
    b8(b, QEMU_VM_CONFIGURATION);
    b32(b, 3);
    g_byte_array_append(b, (const uint8_t *)"q35", 3);
    expect_error(b, "machine type 'q35' in the stream");

    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "floppy", 1);
    expect_error(b, "unknown section 'floppy' instance 0 (id 0)");

    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "ram", 5);
    expect_error(b, "section 'ram' (id 0): version 5 not supported");

    b = g_byte_array_new();
    header(b);
    section_start(b, 0, "ram", 4);
    mem_size(b, RAM_SIZE, "pc.ram", RAM_SIZE);
    b64(b, RAM_SAVE_FLAG_EOS);
    footer(b, 9);
    expect_error(b, "section 'ram' (id 0): bad footer (0x7e, id 9)");

    b = g_byte_array_new();
    header(b);
    section_part(b, QEMU_VM_SECTION_PART, 7);
    expect_error(b, "PART record for an unknown section id 7");

    b = g_byte_array_new();
    header(b);
    b8(b, 0x42);
    expect_error(b, "unknown section type 0x42");

    b = g_byte_array_new();
    header(b);
    b8(b, QEMU_VM_EOF);
    expect_error(b, "section 'ram' instance 0 missing before EOF");
}

/* xbzrle: good XBZRLE records are applied in place, CONTINUE included. */
static void test_xbzrle(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    GByteArray *b = prologue();
    uint8_t page[4096], *host;

    memset(page, 0x5a, sizeof(page));
    b64(b, 0x5000 | RAM_SAVE_FLAG_PAGE);
    bstr(b, "pc.ram");
    g_byte_array_append(b, page, sizeof(page));
    /* bytes 0x10-0x11 become 1 2, byte 0xfff becomes 3 */
    b64(b, 0x5000 | RAM_SAVE_FLAG_XBZRLE | RAM_SAVE_FLAG_CONTINUE);
    b8(b, 1);
    b8(b, 0);
    b8(b, 8);
    g_byte_array_append(b, (const uint8_t[]){ 0x10, 0x02, 1, 2, 0xed, 0x1f, 0x01, 3 }, 8);
    /* an empty encoding: the page is unchanged */
    b64(b, 0x5000 | RAM_SAVE_FLAG_XBZRLE | RAM_SAVE_FLAG_CONTINUE);
    b8(b, 1);
    b8(b, 0);
    b8(b, 0);
    b64(b, RAM_SAVE_FLAG_EOS);
    epilogue(b);

    fixture_init(&fx);
    host = fx.m->ram_blocks[0]->host;
    g_assert_true(load_bytes(&fx, b->data, b->len, &err));
    g_assert_no_error(err);
    page[0x10] = 1;
    page[0x11] = 2;
    page[0xfff] = 3;
    g_assert_cmpmem(host + 0x5000, 4096, page, 4096);
    g_assert_cmpuint(fx.rs->xbzrle_pages_loaded, ==, 2);
    fixture_free(&fx);
    g_byte_array_unref(b);
}

/* Is the kernel able to tell holes here (else the hole checks are moot)? */
static bool holes_known(void)
{
    return strcmp(pagemap_method_name(), "none") != 0;
}

/*
 * X_ZERO_RUN clears the populated pages of its range and leaves the holes
 * alone; a ZERO record for a hole does not populate it either.
 */
static void test_zero_run(void)
{
    Fixture fx;
    g_autoptr(GError) err = NULL;
    GByteArray *b = prologue();
    uint8_t *host;

    b64(b, 0x7000 | RAM_SAVE_FLAG_X_ZERO_RUN);
    bstr(b, "pc.ram");
    b64(b, 4);                                  /* 0x7000 .. 0xafff */
    b64(b, 0xc000 | RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE);
    b8(b, 0);
    b64(b, 0x10000 | RAM_SAVE_FLAG_X_ZERO_RUN | RAM_SAVE_FLAG_CONTINUE);
    b64(b, RAM_SIZE / 4096 - 0x10);             /* to the end of the block */
    b64(b, RAM_SAVE_FLAG_EOS);
    epilogue(b);

    fixture_init(&fx);
    host = fx.m->ram_blocks[0]->host;
    /* 4 KiB pages: a huge page would fill the holes checked below */
    madvise(host, RAM_SIZE, MADV_NOHUGEPAGE);
    memset(host + 0x8000, 0xee, 0x2000);        /* populated, not zero */
    memset(host + RAM_SIZE - 4096, 0x11, 4096); /* the last page */
    g_assert_true(load_bytes(&fx, b->data, b->len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(fx.rs->zero_pages_loaded, ==, 4 + 1 + RAM_SIZE / 4096 - 0x10);
    if (holes_known()) {
        g_assert_false(pagemap_page_populated(host + 0x7000));
        g_assert_false(pagemap_page_populated(host + 0xa000));
        g_assert_false(pagemap_page_populated(host + 0xc000));
        g_assert_false(pagemap_page_populated(host + 0x20000));
    }
    for (uint64_t off = 0x8000; off < 0xa000; off++) {
        g_assert_cmpuint(host[off], ==, 0);
    }
    g_assert_cmpuint(host[RAM_SIZE - 1], ==, 0);
    fixture_free(&fx);

    /* every truncation fails cleanly */
    for (size_t n = 0; n < b->len; n++) {
        g_autoptr(GError) e = NULL;
        fixture_init(&fx);
        g_assert_false(load_bytes(&fx, b->data, n, &e));
        g_assert_nonnull(e);
        fixture_free(&fx);
    }
    g_byte_array_unref(b);

    /* runs that do not fit */
    b = prologue();
    b64(b, 0x7000 | RAM_SAVE_FLAG_X_ZERO_RUN);
    bstr(b, "pc.ram");
    b64(b, 0);
    expect_error(b, "zero run of 0 pages at 0x7000 does not fit in RAM block 'pc.ram'");
    b = prologue();
    b64(b, (RAM_SIZE - 0x2000) | RAM_SAVE_FLAG_X_ZERO_RUN);
    bstr(b, "pc.ram");
    b64(b, 3);
    expect_error(b, "zero run of 3 pages at 0xffe000 does not fit");
    b = prologue();
    b64(b, 0x1000 | RAM_SAVE_FLAG_X_ZERO_RUN);
    bstr(b, "pc.ram");
    b64(b, UINT64_MAX);                         /* n * 4096 would wrap */
    expect_error(b, "zero run of 18446744073709551615 pages at 0x1000 does not fit");
    b = prologue();
    b64(b, RAM_SIZE | RAM_SAVE_FLAG_X_ZERO_RUN);
    bstr(b, "pc.ram");
    expect_error(b, "page offset 0x1000000 is beyond RAM block 'pc.ram'");
}

/*
 * The source's whole save, as the migration thread runs it with the vCPUs
 * stopped at the end: header, setup, passes until nothing is pending,
 * complete, then the cleanup and the vmdesc.  Returns the stream.
 */
static GByteArray *save_stream(Fixture *src)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    g_autoptr(GError) err = NULL;
    GByteArray *out;

    savevm_put_header(f);
    g_assert_true(savevm_save_setup(src->reg, f, &err));
    while (savevm_save_iterate(src->reg, f, &err) == 0) {
    }
    g_assert_no_error(err);
    g_assert_cmpuint(savevm_pending(src->reg, true), ==, 0);
    g_assert_true(savevm_save_complete(src->reg, f, &err));
    g_assert_no_error(err);
    /* after the cleanup, as after an x-early-dirty-log-stop switchover */
    savevm_save_cleanup(src->reg);
    g_assert_true(savevm_put_vmdesc(src->reg, f, &err));
    g_assert_no_error(err);
    g_assert_cmpint(mig_stream_flush(f), ==, 0);
    out = g_byte_array_ref(mig_channel_memory_data(w));
    mig_stream_close(f);
    return out;
}

/* Save a machine's RAM with the real source code path, load it into another. */
static void test_roundtrip(void)
{
    Fixture src, dst;
    g_autoptr(GError) err = NULL;
    GByteArray *out;
    uint8_t *sh, *dh;

    fixture_init(&src);
    fixture_init(&dst);
    sh = src.m->ram_blocks[0]->host;
    dh = dst.m->ram_blocks[0]->host;
    /* 4 KiB pages on the source: a huge page would fill the holes checked below */
    madvise(sh, RAM_SIZE, MADV_NOHUGEPAGE);
    for (uint64_t off = 0; off < RAM_SIZE; off += 4096 * 3) {
        sh[off] = off >> 12;
        sh[off + 4095] = 0xa5;
    }
    memset(dh + 4096, 0x77, 4096);     /* zero on the source: must be cleared */

    out = save_stream(&src);
    g_assert_true(load_bytes(&dst, out->data, out->len, &err));
    g_assert_no_error(err);
    if (holes_known()) {
        /*
         * never-written pages were not read by the source (the destination
         * side is test_zero_run's: here huge pages may fill its holes)
         */
        g_assert_false(pagemap_page_populated(sh + 2 * 4096));
        g_assert_false(pagemap_page_populated(sh + RAM_SIZE - 2 * 4096));
        /* and they went as runs, not a ZERO record each */
        g_assert_cmpuint(out->len, <, (RAM_SIZE / 4096 / 3 + 1) * (4096 + 64) + 4096);
    }
    g_assert_cmpmem(sh, RAM_SIZE, dh, RAM_SIZE);
    g_assert_cmpuint(dst.rs->pages_loaded, ==, (RAM_SIZE / 4096 + 2) / 3);
    /* the vmdesc is the last thing in the stream, after EOF */
    {
        static const char desc[] = "{\"page_size\":4096,\"devices\":[]}";
        g_assert_cmpuint(out->len, >, sizeof(desc));
        g_assert_cmpmem(out->data + out->len - (sizeof(desc) - 1), sizeof(desc) - 1,
                        desc, sizeof(desc) - 1);
    }
    g_byte_array_unref(out);
    fixture_free(&src);
    fixture_free(&dst);
}

/* A device's state, as hw/ registers it (this test links no hw/). */
typedef struct TestDev {
    uint32_t regs;
    uint64_t counter;
    uint8_t fifo[16];
    int loads;                  /* not migrated: post_load calls */
} TestDev;

static bool test_dev_post_load(void *opaque, int version_id, GError **errp)
{
    TestDev *d = opaque;

    d->loads++;
    return true;
}

static const VMStateDescription vmstate_test_dev = {
    .name = "test-dev",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(TestDev),
    .post_load = test_dev_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(regs, TestDev),
        VMSTATE_UINT64(counter, TestDev),
        VMSTATE_BUFFER(fifo, TestDev),
        VMSTATE_END_OF_LIST(),
    },
};

/*
 * A registered device section (two instances) through savevm beside RAM:
 * each instance's FULL section lands in its own registered state, once,
 * and the device list the machine-shape check compares names both.
 */
static void test_device_section(void)
{
    Fixture src, dst;
    TestDev sdev[2] = {
        { .regs = 0x11223344, .counter = UINT64_MAX - 1, .fifo = "sixteen bytes!!" },
        { .regs = 7, .counter = 42, .fifo = { 0xff, 0, 0xfe } },
    };
    TestDev ddev[2] = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *list = NULL;
    GByteArray *out;

    fixture_init(&src);
    fixture_init(&dst);
    for (uint32_t i = 0; i < 2; i++) {
        g_assert_true(savevm_register_vmsd(src.reg, "test-dev", i, &vmstate_test_dev,
                                           &sdev[i], &err));
        g_assert_true(savevm_register_vmsd(dst.reg, "test-dev", i, &vmstate_test_dev,
                                           &ddev[i], &err));
    }
    g_assert_false(savevm_register_vmsd(dst.reg, "test-dev", 1, &vmstate_test_dev,
                                        &ddev[1], &err));
    g_assert_nonnull(strstr(err->message, "registered twice"));
    g_clear_error(&err);
    list = savevm_device_list(src.reg);
    g_assert_cmpstr(list, ==, "test-dev:0,test-dev:1");

    out = save_stream(&src);
    g_assert_true(load_bytes(&dst, out->data, out->len, &err));
    g_assert_no_error(err);
    for (int i = 0; i < 2; i++) {
        g_assert_cmpuint(ddev[i].regs, ==, sdev[i].regs);
        g_assert_cmpuint(ddev[i].counter, ==, sdev[i].counter);
        g_assert_cmpmem(ddev[i].fifo, sizeof(ddev[i].fifo), sdev[i].fifo, sizeof(sdev[i].fifo));
        g_assert_cmpint(ddev[i].loads, ==, 1);
    }
    g_byte_array_unref(out);
    fixture_free(&src);
    fixture_free(&dst);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ram-load/valid", test_valid);
    g_test_add_func("/ram-load/vmdesc", test_vmdesc_after_eof);
    g_test_add_func("/ram-load/bad-mem-size", test_bad_mem_size);
    g_test_add_func("/ram-load/bad-pages", test_bad_pages);
    g_test_add_func("/ram-load/bad-sections", test_bad_sections);
    g_test_add_func("/ram-load/roundtrip", test_roundtrip);
    g_test_add_func("/ram-load/device-section", test_device_section);
    g_test_add_func("/ram-load/zero-run", test_zero_run);
    g_test_add_func("/ram-load/xbzrle", test_xbzrle);
    return g_test_run();
}
