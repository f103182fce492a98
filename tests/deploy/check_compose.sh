#!/bin/sh
# check_compose.sh — offline checks of compose/docker-compose.yml (make test-deploy).
#
#     sh tests/deploy/check_compose.sh [COMPOSE_FILE]     (ZH_BIN: the built programs, default bin/)
#
# Needs node and the npm packages of tests/deploy/package-lock.json under
# build/npm-deploy (make k8s-validator; make test-deploy installs them).
#
# 1. `docker-compose config -q` (Debian's docker-compose 1.29: the compose
#    schema, so misspelled keys and bad enum values are refused), alone and
#    with .env.example.
# 2. Policy on the resolved file, both ways (tests/deploy/compose_policy.mjs,
#    with the yaml package of build/npm-deploy/node_modules): hardening of
#    every service; secrets only as files, each one the service mounts, the
#    CURVE keys paired with the scheduler's allowlist; the scheduler the only
#    service with a volume, every bind mount read-only, no VOLUME in the
#    Dockerfile; every ZHOOK_* variable in its program's --help (nginx's in
#    render.sh) and every .env.example variable used; published, connected,
#    proxied, health-checked and scraped ports equal to what the programs
#    bind; the scrape jobs the alert rules name.
# 3. Mutations: broken copies (in a mktemp -d copy of compose/ and the
#    Dockerfile, removed on exit) must each be rejected by 1 or 2.
# Secrets need not exist for config.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
file=${1:-$root/compose/docker-compose.yml}
dir=$(cd "$(dirname "$file")" && pwd)
file=$dir/$(basename "$file")
ZH_BIN=${ZH_BIN:-$root/bin}
modules=$root/build/npm-deploy/node_modules
command -v docker-compose >/dev/null 2>&1 || { echo "check_compose: docker-compose missing (apt-get install docker-compose)"; exit 1; }
command -v node >/dev/null 2>&1 || { echo "check_compose: node missing (apt-get install nodejs)"; exit 1; }
[ -f "$modules/yaml/package.json" ] || { echo "check_compose: $modules has no yaml package (make k8s-validator)"; exit 1; }
for s in scheduler ingress deliverer; do
    [ -x "$ZH_BIN/zhook-$s" ] || { echo "check_compose: $ZH_BIN/zhook-$s is not built (make)"; exit 1; }
done

# check COMPOSE_DIR DOCKERFILE: 0 when the compose file there passes the
# schema and the policy, alone and with its .env.example
check () {
    _c_file=$1/docker-compose.yml
    _c_env=$1/.env.example
    for _c_with in none "$_c_env"; do
        if [ "$_c_with" = none ]; then
            _c_out=$(docker-compose -f "$_c_file" config 2>&1)
        else
            _c_out=$(docker-compose -f "$_c_file" --env-file "$_c_with" config 2>&1)
        fi || { printf '%s\n' "$_c_out" | tail -3; return 1; }
        printf '%s\n' "$_c_out" | node "$here/compose_policy.mjs" --compose "$_c_file" \
            --env-example "$_c_env" --dockerfile "$2" --bin "$ZH_BIN" \
            --render "$1/nginx/render.sh" --prometheus "$1/prometheus/prometheus.yml" \
            --alerts "$1/prometheus/alerts.yml" || return 1
    done
    return 0
}

if ! check "$dir" "$root/Dockerfile"; then
    echo "check_compose: FAIL: $file"
    exit 1
fi
echo "check_compose: $file passes docker-compose config and the policy (alone and with .env.example)"

# mutations, each on a fresh copy of the checked files: the compose
# directory (without secrets/ and .env) beside the Dockerfile, as in the
# repository, so build: context .. and the relative paths resolve
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zh-check-compose.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$tmp/orig/compose"
for f in docker-compose.yml .env.example nginx prometheus grafana; do
    cp -R "$dir/$f" "$tmp/orig/compose/" || exit 1
done
cp "$root/Dockerfile" "$tmp/orig/Dockerfile" || exit 1
rc=0
count=0
# mutate DESCRIPTION FILE SED-ARGS...: FILE is compose/<name> or Dockerfile
mutate () {
    _m_desc=$1
    _m_file=$2
    shift 2
    count=$((count + 1))
    rm -rf "$tmp/work"
    cp -R "$tmp/orig" "$tmp/work"
    sed "$@" "$tmp/orig/$_m_file" >"$tmp/work/$_m_file"
    if cmp -s "$tmp/orig/$_m_file" "$tmp/work/$_m_file"; then
        echo "check_compose: mutation '$_m_desc' changed nothing (test out of date)"
        rc=1
    elif check "$tmp/work/compose" "$tmp/work/Dockerfile" >"$tmp/out" 2>&1; then
        echo "check_compose: mutation '$_m_desc' was NOT rejected"
        rc=1
    else
        echo "check_compose: mutation '$_m_desc' rejected: $(head -2 "$tmp/out" | tr -s "\n " "  " | cut -c1-220)"
    fi
}
C=compose/docker-compose.yml
mutate "misspelled key (restrat)" $C -e '0,/    restart: unless-stopped/s//    restrat: unless-stopped/'
mutate "bad depends_on condition" $C -e '0,/condition: service_healthy/s//condition: service_heathy/'
mutate "writable root file system" $C -e '0,/  read_only: true/s//  read_only: false/'
mutate "root user" $C -e '0,/  user: "10001:10001"/s//  user: "0:0"/'
mutate "secret as a value" $C -e 's|ZHOOK_SIGNING_SECRET_FILE: /run/secrets/signing_secret|ZHOOK_SIGNING_SECRET: whsec_abc|'
mutate "no health gate" $C -e '/^  ingress:/,/^  deliverer:/s/condition: service_healthy/condition: service_started/'
mutate "data volume on the ingress" $C -e 's|^    secrets: \[api_keys, |    volumes: [zhook-data:/var/lib/zhook]\n&|'
mutate "anonymous volume on the deliverers" $C -e 's|^    secrets: \[signing_secret, |    volumes: [/var/lib/zhook]\n&|'
mutate "writable bind mount" $C -e 's|prometheus.yml:/etc/prometheus/prometheus.yml:ro|prometheus.yml:/etc/prometheus/prometheus.yml|'
mutate "a key volume again" $C -e 's|^  zhook-data: {}|&\n  keys-ingress: {}|'
mutate "VOLUME back in the Dockerfile" Dockerfile -e 's|^USER 10001:10001$|&\nVOLUME ["/var/lib/zhook"]|'
mutate "misspelled variable (ZHOOK_CONCURENCY)" $C -e 's|ZHOOK_CONCURRENCY:|ZHOOK_CONCURENCY:|'
mutate "variable of another stage (ZHOOK_DATA_DIR on the ingress)" $C -e 's|^      ZHOOK_LISTEN: 0.0.0.0:8080|&\n      ZHOOK_DATA_DIR: /var/lib/zhook|'
mutate "unknown nginx variable" $C -e 's|ZHOOK_NGINX_MAX_BODY: 256k|ZHOOK_NGINX_MAX_BODY_SIZE: 256k|'
mutate "misspelled .env.example variable" compose/.env.example -e 's|^ZHOOK_TENANT_RATE=|ZHOOK_TENANT_RAT=|'
mutate "ingress listens on 8081, publishes 8080" $C -e 's|ZHOOK_LISTEN: 0.0.0.0:8080|ZHOOK_LISTEN: 0.0.0.0:8081|'
mutate "nginx proxies to ingress:8081" $C -e 's|ZHOOK_NGINX_UPSTREAM: ingress:8080|ZHOOK_NGINX_UPSTREAM: ingress:8081|'
mutate "scheduler ops on 9092" $C -e 's|ZHOOK_OPS_LISTEN: 0.0.0.0:9090|ZHOOK_OPS_LISTEN: 0.0.0.0:9092|'
mutate "deliverer connects to results port 5559" $C -e 's|^      ZHOOK_OPS_LISTEN: 0.0.0.0:9091|&\n      ZHOOK_RESULTS_ENDPOINT: tcp://scheduler:5559|'
mutate "deliverer's key pair missing from the allowlist" $C -e 's|{source: curve_deliverer, target: curve-clients/deliverer}|{source: curve_ingress, target: curve-clients/deliverer}|'
mutate "ingress given the deliverer's server file" $C -e 's|secrets: \[api_keys, curve_ingress_secret, curve_scheduler\]|secrets: [api_keys, curve_ingress_secret, curve_deliverer]|'
mutate "prometheus scrapes the deliverers on 9092" compose/prometheus/prometheus.yml -e '/names: \[deliverer\]/,/port:/s/port: 9091/port: 9092/'
mutate "prometheus job renamed (alerts name zhook-scheduler)" compose/prometheus/prometheus.yml -e 's/job_name: zhook-scheduler/job_name: scheduler/'
[ "$rc" = 0 ] && echo "check_compose: ok ($count broken copies rejected)"
exit $rc
