#!/bin/sh
# t_headers.sh — response hygiene and CORS through real HTTP: the security
# headers on successes and on every kind of error (401, 404, 405, 413, 415,
# 400, 422 and civetweb's own parser errors), HSTS only when the request
# came over TLS at a trusted proxy, CORS for listed origins only, and
# preflights answered (204) or refused (403 without CORS headers).
. "$(dirname "$0")/lib.sh"

zh_setup
KEY=test-key-$$
zh_api_keys "$ZH_TMP/api_keys" "acme=$KEY"
ORIGIN=https://app.example.com
ZH_ING_ENV="${ZH_ING_ENV:-} ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$ZH_TMP/api_keys \
ZHOOK_CORS_ORIGINS=$ORIGIN,http://localhost:3000 ZHOOK_TRUSTED_PROXIES=127.0.0.1"
zh_start_pipeline a
ZH_API_KEY=$KEY

# req METHOD PATH [curl args]: like zh_api, without a body.
req () {
    _q_m=$1
    _q_p=$2
    shift 2
    if [ -n "${ZH_API_KEY:-}" ]; then
        set -- -H "Authorization: Bearer $ZH_API_KEY" "$@"
    fi
    ZH_STATUS=$(curl -sS --max-time $((15 * ZH_SCALE)) -o "$ZH_TMP/resp.body" \
        -D "$ZH_TMP/resp.hdr" -w '%{http_code}' -X "$_q_m" "$@" "$ZH_API$_q_p")
}

# hdr FILE NAME: value of a header in a saved header block.
hdr () {
    grep -i "^$2:" "$1" | head -1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'
}

# call STATUS WHAT METHOD PATH [BODY [curl args]]
call () {
    _c_exp=$1
    _c_what=$2
    shift 2
    zh_api "$@"
    zh_assert_eq "$ZH_STATUS" "$_c_exp" "$_c_what ($(zh_resp))"
    zh_assert_security_headers "$ZH_TMP/resp.hdr" "$_c_what"
    [ -z "$(zh_header Strict-Transport-Security)" ] || zh_fail "$_c_what: HSTS over plain HTTP"
}

# raw STATUS WHAT < request: civetweb-level errors.
raw () {
    _r_out=$("$ZH_BIN/zh_rawhttp" "$ZH_ING_PORT" $((5000 * ZH_SCALE)) "$ZH_TMP/raw.resp") ||
        zh_fail "$2: no response"
    zh_assert_eq "${_r_out% *}" "$1" "$2"
    sed -n '1,/^\r$/p' "$ZH_TMP/raw.resp" | tr -d '\r' >"$ZH_TMP/raw.hdr"
    zh_assert_security_headers "$ZH_TMP/raw.hdr" "$2"
    grep -qi '^Content-Type: application/problem+json' "$ZH_TMP/raw.hdr" ||
        zh_fail "$2: not problem+json"
}

# --- security headers, successes and errors alike ---------------------------
OK_URL="http://127.0.0.1:9/x"
call 200 "GET /live" GET /live
call 200 "GET /v1/status" GET /v1/status
call 202 "POST /v1/messages" POST /v1/messages "{\"url\":\"$OK_URL\",\"payload\":1,\"delay_ms\":600000}"
MSG_ID=$(zh_body id)
call 200 "GET /v1/messages/{id}" GET "/v1/messages/$MSG_ID"
call 200 "GET /metrics" GET /metrics
ZH_API_KEY="" call 401 "401 without a key" GET /v1/status
call 404 "404 unknown path" GET /nope
call 404 "404 unknown message" GET /v1/messages/msg_01JD0000000000000000000001
call 405 "405" PUT /v1/messages '{}'
[ "$(zh_header Allow)" = POST ] || zh_fail "405 without Allow: POST"
head -c 300000 /dev/zero | tr '\0' ' ' >"$ZH_TMP/big.json"
call 413 "413" POST /v1/messages "@$ZH_TMP/big.json"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}' \
    "$KEY" | raw 415 "415"
call 400 "400 malformed JSON" POST /v1/messages '{'
call 422 "422 validation" POST /v1/messages '{"url":1}'
printf 'GARBAGE\r\n\r\n' | raw 400 "civetweb: unparsable request line"
printf 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n' |
    raw 400 "civetweb: Transfer-Encoding it refuses"
{
    printf 'GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: '
    head -c 20000 /dev/zero | tr '\0' a
    printf '\r\n\r\n'
} | raw 400 "civetweb: headers over max_request_size"
zh_pass "security headers on 200/202/401/404/405/413/415/400/422 and civetweb's own errors"

# --- HSTS: only for TLS proven by a trusted proxy -----------------------------
req GET /live -H 'X-Forwarded-Proto: https'
zh_assert_match "$(zh_header Strict-Transport-Security)" '^max-age=[0-9]+' \
    "HSTS when a trusted proxy says https"
req GET /nope -H 'X-Forwarded-Proto: https'
zh_assert_eq "$ZH_STATUS" 404 "404 over https"
zh_assert_match "$(zh_header Strict-Transport-Security)" '^max-age=' "HSTS on an error too"
req GET /live -H 'X-Forwarded-Proto: http'
zh_assert_eq "$(zh_header Strict-Transport-Security)" "" "no HSTS when the proxy says http"
zh_pass "HSTS only when X-Forwarded-Proto: https comes from a trusted proxy"

# --- CORS: ordinary requests ---------------------------------------------------
req GET /v1/status -H "Origin: $ORIGIN"
zh_assert_eq "$ZH_STATUS" 200 "GET with an allowed Origin"
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "$ORIGIN" "Allow-Origin echoes the listed origin"
zh_assert_match "$(zh_header Vary)" 'Origin' "Vary: Origin"
zh_assert_match "$(zh_header Access-Control-Expose-Headers)" 'X-Request-Id.*Location.*Retry-After.*RateLimit-Limit' \
    "exposed headers"
ZH_API_KEY="" req GET /v1/status -H "Origin: $ORIGIN"
zh_assert_eq "$ZH_STATUS" 401 "401 with an allowed Origin"
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "$ORIGIN" "a page may read the error"
req GET /v1/status -H 'Origin: https://evil.example.com'
zh_assert_eq "$ZH_STATUS" 200 "GET with another Origin (the browser, not the server, blocks it)"
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "" "no Allow-Origin for an origin not listed"
zh_assert_eq "$(grep -ci '^Access-Control-' "$ZH_TMP/resp.hdr")" 0 "no CORS header at all for it"
req GET /v1/status -H 'Origin: https://app.example.com.evil.com'
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "" "suffix of a listed origin"
zh_api GET /v1/status
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "" "no Allow-Origin without Origin"
zh_pass "CORS: listed origins get Allow-Origin and Vary, others nothing"

# --- CORS: preflights (no API key needed) ---------------------------------------
# preflight STATUS WHAT PATH ORIGIN METHOD [HEADERS]
preflight () {
    set -- "$1" "$2" "$3" "$4" "$5" "${6:-}"
    _p_args="-H Origin:$4 -H Access-Control-Request-Method:$5"
    if [ -n "$6" ]; then
        ZH_API_KEY="" req OPTIONS "$3" -H "Origin: $4" -H "Access-Control-Request-Method: $5" \
            -H "Access-Control-Request-Headers: $6"
    else
        ZH_API_KEY="" req OPTIONS "$3" -H "Origin: $4" -H "Access-Control-Request-Method: $5"
    fi
    zh_assert_eq "$ZH_STATUS" "$1" "$2 ($(zh_resp))"
    zh_assert_security_headers "$ZH_TMP/resp.hdr" "$2"
}
preflight 204 "preflight POST /v1/messages" /v1/messages "$ORIGIN" POST \
    'content-type, authorization, idempotency-key'
zh_assert_eq "$(zh_header Access-Control-Allow-Origin)" "$ORIGIN" "preflight Allow-Origin"
zh_assert_eq "$(zh_header Access-Control-Allow-Methods)" POST "preflight Allow-Methods"
zh_assert_match "$(zh_header Access-Control-Allow-Headers)" 'Authorization.*Content-Type.*Idempotency-Key' \
    "preflight Allow-Headers"
zh_assert_match "$(zh_header Access-Control-Max-Age)" '^[0-9]+$' "preflight Max-Age"
zh_assert_match "$(zh_header Vary)" 'Origin' "preflight Vary"
[ ! -s "$ZH_TMP/resp.body" ] || zh_fail "204 with a body"
preflight 204 "preflight DELETE /v1/subscriptions/{id}" /v1/subscriptions/sub_01JD0000000000000000000001 \
    http://localhost:3000 DELETE
zh_assert_eq "$(zh_header Access-Control-Allow-Methods)" "GET, PATCH, DELETE" "methods of the subscription route"
for args in "origin not listed|/v1/messages|https://evil.example.com|POST|" \
    "method not allowed on the route|/v1/messages|$ORIGIN|DELETE|" \
    "header not allowed|/v1/messages|$ORIGIN|POST|x-secret" \
    "cookie header|/v1/status|$ORIGIN|GET|cookie" \
    "origin null|/v1/messages|null|POST|"; do
    IFS='|' read -r what path origin method headers <<EOT
$args
EOT
    preflight 403 "preflight refused: $what" "$path" "$origin" "$method" "$headers"
    grep -qi '^Content-Type: application/problem+json' "$ZH_TMP/resp.hdr" ||
        zh_fail "403 preflight not problem+json"
    zh_assert_eq "$(grep -ci '^Access-Control-' "$ZH_TMP/resp.hdr")" 0 \
        "no CORS headers on a refused preflight ($what)"
done
preflight 404 "preflight to an unknown path" /nope "$ORIGIN" GET
ZH_API_KEY="" req OPTIONS /v1/messages
zh_assert_eq "$ZH_STATUS" 204 "plain OPTIONS"
zh_assert_eq "$(zh_header Allow)" POST "plain OPTIONS lists the methods"
zh_pass "preflights: 204 with methods/headers/max-age for listed origins, 403 without CORS headers otherwise"
