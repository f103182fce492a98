#!/bin/sh
# t_hostile_clients.sh — 60 slow clients against the ingress (20 trickling
# their headers one byte at a time, 20 trickling a body, 20 connecting and
# sending nothing) while a normal client submits on fresh connections every
# 50 ms: every normal request must succeed with p99 under one second, and
# every trickler must be cut off within the configured deadlines
# (ZHOOK_HEADER_TIMEOUT_MS for headers and silence, ZHOOK_BODY_TIMEOUT_MS
# for bodies, answered 408).
#
# Run at the default ZHOOK_HTTP_THREADS (ZH_DEF_HTTP_THREADS, 64, as
# `zhook-ingress --help` prints it; lib.sh's 32 is overridden): civetweb
# serves one connection per worker thread, so the 60 slow connections leave
# 4 threads to the normal client, and the deadlines bound how long each slow
# one can hold its thread. Percentiles are nearest-rank; the slowest normal
# request (max_ms) must be under one second too.
. "$(dirname "$0")/lib.sh"

HEADER_MS=2000
BODY_MS=3000
SLACK_MS=$((600 * ZH_SCALE))
THREADS=$("$ZH_BIN/zhook-ingress" --help 2>&1 |
    sed -n 's/^ *ZHOOK_HTTP_THREADS  *default: *\([0-9][0-9]*\).*/\1/p')
ZH_ING_ENV="${ZH_ING_ENV:-} ZHOOK_HTTP_THREADS=$THREADS ZHOOK_HEADER_TIMEOUT_MS=$HEADER_MS \
ZHOOK_BODY_TIMEOUT_MS=$BODY_MS ZHOOK_KEEP_ALIVE_TIMEOUT_MS=2000"
zh_setup
DEF_THREADS=$(sed -n 's/^#define ZH_DEF_HTTP_THREADS \([0-9][0-9]*\).*/\1/p' "$ZH_ROOT/common/zh_defaults.h")
zh_assert_eq "$THREADS" "$DEF_THREADS" "ZHOOK_HTTP_THREADS default in --help and ZH_DEF_HTTP_THREADS"
zh_start_receiver
zh_start_pipeline a
grep -q "\"threads\":$THREADS[,}]" "$ZH_TMP/ingress.log" ||
    zh_fail "the ingress does not report $THREADS HTTP threads: $(grep -m1 threads "$ZH_TMP/ingress.log")"

BODY="{\"url\":\"$ZH_RCV/ok\",\"payload\":{\"k\":\"probe\"},\"delay_ms\":600000}"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    ${#BODY} "$BODY" >"$ZH_TMP/probe.req"

DURATION=$(((BODY_MS + 2500) * ZH_SCALE))
"$ZH_BIN/zh_trickle" "$ZH_ING_PORT" 20 20 20 200 "$DURATION" "$ZH_TMP/probe.req" 50 \
    >"$ZH_TMP/trickle.out" 2>"$ZH_TMP/trickle.err" || zh_fail "zh_trickle: $(cat "$ZH_TMP/trickle.err")"
grep -v '^trickler' "$ZH_TMP/trickle.out" | while read -r line; do zh_log "$line"; done

field () { # field LINE-PREFIX NAME
    grep "^$1" "$ZH_TMP/trickle.out" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
N=$(field probe n)
OK=$(field probe ok)
P50=$(field probe p50_ms)
P99=$(field probe p99_ms)
MAXMS=$(field probe max_ms)
zh_log "normal client ($THREADS HTTP threads, 60 tricklers): $OK of $N requests succeeded, p50 ${P50} ms, p99 ${P99} ms, max ${MAXMS} ms"
zh_assert_ge "$N" 40 "normal requests made"
zh_assert_eq "$OK" "$N" "normal requests that succeeded"
zh_assert_le "$P99" 999 "normal client p99 (ms, nearest rank)"
zh_assert_le "$MAXMS" 999 "normal client's slowest request (ms)"

for kind in headers body idle; do
    zh_assert_eq "$(field "kind $kind" cut)" 20 "$kind tricklers cut off"
done
zh_assert_le "$(field 'kind headers' max_cut_ms)" $((HEADER_MS * ZH_SCALE + SLACK_MS)) \
    "header tricklers cut within ZHOOK_HEADER_TIMEOUT_MS"
zh_assert_le "$(field 'kind idle' max_cut_ms)" $((HEADER_MS * ZH_SCALE + SLACK_MS)) \
    "silent connections cut within ZHOOK_HEADER_TIMEOUT_MS"
zh_assert_le "$(field 'kind body' max_cut_ms)" $((BODY_MS * ZH_SCALE + SLACK_MS)) \
    "body tricklers cut within ZHOOK_BODY_TIMEOUT_MS"
zh_assert_ge "$(field 'kind headers' max_cut_ms)" $((HEADER_MS - 100)) "header tricklers held until the deadline"
B408=$(grep -c '^trickler body .* 408$' "$ZH_TMP/trickle.out")
zh_assert_eq "$B408" 20 "body tricklers answered 408"
T408=$(zh_metric "$ZH_API" 'zhook_ingress_rejected_requests_total{reason="body_timeout"}') ||
    zh_fail "no body_timeout metric"
zh_assert_eq "$T408" 20 "zhook_ingress_rejected_requests_total{reason=\"body_timeout\"}"
zh_alive "$(zh_pid ingress)" || zh_fail "ingress died"
zh_api GET /ready
zh_assert_eq "$ZH_STATUS" 200 "ingress ready after the siege"
zh_pass "60 tricklers at $THREADS HTTP threads cut off within the deadlines; normal client $OK/$N ok, p50 ${P50} ms, p99 ${P99} ms, max ${MAXMS} ms"
