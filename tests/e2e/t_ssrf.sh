#!/bin/sh
# t_ssrf.sh — the SSRF guard end to end, guard on in the ingress and the
# deliverer, against a live receiver on 127.0.0.1: every spelling of
# loopback is refused at the API (422 naming url) or accepted and ends dead
# with blocked_destination after one attempt, and the receiver never sees a
# request. A host name that resolves to 127.0.0.1 goes through the
# connect-time check (the ingress checks literals only). Then a deliverer
# with ZHOOK_ALLOWED_CIDRS=127.0.0.0/8 delivers to that same name.
. "$(dirname "$0")/lib.sh"

zh_setup
zh_start_receiver
PORT=${ZH_RCV##*:}
ZH_ING_ALLOW_PRIVATE=0
ZH_DLV_ENV="ZHOOK_ALLOW_PRIVATE_TARGETS=0"
zh_start_pipeline a

# A name from this machine's resolver (no DNS needed) that maps to loopback.
NAME=""
for cand in "$(hostname)" "$(hostname -f 2>/dev/null)" runsc localhost.localdomain ip6-localhost ip6-loopback; do
    [ -n "$cand" ] || continue
    addr=$(getent hosts "$cand" | awk '{ print $1; exit }')
    case "$addr" in
        127.* | ::1)
            NAME=$cand
            break
            ;;
    esac
done
[ -n "$NAME" ] || zh_fail "no host name resolving to loopback here (tried hostname, /etc/hosts names)"
zh_log "name resolving to loopback: $NAME"

SPELLINGS="127.0.0.1 127.1 2130706433 0x7f000001 0177.0.0.1 localhost LOCALHOST. [::1]
[::ffff:127.0.0.1] [::ffff:7f00:1] 0.0.0.0 [::] 127.0.0.2 [64:ff9b::7f00:1] [2002:7f00:1::]
169.254.169.254 $NAME"
refused=0
accepted=""
n=0
for host in $SPELLINGS; do
    n=$((n + 1))
    url="http://$host:$PORT/ssrf-$n"
    zh_api POST /v1/messages "{\"url\":\"$url\",\"payload\":{\"n\":$n},\"max_attempts\":3}"
    case "$ZH_STATUS" in
        422)
            grep -q '"field" *: *"url"' "$ZH_TMP/resp.body" ||
                zh_fail "422 for $url does not name url: $(zh_resp)"
            refused=$((refused + 1))
            zh_log "$host: 422 at the API"
            ;;
        202)
            accepted="$accepted $(zh_body id):$host"
            ;;
        *) zh_fail "POST with $url: status $ZH_STATUS: $(zh_resp)" ;;
    esac
done
zh_assert_ge "$n" 10 "loopback spellings tried"

name_dead=0
for pair in $accepted; do
    id=${pair%%:*}
    host=${pair#*:}
    zh_wait_status "$id" dead 5000
    zh_assert_eq "$(zh_body attempts.#)" 1 "attempts of $host"
    zh_assert_eq "$(zh_body attempts.0.error)" blocked_destination "error of $host"
    reason=$(zh_body dead_reason)
    [ -z "$reason" ] || zh_assert_eq "$reason" blocked_destination "dead_reason of $host"
    zh_log "$host: accepted, dead with blocked_destination after 1 attempt"
    case "$host" in
        "$NAME") name_dead=$((name_dead + 1)) ;;
    esac
done
zh_assert_ge "$name_dead" 1 "name cases refused at connect time"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG" | tr -d ' ')" 0 "requests that reached the receiver"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG.arrivals" | tr -d ' ')" 0 "arrivals at the receiver"
blocked=$(zh_metric "$(zh_dlv_ops a)" zhook_deliverer_blocked_total)
zh_assert_ge "$blocked" "$(echo "$accepted" | wc -w)" "zhook_deliverer_blocked_total"
zh_pass "$n spellings of loopback: $refused refused at the API, $(echo "$accepted" | wc -w) dead with blocked_destination ($name_dead by name at connect time), receiver untouched, blocked_total=$blocked"

# --- the allowlist: a deliverer admitting 127.0.0.0/8 ------------------------
zh_stop deliverer_a 5000
ZH_DLV_ENV="ZHOOK_ALLOW_PRIVATE_TARGETS=0 ZHOOK_ALLOWED_CIDRS=127.0.0.0/8"
zh_start_deliverer b
zh_wait_deliverer b
zh_submit "{\"url\":\"http://$NAME:$PORT/allowed\",\"payload\":{\"k\":\"allowed\"}}"
zh_wait_status "$ZH_ID" delivered 5000
zh_assert_eq "$(zh_rcv_count "$ZH_ID")" 1 "requests of the allowlisted delivery"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG" | tr -d ' ')" 1 "requests at the receiver in all"
zh_pass "ZHOOK_ALLOWED_CIDRS=127.0.0.0/8 lets a delivery to $NAME (127.0.0.1) through with the guard on"
