import FastCGIPool
import Foundation
import LeaderboardCore

extension APIService {
    /// 200 with the new standing, or 202 when stored but queued for the index, answered once the group commit has
    /// stored and applied the score. With an API key as the bearer token, a game server submits for a player instead.
    func submitScore(_ request: HTTPRequest, answer: @escaping Router<APIService>.Answer) throws {
        if let bearer = TokenTransport.bearer(authorization: request.header("authorization")), ApiKeySecret.isKey(bearer) {
            return try submitScore(request, apiKey: bearer, answer: answer)
        }
        let caller = try auth.verify(request.accessToken)
        try auth.whileNotRevoked(caller) { tokenKey in
            var body = try request.jsonFields()
            let (game, score) = (body.string("game", "gameChannel"), body.integer("score"))
            let userId = body.optionalInteger("userId")
            try body.validate()
            if let userId, userId != caller.claims.userID {
                throw ServiceError.forbidden("only game servers (API keys) submit scores for other players")
            }
            try leaderboard.submit(
                userId: caller.claims.userID, name: caller.claims.name, game: game, score: score,
                idempotencyKey: request.header("idempotency-key"), unlessRevoked: tokenKey
            ) { answer($0.map(Self.submissionResponse)) }
        }
    }

    static func submissionResponse(_ submission: LeaderboardService.Submission) -> HTTPResponse {
        switch submission {
        case .applied(let result):
            .envelope(message: result.improved ? "new personal best" : "score recorded", data: result)
        case .queued(let queued):
            .envelope(status: 202, message: "score stored; the leaderboard will show it shortly", data: queued)
        }
    }

    /// A page by `start`/`end` (inclusive, 0-based, as the predecessor) or `page`/`size` (1-based).
    /// Public, like the boards themselves: anyone may look before signing up.
    func board(_ request: HTTPRequest, game: String) throws -> HTTPResponse {
        let caller = try auth.verifyIfPresent(request.accessToken)
        return try auth.whileNotRevoked(caller) { tokenKey in
            let period = try request.queryPeriod()
            let date = try request.queryDay("date", default: UTCDay.today)
            // `page`/`size` are checked even when `start`/`end` take precedence: a bad parameter is never ignored.
            let page = try request.queryInt("page", default: 1, in: 1...1_000_000)!
            let size = try request.queryInt("size", default: 10, in: 1...LeaderboardService.maximumPageRows)!
            let start: Int
            let end: Int
            if request.query["start"] != nil || request.query["end"] != nil {
                start = try request.queryInt("start", default: 0, in: 0...Int(Int32.max))!
                end = try request.queryInt("end", default: start + 9, in: 0...Int(Int32.max))!
            } else {
                start = (page - 1) * size
                end = start + size - 1
            }
            return .envelope(
                data: try leaderboard.renderedPage(game: game, period: period, date: date, start: start, end: end, unlessRevoked: tokenKey))
        }
    }

    func boardPosition(_ request: HTTPRequest, game: String) throws -> HTTPResponse {
        let caller = try auth.verify(request.accessToken)
        return try auth.whileNotRevoked(caller) { tokenKey in
            let position = try leaderboard.position(
                userId: caller.claims.userID, game: game, period: try request.queryPeriod(),
                date: try request.queryDay("date", default: UTCDay.today),
                around: try request.queryInt("around", default: 5, in: 0...LeaderboardService.maximumAround)!, unlessRevoked: tokenKey)
            return .envelope(data: position)
        }
    }

    func standing(_ request: HTTPRequest) throws -> HTTPResponse {
        let claims = try account(request).claims
        return .envelope(
            data: try leaderboard.standing(
                userId: claims.userID, period: try request.queryPeriod(), date: try request.queryDay("date", default: UTCDay.today)))
    }

    func history(_ request: HTTPRequest) throws -> HTTPResponse {
        let claims = try account(request).claims
        let page = try leaderboard.history(
            userId: claims.userID, game: request.query["game"].flatMap { $0.isEmpty ? nil : $0 },
            before: try request.queryInt("before", in: 1...Int.max), limit: try request.queryInt("limit", default: 20, in: 1...100)!)
        return .envelope(data: page)
    }

    /// Public, as the boards it summarizes; a token that is sent is checked, in the report's own stamp read.
    func report(_ request: HTTPRequest) throws -> HTTPResponse {
        let caller = try auth.verifyIfPresent(request.accessToken)
        return try auth.whileNotRevoked(caller) { tokenKey in
            let today = UTCDay.today
            return .envelope(
                data: try leaderboard.renderedReport(
                    from: try request.queryDay("start", default: nil), to: try request.queryDay("end", default: today),
                    game: request.query["game"].flatMap { $0.isEmpty ? nil : $0 } ?? BoardIndex.globalGame,
                    limit: try request.queryInt("limit", default: 10, in: 1...100)!, today: today, unlessRevoked: tokenKey))
        }
    }
}
