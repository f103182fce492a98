#!/bin/sh
# t_malformed.sh — over forty malformed or hostile requests through real
# HTTP: bodies (not JSON, truncated, deep, duplicate keys, invalid UTF-8,
# NUL, huge numbers, wrong types), headers (CL + TE, CL twice, CL 10abc,
# negative CL, bad Content-Type, oversized header, control bytes in
# values), methods (TRACE, PUT on POST routes), encodings (gzip), ids
# (malformed, wrong prefix, 10k characters, path traversal) and numbers out
# of range. Each must get a 4xx application/problem+json (never a 5xx or a
# hang), nothing from them may be scheduled (GET /v1/status counts
# unchanged) and every process must still be up.
. "$(dirname "$0")/lib.sh"

ZH_ING_ENV="${ZH_ING_ENV:-} ZHOOK_BODY_TIMEOUT_MS=1500 ZHOOK_HEADER_TIMEOUT_MS=2000"
zh_setup
zh_start_pipeline a
RAW_TIMEOUT=$((6000 * ZH_SCALE))
CASES=0

# Counts of GET /v1/status that submissions move (rates left out).
status_counts () {
    zh_api GET /v1/status
    [ "$ZH_STATUS" = 200 ] || zh_fail "GET /v1/status: $ZH_STATUS $(zh_resp)"
    tr ',{}' '\n\n\n' <"$ZH_TMP/resp.body" | grep -v -i 'rate\|per_s\|deliverers\|lag\|_ms' | sort | tr '\n' ' '
}

# check_problem WHAT STATUS EXPECTED-REGEX HEADERS-FILE BODY-FILE
check_problem () {
    CASES=$((CASES + 1))
    printf '%s\n' "$2" | grep -Eq "^($3)\$" || zh_fail "$1: status '$2', expected $3: $(head -c 300 "$5")"
    case "$2" in 4??) ;; *) zh_fail "$1: status $2 is not a 4xx" ;; esac
    grep -qi '^Content-Type: application/problem+json' "$4" ||
        zh_fail "$1: not application/problem+json: $(head -c 400 "$4")"
    grep -qi '^X-Content-Type-Options: nosniff' "$4" || zh_fail "$1: no nosniff header"
    _cp_status=$("$ZH_BIN/zh_json" status "$5" 2>/dev/null)
    zh_assert_eq "$_cp_status" "$2" "$1: status in the problem body"
}

# api EXPECTED WHAT METHOD PATH [BODY [curl args]]: through curl.
api () {
    _a_exp=$1
    _a_what=$2
    shift 2
    zh_api "$@"
    check_problem "$_a_what" "$ZH_STATUS" "$_a_exp" "$ZH_TMP/resp.hdr" "$ZH_TMP/resp.body"
}

# api_nobody EXPECTED WHAT METHOD PATH [curl args]: no body.
api_nobody () {
    _an_exp=$1
    _an_what=$2
    _an_m=$3
    _an_p=$4
    shift 4
    ZH_STATUS=$(curl -sS --max-time $((15 * ZH_SCALE)) -o "$ZH_TMP/resp.body" -D "$ZH_TMP/resp.hdr" \
        -w '%{http_code}' -X "$_an_m" "$@" "$ZH_API$_an_p")
    check_problem "$_an_what" "$ZH_STATUS" "$_an_exp" "$ZH_TMP/resp.hdr" "$ZH_TMP/resp.body"
}

# api_file EXPECTED WHAT PATH FILE [curl args]: POST a body from a file.
api_file () {
    _af_exp=$1
    _af_what=$2
    _af_path=$3
    _af_file=$4
    shift 4
    ZH_STATUS=$(curl -sS --max-time $((15 * ZH_SCALE)) -o "$ZH_TMP/resp.body" -D "$ZH_TMP/resp.hdr" \
        -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$_af_file" "$@" \
        "$ZH_API$_af_path")
    check_problem "$_af_what" "$ZH_STATUS" "$_af_exp" "$ZH_TMP/resp.hdr" "$ZH_TMP/resp.body"
}

# raw EXPECTED WHAT < request-bytes: sends raw bytes (zh_rawhttp).
raw () {
    _r_out=$("$ZH_BIN/zh_rawhttp" "$ZH_ING_PORT" "$RAW_TIMEOUT" "$ZH_TMP/raw.resp") ||
        zh_fail "$2: no response ($_r_out)"
    _r_code=${_r_out% *}
    _r_ms=${_r_out#* }
    zh_assert_le "$_r_ms" "$((5000 * ZH_SCALE))" "$2: answered within the deadlines (ms)"
    sed -n '1,/^\r$/p' "$ZH_TMP/raw.resp" | tr -d '\r' >"$ZH_TMP/raw.hdr"
    sed '1,/^\r$/d' "$ZH_TMP/raw.resp" >"$ZH_TMP/raw.body"
    check_problem "$2" "$_r_code" "$1" "$ZH_TMP/raw.hdr" "$ZH_TMP/raw.body"
}

BEFORE=$(status_counts)
zh_log "status before: $BEFORE"
OK_URL="http://127.0.0.1:9/x"

# --- bodies -------------------------------------------------------------------
api 400 "not JSON" POST /v1/messages 'hello'
api 400 "truncated JSON" POST /v1/messages '{"url":"http://x'
api 400 "empty body" POST /v1/messages ''
DEEP=$(printf '%.0s[' $(seq 40))1$(printf '%.0s]' $(seq 40))
api 400 "40 levels of nesting" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":$DEEP}"
DEEP_OBJ=$(printf '%.0s{"a":' $(seq 33))1$(printf '%.0s}' $(seq 33))
api 400 "33 levels of objects" POST /v1/events "{\"topic\":\"a\",\"payload\":$DEEP_OBJ}"
api 400 "duplicate keys" POST /v1/messages "{\"url\":\"$OK_URL\",\"url\":\"$OK_URL\",\"payload\":1}"
printf '{"url":"%s","payload":"\303\050"}' "$OK_URL" >"$ZH_TMP/utf8.json"
api_file 400 "invalid UTF-8" /v1/messages "$ZH_TMP/utf8.json"
printf '{"url":"%s","payload":"\355\240\200"}' "$OK_URL" >"$ZH_TMP/surrogate.json"
api_file 400 "UTF-8 encoded surrogate" /v1/messages "$ZH_TMP/surrogate.json"
api 400 "escaped NUL in a string" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":\"a\\u0000b\"}"
printf '{"url":"%s","payload":"a\000b"}' "$OK_URL" >"$ZH_TMP/nul.json"
api_file 400 "raw NUL byte" /v1/messages "$ZH_TMP/nul.json"
api 400 "huge real number" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"max_attempts\":1e400}"
api 400 "integer beyond 64 bits" POST /v1/messages \
    "{\"url\":\"$OK_URL\",\"payload\":1,\"delay_ms\":99999999999999999999999}"
api 422 "url of the wrong type" POST /v1/messages '{"url":5,"payload":1}'
api 422 "array instead of an object" POST /v1/messages '[]'
api 422 "payload missing" POST /v1/messages "{\"url\":\"$OK_URL\"}"
api 422 "headers of the wrong type" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"headers\":[1]}"
api 422 "CR LF in a header value" POST /v1/messages \
    "{\"url\":\"$OK_URL\",\"payload\":1,\"headers\":{\"X-A\":\"a\\r\\nSet-Cookie: x\"}}"
api 422 "forbidden header Host" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"headers\":{\"Host\":\"evil\"}}"
api 422 "unknown field" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"dealy_ms\":5}"
api 422 "batch not a list" POST /v1/messages/batch '{"messages":{}}'
api 422 "batch of every item invalid" POST /v1/messages/batch '{"messages":[{"url":1},{"payload":2}]}'
api 422 "subscription topic with spaces" POST /v1/subscriptions "{\"topic\":\"a b\",\"url\":\"$OK_URL\"}"
api 422 "event without payload" POST /v1/events '{"topic":"a.b"}'
head -c 300000 /dev/zero | tr '\0' ' ' >"$ZH_TMP/big.json"
api_file 413 "body over ZHOOK_MAX_BODY_BYTES" /v1/messages "$ZH_TMP/big.json"

# --- numbers out of range -----------------------------------------------------
api 422 "max_attempts 0" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"max_attempts\":0}"
api 422 "max_attempts 101" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"max_attempts\":101}"
api 422 "timeout_ms 99" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"timeout_ms\":99}"
api 422 "negative delay_ms" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"delay_ms\":-1}"
api 422 "delay_ms of ten years" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"delay_ms\":315360000000}"
api 422 "deliver_at not a time" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"deliver_at\":\"tomorrow\"}"
api 422 "rate_limit 100000" POST /v1/subscriptions "{\"topic\":\"a\",\"url\":\"$OK_URL\",\"rate_limit\":100000}"
api 422 "limit 0" GET '/v1/dead-letters?limit=0'
api 422 "limit 1001" GET '/v1/dead-letters?limit=1001'
api 422 "limit not a number" GET '/v1/dead-letters?limit=1e3'

# --- headers (raw bytes) --------------------------------------------------------
B='{"url":"http://127.0.0.1:9/x","payload":1}'
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n' \
    ${#B} ${#B} "$B" | raw 400 "Content-Length and Transfer-Encoding"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n%s' \
    ${#B} ${#B} "$B" | raw 400 "Content-Length twice"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %dabc\r\n\r\n%s' \
    ${#B} "$B" | raw 400 "Content-Length 10abc"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n%s' \
    "$B" | raw '400|411' "negative Content-Length"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' \
    ${#B} "$B" | raw 415 "Content-Type text/plain"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s' ${#B} "$B" |
    raw 415 "no Content-Type"
{
    printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: '
    head -c 20000 /dev/zero | tr '\0' a
    printf '\r\n\r\n'
} | raw '400|413|431' "20 KB header"
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Evil: a\rSet-Cookie: x=1\r\n\r\n' |
    raw 400 "bare CR in a header value"
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Evil: a\001b\r\n\r\n' | raw 400 "control byte in a header value"
printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n' | raw 400 "Host twice"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' \
    ${#B} "$B" | raw 400 "Content-Type twice"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n' |
    raw 400 "Transfer-Encoding gzip"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n%s\r\n0\r\n\r\n' \
    "$B" | raw 400 "malformed chunk size"
{
    printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'
    for _i in $(seq 40); do
        printf '2000\r\n'
        head -c 8192 /dev/zero | tr '\0' ' '
        printf '\r\n'
    done
    printf '0\r\n\r\n'
} | raw 413 "chunked body over ZHOOK_MAX_BODY_BYTES"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"url":' |
    raw 408 "body shorter than its Content-Length (body deadline)"
printf 'GARBAGE\r\n\r\n' | raw 400 "not a request line"

# --- encodings ------------------------------------------------------------------
printf '%s' "$B" | gzip -c >"$ZH_TMP/body.gz"
api_file 415 "gzip body (Content-Encoding: gzip)" /v1/messages "$ZH_TMP/body.gz" -H 'Content-Encoding: gzip'
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s' \
    ${#B} "$B" | raw 415 "form-encoded body"

# --- methods --------------------------------------------------------------------
printf 'TRACE /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n' | raw '400|405|501' "TRACE"
printf 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n' | raw '400|404|405' "CONNECT"
printf 'FOO /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n' | raw '400|405' "unknown method"
api 405 "PUT on POST /v1/messages" PUT /v1/messages "$B"
api 405 "DELETE on /v1/messages" DELETE /v1/messages
api 405 "POST on GET /v1/status" POST /v1/status '{}'
api 405 "PATCH on a message" PATCH /v1/messages/msg_01JD0000000000000000000001 '{}'
grep -qi '^Allow: GET, DELETE' "$ZH_TMP/resp.hdr" || zh_fail "405 without Allow"

# --- ids ------------------------------------------------------------------------
api 404 "malformed id" GET /v1/messages/not-an-id
api 404 "wrong prefix" GET /v1/messages/sub_01JD0000000000000000000001
api 404 "event id of a message" GET /v1/events/msg_01JD0000000000000000000001
LONG=$(head -c 10000 /dev/zero | tr '\0' a)
api 404 "10k-character id" GET "/v1/messages/msg_$LONG"
api_nobody 404 "path traversal" GET '/v1/messages/../../../etc/passwd' --path-as-is
api_nobody 404 "encoded path traversal" GET '/v1/messages/..%2f..%2fetc%2fpasswd' --path-as-is
api_nobody 404 "traversal to a real route" GET '/v1/messages/msg_01JD0000000000000000000001/../../../status' --path-as-is
api 404 "replay of a malformed id" POST '/v1/dead-letters/x%00y/replay' '{}'
api 404 "unknown path" GET /v2/messages
api 422 "PATCH with no field" PATCH /v1/subscriptions/sub_01JD0000000000000000000001 '{}'

zh_log "$CASES malformed or hostile requests answered with a 4xx problem"
zh_assert_ge "$CASES" 40 "cases"

AFTER=$(status_counts)
zh_assert_eq "$AFTER" "$BEFORE" "GET /v1/status counts after the hostile requests"
for p in scheduler deliverer_a ingress; do
    zh_alive "$(zh_pid "$p")" || zh_fail "$p is not running any more"
done
zh_api GET /ready
zh_assert_eq "$ZH_STATUS" 200 "ingress ready afterwards"
REJ=$(zh_metric "$ZH_API" zhook_ingress_rejected_requests_total) || zh_fail "no rejected metric"
zh_assert_ge "$REJ" 15 "zhook_ingress_rejected_requests_total"
zh_submit "{\"url\":\"$OK_URL\",\"payload\":{\"still\":\"works\"},\"delay_ms\":600000}"
zh_pass "$CASES malformed requests: each a 4xx problem+json, nothing scheduled, every process up, a valid submission still accepted"
