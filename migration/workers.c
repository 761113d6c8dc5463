/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker pool shared by compress and multifd (interface in workers.h).
 *
 * Locking: one mutex per pool (pool->lock) guards every Worker's busy and
 * pending flags, pool->next, pool->err and pool->quit.  pool->cancelled and
 * pool->failed are also written under the lock but read with atomics, so
 * worker_pool_cancelled() can be polled from a job without taking it.
 * Each worker sleeps on its own condition variable (work to do or quit);
 * the submitter sleeps on pool->idle_cond (some worker went idle).
 * Jobs run without the lock held.
 */
#include "migration/workers.h"
#include "util/error.h"

typedef struct Worker {
    WorkerPool *pool;
    unsigned idx;
    GThread *thread;
    GCond cond;          /* signalled when pending is set or on quit */
    bool busy;           /* submitted and not yet finished */
    bool pending;        /* submitted and not yet picked up */
} Worker;

struct WorkerPool {
    GMutex lock;
    GCond idle_cond;     /* broadcast whenever a worker goes idle */
    WorkerJobFn fn;
    unsigned n;
    void **slots;
    Worker *workers;
    unsigned next;       /* round-robin start for get_idle */
    bool quit;           /* threads must exit (worker_pool_free) */
    gint cancelled;      /* atomic */
    gint failed;         /* atomic */
    GError *err;         /* the first job error */
};

static gpointer worker_thread(gpointer opaque)
{
    Worker *w = opaque;
    WorkerPool *pool = w->pool;

    g_mutex_lock(&pool->lock);
    for (;;) {
        GError *local = NULL;
        bool ok;

        while (!pool->quit && !w->pending) {
            g_cond_wait(&w->cond, &pool->lock);
        }
        if (pool->quit) {
            break;
        }
        w->pending = false;
        g_mutex_unlock(&pool->lock);

        ok = pool->fn(pool, w->idx, pool->slots[w->idx], &local);

        g_mutex_lock(&pool->lock);
        if (!ok) {
            if (!local) {
                kvmig_error(&local, "worker %u failed without a reason", w->idx);
            }
            if (!pool->err) {
                pool->err = local;
            } else {
                g_error_free(local);
            }
            g_atomic_int_set(&pool->failed, 1);
        } else if (local) {
            g_error_free(local);
        }
        w->busy = false;
        g_cond_broadcast(&pool->idle_cond);
    }
    w->busy = false;
    w->pending = false;
    g_cond_broadcast(&pool->idle_cond);
    g_mutex_unlock(&pool->lock);
    return NULL;
}

WorkerPool *worker_pool_new(const char *name, unsigned n, WorkerJobFn fn,
                            void *const *slots)
{
    WorkerPool *pool = g_new0(WorkerPool, 1);

    g_assert(n > 0 && fn);
    g_mutex_init(&pool->lock);
    g_cond_init(&pool->idle_cond);
    pool->fn = fn;
    pool->n = n;
    pool->slots = g_new0(void *, n);
    if (slots) {
        for (unsigned i = 0; i < n; i++) {
            pool->slots[i] = slots[i];
        }
    }
    pool->workers = g_new0(Worker, n);
    for (unsigned i = 0; i < n; i++) {
        Worker *w = &pool->workers[i];
        g_autofree char *tname = g_strdup_printf("%s/%u", name ? name : "worker", i);

        w->pool = pool;
        w->idx = i;
        g_cond_init(&w->cond);
        w->thread = g_thread_new(tname, worker_thread, w);
    }
    return pool;
}

void worker_pool_free(WorkerPool *pool)
{
    if (!pool) {
        return;
    }
    worker_pool_cancel(pool);
    g_mutex_lock(&pool->lock);
    pool->quit = true;
    for (unsigned i = 0; i < pool->n; i++) {
        g_cond_signal(&pool->workers[i].cond);
    }
    g_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->n; i++) {
        g_thread_join(pool->workers[i].thread);
        g_cond_clear(&pool->workers[i].cond);
    }
    if (pool->err) {
        g_error_free(pool->err);
    }
    g_free(pool->workers);
    g_free(pool->slots);
    g_cond_clear(&pool->idle_cond);
    g_mutex_clear(&pool->lock);
    g_free(pool);
}

unsigned worker_pool_size(const WorkerPool *pool)
{
    return pool->n;
}

void *worker_pool_slot(const WorkerPool *pool, unsigned idx)
{
    g_assert(idx < pool->n);
    return pool->slots[idx];
}

static bool pool_stopped(const WorkerPool *pool)
{
    return g_atomic_int_get(&pool->failed) || g_atomic_int_get(&pool->cancelled);
}

int worker_pool_get_idle(WorkerPool *pool, bool wait)
{
    int ret = -1;

    g_mutex_lock(&pool->lock);
    for (;;) {
        if (pool_stopped(pool) || pool->quit) {
            break;
        }
        for (unsigned k = 0; k < pool->n; k++) {
            unsigned i = (pool->next + k) % pool->n;

            if (!pool->workers[i].busy) {
                pool->next = (i + 1) % pool->n;
                ret = (int)i;
                break;
            }
        }
        if (ret >= 0 || !wait) {
            break;
        }
        g_cond_wait(&pool->idle_cond, &pool->lock);
    }
    g_mutex_unlock(&pool->lock);
    return ret;
}

void worker_pool_submit(WorkerPool *pool, unsigned idx)
{
    Worker *w;

    g_assert(idx < pool->n);
    w = &pool->workers[idx];
    g_mutex_lock(&pool->lock);
    /* A failed or cancelled pool refuses jobs: the slot is left as it is. */
    if (!pool_stopped(pool) && !pool->quit) {
        g_assert(!w->busy);
        w->busy = true;
        w->pending = true;
        g_cond_signal(&w->cond);
    }
    g_mutex_unlock(&pool->lock);
}

bool worker_pool_sync(WorkerPool *pool, GError **errp)
{
    bool ok;

    g_mutex_lock(&pool->lock);
    for (;;) {
        bool any = false;

        for (unsigned i = 0; i < pool->n; i++) {
            any |= pool->workers[i].busy;
        }
        if (!any) {
            break;
        }
        g_cond_wait(&pool->idle_cond, &pool->lock);
    }
    ok = !pool->err;
    if (!ok && errp) {
        g_propagate_error(errp, g_error_copy(pool->err));
    }
    g_mutex_unlock(&pool->lock);
    return ok;
}

void worker_pool_cancel(WorkerPool *pool)
{
    g_mutex_lock(&pool->lock);
    g_atomic_int_set(&pool->cancelled, 1);
    /* wake a get_idle(wait) caller so it sees the cancel */
    g_cond_broadcast(&pool->idle_cond);
    g_mutex_unlock(&pool->lock);
}

bool worker_pool_cancelled(const WorkerPool *pool)
{
    return g_atomic_int_get(&pool->cancelled);
}

bool worker_pool_failed(const WorkerPool *pool)
{
    return g_atomic_int_get(&pool->failed);
}
