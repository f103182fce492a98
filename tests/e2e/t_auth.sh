#!/bin/sh
# t_auth.sh — API keys and tenants through real HTTP: another tenant's ids
# are 404 on every tenant-scoped route (messages get/cancel, also of
# batch-created and fanned-out messages, dead letters list/replay,
# subscriptions get/list/delete/patch/rotate, events get), lists given
# another tenant's cursors show none of its items, an event published on another tenant's
# topic reaches none of its subscriptions, Idempotency-Keys are per tenant,
# and nothing of theirs changes (a delivery after B's rotate of A's
# subscription carries one signature, made with A's original secret; A's own
# rotate then shows two). GET /v1/status is the operator view, not
# tenant-scoped (README). One byte-identical 401 for a missing, malformed, unknown
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
[ -x "$ZH_BIN/zhook-verify" ] || zh_fail "$ZH_BIN/zhook-verify not built"
SAVE=$ZH_TMP/saved
mkdir -p "$SAVE"
ZH_RECEIVER_SAVE_DIR=$SAVE
export ZH_RECEIVER_SAVE_DIR
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
zh_submit "{\"url\":\"$ZH_RCV/dead?code=500&fail=100\",\"payload\":{\"k\":4},\"max_attempts\":1}"
DEAD2=$ZH_ID
IDEM_BODY="{\"url\":\"$ZH_RCV/idem\",\"payload\":{\"k\":3},\"delay_ms\":600000}"
zh_submit "$IDEM_BODY" -H "Idempotency-Key: shared-key-1"
IDEM=$ZH_ID
as_a POST /v1/messages/batch "{\"messages\":[
  {\"url\":\"$ZH_RCV/batch0\",\"payload\":{\"i\":0},\"delay_ms\":600000},
  {\"url\":\"$ZH_RCV/batch1\",\"payload\":{\"i\":1},\"delay_ms\":600000}]}"
zh_assert_eq "$ZH_STATUS" 202 "tenant A submits a batch ($(zh_resp))"
BATCH0=$(zh_body items.0.id)
BATCH1=$(zh_body items.1.id)
zh_assert_match "$BATCH0 $BATCH1" '^msg_[0-9A-Za-z]+ msg_[0-9A-Za-z]+$' "batch item ids"
# A's subscription has a secret the test knows: the receiver verifies every
# delivery with it (secret=) and saves the signature header (save=1)
SUB_SECRET=whsec_$(openssl rand -base64 32)
as_a POST /v1/subscriptions "{\"topic\":\"iso.created\",\"url\":\"$ZH_RCV/sub?save=1&secret=$(zh_urlenc "$SUB_SECRET")\",\"secret\":\"$SUB_SECRET\",\"description\":\"owned by A\"}"
zh_assert_eq "$ZH_STATUS" 201 "tenant A creates a subscription ($(zh_resp))"
SUB=$(zh_body id)
zh_assert_eq "$(zh_body secret)" "$SUB_SECRET" "A's subscription keeps the given secret"
as_a POST /v1/events '{"topic":"iso.created","payload":{"e":1}}' -H "Idempotency-Key: shared-key-2"
zh_assert_eq "$ZH_STATUS" 202 "tenant A publishes an event ($(zh_resp))"
EVT=$(zh_body id)
EVT_MSG=$(zh_body messages.0)
zh_assert_match "$EVT_MSG" '^msg_' "A's event fanned out to A's subscription"
as_a POST /v1/subscriptions "{\"topic\":\"iso.other\",\"url\":\"$ZH_RCV/sub2\"}"
zh_assert_eq "$ZH_STATUS" 201 "tenant A creates a second subscription ($(zh_resp))"
SUB2=$(zh_body id)
zh_wait_status "$DEAD" dead 10000
zh_wait_status "$DEAD2" dead 10000
zh_wait_status "$EVT_MSG" delivered 10000
# A's own cursors, for B to try
as_a GET "/v1/dead-letters?limit=1"
DL_CURSOR=$(zh_body next)
if [ -z "$DL_CURSOR" ] || [ "$DL_CURSOR" = null ]; then
    zh_fail "A's first dead-letter page of 1 has no next cursor ($(zh_resp))"
fi
as_a GET "/v1/subscriptions?limit=1"
SUB_CURSOR=$(zh_body next)
if [ -z "$SUB_CURSOR" ] || [ "$SUB_CURSOR" = null ]; then
    zh_fail "A's first subscription page of 1 has no next cursor ($(zh_resp))"
fi

# no_a_ids WHAT: the last response (a list or a publish, where B names no
# id) holds none of A's ids and is no 5xx
no_a_ids () {
    zh_assert_match "$ZH_STATUS" '^(200|202|400|404|422)$' "$1: status"
    for _na in "$MSG" "$DEAD" "$DEAD2" "$IDEM" "$BATCH0" "$BATCH1" "$SUB" "$SUB2" "$EVT" "$EVT_MSG"; do
        if grep -qF -- "$_na" "$ZH_TMP/resp.body"; then
            zh_fail "$1: the response names A's $_na: $(zh_resp)"
        fi
    done
}

# --- tenant B sees none of it -------------------------------------------------------
as_b GET "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 404 "B: GET A's message"
zh_assert_eq "$(zh_body detail)" "no such message" "B: GET A's message, detail"
as_b DELETE "/v1/messages/$MSG"
zh_assert_eq "$ZH_STATUS" 404 "B: DELETE A's message"
for m in "$BATCH0" "$BATCH1"; do
    as_b GET "/v1/messages/$m"
    zh_assert_eq "$ZH_STATUS" 404 "B: GET A's batch-created message $m"
    as_b DELETE "/v1/messages/$m"
    zh_assert_eq "$ZH_STATUS" 404 "B: DELETE A's batch-created message $m"
done
as_b GET "/v1/messages/$EVT_MSG"
zh_assert_eq "$ZH_STATUS" 404 "B: GET the message of A's event"
as_b GET /v1/dead-letters
zh_assert_eq "$ZH_STATUS" 200 "B: list dead letters"
zh_assert_eq "$(zh_body items.#)" 0 "B's dead letters hold none of A's"
no_a_ids "B: list dead letters"
as_b GET "/v1/dead-letters?after=$(zh_urlenc "$DL_CURSOR")"
no_a_ids "B: list dead letters with A's cursor"
as_b POST "/v1/dead-letters/$DEAD/replay"
zh_assert_eq "$ZH_STATUS" 404 "B: replay A's dead letter"
for sid in "$SUB" "$SUB2"; do
    as_b GET "/v1/subscriptions/$sid"
    zh_assert_eq "$ZH_STATUS" 404 "B: GET A's subscription $sid"
done
as_b GET /v1/subscriptions
zh_assert_eq "$(zh_body items.#)" 0 "B's subscription list holds none of A's"
no_a_ids "B: list subscriptions"
as_b GET "/v1/subscriptions?topic=iso.created"
zh_assert_eq "$(zh_body items.#)" 0 "B's filtered subscription list"
no_a_ids "B: filtered subscription list"
as_b GET "/v1/subscriptions?after=$(zh_urlenc "$SUB_CURSOR")"
no_a_ids "B: list subscriptions with A's cursor"
as_b GET "/v1/subscriptions?topic=iso.created&after=$(zh_urlenc "$SUB_CURSOR")"
no_a_ids "B: filtered subscription list with A's cursor"
as_b PATCH "/v1/subscriptions/$SUB" '{"enabled":false,"description":"taken by B"}'
zh_assert_eq "$ZH_STATUS" 404 "B: PATCH A's subscription"
as_b POST "/v1/subscriptions/$SUB/rotate-secret"
zh_assert_eq "$ZH_STATUS" 404 "B: rotate A's subscription's secret"
zh_assert_eq "$(zh_body secret)" "" "B's rotate answer holds no secret"
B_SECRET=whsec_$(openssl rand -base64 32)
as_b POST "/v1/subscriptions/$SUB/rotate-secret" "{\"secret\":\"$B_SECRET\"}"
zh_assert_eq "$ZH_STATUS" 404 "B: rotate A's subscription's secret to one of B's choosing"
as_b DELETE "/v1/subscriptions/$SUB"
zh_assert_eq "$ZH_STATUS" 404 "B: DELETE A's subscription"
as_b GET "/v1/events/$EVT"
zh_assert_eq "$ZH_STATUS" 404 "B: GET A's event"
as_b GET "/v1/messages/msg_not-an-id"
zh_assert_eq "$ZH_STATUS" 404 "B: a malformed id looks the same"
# B publishing on A's topic reaches none of A's subscriptions
as_b POST /v1/events '{"topic":"iso.created","payload":{"from":"B"}}'
zh_assert_eq "$ZH_STATUS" 202 "B publishes on the topic A follows ($(zh_resp))"
zh_assert_eq "$(zh_body messages.#)" 0 "messages of B's event on A's topic"
no_a_ids "B: publish on A's topic"
# idempotency keys are per tenant: A's keys neither replay nor conflict for B
as_b POST /v1/messages "$IDEM_BODY" -H "Idempotency-Key: shared-key-1"
zh_assert_eq "$ZH_STATUS" 202 "B reuses A's message Idempotency-Key ($(zh_resp))"
[ "$(zh_body id)" != "$IDEM" ] || zh_fail "B's submit with A's Idempotency-Key answered A's message id"
zh_assert_eq "$(zh_header Idempotent-Replayed)" "" "B's submit with A's key is not a replay"
as_b POST /v1/events '{"topic":"iso.created","payload":{"e":1}}' -H "Idempotency-Key: shared-key-2"
zh_assert_eq "$ZH_STATUS" 202 "B reuses A's event Idempotency-Key ($(zh_resp))"
[ "$(zh_body id)" != "$EVT" ] || zh_fail "B's publish with A's Idempotency-Key answered A's event id"
zh_assert_eq "$(zh_body messages.#)" 0 "B's publish with A's key fans out to none of A's"

# ... and nothing of A's changed
as_a GET "/v1/messages/$MSG"
zh_assert_eq "$(zh_body status)" scheduled "A's message after B's cancel"
for m in "$BATCH0" "$BATCH1"; do
    as_a GET "/v1/messages/$m"
    zh_assert_eq "$(zh_body status)" scheduled "A's batch-created message $m after B's cancel"
done
as_a GET /v1/dead-letters
zh_assert_eq "$(zh_body items.#)" 2 "A's dead letters after B's replay"
zh_assert_eq "$(zh_body items.1.id) $(zh_body items.1.status)" "$DEAD dead" "A's dead letter still dead after B's replay"
as_a GET "/v1/subscriptions/$SUB"
zh_assert_eq "$ZH_STATUS" 200 "A's subscription after B's delete"
zh_assert_eq "$(zh_body enabled)" true "A's subscription after B's PATCH"
zh_assert_eq "$(zh_body description)" "owned by A" "A's subscription's description after B's PATCH"
as_a GET "/v1/events/$EVT"
zh_assert_eq "$ZH_STATUS" 200 "A reads its event"
zh_assert_eq "$(zh_body messages.#)" 1 "A's event still has its one message"
as_a POST /v1/messages "$IDEM_BODY" -H "Idempotency-Key: shared-key-1"
zh_assert_eq "$(zh_body id)" "$IDEM" "A's Idempotency-Key still answers A's message"
zh_assert_eq "$(zh_header Idempotent-Replayed)" true "A's own key replays"
# B's rotate changed nothing: a delivery of A's next event carries exactly one
# signature (a rotation would add the new secret's and keep the previous one
# for ZHOOK_SECRET_OVERLAP_HOURS), made with the original secret.
# sig_count ID N: v1 signatures in the saved webhook-signature of request N
sig_count () {
    tr ' ' '\n' <"$SAVE/$1.$2.signature" | grep -c '^v1,'
}
# zv KEYS ID N: zhook-verify over request N of ID as saved; valid/invalid
zv () {
    ZHOOK_VERIFY_KEYS=$1 "$ZH_BIN/zhook-verify" --id "$(cat "$SAVE/$2.$3.id")" \
        --timestamp "$(cat "$SAVE/$2.$3.timestamp")" \
        --signature "$(cat "$SAVE/$2.$3.signature")" "$SAVE/$2.$3.body"
}
as_a POST /v1/events '{"topic":"iso.created","payload":{"e":2}}'
zh_assert_eq "$ZH_STATUS" 202 "A publishes after B's attempts ($(zh_resp))"
zh_assert_eq "$(zh_body messages.#)" 1 "A's event after B's delete still reaches A's subscription"
M2=$(zh_body messages.0)
zh_wait_status "$M2" delivered 10000
[ -s "$SAVE/$M2.1.signature" ] || zh_fail "no saved delivery of $M2"
zh_assert_eq "$(sig_count "$M2" 1)" 1 "signatures on A's delivery after B's rotate (one: nothing rotated)"
zh_assert_eq "$(zv "$SUB_SECRET" "$M2" 1)" valid "A's delivery after B's rotate, with the original secret"
zh_assert_eq "$(zv "$B_SECRET" "$M2" 1)" invalid "A's delivery after B's rotate, with the secret B chose"
zh_assert_eq "$(zh_rcv_field "$M2" 1 sig_valid)" true "the receiver's check with the original secret"
zh_assert_eq "$(zh_rcv_path_ids /sub | tr '\n' ' ')" "$(printf '%s\n' "$EVT_MSG" "$M2" | sort | tr '\n' ' ')" \
    "deliveries to A's subscription (A's two events only, none of B's)"
# the check above can see a rotation: A's own rotate shows up as two signatures
as_a POST "/v1/subscriptions/$SUB/rotate-secret"
zh_assert_eq "$ZH_STATUS" 200 "A rotates its own subscription's secret"
NEW_SECRET=$(zh_body secret)
zh_assert_match "$NEW_SECRET" '^whsec_' "A's new secret"
[ "$NEW_SECRET" != "$SUB_SECRET" ] || zh_fail "A's rotate did not change the secret"
as_a POST /v1/events '{"topic":"iso.created","payload":{"e":3}}'
M3=$(zh_body messages.0)
zh_wait_status "$M3" delivered 10000
zh_assert_eq "$(sig_count "$M3" 1)" 2 "signatures on A's delivery after A's own rotate"
zh_assert_eq "$(zv "$NEW_SECRET" "$M3" 1)" valid "A's delivery after A's rotate, with the new secret"
zh_pass "tenant isolation: 404 for another tenant's ids on every tenant-scoped route (messages incl. batch-created, dead letters, subscriptions, events), per-tenant idempotency keys, B's event on A's topic reaches none of A's, B's rotate left A's secret alone"

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
