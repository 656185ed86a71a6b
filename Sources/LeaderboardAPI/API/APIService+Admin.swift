import FastCGIPool
import LeaderboardCore

extension APIService {
    /// 201 with the new game. The caller's role is read from PostgreSQL first: 401 without a valid token, 403 for a player.
    func createGame(_ request: HTTPRequest) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        var body = try request.jsonFields()
        body.refuseUnknown(GameSettings.fieldNames.union(["slug", "reason"]))
        let slug = body.string("slug")
        let settings = GameSettings(fields: &body)
        let reason = body.optionalString("reason")
        try body.validate()
        let game = try gameAdmin.create(slug: slug, settings: settings, actor: GameAdmin.actor(for: admin), reason: reason)
        return .envelope(status: 201, message: "game created", data: game)
    }

    /// The game with the settings given changed; `order` and `rule` only while it has no score (409 after).
    func updateGame(_ request: HTTPRequest, slug: String) throws -> HTTPResponse {
        let admin = try auth.administrator(request.accessToken)
        var body = try request.jsonFields()
        body.refuseUnknown(GameSettings.fieldNames.union(["reason"]))
        let settings = GameSettings(fields: &body)
        let reason = body.optionalString("reason")
        try body.validate()
        let game = try gameAdmin.update(slug: slug, settings: settings, actor: GameAdmin.actor(for: admin), reason: reason)
        return .envelope(message: "game updated", data: game)
    }
}
