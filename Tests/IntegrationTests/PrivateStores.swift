import Foundation
import LeaderboardCore
import Logging

/// A world of a test's own on the test stack: a PostgreSQL schema of its own (migrated, the seeded games and
/// nothing else) and a redis-server of its own. Every score and player in it is the test's, so whole boards,
/// the global board and reports can be compared with a recomputation, while other tests run beside it.
final class PrivateStores {
    let schema = "model_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
    let database = TestStack.database()
    let redis: RedisConnection
    private let redisServer: PrivateRedis

    init() throws {
        redisServer = try PrivateRedis()
        redis = RedisConnection(settings: try RedisSettings(url: "unix://\(redisServer.socketPath)"))
        // The schema name is made here, never input, so it can stand in the statement.
        try database.query("CREATE SCHEMA \(schema)")
        try database.query("SET search_path TO \(schema)")
        try Migrations.run(on: database)
    }

    /// Whether the connection still reads this schema: a reconnect would have fallen back to the shared one.
    func isStillPrivate() throws -> Bool {
        try database.query("SELECT current_schema() AS name")[0].requiredString("name") == schema
    }

    func remove() {
        _ = try? database.query("DROP SCHEMA \(schema) CASCADE")
        redisServer.stop()
    }

    func insert(_ game: RankingModel.GameSettings) throws {
        try database.query(
            """
            INSERT INTO games (slug, label, position, sort_order, rule, min_score, max_score, tie_break, in_global)
            VALUES ($1, $2, 100, $3, $4, $5, $6, $7, $8)
            """,
            [
                game.slug, "Model " + game.slug, game.order.rawValue, game.rule.rawValue, game.minScore, game.maxScore,
                game.tieBreak.rawValue, game.inGlobal,
            ])
    }

    func makePlayer(_ name: String) throws -> Int {
        try database.query(
            "INSERT INTO users (name, email, password) VALUES ($1, $2, 'x') RETURNING id", [name, TestStack.unique("model") + "@example.com"]
        )[0].requiredInt("id")
    }

    /// Stores a score made at `microseconds` since the epoch (given as text, so no digit is lost) and returns its id.
    func insertScore(userId: Int, game: String, score: Int, microseconds: Int) throws -> Int {
        try database.query(
            "INSERT INTO scores (user_id, game, score, created_at) VALUES ($1, $2, $3, $4::timestamptz) RETURNING id",
            [userId, game, score, Self.timestamp(microseconds)]
        )[0].requiredInt("id")
    }

    /// `2026-10-31 23:59:59.700000+00`.
    static func timestamp(_ microseconds: Int) -> String {
        let seconds = microseconds / 1_000_000
        let parts = RankingModel.calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!,
            microseconds % 1_000_000)
    }

    func rebuild() throws {
        _ = try IndexRebuilder(database: database, redis: redis, logger: Logger(label: "model")).rebuild(wait: true)
    }

    var service: LeaderboardService { TestStack.leaderboard(database: database, redis: redis) }
}

/// SplitMix64: a seeded generator, so a failing run can be replayed from the seed it printed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
