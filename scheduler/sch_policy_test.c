/*  sch_policy_test.c — backoff, jitter bounds, Retry-After cap, the slower
 *  retry of 429/503, deferral waits, outcomes. */
#include "scheduler/sch_policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static const sch_policy_t s_policy = {
    .max_attempts = 8,
    .timeout_ms = 10000,
    .retry_base_ms = 1000,
    .retry_max_ms = 3600000,
    .lease_margin_ms = 5000,
    .retention_ms = 72 * 3600000LL,
    .idempotency_ms = 24 * 3600000LL,
};

/* rnd values covering the whole jitter range: low end, middle, high end, random-ish */
static const uint64_t s_rnds[] = {
    0, 1, UINT64_MAX / 2, UINT64_MAX - 1, UINT64_MAX, 0x123456789abcdefULL, 0xfedcba9876543210ULL};

static void
test_backoff_doubles_within_jitter (void **state)
{
    (void)state;
    for (uint32_t k = 1; k <= 100; k++) {
        int64_t nominal =
            k - 1 >= 62 ? s_policy.retry_max_ms : (int64_t)1000 << (k - 1 < 40 ? k - 1 : 40);
        if (nominal > s_policy.retry_max_ms || k - 1 >= 40)
            nominal = s_policy.retry_max_ms;
        int64_t lo = nominal - nominal / 5, hi = nominal + nominal * 2 / 5 - nominal / 5;
        if (hi > s_policy.retry_max_ms)
            hi = s_policy.retry_max_ms;
        for (size_t i = 0; i < sizeof s_rnds / sizeof s_rnds[0]; i++) {
            int64_t d = sch_policy_backoff_ms (&s_policy, k, s_rnds[i]);
            assert_true (d >= lo);
            assert_true (d <= hi);
            assert_true (d <= s_policy.retry_max_ms);
        }
    }
    /* the exact ends of the ±20% band for attempt 1 (base 1000) */
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 1, 0), 800);
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 1, 400), 1200);
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 1, 200), 1000);
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 2, 400), 2000);
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 3, 800), 4000);
    /* k = 0 behaves as k = 1 */
    assert_int_equal (sch_policy_backoff_ms (&s_policy, 0, 200), 1000);
}

static void
test_backoff_caps_and_never_overflows (void **state)
{
    (void)state;
    sch_policy_t p = s_policy;
    p.retry_base_ms = 1000;
    p.retry_max_ms = 5000;
    /* k = 4 -> 8000 nominal, capped at 5000, jitter below the cap only */
    for (size_t i = 0; i < sizeof s_rnds / sizeof s_rnds[0]; i++) {
        int64_t d = sch_policy_backoff_ms (&p, 4, s_rnds[i]);
        assert_true (d >= 4000 && d <= 5000);
        d = sch_policy_backoff_ms (&p, UINT32_MAX, s_rnds[i]);
        assert_true (d >= 4000 && d <= 5000);
    }
    p.retry_base_ms = 604800000;
    p.retry_max_ms = 604800000;
    for (uint32_t k = 1; k < 200; k++)
        assert_true (sch_policy_backoff_ms (&p, k, UINT64_MAX) <= 604800000);
    p.retry_base_ms = 1;
    p.retry_max_ms = 1;
    assert_true (sch_policy_backoff_ms (&p, 1, 12345) <= 1);
}

static int64_t
s_delay (uint16_t code, const char *error, int64_t retry_after_ms, uint32_t k, uint64_t rnd)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.status_code = code;
    r.error = (char *)error;
    r.retry_after_ms = retry_after_ms;
    return sch_policy_retry_delay_ms (&s_policy, &r, k, rnd);
}

static void
test_retry_after_replaces_and_caps (void **state)
{
    (void)state;
    assert_int_equal (s_delay (500, NULL, 30000, 1, 0), 30000);
    assert_int_equal (s_delay (500, NULL, 0, 5, 0), 0);
    assert_int_equal (s_delay (500, NULL, INT64_MAX, 1, 0), 3600000);
    assert_int_equal (s_delay (500, NULL, 3600001, 1, 0), 3600000);
    /* Retry-After on 429 and 503 is honoured as given, not doubled */
    assert_int_equal (s_delay (429, NULL, 30000, 1, 0), 30000);
    assert_int_equal (s_delay (503, NULL, 7000, 3, 0), 7000);
    assert_int_equal (s_delay (503, NULL, 7200000, 3, 0), 3600000);
    /* absent (-1): the backoff */
    assert_int_equal (s_delay (500, NULL, -1, 1, 200), 1000);
    assert_int_equal (s_delay (500, NULL, -1, 2, 400), 2000);
    assert_int_equal (s_delay (0, "timeout", -1, 2, 400), 2000);
}

static void
test_429_503_slow_down (void **state)
{
    (void)state;
    /* without Retry-After, 429 and 503 wait the next step's backoff */
    for (uint32_t k = 1; k <= 12; k++)
        for (size_t i = 0; i < sizeof s_rnds / sizeof s_rnds[0]; i++) {
            int64_t next = sch_policy_backoff_ms (&s_policy, k + 1, s_rnds[i]);
            assert_int_equal (s_delay (429, NULL, -1, k, s_rnds[i]), next);
            assert_int_equal (s_delay (503, NULL, -1, k, s_rnds[i]), next);
            /* other statuses and errors keep the usual step */
            int64_t usual = sch_policy_backoff_ms (&s_policy, k, s_rnds[i]);
            assert_int_equal (s_delay (500, NULL, -1, k, s_rnds[i]), usual);
            assert_int_equal (s_delay (502, NULL, -1, k, s_rnds[i]), usual);
            assert_int_equal (s_delay (404, NULL, -1, k, s_rnds[i]), usual);
            /* a status code beside an error is no answer from the receiver */
            assert_int_equal (s_delay (503, "timeout", -1, k, s_rnds[i]), usual);
        }
    /* twice the usual delay, exactly, at the middle of the jitter band */
    assert_int_equal (s_delay (500, NULL, -1, 1, 200), 1000);
    assert_int_equal (s_delay (429, NULL, -1, 1, 400), 2000);
    assert_int_equal (s_delay (503, NULL, -1, 3, 1600), 8000);
    /* k = 0 behaves as k = 1; the cap still holds; no overflow at the top */
    assert_int_equal (s_delay (429, NULL, -1, 0, 400), 2000);
    assert_true (s_delay (429, NULL, -1, 40, UINT64_MAX) <= s_policy.retry_max_ms);
    assert_true (s_delay (503, NULL, -1, UINT32_MAX, UINT64_MAX) <= s_policy.retry_max_ms);
    assert_true (s_delay (503, NULL, -1, UINT32_MAX, 0) >= s_policy.retry_max_ms * 4 / 5);
}

static void
test_defer_wait (void **state)
{
    (void)state;
    assert_int_equal (sch_policy_defer_ms (&s_policy, 700), 700);
    assert_int_equal (sch_policy_defer_ms (&s_policy, 3000), 3000);
    assert_int_equal (sch_policy_defer_ms (&s_policy, 0), SCH_POLICY_DEFER_MIN_MS);
    assert_int_equal (sch_policy_defer_ms (&s_policy, 49), SCH_POLICY_DEFER_MIN_MS);
    assert_int_equal (sch_policy_defer_ms (&s_policy, 50), 50);
    assert_int_equal (sch_policy_defer_ms (&s_policy, -1), SCH_POLICY_DEFER_DEFAULT_MS);
    assert_int_equal (sch_policy_defer_ms (&s_policy, INT64_MAX), s_policy.retry_max_ms);
    sch_policy_t p = s_policy;
    p.retry_max_ms = 500;
    assert_int_equal (sch_policy_defer_ms (&p, 30000), 500);
    assert_int_equal (sch_policy_defer_ms (&p, -1), 500);
}

static sch_outcome_t
s_classify (uint16_t code, const char *error, uint32_t k, uint32_t max, const char **reason)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.status_code = code;
    r.error = (char *)error;
    r.retry_after_ms = -1;
    return sch_policy_classify (&r, k, max, reason);
}

static void
test_classify_every_status (void **state)
{
    (void)state;
    const char *reason;
    for (uint32_t code = 0; code <= 999; code++) {
        for (uint32_t k = 1; k <= 3; k++) {
            sch_outcome_t o = s_classify ((uint16_t)code, NULL, k, 3, &reason);
            if (code >= 200 && code <= 299) {
                assert_int_equal (o, SCH_OUTCOME_DELIVERED);
                assert_null (reason);
            }
            else if (code == 410) {
                assert_int_equal (o, SCH_OUTCOME_DEAD);
                assert_string_equal (reason, "gone");
            }
            else if (k < 3) {
                assert_int_equal (o, SCH_OUTCOME_RETRY);
                assert_null (reason);
            }
            else {
                assert_int_equal (o, SCH_OUTCOME_DEAD);
                assert_string_equal (reason, "max_attempts");
            }
        }
    }
}

static void
test_classify_errors (void **state)
{
    (void)state;
    const char *reason;
    const char *retryable[] = {"timeout", "connect", "dns",          "tls",
                               "network", "aborted", "lease_expired"};
    for (size_t i = 0; i < sizeof retryable / sizeof retryable[0]; i++) {
        assert_int_equal (s_classify (0, retryable[i], 1, 8, &reason), SCH_OUTCOME_RETRY);
        assert_int_equal (s_classify (0, retryable[i], 8, 8, &reason), SCH_OUTCOME_DEAD);
        assert_string_equal (reason, "max_attempts");
        /* a status code with an error is still a failure */
        assert_int_equal (s_classify (200, retryable[i], 1, 8, &reason), SCH_OUTCOME_RETRY);
    }
    assert_int_equal (s_classify (0, "blocked_destination", 1, 8, &reason), SCH_OUTCOME_DEAD);
    assert_string_equal (reason, "blocked_destination");
    assert_int_equal (s_classify (0, "invalid_secret", 1, 8, &reason), SCH_OUTCOME_DEAD);
    assert_string_equal (reason, "invalid_secret");
    /* 410 wins over attempts left; max_attempts 1 dies on the first failure */
    assert_int_equal (s_classify (410, NULL, 1, 100, &reason), SCH_OUTCOME_DEAD);
    assert_int_equal (s_classify (500, NULL, 1, 1, &reason), SCH_OUTCOME_DEAD);
    assert_string_equal (reason, "max_attempts");
    /* past max (replay arithmetic gone wrong) is still dead, never a retry */
    assert_int_equal (s_classify (500, NULL, 9, 8, &reason), SCH_OUTCOME_DEAD);
}

static void
test_classify_deferred (void **state)
{
    (void)state;
    const char *reason = "x";
    /* never dead, whatever the attempt count, and never delivered */
    for (uint32_t k = 0; k <= 10; k++) {
        assert_int_equal (s_classify (0, "deferred", k, 3, &reason), SCH_OUTCOME_DEFERRED);
        assert_null (reason);
        assert_int_equal (s_classify (200, "deferred", k, 1, &reason), SCH_OUTCOME_DEFERRED);
        assert_int_equal (s_classify (410, "deferred", k, 1, &reason), SCH_OUTCOME_DEFERRED);
    }
    /* only the exact word */
    assert_int_equal (s_classify (0, "deferred2", 1, 3, &reason), SCH_OUTCOME_RETRY);
    assert_int_equal (s_classify (0, "Deferred", 3, 3, &reason), SCH_OUTCOME_DEAD);
}

int sch_policy_test (void);

int
sch_policy_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_backoff_doubles_within_jitter),
        cmocka_unit_test (test_backoff_caps_and_never_overflows),
        cmocka_unit_test (test_retry_after_replaces_and_caps),
        cmocka_unit_test (test_429_503_slow_down),
        cmocka_unit_test (test_defer_wait),
        cmocka_unit_test (test_classify_every_status),
        cmocka_unit_test (test_classify_errors),
        cmocka_unit_test (test_classify_deferred),
    };
    return cmocka_run_group_tests_name ("sch_policy_test", tests, NULL, NULL);
}
