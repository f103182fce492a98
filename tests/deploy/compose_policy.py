#!/usr/bin/python3
"""compose_policy.py — the policy half of tests/deploy/check_compose.sh.

    docker-compose -f F config | /usr/bin/python3 compose_policy.py \
        --compose F --env-example E --dockerfile D --bin BIN --render R \
        --prometheus P --alerts A

Reads the resolved compose file (`docker-compose config`) on stdin and checks
it against the programs and the files it names (one line per problem, exit 1):

- hardening: every service non-root, read-only root, cap_drop ALL,
  no-new-privileges, CPU and memory limits; long-running ones restart; zhook
  stages and nginx have a health check; depends_on waits for health;
- secrets: no secret-looking ZHOOK_* / GF_* value (only the _FILE forms);
  every /run/secrets path a variable names is a secret the service mounts;
  CURVE: each client's server certificate is the public half of the
  scheduler's key, and the scheduler's allowlist holds the public half of
  every client's key;
- volumes: the scheduler is the only service with a volume (zhook-data, at
  its ZHOOK_DATA_DIR, the only top-level volume); every bind mount is
  read-only; the Dockerfile declares no VOLUME (it would give every
  container of the image an anonymous writable volume);
- variables: every ZHOOK_* variable a service sets is in its program's
  `--help` table (or is that variable's _FILE form), nginx's are the
  ZHOOK_NGINX_* of compose/nginx/render.sh; every variable .env.example sets
  is used by the compose file;
- ports: the ports published, connected to, proxied to, health-checked and
  scraped (compose/prometheus/prometheus.yml) are the ones the programs bind
  with their effective settings (the environment, else the --help default);
  the scrape jobs are the jobs the alert rules name.
"""
import argparse
import os
import re
import subprocess
import sys

import yaml

STAGES = ("scheduler", "ingress", "deliverer")
SECRET_WORDS = ("SECRET", "TOKEN", "API_KEYS", "PASSWORD")

ap = argparse.ArgumentParser()
for a in ("compose", "env-example", "dockerfile", "bin", "render", "prometheus", "alerts"):
    ap.add_argument("--" + a, required=True)
opt = ap.parse_args()

doc = yaml.safe_load(sys.stdin) or {}
bad = []


def want(where, what):
    bad.append("%s: %s" % (where, what))


def help_table(stage):
    out = subprocess.run([os.path.join(opt.bin, "zhook-" + stage), "--help"],
                         capture_output=True, text=True, check=False).stdout
    table = dict(re.findall(r"^  (ZHOOK_[A-Z0-9_]+)\s+default: (.*)$", out, re.M))
    if len(table) < 5:
        sys.exit("check_compose: zhook-%s --help lists no variables (is %s built?)" % (stage, opt.bin))
    return {k: v.strip() for k, v in table.items()}


def port_of(text):
    m = re.search(r":(\d+)/*$", str(text))
    return int(m.group(1)) if m else None


def host_of(endpoint):
    m = re.match(r"^tcp://([^:/]+):\d+/*$", str(endpoint))
    return m.group(1) if m else None


def published(svc):
    """container ports of the ports: entries"""
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append(int(p.get("target")))
        else:
            out.append(port_of(str(p).split("/")[0]))
    return out


def mounts(svc):
    """(kind, source, target, read_only) of each volumes: entry"""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            kind = v.get("type", "volume")
            out.append((kind, v.get("source"), v.get("target"), bool(v.get("read_only"))))
            continue
        parts = str(v).split(":")
        if len(parts) == 1:
            out.append(("volume", None, parts[0], False))  # anonymous volume
            continue
        src, tgt = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) > 2 else []
        kind = "bind" if src.startswith(("/", ".", "~")) else "volume"
        out.append((kind, src, tgt, "ro" in mode))
    return out


help_tables = {s: help_table(s) for s in STAGES}
render_text = open(opt.render).read()
nginx_vars = set("ZHOOK_NGINX_" + v for v in re.findall(r'\$\{ZHOOK_NGINX_([A-Z_]+):=', render_text))
if len(nginx_vars) < 5:
    bad.append("render.sh: no ZHOOK_NGINX_ defaults found in %s" % opt.render)

svcs = doc.get("services") or {}
for need in STAGES + ("nginx",):
    if need not in svcs:
        want("services", "%s missing" % need)


def program(svc):
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = cmd.split()
    for word in cmd:
        m = re.match(r"^(?:.*/)?zhook-(scheduler|ingress|deliverer)$", str(word))
        if m:
            return m.group(1)
    return None


stage_of = {}  # service name -> stage
for name, s in svcs.items():
    st = program(s)
    if st:
        stage_of[name] = st
    elif name in STAGES:
        want(name, "command runs no zhook-%s" % name)


def effective(name, var):
    env = svcs[name].get("environment") or {}
    if var in env:
        return str(env[var])
    return help_tables[stage_of[name]].get(var)


# --- hardening ---------------------------------------------------------------
for name, s in svcs.items():
    user = str(s.get("user", ""))
    if not user or user.split(":")[0] in ("0", "root"):
        want(name, "user must be a non-root uid, is %r" % user)
    if s.get("read_only") is not True:
        want(name, "read_only must be true")
    if "ALL" not in (s.get("cap_drop") or []):
        want(name, "cap_drop must hold ALL")
    if "no-new-privileges:true" not in (s.get("security_opt") or []):
        want(name, "security_opt must hold no-new-privileges:true")
    lim = ((s.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if "cpus" not in lim or "memory" not in lim:
        want(name, "deploy.resources.limits needs cpus and memory")
    if s.get("restart") not in ("always", "unless-stopped", "on-failure"):
        want(name, "restart policy missing")
    core = name in stage_of or name == "nginx"
    if core and not s.get("healthcheck"):
        want(name, "healthcheck missing")
    deps = s.get("depends_on") or {}
    if core and stage_of.get(name) != "scheduler":
        if not isinstance(deps, dict) or not deps:
            want(name, "depends_on with conditions missing")
        for dep, cond in (deps.items() if isinstance(deps, dict) else []):
            if (cond or {}).get("condition") != "service_healthy":
                want(name, "depends_on %s must wait for service_healthy" % dep)

# --- secrets -----------------------------------------------------------------
top_secrets = doc.get("secrets") or {}


def secret_paths(s):
    """container path -> secret name, for the secrets a service mounts"""
    out = {}
    for sec in s.get("secrets") or []:
        src = sec if isinstance(sec, str) else sec.get("source")
        tgt = src if isinstance(sec, str) else (sec.get("target") or src)
        path = tgt if tgt.startswith("/") else "/run/secrets/" + tgt
        out[path] = src
        if src not in top_secrets:
            want("secrets", "%s is mounted but not defined" % src)
    return out


for name, s in svcs.items():
    paths = secret_paths(s)
    for k, v in (s.get("environment") or {}).items():
        v = "" if v is None else str(v)
        if k.startswith("ZHOOK_") and not k.endswith("_FILE") and v and any(w in k for w in SECRET_WORDS):
            want(name, "%s is a secret given as a value: use %s_FILE" % (k, k))
        if k.startswith("GF_") and "PASSWORD" in k and not k.endswith("__FILE"):
            want(name, "%s is a secret given as a value" % k)
        if v.startswith("/run/secrets/"):
            if k == "ZHOOK_CURVE_CLIENTS_DIR":
                if not any(p.startswith(v.rstrip("/") + "/") for p in paths):
                    want(name, "%s=%s holds no mounted secret" % (k, v))
            elif v not in paths:
                want(name, "%s=%s is not a secret this service mounts" % (k, v))


def secret_file(path_in_container, name):
    src = secret_paths(svcs[name]).get(path_in_container)
    return (top_secrets.get(src) or {}).get("file") if src else None


sched = next((n for n, st in stage_of.items() if st == "scheduler"), None)
if sched and effective(sched, "ZHOOK_CURVE") != "off":
    sched_secret = secret_file(effective(sched, "ZHOOK_CURVE_SECRET_FILE") or "", sched)
    clients_dir = (effective(sched, "ZHOOK_CURVE_CLIENTS_DIR") or "").rstrip("/")
    allow = set()
    for path, src in secret_paths(svcs[sched]).items():
        if path.startswith(clients_dir + "/"):
            allow.add((top_secrets.get(src) or {}).get("file"))
    if not sched_secret:
        want(sched, "ZHOOK_CURVE_SECRET_FILE is no mounted secret")
    for name, st in stage_of.items():
        if st == "scheduler":
            continue
        if effective(name, "ZHOOK_CURVE") == "off":
            want(name, "ZHOOK_CURVE=off while the scheduler runs CURVE")
            continue
        own = secret_file(effective(name, "ZHOOK_CURVE_SECRET_FILE") or "", name)
        server = secret_file(effective(name, "ZHOOK_CURVE_SERVER_FILE") or "", name)
        if not own or not own.endswith("_secret"):
            want(name, "ZHOOK_CURVE_SECRET_FILE is no mounted NAME_secret certificate")
        elif own[: -len("_secret")] not in allow:
            want(name, "the public half of its key (%s) is not in the scheduler's allowlist %s"
                 % (own[: -len("_secret")], clients_dir))
        if sched_secret and server != sched_secret[: -len("_secret")]:
            want(name, "ZHOOK_CURVE_SERVER_FILE (%s) is not the public half of the scheduler's key (%s)"
                 % (server, sched_secret))

# --- volumes -------------------------------------------------------------------
top_volumes = set((doc.get("volumes") or {}).keys())
if top_volumes != {"zhook-data"}:
    want("volumes", "the only volume must be zhook-data (the scheduler's store), found %s"
         % sorted(top_volumes))
for name, s in svcs.items():
    for kind, src, tgt, ro in mounts(s):
        if kind == "volume":
            if stage_of.get(name) != "scheduler":
                want(name, "only the scheduler may have a volume (%s at %s)" % (src or "anonymous", tgt))
            elif src != "zhook-data":
                want(name, "the scheduler's only volume is zhook-data, found %s at %s" % (src or "anonymous", tgt))
            elif tgt != effective(name, "ZHOOK_DATA_DIR"):
                want(name, "zhook-data is at %s, ZHOOK_DATA_DIR is %s" % (tgt, effective(name, "ZHOOK_DATA_DIR")))
            elif ro:
                want(name, "zhook-data must be writable")
        elif kind == "bind" and not ro:
            want(name, "bind mount %s -> %s must be read-only" % (src, tgt))
        elif kind not in ("bind", "volume", "tmpfs"):
            want(name, "mount type %s at %s" % (kind, tgt))
if sched and not any(k == "volume" and src == "zhook-data" for k, src, _, _ in mounts(svcs[sched])):
    want(sched, "the zhook-data volume is not mounted")
for lineno, line in enumerate(open(opt.dockerfile), 1):
    if re.match(r"^\s*VOLUME\b", line, re.I):
        want("Dockerfile:%d" % lineno, "VOLUME gives every container of the image (ingress, deliverer, "
             "one-off tools) an anonymous writable volume; mount the data volume on the scheduler only")

# --- variables -------------------------------------------------------------------
for name, s in svcs.items():
    env = s.get("environment") or {}
    st = stage_of.get(name)
    for k in env:
        if not k.startswith("ZHOOK_"):
            continue
        if st:
            table = help_tables[st]
            if k not in table and not (k.endswith("_FILE") and k[:-5] in table):
                want(name, "variable %s is not in zhook-%s --help" % (k, st))
        elif name == "nginx":
            if k not in nginx_vars:
                want(name, "variable %s is not one of render.sh's %s" % (k, " ".join(sorted(nginx_vars))))
        else:
            want(name, "variable %s set on a service that runs no zhook program" % k)
compose_text = open(opt.compose).read()
used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_text))
for lineno, line in enumerate(open(opt.env_example), 1):
    m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=", line)
    if m and m.group(1) not in used and m.group(1) != "COMPOSE_PROJECT_NAME":
        want(".env.example:%d" % lineno, "%s is not used by the compose file (misspelled, or meant for a "
             "stage's environment, which .env does not reach)" % m.group(1))

# --- ports -----------------------------------------------------------------------
binds = {}  # scheduler socket -> port
if sched:
    for sock in ("SUBMIT", "PUBLISH", "DISPATCH", "RESULTS"):
        binds[sock] = port_of(effective(sched, "ZHOOK_%s_ENDPOINT" % sock))
    ops = port_of(effective(sched, "ZHOOK_OPS_LISTEN"))
    for p in published(svcs[sched]):
        if p != ops:
            want(sched, "publishes container port %s, the scheduler's ops port is %s" % (p, ops))
metrics_port = {}
for name, st in stage_of.items():
    s = svcs[name]
    if st == "scheduler":
        metrics_port[st] = port_of(effective(name, "ZHOOK_OPS_LISTEN"))
        continue
    socks = ("SUBMIT", "PUBLISH") if st == "ingress" else ("DISPATCH", "RESULTS")
    for sock in socks:
        ep = effective(name, "ZHOOK_%s_ENDPOINT" % sock) or ""
        env = s.get("environment") or {}
        host = host_of(ep) if "ZHOOK_%s_ENDPOINT" % sock in env else effective(name, "ZHOOK_SCHEDULER_HOST")
        if host != sched:
            want(name, "ZHOOK_%s_ENDPOINT reaches host %s, not the scheduler service %s" % (sock, host, sched))
        if port_of(ep) != binds.get(sock):
            want(name, "ZHOOK_%s_ENDPOINT connects to port %s, the scheduler binds %s"
                 % (sock, port_of(ep), binds.get(sock)))
        if sched and not set(s.get("networks") or {}) & set(svcs[sched].get("networks") or {}):
            want(name, "shares no network with the scheduler")
    own = port_of(effective(name, "ZHOOK_LISTEN" if st == "ingress" else "ZHOOK_OPS_LISTEN"))
    metrics_port[st] = own
    for p in published(s):
        if p != own:
            want(name, "publishes container port %s, zhook-%s listens on %s" % (p, st, own))
if "nginx" in svcs and "ingress" in stage_of:
    n = svcs["nginx"]
    nenv = n.get("environment") or {}
    m = re.match(r"^([^:]+):(\d+)$", str(nenv.get("ZHOOK_NGINX_UPSTREAM", "")))
    if not m or m.group(1) != "ingress" or int(m.group(2)) != metrics_port.get("ingress"):
        want("nginx", "ZHOOK_NGINX_UPSTREAM %s is not ingress:%s" % (nenv.get("ZHOOK_NGINX_UPSTREAM"),
                                                               metrics_port.get("ingress")))
    listen = port_of(":" + str(nenv.get("ZHOOK_NGINX_LISTEN", "")).split(":")[-1])
    for p in published(n):
        if p != listen:
            want("nginx", "publishes container port %s, ZHOOK_NGINX_LISTEN is %s" % (p, listen))
    test = " ".join(str(t) for t in ((n.get("healthcheck") or {}).get("test") or []))
    if "/dev/tcp/127.0.0.1/%s " % listen not in test + " ":
        want("nginx", "the health check does not probe port %s" % listen)
    if not set(n.get("networks") or {}) & set(svcs["ingress"].get("networks") or {}):
        want("nginx", "shares no network with the ingress")

prom = yaml.safe_load(open(opt.prometheus)) or {}
jobs = {}
for job in prom.get("scrape_configs") or []:
    jobs[job.get("job_name")] = job
alert_jobs = set(re.findall(r'job="(zhook-[a-z]+)"', open(opt.alerts).read()))
for st in STAGES:
    job = jobs.get("zhook-" + st)
    if not job:
        want("prometheus.yml", "no job zhook-%s" % st)
        continue
    svc_names = [n for n, s2 in stage_of.items() if s2 == st]
    for sd in job.get("dns_sd_configs") or []:
        if sd.get("port") != metrics_port.get(st):
            want("prometheus.yml", "job zhook-%s scrapes port %s, zhook-%s serves /metrics on %s"
                 % (st, sd.get("port"), st, metrics_port.get(st)))
        for nm in sd.get("names") or []:
            if nm not in svc_names:
                want("prometheus.yml", "job zhook-%s looks up %s, not the service running zhook-%s" % (st, nm, st))
    if not job.get("dns_sd_configs"):
        want("prometheus.yml", "job zhook-%s has no dns_sd_configs (every replica must be scraped)" % st)
for j in sorted(alert_jobs - set(jobs)):
    want("alerts.yml", "job %s is named by a rule but scraped by no job of prometheus.yml" % j)
if "prometheus" in svcs:
    pnets = set(svcs["prometheus"].get("networks") or {})
    for name in stage_of:
        if not pnets & set(svcs[name].get("networks") or {}):
            want("prometheus", "shares no network with %s" % name)

if "deliverer" in svcs and not (svcs["deliverer"].get("deploy") or {}).get("replicas"):
    want("deliverer", "deploy.replicas missing")
for b in bad:
    print("check_compose: " + b)
sys.exit(1 if bad else 0)
