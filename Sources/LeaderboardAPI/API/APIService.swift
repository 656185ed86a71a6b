import FastCGIPool
import Foundation
import LeaderboardCore
import Logging
import Metrics
import Synchronization

/// The REST API of one worker: routes a request to its handler and turns every outcome into the envelope.
///
/// Each FastCGI worker owns one, with its own store connections, and handles its requests on its own thread.
/// `@unchecked Sendable`: a later answer (`Router.LaterHandler`) is finished on another thread, with only what is
/// immutable here, thread-safe (the logger) or under its own lock (`requestMetrics`).
public final class APIService: @unchecked Sendable {
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
    private let requestMetrics = Mutex(RequestMetrics())

    private struct RequestMetrics {
        var counters: [RequestCounterKey: Counter] = [:]
        var timers: [String: Timer] = [:]
    }

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
        router.addLater("POST", prefix + "/scores") { request, _, api, answer in try api.submitScore(request, answer: answer) }
        router.add("GET", prefix + "/leaderboards/{game}") { request, path, api in try api.board(request, game: path["game"]!) }
        router.add("GET", prefix + "/leaderboards/{game}/me") { request, path, api in try api.boardPosition(request, game: path["game"]!) }
        router.add("GET", prefix + "/me/standing") { request, _, api in try api.standing(request) }
        router.add("GET", prefix + "/me/scores") { request, _, api in try api.history(request) }
        router.add("GET", prefix + "/reports/top") { request, _, api in try api.report(request) }
        return router
    }

    /// Answers one request through `answer`, once: before it returns, or, for a route that answers later (a score's
    /// submission, which waits for its group commit), from the thread that finishes its work. Never shows a client
    /// anything internal.
    public func respond(to request: HTTPRequest, answer: @escaping @Sendable (HTTPResponse) -> Void) {
        let started = ContinuousClock.now
        if request.method == "OPTIONS" {
            return answer(finished(preflight(request), to: request, route: Self.unmatchedRoute, since: started))
        }
        if request.body.count > config.maxBodyBytes {
            let tooLarge = HTTPResponse.failure(.payloadTooLarge(limit: config.maxBodyBytes))
            return answer(finished(tooLarge, to: request, route: Self.unmatchedRoute, since: started))
        }
        switch router.match(method: request.method, path: request.path) {
        case .found(.now(let handler), let parameters, let route):
            answer(finished(Result { try handler(request, parameters, self) }, to: request, route: route, since: started))
        case .found(.later(let handler), let parameters, let route):
            do {
                try handler(request, parameters, self) { result in answer(self.finished(result, to: request, route: route, since: started)) }
            } catch {
                answer(finished(Result.failure(error), to: request, route: route, since: started))
            }
        case .methodNotAllowed(let allowed):
            answer(finished(HTTPResponse.failure(.methodNotAllowed(allowed: allowed)), to: request, route: Self.unmatchedRoute, since: started))
        case .notFound:
            let notFound = APIError(.notFound("no route for \(request.method) \(request.path)"))
            answer(finished(HTTPResponse.failure(notFound), to: request, route: Self.unmatchedRoute, since: started))
        }
    }

    private func finished(_ outcome: Result<HTTPResponse, any Error>, to request: HTTPRequest, route: String, since started: ContinuousClock.Instant)
        -> HTTPResponse
    {
        let response: HTTPResponse
        switch outcome {
        case .success(let made): response = made
        case .failure(let error): response = .failure(apiError(for: error, request: request))
        }
        return finished(response, to: request, route: route, since: started)
    }

    /// `response` with the headers every answer carries, counted, timed and logged.
    private func finished(_ response: HTTPResponse, to request: HTTPRequest, route: String, since started: ContinuousClock.Instant) -> HTTPResponse {
        var response = response
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
    /// anything a client sends, so those are not kept. Under `requestMetrics`'s lock: a later answer is counted
    /// on the thread that sends it.
    private func record(route: String, method: String, status: Int, nanoseconds: Int64) {
        let isKept = route != Self.unmatchedRoute
        let counterKey = RequestCounterKey(route: route, method: method, status: status)
        let (counter, timer) = requestMetrics.withLock { kept in
            let counter =
                kept.counters[counterKey]
                ?? Counter(label: "leaderboard_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))])
            let timer = kept.timers[route] ?? Timer(label: "leaderboard_http_request_duration_seconds", dimensions: [("route", route)])
            if isKept {
                kept.counters[counterKey] = counter
                kept.timers[route] = timer
            }
            return (counter, timer)
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
