/*  dlv_hosts_test.c — origins, the per-destination cap, the circuit breaker
 *  through every transition, outcome classification and bounded memory. */
#include "deliverer/dlv_hosts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

int dlv_hosts_test (void);

#define T0 1000000

static void
s_origin_is (const char *url, const char *expected)
{
    char *o = dlv_hosts_origin (url);
    if (!expected) {
        assert_null (o);
        return;
    }
    assert_non_null (o);
    assert_string_equal (o, expected);
    free (o);
}

static void
test_origin (void **state)
{
    (void)state;
    s_origin_is ("http://Example.COM/path?token=secret", "http://example.com:80");
    s_origin_is ("HTTPS://A.b", "https://a.b:443");
    s_origin_is ("https://user:pw@h.example:8443/x#frag", "https://h.example:8443");
    s_origin_is ("http://127.0.0.1:9000", "http://127.0.0.1:9000");
    s_origin_is ("http://[::1]:9000/hook", "http://[::1]:9000");
    /* same origin, different paths: one destination */
    char *a = dlv_hosts_origin ("http://h.example/a?x=1");
    char *b = dlv_hosts_origin ("http://H.EXAMPLE:80/b");
    assert_non_null (a);
    assert_non_null (b);
    assert_string_equal (a, b);
    free (a);
    free (b);
    s_origin_is ("not a url", NULL);
    s_origin_is ("http://", NULL);
    s_origin_is ("", NULL);
    s_origin_is (NULL, NULL);
}

/* The memo answers as dlv_hosts_origin does, for more URLs than it holds
 * (collisions replace entries, never mix them up). */
static void
test_origin_memo (void **state)
{
    (void)state;
    dlv_hosts_t *h = dlv_hosts_new (0, 0, 1000, 0, 7);
    assert_non_null (h);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 300; i++) {
            char url[64], want[64];
            snprintf (url, sizeof url, "https://h%d.example:%d/p%d?q=1", i, 1000 + i, round);
            snprintf (want, sizeof want, "https://h%d.example:%d", i, 1000 + i);
            const char *o = dlv_hosts_origin_of (h, url);
            assert_non_null (o);
            assert_string_equal (o, want);
            /* asked again at once: the memo's own entry */
            assert_ptr_equal (dlv_hosts_origin_of (h, url), o);
        }
    assert_null (dlv_hosts_origin_of (h, "not a url"));
    assert_null (dlv_hosts_origin_of (h, NULL));
    assert_string_equal (dlv_hosts_origin_of (h, "http://A.example/x"), "http://a.example:80");
    dlv_hosts_destroy (&h);
}

static void
test_host_concurrency (void **state)
{
    (void)state;
    dlv_hosts_t *h = dlv_hosts_new (2, 0, 1000, 0, 42);
    assert_non_null (h);
    int64_t wait;
    assert_int_equal (dlv_hosts_acquire (h, "http://a:80", T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (wait, 0);
    assert_int_equal (dlv_hosts_acquire (h, "http://a:80", T0, &wait), DLV_HOSTS_GO);
    int64_t lo = INT64_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        assert_int_equal (dlv_hosts_acquire (h, "http://a:80", T0, &wait), DLV_HOSTS_BUSY);
        assert_true (wait >= DLV_HOSTS_BUSY_MIN_MS && wait <= DLV_HOSTS_BUSY_MAX_MS);
        lo = wait < lo ? wait : lo;
        hi = wait > hi ? wait : hi;
    }
    /* the jitter really spreads */
    assert_true (lo < DLV_HOSTS_BUSY_MIN_MS + 100);
    assert_true (hi > DLV_HOSTS_BUSY_MAX_MS - 100);
    /* another destination is not held back by a busy one */
    assert_int_equal (dlv_hosts_acquire (h, "http://b:80", T0, &wait), DLV_HOSTS_GO);
    /* a finished attempt frees a place; failures do not open (circuits off) */
    for (int i = 0; i < 10; i++) {
        assert_int_equal (dlv_hosts_release (h, "http://a:80", DLV_HOSTS_FAILURE, T0),
                          DLV_HOSTS_SAME);
        assert_int_equal (dlv_hosts_acquire (h, "http://a:80", T0, &wait), DLV_HOSTS_GO);
    }
    assert_int_equal (dlv_hosts_open_count (h), 0);
    assert_int_equal (dlv_hosts_size (h), 2);
    /* unknown origins are ignored */
    assert_int_equal (dlv_hosts_release (h, "http://zz:80", DLV_HOSTS_FAILURE, T0), DLV_HOSTS_SAME);
    dlv_hosts_destroy (&h);
    assert_null (h);
    dlv_hosts_destroy (&h);

    /* host_concurrency 0: no cap */
    h = dlv_hosts_new (0, 0, 1000, 0, 1);
    assert_non_null (h);
    for (int i = 0; i < 500; i++)
        assert_int_equal (dlv_hosts_acquire (h, "http://a:80", T0, &wait), DLV_HOSTS_GO);
    dlv_hosts_destroy (&h);
}

static void
test_circuit_cycle (void **state)
{
    (void)state;
    const char *o = "http://slow:80";
    dlv_hosts_t *h = dlv_hosts_new (10, 3, 1000, 0, 7);
    assert_non_null (h);
    int64_t wait;
    /* two failures, a success, two failures: never 3 in a row */
    dlv_hosts_outcome_t seq[] = {DLV_HOSTS_FAILURE, DLV_HOSTS_FAILURE, DLV_HOSTS_SUCCESS,
                                 DLV_HOSTS_FAILURE, DLV_HOSTS_NEUTRAL, DLV_HOSTS_FAILURE};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        assert_int_equal (dlv_hosts_acquire (h, o, T0, &wait), DLV_HOSTS_GO);
        assert_int_equal (dlv_hosts_release (h, o, seq[i], T0), DLV_HOSTS_SAME);
    }
    assert_int_equal (dlv_hosts_open_count (h), 0);
    /* the third consecutive failure opens it (neutral did not reset the run) */
    assert_int_equal (dlv_hosts_acquire (h, o, T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, o, T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 10), DLV_HOSTS_OPENED);
    assert_int_equal (dlv_hosts_open_count (h), 1);
    /* a late failure of an attempt started before it opened changes nothing */
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 500), DLV_HOSTS_SAME);

    /* open: deferred for the rest of the cool-down (+ jitter) */
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 210, &wait), DLV_HOSTS_OPEN);
    assert_true (wait >= 800 && wait <= 800 + DLV_HOSTS_OPEN_JITTER_MS);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 1009, &wait), DLV_HOSTS_OPEN);
    assert_true (wait >= 1 && wait <= 1 + DLV_HOSTS_OPEN_JITTER_MS);
    /* other destinations are unaffected */
    assert_int_equal (dlv_hosts_acquire (h, "http://ok:80", T0 + 300, &wait), DLV_HOSTS_GO);

    /* half-open: one trial, the others wait a short while */
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 1010, &wait), DLV_HOSTS_GO);
    for (int i = 0; i < 20; i++) {
        assert_int_equal (dlv_hosts_acquire (h, o, T0 + 1020, &wait), DLV_HOSTS_OPEN);
        assert_true (wait >= DLV_HOSTS_BUSY_MIN_MS && wait <= DLV_HOSTS_BUSY_MAX_MS);
    }
    assert_int_equal (dlv_hosts_open_count (h), 1);
    /* the trial fails: open again for a whole cool-down from now */
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 3000), DLV_HOSTS_OPENED);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 3000, &wait), DLV_HOSTS_OPEN);
    assert_true (wait >= 1000 && wait <= 1000 + DLV_HOSTS_OPEN_JITTER_MS);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 3999, &wait), DLV_HOSTS_OPEN);

    /* a trial that says nothing (aborted) lets another trial go */
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 4000, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 4001, &wait), DLV_HOSTS_OPEN);
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_NEUTRAL, T0 + 4002), DLV_HOSTS_SAME);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 4003, &wait), DLV_HOSTS_GO);
    /* the trial succeeds: closed, and the full cap is available again */
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_SUCCESS, T0 + 4100), DLV_HOSTS_CLOSED);
    assert_int_equal (dlv_hosts_open_count (h), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal (dlv_hosts_acquire (h, o, T0 + 4200, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 4200, &wait), DLV_HOSTS_BUSY);
    /* the run of failures starts afresh after closing */
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 4300), DLV_HOSTS_SAME);
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 4300), DLV_HOSTS_SAME);
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0 + 4300), DLV_HOSTS_OPENED);
    /* a success of an attempt started before it opened closes it */
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_SUCCESS, T0 + 4400), DLV_HOSTS_CLOSED);
    assert_int_equal (dlv_hosts_open_count (h), 0);
    dlv_hosts_destroy (&h);

    /* with one attempt per destination, a running trial still reads "open" */
    h = dlv_hosts_new (1, 1, 100, 0, 8);
    assert_non_null (h);
    assert_int_equal (dlv_hosts_acquire (h, o, T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_release (h, o, DLV_HOSTS_FAILURE, T0), DLV_HOSTS_OPENED);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 100, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, o, T0 + 101, &wait), DLV_HOSTS_OPEN);
    dlv_hosts_destroy (&h);
}

static void
test_circuit_off (void **state)
{
    (void)state;
    dlv_hosts_t *h = dlv_hosts_new (1, 0, 1000, 0, 3);
    assert_non_null (h);
    int64_t wait;
    for (int i = 0; i < 100; i++) {
        assert_int_equal (dlv_hosts_acquire (h, "http://x:1", T0 + i, &wait), DLV_HOSTS_GO);
        assert_int_equal (dlv_hosts_release (h, "http://x:1", DLV_HOSTS_FAILURE, T0 + i),
                          DLV_HOSTS_SAME);
    }
    assert_int_equal (dlv_hosts_open_count (h), 0);
    dlv_hosts_destroy (&h);
}

static proto_result_t
s_result (uint16_t code, const char *error)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.status_code = code;
    r.error = (char *)error;
    r.retry_after_ms = -1;
    return r;
}

static void
test_outcome (void **state)
{
    (void)state;
    for (uint32_t code = 100; code <= 599; code++) {
        proto_result_t r = s_result ((uint16_t)code, NULL);
        dlv_hosts_outcome_t expected =
            code >= 500 || code == 429 ? DLV_HOSTS_FAILURE : DLV_HOSTS_SUCCESS;
        assert_int_equal (dlv_hosts_outcome (&r), expected);
    }
    const char *failures[] = {"timeout", "connect", "dns", "tls", "network"};
    for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++) {
        proto_result_t r = s_result (0, failures[i]);
        assert_int_equal (dlv_hosts_outcome (&r), DLV_HOSTS_FAILURE);
    }
    const char *neutral[] = {"aborted", "blocked_destination", "invalid_secret", "deferred"};
    for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++) {
        proto_result_t r = s_result (200, neutral[i]);
        assert_int_equal (dlv_hosts_outcome (&r), DLV_HOSTS_NEUTRAL);
    }
}

static void
test_bounded_memory (void **state)
{
    (void)state;
    dlv_hosts_t *h = dlv_hosts_new (1, 1, 60000, 100, 9);
    assert_non_null (h);
    int64_t wait;
    char origin[64];
    /* one destination keeps an attempt in flight, one has an open circuit */
    assert_int_equal (dlv_hosts_acquire (h, "http://busy:80", T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, "http://dead:80", T0, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_release (h, "http://dead:80", DLV_HOSTS_FAILURE, T0),
                      DLV_HOSTS_OPENED);
    /* a flood of distinct destinations never grows past the cap */
    for (int i = 0; i < 100000; i++) {
        snprintf (origin, sizeof origin, "http://h%d.example:80", i);
        assert_int_equal (dlv_hosts_acquire (h, origin, T0 + 1, &wait), DLV_HOSTS_GO);
        dlv_hosts_release (h, origin, DLV_HOSTS_SUCCESS, T0 + 1);
        assert_true (dlv_hosts_size (h) <= 100);
    }
    assert_int_equal (dlv_hosts_size (h), 100);
    /* idle destinations went first: the busy and the open one are remembered */
    assert_int_equal (dlv_hosts_acquire (h, "http://busy:80", T0 + 2, &wait), DLV_HOSTS_BUSY);
    assert_int_equal (dlv_hosts_acquire (h, "http://dead:80", T0 + 2, &wait), DLV_HOSTS_OPEN);
    assert_int_equal (dlv_hosts_open_count (h), 1);
    /* the most recent idle destination is remembered, an old one is not */
    snprintf (origin, sizeof origin, "http://h%d.example:80", 99999);
    assert_int_equal (dlv_hosts_acquire (h, origin, T0 + 3, &wait), DLV_HOSTS_GO);
    assert_int_equal (dlv_hosts_acquire (h, origin, T0 + 3, &wait), DLV_HOSTS_BUSY);
    dlv_hosts_release (h, origin, DLV_HOSTS_SUCCESS, T0 + 3);

    /* open circuits with nothing in flight fill the table: the oldest goes */
    for (int i = 0; i < 300; i++) {
        snprintf (origin, sizeof origin, "http://down%d.example:80", i);
        assert_int_equal (dlv_hosts_acquire (h, origin, T0 + 4, &wait), DLV_HOSTS_GO);
        assert_int_equal (dlv_hosts_release (h, origin, DLV_HOSTS_FAILURE, T0 + 4),
                          DLV_HOSTS_OPENED);
        assert_true (dlv_hosts_size (h) <= 100);
    }
    assert_int_equal (dlv_hosts_open_count (h), 99); /* all but the busy one */
    assert_int_equal (dlv_hosts_acquire (h, "http://busy:80", T0 + 5, &wait), DLV_HOSTS_BUSY);
    assert_int_equal (dlv_hosts_acquire (h, "http://down299.example:80", T0 + 5, &wait),
                      DLV_HOSTS_OPEN);
    /* down0 was forgotten: it is tried afresh */
    assert_int_equal (dlv_hosts_acquire (h, "http://down0.example:80", T0 + 5, &wait),
                      DLV_HOSTS_GO);
    dlv_hosts_destroy (&h);
}

int
dlv_hosts_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_origin),           cmocka_unit_test (test_origin_memo),
        cmocka_unit_test (test_host_concurrency), cmocka_unit_test (test_circuit_cycle),
        cmocka_unit_test (test_circuit_off),      cmocka_unit_test (test_outcome),
        cmocka_unit_test (test_bounded_memory),
    };
    return cmocka_run_group_tests_name ("dlv_hosts_test", tests, NULL, NULL);
}
