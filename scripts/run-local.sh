#!/bin/sh
# run-local.sh — `make run`: the whole pipeline on this machine, in the foreground.
#
# Starts one scheduler (data under ./data), two deliverers and one ingress, all
# on loopback, in DEVELOPMENT MODE: authentication off (tenant "default") and
# the SSRF guard lifted so deliveries to http://127.0.0.1 work. Logs of every
# stage go to this terminal as JSON lines. Ctrl-C stops everything it started.
#
# Ports (override with the same variables): ingress 8080, ops 9090-9092,
# scheduler sockets 5555-5558.
set -u
BIN=${ZH_BIN:-bin}
DATA=${ZHOOK_DATA_DIR:-./data}
LISTEN=${ZHOOK_LISTEN:-127.0.0.1:8080}
mkdir -p "$DATA" || exit 1

cat <<BANNER
==========================================================================
 zhook DEVELOPMENT MODE: authentication OFF, private targets ALLOWED.
 Never expose this setup. API on http://$LISTEN, data in $DATA
==========================================================================
BANNER

pids=""
stop () {
    trap - INT TERM EXIT
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    echo "run-local: stopped"
    exit 0
}
trap stop INT TERM EXIT

ZHOOK_DATA_DIR=$DATA ZHOOK_OPS_LISTEN=127.0.0.1:9090 \
ZHOOK_SUBMIT_ENDPOINT=tcp://127.0.0.1:5555 ZHOOK_PUBLISH_ENDPOINT=tcp://127.0.0.1:5556 \
ZHOOK_DISPATCH_ENDPOINT=tcp://127.0.0.1:5557 ZHOOK_RESULTS_ENDPOINT=tcp://127.0.0.1:5558 \
    "$BIN/zhook-scheduler" &
pids="$pids $!"

for n in 1 2; do
    ZHOOK_OPS_LISTEN=127.0.0.1:909$n ZHOOK_INSTANCE_ID=deliverer-$n \
    ZHOOK_ALLOW_PRIVATE_TARGETS=1 ZHOOK_SCHEDULER_HOST=127.0.0.1 \
        "$BIN/zhook-deliverer" &
    pids="$pids $!"
done

ZHOOK_LISTEN=$LISTEN ZHOOK_AUTH=off ZHOOK_SCHEDULER_HOST=127.0.0.1 ZHOOK_ALLOW_PRIVATE_TARGETS=1 \
    "$BIN/zhook-ingress" &
pids="$pids $!"

# If any stage exits, stop the rest: a half pipeline only confuses.
while :; do
    for p in $pids; do
        if ! kill -0 "$p" 2>/dev/null; then
            echo "run-local: a stage (pid $p) exited; stopping the others" >&2
            stop
        fi
    done
    sleep 1
done
