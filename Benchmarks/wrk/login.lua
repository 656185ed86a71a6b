-- POST /api/v1/auth/login as the seeded players (BENCH_EMAILS, password 123456), a different player
-- each time. Counts answers by status.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local emails

function init(args)
   emails = common.lines(common.env("BENCH_EMAILS"))
   math.randomseed(os.time() + id * 7919)
   statuses = {}
end

function request()
   local body = string.format('{"email":"%s","password":"123456"}', emails[math.random(#emails)])
   return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
   common.count_status(status)
end
