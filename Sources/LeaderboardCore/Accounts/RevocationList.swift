/// Revoked tokens: kept in PostgreSQL, so a revocation survives a Redis restart, and cached in Redis,
/// so checking a token costs no database query while the index is up.
///
/// The cache is trusted only while it is known to hold every revocation: while the index generation and
/// `RedisKeys.revocationsCached` both exist (and the reconciler deletes the latter once it finds it was set by
/// another server, see `isCacheComplete`). The rebuild that follows a Redis restart reloads the revocations before it sets
/// the generation; a revocation Redis refused to cache (out of memory) deletes `RedisKeys.revocationsCached`, and the
/// reconciler reloads the cache and sets it again once Redis takes writes. Until then (or while Redis is
/// down) the check asks PostgreSQL, on every path: the board scripts and page stamps refuse to vouch
/// (`IndexError.revocationsNotCached`). Fail-closed: when neither answers, the error propagates (the store is unavailable).
public struct RevocationList: TokenRevocations {
    /// Ends a reload: sets `RedisKeys.revocationsCached` (to the server's run id, ARGV[2]) only while the reload's mark
    /// (`RedisKeys.revocationsReload`, ARGV[1]) is there; a revocation that missed the cache meanwhile deleted the mark.
    static let finishReloadScript = RedisScript(
        """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('SET', KEYS[2], ARGV[2])
        return 1
        """)

    let database: PostgresConnection
    let redis: RedisConnection

    public init(database: PostgresConnection, redis: RedisConnection) {
        self.database = database
        self.redis = redis
    }

    /// Stored in PostgreSQL first: once this returns, the token is refused everywhere. Throws only when
    /// PostgreSQL did not store it, or when Redis refused both the cache entry and the deletion of
    /// `RedisKeys.revocationsCached` (a read-only replica), so that its cache would go on vouching for the token.
    public func revoke(_ tokenKey: String, until expiresAt: Int) throws {
        try database.query(
            "INSERT INTO revoked_tokens (token_key, expires_at) VALUES ($1, to_timestamp($2)) ON CONFLICT (token_key) DO NOTHING",
            [tokenKey, expiresAt])
        do {
            try redis.command(["SET", RedisKeys.revokedToken(tokenKey), "1", "EXAT", String(expiresAt)])
            // The ws daemons close the token's sockets at once rather than at their next sweep (which still would).
            _ = try? redis.command(["PUBLISH", RedisKeys.revocationsChannel, "1"])
        } catch {
            // Redis's cache may go on vouching for the token: a Redis that refuses writes (out of memory, failing to persist)
            // still deletes the mark of a complete cache, but one that did not answer (stalled, cut off) may keep the mark
            // and lack the entry. So PostgreSQL records the revocation as one Redis may lack, and the reconciler reloads
            // the cache once Redis answers (its next pass), whether or not the mark could be deleted here.
            Observability.storeError("redis")
            try database.query("UPDATE revoked_tokens SET uncached = true WHERE token_key = $1", [tokenKey])
            do {
                try redis.command(["DEL", RedisKeys.revocationsCached, RedisKeys.revocationsReload])
            } catch .server {
                throw error
            } catch {}
        }
    }

    public func isRevoked(_ tokenKey: String) throws -> Bool {
        try revoked(among: [tokenKey]).contains(tokenKey)
    }

    /// Which of `tokenKeys` are revoked, in one round trip per 1,000 keys rather than one per key: the ws
    /// daemon's periodic sweep asks this for the token of every connection it holds.
    public func revoked(among tokenKeys: [String]) throws -> Set<String> {
        try revoked(among: tokenKeys, batchSize: 1_000)
    }

    /// A batch whose answer from the cache comes without the generation or `RedisKeys.revocationsCached` (see above) asks PostgreSQL.
    func revoked(among tokenKeys: [String], batchSize: Int) throws -> Set<String> {
        var revoked: Set<String> = []
        for start in stride(from: 0, to: tokenKeys.count, by: batchSize) {
            let batch = tokenKeys[start..<min(start + batchSize, tokenKeys.count)]
            let commands = batch.map { ["EXISTS", RedisKeys.revokedToken($0)] } + [["EXISTS", RedisKeys.generation, RedisKeys.revocationsCached]]
            if let replies = try? redis.pipeline(commands), replies.last == .integer(2) {
                for (key, reply) in zip(batch, replies) where reply == .integer(1) { revoked.insert(key) }
                continue
            }
            let rows = try database.query(
                "SELECT token_key FROM revoked_tokens WHERE token_key = ANY($1::text[]) AND expires_at > now()", [Array(batch)])
            for row in rows { revoked.insert(try row.requiredString("token_key")) }
        }
        return revoked
    }

    /// Copies the unexpired revocations into Redis and sets `RedisKeys.revocationsCached`, unless a revocation missed the
    /// cache meanwhile (the next reload catches it); the rebuild calls it before swapping in a generation,
    /// the reconciler whenever `RedisKeys.revocationsCached` is missing.
    static func reload(from database: PostgresConnection, into redis: RedisConnection) throws -> Int {
        let mark = Crypto.hex(Crypto.randomBytes(8))
        try redis.command(["SET", RedisKeys.revocationsReload, mark, "EX", "60"])
        let rows = try database.query(
            "SELECT token_key, extract(epoch FROM expires_at)::bigint AS expires, uncached FROM revoked_tokens WHERE expires_at > now()")
        let commands = try rows.map { row in
            ["SET", RedisKeys.revokedToken(try row.requiredString("token_key")), "1", "EXAT", String(try row.requiredInt("expires"))]
        }
        for batch in stride(from: 0, to: commands.count, by: 1_000) {
            try redis.pipelineOrThrow(Array(commands[batch..<min(batch + 1_000, commands.count)]))
        }
        let finished = try redis.run(
            finishReloadScript, keys: [RedisKeys.revocationsReload, RedisKeys.revocationsCached], arguments: [mark, try runId(of: redis)])
        let uncached = try rows.filter { try $0.bool("uncached") == true }.map { try $0.requiredString("token_key") }
        if finished == .integer(1) && !uncached.isEmpty {
            try database.query("UPDATE revoked_tokens SET uncached = false WHERE token_key = ANY($1::text[])", [uncached])
        }
        return commands.count
    }

    /// Whether PostgreSQL holds a revocation Redis may lack (see `revoke`): the cache must be reloaded, whatever its mark says.
    static func hasUncached(in database: PostgresConnection) throws -> Bool {
        try database.query("SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE uncached AND expires_at > now()) AS pending")[0].bool("pending")
            == true
    }

    /// Whether the cache is known to hold every revocation (see above): marked complete by this very server. A
    /// replica promoted by a failover holds the old primary's mark, but maybe not the revocations cached just
    /// before it failed (replication is asynchronous); its own run id differs, so the reconciler reloads the
    /// cache within a second instead of letting it vouch for those tokens until they expire.
    static func isCacheComplete(in redis: RedisConnection) throws -> Bool {
        try redis.command(["GET", RedisKeys.revocationsCached]).string == runId(of: redis)
    }

    /// The Redis server's `run_id`, which changes with every start and differs between a primary and its replicas.
    private static func runId(of redis: RedisConnection) throws -> String {
        let info = try redis.command(["INFO", "server"]).string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("run_id:") }) else {
            throw RedisError.unexpectedReply("INFO server without run_id")
        }
        return String(line.dropFirst("run_id:".count))
    }
}
