/// Refresh tokens, kept by their SHA-256 in families: a login starts a family (a session), each refresh spends the
/// token presented and adds its successor, and a revoked family refuses all of its tokens.
public protocol RefreshTokenStore {
    /// Starts the family `family` of the player with its first token; false, storing nothing, when the player is banned
    /// (a ban committed meanwhile included).
    func startFamily(_ family: String, userId: Int, tokenHash: String, expiresAt: Int) throws -> Bool
    /// Spends the token and stores `successorHash` in its family, or says why not. A spent token presented again
    /// revokes its family in the same transaction (`RefreshRotation.reused`).
    func rotate(tokenHash: String, successorHash: String, expiresAt: Int) throws -> RefreshRotation
    /// Revokes the family, if it is not already.
    func revokeFamily(_ family: String, reason: String) throws
}

/// What presenting a refresh token came to.
public enum RefreshRotation: Equatable, Sendable {
    /// Spent; its successor is stored in `family`, for `user` as the account reads now.
    case rotated(User, family: String)
    /// Never issued (or expired long ago and pruned).
    case unknown
    case expired
    /// Its family was revoked (logout, a ban, a reuse).
    case revoked
    /// Spent already: a copy is in someone else's hands, so its family is revoked now.
    case reused
}

/// The refresh token a client holds: 32 random bytes, base64url; only its SHA-256 is stored (the bytes are random, so
/// a fast hash is enough, as for API keys).
public enum RefreshTokenSecret {
    static func make() -> String { Base64URL.encode(Crypto.randomBytes(32)) }

    /// The stored hash of a token that looks like one of ours, else nil: anything else is refused without a query.
    static func hash(_ token: String) -> String? {
        guard token.utf8.count == 43, Base64URL.decode(token)?.count == 32 else { return nil }
        return Crypto.hex(Crypto.sha256(Array(token.utf8)))
    }
}
