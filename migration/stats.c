/* SPDX-License-Identifier: GPL-2.0-or-later */
/* query-migrate's numbers, with QEMU's member names and units. */
#include "migration/migration-int.h"

static const char *const phase_names[MIG_PHASE__MAX] = {
    [MIG_PHASE_VCPU_STOP] = "vcpu-stop",
    [MIG_PHASE_PRE_SWITCHOVER] = "pre-switchover",
    [MIG_PHASE_FINAL_SYNC] = "final-dirty-sync",
    [MIG_PHASE_RAM_SEND] = "ram-send",
    [MIG_PHASE_DEVICE_SAVE] = "device-state-save",
    [MIG_PHASE_STREAM_FLUSH] = "stream-flush",
    [MIG_PHASE_DIRTY_LOG_STOP] = "dirty-log-stop",
    [MIG_PHASE_DEST_LOAD] = "destination-load",
    [MIG_PHASE_DEST_RESUME] = "destination-resume",
    [MIG_PHASE_RETURN_PATH] = "return-path",
};

const char *mig_phase_name(MigPhase p)
{
    return p < MIG_PHASE__MAX ? phase_names[p] : NULL;
}

void migration_stats_fill_phases(JsonObject *obj, const MigrationStats *st, bool destination)
{
    int known = stat_get(st, phases_known);
    JsonObject *ph;

    if (!known) {
        return;
    }
    ph = json_object_new();
    for (MigPhase p = 0; p < MIG_PHASE__MAX; p++) {
        bool dest = p == MIG_PHASE_DEST_LOAD || p == MIG_PHASE_DEST_RESUME;

        if (destination ? !dest : (known < 2 && (dest || p == MIG_PHASE_RETURN_PATH))) {
            continue;
        }
        /* ms with µs resolution: sub-millisecond phases are the point */
        json_object_set_double_member(ph, phase_names[p],
                                      stat_get(st, phase_us[p]) / 1000.0);
    }
    json_object_set_object_member(obj, "x-downtime-phases", ph);
}

int64_t mig_now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

void migration_stats_set_channel_bytes(MigrationStats *st, const uint64_t *bytes,
                                       const uint64_t *pages, unsigned n)
{
    n = MIN(n, MIG_STATS_MAX_CHANNELS);
    for (unsigned i = 0; i < n; i++) {
        stat_set(st, multifd_channel_bytes[i], bytes[i]);
        stat_set(st, multifd_channel_pages[i], pages ? pages[i] : 0);
    }
    stat_set(st, multifd_channels, n);
}

void migration_stats_fill_channel_bytes(JsonObject *obj, const MigrationStats *st)
{
    uint64_t n = stat_get(st, multifd_channels), pages = 0;
    JsonArray *a, *p;

    if (!n) {
        return;
    }
    a = json_array_new();
    p = json_array_new();
    for (uint64_t i = 0; i < n; i++) {
        json_array_add_int_element(a, stat_get(st, multifd_channel_bytes[i]));
        json_array_add_int_element(p, stat_get(st, multifd_channel_pages[i]));
        pages += stat_get(st, multifd_channel_pages[i]);
    }
    json_object_set_array_member(obj, "x-multifd-channel-bytes", a);
    if (pages) {
        json_object_set_array_member(obj, "x-multifd-channel-pages", p);
    } else {
        json_array_unref(p);
    }
}

static void fill_ram(JsonObject *obj, const MigrationStats *st)
{
    JsonObject *ram = json_object_new();
    uint64_t normal = stat_get(st, normal_pages);
    uint64_t bw = stat_get(st, bandwidth);

    json_object_set_int_member(ram, "transferred", stat_get(st, transferred));
    json_object_set_int_member(ram, "remaining", stat_get(st, remaining));
    json_object_set_int_member(ram, "total", stat_get(st, ram_total));
    json_object_set_int_member(ram, "duplicate", stat_get(st, zero_pages));
    json_object_set_int_member(ram, "skipped", 0);
    json_object_set_int_member(ram, "normal", normal);
    json_object_set_int_member(ram, "normal-bytes", normal * TARGET_PAGE_SIZE);
    json_object_set_int_member(ram, "dirty-pages-rate", stat_get(st, dirty_pages_rate));
    json_object_set_double_member(ram, "mbps", bw * 8.0 / 1e6);
    json_object_set_int_member(ram, "dirty-sync-count", stat_get(st, dirty_sync_count));
    json_object_set_int_member(ram, "postcopy-requests", stat_get(st, postcopy_requests));
    json_object_set_int_member(ram, "page-size", TARGET_PAGE_SIZE);
    json_object_set_int_member(ram, "multifd-bytes", stat_get(st, multifd_bytes));
    json_object_set_int_member(ram, "pages-per-second", stat_get(st, pages_per_second));
    json_object_set_int_member(ram, "precopy-bytes", stat_get(st, precopy_bytes));
    json_object_set_int_member(ram, "downtime-bytes", stat_get(st, downtime_bytes));
    json_object_set_int_member(ram, "postcopy-bytes", stat_get(st, postcopy_bytes));
    json_object_set_int_member(ram, "x-free-page-hint-pages",
                               stat_get(st, free_page_hint_pages));
    json_object_set_int_member(ram, "x-postcopy-preempt-pages",
                               stat_get(st, postcopy_preempt_pages));
    migration_stats_fill_channel_bytes(ram, st);
    json_object_set_object_member(obj, "ram", ram);
}

/* xbzrle: QEMU shows "xbzrle-cache" with the ram numbers when the capability is on. */
static void fill_xbzrle(JsonObject *obj, const MigrationStats *st)
{
    JsonObject *x;

    if (!stat_get(st, xbzrle)) {
        return;
    }
    x = json_object_new();
    json_object_set_int_member(x, "cache-size", stat_get(st, xbzrle_cache_size));
    json_object_set_int_member(x, "bytes", stat_get(st, xbzrle_bytes));
    json_object_set_int_member(x, "pages", stat_get(st, xbzrle_pages));
    json_object_set_int_member(x, "cache-miss", stat_get(st, xbzrle_cache_miss));
    json_object_set_double_member(x, "cache-miss-rate",
                                  stat_get_double(st, xbzrle_cache_miss_rate));
    json_object_set_double_member(x, "encoding-rate",
                                  stat_get_double(st, xbzrle_encoding_rate));
    json_object_set_int_member(x, "overflow", stat_get(st, xbzrle_overflow));
    json_object_set_object_member(obj, "xbzrle-cache", x);
}

/*
 * compress: QEMU's "compression" when the capability is on.  The rates are
 * over the whole migration: busy-rate is the share of the pages meant for
 * the workers that found them all busy (and went raw), compression-rate
 * is page bytes per byte of COMPRESS_PAGE payload.
 */
static void fill_compression(JsonObject *obj, const MigrationStats *st)
{
    JsonObject *c;
    uint64_t pages, busy, size;

    if (!stat_get(st, compress)) {
        return;
    }
    pages = stat_get(st, compress_pages);
    busy = stat_get(st, compress_busy);
    size = stat_get(st, compress_size);
    c = json_object_new();
    json_object_set_int_member(c, "pages", pages);
    json_object_set_int_member(c, "busy", busy);
    json_object_set_double_member(c, "busy-rate",
                                  pages + busy ? (double)busy / (pages + busy) : 0.0);
    json_object_set_int_member(c, "compressed-size", size);
    json_object_set_double_member(c, "compression-rate",
                                  size ? (double)pages * TARGET_PAGE_SIZE / size : 0.0);
    json_object_set_object_member(obj, "compression", c);
}

void migration_stats_fill(JsonObject *obj, const MigrationStats *st, int status)
{
    int64_t start = stat_get(st, start_ms);

    switch (status) {
    case MIGRATION_STATUS_NONE:
        return;
    case MIGRATION_STATUS_SETUP:
        /* QEMU shows only the status (and times) during setup */
        json_object_set_int_member(obj, "total-time", mig_now_ms() - start);
        return;
    case MIGRATION_STATUS_ACTIVE:
    case MIGRATION_STATUS_PRE_SWITCHOVER:
    case MIGRATION_STATUS_DEVICE:
    case MIGRATION_STATUS_CANCELLING:
    /* QEMU shows the same while postcopy runs, is paused or recovers */
    case MIGRATION_STATUS_POSTCOPY_ACTIVE:
    case MIGRATION_STATUS_POSTCOPY_PAUSED:
    case MIGRATION_STATUS_POSTCOPY_RECOVER_SETUP:
    case MIGRATION_STATUS_POSTCOPY_RECOVER:
        json_object_set_int_member(obj, "setup-time", stat_get(st, setup_time));
        json_object_set_int_member(obj, "total-time", mig_now_ms() - start);
        json_object_set_int_member(obj, "expected-downtime",
                                   stat_get(st, expected_downtime));
        fill_ram(obj, st);
        fill_xbzrle(obj, st);
        fill_compression(obj, st);
        mig_convergence_fill(obj, st);  /* cpu-throttle-percentage, x-convergence */
        return;
    case MIGRATION_STATUS_COMPLETED:
        json_object_set_int_member(obj, "setup-time", stat_get(st, setup_time));
        json_object_set_int_member(obj, "total-time", stat_get(st, total_time));
        json_object_set_int_member(obj, "downtime", stat_get(st, downtime));
        migration_stats_fill_phases(obj, st, false);
        fill_ram(obj, st);
        fill_xbzrle(obj, st);
        fill_compression(obj, st);
        return;
    default:
        /* failed, cancelled: QEMU keeps only status and error-desc */
        return;
    }
}

void migration_stats_add_latency(MigrationStats *st, int64_t ns)
{
    uint64_t us = ns / 1000;
    unsigned b = 0;

    while (us > 1 && b < MIG_STATS_LAT_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    stat_add(st, postcopy_lat_count, 1);
    stat_add(st, postcopy_lat_sum_ns, ns);
    stat_add(st, postcopy_lat_dist[b], 1);
}

void migration_stats_fill_postcopy_blocktime(JsonObject *obj, const MigrationStats *st,
                                             unsigned nvcpus)
{
    uint64_t n = stat_get(st, postcopy_lat_count);
    JsonArray *dist = json_array_new(), *vbt = json_array_new(), *vlat = json_array_new();
    unsigned last = 0;

    nvcpus = MIN(nvcpus, MIG_STATS_MAX_VCPUS);
    json_object_set_int_member(obj, "postcopy-blocktime",
                               stat_get(st, postcopy_blocktime_ns) / 1000000);
    for (unsigned i = 0; i < nvcpus; i++) {
        uint64_t faults = stat_get(st, postcopy_vcpu_faults[i]);
        uint64_t ns = stat_get(st, postcopy_vcpu_block_ns[i]);

        json_array_add_int_element(vbt, ns / 1000000);
        json_array_add_int_element(vlat, faults ? ns / faults : 0);
    }
    json_object_set_array_member(obj, "postcopy-vcpu-blocktime", vbt);
    json_object_set_int_member(obj, "postcopy-latency",
                               n ? stat_get(st, postcopy_lat_sum_ns) / n : 0);
    json_object_set_array_member(obj, "postcopy-vcpu-latency", vlat);
    for (unsigned i = 0; i < MIG_STATS_LAT_BUCKETS; i++) {
        if (stat_get(st, postcopy_lat_dist[i])) {
            last = i + 1;
        }
    }
    for (unsigned i = 0; i < last; i++) {
        json_array_add_int_element(dist, stat_get(st, postcopy_lat_dist[i]));
    }
    json_object_set_array_member(obj, "postcopy-latency-dist", dist);
}
