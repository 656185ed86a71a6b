import Foundation

/// The `api_keys` table and `audit_log`, read at every call, so a revocation counts on every process from its commit on.
public struct PostgresApiKeyStore: ApiKeyStore {
    let database: PostgresConnection

    public init(database: PostgresConnection) {
        self.database = database
    }

    /// The columns `apiKey(_:)` reads, from `api_keys k`.
    static let columns = """
        k.id, k.name, k.prefix, array_to_json(k.games)::text AS games, k.created_by, k.revoked_at IS NOT NULL AS revoked,
        to_char(k.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created,
        to_char(k.last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_used
        """

    public func insert(name: String, prefix: String, hash: String, games: [String]?, createdBy: String, audit: (Int) -> AuditEntry) throws
        -> ApiKey
    {
        try database.transaction {
            let rows = try database.query(
                """
                WITH k AS (
                    INSERT INTO api_keys (name, prefix, hash, games, created_by) VALUES ($1, $2, $3, $4::text[], $5) RETURNING *
                )
                SELECT \(Self.columns) FROM k
                """,
                [name, prefix, hash, games, createdBy])
            guard let row = rows.first else { throw PostgresError.unexpectedResult("api key insert returned no row") }
            let key = try Self.apiKey(row)
            try AuditEntry.insert(audit(key.id), on: database)
            return key
        }
    }

    public func keys() throws -> [ApiKey] {
        try database.query("SELECT \(Self.columns) FROM api_keys k ORDER BY k.id DESC").map(Self.apiKey)
    }

    public func revoke(id: Int, audit: AuditEntry) throws -> ApiKey? {
        try database.transaction {
            let revoked = try database.query(
                """
                WITH k AS (UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING *)
                SELECT \(Self.columns) FROM k
                """, [id])
            if let row = revoked.first {
                try AuditEntry.insert(audit, on: database)
                return try Self.apiKey(row)
            }
            return try database.query("SELECT \(Self.columns) FROM api_keys k WHERE k.id = $1", [id]).first.map(Self.apiKey)
        }
    }

    /// One statement: the lookup, and the update of `last_used_at` when it is a minute old (so a busy key costs a write a
    /// minute, not one per submission).
    public func key(hash: String) throws -> ApiKey? {
        let rows = try database.query(
            """
            WITH touched AS (
                UPDATE api_keys SET last_used_at = now()
                WHERE hash = $1 AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
                RETURNING id, last_used_at
            )
            SELECT \(Self.columns.replacingOccurrences(of: "k.last_used_at", with: "coalesce(t.last_used_at, k.last_used_at)"))
            FROM api_keys k LEFT JOIN touched t ON t.id = k.id WHERE k.hash = $1
            """, [hash], prepared: true)
        return try rows.first.map(Self.apiKey)
    }

    public func player(id: Int) throws -> (name: String, isBanned: Bool)? {
        // Bans live in `users.banned_at`; read through the row's JSON, so this statement runs the same on a schema that
        // has no bans yet.
        let rows = try database.query(
            "SELECT u.name, (to_jsonb(u) ->> 'banned_at') IS NOT NULL AS banned FROM users u WHERE u.id = $1", [id], prepared: true)
        guard let row = rows.first else { return nil }
        return (try row.requiredString("name"), try row.bool("banned") ?? false)
    }

    static func apiKey(_ row: PostgresRow) throws -> ApiKey {
        let games = try row.string("games").map { json -> [String] in
            guard let games = try? JSONDecoder().decode([String].self, from: Data(json.utf8)) else {
                throw PostgresError.unexpectedResult("an API key's games: \(json)")
            }
            return games
        }
        return ApiKey(
            id: try row.requiredInt("id"), name: try row.requiredString("name"), prefix: try row.requiredString("prefix"), games: games,
            createdAt: try row.requiredString("created"), createdBy: try row.requiredString("created_by"),
            lastUsedAt: try row.string("last_used"), revoked: try row.bool("revoked") ?? false)
    }
}
