#!/bin/sh
# t_two_deliverers.sh — two deliverers share the work: 200 messages, every one
# delivered (at least once), and both deliverers performed attempts.
. "$(dirname "$0")/lib.sh"

N=200
zh_setup
[ -x "$ZH_BIN/zh_load" ] || zh_fail "$ZH_BIN/zh_load not built"
zh_start_receiver
ZH_DLV_ENV="ZHOOK_CONCURRENCY=8"
zh_start_pipeline a b

# Each request takes 20 ms at the receiver, so one deliverer alone cannot
# drain its share before the other asks for more.
"$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/two?delay_ms=20" 4 "$N" "$ZH_TMP/accepted.txt" \
    --deadline-ms "$((30000 * ZH_SCALE))" --key-prefix two >"$ZH_TMP/load.out" 2>&1
cat "$ZH_TMP/load.out"
ACCEPTED=$(wc -l <"$ZH_TMP/accepted.txt")
zh_assert_eq "$ACCEPTED" "$N" "messages accepted"
cut -d' ' -f1 "$ZH_TMP/accepted.txt" | sort -u >"$ZH_TMP/accepted.ids"

missing_count () {
    zh_rcv_ids | uniq | comm -23 "$ZH_TMP/accepted.ids" - | wc -l
}
zh_wait_until 30000 "[ \$(missing_count) -eq 0 ]" ||
    zh_fail "$(missing_count) of $N accepted messages never reached the receiver"
DUPS=$(zh_rcv_ids | uniq -d | wc -l)
zh_log "all $N delivered; duplicates: $DUPS"

# Every message ends delivered (spot-check the first and last ids).
first=$(head -1 "$ZH_TMP/accepted.ids")
last=$(tail -1 "$ZH_TMP/accepted.ids")
zh_wait_status "$first" delivered 5000
zh_wait_status "$last" delivered 5000

# Both deliverers worked: read their attempt counters.
dlv_attempts () {
    curl -s --max-time 2 "$(zh_dlv_ops "$1")/metrics" >"$ZH_TMP/metrics_$1.txt"
    awk '$1 == "zhook_deliverer_attempts_total" || index($1, "zhook_deliverer_attempts_total{") == 1 {
        s += $NF } END { printf "%d\n", s }' "$ZH_TMP/metrics_$1.txt"
}
A=$(dlv_attempts a)
B=$(dlv_attempts b)
zh_log "deliverer a attempts: $A, deliverer b attempts: $B (zhook_deliverer_attempts_total)"
zh_assert_ge "$A" 1 "deliverer a attempts"
zh_assert_ge "$B" 1 "deliverer b attempts"
zh_assert_ge "$((A + B))" "$N" "attempts of both deliverers together"
zh_pass "two deliverers shared $N messages ($A + $B attempts, $DUPS duplicates)"
