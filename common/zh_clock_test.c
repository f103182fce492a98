/*  zh_clock_test.c — RFC 3339 formatting and parsing, clocks. */
#include "common/zh_clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

static int64_t
s_parse (const char *text)
{
    int64_t ms = -42;
    assert_int_equal (zh_time_parse (text, &ms), 0);
    return ms;
}

static void
test_format_known (void **state)
{
    (void)state;
    char buf[25];
    assert_int_equal (zh_time_format (0, buf, sizeof buf), 0);
    assert_string_equal (buf, "1970-01-01T00:00:00.000Z");
    assert_int_equal (zh_time_format (1767225600000LL, buf, sizeof buf), 0);
    assert_string_equal (buf, "2026-01-01T00:00:00.000Z");
    assert_int_equal (zh_time_format (1709164800123LL, buf, sizeof buf), 0);
    assert_string_equal (buf, "2024-02-29T00:00:00.123Z");
    assert_int_equal (zh_time_format (253402300799999LL, buf, sizeof buf), 0);
    assert_string_equal (buf, "9999-12-31T23:59:59.999Z");
}

static void
test_format_invalid (void **state)
{
    (void)state;
    char buf[25];
    assert_int_equal (zh_time_format (-1, buf, sizeof buf), -1);
    assert_int_equal (zh_time_format (253402300800000LL, buf, sizeof buf), -1);
    assert_int_equal (zh_time_format (0, buf, 24), -1);
}

static void
test_round_trip (void **state)
{
    (void)state;
    const int64_t values[] = {0,
                              1,
                              999,
                              1000,
                              951782400000LL /* 2000-02-29 */,
                              1767225599999LL,
                              1795000000123LL,
                              4102444800000LL,
                              253402300799999LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[32];
        assert_int_equal (zh_time_format (values[i], buf, sizeof buf), 0);
        assert_int_equal (s_parse (buf), values[i]);
    }
    /* every millisecond of a day boundary and a sweep across years */
    for (int64_t ms = 1767225599000LL; ms < 1767225601000LL; ms += 7) {
        char buf[32];
        assert_int_equal (zh_time_format (ms, buf, sizeof buf), 0);
        assert_int_equal (s_parse (buf), ms);
    }
    for (int64_t ms = 0; ms < 253402300799999LL; ms += 86400000LL * 97 + 12345) {
        char buf[32];
        assert_int_equal (zh_time_format (ms, buf, sizeof buf), 0);
        assert_int_equal (s_parse (buf), ms);
    }
}

static void
test_offsets (void **state)
{
    (void)state;
    int64_t utc = s_parse ("2026-11-22T10:00:00Z");
    assert_int_equal (s_parse ("2026-11-22T12:00:00+02:00"), utc);
    assert_int_equal (s_parse ("2026-11-22T04:30:00-05:30"), utc);
    assert_int_equal (s_parse ("2026-11-22T10:00:00+00:00"), utc);
    assert_int_equal (s_parse ("2026-11-22T10:00:00-00:00"), utc);
    assert_int_equal (s_parse ("2026-11-23T09:59:00+23:59"), utc);
    /* the offset moves the date across midnight and the year */
    assert_int_equal (s_parse ("2025-12-31T23:00:00-01:00"), 1767225600000LL);
    /* lower-case separators */
    assert_int_equal (s_parse ("2026-11-22t10:00:00z"), utc);
}

static void
test_fractions (void **state)
{
    (void)state;
    int64_t base = s_parse ("2026-11-22T10:00:00Z");
    assert_int_equal (s_parse ("2026-11-22T10:00:00.1Z"), base + 100);
    assert_int_equal (s_parse ("2026-11-22T10:00:00.12Z"), base + 120);
    assert_int_equal (s_parse ("2026-11-22T10:00:00.123Z"), base + 123);
    assert_int_equal (s_parse ("2026-11-22T10:00:00.1239Z"), base + 123); /* truncated */
    assert_int_equal (s_parse ("2026-11-22T10:00:00.999999999Z"), base + 999);
    assert_int_equal (s_parse ("2026-11-22T10:00:00.000+01:00"), base - 3600000);
}

static void
test_leap_years (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal (s_parse ("2000-02-29T12:00:00Z"), 951825600000LL);
    int64_t ms;
    assert_int_equal (zh_time_parse ("2023-02-29T00:00:00Z", &ms), -1);
    assert_int_equal (zh_time_parse ("2100-02-29T00:00:00Z", &ms), -1);
    assert_int_equal (zh_time_parse ("2024-02-30T00:00:00Z", &ms), -1);
    /* a leap second folds into the next minute */
    assert_int_equal (s_parse ("2016-12-31T23:59:60Z"), s_parse ("2017-01-01T00:00:00Z"));
}

static void
test_invalid (void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026",
        "2026-02-30T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-11-22T10:00:00", /* missing zone */
        "2026-11-22T10:00:00ZZ", /* trailing junk */
        "2026-11-22T10:00:00Z ",
        "2026-11-22T10:00:00+01:00x",
        " 2026-11-22T10:00:00Z",
        "2026-11-22 10:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T10:60:00Z",
        "2026-11-22T10:00:61Z",
        "2026-11-22T10:00Z",
        "2026-1-22T10:00:00Z",
        "26-11-22T10:00:00Z",
        "2026/11/22T10:00:00Z",
        "2026-11-22T10:00:00.Z", /* empty fraction */
        "2026-11-22T10:00:00.1234567890Z",
        "2026-11-22T10:00:00+0100",
        "2026-11-22T10:00:00+01",
        "2026-11-22T10:00:00+24:00",
        "2026-11-22T10:00:00+01:60",
        "1969-12-31T23:59:59Z", /* before the epoch */
        "1970-01-01T00:00:00+01:00", /* before the epoch once offset */
        "9999-12-31T23:59:59-00:01", /* past 9999 once offset: not formattable */
        "2026-11-22T1O:00:00Z",
        "abcd-11-22T10:00:00Z",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        int64_t ms = 12345;
        if (zh_time_parse (bad[i], &ms) != -1)
            fail_msg ("accepted \"%s\"", bad[i]);
        assert_int_equal (ms, 12345); /* untouched on error */
    }
}

static void
test_clocks (void **state)
{
    (void)state;
    int64_t wall = zh_clock_wall_ms ();
    assert_true (wall > 1700000000000LL);
    int64_t m1 = zh_clock_mono_ms ();
    int64_t u1 = zh_clock_mono_us ();
    int64_t m2 = zh_clock_mono_ms ();
    int64_t u2 = zh_clock_mono_us ();
    assert_true (m2 >= m1);
    assert_true (u2 >= u1);
    assert_true (u1 / 1000 >= m1 - 1 && u1 / 1000 <= m2 + 1);
}

int zh_clock_test (void);

int
zh_clock_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_format_known), cmocka_unit_test (test_format_invalid),
        cmocka_unit_test (test_round_trip),   cmocka_unit_test (test_offsets),
        cmocka_unit_test (test_fractions),    cmocka_unit_test (test_leap_years),
        cmocka_unit_test (test_invalid),      cmocka_unit_test (test_clocks),
    };
    return cmocka_run_group_tests_name ("zh_clock_test", tests, NULL, NULL);
}
