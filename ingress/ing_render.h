/*  ing_render.h — wire replies to the JSON bodies of the HTTP API.
 *
 *  Pure functions from proto structs to new jansson values (caller owns,
 *  json_decref); NULL only when memory runs out. Times are RFC 3339 UTC with
 *  milliseconds; absent values are JSON null. Shapes: docs/ARCHITECTURE.md
 *  "HTTP API details". */
#ifndef ING_RENDER_H
#define ING_RENDER_H

#include "proto/proto.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* "2026-11-22T10:00:00.123Z", or null when ms <= 0 or out of range. */
json_t *ing_render_time (int64_t ms);

/* {id,url,status,created_at,deliver_at,next_attempt_at|null,ended_at|null,
 *  dead_reason|null,max_attempts,timeout_ms,ordering_key|null,
 *  subscription_id|null,event_id|null,attempts:[{n,at,status_code|null,
 *  latency_ms,error|null,response_body|null}]} */
json_t *ing_render_record (const proto_record_t *record);

/* {"id","status":"scheduled","deliver_at"} for an accepted item. */
json_t *ing_render_accepted (const proto_reply_item_t *item);

/* {"items":[records],"next":cursor|null} */
json_t *ing_render_dead_letters (const proto_reply_t *reply);

/* {"<stat name>": value, ...} */
json_t *ing_render_status (const proto_reply_t *reply);

/* {id,topic,url,headers:{name:value},description|null,enabled,
 *  disabled_reason|null,rate_limit,created_at,updated_at|null,
 *  rotated_at|null,failing_since|null} plus "secret" when with_secret (only
 *  the answers to create and rotate-secret show it). */
json_t *ing_render_subscription (const proto_subscription_t *sub, bool with_secret);

/* {"items":[subscriptions without secret],"next":cursor|null} */
json_t *ing_render_subscriptions (const proto_reply_t *reply);

/* {"id": event id, "messages": [ids of the accepted messages]}; the id is
 * reply->event_id, or event_id when the reply has none. */
json_t *ing_render_event_accepted (const proto_reply_t *reply, const char *event_id);

/* {"id","topic","created_at","messages":[records]} */
json_t *ing_render_event (const proto_reply_t *reply);

/* RFC 9457 problem: {"type":"https://zhook.dev/problems/<slug>","title",
 * "status","detail"[,"errors"]}. errors (an array of {field,message}) is
 * stolen when not NULL, even on failure. */
json_t *ing_render_problem (int status, const char *detail, json_t *errors);

/* Reason phrase-like title and type slug of a status ("Not Found",
 * "not-found"); generic ones for statuses not listed. */
const char *ing_render_title (int status);
const char *ing_render_slug (int status);

/* Batch response {"items":[...]}: results is ing_validate_batch's array
 * (null = valid, array = errors); valid entries take the reply's items in
 * order. Accepted items render as ing_render_accepted; items the scheduler
 * refused as {"status":"rejected","error":problem}; invalid ones as
 * {"status":"invalid","error":problem 422 with errors}. NULL when memory
 * runs out or the reply has fewer items than valid entries. */
json_t *ing_render_batch (const json_t *results, const proto_reply_t *reply);

#endif
