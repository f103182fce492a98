#!/bin/sh
# t_dashboards.sh — the alert rules (compose/prometheus/alerts.yml) and the
# Grafana dashboard (compose/grafana/zhook-dashboard.json) use only metrics
# the stages expose. Runs the pipeline with a little traffic (deliveries, a
# retry, a dead letter, deferred attempts behind an open circuit, 4xx at
# the ingress), scrapes /metrics of all three stages, and fails when a
# zhook_* name used by a rule or a panel is exposed by none. Also checks
# that alerts.yml is well-formed YAML with Prometheus's rule-file structure
# (groups[].name, rules[].alert|record, expr, for, labels.severity,
# annotations.summary and runbook) and that the dashboard is valid JSON with
# panels whose targets have expressions.
. "$(dirname "$0")/lib.sh"

ALERTS=$ZH_ROOT/compose/prometheus/alerts.yml
DASHBOARD=$ZH_ROOT/compose/grafana/zhook-dashboard.json
[ -f "$ALERTS" ] || zh_fail "no $ALERTS"
[ -f "$DASHBOARD" ] || zh_fail "no $DASHBOARD"

zh_setup
zh_start_receiver
# a circuit that opens after 2 failures and cools down in 300 ms: deferrals
ZH_DLV_ENV="ZHOOK_CIRCUIT_FAILURES=2 ZHOOK_CIRCUIT_COOLDOWN_MS=300"
zh_start_pipeline a

OK_IDS=""
i=0
while [ $i -lt 5 ]; do
    zh_submit "{\"url\":\"$ZH_RCV/ok\",\"payload\":{\"i\":$i}}"
    OK_IDS="$OK_IDS $ZH_ID"
    i=$((i + 1))
done
zh_submit "{\"url\":\"$ZH_RCV/retry?fail=1\",\"payload\":{}}"
RETRY_ID=$ZH_ID
zh_submit "{\"url\":\"$ZH_RCV/dead?fail=9\",\"payload\":{},\"max_attempts\":2}"
DEAD_ID=$ZH_ID
# while the circuit of the receiver's origin is open, these are deferred
LATER_IDS=""
i=0
while [ $i -lt 5 ]; do
    zh_submit "{\"url\":\"$ZH_RCV/later\",\"payload\":{\"i\":$i}}"
    LATER_IDS="$LATER_IDS $ZH_ID"
    i=$((i + 1))
done
zh_api GET /v1/messages/msg_01ARZ3NDEKTSV4RRFFQ69G5FAV
zh_assert_eq "$ZH_STATUS" 404 "GET of an unknown message"
zh_api POST /v1/messages '{"url":"ftp://x","payload":{}}'
zh_assert_eq "$ZH_STATUS" 422 "POST with a bad url"

zh_wait_status "$DEAD_ID" dead 10000
zh_wait_status "$RETRY_ID" delivered 10000
# the deferred ones too, so every deferral has reached the scheduler
for id in $OK_IDS $LATER_IDS; do
    zh_wait_status "$id" delivered 10000
done

DLV_OPS=$(zh_dlv_ops a)
for stage in ingress scheduler deliverer; do
    case $stage in
        ingress) url=$ZH_API/metrics ;;
        scheduler) url=$ZH_SCH_OPS/metrics ;;
        deliverer) url=$DLV_OPS/metrics ;;
    esac
    curl -sS --max-time 5 -o "$ZH_TMP/metrics.$stage" "$url" || zh_fail "cannot scrape $url"
    [ -s "$ZH_TMP/metrics.$stage" ] || zh_fail "empty /metrics of the $stage"
done
# The traffic above is there so the panels have data: check it shows. The
# dead letter counts in the scheduler; the circuit opened by the failing
# receiver sent dispatches back as deferred (deliverer counter by reason).
# (commit_batch_size_count is not compared with commits_total: the histogram
# observes only the submission transactions, while commits_total also counts
# the result, dispatch and purge commits - scheduler/sch_server.c, by design.)
sample_sum () { # sample_sum FILE SAMPLE [LABEL-SUBSTRING]
    awk -v n="$2" -v l="${3:-}" '($1 == n || index($1, n "{") == 1) && index($1, l) > 0 {
        s += $NF; f = 1 } END { if (f) printf "%.0f\n", s }' "$1"
}
DEAD_N=$(sample_sum "$ZH_TMP/metrics.scheduler" zhook_scheduler_dead_total)
zh_assert_ge "$DEAD_N" 1 "zhook_scheduler_dead_total after a dead letter"
DEFER_OPEN=$(sample_sum "$ZH_TMP/metrics.deliverer" zhook_deliverer_deferred_total 'reason="circuit_open"')
zh_assert_ge "$DEFER_OPEN" 1 "zhook_deliverer_deferred_total{reason=\"circuit_open\"} after the circuit opened"
grep -q '"msg":"circuit opened' "$ZH_TMP/deliverer_a.log" || zh_fail "the deliverer logged no circuit opening"
DEFER_SCH=$(sample_sum "$ZH_TMP/metrics.scheduler" zhook_scheduler_deferred_total)
zh_assert_ge "$DEFER_SCH" 1 "zhook_scheduler_deferred_total (deferrals the scheduler received)"
zh_pass "traffic visible: dead_total=$DEAD_N, deliverer deferred{circuit_open}=$DEFER_OPEN, scheduler deferred_total=$DEFER_SCH"

# exposed names: every sample name (histograms expose NAME_bucket, NAME_sum
# and NAME_count) and every family named by # TYPE
cat "$ZH_TMP"/metrics.* | awk '
    /^# TYPE / { print $3; next }
    /^#/ || NF == 0 { next }
    { n = $1; sub(/\{.*/, "", n); print n }' | sort -u >"$ZH_TMP/exposed.names"
zh_log "$(wc -l <"$ZH_TMP/exposed.names") metric names exposed by the three stages"
awk '/^# TYPE / && $4 == "histogram" { print $3 }' "$ZH_TMP"/metrics.* | sort -u \
    >"$ZH_TMP/histograms.names"

# used names: every zhook_* word of the rules and of the dashboard
grep -oE 'zhook_[a-z0-9_]+' "$ALERTS" | sort -u >"$ZH_TMP/alerts.names"
grep -oE 'zhook_[a-z0-9_]+' "$DASHBOARD" | sort -u >"$ZH_TMP/dashboard.names"
[ -s "$ZH_TMP/alerts.names" ] || zh_fail "alerts.yml names no zhook_ metric"
[ -s "$ZH_TMP/dashboard.names" ] || zh_fail "the dashboard names no zhook_ metric"

# check_names FILE WHAT: each used name is exposed as is; a _bucket, _sum or
# _count name must also belong to a histogram family (a counter named
# x_count is not a histogram's)
check_names () {
    _cn_missing=""
    while read -r _cn_n; do
        if ! grep -qx "$_cn_n" "$ZH_TMP/exposed.names"; then
            _cn_missing="$_cn_missing $_cn_n"
            continue
        fi
        case $_cn_n in
            *_bucket) _cn_base=${_cn_n%_bucket} ;;
            *_sum) _cn_base=${_cn_n%_sum} ;;
            *_count) _cn_base=${_cn_n%_count} ;;
            *) continue ;;
        esac
        if ! grep -qx "$_cn_n" "$ZH_TMP/histograms.names" &&
            ! grep -qx "$_cn_base" "$ZH_TMP/histograms.names"; then
            _cn_missing="$_cn_missing $_cn_n(not a histogram series)"
        fi
    done <"$1"
    [ -z "$_cn_missing" ] || zh_fail "$2 uses metrics no stage exposes:$_cn_missing"
    zh_log "$2: all $(wc -l <"$1") metric names exposed"
}
check_names "$ZH_TMP/alerts.names" "compose/prometheus/alerts.yml"
check_names "$ZH_TMP/dashboard.names" "compose/grafana/zhook-dashboard.json"
zh_pass "every metric of the alert rules and of the dashboard is exposed"

# Structure. The YAML parser is npm's yaml (installed under build/npm by
# make openapi-validator); without it, a line-based check of the same shape.
YAML_JS=$ZH_ROOT/build/npm/node_modules/yaml
if command -v node >/dev/null 2>&1 && [ -d "$YAML_JS" ]; then
    node - "$ALERTS" "$DASHBOARD" "$YAML_JS" <<'EOF' || zh_fail "alerts.yml or the dashboard is malformed"
const fs = require("fs");
const [alertsPath, dashPath, yamlPath] = process.argv.slice(2);
const YAML = require(yamlPath);
const fail = (m) => { console.error("malformed: " + m); process.exit(1); };
const doc = YAML.parseDocument(fs.readFileSync(alertsPath, "utf8"));
if (doc.errors.length) fail("alerts.yml: " + doc.errors[0].message);
const rules = doc.toJS();
if (!rules || !Array.isArray(rules.groups) || !rules.groups.length) fail("alerts.yml: no groups");
const seen = new Set();
let alerts = 0;
for (const g of rules.groups) {
  if (typeof g.name !== "string" || !Array.isArray(g.rules) || !g.rules.length)
    fail("alerts.yml: a group needs a name and rules");
  for (const r of g.rules) {
    if (typeof r.expr !== "string" || !r.expr.trim()) fail("a rule without expr");
    if (r.record) continue;
    if (typeof r.alert !== "string" || !/^[A-Za-z][A-Za-z0-9_]*$/.test(r.alert))
      fail("a rule without a valid alert name");
    if (seen.has(r.alert)) fail("alert " + r.alert + " defined twice");
    seen.add(r.alert);
    if (r.for !== undefined && !/^[0-9]+[smh]$/.test(String(r.for))) fail(r.alert + ": bad for");
    if (!r.labels || !["page", "ticket"].includes(r.labels.severity))
      fail(r.alert + ": labels.severity must be page or ticket");
    if (!r.annotations || !r.annotations.summary || !r.annotations.runbook)
      fail(r.alert + ": annotations.summary and annotations.runbook are required");
    let depth = 0;
    for (const c of r.expr) { depth += c === "(" ? 1 : c === ")" ? -1 : 0; if (depth < 0) break; }
    if (depth !== 0) fail(r.alert + ": unbalanced parentheses in expr");
    alerts++;
  }
}
const dash = JSON.parse(fs.readFileSync(dashPath, "utf8"));
if (typeof dash.title !== "string" || !Array.isArray(dash.panels) || !dash.panels.length)
  fail("dashboard: title and panels required");
let exprs = 0;
for (const p of dash.panels) {
  if (p.type === "row") continue;
  if (!p.title || !Array.isArray(p.targets) || !p.targets.length) fail("panel without targets: " + p.title);
  for (const t of p.targets) { if (!t.expr) fail("target without expr in " + p.title); exprs++; }
}
console.log(`alerts.yml: ${rules.groups.length} groups, ${alerts} alerts; dashboard: ${dash.panels.length} panels, ${exprs} expressions`);
EOF
else
    zh_log "npm yaml not installed (make openapi-validator): line-based checks only"
    head -1 "$ALERTS" | grep -q '^groups:' || zh_fail "alerts.yml does not start with groups:"
    grep -q '^  - name: ' "$ALERTS" || zh_fail "alerts.yml has no group"
    [ "$(grep -c '^      - alert: ' "$ALERTS")" -ge 10 ] || zh_fail "alerts.yml: fewer than 10 alerts"
    [ "$(grep -c '^      - alert: ' "$ALERTS")" = "$(grep -c '^        expr: ' "$ALERTS")" ] ||
        zh_fail "alerts.yml: an alert without expr"
    grep -q "$(printf '\t')" "$ALERTS" && zh_fail "alerts.yml contains tabs"
    "$ZH_BIN/zh_json" title "$DASHBOARD" >/dev/null || zh_fail "the dashboard is not valid JSON"
fi
zh_pass "alerts.yml is a well-formed rule file; the dashboard is valid JSON"
