/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the counters of one migration and their rendering
 * as query-migrate's JSON (QEMU's field names).
 *
 * Every field is written by the migration (or incoming) thread with
 * stat_set/stat_add and read from any thread with stat_get: relaxed
 * atomics, no lock; a reader may see counters from slightly different
 * moments, as with QEMU.
 */
#ifndef KVMIG_MIGRATION_STATS_H
#define KVMIG_MIGRATION_STATS_H

#include <json-glib/json-glib.h>
#include <stdint.h>

typedef struct MigrationStats {
    /* times, ms (monotonic clock for durations) */
    int64_t start_ms;           /* migrate command */
    int64_t setup_time;         /* start -> active */
    int64_t total_time;         /* start -> end (set at the end) */
    int64_t downtime_start_ms;  /* source vCPUs stopped */
    int64_t downtime;           /* vCPUs stopped -> destination resumed */
    int64_t expected_downtime;  /* ms, while active */

    /* RAM */
    uint64_t ram_total;         /* bytes of guest RAM */
    uint64_t remaining;         /* bytes still dirty */
    uint64_t zero_pages;        /* "duplicate" */
    uint64_t normal_pages;
    uint64_t dirty_sync_count;
    uint64_t dirty_pages_rate;  /* pages/s between the last two syncs */
    uint64_t pages_per_second;
    uint64_t bandwidth;         /* bytes/s measured over the last window */
    uint64_t transferred;       /* stream bytes */
    uint64_t precopy_bytes;     /* sent while the guest ran */
    uint64_t downtime_bytes;    /* sent while it was stopped */
    uint64_t free_page_hint_pages;  /* dirty pages dropped as guest-free (balloon) */
} MigrationStats;

#define stat_get(st, f)     __atomic_load_n(&(st)->f, __ATOMIC_RELAXED)
#define stat_set(st, f, v)  __atomic_store_n(&(st)->f, (v), __ATOMIC_RELAXED)
#define stat_add(st, f, v)  __atomic_fetch_add(&(st)->f, (v), __ATOMIC_RELAXED)

/* Monotonic milliseconds. */
int64_t mig_now_ms(void);

/*
 * migration_stats_fill: add query-migrate's members for @status to @obj:
 * setup-time, total-time (running: so far), expected-downtime (active),
 * downtime (completed), ram {...} (once RAM has been counted).
 */
void migration_stats_fill(JsonObject *obj, const MigrationStats *st, int status);

#endif
