#!/bin/sh
# smoke.sh — self-contained check of the BullMQ peer, all on 127.0.0.1 with free
# ports and a private temp dir: redis-server (from redis.conf.in), server.js,
# worker.js and an nginx receiver that logs every delivery. Sends 5 immediate
# messages, 1 delayed by 500 ms, a batch of 10 and one event to one subscription
# (17 deliveries answered 204), plus one message to a 500 location (retried until
# max_attempts=3) and one to a 410 location (exactly 1 attempt). Prints PASS or
# FAIL; bounded to well under 60 s. Needs redis-server, nginx, curl, node and
# zhook's bin/zh_freeport (make tools).
#
#     sh smoke.sh        (SMOKE_KEEP=1 keeps the temp dir and its logs)
DIR=$(cd "$(dirname "$0")" && pwd)
cd "$DIR" || exit 1

now_ms() { date +%s%3N; }
# bin/zh_freeport from the zhook build (make tools): a free port on 127.0.0.1
FREEPORT=$DIR/../../../bin/zh_freeport
free_port() {
    "$FREEPORT" 1
}
fail() {
    echo "FAIL: $*"
    echo "(logs kept in $TMP)"
    exit 1
}

# npm install, not npm ci: see README.md ("Installing")
[ -d node_modules ] || npm install --no-audit --no-fund >/dev/null 2>&1 || { echo "FAIL: npm install"; exit 1; }
command -v redis-server >/dev/null || { echo "FAIL: redis-server is not installed"; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "FAIL: /usr/sbin/nginx is not installed"; exit 1; }
[ -x "$FREEPORT" ] || { echo "FAIL: $FREEPORT missing (make tools at the top)"; exit 1; }

TMP=$(mktemp -d /tmp/bullmq-smoke.XXXXXX) || exit 1
PIDS=""
OK=0
cleanup() {
    # stop what we started, newest first (worker, server, nginx, redis), one at a
    # time by PID: TERM, then KILL after 5 s
    for p in $PIDS; do
        kill -TERM "$p" 2>/dev/null
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
    done
    if [ $OK -eq 1 ] && [ -z "$SMOKE_KEEP" ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

REDIS_PORT=$(free_port)
API_PORT=$(free_port)
RCV_PORT=$(free_port)
API=http://127.0.0.1:$API_PORT
RCV=http://127.0.0.1:$RCV_PORT

# --- redis ---------------------------------------------------------------------
mkdir -p "$TMP/redis"
sed -e "s|@PORT@|$REDIS_PORT|" -e "s|@DIR@|$TMP/redis|" redis.conf.in >"$TMP/redis.conf"
redis-server "$TMP/redis.conf" >"$TMP/redis.log" 2>&1 &
PIDS="$! $PIDS"

# --- receiver ------------------------------------------------------------------
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http {
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    log_format hook '\$msec \$status \$http_x_due_at \$http_webhook_id';
    access_log $TMP/rcv.log hook;
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$RCV_PORT;
        location / { return 204; }
        location /fail { return 500; }
        location /gone { return 410; }
    }
}
EOF
: >"$TMP/rcv.log"
/usr/sbin/nginx -c "$TMP/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' >"$TMP/nginx.out" 2>&1 &
PIDS="$! $PIDS"

# --- peer ----------------------------------------------------------------------
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT PEER_PORT=$API_PORT PEER_CONCURRENCY=16 \
    PEER_RETRY_BASE_MS=200 PEER_TIMEOUT_MS=5000
node server.js >"$TMP/server.log" 2>&1 &
PIDS="$! $PIDS"
node worker.js >"$TMP/worker.log" 2>&1 &
PIDS="$! $PIDS"

# wait (<= 10 s) for the API to be ready, the worker to start and nginx to answer
i=0
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/ready")" = 200 ] &&
    grep -q 'peer worker started' "$TMP/worker.log" &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$RCV/probe")" = 204 ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && fail "the peer or the receiver did not start (see $TMP/*.log)"
    sleep 0.1
done
: >"$TMP/rcv.log" # forget the probe

post() { # path body -> prints the response body; fails on a status other than $3
    code=$(curl -s -o "$TMP/resp" -w '%{http_code}' -H 'content-type: application/json' \
        -X POST --data-binary "$2" "$API$1")
    [ "$code" = "$3" ] || fail "POST $1 answered $code, not $3: $(cat "$TMP/resp")"
    cat "$TMP/resp"
}
ids() { grep -o 'msg_[0-9a-f]*'; }

: >"$TMP/ids"
n=0
while [ $n -lt 5 ]; do
    post /v1/messages "{\"url\":\"$RCV/hook\",\"payload\":{\"n\":$n},\"headers\":{\"X-Due-At\":\"$(now_ms)\"}}" 202 | ids >>"$TMP/ids"
    n=$((n + 1))
done
DELAYED_DUE=$(($(now_ms) + 500))
post /v1/messages "{\"url\":\"$RCV/hook\",\"payload\":{\"delayed\":true},\"delay_ms\":500,\"headers\":{\"X-Due-At\":\"$DELAYED_DUE\"}}" 202 |
    ids >"$TMP/delayed_id"
cat "$TMP/delayed_id" >>"$TMP/ids"
batch=""
n=0
while [ $n -lt 10 ]; do
    batch="$batch${batch:+,}{\"url\":\"$RCV/hook\",\"payload\":{\"b\":$n},\"headers\":{\"X-Due-At\":\"$(now_ms)\"}}"
    n=$((n + 1))
done
post /v1/messages/batch "{\"messages\":[$batch]}" 202 | ids >>"$TMP/ids"
post /v1/subscriptions "{\"topic\":\"smoke.test\",\"url\":\"$RCV/hook\",\"headers\":{\"X-Due-At\":\"$(now_ms)\"}}" 201 >/dev/null
post /v1/events '{"topic":"smoke.test","payload":{"event":1}}' 202 | ids >>"$TMP/ids"
post /v1/messages "{\"url\":\"$RCV/fail\",\"payload\":{},\"max_attempts\":3}" 202 | ids >"$TMP/fail_id"
post /v1/messages "{\"url\":\"$RCV/gone\",\"payload\":{},\"max_attempts\":5}" 202 | ids >"$TMP/gone_id"
post /v1/messages '{"url":"ftp://nope","payload":{}}' 422 >/dev/null
post /v1/messages '{"url":' 400 >/dev/null

[ "$(wc -l <"$TMP/ids")" -eq 17 ] || fail "expected 17 accepted ids, got $(wc -l <"$TMP/ids")"

# wait (<= 15 s) for 17 deliveries answered 204 and the 3 attempts at /fail
i=0
while :; do
    ok=$(awk '$2 == 204' "$TMP/rcv.log" | wc -l)
    failed=$(awk '$2 == 500' "$TMP/rcv.log" | wc -l)
    [ "$ok" -ge 17 ] && [ "$failed" -ge 3 ] && break
    i=$((i + 1))
    [ $i -gt 150 ] && fail "after 15 s: $ok of 17 deliveries, $failed of 3 attempts at /fail"
    sleep 0.1
done
sleep 1 # room for any extra (wrong) attempt to show up

# every accepted id delivered exactly once, with its webhook-id
sort "$TMP/ids" >"$TMP/ids.sorted"
awk '$2 == 204 { print $4 }' "$TMP/rcv.log" | sort >"$TMP/delivered.sorted"
cmp -s "$TMP/ids.sorted" "$TMP/delivered.sorted" ||
    fail "delivered webhook-ids differ from the accepted ids: $(diff "$TMP/ids.sorted" "$TMP/delivered.sorted" | tr '\n' ' ')"
# the delayed message did not arrive before it was due
delayed=$(cat "$TMP/delayed_id")
awk -v id="$delayed" -v due="$DELAYED_DUE" '$4 == id { exit !($1 * 1000 >= due) }' "$TMP/rcv.log" ||
    fail "the delayed message arrived before it was due"
# 500: retried up to max_attempts (3) with one stable webhook-id; 410: exactly one attempt
fid=$(cat "$TMP/fail_id")
gid=$(cat "$TMP/gone_id")
[ "$(awk -v id="$fid" '$2 == 500 && $4 == id' "$TMP/rcv.log" | wc -l)" -eq 3 ] ||
    fail "expected exactly 3 attempts at /fail with webhook-id $fid"
[ "$(awk -v id="$gid" '$2 == 410 && $4 == id' "$TMP/rcv.log" | wc -l)" -eq 1 ] ||
    fail "expected exactly 1 attempt at /gone (410 is not retried)"
[ "$(wc -l <"$TMP/rcv.log")" -eq 21 ] || fail "expected 21 requests at the receiver, got $(wc -l <"$TMP/rcv.log")"
# both ended as failed jobs in BullMQ
nfailed=$(redis-cli -p "$REDIS_PORT" zcard bull:webhooks:failed 2>/dev/null)
[ "$nfailed" = 2 ] || fail "expected 2 failed jobs in bull:webhooks:failed, got '$nfailed'"
grep -q '"level":"error"' "$TMP/server.log" "$TMP/worker.log" && fail "errors logged by the peer"

lateness=$(awk '$2 == 204 && $3 != "" { d = $1 * 1000 - $3; if (d > m) m = d } END { printf "%d", m }' "$TMP/rcv.log")
OK=1
echo "PASS: 17 deliveries with their webhook-ids, delayed one on time, 500 retried 3 times, 410 once (max lateness ${lateness} ms)"
