/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one interpreter of VMStateDescription tables: save, load (with every
 * bound checked) and the vmdesc JSON that describes what was saved.
 */
#include <errno.h>
#include <string.h>

#include "migration/channel.h"
#include "migration/vmstate.h"
#include "util/error.h"

static const struct {
    const char *name;
    size_t size;        /* 0: variable */
} type_info[] = {
    [VMS_BOOL] = { "bool", sizeof(bool) },
    [VMS_UINT8] = { "uint8", 1 },
    [VMS_UINT16] = { "uint16", 2 },
    [VMS_UINT32] = { "uint32", 4 },
    [VMS_UINT64] = { "uint64", 8 },
    [VMS_INT8] = { "int8", 1 },
    [VMS_INT16] = { "int16", 2 },
    [VMS_INT32] = { "int32", 4 },
    [VMS_INT64] = { "int64", 8 },
    [VMS_BUFFER] = { "buffer", 0 },
    [VMS_VBUFFER] = { "buffer", 0 },
    [VMS_STRUCT] = { "struct", 0 },
};

const char *vmstate_type_name(VMStateType t)
{
    return (unsigned)t < G_N_ELEMENTS(type_info) ? type_info[t].name : "unknown";
}

static uint32_t field_count(const VMStateField *fl)
{
    return fl->num ? fl->num : 1;
}

static bool check_desc(const VMStateDescription *vmsd, bool nested, GError **errp)
{
    if (!vmsd->name || vmsd->version_id < vmsd->minimum_version_id ||
        vmsd->minimum_version_id < 0) {
        kvmig_error(errp, "vmstate '%s': bad versions %d..%d",
                    vmsd->name ? vmsd->name : "?", vmsd->minimum_version_id,
                    vmsd->version_id);
        return false;
    }
    if (strlen(vmsd->name) > 255) {
        kvmig_error(errp, "vmstate '%.40s...': name longer than 255 bytes", vmsd->name);
        return false;
    }
    if (nested && vmsd->subsections && vmsd->subsections[0]) {
        kvmig_error(errp, "vmstate '%s': a nested struct cannot have subsections",
                    vmsd->name);
        return false;
    }
    for (const VMStateField *fl = vmsd->fields; fl && fl->name; fl++) {
        size_t want = (unsigned)fl->type < G_N_ELEMENTS(type_info) ?
                      type_info[fl->type].size : (size_t)-1;
        uint64_t end = fl->offset + (uint64_t)fl->size * field_count(fl);

        if (want == (size_t)-1 || (want && fl->size != want) || !fl->size) {
            kvmig_error(errp, "vmstate '%s' field '%s': size %zu does not fit type %d",
                        vmsd->name, fl->name, fl->size, fl->type);
            return false;
        }
        if (fl->version_id > vmsd->version_id) {
            kvmig_error(errp, "vmstate '%s' field '%s': version %d is newer than the "
                        "description's %d", vmsd->name, fl->name, fl->version_id,
                        vmsd->version_id);
            return false;
        }
        if (vmsd->size && end > vmsd->size) {
            kvmig_error(errp, "vmstate '%s' field '%s': bytes %zu..%" G_GUINT64_FORMAT
                        " lie outside the %zu-byte struct", vmsd->name, fl->name,
                        fl->offset, end, vmsd->size);
            return false;
        }
        if (fl->type == VMS_VBUFFER &&
            (fl->num || (vmsd->size && fl->len_offset + 4 > vmsd->size))) {
            kvmig_error(errp, "vmstate '%s' field '%s': bad length field", vmsd->name,
                        fl->name);
            return false;
        }
        if (fl->type == VMS_STRUCT) {
            if (!fl->vmsd || (fl->vmsd->size && fl->vmsd->size != fl->size)) {
                kvmig_error(errp, "vmstate '%s' field '%s': bad struct description",
                            vmsd->name, fl->name);
                return false;
            }
            if (!check_desc(fl->vmsd, true, errp)) {
                return false;
            }
        }
    }
    for (const VMStateDescription *const *sub = vmsd->subsections; sub && *sub; sub++) {
        if (!g_str_has_prefix((*sub)->name, vmsd->name) ||
            (*sub)->name[strlen(vmsd->name)] != '/') {
            kvmig_error(errp, "vmstate '%s': subsection '%s' must be named '%s/...'",
                        vmsd->name, (*sub)->name, vmsd->name);
            return false;
        }
        if (!check_desc(*sub, false, errp)) {
            return false;
        }
    }
    return true;
}

bool vmstate_check(const VMStateDescription *vmsd, GError **errp)
{
    return check_desc(vmsd, false, errp);
}

/* ---- save ---- */

static void put_scalar(MigStream *f, VMStateType t, const void *p)
{
    switch (t) {
    case VMS_BOOL:
        mig_stream_put_u8(f, *(const bool *)p ? 1 : 0);
        break;
    case VMS_UINT8:
    case VMS_INT8:
        mig_stream_put_u8(f, *(const uint8_t *)p);
        break;
    case VMS_UINT16:
    case VMS_INT16:
        mig_stream_put_be16(f, *(const uint16_t *)p);
        break;
    case VMS_UINT32:
    case VMS_INT32:
        mig_stream_put_be32(f, *(const uint32_t *)p);
        break;
    case VMS_UINT64:
    case VMS_INT64:
        mig_stream_put_be64(f, *(const uint64_t *)p);
        break;
    default:
        g_assert_not_reached();
    }
}

static bool save_fields(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                        JsonBuilder *vmdesc, bool hooks, GError **errp);

static bool save_one(MigStream *f, const VMStateDescription *vmsd, const VMStateField *fl,
                     uint8_t *elem, void *opaque, JsonBuilder *vmdesc, bool hooks,
                     GError **errp)
{
    switch (fl->type) {
    case VMS_BUFFER:
        mig_stream_put_buffer(f, elem, fl->size);
        return true;
    case VMS_VBUFFER: {
        uint32_t len;
        memcpy(&len, (uint8_t *)opaque + fl->len_offset, 4);
        if (len > fl->size) {
            kvmig_error(errp, "vmstate '%s' field '%s': length %u exceeds %zu",
                        vmsd->name, fl->name, len, fl->size);
            return false;
        }
        mig_stream_put_buffer(f, elem, len);
        return true;
    }
    case VMS_STRUCT:
        if (vmdesc) {
            json_builder_set_member_name(vmdesc, "struct");
            json_builder_begin_object(vmdesc);
        }
        if (!save_fields(f, fl->vmsd, elem, vmdesc, hooks, errp)) {
            return false;
        }
        if (vmdesc) {
            json_builder_end_object(vmdesc);
        }
        return true;
    default:
        put_scalar(f, fl->type, elem);
        return true;
    }
}

/*
 * Fields of one description (no subsections): QEMU's "fields" array.
 * @hooks false: describe what the last save wrote, without calling
 * pre_save again (vmstate_describe).
 */
static bool save_fields(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                        JsonBuilder *vmdesc, bool hooks, GError **errp)
{
    if (hooks && vmsd->pre_save && !vmsd->pre_save(opaque, errp)) {
        return false;
    }
    if (vmdesc) {
        json_builder_set_member_name(vmdesc, "vmsd_name");
        json_builder_add_string_value(vmdesc, vmsd->name);
        json_builder_set_member_name(vmdesc, "version");
        json_builder_add_int_value(vmdesc, vmsd->version_id);
        json_builder_set_member_name(vmdesc, "fields");
        json_builder_begin_array(vmdesc);
    }
    for (const VMStateField *fl = vmsd->fields; fl && fl->name; fl++) {
        uint32_t n = field_count(fl);
        JsonBuilder *desc = vmdesc;

        if (fl->version_id > vmsd->version_id) {
            continue;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint8_t *elem = (uint8_t *)opaque + fl->offset + (size_t)fl->size * i;
            uint64_t before = mig_stream_transferred(f);

            if (desc) {
                json_builder_begin_object(desc);
                json_builder_set_member_name(desc, "name");
                json_builder_add_string_value(desc, fl->name);
                if (fl->num > 1) {
                    /* every element has the same layout: describe the first */
                    json_builder_set_member_name(desc, "array_len");
                    json_builder_add_int_value(desc, fl->num);
                }
                json_builder_set_member_name(desc, "type");
                json_builder_add_string_value(desc, vmstate_type_name(fl->type));
            }
            if (!save_one(f, vmsd, fl, elem, opaque, desc, hooks, errp)) {
                return false;
            }
            if (desc) {
                json_builder_set_member_name(desc, "size");
                json_builder_add_int_value(desc, mig_stream_transferred(f) - before);
                json_builder_end_object(desc);
                desc = NULL;
            }
        }
    }
    if (vmdesc) {
        json_builder_end_array(vmdesc);
    }
    if (mig_stream_error(f)) {
        kvmig_error(errp, "saving '%s': %s", vmsd->name, mig_stream_error_msg(f));
        return false;
    }
    return true;
}

static bool save_desc(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                      JsonBuilder *vmdesc, bool hooks, GError **errp)
{
    bool any_sub = false;

    if (!save_fields(f, vmsd, opaque, vmdesc, hooks, errp)) {
        return false;
    }
    for (const VMStateDescription *const *sub = vmsd->subsections; sub && *sub; sub++) {
        const VMStateDescription *s = *sub;
        size_t len = strlen(s->name);

        if (s->needed && !s->needed(opaque)) {
            continue;
        }
        if (vmdesc) {
            if (!any_sub) {
                json_builder_set_member_name(vmdesc, "subsections");
                json_builder_begin_array(vmdesc);
            }
            json_builder_begin_object(vmdesc);
        }
        any_sub = true;
        mig_stream_put_u8(f, VMSTATE_SUBSECTION_MARK);
        mig_stream_put_u8(f, len);
        mig_stream_put_buffer(f, s->name, len);
        mig_stream_put_be32(f, s->version_id);
        if (!save_desc(f, s, opaque, vmdesc, hooks, errp)) {
            return false;
        }
        if (vmdesc) {
            json_builder_end_object(vmdesc);
        }
    }
    if (vmdesc && any_sub) {
        json_builder_end_array(vmdesc);
    }
    return true;
}

bool vmstate_save(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                  JsonBuilder *vmdesc, GError **errp)
{
    return save_desc(f, vmsd, opaque, vmdesc, true, errp);
}

bool vmstate_describe(const VMStateDescription *vmsd, void *opaque, JsonBuilder *vmdesc,
                      GError **errp)
{
    MigStream *f = mig_stream_new(mig_channel_new_memory_writer());
    bool ok = save_desc(f, vmsd, opaque, vmdesc, false, errp);

    mig_stream_close(f);
    return ok;
}

/* ---- load ---- */

static bool stream_ok(MigStream *f, const VMStateDescription *vmsd, const char *field,
                      GError **errp)
{
    if (mig_stream_error(f)) {
        kvmig_error(errp, "vmstate '%s'%s%s%s: %s", vmsd->name,
                    field ? " field '" : "", field ? field : "", field ? "'" : "",
                    mig_stream_error_msg(f));
        return false;
    }
    return true;
}

static void get_scalar(MigStream *f, VMStateType t, void *p)
{
    switch (t) {
    case VMS_BOOL: {
        *(bool *)p = mig_stream_get_u8(f) != 0;
        break;
    }
    case VMS_UINT8:
    case VMS_INT8:
        *(uint8_t *)p = mig_stream_get_u8(f);
        break;
    case VMS_UINT16:
    case VMS_INT16:
        *(uint16_t *)p = mig_stream_get_be16(f);
        break;
    case VMS_UINT32:
    case VMS_INT32:
        *(uint32_t *)p = mig_stream_get_be32(f);
        break;
    case VMS_UINT64:
    case VMS_INT64:
        *(uint64_t *)p = mig_stream_get_be64(f);
        break;
    default:
        g_assert_not_reached();
    }
}

static bool load_fields(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                        int version_id, GError **errp);

static bool load_one(MigStream *f, const VMStateDescription *vmsd, const VMStateField *fl,
                     uint8_t *elem, void *opaque, GError **errp)
{
    switch (fl->type) {
    case VMS_BUFFER:
        mig_stream_get_buffer(f, elem, fl->size);
        break;
    case VMS_VBUFFER: {
        uint32_t len;
        memcpy(&len, (uint8_t *)opaque + fl->len_offset, 4);
        if (len > fl->size) {
            kvmig_error(errp, "vmstate '%s' field '%s': length %u exceeds its %zu bytes",
                        vmsd->name, fl->name, len, fl->size);
            return false;
        }
        mig_stream_get_buffer(f, elem, len);
        break;
    }
    case VMS_STRUCT:
        /* nested structs are written at their own current version */
        return load_fields(f, fl->vmsd, elem, fl->vmsd->version_id, errp);
    default:
        get_scalar(f, fl->type, elem);
        break;
    }
    return stream_ok(f, vmsd, fl->name, errp);
}

static bool load_fields(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                        int version_id, GError **errp)
{
    if (version_id > vmsd->version_id || version_id < vmsd->minimum_version_id) {
        kvmig_error(errp, "vmstate '%s': version %d not supported (accepts %d..%d)",
                    vmsd->name, version_id, vmsd->minimum_version_id, vmsd->version_id);
        return false;
    }
    if (vmsd->pre_load && !vmsd->pre_load(opaque, errp)) {
        return false;
    }
    for (const VMStateField *fl = vmsd->fields; fl && fl->name; fl++) {
        if (fl->version_id > version_id) {
            continue;
        }
        for (uint32_t i = 0; i < field_count(fl); i++) {
            uint8_t *elem = (uint8_t *)opaque + fl->offset + (size_t)fl->size * i;
            if (!load_one(f, vmsd, fl, elem, opaque, errp)) {
                return false;
            }
        }
    }
    return true;
}

static const VMStateDescription *find_sub(const VMStateDescription *vmsd, const char *name)
{
    for (const VMStateDescription *const *sub = vmsd->subsections; sub && *sub; sub++) {
        if (!strcmp((*sub)->name, name)) {
            return *sub;
        }
    }
    return NULL;
}

bool vmstate_load(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                  int version_id, GError **errp)
{
    uint8_t mark;

    if (!load_fields(f, vmsd, opaque, version_id, errp)) {
        return false;
    }
    /*
     * Subsections follow only descriptions that declare some; anything else
     * (the section footer) is left for the caller.
     */
    while (vmsd->subsections && mig_stream_peek_u8(f, &mark) &&
           mark == VMSTATE_SUBSECTION_MARK) {
        char name[256];
        uint8_t len;
        uint32_t sub_version;
        const VMStateDescription *sub;

        mig_stream_get_u8(f);
        len = mig_stream_get_u8(f);
        mig_stream_get_buffer(f, name, len);
        name[len] = 0;
        sub_version = mig_stream_get_be32(f);
        if (!stream_ok(f, vmsd, NULL, errp)) {
            return false;
        }
        sub = find_sub(vmsd, name);
        if (!sub) {
            g_autofree char *esc = g_strescape(name, NULL);
            kvmig_error(errp, "vmstate '%s': unknown subsection '%s'", vmsd->name, esc);
            return false;
        }
        if (sub_version > INT32_MAX) {
            kvmig_error(errp, "vmstate '%s': bad version %u", sub->name, sub_version);
            return false;
        }
        if (!vmstate_load(f, sub, opaque, (int)sub_version, errp)) {
            return false;
        }
    }
    if (!stream_ok(f, vmsd, NULL, errp)) {
        return false;
    }
    if (vmsd->post_load && !vmsd->post_load(opaque, version_id, errp)) {
        return false;
    }
    return true;
}
