#!/bin/sh
# t_sigstop.sh — a deliverer frozen (SIGSTOP) with attempts in flight past
# their lease: the scheduler gives the messages to another deliverer, which
# delivers them; when the first one resumes (SIGCONT) its late results are
# stale and change nothing.
. "$(dirname "$0")/lib.sh"

N=6
zh_setup
zh_start_receiver
# Lease = timeout 2500 ms + margin 300 ms. The receiver holds the first
# request of each message for 1500 ms, so the attempts are in flight when
# deliverer a is frozen; the second request of each message is answered at once.
ZH_SCH_ENV="ZHOOK_TIMEOUT_MS=2500 ZHOOK_LEASE_MARGIN_MS=300 ZHOOK_DELIVERER_TIMEOUT_MS=1000"
ZH_DLV_ENV="ZHOOK_CONCURRENCY=8"
zh_start_pipeline a

IDS=""
i=0
while [ $i -lt $N ]; do
    zh_submit "{\"url\":\"$ZH_RCV/stop?delay_ms=1500&delay_n=1\",\"payload\":{\"i\":$i}}"
    IDS="$IDS $ZH_ID"
    i=$((i + 1))
done

# all_arrived N COUNTER: COUNTER (zh_rcv_arrived: on arrival, zh_rcv_count:
# answered) is >= N for every message.
all_arrived () {
    for _id in $IDS; do
        [ "$($2 "$_id")" -ge "$1" ] || return 1
    done
    return 0
}
# All first attempts are now at the receiver, held there: deliverer a has them in flight.
zh_wait_until 5000 "all_arrived 1 zh_rcv_arrived" || zh_fail "first attempts did not reach the receiver"
PID_A=$(zh_pid deliverer_a)
kill -STOP "$PID_A"
T_STOP=$(zh_now_ms)
zh_log "deliverer a (pid $PID_A) stopped with $N attempts in flight"
zh_start_deliverer b
zh_wait_deliverer b

# The leases end, the messages go to b (the receiver answers their second
# request at once), and the records read delivered.
zh_wait_until 15000 "all_arrived 2 zh_rcv_count" || zh_fail "messages were not re-dispatched to deliverer b"
for id in $IDS; do
    zh_wait_status "$id" delivered 10000
done
T_DONE=$(zh_now_ms)
zh_log "re-delivered by deliverer b $((T_DONE - T_STOP)) ms after the SIGSTOP"
for id in $IDS; do
    zh_api GET "/v1/messages/$id"
    n=$(zh_body attempts.#)
    zh_assert_ge "$n" 2 "attempts of $id after the lease expired"
    eval "ATT_$id=$n"
    last=$((n - 1))
    zh_assert_eq "$(zh_body attempts.$last.status_code)" 200 "last attempt of $id"
done

# The first requests were still held by the receiver when a was frozen.
for id in $IDS; do
    zh_assert_ge "$(zh_rcv_field "$id" 1 done_ms)" "$T_STOP" "first answer for $id after the SIGSTOP"
done
# The frozen deliverer had sent its requests; the receiver answered them (200,
# after 1.5 s) into its socket. Resume it: its late results are for old attempts.
STALE0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_results_total) ||
    zh_fail "scheduler /metrics lacks zhook_scheduler_stale_results_total"
kill -CONT "$PID_A"
zh_log "deliverer a resumed (stale results before: $STALE0)"
zh_wait_until 5000 "[ \"\$(zh_metric $ZH_SCH_OPS zhook_scheduler_stale_results_total)\" -gt $STALE0 ]" ||
    zh_fail "zhook_scheduler_stale_results_total stayed at $STALE0 after deliverer a resumed"
zh_log "stale results counted: $(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_results_total)"
# Give a's late results time to be processed: a must be alive and report ready
# again (its heartbeat and results share one socket, so ready means it has
# resumed), then one more heartbeat round of the scheduler.
zh_wait_deliverer a
T_CHECK=$(($(zh_now_ms) + 1000))
zh_wait_until 3000 "[ \$(zh_now_ms) -ge $T_CHECK ]"

for id in $IDS; do
    zh_api GET "/v1/messages/$id"
    zh_assert_eq "$(zh_body status)" delivered "status of $id after the late results"
    eval "before=\$ATT_$id"
    zh_assert_eq "$(zh_body attempts.#)" "$before" "attempts of $id after the late results"
    zh_assert_le "$(zh_rcv_count "$id")" 2 "requests for $id at the receiver"
done
zh_pass "frozen deliverer's messages delivered by another; late results changed nothing"
