-- Shared by the wrk scripts of make bench (Benchmarks/bench.py runs them): reads the environment,
-- the token and e-mail files, and prints wrk's summary as one JSON line that bench.py parses.
local common = {}

function common.lines(path)
   local lines = {}
   local file = assert(io.open(path, "r"), "cannot open " .. path)
   for line in file:lines() do
      if line ~= "" then lines[#lines + 1] = line end
   end
   file:close()
   assert(#lines > 0, path .. " is empty")
   return lines
end

function common.env(name, default)
   local value = os.getenv(name)
   if value == nil or value == "" then
      assert(default ~= nil, name .. " is not set")
      return default
   end
   return value
end

-- Threads of this wrk run, so done() can add up what each counted in response().
common.threads = {}

function common.setup(thread)
   thread:set("id", #common.threads + 1)
   common.threads[#common.threads + 1] = thread
end

-- Answers by status, counted in response() (only the scripts that need it define response: wrk is
-- faster without it).
function common.count_status(status)
   statuses[status] = (statuses[status] or 0) + 1
end

function common.done(summary, latency, requests)
   local statuses = {}
   for _, thread in ipairs(common.threads) do
      local counted = thread:get("statuses")
      if counted then
         for status, count in pairs(counted) do statuses[tostring(status)] = (statuses[tostring(status)] or 0) + count end
      end
   end
   local parts = {}
   for status, count in pairs(statuses) do parts[#parts + 1] = string.format('"%s":%d', status, count) end
   local e = summary.errors
   io.write(string.format(
      'BENCH-JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      table.concat(parts, ",")))
end

return common
