# lib.sh — shared helpers for the zhook end-to-end tests (POSIX sh, sourced).
#
# A test does:
#     . "$(dirname "$0")/lib.sh"
#     zh_setup                      # temp dir, ports, EXIT trap (teardown)
#     zh_start_receiver
#     zh_start_scheduler; zh_start_deliverer a; zh_start_ingress; zh_wait_pipeline
#     ...assertions...
#     zh_pass "what was shown"
#
# Rules kept here: every process the test starts is recorded by PID and only
# those are signalled at teardown (SIGTERM, then SIGKILL after a deadline);
# every wait has a deadline (zh_wait_until / zh_wait_http, polling at short
# intervals, no bare sleeps of seconds); logs go to the private temp dir and
# the test fails when one holds a sanitizer report.
#
# Knobs (environment):
#     ZH_BIN        directory of the binaries and test tools (default: bin/)
#     ZH_SANITIZE=1 sanitizer build (also detected from ZH_BIN ending in /san):
#                   deadlines are multiplied by ZH_SCALE (default 3)
#     ZH_KEEP=1     keep the temp dir even when the test passes
#     ZH_SCH_ENV / ZH_DLV_ENV / ZH_ING_ENV   extra VAR=value words for a stage
#                   (they come last, so they override the defaults below)
#     ZH_CURVE=off  run the internal sockets without CURVE; by default zh_setup
#                   makes a key set in $ZH_KEYS (scripts/make-keys.sh) and every
#                   stage authenticates with it (zh_curve_env)

LC_ALL=C
export LC_ALL
# callers outside tests/e2e (bench/) set ZH_ROOT to the repository before sourcing
ZH_ROOT=${ZH_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ZH_BIN=${ZH_BIN:-$ZH_ROOT/bin}
case "$ZH_BIN" in
    */san | */san/) ZH_SANITIZE=${ZH_SANITIZE:-1} ;;
esac
if [ "${ZH_SANITIZE:-0}" = 1 ]; then
    ZH_SCALE=${ZH_SCALE:-3}
else
    ZH_SCALE=${ZH_SCALE:-1}
fi
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0}"
: "${UBSAN_OPTIONS:=print_stacktrace=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
ZH_TEST=$(basename "$0" .sh)
ZH_ALL_PIDS=""
ZH_TMP=""

# --- output and assertions -------------------------------------------------

zh_log () {
    echo "[$ZH_TEST] $*"
}

zh_fail () {
    echo "[$ZH_TEST] FAIL: $*" >&2
    exit 1
}

zh_pass () {
    echo "[$ZH_TEST] ok: $*"
}

# zh_assert_eq ACTUAL EXPECTED WHAT
zh_assert_eq () {
    [ "$1" = "$2" ] || zh_fail "$3: expected '$2', got '$1'"
}

# zh_assert_ge ACTUAL MIN WHAT   (integers)
zh_assert_ge () {
    [ -n "$1" ] && [ "$1" -ge "$2" ] 2>/dev/null || zh_fail "$3: expected >= $2, got '$1'"
}

# zh_assert_le ACTUAL MAX WHAT   (integers)
zh_assert_le () {
    [ -n "$1" ] && [ "$1" -le "$2" ] 2>/dev/null || zh_fail "$3: expected <= $2, got '$1'"
}

# zh_assert_match TEXT EXTENDED-REGEX WHAT
zh_assert_match () {
    printf '%s\n' "$1" | grep -Eq -- "$2" || zh_fail "$3: '$1' does not match /$2/"
}

# --- time --------------------------------------------------------------------

zh_now_ms () {
    date +%s%3N
}

# RFC 3339 text -> epoch ms (GNU date).
zh_rfc3339_ms () {
    date -d "$1" +%s%3N 2>/dev/null
}

# epoch ms -> RFC 3339 UTC with milliseconds.
zh_ms_rfc3339 () {
    date -u -d "@$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" +%Y-%m-%dT%H:%M:%S.%3NZ
}

# Scales a deadline for the sanitizer build.
zh_scaled () {
    echo $(($1 * ZH_SCALE))
}

# zh_wait_until DEADLINE_MS SHELL-CONDITION: polls every 50 ms; 0 when the
# condition held before the (scaled) deadline, 1 otherwise.
zh_wait_until () {
    _wu_end=$(($(zh_now_ms) + $1 * ZH_SCALE))
    shift
    while :; do
        if eval "$*"; then
            return 0
        fi
        [ "$(zh_now_ms)" -lt "$_wu_end" ] || return 1
        sleep 0.05
    done
}

# zh_wait_http URL STATUS DEADLINE_MS
zh_wait_http () {
    zh_wait_until "$3" \
        "[ \"\$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' '$1')\" = '$2' ]"
}

# --- processes ---------------------------------------------------------------

zh_alive () {
    [ -r "/proc/$1/stat" ] || return 1
    _al_state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$_al_state" != Z ] && [ -n "$_al_state" ]
}

zh_register () {
    eval "ZH_PID_$1=$2"
    ZH_ALL_PIDS="$ZH_ALL_PIDS $2"
}

zh_pid () {
    eval "echo \"\${ZH_PID_$1:-}\""
}

# zh_kill NAME: SIGKILL and reap.
zh_kill () {
    _k_pid=$(zh_pid "$1")
    [ -n "$_k_pid" ] || zh_fail "zh_kill: no process named $1"
    kill -KILL "$_k_pid" 2>/dev/null
    wait "$_k_pid" 2>/dev/null
    echo "--- killed (SIGKILL) at $(zh_now_ms) ---" >>"$ZH_TMP/$1.log"
}

# zh_stop NAME DEADLINE_MS: SIGTERM, wait for the exit within the (scaled)
# deadline. Sets ZH_RC to the exit status (124 when it had to be SIGKILLed)
# and ZH_STOP_MS to how long it took.
zh_stop () {
    _s_pid=$(zh_pid "$1")
    [ -n "$_s_pid" ] || zh_fail "zh_stop: no process named $1"
    _s_t0=$(zh_now_ms)
    kill -TERM "$_s_pid" 2>/dev/null
    if zh_wait_until "$2" "! zh_alive $_s_pid"; then
        wait "$_s_pid" 2>/dev/null
        ZH_RC=$?
    else
        kill -KILL "$_s_pid" 2>/dev/null
        wait "$_s_pid" 2>/dev/null
        ZH_RC=124
    fi
    ZH_STOP_MS=$(($(zh_now_ms) - _s_t0))
}

zh_teardown () {
    _td_rc=$?
    trap - EXIT INT TERM HUP PIPE
    for _td_pid in $ZH_ALL_PIDS; do
        if zh_alive "$_td_pid"; then
            kill -CONT "$_td_pid" 2>/dev/null
            kill -TERM "$_td_pid" 2>/dev/null
        fi
    done
    _td_end=$(($(zh_now_ms) + 10000 * ZH_SCALE))
    for _td_pid in $ZH_ALL_PIDS; do
        while zh_alive "$_td_pid" && [ "$(zh_now_ms)" -lt "$_td_end" ]; do
            sleep 0.05
        done
        if zh_alive "$_td_pid"; then
            echo "[$ZH_TEST] teardown: pid $_td_pid ignored SIGTERM; SIGKILL" >&2
            kill -KILL "$_td_pid" 2>/dev/null
        fi
        wait "$_td_pid" 2>/dev/null
    done
    if [ -n "$ZH_TMP" ] && [ -d "$ZH_TMP" ]; then
        if ! zh_check_sanitizers; then
            _td_rc=1
        fi
        if [ "$_td_rc" != 0 ] || [ "${ZH_KEEP:-0}" = 1 ]; then
            echo "[$ZH_TEST] logs kept in $ZH_TMP" >&2
        else
            rm -rf "$ZH_TMP"
        fi
    fi
    exit "$_td_rc"
}

# Fails (returns 1, prints the report) when a log holds a sanitizer report.
zh_check_sanitizers () {
    _cs_hits=$(grep -l -E 'AddressSanitizer|runtime error:|LeakSanitizer' \
        "$ZH_TMP"/*.log 2>/dev/null)
    [ -z "$_cs_hits" ] && return 0
    for _cs_f in $_cs_hits; do
        echo "[$ZH_TEST] FAIL: sanitizer report in $(basename "$_cs_f"):" >&2
        grep -n -E -A 30 'AddressSanitizer|runtime error:|LeakSanitizer' "$_cs_f" | head -60 >&2
    done
    return 1
}

# --- set-up ------------------------------------------------------------------

zh_setup () {
    for _su_b in zhook-scheduler zhook-deliverer zhook-ingress zhook-keygen zh_receiver zh_freeport zh_json; do
        [ -x "$ZH_BIN/$_su_b" ] || { echo "[$ZH_TEST] FAIL: $ZH_BIN/$_su_b not built" >&2; exit 1; }
    done
    ZH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zh-e2e-$ZH_TEST.XXXXXX") || exit 1
    trap zh_teardown EXIT
    trap 'exit 130' INT TERM
    trap 'exit 129' HUP
    trap 'exit 141' PIPE
    # shellcheck disable=SC2046
    set -- $("$ZH_BIN/zh_freeport" 6)
    [ $# -eq 6 ] || zh_fail "zh_freeport gave no ports"
    ZH_SUBMIT_PORT=$1
    ZH_PUBLISH_PORT=$2
    ZH_DISPATCH_PORT=$3
    ZH_RESULTS_PORT=$4
    ZH_SCH_OPS_PORT=$5
    ZH_ING_PORT=$6
    ZH_DATA=$ZH_TMP/data
    mkdir -p "$ZH_DATA"
    ZH_API=http://127.0.0.1:$ZH_ING_PORT
    ZH_SCH_OPS=http://127.0.0.1:$ZH_SCH_OPS_PORT
    ZH_SCH_ENV=${ZH_SCH_ENV:-}
    ZH_DLV_ENV=${ZH_DLV_ENV:-}
    ZH_ING_ENV=${ZH_ING_ENV:-}
    ZH_CURVE=${ZH_CURVE:-on}
    ZH_KEYS=$ZH_TMP/keys
    if [ "$ZH_CURVE" != off ]; then
        sh "$ZH_ROOT/scripts/make-keys.sh" "$ZH_BIN/zhook-keygen" "$ZH_KEYS" >/dev/null ||
            zh_fail "cannot make the CURVE keys"
    fi
    zh_log "temp dir $ZH_TMP, ZH_BIN=$ZH_BIN, scale $ZH_SCALE, CURVE $ZH_CURVE"
}

# zh_curve_env scheduler|ingress|deliverer: the ZHOOK_CURVE* words of a stage
# (keys from $ZH_KEYS), or ZHOOK_CURVE=off when ZH_CURVE=off.
zh_curve_env () {
    if [ "$ZH_CURVE" = off ]; then
        echo "ZHOOK_CURVE=off"
    elif [ "$1" = scheduler ]; then
        echo "ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE=$ZH_KEYS/scheduler_secret" \
            "ZHOOK_CURVE_CLIENTS_DIR=$ZH_KEYS/clients"
    else
        echo "ZHOOK_CURVE=on ZHOOK_CURVE_SECRET_FILE=$ZH_KEYS/$1_secret" \
            "ZHOOK_CURVE_SERVER_FILE=$ZH_KEYS/scheduler"
    fi
}

# Scheduler with short test timings; $ZH_SCH_ENV (VAR=value words) overrides.
zh_start_scheduler () {
    echo "--- start at $(zh_now_ms) ---" >>"$ZH_TMP/scheduler.log"
    # shellcheck disable=SC2086
    env ZHOOK_DATA_DIR="$ZH_DATA" \
        ZHOOK_OPS_LISTEN="127.0.0.1:$ZH_SCH_OPS_PORT" \
        ZHOOK_SUBMIT_ENDPOINT="tcp://127.0.0.1:$ZH_SUBMIT_PORT" \
        ZHOOK_PUBLISH_ENDPOINT="tcp://127.0.0.1:$ZH_PUBLISH_PORT" \
        ZHOOK_DISPATCH_ENDPOINT="tcp://127.0.0.1:$ZH_DISPATCH_PORT" \
        ZHOOK_RESULTS_ENDPOINT="tcp://127.0.0.1:$ZH_RESULTS_PORT" \
        ZHOOK_HEARTBEAT_MS=200 \
        ZHOOK_MAX_ATTEMPTS=5 \
        ZHOOK_TIMEOUT_MS=2000 \
        ZHOOK_RETRY_BASE_MS=50 \
        ZHOOK_RETRY_MAX_MS=2000 \
        ZHOOK_LEASE_MARGIN_MS=500 \
        ZHOOK_DELIVERER_TIMEOUT_MS=1000 \
        ZHOOK_LOG_LEVEL="${ZH_LOG_LEVEL:-info}" \
        $(zh_curve_env scheduler) \
        $ZH_SCH_ENV \
        "$ZH_BIN/zhook-scheduler" >>"$ZH_TMP/scheduler.log" 2>&1 &
    zh_register scheduler $!
}

# zh_start_deliverer NAME (letters/digits): its ops port is picked on first start.
zh_start_deliverer () {
    _sd_port=$(eval "echo \"\${ZH_DLV_PORT_$1:-}\"")
    if [ -z "$_sd_port" ]; then
        _sd_port=$(zh_free_ports 1) || zh_fail "zh_free_ports"
        eval "ZH_DLV_PORT_$1=$_sd_port"
    fi
    echo "--- start at $(zh_now_ms) ---" >>"$ZH_TMP/deliverer_$1.log"
    # shellcheck disable=SC2086
    env ZHOOK_DISPATCH_ENDPOINT="tcp://127.0.0.1:$ZH_DISPATCH_PORT" \
        ZHOOK_RESULTS_ENDPOINT="tcp://127.0.0.1:$ZH_RESULTS_PORT" \
        ZHOOK_OPS_LISTEN="127.0.0.1:$_sd_port" \
        ZHOOK_CONCURRENCY=16 \
        ZHOOK_HEARTBEAT_MS=200 \
        ZHOOK_SHUTDOWN_GRACE_MS=2000 \
        ZHOOK_ALLOW_PRIVATE_TARGETS=1 \
        ZHOOK_INSTANCE_ID="dlv-$1" \
        ZHOOK_LOG_LEVEL="${ZH_LOG_LEVEL:-info}" \
        $(zh_curve_env deliverer) \
        $ZH_DLV_ENV \
        "$ZH_BIN/zhook-deliverer" >>"$ZH_TMP/deliverer_$1.log" 2>&1 &
    zh_register "deliverer_$1" $!
}

zh_dlv_ops () {
    eval "echo \"http://127.0.0.1:\${ZH_DLV_PORT_$1}\""
}

zh_start_ingress () {
    echo "--- start at $(zh_now_ms) ---" >>"$ZH_TMP/ingress.log"
    # shellcheck disable=SC2086
    env ZHOOK_LISTEN="127.0.0.1:$ZH_ING_PORT" \
        ZHOOK_SUBMIT_ENDPOINT="tcp://127.0.0.1:$ZH_SUBMIT_PORT" \
        ZHOOK_PUBLISH_ENDPOINT="tcp://127.0.0.1:$ZH_PUBLISH_PORT" \
        ZHOOK_AUTH=off \
        ZHOOK_ALLOW_PRIVATE_TARGETS="${ZH_ING_ALLOW_PRIVATE:-1}" \
        ZHOOK_REQUEST_TIMEOUT_MS=2000 \
        ZHOOK_HTTP_THREADS=32 \
        ZHOOK_LOG_LEVEL="${ZH_LOG_LEVEL:-info}" \
        $(zh_curve_env ingress) \
        $ZH_ING_ENV \
        "$ZH_BIN/zhook-ingress" >>"$ZH_TMP/ingress.log" 2>&1 &
    zh_register ingress $!
}

# Starts the scriptable receiver; sets ZH_RCV (base URL) and ZH_RCV_LOG.
# The receiver binds port 0: the kernel may hand it one of zh_setup's ports,
# free until their stage starts; it is then started again.
zh_start_receiver () {
    ZH_RCV_LOG=$ZH_TMP/receiver.jsonl
    : >"$ZH_RCV_LOG"
    : >"$ZH_RCV_LOG.arrivals"
    _sr_try=0
    while :; do
        rm -f "$ZH_TMP/receiver.port"
        "$ZH_BIN/zh_receiver" "$ZH_RCV_LOG" "$ZH_TMP/receiver.port" 0 64 \
            >>"$ZH_TMP/receiver.log" 2>&1 &
        zh_register receiver $!
        zh_wait_until 5000 "[ -s '$ZH_TMP/receiver.port' ]" || zh_fail "receiver did not start"
        _sr_port=$(cat "$ZH_TMP/receiver.port")
        zh_port_reserved "$_sr_port" || break
        _sr_try=$((_sr_try + 1))
        [ $_sr_try -lt 10 ] || zh_fail "the receiver keeps getting a reserved port"
        zh_stop receiver 5000
    done
    ZH_RCV=http://127.0.0.1:$_sr_port
}

# zh_free_ports N: N distinct free ports on 127.0.0.1, none of zh_setup's
# (those are free too until their stage binds them); fails after 20 tries.
zh_free_ports () {
    _fp_try=0
    while [ $_fp_try -lt 20 ]; do
        _fp=$("$ZH_BIN/zh_freeport" "$1") || return 1
        _fp_ok=1
        for _fp_p in $_fp; do
            ! zh_port_reserved "$_fp_p" || _fp_ok=0
        done
        if [ $_fp_ok = 1 ]; then
            echo $_fp
            return 0
        fi
        _fp_try=$((_fp_try + 1))
    done
    return 1
}

# zh_port_reserved PORT: true when PORT is one of zh_setup's ports.
zh_port_reserved () {
    case " $ZH_SUBMIT_PORT $ZH_PUBLISH_PORT $ZH_DISPATCH_PORT $ZH_RESULTS_PORT $ZH_SCH_OPS_PORT $ZH_ING_PORT " in
    *" $1 "*) return 0 ;;
    esac
    return 1
}

zh_wait_scheduler () {
    zh_wait_http "$ZH_SCH_OPS/ready" 200 10000 || zh_fail "scheduler not ready within deadline"
}

zh_wait_deliverer () {
    zh_wait_http "$(zh_dlv_ops "$1")/ready" 200 10000 || zh_fail "deliverer $1 not ready within deadline"
}

zh_wait_ingress () {
    zh_wait_http "$ZH_API/ready" 200 10000 || zh_fail "ingress not ready within deadline"
}

# Starts scheduler, the named deliverers and the ingress, waits until ready.
zh_start_pipeline () {
    zh_start_scheduler
    for _sp_d in "$@"; do
        zh_start_deliverer "$_sp_d"
    done
    zh_start_ingress
    zh_wait_scheduler
    for _sp_d in "$@"; do
        zh_wait_deliverer "$_sp_d"
    done
    zh_wait_ingress
}

# --- HTTP API ------------------------------------------------------------------

# zh_api METHOD PATH [JSON-BODY [curl args...]]: sets ZH_STATUS; the response
# body is in $ZH_TMP/resp.body and headers in $ZH_TMP/resp.hdr.
zh_api () {
    _api_m=$1
    _api_p=$2
    shift 2
    if [ $# -gt 0 ]; then
        _api_b=$1
        shift
        set -- -H 'Content-Type: application/json' --data-binary "$_api_b" "$@"
    fi
    if [ -n "${ZH_API_KEY:-}" ]; then
        set -- -H "Authorization: Bearer $ZH_API_KEY" "$@"
    fi
    ZH_STATUS=$(curl -sS --max-time $((15 * ZH_SCALE)) -o "$ZH_TMP/resp.body" \
        -D "$ZH_TMP/resp.hdr" -w '%{http_code}' -X "$_api_m" "$@" "$ZH_API$_api_p")
}

# zh_api_keys FILE TENANT=KEY...: writes an API keys file ("TENANT SHA256HEX"
# per line) for an ingress started with
# ZH_ING_ENV="ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=FILE". zh_api sends
# "Authorization: Bearer $ZH_API_KEY" when ZH_API_KEY is set.
zh_api_keys () {
    _ak_f=$1
    shift
    : >"$_ak_f"
    for _ak_p in "$@"; do
        _ak_h=$(printf '%s' "${_ak_p#*=}" | sha256sum | cut -d' ' -f1)
        echo "${_ak_p%%=*} $_ak_h" >>"$_ak_f"
    done
}

# zh_urlenc TEXT: percent-encodes what query strings mangle in base64 keys
# and key lists (for the receiver's secret=).
zh_urlenc () {
    printf '%s' "$1" | sed 's/%/%25/g; s/+/%2B/g; s/\//%2F/g; s/=/%3D/g; s/ /%20/g'
}

# zh_body PATH: a field of the last response body (zh_json syntax).
zh_body () {
    "$ZH_BIN/zh_json" "$1" "$ZH_TMP/resp.body" 2>/dev/null
}

# zh_header NAME: a header of the last response.
zh_header () {
    grep -i "^$1:" "$ZH_TMP/resp.hdr" | head -1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'
}

zh_resp () {
    head -c 600 "$ZH_TMP/resp.body"
}

# zh_submit JSON [curl args]: POST /v1/messages, expects 202; sets ZH_ID and
# ZH_DUE (deliver_at text).
zh_submit () {
    zh_api POST /v1/messages "$@"
    [ "$ZH_STATUS" = 202 ] || zh_fail "POST /v1/messages $1: status $ZH_STATUS: $(zh_resp)"
    ZH_ID=$(zh_body id)
    ZH_DUE=$(zh_body deliver_at)
    [ -n "$ZH_ID" ] || zh_fail "202 without an id: $(zh_resp)"
}

# zh_msg_status ID: prints the message's status (GET /v1/messages/ID).
zh_msg_status () {
    zh_api GET "/v1/messages/$1"
    [ "$ZH_STATUS" = 200 ] || return 1
    zh_body status
}

# zh_wait_status ID STATUS DEADLINE_MS
zh_wait_status () {
    zh_wait_until "$3" "[ \"\$(zh_msg_status $1)\" = '$2' ]" ||
        zh_fail "message $1 not $2 within $3 ms (status $ZH_STATUS: $(zh_resp))"
}

# --- receiver log --------------------------------------------------------------

# zh_rcv_count ID: requests the receiver saw for this webhook-id.
zh_rcv_count () {
    grep -c "\"webhook_id\":\"$1\"" "$ZH_RCV_LOG"
}

# zh_rcv_arrived ID: requests for this webhook-id that reached the receiver,
# including those it is still holding (delay_ms): lines are written on arrival.
zh_rcv_arrived () {
    grep -c "\"webhook_id\":\"$1\"" "$ZH_RCV_LOG.arrivals"
}

# zh_rcv_field ID N FIELD: numeric or string field of the Nth request for ID.
zh_rcv_field () {
    grep "\"webhook_id\":\"$1\"" "$ZH_RCV_LOG" | sed -n "$2p" |
        sed -n "s/.*\"$3\":\"\{0,1\}\([^\",}]*\)\"\{0,1\}[,}].*/\1/p"
}

# zh_rcv_path_count PATH: requests the receiver answered on this path.
zh_rcv_path_count () {
    grep -c "\"path\":\"$1\"" "$ZH_RCV_LOG"
}

# zh_rcv_path_ids PATH: webhook-ids of the requests on this path, sorted,
# one per request (duplicates kept).
zh_rcv_path_ids () {
    grep "\"path\":\"$1\"" "$ZH_RCV_LOG" |
        sed -n 's/.*"webhook_id":"\([^"]*\)".*/\1/p' | sort
}

# zh_rcv_ids: sorted webhook-ids seen (one per request; duplicates kept).
zh_rcv_ids () {
    sed -n 's/.*"webhook_id":"\([^"]*\)".*/\1/p' "$ZH_RCV_LOG" | sort
}

# --- background load ----------------------------------------------------------

# zh_load_start PATH COUNT MIXED_MS RATE PREFIX: bin/zh_load POSTs COUNT
# messages to $ZH_RCV/PATH in the background over 4 clients, due 0..MIXED_MS
# from now, at most RATE new messages per second (divided by ZH_SCALE), each
# retried with its Idempotency-Key (PREFIX-i) across 503s and restarts until
# its deadline. One line per 202 in $ZH_LOAD_ACC; sets ZH_LOAD_PID.
zh_load_start () {
    ZH_LOAD_ACC=$ZH_TMP/accepted.txt
    : >"$ZH_LOAD_ACC"
    "$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/$1" 4 "$2" "$ZH_LOAD_ACC" --mixed-delays "$3" \
        --rate $(($4 / ZH_SCALE)) --deadline-ms $((120000 * ZH_SCALE)) --key-prefix "$5" \
        >"$ZH_TMP/load.out" 2>"$ZH_TMP/load.err" &
    ZH_LOAD_PID=$!
    zh_register load "$ZH_LOAD_PID"
}

# zh_load_accepted: 202s so far.
zh_load_accepted () {
    wc -l <"$ZH_LOAD_ACC"
}

# zh_load_wait_accepted COUNT: until the clients have COUNT 202s (or finished).
zh_load_wait_accepted () {
    zh_wait_until 60000 "[ \$(zh_load_accepted) -ge $1 ] || ! zh_alive $ZH_LOAD_PID" ||
        zh_fail "clients stuck at $(zh_load_accepted) accepted (waiting for $1)"
}

# zh_assert_security_headers HEADERS-FILE WHAT: the five security headers of
# every ingress response, each exactly once, and an X-Request-Id.
zh_assert_security_headers () {
    for _sh_h in 'X-Content-Type-Options: nosniff' 'Cache-Control: no-store' \
        'X-Frame-Options: DENY' "Content-Security-Policy: default-src 'none'" \
        'Referrer-Policy: no-referrer'; do
        _sh_n=$(tr -d '\r' <"$1" | grep -ci "^$_sh_h\$")
        zh_assert_eq "$_sh_n" 1 "$2: header '$_sh_h'"
    done
    grep -qi '^X-Request-Id: ' "$1" || zh_fail "$2: no X-Request-Id"
}

# --- metrics and processes -------------------------------------------------------

# zh_metric BASE NAME: sum of the samples of NAME (any labels); 1 if absent.
zh_metric () {
    curl -s --max-time 2 "$1/metrics" | awk -v n="$2" '
        $1 == n || index($1, n "{") == 1 { s += $NF; f = 1 }
        END { if (f) printf "%d\n", s; else exit 1 }'
}

# zh_cpu_ticks PID: utime+stime in clock ticks.
zh_cpu_ticks () {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
