/*  sch_policy.h — the delivery policy as pure functions: backoff with
 *  jitter, Retry-After capping, the slower backoff of 429 and 503, the wait
 *  of a deferred dispatch, and the outcome of an attempt.
 *
 *  No clock, no randomness and no I/O inside: the caller passes the random
 *  value, so every rule is unit-tested exhaustively (sch_policy_test.c).
 *  The store (sch_store) applies these when it records an attempt. */
#ifndef SCH_POLICY_H
#define SCH_POLICY_H

#include "proto/proto.h"

#include <stdint.h>

#define SCH_POLICY_DEFER_MIN_MS 50 /* a deferred dispatch comes back no sooner */
#define SCH_POLICY_DEFER_DEFAULT_MS 1000 /* ... and after this when it names no wait */

typedef struct {
    uint32_t max_attempts; // attempts of a message that sets none, 1..100
    uint32_t timeout_ms; // per-attempt timeout of a message that sets none
    int64_t retry_base_ms; // backoff base: the wait after the first failure
    int64_t retry_max_ms; // longest wait between attempts, cap on Retry-After
    int64_t lease_margin_ms; // lease = timeout + this margin
    int64_t retention_ms; // ended messages are purged this long after they ended
    int64_t idempotency_ms; // idempotency keys are forgotten this long after use
    int64_t secret_overlap_ms; // after a rotation, the previous secret also signs this long
    int64_t disable_after_ms; // a subscription failing this long is disabled; 0 = never
} sch_policy_t;

typedef enum {
    SCH_OUTCOME_DELIVERED = 1, // a 2xx: the message ends delivered
    SCH_OUTCOME_RETRY, // failed, attempts left: retrying
    SCH_OUTCOME_DEAD, // failed for good: dead-letter queue
    SCH_OUTCOME_DEFERRED, // never attempted (destination busy, circuit open): not an attempt
} sch_outcome_t;

/* Wait before the next attempt after the k-th failed attempt since the last
 * replay (k >= 1): min (retry_max, base * 2^(k-1)), then scaled by a factor
 * in [0.8, 1.2] drawn from rnd (uniform 64-bit), then capped at retry_max
 * again so the documented maximum is never exceeded. k = 0 is treated as 1. */
int64_t sch_policy_backoff_ms (const sch_policy_t *self, uint32_t k, uint64_t rnd);

/* Wait before the next attempt after result, the k-th failed attempt: a
 * valid Retry-After (result->retry_after_ms >= 0) replaces the backoff,
 * capped at retry_max_ms; without one, an HTTP 429 or 503 (the receiver
 * asks for less traffic) waits the backoff of step k + 1, about twice the
 * usual; anything else waits sch_policy_backoff_ms (k). */
int64_t sch_policy_retry_delay_ms (const sch_policy_t *self, const proto_result_t *result,
                                   uint32_t k, uint64_t rnd);

/* Wait before a deferred dispatch is due again: retry_after_ms clamped to
 * [SCH_POLICY_DEFER_MIN_MS, retry_max_ms]; SCH_POLICY_DEFER_DEFAULT_MS
 * (clamped the same way) when it is absent (< 0). */
int64_t sch_policy_defer_ms (const sch_policy_t *self, int64_t retry_after_ms);

/* Outcome of result, the k-th attempt since the last replay of a message
 * allowing max_attempts: error "deferred" (the deliverer did not start it)
 * is deferred whatever k is; an HTTP 2xx (error NULL) is delivered; 410 is
 * dead "gone"; error "blocked_destination" or "invalid_secret" is dead with
 * that reason; anything else is a retry while k < max_attempts, else dead
 * "max_attempts". *reason (static string) is set for dead outcomes, else
 * NULL. */
sch_outcome_t sch_policy_classify (const proto_result_t *result, uint32_t k, uint32_t max_attempts,
                                   const char **reason);

#endif
