// compose_policy.mjs — the policy half of tests/deploy/check_compose.sh.
//
//     docker-compose -f F config | node compose_policy.mjs \
//         --compose F --env-example E --dockerfile D --bin BIN --render R \
//         --prometheus P --alerts A [--modules DIR]
//
// DIR of --modules is the node_modules that `make k8s-validator` installs from
// tests/deploy/package-lock.json (default: the repository's build/npm-deploy/node_modules); only
// its `yaml` is used. Reads the resolved compose file (`docker-compose config`)
// on stdin and checks it against the programs and the files it names (one
// line per problem, exit 1):
//
// - hardening: every service non-root, read-only root, cap_drop ALL,
//   no-new-privileges, CPU and memory limits; long-running ones restart; zhook
//   stages and nginx have a health check; depends_on waits for health;
// - secrets: no secret-looking ZHOOK_* / GF_* value (only the _FILE forms);
//   every /run/secrets path a variable names is a secret the service mounts;
//   CURVE: each client's server certificate is the public half of the
//   scheduler's key, and the scheduler's allowlist holds the public half of
//   every client's key;
// - volumes: the scheduler is the only service with a volume (zhook-data, at
//   its ZHOOK_DATA_DIR, the only top-level volume); every bind mount is
//   read-only; the Dockerfile declares no VOLUME (it would give every
//   container of the image an anonymous writable volume);
// - variables: every ZHOOK_* variable a service sets is in its program's
//   `--help` table (or is that variable's _FILE form), nginx's are the
//   ZHOOK_NGINX_* of compose/nginx/render.sh; every variable .env.example sets
//   is used by the compose file;
// - ports: the ports published, connected to, proxied to, health-checked and
//   scraped (compose/prometheus/prometheus.yml) are the ones the programs bind
//   with their effective settings (the environment, else the --help default);
//   the scrape jobs are the jobs the alert rules name.
//
// The YAML is read as docker-compose itself writes it: YAML 1.1 with the
// plain-scalar resolution of PyYAML (so `y`, `08` or `1e3` stay strings, as
// docker-compose leaves them unquoted), and values are printed and compared
// as the Python original of this script did (None, True, 1.0, ['a', 'b'],
// ...), except that a timestamp stays its YAML text.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const STAGES = ["scheduler", "ingress", "deliverer"];
const SECRET_WORDS = ["SECRET", "TOKEN", "API_KEYS", "PASSWORD"];

// ---------------------------------------------------------------- arguments
const REQUIRED = ["compose", "env-example", "dockerfile", "bin", "render", "prometheus", "alerts"];
const usage = "usage: compose_policy.mjs " + REQUIRED.map((a) => `--${a} ${a.toUpperCase().replace("-", "_")}`).join(" ") +
    " [--modules DIR]";
const opt = { modules: "build/npm-deploy/node_modules" };
{
    const args = process.argv.slice(2);
    const fail = (msg) => {
        process.stderr.write(`${usage}\ncompose_policy.mjs: error: ${msg}\n`);
        process.exit(2);
    };
    for (let i = 0; i < args.length; i++) {
        let a = args[i];
        if (a === "-h" || a === "--help") {
            process.stdout.write(usage + "\n");
            process.exit(0);
        }
        let val = null;
        const eq = a.indexOf("=");
        if (a.startsWith("--") && eq > 0) {
            val = a.slice(eq + 1);
            a = a.slice(0, eq);
        }
        const name = a.slice(2);
        if (!a.startsWith("--") || ![...REQUIRED, "modules"].includes(name))
            fail(`unrecognized arguments: ${args.slice(i).join(" ")}`);
        if (val === null) {
            if (i + 1 >= args.length) fail(`argument ${a}: expected one argument`);
            val = args[++i];
        }
        opt[name] = val;
    }
    const missing = REQUIRED.filter((a) => !(a in opt));
    if (missing.length) fail(`the following arguments are required: ${missing.map((a) => "--" + a).join(", ")}`);
}
const modules = path.resolve(root, opt.modules);
if (!fs.existsSync(path.join(modules, "yaml", "package.json"))) {
    process.stderr.write(`check_compose: ${modules} has no yaml package (run make k8s-validator)\n`);
    process.exit(2);
}
const YAML = createRequire(path.join(modules, "noop.js"))("yaml");

// ---------------------------------------------------------------- YAML as PyYAML reads it
// yaml's own YAML 1.1 schema resolves more plain scalars than PyYAML's
// resolver (y/n as booleans, 08 as 8, 1e3 as 1000, dates as Date): its bool,
// int and float tags are replaced by PyYAML's; timestamps stay their YAML
// text (what str() gives for a date; a date-time prints as written, not as
// Python's isoformat).
const T = "tag:yaml.org,2002:";
// a YAML float: a number that prints and compares as Python's float
class PyFloat {
    constructor(value) {
        this.value = value;
    }
    valueOf() {
        return this.value;
    }
    toString() {
        return pyRepr(this);
    }
}
function pySign(text) {
    return text[0] === "-" ? [-1, text.slice(1)] : [1, text[0] === "+" ? text.slice(1) : text];
}
// Python's int: a BigInt beyond 2^53
function pyIntOf(text) {
    const [sign, v] = pySign(text.replace(/_/g, ""));
    let n;
    if (v === "0") n = 0n;
    else if (v.startsWith("0b") || v.startsWith("0x")) n = BigInt(v);
    else if (v[0] === "0") n = BigInt("0o" + v.slice(1));
    else if (v.includes(":")) n = v.split(":").reduce((acc, part) => acc * 60n + BigInt(part), 0n);
    else n = BigInt(v);
    n *= BigInt(sign);
    return Number.isSafeInteger(Number(n)) ? Number(n) : n;
}
function pyFloatOf(text) {
    const [sign, v] = pySign(text.replace(/_/g, "").toLowerCase());
    if (v === ".inf") return new PyFloat(sign * Infinity);
    if (v === ".nan") return new PyFloat(NaN);
    if (v.includes(":")) return new PyFloat(sign * v.split(":").reduce((acc, part) => acc * 60 + Number(part), 0));
    return new PyFloat(sign * Number(v));
}
const pyTags = [
    {
        tag: T + "bool", default: true,
        test: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
        identify: (v) => typeof v === "boolean",
        resolve: (s) => ["yes", "true", "on"].includes(s.toLowerCase()),
    },
    {
        tag: T + "int", default: true,
        test: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
        identify: (v) => Number.isInteger(v) || typeof v === "bigint",
        resolve: pyIntOf,
    },
    {
        tag: T + "float", default: true,
        test: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
        identify: (v) => v instanceof PyFloat,
        resolve: pyFloatOf,
    },
];
const yamlOptions = {
    version: "1.1",
    uniqueKeys: false, // PyYAML: the last of duplicate keys wins
    maxAliasCount: -1,
    logLevel: "error",
    customTags: (tags) => [
        ...tags.filter((t) => ![T + "bool", T + "int", T + "float", T + "timestamp"].includes(t.tag)),
        ...pyTags,
    ],
};
const loadYaml = (text) => YAML.parse(text, yamlOptions);

// ---------------------------------------------------------------- Python semantics
// isDict/get/items/iter/has/truthy/str/repr: what the original's dict.get,
// `in`, iteration, truthiness, str() and %r did (a TypeError where Python
// raised one: exit 1 like its traceback).
const isDict = (x) => x !== null && typeof x === "object" &&
    [Object.prototype, null].includes(Object.getPrototypeOf(x));
function get(d, key, dflt = null) {
    if (!isDict(d)) throw new TypeError(`.get(${pyRepr(key)}) on ${pyRepr(d)}`);
    return typeof key === "string" && Object.hasOwn(d, key) ? d[key] : dflt;
}
function items(d) {
    if (!isDict(d)) throw new TypeError(`.items() on ${pyRepr(d)}`);
    return Object.entries(d);
}
function iter(x) {
    if (typeof x === "string") return Array.from(x);
    if (Array.isArray(x)) return x;
    if (isDict(x)) return Object.keys(x);
    if (x instanceof Map || x instanceof Set) return [...x.keys()];
    throw new TypeError(`${pyRepr(x)} is not iterable`);
}
const isNum = (x) => ["number", "boolean", "bigint"].includes(typeof x) || x instanceof PyFloat;
function pyEq(a, b) {
    if (!isNum(a) || !isNum(b)) return a === b;
    [a, b] = [a, b].map((x) => (x instanceof PyFloat ? x.value : typeof x === "boolean" ? Number(x) : x));
    return a == b; // eslint-disable-line eqeqeq -- 2n == 2, as Python's 2 == 2.0
}
function has(container, item) {
    if (typeof container === "string") {
        if (typeof item !== "string") throw new TypeError("'in <string>' requires string as left operand");
        return container.includes(item);
    }
    if (isDict(container)) return typeof item === "string" && Object.hasOwn(container, item);
    if (container instanceof Map || container instanceof Set) return container.has(item);
    if (Array.isArray(container)) return container.some((e) => pyEq(e, item));
    throw new TypeError(`argument of type ${pyRepr(container)} is not iterable`);
}
function truthy(x) {
    if (x === null || x === undefined || x === false) return false;
    if (typeof x === "number" || typeof x === "bigint" || x instanceof PyFloat) return Number(x) !== 0;
    if (typeof x === "string" || Array.isArray(x)) return x.length > 0;
    if (x instanceof Map || x instanceof Set) return x.size > 0;
    if (isDict(x)) return Object.keys(x).length > 0;
    return true;
}
const or = (x, dflt) => (truthy(x) ? x : dflt);
function pyStr(x) {
    return typeof x === "string" ? x : pyRepr(x);
}
function pyRepr(x) {
    if (x === null || x === undefined) return "None";
    if (x === true) return "True";
    if (x === false) return "False";
    if (typeof x === "number" || typeof x === "bigint") return String(x);
    if (x instanceof PyFloat) return pyFloatRepr(x.value);
    if (typeof x === "string") {
        const q = x.includes("'") && !x.includes('"') ? '"' : "'";
        let out = q;
        for (const ch of x) {
            const c = ch.codePointAt(0);
            if (ch === "\\" || ch === q) out += "\\" + ch;
            else if (ch === "\n") out += "\\n";
            else if (ch === "\r") out += "\\r";
            else if (ch === "\t") out += "\\t";
            else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += "\\x" + c.toString(16).padStart(2, "0");
            else out += ch;
        }
        return out + q;
    }
    if (Array.isArray(x)) return "[" + x.map(pyRepr).join(", ") + "]";
    if (x instanceof Set) return x.size ? "{" + [...x].map(pyRepr).join(", ") + "}" : "set()";
    if (x instanceof Map) return "{" + [...x].map(([k, v]) => pyRepr(k) + ": " + pyRepr(v)).join(", ") + "}";
    if (isDict(x)) return "{" + Object.entries(x).map(([k, v]) => pyRepr(k) + ": " + pyRepr(v)).join(", ") + "}";
    return String(x);
}
// Python's repr(float): the shortest round-trip digits, in exponent form
// below 1e-4 and from 1e16
function pyFloatRepr(x) {
    if (Number.isNaN(x)) return "nan";
    if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
    if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
    const sign = x < 0 ? "-" : "";
    const [mant, e] = Math.abs(x).toExponential().split("e");
    const digits = mant.replace(".", "");
    const exp = parseInt(e, 10);
    if (exp < -4 || exp >= 16)
        return sign + digits[0] + (digits.length > 1 ? "." + digits.slice(1) : "") + "e" +
            (exp < 0 ? "-" : "+") + String(Math.abs(exp)).padStart(2, "0");
    if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
    return sign + digits.padEnd(exp + 1, "0").slice(0, exp + 1) + "." + (digits.slice(exp + 1) || "0");
}
const pyInt = (x) => {
    if (x instanceof PyFloat && Number.isFinite(x.value)) return Math.trunc(x.value);
    if (typeof x === "number" || typeof x === "bigint") return x;
    if (typeof x === "boolean") return Number(x);
    if (typeof x === "string" && /^\s*[-+]?[0-9](?:_?[0-9])*\s*$/.test(x)) return parseInt(x.replace(/_/g, ""), 10);
    throw new TypeError(`int(${pyRepr(x)})`);
};
// text as Python's open().read() gives it: universal newlines
const readText = (file) => fs.readFileSync(file, "utf8").replace(/\r\n?/g, "\n");
function lines(text) {
    const out = text.split("\n");
    if (out[out.length - 1] === "") out.pop();
    return out;
}
// Python's sorted() of strings: by code point
const sorted = (xs) => [...xs].sort((a, b) => {
    const [p, q] = [Array.from(a), Array.from(b)];
    for (let i = 0; i < Math.min(p.length, q.length); i++)
        if (p[i] !== q[i]) return p[i].codePointAt(0) - q[i].codePointAt(0);
    return p.length - q.length;
});
const intersects = (a, b) => {
    const s = new Set(iter(a));
    return iter(b).some((x) => s.has(x));
};

// ---------------------------------------------------------------- the policy
const doc = or(loadYaml(fs.readFileSync(0, "utf8")), {});
const bad = [];

function want(where, what) {
    bad.push(`${where}: ${what}`);
}

function helpTable(stage) {
    const r = spawnSync(path.join(opt.bin, "zhook-" + stage), ["--help"], { encoding: "utf8", maxBuffer: 1 << 26 });
    if (r.error) throw r.error;
    const table = new Map();
    for (const m of r.stdout.matchAll(/(?<![^\n]) {2}(ZHOOK_[A-Z0-9_]+)\s+default: ([^\n]*)(?![^\n])/g))
        table.set(m[1], m[2].trim());
    if (table.size < 5) {
        process.stderr.write(`check_compose: zhook-${stage} --help lists no variables (is ${opt.bin} built?)\n`);
        process.exit(1);
    }
    return table;
}

// Python's `$` (end, or before a final newline) is `\n?$` here
function portOf(text) {
    const m = /:(\d+)\/*\n?$/.exec(pyStr(text));
    return m ? parseInt(m[1], 10) : null;
}

function hostOf(endpoint) {
    const m = /^tcp:\/\/([^:/]+):\d+\/*\n?$/.exec(pyStr(endpoint));
    return m ? m[1] : null;
}

// container ports of the ports: entries
function published(svc) {
    const out = [];
    for (const p of iter(or(get(svc, "ports"), []))) {
        if (isDict(p)) out.push(pyInt(get(p, "target")));
        else out.push(portOf(pyStr(p).split("/")[0]));
    }
    return out;
}

// [kind, source, target, read_only] of each volumes: entry
function mounts(svc) {
    const out = [];
    for (const v of iter(or(get(svc, "volumes"), []))) {
        if (isDict(v)) {
            const kind = get(v, "type", "volume");
            out.push([kind, get(v, "source"), get(v, "target"), truthy(get(v, "read_only"))]);
            continue;
        }
        const parts = pyStr(v).split(":");
        if (parts.length === 1) {
            out.push(["volume", null, parts[0], false]); // anonymous volume
            continue;
        }
        const [src, tgt] = parts;
        const mode = parts.length > 2 ? parts[2].split(",") : [];
        const kind = ["/", ".", "~"].some((c) => src.startsWith(c)) ? "bind" : "volume";
        out.push([kind, src, tgt, mode.includes("ro")]);
    }
    return out;
}

const helpTables = Object.fromEntries(STAGES.map((s) => [s, helpTable(s)]));
const renderText = readText(opt.render);
const nginxVars = new Set([...renderText.matchAll(/\$\{ZHOOK_NGINX_([A-Z_]+):=/g)].map((m) => "ZHOOK_NGINX_" + m[1]));
if (nginxVars.size < 5)
    bad.push(`render.sh: no ZHOOK_NGINX_ defaults found in ${opt.render}`);

const svcs = or(get(doc, "services"), {});
for (const need of [...STAGES, "nginx"])
    if (!has(svcs, need)) want("services", `${need} missing`);

function program(svc) {
    let cmd = or(get(svc, "command"), []);
    if (typeof cmd === "string") cmd = cmd.split(/\s+/).filter((w) => w !== "");
    for (const word of iter(cmd)) {
        const m = /^(?:[^\n]*\/)?zhook-(scheduler|ingress|deliverer)\n?$/.exec(pyStr(word));
        if (m) return m[1];
    }
    return null;
}

const stageOf = new Map(); // service name -> stage
for (const [name, s] of items(svcs)) {
    const st = program(s);
    if (st) stageOf.set(name, st);
    else if (STAGES.includes(name)) want(name, `command runs no zhook-${name}`);
}

function effective(name, v) {
    const env = or(get(svcs[name], "environment"), {});
    if (has(env, v)) return pyStr(env[v]);
    return helpTables[stageOf.get(name)].get(v) ?? null;
}

// --- hardening ---------------------------------------------------------------
for (const [name, s] of items(svcs)) {
    const user = pyStr(get(s, "user", ""));
    if (!user || ["0", "root"].includes(user.split(":")[0]))
        want(name, `user must be a non-root uid, is ${pyRepr(user)}`);
    if (get(s, "read_only") !== true)
        want(name, "read_only must be true");
    if (!has(or(get(s, "cap_drop"), []), "ALL"))
        want(name, "cap_drop must hold ALL");
    if (!has(or(get(s, "security_opt"), []), "no-new-privileges:true"))
        want(name, "security_opt must hold no-new-privileges:true");
    const lim = or(get(or(get(or(get(s, "deploy"), {}), "resources"), {}), "limits"), {});
    if (!has(lim, "cpus") || !has(lim, "memory"))
        want(name, "deploy.resources.limits needs cpus and memory");
    if (!["always", "unless-stopped", "on-failure"].includes(get(s, "restart")))
        want(name, "restart policy missing");
    const core = stageOf.has(name) || name === "nginx";
    if (core && !truthy(get(s, "healthcheck")))
        want(name, "healthcheck missing");
    const deps = or(get(s, "depends_on"), {});
    if (core && stageOf.get(name) !== "scheduler") {
        if (!isDict(deps) || !truthy(deps))
            want(name, "depends_on with conditions missing");
        for (const [dep, cond] of isDict(deps) ? items(deps) : [])
            if (get(or(cond, {}), "condition") !== "service_healthy")
                want(name, `depends_on ${dep} must wait for service_healthy`);
    }
}

// --- secrets -----------------------------------------------------------------
const topSecrets = or(get(doc, "secrets"), {});

// container path -> secret name, for the secrets a service mounts
function secretPaths(s) {
    const out = new Map();
    for (const sec of iter(or(get(s, "secrets"), []))) {
        const src = typeof sec === "string" ? sec : get(sec, "source");
        const tgt = typeof sec === "string" ? src : or(get(sec, "target"), src);
        if (typeof tgt !== "string") throw new TypeError(`secret target ${pyRepr(tgt)}`);
        const p = tgt.startsWith("/") ? tgt : "/run/secrets/" + tgt;
        out.set(p, src);
        if (!has(topSecrets, src))
            want("secrets", `${pyStr(src)} is mounted but not defined`);
    }
    return out;
}

for (const [name, s] of items(svcs)) {
    const paths = secretPaths(s);
    for (const [k, raw] of items(or(get(s, "environment"), {}))) {
        const v = raw === null ? "" : pyStr(raw);
        if (k.startsWith("ZHOOK_") && !k.endsWith("_FILE") && v && SECRET_WORDS.some((w) => k.includes(w)))
            want(name, `${k} is a secret given as a value: use ${k}_FILE`);
        if (k.startsWith("GF_") && k.includes("PASSWORD") && !k.endsWith("__FILE"))
            want(name, `${k} is a secret given as a value`);
        if (v.startsWith("/run/secrets/")) {
            if (k === "ZHOOK_CURVE_CLIENTS_DIR") {
                const dir = v.replace(/\/+$/, "") + "/";
                if (![...paths.keys()].some((p) => p.startsWith(dir)))
                    want(name, `${k}=${v} holds no mounted secret`);
            } else if (!paths.has(v)) {
                want(name, `${k}=${v} is not a secret this service mounts`);
            }
        }
    }
}

function secretFile(pathInContainer, name) {
    const src = secretPaths(svcs[name]).get(pathInContainer) ?? null;
    return truthy(src) ? get(or(get(topSecrets, src), {}), "file") : null;
}

// Python's s[:-len("_secret")]
const dropSecret = (s) => {
    if (typeof s !== "string") throw new TypeError(`${pyRepr(s)}[:-7]`);
    return s.slice(0, Math.max(0, s.length - "_secret".length));
};

const sched = [...stageOf].find(([, st]) => st === "scheduler")?.[0] ?? null;
if (sched && effective(sched, "ZHOOK_CURVE") !== "off") {
    const schedSecret = secretFile(or(effective(sched, "ZHOOK_CURVE_SECRET_FILE"), ""), sched);
    const clientsDir = or(effective(sched, "ZHOOK_CURVE_CLIENTS_DIR"), "").replace(/\/+$/, "");
    const allow = new Set();
    for (const [p, src] of secretPaths(svcs[sched]))
        if (p.startsWith(clientsDir + "/")) allow.add(get(or(get(topSecrets, src), {}), "file"));
    if (!truthy(schedSecret))
        want(sched, "ZHOOK_CURVE_SECRET_FILE is no mounted secret");
    for (const [name, st] of stageOf) {
        if (st === "scheduler") continue;
        if (effective(name, "ZHOOK_CURVE") === "off") {
            want(name, "ZHOOK_CURVE=off while the scheduler runs CURVE");
            continue;
        }
        const own = secretFile(or(effective(name, "ZHOOK_CURVE_SECRET_FILE"), ""), name);
        const server = secretFile(or(effective(name, "ZHOOK_CURVE_SERVER_FILE"), ""), name);
        if (!truthy(own) || !own.endsWith("_secret"))
            want(name, "ZHOOK_CURVE_SECRET_FILE is no mounted NAME_secret certificate");
        else if (!allow.has(dropSecret(own)))
            want(name, `the public half of its key (${dropSecret(own)}) is not in the scheduler's allowlist ${clientsDir}`);
        if (truthy(schedSecret) && server !== dropSecret(schedSecret))
            want(name, `ZHOOK_CURVE_SERVER_FILE (${pyStr(server)}) is not the public half of the scheduler's key (${pyStr(schedSecret)})`);
    }
}

// --- volumes -------------------------------------------------------------------
const topVolumes = new Set(items(or(get(doc, "volumes"), {})).map(([k]) => k));
if (!(topVolumes.size === 1 && topVolumes.has("zhook-data")))
    want("volumes", `the only volume must be zhook-data (the scheduler's store), found ${pyRepr(sorted(topVolumes))}`);
for (const [name, s] of items(svcs)) {
    for (const [kind, src, tgt, ro] of mounts(s)) {
        if (kind === "volume") {
            if (stageOf.get(name) !== "scheduler")
                want(name, `only the scheduler may have a volume (${pyStr(or(src, "anonymous"))} at ${pyStr(tgt)})`);
            else if (src !== "zhook-data")
                want(name, `the scheduler's only volume is zhook-data, found ${pyStr(or(src, "anonymous"))} at ${pyStr(tgt)}`);
            else if (tgt !== effective(name, "ZHOOK_DATA_DIR"))
                want(name, `zhook-data is at ${pyStr(tgt)}, ZHOOK_DATA_DIR is ${pyStr(effective(name, "ZHOOK_DATA_DIR"))}`);
            else if (ro)
                want(name, "zhook-data must be writable");
        } else if (kind === "bind" && !ro) {
            want(name, `bind mount ${pyStr(src)} -> ${pyStr(tgt)} must be read-only`);
        } else if (!["bind", "volume", "tmpfs"].includes(kind)) {
            want(name, `mount type ${pyStr(kind)} at ${pyStr(tgt)}`);
        }
    }
}
if (sched && !mounts(svcs[sched]).some(([k, src]) => k === "volume" && src === "zhook-data"))
    want(sched, "the zhook-data volume is not mounted");
lines(readText(opt.dockerfile)).forEach((line, i) => {
    if (/^\s*VOLUME\b/i.test(line))
        want(`Dockerfile:${i + 1}`, "VOLUME gives every container of the image (ingress, deliverer, " +
            "one-off tools) an anonymous writable volume; mount the data volume on the scheduler only");
});

// --- variables -------------------------------------------------------------------
for (const [name, s] of items(svcs)) {
    const env = or(get(s, "environment"), {});
    const st = stageOf.get(name);
    for (const k of iter(env)) {
        if (!k.startsWith("ZHOOK_")) continue;
        if (st) {
            const table = helpTables[st];
            if (!table.has(k) && !(k.endsWith("_FILE") && table.has(k.slice(0, -5))))
                want(name, `variable ${k} is not in zhook-${st} --help`);
        } else if (name === "nginx") {
            if (!nginxVars.has(k))
                want(name, `variable ${k} is not one of render.sh's ${sorted(nginxVars).join(" ")}`);
        } else {
            want(name, `variable ${k} set on a service that runs no zhook program`);
        }
    }
}
const composeText = readText(opt.compose);
const used = new Set([...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]));
lines(readText(opt["env-example"])).forEach((line, i) => {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=/.exec(line);
    if (m && !used.has(m[1]) && m[1] !== "COMPOSE_PROJECT_NAME")
        want(`.env.example:${i + 1}`, `${m[1]} is not used by the compose file (misspelled, or meant for a ` +
            "stage's environment, which .env does not reach)");
});

// --- ports -----------------------------------------------------------------------
const binds = new Map(); // scheduler socket -> port
if (sched) {
    for (const sock of ["SUBMIT", "PUBLISH", "DISPATCH", "RESULTS"])
        binds.set(sock, portOf(effective(sched, `ZHOOK_${sock}_ENDPOINT`)));
    const ops = portOf(effective(sched, "ZHOOK_OPS_LISTEN"));
    for (const p of published(svcs[sched]))
        if (p !== ops) want(sched, `publishes container port ${pyStr(p)}, the scheduler's ops port is ${pyStr(ops)}`);
}
const metricsPort = new Map();
for (const [name, st] of stageOf) {
    const s = svcs[name];
    if (st === "scheduler") {
        metricsPort.set(st, portOf(effective(name, "ZHOOK_OPS_LISTEN")));
        continue;
    }
    const socks = st === "ingress" ? ["SUBMIT", "PUBLISH"] : ["DISPATCH", "RESULTS"];
    for (const sock of socks) {
        const ep = or(effective(name, `ZHOOK_${sock}_ENDPOINT`), "");
        const env = or(get(s, "environment"), {});
        const host = has(env, `ZHOOK_${sock}_ENDPOINT`) ? hostOf(ep) : effective(name, "ZHOOK_SCHEDULER_HOST");
        if (host !== sched)
            want(name, `ZHOOK_${sock}_ENDPOINT reaches host ${pyStr(host)}, not the scheduler service ${pyStr(sched)}`);
        if (portOf(ep) !== (binds.get(sock) ?? null))
            want(name, `ZHOOK_${sock}_ENDPOINT connects to port ${pyStr(portOf(ep))}, the scheduler binds ${pyStr(binds.get(sock) ?? null)}`);
        if (sched && !intersects(or(get(s, "networks"), {}), or(get(svcs[sched], "networks"), {})))
            want(name, "shares no network with the scheduler");
    }
    const own = portOf(effective(name, st === "ingress" ? "ZHOOK_LISTEN" : "ZHOOK_OPS_LISTEN"));
    metricsPort.set(st, own);
    for (const p of published(s))
        if (p !== own) want(name, `publishes container port ${pyStr(p)}, zhook-${st} listens on ${pyStr(own)}`);
}
if (has(svcs, "nginx") && stageOf.has("ingress")) {
    const n = svcs.nginx;
    const nenv = or(get(n, "environment"), {});
    const ingressPort = metricsPort.get("ingress") ?? null;
    const m = /^([^:]+):(\d+)\n?$/.exec(pyStr(get(nenv, "ZHOOK_NGINX_UPSTREAM", "")));
    if (!m || m[1] !== "ingress" || parseInt(m[2], 10) !== ingressPort)
        want("nginx", `ZHOOK_NGINX_UPSTREAM ${pyStr(get(nenv, "ZHOOK_NGINX_UPSTREAM"))} is not ingress:${pyStr(ingressPort)}`);
    const listen = portOf(":" + pyStr(get(nenv, "ZHOOK_NGINX_LISTEN", "")).split(":").pop());
    for (const p of published(n))
        if (p !== listen) want("nginx", `publishes container port ${pyStr(p)}, ZHOOK_NGINX_LISTEN is ${pyStr(listen)}`);
    const test = iter(or(get(or(get(n, "healthcheck"), {}), "test"), [])).map(pyStr).join(" ");
    if (!(test + " ").includes(`/dev/tcp/127.0.0.1/${pyStr(listen)} `))
        want("nginx", `the health check does not probe port ${pyStr(listen)}`);
    if (!intersects(or(get(n, "networks"), {}), or(get(svcs.ingress, "networks"), {})))
        want("nginx", "shares no network with the ingress");
}

const prom = or(loadYaml(readText(opt.prometheus)), {});
const jobs = new Map();
for (const job of iter(or(get(prom, "scrape_configs"), [])))
    jobs.set(get(job, "job_name"), job);
const alertJobs = new Set([...readText(opt.alerts).matchAll(/job="(zhook-[a-z]+)"/g)].map((m) => m[1]));
for (const st of STAGES) {
    const job = jobs.get("zhook-" + st) ?? null;
    if (!truthy(job)) {
        want("prometheus.yml", `no job zhook-${st}`);
        continue;
    }
    const svcNames = [...stageOf].filter(([, s2]) => s2 === st).map(([n]) => n);
    const mp = metricsPort.get(st) ?? null;
    for (const sd of iter(or(get(job, "dns_sd_configs"), []))) {
        if (!pyEq(get(sd, "port"), mp))
            want("prometheus.yml", `job zhook-${st} scrapes port ${pyStr(get(sd, "port"))}, zhook-${st} serves /metrics on ${pyStr(mp)}`);
        for (const nm of iter(or(get(sd, "names"), [])))
            if (!svcNames.includes(nm))
                want("prometheus.yml", `job zhook-${st} looks up ${pyStr(nm)}, not the service running zhook-${st}`);
    }
    if (!truthy(get(job, "dns_sd_configs")))
        want("prometheus.yml", `job zhook-${st} has no dns_sd_configs (every replica must be scraped)`);
}
for (const j of sorted([...alertJobs].filter((j) => !jobs.has(j))))
    want("alerts.yml", `job ${j} is named by a rule but scraped by no job of prometheus.yml`);
if (has(svcs, "prometheus")) {
    const pnets = or(get(svcs.prometheus, "networks"), {});
    for (const name of stageOf.keys())
        if (!intersects(pnets, or(get(svcs[name], "networks"), {})))
            want("prometheus", `shares no network with ${name}`);
}

if (has(svcs, "deliverer") && !truthy(get(or(get(svcs.deliverer, "deploy"), {}), "replicas")))
    want("deliverer", "deploy.replicas missing");
process.stdout.write(bad.map((b) => "check_compose: " + b + "\n").join(""));
process.exitCode = bad.length ? 1 : 0;
