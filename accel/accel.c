/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The accelerator registry. */
#include <string.h>

#include "accel/accel.h"

static const AccelOps *const accels[] = {
    &kvm_accel_ops,
    &thread_accel_ops,
};

const AccelOps *accel_find(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(accels); i++) {
        if (!strcmp(accels[i]->name, name)) {
            return accels[i];
        }
    }
    return NULL;
}
