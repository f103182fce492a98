-- zh.lua — wrk load for bench/run.sh: the same POST /v1/messages contract for
-- zhook and for the peer. The mode comes from the environment (wrk passes no
-- other configuration to every thread):
--
--   BENCH_MODE=now    immediate messages as fast as the connections allow
--   BENCH_MODE=delay  fixed rate (BENCH_RATE per second, all threads) of
--                     messages due BENCH_DELAY_MS after they are sent
--   BENCH_MODE=far    messages due an hour after they are sent, as fast as
--                     possible
--   BENCH_MODE=bulk   POST /v1/messages/batch of BENCH_BATCH such messages
--                     until BENCH_TOTAL messages were accepted
--
-- BENCH_TARGET is the receiver URL every message is sent to; each message
-- carries the header X-Due-At (unix ms of its due time), which the receiver
-- logs beside its own arrival time, so lateness = arrival - due. BENCH_AUTH,
-- when set, is sent as "Authorization: Bearer". done() prints one line,
--   WRK mode=M sent=N accepted=N other=N items=N duration_ms=N p50_ms=X p99_ms=X
-- (accepted counts 202 responses, items the messages they accepted).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } zh_timespec_t;
int clock_gettime (int clk, zh_timespec_t *ts);
]]
local ts = ffi.new("zh_timespec_t")
local function now_ms()           -- CLOCK_REALTIME, the clock nginx logs
    ffi.C.clock_gettime(0, ts)
    return tonumber(ts.tv_sec) * 1000 + math.floor(tonumber(ts.tv_nsec) / 1000000)
end

local mode = os.getenv("BENCH_MODE") or "now"
local target = os.getenv("BENCH_TARGET") or "http://127.0.0.1:9/hook"
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "2000")
local rate = tonumber(os.getenv("BENCH_RATE") or "1000")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
local total = tonumber(os.getenv("BENCH_TOTAL") or "1000000")
local auth = os.getenv("BENCH_AUTH")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")

local threads = {}
function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

local headers = { ["Content-Type"] = "application/json" }
if auth and auth ~= "" then headers["Authorization"] = "Bearer " .. auth end

local function rfc3339(ms)
    return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000)) ..
        string.format(".%03dZ", ms % 1000)
end

local seq = 0
local function message(due, with_deliver_at)
    seq = seq + 1
    local s = '{"url":"' .. target .. '","payload":{"type":"invoice.paid","seq":' .. seq ..
        ',"thread":' .. tid .. ',"data":{"amount":1299,"currency":"EUR","customer":"cus_8f2k1x"}}' ..
        ',"headers":{"X-Due-At":"' .. due .. '"}'
    if with_deliver_at then s = s .. ',"deliver_at":"' .. rfc3339(due) .. '"' end
    return s .. '}'
end

function init(args)
    sent, accepted, other, items = 0, 0, 0, 0
    -- fixed rate: this thread owns every nthreads-th slot of a global
    -- schedule, so the threads interleave instead of bursting together
    period = 1000 * nthreads / rate
    next_slot = now_ms() + 50 + tid * 1000 / rate
    quota = math.ceil(total / nthreads)
end

if mode == "delay" then
    -- open loop: each connection waits for the next free slot of the
    -- schedule, however long the last response took
    function delay()
        local d = next_slot - now_ms()
        next_slot = next_slot + period
        if d < 0 then return 0 end
        return math.floor(d)
    end
end

function request()
    sent = sent + 1
    if mode == "now" then
        return wrk.format("POST", "/v1/messages", headers, message(now_ms(), false))
    elseif mode == "delay" then
        return wrk.format("POST", "/v1/messages", headers, message(now_ms() + delay_ms, true))
    elseif mode == "far" then
        return wrk.format("POST", "/v1/messages", headers,
            message(now_ms() + 3600000, true))
    else
        local parts = {}
        local due = now_ms() + 3600000
        for i = 1, batch do parts[i] = message(due, true) end
        return wrk.format("POST", "/v1/messages/batch", headers,
            '{"messages":[' .. table.concat(parts, ",") .. ']}')
    end
end

function response(status, hdrs, body)
    if status == 202 then
        accepted = accepted + 1
        if mode == "bulk" then
            local _, n = string.gsub(body, '"status":"scheduled"', "")
            items = items + n
            if items >= quota then wrk.thread:stop() end
        else
            items = items + 1
        end
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local s, a, o, it = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        s = s + t:get("sent")
        a = a + t:get("accepted")
        o = o + t:get("other")
        it = it + t:get("items")
    end
    io.write(string.format(
        "WRK mode=%s sent=%d accepted=%d other=%d items=%d duration_ms=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
        mode, s, a, o, it, summary.duration / 1000, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
end
