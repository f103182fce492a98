#!/bin/sh
# t_backup.sh — hot backup and restore. While four clients submit messages
# with delays spread over 0..5 s, GET /admin/backup on the scheduler's ops
# port streams a compacted copy of the store; mdb_stat opens it. Then the
# pipeline is killed, the copy restored into a fresh data directory
# (data.mdb only, no lock.mdb) and a scheduler with a deliverer started on
# it: every message accepted before the backup and not yet received when it
# was taken is delivered by the restored pipeline. Also: no token 401, a
# wrong token 401, a scheduler without ZHOOK_ADMIN_TOKEN answers 404.
. "$(dirname "$0")/lib.sh"

N=${ZH_BACKUP_COUNT:-900}
TOKEN=backup-token-3f9c1a
zh_setup
[ -x "$ZH_BIN/zh_load" ] || zh_fail "$ZH_BIN/zh_load not built"
command -v mdb_stat >/dev/null || zh_fail "mdb_stat not installed (lmdb-utils)"
zh_start_receiver
ZH_SCH_ENV="ZHOOK_ADMIN_TOKEN=$TOKEN"
zh_start_pipeline a

# auth first
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ZH_SCH_OPS/admin/backup")
zh_assert_eq "$CODE" 401 "backup without a token"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer wrong" \
    "$ZH_SCH_OPS/admin/backup")
zh_assert_eq "$CODE" 401 "backup with a wrong token"
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
    -H "Authorization: Bearer $TOKEN" "$ZH_SCH_OPS/admin/backup")
zh_assert_eq "$CODE" 405 "POST /admin/backup"
zh_pass "backup refused without the right token (401) and for POST (405)"

ACC=$ZH_TMP/accepted.txt
: >"$ACC"
"$ZH_BIN/zh_load" "$ZH_API" "$ZH_RCV/backup" 4 "$N" "$ACC" --mixed-delays 5000 \
    --rate $((300 / ZH_SCALE)) --deadline-ms $((60000 * ZH_SCALE)) --key-prefix bk \
    >"$ZH_TMP/load.out" 2>"$ZH_TMP/load.err" &
zh_register load $!

# under load: a third of the messages in, the clients still sending
zh_wait_until 20000 "[ \$(wc -l <'$ACC') -ge $((N / 3)) ]" || zh_fail "load did not get going"
cut -d' ' -f1 "$ACC" | sort -u >"$ZH_TMP/pre.ids"
BK=$ZH_TMP/backup.mdb
CODE=$(curl -s -o "$BK" -w '%{http_code}' --max-time $((30 * ZH_SCALE)) \
    -H "Authorization: Bearer $TOKEN" "$ZH_SCH_OPS/admin/backup")
zh_assert_eq "$CODE" 200 "GET /admin/backup"
zh_rcv_ids | sort -u >"$ZH_TMP/rcv_at_backup.ids"
LOAD_STILL=$(wc -l <"$ACC")
zh_log "backup: $(wc -c <"$BK") bytes; accepted before it $(wc -l <"$ZH_TMP/pre.ids"), by its end $LOAD_STILL of $N"
zh_assert_ge "$(wc -c <"$BK")" 4096 "backup size"
mdb_stat -n -e "$BK" >"$ZH_TMP/mdb_stat.out" 2>&1 || zh_fail "mdb_stat cannot open the backup: $(cat "$ZH_TMP/mdb_stat.out")"
mdb_stat -n -a "$BK" >>"$ZH_TMP/mdb_stat.out" 2>&1 || zh_fail "mdb_stat -a on the backup: $(tail -3 "$ZH_TMP/mdb_stat.out")"
grep -q "Status of messages" "$ZH_TMP/mdb_stat.out" || zh_fail "no messages database in the backup"
zh_assert_ge "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_backups_total)" 1 "zhook_scheduler_backups_total"
zh_pass "backup taken under load ($(wc -c <"$BK") bytes) opens with mdb_stat"

# what must survive: accepted before the backup, not received when it was done
comm -23 "$ZH_TMP/pre.ids" "$ZH_TMP/rcv_at_backup.ids" >"$ZH_TMP/pending.ids"
PENDING=$(wc -l <"$ZH_TMP/pending.ids")
zh_assert_ge "$PENDING" 50 "messages pending at backup time"

# the disaster: everything gone but the backup
zh_kill load
zh_kill ingress
zh_kill deliverer_a
zh_kill scheduler
RCV_LINES=$(wc -l <"$ZH_RCV_LOG")

# restore (README "Backup and restore"): stopped scheduler, data.mdb replaced,
# no lock.mdb, start
RESTORED=$ZH_TMP/restored
mkdir -p "$RESTORED"
cp "$BK" "$RESTORED/data.mdb"
rm -f "$RESTORED/lock.mdb"
ZH_SCH_ENV="ZHOOK_DATA_DIR=$RESTORED"
zh_start_scheduler
zh_start_deliverer a
zh_wait_scheduler
zh_wait_deliverer a
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" \
    "$ZH_SCH_OPS/admin/backup")
zh_assert_eq "$CODE" 404 "backup on a scheduler without ZHOOK_ADMIN_TOKEN"

missing () {
    tail -n +"$((RCV_LINES + 1))" "$ZH_RCV_LOG" |
        sed -n 's/.*"webhook_id":"\([^"]*\)".*/\1/p' | sort -u >"$ZH_TMP/after.ids"
    comm -23 "$ZH_TMP/pending.ids" "$ZH_TMP/after.ids" | wc -l
}
zh_wait_until 20000 "[ \$(missing) -eq 0 ]" ||
    zh_fail "$(missing) of $PENDING pending messages not delivered after the restore (e.g. $(comm -23 "$ZH_TMP/pending.ids" "$ZH_TMP/after.ids" | head -3 | tr '\n' ' '))"
zh_pass "restored scheduler delivered all $PENDING messages pending at backup time"
