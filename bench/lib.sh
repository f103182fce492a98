# lib.sh — what bench/run.sh and bench/profile.sh share, sourced after
# tests/e2e/lib.sh and zh_setup: the nginx receiver and zhook as benchmarked.

# bench_receiver PORT: nginx-light answering 204 on 127.0.0.1:PORT and
# logging every delivery (bench/receiver/nginx.conf.in); sets RCV (its base
# URL) and RCV_LOG (the arrivals log).
bench_receiver () {
    RCV=http://127.0.0.1:$1
    RCV_LOG=$ZH_TMP/rcv/arrivals.log
    mkdir -p "$ZH_TMP/rcv"
    sed -e "s#@DIR@#$ZH_TMP/rcv#g" -e "s#@PORT@#$1#g" \
        "$ZH_ROOT/bench/receiver/nginx.conf.in" >"$ZH_TMP/rcv/nginx.conf"
    /usr/sbin/nginx -p "$ZH_TMP/rcv" -c "$ZH_TMP/rcv/nginx.conf" -e "$ZH_TMP/rcv/nginx.error.log" \
        >>"$ZH_TMP/nginx.log" 2>&1 &
    zh_register receiver $!
    zh_wait_http "$RCV/ping" 204 5000 ||
        zh_fail "nginx receiver did not start: $(cat "$ZH_TMP/rcv/nginx.error.log")"
}

# bench_zhook_env KEYS-FILE CONCURRENCY: zhook's settings in the benchmark,
# as in production (auth on, CURVE on, default retry policy, logs at warn),
# for tests/e2e/lib.sh's start functions; CONCURRENCY attempts per deliverer.
# BENCH_DLV_ENV adds deliverer settings (BENCH_DLV_ENV=ZHOOK_PREFETCH=0),
# BENCH_SCH_ENV scheduler settings (BENCH_SCH_ENV=ZHOOK_DISPATCH_LEAD_MS=0).
bench_zhook_env () {
    ZH_SCH_ENV="ZHOOK_LOG_LEVEL=warn ZHOOK_HEARTBEAT_MS=1000 ZHOOK_MAX_ATTEMPTS=8 \
ZHOOK_TIMEOUT_MS=10000 ZHOOK_RETRY_BASE_MS=1000 ZHOOK_RETRY_MAX_MS=3600000 \
ZHOOK_LEASE_MARGIN_MS=5000 ZHOOK_DELIVERER_TIMEOUT_MS=3000 ${BENCH_SCH_ENV:-}"
    ZH_DLV_ENV="ZHOOK_LOG_LEVEL=warn ZHOOK_CONCURRENCY=$2 ZHOOK_HOST_CONCURRENCY=$2 \
ZHOOK_ALLOW_PRIVATE_TARGETS=1 ${BENCH_DLV_ENV:-}"
    ZH_ING_ENV="ZHOOK_LOG_LEVEL=warn ZHOOK_AUTH=on ZHOOK_API_KEYS_FILE=$1 \
ZHOOK_HTTP_THREADS=80 ZHOOK_REQUEST_TIMEOUT_MS=5000"
}

# stat_cpu: total, idle and steal jiffies of the machine (/proc/stat)
stat_cpu () {
    awk '$1 == "cpu" { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5, $9 }' /proc/stat
}

# machine_share BEFORE AFTER COLUMN: idle (2) or stolen (3) share of the
# machine between two stat_cpu readings, in percent. Steal is the time the
# hypervisor gave this VM's vCPUs to others: a run with much of it measured a
# slower machine, and two runs compare only when it is low in both.
machine_share () {
    echo "$1 $2" | awk -v c="$3" '{ t = $4 - $1; v = (t > 0) ? ($(c + 3) - $c) * 100 / t : 0; printf "%.1f", v }'
}
