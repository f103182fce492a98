#!/bin/sh
# t_lead.sh — leasing ahead (ZHOOK_DISPATCH_LEAD_MS): a message due soon is
# leased (committed in_flight) before its due time and still delivered not
# before it; one cancelled while its dispatch is held is never delivered;
# at a SIGTERM the scheduler gives the leases it holds back, so after the
# restart they are delivered once, with no lease expiry.
. "$(dirname "$0")/lib.sh"

zh_setup
zh_start_receiver
# a lead long enough to see the held state through the API, however slow
# the build; the messages are due well after it
LEAD_MS=900
DELAY_MS=$((3000 * ZH_SCALE))
ZH_SCH_ENV="ZHOOK_DISPATCH_LEAD_MS=$LEAD_MS"
zh_start_pipeline a

# zh_wait_held ID DUE_MS: waits for ID to be in_flight; fails when that is
# seen only at or after its due time, or once the receiver has it (then
# it was not held, it was dispatched).
zh_wait_held () {
    zh_wait_until $((DELAY_MS + 2000)) "[ \"\$(zh_msg_status $1)\" = in_flight ]" ||
        zh_fail "message $1 never in_flight"
    _wh_seen=$(zh_now_ms)
    [ "$(zh_rcv_arrived "$1")" -eq 0 ] || zh_fail "message $1 reached the receiver before it was seen held"
    zh_assert_le "$_wh_seen" $(($2 - 1)) "time $1 was seen in_flight (leased ahead, before its due time)"
}

# 1. leased ahead, delivered at its time, never early
zh_submit "{\"url\":\"$ZH_RCV/ahead\",\"payload\":{\"n\":1},\"delay_ms\":$DELAY_MS}"
ID1=$ZH_ID
DUE1=$(zh_rfc3339_ms "$ZH_DUE")
zh_wait_held "$ID1" "$DUE1"
zh_wait_status "$ID1" delivered $((DELAY_MS + 5000))
t=$(zh_rcv_field "$ID1" 1 t_ms)
zh_assert_ge "$((t - DUE1))" 0 "arrival minus due of a message leased ahead: never early"
zh_assert_eq "$(zh_rcv_count "$ID1")" 1 "requests for $ID1"
zh_assert_ge "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_held)" 0 "zhook_scheduler_held is exported"
zh_pass "leased ahead of its due time, delivered once, not before it"

# 2. cancelled while held: never sent. A second message due at the same
# time is the witness that the due time has passed.
zh_submit "{\"url\":\"$ZH_RCV/cancelled\",\"payload\":{\"n\":2},\"delay_ms\":$DELAY_MS}"
ID2=$ZH_ID
DUE2=$(zh_rfc3339_ms "$ZH_DUE")
zh_submit "{\"url\":\"$ZH_RCV/witness\",\"payload\":{\"n\":3},\"delay_ms\":$DELAY_MS}"
ID3=$ZH_ID
zh_wait_held "$ID2" "$DUE2"
zh_api DELETE "/v1/messages/$ID2"
zh_assert_eq "$ZH_STATUS" 200 "DELETE of a held message"
zh_assert_eq "$(zh_body status)" cancelled "status after DELETE"
zh_wait_status "$ID3" delivered $((DELAY_MS + 5000))
zh_assert_eq "$(zh_rcv_count "$ID2")" 0 "requests for the message cancelled while held"
zh_assert_eq "$(zh_msg_status "$ID2")" cancelled "status of the cancelled message after its due time"
zh_pass "a message cancelled while its dispatch was held is never delivered"

# 3. SIGTERM while held: the lease goes back; after the restart the message
# is delivered once, and no lease expired (it was not left to its lease)
zh_submit "{\"url\":\"$ZH_RCV/restart\",\"payload\":{\"n\":4},\"delay_ms\":$DELAY_MS}"
ID4=$ZH_ID
DUE4=$(zh_rfc3339_ms "$ZH_DUE")
zh_wait_held "$ID4" "$DUE4"
zh_stop scheduler $((5000 * ZH_SCALE))
zh_assert_eq "$ZH_RC" 0 "scheduler exit status on SIGTERM"
grep -q '"msg":"leases taken ahead given back","count":1' "$ZH_TMP/scheduler.log" ||
    zh_fail "the scheduler did not give its held lease back: $(tail -5 "$ZH_TMP/scheduler.log")"
zh_start_scheduler
zh_wait_scheduler
zh_wait_status "$ID4" delivered $((DELAY_MS + 5000))
t=$(zh_rcv_field "$ID4" 1 t_ms)
zh_assert_ge "$((t - DUE4))" 0 "arrival minus due after the restart: never early"
zh_assert_eq "$(zh_rcv_count "$ID4")" 1 "requests for $ID4"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_lease_expiries_total)" 0 \
    "lease expiries after the restart (the held lease was given back, not left to expire)"
zh_api GET "/v1/messages/$ID4"
zh_assert_eq "$(zh_body attempts.#)" 1 "attempts of $ID4 (the lease given back is no attempt)"
zh_pass "a held lease given back at SIGTERM: delivered once after the restart, no lease expiry"
