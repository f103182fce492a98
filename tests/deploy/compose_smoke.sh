#!/bin/sh
# compose_smoke.sh — `make test-compose`: the real image and compose file, run.
#
#     ZH_BIN=bin sh tests/deploy/compose_smoke.sh
#
# Starts a private dockerd (tests/deploy/engine.sh; cache in ZH_DOCKER_CACHE,
# default /var/cache/zhook-docker), makes the debian:bookworm-slim base with
# debootstrap once per cache, checks .dockerignore on a context with a file at
# every place it must exclude, builds the image with the repository's
# Dockerfile (runtime and nginx targets) and checks it declares no VOLUME,
# makes the CURVE keys with the image's zhook-compose-keys, brings
# compose/docker-compose.yml up with two deliverers and two ingresses
# (ZHOOK_HTTP_PUBLISH=127.0.0.1:, as docs/DEPLOY.md scales them) plus a
# receiver (tests/deploy/compose.smoke.yml), checks every container runs as
# uid 10001 with a read-only root and that only the scheduler has a volume
# (docker inspect .Mounts: its zhook-data, writable; everything else
# read-only binds), sends messages through both published ingress ports and
# through nginx's TLS port, checks every one arrives with a valid signature
# (bin/zhook-verify), takes a backup through the ops port, restores it with
# the one-off container of docs/DEPLOY.md (a message accepted after the
# backup is gone, the earlier ones are back), then tears it all down
# (`docker-compose down -v`), stops dockerd by its PID and unmounts its netns.
#
# Exit: 0 passed, 1 failed, 77 SKIPPED (the engine cannot start on this
# machine: said loudly, never a silent pass). Needs root (dockerd).
# `make test-compose` bounds the whole run with timeout(1).
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
    # a timeout(1) of make test-compose signals dockerd too: then only stop it
    if [ -n "$ENGINE_PID" ] && ! $DOCKER version >/dev/null 2>&1; then
        echo "compose-smoke: the engine no longer answers (stopped with this run)"
    elif [ -n "$ENGINE_PID" ]; then
        if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
            echo "--- compose ps / logs (last 30 lines each) ---"
            compose ps 2>&1
            compose logs --no-color --tail=30 2>&1 | cut -c1-400
        fi
        compose down -v --remove-orphans -t 15 >"$work/down.log" 2>&1 \
            || { echo "compose-smoke: docker-compose down failed:"; cat "$work/down.log"; }
    fi
    if [ -n "$ENGINE_PID" ]; then
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

# the image itself: non-root user, no VOLUME, tini, no curl/wget, every library resolved
user=$($DOCKER image inspect -f '{{.Config.User}}' zhook:smoke)
[ "$user" = 10001:10001 ] || fail "image user is '$user', not 10001:10001"
for img in zhook:smoke zhook-nginx:smoke; do
    v=$($DOCKER image inspect -f '{{json .Config.Volumes}}' "$img")
    [ "$v" = null ] || [ "$v" = "{}" ] ||
        fail "$img declares VOLUME $v: every container of it would get an anonymous writable volume"
done
$DOCKER run --rm --network none --entrypoint /usr/bin/ldd zhook:smoke /usr/local/bin/zhook-ingress \
    /usr/local/bin/zhook-scheduler /usr/local/bin/zhook-deliverer /usr/local/bin/zhook-verify \
    /usr/local/bin/zhook-keygen >"$work/ldd.txt" 2>&1 || { cat "$work/ldd.txt"; fail "ldd in the image failed"; }
! grep -q "not found" "$work/ldd.txt" || { grep "not found" "$work/ldd.txt"; fail "a library is missing in the image"; }
for tool in curl wget gcc make nc; do
    $DOCKER run --rm --network none --entrypoint /bin/sh zhook:smoke -c "command -v $tool" >/dev/null 2>&1 \
        && fail "the runtime image contains $tool"
done
phase "image checks: uid 10001, all libraries found, no curl/wget/compiler"

# --- .dockerignore: what `COPY . .` would bring in ---------------------------
# A context with the repository's .dockerignore and a file at each place the
# walk-throughs and builds leave secrets, stores or outputs; built with COPY .
# into a scratch image and listed. Any of them in the image fails the test.
ctx=$work/context
mkdir -p "$ctx"
cp "$root/.dockerignore" "$ctx/"
leak="keys/scheduler_secret data/data.mdb build/rel/x.o bin/zhook-ingress node_modules/yaml/index.js
    compose/grafana/node_modules/x/index.js api-keys.txt signing-secret.txt admin-token.txt
    compose/secrets/api_keys compose/secrets/curve/scheduler_secret compose/.env .env
    zhook-20250101T000000Z.mdb zhook-20250101T000000Z.mdb-lock common/zh_log.o common/zh_log.d
    tls.key fullchain.pem tls.crt .git/config tests/deploy/node_modules/yaml/index.js k8s/secret.yaml"
keep="Makefile scripts/deps.sh common/zh_log.c ingress/ing_main.c compose/nginx/render.sh
    compose/nginx/zhook.conf.template docker/healthcheck.sh docker/compose-keys.sh Dockerfile"
for f in $leak $keep; do
    mkdir -p "$ctx/$(dirname "$f")"
    echo "$f" >"$ctx/$f"
done
printf 'FROM debian:bookworm-slim\nCOPY . /ctx/\n' |
    $DOCKER build -q --network none -t zhook-context:smoke -f - "$ctx" >"$work/ctx-build.log" 2>&1 ||
    { cat "$work/ctx-build.log"; fail "docker build of the .dockerignore context failed"; }
$DOCKER run --rm --network none zhook-context:smoke find /ctx -type f >"$work/ctx.list" 2>&1 ||
    { cat "$work/ctx.list"; fail "listing the .dockerignore context failed"; }
for f in $leak; do
    ! grep -qx "/ctx/$f" "$work/ctx.list" || fail ".dockerignore lets $f into the build context"
done
for f in $keep; do
    grep -qx "/ctx/$f" "$work/ctx.list" || fail ".dockerignore keeps $f out of the build context (the build needs it)"
done
$DOCKER image rm zhook-context:smoke >/dev/null 2>&1
phase ".dockerignore: $(echo $leak | wc -w) secret/store/output paths excluded, $(echo $keep | wc -w) build inputs kept"

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
# the CURVE keys, made with the image as docs/DEPLOY.md does
mkdir -p "$sec/curve"
$DOCKER run --rm --network none --user "$(id -u):$(id -g)" -v "$sec/curve:/keys" zhook:smoke \
    zhook-compose-keys /keys >"$work/keys.log" 2>&1 || { cat "$work/keys.log"; fail "zhook-compose-keys"; }
for f in scheduler scheduler_secret ingress ingress_secret deliverer deliverer_secret; do
    [ -s "$sec/curve/$f" ] || fail "zhook-compose-keys made no curve/$f"
done
chown -R 10001:10001 "$sec" && chmod -R u=rX,go= "$sec"

ports=$("$ZH_BIN/zh_freeport" 2) || fail "zh_freeport"
https_port=$(echo "$ports" | sed -n 1p)
ops_port=$(echo "$ports" | sed -n 2p)
# two ingresses, each on a free loopback port (docs/DEPLOY.md, "Scale each stage")
export ZHOOK_IMAGE=zhook:smoke ZHOOK_NGINX_IMAGE=zhook-nginx:smoke ZHOOK_SECRETS_DIR=$sec \
    ZHOOK_HTTP_PUBLISH=127.0.0.1: ZHOOK_HTTPS_PUBLISH=127.0.0.1:$https_port \
    ZHOOK_OPS_PUBLISH=127.0.0.1:$ops_port ZH_SMOKE_DIR=$here
# a subnet of its own so a leftover network of another run cannot clash
export ZHOOK_EDGE_SUBNET=172.30.$((200 + $$ % 50)).0/24 ZHOOK_NGINX_ADDRESS=172.30.$((200 + $$ % 50)).10

# --- up ---------------------------------------------------------------------
compose config -q || fail "docker-compose config"
compose up -d --no-build --scale deliverer=2 --scale ingress=2 >"$work/up.log" 2>&1 \
    || { cat "$work/up.log"; fail "docker-compose up"; }
phase "docker-compose up returned"
apis=""
for i in 1 2; do
    hp=$(compose port --index=$i ingress 8080 2>/dev/null | tr -d '\r')
    case "$hp" in
    127.0.0.1:[0-9]*) apis="$apis http://$hp" ;;
    *) fail "ingress $i publishes no loopback port ('$hp')" ;;
    esac
done
set -- $apis
api=$1
api2=$2
[ "$api" != "$api2" ] || fail "both ingresses on one port $api"
# wait_stack WHAT: both ingresses ready and the scheduler sees 2 deliverers
wait_stack () {
    while :; do
        r1=$(curl -s -o /dev/null -w '%{http_code}' "$api/ready")
        r2=$(curl -s -o /dev/null -w '%{http_code}' "$api2/ready")
        status=$(curl -s -H "Authorization: Bearer $api_key" "$api/v1/status")
        dlv=$(printf '%s' "$status" | "$ZH_BIN/zh_json" deliverers 2>/dev/null)
        [ "$r1" = 200 ] && [ "$r2" = 200 ] && [ "${dlv:-0}" = 2 ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || fail "$1: not ready in time (ready=$r1/$r2 deliverers=${dlv:-?})"
        sleep 0.5
    done
}
deadline=$(($(date +%s) + LIMIT))
wait_stack "stack"
recv=$(compose ps -q receiver)
[ -n "$recv" ] && [ "$($DOCKER inspect -f '{{.State.Running}}' "$recv")" = true ] \
    || { $DOCKER logs "$recv" 2>&1 | tail -5; fail "the receiver container is not running"; }
running=$(compose ps -q deliverer | wc -l)
[ "$running" = 2 ] || fail "$running deliverer containers, expected 2"
running=$(compose ps -q ingress | wc -l)
[ "$running" = 2 ] || fail "$running ingress containers, expected 2"
phase "stack ready: 2 ingresses ($api, $api2) /ready 200, the scheduler sees 2 deliverers"

# every service container: uid 10001, read-only root, no capabilities
for c in $(compose ps -q); do
    info=$($DOCKER inspect -f '{{.Name}} {{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}}' "$c")
    case "$info" in
    *" 10001:10001 true [ALL]") ;;
    *) fail "container not hardened: $info" ;;
    esac
done
# only the scheduler has a volume: its zhook-data at /var/lib/zhook, writable;
# every other mount of every container is a read-only bind (secrets, configs).
# An image VOLUME would show here as an anonymous writable volume.
for c in $(compose ps -q); do
    svc=$($DOCKER inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$c")
    # one line per mount: type name destination rw source
    $DOCKER inspect -f '{{range .Mounts}}{{.Type}} {{if .Name}}{{.Name}}{{else}}-{{end}} {{.Destination}} {{.RW}} {{.Source}}{{"\n"}}{{end}}' \
        "$c" >"$work/mounts.txt"
    awk -v svc="$svc" -v volume="${project}_zhook-data" '
        NF == 0 { next }
        $1 == "volume" {
            vols++
            if (svc != "scheduler")
                bad[++n] = svc " has a volume (only the scheduler may): " $2 " at " $3
            else if ($2 != volume || $3 != "/var/lib/zhook" || $4 != "true")
                bad[++n] = "the scheduler must have exactly one volume, " volume " at /var/lib/zhook, writable: " $0
            next
        }
        $1 == "bind" { if ($4 == "true") bad[++n] = "writable bind mount " $5 " -> " $3; next }
        { bad[++n] = "mount of type " $1 " at " $3 }
        END {
            if (svc == "scheduler" && vols != 1)
                bad[++n] = "the scheduler must have exactly one volume, " volume ", has " vols + 0
            for (i = 1; i <= n; i++) print "compose-smoke: " bad[i]
            exit (n > 0)
        }' "$work/mounts.txt" || fail "mounts of the $svc container: $(cat "$work/mounts.txt")"
done
vols=$($DOCKER volume ls -q --filter "label=com.docker.compose.project=$project" | sort | tr '\n' ' ')
[ "$vols" = "${project}_zhook-data " ] || fail "volumes of the project: '$vols', expected only ${project}_zhook-data"
phase "mounts: only the scheduler has a volume (${project}_zhook-data, writable); all other mounts read-only binds"

# --- send -------------------------------------------------------------------
: >"$work/ids"
i=1
while [ $i -le "$N_HTTP" ]; do
    # alternate between the two ingresses
    to=$api
    [ $((i % 2)) = 0 ] && to=$api2
    out=$(curl -sS -X POST "$to/v1/messages" -H "Authorization: Bearer $api_key" \
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
phase "$total messages accepted ($N_HTTP on the two ingress ports, $N_TLS through nginx TLS on :$https_port)"

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

# --- restore (docs/DEPLOY.md, "Restore"): a message accepted after the
# backup must be gone afterwards, the ones before it back -------------------
out=$(curl -sS -X POST "$api/v1/messages" -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' \
    -d '{"url":"http://receiver:9000/hook?after-backup=1","payload":{"after":"backup"},"delay_ms":3600000}')
late=$(printf '%s' "$out" | "$ZH_BIN/zh_json" id) || fail "POST after the backup answered: $out"
compose stop scheduler >"$work/stop.log" 2>&1 || { cat "$work/stop.log"; fail "docker-compose stop scheduler"; }
$DOCKER run --rm -i --network none --user 10001:10001 -v "${project}_zhook-data:/var/lib/zhook" \
    --entrypoint /bin/sh zhook:smoke -c \
    'cd /var/lib/zhook && cat >restore.tmp && { [ ! -e data.mdb ] || mv data.mdb data.mdb.before-restore; } && mv restore.tmp data.mdb && rm -f lock.mdb' \
    <"$work/backup.mdb" >"$work/restore.log" 2>&1 || { cat "$work/restore.log"; fail "restoring the backup into the volume"; }
compose start scheduler >"$work/start.log" 2>&1 || { cat "$work/start.log"; fail "docker-compose start scheduler"; }
deadline=$(($(date +%s) + LIMIT))
wait_stack "after the restore"
code=$(curl -s -o "$work/late.json" -w '%{http_code}' -H "Authorization: Bearer $api_key" "$api/v1/messages/$late")
[ "$code" = 404 ] || fail "the message accepted after the backup answers $code after the restore (restore not applied?)"
first=$(head -1 "$work/ids")
code=$(curl -s -o "$work/first.json" -w '%{http_code}' -H "Authorization: Bearer $api_key" "$api2/v1/messages/$first")
[ "$code" = 200 ] || fail "message $first answers $code after the restore"
phase "restored the backup into ${project}_zhook-data with a one-off container: earlier messages back, the later one gone"

compose down -v --remove-orphans -t 15 >"$work/down.log" 2>&1 || { cat "$work/down.log"; fail "docker-compose down"; }
left=$($DOCKER ps -aq --filter "label=com.docker.compose.project=$project" | wc -l)
[ "$left" = 0 ] || fail "$left containers left after down"
phase "docker-compose down -v"
echo "compose-smoke: PASS in $(($(date +%s) - t_start)) s"
