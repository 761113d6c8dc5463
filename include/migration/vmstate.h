/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Device state as data: a VMStateDescription lists a struct's fields (type,
 * offset, size, array length, first version) and its optional subsections;
 * one interpreter saves and loads any description, checking every bound,
 * and describes what it wrote in the stream's vmdesc JSON.
 *
 * Wire format (as QEMU's): fields in table order, integers big-endian,
 * bool as one byte, buffers raw; then each needed subsection as
 * 0x05, name length (u8), name, version (be32), its fields.
 */
#ifndef KVMIG_MIGRATION_VMSTATE_H
#define KVMIG_MIGRATION_VMSTATE_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/stream.h"

#define VMSTATE_SUBSECTION_MARK 0x05

typedef enum VMStateType {
    VMS_BOOL,
    VMS_UINT8,
    VMS_UINT16,
    VMS_UINT32,
    VMS_UINT64,
    VMS_INT8,
    VMS_INT16,
    VMS_INT32,
    VMS_INT64,
    VMS_BUFFER,     /* .size raw bytes */
    VMS_VBUFFER,    /* raw bytes, count in the uint32 at .len_offset, at most .size */
    VMS_STRUCT,     /* a nested description (.vmsd), .size = sizeof the struct */
} VMStateType;

typedef struct VMStateDescription VMStateDescription;

typedef struct VMStateField {
    const char *name;           /* NULL ends the table */
    VMStateType type;
    size_t offset;              /* of the (first) element in the struct */
    size_t size;                /* of one element; buffers: bytes (vbuffer: capacity) */
    uint32_t num;               /* array length; 0 = a single element */
    size_t len_offset;          /* VMS_VBUFFER: offset of its uint32 length */
    int version_id;             /* the field exists from this version on */
    const VMStateDescription *vmsd;     /* VMS_STRUCT */
} VMStateField;

struct VMStateDescription {
    const char *name;           /* "serial"; subsections: "serial/fifo" */
    int version_id;             /* what save writes */
    int minimum_version_id;     /* oldest load accepts */
    size_t size;                /* sizeof the struct, bounds-checked at check time */
    /* Subsections only: saved (and expected) only when this returns true. */
    bool (*needed)(void *opaque);
    /* Called before saving (e.g. fetch registers).  May be NULL. */
    bool (*pre_save)(void *opaque, GError **errp);
    /* Called before loading.  May be NULL. */
    bool (*pre_load)(void *opaque, GError **errp);
    /* Called after loading, with the stream's version.  May be NULL. */
    bool (*post_load)(void *opaque, int version_id, GError **errp);
    const VMStateField *fields;
    const VMStateDescription *const *subsections;   /* NULL-terminated; may be NULL */
};

/*
 * Field constructors.  The size check makes a type mismatch between the
 * macro and the struct member a compile error (negative array size).
 */
#define VMSTATE_SIZE_CHECK_(st, f, sz) \
    (0 * sizeof(char[sizeof(((st *)0)->f) == (sz) ? 1 : -1]))
#define VMSTATE_SCALAR_(st, f, t, sz, v) \
    { .name = #f, .type = (t), .offset = offsetof(st, f), \
      .size = (sz) + VMSTATE_SIZE_CHECK_(st, f, sz), .version_id = (v) }
#define VMSTATE_ARRAY_(st, f, t, sz, n, v) \
    { .name = #f, .type = (t), .offset = offsetof(st, f), \
      .size = (sz) + VMSTATE_SIZE_CHECK_(st, f, (sz) * (n)), .num = (n), .version_id = (v) }

#define VMSTATE_BOOL_V(f, st, v)    VMSTATE_SCALAR_(st, f, VMS_BOOL, sizeof(bool), v)
#define VMSTATE_UINT8_V(f, st, v)   VMSTATE_SCALAR_(st, f, VMS_UINT8, 1, v)
#define VMSTATE_UINT16_V(f, st, v)  VMSTATE_SCALAR_(st, f, VMS_UINT16, 2, v)
#define VMSTATE_UINT32_V(f, st, v)  VMSTATE_SCALAR_(st, f, VMS_UINT32, 4, v)
#define VMSTATE_UINT64_V(f, st, v)  VMSTATE_SCALAR_(st, f, VMS_UINT64, 8, v)
#define VMSTATE_INT32_V(f, st, v)   VMSTATE_SCALAR_(st, f, VMS_INT32, 4, v)
#define VMSTATE_INT64_V(f, st, v)   VMSTATE_SCALAR_(st, f, VMS_INT64, 8, v)
#define VMSTATE_BOOL(f, st)         VMSTATE_BOOL_V(f, st, 0)
#define VMSTATE_UINT8(f, st)        VMSTATE_UINT8_V(f, st, 0)
#define VMSTATE_UINT16(f, st)       VMSTATE_UINT16_V(f, st, 0)
#define VMSTATE_UINT32(f, st)       VMSTATE_UINT32_V(f, st, 0)
#define VMSTATE_UINT64(f, st)       VMSTATE_UINT64_V(f, st, 0)
#define VMSTATE_INT32(f, st)        VMSTATE_INT32_V(f, st, 0)
#define VMSTATE_INT64(f, st)        VMSTATE_INT64_V(f, st, 0)

#define VMSTATE_UINT8_ARRAY(f, st, n)   VMSTATE_ARRAY_(st, f, VMS_UINT8, 1, n, 0)
#define VMSTATE_UINT16_ARRAY(f, st, n)  VMSTATE_ARRAY_(st, f, VMS_UINT16, 2, n, 0)
#define VMSTATE_UINT32_ARRAY(f, st, n)  VMSTATE_ARRAY_(st, f, VMS_UINT32, 4, n, 0)
#define VMSTATE_UINT64_ARRAY(f, st, n)  VMSTATE_ARRAY_(st, f, VMS_UINT64, 8, n, 0)
#define VMSTATE_UINT64_ARRAY_V(f, st, n, v) VMSTATE_ARRAY_(st, f, VMS_UINT64, 8, n, v)

/* A fixed-size byte array member (char buf[N] / uint8_t buf[N]). */
#define VMSTATE_BUFFER_V(f, st, v) \
    { .name = #f, .type = VMS_BUFFER, .offset = offsetof(st, f), \
      .size = sizeof(((st *)0)->f), .version_id = (v) }
#define VMSTATE_BUFFER(f, st) VMSTATE_BUFFER_V(f, st, 0)
/* A byte array member whose used length is the uint32_t member lenf. */
#define VMSTATE_VBUFFER_UINT32(f, st, lenf) \
    { .name = #f, .type = VMS_VBUFFER, .offset = offsetof(st, f), \
      .size = sizeof(((st *)0)->f), .len_offset = offsetof(st, lenf) + \
      VMSTATE_SIZE_CHECK_(st, lenf, 4) }
/* A nested struct (type t, described by d), or an array of n of them. */
#define VMSTATE_STRUCT(f, st, d, t) \
    { .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f), \
      .size = sizeof(t) + VMSTATE_SIZE_CHECK_(st, f, sizeof(t)), .vmsd = &(d) }
#define VMSTATE_STRUCT_ARRAY(f, st, n, d, t) \
    { .name = #f, .type = VMS_STRUCT, .offset = offsetof(st, f), \
      .size = sizeof(t) + VMSTATE_SIZE_CHECK_(st, f, sizeof(t) * (n)), .num = (n), \
      .vmsd = &(d) }
#define VMSTATE_END_OF_LIST() { .name = NULL }

/*
 * vmstate_check: validate a description once, at registration: every field
 * lies inside .size, element sizes match their types, version numbers are
 * sane, nested structs have no subsections (the stream could not tell them
 * from the next field).  Catches table bugs before any migration.
 */
bool vmstate_check(const VMStateDescription *vmsd, GError **errp);

/*
 * vmstate_save: write @opaque as @vmsd (its version_id) and its needed
 * subsections.  When @vmdesc is non-NULL, an object has been begun on it:
 * adds "vmsd_name", "version", "fields" and (if any) "subsections"
 * members, with QEMU's layout.  Returns false with *errp on a pre_save
 * failure or a stream error.
 */
bool vmstate_save(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                  JsonBuilder *vmdesc, GError **errp);

/*
 * vmstate_describe: add to @vmdesc (an object begun on it) exactly what
 * vmstate_save would, without writing a stream and without calling
 * pre_save: it describes the state the last vmstate_save wrote, so it must
 * run while that state is unchanged (the source after switchover, its
 * vCPUs stopped).  Lets the vmdesc JSON be built outside the downtime.
 */
bool vmstate_describe(const VMStateDescription *vmsd, void *opaque, JsonBuilder *vmdesc,
                      GError **errp);

/*
 * vmstate_load: read @opaque as @vmsd written at @version_id.  Refuses a
 * version outside [minimum_version_id, version_id], a buffer length over
 * its capacity, an unknown subsection, a short stream.  Every error names
 * the description and the field.  On failure @opaque may be partly
 * written.
 */
bool vmstate_load(MigStream *f, const VMStateDescription *vmsd, void *opaque,
                  int version_id, GError **errp);

/* QEMU's vmdesc type name of a field ("uint32", "buffer", "struct"). */
const char *vmstate_type_name(VMStateType t);

#endif
