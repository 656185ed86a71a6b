/// What an account may do: players play; admins also configure games (API.md, "Administration").
public enum Role: String, Codable, Sendable, CaseIterable {
    case player
    case admin
}

/// An account with its role, as `/auth/me` shows it; the role is read from PostgreSQL on every request that
/// needs it, so a revoked admin loses access at once.
public struct Account: Codable, Sendable, Equatable {
    public let id: Int
    public let name: String
    public let email: String
    public let role: Role

    public init(user: User, role: Role) {
        id = user.id
        name = user.name
        email = user.email
        self.role = role
    }

    public var user: User { User(id: id, name: name, email: email) }
}
