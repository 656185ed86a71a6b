/// Revoked tokens: kept in PostgreSQL, so a revocation survives a Redis restart, and cached in Redis,
/// so checking a token costs no database query while the index is up.
///
/// The cache is trusted only while the index generation exists: the rebuild that follows a Redis restart
/// reloads the revocations before it sets the generation, and until then (or while Redis is down) the
/// check asks PostgreSQL. Fail-closed: when neither answers, the error propagates (a 503).
public struct RevocationList: TokenRevocations {
    static let cachePrefix = "lb:revoked:"

    let database: PostgresConnection
    let redis: RedisConnection

    public init(database: PostgresConnection, redis: RedisConnection) {
        self.database = database
        self.redis = redis
    }

    public func revoke(_ tokenKey: String, until expiresAt: Int) throws {
        try database.query(
            "INSERT INTO revoked_tokens (token_key, expires_at) VALUES ($1, to_timestamp($2)) ON CONFLICT (token_key) DO NOTHING",
            [tokenKey, expiresAt])
        do {
            try redis.command(["SET", Self.cachePrefix + tokenKey, "1", "EXAT", String(expiresAt)])
        } catch {
            // While Redis is away, checks fall back to PostgreSQL (and a restarted Redis has no generation
            // until the rebuild has reloaded the revocations). But a Redis that answers and refuses the
            // write (out of memory, a read-only replica) would go on vouching for the token: fail instead.
            if (try? redis.command(["EXISTS", BoardIndex.generationKey])) == .integer(1) { throw error }
        }
    }

    public func isRevoked(_ tokenKey: String) throws -> Bool {
        try revoked(among: [tokenKey]).contains(tokenKey)
    }

    /// Which of `tokenKeys` are revoked, in one round trip per `batchSize` keys rather than one per key:
    /// the ws daemon's periodic sweep asks this for the token of every connection it holds. A batch whose
    /// answer from the cache comes without the generation (see above) asks PostgreSQL.
    public func revoked(among tokenKeys: [String], batchSize: Int = 1_000) throws -> Set<String> {
        var revoked: Set<String> = []
        for start in stride(from: 0, to: tokenKeys.count, by: batchSize) {
            let batch = tokenKeys[start..<min(start + batchSize, tokenKeys.count)]
            let commands = batch.map { ["EXISTS", Self.cachePrefix + $0] } + [["EXISTS", BoardIndex.generationKey]]
            if let replies = try? redis.pipeline(commands), replies.last == .integer(1) {
                for (key, reply) in zip(batch, replies) where reply == .integer(1) { revoked.insert(key) }
                continue
            }
            let rows = try database.query(
                "SELECT token_key FROM revoked_tokens WHERE token_key = ANY($1::text[]) AND expires_at > now()", [Array(batch)])
            for row in rows { revoked.insert(try row.requiredString("token_key")) }
        }
        return revoked
    }

    /// Copies the unexpired revocations into Redis; the rebuild calls it before swapping in a generation.
    static func reload(from database: PostgresConnection, into redis: RedisConnection) throws -> Int {
        let rows = try database.query(
            "SELECT token_key, extract(epoch FROM expires_at)::bigint AS expires FROM revoked_tokens WHERE expires_at > now()")
        let commands = try rows.map { row in
            ["SET", cachePrefix + (try row.requiredString("token_key")), "1", "EXAT", String(try row.requiredInt("expires"))]
        }
        for batch in stride(from: 0, to: commands.count, by: 1_000) {
            try redis.pipelineOrThrow(Array(commands[batch..<min(batch + 1_000, commands.count)]))
        }
        return commands.count
    }
}
