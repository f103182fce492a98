#!/bin/sh
# t_hostile.sh — receivers that try to hurt the deliverer (tests/zh_hostile):
# a 302 to a second receiver is not followed (the attempt shows 302, the
# second receiver sees nothing); a 100 MB body, 10,000 headers and a
# response trickling one byte a second each end within the attempt's
# timeout, and the deliverer's peak RSS (VmHWM) grows by less than 10 MB
# across them.
# Private targets are allowed here (loopback receivers; lib.sh default).
. "$(dirname "$0")/lib.sh"

zh_setup
zh_start_receiver
zh_start_pipeline a
DLV_PID=$(zh_pid deliverer_a)
TIMEOUT_MS=2000
LATENCY_MAX=$((TIMEOUT_MS + 700 * ZH_SCALE))

# zh_start_hostile NAME MODE [ARG]: sets ZH_HOSTILE (base URL).
zh_start_hostile () {
    _h_name=$1
    shift
    rm -f "$ZH_TMP/$_h_name.port"
    "$ZH_BIN/zh_hostile" "$ZH_TMP/$_h_name.port" "$@" >"$ZH_TMP/$_h_name.jsonl" 2>>"$ZH_TMP/$_h_name.log" &
    zh_register "$_h_name" $!
    zh_wait_until 5000 "[ -s '$ZH_TMP/$_h_name.port' ]" || zh_fail "$_h_name did not start"
    ZH_HOSTILE=http://127.0.0.1:$(cat "$ZH_TMP/$_h_name.port")
}

# status_kb FIELD: VmRSS (now) or VmHWM (peak) of the deliverer, in kB.
status_kb () {
    awk -v f="$1:" '$1 == f { print $2 }' "/proc/$DLV_PID/status"
}

# --- a second receiver, and a redirect towards it ---------------------------
RCV2_LOG=$ZH_TMP/receiver2.jsonl
: >"$RCV2_LOG"
"$ZH_BIN/zh_receiver" "$RCV2_LOG" "$ZH_TMP/receiver2.port" 0 8 >>"$ZH_TMP/receiver2.log" 2>&1 &
zh_register receiver2 $!
zh_wait_until 5000 "[ -s '$ZH_TMP/receiver2.port' ]" || zh_fail "second receiver did not start"
RCV2=http://127.0.0.1:$(cat "$ZH_TMP/receiver2.port")
zh_start_hostile redirect redirect "$RCV2/stolen"
REDIRECT=$ZH_HOSTILE
zh_start_hostile bigbody bigbody 100
BIGBODY=$ZH_HOSTILE
zh_start_hostile headers headers 10000
HEADERS=$ZH_HOSTILE
zh_start_hostile trickle trickle
TRICKLE=$ZH_HOSTILE

# warm up (connection pool, first allocations) before the RSS baseline
zh_submit "{\"url\":\"$ZH_RCV/warm\",\"payload\":{\"k\":\"warm\"}}"
zh_wait_status "$ZH_ID" delivered 5000
# The growth measured is the PEAK resident set during the hostile attempts
# (VmHWM read after them) minus the resident set before them: a 100 MB buffer
# allocated and freed again would not show in a later VmRSS, but it stays in
# VmHWM. VmHWM also holds the peak of start-up and warm-up, which may lie
# above the resident set at the baseline; so the peak is first reset to the
# current RSS (writing 5 to /proc/PID/clear_refs, Linux >= 4.0), making
# "VmHWM after - VmRSS before" exactly the peak growth. Where the reset is
# refused, the baseline is VmHWM after the warm-up instead (>= VmRSS, so a
# peak is still caught, only the part of it below the warm-up peak is not).
if echo 5 2>/dev/null >"/proc/$DLV_PID/clear_refs"; then
    BASE_WHAT="VmRSS after the warm-up, peak reset"
    RSS0=$(status_kb VmRSS)
    HWM0=$(status_kb VmHWM)
    zh_log "peak reset: VmHWM $HWM0 kB, VmRSS $RSS0 kB after the warm-up"
else
    BASE_WHAT="VmHWM after the warm-up (clear_refs refused)"
    RSS0=$(status_kb VmHWM)
fi
zh_assert_match "$RSS0" '^[0-9]+$' "deliverer memory baseline ($BASE_WHAT)"

zh_submit "{\"url\":\"$REDIRECT/r\",\"payload\":{\"k\":\"redirect\"},\"max_attempts\":2}"
REDIRECT_ID=$ZH_ID
ROUNDS=3
IDS=""
i=0
while [ $i -lt $ROUNDS ]; do
    i=$((i + 1))
    for pair in "bigbody:$BIGBODY" "headers:$HEADERS" "trickle:$TRICKLE"; do
        what=${pair%%:*}
        base=${pair#*:}
        zh_submit "{\"url\":\"$base/$what-$i\",\"payload\":{\"k\":\"$what\"},\"max_attempts\":1,\"timeout_ms\":$TIMEOUT_MS}"
        IDS="$IDS $ZH_ID:$what"
    done
done

# --- (a) redirect not followed -------------------------------------------------
zh_wait_status "$REDIRECT_ID" dead 8000
zh_assert_eq "$(zh_body attempts.#)" 2 "attempts of the redirected message"
zh_assert_eq "$(zh_body attempts.0.status_code)" 302 "attempt 1 status"
zh_assert_eq "$(zh_body attempts.1.status_code)" 302 "attempt 2 status"
zh_assert_eq "$(grep -c '"mode"' "$ZH_TMP/redirect.jsonl")" "$(grep -c '"mode":"redirect"' "$ZH_TMP/redirect.jsonl")" "redirect log"
zh_assert_eq "$(wc -l <"$RCV2_LOG" | tr -d ' ')" 0 "requests at the redirect target"
zh_pass "302 is the attempt's outcome (dead after 2 attempts with 302); the Location target never reached"

# --- (b) big body, header flood, trickle ------------------------------------------
for pair in $IDS; do
    id=${pair%%:*}
    what=${pair#*:}
    case "$what" in
        bigbody) expect=delivered ;; # a 200 whose body is cut after the cap
        *) expect=dead ;;
    esac
    zh_wait_status "$id" "$expect" $((TIMEOUT_MS + 5000))
    lat=$(zh_body attempts.0.latency_ms)
    st=$(zh_body attempts.0.status_code)
    err=$(zh_body attempts.0.error)
    zh_log "$what: $expect, status ${st:-null}, error ${err:-null}, latency $lat ms"
    zh_assert_le "$lat" "$LATENCY_MAX" "latency of the $what attempt"
    case "$what" in
        bigbody) zh_assert_eq "$st" 200 "status of the 100 MB response" ;;
        headers) zh_assert_eq "$err" response_headers_too_large "error of the 10,000-header response" ;;
        trickle) zh_assert_eq "$err" timeout "error of the trickling response" ;;
    esac
done
HWM1=$(status_kb VmHWM)
RSS1=$(status_kb VmRSS)
GROWTH=$((HWM1 - RSS0))
zh_log "deliverer memory: baseline ${RSS0} kB ($BASE_WHAT), peak during the attempts (VmHWM) ${HWM1} kB, VmRSS after ${RSS1} kB"
zh_log "peak growth ${GROWTH} kB over $((ROUNDS * 3)) hostile attempts"
zh_assert_le "$GROWTH" 10240 "deliverer peak RSS growth (VmHWM after - baseline, kB)"
# Every bigbody connection the deliverer opened must have been cut off well
# before the 100 MB were written: one "closed" line per accepted connection,
# each with its byte count (the writer notices the hang-up on its next send).
NACC=$(grep -c '"mode":"bigbody"}' "$ZH_TMP/bigbody.jsonl")
zh_assert_ge "$NACC" "$ROUNDS" "connections accepted by the 100 MB receiver"
zh_wait_until 5000 "[ \$(grep -c '\"event\":\"closed\"' '$ZH_TMP/bigbody.jsonl') -ge $NACC ]" ||
    zh_fail "the 100 MB receiver logged $(grep -c '"event":"closed"' "$ZH_TMP/bigbody.jsonl") closed connections of $NACC"
SENT=$(sed -n 's/.*"event":"closed","sent":\([0-9]*\).*/\1/p' "$ZH_TMP/bigbody.jsonl" | sort -n | tail -1)
zh_assert_match "$SENT" '^[0-9]+$' "bytes sent on the 100 MB receiver's closed connections"
zh_log "bigbody: at most $SENT of 104857600 bytes were written before the deliverer hung up ($NACC connections)"
zh_assert_le "$SENT" 52428800 "bytes of the 100 MB body the receiver managed to send"
zh_alive "$DLV_PID" || zh_fail "deliverer died"
zh_pass "100 MB body, 10,000 headers and 1 byte/s each ended within ${TIMEOUT_MS} ms (+slack); peak RSS grew ${GROWTH} kB"

# the deliverer is still fine
zh_submit "{\"url\":\"$ZH_RCV/after\",\"payload\":{\"k\":\"after\"}}"
zh_wait_status "$ZH_ID" delivered 5000
zh_pass "deliveries continue after the hostile receivers"
