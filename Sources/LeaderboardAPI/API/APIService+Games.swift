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

    /// `[{label, value}]`: the global board first, then the games in order, as the predecessor listed them.
    func games(_ request: HTTPRequest) throws -> HTTPResponse {
        let excluded = request.query["excludeChannel"]
        let options = [GameOption(label: "All", value: "all")] + (try stores.games.games()).map { GameOption(label: $0.label, value: $0.slug) }
        return .envelope(data: options.filter { $0.value != excluded })
    }

    func health() -> HTTPResponse {
        let postgres = stores.health.isPostgresUp()
        let redis = stores.health.redisHealth()
        let data = HealthData(postgres: postgres ? "ok" : "down", redis: redis.rawValue)
        let healthy = postgres && redis == .ok
        return .envelope(status: healthy ? 200 : 503, message: healthy ? "done" : "a backing store is down or refuses writes", data: data)
    }
}
