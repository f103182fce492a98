/*  ing_limit.h — who the client is, and how many requests it may make: the
 *  per-IP token bucket of one ingress (ZHOOK_IP_RATE, ZHOOK_IP_BURST) and
 *  the trusted proxies (ZHOOK_TRUSTED_PROXIES) whose X-Forwarded-For and
 *  X-Forwarded-Proto are believed.
 *
 *  For the response code (HSTS): ing_limit_client () answers "is this
 *  request https?" — true only when civetweb itself served TLS, or when the
 *  TCP peer is a trusted proxy whose X-Forwarded-Proto says https. In
 *  ing_server.c the request prologue stores both answers in s_req_t
 *  (req->client_ip, req->https) before any handler runs, so response code
 *  can read req->https instead of calling this again.
 *
 *  Client address: the TCP peer, unless the peer is a trusted proxy; then
 *  X-Forwarded-For (every such header, in order, as one list) is walked
 *  from the right, skipping trusted hops: the first untrusted address is
 *  the client. An entry that is not an address stops the walk (the last
 *  trusted hop is then the client); if every hop is trusted, the leftmost
 *  one is. A client can prepend anything to X-Forwarded-For, but cannot
 *  forge what a trusted proxy appended after it.
 *
 *  Buckets: one per client address, burst tokens, refilled at rate per
 *  second, in a bounded table (ING_LIMIT_MAX_CLIENTS, least recently used
 *  forgotten: a forgotten client starts full again). Striped locks: safe
 *  and cheap from every civetweb thread. */
#ifndef ING_LIMIT_H
#define ING_LIMIT_H

#include <civetweb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ING_LIMIT_MAX_CLIENTS 65536 /* client addresses remembered at most */
#define ING_LIMIT_IP_SIZE 48 /* INET6_ADDRSTRLEN and a NUL */

typedef struct _ing_limit_t ing_limit_t;

/* What a decision tells the client (RateLimit-* and Retry-After headers). */
typedef struct {
    uint32_t limit; // the burst
    uint32_t remaining; // whole tokens left
    int64_t reset_ms; // until the bucket is full again
    int64_t retry_after_ms; // refused: until the next token; else 0
} ing_limit_info_t;

/* rate 0: no IP limit (ing_limit_take always allows). burst 0 means rate.
 * trusted_proxies: NULL/"" or a comma- or space-separated list of IPv4/IPv6
 * CIDRs or addresses. NULL when an entry is malformed (*bad_cidr then
 * points at it inside trusted_proxies; bad_cidr may be NULL) or out of
 * memory. */
ing_limit_t *ing_limit_new (uint32_t rate, uint32_t burst, const char *trusted_proxies,
                            const char **bad_cidr);
void ing_limit_destroy (ing_limit_t **self_p);

/* 0 when list is a valid trusted-proxies value, else -1 with *bad set. */
int ing_limit_check_cidrs (const char *list, const char **bad);

/* True when rate > 0. */
bool ing_limit_enabled (const ing_limit_t *self);

/* The client address of a request (into ip, ip_size >= ING_LIMIT_IP_SIZE)
 * and whether it came over https (may be NULL). False only when the peer
 * address is unknown (ip is then "unknown"). */
bool ing_limit_client (const struct mg_connection *conn, const ing_limit_t *lim, char *ip,
                       size_t ip_size, bool *https);

/* The same decision from its inputs: peer (TCP peer address), xff (the
 * X-Forwarded-For values joined with ',' or NULL), xfp (X-Forwarded-Proto
 * or NULL), tls (civetweb served TLS). For tests and for ing_limit_client. */
bool ing_limit_resolve (const ing_limit_t *lim, const char *peer, const char *xff, const char *xfp,
                        bool tls, char *ip, size_t ip_size, bool *https);

/* True when the address (any form inet_pton reads) is in the trusted list. */
bool ing_limit_trusted (const ing_limit_t *self, const char *ip);

/* Takes one token of ip's bucket at now_ms (monotonic ms). True when
 * allowed (always when disabled); info (may be NULL) is filled when the
 * limit is enabled. Out of memory: allowed. */
bool ing_limit_take (ing_limit_t *self, const char *ip, int64_t now_ms, ing_limit_info_t *info);

#endif
