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
    static let gamesPlayed = RedisScript(
        """
        \(generationPrelude)
        \(entryFunctions)
        local users = tonumber(ARGV[1])
        local periods = tonumber(ARGV[users + 2])
        local function hasEntry(ranking, game, period, user)
          local suffix = game .. ':' .. period
          return entryOf(ranking, p .. '\(RedisKeys.boardPart)' .. suffix, p .. '\(RedisKeys.entryIdsPart)' .. suffix, user) ~= nil
        end
        local result = {}
        for u = 2, users + 1 do
          local user, played = ARGV[u], 0
          for g = users + periods + 3, #ARGV do
            local game = ARGV[g]
            local ranking = rankingOf(game)
            -- No all-time entry in a game, no entry in any of its periods.
            if hasEntry(ranking, game, '\(BoardPeriod.allTime.key)', user) then
              for i = users + 3, users + 2 + periods do
                if hasEntry(ranking, game, ARGV[i], user) then
                  played = played + 1
                  break
                end
              end
            end
          end
          result[#result + 1] = played
        end
        return result
        """)
}
