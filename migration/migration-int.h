/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to migration/: the MigrationState, the transports' constructors,
 * the return-path messages, and the machine-level sections.
 *
 * Threads and locks of a MigrationState:
 *  - main thread: the qmp_* entry points, migration_new/free;
 *  - the migration thread (one outgoing migration at a time) and the
 *    incoming thread (at most one per process).
 *  - status / in_status change only through migrate_set_state (CAS).
 *  - lock protects error_desc, out_ch, continue_switchover, go_sent;
 *    cond is signalled on migrate-continue and on cancel.
 *  - stats are relaxed atomics (stats.h).
 */
#ifndef KVMIG_MIGRATION_INT_H
#define KVMIG_MIGRATION_INT_H

#include "migration/convergence.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/ram.h"
#include "migration/savevm.h"
#include "migration/state.h"
#include "migration/stats.h"
#include "migration/tls.h"
#include "system/runstate.h"

/* ---- URIs and transports (uri.c, socket.c, exec.c, fd.c, file.c) ---- */

typedef enum MigUriKind {
    MIG_URI_TCP,
    MIG_URI_UNIX,
    MIG_URI_EXEC,
    MIG_URI_FD,
    MIG_URI_FILE,
    MIG_URI_RDMA,
} MigUriKind;

typedef struct MigUri {
    MigUriKind kind;
    char *host, *port;      /* tcp, rdma */
    char *path;             /* unix, file */
    char *cmd;              /* exec */
    char *fdname;           /* fd */
    uint64_t offset;        /* file: ,offset=N */
} MigUri;

/* Parse and check a URI (not "defer"); one-line errors. */
bool mig_uri_parse(const char *uri, MigUri *u, GError **errp);
void mig_uri_clear(MigUri *u);

/*
 * tcp/unix: connect (blocking); sets TCP_NODELAY, keepalive and a user
 * timeout.  @status (may be NULL): the migration's status, polled while
 * connecting: CANCELLING ends the connect with ECANCELED.
 */
MigChannel *mig_socket_connect(const MigUri *u, const int *status, GError **errp);
/* tcp/unix: a listening socket, bound now so errors are reported at once. */
int mig_socket_listen(const MigUri *u, GError **errp);
/* Accept one connection on @lfd (blocking) and close @lfd. */
MigChannel *mig_socket_accept(int lfd, const MigUri *u, GError **errp);
/*
 * Accept one connection on @lfd (kept open), waiting at most @timeout_ms
 * (-1: forever), and peek at its first 4 bytes: *@magic gets them as a
 * be32 (0 if the peer sent fewer).  multifd tells its channels apart so.
 * While waiting for those bytes, *@quit (atomic; may be NULL) true ends
 * the wait with an error.
 */
MigChannel *mig_socket_accept_peek(int lfd, const MigUri *u, int timeout_ms,
                                   const bool *quit, uint32_t *magic, GError **errp);
/* Close a listener (and remove a unix: socket's path). */
void mig_socket_listen_close(int lfd, const MigUri *u);
/* exec: "/bin/sh -c CMD", the stream on its stdin (outgoing) or stdout. */
MigChannel *mig_exec_open(const char *cmd, bool outgoing, GError **errp);
/* fd: wrap an fd (sockets are bidirectional; others one-way). */
MigChannel *mig_fd_open(int fd, const char *name, bool outgoing, GError **errp);
/* file: PATH at offset; outgoing creates/truncates. */
MigChannel *mig_file_open(const char *path, uint64_t offset, bool outgoing,
                          GError **errp);

/* ---- TLS (tls-setup.c) ---- */

/* What one end of a migration uses for TLS; all NULL: plaintext. */
typedef struct MigTlsSide {
    MigTlsCreds *creds;         /* a reference */
    char *hostname;             /* client: the destination's expected name */
    MigAuthz *authz;            /* server: tls-authz, or NULL */
} MigTlsSide;

/* With tls-creds set, may @u carry the stream?  (tcp: and unix: only) */
bool migration_tls_transport_check(MigrationState *s, const MigUri *u, GError **errp);
/*
 * Resolve the parameters as they are now into @t (zeroed when tls-creds is
 * ""): the credentials for this end, the hostname (tls-hostname, else a
 * tcp: URI's host), the authz object.  One-line errors as QEMU's.
 */
bool migration_tls_prepare(MigrationState *s, bool server, const MigUri *u, MigTlsSide *t,
                           GError **errp);
void migration_tls_clear(MigTlsSide *t);
/*
 * @ch itself when @t is plaintext; else the TLS channel over it after a
 * handshake that a cancel (source) or quit (destination) ends.  On failure
 * @ch is closed and NULL returned.
 */
MigChannel *migration_tls_wrap(MigrationState *s, MigChannel *ch, const MigTlsSide *t,
                               bool server, GError **errp);
/* Destination: the first 4 bytes of a TLS channel as a be32, kept for the loader. */
bool migration_tls_peek(MigrationState *s, MigChannel *ch, uint32_t *magic, GError **errp);

/* ---- the state ---- */

struct MigrationState {
    /* set at creation, read-only after */
    Machine *m;
    /*
     * Capabilities and parameters: owned by this state (migration_new
     * creates them, migration_free frees them); the monitor reaches them
     * through migration_options().  Their own lock (options.c).
     */
    MigrationOptions *opts;
    SaveVMRegistry *reg;
    RAMState *ram;
    void *machine_sections;     /* machine-state.c's private data */
    MigObjects *objects;        /* -object / object-add: TLS credentials, authz (own lock) */

    /* changed only through migrate_set_state() */
    int status;                 /* outgoing */
    int in_status;              /* incoming */

    /* main thread only */
    GThread *thread;
    GThread *in_thread;
    bool incoming_deferred;     /* -incoming defer: migrate-incoming expected */
    bool incoming_started;
    bool in_quitting;           /* atomic: migration_free is stopping the incoming thread */

    /* protected by lock */
    GMutex lock;
    GCond cond;
    char *error_desc;
    MigChannel *out_ch;         /* outgoing channel while the thread uses it */
    int in_listen_fd;           /* incoming listener until accept (-1: none) */
    MigChannel *in_ch;          /* incoming channel while the thread uses it */
    struct MultiFDSend *mf_send;    /* outgoing multifd channels while in use */
    struct MultiFDRecv *mf_recv;    /* incoming multifd channels while in use */
    bool continue_switchover;
    /* atomic: migrate-start-postcopy asked to switch (cleared by qmp_migrate) */
    bool start_postcopy;
    /* incoming thread: postcopy's state while a load runs (kept if it paused) */
    struct PostcopyIncoming *pc_in;
    /*
     * migrate-recover (main thread) -> the incoming thread, under lock: the
     * listener for the new channel of a paused postcopy (-1: none yet)
     */
    int pc_recover_lfd;
    MigUri pc_recover_uri;
    char *tls_session;          /* outgoing: the main channel's TLS session, or NULL */
    /*
     * Set by the migration thread when it commits to writing GO, or has
     * written postcopy's package (the destination may run the guest) (status
     * device, not cancelling), cleared by qmp_migrate.  While set, cancel
     * does nothing and the source never resumes its guest by itself.
     */
    bool go_sent;

    /* outgoing thread; read by the globalstate section at switchover */
    RunState switchover_runstate;
    /* incoming thread: the source's run state from globalstate */
    RunState loaded_runstate;

    MigrationStats stats;       /* outgoing */
    MigConvergence conv;        /* outgoing thread: auto-converge (convergence.c) */
    MigrationStats in_stats;    /* incoming */
};

/* Set error_desc (first error of a migration wins until reset). */
void migration_set_error(MigrationState *s, const char *msg);
/* Copy of error_desc or NULL. */
char *migration_get_error(MigrationState *s);

/* machine-state.c: the "kvmig-machine" and "globalstate" sections (accel/ has its own). */
bool machine_sections_register(MigrationState *s, GError **errp);
void machine_sections_free(MigrationState *s);

/* incoming.c */
void migration_incoming_join(MigrationState *s);
/*
 * A further connection on the listener @lfd (kept open; @u names it) for
 * an incoming migration under way -- postcopy's recovery channel and its
 * preempt channel: accepted within @timeout_ms (-1: no limit), with TLS
 * if tls-creds is set now (a plaintext peer refused, the handshake, then
 * tls-authz), its first 4 bytes as a be32 in *@magic (still to be read).
 * NULL with @errp set.
 */
MigChannel *incoming_accept_more(MigrationState *s, int lfd, const MigUri *u, int timeout_ms,
                                 uint32_t *magic, GError **errp);
/*
 * Run the loaded guest unless the source's was paused or -S was given
 * (incoming thread; postcopy's RUN too); returns whether it runs.
 * Records the resume time since @from_us.
 */
bool incoming_resume_guest(MigrationState *s, int64_t from_us);

#endif
