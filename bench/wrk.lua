-- torrentino's wrk script: one route per run, named by the first argument.
--   wrk -t1 -c4 -d3s -s bench/wrk.lua http://127.0.0.1:PORT -- ROUTE [IDS_FILE]
-- ROUTE is health, create, get, list, edit, cancel, complete, fail, history or audit. get
-- and history pick ids at random from IDS_FILE; edit, cancel, complete and fail walk through
-- it once (each id is a pending ticket), so each change is real; edit gives each ticket a
-- new priority, so each edit is real.
-- done() prints one line starting with BENCH that bench/http_bench.py reads.

local route
local ids = {}
local next_id = 1
local edits = 0
local fixed

local create_body = '{"priority": 100, "query_context": {"tags": ["music", "flac"],'
  .. ' "description": "Abbey Road by The Beatles"}, "dest_path": "/media/music/beatles"}'
local json_headers
local patch_headers

-- wrk's headers (-H on its command line: "Connection: close" for fresh connections) with
-- `extra`: wrk.format takes a request's headers instead of wrk's, not with them.
local function with_headers(extra)
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  for name, value in pairs(extra) do
    headers[name] = value
  end
  return headers
end

function init(args)
  route = args[1]
  json_headers = with_headers({["Content-Type"] = "application/json"})
  patch_headers = with_headers({["Content-Type"] = "application/merge-patch+json"})
  if args[2] then
    for line in io.lines(args[2]) do
      ids[#ids + 1] = line
    end
  end
  if route == "health" then
    fixed = wrk.format("GET", "/api/v1/health")
  elseif route == "create" then
    fixed = wrk.format("POST", "/api/v1/tickets", json_headers, create_body)
  elseif route == "list" then
    fixed = wrk.format("GET", "/api/v1/tickets?state=pending&limit=50")
  elseif route == "audit" then
    fixed = wrk.format("GET", "/api/v1/audit?limit=50")
  end
end

function request()
  if fixed then
    return fixed
  end
  if route == "get" then
    return wrk.format("GET", "/api/v1/tickets/" .. ids[math.random(#ids)])
  elseif route == "history" then
    return wrk.format("GET", "/api/v1/tickets/" .. ids[math.random(#ids)] .. "/history")
  end
  local id = ids[next_id]
  next_id = next_id % #ids + 1
  if route == "complete" then
    return wrk.format("POST", "/api/v1/tickets/" .. id .. "/complete")
  elseif route == "fail" then
    return wrk.format("POST", "/api/v1/tickets/" .. id .. "/fail", json_headers, '{"error": "no seeders"}')
  elseif route == "edit" then
    edits = edits + 1
    return wrk.format("PATCH", "/api/v1/tickets/" .. id, patch_headers,
      '{"priority": ' .. (edits % 65536) .. '}')
  end
  return wrk.format("DELETE", "/api/v1/tickets/" .. id)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d,'
      .. ' "socket_errors": %d, "bad_status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
