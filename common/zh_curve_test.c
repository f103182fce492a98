/*  zh_curve_test.c — CURVE configuration (files present, missing, wrong)
 *  and the real thing: a zauth-guarded PULL admits the allowlisted client
 *  and no other. Keys and certificates live in a mkdtemp directory. */
#include "common/zh_curve.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

int zh_curve_test (void);

typedef struct {
    char dir[64]; // mkdtemp
    char path[256]; // scratch for building paths
} fixture_t;

static const char *const s_vars[] = {"ZHOOK_CURVE", "ZHOOK_CURVE_SECRET_FILE",
                                     "ZHOOK_CURVE_SERVER_FILE", "ZHOOK_CURVE_CLIENTS_DIR", NULL};

static const char *
s_path (fixture_t *f, const char *name)
{
    snprintf (f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

/* Writes NAME and NAME_secret under the fixture dir (as zhook-keygen). */
static void
s_keygen (fixture_t *f, const char *name)
{
    zcert_t *cert = zcert_new ();
    assert_non_null (cert);
    assert_int_equal (zcert_save (cert, s_path (f, name)), 0);
    zcert_destroy (&cert);
}

static void
s_write (const char *path, const char *text)
{
    FILE *fp = fopen (path, "w");
    assert_non_null (fp);
    fputs (text, fp);
    fclose (fp);
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    snprintf (f->dir, sizeof f->dir, "/tmp/zh_curve_test.XXXXXX");
    if (!mkdtemp (f->dir)) {
        free (f);
        return -1;
    }
    for (const char *const *v = s_vars; *v; v++)
        unsetenv (*v);
    s_keygen (f, "server");
    s_keygen (f, "client");
    s_keygen (f, "stranger");
    mkdir (s_path (f, "clients"), 0700);
    /* the allowlist holds only the client's public certificate */
    char from[256];
    snprintf (from, sizeof from, "%s/client", f->dir);
    zcert_t *client = zcert_load (from);
    assert_non_null (client);
    assert_int_equal (zcert_save_public (client, s_path (f, "clients/client")), 0);
    zcert_destroy (&client);
    s_write (s_path (f, "garbage"), "this is not a certificate\n");
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    for (const char *const *v = s_vars; *v; v++)
        unsetenv (*v);
    const char *names[] = {"server",   "server_secret",   "client",         "client_secret",
                           "stranger", "stranger_secret", "clients/client", "garbage"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink (s_path (f, names[i]));
    rmdir (s_path (f, "clients"));
    rmdir (f->dir);
    free (f);
    return 0;
}

static void
s_env (fixture_t *f, const char *var, const char *name)
{
    setenv (var, s_path (f, name), 1);
}

static void
test_off (void **state)
{
    (void)state;
    zh_curve_config_t cfg;
    setenv ("ZHOOK_CURVE", "off", 1);
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_SERVER), 0);
    assert_false (cfg.enabled);
    assert_null (cfg.secret_file);
    zh_curve_t *curve = zh_curve_new (&cfg, ZH_CURVE_SERVER);
    assert_non_null (curve);
    assert_false (zh_curve_enabled (curve));
    assert_string_equal (zh_curve_public_txt (curve), "");
    zsock_t *sock = zsock_new (ZMQ_PULL);
    assert_non_null (sock);
    zh_curve_apply (curve, sock);
    assert_int_equal (zsock_mechanism (sock), ZMQ_NULL);
    zsock_destroy (&sock);
    zh_curve_destroy (&curve);
    assert_null (curve);
    zh_curve_config_clear (&cfg);
    setenv ("ZHOOK_CURVE", "sometimes", 1);
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_CLIENT), -1);
    zh_curve_config_clear (&cfg);
}

static void
test_good_files (void **state)
{
    fixture_t *f = *state;
    zh_curve_config_t cfg;
    /* on is the default */
    s_env (f, "ZHOOK_CURVE_SECRET_FILE", "server_secret");
    s_env (f, "ZHOOK_CURVE_CLIENTS_DIR", "clients");
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_SERVER), 0);
    assert_true (cfg.enabled);
    assert_string_equal (cfg.clients_dir, s_path (f, "clients"));
    assert_null (cfg.server_file);
    zh_curve_config_clear (&cfg);
    s_env (f, "ZHOOK_CURVE_SECRET_FILE", "client_secret");
    s_env (f, "ZHOOK_CURVE_SERVER_FILE", "server"); /* the public certificate */
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_CLIENT), 0);
    assert_string_equal (cfg.server_file, s_path (f, "server"));
    assert_null (cfg.clients_dir);
    zh_curve_t *curve = zh_curve_new (&cfg, ZH_CURVE_CLIENT);
    assert_non_null (curve);
    assert_true (zh_curve_enabled (curve));
    zcert_t *client = zcert_load (s_path (f, "client"));
    assert_non_null (client);
    assert_string_equal (zh_curve_public_txt (curve), zcert_public_txt (client));
    zcert_destroy (&client);
    zsock_t *sock = zsock_new (ZMQ_PUSH);
    assert_non_null (sock);
    zh_curve_apply (curve, sock);
    assert_int_equal (zsock_mechanism (sock), ZMQ_CURVE);
    zsock_destroy (&sock);
    zh_curve_destroy (&curve);
    zh_curve_config_clear (&cfg);
}

static void
test_bad_files (void **state)
{
    fixture_t *f = *state;
    zh_curve_config_t cfg;
    /* each case: CURVE on, one variable wrong or missing */
    struct {
        zh_curve_role_t role;
        const char *secret, *server, *clients; // names under the fixture dir, NULL = unset
    } bad[] = {
        {ZH_CURVE_SERVER, NULL, NULL, "clients"}, /* no secret file */
        {ZH_CURVE_SERVER, "server_secret", NULL, NULL}, /* no allowlist */
        {ZH_CURVE_SERVER, "server_secret", NULL, "nowhere"}, /* allowlist missing */
        {ZH_CURVE_SERVER, "server_secret", NULL, "garbage"}, /* allowlist not a directory */
        {ZH_CURVE_SERVER, "garbage", NULL, "clients"}, /* not a certificate */
        {ZH_CURVE_SERVER, "missing_secret", NULL, "clients"}, /* no such file */
        {ZH_CURVE_SERVER, "clients", NULL, "clients"}, /* a directory */
        {ZH_CURVE_CLIENT, "client_secret", NULL, NULL}, /* no server key */
        {ZH_CURVE_CLIENT, "client_secret", "garbage", NULL}, /* server key not a cert */
        {ZH_CURVE_CLIENT, "client_secret", "missing", NULL}, /* server key missing */
        {ZH_CURVE_CLIENT, NULL, "server", NULL}, /* no secret file */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        for (const char *const *v = s_vars; *v; v++)
            unsetenv (*v);
        setenv ("ZHOOK_CURVE", "on", 1);
        if (bad[i].secret)
            s_env (f, "ZHOOK_CURVE_SECRET_FILE", bad[i].secret);
        if (bad[i].server)
            s_env (f, "ZHOOK_CURVE_SERVER_FILE", bad[i].server);
        if (bad[i].clients)
            s_env (f, "ZHOOK_CURVE_CLIENTS_DIR", bad[i].clients);
        if (zh_curve_config_read (&cfg, bad[i].role) == 0)
            fail_msg ("case %zu was accepted", i);
        zh_curve_config_clear (&cfg);
    }
    /* a public certificate alone (no NAME_secret beside it) is no secret file */
    char pub[256];
    snprintf (pub, sizeof pub, "%s/public_only", f->dir);
    zcert_t *cert = zcert_load (s_path (f, "client"));
    assert_non_null (cert);
    assert_int_equal (zcert_save_public (cert, pub), 0);
    zcert_destroy (&cert);
    setenv ("ZHOOK_CURVE_SECRET_FILE", pub, 1);
    s_env (f, "ZHOOK_CURVE_SERVER_FILE", "server");
    unsetenv ("ZHOOK_CURVE_CLIENTS_DIR");
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_CLIENT), -1);
    zh_curve_config_clear (&cfg);
    unlink (pub);
    /* empty counts as unset */
    setenv ("ZHOOK_CURVE_SECRET_FILE", "", 1);
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_CLIENT), -1);
    zh_curve_config_clear (&cfg);
}

/* A client of the server with the key pair in secret_name (NULL: no
 * CURVE at all), connected to endpoint. */
static zsock_t *
s_client (fixture_t *f, const char *secret_name, const char *endpoint)
{
    zsock_t *push = zsock_new (ZMQ_PUSH);
    assert_non_null (push);
    zsock_set_linger (push, 0);
    if (secret_name) {
        zh_curve_config_t cfg = {.enabled = true};
        cfg.secret_file = strdup (s_path (f, secret_name));
        cfg.server_file = strdup (s_path (f, "server"));
        zh_curve_t *curve = zh_curve_new (&cfg, ZH_CURVE_CLIENT);
        assert_non_null (curve);
        zh_curve_apply (curve, push);
        zh_curve_destroy (&curve); /* the socket keeps its options */
        zh_curve_config_clear (&cfg);
    }
    assert_int_equal (zsock_connect (push, "%s", endpoint), 0);
    return push;
}

static void
test_handshake (void **state)
{
    fixture_t *f = *state;
    zh_curve_config_t cfg;
    s_env (f, "ZHOOK_CURVE_SECRET_FILE", "server_secret");
    s_env (f, "ZHOOK_CURVE_CLIENTS_DIR", "clients");
    assert_int_equal (zh_curve_config_read (&cfg, ZH_CURVE_SERVER), 0);
    zh_curve_t *curve = zh_curve_new (&cfg, ZH_CURVE_SERVER);
    assert_non_null (curve);
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert_non_null (pull);
    zh_curve_apply (curve, pull);
    assert_int_equal (zsock_mechanism (pull), ZMQ_CURVE);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    zsock_set_rcvtimeo (pull, 300);

    /* strangers first: their frames must never come out of the PULL */
    zsock_t *stranger = s_client (f, "stranger_secret", endpoint);
    zsock_t *plain = s_client (f, NULL, endpoint);
    assert_int_equal (zstr_send (stranger, "from-stranger"), 0);
    assert_int_equal (zstr_send (plain, "from-plain"), 0);
    zsock_t *client = s_client (f, "client_secret", endpoint);
    assert_int_equal (zstr_send (client, "from-client"), 0);
    zsock_set_rcvtimeo (pull, 3000);
    char *got = zstr_recv (pull);
    assert_non_null (got);
    assert_string_equal (got, "from-client");
    zstr_free (&got);
    /* the strangers had as long as the client and more */
    zsock_set_rcvtimeo (pull, 300);
    got = zstr_recv (pull);
    if (got)
        fail_msg ("an unauthenticated peer got a frame through: %s", got);

    zsock_destroy (&client);
    zsock_destroy (&plain);
    zsock_destroy (&stranger);
    zsock_destroy (&pull);
    zh_curve_destroy (&curve);
    zh_curve_config_clear (&cfg);
}

int
zh_curve_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_off, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_good_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_handshake, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("zh_curve", tests, NULL, NULL);
}
