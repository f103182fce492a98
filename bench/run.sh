#!/bin/sh
# run.sh — zhook against Node + BullMQ + Redis, same machine, same load, one run.
#
#     make && make tools && sh bench/run.sh            # every scenario, both systems
#     BENCH_SYSTEMS=zhook BENCH_SCENARIOS="1 3" sh bench/run.sh
#     BENCH_DELIVERERS=2 sh bench/run.sh               # two deliverers of 32
#     BENCH_DLV_CONC=128 sh bench/run.sh               # ZHOOK_CONCURRENCY of each deliverer
#     BENCH_DLV_ENV=ZHOOK_PREFETCH=0 sh bench/run.sh   # more deliverer settings
#     BENCH_SCH_ENV=ZHOOK_DISPATCH_LEAD_MS=0 sh bench/run.sh  # more scheduler settings
#
# Scenarios (SCENARIOS below; 2 is measured during 1):
#   1  ingest and delivery: wrk -t2 -c64 for BENCH_SECONDS (15) of immediate
#      messages: accepted/s, acceptance latency p50/p99, deliveries/s, drain
#   2  CPU seconds of all of a system's processes (/proc) per delivered message
#   3  timer precision: BENCH_RATE (1,000) messages/s for BENCH_SECONDS, each
#      due BENCH_DELAY_MS (2,000) after it is sent: lateness p50/p99/max
#   4  backlog: BENCH_PENDING (1,000,000) messages an hour out: load time,
#      accept rate at that size vs an empty store, store RssAnon, disk bytes
#      per pending message, restart (SIGKILL) to ready
#   5  fan-out: BENCH_EVENTS (5) events, one after the other, each to
#      BENCH_SUBS (1,000) subscriptions: publish latency, time to the last
#      delivery
#
# Both systems deliver to one receiver, nginx-light answering 204 and logging
# its arrival clock beside the X-Due-At header the load sets per message
# (bench/receiver/nginx.conf.in); the load is wrk with bench/wrk/zh.lua
# (LuaJIT FFI clock; a paced open-loop mode is the fixed-rate generator).
# zhook runs as in production: auth on, CURVE on, default retry policy,
# BENCH_DELIVERERS (1) deliverers sharing 64 attempts in flight (as the
# peer's one worker of concurrency 64), logs at warn. The peer is bench/peers/bullmq (its README states its
# settings: Redis appendonly yes, appendfsync everysec). Each scenario starts
# each system on an empty store. Everything listens on 127.0.0.1 on free
# ports, lives in one private temp dir, is bounded in time and is stopped by
# PID (tests/e2e/lib.sh's registry and teardown). The table goes to stdout
# and to $BENCH_OUT (default: a file in the temp dir, printed at the end).
ZH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZH_BIN=${ZH_BIN:-$ZH_ROOT/bin}
ZH_KEEP=${ZH_KEEP:-0}
. "$ZH_ROOT/tests/e2e/lib.sh"
. "$ZH_ROOT/bench/lib.sh"
ZH_TEST=bench

SECONDS_=${BENCH_SECONDS:-15}
RATE=${BENCH_RATE:-1000}
DELAY_MS=${BENCH_DELAY_MS:-2000}
PENDING=${BENCH_PENDING:-1000000}
SUBS=${BENCH_SUBS:-1000}
EVENTS=${BENCH_EVENTS:-5}
SYSTEMS=${BENCH_SYSTEMS:-zhook peer}
# zhook's deliverers: BENCH_DELIVERERS processes sharing 64 attempts in
# flight; one by default, process for process like the peer (one API, one
# worker of concurrency 64, one Redis: one ingress, one deliverer of 64, one
# scheduler)
DELIVERERS=${BENCH_DELIVERERS:-1}
case $DELIVERERS in 1 | 2 | 4) ;; *) echo "bench: BENCH_DELIVERERS must be 1, 2 or 4" >&2; exit 2 ;; esac
DLV_CONC=${BENCH_DLV_CONC:-$((64 / DELIVERERS))}
DLV_NAMES=$(echo a b c d | cut -d' ' -f1-"$DELIVERERS")
SCENARIOS=${BENCH_SCENARIOS:-1 3 4 5}
PEER_DIR=$ZH_ROOT/bench/peers/bullmq
LUA=$ZH_ROOT/bench/wrk/zh.lua
TICK=$(getconf CLK_TCK)

# --- prerequisites -------------------------------------------------------------

need_pkgs=""
command -v wrk >/dev/null 2>&1 || need_pkgs="$need_pkgs wrk"
[ -x /usr/sbin/nginx ] || need_pkgs="$need_pkgs nginx-light"
case " $SYSTEMS " in *" peer "*)
    command -v redis-server >/dev/null 2>&1 || need_pkgs="$need_pkgs redis-server"
    command -v npm >/dev/null 2>&1 || need_pkgs="$need_pkgs nodejs npm" ;;
esac
if [ -n "$need_pkgs" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench: installing$need_pkgs"
        apt-get update -q >/dev/null &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need_pkgs >/dev/null ||
            { echo "bench: apt-get install$need_pkgs failed" >&2; exit 1; }
        # the Debian packages start their services: this run uses its own
        for s in redis-server nginx; do
            command -v systemctl >/dev/null 2>&1 && systemctl stop "$s" >/dev/null 2>&1
            command -v service >/dev/null 2>&1 && service "$s" stop >/dev/null 2>&1
        done
    else
        echo "bench: missing packages; run as root: apt-get install -y$need_pkgs" >&2
        exit 1
    fi
fi
case " $SYSTEMS " in *" peer "*)
    if [ ! -d "$PEER_DIR/node_modules" ]; then
        (cd "$PEER_DIR" && npm install --no-audit --no-fund --loglevel=error) ||
            { echo "bench: npm install in $PEER_DIR failed" >&2; exit 1; }
    fi ;;
esac
[ -x "$ZH_BIN/zhook-scheduler" ] || { echo "bench: build first: make && make tools" >&2; exit 1; }

zh_setup
set -- $(zh_free_ports 3)
[ $# -eq 3 ] || zh_fail "zh_freeport"
RCV_PORT=$1
PEER_PORT=$2
REDIS_PORT=$3
PEER_API=http://127.0.0.1:$PEER_PORT
OUT=${BENCH_OUT:-$ZH_TMP/results.txt}
API_KEY="zhk_bench_$(date +%s%N)"
zh_api_keys "$ZH_TMP/api_keys.txt" "bench=$API_KEY"

# kv SYSTEM KEY VALUE: one measurement; the table reads them back
kv () {
    echo "$2 $3" >>"$ZH_TMP/$1.kv"
    zh_log "$1: $2 = $3"
}
kv_get () {
    awk -v k="$2" '$1 == k { v = $2 } END { print v }' "$ZH_TMP/$1.kv" 2>/dev/null
}

# --- receiver ----------------------------------------------------------------

bench_receiver "$RCV_PORT"

# arrivals PATH-PREFIX: deliveries logged so far under that path (the URI
# is the only field that starts with "/"). grep, not awk: the log grows to
# tens of MB, and a counter polled while a system drains must not take the
# CPU the system drains with (awk over 170k lines took ~0.1 s a poll).
arrivals () {
    grep -c -F " $1" "$RCV_LOG"
}

# wait_arrivals PATH-PREFIX N TIMEOUT_MS: until N deliveries are logged,
# looking 5 times a second (the times measured come from the log itself, so
# polling more often would only take CPU from the system under test)
wait_arrivals () {
    _wa_end=$(($(zh_now_ms) + $3))
    while [ "$(arrivals "$1")" -lt "$2" ]; do
        [ "$(zh_now_ms)" -lt "$_wa_end" ] || return 1
        sleep 0.2
    done
}

# --- the two systems -----------------------------------------------------------

zhook_start () {
    rm -rf "$ZH_DATA"
    mkdir -p "$ZH_DATA"
    bench_zhook_env "$ZH_TMP/api_keys.txt" "$DLV_CONC"
    zh_start_pipeline $DLV_NAMES
    SYS_API=$ZH_API
    SYS_AUTH=$API_KEY
}

zhook_stop () {
    for s in ingress $(for d in $DLV_NAMES; do printf 'deliverer_%s ' "$d"; done) scheduler; do
        zh_stop "$s" 15000
    done
}

zhook_pids () {
    _zp="$(zh_pid scheduler) $(zh_pid ingress)"
    for _d in $DLV_NAMES; do _zp="$_zp $(zh_pid "deliverer_$_d")"; done
    echo "$_zp"
}

redis_start () {
    "$(command -v redis-server)" "$ZH_TMP/peer/redis.conf" >>"$ZH_TMP/redis.log" 2>&1 &
    zh_register redis $!
}

redis_ready () {
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

peer_start () {
    rm -rf "$ZH_TMP/peer"
    mkdir -p "$ZH_TMP/peer/data"
    sed -e "s#@DIR@#$ZH_TMP/peer/data#g" -e "s#@PORT@#$REDIS_PORT#g" \
        "$PEER_DIR/redis.conf.in" >"$ZH_TMP/peer/redis.conf"
    redis_start
    zh_wait_until 10000 redis_ready || zh_fail "redis did not start: $(tail -5 "$ZH_TMP/redis.log")"
    export PEER_PORT REDIS_URL="redis://127.0.0.1:$REDIS_PORT" PEER_CONCURRENCY=64 \
        PEER_MAX_ATTEMPTS=8 PEER_RETRY_BASE_MS=1000 PEER_TIMEOUT_MS=10000
    node "$PEER_DIR/server.js" >>"$ZH_TMP/peer_server.log" 2>&1 &
    zh_register peer_server $!
    node "$PEER_DIR/worker.js" >>"$ZH_TMP/peer_worker.log" 2>&1 &
    zh_register peer_worker $!
    zh_wait_http "$PEER_API/ready" 200 15000 || zh_fail "peer server not ready: $(tail -5 "$ZH_TMP/peer_server.log")"
    SYS_API=$PEER_API
    SYS_AUTH=""
}

peer_stop () {
    for s in peer_server peer_worker redis; do
        zh_stop "$s" 15000
    done
}

peer_pids () {
    echo "$(zh_pid redis) $(zh_pid peer_server) $(zh_pid peer_worker)"
}

sys_start () { "$1_start"; }
sys_stop () { "$1_stop"; }

# cpu_ticks PIDS...: utime+stime of all of them, in clock ticks
cpu_ticks () {
    _ct=0
    for _p in "$@"; do
        _ct=$((_ct + $(zh_cpu_ticks "$_p")))
    done
    echo "$_ct"
}

rss_anon_kb () {
    awk '$1 == "RssAnon:" { print $2 }' "/proc/$1/status"
}

# wrk_run OUTFILE WRK-ARGS...: wrk with zh.lua against $SYS_API; prints the WRK line
wrk_run () {
    _wo=$1
    shift
    BENCH_AUTH=$SYS_AUTH timeout 900 wrk --timeout 10s -s "$LUA" "$@" "$SYS_API" >"$_wo" 2>&1 ||
        zh_fail "wrk failed: $(tail -5 "$_wo")"
    grep '^WRK ' "$_wo" || zh_fail "no WRK line: $(tail -5 "$_wo")"
}

# field LINE NAME: the value of NAME=value in a WRK line
field () {
    printf '%s\n' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# per_s COUNT MS: COUNT per second over MS milliseconds
per_s () {
    awk -v n="$1" -v d="$2" 'BEGIN { printf "%.0f", n * 1000 / d }'
}

# wrk_rate WRK-LINE: the messages it got accepted, per second of its run
wrk_rate () {
    per_s "$(field "$1" items)" "$(field "$1" duration_ms)"
}

# median COLUMN FILE
median () {
    awk -v c="$1" '{ print $c }' "$2" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# lateness PATH-PREFIX: p50 p99 max min (ms) of arrival - X-Due-At
lateness () {
    awk -v p="$1" 'index($5, p) == 1 && $3 ~ /^[0-9]+$/ {
        printf "%d\n", ($1 * 1000 + 0.5) - $3 }' "$RCV_LOG" | sort -n |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "- - - - -"; exit }
            i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
            for (i = 1; i <= NR; i++) late += v[i] > 10
            print v[i50], v[i99], v[NR], v[1], late + 0 }'
}

dups () {
    awk -v p="$1" 'index($5, p) == 1 { print $4 }' "$RCV_LOG" | sort | uniq -d | wc -l
}

last_arrival_ms () {
    awk -v p="$1" 'index($5, p) == 1 { t = $1 * 1000 + 0.5; if (t > m) m = t } END { printf "%.0f\n", m }' "$RCV_LOG"
}

# --- scenarios 1 and 2 ---------------------------------------------------------

scenario1 () {
    _s=$1
    _path=/s1/$_s
    sys_start "$_s"
    _pids=$("$_s"_pids)
    _c0=$(cpu_ticks $_pids)
    _m0=$(stat_cpu)
    _t0=$(zh_now_ms)
    _w=$(BENCH_MODE=now BENCH_TARGET="$RCV$_path" wrk_run "$ZH_TMP/s1_$_s.wrk" \
        -t2 -c64 -d"${SECONDS_}s")
    _t1=$(zh_now_ms)
    _m1=$(stat_cpu)
    kv "$_s" s1_idle_pct "$(machine_share "$_m0" "$_m1" 2)"
    kv "$_s" s1_steal_pct "$(machine_share "$_m0" "$_m1" 3)"
    _n=$(field "$_w" items)
    wait_arrivals "$_path" "$_n" 300000 ||
        zh_log "$_s: scenario 1: only $(arrivals $_path) of $_n delivered after 300 s"
    _c1=$(cpu_ticks $_pids)
    _got=$(arrivals $_path)
    _last=$(last_arrival_ms $_path)
    _dur=$(field "$_w" duration_ms)
    kv "$_s" s1_accepted "$_n"
    kv "$_s" s1_other "$(field "$_w" other)"
    kv "$_s" s1_accepted_per_s "$(per_s "$_n" "$_dur")"
    kv "$_s" s1_p50_ms "$(field "$_w" p50_ms)"
    kv "$_s" s1_p99_ms "$(field "$_w" p99_ms)"
    kv "$_s" s1_delivered "$_got"
    kv "$_s" s1_deliveries_per_s "$(per_s "$_got" "$((_last - _t0))")"
    kv "$_s" s1_drain_ms "$((_last - _t1 > 0 ? _last - _t1 : 0))"
    kv "$_s" s1_duplicates "$(dups $_path)"
    set -- $(lateness $_path)
    kv "$_s" s1_e2e_p50_ms "$1"
    kv "$_s" s1_e2e_p99_ms "$2"
    # scenario 2 from the same run: every process of the system, /proc ticks
    kv "$_s" s2_cpu_us_per_msg "$(awk -v c="$((_c1 - _c0))" -v t="$TICK" -v n="$_got" \
        'BEGIN { printf "%.1f", c / t * 1000000 / n }')"
    _detail=""
    for _p in $_pids; do
        _detail="$_detail $(tr -d '\0' <"/proc/$_p/comm" 2>/dev/null || echo "?")=$(zh_cpu_ticks "$_p")"
    done
    zh_log "$_s: cumulative CPU ticks per process:$_detail"
    sys_stop "$_s"
}

# --- scenario 3 ----------------------------------------------------------------

scenario3 () {
    _s=$1
    _path=/s3/$_s
    sys_start "$_s"
    _m0=$(stat_cpu)
    _w=$(BENCH_MODE=delay BENCH_RATE=$RATE BENCH_DELAY_MS=$DELAY_MS BENCH_THREADS=2 \
        BENCH_TARGET="$RCV$_path" wrk_run "$ZH_TMP/s3_$_s.wrk" -t2 -c32 -d"${SECONDS_}s")
    kv "$_s" s3_steal_pct "$(machine_share "$_m0" "$(stat_cpu)" 3)"
    _n=$(field "$_w" items)
    wait_arrivals "$_path" "$_n" 120000 ||
        zh_log "$_s: scenario 3: only $(arrivals $_path) of $_n delivered"
    kv "$_s" s3_sent_per_s "$(wrk_rate "$_w")"
    kv "$_s" s3_delivered "$(arrivals $_path)"
    set -- $(lateness $_path)
    kv "$_s" s3_late_p50_ms "$1"
    kv "$_s" s3_late_p99_ms "$2"
    kv "$_s" s3_late_max_ms "$3"
    kv "$_s" s3_late_min_ms "$4"
    kv "$_s" s3_late_10ms "$5"
    # zhook: how much of it is the scheduler's (its dispatch lateness
    # histogram: sent minus due) and how much the delivery's
    if [ "$_s" = zhook ]; then
        curl -s --max-time 2 "$ZH_SCH_OPS/metrics" >"$ZH_TMP/s3_sch_metrics.txt"
        kv "$_s" s3_sch_late_10ms "$(awk '
            $1 ~ /^zhook_scheduler_dispatch_lateness_seconds_bucket\{le="0.01"\}/ { b = $NF }
            $1 == "zhook_scheduler_dispatch_lateness_seconds_count" { c = $NF }
            END { printf "%d\n", c - b }' "$ZH_TMP/s3_sch_metrics.txt")"
        # the scheduler's synced commits meanwhile, and the slow ones
        kv "$_s" s3_sch_commits "$(awk '$1 == "zhook_scheduler_commit_seconds_count" { print $NF }' \
            "$ZH_TMP/s3_sch_metrics.txt")"
        kv "$_s" s3_sch_commit_10ms "$(awk '
            $1 ~ /^zhook_scheduler_commit_seconds_bucket\{le="0.01"\}/ { b = $NF }
            $1 == "zhook_scheduler_commit_seconds_count" { c = $NF }
            END { printf "%d\n", c - b }' "$ZH_TMP/s3_sch_metrics.txt")"
    fi
    sys_stop "$_s"
}

# --- scenario 4 ----------------------------------------------------------------

store_pid () {
    if [ "$1" = zhook ]; then zh_pid scheduler; else zh_pid redis; fi
}

store_dir () {
    if [ "$1" = zhook ]; then echo "$ZH_DATA"; else echo "$ZH_TMP/peer/data"; fi
}

pending () {
    if [ "$1" = zhook ]; then
        # a request racing the ingress's reconnection after a scheduler
        # restart can get a 503: ask again
        for _try in 1 2 3 4 5; do
            curl -s --max-time 5 -H "Authorization: Bearer $API_KEY" "$ZH_API/v1/status" |
                "$ZH_BIN/zh_json" scheduled 2>/dev/null && return 0
            sleep 0.2
        done
        echo 0
    else
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" zcard bull:webhooks:delayed
    fi
}

scenario4 () {
    _s=$1
    sys_start "$_s"
    _w=$(BENCH_MODE=far BENCH_TARGET="$RCV/s4/$_s" wrk_run "$ZH_TMP/s4e_$_s.wrk" -t2 -c64 -d5s)
    _empty=$(wrk_rate "$_w")
    kv "$_s" s4_accept_empty_per_s "$_empty"
    _loaded0=$(pending "$_s")
    # the backlog, in batches of 1,000 over 4 connections; wrk's threads stop
    # sending at their share, and wrk itself is stopped (SIGINT: it prints its
    # summary) once the store reports them all pending
    _t0=$(zh_now_ms)
    BENCH_AUTH=$SYS_AUTH BENCH_MODE=bulk BENCH_BATCH=1000 BENCH_TOTAL="$PENDING" BENCH_THREADS=2 \
        BENCH_TARGET="$RCV/s4/$_s" wrk --timeout 30s -s "$LUA" -t2 -c4 -d900s "$SYS_API" \
        >"$ZH_TMP/s4l_$_s.wrk" 2>&1 &
    _wp=$!
    zh_register "wrk_$_s" $_wp
    zh_wait_until 900000 "[ \$(pending $_s) -ge $((PENDING + _loaded0)) ] || ! zh_alive $_wp" ||
        zh_log "$_s: the backlog did not load within 900 s"
    _t1=$(zh_now_ms)
    kill -INT "$_wp" 2>/dev/null
    wait "$_wp"
    _w=$(grep '^WRK ' "$ZH_TMP/s4l_$_s.wrk") || zh_fail "no WRK line: $(tail -5 "$ZH_TMP/s4l_$_s.wrk")"
    kv "$_s" s4_loaded "$(field "$_w" items)"
    kv "$_s" s4_load_s "$(awk -v d="$((_t1 - _t0))" 'BEGIN { printf "%.1f", d / 1000 }')"
    _w=$(BENCH_MODE=far BENCH_TARGET="$RCV/s4/$_s" wrk_run "$ZH_TMP/s4f_$_s.wrk" -t2 -c64 -d5s)
    _full=$(wrk_rate "$_w")
    _pend=$(pending "$_s")
    kv "$_s" s4_pending "$_pend"
    kv "$_s" s4_accept_full_per_s "$_full"
    kv "$_s" s4_accept_full_pct "$(awk -v a="$_full" -v b="$_empty" 'BEGIN { printf "%.0f", a * 100 / b }')"
    _sp=$(store_pid "$_s")
    kv "$_s" s4_store_rss_anon_mb "$(awk -v k="$(rss_anon_kb "$_sp")" 'BEGIN { printf "%.1f", k / 1024 }')"
    _all=0
    for _p in $("$_s"_pids); do _all=$((_all + $(rss_anon_kb "$_p"))); done
    kv "$_s" s4_all_rss_anon_mb "$(awk -v k="$_all" 'BEGIN { printf "%.1f", k / 1024 }')"
    _bytes=$(du -sb "$(store_dir "$_s")" | awk '{ print $1 }')
    kv "$_s" s4_disk_bytes_per_msg "$(awk -v b="$_bytes" -v n="$_pend" 'BEGIN { printf "%.0f", b / n }')"
    # crash and restart the store: SIGKILL, start, time to ready
    if [ "$_s" = zhook ]; then
        zh_kill scheduler
        _t0=$(zh_now_ms)
        zh_start_scheduler
        zh_wait_until 120000 "[ \"\$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' '$ZH_SCH_OPS/ready')\" = 200 ]" ||
            zh_fail "scheduler not ready 120 s after restart"
    else
        zh_kill redis
        _t0=$(zh_now_ms)
        redis_start
        zh_wait_until 300000 redis_ready || zh_fail "redis not ready 300 s after restart"
    fi
    _t1=$(zh_now_ms)
    kv "$_s" s4_restart_ms "$((_t1 - _t0))"
    # and until the API in front answers ready again (zhook: the ingress has
    # heard the scheduler's heartbeat; peer: ioredis reconnected)
    zh_wait_until 300000 "[ \"\$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' '$SYS_API/ready')\" = 200 ]" ||
        zh_fail "$_s: API not ready after the restart"
    kv "$_s" s4_restart_api_ms "$(($(zh_now_ms) - _t0))"
    kv "$_s" s4_pending_after_restart "$(pending "$_s")"
    sys_stop "$_s"
}

# --- scenario 5 ----------------------------------------------------------------

scenario5 () {
    _s=$1
    _path=/s5/$_s/
    sys_start "$_s"
    # the subscriptions, through one curl process on one connection
    : >"$ZH_TMP/subs.curl"
    _i=1
    while [ "$_i" -le "$SUBS" ]; do
        {
            [ "$_i" -gt 1 ] && echo "next"
            echo "url = \"$SYS_API/v1/subscriptions\""
            echo "header = \"Content-Type: application/json\""
            [ -n "$SYS_AUTH" ] && echo "header = \"Authorization: Bearer $SYS_AUTH\""
            echo "data = \"{\\\"topic\\\":\\\"bench.fanout\\\",\\\"url\\\":\\\"$RCV$_path$_i\\\"}\""
            echo "output = /dev/null"
            echo "write-out = \"%{http_code}\\n\""
        } >>"$ZH_TMP/subs.curl"
        _i=$((_i + 1))
    done
    _t0=$(zh_now_ms)
    _ok=$(curl -s --max-time 120 -K "$ZH_TMP/subs.curl" | grep -c '^201$')
    kv "$_s" s5_subscriptions "$_ok"
    kv "$_s" s5_subscribe_ms "$(($(zh_now_ms) - _t0))"
    _k=1
    : >"$ZH_TMP/s5_$_s.txt"
    while [ "$_k" -le "$EVENTS" ]; do
        _t0=$(zh_now_ms)
        _code=$(curl -s -o "$ZH_TMP/s5_event.json" -w '%{http_code}' --max-time 30 \
            -H 'Content-Type: application/json' ${SYS_AUTH:+-H "Authorization: Bearer $SYS_AUTH"} \
            --data-binary "{\"topic\":\"bench.fanout\",\"payload\":{\"type\":\"price.changed\",\"n\":$_k}}" \
            "$SYS_API/v1/events")
        _t1=$(zh_now_ms)
        [ "$_code" = 202 ] || zh_fail "$_s: POST /v1/events answered $_code: $(cat "$ZH_TMP/s5_event.json")"
        wait_arrivals "$_path" "$((_k * _ok))" 120000 ||
            zh_log "$_s: event $_k: only $(arrivals $_path) of $((_k * _ok)) delivered"
        _t2=$(last_arrival_ms $_path)
        echo "$((_t1 - _t0)) $((_t2 - _t0))" >>"$ZH_TMP/s5_$_s.txt"
        _k=$((_k + 1))
    done
    # medians over the events
    kv "$_s" s5_publish_ms "$(median 1 "$ZH_TMP/s5_$_s.txt")"
    kv "$_s" s5_all_delivered_ms "$(median 2 "$ZH_TMP/s5_$_s.txt")"
    kv "$_s" s5_delivered "$(arrivals $_path)"
    kv "$_s" s5_duplicates "$(dups $_path)"
    sys_stop "$_s"
}

# --- run -------------------------------------------------------------------------

zh_log "machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
    "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
for sc in $SCENARIOS; do
    for s in $SYSTEMS; do
        zh_log "scenario $sc: $s"
        "scenario$sc" "$s"
    done
done

# --- the table -------------------------------------------------------------------

# rows: key|label|better (hi, lo, or - for conditions of the run)|ratio target (zhook's gain the issue
# asks for, - for none)|absolute target for zhook (<=N or >=N, - for none)
table () {
    cat <<'ROWS'
s1_accepted_per_s|1 accepted/s (202, durable for zhook)|hi|2|-
s1_p50_ms|1 acceptance latency p50 (ms)|lo|-|-
s1_p99_ms|1 acceptance latency p99 (ms)|lo|-|-
s1_deliveries_per_s|1 deliveries/s|hi|2|-
s1_drain_ms|1 drain after load (ms)|lo|-|-
s1_e2e_p50_ms|1 accept-to-arrival p50 (ms)|lo|-|-
s1_e2e_p99_ms|1 accept-to-arrival p99 (ms)|lo|-|-
s1_duplicates|1 duplicate deliveries|lo|-|-
s1_idle_pct|1 machine idle during the load (%)|-|-|-
s1_steal_pct|1 machine stolen by the hypervisor (%)|-|-|-
s2_cpu_us_per_msg|2 CPU per delivered message (us)|lo|2|-
s3_sent_per_s|3 offered rate (msg/s)|hi|-|-
s3_late_p50_ms|3 lateness p50 (ms)|lo|-|-
s3_late_p99_ms|3 lateness p99 (ms)|lo|-|<=5
s3_late_max_ms|3 lateness max (ms)|lo|-|<=20
s3_late_min_ms|3 lateness min (ms; < 0 is early)|hi|-|-
s3_late_10ms|3 messages > 10 ms late at the receiver|-|-|-
s3_sch_late_10ms|3 ... > 10 ms late when dispatched|-|-|-
s3_sch_commits|3 scheduler synced commits meanwhile|-|-|-
s3_sch_commit_10ms|3 ... of them taking > 10 ms|-|-|-
s3_steal_pct|3 machine stolen by the hypervisor (%)|-|-|-
s4_load_s|4 load time of the backlog (s)|lo|-|-
s4_pending|4 pending messages|hi|-|-
s4_accept_empty_per_s|4 accepted/s, empty store|hi|-|-
s4_accept_full_per_s|4 accepted/s, full store|hi|-|-
s4_accept_full_pct|4 full vs empty (%)|hi|-|>=80
s4_store_rss_anon_mb|4 store process RssAnon (MB)|lo|-|<=64
s4_all_rss_anon_mb|4 all processes RssAnon (MB)|lo|-|-
s4_disk_bytes_per_msg|4 disk bytes per pending message|lo|-|-
s4_restart_ms|4 SIGKILL restart of the store to ready (ms)|lo|-|<=1000
s4_restart_api_ms|4 ... until the API is ready again (ms)|lo|-|-
s4_pending_after_restart|4 pending after restart|hi|-|-
s5_subscribe_ms|5 create the subscriptions (ms)|lo|-|-
s5_publish_ms|5 publish to 202, median (ms)|lo|-|-
s5_all_delivered_ms|5 publish to last delivery, median (ms)|lo|-|-
s5_delivered|5 deliveries|hi|-|-
s5_duplicates|5 duplicate deliveries|lo|-|-
ROWS
}

{
    echo
    printf '| %-44s | %12s | %12s | %10s | %14s |\n' measure zhook "BullMQ peer" "zhook gain" "zhook target"
    printf '|%s|%s|%s|%s|%s|\n' "----------------------------------------------" "-------------:" \
        "-------------:" "-----------:" "---------------:"
    table | while IFS='|' read -r key label better target absolute; do
        z=$(kv_get zhook "$key")
        p=$(kv_get peer "$key")
        [ -z "$z$p" ] && continue
        gain=$(awk -v z="$z" -v p="$p" -v b="$better" -v t="$target" 'BEGIN {
            if (b == "-" || z == "" || p == "" || z + 0 <= 0 || p + 0 <= 0) { print "-"; exit }
            r = (b == "hi") ? z / p : p / z
            s = sprintf("%.2fx", r)
            if (t != "-") s = s (r >= t ? " ok" : " MISS")
            print s }')
        mark=$(awk -v z="$z" -v a="$absolute" 'BEGIN {
            if (a == "-" || z == "") { print "-"; exit }
            op = substr(a, 1, 2); v = substr(a, 3) + 0
            ok = (op == "<=") ? (z + 0 <= v) : (z + 0 >= v)
            print a (ok ? " ok" : " MISS") }')
        printf '| %-44s | %12s | %12s | %10s | %14s |\n' "$label" "${z:--}" "${p:--}" "$gain" "$mark"
    done
    echo
    echo "zhook gain: how many times better zhook is (higher-is-better rows: zhook/peer;"
    echo "lower-is-better rows: peer/zhook), ok/MISS against issue 8's ratio targets;"
    echo "zhook target: issue 8's absolute targets for zhook."
} | tee "$OUT"
zh_log "table written to $OUT"
