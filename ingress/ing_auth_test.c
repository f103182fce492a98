/*  ing_auth_test.c — keys file parsing, Bearer lookup, reload under
 *  concurrent readers, and the --hash-key line. */
#include "ingress/ing_auth.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    char dir[64];
    char path[128];
} fixture_t;

static void
s_hex_sha256 (const char *key, char hex[65])
{
    unsigned char hash[32];
    unsigned int n = 0;
    assert_true (EVP_Digest (key, strlen (key), hash, &n, EVP_sha256 (), NULL));
    assert_int_equal (n, 32);
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", hash[i]);
}

static char s_tenant[ING_TENANT_MAX + 1];

/* ing_auth_check with the old shape: the tenant, or NULL. */
static const char *
s_check (ing_auth_t *auth, const char *authorization)
{
    return ing_auth_check (auth, authorization, s_tenant) ? s_tenant : NULL;
}

static void
s_write (fixture_t *f, const char *content)
{
    FILE *file = fopen (f->path, "w");
    assert_non_null (file);
    assert_int_equal (fputs (content, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    snprintf (f->dir, sizeof f->dir, "/tmp/ing_auth_test.XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/keys", f->dir);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    unlink (f->path);
    rmdir (f->dir);
    free (f);
    return 0;
}

static void
test_lookup (void **state)
{
    fixture_t *f = *state;
    char alpha[65], beta[65], content[512];
    s_hex_sha256 ("key-alpha", alpha);
    s_hex_sha256 ("key-beta", beta);
    /* comments, blank lines, upper-case hex, tabs, CRLF */
    for (int i = 0; i < 64; i++)
        if (beta[i] >= 'a' && beta[i] <= 'f')
            beta[i] = (char)(beta[i] - 'a' + 'A');
    snprintf (content, sizeof content,
              "# tenants\n\nacme %s\n   # indented comment\n  beta-co\t%s\r\n", alpha, beta);
    s_write (f, content);
    ing_auth_t *auth = ing_auth_new (true, f->path);
    assert_non_null (auth);
    assert_true (ing_auth_enabled (auth));
    assert_int_equal (ing_auth_key_count (auth), 2);
    assert_string_equal (s_check (auth, "Bearer key-alpha"), "acme");
    assert_string_equal (s_check (auth, "bearer   key-beta"), "beta-co");
    assert_string_equal (s_check (auth, "Bearer key-beta  "), "beta-co");
    assert_null (s_check (auth, NULL));
    assert_null (s_check (auth, ""));
    assert_null (s_check (auth, "Bearer"));
    assert_null (s_check (auth, "Bearer "));
    assert_null (s_check (auth, "Bearerkey-alpha"));
    assert_null (s_check (auth, "Basic a2V5LWFscGhh"));
    assert_null (s_check (auth, "Bearer key-alph"));
    assert_null (s_check (auth, "Bearer key-alphaa"));
    assert_null (s_check (auth, alpha)); /* the hash itself is not a key */
    char bearer_hash[80];
    snprintf (bearer_hash, sizeof bearer_hash, "Bearer %s", alpha);
    assert_null (s_check (auth, bearer_hash));
    ing_auth_destroy (&auth);
    assert_null (auth);
    ing_auth_destroy (&auth); /* NULL is fine */
}

static void
test_disabled (void **state)
{
    (void)state;
    ing_auth_t *auth = ing_auth_new (false, NULL);
    assert_non_null (auth);
    assert_false (ing_auth_enabled (auth));
    assert_int_equal (ing_auth_key_count (auth), 0);
    assert_string_equal (s_check (auth, NULL), "default");
    assert_string_equal (s_check (auth, "Bearer anything"), "default");
    ing_auth_destroy (&auth);
}

static void
test_bad_files (void **state)
{
    fixture_t *f = *state;
    char alpha[65], line[256];
    s_hex_sha256 ("key-alpha", alpha);
    /* missing file, and required when enabled */
    assert_null (ing_auth_new (true, f->path));
    assert_null (ing_auth_new (true, NULL));
    /* no keys at all */
    s_write (f, "# nothing here\n\n");
    assert_null (ing_auth_new (true, f->path));
    char bad[6][256];
    snprintf (bad[0], sizeof bad[0], "acme\n"); /* no hash */
    snprintf (bad[1], sizeof bad[1], "acme 1234\n"); /* short hash */
    snprintf (bad[2], sizeof bad[2], "acme %s extra\n", alpha); /* trailing field */
    snprintf (bad[3], sizeof bad[3], "ac/me %s\n", alpha); /* tenant charset */
    snprintf (bad[4], sizeof bad[4], "acme %.63sg\n", alpha); /* non-hex digit */
    snprintf (bad[5], sizeof bad[5], "acme\t%s\nbad line\n", alpha); /* one bad line spoils all */
    for (int i = 0; i < 6; i++) {
        s_write (f, bad[i]);
        if (ing_auth_new (true, f->path)) {
            print_error ("accepted a bad file: %s", bad[i]);
            fail ();
        }
    }
    /* a tenant of 65 characters */
    snprintf (line, sizeof line, "%065d %s\n", 7, alpha);
    s_write (f, line);
    assert_null (ing_auth_new (true, f->path));
    /* a good line after fixing it loads */
    snprintf (line, sizeof line, "%064d %s\n", 7, alpha);
    s_write (f, line);
    ing_auth_t *auth = ing_auth_new (true, f->path);
    assert_non_null (auth);
    ing_auth_destroy (&auth);
}

static void
test_many_keys_same_tenant (void **state)
{
    fixture_t *f = *state;
    /* more entries than the initial table, two keys per tenant (rotation) */
    size_t cap = 100 * 100;
    char *content = malloc (cap);
    assert_non_null (content);
    size_t len = 0;
    for (int i = 0; i < 100; i++) {
        char key[32], hex[65];
        snprintf (key, sizeof key, "key-%d", i);
        s_hex_sha256 (key, hex);
        len += (size_t)snprintf (content + len, cap - len, "tenant-%d %s\n", i / 2, hex);
    }
    s_write (f, content);
    free (content);
    ing_auth_t *auth = ing_auth_new (true, f->path);
    assert_non_null (auth);
    assert_int_equal (ing_auth_key_count (auth), 100);
    assert_string_equal (s_check (auth, "Bearer key-0"), "tenant-0");
    assert_string_equal (s_check (auth, "Bearer key-1"), "tenant-0");
    assert_string_equal (s_check (auth, "Bearer key-99"), "tenant-49");
    assert_null (s_check (auth, "Bearer key-100"));
    ing_auth_destroy (&auth);
}

static void
s_write_keys (fixture_t *f, const char *const *keys, const char *const *tenants, size_t n)
{
    char content[2048] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        s_hex_sha256 (keys[i], hex);
        len += (size_t)snprintf (content + len, sizeof content - len, "%s %s\n", tenants[i], hex);
    }
    /* write then rename: a reader of the file never sees half of it */
    char tmp[160];
    snprintf (tmp, sizeof tmp, "%s.tmp", f->path);
    FILE *file = fopen (tmp, "w");
    assert_non_null (file);
    assert_true (fputs (content, file) >= 0);
    assert_int_equal (fclose (file), 0);
    assert_int_equal (rename (tmp, f->path), 0);
}

static void
test_reload (void **state)
{
    fixture_t *f = *state;
    s_write_keys (f, (const char *[]){"key-a", "key-b"}, (const char *[]){"acme", "beta"}, 2);
    ing_auth_t *auth = ing_auth_new (true, f->path);
    assert_non_null (auth);
    assert_string_equal (s_check (auth, "Bearer key-a"), "acme");
    assert_null (s_check (auth, "Bearer key-c"));
    /* key-c added, key-a revoked */
    s_write_keys (f, (const char *[]){"key-b", "key-c"}, (const char *[]){"beta", "acme"}, 2);
    assert_int_equal (ing_auth_reload (auth), 0);
    assert_null (s_check (auth, "Bearer key-a"));
    assert_string_equal (s_check (auth, "Bearer key-c"), "acme");
    assert_string_equal (s_check (auth, "Bearer key-b"), "beta");
    /* a bad file, an empty one, a missing one: the old keys stay */
    s_write (f, "acme not-a-hash\n");
    assert_int_equal (ing_auth_reload (auth), -1);
    assert_string_equal (s_check (auth, "Bearer key-c"), "acme");
    s_write (f, "# no keys\n");
    assert_int_equal (ing_auth_reload (auth), -1);
    assert_int_equal (ing_auth_key_count (auth), 2);
    unlink (f->path);
    assert_int_equal (ing_auth_reload (auth), -1);
    assert_string_equal (s_check (auth, "Bearer key-b"), "beta");
    ing_auth_destroy (&auth);
    /* disabled: nothing to reload */
    auth = ing_auth_new (false, NULL);
    assert_int_equal (ing_auth_reload (auth), 0);
    ing_auth_destroy (&auth);
}

typedef struct {
    ing_auth_t *auth;
    atomic_bool stop;
    atomic_long checks, failures, wrong;
} s_readers_t;

static void *
s_reader (void *arg)
{
    s_readers_t *r = arg;
    char tenant[ING_TENANT_MAX + 1];
    while (!atomic_load (&r->stop)) {
        if (!ing_auth_check (r->auth, "Bearer key-stable", tenant))
            atomic_fetch_add (&r->failures, 1);
        else if (strcmp (tenant, "stable"))
            atomic_fetch_add (&r->wrong, 1);
        atomic_fetch_add (&r->checks, 1);
    }
    return NULL;
}

/* Readers checking a key present in every version of the file never fail
 * while the table is swapped under them (and ASan sees no use after free). */
static void
test_reload_concurrent (void **state)
{
    fixture_t *f = *state;
    const char *tenants[] = {"stable", "other"};
    s_write_keys (f, (const char *[]){"key-stable", "key-x"}, tenants, 2);
    s_readers_t r = {.auth = ing_auth_new (true, f->path)};
    assert_non_null (r.auth);
    atomic_init (&r.stop, false);
    atomic_init (&r.checks, 0);
    atomic_init (&r.failures, 0);
    atomic_init (&r.wrong, 0);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_reader, &r), 0);
    for (int i = 0; i < 200; i++) {
        if (i % 2)
            s_write_keys (f, (const char *[]){"key-stable", "key-x"}, tenants, 2);
        else
            s_write_keys (f, (const char *[]){"key-y", "key-stable"},
                          (const char *[]){"other", "stable"}, 2);
        assert_int_equal (ing_auth_reload (r.auth), 0);
        assert_true (
            (i % 2 ? s_check (r.auth, "Bearer key-x") : s_check (r.auth, "Bearer key-y")) != NULL);
    }
    atomic_store (&r.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join (threads[i], NULL);
    assert_true (atomic_load (&r.checks) > 0);
    assert_int_equal (atomic_load (&r.failures), 0);
    assert_int_equal (atomic_load (&r.wrong), 0);
    ing_auth_destroy (&r.auth);
}

static void
test_hash_line (void **state)
{
    fixture_t *f = *state;
    char line[ING_AUTH_LINE_SIZE], hex[65], want[ING_AUTH_LINE_SIZE];
    s_hex_sha256 ("k3y-Secret", hex);
    snprintf (want, sizeof want, "acme %s", hex);
    assert_int_equal (ing_auth_hash_line ("k3y-Secret\n", 11, "acme", line, sizeof line), 0);
    assert_string_equal (line, want);
    /* blanks and CRLF trimmed as a request's would be */
    assert_int_equal (ing_auth_hash_line ("  k3y-Secret \r\n", 15, "acme", line, sizeof line), 0);
    assert_string_equal (line, want);
    snprintf (want, sizeof want, "TENANT %s", hex);
    assert_int_equal (ing_auth_hash_line ("k3y-Secret", 10, NULL, line, sizeof line), 0);
    assert_string_equal (line, want);
    /* refused: empty key, two lines, bad tenant, small buffer */
    assert_int_equal (ing_auth_hash_line ("\n", 1, "acme", line, sizeof line), -1);
    assert_int_equal (ing_auth_hash_line ("a\nb", 3, "acme", line, sizeof line), -1);
    assert_int_equal (ing_auth_hash_line ("k", 1, "ac me", line, sizeof line), -1);
    assert_int_equal (ing_auth_hash_line ("k", 1, "acme", line, 20), -1);
    /* the line it prints is a line the loader takes, and the key works */
    assert_int_equal (ing_auth_hash_line ("k3y-Secret\n", 11, "acme", line, sizeof line), 0);
    char content[ING_AUTH_LINE_SIZE + 1];
    snprintf (content, sizeof content, "%s\n", line);
    s_write (f, content);
    ing_auth_t *auth = ing_auth_new (true, f->path);
    assert_non_null (auth);
    assert_string_equal (s_check (auth, "Bearer k3y-Secret"), "acme");
    ing_auth_destroy (&auth);
}

int ing_auth_test (void);

int
ing_auth_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_lookup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_disabled, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_many_keys_same_tenant, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reload_concurrent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_hash_line, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("ing_auth_test", tests, NULL, NULL);
}
