#!/bin/sh
# render.sh — prints compose/nginx/zhook.conf.template (or the template given
# as $1) with its ${ZHOOK_NGINX_*} placeholders replaced from the environment,
# defaults for the compose setup (see the template's header). nginx's own
# $variables are untouched. Creates ZHOOK_NGINX_RUN_DIR when missing. Fails
# (exit 1, nothing printed) on a value sed cannot carry, a limit that is not a
# positive integer, or a placeholder left.
#
#   ZHOOK_NGINX_UPSTREAM=127.0.0.1:8080 sh compose/nginx/render.sh >zhook.conf
set -eu
template=${1:-$(dirname "$0")/zhook.conf.template}
: "${ZHOOK_NGINX_LISTEN:=443}"
: "${ZHOOK_NGINX_UPSTREAM:=ingress:8080}"
: "${ZHOOK_NGINX_CERT:=/etc/zhook/tls/tls.crt}"
: "${ZHOOK_NGINX_KEY:=/etc/zhook/tls/tls.key}"
: "${ZHOOK_NGINX_RUN_DIR:=/var/cache/nginx/zhook}"
: "${ZHOOK_NGINX_MAX_BODY:=256k}"
: "${ZHOOK_NGINX_CONN_PER_IP:=32}"
: "${ZHOOK_NGINX_REQ_RATE:=500}"
: "${ZHOOK_NGINX_REQ_BURST:=1000}"

script=""
for var in LISTEN UPSTREAM CERT KEY RUN_DIR MAX_BODY CONN_PER_IP REQ_RATE REQ_BURST; do
    eval "value=\${ZHOOK_NGINX_$var}"
    case "$value" in
    "" | *[!A-Za-z0-9_./:@+=-]*)
        echo "render.sh: ZHOOK_NGINX_$var='$value': empty or has characters other than A-Za-z0-9_./:@+=-" >&2
        exit 1
        ;;
    esac
    case "$var:$value" in
    CONN_PER_IP:* | REQ_RATE:* | REQ_BURST:*)
        case "$value" in
        0* | *[!0-9]*)
            echo "render.sh: ZHOOK_NGINX_$var='$value': not a positive integer" >&2
            exit 1
            ;;
        esac
        ;;
    esac
    script="$script s|\${ZHOOK_NGINX_$var}|$value|g;"
done
out=$(sed -e "$script" "$template")
left=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*#' | grep -o '\${ZHOOK_[A-Z_]*}' | sort -u | tr '\n' ' ')
if [ -n "$left" ]; then
    echo "render.sh: placeholders without a value: $left" >&2
    exit 1
fi
mkdir -p "$ZHOOK_NGINX_RUN_DIR"
printf '%s\n' "$out"
