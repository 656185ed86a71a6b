-- POST /api/v1/scores: every request from a player picked at random (BENCH_TOKENS, one token per
-- player) with a random game and score, so each is a real submission: a PostgreSQL insert and the
-- index update. Counts answers by status (200 applied, 202 queued).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local games = { "cod", "valrnt", "mcft", "fnite", "apxleg", "lol", "ow", "cs", "rl", "pubg" }
local tokens
local max_score

function init(args)
   tokens = common.lines(common.env("BENCH_TOKENS"))
   max_score = tonumber(common.env("BENCH_MAX_SCORE", "15000"))
   math.randomseed(os.time() + id * 7919)
   statuses = {}
end

function request()
   local body = string.format('{"game":"%s","score":%d}', games[math.random(#games)], math.random(0, max_score))
   return wrk.format("POST", "/api/v1/scores", {
      ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
      ["Content-Type"] = "application/json",
   }, body)
end

function response(status, headers, body)
   common.count_status(status)
end
