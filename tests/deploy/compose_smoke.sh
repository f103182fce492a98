#!/bin/sh
# compose_smoke.sh — `make test-compose`: the real image and compose file, run.
#
#     ZH_BIN=bin sh tests/deploy/compose_smoke.sh
#
# Starts a private dockerd (tests/deploy/engine.sh; cache in ZH_DOCKER_CACHE,
# default /var/cache/zhook-docker), makes the debian:bookworm-slim base with
# debootstrap once per cache, builds the image with the repository's Dockerfile
# (runtime and nginx targets), brings compose/docker-compose.yml up with two
# deliverers plus a receiver (tests/deploy/compose.smoke.yml), sends messages
# through the published ingress port and through nginx's TLS port, checks every
# one arrives with a valid signature (bin/zhook-verify), checks each container
# runs as uid 10001 with a read-only root, then tears it all down
# (`docker-compose down -v`), stops dockerd by its PID and unmounts its netns.
#
# Exit: 0 passed, 1 failed, 77 SKIPPED (the engine cannot start on this
# machine: said loudly, never a silent pass). Needs root (dockerd).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
ZH_BIN=${ZH_BIN:-$root/bin}
N_HTTP=${ZH_SMOKE_MESSAGES:-20}
N_TLS=5
LIMIT=${ZH_SMOKE_TIMEOUT:-90}
t_start=$(date +%s)
phase_t=$t_start
phase () {
    now=$(date +%s)
    echo "compose-smoke: $1 ($((now - phase_t)) s; $((now - t_start)) s total)"
    phase_t=$now
}
fail () {
    echo "compose-smoke: FAIL: $*" >&2
    exit 1
}
skip () {
    echo "==========================================================================" >&2
    echo " compose-smoke: SKIPPED: $*" >&2
    echo " The image and compose stack were NOT tested on this machine." >&2
    echo "==========================================================================" >&2
    exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root to start dockerd (run as root, as .ci/run does)"
for t in dockerd docker-compose debootstrap; do
    command -v $t >/dev/null 2>&1 || fail "$t missing: apt-get install docker.io docker-compose debootstrap"
done
for b in zhook-verify zhook-keygen; do
    [ -x "$ZH_BIN/$b" ] || fail "$ZH_BIN/$b is not built (make)"
done

. "$here/engine.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/zh-compose.XXXXXX") || exit 1
project=zhsmoke$$
compose () {
    docker-compose -p "$project" --project-directory "$root/compose" \
        -f "$root/compose/docker-compose.yml" -f "$here/compose.smoke.yml" "$@"
}
cleanup () {
    rc=$?
    trap - EXIT INT TERM
    if [ -n "$ENGINE_PID" ]; then
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
            echo "--- compose ps / logs (last 30 lines each) ---"
            compose ps 2>&1
            compose logs --no-color --tail=30 2>&1 | cut -c1-400
        fi
        compose down -v --remove-orphans -t 15 >"$work/down.log" 2>&1 \
            || { echo "compose-smoke: docker-compose down failed:"; cat "$work/down.log"; }
        engine_stop
        echo "compose-smoke: dockerd stopped, netns unmounted"
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- engine and images -----------------------------------------------------
if ! engine_start; then
    tail -15 "$ENGINE_LOG" >&2
    skip "dockerd did not start here (log: $ENGINE_LOG)"
fi
phase "dockerd up (pid $ENGINE_PID, data root $ENGINE_DATA)"
engine_base_image || fail "could not make the debian:bookworm-slim base image"
phase "base image ready"
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
$DOCKER build -q --network=host -t zhook:smoke "$root" >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "docker build (runtime) failed"; }
$DOCKER build -q --network=host --target nginx -t zhook-nginx:smoke "$root" >"$work/build-nginx.log" 2>&1 \
    || { tail -40 "$work/build-nginx.log"; fail "docker build (nginx target) failed"; }
phase "images built: $($DOCKER image inspect -f '{{.Size}}' zhook:smoke | awk '{printf "%.1f MB", $1/1e6}') runtime"

# the image itself: non-root user, tini, no curl/wget, every library resolved
user=$($DOCKER image inspect -f '{{.Config.User}}' zhook:smoke)
[ "$user" = 10001:10001 ] || fail "image user is '$user', not 10001:10001"
$DOCKER run --rm --network none --entrypoint /usr/bin/ldd zhook:smoke /usr/local/bin/zhook-ingress \
    /usr/local/bin/zhook-scheduler /usr/local/bin/zhook-deliverer /usr/local/bin/zhook-verify \
    /usr/local/bin/zhook-keygen >"$work/ldd.txt" 2>&1 || { cat "$work/ldd.txt"; fail "ldd in the image failed"; }
! grep -q "not found" "$work/ldd.txt" || { grep "not found" "$work/ldd.txt"; fail "a library is missing in the image"; }
for tool in curl wget gcc make nc; do
    $DOCKER run --rm --network none --entrypoint /bin/sh zhook:smoke -c "command -v $tool" >/dev/null 2>&1 \
        && fail "the runtime image contains $tool"
done
phase "image checks: uid 10001, all libraries found, no curl/wget/compiler"

# --- secrets, as files readable by uid 10001 only --------------------------
sec=$work/secrets
mkdir -p "$sec"
api_key=zk_smoke_$(openssl rand -hex 16)
echo "smoke $(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)" >"$sec/api_keys"
signing=$("$ZH_BIN/zhook-verify" --generate hmac) || fail "zhook-verify --generate"
printf '%s\n' "$signing" >"$sec/signing_secret"
openssl rand -hex 24 >"$sec/admin_token"
openssl rand -hex 12 >"$sec/grafana_admin_password"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=zhook.test \
    -addext subjectAltName=DNS:zhook.test -keyout "$sec/tls.key" -out "$sec/tls.crt" >/dev/null 2>&1 \
    || fail "openssl req"
chown -R 10001:10001 "$sec" && chmod 0500 "$sec" && chmod 0400 "$sec"/*

ports=$("$ZH_BIN/zh_freeport" 3) || fail "zh_freeport"
http_port=$(echo "$ports" | sed -n 1p)
https_port=$(echo "$ports" | sed -n 2p)
ops_port=$(echo "$ports" | sed -n 3p)
export ZHOOK_IMAGE=zhook:smoke ZHOOK_NGINX_IMAGE=zhook-nginx:smoke ZHOOK_SECRETS_DIR=$sec \
    ZHOOK_HTTP_PUBLISH=127.0.0.1:$http_port ZHOOK_HTTPS_PUBLISH=127.0.0.1:$https_port \
    ZHOOK_OPS_PUBLISH=127.0.0.1:$ops_port ZH_SMOKE_DIR=$here
# a subnet of its own so a leftover network of another run cannot clash
export ZHOOK_EDGE_SUBNET=172.30.$((200 + $$ % 50)).0/24 ZHOOK_NGINX_ADDRESS=172.30.$((200 + $$ % 50)).10

# --- up ---------------------------------------------------------------------
compose config -q || fail "docker-compose config"
compose up -d --no-build --scale deliverer=2 >"$work/up.log" 2>&1 \
    || { cat "$work/up.log"; fail "docker-compose up"; }
phase "docker-compose up returned"
deadline=$(($(date +%s) + LIMIT))
api=http://127.0.0.1:$http_port
while :; do
    ready=$(curl -s -o /dev/null -w '%{http_code}' "$api/ready")
    status=$(curl -s -H "Authorization: Bearer $api_key" "$api/v1/status")
    dlv=$(printf '%s' "$status" | "$ZH_BIN/zh_json" deliverers 2>/dev/null)
    [ "$ready" = 200 ] && [ "${dlv:-0}" = 2 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail "stack not ready in ${LIMIT}s (ready=$ready deliverers=${dlv:-?})"
    sleep 0.5
done
recv=$(compose ps -q receiver)
[ -n "$recv" ] && [ "$($DOCKER inspect -f '{{.State.Running}}' "$recv")" = true ] \
    || { $DOCKER logs "$recv" 2>&1 | tail -5; fail "the receiver container is not running"; }
running=$(compose ps -q deliverer | wc -l)
[ "$running" = 2 ] || fail "$running deliverer containers, expected 2"
phase "stack ready: ingress /ready 200, the scheduler sees 2 deliverers"

# every service container: uid 10001, read-only root, no capabilities
for c in $(compose ps -q); do
    info=$($DOCKER inspect -f '{{.Name}} {{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}' "$c")
    case "$info" in
    *" 10001:10001 true [ALL]") ;;
    *) fail "container not hardened: $info" ;;
    esac
done
# the only volumes in use: the scheduler's data and the per-stage key volumes
vols=$($DOCKER volume ls -q --filter "label=com.docker.compose.project=$project" | sort | tr '\n' ' ')
echo "compose-smoke: volumes: $vols"

# --- send -------------------------------------------------------------------
: >"$work/ids"
i=1
while [ $i -le "$N_HTTP" ]; do
    out=$(curl -sS -X POST "$api/v1/messages" -H "Authorization: Bearer $api_key" \
        -H 'Content-Type: application/json' \
        -d "{\"url\":\"http://receiver:9000/hook?n=$i\",\"payload\":{\"n\":$i,\"via\":\"http\",\"text\":\"caf\\u00e9 \\\"q\\\"\"}}") \
        || fail "POST $i"
    id=$(printf '%s' "$out" | "$ZH_BIN/zh_json" id) || fail "POST $i answered: $out"
    echo "$id" >>"$work/ids"
    i=$((i + 1))
done
i=1
while [ $i -le "$N_TLS" ]; do
    out=$(curl -sS --cacert "$sec/tls.crt" --resolve "zhook.test:$https_port:127.0.0.1" \
        -X POST "https://zhook.test:$https_port/v1/messages" -H "Authorization: Bearer $api_key" \
        -H 'Content-Type: application/json' \
        -d "{\"url\":\"http://receiver:9000/hook?tls=$i\",\"payload\":{\"n\":$i,\"via\":\"tls\"}}" 2>&1) \
        || fail "POST over TLS $i: $out"
    id=$(printf '%s' "$out" | "$ZH_BIN/zh_json" id) || fail "POST over TLS $i answered: $out"
    echo "$id" >>"$work/ids"
    i=$((i + 1))
done
total=$((N_HTTP + N_TLS))
phase "$total messages accepted ($N_HTTP on :$http_port, $N_TLS through nginx TLS on :$https_port)"

# --- receive and verify ---------------------------------------------------
while :; do
    $DOCKER logs "$recv" 2>/dev/null | grep '^{' >"$work/recv.log"
    got=0
    while read -r id; do
        grep -q "\"id\":\"$id\"" "$work/recv.log" && got=$((got + 1))
    done <"$work/ids"
    [ "$got" = "$total" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail "only $got of $total messages arrived"
    sleep 0.3
done
valid=0
while read -r id; do
    line=$(grep "\"id\":\"$id\"" "$work/recv.log" | head -1)
    printf '%s' "$line" >"$work/line.json"
    ts=$("$ZH_BIN/zh_json" ts "$work/line.json")
    sig=$("$ZH_BIN/zh_json" sig "$work/line.json")
    [ -n "$sig" ] || fail "$id arrived without webhook-signature"
    body=$("$ZH_BIN/zh_json" body "$work/line.json")
    printf '%s' "$body" >"$work/body"
    res=$("$ZH_BIN/zhook-verify" --key "$signing" --id "$id" --timestamp "$ts" --signature "$sig" "$work/body")
    [ "$res" = valid ] || fail "$id: signature $res (body $body)"
    # a wrong key must not verify (the check can fail)
    other=$("$ZH_BIN/zhook-verify" --generate hmac)
    res=$("$ZH_BIN/zhook-verify" --key "$other" --id "$id" --timestamp "$ts" --signature "$sig" "$work/body")
    [ "$res" = invalid ] || fail "$id: verified with a wrong key"
    valid=$((valid + 1))
done <"$work/ids"
phase "$valid of $total messages arrived at the receiver container, signatures valid"

# both deliverers took part (each logs the attempts it made in its metrics)
busy=0
for c in $(compose ps -q deliverer); do
    n=$($DOCKER exec "$c" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9091; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' \
        | awk '/^zhook_deliverer_attempts_total/ {s += $NF} END {print s + 0}')
    echo "compose-smoke: deliverer ${c%"${c#????????????}"}: $n attempts"
    [ "${n%.*}" -gt 0 ] 2>/dev/null && busy=$((busy + 1))
done
[ "$busy" = 2 ] || echo "compose-smoke: note: only $busy deliverer(s) made attempts (work is pulled, not split evenly)"

# the admin backup endpoint through the published ops port
code=$(curl -s -o "$work/backup.mdb" -w '%{http_code}' -H "Authorization: Bearer $(cat "$sec/admin_token")" \
    "http://127.0.0.1:$ops_port/admin/backup")
[ "$code" = 200 ] && [ -s "$work/backup.mdb" ] || fail "GET /admin/backup answered $code"
phase "admin backup through the ops port: $(wc -c <"$work/backup.mdb") bytes"

compose down -v --remove-orphans -t 15 >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "docker-compose down"; }
left=$($DOCKER ps -aq --filter "label=com.docker.compose.project=$project" | wc -l)
[ "$left" = 0 ] || fail "$left containers left after down"
phase "docker-compose down -v"
echo "compose-smoke: PASS in $(($(date +%s) - t_start)) s"
