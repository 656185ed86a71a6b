/// API keys of trusted game servers: created (the key shown once), listed, revoked, each change audited, for the admin
/// API and `leaderboardctl api-keys` alike; and checked for every submission made with one.
public struct ApiKeys {
    static let maximumNameLength = 100
    static let maximumGames = 100

    private let store: any ApiKeyStore
    private let games: any GameAdminStore

    /// `games`: read fresh, to refuse keys for games that do not exist.
    public init(store: any ApiKeyStore, games: any GameAdminStore) {
        self.store = store
        self.games = games
    }

    /// A new key for `games` (nil: every game, those added later too); the key itself is in the answer and nowhere else.
    public func create(name: String, games: [String]?, actor: String) throws -> CreatedApiKey {
        var errors: [FieldError] = []
        let scalars = name.unicodeScalars
        if scalars.isEmpty || scalars.count > Self.maximumNameLength || scalars.allSatisfy(\.properties.isWhitespace) {
            errors.append(FieldError(field: "name", message: "must be 1 to 100 characters, not all whitespace"))
        } else if scalars.contains(where: { $0.properties.generalCategory == .control }) {
            errors.append(FieldError(field: "name", message: "must not contain control characters"))
        }
        var uniqueGames: [String]?
        if let games {
            uniqueGames = games.reduce(into: []) { unique, game in if !unique.contains(game) { unique.append(game) } }
            let known = Set(try self.games.games().map(\.slug))
            let unknown = uniqueGames!.filter { !known.contains($0) }
            if games.isEmpty || games.count > Self.maximumGames {
                errors.append(FieldError(field: "games", message: "must list 1 to \(Self.maximumGames) games, or be left out for every game"))
            } else if !unknown.isEmpty {
                errors.append(FieldError(field: "games", message: "unknown games: " + unknown.prefix(10).map { "'\($0)'" }.joined(separator: ", ")))
            }
        }
        guard errors.isEmpty else { throw ServiceError.validation(errors) }
        let secret = ApiKeySecret.make()
        let key = try store.insert(
            name: name, prefix: ApiKeySecret.prefix(of: secret), hash: ApiKeySecret.hash(secret), games: uniqueGames, createdBy: actor
        ) { id in
            var changes = ["name": AuditChange(before: .none, after: .text(name))]
            changes["games"] = AuditChange(before: .none, after: uniqueGames.map { .text($0.joined(separator: ",")) } ?? .none)
            return AuditEntry(actor: actor, action: "api_key.create", target: Self.target(id), reason: nil, changes: changes)
        }
        return CreatedApiKey(apiKey: key, key: secret)
    }

    /// Every key, revoked ones too, newest first.
    public func list() throws -> [ApiKey] { try store.keys() }

    /// The key, revoked from now on; not found when there is none.
    public func revoke(id: Int, actor: String) throws -> ApiKey {
        let audit = AuditEntry(
            actor: actor, action: "api_key.revoke", target: Self.target(id), reason: nil,
            changes: ["revoked": AuditChange(before: .flag(false), after: .flag(true))])
        guard let key = try store.revoke(id: id, audit: audit) else { throw ServiceError.notFound("unknown API key \(id)") }
        return key
    }

    /// The key a submission is made with, or unauthorized when it is not one (unknown, revoked, malformed).
    public func authenticate(_ secret: String) throws -> ApiKey {
        guard ApiKeySecret.isWellFormed(secret), let key = try store.key(hash: ApiKeySecret.hash(secret)) else {
            throw ServiceError.unauthorized("unknown API key")
        }
        guard !key.revoked else { throw ServiceError.unauthorized("API key revoked") }
        return key
    }

    /// The name of the player `key` submits a score to `game` for: forbidden when the key is not for that game or the
    /// player is banned, not found when there is no such player.
    public func player(_ userId: Int, game: String, key: ApiKey) throws -> String {
        guard key.allows(game) else {
            Observability.submissionRejected(.forbidden)
            throw ServiceError.forbidden("this API key may not submit scores to '\(game)'")
        }
        guard let player = try store.player(id: userId) else { throw ServiceError.notFound("unknown user \(userId)") }
        guard !player.isBanned else {
            Observability.submissionRejected(.banned)
            throw ServiceError.forbidden("user \(userId) is banned")
        }
        return player.name
    }

    static func target(_ id: Int) -> String { "api_key:\(id)" }
}
