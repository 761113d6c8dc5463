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

/*
 * The phases of the downtime, in the order they happen (x-downtime-phases).
 * They are contiguous: their sum is the downtime.  The source measures its
 * own; DEST_LOAD and DEST_RESUME come from the destination on the return
 * path (bidirectional channels only), and RETURN_PATH is what is left of
 * the wait for it: transit, the destination catching up on earlier bytes,
 * the acknowledgement.
 */
typedef enum MigPhase {
    MIG_PHASE_VCPU_STOP,        /* vm_stop: kick every vCPU, wait until stopped */
    MIG_PHASE_PRE_SWITCHOVER,   /* pause-before-switchover: waiting for migrate-continue */
    MIG_PHASE_FINAL_SYNC,       /* the last dirty-log sync */
    MIG_PHASE_RAM_SEND,         /* the rest of RAM into the stream */
    MIG_PHASE_DEVICE_SAVE,      /* other live sections' ends, device sections, EOF, vmdesc */
    MIG_PHASE_STREAM_FLUSH,     /* the last writev */
    MIG_PHASE_DIRTY_LOG_STOP,   /* x-early-dirty-log-stop: teardown inside the downtime */
    MIG_PHASE_DEST_LOAD,        /* destination: first END section -> end of stream */
    MIG_PHASE_DEST_RESUME,      /* destination: starting its vCPUs */
    MIG_PHASE_RETURN_PATH,      /* the rest of the wait for the destination's DONE */
    MIG_PHASE__MAX,
} MigPhase;

/* The phase's key in x-downtime-phases ("vcpu-stop", ...). */
const char *mig_phase_name(MigPhase p);

/* multifd-channels' upper bound (MULTIFD_MAX_CHANNELS). */
#define MIG_STATS_MAX_CHANNELS 255
/* postcopy-latency-dist buckets: [2^i, 2^(i+1)) µs, as QEMU 10.1 */
#define MIG_STATS_LAT_BUCKETS 32
/* per-vCPU postcopy figures (MACHINE_MAX_CPUS) */
#define MIG_STATS_MAX_VCPUS 64

typedef struct MigrationStats {
    /* times, ms (monotonic clock for durations) */
    int64_t start_ms;           /* migrate command */
    int64_t setup_time;         /* start -> active */
    int64_t total_time;         /* start -> end (set at the end) */
    int64_t downtime_start_ms;  /* source vCPUs stopped */
    int64_t downtime;           /* vCPUs stopped -> destination resumed */
    int64_t expected_downtime;  /* ms, while active */
    int64_t downtime_us;        /* the downtime, µs */
    int64_t phase_us[MIG_PHASE__MAX];   /* µs per MigPhase (set at switchover) */
    int phases_known;           /* 0: none; 1: the source's; 2: and the destination's */

    /* RAM */
    uint64_t ram_total;         /* bytes of guest RAM */
    uint64_t remaining;         /* bytes still dirty */
    uint64_t zero_pages;        /* "duplicate" */
    uint64_t normal_pages;
    uint64_t dirty_sync_count;
    uint64_t dirty_pages_rate;  /* pages/s between the last two syncs */
    uint64_t pages_per_second;
    uint64_t bandwidth;         /* bytes/s measured over the last window */
    uint64_t transferred;       /* stream bytes, multifd channels included */
    uint64_t multifd_bytes;     /* of which on multifd channels */
    uint64_t precopy_bytes;     /* sent while the guest ran */
    uint64_t downtime_bytes;    /* sent while it was stopped */
    uint64_t free_page_hint_pages;  /* dirty pages dropped as guest-free (balloon) */
    /* postcopy: source: requests served, bytes after the switch */
    uint64_t postcopy_requests;     /* destination: requests sent */
    uint64_t postcopy_bytes;
    /* postcopy-preempt: pages sent (source) or placed (destination) on its channel */
    uint64_t postcopy_preempt_pages;
    /* postcopy, destination: pages placed, pages discarded, fault latency */
    uint64_t postcopy_pages_placed;
    uint64_t postcopy_discarded;
    uint64_t postcopy_lat_count;    /* faults resolved */
    uint64_t postcopy_lat_sum_ns;
    uint64_t postcopy_lat_dist[MIG_STATS_LAT_BUCKETS];  /* [2^i, 2^(i+1)) µs */
    /* postcopy-blocktime: all vCPUs blocked at once; per vCPU blocked time and faults */
    uint64_t postcopy_blocktime_ns;
    uint64_t postcopy_vcpu_block_ns[MIG_STATS_MAX_VCPUS];
    uint64_t postcopy_vcpu_faults[MIG_STATS_MAX_VCPUS];
    /*
     * multifd, per channel (x-multifd-channel-bytes): packet bytes written
     * (source) or read (destination); multifd_channels of them, 0: none.
     * The source also counts the pages in them (x-multifd-channel-pages).
     */
    uint64_t multifd_channels;
    uint64_t multifd_channel_bytes[MIG_STATS_MAX_CHANNELS];
    uint64_t multifd_channel_pages[MIG_STATS_MAX_CHANNELS];

    /* xbzrle (QEMU's xbzrle-cache); written by ram-xbzrle.c */
    uint64_t xbzrle;            /* 1: the capability was on at setup */
    uint64_t xbzrle_cache_size; /* xbzrle-cache-size in effect, bytes */
    uint64_t xbzrle_bytes;      /* XBZRLE records (less the 8-byte address), + a page per overflow */
    uint64_t xbzrle_pages;      /* cache hits (encoded, skipped or overflowed) */
    uint64_t xbzrle_cache_miss;
    uint64_t xbzrle_overflow;   /* hits whose encoding did not fit: sent raw */
    uint64_t xbzrle_cache_miss_rate;    /* a double's bits, over the last period */
    uint64_t xbzrle_encoding_rate;      /* a double's bits: page bytes / encoded bytes */

    /* compress (QEMU's "compression"); written by compress.c */
    uint64_t compress;          /* 1: the capability was on at setup */
    uint64_t compress_pages;    /* pages sent as COMPRESS_PAGE records */
    uint64_t compress_busy;     /* pages sent raw because every worker was busy */
    uint64_t compress_size;     /* bytes of those records after the page header */

    /* auto-converge and x-convergence; written by convergence.c */
    uint64_t cpu_throttle_pct;  /* the throttle this migration set, 0: none */
    uint64_t conv_reason;       /* MigConvReason */
    uint64_t conv_stalled;      /* stalled sync periods in a row */
    uint64_t conv_dirty_rate;   /* bytes/s newly dirtied, last sync period */
    uint64_t conv_sent_rate;    /* bytes/s sent, last sync period */
} MigrationStats;

#define stat_get(st, f)     __atomic_load_n(&(st)->f, __ATOMIC_RELAXED)
#define stat_set(st, f, v)  __atomic_store_n(&(st)->f, (v), __ATOMIC_RELAXED)
#define stat_add(st, f, v)  __atomic_fetch_add(&(st)->f, (v), __ATOMIC_RELAXED)
/* The double fields, stored as their bits. */
#define stat_get_double(st, f)  stat_bits_to_double(stat_get(st, f))

static inline double stat_bits_to_double(uint64_t bits)
{
    double v;

    __builtin_memcpy(&v, &bits, sizeof(v));
    return v;
}

/* Monotonic milliseconds. */
int64_t mig_now_ms(void);
/* postcopy, destination: one fault resolved after @ns (any thread). */
void migration_stats_add_latency(MigrationStats *st, int64_t ns);
/*
 * postcopy-blocktime: postcopy-blocktime (ms all @nvcpus were blocked at
 * once), postcopy-vcpu-blocktime (ms per vCPU), postcopy-latency (average
 * ns per resolved fault), postcopy-vcpu-latency (the same per vCPU),
 * postcopy-latency-dist (faults per [2^i, 2^(i+1)) µs).  QEMU 10.1's names.
 */
void migration_stats_fill_postcopy_blocktime(JsonObject *obj, const MigrationStats *st,
                                             unsigned nvcpus);

/*
 * migration_stats_fill: add query-migrate's members for @status to @obj:
 * setup-time, total-time (running: so far), expected-downtime (active),
 * downtime (completed), ram {...} (once RAM has been counted),
 * x-downtime-phases (completed: ms per MigPhase, 3 decimals).
 */
void migration_stats_fill(JsonObject *obj, const MigrationStats *st, int status);

/*
 * migration_stats_fill_phases: x-downtime-phases of @st into @obj, only
 * the phases its side knows (the destination: DEST_LOAD, DEST_RESUME).
 */
void migration_stats_fill_phases(JsonObject *obj, const MigrationStats *st, bool destination);

/* Store @n channels' bytes and pages (NULL: none) into @st (the writer thread). */
void migration_stats_set_channel_bytes(MigrationStats *st, const uint64_t *bytes,
                                       const uint64_t *pages, unsigned n);
/*
 * x-multifd-channel-bytes (and, if counted, x-multifd-channel-pages) of
 * @st into @obj, if there were channels.
 */
void migration_stats_fill_channel_bytes(JsonObject *obj, const MigrationStats *st);

#endif
