#!/bin/sh
# t_shutdown.sh — SIGTERM stops every stage with exit status 0 within a
# bound; a deliverer finishes and reports its in-flight attempts within its
# grace period; nothing accepted is lost across a clean restart.
. "$(dirname "$0")/lib.sh"

zh_setup
zh_start_receiver
# the hold, the grace and the stop bound scale with slow builds (ZH_SCALE):
# the test's own tools run in the sanitizer build too and take their time
HOLD_MS=$((1500 * ZH_SCALE))
ZH_DLV_ENV="ZHOOK_SHUTDOWN_GRACE_MS=$((3000 * ZH_SCALE))"
zh_start_pipeline a
STOP_MAX=${ZH_STOP_MAX_MS:-$((5000 * ZH_SCALE))}

# Five immediate messages whose first request the receiver holds for HOLD_MS
# (in flight when the deliverer is told to stop), submitted in one batch so
# that all five start together however slow the build, and twenty due in 3 s
# (pending across the restart).
zh_api POST /v1/messages/batch "{\"messages\":[$(i=0; while [ $i -lt 5 ]; do
    [ $i -gt 0 ] && printf ,
    printf '{"url":"%s/inflight?delay_ms=%d&delay_n=1","payload":{"i":%d},"timeout_ms":%d}' \
        "$ZH_RCV" "$HOLD_MS" $i $((HOLD_MS + 2000))
    i=$((i + 1))
done)]}"
zh_assert_eq "$ZH_STATUS" 202 "batch of the in-flight messages"
INFLIGHT=""
i=0
while [ $i -lt 5 ]; do
    zh_assert_eq "$(zh_body items.$i.status)" scheduled "batch item $i"
    INFLIGHT="$INFLIGHT $(zh_body items.$i.id)"
    i=$((i + 1))
done
PENDING=""
i=0
while [ $i -lt 20 ]; do
    zh_submit "{\"url\":\"$ZH_RCV/pending\",\"payload\":{\"i\":$i},\"delay_ms\":3000}"
    PENDING="$PENDING $ZH_ID:$(zh_rfc3339_ms "$ZH_DUE")"
    i=$((i + 1))
done

all_arrived () {
    for _id in $1; do
        [ "$(zh_rcv_count "${_id%%:*}")" -ge 1 ] || return 1
    done
    return 0
}
inflight_arrived () {
    for _id in $INFLIGHT; do
        [ "$(zh_rcv_arrived "$_id")" -ge 1 ] || return 1
    done
    return 0
}
zh_wait_until 5000 inflight_arrived || zh_fail "in-flight attempts did not reach the receiver"

T_TERM=$(zh_now_ms)
zh_stop deliverer_a "$STOP_MAX"
zh_log "deliverer SIGTERM with 5 attempts in flight: exit $ZH_RC after $ZH_STOP_MS ms"
zh_assert_eq "$ZH_RC" 0 "deliverer exit status on SIGTERM"
# Its in-flight attempts completed (the receiver answered them after the
# SIGTERM) and were reported before it exited.
for id in $INFLIGHT; do
    done_ms=$(zh_rcv_field "$id" 1 done_ms)
    [ -n "$done_ms" ] || zh_fail "the receiver never answered the in-flight request of $id"
    zh_assert_ge "$done_ms" "$T_TERM" "answer time of $id (was it in flight at the SIGTERM?)"
    zh_wait_status "$id" delivered 3000
    zh_assert_eq "$(zh_body attempts.#)" 1 "attempts of $id (finished during the grace period)"
done
zh_pass "deliverer finished and reported in-flight attempts, exit 0"

zh_stop ingress "$STOP_MAX"
zh_log "ingress SIGTERM: exit $ZH_RC after $ZH_STOP_MS ms"
zh_assert_eq "$ZH_RC" 0 "ingress exit status on SIGTERM"
zh_stop scheduler "$STOP_MAX"
zh_log "scheduler SIGTERM: exit $ZH_RC after $ZH_STOP_MS ms"
zh_assert_eq "$ZH_RC" 0 "scheduler exit status on SIGTERM"
RECEIVED_BEFORE=$(zh_rcv_ids | wc -l)
zh_pass "ingress and scheduler exit 0 on SIGTERM"

# Clean restart on the same data dir: the pending messages are delivered at
# their due time, never early, and the delivered ones are not sent again.
zh_start_pipeline a
zh_wait_until 10000 "all_arrived '$PENDING'" || zh_fail "pending messages lost across a clean restart"
for pair in $PENDING; do
    id=${pair%%:*}
    due=${pair#*:}
    t=$(zh_rcv_field "$id" 1 t_ms)
    zh_assert_ge "$((t - due))" 0 "arrival minus due of $id after the restart"
    zh_wait_status "$id" delivered 3000
done
for id in $INFLIGHT; do
    zh_assert_eq "$(zh_rcv_count "$id")" 1 "requests for $id (already delivered before the restart)"
done
zh_log "receiver had $RECEIVED_BEFORE requests before the restart, $(zh_rcv_ids | wc -l) after"

zh_stop deliverer_a "$STOP_MAX"
zh_assert_eq "$ZH_RC" 0 "deliverer exit status on SIGTERM (idle)"
zh_stop ingress "$STOP_MAX"
zh_assert_eq "$ZH_RC" 0 "ingress exit status on SIGTERM (second run)"
zh_stop scheduler "$STOP_MAX"
zh_assert_eq "$ZH_RC" 0 "scheduler exit status on SIGTERM (second run)"
zh_stop receiver 5000
zh_assert_eq "$ZH_RC" 0 "receiver exit status on SIGTERM"
zh_pass "nothing lost across a clean restart; every stage exits 0 on SIGTERM"
