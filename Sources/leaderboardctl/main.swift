import ArgumentParser
import Foundation
import LeaderboardCore

struct LeaderboardCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leaderboardctl",
        abstract: "Operate the leaderboard service: schema, data, health.",
        subcommands: [Migrate.self, Health.self]
    )
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the database migrations not yet applied.")

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let database = PostgresConnection(settings: config.postgres)
        let applied = try Migrations.run(on: database)
        print(applied.isEmpty ? "schema is up to date" : "applied migrations: \(applied.map(String.init).joined(separator: ", "))")
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check both stores; exit 1 if either is down.")

    func run() throws {
        let config = Startup.loadConfig(program: "leaderboardctl")
        let probe = ConnectionHealthProbe(
            database: PostgresConnection(settings: config.postgres), redis: RedisConnection(settings: config.redis))
        let postgres = probe.isPostgresUp()
        let redis = probe.isRedisUp()
        print("postgres: \(postgres ? "ok" : "down")")
        print("redis: \(redis ? "ok" : "down")")
        if !(postgres && redis) { throw ExitCode(1) }
    }
}

LeaderboardCtl.main()
