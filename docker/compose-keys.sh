#!/bin/sh
# zhook-compose-keys — makes the CURVE key set of the compose stack's internal
# sockets, with the image's own zhook-keygen, so no host build is needed:
#
#   mkdir -p compose/secrets/curve
#   docker run --rm --network none --user "$(id -u):$(id -g)" \
#     -v "$PWD/compose/secrets/curve:/keys" zhook:0.1.0 zhook-compose-keys /keys
#
# Writes into DIR (default /keys) the files compose/docker-compose.yml reads
# as secrets (ZHOOK_SECRETS_DIR/curve/...), one pair per kind of process:
#     scheduler  scheduler_secret     the scheduler's pair
#     ingress    ingress_secret       the ingresses' pair (public half: the allowlist)
#     deliverer  deliverer_secret     the deliverers' pair (public half: the allowlist)
# Mode 0600, owned by the user it runs as. A complete set is left alone
# (exit 0, "keys present"); a partial one is replaced as a whole (then
# restart the whole stack: docs/DEPLOY.md, "CURVE keys").
set -eu
dir=${1:-/keys}
[ -d "$dir" ] && [ -w "$dir" ] || {
    echo "zhook-compose-keys: $dir is not a writable directory (mount one there)" >&2
    exit 1
}
complete=1
for f in scheduler scheduler_secret ingress ingress_secret deliverer deliverer_secret; do
    [ -s "$dir/$f" ] || complete=0
done
if [ "$complete" = 1 ]; then
    echo "zhook-compose-keys: keys present in $dir"
    exit 0
fi
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in scheduler ingress deliverer; do
    zhook-keygen --force "$tmp/$name" "zhook-$name" >/dev/null
done
# each file appears whole (a stage never reads half a file)
for f in scheduler scheduler_secret ingress ingress_secret deliverer deliverer_secret; do
    cp "$tmp/$f" "$dir/.$f.tmp"
    mv "$dir/.$f.tmp" "$dir/$f"
done
echo "zhook-compose-keys: new CURVE key set in $dir"
