-- POST /api/v1/auth/signup with a new e-mail each time (unique per run, thread and request). From one
-- address, so past SIGNUP_MAX_PER_ADDRESS the api refuses them (429): signups at their cap.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local run, sent

function init(args)
   run = string.format("%d-%d", os.time(), math.random(1000000))
   sent = 0
   statuses = {}
end

function request()
   sent = sent + 1
   local body = string.format('{"email":"bench-%s-%d-%d@example.com","name":"Bench Signup","password":"bench-password"}', run, id, sent)
   return wrk.format("POST", "/api/v1/auth/signup", { ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
   common.count_status(status)
end
