/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small string and number helpers shared by the command line, QMP, HMP and migration. */
#ifndef KVMIG_UTIL_CUTILS_H
#define KVMIG_UTIL_CUTILS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/**
 * parse_size: parse a size such as "512M", "1G", "4096" or "1.5G".
 * @str: the text; the whole string must be consumed.
 * @default_suffix: multiplier letter used when there is no suffix ('B' for
 *   bytes, 'M' for mebibytes as -m does).
 * Suffixes B, K, M, G, T, P, E (powers of 1024), upper or lower case.
 * Returns false with *errp set on anything malformed or overflowing.
 */
bool parse_size(const char *str, char default_suffix, uint64_t *out, GError **errp);

/* Parse a decimal or 0x-hex unsigned integer; whole string; no sign. */
bool parse_uint64(const char *str, uint64_t *out, GError **errp);

/* Format a byte count as QEMU's size_to_str does ("512 MiB"). Caller frees. */
char *size_to_str(uint64_t bytes);

/*
 * escape_bytes: @len bytes of untrusted input (a name from a migration
 * stream), up to the first NUL, with C escapes for everything unprintable:
 * safe to put on one line of an error message.  Caller frees.
 */
char *escape_bytes(const char *p, size_t len);

/*
 * thread_set_nice: give the calling thread (Linux: nice is per thread) the
 * nice value @nice and store the one it had in *@old.  Lowering it needs
 * CAP_SYS_NICE or RLIMIT_NICE; false with errno set when refused.
 */
bool thread_set_nice(int nice, int *old);

#endif
