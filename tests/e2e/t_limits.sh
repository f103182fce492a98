#!/bin/sh
# t_limits.sh — rate limits through real HTTP.
#
# Tenant limit (scheduler, ZHOOK_TENANT_RATE=5 ZHOOK_TENANT_BURST=10): two
# ingress replicas hammered at once by one tenant accept at most
# burst + rate x elapsed messages in all; a 429 (tenant, batch or IP)
# carries Retry-After and RateLimit-Limit/-Remaining/-Reset, each once and an
# integer, and the security headers of every response; an accepted submit
# carries RateLimit-* integers too; another tenant is unaffected; a batch counts its
# items (all or none; more than the burst is 422).
# IP limit (ingress, ZHOOK_IP_RATE=1 ZHOOK_IP_BURST=3): 429 after the burst,
# X-Forwarded-For ignored from an untrusted peer and believed (right to left,
# trusted hops skipped) from a ZHOOK_TRUSTED_PROXIES one; /live, /ready and
# /metrics are never limited.
. "$(dirname "$0")/lib.sh"

zh_setup
KA=zk_a_$(openssl rand -hex 16)
KB=zk_b_$(openssl rand -hex 16)
KEYS=$ZH_TMP/api_keys
zh_api_keys "$KEYS" "acme=$KA" "beta=$KB"
RATE=5
BURST=10
ZH_SCH_ENV="ZHOOK_TENANT_RATE=$RATE ZHOOK_TENANT_BURST=$BURST $ZH_SCH_ENV"
ZH_ING_ENV="ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$KEYS $ZH_ING_ENV"
# shellcheck disable=SC2046
set -- $(zh_free_ports 3)
P2=$1
P3=$2
P4=$3
zh_start_receiver
zh_start_pipeline a

# start_ingress NAME PORT [VAR=value...]: another ingress replica.
start_ingress () {
    _si_name=$1
    _si_port=$2
    shift 2
    # shellcheck disable=SC2046
    env ZHOOK_LISTEN="127.0.0.1:$_si_port" \
        ZHOOK_SUBMIT_ENDPOINT="tcp://127.0.0.1:$ZH_SUBMIT_PORT" \
        ZHOOK_PUBLISH_ENDPOINT="tcp://127.0.0.1:$ZH_PUBLISH_PORT" \
        ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE="$KEYS" \
        ZHOOK_ALLOW_PRIVATE_TARGETS=1 \
        ZHOOK_REQUEST_TIMEOUT_MS=2000 \
        ZHOOK_HTTP_THREADS=16 \
        ZHOOK_LOG_LEVEL="${ZH_LOG_LEVEL:-info}" \
        $(zh_curve_env ingress) \
        "$@" \
        "$ZH_BIN/zhook-ingress" >>"$ZH_TMP/$_si_name.log" 2>&1 &
    zh_register "$_si_name" $!
    zh_wait_http "http://127.0.0.1:$_si_port/ready" 200 10000 ||
        zh_fail "ingress $_si_name not ready"
}

start_ingress ing2 "$P2"
API1=$ZH_API
API2=http://127.0.0.1:$P2
BODY="{\"url\":\"$ZH_RCV/later\",\"payload\":{\"k\":1},\"delay_ms\":600000}"

# security HEADERS-FILE WHAT: the five security headers, each once, an
# X-Request-Id, and no HSTS over plain HTTP (as t_headers.sh checks them).
security () {
    zh_assert_security_headers "$1" "$2"
    if grep -qi '^Strict-Transport-Security:' "$1"; then
        zh_fail "$2: HSTS over plain HTTP"
    fi
}

# int_headers HEADERS-FILE WHAT NAME...: each header present exactly once,
# its value a plain non-negative decimal integer (no sign, unit, fraction
# or date).
int_headers () {
    _ih_f=$1
    _ih_what=$2
    shift 2
    for _ih_n in "$@"; do
        zh_assert_eq "$(tr -d '\r' <"$_ih_f" | grep -ci "^$_ih_n:")" 1 "$_ih_what: $_ih_n headers"
        _ih_v=$(grep -i "^$_ih_n:" "$_ih_f" | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r')
        zh_assert_match "$_ih_v" '^(0|[1-9][0-9]*)$' "$_ih_what: $_ih_n is an integer"
    done
}

# hammer BASE KEY OUTFILE END_MS: sequential submits until END_MS; one status per line.
hammer () {
    while [ "$(zh_now_ms)" -lt "$4" ]; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 -X POST \
            -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
            --data-binary "$BODY" "$1/v1/messages" >>"$3"
    done
}

# --- the tenant limit holds across two ingresses ------------------------------------
: >"$ZH_TMP/h1"
: >"$ZH_TMP/h2"
: >"$ZH_TMP/h3"
T0=$(zh_now_ms)
END=$((T0 + 2000 * ZH_SCALE))
hammer "$API1" "$KA" "$ZH_TMP/h1" "$END" &
H1=$!
hammer "$API2" "$KA" "$ZH_TMP/h2" "$END" &
H2=$!
hammer "$API1" "$KA" "$ZH_TMP/h3" "$END" &
H3=$!
wait $H1 $H2 $H3
T1=$(zh_now_ms)
cat "$ZH_TMP/h1" "$ZH_TMP/h2" "$ZH_TMP/h3" >"$ZH_TMP/h.all"
ACCEPTED=$(grep -c '^202$' "$ZH_TMP/h.all")
LIMITED=$(grep -c '^429$' "$ZH_TMP/h.all")
OTHER=$(grep -vc '^202$\|^429$' "$ZH_TMP/h.all")
MAX=$((BURST + RATE * (T1 - T0) / 1000 + 1))
zh_log "tenant limit: $ACCEPTED accepted, $LIMITED refused in $((T1 - T0)) ms (at most $MAX)"
zh_assert_eq "$OTHER" 0 "statuses other than 202/429"
zh_assert_le "$ACCEPTED" "$MAX" "accepted messages across two ingresses"
zh_assert_ge "$ACCEPTED" "$BURST" "accepted messages (the burst at least)"
zh_assert_ge "$(grep -c '^429$' "$ZH_TMP/h2")" 1 "429s at the second ingress"
zh_assert_ge "$(grep -c '^429$' "$ZH_TMP/h1")" 1 "429s at the first ingress"
zh_pass "tenant limit across two ingresses: $ACCEPTED accepted <= $BURST + $RATE x $((T1 - T0)) ms"

# --- what a 429 says ------------------------------------------------------------------------
ZH_API_KEY=$KA
zh_wait_until 3000 "zh_api POST /v1/messages '$BODY'; [ \"\$ZH_STATUS\" = 429 ]" ||
    zh_fail "no 429 for the exhausted tenant"
zh_assert_eq "$(zh_header Content-Type)" application/problem+json "429 content type"
zh_assert_eq "$(zh_body status)" 429 "429 problem status"
zh_assert_match "$(zh_header Retry-After)" '^[1-9][0-9]*$' "Retry-After"
zh_assert_le "$(zh_header Retry-After)" 1 "Retry-After at 5/s"
zh_assert_eq "$(zh_header RateLimit-Limit)" "$BURST" "RateLimit-Limit"
zh_assert_eq "$(zh_header RateLimit-Remaining)" 0 "RateLimit-Remaining"
zh_assert_match "$(zh_header RateLimit-Reset)" '^[1-3]$' "RateLimit-Reset (seconds to full)"
security "$ZH_TMP/resp.hdr" "tenant 429"
int_headers "$ZH_TMP/resp.hdr" "tenant 429" Retry-After RateLimit-Limit RateLimit-Remaining \
    RateLimit-Reset
zh_pass "429: problem+json with the security headers, integer Retry-After $(zh_header Retry-After), RateLimit-Limit $BURST, -Remaining 0, -Reset $(zh_header RateLimit-Reset)"

# --- another tenant is unaffected ------------------------------------------------------------
ZH_API_KEY=$KB
for i in 1 2 3 4 5; do
    zh_api POST /v1/messages "$BODY"
    zh_assert_eq "$ZH_STATUS" 202 "tenant beta's submit $i while acme is limited"
done
zh_assert_eq "$(zh_header RateLimit-Limit)" "$BURST" "RateLimit-Limit on an accepted submit"
zh_assert_match "$(zh_header RateLimit-Remaining)" '^[4-6]$' "RateLimit-Remaining after 5 of 10"
int_headers "$ZH_TMP/resp.hdr" "accepted submit of a limited tenant" RateLimit-Limit \
    RateLimit-Remaining RateLimit-Reset
security "$ZH_TMP/resp.hdr" "accepted submit of a limited tenant"
ZH_API_KEY=$KA
zh_api GET /v1/status
zh_assert_eq "$ZH_STATUS" 200 "reads are not tenant-limited"
zh_pass "another tenant is unaffected (5 accepted), reads are not limited"

# --- a batch counts its items ----------------------------------------------------------------
batch () {
    _b_items=""
    _b_i=0
    while [ "$_b_i" -lt "$1" ]; do
        _b_items="$_b_items${_b_items:+,}$BODY"
        _b_i=$((_b_i + 1))
    done
    echo "{\"messages\":[$_b_items]}"
}
B11=$(batch $((BURST + 1)))
B8=$(batch 8)
B3=$(batch 3)
zh_api POST /v1/messages/batch "$B11"
zh_assert_eq "$ZH_STATUS" 422 "a batch larger than the burst ($(zh_resp))"
zh_wait_until 6000 "zh_api POST /v1/messages/batch '$B8'; [ \"\$ZH_STATUS\" = 202 ]" ||
    zh_fail "a batch of 8 never fit (status $ZH_STATUS: $(zh_resp))"
zh_assert_eq "$(zh_body items.#)" 8 "items of the accepted batch"
zh_api POST /v1/messages/batch "$B3"
zh_assert_eq "$ZH_STATUS" 429 "a batch of 3 right after 8 of 10 ($(zh_resp))"
security "$ZH_TMP/resp.hdr" "batch 429"
int_headers "$ZH_TMP/resp.hdr" "batch 429" Retry-After RateLimit-Limit RateLimit-Remaining \
    RateLimit-Reset
zh_pass "a batch counts its items: 11 > burst is 422, 8 accepted, then 3 refused"

zh_assert_ge "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_rate_limited_total)" "$LIMITED" \
    "zhook_scheduler_rate_limited_total"
S1=$(curl -s "$API1/metrics" | grep -c '^zhook_ingress_rate_limited_total{scope="tenant"} [1-9]')
zh_assert_eq "$S1" 1 "zhook_ingress_rate_limited_total{scope=tenant} on the first ingress"
zh_pass "metrics count the refusals"

# --- the IP limit, without trusted proxies ---------------------------------------------------
zh_stop ing2 5000
start_ingress ing3 "$P3" ZHOOK_IP_RATE=1 ZHOOK_IP_BURST=3
API3=http://127.0.0.1:$P3
# ip_get BASE [X-Forwarded-For]: GET /v1/status as acme; prints the status
ip_get () {
    if [ -n "${2:-}" ]; then
        set -- "$1" -H "X-Forwarded-For: $2"
    fi
    _ig_base=$1
    shift
    curl -s -o "$ZH_TMP/ip.body" -D "$ZH_TMP/ip.hdr" -w '%{http_code}' --max-time 5 \
        -H "Authorization: Bearer $KA" "$@" "$_ig_base/v1/status"
}
ip_header () {
    grep -i "^$1:" "$ZH_TMP/ip.hdr" | head -1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'
}
CODES="$(ip_get "$API3") $(ip_get "$API3") $(ip_get "$API3") $(ip_get "$API3")"
zh_assert_eq "$CODES" "200 200 200 429" "four requests at burst 3"
zh_assert_eq "$(ip_header Retry-After)" 1 "Retry-After of the IP limit"
zh_assert_eq "$(ip_header RateLimit-Limit)" 3 "RateLimit-Limit of the IP limit"
zh_assert_eq "$(ip_header RateLimit-Remaining)" 0 "RateLimit-Remaining of the IP limit"
zh_assert_match "$(ip_header RateLimit-Reset)" '^[1-3]$' "RateLimit-Reset of the IP limit"
security "$ZH_TMP/ip.hdr" "IP 429"
int_headers "$ZH_TMP/ip.hdr" "IP 429" Retry-After RateLimit-Limit RateLimit-Remaining \
    RateLimit-Reset
zh_assert_eq "$(tr -d '\r' <"$ZH_TMP/ip.hdr" | grep -ci '^Content-Type: application/problem+json$')" 1 \
    "IP 429 content type"
zh_assert_eq "$(ip_get "$API3" 198.51.100.77)" 429 "X-Forwarded-For from an untrusted peer"
for p in live ready metrics; do
    zh_assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$API3/$p")" 200 "/$p while limited"
done
S3=$(curl -s "$API3/metrics" | grep -c '^zhook_ingress_rate_limited_total{scope="ip"} [1-9]')
zh_assert_eq "$S3" 1 "zhook_ingress_rate_limited_total{scope=ip}"
zh_pass "IP limit: 429 after the burst with Retry-After and RateLimit-*, X-Forwarded-For not believed, probes never limited"

# --- the IP limit behind a trusted proxy -------------------------------------------------------
start_ingress ing4 "$P4" ZHOOK_IP_RATE=1 ZHOOK_IP_BURST=3 ZHOOK_TRUSTED_PROXIES=127.0.0.1/32
API4=http://127.0.0.1:$P4
C1="$(ip_get "$API4" 198.51.100.1) $(ip_get "$API4" 198.51.100.1) $(ip_get "$API4" 198.51.100.1)"
C1="$C1 $(ip_get "$API4" 198.51.100.1)"
zh_assert_eq "$C1" "200 200 200 429" "client 198.51.100.1 behind the trusted proxy"
zh_assert_eq "$(ip_get "$API4" 198.51.100.2)" 200 "another client behind the same proxy"
zh_assert_eq "$(ip_get "$API4" "198.51.100.2, 198.51.100.1")" 429 \
    "a spoofed address left of the real client"
zh_assert_eq "$(ip_get "$API4" "198.51.100.1, 127.0.0.1")" 429 "a trusted hop is skipped"
zh_assert_eq "$(ip_get "$API4")" 200 "the proxy's own requests have their own bucket"
zh_pass "IP limit behind a trusted proxy: X-Forwarded-For walked right to left, per client"
