import Foundation
import LeaderboardCore

/// In-memory stand-ins for the stores, for unit tests of the logic above them.
public final class InMemoryUserStore: UserStore {
    public init() {}

    private var credentialsByID: [Int: UserCredentials] = [:]

    public func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        guard try credentials(email: email) == nil else { return nil }
        let user = User(id: credentialsByID.count + 1, name: name, email: email)
        credentialsByID[user.id] = UserCredentials(user: user, passwordHash: passwordHash)
        return user
    }

    public func credentials(email: String) throws -> UserCredentials? {
        credentialsByID.values.first { $0.user.email.lowercased() == email.lowercased() }
    }

    public func user(id: Int) throws -> User? { credentialsByID[id]?.user }
}

public struct FixedGameCatalog: GameCatalog {
    public init() {}

    public func games() throws -> [Game] {
        [Game(slug: "cod", label: "Call of Duty", maxScore: 1_000_000_000), Game(slug: "valrnt", label: "Valorant", maxScore: 1_000_000_000)]
    }
}

public final class InMemoryEphemeralStore: EphemeralStore {
    public init() {}

    private var counters: [String: Int] = [:]
    private var values: [String: String] = [:]

    public func increment(_ key: String, windowSeconds: Int) throws -> Int {
        counters[key, default: 0] += 1
        return counters[key]!
    }

    public func counter(_ key: String) throws -> (value: Int, secondsLeft: Int) { (counters[key] ?? 0, counters[key] == nil ? 0 : 60) }
    public func remove(_ key: String) throws { counters[key] = nil }
    public func remember(_ value: String, as key: String, seconds: Int) throws { values[key] = value }
    public func recall(_ key: String) throws -> String? { values[key] }
}

public struct FixedHealthProbe: HealthProbe {
    public var postgres = true
    public var redis = true

    public init(postgres: Bool = true, redis: Bool = true) {
        self.postgres = postgres
        self.redis = redis
    }

    public func isPostgresUp() -> Bool { postgres }
    public func redisHealth() -> RedisHealth { redis ? .ok : .down }
}

/// Stores that fail as if the server were gone.
public struct UnreachableUserStore: UserStore {
    public init() {}

    public func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        throw PostgresError.connectionFailed(message: "connection refused")
    }
    public func credentials(email: String) throws -> UserCredentials? { throw PostgresError.connectionFailed(message: "connection refused") }
    public func user(id: Int) throws -> User? { throw PostgresError.connectionFailed(message: "connection refused") }
}

public final class InMemoryRevocations: TokenRevocations {
    public init() {}

    private var revoked: Set<String> = []
    public func revoke(_ tokenKey: String, until expiresAt: Int) throws { revoked.insert(tokenKey) }
    public func isRevoked(_ tokenKey: String) throws -> Bool { revoked.contains(tokenKey) }
}
