/*  ing_bridge.h — request/reply with the scheduler over ZeroMQ.
 *
 *  civetweb runs handlers on many threads; they share two connections:
 *
 *      PUSH  connect submit   one socket for every worker thread, used under
 *                             a mutex, sends never block under it
 *                             (ZMQ_DONTWAIT, retried every 2 ms until the
 *                             deadline); ZMQ_IMMEDIATE=1 (no queueing to an
 *                             absent scheduler), linger 0
 *      SUB   connect publish  subscribed to "hb" and "<instance>.", read by
 *                             the bridge's one reader thread
 *
 *  One connection each way lets ZeroMQ batch: under load many requests go
 *  out in one TCP write and many replies come back in one read, where a
 *  socket pair per thread paid a system call and a wake-up per message at
 *  both ends (bench/RESULTS.md). Each civetweb thread owns an
 *  ing_bridge_worker_t (made in civetweb's init_thread callback) with its
 *  number n and reply slot n. A request carries reply_to = "<instance>."
 *  (one topic for the whole ingress, so the scheduler sends a turn's replies
 *  to it in one frame), corr = n in the top 16 bits and a per-worker
 *  increasing counter below, and deadline_ms (wall clock) = now + timeout;
 *  the worker marks its slot as waiting for corr,
 *  sends, and sleeps on the slot's condition variable until the reader puts
 *  the reply with that corr there or the deadline (plus a short grace for a
 *  commit begun just before it) passes. The reader splits each frame into
 *  its replies (proto_split) and drops anything else (late replies to
 *  earlier requests, other topics sharing the prefix) and
 *  records heartbeats (an atomic read by /ready).
 *
 *  Every socket is a CURVE client of the scheduler (zh_curve) unless
 *  ZHOOK_CURVE=off: an ingress whose key the scheduler does not allowlist
 *  never hears a heartbeat (/ready 503) and its requests time out (503). */
#ifndef ING_BRIDGE_H
#define ING_BRIDGE_H

#include "common/zh_curve.h"
#include "common/zh_metrics.h"
#include "proto/proto.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _ing_bridge_t ing_bridge_t;
typedef struct _ing_bridge_worker_t ing_bridge_worker_t;

typedef enum {
    ING_BRIDGE_OK = 0,
    ING_BRIDGE_UNREACHABLE, /* the request could not be sent before the deadline */
    ING_BRIDGE_TIMEOUT, /* sent, but no reply before the deadline */
    ING_BRIDGE_ERROR, /* encoding failed or out of memory */
} ing_bridge_rc_t;

/* Connects the shared sockets and starts the reader thread. up (may be NULL) is set to 1/0 as the
 * scheduler is heard or not within ready_timeout_ms; it must outlive the
 * bridge. curve (borrowed during the call) gives the CURVE keys, loaded
 * here. Call after zh_signal_init (). NULL (logged) on failure. */
ing_bridge_t *ing_bridge_new (const char *submit_endpoint, const char *publish_endpoint,
                              const zh_curve_config_t *curve, const char *instance_id,
                              int ready_timeout_ms, zh_gauge_t *up);
/* Stops the reader thread. Every worker must be destroyed first. */
void ing_bridge_destroy (ing_bridge_t **self_p);

/* True when a scheduler heartbeat with ready=true arrived within
 * ready_timeout_ms. Any thread. */
bool ing_bridge_ready (ing_bridge_t *self);

/* Milliseconds since the last ready heartbeat, or -1 when none yet. */
int64_t ing_bridge_heartbeat_age_ms (ing_bridge_t *self);

/* Shutdown, once the grace period is over: every request waiting for a
 * reply returns ING_BRIDGE_TIMEOUT within ~100 ms (its client gets 503 and
 * retries with its Idempotency-Key). Any thread. */
void ing_bridge_abandon (ing_bridge_t *self);

/* A worker for the calling thread, which alone may use it. NULL (logged)
 * when out of memory or past the 2,048 reply slots. */
ing_bridge_worker_t *ing_bridge_worker_new (ing_bridge_t *bridge);
void ing_bridge_worker_destroy (ing_bridge_worker_t **self_p);

/* Its reply topic, "<instance>." (shared by the workers of one ingress;
 * a reply finds its worker by the slot in its corr). */
const char *ing_bridge_worker_topic (ing_bridge_worker_t *self);

/* Sets reply_to, corr and deadline_ms of the request, sends it and waits
 * up to timeout_ms for its reply. ING_BRIDGE_OK: *reply is the decoded
 * reply (caller destroys). Otherwise *reply is NULL. */
ing_bridge_rc_t ing_bridge_submit (ing_bridge_worker_t *self, proto_submit_t *submit,
                                   int timeout_ms, proto_reply_t **reply);
ing_bridge_rc_t ing_bridge_command (ing_bridge_worker_t *self, proto_command_t *command,
                                    int timeout_ms, proto_reply_t **reply);

#endif
