#!/bin/sh
# run-local.sh — `make run`: the whole pipeline on this machine, in the foreground.
#
# Starts one scheduler (data under ./data), two deliverers and one ingress, all
# on loopback, in DEVELOPMENT MODE: authentication off (tenant "default") and
# the SSRF guard lifted so deliveries to http://127.0.0.1 work. Logs of every
# stage go to this terminal as JSON lines. Ctrl-C stops everything it started.
#
# The internal sockets stay authenticated (CURVE on, as in production): the
# development key set in $DATA/keys is made on first run (scripts/make-keys.sh,
# the same as `make keys`). ZHOOK_CURVE=off runs them unauthenticated instead,
# and every stage then warns about it.
#
# Ports (override with the same variables): ingress 8080, ops 9090-9092,
# scheduler sockets 5555-5558.
set -u
BIN=${ZH_BIN:-bin}
DATA=${ZHOOK_DATA_DIR:-./data}
LISTEN=${ZHOOK_LISTEN:-127.0.0.1:8080}
KEYS=$DATA/keys
CURVE=${ZHOOK_CURVE:-on}
mkdir -p "$DATA" || exit 1
if [ "$CURVE" != off ]; then
    sh "$(dirname "$0")/make-keys.sh" "$BIN/zhook-keygen" "$KEYS" || exit 1
    SCH_CURVE="ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE=$KEYS/scheduler_secret ZHOOK_CURVE_CLIENTS_DIR=$KEYS/clients"
    ING_CURVE="ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE=$KEYS/ingress_secret ZHOOK_CURVE_SERVER_FILE=$KEYS/scheduler"
    DLV_CURVE="ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE=$KEYS/deliverer_secret ZHOOK_CURVE_SERVER_FILE=$KEYS/scheduler"
else
    SCH_CURVE=ZHOOK_CURVE=off
    ING_CURVE=ZHOOK_CURVE=off
    DLV_CURVE=ZHOOK_CURVE=off
fi

cat <<BANNER
==========================================================================
 zhook DEVELOPMENT MODE: authentication OFF, private targets ALLOWED.
 Internal sockets: CURVE $CURVE (keys in $KEYS).
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
    env $SCH_CURVE "$BIN/zhook-scheduler" &
pids="$pids $!"

for n in 1 2; do
    ZHOOK_OPS_LISTEN=127.0.0.1:909$n ZHOOK_INSTANCE_ID=deliverer-$n \
    ZHOOK_ALLOW_PRIVATE_TARGETS=1 ZHOOK_SCHEDULER_HOST=127.0.0.1 \
        env $DLV_CURVE "$BIN/zhook-deliverer" &
    pids="$pids $!"
done

ZHOOK_LISTEN=$LISTEN ZHOOK_AUTH=off ZHOOK_SCHEDULER_HOST=127.0.0.1 ZHOOK_ALLOW_PRIVATE_TARGETS=1 \
    env $ING_CURVE "$BIN/zhook-ingress" &
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
