import Logging

/// Rebuilds every board from PostgreSQL into a fresh generation of keys, then swaps it in with one
/// `SET`, so readers see the old boards or the new ones, never a half-built board.
public struct IndexRebuilder {
    public struct Summary: Sendable {
        public let generation: Int
        public let players: Int
        public let entries: Int
    }

    /// Scores younger than this when the snapshot is taken are left to the reconciler, which re-applies
    /// everything above the watermark: a transaction still in flight at snapshot time is not missed.
    static let settleSeconds = 10
    static let lockID = 7_243_102

    let database: PostgresConnection
    let redis: RedisConnection
    let logger: Logger

    public init(database: PostgresConnection, redis: RedisConnection, logger: Logger) {
        self.database = database
        self.redis = redis
        self.logger = logger
    }

    /// Rebuilds, or returns nil when another rebuild holds the lock and `wait` is false.
    public func rebuild(wait: Bool, progress: (String) -> Void = { _ in }) throws -> Summary? {
        try database.transaction { () throws -> Summary? in
            try database.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if wait {
                try database.query("SELECT pg_advisory_xact_lock($1)", [Self.lockID])
            } else if try database.query("SELECT pg_try_advisory_xact_lock($1) AS locked", [Self.lockID])[0].bool("locked") != true {
                return nil
            }
            let watermark = try database.query(
                "SELECT coalesce(max(id), 0) AS id FROM scores WHERE created_at < now() - make_interval(secs => $1)",
                [Self.settleSeconds])[0].requiredInt("id")
            guard let generation = try redis.command(["INCR", RedisKeys.generationCounter]).int else {
                throw RedisError.unexpectedReply("INCR gen-counter")
            }
            let writer = BoardWriter(redis: redis, prefix: RedisKeys.generationPrefix(generation))
            var players = 0
            try database.forEachBatch(of: "SELECT id, name FROM users") { rows in
                for row in rows { try writer.name(userId: row.requiredInt("id"), name: row.requiredString("name")) }
                players += rows.count
            }
            progress("names: \(players) players")
            let today = try UTCDay(iso: database.query("SELECT current_date::text AS today")[0].requiredString("today"))!
            var entries = 0
            for kind in PeriodKind.allCases {
                for sql in [Self.bestPerGame(kind), Self.sumPerPlayer(kind)] {
                    try database.forEachBatch(of: sql) { rows in
                        for row in rows {
                            let period = BoardPeriod(kind, containing: UTCDay(epochSeconds: try row.requiredInt("period_start")))
                            guard period.isRetained(on: today) else { continue }
                            try writer.add(
                                game: row.requiredString("game"), period: period, userId: row.requiredInt("user_id"),
                                score: row.requiredInt("score"), epochSeconds: row.requiredInt("epoch"))
                        }
                        entries += rows.count
                    }
                    progress("\(kind.rawValue) boards: \(entries) entries")
                }
            }
            try writer.finish()
            let revoked = try RevocationList.reload(from: database, into: redis)
            progress("revoked tokens: \(revoked)")
            let previous = try redis.command(["GET", RedisKeys.generation]).int
            try redis.pipelineOrThrow([
                ["SET", RedisKeys.watermark(generation: generation), String(watermark)],
                ["SET", RedisKeys.generation, String(generation)],
            ])
            logger.info("index rebuilt", metadata: ["generation": "\(generation)", "players": "\(players)", "entries": "\(entries)"])
            if let previous, previous != generation { try deleteGeneration(previous) }
            return Summary(generation: generation, players: players, entries: entries)
        }
    }

    /// Unlinks an old generation's keys in batches (UNLINK frees memory off the main thread).
    private func deleteGeneration(_ generation: Int) throws {
        var cursor = "0"
        repeat {
            let reply = try redis.command(["SCAN", cursor, "MATCH", RedisKeys.generationPrefix(generation) + "*", "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw RedisError.unexpectedReply("SCAN: \(reply)")
            }
            let names = keys.compactMap(\.string)
            if !names.isEmpty { try redis.command(["UNLINK"] + names) }
            cursor = next
        } while cursor != "0"
    }

    /// A period's start as a timestamp; all-time has one period starting at the epoch.
    private static func periodStart(_ kind: PeriodKind) -> String {
        switch kind {
        case .allTime: "timestamptz 'epoch'"
        case .daily: "date_trunc('day', created_at)"
        case .weekly: "date_trunc('week', created_at)"
        case .monthly: "date_trunc('month', created_at)"
        }
    }

    /// Each player's best per game and period, and when it was first reached (the apply script's rule).
    private static func bestPerGame(_ kind: PeriodKind) -> String {
        // Boards older than the retention are not rebuilt; a month of slack covers the longest period.
        let recent = kind == .allTime ? "" : "WHERE created_at >= now() - interval '\(BoardPeriod.retentionDays + 32) days'"
        return """
            SELECT DISTINCT ON (game, p, user_id) game, extract(epoch FROM p)::bigint AS period_start, user_id, score,
                   floor(extract(epoch FROM created_at))::bigint AS epoch
            FROM (SELECT game, user_id, score, created_at, id, \(periodStart(kind)) AS p FROM scores \(recent)) s
            ORDER BY game, p, user_id, score DESC, created_at, id
            """
    }

    /// The global board: per player and period, the sum of per-game bests, dated by the latest of them.
    private static func sumPerPlayer(_ kind: PeriodKind) -> String {
        """
        SELECT '\(BoardIndex.globalGame)' AS game, period_start, user_id, sum(score)::bigint AS score, max(epoch) AS epoch
        FROM (\(bestPerGame(kind))) best GROUP BY period_start, user_id ORDER BY period_start
        """
    }
}

/// Batches board writes into multi-member ZADD/HSET commands, pipelined.
private final class BoardWriter {
    let redis: RedisConnection
    let prefix: String
    private var commands: [[String]] = []
    private var board: (game: String, period: BoardPeriod)?
    private var members: [String] = []
    private var whens: [String] = []
    private var names: [String] = []

    init(redis: RedisConnection, prefix: String) {
        self.redis = redis
        self.prefix = prefix
    }

    func name(userId: Int, name: String) throws {
        names += [String(userId), name]
        if names.count >= 2_000 { try flushNames() }
    }

    func add(game: String, period: BoardPeriod, userId: Int, score: Int, epochSeconds: Int) throws {
        if board?.game != game || board?.period != period {
            try flushBoard()
            board = (game, period)
        }
        members += [String(score), String(userId)]
        whens += [String(userId), String(epochSeconds)]
        if members.count >= 2_000 { try flushBoard() }
    }

    func finish() throws {
        try flushNames()
        try flushBoard()
        try send()
    }

    private func flushNames() throws {
        guard !names.isEmpty else { return }
        commands.append(["HSET", prefix + RedisKeys.namesPart] + names)
        names.removeAll(keepingCapacity: true)
        if commands.count >= 64 { try send() }
    }

    private func flushBoard() throws {
        guard let board, !members.isEmpty else { return }
        let key = prefix + RedisKeys.boardPart + "\(board.game):\(board.period.key)"
        let whenKey = prefix + RedisKeys.whensPart + "\(board.game):\(board.period.key)"
        commands.append(["ZADD", key] + members)
        commands.append(["HSET", whenKey] + whens)
        if let expiresAt = board.period.expiresAt {
            commands += [["EXPIREAT", key, String(expiresAt)], ["EXPIREAT", whenKey, String(expiresAt)]]
        }
        members.removeAll(keepingCapacity: true)
        whens.removeAll(keepingCapacity: true)
        if commands.count >= 64 { try send() }
    }

    private func send() throws {
        guard !commands.isEmpty else { return }
        try redis.pipelineOrThrow(commands)
        commands.removeAll(keepingCapacity: true)
    }
}
