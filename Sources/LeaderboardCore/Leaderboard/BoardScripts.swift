/// The Lua scripts behind the board index. Each runs atomically inside Redis, so a reader never sees
/// a score on one board and not yet on another.
///
/// Keys live under a generation, `lb:<gen>:`, named by `lb:meta:gen`; a rebuild fills a new generation and
/// swaps it in by setting that one key. Scripts therefore compute their key names, which standalone Redis
/// allows (Redis Cluster would not).
///
/// Layout under `lb:<gen>:` (the names are `RedisKeys`'):
/// - `b:<game>:<period>`: sorted set, member user id, score the best (or, for game `all`, the sum of bests);
/// - `w:<game>:<period>`: hash, user id -> epoch seconds when that best was reached;
/// - `names`: hash, user id -> display name;
/// - `applied:<id / 2^20>`: bitmap of applied score ids, so the reconciler can find what is missing;
/// - `watermark`: every score id at or below it is applied.
///
/// Outside the generations, for readers that keep pages (`PageCache`): `lb:ver:<game>:<period>` holds a
/// value that names the board's current content, and `lb:ver:names` one for the display names. Every change
/// to a board's members or scores sets its version to a new value in the same script; a period board's version
/// expires a second before the board does. Values are never reused (Redis's clock and a counter, see
/// `versionFunctions`), so a flushed and refilled Redis cannot repeat one. With the generation, which every rebuild
/// changes, a version therefore names one content of a board: equal stamps, equal pages.
enum BoardScripts {
    /// Lua: `setVersion` gives a key a value never handed out before: Redis's clock in microseconds and a counter
    /// (the counter alone would start over after a flush; the clock alone could repeat within a microsecond).
    /// One value serves every key a script run sets: each key still never sees a value twice.
    static let versionFunctions = """
        local newVersion = nil
        local function setVersion(key, expireAt)
          if not newVersion then
            local time = redis.call('TIME')
            newVersion = time[1] .. string.format('%06d', tonumber(time[2])) .. '-' .. redis.call('INCR', '\(RedisKeys.versionCounter)')
          end
          local value = newVersion
          if expireAt ~= '' then
            redis.call('SET', key, value, 'EXAT', tonumber(expireAt) - 1)
          else
            redis.call('SET', key, value)
          end
          return value
        end
        """

    /// The error a script answers when no index is built; `BoardIndex` turns it into `IndexError.notBuilt`.
    static let noIndexError = "NOINDEX"

    /// Lua: how every script over the index starts: `gen`, the current generation, and `p`, the prefix of its
    /// keys; or, when no index is built, the `noIndexError` reply and nothing else.
    static let generationPrelude = """
        local gen = redis.call('GET', '\(RedisKeys.generation)')
        if not gen then return redis.error_reply('\(noIndexError) the leaderboard index is being rebuilt') end
        local p = '\(RedisKeys.indexPrefix)' .. gen .. ':'
        """

    /// ARGV: scores one after the other, each as its argument count, then userId, name, game, score,
    /// epochSeconds, scoreId and (period, expireAt or "") pairs, the all-time period (`all`) always among them.
    /// Applies them in order, as one atomic step; returns, per score, {best, rank, globalRank, improved (0/1)}
    /// for the all-time boards, or a NOINDEX error (then none was applied).
    /// Publishes one message on `lb:events`, when any board changed: a JSON array with, for each score that
    /// changed one, `{game, userId, score, periods, totalBefore, totalAfter, at}`; the totals are the player's
    /// global all-time sum before and after (0 before: they had none), set when that board changed, so
    /// listeners can tell whose rank the submission moved; `at` is Redis's clock in milliseconds, for measuring
    /// how late events arrive.
    ///
    /// This runs for every batch of submissions, so it makes as few calls as it can: what a call returned is
    /// not asked again, values Redis only stores are passed on as the strings they came as, and a version
    /// many scores of the batch change is set once, at the end.
    static let apply = RedisScript(
        """
        \(generationPrelude)
        \(versionFunctions)
        local versionExpiries, versionKeys = {}, {}
        local function changeVersion(key, expireAt)
          if not versionExpiries[key] then
            versionExpiries[key] = expireAt
            versionKeys[#versionKeys + 1] = key
          end
        end
        local events, publishedAt = {}, nil
        local results = {}
        local first = 1
        while first <= #ARGV do
          local last = first + tonumber(ARGV[first])
          local user, name, game, when = ARGV[first + 1], ARGV[first + 2], ARGV[first + 3], ARGV[first + 5]
          local score, scoreId = tonumber(ARGV[first + 4]), tonumber(ARGV[first + 6])
          -- A name already on the boards that changes changes every page showing it.
          local oldName = redis.call('HGET', p .. '\(RedisKeys.namesPart)', user)
          if oldName ~= name then
            redis.call('HSET', p .. '\(RedisKeys.namesPart)', user, name)
            if oldName then changeVersion('\(RedisKeys.namesVersion)', '') end
          end
          local changed = {}
          local best, total, totalBefore, improved = nil, nil, nil, 0
          for i = first + 7, last, 2 do
            local period, expireAt = ARGV[i], ARGV[i + 1]
            local board = p .. '\(RedisKeys.boardPart)' .. game .. ':' .. period
            local old = tonumber(redis.call('ZSCORE', board, user))
            local global = p .. '\(RedisKeys.boardPart)all:' .. period
            if old == nil or score > old then
              local gameWhens, globalWhens = p .. '\(RedisKeys.whensPart)' .. game .. ':' .. period, p .. '\(RedisKeys.whensPart)all:' .. period
              local increment = score - (old or 0)
              redis.call('ZADD', board, ARGV[first + 4], user)
              redis.call('HSET', gameWhens, user, when)
              local after = tonumber(redis.call('ZINCRBY', global, string.format('%d', increment), user))
              redis.call('HSET', globalWhens, user, when)
              -- A board and its times come into being with their first player and get their expiry then
              -- (here or in the rebuild); only a player new to them can have just created them. A total
              -- that is all this increment may be a new one (setting the same expiry again is harmless).
              if expireAt ~= '' and old == nil then
                redis.call('EXPIREAT', board, expireAt)
                redis.call('EXPIREAT', gameWhens, expireAt)
              end
              if expireAt ~= '' and after == increment then
                redis.call('EXPIREAT', global, expireAt)
                redis.call('EXPIREAT', globalWhens, expireAt)
              end
              changeVersion('\(RedisKeys.boardVersionPrefix)' .. game .. ':' .. period, expireAt)
              changeVersion('\(RedisKeys.boardVersionPrefix)all:' .. period, expireAt)
              changed[#changed + 1] = period
              if period == 'all' then best, total, totalBefore, improved = score, after, after - increment, 1 end
            elseif period == 'all' then
              best, total = old, tonumber(redis.call('ZSCORE', global, user))
            end
          end
          redis.call('SETBIT', p .. '\(RedisKeys.appliedPart)' .. math.floor(scoreId / \(BoardIndex.appliedShardBits)), scoreId % \(BoardIndex.appliedShardBits), 1)
          if #changed > 0 then
            if not publishedAt then
              local time = redis.call('TIME')
              publishedAt = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
            end
            events[#events + 1] = {
              game = game, userId = tonumber(user), score = score, periods = changed,
              totalBefore = totalBefore, totalAfter = totalBefore and total, at = publishedAt}
          end
          local board, global = p .. '\(RedisKeys.boardPart)' .. game .. ':all', p .. '\(RedisKeys.boardPart)all:all'
          local rank = best and redis.call('ZCOUNT', board, '(' .. best, '+inf') + 1 or 0
          local globalRank = total and redis.call('ZCOUNT', global, '(' .. total, '+inf') + 1 or 0
          results[#results + 1] = {best or 0, rank, globalRank, improved}
          first = last + 1
        end
        for _, key in ipairs(versionKeys) do setVersion(key, versionExpiries[key]) end
        if #events > 0 then redis.call('PUBLISH', '\(RedisKeys.eventsChannel)', cjson.encode(events)) end
        return results
        """)

    /// ARGV: game, period, the period's expiry (epoch seconds, or "" for all-time), mode ("page" or "around"),
    /// then start and stop (page) or user id and radius (around), and optionally the revocation key of the
    /// caller's token.
    /// Returns {total, firstRank, start, members-with-scores, names, whens, generation, board version, names
    /// version}, or {} when around a user not on the board; the stamp (the last three) names the content the
    /// rows come from, read in the same atomic step (a board without a version gets one here). A REVOKED error
    /// when the token's revocation is cached: the cache is complete while the generation and its mark exist
    /// (see `RevocationList`; NOREVOCATIONS without the mark), so the caller needs no round trip of its own
    /// for that check.
    static let page = RedisScript(
        """
        \(generationPrelude)
        if ARGV[7] then
          if redis.call('EXISTS', '\(RedisKeys.revocationsCached)') == 0 then
            return redis.error_reply('NOREVOCATIONS the revocation cache is incomplete')
          end
          if redis.call('EXISTS', '\(RedisKeys.revokedTokenPrefix)' .. ARGV[7]) == 1 then
            return redis.error_reply('REVOKED the token was revoked')
          end
        end
        \(versionFunctions)
        local versionKey = '\(RedisKeys.boardVersionPrefix)' .. ARGV[1] .. ':' .. ARGV[2]
        local version = redis.call('GET', versionKey) or setVersion(versionKey, ARGV[3])
        local namesVersion = redis.call('GET', '\(RedisKeys.namesVersion)')
        local board = p .. '\(RedisKeys.boardPart)' .. ARGV[1] .. ':' .. ARGV[2]
        local start, stop
        if ARGV[4] == 'around' then
          local index = redis.call('ZREVRANK', board, ARGV[5])
          if not index then return {} end
          local radius = tonumber(ARGV[6])
          start, stop = math.max(0, index - radius), index + radius
        else
          start, stop = tonumber(ARGV[5]), tonumber(ARGV[6])
        end
        local total = redis.call('ZCARD', board)
        local rows = redis.call('ZREVRANGE', board, start, stop, 'WITHSCORES')
        if #rows == 0 then return {total, 0, start, {}, {}, {}, gen, version, namesVersion} end
        local firstRank = redis.call('ZCOUNT', board, '(' .. rows[2], '+inf') + 1
        local members = {}
        for i = 1, #rows, 2 do members[#members + 1] = rows[i] end
        local names = redis.call('HMGET', p .. '\(RedisKeys.namesPart)', unpack(members))
        local whens = redis.call('HMGET', p .. '\(RedisKeys.whensPart)' .. ARGV[1] .. ':' .. ARGV[2], unpack(members))
        return {total, firstRank, start, rows, names, whens, gen, version, namesVersion}
        """)

    /// ARGV: user id, period, then the games (including `all`). Returns {game, score, rank, when} per board
    /// the user is on, flattened, and the user's name first.
    static let standing = RedisScript(
        """
        \(generationPrelude)
        local user, period = ARGV[1], ARGV[2]
        local result = {redis.call('HGET', p .. '\(RedisKeys.namesPart)', user) or ''}
        for i = 3, #ARGV do
          local board = p .. '\(RedisKeys.boardPart)' .. ARGV[i] .. ':' .. period
          local score = redis.call('ZSCORE', board, user)
          if score then
            local rank = redis.call('ZCOUNT', board, '(' .. score, '+inf') + 1
            local when = redis.call('HGET', p .. '\(RedisKeys.whensPart)' .. ARGV[i] .. ':' .. period, user) or '0'
            for _, value in ipairs({ARGV[i], score, rank, when}) do result[#result + 1] = value end
          end
        end
        return result
        """)

    /// ARGV: limit, then board names `<game>:<period>`. The top `limit` players by their best single score
    /// on any of the boards: only each board's top `limit` can hold them (a MAX-union's top N lies in the
    /// union of the parts' top N), so a year is a few dozen small range reads, never every member.
    /// A board that gives `limit` rows shows `limit` players at or above its last score, so no one below
    /// that floor can make the answer: later boards are read only down to it, ties included (most of a long
    /// report's time in Redis went into rows that could not count).
    /// Returns {user, score, game, when, name} per row, best first, flattened.
    static let topOfBoards = RedisScript(
        """
        \(generationPrelude)
        local limit = tonumber(ARGV[1])
        local best = {}
        local floor, floorText = nil, '-inf'
        for i = 2, #ARGV do
          local rows = redis.call('ZRANGE', p .. '\(RedisKeys.boardPart)' .. ARGV[i], '+inf', floorText, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
          for j = 1, #rows, 2 do
            local user, score = rows[j], tonumber(rows[j + 1])
            local current = best[user]
            if current == nil or score > current[1] then best[user] = {score, ARGV[i]} end
          end
          if #rows == 2 * limit and (floor == nil or tonumber(rows[#rows]) > floor) then
            floor, floorText = tonumber(rows[#rows]), rows[#rows]
          end
        end
        local list = {}
        for user, entry in pairs(best) do list[#list + 1] = {tonumber(user), entry[1], entry[2]} end
        table.sort(list, function(a, b) if a[2] ~= b[2] then return a[2] > b[2] end return a[1] < b[1] end)
        local result = {}
        for i = 1, math.min(limit, #list) do
          local user, score, board = tostring(list[i][1]), list[i][2], list[i][3]
          local separator = string.find(board, ':', 1, true)
          local game = string.sub(board, 1, separator - 1)
          local when = redis.call('HGET', p .. '\(RedisKeys.whensPart)' .. board, user) or '0'
          local name = redis.call('HGET', p .. '\(RedisKeys.namesPart)', user) or ''
          for _, value in ipairs({user, tostring(score), game, when, name}) do result[#result + 1] = value end
        end
        return result
        """)
}
