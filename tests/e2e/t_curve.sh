#!/bin/sh
# t_curve.sh — the internal ZeroMQ sockets are authenticated (CURVE + zauth):
# only peers whose public certificate is in the scheduler's allowlist get in.
#
#  1. An honest pipeline (allowlisted ingress and deliverer) delivers.
#  2. An ingress with a key NOT in the allowlist: /ready stays 503, a POST
#     gets 503, nothing reaches the store (GET /v1/status counts unchanged)
#     and the ingress says once why (refused CURVE key).
#  3. A deliverer with an unknown key: never ready, gets no dispatch (a due
#     message waits while it runs, then the honest one delivers it).
#  4. Forged frames on the results socket (a 410 result for an in-flight
#     message, a heartbeat, a garbage frame) from a peer with no key and with
#     a random key: the scheduler's stale/malformed counters and deliverer
#     gauge do not move, the message stays in flight. The same forged frames
#     from the allowlisted deliverer key DO arrive (positive control).
#  5. A submit from a peer with no key (plain PUSH) and with a random key never
#     reaches the store; the same frame with the allowlisted ingress key does.
#  6. A stage with CURVE on and a missing key file exits 2 naming the variable.
#  7. The allowlist directory is re-read: a key added is admitted, removed refused.
. "$(dirname "$0")/lib.sh"

zh_setup
[ "$ZH_CURVE" != off ] || zh_fail "t_curve needs ZH_CURVE on"
[ -x "$ZH_BIN/zh_zmqpeer" ] || zh_fail "$ZH_BIN/zh_zmqpeer not built"
PEER=$ZH_BIN/zh_zmqpeer
SUBMIT_EP=tcp://127.0.0.1:$ZH_SUBMIT_PORT
RESULTS_EP=tcp://127.0.0.1:$ZH_RESULTS_PORT
WAIT=$(zh_scaled 1500)

# A pair the scheduler has never heard of.
"$ZH_BIN/zhook-keygen" "$ZH_TMP/rogue" zhook-rogue >/dev/null || zh_fail "zhook-keygen"
ROGUE_ENV="ZHOOK_CURVE_SECRET_FILE=$ZH_TMP/rogue_secret"

# --- 6. configuration errors: exit 2, one line naming the variable -----------
ZHOOK_CURVE=on ZHOOK_DATA_DIR="$ZH_TMP/cfg" ZHOOK_CURVE_SECRET_FILE="$ZH_KEYS/scheduler_secret" \
    "$ZH_BIN/zhook-scheduler" >"$ZH_TMP/cfg1.out" 2>&1
zh_assert_eq "$?" 2 "scheduler without ZHOOK_CURVE_CLIENTS_DIR: exit status"
grep -q '"variable":"ZHOOK_CURVE_CLIENTS_DIR"' "$ZH_TMP/cfg1.out" ||
    zh_fail "no line naming ZHOOK_CURVE_CLIENTS_DIR: $(cat "$ZH_TMP/cfg1.out")"
ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE="$ZH_TMP/missing_secret" \
    ZHOOK_CURVE_SERVER_FILE="$ZH_KEYS/scheduler" ZHOOK_OPS_LISTEN=127.0.0.1:0 \
    "$ZH_BIN/zhook-deliverer" >"$ZH_TMP/cfg2.out" 2>&1
zh_assert_eq "$?" 2 "deliverer with a missing secret file: exit status"
grep -q '"variable":"ZHOOK_CURVE_SECRET_FILE"' "$ZH_TMP/cfg2.out" ||
    zh_fail "no line naming ZHOOK_CURVE_SECRET_FILE: $(cat "$ZH_TMP/cfg2.out")"
ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE="$ZH_KEYS/ingress_secret" ZHOOK_AUTH=off \
    "$ZH_BIN/zhook-ingress" >"$ZH_TMP/cfg3.out" 2>&1
zh_assert_eq "$?" 2 "ingress without ZHOOK_CURVE_SERVER_FILE: exit status"
grep -q '"variable":"ZHOOK_CURVE_SERVER_FILE"' "$ZH_TMP/cfg3.out" ||
    zh_fail "no line naming ZHOOK_CURVE_SERVER_FILE: $(cat "$ZH_TMP/cfg3.out")"
zh_pass "CURVE on with a key file missing: exit 2 naming the variable"

# --- 1. the honest pipeline ----------------------------------------------------
zh_start_receiver
zh_start_pipeline a
zh_submit "{\"url\":\"$ZH_RCV/honest\",\"payload\":{\"k\":1}}"
zh_wait_status "$ZH_ID" delivered 5000
zh_pass "allowlisted ingress and deliverer: submitted and delivered over CURVE"

status_counts () {
    zh_api GET /v1/status
    [ "$ZH_STATUS" = 200 ] || zh_fail "GET /v1/status: $ZH_STATUS $(zh_resp)"
    echo "$(zh_body scheduled)/$(zh_body retrying)/$(zh_body in_flight)/$(zh_body delivered)/$(zh_body dead)"
}
COUNTS0=$(status_counts)

# --- 2. an ingress whose key is not allowlisted -------------------------------
ROGUE_ING_PORT=$(zh_free_ports 1) || zh_fail "zh_free_ports"
# shellcheck disable=SC2086
env ZHOOK_LISTEN="127.0.0.1:$ROGUE_ING_PORT" \
    ZHOOK_SUBMIT_ENDPOINT="$SUBMIT_EP" \
    ZHOOK_PUBLISH_ENDPOINT="tcp://127.0.0.1:$ZH_PUBLISH_PORT" \
    ZHOOK_AUTH=off ZHOOK_ALLOW_PRIVATE_TARGETS=1 ZHOOK_REQUEST_TIMEOUT_MS=1000 \
    ZHOOK_HTTP_THREADS=4 ZHOOK_INSTANCE_ID=ing-rogue \
    $(zh_curve_env ingress) $ROGUE_ENV \
    "$ZH_BIN/zhook-ingress" >>"$ZH_TMP/ingress_rogue.log" 2>&1 &
zh_register ingress_rogue $!
ROGUE_API=http://127.0.0.1:$ROGUE_ING_PORT
zh_wait_http "$ROGUE_API/live" 200 5000 || zh_fail "rogue ingress did not start"
zh_wait_until 5000 "grep -q 'refused this ingress' '$ZH_TMP/ingress_rogue.log'" ||
    zh_fail "the rogue ingress never logged its refused key"
zh_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$ROGUE_API/ready")" 503 "rogue ingress /ready"
for i in 1 2 3; do
    code=$(curl -s -o "$ZH_TMP/rogue.body" -w '%{http_code}' --max-time $((10 * ZH_SCALE)) \
        -H 'Content-Type: application/json' \
        --data-binary "{\"url\":\"$ZH_RCV/rogue-ingress\",\"payload\":{\"i\":$i}}" \
        "$ROGUE_API/v1/messages")
    zh_assert_eq "$code" 503 "POST through the rogue ingress ($i)"
done
zh_assert_eq "$(status_counts)" "$COUNTS0" "status counts after the rogue ingress's POSTs"
zh_assert_eq "$(zh_rcv_path_count /rogue-ingress)" 0 "deliveries from the rogue ingress"
zh_assert_eq "$(grep -c 'refused this ingress' "$ZH_TMP/ingress_rogue.log")" 1 \
    "refused-key lines in the rogue ingress's log (once, not per reconnect)"
zh_stop ingress_rogue 5000
zh_pass "ingress with an unknown key: /ready 503, POST 503, nothing stored"

# --- 3. a deliverer with an unknown key gets no dispatch -----------------------
zh_stop deliverer_a 5000
ZH_DLV_ENV=$ROGUE_ENV zh_start_deliverer r
zh_wait_until 5000 "grep -q 'refused this deliverer' '$ZH_TMP/deliverer_r.log'" ||
    zh_fail "the rogue deliverer never logged its refused key"
zh_submit "{\"url\":\"$ZH_RCV/held?delay_ms=4000\",\"payload\":{\"k\":\"held\"},\"timeout_ms\":15000}"
HELD_ID=$ZH_ID
# due now, but the only running deliverer is not allowlisted
zh_wait_until "$WAIT" "false"
zh_assert_eq "$(zh_msg_status "$HELD_ID")" scheduled "status while only the rogue deliverer runs"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_deliverers)" 0 "live deliverers (rogue only)"
zh_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$(zh_dlv_ops r)/ready")" 503 "rogue deliverer /ready"
zh_assert_eq "$(zh_rcv_arrived "$HELD_ID")" 0 "deliveries by the rogue deliverer"
zh_stop deliverer_r 5000
zh_pass "deliverer with an unknown key: not ready, no dispatch"

# the honest deliverer picks it up; the receiver holds it 4 s: in flight, attempt 1
zh_start_deliverer a
zh_wait_deliverer a
zh_wait_status "$HELD_ID" in_flight 5000

# --- 4. forged results and heartbeats ------------------------------------------
STALE0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_results_total)
BAD0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_malformed_frames_total)
for keys in none random; do
    case $keys in
        none) set -- ;;
        random) set -- --random-key --server "$ZH_KEYS/scheduler" ;;
    esac
    out=$("$PEER" "$RESULTS_EP" result "$HELD_ID" 1 410 --wait-ms "$WAIT" "$@")
    zh_assert_match "$out" '"handshake":"(refused|protocol)"' "forged result handshake ($keys key)"
    "$PEER" "$RESULTS_EP" heartbeat dlv-forged 1000 --wait-ms "$WAIT" "$@" >/dev/null
    "$PEER" "$RESULTS_EP" garbage --wait-ms "$WAIT" "$@" >/dev/null
done
zh_assert_eq "$(zh_msg_status "$HELD_ID")" in_flight "status after forged 410 results"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_results_total)" "$STALE0" \
    "stale results after the forgeries"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_malformed_frames_total)" "$BAD0" \
    "malformed frames after the forged garbage"
# the gauge follows joins on the scheduler's next status tick: wait for it
# to show the honest deliverer, then it must show that one alone
zh_wait_until 3000 "[ \"\$(zh_metric '$ZH_SCH_OPS' zhook_scheduler_deliverers)\" -ge 1 ]" ||
    zh_fail "the deliverers gauge never counted the honest deliverer"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_deliverers)" 1 \
    "live deliverers (the forged heartbeat is not counted)"
zh_wait_status "$HELD_ID" delivered 8000
zh_assert_eq "$(zh_rcv_count "$HELD_ID")" 1 "deliveries of the held message"
zh_pass "forged results/heartbeats without an allowlisted key: never arrived"

# positive control: the same tool with the allowlisted deliverer key gets in
out=$("$PEER" "$RESULTS_EP" result "$HELD_ID" 1 410 --wait-ms "$WAIT" \
    --secret "$ZH_KEYS/deliverer_secret" --server "$ZH_KEYS/scheduler")
zh_assert_match "$out" '"handshake":"ok"' "allowlisted peer handshake"
"$PEER" "$RESULTS_EP" garbage --wait-ms "$WAIT" \
    --secret "$ZH_KEYS/deliverer_secret" --server "$ZH_KEYS/scheduler" >/dev/null
zh_wait_until 3000 "[ \"\$(zh_metric '$ZH_SCH_OPS' zhook_scheduler_stale_results_total)\" = $((STALE0 + 1)) ]" ||
    zh_fail "the allowlisted peer's result did not arrive (stale count)"
zh_wait_until 3000 "[ \"\$(zh_metric '$ZH_SCH_OPS' zhook_scheduler_malformed_frames_total)\" = $((BAD0 + 1)) ]" ||
    zh_fail "the allowlisted peer's garbage frame did not arrive (malformed count)"
zh_assert_eq "$(zh_msg_status "$HELD_ID")" delivered "a stale result does not change an ended message"
zh_pass "control: the same frames with the allowlisted key arrive (stale +1, malformed +1)"

# --- 5. forged submissions -------------------------------------------------------
COUNTS1=$(status_counts)
for keys in none random; do
    case $keys in
        none) set -- ;;
        random) set -- --random-key --server "$ZH_KEYS/scheduler" ;;
    esac
    case $keys in
        none) FORGED=msg_01J00000000000000000000000 ;;
        random) FORGED=msg_01J00000000000000000000001 ;;
    esac
    out=$("$PEER" "$SUBMIT_EP" submit "$FORGED" "$ZH_RCV/forged" --wait-ms "$WAIT" "$@")
    zh_assert_match "$out" '"handshake":"(refused|protocol)"' "forged submit handshake ($keys key)"
    zh_api GET "/v1/messages/$FORGED"
    zh_assert_eq "$ZH_STATUS" 404 "GET of the message a keyless peer submitted ($keys key)"
done
zh_assert_eq "$(status_counts)" "$COUNTS1" "status counts after the forged submissions"
# positive control: the same frame with the allowlisted ingress key is stored
GOOD=msg_01J00000000000000000000002
out=$("$PEER" "$SUBMIT_EP" submit "$GOOD" "$ZH_RCV/forged" --wait-ms "$WAIT" \
    --secret "$ZH_KEYS/ingress_secret" --server "$ZH_KEYS/scheduler")
zh_assert_match "$out" '"handshake":"ok"' "allowlisted submit handshake"
zh_wait_until 3000 "zh_api GET /v1/messages/$GOOD; [ \"\$ZH_STATUS\" = 200 ]" ||
    zh_fail "the allowlisted peer's submission was not stored ($ZH_STATUS $(zh_resp))"
zh_assert_eq "$(zh_body status)" scheduled "status of the allowlisted peer's submission"
zh_pass "submit from a peer without an allowlisted key never reaches the store; with it, it does"

# --- 7. the allowlist is a directory the scheduler re-reads: add, then revoke ---
cp "$ZH_TMP/rogue" "$ZH_KEYS/clients/rogue"
out=$("$PEER" "$RESULTS_EP" heartbeat dlv-rogue 0 --wait-ms "$WAIT" \
    --secret "$ZH_TMP/rogue_secret" --server "$ZH_KEYS/scheduler")
zh_assert_match "$out" '"handshake":"ok"' "handshake of a key added to the allowlist at run time"
rm -f "$ZH_KEYS/clients/rogue"
out=$("$PEER" "$RESULTS_EP" heartbeat dlv-rogue 0 --wait-ms "$WAIT" \
    --secret "$ZH_TMP/rogue_secret" --server "$ZH_KEYS/scheduler")
zh_assert_match "$out" '"handshake":"refused"' "handshake of a key removed from the allowlist"
zh_pass "allowlist changes apply without a restart (added key admitted, removed key refused)"

grep -q '"level":"error"' "$ZH_TMP/scheduler.log" &&
    zh_fail "scheduler logged errors: $(grep '"level":"error"' "$ZH_TMP/scheduler.log" | head -3)"
zh_pass "CURVE: unknown keys refused on every socket, allowlisted keys work"
