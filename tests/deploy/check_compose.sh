#!/bin/sh
# check_compose.sh — offline checks of compose/docker-compose.yml (make test).
#
#     sh tests/deploy/check_compose.sh [COMPOSE_FILE]
#
# 1. `docker-compose config -q` (Debian's docker-compose 1.29: the compose
#    schema, so misspelled keys and bad enum values are refused).
# 2. Policy on the resolved file (`docker-compose config`, read with the
#    python3-yaml docker-compose itself depends on): every service non-root,
#    read-only root, cap_drop ALL, no-new-privileges, CPU and memory limits;
#    long-running ones have a restart policy; zhook stages have a health check;
#    depends_on waits for health (or keygen's completion); no secret-looking
#    ZHOOK_* variable carries a value (only the _FILE forms); the scheduler is
#    the only service with a data volume (key volumes are read-only elsewhere);
#    deliverers have deploy.replicas.
# 3. Mutations: broken copies of the file must be rejected by 1 or 2 (a
#    misspelled key, a bad depends_on condition, a writable root, root user,
#    a secret as an environment value, a data volume on the ingress).
# Only the file's directory is needed (secrets need not exist for config).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
file=${1:-$root/compose/docker-compose.yml}
PY=/usr/bin/python3
command -v docker-compose >/dev/null 2>&1 || { echo "check_compose: docker-compose missing (apt-get install docker-compose)"; exit 1; }

policy=$(cat <<'PYEOF'
import sys, yaml
doc = yaml.safe_load(sys.stdin)
bad = []
svcs = doc.get("services", {})
zhook = {"scheduler", "ingress", "deliverer"}
for need in zhook | {"keygen", "nginx"}:
    if need not in svcs:
        bad.append("service %s missing" % need)
for name, s in svcs.items():
    user = str(s.get("user", ""))
    if not user or user.split(":")[0] in ("0", "root"):
        bad.append("%s: user must be a non-root uid, is %r" % (name, user))
    if s.get("read_only") is not True:
        bad.append("%s: read_only must be true" % name)
    if "ALL" not in (s.get("cap_drop") or []):
        bad.append("%s: cap_drop must hold ALL" % name)
    if "no-new-privileges:true" not in (s.get("security_opt") or []):
        bad.append("%s: security_opt must hold no-new-privileges:true" % name)
    lim = ((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if "cpus" not in lim or "memory" not in lim:
        bad.append("%s: deploy.resources.limits needs cpus and memory" % name)
    if name != "keygen" and s.get("restart") not in ("always", "unless-stopped", "on-failure"):
        bad.append("%s: restart policy missing" % name)
    if name in zhook | {"nginx"} and not s.get("healthcheck"):
        bad.append("%s: healthcheck missing" % name)
    deps = s.get("depends_on") or {}
    if name in zhook | {"nginx"}:
        if not isinstance(deps, dict) or not deps:
            bad.append("%s: depends_on with conditions missing" % name)
        for dep, cond in (deps.items() if isinstance(deps, dict) else []):
            want = "service_completed_successfully" if dep == "keygen" else "service_healthy"
            if (cond or {}).get("condition") != want:
                bad.append("%s: depends_on %s must wait for %s" % (name, dep, want))
    for k, v in (s.get("environment") or {}).items():
        if k.startswith("ZHOOK_") and not k.endswith("_FILE") and v not in (None, "") \
           and any(w in k for w in ("SECRET", "TOKEN", "API_KEYS", "PASSWORD")):
            bad.append("%s: %s is a secret given as a value: use %s_FILE" % (name, k, k))
        if k.startswith("GF_") and "PASSWORD" in k and not k.endswith("__FILE"):
            bad.append("%s: %s is a secret given as a value" % (name, k))
    for vol in s.get("volumes") or []:
        if isinstance(vol, dict):
            src, tgt, ro, typ = vol.get("source"), vol.get("target"), vol.get("read_only"), vol.get("type")
        else:
            parts = str(vol).split(":")
            src, tgt = parts[0], parts[1] if len(parts) > 1 else parts[0]
            ro, typ = len(parts) > 2 and "ro" in parts[2], "volume"
        if typ == "volume" and src == "zhook-data" and name != "scheduler":
            bad.append("%s: only the scheduler may mount the data volume" % name)
        if typ == "volume" and name not in ("scheduler", "keygen") and not ro:
            bad.append("%s: volume %s must be read-only" % (name, src))
if "scheduler" in svcs and not any(
        (v.get("source") if isinstance(v, dict) else str(v).split(":")[0]) == "zhook-data"
        for v in svcs["scheduler"].get("volumes") or []):
    bad.append("scheduler: the zhook-data volume is not mounted")
if "deliverer" in svcs and not (svcs["deliverer"].get("deploy") or {}).get("replicas"):
    bad.append("deliverer: deploy.replicas missing")
for b in bad:
    print("check_compose: " + b)
sys.exit(1 if bad else 0)
PYEOF
)

# check FILE: 0 when the file passes both the schema and the policy
check () {
    out=$(docker-compose -f "$1" config 2>&1) || { printf '%s\n' "$out" | tail -3; return 1; }
    printf '%s\n' "$out" | "$PY" -c "$policy"
}

if ! check "$file"; then
    echo "check_compose: FAIL: $file"
    exit 1
fi
env_example=$(dirname "$file")/.env.example
if [ -f "$env_example" ]; then
    docker-compose -f "$file" --env-file "$env_example" config -q \
        || { echo "check_compose: FAIL: $file with $env_example"; exit 1; }
fi
echo "check_compose: $file passes docker-compose config (also with .env.example) and the policy"

# mutations: each copy sits beside the original (relative paths resolve alike)
dir=$(dirname "$file")
tmp=$dir/.check_compose.$$.yml
trap 'rm -f "$tmp"' EXIT
rc=0
mutate () {
    desc=$1
    shift
    sed "$@" "$file" >"$tmp"
    if cmp -s "$file" "$tmp"; then
        echo "check_compose: mutation '$desc' changed nothing (test out of date)"
        rc=1
    elif check "$tmp" >"$tmp.out" 2>&1; then
        echo "check_compose: mutation '$desc' was NOT rejected"
        rc=1
    else
        echo "check_compose: mutation '$desc' rejected: $(head -3 "$tmp.out" | tr -s "\n " "  " | cut -c1-200)"
    fi
    rm -f "$tmp.out"
}
mutate "misspelled key (restrat)" -e '0,/    restart: unless-stopped/s//    restrat: unless-stopped/'
mutate "bad depends_on condition" -e '0,/condition: service_healthy/s//condition: service_heathy/'
mutate "writable root file system" -e '0,/  read_only: true/s//  read_only: false/'
mutate "root user" -e '0,/  user: "10001:10001"/s//  user: "0:0"/'
mutate "secret as a value" -e 's|ZHOOK_SIGNING_SECRET_FILE: /run/secrets/signing_secret|ZHOOK_SIGNING_SECRET: whsec_abc|'
mutate "data volume on the ingress" -e 's|      - keys-ingress:/run/zhook/keys:ro|      - zhook-data:/var/lib/zhook|'
mutate "no health gate" -e '/^  ingress:/,/^  deliverer:/s/condition: service_healthy/condition: service_started/'
[ "$rc" = 0 ] && echo "check_compose: ok (7 broken copies rejected)"
exit $rc
