#!/bin/sh
# t_events_rate.sh — per-subscription rate limit, enforced where dispatch
# happens (the scheduler), so it holds with two deliverers of 16 slots each.
#
# Two subscriptions on one topic: one with rate_limit 5 (deliveries per
# second), one without. 20 events are published at once. Shown: the limited
# subscription's 20 deliveries are spread over at least 2.5 s (a bucket of
# at most 5 at once, then 5/s) and never more than 10 (+1 for arrival
# jitter) fall in any one-second window; the unlimited one's 20 arrive
# within a second and a half of the publish, unhindered by the limited one;
# PATCH rate_limit is shown by GET.
. "$(dirname "$0")/lib.sh"

N=20
RATE=5

zh_setup
zh_start_receiver
zh_start_pipeline a b

zh_api POST /v1/subscriptions "{\"topic\":\"rl.test\",\"url\":\"$ZH_RCV/lim\",\"rate_limit\":$RATE}"
zh_assert_eq "$ZH_STATUS" 201 "subscription with rate_limit ($(zh_resp))"
zh_assert_eq "$(zh_body rate_limit)" "$RATE" "rate_limit in the 201"
LIM=$(zh_body id)
zh_api POST /v1/subscriptions "{\"topic\":\"rl.test\",\"url\":\"$ZH_RCV/unl\"}"
zh_assert_eq "$ZH_STATUS" 201 "subscription without rate_limit ($(zh_resp))"
zh_api POST /v1/subscriptions "{\"topic\":\"rl.test\",\"url\":\"$ZH_RCV/x\",\"rate_limit\":-1}"
zh_assert_eq "$ZH_STATUS" 422 "negative rate_limit"

T0=$(zh_now_ms)
i=0
while [ $i -lt $N ]; do
    zh_api POST /v1/events "{\"topic\":\"rl.test\",\"payload\":{\"i\":$i}}"
    zh_assert_eq "$ZH_STATUS" 202 "event $i ($(zh_resp))"
    zh_assert_eq "$(zh_body messages.#)" 2 "messages of event $i"
    i=$((i + 1))
done
T1=$(zh_now_ms)

arrivals () {
    grep "\"path\":\"$1\"" "$ZH_RCV_LOG" | grep '"status":200' |
        sed -n 's/.*"t_ms":\([0-9]*\),.*/\1/p' | sort -n
}
zh_wait_until 15000 "[ \$(arrivals /lim | wc -l) -ge $N ] && [ \$(arrivals /unl | wc -l) -ge $N ]" ||
    zh_fail "delivered: /lim $(arrivals /lim | wc -l), /unl $(arrivals /unl | wc -l) of $N"

LIM_SPAN=$(arrivals /lim | awk 'NR == 1 { a = $1 } { b = $1 } END { print b - a }')
LIM_WIN=$(arrivals /lim | awk '{ t[NR] = $1 } END {
    for (i = 1; i <= NR; i++) { c = 0; for (j = i; j <= NR && t[j] - t[i] < 1000; j++) c++; if (c > m) m = c }
    print m }')
UNL_LAST=$(($(arrivals /unl | tail -1) - T0))
zh_log "published $N events in $((T1 - T0)) ms; rate_limit $RATE: spread over $LIM_SPAN ms, at most $LIM_WIN in one second; unlimited: last arrival $UNL_LAST ms after the first publish"
zh_assert_ge "$LIM_SPAN" 2500 "spread of $N deliveries at $RATE/s (ms)"
zh_assert_le "$LIM_WIN" $((2 * RATE + 1)) "deliveries of the limited subscription in any one-second window (bucket + rate, +1 for arrival jitter)"
zh_assert_le "$UNL_LAST" $(((T1 - T0) + 1500 * ZH_SCALE)) "last unlimited arrival after the first publish (ms)"
zh_pass "rate_limit $RATE/s held across two deliverers ($LIM_SPAN ms for $N, max $LIM_WIN per second); unlimited one unhindered"

zh_api PATCH "/v1/subscriptions/$LIM" '{"rate_limit":50,"description":"faster"}'
zh_assert_eq "$ZH_STATUS" 200 "PATCH rate_limit ($(zh_resp))"
zh_api GET "/v1/subscriptions/$LIM"
zh_assert_eq "$(zh_body rate_limit)" 50 "rate_limit after PATCH"
zh_assert_eq "$(zh_body description)" faster "description after PATCH"
zh_pass "PATCH rate_limit and description shown by GET"
