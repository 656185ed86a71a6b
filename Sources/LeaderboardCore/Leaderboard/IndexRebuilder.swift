import Foundation
import Logging

/// Rebuilds every board from PostgreSQL into a fresh generation of keys, then swaps it in with one
/// `SET`, so readers see the old boards or the new ones, never a half-built board.
public struct IndexRebuilder {
    public struct Summary: Sendable {
        public let generation: Int
        public let players: Int
        public let entries: Int
    }

    /// How long a rebuild waits for the transactions storing scores when it starts (see `rebuild`); they take milliseconds.
    static let writersWait = Duration.seconds(30)
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
    ///
    /// An admin's change to a player's entries (`PlayerModeration`) holds the lock shared until it commits, so the
    /// snapshot is taken once it has: a rebuild from a snapshot without the change would undo it. Waiting therefore
    /// happens on a session lock before the transaction, whose first statement takes the snapshot.
    public func rebuild(wait: Bool, progress: (String) -> Void = { _ in }) throws -> Summary? {
        if wait {
            try database.query("SELECT pg_advisory_lock($1)", [Self.lockID])
        }
        defer { if wait { _ = try? database.query("SELECT pg_advisory_unlock($1)", [Self.lockID]) } }
        // The new generation's watermark: every score id up to it is in the snapshot below, or never will be. A score
        // above it that the snapshot holds is marked applied; one that commits later, the reconciler applies.
        let horizon = try ScoreWriters.horizon(on: database)
        let deadline = ContinuousClock.now + Self.writersWait
        while try !ScoreWriters.haveEnded(horizon, on: database) {
            guard ContinuousClock.now < deadline else {
                throw PostgresError.unexpectedResult("a transaction storing scores has been running for over \(Self.writersWait); rebuild later")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let watermark = horizon.lastId
        // Before the snapshot's transaction, which is read-only: the reload clears the flags of the revocations it
        // caches that Redis was missing (`RevocationList.revoke`).
        let revoked = try RevocationList.reload(from: database, into: redis)
        progress("revoked tokens: \(revoked)")
        return try database.transaction { () throws -> Summary? in
            try database.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if try database.query("SELECT pg_try_advisory_xact_lock($1) AS locked", [Self.lockID])[0].bool("locked") != true {
                return nil
            }
            guard let generation = try redis.command(["INCR", RedisKeys.generationCounter]).int else {
                throw RedisError.unexpectedReply("INCR gen-counter")
            }
            let prefix = RedisKeys.generationPrefix(generation)
            let rankings = try Dictionary(
                uniqueKeysWithValues: database.query("SELECT \(PostgresGameCatalog.columns) FROM games").map { row in
                    let game = try PostgresGameCatalog.game(row)
                    return (game.slug, game.ranking)
                })
            if !rankings.isEmpty {
                try redis.command(["HSET", prefix + RedisKeys.gamesPart] + rankings.flatMap { [$0.key, $0.value.encoded] })
            }
            let writer = BoardWriter(redis: redis, prefix: prefix, rankings: rankings)
            var players = 0
            try database.forEachBatch(of: "SELECT id, name FROM users") { rows in
                for row in rows { try writer.name(userId: row.requiredInt("id"), name: row.requiredString("name")) }
                players += rows.count
            }
            progress("names: \(players) players")
            let today = try UTCDay(iso: database.query("SELECT current_date::text AS today")[0].requiredString("today"))!
            var entries = 0
            for kind in PeriodKind.allCases {
                for sql in [Self.entriesPerGame(kind) + " ORDER BY game, period_start", Self.sumPerPlayer(kind)] {
                    try database.forEachBatch(of: sql) { rows in
                        for row in rows {
                            let period = BoardPeriod(kind, containing: UTCDay(epochSeconds: try row.requiredInt("period_start")))
                            guard period.isRetained(on: today) else { continue }
                            try writer.add(
                                game: row.requiredString("game"), period: period, userId: row.requiredInt("user_id"),
                                score: row.requiredInt("score"), entryId: row.int("entry_id"), epochSeconds: row.requiredInt("epoch"))
                        }
                        entries += rows.count
                    }
                    progress("\(kind.rawValue) boards: \(entries) entries")
                }
            }
            // The snapshot holds the scores above the watermark that had committed; the reconciler must not apply
            // them again (a `sum` would count them twice).
            try database.forEachBatch(of: "SELECT id FROM scores WHERE id > \(watermark)") { rows in
                for row in rows { try writer.markApplied(scoreId: row.requiredInt("id")) }
            }
            try writer.finish()
            let previous = try redis.command(["GET", RedisKeys.generation]).int
            try redis.pipelineOrThrow([
                ["SET", RedisKeys.watermark(generation: generation), String(watermark)],
                ["SET", RedisKeys.generation, String(generation)],
                // Every board may have changed: the WebSocket daemons render their views again.
                ["PUBLISH", RedisKeys.eventsChannel, "[]"],
            ])
            logger.info("index rebuilt", metadata: ["generation": "\(generation)", "players": "\(players)", "entries": "\(entries)"])
            if let previous, previous != generation { try deleteGeneration(previous) }
            // An index of an earlier layout, which this one replaces (see `RedisKeys.generation`).
            for pointer in RedisKeys.retiredGenerationPointers {
                guard let retired = try redis.command(["GET", pointer]).int else { continue }
                try deleteGeneration(retired)
                try redis.command(["DEL", pointer])
            }
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
    static func periodStart(_ kind: PeriodKind) -> String {
        switch kind {
        case .allTime: "timestamptz 'epoch'"
        case .daily: "date_trunc('day', s.created_at)"
        case .weekly: "date_trunc('week', s.created_at)"
        case .monthly: "date_trunc('month', s.created_at)"
        }
    }

    /// The scores the boards count: not deleted, and not a banned player's.
    static let countedScores = "s.deleted_at IS NULL AND s.user_id NOT IN (SELECT id FROM users WHERE banned_at IS NOT NULL)"

    /// Boards older than the retention are not rebuilt; a month of slack covers the longest period.
    static func recentScores(_ kind: PeriodKind) -> String {
        kind == .allTime ? "true" : "s.created_at >= now() - interval '\(BoardPeriod.retentionDays + 32) days'"
    }

    /// Each player's entry per game and period, by the game's rule, with the id of the score that gave it (see
    /// `BoardScripts.apply`: best in the game's order, its lowest id among equals; the latest by id; the sum, with
    /// its highest id) and when that score came. `onePlayer`: only the player `$1`'s (see `PlayerEntries`).
    static func entriesPerGame(_ kind: PeriodKind, onePlayer: Bool = false) -> String {
        """
        WITH s AS (
            SELECT s.id, s.user_id, s.game, s.score, s.created_at, \(periodStart(kind)) AS p, g.sort_order, g.rule, g.in_global
            FROM scores s JOIN games g ON g.slug = s.game
            WHERE \(countedScores) AND \(recentScores(kind))\(onePlayer ? " AND s.user_id = $1" : "")
        ), entries AS (
            (SELECT DISTINCT ON (game, p, user_id) game, p, user_id, score, id AS entry_id, created_at AS reached, in_global
             FROM s WHERE rule = 'best'
             ORDER BY game, p, user_id, CASE WHEN sort_order = 'asc' THEN -score ELSE score END DESC, id)
            UNION ALL
            (SELECT DISTINCT ON (game, p, user_id) game, p, user_id, score, id, created_at, in_global
             FROM s WHERE rule = 'latest' ORDER BY game, p, user_id, id DESC)
            UNION ALL
            SELECT game, p, user_id, sum(score)::bigint, max(id), (array_agg(created_at ORDER BY id DESC))[1], bool_and(in_global)
            FROM s WHERE rule = 'sum' GROUP BY game, p, user_id
        )
        SELECT game, extract(epoch FROM p)::bigint AS period_start, user_id, score, entry_id, in_global,
               floor(extract(epoch FROM reached))::bigint AS epoch
        FROM entries
        """
    }

    /// The global board: per player and period, the sum of their entries on the `inGlobal` games, dated by the
    /// latest of them.
    static func sumPerPlayer(_ kind: PeriodKind, onePlayer: Bool = false) -> String {
        """
        SELECT '\(BoardIndex.globalGame)' AS game, period_start, user_id, sum(score)::bigint AS score, NULL::bigint AS entry_id,
               max(epoch) AS epoch
        FROM (\(entriesPerGame(kind, onePlayer: onePlayer))) entry WHERE in_global GROUP BY period_start, user_id ORDER BY period_start
        """
    }
}

/// Batches board writes into multi-member ZADD/HSET commands and `mergeWhens` runs, pipelined; keeps each board as
/// the apply script would (see `BoardScripts.entryFunctions`).
///
/// A sorted set's hash table doubles as it grows, and Redis moves entries to the new table a few per command on that
/// set: a board written in chunks ends with both tables (so does one ZADD of all its members, measured), and a closed period's board
/// kept them until Redis restarted (2.8 bytes an entry on the standard dataset; README, "Board memory"). `finish`
/// therefore compacts each larger board (`BoardScripts.compact`), which sizes one table for its members.
private final class BoardWriter {
    /// Boards above this are compacted: smaller ones are listpacks (the stack's `zset-max-listpack-entries`), no table.
    static let compactedAbove = 1_024

    let redis: RedisConnection
    let prefix: String
    let rankings: [String: Ranking]
    private var commands: [[String]] = []
    private var whenLists: [[String]] = []
    private var board: (game: String, period: BoardPeriod)?
    private var members: [String] = []
    private var whens: [String] = []
    private var entryIds: [String] = []
    private var names: [String] = []
    /// The board being written: its members so far.
    private var boardSize = 0
    /// Boards to compact in `finish`.
    private var compactions: [String] = []

    init(redis: RedisConnection, prefix: String, rankings: [String: Ranking]) {
        self.redis = redis
        self.prefix = prefix
        self.rankings = rankings
    }

    func name(userId: Int, name: String) throws {
        names += [String(userId), name]
        if names.count >= 2_000 { try flushNames() }
    }

    /// `entryId`: the score id that gave the entry, for a game's board (nil on the global board).
    func add(game: String, period: BoardPeriod, userId: Int, score: Int, entryId: Int?, epochSeconds: Int) throws {
        if board?.game != game || board?.period != period {
            try finishBoard()
            board = (game, period)
        }
        let ranking = game == BoardIndex.globalGame ? Ranking.standard : rankings[game] ?? .standard
        let user = String(userId)
        let stored = ranking.order == .asc ? -score : score
        members += [String(stored), entryId.map { Self.member(user: user, entryId: $0, ranking: ranking) } ?? user]
        boardSize += 1
        whens += [user, String(epochSeconds)]
        if ranking.needsEntryIds, let entryId { entryIds += [user, String(entryId)] }
        if members.count >= 2_000 { try flushBoard() }
    }

    func markApplied(scoreId: Int) throws {
        commands.append([
            "SETBIT", prefix + RedisKeys.appliedPart + String(scoreId / BoardIndex.appliedShardBits),
            String(scoreId % BoardIndex.appliedShardBits), "1",
        ])
        if commands.count >= 256 { try send() }
    }

    /// The member `BoardScripts.entryFunctions`' `memberOf` makes.
    private static func member(user: String, entryId: Int, ranking: Ranking) -> String {
        guard ranking.tieBreak == .earliest else { return user }
        let order = String(999_999_999_999_999 - entryId)
        return String(repeating: "0", count: max(0, 15 - order.count)) + order + ":" + user
    }

    func finish() throws {
        try flushNames()
        try finishBoard()
        try send()
        // A board a round trip: Redis runs a pipeline's commands back to back, and every other client waits for them all.
        for key in compactions {
            try redis.run(BoardScripts.compact, keys: [key], arguments: [String(BoardIndex.compactedUpTo)])
        }
    }

    /// Writes what is left of the board being written, and notes it for compaction.
    private func finishBoard() throws {
        try flushBoard()
        if let board, (Self.compactedAbove + 1...BoardIndex.compactedUpTo).contains(boardSize) {
            compactions.append(prefix + RedisKeys.boardPart + "\(board.game):\(board.period.key)")
        }
        boardSize = 0
    }

    private func flushNames() throws {
        guard !names.isEmpty else { return }
        commands.append(["HSET", prefix + RedisKeys.namesPart] + names)
        names.removeAll(keepingCapacity: true)
        if commands.count >= 64 { try send() }
    }

    private func flushBoard() throws {
        guard let board, !members.isEmpty else { return }
        let suffix = "\(board.game):\(board.period.key)"
        var keys = [prefix + RedisKeys.boardPart + suffix]
        commands.append(["ZADD", keys[0]] + members)
        if board.period.keepsDates {
            whenLists.append([prefix + RedisKeys.whensPart + suffix, board.period.expiresAt.map(String.init) ?? ""] + whens)
        }
        if !entryIds.isEmpty {
            keys.append(prefix + RedisKeys.entryIdsPart + suffix)
            commands.append(["HSET", keys[1]] + entryIds)
        }
        if let expiresAt = board.period.expiresAt { commands += keys.map { ["EXPIREAT", $0, String(expiresAt)] } }
        members.removeAll(keepingCapacity: true)
        whens.removeAll(keepingCapacity: true)
        entryIds.removeAll(keepingCapacity: true)
        if commands.count >= 64 || whenLists.count >= 32 { try send() }
    }

    private func send() throws {
        if !commands.isEmpty {
            try redis.pipelineOrThrow(commands)
            commands.removeAll(keepingCapacity: true)
        }
        if !whenLists.isEmpty {
            for reply in try redis.run(BoardScripts.mergeWhens, argumentLists: whenLists) {
                if case .error(let message) = reply { throw RedisError.server(message: message) }
            }
            whenLists.removeAll(keepingCapacity: true)
        }
    }
}
