/*  zh_config_test.c — environment readers: ranges, forms, _FILE, errors. */
#include "common/zh_config.h"

#include <fcntl.h>
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

#define VAR "ZHOOK_UNIT_TEST_VAR"

typedef struct {
    char dir[64]; // mkdtemp directory
    char file[128]; // a value file inside it
    char out[128]; // captured stdout inside it
    int saved_stdout; // fd 1 while captured, else -1
    char captured[8192]; // what the last capture saw
} fixture_t;

static fixture_t *s_fx;

static void
s_write_file (const char *path, const char *content)
{
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (fwrite (content, 1, strlen (content), f), strlen (content));
    assert_int_equal (fclose (f), 0);
}

/* Log lines go to fd 1: divert them to a file to check (and to keep the
 * test output clean). */
static void
s_capture_begin (void)
{
    s_fx->saved_stdout = zh_capture_begin (s_fx->out);
}

static const char *
s_capture_end (void)
{
    int saved = s_fx->saved_stdout;
    s_fx->saved_stdout = -1;
    return zh_capture_end (saved, s_fx->out, s_fx->captured, sizeof s_fx->captured);
}

static int
s_count_lines (const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Runs an int read expected to fail; checks one error line names VAR. */
static void
s_expect_int_error (const char *value, int64_t min, int64_t max)
{
    setenv (VAR, value, 1);
    int64_t v = 99;
    s_capture_begin ();
    int rc = zh_config_int (VAR, 5, min, max, &v);
    const char *log = s_capture_end ();
    if (rc != -1)
        fail_msg ("accepted \"%s\" in [%lld, %lld]", value, (long long)min, (long long)max);
    assert_int_equal (s_count_lines (log), 1);
    assert_non_null (strstr (log, "\"variable\":\"" VAR "\""));
    assert_non_null (strstr (log, "\"level\":\"error\""));
    unsetenv (VAR);
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    snprintf (f->dir, sizeof f->dir, "/tmp/zh_config_test.XXXXXX");
    if (!mkdtemp (f->dir)) {
        free (f);
        return -1;
    }
    snprintf (f->file, sizeof f->file, "%s/value", f->dir);
    snprintf (f->out, sizeof f->out, "%s/stdout", f->dir);
    f->saved_stdout = -1;
    s_fx = f;
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    unlink (f->file);
    unlink (f->out);
    rmdir (f->dir);
    free (f);
    s_fx = NULL;
    return 0;
}

/* Each test starts and ends with neither VAR nor VAR_FILE set. */
static int
s_clean_env (void **state)
{
    (void)state;
    unsetenv (VAR);
    unsetenv (VAR "_FILE");
    unsetenv ("ZHOOK_INSTANCE_ID");
    return 0;
}

static void
test_instance_id (void **state)
{
    (void)state;
    char *id = NULL;
    /* default: prefix-host-pid, within the allowed alphabet and length */
    assert_int_equal (zh_config_instance_id ("ing", &id), 0);
    assert_true (strncmp (id, "ing-", 4) == 0);
    assert_true (strlen (id) <= ZH_INSTANCE_ID_MAX);
    char pid[32];
    snprintf (pid, sizeof pid, "-%ld", (long)getpid ());
    assert_string_equal (id + strlen (id) - strlen (pid), pid);
    free (id);
    setenv ("ZHOOK_INSTANCE_ID", "dlv-a.b_c:1", 1);
    assert_int_equal (zh_config_instance_id ("dlv", &id), 0);
    assert_string_equal (id, "dlv-a.b_c:1");
    free (id);
    id = NULL;
    const char *bad[] = {"has space", "a/b",
                         "x2345678901234567890123456789012345678901234567890123456789012345"};
    s_capture_begin ();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv ("ZHOOK_INSTANCE_ID", bad[i], 1);
        assert_int_equal (zh_config_instance_id ("dlv", &id), -1);
        assert_null (id);
    }
    s_capture_end ();
    assert_non_null (strstr (s_fx->captured, "ZHOOK_INSTANCE_ID"));
}

static void
test_int (void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal (zh_config_int (VAR, 5, 1, 100, &v), 0);
    assert_int_equal (v, 5);
    setenv (VAR, "", 1);
    assert_int_equal (zh_config_int (VAR, 6, 1, 100, &v), 0);
    assert_int_equal (v, 6);
    setenv (VAR, "42", 1);
    assert_int_equal (zh_config_int (VAR, 5, 1, 100, &v), 0);
    assert_int_equal (v, 42);
    setenv (VAR, "1", 1);
    assert_int_equal (zh_config_int (VAR, 5, 1, 100, &v), 0);
    assert_int_equal (v, 1);
    setenv (VAR, "100", 1);
    assert_int_equal (zh_config_int (VAR, 5, 1, 100, &v), 0);
    assert_int_equal (v, 100);
    setenv (VAR, "-7", 1);
    assert_int_equal (zh_config_int (VAR, 5, -10, 10, &v), 0);
    assert_int_equal (v, -7);
    setenv (VAR, "9223372036854775807", 1);
    assert_int_equal (zh_config_int (VAR, 5, 0, INT64_MAX, &v), 0);
    assert_int_equal (v, INT64_MAX);
    unsetenv (VAR);

    s_expect_int_error ("0", 1, 100);
    s_expect_int_error ("101", 1, 100);
    s_expect_int_error ("-1", 0, 100);
    s_expect_int_error ("abc", 0, 100);
    s_expect_int_error ("12abc", 0, 100);
    s_expect_int_error ("12 ", 0, 100);
    s_expect_int_error ("1.5", 0, 100);
    s_expect_int_error ("0x10", 0, 100);
    s_expect_int_error ("99999999999999999999", 0, INT64_MAX);
}

static void
test_bool (void **state)
{
    (void)state;
    const char *yes[] = {"1", "on", "ON", "true", "True", "yes", "YES", NULL};
    const char *no[] = {"0", "off", "Off", "false", "FALSE", "no", "No", NULL};
    bool b;
    for (int i = 0; yes[i]; i++) {
        setenv (VAR, yes[i], 1);
        b = false;
        assert_int_equal (zh_config_bool (VAR, false, &b), 0);
        assert_true (b);
    }
    for (int i = 0; no[i]; i++) {
        setenv (VAR, no[i], 1);
        b = true;
        assert_int_equal (zh_config_bool (VAR, true, &b), 0);
        assert_false (b);
    }
    unsetenv (VAR);
    assert_int_equal (zh_config_bool (VAR, true, &b), 0);
    assert_true (b);
    assert_int_equal (zh_config_bool (VAR, false, &b), 0);
    assert_false (b);
    const char *bad[] = {"maybe", "2", "y", "enabled", " on", NULL};
    for (int i = 0; bad[i]; i++) {
        setenv (VAR, bad[i], 1);
        s_capture_begin ();
        int rc = zh_config_bool (VAR, false, &b);
        const char *log = s_capture_end ();
        if (rc != -1)
            fail_msg ("accepted \"%s\"", bad[i]);
        assert_non_null (strstr (log, VAR));
    }
}

static void
test_string_and_defaults (void **state)
{
    (void)state;
    char *s = (char *)1;
    assert_int_equal (zh_config_string (VAR, NULL, &s), 0);
    assert_null (s);
    assert_int_equal (zh_config_string (VAR, "fallback", &s), 0);
    assert_string_equal (s, "fallback");
    free (s);
    setenv (VAR, "given value", 1);
    assert_int_equal (zh_config_string (VAR, "fallback", &s), 0);
    assert_string_equal (s, "given value");
    free (s);
    setenv (VAR, "", 1); /* set but empty is a value, not the default */
    assert_int_equal (zh_config_string (VAR, "fallback", &s), 0);
    assert_string_equal (s, "");
    free (s);
}

static void
test_file_form (void **state)
{
    fixture_t *f = *state;
    char *s = NULL;
    s_write_file (f->file, "s3cret\n\n");
    setenv (VAR "_FILE", f->file, 1);
    assert_int_equal (zh_config_string (VAR, NULL, &s), 0);
    assert_string_equal (s, "s3cret");
    free (s);

    s_write_file (f->file, "line one\nline two\r\n");
    assert_int_equal (zh_config_string (VAR, NULL, &s), 0);
    assert_string_equal (s, "line one\nline two");
    free (s);

    s_write_file (f->file, "");
    assert_int_equal (zh_config_string (VAR, "fallback", &s), 0);
    assert_string_equal (s, "");
    free (s);

    /* typed readers take the file form too */
    s_write_file (f->file, "77\n");
    int64_t v;
    assert_int_equal (zh_config_int (VAR, 5, 0, 100, &v), 0);
    assert_int_equal (v, 77);

    /* both forms set: refused, naming the variable */
    setenv (VAR, "direct", 1);
    s = NULL;
    s_capture_begin ();
    int rc = zh_config_string (VAR, NULL, &s);
    const char *log = s_capture_end ();
    assert_int_equal (rc, -1);
    assert_null (s);
    assert_non_null (strstr (log, VAR));
    unsetenv (VAR);

    /* a file that does not exist */
    char missing[160];
    snprintf (missing, sizeof missing, "%s/missing", f->dir);
    setenv (VAR "_FILE", missing, 1);
    s_capture_begin ();
    rc = zh_config_string (VAR, "fallback", &s);
    log = s_capture_end ();
    assert_int_equal (rc, -1);
    assert_non_null (strstr (log, VAR "_FILE"));
    unsetenv (VAR "_FILE");
}

static void
test_listen (void **state)
{
    (void)state;
    char *s = NULL;
    assert_int_equal (zh_config_listen (VAR, "0.0.0.0:8080", &s), 0);
    assert_string_equal (s, "0.0.0.0:8080");
    free (s);
    const char *good[] = {"127.0.0.1:0", "localhost:65535", "my-host.example:9090", NULL};
    for (int i = 0; good[i]; i++) {
        setenv (VAR, good[i], 1);
        assert_int_equal (zh_config_listen (VAR, "0.0.0.0:8080", &s), 0);
        assert_string_equal (s, good[i]);
        free (s);
    }
    const char *bad[] = {":80",   "host",  "host:",    "host:65536", "host:-1", "a b:80", "h:80x",
                         "h: 80", "h:+80", "[::1]:80", "h/x:80",     "",        NULL};
    for (int i = 0; bad[i]; i++) {
        setenv (VAR, bad[i], 1);
        s = NULL;
        s_capture_begin ();
        int rc = zh_config_listen (VAR, "0.0.0.0:8080", &s);
        const char *log = s_capture_end ();
        if (rc != -1)
            fail_msg ("accepted \"%s\"", bad[i]);
        assert_null (s);
        assert_non_null (strstr (log, VAR));
    }
}

static void
test_endpoint (void **state)
{
    (void)state;
    char *s = NULL;
    assert_int_equal (zh_config_endpoint (VAR, NULL, 5555, &s), 0);
    assert_string_equal (s, "tcp://*:5555");
    free (s);
    assert_int_equal (zh_config_endpoint (VAR, "10.1.2.3", 5557, &s), 0);
    assert_string_equal (s, "tcp://10.1.2.3:5557");
    free (s);
    const char *good[] = {"tcp://scheduler:5555", "ipc:///tmp/zhook.sock", "inproc://x",
                          "tcp://*:6000", NULL};
    for (int i = 0; good[i]; i++) {
        setenv (VAR, good[i], 1);
        assert_int_equal (zh_config_endpoint (VAR, "h", 1, &s), 0);
        assert_string_equal (s, good[i]);
        free (s);
    }
    const char *bad[] = {"http://x:80", "scheduler:5555", "tcp://scheduler", "", NULL};
    for (int i = 0; bad[i]; i++) {
        setenv (VAR, bad[i], 1);
        s = NULL;
        s_capture_begin ();
        int rc = zh_config_endpoint (VAR, "h", 1, &s);
        const char *log = s_capture_end ();
        if (rc != -1)
            fail_msg ("accepted \"%s\"", bad[i]);
        assert_null (s);
        assert_non_null (strstr (log, VAR));
    }
}

static void
test_args (void **state)
{
    (void)state;
    const zh_config_var_t vars[] = {
        {"ZHOOK_FOO", "12", "the foo"},
        {"ZHOOK_BAR", "", "the bar"},
        {NULL, NULL, NULL},
    };
    char prog[] = "zhook-test", help[] = "--help", version[] = "--version", bogus[] = "--x";
    char *argv_none[] = {prog, NULL};
    char *argv_help[] = {prog, help, NULL};
    char *argv_version[] = {prog, version, NULL};
    char *argv_bogus[] = {prog, bogus, NULL};
    assert_int_equal (zh_config_args (1, argv_none, "a test", vars), 0);

    s_capture_begin ();
    int rc = zh_config_args (2, argv_help, "a test", vars);
    const char *out = s_capture_end ();
    assert_int_equal (rc, 1);
    assert_non_null (strstr (out, "ZHOOK_FOO"));
    assert_non_null (strstr (out, "default: 12"));
    assert_non_null (strstr (out, "ZHOOK_BAR"));
    assert_non_null (strstr (out, "(unset)"));

    s_capture_begin ();
    rc = zh_config_args (2, argv_version, "a test", vars);
    out = s_capture_end ();
    assert_int_equal (rc, 1);
    assert_non_null (strstr (out, "zhook "));

    int saved = dup (STDERR_FILENO);
    int null = open ("/dev/null", O_WRONLY);
    assert_true (saved >= 0 && null >= 0);
    dup2 (null, STDERR_FILENO);
    rc = zh_config_args (2, argv_bogus, "a test", vars);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    close (null);
    assert_int_equal (rc, -1);
}

int zh_config_test (void);

int
zh_config_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_int, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_bool, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_string_and_defaults, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_file_form, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_listen, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_endpoint, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_args, s_clean_env, s_clean_env),
        cmocka_unit_test_setup_teardown (test_instance_id, s_clean_env, s_clean_env),
    };
    return cmocka_run_group_tests_name ("zh_config_test", tests, s_setup, s_teardown);
}
