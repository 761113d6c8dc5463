/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the rdma: transport's entry points (rdma.c over
 * librdmacm and libibverbs, or rdma-stub.c when they are not built in).
 *
 * The channels it returns are ordinary MigChannels with one extra op,
 * write_page: the source's ram-save.c hands it guest pages, which it moves
 * by RDMA WRITE into the destination's registered memory; everything else
 * (section headers, zero-page records, device state, the return path)
 * travels as stream bytes in SEND/RECV control messages.  The wire format
 * is in include/migration/rdma-proto.h, the design in
 * docs/devel/migration/rdma.rst.
 */
#ifndef KVMIG_MIGRATION_RDMA_H
#define KVMIG_MIGRATION_RDMA_H

#include "migration/migration-int.h"

/*
 * mig_rdma_precheck: fail at once, with the reason and what to do, when an
 * RDMA migration cannot work in this process: no RDMA support compiled in,
 * no RDMA device, or an RLIMIT_MEMLOCK too low to pin @m's RAM.  Main
 * thread or migration thread; no side effects.
 */
bool mig_rdma_precheck(const MigUri *u, Machine *m, GError **errp);

/*
 * mig_rdma_connect: outgoing.  Precheck, resolve HOST:PORT (IPv4 or IPv6),
 * connect with our capabilities in the private data (@pin_all: register
 * all of RAM up front on both sides), then wait for the destination's
 * READY and RAM block table and check it against @m's blocks.  Blocking,
 * bounded by the address/route resolution and connection timeouts.
 */
MigChannel *mig_rdma_connect(const MigUri *u, Machine *m, bool pin_all, GError **errp);

/*
 * mig_rdma_listen: incoming.  Precheck, then bind and listen now so that
 * errors are reported before any guest runs.  The channel is not connected
 * until mig_rdma_accept() returns true; shutdown unblocks the accept.
 */
MigChannel *mig_rdma_listen(const MigUri *u, Machine *m, GError **errp);

/*
 * mig_rdma_accept: incoming thread.  Wait for the source's connection
 * request, check its capabilities, register RAM (all of it with pin-all),
 * accept, send READY and the RAM block table.  On failure the channel
 * stays to be closed by its owner.
 */
bool mig_rdma_accept(MigChannel *c, GError **errp);

#endif
