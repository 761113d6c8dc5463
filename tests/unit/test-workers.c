/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker pool: many jobs through few workers, results kept in slots
 * until collected, the sync barrier, error propagation, cancel, the
 * non-blocking get_idle and freeing a pool while jobs run.
 */
#include <glib.h>
#include <string.h>

#include "migration/workers.h"
#include "util/error.h"

typedef struct Slot {
    /* set by the submitter */
    unsigned input;
    bool fail;           /* the job returns an error */
    bool block;          /* the job waits until the gate opens (or cancel) */
    /* set by the job */
    unsigned output;
    unsigned runs;
    unsigned ran_on;
} Slot;

/* A gate the blocking jobs wait on. */
static GMutex gate_lock;
static GCond gate_cond;
static bool gate_open;
static gint jobs_started;

static void gate_set(bool open)
{
    g_mutex_lock(&gate_lock);
    gate_open = open;
    g_cond_broadcast(&gate_cond);
    g_mutex_unlock(&gate_lock);
}

static bool job(WorkerPool *pool, unsigned idx, void *opaque, GError **errp)
{
    Slot *s = opaque;

    g_atomic_int_inc(&jobs_started);
    g_assert(worker_pool_slot(pool, idx) == s);
    if (s->block) {
        g_mutex_lock(&gate_lock);
        while (!gate_open && !worker_pool_cancelled(pool)) {
            gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_MILLISECOND;
            g_cond_wait_until(&gate_cond, &gate_lock, end);
        }
        g_mutex_unlock(&gate_lock);
    }
    s->runs++;
    s->ran_on = idx;
    if (s->fail) {
        kvmig_error(errp, "job %u failed", s->input);
        return false;
    }
    s->output = s->input * 3 + 1;
    return true;
}

typedef struct Fixture {
    WorkerPool *pool;
    Slot *slots;
    unsigned n;
} Fixture;

static void fixture_new(Fixture *f, unsigned n)
{
    g_autofree void **ptrs = g_new0(void *, n);

    f->n = n;
    f->slots = g_new0(Slot, n);
    for (unsigned i = 0; i < n; i++) {
        ptrs[i] = &f->slots[i];
    }
    gate_set(true);
    g_atomic_int_set(&jobs_started, 0);
    f->pool = worker_pool_new("test", n, job, ptrs);
    g_assert_cmpuint(worker_pool_size(f->pool), ==, n);
}

static void fixture_free(Fixture *f)
{
    worker_pool_free(f->pool);
    g_free(f->slots);
}

/* Submit slot idx with input; the previous result is collected by the caller. */
static void submit(Fixture *f, int idx, unsigned input)
{
    Slot *s;

    g_assert_cmpint(idx, >=, 0);
    g_assert_cmpint(idx, <, (int)f->n);
    s = worker_pool_slot(f->pool, idx);
    s->input = input;
    s->output = 0;
    worker_pool_submit(f->pool, idx);
}

static void test_many_jobs(void)
{
    Fixture f;
    const unsigned njobs = 10000;
    g_autofree unsigned *pending = NULL;   /* input per slot, or -1 */
    guint64 sum = 0, want = 0;
    unsigned collected = 0;
    g_autoptr(GError) err = NULL;

    fixture_new(&f, 3);
    pending = g_new(unsigned, f.n);
    for (unsigned i = 0; i < f.n; i++) {
        pending[i] = (unsigned)-1;
    }
    for (unsigned j = 0; j < njobs; j++) {
        int idx = worker_pool_get_idle(f.pool, true);
        Slot *s = worker_pool_slot(f.pool, idx);

        /* the previous job's result is still there: collect it */
        if (pending[idx] != (unsigned)-1) {
            g_assert_cmpuint(s->output, ==, pending[idx] * 3 + 1);
            sum += s->output;
            collected++;
        }
        pending[idx] = j;
        submit(&f, idx, j);
        want += (guint64)j * 3 + 1;
    }
    g_assert_true(worker_pool_sync(f.pool, &err));
    g_assert_no_error(err);
    for (unsigned i = 0; i < f.n; i++) {
        if (pending[i] != (unsigned)-1) {
            g_assert_cmpuint(f.slots[i].output, ==, pending[i] * 3 + 1);
            sum += f.slots[i].output;
            collected++;
        }
    }
    g_assert_cmpuint(collected, ==, njobs);
    g_assert_cmpuint(sum, ==, want);
    g_assert_cmpint(g_atomic_int_get(&jobs_started), ==, (int)njobs);
    g_assert_false(worker_pool_failed(f.pool));
    fixture_free(&f);
}

static void test_round_robin(void)
{
    Fixture f;

    fixture_new(&f, 4);
    /* with everyone idle, get_idle walks the workers in order */
    for (unsigned k = 0; k < 8; k++) {
        int idx = worker_pool_get_idle(f.pool, true);

        g_assert_cmpint(idx, ==, (int)(k % 4));
        submit(&f, idx, k);
        g_assert_true(worker_pool_sync(f.pool, NULL));
        g_assert_cmpuint(f.slots[idx].runs, ==, k / 4 + 1);
        g_assert_cmpuint(f.slots[idx].ran_on, ==, (unsigned)idx);
    }
    fixture_free(&f);
}

static void test_results_stay(void)
{
    Fixture f;

    fixture_new(&f, 2);
    submit(&f, 0, 5);
    submit(&f, 1, 7);
    g_assert_true(worker_pool_sync(f.pool, NULL));
    /* nothing touches a finished slot: sync again, results unchanged */
    g_assert_true(worker_pool_sync(f.pool, NULL));
    g_usleep(1000);
    g_assert_cmpuint(f.slots[0].output, ==, 16);
    g_assert_cmpuint(f.slots[1].output, ==, 22);
    g_assert_cmpuint(f.slots[0].runs, ==, 1);
    g_assert_cmpuint(f.slots[1].runs, ==, 1);
    fixture_free(&f);
}

static void test_sync_waits(void)
{
    Fixture f;

    fixture_new(&f, 3);
    gate_set(false);
    for (unsigned i = 0; i < 3; i++) {
        f.slots[i].block = true;
        submit(&f, i, i);
    }
    /* all busy: the non-blocking get_idle has nothing to give */
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), ==, -1);
    gate_set(true);
    g_assert_true(worker_pool_sync(f.pool, NULL));
    /* after the barrier every job has finished */
    for (unsigned i = 0; i < 3; i++) {
        g_assert_cmpuint(f.slots[i].runs, ==, 1);
        g_assert_cmpuint(f.slots[i].output, ==, i * 3 + 1);
    }
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), >=, 0);
    fixture_free(&f);
}

static void test_get_idle_nowait(void)
{
    Fixture f;
    int idx;

    fixture_new(&f, 2);
    gate_set(false);
    f.slots[0].block = true;
    f.slots[1].block = true;
    idx = worker_pool_get_idle(f.pool, false);
    g_assert_cmpint(idx, ==, 0);
    submit(&f, idx, 1);
    idx = worker_pool_get_idle(f.pool, false);
    g_assert_cmpint(idx, ==, 1);
    submit(&f, idx, 2);
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), ==, -1);
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), ==, -1);
    gate_set(true);
    /* blocking get_idle returns once a worker finished */
    idx = worker_pool_get_idle(f.pool, true);
    g_assert_cmpint(idx, >=, 0);
    g_assert_true(worker_pool_sync(f.pool, NULL));
    fixture_free(&f);
}

static void test_error(void)
{
    Fixture f;
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;

    fixture_new(&f, 2);
    f.slots[0].fail = true;
    submit(&f, 0, 42);
    g_assert_false(worker_pool_sync(f.pool, &err));
    g_assert_error(err, KVMIG_ERROR, KVMIG_ERROR_GENERIC);
    g_assert_cmpstr(err->message, ==, "job 42 failed");
    g_assert_true(worker_pool_failed(f.pool));
    g_assert_false(worker_pool_cancelled(f.pool));

    /* a failed pool hands out no worker and refuses jobs */
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), ==, -1);
    g_assert_cmpint(worker_pool_get_idle(f.pool, true), ==, -1);
    submit(&f, 1, 9);
    g_assert_false(worker_pool_sync(f.pool, &err2));
    g_assert_cmpuint(f.slots[1].runs, ==, 0);
    /* the error reported stays the first one */
    g_assert_cmpstr(err2->message, ==, "job 42 failed");
    /* sync without errp is fine */
    g_assert_false(worker_pool_sync(f.pool, NULL));
    fixture_free(&f);
}

static void test_first_error_kept(void)
{
    Fixture f;
    g_autoptr(GError) err = NULL;

    fixture_new(&f, 2);
    gate_set(false);
    /* job 1 fails first, job 2 (already running) fails later */
    f.slots[0].fail = true;
    f.slots[1].fail = true;
    f.slots[1].block = true;
    submit(&f, 1, 2);
    submit(&f, 0, 1);
    while (!worker_pool_failed(f.pool)) {
        g_usleep(100);
    }
    gate_set(true);
    g_assert_false(worker_pool_sync(f.pool, &err));
    g_assert_cmpstr(err->message, ==, "job 1 failed");
    g_assert_cmpuint(f.slots[1].runs, ==, 1);
    fixture_free(&f);
}

static void test_cancel(void)
{
    Fixture f;

    fixture_new(&f, 2);
    gate_set(false);
    f.slots[0].block = true;
    submit(&f, 0, 3);
    g_assert_false(worker_pool_cancelled(f.pool));
    worker_pool_cancel(f.pool);
    worker_pool_cancel(f.pool);              /* idempotent */
    g_assert_true(worker_pool_cancelled(f.pool));
    g_assert_false(worker_pool_failed(f.pool));
    g_assert_cmpint(worker_pool_get_idle(f.pool, true), ==, -1);
    g_assert_cmpint(worker_pool_get_idle(f.pool, false), ==, -1);
    submit(&f, 1, 4);                        /* refused */
    /* the blocked job sees the cancel and returns; sync waits for it */
    g_assert_true(worker_pool_sync(f.pool, NULL));
    g_assert_cmpuint(f.slots[0].runs, ==, 1);
    g_assert_cmpuint(f.slots[1].runs, ==, 0);
    fixture_free(&f);
}

/* A thread blocked in get_idle(wait) is woken by cancel. */
static gpointer cancel_later(gpointer opaque)
{
    g_usleep(20 * 1000);
    worker_pool_cancel(opaque);
    return NULL;
}

static void test_cancel_wakes_waiter(void)
{
    Fixture f;
    GThread *t;

    fixture_new(&f, 1);
    gate_set(false);
    f.slots[0].block = true;
    submit(&f, 0, 1);
    t = g_thread_new("cancel", cancel_later, f.pool);
    g_assert_cmpint(worker_pool_get_idle(f.pool, true), ==, -1);
    g_thread_join(t);
    fixture_free(&f);
}

static void test_free_running(void)
{
    Fixture f;

    fixture_new(&f, 4);
    gate_set(false);
    for (unsigned i = 0; i < 4; i++) {
        f.slots[i].block = true;
        submit(&f, i, i);
    }
    /* free cancels; the blocked jobs poll the flag and return */
    fixture_free(&f);
    gate_set(true);
}

static void test_free_null(void)
{
    worker_pool_free(NULL);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/workers/many-jobs", test_many_jobs);
    g_test_add_func("/workers/round-robin", test_round_robin);
    g_test_add_func("/workers/results-stay", test_results_stay);
    g_test_add_func("/workers/sync-waits", test_sync_waits);
    g_test_add_func("/workers/get-idle-nowait", test_get_idle_nowait);
    g_test_add_func("/workers/error", test_error);
    g_test_add_func("/workers/first-error-kept", test_first_error_kept);
    g_test_add_func("/workers/cancel", test_cancel);
    g_test_add_func("/workers/cancel-wakes-waiter", test_cancel_wakes_waiter);
    g_test_add_func("/workers/free-running", test_free_running);
    g_test_add_func("/workers/free-null", test_free_null);
    return g_test_run();
}
