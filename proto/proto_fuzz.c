/*  proto_fuzz.c — libFuzzer target over every proto decoder.
 *
 *      make bin/fuzz/proto_fuzz
 *      bin/fuzz/proto_fuzz -max_total_time=60 -rss_limit_mb=256 \
 *          -malloc_limit_mb=64 tests/fuzz/proto_fuzz
 *
 *  Each input goes to proto_check, proto_peek_type and all eight decoders.
 *  Invariants (abort on breach):
 *    - a frame proto_check refuses is refused by every decoder as malformed;
 *    - a decoder fails with *self_p NULL, or succeeds on a frame whose
 *      peeked type is its own;
 *    - a decoded message re-encodes, decodes again, and re-encodes to the
 *      same bytes (decode . encode is the identity), with equal key fields. */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
const char *__asan_default_options (void);

/* ASan's default 256 MB free-memory quarantine alone reaches the 256 MB
 * -rss_limit_mb of `make fuzz` after about a minute; our inputs are at most
 * a few KB, so a small quarantine still catches use-after-free. */
const char *
__asan_default_options (void)
{
    return "quarantine_size_mb=32";
}

#define S_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort ();                                                                              \
    } while (0)

static bool
s_same (const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp (a, b) == 0);
}

static void
s_same_bytes (const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    S_ASSERT (a_size == b_size && (a == NULL) == (b == NULL));
    S_ASSERT (a_size == 0 || memcmp (a, b, a_size) == 0);
}

static void
s_same_frames (uint8_t *e1, size_t n1, uint8_t *e2, size_t n2)
{
    S_ASSERT (n1 == n2 && memcmp (e1, e2, n1) == 0);
    free (e1);
    free (e2);
}

static void
s_submit (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_submit_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_submit_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_SUBMIT);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_submit_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_submit_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_submit_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->reply_to, b->reply_to) && a->corr == b->corr);
    S_ASSERT (s_same (a->tenant, b->tenant) && s_same (a->idem_key, b->idem_key));
    S_ASSERT (memcmp (a->idem_hash, b->idem_hash, 32) == 0);
    S_ASSERT (a->item_count == b->item_count && s_same (a->topic, b->topic));
    S_ASSERT (!a->topic || a->item_count == 1);
    for (size_t i = 0; i < a->item_count; i++) {
        S_ASSERT (s_same (a->items[i].ordering_key, b->items[i].ordering_key));
        S_ASSERT (s_same (a->items[i].traceparent, b->items[i].traceparent));
        S_ASSERT (s_same (a->items[i].id, b->items[i].id));
        S_ASSERT (s_same (a->items[i].url, b->items[i].url));
        s_same_bytes (a->items[i].payload, a->items[i].payload_size, b->items[i].payload,
                      b->items[i].payload_size);
        S_ASSERT (a->items[i].header_count == b->items[i].header_count);
    }
    proto_submit_destroy (&a);
    proto_submit_destroy (&b);
}

static void
s_command (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_command_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_command_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_COMMAND);
    S_ASSERT (a->op >= PROTO_OP_GET && a->op <= PROTO_OP_EVENT_GET);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_command_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_command_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_command_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (a->op == b->op && a->corr == b->corr && s_same (a->id, b->id));
    S_ASSERT (s_same (a->tenant, b->tenant) && a->limit == b->limit);
    S_ASSERT (s_same (a->topic, b->topic) && a->update_mask == b->update_mask);
    S_ASSERT ((a->subscription == NULL) == (b->subscription == NULL));
    if (a->subscription) {
        S_ASSERT (s_same (a->subscription->id, b->subscription->id));
        S_ASSERT (s_same (a->subscription->secret, b->subscription->secret));
    }
    if (a->op == PROTO_OP_SUB_CREATE)
        S_ASSERT (a->subscription && a->subscription->topic && a->subscription->url);
    if (a->op == PROTO_OP_SUB_ROTATE)
        S_ASSERT (a->id && a->subscription && a->subscription->secret);
    proto_command_destroy (&a);
    proto_command_destroy (&b);
}

static void
s_record (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_record_t *a = NULL, *b = NULL, *pub = NULL;
    proto_rc_t rc = proto_record_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_RECORD);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_record_encode (a, true, &e1, &n1) == 0);
    S_ASSERT (proto_record_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_record_encode (b, true, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->id, b->id) && a->status == b->status && a->attempt == b->attempt);
    S_ASSERT (s_same (a->secret, b->secret) && a->attempt_count == b->attempt_count);
    S_ASSERT (s_same (a->subscription_id, b->subscription_id) && s_same (a->event_id, b->event_id));
    S_ASSERT (s_same (a->ordering_key, b->ordering_key));
    S_ASSERT (s_same (a->traceparent, b->traceparent));
    s_same_bytes (a->payload, a->payload_size, b->payload, b->payload_size);
    /* the public view always decodes, and never carries the private fields */
    S_ASSERT (proto_record_encode (a, false, &e1, &n1) == 0);
    S_ASSERT (proto_record_decode (e1, n1, &pub) == PROTO_OK);
    S_ASSERT (!pub->secret && !pub->tenant && !pub->payload && !pub->headers && !pub->request_id);
    S_ASSERT (!pub->traceparent);
    S_ASSERT (s_same (a->id, pub->id) && a->status == pub->status);
    S_ASSERT (s_same (a->ordering_key, pub->ordering_key) && s_same (a->event_id, pub->event_id));
    free (e1);
    proto_record_destroy (&pub);
    proto_record_destroy (&a);
    proto_record_destroy (&b);
}

static void
s_reply (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_reply_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_reply_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_REPLY);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_reply_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_reply_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_reply_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (a->corr == b->corr && a->status == b->status && a->replayed == b->replayed);
    S_ASSERT (a->item_count == b->item_count && a->record_count == b->record_count);
    S_ASSERT (a->stat_count == b->stat_count && s_same (a->next, b->next));
    for (size_t i = 0; i < a->record_count; i++) {
        S_ASSERT (s_same (a->records[i].id, b->records[i].id));
        S_ASSERT (!b->records[i].secret && !b->records[i].payload);
    }
    S_ASSERT (a->subscription_count == b->subscription_count);
    for (size_t i = 0; i < a->subscription_count; i++) {
        S_ASSERT (s_same (a->subscriptions[i].id, b->subscriptions[i].id));
        S_ASSERT (s_same (a->subscriptions[i].secret, b->subscriptions[i].secret));
        S_ASSERT (s_same (a->subscriptions[i].tenant, b->subscriptions[i].tenant));
    }
    S_ASSERT (s_same (a->event_id, b->event_id) && s_same (a->topic, b->topic));
    S_ASSERT (a->event_created_ms == b->event_created_ms);
    S_ASSERT (a->retry_after_ms == b->retry_after_ms && a->rate_limit == b->rate_limit);
    S_ASSERT (a->rate_remaining == b->rate_remaining && a->rate_reset_ms == b->rate_reset_ms);
    proto_reply_destroy (&a);
    proto_reply_destroy (&b);
}

static void
s_dispatch (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_dispatch_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_dispatch_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_DISPATCH);
    S_ASSERT (a->id && a->url && a->payload);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_dispatch_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_dispatch_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_dispatch_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->id, b->id) && a->attempt == b->attempt && s_same (a->url, b->url));
    S_ASSERT (a->lease_until_ms == b->lease_until_ms && a->header_count == b->header_count);
    s_same_bytes (a->payload, a->payload_size, b->payload, b->payload_size);
    proto_dispatch_destroy (&a);
    proto_dispatch_destroy (&b);
}

static void
s_result (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_result_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_result_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_RESULT);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_result_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_result_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_result_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->id, b->id) && a->attempt == b->attempt);
    S_ASSERT (a->status_code == b->status_code && a->retry_after_ms == b->retry_after_ms);
    S_ASSERT (s_same (a->error, b->error) && s_same (a->body, b->body));
    proto_result_destroy (&a);
    proto_result_destroy (&b);
}

static void
s_heartbeat (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_heartbeat_t *a = NULL, *b = NULL;
    proto_rc_t rc = proto_heartbeat_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_HEARTBEAT);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_heartbeat_encode (a, &e1, &n1) == 0);
    S_ASSERT (proto_heartbeat_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_heartbeat_encode (b, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->from, b->from) && a->at_ms == b->at_ms);
    S_ASSERT (a->capacity == b->capacity && a->free == b->free);
    S_ASSERT (a->ready == b->ready && a->stopping == b->stopping);
    proto_heartbeat_destroy (&a);
    proto_heartbeat_destroy (&b);
}

static void
s_subscription (const uint8_t *data, size_t size, proto_rc_t check)
{
    proto_subscription_t *a = NULL, *b = NULL, *pub = NULL;
    proto_rc_t rc = proto_subscription_decode (data, size, &a);
    if (check != PROTO_OK)
        S_ASSERT (rc == PROTO_EMALFORMED);
    if (rc != PROTO_OK) {
        S_ASSERT (a == NULL);
        return;
    }
    S_ASSERT (proto_peek_type (data, size) == PROTO_T_SUBSCRIPTION);
    S_ASSERT (a->id && a->topic && a->url);
    uint8_t *e1, *e2;
    size_t n1, n2;
    S_ASSERT (proto_subscription_encode (a, true, &e1, &n1) == 0);
    S_ASSERT (proto_subscription_decode (e1, n1, &b) == PROTO_OK);
    S_ASSERT (proto_subscription_encode (b, true, &e2, &n2) == 0);
    s_same_frames (e1, n1, e2, n2);
    S_ASSERT (s_same (a->id, b->id) && s_same (a->topic, b->topic) && s_same (a->url, b->url));
    S_ASSERT (s_same (a->secret, b->secret) && s_same (a->previous_secret, b->previous_secret));
    S_ASSERT (a->enabled == b->enabled && a->rate_limit == b->rate_limit);
    S_ASSERT (a->header_count == b->header_count && s_same (a->description, b->description));
    /* the public view always decodes, and never carries the private fields */
    S_ASSERT (proto_subscription_encode (a, false, &e1, &n1) == 0);
    S_ASSERT (proto_subscription_decode (e1, n1, &pub) == PROTO_OK);
    S_ASSERT (!pub->secret && !pub->previous_secret && !pub->tenant);
    S_ASSERT (s_same (a->id, pub->id) && a->enabled == pub->enabled);
    free (e1);
    proto_subscription_destroy (&pub);
    proto_subscription_destroy (&a);
    proto_subscription_destroy (&b);
}

/* The input as a batched frame (dispatch, result and reply sockets): split
 * message by message as the receivers do. Each piece proto_split accepts
 * lies inside the input and is exactly one message (proto_check agrees),
 * and decodes like any frame; the whole input is one message only when
 * proto_check says so. */
static proto_rc_t
s_accept_msg (void *arg, const uint8_t *msg, size_t len)
{
    (void)arg;
    S_ASSERT (len > 0 && proto_check (msg, len) == PROTO_OK);
    return PROTO_OK;
}

static void
s_batch (const uint8_t *data, size_t size, proto_rc_t check)
{
    size_t off = 0, len = 0, count = 0;
    while (off < size && count <= PROTO_FRAME_MAX_MSGS) {
        proto_rc_t rc = proto_split (data + off, size - off, &len);
        S_ASSERT (rc == PROTO_OK || rc == PROTO_EMALFORMED);
        if (rc != PROTO_OK) {
            S_ASSERT (len == 0);
            break;
        }
        S_ASSERT (len > 0 && len <= size - off);
        S_ASSERT (proto_check (data + off, len) == PROTO_OK);
        if (off == 0)
            S_ASSERT ((check == PROTO_OK) == (len == size));
        s_dispatch (data + off, len, PROTO_OK);
        s_result (data + off, len, PROTO_OK);
        s_reply (data + off, len, PROTO_OK);
        s_heartbeat (data + off, len, PROTO_OK);
        off += len;
        count++;
    }
    /* proto_frame_each sees the same messages: all of them (PROTO_OK) only
     * when they fill the input and are at most PROTO_FRAME_MAX_MSGS */
    size_t each = 0;
    proto_rc_t rc = proto_frame_each (data, size, s_accept_msg, NULL, &each);
    bool whole = size > 0 && off == size && count <= PROTO_FRAME_MAX_MSGS;
    S_ASSERT ((rc == PROTO_OK) == whole);
    S_ASSERT (each == (count < PROTO_FRAME_MAX_MSGS ? count : PROTO_FRAME_MAX_MSGS));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    proto_rc_t check = proto_check (data, size);
    S_ASSERT (check == PROTO_OK || check == PROTO_EMALFORMED);
    proto_type_t type = proto_peek_type (data, size);
    S_ASSERT (check == PROTO_OK || type == PROTO_T_UNKNOWN);
    S_ASSERT (type >= PROTO_T_UNKNOWN && type <= PROTO_T_SUBSCRIPTION);
    s_submit (data, size, check);
    s_command (data, size, check);
    s_record (data, size, check);
    s_reply (data, size, check);
    s_dispatch (data, size, check);
    s_result (data, size, check);
    s_heartbeat (data, size, check);
    s_subscription (data, size, check);
    s_batch (data, size, check);
    return 0;
}
