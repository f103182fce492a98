#!/bin/sh
# zhook-nginx — entrypoint of the image's `nginx` target (the TLS front of the
# compose stack): renders compose/nginx/zhook.conf.template with render.sh
# from the ZHOOK_NGINX_* variables into ZHOOK_NGINX_RUN_DIR (a tmpfs: the root
# file system is read-only), checks it, and runs nginx in the foreground.
# Any arguments replace that (for example a test's own nginx command).
set -eu
if [ $# -gt 0 ]; then
    exec "$@"
fi
: "${ZHOOK_NGINX_RUN_DIR:=/var/cache/nginx/zhook}"
export ZHOOK_NGINX_RUN_DIR
mkdir -p "$ZHOOK_NGINX_RUN_DIR"
conf=$ZHOOK_NGINX_RUN_DIR/nginx.conf
sh /etc/zhook/nginx/render.sh /etc/zhook/nginx/zhook.conf.template >"$conf.tmp"
mv "$conf.tmp" "$conf"
nginx -e stderr -c "$conf" -t -q
exec nginx -e stderr -c "$conf" -g 'daemon off;'
