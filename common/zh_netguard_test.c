/*  zh_netguard_test.c — the SSRF guard: every refused range with its edges,
 *  the IPv6 embeddings of IPv4, the CIDR allowlist and URL host spellings. */
#include "common/zh_netguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

int zh_netguard_test (void);

/* The reason for an address literal (IPv4 or IPv6, inet_pton spelling). */
static const char *
s_check (const zh_netguard_t *g, const char *text)
{
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    if (strchr (text, ':')) {
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
        sa->sin6_family = AF_INET6;
        if (inet_pton (AF_INET6, text, &sa->sin6_addr) != 1)
            fail_msg ("bad test literal %s", text);
    }
    else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        sa->sin_family = AF_INET;
        if (inet_pton (AF_INET, text, &sa->sin_addr) != 1)
            fail_msg ("bad test literal %s", text);
    }
    if (!g)
        return zh_netguard_classify ((const struct sockaddr *)&ss);
    return zh_netguard_check (g, (const struct sockaddr *)&ss);
}

typedef struct {
    const char *addr;
    const char *reason; // NULL: allowed
} s_case_t;

static void
s_run_cases (const zh_netguard_t *g, const s_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = s_check (g, cases[i].addr);
        if (!cases[i].reason && got)
            fail_msg ("%s: expected allowed, got refused (%s)", cases[i].addr, got);
        if (cases[i].reason && (!got || strcmp (got, cases[i].reason)))
            fail_msg ("%s: expected %s, got %s", cases[i].addr, cases[i].reason,
                      got ? got : "allowed");
    }
}

#define S_RUN(g, cases) s_run_cases (g, cases, sizeof cases / sizeof *cases)

static void
test_ipv4_ranges (void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        /* 0/8 and the unspecified address */
        {"0.0.0.0", "unspecified"},
        {"0.255.255.255", "unspecified"},
        {"1.0.0.0", NULL},
        /* 10/8 */
        {"9.255.255.255", NULL},
        {"10.0.0.0", "private"},
        {"10.255.255.255", "private"},
        {"11.0.0.0", NULL},
        /* 100.64/10 */
        {"100.63.255.255", NULL},
        {"100.64.0.0", "cgnat"},
        {"100.64.0.1", "cgnat"},
        {"100.127.255.255", "cgnat"},
        {"100.128.0.0", NULL},
        /* 127/8 */
        {"126.255.255.255", NULL},
        {"127.0.0.0", "loopback"},
        {"127.0.0.1", "loopback"},
        {"127.0.0.2", "loopback"},
        {"127.255.255.255", "loopback"},
        {"128.0.0.0", NULL},
        /* 169.254/16 */
        {"169.253.255.255", NULL},
        {"169.254.0.0", "link_local"},
        {"169.254.169.254", "link_local"},
        {"169.254.255.255", "link_local"},
        {"169.255.0.0", NULL},
        /* 172.16/12 */
        {"172.15.255.255", NULL},
        {"172.16.0.0", "private"},
        {"172.31.255.255", "private"},
        {"172.32.0.0", NULL},
        /* 192.168/16 */
        {"192.167.255.255", NULL},
        {"192.168.0.0", "private"},
        {"192.168.255.255", "private"},
        {"192.169.0.0", NULL},
        /* 224/4, 240/4, broadcast */
        {"223.255.255.255", NULL},
        {"224.0.0.0", "multicast"},
        {"239.255.255.255", "multicast"},
        {"240.0.0.0", "reserved"},
        {"255.255.255.254", "reserved"},
        {"255.255.255.255", "broadcast"},
        /* public */
        {"8.8.8.8", NULL},
        {"1.1.1.1", NULL},
        {"93.184.216.34", NULL},
    };
    S_RUN (NULL, cases);
}

static void
test_ipv6_ranges (void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"::", "unspecified"},
        {"::1", "loopback"},
        {"::2", "unspecified"}, /* IPv4-compatible form of 0.0.0.2 */
        /* fc00::/7 */
        {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
        {"fc00::", "ula"},
        {"fd00::1", "ula"},
        {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ula"},
        {"fe00::", NULL},
        /* fe80::/10 and the deprecated fec0::/10 */
        {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
        {"fe80::", "link_local"},
        {"fe80::1", "link_local"},
        {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link_local"},
        {"fec0::1", "reserved"},
        /* ff00::/8 */
        {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"},
        {"ff00::", "multicast"},
        {"ff02::1", "multicast"},
        /* public */
        {"2606:4700::1111", NULL},
        {"2001:4860:4860::8888", NULL},
        {"2a00:1450:4001::200e", NULL},
        {"::1:0:0:0", NULL},
    };
    S_RUN (NULL, cases);
}

static void
test_ipv6_embeddings (void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        /* IPv4-mapped ::ffff:0:0/96 */
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:10.1.2.3", "private"},
        {"::ffff:100.64.0.1", "cgnat"},
        {"::ffff:169.254.169.254", "link_local"},
        {"::ffff:0.0.0.0", "unspecified"},
        {"::ffff:224.0.0.1", "multicast"},
        {"::ffff:255.255.255.255", "broadcast"},
        {"::ffff:8.8.8.8", NULL},
        {"::ffff:126.255.255.255", NULL},
        /* IPv4-compatible ::/96: refused whatever it embeds */
        {"::127.0.0.1", "loopback"},
        {"::10.0.0.1", "private"},
        {"::8.8.8.8", "reserved"},
        /* NAT64 well-known prefix 64:ff9b::/96 */
        {"64:ff9b::7f00:1", "loopback"},
        {"64:ff9b::a9fe:a9fe", "link_local"},
        {"64:ff9b::c0a8:1", "private"},
        {"64:ff9b::6440:1", "cgnat"},
        {"64:ff9b::808:808", NULL},
        {"64:ff9b::7e00:1", NULL},
        {"64:ff9a::7f00:1", NULL}, /* just outside the prefix: plain public IPv6 */
        /* NAT64 local-use 64:ff9b:1::/48: not globally reachable, refused whole */
        {"64:ff9b:1::7f00:1", "loopback"},
        {"64:ff9b:1:7f00:1::808:808", "reserved"}, /* /48 form of 127.0.1.0 */
        {"64:ff9b:1::808:808", "reserved"},
        {"64:ff9b:2::808:808", NULL},
        /* 6to4 2002::/16 */
        {"2002:7f00:1::", "loopback"},
        {"2002:7f00:1::1", "loopback"},
        {"2002:c0a8:101::1", "private"},
        {"2002:a9fe:a9fe::", "link_local"},
        {"2002:808:808::1", NULL},
        {"2003:7f00:1::", NULL},
    };
    S_RUN (NULL, cases);
}

static void
test_other_families (void **state)
{
    (void)state;
    struct sockaddr_un un;
    memset (&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    assert_non_null (zh_netguard_classify ((const struct sockaddr *)&un));
    assert_non_null (zh_netguard_classify (NULL));
    zh_netguard_t *g = zh_netguard_new (false, NULL, NULL);
    assert_non_null (g);
    assert_non_null (zh_netguard_check (g, (const struct sockaddr *)&un));
    assert_non_null (zh_netguard_check (g, NULL));
    zh_netguard_destroy (&g);
    assert_null (g);
    zh_netguard_destroy (&g); /* accepts NULL */
}

static void
test_guard_and_allow_private (void **state)
{
    (void)state;
    zh_netguard_t *g = zh_netguard_new (false, "", NULL);
    assert_non_null (g);
    assert_string_equal (s_check (g, "127.0.0.1"), "loopback");
    assert_string_equal (s_check (g, "::ffff:169.254.169.254"), "link_local");
    assert_null (s_check (g, "8.8.8.8"));
    zh_netguard_destroy (&g);

    g = zh_netguard_new (true, NULL, NULL);
    assert_non_null (g);
    assert_null (s_check (g, "127.0.0.1"));
    assert_null (s_check (g, "169.254.169.254"));
    assert_null (s_check (g, "::1"));
    assert_null (s_check (g, "8.8.8.8"));
    assert_null (zh_netguard_check_host (g, "localhost"));
    assert_null (zh_netguard_check_host (g, "[fe80::1%25eth0]"));
    zh_netguard_destroy (&g);

    /* an allowlist adds nothing to, and takes nothing from, allow_private */
    g = zh_netguard_new (true, "10.0.0.0/8", NULL);
    assert_non_null (g);
    assert_null (s_check (g, "127.0.0.1"));
    assert_null (s_check (g, "10.1.1.1"));
    zh_netguard_destroy (&g);
}

static void
test_allowlist (void **state)
{
    (void)state;
    const char *bad = "unset";
    zh_netguard_t *g =
        zh_netguard_new (false, " 10.20.0.0/16, 127.0.0.1/8  fd00:1::/64,192.168.1.7", &bad);
    assert_non_null (g);
    assert_null (bad);
    static const s_case_t cases[] = {
        /* 10.20.0.0/16 */
        {"10.20.0.1", NULL},
        {"10.20.255.255", NULL},
        {"10.19.255.255", "private"},
        {"10.21.0.0", "private"},
        {"::ffff:10.20.3.4", NULL}, /* mapped form of an admitted IPv4 */
        {"64:ff9b::a14:304", "private"}, /* but not through a NAT64 gateway */
        /* 127.0.0.1/8 is 127.0.0.0/8 */
        {"127.0.0.1", NULL},
        {"127.255.0.1", NULL},
        {"::1", "loopback"}, /* an IPv4 entry does not admit IPv6 loopback */
        /* fd00:1::/64 */
        {"fd00:1::1", NULL},
        {"fd00:1:0:0:ffff:ffff:ffff:ffff", NULL},
        {"fd00:1:0:1::1", "ula"},
        {"fd00::1", "ula"},
        /* a bare address is a host route */
        {"192.168.1.7", NULL},
        {"192.168.1.8", "private"},
        /* everything else as before */
        {"169.254.169.254", "link_local"},
        {"100.64.0.1", "cgnat"},
        {"8.8.8.8", NULL},
    };
    S_RUN (g, cases);
    /* a literal host goes through the same allowlist */
    assert_null (zh_netguard_check_host (g, "127.1"));
    assert_null (zh_netguard_check_host (g, "localhost"));
    assert_string_equal (zh_netguard_check_host (g, "[::1]"), "loopback");
    zh_netguard_destroy (&g);

    /* IPv6 loopback admitted: ::1 and localhost pass, 127/8 does not */
    g = zh_netguard_new (false, "::1/128", NULL);
    assert_non_null (g);
    assert_null (s_check (g, "::1"));
    assert_string_equal (s_check (g, "127.0.0.1"), "loopback");
    assert_null (zh_netguard_check_host (g, "LocalHost"));
    zh_netguard_destroy (&g);

    /* odd prefix lengths */
    g = zh_netguard_new (false, "172.16.0.0/13,fe80::/9", NULL);
    assert_non_null (g);
    assert_null (s_check (g, "172.23.255.255"));
    assert_string_equal (s_check (g, "172.24.0.0"), "private");
    assert_null (s_check (g, "fe80::1"));
    zh_netguard_destroy (&g);
}

static void
test_allowlist_malformed (void **state)
{
    (void)state;
    static const char *const bad_lists[] = {
        "10.0.0.0/33", "fd00::/129",  "10.0.0.0/", "10.0.0.0/8x",      "10.0.0/8",     "10.1/16",
        "localhost",   "10.0.0.0/-1", "[::1]/128", "fd00::1%eth0/128", "0x0a000000/8",
    };
    for (size_t i = 0; i < sizeof bad_lists / sizeof *bad_lists; i++) {
        const char *bad = NULL;
        zh_netguard_t *g = zh_netguard_new (false, bad_lists[i], &bad);
        if (g)
            fail_msg ("allowlist '%s' should be refused", bad_lists[i]);
        assert_ptr_equal (bad, bad_lists[i]);
    }
    /* the offending entry is pointed at, not the first one */
    const char *list = "10.0.0.0/8, 192.168.0.0/99, fd00::/8";
    const char *bad = NULL;
    assert_null (zh_netguard_new (false, list, &bad));
    assert_ptr_equal (bad, list + 12);
}

static void
test_host_spellings (void **state)
{
    (void)state;
    zh_netguard_t *g = zh_netguard_new (false, NULL, NULL);
    assert_non_null (g);
    static const s_case_t hosts[] = {
        {"127.0.0.1", "loopback"},
        {"127.1", "loopback"},
        {"2130706433", "loopback"},
        {"0x7f000001", "loopback"},
        {"0x7F000001", "loopback"},
        {"0177.0.0.1", "loopback"},
        {"127.0.0.1.", "loopback"},
        {"127.0.0.2", "loopback"},
        {"localhost", "loopback"},
        {"LOCALHOST.", "loopback"},
        {"LocalHost", "loopback"},
        {"api.localhost", "loopback"},
        {"A.B.LOCALHOST.", "loopback"},
        {"[::1]", "loopback"},
        {"::1", "loopback"},
        {"[0:0:0:0:0:0:0:1]", "loopback"},
        {"[::ffff:127.0.0.1]", "loopback"},
        {"[::ffff:7f00:1]", "loopback"},
        {"0.0.0.0", "unspecified"},
        {"0", "unspecified"},
        {"[::]", "unspecified"},
        {"169.254.169.254", "link_local"},
        {"0xa9fea9fe", "link_local"},
        {"100.64.0.1", "cgnat"},
        {"10.1", "private"},
        {"[fd00::1]", "ula"},
        {"[fe80::1%25eth0]", "zone_id"},
        {"[fe80::1%eth0]", "zone_id"},
        {"[64:ff9b::7f00:1]", "loopback"},
        {"[2002:7f00:1::]", "loopback"},
        /* public literals and names are not refused here */
        {"8.8.8.8", NULL},
        {"134744072", NULL}, /* 8.8.8.8 */
        {"[2606:4700::1111]", NULL},
        {"2606:4700::1111", NULL},
        {"example.com", NULL},
        {"example.com.", NULL},
        {"localhost.example.com", NULL},
        {"notlocalhost", NULL},
        {"xlocalhost", NULL},
        {"127.0.0.1.nip.io", NULL}, /* a name: left to the connect-time check */
        {"", NULL},
        {"[::1", NULL},
        {"[zz::1]", NULL},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        const char *got = zh_netguard_check_host (g, hosts[i].addr);
        if (!hosts[i].reason && got)
            fail_msg ("host '%s': expected allowed, got %s", hosts[i].addr, got);
        if (hosts[i].reason && (!got || strcmp (got, hosts[i].reason)))
            fail_msg ("host '%s': expected %s, got %s", hosts[i].addr, hosts[i].reason,
                      got ? got : "allowed");
    }
    assert_null (zh_netguard_check_host (g, NULL));
    zh_netguard_destroy (&g);
}

int
zh_netguard_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ipv4_ranges),
        cmocka_unit_test (test_ipv6_ranges),
        cmocka_unit_test (test_ipv6_embeddings),
        cmocka_unit_test (test_other_families),
        cmocka_unit_test (test_guard_and_allow_private),
        cmocka_unit_test (test_allowlist),
        cmocka_unit_test (test_allowlist_malformed),
        cmocka_unit_test (test_host_spellings),
    };
    return cmocka_run_group_tests_name ("zh_netguard", tests, NULL, NULL);
}
