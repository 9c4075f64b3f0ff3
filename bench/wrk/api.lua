-- wrk script for bench.api: one endpoint per run, settings from the environment.
--   BENCH_METHOD    GET | POST | PATCH
--   BENCH_PATH      request path; "{id}" takes the next id from BENCH_IDS (round robin)
--   BENCH_IDS       file with one id per line (optional)
--   BENCH_BODY      "" | "create" | "patch" | "login": a JSON body, different on every request
--   BENCH_COOKIE    Cookie header (optional)
--   BENCH_EMAIL, BENCH_PASSWORD   for "login"
-- No Origin header is sent, so the CSRF origin check lets the writes through, as it does for
-- non-browser clients. done() prints one line "BENCH_JSON {...}" with latencies in microseconds.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/ping"
local body_kind = os.getenv("BENCH_BODY") or ""
local cookie = os.getenv("BENCH_COOKIE") or ""
local ids = {}
local counter = 0

local nepali = {
  "आर्थिक वर्ष २०८१/८२ को वार्षिक बजेट तथा कार्यक्रम नगर सभाबाट पारित भएको छ।",
  "सम्बन्धित सबैको जानकारीका लागि यो सूचना प्रकाशित गरिएको छ।",
  "जग्गा नापजाँचको लागि मालपोत कार्यालयमा आवश्यक कागजात सहित उपस्थित हुनुहोला।",
}
local english = {
  "Please find attached the progress report for the second trimester.",
  "Minutes of the ward committee meeting held on the first Sunday of the month.",
}

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

local function text(n)
  local parts = {}
  for i = 1, 6 do
    parts[#parts + 1] = nepali[(n + i) % #nepali + 1]
    parts[#parts + 1] = english[(n + i) % #english + 1]
  end
  return table.concat(parts, " ") .. " (" .. n .. ")"
end

local thread_id = 0
function setup(thread)
  thread_id = thread_id + 1
  thread:set("thread_id", thread_id)
end

function init(args)
  local file = os.getenv("BENCH_IDS")
  if file and file ~= "" then
    for line in io.lines(file) do
      if line ~= "" then ids[#ids + 1] = line end
    end
  end
  -- Threads start at different places in the id list and make different bodies.
  counter = (thread_id or 0) * 7919 + os.time() % 100000 * 1000
  wrk.headers["Accept"] = "application/json"
  if cookie ~= "" then wrk.headers["Cookie"] = cookie end
  if body_kind ~= "" then wrk.headers["Content-Type"] = "application/json" end
end

function request()
  counter = counter + 1
  local p = path
  if #ids > 0 then p = path:gsub("{id}", ids[counter % #ids + 1]) end
  local body = nil
  if body_kind == "create" then
    body = '{"title":' .. json_string("बजेट प्रतिवेदन / Budget report " .. counter)
      .. ',"content":' .. json_string(text(counter)) .. "}"
  elseif body_kind == "patch" then
    body = '{"content":' .. json_string(text(counter)) .. "}"
  elseif body_kind == "login" then
    body = '{"email":' .. json_string(os.getenv("BENCH_EMAIL"))
      .. ',"password":' .. json_string(os.getenv("BENCH_PASSWORD")) .. "}"
  end
  return wrk.format(method, p, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
