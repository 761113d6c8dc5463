/* SPDX-License-Identifier: GPL-2.0-or-later */
/* multifd compression method "none": pages travel as they are. */
#include <string.h>

#include "migration/multifd-method.h"

static bool nocomp_decompress(void *state, const void *in, size_t in_len, void *out,
                              size_t out_len, GError **errp)
{
    if (in_len != out_len) {
        return false;
    }
    memcpy(out, in, out_len);
    return true;
}

const MultiFDMethods multifd_nocomp_ops = {
    .method = MULTIFD_COMPRESSION_NONE,
    .backend = "none",
    .decompress = nocomp_decompress,
};
