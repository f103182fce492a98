#!/bin/sh
# t_crash.sh — durability under SIGKILL. Four clients submit 2,400 messages
# with delays spread over 0..3 s while the scheduler is killed with SIGKILL
# five times (restarted on the same data dir each time) and each of the two
# deliverers once. Every id that got a 202 must reach the receiver; the
# test prints the duplicates (webhook-ids delivered more than once) and the
# 503s the clients saw (and retried with the same Idempotency-Key).
. "$(dirname "$0")/lib.sh"

N=${ZH_CRASH_COUNT:-2400}
MIN_ACCEPTED=2000
zh_setup
[ -x "$ZH_BIN/zh_load" ] || zh_fail "$ZH_BIN/zh_load not built"
zh_start_receiver
ZH_SCH_ENV="ZHOOK_TIMEOUT_MS=2000 ZHOOK_LEASE_MARGIN_MS=500 ZHOOK_RETRY_BASE_MS=100"
zh_start_pipeline a b

zh_load_start "crash" "$N" 3000 300 crash

KILLS_DURING_LOAD=0
STEP=$((N / 8))
for k in 1 2 3 4 5; do
    zh_load_wait_accepted $((k * 3 * STEP / 2))
    zh_alive "$ZH_LOAD_PID" && KILLS_DURING_LOAD=$((KILLS_DURING_LOAD + 1))
    zh_kill scheduler
    zh_log "scheduler SIGKILL #$k at $(zh_load_accepted) accepted"
    zh_start_scheduler
    zh_wait_scheduler
    case $k in
        2 | 4)
            [ "$k" = 2 ] && d=a || d=b
            zh_load_wait_accepted $((k * 3 * STEP / 2 + STEP / 2))
            zh_kill "deliverer_$d"
            zh_log "deliverer $d SIGKILL at $(zh_load_accepted) accepted"
            zh_start_deliverer "$d"
            zh_wait_deliverer "$d"
            ;;
    esac
done

zh_wait_until $((130000)) "! zh_alive $ZH_LOAD_PID" || zh_fail "load client did not finish"
wait "$ZH_LOAD_PID"
LOAD_RC=$?
cat "$ZH_TMP/load.out"
head -5 "$ZH_TMP/load.err"
zh_log "scheduler kills while clients were submitting: $KILLS_DURING_LOAD of 5"
zh_assert_eq "$KILLS_DURING_LOAD" 5 "scheduler kills during submission (clients too fast?)"

ACCEPTED=$(zh_load_accepted)
S503=$(sed -n 's/.*s503=\([0-9]*\).*/\1/p' "$ZH_TMP/load.out")
OTHER=$(sed -n 's/.* other=\([0-9]*\).*/\1/p' "$ZH_TMP/load.out")
zh_assert_ge "$ACCEPTED" "$MIN_ACCEPTED" "messages accepted (zh_load exit $LOAD_RC)"
zh_assert_eq "${OTHER:-0}" 0 "answers other than 202/503 (see load.err)"

cut -d' ' -f1 "$ZH_LOAD_ACC" | sort -u >"$ZH_TMP/accepted.ids"
UNIQUE_ACCEPTED=$(wc -l <"$ZH_TMP/accepted.ids")
zh_assert_eq "$UNIQUE_ACCEPTED" "$ACCEPTED" "distinct ids among the 202s"

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

# A sample of records must read delivered after all that.
for id in $(sed -n '1p;500p;1000p;1500p;2000p' "$ZH_TMP/accepted.ids"); do
    zh_wait_status "$id" delivered 10000
done
zh_pass "every accepted message delivered across 5 scheduler and 2 deliverer SIGKILLs"
