#!/bin/sh
# t_observe.sh — operability: metrics of every stage under load, one request
# followed through the logs of all stages, W3C trace context to the receiver.
#
# 1. Load (zh_load, N messages, two deliverers, 10% of attempts fail): all
#    three stages are scraped while it runs and every family issue 6 names
#    is there; at the end the counts agree (scheduler delivered = messages
#    the receiver answered 2xx = N; deliverers' success attempts = 2xx
#    requests; all attempts = requests; histogram _count = their counters)
#    and the submissions were group-committed (mean commit batch size > 1).
# 2. One request with X-Request-Id and traceparent: the request id is in the
#    ingress access line, the scheduler's accept line and every deliverer
#    attempt line; every log line of every stage is a JSON object; the API
#    key, the message secret, the payload and the signatures sent appear in
#    no log line.
# 3. The receiver saw the producer's trace id with a new span id on each
#    attempt, and the logs carry the trace id and those span ids.
. "$(dirname "$0")/lib.sh"

N=${ZH_OBSERVE_N:-2000}
API_KEY="zhk_observe_$(date +%s%N)_key"
SECRET="whsec_b2JzZXJ2ZS1zZWNyZXQtb2JzZXJ2ZS1zZWNyZXQ="
SECRET_B64=${SECRET#whsec_}
TRACE_ID=4bf92f3577b34da6a3ce929d0e0e4736
PARENT_SPAN=00f067aa0ba902b7
TRACEPARENT="00-$TRACE_ID-$PARENT_SPAN-01"
RID="obs-req-$(date +%s%N)"
MARKER="obs-payload-marker-$(date +%s%N)"

zh_setup
[ -x "$ZH_BIN/zh_load" ] || zh_fail "$ZH_BIN/zh_load not built"
ZH_RECEIVER_SAVE_DIR=$ZH_TMP/saved
mkdir -p "$ZH_RECEIVER_SAVE_DIR"
export ZH_RECEIVER_SAVE_DIR
zh_start_receiver
zh_api_keys "$ZH_TMP/keys.txt" "acme=$API_KEY"
ZH_ING_ENV="ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$ZH_TMP/keys.txt"
ZH_DLV_ENV="ZHOOK_CONCURRENCY=16"
# 10% of attempts fail at random: with lib.sh's 5 attempts one message in
# 100,000 would go dead (2% of runs at N=2000); 12 attempts make it 1e-12
# per message, and backoff (50 ms doubling, 2 s cap) keeps that under 20 s
ZH_SCH_ENV="ZHOOK_MAX_ATTEMPTS=12"
zh_start_pipeline a b
ZH_API_KEY=$API_KEY

# --- 1. metrics under load ------------------------------------------------------

ZH_LOAD_API_KEY=$API_KEY "$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/load?fail_pct=10&seed=7" 8 "$N" \
    "$ZH_TMP/accepted.txt" --deadline-ms "$((60000 * ZH_SCALE))" --key-prefix obs \
    >"$ZH_TMP/load.out" 2>&1 &
LOAD_PID=$!
zh_register load $LOAD_PID

scrape () { # scrape URL FILE
    curl -sS --max-time 5 "$1/metrics" >"$2" || zh_fail "cannot scrape $1/metrics"
}
# has FILE FAMILY: the family has a sample (any labels, histograms by _count)
has () {
    awk -v n="$2" '$1 == n || index($1, n "{") == 1 || $1 == n "_count" ||
        index($1, n "_count{") == 1 { f = 1 } END { exit f ? 0 : 1 }' "$1"
}
# sum FILE SAMPLE [LABEL-SUBSTRING]: sum of the samples named SAMPLE
sum () {
    awk -v n="$2" -v l="${3:-}" '($1 == n || index($1, n "{") == 1) && index($1, l) > 0 {
        s += $NF } END { printf "%.0f\n", s }' "$1"
}

# scrape while the load runs (some messages accepted, not all delivered)
accepted_n () { if [ -f "$ZH_TMP/accepted.txt" ]; then wc -l <"$ZH_TMP/accepted.txt"; else echo 0; fi; }
zh_wait_until 30000 "[ \$(accepted_n) -ge $((N / 10)) ]" ||
    zh_fail "load did not start: $(cat "$ZH_TMP/load.out")"
scrape "$ZH_API" "$ZH_TMP/m_ing.txt"
scrape "$ZH_SCH_OPS" "$ZH_TMP/m_sch.txt"
scrape "$(zh_dlv_ops a)" "$ZH_TMP/m_dlv_a.txt"
scrape "$(zh_dlv_ops b)" "$ZH_TMP/m_dlv_b.txt"
for f in zhook_ingress_requests_total zhook_ingress_request_duration_seconds; do
    has "$ZH_TMP/m_ing.txt" $f || zh_fail "ingress /metrics lacks $f"
done
grep -q '^zhook_ingress_requests_total{.*route="create_message".*code="202"' "$ZH_TMP/m_ing.txt" ||
    zh_fail "no zhook_ingress_requests_total for route create_message, code 202"
for f in zhook_scheduler_messages zhook_scheduler_commits_total zhook_scheduler_commit_batch_size \
    zhook_scheduler_dispatch_lateness_seconds zhook_scheduler_lease_expiries_total \
    zhook_scheduler_stale_results_total zhook_scheduler_dead_total \
    zhook_scheduler_map_used_bytes zhook_scheduler_map_size_bytes \
    zhook_scheduler_commit_seconds zhook_scheduler_held; do
    has "$ZH_TMP/m_sch.txt" $f || zh_fail "scheduler /metrics lacks $f"
done
for st in scheduled in_flight retrying delivered dead cancelled; do
    grep -q "^zhook_scheduler_messages{state=\"$st\"}" "$ZH_TMP/m_sch.txt" ||
        zh_fail "no zhook_scheduler_messages{state=\"$st\"}"
done
for d in a b; do
    for f in zhook_deliverer_attempts_total zhook_deliverer_attempt_latency_seconds \
        zhook_deliverer_in_flight zhook_deliverer_blocked_total zhook_deliverer_open_circuits \
        zhook_deliverer_queued; do
        has "$ZH_TMP/m_dlv_$d.txt" $f || zh_fail "deliverer $d /metrics lacks $f"
    done
done
zh_assert_ge "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commits_total)" 1 "commits during load"
# "during load" must be true: the clients are still submitting after the
# four scrapes, and have not had all their 202s yet
MID_ACC=$(accepted_n)
zh_alive "$LOAD_PID" || zh_fail "the load had finished before the mid-load scrapes ended ($MID_ACC accepted)"
[ "$MID_ACC" -lt "$N" ] || zh_fail "all $N messages were accepted before the mid-load scrapes ended"
zh_log "every family present during load (scraped with $MID_ACC of $N accepted, load still running)"

wait $LOAD_PID || zh_fail "zh_load: $(cat "$ZH_TMP/load.out")"
cat "$ZH_TMP/load.out"
zh_assert_eq "$(wc -l <"$ZH_TMP/accepted.txt")" "$N" "messages accepted"

delivered () { zh_metric "$ZH_SCH_OPS" zhook_scheduler_delivered_total || echo 0; }
zh_wait_until 60000 "[ \$(delivered) -ge $N ]" ||
    zh_fail "scheduler delivered $(delivered) of $N"
# the state gauges follow the counts on the next heartbeat
zh_wait_until 5000 "curl -s '$ZH_SCH_OPS/metrics' | grep -q '^zhook_scheduler_messages{state=\"delivered\"} $N\$'" ||
    zh_fail "zhook_scheduler_messages{state=\"delivered\"} is not $N"

# the receiver writes its line after answering: let the last ones land
rcv_ok_ids () { grep '"status":200' "$ZH_RCV_LOG" | sed -n 's/.*"webhook_id":"\([^"]*\)".*/\1/p' | sort -u | wc -l; }
zh_wait_until 5000 "[ \$(rcv_ok_ids) -ge $N ]" || zh_fail "receiver answered 2xx for $(rcv_ok_ids) of $N"
scrape "$ZH_API" "$ZH_TMP/m_ing.txt"
scrape "$ZH_SCH_OPS" "$ZH_TMP/m_sch.txt"
scrape "$(zh_dlv_ops a)" "$ZH_TMP/m_dlv_a.txt"
scrape "$(zh_dlv_ops b)" "$ZH_TMP/m_dlv_b.txt"
SCH_DELIVERED=$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_delivered_total)
RCV_OK_IDS=$(rcv_ok_ids)
RCV_OK=$(grep -c '"status":200' "$ZH_RCV_LOG")
RCV_ALL=$(wc -l <"$ZH_RCV_LOG")
SUCCESS=$(($(sum "$ZH_TMP/m_dlv_a.txt" zhook_deliverer_attempts_total 'outcome="success"') +
    $(sum "$ZH_TMP/m_dlv_b.txt" zhook_deliverer_attempts_total 'outcome="success"')))
ATTEMPTS=$(($(sum "$ZH_TMP/m_dlv_a.txt" zhook_deliverer_attempts_total) +
    $(sum "$ZH_TMP/m_dlv_b.txt" zhook_deliverer_attempts_total)))
LAT_COUNT=$(($(sum "$ZH_TMP/m_dlv_a.txt" zhook_deliverer_attempt_latency_seconds_count) +
    $(sum "$ZH_TMP/m_dlv_b.txt" zhook_deliverer_attempt_latency_seconds_count)))
zh_log "scheduler delivered $SCH_DELIVERED; receiver 2xx ids $RCV_OK_IDS, 2xx $RCV_OK, all $RCV_ALL;" \
    "deliverer success $SUCCESS, attempts $ATTEMPTS, latency _count $LAT_COUNT"
zh_assert_eq "$SCH_DELIVERED" "$N" "zhook_scheduler_delivered_total"
zh_assert_eq "$RCV_OK_IDS" "$SCH_DELIVERED" "messages the receiver answered 2xx"
zh_assert_eq "$SUCCESS" "$RCV_OK" "success attempts of both deliverers vs 2xx at the receiver"
zh_assert_eq "$ATTEMPTS" "$RCV_ALL" "attempts of both deliverers vs requests at the receiver"
zh_assert_eq "$LAT_COUNT" "$ATTEMPTS" "attempt latency histogram _count"
zh_assert_ge "$((ATTEMPTS - SUCCESS))" 1 "failed attempts (fail_pct=10)"
zh_assert_eq "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_dispatch_lateness_seconds_count)" \
    "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_dispatched_total)" "dispatch lateness _count vs dispatched"
# every synced commit of a turn is timed (purges, which count only when
# they removed something, are not)
zh_assert_ge "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commit_seconds_count)" 1 "commits timed"
zh_assert_le "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commit_seconds_count)" \
    "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commits_total)" "commit time _count vs commits"
zh_assert_eq "$(sum "$ZH_TMP/m_ing.txt" zhook_ingress_request_duration_seconds_count)" \
    "$(sum "$ZH_TMP/m_ing.txt" zhook_ingress_requests_total)" "ingress duration _count vs requests"
zh_assert_ge "$(sum "$ZH_TMP/m_ing.txt" zhook_ingress_requests_total 'code="202"')" "$N" \
    "ingress 202 responses"
zh_assert_eq "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_messages 'state="scheduled"')" 0 \
    "messages still scheduled"
zh_assert_ge "$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_map_used_bytes)" 1 "LMDB map use"
# Group commit: 8 clients submit at once, so the scheduler must find several
# submissions waiting per synced transaction; one commit per submission
# (mean batch size 1) would mean it is not batching. The histogram observes
# the transactions that carry submissions only (scheduler/sch_server.c).
BATCH_SUM=$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commit_batch_size_sum)
BATCH_COUNT=$(sum "$ZH_TMP/m_sch.txt" zhook_scheduler_commit_batch_size_count)
zh_assert_ge "$BATCH_COUNT" 1 "zhook_scheduler_commit_batch_size_count"
zh_assert_ge "$BATCH_SUM" "$N" "zhook_scheduler_commit_batch_size_sum (submissions committed)"
BATCH_MEAN=$(awk -v s="$BATCH_SUM" -v c="$BATCH_COUNT" 'BEGIN { printf "%.2f", s / c }')
zh_log "group commit: $BATCH_SUM submissions in $BATCH_COUNT transactions, mean batch $BATCH_MEAN"
awk -v s="$BATCH_SUM" -v c="$BATCH_COUNT" 'BEGIN { exit s / c > 1 ? 0 : 1 }' ||
    zh_fail "commit batch size mean $BATCH_MEAN under 8 concurrent clients: submissions are not group-committed"
zh_pass "metrics of all stages agree under load ($N messages, $ATTEMPTS attempts)"

# --- 2 and 3. one request through the logs, with its trace ----------------------

BODY="{\"url\":\"$ZH_RCV/traced?fail=1&save=1\",\"payload\":{\"m\":\"$MARKER\"},\"secret\":\"$SECRET\"}"
zh_api POST /v1/messages "$BODY" -H "X-Request-Id: $RID" -H "traceparent: $TRACEPARENT"
zh_assert_eq "$ZH_STATUS" 202 "traced submission"
ID=$(zh_body id)
zh_wait_status "$ID" delivered 10000
zh_assert_eq "$(zh_rcv_count "$ID")" 2 "requests for the traced message (fail=1)"

# the deliverers log after they send the result: wait for both attempt lines
attempt_lines () { cat "$ZH_TMP"/deliverer_*.log | grep '"msg":"attempt finished"' | grep -c "\"request_id\":\"$RID\""; }
zh_wait_until 5000 "[ \$(attempt_lines) -eq 2 ]" ||
    zh_fail "deliverer attempt lines with request_id $RID: $(attempt_lines), expected 2"
grep "\"request_id\":\"$RID\"" "$ZH_TMP/ingress.log" | grep '"msg":"request"' |
    grep -q "\"trace_id\":\"$TRACE_ID\"" || zh_fail "no ingress access line with the request and trace id"
grep "\"request_id\":\"$RID\"" "$ZH_TMP/scheduler.log" | grep '"msg":"submission accepted"' |
    grep "\"id\":\"$ID\"" | grep -q "\"trace_id\":\"$TRACE_ID\"" ||
    zh_fail "no scheduler accept line with the request id, message id and trace id"
grep "\"request_id\":\"$RID\"" "$ZH_TMP/scheduler.log" | grep '"msg":"delivered"' |
    grep -q "\"trace_id\":\"$TRACE_ID\"" || zh_fail "no scheduler delivered line with the trace id"
cat "$ZH_TMP"/deliverer_*.log | grep '"msg":"attempt finished"' | grep "\"request_id\":\"$RID\"" \
    >"$ZH_TMP/attempts.log"
zh_assert_eq "$(grep -c "\"trace_id\":\"$TRACE_ID\"" "$ZH_TMP/attempts.log")" 2 \
    "attempt lines with the trace id"
zh_log "request $RID followed: ingress -> scheduler -> 2 attempt lines"

# 3. the receiver's traceparents: the producer's trace, a new span each attempt
grep "\"webhook_id\":\"$ID\"" "$ZH_RCV_LOG" |
    sed -n 's/.*"traceparent":"\([^"]*\)".*/\1/p' >"$ZH_TMP/tp.txt"
zh_assert_eq "$(wc -l <"$ZH_TMP/tp.txt")" 2 "traceparent headers at the receiver"
while read -r tp; do
    zh_assert_match "$tp" "^00-$TRACE_ID-[0-9a-f]{16}-01\$" "traceparent at the receiver"
    span=$(echo "$tp" | cut -d- -f3)
    [ "$span" != "$PARENT_SPAN" ] || zh_fail "an attempt reused the producer's span id"
    grep -q "\"span_id\":\"$span\"" "$ZH_TMP/attempts.log" ||
        zh_fail "span $span sent to the receiver is in no attempt line"
done <"$ZH_TMP/tp.txt"
zh_assert_eq "$(cut -d- -f3 "$ZH_TMP/tp.txt" | sort -u | wc -l)" 2 "distinct span ids of the attempts"
# a message submitted without traceparent still gets a trace
grep '"webhook_id":"' "$ZH_RCV_LOG" | grep '"path":"/load"' | head -1 |
    grep -Eq '"traceparent":"00-[0-9a-f]{32}-[0-9a-f]{16}-01"' ||
    zh_fail "a message submitted without traceparent was delivered without one"
zh_pass "traceparent: trace $TRACE_ID reached the receiver with a new span per attempt"

# every log line of every stage is one JSON object; nothing secret in any
for log in ingress scheduler deliverer_a deliverer_b; do
    f=$ZH_TMP/$log.log
    grep -v '^--- start at ' "$f" >"$ZH_TMP/$log.lines"
    lines=$(wc -l <"$ZH_TMP/$log.lines")
    zh_assert_ge "$lines" 1 "log lines of $log"
    bad=$(grep -cv '^{"ts":".*}$' "$ZH_TMP/$log.lines")
    [ "$bad" -eq 0 ] || zh_fail "$log: $bad lines are not JSON objects, e.g. $(grep -v '^{"ts":".*}$' "$ZH_TMP/$log.lines" | head -1)"
    # the whole log as one array: zh_json parses it or exits 2
    n=$({ echo '['; sed '$!s/$/,/' "$ZH_TMP/$log.lines"; echo ']'; } | "$ZH_BIN/zh_json" '#') ||
        zh_fail "$log: a log line does not parse as JSON"
    zh_assert_eq "$n" "$lines" "JSON objects in the $log log"
    for s in "$API_KEY" "$SECRET_B64" "$MARKER"; do
        ! grep -qF -- "$s" "$f" || zh_fail "$log log holds a secret, key or payload ($s)"
    done
    for sig in "$ZH_RECEIVER_SAVE_DIR"/*.signature; do
        [ -f "$sig" ] || continue
        for part in $(tr ' ' '\n' <"$sig" | sed 's/^v1,//'); do
            ! grep -qF -- "$part" "$f" || zh_fail "$log log holds a signature"
        done
    done
done
ls "$ZH_RECEIVER_SAVE_DIR"/*.signature >/dev/null 2>&1 || zh_fail "the receiver saved no signature"
zh_pass "request id followed through all stages; all log lines JSON; no key, secret, payload or signature logged"
