/*  ing_cors_test.c — the ZHOOK_CORS_ORIGINS allowlist and its verdicts. */
#include "ingress/ing_cors.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void
test_parse (void **state)
{
    (void)state;
    const char *bad = NULL;
    ing_cors_t *c = ing_cors_new (NULL, &bad);
    assert_non_null (c);
    assert_false (ing_cors_enabled (c));
    ing_cors_destroy (&c);
    assert_null (c);
    c = ing_cors_new ("", NULL);
    assert_false (ing_cors_enabled (c));
    ing_cors_destroy (&c);
    c = ing_cors_new (" https://app.example.com , http://localhost:3000,", &bad);
    assert_non_null (c);
    assert_true (ing_cors_enabled (c));
    assert_true (ing_cors_allowed (c, "https://app.example.com"));
    assert_true (ing_cors_allowed (c, "http://localhost:3000"));
    assert_false (ing_cors_allowed (c, "http://localhost:3001"));
    assert_false (ing_cors_allowed (c, "https://app.example.com/"));
    assert_false (ing_cors_allowed (c, "https://APP.example.com"));
    assert_false (ing_cors_allowed (c, "http://app.example.com"));
    assert_false (ing_cors_allowed (c, "null"));
    assert_false (ing_cors_allowed (c, NULL));
    ing_cors_destroy (&c);
    ing_cors_destroy (&c); /* NULL is fine */

    const char *malformed[] = {"*",
                               "app.example.com",
                               "https://a.example/",
                               "https://a.example:",
                               "https://a.example:123456",
                               "ftp://a.example",
                               "https://",
                               "https://a.example, null",
                               "https://user@a.example",
                               NULL};
    for (const char **m = malformed; *m; m++) {
        bad = NULL;
        assert_null (ing_cors_new (*m, &bad));
        assert_non_null (bad);
    }
    bad = NULL;
    assert_null (ing_cors_new ("https://ok.example,https://bad.example/x", &bad));
    assert_string_equal (bad, "https://bad.example/x");
}

static void
test_verdicts (void **state)
{
    (void)state;
    ing_cors_t *off = ing_cors_new (NULL, NULL);
    ing_cors_t *c = ing_cors_new ("https://app.example.com", NULL);
    assert_non_null (c);
    /* simple requests */
    assert_int_equal (ing_cors_simple (off, "https://app.example.com"), ING_CORS_NONE);
    assert_int_equal (ing_cors_simple (c, NULL), ING_CORS_NONE);
    assert_int_equal (ing_cors_simple (c, "https://app.example.com"), ING_CORS_ALLOW);
    assert_int_equal (ing_cors_simple (c, "https://evil.example"), ING_CORS_REFUSE);
    /* preflights */
    const char *o = "https://app.example.com";
    assert_int_equal (ing_cors_preflight (c, o, "POST", NULL, "POST"), ING_CORS_ALLOW);
    assert_int_equal (ing_cors_preflight (c, o, "POST", "content-type, authorization", "POST"),
                      ING_CORS_ALLOW);
    assert_int_equal (
        ing_cors_preflight (c, o, "DELETE", "Idempotency-Key,X-Request-Id", "GET, DELETE"),
        ING_CORS_ALLOW);
    assert_int_equal (ing_cors_preflight (c, o, "PUT", NULL, "GET, DELETE"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, o, "GE", NULL, "GET, DELETE"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, o, "get", NULL, "GET"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, o, "", NULL, "GET"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, o, "POST", "content-type, x-secret", "POST"),
                      ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, o, "POST", "cookie", "POST"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, "https://evil.example", "POST", NULL, "POST"),
                      ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (off, o, "POST", NULL, "POST"), ING_CORS_REFUSE);
    assert_int_equal (ing_cors_preflight (c, NULL, "POST", NULL, "POST"), ING_CORS_REFUSE);
    ing_cors_destroy (&c);
    ing_cors_destroy (&off);
}

int ing_cors_test (void);

int
ing_cors_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse),
        cmocka_unit_test (test_verdicts),
    };
    return cmocka_run_group_tests_name ("ing_cors_test", tests, NULL, NULL);
}
