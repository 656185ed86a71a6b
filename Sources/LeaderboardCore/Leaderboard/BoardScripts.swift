/// The Lua scripts behind the board index. Each runs atomically inside Redis, so a reader never sees
/// a score on one board and not yet on another.
///
/// Keys live under a generation, `lb:<gen>:`, named by `lb:meta:gen:v2` (`RedisKeys.generation`); a rebuild fills a new generation and
/// swaps it in by setting that one key. Scripts therefore compute their key names, which standalone Redis
/// allows (Redis Cluster would not).
///
/// Layout under `lb:<gen>:` (the names are `RedisKeys`'):
/// - `b:<game>:<period>`: sorted set, member user id, score the best (or, for game `all`, the sum of bests);
/// - `w:<game>:<period>`: hash of buckets of user ids -> the days those entries were reached (`whenFunctions`); none
///   for a day board, whose entries were all reached on its day;
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

    /// A sorted set of up to `zset-max-listpack-entries` members (1,024 on our servers, for memory: README, "Board
    /// memory") is a listpack, and every write to one scans its members: measured on a day's boards of ~550, `ZADD` 10.7 µs
    /// and `ZSCORE` 4.6 µs against 3.5 and 1.4 as a skiplist, a quarter of the apply script's time. So a board a player
    /// joins is made a skiplist while it is written: this member, longer than `zset-max-listpack-value` (64), added and
    /// removed in the same script, converts it (a member is a user id or an `earliest` one's `<digits>:<user id>`, so
    /// it is never a player's), and Redis never converts a set back by itself. Once its period has closed, the
    /// reconciler compacts it again (`compact`); a restart loads it compact too.
    static let skiplistMemberBytes = 1_024

    /// KEYS[1]: a board; ARGV[1]: the most members to copy. Writes a board of up to that many members again with
    /// `ZUNIONSTORE` of itself, keeping its expiry: the copy is a listpack if it is small enough, else a skiplist whose
    /// hash table is sized for its members (a board written in chunks ends with two tables: `IndexRebuilder`'s
    /// `BoardWriter`). Answers 1 when it copied, 0 for a board that is missing, too large, or a listpack already.
    /// The copy holds Redis ~1.5-2 µs a member (every other client waits), hence the bound.
    static let compact = RedisScript(
        """
        local size = redis.call('ZCARD', KEYS[1])
        if size == 0 or size > tonumber(ARGV[1]) or redis.call('OBJECT', 'ENCODING', KEYS[1]) == 'listpack' then return 0 end
        local expiresAt = redis.call('PEXPIRETIME', KEYS[1])
        redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1])
        if expiresAt > 0 then redis.call('PEXPIREAT', KEYS[1], expiresAt) end
        return 1
        """)

    /// The error a script answers when no index is built; `BoardIndex` turns it into `IndexError.notBuilt`.
    static let noIndexError = "NOINDEX"

    /// Lua: how every script over the index starts: `gen`, the current generation, and `p`, the prefix of its
    /// keys; or, when no index is built, the `noIndexError` reply and nothing else.
    static let generationPrelude = """
        local gen = redis.call('GET', '\(RedisKeys.generation)')
        if not gen then return redis.error_reply('\(noIndexError) the leaderboard index is being rebuilt') end
        local p = '\(RedisKeys.indexPrefix)' .. gen .. ':'
        """

    /// Lua: how each game's boards rank in this generation (`rankingOf`), how a player's entry is found on a board
    /// (`entryOf`), and the conversions between a score and what a sorted set keeps.
    ///
    /// A board keeps `sign * score`, so that its top is always the highest value (an `asc` game keeps negated
    /// scores), and every rank is a count from the top. Numbers go back to Redis and to callers through `int`:
    /// Lua's `tostring` keeps only 14 digits, and scores reach 2^53 - 1.
    ///
    /// On an `earliest` board the member is `<999999999999999 - entry id, 15 digits>:<user id>`: sorted sets order
    /// equal scores by member, so the player whose entry came from the lowest score id (who reached it first)
    /// comes first from the top, and ranks are positions. The order cannot live in the score: a double holds
    /// 53 bits, and an allowed score already needs all of them. `i:<game>:<period>` (user id -> entry id) is kept
    /// on the boards that need the entry's score id: every board of a `latest` or `sum` game or of an `earliest` one.
    static let entryFunctions = """
        local function int(x) return string.format('%d', x) end
        local rankings = {}
        local function parseRanking(text)
          local order, rule, tie, global = string.match(text, '^(%a+) (%a+) (%a+) (%d)$')
          return {sign = order == 'asc' and -1 or 1, rule = rule, earliest = tie == 'earliest', inGlobal = global == '1',
                  needsIds = rule ~= 'best' or tie == 'earliest'}
        end
        local standardRanking = parseRanking('\(Ranking.standard.encoded)')
        -- The global board sums entries and shares ranks. `given`: the ranking to record for a game the generation
        -- does not know yet (created since it was built).
        local function rankingOf(game, given)
          if game == '\(BoardIndex.globalGame)' then return standardRanking end
          local ranking = rankings[game]
          if ranking then return ranking end
          local text = redis.call('HGET', p .. '\(RedisKeys.gamesPart)', game)
          if not text and given then
            text = given
            redis.call('HSET', p .. '\(RedisKeys.gamesPart)', game, text)
          end
          ranking = text and parseRanking(text) or standardRanking
          rankings[game] = ranking
          return ranking
        end
        local function memberOf(ranking, user, entryId)
          if not ranking.earliest then return user end
          return string.format('%015d', 999999999999999 - entryId) .. ':' .. user
        end
        local function userOf(member) return string.match(member, '(%d+)$') end
        -- The player's entry on a board: the stored value (nil when not on it), its score id (when kept) and member.
        local function entryOf(ranking, board, ids, user)
          local entryId = ranking.needsIds and tonumber(redis.call('HGET', ids, user)) or nil
          if ranking.earliest and not entryId then return nil, nil, nil end
          local member = memberOf(ranking, user, entryId)
          return tonumber(redis.call('ZSCORE', board, member)), entryId, member
        end
        -- The 1-based rank of an entry: a count of the better ones (shared), or its position (earliest).
        local function rankOf(ranking, board, value, member)
          if ranking.earliest then return redis.call('ZREVRANK', board, member) + 1 end
          return redis.call('ZCOUNT', board, '(' .. int(value), '+inf') + 1
        end
        \(whenFunctions)
        -- Where the board `<game>:<period>` keeps its entries' days (see `whenFunctions`). A day board (`d:<yyyy-mm-dd>`)
        -- keeps none: every entry on it was reached on its day, counted here from 1970-01-01.
        local function datesOf(suffix)
          local year, month, day = string.match(suffix, ':d:(%d+)-(%d+)-(%d+)$')
          if not year then return {key = p .. '\(RedisKeys.whensPart)' .. suffix} end
          year, month, day = tonumber(year), tonumber(month), tonumber(day)
          if month <= 2 then year = year - 1 end
          local era = math.floor(year / 400)
          local yearOfEra = year - era * 400
          local dayOfYear = math.floor((153 * (month > 2 and month - 3 or month + 9) + 2) / 5) + day - 1
          return {day = era * 146097 + yearOfEra * 365 + math.floor(yearOfEra / 4) - math.floor(yearOfEra / 100) + dayOfYear - 719468}
        end
        """

    /// Lua: when each entry was reached, as its UTC day (days since 1970-01-01: every reader shows a day, and
    /// the rules compare dates only to pick a day), kept in `w:<game>:<period>` in buckets of
    /// `BoardIndex.whenBucketWidth` user ids: field `-1 - floor(user / width)` (negative, so never taken for a user
    /// id), value 3 bytes per entry of the bucket, `user % width` then the day as a big-endian u16 (up to 2149).
    /// A field per user cost a hash ~59 bytes an entry; buckets cost ~6 (README, "Board memory"), and a small
    /// board's hash stays a listpack under Redis's default `hash-max-listpack-*`.
    ///
    /// A board's dates are a table (`entryFunctions`' `datesOf`): `{key = its w: hash}`, or `{day = its day}` for a
    /// day board, which keeps none. `whenOf` reads an entry's day (nil: none; a day board's day for anyone),
    /// `setWhen` writes it (nil: removes it), reusing the bucket `whenOf` just read for that player. `dayIn` finds a
    /// day in a bucket read already, `dayOf` turns epoch seconds into a day.
    static let whenFunctions = """
        local whenWidth = \(BoardIndex.whenBucketWidth)
        -- A player's field, made once a run: the apply script asks it for up to eight boards a score.
        local whenFields = {}
        local function whenField(user)
          local field = whenFields[user]
          if not field then
            field = string.format('%d', -1 - math.floor(tonumber(user) / whenWidth))
            whenFields[user] = field
          end
          return field
        end
        local function dayOf(epochSeconds)
          return math.min(65535, math.max(0, math.floor(tonumber(epochSeconds) / 86400)))
        end
        -- Where the record of `slot` starts in a bucket, or nil: a byte search, then a check that it starts a record.
        local function recordAt(packed, slot)
          local byte, at = string.char(slot), 1
          while true do
            at = string.find(packed, byte, at, true)
            if not at or at % 3 == 1 then return at end
            at = at + 1
          end
        end
        local function dayIn(packed, user)
          if not packed then return nil end
          local at = recordAt(packed, tonumber(user) % whenWidth)
          return at and string.byte(packed, at + 1) * 256 + string.byte(packed, at + 2)
        end
        local function whenOf(dates, user)
          if dates.day then return dates.day end
          local field = whenField(user)
          if dates.field ~= field then dates.field, dates.bucket = field, redis.call('HGET', dates.key, field) or '' end
          return dayIn(dates.bucket, user)
        end
        -- A bucket with `slot`'s day set to `day` (nil: removed); a day that changes is written in place.
        local function withDay(packed, slot, day)
          local at = recordAt(packed, slot)
          if at and day then return string.sub(packed, 1, at) .. string.char(math.floor(day / 256), day % 256) .. string.sub(packed, at + 3) end
          if at then packed = string.sub(packed, 1, at - 1) .. string.sub(packed, at + 3) end
          if day then packed = packed .. string.char(slot, math.floor(day / 256), day % 256) end
          return packed
        end
        local function setWhen(dates, user, day)
          if dates.day then return end
          local field = whenField(user)
          local bucket = dates.field == field and dates.bucket or redis.call('HGET', dates.key, field) or ''
          local packed = withDay(bucket, tonumber(user) % whenWidth, day)
          if packed ~= '' then redis.call('HSET', dates.key, field, packed) else redis.call('HDEL', dates.key, field) end
          dates.field, dates.bucket = field, packed
        end
        """

    /// ARGV: key of a `w:` hash of a generation being built, its expiry (or ""), then user id and epoch seconds
    /// pairs: sets those entries' days (see `whenFunctions`), a read and a write per bucket. For the rebuild,
    /// which cannot send a bucket's bytes itself (arguments are text).
    static let mergeWhens = RedisScript(
        """
        \(whenFunctions)
        local whens, expireAt = ARGV[1], ARGV[2]
        local buckets, fields = {}, {}
        for i = 3, #ARGV, 2 do
          local field = whenField(ARGV[i])
          if not buckets[field] then
            buckets[field] = {}
            fields[#fields + 1] = field
          end
          buckets[field][tonumber(ARGV[i]) % whenWidth] = dayOf(ARGV[i + 1])
        end
        for _, field in ipairs(fields) do
          local packed = redis.call('HGET', whens, field) or ''
          for slot, day in pairs(buckets[field]) do packed = withDay(packed, slot, day) end
          redis.call('HSET', whens, field, packed)
        end
        if expireAt ~= '' then redis.call('EXPIREAT', whens, expireAt) end
        return #fields
        """)

    /// ARGV: scores one after the other, each as its argument count, then userId, name, game, score,
    /// epochSeconds, scoreId, the game's `Ranking.encoded` and (period, expireAt or "") pairs, the all-time period
    /// (`all`) always among them. Applies them in order, as one atomic step; returns, per score, {entry, rank,
    /// globalRank, improved (0/1)} for the all-time boards, or a NOINDEX error (then none was applied).
    ///
    /// A player's entry follows the game's rule (best in the game's order, latest by score id, or sum), on each
    /// period board and, for an `inGlobal` game, in the global board's sum. A score already applied in this
    /// generation (its bit in `applied:`, or at or below the watermark) changes nothing: applying twice is exact
    /// for every rule, and so is applying out of order (`latest` compares score ids; `best` keeps the lowest id
    /// of equal scores; a `sum` entry is dated by its highest score id).
    ///
    /// Publishes one message on `lb:events`, when any board changed: a JSON array with, for each score that
    /// changed one, `{game, userId, periods, totalBefore, totalAfter, at}`; the totals (strings: cjson writes
    /// numbers with 14 digits) are the player's global all-time sum before and after (0 before: they had none),
    /// set when that board changed, so listeners can tell whose rank the submission moved; `at` is Redis's clock
    /// in milliseconds, for measuring how late events arrive. A rebuild publishes `[]`: every board may have changed.
    ///
    /// This runs for every batch of submissions, so it makes as few calls as it can: what a call returned is
    /// not asked again, values Redis only stores are passed on as the strings they came as, and a version
    /// many scores of the batch change is set once, at the end. Its own Lua work (key names, a player's date field) is
    /// done once a run, not once a score: 17% fewer instructions in Redis a score (callgrind, the same batches replayed).
    static let apply = RedisScript(
        """
        \(generationPrelude)
        \(versionFunctions)
        \(entryFunctions)
        -- A board's keys and dates table (`datesOf`), made once a run for every score of the batch that reaches it;
        -- sharing the dates table keeps the bucket it read last coherent, as every write to its hash goes through it.
        local boards = {}
        local function boardOf(game, period)
          local ofGame = boards[game]
          if not ofGame then
            ofGame = {}
            boards[game] = ofGame
          end
          local board = ofGame[period]
          if not board then
            local suffix = game .. ':' .. period
            board = {key = p .. '\(RedisKeys.boardPart)' .. suffix, ids = p .. '\(RedisKeys.entryIdsPart)' .. suffix,
                     dates = datesOf(suffix), version = '\(RedisKeys.boardVersionPrefix)' .. suffix}
            ofGame[period] = board
          end
          return board
        end
        local namesKey, appliedKeys = p .. '\(RedisKeys.namesPart)', {}
        -- What waits for the end of the run, once per key however many scores of the batch ask (they share the
        -- global boards): `newVersions`, the version keys of the boards that changed; `newKeys`, the keys that may
        -- have just come into being, to expire; `grownBoards`, the boards a player joined. Each holds its keys in order
        -- and, under each key, the period's expiry (`true` for `grownBoards`).
        local newVersions, newKeys, grownBoards = {}, {}, {}
        local function atEnd(pending, key, expireAt)
          if key and pending[key] == nil then
            pending[key] = expireAt
            pending[#pending + 1] = key
          end
        end
        -- The latest date of the player's entries on the global board's games for a period.
        local function latestEntryWhen(user, period)
          local latest = nil
          local games = redis.call('HGETALL', p .. '\(RedisKeys.gamesPart)')
          for i = 1, #games, 2 do
            if parseRanking(games[i + 1]).inGlobal then
              local when = whenOf(boardOf(games[i], period).dates, user)
              if when and (latest == nil or when > latest) then latest = when end
            end
          end
          return latest
        end
        local watermark = tonumber(redis.call('GET', p .. '\(RedisKeys.watermarkPart)') or '0')
        local events, publishedAt = {}, nil
        local results = {}
        local first = 1
        while first <= #ARGV do
          local last = first + tonumber(ARGV[first])
          local user, name, game, when = ARGV[first + 1], ARGV[first + 2], ARGV[first + 3], dayOf(ARGV[first + 5])
          local score, scoreId = tonumber(ARGV[first + 4]), tonumber(ARGV[first + 6])
          local ranking = rankingOf(game, ARGV[first + 7])
          local value = ranking.sign * score
          local shard = math.floor(scoreId / \(BoardIndex.appliedShardBits))
          appliedKeys[shard] = appliedKeys[shard] or p .. '\(RedisKeys.appliedPart)' .. int(shard)
          -- Marked applied at once (the script is one atomic step): SETBIT answers the mark it found. Its arguments go
          -- as text, which Redis takes as it is (a number it would print with `%.17g` first).
          local isNew = scoreId > watermark
            and redis.call('SETBIT', appliedKeys[shard], int(scoreId % \(BoardIndex.appliedShardBits)), '1') == 0
          -- A name already on the boards that changes changes every page showing it.
          local oldName = redis.call('HGET', namesKey, user)
          if oldName ~= name then
            redis.call('HSET', namesKey, user, name)
            if oldName then atEnd(newVersions, '\(RedisKeys.namesVersion)', '') end
          end
          local changed = {}
          local entry, entryMember, totalBefore, totalAfter, improved = nil, nil, nil, nil, 0
          for i = first + 8, last, 2 do
            local period, expireAt = ARGV[i], ARGV[i + 1]
            local keys = boardOf(game, period)
            local board, ids, whens = keys.key, keys.ids, keys.dates
            local old, oldId, oldMember = entryOf(ranking, board, ids, user)
            -- The entry after this score, and its date when that changes: when the score that gave the entry its
            -- value (best) or its score id (latest, sum) came.
            local new, newId, newWhen = old, oldId, nil
            if isNew then
              if ranking.rule == 'best' then
                if old == nil or value > old or (ranking.earliest and value == old and scoreId < oldId) then
                  new, newId, newWhen = value, scoreId, when
                elseif value == old and not ranking.needsIds then
                  -- Without ids, an equal best applied late (out of order) can only move the date back.
                  local stored = whenOf(whens, user)
                  if stored and when < stored then newWhen = when end
                end
              elseif ranking.rule == 'latest' then
                if old == nil or scoreId > oldId then new, newId, newWhen = value, scoreId, when end
              else
                new, newId = (old or 0) + value, math.max(scoreId, oldId or 0)
                if newId == scoreId then newWhen = when end
              end
            end
            local member = new and memberOf(ranking, user, newId) or oldMember
            if new ~= old or newId ~= oldId or newWhen then
              -- A date that stays (a better score the same day) is not written again, on this board or the global one,
              -- whose total is dated by the latest of its entries, so already on or after this one's.
              local oldWhen = old and whenOf(whens, user)
              local dateMoves = newWhen ~= nil and newWhen ~= oldWhen
              if new ~= old or newId ~= oldId then
                if oldMember and oldMember ~= member then redis.call('ZREM', board, oldMember) end
                redis.call('ZADD', board, int(new), member)
                if ranking.needsIds then redis.call('HSET', ids, user, int(newId)) end
              end
              if dateMoves then setWhen(whens, user, newWhen) end
              -- A board and its hashes come into being with their first player and get their expiry then
              -- (here or in the rebuild); only a player new to them can have just created them.
              if old == nil then
                atEnd(grownBoards, board, true)
                if expireAt ~= '' then
                  atEnd(newKeys, board, expireAt)
                  atEnd(newKeys, whens.key, expireAt)
                  if ranking.needsIds then atEnd(newKeys, ids, expireAt) end
                end
              end
              atEnd(newVersions, keys.version, expireAt)
              changed[#changed + 1] = period
              local increment = new - (old or 0)
              if ranking.inGlobal then
                local globalKeys = boardOf('\(BoardIndex.globalGame)', period)
                local global, globalWhens = globalKeys.key, globalKeys.dates
                if old == nil or increment ~= 0 then
                  local after = tonumber(redis.call('ZINCRBY', global, int(increment), user))
                  -- A total that is all this increment may be a new one, on a board and a dates' hash that may
                  -- have just come into being (setting the same expiry again is harmless).
                  if after == increment then
                    atEnd(grownBoards, global, true)
                    if expireAt ~= '' then
                      atEnd(newKeys, global, expireAt)
                      atEnd(newKeys, globalWhens.key, expireAt)
                    end
                  end
                  if period == 'all' then totalBefore, totalAfter = after - increment, after end
                end
                -- The total is dated by the latest of its entries: a later date can only raise it; an earlier one
                -- (scores applied out of order) may lower it, so then the entries are asked.
                if dateMoves and (oldWhen == nil or newWhen > oldWhen) then
                  if newWhen > (whenOf(globalWhens, user) or -1) then setWhen(globalWhens, user, newWhen) end
                elseif dateMoves then
                  setWhen(globalWhens, user, latestEntryWhen(user, period))
                end
                atEnd(newVersions, globalKeys.version, expireAt)
              end
              if period == 'all' and (old == nil or new > old) then improved = 1 end
            end
            if period == 'all' then entry, entryMember = new, member end
          end
          local board, global = p .. '\(RedisKeys.boardPart)' .. game .. ':all', p .. '\(RedisKeys.boardPart)all:all'
          local total = totalAfter or tonumber(redis.call('ZSCORE', global, user))
          if #changed > 0 then
            if not publishedAt then
              local time = redis.call('TIME')
              publishedAt = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
            end
            events[#events + 1] = {
              game = game, userId = tonumber(user), periods = changed,
              totalBefore = totalBefore and int(totalBefore), totalAfter = totalBefore and int(total), at = publishedAt}
          end
          local rank = entry and rankOf(ranking, board, entry, entryMember) or 0
          local globalRank = total and redis.call('ZCOUNT', global, '(' .. int(total), '+inf') + 1 or 0
          results[#results + 1] = {entry and int(ranking.sign * entry) or '0', rank, globalRank, improved}
          first = last + 1
        end
        -- A board being written is kept a skiplist (`BoardScripts.skiplistMemberBytes`).
        for _, key in ipairs(grownBoards) do
          if redis.call('OBJECT', 'ENCODING', key) == 'listpack' then
            local member = string.rep('~', \(skiplistMemberBytes))
            redis.call('ZADD', key, 0, member)
            redis.call('ZREM', key, member)
          end
        end
        for _, key in ipairs(newKeys) do redis.call('EXPIREAT', key, newKeys[key]) end
        for _, key in ipairs(newVersions) do setVersion(key, newVersions[key]) end
        if #events > 0 then redis.call('PUBLISH', '\(RedisKeys.eventsChannel)', cjson.encode(events)) end
        return results
        """)

    /// ARGV: user id, name, the count of score ids that follow, those ids, then one group of seven per board: game
    /// (`all` for the global board), the game's `Ranking.encoded`, period, the period's expiry (or ""), the entry's
    /// score ("" to take the player off the board), its score id ("" on the global board) and epoch seconds.
    ///
    /// Replaces the player's entry on each board given, whatever it was, with the one PostgreSQL computed (see
    /// `PlayerEntries`): for an admin's ban, unban, deletion or restore, as one atomic step. The score ids (the
    /// player's scores above the watermark) are marked applied, so a late apply of one of them, already in or left
    /// out of these entries, cannot change them. Bumps each board's version and publishes `[]` on `lb:events`, so
    /// every live view renders again (admin actions are rare).
    static let replaceEntries = RedisScript(
        """
        \(generationPrelude)
        \(versionFunctions)
        \(entryFunctions)
        local user, name = ARGV[1], ARGV[2]
        local watermark = tonumber(redis.call('GET', p .. '\(RedisKeys.watermarkPart)') or '0')
        local count = tonumber(ARGV[3])
        for i = 4, 3 + count do
          local id = tonumber(ARGV[i])
          if id > watermark then
            redis.call('SETBIT', p .. '\(RedisKeys.appliedPart)' .. math.floor(id / \(BoardIndex.appliedShardBits)), id % \(BoardIndex.appliedShardBits), 1)
          end
        end
        local oldName = redis.call('HGET', p .. '\(RedisKeys.namesPart)', user)
        if oldName ~= name then
          redis.call('HSET', p .. '\(RedisKeys.namesPart)', user, name)
          if oldName then setVersion('\(RedisKeys.namesVersion)', '') end
        end
        for i = 4 + count, #ARGV, 7 do
          local game, period, expireAt, value, entryId, when = ARGV[i], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
          local ranking = rankingOf(game, ARGV[i + 1])
          local suffix = game .. ':' .. period
          local board, ids, whens = p .. '\(RedisKeys.boardPart)' .. suffix, p .. '\(RedisKeys.entryIdsPart)' .. suffix, datesOf(suffix)
          local _, _, oldMember = entryOf(ranking, board, ids, user)
          if oldMember then redis.call('ZREM', board, oldMember) end
          if value == '' then
            setWhen(whens, user, nil)
            if ranking.needsIds then redis.call('HDEL', ids, user) end
          else
            local newId = tonumber(entryId)
            redis.call('ZADD', board, int(ranking.sign * tonumber(value)), memberOf(ranking, user, newId))
            setWhen(whens, user, dayOf(when))
            if ranking.needsIds and newId then redis.call('HSET', ids, user, entryId) end
            if expireAt ~= '' then
              redis.call('EXPIREAT', board, expireAt)
              if whens.key then redis.call('EXPIREAT', whens.key, expireAt) end
              if ranking.needsIds then redis.call('EXPIREAT', ids, expireAt) end
            end
          end
          setVersion('\(RedisKeys.boardVersionPrefix)' .. suffix, expireAt)
        end
        redis.call('PUBLISH', '\(RedisKeys.eventsChannel)', '[]')
        return 1
        """)

    /// ARGV: game, period, the period's expiry (epoch seconds, or "" for all-time), mode ("page" or "around"),
    /// then start and stop (page) or user id and radius (around), and optionally the revocation key of the
    /// caller's token.
    /// Returns {total, firstRank, start, user ids and scores, names, whens, generation, board version, names
    /// version, unique ranks (0/1)}, or {} when around a user not on the board; the stamp (generation and
    /// versions) names the content the rows come from, read in the same atomic step (a board without a version
    /// gets one here). With unique ranks (an `earliest` board) a row's rank is its position; otherwise ranks are
    /// shared and `firstRank` is the first row's. A REVOKED error when the token's revocation is cached: the
    /// cache is complete while the generation and its mark exist (see `RevocationList`; NOREVOCATIONS without the
    /// mark), so the caller needs no round trip of its own for that check.
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
        \(entryFunctions)
        local suffix = ARGV[1] .. ':' .. ARGV[2]
        local versionKey = '\(RedisKeys.boardVersionPrefix)' .. suffix
        local version = redis.call('GET', versionKey) or setVersion(versionKey, ARGV[3])
        local namesVersion = redis.call('GET', '\(RedisKeys.namesVersion)')
        local ranking = rankingOf(ARGV[1])
        local board = p .. '\(RedisKeys.boardPart)' .. suffix
        local unique = ranking.earliest and 1 or 0
        local start, stop
        if ARGV[4] == 'around' then
          local _, _, member = entryOf(ranking, board, p .. '\(RedisKeys.entryIdsPart)' .. suffix, ARGV[5])
          local index = member and redis.call('ZREVRANK', board, member)
          if not index then return {} end
          local radius = tonumber(ARGV[6])
          start, stop = math.max(0, index - radius), index + radius
        else
          start, stop = tonumber(ARGV[5]), tonumber(ARGV[6])
        end
        local total = redis.call('ZCARD', board)
        local rows = redis.call('ZREVRANGE', board, start, stop, 'WITHSCORES')
        if #rows == 0 then return {total, 0, start, {}, {}, {}, gen, version, namesVersion, unique} end
        local firstRank = ranking.earliest and start + 1 or redis.call('ZCOUNT', board, '(' .. rows[2], '+inf') + 1
        local users, usersAndScores = {}, {}
        for i = 1, #rows, 2 do
          local user = userOf(rows[i])
          users[#users + 1] = user
          usersAndScores[i], usersAndScores[i + 1] = user, int(ranking.sign * tonumber(rows[i + 1]))
        end
        local names = redis.call('HMGET', p .. '\(RedisKeys.namesPart)', unpack(users))
        local dates, whens = datesOf(suffix), {}
        if dates.key then
          local fields = {}
          for i, user in ipairs(users) do fields[i] = whenField(user) end
          whens = redis.call('HMGET', dates.key, unpack(fields))
        end
        for i, user in ipairs(users) do
          local day = dates.day or dayIn(whens[i], user)
          whens[i] = day and day * 86400 or false
        end
        return {total, firstRank, start, usersAndScores, names, whens, gen, version, namesVersion, unique}
        """)

    /// ARGV: user id, period, then the games (including `all`). Returns {game, score, rank, when} per board
    /// the user is on, flattened, and the user's name first.
    static let standing = RedisScript(
        """
        \(generationPrelude)
        \(entryFunctions)
        local user, period = ARGV[1], ARGV[2]
        local result = {redis.call('HGET', p .. '\(RedisKeys.namesPart)', user) or ''}
        for i = 3, #ARGV do
          local suffix = ARGV[i] .. ':' .. period
          local ranking = rankingOf(ARGV[i])
          local board = p .. '\(RedisKeys.boardPart)' .. suffix
          local value, _, member = entryOf(ranking, board, p .. '\(RedisKeys.entryIdsPart)' .. suffix, user)
          if value then
            local rank = rankOf(ranking, board, value, member)
            local when = int((whenOf(datesOf(suffix), user) or 0) * 86400)
            for _, field in ipairs({ARGV[i], int(ranking.sign * value), rank, when}) do result[#result + 1] = field end
          end
        end
        return result
        """)

    /// ARGV: limit, then board names `<game>:<period>`, of `best` games whose boards are in one order (the
    /// caller's to ensure), period by period in time order, each in the same order of games. The top `limit` players
    /// by their best single score on any of the boards: only each board's top `limit` can hold them (a MAX-union's
    /// top N lies in the union of the parts' top N), so a year is a few dozen small range reads, never every member.
    /// Ties go to the lowest user id, as in PostgreSQL's report, and a board orders equal scores by member, not by
    /// user id: so the players tied with a board's `limit`-th are read too, all of them (usually a few); when more
    /// than `BoardIndex.reportTiesRead` are, the script answers nil and PostgreSQL makes the report (a board of
    /// players all at a game's maximum, say).
    /// A board that gives `limit` rows shows `limit` players at or above its last score, so no one below
    /// that floor can make the answer: later boards are read only down to it, ties included (most of a long
    /// report's time in Redis went into rows that could not count).
    /// Returns {user, score, game, when, name} per row, best first (ties by user id), flattened.
    static let topOfBoards = RedisScript(
        """
        \(generationPrelude)
        \(entryFunctions)
        local limit = tonumber(ARGV[1])
        local best = {}
        local floor, floorText = nil, '-inf'
        local sign = 1
        for i = 2, #ARGV do
          sign = rankingOf(string.match(ARGV[i], '^[^:]+')).sign
          local board = p .. '\(RedisKeys.boardPart)' .. ARGV[i]
          local rows = redis.call('ZRANGE', board, '+inf', floorText, 'BYSCORE', 'REV', 'LIMIT', 0, limit, 'WITHSCORES')
          if #rows == 2 * limit then
            local last = rows[#rows]
            if redis.call('ZCOUNT', board, last, last) > \(BoardIndex.reportTiesRead) then return false end
            for _, value in ipairs(redis.call('ZRANGE', board, last, last, 'BYSCORE', 'WITHSCORES')) do rows[#rows + 1] = value end
          end
          for j = 1, #rows, 2 do
            local user, score = userOf(rows[j]), tonumber(rows[j + 1])
            local current = best[user]
            if current == nil or score > current[1] then
              best[user] = {score, ARGV[i]}
            elseif score == current[1] and current[2] ~= ARGV[i]
                and (whenOf(datesOf(ARGV[i]), user) or math.huge) < (whenOf(datesOf(current[2]), user) or math.huge) then
              -- An equal best on another board counts from the earlier day; on the same day, the board read first (the
              -- boards come period by period, each in the caller's order of games), as PostgreSQL's report has it.
              best[user] = {score, ARGV[i]}
            end
          end
          if #rows >= 2 * limit and (floor == nil or tonumber(rows[2 * limit]) > floor) then
            floor, floorText = tonumber(rows[2 * limit]), rows[2 * limit]
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
          local when = int((whenOf(datesOf(board), user) or 0) * 86400)
          local name = redis.call('HGET', p .. '\(RedisKeys.namesPart)', user) or ''
          for _, value in ipairs({user, int(sign * score), game, when, name}) do result[#result + 1] = value end
        end
        return result
        """)
}
