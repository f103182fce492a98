/*  dlv_hosts.h — per-destination fairness: attempts in flight and a circuit
 *  breaker for every destination a deliverer talks to.
 *
 *  A destination is a URL's origin: scheme://host:port, lowercased
 *  (dlv_hosts_origin). Before an attempt starts the deliverer asks
 *  dlv_hosts_acquire; an attempt that may not start is sent back to the
 *  scheduler as "deferred" (no attempt is spent). Every acquired attempt is
 *  reported once with dlv_hosts_release.
 *
 *  Circuit breaker, per destination:
 *      closed    --circuit_failures consecutive failed attempts-->  open
 *      open      --circuit_cooldown_ms later, at the next acquire--> half-open
 *      half-open: one trial attempt; its success closes the circuit, its
 *                 failure opens it for another cool-down.
 *  A failure is a timeout, a connection error (connect, dns, tls, network),
 *  a 5xx or a 429 (dlv_hosts_outcome). Outcomes reported while open come
 *  from attempts started before it opened: a failure changes nothing, a
 *  success closes it (the receiver is answering again). While half-open the
 *  first outcome reported decides.
 *
 *  Memory is bounded: at most max_entries destinations are remembered.
 *  When a new one arrives at the cap, the least recently used destination
 *  with nothing in flight and a closed circuit is forgotten; failing that,
 *  the least recently used one with nothing in flight (its circuit state
 *  is lost). Destinations with attempts in flight are never forgotten, so a
 *  cap >= the deliverer's concurrency always leaves room.
 *
 *  Pure: no clock, no I/O, no threads; now_ms is a monotonic clock passed
 *  by the caller, jitter comes from a generator seeded at _new. One thread
 *  uses a dlv_hosts_t. */
#ifndef DLV_HOSTS_H
#define DLV_HOSTS_H

#include "proto/proto.h"

#include <stddef.h>
#include <stdint.h>

#define DLV_HOSTS_MAX 10000 /* destinations remembered by default */
#define DLV_HOSTS_BUSY_MIN_MS 200 /* a busy destination's work comes back after */
#define DLV_HOSTS_BUSY_MAX_MS 1000 /* ... a wait drawn uniformly in [min, max] */
#define DLV_HOSTS_OPEN_JITTER_MS 250 /* spread added to the rest of a cool-down */

typedef struct _dlv_hosts_t dlv_hosts_t;

typedef enum {
    DLV_HOSTS_GO = 0, /* start the attempt; report its end with dlv_hosts_release */
    DLV_HOSTS_BUSY, /* host_concurrency attempts in flight: defer */
    DLV_HOSTS_OPEN, /* circuit open, or half-open with its trial in flight: defer */
} dlv_hosts_verdict_t;

typedef enum {
    DLV_HOSTS_SUCCESS = 0, /* the receiver answered (any status but 5xx and 429) */
    DLV_HOSTS_FAILURE, /* timeout, connection error, 5xx, 429 */
    DLV_HOSTS_NEUTRAL, /* says nothing of the receiver: aborted, refused, never sent */
} dlv_hosts_outcome_t;

typedef enum {
    DLV_HOSTS_SAME = 0, /* the circuit did not change */
    DLV_HOSTS_OPENED, /* this failure opened (or reopened) the circuit */
    DLV_HOSTS_CLOSED, /* this success closed it */
} dlv_hosts_change_t;

/* host_concurrency: attempts in flight per destination at most (0 = no
 * cap); circuit_failures: consecutive failures that open a circuit (0 =
 * never); cooldown_ms: how long it stays open; max_entries: destinations
 * remembered (0 = DLV_HOSTS_MAX); seed: jitter and hash seed. NULL when out
 * of memory. */
dlv_hosts_t *dlv_hosts_new (uint32_t host_concurrency, uint32_t circuit_failures,
                            uint32_t cooldown_ms, size_t max_entries, uint64_t seed);

/* Frees everything, nulls *self_p; accepts NULL. */
void dlv_hosts_destroy (dlv_hosts_t **self_p);

/* The origin of url, "scheme://host:port" with the default port filled in,
 * lowercased; never user info, path or query. Heap string (caller frees),
 * or NULL when curl cannot parse url or memory fails. */
char *dlv_hosts_origin (const char *url);

/* dlv_hosts_origin through a small cache of recent URLs (curl's URL
 * parser was a few percent of a deliverer's CPU, twice per attempt).
 * Borrowed: valid until the next call on self. NULL as dlv_hosts_origin. */
const char *dlv_hosts_origin_of (dlv_hosts_t *self, const char *url);

/* May an attempt to origin start at now_ms? GO counts it in flight. BUSY
 * and OPEN set *wait_ms (> 0) to when the work should come back: a jittered
 * DLV_HOSTS_BUSY_MIN_MS..MAX_MS when busy or when a half-open trial is in
 * flight, the rest of the cool-down plus up to DLV_HOSTS_OPEN_JITTER_MS when
 * open. GO also when memory fails (the attempt is then not tracked). */
dlv_hosts_verdict_t dlv_hosts_acquire (dlv_hosts_t *self, const char *origin, int64_t now_ms,
                                       int64_t *wait_ms);

/* Reports the end of an attempt acquired with GO (also one that could not
 * be started after all: NEUTRAL). Unknown origins are ignored. */
dlv_hosts_change_t dlv_hosts_release (dlv_hosts_t *self, const char *origin,
                                      dlv_hosts_outcome_t outcome, int64_t now_ms);

/* What result says about its receiver (see dlv_hosts_outcome_t): error
 * "timeout", "connect", "dns", "tls", "network" or an HTTP 5xx or 429 is a
 * failure; any other error is neutral; any other HTTP response a success. */
dlv_hosts_outcome_t dlv_hosts_outcome (const proto_result_t *result);

/* Circuits not closed (open or half-open) now. */
size_t dlv_hosts_open_count (const dlv_hosts_t *self);

/* Destinations remembered now. */
size_t dlv_hosts_size (const dlv_hosts_t *self);

#endif
