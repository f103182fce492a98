#!/bin/sh
# t_diskfull.sh — a full filesystem (ENOSPC), not a full map. As root, the
# scheduler's data dir is a small tmpfs (ZH_DISK_KB, default 512 KiB) under a
# 64 MiB map (ZHOOK_MAP_SIZE_MB), so the disk fills long before the map.
# Three messages due now are delivered, three more are due a few seconds
# later, then 3 KB messages due in ten minutes (each with its own
# Idempotency-Key) until the scheduler refuses: the refusals are 507 (or 503)
# with Retry-After and count in zhook_scheduler_store_full_total; every 202
# reads back; the scheduler stays alive, ready and serving reads; the later
# messages are delivered while the disk is full, and the store then holds
# exactly the accepted far messages. Growing the tmpfs (remount) makes
# accepting resume: a new message is accepted and delivered, and a refused
# Idempotency-Key is accepted as new (it was never stored). A SIGTERM'd
# scheduler exits 0 and reopens the store intact.
#
# Needs root and tmpfs mounts; the test runs in a private mount namespace
# (unshare -m; ZH_UNSHARE=0 opts out) when it can, so the tmpfs goes away
# with the test's processes even if the test is SIGKILLed, and it unmounts
# the tmpfs at exit anyway (lazily while the scheduler still holds it).
# Without root, or when the mount fails, it prints a SKIP line and exits 77:
# run.sh has no skip status, so that counts as a failure, never as a pass.

# own mount namespace: nothing mounted here outlives the test's processes
# (ZH_UNSHARE=0 keeps the caller's; ZH_DISKFULL_NS marks the re-executed test)
if [ -z "${ZH_DISKFULL_NS:-}" ] && [ "${ZH_UNSHARE:-1}" != 0 ] && [ "$(id -u)" = 0 ] &&
    command -v unshare >/dev/null 2>&1 && unshare -m --propagation private true 2>/dev/null; then
    ZH_DISKFULL_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi

. "$(dirname "$0")/lib.sh"

zh_skip () {
    echo "[$ZH_TEST] SKIP: $* -- counted as a FAILURE (exit 77): run.sh has no skip status" >&2
    exit 77
}

[ "$(id -u)" = 0 ] || zh_skip "needs root to mount a tmpfs (uid $(id -u))"

zh_setup
DISK_KB=${ZH_DISK_KB:-512}
MNT=$ZH_DATA
MOUNTED=0

# Unmount before zh_teardown (which exits): lazily when the scheduler still
# holds the files, so the mount point is an empty directory for rm -rf.
t_exit () {
    _te_rc=$?
    if [ "$MOUNTED" = 1 ]; then
        umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
        if mountpoint -q "$MNT" 2>/dev/null; then
            echo "[$ZH_TEST] FAIL: cannot unmount the tmpfs at $MNT" >&2
            _te_rc=1
        fi
        MOUNTED=0
    fi
    (exit "$_te_rc")
    zh_teardown
}
trap t_exit EXIT

mount -t tmpfs -o "size=${DISK_KB}k,mode=0700" tmpfs "$MNT" 2>"$ZH_TMP/mount.err" ||
    zh_skip "mount -t tmpfs failed: $(cat "$ZH_TMP/mount.err")"
MOUNTED=1
mountpoint -q "$MNT" || zh_fail "$MNT is not a mount point after mount"
if [ -n "${ZH_DISKFULL_NS:-}" ]; then NS="a private mount namespace"; else NS="the caller's mount namespace"; fi
zh_log "data dir $MNT: tmpfs of $DISK_KB KiB in $NS"

T0=$(zh_now_ms)
zh_start_receiver
ZH_SCH_ENV="ZHOOK_MAP_SIZE_MB=64 $ZH_SCH_ENV"
zh_start_pipeline a

# delivered before the disk fills
: >"$ZH_TMP/now.ids"
for i in 1 2 3; do
    zh_submit "{\"url\":\"$ZH_RCV/now\",\"payload\":{\"i\":$i}}"
    echo "$ZH_ID" >>"$ZH_TMP/now.ids"
done
for id in $(cat "$ZH_TMP/now.ids"); do
    zh_wait_status "$id" delivered 5000
done
zh_assert_eq "$(zh_rcv_path_count /now)" 3 "deliveries of the 3 immediate messages"
zh_pass "3 immediate messages delivered on the tmpfs store"

# due a few seconds from now: to be delivered while the disk is full
LATER_MS=$(zh_scaled 5000)
: >"$ZH_TMP/later.ids"
for i in 1 2 3; do
    zh_submit "{\"url\":\"$ZH_RCV/later\",\"payload\":{\"i\":$i},\"delay_ms\":$LATER_MS}"
    echo "$ZH_ID" >>"$ZH_TMP/later.ids"
done
LATER_DUE=$(($(zh_now_ms) + LATER_MS))

PAD=$(head -c 2250 /dev/zero | base64 -w0)
: >"$ZH_TMP/far.ids"
: >"$ZH_TMP/refused.keys"
: >"$ZH_TMP/refused.codes"
REFUSED=0
AFTER=0
i=0
TF0=$(zh_now_ms)
while [ $i -lt 2000 ] && [ $REFUSED -lt 5 ]; do
    i=$((i + 1))
    zh_api POST /v1/messages \
        "{\"url\":\"$ZH_RCV/far\",\"payload\":{\"i\":$i,\"pad\":\"$PAD\"},\"delay_ms\":600000}" \
        -H "Idempotency-Key: far-$i"
    case "$ZH_STATUS" in
        202)
            [ $REFUSED -eq 0 ] || AFTER=$((AFTER + 1))
            zh_body id >>"$ZH_TMP/far.ids" ;;
        507 | 503)
            REFUSED=$((REFUSED + 1))
            [ -n "$(zh_header Retry-After)" ] || zh_fail "$ZH_STATUS without Retry-After: $(zh_resp)"
            echo "far-$i" >>"$ZH_TMP/refused.keys"
            echo "$ZH_STATUS" >>"$ZH_TMP/refused.codes"
            [ $REFUSED -eq 1 ] && FIRST_REFUSAL="$ZH_STATUS $(zh_body type)" ;;
        *) zh_fail "unexpected status $ZH_STATUS while filling the disk (#$i): $(zh_resp)" ;;
    esac
done
TF1=$(zh_now_ms)
FAR=$(wc -l <"$ZH_TMP/far.ids")
[ $REFUSED -ge 5 ] || zh_fail "the $DISK_KB KiB tmpfs never filled ($FAR accepted)"
CODES=$(sort "$ZH_TMP/refused.codes" | uniq -c | tr -s ' \n' ' ')
DF=$(df -k "$MNT" | awk 'NR == 2 { print $3 "/" $2 " KiB used" }')
zh_log "disk full after $FAR far messages in $((TF1 - TF0)) ms ($i submissions, $AFTER 202s after the first refusal); refusals:$CODES; first: $FIRST_REFUSAL; tmpfs $DF"
[ "$(zh_now_ms)" -lt "$LATER_DUE" ] ||
    zh_fail "filling took too long: the later messages came due before the disk was full"

FULL=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_store_full_total)
zh_assert_ge "$FULL" 1 "zhook_scheduler_store_full_total"
zh_assert_eq "$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_map_size_bytes)" 67108864 "zhook_scheduler_map_size_bytes"
USED=$(zh_metric "$ZH_SCH_OPS" zhook_scheduler_map_used_bytes)
zh_assert_le "$USED" $((DISK_KB * 1024)) "zhook_scheduler_map_used_bytes (the map is not what filled)"
zh_pass "submissions refused with $FIRST_REFUSAL + Retry-After on a full disk ($FAR accepted; store_full_total $FULL; map used $USED of 64 MiB)"

for p in scheduler deliverer_a ingress receiver; do
    zh_alive "$(zh_pid $p)" || zh_fail "$p died on the full disk (see $p.log)"
done
zh_assert_eq "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$ZH_SCH_OPS/ready")" 200 "scheduler /ready on a full disk"
zh_assert_eq "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$ZH_API/ready")" 200 "ingress /ready on a full disk"
# every 202 reads back: no 2xx without a commit
for id in $(cat "$ZH_TMP/far.ids"); do
    zh_api GET "/v1/messages/$id"
    [ "$ZH_STATUS" = 200 ] || zh_fail "accepted $id reads back $ZH_STATUS on a full disk"
done
zh_pass "all processes alive, scheduler and ingress ready, every one of the $FAR 202 ids reads back"

# already accepted messages keep being delivered while the disk is full
for id in $(cat "$ZH_TMP/later.ids"); do
    zh_wait_status "$id" delivered 15000
done
# The deliveries rewrote records and may have left a few pages free: a 202
# now is fine if it is stored, but the disk must fill again within a few.
j=0
while :; do
    j=$((j + 1))
    [ $j -le 50 ] || zh_fail "no refusal in 50 submissions after the deliveries"
    zh_api POST /v1/messages \
        "{\"url\":\"$ZH_RCV/far\",\"payload\":{\"j\":$j,\"pad\":\"$PAD\"},\"delay_ms\":600000}"
    case "$ZH_STATUS" in
        202) ID=$(zh_body id)
            echo "$ID" >>"$ZH_TMP/far.ids"
            zh_api GET "/v1/messages/$ID"
            [ "$ZH_STATUS" = 200 ] || zh_fail "accepted $ID reads back $ZH_STATUS on a full disk" ;;
        507 | 503)
            [ -n "$(zh_header Retry-After)" ] || zh_fail "$ZH_STATUS without Retry-After: $(zh_resp)"
            break ;;
        *) zh_fail "unexpected status $ZH_STATUS on the full disk: $(zh_resp)" ;;
    esac
done
zh_log "after the deliveries: $((j - 1)) more 202s (each read back), then $ZH_STATUS"
FAR=$(wc -l <"$ZH_TMP/far.ids")
# exact: the store holds the far 202s and nothing that was refused
zh_api GET /v1/status
zh_assert_eq "$(zh_body scheduled)" "$FAR" "scheduled messages in the store (exactly the far 202s, none refused)"
zh_assert_eq "$(zh_body retrying)" 0 "retrying messages in the store"
zh_assert_eq "$(zh_body in_flight)" 0 "messages in flight in the store"
zh_pass "the 3 later messages were delivered while the disk was full; the store holds exactly the $FAR far messages"

# room again: grow the tmpfs
mount -o "remount,size=$((DISK_KB * 8))k" "$MNT" || zh_fail "remount of the tmpfs with $((DISK_KB * 8)) KiB failed"
TR0=$(zh_now_ms)
try_accept () {
    zh_api POST /v1/messages "{\"url\":\"$ZH_RCV/resumed\",\"payload\":{\"pad\":\"$PAD\"}}"
    [ "$ZH_STATUS" = 202 ]
}
zh_wait_until 5000 try_accept || zh_fail "accepting did not resume after the tmpfs grew (last $ZH_STATUS $(zh_resp))"
TR1=$(zh_now_ms)
RID=$(zh_body id)
KEY=$(head -1 "$ZH_TMP/refused.keys")
zh_api POST /v1/messages \
    "{\"url\":\"$ZH_RCV/far\",\"payload\":{\"i\":${KEY#far-},\"pad\":\"$PAD\"},\"delay_ms\":600000}" \
    -H "Idempotency-Key: $KEY"
zh_assert_eq "$ZH_STATUS" 202 "resubmission of the refused key $KEY"
zh_assert_eq "$(zh_header Idempotent-Replayed)" "" "Idempotent-Replayed on the refused key $KEY (it was stored?)"
zh_body id >>"$ZH_TMP/far.ids"
FAR=$((FAR + 1))
zh_wait_status "$RID" delivered 5000
zh_assert_eq "$(zh_rcv_count "$RID")" 1 "deliveries of the resumed message"
zh_pass "after the remount accepting resumed in $((TR1 - TR0)) ms (202), the new message was delivered, the refused key $KEY was new"

# the store survives: clean shutdown, reopen, same contents
zh_stop scheduler 5000
zh_assert_eq "$ZH_RC" 0 "scheduler exit code on SIGTERM after the disk-full episode"
zh_start_scheduler
zh_wait_scheduler
zh_wait_ingress
zh_api GET /v1/status
zh_assert_eq "$(zh_body scheduled)" "$FAR" "scheduled messages after reopening the store"
for id in $(head -3 "$ZH_TMP/far.ids") $(tail -3 "$ZH_TMP/far.ids"); do
    zh_assert_eq "$(zh_msg_status "$id")" scheduled "status of $id after reopening"
done
zh_pass "scheduler exited 0 and reopened the store with the $FAR scheduled messages (total $(($(zh_now_ms) - T0)) ms)"
