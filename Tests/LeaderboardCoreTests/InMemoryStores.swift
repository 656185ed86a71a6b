import Foundation
import LeaderboardCore

/// In-memory stand-ins for the stores, for unit tests of the logic above them.
final class InMemoryUserStore: UserStore {
    private var credentialsByID: [Int: UserCredentials] = [:]

    func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        guard try credentials(email: email) == nil else { return nil }
        let user = User(id: credentialsByID.count + 1, name: name, email: email)
        credentialsByID[user.id] = UserCredentials(user: user, passwordHash: passwordHash)
        return user
    }

    func credentials(email: String) throws -> UserCredentials? {
        credentialsByID.values.first { $0.user.email.lowercased() == email.lowercased() }
    }

    func user(id: Int) throws -> User? { credentialsByID[id]?.user }
}

struct FixedGameCatalog: GameCatalog {
    func games() throws -> [Game] {
        [Game(slug: "cod", label: "Call of Duty", maxScore: 1_000_000_000), Game(slug: "valrnt", label: "Valorant", maxScore: 1_000_000_000)]
    }
}

final class InMemoryEphemeralStore: EphemeralStore {
    private var counters: [String: Int] = [:]
    private var values: [String: String] = [:]

    func increment(_ key: String, windowSeconds: Int) throws -> Int {
        counters[key, default: 0] += 1
        return counters[key]!
    }

    func counter(_ key: String) throws -> (value: Int, secondsLeft: Int) { (counters[key] ?? 0, counters[key] == nil ? 0 : 60) }
    func remove(_ key: String) throws { counters[key] = nil }
    func remember(_ value: String, as key: String, seconds: Int) throws { values[key] = value }
    func recall(_ key: String) throws -> String? { values[key] }
}

struct FixedHealthProbe: HealthProbe {
    var postgres = true
    var redis = true
    func isPostgresUp() -> Bool { postgres }
    func redisHealth() -> RedisHealth { redis ? .ok : .down }
}

/// Stores that fail as if the server were gone.
struct UnreachableUserStore: UserStore {
    func createUser(name: String, email: String, passwordHash: String) throws -> User? {
        throw PostgresError.connectionFailed(message: "connection refused")
    }
    func credentials(email: String) throws -> UserCredentials? { throw PostgresError.connectionFailed(message: "connection refused") }
    func user(id: Int) throws -> User? { throw PostgresError.connectionFailed(message: "connection refused") }
}

final class InMemoryRevocations: TokenRevocations {
    private var revoked: Set<String> = []
    func revoke(_ tokenKey: String, until expiresAt: Int) throws { revoked.insert(tokenKey) }
    func isRevoked(_ tokenKey: String) throws -> Bool { revoked.contains(tokenKey) }
    func revoked(among tokenKeys: [String]) throws -> Set<String> { revoked.intersection(tokenKeys) }
}
