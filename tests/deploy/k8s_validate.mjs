// k8s_validate.mjs — offline checks of the k8s/ manifests (make k8s-validate).
//
//   node tests/deploy/k8s_validate.mjs --modules DIR [--k8s DIR] [--bin DIR] [--mutate]
//
// DIR of --modules is the node_modules that `make k8s-validator` installs from
// tests/deploy/package-lock.json (kubernetes-models, @kubernetes-models/validate,
// yaml). Without a cluster or kubectl it:
//  1. renders the kustomization: the `resources` of kustomization.yaml, every
//     YAML document of each, `namespace` and `images` applied (any other
//     kustomization field is refused, so nothing is silently ignored); the
//     Secret example (secret.example.yaml, deliberately not a resource) is
//     checked too;
//  2. validates every object with the kubernetes-models validator of its
//     apiVersion/kind (types, enums, required fields, formats);
//  3. strict field check: the same compiled schema runs on a Proxy of the
//     object that records which properties the validator reads. A generated
//     validator reads every property its schema declares (`data.name !==
//     undefined`) and enumerates only free-form maps (labels, data, ...), so a
//     key it never read is not in the schema: a misspelled or unknown field;
//  4. consistency with the programs: every ZHOOK_* variable a workload gets
//     (env, envFrom ConfigMaps) is in its program's `--help` table (or is its
//     VAR_FILE form), every container port is the port the program binds by
//     its effective settings, probes are /live and /ready on those ports,
//     Services, NetworkPolicies and scrape annotations name those ports,
//     terminationGracePeriodSeconds exceeds ZHOOK_SHUTDOWN_GRACE_MS, the
//     security context is the hardened one, only the scheduler has a volume;
//     the TLS Ingress (tls-ingress.yaml) has a tls section covering its hosts,
//     an ingressClassName, backends that are the ingress Service's port, a
//     body-size annotation equal to ZHOOK_MAX_BODY_BYTES and a read timeout
//     above ZHOOK_REQUEST_TIMEOUT_MS, a NetworkPolicy rule admitting the
//     controller (another namespace's pods, the backend port only), and
//     ZHOOK_TRUSTED_PROXIES set on the ingress;
//  5. restore-pod.yaml (the restore helper, not a resource) mounts the
//     scheduler's claim at ZHOOK_DATA_DIR with the same image and hardening;
//     prometheus/scrape-config.yaml, applied (Prometheus relabeling, re-done
//     here) to the rendered pods, gives one target per workload with job
//     zhook-<stage> (the jobs compose/prometheus/alerts.yml names), its
//     metrics port and path;
//  6. --mutate: copies of the manifests with one fault each must be rejected.
// Exit 0 when everything holds; 1 with one line per problem otherwise.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL, fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const opt = { modules: "build/npm-deploy/node_modules", k8s: "k8s", bin: "bin", mutate: false };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i];
    if (a === "--mutate") opt.mutate = true;
    else if (["--modules", "--k8s", "--bin"].includes(a) && i + 1 < process.argv.length)
        opt[a.slice(2)] = process.argv[++i];
    else {
        console.error(`usage: k8s_validate.mjs [--modules DIR] [--k8s DIR] [--bin DIR] [--mutate]`);
        process.exit(2);
    }
}
const modules = path.resolve(root, opt.modules);
if (!fs.existsSync(path.join(modules, "kubernetes-models"))) {
    console.error(`k8s_validate: ${modules} has no kubernetes-models (run make k8s-validator)`);
    process.exit(2);
}
const YAML = createRequire(path.join(modules, "noop.js"))("yaml");

// ---------------------------------------------------------------- models
const modelCache = new Map();
async function modelClass(apiVersion, kind) {
    if (typeof apiVersion !== "string" || !/^[a-z0-9.]*\/?v[0-9a-z]+$/.test(apiVersion))
        return null;
    const file = path.join(modules, "kubernetes-models", apiVersion, "index.js");
    if (!modelCache.has(file))
        modelCache.set(file, fs.existsSync(file) ? await import(pathToFileURL(file).href) : {});
    const cls = modelCache.get(file)[kind];
    return typeof cls === "function" && cls.apiVersion === apiVersion ? cls : null;
}

function errorText(e) {
    if (e && Array.isArray(e.errors))
        return e.errors
            .map((x) => `${x.instancePath || "/"} ${x.message || x.keyword} ${JSON.stringify(x.params || {})}`)
            .join("; ");
    return String(e && e.message ? e.message : e);
}

// Proxy tree recording, per object node, the keys the validator read and
// whether it enumerated the keys (then the node is a map: any key is fine).
function track(value, where, nodes) {
    if (Array.isArray(value)) return value.map((v, i) => track(v, `${where}[${i}]`, nodes));
    if (!value || typeof value !== "object") return value;
    const node = { where, read: new Set(), listed: false, keys: Object.keys(value) };
    nodes.push(node);
    const target = {};
    for (const k of node.keys) target[k] = track(value[k], `${where}.${k}`, nodes);
    return new Proxy(target, {
        get(t, k, r) {
            if (typeof k === "string") node.read.add(k);
            return Reflect.get(t, k, r);
        },
        has(t, k) {
            if (typeof k === "string") node.read.add(k);
            return Reflect.has(t, k);
        },
        ownKeys(t) {
            node.listed = true;
            return Reflect.ownKeys(t);
        },
        getOwnPropertyDescriptor(t, k) {
            return Reflect.getOwnPropertyDescriptor(t, k);
        },
    });
}

async function schemaCheck(obj, name, problems) {
    const cls = await modelClass(obj.apiVersion, obj.kind);
    if (!cls) {
        problems.push(`${name}: no Kubernetes schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
        return;
    }
    try {
        new cls(obj).validate();
    } catch (e) {
        problems.push(`${name}: schema: ${errorText(e)}`);
    }
    const nodes = [];
    const proxied = track(obj, "", nodes);
    try {
        cls.prototype.validate.call(proxied);
    } catch {
        /* reported above */
    }
    for (const n of nodes) {
        if (n.listed) continue;
        for (const k of n.keys)
            if (!n.read.has(k)) problems.push(`${name}: unknown field ${n.where}.${k} (not in the ${obj.kind} schema)`);
    }
}

// ---------------------------------------------------------------- render
const KUSTOMIZE_KEYS = new Set(["apiVersion", "kind", "namespace", "resources", "images"]);

function loadDocs(file, problems) {
    const text = fs.readFileSync(file, "utf8");
    const out = [];
    for (const doc of YAML.parseAllDocuments(text, { strict: true, uniqueKeys: true })) {
        if (doc.errors.length) {
            problems.push(`${path.basename(file)}: YAML: ${doc.errors[0].message}`);
            continue;
        }
        const obj = doc.toJS();
        if (obj === null || obj === undefined) continue;
        out.push({ obj, file: path.basename(file) });
    }
    return out;
}

function render(dir, problems) {
    const kfile = path.join(dir, "kustomization.yaml");
    const k = YAML.parse(fs.readFileSync(kfile, "utf8"));
    for (const key of Object.keys(k))
        if (!KUSTOMIZE_KEYS.has(key)) problems.push(`kustomization.yaml: field ${key} is not handled by this check`);
    if (k.kind !== "Kustomization") problems.push("kustomization.yaml: kind is not Kustomization");
    const objs = [];
    for (const r of k.resources || []) {
        const f = path.join(dir, r);
        if (!fs.existsSync(f)) {
            problems.push(`kustomization.yaml: resource ${r} does not exist`);
            continue;
        }
        objs.push(...loadDocs(f, problems));
    }
    const clusterScoped = new Set(["Namespace"]);
    for (const { obj } of objs) {
        if (!obj || typeof obj !== "object" || !obj.metadata) continue;
        if (k.namespace && !clusterScoped.has(obj.kind)) obj.metadata.namespace = k.namespace;
        for (const pod of podSpecs(obj))
            for (const c of pod.spec.containers || [])
                for (const img of k.images || [])
                    if (c.image === img.name || String(c.image).startsWith(img.name + ":"))
                        c.image = `${img.newName || img.name}:${img.newTag || "latest"}`;
    }
    return { objs, kustomization: k };
}

function podSpecs(obj) {
    const t = obj && obj.spec && obj.spec.template;
    return t && t.spec ? [{ spec: t.spec, labels: (t.metadata && t.metadata.labels) || {}, meta: t.metadata || {} }] : [];
}

// ---------------------------------------------------------------- programs
const STAGES = ["scheduler", "ingress", "deliverer"];
function helpTable(binDir, stage) {
    const out = execFileSync(path.join(binDir, `zhook-${stage}`), ["--help"], { encoding: "utf8" });
    const vars = new Map();
    const re = /^ {2}(ZHOOK_[A-Z0-9_]+)\s+default: (.*)$/gm;
    let m;
    while ((m = re.exec(out))) vars.set(m[1], m[2].trim());
    if (vars.size < 5) throw new Error(`zhook-${stage} --help lists no variables`);
    return vars;
}

function portOf(hostport) {
    const m = /:(\d+)$/.exec(String(hostport));
    return m ? Number(m[1]) : null;
}

function matches(selector, labels) {
    const ml = (selector && selector.matchLabels) || {};
    return Object.entries(ml).every(([k, v]) => labels[k] === v);
}

// ---------------------------------------------------------------- consistency
function consistency(objs, binDir, problems) {
    const help = Object.fromEntries(STAGES.map((s) => [s, helpTable(binDir, s)]));
    const byKind = (kind) => objs.filter((o) => o.kind === kind);
    const configMaps = new Map(byKind("ConfigMap").map((c) => [c.metadata.name, c.data || {}]));
    const workloads = objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));
    const pods = []; // { name, stage, labels, ports: Map name->number, expected }
    const want = (c, what) => problems.push(`${c}: ${what}`);

    for (const w of workloads) {
        const name = `${w.kind}/${w.metadata.name}`;
        const [pod] = podSpecs(w);
        const spec = pod.spec;
        if (spec.containers.length !== 1) want(name, "expected one container");
        const c = spec.containers[0];
        const prog = (c.args || c.command || []).find((a) => /^zhook-[a-z]+$/.test(a));
        const stage = prog && prog.slice("zhook-".length);
        if (!STAGES.includes(stage)) {
            want(name, `args name no zhook program (${JSON.stringify(c.args)})`);
            continue;
        }
        const table = help[stage];
        // effective environment: envFrom ConfigMaps in order, then env
        const env = new Map();
        for (const ef of c.envFrom || []) {
            const cm = ef.configMapRef && configMaps.get(ef.configMapRef.name);
            if (ef.configMapRef && !cm) want(name, `envFrom ConfigMap ${ef.configMapRef.name} is not in the kustomization`);
            if (ef.secretRef) want(name, "secrets come as files (*_FILE), not envFrom secretRef");
            for (const [k, v] of Object.entries(cm || {})) env.set(k, String(v));
        }
        for (const e of c.env || []) {
            if (e.valueFrom && e.valueFrom.secretKeyRef) want(name, `${e.name}: secrets come as files (*_FILE), not env values`);
            env.set(e.name, e.value === undefined ? "" : String(e.value));
        }
        for (const k of env.keys()) {
            if (!k.startsWith("ZHOOK_")) want(name, `variable ${k} is not a zhook setting`);
            else if (!table.has(k) && !(k.endsWith("_FILE") && table.has(k.slice(0, -5))))
                want(name, `variable ${k} is not in zhook-${stage} --help`);
        }
        const setting = (k) => (env.has(k) ? env.get(k) : table.get(k));
        // the ports the program binds with these settings
        const expected = new Map();
        if (stage === "scheduler") {
            for (const [pname, v] of [["submit", "ZHOOK_SUBMIT_ENDPOINT"], ["publish", "ZHOOK_PUBLISH_ENDPOINT"],
                                      ["dispatch", "ZHOOK_DISPATCH_ENDPOINT"], ["results", "ZHOOK_RESULTS_ENDPOINT"]])
                expected.set(pname, portOf(setting(v)));
            expected.set("ops", portOf(setting("ZHOOK_OPS_LISTEN")));
        } else if (stage === "ingress") {
            expected.set("http", portOf(setting("ZHOOK_LISTEN")));
        } else {
            expected.set("ops", portOf(setting("ZHOOK_OPS_LISTEN")));
        }
        const ports = new Map((c.ports || []).map((p) => [p.name, p.containerPort]));
        for (const [pn, num] of expected)
            if (ports.get(pn) !== num) want(name, `container port ${pn} is ${ports.get(pn)}, zhook-${stage} binds ${num}`);
        for (const [pn, num] of ports)
            if (expected.get(pn) !== num) want(name, `container port ${pn} ${num} is not a port zhook-${stage} binds`);
        const opsName = stage === "ingress" ? "http" : "ops";
        const opsPort = expected.get(opsName);
        // probes: real endpoints on the real port
        const probePort = (p) => (typeof p === "string" ? ports.get(p) : p);
        const probes = { livenessProbe: ["/live"], readinessProbe: ["/ready"], startupProbe: ["/live", "/ready"] };
        for (const [pk, paths] of Object.entries(probes)) {
            const p = c[pk];
            if (!p || !p.httpGet) {
                want(name, `${pk} missing (httpGet)`);
                continue;
            }
            if (!paths.includes(p.httpGet.path)) want(name, `${pk} path ${p.httpGet.path}, expected ${paths.join(" or ")}`);
            if (probePort(p.httpGet.port) !== opsPort) want(name, `${pk} port ${p.httpGet.port} is not the ${opsName} port ${opsPort}`);
        }
        const ann = pod.meta.annotations || {};
        if (ann["prometheus.io/scrape"] !== "true") want(name, "prometheus.io/scrape is not \"true\"");
        if (Number(ann["prometheus.io/port"]) !== opsPort) want(name, `prometheus.io/port ${ann["prometheus.io/port"]} is not ${opsPort}`);
        if (ann["prometheus.io/path"] !== "/metrics") want(name, "prometheus.io/path is not /metrics");
        // shutdown grace
        const grace = Number(setting("ZHOOK_SHUTDOWN_GRACE_MS"));
        if (!(Number(spec.terminationGracePeriodSeconds) * 1000 > grace))
            want(name, `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} is not above ZHOOK_SHUTDOWN_GRACE_MS ${grace}`);
        // hardening
        const psc = spec.securityContext || {};
        const csc = c.securityContext || {};
        if (psc.runAsNonRoot !== true || csc.runAsNonRoot !== true) want(name, "runAsNonRoot must be true");
        if (psc.runAsUser !== 10001 || csc.runAsUser !== 10001) want(name, "runAsUser must be 10001 (the image's user)");
        if (!psc.seccompProfile || psc.seccompProfile.type !== "RuntimeDefault") want(name, "seccompProfile RuntimeDefault missing");
        if (csc.readOnlyRootFilesystem !== true) want(name, "readOnlyRootFilesystem must be true");
        if (csc.allowPrivilegeEscalation !== false) want(name, "allowPrivilegeEscalation must be false");
        if (!csc.capabilities || JSON.stringify(csc.capabilities.drop) !== '["ALL"]') want(name, "capabilities must drop ALL");
        if (spec.enableServiceLinks !== false) want(name, "enableServiceLinks must be false (service env vars would look like ZHOOK_* settings)");
        if (!c.resources || !c.resources.requests || !c.resources.limits) want(name, "resource requests and limits missing");
        const mounts = new Map((c.volumeMounts || []).map((m) => [m.mountPath, m]));
        if (!mounts.has("/tmp")) want(name, "no writable /tmp (emptyDir)");
        const hasPvc = w.kind === "StatefulSet" && (w.spec.volumeClaimTemplates || []).length > 0;
        if (stage === "scheduler") {
            if (!hasPvc) want(name, "the scheduler needs a volumeClaimTemplate");
            if (w.kind !== "StatefulSet" || w.spec.replicas !== 1) want(name, "the scheduler is a StatefulSet of 1 replica (one writer)");
            const dd = setting("ZHOOK_DATA_DIR");
            const m = mounts.get(dd);
            if (!m || !(w.spec.volumeClaimTemplates || []).some((t) => t.metadata.name === m.name))
                want(name, `ZHOOK_DATA_DIR ${dd} is not the mounted volume claim`);
        } else {
            if (hasPvc || (spec.volumes || []).some((v) => v.persistentVolumeClaim)) want(name, "only the scheduler may have a volume");
            if (w.kind !== "Deployment") want(name, `${stage} must be a Deployment`);
        }
        for (const [k, v] of env)
            if ((k.endsWith("_FILE") || k === "ZHOOK_CURVE_CLIENTS_DIR") && v.startsWith("/")) {
                const under = [...mounts.keys()].some((mp) => v === mp || v.startsWith(mp + "/"));
                if (!under) want(name, `${k}=${v} is on no mounted volume`);
            }
        pods.push({ name, stage, w, labels: pod.labels, meta: pod.meta, ports, env, setting, expected });
    }

    // the connect side: the scheduler host and ports ingresses and deliverers use
    const sched = pods.find((p) => p.stage === "scheduler");
    const svcs = byKind("Service");
    for (const p of pods.filter((q) => q.stage !== "scheduler")) {
        if (!sched) break;
        const host = p.setting("ZHOOK_SCHEDULER_HOST");
        const svcName = sched.w.spec.serviceName;
        const okHosts = [svcName, `${sched.w.metadata.name}-0.${svcName}`];
        const ns = sched.w.metadata.namespace;
        const okFull = okHosts.flatMap((h) => [h, `${h}.${ns}`, `${h}.${ns}.svc`, `${h}.${ns}.svc.cluster.local`]);
        if (!okFull.includes(host)) want(p.name, `ZHOOK_SCHEDULER_HOST ${host} is not the scheduler's headless Service (${okHosts.join(" or ")})`);
        const headless = svcs.find((s) => s.metadata.name === svcName);
        if (!headless || headless.spec.clusterIP !== "None") want(sched.name, `serviceName ${svcName} is not a headless Service`);
        const conn = p.stage === "ingress" ? ["ZHOOK_SUBMIT_ENDPOINT", "ZHOOK_PUBLISH_ENDPOINT"] : ["ZHOOK_DISPATCH_ENDPOINT", "ZHOOK_RESULTS_ENDPOINT"];
        const schedPorts = new Set(sched.ports.values());
        for (const v of conn) {
            const port = portOf(p.setting(v).replace(/\/+$/, ""));
            if (!schedPorts.has(port)) want(p.name, `${v} connects to port ${port}, which the scheduler does not bind`);
        }
    }

    // Services: selectors hit a workload, ports resolve to its container ports
    for (const s of svcs) {
        const name = `Service/${s.metadata.name}`;
        const target = pods.find((p) => matches({ matchLabels: s.spec.selector }, p.labels));
        if (!target) {
            want(name, "selects no workload");
            continue;
        }
        for (const sp of s.spec.ports || []) {
            const tp = sp.targetPort === undefined ? sp.port : sp.targetPort;
            const num = typeof tp === "string" ? target.ports.get(tp) : tp;
            if (num === undefined || ![...target.ports.values()].includes(num)) want(name, `targetPort ${tp} is not a port of ${target.name}`);
            else if (sp.port !== num) want(name, `port ${sp.port} differs from the program's port ${num}`);
        }
    }

    // NetworkPolicies: every port named is a port of the pods it concerns
    for (const np of byKind("NetworkPolicy")) {
        const name = `NetworkPolicy/${np.metadata.name}`;
        const selected = pods.filter((p) => matches(np.spec.podSelector, p.labels));
        const selPorts = new Set(selected.flatMap((p) => [...p.ports.values()]));
        for (const r of np.spec.ingress || [])
            for (const pt of r.ports || [])
                if (pt.port !== undefined && !selPorts.has(pt.port)) want(name, `ingress port ${pt.port} is not a port of the selected pods`);
        for (const r of np.spec.egress || []) {
            const peers = (r.to || []).filter((t) => t.podSelector && !t.namespaceSelector);
            if (!peers.length) continue;
            const tPorts = new Set(pods.filter((p) => peers.some((t) => matches(t.podSelector, p.labels))).flatMap((p) => [...p.ports.values()]));
            for (const pt of r.ports || [])
                if (pt.port !== undefined && !tPorts.has(pt.port)) want(name, `egress port ${pt.port} is not a port of the peer pods`);
        }
    }
    const nps = byKind("NetworkPolicy");
    if (!nps.some((n) => Object.keys(n.spec.podSelector || {}).length === 0 && !n.spec.ingress && !n.spec.egress &&
                     (n.spec.policyTypes || []).includes("Ingress") && (n.spec.policyTypes || []).includes("Egress")))
        want("NetworkPolicy", "no default deny of ingress and egress");

    // HPAs and PDBs point at workloads that exist
    for (const h of byKind("HorizontalPodAutoscaler")) {
        const ref = h.spec.scaleTargetRef;
        if (!workloads.some((w) => w.kind === ref.kind && w.metadata.name === ref.name))
            want(`HorizontalPodAutoscaler/${h.metadata.name}`, `scaleTargetRef ${ref.kind}/${ref.name} does not exist`);
    }
    for (const b of byKind("PodDisruptionBudget"))
        if (!pods.some((p) => matches(b.spec.selector, p.labels))) want(`PodDisruptionBudget/${b.metadata.name}`, "selects no pods");
    // the TLS Ingress: backends are the ingress stage's Service port, tls
    // covers every host, the controller may reach the pods, limits agree
    const ingresses = byKind("Ingress");
    if (!ingresses.length) want("Ingress", "no networking.k8s.io/v1 Ingress (TLS in front of the zhook-ingress Service)");
    for (const ing of ingresses) {
        const name = `Ingress/${ing.metadata.name}`;
        const spec = ing.spec || {};
        if (!spec.ingressClassName) want(name, "ingressClassName missing");
        const tls = spec.tls || [];
        if (!tls.length) want(name, "no tls section: the ingress speaks plain HTTP, TLS must end here");
        for (const t of tls) if (!t.secretName) want(name, "a tls entry without secretName");
        const tlsHosts = new Set(tls.flatMap((t) => t.hosts || []));
        const backends = [];
        if (spec.defaultBackend) backends.push(spec.defaultBackend);
        for (const r of spec.rules || []) {
            if (!r.host || !tlsHosts.has(r.host)) want(name, `host ${r.host} is not in a tls entry (served without TLS)`);
            for (const pth of (r.http && r.http.paths) || []) backends.push(pth.backend);
        }
        if (!backends.length) want(name, "no backend");
        for (const b of backends) {
            const bs = b && b.service;
            const svc = bs && svcs.find((x) => x.metadata.name === bs.name);
            if (!svc) {
                want(name, `backend service ${bs && bs.name} is not a Service of the kustomization`);
                continue;
            }
            const target = pods.find((p) => matches({ matchLabels: svc.spec.selector }, p.labels));
            if (!target || target.stage !== "ingress") {
                want(name, `backend service ${bs.name} does not select the zhook-ingress pods`);
                continue;
            }
            const sp = (svc.spec.ports || []).find((x) => (bs.port.name !== undefined ? x.name === bs.port.name : x.port === bs.port.number));
            if (!sp) {
                want(name, `backend port ${JSON.stringify(bs.port)} is not a port of Service ${bs.name}`);
                continue;
            }
            const tp = sp.targetPort === undefined ? sp.port : sp.targetPort;
            const podPort = typeof tp === "string" ? target.ports.get(tp) : tp;
            if (podPort !== target.expected.get("http"))
                want(name, `backend reaches pod port ${podPort}, zhook-ingress listens on ${target.expected.get("http")}`);
            // the controller must be admitted to that port: a rule for it alone
            // (only the backend port, from pods of another namespace; the
            // Prometheus rule, with its other ports, does not count)
            const ns = target.w.metadata.namespace;
            const admits = byKind("NetworkPolicy").some((np) => matches(np.spec.podSelector, target.labels) &&
                (np.spec.ingress || []).some((r) => (r.ports || []).length > 0 &&
                    (r.ports || []).every((pt) => pt.port === podPort || pt.port === "http") &&
                    (r.from || []).some((peer) => peer.namespaceSelector && peer.podSelector &&
                        (peer.namespaceSelector.matchLabels || {})["kubernetes.io/metadata.name"] !== ns)));
            if (!admits) want(name, `no NetworkPolicy rule admits the Ingress controller's pods (another namespace) to port ${podPort} of the ingress pods`);
            if (!target.env.has("ZHOOK_TRUSTED_PROXIES") || !target.env.get("ZHOOK_TRUSTED_PROXIES"))
                want(target.name, "ZHOOK_TRUSTED_PROXIES unset: the Ingress controller's X-Forwarded-For/-Proto would be ignored (no client IPs, no HSTS)");
            const ann = ing.metadata.annotations || {};
            const size = ann["nginx.ingress.kubernetes.io/proxy-body-size"];
            if (size !== undefined) {
                const m = /^(\d+)([kKmMgG]?)$/.exec(String(size));
                const bytes = m ? Number(m[1]) * { "": 1, k: 1024, m: 1048576, g: 1073741824 }[m[2].toLowerCase()] : NaN;
                const max = Number(target.setting("ZHOOK_MAX_BODY_BYTES"));
                if (bytes !== max) want(name, `proxy-body-size ${size} (${bytes} bytes) differs from ZHOOK_MAX_BODY_BYTES ${max}`);
            }
            const rt = ann["nginx.ingress.kubernetes.io/proxy-read-timeout"];
            if (rt !== undefined && !(Number(rt) * 1000 > Number(target.setting("ZHOOK_REQUEST_TIMEOUT_MS"))))
                want(name, `proxy-read-timeout ${rt} s is not above ZHOOK_REQUEST_TIMEOUT_MS ${target.setting("ZHOOK_REQUEST_TIMEOUT_MS")}`);
        }
    }
    const dlv = workloads.find((w) => w.kind === "Deployment" && w.metadata.name === "zhook-deliverer");
    if (!dlv) want("Deployment/zhook-deliverer", "missing (kubectl scale deployment/zhook-deliverer is the documented way to scale)");
    for (const s of STAGES) if (!pods.some((p) => p.stage === s)) want("workloads", `no zhook-${s}`);
    return pods;
}

// ---------------------------------------------------------------- restore helper
// restore-pod.yaml: mounts the scheduler's claim where ZHOOK_DATA_DIR is,
// with the StatefulSet's image and the hardened security context.
function restoreHelper(pod, pods, problems) {
    const name = `restore-pod.yaml: Pod/${pod.metadata && pod.metadata.name}`;
    const want = (what) => problems.push(`${name}: ${what}`);
    const sched = pods.find((p) => p.stage === "scheduler");
    if (!sched) return;
    const sts = sched.w;
    if (pod.kind !== "Pod") return want("is not a Pod");
    if (pod.metadata.namespace !== sts.metadata.namespace) want(`namespace ${pod.metadata.namespace} is not ${sts.metadata.namespace}`);
    const spec = pod.spec || {};
    const c = (spec.containers || [])[0] || {};
    const image = podSpecs(sts)[0].spec.containers[0].image;
    if (c.image !== image) want(`image ${c.image} is not the StatefulSet's ${image}`);
    const claims = (sts.spec.volumeClaimTemplates || []).map((t) => `${t.metadata.name}-${sts.metadata.name}-0`);
    const vol = (spec.volumes || []).find((v) => v.persistentVolumeClaim);
    if (!vol || !claims.includes(vol.persistentVolumeClaim.claimName))
        want(`claim ${vol && vol.persistentVolumeClaim.claimName} is not the scheduler's (${claims.join(", ")})`);
    const dd = sched.setting("ZHOOK_DATA_DIR");
    const m = (c.volumeMounts || []).find((x) => vol && x.name === vol.name);
    if (!m || m.mountPath !== dd || m.readOnly) want(`the claim is not mounted writable at ZHOOK_DATA_DIR ${dd}`);
    const psc = spec.securityContext || {};
    const csc = c.securityContext || {};
    if (psc.runAsNonRoot !== true || psc.runAsUser !== 10001 || csc.runAsUser !== 10001) want("must run as non-root uid 10001 (the store's owner)");
    if (!psc.seccompProfile || psc.seccompProfile.type !== "RuntimeDefault") want("seccompProfile RuntimeDefault missing");
    if (csc.readOnlyRootFilesystem !== true || csc.allowPrivilegeEscalation !== false ||
        !csc.capabilities || JSON.stringify(csc.capabilities.drop) !== '["ALL"]')
        want("security context is not the hardened one (restricted Pod Security Standard)");
    if (spec.restartPolicy !== "Never") want("restartPolicy must be Never");
}

// ---------------------------------------------------------------- scrape config
// Prometheus relabeling (the subset the scrape config uses: replace, keep,
// drop, labelmap), applied to the targets Kubernetes pod discovery makes of
// the rendered pods: one per container port.
function relabel(labels, rules) {
    for (const r of rules || []) {
        const action = r.action || "replace";
        const value = (r.source_labels || []).map((l) => labels[l] || "").join(r.separator === undefined ? ";" : r.separator);
        const re = new RegExp(`^(?:${r.regex === undefined ? "(.*)" : r.regex})$`);
        const m = re.exec(value);
        if (action === "keep" && !m) return null;
        if (action === "drop" && m) return null;
        if (action === "replace" && m) {
            const out = String(r.replacement === undefined ? "$1" : r.replacement)
                .replace(/\$\{(\w+)\}|\$(\d+)/g, (_, a, b) => m[Number(a || b)] || "");
            if (out === "") delete labels[r.target_label];
            else labels[r.target_label] = out;
        }
        if (action === "labelmap")
            for (const k of Object.keys(labels)) {
                const mm = re.exec(k);
                if (mm) labels[String(r.replacement === undefined ? "$1" : r.replacement).replace(/\$(\d+)/g, (_, b) => mm[Number(b)] || "")] = labels[k];
            }
        if (!["keep", "drop", "replace", "labelmap"].includes(action)) throw new Error(`relabel action ${action} is not simulated`);
    }
    return labels;
}

function scrapeConfig(file, pods, alertsFile, problems) {
    const name = "prometheus/scrape-config.yaml";
    const want = (what) => problems.push(`${name}: ${what}`);
    const doc = YAML.parse(fs.readFileSync(file, "utf8")) || {};
    const jobs = doc.scrape_configs || [];
    if (!jobs.length) return want("no scrape_configs");
    const clean = (k) => k.replace(/[^a-zA-Z0-9_]/g, "_");
    const targets = new Map(); // dedup key -> labels
    for (const job of jobs) {
        const sd = (job.kubernetes_sd_configs || [])[0];
        if (!sd || sd.role !== "pod") {
            want(`job ${job.job_name}: expected kubernetes_sd_configs with role pod`);
            continue;
        }
        const nsNames = (sd.namespaces && sd.namespaces.names) || null;
        for (const p of pods) {
            const ns = p.w.metadata.namespace;
            if (nsNames && !nsNames.includes(ns)) continue;
            const meta = p.meta || {};
            for (const [pname, pnum] of p.ports) {
                const l = { __address__: `10.0.0.1:${pnum}`, __metrics_path__: job.metrics_path || "/metrics",
                            __scheme__: job.scheme || "http", job: job.job_name,
                            __meta_kubernetes_namespace: ns, __meta_kubernetes_pod_name: `${p.w.metadata.name}-0`,
                            __meta_kubernetes_pod_container_port_name: pname, __meta_kubernetes_pod_container_port_number: String(pnum) };
                for (const [k, v] of Object.entries(p.labels)) l[`__meta_kubernetes_pod_label_${clean(k)}`] = String(v);
                for (const [k, v] of Object.entries(meta.annotations || {})) l[`__meta_kubernetes_pod_annotation_${clean(k)}`] = String(v);
                const out = relabel(l, job.relabel_configs);
                if (!out) continue;
                const key = JSON.stringify(Object.entries(out).filter(([k]) => !k.startsWith("__meta_")).sort());
                targets.set(key, { ...out, stage: p.stage, pod: p.name });
            }
        }
    }
    const alertJobs = new Set([...fs.readFileSync(alertsFile, "utf8").matchAll(/job="(zhook-[a-z]+)"/g)].map((m) => m[1]));
    for (const p of pods) {
        const mine = [...targets.values()].filter((t) => t.pod === p.name);
        const port = p.expected.get(p.stage === "ingress" ? "http" : "ops");
        if (mine.length !== 1) {
            want(`${p.name}: ${mine.length} targets after relabeling, expected 1 (${mine.map((t) => t.__address__).join(", ")})`);
            continue;
        }
        const t = mine[0];
        if (t.job !== `zhook-${p.stage}`) want(`${p.name}: job "${t.job}", the alert rules expect "zhook-${p.stage}"`);
        if (portOf(t.__address__) !== port) want(`${p.name}: scraped on ${t.__address__}, /metrics is on port ${port}`);
        if (t.__metrics_path__ !== "/metrics") want(`${p.name}: metrics path ${t.__metrics_path__}`);
    }
    const got = new Set([...targets.values()].map((t) => t.job));
    for (const j of alertJobs) if (!got.has(j)) want(`no target gets job ${j}, which compose/prometheus/alerts.yml names`);
}

// ---------------------------------------------------------------- main check
async function check(dir) {
    const problems = [];
    const { objs } = render(dir, problems);
    const example = path.join(dir, "secret.example.yaml");
    const extra = fs.existsSync(example) ? loadDocs(example, problems) : [];
    for (const { obj, file } of [...objs, ...extra]) {
        const name = `${file}: ${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
        await schemaCheck(obj, name, problems);
    }
    for (const { obj } of extra)
        for (const v of Object.values(obj.stringData || obj.data || {}))
            if (!/REPLACE_ME|^(\w+ )?0{64}\s*$/.test(String(v))) problems.push(`secret.example.yaml: ${obj.metadata.name} holds a value that is not a placeholder`);
    const restoreFile = path.join(dir, "restore-pod.yaml");
    const restore = fs.existsSync(restoreFile) ? loadDocs(restoreFile, problems) : [];
    if (!restore.length) problems.push("restore-pod.yaml: missing (the restore helper of docs/DEPLOY.md)");
    for (const { obj, file } of restore) await schemaCheck(obj, `${file}: ${obj.kind}/${obj.metadata && obj.metadata.name}`, problems);
    const scrapeFile = path.join(dir, "prometheus", "scrape-config.yaml");
    if (!fs.existsSync(scrapeFile)) problems.push("prometheus/scrape-config.yaml: missing");
    if (!problems.length) {
        const pods = consistency(objs.map((o) => o.obj), path.resolve(root, opt.bin), problems);
        for (const { obj } of restore) restoreHelper(obj, pods, problems);
        scrapeConfig(scrapeFile, pods, path.join(root, "compose", "prometheus", "alerts.yml"), problems);
    }
    return { problems, count: objs.length + extra.length + restore.length };
}

// ---------------------------------------------------------------- mutations
const MUTATIONS = [
    { what: "misspelled field containerPort -> containerPrt", file: "deliverer.yaml",
      from: "containerPort: 9091", to: "containerPrt: 9091", expect: /unknown field .*containerPrt/ },
    { what: "misspelled security field readOnlyRootFileSystem", file: "ingress.yaml",
      from: "readOnlyRootFilesystem: true", to: "readOnlyRootFileSystem: true", expect: /unknown field .*readOnlyRootFileSystem/ },
    { what: "wrong type: replicas \"two\"", file: "ingress.yaml",
      from: "replicas: 2", to: 'replicas: "two"', expect: /schema: \/spec\/replicas/ },
    { what: "unknown ZHOOK_ variable", file: "configmap.yaml",
      from: 'ZHOOK_CONCURRENCY: "64"', to: 'ZHOOK_CONCURENCY: "64"', expect: /ZHOOK_CONCURENCY is not in zhook-deliverer --help/ },
    { what: "variable of another stage", file: "configmap.yaml",
      from: "ZHOOK_LISTEN: 0.0.0.0:8080", to: "ZHOOK_LISTEN: 0.0.0.0:8080\n  ZHOOK_DATA_DIR: /tmp", expect: /ZHOOK_DATA_DIR is not in zhook-ingress --help/ },
    { what: "wrong port: deliverer ops 9092", file: "deliverer.yaml",
      from: "containerPort: 9091", to: "containerPort: 9092", expect: /container port ops is 9092, zhook-deliverer binds 9091/ },
    { what: "wrong port: headless Service submit 5565", file: "scheduler.yaml",
      from: "port: 5555\n", to: "port: 5565\n", expect: /port 5565 differs/ },
    { what: "probe path /healthz", file: "scheduler.yaml",
      from: "path: /live", to: "path: /healthz", expect: /livenessProbe path \/healthz/ },
    { what: "grace below ZHOOK_SHUTDOWN_GRACE_MS", file: "deliverer.yaml",
      from: "terminationGracePeriodSeconds: 20", to: "terminationGracePeriodSeconds: 5", expect: /terminationGracePeriodSeconds 5/ },
    { what: "network policy port 5559", file: "networkpolicy.yaml",
      from: "port: 5558", to: "port: 5559", expect: /port 5559 is not a port/ },
    { what: "Ingress without tls", file: "tls-ingress.yaml",
      from: "  tls:\n    - hosts: [zhook.example.com]\n      secretName: zhook-tls\n", to: "", expect: /no tls section/ },
    { what: "Ingress host outside its tls hosts", file: "tls-ingress.yaml",
      from: "    - host: zhook.example.com", to: "    - host: api.example.com", expect: /host api.example.com is not in a tls entry/ },
    { what: "Ingress backend port 8081", file: "tls-ingress.yaml",
      from: "                  name: http", to: "                  number: 8081", expect: /backend port .*8081.* is not a port of Service zhook-ingress/ },
    { what: "Ingress backend service misspelled", file: "tls-ingress.yaml",
      from: "                name: zhook-ingress", to: "                name: zhook-ingres", expect: /backend service zhook-ingres is not a Service/ },
    { what: "Ingress misspelled field ingressClass", file: "tls-ingress.yaml",
      from: "  ingressClassName: nginx", to: "  ingressClass: nginx", expect: /unknown field .*ingressClass/ },
    { what: "Ingress body size above ZHOOK_MAX_BODY_BYTES", file: "tls-ingress.yaml",
      from: "proxy-body-size: 256k", to: "proxy-body-size: 1m", expect: /proxy-body-size 1m .* differs from ZHOOK_MAX_BODY_BYTES 262144/ },
    { what: "no NetworkPolicy rule for the Ingress controller", file: "networkpolicy.yaml",
      from: "              kubernetes.io/metadata.name: ingress-nginx", to: "              kubernetes.io/metadata.name: zhook",
      expect: /no NetworkPolicy rule admits the Ingress controller/ },
    { what: "ZHOOK_TRUSTED_PROXIES removed", file: "configmap.yaml",
      from: "  ZHOOK_TRUSTED_PROXIES: 10.0.0.0/8\n", to: "", expect: /ZHOOK_TRUSTED_PROXIES unset/ },
    { what: "scrape config names jobs after the component only", file: "prometheus/scrape-config.yaml",
      from: "replacement: zhook-$1", to: "replacement: $1", expect: /job "scheduler", the alert rules expect "zhook-scheduler"/ },
    { what: "scrape config without the annotated port", file: "prometheus/scrape-config.yaml",
      from: "        replacement: $1:$2\n", to: "        replacement: $1\n", expect: /targets after relabeling, expected 1|scraped on/ },
    { what: "restore helper on another claim", file: "restore-pod.yaml",
      from: "claimName: data-zhook-scheduler-0", to: "claimName: data-zhook-scheduler-1", expect: /claim data-zhook-scheduler-1 is not the scheduler's/ },
    { what: "restore helper as root", file: "restore-pod.yaml",
      from: "    runAsUser: 10001\n    runAsGroup", to: "    runAsUser: 0\n    runAsGroup", expect: /must run as non-root uid 10001/ },
];

async function mutate(dir) {
    let failed = 0;
    for (const m of MUTATIONS) {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "zh-k8s-"));
        try {
            fs.cpSync(dir, tmp, { recursive: true });
            const f = path.join(tmp, m.file);
            const text = fs.readFileSync(f, "utf8");
            if (!text.includes(m.from)) {
                console.log(`FAIL mutation "${m.what}": ${m.file} has no "${m.from}"`);
                failed++;
                continue;
            }
            fs.writeFileSync(f, text.replace(m.from, m.to));
            const { problems } = await check(tmp);
            const hit = problems.find((p) => m.expect.test(p));
            if (hit) console.log(`ok   mutation rejected: ${m.what}\n       ${hit}`);
            else {
                console.log(`FAIL mutation accepted: ${m.what}${problems.length ? ` (other problems: ${problems.join(" | ")})` : ""}`);
                failed++;
            }
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    }
    // the kubernetes-models validator alone lets a misspelled field through:
    // that is why the strict check exists (and this proves it still matters)
    const { Deployment } = await import(pathToFileURL(path.join(modules, "kubernetes-models", "apps", "v1", "index.js")).href);
    const d = loadDocs(path.join(dir, "deliverer.yaml"), []).find((x) => x.obj.kind === "Deployment").obj;
    d.spec.template.spec.containers[0].ports[0].containerPrt = 1;
    let plainAccepts = true;
    try {
        new Deployment(d).validate();
    } catch {
        plainAccepts = false;
    }
    console.log(`note kubernetes-models alone ${plainAccepts ? "accepts" : "rejects"} the misspelled field; the strict check rejects it`);
    return failed;
}

const dir = path.resolve(root, opt.k8s);
const { problems, count } = await check(dir);
for (const p of problems) console.log(`FAIL ${p}`);
if (problems.length) {
    console.log(`k8s_validate: ${problems.length} problem(s) in ${dir}`);
    process.exit(1);
}
console.log(`k8s_validate: ${count} objects valid (schemas, no unknown fields, consistent with bin/zhook-* --help)`);
if (opt.mutate) {
    const failed = await mutate(dir);
    if (failed) {
        console.log(`k8s_validate: ${failed} mutation(s) not rejected`);
        process.exit(1);
    }
    console.log(`k8s_validate: all ${MUTATIONS.length} mutations rejected`);
}
