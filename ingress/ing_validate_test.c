/*  ing_validate_test.c — every field rule of POST /v1/messages(/batch),
 *  /v1/subscriptions (create, update, rotate-secret) and /v1/events. */
#include "ingress/ing_validate.h"
#include "common/zh_clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define VALID_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" /* 24 bytes */
#define SECRET_36 "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"
#define ED_KEY "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="

typedef struct {
    proto_submit_t *submit;
    proto_item_t *item;
    json_t *errors;
    zh_netguard_t *guard; /* NULL: URL syntax only */
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    f->submit = proto_submit_new ();
    assert_non_null (f->submit);
    f->item = proto_submit_add_item (f->submit);
    assert_non_null (f->item);
    f->errors = json_array ();
    assert_non_null (f->errors);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    json_decref (f->errors);
    zh_netguard_destroy (&f->guard);
    proto_submit_destroy (&f->submit);
    free (f);
    return 0;
}

static ing_valid_rc_t
s_validate (fixture_t *f, const char *body)
{
    json_array_clear (f->errors);
    return ing_validate_message (body, strlen (body), f->guard, f->item, f->errors);
}

/* True when errors hold an entry for field. */
static bool
s_has_error (const json_t *errors, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach (errors, i, e)
    {
        const char *name = json_string_value (json_object_get (e, "field"));
        const char *message = json_string_value (json_object_get (e, "message"));
        if (name && message && *message && !strcmp (name, field))
            return true;
    }
    return false;
}

/* The body is refused with exactly one error naming field. */
static void
s_refused (fixture_t *f, const char *body, const char *field)
{
    ing_valid_rc_t rc = s_validate (f, body);
    if (rc != ING_VALID_INVALID || !s_has_error (f->errors, field)) {
        char *dump = json_dumps (f->errors, JSON_COMPACT);
        print_error ("body %s: rc %d, errors %s (wanted field %s)\n", body, (int)rc,
                     dump ? dump : "?", field);
        free (dump);
        fail ();
    }
    /* a refused item keeps nothing */
    assert_null (f->item->url);
    assert_null (f->item->payload);
    assert_null (f->item->headers);
    assert_null (f->item->secret);
}

static void
s_accepted (fixture_t *f, const char *body)
{
    ing_valid_rc_t rc = s_validate (f, body);
    if (rc != ING_VALID_OK) {
        char *dump = json_dumps (f->errors, JSON_COMPACT);
        print_error ("body %s: rc %d, errors %s\n", body, (int)rc, dump ? dump : "?");
        free (dump);
        fail ();
    }
    assert_int_equal (json_array_size (f->errors), 0);
}

/* Frees what a previous accepted validation put in the item. */
static void
s_reset (fixture_t *f)
{
    proto_submit_destroy (&f->submit);
    f->submit = proto_submit_new ();
    assert_non_null (f->submit);
    f->item = proto_submit_add_item (f->submit);
    assert_non_null (f->item);
}

static void
test_minimal_message (void **state)
{
    fixture_t *f = *state;
    s_accepted (f,
                "{\"url\":\"https://example.com/hook\",\"payload\":{\"b\": [1, 2], \"a\": \"x\"}}");
    assert_string_equal (f->item->url, "https://example.com/hook");
    /* compact, keys in input order */
    assert_int_equal (f->item->payload_size, strlen ("{\"b\":[1,2],\"a\":\"x\"}"));
    assert_memory_equal (f->item->payload, "{\"b\":[1,2],\"a\":\"x\"}", f->item->payload_size);
    assert_int_equal (f->item->deliver_at_ms, 0);
    assert_int_equal (f->item->delay_ms, 0);
    assert_int_equal (f->item->max_attempts, 0); /* scheduler default */
    assert_int_equal (f->item->timeout_ms, 0);
    assert_null (f->item->secret);
    assert_int_equal (f->item->header_count, 0);
}

static void
test_full_message (void **state)
{
    fixture_t *f = *state;
    s_accepted (
        f, "{\"url\":\"http://user:pw@example.com:8443/a?b=c#d\",\"payload\":\"text\","
           "\"delay_ms\":1500,\"headers\":{\"X-Trace\":\"abc\",\"Authorization\":\"Bearer t\"},"
           "\"max_attempts\":3,\"timeout_ms\":2500,\"secret\":\"" VALID_SECRET "\"}");
    assert_string_equal (f->item->url, "http://user:pw@example.com:8443/a?b=c#d");
    assert_memory_equal (f->item->payload, "\"text\"", 6);
    assert_int_equal (f->item->delay_ms, 1500);
    assert_int_equal (f->item->max_attempts, 3);
    assert_int_equal (f->item->timeout_ms, 2500);
    assert_string_equal (f->item->secret, VALID_SECRET);
    assert_int_equal (f->item->header_count, 2);
    assert_string_equal (f->item->headers[0].name, "X-Trace");
    assert_string_equal (f->item->headers[0].value, "abc");
    assert_string_equal (f->item->headers[1].name, "Authorization");
}

static void
test_payload_any_json (void **state)
{
    fixture_t *f = *state;
    const char *payloads[] = {
        "null", "true", "42", "-1.5", "\"s\"", "[]", "{}", "[{\"deep\":[[[1]]]}]", NULL};
    for (const char **p = payloads; *p; p++) {
        char body[256];
        snprintf (body, sizeof body, "{\"url\":\"http://a.b/\",\"payload\":%s}", *p);
        s_reset (f);
        s_accepted (f, body);
        assert_int_equal (f->item->payload_size, strlen (*p));
        assert_memory_equal (f->item->payload, *p, strlen (*p));
    }
    s_reset (f);
    s_refused (f, "{\"url\":\"http://a.b/\"}", "payload");
}

static void
test_url_rules (void **state)
{
    fixture_t *f = *state;
    s_refused (f, "{\"payload\":1}", "url");
    s_refused (f, "{\"url\":5,\"payload\":1}", "url");
    const char *bad[] = {"",
                         "example.com/x",
                         "ftp://example.com/",
                         "http://",
                         "http:///path",
                         "http://exa mple.com/",
                         "http://example.com/a b",
                         "https://:80/",
                         "http://example.com:0/",
                         "http://example.com:65536/",
                         "http://example.com:8x/",
                         "http://[::1/",
                         "mailto:a@b.c",
                         "http://ex\\u00e4mple.com/",
                         "http://example.com/\\r\\nX: y",
                         "http://example.com/\\t",
                         "//example.com/",
                         NULL};
    for (const char **u = bad; *u; u++) {
        char body[256];
        snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", *u);
        s_refused (f, body, "url");
    }
    const char *good[] = {"http://a",
                          "HTTPS://EXAMPLE.COM/X",
                          "http://127.0.0.1:8080/x",
                          "http://[::1]:9000/",
                          "https://a.b/c?d=e&f=%20",
                          "http://a.b#frag",
                          NULL};
    for (const char **u = good; *u; u++) {
        char body[256];
        snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", *u);
        s_reset (f);
        s_accepted (f, body);
    }
    /* exactly 2048 bytes is fine, 2049 is not */
    char url[2100], body[2200];
    memset (url, 'a', sizeof url);
    memcpy (url, "http://x.io/", 12);
    url[2048] = 0;
    snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", url);
    s_reset (f);
    s_accepted (f, body);
    url[2048] = 'a';
    url[2049] = 0;
    snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", url);
    s_reset (f);
    s_refused (f, body, "url");
}

static void
test_schedule_rules (void **state)
{
    fixture_t *f = *state;
    s_accepted (
        f, "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":\"2030-01-02T03:04:05.678Z\"}");
    int64_t expected;
    assert_int_equal (zh_time_parse ("2030-01-02T03:04:05.678Z", &expected), 0);
    assert_int_equal (f->item->deliver_at_ms, expected);
    assert_int_equal (f->item->delay_ms, 0);
    s_reset (f);
    s_accepted (
        f, "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":\"2030-01-02T05:04:05+02:00\"}");
    assert_int_equal (f->item->deliver_at_ms, expected - 678);
    s_reset (f);
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":0}");
    s_reset (f);
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":31536000000}");
    assert_int_equal (f->item->delay_ms, 31536000000LL);
    s_reset (f);

    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":31536000001}", "delay_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":-1}", "delay_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":1.5}", "delay_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"delay_ms\":\"10\"}", "delay_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":\"tomorrow\"}",
               "deliver_at");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":1700000000}",
               "deliver_at");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":\"2030-01-02 03:04:05\"}",
               "deliver_at");
    s_refused (f,
               "{\"url\":\"http://a.b/\",\"payload\":1,\"deliver_at\":\"2030-01-02T03:04:05Z\","
               "\"delay_ms\":5}",
               "deliver_at");
}

static void
test_limits_rules (void **state)
{
    fixture_t *f = *state;
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"max_attempts\":1,\"timeout_ms\":100}");
    s_reset (f);
    s_accepted (
        f, "{\"url\":\"http://a.b/\",\"payload\":1,\"max_attempts\":100,\"timeout_ms\":60000}");
    assert_int_equal (f->item->max_attempts, 100);
    assert_int_equal (f->item->timeout_ms, 60000);
    s_reset (f);
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"max_attempts\":0}", "max_attempts");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"max_attempts\":101}", "max_attempts");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"max_attempts\":null}", "max_attempts");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"timeout_ms\":99}", "timeout_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"timeout_ms\":60001}", "timeout_ms");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"timeout_ms\":true}", "timeout_ms");
}

static void
test_header_rules (void **state)
{
    fixture_t *f = *state;
    const char *refused_names[] = {"Host",
                                   "content-length",
                                   "Transfer-Encoding",
                                   "CONNECTION",
                                   "webhook-id",
                                   "Webhook-Signature",
                                   "WEBHOOK-timestamp",
                                   "traceparent",
                                   "TraceState",
                                   "Bad Name",
                                   "bad:name",
                                   "b\\u00e4d",
                                   "",
                                   NULL};
    for (const char **n = refused_names; *n; n++) {
        char body[256], field[64];
        snprintf (body, sizeof body,
                  "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"%s\":\"v\"}}", *n);
        /* the field is headers.<name> as it was given */
        json_t *name = json_loads (strchr (strstr (body, "headers"), '{') + 1,
                                   JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, NULL);
        assert_non_null (name);
        snprintf (field, sizeof field, "headers.%s", json_string_value (name));
        json_decref (name);
        s_refused (f, body, field);
    }
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"X-A\":\"a\\r\\nX-B: b\"}}",
               "headers.X-A");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"X-A\":\"a\\nb\"}}",
               "headers.X-A");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"X-A\":5}}", "headers.X-A");
    s_refused (f,
               "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"X-A\":\"1\",\"x-a\":\"2\"}}",
               "headers.x-a");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":[\"X-A\"]}", "headers");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":\"X-A: 1\"}", "headers");
    /* NUL inside a JSON string is refused by the parser itself: 400 */
    json_array_clear (f->errors);
    const char *nul = "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{\"X-A\":\"a\\u0000b\"}}";
    assert_int_equal (ing_validate_message (nul, strlen (nul), NULL, f->item, f->errors),
                      ING_VALID_MALFORMED);

    /* 32 headers are fine, 33 are not */
    char body[4096];
    int len = snprintf (body, sizeof body, "{\"url\":\"http://a.b/\",\"payload\":1,\"headers\":{");
    for (int i = 0; i < 33; i++)
        len +=
            snprintf (body + len, sizeof body - (size_t)len, "%s\"X-H%d\":\"v\"", i ? "," : "", i);
    snprintf (body + len, sizeof body - (size_t)len, "}}");
    s_refused (f, body, "headers");
    char *last = strstr (body, ",\"X-H32\":\"v\"");
    assert_non_null (last);
    memmove (last, last + strlen (",\"X-H32\":\"v\""),
             strlen (last + strlen (",\"X-H32\":\"v\"")) + 1);
    s_accepted (f, body);
    assert_int_equal (f->item->header_count, 32);
    s_reset (f);
    s_accepted (f, "{\"url\":\"http://a.b/"
                   "\",\"payload\":1,\"headers\":{\"X-Tab\":\"a\\tb\",\"X-Empty\":\"\"}}");
}

static void
test_secret_rules (void **state)
{
    fixture_t *f = *state;
    /* 64 bytes, padded base64 of 33 bytes, 24 bytes */
    char b64_64[200];
    snprintf (
        b64_64, sizeof b64_64, "whsec_%.84s==",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw");
    assert_null (ing_check_secret (VALID_SECRET));
    assert_null (ing_check_secret ("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn")); /* 36 */
    assert_null (ing_check_secret ("whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaA=="));
    assert_null (ing_check_secret ("whsec_"
                                   "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV"
                                   "2d3h5ejAxMjM0NTY3ODkrLw=="));
    assert_non_null (ing_check_secret ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")); /* no prefix */
    assert_non_null (ing_check_secret ("whsec_"));
    assert_non_null (ing_check_secret ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La")); /* 21 bytes */
    assert_non_null (ing_check_secret ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS")); /* bad length */
    assert_non_null (
        ing_check_secret ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La_aSw")); /* url alphabet */
    assert_non_null (ing_check_secret ("whsec_MfKQ9r8GKYqrTwjUPD8=LPZIo2LaLaSw")); /* inner pad */
    /* 66 bytes */
    assert_non_null (ing_check_secret ("whsec_"
                                       "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJ"
                                       "zdHV2d3h5ejAxMjM0NTY3ODkrLzAx"));
    /* key lists: rotation of whsec_ secrets, Ed25519 whsk_ keys, mixed */
    assert_null (ing_check_secret (VALID_SECRET " " SECRET_36));
    assert_null (ing_check_secret (ED_KEY));
    assert_null (ing_check_secret (SECRET_36 " " ED_KEY " " VALID_SECRET));
    assert_null (
        ing_check_secret ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")); /* unpadded is fine */
    assert_non_null (ing_check_secret (VALID_SECRET "  " SECRET_36)); /* two spaces */
    assert_non_null (ing_check_secret (" " VALID_SECRET));
    assert_non_null (ing_check_secret (VALID_SECRET " "));
    assert_non_null (ing_check_secret (VALID_SECRET " whsec_a2V5MQ==")); /* weak second key */
    assert_non_null (ing_check_secret (VALID_SECRET " " VALID_SECRET " " VALID_SECRET " " ED_KEY
                                                    " " SECRET_36)); /* five keys */
    assert_non_null (ing_check_secret (
        "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=")); /* public keys cannot sign */
    assert_non_null (ing_check_secret ("whsk_a2V5MQ==")); /* not a 32-byte seed */
    s_reset (f);
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"secret\":\"" VALID_SECRET " " ED_KEY
                   "\"}");
    assert_string_equal (f->item->secret, VALID_SECRET " " ED_KEY);
    s_reset (f);
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"secret\":\"hunter2\"}", "secret");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"secret\":42}", "secret");
    /* the message never echoes the secret */
    char *dump = json_dumps (f->errors, JSON_COMPACT);
    assert_non_null (dump);
    assert_null (strstr (dump, "hunter2"));
    free (dump);
}

static void
test_unknown_fields_and_shape (void **state)
{
    fixture_t *f = *state;
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"dealy_ms\":5}", "dealy_ms");
    s_refused (f, "[1,2]", "body");
    s_refused (f, "\"just a string\"", "body");
    /* every error is reported at once */
    assert_int_equal (s_validate (f, "{\"url\":\"ftp://x\",\"max_attempts\":0,\"extra\":1}"),
                      ING_VALID_INVALID);
    assert_true (s_has_error (f->errors, "url"));
    assert_true (s_has_error (f->errors, "payload"));
    assert_true (s_has_error (f->errors, "max_attempts"));
    assert_true (s_has_error (f->errors, "extra"));
    assert_int_equal (json_array_size (f->errors), 4);
}

static void
test_malformed_json (void **state)
{
    fixture_t *f = *state;
    const char *bodies[] = {"",
                            "{",
                            "{\"url\":}",
                            "{\"url\":\"http://a.b/\",\"payload\":1} x",
                            "{\"url\":\"http://a.b/\",\"url\":\"http://c.d/\",\"payload\":1}",
                            "{'url':1}",
                            "\xff\xfe",
                            NULL};
    for (const char **b = bodies; *b; b++) {
        assert_int_equal (s_validate (f, *b), ING_VALID_MALFORMED);
        assert_int_equal (json_array_size (f->errors), 1);
        assert_true (s_has_error (f->errors, "body"));
    }
}

static void
test_idempotency_key (void **state)
{
    (void)state;
    assert_null (ing_check_idempotency_key ("a"));
    assert_null (ing_check_idempotency_key ("order-42 retry #3"));
    char key[300];
    memset (key, 'k', sizeof key);
    key[255] = 0;
    assert_null (ing_check_idempotency_key (key));
    key[255] = 'k';
    key[256] = 0;
    assert_non_null (ing_check_idempotency_key (key));
    assert_non_null (ing_check_idempotency_key (""));
    assert_non_null (ing_check_idempotency_key ("tab\there"));
    assert_non_null (ing_check_idempotency_key ("caf\xc3\xa9"));
}

static void
test_batch (void **state)
{
    fixture_t *f = *state;
    proto_submit_t *submit = proto_submit_new ();
    assert_non_null (submit);
    json_t *results = NULL;
    const char *body = "{\"messages\":["
                       "{\"url\":\"http://a.b/1\",\"payload\":1},"
                       "{\"url\":\"nope\",\"payload\":2},"
                       "7,"
                       "{\"url\":\"http://a.b/4\",\"payload\":{\"k\":4},\"delay_ms\":10}]}";
    assert_int_equal (ing_validate_batch (body, strlen (body), NULL, submit, &results, f->errors),
                      ING_VALID_OK);
    assert_int_equal (json_array_size (f->errors), 0);
    assert_non_null (results);
    assert_int_equal (json_array_size (results), 4);
    assert_true (json_is_null (json_array_get (results, 0)));
    assert_true (s_has_error (json_array_get (results, 1), "messages[1].url"));
    assert_true (s_has_error (json_array_get (results, 2), "messages[2]"));
    assert_true (json_is_null (json_array_get (results, 3)));
    /* only the valid ones are submitted, in input order */
    assert_int_equal (submit->item_count, 2);
    assert_string_equal (submit->items[0].url, "http://a.b/1");
    assert_string_equal (submit->items[1].url, "http://a.b/4");
    assert_int_equal (submit->items[1].delay_ms, 10);
    assert_memory_equal (submit->items[1].payload, "{\"k\":4}", 7);
    json_decref (results);
    proto_submit_destroy (&submit);
}

static void
test_batch_envelope (void **state)
{
    fixture_t *f = *state;
    const struct {
        const char *body;
        ing_valid_rc_t rc;
        const char *field;
    } cases[] = {
        {"{\"messages\":[]}", ING_VALID_INVALID, "messages"},
        {"{}", ING_VALID_INVALID, "messages"},
        {"{\"messages\":{}}", ING_VALID_INVALID, "messages"},
        {"[{\"url\":\"http://a.b/\",\"payload\":1}]", ING_VALID_INVALID, "body"},
        {"{\"messages\":[{\"url\":\"http://a.b/\",\"payload\":1}],\"extra\":true}",
         ING_VALID_INVALID, "extra"},
        {"{\"messages\":[", ING_VALID_MALFORMED, "body"},
        {NULL, 0, NULL},
    };
    for (int i = 0; cases[i].body; i++) {
        proto_submit_t *submit = proto_submit_new ();
        assert_non_null (submit);
        json_t *results = (json_t *)1;
        json_array_clear (f->errors);
        assert_int_equal (ing_validate_batch (cases[i].body, strlen (cases[i].body), NULL, submit,
                                              &results, f->errors),
                          cases[i].rc);
        assert_null (results);
        assert_true (s_has_error (f->errors, cases[i].field));
        assert_int_equal (submit->item_count, 0);
        proto_submit_destroy (&submit);
    }
    /* 1000 messages are fine, 1001 are not */
    size_t cap = 1001 * 40 + 64;
    char *body = malloc (cap);
    assert_non_null (body);
    for (int total = 1000; total <= 1001; total++) {
        size_t len = (size_t)snprintf (body, cap, "{\"messages\":[");
        for (int i = 0; i < total; i++)
            len += (size_t)snprintf (body + len, cap - len,
                                     "%s{\"url\":\"http://a.b/\",\"payload\":%d}", i ? "," : "", i);
        snprintf (body + len, cap - len, "]}");
        proto_submit_t *submit = proto_submit_new ();
        assert_non_null (submit);
        json_t *results = NULL;
        json_array_clear (f->errors);
        ing_valid_rc_t rc =
            ing_validate_batch (body, strlen (body), NULL, submit, &results, f->errors);
        if (total == 1000) {
            assert_int_equal (rc, ING_VALID_OK);
            assert_int_equal (submit->item_count, 1000);
        }
        else {
            assert_int_equal (rc, ING_VALID_INVALID);
            assert_true (s_has_error (f->errors, "messages"));
        }
        json_decref (results);
        proto_submit_destroy (&submit);
    }
    free (body);
}

static void
test_long_unknown_field_name (void **state)
{
    fixture_t *f = *state;
    /* a long multi-byte field name is cut on a character boundary */
    char body[2048];
    int len = snprintf (body, sizeof body, "{\"url\":\"http://a.b/\",\"payload\":1,\"");
    for (int i = 0; i < 300; i++)
        len += snprintf (body + len, sizeof body - (size_t)len, "\xc3\xa9");
    snprintf (body + len, sizeof body - (size_t)len, "\":1}");
    assert_int_equal (s_validate (f, body), ING_VALID_INVALID);
    assert_int_equal (json_array_size (f->errors), 1);
    const char *field =
        json_string_value (json_object_get (json_array_get (f->errors, 0), "field"));
    assert_non_null (field);
    assert_true (strlen (field) < 256);
    assert_int_equal (strlen (field) % 2, 0);
}

static void
test_url_guard (void **state)
{
    fixture_t *f = *state;
    const char *bad_cidr = NULL;
    f->guard = zh_netguard_new (false, NULL, &bad_cidr);
    assert_non_null (f->guard);
    /* literal internal addresses in every spelling are refused at submit */
    const char *refused[] = {"http://127.0.0.1/",
                             "https://127.0.0.1:8443/x",
                             "http://127.1/",
                             "http://2130706433/",
                             "http://0x7f000001/",
                             "http://0177.0.0.1/",
                             "http://127.0.0.1./",
                             "http://localhost:8080/",
                             "http://LOCALHOST./",
                             "http://api.localhost/",
                             "http://[::1]:9000/",
                             "http://[::ffff:127.0.0.1]/",
                             "http://[0:0:0:0:0:0:0:1]/",
                             "http://0.0.0.0/",
                             "http://10.1.2.3/",
                             "http://172.16.0.1/",
                             "http://192.168.1.1/",
                             "http://169.254.169.254/latest/meta-data/",
                             "http://100.64.0.1/",
                             "http://224.0.0.1/",
                             "http://255.255.255.255/",
                             "http://[fe80::1]/",
                             "http://[fc00::1]/",
                             "http://[64:ff9b::7f00:1]/",
                             "http://[2002:7f00:1::]/",
                             "http://user:pw@127.0.0.1/",
                             "http://%31%32%37.0.0.1/",
                             "http://%6c%6f%63%61%6c%68%6f%73%74/",
                             NULL};
    for (const char **u = refused; *u; u++) {
        char body[256];
        snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", *u);
        s_reset (f);
        s_refused (f, body, "url");
        /* the same URL passes the syntax check alone */
        assert_null (ing_check_url (*u, NULL));
    }
    /* public literals and names pass (names are checked at connect time) */
    const char *accepted[] = {"http://example.com/",
                              "https://8.8.8.8/",
                              "http://[2001:4860:4860::8888]:8080/",
                              "http://127.0.0.1.nip.io/",
                              "http://localhost.example.com/",
                              "http://%65xample.com/",
                              NULL};
    for (const char **u = accepted; *u; u++) {
        char body[256];
        snprintf (body, sizeof body, "{\"url\":\"%s\",\"payload\":1}", *u);
        s_reset (f);
        s_accepted (f, body);
    }
    assert_non_null (ing_check_url ("http://%00127.0.0.1/", f->guard));

    /* a batch names the item */
    proto_submit_t *submit = proto_submit_new ();
    assert_non_null (submit);
    json_t *results = NULL;
    const char *batch = "{\"messages\":[{\"url\":\"http://a.example/\",\"payload\":1},"
                        "{\"url\":\"http://127.1:8080/\",\"payload\":2}]}";
    assert_int_equal (
        ing_validate_batch (batch, strlen (batch), f->guard, submit, &results, f->errors),
        ING_VALID_OK);
    assert_true (json_is_null (json_array_get (results, 0)));
    assert_true (s_has_error (json_array_get (results, 1), "messages[1].url"));
    assert_int_equal (submit->item_count, 1);
    json_decref (results);
    proto_submit_destroy (&submit);

    /* ZHOOK_ALLOWED_CIDRS admits chosen ranges, and only those */
    zh_netguard_destroy (&f->guard);
    f->guard = zh_netguard_new (false, "10.20.0.0/16, fd00:1::/64", &bad_cidr);
    assert_non_null (f->guard);
    assert_null (ing_check_url ("http://10.20.3.4/", f->guard));
    assert_null (ing_check_url ("http://[fd00:1::5]/", f->guard));
    assert_non_null (ing_check_url ("http://10.21.0.1/", f->guard));
    assert_non_null (ing_check_url ("http://[fd00:2::5]/", f->guard));
    assert_non_null (ing_check_url ("http://127.0.0.1/", f->guard));

    /* ZHOOK_ALLOW_PRIVATE_TARGETS=1 lifts the check */
    zh_netguard_destroy (&f->guard);
    f->guard = zh_netguard_new (true, NULL, &bad_cidr);
    assert_non_null (f->guard);
    for (const char **u = refused; *u; u++)
        if (ing_check_url (*u, f->guard))
            fail_msg ("refused with the guard lifted: %s", *u);
}

/* --- ordering keys, topics, subscriptions, events ---------------------- */

static void
test_ordering_key (void **state)
{
    fixture_t *f = *state;
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"customer 42\"}");
    assert_string_equal (f->item->ordering_key, "customer 42");
    s_reset (f);
    s_accepted (f, "{\"url\":\"http://a.b/\",\"payload\":1}");
    assert_null (f->item->ordering_key);
    s_reset (f);
    char body[600], key[300];
    memset (key, 'k', 255);
    key[255] = 0;
    snprintf (body, sizeof body, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"%s\"}",
              key);
    s_accepted (f, body);
    assert_int_equal (strlen (f->item->ordering_key), 255);
    s_reset (f);
    key[255] = 'k';
    key[256] = 0;
    snprintf (body, sizeof body, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"%s\"}",
              key);
    s_refused (f, body, "ordering_key");
    assert_null (f->item->ordering_key);
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"\"}", "ordering_key");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"a\\nb\"}",
               "ordering_key");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":\"caf\\u00e9\"}",
               "ordering_key");
    s_refused (f, "{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":7}", "ordering_key");
    /* in a batch too, named by position */
    proto_submit_t *submit = proto_submit_new ();
    assert_non_null (submit);
    json_t *results = NULL;
    const char *batch = "{\"messages\":[{\"url\":\"http://a.b/\",\"payload\":1,\"ordering_key\":"
                        "\"k1\"},{\"url\":\"http://a.b/\",\"payload\":2,\"ordering_key\":\"\"}]}";
    assert_int_equal (ing_validate_batch (batch, strlen (batch), NULL, submit, &results, f->errors),
                      ING_VALID_OK);
    assert_int_equal (submit->item_count, 1);
    assert_string_equal (submit->items[0].ordering_key, "k1");
    assert_true (s_has_error (json_array_get (results, 1), "messages[1].ordering_key"));
    json_decref (results);
    proto_submit_destroy (&submit);
}

static void
test_topic_rules (void **state)
{
    (void)state;
    const char *events_ok[] = {"order", "order.created", "a.b.c", "snake_case.kebab-case.v2", "0",
                               NULL};
    for (const char **t = events_ok; *t; t++) {
        if (ing_check_topic (*t, false) || ing_check_topic (*t, true))
            fail_msg ("topic %s refused", *t);
    }
    const char *patterns_only[] = {"*", "order.*", "a.b.*", NULL};
    for (const char **t = patterns_only; *t; t++) {
        if (ing_check_topic (*t, true))
            fail_msg ("pattern %s refused", *t);
        assert_non_null (ing_check_topic (*t, false));
    }
    const char *never[] = {"",     ".",     "a.",          ".a",    "a..b",    "Order", "a b",
                           "a/b",  "a.*.b", "*.a",         "a*",    "a.b*",    "**",    ".*",
                           "a.**", "*a",    "caf\xc3\xa9", "a.*.*", "order:x", NULL};
    for (const char **t = never; *t; t++) {
        if (!ing_check_topic (*t, true) || !ing_check_topic (*t, false))
            fail_msg ("topic \"%s\" accepted", *t);
    }
    char topic[200];
    memset (topic, 'a', 128);
    topic[128] = 0;
    assert_null (ing_check_topic (topic, false));
    topic[126] = '.';
    topic[127] = '*';
    assert_null (ing_check_topic (topic, true));
    memset (topic, 'a', 129);
    topic[129] = 0;
    assert_non_null (ing_check_topic (topic, false));
    assert_non_null (ing_check_topic (topic, true));
}

static ing_valid_rc_t
s_validate_sub (fixture_t *f, const char *body, proto_subscription_t *sub)
{
    json_array_clear (f->errors);
    memset (sub, 0, sizeof *sub);
    return ing_validate_subscription (body, strlen (body), f->guard, sub, f->errors);
}

static void
s_sub_refused (fixture_t *f, const char *body, const char *field)
{
    proto_subscription_t sub;
    ing_valid_rc_t rc = s_validate_sub (f, body, &sub);
    if (rc != ING_VALID_INVALID || !s_has_error (f->errors, field)) {
        char *dump = json_dumps (f->errors, JSON_COMPACT);
        print_error ("body %s: rc %d, errors %s (wanted field %s)\n", body, (int)rc,
                     dump ? dump : "?", field);
        free (dump);
        fail ();
    }
    /* nothing kept */
    assert_null (sub.topic);
    assert_null (sub.url);
    assert_null (sub.secret);
    assert_null (sub.headers);
    assert_null (sub.description);
}

static void
test_subscription_body (void **state)
{
    fixture_t *f = *state;
    proto_subscription_t sub;
    const char *full = "{\"topic\":\"order.*\",\"url\":\"https://hooks.example.com/o\","
                       "\"secret\":\"" VALID_SECRET "\",\"headers\":{\"X-Team\":\"wh\"},"
                       "\"description\":\"warehouse\",\"rate_limit\":10000}";
    assert_int_equal (s_validate_sub (f, full, &sub), ING_VALID_OK);
    assert_string_equal (sub.topic, "order.*");
    assert_string_equal (sub.url, "https://hooks.example.com/o");
    assert_string_equal (sub.secret, VALID_SECRET);
    assert_int_equal (sub.header_count, 1);
    assert_string_equal (sub.headers[0].name, "X-Team");
    assert_string_equal (sub.headers[0].value, "wh");
    assert_string_equal (sub.description, "warehouse");
    assert_int_equal (sub.rate_limit, 10000);
    assert_null (sub.id);
    proto_subscription_clear (&sub);

    assert_int_equal (s_validate_sub (f, "{\"topic\":\"*\",\"url\":\"http://a.b/\"}", &sub),
                      ING_VALID_OK);
    assert_null (sub.secret); /* the ingress generates one */
    assert_int_equal (sub.rate_limit, 0);
    proto_subscription_clear (&sub);

    s_sub_refused (f, "{\"url\":\"http://a.b/\"}", "topic");
    s_sub_refused (f, "{\"topic\":\"order\"}", "url");
    s_sub_refused (f, "{\"topic\":\"Order\",\"url\":\"http://a.b/\"}", "topic");
    s_sub_refused (f, "{\"topic\":\"a.*.b\",\"url\":\"http://a.b/\"}", "topic");
    s_sub_refused (f, "{\"topic\":7,\"url\":\"http://a.b/\"}", "topic");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"ftp://a.b/\"}", "url");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"rate_limit\":10001}",
                   "rate_limit");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"rate_limit\":-1}", "rate_limit");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"rate_limit\":1.5}", "rate_limit");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"headers\":{\"Host\":\"x\"}}",
                   "headers.Host");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"description\":5}", "description");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"enabled\":true}", "enabled");
    /* a subscription secret is exactly one whsec_ key */
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"secret\":\"" ED_KEY "\"}",
                   "secret");
    s_sub_refused (f,
                   "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"secret\":\"" VALID_SECRET
                   " " SECRET_36 "\"}",
                   "secret");
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"secret\":\"whsec_c2hvcnQ=\"}",
                   "secret");
    s_sub_refused (f, "[1]", "body");
    /* description: 1024 bytes at most */
    char body[1300], text[1100];
    memset (text, 'd', 1024);
    text[1024] = 0;
    snprintf (body, sizeof body, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"description\":\"%s\"}",
              text);
    assert_int_equal (s_validate_sub (f, body, &sub), ING_VALID_OK);
    proto_subscription_clear (&sub);
    text[1024] = 'd';
    text[1025] = 0;
    snprintf (body, sizeof body, "{\"topic\":\"a\",\"url\":\"http://a.b/\",\"description\":\"%s\"}",
              text);
    s_sub_refused (f, body, "description");
    /* every error at once */
    s_sub_refused (f, "{\"topic\":\"\",\"url\":\"x\",\"rate_limit\":\"5\",\"zz\":1}", "zz");
    assert_true (s_has_error (f->errors, "topic") && s_has_error (f->errors, "url") &&
                 s_has_error (f->errors, "rate_limit"));
    /* malformed JSON */
    assert_int_equal (s_validate_sub (f, "{", &sub), ING_VALID_MALFORMED);
    /* the address guard applies as for messages */
    const char *bad_cidr = NULL;
    f->guard = zh_netguard_new (false, NULL, &bad_cidr);
    assert_non_null (f->guard);
    s_sub_refused (f, "{\"topic\":\"a\",\"url\":\"http://10.0.0.1/\"}", "url");
}

static void
test_subscription_update (void **state)
{
    fixture_t *f = *state;
    proto_subscription_t sub;
    uint32_t mask = 99;
    struct {
        const char *body;
        ing_valid_rc_t rc;
        uint32_t mask;
        const char *field;
    } cases[] = {
        {"{\"enabled\":false}", ING_VALID_OK, PROTO_SUB_SET_ENABLED, NULL},
        {"{\"enabled\":true,\"rate_limit\":5}", ING_VALID_OK,
         PROTO_SUB_SET_ENABLED | PROTO_SUB_SET_RATE_LIMIT, NULL},
        {"{\"description\":\"x\"}", ING_VALID_OK, PROTO_SUB_SET_DESCRIPTION, NULL},
        {"{\"description\":null}", ING_VALID_OK, PROTO_SUB_SET_DESCRIPTION, NULL},
        {"{\"rate_limit\":0}", ING_VALID_OK, PROTO_SUB_SET_RATE_LIMIT, NULL},
        {"{}", ING_VALID_INVALID, 0, "body"},
        {"{\"enabled\":\"no\"}", ING_VALID_INVALID, 0, "enabled"},
        {"{\"enabled\":1}", ING_VALID_INVALID, 0, "enabled"},
        {"{\"rate_limit\":10001}", ING_VALID_INVALID, 0, "rate_limit"},
        {"{\"description\":[]}", ING_VALID_INVALID, 0, "description"},
        {"{\"topic\":\"a\"}", ING_VALID_INVALID, 0, "topic"},
        {"{\"url\":\"http://a.b/\",\"enabled\":true}", ING_VALID_INVALID, 0, "url"},
        {"[]", ING_VALID_INVALID, 0, "body"},
        {"nope", ING_VALID_MALFORMED, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_array_clear (f->errors);
        memset (&sub, 0, sizeof sub);
        ing_valid_rc_t rc = ing_validate_subscription_update (cases[i].body, strlen (cases[i].body),
                                                              &sub, &mask, f->errors);
        if (rc != cases[i].rc || mask != cases[i].mask ||
            (cases[i].field && !s_has_error (f->errors, cases[i].field)))
            fail_msg ("case %s: rc %d mask %u", cases[i].body, (int)rc, mask);
        if (rc == ING_VALID_OK && (mask & PROTO_SUB_SET_DESCRIPTION))
            assert_true (strcmp (cases[i].body, "{\"description\":null}") == 0 ? !sub.description
                                                                               : !!sub.description);
        if (rc != ING_VALID_OK)
            assert_null (sub.description);
        proto_subscription_clear (&sub);
    }
    memset (&sub, 0, sizeof sub);
    const char *body = "{\"enabled\":false,\"rate_limit\":7}";
    assert_int_equal (
        ing_validate_subscription_update (body, strlen (body), &sub, &mask, f->errors),
        ING_VALID_OK);
    assert_false (sub.enabled);
    assert_int_equal (sub.rate_limit, 7);
}

static void
test_rotation_body (void **state)
{
    fixture_t *f = *state;
    char *secret = (char *)"x";
    assert_int_equal (ing_validate_rotation ("{}", 2, &secret, f->errors), ING_VALID_OK);
    assert_null (secret);
    const char *given = "{\"secret\":\"" SECRET_36 "\"}";
    assert_int_equal (ing_validate_rotation (given, strlen (given), &secret, f->errors),
                      ING_VALID_OK);
    assert_string_equal (secret, SECRET_36);
    free (secret);
    const char *bad[] = {"{\"secret\":\"nope\"}", "{\"secret\":\"" ED_KEY "\"}", "{\"sec\":1}",
                         "[]", NULL};
    for (const char **b = bad; *b; b++) {
        json_array_clear (f->errors);
        assert_int_equal (ing_validate_rotation (*b, strlen (*b), &secret, f->errors),
                          ING_VALID_INVALID);
        assert_null (secret);
        assert_true (json_array_size (f->errors) > 0);
    }
}

static ing_valid_rc_t
s_validate_event (fixture_t *f, const char *body, char **topic)
{
    json_array_clear (f->errors);
    s_reset (f);
    return ing_validate_event (body, strlen (body), topic, f->item, f->errors);
}

static void
test_event_body (void **state)
{
    fixture_t *f = *state;
    char *topic = NULL;
    assert_int_equal (s_validate_event (f,
                                        "{\"topic\":\"order.created\",\"payload\":{\"id\": 7},"
                                        "\"delay_ms\":1500,\"ordering_key\":\"order-7\"}",
                                        &topic),
                      ING_VALID_OK);
    assert_string_equal (topic, "order.created");
    assert_string_equal (f->item->url, ""); /* filled per subscription by the scheduler */
    assert_int_equal (f->item->payload_size, 8);
    assert_memory_equal (f->item->payload, "{\"id\":7}", 8);
    assert_int_equal (f->item->delay_ms, 1500);
    assert_string_equal (f->item->ordering_key, "order-7");
    free (topic);
    assert_int_equal (s_validate_event (f,
                                        "{\"topic\":\"a\",\"payload\":null,\"deliver_at\":"
                                        "\"2030-01-01T00:00:00Z\"}",
                                        &topic),
                      ING_VALID_OK);
    assert_true (f->item->deliver_at_ms > 0);
    assert_null (f->item->ordering_key);
    free (topic);
    struct {
        const char *body;
        const char *field;
    } bad[] = {
        {"{\"payload\":1}", "topic"},
        {"{\"topic\":\"order.*\",\"payload\":1}", "topic"},
        {"{\"topic\":\"*\",\"payload\":1}", "topic"},
        {"{\"topic\":\"Order\",\"payload\":1}", "topic"},
        {"{\"topic\":\"a\"}", "payload"},
        {"{\"topic\":\"a\",\"payload\":1,\"delay_ms\":-1}", "delay_ms"},
        {"{\"topic\":\"a\",\"payload\":1,\"delay_ms\":1,\"deliver_at\":\"2030-01-01T00:00:00Z\"}",
         "deliver_at"},
        {"{\"topic\":\"a\",\"payload\":1,\"ordering_key\":\"\"}", "ordering_key"},
        {"{\"topic\":\"a\",\"payload\":1,\"url\":\"http://a.b/\"}", "url"},
        {"{\"topic\":\"a\",\"payload\":1,\"headers\":{}}", "headers"},
        {"7", "body"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ing_valid_rc_t rc = s_validate_event (f, bad[i].body, &topic);
        if (rc != ING_VALID_INVALID || !s_has_error (f->errors, bad[i].field))
            fail_msg ("event %s: rc %d (wanted field %s)", bad[i].body, (int)rc, bad[i].field);
        assert_null (topic);
        assert_null (f->item->payload);
        assert_null (f->item->url);
        assert_null (f->item->ordering_key);
    }
    assert_int_equal (s_validate_event (f, "{\"topic\":", &topic), ING_VALID_MALFORMED);
    assert_null (topic);
}

int ing_validate_test (void);

int
ing_validate_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_minimal_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_full_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_payload_any_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_url_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_url_guard, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schedule_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_limits_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_header_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_secret_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_fields_and_shape, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idempotency_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch_envelope, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_long_unknown_field_name, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ordering_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_topic_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_subscription_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_subscription_update, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rotation_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_body, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("ing_validate_test", tests, NULL, NULL);
}
