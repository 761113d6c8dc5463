/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Machine-level sections: the machine's shape (checked by the destination
 * before any RAM arrives) and the run state the source had ("globalstate",
 * as QEMU names it).  The accelerator's state has its own sections, in
 * accel/ (kvm-migration.c, thread-migration.c).
 */
#include <string.h>

#include "accel/accel.h"
#include "migration/migration-int.h"
#include "util/cutils.h"
#include "util/error.h"

/* ---- "kvmig-machine": early, so a mismatch is refused before RAM ---- */

typedef struct MachineShape {
    MigrationState *s;
    uint64_t ram_size;
    uint32_t smp;
    uint32_t accel_len;
    char accel[32];
    uint32_t devices_len;
    char devices[2048];
} MachineShape;

static void shape_fill(MachineShape *sh, char *accel, uint32_t *alen, char *devices,
                       uint32_t *dlen)
{
    Machine *m = sh->s->m;
    g_autofree char *list = savevm_device_list(sh->s->reg);

    g_strlcpy(accel, m->accel ? m->accel->name : "none", sizeof(sh->accel));
    *alen = strlen(accel);
    g_strlcpy(devices, list, sizeof(sh->devices));
    *dlen = strlen(devices);
}

static bool shape_pre_save(void *opaque, GError **errp)
{
    MachineShape *sh = opaque;

    sh->ram_size = sh->s->m->ram_size;
    sh->smp = sh->s->m->smp;
    shape_fill(sh, sh->accel, &sh->accel_len, sh->devices, &sh->devices_len);
    return true;
}

static bool shape_post_load(void *opaque, int version_id, GError **errp)
{
    MachineShape *sh = opaque;
    Machine *m = sh->s->m;
    char accel[32], devices[2048];
    uint32_t alen, dlen;

    shape_fill(sh, accel, &alen, devices, &dlen);
    if (sh->ram_size != m->ram_size) {
        kvmig_error(errp, "the source has %" G_GUINT64_FORMAT " MiB of RAM, this machine "
                    "%" G_GUINT64_FORMAT " MiB: start the destination with -m %"
                    G_GUINT64_FORMAT "M", sh->ram_size >> 20, m->ram_size >> 20,
                    sh->ram_size >> 20);
        return false;
    }
    if (sh->smp != (uint32_t)m->smp) {
        kvmig_error(errp, "the source has %u vCPUs, this machine %d: start the "
                    "destination with -smp %u", sh->smp, m->smp, sh->smp);
        return false;
    }
    if (sh->accel_len != alen || memcmp(sh->accel, accel, alen)) {
        g_autofree char *theirs = escape_bytes(sh->accel, sh->accel_len);

        kvmig_error(errp, "the source runs accelerator '%s', this machine '%s'", theirs,
                    accel);
        return false;
    }
    if (sh->devices_len != dlen || memcmp(sh->devices, devices, dlen)) {
        g_autofree char *theirs = escape_bytes(sh->devices, sh->devices_len);

        kvmig_error(errp, "the source's devices are [%s], this machine's [%s]", theirs,
                    devices);
        return false;
    }
    return true;
}

static const VMStateField shape_fields[] = {
    VMSTATE_UINT64(ram_size, MachineShape),
    VMSTATE_UINT32(smp, MachineShape),
    VMSTATE_UINT32(accel_len, MachineShape),
    VMSTATE_VBUFFER_UINT32(accel, MachineShape, accel_len),
    VMSTATE_UINT32(devices_len, MachineShape),
    VMSTATE_VBUFFER_UINT32(devices, MachineShape, devices_len),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_machine_shape = {
    .name = "kvmig-machine",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(MachineShape),
    .pre_save = shape_pre_save,
    .post_load = shape_post_load,
    .fields = shape_fields,
};

/* ---- "globalstate": the source's run state before switchover ---- */

typedef struct GlobalState {
    MigrationState *s;
    uint32_t size;
    char runstate[100];
} GlobalState;

static bool globalstate_pre_save(void *opaque, GError **errp)
{
    GlobalState *g = opaque;

    g_strlcpy(g->runstate, runstate_name(g->s->switchover_runstate), sizeof(g->runstate));
    g->size = strlen(g->runstate);
    return true;
}

static bool globalstate_post_load(void *opaque, int version_id, GError **errp)
{
    GlobalState *g = opaque;
    char name[sizeof(g->runstate) + 1];

    memcpy(name, g->runstate, g->size);
    name[g->size] = 0;
    for (int i = 0; i < RUN_STATE__MAX; i++) {
        if (!strcmp(runstate_name(i), name)) {
            g->s->loaded_runstate = i;
            return true;
        }
    }
    {
        g_autofree char *esc = escape_bytes(name, g->size);

        kvmig_error(errp, "unknown run state '%s' from the source", esc);
    }
    return false;
}

static const VMStateField globalstate_fields[] = {
    VMSTATE_UINT32(size, GlobalState),
    VMSTATE_VBUFFER_UINT32(runstate, GlobalState, size),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_globalstate = {
    .name = "globalstate",
    .version_id = 1,
    .minimum_version_id = 1,
    .size = sizeof(GlobalState),
    .pre_save = globalstate_pre_save,
    .post_load = globalstate_post_load,
    .fields = globalstate_fields,
};

/* ---- registration ---- */

typedef struct MachineSections {
    MachineShape shape;
    GlobalState global;
} MachineSections;

/*
 * The accelerator's own sections ("thread-accel", or KVM's CPU model, "cpu"
 * and "kvmclock") are registered by the accelerator's init (accel/), which
 * main runs right after migration_new(): they follow these two.
 */
bool machine_sections_register(MigrationState *s, GError **errp)
{
    MachineSections *ms = g_new0(MachineSections, 1);

    s->machine_sections = ms;
    ms->shape.s = s;
    ms->global.s = s;
    return savevm_register_vmsd_early(s->reg, "kvmig-machine", 0, &vmstate_machine_shape,
                                      &ms->shape, errp) &&
           savevm_register_vmsd(s->reg, "globalstate", 0, &vmstate_globalstate,
                                &ms->global, errp);
}

void machine_sections_free(MigrationState *s)
{
    g_clear_pointer(&s->machine_sections, g_free);
}
