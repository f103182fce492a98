/*  ing_render_test.c — JSON shapes of records, lists, problems and batches. */
#include "ingress/ing_render.h"
#include "common/zh_clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define T0 1795000000123LL /* 2026-11-18T... with milliseconds */

static void
s_assert_time (const json_t *v, int64_t ms)
{
    char want[32];
    assert_int_equal (zh_time_format (ms, want, sizeof want), 0);
    assert_true (json_is_string (v));
    assert_string_equal (json_string_value (v), want);
    assert_int_equal (strlen (want), 24);
    assert_int_equal (want[23], 'Z');
    assert_int_equal (want[19], '.');
}

static void
s_fill_record (proto_record_t *r, proto_status_t status)
{
    r->id = strdup ("msg_01JD0000000000000000000000");
    r->url = strdup ("https://example.com/hook");
    r->status = status;
    r->max_attempts = 8;
    r->timeout_ms = 10000;
    r->created_ms = T0;
    r->deliver_at_ms = T0 + 1000;
    r->next_attempt_ms = T0 + 5000;
    assert_non_null (r->id);
    assert_non_null (r->url);
}

static void
test_record_pending (void **state)
{
    (void)state;
    proto_record_t *r = proto_record_new ();
    assert_non_null (r);
    s_fill_record (r, PROTO_ST_RETRYING);
    r->secret = strdup ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    r->tenant = strdup ("acme");
    proto_attempt_t *a = proto_record_add_attempt (r);
    assert_non_null (a);
    a->n = 1;
    a->at_ms = T0 + 2000;
    a->status_code = 500;
    a->latency_ms = 42;
    a->body = strdup ("oops");
    proto_attempt_t *b = proto_record_add_attempt (r);
    assert_non_null (b);
    b->n = 2;
    b->at_ms = T0 + 3000;
    b->status_code = 0;
    b->latency_ms = 10000;
    b->error = strdup ("timeout");

    json_t *o = ing_render_record (r);
    assert_non_null (o);
    assert_string_equal (json_string_value (json_object_get (o, "id")), r->id);
    assert_string_equal (json_string_value (json_object_get (o, "url")), r->url);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "retrying");
    s_assert_time (json_object_get (o, "created_at"), T0);
    s_assert_time (json_object_get (o, "deliver_at"), T0 + 1000);
    s_assert_time (json_object_get (o, "next_attempt_at"), T0 + 5000);
    assert_true (json_is_null (json_object_get (o, "ended_at")));
    assert_true (json_is_null (json_object_get (o, "dead_reason")));
    /* private fields never shown */
    assert_null (json_object_get (o, "secret"));
    assert_null (json_object_get (o, "tenant"));
    assert_null (json_object_get (o, "headers"));
    assert_null (json_object_get (o, "payload"));
    char *text = json_dumps (o, JSON_COMPACT);
    assert_non_null (text);
    assert_null (strstr (text, "whsec_"));
    assert_null (strstr (text, "acme"));
    free (text);

    json_t *attempts = json_object_get (o, "attempts");
    assert_int_equal (json_array_size (attempts), 2);
    json_t *a1 = json_array_get (attempts, 0), *a2 = json_array_get (attempts, 1);
    assert_int_equal (json_integer_value (json_object_get (a1, "n")), 1);
    s_assert_time (json_object_get (a1, "at"), T0 + 2000);
    assert_int_equal (json_integer_value (json_object_get (a1, "status_code")), 500);
    assert_int_equal (json_integer_value (json_object_get (a1, "latency_ms")), 42);
    assert_true (json_is_null (json_object_get (a1, "error")));
    assert_string_equal (json_string_value (json_object_get (a1, "response_body")), "oops");
    assert_true (json_is_null (json_object_get (a2, "status_code")));
    assert_string_equal (json_string_value (json_object_get (a2, "error")), "timeout");
    assert_true (json_is_null (json_object_get (a2, "response_body")));
    json_decref (o);
    proto_record_destroy (&r);
}

static void
test_record_dead (void **state)
{
    (void)state;
    proto_record_t *r = proto_record_new ();
    assert_non_null (r);
    s_fill_record (r, PROTO_ST_DEAD);
    r->ended_ms = T0 + 9000;
    r->next_attempt_ms = 0;
    r->dead_reason = strdup ("gone");
    json_t *o = ing_render_record (r);
    assert_non_null (o);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "dead");
    assert_true (json_is_null (json_object_get (o, "next_attempt_at")));
    s_assert_time (json_object_get (o, "ended_at"), T0 + 9000);
    assert_string_equal (json_string_value (json_object_get (o, "dead_reason")), "gone");
    assert_int_equal (json_array_size (json_object_get (o, "attempts")), 0);
    assert_true (json_is_array (json_object_get (o, "attempts")));
    json_decref (o);
    proto_record_destroy (&r);
}

static void
test_record_invalid_utf8_body (void **state)
{
    (void)state;
    proto_record_t *r = proto_record_new ();
    assert_non_null (r);
    s_fill_record (r, PROTO_ST_RETRYING);
    proto_attempt_t *a = proto_record_add_attempt (r);
    assert_non_null (a);
    a->n = 1;
    a->status_code = 502;
    /* a body cut in the middle of "é", plus a stray byte */
    a->body = strdup ("bad gateway \xc3\xa9\xff-\xc3");
    json_t *o = ing_render_record (r);
    assert_non_null (o);
    const char *body = json_string_value (
        json_object_get (json_array_get (json_object_get (o, "attempts"), 0), "response_body"));
    assert_non_null (body);
    assert_string_equal (body, "bad gateway \xc3\xa9\xef\xbf\xbd-\xef\xbf\xbd");
    json_decref (o);
    proto_record_destroy (&r);
}

static void
test_time (void **state)
{
    (void)state;
    json_t *v = ing_render_time (0);
    assert_true (json_is_null (v));
    json_decref (v);
    v = ing_render_time (1);
    assert_string_equal (json_string_value (v), "1970-01-01T00:00:00.001Z");
    json_decref (v);
}

static void
test_accepted_and_lists (void **state)
{
    (void)state;
    proto_reply_item_t item = {
        .id = "msg_01JD0000000000000000000000", .status = 202, .deliver_at_ms = T0};
    json_t *o = ing_render_accepted (&item);
    assert_non_null (o);
    assert_int_equal (json_object_size (o), 3);
    assert_string_equal (json_string_value (json_object_get (o, "id")), item.id);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "scheduled");
    s_assert_time (json_object_get (o, "deliver_at"), T0);
    json_decref (o);

    proto_reply_t *reply = proto_reply_new ();
    assert_non_null (reply);
    reply->status = 200;
    for (int i = 0; i < 3; i++) {
        proto_record_t *r = proto_reply_add_record (reply);
        assert_non_null (r);
        s_fill_record (r, PROTO_ST_DEAD);
    }
    o = ing_render_dead_letters (reply);
    assert_non_null (o);
    assert_int_equal (json_array_size (json_object_get (o, "items")), 3);
    assert_true (json_is_null (json_object_get (o, "next")));
    json_decref (o);
    reply->next = strdup ("cursor-1");
    o = ing_render_dead_letters (reply);
    assert_string_equal (json_string_value (json_object_get (o, "next")), "cursor-1");
    json_decref (o);

    assert_int_equal (proto_reply_add_stat (reply, "scheduled", 12), 0);
    assert_int_equal (proto_reply_add_stat (reply, "dead", 3), 0);
    o = ing_render_status (reply);
    assert_non_null (o);
    assert_int_equal (json_integer_value (json_object_get (o, "scheduled")), 12);
    assert_int_equal (json_integer_value (json_object_get (o, "dead")), 3);
    json_decref (o);
    proto_reply_destroy (&reply);
}

static void
test_problem (void **state)
{
    (void)state;
    json_t *errors = json_pack ("[{s:s,s:s}]", "field", "url", "message", "is required");
    json_t *o = ing_render_problem (422, "the request has invalid fields", errors);
    assert_non_null (o);
    assert_string_equal (json_string_value (json_object_get (o, "type")),
                         "https://zhook.dev/problems/validation-failed");
    assert_string_equal (json_string_value (json_object_get (o, "title")), "Unprocessable Content");
    assert_int_equal (json_integer_value (json_object_get (o, "status")), 422);
    assert_string_equal (json_string_value (json_object_get (o, "detail")),
                         "the request has invalid fields");
    assert_int_equal (json_array_size (json_object_get (o, "errors")), 1);
    json_decref (o);

    int statuses[] = {400, 401, 404, 405, 409, 413, 415, 429, 503, 507};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        o = ing_render_problem (statuses[i], NULL, NULL);
        assert_non_null (o);
        assert_null (json_object_get (o, "errors"));
        assert_int_equal (json_integer_value (json_object_get (o, "status")), statuses[i]);
        const char *type = json_string_value (json_object_get (o, "type"));
        assert_non_null (type);
        assert_int_equal (strncmp (type, "https://zhook.dev/problems/", 27), 0);
        assert_true (strlen (type) > 27);
        assert_non_null (json_string_value (json_object_get (o, "detail")));
        json_decref (o);
    }
    assert_string_equal (ing_render_slug (599), "server-error");
    assert_string_equal (ing_render_slug (418), "client-error");
}

static void
test_batch (void **state)
{
    (void)state;
    /* input: valid, invalid, valid (refused by the scheduler), valid */
    json_t *results =
        json_pack ("[n,[{s:s,s:s}],n,n]", "field", "messages[1].url", "message", "is required");
    assert_non_null (results);
    proto_reply_t *reply = proto_reply_new ();
    assert_non_null (reply);
    reply->status = 202;
    const char *ids[] = {"msg_01JD0000000000000000000001", "msg_01JD0000000000000000000002",
                         "msg_01JD0000000000000000000003"};
    uint16_t statuses[] = {202, 429, 202};
    for (int i = 0; i < 3; i++) {
        proto_reply_item_t *it = proto_reply_add_item (reply);
        assert_non_null (it);
        it->id = strdup (ids[i]);
        it->status = statuses[i];
        it->deliver_at_ms = T0 + i;
        if (statuses[i] != 202)
            it->error = strdup ("tenant rate limit");
    }
    json_t *o = ing_render_batch (results, reply);
    assert_non_null (o);
    json_t *items = json_object_get (o, "items");
    assert_int_equal (json_array_size (items), 4);
    json_t *e0 = json_array_get (items, 0), *e1 = json_array_get (items, 1);
    json_t *e2 = json_array_get (items, 2), *e3 = json_array_get (items, 3);
    assert_string_equal (json_string_value (json_object_get (e0, "id")), ids[0]);
    assert_string_equal (json_string_value (json_object_get (e0, "status")), "scheduled");
    assert_string_equal (json_string_value (json_object_get (e1, "status")), "invalid");
    json_t *p1 = json_object_get (e1, "error");
    assert_int_equal (json_integer_value (json_object_get (p1, "status")), 422);
    assert_string_equal (json_string_value (json_object_get (
                             json_array_get (json_object_get (p1, "errors"), 0), "field")),
                         "messages[1].url");
    assert_string_equal (json_string_value (json_object_get (e2, "status")), "rejected");
    assert_int_equal (
        json_integer_value (json_object_get (json_object_get (e2, "error"), "status")), 429);
    assert_string_equal (json_string_value (json_object_get (e3, "id")), ids[2]);
    s_assert_time (json_object_get (e3, "deliver_at"), T0 + 2);
    json_decref (o);

    /* a reply with fewer items than valid entries is refused */
    reply->item_count = 2;
    assert_null (ing_render_batch (results, reply));
    reply->item_count = 3;
    json_decref (results);
    proto_reply_destroy (&reply);
}

static void
s_fill_subscription (proto_subscription_t *sub)
{
    sub->id = strdup ("sub_01JD0000000000000000000000");
    sub->tenant = strdup ("acme");
    sub->topic = strdup ("order.*");
    sub->url = strdup ("https://example.com/orders");
    sub->secret = strdup ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    sub->previous_secret = strdup ("whsec_b2xkc2VjcmV0b2xkc2VjcmV0b2xkc2Vj");
    sub->headers = calloc (1, sizeof *sub->headers);
    assert_non_null (sub->headers);
    sub->headers[0].name = strdup ("X-Team");
    sub->headers[0].value = strdup ("warehouse");
    sub->header_count = 1;
    sub->enabled = true;
    sub->rate_limit = 25;
    sub->created_ms = T0;
    sub->updated_ms = T0 + 1;
    sub->rotated_ms = T0 + 2;
}

static void
test_subscription (void **state)
{
    (void)state;
    proto_subscription_t *sub = proto_subscription_new ();
    assert_non_null (sub);
    s_fill_subscription (sub);
    for (int with_secret = 0; with_secret <= 1; with_secret++) {
        json_t *o = ing_render_subscription (sub, with_secret);
        assert_non_null (o);
        assert_int_equal (json_object_size (o), 12 + with_secret);
        assert_string_equal (json_string_value (json_object_get (o, "id")), sub->id);
        assert_string_equal (json_string_value (json_object_get (o, "topic")), "order.*");
        assert_string_equal (json_string_value (json_object_get (o, "url")), sub->url);
        assert_string_equal (
            json_string_value (json_object_get (json_object_get (o, "headers"), "X-Team")),
            "warehouse");
        assert_true (json_is_null (json_object_get (o, "description")));
        assert_true (json_is_true (json_object_get (o, "enabled")));
        assert_true (json_is_null (json_object_get (o, "disabled_reason")));
        assert_int_equal (json_integer_value (json_object_get (o, "rate_limit")), 25);
        s_assert_time (json_object_get (o, "created_at"), T0);
        s_assert_time (json_object_get (o, "updated_at"), T0 + 1);
        s_assert_time (json_object_get (o, "rotated_at"), T0 + 2);
        assert_true (json_is_null (json_object_get (o, "failing_since")));
        assert_null (json_object_get (o, "tenant"));
        assert_null (json_object_get (o, "previous_secret"));
        char *text = json_dumps (o, JSON_COMPACT);
        assert_non_null (text);
        /* the secret appears only when asked for, the previous one never */
        assert_int_equal (strstr (text, "whsec_MfKQ") != NULL, with_secret);
        assert_null (strstr (text, "whsec_b2xk"));
        assert_null (strstr (text, "acme"));
        free (text);
        json_decref (o);
    }
    /* disabled: the reason and the start of the failures show */
    sub->enabled = false;
    sub->disabled_reason = strdup ("gone");
    sub->failing_since_ms = T0 + 3;
    json_t *o = ing_render_subscription (sub, false);
    assert_true (json_is_false (json_object_get (o, "enabled")));
    assert_string_equal (json_string_value (json_object_get (o, "disabled_reason")), "gone");
    s_assert_time (json_object_get (o, "failing_since"), T0 + 3);
    json_decref (o);
    proto_subscription_destroy (&sub);

    /* a list never shows secrets */
    proto_reply_t *reply = proto_reply_new ();
    assert_non_null (reply);
    for (int i = 0; i < 2; i++)
        s_fill_subscription (proto_reply_add_subscription (reply));
    reply->next = strdup ("sub-cursor");
    o = ing_render_subscriptions (reply);
    assert_non_null (o);
    assert_int_equal (json_array_size (json_object_get (o, "items")), 2);
    assert_string_equal (json_string_value (json_object_get (o, "next")), "sub-cursor");
    char *text = json_dumps (o, JSON_COMPACT);
    assert_null (strstr (text, "whsec_"));
    free (text);
    json_decref (o);
    proto_reply_destroy (&reply);
}

static void
test_event (void **state)
{
    (void)state;
    proto_reply_t *reply = proto_reply_new ();
    assert_non_null (reply);
    reply->status = 202;
    const char *ids[] = {"msg_01JD0000000000000000000001", "msg_01JD0000000000000000000002"};
    for (int i = 0; i < 2; i++) {
        proto_reply_item_t *item = proto_reply_add_item (reply);
        item->id = strdup (ids[i]);
        item->status = 202;
    }
    proto_reply_item_t *refused = proto_reply_add_item (reply);
    refused->status = 507;
    json_t *o = ing_render_event_accepted (reply, "evt_01JD0000000000000000000009");
    assert_non_null (o);
    assert_int_equal (json_object_size (o), 2);
    assert_string_equal (json_string_value (json_object_get (o, "id")),
                         "evt_01JD0000000000000000000009");
    json_t *messages = json_object_get (o, "messages");
    assert_int_equal (json_array_size (messages), 2);
    assert_string_equal (json_string_value (json_array_get (messages, 1)), ids[1]);
    json_decref (o);
    /* an idempotent replay names the original event */
    reply->event_id = strdup ("evt_01JD0000000000000000000001");
    o = ing_render_event_accepted (reply, "evt_01JD0000000000000000000009");
    assert_string_equal (json_string_value (json_object_get (o, "id")), reply->event_id);
    json_decref (o);
    proto_reply_destroy (&reply);

    /* nobody follows the topic: an empty list, not null */
    reply = proto_reply_new ();
    o = ing_render_event_accepted (reply, "evt_01JD0000000000000000000009");
    assert_true (json_is_array (json_object_get (o, "messages")));
    assert_int_equal (json_array_size (json_object_get (o, "messages")), 0);
    json_decref (o);
    proto_reply_destroy (&reply);

    reply = proto_reply_new ();
    reply->event_id = strdup ("evt_01JD0000000000000000000001");
    reply->topic = strdup ("order.created");
    reply->event_created_ms = T0;
    proto_record_t *r = proto_reply_add_record (reply);
    s_fill_record (r, PROTO_ST_DELIVERED);
    r->subscription_id = strdup ("sub_01JD0000000000000000000000");
    r->event_id = strdup (reply->event_id);
    r->ordering_key = strdup ("order-7");
    o = ing_render_event (reply);
    assert_non_null (o);
    assert_int_equal (json_object_size (o), 4);
    assert_string_equal (json_string_value (json_object_get (o, "id")), reply->event_id);
    assert_string_equal (json_string_value (json_object_get (o, "topic")), "order.created");
    s_assert_time (json_object_get (o, "created_at"), T0);
    json_t *m = json_array_get (json_object_get (o, "messages"), 0);
    assert_string_equal (json_string_value (json_object_get (m, "status")), "delivered");
    assert_string_equal (json_string_value (json_object_get (m, "subscription_id")),
                         "sub_01JD0000000000000000000000");
    assert_string_equal (json_string_value (json_object_get (m, "event_id")), reply->event_id);
    assert_string_equal (json_string_value (json_object_get (m, "ordering_key")), "order-7");
    json_decref (o);
    proto_reply_destroy (&reply);
}

int ing_render_test (void);

int
ing_render_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_record_pending),
        cmocka_unit_test (test_record_dead),
        cmocka_unit_test (test_record_invalid_utf8_body),
        cmocka_unit_test (test_time),
        cmocka_unit_test (test_accepted_and_lists),
        cmocka_unit_test (test_problem),
        cmocka_unit_test (test_batch),
        cmocka_unit_test (test_subscription),
        cmocka_unit_test (test_event),
    };
    return cmocka_run_group_tests_name ("ing_render_test", tests, NULL, NULL);
}
