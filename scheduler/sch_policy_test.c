/*  sch_policy_test.c — backoff, jitter bounds, Retry-After cap, outcomes. */
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

static void
test_retry_after_replaces_and_caps (void **state)
{
    (void)state;
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 1, 30000, 0), 30000);
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 5, 0, 0), 0);
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 1, INT64_MAX, 0), 3600000);
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 1, 3600001, 0), 3600000);
    /* absent (-1): the backoff */
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 1, -1, 200), 1000);
    assert_int_equal (sch_policy_retry_delay_ms (&s_policy, 2, -1, 400), 2000);
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

int sch_policy_test (void);

int
sch_policy_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_backoff_doubles_within_jitter),
        cmocka_unit_test (test_backoff_caps_and_never_overflows),
        cmocka_unit_test (test_retry_after_replaces_and_caps),
        cmocka_unit_test (test_classify_every_status),
        cmocka_unit_test (test_classify_errors),
    };
    return cmocka_run_group_tests_name ("sch_policy_test", tests, NULL, NULL);
}
