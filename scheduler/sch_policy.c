/*  sch_policy.c — backoff, Retry-After, deferrals and attempt outcomes (pure). */
#include "scheduler/sch_policy.h"

#include <stdbool.h>
#include <string.h>

int64_t
sch_policy_backoff_ms (const sch_policy_t *self, uint32_t k, uint64_t rnd)
{
    int64_t max = self->retry_max_ms > 0 ? self->retry_max_ms : 1;
    int64_t base = self->retry_base_ms > 0 ? self->retry_base_ms : 1;
    uint32_t shift = k > 1 ? k - 1 : 0;
    int64_t delay;
    if (base >= max || shift >= 62 || base > (max >> shift))
        delay = max;
    else
        delay = base << shift;
    /* jitter in [0.8, 1.2] x delay; delay <= retry_max, so 2 delay cannot overflow */
    int64_t span = delay * 2 / 5;
    int64_t jittered = delay - delay / 5 + (int64_t)(rnd % ((uint64_t)span + 1));
    if (jittered > max)
        jittered = max;
    return jittered < 0 ? 0 : jittered;
}

int64_t
sch_policy_retry_delay_ms (const sch_policy_t *self, const proto_result_t *result, uint32_t k,
                           uint64_t rnd)
{
    if (result->retry_after_ms >= 0)
        return result->retry_after_ms < self->retry_max_ms ? result->retry_after_ms
                                                           : self->retry_max_ms;
    bool slow_down = !result->error && (result->status_code == 429 || result->status_code == 503);
    if (slow_down && k < UINT32_MAX)
        k = k > 0 ? k + 1 : 2;
    return sch_policy_backoff_ms (self, k, rnd);
}

int64_t
sch_policy_defer_ms (const sch_policy_t *self, int64_t retry_after_ms)
{
    int64_t wait = retry_after_ms >= 0 ? retry_after_ms : SCH_POLICY_DEFER_DEFAULT_MS;
    if (wait > self->retry_max_ms)
        wait = self->retry_max_ms;
    return wait < SCH_POLICY_DEFER_MIN_MS ? SCH_POLICY_DEFER_MIN_MS : wait;
}

sch_outcome_t
sch_policy_classify (const proto_result_t *result, uint32_t k, uint32_t max_attempts,
                     const char **reason)
{
    *reason = NULL;
    /* checked first: a deferral is not an attempt, so max_attempts cannot end it */
    if (result->error && strcmp (result->error, "deferred") == 0)
        return SCH_OUTCOME_DEFERRED;
    if (!result->error && result->status_code >= 200 && result->status_code <= 299)
        return SCH_OUTCOME_DELIVERED;
    if (!result->error && result->status_code == 410) {
        *reason = "gone";
        return SCH_OUTCOME_DEAD;
    }
    /* errors no retry can fix: the destination is refused, or the message's
     * own secret cannot be decoded (nothing is ever sent unsigned) */
    static const char *const permanent[] = {"blocked_destination", "invalid_secret"};
    for (size_t i = 0; result->error && i < sizeof permanent / sizeof permanent[0]; i++)
        if (strcmp (result->error, permanent[i]) == 0) {
            *reason = permanent[i];
            return SCH_OUTCOME_DEAD;
        }
    if (k >= max_attempts) {
        *reason = "max_attempts";
        return SCH_OUTCOME_DEAD;
    }
    return SCH_OUTCOME_RETRY;
}
