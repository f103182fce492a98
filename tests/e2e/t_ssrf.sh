#!/bin/sh
# t_ssrf.sh — the SSRF guard end to end, guard on in the ingress and the
# deliverer, against a live receiver on 127.0.0.1: every spelling of
# loopback is refused at the API (422 naming url) or accepted and ends dead
# with blocked_destination after one attempt, and the receiver never sees a
# request. A host name that resolves to 127.0.0.1 goes through the
# connect-time check (the ingress checks literals only). A second pass
# restarts the ingress with private targets allowed, so every spelling the
# API accepts meets the deliverer's connect-time guard alone, with the same
# outcome. Then a deliverer with ZHOOK_ALLOWED_CIDRS=127.0.0.0/8 delivers to
# that same name.
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
# submit_all PASS: POSTs every spelling once; counts the 422s (which must
# name url) in REFUSED and lists the 202s as "ID:HOST" in ACCEPTED.
submit_all () {
    REFUSED=0
    ACCEPTED=""
    n=0
    for host in $SPELLINGS; do
        n=$((n + 1))
        url="http://$host:$PORT/ssrf-$1-$n"
        zh_api POST /v1/messages "{\"url\":\"$url\",\"payload\":{\"n\":$n},\"max_attempts\":3}"
        case "$ZH_STATUS" in
            422)
                grep -q '"field" *: *"url"' "$ZH_TMP/resp.body" ||
                    zh_fail "422 for $url does not name url: $(zh_resp)"
                REFUSED=$((REFUSED + 1))
                zh_log "$1: $host: 422 at the API"
                ;;
            202)
                ACCEPTED="$ACCEPTED $(zh_body id):$host"
                ;;
            *) zh_fail "POST with $url: status $ZH_STATUS: $(zh_resp)" ;;
        esac
    done
    zh_assert_ge "$n" 10 "loopback spellings tried"
}

# check_blocked PASS: every accepted message ends dead after one attempt with
# error and dead_reason blocked_destination; NAME_DEAD counts the name case,
# BLOCKED the messages so refused. The one other outcome allowed is a name
# this machine cannot resolve at all (no DNS here; e.g. "LOCALHOST." is in no
# hosts file and curl special-cases only "localhost"): it never reaches a
# connect, so it ends dead with error dns after its 3 attempts, and only if
# getaddrinfo (getent ahosts) indeed finds nothing for it.
check_blocked () {
    NAME_DEAD=0
    BLOCKED=0
    UNRESOLVED=""
    for pair in $ACCEPTED; do
        id=${pair%%:*}
        host=${pair#*:}
        zh_wait_status "$id" dead 5000
        if [ "$(zh_body attempts.0.error)" = dns ]; then
            ! getent ahosts "$host" >/dev/null 2>&1 ||
                zh_fail "$1: $host resolves here ($(getent ahosts "$host" | head -1)) but its attempt failed with dns"
            zh_assert_eq "$(zh_body attempts.#)" 3 "$1: attempts of the unresolvable $host"
            zh_assert_eq "$(zh_body dead_reason)" max_attempts "$1: dead_reason of the unresolvable $host"
            UNRESOLVED="$UNRESOLVED $host"
            zh_log "$1: $host: accepted, does not resolve on this machine (dns after 3 attempts)"
            continue
        fi
        zh_assert_eq "$(zh_body attempts.#)" 1 "$1: attempts of $host"
        zh_assert_eq "$(zh_body attempts.0.error)" blocked_destination "$1: error of $host"
        zh_assert_eq "$(zh_body dead_reason)" blocked_destination "$1: dead_reason of $host"
        zh_log "$1: $host: accepted, dead with blocked_destination after 1 attempt"
        BLOCKED=$((BLOCKED + 1))
        case "$host" in
            "$NAME") NAME_DEAD=$((NAME_DEAD + 1)) ;;
        esac
    done
}

# --- pass 1: guard on in the ingress and the deliverer -------------------------
submit_all api
check_blocked api
zh_assert_eq "$UNRESOLVED" "" "names that did not resolve in the guarded pass"
zh_assert_ge "$NAME_DEAD" 1 "name cases refused at connect time"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG" | tr -d ' ')" 0 "requests that reached the receiver"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG.arrivals" | tr -d ' ')" 0 "arrivals at the receiver"
n_acc1=$(echo "$ACCEPTED" | wc -w)
blocked=$(zh_metric "$(zh_dlv_ops a)" zhook_deliverer_blocked_total) ||
    zh_fail "deliverer /metrics lacks zhook_deliverer_blocked_total"
zh_assert_ge "$blocked" "$n_acc1" "zhook_deliverer_blocked_total"
zh_pass "$n spellings of loopback: $REFUSED refused at the API, $n_acc1 dead with blocked_destination ($NAME_DEAD by name at connect time), receiver untouched, blocked_total=$blocked"

# --- pass 2: the ingress lets private targets through, the deliverer's guard
# alone stands: each spelling reaches the connect-time check -------------------
zh_stop ingress 5000
zh_assert_eq "$ZH_RC" 0 "exit code of the guarded ingress on SIGTERM"
ZH_ING_ALLOW_PRIVATE=1
zh_start_ingress
zh_wait_ingress
submit_all connect
n_acc2=$(echo "$ACCEPTED" | wc -w)
zh_log "connect pass: $n_acc2 of $n spellings accepted by the permissive ingress, $REFUSED refused"
check_blocked connect
# The permissive ingress refuses no spelling for being private, so they all
# reach the deliverer; at least ten must meet its connect-time guard, as
# issue 3 asks.
zh_assert_eq "$REFUSED" 0 "spellings refused by the ingress with private targets allowed"
zh_assert_ge "$BLOCKED" 10 "spellings refused by the deliverer's connect-time guard"
zh_assert_ge "$NAME_DEAD" 1 "name cases refused at connect time (connect pass)"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG" | tr -d ' ')" 0 "requests that reached the receiver (connect pass)"
zh_assert_eq "$(wc -l <"$ZH_RCV_LOG.arrivals" | tr -d ' ')" 0 "arrivals at the receiver (connect pass)"
blocked2=$(zh_metric "$(zh_dlv_ops a)" zhook_deliverer_blocked_total) ||
    zh_fail "deliverer /metrics lacks zhook_deliverer_blocked_total"
zh_assert_ge "$blocked2" $((blocked + BLOCKED)) "zhook_deliverer_blocked_total after the connect pass"
zh_pass "connect-time guard alone: $n_acc2 of $n spellings accepted, $BLOCKED dead with blocked_destination after 1 attempt${UNRESOLVED:+, unresolvable here:$UNRESOLVED}, receiver untouched, blocked_total=$blocked2"

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
