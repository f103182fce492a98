#!/bin/sh
# fanout.sh — event fan-out benchmark (issue 4, acceptance 5): one topic with
# SUBS subscriptions, each event fanned out by the scheduler into SUBS
# messages in the transaction that accepts it.
#
#     make && make tools && sh bench/fanout.sh [EVENTS [SUBS [CLIENTS]]]
#
# Starts the real pipeline (scheduler, two deliverers with
# ZHOOK_CONCURRENCY=64, ingress, auth off) and the test receiver, all on
# 127.0.0.1 with free ports in a private temp dir (tests/e2e/lib.sh starts,
# waits and tears down by PID). Then:
#   1. creates SUBS subscriptions on topic bench.fanout (one receiver, a
#      distinct path each) with curl --parallel, and checks the list;
#   2. publishes one event due in 10 minutes on a quiet pipeline and reads
#      the scheduler's commits_total and accepted_total around it: asserts
#      exactly one synced commit and SUBS messages;
#   3. publishes EVENTS events one after another (1 client), waits until the
#      receiver has every delivery, then EVENTS more from CLIENTS parallel
#      clients, and waits again.
# Prints a table: events/s and messages/s accepted, publish latency (p50,
# max), deliveries/s from the first publish to the last arrival, duplicates,
# and the CPU seconds of each stage per 1,000 deliveries (from /proc).
EVENTS=${1:-20}
SUBS=${2:-1000}
CLIENTS=${3:-4}
ZH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZH_BIN=${ZH_BIN:-$ZH_ROOT/bin}
. "$(dirname "$0")/../tests/e2e/lib.sh"

zh_setup
zh_start_receiver
ZH_SCH_ENV="ZHOOK_HEARTBEAT_MS=1000 ZHOOK_LOG_LEVEL=warn $ZH_SCH_ENV"
ZH_DLV_ENV="ZHOOK_CONCURRENCY=64 ZHOOK_LOG_LEVEL=warn $ZH_DLV_ENV"
ZH_ING_ENV="ZHOOK_HTTP_THREADS=32 ZHOOK_REQUEST_TIMEOUT_MS=10000 ZHOOK_LOG_LEVEL=warn $ZH_ING_ENV"
zh_start_pipeline a b
TOPIC=bench.fanout

# curl_cfg FILE PATH JSON: appends one POST to a curl config file
curl_cfg () {
    {
        [ -s "$1" ] && echo 'next'
        echo "url = \"$ZH_API$2\""
        echo 'request = "POST"'
        echo 'header = "Content-Type: application/json"'
        printf 'data = "%s"\n' "$(printf '%s' "$3" | sed 's/\\/\\\\/g; s/"/\\"/g')"
        echo 'output = "/dev/null"'
        printf '%s\n' 'write-out = "%{http_code} %{time_total}\n"'
    } >>"$1"
}

# --- 1. subscriptions ------------------------------------------------------------
: >"$ZH_TMP/subs.cfg"
i=0
while [ $i -lt "$SUBS" ]; do
    curl_cfg "$ZH_TMP/subs.cfg" /v1/subscriptions "{\"topic\":\"$TOPIC\",\"url\":\"$ZH_RCV/s$i\"}"
    i=$((i + 1))
done
t0=$(zh_now_ms)
curl -sS --parallel --parallel-max 16 -K "$ZH_TMP/subs.cfg" >"$ZH_TMP/subs.out" 2>>"$ZH_TMP/curl.err" ||
    zh_fail "curl for the subscriptions failed"
subs_ms=$(($(zh_now_ms) - t0))
created=$(grep -c '^201 ' "$ZH_TMP/subs.out")
zh_assert_eq "$created" "$SUBS" "subscriptions created (201) ($(grep -v '^201 ' "$ZH_TMP/subs.out" | sort | uniq -c | head -3))"
listed=0
after=""
while :; do
    zh_api GET "/v1/subscriptions?topic=$TOPIC&limit=1000${after:+&after=$after}"
    zh_assert_eq "$ZH_STATUS" 200 "list subscriptions"
    listed=$((listed + $(zh_body items.#)))
    after=$(zh_body next)
    [ -n "$after" ] && [ "$after" != null ] || break
done
zh_assert_eq "$listed" "$SUBS" "subscriptions listed on $TOPIC"

# --- 2. one event, one transaction --------------------------------------------------
c0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_commits_total)
a0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_accepted_total)
zh_api POST /v1/events "{\"topic\":\"$TOPIC\",\"payload\":{\"probe\":true},\"delay_ms\":600000}"
zh_assert_eq "$ZH_STATUS" 202 "delayed probe event ($(zh_resp))"
zh_assert_eq "$(zh_body messages.#)" "$SUBS" "messages of the probe event"
c1=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_commits_total)
a1=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_accepted_total)
PROBE_COMMITS=$((c1 - c0))
PROBE_ACCEPTED=$((a1 - a0))
# Nothing else is due on this quiet pipeline, so the event's transaction is
# the only commit: more would mean the fan-out was split, none that the
# accepting commit was not counted.
zh_assert_eq "$PROBE_COMMITS" 1 "synced commits of one event fanned out to $SUBS subscriptions"
zh_assert_eq "$PROBE_ACCEPTED" "$SUBS" "messages accepted by one event"

# --- 3. publish and drain ---------------------------------------------------------------
pids="$(zh_pid scheduler) $(zh_pid deliverer_a) $(zh_pid deliverer_b) $(zh_pid ingress)"
cpu_before=""
for p in $pids; do cpu_before="$cpu_before $(zh_cpu_ticks "$p")"; done

# run NAME PARALLEL COUNT OFFSET: publishes COUNT events, waits for the drain;
# appends a table row to $ZH_TMP/table
run () {
    : >"$ZH_TMP/$1.cfg"
    _r_i=0
    while [ $_r_i -lt "$3" ]; do
        curl_cfg "$ZH_TMP/$1.cfg" /v1/events \
            "{\"topic\":\"$TOPIC\",\"payload\":{\"event\":$(($4 + _r_i)),\"pad\":\"0123456789abcdef0123456789abcdef\"}}"
        _r_i=$((_r_i + 1))
    done
    _r_base=$(wc -l <"$ZH_RCV_LOG")
    _r_want=$((_r_base + $3 * SUBS))
    _r_t0=$(zh_now_ms)
    if [ "$2" -gt 1 ]; then
        curl -sS --parallel --parallel-max "$2" -K "$ZH_TMP/$1.cfg" >"$ZH_TMP/$1.out" 2>>"$ZH_TMP/curl.err"
    else
        curl -sS -K "$ZH_TMP/$1.cfg" >"$ZH_TMP/$1.out" 2>>"$ZH_TMP/curl.err"
    fi
    _r_t1=$(zh_now_ms)
    _r_ok=$(grep -c '^202 ' "$ZH_TMP/$1.out")
    [ "$_r_ok" = "$3" ] || zh_fail "$1: $_r_ok of $3 events accepted: $(sort "$ZH_TMP/$1.out" | cut -d' ' -f1 | uniq -c)"
    zh_wait_until 600000 "[ \$(wc -l <'$ZH_RCV_LOG') -ge $_r_want ]" ||
        zh_fail "$1: $(($(wc -l <"$ZH_RCV_LOG") - _r_base)) of $(($3 * SUBS)) delivered"
    _r_t2=$(zh_now_ms)
    _r_lat=$(awk '{ print $2 * 1000 }' "$ZH_TMP/$1.out" | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.0f %.0f", v[int((NR + 1) / 2)], v[NR] }')
    awk -v name="$1" -v par="$2" -v n="$3" -v s="$SUBS" -v a="$((_r_t1 - _r_t0))" \
        -v d="$((_r_t2 - _r_t0))" -v lat="$_r_lat" 'BEGIN {
        split(lat, l, " ")
        printf "%-10s %3d %6d %9d %8.1f %10.0f %7d %7d %9.0f %8d\n", name, par, n, n * s,
            n * 1000 / a, n * s * 1000 / a, l[1], l[2], n * s * 1000 / d, d }' >>"$ZH_TMP/table"
}
: >"$ZH_TMP/table"
run serial 1 "$EVENTS" 0
run parallel "$CLIENTS" "$EVENTS" "$EVENTS"
DELIVERED=$((2 * EVENTS * SUBS))

tick=$(getconf CLK_TCK)
i=1
cpu_line=""
for p in $pids; do
    b=$(echo "$cpu_before" | awk -v i="$i" '{ print $i }')
    a=$(zh_cpu_ticks "$p")
    cpu_line="$cpu_line $(awk -v a="$a" -v b="$b" -v t="$tick" -v n="$DELIVERED" \
        'BEGIN { printf "%.3f", (a - b) / t * 1000 / n }')"
    i=$((i + 1))
done
dups=$(zh_rcv_ids | uniq -d | wc -l)

echo
echo "fan-out: $SUBS subscriptions on $TOPIC (created in $subs_ms ms over 16 connections:" \
    "$((SUBS * 1000 / (subs_ms > 0 ? subs_ms : 1))) /s)"
echo "one event -> $PROBE_ACCEPTED messages accepted in $PROBE_COMMITS synced commit(s) (scheduler metrics)"
echo
printf '%-10s %3s %6s %9s %8s %10s %7s %7s %9s %8s\n' run clients events messages 'events/s' \
    'msgs/s' 'p50 ms' 'max ms' 'deliv/s' 'drain ms'
cat "$ZH_TMP/table"
echo
echo "accepted: events/s and msgs/s over the publish phase (each 202 = one synced commit of $SUBS messages)"
echo "deliv/s: deliveries from the first publish to the last arrival at the receiver"
echo "duplicates: $dups"
set -- $cpu_line
echo "CPU s per 1000 deliveries: scheduler $1, deliverer a $2, deliverer b $3, ingress $4"
zh_pass "bench done: one event to $SUBS subscriptions in exactly one commit"
