import FastCGIPool
import LeaderboardCore

extension APIService {
    struct GameOption: Encodable, Sendable {
        let label: String
        let value: String
    }

    struct HealthData: Encodable, Sendable {
        let postgres: String
        let redis: String
    }

    /// `[{label, value}]`: the global board first, then the games not archived, in order, as the predecessor listed them.
    /// Read from PostgreSQL each time (a tiny table), so an admin's change shows at once on every api process.
    func games(_ request: HTTPRequest) throws -> HTTPResponse {
        let excluded = request.query["excludeChannel"]
        let games: [Game]
        do {
            games = try gameAdmin.games()
        } catch let error as PostgresError where error.isUnavailable {
            // While PostgreSQL is down, the catalog's last list: the boards, read from Redis, can still be chosen.
            games = try stores.games.games()
        }
        let options =
            [GameOption(label: "All", value: BoardIndex.globalGame)]
            + games.filter { !$0.archived }.map { GameOption(label: $0.label, value: $0.slug) }
        return .envelope(data: options.filter { $0.value != excluded })
    }

    /// A game's settings; public, as its boards are.
    func game(slug: String) throws -> HTTPResponse {
        .envelope(data: try gameAdmin.game(slug))
    }

    func health() -> HTTPResponse {
        let postgres = stores.health.isPostgresUp()
        let redis = stores.health.redisHealth()
        let data = HealthData(postgres: postgres ? "ok" : "down", redis: redis.rawValue)
        let healthy = postgres && redis == .ok
        return .envelope(status: healthy ? 200 : 503, message: healthy ? "done" : "a backing store is down or refuses writes", data: data)
    }
}
