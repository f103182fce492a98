/*  ing_limit_test.c — per-IP buckets and X-Forwarded-For resolution. */
#include "ingress/ing_limit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void
test_bucket_math (void **state)
{
    (void)state;
    /* 2 per second, burst 5 */
    ing_limit_t *lim = ing_limit_new (2, 5, NULL, NULL);
    assert_non_null (lim);
    assert_true (ing_limit_enabled (lim));
    ing_limit_info_t info;
    int64_t t = 1000;
    for (int i = 0; i < 5; i++) {
        assert_true (ing_limit_take (lim, "192.0.2.1", t, &info));
        assert_int_equal (info.limit, 5);
        assert_int_equal (info.remaining, 4 - i);
    }
    assert_false (ing_limit_take (lim, "192.0.2.1", t, &info));
    assert_int_equal (info.remaining, 0);
    assert_int_equal (info.retry_after_ms, 500); /* one token at 2/s */
    assert_int_equal (info.reset_ms, 2500); /* five tokens */
    /* another address has its own bucket */
    assert_true (ing_limit_take (lim, "192.0.2.2", t, &info));
    /* 499 ms later still nothing; at 500 ms one token */
    assert_false (ing_limit_take (lim, "192.0.2.1", t + 499, &info));
    assert_int_equal (info.retry_after_ms, 1);
    assert_true (ing_limit_take (lim, "192.0.2.1", t + 500, &info));
    assert_false (ing_limit_take (lim, "192.0.2.1", t + 500, NULL));
    /* a long pause refills to the burst, not beyond */
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += ing_limit_take (lim, "192.0.2.1", t + 600000, NULL);
    assert_int_equal (ok, 5);
    /* a clock going back refills nothing */
    assert_false (ing_limit_take (lim, "192.0.2.1", t, NULL));
    ing_limit_destroy (&lim);
    assert_null (lim);

    /* burst 0 = the rate; rate 0 = unlimited */
    lim = ing_limit_new (3, 0, NULL, NULL);
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += ing_limit_take (lim, "198.51.100.7", 5, NULL);
    assert_int_equal (ok, 3);
    ing_limit_destroy (&lim);
    lim = ing_limit_new (0, 0, NULL, NULL);
    assert_false (ing_limit_enabled (lim));
    for (int i = 0; i < 1000; i++)
        assert_true (ing_limit_take (lim, "198.51.100.7", 5, NULL));
    ing_limit_destroy (&lim);
}

/* Many distinct addresses: memory stays bounded, a forgotten one starts full. */
static void
test_bounded (void **state)
{
    (void)state;
    ing_limit_t *lim = ing_limit_new (1, 1, NULL, NULL);
    assert_non_null (lim);
    assert_true (ing_limit_take (lim, "203.0.113.1", 10, NULL));
    assert_false (ing_limit_take (lim, "203.0.113.1", 10, NULL));
    char ip[ING_LIMIT_IP_SIZE];
    for (int i = 0; i < 2 * ING_LIMIT_MAX_CLIENTS; i++) {
        snprintf (ip, sizeof ip, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        assert_true (ing_limit_take (lim, ip, 10, NULL));
    }
    /* evicted long ago: full again */
    assert_true (ing_limit_take (lim, "203.0.113.1", 10, NULL));
    ing_limit_destroy (&lim);
}

static void
s_resolve (const ing_limit_t *lim, const char *peer, const char *xff, const char *xfp,
           const char *want_ip, bool want_https)
{
    char ip[ING_LIMIT_IP_SIZE];
    bool https = !want_https;
    ing_limit_resolve (lim, peer, xff, xfp, false, ip, sizeof ip, &https);
    if (strcmp (ip, want_ip) || https != want_https) {
        print_error ("peer %s xff %s xfp %s: got %s https=%d, want %s https=%d\n", peer,
                     xff ? xff : "-", xfp ? xfp : "-", ip, https, want_ip, want_https);
        fail ();
    }
}

static void
test_forwarded (void **state)
{
    (void)state;
    const char *bad = NULL;
    ing_limit_t *lim = ing_limit_new (0, 0, "10.0.0.0/8, 192.168.1.5 ,fd00::/8", &bad);
    assert_non_null (lim);
    assert_true (ing_limit_trusted (lim, "10.1.2.3"));
    assert_true (ing_limit_trusted (lim, "192.168.1.5"));
    assert_false (ing_limit_trusted (lim, "192.168.1.6"));
    assert_true (ing_limit_trusted (lim, "fd12::1"));
    assert_true (ing_limit_trusted (lim, "::ffff:10.9.9.9")); /* mapped form */
    assert_false (ing_limit_trusted (lim, "11.0.0.1"));

    /* an untrusted peer: its headers are ignored */
    s_resolve (lim, "203.0.113.9", "1.2.3.4", "https", "203.0.113.9", false);
    /* a trusted peer: the first untrusted address from the right */
    s_resolve (lim, "10.0.0.2", "198.51.100.1", "https", "198.51.100.1", true);
    s_resolve (lim, "10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.9", "http", "198.51.100.1", false);
    /* spoofed entries to the left of the real client do not matter */
    s_resolve (lim, "10.0.0.2", "10.0.0.1, 198.51.100.1", NULL, "198.51.100.1", false);
    /* trusted hops only: the leftmost */
    s_resolve (lim, "10.0.0.2", "10.0.0.7,192.168.1.5", NULL, "10.0.0.7", false);
    /* garbage from a trusted hop stops the walk at the last trusted one */
    s_resolve (lim, "10.0.0.2", "198.51.100.1, not-an-ip, 10.0.0.3", NULL, "10.0.0.3", false);
    /* no header: the proxy itself */
    s_resolve (lim, "10.0.0.2", NULL, NULL, "10.0.0.2", false);
    /* ports, brackets, IPv6, empty elements, spaces */
    s_resolve (lim, "10.0.0.2", "198.51.100.1:4711", NULL, "198.51.100.1", false);
    s_resolve (lim, "10.0.0.2", " [2001:db8::1]:443 ,, ", NULL, "2001:db8::1", false);
    s_resolve (lim, "10.0.0.2", "2001:db8::2, fd00::1", NULL, "2001:db8::2", false);
    /* X-Forwarded-Proto: the value nearest to us, any case */
    s_resolve (lim, "10.0.0.2", NULL, "http, HTTPS", "10.0.0.2", true);
    s_resolve (lim, "10.0.0.2", NULL, "ftp", "10.0.0.2", false);
    /* unknown peer */
    char ip[ING_LIMIT_IP_SIZE];
    assert_false (ing_limit_resolve (lim, NULL, NULL, NULL, false, ip, sizeof ip, NULL));
    assert_string_equal (ip, "unknown");
    /* TLS served here stays https whatever a header says */
    bool https = false;
    ing_limit_resolve (lim, "203.0.113.9", NULL, "http", true, ip, sizeof ip, &https);
    assert_true (https);
    ing_limit_destroy (&lim);

    /* no trusted proxies: nothing forwarded is believed */
    lim = ing_limit_new (0, 0, "", NULL);
    s_resolve (lim, "10.0.0.2", "198.51.100.1", "https", "10.0.0.2", false);
    ing_limit_destroy (&lim);

    /* malformed lists */
    const char *bads[] = {"10.0.0.0/33",  "10.0.0/8",  "fd00::/129",
                          "host.example", "10.0.0.0/", "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        bad = NULL;
        assert_null (ing_limit_new (0, 0, bads[i], &bad));
        assert_ptr_equal (bad, bads[i]);
        assert_int_equal (ing_limit_check_cidrs (bads[i], &bad), -1);
    }
    assert_int_equal (ing_limit_check_cidrs ("10.0.0.0/8 127.0.0.1,::1", &bad), 0);
    assert_int_equal (ing_limit_check_cidrs (NULL, &bad), 0);
}

int ing_limit_test (void);

int
ing_limit_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bucket_math),
        cmocka_unit_test (test_bounded),
        cmocka_unit_test (test_forwarded),
    };
    return cmocka_run_group_tests_name ("ing_limit_test", tests, NULL, NULL);
}
