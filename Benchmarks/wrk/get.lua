-- GET BENCH_PATH with a bearer token picked at random from BENCH_TOKENS for each request (from 1,000
-- requests prepared per thread, so wrk's own cost stays low). BENCH_TOKENS empty: no token.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local prepared = {}
local next_index = 1

function init(args)
   local path = common.env("BENCH_PATH")
   local token_file = common.env("BENCH_TOKENS", "-")
   math.randomseed(os.time() + id * 7919)
   if token_file == "-" then
      prepared[1] = wrk.format("GET", path)
      return
   end
   local tokens = common.lines(token_file)
   for i = 1, 1000 do
      local token = tokens[math.random(#tokens)]
      prepared[i] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
   end
end

function request()
   local request = prepared[next_index]
   next_index = next_index % #prepared + 1
   return request
end
