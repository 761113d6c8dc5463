/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The section layer of the migration stream, as QEMU lays it out: header
 * and configuration, live sections (START/PART/END) and device sections
 * (FULL), each closed by a footer, EOF, and the vmdesc JSON after EOF that
 * tools such as analyze-migration.py read.  Also the destination's loader
 * of that layer.
 */
#include <errno.h>
#include <string.h>

#include "migration/migration-int.h"
#include "migration/postcopy.h"
#include "migration/return-path.h"
#include "migration/savevm.h"
#include "system/memory.h"
#include "util/error.h"

typedef struct SaveStateEntry {
    char *idstr;
    uint32_t instance_id;
    uint32_t section_id;
    int version_id;
    const SaveVMHandlers *ops;          /* live sections */
    const VMStateDescription *vmsd;     /* device sections */
    void *opaque;
    bool early;
    uint32_t load_id;                   /* loader: the source's section id */
    bool seen;                          /* loader: got its START/FULL */
    bool ended;                         /* loader: got its END/FULL */
} SaveStateEntry;

struct SaveVMRegistry {
    GPtrArray *entries;                 /* SaveStateEntry, registration order */
    uint32_t next_section_id;
    JsonBuilder *vmdesc;                /* source: built during one save */
    int64_t load_switchover_us;         /* loader: first END record (0: none yet) */
    /*
     * loader: live sections by the source's id, for one load; shared by
     * the incoming thread and, once postcopy listens, the listen thread
     * (which only looks ids up: every START came before LISTEN)
     */
    GHashTable *load_ids;
    /* loader: postcopy's commands (set by postcopy-ram.c), may be NULL */
    LoadVMCommandFn cmd_fn;
    void *cmd_opaque;
    /* loader: a LISTEN handed the rest of the main stream to another thread */
    bool load_handed_off;
};

SaveVMRegistry *savevm_registry_new(void)
{
    SaveVMRegistry *reg = g_new0(SaveVMRegistry, 1);

    reg->entries = g_ptr_array_new();
    return reg;
}

void savevm_registry_free(SaveVMRegistry *reg)
{
    if (!reg) {
        return;
    }
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        g_free(se->idstr);
        g_free(se);
    }
    g_ptr_array_free(reg->entries, TRUE);
    g_clear_object(&reg->vmdesc);
    g_clear_pointer(&reg->load_ids, g_hash_table_unref);
    g_free(reg);
}

static SaveStateEntry *find_entry(SaveVMRegistry *reg, const char *idstr, uint32_t instance)
{
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->instance_id == instance && !strcmp(se->idstr, idstr)) {
            return se;
        }
    }
    return NULL;
}

static SaveStateEntry *add_entry(SaveVMRegistry *reg, const char *idstr, uint32_t instance,
                                 GError **errp)
{
    SaveStateEntry *se;

    if (!idstr[0] || strlen(idstr) > 127) {
        /* analyze-migration.py reads the length as a signed byte */
        kvmig_error(errp, "section name '%s' must be 1..127 bytes", idstr);
        return NULL;
    }
    if (find_entry(reg, idstr, instance)) {
        kvmig_error(errp, "section '%s' instance %u is registered twice", idstr, instance);
        return NULL;
    }
    se = g_new0(SaveStateEntry, 1);
    se->idstr = g_strdup(idstr);
    se->instance_id = instance;
    se->section_id = reg->next_section_id++;
    g_ptr_array_add(reg->entries, se);
    return se;
}

/*
 * Devices and accelerators register here, in the section layer, not in
 * migration.c (the thread): so hw/ and accel/ link against the registry and
 * nothing above it.  Only the registry field of MigrationState is read (set
 * at creation).
 */
static SaveVMRegistry *machine_registry(Machine *m, const char *idstr, GError **errp)
{
    if (!m->migration) {
        kvmig_error(errp, "vmstate '%s' registered before migration_new()", idstr);
        return NULL;
    }
    return m->migration->reg;
}

bool vmstate_register(Machine *m, const char *idstr, uint32_t instance_id,
                      const VMStateDescription *vmsd, void *opaque, GError **errp)
{
    SaveVMRegistry *reg = machine_registry(m, idstr, errp);

    return reg && savevm_register_vmsd(reg, idstr, instance_id, vmsd, opaque, errp);
}

bool vmstate_register_early(Machine *m, const char *idstr, uint32_t instance_id,
                            const VMStateDescription *vmsd, void *opaque, GError **errp)
{
    SaveVMRegistry *reg = machine_registry(m, idstr, errp);

    return reg && savevm_register_vmsd_early(reg, idstr, instance_id, vmsd, opaque, errp);
}

bool savevm_register_vmsd(SaveVMRegistry *reg, const char *idstr, uint32_t instance_id,
                          const VMStateDescription *vmsd, void *opaque, GError **errp)
{
    SaveStateEntry *se;

    if (!vmstate_check(vmsd, errp)) {
        return false;
    }
    se = add_entry(reg, idstr, instance_id, errp);
    if (!se) {
        return false;
    }
    se->vmsd = vmsd;
    se->version_id = vmsd->version_id;
    se->opaque = opaque;
    return true;
}

bool savevm_register_vmsd_early(SaveVMRegistry *reg, const char *idstr,
                                uint32_t instance_id, const VMStateDescription *vmsd,
                                void *opaque, GError **errp)
{
    if (!savevm_register_vmsd(reg, idstr, instance_id, vmsd, opaque, errp)) {
        return false;
    }
    ((SaveStateEntry *)g_ptr_array_index(reg->entries, reg->entries->len - 1))->early = true;
    return true;
}

bool savevm_register_live(SaveVMRegistry *reg, const char *idstr, uint32_t instance_id,
                          int version_id, const SaveVMHandlers *ops, void *opaque,
                          GError **errp)
{
    SaveStateEntry *se;

    g_return_val_if_fail(ops && ops->save_setup && ops->load_state, false);
    se = add_entry(reg, idstr, instance_id, errp);
    if (!se) {
        return false;
    }
    se->ops = ops;
    se->version_id = version_id;
    se->opaque = opaque;
    return true;
}

char *savevm_device_list(SaveVMRegistry *reg)
{
    GString *s = g_string_new("");

    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->vmsd) {
            g_string_append_printf(s, "%s%s:%u", s->len ? "," : "", se->idstr,
                                   se->instance_id);
        }
    }
    return g_string_free(s, FALSE);
}

/* ---- source ---- */

static void put_section_header(MigStream *f, SaveStateEntry *se, uint8_t type)
{
    mig_stream_put_u8(f, type);
    mig_stream_put_be32(f, se->section_id);
    if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
        size_t len = strlen(se->idstr);
        mig_stream_put_u8(f, len);
        mig_stream_put_buffer(f, se->idstr, len);
        mig_stream_put_be32(f, se->instance_id);
        mig_stream_put_be32(f, se->version_id);
    }
}

static void put_section_footer(MigStream *f, SaveStateEntry *se)
{
    mig_stream_put_u8(f, QEMU_VM_SECTION_FOOTER);
    mig_stream_put_be32(f, se->section_id);
}

static bool stream_check(MigStream *f, SaveStateEntry *se, GError **errp)
{
    if (mig_stream_error(f)) {
        kvmig_error(errp, "%s%s%s%s", se ? "section '" : "", se ? se->idstr : "",
                    se ? "': " : "", mig_stream_error_msg(f));
        return false;
    }
    return true;
}

void savevm_put_header(MigStream *f)
{
    size_t len = strlen(SAVEVM_MACHINE_NAME);

    mig_stream_put_be32(f, QEMU_VM_FILE_MAGIC);
    mig_stream_put_be32(f, QEMU_VM_FILE_VERSION);
    /* QEMU's "configuration" vmstate: be32 length + name, no subsections */
    mig_stream_put_u8(f, QEMU_VM_CONFIGURATION);
    mig_stream_put_be32(f, len);
    mig_stream_put_buffer(f, SAVEVM_MACHINE_NAME, len);
}

/* Begin/end one device's object of the vmdesc "devices" array. */
static void vmdesc_begin_device(JsonBuilder *b, SaveStateEntry *se)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, se->idstr);
    json_builder_set_member_name(b, "instance_id");
    json_builder_add_int_value(b, se->instance_id);
}

/* @b NULL: the section only (the downtime's devices, described later). */
static bool save_device(MigStream *f, SaveStateEntry *se, JsonBuilder *b, GError **errp)
{
    put_section_header(f, se, QEMU_VM_SECTION_FULL);
    if (b) {
        vmdesc_begin_device(b, se);
    }
    if (!vmstate_save(f, se->vmsd, se->opaque, b, errp)) {
        g_prefix_error(errp, "section '%s' instance %u: ", se->idstr, se->instance_id);
        return false;
    }
    if (b) {
        json_builder_end_object(b);
    }
    put_section_footer(f, se);
    return stream_check(f, se, errp);
}

bool savevm_save_setup(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    g_clear_object(&reg->vmdesc);
    reg->vmdesc = json_builder_new();
    json_builder_begin_object(reg->vmdesc);
    json_builder_set_member_name(reg->vmdesc, "page_size");
    json_builder_add_int_value(reg->vmdesc, TARGET_PAGE_SIZE);
    json_builder_set_member_name(reg->vmdesc, "devices");
    json_builder_begin_array(reg->vmdesc);

    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->vmsd && se->early && !save_device(f, se, reg->vmdesc, errp)) {
            return false;
        }
    }
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (!se->ops) {
            continue;
        }
        put_section_header(f, se, QEMU_VM_SECTION_START);
        if (!se->ops->save_setup(f, se->opaque, errp)) {
            g_prefix_error(errp, "section '%s' setup: ", se->idstr);
            return false;
        }
        put_section_footer(f, se);
        if (!stream_check(f, se, errp)) {
            return false;
        }
    }
    return true;
}

int savevm_save_iterate(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    int all_done = 1;

    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        int ret;

        if (!se->ops || !se->ops->save_iterate) {
            continue;
        }
        put_section_header(f, se, QEMU_VM_SECTION_PART);
        ret = se->ops->save_iterate(f, se->opaque, errp);
        if (ret < 0) {
            g_prefix_error(errp, "section '%s': ", se->idstr);
            return -1;
        }
        put_section_footer(f, se);
        if (!stream_check(f, se, errp)) {
            return -1;
        }
        if (ret == 0) {
            all_done = 0;
        }
    }
    return all_done;
}

uint64_t savevm_pending(SaveVMRegistry *reg, bool exact)
{
    uint64_t sum = 0;

    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->ops && se->ops->pending) {
            sum += se->ops->pending(se->opaque, exact);
        }
    }
    return sum;
}

/*
 * analyze-migration.py finds the JSON by the last NUL byte before it and
 * the first '{' after that NUL: a '{' (0x7b) among the length bytes would
 * fool it, so pad the JSON with spaces until none is.
 */
static void put_vmdesc(MigStream *f, JsonBuilder *b)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *json = NULL;
    GString *s;
    uint32_t len;

    json_generator_set_root(gen, root);
    json = json_generator_to_data(gen, NULL);
    s = g_string_new(json);
    for (;;) {
        len = s->len;
        if ((len & 0xff) != '{' && ((len >> 8) & 0xff) != '{' &&
            ((len >> 16) & 0xff) != '{') {
            break;
        }
        g_string_append_c(s, ' ');
    }
    mig_stream_put_u8(f, QEMU_VM_VMDESCRIPTION);
    mig_stream_put_be32(f, len);
    mig_stream_put_buffer(f, s->str, len);
    g_string_free(s, TRUE);
}

/* SECTION_END of every live section (precopy's switchover, postcopy's end). */
static bool save_ends(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (!se->ops) {
            continue;
        }
        put_section_header(f, se, QEMU_VM_SECTION_END);
        if (se->ops->save_complete && !se->ops->save_complete(f, se->opaque, errp)) {
            g_prefix_error(errp, "section '%s' completion: ", se->idstr);
            return false;
        }
        put_section_footer(f, se);
        if (!stream_check(f, se, errp)) {
            return false;
        }
    }
    return true;
}

bool savevm_save_complete(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    if (!save_ends(reg, f, errp)) {
        return false;
    }
    /* no vmdesc here: savevm_put_vmdesc describes them after the downtime */
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->vmsd && !se->early && !save_device(f, se, NULL, errp)) {
            return false;
        }
    }
    mig_stream_put_u8(f, QEMU_VM_EOF);
    return stream_check(f, NULL, errp);
}

bool savevm_save_devices(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->vmsd && !se->early && !save_device(f, se, NULL, errp)) {
            return false;
        }
    }
    return true;
}

bool savevm_save_complete_postcopy(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    if (!save_ends(reg, f, errp)) {
        return false;
    }
    mig_stream_put_u8(f, QEMU_VM_EOF);
    return stream_check(f, NULL, errp);
}

bool savevm_put_vmdesc(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    JsonBuilder *b = reg->vmdesc;

    if (!b) {
        kvmig_error(errp, "no vmdesc begun (savevm_save_setup did not run)");
        return false;
    }
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (!se->vmsd || se->early) {
            continue;
        }
        vmdesc_begin_device(b, se);
        if (!vmstate_describe(se->vmsd, se->opaque, b, errp)) {
            g_prefix_error(errp, "describing section '%s' instance %u: ", se->idstr,
                           se->instance_id);
            return false;
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    put_vmdesc(f, b);
    g_clear_object(&reg->vmdesc);
    return stream_check(f, NULL, errp);
}

void savevm_save_cleanup(SaveVMRegistry *reg)
{
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (se->ops && se->ops->save_cleanup) {
            se->ops->save_cleanup(se->opaque);
        }
    }
}

int64_t savevm_load_switchover_us(SaveVMRegistry *reg)
{
    return reg->load_switchover_us;
}

/* ---- destination ---- */

static bool load_check(MigStream *f, const char *what, GError **errp)
{
    if (mig_stream_error(f)) {
        kvmig_error(errp, "%s: %s", what, mig_stream_error_msg(f));
        return false;
    }
    return true;
}

static bool load_header(MigStream *f, GError **errp)
{
    uint32_t magic = mig_stream_get_be32(f);
    uint32_t version = mig_stream_get_be32(f);
    uint32_t len;
    char name[256];

    if (!load_check(f, "stream header", errp)) {
        return false;
    }
    if (magic != QEMU_VM_FILE_MAGIC) {
        kvmig_error(errp, "not a migration stream: magic 0x%08x, expected 0x%08x",
                    magic, QEMU_VM_FILE_MAGIC);
        return false;
    }
    if (version != QEMU_VM_FILE_VERSION) {
        kvmig_error(errp, "unsupported stream version %u (expected %u)", version,
                    QEMU_VM_FILE_VERSION);
        return false;
    }
    if (mig_stream_get_u8(f) != QEMU_VM_CONFIGURATION) {
        if (load_check(f, "configuration section", errp)) {
            kvmig_error(errp, "configuration section missing after the header");
        }
        return false;
    }
    len = mig_stream_get_be32(f);
    if (!load_check(f, "configuration section", errp)) {
        return false;
    }
    if (len >= sizeof(name)) {
        kvmig_error(errp, "configuration section: machine name of %u bytes", len);
        return false;
    }
    mig_stream_get_buffer(f, name, len);
    name[len] = 0;
    if (!load_check(f, "configuration section", errp)) {
        return false;
    }
    if (strcmp(name, SAVEVM_MACHINE_NAME)) {
        g_autofree char *esc = g_strescape(name, NULL);
        kvmig_error(errp, "machine type '%s' in the stream, this is '%s'", esc,
                    SAVEVM_MACHINE_NAME);
        return false;
    }
    return true;
}

static bool load_footer(MigStream *f, SaveStateEntry *se, GError **errp)
{
    uint8_t t = mig_stream_get_u8(f);
    uint32_t id = mig_stream_get_be32(f);

    if (!load_check(f, se->idstr, errp)) {
        return false;
    }
    if (t != QEMU_VM_SECTION_FOOTER || id != se->load_id) {
        kvmig_error(errp, "section '%s' (id %u): bad footer (0x%02x, id %u): the "
                    "section's contents do not match this machine's", se->idstr,
                    se->load_id, t, id);
        return false;
    }
    return true;
}

static bool load_start(SaveVMRegistry *reg, MigStream *f, GHashTable *ids, uint8_t type,
                       GError **errp)
{
    uint32_t id = mig_stream_get_be32(f);
    uint8_t len = mig_stream_get_u8(f);
    char idstr[256];
    uint32_t instance, version;
    SaveStateEntry *se;
    bool ok;

    mig_stream_get_buffer(f, idstr, len);
    idstr[len] = 0;
    instance = mig_stream_get_be32(f);
    version = mig_stream_get_be32(f);
    if (!load_check(f, "section header", errp)) {
        return false;
    }
    se = find_entry(reg, idstr, instance);
    if (!se) {
        g_autofree char *esc = g_strescape(idstr, NULL);
        kvmig_error(errp, "unknown section '%s' instance %u (id %u): the destination "
                    "has no such device", esc, instance, id);
        return false;
    }
    if ((type == QEMU_VM_SECTION_START) != (se->ops != NULL) || se->seen) {
        kvmig_error(errp, "section '%s' (id %u): unexpected %s record", idstr, id,
                    type == QEMU_VM_SECTION_START ? "START" : "FULL");
        return false;
    }
    if (version > (uint32_t)se->version_id || (int)version < 1) {
        kvmig_error(errp, "section '%s' (id %u): version %u not supported (max %d)",
                    idstr, id, version, se->version_id);
        return false;
    }
    if (g_hash_table_contains(ids, GUINT_TO_POINTER(id))) {
        kvmig_error(errp, "section '%s': id %u used twice", idstr, id);
        return false;
    }
    se->seen = true;
    se->load_id = id;           /* footers and PART/END refer to the source's id */
    if (se->ops) {
        g_hash_table_insert(ids, GUINT_TO_POINTER(id), se);
        ok = se->ops->load_state(f, se->opaque, version, errp);
    } else {
        se->ended = true;
        ok = vmstate_load(f, se->vmsd, se->opaque, version, errp);
    }
    if (!ok) {
        g_prefix_error(errp, "section '%s' (id %u): ", idstr, id);
        return false;
    }
    return load_footer(f, se, errp);
}

static bool load_part(SaveVMRegistry *reg, MigStream *f, GHashTable *ids, uint8_t type,
                      GError **errp)
{
    uint32_t id = mig_stream_get_be32(f);
    SaveStateEntry *se;

    if (!load_check(f, "section header", errp)) {
        return false;
    }
    if (type == QEMU_VM_SECTION_END && !reg->load_switchover_us) {
        /* the source stopped its vCPUs just before it wrote this */
        reg->load_switchover_us = g_get_monotonic_time();
    }
    se = g_hash_table_lookup(ids, GUINT_TO_POINTER(id));
    if (!se || se->ended) {
        kvmig_error(errp, "%s record for %s section id %u",
                    type == QEMU_VM_SECTION_PART ? "PART" : "END",
                    se ? "an ended" : "an unknown", id);
        return false;
    }
    if (!se->ops->load_state(f, se->opaque, se->version_id, errp)) {
        g_prefix_error(errp, "section '%s' (id %u): ", se->idstr, id);
        return false;
    }
    if (type == QEMU_VM_SECTION_END) {
        se->ended = true;
    }
    return load_footer(f, se, errp);
}

static int load_loop(SaveVMRegistry *reg, MigStream *f, uint64_t end, GError **errp);

/*
 * PACKAGED: be32 length, then that many bytes of records, loaded from
 * memory with the same registry (QEMU's postcopy package: LISTEN, the
 * devices, RUN).  Bounded by POSTCOPY_PACKAGED_MAX.
 */
static bool load_packaged(SaveVMRegistry *reg, MigStream *f, uint16_t len, GError **errp)
{
    g_autofree uint8_t *buf = NULL;
    uint32_t n;
    MigStream *pf;
    int ret;

    if (len != 4) {
        kvmig_error(errp, "PACKAGED command of %u bytes, expected 4", len);
        return false;
    }
    n = mig_stream_get_be32(f);
    if (!load_check(f, "PACKAGED", errp)) {
        return false;
    }
    if (n == 0 || n > POSTCOPY_PACKAGED_MAX) {
        kvmig_error(errp, "PACKAGED of %u bytes (1 to %u expected)", n, POSTCOPY_PACKAGED_MAX);
        return false;
    }
    buf = g_malloc(n);
    mig_stream_get_buffer(f, buf, n);
    if (!load_check(f, "PACKAGED", errp)) {
        return false;
    }
    pf = mig_stream_new(mig_channel_new_memory_reader(buf, n));
    ret = load_loop(reg, pf, n, errp);
    mig_stream_close(pf);
    if (ret == 0) {
        kvmig_error(errp, "EOF inside a PACKAGED command");
        return false;
    }
    return ret > 0;
}

/*
 * QEMU_VM_COMMAND: PING is answered with a PONG, PACKAGED is loaded here,
 * every other command goes to the registered handler (postcopy), which
 * gets its payload (at most 65535 bytes, so read whole).
 */
static bool load_command(SaveVMRegistry *reg, MigStream *f, bool *packaged, GError **errp)
{
    uint16_t cmd = mig_stream_get_be16(f);
    uint16_t len = mig_stream_get_be16(f);
    MigChannel *c = mig_stream_channel(f);
    MigRpMsg pong = { .type = MIG_RP_MSG_PONG };
    g_autofree uint8_t *payload = NULL;

    if (!load_check(f, "command header", errp)) {
        return false;
    }
    if (cmd == MIG_CMD_PACKAGED) {
        *packaged = true;
        return load_packaged(reg, f, len, errp);
    }
    if (cmd != MIG_CMD_PING) {
        if (!reg->cmd_fn) {
            kvmig_error(errp, "unsupported command %u (%u bytes) in the stream", cmd, len);
            return false;
        }
        payload = g_malloc(len + 1);
        mig_stream_get_buffer(f, payload, len);
        if (!load_check(f, "command", errp)) {
            return false;
        }
        return reg->cmd_fn(reg->cmd_opaque, f, cmd, payload, len, errp);
    }
    if (len != 4) {
        kvmig_error(errp, "PING command of %u bytes, expected 4", len);
        return false;
    }
    pong.value = mig_stream_get_be32(f);
    if (!load_check(f, "PING", errp)) {
        return false;
    }
    if (c->bidirectional) {
        /* best effort: a source that went away finds out by itself */
        mig_rp_send(c, &pong);
    }
    return true;
}

void savevm_set_command_handler(SaveVMRegistry *reg, LoadVMCommandFn fn, void *opaque)
{
    reg->cmd_fn = fn;
    reg->cmd_opaque = opaque;
}

void loadvm_hand_off(SaveVMRegistry *reg)
{
    reg->load_handed_off = true;
}

bool loadvm_handed_off(SaveVMRegistry *reg)
{
    return reg->load_handed_off;
}

void savevm_put_command(MigStream *f, uint16_t cmd, const void *payload, uint16_t len)
{
    mig_stream_put_u8(f, QEMU_VM_COMMAND);
    mig_stream_put_be16(f, cmd);
    mig_stream_put_be16(f, len);
    mig_stream_put_buffer(f, payload, len);
}

void savevm_put_ping(MigStream *f, uint32_t value)
{
    mig_stream_put_u8(f, QEMU_VM_COMMAND);
    mig_stream_put_be16(f, MIG_CMD_PING);
    mig_stream_put_be16(f, 4);
    mig_stream_put_be32(f, value);
}

/* After EOF: skip the vmdesc (the source may still be writing it). */
bool loadvm_skip_vmdesc(MigStream *f, GError **errp)
{
    uint8_t t;
    uint32_t len;
    uint8_t buf[4096];

    if (!mig_stream_peek_u8(f, &t)) {
        return load_check(f, "after EOF", errp);
    }
    if (t != QEMU_VM_VMDESCRIPTION) {
        kvmig_error(errp, "unexpected byte 0x%02x after EOF", t);
        return false;
    }
    mig_stream_get_u8(f);
    len = mig_stream_get_be32(f);
    if (len > SAVEVM_VMDESC_MAX) {
        kvmig_error(errp, "vmdesc of %u bytes is larger than %u", len, SAVEVM_VMDESC_MAX);
        return false;
    }
    while (len) {
        uint32_t n = MIN(len, sizeof(buf));
        mig_stream_get_buffer(f, buf, n);
        len -= n;
    }
    return load_check(f, "vmdesc", errp);
}

bool loadvm_state(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    return loadvm_state_until_eof(reg, f, errp) && loadvm_skip_vmdesc(f, errp);
}

/*
 * Load records until EOF (0), an error (-1), or (1) the end of a package
 * (@end bytes read, 0: not a package) or a PACKAGED command after which
 * postcopy's listen thread reads the rest of the stream.
 */
static int load_loop(SaveVMRegistry *reg, MigStream *f, uint64_t end, GError **errp)
{
    for (;;) {
        uint64_t pos = mig_stream_transferred(f);
        uint8_t type;
        bool ok;

        if (end && pos >= end) {
            return 1;
        }
        type = mig_stream_get_u8(f);
        if (!load_check(f, "section type", errp)) {
            return -1;
        }
        switch (type) {
        case QEMU_VM_EOF:
            return 0;
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_FULL:
            ok = load_start(reg, f, reg->load_ids, type, errp);
            break;
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
            ok = load_part(reg, f, reg->load_ids, type, errp);
            break;
        case QEMU_VM_COMMAND: {
            bool packaged = false;

            ok = load_command(reg, f, &packaged, errp);
            if (ok && !end && packaged && reg->load_handed_off) {
                return 1;
            }
            break;
        }
        default:
            kvmig_error(errp, "unknown section type 0x%02x at byte %" G_GUINT64_FORMAT,
                        type, pos);
            return -1;
        }
        if (!ok) {
            return -1;
        }
    }
}

bool loadvm_check_ended(SaveVMRegistry *reg, GError **errp)
{
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        if (!se->ended) {
            kvmig_error(errp, "section '%s' instance %u %s before EOF", se->idstr,
                        se->instance_id, se->seen ? "did not end" : "missing");
            return false;
        }
    }
    return true;
}

bool loadvm_state_until_eof(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    int ret;

    reg->load_switchover_us = 0;
    reg->load_handed_off = false;
    for (guint i = 0; i < reg->entries->len; i++) {
        SaveStateEntry *se = g_ptr_array_index(reg->entries, i);
        se->seen = se->ended = false;
    }
    g_clear_pointer(&reg->load_ids, g_hash_table_unref);
    reg->load_ids = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (!load_header(f, errp)) {
        return false;
    }
    ret = load_loop(reg, f, 0, errp);
    if (ret < 0) {
        return false;
    }
    /* handed off: the listen thread reads on (loadvm_state_continue) */
    return ret > 0 || loadvm_check_ended(reg, errp);
}

bool loadvm_state_continue(SaveVMRegistry *reg, MigStream *f, GError **errp)
{
    int ret = load_loop(reg, f, 0, errp);

    if (ret > 0) {
        kvmig_error(errp, "a second PACKAGED command after postcopy listened");
        return false;
    }
    return ret == 0;
}
