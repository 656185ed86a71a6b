/// A player account as clients see it.
public struct User: Codable, Sendable, Equatable {
    public let id: Int
    public let name: String
    public let email: String

    public init(id: Int, name: String, email: String) {
        self.id = id
        self.name = name
        self.email = email
    }
}

/// A user with the bcrypt hash to check a login against; never sent to a client.
public struct UserCredentials: Sendable {
    public let user: User
    public let passwordHash: String

    public init(user: User, passwordHash: String) {
        self.user = user
        self.passwordHash = passwordHash
    }
}
