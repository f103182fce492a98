#!/bin/sh
# t_fairness.sh — one receiver that never answers does not stop deliveries to
# a healthy host (issue 3, acceptance 5).
#
# A slow receiver (its own port: a distinct origin) holds every request
# longer than the attempt timeout; a healthy receiver answers at once. One
# deliverer with 8 slots, at most 2 attempts per destination, circuits that
# open after 3 failures for 3 s. 40 messages go to the slow host, then 40 to
# the healthy host due over the next seconds. Shown: every healthy message
# arrives within LATE_MAX of its due time while the slow host is saturated;
# the slow host's circuit opens (metric, and a log line naming only its
# origin); its messages are deferred, not failed: each has spent few
# attempts and none is dead.
. "$(dirname "$0")/lib.sh"

N_SLOW=40
N_FAST=40
LATE_MAX=${ZH_FAIR_LATE_MAX_MS:-$((500 * ZH_SCALE))}

zh_setup
zh_start_receiver # the healthy host: $ZH_RCV, $ZH_RCV_LOG

# The slow host: a second receiver on its own port.
SLOW_LOG=$ZH_TMP/slow.jsonl
: >"$SLOW_LOG"
"$ZH_BIN/zh_receiver" "$SLOW_LOG" "$ZH_TMP/slow.port" 0 64 >>"$ZH_TMP/slow_receiver.log" 2>&1 &
zh_register slow_receiver $!
zh_wait_until 5000 "[ -s '$ZH_TMP/slow.port' ]" || zh_fail "slow receiver did not start"
SLOW_PORT=$(cat "$ZH_TMP/slow.port")
SLOW=http://127.0.0.1:$SLOW_PORT

ZH_DLV_ENV="ZHOOK_CONCURRENCY=8 ZHOOK_HOST_CONCURRENCY=2 ZHOOK_CIRCUIT_FAILURES=3 \
ZHOOK_CIRCUIT_COOLDOWN_MS=3000 $ZH_DLV_ENV"
zh_start_pipeline a
DLV_OPS=$(zh_dlv_ops a)

# --- saturate the slow host ------------------------------------------------------
# The receiver holds each request 4 s; the attempt timeout is 2 s.
items=""
i=0
while [ $i -lt $N_SLOW ]; do
    items="$items${items:+,}{\"url\":\"$SLOW/slow?delay_ms=4000&token=t$i\",\"payload\":{\"i\":$i},\"timeout_ms\":2000}"
    i=$((i + 1))
done
zh_api POST /v1/messages/batch "{\"messages\":[$items]}"
zh_assert_eq "$ZH_STATUS" 202 "batch of $N_SLOW slow-host messages ($(zh_resp))"
: >"$ZH_TMP/slow.ids"
i=0
while [ $i -lt $N_SLOW ]; do
    zh_body "items.$i.id" >>"$ZH_TMP/slow.ids"
    i=$((i + 1))
done
zh_assert_eq "$(grep -c '^msg_' "$ZH_TMP/slow.ids")" "$N_SLOW" "slow-host message ids"
zh_wait_until 3000 "[ \$(wc -l <'$SLOW_LOG.arrivals') -ge 2 ]" ||
    zh_fail "the slow host never received a request"
zh_log "slow host saturated: $(wc -l <"$SLOW_LOG.arrivals") request(s) held so far"

# --- the healthy host, due over the next 4 s ----------------------------------------
items=""
i=0
while [ $i -lt $N_FAST ]; do
    items="$items${items:+,}{\"url\":\"$ZH_RCV/fast\",\"payload\":{\"i\":$i},\"delay_ms\":$((500 + i * 100))}"
    i=$((i + 1))
done
zh_api POST /v1/messages/batch "{\"messages\":[$items]}"
zh_assert_eq "$ZH_STATUS" 202 "batch of $N_FAST healthy-host messages ($(zh_resp))"
: >"$ZH_TMP/fast.due"
i=0
while [ $i -lt $N_FAST ]; do
    id=$(zh_body "items.$i.id")
    due=$(zh_rfc3339_ms "$(zh_body "items.$i.deliver_at")")
    [ -n "$id" ] && [ -n "$due" ] || zh_fail "batch item $i without id or deliver_at: $(zh_resp)"
    echo "$id $due" >>"$ZH_TMP/fast.due"
    i=$((i + 1))
done

fast_delivered () {
    zh_rcv_ids | uniq | wc -l
}
zh_wait_until 15000 "[ \$(fast_delivered) -ge $N_FAST ]" ||
    zh_fail "only $(fast_delivered) of $N_FAST healthy-host messages arrived"

# Lateness of each healthy message: first arrival minus its due time.
MAX_LATE=-1000000
while read -r id due; do
    t=$(zh_rcv_field "$id" 1 t_ms)
    [ -n "$t" ] || zh_fail "no arrival recorded for $id"
    late=$((t - due))
    [ "$late" -ge -5 ] || zh_fail "$id arrived $((-late)) ms before its due time"
    [ "$late" -gt "$MAX_LATE" ] && MAX_LATE=$late
done <"$ZH_TMP/fast.due"
zh_log "healthy host: $N_FAST delivered, max lateness $MAX_LATE ms (limit $LATE_MAX ms)"
zh_assert_le "$MAX_LATE" "$LATE_MAX" "max lateness of healthy-host deliveries (ms)"
HELD=$(wc -l <"$SLOW_LOG.arrivals")
zh_pass "healthy host on time (max lateness $MAX_LATE ms) while the slow host held $HELD request(s)"

# --- the slow host's circuit opened ----------------------------------------------------
zh_wait_until 10000 "[ \"\$(zh_metric $DLV_OPS zhook_deliverer_open_circuits)\" -ge 1 ]" ||
    zh_fail "zhook_deliverer_open_circuits never reached 1"
grep '"circuit opened' "$ZH_TMP/deliverer_a.log" | head -1 >"$ZH_TMP/opened.line"
zh_assert_match "$(cat "$ZH_TMP/opened.line")" "\"destination\":\"http://127.0.0.1:$SLOW_PORT\"" \
    "circuit-opened log line names the origin"
if grep -q 'token=\|/slow' "$ZH_TMP/opened.line"; then
    zh_fail "circuit log line leaks path or query: $(cat "$ZH_TMP/opened.line")"
fi
if grep '"circuit' "$ZH_TMP/deliverer_a.log" | grep -q "127.0.0.1:$(cat "$ZH_TMP/receiver.port")"; then
    zh_fail "the healthy host's circuit changed"
fi
BUSY=$(curl -s --max-time 2 "$DLV_OPS/metrics" |
    awk '$1 == "zhook_deliverer_deferred_total{reason=\"host_busy\"}" { print $2 }')
OPEN=$(curl -s --max-time 2 "$DLV_OPS/metrics" |
    awk '$1 == "zhook_deliverer_deferred_total{reason=\"circuit_open\"}" { print $2 }')
SCH_DEFERRED=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_deferred_total)
zh_log "deferred: host_busy $BUSY, circuit_open $OPEN (deliverer); $SCH_DEFERRED (scheduler)"
zh_assert_ge "$BUSY" 1 "deferrals for a busy host"
zh_assert_ge "$OPEN" 1 "deferrals for an open circuit"
zh_assert_ge "$SCH_DEFERRED" "$N_SLOW" "deferrals (each slow-host message held back at least once)"
zh_pass "slow host's circuit opened (open_circuits >= 1, logged by origin only)"

# --- the slow host's messages did not burn attempts ----------------------------------------
# Real attempts to the slow host happen at most 2 at a time, 2 s each, and
# none while its circuit is open: a handful in all, spread over 40 messages.
TOTAL=0
MAX=0
while read -r id; do
    zh_api GET "/v1/messages/$id"
    zh_assert_eq "$ZH_STATUS" 200 "GET $id"
    st=$(zh_body status)
    n=$(zh_body attempts.#)
    case "$st" in
        scheduled | retrying | in_flight) ;;
        *) zh_fail "slow-host message $id is $st (attempts $n): $(zh_resp)" ;;
    esac
    TOTAL=$((TOTAL + n))
    [ "$n" -gt "$MAX" ] && MAX=$n
done <"$ZH_TMP/slow.ids"
ARRIVED=$(wc -l <"$SLOW_LOG.arrivals")
zh_log "slow host: $TOTAL attempt(s) recorded over $N_SLOW messages (max $MAX per message), $ARRIVED request(s) reached it"
zh_assert_le "$MAX" 3 "attempts of any one slow-host message (max_attempts 5)"
zh_assert_le "$TOTAL" 12 "attempts of all slow-host messages together"
zh_assert_le "$ARRIVED" "$((TOTAL + 2))" "requests that reached the slow host"
zh_pass "slow-host messages deferred, not failed: $TOTAL attempts over $N_SLOW messages, none dead"
