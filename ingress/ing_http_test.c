/*  ing_http_test.c — the strict HTTP checks: Content-Length parsing, the
 *  header list (duplicates, CL + TE, control bytes), JSON depth, and what
 *  jansson refuses for us (duplicate keys, invalid UTF-8, NUL). */
#include "ingress/ing_http.h"
#include "ingress/ing_validate.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
test_parse_length (void **state)
{
    (void)state;
    uint64_t n = 7;
    assert_int_equal (ing_http_parse_length ("0", &n), 0);
    assert_int_equal (n, 0);
    assert_int_equal (ing_http_parse_length ("262144", &n), 0);
    assert_int_equal (n, 262144);
    assert_int_equal (ing_http_parse_length ("0010", &n), 0);
    assert_int_equal (n, 10);
    assert_int_equal (ing_http_parse_length ("9999999999999999999", &n), 0);
    const char *bad[] = {
        "", "10abc", "-1", "+1", " 1", "1 ", "1,1", "0x10", "1.0", "99999999999999999999", NULL};
    for (const char **b = bad; *b; b++) {
        n = 7;
        assert_int_equal (ing_http_parse_length (*b, &n), -1);
        assert_int_equal (n, 7);
    }
    assert_int_equal (ing_http_parse_length (NULL, &n), -1);
}

static ing_http_check_t
s_check (const char *const *pairs, size_t max, ing_http_framing_t *f)
{
    struct mg_header h[16];
    int count = 0;
    for (; pairs[2 * count]; count++) {
        h[count].name = pairs[2 * count];
        h[count].value = pairs[2 * count + 1];
    }
    return ing_http_check_headers (h, count, max, f);
}

static void
test_check_headers (void **state)
{
    (void)state;
    ing_http_framing_t f;
    const char *ok[] = {"Host", "x", "Content-Length", "12", "Content-Type", "application/json",
                        NULL};
    assert_int_equal (s_check (ok, 100, &f), ING_HTTP_OK);
    assert_true (f.has_length);
    assert_false (f.chunked);
    assert_int_equal (f.length, 12);
    const char *chunked[] = {"Transfer-Encoding", "Chunked", NULL};
    assert_int_equal (s_check (chunked, 100, &f), ING_HTTP_OK);
    assert_true (f.chunked);
    assert_false (f.has_length);
    const char *none[] = {"Accept", "*/*", "X-Tab", "a\tb", "X-High", "caf\xc3\xa9", NULL};
    assert_int_equal (s_check (none, 100, &f), ING_HTTP_OK);
    assert_false (f.chunked || f.has_length);

    const char *dup[] = {"Content-Length", "5", "content-length", "5", NULL};
    assert_int_equal (s_check (dup, 100, &f), ING_HTTP_DUP_LENGTH);
    const char *both[] = {"Content-Length", "5", "Transfer-Encoding", "chunked", NULL};
    assert_int_equal (s_check (both, 100, &f), ING_HTTP_LENGTH_AND_CHUNKED);
    const char *both2[] = {"Transfer-Encoding", "chunked", "Content-Length", "5", NULL};
    assert_int_equal (s_check (both2, 100, &f), ING_HTTP_LENGTH_AND_CHUNKED);
    const char *suffix[] = {"Content-Length", "10abc", NULL};
    assert_int_equal (s_check (suffix, 100, &f), ING_HTTP_BAD_LENGTH);
    const char *neg[] = {"Content-Length", "-1", NULL};
    assert_int_equal (s_check (neg, 100, &f), ING_HTTP_BAD_LENGTH);
    const char *gzip_te[] = {"Transfer-Encoding", "gzip, chunked", NULL};
    assert_int_equal (s_check (gzip_te, 100, &f), ING_HTTP_BAD_TRANSFER_ENCODING);
    const char *identity[] = {"Transfer-Encoding", "identity", NULL};
    assert_int_equal (s_check (identity, 100, &f), ING_HTTP_BAD_TRANSFER_ENCODING);
    const char *te2[] = {"Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL};
    assert_int_equal (s_check (te2, 100, &f), ING_HTTP_BAD_TRANSFER_ENCODING);
    const char *crlf[] = {"X-Evil", "a\r\nSet-Cookie: x=1", NULL};
    assert_int_equal (s_check (crlf, 100, &f), ING_HTTP_BAD_HEADER);
    const char *lf[] = {"X-Evil", "a\nb", NULL};
    assert_int_equal (s_check (lf, 100, &f), ING_HTTP_BAD_HEADER);
    const char *del[] = {"X-Evil", "a\x7f", NULL};
    assert_int_equal (s_check (del, 100, &f), ING_HTTP_BAD_HEADER);
    const char *name[] = {"X Evil", "a", NULL};
    assert_int_equal (s_check (name, 100, &f), ING_HTTP_BAD_HEADER);
    const char *empty_name[] = {"", "a", NULL};
    assert_int_equal (s_check (empty_name, 100, &f), ING_HTTP_BAD_HEADER);
    const char *hosts[] = {"Host", "a", "HOST", "b", NULL};
    assert_int_equal (s_check (hosts, 100, &f), ING_HTTP_DUP_HEADER);
    const char *types[] = {"Content-Type", "application/json", "content-type", "text/plain", NULL};
    assert_int_equal (s_check (types, 100, &f), ING_HTTP_DUP_HEADER);
    const char *auths[] = {"Authorization", "Bearer a", "Authorization", "Bearer b", NULL};
    assert_int_equal (s_check (auths, 100, &f), ING_HTTP_DUP_HEADER);
    const char *gzip[] = {"Content-Encoding", "gzip", "Content-Length", "5", NULL};
    assert_int_equal (s_check (gzip, 100, &f), ING_HTTP_BAD_ENCODING);
    const char *big[] = {"Content-Length", "101", NULL};
    assert_int_equal (s_check (big, 100, &f), ING_HTTP_TOO_LARGE);
    const char *exact[] = {"Content-Length", "100", "Content-Encoding", "identity", NULL};
    assert_int_equal (s_check (exact, 100, &f), ING_HTTP_OK);

    struct mg_header nulls[1] = {{"X", NULL}};
    assert_int_equal (ing_http_check_headers (nulls, 1, 100, &f), ING_HTTP_BAD_HEADER);

    /* every refusal is a 4xx with a reason and a detail */
    for (int rc = 1; rc < ING_HTTP__COUNT; rc++) {
        int status = ing_http_check_status ((ing_http_check_t)rc);
        assert_true (status >= 400 && status < 500);
        assert_string_not_equal (ing_http_check_reason ((ing_http_check_t)rc), "other");
        assert_non_null (ing_http_check_detail ((ing_http_check_t)rc));
    }
    assert_int_equal (ing_http_check_status (ING_HTTP_TOO_LARGE), 413);
    assert_int_equal (ing_http_check_status (ING_HTTP_BAD_ENCODING), 415);
}

static void
test_json_depth (void **state)
{
    (void)state;
    char deep[200];
    for (int n = 30; n <= 34; n++) {
        memset (deep, '[', (size_t)n);
        memset (deep + n, ']', (size_t)n);
        assert_int_equal (ing_http_json_depth_ok (deep, 2 * (size_t)n, 32), n <= 32);
    }
    /* brackets inside strings and escaped quotes do not count */
    const char *str = "{\"a\":\"[[[[[[[[[[\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    assert_true (ing_http_json_depth_ok (str, strlen (str), 2));
    const char *objs = "{\"a\":{\"b\":{\"c\":[1]}}}";
    assert_true (ing_http_json_depth_ok (objs, strlen (objs), 4));
    assert_false (ing_http_json_depth_ok (objs, strlen (objs), 3));
    /* siblings do not add up */
    const char *wide = "[[1],[2],[3],[4],[5]]";
    assert_true (ing_http_json_depth_ok (wide, strlen (wide), 2));
    /* stray closers cannot hide openers */
    const char *stray = "]]]]][[[";
    assert_false (ing_http_json_depth_ok (stray, strlen (stray), 2));
    /* a trailing backslash does not read past the end */
    assert_true (ing_http_json_depth_ok ("\"\\", 2, 1));
}

/* The refusals the ingress leaves to jansson, pinned so an upgrade or a
 * flag change shows here: invalid UTF-8, NUL (escaped or raw), duplicate
 * keys are all 400 (ING_VALID_MALFORMED). */
static void
test_jansson_refusals (void **state)
{
    (void)state;
    const char *bodies[] = {
        "{\"url\":\"http://a.example/\",\"payload\":\"\xc3\x28\"}",
        "{\"url\":\"http://a.example/\",\"payload\":\"\xed\xa0\x80\"}",
        "{\"url\":\"http://a.example/\",\"payload\":\"a\\u0000b\"}",
        "{\"url\":\"http://a.example/\",\"url\":\"http://b.example/\",\"payload\":1}",
        "{\"url\":\"http://a.example/\",\"payload\":\"\\ud800\"}",
        NULL,
    };
    for (const char **b = bodies; *b; b++) {
        proto_submit_t *submit = proto_submit_new ();
        proto_item_t *item = proto_submit_add_item (submit);
        json_t *errors = json_array ();
        assert_int_equal (ing_validate_message (*b, strlen (*b), NULL, item, errors),
                          ING_VALID_MALFORMED);
        json_decref (errors);
        proto_submit_destroy (&submit);
    }
    /* a raw NUL inside a string (size covers it) */
    const char raw[] = "{\"url\":\"http://a.example/\",\"payload\":\"a\0b\"}";
    proto_submit_t *submit = proto_submit_new ();
    proto_item_t *item = proto_submit_add_item (submit);
    json_t *errors = json_array ();
    assert_int_equal (ing_validate_message (raw, sizeof raw - 1, NULL, item, errors),
                      ING_VALID_MALFORMED);
    json_decref (errors);
    proto_submit_destroy (&submit);
}

static void
test_misc (void **state)
{
    (void)state;
    assert_true (ing_http_is_json ("application/json"));
    assert_true (ing_http_is_json ("Application/JSON; charset=utf-8"));
    assert_false (ing_http_is_json ("application/jsonx"));
    assert_false (ing_http_is_json ("text/plain"));
    assert_false (ing_http_is_json (NULL));
    assert_true (ing_http_request_id_ok ("abc-1.2:3_4"));
    assert_false (ing_http_request_id_ok ("a b"));
    assert_false (ing_http_request_id_ok (""));
    /* the security headers every response carries */
    int found = 0;
    for (int i = 0; i < ING_HTTP_SECURITY_HEADERS; i++) {
        const char *n = ing_http_security_headers[2 * i], *v = ing_http_security_headers[2 * i + 1];
        if ((!strcmp (n, "X-Content-Type-Options") && !strcmp (v, "nosniff")) ||
            (!strcmp (n, "Cache-Control") && !strcmp (v, "no-store")) ||
            (!strcmp (n, "X-Frame-Options") && !strcmp (v, "DENY")) ||
            (!strcmp (n, "Content-Security-Policy") && !strcmp (v, "default-src 'none'")) ||
            (!strcmp (n, "Referrer-Policy") && !strcmp (v, "no-referrer")))
            found++;
    }
    assert_int_equal (found, 5);
}

int ing_http_test (void);

int
ing_http_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse_length), cmocka_unit_test (test_check_headers),
        cmocka_unit_test (test_json_depth),   cmocka_unit_test (test_jansson_refusals),
        cmocka_unit_test (test_misc),
    };
    return cmocka_run_group_tests_name ("ing_http_test", tests, NULL, NULL);
}
