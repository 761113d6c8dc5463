/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command line: one table of options with QEMU's spelling. */
#ifndef KVMIG_SYSTEM_OPTIONS_H
#define KVMIG_SYSTEM_OPTIONS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct VmmOptions {
    uint64_t ram_size;          /* -m, bytes; default 512 MiB */
    int smp;                    /* -smp; default 1 */
    char *accel;                /* -accel; NULL: kvm if usable, else thread */
    char *accel_dirty;          /* -accel thread,dirty=uffd|soft; NULL: default */
    char *kernel;               /* -kernel; NULL: the built-in test guest */
    char *append;               /* -append; "" by default */
    GPtrArray *devices;         /* -device specs, validated */
    GPtrArray *qmp;             /* -qmp specs */
    GPtrArray *monitors;        /* -monitor specs */
    GPtrArray *objects;         /* -object specs (created by main, in order) */
    char *serial;               /* -serial; NULL: stdio unless a monitor uses stdio */
    char *incoming;             /* -incoming URI or "defer" */
    bool start_paused;          /* -S */
    char *name;                 /* -name (accepted) */
    bool show_help;
    bool show_version;
    /* -device virtio-balloon */
    bool balloon;
    bool balloon_free_page_hint;
    bool balloon_deflate_on_oom;
} VmmOptions;

/*
 * vmm_options_parse: parse argv (argv[0] is the program) into *o.  Checks
 * everything that can be checked without starting anything: unknown
 * options, missing arguments, malformed sizes, numbers, accelerator and
 * device names, -serial syntax.  Monitor specs and migration URIs are
 * checked by their owners (see main.c) before anything runs.
 */
bool vmm_options_parse(int argc, char **argv, VmmOptions *o, GError **errp);
void vmm_options_free(VmmOptions *o);
/* The usage text for -help. */
void vmm_options_print_help(FILE *f);

#endif
