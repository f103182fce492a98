#!/bin/sh
# t_idle_cpu.sh — with 100,000 messages pending an hour out, the idle
# scheduler uses under 1% of a CPU (utime+stime from /proc over 10 s).
. "$(dirname "$0")/lib.sh"

BATCHES=${ZH_IDLE_BATCHES:-100}
PER_BATCH=1000
MAX_PCT=${ZH_IDLE_CPU_MAX_PCT:-1}
zh_setup
zh_start_receiver
zh_start_pipeline a

# One batch body of 1000 messages due in an hour.
awk -v url="$ZH_RCV/idle" -v n="$PER_BATCH" 'BEGIN {
    printf "{\"messages\":["
    for (i = 0; i < n; i++)
        printf "%s{\"url\":\"%s\",\"payload\":{\"i\":%d},\"delay_ms\":3600000}", (i ? "," : ""), url, i
    printf "]}"
}' >"$ZH_TMP/batch.json"

T0=$(zh_now_ms)
b=0
while [ $b -lt "$BATCHES" ]; do
    tries=0
    while :; do
        zh_api POST /v1/messages/batch "@$ZH_TMP/batch.json"
        [ "$ZH_STATUS" = 503 ] || break
        tries=$((tries + 1))
        [ $tries -lt 10 ] || zh_fail "batch $b: 503 ten times"
        sleep 0.2
    done
    zh_assert_eq "$ZH_STATUS" 202 "batch $b ($(zh_resp))"
    ids=$(grep -o '"id"' "$ZH_TMP/resp.body" | wc -l)
    zh_assert_eq "$ids" "$PER_BATCH" "ids in batch $b answer"
    b=$((b + 1))
done
T1=$(zh_now_ms)
TOTAL=$((BATCHES * PER_BATCH))
zh_log "submitted $TOTAL messages in $((T1 - T0)) ms ($((TOTAL * 1000 / (T1 - T0 + 1))) msg/s)"

zh_api GET /v1/status
if [ "$ZH_STATUS" = 200 ]; then
    zh_log "GET /v1/status: $(zh_resp)"
    sched=$(zh_body scheduled)
    [ -z "$sched" ] || zh_assert_ge "$sched" "$TOTAL" "scheduled count in /v1/status"
fi

# Let the last commits and replies settle (no CPU used over 300 ms), then
# measure over 10 s. (That sleep is the measurement window, not a wait for a
# condition.)
PID=$(zh_pid scheduler)
cpu_quiet () {
    _c0=$(zh_cpu_ticks "$PID")
    sleep 0.3
    [ "$(zh_cpu_ticks "$PID")" -le $((_c0 + 1)) ]
}
zh_wait_until 15000 cpu_quiet || zh_log "note: scheduler still busy 15 s after the last batch"
TCK=$(getconf CLK_TCK)
C0=$(zh_cpu_ticks "$PID")
W0=$(zh_now_ms)
sleep 10
C1=$(zh_cpu_ticks "$PID")
W1=$(zh_now_ms)
zh_alive "$PID" || zh_fail "scheduler died during the measurement"
PCT=$(awk -v c=$((C1 - C0)) -v t="$TCK" -v w=$((W1 - W0)) 'BEGIN { printf "%.2f", c / t * 100000 / w }')
RSS=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID/status")
zh_log "idle scheduler with $TOTAL pending: $((C1 - C0)) ticks in $((W1 - W0)) ms = $PCT% CPU, RSS $RSS kB"
awk -v p="$PCT" -v m="$MAX_PCT" 'BEGIN { exit !(p < m) }' ||
    zh_fail "idle scheduler CPU $PCT% is not under $MAX_PCT%"
zh_assert_eq "$(zh_rcv_ids | wc -l)" 0 "deliveries of messages due in an hour"
zh_pass "idle scheduler CPU $PCT% < $MAX_PCT% with $TOTAL pending"
