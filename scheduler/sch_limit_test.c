/*  sch_limit_test.c — the tenant limit's token buckets: n tokens at once or
 *  none, burst apart from rate, refunds, and what the producer is told. */
#include "scheduler/sch_limit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define T0 INT64_C (1000000)

static void
test_take_n (void **state)
{
    (void)state;
    sch_bucket_t b = {0};
    sch_limit_info_t info;
    /* unlimited */
    assert_int_equal (sch_bucket_take_n (&b, 0, 0, 1000, T0, &info), 0);
    /* 10/s, burst 20: a batch of 15 fits, then 5 more, then nothing */
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 15, T0, &info), 0);
    assert_int_equal (info.limit, 20);
    assert_int_equal (info.remaining, 5);
    assert_int_equal (info.reset_ms, 1500);
    assert_int_equal (info.retry_after_ms, 0);
    /* all or none: 6 do not fit, nothing is taken */
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 6, T0, &info), 100);
    assert_int_equal (info.retry_after_ms, 100);
    assert_int_equal (info.remaining, 5);
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 5, T0, &info), 0);
    assert_int_equal (info.remaining, 0);
    assert_int_equal (info.reset_ms, 2000);
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 1, T0, &info), 100);
    /* refill: 250 ms = 2.5 tokens */
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 3, T0 + 250, &info), 50);
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 2, T0 + 250, &info), 0);
    /* more than the burst never fits */
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 21, T0 + 999999, &info), -1);
    /* refill stops at the burst */
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 20, T0 + 999999, &info), 0);
    assert_int_equal (sch_bucket_take_n (&b, 10, 20, 1, T0 + 999999, NULL), 100);
    /* a clock that goes back refills nothing */
    assert_true (sch_bucket_take_n (&b, 10, 20, 1, T0, NULL) > 0);
}

/* Accepted count over a window stays within burst + rate x time. */
static void
test_long_run (void **state)
{
    (void)state;
    sch_limit_t *lim = sch_limit_new (16);
    assert_non_null (lim);
    uint32_t accepted = 0, other = 0;
    for (int64_t ms = 0; ms <= 10000; ms += 7) {
        for (int k = 0; k < 3; k++)
            if (sch_limit_take_n (lim, "acme", 50, 100, 2, T0 + ms, NULL) == 0)
                accepted += 2;
        if (sch_limit_take_n (lim, "beta", 50, 100, 1, T0 + ms, NULL) == 0)
            other++;
    }
    /* 100 at once + 50/s for 10 s = 600 at most, and it used nearly all of it */
    assert_true (accepted <= 600);
    assert_true (accepted >= 590);
    /* another tenant is unaffected: every one of its ~1429 requests at 143/s
     * is limited only by its own bucket */
    assert_true (other >= 590 && other <= 600);
    sch_limit_destroy (&lim);
}

static void
test_give_back (void **state)
{
    (void)state;
    sch_limit_t *lim = sch_limit_new (4);
    sch_limit_info_t info;
    assert_int_equal (sch_limit_take_n (lim, "acme", 1, 10, 10, T0, &info), 0);
    assert_int_equal (info.remaining, 0);
    assert_true (sch_limit_take_n (lim, "acme", 1, 10, 1, T0, NULL) > 0);
    /* 4 of the 10 were not accepted */
    sch_limit_give (lim, "acme", 10, 4);
    assert_int_equal (sch_limit_take_n (lim, "acme", 1, 10, 4, T0, NULL), 0);
    assert_true (sch_limit_take_n (lim, "acme", 1, 10, 1, T0, NULL) > 0);
    /* never above the burst; unknown keys are a no-op */
    sch_limit_give (lim, "acme", 10, 1000);
    assert_int_equal (sch_limit_take_n (lim, "acme", 1, 10, 11, T0, NULL), -1);
    assert_int_equal (sch_limit_take_n (lim, "acme", 1, 10, 10, T0, NULL), 0);
    sch_limit_give (lim, "nobody", 10, 3);
    assert_int_equal (sch_limit_size (lim), 1);
    sch_limit_destroy (&lim);
}

int sch_limit_test (void);

int
sch_limit_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_take_n),
        cmocka_unit_test (test_long_run),
        cmocka_unit_test (test_give_back),
    };
    return cmocka_run_group_tests_name ("sch_limit_test", tests, NULL, NULL);
}
