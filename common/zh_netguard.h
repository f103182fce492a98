/*  zh_netguard.h — the SSRF guard: which destination addresses a delivery may reach.
 *
 *  Shared by the deliverer, which checks the address actually being connected
 *  (CURLOPT_OPENSOCKETFUNCTION: DNS rebinding and odd spellings cannot bypass
 *  it), and the ingress, which refuses URLs whose host is a literal refused
 *  address at submit time (names are left to the connect-time check).
 *
 *  Refused unless allowed: loopback, RFC 1918, CGNAT 100.64/10, link-local
 *  169.254/16 (the metadata address), 0/8 and the unspecified addresses,
 *  multicast, broadcast and reserved 240/4, IPv6 loopback, ULA fc00::/7,
 *  link-local fe80::/10, multicast ff00::/8, and the IPv4-mapped
 *  (::ffff:0:0/96), IPv4-compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and
 *  6to4 (2002::/16) forms of every refused IPv4 range. */
#ifndef ZH_NETGUARD_H
#define ZH_NETGUARD_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct _zh_netguard_t zh_netguard_t;

/* allow_private lifts the guard entirely (development, tests). allowed_cidrs
 * is NULL/"" or a comma- or space-separated list of IPv4/IPv6 CIDRs that are
 * admitted even though refused by default ("10.20.0.0/16, fd00:1::/64").
 * Returns NULL when a CIDR is malformed (*bad_cidr then points into
 * allowed_cidrs at the offending entry) or out of memory. */
zh_netguard_t *zh_netguard_new (bool allow_private, const char *allowed_cidrs,
                                const char **bad_cidr);
void zh_netguard_destroy (zh_netguard_t **self_p);

/* NULL when the address may be connected to; else the reason, a static
 * string such as "loopback", "private", "link_local", "cgnat", "multicast",
 * "unspecified", "broadcast", "reserved", "ula". Thread-safe. */
const char *zh_netguard_check (const zh_netguard_t *self, const struct sockaddr *addr);

/* The same for the host part of a URL: an IPv4 literal in any spelling
 * inet_aton accepts (127.1, 2130706433, 0x7f000001, 0177.0.0.1), a bracketed
 * or bare IPv6 literal, or "localhost" and names under ".localhost". NULL for
 * other names (checked at connect time) and allowed literals. */
const char *zh_netguard_check_host (const zh_netguard_t *self, const char *host);

/* The default classification without any allowance: NULL when public. */
const char *zh_netguard_classify (const struct sockaddr *addr);

#endif
