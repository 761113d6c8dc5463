/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Migration capabilities and parameters: QEMU 7.2's names, types, defaults
 * and range checks, stored in one MigrationOptions object that the
 * MigrationState owns (migration_options()), the monitor changes and the
 * migration threads read.  Who may touch what, and the lock: the top of
 * migration/options.c.
 */
#ifndef KVMIG_MIGRATION_OPTIONS_H
#define KVMIG_MIGRATION_OPTIONS_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

/* In the order query-migrate-capabilities lists them (QEMU's, then ours). */
typedef enum MigrationCapability {
    MIGRATION_CAPABILITY_XBZRLE,
    MIGRATION_CAPABILITY_RDMA_PIN_ALL,
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_COMPRESS,
    MIGRATION_CAPABILITY_EVENTS,
    MIGRATION_CAPABILITY_POSTCOPY_RAM,
    MIGRATION_CAPABILITY_RETURN_PATH,
    MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER,
    MIGRATION_CAPABILITY_MULTIFD,
    MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME,
    MIGRATION_CAPABILITY_POSTCOPY_PREEMPT,
    /*
     * Not here: QEMU's late-block-activate (kvmig has no block devices to
     * activate late), refused as QEMU refuses a capability it does not
     * have: "Parameter 'capability' does not accept value ...".
     */
    /* kvmig: stop dirty logging before (not after) the final handshake */
    MIGRATION_CAPABILITY_X_EARLY_DIRTY_LOG_STOP,
    /* kvmig: switch over as soon as the rest fits downtime-limit, as QEMU (migration.c) */
    MIGRATION_CAPABILITY_X_SWITCHOVER_AT_THRESHOLD,
    MIGRATION_CAPABILITY__MAX,
} MigrationCapability;

typedef enum MultiFDCompression {
    MULTIFD_COMPRESSION_NONE,
    MULTIFD_COMPRESSION_ZLIB,
    MULTIFD_COMPRESSION_ZSTD,
    MULTIFD_COMPRESSION_LZ4,    /* kvmig extension */
    MULTIFD_COMPRESSION__MAX,
} MultiFDCompression;

/* Defaults and limits (QEMU 7.2's numbers). */
#define MIGRATE_DEFAULT_MAX_BANDWIDTH       (128ULL << 20)  /* bytes/s */
#define MIGRATE_DEFAULT_DOWNTIME_LIMIT      300             /* ms */
#define MIGRATE_MAX_DOWNTIME_LIMIT          2000000         /* ms */
#define MIGRATE_DEFAULT_XBZRLE_CACHE_SIZE   (64ULL << 20)
#define MIGRATE_DEFAULT_COMPRESS_LEVEL      1
#define MIGRATE_DEFAULT_COMPRESS_THREADS    8
#define MIGRATE_DEFAULT_DECOMPRESS_THREADS  2
#define MIGRATE_DEFAULT_THROTTLE_TRIGGER    50
#define MIGRATE_DEFAULT_CPU_THROTTLE_INITIAL 20
#define MIGRATE_DEFAULT_CPU_THROTTLE_INCREMENT 10
#define MIGRATE_DEFAULT_MAX_CPU_THROTTLE    99
#define MIGRATE_DEFAULT_MULTIFD_CHANNELS    2
#define MIGRATE_DEFAULT_MULTIFD_ZLIB_LEVEL  1
#define MIGRATE_DEFAULT_MULTIFD_ZSTD_LEVEL  1
/* x-postcopy-request-window: pages a fault asks for (docs/devel/migration/postcopy.rst) */
#define MIGRATE_DEFAULT_POSTCOPY_REQUEST_WINDOW 64
#define MIGRATE_MAX_POSTCOPY_REQUEST_WINDOW     1024
/* x-postcopy-priority-boost: the postcopy page path's nice is this much below 0 */
#define MIGRATE_DEFAULT_POSTCOPY_PRIORITY_BOOST 10
#define MIGRATE_MAX_POSTCOPY_PRIORITY_BOOST     20

/* Longest tls-creds / tls-hostname / tls-authz value + 1 (a DNS name fits). */
#define MIGRATE_TLS_STR_MAX 256

/* Plain values; copy freely.  Field names are QEMU's with '_' for '-'. */
typedef struct MigrationParameters {
    uint8_t compress_level;             /* 0..9 */
    uint8_t compress_threads;           /* 1..255 */
    bool compress_wait_thread;
    uint8_t decompress_threads;         /* 1..255 */
    uint8_t throttle_trigger_threshold; /* 1..100 (percent) */
    uint8_t cpu_throttle_initial;       /* 1..99 */
    uint8_t cpu_throttle_increment;     /* 1..99 */
    bool cpu_throttle_tailslow;
    uint8_t max_cpu_throttle;           /* cpu_throttle_initial..99 */
    uint64_t max_bandwidth;             /* bytes/second */
    uint64_t downtime_limit;            /* ms, 0..2000000 */
    uint8_t multifd_channels;           /* 1..255 */
    MultiFDCompression multifd_compression;
    uint8_t multifd_zlib_level;         /* 0..9 */
    uint8_t multifd_zstd_level;         /* 0..20 */
    uint64_t xbzrle_cache_size;         /* bytes, power of two >= page size */
    uint64_t max_postcopy_bandwidth;    /* bytes/second after the switch; 0: unlimited */
    /* kvmig, destination: pages one postcopy fault asks for, 1..1024 */
    uint64_t x_postcopy_request_window;
    uint8_t x_postcopy_priority_boost;
    /* TLS (QEMU's StrOrNull: "" or null = off); strings, so the struct copies */
    char tls_creds[MIGRATE_TLS_STR_MAX];    /* id of a tls-creds-* object */
    char tls_hostname[MIGRATE_TLS_STR_MAX]; /* name the destination's certificate has */
    char tls_authz[MIGRATE_TLS_STR_MAX];    /* id of an authz-* object (destination) */
} MigrationParameters;

typedef struct MigrationOptions MigrationOptions;
/* Called in the main loop after a successful migrate-set-parameters. */
typedef void (*MigrationOptionsNotify)(void *opaque, const MigrationParameters *p);

struct MigrationOptions {
    GMutex lock;
    /* protected by lock */
    bool caps[MIGRATION_CAPABILITY__MAX];
    MigrationParameters params;
    /* set once by the migration code before the main loop runs */
    MigrationOptionsNotify notify;
    void *notify_opaque;
};

/* Initialise with every capability off and QEMU's default parameters. */
void mig_opts_init(MigrationOptions *o);
void mig_opts_destroy(MigrationOptions *o);

/* A consistent copy of everything (either output may be NULL). */
void mig_opts_snapshot(MigrationOptions *o, bool caps[MIGRATION_CAPABILITY__MAX],
                       MigrationParameters *params);

/* One capability's state; any thread. */
bool migrate_cap(MigrationOptions *o, MigrationCapability cap);

/* One parameter each; any thread. */
uint64_t migrate_max_bandwidth(MigrationOptions *o);
uint64_t migrate_downtime_limit(MigrationOptions *o);
uint64_t migrate_xbzrle_cache_size(MigrationOptions *o);
int migrate_compress_level(MigrationOptions *o);
int migrate_compress_threads(MigrationOptions *o);
bool migrate_compress_wait_thread(MigrationOptions *o);
int migrate_decompress_threads(MigrationOptions *o);
int migrate_throttle_trigger_threshold(MigrationOptions *o);
int migrate_cpu_throttle_initial(MigrationOptions *o);
int migrate_cpu_throttle_increment(MigrationOptions *o);
bool migrate_cpu_throttle_tailslow(MigrationOptions *o);
int migrate_max_cpu_throttle(MigrationOptions *o);
int migrate_multifd_channels(MigrationOptions *o);
MultiFDCompression migrate_multifd_compression(MigrationOptions *o);
/* Is tls-creds set (TLS on)?  QEMU's migrate_tls(). */
bool migrate_tls(MigrationOptions *o);
int migrate_multifd_zlib_level(MigrationOptions *o);
uint64_t migrate_max_postcopy_bandwidth(MigrationOptions *o);
unsigned migrate_x_postcopy_request_window(MigrationOptions *o);
unsigned migrate_x_postcopy_priority_boost(MigrationOptions *o);
int migrate_multifd_zstd_level(MigrationOptions *o);

/* Names <-> enums; lookup returns false for unknown names. */
const char *migrate_capability_name(MigrationCapability cap);
bool migrate_capability_lookup(const char *name, MigrationCapability *cap);
const char *multifd_compression_name(MultiFDCompression c);

/*
 * Is @status (a MigrationStatus name) one in which capabilities must not
 * change?  QEMU's migration_is_running() set.
 */
bool migrate_status_is_running(const char *status);

/* QMP query-migrate-capabilities: [{"capability": NAME, "state": BOOL}, ...] */
JsonNode *mig_opts_query_capabilities(MigrationOptions *o);
/* QMP query-migrate-parameters: {"max-bandwidth": N, ...} */
JsonNode *mig_opts_query_parameters(MigrationOptions *o);

/*
 * migrate-set-capabilities: @caps is the "capabilities" argument as
 * received (validated here, with QEMU's error texts).  The whole list is
 * checked (names, types, dependencies, @migration_active) before anything
 * changes; on error nothing changes.
 */
bool mig_opts_set_capabilities(MigrationOptions *o, JsonNode *caps,
                               bool migration_active, GError **errp);

/*
 * migrate-set-parameters: @args holds QMP members ("max-bandwidth": N...).
 * Types, then ranges of the merged result are checked first; on error
 * nothing changes.  On success the notify hook (if any) runs after unlock.
 */
bool mig_opts_set_parameters(MigrationOptions *o, JsonObject *args, GError **errp);

/* Is @name a parameter migrate-set-parameters accepts? */
bool migrate_parameter_exists(const char *name);

/*
 * HMP migrate_set_parameter: convert the text @value for parameter @name
 * into the JSON value migrate-set-parameters expects, with HMP's rules
 * (sizes with suffixes; max-bandwidth in MiB when there is no suffix;
 * on/off for booleans).  Returns a new node or NULL with *errp set.
 */
JsonNode *migrate_parameter_from_string(const char *name, const char *value,
                                        GError **errp);

#endif
