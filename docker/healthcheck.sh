#!/bin/bash
# zhook-healthcheck — the image's HEALTHCHECK: GET /live of the zhook program
# this container runs (tini's child), answered 200 within 3 s.
#
# Uses bash's /dev/tcp, so the image needs no curl or wget: bash is already
# part of the Debian base (an Essential package), nothing is installed for it.
# The port comes from the program's own variable and default: zhook-ingress
# ZHOOK_LISTEN (8080), zhook-scheduler ZHOOK_OPS_LISTEN (9090),
# zhook-deliverer ZHOOK_OPS_LISTEN (9091). ZHOOK_HEALTH_PORT overrides it.
set -u
prog=""
if [ -r /proc/1/cmdline ]; then
    while IFS= read -r -d '' arg; do
        case "$arg" in
        *zhook-ingress | *zhook-scheduler | *zhook-deliverer)
            prog=${arg##*/}
            break
            ;;
        esac
    done </proc/1/cmdline
fi
case "$prog" in
zhook-ingress) addr=${ZHOOK_LISTEN:-0.0.0.0:8080} ;;
zhook-scheduler) addr=${ZHOOK_OPS_LISTEN:-0.0.0.0:9090} ;;
zhook-deliverer) addr=${ZHOOK_OPS_LISTEN:-0.0.0.0:9091} ;;
*)
    [ -n "${ZHOOK_HEALTH_PORT:-}" ] || { echo "zhook-healthcheck: no zhook program runs here"; exit 1; }
    addr=":$ZHOOK_HEALTH_PORT"
    ;;
esac
port=${ZHOOK_HEALTH_PORT:-${addr##*:}}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /live HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
read -r -t 3 _proto code _rest <&3 || { echo "zhook-healthcheck: no answer on :$port"; exit 1; }
[ "$code" = 200 ] || { echo "zhook-healthcheck: /live answered $code"; exit 1; }
echo "live"
