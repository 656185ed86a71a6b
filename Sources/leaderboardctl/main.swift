import ArgumentParser
import Foundation
import LeaderboardCore
import Logging

struct LeaderboardCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leaderboardctl",
        abstract: "Operate the leaderboard service: schema, data, health, games, administrators, moderation and API keys.",
        subcommands: [Migrate.self, Health.self, Rebuild.self, Seed.self, Games.self, Users.self, Scores.self, Audit.self, ApiKeysCommand.self]
    )
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the database migrations not yet applied.")

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let applied = try Migrations.run(on: StoreConnections(config: config).database)
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check both stores; exit 1 if either is down (or Redis refuses writes).")

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let probe = Stores(connections: StoreConnections(config: config)).health
        let postgres = probe.isPostgresUp()
        let redis = probe.redisHealth()
        print("postgres: \(postgres ? "ok" : "down")")
        print("redis: \(redis.rawValue)")
        if !(postgres && redis == .ok) { throw ExitCode(1) }
    }
}

struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild every board from PostgreSQL into fresh keys and swap them in atomically.")

    @Flag(help: "Only rebuild when the index is missing (a new or emptied Redis).")
    var ifMissing = false

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let connections = StoreConnections(config: config)
        if ifMissing, try BoardIndex(redis: connections.redis).generation() != nil {
            print("index present; nothing to do")
            return
        }
        let rebuilder = IndexRebuilder(database: connections.database, redis: connections.redis, logger: Logger(label: "leaderboardctl"))
        guard let summary = try rebuilder.rebuild(wait: true, progress: { print($0) }) else { return }
        print("rebuilt generation \(summary.generation): \(summary.players) players, \(summary.entries) board entries")
    }
}

struct Seed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create demo players (password 123456) and scores over the last days, then rebuild the index.")

    @Option(help: "How many players to create.")
    var users = 1_000

    @Option(help: "How many scores to create (default: 10 per player).")
    var scores: Int?

    @Option(help: "Spread the scores over this many days up to now.")
    var days = 30

    func validate() throws {
        guard (1...10_000_000).contains(users) else { throw ValidationError("--users must be between 1 and 10,000,000") }
        guard (1...3650).contains(days) else { throw ValidationError("--days must be between 1 and 3650") }
        if let scores, !(0...100_000_000).contains(scores) { throw ValidationError("--scores must be between 0 and 100,000,000") }
    }

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let connections = StoreConnections(config: config)
        let plan = DemoSeeder.Plan(users: users, scores: scores ?? users * 10, days: days)
        var bar = ProgressBar()
        let started = ContinuousClock.now
        try DemoSeeder(database: connections.database, hasher: PasswordHasher(cost: config.bcryptCost)).seed(plan) { phase, done, total in
            bar.update(phase, done: done, total: total)
        }
        let rebuilder = IndexRebuilder(database: connections.database, redis: connections.redis, logger: Logger(label: "leaderboardctl"))
        let summary = try rebuilder.rebuild(wait: true) { print($0) }
        print(
            "seeded \(plan.users) players and \(plan.scores) scores over \(plan.days) days in \(ContinuousClock.now - started)"
                + (summary.map { "; index generation \($0.generation)" } ?? ""))
    }
}

LeaderboardCtl.main()
