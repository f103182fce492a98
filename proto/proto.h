/*  proto.h — zhook's wire messages (msgpack), shared by all three stages.
 *
 *  Every frame is one msgpack map with at least
 *      "t": str   message type ("submit", "command", "reply", "dispatch",
 *                 "result", "heartbeat", and "record" for stored records)
 *      "v": uint  protocol version, PROTO_VERSION
 *  Decoders first run proto_check () over the raw bytes, so no size or
 *  container count is believed before the bytes that would back it are
 *  present; they refuse a wrong "t" (PROTO_ETYPE) or an unknown "v"
 *  (PROTO_EVERSION), ignore unknown keys, and fail with PROTO_EMALFORMED on a
 *  missing required key or a value of the wrong type. proto/README.md is the
 *  field-by-field reference.
 *
 *  Memory: every struct owns its strings and arrays (heap, NUL-terminated;
 *  byte fields carry a size). _destroy frees everything and nulls the
 *  pointer; it accepts NULL. Decoded strings never contain NUL bytes (a
 *  string with an embedded NUL is PROTO_EMALFORMED). _encode returns a heap
 *  buffer in *data (caller frees) and its size.
 *
 *  Sockets (see SPEC §1):
 *      submit  PULL <- ingress PUSH     proto_submit_t, proto_command_t
 *      publish PUB  -> ingress SUB      [topic frame][proto_reply_t] and
 *                                       ["hb"][proto_heartbeat_t]
 *      dispatch PUSH -> deliverer PULL  proto_dispatch_t
 *      results PULL <- deliverer PUSH   proto_result_t, proto_heartbeat_t
 *
 *  Batches: a dispatch, result or reply frame may carry up to
 *  PROTO_FRAME_MAX_MSGS messages, concatenated (msgpack is a stream of
 *  objects); proto_split finds where each ends. Every other frame carries
 *  one message. Batching pays CURVE's encryption, ZeroMQ's per-message work
 *  and a wake-up once per frame instead of once per message. */
#ifndef PROTO_H
#define PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_MAX_DEPTH 16 /* deepest nesting a frame may have */
#define PROTO_MAX_FRAME (16u << 20) /* frames larger than this are refused */

typedef enum {
    PROTO_OK = 0,
    PROTO_EMALFORMED, /* not msgpack, truncated, wrong types, missing keys */
    PROTO_EVERSION, /* "v" is not a version this build speaks */
    PROTO_ETYPE, /* "t" names another message type */
    PROTO_ENOMEM,
} proto_rc_t;

const char *proto_strerror (proto_rc_t rc);

typedef enum {
    PROTO_T_UNKNOWN = 0,
    PROTO_T_SUBMIT,
    PROTO_T_COMMAND,
    PROTO_T_REPLY,
    PROTO_T_DISPATCH,
    PROTO_T_RESULT,
    PROTO_T_HEARTBEAT,
    PROTO_T_RECORD,
    PROTO_T_SUBSCRIPTION,
} proto_type_t;

/* Walks the frame without allocating: exactly one msgpack object filling
 * all size bytes, nesting <= PROTO_MAX_DEPTH, every str/bin/ext length and
 * every array/map count backed by enough remaining bytes (an element needs
 * at least one byte), size <= PROTO_MAX_FRAME. PROTO_OK or PROTO_EMALFORMED. */
proto_rc_t proto_check (const uint8_t *data, size_t size);

/* Batched frames (dispatch, result, reply): the message at the start of
 * data[0..size), which may be followed by more. Runs proto_check's walk
 * over that one message and sets *len to its length (<= size). PROTO_OK or
 * PROTO_EMALFORMED (then the rest of the frame cannot be trusted either). */
proto_rc_t proto_split (const uint8_t *data, size_t size, size_t *len);

#define PROTO_FRAME_MAX_MSGS 64 /* messages a batched frame may carry */

/* Calls fn (arg, message, length) for each message of a batched frame, in
 * order, while it returns PROTO_OK. Returns PROTO_OK when every message
 * split and fn accepted them all; else the first failure: fn's, or
 * PROTO_EMALFORMED for an empty frame, bytes that do not split, or a
 * message past PROTO_FRAME_MAX_MSGS. *count (may be NULL) gets the number
 * of messages fn accepted. The receivers of all three batched sockets read
 * their frames through this. */
proto_rc_t proto_frame_each (const uint8_t *data, size_t size,
                             proto_rc_t (*fn) (void *arg, const uint8_t *msg, size_t len),
                             void *arg, size_t *count);
#define PROTO_FRAME_SOFT_BYTES (256u << 10) /* a batch is sent once this big */

/* A batched frame being built: messages appended whole (the bytes an
 * _encode returned). The buffer is reused after proto_frame_reset. */
typedef struct {
    uint8_t *data;
    size_t size;
    size_t cap;
    size_t count; /* messages in it */
} proto_frame_t;

/* Appends size bytes of one encoded message; -1 when out of memory. */
int proto_frame_add (proto_frame_t *self, const uint8_t *msg, size_t size);
/* true when the frame must be sent before another message is added. */
bool proto_frame_full (const proto_frame_t *self);
void proto_frame_reset (proto_frame_t *self);
void proto_frame_free (proto_frame_t *self);

/* The "t" of a frame (after proto_check), for sockets that carry several
 * types; PROTO_T_UNKNOWN when malformed or unknown. */
proto_type_t proto_peek_type (const uint8_t *data, size_t size);

/* --- shared pieces ----------------------------------------------------- */

typedef struct {
    char *name;
    char *value;
} proto_header_t;

typedef enum {
    PROTO_ST_SCHEDULED = 1, /* waiting for its first attempt */
    PROTO_ST_IN_FLIGHT, /* leased to a deliverer */
    PROTO_ST_RETRYING, /* an attempt failed; waiting for the next */
    PROTO_ST_DELIVERED, /* ended: a 2xx was received */
    PROTO_ST_DEAD, /* ended: in the dead-letter queue */
    PROTO_ST_CANCELLED, /* ended: cancelled by the producer */
} proto_status_t;

/* "scheduled", "in_flight", ... ; "unknown" for other values. */
const char *proto_status_name (proto_status_t st);

/* --- submit: ingress -> scheduler -------------------------------------- */
/* One message to accept. The ingress has validated every field. */
typedef struct {
    char *id; /* "msg_<ULID>", generated by the ingress */
    char *url; /* absolute http(s) URL */
    uint8_t *payload; /* JSON text sent as the body */
    size_t payload_size; /* bytes */
    proto_header_t *headers; /* extra request headers */
    size_t header_count;
    int64_t deliver_at_ms; /* wall-clock due time; 0 = now + delay_ms */
    int64_t delay_ms; /* used when deliver_at_ms is 0; >= 0 */
    uint32_t max_attempts; /* 0 = scheduler default */
    uint32_t timeout_ms; /* per attempt; 0 = scheduler default */
    char *secret; /* "whsec_..." or NULL */
    char *ordering_key; /* messages sharing URL and key go one at a time, or NULL */
    char *traceparent; /* W3C traceparent of the producer's request, or NULL */
} proto_item_t;

typedef struct {
    char *reply_to; /* PUB topic the reply goes to */
    uint64_t corr; /* correlation id, echoed in the reply */
    char *request_id; /* producer's X-Request-Id, for logs */
    char *tenant; /* owner of the messages */
    char *idem_key; /* Idempotency-Key or NULL */
    uint8_t idem_hash[32]; /* SHA-256 of the request body (when idem_key) */
    int64_t deadline_ms; /* wall clock; past it the scheduler must not commit */
    proto_item_t *items; /* one for POST /v1/messages, up to 1000 for batch */
    size_t item_count;
    char *topic; /* set: an event publish; items[0] carries the event (its id is
                  * the "evt_" id, url empty) and the scheduler fans it out to
                  * every active subscription of (tenant, topic) */
} proto_submit_t;

proto_submit_t *proto_submit_new (void);
void proto_submit_destroy (proto_submit_t **self_p);
/* Appends a zeroed item (owned by self) and returns it; NULL on ENOMEM. */
proto_item_t *proto_submit_add_item (proto_submit_t *self);
int proto_submit_encode (const proto_submit_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_submit_decode (const uint8_t *data, size_t size, proto_submit_t **self_p);

/* --- subscription: event-broker subscriptions, stored and shown -------- */
#define PROTO_SUB_SET_ENABLED (1u << 0)
#define PROTO_SUB_SET_RATE_LIMIT (1u << 1)
#define PROTO_SUB_SET_DESCRIPTION (1u << 2)

typedef struct _proto_subscription_t {
    char *id; /* "sub_<ULID>" */
    char *tenant; /* owner */
    char *topic; /* exact topic, or a prefix pattern ending in ".*" */
    char *url; /* where this subscription's messages go */
    proto_header_t *headers; /* extra request headers of its messages */
    size_t header_count;
    char *description; /* free text, or NULL */
    char *secret; /* current "whsec_..." signing secret */
    char *previous_secret; /* secret before the last rotation, or NULL */
    int64_t rotated_ms; /* when the secret was last rotated; 0 = never */
    bool enabled; /* false: events skip it */
    char *disabled_reason; /* "gone", "failing", "user" when disabled, else NULL */
    uint32_t rate_limit; /* deliveries per second at most; 0 = unlimited */
    int64_t failing_since_ms; /* first failure of the current run of failures; 0 = healthy */
    int64_t created_ms;
    int64_t updated_ms;
} proto_subscription_t;

proto_subscription_t *proto_subscription_new (void);
void proto_subscription_destroy (proto_subscription_t **self_p);
/* Releases the fields of a subscription held by value (as in reply arrays). */
void proto_subscription_clear (proto_subscription_t *self);
/* with_private: include tenant, secret and previous_secret (storage; also
 * replies to SUB_CREATE and SUB_ROTATE, which show the secret once). */
int proto_subscription_encode (const proto_subscription_t *self, bool with_private, uint8_t **data,
                               size_t *size);
proto_rc_t proto_subscription_decode (const uint8_t *data, size_t size,
                                      proto_subscription_t **self_p);

/* --- command: ingress -> scheduler (queries and state changes) --------- */
typedef enum {
    PROTO_OP_GET = 1, /* id -> the message record */
    PROTO_OP_CANCEL, /* id -> cancelled record, or 409 if ended */
    PROTO_OP_DL_LIST, /* dead letters newest first: limit, after */
    PROTO_OP_REPLAY, /* id of a dead message -> scheduled again */
    PROTO_OP_STATUS, /* counts and rates -> reply.stats */
    PROTO_OP_SUB_CREATE, /* subscription -> reply.subscriptions[0] (secret included) */
    PROTO_OP_SUB_LIST, /* topic (or NULL), limit, after -> reply.subscriptions, next */
    PROTO_OP_SUB_GET, /* id -> reply.subscriptions[0] */
    PROTO_OP_SUB_DELETE, /* id -> reply.subscriptions[0] as it was */
    PROTO_OP_SUB_ROTATE, /* id -> reply.subscriptions[0] with the new secret */
    PROTO_OP_SUB_UPDATE, /* id + subscription (enabled, rate_limit, description;
                          * update_mask says which) -> reply.subscriptions[0] */
    PROTO_OP_EVENT_GET, /* id (evt_) -> reply.event_id/topic/event_created_ms + records */
} proto_op_t;

typedef struct {
    char *reply_to;
    uint64_t corr;
    char *request_id;
    char *tenant;
    proto_op_t op;
    char *id; /* GET, CANCEL, REPLAY; else NULL */
    uint32_t limit; /* DL_LIST: 1..1000 */
    char *after; /* DL_LIST cursor from a previous reply, or NULL */
    int64_t deadline_ms; /* past it the scheduler must not apply a change */
    char *topic; /* SUB_LIST filter, or NULL */
    struct _proto_subscription_t *subscription; /* SUB_CREATE, SUB_UPDATE; else NULL */
    uint32_t update_mask; /* SUB_UPDATE: PROTO_SUB_SET_* bits of the fields to change */
} proto_command_t;

proto_command_t *proto_command_new (void);
void proto_command_destroy (proto_command_t **self_p);
int proto_command_encode (const proto_command_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_command_decode (const uint8_t *data, size_t size, proto_command_t **self_p);

/* --- record: a message as stored by the scheduler and shown by GET ----- */
typedef struct {
    uint32_t n; /* attempt number, 1-based (the fencing token) */
    int64_t at_ms; /* wall clock when the attempt ended */
    uint16_t status_code; /* HTTP status, 0 when there was no response */
    uint32_t latency_ms;
    char *error; /* NULL on an HTTP response; "timeout", "connect", ... */
    char *body; /* truncated response body of a failed attempt, or NULL */
} proto_attempt_t;

typedef struct {
    char *id;
    char *tenant;
    char *url;
    proto_header_t *headers;
    size_t header_count;
    uint8_t *payload; /* may be NULL when stored separately */
    size_t payload_size;
    char *secret; /* NULL when none */
    char *request_id; /* of the accepting request, for logs */
    proto_status_t status;
    uint32_t max_attempts;
    uint32_t timeout_ms;
    int64_t created_ms; /* accepted (committed) */
    int64_t deliver_at_ms; /* due time asked for */
    int64_t next_attempt_ms; /* due-index time: next attempt, or lease end when in flight; 0 when
                                ended */
    uint32_t attempt; /* number of the latest dispatch (fencing token) */
    uint32_t attempt_base; /* value of attempt at the last replay: max_attempts counts from here */
    char *dead_reason; /* "max_attempts", "gone", ... when dead, else NULL */
    char *subscription_id; /* "sub_..." when fanned out from an event, else NULL */
    char *event_id; /* "evt_..." when fanned out from an event, else NULL */
    char *ordering_key; /* NULL when unordered */
    char *traceparent; /* producer's W3C traceparent; every attempt is a new child span */
    int64_t ended_ms; /* when it became delivered/dead/cancelled; 0 if not ended */
    proto_attempt_t *attempts; /* history, oldest first */
    size_t attempt_count;
} proto_record_t;

proto_record_t *proto_record_new (void);
void proto_record_destroy (proto_record_t **self_p);
/* Appends a zeroed attempt (owned by self) and returns it; NULL on ENOMEM. */
proto_attempt_t *proto_record_add_attempt (proto_record_t *self);
/* with_private: include secret, headers, payload and tenant (storage);
 * without: the public view sent to the ingress for GET responses. */
int proto_record_encode (const proto_record_t *self, bool with_private, uint8_t **data,
                         size_t *size);
proto_rc_t proto_record_decode (const uint8_t *data, size_t size, proto_record_t **self_p);

/* --- reply: scheduler -> ingress (PUB, topic = submit/command reply_to) - */
typedef struct {
    char *id; /* message id (the original one on an idempotent replay) */
    uint16_t status; /* 202 accepted, 4xx/5xx refused */
    int64_t deliver_at_ms;
    char *error; /* reason when refused, else NULL */
} proto_reply_item_t;

typedef struct {
    char *name; /* "scheduled", "in_flight", "deliverers", ... */
    int64_t value;
} proto_stat_t;

typedef struct {
    uint64_t corr;
    uint16_t status; /* HTTP status for the whole request */
    bool replayed; /* answered from the idempotency index */
    int64_t retry_after_ms; /* 429/503/507: how long to wait; 0 when not said */
    uint32_t rate_limit; /* 429 and accepted submits under a tenant limit: the burst */
    uint32_t rate_remaining; /* tokens left after this request */
    int64_t rate_reset_ms; /* ms until the bucket is full again */
    char *error; /* detail when status is not 2xx, else NULL */
    proto_reply_item_t *items; /* submit: one per submitted item, same order */
    size_t item_count;
    proto_record_t *records; /* GET/CANCEL/REPLAY/DL_LIST: public views */
    size_t record_count;
    char *next; /* DL_LIST: cursor for the next page, or NULL */
    proto_stat_t *stats; /* STATUS */
    size_t stat_count;
    struct _proto_subscription_t *subscriptions; /* SUB_* ops */
    size_t subscription_count;
    char *event_id; /* event publish and EVENT_GET: the event's id */
    char *topic; /* EVENT_GET */
    int64_t event_created_ms; /* EVENT_GET */
} proto_reply_t;

proto_reply_t *proto_reply_new (void);
void proto_reply_destroy (proto_reply_t **self_p);
proto_reply_item_t *proto_reply_add_item (proto_reply_t *self);
/* Appends a zeroed record (owned by self); fill it like a decoded one. */
proto_record_t *proto_reply_add_record (proto_reply_t *self);
int proto_reply_add_stat (proto_reply_t *self, const char *name, int64_t value);
/* Appends a zeroed subscription (owned by self); NULL on ENOMEM.
 * proto_reply_encode sends subscriptions with their private fields (the
 * internal socket is trusted): the ingress shows the secret only in answers
 * to create and rotate-secret. */
struct _proto_subscription_t *proto_reply_add_subscription (proto_reply_t *self);
int proto_reply_encode (const proto_reply_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_reply_decode (const uint8_t *data, size_t size, proto_reply_t **self_p);

/* --- dispatch: scheduler -> deliverer ---------------------------------- */
typedef struct {
    char *id;
    uint32_t attempt; /* fencing token: a result must echo it */
    int64_t due_ms; /* when it was due (lateness metrics) */
    int64_t lease_until_ms; /* wall clock; after it the scheduler re-dispatches */
    char *url;
    proto_header_t *headers;
    size_t header_count;
    uint8_t *payload;
    size_t payload_size;
    char *secret; /* signing secret or NULL */
    uint32_t timeout_ms; /* whole attempt */
    char *request_id; /* producer's request id, for logs */
    char *traceparent; /* producer's traceparent; the deliverer sends a child with a new span id */
} proto_dispatch_t;

proto_dispatch_t *proto_dispatch_new (void);
void proto_dispatch_destroy (proto_dispatch_t **self_p);
int proto_dispatch_encode (const proto_dispatch_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_dispatch_decode (const uint8_t *data, size_t size, proto_dispatch_t **self_p);

/* --- result: deliverer -> scheduler ------------------------------------ */
typedef struct {
    char *id;
    uint32_t attempt; /* as dispatched */
    char *deliverer; /* deliverer instance id */
    uint16_t status_code; /* 0 when no HTTP response */
    uint32_t latency_ms;
    char *error; /* NULL when an HTTP response arrived */
    int64_t retry_after_ms; /* from Retry-After; -1 when absent or unparsable */
    char *body; /* truncated response body of a non-2xx, or NULL */
    int64_t at_ms; /* wall clock when the attempt ended */
} proto_result_t;

proto_result_t *proto_result_new (void);
void proto_result_destroy (proto_result_t **self_p);
int proto_result_encode (const proto_result_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_result_decode (const uint8_t *data, size_t size, proto_result_t **self_p);

/* --- heartbeat: scheduler -> ingress ("hb" topic), deliverer -> scheduler */
typedef struct {
    char *from; /* "scheduler" or the deliverer's instance id */
    int64_t at_ms; /* sender's wall clock */
    uint32_t capacity; /* deliverer: ZHOOK_CONCURRENCY; scheduler: 0 */
    uint32_t free; /* deliverer: free slots now; scheduler: 0 */
    bool ready; /* sender considers itself ready */
    bool stopping; /* deliverer: draining, send no more work */
} proto_heartbeat_t;

proto_heartbeat_t *proto_heartbeat_new (void);
void proto_heartbeat_destroy (proto_heartbeat_t **self_p);
int proto_heartbeat_encode (const proto_heartbeat_t *self, uint8_t **data, size_t *size);
proto_rc_t proto_heartbeat_decode (const uint8_t *data, size_t size, proto_heartbeat_t **self_p);

#endif
