#!/bin/sh
# t_basic.sh — the HTTP API and the delivery outcomes end to end, one
# scheduler, one deliverer, one ingress and the scriptable receiver:
# immediate and delayed delivery (never early, within 50 ms of due), retries
# with their history, dead after max_attempts and replay, 410, Retry-After,
# cancel, idempotency, batch with an invalid item, validation errors.
. "$(dirname "$0")/lib.sh"

zh_setup
zh_start_receiver
zh_start_pipeline a
LATE_MAX=${ZH_LATE_MAX_MS:-$((50 * ZH_SCALE))}

# --- slow cases first, so their waits overlap with the others ---------------

# Retry-After: the first attempt fails with Retry-After: 1, the base backoff is
# 50 ms, so the second attempt must wait about a second.
zh_submit "{\"url\":\"$ZH_RCV/retry-after?fail=1&retry_after=1\",\"payload\":{\"k\":\"ra\"}}"
RA_ID=$ZH_ID

# Cancel a delayed message before it is due.
zh_submit "{\"url\":\"$ZH_RCV/cancel\",\"payload\":{\"k\":\"cancel\"},\"delay_ms\":1500}"
CANCEL_ID=$ZH_ID
CANCEL_DUE_MS=$(zh_rfc3339_ms "$ZH_DUE")
zh_api DELETE "/v1/messages/$CANCEL_ID"
zh_assert_eq "$ZH_STATUS" 200 "DELETE of a scheduled message ($(zh_resp))"
zh_assert_eq "$(zh_body status)" cancelled "status in the DELETE answer"
zh_api GET "/v1/messages/$CANCEL_ID"
zh_assert_eq "$(zh_body status)" cancelled "GET after cancel"
zh_api DELETE "/v1/messages/$CANCEL_ID"
zh_assert_eq "$ZH_STATUS" 409 "second DELETE of a cancelled message"
zh_pass "cancel: 200 cancelled, second cancel 409"

# Dead after max_attempts, replayable: the receiver fails the first 3 requests.
zh_submit "{\"url\":\"$ZH_RCV/dead?fail=3\",\"payload\":{\"k\":\"dead\"},\"max_attempts\":3}"
DEAD_ID=$ZH_ID

# 410: dead at once.
zh_submit "{\"url\":\"$ZH_RCV/gone?code=410\",\"payload\":{\"k\":\"gone\"}}"
GONE_ID=$ZH_ID

# --- immediate delivery ---------------------------------------------------------
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
T0=$(zh_now_ms)
zh_submit "{\"url\":\"$ZH_RCV/now?secret=$SECRET\",\"payload\":{\"hello\":\"world\"},\"secret\":\"$SECRET\"}" \
    -H 'X-Request-Id: basic-req-1'
NOW_ID=$ZH_ID
zh_assert_match "$NOW_ID" '^msg_[0-9A-Za-z]+$' "message id form"
zh_assert_eq "$(zh_body status)" scheduled "status in the 202"
zh_assert_eq "$(zh_header Location)" "/v1/messages/$NOW_ID" "Location header"
zh_assert_eq "$(zh_header X-Request-Id)" basic-req-1 "X-Request-Id echoed"
zh_wait_until 5000 "[ \$(zh_rcv_count $NOW_ID) -ge 1 ]" || zh_fail "immediate message $NOW_ID never arrived"
ARRIVED=$(zh_rcv_field "$NOW_ID" 1 t_ms)
zh_log "immediate delivery arrived $((ARRIVED - T0)) ms after the POST was sent"
zh_assert_eq "$(zh_rcv_field "$NOW_ID" 1 path)" /now "delivered path"
zh_assert_eq "$(zh_rcv_field "$NOW_ID" 1 body_len)" 17 "delivered body length ({\"hello\":\"world\"})"
zh_assert_eq "$(zh_rcv_field "$NOW_ID" 1 has_signature)" true "webhook-signature present"
zh_assert_eq "$(zh_rcv_field "$NOW_ID" 1 sig_valid)" true "webhook-signature verifies"
TS=$(zh_rcv_field "$NOW_ID" 1 webhook_timestamp)
zh_assert_match "$TS" '^[0-9]+$' "webhook-timestamp"
zh_assert_le "$(( (ARRIVED / 1000 - TS) * (ARRIVED / 1000 - TS) ))" 4 "webhook-timestamp near now (squared s)"
zh_wait_status "$NOW_ID" delivered 3000
zh_assert_eq "$(zh_body attempts.#)" 1 "attempts of an immediate delivery"
zh_assert_eq "$(zh_body attempts.0.n)" 1 "attempts[0].n"
zh_assert_eq "$(zh_body attempts.0.status_code)" 200 "attempts[0].status_code"
zh_assert_eq "$(zh_body id)" "$NOW_ID" "GET id"
zh_pass "immediate delivery: arrived, webhook-id matches, signed, delivered with 1 attempt"

# Unsigned message: no webhook-signature (no secret configured).
zh_submit "{\"url\":\"$ZH_RCV/nosig\",\"payload\":[1,2,3]}"
NOSIG_ID=$ZH_ID

# --- delayed delivery: delay_ms and deliver_at -------------------------------------
zh_submit "{\"url\":\"$ZH_RCV/delay\",\"payload\":{\"k\":\"delay_ms\"},\"delay_ms\":500}"
DELAY_ID=$ZH_ID
DELAY_DUE=$(zh_rfc3339_ms "$ZH_DUE")
[ -n "$DELAY_DUE" ] || zh_fail "deliver_at '$ZH_DUE' is not RFC 3339"
AT_MS=$(($(zh_now_ms) + 800))
AT_TEXT=$(zh_ms_rfc3339 "$AT_MS")
zh_submit "{\"url\":\"$ZH_RCV/at\",\"payload\":{\"k\":\"deliver_at\"},\"deliver_at\":\"$AT_TEXT\"}"
AT_ID=$ZH_ID
zh_assert_eq "$(zh_rfc3339_ms "$ZH_DUE")" "$AT_MS" "deliver_at echoed ($ZH_DUE vs $AT_TEXT)"
zh_wait_until 5000 "[ \$(zh_rcv_count $DELAY_ID) -ge 1 ] && [ \$(zh_rcv_count $AT_ID) -ge 1 ]" ||
    zh_fail "delayed messages did not arrive"
for pair in "$DELAY_ID:$DELAY_DUE:delay_ms=500" "$AT_ID:$AT_MS:deliver_at"; do
    id=${pair%%:*}
    rest=${pair#*:}
    due=${rest%%:*}
    what=${rest#*:}
    t=$(zh_rcv_field "$id" 1 t_ms)
    late=$((t - due))
    zh_log "delayed delivery ($what): arrived $late ms after due"
    zh_assert_ge "$late" 0 "arrival minus due ($what): never early"
    zh_assert_le "$late" "$LATE_MAX" "arrival minus due ($what)"
done
zh_pass "delayed delivery never early and within $LATE_MAX ms of due"

# --- failing receiver then success: attempt history ----------------------------------
zh_submit "{\"url\":\"$ZH_RCV/flaky?fail=2\",\"payload\":{\"k\":\"flaky\"}}"
FLAKY_ID=$ZH_ID
zh_wait_status "$FLAKY_ID" delivered 5000
zh_assert_eq "$(zh_body attempts.#)" 3 "attempts after fail=2"
zh_assert_eq "$(zh_body attempts.0.status_code)" 500 "attempt 1 status"
zh_assert_eq "$(zh_body attempts.1.status_code)" 500 "attempt 2 status"
zh_assert_eq "$(zh_body attempts.2.status_code)" 200 "attempt 3 status"
zh_assert_eq "$(zh_body attempts.2.n)" 3 "attempt 3 number"
zh_assert_eq "$(zh_rcv_count "$FLAKY_ID")" 3 "receiver requests for the flaky message"
zh_pass "fail=2: delivered on attempt 3, history 500,500,200"

# --- dead after max_attempts, then replay -------------------------------------------
zh_wait_status "$DEAD_ID" dead 8000
zh_assert_eq "$(zh_body attempts.#)" 3 "attempts of the dead message"
zh_assert_eq "$(zh_body dead_reason)" max_attempts "dead_reason of a message dead after max_attempts"
zh_api GET "/v1/dead-letters?limit=100"
zh_assert_eq "$ZH_STATUS" 200 "GET /v1/dead-letters"
grep -q "\"$DEAD_ID\"" "$ZH_TMP/resp.body" || zh_fail "dead letter list lacks $DEAD_ID: $(zh_resp)"
zh_api POST "/v1/dead-letters/$DEAD_ID/replay"
zh_assert_eq "$ZH_STATUS" 200 "replay of a dead message ($(zh_resp))"
zh_assert_eq "$(zh_body status)" scheduled "status after replay"
zh_wait_status "$DEAD_ID" delivered 5000
zh_assert_eq "$(zh_body attempts.#)" 4 "attempts after replay (history kept)"
zh_assert_eq "$(zh_body attempts.3.status_code)" 200 "attempt after replay"
zh_api POST "/v1/dead-letters/$DEAD_ID/replay"
zh_assert_eq "$ZH_STATUS" 409 "replay of a delivered message"
zh_pass "dead after max_attempts=3, listed, replayed, delivered"

# --- 410 ---------------------------------------------------------------------------
zh_wait_status "$GONE_ID" dead 5000
zh_assert_eq "$(zh_body attempts.#)" 1 "attempts of a 410 message"
zh_assert_eq "$(zh_body attempts.0.status_code)" 410 "410 in the history"
zh_assert_eq "$(zh_body dead_reason)" gone "dead_reason of a 410"
zh_pass "410: dead at once with 1 attempt"

# --- Retry-After ------------------------------------------------------------------------
zh_wait_status "$RA_ID" delivered 8000
t1=$(zh_rcv_field "$RA_ID" 1 t_ms)
t2=$(zh_rcv_field "$RA_ID" 2 t_ms)
gap=$((t2 - t1))
zh_log "Retry-After: 1 -> second attempt $gap ms after the first (base backoff 50 ms)"
zh_assert_ge "$gap" 950 "gap between attempts with Retry-After: 1"
zh_assert_le "$gap" "$((3000 * ZH_SCALE))" "gap between attempts with Retry-After: 1"
zh_pass "Retry-After honoured"

# --- idempotency ------------------------------------------------------------------------
KEY="idem-$(zh_now_ms)"
BODY="{\"url\":\"$ZH_RCV/idem\",\"payload\":{\"k\":\"idem\"},\"delay_ms\":200}"
zh_api POST /v1/messages "$BODY" -H "Idempotency-Key: $KEY"
zh_assert_eq "$ZH_STATUS" 202 "first POST with an Idempotency-Key"
IDEM_ID=$(zh_body id)
zh_api POST /v1/messages "$BODY" -H "Idempotency-Key: $KEY"
zh_assert_eq "$ZH_STATUS" 202 "replayed POST with the same key and body"
zh_assert_eq "$(zh_body id)" "$IDEM_ID" "id of the replayed POST"
zh_assert_eq "$(zh_header Idempotent-Replayed)" true "Idempotent-Replayed header"
zh_api POST /v1/messages "{\"url\":\"$ZH_RCV/idem\",\"payload\":{\"k\":\"other\"}}" -H "Idempotency-Key: $KEY"
zh_assert_eq "$ZH_STATUS" 409 "same key, another body"
zh_assert_match "$(zh_header Content-Type)" '^application/problem\+json' "409 content type"
zh_wait_until 5000 "[ \$(zh_rcv_count $IDEM_ID) -ge 1 ]" || zh_fail "idempotent message never arrived"
zh_pass "idempotent replay returns the same id; another body is 409"

# --- batch with one invalid item ----------------------------------------------------------
zh_api POST /v1/messages/batch "{\"messages\":[
  {\"url\":\"$ZH_RCV/batch0\",\"payload\":{\"i\":0}},
  {\"url\":\"ftp://example.com/x\",\"payload\":{\"i\":1}},
  {\"url\":\"$ZH_RCV/batch2\",\"payload\":{\"i\":2},\"delay_ms\":100}]}"
zh_assert_eq "$ZH_STATUS" 202 "batch with an invalid item ($(zh_resp))"
zh_assert_eq "$(zh_body items.#)" 3 "batch items"
B0=$(zh_body items.0.id)
B2=$(zh_body items.2.id)
zh_assert_match "$B0" '^msg_' "batch item 0 id"
zh_assert_match "$B2" '^msg_' "batch item 2 id"
zh_assert_eq "$(zh_body items.1.status)" invalid "batch item 1 status"
field=$(zh_body items.1.error.errors.0.field)
zh_assert_match "$field" 'url' "batch item 1 error field"
zh_log "batch invalid item field: $field"
zh_wait_status "$B0" delivered 5000
zh_wait_status "$B2" delivered 5000
zh_pass "batch: valid items delivered, invalid one reported with its field"

# --- validation errors ----------------------------------------------------------------
check_422 () {
    zh_api POST /v1/messages "$1"
    zh_assert_eq "$ZH_STATUS" 422 "validation of $1 ($(zh_resp))"
    zh_assert_match "$(zh_header Content-Type)" '^application/problem\+json' "422 content type"
    zh_assert_eq "$(zh_body status)" 422 "problem status"
    grep -q "\"field\" *: *\"[^\"]*$2" "$ZH_TMP/resp.body" ||
        zh_fail "422 for $1 does not name field $2: $(zh_resp)"
}
check_422 '{"payload":{}}' url
check_422 '{"url":"ftp://x.example/","payload":{}}' url
check_422 "{\"url\":\"$ZH_RCV/v\"}" payload
check_422 "{\"url\":\"$ZH_RCV/v\",\"payload\":1,\"delay_ms\":-5}" delay_ms
check_422 "{\"url\":\"$ZH_RCV/v\",\"payload\":1,\"max_attempts\":0}" max_attempts
check_422 "{\"url\":\"$ZH_RCV/v\",\"payload\":1,\"timeout_ms\":50}" timeout_ms
check_422 "{\"url\":\"$ZH_RCV/v\",\"payload\":1,\"headers\":{\"Host\":\"x\"}}" headers
zh_api POST /v1/messages '{"url":'
zh_assert_eq "$ZH_STATUS" 400 "malformed JSON"
zh_api GET /v1/messages/msg_00000000000000000000000000
zh_assert_eq "$ZH_STATUS" 404 "unknown id"
zh_pass "validation: 422 problem+json naming the field, 400 on bad JSON, 404 unknown id"

# --- settled checks --------------------------------------------------------------------
zh_wait_until 3000 "[ \$(zh_rcv_count $NOSIG_ID) -ge 1 ]" || zh_fail "unsigned message never arrived"
zh_assert_eq "$(zh_rcv_field "$NOSIG_ID" 1 has_signature)" false "no signature without a secret"
# The cancelled message's due time must be past before we check it never came.
zh_wait_until 5000 "[ \$(zh_now_ms) -gt $((CANCEL_DUE_MS + 500)) ]"
zh_assert_eq "$(zh_rcv_count "$CANCEL_ID")" 0 "requests for the cancelled message"
zh_assert_eq "$(zh_msg_status "$CANCEL_ID")" cancelled "cancelled message status at the end"
zh_assert_eq "$(zh_rcv_count "$GONE_ID")" 1 "requests for the 410 message"
zh_pass "cancelled message never delivered; 410 not retried"
