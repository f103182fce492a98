#!/bin/sh
# t_events_order.sh — ordered delivery (issue 4, acceptance 4).
#
# 100 events with one ordering_key go to a subscription whose receiver fails
# 30% of the attempts at random (zh_receiver fail_pct=30; max attempts 30, so
# none dies). Shown: the first successful arrival of each message is in
# exactly the order of the 202 answers, and no attempt of a message reaches
# the receiver before its predecessor's successful attempt did (one at a
# time). 100 events without a key to a receiver that holds each request
# 300 ms are not serialised: the receiver's in-flight intervals overlap
# (maximum concurrency above 1; the deliverer has 16 slots).
# With POST /v1/messages and ordering_key: a retrying head blocks only its
# own key (another key on the same URL goes ahead), and a dead head releases
# the next message of its key.
# Circuit breakers are off (ZHOOK_CIRCUIT_FAILURES=0): every path here is on
# one receiver origin, and a circuit opened by the scripted failures would
# hold the ordered head back for the whole cooldown (30 s by default).
. "$(dirname "$0")/lib.sh"

N=${ZH_ORDER_N:-100}
SEED=$(($$ % 100000))

zh_setup
ZH_SCH_ENV="ZHOOK_MAX_ATTEMPTS=30 ZHOOK_RETRY_MAX_MS=400 $ZH_SCH_ENV"
ZH_DLV_ENV="ZHOOK_CIRCUIT_FAILURES=0 $ZH_DLV_ENV"
zh_start_receiver
zh_start_pipeline a
zh_log "receiver fail_pct seed $SEED"

# sub TOPIC PATH-AND-QUERY: a subscription of the default tenant
sub () {
    zh_api POST /v1/subscriptions "{\"topic\":\"$1\",\"url\":\"$ZH_RCV$2\"}"
    [ "$ZH_STATUS" = 201 ] || zh_fail "POST /v1/subscriptions $1: status $ZH_STATUS: $(zh_resp)"
    zh_assert_match "$(zh_body id)" "^sub_" "subscription id"
}

# rows PATH: "t_ms done_ms status webhook_id" per request on PATH, file order
rows () {
    grep "\"path\":\"$1\"" "$ZH_RCV_LOG" |
        sed -n 's/.*"t_ms":\([0-9]*\),"done_ms":\([0-9]*\),.*"webhook_id":"\([^"]*\)".*"status":\([0-9]*\).*/\1 \2 \4 \3/p'
}

# max_overlap: the most requests in flight at once over "t_ms done_ms ..."
# rows on stdin (an end sorts before a start at the same ms)
max_overlap () {
    awk '{ print $1, 1; print $2, -1 }' | sort -k1,1n -k2,2n |
        awk '{ c += $2; if (c > m) m = c } END { print m + 0 }'
}

sub ord.test "/ord?fail_pct=30&seed=$SEED"
sub par.test "/par?delay_ms=300"

# --- 100 ordered events, published one after another ------------------------------
: >"$ZH_TMP/ordered.ids"
i=0
T0=$(zh_now_ms)
while [ $i -lt "$N" ]; do
    zh_api POST /v1/events "{\"topic\":\"ord.test\",\"payload\":{\"seq\":$i},\"ordering_key\":\"cust-42\"}"
    [ "$ZH_STATUS" = 202 ] || zh_fail "ordered event $i: status $ZH_STATUS: $(zh_resp)"
    zh_assert_eq "$(zh_body messages.#)" 1 "messages of ordered event $i"
    zh_body messages.0 >>"$ZH_TMP/ordered.ids"
    i=$((i + 1))
done
zh_log "$N ordered events accepted in $(($(zh_now_ms) - T0)) ms"

# --- 100 unordered events ---------------------------------------------------------
: >"$ZH_TMP/par.ids"
i=0
while [ $i -lt "$N" ]; do
    zh_api POST /v1/events "{\"topic\":\"par.test\",\"payload\":{\"seq\":$i}}"
    [ "$ZH_STATUS" = 202 ] || zh_fail "unordered event $i: status $ZH_STATUS: $(zh_resp)"
    zh_body messages.0 >>"$ZH_TMP/par.ids"
    i=$((i + 1))
done

# --- head-of-line blocking per key, dead head (POST /v1/messages) -------------------
BLK="$ZH_RCV/blk?fail=3"
zh_submit "{\"url\":\"$BLK\",\"payload\":{\"m\":1},\"ordering_key\":\"k1\"}"
M1=$ZH_ID
zh_submit "{\"url\":\"$BLK\",\"payload\":{\"m\":2},\"ordering_key\":\"k1\"}"
M2=$ZH_ID
zh_submit "{\"url\":\"$BLK\",\"payload\":{\"m\":3},\"ordering_key\":\"k2\"}"
M3=$ZH_ID
zh_submit "{\"url\":\"$BLK\",\"payload\":{\"m\":4},\"ordering_key\":\"k3\",\"max_attempts\":2}"
M4=$ZH_ID
zh_submit "{\"url\":\"$BLK\",\"payload\":{\"m\":5},\"ordering_key\":\"k3\",\"max_attempts\":5}"
M5=$ZH_ID

# --- unordered: concurrency ------------------------------------------------------------
par_done () {
    rows /par | awk '$3 ~ /^2/ { print $4 }' | sort -u | wc -l
}
zh_wait_until 30000 "[ \$(par_done) -ge $N ]" || zh_fail "only $(par_done) of $N unordered events delivered"
PAR_MAX=$(rows /par | max_overlap)
PAR_SPAN=$(rows /par | awk 'NR == 1 || $1 < a { a = $1 } $2 > b { b = $2 } END { print b - a }')
zh_log "unordered: $N deliveries of 300 ms each in $PAR_SPAN ms, at most $PAR_MAX in flight at once"
zh_assert_ge "$PAR_MAX" 2 "maximum concurrency of unordered deliveries at the receiver"
zh_assert_le "$PAR_SPAN" $((N * 300 / 2)) "time for $N unordered 300 ms deliveries (ms)"
zh_pass "100 events without a key are not serialised (up to $PAR_MAX in flight)"

# --- ordered: acceptance order, one at a time ----------------------------------------------
ord_done () {
    rows /ord | awk '$3 ~ /^2/ { print $4 }' | sort -u | wc -l
}
zh_wait_until 60000 "[ \$(ord_done) -ge $N ]" ||
    zh_fail "only $(ord_done) of $N ordered events delivered ($(rows /ord | wc -l) requests)"
rows /ord >"$ZH_TMP/ord.rows"
# first successful request of each message, by arrival time (stable)
awk '$3 ~ /^2/ && !seen[$4]++ { print NR, $0 }' "$ZH_TMP/ord.rows" | sort -k2,2n -k1,1n |
    awk '{ print $5 }' >"$ZH_TMP/ord.success"
ATTEMPTS=$(wc -l <"$ZH_TMP/ord.rows")
FAILED=$(awk '$3 !~ /^2/' "$ZH_TMP/ord.rows" | wc -l)
zh_log "ordered: $ATTEMPTS requests for $N messages, $FAILED answered 5xx (fail_pct=30)"
if ! cmp -s "$ZH_TMP/ord.success" "$ZH_TMP/ordered.ids"; then
    paste "$ZH_TMP/ordered.ids" "$ZH_TMP/ord.success" | awk '$1 != $2 { print "  position " NR ": accepted " $1 ", delivered " $2 }' |
        head -10 >&2
    zh_fail "ordered messages did not arrive in acceptance order (first differences above)"
fi
zh_assert_ge "$FAILED" 10 "failed attempts of the ordered messages (30% of about $ATTEMPTS)"
# one at a time: every request for message k arrives at or after the arrival
# of message k-1's successful request
VIOL=$(awk 'NR == FNR { pos[$1] = NR; next }
    $3 ~ /^2/ && (!($4 in ok) || $1 < ok[$4]) { ok[$4] = $1 }
    !($4 in first) || $1 < first[$4] { first[$4] = $1 }
    END {
        for (id in pos) byp[pos[id]] = id
        for (k = 2; (k in byp); k++)
            if (first[byp[k]] < ok[byp[k - 1]])
                printf "%s arrived at %.0f before %s succeeded at %.0f\n", byp[k], first[byp[k]], byp[k - 1], ok[byp[k - 1]]
    }' "$ZH_TMP/ordered.ids" "$ZH_TMP/ord.rows")
[ -z "$VIOL" ] || zh_fail "ordered messages overlapped: $(echo "$VIOL" | head -3)"
ORD_MAX=$(rows /ord | max_overlap)
zh_log "ordered: at most $ORD_MAX request(s) in flight at once"
dead=0
for id in $(sed -n '1p;50p;100p' "$ZH_TMP/ordered.ids"); do
    [ "$(zh_msg_status "$id")" = delivered ] || dead=$((dead + 1))
done
zh_assert_eq "$dead" 0 "sampled ordered messages not delivered"
zh_pass "$N events with one ordering key arrived in exactly acceptance order, one at a time, despite $FAILED failures"

# --- a retrying head blocks only its key; a dead head releases the next ---------------------
zh_wait_status "$M2" delivered 10000
zh_wait_status "$M3" delivered 10000
zh_wait_status "$M5" delivered 10000
zh_wait_status "$M4" dead 3000
first_t () { rows /blk | awk -v id="$1" '$4 == id { print $1; exit }'; }
ok_t () { rows /blk | awk -v id="$1" '$4 == id && $3 ~ /^2/ { print $1; exit }'; }
last_t () { rows /blk | awk -v id="$1" '$4 == id { t = $1 } END { print t }'; }
zh_log "k1: M1 ok at $(ok_t "$M1"), M2 first at $(first_t "$M2"); k2: M3 first at $(first_t "$M3"); k3: M4 last at $(last_t "$M4"), M5 first at $(first_t "$M5")"
zh_assert_eq "$(zh_rcv_count "$M1")" 4 "requests of M1 (fail=3)"
zh_assert_ge "$(first_t "$M2")" "$(ok_t "$M1")" "M2's first arrival vs M1's success (same key k1)"
[ "$(first_t "$M3")" -lt "$(ok_t "$M1")" ] ||
    zh_fail "M3 (key k2) first arrived at $(first_t "$M3"), not before M1 (key k1) succeeded at $(ok_t "$M1")"
zh_assert_eq "$(zh_rcv_count "$M4")" 2 "requests of the dead head M4 (max_attempts 2)"
zh_assert_ge "$(first_t "$M5")" "$(last_t "$M4")" "M5's first arrival vs M4's last attempt (same key k3)"
zh_pass "a retrying head blocks only its own key; a dead head releases the next"
