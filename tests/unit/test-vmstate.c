/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the vmstate interpreter: golden bytes, vmdesc, versions, subsections, bounds. */
#include <string.h>

#include "migration/vmstate.h"

typedef struct Inner {
    uint16_t a;
    uint32_t b;
} Inner;

typedef struct Dev {
    uint8_t u8;
    bool flag;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t s32;
    uint16_t arr[3];
    uint8_t buf[4];
    uint32_t name_len;
    char name[8];
    Inner inner;
    uint64_t v2only;            /* version 2 */
    uint32_t extra;             /* subsection "dev/extra" */
    bool extra_needed;
    int post_load_calls;
} Dev;

static const VMStateDescription vmstate_inner = {
    .name = "inner",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(Inner),
    .fields = (const VMStateField[]) {
        VMSTATE_UINT16(a, Inner),
        VMSTATE_UINT32(b, Inner),
        VMSTATE_END_OF_LIST(),
    },
};

static bool extra_needed(void *opaque)
{
    return ((Dev *)opaque)->extra_needed;
}

static const VMStateDescription vmstate_dev_extra = {
    .name = "dev/extra",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(Dev),
    .needed = extra_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(extra, Dev),
        VMSTATE_END_OF_LIST(),
    },
};

static bool dev_post_load(void *opaque, int version_id, GError **errp)
{
    ((Dev *)opaque)->post_load_calls++;
    return true;
}

static const VMStateDescription vmstate_dev = {
    .name = "dev",
    .version_id = 2,
    .minimum_version_id = 1,
    .size = sizeof(Dev),
    .post_load = dev_post_load,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT8(u8, Dev),
        VMSTATE_BOOL(flag, Dev),
        VMSTATE_UINT16(u16, Dev),
        VMSTATE_UINT32(u32, Dev),
        VMSTATE_UINT64(u64, Dev),
        VMSTATE_INT32(s32, Dev),
        VMSTATE_UINT16_ARRAY(arr, Dev, 3),
        VMSTATE_BUFFER(buf, Dev),
        VMSTATE_UINT32(name_len, Dev),
        VMSTATE_VBUFFER_UINT32(name, Dev, name_len),
        VMSTATE_STRUCT(inner, Dev, vmstate_inner, Inner),
        VMSTATE_UINT64_V(v2only, Dev, 2),
        VMSTATE_END_OF_LIST(),
    },
    .subsections = (const VMStateDescription *const[]) {
        &vmstate_dev_extra,
        NULL,
    },
};

static const Dev sample = {
    .u8 = 0x11, .flag = true, .u16 = 0x2233, .u32 = 0x44556677,
    .u64 = 0x8899aabbccddeeffULL, .s32 = -2, .arr = { 1, 2, 0xfffe },
    .buf = { 'a', 'b', 'c', 'd' }, .name_len = 3, .name = "xyz",
    .inner = { .a = 0x0102, .b = 0x03040506 }, .v2only = 7, .extra = 0xcafe,
};

/* The wire format, pinned. */
static const uint8_t golden[] = {
    0x11,                                           /* u8 */
    0x01,                                           /* flag */
    0x22, 0x33,                                     /* u16 */
    0x44, 0x55, 0x66, 0x77,                         /* u32 */
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* u64 */
    0xff, 0xff, 0xff, 0xfe,                         /* s32 = -2 */
    0x00, 0x01, 0x00, 0x02, 0xff, 0xfe,             /* arr */
    'a', 'b', 'c', 'd',                             /* buf */
    0x00, 0x00, 0x00, 0x03, 'x', 'y', 'z',          /* name_len, name */
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06,             /* inner */
    0, 0, 0, 0, 0, 0, 0, 7,                         /* v2only */
};

static const uint8_t golden_sub[] = {
    0x05, 9, 'd', 'e', 'v', '/', 'e', 'x', 't', 'r', 'a', 0, 0, 0, 1,
    0x00, 0x00, 0xca, 0xfe,
};

static GByteArray *save(const Dev *d, char **json)
{
    MigChannel *w = mig_channel_new_memory_writer();
    MigStream *f = mig_stream_new(w);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GError) err = NULL;
    GByteArray *out;

    json_builder_begin_object(b);
    g_assert_true(vmstate_save(f, &vmstate_dev, (void *)d, b, &err));
    g_assert_no_error(err);
    json_builder_end_object(b);
    mig_stream_flush(f);
    out = g_byte_array_ref(mig_channel_memory_data(w));
    mig_stream_close(f);
    if (json) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        *json = json_generator_to_data(gen, NULL);
    }
    return out;
}

static bool load(const uint8_t *data, size_t len, Dev *d, int version, GError **errp)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_reader(data, len));
    bool ok = vmstate_load(f, &vmstate_dev, d, version, errp);

    mig_stream_close(f);
    return ok;
}

static void test_check_tables(void)
{
    g_autoptr(GError) err = NULL;

    g_assert_true(vmstate_check(&vmstate_dev, &err));
    g_assert_no_error(err);
}

static void test_golden(void)
{
    g_autofree char *json = NULL;
    GByteArray *out = save(&sample, &json);
    Dev d = { 0 };
    g_autoptr(GError) err = NULL;

    g_assert_cmpmem(out->data, out->len, golden, sizeof(golden));
    g_assert_true(load(out->data, out->len, &d, 2, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(d.u64, ==, sample.u64);
    g_assert_cmpint(d.s32, ==, -2);
    g_assert_cmpmem(d.name, 3, "xyz", 3);
    g_assert_cmpuint(d.inner.b, ==, sample.inner.b);
    g_assert_cmpuint(d.v2only, ==, 7);
    g_assert_cmpint(d.post_load_calls, ==, 1);
    g_byte_array_unref(out);

    /* the vmdesc, in QEMU's layout (array described once, with array_len) */
    g_assert_nonnull(strstr(json, "\"vmsd_name\":\"dev\",\"version\":2,\"fields\":["));
    g_assert_nonnull(strstr(json, "{\"name\":\"u8\",\"type\":\"uint8\",\"size\":1}"));
    g_assert_nonnull(strstr(json, "{\"name\":\"arr\",\"array_len\":3,\"type\":\"uint16\","
                                  "\"size\":2}"));
    g_assert_nonnull(strstr(json, "{\"name\":\"name\",\"type\":\"buffer\",\"size\":3}"));
    g_assert_nonnull(strstr(json, "{\"name\":\"inner\",\"type\":\"struct\",\"struct\":"
                                  "{\"vmsd_name\":\"inner\",\"version\":1,\"fields\":["));
    g_assert_null(strstr(json, "subsections"));
}

static char *describe(const Dev *d)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) err = NULL;

    json_builder_begin_object(b);
    g_assert_true(vmstate_describe(&vmstate_dev, (void *)d, b, &err));
    g_assert_no_error(err);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* Describing after the save gives the vmdesc the save would have built. */
static void test_describe(void)
{
    for (int needed = 0; needed < 2; needed++) {
        Dev src = sample;
        g_autofree char *saved = NULL, *described = NULL;

        src.extra_needed = needed;
        g_byte_array_unref(save(&src, &saved));
        described = describe(&src);
        g_assert_cmpstr(described, ==, saved);
        g_assert_true((strstr(described, "subsections") != NULL) == needed);
    }
}

static void test_subsection(void)
{
    Dev src = sample, d = { 0 };
    g_autofree char *json = NULL;
    GByteArray *out;
    g_autoptr(GError) err = NULL;

    src.extra_needed = true;
    out = save(&src, &json);
    g_assert_cmpuint(out->len, ==, sizeof(golden) + sizeof(golden_sub));
    g_assert_cmpmem(out->data + sizeof(golden), sizeof(golden_sub), golden_sub,
                    sizeof(golden_sub));
    g_assert_nonnull(strstr(json, "\"subsections\":[{\"vmsd_name\":\"dev/extra\""));
    g_assert_true(load(out->data, out->len, &d, 2, &err));
    g_assert_cmpuint(d.extra, ==, 0xcafe);

    /* an unknown subsection is refused by name */
    out->data[sizeof(golden) + 2 + 4] = 'X';
    g_assert_false(load(out->data, out->len, &d, 2, &err));
    g_assert_nonnull(strstr(err->message, "unknown subsection 'dev/Xxtra'"));
    g_byte_array_unref(out);
}

static void test_versions(void)
{
    Dev d = { 0 };
    g_autoptr(GError) err = NULL;

    /* version 1 has no v2only: 8 bytes shorter, loads */
    g_assert_true(load(golden, sizeof(golden) - 8, &d, 1, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(d.v2only, ==, 0);
    g_assert_false(load(golden, sizeof(golden), &d, 3, &err));
    g_assert_nonnull(strstr(err->message, "version 3 not supported (accepts 1..2)"));
    g_clear_error(&err);
    g_assert_false(load(golden, sizeof(golden), &d, 0, &err));
    g_assert_nonnull(err);
}

static void test_bounds(void)
{
    uint8_t bad[sizeof(golden)];
    Dev d = { 0 };
    g_autoptr(GError) err = NULL;

    /* a buffer length beyond the member's capacity */
    memcpy(bad, golden, sizeof(bad));
    bad[33] = 9;        /* name_len = 9 > 8 */
    g_assert_false(load(bad, sizeof(bad), &d, 2, &err));
    g_assert_nonnull(strstr(err->message, "field 'name': length 9 exceeds"));
    g_clear_error(&err);

    /* truncated at every length: an error, never a crash */
    for (size_t n = 0; n < sizeof(golden); n++) {
        g_assert_false(load(golden, n, &d, 2, &err));
        g_assert_nonnull(strstr(err->message, "vmstate '"));
        g_clear_error(&err);
    }
}

typedef struct Small {
    uint32_t x;
} Small;

static void test_check_rejects_bad_tables(void)
{
    static const VMStateField outside[] = {
        { .name = "x", .type = VMS_UINT64, .offset = 0, .size = 8 },
        VMSTATE_END_OF_LIST(),
    };
    static const VMStateDescription bad_size = {
        .name = "bad", .version_id = 1, .minimum_version_id = 1,
        .size = sizeof(Small), .fields = outside,
    };
    static const VMStateField wrong_type[] = {
        { .name = "x", .type = VMS_UINT16, .offset = 0, .size = 4 },
        VMSTATE_END_OF_LIST(),
    };
    static const VMStateDescription bad_type = {
        .name = "bad", .version_id = 1, .minimum_version_id = 1,
        .size = sizeof(Small), .fields = wrong_type,
    };
    static const VMStateDescription bad_version = {
        .name = "bad", .version_id = 1, .minimum_version_id = 2,
        .size = sizeof(Small), .fields = wrong_type,
    };
    g_autoptr(GError) err = NULL;

    g_assert_false(vmstate_check(&bad_size, &err));
    g_assert_nonnull(strstr(err->message, "outside"));
    g_clear_error(&err);
    g_assert_false(vmstate_check(&bad_type, &err));
    g_clear_error(&err);
    g_assert_false(vmstate_check(&bad_version, &err));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/check", test_check_tables);
    g_test_add_func("/vmstate/golden", test_golden);
    g_test_add_func("/vmstate/subsection", test_subsection);
    g_test_add_func("/vmstate/describe", test_describe);
    g_test_add_func("/vmstate/versions", test_versions);
    g_test_add_func("/vmstate/bounds", test_bounds);
    g_test_add_func("/vmstate/check-rejects", test_check_rejects_bad_tables);
    return g_test_run();
}
