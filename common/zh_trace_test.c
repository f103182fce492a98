/*  zh_trace_test.c — traceparent validation, new traces and child spans. */
#include "common/zh_trace.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define GOOD "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void
test_valid (void **state)
{
    (void)state;
    assert_true (zh_trace_valid (GOOD));
    assert_true (zh_trace_valid ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    const char *bad[] = {
        "",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* upper case */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", /* short trace */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", /* short flags */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* trailing */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902g7-01", /* not hex */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++)
        assert_false (zh_trace_valid (bad[i]));
    assert_false (zh_trace_valid (NULL));
}

static void
test_new (void **state)
{
    (void)state;
    char a[ZH_TRACEPARENT_SIZE], b[ZH_TRACEPARENT_SIZE];
    assert_int_equal (zh_trace_new (a, sizeof a), 0);
    assert_int_equal (zh_trace_new (b, sizeof b), 0);
    assert_true (zh_trace_valid (a));
    assert_true (zh_trace_valid (b));
    assert_string_not_equal (a, b);
    assert_memory_equal (a + 52, "-01", 3);
    char small[ZH_TRACEPARENT_LEN];
    assert_int_equal (zh_trace_new (small, sizeof small), -1);
}

static void
test_child (void **state)
{
    (void)state;
    char c1[ZH_TRACEPARENT_SIZE], c2[ZH_TRACEPARENT_SIZE], span[ZH_SPAN_ID_SIZE];
    assert_int_equal (zh_trace_child (GOOD, c1, sizeof c1, span, sizeof span), 0);
    assert_int_equal (zh_trace_child (GOOD, c2, sizeof c2, NULL, 0), 0);
    assert_true (zh_trace_valid (c1));
    assert_true (zh_trace_valid (c2));
    /* same trace id and flags, a new span id each time */
    assert_memory_equal (c1, GOOD, 36);
    assert_memory_equal (c2, GOOD, 36);
    assert_string_equal (c1 + 52, "-01");
    assert_memory_not_equal (c1 + 36, GOOD + 36, 16);
    assert_memory_not_equal (c1 + 36, c2 + 36, 16);
    assert_int_equal (strlen (span), 16);
    assert_memory_equal (span, c1 + 36, 16);
    assert_int_equal (zh_trace_child ("00-zz", c1, sizeof c1, NULL, 0), -1);
    assert_int_equal (zh_trace_child (NULL, c1, sizeof c1, NULL, 0), -1);
    assert_int_equal (zh_trace_child (GOOD, c1, sizeof c1, span, 8), -1);
}

static void
test_id (void **state)
{
    (void)state;
    char id[ZH_TRACE_ID_SIZE];
    assert_ptr_equal (zh_trace_id (GOOD, id, sizeof id), id);
    assert_string_equal (id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_null (zh_trace_id ("nope", id, sizeof id));
    assert_string_equal (id, "");
    assert_null (zh_trace_id (GOOD, id, 10));
    char span[ZH_SPAN_ID_SIZE];
    assert_ptr_equal (zh_trace_span_id (GOOD, span, sizeof span), span);
    assert_string_equal (span, "00f067aa0ba902b7");
    assert_null (zh_trace_span_id ("00-", span, sizeof span));
    assert_string_equal (span, "");
}

int zh_trace_test (void);
int
zh_trace_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_valid),
        cmocka_unit_test (test_new),
        cmocka_unit_test (test_child),
        cmocka_unit_test (test_id),
    };
    return cmocka_run_group_tests_name ("zh_trace_test", tests, NULL, NULL);
}
