/*  dlv_server.c — the deliverer loop: ZeroMQ in, libcurl out, results back.
 *
 *  One thread, one wait: curl_multi_poll watches the transfers and, as extra
 *  fds, the ZMQ_FD of the dispatch socket (only while a slot is free and
 *  the queue is empty) and of the two socket monitors. ZMQ_FD is
 *  edge-triggered: after every wake-up and every completion the loop asks
 *  ZMQ_EVENTS again and drains what is readable, so no edge is lost.
 *
 *  Prefetch: the heartbeat announces ZHOOK_CONCURRENCY + ZHOOK_PREFETCH, so
 *  the scheduler leases up to ZHOOK_PREFETCH dispatches more than there are
 *  slots. They wait here (the queue holds the rest of the last frame; more
 *  frames wait in the socket, RCVHWM = the same sum), and a slot that frees
 *  starts the next at once instead of after a round trip through the
 *  scheduler's turn: under load that round trip, not the CPU, bounded
 *  deliveries (bench/RESULTS.md). At a stop, what waits goes back to the
 *  scheduler as "deferred" with no wait: due again at once, no attempt
 *  counted.
 *
 *  Results leave batched: one frame per turn of the loop (s_flush before
 *  every wait and with every heartbeat).
 *
 *  Fairness (dlv_hosts): before an attempt starts, its destination (URL
 *  origin) must have fewer than ZHOOK_HOST_CONCURRENCY attempts in flight
 *  and a circuit that is not open; otherwise the dispatch goes straight
 *  back as a "deferred" result with a retry_after_ms, taking no slot, and
 *  the scheduler re-queues it without counting an attempt. So one slow
 *  receiver holds at most host_concurrency slots of this deliverer.
 *
 *  Sends never block: a result or heartbeat that cannot be queued (the
 *  scheduler has been gone long enough to fill SNDHWM) is dropped and
 *  counted; the lease brings the message back.
 *
 *  Stop latency: SIGTERM normally interrupts curl_multi_poll in this thread;
 *  if the kernel hands it to one of curl's resolver threads instead (they
 *  start after zh_signal_unblock), the flag is seen at the next wake-up,
 *  at most ZHOOK_HEARTBEAT_MS later. */
#include "deliverer/dlv_server.h"
#include "common/zh_clock.h"
#include "common/zh_id.h"
#include "common/zh_log.h"
#include "common/zh_metrics.h"
#include "common/zh_curve.h"
#include "common/zh_ops.h"
#include "common/zh_signal.h"
#include "common/zh_trace.h"
#include "deliverer/dlv_hosts.h"
#include "deliverer/dlv_http.h"
#include "proto/proto.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    zsock_t *sock; // the data socket being watched (borrowed)
    zsock_t *pair; // PAIR connected to the monitor endpoint
    const char *name; // "dispatch" or "results", for logs
    int peers; // HANDSHAKE_SUCCEEDED minus DISCONNECTED, >= 0
    bool refused; // the last handshake failed authentication (logged once per streak)
} s_monitor_t;

struct _dlv_server_t {
    const dlv_config_t *cfg; // borrowed
    zsock_t *pull; // dispatch PULL, NULL once stopping
    zsock_t *push; // results PUSH
    zh_curve_t *curve; // CURVE client keys (or off)
    s_monitor_t pull_mon;
    s_monitor_t push_mon;
    dlv_http_t *http;
    dlv_hosts_t *hosts; // per-destination in-flight counts and circuits
    zh_metrics_t *metrics;
    zh_ops_t *ops;
    atomic_bool ready; // read by /ready on civetweb threads
    atomic_bool stop_requested; // dlv_server_stop, from any thread
    bool stopping;
    int64_t next_hb_ms; // monotonic time of the next heartbeat
    proto_frame_t out; // results (and a heartbeat) waiting to leave as one frame
    proto_dispatch_t *queue[PROTO_FRAME_MAX_MSGS]; // dispatches of the last frame not started
    size_t queue_head, queue_len;

    zh_counter_t *m_success; // attempts_total{outcome="success"}: 2xx
    zh_counter_t *m_failure; // {outcome="failure"}: another status
    zh_counter_t *m_gone; // {outcome="gone"}: 410
    zh_counter_t *m_error; // {outcome="error"}: no HTTP response
    zh_histogram_t *m_latency;
    zh_gauge_t *m_in_flight;
    zh_gauge_t *m_capacity;
    zh_counter_t *m_stale;
    zh_counter_t *m_bad_frames;
    zh_counter_t *m_dropped; // results/heartbeats that could not be queued
    zh_gauge_t *m_open_circuits; // destinations whose circuit is not closed
    zh_counter_t *m_deferred_busy; // deferred_total{reason="host_busy"}
    zh_counter_t *m_deferred_open; // deferred_total{reason="circuit_open"}
    zh_counter_t *m_deferred_stop; // {reason="stopping"}: prefetched, given back at a stop
    zh_gauge_t *m_queued; // dispatches taken, waiting for a free slot
};

/* --- socket monitors ----------------------------------------------------- */

static int
s_monitor_start (s_monitor_t *mon, zsock_t *sock, const char *name)
{
    char endpoint[96];
    snprintf (endpoint, sizeof endpoint, "inproc://dlv-monitor-%s-%p", name, (void *)sock);
    mon->sock = sock;
    mon->name = name;
    mon->peers = 0;
    /* a TCP connection is not a peer yet: only a completed handshake (CURVE
     * key accepted) makes the scheduler reachable */
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return -1;
    /* connected before the data socket connects, so no event is missed */
    mon->pair = zsock_new (ZMQ_PAIR);
    if (!mon->pair || zsock_connect (mon->pair, "%s", endpoint) != 0)
        return -1;
    return 0;
}

static void
s_monitor_stop (s_monitor_t *mon)
{
    if (mon->sock && mon->pair)
        zmq_socket_monitor (zsock_resolve (mon->sock), NULL, 0);
    zsock_destroy (&mon->pair);
    mon->sock = NULL;
    mon->peers = 0;
}

/* Reads every pending monitor event: [u16 event, u32 value][endpoint]. */
static void
s_monitor_drain (s_monitor_t *mon)
{
    if (!mon->pair)
        return;
    void *raw = zsock_resolve (mon->pair);
    while (true) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&msg) >= 6)
            memcpy (&event, zmq_msg_data (&msg), sizeof event);
        bool more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        while (more) {
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, raw, ZMQ_DONTWAIT) < 0)
                more = false;
            else
                more = zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            mon->peers++;
            mon->refused = false;
        }
        else if (event == ZMQ_EVENT_DISCONNECTED && mon->peers > 0)
            mon->peers--;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !mon->refused) {
            /* the handshake is retried at every reconnect: say it once */
            mon->refused = true;
            zh_error ("the scheduler refused this deliverer's CURVE key: add its public "
                      "certificate to the scheduler's ZHOOK_CURVE_CLIENTS_DIR",
                      "s:socket", mon->name, NULL);
        }
    }
}

static void
s_update_ready (dlv_server_t *self)
{
    s_monitor_drain (&self->pull_mon);
    s_monitor_drain (&self->push_mon);
    bool ready =
        !self->stopping && self->pull && self->pull_mon.peers > 0 && self->push_mon.peers > 0;
    if (atomic_exchange (&self->ready, ready) != ready)
        zh_info (ready ? "ready: connected to the scheduler" : "not ready", "s:dispatch",
                 self->cfg->dispatch_endpoint, "s:results", self->cfg->results_endpoint, NULL);
}

static bool
s_ready (void *arg)
{
    dlv_server_t *self = arg;
    return atomic_load (&self->ready);
}

/* --- sending --------------------------------------------------------------- */

/* Sends the results frame being built, if any. */
static void
s_flush (dlv_server_t *self)
{
    if (self->out.count == 0)
        return;
    if (zmq_send (zsock_resolve (self->push), self->out.data, self->out.size, ZMQ_DONTWAIT) < 0) {
        zh_counter_add (self->m_dropped, self->out.count);
        zh_warn ("cannot queue to the scheduler; dropped", "i:messages", (int64_t)self->out.count,
                 "s:error", zmq_strerror (zmq_errno ()), NULL);
    }
    proto_frame_reset (&self->out);
}

/* Adds one encoded message (freed here) to the results frame; the frame
 * leaves when full, before the loop next waits (s_wait) and with each
 * heartbeat, so results queue for at most one turn of the loop. */
static void
s_send (dlv_server_t *self, uint8_t *data, size_t size, const char *what)
{
    if (proto_frame_add (&self->out, data, size) != 0) {
        zh_counter_inc (self->m_dropped);
        zh_warn ("cannot queue to the scheduler; dropped", "s:what", what, "s:error",
                 "out of memory", NULL);
    }
    free (data);
    if (proto_frame_full (&self->out))
        s_flush (self);
}

static void
s_heartbeat (dlv_server_t *self)
{
    proto_heartbeat_t hb = {
        .from = self->cfg->instance_id,
        .at_ms = zh_clock_wall_ms (),
        .capacity = self->cfg->concurrency + self->cfg->prefetch,
        .free = self->stopping ? 0 : dlv_http_free_slots (self->http),
        .ready = atomic_load (&self->ready),
        .stopping = self->stopping,
    };
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_heartbeat_encode (&hb, &data, &size) != 0) {
        zh_error ("cannot encode a heartbeat", NULL);
        return;
    }
    s_send (self, data, size, "heartbeat");
    s_flush (self);
    self->next_hb_ms = zh_clock_mono_ms () + self->cfg->heartbeat_ms;
}

/* --- fairness --------------------------------------------------------------- */

/* Reports the end of an attempt to url's destination; logs circuit changes
 * with the origin only (paths and queries may hold tokens). */
static void
s_host_release (dlv_server_t *self, const char *url, dlv_hosts_outcome_t outcome)
{
    const char *origin = dlv_hosts_origin_of (self->hosts, url);
    if (!origin)
        return; /* not tracked at start either */
    dlv_hosts_change_t change =
        dlv_hosts_release (self->hosts, origin, outcome, zh_clock_mono_ms ());
    if (change == DLV_HOSTS_OPENED)
        zh_info ("circuit opened: holding the destination's messages back", "s:destination", origin,
                 "i:cooldown_ms", (int64_t)self->cfg->circuit_cooldown_ms, NULL);
    else if (change == DLV_HOSTS_CLOSED)
        zh_info ("circuit closed", "s:destination", origin, NULL);
    zh_gauge_set (self->m_open_circuits, (int64_t)dlv_hosts_open_count (self->hosts));
}

/* Sends d back at once as "deferred": not an attempt, no slot taken; due
 * again after wait_ms (reason: host_busy, circuit_open or stopping). */
static void
s_send_deferred (dlv_server_t *self, const proto_dispatch_t *d, int64_t wait_ms, const char *reason)
{
    proto_result_t r = {
        .id = d->id,
        .attempt = d->attempt,
        .deliverer = self->cfg->instance_id,
        .error = "deferred",
        .retry_after_ms = wait_ms,
        .at_ms = zh_clock_wall_ms (),
    };
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_result_encode (&r, &data, &size) == 0)
        s_send (self, data, size, "result");
    else
        zh_error ("cannot encode a result", "s:id", d->id, NULL);
    zh_debug ("attempt deferred", "s:id", d->id, "i:attempt", (int64_t)d->attempt, "s:reason",
              reason, "i:retry_after_ms", wait_ms, NULL);
}

static void
s_defer (dlv_server_t *self, const proto_dispatch_t *d, dlv_hosts_verdict_t verdict,
         int64_t wait_ms)
{
    bool busy = verdict == DLV_HOSTS_BUSY;
    zh_counter_inc (busy ? self->m_deferred_busy : self->m_deferred_open);
    s_send_deferred (self, d, wait_ms, busy ? "host_busy" : "circuit_open");
}

/* dlv_http's done callback: report, count, log. */
static void
s_on_done (void *arg, const proto_dispatch_t *d, const proto_result_t *r)
{
    dlv_server_t *self = arg;
    /* count before sending, so whoever sees the result also sees the count */
    if (r->error)
        zh_counter_inc (self->m_error);
    else if (r->status_code >= 200 && r->status_code <= 299)
        zh_counter_inc (self->m_success);
    else if (r->status_code == 410)
        zh_counter_inc (self->m_gone);
    else
        zh_counter_inc (self->m_failure);
    zh_histogram_observe (self->m_latency, r->latency_ms / 1000.0);
    s_host_release (self, d->url, dlv_hosts_outcome (r));

    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_result_encode (r, &data, &size) == 0)
        s_send (self, data, size, "result");
    else
        zh_error ("cannot encode a result", "s:id", r->id, NULL);

    /* d->traceparent is the child this attempt sent: its parent-id field is
     * the attempt's span id */
    char trace_id[ZH_TRACE_ID_SIZE], span_id[ZH_SPAN_ID_SIZE];
    zh_info ("attempt finished", "s:id", r->id, "i:attempt", (int64_t)r->attempt, "i:status_code",
             (int64_t)r->status_code, "i:latency_ms", (int64_t)r->latency_ms, "s:error", r->error,
             "s:request_id", d->request_id, "s:trace_id",
             zh_trace_id (d->traceparent, trace_id, sizeof trace_id), "s:span_id",
             zh_trace_span_id (d->traceparent, span_id, sizeof span_id), NULL);
}

/* --- receiving ------------------------------------------------------------- */

/* One dispatch of a frame (proto_frame_each), appended to the queue. */
static proto_rc_t
s_queue_msg (void *arg, const uint8_t *data, size_t size)
{
    dlv_server_t *self = arg;
    proto_dispatch_t *d = NULL;
    proto_rc_t rc = proto_dispatch_decode (data, size, &d);
    if (rc == PROTO_OK && (!d->id || !d->url || d->timeout_ms == 0))
        rc = PROTO_EMALFORMED;
    if (rc != PROTO_OK) {
        proto_dispatch_destroy (&d);
        return rc;
    }
    self->queue[self->queue_len++] = d; /* < PROTO_FRAME_MAX_MSGS: proto_frame_each counts */
    return PROTO_OK;
}

/* Receives one frame (the caller saw ZMQ_POLLIN; the queue is empty) and
 * queues its dispatches, up to PROTO_FRAME_MAX_MSGS. A malformed message
 * ends the frame; what it carried comes back with its lease. */
static void
s_take_frame (dlv_server_t *self)
{
    void *raw = zsock_resolve (self->pull);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, raw, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return;
    }
    bool extra_frames = false;
    while (zmq_msg_more (&msg)) {
        extra_frames = true;
        zmq_msg_close (&msg);
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, raw, ZMQ_DONTWAIT) < 0)
            break;
    }
    self->queue_head = self->queue_len = 0;
    proto_rc_t rc = extra_frames ? PROTO_EMALFORMED
                                 : proto_frame_each (zmq_msg_data (&msg), zmq_msg_size (&msg),
                                                     s_queue_msg, self, NULL);
    zmq_msg_close (&msg);
    if (rc != PROTO_OK) {
        zh_counter_inc (self->m_bad_frames);
        zh_warn ("bad dispatch frame dropped", "s:error", proto_strerror (rc), "i:kept",
                 (int64_t)self->queue_len, NULL);
    }
}

/* Takes the oldest queued dispatch (the queue is not empty). */
static proto_dispatch_t *
s_queue_pop (dlv_server_t *self)
{
    proto_dispatch_t *d = self->queue[self->queue_head];
    self->queue[self->queue_head++] = NULL;
    self->queue_len--;
    return d;
}

/* Starts the next queued dispatch (a slot is free): refused when its lease
 * is too short, deferred when its destination is busy or its circuit open. */
static void
s_start_next (dlv_server_t *self)
{
    proto_dispatch_t *d = s_queue_pop (self);
    int64_t now = zh_clock_wall_ms ();
    if (now + (int64_t)d->timeout_ms > d->lease_until_ms) {
        /* it could finish after its lease: the scheduler would dispatch it
         * again meanwhile; let the lease bring it back instead */
        zh_counter_inc (self->m_stale);
        zh_debug ("dispatch dropped: lease too short", "s:id", d->id, "i:attempt",
                  (int64_t)d->attempt, "i:lease_left_ms", d->lease_until_ms - now, NULL);
        proto_dispatch_destroy (&d);
        return;
    }
    /* an unparsable URL is not tracked: curl fails the attempt itself */
    const char *origin = dlv_hosts_origin_of (self->hosts, d->url);
    if (origin) {
        int64_t wait_ms = 0;
        dlv_hosts_verdict_t verdict =
            dlv_hosts_acquire (self->hosts, origin, zh_clock_mono_ms (), &wait_ms);
        if (verdict != DLV_HOSTS_GO) {
            s_defer (self, d, verdict, wait_ms);
            zh_gauge_set (self->m_open_circuits, (int64_t)dlv_hosts_open_count (self->hosts));
            proto_dispatch_destroy (&d);
            return;
        }
    }
    if (dlv_http_start (self->http, &d) != 0) {
        zh_error ("cannot start an attempt; its lease will bring it back", "s:id", d->id, NULL);
        s_host_release (self, d->url, DLV_HOSTS_NEUTRAL);
        proto_dispatch_destroy (&d);
    }
}

/* Frees what the queue holds (out of memory, destroy). */
static void
s_queue_drop (dlv_server_t *self)
{
    for (size_t i = 0; i < self->queue_len; i++)
        proto_dispatch_destroy (&self->queue[self->queue_head + i]);
    self->queue_head = self->queue_len = 0;
}

static bool
s_dispatch_waiting (dlv_server_t *self)
{
    return self->pull && (zsock_events (self->pull) & ZMQ_POLLIN);
}

/* Work to start now: a free slot, and a queued dispatch or a frame. */
static bool
s_work_waiting (dlv_server_t *self)
{
    return dlv_http_free_slots (self->http) > 0 &&
           (self->queue_len > 0 || s_dispatch_waiting (self));
}

/* Starts queued dispatches while a slot is free, reading the next frame
 * once the queue is empty (which also re-arms the edge-triggered ZMQ_FD). */
static void
s_take_work (dlv_server_t *self)
{
    while (s_work_waiting (self)) {
        if (self->queue_len == 0)
            s_take_frame (self);
        else
            s_start_next (self);
    }
    zh_gauge_set (self->m_queued, (int64_t)self->queue_len);
}

/* At a stop: every dispatch taken and not started, queued here or still in
 * the socket, goes back as deferred (due again at once, no attempt
 * counted), so a prefetching deliverer that stops does not leave its
 * messages to wait for their leases. Returns how many. */
static size_t
s_give_back (dlv_server_t *self)
{
    size_t n = 0;
    while (true) {
        for (; self->queue_len > 0; n++) {
            proto_dispatch_t *d = s_queue_pop (self);
            zh_counter_inc (self->m_deferred_stop);
            s_send_deferred (self, d, 0, "stopping");
            proto_dispatch_destroy (&d);
        }
        if (!s_dispatch_waiting (self))
            break;
        s_take_frame (self);
    }
    self->queue_head = 0;
    zh_gauge_set (self->m_queued, 0);
    return n;
}

/* --- life cycle ------------------------------------------------------------ */

static int
s_metrics_init (dlv_server_t *self)
{
    zh_metrics_t *m = self->metrics;
    const char *attempts = "zhook_deliverer_attempts_total";
    const char *attempts_help = "Finished delivery attempts by outcome";
    self->m_success = zh_metrics_counter (m, attempts, attempts_help, "outcome=\"success\"");
    self->m_failure = zh_metrics_counter (m, attempts, attempts_help, "outcome=\"failure\"");
    self->m_gone = zh_metrics_counter (m, attempts, attempts_help, "outcome=\"gone\"");
    self->m_error = zh_metrics_counter (m, attempts, attempts_help, "outcome=\"error\"");
    self->m_latency = zh_metrics_histogram (m, "zhook_deliverer_attempt_latency_seconds",
                                            "Duration of delivery attempts", NULL,
                                            zh_metrics_latency_bounds, zh_metrics_latency_bounds_n);
    self->m_in_flight =
        zh_metrics_gauge (m, "zhook_deliverer_in_flight", "Attempts in flight now", NULL);
    self->m_capacity = zh_metrics_gauge (m, "zhook_deliverer_capacity",
                                         "Attempts this deliverer runs at once at most", NULL);
    self->m_stale = zh_metrics_counter (
        m, "zhook_deliverer_stale_dispatches_total",
        "Dispatches dropped because they could not finish within their lease", NULL);
    self->m_bad_frames =
        zh_metrics_counter (m, "zhook_deliverer_bad_frames_total",
                            "Undecodable frames received on the dispatch socket", NULL);
    self->m_dropped = zh_metrics_counter (
        m, "zhook_deliverer_results_dropped_total",
        "Results and heartbeats that could not be queued to the scheduler", NULL);
    self->m_open_circuits =
        zh_metrics_gauge (m, "zhook_deliverer_open_circuits",
                          "Destinations whose circuit breaker is open or half-open", NULL);
    const char *deferred = "zhook_deliverer_deferred_total";
    const char *deferred_help = "Dispatches sent back unattempted: destination busy, circuit "
                                "open, or taken ahead and given back at a stop";
    self->m_deferred_busy = zh_metrics_counter (m, deferred, deferred_help, "reason=\"host_busy\"");
    self->m_deferred_open =
        zh_metrics_counter (m, deferred, deferred_help, "reason=\"circuit_open\"");
    self->m_deferred_stop = zh_metrics_counter (m, deferred, deferred_help, "reason=\"stopping\"");
    self->m_queued =
        zh_metrics_gauge (m, "zhook_deliverer_queued",
                          "Dispatches taken (ZHOOK_PREFETCH) and waiting for a free slot", NULL);
    if (!self->m_success || !self->m_failure || !self->m_gone || !self->m_error ||
        !self->m_latency || !self->m_in_flight || !self->m_capacity || !self->m_stale ||
        !self->m_bad_frames || !self->m_dropped || !self->m_open_circuits ||
        !self->m_deferred_busy || !self->m_deferred_open || !self->m_deferred_stop ||
        !self->m_queued)
        return -1;
    zh_gauge_set (self->m_capacity, self->cfg->concurrency);
    return 0;
}

dlv_server_t *
dlv_server_new (const dlv_config_t *cfg)
{
    dlv_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    atomic_init (&self->ready, false);
    atomic_init (&self->stop_requested, false);

    self->metrics = zh_metrics_new ();
    if (!self->metrics || s_metrics_init (self)) {
        zh_error ("cannot create metrics", NULL);
        goto fail;
    }
    /* room for every attempt in flight, so eviction always finds an idle entry */
    self->hosts = dlv_hosts_new (
        cfg->host_concurrency, cfg->circuit_failures, cfg->circuit_cooldown_ms,
        cfg->concurrency > DLV_HOSTS_MAX ? cfg->concurrency : DLV_HOSTS_MAX, zh_random_u64 ());
    if (!self->hosts) {
        zh_error ("cannot create the destination table", NULL);
        goto fail;
    }
    self->http = dlv_http_new (cfg, s_on_done, self);
    if (!self->http) {
        zh_error ("cannot create the curl multi handle", NULL);
        goto fail;
    }
    if (dlv_http_metrics_init (self->http, self->metrics) != 0) {
        zh_error ("cannot create metrics", NULL);
        goto fail;
    }

    self->curve = zh_curve_new (&cfg->curve, ZH_CURVE_CLIENT);
    if (!self->curve)
        goto fail;
    self->pull = zsock_new (ZMQ_PULL);
    self->push = zsock_new (ZMQ_PUSH);
    if (!self->pull || !self->push) {
        zh_error ("cannot create sockets", "s:error", zmq_strerror (zmq_errno ()), NULL);
        goto fail;
    }
    zh_curve_apply (self->curve, self->pull);
    zh_curve_apply (self->curve, self->push);
    /* frames of up to PROTO_FRAME_MAX_MSGS: the leases (concurrency +
     * prefetch) fit whatever the scheduler's batching */
    zsock_set_rcvhwm (self->pull, (int)(cfg->concurrency + cfg->prefetch));
    zsock_set_linger (self->pull, 0);
    zsock_set_linger (self->push, (int)cfg->shutdown_grace_ms);
    if (s_monitor_start (&self->pull_mon, self->pull, "dispatch") ||
        s_monitor_start (&self->push_mon, self->push, "results")) {
        zh_error ("cannot monitor sockets", "s:error", zmq_strerror (zmq_errno ()), NULL);
        goto fail;
    }
    if (zsock_connect (self->pull, "%s", cfg->dispatch_endpoint) != 0) {
        zh_error ("cannot connect", "s:endpoint", cfg->dispatch_endpoint, "s:error",
                  zmq_strerror (zmq_errno ()), NULL);
        goto fail;
    }
    if (zsock_connect (self->push, "%s", cfg->results_endpoint) != 0) {
        zh_error ("cannot connect", "s:endpoint", cfg->results_endpoint, "s:error",
                  zmq_strerror (zmq_errno ()), NULL);
        goto fail;
    }

    self->ops = zh_ops_new (cfg->ops_listen, self->metrics, s_ready, self);
    if (!self->ops)
        goto fail; /* zh_ops_new logged why */
    return self;

fail:
    dlv_server_destroy (&self);
    return NULL;
}

void
dlv_server_destroy (dlv_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dlv_server_t *self = *self_p;
    zh_ops_destroy (&self->ops); /* first: its threads read self->ready and metrics */
    s_monitor_stop (&self->pull_mon);
    s_monitor_stop (&self->push_mon);
    zsock_destroy (&self->pull);
    zsock_destroy (&self->push);
    zh_curve_destroy (&self->curve);
    s_queue_drop (self);
    dlv_http_destroy (&self->http);
    dlv_hosts_destroy (&self->hosts);
    proto_frame_free (&self->out);
    zh_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

void
dlv_server_stop (dlv_server_t *self)
{
    atomic_store (&self->stop_requested, true);
    dlv_http_wakeup (self->http);
}

int
dlv_server_ops_port (dlv_server_t *self)
{
    return self->ops ? zh_ops_port (self->ops) : -1;
}

/* Milliseconds the loop may sleep: until the next heartbeat, curl's next
 * timer, or the deadline (when >= 0), whichever is first. */
static int
s_wait_ms (dlv_server_t *self, int64_t deadline_ms)
{
    int64_t now = zh_clock_mono_ms ();
    int64_t wait = self->next_hb_ms - now;
    long curl_ms = dlv_http_timeout (self->http);
    if (curl_ms >= 0 && curl_ms < wait)
        wait = curl_ms;
    if (deadline_ms >= 0 && deadline_ms - now < wait)
        wait = deadline_ms - now;
    return wait < 0 ? 0 : (int)wait;
}

static int
s_wait (dlv_server_t *self, int64_t deadline_ms)
{
    int fds[3];
    size_t n = 0;
    s_flush (self); /* results leave before the loop sleeps */
    if (self->pull && dlv_http_free_slots (self->http) > 0 && self->queue_len == 0)
        fds[n++] = zsock_fd (self->pull);
    if (self->pull_mon.pair)
        fds[n++] = zsock_fd (self->pull_mon.pair);
    if (self->push_mon.pair)
        fds[n++] = zsock_fd (self->push_mon.pair);
    return dlv_http_wait (self->http, fds, n, s_wait_ms (self, deadline_ms));
}

/* Stop sequence: no more work, grace for in-flight attempts, abort the rest. */
static void
s_stop (dlv_server_t *self)
{
    self->stopping = true;
    s_update_ready (self);
    /* say stopping first (the scheduler leases us nothing more), then give
     * back what was taken and not started, then stop pulling: a frame that
     * still arrives is dropped and its leases bring its messages back */
    s_heartbeat (self);
    size_t given_back = s_give_back (self);
    if (given_back)
        zh_info ("prefetched dispatches given back to the scheduler", "i:count",
                 (int64_t)given_back, NULL);
    s_monitor_stop (&self->pull_mon);
    zsock_destroy (&self->pull);
    s_heartbeat (self);
    zh_info ("stopping", "i:in_flight", (int64_t)dlv_http_in_flight (self->http), "i:grace_ms",
             (int64_t)self->cfg->shutdown_grace_ms, NULL);

    int64_t deadline = zh_clock_mono_ms () + self->cfg->shutdown_grace_ms;
    while (dlv_http_in_flight (self->http) > 0 && zh_clock_mono_ms () < deadline) {
        if (dlv_http_perform (self->http) < 0)
            break;
        zh_gauge_set (self->m_in_flight, dlv_http_in_flight (self->http));
        if (dlv_http_in_flight (self->http) == 0)
            break;
        if (zh_clock_mono_ms () >= self->next_hb_ms)
            s_heartbeat (self);
        if (s_wait (self, deadline) != 0)
            break;
        s_update_ready (self);
    }
    uint32_t left = dlv_http_in_flight (self->http);
    if (left)
        zh_warn ("grace period over: aborting attempts", "i:count", (int64_t)left, NULL);
    dlv_http_abort_all (self->http);
    zh_gauge_set (self->m_in_flight, 0);
    s_heartbeat (self);
}

int
dlv_server_run (dlv_server_t *self)
{
    int rc = 0;
    zh_info (
        "deliverer started", "s:instance", self->cfg->instance_id, "s:dispatch",
        self->cfg->dispatch_endpoint, "s:results", self->cfg->results_endpoint, "i:concurrency",
        (int64_t)self->cfg->concurrency, "i:host_concurrency", (int64_t)self->cfg->host_concurrency,
        "i:circuit_failures", (int64_t)self->cfg->circuit_failures, "b:allow_private_targets",
        self->cfg->allow_private_targets, "i:ops_port", (int64_t)dlv_server_ops_port (self), NULL);
    s_update_ready (self);
    s_heartbeat (self);

    while (!zh_signal_stopping () && !atomic_load (&self->stop_requested)) {
        /* take work while there is room and input; re-checking ZMQ_EVENTS
         * each time also re-arms the edge-triggered ZMQ_FD */
        s_take_work (self);
        if (dlv_http_perform (self->http) < 0) {
            zh_error ("curl multi failure", NULL);
            rc = -1;
            break;
        }
        zh_gauge_set (self->m_in_flight, dlv_http_in_flight (self->http));
        if (zh_clock_mono_ms () >= self->next_hb_ms)
            s_heartbeat (self);
        /* completions may have freed slots for frames already queued */
        if (s_work_waiting (self))
            continue;
        if (s_wait (self, -1) != 0) {
            zh_error ("curl multi poll failure", NULL);
            rc = -1;
            break;
        }
        s_update_ready (self);
    }
    s_stop (self);
    zh_info ("deliverer stopped", NULL);
    return rc;
}
