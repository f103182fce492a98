#!/bin/sh
# zhook-compose-keys — the one-shot `keygen` service of compose/docker-compose.yml.
#
# Makes the CURVE key set of the internal sockets when any piece is missing and
# installs each stage's part into that stage's own volume (mounted under DIR,
# default /run/zhook/keys), so no stage holds another's secret key:
#     DIR/scheduler/scheduler_secret, DIR/scheduler/clients/{ingress,deliverer}
#     DIR/ingress/ingress_secret,     DIR/ingress/scheduler      (public)
#     DIR/deliverer/deliverer_secret, DIR/deliverer/scheduler    (public)
# A complete set is left alone (exit 0, "keys present"). A partial one is
# replaced as a whole: restart the stack after that (docs/DEPLOY.md).
set -eu
dir=${1:-/run/zhook/keys}
s=$dir/scheduler
i=$dir/ingress
d=$dir/deliverer
if [ -s "$s/scheduler_secret" ] && [ -s "$s/clients/ingress" ] && [ -s "$s/clients/deliverer" ] \
    && [ -s "$i/ingress_secret" ] && [ -s "$i/scheduler" ] \
    && [ -s "$d/deliverer_secret" ] && [ -s "$d/scheduler" ]; then
    echo "zhook-compose-keys: keys present"
    exit 0
fi
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in scheduler ingress deliverer; do
    zhook-keygen --force "$tmp/$name" "zhook-$name" >/dev/null
done
# put SRC at DST atomically (a stage never reads half a file)
put () {
    cp "$1" "$2.tmp"
    mv "$2.tmp" "$2"
}
mkdir -p "$s/clients"
put "$tmp/ingress" "$s/clients/ingress"
put "$tmp/deliverer" "$s/clients/deliverer"
put "$tmp/scheduler_secret" "$s/scheduler_secret"
put "$tmp/scheduler" "$i/scheduler"
put "$tmp/ingress_secret" "$i/ingress_secret"
put "$tmp/scheduler" "$d/scheduler"
put "$tmp/deliverer_secret" "$d/deliverer_secret"
echo "zhook-compose-keys: new CURVE key set installed"
