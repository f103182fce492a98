#!/bin/sh
# t_shutdown_load.sh — graceful shutdown under load (issue 6, acceptance 3).
# Four clients submit 1,500 messages with delays spread over 0..2 s (zh_load
# retries 503s and refused connections with the same Idempotency-Key until
# its deadline) while the receiver holds every request 100 ms, so attempts
# are always in flight. One after the other the ingress, deliverer a and the
# scheduler get SIGTERM: each must exit 0 within ZHOOK_SHUTDOWN_GRACE_MS
# (measured from the signal to the exit) and is restarted. At the end every
# message that got a 202 has reached the receiver; duplicates are printed
# (a clean stop should make few or none).
. "$(dirname "$0")/lib.sh"

N=${ZH_SHUTDOWN_LOAD_COUNT:-1500}
GRACE=${ZH_SHUTDOWN_GRACE_MS:-3000}
zh_setup
[ -x "$ZH_BIN/zh_load" ] || zh_fail "$ZH_BIN/zh_load not built"
zh_start_receiver
ZH_SCH_ENV="ZHOOK_SHUTDOWN_GRACE_MS=$GRACE"
ZH_DLV_ENV="ZHOOK_SHUTDOWN_GRACE_MS=$GRACE"
ZH_ING_ENV="ZHOOK_SHUTDOWN_GRACE_MS=$GRACE"
zh_start_pipeline a b

zh_load_start "sl?delay_ms=100" "$N" 2000 150 sl

# stop_in_grace NAME: SIGTERM under load, exit 0 within the grace (scaled
# for the sanitizer build: its exit runs the leak check).
STOPS_DURING_LOAD=0
stop_in_grace () {
    zh_alive "$ZH_LOAD_PID" && STOPS_DURING_LOAD=$((STOPS_DURING_LOAD + 1))
    _at=$(zh_load_accepted)
    zh_stop "$1" $((GRACE + 2000))
    zh_log "$1 SIGTERM at $_at accepted: exit $ZH_RC after $ZH_STOP_MS ms (grace $GRACE ms)"
    zh_assert_eq "$ZH_RC" 0 "$1 exit status on SIGTERM under load"
    zh_assert_le "$ZH_STOP_MS" "$((GRACE * ZH_SCALE))" "$1 stop time (ms) against the grace"
}

zh_load_wait_accepted $((N / 5))
stop_in_grace ingress
grep '"ingress stopped"' "$ZH_TMP/ingress.log" | tail -1
zh_start_ingress
zh_wait_ingress

zh_load_wait_accepted $((N * 2 / 5))
stop_in_grace deliverer_a
grep -E '"(stopping|grace period over: aborting attempts)"' "$ZH_TMP/deliverer_a.log" | tail -2
zh_start_deliverer a
zh_wait_deliverer a

zh_load_wait_accepted $((N * 3 / 5))
stop_in_grace scheduler
grep '"scheduler stopping: last batch' "$ZH_TMP/scheduler.log" | tail -1
zh_start_scheduler
zh_wait_scheduler

zh_wait_until 130000 "! zh_alive $ZH_LOAD_PID" || zh_fail "load client did not finish"
wait "$ZH_LOAD_PID"
LOAD_RC=$?
cat "$ZH_TMP/load.out"
head -5 "$ZH_TMP/load.err"
zh_assert_eq "$STOPS_DURING_LOAD" 3 "stops while clients were submitting (clients too fast?)"

ACCEPTED=$(zh_load_accepted)
S503=$(sed -n 's/.*s503=\([0-9]*\).*/\1/p' "$ZH_TMP/load.out")
OTHER=$(sed -n 's/.* other=\([0-9]*\).*/\1/p' "$ZH_TMP/load.out")
zh_assert_eq "$LOAD_RC" 0 "zh_load exit status (every message accepted within its deadline)"
zh_assert_eq "$ACCEPTED" "$N" "messages accepted"
zh_assert_eq "${OTHER:-0}" 0 "answers other than 202/503 (see load.err)"

cut -d' ' -f1 "$ZH_LOAD_ACC" | sort -u >"$ZH_TMP/accepted.ids"
zh_assert_eq "$(wc -l <"$ZH_TMP/accepted.ids")" "$ACCEPTED" "distinct ids among the 202s"

missing_count () {
    zh_rcv_ids | uniq | comm -23 "$ZH_TMP/accepted.ids" - >"$ZH_TMP/missing.ids"
    wc -l <"$ZH_TMP/missing.ids"
}
if ! zh_wait_until 60000 "[ \$(missing_count) -eq 0 ]"; then
    zh_log "missing ids (first 10):"
    head -10 "$ZH_TMP/missing.ids"
    zh_fail "$(missing_count) of $ACCEPTED accepted messages never reached the receiver"
fi
DUP_IDS=$(zh_rcv_ids | uniq -d | wc -l)
DELIVERIES=$(zh_rcv_ids | wc -l)
zh_log "accepted $ACCEPTED, 503s retried $S503, deliveries $DELIVERIES," \
    "duplicates: $DUP_IDS ids delivered more than once ($((DELIVERIES - ACCEPTED)) extra requests)"
for id in $(sed -n '1p;700p;1400p' "$ZH_TMP/accepted.ids"); do
    zh_wait_status "$id" delivered 10000
done
zh_pass "ingress, deliverer and scheduler each stopped under load with exit 0 within the grace; nothing accepted lost"

# The grace running out: a request waiting for a frozen scheduler is
# abandoned (503, logged), and the ingress still exits 0 within its grace.
zh_stop ingress 5000
ZH_ING_ENV="ZHOOK_SHUTDOWN_GRACE_MS=1000 ZHOOK_REQUEST_TIMEOUT_MS=$((10000 * ZH_SCALE))"
zh_start_ingress
zh_wait_ingress
kill -STOP "$(zh_pid scheduler)"
curl -sS -o /dev/null -w '%{http_code}' --max-time $((20 * ZH_SCALE)) -X POST \
    -H 'Content-Type: application/json' --data-binary "{\"url\":\"$ZH_RCV/x\",\"payload\":{}}" \
    "$ZH_API/v1/messages" >"$ZH_TMP/abandoned.status" 2>"$ZH_TMP/abandoned.err" &
CURL_PID=$!
zh_wait_until 3000 "[ \"\$(zh_metric $ZH_API zhook_ingress_requests_in_flight)\" -ge 2 ]" ||
    zh_fail "the request never reached the ingress"
zh_stop ingress 3000
kill -CONT "$(zh_pid scheduler)"
wait "$CURL_PID"
zh_log "ingress SIGTERM with a request waiting on a frozen scheduler: exit $ZH_RC after $ZH_STOP_MS ms (grace 1000 ms)"
zh_assert_eq "$ZH_RC" 0 "ingress exit status when the grace runs out"
zh_assert_le "$ZH_STOP_MS" "$((1000 * ZH_SCALE + 300))" "ingress stop time (ms) with a 1000 ms grace"
zh_assert_eq "$(cat "$ZH_TMP/abandoned.status")" 503 "status of the abandoned request"
grep -q '"abandoned":1' "$ZH_TMP/ingress.log" || zh_fail "no log line counts the abandoned request"
zh_pass "an ingress whose grace runs out answers 503 to what it abandons, logs it and exits 0 in time"
