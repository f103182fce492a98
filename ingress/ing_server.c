/*  ing_server.c — civetweb handlers of the HTTP API.
 *
 *  One generic handler per path pattern picks the operation by method and
 *  fills a response (status, JSON body, a few extra headers); s_finish ()
 *  then writes it with X-Request-Id, counts it in the metrics and writes
 *  the access log line. Nothing here blocks except the bridge's wait for
 *  the scheduler, bounded by ZHOOK_REQUEST_TIMEOUT_MS. */
#include "ingress/ing_server.h"
#include "common/zh_clock.h"
#include "common/zh_digest.h"
#include "common/zh_defaults.h"
#include "common/zh_id.h"
#include "common/zh_log.h"
#include "common/zh_metrics.h"
#include "common/zh_ops.h"
#include "common/zh_netguard.h"
#include "common/zh_trace.h"
#include "ingress/ing_auth.h"
#include "ingress/ing_bridge.h"
#include "ingress/ing_cors.h"
#include "ingress/ing_http.h"
#include "ingress/ing_limit.h"
#include "ingress/ing_openapi.h"
#include "ingress/ing_render.h"
#include "ingress/ing_validate.h"

#include <civetweb.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_ABANDON_WAIT_MS 200 /* after the grace: abandoned requests get this to answer 503 */
#define ING_RETRY_AFTER_UNAVAILABLE "1"
#define ING_RETRY_AFTER_STORE_FULL "30"
#define ING_DL_LIMIT_DEFAULT 100
#define ING_CURSOR_MAX 256
#define ING_EXTRA_HEADERS 16
#define ING_HSTS "max-age=31536000; includeSubDomains" /* only on requests that came over TLS */
#define ING_EXTRA_VALUE_MAX 256 /* CORS origins are at most ING_CORS_ORIGIN_MAX */

typedef enum {
    R_CREATE,
    R_BATCH,
    R_GET,
    R_CANCEL,
    R_DL_LIST,
    R_DL_REPLAY,
    R_STATUS,
    R_SUB_CREATE,
    R_SUB_LIST,
    R_SUB_GET,
    R_SUB_DELETE,
    R_SUB_UPDATE,
    R_SUB_ROTATE,
    R_EVENT_PUBLISH,
    R_EVENT_GET,
    R_LIVE,
    R_READY,
    R_METRICS,
    R_OPENAPI,
    R_OTHER,
    R__COUNT
} s_route_t;

static const char *s_route_names[R__COUNT] = {
    "create_message",
    "create_batch",
    "get_message",
    "cancel_message",
    "list_dead_letters",
    "replay_dead_letter",
    "status",
    "create_subscription",
    "list_subscriptions",
    "get_subscription",
    "delete_subscription",
    "update_subscription",
    "rotate_subscription_secret",
    "publish_event",
    "get_event",
    "live",
    "ready",
    "metrics",
    "openapi",
    "other",
};

/* Status codes with their own series; anything else counts as "other". */
static const int s_codes[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                              408, 409, 413, 415, 422, 429, 500, 503, 507};
#define S_CODES (sizeof s_codes / sizeof s_codes[0])

typedef enum {
    P_MESSAGES,
    P_BATCH,
    P_MESSAGE,
    P_DL,
    P_DL_REPLAY,
    P_STATUS,
    P_SUBS,
    P_SUB,
    P_SUB_ROTATE,
    P_EVENTS,
    P_EVENT,
    P_LIVE,
    P_READY,
    P_METRICS,
    P_OPENAPI,
    P_ANY,
    P__COUNT
} s_path_kind_t;

static const char *s_path_patterns[P__COUNT] = {
    "/v1/messages$",
    "/v1/messages/batch$",
    "/v1/messages/*$",
    "/v1/dead-letters$",
    "/v1/dead-letters/*/replay$",
    "/v1/status$",
    "/v1/subscriptions$",
    "/v1/subscriptions/*$",
    "/v1/subscriptions/*/rotate-secret$",
    "/v1/events$",
    "/v1/events/*$",
    "/live$",
    "/ready$",
    "/metrics$",
    "/openapi.json$",
    "/",
};

typedef struct {
    ing_server_t *server;
    s_path_kind_t kind;
} s_path_t;

/* Why a request was refused before reaching its operation:
 * zhook_ingress_rejected_requests_total{reason}. The first ING_HTTP__COUNT
 * follow ing_http_check_t (index 0, "ok", is unused). */
typedef enum {
    S_REJECT_BODY_TIMEOUT = ING_HTTP__COUNT,
    S_REJECT_BODY_INCOMPLETE,
    S_REJECT_JSON_DEPTH,
    S_REJECT_CONTENT_TYPE,
    S_REJECT_CORS,
    S_REJECT_PARSER,
    S_REJECT__COUNT
} s_reject_t;

static const char *
s_reject_reason (int r)
{
    switch (r) {
    case S_REJECT_BODY_TIMEOUT:
        return "body_timeout";
    case S_REJECT_BODY_INCOMPLETE:
        return "body_incomplete";
    case S_REJECT_JSON_DEPTH:
        return "json_too_deep";
    case S_REJECT_CONTENT_TYPE:
        return "content_type";
    case S_REJECT_CORS:
        return "cors_preflight";
    case S_REJECT_PARSER:
        return "unparsable_request";
    default:
        return ing_http_check_reason ((ing_http_check_t)r);
    }
}

struct _ing_server_t {
    const ing_config_t *cfg; /* borrowed */
    ing_auth_t *auth;
    zh_netguard_t *guard; /* literal private-address URLs refused at submit */
    ing_bridge_t *bridge;
    zh_metrics_t *metrics;
    zh_counter_t *requests[R__COUNT][S_CODES + 1];
    zh_histogram_t *duration[R__COUNT];
    zh_counter_t *timeouts;
    zh_gauge_t *scheduler_up;
    zh_gauge_t *in_flight;
    ing_limit_t *limit; /* per-IP buckets and trusted proxies */
    zh_counter_t *limited_ip, *limited_tenant; /* 429s by scope */
    zh_counter_t *rejected[S_REJECT__COUNT]; /* requests refused by the strict HTTP checks */
    ing_cors_t *cors; /* ZHOOK_CORS_ORIGINS; never NULL once started */
    ing_http_watchdog_t *watchdog; /* cuts off bodies at ZHOOK_BODY_TIMEOUT_MS */
    s_path_t paths[P__COUNT];
    struct mg_context *ctx;
    bool library; /* mg_init_library succeeded */
    atomic_bool draining; /* SIGTERM: new requests get 503, /ready 503 */
    atomic_int admitted; /* requests in progress that were admitted before draining */
    int port;
};

/* One request in progress: what the handler decided, sent by s_finish. */
typedef struct {
    ing_server_t *server;
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    ing_bridge_worker_t *worker;
    int64_t start_us;
    s_route_t route;
    char request_id[ING_REQUEST_ID_MAX + 1];
    char traceparent[ZH_TRACEPARENT_SIZE]; /* the producer's if valid, else a new trace */
    char trace_id[ZH_TRACE_ID_SIZE]; /* its trace id, for the access line */
    const char *tenant; /* tenant_buf once authenticated, else NULL */
    char tenant_buf[ING_TENANT_MAX + 1];
    char client_ip[ING_LIMIT_IP_SIZE]; /* set by s_prologue: see ing_limit.h */
    bool https; /* set by s_prologue: TLS here or at a trusted proxy */
    int64_t retry_after_s; /* Retry-After of a 429/503 when known, else 0 */
    const char *noun; /* what a 404 says is missing: "message", "subscription", "event" */
    bool body_read;
    ing_http_framing_t framing; /* from ing_http_check_headers in s_dispatch */
    bool preflight; /* a CORS preflight: s_options set (or refused) its CORS headers */
    bool close; /* close the connection after the response (draining) */
    int status;
    json_t *json; /* response body, or */
    char *text; /* a preformatted one (metrics) */
    const char *content_type;
    const char *headers[2 * ING_EXTRA_HEADERS];
    char values[ING_EXTRA_HEADERS][ING_EXTRA_VALUE_MAX];
    size_t header_count;
} s_req_t;

/* --- response helpers -------------------------------------------------- */

static void
s_header (s_req_t *req, const char *name, const char *value)
{
    if (req->header_count == ING_EXTRA_HEADERS)
        return;
    size_t i = req->header_count++;
    snprintf (req->values[i], sizeof req->values[i], "%s", value);
    req->headers[2 * i] = name;
    req->headers[2 * i + 1] = req->values[i];
}

static void
s_respond (s_req_t *req, int status, json_t *body)
{
    json_decref (req->json);
    req->status = status;
    req->json = body;
    req->content_type = "application/json";
}

static void s_internal (s_req_t *req, const char *what);

/* 200 with a rendered body, or 500 when rendering ran out of memory (body
 * NULL). Not folded into s_respond: s_problem goes through it. */
static void
s_respond_ok (s_req_t *req, json_t *body)
{
    if (body)
        s_respond (req, 200, body);
    else
        s_internal (req, "out of memory");
}

/* errors (array of {field,message}) is stolen; may be NULL. */
static void
s_problem (s_req_t *req, int status, const char *detail, json_t *errors)
{
    s_respond (req, status, ing_render_problem (status, detail, errors));
    req->content_type = "application/problem+json";
    if ((status == 503 || status == 429) && req->retry_after_s > 0) {
        char seconds[24];
        snprintf (seconds, sizeof seconds, "%lld", (long long)req->retry_after_s);
        s_header (req, "Retry-After", seconds);
    }
    else if (status == 503 || status == 429)
        s_header (req, "Retry-After", ING_RETRY_AFTER_UNAVAILABLE);
    else if (status == 507)
        s_header (req, "Retry-After", ING_RETRY_AFTER_STORE_FULL);
}

static void
s_internal (s_req_t *req, const char *what)
{
    zh_error ("request failed", "s:what", what, "s:request_id", req->request_id, NULL);
    s_problem (req, 500, "internal error; the request was not processed", NULL);
}

static void
s_method_not_allowed (s_req_t *req, const char *allow)
{
    s_problem (req, 405, "method not allowed on this resource", NULL);
    s_header (req, "Allow", allow);
}

static void
s_not_found (s_req_t *req)
{
    s_problem (req, 404, "no such resource", NULL);
}

static void
s_one_error (s_req_t *req, int status, const char *detail, const char *field, const char *message)
{
    json_t *errors = json_array ();
    if (!errors || ing_errors_add (errors, field, message)) {
        json_decref (errors);
        s_internal (req, "out of memory");
        return;
    }
    s_problem (req, status, detail, errors);
}

/* --- request helpers --------------------------------------------------- */

static bool
s_auth (s_req_t *req)
{
    if (ing_auth_check (req->server->auth, mg_get_header (req->conn, "Authorization"),
                        req->tenant_buf)) {
        req->tenant = req->tenant_buf;
        return true;
    }
    /* one body for every failure: nothing tells a missing key from a wrong one */
    s_problem (req, 401, "a valid API key is required: Authorization: Bearer <key>", NULL);
    s_header (req, "WWW-Authenticate", "Bearer realm=\"zhook\"");
    return false;
}

/* ceil (ms / 1000): whole seconds for Retry-After and RateLimit-Reset. */
static int64_t
s_seconds (int64_t ms)
{
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

static void
s_limit_headers (s_req_t *req, uint32_t limit, uint32_t remaining, int64_t reset_ms)
{
    char value[24];
    snprintf (value, sizeof value, "%u", limit);
    s_header (req, "RateLimit-Limit", value);
    snprintf (value, sizeof value, "%u", remaining);
    s_header (req, "RateLimit-Remaining", value);
    snprintf (value, sizeof value, "%lld", (long long)s_seconds (reset_ms));
    s_header (req, "RateLimit-Reset", value);
}

/* The tenant limit's answer in a submit reply (the scheduler keeps the
 * buckets): RateLimit-* headers on accepted and refused submits of a
 * limited tenant, and the real wait in the Retry-After of a 429. */
static void
s_tenant_rate (s_req_t *req, const proto_reply_t *reply)
{
    if (reply->status == 429) {
        zh_counter_inc (req->server->limited_tenant);
        if (reply->retry_after_ms > 0) {
            int64_t s = s_seconds (reply->retry_after_ms);
            req->retry_after_s = s < 1 ? 1 : s;
        }
    }
    if (reply->rate_limit > 0)
        s_limit_headers (req, reply->rate_limit, reply->rate_remaining, reply->rate_reset_ms);
}

/* Query parameters that would carry a credential: refused, so a key never
 * sits in URLs, proxy logs or browser history (and is never logged here:
 * no log line holds a query string). */
static const char *s_key_params[] = {
    "api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization", NULL,
};

static bool
s_key_in_query (const char *qs)
{
    for (const char *p = qs; p && *p;) {
        size_t n = strcspn (p, "&;"), name_len = strcspn (p, "=&;");
        char name[32];
        int len = name_len < sizeof name
                      ? mg_url_decode (p, (int)name_len, name, (int)sizeof name, 1)
                      : -1;
        for (size_t i = 0; len > 0 && s_key_params[i]; i++)
            if (!strcasecmp (name, s_key_params[i]))
                return true;
        p += n;
        if (*p)
            p++;
    }
    return false;
}

/* Before every operation: who the client is (req->client_ip, req->https),
 * no credential in the query string (400), then the per-IP limit (429).
 * /live, /ready and /metrics are not limited: probes and scrapes must not
 * fail because a client behind the same address is noisy. */
static bool
s_prologue (s_req_t *req, s_path_kind_t kind)
{
    ing_server_t *server = req->server;
    ing_limit_client (req->conn, server->limit, req->client_ip, sizeof req->client_ip, &req->https);
    if (s_key_in_query (req->ri->query_string)) {
        s_problem (req, 400,
                   "API keys are accepted only in the Authorization header (Bearer), never in "
                   "the query string",
                   NULL);
        return false;
    }
    if (kind == P_LIVE || kind == P_READY || kind == P_METRICS ||
        !ing_limit_enabled (server->limit))
        return true;
    ing_limit_info_t info;
    if (ing_limit_take (server->limit, req->client_ip, zh_clock_mono_ms (), &info))
        return true;
    zh_counter_inc (server->limited_ip);
    req->retry_after_s = s_seconds (info.retry_after_ms);
    if (req->retry_after_s < 1)
        req->retry_after_s = 1;
    s_problem (req, 429, "too many requests from this address; retry after Retry-After seconds",
               NULL);
    s_limit_headers (req, info.limit, info.remaining, info.reset_ms);
    return false;
}

/* Fails fast (503) when this thread has no sockets or the scheduler has
 * not been heard within ZHOOK_READY_TIMEOUT_MS: waiting the full request
 * timeout on a scheduler that is down would only pile up blocked threads. */
static bool
s_worker (s_req_t *req)
{
    if (!req->worker) {
        s_problem (req, 503, "this ingress thread has no connection to the scheduler", NULL);
        return false;
    }
    if (!ing_bridge_ready (req->server->bridge)) {
        s_problem (req, 503, "the scheduler is not available (no recent heartbeat)", NULL);
        return false;
    }
    return true;
}

/* Idempotency-Key header: absent (true, *key NULL), valid, or 422. */
static bool
s_idem_key (s_req_t *req, const char **key)
{
    *key = mg_get_header (req->conn, "Idempotency-Key");
    if (!*key)
        return true;
    const char *why = ing_check_idempotency_key (*key);
    if (!why)
        return true;
    s_one_error (req, 422, "the Idempotency-Key header is invalid", "Idempotency-Key", why);
    return false;
}

static void
s_rejected (s_req_t *req, int reason)
{
    if (reason > 0 && reason < S_REJECT__COUNT)
        zh_counter_inc (req->server->rejected[reason]);
}

/* Reads a JSON body within ZHOOK_MAX_BODY_BYTES and ZHOOK_BODY_TIMEOUT_MS,
 * nested at most ING_JSON_MAX_DEPTH deep; false after setting the error
 * response (413, 408, 415, 400). */
static bool
s_read_json (s_req_t *req, char **body, size_t *size)
{
    if (!ing_http_is_json (mg_get_header (req->conn, "Content-Type"))) {
        s_rejected (req, S_REJECT_CONTENT_TYPE);
        s_problem (req, 415, "Content-Type must be application/json", NULL);
        return false;
    }
    const ing_config_t *cfg = req->server->cfg;
    size_t max = cfg->max_body_bytes;
    int timeout_ms = cfg->body_timeout_ms > 0 ? cfg->body_timeout_ms : ZH_DEF_BODY_TIMEOUT_MS;
    ing_http_body_rc_t rc =
        ing_http_read_body (req->conn, &req->framing, max, zh_clock_mono_ms () + timeout_ms,
                            req->server->watchdog, body, size);
    if (rc == ING_BODY_OK && !ing_http_json_depth_ok (*body, *size, ING_JSON_MAX_DEPTH)) {
        req->body_read = true;
        free (*body);
        *body = NULL;
        s_rejected (req, S_REJECT_JSON_DEPTH);
        char detail[96];
        snprintf (detail, sizeof detail,
                  "the request body nests arrays and objects more than %d deep",
                  ING_JSON_MAX_DEPTH);
        s_problem (req, 400, detail, NULL);
        return false;
    }
    if (rc == ING_BODY_OK) {
        req->body_read = true;
        return true;
    }
    char detail[96];
    switch (rc) {
    case ING_BODY_TOO_LARGE:
        s_rejected (req, ING_HTTP_TOO_LARGE);
        snprintf (detail, sizeof detail, "the request body exceeds %zu bytes", max);
        s_problem (req, 413, detail, NULL);
        break;
    case ING_BODY_BAD_FRAMING:
        s_rejected (req, ING_HTTP_LENGTH_AND_CHUNKED);
        s_problem (req, 400, "malformed Content-Length or Transfer-Encoding", NULL);
        break;
    case ING_BODY_TIMEOUT:
        s_rejected (req, S_REJECT_BODY_TIMEOUT);
        snprintf (detail, sizeof detail, "the request body did not arrive within %d ms",
                  timeout_ms);
        s_problem (req, 408, detail, NULL);
        break;
    case ING_BODY_IO:
        s_rejected (req, S_REJECT_BODY_INCOMPLETE);
        s_problem (req, 400, "the request body could not be read (incomplete or malformed)", NULL);
        break;
    default:
        s_internal (req, "out of memory reading the body");
        break;
    }
    return false;
}

/* Validation outcome to 400/422/500; errors is stolen. */
static void
s_invalid (s_req_t *req, ing_valid_rc_t rc, json_t *errors)
{
    if (rc == ING_VALID_MALFORMED) {
        const char *why =
            json_string_value (json_object_get (json_array_get (errors, 0), "message"));
        char detail[300];
        snprintf (detail, sizeof detail, "the request body is %s", why ? why : "not valid JSON");
        s_problem (req, 400, detail, NULL);
        json_decref (errors);
    }
    else if (rc == ING_VALID_INVALID)
        s_problem (req, 422, "the request has invalid fields", errors);
    else {
        json_decref (errors);
        s_internal (req, "out of memory validating the body");
    }
}

static void
s_bridge_failed (s_req_t *req, ing_bridge_rc_t rc)
{
    if (rc == ING_BRIDGE_ERROR) {
        s_internal (req, "cannot encode the request for the scheduler");
        return;
    }
    zh_counter_inc (req->server->timeouts);
    zh_warn ("scheduler did not answer in time", "s:request_id", req->request_id, "s:reason",
             rc == ING_BRIDGE_UNREACHABLE ? "unreachable" : "no reply", NULL);
    s_problem (req, 503,
               "the scheduler did not answer in time; retry later (with the same "
               "Idempotency-Key for submissions)",
               NULL);
}

/* A refusal from the scheduler (any status not expected for success). */
static void
s_reply_refused (s_req_t *req, int status, const char *error)
{
    switch (status) {
    case 404: {
        char detail[64];
        snprintf (detail, sizeof detail, "no such %s", req->noun);
        s_problem (req, 404, detail, NULL);
        break;
    }
    case 400:
    case 409:
    case 413:
    case 422:
    case 429:
    case 503:
    case 507:
        s_problem (req, status, error, NULL);
        break;
    default:
        zh_warn ("unexpected reply status from the scheduler", "i:status", (int64_t)status,
                 "s:request_id", req->request_id, NULL);
        s_problem (req, 500, "unexpected reply from the scheduler", NULL);
        break;
    }
}

/* Ids ("msg_" or, for an event, "evt_"), tenant and idempotency of a
 * validated submission. */
static int
s_fill_submit (s_req_t *req, proto_submit_t *submit, const char *idem, const char *body,
               size_t size)
{
    const char *prefix = submit->topic ? "evt" : "msg";
    for (size_t i = 0; i < submit->item_count; i++) {
        char id[ZH_ID_MAX];
        if (zh_id_new (prefix, id, sizeof id) || !(submit->items[i].id = strdup (id)))
            return -1;
    }
    /* every message of the request (each batch item, the event and so
     * every message fanned out from it) carries the request's trace */
    for (size_t i = 0; i < submit->item_count && req->traceparent[0]; i++)
        if (!(submit->items[i].traceparent = strdup (req->traceparent)))
            return -1;
    submit->tenant = strdup (req->tenant);
    submit->request_id = strdup (req->request_id);
    if (!submit->tenant || !submit->request_id)
        return -1;
    if (idem && (!(submit->idem_key = strdup (idem)) || zh_sha256 (body, size, submit->idem_hash)))
        return -1;
    return 0;
}

static void
s_replayed (s_req_t *req, const proto_reply_t *reply)
{
    if (reply->replayed)
        s_header (req, "Idempotent-Replayed", "true");
}

/* --- operations -------------------------------------------------------- */

static void
s_create (s_req_t *req)
{
    const char *idem;
    char *body = NULL;
    size_t size = 0;
    proto_submit_t *submit = NULL;
    proto_reply_t *reply = NULL;
    if (!s_auth (req) || !s_idem_key (req, &idem) || !s_read_json (req, &body, &size) ||
        !s_worker (req))
        goto out;
    submit = proto_submit_new ();
    proto_item_t *item = submit ? proto_submit_add_item (submit) : NULL;
    json_t *errors = json_array ();
    if (!item || !errors) {
        json_decref (errors);
        s_internal (req, "out of memory");
        goto out;
    }
    ing_valid_rc_t vrc = ing_validate_message (body, size, req->server->guard, item, errors);
    if (vrc != ING_VALID_OK) {
        s_invalid (req, vrc, errors);
        goto out;
    }
    json_decref (errors);
    if (s_fill_submit (req, submit, idem, body, size)) {
        s_internal (req, "cannot build the submission");
        goto out;
    }
    ing_bridge_rc_t brc =
        ing_bridge_submit (req->worker, submit, req->server->cfg->request_timeout_ms, &reply);
    if (brc != ING_BRIDGE_OK) {
        s_bridge_failed (req, brc);
        goto out;
    }
    s_tenant_rate (req, reply);
    if (reply->status != 202) {
        s_reply_refused (req, reply->status, reply->error);
        goto out;
    }
    if (reply->item_count < 1) {
        s_reply_refused (req, 0, NULL);
        goto out;
    }
    const proto_reply_item_t *ri = &reply->items[0];
    if (ri->status != 202) {
        s_reply_refused (req, ri->status, ri->error);
        goto out;
    }
    json_t *accepted = ing_render_accepted (ri);
    if (!accepted) {
        s_internal (req, "out of memory");
        goto out;
    }
    s_respond (req, 202, accepted);
    char location[96];
    snprintf (location, sizeof location, "/v1/messages/%s", ri->id ? ri->id : "");
    s_header (req, "Location", location);
    s_replayed (req, reply);
out:
    proto_reply_destroy (&reply);
    proto_submit_destroy (&submit);
    free (body);
}

static void
s_batch (s_req_t *req)
{
    const char *idem;
    char *body = NULL;
    size_t size = 0;
    proto_submit_t *submit = NULL;
    proto_reply_t *reply = NULL;
    json_t *results = NULL;
    if (!s_auth (req) || !s_idem_key (req, &idem) || !s_read_json (req, &body, &size) ||
        !s_worker (req))
        goto out;
    submit = proto_submit_new ();
    json_t *errors = json_array ();
    if (!submit || !errors) {
        json_decref (errors);
        s_internal (req, "out of memory");
        goto out;
    }
    ing_valid_rc_t vrc =
        ing_validate_batch (body, size, req->server->guard, submit, &results, errors);
    if (vrc != ING_VALID_OK) {
        s_invalid (req, vrc, errors);
        goto out;
    }
    if (submit->item_count == 0) {
        /* nothing to submit: one 422 listing every message's errors */
        for (size_t i = 0; i < json_array_size (results); i++)
            json_array_extend (errors, json_array_get (results, i));
        s_problem (req, 422, "every message in the batch is invalid", errors);
        goto out;
    }
    json_decref (errors);
    if (s_fill_submit (req, submit, idem, body, size)) {
        s_internal (req, "cannot build the submission");
        goto out;
    }
    ing_bridge_rc_t brc =
        ing_bridge_submit (req->worker, submit, req->server->cfg->request_timeout_ms, &reply);
    if (brc != ING_BRIDGE_OK) {
        s_bridge_failed (req, brc);
        goto out;
    }
    s_tenant_rate (req, reply);
    if (reply->status != 202) {
        s_reply_refused (req, reply->status, reply->error);
        goto out;
    }
    json_t *rendered = ing_render_batch (results, reply);
    if (!rendered) {
        s_internal (req, "scheduler reply does not match the batch");
        goto out;
    }
    s_respond (req, 202, rendered);
    s_replayed (req, reply);
out:
    json_decref (results);
    proto_reply_destroy (&reply);
    proto_submit_destroy (&submit);
    free (body);
}

/* Sends a command; NULL after setting the error response. */
static proto_reply_t *
s_command (s_req_t *req, proto_command_t *cmd)
{
    proto_reply_t *reply = NULL;
    cmd->tenant = strdup (req->tenant);
    cmd->request_id = strdup (req->request_id);
    if (!cmd->tenant || !cmd->request_id) {
        s_internal (req, "out of memory");
        return NULL;
    }
    ing_bridge_rc_t brc =
        ing_bridge_command (req->worker, cmd, req->server->cfg->request_timeout_ms, &reply);
    if (brc != ING_BRIDGE_OK) {
        s_bridge_failed (req, brc);
        return NULL;
    }
    if (reply->status != 200 && reply->status != 201) {
        s_reply_refused (req, reply->status, reply->error);
        proto_reply_destroy (&reply);
        return NULL;
    }
    return reply;
}

/* GET, DELETE /v1/messages/{id} and POST /v1/dead-letters/{id}/replay. */
static void
s_by_id (s_req_t *req, proto_op_t op, const char *id)
{
    if (!s_auth (req))
        return;
    /* malformed ids look exactly like unknown ones */
    if (!zh_id_valid (id, "msg")) {
        s_problem (req, 404, "no such message", NULL);
        return;
    }
    if (!s_worker (req))
        return;
    proto_command_t *cmd = proto_command_new ();
    if (!cmd || !(cmd->id = strdup (id))) {
        proto_command_destroy (&cmd);
        s_internal (req, "out of memory");
        return;
    }
    cmd->op = op;
    proto_reply_t *reply = s_command (req, cmd);
    if (reply) {
        if (reply->record_count < 1)
            s_reply_refused (req, 0, NULL);
        else {
            json_t *record = ing_render_record (&reply->records[0]);
            s_respond_ok (req, record);
        }
    }
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

static bool
s_cursor_ok (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > ING_CURSOR_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p > 0x7e)
            return false;
    return true;
}

/* limit (1..1000, default ING_DL_LIMIT_DEFAULT) and after of a list query
 * into cmd; false after setting the error response. */
static bool
s_page (s_req_t *req, proto_command_t *cmd)
{
    const char *qs = req->ri->query_string ? req->ri->query_string : "";
    size_t qlen = strlen (qs);
    char limit_text[16], after[ING_CURSOR_MAX + 2];
    long limit = ING_DL_LIMIT_DEFAULT;
    int n = mg_get_var (qs, qlen, "limit", limit_text, sizeof limit_text);
    if (n != -1) {
        char *end = NULL;
        limit = n > 0 && limit_text[0] >= '0' && limit_text[0] <= '9'
                    ? strtol (limit_text, &end, 10)
                    : 0;
        if (n <= 0 || !end || *end || limit < 1 || limit > 1000) {
            s_one_error (req, 422, "invalid query parameter", "limit",
                         "must be an integer from 1 to 1000");
            return false;
        }
    }
    n = mg_get_var (qs, qlen, "after", after, sizeof after);
    if (n != -1 && (n <= 0 || !s_cursor_ok (after))) {
        s_one_error (req, 422, "invalid query parameter", "after",
                     "must be the \"next\" cursor of a previous page");
        return false;
    }
    if (n > 0 && !(cmd->after = strdup (after))) {
        s_internal (req, "out of memory");
        return false;
    }
    cmd->limit = (uint32_t)limit;
    return true;
}

static void
s_dead_letters (s_req_t *req)
{
    if (!s_auth (req))
        return;
    proto_command_t *cmd = proto_command_new ();
    if (!cmd) {
        s_internal (req, "out of memory");
        return;
    }
    if (!s_page (req, cmd) || !s_worker (req)) {
        proto_command_destroy (&cmd);
        return;
    }
    cmd->op = PROTO_OP_DL_LIST;
    proto_reply_t *reply = s_command (req, cmd);
    if (reply) {
        json_t *list = ing_render_dead_letters (reply);
        s_respond_ok (req, list);
    }
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

/* --- subscriptions and events ------------------------------------------ */

/* A fresh subscription secret: "whsec_" + base64 of 32 bytes from OpenSSL's
 * CSPRNG (the producer never chose it, so it is as strong as we make it). */
static int
s_new_secret (char *buf, size_t size)
{
    unsigned char raw[32];
    if (size < 6 + 4 * ((sizeof raw + 2) / 3) + 1 || RAND_bytes (raw, sizeof raw) != 1)
        return -1;
    memcpy (buf, "whsec_", 6);
    EVP_EncodeBlock ((unsigned char *)buf + 6, raw, sizeof raw);
    OPENSSL_cleanse (raw, sizeof raw);
    return 0;
}

/* The subscription of a SUB_* reply rendered as the response (200 or 201);
 * with_secret shows its secret, falling back on fallback_secret (the one
 * this ingress sent) when the reply carries none. */
static void
s_respond_subscription (s_req_t *req, int status, const proto_reply_t *reply, bool with_secret,
                        const char *fallback_secret)
{
    if (reply->subscription_count < 1) {
        s_reply_refused (req, 0, NULL);
        return;
    }
    const proto_subscription_t *sub = &reply->subscriptions[0];
    json_t *o = ing_render_subscription (sub, with_secret);
    if (o && with_secret && !sub->secret && fallback_secret &&
        json_object_set_new (o, "secret", json_string (fallback_secret))) {
        json_decref (o);
        o = NULL;
    }
    if (!o) {
        s_internal (req, "out of memory");
        return;
    }
    s_respond (req, status, o);
    if (status == 201) {
        char location[96];
        snprintf (location, sizeof location, "/v1/subscriptions/%s", sub->id ? sub->id : "");
        s_header (req, "Location", location);
    }
}

/* A command about one subscription (id from the path) with an optional
 * subscription body; consumes nothing. */
static proto_command_t *
s_id_command (s_req_t *req, proto_op_t op, const char *id)
{
    proto_command_t *cmd = proto_command_new ();
    if (!cmd || !(cmd->id = strdup (id))) {
        proto_command_destroy (&cmd);
        s_internal (req, "out of memory");
        return NULL;
    }
    cmd->op = op;
    return cmd;
}

static void
s_sub_create (s_req_t *req)
{
    char *body = NULL;
    size_t size = 0;
    proto_command_t *cmd = NULL;
    proto_reply_t *reply = NULL;
    json_t *errors = NULL;
    char secret[64] = "";
    if (!s_auth (req) || !s_read_json (req, &body, &size))
        goto out;
    cmd = proto_command_new ();
    errors = json_array ();
    if (!cmd || !errors || !(cmd->subscription = proto_subscription_new ())) {
        s_internal (req, "out of memory");
        goto out;
    }
    proto_subscription_t *sub = cmd->subscription;
    ing_valid_rc_t vrc = ing_validate_subscription (body, size, req->server->guard, sub, errors);
    if (vrc != ING_VALID_OK) {
        s_invalid (req, vrc, errors);
        errors = NULL;
        goto out;
    }
    if (!s_worker (req))
        goto out;
    char id[ZH_ID_MAX];
    if (zh_id_new ("sub", id, sizeof id) || !(sub->id = strdup (id)) ||
        !(sub->tenant = strdup (req->tenant)) ||
        (!sub->secret &&
         (s_new_secret (secret, sizeof secret) || !(sub->secret = strdup (secret))))) {
        s_internal (req, "cannot build the subscription");
        goto out;
    }
    sub->enabled = true;
    cmd->op = PROTO_OP_SUB_CREATE;
    reply = s_command (req, cmd);
    if (reply)
        s_respond_subscription (req, 201, reply, true, sub->secret);
out:
    OPENSSL_cleanse (secret, sizeof secret);
    json_decref (errors);
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
    free (body);
}

static void
s_sub_list (s_req_t *req)
{
    if (!s_auth (req))
        return;
    proto_command_t *cmd = proto_command_new ();
    if (!cmd) {
        s_internal (req, "out of memory");
        return;
    }
    const char *qs = req->ri->query_string ? req->ri->query_string : "";
    char topic[ING_TOPIC_MAX + 2];
    int n = mg_get_var (qs, strlen (qs), "topic", topic, sizeof topic);
    proto_reply_t *reply = NULL;
    if (n != -1) {
        const char *why = n == -2  ? "must be 1 to 128 bytes"
                          : n <= 0 ? "must not be empty"
                                   : ing_check_topic (topic, true);
        if (why) {
            s_one_error (req, 422, "invalid query parameter", "topic", why);
            goto out;
        }
        if (!(cmd->topic = strdup (topic))) {
            s_internal (req, "out of memory");
            goto out;
        }
    }
    if (!s_page (req, cmd) || !s_worker (req))
        goto out;
    cmd->op = PROTO_OP_SUB_LIST;
    reply = s_command (req, cmd);
    if (reply) {
        json_t *list = ing_render_subscriptions (reply);
        s_respond_ok (req, list);
    }
out:
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

/* GET and DELETE /v1/subscriptions/{id}: the subscription, never its secret. */
static void
s_sub_by_id (s_req_t *req, proto_op_t op, const char *id)
{
    if (!s_auth (req))
        return;
    if (!zh_id_valid (id, "sub")) {
        s_problem (req, 404, "no such subscription", NULL);
        return;
    }
    if (!s_worker (req))
        return;
    proto_command_t *cmd = s_id_command (req, op, id);
    proto_reply_t *reply = cmd ? s_command (req, cmd) : NULL;
    if (reply)
        s_respond_subscription (req, 200, reply, false, NULL);
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

static void
s_sub_update (s_req_t *req, const char *id)
{
    char *body = NULL;
    size_t size = 0;
    proto_command_t *cmd = NULL;
    proto_reply_t *reply = NULL;
    if (!s_auth (req))
        goto out;
    if (!zh_id_valid (id, "sub")) {
        s_problem (req, 404, "no such subscription", NULL);
        goto out;
    }
    if (!s_read_json (req, &body, &size))
        goto out;
    cmd = s_id_command (req, PROTO_OP_SUB_UPDATE, id);
    if (!cmd)
        goto out;
    json_t *errors = json_array ();
    if (!errors || !(cmd->subscription = proto_subscription_new ())) {
        json_decref (errors);
        s_internal (req, "out of memory");
        goto out;
    }
    ing_valid_rc_t vrc =
        ing_validate_subscription_update (body, size, cmd->subscription, &cmd->update_mask, errors);
    if (vrc != ING_VALID_OK) {
        s_invalid (req, vrc, errors);
        goto out;
    }
    json_decref (errors);
    if (!s_worker (req))
        goto out;
    reply = s_command (req, cmd);
    if (reply)
        s_respond_subscription (req, 200, reply, false, NULL);
out:
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
    free (body);
}

/* POST /v1/subscriptions/{id}/rotate-secret, body optional ({"secret"}):
 * the ingress makes the new secret, the scheduler keeps the old one as
 * previous_secret for the overlap. */
static void
s_sub_rotate (s_req_t *req, const char *id)
{
    char *body = NULL, *given = NULL;
    size_t size = 0;
    proto_command_t *cmd = NULL;
    proto_reply_t *reply = NULL;
    char secret[64] = "";
    if (!s_auth (req))
        goto out;
    if (!zh_id_valid (id, "sub")) {
        s_problem (req, 404, "no such subscription", NULL);
        goto out;
    }
    if (ing_http_has_body (req->conn)) {
        if (!s_read_json (req, &body, &size))
            goto out;
        json_t *errors = json_array ();
        if (!errors) {
            s_internal (req, "out of memory");
            goto out;
        }
        ing_valid_rc_t vrc = ing_validate_rotation (body, size, &given, errors);
        if (vrc != ING_VALID_OK) {
            s_invalid (req, vrc, errors);
            goto out;
        }
        json_decref (errors);
    }
    if (!s_worker (req))
        goto out;
    cmd = s_id_command (req, PROTO_OP_SUB_ROTATE, id);
    if (!cmd)
        goto out;
    if (!(cmd->subscription = proto_subscription_new ()) ||
        (!given && s_new_secret (secret, sizeof secret)) ||
        !(cmd->subscription->secret = strdup (given ? given : secret))) {
        s_internal (req, "cannot make a secret");
        goto out;
    }
    reply = s_command (req, cmd);
    if (reply)
        s_respond_subscription (req, 200, reply, true, cmd->subscription->secret);
out:
    OPENSSL_cleanse (secret, sizeof secret);
    if (given)
        OPENSSL_cleanse (given, strlen (given));
    free (given);
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
    free (body);
}

static void
s_event_publish (s_req_t *req)
{
    const char *idem;
    char *body = NULL;
    size_t size = 0;
    proto_submit_t *submit = NULL;
    proto_reply_t *reply = NULL;
    if (!s_auth (req) || !s_idem_key (req, &idem) || !s_read_json (req, &body, &size))
        goto out;
    submit = proto_submit_new ();
    proto_item_t *item = submit ? proto_submit_add_item (submit) : NULL;
    json_t *errors = json_array ();
    if (!item || !errors) {
        json_decref (errors);
        s_internal (req, "out of memory");
        goto out;
    }
    ing_valid_rc_t vrc = ing_validate_event (body, size, &submit->topic, item, errors);
    if (vrc != ING_VALID_OK) {
        s_invalid (req, vrc, errors);
        goto out;
    }
    json_decref (errors);
    if (!s_worker (req))
        goto out;
    if (s_fill_submit (req, submit, idem, body, size)) {
        s_internal (req, "cannot build the submission");
        goto out;
    }
    ing_bridge_rc_t brc =
        ing_bridge_submit (req->worker, submit, req->server->cfg->request_timeout_ms, &reply);
    if (brc != ING_BRIDGE_OK) {
        s_bridge_failed (req, brc);
        goto out;
    }
    s_tenant_rate (req, reply);
    if (reply->status != 202) {
        s_reply_refused (req, reply->status, reply->error);
        goto out;
    }
    json_t *accepted = ing_render_event_accepted (reply, submit->items[0].id);
    if (!accepted) {
        s_internal (req, "out of memory");
        goto out;
    }
    s_respond (req, 202, accepted);
    char location[96];
    snprintf (location, sizeof location, "/v1/events/%s",
              json_string_value (json_object_get (accepted, "id")));
    s_header (req, "Location", location);
    s_replayed (req, reply);
out:
    proto_reply_destroy (&reply);
    proto_submit_destroy (&submit);
    free (body);
}

static void
s_event_get (s_req_t *req, const char *id)
{
    if (!s_auth (req))
        return;
    if (!zh_id_valid (id, "evt")) {
        s_problem (req, 404, "no such event", NULL);
        return;
    }
    if (!s_worker (req))
        return;
    proto_command_t *cmd = s_id_command (req, PROTO_OP_EVENT_GET, id);
    proto_reply_t *reply = cmd ? s_command (req, cmd) : NULL;
    if (reply) {
        if (!reply->event_id)
            reply->event_id = strdup (id);
        json_t *event = reply->event_id ? ing_render_event (reply) : NULL;
        s_respond_ok (req, event);
    }
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

static void
s_status (s_req_t *req)
{
    if (!s_auth (req) || !s_worker (req))
        return;
    proto_command_t *cmd = proto_command_new ();
    if (!cmd) {
        s_internal (req, "out of memory");
        return;
    }
    cmd->op = PROTO_OP_STATUS;
    proto_reply_t *reply = s_command (req, cmd);
    if (reply) {
        json_t *stats = ing_render_status (reply);
        s_respond_ok (req, stats);
    }
    proto_reply_destroy (&reply);
    proto_command_destroy (&cmd);
}

static void
s_ready (s_req_t *req)
{
    if (atomic_load (&req->server->draining)) {
        req->close = true;
        s_problem (req, 503, "this ingress is shutting down", NULL);
        return;
    }
    if (ing_bridge_ready (req->server->bridge)) {
        s_respond (req, 200, json_pack ("{s:s}", "status", "ready"));
        return;
    }
    char detail[128];
    snprintf (detail, sizeof detail, "no scheduler heartbeat within the last %d ms",
              req->server->cfg->ready_timeout_ms);
    s_problem (req, 503, detail, NULL);
}

static void
s_metrics (s_req_t *req)
{
    /* the watcher thread updates this gauge on its own schedule; a scrape must
     * agree with /ready at the same instant */
    zh_gauge_set (req->server->scheduler_up, ing_bridge_ready (req->server->bridge) ? 1 : 0);
    req->text = zh_metrics_render (req->server->metrics);
    if (!req->text) {
        s_internal (req, "out of memory rendering metrics");
        return;
    }
    req->status = 200;
    req->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* GET /openapi.json: the document embedded at build time (no auth). */
static void
s_openapi (s_req_t *req)
{
    size_t size = 0;
    const char *doc = ing_openapi_doc (&size);
    req->text = strndup (doc, size);
    if (!req->text) {
        s_internal (req, "out of memory copying the OpenAPI document");
        return;
    }
    req->status = 200;
    req->content_type = "application/json";
}

/* --- dispatch ---------------------------------------------------------- */

/* Copies the {id} segment of local_uri after prefix (up to suffix). */
static void
s_segment (const char *uri, const char *prefix, const char *suffix, char *buf, size_t size)
{
    buf[0] = 0;
    size_t plen = strlen (prefix);
    if (strncmp (uri, prefix, plen) != 0)
        return;
    const char *start = uri + plen;
    size_t n = strlen (start), slen = suffix ? strlen (suffix) : 0;
    if (n < slen)
        return;
    n -= slen;
    if (n >= size)
        n = size - 1; /* too long to be an id: still rejected by zh_id_valid */
    memcpy (buf, start, n);
    buf[n] = 0;
}

static bool
s_is (const s_req_t *req, const char *method)
{
    return req->ri->request_method && !strcmp (req->ri->request_method, method);
}

/* The operation of a path and method, or R_OTHER with *allow set (405). */
static s_route_t
s_route_of (const s_req_t *req, s_path_kind_t kind, const char **allow)
{
    *allow = "GET";
    switch (kind) {
    case P_MESSAGES:
        *allow = "POST";
        return s_is (req, "POST") ? R_CREATE : R_OTHER;
    case P_BATCH:
        *allow = "POST";
        return s_is (req, "POST") ? R_BATCH : R_OTHER;
    case P_MESSAGE:
        *allow = "GET, DELETE";
        return s_is (req, "GET") ? R_GET : s_is (req, "DELETE") ? R_CANCEL : R_OTHER;
    case P_DL:
        return s_is (req, "GET") ? R_DL_LIST : R_OTHER;
    case P_DL_REPLAY:
        *allow = "POST";
        return s_is (req, "POST") ? R_DL_REPLAY : R_OTHER;
    case P_STATUS:
        return s_is (req, "GET") ? R_STATUS : R_OTHER;
    case P_SUBS:
        *allow = "GET, POST";
        return s_is (req, "POST") ? R_SUB_CREATE : s_is (req, "GET") ? R_SUB_LIST : R_OTHER;
    case P_SUB:
        *allow = "GET, PATCH, DELETE";
        return s_is (req, "GET")      ? R_SUB_GET
               : s_is (req, "DELETE") ? R_SUB_DELETE
               : s_is (req, "PATCH")  ? R_SUB_UPDATE
                                      : R_OTHER;
    case P_SUB_ROTATE:
        *allow = "POST";
        return s_is (req, "POST") ? R_SUB_ROTATE : R_OTHER;
    case P_EVENTS:
        *allow = "POST";
        return s_is (req, "POST") ? R_EVENT_PUBLISH : R_OTHER;
    case P_EVENT:
        return s_is (req, "GET") ? R_EVENT_GET : R_OTHER;
    case P_LIVE:
        return s_is (req, "GET") ? R_LIVE : R_OTHER;
    case P_READY:
        return s_is (req, "GET") ? R_READY : R_OTHER;
    case P_METRICS:
        return s_is (req, "GET") ? R_METRICS : R_OTHER;
    case P_OPENAPI:
        return s_is (req, "GET") ? R_OPENAPI : R_OTHER;
    default:
        *allow = NULL;
        return R_OTHER;
    }
}

/* An empty response (204). */
static void
s_no_content (s_req_t *req)
{
    json_decref (req->json);
    req->json = NULL;
    free (req->text);
    req->text = strdup ("");
    req->status = 204;
    req->content_type = NULL;
}

/* OPTIONS: a CORS preflight (Origin and Access-Control-Request-Method) is
 * answered 204 with the route's methods for a listed origin, else 403
 * without CORS headers; a plain OPTIONS gets 204 with Allow. */
static void
s_options (s_req_t *req, const char *allow)
{
    const char *origin = mg_get_header (req->conn, "Origin");
    const char *method = mg_get_header (req->conn, "Access-Control-Request-Method");
    if (!origin || !method) {
        s_no_content (req);
        s_header (req, "Allow", allow);
        return;
    }
    const char *headers = mg_get_header (req->conn, "Access-Control-Request-Headers");
    req->preflight = true; /* s_finish adds no CORS header of its own */
    if (ing_cors_preflight (req->server->cors, origin, method, headers, allow) != ING_CORS_ALLOW) {
        s_rejected (req, S_REJECT_CORS);
        s_problem (req, 403,
                   "CORS preflight refused: the origin is not allowed (ZHOOK_CORS_ORIGINS), or "
                   "the method or a header is not allowed on this resource",
                   NULL);
        return;
    }
    s_no_content (req);
    s_header (req, "Access-Control-Allow-Origin", origin);
    s_header (req, "Access-Control-Allow-Methods", allow);
    s_header (req, "Access-Control-Allow-Headers", ING_CORS_ALLOW_HEADERS);
    s_header (req, "Access-Control-Max-Age", ING_CORS_MAX_AGE);
    s_header (req, "Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
}

/* civetweb's lenient parse, made strict: false after setting the error
 * response (400, 413, 415). */
static bool
s_strict (s_req_t *req)
{
    size_t max = req->server->cfg->max_body_bytes;
    ing_http_check_t rc =
        ing_http_check_headers (req->ri->http_headers, req->ri->num_headers, max, &req->framing);
    if (rc == ING_HTTP_OK)
        return true;
    s_rejected (req, rc);
    if (rc == ING_HTTP_TOO_LARGE) {
        char detail[96];
        snprintf (detail, sizeof detail, "the request body exceeds %zu bytes", max);
        s_problem (req, 413, detail, NULL);
    }
    else
        s_problem (req, ing_http_check_status (rc), ing_http_check_detail (rc), NULL);
    return false;
}

static void
s_dispatch (s_req_t *req, s_path_kind_t kind)
{
    const char *uri = req->ri->local_uri ? req->ri->local_uri : "";
    char id[ZH_ID_MAX + 8];
    const char *allow;
    req->route = s_route_of (req, kind, &allow);
    if (!s_prologue (req, kind))
        return;
    if (!s_strict (req))
        return;
    if (req->route == R_OTHER && allow && s_is (req, "OPTIONS")) {
        s_options (req, allow);
        return;
    }
    switch (req->route) {
    case R_CREATE:
        s_create (req);
        break;
    case R_BATCH:
        s_batch (req);
        break;
    case R_GET:
    case R_CANCEL:
        s_segment (uri, "/v1/messages/", NULL, id, sizeof id);
        s_by_id (req, req->route == R_GET ? PROTO_OP_GET : PROTO_OP_CANCEL, id);
        break;
    case R_DL_LIST:
        s_dead_letters (req);
        break;
    case R_DL_REPLAY:
        s_segment (uri, "/v1/dead-letters/", "/replay", id, sizeof id);
        s_by_id (req, PROTO_OP_REPLAY, id);
        break;
    case R_STATUS:
        s_status (req);
        break;
    case R_SUB_CREATE:
        req->noun = "subscription";
        s_sub_create (req);
        break;
    case R_SUB_LIST:
        req->noun = "subscription";
        s_sub_list (req);
        break;
    case R_SUB_GET:
    case R_SUB_DELETE:
    case R_SUB_UPDATE:
        req->noun = "subscription";
        s_segment (uri, "/v1/subscriptions/", NULL, id, sizeof id);
        if (req->route == R_SUB_UPDATE)
            s_sub_update (req, id);
        else
            s_sub_by_id (req, req->route == R_SUB_GET ? PROTO_OP_SUB_GET : PROTO_OP_SUB_DELETE, id);
        break;
    case R_SUB_ROTATE:
        req->noun = "subscription";
        s_segment (uri, "/v1/subscriptions/", "/rotate-secret", id, sizeof id);
        s_sub_rotate (req, id);
        break;
    case R_EVENT_PUBLISH:
        req->noun = "event";
        s_event_publish (req);
        break;
    case R_EVENT_GET:
        req->noun = "event";
        s_segment (uri, "/v1/events/", NULL, id, sizeof id);
        s_event_get (req, id);
        break;
    case R_LIVE:
        s_respond (req, 200, json_pack ("{s:s}", "status", "live"));
        break;
    case R_READY:
        s_ready (req);
        break;
    case R_METRICS:
        s_metrics (req);
        break;
    case R_OPENAPI:
        s_openapi (req);
        break;
    default:
        if (allow)
            s_method_not_allowed (req, allow);
        else
            s_not_found (req);
        break;
    }
}

/* CORS headers of an ordinary response: a listed Origin may read it. */
static void
s_cors_headers (s_req_t *req)
{
    ing_cors_t *cors = req->server->cors;
    if (req->preflight || !ing_cors_enabled (cors))
        return;
    const char *origin = mg_get_header (req->conn, "Origin");
    if (ing_cors_simple (cors, origin) == ING_CORS_ALLOW) {
        s_header (req, "Access-Control-Allow-Origin", origin);
        s_header (req, "Access-Control-Expose-Headers", ING_CORS_EXPOSE_HEADERS);
    }
    /* the answer depends on Origin whenever CORS is on */
    s_header (req, "Vary", "Origin");
}

static void
s_finish (s_req_t *req)
{
    ing_server_t *server = req->server;
    char *dumped = NULL;
    const char *body = req->text;
    if (req->json) {
        dumped = json_dumps (req->json, JSON_COMPACT);
        body = dumped;
    }
    if (!body) {
        /* a response could not be built (out of memory): a fixed one */
        req->status = 500;
        req->content_type = "application/problem+json";
        body = "{\"type\":\"https://zhook.dev/problems/internal-error\",\"title\":\"Internal "
               "Server Error\",\"status\":500,\"detail\":\"internal error\"}";
        req->header_count = 0;
    }
    s_header (req, "X-Request-Id", req->request_id);
    s_cors_headers (req);
    if (req->https)
        s_header (req, "Strict-Transport-Security", ING_HSTS);
    /* an unread body (refused before reading) must not be drained by
     * civetweb: close the connection instead */
    /* once draining, every connection closes after its response: cleanly
     * now, rather than reset by mg_stop while the client reads */
    bool keep_alive = !req->close && !atomic_load (&server->draining) &&
                      (req->body_read || !ing_http_has_body (req->conn));
    ing_http_send (req->conn, req->status, req->content_type, body, strlen (body), req->headers,
                   req->header_count, keep_alive);
    free (dumped);

    double seconds = (double)(zh_clock_mono_us () - req->start_us) / 1e6;
    size_t code = S_CODES;
    for (size_t i = 0; i < S_CODES; i++)
        if (s_codes[i] == req->status)
            code = i;
    zh_counter_inc (server->requests[req->route][code]);
    zh_histogram_observe (server->duration[req->route], seconds);

    zh_log_level_t level = req->route == R_LIVE || req->route == R_READY || req->route == R_METRICS
                               ? ZH_LOG_DEBUG
                               : ZH_LOG_INFO;
    zh_log (level, "request", "s:method", req->ri->request_method, "s:route",
            s_route_names[req->route], "i:status", (int64_t)req->status, "d:latency_ms",
            seconds * 1000.0, "s:request_id", req->request_id, "s:trace_id", req->trace_id,
            "s:tenant", req->tenant, NULL);
}

static int
s_handle (struct mg_connection *conn, void *cbdata)
{
    s_path_t *path = cbdata;
    s_req_t req;
    memset (&req, 0, sizeof req);
    req.server = path->server;
    req.conn = conn;
    req.ri = mg_get_request_info (conn);
    req.worker = mg_get_thread_pointer (conn);
    req.start_us = zh_clock_mono_us ();
    req.route = R_OTHER;
    req.noun = "message";
    zh_gauge_add (req.server->in_flight, 1);

    const char *rid = mg_get_header (conn, "X-Request-Id");
    if (ing_http_request_id_ok (rid))
        snprintf (req.request_id, sizeof req.request_id, "%s", rid);
    else if (zh_id_new ("req", req.request_id, sizeof req.request_id) != 0)
        snprintf (req.request_id, sizeof req.request_id, "req_unknown");
    /* an invalid traceparent is ignored (W3C): the request starts a trace */
    const char *tp = mg_get_header (conn, "traceparent");
    if (zh_trace_valid (tp))
        snprintf (req.traceparent, sizeof req.traceparent, "%s", tp);
    else if (zh_trace_new (req.traceparent, sizeof req.traceparent) != 0)
        req.traceparent[0] = 0;
    if (!zh_trace_id (req.traceparent, req.trace_id, sizeof req.trace_id))
        req.trace_id[0] = 0;

    /* probes and scrapes are answered to the end; anything else is admitted
     * (counted, so a shutdown waits for it) or, once draining, refused with
     * 503 and the connection closed. seq_cst: either the drain sees this
     * count or this request sees the drain. */
    bool admitted = path->kind != P_LIVE && path->kind != P_READY && path->kind != P_METRICS;
    if (admitted) {
        atomic_fetch_add (&req.server->admitted, 1);
        if (atomic_load (&req.server->draining)) {
            atomic_fetch_sub (&req.server->admitted, 1);
            admitted = false;
            const char *allow;
            req.route = s_route_of (&req, path->kind, &allow);
            req.close = true;
            s_problem (&req, 503, "this ingress is shutting down; retry (another replica)", NULL);
        }
    }
    if (!req.status)
        s_dispatch (&req, path->kind);
    if (!req.status)
        s_internal (&req, "no response was set");
    s_finish (&req);
    json_decref (req.json);
    free (req.text);
    zh_gauge_add (req.server->in_flight, -1);
    if (admitted)
        atomic_fetch_sub (&req.server->admitted, 1);
    return req.status;
}

/* --- civetweb callbacks -------------------------------------------------- */

static void *
s_init_thread (const struct mg_context *ctx, int thread_type)
{
    if (thread_type != 1)
        return NULL;
    ing_server_t *self = mg_get_user_data (ctx);
    return ing_bridge_worker_new (self->bridge);
}

static void
s_exit_thread (const struct mg_context *ctx, int thread_type, void *thread_pointer)
{
    (void)ctx;
    if (thread_type != 1)
        return;
    ing_bridge_worker_t *worker = thread_pointer;
    ing_bridge_worker_destroy (&worker);
}

/* civetweb's own error pages (a request it cannot parse, headers over
 * max_request_size, a Transfer-Encoding it refuses, ...) as problem+json
 * with the same security headers as every other response; the connection
 * is closed after it. */
/* civetweb's own authorization is not used (API keys are checked in the
 * handlers): without an authorization handler it looks for a .htpasswd
 * file on every request, one failing stat(2) each. */
static int
s_authorize_all (struct mg_connection *conn, void *arg)
{
    (void)conn;
    (void)arg;
    return 1;
}

static int
s_http_error (struct mg_connection *conn, int status, const char *errmsg)
{
    (void)errmsg; /* may quote request bytes: not echoed */
    ing_server_t *self = mg_get_user_data (mg_get_context (conn));
    const char *detail = status == 413   ? "the request line or headers are too large"
                         : status == 408 ? "the request did not arrive in time"
                         : status >= 500 ? "the request could not be processed"
                                         : "the request could not be parsed as HTTP/1.1";
    json_t *problem = ing_render_problem (status, detail, NULL);
    char *text = problem ? json_dumps (problem, JSON_COMPACT) : NULL;
    json_decref (problem);
    char request_id[ING_REQUEST_ID_MAX + 1];
    if (zh_id_new ("req", request_id, sizeof request_id) != 0)
        snprintf (request_id, sizeof request_id, "req_unknown");
    char ip[ING_LIMIT_IP_SIZE];
    bool https = false;
    if (self)
        ing_limit_client (conn, self->limit, ip, sizeof ip, &https);
    const char *headers[] = {"X-Request-Id", request_id, "Strict-Transport-Security", ING_HSTS};
    const char *body = text ? text : "{\"status\":400}";
    ing_http_send (conn, status, "application/problem+json", body, strlen (body), headers,
                   https ? 2 : 1, false);
    free (text);
    if (self)
        zh_counter_inc (self->rejected[S_REJECT_PARSER]);
    zh_debug ("request refused by the HTTP parser", "i:status", (int64_t)status, "s:request_id",
              request_id, NULL);
    return 0;
}

static int
s_log_message (const struct mg_connection *conn, const char *message)
{
    (void)conn;
    zh_warn ("civetweb", "s:detail", message, NULL);
    return 1;
}

/* --- life cycle -------------------------------------------------------- */

static int
s_register_metrics (ing_server_t *self)
{
    zh_metrics_t *m = self->metrics;
    for (int r = 0; r < R__COUNT; r++) {
        char labels[96];
        for (size_t c = 0; c <= S_CODES; c++) {
            char code[8];
            if (c < S_CODES)
                snprintf (code, sizeof code, "%d", s_codes[c]);
            else
                snprintf (code, sizeof code, "other");
            snprintf (labels, sizeof labels, "route=\"%s\",code=\"%s\"", s_route_names[r], code);
            self->requests[r][c] =
                zh_metrics_counter (m, "zhook_ingress_requests_total",
                                    "HTTP requests by route and status code", labels);
            if (!self->requests[r][c])
                return -1;
        }
        snprintf (labels, sizeof labels, "route=\"%s\"", s_route_names[r]);
        self->duration[r] =
            zh_metrics_histogram (m, "zhook_ingress_request_duration_seconds",
                                  "HTTP request latency, including the wait for the scheduler",
                                  labels, zh_metrics_latency_bounds, zh_metrics_latency_bounds_n);
        if (!self->duration[r])
            return -1;
    }
    self->timeouts = zh_metrics_counter (
        m, "zhook_ingress_scheduler_timeouts_total",
        "requests answered 503 because the scheduler did not answer in time", NULL);
    self->scheduler_up = zh_metrics_gauge (
        m, "zhook_ingress_scheduler_up",
        "1 when a scheduler heartbeat arrived within ZHOOK_READY_TIMEOUT_MS", NULL);
    self->in_flight = zh_metrics_gauge (m, "zhook_ingress_requests_in_flight",
                                        "HTTP requests being handled now", NULL);
    for (int r = 1; r < S_REJECT__COUNT; r++) {
        char labels[64];
        snprintf (labels, sizeof labels, "reason=\"%s\"", s_reject_reason (r));
        self->rejected[r] = zh_metrics_counter (
            m, "zhook_ingress_rejected_requests_total",
            "requests refused by the strict HTTP checks (framing, size, time, type, CORS)", labels);
        if (!self->rejected[r])
            return -1;
    }
    self->limited_ip =
        zh_metrics_counter (m, "zhook_ingress_rate_limited_total",
                            "Requests refused 429 by a rate limit, by scope", "scope=\"ip\"");
    self->limited_tenant =
        zh_metrics_counter (m, "zhook_ingress_rate_limited_total",
                            "Requests refused 429 by a rate limit, by scope", "scope=\"tenant\"");
    return self->timeouts && self->scheduler_up && self->in_flight && self->limited_ip &&
                   self->limited_tenant
               ? 0
               : -1;
}

ing_server_t *
ing_server_new (const ing_config_t *cfg, bool *config_error)
{
    if (config_error)
        *config_error = false;
    ing_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = cfg;
    self->auth = ing_auth_new (cfg->auth, cfg->api_keys_file);
    if (!self->auth) {
        if (config_error)
            *config_error = true;
        goto fail;
    }
    const char *bad_cidr = NULL;
    self->guard = zh_netguard_new (cfg->allow_private_targets, cfg->allowed_cidrs, &bad_cidr);
    if (!self->guard) {
        zh_error (bad_cidr ? "configuration: invalid value" : "cannot create the address guard",
                  "s:variable", "ZHOOK_ALLOWED_CIDRS", NULL);
        if (config_error && bad_cidr)
            *config_error = true;
        goto fail;
    }
    self->limit = ing_limit_new (cfg->ip_rate, cfg->ip_burst, cfg->trusted_proxies, NULL);
    if (!self->limit) {
        zh_error ("cannot create the per-IP rate limiter", "s:variable", "ZHOOK_TRUSTED_PROXIES",
                  NULL);
        goto fail;
    }
    if (cfg->allow_private_targets)
        zh_warn ("ZHOOK_ALLOW_PRIVATE_TARGETS is on: message URLs may name internal addresses "
                 "(development only)",
                 NULL);
    self->metrics = zh_metrics_new ();
    if (!self->metrics || s_register_metrics (self)) {
        zh_error ("cannot register metrics", NULL);
        goto fail;
    }
    self->bridge = ing_bridge_new (cfg->submit_endpoint, cfg->publish_endpoint, &cfg->curve,
                                   cfg->instance_id, cfg->ready_timeout_ms, self->scheduler_up);
    if (!self->bridge)
        goto fail;

    const char *bad_origin = NULL;
    self->cors = ing_cors_new (cfg->cors_origins, &bad_origin);
    if (!self->cors) {
        zh_error (bad_origin ? "configuration: invalid value" : "out of memory", "s:variable",
                  "ZHOOK_CORS_ORIGINS", NULL);
        if (config_error && bad_origin)
            *config_error = true;
        goto fail;
    }

    self->watchdog = ing_http_watchdog_new ();
    if (!self->watchdog) {
        zh_error ("cannot start the body deadline watchdog", NULL);
        goto fail;
    }

    mg_init_library (0);
    self->library = true;
    /* civetweb serves one connection per worker thread, from its request
     * line to the end of keep-alive: a client that trickles its headers
     * holds a thread for at most header_timeout_ms (civetweb's
     * request_timeout_ms is a deadline for the whole header block), one
     * that trickles its body for body_timeout_ms (checked between reads,
     * each read waiting at most header_timeout_ms), an idle keep-alive
     * client for keep_alive_timeout_ms. Connections beyond the threads
     * wait in civetweb's queue and then the kernel's listen backlog. */
    char threads[16], header_ms[16], keep_alive_ms[16], backlog[16];
    snprintf (threads, sizeof threads, "%d", cfg->http_threads);
    snprintf (header_ms, sizeof header_ms, "%d",
              cfg->header_timeout_ms > 0 ? cfg->header_timeout_ms : ZH_DEF_HEADER_TIMEOUT_MS);
    snprintf (keep_alive_ms, sizeof keep_alive_ms, "%d",
              cfg->keep_alive_timeout_ms > 0 ? cfg->keep_alive_timeout_ms
                                             : ZH_DEF_KEEP_ALIVE_TIMEOUT_MS);
    snprintf (backlog, sizeof backlog, "%d",
              cfg->listen_backlog > 0 ? cfg->listen_backlog : ZH_DEF_LISTEN_BACKLOG);
    const char *options[] = {
        "listening_ports",
        cfg->listen,
        "num_threads",
        threads,
        "request_timeout_ms",
        header_ms,
        "keep_alive_timeout_ms",
        keep_alive_ms,
        "listen_backlog",
        backlog,
        "enable_keep_alive",
        "yes",
        "tcp_nodelay", /* without it, Nagle + delayed ACK add ~40 ms per keep-alive request */
        "1",
        "decode_url",
        "yes",
        /* civetweb answers preflights itself with "*" by default: CORS is ours */
        "access_control_allow_origin",
        "",
        "access_control_allow_methods",
        "",
        "access_control_allow_headers",
        "",
        NULL,
        NULL,
    };
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof callbacks);
    callbacks.init_thread = s_init_thread;
    callbacks.exit_thread = s_exit_thread;
    callbacks.log_message = s_log_message;
    callbacks.http_error = s_http_error;
    struct mg_init_data init = {&callbacks, self, options};
    char error_text[256] = "";
    unsigned error_code = 0;
    struct mg_error_data error = {&error_code, error_text, sizeof error_text};
    self->ctx = mg_start2 (&init, &error);
    if (!self->ctx) {
        zh_error ("cannot start the HTTP server", "s:listen", cfg->listen, "s:error", error_text,
                  NULL);
        goto fail;
    }
    mg_set_auth_handler (self->ctx, "/", s_authorize_all, NULL);
    for (int k = 0; k < P__COUNT; k++) {
        self->paths[k].server = self;
        self->paths[k].kind = (s_path_kind_t)k;
        mg_set_request_handler (self->ctx, s_path_patterns[k], s_handle, &self->paths[k]);
    }
    struct mg_server_port ports[4];
    memset (ports, 0, sizeof ports);
    if (mg_get_server_ports (self->ctx, 4, ports) > 0)
        self->port = ports[0].port;
    zh_info ("HTTP API listening", "s:listen", cfg->listen, "i:port", (int64_t)self->port,
             "i:threads", (int64_t)cfg->http_threads, "b:auth", cfg->auth, NULL);
    return self;
fail:
    ing_server_destroy (&self);
    return NULL;
}

int
ing_server_drain (ing_server_t *self, int64_t deadline_mono)
{
    atomic_store (&self->draining, true);
    zh_info ("draining: new requests get 503, waiting for those in progress", "i:in_progress",
             (int64_t)atomic_load (&self->admitted), "i:grace_ms",
             (int64_t)self->cfg->shutdown_grace_ms, NULL);
    const struct timespec pause = {0, 5 * 1000 * 1000};
    while (atomic_load (&self->admitted) > 0 && zh_clock_mono_ms () < deadline_mono)
        nanosleep (&pause, NULL);
    int left = atomic_load (&self->admitted);
    if (left > 0) {
        zh_warn ("shutdown grace period over: abandoning requests in progress (answered 503, "
                 "their clients retry with their Idempotency-Key)",
                 "i:abandoned", (int64_t)left, NULL);
        ing_bridge_abandon (self->bridge);
        /* the abandoned handlers wake within a slice and answer 503: let them
         * write it before mg_stop's flag makes civetweb drop their writes */
        int64_t answered_by = zh_clock_mono_ms () + S_ABANDON_WAIT_MS;
        while (atomic_load (&self->admitted) > 0 && zh_clock_mono_ms () < answered_by)
            nanosleep (&pause, NULL);
    }
    return left;
}

/* mg_stop, woken: waits for the handlers; exit_thread closes their sockets. */
static void
s_stop_civetweb (ing_server_t *self)
{
    zh_ops_stop_civetweb (self->ctx, self->cfg ? self->cfg->listen : NULL, self->port);
}

void
ing_server_destroy (ing_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_server_t *self = *self_p;
    if (self->ctx)
        s_stop_civetweb (self);
    if (self->library)
        mg_exit_library ();
    ing_http_watchdog_destroy (&self->watchdog);
    ing_bridge_destroy (&self->bridge);
    zh_metrics_destroy (&self->metrics);
    zh_netguard_destroy (&self->guard);
    ing_limit_destroy (&self->limit);
    ing_auth_destroy (&self->auth);
    ing_cors_destroy (&self->cors);
    free (self);
    *self_p = NULL;
}

int
ing_server_port (ing_server_t *self)
{
    return self->port;
}

int
ing_server_reload (ing_server_t *self)
{
    return ing_auth_reload (self->auth);
}
