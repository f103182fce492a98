#!/bin/sh
# ingest.sh — scenario 1 of the benchmark plan: ingest and delivery of
# immediate messages under concurrent load, on loopback.
#
#     make && make tools && sh bench/ingest.sh [COUNT [CLIENTS]]
#
# Starts the real pipeline (scheduler, two deliverers with ZHOOK_CONCURRENCY=64,
# ingress with 64 threads, auth off) and the test receiver, all on 127.0.0.1
# with free ports and a private temp dir (the e2e harness in tests/e2e/lib.sh
# does the starting, waiting and teardown by PID). bin/zh_load POSTs COUNT
# messages over CLIENTS keep-alive connections; every 202 is a synced LMDB
# commit. Prints accepted/s, delivered/s (first POST to last arrival), and the
# CPU seconds of each stage per 1,000 delivered messages (from /proc).
COUNT=${1:-20000}
CLIENTS=${2:-64}
ZH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZH_BIN=${ZH_BIN:-$ZH_ROOT/bin}
. "$(dirname "$0")/../tests/e2e/lib.sh"

zh_setup
zh_start_receiver
ZH_SCH_ENV="ZHOOK_HEARTBEAT_MS=1000 ZHOOK_LOG_LEVEL=warn"
ZH_DLV_ENV="ZHOOK_CONCURRENCY=64 ZHOOK_LOG_LEVEL=warn"
ZH_ING_ENV="ZHOOK_HTTP_THREADS=$((CLIENTS + 8)) ZHOOK_LOG_LEVEL=warn"
zh_start_pipeline a b

pids="$(zh_pid scheduler) $(zh_pid deliverer_a) $(zh_pid deliverer_b) $(zh_pid ingress)"
before=""
for p in $pids; do before="$before $(zh_cpu_ticks "$p")"; done

start=$(zh_now_ms)
"$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/hook" "$CLIENTS" "$COUNT" "$ZH_TMP/accepted.txt" \
    --deadline-ms 300000 >"$ZH_TMP/load.txt" || zh_fail "load: $(cat "$ZH_TMP/load.txt")"
accepted_at=$(zh_now_ms)
zh_wait_until 300000 "[ \$(wc -l <'$ZH_RCV_LOG') -ge $COUNT ]" || zh_fail "not all delivered"
drained_at=$(zh_now_ms)

tick=$(getconf CLK_TCK)
i=1
cpu_line=""
for p in $pids; do
    b=$(echo "$before" | awk -v i="$i" '{ print $i }')
    a=$(zh_cpu_ticks "$p")
    cpu_line="$cpu_line $(awk -v a="$a" -v b="$b" -v t="$tick" -v n="$COUNT" \
        'BEGIN { printf "%.3f", (a - b) / t * 1000 / n }')"
    i=$((i + 1))
done

accept_ms=$((accepted_at - start))
drain_ms=$((drained_at - start))
dups=$(zh_rcv_ids | uniq -d | wc -l)
echo
echo "messages: $COUNT over $CLIENTS connections ($(cat "$ZH_TMP/load.txt"))"
awk -v n="$COUNT" -v a="$accept_ms" -v d="$drain_ms" 'BEGIN {
    printf "accepted/s:  %8.0f   (all %d accepted in %d ms)\n", n * 1000 / a, n, a
    printf "delivered/s: %8.0f   (last arrival %d ms after the first POST)\n", n * 1000 / d, d }'
echo "duplicates:  $dups"
set -- $cpu_line
echo "CPU s per 1000 delivered: scheduler $1, deliverer a $2, deliverer b $3, ingress $4"
zh_pass "bench done"
