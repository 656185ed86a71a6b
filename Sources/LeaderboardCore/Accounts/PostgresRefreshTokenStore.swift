/// Refresh token families in `refresh_families`, their tokens in `refresh_tokens`.
///
/// Locks go in the order a ban takes them: the player's row first (FOR KEY SHARE, which waits for a ban in progress), then
/// the family's (FOR UPDATE, so two refreshes of one family take turns: the second finds the token spent).
public struct PostgresRefreshTokenStore: RefreshTokenStore {
    let database: PostgresConnection

    public init(database: PostgresConnection) {
        self.database = database
    }

    public func startFamily(_ family: String, userId: Int, tokenHash: String, expiresAt: Int) throws -> Bool {
        try database.transaction {
            let started = try database.query(
                """
                INSERT INTO refresh_families (id, user_id)
                SELECT $1, id FROM (SELECT id FROM users WHERE id = $2 AND banned_at IS NULL FOR KEY SHARE) player
                RETURNING 1
                """, [family, userId])
            guard !started.isEmpty else { return false }
            try database.query(
                "INSERT INTO refresh_tokens (hash, family_id, expires_at) VALUES ($1, $2, to_timestamp($3))", [tokenHash, family, expiresAt])
            return true
        }
    }

    public func rotate(tokenHash: String, successorHash: String, expiresAt: Int) throws -> RefreshRotation {
        try database.transaction {
            let owners = try database.query(
                "SELECT f.id, f.user_id FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1", [tokenHash])
            guard let owner = owners.first else { return .unknown }
            let family = try owner.requiredString("id")
            let players = try database.query("SELECT id, name, email FROM users WHERE id = $1 FOR KEY SHARE", [try owner.requiredInt("user_id")])
            guard let player = players.first else { return .unknown }
            let families = try database.query("SELECT revoked_at IS NOT NULL AS revoked FROM refresh_families WHERE id = $1 FOR UPDATE", [family])
            guard let locked = families.first else { return .unknown }
            if try locked.bool("revoked") == true { return .revoked }
            // Read after the lock, in a statement of its own: its snapshot holds a rotation committed while this one waited.
            let tokens = try database.query(
                "SELECT rotated_at IS NOT NULL AS spent, expires_at <= now() AS expired FROM refresh_tokens WHERE hash = $1", [tokenHash])
            guard let token = tokens.first else { return .unknown }
            if try token.bool("spent") == true {
                try revokeFamily(family, reason: "reuse")
                return .reused
            }
            if try token.bool("expired") == true { return .expired }
            try database.query("UPDATE refresh_tokens SET rotated_at = now() WHERE hash = $1", [tokenHash])
            try database.query(
                "INSERT INTO refresh_tokens (hash, family_id, expires_at) VALUES ($1, $2, to_timestamp($3))", [successorHash, family, expiresAt])
            try database.query("UPDATE refresh_families SET last_used_at = now() WHERE id = $1", [family])
            let user = User(id: try player.requiredInt("id"), name: try player.requiredString("name"), email: try player.requiredString("email"))
            return .rotated(user, family: family)
        }
    }

    public func revokeFamily(_ family: String, reason: String) throws {
        try database.query(
            "UPDATE refresh_families SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL", [family, reason])
    }
}
