/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The 16550A UART at 0x3f8 (COM1), output to stdio, a file or nowhere. */
#ifndef KVMIG_HW_SERIAL_H
#define KVMIG_HW_SERIAL_H

#include <glib.h>
#include "system/machine.h"

#define SERIAL_COM1_BASE 0x3f8

/*
 * serial_new: spec is "stdio", "file:PATH" or "none".  Registers the port
 * range with the machine.  Fails with *errp for a bad spec or unopenable
 * file.
 */
SerialState *serial_new(Machine *m, const char *spec, GError **errp);
void serial_free(SerialState *s);
/* Write bytes as the guest's transmitter would (the thread accelerator). */
void serial_write_bytes(SerialState *s, const char *buf, size_t len);

#endif
