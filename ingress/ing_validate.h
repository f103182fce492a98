/*  ing_validate.h — request bodies of POST /v1/messages(/batch) to wire items.
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

#endif
