#!/bin/sh
# t_reader.sh — a crashed reader does not pin the store. A helper process
# (zh_lmdb_reader) opens the scheduler's environment, begins a read
# transaction and is SIGKILLed holding it: its slot stays in the reader
# table and, until cleared, every page freed after its snapshot is kept.
# The scheduler keeps writing (zh_load submits, the deliverer delivers, the
# purge removes them: ZHOOK_RETENTION_HOURS=0). Rounds of the same load
# compare how much data.mdb grows:
#   A   no stale reader (baseline)
#   B1  stale reader, ZHOOK_READER_CHECK_MS=200: the slot is cleared
#       (mdb_stat -r before/after, zhook_scheduler_stale_readers_cleared_total,
#       log line); the file grows by what was written while it was pinned
#   B2  the same load again: the file grows no more than in A (bounded)
#   C   stale reader, check period a day (control): the file grows by far
#       more than in B2.
#   D   a reader dies while the scheduler is stopped; restarted with a check
#       period of a day, the scheduler's start-up mdb_reader_check clears it.
. "$(dirname "$0")/lib.sh"

N=${ZH_READER_COUNT:-1500}
zh_setup
[ -x "$ZH_BIN/zh_lmdb_reader" ] || zh_fail "$ZH_BIN/zh_lmdb_reader not built"
command -v mdb_stat >/dev/null || zh_fail "mdb_stat not installed (lmdb-utils)"
zh_start_receiver
BASE_ENV="ZHOOK_RETENTION_HOURS=0 ZHOOK_PURGE_INTERVAL_MS=200"
ZH_SCH_ENV="$BASE_ENV ZHOOK_READER_CHECK_MS=200"
zh_start_pipeline a

size () {
    stat -c %s "$ZH_DATA/data.mdb"
}

# round NAME: N messages submitted, delivered and purged; prints the growth
round () {
    _r_before=$(size)
    _r_purged0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_purged_total)
    : >"$ZH_TMP/acc_$1.txt"
    "$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/$1" 4 "$N" "$ZH_TMP/acc_$1.txt" \
        --rate $((600 / ZH_SCALE)) --deadline-ms $((60000 * ZH_SCALE)) --key-prefix "$1" \
        >"$ZH_TMP/load_$1.out" 2>&1 || zh_fail "round $1: load failed: $(cat "$ZH_TMP/load_$1.out")"
    zh_wait_until 30000 "[ \$(zh_metric '$ZH_SCH_OPS' zhook_scheduler_purged_total) -ge $((_r_purged0 + N)) ]" ||
        zh_fail "round $1: messages not delivered and purged"
    echo $(($(size) - _r_before))
}

# start_stale: a reader that dies holding its read txn; prints its pid
start_stale () {
    rm -f "$ZH_TMP/reader.out"
    "$ZH_BIN/zh_lmdb_reader" "$ZH_DATA" >"$ZH_TMP/reader.out" 2>&1 &
    _s_pid=$!
    zh_wait_until 5000 "grep -q ready '$ZH_TMP/reader.out'" || zh_fail "zh_lmdb_reader: $(cat "$ZH_TMP/reader.out")"
    kill -KILL $_s_pid
    wait $_s_pid 2>/dev/null
    echo $_s_pid
}

readers_has () {
    mdb_stat -r "$ZH_DATA" 2>/dev/null | awk -v p="$1" '$1 == p { f = 1 } END { exit !f }'
}

GA=$(round a) || exit 1
zh_log "round A (no stale reader): data.mdb grew $GA bytes"

CLEARED0=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_readers_cleared_total)
PID=$(start_stale) || exit 1
mdb_stat -r "$ZH_DATA" >"$ZH_TMP/readers_before.txt" 2>&1
readers_has "$PID" || zh_fail "the killed reader $PID is not in the reader table: $(cat "$ZH_TMP/readers_before.txt")"
GB1=$(round b1) || exit 1
mdb_stat -r "$ZH_DATA" >"$ZH_TMP/readers_after.txt" 2>&1
! readers_has "$PID" || zh_fail "stale reader $PID still in the table: $(cat "$ZH_TMP/readers_after.txt")"
zh_assert_ge "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_readers_cleared_total)" $((CLEARED0 + 1)) \
    "zhook_scheduler_stale_readers_cleared_total"
grep -q "cleared stale LMDB readers" "$ZH_TMP/scheduler.log" || zh_fail "no log line for the cleared reader"
zh_log "round B1 (stale reader, cleared within 200 ms): data.mdb grew $GB1 bytes"
GB=$(round b2) || exit 1
zh_log "round B2 (after the clear): data.mdb grew $GB bytes"
zh_assert_le "$GB" "$((GA + 262144))" "growth after the stale reader was cleared vs baseline"
zh_pass "stale reader slot $PID cleared (mdb_stat -r before/after, metric, log); then growth $GB <= baseline $GA + 256 KiB"

# control: the same stale reader, never cleared while the load runs
zh_stop scheduler 5000
ZH_SCH_ENV="$BASE_ENV ZHOOK_READER_CHECK_MS=86400000"
zh_start_scheduler
zh_wait_scheduler
zh_wait_http "$ZH_API/ready" 200 10000 || zh_fail "ingress not ready after the restart"
PID=$(start_stale) || exit 1
GC=$(round c) || exit 1
readers_has "$PID" || zh_fail "control: reader $PID unexpectedly cleared"
zh_log "round C (stale reader, not cleared): data.mdb grew $GC bytes"
[ "$GC" -gt "$((GB + 262144))" ] || zh_fail "control: a pinned snapshot did not make the file grow ($GC vs $GB): the test shows nothing"
zh_pass "control: an uncleared stale reader grows the file by $GC bytes, the cleared one by $GB"

# --- D: mdb_reader_check at start ---------------------------------------------
# A reader dies while the scheduler is stopped; the scheduler restarts with a
# check period of a day, so only its start-up check can clear the slot. LMDB
# itself wipes the reader table when a process opens the environment while no
# other process has it open (it takes the lock file exclusively): a keeper
# (a live zh_lmdb_reader) holds the environment open from before the crash to
# after the restart, so the slot survives until mdb_reader_check removes it,
# and mdb_stat never runs alone on the environment either. The keeper is alive:
# its slot must stay.
zh_stop scheduler 5000
zh_assert_eq "$ZH_RC" 0 "scheduler exit code on SIGTERM"
rm -f "$ZH_TMP/keeper.out"
"$ZH_BIN/zh_lmdb_reader" "$ZH_DATA" >"$ZH_TMP/keeper.out" 2>&1 &
KEEPER=$!
zh_register keeper $KEEPER
zh_wait_until 5000 "grep -q ready '$ZH_TMP/keeper.out'" || zh_fail "keeper zh_lmdb_reader: $(cat "$ZH_TMP/keeper.out")"
PID=$(start_stale) || exit 1
mdb_stat -r "$ZH_DATA" >"$ZH_TMP/readers_stopped.txt" 2>&1
readers_has "$PID" || zh_fail "start-up case: the killed reader $PID is not in the reader table: $(cat "$ZH_TMP/readers_stopped.txt")"
readers_has "$KEEPER" || zh_fail "start-up case: the keeper $KEEPER is not in the reader table: $(cat "$ZH_TMP/readers_stopped.txt")"
ZH_SCH_ENV="$BASE_ENV ZHOOK_READER_CHECK_MS=86400000"
MARK=$(wc -l <"$ZH_TMP/scheduler.log")
zh_start_scheduler
zh_wait_scheduler
mdb_stat -r "$ZH_DATA" >"$ZH_TMP/readers_restarted.txt" 2>&1
! readers_has "$PID" || zh_fail "start-up case: stale reader $PID still in the table after the restart: $(cat "$ZH_TMP/readers_restarted.txt")"
readers_has "$KEEPER" || zh_fail "start-up case: the live keeper $KEEPER was cleared: $(cat "$ZH_TMP/readers_restarted.txt")"
tail -n +"$((MARK + 1))" "$ZH_TMP/scheduler.log" | grep '"msg":"store: cleared stale readers"' |
    grep -q '"readers":[1-9]' || zh_fail "start-up case: the restarted scheduler logged no cleared stale reader"
CLEARED_AT_START=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_stale_readers_cleared_total) ||
    zh_fail "start-up case: no zhook_scheduler_stale_readers_cleared_total"
zh_assert_ge "$CLEARED_AT_START" 1 "zhook_scheduler_stale_readers_cleared_total after the start-up check"
kill -KILL "$KEEPER"
wait "$KEEPER" 2>/dev/null
# once the ingress is ready again (a heartbeat came over its new
# connection, so the restarted scheduler's replies reach it), the first
# submission gets its 202: no retry (the ingress forgets the old
# scheduler's heartbeats when the connection drops)
zh_wait_ingress
zh_submit "{\"url\":\"$ZH_RCV/after-start-check\",\"payload\":{}}"
# (retention 0: the record is purged right after delivery, so the receiver
# is asked, not GET /v1/messages)
zh_wait_until 5000 "[ \$(zh_rcv_count $ZH_ID) -ge 1 ]" || zh_fail "message $ZH_ID not delivered after the restart"
zh_assert_eq "$(zh_rcv_path_count /after-start-check)" 1 "requests after the start-up check"
zh_pass "start-up mdb_reader_check: stale slot $PID left while the scheduler was stopped is gone after a restart with a one-day check period (live keeper $KEEPER kept); deliveries go on"
