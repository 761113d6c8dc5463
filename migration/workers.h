/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: one pool of worker threads with a job slot each and
 * a sync barrier.  Both the compress capability (deflate/inflate one page
 * per job) and multifd (one channel per worker; a job is a packet to send,
 * or "receive until the next sync packet") run on it.
 *
 * Model: worker i owns slot i, an opaque pointer the caller set up.  The
 * caller (the migration or incoming thread, the only one that submits)
 * takes an idle worker, fills its slot and submits it; the worker runs the
 * pool's job function on the slot and goes idle again.  A job's result
 * stays in the slot until the caller next takes that worker, so the caller
 * collects it then (e.g. writes the compressed page to the stream) or
 * after worker_pool_sync().
 *
 * Errors: a job that fails sets the pool's error (the first one is kept);
 * the pool then refuses new jobs and worker_pool_sync() reports it.
 */
#ifndef KVMIG_MIGRATION_WORKERS_H
#define KVMIG_MIGRATION_WORKERS_H

#include <stdbool.h>
#include <glib.h>

typedef struct WorkerPool WorkerPool;

/*
 * Runs on worker @idx's thread with slot @slot.  Returns false and sets
 * @errp on failure.  May poll worker_pool_cancelled() in long jobs.
 */
typedef bool (*WorkerJobFn)(WorkerPool *pool, unsigned idx, void *slot, GError **errp);

/*
 * @n workers (threads named "@name/i"), slot i = @slots[i] (the array is
 * copied; the slots stay owned by the caller).  All workers start idle.
 */
WorkerPool *worker_pool_new(const char *name, unsigned n, WorkerJobFn fn,
                            void *const *slots);
/* Cancels, waits for running jobs to return, joins the threads.  NULL-safe. */
void worker_pool_free(WorkerPool *pool);

unsigned worker_pool_size(const WorkerPool *pool);
void *worker_pool_slot(const WorkerPool *pool, unsigned idx);

/*
 * An idle worker's index; with @wait, blocks until one is idle, else
 * returns -1 when all are busy.  Returns -1 as well once the pool has
 * failed or been cancelled.  Prefers workers in round-robin order so
 * results are collected fairly.
 */
int worker_pool_get_idle(WorkerPool *pool, bool wait);
/* Hand slot @idx (filled by the caller) to its idle worker. */
void worker_pool_submit(WorkerPool *pool, unsigned idx);

/*
 * The barrier: wait until every worker is idle.  Returns false with the
 * first job error (a copy in @errp) if any job failed.
 */
bool worker_pool_sync(WorkerPool *pool, GError **errp);

/*
 * Stop handing out workers and make worker_pool_cancelled() true; running
 * jobs finish on their own (a job blocked on a socket needs the socket
 * shut down by the caller).  Idempotent.
 */
void worker_pool_cancel(WorkerPool *pool);
bool worker_pool_cancelled(const WorkerPool *pool);
/* True once a job failed. */
bool worker_pool_failed(const WorkerPool *pool);

#endif
