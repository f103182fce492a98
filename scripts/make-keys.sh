#!/bin/sh
# make-keys.sh — a CURVE key set for the internal sockets (`make keys`,
# scripts/run-local.sh, tests/e2e/lib.sh):
#
#     sh scripts/make-keys.sh KEYGEN DIR
#
# KEYGEN is bin/zhook-keygen. Creates, when missing:
#     DIR/scheduler   DIR/scheduler_secret    the scheduler's pair
#     DIR/ingress     DIR/ingress_secret      one client pair shared by the ingresses
#     DIR/deliverer   DIR/deliverer_secret    one client pair shared by the deliverers
#     DIR/clients/ingress, DIR/clients/deliverer   the allowlist (public certificates only)
# Existing pairs are kept, so running it again changes nothing. Variables per stage:
#     scheduler  ZHOOK_CURVE_SECRET_FILE=DIR/scheduler_secret ZHOOK_CURVE_CLIENTS_DIR=DIR/clients
#     ingress    ZHOOK_CURVE_SECRET_FILE=DIR/ingress_secret   ZHOOK_CURVE_SERVER_FILE=DIR/scheduler
#     deliverer  ZHOOK_CURVE_SECRET_FILE=DIR/deliverer_secret ZHOOK_CURVE_SERVER_FILE=DIR/scheduler
# These are development keys: in production give every replica set its own
# pair from a secret store, and the scheduler only the public certificates.
set -eu
[ $# -eq 2 ] || { echo "usage: make-keys.sh KEYGEN DIR" >&2; exit 2; }
keygen=$1
dir=$2
[ -x "$keygen" ] || { echo "make-keys.sh: $keygen is not built (make $keygen)" >&2; exit 1; }
mkdir -p "$dir/clients"
chmod 700 "$dir"
for name in scheduler ingress deliverer; do
    if [ ! -f "$dir/$name" ] || [ ! -f "$dir/${name}_secret" ]; then
        "$keygen" --force "$dir/$name" "zhook-$name" >/dev/null
    fi
done
for name in ingress deliverer; do
    if ! cmp -s "$dir/$name" "$dir/clients/$name"; then
        cp "$dir/$name" "$dir/clients/.$name.tmp"
        mv "$dir/clients/.$name.tmp" "$dir/clients/$name"
    fi
done
echo "make-keys.sh: CURVE keys in $dir (allowlist $dir/clients)"
