#!/bin/sh
# profile.sh — where zhook's CPU goes under scenario 1 of bench/run.sh.
#
#     make && make tools && sh bench/profile.sh            # 15 s of load
#     PROFILE_SECONDS=10 PROFILE_TOP=40 sh bench/profile.sh
#     PROFILE_STAGE=ingress ZH_KEEP=1 sh bench/profile.sh   # one stage, DWARF call graphs
#
# Starts zhook exactly as bench/run.sh does (auth on, CURVE on, two
# deliverers of ZHOOK_CONCURRENCY=32, logs at warn) with the same nginx
# receiver, runs the same wrk load (-t2 -c64, immediate messages) and records
# `perf record -a -g` (software cpu-clock event: it works in VMs without a
# PMU) over the load. Prints accepted/s and delivered messages, the CPU of
# each process from /proc (µs per delivered message), the share of the
# machine per command and per shared object, and the hottest symbols of each
# zhook stage. The perf data file stays in the temp dir when ZH_KEEP=1.
# Everything listens on 127.0.0.1 on free ports and is stopped by PID.
ZH_ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZH_BIN=${ZH_BIN:-$ZH_ROOT/bin}
ZH_KEEP=${ZH_KEEP:-0}
. "$ZH_ROOT/tests/e2e/lib.sh"
. "$ZH_ROOT/bench/lib.sh"
ZH_TEST=profile

SECS=${PROFILE_SECONDS:-15}
TOP=${PROFILE_TOP:-25}
LUA=$ZH_ROOT/bench/wrk/zh.lua
TICK=$(getconf CLK_TCK)
for t in wrk perf /usr/sbin/nginx; do
    command -v "$t" >/dev/null 2>&1 ||
        { echo "profile: needs $t (apt-get install -y wrk linux-perf nginx-light)" >&2; exit 1; }
done
[ -x "$ZH_BIN/zhook-scheduler" ] || { echo "profile: build first: make && make tools" >&2; exit 1; }

zh_setup
set -- $(zh_free_ports 1)
RCV_PORT=$1
API_KEY="zhk_profile_$(date +%s%N)"
zh_api_keys "$ZH_TMP/api_keys.txt" "bench=$API_KEY"

bench_receiver "$RCV_PORT"

# the same settings as bench/run.sh's zhook_start (two deliverers of 32 here)
bench_zhook_env "$ZH_TMP/api_keys.txt" 32
ZH_ING_ENV="$ZH_ING_ENV ${PROFILE_ING_ENV:-}"
zh_start_pipeline a b

pids="$(zh_pid scheduler) $(zh_pid deliverer_a) $(zh_pid deliverer_b) $(zh_pid ingress)"
SCH_FAMILIES="zhook_scheduler_commits_total zhook_scheduler_accepted_total \
zhook_scheduler_dispatched_total zhook_scheduler_delivered_total"
sch_metrics () {
    for f in $SCH_FAMILIES; do printf '%s ' "$(zh_metric "$ZH_SCH_OPS" "$f")"; done
}
m0=$(sch_metrics)
before=""
for p in $pids; do before="$before $(zh_cpu_ticks "$p")"; done

# PROFILE_STAGE=ingress|scheduler|deliverer_a: that process only, with DWARF
# call graphs (callers through libraries built without frame pointers)
if [ -n "${PROFILE_STAGE:-}" ]; then
    set -- -p "$(zh_pid "$PROFILE_STAGE")" --call-graph dwarf,16384 -F 199
else
    set -- -a -g -F 499
fi
# the hypervisor's share (steal) and idle of the machine during the load
st0=$(stat_cpu)
perf record -e cpu-clock "$@" -o "$ZH_TMP/perf.data" -- sleep "$SECS" >"$ZH_TMP/perf.log" 2>&1 &
perf_pid=$!
zh_register perf $perf_pid
BENCH_AUTH=$API_KEY BENCH_MODE=now BENCH_TARGET="$RCV/p" timeout $((SECS + 60)) \
    wrk --timeout 10s -s "$LUA" -t2 -c64 -d"${SECS}s" "$ZH_API" >"$ZH_TMP/wrk.txt" 2>&1
wait $perf_pid
st1=$(stat_cpu)
w=$(grep '^WRK ' "$ZH_TMP/wrk.txt") || zh_fail "wrk: $(tail -5 "$ZH_TMP/wrk.txt")"
n=$(printf '%s\n' "$w" | tr ' ' '\n' | awk -F= '$1 == "items" { print $2 }')
d=$(printf '%s\n' "$w" | tr ' ' '\n' | awk -F= '$1 == "duration_ms" { print $2 }')
arrived () { grep -c ' /p$' "$ZH_TMP/rcv/arrivals.log"; }
zh_wait_until 120000 "[ \$(arrived) -ge $n ]" || zh_log "not all $n delivered"
got=$(arrived)
m1=$(sch_metrics)

echo
echo "$w"
awk -v n="$n" -v d="$d" -v g="$got" 'BEGIN { printf "accepted/s %.0f, delivered %d\n", n * 1000 / d, g }'
echo "machine during the load: $(machine_share "$st0" "$st1" 2)% idle, $(machine_share "$st0" "$st1" 3)% stolen by the hypervisor"
echo "CPU per delivered message (µs, /proc, load and drain):"
i=1
for p in $pids; do
    b=$(echo "$before" | awk -v i="$i" '{ print $i }')
    a=$(zh_cpu_ticks "$p")
    printf '  %-16s %6.1f\n' "$(tr -d '\0' <"/proc/$p/comm")" \
        "$(awk -v a="$a" -v b="$b" -v t="$TICK" -v n="$got" 'BEGIN { print (a - b) / t * 1e6 / n }')"
    i=$((i + 1))
done
echo "scheduler counters over the run (per delivered message):"
i=1
for f in $SCH_FAMILIES; do
    a=$(echo "$m0" | awk -v i="$i" '{ print $i }')
    b=$(echo "$m1" | awk -v i="$i" '{ print $i }')
    printf '  %-34s %8d  %.3f\n' "$f" "$((b - a))" "$(awk -v d="$((b - a))" -v n="$got" 'BEGIN { print d / n }')"
    i=$((i + 1))
done
echo
echo "share of the machine by command (perf, during the load):"
perf report -i "$ZH_TMP/perf.data" --stdio --no-children --sort comm 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -15
echo
echo "by command and shared object:"
perf report -i "$ZH_TMP/perf.data" --stdio --no-children --sort comm,dso 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -"$TOP"
for p in $pids; do
    echo
    echo "hottest symbols of $(tr -d '\0' <"/proc/$p/comm") (pid $p, all its threads, share of the machine):"
    perf report -i "$ZH_TMP/perf.data" --stdio --no-children --pid "$p" --sort comm,dso,sym 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -"$TOP"
done
zh_pass "profile done"
