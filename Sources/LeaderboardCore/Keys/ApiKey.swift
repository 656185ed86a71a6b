/// A trusted game server's key as admins see it. The key itself is never stored: it is shown once, when created.
public struct ApiKey: Encodable, Sendable, Equatable {
    public let id: Int
    public let name: String
    /// The key's first characters (`lbk_` and 8 more), to tell keys apart.
    public let prefix: String
    /// The games it may submit to; nil: every game.
    public let games: [String]?
    public let createdAt: String
    /// Who created it: `user:<id>` over the API, `leaderboardctl` from the shell.
    public let createdBy: String
    /// Updated at most once a minute.
    public let lastUsedAt: String?
    public let revoked: Bool

    public init(
        id: Int, name: String, prefix: String, games: [String]?, createdAt: String, createdBy: String, lastUsedAt: String?, revoked: Bool
    ) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.games = games
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.lastUsedAt = lastUsedAt
        self.revoked = revoked
    }

    /// Whether the key may submit scores to `game`.
    public func allows(_ game: String) -> Bool { games?.contains(game) ?? true }

    enum CodingKeys: String, CodingKey { case id, name, prefix, games, createdAt, createdBy, lastUsedAt, revoked }

    /// `games` and `lastUsedAt` are written as null when absent, so clients can test for them.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(prefix, forKey: .prefix)
        try container.encode(games, forKey: .games)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(lastUsedAt, forKey: .lastUsedAt)
        try container.encode(revoked, forKey: .revoked)
    }
}

/// A key just created: its listing with the key itself, which is shown this once.
public struct CreatedApiKey: Encodable, Sendable {
    public let apiKey: ApiKey
    public let key: String

    enum CodingKeys: String, CodingKey { case key }

    public func encode(to encoder: any Encoder) throws {
        try apiKey.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
    }
}
