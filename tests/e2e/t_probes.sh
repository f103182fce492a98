#!/bin/sh
# t_probes.sh — the readiness probes with the DEFAULT timing (issue 6, SPEC
# §3): heartbeats every ZH_DEF_HEARTBEAT_MS and the ingress's default
# ZHOOK_READY_TIMEOUT_MS (ZH_DEF_READY_HB_MS), both read from
# common/zh_defaults.h, not lib.sh's short 200 ms test heartbeat.
#  - running: scheduler, deliverer and ingress /ready are 200;
#  - scheduler silent (SIGSTOP: its connections stay up, its heartbeats
#    stop): the ingress /ready stays 200 while a heartbeat was seen within
#    the timeout and turns 503 no later than timeout + one heartbeat
#    interval after the stop (the last heartbeat is at most one interval
#    old); SIGCONT makes it ready again;
#  - scheduler SIGKILLed: its connections drop, and the ingress is not
#    ready at once (a heartbeat must arrive over the new connection before
#    it is, so no reply of a restarted scheduler is lost); a submission then
#    gets a fast 503 with Retry-After; the deliverer's /ready ("ready when
#    connected", which deliverer/dlv_server.c derives from the socket
#    monitors of its dispatch and results connections) turns 503 once its
#    connections drop;
#  - scheduler restarted: all three /ready are 200 again and a message
#    submitted afterwards is delivered.
. "$(dirname "$0")/lib.sh"

DEFAULTS=$ZH_ROOT/common/zh_defaults.h
def () { sed -n "s/^#define $1 \([0-9][0-9]*\).*/\1/p" "$DEFAULTS"; }
HB=$(def ZH_DEF_HEARTBEAT_MS)
READY_MS=$(def ZH_DEF_READY_HB_MS)
DLV_TIMEOUT=$(def ZH_DEF_DELIVERER_TIMEOUT_MS)
zh_setup
zh_assert_match "$HB" '^[0-9]+$' "ZH_DEF_HEARTBEAT_MS in common/zh_defaults.h"
zh_assert_match "$READY_MS" '^[0-9]+$' "ZH_DEF_READY_HB_MS in common/zh_defaults.h"
zh_assert_match "$DLV_TIMEOUT" '^[0-9]+$' "ZH_DEF_DELIVERER_TIMEOUT_MS in common/zh_defaults.h"
# the spec's bound: 503 within 3 s of losing the heartbeat
zh_assert_le "$READY_MS" 3000 "default ZHOOK_READY_TIMEOUT_MS (SPEC: 3 s)"
zh_log "defaults: heartbeat $HB ms, ingress ready timeout $READY_MS ms, deliverer timeout $DLV_TIMEOUT ms"

zh_start_receiver
# lib.sh's short test timings put back to the defaults (the ingress's ready
# timeout is not set by lib.sh, so it is the default already)
ZH_SCH_ENV="ZHOOK_HEARTBEAT_MS=$HB ZHOOK_DELIVERER_TIMEOUT_MS=$DLV_TIMEOUT"
ZH_DLV_ENV="ZHOOK_HEARTBEAT_MS=$HB"
zh_start_pipeline a
DLV_OPS=$(zh_dlv_ops a)

code () { curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$1"; }
zh_assert_eq "$(code "$ZH_SCH_OPS/ready")" 200 "scheduler /ready while running"
zh_assert_eq "$(code "$ZH_SCH_OPS/live")" 200 "scheduler /live while running"
zh_assert_eq "$(code "$DLV_OPS/ready")" 200 "deliverer /ready while connected"
zh_assert_eq "$(code "$ZH_API/ready")" 200 "ingress /ready with a live scheduler"
zh_submit "{\"url\":\"$ZH_RCV/before\",\"payload\":{\"k\":\"before\"}}"
zh_wait_status "$ZH_ID" delivered 5000
zh_pass "running: scheduler, deliverer and ingress /ready 200; a message delivered"

# --- the scheduler goes silent ---------------------------------------------------
# The stop falls anywhere in a heartbeat interval (nothing exposes the age
# of the last heartbeat), so the time to 503 lies between timeout - interval
# and timeout; the bounds below allow for that, plus polling and scheduling.
kill -STOP "$(zh_pid scheduler)"
T_STOP=$(zh_now_ms)
zh_wait_until $((READY_MS + HB + 2000)) "[ \"\$(code $ZH_API/ready)\" = 503 ]" ||
    { kill -CONT "$(zh_pid scheduler)"; zh_fail "ingress /ready not 503 with a silent scheduler"; }
SILENT=$(($(zh_now_ms) - T_STOP))
kill -CONT "$(zh_pid scheduler)"
zh_log "ingress /ready 503 $SILENT ms after SIGSTOP of the scheduler (bound: $READY_MS + $HB ms)"
zh_assert_ge "$SILENT" $((READY_MS - HB - 100)) "ms from the stop to ingress /ready 503 (not before the timeout)"
zh_assert_le "$SILENT" $((READY_MS + HB + 150 * ZH_SCALE)) "ms from the stop to ingress /ready 503"
zh_wait_until $((HB + 3000)) "[ \"\$(code $ZH_API/ready)\" = 200 ]" ||
    zh_fail "ingress /ready not 200 after SIGCONT of the scheduler"
zh_pass "silent scheduler: ingress /ready 503 after $SILENT ms (timeout $READY_MS, heartbeat $HB), 200 again after SIGCONT"

# --- the scheduler dies -------------------------------------------------------
zh_kill scheduler
T_KILL=$(zh_now_ms)
# poll both probes together; each one's first 503 is timed from the kill
T_ING=""
T_DLV=""
poll_down () {
    [ -n "$T_ING" ] || [ "$(code "$ZH_API/ready")" != 503 ] || T_ING=$(zh_now_ms)
    [ -n "$T_DLV" ] || [ "$(code "$DLV_OPS/ready")" != 503 ] || T_DLV=$(zh_now_ms)
    [ -n "$T_ING" ] && [ -n "$T_DLV" ]
}
zh_wait_until $((READY_MS + HB + 2000)) poll_down ||
    zh_fail "$((READY_MS + HB + 2000)) ms after the scheduler died: ingress /ready $(code "$ZH_API/ready"), deliverer /ready $(code "$DLV_OPS/ready")"
LOST=$((T_ING - T_KILL))
DLV_LOST=$((T_DLV - T_KILL))
zh_log "ingress /ready 503 $LOST ms after SIGKILL of the scheduler (bound: $HB ms)"
zh_log "deliverer /ready 503 $DLV_LOST ms after SIGKILL of the scheduler"
# the ingress sees its connection drop at once (socket monitor event)
zh_assert_le "$LOST" "$HB" "ms from the kill to ingress /ready 503"
# the deliverer sees its TCP connections drop at once (socket monitor
# events wake its loop): well within one heartbeat interval
zh_assert_le "$DLV_LOST" "$HB" "ms from the kill to deliverer /ready 503"
zh_assert_eq "$(code "$ZH_API/live")" 200 "ingress /live without a scheduler"
zh_api POST /v1/messages "{\"url\":\"$ZH_RCV/down\",\"payload\":{\"k\":\"down\"}}"
zh_assert_eq "$ZH_STATUS" 503 "POST /v1/messages while the scheduler is down"
zh_assert_match "$(zh_header Retry-After)" '^[0-9]+$' "Retry-After of the 503"
zh_assert_match "$(zh_header Content-Type)" '^application/problem\+json' "503 content type"
zh_assert_eq "$(code "$DLV_OPS/live")" 200 "deliverer /live without a scheduler"
zh_pass "scheduler killed: ingress /ready 503 after $LOST ms, POST 503 with Retry-After, deliverer /ready 503 after $DLV_LOST ms"

# --- the scheduler comes back --------------------------------------------------
T_START=$(zh_now_ms)
zh_start_scheduler
zh_wait_scheduler
zh_wait_until $((HB + 5000)) "[ \"\$(code $ZH_API/ready)\" = 200 ]" ||
    zh_fail "ingress /ready not 200 after the scheduler restarted"
ING_BACK=$(($(zh_now_ms) - T_START))
zh_wait_until $((HB + 5000)) "[ \"\$(code $DLV_OPS/ready)\" = 200 ]" ||
    zh_fail "deliverer /ready not 200 after the scheduler restarted"
DLV_BACK=$(($(zh_now_ms) - T_START))
zh_log "after the restart: ingress ready in $ING_BACK ms, deliverer ready in $DLV_BACK ms"
# the restarted scheduler greets each new subscriber with a heartbeat at
# once (XPUB), so the ingress need not wait for the next periodic one
zh_assert_le "$ING_BACK" "$HB" "ms from the restart to ingress /ready 200"
zh_assert_eq "$(code "$ZH_SCH_OPS/ready")" 200 "scheduler /ready after the restart"
zh_submit "{\"url\":\"$ZH_RCV/after\",\"payload\":{\"k\":\"after\"}}"
AFTER_ID=$ZH_ID
zh_wait_status "$AFTER_ID" delivered 10000
zh_assert_eq "$(zh_rcv_count "$AFTER_ID")" 1 "requests for the message submitted after the restart"
zh_assert_eq "$(zh_rcv_path_count /down)" 0 "requests for the refused submission"
zh_pass "scheduler restarted: ingress ready again in $ING_BACK ms, deliverer in $DLV_BACK ms, a new message delivered"
