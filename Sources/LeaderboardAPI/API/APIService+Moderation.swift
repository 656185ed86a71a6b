import FastCGIPool
import LeaderboardCore

extension APIService {
    func listUsers(_ request: HTTPRequest) throws -> HTTPResponse {
        _ = try auth.administrator(request.accessToken)
        let page = try moderator().users(
            query: try Self.text(request, "query"), before: try request.queryInt("before", in: 1...Int.max),
            limit: try Self.pageSize(request))
        return .envelope(data: page)
    }

    func ban(_ request: HTTPRequest, userId: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        let reason = try Self.reason(request)
        let user = try moderator().ban(userId: try Self.id(userId, of: "user"), reason: reason, actor: GameAdmin.actor(for: admin))
        return .envelope(message: "user banned", data: user)
    }

    func unban(_ request: HTTPRequest, userId: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        let reason = try Self.reason(request)
        let user = try moderator().unban(userId: try Self.id(userId, of: "user"), reason: reason, actor: GameAdmin.actor(for: admin))
        return .envelope(message: "user unbanned", data: user)
    }

    func userScores(_ request: HTTPRequest, userId: String) throws -> HTTPResponse {
        _ = try auth.administrator(request.accessToken)
        let page = try moderator().scores(
            userId: try Self.id(userId, of: "user"), game: try Self.text(request, "game"),
            before: try request.queryInt("before", in: 1...Int.max), limit: try Self.pageSize(request))
        return .envelope(data: page)
    }

    func deleteScore(_ request: HTTPRequest, scoreId: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        let reason = try Self.reason(request)
        let score = try moderator().deleteScore(id: try Self.id(scoreId, of: "score"), reason: reason, actor: GameAdmin.actor(for: admin))
        return .envelope(message: "score deleted", data: score)
    }

    func restoreScore(_ request: HTTPRequest, scoreId: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        let reason = try Self.reason(request)
        let score = try moderator().restoreScore(id: try Self.id(scoreId, of: "score"), reason: reason, actor: GameAdmin.actor(for: admin))
        return .envelope(message: "score restored", data: score)
    }

    func auditLog(_ request: HTTPRequest) throws -> HTTPResponse {
        _ = try auth.administrator(request.accessToken)
        return .envelope(data: try moderator().audit(before: try request.queryInt("before", in: 1...Int.max), limit: try Self.pageSize(request)))
    }

    private func moderator() throws -> PlayerModeration {
        guard let moderation else { throw ServiceError.unavailable("moderation needs PostgreSQL and Redis") }
        return moderation
    }

    private static func pageSize(_ request: HTTPRequest) throws -> Int {
        try request.queryInt("limit", default: 20, in: 1...PlayerModeration.maximumPageSize)!
    }

    /// A text query parameter; nil when absent or empty. PostgreSQL's text cannot hold NUL, so one is refused (422).
    private static func text(_ request: HTTPRequest, _ name: String) throws -> String? {
        guard let value = request.query[name], !value.isEmpty else { return nil }
        guard !value.utf8.contains(0) else { throw ServiceError.validation(field: name, "must not contain NUL characters") }
        return value
    }

    /// The body's `reason`, which every moderation action requires (1 to 500 characters); nothing else is taken.
    private static func reason(_ request: HTTPRequest) throws -> String {
        var body = try request.jsonFields()
        body.refuseUnknown(["reason"])
        let reason = body.string("reason")
        try body.validate()
        return reason
    }

    /// A path's id: a positive whole number, else there is no such user or score.
    private static func id(_ text: String, of kind: String) throws -> Int {
        guard let id = Int(text), id > 0, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            throw ServiceError.notFound("unknown \(kind) '\(text)'")
        }
        return id
    }
}
