#!/bin/sh
# t_inflight.sh — in-flight work is bounded by what the deliverers can take
# (issue 2: the scheduler leases only as much as the deliverers' heartbeats
# announce; the rest waits in LMDB). One deliverer with ZHOOK_CONCURRENCY=4
# and ZHOOK_PREFETCH=3 (it announces 4 + 3 and holds up to 3 leased
# dispatches waiting for a slot), a receiver that holds every request 150 ms,
# 100 messages due at once (one batch): while they drain, GET /v1/status
# "in_flight" and the scheduler's zhook_scheduler_in_flight gauge (leases)
# never exceed 7, the deliverer's zhook_deliverer_in_flight (HTTP attempts)
# never exceeds 4 and its zhook_deliverer_queued never 3; the receiver's own
# log (arrival times, each request held 150 ms) never shows more than 4
# requests open at once, and does show 4 (the slots are used); all 100 are
# delivered, each once.
. "$(dirname "$0")/lib.sh"

CAP=4
PREFETCH=3
LEASES=$((CAP + PREFETCH))
N=100
HOLD_MS=150
zh_setup
zh_start_receiver
ZH_DLV_ENV="ZHOOK_CONCURRENCY=$CAP ZHOOK_PREFETCH=$PREFETCH"
zh_start_pipeline a
DLV_OPS=$(zh_dlv_ops a)
zh_wait_until 5000 "zh_api GET /v1/status && [ \"\$(zh_body capacity)\" = $LEASES ]" ||
    zh_fail "GET /v1/status does not show capacity $LEASES: status $ZH_STATUS $(zh_resp)"

items=""
i=0
while [ $i -lt $N ]; do
    items="$items${items:+,}{\"url\":\"$ZH_RCV/held?delay_ms=$HOLD_MS\",\"payload\":{\"i\":$i}}"
    i=$((i + 1))
done
T0=$(zh_now_ms)
zh_api POST /v1/messages/batch "{\"messages\":[$items]}"
zh_assert_eq "$ZH_STATUS" 202 "batch of $N immediate messages ($(zh_resp))"
zh_assert_eq "$(zh_body items.#)" "$N" "items in the batch answer"

# poll_once: one sample of the three in-flight views; records the maxima;
# true once the receiver has answered all N.
MAX_STATUS=0
MAX_SCH=0
MAX_DLV=0
MAX_QUEUED=0
POLLS=0
poll_once () {
    POLLS=$((POLLS + 1))
    zh_api GET /v1/status
    [ "$ZH_STATUS" = 200 ] || zh_fail "GET /v1/status: $ZH_STATUS $(zh_resp)"
    _p=$(zh_body in_flight)
    zh_assert_match "$_p" '^[0-9]+$' "in_flight of GET /v1/status"
    [ "$_p" -le "$MAX_STATUS" ] || MAX_STATUS=$_p
    _p=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_in_flight) ||
        zh_fail "scheduler /metrics lacks zhook_scheduler_in_flight"
    [ "$_p" -le "$MAX_SCH" ] || MAX_SCH=$_p
    _p=$(zh_metric "$DLV_OPS" zhook_deliverer_in_flight) ||
        zh_fail "deliverer /metrics lacks zhook_deliverer_in_flight"
    [ "$_p" -le "$MAX_DLV" ] || MAX_DLV=$_p
    _p=$(zh_metric "$DLV_OPS" zhook_deliverer_queued) ||
        zh_fail "deliverer /metrics lacks zhook_deliverer_queued"
    [ "$_p" -le "$MAX_QUEUED" ] || MAX_QUEUED=$_p
    [ "$(zh_rcv_path_count /held)" -ge "$N" ]
}
# N / CAP rounds of HOLD_MS: about 3.75 s; deadline with room to spare
zh_wait_until 20000 poll_once || zh_fail "receiver answered $(zh_rcv_path_count /held) of $N"
T1=$(zh_now_ms)
zh_log "$N messages drained in $((T1 - T0)) ms; $POLLS polls; max in_flight: /v1/status $MAX_STATUS," \
    "zhook_scheduler_in_flight $MAX_SCH, zhook_deliverer_in_flight $MAX_DLV, queued $MAX_QUEUED"
zh_assert_le "$MAX_STATUS" "$LEASES" "max in_flight in GET /v1/status"
zh_assert_le "$MAX_SCH" "$LEASES" "max zhook_scheduler_in_flight"
zh_assert_le "$MAX_DLV" "$CAP" "max zhook_deliverer_in_flight"
zh_assert_le "$MAX_QUEUED" "$PREFETCH" "max zhook_deliverer_queued"
# the prefetch was used: leases beyond the slots
zh_assert_ge "$MAX_SCH" $((CAP + 1)) "max zhook_scheduler_in_flight (prefetch used)"
# the polls saw work in flight (they can fail): at least one view at >= 2
zh_assert_ge "$((MAX_STATUS > MAX_DLV ? MAX_STATUS : MAX_DLV))" 2 "largest in_flight a poll saw"
# rounds of CAP: it cannot have been faster than N / CAP holds
zh_assert_ge "$((T1 - T0))" $((N * HOLD_MS / CAP)) "drain time of $N messages held $HOLD_MS ms each by $CAP slots"

# The receiver's view, independent of any gauge. A request is certainly
# still open at the deliverer from its arrival (t_ms) until t_ms + HOLD_MS:
# the receiver sleeps HOLD_MS before it answers, and the deliverer can free
# the slot (and the scheduler lease the next message to it) only after the
# answer. done_ms would overstate it: it is read after the answer is written,
# so the next request of that slot can already have arrived (seen here by
# 1 ms). So: the most windows [t_ms, t_ms + HOLD_MS - 1) open at once (1 ms
# spared for clock rounding; at equal times a close is counted first).
open_max () { # open_max hold|answered
    if [ "$1" = hold ]; then
        sed -n 's/.*"t_ms":\([0-9]*\).*/\1/p' "$ZH_RCV_LOG" |
            awk -v h=$((HOLD_MS - 1)) '{ printf "%s 1\n%.0f 0\n", $1, $1 + h }'
    else
        sed -n 's/.*"t_ms":\([0-9]*\).*"done_ms":\([0-9]*\).*/\1 1\n\2 0/p' "$ZH_RCV_LOG"
    fi | sort -n -k1,1 -k2,2 | awk '$2 == 1 { o++; if (o > m) m = o; next } { o-- } END { print m + 0 }'
}
MAX_OPEN=$(open_max hold)
zh_log "receiver: at most $MAX_OPEN requests certainly open at once ($(open_max answered) counting up to done_ms)"
zh_assert_le "$MAX_OPEN" "$CAP" "requests open at once at the receiver"
zh_assert_eq "$MAX_OPEN" "$CAP" "requests open at once at the receiver (all $CAP slots used)"

# all delivered, each exactly once
zh_assert_eq "$(zh_rcv_path_ids /held | uniq | wc -l | tr -d ' ')" "$N" "distinct messages at the receiver"
zh_assert_eq "$(zh_rcv_path_count /held)" "$N" "requests at the receiver"
zh_wait_until 5000 "zh_api GET /v1/status && [ \"\$(zh_body delivered)\" = $N ]" ||
    zh_fail "GET /v1/status does not count $N delivered: $(zh_resp)"
zh_assert_eq "$(zh_body in_flight)" 0 "in_flight at the end"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_delivered_total)" "$N" "zhook_scheduler_delivered_total"
zh_pass "attempts never above ZHOOK_CONCURRENCY=$CAP (deliverer $MAX_DLV, receiver $MAX_OPEN), leases never above $LEASES (status $MAX_STATUS, scheduler $MAX_SCH), queued $MAX_QUEUED; all $N delivered once in $((T1 - T0)) ms"
