/*  zh_netguard.c — the SSRF guard: address classifier, CIDR allowlist, URL hosts.
 *
 *  One classifier for every stage: the deliverer asks it about each address
 *  curl is about to connect to, the ingress about literal URL hosts. The
 *  classification works on raw bytes; every IPv6 form that carries an IPv4
 *  address (mapped, compatible, NAT64, 6to4) is judged by that IPv4 address,
 *  so "::ffff:127.0.0.1" and "64:ff9b::7f00:1" are loopback like 127.0.0.1.
 *  The deprecated IPv4-compatible block ::/96 and the local-use NAT64 prefix
 *  64:ff9b:1::/48 are refused as a whole: neither is globally reachable, and
 *  admitting their public part would only add spellings to reason about. */
#include "common/zh_netguard.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_CIDRS_MAX 256
#define S_HOST_MAX 256

typedef struct {
    int family; // AF_INET or AF_INET6
    uint8_t addr[16]; // network address, host bits cleared (4 bytes used for AF_INET)
    unsigned prefix; // prefix length in bits
} s_cidr_t;

struct _zh_netguard_t {
    bool allow_private; // ZHOOK_ALLOW_PRIVATE_TARGETS: nothing is refused
    s_cidr_t *cidrs; // allowlist entries
    size_t cidr_count; // entries in cidrs
};

/* --- classification ---------------------------------------------------------- */

static uint32_t
s_v4_at (const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static bool
s_zero (const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* a is in host byte order. */
static const char *
s_classify_v4 (uint32_t a)
{
    if (a == 0)
        return "unspecified";
    if ((a >> 24) == 0)
        return "unspecified"; /* 0/8 "this network": Linux connects it to the host */
    if ((a >> 24) == 127)
        return "loopback";
    if ((a >> 24) == 10 || (a & 0xFFF00000u) == 0xAC100000u || (a & 0xFFFF0000u) == 0xC0A80000u)
        return "private"; /* RFC 1918 */
    if ((a & 0xFFC00000u) == 0x64400000u)
        return "cgnat"; /* 100.64/10 */
    if ((a & 0xFFFF0000u) == 0xA9FE0000u)
        return "link_local"; /* 169.254/16, the cloud metadata address */
    if ((a >> 28) == 0xE)
        return "multicast"; /* 224/4 */
    if (a == 0xFFFFFFFFu)
        return "broadcast";
    if ((a >> 28) == 0xF)
        return "reserved"; /* 240/4 */
    return NULL;
}

static const char *
s_classify_v6 (const uint8_t *b)
{
    if (s_zero (b, 16))
        return "unspecified";
    if (s_zero (b, 15) && b[15] == 1)
        return "loopback";
    if (s_zero (b, 12)) {
        /* IPv4-compatible ::a.b.c.d: deprecated, refused whatever it embeds */
        const char *reason = s_classify_v4 (s_v4_at (b + 12));
        return reason ? reason : "reserved";
    }
    if (s_zero (b, 10) && b[10] == 0xff && b[11] == 0xff)
        return s_classify_v4 (s_v4_at (b + 12)); /* IPv4-mapped */
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
        if (s_zero (b + 4, 8))
            return s_classify_v4 (s_v4_at (b + 12)); /* NAT64 well-known 64:ff9b::/96 */
        if (b[4] == 0x00 && b[5] == 0x01) {
            /* local-use 64:ff9b:1::/48 (RFC 8215) is not globally reachable,
             * and its operator picks where the IPv4 address sits: refused
             * as a whole, named after the /96 embedding when that is refused */
            const char *reason = s_classify_v4 (s_v4_at (b + 12));
            return reason ? reason : "reserved";
        }
    }
    if (b[0] == 0x20 && b[1] == 0x02)
        return s_classify_v4 (s_v4_at (b + 2)); /* 6to4 2002:V4ADDR::/48 */
    if ((b[0] & 0xfe) == 0xfc)
        return "ula"; /* fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return "link_local"; /* fe80::/10 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
        return "reserved"; /* fec0::/10, deprecated site-local */
    if (b[0] == 0xff)
        return "multicast"; /* ff00::/8 */
    return NULL;
}

const char *
zh_netguard_classify (const struct sockaddr *addr)
{
    if (!addr)
        return "invalid";
    if (addr->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy (&in, addr, sizeof in);
        return s_classify_v4 (ntohl (in.sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy (&in6, addr, sizeof in6);
        return s_classify_v6 (in6.sin6_addr.s6_addr);
    }
    return "unsupported_family";
}

/* --- allowlist ---------------------------------------------------------------- */

static bool
s_prefix_match (const uint8_t *a, const uint8_t *net, unsigned prefix)
{
    unsigned whole = prefix / 8, bits = prefix % 8;
    if (memcmp (a, net, whole) != 0)
        return false;
    if (bits == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFF << (8 - bits));
    return (a[whole] & mask) == (net[whole] & mask);
}

/* True when an allowlist entry admits the address: IPv4 entries match IPv4
 * addresses and their IPv4-mapped form (the same host over a dual-stack
 * socket); IPv6 entries match IPv6 addresses byte for byte. */
static bool
s_admitted (const zh_netguard_t *self, const struct sockaddr *addr)
{
    uint8_t v4[4], v6[16];
    bool has_v4 = false, has_v6 = false;
    if (addr->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy (&in, addr, sizeof in);
        memcpy (v4, &in.sin_addr, 4);
        has_v4 = true;
    }
    else if (addr->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy (&in6, addr, sizeof in6);
        memcpy (v6, in6.sin6_addr.s6_addr, 16);
        has_v6 = true;
        if (s_zero (v6, 10) && v6[10] == 0xff && v6[11] == 0xff) {
            memcpy (v4, v6 + 12, 4);
            has_v4 = true;
        }
    }
    for (size_t i = 0; i < self->cidr_count; i++) {
        const s_cidr_t *c = &self->cidrs[i];
        if (c->family == AF_INET && has_v4 && s_prefix_match (v4, c->addr, c->prefix))
            return true;
        if (c->family == AF_INET6 && has_v6 && s_prefix_match (v6, c->addr, c->prefix))
            return true;
    }
    return false;
}

/* Parses one "ADDR/LEN" or bare "ADDR" (a host route) of len bytes. */
static int
s_cidr_parse (const char *text, size_t len, s_cidr_t *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy (buf, text, len);
    buf[len] = 0;
    char *slash = strchr (buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        const char *p = slash + 1;
        if (!*p || strlen (p) > 3)
            return -1;
        prefix = 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            prefix = prefix * 10 + (*p - '0');
        }
    }
    memset (out, 0, sizeof *out);
    /* inet_pton, not inet_aton: an allowlist is written by an operator and
     * "10.1/16" meaning 10.0.0.1/16 would be a trap */
    if (inet_pton (AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        if (prefix < 0)
            prefix = 32;
        if (prefix > 32)
            return -1;
    }
    else if (inet_pton (AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        if (prefix < 0)
            prefix = 128;
        if (prefix > 128)
            return -1;
    }
    else
        return -1;
    out->prefix = (unsigned)prefix;
    /* clear host bits: "127.0.0.1/8" means 127.0.0.0/8 */
    size_t bytes = out->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < bytes; i++) {
        unsigned first = (unsigned)i * 8;
        if (first >= out->prefix)
            out->addr[i] = 0;
        else if (first + 8 > out->prefix)
            out->addr[i] &= (uint8_t)(0xFF << (8 - (out->prefix - first)));
    }
    return 0;
}

/* --- life cycle ------------------------------------------------------------------ */

zh_netguard_t *
zh_netguard_new (bool allow_private, const char *allowed_cidrs, const char **bad_cidr)
{
    if (bad_cidr)
        *bad_cidr = NULL;
    zh_netguard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->allow_private = allow_private;
    const char *p = allowed_cidrs ? allowed_cidrs : "";
    const char *sep = ", \t";
    size_t count = 0;
    for (const char *q = p; *q;) {
        q += strspn (q, sep);
        if (!*q)
            break;
        count++;
        q += strcspn (q, sep);
    }
    if (count > S_CIDRS_MAX) {
        if (bad_cidr)
            *bad_cidr = p;
        free (self);
        return NULL;
    }
    if (count) {
        self->cidrs = calloc (count, sizeof *self->cidrs);
        if (!self->cidrs) {
            free (self);
            return NULL;
        }
    }
    while (*p) {
        p += strspn (p, sep);
        if (!*p)
            break;
        size_t len = strcspn (p, sep);
        if (s_cidr_parse (p, len, &self->cidrs[self->cidr_count])) {
            if (bad_cidr)
                *bad_cidr = p;
            zh_netguard_destroy (&self);
            return NULL;
        }
        self->cidr_count++;
        p += len;
    }
    return self;
}

void
zh_netguard_destroy (zh_netguard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zh_netguard_t *self = *self_p;
    free (self->cidrs);
    free (self);
    *self_p = NULL;
}

/* --- checks ------------------------------------------------------------------------ */

const char *
zh_netguard_check (const zh_netguard_t *self, const struct sockaddr *addr)
{
    assert (self);
    const char *reason = zh_netguard_classify (addr);
    if (!reason || self->allow_private)
        return NULL;
    if (addr && s_admitted (self, addr))
        return NULL;
    return reason;
}

static const char *
s_check_v4 (const zh_netguard_t *self, const struct in_addr *a)
{
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr = *a;
    return zh_netguard_check (self, (const struct sockaddr *)&sa);
}

static const char *
s_check_v6 (const zh_netguard_t *self, const struct in6_addr *a)
{
    struct sockaddr_in6 sa;
    memset (&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = *a;
    return zh_netguard_check (self, (const struct sockaddr *)&sa);
}

const char *
zh_netguard_check_host (const zh_netguard_t *self, const char *host)
{
    assert (self);
    if (!host)
        return NULL;
    size_t len = strlen (host);
    if (len == 0 || len >= S_HOST_MAX)
        return NULL;
    char buf[S_HOST_MAX];
    bool bracketed = host[0] == '[';
    if (bracketed) {
        if (len < 3 || host[len - 1] != ']')
            return NULL; /* not a URL host; the URL check refuses it */
        memcpy (buf, host + 1, len - 2);
        buf[len - 2] = 0;
    }
    else
        memcpy (buf, host, len + 1);

    if (bracketed || strchr (buf, ':')) {
        /* a zone id ("fe80::1%eth0", "%25" in URLs) picks an interface:
         * always link-local territory, never a public destination */
        if (strchr (buf, '%'))
            return self->allow_private ? NULL : "zone_id";
        struct in6_addr a6;
        if (inet_pton (AF_INET6, buf, &a6) != 1)
            return NULL;
        return s_check_v6 (self, &a6);
    }
    /* one trailing dot is the fully qualified spelling of the same name */
    size_t blen = strlen (buf);
    if (blen > 1 && buf[blen - 1] == '.')
        buf[--blen] = 0;
    /* every spelling the resolver accepts as an IPv4 literal: 127.1,
     * 2130706433, 0x7f000001, 0177.0.0.1 */
    struct in_addr a4;
    if (inet_aton (buf, &a4) == 1)
        return s_check_v4 (self, &a4);
    /* localhost names never leave the host (RFC 6761): refused unless the
     * loopback addresses they stand for are admitted */
    if (!strcasecmp (buf, "localhost") ||
        (blen > 10 && !strcasecmp (buf + blen - 10, ".localhost"))) {
        struct in_addr lo4;
        lo4.s_addr = htonl (INADDR_LOOPBACK);
        if (!s_check_v4 (self, &lo4) || !s_check_v6 (self, &in6addr_loopback))
            return NULL;
        return "loopback";
    }
    return NULL;
}
