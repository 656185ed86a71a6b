/// The ranking index in Redis: applies scores and reads boards, each in one atomic round trip.
/// See `BoardScripts` for the key layout, `RedisKeys` for the names. Not thread-safe: one owner, like its connection.
public struct BoardIndex: RankingIndex {
    /// The global board's pseudo-game.
    public static let globalGame = "all"
    /// Applied score ids, as bitmaps of `appliedShardBits` ids each (`RedisKeys.appliedShard`).
    static let appliedShardBits = 1 << 20
    /// Scores per run of the apply script: a run holds Redis up for as long as its scores take, so a reconciler pass
    /// of thousands runs as many short scripts, and other clients get in between.
    static let applyChunk = 64
    /// User ids per bucket of a board's dates (see `BoardScripts.whenFunctions`). Measured on the standard dataset:
    /// 64 left a month's board (a sixth of the players) ~2 players a bucket, each bucket a field of ~50 bytes in
    /// Redis's hashtable (13.4 bytes an entry); 256 cost 6.3. A bucket's search and rewrite stay a few hundred bytes.
    static let whenBucketWidth = 256
    /// Boards of up to this many members are compacted (`BoardScripts.compact`); not larger ones: the copy holds Redis
    /// ~1.5-2 µs a member (measured: 150 ms for a month's global board of 76,000), and a live service waits meanwhile;
    /// up to here, 40 ms at most.
    static let compactedUpTo = 20_000

    let redis: RedisConnection

    public init(redis: RedisConnection) {
        self.redis = redis
    }

    /// A score to apply: everything the index needs, so replaying it later gives the same boards.
    public struct Score: Sendable {
        public let id: Int
        public let userId: Int
        public let name: String
        public let game: String
        public let score: Int
        public let epochSeconds: Int
        /// How the game ranks, for an index generation that does not know the game yet (see `BoardScripts.apply`).
        public let ranking: Ranking

        public init(id: Int, userId: Int, name: String, game: String, score: Int, epochSeconds: Int, ranking: Ranking = .standard) {
            self.id = id
            self.userId = userId
            self.name = name
            self.game = game
            self.score = score
            self.epochSeconds = epochSeconds
            self.ranking = ranking
        }

        /// The script arguments: the score on each retained period board of its game (and the global board).
        func arguments(today: UTCDay) -> [String] {
            var arguments = [String(userId), name, game, String(score), String(epochSeconds), String(id), ranking.encoded]
            for period in BoardPeriod.all(containing: UTCDay(epochSeconds: epochSeconds)) where period.isRetained(on: today) {
                arguments += [period.key, period.expiresAt.map(String.init) ?? ""]
            }
            return arguments
        }
    }

    /// A score's all-time entry (best, latest or sum, by the game's rule) and ranks once applied; `improved` when
    /// the entry got better in the game's order (or is new).
    public struct Applied: Sendable, Equatable {
        public let best: Int
        public let rank: Int
        public let globalRank: Int
        public let improved: Bool

        public init(best: Int, rank: Int, globalRank: Int, improved: Bool) {
            self.best = best
            self.rank = rank
            self.globalRank = globalRank
            self.improved = improved
        }
    }

    /// Applies a score (once: applying it again changes nothing) and returns the all-time entry and ranks after it.
    public func apply(_ score: Score, today: UTCDay) throws(IndexError) -> Applied {
        try apply([score], today: today)[0].get()
    }

    /// Applies scores in order, in one round trip: one script run per `applyChunk` scores, pipelined, each
    /// run atomic. One outcome per score, in order. Throws when the round trip itself fails (nothing is known
    /// about any of them).
    public func apply(_ scores: [Score], today: UTCDay) throws(IndexError) -> [Result<Applied, IndexError>] {
        guard !scores.isEmpty else { return [] }
        let chunks = stride(from: 0, to: scores.count, by: Self.applyChunk).map { scores[$0..<min($0 + Self.applyChunk, scores.count)] }
        let replies: [RedisReply]
        do {
            replies = try redis.run(
                BoardScripts.apply,
                argumentLists: chunks.map { chunk in
                    chunk.flatMap { score in
                        let arguments = score.arguments(today: today)
                        return [String(arguments.count)] + arguments
                    }
                })
        } catch {
            throw .redis(error)
        }
        return zip(chunks, replies).flatMap { chunk, reply in Self.outcomes(of: reply, scores: chunk.count) }
    }

    /// One run's reply as one outcome per score: an error reply, or one that does not hold an answer for
    /// every score, is the outcome of each.
    private static func outcomes(of reply: RedisReply, scores: Int) -> [Result<Applied, IndexError>] {
        let failure: IndexError
        switch reply {
        case .error(let message) where message.hasPrefix(BoardScripts.noIndexError): failure = .notBuilt
        case .error(let message): failure = .redis(.server(message: message))
        default:
            let applied = (reply.array ?? []).compactMap { result -> Applied? in
                guard let values = result.array?.compactMap(\.int), values.count == 4 else { return nil }
                return Applied(best: values[0], rank: values[1], globalRank: values[2], improved: values[3] == 1)
            }
            if applied.count == scores { return applied.map { .success($0) } }
            failure = .unexpected("apply: \(reply)")
        }
        return Array(repeating: .failure(failure), count: scores)
    }

    /// Rows `start...stop` (0-based, inclusive) of a board, with standard competition ranks, and the stamp of the
    /// content they come from (see `PageStamp`). With `tokenKey`, throws `.tokenRevoked` instead when that token's
    /// revocation is cached, in the same round trip.
    public func page(game: String, period: BoardPeriod, start: Int, stop: Int, unlessRevoked tokenKey: String? = nil) throws(IndexError) -> (
        rows: [BoardRow], total: Int, stamp: PageStamp
    ) {
        let reply = try run(BoardScripts.page, Self.pageArguments(game: game, period: period, tokenKey: tokenKey, "page", start, stop))
        guard let (rows, total, stamp) = try Self.rows(from: reply, game: game) else { throw .unexpected("page: \(reply)") }
        return (rows, total, stamp)
    }

    /// A board whose stamp a reader asks for; `tokenKey`: see `page`.
    public struct StampQuery: Sendable {
        public let game: String
        public let period: BoardPeriod
        public let tokenKey: String?

        public init(game: String, period: BoardPeriod, tokenKey: String?) {
            self.game = game
            self.period = period
            self.tokenKey = tokenKey
        }

        /// The `MGET`'s keys: generation, board version, names version, and the token's cached revocation with
        /// the mark of a complete cache.
        var keys: [String] {
            var keys = [RedisKeys.generation, RedisKeys.boardVersion(game: game, period: period.key), RedisKeys.namesVersion]
            if let tokenKey { keys += [RedisKeys.revokedToken(tokenKey), RedisKeys.revocationsCached] }
            return keys
        }
    }

    /// One `MGET` per key list, pipelined in one round trip.
    func pipelinedMGET(_ keyLists: [[String]]) throws(IndexError) -> [RedisReply] {
        do {
            return try redis.pipeline(keyLists.map { ["MGET"] + $0 })
        } catch {
            throw .redis(error)
        }
    }

    /// The boards' stamps as they are now, a plain `MGET` each (no script), pipelined in one round trip; one
    /// outcome per query, in order. A stamp is nil when no generation is built; a query with a `tokenKey` fails
    /// with `.tokenRevoked` when that token's revocation is cached, as `page` would.
    public func stamps(_ queries: [StampQuery]) throws(IndexError) -> [Result<PageStamp?, IndexError>] {
        let keyLists = queries.map(\.keys)
        let replies = try pipelinedMGET(keyLists)
        return zip(zip(queries, keyLists), replies).map { queryAndKeys, reply in
            let (query, keys) = queryAndKeys
            guard let values = reply.array, values.count == keys.count else { return .failure(.unexpected("stamp: \(reply)")) }
            // The page script's order: no generation (the script's NOINDEX), an incomplete cache, then a cached revocation.
            guard let generation = values[0].string else { return .success(nil) }
            if query.tokenKey != nil, values[4].isNull { return .failure(.revocationsNotCached) }
            if query.tokenKey != nil, !values[3].isNull { return .failure(.tokenRevoked) }
            return .success(PageStamp(generation: generation, board: values[1].string, names: values[2].string))
        }
    }

    private static func pageArguments(game: String, period: BoardPeriod, tokenKey: String?, _ mode: String, _ first: Int, _ second: Int)
        -> [String]
    {
        [game, period.key, period.expiresAt.map(String.init) ?? "", mode, String(first), String(second)] + (tokenKey.map { [$0] } ?? [])
    }

    /// The rows within `radius` of a player, or nil when the player is not on the board; `tokenKey` as for `page`.
    public func around(userId: Int, game: String, period: BoardPeriod, radius: Int, unlessRevoked tokenKey: String? = nil) throws(IndexError)
        -> PlayerPosition?
    {
        let reply = try run(BoardScripts.page, Self.pageArguments(game: game, period: period, tokenKey: tokenKey, "around", userId, radius))
        guard let (rows, _, _) = try Self.rows(from: reply, game: game), let own = rows.first(where: { $0.userId == userId }) else {
            return nil
        }
        return PlayerPosition(rank: own.rank, score: own.score, date: own.date, around: rows)
    }

    /// The player's rank and score on each of `games`' boards for the period, those they are on.
    public func standing(userId: Int, period: BoardPeriod, games: [String]) throws(IndexError) -> Standing {
        let reply = try run(BoardScripts.standing, [String(userId), period.key] + games)
        guard let values = reply.array, let name = values.first?.string else { throw .unexpected("standing: \(reply)") }
        var entries: [Standing.Entry] = []
        var index = 1
        while index + 3 < values.count {
            guard let game = values[index].string, let score = Self.integer(values[index + 1]), let rank = values[index + 2].int,
                let when = values[index + 3].int
            else { throw .unexpected("standing row: \(values[index...])") }
            entries.append(Standing.Entry(game: game, rank: rank, score: score, date: UTCDay(epochSeconds: when).description))
            index += 4
        }
        return Standing(userId: userId, player: name, boards: entries)
    }

    /// The most players tied at a board's cut a report reads (see `BoardScripts.topOfBoards`).
    static let reportTiesRead = 1_000

    /// The best `limit` players across `boards` (`(game, period)` pairs), or nil when too many are tied at a board's cut:
    /// see `BoardScripts.topOfBoards`.
    public func top(limit: Int, of boards: [(game: String, period: BoardPeriod)]) throws(IndexError) -> [TopScore]? {
        let reply = try run(BoardScripts.topOfBoards, [String(limit)] + boards.map { "\($0.game):\($0.period.key)" })
        if reply == .null { return nil }
        guard let values = reply.array else { throw .unexpected("top: \(reply)") }
        return try stride(from: 0, to: values.count - 4, by: 5).map { (index) throws(IndexError) in
            guard let user = values[index].int, let score = values[index + 1].int, let game = values[index + 2].string,
                let when = values[index + 3].int, let name = values[index + 4].string
            else { throw .unexpected("top row: \(values[index...])") }
            return TopScore(userId: user, name: name, score: score, game: game, epochSeconds: when)
        }
    }

    /// A player's entry on one board as PostgreSQL computes it (see `PlayerEntries`), or nil: not on the board.
    public struct ReplacedEntry: Sendable {
        public let game: String
        public let ranking: Ranking
        public let period: BoardPeriod
        public let entry: (score: Int, entryId: Int?, epochSeconds: Int)?
    }

    /// Sets the player's entries on these boards, in one atomic step, and marks `scoreIds` applied: see
    /// `BoardScripts.replaceEntries`. Throws `.notBuilt` when no index is built (the rebuild then reads PostgreSQL).
    public func replaceEntries(userId: Int, name: String, scoreIds: [Int], entries: [ReplacedEntry]) throws(IndexError) {
        var arguments = [String(userId), name, String(scoreIds.count)] + scoreIds.map(String.init)
        for board in entries {
            arguments += [
                board.game, board.ranking.encoded, board.period.key, board.period.expiresAt.map(String.init) ?? "",
                board.entry.map { String($0.score) } ?? "", board.entry?.entryId.map(String.init) ?? "",
                board.entry.map { String($0.epochSeconds) } ?? "",
            ]
        }
        _ = try run(BoardScripts.replaceEntries, arguments)
    }

    /// The current generation, or nil when the index is empty (a new or flushed Redis).
    public func generation() throws(IndexError) -> Int? {
        do {
            return try redis.command(["GET", RedisKeys.generation]).int
        } catch {
            throw .redis(error)
        }
    }

    /// Which of `ids` are applied in the current generation, in one round trip: the bitmaps are read a byte
    /// range per shard (the reconciler asks about thousands of neighbouring ids a second; one GETBIT each
    /// cost it and Redis more than the rest of its pass).
    public func applied(_ ids: [Int], generation: Int) throws(IndexError) -> [Bool] {
        guard !ids.isEmpty else { return [] }
        var byteRanges: [Int: ClosedRange<Int>] = [:]
        for id in ids {
            let (shard, byte) = (id / Self.appliedShardBits, id % Self.appliedShardBits / 8)
            byteRanges[shard] = byteRanges[shard].map { min($0.lowerBound, byte)...max($0.upperBound, byte) } ?? byte...byte
        }
        let shards = Array(byteRanges)
        let replies: [RedisReply]
        do {
            replies = try redis.pipeline(
                shards.map { shard, bytes in
                    ["GETRANGE", RedisKeys.appliedShard(shard, generation: generation), String(bytes.lowerBound), String(bytes.upperBound)]
                })
        } catch {
            throw .redis(error)
        }
        var bitmaps: [Int: (firstByte: Int, bytes: [UInt8])] = [:]
        for ((shard, bytes), reply) in zip(shards, replies) {
            // A shard no score has reached yet is an empty string; so is the part of a range past its end.
            guard case .bulkString(let read) = reply else { throw .unexpected("GETRANGE: \(reply)") }
            bitmaps[shard] = (bytes.lowerBound, read)
        }
        return ids.map { id in
            let bit = id % Self.appliedShardBits
            let (firstByte, bytes) = bitmaps[id / Self.appliedShardBits]!
            let index = bit / 8 - firstByte
            // Bit 0 of a Redis bitmap is the high bit of its first byte.
            return index < bytes.count && bytes[index] & (0x80 >> UInt8(bit % 8)) != 0
        }
    }

    /// How far back `compactClosedBoards` looks for periods that closed: a month and a few days, so that a month's
    /// boards are compacted after the reconcilers were stopped for a few days too.
    static let compactionLookbackDays = 35

    /// Compacts the boards of the periods that closed since the last call that did (`BoardScripts.compact`), for the
    /// reconciler: while written, each was kept a skiplist (`BoardScripts.skiplistMemberBytes`), and may hold two hash
    /// tables; closed, it is only read until it expires. A score applied to one later (the reconciler's, an admin's)
    /// may make it a skiplist again, until Redis restarts. Remembers the last day done in the generation, so a call on
    /// a day already done costs one `GET`; answers how many boards it copied.
    func compactClosedBoards(generation: Int, today: UTCDay) throws(IndexError) -> Int {
        let prefix = RedisKeys.generationPrefix(generation)
        let lastClosedDay = today.adding(days: -1)
        let earliest = today.adding(days: -Self.compactionLookbackDays)
        do throws(RedisError) {
            let done = try redis.command(["GET", prefix + RedisKeys.compactedPart]).int.map(UTCDay.init(daysSinceEpoch:))
            guard done.map({ $0 < lastClosedDay }) ?? true else { return 0 }
            guard let games = try redis.command(["HKEYS", prefix + RedisKeys.gamesPart]).array?.compactMap(\.string) else {
                throw RedisError.unexpectedReply("HKEYS games")
            }
            var compacted = 0
            for daysSinceEpoch in max(done?.adding(days: 1) ?? earliest, earliest).daysSinceEpoch...lastClosedDay.daysSinceEpoch {
                let day = UTCDay(daysSinceEpoch: daysSinceEpoch)
                for kind in [PeriodKind.daily, .weekly, .monthly] {
                    let period = BoardPeriod(kind, containing: day)
                    guard period.days?.upperBound == day else { continue }
                    for game in games + [Self.globalGame] {
                        let board = prefix + RedisKeys.boardPart + game + ":" + period.key
                        let copied = try redis.run(BoardScripts.compact, keys: [board], arguments: [String(Self.compactedUpTo)])
                        if copied == .integer(1) { compacted += 1 }
                    }
                }
            }
            try redis.command(["SET", prefix + RedisKeys.compactedPart, String(lastClosedDay.daysSinceEpoch)])
            return compacted
        } catch {
            throw .redis(error)
        }
    }

    public func watermark(generation: Int) throws(IndexError) -> Int {
        do {
            return try redis.command(["GET", RedisKeys.watermark(generation: generation)]).int ?? 0
        } catch {
            throw .redis(error)
        }
    }

    public func setWatermark(_ id: Int, generation: Int) throws(IndexError) {
        do {
            try redis.command(["SET", RedisKeys.watermark(generation: generation), String(id)])
        } catch {
            throw .redis(error)
        }
    }

    func run(_ script: RedisScript, _ arguments: [String]) throws(IndexError) -> RedisReply {
        do {
            return try redis.run(script, keys: [], arguments: arguments)
        } catch .server(let message) where message.hasPrefix(BoardScripts.noIndexError) {
            throw .notBuilt
        } catch .server(let message) where message.hasPrefix("REVOKED") {
            throw .tokenRevoked
        } catch .server(let message) where message.hasPrefix("NOREVOCATIONS") {
            throw .revocationsNotCached
        } catch {
            throw .redis(error)
        }
    }

    /// Turns the page script's reply into rows with their ranks: standard competition ranks ("1224"), or
    /// positions on an `earliest` board.
    static func rows(from reply: RedisReply, game: String) throws(IndexError) -> (rows: [BoardRow], total: Int, stamp: PageStamp)? {
        guard let values = reply.array else { throw .unexpected("page: \(reply)") }
        if values.isEmpty { return nil }
        guard values.count == 10, let total = values[0].int, let firstRank = values[1].int, let start = values[2].int,
            let flat = values[3].array, let names = values[4].array, let whens = values[5].array, let generation = values[6].string,
            let uniqueRanks = values[9].int
        else { throw .unexpected("page: \(reply)") }
        let stamp = PageStamp(generation: generation, board: values[7].string, names: values[8].string)
        var rows: [BoardRow] = []
        rows.reserveCapacity(flat.count / 2)
        for index in 0..<(flat.count / 2) {
            guard let user = flat[2 * index].int, let score = integer(flat[2 * index + 1]) else { throw .unexpected("page row") }
            // Unique ranks are positions; shared ones: past the first row, everyone above a lower score outranks it.
            let rank =
                if uniqueRanks == 1 || index > 0 && score != rows[index - 1].score {
                    start + index + 1
                } else if index == 0 { firstRank } else { rows[index - 1].rank }
            let date = whens[index].int.map { UTCDay(epochSeconds: $0).description } ?? ""
            rows.append(BoardRow(rank: rank, userId: user, player: names[index].string ?? "", game: game, score: score, date: date))
        }
        return (rows, total, stamp)
    }

    /// Sorted-set scores come back as text such as "1500"; sums stay whole numbers.
    static func integer(_ reply: RedisReply) -> Int? {
        guard let text = reply.string else { return reply.int }
        return Int(text) ?? Double(text).flatMap { Int(exactly: $0) }
    }
}

/// What a board's content is as of a read: the index generation and the values the board's version key and the
/// names' version key held (see `BoardScripts`). Two reads with equal stamps read the same page.
public struct PageStamp: Sendable, Hashable {
    public let generation: String
    public let board: String?
    public let names: String?

    public init(generation: String, board: String?, names: String?) {
        self.generation = generation
        self.board = board
        self.names = names
    }
}

/// Why the index could not answer.
public enum IndexError: StoreFailure {
    public var store: Store { .redis }

    /// No generation is built (Redis was flushed or restarted empty); the reconciler rebuilds it.
    case notBuilt
    /// The token whose revocation key the read carried is revoked.
    case tokenRevoked
    /// The read carried a revocation key, and the cache of revocations is incomplete: PostgreSQL must answer.
    case revocationsNotCached
    case redis(RedisError)
    case unexpected(String)

    public var description: String {
        switch self {
        case .notBuilt: "leaderboard index: not built"
        case .tokenRevoked: "leaderboard index: the token was revoked"
        case .revocationsNotCached: "leaderboard index: the revocation cache is incomplete"
        case .redis(let error): "leaderboard index: \(error)"
        case .unexpected(let detail): "leaderboard index: unexpected reply: \(detail)"
        }
    }

    /// The index cannot be used right now, as opposed to a bug.
    public var isUnavailable: Bool {
        switch self {
        case .notBuilt: true
        case .tokenRevoked: false
        case .revocationsNotCached: true
        case .redis(let error): error.isUnavailable
        case .unexpected: false
        }
    }
}
