/*  sch_config_test.c — the scheduler's environment: defaults, the hour
 *  windows turned into milliseconds (ZHOOK_DISABLE_AFTER_HOURS=2 is
 *  7,200,000 ms), the bounds of every range, and refusals, each logged as
 *  one error line naming the variable. Every variable of sch_config_vars
 *  (and its _FILE form) is unset before and after each test; log lines are
 *  captured in a mkdtemp directory. */
#include "common/zh_defaults.h"
#include "scheduler/sch_config.h"

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

int sch_config_test (void);

#define HOUR_MS (3600LL * 1000)

typedef struct {
    char dir[64]; // mkdtemp directory
    char out[128]; // captured stdout inside it
    int saved_stdout; // fd 1 while captured, else -1
    char captured[8192]; // what the last capture saw
} fixture_t;

static fixture_t *s_fx;

/* Every variable the scheduler reads, and its _FILE form, unset. */
static void
s_unset_all (void)
{
    char name[128];
    for (const zh_config_var_t *v = sch_config_vars; v->name; v++) {
        unsetenv (v->name);
        snprintf (name, sizeof name, "%s_FILE", v->name);
        unsetenv (name);
    }
}

/* CURVE keys are zh_curve_test's subject: here the sockets' keys are off */
static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    snprintf (f->dir, sizeof f->dir, "/tmp/sch_config_test.XXXXXX");
    if (!mkdtemp (f->dir)) {
        free (f);
        return -1;
    }
    snprintf (f->out, sizeof f->out, "%s/stdout", f->dir);
    f->saved_stdout = -1;
    s_fx = f;
    *state = f;
    s_unset_all ();
    setenv ("ZHOOK_CURVE", "off", 1);
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    s_unset_all ();
    unlink (f->out);
    rmdir (f->dir);
    free (f);
    s_fx = NULL;
    return 0;
}

/* Log lines go to fd 1: divert them to a file to check them (and to keep
 * the test output clean). */
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

/* Occurrences of needle in text. */
static int
s_count (const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
        n++;
    return n;
}

/* sch_config_new with the log captured: the config, or NULL. */
static sch_config_t *
s_new (const char **log)
{
    s_capture_begin ();
    sch_config_t *cfg = sch_config_new ();
    *log = s_capture_end ();
    return cfg;
}

/* Sets name=value, expects the config to be refused with exactly one error
 * line, and that line naming the variable. */
static void
s_expect_refused (const char *name, const char *value)
{
    setenv (name, value, 1);
    const char *log;
    sch_config_t *cfg = s_new (&log);
    if (cfg) {
        sch_config_destroy (&cfg);
        fail_msg ("%s=\"%s\" was accepted", name, value);
    }
    if (s_count (log, "\"level\":\"error\"") != 1)
        fail_msg ("%s=\"%s\": expected one error line, got: %s", name, value, log);
    char field[160];
    snprintf (field, sizeof field, "\"variable\":\"%s\"", name);
    if (!strstr (log, field))
        fail_msg ("%s=\"%s\": the error line does not name it: %s", name, value, log);
    unsetenv (name);
}

/* Sets name=value and returns the accepted config (the caller destroys it). */
static sch_config_t *
s_accepted (const char *name, const char *value)
{
    setenv (name, value, 1);
    const char *log;
    sch_config_t *cfg = s_new (&log);
    if (!cfg)
        fail_msg ("%s=\"%s\" was refused: %s", name, value, log);
    return cfg;
}

static void
test_defaults (void **state)
{
    (void)state;
    const char *log;
    sch_config_t *cfg = s_new (&log);
    assert_non_null (cfg);
    assert_int_equal (cfg->log_level, ZH_LOG_INFO);
    assert_string_equal (cfg->data_dir, ZH_DEF_DATA_DIR);
    assert_int_equal (cfg->map_size_mb, ZH_DEF_MAP_SIZE_MB);
    assert_string_equal (cfg->ops_listen, ZH_DEF_SCH_OPS_LISTEN);
    assert_string_equal (cfg->submit_endpoint, "tcp://*:5555");
    assert_string_equal (cfg->publish_endpoint, "tcp://*:5556");
    assert_string_equal (cfg->dispatch_endpoint, "tcp://*:5557");
    assert_string_equal (cfg->results_endpoint, "tcp://*:5558");
    assert_false (cfg->curve.enabled);
    assert_int_equal (cfg->heartbeat_ms, ZH_DEF_HEARTBEAT_MS);
    assert_int_equal (cfg->commit_batch, ZH_DEF_COMMIT_BATCH);
    assert_int_equal (cfg->dispatch_batch, ZH_DEF_DISPATCH_BATCH);
    assert_int_equal (cfg->dispatch_lead_ms, ZH_DEF_DISPATCH_LEAD_MS);
    assert_int_equal (cfg->dispatch_lead_ms, 50); /* the documented default */
    assert_int_equal (cfg->purge_batch, ZH_DEF_PURGE_BATCH);
    assert_int_equal (cfg->deliverer_timeout_ms, ZH_DEF_DELIVERER_TIMEOUT_MS);
    assert_int_equal (cfg->shutdown_grace_ms, ZH_DEF_SHUTDOWN_GRACE_MS);
    assert_int_equal (cfg->purge_interval_ms, ZH_DEF_PURGE_INTERVAL_MS);
    assert_int_equal (cfg->reader_check_ms, ZH_DEF_READER_CHECK_MS);
    assert_int_equal (cfg->reader_check_ms, 60000); /* the documented default */
    assert_null (cfg->admin_token);
    assert_int_equal (cfg->tenant_rate, 0);
    assert_int_equal (cfg->tenant_burst, 0);
    const sch_policy_t *p = &cfg->policy;
    assert_int_equal (p->max_attempts, ZH_DEF_MAX_ATTEMPTS);
    assert_int_equal (p->timeout_ms, ZH_DEF_TIMEOUT_MS);
    assert_int_equal (p->retry_base_ms, ZH_DEF_RETRY_BASE_MS);
    assert_int_equal (p->retry_max_ms, ZH_DEF_RETRY_MAX_MS);
    assert_int_equal (p->lease_margin_ms, ZH_DEF_LEASE_MARGIN_MS);
    /* the hour windows, in ms, with the values README documents */
    assert_int_equal (p->retention_ms, 72 * HOUR_MS);
    assert_int_equal (p->idempotency_ms, 24 * HOUR_MS);
    assert_int_equal (p->secret_overlap_ms, 24 * HOUR_MS);
    assert_int_equal (p->disable_after_ms, 120 * HOUR_MS);
    assert_int_equal (p->disable_after_ms, 432000000);
    assert_int_equal (p->retention_ms, ZH_DEF_RETENTION_HOURS * HOUR_MS);
    assert_int_equal (p->disable_after_ms, ZH_DEF_DISABLE_AFTER_HOURS * HOUR_MS);
    assert_int_equal (s_count (log, "\"level\":\"error\""), 0);
    sch_config_destroy (&cfg);
    assert_null (cfg);
    sch_config_destroy (&cfg); /* NULL is fine */
}

/* Subscription health: hours of continuous failure, in ms, whole hours. */
static void
test_disable_after_hours (void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int64_t ms;
    } ok[] = {
        {"2", 7200000},
        {"1", 3600000},
        {"120", 432000000},
        {"87600", 315360000000LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sch_config_t *cfg = s_accepted ("ZHOOK_DISABLE_AFTER_HOURS", ok[i].value);
        if (cfg->policy.disable_after_ms != ok[i].ms)
            fail_msg ("ZHOOK_DISABLE_AFTER_HOURS=%s: disable_after_ms %lld, expected %lld",
                      ok[i].value, (long long)cfg->policy.disable_after_ms, (long long)ok[i].ms);
        /* nothing else moves */
        assert_int_equal (cfg->policy.secret_overlap_ms, 24 * HOUR_MS);
        assert_int_equal (cfg->policy.retention_ms, 72 * HOUR_MS);
        sch_config_destroy (&cfg);
    }
    /* whole hours >= 1 only: 0 ("never") and fractions are refused */
    static const char *const bad[] = {
        "0", "-1", "87601", "0.5", "1.5", "2h", "1e3", "two", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        s_expect_refused ("ZHOOK_DISABLE_AFTER_HOURS", bad[i]);
    /* empty is unset: the default */
    sch_config_t *cfg = s_accepted ("ZHOOK_DISABLE_AFTER_HOURS", "");
    assert_int_equal (cfg->policy.disable_after_ms, ZH_DEF_DISABLE_AFTER_HOURS * HOUR_MS);
    sch_config_destroy (&cfg);
}

/* The other hour windows: bounds accepted and converted, one past refused. */
static void
test_hour_windows (void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *value;
        int64_t ms;
    } ok[] = {
        {"ZHOOK_SECRET_OVERLAP_HOURS", "0", 0},
        {"ZHOOK_SECRET_OVERLAP_HOURS", "1", HOUR_MS},
        {"ZHOOK_SECRET_OVERLAP_HOURS", "8760", 8760 * HOUR_MS},
        {"ZHOOK_RETENTION_HOURS", "0", 0},
        {"ZHOOK_RETENTION_HOURS", "3", 3 * HOUR_MS},
        {"ZHOOK_RETENTION_HOURS", "87600", 87600 * HOUR_MS},
        {"ZHOOK_IDEMPOTENCY_HOURS", "1", HOUR_MS},
        {"ZHOOK_IDEMPOTENCY_HOURS", "8760", 8760 * HOUR_MS},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        sch_config_t *cfg = s_accepted (ok[i].name, ok[i].value);
        const sch_policy_t *p = &cfg->policy;
        int64_t got = !strcmp (ok[i].name, "ZHOOK_SECRET_OVERLAP_HOURS") ? p->secret_overlap_ms
                      : !strcmp (ok[i].name, "ZHOOK_RETENTION_HOURS")    ? p->retention_ms
                                                                         : p->idempotency_ms;
        if (got != ok[i].ms)
            fail_msg ("%s=%s: %lld ms, expected %lld", ok[i].name, ok[i].value, (long long)got,
                      (long long)ok[i].ms);
        sch_config_destroy (&cfg);
        unsetenv (ok[i].name);
    }
    s_expect_refused ("ZHOOK_SECRET_OVERLAP_HOURS", "-1");
    s_expect_refused ("ZHOOK_SECRET_OVERLAP_HOURS", "8761");
    s_expect_refused ("ZHOOK_SECRET_OVERLAP_HOURS", "0.5");
    s_expect_refused ("ZHOOK_RETENTION_HOURS", "-1");
    s_expect_refused ("ZHOOK_RETENTION_HOURS", "87601");
    s_expect_refused ("ZHOOK_IDEMPOTENCY_HOURS", "0");
    s_expect_refused ("ZHOOK_IDEMPOTENCY_HOURS", "8761");
}

/* Every integer range: both bounds accepted, one past each refused. */
static void
test_ranges (void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *min, *max, *below, *above;
    } r[] = {
        {"ZHOOK_MAP_SIZE_MB", "1", "1048576", "0", "1048577"},
        {"ZHOOK_HEARTBEAT_MS", "100", "60000", "99", "60001"},
        {"ZHOOK_SHUTDOWN_GRACE_MS", "0", "600000", "-1", "600001"},
        {"ZHOOK_MAX_ATTEMPTS", "1", "100", "0", "101"},
        {"ZHOOK_TIMEOUT_MS", "100", "60000", "99", "60001"},
        {"ZHOOK_LEASE_MARGIN_MS", "100", "600000", "99", "600001"},
        {"ZHOOK_COMMIT_BATCH", "1", "100000", "0", "100001"},
        {"ZHOOK_DISPATCH_BATCH", "1", "100000", "0", "100001"},
        {"ZHOOK_DISPATCH_LEAD_MS", "0", "1000", "-1", "1001"},
        {"ZHOOK_PURGE_BATCH", "1", "100000", "0", "100001"},
        {"ZHOOK_DELIVERER_TIMEOUT_MS", "100", "600000", "99", "600001"},
        {"ZHOOK_PURGE_INTERVAL_MS", "100", "86400000", "99", "86400001"},
        {"ZHOOK_READER_CHECK_MS", "100", "86400000", "99", "86400001"},
        {"ZHOOK_TENANT_RATE", "0", "1000000", "-1", "1000001"},
        {"ZHOOK_TENANT_BURST", "0", "1000000", "-1", "1000001"},
    };
    for (size_t i = 0; i < sizeof r / sizeof *r; i++) {
        sch_config_t *cfg = s_accepted (r[i].name, r[i].min);
        sch_config_destroy (&cfg);
        cfg = s_accepted (r[i].name, r[i].max);
        sch_config_destroy (&cfg);
        s_expect_refused (r[i].name, r[i].below);
        s_expect_refused (r[i].name, r[i].above);
        s_expect_refused (r[i].name, "12x");
    }
    /* the retry pair: each bound, and base above max refused naming the base */
    sch_config_t *cfg = s_accepted ("ZHOOK_RETRY_BASE_MS", "1");
    sch_config_destroy (&cfg);
    unsetenv ("ZHOOK_RETRY_BASE_MS");
    cfg = s_accepted ("ZHOOK_RETRY_MAX_MS", "604800000");
    sch_config_destroy (&cfg);
    s_expect_refused ("ZHOOK_RETRY_BASE_MS", "0");
    s_expect_refused ("ZHOOK_RETRY_BASE_MS", "86400001");
    s_expect_refused ("ZHOOK_RETRY_MAX_MS", "0");
    s_expect_refused ("ZHOOK_RETRY_MAX_MS", "604800001");
    setenv ("ZHOOK_RETRY_MAX_MS", "4000", 1);
    cfg = s_accepted ("ZHOOK_RETRY_BASE_MS", "4000");
    assert_int_equal (cfg->policy.retry_base_ms, 4000);
    assert_int_equal (cfg->policy.retry_max_ms, 4000);
    sch_config_destroy (&cfg);
    s_expect_refused ("ZHOOK_RETRY_BASE_MS", "4001");
}

static void
test_overrides (void **state)
{
    (void)state;
    setenv ("ZHOOK_LOG_LEVEL", "debug", 1);
    setenv ("ZHOOK_DATA_DIR", "/var/lib/zhook", 1);
    setenv ("ZHOOK_SUBMIT_ENDPOINT", "tcp://127.0.0.1:7000", 1);
    setenv ("ZHOOK_OPS_LISTEN", "127.0.0.1:0", 1);
    setenv ("ZHOOK_READER_CHECK_MS", "250", 1);
    setenv ("ZHOOK_PURGE_INTERVAL_MS", "1000", 1);
    setenv ("ZHOOK_ADMIN_TOKEN", "backup-token", 1);
    setenv ("ZHOOK_TENANT_RATE", "5", 1);
    setenv ("ZHOOK_MAX_ATTEMPTS", "3", 1);
    setenv ("ZHOOK_TIMEOUT_MS", "2000", 1);
    const char *log;
    sch_config_t *cfg = s_new (&log);
    assert_non_null (cfg);
    assert_int_equal (cfg->log_level, ZH_LOG_DEBUG);
    assert_string_equal (cfg->data_dir, "/var/lib/zhook");
    assert_string_equal (cfg->submit_endpoint, "tcp://127.0.0.1:7000");
    assert_string_equal (cfg->ops_listen, "127.0.0.1:0");
    assert_int_equal (cfg->reader_check_ms, 250);
    assert_int_equal (cfg->purge_interval_ms, 1000);
    assert_string_equal (cfg->admin_token, "backup-token");
    assert_int_equal (cfg->tenant_rate, 5);
    assert_int_equal (cfg->tenant_burst, 5); /* burst 0 = one second's worth */
    assert_int_equal (cfg->policy.max_attempts, 3);
    assert_int_equal (cfg->policy.timeout_ms, 2000);
    sch_config_destroy (&cfg);
    /* an explicit burst is kept; an empty admin token is no token */
    setenv ("ZHOOK_TENANT_BURST", "12", 1);
    setenv ("ZHOOK_ADMIN_TOKEN", "", 1);
    cfg = s_new (&log);
    assert_non_null (cfg);
    assert_int_equal (cfg->tenant_burst, 12);
    assert_null (cfg->admin_token);
    sch_config_destroy (&cfg);
}

static void
test_other_refusals (void **state)
{
    (void)state;
    s_expect_refused ("ZHOOK_LOG_LEVEL", "loud");
    s_expect_refused ("ZHOOK_SUBMIT_ENDPOINT", "http://scheduler:5555");
    s_expect_refused ("ZHOOK_RESULTS_ENDPOINT", "tcp://noport");
    s_expect_refused ("ZHOOK_OPS_LISTEN", "nowhere");
    s_expect_refused ("ZHOOK_CURVE", "maybe");
}

/* --help's table: every variable read is listed, and each listed default
 * is the one applied (set every variable to its listed default: the same
 * config as with none set). */
static void
test_vars_table (void **state)
{
    (void)state;
    const char *log;
    sch_config_t *def = s_new (&log);
    assert_non_null (def);
    size_t n = 0;
    const char *reader_def = NULL;
    for (const zh_config_var_t *v = sch_config_vars; v->name; v++, n++) {
        assert_non_null (v->def);
        assert_non_null (v->help);
        if (!strcmp (v->name, "ZHOOK_READER_CHECK_MS"))
            reader_def = v->def;
        if (strncmp (v->name, "ZHOOK_CURVE", 11) != 0 && *v->def)
            setenv (v->name, v->def, 1);
    }
    assert_int_equal (n, 32);
    assert_non_null (reader_def);
    assert_string_equal (reader_def, "60000");
    sch_config_t *listed = s_new (&log);
    if (!listed)
        fail_msg ("the listed defaults are refused: %s", log);
    assert_int_equal (listed->log_level, def->log_level);
    assert_string_equal (listed->data_dir, def->data_dir);
    assert_int_equal (listed->map_size_mb, def->map_size_mb);
    assert_string_equal (listed->ops_listen, def->ops_listen);
    assert_string_equal (listed->submit_endpoint, def->submit_endpoint);
    assert_string_equal (listed->publish_endpoint, def->publish_endpoint);
    assert_string_equal (listed->dispatch_endpoint, def->dispatch_endpoint);
    assert_string_equal (listed->results_endpoint, def->results_endpoint);
    assert_int_equal (listed->heartbeat_ms, def->heartbeat_ms);
    assert_int_equal (listed->commit_batch, def->commit_batch);
    assert_int_equal (listed->dispatch_batch, def->dispatch_batch);
    assert_int_equal (listed->dispatch_lead_ms, def->dispatch_lead_ms);
    assert_int_equal (listed->purge_batch, def->purge_batch);
    assert_int_equal (listed->deliverer_timeout_ms, def->deliverer_timeout_ms);
    assert_int_equal (listed->shutdown_grace_ms, def->shutdown_grace_ms);
    assert_int_equal (listed->purge_interval_ms, def->purge_interval_ms);
    assert_int_equal (listed->reader_check_ms, def->reader_check_ms);
    assert_null (listed->admin_token);
    assert_int_equal (listed->tenant_rate, def->tenant_rate);
    assert_int_equal (listed->tenant_burst, def->tenant_burst);
    assert_memory_equal (&listed->policy, &def->policy, sizeof def->policy);
    sch_config_destroy (&listed);
    sch_config_destroy (&def);
}

int
sch_config_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_disable_after_hours, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hour_windows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ranges, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_overrides, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_other_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_vars_table, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("sch_config_test", tests, NULL, NULL);
}
