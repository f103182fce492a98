#!/bin/sh
# t_openapi.sh — GET /openapi.json against the routes the ingress really serves:
# the document is served without an API key, is byte-identical to
# ingress/openapi.json, says openapi 3.1.x and is a valid OpenAPI 3.1 document
# (tests/openapi/check.mjs: @seriousme/openapi-schema-validator, every $ref
# resolved, every JSON Schema checked against the 2020-12 meta-schema);
# the served routes (path patterns read from the route table in
# ingress/ing_server.c, methods from the ingress's own 405 Allow answers) are
# exactly the documented operations; and every documented operation, called
# with ids of real objects made here, answers one of its documented statuses
# (never 404 or 405) with an X-Request-Id.
#
# Needs node (the machine's Node.js) and the validator installed under
# build/npm by `make openapi-validator` (`make test` and `make e2e` run it).
# A missing validator FAILS the test; ZH_OPENAPI_VALIDATE=0 skips only the
# schema validation, explicitly and loudly (every other check still runs).
. "$(dirname "$0")/lib.sh"

DOC_SRC=$ZH_ROOT/ingress/openapi.json
ROUTE_TABLE=$ZH_ROOT/ingress/ing_server.c
CHECK=$ZH_ROOT/tests/openapi/check.mjs
VALIDATOR=${ZH_OPENAPI_VALIDATOR:-$ZH_ROOT/build/npm/node_modules/@seriousme/openapi-schema-validator}

zh_setup
command -v node >/dev/null 2>&1 || zh_fail "node is required to read the document (Node.js of the machine)"
KEY=openapi-key-$(zh_now_ms)
zh_api_keys "$ZH_TMP/keys.txt" "acme=$KEY"
ZH_ING_ENV="$ZH_ING_ENV ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$ZH_TMP/keys.txt"
zh_start_receiver
zh_start_pipeline a
ZH_API_KEY=$KEY

# --- the document -------------------------------------------------------------
DOC=$ZH_TMP/openapi.json
code=$(curl -sS --max-time 5 -o "$DOC" -D "$ZH_TMP/doc.hdr" -w '%{http_code}' "$ZH_API/openapi.json")
zh_assert_eq "$code" 200 "GET /openapi.json without an API key"
ctype=$(grep -i '^Content-Type:' "$ZH_TMP/doc.hdr" | tr -d '\r' | sed 's/^[^:]*:[[:space:]]*//')
zh_assert_match "$ctype" '^application/json' "Content-Type of /openapi.json"
grep -qi '^X-Request-Id:' "$ZH_TMP/doc.hdr" || zh_fail "/openapi.json answer has no X-Request-Id"
cmp -s "$DOC" "$DOC_SRC" || zh_fail "served document differs from ingress/openapi.json (stale build?)"
version=$("$ZH_BIN/zh_json" openapi "$DOC") || zh_fail "served document is not JSON"
zh_assert_match "$version" '^3\.1\.[0-9]+$' "openapi version"
zh_pass "GET /openapi.json: 200 without auth, application/json, openapi $version, same bytes as the repo file"

if [ "${ZH_OPENAPI_VALIDATE:-1}" = 0 ]; then
    zh_log "WARNING: OpenAPI schema validation SKIPPED (ZH_OPENAPI_VALIDATE=0)"
else
    [ -f "$VALIDATOR/package.json" ] ||
        zh_fail "OpenAPI validator not installed at $VALIDATOR: run 'make openapi-validator' (make test does), or set ZH_OPENAPI_VALIDATE=0 to skip this check explicitly"
    node "$CHECK" validate "$DOC" "$VALIDATOR" >"$ZH_TMP/validate.out" 2>&1 ||
        zh_fail "the document is not valid OpenAPI 3.1: $(head -c 3000 "$ZH_TMP/validate.out")"
    zh_log "$(tr '\n' ' ' <"$ZH_TMP/validate.out")"
    zh_pass "valid OpenAPI 3.1 (schema, \$refs, component JSON Schemas)"
fi

node "$CHECK" operations "$DOC" >"$ZH_TMP/ops.txt" || zh_fail "cannot list the documented operations"
[ -s "$ZH_TMP/ops.txt" ] || zh_fail "the document has no operations"

# --- objects whose ids fill the {id} of the paths ------------------------------
zh_submit "{\"url\":\"$ZH_RCV/openapi\",\"payload\":{\"k\":1},\"delay_ms\":600000}"
MSG_ID=$ZH_ID
zh_api POST /v1/subscriptions "{\"topic\":\"openapi.check\",\"url\":\"$ZH_RCV/sub\"}"
zh_assert_eq "$ZH_STATUS" 201 "create a subscription ($(zh_resp))"
SUB_ID=$(zh_body id)
zh_api POST /v1/events '{"topic":"openapi.check","payload":{"k":2},"delay_ms":600000}'
zh_assert_eq "$ZH_STATUS" 202 "publish an event ($(zh_resp))"
EVT_ID=$(zh_body id)
zh_assert_match "$MSG_ID $SUB_ID $EVT_ID" '^msg_[0-9A-Z]+ sub_[0-9A-Z]+ evt_[0-9A-Z]+$' "ids"

# fill TEMPLATE: a documented path with the id of the right kind
fill () {
    case "$1" in
    /v1/messages/* | /v1/dead-letters/*) echo "$1" | sed "s/{id}/$MSG_ID/" ;;
    /v1/subscriptions/*) echo "$1" | sed "s/{id}/$SUB_ID/" ;;
    /v1/events/*) echo "$1" | sed "s/{id}/$EVT_ID/" ;;
    *) echo "$1" ;;
    esac
}

# --- served routes: the route table and the ingress's Allow answers ----------------
# Path patterns are civetweb's: "*" is one segment ({id}), "$" the end; "/" is
# the catch-all 404.
sed -n '/s_path_patterns\[/,/^};/p' "$ROUTE_TABLE" | grep -o '"/[^"]*"' | tr -d '"' |
    grep -v '^/$' | sed 's/\$$//; s/\*/{id}/g' >"$ZH_TMP/patterns.txt"
[ "$(wc -l <"$ZH_TMP/patterns.txt")" -ge 15 ] ||
    zh_fail "could not read the route table of $ROUTE_TABLE: $(cat "$ZH_TMP/patterns.txt")"
: >"$ZH_TMP/served.txt"
while read -r tpl; do
    path=$(fill "$tpl")
    # no route serves PUT: the answer is 405 naming the methods it serves
    zh_api PUT "$path"
    zh_assert_eq "$ZH_STATUS" 405 "PUT $path (route table pattern $tpl)"
    allow=$(zh_header Allow)
    [ -n "$allow" ] || zh_fail "405 for PUT $path has no Allow header"
    for m in $(echo "$allow" | tr ',' ' '); do
        [ "$m" = OPTIONS ] || [ "$m" = HEAD ] || echo "$m $tpl" >>"$ZH_TMP/served.txt"
    done
done <"$ZH_TMP/patterns.txt"
cut -d' ' -f1,2 "$ZH_TMP/ops.txt" | sort >"$ZH_TMP/documented.txt"
sort -o "$ZH_TMP/served.txt" "$ZH_TMP/served.txt"
missing=$(comm -23 "$ZH_TMP/served.txt" "$ZH_TMP/documented.txt" | tr '\n' ';')
extra=$(comm -13 "$ZH_TMP/served.txt" "$ZH_TMP/documented.txt" | tr '\n' ';')
[ -z "$missing" ] || zh_fail "served but not documented: $missing"
[ -z "$extra" ] || zh_fail "documented but not served: $extra"
zh_pass "the $(wc -l <"$ZH_TMP/served.txt") served routes ($(wc -l <"$ZH_TMP/patterns.txt") path patterns) are exactly the documented operations"

# --- every documented operation answers (DELETEs last: they remove the ids) -----------
body_of () {
    case "$1" in
    "POST /v1/messages") echo "{\"url\":\"$ZH_RCV/openapi\",\"payload\":{\"k\":3},\"delay_ms\":600000}" ;;
    "POST /v1/messages/batch") echo "{\"messages\":[{\"url\":\"$ZH_RCV/openapi\",\"payload\":1,\"delay_ms\":600000}]}" ;;
    "POST /v1/subscriptions") echo "{\"topic\":\"openapi.*\",\"url\":\"$ZH_RCV/sub2\"}" ;;
    "PATCH /v1/subscriptions/{id}") echo '{"rate_limit":5}' ;;
    "POST /v1/subscriptions/{id}/rotate-secret") echo '{}' ;;
    "POST /v1/events") echo '{"topic":"openapi.check","payload":{"k":4},"delay_ms":600000}' ;;
    *) echo "" ;;
    esac
}
{
    grep -v '^DELETE ' "$ZH_TMP/ops.txt"
    grep '^DELETE ' "$ZH_TMP/ops.txt"
} >"$ZH_TMP/ops.ordered"
n=0
while read -r method tpl codes; do
    path=$(fill "$tpl")
    body=$(body_of "$method $tpl")
    if [ -n "$body" ]; then
        zh_api "$method" "$path" "$body"
    else
        zh_api "$method" "$path"
    fi
    case "$ZH_STATUS" in
    404 | 405 | 000) zh_fail "$method $path (documented as $tpl) answered $ZH_STATUS: $(zh_resp)" ;;
    esac
    case ",$codes," in
    *",$ZH_STATUS,"*) ;;
    *) zh_fail "$method $path answered $ZH_STATUS, not a documented status ($codes): $(zh_resp)" ;;
    esac
    [ -n "$(zh_header X-Request-Id)" ] || zh_fail "$method $path: no X-Request-Id"
    zh_log "$method $path -> $ZH_STATUS"
    n=$((n + 1))
done <"$ZH_TMP/ops.ordered"
zh_assert_eq "$n" "$(wc -l <"$ZH_TMP/ops.txt" | tr -d ' ')" "operations called"
zh_pass "all $n documented operations answer a documented status (no 404/405)"
