/*  ing_validate.h — request bodies of POST /v1/messages(/batch),
 *  /v1/subscriptions (create, update) and /v1/events to wire structs.
 *
 *  Pure functions: bytes in, a filled proto_item_t (or submit) out, or a list
 *  of {field, message} errors. No I/O, no clock, no logging; the HTTP layer
 *  maps the result to 400 (not JSON) or 422 (errors, field named).
 *
 *  errors is a jansson array the caller owns; every problem found is
 *  appended as {"field": "...", "message": "..."}, so a producer sees all of
 *  them at once. For ING_VALID_MALFORMED one entry (field "body") says why
 *  the bytes are not JSON.
 *
 *  guard (borrowed, may be NULL: no address check) refuses URLs whose host
 *  is a literal refused address (127.1, [::1], localhost, 10.0.0.1, ...) at
 *  submit time; names that resolve to such addresses are left to the
 *  deliverer's connect-time check. */
#ifndef ING_VALIDATE_H
#define ING_VALIDATE_H

#include "common/zh_netguard.h"
#include "proto/proto.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ING_URL_MAX 2048
#define ING_HEADERS_MAX 32
#define ING_HEADER_NAME_MAX 256
#define ING_HEADER_VALUE_MAX 8192
#define ING_DELAY_MAX_MS (365LL * 24 * 3600 * 1000) /* one year */
#define ING_BATCH_MAX 1000
#define ING_SECRET_MIN_BYTES 24 /* per whsec_ key of a secret list */
#define ING_SECRET_MAX_BYTES 64
#define ING_TOPIC_MAX 128
#define ING_DESCRIPTION_MAX 1024
#define ING_RATE_LIMIT_MAX 10000 /* deliveries per second of one subscription */
#define ING_ORDERING_KEY_MAX 255

typedef enum {
    ING_VALID_OK = 0,
    ING_VALID_MALFORMED, /* not JSON (400) */
    ING_VALID_INVALID, /* JSON, but errors were appended (422) */
    ING_VALID_ENOMEM,
} ing_valid_rc_t;

/* Appends {field, message} to errors; 0, or -1 on ENOMEM. */
int ing_errors_add (json_t *errors, const char *field, const char *message);

/* One message object (already parsed). Field names in errors are prefixed
 * with prefix ("" or "messages[3]."). item must be zeroed except for id. On
 * ING_VALID_OK its fields are set (heap strings owned by the item, freed
 * with its submit); on any error they are freed again and zeroed.
 * item->id is never touched. */
ing_valid_rc_t ing_validate_item (const json_t *obj, const char *prefix, const zh_netguard_t *guard,
                                  proto_item_t *item, json_t *errors);

/* Body of POST /v1/messages: parses, then validates into item. */
ing_valid_rc_t ing_validate_message (const char *body, size_t size, const zh_netguard_t *guard,
                                     proto_item_t *item, json_t *errors);

/* Body of POST /v1/messages/batch: {"messages": [1..1000 objects]}. Valid
 * messages are appended to submit in input order (ids not set). *results
 * (new array, caller owns) holds one entry per input message: JSON null for
 * a valid one, else the array of its errors (fields "messages[i]...").
 * Returns ING_VALID_OK when the envelope is right, even when every message
 * is invalid; ING_VALID_MALFORMED / ING_VALID_INVALID (errors appended,
 * *results NULL) when the envelope itself is wrong. */
ing_valid_rc_t ing_validate_batch (const char *body, size_t size, const zh_netguard_t *guard,
                                   proto_submit_t *submit, json_t **results, json_t *errors);

/* Single checks, exposed for the HTTP layer and the tests. Each returns NULL
 * when the value is acceptable, else a static message. */
/* Syntax of an absolute http(s) URL; with a guard, also refuses a host that
 * is a literal refused address. */
const char *ing_check_url (const char *url, const zh_netguard_t *guard);
/* A signing key list as zh_webhook_keys_valid () takes it (whsec_ and whsk_
 * keys, up to 4, single spaces), each whsec_ key of 24 to 64 bytes. */
const char *ing_check_secret (const char *secret);
const char *ing_check_header_name (const char *name);
const char *ing_check_header_value (const char *value);
/* Idempotency-Key: 1..255 printable ASCII characters. */
const char *ing_check_idempotency_key (const char *key);
/* ordering_key: 1..255 printable ASCII characters. */
const char *ing_check_ordering_key (const char *key);
/* A topic: 1..128 bytes of dot-separated, non-empty segments of [a-z0-9_-].
 * pattern (a subscription's topic) also allows "*" alone (every topic) or a
 * last segment "*" ("order.*": every topic below "order", at least one more
 * segment); an event's topic (pattern false) never contains "*". */
const char *ing_check_topic (const char *topic, bool pattern);
/* A subscription's own secret: exactly one whsec_ key, as ing_check_secret. */
const char *ing_check_subscription_secret (const char *secret);

/* Body of POST /v1/subscriptions: {topic, url, secret?, headers?,
 * description?, rate_limit?}. sub must be zeroed; on ING_VALID_OK topic,
 * url, headers, description, rate_limit and (when given) secret are set
 * (heap, owned by sub); id, tenant, enabled and a generated secret are the
 * caller's. On error sub is cleared again. */
ing_valid_rc_t ing_validate_subscription (const char *body, size_t size, const zh_netguard_t *guard,
                                          proto_subscription_t *sub, json_t *errors);

/* Body of PATCH /v1/subscriptions/{id}: at least one of {"enabled": bool,
 * "rate_limit": 0..10000, "description": string | null}. Sets those fields
 * of sub (zeroed) and the PROTO_SUB_SET_* bits in *mask. */
ing_valid_rc_t ing_validate_subscription_update (const char *body, size_t size,
                                                 proto_subscription_t *sub, uint32_t *mask,
                                                 json_t *errors);

/* Body of POST /v1/subscriptions/{id}/rotate-secret: {} or {"secret":
 * "whsec_..."}. *secret is the given one (heap, caller frees) or NULL. */
ing_valid_rc_t ing_validate_rotation (const char *body, size_t size, char **secret, json_t *errors);

/* Body of POST /v1/events: {topic, payload, deliver_at? | delay_ms?,
 * ordering_key?}. On ING_VALID_OK *topic (heap, caller frees) is set and
 * item (zeroed except id) holds payload, due time, ordering_key and an empty
 * url; on error both are cleared. */
ing_valid_rc_t ing_validate_event (const char *body, size_t size, char **topic, proto_item_t *item,
                                   json_t *errors);

#endif
