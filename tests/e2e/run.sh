#!/bin/sh
# run.sh — runs every tests/e2e/t_*.sh in order, each under a time limit.
#
#     ZH_BIN=bin sh tests/e2e/run.sh [NAME...]     (NAME: t_basic or basic)
#
# Prints each test's output, then PASS/FAIL with its duration, and at the end
# exactly "N passed, N failed"; exits non-zero when any test failed.
# ZH_TEST_TIMEOUT (seconds, default 150) bounds each test, multiplied by 3
# for the sanitizer build (ZH_SANITIZE=1 or ZH_BIN ending in /san).
dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dir/../.." && pwd)
ZH_BIN=${ZH_BIN:-$root/bin}
case "$ZH_BIN" in
    /*) ;;
    *) ZH_BIN=$(cd "$ZH_BIN" && pwd) ;;
esac
export ZH_BIN
case "$ZH_BIN" in
    */san | */san/) ZH_SANITIZE=${ZH_SANITIZE:-1} ;;
esac
scale=1
[ "${ZH_SANITIZE:-0}" = 1 ] && scale=3
export ZH_SANITIZE
limit=$((${ZH_TEST_TIMEOUT:-150} * scale))

tests=""
if [ $# -gt 0 ]; then
    for name in "$@"; do
        name=${name#t_}
        name=${name%.sh}
        [ -f "$dir/t_$name.sh" ] || { echo "run.sh: no test t_$name.sh" >&2; exit 2; }
        tests="$tests $dir/t_$name.sh"
    done
else
    tests=$(ls "$dir"/t_*.sh 2>/dev/null | sort)
fi

passed=0
failed=0
failed_names=""
out=$(mktemp "${TMPDIR:-/tmp}/zh-e2e-run.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT
suite_t0=$(date +%s)
for t in $tests; do
    name=$(basename "$t" .sh)
    t0=$(date +%s%3N)
    timeout -k 10 "$limit" sh "$t" >"$out" 2>&1
    rc=$?
    t1=$(date +%s%3N)
    cat "$out"
    secs=$(((t1 - t0) / 1000)).$(printf '%01d' $((((t1 - t0) % 1000) / 100)))
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        echo "PASS $name (${secs}s)"
    else
        failed=$((failed + 1))
        failed_names="$failed_names $name"
        [ "$rc" = 124 ] && echo "$name: killed after the ${limit}s limit"
        echo "FAIL $name (${secs}s, exit $rc)"
    fi
done
echo "e2e: $(($(date +%s) - suite_t0)) s${failed_names:+, failed:$failed_names}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
