/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The rdma: transport when kvmig is built without librdmacm/libibverbs: a clear error. */
#include "migration/rdma.h"
#include "util/error.h"

#define NOT_BUILT "RDMA support is not compiled in (rebuild kvmig with libibverbs-dev " \
                  "and librdmacm-dev installed, meson option -Drdma=enabled)"

bool mig_rdma_precheck(const MigUri *u, Machine *m, GError **errp)
{
    kvmig_error(errp, NOT_BUILT);
    return false;
}

MigChannel *mig_rdma_connect(const MigUri *u, Machine *m, bool pin_all, GError **errp)
{
    kvmig_error(errp, NOT_BUILT);
    return NULL;
}

MigChannel *mig_rdma_listen(const MigUri *u, Machine *m, GError **errp)
{
    kvmig_error(errp, NOT_BUILT);
    return NULL;
}

bool mig_rdma_accept(MigChannel *c, GError **errp)
{
    kvmig_error(errp, NOT_BUILT);
    return false;
}
