/// The scripts a kept report needs beside `topOfBoards`: its stamp made complete, and the games its players played,
/// both read through the same helpers as every board script, so they follow the layout wherever it goes.
extension BoardScripts {
    /// ARGV: (version key, the period's expiry or "") pairs. Returns {generation, names version, each board's version},
    /// setting a version on a board that has none (as the page script does), so a report over boards no score has
    /// reached yet can be kept too. A NOINDEX error when no index is built.
    static let reportStamp = RedisScript(
        """
        \(generationPrelude)
        \(versionFunctions)
        local result = {gen, redis.call('GET', '\(RedisKeys.namesVersion)') or false}
        for i = 1, #ARGV, 2 do
          result[#result + 1] = redis.call('GET', ARGV[i]) or setVersion(ARGV[i], ARGV[i + 1])
        end
        return result
        """)

    /// ARGV: the count of user ids, those ids, the count of period keys, those keys, then the games. Returns, per
    /// user in order, how many of the games they have an entry for on any of those periods' boards: the games they
    /// played in the periods (an entry exists while a counted score of theirs does, whatever the game's rule).
    /// A board is asked once for all the players still in question (one `ZMSCORE` where a member needs no entry id),
    /// and only about those with an all-time entry in the game: a report's misses cost Redis this script.
    static let gamesPlayed = RedisScript(
        """
        \(generationPrelude)
        \(entryFunctions)
        local userCount = tonumber(ARGV[1])
        local periodCount = tonumber(ARGV[userCount + 2])
        -- Whether each of `users` (positions into ARGV) has an entry on the board.
        local function entries(ranking, game, period, users)
          local suffix = game .. ':' .. period
          local board = p .. '\(RedisKeys.boardPart)' .. suffix
          local found = {}
          if ranking.needsIds then
            for i, u in ipairs(users) do
              found[i] = entryOf(ranking, board, p .. '\(RedisKeys.entryIdsPart)' .. suffix, ARGV[u]) ~= nil
            end
          else
            local members = {}
            for i, u in ipairs(users) do members[i] = memberOf(ranking, ARGV[u], nil) end
            local scores = redis.call('ZMSCORE', board, unpack(members))
            for i = 1, #users do found[i] = scores[i] ~= false end
          end
          return found
        end
        local played, everyone = {}, {}
        for u = 2, userCount + 1 do
          played[u] = 0
          everyone[#everyone + 1] = u
        end
        for g = userCount + periodCount + 3, #ARGV do
          local game = ARGV[g]
          local ranking = rankingOf(game)
          -- No all-time entry in a game, no entry in any of its periods.
          local pending = {}
          for i, has in ipairs(entries(ranking, game, '\(BoardPeriod.allTime.key)', everyone)) do
            if has then pending[#pending + 1] = everyone[i] end
          end
          for i = userCount + 3, userCount + 2 + periodCount do
            if #pending == 0 then break end
            local left = {}
            for j, has in ipairs(entries(ranking, game, ARGV[i], pending)) do
              if has then played[pending[j]] = played[pending[j]] + 1 else left[#left + 1] = pending[j] end
            end
            pending = left
          end
        end
        local result = {}
        for u = 2, userCount + 1 do result[#result + 1] = played[u] end
        return result
        """)
}
