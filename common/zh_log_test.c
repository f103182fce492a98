/*  zh_log_test.c — every line is one valid JSON object with the right fields,
 *  whatever the strings hold; level filtering; truncation of long lines. */
#include "common/zh_clock.h"
#include "common/zh_log.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/zh_capture.h"

#define MAX_LINES 16

typedef struct {
    char dir[64]; // mkdtemp directory
    char out[128]; // file fd 1 is redirected to
    int saved_stdout; // the real fd 1 while capturing
    char text[65536]; // captured output
    json_t *lines[MAX_LINES]; // parsed lines of the last capture
    int n_lines; // how many
    size_t json_flags; // extra json_loads flags for the next capture
} fixture_t;

static void
s_capture_begin (fixture_t *f)
{
    f->saved_stdout = zh_capture_begin (f->out);
}

static void
s_free_lines (fixture_t *f)
{
    for (int i = 0; i < f->n_lines; i++)
        json_decref (f->lines[i]);
    f->n_lines = 0;
}

/* Restores fd 1 and parses every captured line; each must be one JSON object. */
static void
s_capture_end (fixture_t *f)
{
    zh_capture_end (f->saved_stdout, f->out, f->text, sizeof f->text);
    s_free_lines (f);
    char *line = f->text;
    while (*line) {
        char *nl = strchr (line, '\n');
        assert_non_null (nl); /* every line ends with a newline */
        *nl = 0;
        json_error_t err;
        json_t *j = json_loads (line, JSON_REJECT_DUPLICATES | f->json_flags, &err);
        if (!j)
            fail_msg ("invalid JSON line (%s): %s", err.text, line);
        assert_true (json_is_object (j));
        assert_true (f->n_lines < MAX_LINES);
        f->lines[f->n_lines++] = j;
        *nl = '\n';
        line = nl + 1;
    }
}

static const char *
s_str (json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    assert_non_null (v);
    assert_true (json_is_string (v));
    return json_string_value (v);
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    snprintf (f->dir, sizeof f->dir, "/tmp/zh_log_test.XXXXXX");
    if (!mkdtemp (f->dir)) {
        free (f);
        return -1;
    }
    snprintf (f->out, sizeof f->out, "%s/stdout", f->dir);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    s_free_lines (f);
    unlink (f->out);
    rmdir (f->dir);
    free (f);
    zh_log_init ("zhook", ZH_LOG_INFO);
    return 0;
}

static void
test_fields (void **state)
{
    fixture_t *f = *state;
    zh_log_init ("scheduler", ZH_LOG_DEBUG);
    int64_t before = zh_clock_wall_ms ();
    s_capture_begin (f);
    zh_log (ZH_LOG_INFO, "dispatched", "s:id", "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV", "i:attempt",
            (int64_t)3, "i:neg", (int64_t)INT64_MIN, "u:big", (uint64_t)1 << 40, "d:ratio", 1.25,
            "b:yes", true, "b:no", false, "s:none", (const char *)NULL, NULL);
    zh_log (ZH_LOG_WARN, "plain", NULL);
    s_capture_end (f);
    int64_t after = zh_clock_wall_ms ();
    assert_int_equal (f->n_lines, 2);

    json_t *j = f->lines[0];
    assert_string_equal (s_str (j, "level"), "info");
    assert_string_equal (s_str (j, "stage"), "scheduler");
    assert_string_equal (s_str (j, "msg"), "dispatched");
    int64_t ts;
    assert_int_equal (zh_time_parse (s_str (j, "ts"), &ts), 0);
    assert_true (ts >= before && ts <= after);
    assert_int_equal (strlen (s_str (j, "ts")), 24);
    assert_string_equal (s_str (j, "id"), "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_int_equal (json_integer_value (json_object_get (j, "attempt")), 3);
    assert_true (json_integer_value (json_object_get (j, "neg")) == INT64_MIN);
    assert_true (json_integer_value (json_object_get (j, "big")) == (json_int_t)1 << 40);
    assert_true (fabs (json_number_value (json_object_get (j, "ratio")) - 1.25) < 1e-9);
    assert_true (json_is_true (json_object_get (j, "yes")));
    assert_true (json_is_false (json_object_get (j, "no")));
    assert_true (json_is_null (json_object_get (j, "none")));
    assert_int_equal (json_object_size (j), 12);

    assert_string_equal (s_str (f->lines[1], "level"), "warn");
    assert_string_equal (s_str (f->lines[1], "msg"), "plain");
    assert_int_equal (json_object_size (f->lines[1]), 4);

    /* UINT64_MAX is beyond jansson's integers, still a JSON number */
    s_capture_begin (f);
    zh_log (ZH_LOG_INFO, "max", "u:big", (uint64_t)UINT64_MAX, NULL);
    f->json_flags = JSON_DECODE_INT_AS_REAL;
    s_capture_end (f);
    f->json_flags = 0;
    assert_int_equal (f->n_lines, 1);
    assert_non_null (strstr (f->text, "\"big\":18446744073709551615}"));
    assert_true (json_real_value (json_object_get (f->lines[0], "big")) > 1.8e19);
}

static void
test_hostile_strings (void **state)
{
    fixture_t *f = *state;
    zh_log_init ("st\"age", ZH_LOG_DEBUG);
    const char *hostile = "quote\" backslash\\ slash/ nl\n cr\r tab\t bell\a nul-ish\x01 "
                          "del\x7f esc\x1b utf8 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
                          "}{\",\"level\":\"error";
    s_capture_begin (f);
    zh_log (ZH_LOG_ERROR, hostile, "s:k\"ey\n", hostile, "s:url", "http://x/?a=\"1\"&b=\\", NULL);
    s_capture_end (f);
    assert_int_equal (f->n_lines, 1);
    json_t *j = f->lines[0];
    assert_string_equal (s_str (j, "stage"), "st\"age");
    assert_string_equal (s_str (j, "level"), "error");
    assert_string_equal (s_str (j, "msg"), hostile);
    assert_string_equal (s_str (j, "k\"ey\n"), hostile);
    assert_string_equal (s_str (j, "url"), "http://x/?a=\"1\"&b=\\");
    /* control characters never appear raw in the line */
    for (const char *p = f->text; *p; p++)
        assert_true ((unsigned char)*p >= 0x20 || *p == '\n');
}

static void
test_invalid_utf8 (void **state)
{
    fixture_t *f = *state;
    zh_log_init ("test", ZH_LOG_DEBUG);
    /* stray continuation, overlong, surrogate, truncated sequence, 0xff */
    s_capture_begin (f);
    zh_log (ZH_LOG_INFO, "bytes", "s:a", "x\x80y", "s:b", "\xc0\xaf", "s:c", "\xed\xa0\x80", "s:d",
            "end\xe2\x82", "s:e", "\xff\xfe", "s:f", "\xf4\x90\x80\x80", NULL);
    s_capture_end (f);
    assert_int_equal (f->n_lines, 1);
    json_t *j = f->lines[0];
    assert_string_equal (s_str (j, "a"), "x\xef\xbf\xbdy");
    assert_string_equal (s_str (j, "b"), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_string_equal (s_str (j, "d"), "end\xef\xbf\xbd\xef\xbf\xbd");
}

static void
test_non_finite_double (void **state)
{
    fixture_t *f = *state;
    zh_log_init ("test", ZH_LOG_DEBUG);
    s_capture_begin (f);
    zh_log (ZH_LOG_INFO, "rates", "d:nan", NAN, "d:inf", INFINITY, "d:ok", -0.5, NULL);
    s_capture_end (f);
    assert_int_equal (f->n_lines, 1);
    assert_true (json_is_null (json_object_get (f->lines[0], "nan")));
    assert_true (json_is_null (json_object_get (f->lines[0], "inf")));
    assert_true (json_number_value (json_object_get (f->lines[0], "ok")) == -0.5);
}

static void
test_levels (void **state)
{
    fixture_t *f = *state;
    zh_log_level_t level = ZH_LOG_ERROR;
    assert_int_equal (zh_log_level_parse ("debug", &level), 0);
    assert_int_equal (level, ZH_LOG_DEBUG);
    assert_int_equal (zh_log_level_parse ("INFO", &level), 0);
    assert_int_equal (level, ZH_LOG_INFO);
    assert_int_equal (zh_log_level_parse ("Warn", &level), 0);
    assert_int_equal (level, ZH_LOG_WARN);
    assert_int_equal (zh_log_level_parse ("error", &level), 0);
    assert_int_equal (level, ZH_LOG_ERROR);
    assert_int_equal (zh_log_level_parse ("verbose", &level), -1);
    assert_int_equal (zh_log_level_parse ("", &level), -1);
    assert_int_equal (level, ZH_LOG_ERROR);

    zh_log_init ("test", ZH_LOG_WARN);
    assert_false (zh_log_enabled (ZH_LOG_DEBUG));
    assert_false (zh_log_enabled (ZH_LOG_INFO));
    assert_true (zh_log_enabled (ZH_LOG_WARN));
    assert_true (zh_log_enabled (ZH_LOG_ERROR));
    s_capture_begin (f);
    zh_debug ("hidden debug", NULL);
    zh_info ("hidden info", NULL);
    zh_warn ("shown warn", NULL);
    zh_error ("shown error", NULL);
    s_capture_end (f);
    assert_int_equal (f->n_lines, 2);
    assert_string_equal (s_str (f->lines[0], "msg"), "shown warn");
    assert_string_equal (s_str (f->lines[1], "msg"), "shown error");
}

static void
test_truncation (void **state)
{
    fixture_t *f = *state;
    zh_log_init ("test", ZH_LOG_DEBUG);
    size_t n = 10000;
    char *big = malloc (n + 1);
    assert_non_null (big);
    for (size_t i = 0; i < n; i++)
        big[i] = "ab\"\\\n\xc3\xa9"[i % 7]; /* escapes and a 2-byte character */
    big[n] = 0;
    s_capture_begin (f);
    /* fields too long: the head survives, the fields go */
    zh_log (ZH_LOG_INFO, "long field", "s:id", "msg_1", "s:body", big, NULL);
    /* the message itself too long: cut on a character boundary */
    zh_log (ZH_LOG_INFO, big, "s:id", "msg_2", NULL);
    /* just fitting lines are not marked */
    zh_log (ZH_LOG_INFO, "short", "s:id", "msg_3", NULL);
    s_capture_end (f);
    free (big);
    assert_int_equal (f->n_lines, 3);
    for (int i = 0; i < 2; i++) {
        assert_true (json_is_true (json_object_get (f->lines[i], "truncated")));
        assert_string_equal (s_str (f->lines[i], "level"), "info");
        assert_string_equal (s_str (f->lines[i], "stage"), "test");
    }
    assert_string_equal (s_str (f->lines[0], "msg"), "long field");
    const char *cut = s_str (f->lines[1], "msg");
    assert_true (strlen (cut) > 1000 && strlen (cut) < 4096);
    assert_memory_equal (cut,
                         "ab\"\\\n\xc3\xa9"
                         "ab",
                         9);
    assert_null (json_object_get (f->lines[2], "truncated"));
    /* every line fits the 4 KiB line buffer */
    for (const char *p = f->text, *nl; (nl = strchr (p, '\n')); p = nl + 1)
        assert_true (nl - p < 4096);
}

static void
test_json_escape (void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal (zh_json_escape (buf, 0, sizeof buf, "a\"b"), 4);
    assert_string_equal (buf, "a\\\"b");
    assert_int_equal (zh_json_escape (buf, 4, sizeof buf, "\x01"), 10);
    assert_string_equal (buf, "a\\\"b\\u0001");
    assert_int_equal (zh_json_escape (buf, 0, sizeof buf, "0123456789abcdef"), -1);
    assert_int_equal (zh_json_escape (buf, 0, sizeof buf, ""), 0);
    assert_string_equal (buf, "");
}

int zh_log_test (void);

int
zh_log_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_fields),       cmocka_unit_test (test_hostile_strings),
        cmocka_unit_test (test_invalid_utf8), cmocka_unit_test (test_non_finite_double),
        cmocka_unit_test (test_levels),       cmocka_unit_test (test_truncation),
        cmocka_unit_test (test_json_escape),
    };
    return cmocka_run_group_tests_name ("zh_log_test", tests, s_setup, s_teardown);
}
