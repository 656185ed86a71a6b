-- GET /reports/top over BENCH_DAYS days, a report of its own for each of the 1,000 requests prepared per thread:
-- the range ends 0 to 29 days ago and the limit is 1 to 20 (600 reports, far more than a pool keeps), so most requests
-- miss the pool's report cache and the report is made anew. A bearer token from BENCH_TOKENS for
-- each, as get.lua.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local prepared = {}
local next_index = 1

function init(args)
   local days = tonumber(common.env("BENCH_DAYS"))
   local tokens = common.lines(common.env("BENCH_TOKENS"))
   math.randomseed(os.time() + id * 7919)
   local now = os.time()
   for i = 1, 1000 do
      local last = now - math.random(0, 29) * 86400
      local path = string.format("/api/v1/reports/top?start=%s&end=%s&limit=%d", os.date("!%Y-%m-%d", last - (days - 1) * 86400),
                                 os.date("!%Y-%m-%d", last), math.random(1, 20))
      prepared[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] })
   end
end

function request()
   local request = prepared[next_index]
   next_index = next_index % #prepared + 1
   return request
end
