/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the section layer of the stream (header,
 * configuration, SECTION_START/PART/END/FULL with footers, EOF, vmdesc)
 * on the source and its loader on the destination.
 */
#ifndef KVMIG_MIGRATION_SAVEVM_H
#define KVMIG_MIGRATION_SAVEVM_H

#include "migration/register.h"

#define QEMU_VM_FILE_MAGIC      0x5145564d
#define QEMU_VM_FILE_VERSION    0x00000003
#define QEMU_VM_EOF             0x00
#define QEMU_VM_SECTION_START   0x01
#define QEMU_VM_SECTION_PART    0x02
#define QEMU_VM_SECTION_END     0x03
#define QEMU_VM_SECTION_FULL    0x04
#define QEMU_VM_SUBSECTION      0x05
#define QEMU_VM_VMDESCRIPTION   0x06
#define QEMU_VM_CONFIGURATION   0x07
#define QEMU_VM_COMMAND         0x08
#define QEMU_VM_SECTION_FOOTER  0x7e

/*
 * QEMU_VM_COMMAND: be16 command, be16 length, payload.  PING here, the
 * postcopy commands in postcopy.h; QEMU's numbers (enum qemu_vm_cmd).
 */
#define MIG_CMD_PING            2       /* payload: be32; answered by a PONG */

/* The machine type name carried in the configuration section. */
#define SAVEVM_MACHINE_NAME "pc-i440fx-kvmig"
/* Bound on the vmdesc JSON a destination will skip. */
#define SAVEVM_VMDESC_MAX   (16u << 20)

SaveVMRegistry *savevm_registry_new(void);
void savevm_registry_free(SaveVMRegistry *reg);
/* "serial:0,cpu:0,cpu:1" — every vmsd section, in order (caller frees). */
char *savevm_device_list(SaveVMRegistry *reg);

/* ---- source (migration thread) ---- */

/* Magic, version, configuration section. */
void savevm_put_header(MigStream *f);
/* Early vmsd sections, then SECTION_START of every live section. Begins the vmdesc. */
bool savevm_save_setup(SaveVMRegistry *reg, MigStream *f, GError **errp);
/* One SECTION_PART per live section; > 0 all idle, 0 more, < 0 error. */
int savevm_save_iterate(SaveVMRegistry *reg, MigStream *f, GError **errp);
/* Sum of the live sections' pending bytes. */
uint64_t savevm_pending(SaveVMRegistry *reg, bool exact);
/*
 * vCPUs stopped: SECTION_END of every live section, SECTION_FULL of every
 * device, EOF.  Does not flush.  The vmdesc JSON is not built here: it is
 * not needed to resume the guest, so it stays out of the downtime.
 */
bool savevm_save_complete(SaveVMRegistry *reg, MigStream *f, GError **errp);
/*
 * After savevm_save_complete, with the devices unchanged since (vCPUs still
 * stopped): describe them and write the vmdesc JSON that follows EOF (QEMU's
 * layout, for analyze-migration.py).  Does not flush.
 */
bool savevm_put_vmdesc(SaveVMRegistry *reg, MigStream *f, GError **errp);
/*
 * Postcopy, vCPUs stopped: the FULL section of every (non-early) device,
 * without EOF -- the body of the PACKAGED command.
 */
bool savevm_save_devices(SaveVMRegistry *reg, MigStream *f, GError **errp);
/* Postcopy, all RAM sent: the END of every live section, then EOF. */
bool savevm_save_complete_postcopy(SaveVMRegistry *reg, MigStream *f, GError **errp);
/* A QEMU_VM_COMMAND record with @len bytes of @payload. */
void savevm_put_command(MigStream *f, uint16_t cmd, const void *payload, uint16_t len);
/* save_cleanup of every live section (the vmdesc stays for savevm_put_vmdesc); idempotent. */
void savevm_save_cleanup(SaveVMRegistry *reg);

/* ---- destination (incoming thread) ---- */

/*
 * loadvm_state: read a whole stream: header, configuration, sections up
 * to EOF, then skip the vmdesc if present.  Every error names the section
 * (idstr and id) and says what was wrong, in one line.
 */
bool loadvm_state(SaveVMRegistry *reg, MigStream *f, GError **errp);
/*
 * The same in two steps, so an incoming migration resumes the guest right
 * after EOF and reads the vmdesc (which the source writes after it knows
 * the guest runs) only then: loadvm_state_until_eof stops after EOF,
 * loadvm_skip_vmdesc reads past the vmdesc if one follows.
 */
bool loadvm_state_until_eof(SaveVMRegistry *reg, MigStream *f, GError **errp);
bool loadvm_skip_vmdesc(MigStream *f, GError **errp);
/*
 * Postcopy.  A command other than PING and PACKAGED goes to @fn (incoming
 * thread, or the listen thread) with its whole payload; false fails the
 * load with *errp.  The LISTEN handler calls loadvm_hand_off: then
 * loadvm_state_until_eof returns true at the end of that PACKAGED command
 * (loadvm_handed_off says so), before EOF, and another thread reads the
 * rest with loadvm_state_continue (up to EOF; the incoming thread checks
 * with loadvm_check_ended that every section ended once both are done).
 */
typedef bool (*LoadVMCommandFn)(void *opaque, MigStream *f, uint16_t cmd,
                                const uint8_t *payload, uint16_t len, GError **errp);
void savevm_set_command_handler(SaveVMRegistry *reg, LoadVMCommandFn fn, void *opaque);
void loadvm_hand_off(SaveVMRegistry *reg);
bool loadvm_handed_off(SaveVMRegistry *reg);
bool loadvm_state_continue(SaveVMRegistry *reg, MigStream *f, GError **errp);
bool loadvm_check_ended(SaveVMRegistry *reg, GError **errp);
/*
 * When the last loadvm_state() met the first SECTION_END record (the
 * source's switchover began), g_get_monotonic_time() µs; 0 if it did not.
 */
int64_t savevm_load_switchover_us(SaveVMRegistry *reg);

/*
 * savevm_put_ping: a QEMU_VM_COMMAND PING with @value between sections.
 * The loader answers with a PONG on the return path (bidirectional
 * channels) once everything before it is loaded: the source uses it to
 * let the destination catch up before it stops the vCPUs, so that the
 * destination's backlog is not part of the downtime.
 */
void savevm_put_ping(MigStream *f, uint32_t value);

#endif
