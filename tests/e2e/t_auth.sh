#!/bin/sh
# t_auth.sh — API keys and tenants through real HTTP: another tenant's ids
# are 404 on every endpoint (messages get/cancel, dead letters list/replay,
# subscriptions get/list/delete/patch/rotate, events get) and nothing of
# theirs changes; one byte-identical 401 for a missing, malformed, unknown
# and revoked key; a key in the query string is refused (400) and never
# logged; SIGHUP reloads the keys file (a key added, another revoked) while a
# concurrent client's requests all succeed; zhook-ingress --hash-key makes
# the file line.
. "$(dirname "$0")/lib.sh"

zh_setup
KA=zk_a_$(openssl rand -hex 16)
KB=zk_b_$(openssl rand -hex 16)
KR=zk_r_$(openssl rand -hex 16)
KC=zk_c_$(openssl rand -hex 16)
KEYS=$ZH_TMP/api_keys
zh_api_keys "$KEYS" "acme=$KA" "beta=$KB" "acme=$KR"
ZH_ING_ENV="ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$KEYS $ZH_ING_ENV"
zh_start_receiver
zh_start_pipeline a

as_a () {
    ZH_API_KEY=$KA
    zh_api "$@"
}
as_b () {
    ZH_API_KEY=$KB
    zh_api "$@"
}

# --- tenant A's objects ---------------------------------------------------------
ZH_API_KEY=$KA
zh_submit "{\"url\":\"$ZH_RCV/later\",\"payload\":{\"k\":1},\"delay_ms\":600000}"
MSG=$ZH_ID
zh_submit "{\"url\":\"$ZH_RCV/dead?code=500&fail=100\",\"payload\":{\"k\":2},\"max_attempts\":1}"
DEAD=$ZH_ID
as_a POST /v1/subscriptions "{\"topic\":\"iso.created\",\"url\":\"$ZH_RCV/sub\"}"
zh_assert_eq "$ZH_STATUS" 201 "tenant A creates a subscription ($(zh_resp))"
SUB=$(zh_body id)
SUB_SECRET=$(zh_body secret)
as_a POST /v1/events '{"topic":"iso.created","payload":{"e":1}}'
zh_assert_eq "$ZH_STATUS" 202 "tenant A publishes an event ($(zh_resp))"
EVT=$(zh_body id)
zh_wait_status "$DEAD" dead 10000

# --- tenant B sees none of it -------------------------------------------------------
as_b GET "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 404 "B: GET A's message"
zh_assert_eq "$(zh_body detail)" "no such message" "B: GET A's message, detail"
as_b DELETE "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 404 "B: DELETE A's message"
as_b GET /v1/dead-letters
zh_assert_eq "$ZH_STATUS" 200 "B: list dead letters"
zh_assert_eq "$(zh_body items.#)" 0 "B's dead letters hold none of A's"
as_b POST "/v1/dead-letters/$DEAD/replay"
zh_assert_eq "$ZH_STATUS" 404 "B: replay A's dead letter"
as_b GET "/v1/subscriptions/$SUB"
zh_assert_eq "$ZH_STATUS" 404 "B: GET A's subscription"
as_b GET /v1/subscriptions
zh_assert_eq "$(zh_body items.#)" 0 "B's subscription list holds none of A's"
as_b GET "/v1/subscriptions?topic=iso.created"
zh_assert_eq "$(zh_body items.#)" 0 "B's filtered subscription list"
as_b PATCH "/v1/subscriptions/$SUB" '{"enabled":false}'
zh_assert_eq "$ZH_STATUS" 404 "B: PATCH A's subscription"
as_b POST "/v1/subscriptions/$SUB/rotate-secret"
zh_assert_eq "$ZH_STATUS" 404 "B: rotate A's subscription's secret"
as_b DELETE "/v1/subscriptions/$SUB"
zh_assert_eq "$ZH_STATUS" 404 "B: DELETE A's subscription"
as_b GET "/v1/events/$EVT"
zh_assert_eq "$ZH_STATUS" 404 "B: GET A's event"
as_b GET "/v1/messages/msg_not-an-id"
zh_assert_eq "$ZH_STATUS" 404 "B: a malformed id looks the same"

# ... and nothing of A's changed
as_a GET "/v1/messages/$MSG"
zh_assert_eq "$(zh_body status)" scheduled "A's message after B's cancel"
as_a GET /v1/dead-letters
zh_assert_eq "$(zh_body items.0.id)" "$DEAD" "A's dead letter after B's replay"
zh_assert_eq "$(zh_body items.0.status)" dead "A's dead letter still dead"
as_a GET "/v1/subscriptions/$SUB"
zh_assert_eq "$ZH_STATUS" 200 "A's subscription after B's delete"
zh_assert_eq "$(zh_body enabled)" true "A's subscription after B's PATCH"
as_a POST "/v1/subscriptions/$SUB/rotate-secret"
[ "$(zh_body secret)" != "$SUB_SECRET" ] || zh_fail "A's rotate did not change the secret"
as_a GET "/v1/events/$EVT"
zh_assert_eq "$ZH_STATUS" 200 "A reads its event"
zh_pass "tenant isolation: 404 for another tenant's ids on 11 endpoints, nothing changed"

# --- one 401 for every failure --------------------------------------------------------
curl -sS -o "$ZH_TMP/401.missing" -D "$ZH_TMP/401.missing.hdr" -w '%{http_code}' \
    "$ZH_API/v1/messages/$MSG" >"$ZH_TMP/401.missing.code"
for case in unknown malformed basic empty; do
    case $case in
        unknown) h="Authorization: Bearer zk_unknown_$(openssl rand -hex 8)" ;;
        malformed) h="Authorization: Bearer$KA" ;;
        basic) h="Authorization: Basic $(printf 'acme:%s' "$KA" | base64 -w0)" ;;
        empty) h="Authorization: Bearer " ;;
    esac
    curl -sS -o "$ZH_TMP/401.$case" -D "$ZH_TMP/401.$case.hdr" -w '%{http_code}' -H "$h" \
        "$ZH_API/v1/messages/$MSG" >"$ZH_TMP/401.$case.code"
done
ZH_API_KEY=$KR
zh_api GET "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 200 "the key to be revoked works before the reload"

# --- SIGHUP reload under a concurrent client ----------------------------------------------
# The client loops on GET /v1/status with A's key (present in every version of
# the file) and records every status code.
: >"$ZH_TMP/loop.codes"
(
    while [ ! -f "$ZH_TMP/loop.stop" ]; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 \
            -H "Authorization: Bearer $KA" "$ZH_API/v1/status" >>"$ZH_TMP/loop.codes"
    done
) &
LOOP=$!
zh_wait_until 5000 "[ \$(wc -l <'$ZH_TMP/loop.codes') -ge 5 ]" || zh_fail "client loop did not start"
# the new file: C added (its line made by --hash-key), R revoked
printf '%s\n' "$KC" | "$ZH_BIN/zhook-ingress" --hash-key acme >"$ZH_TMP/c.line" ||
    zh_fail "zhook-ingress --hash-key failed"
zh_assert_eq "$(cat "$ZH_TMP/c.line")" "acme $(printf '%s' "$KC" | sha256sum | cut -d' ' -f1)" \
    "--hash-key line"
zh_assert_eq "$(printf '%s' "$KC" | "$ZH_BIN/zhook-ingress" --hash-key | cut -d' ' -f1)" TENANT \
    "--hash-key placeholder"
zh_api_keys "$KEYS.new" "acme=$KA" "beta=$KB"
cat "$ZH_TMP/c.line" >>"$KEYS.new"
mv "$KEYS.new" "$KEYS"
ZH_API_KEY=$KC
zh_api GET /v1/status
zh_assert_eq "$ZH_STATUS" 401 "the new key before SIGHUP"
kill -HUP "$(zh_pid ingress)"
zh_wait_until 5000 "zh_api GET /v1/status; [ \"\$ZH_STATUS\" = 200 ]" ||
    zh_fail "the new key was not accepted after SIGHUP"
# a few rounds of reloads while the client keeps going
for i in 1 2 3 4 5; do
    kill -HUP "$(zh_pid ingress)"
    sleep 0.1
done
N0=$(wc -l <"$ZH_TMP/loop.codes")
zh_wait_until 5000 "[ \$(wc -l <'$ZH_TMP/loop.codes') -ge $((N0 + 5)) ]" ||
    zh_fail "client loop stalled"
touch "$ZH_TMP/loop.stop"
wait "$LOOP"
zh_assert_ge "$(wc -l <"$ZH_TMP/loop.codes")" 10 "requests of the concurrent client"
BAD=$(grep -cv '^200$' "$ZH_TMP/loop.codes")
zh_assert_eq "$BAD" 0 "failed requests of the concurrent client during reloads ($(sort "$ZH_TMP/loop.codes" | uniq -c | tr '\n' ' '))"
zh_assert_ge "$(grep -c '"API keys reloaded"' "$ZH_TMP/ingress.log")" 2 "reload log lines"
ZH_API_KEY=$KR
curl -sS -o "$ZH_TMP/401.revoked" -D "$ZH_TMP/401.revoked.hdr" -w '%{http_code}' \
    -H "Authorization: Bearer $KR" "$ZH_API/v1/messages/$MSG" >"$ZH_TMP/401.revoked.code"
ZH_API_KEY=$KC
zh_api GET "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 200 "tenant acme's new key reads acme's message"
zh_pass "SIGHUP: key added and key revoked, $(wc -l <"$ZH_TMP/loop.codes") concurrent requests all 200"

# a bad file keeps the old keys
echo "acme not-a-hash" >"$KEYS"
kill -HUP "$(zh_pid ingress)"
zh_wait_until 5000 "grep -q 'API keys reload failed' '$ZH_TMP/ingress.log'" ||
    zh_fail "no error line for a bad keys file"
zh_api GET /v1/status
zh_assert_eq "$ZH_STATUS" 200 "the old keys after a failed reload"
zh_pass "a bad keys file on SIGHUP keeps the keys in force (one error line)"

for case in missing unknown malformed basic empty revoked; do
    zh_assert_eq "$(cat "$ZH_TMP/401.$case.code")" 401 "status for a $case key"
    cmp -s "$ZH_TMP/401.missing" "$ZH_TMP/401.$case" ||
        zh_fail "401 body for a $case key differs: $(cat "$ZH_TMP/401.$case")"
    grep -qi '^WWW-Authenticate: Bearer' "$ZH_TMP/401.$case.hdr" ||
        zh_fail "no WWW-Authenticate on the 401 for a $case key"
    grep -qi '^Content-Type: application/problem+json' "$ZH_TMP/401.$case.hdr" ||
        zh_fail "401 for a $case key is not problem+json"
done
zh_pass "401: byte-identical bodies for missing, unknown, malformed, Basic, empty and revoked keys"

# --- keys in the query string ----------------------------------------------------------------
ZH_API_KEY=
for q in "api_key=$KA" "key=$KA" "token=$KA" "access_token=$KA" "limit=5&API_KEY=$KA" \
    "api%5Fkey=$KA"; do
    zh_api GET "/v1/dead-letters?$q"
    zh_assert_eq "$ZH_STATUS" 400 "key in the query string ($q)"
    zh_assert_eq "$(zh_header Content-Type)" application/problem+json "400 type ($q)"
done
ZH_API_KEY=$KA
zh_api GET "/v1/dead-letters?access_token=$KA"
zh_assert_eq "$ZH_STATUS" 400 "a query-string key is refused even with a valid header"
zh_api GET "/v1/dead-letters?limit=5"
zh_assert_eq "$ZH_STATUS" 200 "an ordinary query string"
for k in "$KA" "$KB" "$KR" "$KC"; do
    if grep -qF "$k" "$ZH_TMP/ingress.log"; then
        zh_fail "an API key appears in the ingress log"
    fi
done
if grep -qi 'api_key=\|api%5Fkey\|access_token=\|limit=5' "$ZH_TMP/ingress.log"; then
    zh_fail "a query string appears in the ingress log"
fi
zh_pass "query-string keys refused with 400; no key and no query string in the logs"
