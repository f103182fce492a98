/*  dlv_config_test.c — the deliverer's environment: defaults, overrides,
 *  refusals. Every variable touched is unset again after each test. */
#include "common/zh_defaults.h"
#include "deliverer/dlv_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

int dlv_config_test (void);

static const char *const s_vars[] = {
    "ZHOOK_LOG_LEVEL",
    "ZHOOK_SCHEDULER_HOST",
    "ZHOOK_DISPATCH_ENDPOINT",
    "ZHOOK_RESULTS_ENDPOINT",
    "ZHOOK_OPS_LISTEN",
    "ZHOOK_CONCURRENCY",
    "ZHOOK_PREFETCH",
    "ZHOOK_HEARTBEAT_MS",
    "ZHOOK_SHUTDOWN_GRACE_MS",
    "ZHOOK_RESPONSE_BODY_MAX",
    "ZHOOK_ALLOW_PRIVATE_TARGETS",
    "ZHOOK_SIGNING_SECRET",
    "ZHOOK_SIGNING_SECRET_FILE",
    "ZHOOK_INSTANCE_ID",
    "ZHOOK_ALLOWED_CIDRS",
    "ZHOOK_EGRESS_PROXY",
    "ZHOOK_EGRESS_PROXY_FILE",
    "ZHOOK_CURVE",
    "ZHOOK_CURVE_SECRET_FILE",
    "ZHOOK_CURVE_SERVER_FILE",
    NULL,
};

static int
s_clear (void **state)
{
    (void)state;
    for (const char *const *v = s_vars; *v; v++)
        unsetenv (*v);
    return 0;
}

/* CURVE keys are zh_curve_test's subject: here the sockets' keys are off */
static int
s_setup (void **state)
{
    s_clear (state);
    setenv ("ZHOOK_CURVE", "off", 1);
    return 0;
}

static void
test_defaults (void **state)
{
    (void)state;
    dlv_config_t *cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_int_equal (cfg->log_level, ZH_LOG_INFO);
    assert_string_equal (cfg->dispatch_endpoint, "tcp://127.0.0.1:5557");
    assert_string_equal (cfg->results_endpoint, "tcp://127.0.0.1:5558");
    assert_int_equal (cfg->host_concurrency, ZH_DEF_HOST_CONCURRENCY);
    assert_int_equal (cfg->circuit_failures, ZH_DEF_CIRCUIT_FAILURES);
    assert_int_equal (cfg->circuit_cooldown_ms, ZH_DEF_CIRCUIT_COOLDOWN_MS);
    assert_string_equal (cfg->ops_listen, ZH_DEF_DLV_OPS_LISTEN);
    assert_int_equal (cfg->concurrency, ZH_DEF_CONCURRENCY);
    assert_int_equal (cfg->prefetch, ZH_DEF_CONCURRENCY);
    assert_int_equal (cfg->heartbeat_ms, ZH_DEF_HEARTBEAT_MS);
    assert_int_equal (cfg->shutdown_grace_ms, ZH_DEF_SHUTDOWN_GRACE_MS);
    assert_int_equal (cfg->response_body_max, ZH_DEF_RESPONSE_BODY_MAX);
    assert_false (cfg->allow_private_targets);
    assert_null (cfg->signing_secret);
    assert_null (cfg->allowed_cidrs);
    assert_null (cfg->egress_proxy);
    char prefix[32];
    snprintf (prefix, sizeof prefix, "-%ld", (long)getpid ());
    assert_memory_equal (cfg->instance_id, "dlv-", 4);
    assert_non_null (strstr (cfg->instance_id, prefix));
    dlv_config_destroy (&cfg);
    assert_null (cfg);
    dlv_config_destroy (&cfg); /* NULL is fine */
}

static void
test_overrides (void **state)
{
    (void)state;
    setenv ("ZHOOK_LOG_LEVEL", "debug", 1);
    setenv ("ZHOOK_SCHEDULER_HOST", "scheduler.internal", 1);
    setenv ("ZHOOK_RESULTS_ENDPOINT", "ipc:///tmp/zhook-results", 1);
    setenv ("ZHOOK_OPS_LISTEN", "127.0.0.1:0", 1);
    setenv ("ZHOOK_CONCURRENCY", "10000", 1);
    setenv ("ZHOOK_HEARTBEAT_MS", "250", 1);
    setenv ("ZHOOK_SHUTDOWN_GRACE_MS", "0", 1);
    setenv ("ZHOOK_RESPONSE_BODY_MAX", "0", 1);
    setenv ("ZHOOK_ALLOW_PRIVATE_TARGETS", "on", 1);
    setenv ("ZHOOK_SIGNING_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv ("ZHOOK_INSTANCE_ID", "dlv-a.b_c:1", 1);
    dlv_config_t *cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_int_equal (cfg->log_level, ZH_LOG_DEBUG);
    assert_string_equal (cfg->dispatch_endpoint, "tcp://scheduler.internal:5557");
    assert_string_equal (cfg->results_endpoint, "ipc:///tmp/zhook-results");
    assert_string_equal (cfg->ops_listen, "127.0.0.1:0");
    assert_int_equal (cfg->concurrency, 10000);
    assert_int_equal (cfg->prefetch, 10000); /* as ZHOOK_CONCURRENCY */
    assert_int_equal (cfg->heartbeat_ms, 250);
    assert_int_equal (cfg->shutdown_grace_ms, 0);
    assert_int_equal (cfg->response_body_max, 0);
    assert_true (cfg->allow_private_targets);
    assert_string_equal (cfg->signing_secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_string_equal (cfg->instance_id, "dlv-a.b_c:1");
    dlv_config_destroy (&cfg);
    /* ZHOOK_PREFETCH set: its own value, 0 included */
    setenv ("ZHOOK_PREFETCH", "0", 1);
    cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_int_equal (cfg->prefetch, 0);
    dlv_config_destroy (&cfg);
    setenv ("ZHOOK_PREFETCH", "30000", 1);
    cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_int_equal (cfg->prefetch, 30000);
    dlv_config_destroy (&cfg);
}

static void
test_secret_from_file (void **state)
{
    (void)state;
    char dir[] = "/tmp/dlv_config_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[64];
    snprintf (path, sizeof path, "%s/secret", dir);
    FILE *fp = fopen (path, "w");
    assert_non_null (fp);
    fputs ("whsec_a2V5MQ==\n", fp);
    fclose (fp);
    setenv ("ZHOOK_SIGNING_SECRET_FILE", path, 1);
    dlv_config_t *cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_string_equal (cfg->signing_secret, "whsec_a2V5MQ==");
    dlv_config_destroy (&cfg);
    unlink (path);
    rmdir (dir);
}

static void
test_refusals (void **state)
{
    (void)state;
    static const struct {
        const char *name;
        const char *value;
    } bad[] = {
        {"ZHOOK_LOG_LEVEL", "loud"},
        {"ZHOOK_CONCURRENCY", "0"},
        {"ZHOOK_CONCURRENCY", "10001"},
        {"ZHOOK_CONCURRENCY", "12x"},
        {"ZHOOK_PREFETCH", "-1"},
        {"ZHOOK_PREFETCH", "30001"},
        {"ZHOOK_PREFETCH", "many"},
        {"ZHOOK_HEARTBEAT_MS", "5"},
        {"ZHOOK_SHUTDOWN_GRACE_MS", "-1"},
        {"ZHOOK_RESPONSE_BODY_MAX", "1000000"},
        {"ZHOOK_ALLOW_PRIVATE_TARGETS", "maybe"},
        {"ZHOOK_SIGNING_SECRET", "not-a-secret"},
        {"ZHOOK_SIGNING_SECRET", "whsec_!!!"},
        {"ZHOOK_INSTANCE_ID", "has space"},
        {"ZHOOK_INSTANCE_ID", "x23456789012345678901234567890123456789012345678901234567890123456"},
        {"ZHOOK_DISPATCH_ENDPOINT", "http://scheduler:5557"},
        {"ZHOOK_RESULTS_ENDPOINT", "tcp://noport"},
        {"ZHOOK_OPS_LISTEN", "nowhere"},
        {"ZHOOK_SCHEDULER_HOST", "a/b"},
        {"ZHOOK_ALLOWED_CIDRS", "10.0.0.0/8, 10.1/16"},
        {"ZHOOK_ALLOWED_CIDRS", "fd00::/129"},
        {"ZHOOK_EGRESS_PROXY", "socks5://proxy:1080"},
        {"ZHOOK_EGRESS_PROXY", "proxy.internal:3128"},
        {"ZHOOK_EGRESS_PROXY", "http://"},
        {"ZHOOK_EGRESS_PROXY", "http://proxy internal:3128"},
        {"ZHOOK_CURVE", "maybe"},
        {"ZHOOK_CURVE", "on"}, /* on, but no key files */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_setup (NULL);
        setenv (bad[i].name, bad[i].value, 1);
        dlv_config_t *cfg = dlv_config_new ();
        if (cfg)
            fail_msg ("%s=%s was accepted", bad[i].name, bad[i].value);
    }
}

static void
test_guard_settings (void **state)
{
    (void)state;
    setenv ("ZHOOK_ALLOWED_CIDRS", "10.20.0.0/16, fd00:1::/64", 1);
    setenv ("ZHOOK_EGRESS_PROXY", "https://user:pw@proxy.internal:3128", 1);
    dlv_config_t *cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_string_equal (cfg->allowed_cidrs, "10.20.0.0/16, fd00:1::/64");
    assert_string_equal (cfg->egress_proxy, "https://user:pw@proxy.internal:3128");
    dlv_config_destroy (&cfg);
    /* empty is unset */
    setenv ("ZHOOK_ALLOWED_CIDRS", " ", 1);
    setenv ("ZHOOK_EGRESS_PROXY", "", 1);
    cfg = dlv_config_new ();
    assert_non_null (cfg);
    assert_null (cfg->allowed_cidrs);
    assert_null (cfg->egress_proxy);
    dlv_config_destroy (&cfg);
}

static void
test_vars_table (void **state)
{
    (void)state;
    /* --help lists every variable the deliverer reads */
    size_t n = 0;
    for (const zh_config_var_t *v = dlv_config_vars; v->name; v++, n++) {
        assert_non_null (v->def);
        assert_non_null (v->help);
    }
    assert_int_equal (n, 21);
}

int
dlv_config_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_clear),
        cmocka_unit_test_setup_teardown (test_overrides, s_setup, s_clear),
        cmocka_unit_test_setup_teardown (test_secret_from_file, s_setup, s_clear),
        cmocka_unit_test_setup_teardown (test_refusals, s_setup, s_clear),
        cmocka_unit_test_setup_teardown (test_guard_settings, s_setup, s_clear),
        cmocka_unit_test (test_vars_table),
    };
    return cmocka_run_group_tests_name ("dlv_config_test", tests, NULL, NULL);
}
