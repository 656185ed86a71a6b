import FastCGIPool
import Foundation
import LeaderboardCore
import Logging
import Metrics

/// The REST API of one worker: routes a request to its handler and turns every outcome into the envelope.
///
/// Each FastCGI worker owns one, with its own store connections; it is not shared between threads.
public final class APIService {
    static let prefix = "/api/v1"
    static let unmatchedRoute = "unmatched"

    let config: Config
    let stores: Stores
    let auth: AuthService
    let leaderboard: LeaderboardService
    let gameAdmin: GameAdmin
    let moderation: PlayerModeration?
    let apiKeys: ApiKeys
    let logger: Logger
    private let router: Router<APIService>
    private var requestCounters: [RequestCounterKey: Counter] = [:]
    private var requestTimers: [String: Timer] = [:]

    private struct RequestCounterKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    public init(config: Config, context: StoreContext, logger: Logger) {
        self.config = config
        self.logger = logger
        stores = context.stores
        auth = context.auth
        leaderboard = context.leaderboard
        gameAdmin = context.gameAdmin
        moderation = context.moderation
        apiKeys = context.apiKeys
        router = Self.makeRouter()
    }

    private static func makeRouter() -> Router<APIService> {
        var router = Router<APIService>()
        router.add("GET", prefix + "/health") { _, _, api in api.health() }
        // Outside /api/v1: nginx lets only loopback reach it.
        router.add("GET", "/metrics") { _, _, _ in
            HTTPResponse(status: 200, headers: [("Content-Type", Observability.expositionContentType)], body: Observability.exposition())
        }
        router.add("POST", prefix + "/auth/signup") { request, _, api in try api.signup(request) }
        router.add("POST", prefix + "/auth/login") { request, _, api in try api.login(request) }
        router.add("POST", prefix + "/auth/refresh") { request, _, api in try api.refresh(request) }
        router.add("GET", prefix + "/auth/me") { request, _, api in try api.me(request) }
        router.add("POST", prefix + "/auth/logout") { request, _, api in try api.logout(request) }
        router.add("POST", prefix + "/auth/signout") { request, _, api in try api.logout(request) }
        router.add("GET", prefix + "/games") { request, _, api in try api.games(request) }
        router.add("GET", prefix + "/games/{slug}") { _, path, api in try api.game(slug: path["slug"]!) }
        router.add("POST", prefix + "/admin/games") { request, _, api in try api.createGame(request) }
        router.add("PATCH", prefix + "/admin/games/{slug}") { request, path, api in try api.updateGame(request, slug: path["slug"]!) }
        router.add("GET", prefix + "/admin/users") { request, _, api in try api.listUsers(request) }
        router.add("POST", prefix + "/admin/users/{id}/ban") { request, path, api in try api.ban(request, userId: path["id"]!) }
        router.add("POST", prefix + "/admin/users/{id}/unban") { request, path, api in try api.unban(request, userId: path["id"]!) }
        router.add("GET", prefix + "/admin/users/{id}/scores") { request, path, api in try api.userScores(request, userId: path["id"]!) }
        router.add("DELETE", prefix + "/admin/scores/{id}") { request, path, api in try api.deleteScore(request, scoreId: path["id"]!) }
        router.add("POST", prefix + "/admin/scores/{id}/restore") { request, path, api in try api.restoreScore(request, scoreId: path["id"]!) }
        router.add("GET", prefix + "/admin/audit") { request, _, api in try api.auditLog(request) }
        router.add("POST", prefix + "/admin/api-keys") { request, _, api in try api.createApiKey(request) }
        router.add("GET", prefix + "/admin/api-keys") { request, _, api in try api.listApiKeys(request) }
        router.add("DELETE", prefix + "/admin/api-keys/{id}") { request, path, api in try api.revokeApiKey(request, id: path["id"]!) }
        router.add("POST", prefix + "/scores") { request, _, api in try api.submitScore(request) }
        router.add("GET", prefix + "/leaderboards/{game}") { request, path, api in try api.board(request, game: path["game"]!) }
        router.add("GET", prefix + "/leaderboards/{game}/me") { request, path, api in try api.boardPosition(request, game: path["game"]!) }
        router.add("GET", prefix + "/me/standing") { request, _, api in try api.standing(request) }
        router.add("GET", prefix + "/me/scores") { request, _, api in try api.history(request) }
        router.add("GET", prefix + "/reports/top") { request, _, api in try api.report(request) }
        return router
    }

    /// Answers one request; never throws, and never shows a client anything internal.
    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let started = ContinuousClock.now
        var response: HTTPResponse
        var route = Self.unmatchedRoute
        if request.method == "OPTIONS" {
            response = preflight(request)
        } else if request.body.count > config.maxBodyBytes {
            response = .failure(.payloadTooLarge(limit: config.maxBodyBytes))
        } else {
            switch router.match(method: request.method, path: request.path) {
            case .found(let handler, let parameters, let pattern):
                route = pattern
                do {
                    response = try handler(request, parameters, self)
                } catch {
                    response = .failure(apiError(for: error, request: request))
                }
            case .methodNotAllowed(let allowed):
                response = .failure(.methodNotAllowed(allowed: allowed))
            case .notFound:
                response = .failure(APIError(.notFound("no route for \(request.method) \(request.path)")))
            }
        }
        response.headers += corsHeaders(for: request)
        response.headers.append(("X-Request-ID", request.requestID))
        let elapsed = ContinuousClock.now - started
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        record(route: route, method: request.method, status: response.status, nanoseconds: nanoseconds)
        // At debug: nginx's access log has a line per request already (with this request id), and at
        // thousands of requests a second a second line costs the api a visible share of its CPU (make bench, top 10 reads).
        logger.debug(
            "request",
            metadata: [
                "request_id": .string(request.requestID), "method": .string(request.method), "path": .string(request.path),
                "status": .string(String(response.status)), "ms": .string(Self.milliseconds(nanoseconds)),
            ])
        return response
    }

    /// Counts the request and times it. The metrics of a matched route are kept per worker, so the factory
    /// (a lookup under a lock every worker shares) is asked once; an unmatched request's method can be
    /// anything a client sends, so those are not kept.
    private func record(route: String, method: String, status: Int, nanoseconds: Int64) {
        let isKept = route != Self.unmatchedRoute
        let counterKey = RequestCounterKey(route: route, method: method, status: status)
        let counter =
            requestCounters[counterKey]
            ?? Counter(label: "leaderboard_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))])
        let timer = requestTimers[route] ?? Timer(label: "leaderboard_http_request_duration_seconds", dimensions: [("route", route)])
        if isKept {
            requestCounters[counterKey] = counter
            requestTimers[route] = timer
        }
        counter.increment()
        timer.recordNanoseconds(nanoseconds)
    }

    /// `1.25`: milliseconds with two decimals, for the request log line.
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let hundredths = (nanoseconds + 5_000) / 10_000
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
    }

    /// The one place an error thrown while handling a request becomes what the client sees.
    private func apiError(for error: any Error, request: HTTPRequest) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ServiceError:
            return APIError(error)
        case let error as any StoreFailure where error.isUnavailable:
            Observability.storeError(error.store.rawValue)
            logger.warning(
                "store unavailable", metadata: ["request_id": "\(request.requestID)", "store": "\(error.store)", "error": "\(error)"])
            return APIError(unavailable: error.store)
        default:
            logger.error("unexpected error", metadata: ["request_id": "\(request.requestID)", "error": "\(error)"])
            return APIError(status: 500, message: "internal error (request \(request.requestID))")
        }
    }

    private func corsHeaders(for request: HTTPRequest) -> [(name: String, value: String)] {
        guard let origin = request.header("origin"), config.corsOrigins.contains(origin) else { return [] }
        return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"), ("Vary", "Origin")]
    }

    private func preflight(_ request: HTTPRequest) -> HTTPResponse {
        guard case .methodNotAllowed(let allowed) = router.match(method: "OPTIONS", path: request.path) else {
            return .failure(APIError(.notFound("no route for \(request.path)")))
        }
        var headers: [(name: String, value: String)] = [("Allow", (allowed + ["OPTIONS"]).joined(separator: ", "))]
        if !corsHeaders(for: request).isEmpty {
            headers += [
                ("Access-Control-Allow-Methods", allowed.joined(separator: ", ")),
                ("Access-Control-Allow-Headers", "Content-Type, Authorization, Idempotency-Key"),
                ("Access-Control-Max-Age", "600"),
            ]
        }
        return HTTPResponse(status: 204, headers: headers)
    }
}
