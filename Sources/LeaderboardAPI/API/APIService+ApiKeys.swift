import FastCGIPool
import LeaderboardCore

extension APIService {
    /// 201 with the key, shown this once. Admins only (401 without a valid token, 403 for a player).
    func createApiKey(_ request: HTTPRequest) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        var body = try request.jsonFields()
        body.refuseUnknown(["name", "games"])
        let (name, games) = (body.string("name"), body.optionalStrings("games"))
        try body.validate()
        let created = try apiKeys.create(name: name, games: games, actor: GameAdmin.actor(for: admin))
        var response = HTTPResponse.envelope(status: 201, message: "API key created; it is shown this once", data: created)
        response.headers.append(("Cache-Control", "no-store"))
        return response
    }

    func listApiKeys(_ request: HTTPRequest) throws -> HTTPResponse {
        _ = try auth.administrator(request.accessToken)
        return .envelope(data: try apiKeys.list())
    }

    /// The key, revoked: refused from the next request on, on every pool. Revoking it again changes nothing.
    func revokeApiKey(_ request: HTTPRequest, id: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        guard let number = Int(id), number > 0 else { throw ServiceError.notFound("unknown API key \(id)") }
        return .envelope(message: "API key revoked", data: try apiKeys.revoke(id: number, actor: GameAdmin.actor(for: admin)))
    }

    /// A trusted game server's submission for a player: `{game, score, userId}` with `Authorization: Bearer <API key>`.
    /// Not rate-limited, and the only kind an authoritative game takes.
    func submitScore(_ request: HTTPRequest, apiKey secret: String, answer: @escaping Router<APIService>.Answer) throws {
        let key = try apiKeys.authenticate(secret)
        var body = try request.jsonFields()
        let (game, score, userId) = (body.string("game", "gameChannel"), body.integer("score"), body.integer("userId"))
        try body.validate()
        let name = try apiKeys.player(userId, game: game, key: key)
        try leaderboard.submit(
            userId: userId, name: name, game: game, score: score, idempotencyKey: request.header("idempotency-key"), isTrusted: true
        ) { answer($0.map(Self.submissionResponse)) }
    }
}
