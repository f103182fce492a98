/*  proto_test.c — cmocka group for the wire codecs (zhook-unit proto_test).
 *
 *  Round trips every message with every field set and with only the
 *  required ones, then attacks every decoder: missing keys, wrong types,
 *  out-of-range integers, embedded NUL, wrong "t"/"v", duplicate keys,
 *  every truncation of a valid frame, seeded garbage and byte flips, the
 *  count bombs of msgpack-c issue 1013, nesting past PROTO_MAX_DEPTH and
 *  trailing bytes; the bombs and garbage again in a child process whose
 *  address space is capped just above what the frame's size allows, so a
 *  decoder that allocates by a claimed count fails there. Frames are
 *  mutated by unpacking a valid one (trusted bytes) and packing it again
 *  with one change, so each test states only the change. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <msgpack.h>

#include "proto/proto.h"

int proto_test (void);

/* --- helpers ------------------------------------------------------------- */

static void
s_str_eq (const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal (a, b);
    else
        assert_string_equal (a, b);
}

static void
s_bytes_eq (const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    assert_int_equal (a_size, b_size);
    assert_int_equal (a == NULL, b == NULL);
    if (a && a_size)
        assert_memory_equal (a, b, a_size);
}

static void
s_headers_eq (const proto_header_t *a, size_t a_count, const proto_header_t *b, size_t b_count)
{
    assert_int_equal (a_count, b_count);
    for (size_t i = 0; i < a_count; i++) {
        s_str_eq (a[i].name, b[i].name);
        s_str_eq (a[i].value, b[i].value);
    }
}

static uint8_t *
s_bytes (const char *text, size_t *size)
{
    *size = strlen (text);
    uint8_t *copy = malloc (*size ? *size : 1);
    assert_non_null (copy);
    memcpy (copy, text, *size);
    return copy;
}

static char *
s_dup (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    return copy;
}

static proto_header_t *
s_headers (size_t *count)
{
    proto_header_t *headers = calloc (2, sizeof *headers);
    assert_non_null (headers);
    headers[0].name = s_dup ("X-Trace");
    headers[0].value = s_dup ("abc");
    headers[1].name = s_dup ("X-Trace"); /* repeated names keep their order */
    headers[1].value = s_dup ("");
    *count = 2;
    return headers;
}

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t
s_random (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

/* --- fixtures: every field set, or only the required ones ---------------- */

static proto_submit_t *
s_submit (bool full)
{
    proto_submit_t *self = proto_submit_new ();
    assert_non_null (self);
    self->reply_to = s_dup ("ing-1.3");
    self->corr = full ? UINT64_MAX : 7;
    self->tenant = s_dup ("acme");
    self->deadline_ms = 1700000000123;
    proto_item_t *item = proto_submit_add_item (self);
    assert_non_null (item);
    item->id = s_dup ("msg_01HZX");
    item->url = s_dup ("https://example.com/hook");
    item->payload = s_bytes ("{\"a\":1}", &item->payload_size);
    if (!full)
        return self;
    self->request_id = s_dup ("req-1");
    self->idem_key = s_dup ("key-1");
    for (int i = 0; i < 32; i++)
        self->idem_hash[i] = (uint8_t)(i * 7 + 1);
    item->headers = s_headers (&item->header_count);
    item->deliver_at_ms = 1700000005000;
    item->delay_ms = 1500;
    item->max_attempts = 100;
    item->timeout_ms = 60000;
    item->secret = s_dup ("whsec_c2VjcmV0");
    item->ordering_key = s_dup ("customer-42");
    item->traceparent = s_dup ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    item = proto_submit_add_item (self);
    assert_non_null (item);
    item->id = s_dup ("msg_01HZY");
    item->url = s_dup ("http://b.example/");
    item->payload = s_bytes ("", &item->payload_size); /* empty but present */
    item->delay_ms = INT64_MAX;
    return self;
}

static void
s_item_eq (const proto_item_t *a, const proto_item_t *b)
{
    s_str_eq (a->id, b->id);
    s_str_eq (a->url, b->url);
    s_bytes_eq (a->payload, a->payload_size, b->payload, b->payload_size);
    s_headers_eq (a->headers, a->header_count, b->headers, b->header_count);
    assert_int_equal (a->deliver_at_ms, b->deliver_at_ms);
    assert_int_equal (a->delay_ms, b->delay_ms);
    assert_int_equal (a->max_attempts, b->max_attempts);
    assert_int_equal (a->timeout_ms, b->timeout_ms);
    s_str_eq (a->secret, b->secret);
    s_str_eq (a->ordering_key, b->ordering_key);
    s_str_eq (a->traceparent, b->traceparent);
}

static void
s_submit_eq (const proto_submit_t *a, const proto_submit_t *b)
{
    s_str_eq (a->reply_to, b->reply_to);
    assert_true (a->corr == b->corr);
    s_str_eq (a->request_id, b->request_id);
    s_str_eq (a->tenant, b->tenant);
    s_str_eq (a->idem_key, b->idem_key);
    assert_memory_equal (a->idem_hash, b->idem_hash, 32);
    assert_int_equal (a->deadline_ms, b->deadline_ms);
    s_str_eq (a->topic, b->topic);
    assert_int_equal (a->item_count, b->item_count);
    for (size_t i = 0; i < a->item_count; i++)
        s_item_eq (&a->items[i], &b->items[i]);
}

/* An event publish: a topic and exactly one item, the event (url empty). */
static proto_submit_t *
s_event (void)
{
    proto_submit_t *self = proto_submit_new ();
    assert_non_null (self);
    self->reply_to = s_dup ("ing-1.4");
    self->corr = 8;
    self->tenant = s_dup ("acme");
    self->deadline_ms = 1700000000123;
    self->topic = s_dup ("order.created");
    self->idem_key = s_dup ("evt-key");
    proto_item_t *item = proto_submit_add_item (self);
    assert_non_null (item);
    item->id = s_dup ("evt_01HZX");
    item->url = s_dup ("");
    item->payload = s_bytes ("{\"order\":7}", &item->payload_size);
    item->delay_ms = 250;
    item->ordering_key = s_dup ("order-7");
    return self;
}

static void
s_subscription_fill (proto_subscription_t *self, bool full)
{
    self->id = s_dup ("sub_01HZX");
    self->topic = s_dup ("order.*");
    self->url = s_dup ("https://example.com/orders");
    if (!full)
        return;
    self->tenant = s_dup ("acme");
    self->headers = s_headers (&self->header_count);
    self->description = s_dup ("orders to the warehouse \xe2\x9c\x93");
    self->secret = s_dup ("whsec_c3Vic2VjcmV0");
    self->previous_secret = s_dup ("whsec_b2xkc2VjcmV0");
    self->rotated_ms = 1700000004000;
    self->enabled = true;
    self->disabled_reason = s_dup ("user");
    self->rate_limit = 10000;
    self->failing_since_ms = 1700000003000;
    self->created_ms = 1700000000000;
    self->updated_ms = INT64_MAX;
}

static proto_subscription_t *
s_subscription (bool full)
{
    proto_subscription_t *self = proto_subscription_new ();
    assert_non_null (self);
    s_subscription_fill (self, full);
    return self;
}

/* private: compare the private fields too, else expect them absent in b */
static void
s_subscription_eq (const proto_subscription_t *a, const proto_subscription_t *b, bool private)
{
    s_str_eq (a->id, b->id);
    s_str_eq (a->topic, b->topic);
    s_str_eq (a->url, b->url);
    s_headers_eq (a->headers, a->header_count, b->headers, b->header_count);
    s_str_eq (a->description, b->description);
    if (private) {
        s_str_eq (a->tenant, b->tenant);
        s_str_eq (a->secret, b->secret);
        s_str_eq (a->previous_secret, b->previous_secret);
    }
    else {
        assert_null (b->tenant);
        assert_null (b->secret);
        assert_null (b->previous_secret);
    }
    assert_int_equal (a->rotated_ms, b->rotated_ms);
    assert_int_equal (a->enabled, b->enabled);
    s_str_eq (a->disabled_reason, b->disabled_reason);
    assert_int_equal (a->rate_limit, b->rate_limit);
    assert_int_equal (a->failing_since_ms, b->failing_since_ms);
    assert_int_equal (a->created_ms, b->created_ms);
    assert_true (a->updated_ms == b->updated_ms);
}

static proto_command_t *
s_command (bool full)
{
    proto_command_t *self = proto_command_new ();
    assert_non_null (self);
    self->reply_to = s_dup ("ing-1.0");
    self->corr = 42;
    self->tenant = s_dup ("acme");
    self->deadline_ms = 1700000000999;
    if (!full) {
        self->op = PROTO_OP_STATUS;
        return self;
    }
    self->op = PROTO_OP_DL_LIST;
    self->request_id = s_dup ("req-2");
    self->id = s_dup ("msg_01HZX");
    self->limit = 1000;
    self->after = s_dup ("cursor-9");
    self->topic = s_dup ("order.created");
    self->subscription = s_subscription (true);
    self->update_mask = PROTO_SUB_SET_ENABLED | PROTO_SUB_SET_DESCRIPTION;
    return self;
}

static void
s_command_eq (const proto_command_t *a, const proto_command_t *b)
{
    s_str_eq (a->reply_to, b->reply_to);
    assert_true (a->corr == b->corr);
    s_str_eq (a->request_id, b->request_id);
    s_str_eq (a->tenant, b->tenant);
    assert_int_equal (a->op, b->op);
    s_str_eq (a->id, b->id);
    assert_int_equal (a->limit, b->limit);
    s_str_eq (a->after, b->after);
    assert_int_equal (a->deadline_ms, b->deadline_ms);
    s_str_eq (a->topic, b->topic);
    assert_int_equal (a->subscription == NULL, b->subscription == NULL);
    if (a->subscription)
        s_subscription_eq (a->subscription, b->subscription, true);
    assert_int_equal (a->update_mask, b->update_mask);
}

static void
s_record_fill (proto_record_t *self, bool full)
{
    self->id = s_dup ("msg_01HZX");
    self->url = s_dup ("https://example.com/hook");
    self->status = full ? PROTO_ST_DEAD : PROTO_ST_SCHEDULED;
    if (!full)
        return;
    self->tenant = s_dup ("acme");
    self->headers = s_headers (&self->header_count);
    self->payload = s_bytes ("{\"secret-payload\":true}", &self->payload_size);
    self->secret = s_dup ("whsec_c2VjcmV0");
    self->request_id = s_dup ("req-3");
    self->max_attempts = 8;
    self->timeout_ms = 10000;
    self->created_ms = 1700000000000;
    self->deliver_at_ms = 1700000001000;
    self->next_attempt_ms = 0;
    self->attempt = 8;
    self->attempt_base = 0;
    self->dead_reason = s_dup ("max_attempts");
    self->subscription_id = s_dup ("sub_01HZX");
    self->event_id = s_dup ("evt_01HZX");
    self->ordering_key = s_dup ("order-7");
    self->traceparent = s_dup ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    self->ended_ms = 1700000009000;
    proto_attempt_t *attempt = proto_record_add_attempt (self);
    assert_non_null (attempt);
    attempt->n = 1;
    attempt->at_ms = 1700000002000;
    attempt->status_code = 500;
    attempt->latency_ms = 12;
    attempt->body = s_dup ("oops");
    attempt = proto_record_add_attempt (self);
    assert_non_null (attempt);
    attempt->n = 2;
    attempt->at_ms = 1700000003000;
    attempt->latency_ms = 10000;
    attempt->error = s_dup ("timeout");
}

static proto_record_t *
s_record (bool full)
{
    proto_record_t *self = proto_record_new ();
    assert_non_null (self);
    s_record_fill (self, full);
    return self;
}

/* private: compare the private fields too, else expect them absent in b */
static void
s_record_eq (const proto_record_t *a, const proto_record_t *b, bool private)
{
    s_str_eq (a->id, b->id);
    s_str_eq (a->url, b->url);
    if (private) {
        s_str_eq (a->tenant, b->tenant);
        s_headers_eq (a->headers, a->header_count, b->headers, b->header_count);
        s_bytes_eq (a->payload, a->payload_size, b->payload, b->payload_size);
        s_str_eq (a->secret, b->secret);
        s_str_eq (a->request_id, b->request_id);
        s_str_eq (a->traceparent, b->traceparent);
    }
    else {
        assert_null (b->tenant);
        assert_null (b->headers);
        assert_int_equal (b->header_count, 0);
        assert_null (b->payload);
        assert_int_equal (b->payload_size, 0);
        assert_null (b->secret);
        assert_null (b->request_id);
        assert_null (b->traceparent);
    }
    assert_int_equal (a->status, b->status);
    assert_int_equal (a->max_attempts, b->max_attempts);
    assert_int_equal (a->timeout_ms, b->timeout_ms);
    assert_int_equal (a->created_ms, b->created_ms);
    assert_int_equal (a->deliver_at_ms, b->deliver_at_ms);
    assert_int_equal (a->next_attempt_ms, b->next_attempt_ms);
    assert_int_equal (a->attempt, b->attempt);
    assert_int_equal (a->attempt_base, b->attempt_base);
    s_str_eq (a->dead_reason, b->dead_reason);
    s_str_eq (a->subscription_id, b->subscription_id);
    s_str_eq (a->event_id, b->event_id);
    s_str_eq (a->ordering_key, b->ordering_key);
    assert_int_equal (a->ended_ms, b->ended_ms);
    assert_int_equal (a->attempt_count, b->attempt_count);
    for (size_t i = 0; i < a->attempt_count; i++) {
        assert_int_equal (a->attempts[i].n, b->attempts[i].n);
        assert_int_equal (a->attempts[i].at_ms, b->attempts[i].at_ms);
        assert_int_equal (a->attempts[i].status_code, b->attempts[i].status_code);
        assert_int_equal (a->attempts[i].latency_ms, b->attempts[i].latency_ms);
        s_str_eq (a->attempts[i].error, b->attempts[i].error);
        s_str_eq (a->attempts[i].body, b->attempts[i].body);
    }
}

static proto_reply_t *
s_reply (bool full)
{
    proto_reply_t *self = proto_reply_new ();
    assert_non_null (self);
    self->corr = 99;
    self->status = full ? 409 : 202;
    if (!full)
        return self;
    self->replayed = true;
    self->error = s_dup ("idempotency conflict");
    proto_reply_item_t *item = proto_reply_add_item (self);
    assert_non_null (item);
    item->id = s_dup ("msg_01HZX");
    item->status = 202;
    item->deliver_at_ms = 1700000001000;
    item = proto_reply_add_item (self);
    assert_non_null (item);
    item->status = 507;
    item->error = s_dup ("store full");
    proto_record_t *record = proto_reply_add_record (self);
    assert_non_null (record);
    s_record_fill (record, true);
    record = proto_reply_add_record (self);
    assert_non_null (record);
    s_record_fill (record, false);
    self->next = s_dup ("cursor-10");
    assert_int_equal (proto_reply_add_stat (self, "scheduled", 1000000), 0);
    assert_int_equal (proto_reply_add_stat (self, "lateness_ms", -5), 0);
    proto_subscription_t *sub = proto_reply_add_subscription (self);
    assert_non_null (sub);
    s_subscription_fill (sub, true);
    sub = proto_reply_add_subscription (self);
    assert_non_null (sub);
    s_subscription_fill (sub, false);
    self->event_id = s_dup ("evt_01HZX");
    self->topic = s_dup ("order.created");
    self->event_created_ms = 1700000000500;
    self->retry_after_ms = 1250;
    self->rate_limit = UINT32_MAX;
    self->rate_remaining = 7;
    self->rate_reset_ms = INT64_C (86400000000);
    return self;
}

static void
s_reply_eq (const proto_reply_t *a, const proto_reply_t *b)
{
    assert_true (a->corr == b->corr);
    assert_int_equal (a->status, b->status);
    assert_int_equal (a->replayed, b->replayed);
    s_str_eq (a->error, b->error);
    assert_int_equal (a->item_count, b->item_count);
    for (size_t i = 0; i < a->item_count; i++) {
        s_str_eq (a->items[i].id, b->items[i].id);
        assert_int_equal (a->items[i].status, b->items[i].status);
        assert_int_equal (a->items[i].deliver_at_ms, b->items[i].deliver_at_ms);
        s_str_eq (a->items[i].error, b->items[i].error);
    }
    assert_int_equal (a->record_count, b->record_count);
    for (size_t i = 0; i < a->record_count; i++)
        s_record_eq (&a->records[i], &b->records[i], false);
    s_str_eq (a->next, b->next);
    assert_int_equal (a->stat_count, b->stat_count);
    for (size_t i = 0; i < a->stat_count; i++) {
        s_str_eq (a->stats[i].name, b->stats[i].name);
        assert_int_equal (a->stats[i].value, b->stats[i].value);
    }
    /* subscriptions travel with their private fields */
    assert_int_equal (a->subscription_count, b->subscription_count);
    for (size_t i = 0; i < a->subscription_count; i++)
        s_subscription_eq (&a->subscriptions[i], &b->subscriptions[i], true);
    s_str_eq (a->event_id, b->event_id);
    s_str_eq (a->topic, b->topic);
    assert_int_equal (a->event_created_ms, b->event_created_ms);
    assert_int_equal (a->retry_after_ms, b->retry_after_ms);
    assert_int_equal (a->rate_limit, b->rate_limit);
    assert_int_equal (a->rate_remaining, b->rate_remaining);
    assert_int_equal (a->rate_reset_ms, b->rate_reset_ms);
}

static proto_dispatch_t *
s_dispatch (bool full)
{
    proto_dispatch_t *self = proto_dispatch_new ();
    assert_non_null (self);
    self->id = s_dup ("msg_01HZX");
    self->attempt = 3;
    self->lease_until_ms = 1700000020000;
    self->url = s_dup ("https://example.com/hook");
    self->payload = s_bytes ("{\"a\":1}", &self->payload_size);
    self->timeout_ms = 10000;
    if (!full)
        return self;
    self->attempt = UINT32_MAX;
    self->due_ms = 1700000000000;
    self->headers = s_headers (&self->header_count);
    self->secret = s_dup ("whsec_c2VjcmV0");
    self->request_id = s_dup ("req-4");
    self->traceparent = s_dup ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
    return self;
}

static void
s_dispatch_eq (const proto_dispatch_t *a, const proto_dispatch_t *b)
{
    s_str_eq (a->id, b->id);
    assert_int_equal (a->attempt, b->attempt);
    assert_int_equal (a->due_ms, b->due_ms);
    assert_int_equal (a->lease_until_ms, b->lease_until_ms);
    s_str_eq (a->url, b->url);
    s_headers_eq (a->headers, a->header_count, b->headers, b->header_count);
    s_bytes_eq (a->payload, a->payload_size, b->payload, b->payload_size);
    s_str_eq (a->secret, b->secret);
    assert_int_equal (a->timeout_ms, b->timeout_ms);
    s_str_eq (a->request_id, b->request_id);
    s_str_eq (a->traceparent, b->traceparent);
}

static proto_result_t *
s_result (bool full)
{
    proto_result_t *self = proto_result_new ();
    assert_non_null (self);
    assert_int_equal (self->retry_after_ms, -1);
    self->id = s_dup ("msg_01HZX");
    self->attempt = 3;
    if (!full)
        return self;
    self->deliverer = s_dup ("dlv-a1");
    self->status_code = 503;
    self->latency_ms = 250;
    self->error = s_dup ("timeout");
    self->retry_after_ms = 120000;
    self->body = s_dup ("busy \xe2\x9c\x93");
    self->at_ms = INT64_MIN;
    return self;
}

static void
s_result_eq (const proto_result_t *a, const proto_result_t *b)
{
    s_str_eq (a->id, b->id);
    assert_int_equal (a->attempt, b->attempt);
    s_str_eq (a->deliverer, b->deliverer);
    assert_int_equal (a->status_code, b->status_code);
    assert_int_equal (a->latency_ms, b->latency_ms);
    s_str_eq (a->error, b->error);
    assert_int_equal (a->retry_after_ms, b->retry_after_ms);
    s_str_eq (a->body, b->body);
    assert_int_equal (a->at_ms, b->at_ms);
}

static proto_heartbeat_t *
s_heartbeat (bool full)
{
    proto_heartbeat_t *self = proto_heartbeat_new ();
    assert_non_null (self);
    self->from = s_dup ("scheduler");
    self->at_ms = 1700000000000;
    if (!full)
        return self;
    self->capacity = 64;
    self->free = 63;
    self->ready = true;
    self->stopping = true;
    return self;
}

static void
s_heartbeat_eq (const proto_heartbeat_t *a, const proto_heartbeat_t *b)
{
    s_str_eq (a->from, b->from);
    assert_int_equal (a->at_ms, b->at_ms);
    assert_int_equal (a->capacity, b->capacity);
    assert_int_equal (a->free, b->free);
    assert_int_equal (a->ready, b->ready);
    assert_int_equal (a->stopping, b->stopping);
}

/* --- one table row per message type ------------------------------------- */

/* Each decoder wrapper checks the contract on *self_p (NULL on failure,
 * set on success), then frees; decoded objects are reached through the
 * typed round-trip tests. */
#define S_DECODER(T)                                                                               \
    static proto_rc_t s_decode_##T (const uint8_t *data, size_t size)                              \
    {                                                                                              \
        proto_##T##_t *self = proto_##T##_new ();                                                  \
        proto_##T##_t *old = self;                                                                 \
        proto_rc_t rc = proto_##T##_decode (data, size, &self);                                    \
        proto_##T##_destroy (&old);                                                                \
        if (rc == PROTO_OK)                                                                        \
            assert_non_null (self);                                                                \
        else                                                                                       \
            assert_null (self);                                                                    \
        proto_##T##_destroy (&self);                                                               \
        return rc;                                                                                 \
    }
S_DECODER (submit)
S_DECODER (command)
S_DECODER (record)
S_DECODER (reply)
S_DECODER (dispatch)
S_DECODER (result)
S_DECODER (heartbeat)
S_DECODER (subscription)

#define S_ENCODE_FULL(T)                                                                           \
    static void s_frame_##T (bool full, uint8_t **data, size_t *size)                              \
    {                                                                                              \
        proto_##T##_t *self = s_##T (full);                                                        \
        assert_int_equal (proto_##T##_encode (self, data, size), 0);                               \
        assert_non_null (*data);                                                                   \
        proto_##T##_destroy (&self);                                                               \
    }
S_ENCODE_FULL (submit)
S_ENCODE_FULL (command)

static void
s_frame_record (bool full, uint8_t **data, size_t *size)
{
    proto_record_t *self = s_record (full);
    assert_int_equal (proto_record_encode (self, true, data, size), 0);
    assert_non_null (*data);
    proto_record_destroy (&self);
}
S_ENCODE_FULL (reply)
S_ENCODE_FULL (dispatch)
S_ENCODE_FULL (result)
S_ENCODE_FULL (heartbeat)

static void
s_frame_subscription (bool full, uint8_t **data, size_t *size)
{
    proto_subscription_t *self = s_subscription (full);
    assert_int_equal (proto_subscription_encode (self, true, data, size), 0);
    assert_non_null (*data);
    proto_subscription_destroy (&self);
}

typedef struct {
    const char *type;
    proto_type_t ptype;
    void (*frame) (bool full, uint8_t **data, size_t *size);
    proto_rc_t (*decode) (const uint8_t *data, size_t size);
    const char *keys; /* every top-level key of the full frame */
    const char *required; /* those whose absence is PROTO_EMALFORMED */
} s_codec_t;

static const s_codec_t s_codecs[] = {
    {"submit", PROTO_T_SUBMIT, s_frame_submit, s_decode_submit,
     "t v rt corr rid ten ik ih dl items", "t v rt corr ten dl items"},
    {"command", PROTO_T_COMMAND, s_frame_command, s_decode_command,
     "t v rt corr rid ten op id lim after dl tp sub um", "t v rt corr ten op dl"},
    {"record", PROTO_T_RECORD, s_frame_record, s_decode_record,
     "t v id ten url hd pl sec rid st ma to cr at nx att ab dr sid eid ok trp end hist",
     "t v id url st"},
    {"reply", PROTO_T_REPLY, s_frame_reply, s_decode_reply,
     "t v corr st rp err items recs next stats subs eid tp ecr ra rl rr rs", "t v corr st"},
    {"dispatch", PROTO_T_DISPATCH, s_frame_dispatch, s_decode_dispatch,
     "t v id att due lease url hd pl sec to rid trp", "t v id att lease url pl to"},
    {"result", PROTO_T_RESULT, s_frame_result, s_decode_result,
     "t v id att dlv sc lat err ra body at", "t v id att"},
    {"heartbeat", PROTO_T_HEARTBEAT, s_frame_heartbeat, s_decode_heartbeat,
     "t v from at cap free ready stop", "t v from at"},
    {"subscription", PROTO_T_SUBSCRIPTION, s_frame_subscription, s_decode_subscription,
     "t v id ten tp url hd desc sec psec rot en dr rl fs cr up", "t v id tp url"},
};
#define S_CODECS (sizeof (s_codecs) / sizeof (s_codecs[0]))

/* Keys of nested maps: frame key, element keys, required element keys. */
typedef struct {
    size_t codec;
    const char *key;
    const char *keys;
    const char *required;
} s_nested_t;

static const s_nested_t s_nested[] = {
    {0, "items", "id url pl hd at delay ma to sec ok trp", "id url pl"},
    {1, "sub", "id ten tp url hd desc sec psec rot en dr rl fs cr up", ""},
    {2, "hist", "n at sc lat body", "n"},
    {3, "items", "id st at", "st"},
    {3, "recs", "id url st ma to cr at nx att ab dr sid eid ok end hist", "id url st"},
    {3, "subs", "id ten tp url hd desc sec psec rot en dr rl fs cr up", ""},
};

static bool
s_word_in (const char *word, size_t len, const char *list)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn (p, " ");
        if (n == len && memcmp (p, word, len) == 0)
            return true;
        p += n;
        while (*p == ' ')
            p++;
    }
    return false;
}

static size_t
s_word_count (const char *list)
{
    size_t count = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn (p, " ");
        count += n > 0;
        p += n;
        while (*p == ' ')
            p++;
    }
    return count;
}

/* --- frame mutation ------------------------------------------------------ */

typedef enum {
    M_DROP, /* remove the key */
    M_DUP, /* give the key twice */
    M_NIL, /* value nil */
    M_FLOAT, /* value 1.5: a wrong type for every field */
    M_EXT, /* value ext: a wrong type for every field */
    M_INT, /* value m->i */
    M_UINT, /* value m->u */
    M_STR, /* value str m->bytes (m->len) */
    M_BIN, /* value bin m->bytes (m->len) */
    M_FN, /* value packed by m->fn */
    M_ADD, /* add key m->add_key (NULL: integer key 7) with value m->fn */
} s_op_t;

typedef struct {
    s_op_t op;
    int64_t i;
    uint64_t u;
    const char *bytes;
    size_t len;
    void (*fn) (msgpack_packer *pk);
    const char *add_key;
} s_mut_t;

static bool
s_key_is (const msgpack_object *key, const char *text)
{
    return key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen (text) &&
           memcmp (key->via.str.ptr, text, key->via.str.size) == 0;
}

static void
s_pack_value (msgpack_packer *pk, const s_mut_t *m)
{
    switch (m->op) {
    case M_NIL:
        msgpack_pack_nil (pk);
        break;
    case M_FLOAT:
        msgpack_pack_double (pk, 1.5);
        break;
    case M_EXT:
        msgpack_pack_ext_with_body (pk, "x", 1, 1);
        break;
    case M_INT:
        msgpack_pack_int64 (pk, m->i);
        break;
    case M_UINT:
        msgpack_pack_uint64 (pk, m->u);
        break;
    case M_STR:
        msgpack_pack_str_with_body (pk, m->bytes, m->len);
        break;
    case M_BIN:
        msgpack_pack_bin_with_body (pk, m->bytes, m->len);
        break;
    case M_FN:
        m->fn (pk);
        break;
    default:
        fail ();
    }
}

/* Packs map o with the mutation applied to key (or, with subkey, to
 * subkey in the first element of the array under key). Returns the number
 * of times the key was found. */
static int
s_pack_mutated (msgpack_packer *pk, const msgpack_object *o, const char *key, const char *subkey,
                const s_mut_t *m)
{
    assert_int_equal (o->type, MSGPACK_OBJECT_MAP);
    int found = 0;
    size_t pairs = o->via.map.size;
    for (size_t k = 0; key && !subkey && k < pairs; k++)
        found += s_key_is (&o->via.map.ptr[k].key, key);
    if (m->op == M_ADD && !key)
        pairs++;
    else if (found && m->op == M_DROP)
        pairs--;
    else if (found && m->op == M_DUP)
        pairs++;
    msgpack_pack_map (pk, pairs);
    for (size_t k = 0; k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        if (!key || !s_key_is (&kv->key, key)) {
            msgpack_pack_object (pk, kv->key);
            msgpack_pack_object (pk, kv->val);
            continue;
        }
        if (subkey && kv->val.type == MSGPACK_OBJECT_MAP) { /* one nested object */
            msgpack_pack_object (pk, kv->key);
            found += s_pack_mutated (pk, &kv->val, strcmp (subkey, "") ? subkey : NULL, NULL, m);
            continue;
        }
        if (subkey) {
            const msgpack_object *array = &kv->val;
            assert_int_equal (array->type, MSGPACK_OBJECT_ARRAY);
            assert_true (array->via.array.size > 0);
            msgpack_pack_object (pk, kv->key);
            msgpack_pack_array (pk, array->via.array.size);
            found += s_pack_mutated (pk, &array->via.array.ptr[0],
                                     strcmp (subkey, "") ? subkey : NULL, NULL, m);
            for (size_t e = 1; e < array->via.array.size; e++)
                msgpack_pack_object (pk, array->via.array.ptr[e]);
            continue;
        }
        if (m->op == M_DROP)
            continue;
        msgpack_pack_object (pk, kv->key);
        if (m->op == M_DUP) {
            msgpack_pack_object (pk, kv->val);
            msgpack_pack_object (pk, kv->key);
            msgpack_pack_object (pk, kv->val);
        }
        else
            s_pack_value (pk, m);
    }
    if (m->op == M_ADD && !key) {
        if (m->add_key)
            msgpack_pack_str_with_body (pk, m->add_key, strlen (m->add_key));
        else
            msgpack_pack_uint64 (pk, 7);
        m->fn (pk);
        found++;
    }
    return found;
}

/* A copy of frame with one change; fails the test when key is absent.
 * For M_ADD, key NULL adds at top level, subkey "" adds in the first
 * element of the array under key. */
static uint8_t *
s_mutate (const uint8_t *frame, size_t size, const char *key, const char *subkey, const s_mut_t *m,
          size_t *out_size)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    assert_int_equal (msgpack_unpack_next (&unpacked, (const char *)frame, size, &offset),
                      MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    int found = s_pack_mutated (&pk, &unpacked.data, key, subkey, m);
    msgpack_unpacked_destroy (&unpacked);
    assert_true (found > 0);
    *out_size = sbuf.size;
    return (uint8_t *)msgpack_sbuffer_release (&sbuf);
}

static proto_rc_t
s_decode_mutated (const s_codec_t *c, const char *key, const char *subkey, const s_mut_t *m)
{
    uint8_t *frame, *mutated;
    size_t size, mutated_size;
    c->frame (true, &frame, &size);
    mutated = s_mutate (frame, size, key, subkey, m, &mutated_size);
    proto_rc_t rc = c->decode (mutated, mutated_size);
    free (frame);
    free (mutated);
    return rc;
}

static const s_codec_t *
s_codec (const char *type)
{
    for (size_t i = 0; i < S_CODECS; i++)
        if (strcmp (s_codecs[i].type, type) == 0)
            return &s_codecs[i];
    fail ();
    return NULL;
}

/* --- values packed into mutated frames ------------------------------- */

static void
s_pack_bad_header (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 1);
    msgpack_pack_array (pk, 1); /* a pair of one */
    msgpack_pack_str_with_body (pk, "X-A", 3);
}

static void
s_pack_nul_header (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 1);
    msgpack_pack_array (pk, 2);
    msgpack_pack_str_with_body (pk, "X-A", 3);
    msgpack_pack_str_with_body (pk, "a\0b", 3);
}

static void
s_pack_bad_stats (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    msgpack_pack_str_with_body (pk, "scheduled", 9);
    msgpack_pack_str_with_body (pk, "1", 1);
}

static void
s_pack_items_not_maps (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 2);
    msgpack_pack_int (pk, 1);
    msgpack_pack_int (pk, 2);
}

static void
s_pack_no_items (msgpack_packer *pk)
{
    msgpack_pack_array (pk, 0);
}

static void
s_pack_topic (msgpack_packer *pk)
{
    msgpack_pack_str_with_body (pk, "a.b", 3);
}

/* --- round trips --------------------------------------------------------- */

static void
test_submit_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_submit_t *in = s_submit (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_submit_encode (in, &data, &size), 0);
        assert_int_equal (proto_submit_decode (data, size, &out), PROTO_OK);
        s_submit_eq (in, out);
        if (!full) {
            assert_null (out->request_id);
            assert_null (out->idem_key);
            assert_null (out->items[0].headers);
            assert_null (out->items[0].secret);
            assert_int_equal (out->item_count, 1);
        }
        else /* present-but-empty payload stays present */
            assert_non_null (out->items[1].payload);
        free (data);
        proto_submit_destroy (&in);
        proto_submit_destroy (&out);
        assert_null (out);
    }
    proto_submit_t *none = NULL;
    proto_submit_destroy (&none); /* NULL is fine */
}

static void
test_command_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_command_t *in = s_command (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_command_encode (in, &data, &size), 0);
        assert_int_equal (proto_command_decode (data, size, &out), PROTO_OK);
        s_command_eq (in, out);
        free (data);
        proto_command_destroy (&in);
        proto_command_destroy (&out);
    }
    /* every op survives */
    for (int op = PROTO_OP_GET; op <= PROTO_OP_EVENT_GET; op++) {
        proto_command_t *in = s_command (true), *out = NULL;
        in->op = (proto_op_t)op;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_command_encode (in, &data, &size), 0);
        assert_int_equal (proto_command_decode (data, size, &out), PROTO_OK);
        assert_int_equal (out->op, op);
        free (data);
        proto_command_destroy (&in);
        proto_command_destroy (&out);
    }
}

static void
test_event_round_trip (void **state)
{
    (void)state;
    proto_submit_t *in = s_event (), *out = NULL;
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_submit_encode (in, &data, &size), 0);
    assert_int_equal (proto_submit_decode (data, size, &out), PROTO_OK);
    s_submit_eq (in, out);
    assert_string_equal (out->topic, "order.created");
    assert_string_equal (out->items[0].url, ""); /* empty, yet present */
    assert_string_equal (out->items[0].ordering_key, "order-7");
    proto_submit_destroy (&out);

    /* an event is exactly one item: none or two are refused both ways */
    uint8_t *mutated;
    size_t mutated_size;
    mutated = s_mutate (data, size, "items", NULL, &(s_mut_t){.op = M_FN, .fn = s_pack_no_items},
                        &mutated_size);
    assert_int_equal (proto_submit_decode (mutated, mutated_size, &out), PROTO_EMALFORMED);
    assert_null (out);
    free (mutated);
    free (data);
    proto_item_t *second = proto_submit_add_item (in);
    assert_non_null (second);
    second->id = s_dup ("evt_2");
    second->url = s_dup ("");
    second->payload = s_bytes ("{}", &second->payload_size);
    data = (uint8_t *)"x";
    assert_int_equal (proto_submit_encode (in, &data, &size), -1);
    assert_null (data);
    proto_submit_destroy (&in);

    /* a batch of two with "tp" added is malformed */
    uint8_t *frame;
    s_frame_submit (true, &frame, &size);
    mutated =
        s_mutate (frame, size, NULL, NULL,
                  &(s_mut_t){.op = M_ADD, .fn = s_pack_topic, .add_key = "tp"}, &mutated_size);
    assert_int_equal (proto_submit_decode (mutated, mutated_size, &out), PROTO_EMALFORMED);
    free (mutated);
    free (frame);
}

static void
test_subscription_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        for (int private = 0; private <= 1; private ++) {
            proto_subscription_t *in = s_subscription (full), *out = NULL;
            uint8_t *data;
            size_t size;
            assert_int_equal (proto_subscription_encode (in, private, &data, &size), 0);
            if (!private) {
                assert_null (memmem (data, size, "whsec_", 6));
                assert_null (memmem (data, size, "acme", 4));
            }
            assert_int_equal (proto_subscription_decode (data, size, &out), PROTO_OK);
            s_subscription_eq (in, out, private);
            if (!full) {
                assert_null (out->headers);
                assert_null (out->description);
                assert_false (out->enabled);
                assert_int_equal (out->rate_limit, 0);
            }
            free (data);
            proto_subscription_destroy (&in);
            proto_subscription_destroy (&out);
            assert_null (out);
        }
    }
    proto_subscription_t *none = NULL;
    proto_subscription_destroy (&none);
    proto_subscription_clear (NULL);
    /* clear releases a subscription held by value */
    proto_subscription_t held;
    memset (&held, 0, sizeof held);
    s_subscription_fill (&held, true);
    proto_subscription_clear (&held);
    assert_null (held.id);
    assert_null (held.secret);
    assert_null (held.headers);
    assert_int_equal (held.header_count, 0);
}

/* op with the full command fixture, the mutation applied; the decode result */
static proto_rc_t
s_command_op_mutated (proto_op_t op, const char *key, const char *subkey, const s_mut_t *m)
{
    proto_command_t *command = s_command (true);
    command->op = op;
    uint8_t *frame, *mutated;
    size_t size, mutated_size;
    assert_int_equal (proto_command_encode (command, &frame, &size), 0);
    proto_command_destroy (&command);
    mutated = s_mutate (frame, size, key, subkey, m, &mutated_size);
    proto_command_t *out = NULL;
    proto_rc_t rc = proto_command_decode (mutated, mutated_size, &out);
    assert_int_equal (out == NULL, rc != PROTO_OK);
    proto_command_destroy (&out);
    free (mutated);
    free (frame);
    return rc;
}

static void
test_command_subscription_ops (void **state)
{
    (void)state;
    s_mut_t drop = {.op = M_DROP};
    /* every op naming one thing needs its id */
    proto_op_t with_id[] = {PROTO_OP_GET,        PROTO_OP_CANCEL,     PROTO_OP_REPLAY,
                            PROTO_OP_SUB_GET,    PROTO_OP_SUB_DELETE, PROTO_OP_SUB_ROTATE,
                            PROTO_OP_SUB_UPDATE, PROTO_OP_EVENT_GET};
    for (size_t i = 0; i < sizeof (with_id) / sizeof (with_id[0]); i++)
        assert_int_equal (s_command_op_mutated (with_id[i], "id", NULL, &drop), PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_CREATE, "id", NULL, &drop), PROTO_OK);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_LIST, "id", NULL, &drop), PROTO_OK);
    /* the ops that carry a subscription need it, with what they use */
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_CREATE, "sub", NULL, &drop),
                      PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_CREATE, "sub", "tp", &drop),
                      PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_CREATE, "sub", "url", &drop),
                      PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_CREATE, "sub", "id", &drop), PROTO_OK);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_ROTATE, "sub", NULL, &drop),
                      PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_ROTATE, "sub", "sec", &drop),
                      PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_UPDATE, "sub", NULL, &drop),
                      PROTO_EMALFORMED);
    /* an update carries only some fields: a nested map requires nothing */
    const char *keys[] = {"id", "tp", "url", "sec", "en", "rl", "desc"};
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++)
        assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_UPDATE, "sub", keys[i], &drop),
                          PROTO_OK);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_LIST, "sub", NULL, &drop), PROTO_OK);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_LIST, "tp", NULL, &drop), PROTO_OK);
    /* "sub" is one map, never a list or a scalar */
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_LIST, "sub", NULL,
                                            &(s_mut_t){.op = M_FN, .fn = s_pack_items_not_maps}),
                      PROTO_EMALFORMED);
    assert_int_equal (
        s_command_op_mutated (PROTO_OP_SUB_LIST, "sub", NULL, &(s_mut_t){.op = M_UINT, .u = 1}),
        PROTO_EMALFORMED);
    assert_int_equal (s_command_op_mutated (PROTO_OP_SUB_LIST, "sub", "hd",
                                            &(s_mut_t){.op = M_FN, .fn = s_pack_nul_header}),
                      PROTO_EMALFORMED);

    /* the encoder refuses what the decoder would */
    uint8_t *data = (uint8_t *)"x";
    size_t size = 1;
    proto_command_t *command = s_command (true);
    command->op = PROTO_OP_SUB_ROTATE;
    free (command->subscription->secret);
    command->subscription->secret = NULL;
    assert_int_equal (proto_command_encode (command, &data, &size), -1);
    assert_null (data);
    command->op = PROTO_OP_SUB_CREATE;
    free (command->subscription->url);
    command->subscription->url = NULL;
    assert_int_equal (proto_command_encode (command, &data, &size), -1);
    proto_subscription_destroy (&command->subscription);
    command->op = PROTO_OP_SUB_UPDATE;
    assert_int_equal (proto_command_encode (command, &data, &size), -1);
    command->op = PROTO_OP_SUB_LIST;
    assert_int_equal (proto_command_encode (command, &data, &size), 0);
    free (data);
    proto_command_destroy (&command);
}

static void
test_record_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_record_t *in = s_record (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_record_encode (in, true, &data, &size), 0);
        assert_int_equal (proto_record_decode (data, size, &out), PROTO_OK);
        s_record_eq (in, out, true);
        free (data);
        proto_record_destroy (&out);
        proto_record_destroy (&in);
    }
    for (int st = PROTO_ST_SCHEDULED; st <= PROTO_ST_CANCELLED; st++) {
        proto_record_t *in = s_record (false), *out = NULL;
        in->status = (proto_status_t)st;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_record_encode (in, false, &data, &size), 0);
        assert_int_equal (proto_record_decode (data, size, &out), PROTO_OK);
        assert_int_equal (out->status, st);
        free (data);
        proto_record_destroy (&out);
        proto_record_destroy (&in);
    }
}

static void
test_record_public_view (void **state)
{
    (void)state;
    proto_record_t *in = s_record (true), *out = NULL;
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_record_encode (in, false, &data, &size), 0);
    /* none of the private bytes are on the wire */
    assert_null (memmem (data, size, "whsec_", 6));
    assert_null (memmem (data, size, "secret-payload", 14));
    assert_null (memmem (data, size, "X-Trace", 7));
    assert_null (memmem (data, size, "acme", 4));
    assert_null (memmem (data, size, "req-3", 5));
    assert_int_equal (proto_record_decode (data, size, &out), PROTO_OK);
    s_record_eq (in, out, false);
    free (data);
    proto_record_destroy (&out);
    proto_record_destroy (&in);
}

static void
test_reply_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_reply_t *in = s_reply (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_reply_encode (in, &data, &size), 0);
        /* records in a reply are public views */
        assert_null (memmem (data, size, "whsec_c2VjcmV0", 14));
        assert_null (memmem (data, size, "secret-payload", 14));
        /* ... while subscriptions keep their secrets for the ingress to decide */
        if (full)
            assert_non_null (memmem (data, size, "whsec_c3Vic2VjcmV0", 18));
        assert_int_equal (proto_reply_decode (data, size, &out), PROTO_OK);
        s_reply_eq (in, out);
        free (data);
        proto_reply_destroy (&in);
        proto_reply_destroy (&out);
    }
}

/* proto_frame_each's callback: counts in *arg, refuses past
 * PROTO_FRAME_MAX_MSGS (PROTO_ETYPE, so its refusal is told apart). */
static proto_rc_t
s_count_msg (void *arg, const uint8_t *msg, size_t len)
{
    size_t *seen = arg;
    assert_true (len > 0 && proto_check (msg, len) == PROTO_OK);
    if (*seen == PROTO_FRAME_MAX_MSGS)
        return PROTO_ETYPE;
    (*seen)++;
    return PROTO_OK;
}

/* A batched frame: dispatches and results appended whole come back, one by
 * one, through proto_split; the frame reports itself full at
 * PROTO_FRAME_MAX_MSGS; every cut short of a message boundary is refused
 * at the message it cuts, and a frame that is garbage after good messages
 * yields the good ones, then PROTO_EMALFORMED. */
static void
test_frame_batches (void **state)
{
    (void)state;
    proto_frame_t frame = {0};
    proto_dispatch_t *d = s_dispatch (true);
    proto_result_t *r = s_result (true);
    uint8_t *dd, *rd;
    size_t ds, rs;
    assert_int_equal (proto_dispatch_encode (d, &dd, &ds), 0);
    assert_int_equal (proto_result_encode (r, &rd, &rs), 0);
    for (size_t i = 0; i < PROTO_FRAME_MAX_MSGS; i++) {
        assert_false (proto_frame_full (&frame));
        assert_int_equal (proto_frame_add (&frame, i % 2 ? rd : dd, i % 2 ? rs : ds), 0);
    }
    assert_true (proto_frame_full (&frame));
    assert_int_equal (frame.count, PROTO_FRAME_MAX_MSGS);
    assert_int_equal (frame.size, (ds + rs) * PROTO_FRAME_MAX_MSGS / 2);
    /* one message at a time, each decoding to what was encoded */
    size_t off = 0, n = 0, len = 0;
    while (off < frame.size) {
        assert_int_equal (proto_split (frame.data + off, frame.size - off, &len), PROTO_OK);
        if (n % 2) {
            proto_result_t *out = NULL;
            assert_int_equal (len, rs);
            assert_int_equal (proto_result_decode (frame.data + off, len, &out), PROTO_OK);
            s_result_eq (r, out);
            proto_result_destroy (&out);
        }
        else {
            proto_dispatch_t *out = NULL;
            assert_int_equal (len, ds);
            assert_int_equal (proto_dispatch_decode (frame.data + off, len, &out), PROTO_OK);
            s_dispatch_eq (d, out);
            proto_dispatch_destroy (&out);
        }
        off += len;
        n++;
    }
    assert_int_equal (n, PROTO_FRAME_MAX_MSGS);
    /* proto_frame_each walks the same messages; one more is one too many,
     * and the callback's refusal ends the frame */
    size_t seen = 0;
    assert_int_equal (proto_frame_each (frame.data, frame.size, s_count_msg, &seen, &n), PROTO_OK);
    assert_int_equal (n, PROTO_FRAME_MAX_MSGS);
    assert_int_equal (seen, PROTO_FRAME_MAX_MSGS);
    assert_int_equal (proto_frame_add (&frame, dd, ds), 0);
    seen = 0;
    assert_int_equal (proto_frame_each (frame.data, frame.size, s_count_msg, &seen, &n),
                      PROTO_EMALFORMED);
    assert_int_equal (n, PROTO_FRAME_MAX_MSGS);
    frame.size -= ds;
    frame.count--;
    seen = PROTO_FRAME_MAX_MSGS - 3; /* s_count_msg refuses from the 4th call on */
    assert_int_equal (proto_frame_each (frame.data, frame.size, s_count_msg, &seen, &n),
                      PROTO_ETYPE);
    assert_int_equal (n, 3);
    assert_int_equal (proto_frame_each (frame.data, 0, s_count_msg, &seen, NULL), PROTO_EMALFORMED);
    /* a whole frame is not one message: its decoders refuse it */
    proto_dispatch_t *whole = NULL;
    assert_int_equal (proto_dispatch_decode (frame.data, frame.size, &whole), PROTO_EMALFORMED);
    assert_null (whole);
    /* cut inside the second message: the first splits, the rest does not */
    for (size_t cut = ds + 1; cut < ds + rs; cut++) {
        assert_int_equal (proto_split (frame.data, cut, &len), PROTO_OK);
        assert_int_equal (len, ds);
        assert_int_equal (proto_split (frame.data + ds, cut - ds, &len), PROTO_EMALFORMED);
        assert_int_equal (len, 0);
    }
    /* the reset frame is reused; a byte that is no msgpack ends it */
    proto_frame_reset (&frame);
    assert_int_equal (frame.count, 0);
    assert_int_equal (proto_frame_add (&frame, dd, ds), 0);
    static const uint8_t never_used[] = {0xc1};
    assert_int_equal (proto_frame_add (&frame, never_used, 1), 0);
    assert_int_equal (proto_split (frame.data, frame.size, &len), PROTO_OK);
    assert_int_equal (proto_split (frame.data + len, frame.size - len, &len), PROTO_EMALFORMED);
    /* nothing, or no bytes, is not a message */
    assert_int_equal (proto_split (NULL, 0, &len), PROTO_EMALFORMED);
    assert_int_equal (proto_split (frame.data, 0, &len), PROTO_EMALFORMED);
    /* a count the frame cannot back is refused before any allocation */
    static const uint8_t bomb[] = {0xdd, 0xff, 0x00, 0x00, 0x00};
    assert_int_equal (proto_split (bomb, sizeof bomb, &len), PROTO_EMALFORMED);
    proto_frame_free (&frame);
    assert_null (frame.data);
    free (dd);
    free (rd);
    proto_dispatch_destroy (&d);
    proto_result_destroy (&r);
}

static void
test_dispatch_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_dispatch_t *in = s_dispatch (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_dispatch_encode (in, &data, &size), 0);
        assert_int_equal (proto_dispatch_decode (data, size, &out), PROTO_OK);
        s_dispatch_eq (in, out);
        free (data);
        proto_dispatch_destroy (&in);
        proto_dispatch_destroy (&out);
    }
}

static void
test_result_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_result_t *in = s_result (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_result_encode (in, &data, &size), 0);
        assert_int_equal (proto_result_decode (data, size, &out), PROTO_OK);
        s_result_eq (in, out);
        free (data);
        proto_result_destroy (&in);
        proto_result_destroy (&out);
    }
    /* "ra" absent means no Retry-After: -1, not 0 */
    proto_result_t *out = NULL;
    uint8_t *frame, *mutated;
    size_t size, mutated_size;
    s_frame_result (true, &frame, &size);
    mutated = s_mutate (frame, size, "ra", NULL, &(s_mut_t){.op = M_DROP}, &mutated_size);
    assert_int_equal (proto_result_decode (mutated, mutated_size, &out), PROTO_OK);
    assert_int_equal (out->retry_after_ms, -1);
    assert_int_equal (out->status_code, 503);
    proto_result_destroy (&out);
    free (frame);
    free (mutated);
}

static void
test_heartbeat_round_trip (void **state)
{
    (void)state;
    for (int full = 0; full <= 1; full++) {
        proto_heartbeat_t *in = s_heartbeat (full), *out = NULL;
        uint8_t *data;
        size_t size;
        assert_int_equal (proto_heartbeat_encode (in, &data, &size), 0);
        assert_int_equal (proto_heartbeat_decode (data, size, &out), PROTO_OK);
        s_heartbeat_eq (in, out);
        free (data);
        proto_heartbeat_destroy (&in);
        proto_heartbeat_destroy (&out);
    }
}

/* --- the wire layout: exactly the documented keys ------------------------ */

static void
s_assert_keys (const msgpack_object *map, const char *keys)
{
    assert_int_equal (map->type, MSGPACK_OBJECT_MAP);
    assert_int_equal (map->via.map.size, s_word_count (keys));
    for (size_t k = 0; k < map->via.map.size; k++) {
        const msgpack_object *key = &map->via.map.ptr[k].key;
        assert_int_equal (key->type, MSGPACK_OBJECT_STR);
        if (!s_word_in (key->via.str.ptr, key->via.str.size, keys))
            fail_msg ("unexpected key %.*s", (int)key->via.str.size, key->via.str.ptr);
    }
}

static const msgpack_object *
s_lookup (const msgpack_object *map, const char *key)
{
    for (size_t k = 0; k < map->via.map.size; k++)
        if (s_key_is (&map->via.map.ptr[k].key, key))
            return &map->via.map.ptr[k].val;
    fail_msg ("no key %s", key);
    return NULL;
}

static void
test_wire_keys (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        uint8_t *frame;
        size_t size;
        s_codecs[c].frame (true, &frame, &size);
        msgpack_unpacked unpacked;
        msgpack_unpacked_init (&unpacked);
        size_t offset = 0;
        assert_int_equal (msgpack_unpack_next (&unpacked, (const char *)frame, size, &offset),
                          MSGPACK_UNPACK_SUCCESS);
        s_assert_keys (&unpacked.data, s_codecs[c].keys);
        /* "t" and "v" lead, so a reader can branch early */
        assert_true (s_key_is (&unpacked.data.via.map.ptr[0].key, "t"));
        assert_true (s_key_is (&unpacked.data.via.map.ptr[1].key, "v"));
        assert_int_equal (s_lookup (&unpacked.data, "v")->via.u64, PROTO_VERSION);
        for (size_t n = 0; n < sizeof (s_nested) / sizeof (s_nested[0]); n++) {
            if (s_nested[n].codec != c)
                continue;
            const msgpack_object *nested = s_lookup (&unpacked.data, s_nested[n].key);
            if (nested->type == MSGPACK_OBJECT_MAP) {
                s_assert_keys (nested, s_nested[n].keys);
                continue;
            }
            assert_int_equal (nested->type, MSGPACK_OBJECT_ARRAY);
            s_assert_keys (&nested->via.array.ptr[0], s_nested[n].keys);
        }
        msgpack_unpacked_destroy (&unpacked);
        free (frame);
    }
}

/* --- required keys, wrong types, duplicates ------------------------------ */

static void
s_check_keys (const s_codec_t *c, const char *key, const char *keys, const char *required)
{
    for (const char *p = keys; *p;) {
        size_t n = strcspn (p, " ");
        char word[32];
        assert_true (n < sizeof word);
        memcpy (word, p, n);
        word[n] = '\0';
        p += n;
        while (*p == ' ')
            p++;
        bool req = s_word_in (word, n, required);
        const char *top = key ? key : word;
        const char *sub = key ? word : NULL;
        proto_rc_t want = req ? PROTO_EMALFORMED : PROTO_OK;
        if (s_decode_mutated (c, top, sub, &(s_mut_t){.op = M_DROP}) != want)
            fail_msg ("%s: dropping %s.%s", c->type, top, sub ? sub : "");
        if (s_decode_mutated (c, top, sub, &(s_mut_t){.op = M_NIL}) != want)
            fail_msg ("%s: nil %s.%s", c->type, top, sub ? sub : "");
        if (s_decode_mutated (c, top, sub, &(s_mut_t){.op = M_FLOAT}) != PROTO_EMALFORMED)
            fail_msg ("%s: float %s.%s", c->type, top, sub ? sub : "");
        if (s_decode_mutated (c, top, sub, &(s_mut_t){.op = M_EXT}) != PROTO_EMALFORMED)
            fail_msg ("%s: ext %s.%s", c->type, top, sub ? sub : "");
        if (s_decode_mutated (c, top, sub, &(s_mut_t){.op = M_DUP}) != PROTO_EMALFORMED)
            fail_msg ("%s: duplicate %s.%s", c->type, top, sub ? sub : "");
    }
}

static void
test_required_and_types (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++)
        s_check_keys (&s_codecs[c], NULL, s_codecs[c].keys, s_codecs[c].required);
    for (size_t n = 0; n < sizeof (s_nested) / sizeof (s_nested[0]); n++)
        s_check_keys (&s_codecs[s_nested[n].codec], s_nested[n].key, s_nested[n].keys,
                      s_nested[n].required);
}

static void
test_values (void **state)
{
    (void)state;
    const s_codec_t *submit = s_codec ("submit"), *command = s_codec ("command"),
                    *record = s_codec ("record"), *reply = s_codec ("reply"),
                    *dispatch = s_codec ("dispatch"), *result = s_codec ("result"),
                    *heartbeat = s_codec ("heartbeat");
    struct {
        const s_codec_t *c;
        const char *key, *subkey;
        s_mut_t m;
        proto_rc_t want;
    } cases[] = {
        /* integers within their C type */
        {reply, "st", NULL, {.op = M_UINT, .u = 65535}, PROTO_OK},
        {reply, "st", NULL, {.op = M_UINT, .u = 65536}, PROTO_EMALFORMED},
        {reply, "st", NULL, {.op = M_INT, .i = -1}, PROTO_EMALFORMED},
        {reply, "rl", NULL, {.op = M_UINT, .u = UINT32_MAX}, PROTO_OK},
        {reply, "rl", NULL, {.op = M_UINT, .u = (uint64_t)UINT32_MAX + 1}, PROTO_EMALFORMED},
        {reply, "rr", NULL, {.op = M_INT, .i = -1}, PROTO_EMALFORMED},
        {reply, "ra", NULL, {.op = M_STR, .bytes = "1", .len = 1}, PROTO_EMALFORMED},
        {reply, "rs", NULL, {.op = M_INT, .i = -5}, PROTO_OK},
        {result, "att", NULL, {.op = M_UINT, .u = UINT32_MAX}, PROTO_OK},
        {result, "att", NULL, {.op = M_UINT, .u = (uint64_t)UINT32_MAX + 1}, PROTO_EMALFORMED},
        {result, "ra", NULL, {.op = M_INT, .i = INT64_MIN}, PROTO_OK},
        {heartbeat, "at", NULL, {.op = M_UINT, .u = (uint64_t)INT64_MAX}, PROTO_OK},
        {heartbeat, "at", NULL, {.op = M_UINT, .u = (uint64_t)INT64_MAX + 1}, PROTO_EMALFORMED},
        {submit, "corr", NULL, {.op = M_UINT, .u = UINT64_MAX}, PROTO_OK},
        {submit, "corr", NULL, {.op = M_INT, .i = -5}, PROTO_EMALFORMED},
        {submit, "items", "ma", {.op = M_INT, .i = -1}, PROTO_EMALFORMED},
        {record, "hist", "sc", {.op = M_UINT, .u = 70000}, PROTO_EMALFORMED},
        /* enums within their range */
        {command, "op", NULL, {.op = M_UINT, .u = 0}, PROTO_EMALFORMED},
        {command, "op", NULL, {.op = M_UINT, .u = PROTO_OP_EVENT_GET + 1}, PROTO_EMALFORMED},
        {command, "op", NULL, {.op = M_UINT, .u = PROTO_OP_EVENT_GET}, PROTO_OK},
        {command, "op", NULL, {.op = M_UINT, .u = PROTO_OP_CANCEL}, PROTO_OK},
        {record, "st", NULL, {.op = M_UINT, .u = 0}, PROTO_EMALFORMED},
        {record, "st", NULL, {.op = M_UINT, .u = PROTO_ST_CANCELLED + 1}, PROTO_EMALFORMED},
        {record, "st", NULL, {.op = M_INT, .i = -1}, PROTO_EMALFORMED},
        {s_codec ("subscription"),
         "rl",
         NULL,
         {.op = M_UINT, .u = (uint64_t)UINT32_MAX + 1},
         PROTO_EMALFORMED},
        {s_codec ("subscription"), "en", NULL, {.op = M_UINT, .u = 1}, PROTO_EMALFORMED},
        {s_codec ("subscription"),
         "tp",
         NULL,
         {.op = M_STR, .bytes = "a\0", .len = 2},
         PROTO_EMALFORMED},
        {s_codec ("subscription"),
         "hd",
         NULL,
         {.op = M_FN, .fn = s_pack_bad_header},
         PROTO_EMALFORMED},
        {reply, "subs", NULL, {.op = M_FN, .fn = s_pack_items_not_maps}, PROTO_EMALFORMED},
        {reply, "subs", "sec", {.op = M_UINT, .u = 1}, PROTO_EMALFORMED},
        {record, "ok", NULL, {.op = M_UINT, .u = 1}, PROTO_EMALFORMED},
        /* booleans are booleans */
        {heartbeat, "ready", NULL, {.op = M_UINT, .u = 1}, PROTO_EMALFORMED},
        {reply, "rp", NULL, {.op = M_STR, .bytes = "true", .len = 4}, PROTO_EMALFORMED},
        /* strings: str or bin, never with NUL, never an integer */
        {dispatch, "url", NULL, {.op = M_BIN, .bytes = "http://a/", .len = 9}, PROTO_OK},
        {dispatch,
         "url",
         NULL,
         {.op = M_STR, .bytes = "http://a/\0x", .len = 11},
         PROTO_EMALFORMED},
        {dispatch, "url", NULL, {.op = M_BIN, .bytes = "\0", .len = 1}, PROTO_EMALFORMED},
        {dispatch, "url", NULL, {.op = M_UINT, .u = 1}, PROTO_EMALFORMED},
        {dispatch, "url", NULL, {.op = M_STR, .bytes = "", .len = 0}, PROTO_OK},
        {submit, "items", "id", {.op = M_STR, .bytes = "m\0", .len = 2}, PROTO_EMALFORMED},
        {record, "hist", "body", {.op = M_BIN, .bytes = "a\0b", .len = 3}, PROTO_EMALFORMED},
        /* bytes: bin or str, NUL allowed */
        {dispatch, "pl", NULL, {.op = M_STR, .bytes = "{}", .len = 2}, PROTO_OK},
        {dispatch, "pl", NULL, {.op = M_BIN, .bytes = "a\0b", .len = 3}, PROTO_OK},
        {dispatch, "pl", NULL, {.op = M_UINT, .u = 3}, PROTO_EMALFORMED},
        /* idempotency hash: exactly 32 bytes */
        {submit,
         "ih",
         NULL,
         {.op = M_BIN, .bytes = "0123456789abcdef0123456789abcdef", .len = 32},
         PROTO_OK},
        {submit,
         "ih",
         NULL,
         {.op = M_BIN, .bytes = "0123456789abcdef0123456789abcde", .len = 31},
         PROTO_EMALFORMED},
        /* lists */
        {dispatch, "hd", NULL, {.op = M_FN, .fn = s_pack_bad_header}, PROTO_EMALFORMED},
        {dispatch, "hd", NULL, {.op = M_FN, .fn = s_pack_nul_header}, PROTO_EMALFORMED},
        {reply, "stats", NULL, {.op = M_FN, .fn = s_pack_bad_stats}, PROTO_EMALFORMED},
        {submit, "items", NULL, {.op = M_FN, .fn = s_pack_items_not_maps}, PROTO_EMALFORMED},
        {reply, "recs", NULL, {.op = M_FN, .fn = s_pack_items_not_maps}, PROTO_EMALFORMED},
        /* "t" and "v" */
        {heartbeat, "v", NULL, {.op = M_UINT, .u = 2}, PROTO_EVERSION},
        {heartbeat, "v", NULL, {.op = M_UINT, .u = 0}, PROTO_EVERSION},
        {heartbeat, "v", NULL, {.op = M_INT, .i = -1}, PROTO_EVERSION},
        {heartbeat, "v", NULL, {.op = M_STR, .bytes = "1", .len = 1}, PROTO_EMALFORMED},
        {heartbeat, "t", NULL, {.op = M_STR, .bytes = "heartbeats", .len = 10}, PROTO_ETYPE},
        {heartbeat, "t", NULL, {.op = M_STR, .bytes = "heartbeat\0", .len = 10}, PROTO_ETYPE},
        {heartbeat, "t", NULL, {.op = M_BIN, .bytes = "heartbeat", .len = 9}, PROTO_OK},
        {heartbeat, "t", NULL, {.op = M_UINT, .u = 6}, PROTO_EMALFORMED},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        proto_rc_t rc = s_decode_mutated (cases[i].c, cases[i].key, cases[i].subkey, &cases[i].m);
        if (rc != cases[i].want)
            fail_msg ("case %zu (%s.%s): got %s, want %s", i, cases[i].c->type, cases[i].key,
                      proto_strerror (rc), proto_strerror (cases[i].want));
    }
}

static void
test_values_decoded (void **state)
{
    (void)state;
    /* accepted alternative encodings decode to the expected values */
    uint8_t *frame, *mutated;
    size_t size, mutated_size;
    s_frame_dispatch (true, &frame, &size);
    mutated = s_mutate (frame, size, "pl", NULL, &(s_mut_t){.op = M_STR, .bytes = "a\0b", .len = 3},
                        &mutated_size);
    proto_dispatch_t *dispatch = NULL;
    assert_int_equal (proto_dispatch_decode (mutated, mutated_size, &dispatch), PROTO_OK);
    s_bytes_eq (dispatch->payload, dispatch->payload_size, (const uint8_t *)"a\0b", 3);
    proto_dispatch_destroy (&dispatch);
    free (mutated);
    mutated = s_mutate (frame, size, "url", NULL,
                        &(s_mut_t){.op = M_BIN, .bytes = "http://a/", .len = 9}, &mutated_size);
    assert_int_equal (proto_dispatch_decode (mutated, mutated_size, &dispatch), PROTO_OK);
    assert_string_equal (dispatch->url, "http://a/");
    proto_dispatch_destroy (&dispatch);
    free (mutated);
    free (frame);

    s_frame_heartbeat (true, &frame, &size);
    mutated =
        s_mutate (frame, size, "at", NULL, &(s_mut_t){.op = M_INT, .i = INT64_MIN}, &mutated_size);
    proto_heartbeat_t *hb = NULL;
    assert_int_equal (proto_heartbeat_decode (mutated, mutated_size, &hb), PROTO_OK);
    assert_true (hb->at_ms == INT64_MIN);
    proto_heartbeat_destroy (&hb);
    free (mutated);
    free (frame);
}

/* --- unknown keys -------------------------------------------------------- */

static void
s_pack_unknown (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 3);
    msgpack_pack_str_with_body (pk, "t", 1); /* not the frame's "t" */
    msgpack_pack_str_with_body (pk, "dispatch", 8);
    msgpack_pack_str_with_body (pk, "list", 4);
    msgpack_pack_array (pk, 4);
    msgpack_pack_double (pk, 2.5);
    msgpack_pack_nil (pk);
    msgpack_pack_ext_with_body (pk, "\x01\x02", 2, 5);
    msgpack_pack_bin_with_body (pk, "\0\0", 2);
    msgpack_pack_int (pk, -3);
    msgpack_pack_true (pk);
}

static void
test_unknown_keys_ignored (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        s_mut_t add = {.op = M_ADD, .fn = s_pack_unknown, .add_key = "zz_future"};
        if (s_decode_mutated (&s_codecs[c], NULL, NULL, &add) != PROTO_OK)
            fail_msg ("%s: unknown key refused", s_codecs[c].type);
        add.add_key = NULL; /* integer key */
        if (s_decode_mutated (&s_codecs[c], NULL, NULL, &add) != PROTO_OK)
            fail_msg ("%s: integer key refused", s_codecs[c].type);
    }
    for (size_t n = 0; n < sizeof (s_nested) / sizeof (s_nested[0]); n++) {
        s_mut_t add = {.op = M_ADD, .fn = s_pack_unknown, .add_key = "zz"};
        assert_int_equal (
            s_decode_mutated (&s_codecs[s_nested[n].codec], s_nested[n].key, "", &add), PROTO_OK);
    }
    /* and the known fields still decode */
    uint8_t *frame, *mutated;
    size_t size, mutated_size;
    s_frame_submit (true, &frame, &size);
    mutated =
        s_mutate (frame, size, NULL, NULL,
                  &(s_mut_t){.op = M_ADD, .fn = s_pack_unknown, .add_key = "zz"}, &mutated_size);
    proto_submit_t *in = s_submit (true), *out = NULL;
    assert_int_equal (proto_submit_decode (mutated, mutated_size, &out), PROTO_OK);
    s_submit_eq (in, out);
    proto_submit_destroy (&in);
    proto_submit_destroy (&out);
    free (frame);
    free (mutated);
}

/* --- wrong type and version ---------------------------------------------- */

static void
test_wrong_type (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        uint8_t *frame;
        size_t size;
        s_codecs[c].frame (true, &frame, &size);
        for (size_t d = 0; d < S_CODECS; d++) {
            proto_rc_t rc = s_codecs[d].decode (frame, size);
            if (rc != (c == d ? PROTO_OK : PROTO_ETYPE))
                fail_msg ("%s frame to %s decoder: %s", s_codecs[c].type, s_codecs[d].type,
                          proto_strerror (rc));
        }
        free (frame);
    }
}

static void
test_version_refused (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        s_mut_t v2 = {.op = M_UINT, .u = PROTO_VERSION + 1};
        assert_int_equal (s_decode_mutated (&s_codecs[c], "v", NULL, &v2), PROTO_EVERSION);
        s_mut_t big = {.op = M_UINT, .u = UINT64_MAX};
        assert_int_equal (s_decode_mutated (&s_codecs[c], "v", NULL, &big), PROTO_EVERSION);
        s_mut_t drop = {.op = M_DROP};
        assert_int_equal (s_decode_mutated (&s_codecs[c], "v", NULL, &drop), PROTO_EMALFORMED);
    }
}

/* --- malformed frames ---------------------------------------------------- */

static void
s_refused_everywhere (const uint8_t *data, size_t size)
{
    assert_int_equal (proto_check (data, size), PROTO_EMALFORMED);
    assert_int_equal (proto_peek_type (data, size), PROTO_T_UNKNOWN);
    for (size_t c = 0; c < S_CODECS; c++)
        assert_int_equal (s_codecs[c].decode (data, size), PROTO_EMALFORMED);
}

static void
test_truncations (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        for (int full = 0; full <= 1; full++) {
            uint8_t *frame;
            size_t size;
            s_codecs[c].frame (full, &frame, &size);
            for (size_t len = 0; len < size; len++) {
                /* a heap copy of exactly len bytes: ASan sees any overread */
                uint8_t *prefix = malloc (len ? len : 1);
                assert_non_null (prefix);
                memcpy (prefix, frame, len);
                s_refused_everywhere (len ? prefix : NULL, len);
                s_refused_everywhere (prefix, len);
                free (prefix);
            }
            free (frame);
        }
    }
}

static void
test_count_bombs (void **state)
{
    (void)state;
    static const uint8_t bombs[][5] = {
        {0xdd, 0xff, 0x00, 0x00, 0x00}, /* array32, 4278190080 elements (issue 1013) */
        {0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32, 4294967295 pairs */
        {0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 of 4 GiB */
        {0xdb, 0x7f, 0xff, 0xff, 0xff}, /* str32 of 2 GiB */
        {0xc9, 0xff, 0xff, 0xff, 0xff}, /* ext32 of 4 GiB */
    };
    for (size_t i = 0; i < sizeof (bombs) / sizeof (bombs[0]); i++)
        s_refused_everywhere (bombs[i], 5);
    /* the same inside an otherwise plausible map */
    static const uint8_t inner[] = {0x83, 0xa1, 't',  0xa6, 'r', 'e',  's',  'u',  'l',  't', 0xa1,
                                    'v',  0x01, 0xa2, 'i',  'd', 0xdd, 0x00, 0xff, 0xff, 0xff};
    s_refused_everywhere (inner, sizeof inner);
    /* a count that fits the bytes left only if no sibling follows */
    static const uint8_t siblings[] = {0x92, 0x93, 0x01, 0x02, 0x03};
    s_refused_everywhere (siblings, sizeof siblings);
}

/* A seeded garbage frame of up to cap - 1 bytes into buf; odd rounds start
 * as a fixmap, to get further into the decoders. Returns its length. */
static size_t
s_garbage_frame (uint8_t *buf, size_t cap, int round)
{
    size_t len = (size_t)(s_random () % cap);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)s_random ();
    if (len && round % 2)
        buf[0] = (uint8_t)(0x80 | (buf[0] & 0x0f));
    return len;
}

static void
test_garbage (void **state)
{
    (void)state;
    s_rng = 0x243f6a8885a308d3ull;
    uint8_t buf[96];
    for (int round = 0; round < 3000; round++) {
        size_t len = s_garbage_frame (buf, sizeof buf, round);
        for (size_t c = 0; c < S_CODECS; c++)
            assert_int_not_equal (s_codecs[c].decode (len ? buf : NULL, len), PROTO_OK);
        proto_check (buf, len);
        proto_peek_type (buf, len);
    }
    /* byte flips of valid frames: anything may come back, nothing may crash or leak */
    for (size_t c = 0; c < S_CODECS; c++) {
        uint8_t *frame;
        size_t size;
        s_codecs[c].frame (true, &frame, &size);
        uint8_t *copy = malloc (size);
        assert_non_null (copy);
        for (int round = 0; round < 1500; round++) {
            memcpy (copy, frame, size);
            int flips = 1 + (int)(s_random () % 3);
            for (int f = 0; f < flips; f++)
                copy[s_random () % size] = (uint8_t)s_random ();
            for (size_t d = 0; d < S_CODECS; d++)
                s_codecs[d].decode (copy, size);
            proto_peek_type (copy, size);
        }
        free (copy);
        free (frame);
    }
}

/* --- allocations bounded by the frame size ------------------------------- */

/* Each frame is decoded in a forked child under RLIMIT_AS = the child's
 * address space just before + S_ALLOW (size): a decoder that allocates by a
 * count or length it read (2 GiB for the 5 bytes of a str32 bomb) gets NULL
 * and answers PROTO_ENOMEM instead of PROTO_EMALFORMED, or dies; a decoder
 * that checks counts against the bytes present needs a few zone chunks and
 * objects. The slack covers malloc growing its heap in steps (glibc pads
 * brk by 128 KiB) and msgpack's first 8 KiB zone chunk; ASan's allocator
 * maps its own bookkeeping in larger steps, so it gets more. The soft limit
 * only is set, so it can be moved up and down between frames. */
#if defined(__SANITIZE_ADDRESS__)
#define S_ALLOW_SLACK ((size_t)64 << 20)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ALLOW_SLACK ((size_t)64 << 20)
#endif
#endif
#ifndef S_ALLOW_SLACK
#define S_ALLOW_SLACK ((size_t)1 << 20)
#endif
#define S_ALLOW(size) (S_ALLOW_SLACK + 64 * (size_t)(size))

/* Address space of this process now, in bytes (/proc/self/statm, without
 * stdio: no allocation); 0 when unreadable. */
static size_t
s_vm_bytes (void)
{
    char buf[128];
    int fd = open ("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *end = NULL;
    unsigned long long pages = strtoull (buf, &end, 10);
    long page = sysconf (_SC_PAGESIZE);
    return end != buf && page > 0 ? (size_t)pages * (size_t)page : 0;
}

/* Caps the address space at now + extra bytes; 0 or -1. */
static int
s_cap (size_t extra)
{
    size_t base = s_vm_bytes ();
    struct rlimit rl;
    if (!base || getrlimit (RLIMIT_AS, &rl) != 0)
        return -1;
    rl.rlim_cur = (rlim_t)(base + extra);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        return -1;
    return setrlimit (RLIMIT_AS, &rl);
}

/* The cap is real: one mapping of just over it is refused. */
static int
s_cap_holds (size_t extra)
{
    size_t len = extra + ((size_t)1 << 20);
    void *p = mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno == ENOMEM;
    munmap (p, len);
    return 0;
}

typedef enum {
    S_WANT_MALFORMED, /* every decoder and proto_check: PROTO_EMALFORMED */
    S_WANT_REFUSED, /* every decoder: an error other than PROTO_ENOMEM */
    S_WANT_NO_ENOMEM, /* anything but PROTO_ENOMEM (byte flips may decode) */
    S_WANT_OWN_OK, /* a valid frame: its own decoder says PROTO_OK */
} s_want_t;

/* In the child: caps, decodes with every decoder, checks; 0 or -1 (said on
 * stderr: the child cannot use cmocka's asserts). */
static int
s_bounded (const char *what, const uint8_t *data, size_t size, s_want_t want, size_t own)
{
    size_t allow = S_ALLOW (size);
    if (s_cap (allow) != 0) {
        fprintf (stderr, "proto alloc bound: cannot cap the address space (%s)\n", what);
        return -1;
    }
    if (!s_cap_holds (allow)) {
        fprintf (stderr, "proto alloc bound: a mapping over the cap was allowed (%s)\n", what);
        return -1;
    }
    if (want == S_WANT_MALFORMED && proto_check (data, size) != PROTO_EMALFORMED) {
        fprintf (stderr, "proto alloc bound: proto_check accepted %s\n", what);
        return -1;
    }
    for (size_t c = 0; c < S_CODECS; c++) {
        if (want == S_WANT_OWN_OK && c != own)
            continue;
        proto_rc_t rc = s_codecs[c].decode (data, size);
        bool ok;
        switch (want) {
        case S_WANT_MALFORMED:
            ok = rc == PROTO_EMALFORMED;
            break;
        case S_WANT_REFUSED:
            ok = rc != PROTO_OK && rc != PROTO_ENOMEM;
            break;
        case S_WANT_NO_ENOMEM:
            ok = rc != PROTO_ENOMEM;
            break;
        default:
            ok = rc == PROTO_OK;
            break;
        }
        if (!ok) {
            fprintf (stderr,
                     "proto alloc bound: %s (%zu bytes) to the %s decoder under a cap of "
                     "%zu bytes: %s\n",
                     what, size, s_codecs[c].type, allow, proto_strerror (rc));
            return -1;
        }
    }
    return 0;
}

static int
s_bounded_all (uint8_t **valid, size_t *valid_size)
{
    static const uint8_t bombs[][5] = {
        {0xdd, 0xff, 0x00, 0x00, 0x00}, /* array32, 4278190080 elements (issue 1013) */
        {0xdf, 0xff, 0xff, 0xff, 0xff}, /* map32, 4294967295 pairs */
        {0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 of 4 GiB */
        {0xdb, 0x7f, 0xff, 0xff, 0xff}, /* str32 of 2 GiB */
        {0xc9, 0xff, 0xff, 0xff, 0xff}, /* ext32 of 4 GiB */
        {0xdc, 0xff, 0xff, 0x00, 0x00}, /* array16, 65535 elements */
        {0xde, 0xff, 0xff, 0x00, 0x00}, /* map16, 65535 pairs */
    };
    for (size_t i = 0; i < sizeof (bombs) / sizeof (bombs[0]); i++) {
        char what[32];
        snprintf (what, sizeof what, "count bomb %zu", i);
        if (s_bounded (what, bombs[i], 5, S_WANT_MALFORMED, 0))
            return -1;
    }
    /* a bomb behind a plausible header, and one per level of nesting */
    static const uint8_t inner[] = {0x83, 0xa1, 't',  0xa6, 'r', 'e',  's',  'u',  'l',  't', 0xa1,
                                    'v',  0x01, 0xa2, 'i',  'd', 0xdd, 0x00, 0xff, 0xff, 0xff};
    if (s_bounded ("bomb inside a result map", inner, sizeof inner, S_WANT_MALFORMED, 0))
        return -1;
    static const uint8_t nested[] = {0x91, 0x91, 0x91, 0xdf, 0xff, 0xff, 0xff, 0xff};
    if (s_bounded ("map32 bomb three arrays deep", nested, sizeof nested, S_WANT_MALFORMED, 0))
        return -1;
    /* each bomb as the value of an extra (unknown) key of every valid frame:
     * the frame map's count claims one more pair, "zz" => bomb */
    for (size_t c = 0; c < S_CODECS; c++) {
        size_t size = valid_size[c];
        uint8_t *buf = malloc (size + 8);
        if (!buf)
            return -1;
        for (size_t i = 0; i < sizeof (bombs) / sizeof (bombs[0]); i++) {
            memcpy (buf, valid[c], size);
            if ((buf[0] & 0xf0) == 0x80 && (buf[0] & 0x0f) < 0x0f)
                buf[0]++;
            else if (buf[0] == 0xde && size >= 3 && (buf[1] != 0xff || buf[2] != 0xff)) {
                unsigned n = ((unsigned)buf[1] << 8 | buf[2]) + 1;
                buf[1] = (uint8_t)(n >> 8);
                buf[2] = (uint8_t)n;
            }
            else {
                fprintf (stderr, "proto alloc bound: %s frame is not a fixmap/map16\n",
                         s_codecs[c].type);
                free (buf);
                return -1;
            }
            buf[size] = 0xa2;
            buf[size + 1] = 'z';
            buf[size + 2] = 'z';
            memcpy (buf + size + 3, bombs[i], 5);
            char what[64];
            snprintf (what, sizeof what, "%s frame + bomb %zu", s_codecs[c].type, i);
            if (s_bounded (what, buf, size + 8, S_WANT_MALFORMED, c)) {
                free (buf);
                return -1;
            }
        }
        free (buf);
    }
    /* valid frames still decode under the cap: the allowance is not so
     * small that anything would fail */
    for (size_t c = 0; c < S_CODECS; c++)
        if (s_bounded (s_codecs[c].type, valid[c], valid_size[c], S_WANT_OWN_OK, c))
            return -1;
    /* seeded garbage, half of it starting as a map */
    s_rng = 0x13198a2e03707344ull;
    uint8_t gbuf[96];
    for (int round = 0; round < 2000; round++) {
        size_t len = s_garbage_frame (gbuf, sizeof gbuf, round);
        if (len && s_bounded ("garbage", gbuf, len, S_WANT_REFUSED, 0))
            return -1;
    }
    /* byte flips of valid frames */
    for (size_t c = 0; c < S_CODECS; c++) {
        size_t size = valid_size[c];
        uint8_t *copy = malloc (size);
        if (!copy)
            return -1;
        for (int round = 0; round < 300; round++) {
            memcpy (copy, valid[c], size);
            int flips = 1 + (int)(s_random () % 3);
            for (int f = 0; f < flips; f++)
                copy[s_random () % size] = (uint8_t)s_random ();
            if (s_bounded ("byte flips", copy, size, S_WANT_NO_ENOMEM, 0)) {
                free (copy);
                return -1;
            }
        }
        free (copy);
    }
    return 0;
}

static void
test_alloc_bounded (void **state)
{
    (void)state;
    /* frames built here, with cmocka's asserts; the child only decodes */
    uint8_t *valid[S_CODECS];
    size_t valid_size[S_CODECS];
    for (size_t c = 0; c < S_CODECS; c++)
        s_codecs[c].frame (true, &valid[c], &valid_size[c]);
    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0)
        /* _exit: no atexit handlers (cmocka's, LeakSanitizer's) in the child;
         * leaks of these decoders are the parent's tests' business */
        _exit (s_bounded_all (valid, valid_size) == 0 ? 0 : 1);
    int status = 0;
    pid_t waited;
    do
        waited = waitpid (pid, &status, 0);
    while (waited < 0 && errno == EINTR);
    for (size_t c = 0; c < S_CODECS; c++)
        free (valid[c]);
    assert_int_equal (waited, pid);
    if (WIFSIGNALED (status))
        fail_msg ("the capped decoding child died of signal %d", WTERMSIG (status));
    assert_true (WIFEXITED (status));
    if (WEXITSTATUS (status) != 0)
        fail_msg ("a decoder needed more memory than the frame allows (see stderr)");
}

static void
test_depth (void **state)
{
    (void)state;
    /* n nested arrays: depth n */
    uint8_t deep[PROTO_MAX_DEPTH + 2];
    for (size_t n = 1; n <= PROTO_MAX_DEPTH + 1; n++) {
        memset (deep, 0x91, n - 1);
        deep[n - 1] = 0x90;
        proto_rc_t want = n <= PROTO_MAX_DEPTH ? PROTO_OK : PROTO_EMALFORMED;
        assert_int_equal (proto_check (deep, n), want);
    }
    /* far deeper: refused without recursion or overflow */
    size_t huge = 100000;
    uint8_t *very = malloc (huge);
    assert_non_null (very);
    memset (very, 0x91, huge - 1);
    very[huge - 1] = 0xc0;
    s_refused_everywhere (very, huge);
    free (very);
}

static int s_nest_levels;

static void
s_pack_nested (msgpack_packer *pk)
{
    for (int i = 0; i < s_nest_levels - 1; i++)
        msgpack_pack_array (pk, 1);
    msgpack_pack_array (pk, 0);
}

static void
test_depth_in_frame (void **state)
{
    (void)state;
    /* the frame map is level 1: an unknown key may hold PROTO_MAX_DEPTH - 1 more */
    for (size_t c = 0; c < S_CODECS; c++) {
        s_mut_t add = {.op = M_ADD, .fn = s_pack_nested, .add_key = "zz"};
        s_nest_levels = PROTO_MAX_DEPTH - 1;
        assert_int_equal (s_decode_mutated (&s_codecs[c], NULL, NULL, &add), PROTO_OK);
        s_nest_levels = PROTO_MAX_DEPTH;
        assert_int_equal (s_decode_mutated (&s_codecs[c], NULL, NULL, &add), PROTO_EMALFORMED);
    }
}

static void
test_trailing_bytes (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        uint8_t *frame;
        size_t size;
        s_codecs[c].frame (true, &frame, &size);
        uint8_t *longer = malloc (2 * size);
        assert_non_null (longer);
        memcpy (longer, frame, size);
        longer[size] = 0xc0;
        s_refused_everywhere (longer, size + 1);
        memcpy (longer + size, frame, size); /* two frames in one */
        s_refused_everywhere (longer, 2 * size);
        free (longer);
        free (frame);
    }
}

/* --- proto_check and proto_peek_type directly ---------------------------- */

static uint8_t *
s_pack_all_types (size_t *size)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    static char big[70000];
    memset (big, 'x', sizeof big);
    msgpack_pack_array (&pk, 29);
    msgpack_pack_nil (&pk);
    msgpack_pack_true (&pk);
    msgpack_pack_false (&pk);
    msgpack_pack_fix_uint8 (&pk, 1);
    msgpack_pack_fix_uint16 (&pk, 1);
    msgpack_pack_fix_uint32 (&pk, 1);
    msgpack_pack_fix_uint64 (&pk, 1);
    msgpack_pack_fix_int8 (&pk, -1);
    msgpack_pack_fix_int16 (&pk, -1);
    msgpack_pack_fix_int32 (&pk, -1);
    msgpack_pack_fix_int64 (&pk, -1);
    msgpack_pack_float (&pk, 1.0f);
    msgpack_pack_double (&pk, 1.0);
    msgpack_pack_str_with_body (&pk, big, 5); /* fixstr */
    msgpack_pack_str_with_body (&pk, big, 200); /* str8 */
    msgpack_pack_str_with_body (&pk, big, 300); /* str16 */
    msgpack_pack_str_with_body (&pk, big, 70000); /* str32 */
    msgpack_pack_bin_with_body (&pk, big, 10); /* bin8 */
    msgpack_pack_bin_with_body (&pk, big, 300); /* bin16 */
    msgpack_pack_bin_with_body (&pk, big, 70000); /* bin32 */
    msgpack_pack_ext_with_body (&pk, big, 1, 1); /* fixext 1 */
    msgpack_pack_ext_with_body (&pk, big, 16, 1); /* fixext 16 */
    msgpack_pack_ext_with_body (&pk, big, 3, 1); /* ext8 */
    msgpack_pack_ext_with_body (&pk, big, 300, 1);
    msgpack_pack_ext_with_body (&pk, big, 70000, 1);
    msgpack_pack_array (&pk, 20); /* array16 */
    for (int i = 0; i < 20; i++)
        msgpack_pack_int (&pk, -i);
    msgpack_pack_map (&pk, 17); /* map16 */
    for (int i = 0; i < 17; i++) {
        msgpack_pack_int (&pk, i);
        msgpack_pack_map (&pk, 0);
    }
    msgpack_pack_array (&pk, 0);
    msgpack_pack_map (&pk, 0);
    *size = sbuf.size;
    return (uint8_t *)msgpack_sbuffer_release (&sbuf);
}

static void
test_check (void **state)
{
    (void)state;
    assert_int_equal (proto_check (NULL, 0), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"", 0), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\xc0", 1), PROTO_OK);
    assert_int_equal (proto_check ((const uint8_t *)"\xc1", 1), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\x92\x01\x02", 3), PROTO_OK);
    assert_int_equal (proto_check ((const uint8_t *)"\x92\x01", 2), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\x81\xa1t", 3), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\x81\xa1t\xc0", 4), PROTO_OK);
    assert_int_equal (proto_check ((const uint8_t *)"\xd4\x01\x02", 3), PROTO_OK);
    assert_int_equal (proto_check ((const uint8_t *)"\xd4\x01", 2), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\xc7\x02\x01\xaa", 4), PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\xc7\x02\x01\xaa\xbb", 5), PROTO_OK);
    assert_int_equal (proto_check ((const uint8_t *)"\xcf\x00\x00\x00\x00\x00\x00\x00", 8),
                      PROTO_EMALFORMED);
    assert_int_equal (proto_check ((const uint8_t *)"\xc0\xc0", 2), PROTO_EMALFORMED);

    size_t size;
    uint8_t *all = s_pack_all_types (&size);
    assert_int_equal (proto_check (all, size), PROTO_OK);
    for (size_t len = 0; len < size; len += 1 + len / 64)
        assert_int_equal (proto_check (all, len), PROTO_EMALFORMED);
    free (all);

    /* PROTO_MAX_FRAME is the limit, inclusive */
    for (size_t total = PROTO_MAX_FRAME; total <= PROTO_MAX_FRAME + 1; total++) {
        uint8_t *frame = malloc (total);
        assert_non_null (frame);
        size_t len = total - 5;
        frame[0] = 0xc6;
        frame[1] = (uint8_t)(len >> 24);
        frame[2] = (uint8_t)(len >> 16);
        frame[3] = (uint8_t)(len >> 8);
        frame[4] = (uint8_t)len;
        memset (frame + 5, 0, len);
        assert_int_equal (proto_check (frame, total),
                          total <= PROTO_MAX_FRAME ? PROTO_OK : PROTO_EMALFORMED);
        free (frame);
    }
}

static void
s_pack_t_last (msgpack_packer *pk, int variant)
{
    msgpack_pack_map (pk, variant == 2 ? 4 : 3);
    msgpack_pack_str_with_body (pk, "x", 1);
    msgpack_pack_array (pk, 2);
    msgpack_pack_int (pk, 1);
    msgpack_pack_map (pk, 1);
    msgpack_pack_str_with_body (pk, "t", 1);
    msgpack_pack_str_with_body (pk, "reply", 5); /* nested: not the frame's type */
    msgpack_pack_str_with_body (pk, "v", 1);
    msgpack_pack_int (pk, 1);
    msgpack_pack_str_with_body (pk, "t", 1);
    if (variant == 1)
        msgpack_pack_bin_with_body (pk, "heartbeat", 9);
    else
        msgpack_pack_str_with_body (pk, "heartbeat", 9);
    if (variant == 2) {
        msgpack_pack_str_with_body (pk, "t", 1);
        msgpack_pack_str_with_body (pk, "heartbeat", 9);
    }
}

/* A string literal as (bytes, size), without its terminating NUL. */
#define S_LIT(s) (const uint8_t *)(s), sizeof (s) - 1

static void
test_peek_type (void **state)
{
    (void)state;
    for (size_t c = 0; c < S_CODECS; c++) {
        uint8_t *frame;
        size_t size;
        s_codecs[c].frame (false, &frame, &size);
        assert_int_equal (proto_peek_type (frame, size), s_codecs[c].ptype);
        free (frame);
    }
    for (int variant = 0; variant <= 2; variant++) {
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init (&sbuf);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
        s_pack_t_last (&pk, variant);
        assert_int_equal (proto_peek_type ((const uint8_t *)sbuf.data, sbuf.size),
                          variant == 2 ? PROTO_T_UNKNOWN : PROTO_T_HEARTBEAT);
        msgpack_sbuffer_destroy (&sbuf);
    }
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1t\xa4nope")), PROTO_T_UNKNOWN);
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1t\x05")), PROTO_T_UNKNOWN);
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1v\x01")), PROTO_T_UNKNOWN);
    assert_int_equal (proto_peek_type (S_LIT ("\x91\xa5reply")), PROTO_T_UNKNOWN);
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1t\xa5reply")), PROTO_T_REPLY);
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1t\xa6record")), PROTO_T_RECORD);
    assert_int_equal (proto_peek_type (S_LIT ("\x81\xa1t\xa5repl")), PROTO_T_UNKNOWN);
    assert_int_equal (proto_peek_type (NULL, 0), PROTO_T_UNKNOWN);
}

/* --- the rest of the API ------------------------------------------------- */

static void
test_names (void **state)
{
    (void)state;
    const char *seen[5];
    for (int rc = PROTO_OK; rc <= PROTO_ENOMEM; rc++) {
        seen[rc] = proto_strerror ((proto_rc_t)rc);
        assert_non_null (seen[rc]);
        for (int j = 0; j < rc; j++)
            assert_string_not_equal (seen[j], seen[rc]);
    }
    assert_non_null (proto_strerror ((proto_rc_t)99));
    assert_string_equal (proto_status_name (PROTO_ST_SCHEDULED), "scheduled");
    assert_string_equal (proto_status_name (PROTO_ST_IN_FLIGHT), "in_flight");
    assert_string_equal (proto_status_name (PROTO_ST_RETRYING), "retrying");
    assert_string_equal (proto_status_name (PROTO_ST_DELIVERED), "delivered");
    assert_string_equal (proto_status_name (PROTO_ST_DEAD), "dead");
    assert_string_equal (proto_status_name (PROTO_ST_CANCELLED), "cancelled");
    assert_string_equal (proto_status_name ((proto_status_t)0), "unknown");
    assert_string_equal (proto_status_name ((proto_status_t)42), "unknown");
}

static void
test_encode_refuses (void **state)
{
    (void)state;
    uint8_t *data = (uint8_t *)"x";
    size_t size = 1;

    proto_submit_t *submit = s_submit (true);
    free (submit->reply_to);
    submit->reply_to = NULL;
    assert_int_equal (proto_submit_encode (submit, &data, &size), -1);
    assert_null (data);
    assert_int_equal (size, 0);
    submit->reply_to = s_dup ("r");
    free (submit->items[0].payload);
    submit->items[0].payload = NULL; /* required, and a size without bytes */
    assert_int_equal (proto_submit_encode (submit, &data, &size), -1);
    proto_submit_destroy (&submit);

    proto_command_t *command = s_command (true);
    command->op = PROTO_OP_GET;
    free (command->id);
    command->id = NULL;
    assert_int_equal (proto_command_encode (command, &data, &size), -1);
    command->op = (proto_op_t)0;
    assert_int_equal (proto_command_encode (command, &data, &size), -1);
    proto_command_destroy (&command);

    proto_record_t *record = s_record (true);
    record->status = (proto_status_t)0;
    assert_int_equal (proto_record_encode (record, true, &data, &size), -1);
    record->status = PROTO_ST_DEAD;
    free (record->headers[1].name);
    record->headers[1].name = NULL;
    assert_int_equal (proto_record_encode (record, true, &data, &size), -1);
    /* ... but the public view leaves headers out */
    assert_int_equal (proto_record_encode (record, false, &data, &size), 0);
    free (data);
    proto_record_destroy (&record);

    proto_reply_t *reply = s_reply (true);
    free (reply->stats[0].name);
    reply->stats[0].name = NULL;
    assert_int_equal (proto_reply_encode (reply, &data, &size), -1);
    proto_reply_destroy (&reply);

    proto_dispatch_t *dispatch = NULL;
    assert_int_equal (proto_dispatch_encode (dispatch, &data, &size), -1);
}

static void
test_add_functions (void **state)
{
    (void)state;
    proto_reply_t *reply = proto_reply_new ();
    assert_non_null (reply);
    for (int i = 0; i < 1000; i++) {
        proto_reply_item_t *item = proto_reply_add_item (reply);
        assert_non_null (item);
        assert_null (item->id);
        assert_int_equal (item->status, 0);
        item->status = (uint16_t)(200 + i % 300);
    }
    assert_int_equal (reply->item_count, 1000);
    assert_int_equal (reply->items[999].status, 200 + 999 % 300);
    proto_record_t *record = proto_reply_add_record (reply);
    assert_non_null (record);
    assert_null (record->id);
    assert_int_equal (reply->record_count, 1);
    proto_subscription_t *sub = proto_reply_add_subscription (reply);
    assert_non_null (sub);
    assert_null (sub->id);
    assert_int_equal (reply->subscription_count, 1);
    s_subscription_fill (sub, true);
    reply->status = 200;
    uint8_t *data;
    size_t size;
    /* a zeroed record has no id: not encodable until filled */
    assert_int_equal (proto_reply_encode (reply, &data, &size), -1);
    s_record_fill (record, false);
    assert_int_equal (proto_reply_encode (reply, &data, &size), 0);
    proto_reply_t *out = NULL;
    assert_int_equal (proto_reply_decode (data, size, &out), PROTO_OK);
    s_reply_eq (reply, out);
    free (data);
    proto_reply_destroy (&out);
    proto_reply_destroy (&reply);
    assert_null (reply);
    proto_reply_destroy (&reply); /* NULL is fine */
}

int
proto_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_submit_round_trip),
        cmocka_unit_test (test_frame_batches),
        cmocka_unit_test (test_command_round_trip),
        cmocka_unit_test (test_event_round_trip),
        cmocka_unit_test (test_subscription_round_trip),
        cmocka_unit_test (test_command_subscription_ops),
        cmocka_unit_test (test_record_round_trip),
        cmocka_unit_test (test_record_public_view),
        cmocka_unit_test (test_reply_round_trip),
        cmocka_unit_test (test_dispatch_round_trip),
        cmocka_unit_test (test_result_round_trip),
        cmocka_unit_test (test_heartbeat_round_trip),
        cmocka_unit_test (test_wire_keys),
        cmocka_unit_test (test_required_and_types),
        cmocka_unit_test (test_values),
        cmocka_unit_test (test_values_decoded),
        cmocka_unit_test (test_unknown_keys_ignored),
        cmocka_unit_test (test_wrong_type),
        cmocka_unit_test (test_version_refused),
        cmocka_unit_test (test_truncations),
        cmocka_unit_test (test_count_bombs),
        cmocka_unit_test (test_garbage),
        cmocka_unit_test (test_alloc_bounded),
        cmocka_unit_test (test_depth),
        cmocka_unit_test (test_depth_in_frame),
        cmocka_unit_test (test_trailing_bytes),
        cmocka_unit_test (test_check),
        cmocka_unit_test (test_peek_type),
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_encode_refuses),
        cmocka_unit_test (test_add_functions),
    };
    return cmocka_run_group_tests_name ("proto_test", tests, NULL, NULL);
}
