/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the ops table of a multifd compression method
 * (QEMU's MultiFDMethods), one file per method, and the registry of the
 * methods built in.
 *
 * Registration is done by the build, not by constructors: meson compiles
 * multifd-<name>.c only where its library was found and lists the
 * methods compiled in MULTIFD_METHOD_LIST (migration/multifd-methods.h,
 * generated); multifd-packet.c turns that list into its table.  A method
 * not built in is simply absent: multifd_method_get() returns NULL and the
 * codec says "not built in".
 *
 * A method's state is one direction of one channel (or one compress
 * worker): it is used by one thread at a time and needs no lock.
 */
#ifndef KVMIG_MIGRATION_MULTIFD_METHOD_H
#define KVMIG_MIGRATION_MULTIFD_METHOD_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "migration/options.h"

typedef struct MultiFDMethods {
    /* The wire value (MultiFDInit.compression) this method implements. */
    MultiFDCompression method;
    /* The library doing the work ("zlib", "libdeflate", ...): logs and tests. */
    const char *backend;
    /*
     * Create the state of one direction (@compress: deflate side, else the
     * inflate side) at @level (the method's own scale; ignored by methods
     * without levels).  Called by multifd_codec_new() on the thread that
     * sets up the channel.  NULL hook: the method keeps no state.  Returns
     * NULL with @errp set on failure.
     */
    void *(*state_new)(int level, bool compress, GError **errp);
    /* Free what state_new returned; NULL-safe.  May be NULL when state_new is. */
    void (*state_free)(void *state);
    /*
     * Compress @in_len bytes at @in into @out as one unit (a zlib stream, a
     * zstd frame, an lz4 block) of at most @cap bytes.  Returns its length;
     * 0 when it does not fit (@errp untouched) or on a library failure
     * (@errp set).  NULL for a method that sends pages as they are.
     */
    size_t (*compress)(void *state, const void *in, size_t in_len, void *out, size_t cap,
                       GError **errp);
    /*
     * Decompress @in_len bytes at @in into exactly @out_len bytes at @out.
     * Fails on anything else: too short, too long, trailing bytes, a bad
     * checksum.  @errp (may be NULL) says which; the multifd codec replaces
     * it with one message for all methods.  Never NULL.
     */
    bool (*decompress)(void *state, const void *in, size_t in_len, void *out,
                       size_t out_len, GError **errp);
} MultiFDMethods;

/* The registered method for @method, or NULL when it is not built in. */
const MultiFDMethods *multifd_method_get(MultiFDCompression method);

/* Every method file defines one of these (the registry lists the built ones). */
extern const MultiFDMethods multifd_nocomp_ops;
extern const MultiFDMethods multifd_zlib_ops;
extern const MultiFDMethods multifd_zstd_ops;
extern const MultiFDMethods multifd_lz4_ops;

#endif
