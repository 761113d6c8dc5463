/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Multiboot v1 loader: ELF image, command line, memory map, info block. */
#ifndef KVMIG_HW_MULTIBOOT_H
#define KVMIG_HW_MULTIBOOT_H

#include <glib.h>
#include <stdint.h>
#include "system/machine.h"

typedef struct MultibootBoot {
    uint32_t entry;     /* EIP */
    uint32_t mbi;       /* EBX: guest-physical address of the info block */
} MultibootBoot;

/*
 * multiboot_load: read the ELF (32- or 64-bit container; segments loaded
 * at their physical addresses) from @path, check the Multiboot header,
 * write segments, command line and memory map into guest RAM with
 * gpa_write, fill @boot.  The caller sets the vCPU to 32-bit protected
 * mode, EAX=0x2BADB002, EBX=boot->mbi, EIP=boot->entry.
 */
bool multiboot_load(Machine *m, const char *path, const char *cmdline,
                    MultibootBoot *boot, GError **errp);

#endif
