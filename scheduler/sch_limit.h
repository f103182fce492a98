/*  sch_limit.h — rate limits kept in the scheduler's memory as token
 *  buckets, in a bounded map with least-recently-used eviction: per
 *  subscription (delivery rate) and per tenant (acceptance rate,
 *  ZHOOK_TENANT_RATE / ZHOOK_TENANT_BURST, the _n functions below).
 *
 *  The limit is enforced where dispatch happens (sch_store_lease), so it
 *  holds whatever the number of deliverers. A bucket holds at most
 *  max (rate, 1) tokens (one second of traffic) and refills at rate tokens
 *  per second; it starts full. Forgetting a bucket (eviction, restart) lets
 *  at most one more second's burst through: the trade for bounded memory.
 *  No clock and no I/O inside: callers pass now_ms. One thread. */
#ifndef SCH_LIMIT_H
#define SCH_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define SCH_LIMIT_DEFAULT_MAX 100000 /* buckets remembered by the scheduler */

/* One token bucket; zero it before first use (it then starts full). */
typedef struct {
    double tokens; // tokens available, 0..max (rate, 1)
    int64_t last_ms; // wall clock of the last refill, 0 = never used
    uint32_t rate; // rate the bucket was filled for (a change refills it)
} sch_bucket_t;

/* Takes one token for rate per second at now_ms: 0 when taken (or rate is
 * 0, unlimited), else the milliseconds until the next token (>= 1). A clock
 * that goes back refills nothing. */
int64_t sch_bucket_take (sch_bucket_t *bucket, uint32_t rate, int64_t now_ms);

/* What a tenant-limit decision tells the producer (RateLimit-* headers). */
typedef struct {
    uint32_t limit; // the burst: most tokens the bucket holds
    uint32_t remaining; // whole tokens left after this decision
    int64_t reset_ms; // ms until the bucket is full again
    int64_t retry_after_ms; // refused: ms until n tokens are there; else 0
} sch_limit_info_t;

/* Takes n tokens at once or none, from a bucket of burst tokens (>= 1)
 * refilled at rate per second (it starts full; a change of rate refills
 * it). 0 when taken or rate is 0 (unlimited); > 0: the ms until n tokens
 * are there; -1 when n > burst (it never will). info (may be NULL) is
 * filled in every case but rate 0. */
int64_t sch_bucket_take_n (sch_bucket_t *bucket, uint32_t rate, uint32_t burst, uint32_t n,
                           int64_t now_ms, sch_limit_info_t *info);

typedef struct _sch_limit_t sch_limit_t;

/* A map of at most max buckets (max >= 1). NULL when out of memory. */
sch_limit_t *sch_limit_new (size_t max);
void sch_limit_destroy (sch_limit_t **self_p);

/* sch_bucket_take on key's bucket (created full when missing, evicting the
 * least recently used one at max). Out of memory: 0 (the limit is not
 * enforced rather than the message stalled). */
int64_t sch_limit_take (sch_limit_t *self, const char *key, uint32_t rate, int64_t now_ms);

/* sch_bucket_take_n on key's bucket (created full when missing, evicting
 * the least recently used one at max). Out of memory: 0, unlimited. */
int64_t sch_limit_take_n (sch_limit_t *self, const char *key, uint32_t rate, uint32_t burst,
                          uint32_t n, int64_t now_ms, sch_limit_info_t *info);

/* Gives n tokens back to key's bucket (capped at burst): taken for a
 * request that did not accept them all. No-op when the bucket is gone. */
void sch_limit_give (sch_limit_t *self, const char *key, uint32_t burst, uint32_t n);

/* Drops key's bucket (a deleted subscription); no-op when missing. */
void sch_limit_forget (sch_limit_t *self, const char *key);

/* Buckets remembered now. */
size_t sch_limit_size (const sch_limit_t *self);

#endif
