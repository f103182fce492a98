/*  dlv_http.h — the deliverer's HTTP engine: one libcurl multi handle.
 *
 *  Holds up to `concurrency` attempts in flight, each on a reused easy handle
 *  (the multi handle keeps the connection pool, so keep-alive connections
 *  to a receiver are reused across attempts). One thread owns a dlv_http_t;
 *  curl_global_init must have run before dlv_http_new.
 *
 *  An attempt is a POST of the dispatch's payload with Content-Type,
 *  User-Agent, the message's headers and the Standard Webhooks headers; no
 *  redirects (a 3xx is the attempt's outcome), http/https only, TLS always
 *  verified, no proxy but ZHOOK_EGRESS_PROXY (environment proxies ignored),
 *  the SSRF guard of common/zh_netguard (connect time; before the transfer
 *  in proxy mode), and caps on what a response may make us read and keep
 *  (see dlv_http.c). Every accepted
 *  dispatch ends in exactly one call of the done callback, from
 *  dlv_http_perform, dlv_http_abort_all or (for a dispatch that cannot be
 *  sent at all) dlv_http_start itself. */
#ifndef DLV_HTTP_H
#define DLV_HTTP_H

#include "common/zh_metrics.h"
#include "deliverer/dlv_config.h"
#include "proto/proto.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct _dlv_http_t dlv_http_t;

/* Called once per finished attempt. dispatch and result are borrowed for
 * the call only; result->error is NULL when an HTTP response arrived, else
 * "timeout", "connect", "dns", "tls", "network", "blocked_destination",
 * "response_headers_too_large" (over 100 header lines or 16 KiB of them),
 * "aborted" or "invalid_secret" (the message's secret cannot be decoded:
 * nothing was sent). A response whose body runs far past the kept part is
 * cut and reported as that HTTP response. dispatch->traceparent is the one
 * this attempt sent (a new child span of the producer's), or NULL. The
 * callback must not call back into dlv_http. */
typedef void (dlv_http_done_fn) (void *arg, const proto_dispatch_t *dispatch,
                                 const proto_result_t *result);

/* Copies what it needs from cfg (concurrency, response_body_max,
 * allow_private_targets, allowed_cidrs, egress_proxy, signing_secret,
 * instance_id). NULL when curl or memory fails or allowed_cidrs is
 * malformed (dlv_config_new has refused that already). */
dlv_http_t *dlv_http_new (const dlv_config_t *cfg, dlv_http_done_fn *done, void *done_arg);

/* Removes every transfer without reporting it (use dlv_http_abort_all
 * first to report), frees the easy handles and the multi handle. */
void dlv_http_destroy (dlv_http_t **self_p);

/* Starts an attempt, taking *dispatch_p (nulled) on success. Returns 0, or
 * -1 when no slot is free or curl refuses the handle (the dispatch then
 * stays with the caller). */
int dlv_http_start (dlv_http_t *self, proto_dispatch_t **dispatch_p);

/* Drives transfers (curl_multi_perform) and reports the finished ones.
 * Returns the number reported, or -1 on a multi-handle failure. */
int dlv_http_perform (dlv_http_t *self);

#define DLV_HTTP_WAIT_FDS_MAX 4

/* Waits up to timeout_ms (bounded further by curl's own timers) for
 * transfer activity or input on one of the n (<= DLV_HTTP_WAIT_FDS_MAX)
 * extra fds (ZeroMQ ZMQ_FDs: edge-triggered, so callers re-check
 * ZMQ_EVENTS after every return). Returns 0 (also when a signal
 * interrupted the wait), -1 on error. */
int dlv_http_wait (dlv_http_t *self, const int *fds, size_t n, int timeout_ms);

/* Makes a dlv_http_wait in progress (or the next one) return at once.
 * The one call that is safe from another thread (curl_multi_wakeup). */
void dlv_http_wakeup (dlv_http_t *self);

/* Milliseconds until curl wants dlv_http_perform called, -1 when it has no
 * timer running. */
long dlv_http_timeout (dlv_http_t *self);

/* Stops every in-flight attempt and reports it with error "aborted". */
void dlv_http_abort_all (dlv_http_t *self);

/* Registers this engine's series in metrics (call once, before the
 * registry is read by other threads): zhook_deliverer_blocked_total{reason}
 * and zhook_deliverer_responses_cut_total{cap="body"|"headers"}. Returns 0,
 * -1 when out of memory. Without it nothing is counted. */
int dlv_http_metrics_init (dlv_http_t *self, zh_metrics_t *metrics);

uint32_t dlv_http_in_flight (const dlv_http_t *self);
uint32_t dlv_http_free_slots (const dlv_http_t *self);

/* --- pure helpers, exposed for tests ------------------------------------ */

/* Retry-After as milliseconds from now_ms: delta-seconds ("120") or an
 * HTTP-date (a date in the past gives 0). -1 when value is NULL, empty or
 * unparsable. Values are capped at 10 years. */
int64_t dlv_http_retry_after_ms (const char *value, int64_t now_ms);

/* The result error for a curl code: NULL for CURLE_OK, else "timeout",
 * "connect", "dns", "tls" or "network". */
const char *dlv_http_error_name (CURLcode code);

#endif
