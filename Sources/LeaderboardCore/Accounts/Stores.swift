/// Where accounts live. E-mails are matched case-insensitively.
public protocol UserStore {
    /// The new user, or nil when the e-mail is already registered (in any letter case).
    func createUser(name: String, email: String, passwordHash: String) throws -> User?
    func credentials(email: String) throws -> UserCredentials?
    /// The account with its current role, or nil when it does not exist (deleted).
    func account(id: Int) throws -> Account?
    /// Gives the account with this e-mail (in any letter case) `role`, recording the change in the audit log in the same
    /// transaction (unless the account had it already); nil when no account has this e-mail.
    func setRole(_ role: Role, email: String, actor: String) throws -> Account?
    /// Records a token issued to the player at login, so a ban can revoke it; false, recording nothing, when the
    /// player is banned (a ban committed meanwhile included).
    func recordToken(_ tokenKey: String, userId: Int, expiresAt: Int) throws -> Bool
}

/// Tokens revoked by logout, until they would have expired anyway.
public protocol TokenRevocations {
    func revoke(_ tokenKey: String, until expiresAt: Int) throws
    func isRevoked(_ tokenKey: String) throws -> Bool
    /// Which of `tokenKeys` are revoked.
    func revoked(among tokenKeys: [String]) throws -> Set<String>
}

/// Short-lived keys that expire on their own: login-failure counters and remembered answers.
public protocol EphemeralStore {
    /// Adds one to each counter (once per time a key is named) and returns their new values, in one round trip;
    /// the first increment of a counter starts its window.
    func increment(_ keys: [String], windowSeconds: Int) throws -> [Int]
    /// The counter's value and the seconds until it expires (0 when it does not exist).
    func counter(_ key: String) throws -> (value: Int, secondsLeft: Int)
    func remove(_ key: String) throws
    /// Keeps each value under its key for `seconds`, in one round trip.
    func remember(_ values: [String: String], seconds: Int) throws
    func recall(_ key: String) throws -> String?
}

/// Reports whether each backing store answers.
public protocol HealthProbe {
    func isPostgresUp() -> Bool
    func redisHealth() -> RedisHealth
}

/// Redis as `/health` reports it: a Redis that answers but refuses writes (out of memory, a read-only
/// replica, failing to persist) cannot take scores, logins' failure counts or revocations.
public enum RedisHealth: String, Sendable {
    case ok
    case readOnly = "read-only"
    case down
}
