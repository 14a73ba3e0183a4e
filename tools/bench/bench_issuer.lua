-- wrk script for tools/bench/bench_issuer.py: issue + verify through the HTTP API.
-- Each thread issues records and verifies each one once (newest first, so
-- none turns STALE), alternating as records come back: about half the
-- requests are POST /v1/issue and half POST /v1/verify. Verdicts and errors
-- are counted, so a benchmark that "passes" on error replies is visible.
local ctx = os.getenv("POT_CTX") or "0007626f6172642d31"
local tier = os.getenv("POT_TIER") or "0"
local headers = {["Content-Type"] = "application/json"}
local issue_body = '{"ctx":"' .. ctx .. '","tier":' .. tier .. '}'
local queue = {}
-- plain globals: wrk copies numbers (not tables) out of a thread in done()
issued, verified_ok, rejected, http_errors = 0, 0, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local rec = table.remove(queue)
  if rec then
    return wrk.format("POST", "/v1/verify", headers, '{"record":"' .. rec .. '","ctx":"' .. ctx .. '"}')
  end
  return wrk.format("POST", "/v1/issue", headers, issue_body)
end

function response(status, hdrs, body)
  if status ~= 200 then
    http_errors = http_errors + 1
    return
  end
  local rec = body:match('"record": "(%x+)"')
  if rec then
    issued = issued + 1
    table.insert(queue, rec)
  elseif body:find('"ok": true', 1, true) then
    verified_ok = verified_ok + 1
  else
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local t = {issued = 0, ok = 0, rejected = 0, errors = 0}
  for _, thread in ipairs(threads) do
    t.issued = t.issued + thread:get("issued")
    t.ok = t.ok + thread:get("verified_ok")
    t.rejected = t.rejected + thread:get("rejected")
    t.errors = t.errors + thread:get("http_errors")
  end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_us=%d p90_us=%d p99_us=%d max_us=%d issued=%d verified_ok=%d rejected=%d http_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, t.issued, t.ok, t.rejected, t.errors,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
