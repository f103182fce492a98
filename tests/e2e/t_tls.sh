#!/bin/sh
# t_tls.sh — TLS in front of the ingress: compose/nginx/zhook.conf.template
# rendered for this test (free port, certificate made here, upstream = the
# test's ingress, pid and temp paths in the temp dir), checked with nginx -t,
# run in the foreground as the current user and stopped by its PID. Through
# it: a real HTTPS submission gets 202 and is delivered, X-Request-Id reaches
# the ingress, HSTS (once) on the proxied answer, plain HTTP to the TLS port
# is refused, TLS 1.0/1.1 are refused (the client is allowed to offer them,
# and TLS 1.2/1.3 work with the same client), HTTP/2 is negotiated, JSON
# lists come back gzip-compressed, a body over 256k is refused by nginx with
# 413 problem+json, no version in Server, and the access log is JSON lines on
# stdout. nginx's own answers (413, 400 for a garbage request line, 429 of
# both limits, 503 with the ingress stopped) are problem+json with nosniff,
# no-store, DENY, CSP, no-referrer and HSTS. A second nginx with tiny limits
# shows limit_conn and limit_req per client IP. A delivery to nginx's
# self-signed https URL fails TLS verification in the deliverer (attempts
# with error "tls", dead, nothing reaches nginx).
#
# Needs nginx (Debian nginx-light: make test installs DEB_TEST_PKGS) and the
# openssl command line; nothing is installed here.
. "$(dirname "$0")/lib.sh"

TEMPLATE=$ZH_ROOT/compose/nginx/zhook.conf.template
RENDER=$ZH_ROOT/compose/nginx/render.sh

command -v nginx >/dev/null 2>&1 || {
    echo "[t_tls] FAIL: nginx is not installed (apt-get install nginx-light; make test does)" >&2
    exit 1
}
command -v openssl >/dev/null 2>&1 || {
    echo "[t_tls] FAIL: the openssl command is not installed" >&2
    exit 1
}

zh_setup
TLS_PORT=$(zh_free_ports 1) || zh_fail "zh_free_ports"
NGX=$ZH_TMP/nginx
mkdir -p "$NGX"
CERT=$NGX/tls.crt
KEY=$NGX/tls.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$KEY" -out "$CERT" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$ZH_TMP/openssl.log" 2>&1 ||
    zh_fail "cannot make a self-signed certificate: $(cat "$ZH_TMP/openssl.log")"

# --- the pipeline, then nginx in front of its ingress -------------------------------
ZH_ING_ENV="$ZH_ING_ENV ZHOOK_TRUSTED_PROXIES=127.0.0.1/32"
zh_start_receiver
zh_start_pipeline a

CONF=$NGX/zhook.conf
ZHOOK_NGINX_LISTEN=127.0.0.1:$TLS_PORT ZHOOK_NGINX_UPSTREAM=127.0.0.1:$ZH_ING_PORT \
    ZHOOK_NGINX_CERT=$CERT ZHOOK_NGINX_KEY=$KEY ZHOOK_NGINX_RUN_DIR=$NGX \
    sh "$RENDER" "$TEMPLATE" >"$CONF" || zh_fail "render.sh failed"
grep -q "server 127.0.0.1:$ZH_ING_PORT " "$CONF" || zh_fail "upstream not rendered into $CONF"
# As root the workers would become "nobody" and could not enter the private
# temp dir: run them as the current user, as a non-root nginx does anyway.
GLOBAL="daemon off;"
[ "$(id -u)" = 0 ] && GLOBAL="$GLOBAL user $(id -un) $(id -gn);"
nginx -e stderr -p "$NGX" -c "$CONF" -g "$GLOBAL" -t >"$ZH_TMP/nginx-t.log" 2>&1 ||
    zh_fail "nginx -t refused the rendered config: $(cat "$ZH_TMP/nginx-t.log")"
grep -q 'test is successful' "$ZH_TMP/nginx-t.log" || zh_fail "nginx -t: $(cat "$ZH_TMP/nginx-t.log")"
zh_pass "rendered config passes nginx -t"

# access log (stdout) and error log (stderr) in two files: nginx reopens
# /dev/stdout with its own offset, so one shared file would be overwritten
nginx -e stderr -p "$NGX" -c "$CONF" -g "$GLOBAL" >"$ZH_TMP/nginx.log" 2>"$ZH_TMP/nginx-error.log" &
zh_register nginx $!
TLS=https://127.0.0.1:$TLS_PORT
tls_code () {
    curl -s -o /dev/null --max-time 2 --cacert "$CERT" -w '%{http_code}' "$@"
}
zh_wait_until 5000 "[ \"\$(tls_code $TLS/ready)\" = 200 ]" ||
    zh_fail "nginx did not proxy /ready within the deadline: $(tail -5 "$ZH_TMP/nginx-error.log")"

# tls METHOD PATH [curl args]: over TLS, certificate verified; ZH_STATUS, body, headers
tls () {
    _t_m=$1
    _t_p=$2
    shift 2
    ZH_STATUS=$(curl -sS --max-time $((10 * ZH_SCALE)) --cacert "$CERT" -o "$ZH_TMP/resp.body" \
        -D "$ZH_TMP/resp.hdr" -w '%{http_code}' -X "$_t_m" "$@" "$TLS$_t_p")
}

# --- a real submission through TLS, delivered ---------------------------------------
tls POST /v1/messages -H 'Content-Type: application/json' -H 'X-Request-Id: tls-req-1' \
    --data-binary "{\"url\":\"$ZH_RCV/tls\",\"payload\":{\"via\":\"nginx\"}}"
zh_assert_eq "$ZH_STATUS" 202 "POST /v1/messages through nginx ($(zh_resp))"
MSG=$(zh_body id)
zh_assert_match "$MSG" '^msg_' "message id"
zh_assert_eq "$(zh_header Location)" "/v1/messages/$MSG" "Location through nginx"
zh_assert_eq "$(zh_header X-Request-Id)" tls-req-1 "X-Request-Id through nginx"
zh_assert_eq "$(zh_header Server)" nginx "Server header (no version)"
zh_wait_until 5000 "[ \$(zh_rcv_count $MSG) -ge 1 ]" || zh_fail "message $MSG sent through TLS never arrived"
zh_wait_until 3000 "tls GET /v1/messages/$MSG; [ \"\$(zh_body status)\" = delivered ]" ||
    zh_fail "GET through TLS: $ZH_STATUS $(zh_resp)"
grep '"request_id":"tls-req-1"' "$ZH_TMP/ingress.log" | grep -q '"status":202' ||
    zh_fail "the ingress did not log request tls-req-1 (X-Request-Id not passed on?)"
# HSTS on a proxied answer: added by the ingress (it trusts this proxy and
# sees X-Forwarded-Proto: https), exactly once (nginx adds none of its own)
zh_assert_eq "$(zh_header Strict-Transport-Security)" "max-age=31536000; includeSubDomains" \
    "HSTS on the proxied 202"
zh_assert_eq "$(grep -ci '^Strict-Transport-Security:' "$ZH_TMP/resp.hdr")" 1 "HSTS headers on the proxied 202"
zh_pass "HTTPS POST through nginx: 202, Location, X-Request-Id end to end, HSTS, delivered"

# --- the access log: JSON lines on stdout, no query strings ----------------------------
tls GET "/v1/dead-letters?limit=5&after=secret-in-query"
zh_assert_match "$ZH_STATUS" '^4[0-9][0-9]$' "dead letters with a bogus cursor through nginx"
zh_wait_until 2000 "grep -q '\"request_id\":\"tls-req-1\"' '$ZH_TMP/nginx.log'" ||
    zh_fail "no access log line for tls-req-1: $(tail -3 "$ZH_TMP/nginx.log")"
grep '"stage":"nginx"' "$ZH_TMP/nginx.log" >"$ZH_TMP/access.jsonl"
[ "$(wc -l <"$ZH_TMP/access.jsonl")" -ge 3 ] || zh_fail "access log lines: $(cat "$ZH_TMP/nginx.log")"
while IFS= read -r line; do
    printf '%s\n' "$line" >"$ZH_TMP/line.json"
    "$ZH_BIN/zh_json" status "$ZH_TMP/line.json" >/dev/null ||
        zh_fail "access log line is not JSON: $line"
done <"$ZH_TMP/access.jsonl"
line=$(grep '"request_id":"tls-req-1"' "$ZH_TMP/access.jsonl" | head -1)
printf '%s\n' "$line" >"$ZH_TMP/line.json"
zh_assert_eq "$("$ZH_BIN/zh_json" status "$ZH_TMP/line.json")" 202 "status in the access log"
zh_assert_eq "$("$ZH_BIN/zh_json" upstream_status "$ZH_TMP/line.json")" 202 "upstream status in the access log"
zh_assert_match "$("$ZH_BIN/zh_json" tls "$ZH_TMP/line.json")" '^TLSv1\.[23]$' "TLS version in the access log"
grep -q 'secret-in-query' "$ZH_TMP/nginx.log" && zh_fail "a query string reached the access log"
zh_pass "access log: JSON lines on stdout, status and TLS version, no query strings"

# --- refusals: plain HTTP, old TLS ----------------------------------------------------------
code=$(curl -s --max-time 5 -o "$ZH_TMP/plain.body" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary "{\"url\":\"$ZH_RCV/plain\",\"payload\":1}" \
    "http://127.0.0.1:$TLS_PORT/v1/messages")
zh_assert_eq "$code" 400 "plain HTTP to the TLS port"
grep -q 'problems/malformed-request' "$ZH_TMP/plain.body" || zh_fail "plain HTTP answer: $(cat "$ZH_TMP/plain.body")"
zh_assert_eq "$(zh_rcv_path_count /plain)" 0 "deliveries of the plain-HTTP submission"

# the client may offer old versions (SECLEVEL=0): a refusal is the server's
OLD="--ciphers DEFAULT@SECLEVEL=0"
# shellcheck disable=SC2086
if curl -s -o /dev/null --max-time 5 --cacert "$CERT" $OLD --tlsv1.1 --tls-max 1.1 "$TLS/live"; then
    zh_fail "a TLS 1.1 handshake succeeded"
fi
# shellcheck disable=SC2086
if curl -s -o /dev/null --max-time 5 --cacert "$CERT" $OLD --tlsv1.0 --tls-max 1.0 "$TLS/live"; then
    zh_fail "a TLS 1.0 handshake succeeded"
fi
# shellcheck disable=SC2086
zh_assert_eq "$(tls_code $OLD --tlsv1.2 --tls-max 1.2 "$TLS/live")" 200 "TLS 1.2 with the same client"
zh_assert_eq "$(tls_code --tlsv1.3 "$TLS/live")" 200 "TLS 1.3"
zh_pass "plain HTTP refused (400 problem+json, nothing scheduled), TLS 1.0/1.1 refused, TLS 1.2/1.3 accepted"

# --- HTTP/2, gzip, body limit ---------------------------------------------------------------
v=$(curl -s -o /dev/null --max-time 5 --cacert "$CERT" --http2 -w '%{http_version}' "$TLS/live")
zh_assert_eq "$v" 2 "HTTP version negotiated with --http2"
v=$(curl -s -o /dev/null --max-time 5 --cacert "$CERT" --http1.1 -w '%{http_version}' "$TLS/live")
zh_assert_eq "$v" 1.1 "HTTP/1.1 still served"

for i in 1 2 3 4 5; do
    tls POST /v1/subscriptions -H 'Content-Type: application/json' \
        --data-binary "{\"topic\":\"tls.gzip\",\"url\":\"$ZH_RCV/sub$i\",\"description\":\"subscription $i of the gzip check\"}"
    zh_assert_eq "$ZH_STATUS" 201 "create subscription $i through TLS ($(zh_resp))"
done
tls GET '/v1/subscriptions?topic=tls.gzip' -H 'Accept-Encoding: gzip' --http2
zh_assert_eq "$ZH_STATUS" 200 "list subscriptions through TLS"
zh_assert_eq "$(zh_header Content-Encoding)" gzip "Content-Encoding of a JSON list"
zh_assert_match "$(zh_header Vary)" 'Accept-Encoding' "Vary of a compressed answer"
gzip -dc "$ZH_TMP/resp.body" >"$ZH_TMP/list.json" || zh_fail "the gzip body does not decompress"
zh_assert_eq "$("$ZH_BIN/zh_json" items.# "$ZH_TMP/list.json")" 5 "items in the decompressed list"
tls GET /v1/subscriptions?topic=tls.gzip
zh_assert_eq "$(zh_header Content-Encoding)" "" "Content-Encoding without Accept-Encoding"

head -c 300000 /dev/zero | tr '\0' a >"$ZH_TMP/big.txt"
{
    printf '{"url":"%s/big","payload":"' "$ZH_RCV"
    cat "$ZH_TMP/big.txt"
    printf '"}'
} >"$ZH_TMP/big.json"
tls POST /v1/messages -H 'Content-Type: application/json' --data-binary "@$ZH_TMP/big.json"
zh_assert_eq "$ZH_STATUS" 413 "a 300 kB body through nginx"
zh_assert_match "$(zh_header Content-Type)" '^application/problem\+json' "413 content type"
zh_assert_eq "$(zh_body status)" 413 "413 problem status"
zh_assert_eq "$(zh_body type)" "https://zhook.dev/problems/body-too-large" "413 problem type"
zh_pass "HTTP/2 negotiated, gzip on JSON lists (with Vary), 413 problem+json over 256k"

# security_headers WHAT: the headers every ingress answer has, and HSTS, on
# the last response (nginx's own error answers must carry them too)
security_headers () {
    zh_assert_eq "$(zh_header X-Content-Type-Options)" nosniff "$1: X-Content-Type-Options"
    zh_assert_eq "$(zh_header Cache-Control)" no-store "$1: Cache-Control"
    zh_assert_eq "$(zh_header X-Frame-Options)" DENY "$1: X-Frame-Options"
    zh_assert_eq "$(zh_header Content-Security-Policy)" "default-src 'none'" "$1: Content-Security-Policy"
    zh_assert_eq "$(zh_header Referrer-Policy)" no-referrer "$1: Referrer-Policy"
    zh_assert_eq "$(zh_header Strict-Transport-Security)" "max-age=31536000; includeSubDomains" "$1: HSTS"
    zh_assert_match "$(zh_header X-Request-Id)" '^[0-9A-Za-z._-]+$' "$1: X-Request-Id"
}
security_headers "nginx's 413"
grep '"status":413' "$ZH_TMP/nginx.log" | grep -q '"path":"/v1/messages"' ||
    zh_fail "the access log line of the 413 does not name the path the client asked for"
# a request line nginx cannot parse (raw, over TLS): 400 problem+json, same headers
printf 'GARBAGE\r\n\r\n' | openssl s_client -quiet -connect "127.0.0.1:$TLS_PORT" \
    >"$ZH_TMP/garbage.out" 2>/dev/null
tr -d '\r' <"$ZH_TMP/garbage.out" | sed -n '1p' | grep -q '^HTTP/1.1 400 ' ||
    zh_fail "a garbage request line over TLS: $(head -3 "$ZH_TMP/garbage.out")"
sed '/^\r*$/q' "$ZH_TMP/garbage.out" >"$ZH_TMP/resp.hdr"
sed '1,/^\r*$/d' "$ZH_TMP/garbage.out" >"$ZH_TMP/resp.body"
zh_assert_eq "$(zh_body type)" "https://zhook.dev/problems/malformed-request" "garbage request line: problem type"
security_headers "nginx's 400 for a garbage request line"
zh_pass "nginx's own 413 and 400 are problem+json with nosniff, no-store, DENY, CSP, no-referrer, HSTS"

# --- TLS verification in the deliverer ------------------------------------------------------
# nginx's certificate is self-signed: a delivery to it must fail the handshake
# (attempt error "tls"), never reach nginx, and end dead. The deliverer runs
# with ZHOOK_ALLOW_PRIVATE_TARGETS=1 (lib.sh), so only TLS stands in the way.
tls POST /v1/messages -H 'Content-Type: application/json' \
    --data-binary "{\"url\":\"https://127.0.0.1:$TLS_PORT/v1/self-signed-target\",\"payload\":{\"tls\":1},\"max_attempts\":2}"
zh_assert_eq "$ZH_STATUS" 202 "submission to the self-signed https URL ($(zh_resp))"
SELF=$(zh_body id)
zh_wait_until 10000 "tls GET /v1/messages/$SELF; [ \"\$(zh_body status)\" = dead ]" ||
    zh_fail "the delivery to the self-signed URL did not end dead: $ZH_STATUS $(zh_resp)"
zh_assert_eq "$(zh_body attempts.#)" 2 "attempts of the self-signed delivery"
zh_assert_eq "$(zh_body attempts.0.error)" tls "error of attempt 1"
zh_assert_eq "$(zh_body attempts.1.error)" tls "error of attempt 2"
grep -q 'self-signed-target' "$ZH_TMP/nginx.log" &&
    zh_fail "a delivery passed certificate verification and reached nginx"
zh_pass "TLS verification is on in the deliverer: self-signed target -> 2 attempts with error tls, dead, nothing sent"

# --- per-client-IP limits (limit_conn, limit_req) ---------------------------------------------------
# A second nginx from the same template with tiny limits: 1 request in
# progress per IP, 2 requests/s with a burst of 10.
LIM_PORT=$(zh_free_ports 1) || zh_fail "zh_free_ports"
LIM=$ZH_TMP/nginx-limits
mkdir -p "$LIM"
ZHOOK_NGINX_LISTEN=127.0.0.1:$LIM_PORT ZHOOK_NGINX_UPSTREAM=127.0.0.1:$ZH_ING_PORT \
    ZHOOK_NGINX_CERT=$CERT ZHOOK_NGINX_KEY=$KEY ZHOOK_NGINX_RUN_DIR=$LIM \
    ZHOOK_NGINX_CONN_PER_IP=1 ZHOOK_NGINX_REQ_RATE=2 ZHOOK_NGINX_REQ_BURST=10 \
    sh "$RENDER" "$TEMPLATE" >"$LIM/zhook.conf" || zh_fail "render.sh with limits failed"
nginx -e stderr -p "$LIM" -c "$LIM/zhook.conf" -g "$GLOBAL" >"$ZH_TMP/nginx-limits.log" \
    2>"$ZH_TMP/nginx-limits-error.log" &
zh_register nginx_limits $!
LIMU=https://127.0.0.1:$LIM_PORT
# lim PATH [curl args]: GET through the nginx with limits; ZH_STATUS, body, headers
lim () {
    _l_p=$1
    shift
    ZH_STATUS=$(curl -s --max-time 5 --cacert "$CERT" -o "$ZH_TMP/resp.body" -D "$ZH_TMP/resp.hdr" \
        -w '%{http_code}' "$@" "$LIMU$_l_p")
}
zh_wait_until 5000 "lim /live; [ \"\$ZH_STATUS\" = 200 ]" ||
    zh_fail "the nginx with limits did not come up: $(tail -5 "$ZH_TMP/nginx-limits-error.log")"

# limit_conn: one request held in progress (its body trickles at 2 kB/s,
# about 10 s), then others from the same address are refused meanwhile. The
# burst of 10 leaves room for the polls made before the slow one is in.
head -c 20000 /dev/zero | tr '\0' a >"$ZH_TMP/slow.body"
curl -s -o /dev/null --max-time 30 --cacert "$CERT" --http1.1 --limit-rate 2k \
    -H 'Content-Type: application/json' --data-binary "@$ZH_TMP/slow.body" "$LIMU/v1/messages" &
zh_register slow_client $!
zh_wait_until 5000 "lim /live; [ \"\$ZH_STATUS\" = 429 ]" ||
    zh_fail "a request during a slow one was not refused: $ZH_STATUS"
grep -q 'limiting connections by zone "zhook_conn"' "$ZH_TMP/nginx-limits-error.log" ||
    zh_fail "the 429 was not limit_conn's: $(tail -3 "$ZH_TMP/nginx-limits-error.log")"
zh_assert_eq "$(zh_body type)" "https://zhook.dev/problems/rate-limited" "429 problem type"
zh_assert_eq "$(zh_header Retry-After)" 1 "Retry-After of nginx's 429"
security_headers "nginx's 429 (limit_conn)"
zh_stop slow_client 2000

# limit_req: once a request passes again, 20 quick ones: the burst passes,
# the rest is refused
zh_wait_until 5000 "lim /live; [ \"\$ZH_STATUS\" = 200 ]" ||
    zh_fail "the nginx with limits still refuses after the slow client left: $ZH_STATUS"
# the polls above may have used the whole burst (and that 200 the token
# that had just come back): 0.6 s gives the bucket (2/s) at least one
# more, so the first quick request is certainly within it
sleep 0.6
codes=""
i=0
while [ $i -lt 20 ]; do
    lim /live
    codes="$codes $ZH_STATUS"
    i=$((i + 1))
done
ok=$(echo "$codes" | tr ' ' '\n' | grep -c '^200$')
limited=$(echo "$codes" | tr ' ' '\n' | grep -c '^429$')
zh_assert_eq "$((ok + limited))" 20 "20 quick requests are 200 or 429 ($codes)"
zh_assert_ge "$ok" 1 "requests within the burst ($codes)"
zh_assert_ge "$limited" 5 "requests over 2/s + burst 10 ($codes)"
grep -q 'limiting requests, excess: .* by zone "zhook_req"' "$ZH_TMP/nginx-limits-error.log" ||
    zh_fail "no limit_req refusal in the error log: $(tail -3 "$ZH_TMP/nginx-limits-error.log")"
zh_stop nginx_limits 5000
zh_pass "per-IP limits: a request beside one in progress -> 429 (limit_conn); over 2/s + burst 10 -> 429 (limit_req)"

# --- the ingress gone: nginx's own 503 ---------------------------------------------------------
zh_stop ingress 5000
tls GET /v1/status
zh_assert_eq "$ZH_STATUS" 503 "GET through nginx with the ingress stopped"
zh_assert_eq "$(zh_body type)" "https://zhook.dev/problems/scheduler-unavailable" "503 problem type"
zh_assert_eq "$(zh_header Retry-After)" 1 "Retry-After of nginx's 503"
security_headers "nginx's 503"
zh_pass "ingress stopped: nginx answers 503 problem+json with Retry-After and the security headers"

# --- stop nginx by its PID ----------------------------------------------------------------------
zh_stop nginx 5000
zh_assert_eq "$ZH_RC" 0 "nginx exit status after SIGTERM"
zh_pass "nginx stopped by PID within ${ZH_STOP_MS} ms"
