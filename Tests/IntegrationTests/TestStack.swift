import Foundation
import LeaderboardCore

/// The real PostgreSQL and Redis that `make test` started, found through `LEADERBOARD_ENV_FILE`.
enum TestStack {
    static let config: Config = {
        guard ProcessInfo.processInfo.environment["LEADERBOARD_ENV_FILE"] != nil else {
            fatalError("integration tests need the test stack: run them with `make test`")
        }
        do {
            return try Config.load()
        } catch {
            fatalError("\(error)")
        }
    }()

    /// The bcrypt work of the test process, as a daemon has one.
    static let passwords = PasswordWork(config: config)
    static func database() -> PostgresConnection { PostgresConnection(settings: config.postgres) }
    static func redis() -> RedisConnection { RedisConnection(settings: config.redis) }

    /// The leaderboard a worker has, over these connections.
    static func leaderboard(
        database: PostgresConnection, redis: RedisConnection, submissionsPerMinute: Int = LeaderboardService.defaultSubmissionsPerMinute
    ) -> LeaderboardService {
        LeaderboardService(
            scores: PostgresScoreStore(database: database), index: BoardIndex(redis: redis), games: PostgresGameCatalog(database: database),
            ephemeral: RedisEphemeralStore(redis: redis), submissionsPerMinute: submissionsPerMinute)
    }

    /// A value no other test (or earlier run) uses, for keys and e-mails.
    static func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(12).lowercased())" }

    /// Polls `condition` every 50 ms until it holds; throws once `seconds` have passed without it.
    static func waitUntil(_ what: String, within seconds: Double = 20, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try !condition() {
            guard Date() < deadline else { throw NotReached(what: what, seconds: seconds) }
            usleep(50_000)
        }
    }

    /// Runs `work` on a thread of its own, over a connection of its own, until PostgreSQL shows that connection waiting
    /// for a lock; then `release` (which ends what holds the lock) and what `work` returned or threw, once it has.
    static func whileWaitingForALock<Value>(
        _ what: String, _ work: @escaping @Sendable (PostgresConnection) throws -> Value, release: () throws -> Void
    ) throws -> Result<Value, any Error> {
        try whileRunning(what, work, reaches: "wait_event_type = 'Lock'", release: release)
    }

    /// Runs `work` on a thread of its own, over `connection` (a new one by default), until that connection's row of
    /// `pg_stat_activity` meets `condition` (SQL over its columns); then `release`, and what `work` returned or threw,
    /// once it has.
    static func whileRunning<Value>(
        _ what: String, on connection: PostgresConnection = database(), _ work: @escaping @Sendable (PostgresConnection) throws -> Value,
        reaches condition: String, release: () throws -> Void
    ) throws -> Result<Value, any Error> {
        let pid = try connection.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid")
        let outcome = Locked<Result<Value, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let result = Result { try work(connection) }
            outcome.withLock { $0 = result }
            finished.signal()
        }
        let observer = database()
        try waitUntil(what, within: 10) {
            try !observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND (\(condition))", [pid]).isEmpty
        }
        try release()
        guard finished.wait(timeout: .now() + 10) == .success else { throw NotReached(what: "an answer once released: " + what, seconds: 10) }
        return outcome.withLock { $0 }!
    }

    struct NotReached: Error, CustomStringConvertible {
        let what: String
        let seconds: Double
        var description: String { "not within \(seconds) s: \(what)" }
    }
}
