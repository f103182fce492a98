/*  sch_server.c — the scheduler's loop (one thread owns the store) and its
 *  dispatch sender (one thread owns the dispatch socket).
 *
 *  Each turn: wait (computed timeout), then ONE write transaction that
 *  applies what waits on the submit socket (<= COMMIT_BATCH requests) and
 *  on the results socket (<= COMMIT_BATCH outcomes), ends expired leases
 *  and leases what is due up to the deliverers' budget (a message for now
 *  is leased in the transaction that accepts it); commit synced; then
 *  publish the replies and hand the leases to the sender, which sends each
 *  when due (at once, or at its time when leased ahead: no commit of the
 *  loop's ever delays it). Heartbeat and purge run
 *  when their time has come. Replies and dispatches never leave before
 *  their commit: a 202 or a dispatch always describes durable state.
 *
 *  A batch that fails (MDB_MAP_FULL, any LMDB error) is aborted and its
 *  parts are applied again one transaction each, so one request that does
 *  not fit gets 507 and the others their normal answer, and results and
 *  leases (which fit in the map's reserve) go on. */
#include "scheduler/sch_server.h"
#include "scheduler/sch_limit.h"
#include "scheduler/sch_store.h"
#include "common/zh_clock.h"
#include "common/zh_curve.h"
#include "common/zh_log.h"
#include "common/zh_metrics.h"
#include "common/zh_ops.h"
#include "common/zh_signal.h"
#include "common/zh_trace.h"

#include <civetweb.h>
#include <czmq.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_SUBMIT_RCVHWM 100000
#define S_RESULTS_RCVHWM 100000
#define S_PUBLISH_SNDHWM 100000
#define S_DISPATCH_SNDHWM 1000
#define S_LINGER_MS 1000
#define S_DELIVERERS_MAX 1024 /* deliverer ids remembered at most */
#define S_DELIVERER_ID_MAX 128
#define S_RATE_SLOTS 10 /* heartbeats of history behind STATUS rates */
#define S_STORE_RETRY_MS 1000 /* pause of dispatch/purge after a failed commit */

typedef struct {
    char id[S_DELIVERER_ID_MAX + 1]; // instance id from its heartbeats
    uint32_t capacity; // its ZHOOK_CONCURRENCY
    bool stopping; // draining: no more work
    int64_t heard_mono; // last heartbeat, monotonic ms
} s_deliverer_t;

typedef struct {
    proto_submit_t *submit; // one of submit or command
    proto_command_t *command;
    proto_reply_t *reply; // built while applying, published after the commit
    uint32_t tokens; // taken from the tenant's bucket for this submit (0: none)
    bool published; // its reply went out (s_publish_replies)
    sch_limit_info_t rate; // the tenant limit's state after taking them
} s_req_t;

typedef struct {
    int64_t mono; // when the snapshot was taken, monotonic ms
    uint64_t commits, accepted, dispatched, delivered;
} s_rate_t;

struct _sch_server_t {
    const sch_config_t *cfg;
    sch_store_t *store;
    zsock_t *submit, *publish, *dispatch, *results;
    zh_curve_t *curve; // CURVE server keys and the zauth allowlist; outlives the sockets
    zpoller_t *poller;
    zh_metrics_t *metrics;
    zh_ops_t *ops;
    atomic_bool ready; // read by civetweb threads (/ready)

    s_deliverer_t *deliverers; // live deliverers, S_DELIVERERS_MAX at most
    size_t deliverer_count;
    s_req_t *reqs; // commit_batch slots
    proto_result_t **results_buf; // commit_batch + PROTO_FRAME_MAX_MSGS slots
    sch_event_t *events; // as many: what the results of a turn did
    sch_event_t *exp_events; // dispatch_batch slots: what the expiries of a turn did
    proto_dispatch_t **dispatches; // dispatch_batch slots
    /* Committed leases waiting to be sent, sorted by due_ms, held_cap
     * (4 x dispatch_batch) slots: what is due now and what was leased
     * ahead (ZHOOK_DISPATCH_LEAD_MS). The sender thread owns the dispatch
     * socket once it runs and sends each when due, so a due dispatch never
     * waits for the loop's synced commit in progress. held_lock guards
     * held, held_count and sender_stop; held_cond wakes the sender. */
    proto_dispatch_t **held;
    size_t held_count, held_cap;
    proto_dispatch_t **sending; // the sender's batch, held_cap slots
    proto_frame_t send_frame; // the sender's frame being built
    pthread_mutex_t held_lock;
    pthread_cond_t held_cond; // CLOCK_MONOTONIC
    bool held_sync_made, sender_started, sender_stop;
    pthread_t sender;
    atomic_int_fast64_t live_deliverers; // for the sender's frame split, set by the loop
    int64_t blocked_horizon; // the last lease walk stopped short below this: keys <= it wait
    proto_frame_t frame; // the batched frame being built (replies; dispatches: send_frame)
    int64_t next_hb_mono, next_purge_mono, store_retry_mono;
    s_rate_t rates[S_RATE_SLOTS];
    size_t rate_next;

    zh_counter_t *accepted, *commits, *dispatched, *delivered, *retries, *dead, *expiries, *stale,
        *replayed, *purged, *store_full, *malformed, *deferred, *events_c;
    zh_counter_t *sub_disabled_gone, *sub_disabled_failing, *sub_disabled_user;
    zh_gauge_t *pending, *in_flight, *deliverers_g, *capacity_g, *subs_enabled, *subs_disabled;
    zh_gauge_t *held_g; // dispatches leased ahead, waiting for their due time
    zh_gauge_t *messages_g[PROTO_ST_CANCELLED + 1]; // zhook_scheduler_messages{state}, from counts
    zh_histogram_t *batch_size, *lateness, *commit_time;
    sch_limit_t *tenants; // ZHOOK_TENANT_RATE buckets, one per tenant
    zh_counter_t *rate_limited; // submits refused 429 by the tenant limit
    zh_gauge_t *map_used, *map_size; // LMDB map use, refreshed on heartbeat
    zh_counter_t *stale_readers; // reader slots of dead processes cleared
    zh_counter_t *backups, *backup_failures; // GET /admin/backup outcomes
    int64_t next_reader_mono; // next mdb_reader_check
    atomic_flag backup_busy; // one backup at a time (civetweb threads)
};

static int s_held_sync_init (sch_server_t *self);
static void s_sender_stop (sch_server_t *self);

static const double s_batch_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};
static const double s_lateness_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                           2.5,   5,    10,    30,   60,  300,  900, 3600};
static const double s_commit_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                         0.02,   0.05,  0.1,   0.25,  1};

static bool
s_ready (void *arg)
{
    sch_server_t *self = arg;
    return atomic_load (&self->ready);
}

static int
s_metrics_init (sch_server_t *self)
{
    zh_metrics_t *m = self->metrics;
#define S_C(field, name, help)                                                                     \
    (self->field = zh_metrics_counter (m, "zhook_scheduler_" name, help, NULL))
#define S_G(field, name, help)                                                                     \
    (self->field = zh_metrics_gauge (m, "zhook_scheduler_" name, help, NULL))
    if (!S_C (accepted, "accepted_total", "Messages accepted (committed)") ||
        !S_C (commits, "commits_total", "Synced write transactions committed") ||
        !S_C (dispatched, "dispatched_total", "Deliveries leased and sent to deliverers") ||
        !S_C (delivered, "delivered_total", "Messages delivered (2xx)") ||
        !S_C (retries, "retries_total", "Failed attempts scheduled for a retry") ||
        !S_C (dead, "dead_total", "Messages moved to the dead-letter queue") ||
        !S_C (expiries, "lease_expiries_total", "Leases that ended without a result") ||
        !S_C (stale, "stale_results_total", "Results ignored: other attempt or not in flight") ||
        !S_C (deferred, "deferred_total",
              "Dispatches a deliverer sent back unattempted (destination busy or circuit open)") ||
        !S_C (replayed, "idempotent_replays_total",
              "Submissions answered from the idempotency index") ||
        !S_C (purged, "purged_total", "Ended messages purged after retention") ||
        !S_C (store_full, "store_full_total",
              "Transactions aborted because the LMDB map is full") ||
        !S_C (malformed, "malformed_frames_total", "Frames dropped because they did not decode") ||
        !S_G (pending, "pending", "Messages waiting: scheduled or retrying") ||
        !S_G (in_flight, "in_flight", "Messages leased to deliverers") ||
        !S_G (deliverers_g, "deliverers", "Deliverers heard recently and not stopping") ||
        !S_G (capacity_g, "capacity", "Sum of the capacity of live deliverers") ||
        !S_G (
            held_g, "held",
            "Dispatches leased ahead of their due time (ZHOOK_DISPATCH_LEAD_MS), sent when due") ||
        !S_C (events_c, "events_total", "Events published (committed), each fanned out") ||
        !(self->subs_enabled = zh_metrics_gauge (m, "zhook_scheduler_subscriptions",
                                                 "Subscriptions by state", "state=\"enabled\"")) ||
        !(self->subs_disabled =
              zh_metrics_gauge (m, "zhook_scheduler_subscriptions", "Subscriptions by state",
                                "state=\"disabled\"")) ||
        !(self->sub_disabled_gone = zh_metrics_counter (
              m, "zhook_scheduler_subscriptions_disabled_total",
              "Subscriptions disabled, by reason (gone: a 410; failing: failing too long; user)",
              "reason=\"gone\"")) ||
        !(self->sub_disabled_failing = zh_metrics_counter (
              m, "zhook_scheduler_subscriptions_disabled_total",
              "Subscriptions disabled, by reason (gone: a 410; failing: failing too long; user)",
              "reason=\"failing\"")) ||
        !(self->sub_disabled_user = zh_metrics_counter (
              m, "zhook_scheduler_subscriptions_disabled_total",
              "Subscriptions disabled, by reason (gone: a 410; failing: failing too long; user)",
              "reason=\"user\"")))
        return -1;
#undef S_C
#undef S_G
    self->batch_size = zh_metrics_histogram (
        m, "zhook_scheduler_commit_batch_size", "Submissions and commands per write transaction",
        NULL, s_batch_bounds, sizeof s_batch_bounds / sizeof s_batch_bounds[0]);
    self->lateness = zh_metrics_histogram (m, "zhook_scheduler_dispatch_lateness_seconds",
                                           "Dispatch time minus due time", NULL, s_lateness_bounds,
                                           sizeof s_lateness_bounds / sizeof s_lateness_bounds[0]);
    self->commit_time = zh_metrics_histogram (
        m, "zhook_scheduler_commit_seconds", "Time of a synced commit (mdb_txn_commit)", NULL,
        s_commit_bounds, sizeof s_commit_bounds / sizeof s_commit_bounds[0]);
    self->rate_limited =
        zh_metrics_counter (m, "zhook_scheduler_rate_limited_total",
                            "Submissions refused (429) by the tenant rate limit", NULL);
    for (int st = PROTO_ST_SCHEDULED; st <= PROTO_ST_CANCELLED; st++) {
        char labels[64];
        snprintf (labels, sizeof labels, "state=\"%s\"", proto_status_name ((proto_status_t)st));
        if (!(self->messages_g[st] = zh_metrics_gauge (
                  m, "zhook_scheduler_messages",
                  "Stored messages by state (ended ones until the retention purge)", labels)))
            return -1;
    }
    self->map_used =
        zh_metrics_gauge (m, "zhook_scheduler_map_used_bytes",
                          "LMDB pages in use (high-water mark minus free list), bytes", NULL);
    self->map_size = zh_metrics_gauge (m, "zhook_scheduler_map_size_bytes",
                                       "LMDB map size (ZHOOK_MAP_SIZE_MB), bytes", NULL);
    self->stale_readers = zh_metrics_counter (
        m, "zhook_scheduler_stale_readers_cleared_total",
        "LMDB reader slots of dead processes cleared by mdb_reader_check", NULL);
    self->backups = zh_metrics_counter (m, "zhook_scheduler_backups_total",
                                        "Backups streamed by GET /admin/backup", NULL);
    self->backup_failures =
        zh_metrics_counter (m, "zhook_scheduler_backup_failures_total",
                            "GET /admin/backup requests that failed after authentication", NULL);
    return self->batch_size && self->lateness && self->commit_time && self->rate_limited &&
                   self->map_used && self->map_size && self->stale_readers && self->backups &&
                   self->backup_failures
               ? 0
               : -1;
}

static zsock_t *
s_socket (zh_curve_t *curve, int type, const char *endpoint, const char *what, int hwm, int linger)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        zh_error ("cannot create socket", "s:socket", what, NULL);
        return NULL;
    }
    if (type == ZMQ_PULL)
        zsock_set_rcvhwm (sock, hwm);
    else
        zsock_set_sndhwm (sock, hwm);
    zsock_set_linger (sock, linger);
    zh_curve_apply (curve, sock);
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        zh_error ("cannot bind socket", "s:socket", what, "s:endpoint", endpoint, "s:error",
                  zmq_strerror (zmq_errno ()), NULL);
        zsock_destroy (&sock);
    }
    return sock;
}

/* --- GET /admin/backup (civetweb threads) ---------------------------------------- */

/* Constant-time comparison of the presented token with the configured one
 * (the time depends only on the presented length). */
static bool
s_token_ok (const char *given, const char *want)
{
    size_t gl = strlen (given), wl = strlen (want);
    unsigned char diff = gl != wl;
    for (size_t i = 0; i < gl; i++)
        diff |= (unsigned char)(given[i] ^ want[i % (wl ? wl : 1)]);
    return diff == 0 && wl > 0;
}

static int
s_backup_problem (struct mg_connection *conn, int status, const char *slug, const char *detail,
                  const char *extra_headers)
{
    char body[512];
    int n = snprintf (body, sizeof body,
                      "{\"type\":\"https://zhook.dev/problems/%s\",\"status\":%d,"
                      "\"detail\":\"%s\"}",
                      slug, status, detail);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    return zh_ops_respond (conn, status, "application/problem+json", extra_headers, body,
                           (size_t)n);
}

/* Streams a compacted copy of the store: mdb_env_copyfd2 into an unlinked
 * temporary file in the data directory (bounded memory; the disk needs room
 * for one compacted copy), then the file to the connection. */
static int
s_on_backup (void *c, void *arg)
{
    struct mg_connection *conn = c;
    sch_server_t *self = arg;
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (!self->cfg->admin_token)
        return s_backup_problem (conn, 404, "not-found",
                                 "backup is disabled: ZHOOK_ADMIN_TOKEN is not set", NULL);
    if (!ri || !ri->request_method || strcmp (ri->request_method, "GET") != 0)
        return s_backup_problem (conn, 405, "method-not-allowed", "only GET is allowed here",
                                 "Allow: GET\r\n");
    const char *auth = mg_get_header (conn, "Authorization");
    if (!auth || strncmp (auth, "Bearer ", 7) != 0 ||
        !s_token_ok (auth + 7, self->cfg->admin_token)) {
        zh_warn ("backup refused: bad or missing admin token", NULL);
        return s_backup_problem (conn, 401, "unauthorized",
                                 "Authorization: Bearer <ZHOOK_ADMIN_TOKEN> required",
                                 "WWW-Authenticate: Bearer\r\n");
    }
    if (atomic_flag_test_and_set (&self->backup_busy))
        return s_backup_problem (conn, 503, "busy", "a backup is already running",
                                 "Retry-After: 5\r\n");
    int64_t t0 = zh_clock_mono_ms ();
    char path[4096];
    int fd = -1, status;
    int n = snprintf (path, sizeof path, "%s/.backup.XXXXXX", self->cfg->data_dir);
    if (n > 0 && (size_t)n < sizeof path)
        fd = mkstemp (path);
    if (fd >= 0)
        unlink (path);
    struct stat st;
    sch_store_rc_t rc = fd < 0 ? SCH_STORE_ERROR : sch_store_backup (self->store, fd);
    if (rc == SCH_STORE_OK && (fstat (fd, &st) || lseek (fd, 0, SEEK_SET) != 0))
        rc = SCH_STORE_ERROR;
    if (rc != SCH_STORE_OK) {
        zh_error ("backup failed", "s:error",
                  fd < 0 ? "cannot create a temporary file in the data directory"
                         : sch_store_strerror (rc),
                  NULL);
        zh_counter_inc (self->backup_failures);
        status = rc == SCH_STORE_FULL
                     ? s_backup_problem (conn, 507, "store-full",
                                         "no room in the data directory for the copy", NULL)
                     : s_backup_problem (conn, 500, "internal", "backup failed", NULL);
    }
    else {
        mg_printf (conn,
                   "HTTP/1.1 200 OK\r\n"
                   "Content-Type: application/octet-stream\r\n"
                   "Content-Length: %lld\r\n"
                   "Content-Disposition: attachment; filename=\"data.mdb\"\r\n"
                   "Cache-Control: no-store\r\n"
                   "Connection: close\r\n"
                   "\r\n",
                   (long long)st.st_size);
        char *buf = malloc (65536);
        off_t sent = 0;
        ssize_t got;
        while (buf && (got = read (fd, buf, 65536)) > 0 && mg_write (conn, buf, (size_t)got) == got)
            sent += got;
        free (buf);
        status = 200;
        if (sent == st.st_size) {
            zh_counter_inc (self->backups);
            zh_info ("backup streamed", "i:bytes", (int64_t)sent, "i:ms", zh_clock_mono_ms () - t0,
                     NULL);
        }
        else {
            zh_counter_inc (self->backup_failures);
            zh_warn ("backup cut short", "i:bytes", (int64_t)sent, "i:size", (int64_t)st.st_size,
                     NULL);
        }
    }
    if (fd >= 0)
        close (fd);
    atomic_flag_clear (&self->backup_busy);
    return status;
}

sch_server_t *
sch_server_new (const sch_config_t *cfg)
{
    sch_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    atomic_init (&self->ready, false);
    atomic_flag_clear (&self->backup_busy);
    self->deliverers = calloc (S_DELIVERERS_MAX, sizeof *self->deliverers);
    self->reqs = calloc (cfg->commit_batch, sizeof *self->reqs);
    /* a results frame read when commit_batch - 1 are in carries up to
     * PROTO_FRAME_MAX_MSGS more */
    self->results_buf =
        calloc ((size_t)cfg->commit_batch + PROTO_FRAME_MAX_MSGS, sizeof *self->results_buf);
    self->events = calloc ((size_t)cfg->commit_batch + PROTO_FRAME_MAX_MSGS, sizeof *self->events);
    self->exp_events = calloc (cfg->dispatch_batch, sizeof *self->exp_events);
    self->dispatches = calloc (cfg->dispatch_batch, sizeof *self->dispatches);
    self->held_cap = (size_t)cfg->dispatch_batch * 4;
    self->held = calloc (self->held_cap, sizeof *self->held);
    self->sending = calloc (self->held_cap, sizeof *self->sending);
    atomic_init (&self->live_deliverers, 0);
    if (s_held_sync_init (self) != 0) {
        zh_error ("cannot create the dispatch sender's lock", NULL);
        free (self->held);
        self->held = NULL; /* refused below */
    }
    self->blocked_horizon = INT64_MIN;
    self->tenants = sch_limit_new (SCH_LIMIT_DEFAULT_MAX);
    self->metrics = zh_metrics_new ();
    if (!self->deliverers || !self->reqs || !self->results_buf || !self->events ||
        !self->exp_events || !self->dispatches || !self->held || !self->sending || !self->tenants ||
        !self->metrics || s_metrics_init (self)) {
        zh_error ("out of memory at start", NULL);
        goto fail;
    }
    sch_store_rc_t rc;
    self->store = sch_store_new (cfg->data_dir, cfg->map_size_mb << 20, &cfg->policy, &rc);
    if (!self->store) {
        zh_error ("cannot open the store", "s:dir", cfg->data_dir, "s:error",
                  sch_store_strerror (rc), NULL);
        goto fail;
    }
    zh_counter_add (self->stale_readers, (uint64_t)sch_store_readers_cleared_at_open (self->store));
    /* the ZAP handler runs before anything binds: no unauthenticated window */
    self->curve = zh_curve_new (&cfg->curve, ZH_CURVE_SERVER);
    if (!self->curve)
        goto fail;
    self->submit =
        s_socket (self->curve, ZMQ_PULL, cfg->submit_endpoint, "submit", S_SUBMIT_RCVHWM, 0);
    /* replies and dispatches still queued at a stop get this long to leave,
     * within the shutdown grace */
    int linger = cfg->shutdown_grace_ms < S_LINGER_MS ? (int)cfg->shutdown_grace_ms : S_LINGER_MS;
    /* XPUB: a subscriber's arrival is a frame here, answered with a
     * heartbeat at once (an ingress is ready only after a heartbeat over
     * its current connection, see ing_bridge.c: without this it would wait
     * a heartbeat interval after every scheduler restart) */
    self->publish = s_socket (self->curve, ZMQ_XPUB, cfg->publish_endpoint, "publish",
                              S_PUBLISH_SNDHWM, linger);
    self->results =
        s_socket (self->curve, ZMQ_PULL, cfg->results_endpoint, "results", S_RESULTS_RCVHWM, 0);
    self->dispatch = zsock_new (ZMQ_PUSH);
    if (self->dispatch) {
        /* ZMTP heartbeats close the pipe of a stopped or partitioned deliverer,
         * so PUSH stops round-robining work into it */
        zsock_set_sndhwm (self->dispatch, S_DISPATCH_SNDHWM);
        zsock_set_linger (self->dispatch, linger);
        zsock_set_heartbeat_ivl (self->dispatch, (int)cfg->heartbeat_ms);
        zsock_set_heartbeat_timeout (self->dispatch, (int)cfg->heartbeat_ms * 3);
        zh_curve_apply (self->curve, self->dispatch);
        if (zsock_bind (self->dispatch, "%s", cfg->dispatch_endpoint) < 0) {
            zh_error ("cannot bind socket", "s:socket", "dispatch", "s:endpoint",
                      cfg->dispatch_endpoint, "s:error", zmq_strerror (zmq_errno ()), NULL);
            zsock_destroy (&self->dispatch);
        }
    }
    if (!self->submit || !self->publish || !self->results || !self->dispatch)
        goto fail;
    /* every subscription comes up, also one a second ingress repeats */
    zsock_set_xpub_verbose (self->publish, 1);
    self->poller = zpoller_new (self->submit, self->results, self->publish, NULL);
    if (!self->poller)
        goto fail;
    self->ops = zh_ops_new (cfg->ops_listen, self->metrics, s_ready, self);
    if (!self->ops || zh_ops_handle (self->ops, "/admin/backup", s_on_backup, self))
        goto fail;
    int64_t now = zh_clock_mono_ms ();
    self->next_hb_mono = now;
    self->next_purge_mono = now;
    self->next_reader_mono = now + cfg->reader_check_ms; /* sch_store_new checked at open */
    sch_store_counts_t counts;
    sch_store_counts (self->store, &counts);
    zh_info ("scheduler started", "s:data_dir", cfg->data_dir, "s:submit", cfg->submit_endpoint,
             "s:publish", cfg->publish_endpoint, "s:dispatch", cfg->dispatch_endpoint, "s:results",
             cfg->results_endpoint, "s:ops", cfg->ops_listen, "i:scheduled",
             counts.by_status[PROTO_ST_SCHEDULED], "i:retrying",
             counts.by_status[PROTO_ST_RETRYING], "i:in_flight",
             counts.by_status[PROTO_ST_IN_FLIGHT], NULL);
    atomic_store (&self->ready, true);
    return self;
fail:
    sch_server_destroy (&self);
    return NULL;
}

void
sch_server_destroy (sch_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sch_server_t *self = *self_p;
    atomic_store (&self->ready, false);
    s_sender_stop (self);
    zh_ops_destroy (&self->ops);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->dispatch);
    zsock_destroy (&self->results);
    zsock_destroy (&self->publish);
    zsock_destroy (&self->submit);
    zh_curve_destroy (&self->curve); /* after the sockets: they consult zauth until closed */
    sch_store_destroy (&self->store);
    zh_metrics_destroy (&self->metrics);
    sch_limit_destroy (&self->tenants);
    free (self->dispatches);
    for (size_t i = 0; self->held && i < self->held_count; i++)
        proto_dispatch_destroy (&self->held[i]);
    free (self->held);
    free (self->sending);
    proto_frame_free (&self->send_frame);
    if (self->held_sync_made) {
        pthread_cond_destroy (&self->held_cond);
        pthread_mutex_destroy (&self->held_lock);
    }
    proto_frame_free (&self->frame);
    free (self->exp_events);
    free (self->events);
    free (self->results_buf);
    free (self->reqs);
    free (self->deliverers);
    free (self);
    *self_p = NULL;
}

/* --- frames ------------------------------------------------------------------ */

/* Receives one message without blocking; extra frames are dropped.
 * Returns 1 with msg filled (caller closes it), 0 when none is waiting. */
static int
s_recv (zsock_t *sock, zmq_msg_t *msg)
{
    zmq_msg_init (msg);
    if (zmq_msg_recv (msg, zsock_resolve (sock), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (msg);
        return 0;
    }
    while (zmq_msg_more (msg)) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        int rc = zmq_msg_recv (&extra, zsock_resolve (sock), ZMQ_DONTWAIT);
        int more = rc >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
        if (!more)
            break;
    }
    return 1;
}

static void
s_publish (sch_server_t *self, const char *topic, const uint8_t *data, size_t size)
{
    void *h = zsock_resolve (self->publish);
    if (zmq_send (h, topic, strlen (topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send (h, data, size, ZMQ_DONTWAIT) < 0)
        zh_warn ("cannot publish", "s:topic", topic, "s:error", zmq_strerror (zmq_errno ()), NULL);
}

/* --- requests ------------------------------------------------------------------ */

static void
s_reply_reset (s_req_t *req, uint16_t status, const char *error)
{
    uint64_t corr = req->submit ? req->submit->corr : req->command->corr;
    proto_reply_destroy (&req->reply);
    req->reply = proto_reply_new ();
    if (!req->reply)
        return;
    req->reply->corr = corr;
    req->reply->status = status;
    req->reply->error = error ? strdup (error) : NULL;
}

static uint16_t
s_status_of (sch_store_rc_t rc)
{
    switch (rc) {
    case SCH_STORE_OK:
        return 200;
    case SCH_STORE_NOTFOUND:
        return 404;
    case SCH_STORE_CONFLICT:
        return 409;
    case SCH_STORE_INVALID:
        return 400;
    case SCH_STORE_FULL:
        return 507;
    default:
        return 503;
    }
}

/* Moves a record filled by the store into the reply. */
static int
s_reply_take_record (proto_reply_t *reply, proto_record_t **rec_p)
{
    proto_record_t *slot = proto_reply_add_record (reply);
    if (!slot)
        return -1;
    *slot = **rec_p;
    memset (*rec_p, 0, sizeof **rec_p);
    proto_record_destroy (rec_p);
    return 0;
}

static void s_add_stats (sch_server_t *self, proto_reply_t *reply);
static void s_held_drop (sch_server_t *self, const char *id);

static void
s_apply_command (sch_server_t *self, s_req_t *req, int64_t now)
{
    const proto_command_t *cmd = req->command;
    proto_reply_t *reply = req->reply;
    bool change = cmd->op == PROTO_OP_CANCEL || cmd->op == PROTO_OP_REPLAY ||
                  cmd->op == PROTO_OP_SUB_CREATE || cmd->op == PROTO_OP_SUB_DELETE ||
                  cmd->op == PROTO_OP_SUB_ROTATE || cmd->op == PROTO_OP_SUB_UPDATE;
    if (change && cmd->deadline_ms > 0 && now > cmd->deadline_ms) {
        s_reply_reset (req, 503, "deadline passed before the scheduler read the request");
        return;
    }
    sch_store_rc_t rc = SCH_STORE_OK;
    proto_record_t *rec = NULL;
    switch (cmd->op) {
    case PROTO_OP_GET:
    case PROTO_OP_CANCEL:
    case PROTO_OP_REPLAY:
        if (!(rec = proto_record_new ())) {
            rc = SCH_STORE_ERROR;
            break;
        }
        if (cmd->op == PROTO_OP_GET)
            rc = sch_store_get (self->store, cmd->tenant, cmd->id, rec);
        else if (cmd->op == PROTO_OP_CANCEL) {
            rc = sch_store_cancel (self->store, cmd->tenant, cmd->id, now, rec);
            /* leased ahead and held: never sent (should this batch fail,
             * the cancel is applied again alone; failing that too, the
             * lease brings the message back) */
            if (rc == SCH_STORE_OK)
                s_held_drop (self, cmd->id);
        }
        else
            rc = sch_store_replay (self->store, cmd->tenant, cmd->id, now, rec);
        if (rc == SCH_STORE_OK && s_reply_take_record (reply, &rec))
            rc = SCH_STORE_ERROR;
        proto_record_destroy (&rec);
        break;
    case PROTO_OP_DL_LIST:
        rc = sch_store_dead_list (self->store, cmd->tenant,
                                  cmd->limit > 1000 ? 1000
                                  : cmd->limit      ? cmd->limit
                                                    : 100,
                                  cmd->after, reply);
        break;
    case PROTO_OP_STATUS:
        s_add_stats (self, reply);
        break;
    case PROTO_OP_SUB_CREATE:
    case PROTO_OP_SUB_GET:
    case PROTO_OP_SUB_DELETE:
    case PROTO_OP_SUB_ROTATE:
    case PROTO_OP_SUB_UPDATE: {
        proto_subscription_t *out = proto_reply_add_subscription (reply);
        bool user_disabled = false;
        if (!out)
            rc = SCH_STORE_ERROR;
        else if (cmd->op == PROTO_OP_SUB_CREATE)
            rc = cmd->subscription
                     ? sch_store_sub_create (self->store, cmd->tenant, cmd->subscription, now, out)
                     : SCH_STORE_INVALID;
        else if (cmd->op == PROTO_OP_SUB_GET)
            rc = sch_store_sub_get (self->store, cmd->tenant, cmd->id, out);
        else if (cmd->op == PROTO_OP_SUB_DELETE)
            rc = sch_store_sub_delete (self->store, cmd->tenant, cmd->id, out);
        else if (cmd->op == PROTO_OP_SUB_ROTATE)
            rc = sch_store_sub_rotate (self->store, cmd->tenant, cmd->id,
                                       cmd->subscription ? cmd->subscription->secret : NULL, now,
                                       out);
        else
            rc = sch_store_sub_update (self->store, cmd->tenant, cmd->id, cmd->subscription,
                                       cmd->update_mask, now, out, &user_disabled);
        if (rc == SCH_STORE_OK && user_disabled)
            zh_counter_inc (self->sub_disabled_user);
        break;
    }
    case PROTO_OP_SUB_LIST:
        rc = sch_store_sub_list (self->store, cmd->tenant, cmd->topic,
                                 cmd->limit > 1000 ? 1000
                                 : cmd->limit      ? cmd->limit
                                                   : 100,
                                 cmd->after, reply);
        break;
    case PROTO_OP_EVENT_GET:
        rc = sch_store_event_get (self->store, cmd->tenant, cmd->id, reply);
        break;
    default:
        rc = SCH_STORE_INVALID;
        break;
    }
    if (rc == SCH_STORE_OK) {
        reply->status = 200;
        return;
    }
    bool sub_op = cmd->op >= PROTO_OP_SUB_CREATE && cmd->op <= PROTO_OP_SUB_UPDATE;
    const char *error =
        rc == SCH_STORE_NOTFOUND   ? (sub_op                          ? "no such subscription"
                                      : cmd->op == PROTO_OP_EVENT_GET ? "no such event"
                                                                      : "no such message")
        : rc == SCH_STORE_INVALID  ? "invalid command or cursor"
        : rc == SCH_STORE_FULL     ? "store full"
        : rc == SCH_STORE_CONFLICT ? (cmd->op == PROTO_OP_CANCEL       ? "message already ended"
                                      : cmd->op == PROTO_OP_SUB_CREATE ? "duplicate id"
                                                                       : "message is not dead")
                                   : "store error";
    s_reply_reset (req, s_status_of (rc), error);
}

static void
s_apply_submit (sch_server_t *self, s_req_t *req, int64_t now)
{
    const proto_submit_t *sub = req->submit;
    if (sub->deadline_ms > 0 && now > sub->deadline_ms) {
        s_reply_reset (req, 503, "deadline passed before the scheduler read the request");
        return;
    }
    if (req->tokens) {
        req->reply->rate_limit = req->rate.limit;
        req->reply->rate_remaining = req->rate.remaining;
        req->reply->rate_reset_ms = req->rate.reset_ms;
    }
    sch_store_rc_t rc = sch_store_accept (self->store, sub, now, req->reply);
    if (rc == SCH_STORE_OK)
        return;
    s_reply_reset (req, s_status_of (rc),
                   rc == SCH_STORE_CONFLICT  ? "idempotency key reused with a different body"
                   : rc == SCH_STORE_INVALID ? "invalid tenant or idempotency key"
                   : rc == SCH_STORE_FULL    ? "store full"
                                             : "store error");
}

static void
s_apply (sch_server_t *self, s_req_t *req, int64_t now)
{
    s_reply_reset (req, 0, NULL);
    if (!req->reply)
        return;
    if (req->submit)
        s_apply_submit (self, req, now);
    else
        s_apply_command (self, req, now);
}

static void
s_req_clear (s_req_t *req)
{
    proto_submit_destroy (&req->submit);
    proto_command_destroy (&req->command);
    proto_reply_destroy (&req->reply);
}

/* Logs and counts what a committed request did. */
static void
s_after_commit (sch_server_t *self, s_req_t *req)
{
    proto_reply_t *reply = req->reply;
    if (!reply)
        return;
    if (req->submit) {
        char trace_id[ZH_TRACE_ID_SIZE];
        zh_trace_id (req->submit->item_count ? req->submit->items[0].traceparent : NULL, trace_id,
                     sizeof trace_id);
        if (reply->replayed) {
            zh_counter_inc (self->replayed);
            zh_debug ("idempotent replay", "s:request_id", req->submit->request_id, NULL);
            return;
        }
        if (req->submit->topic && reply->status == 202) {
            zh_counter_inc (self->events_c);
            zh_info ("event published", "s:event_id", reply->event_id ? reply->event_id : "",
                     "s:topic", req->submit->topic, "i:messages", (int64_t)reply->item_count,
                     "s:request_id", req->submit->request_id, "s:trace_id", trace_id, NULL);
        }
        int64_t accepted = 0;
        const char *first = NULL;
        for (size_t i = 0; i < reply->item_count; i++) {
            if (reply->items[i].status != 202)
                continue;
            zh_counter_inc (self->accepted);
            if (!first)
                first = reply->items[i].id;
            accepted++;
            zh_debug ("accepted", "s:id", reply->items[i].id, "s:request_id",
                      req->submit->request_id, "s:trace_id", trace_id, "i:deliver_at_ms",
                      reply->items[i].deliver_at_ms, NULL);
        }
        /* one info line per accepted request (not per message): a grep of the
         * request id finds it; the ids of a batch are in the debug lines */
        if (accepted && !req->submit->topic)
            zh_info ("submission accepted", "s:id", first, "i:messages", accepted, "s:request_id",
                     req->submit->request_id, "s:trace_id", trace_id, NULL);
    }
    else if (reply->status == 200 &&
             (req->command->op == PROTO_OP_CANCEL || req->command->op == PROTO_OP_REPLAY))
        zh_info (req->command->op == PROTO_OP_CANCEL ? "cancelled" : "replayed", "s:id",
                 req->command->id, "s:request_id", req->command->request_id, NULL);
    else if (reply->status == 200 && reply->subscription_count == 1 && reply->subscriptions[0].id &&
             (req->command->op == PROTO_OP_SUB_CREATE || req->command->op == PROTO_OP_SUB_DELETE ||
              req->command->op == PROTO_OP_SUB_ROTATE || req->command->op == PROTO_OP_SUB_UPDATE)) {
        static const char *what[] = {"subscription created", "subscription deleted",
                                     "subscription secret rotated", "subscription updated"};
        proto_op_t op = req->command->op;
        size_t w = op == PROTO_OP_SUB_CREATE   ? 0
                   : op == PROTO_OP_SUB_DELETE ? 1
                   : op == PROTO_OP_SUB_ROTATE ? 2
                                               : 3;
        const proto_subscription_t *sub = &reply->subscriptions[0];
        zh_info (what[w], "s:subscription_id", sub->id, "s:topic", sub->topic ? sub->topic : "",
                 "b:enabled", (int)sub->enabled, "s:request_id", req->command->request_id, NULL);
    }
}

static const char *
s_reply_topic (const s_req_t *req)
{
    return req->submit ? req->submit->reply_to : req->command->reply_to;
}

/* Publishes one reply in a frame of its own. */
static void
s_publish_reply (sch_server_t *self, s_req_t *req)
{
    const char *topic = s_reply_topic (req);
    if (!req->reply || !topic)
        return;
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_reply_encode (req->reply, &data, &size)) {
        zh_error ("cannot encode reply", NULL);
        return;
    }
    s_publish (self, topic, data, size);
    free (data);
}

/* Publishes the replies of reqs[0..n), those for one topic (one ingress)
 * together, up to PROTO_FRAME_MAX_MSGS per frame: one ZeroMQ message and
 * one CURVE box for a turn's replies to an ingress. The requests of a
 * turn come from a few ingresses, so this walks each topic's run in turn
 * and marks what it published. */
static void
s_publish_replies (sch_server_t *self, s_req_t *reqs, size_t n)
{
    proto_frame_t *frame = &self->frame;
    for (size_t i = 0; i < n; i++) {
        const char *topic = s_reply_topic (&reqs[i]);
        if (reqs[i].published || !reqs[i].reply || !topic)
            continue;
        for (size_t j = i; j < n; j++) {
            s_req_t *req = &reqs[j];
            const char *t = s_reply_topic (req);
            if (req->published || !req->reply || !t || strcmp (t, topic) != 0)
                continue;
            req->published = true;
            uint8_t *data = NULL;
            size_t size = 0;
            if (proto_reply_encode (req->reply, &data, &size) != 0 ||
                proto_frame_add (frame, data, size) != 0)
                zh_error ("cannot encode reply", NULL);
            free (data);
            if (proto_frame_full (frame)) {
                s_publish (self, topic, frame->data, frame->size);
                proto_frame_reset (frame);
            }
        }
        if (frame->count)
            s_publish (self, topic, frame->data, frame->size);
        proto_frame_reset (frame);
    }
}

/* The tenant limit (ZHOOK_TENANT_RATE, ZHOOK_TENANT_BURST) counts accepted
 * messages: a submit takes one token per item (an event one, whatever its
 * fan-out: the tenant's own subscriptions and their rate limits bound that)
 * before any transaction, all or none. Refused: answered 429 at once with
 * the wait, nothing written. Tokens of items that were not accepted
 * (invalid, conflict, store full, idempotent replay) are given back after
 * the commit, so only accepted messages count. One scheduler owns every
 * tenant's bucket, so the limit holds across any number of ingresses. */
static bool
s_tenant_limited (sch_server_t *self, s_req_t *req)
{
    req->tokens = 0;
    memset (&req->rate, 0, sizeof req->rate);
    const proto_submit_t *sub = req->submit;
    uint32_t rate = self->cfg->tenant_rate;
    if (rate == 0 || !sub->tenant)
        return false;
    if (sub->deadline_ms > 0 && zh_clock_wall_ms () > sub->deadline_ms)
        return false; /* answered 503 by s_apply_submit, nothing taken */
    uint32_t n = sub->topic || sub->item_count == 0 ? 1
                 : sub->item_count > UINT32_MAX     ? UINT32_MAX
                                                    : (uint32_t)sub->item_count;
    int64_t wait = sch_limit_take_n (self->tenants, sub->tenant, rate, self->cfg->tenant_burst, n,
                                     zh_clock_mono_ms (), &req->rate);
    if (wait == 0) {
        req->tokens = n;
        return false;
    }
    if (wait < 0)
        s_reply_reset (req, 422, "the request holds more messages than ZHOOK_TENANT_BURST allows");
    else {
        s_reply_reset (req, 429, "tenant rate limit exceeded");
        zh_counter_inc (self->rate_limited);
        zh_debug ("tenant rate limited", "s:tenant", sub->tenant, "i:retry_after_ms", wait,
                  "s:request_id", sub->request_id, NULL);
    }
    if (req->reply) {
        req->reply->retry_after_ms = req->rate.retry_after_ms;
        req->reply->rate_limit = req->rate.limit;
        req->reply->rate_remaining = req->rate.remaining;
        req->reply->rate_reset_ms = req->rate.reset_ms;
    }
    s_publish_reply (self, req);
    return true;
}

static void
s_tenant_refund (sch_server_t *self, s_req_t *req)
{
    if (!req->submit || !req->tokens)
        return;
    const proto_reply_t *reply = req->reply;
    uint32_t kept = 0;
    if (reply && reply->status == 202 && !reply->replayed) {
        if (req->submit->topic)
            kept = 1;
        else
            for (size_t i = 0; i < reply->item_count; i++)
                kept += reply->items[i].status == 202;
    }
    if (kept < req->tokens)
        sch_limit_give (self->tenants, req->submit->tenant, self->cfg->tenant_burst,
                        req->tokens - kept);
    req->tokens = 0;
}

/* Commits the open transaction (synced); a commit that held is counted
 * and timed. */
static sch_store_rc_t
s_commit (sch_server_t *self)
{
    int64_t t0 = zh_clock_mono_us ();
    sch_store_rc_t rc = sch_store_commit (self->store);
    if (rc == SCH_STORE_OK) {
        zh_counter_inc (self->commits);
        zh_histogram_observe (self->commit_time, (double)(zh_clock_mono_us () - t0) / 1e6);
    }
    return rc;
}

/* Applies each of reqs[0..n) in a transaction of its own: the way out of
 * a batch that failed (MDB_MAP_FULL, any LMDB error), so one request that
 * does not fit gets 507 and the others their normal answer. */
static void
s_apply_each (sch_server_t *self, s_req_t *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int64_t now = zh_clock_wall_ms ();
        sch_store_rc_t rc = sch_store_begin (self->store);
        if (rc == SCH_STORE_OK) {
            s_apply (self, &reqs[i], now);
            rc = s_commit (self);
        }
        if (rc == SCH_STORE_OK) {
            zh_histogram_observe (self->batch_size, 1);
            continue;
        }
        if (rc == SCH_STORE_FULL)
            zh_counter_inc (self->store_full);
        s_reply_reset (&reqs[i], s_status_of (rc),
                       rc == SCH_STORE_FULL ? "store full" : "store error");
    }
}

/* After the commit: log, refund the tokens of what was not accepted,
 * publish every reply (batched per ingress), free the requests. */
static void
s_finish_reqs (sch_server_t *self, s_req_t *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s_after_commit (self, &reqs[i]);
        s_tenant_refund (self, &reqs[i]);
        reqs[i].published = false;
    }
    s_publish_replies (self, reqs, n);
    for (size_t i = 0; i < n; i++)
        s_req_clear (&reqs[i]);
}

/* Decodes up to commit_batch waiting submit frames into self->reqs; a
 * request refused by the tenant limit is answered 429 at once. Returns the
 * number of requests to apply. */
static size_t
s_read_submits (sch_server_t *self)
{
    size_t n = 0;
    zmq_msg_t msg;
    while (n < self->cfg->commit_batch && s_recv (self->submit, &msg)) {
        const uint8_t *data = zmq_msg_data (&msg);
        size_t size = zmq_msg_size (&msg);
        s_req_t *req = &self->reqs[n];
        proto_rc_t prc = PROTO_EMALFORMED;
        if (proto_check (data, size) == PROTO_OK) {
            proto_type_t t = proto_peek_type (data, size);
            if (t == PROTO_T_SUBMIT)
                prc = proto_submit_decode (data, size, &req->submit);
            else if (t == PROTO_T_COMMAND)
                prc = proto_command_decode (data, size, &req->command);
            else
                prc = PROTO_ETYPE;
        }
        zmq_msg_close (&msg);
        if (prc != PROTO_OK) {
            zh_counter_inc (self->malformed);
            zh_warn ("dropped undecodable submit frame", "s:error", proto_strerror (prc), NULL);
            s_req_clear (req);
            continue;
        }
        req->tokens = 0;
        if (req->submit && s_tenant_limited (self, req)) {
            s_req_clear (req);
            continue;
        }
        n++;
    }
    return n;
}

/* --- deliverers and results ------------------------------------------------------- */

static void
s_heard (sch_server_t *self, const proto_heartbeat_t *hb)
{
    if (!hb->from || !*hb->from || strlen (hb->from) > S_DELIVERER_ID_MAX)
        return;
    int64_t now = zh_clock_mono_ms ();
    s_deliverer_t *d = NULL;
    for (size_t i = 0; i < self->deliverer_count && !d; i++)
        if (strcmp (self->deliverers[i].id, hb->from) == 0)
            d = &self->deliverers[i];
    if (!d) {
        if (self->deliverer_count == S_DELIVERERS_MAX) {
            zh_warn ("too many deliverers; ignoring a new one", "s:deliverer", hb->from, NULL);
            return;
        }
        d = &self->deliverers[self->deliverer_count++];
        memset (d, 0, sizeof *d);
        memcpy (d->id, hb->from, strlen (hb->from) + 1);
        zh_info ("deliverer joined", "s:deliverer", d->id, "i:capacity", (int64_t)hb->capacity,
                 NULL);
    }
    if (hb->stopping && !d->stopping)
        zh_info ("deliverer stopping", "s:deliverer", d->id, NULL);
    d->capacity = hb->capacity;
    d->stopping = hb->stopping;
    d->heard_mono = now;
}

/* Forgets silent deliverers; returns the capacity of the live ones. */
static int64_t
s_capacity (sch_server_t *self, int64_t now_mono, int64_t *live)
{
    int64_t cap = 0;
    *live = 0;
    for (size_t i = 0; i < self->deliverer_count;) {
        s_deliverer_t *d = &self->deliverers[i];
        if (now_mono - d->heard_mono > (int64_t)self->cfg->deliverer_timeout_ms) {
            zh_info ("deliverer lost", "s:deliverer", d->id, NULL);
            *d = self->deliverers[--self->deliverer_count];
            continue;
        }
        if (!d->stopping) {
            cap += d->capacity;
            (*live)++;
        }
        i++;
    }
    return cap;
}

static int64_t
s_budget (sch_server_t *self, int64_t now_mono)
{
    int64_t live;
    int64_t cap = s_capacity (self, now_mono, &live);
    sch_store_counts_t counts;
    sch_store_counts (self->store, &counts);
    return cap - counts.by_status[PROTO_ST_IN_FLIGHT];
}

static void
s_log_event (sch_server_t *self, const sch_event_t *ev)
{
    switch (ev->kind) {
    case SCH_EVENT_STALE:
        zh_counter_inc (self->stale);
        zh_debug ("stale result ignored", "s:id", ev->id, "i:attempt", (int64_t)ev->attempt, NULL);
        break;
    case SCH_EVENT_DELIVERED:
        zh_counter_inc (self->delivered);
        zh_info ("delivered", "s:id", ev->id, "i:attempt", (int64_t)ev->attempt, "s:request_id",
                 ev->request_id, "s:trace_id", ev->trace_id, NULL);
        break;
    case SCH_EVENT_RETRY:
        zh_counter_inc (self->retries);
        zh_info ("retry scheduled", "s:id", ev->id, "i:attempt", (int64_t)ev->attempt,
                 "s:request_id", ev->request_id, "s:trace_id", ev->trace_id, "i:next_attempt_ms",
                 ev->next_ms, "b:lease_expired", (int)ev->lease_expired, NULL);
        break;
    case SCH_EVENT_DEFERRED:
        /* routine under load (one per busy destination per dispatch): debug only */
        zh_counter_inc (self->deferred);
        zh_debug ("deferred by the deliverer", "s:id", ev->id, "i:attempt", (int64_t)ev->attempt,
                  "i:next_attempt_ms", ev->next_ms, NULL);
        break;
    case SCH_EVENT_DEAD:
        zh_counter_inc (self->dead);
        zh_info ("dead", "s:id", ev->id, "i:attempt", (int64_t)ev->attempt, "s:request_id",
                 ev->request_id, "s:trace_id", ev->trace_id, "s:reason", ev->reason,
                 "b:lease_expired", (int)ev->lease_expired, NULL);
        break;
    }
    if (ev->lease_expired)
        zh_counter_inc (self->expiries);
    if (ev->sub_disabled[0]) {
        zh_counter_inc (strcmp (ev->sub_disabled, "gone") == 0 ? self->sub_disabled_gone
                                                               : self->sub_disabled_failing);
        zh_warn ("subscription disabled", "s:subscription_id", ev->subscription_id, "s:reason",
                 ev->sub_disabled, "s:id", ev->id, NULL);
    }
}

/* One message of a results frame (proto_frame_each): a result appended to
 * results_buf[*n], or a heartbeat taken in. */
typedef struct {
    sch_server_t *self;
    size_t *n;
} s_results_read_t;

static proto_rc_t
s_result_msg (void *arg, const uint8_t *data, size_t size)
{
    s_results_read_t *rd = arg;
    proto_type_t t = proto_peek_type (data, size);
    if (t == PROTO_T_RESULT) {
        proto_rc_t prc = proto_result_decode (data, size, &rd->self->results_buf[*rd->n]);
        if (prc == PROTO_OK)
            (*rd->n)++;
        return prc;
    }
    if (t != PROTO_T_HEARTBEAT)
        return PROTO_ETYPE;
    proto_heartbeat_t *hb = NULL;
    proto_rc_t prc = proto_heartbeat_decode (data, size, &hb);
    if (prc == PROTO_OK)
        s_heard (rd->self, hb);
    proto_heartbeat_destroy (&hb);
    return prc;
}

/* Decodes waiting results frames into self->results_buf, until it holds
 * commit_batch (a frame carries up to PROTO_FRAME_MAX_MSGS, which the
 * buffer has room for beyond commit_batch); heartbeats are taken in on the
 * way. A malformed message ends its frame (the leases of what it carried
 * bring those messages back). Returns the number of results. */
static size_t
s_read_results (sch_server_t *self)
{
    size_t n = 0;
    zmq_msg_t msg;
    s_results_read_t rd = {self, &n};
    while (n < self->cfg->commit_batch && s_recv (self->results, &msg)) {
        proto_rc_t prc =
            proto_frame_each (zmq_msg_data (&msg), zmq_msg_size (&msg), s_result_msg, &rd, NULL);
        zmq_msg_close (&msg);
        if (prc != PROTO_OK) {
            zh_counter_inc (self->malformed);
            zh_warn ("dropped undecodable results frame", "s:error", proto_strerror (prc), NULL);
        }
    }
    return n;
}

/* Records each of results_buf[0..n) in a transaction of its own (the way
 * out of a failed batch); one that cannot be recorded is left to its lease. */
static void
s_results_each (sch_server_t *self, size_t n, int64_t now)
{
    proto_result_t **res = self->results_buf;
    for (size_t i = 0; i < n; i++) {
        sch_store_rc_t rc = sch_store_begin (self->store);
        if (rc == SCH_STORE_OK) {
            sch_store_result (self->store, res[i], now, &self->events[i]);
            rc = s_commit (self);
        }
        if (rc == SCH_STORE_OK) {
            s_log_event (self, &self->events[i]);
            continue;
        }
        if (rc == SCH_STORE_FULL)
            zh_counter_inc (self->store_full);
        zh_error ("result not recorded", "s:id", res[i]->id, "i:attempt", (int64_t)res[i]->attempt,
                  "s:error", sch_store_strerror (rc), NULL);
    }
}

/* --- dispatch ------------------------------------------------------------------- */

/* Most leases the open batch (or the next one) may take: the deliverers'
 * announced capacity minus what is in flight, at most dispatch_batch. */
static size_t
s_lease_max (sch_server_t *self, int64_t now_mono)
{
    int64_t budget = s_budget (self, now_mono);
    return budget > (int64_t)self->cfg->dispatch_batch ? self->cfg->dispatch_batch
           : budget > 0                                ? (size_t)budget
                                                       : 0;
}

/* Sends a batched frame; false (nothing sent) when ZeroMQ refuses it. */
static bool
s_send_frame (void *h, proto_frame_t *frame)
{
    bool sent = frame->count == 0 || zmq_send (h, frame->data, frame->size, ZMQ_DONTWAIT) >= 0;
    proto_frame_reset (frame);
    return sent;
}

/* Sends ds[0..n) (each freed), several per frame (a frame refused leaves
 * the leases of its dispatches to bring them back). They are split in as
 * many frames as there are live deliverers (PUSH deals frames round
 * robin), each of at most PROTO_FRAME_MAX_MSGS. */
static void
s_send (sch_server_t *self, proto_dispatch_t **ds, size_t n)
{
    void *h = zsock_resolve (self->dispatch);
    int64_t live = atomic_load (&self->live_deliverers);
    size_t per_frame = live > 1 ? (n + (size_t)live - 1) / (size_t)live : n;
    int64_t now = zh_clock_wall_ms (); /* lateness as sent: after the lease's commit */
    proto_frame_t *frame = &self->send_frame;
    size_t unsent = 0, in_frame_from = 0;
    for (size_t i = 0; i < n; i++) {
        proto_dispatch_t *d = ds[i];
        uint8_t *data = NULL;
        size_t size = 0;
        if (proto_dispatch_encode (d, &data, &size) != 0 ||
            proto_frame_add (frame, data, size) != 0) {
            unsent++; /* out of memory: its lease brings it back */
            proto_dispatch_destroy (&ds[i]);
        }
        free (data);
        bool last = i + 1 == n;
        if (!last && frame->count < per_frame && !proto_frame_full (frame))
            continue;
        size_t count = frame->count;
        if (s_send_frame (h, frame)) {
            for (size_t k = in_frame_from; k <= i; k++) {
                const proto_dispatch_t *sent = ds[k];
                if (!sent)
                    continue;
                zh_histogram_observe (self->lateness, (double)(now - sent->due_ms) / 1000.0);
                if (zh_log_enabled (ZH_LOG_DEBUG)) {
                    char trace_id[ZH_TRACE_ID_SIZE];
                    zh_debug ("dispatched", "s:id", sent->id, "i:attempt", (int64_t)sent->attempt,
                              "s:request_id", sent->request_id, "s:trace_id",
                              zh_trace_id (sent->traceparent, trace_id, sizeof trace_id), NULL);
                }
            }
            zh_counter_add (self->dispatched, count);
        }
        else
            unsent += count;
        for (size_t k = in_frame_from; k <= i; k++)
            proto_dispatch_destroy (&ds[k]);
        in_frame_from = i + 1;
    }
    if (unsent)
        zh_warn ("dispatches not sent; their leases will bring them back", "i:count",
                 (int64_t)unsent, NULL);
}

/* Microseconds of the realtime clock (due times are wall-clock ms). */
static int64_t
s_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The sender thread: sends what is due, then sleeps until the next due
 * time (at most a second: a wall-clock step is seen within it) or until
 * s_hold brings more. */
static void *
s_sender_run (void *arg)
{
    sch_server_t *self = arg;
    pthread_mutex_lock (&self->held_lock);
    while (!self->sender_stop) {
        int64_t now_us = s_wall_us ();
        size_t n = 0;
        while (n < self->held_count && self->held[n]->due_ms * 1000 <= now_us)
            n++;
        if (n) {
            memcpy (self->sending, self->held, n * sizeof *self->held);
            self->held_count -= n;
            memmove (self->held, self->held + n, self->held_count * sizeof *self->held);
            zh_gauge_set (self->held_g, (int64_t)self->held_count);
            pthread_mutex_unlock (&self->held_lock);
            s_send (self, self->sending, n);
            pthread_mutex_lock (&self->held_lock);
            continue;
        }
        int64_t wait_us = self->held_count ? self->held[0]->due_ms * 1000 - now_us : 1000000;
        if (wait_us > 1000000)
            wait_us = 1000000;
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + wait_us * 1000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait (&self->held_cond, &self->held_lock, &ts);
    }
    pthread_mutex_unlock (&self->held_lock);
    return NULL;
}

static int
s_held_sync_init (sch_server_t *self)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init (&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    if (rc == 0 && (rc = pthread_mutex_init (&self->held_lock, NULL)) == 0 &&
        (rc = pthread_cond_init (&self->held_cond, &attr)) != 0)
        pthread_mutex_destroy (&self->held_lock);
    pthread_condattr_destroy (&attr);
    self->held_sync_made = rc == 0;
    return rc == 0 ? 0 : -1;
}

/* Starts the sender; from then on it owns the dispatch socket. */
static int
s_sender_start (sch_server_t *self)
{
    self->sender_stop = false;
    if (pthread_create (&self->sender, NULL, s_sender_run, self) != 0)
        return -1;
    self->sender_started = true;
    return 0;
}

/* Stops and joins the sender (what it holds stays in held). */
static void
s_sender_stop (sch_server_t *self)
{
    if (!self->sender_started)
        return;
    pthread_mutex_lock (&self->held_lock);
    self->sender_stop = true;
    pthread_cond_signal (&self->held_cond);
    pthread_mutex_unlock (&self->held_lock);
    pthread_join (self->sender, NULL);
    self->sender_started = false;
}

/* Moves the turn's committed leases into held, in due order (a new one
 * after the held ones due at the same time). */
static void
s_hold (sch_server_t *self, size_t leased)
{
    if (!leased)
        return;
    int64_t live = 0;
    s_capacity (self, zh_clock_mono_ms (), &live);
    atomic_store (&self->live_deliverers, live);
    pthread_mutex_lock (&self->held_lock);
    for (size_t i = 0; i < leased; i++) {
        proto_dispatch_t *d = self->dispatches[i];
        size_t lo = 0, hi = self->held_count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (self->held[mid]->due_ms <= d->due_ms)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove (self->held + lo + 1, self->held + lo,
                 (self->held_count - lo) * sizeof *self->held);
        self->held[lo] = d;
        self->held_count++;
        self->dispatches[i] = NULL;
    }
    zh_gauge_set (self->held_g, (int64_t)self->held_count);
    pthread_cond_signal (&self->held_cond);
    pthread_mutex_unlock (&self->held_lock);
}

/* A cancelled message's held dispatch is not sent. */
static void
s_held_drop (sch_server_t *self, const char *id)
{
    pthread_mutex_lock (&self->held_lock);
    for (size_t i = 0; i < self->held_count; i++) {
        if (strcmp (self->held[i]->id, id) != 0)
            continue;
        proto_dispatch_destroy (&self->held[i]);
        self->held_count--;
        memmove (self->held + i, self->held + i + 1, (self->held_count - i) * sizeof *self->held);
        zh_gauge_set (self->held_g, (int64_t)self->held_count);
        break;
    }
    pthread_mutex_unlock (&self->held_lock);
}

/* Slots of held not in use. */
static size_t
s_held_room (sch_server_t *self)
{
    pthread_mutex_lock (&self->held_lock);
    size_t room = self->held_cap - self->held_count;
    pthread_mutex_unlock (&self->held_lock);
    return room;
}

/* How far ahead a lease walk may reach now: ZHOOK_DISPATCH_LEAD_MS while
 * held is at most half full (the other half is room for what is due now). */
static int64_t
s_lead (sch_server_t *self)
{
    return s_held_room (self) > self->held_cap / 2 ? (int64_t)self->cfg->dispatch_lead_ms : 0;
}

/* After the commit of leases and expiries: log the expiries, hand the
 * leases to the sender. */
static void
s_send_dispatches (sch_server_t *self, size_t leased, size_t expired)
{
    for (size_t i = 0; i < expired; i++)
        s_log_event (self, &self->exp_events[i]);
    s_hold (self, leased);
}

/* In the open batch (rc: how it went so far): ends expired leases (when
 * expire) into exp_events, then leases up to max into dispatches; commits,
 * or aborts when anything failed. On failure the dispatches leased are
 * freed (*leased = 0) and store-full is counted. Returns the outcome. */
static sch_store_rc_t
s_lease_commit (sch_server_t *self, sch_store_rc_t rc, int64_t now, bool expire, size_t max,
                size_t *expired, size_t *leased)
{
    *expired = *leased = 0;
    if (rc == SCH_STORE_OK && expire)
        rc = sch_store_expire (self->store, now, self->cfg->dispatch_batch, self->exp_events,
                               expired);
    size_t room = s_held_room (self);
    if (max > room)
        max = room;
    if (rc == SCH_STORE_OK && max) {
        int64_t horizon = now + s_lead (self);
        rc = sch_store_lease (self->store, now, horizon, max, self->dispatches, leased);
        /* stopped short: what is left up to horizon cannot be leased ahead
         * (a rate-limited subscription's); the loop waits for it to be due */
        self->blocked_horizon = *leased < max ? horizon : INT64_MIN;
    }
    if (rc == SCH_STORE_OK)
        rc = s_commit (self);
    else
        sch_store_abort (self->store);
    if (rc == SCH_STORE_OK)
        return rc;
    for (size_t i = 0; i < *leased; i++)
        proto_dispatch_destroy (&self->dispatches[i]);
    *leased = 0;
    if (rc == SCH_STORE_FULL)
        zh_counter_inc (self->store_full);
    return rc;
}

/* Expiries and leases in a transaction of their own (the way out of a
 * failed batch); after a failure, dispatch pauses S_STORE_RETRY_MS. */
static void
s_dispatch_alone (sch_server_t *self, bool expire)
{
    int64_t now = zh_clock_wall_ms (), now_mono = zh_clock_mono_ms ();
    size_t max = s_lease_max (self, now_mono), expired, leased;
    if (!max && !expire)
        return;
    sch_store_rc_t rc =
        s_lease_commit (self, sch_store_begin (self->store), now, expire, max, &expired, &leased);
    if (rc != SCH_STORE_OK) {
        zh_error ("dispatch transaction failed", "s:error", sch_store_strerror (rc), NULL);
        self->store_retry_mono = now_mono + S_STORE_RETRY_MS;
        return;
    }
    s_send_dispatches (self, leased, expired);
}

/* --- the turn --------------------------------------------------------------------- */

/* One turn of the loop, in ONE synced transaction: what waits on the submit
 * socket (requests), on the results socket (outcomes), the leases that
 * ended (expire) and what is due (lease, within the deliverers' budget).
 * A message submitted for now is leased in the very transaction that
 * accepts it. Only after the commit are the replies published and the
 * dispatches sent, so both always describe durable state, and the disk
 * syncs once per turn, however much the turn carries: that sync is most of
 * the scheduler's cost per message (see bench/RESULTS.md).
 *
 * due_ms and lease_ms are sch_store_next's answer from before the wait
 * (only this thread writes, so they still hold). dispatch is false for the
 * last turn of a shutdown. A batch that fails is aborted as a whole and
 * its parts are applied again one transaction each. Returns true when a
 * socket or the due list had more than one turn's worth. */
static bool
s_turn (sch_server_t *self, int64_t due_ms, int64_t lease_ms, bool dispatch)
{
    size_t nreq = s_read_submits (self), nres = s_read_results (self);
    int64_t now = zh_clock_wall_ms (), now_mono = zh_clock_mono_ms ();
    dispatch = dispatch && now_mono >= self->store_retry_mono;
    bool expire = dispatch && lease_ms <= now;
    /* a lease walk is due when something was due, or may have become due:
     * new submissions (immediate ones), results (retries due at once) */
    bool lease = dispatch && (due_ms <= now + s_lead (self) || nreq || nres || expire);
    if (!nreq && !nres && !expire && !(lease && s_lease_max (self, now_mono)))
        return false;
    size_t expired, leased, max = 0;
    sch_store_rc_t rc = sch_store_begin (self->store);
    for (size_t i = 0; i < nreq && rc == SCH_STORE_OK; i++)
        s_apply (self, &self->reqs[i], now);
    for (size_t i = 0; i < nres && rc == SCH_STORE_OK; i++)
        sch_store_result (self->store, self->results_buf[i], now, &self->events[i]);
    /* the budget as this batch leaves it: its results freed their slots */
    if (rc == SCH_STORE_OK && lease)
        max = s_lease_max (self, now_mono);
    rc = s_lease_commit (self, rc, now, expire, max, &expired, &leased);
    if (rc == SCH_STORE_OK) {
        if (nreq)
            zh_histogram_observe (self->batch_size, (double)nreq);
        for (size_t i = 0; i < nres; i++)
            s_log_event (self, &self->events[i]);
        s_send_dispatches (self, leased, expired);
    }
    else {
        s_apply_each (self, self->reqs, nreq);
        s_results_each (self, nres, now);
        if (dispatch)
            s_dispatch_alone (self, expire);
    }
    s_finish_reqs (self, self->reqs, nreq);
    for (size_t i = 0; i < nres; i++)
        proto_result_destroy (&self->results_buf[i]);
    return nreq == self->cfg->commit_batch || nres >= self->cfg->commit_batch ||
           (max && leased == max) || expired == self->cfg->dispatch_batch;
}

/* --- heartbeat, purge, status ------------------------------------------------------ */

static void
s_gauges (sch_server_t *self, int64_t now_mono)
{
    int64_t live;
    int64_t cap = s_capacity (self, now_mono, &live);
    sch_store_counts_t c;
    sch_store_counts (self->store, &c);
    zh_gauge_set (self->pending, c.by_status[PROTO_ST_SCHEDULED] + c.by_status[PROTO_ST_RETRYING]);
    zh_gauge_set (self->in_flight, c.by_status[PROTO_ST_IN_FLIGHT]);
    zh_gauge_set (self->deliverers_g, live);
    zh_gauge_set (self->capacity_g, cap);
    zh_gauge_set (self->subs_enabled, c.subs_enabled);
    zh_gauge_set (self->subs_disabled, c.subs_disabled);
    for (int st = PROTO_ST_SCHEDULED; st <= PROTO_ST_CANCELLED; st++)
        zh_gauge_set (self->messages_g[st], c.by_status[st]);
    uint64_t used, size;
    if (sch_store_space (self->store, &used, &size) == SCH_STORE_OK) {
        zh_gauge_set (self->map_used, (int64_t)used);
        zh_gauge_set (self->map_size, (int64_t)size);
    }
}

static void
s_reader_check (sch_server_t *self, int64_t now_mono)
{
    int cleared = 0;
    if (sch_store_reader_check (self->store, &cleared) == SCH_STORE_OK && cleared > 0) {
        zh_counter_add (self->stale_readers, (uint64_t)cleared);
        zh_warn ("cleared stale LMDB readers (a reader process died holding a transaction)",
                 "i:readers", (int64_t)cleared, NULL);
    }
    self->next_reader_mono = now_mono + self->cfg->reader_check_ms;
}

static void
s_heartbeat (sch_server_t *self, int64_t now_mono)
{
    proto_heartbeat_t hb;
    memset (&hb, 0, sizeof hb);
    hb.from = "scheduler";
    hb.at_ms = zh_clock_wall_ms ();
    hb.ready = atomic_load (&self->ready);
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_heartbeat_encode (&hb, &data, &size) == 0)
        s_publish (self, "hb", data, size);
    free (data);
    s_gauges (self, now_mono);
    s_rate_t *r = &self->rates[self->rate_next++ % S_RATE_SLOTS];
    r->mono = now_mono;
    r->commits = zh_counter_value (self->commits);
    r->accepted = zh_counter_value (self->accepted);
    r->dispatched = zh_counter_value (self->dispatched);
    r->delivered = zh_counter_value (self->delivered);
}

static void
s_add_stats (sch_server_t *self, proto_reply_t *reply)
{
    int64_t now_mono = zh_clock_mono_ms (), live;
    int64_t cap = s_capacity (self, now_mono, &live);
    sch_store_counts_t c;
    sch_store_counts (self->store, &c);
    /* rates over the heartbeats remembered: oldest snapshot to now */
    const s_rate_t *old = NULL;
    for (size_t i = 0; i < S_RATE_SLOTS; i++) {
        const s_rate_t *r = &self->rates[i];
        if (r->mono && (!old || r->mono < old->mono))
            old = r;
    }
    double secs = old ? (double)(now_mono - old->mono) / 1000.0 : 0;
#define S_RATE(field, counter)                                                                     \
    (secs > 0 ? (int64_t)((double)(zh_counter_value (self->counter) - old->field) / secs) : 0)
    struct {
        const char *name;
        int64_t value;
    } stats[] = {
        {"scheduled", c.by_status[PROTO_ST_SCHEDULED]},
        {"retrying", c.by_status[PROTO_ST_RETRYING]},
        {"in_flight", c.by_status[PROTO_ST_IN_FLIGHT]},
        {"delivered", c.by_status[PROTO_ST_DELIVERED]},
        {"dead", c.by_status[PROTO_ST_DEAD]},
        {"cancelled", c.by_status[PROTO_ST_CANCELLED]},
        {"subscriptions_enabled", c.subs_enabled},
        {"subscriptions_disabled", c.subs_disabled},
        {"deliverers", live},
        {"capacity", cap},
        {"commits_per_second", S_RATE (commits, commits)},
        {"accepted_per_second", S_RATE (accepted, accepted)},
        {"dispatched_per_second", S_RATE (dispatched, dispatched)},
        {"delivered_per_second", S_RATE (delivered, delivered)},
    };
#undef S_RATE
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++)
        proto_reply_add_stat (reply, stats[i].name, stats[i].value);
}

static void
s_purge_step (sch_server_t *self, int64_t now_mono)
{
    size_t messages = 0, idem = 0;
    sch_store_rc_t rc = sch_store_begin (self->store);
    if (rc == SCH_STORE_OK)
        rc = sch_store_purge (self->store, zh_clock_wall_ms (), self->cfg->purge_batch, &messages,
                              &idem);
    if (rc == SCH_STORE_OK)
        rc = sch_store_commit (self->store);
    else
        sch_store_abort (self->store);
    if (rc != SCH_STORE_OK) {
        if (rc == SCH_STORE_FULL)
            zh_counter_inc (self->store_full);
        zh_error ("purge failed", "s:error", sch_store_strerror (rc), NULL);
        self->next_purge_mono = now_mono + self->cfg->purge_interval_ms;
        return;
    }
    if (messages || idem) {
        zh_counter_inc (self->commits);
        zh_counter_add (self->purged, messages);
        zh_info ("purged", "i:messages", (int64_t)messages, "i:idempotency_keys", (int64_t)idem,
                 NULL);
    }
    /* a full batch means more is waiting: continue on the next turn, other work first */
    bool more = messages == self->cfg->purge_batch || idem == self->cfg->purge_batch;
    self->next_purge_mono = more ? now_mono : now_mono + self->cfg->purge_interval_ms;
}

/* --- the loop --------------------------------------------------------------------- */

/* At a stop: the leases taken ahead and not yet due go back (due again at
 * their time, no attempt counted), so a restart sends them on time instead
 * of after their lease. */
static void
s_release_held (sch_server_t *self)
{
    if (!self->held_count)
        return;
    int64_t now = zh_clock_wall_ms ();
    sch_store_rc_t rc = sch_store_begin (self->store);
    for (size_t i = 0; i < self->held_count && rc == SCH_STORE_OK; i++)
        rc = sch_store_release (self->store, self->held[i], now);
    if (rc == SCH_STORE_OK)
        rc = s_commit (self);
    else
        sch_store_abort (self->store);
    if (rc == SCH_STORE_OK)
        zh_info ("leases taken ahead given back", "i:count", (int64_t)self->held_count, NULL);
    else
        zh_error ("leases taken ahead not given back: sent again after their lease", "i:count",
                  (int64_t)self->held_count, "s:error", sch_store_strerror (rc), NULL);
    for (size_t i = 0; i < self->held_count; i++)
        proto_dispatch_destroy (&self->held[i]);
    self->held_count = 0;
    zh_gauge_set (self->held_g, 0);
}

/* Reads the subscription frames XPUB hands up ([1][topic] joins, [0][topic]
 * leaves); true when someone subscribed to the heartbeats. */
static bool
s_subscribers_joined (sch_server_t *self)
{
    bool joined = false;
    zmq_msg_t msg;
    for (int i = 0; i < 1000 && s_recv (self->publish, &msg); i++) {
        const uint8_t *p = zmq_msg_data (&msg);
        size_t n = zmq_msg_size (&msg);
        joined |= n == 3 && p[0] == 1 && p[1] == 'h' && p[2] == 'b';
        zmq_msg_close (&msg);
    }
    return joined;
}

static int64_t
s_min (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int
sch_server_run (sch_server_t *self)
{
    int64_t due_ms, lease_ms;
    if (s_sender_start (self) != 0) {
        zh_error ("cannot start the dispatch sender thread", NULL);
        return -1;
    }
    if (sch_store_next (self->store, &due_ms, &lease_ms) != SCH_STORE_OK)
        due_ms = lease_ms = INT64_MAX;
    while (!zh_signal_stopping ()) {
        int64_t now_mono = zh_clock_mono_ms ();
        if (now_mono >= self->next_hb_mono) {
            s_heartbeat (self, now_mono);
            self->next_hb_mono = now_mono + self->cfg->heartbeat_ms;
        }
        if (now_mono >= self->next_purge_mono)
            s_purge_step (self, now_mono);
        if (now_mono >= self->next_reader_mono)
            s_reader_check (self, now_mono);

        if (s_subscribers_joined (self))
            s_heartbeat (self, now_mono);
        bool more = s_turn (self, due_ms, lease_ms, true);

        /* how long nothing is due: heartbeat, purge, first due key (with
         * budget), first lease end; 0 when the turn left work waiting */
        if (sch_store_next (self->store, &due_ms, &lease_ms) != SCH_STORE_OK)
            due_ms = lease_ms = INT64_MAX;
        now_mono = zh_clock_mono_ms ();
        int64_t now = zh_clock_wall_ms ();
        int64_t wait =
            s_min (s_min (self->next_hb_mono, self->next_purge_mono), self->next_reader_mono) -
            now_mono;
        if (now_mono < self->store_retry_mono)
            wait = s_min (wait, self->store_retry_mono - now_mono);
        else {
            /* a due key wakes the loop ZHOOK_DISPATCH_LEAD_MS early, to be
             * leased ahead; one the last walk could not lease ahead, when due */
            int64_t lead = due_ms <= self->blocked_horizon ? 0 : s_lead (self);
            if (due_ms != INT64_MAX && s_budget (self, now_mono) > 0)
                wait = s_min (wait, due_ms - lead - now);
            if (lease_ms != INT64_MAX)
                wait = s_min (wait, lease_ms - now);
        }
        if (more || wait < 0)
            wait = 0;
        zpoller_wait (self->poller, (int)wait);
    }
    /* the last batch: what already reached the sockets is committed and
     * answered (replies and outcomes are not left to request timeouts and
     * lease expiries); nothing more is dispatched. Each drain is one bounded
     * transaction, well within the grace. */
    atomic_store (&self->ready, false);
    int64_t t0 = zh_clock_mono_ms ();
    s_sender_stop (self); /* what it had not sent yet stays held, given back below */
    s_turn (self, INT64_MAX, INT64_MAX, false);
    s_release_held (self);
    zh_info ("scheduler stopping: last batch committed, dispatch stopped", "i:last_batch_ms",
             zh_clock_mono_ms () - t0, "i:leases_outstanding", zh_gauge_value (self->in_flight),
             "i:linger_ms",
             (int64_t)(self->cfg->shutdown_grace_ms < S_LINGER_MS ? self->cfg->shutdown_grace_ms
                                                                  : S_LINGER_MS),
             NULL);
    return 0;
}
